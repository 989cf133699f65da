//! The web console's rules against an in-process server: staff users (admin-token API),
//! sign-in with hardened cookies, the CSRF token on every POST, the lock-out, the roles (a site
//! nurse sees her own site only), and a conflict resolved in the console reaching the devices.
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

const PASSWORD: &str = "correct horse battery staple";

/// Adds a staff user through `POST /api/admin/staff`.
fn staff(s: &TestServer, username: &str, role: &str, site: Option<&str>) {
    let r = s.admin_post(
        "/api/admin/staff",
        &json!({"username": username, "role": role, "site_id": site, "password": PASSWORD}),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
}

/// `name=value` of a `Set-Cookie` header of the response (its head is lowercase).
fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find(|l| l.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(set: &str) -> String {
    set.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

fn html(r: &Resp) -> String {
    String::from_utf8_lossy(&r.raw).into_owned()
}

/// The first hidden `csrf` field of a page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_body(pairs).into_bytes()
}

/// A browser of one staff user: its session cookie.
struct Browser {
    addr: SocketAddr,
    cookie: String,
}

impl Browser {
    fn get(&self, path: &str) -> Resp {
        request_with(
            self.addr,
            "GET",
            path,
            None,
            &[("Cookie", &self.cookie)],
            None,
        )
    }

    fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        request_with(
            self.addr,
            "POST",
            path,
            None,
            &[
                ("Cookie", &self.cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Some(&form(pairs)),
        )
    }

    /// The session's CSRF token, from a page that has it.
    fn csrf(&self) -> String {
        csrf_of(&html(&self.get("/")))
    }
}

/// Tries to sign in; the answer to the POST.
fn try_login(addr: SocketAddr, user: &str, password: &str) -> Resp {
    let page = get(addr, "/login", None);
    assert_eq!(page.status, 200);
    let login_cookie = set_cookie(&page, "wardcrf_login").expect("the form's cookie");
    let token = csrf_of(&html(&page));
    assert_eq!(cookie_value(&login_cookie), token);
    request_with(
        addr,
        "POST",
        "/login",
        None,
        &[
            ("Cookie", &format!("wardcrf_login={token}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(&form(&[
            ("csrf", &token),
            ("username", user),
            ("password", password),
            ("next", "/"),
        ])),
    )
}

fn login(addr: SocketAddr, user: &str) -> Browser {
    let r = try_login(addr, user, PASSWORD);
    assert_eq!(r.status, 303, "{}", html(&r));
    let session = set_cookie(&r, "wardcrf_session").expect("a session cookie");
    Browser {
        addr,
        cookie: format!("wardcrf_session={}", cookie_value(&session)),
    }
}

#[test]
fn staff_users_are_added_with_the_admin_token_and_checked() {
    let s = TestServer::start(&crate::backend(), "console-staff");
    s.site("site-a");
    let body = json!({"username": "ana", "role": "admin", "password": PASSWORD});
    let r = post_json(s.addr, "/api/admin/staff", None, &body);
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = s.admin_post("/api/admin/staff", &body);
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body,
        json!({"username": "ana", "role": "admin", "site_id": null})
    );
    assert!(!r.body.to_string().contains(PASSWORD));
    let r = s.admin_post("/api/admin/staff", &body);
    assert_eq!((r.status, r.code()), (409, "staff_exists"));
    for (bad, code) in [
        (
            json!({"username": "Bad Name", "role": "admin", "password": PASSWORD}),
            "bad_request",
        ),
        (
            json!({"username": "b", "role": "wizard", "password": PASSWORD}),
            "bad_request",
        ),
        (
            json!({"username": "b", "role": "admin", "password": "short"}),
            "bad_request",
        ),
        (
            json!({"username": "b", "role": "site-nurse", "password": PASSWORD}),
            "bad_request",
        ),
        (
            json!({"username": "b", "role": "admin", "site_id": "site-a", "password": PASSWORD}),
            "bad_request",
        ),
        (
            json!({"username": "b", "role": "site-nurse", "site_id": "nowhere", "password": PASSWORD}),
            "unknown_site",
        ),
        (json!({"username": "b", "role": "admin"}), "bad_request"),
    ] {
        let r = s.admin_post("/api/admin/staff", &bad);
        assert_eq!(r.code(), code, "{bad}");
        assert!(!r.body.to_string().contains(PASSWORD));
    }
    let r = s.admin_post(
        "/api/admin/staff",
        &json!({"username": "nina", "role": "site-nurse", "site_id": "site-a", "password": PASSWORD}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.body["role"], "site_nurse");
}

#[test]
fn sign_in_sets_a_hardened_session_cookie_and_sign_out_ends_it() {
    let s = TestServer::start(&crate::backend(), "console-login");
    staff(&s, "ana", "admin", None);
    // Signed out: every page leads to the sign-in page.
    let r = get(s.addr, "/", None);
    assert_eq!(r.status, 303);
    assert!(r.head.contains("location: /login"), "{}", r.head);
    let r = try_login(s.addr, "ana", PASSWORD);
    assert_eq!(r.status, 303);
    let session = set_cookie(&r, "wardcrf_session").unwrap();
    for attr in ["httponly", "samesite=strict", "path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    // Served over plain HTTP here: not Secure (the binary sets it with TLS).
    assert!(!session.contains("secure;") && !session.ends_with("secure"));
    let token = cookie_value(&session);
    assert_eq!(token.len(), 64);
    let b = Browser {
        addr: s.addr,
        cookie: format!("wardcrf_session={token}"),
    };
    let page = html(&b.get("/"));
    assert!(page.contains("<strong>ana</strong>"), "{page}");
    assert!(
        !page.contains(&token),
        "the page never shows the session token"
    );
    // Where to go after signing in: a console path only (no other site, no header injection).
    for (next, to) in [
        ("/cases?status=draft", "/cases?status=draft"),
        ("//elsewhere.example/", "/"),
        ("/x\r\nSet-Cookie: evil=1", "/"),
    ] {
        let page = get(s.addr, "/login", None);
        let token = csrf_of(&html(&page));
        let r = request_with(
            s.addr,
            "POST",
            "/login",
            None,
            &[
                ("Cookie", &format!("wardcrf_login={token}")),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Some(&form(&[
                ("csrf", &token),
                ("username", "ana"),
                ("password", PASSWORD),
                ("next", next),
            ])),
        );
        assert_eq!(r.status, 303, "{next:?}");
        assert!(
            r.head.contains(&format!("location: {to}\r\n")),
            "{}",
            r.head
        );
        assert!(!r.head.contains("evil"));
    }
    // A wrong password: refused, no session.
    let r = try_login(s.addr, "ana", "not the password");
    assert_eq!(r.status, 401);
    assert!(set_cookie(&r, "wardcrf_session").is_none());
    assert!(html(&r).contains("The user name or password is wrong"));
    // Unknown user: the same answer.
    let r = try_login(s.addr, "nobody", PASSWORD);
    assert_eq!(r.status, 401);
    // Sign-out needs the CSRF token, then ends the session.
    let r = b.post("/logout", &[("csrf", "wrong")]);
    assert_eq!(r.status, 403);
    assert_eq!(b.get("/").status, 200);
    let r = b.post("/logout", &[("csrf", &b.csrf())]);
    assert_eq!(r.status, 303);
    let r = b.get("/");
    assert_eq!(r.status, 303, "the session is gone");
    // A made-up session token is no session.
    let fake = Browser {
        addr: s.addr,
        cookie: format!("wardcrf_session={}", "a".repeat(64)),
    };
    assert_eq!(fake.get("/cases").status, 303);
}

#[test]
fn the_sign_in_form_needs_its_own_token() {
    let s = TestServer::start(&crate::backend(), "console-login-csrf");
    staff(&s, "ana", "admin", None);
    // No form cookie (a post from another site): refused before the password is looked at.
    let r = request_with(
        s.addr,
        "POST",
        "/login",
        None,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&form(&[
            ("csrf", "x"),
            ("username", "ana"),
            ("password", PASSWORD),
        ])),
    );
    assert_eq!(r.status, 403);
    assert!(set_cookie(&r, "wardcrf_session").is_none());
    // A cookie that does not match the form's token: refused too.
    let r = request_with(
        s.addr,
        "POST",
        "/login",
        None,
        &[
            ("Cookie", "wardcrf_login=aaaa"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(&form(&[
            ("csrf", "bbbb"),
            ("username", "ana"),
            ("password", PASSWORD),
        ])),
    );
    assert_eq!(r.status, 403);
    assert!(set_cookie(&r, "wardcrf_session").is_none());
}

#[test]
fn every_post_needs_the_sessions_csrf_token() {
    let s = TestServer::start(&crate::backend(), "console-csrf");
    staff(&s, "ana", "admin", None);
    let a = login(s.addr, "ana");
    let other = login(s.addr, "ana");
    for token in ["", "0000", other.csrf().as_str()] {
        let r = a.post(
            "/admin/sites",
            &[("csrf", token), ("site_id", "site-x"), ("name", "X")],
        );
        assert_eq!(r.status, 403, "token {token:?}");
        assert!(html(&r).contains("out of date"));
    }
    let r = s.admin_get("/api/admin/sites");
    assert_eq!(r.body, json!([]), "nothing was created");
    let r = a.post(
        "/admin/sites",
        &[("csrf", &a.csrf()), ("site_id", "site-x"), ("name", "X")],
    );
    assert_eq!(r.status, 201);
    assert_eq!(s.admin_get("/api/admin/sites").body[0]["site_id"], "site-x");
    assert_eq!(
        s.admin_get("/api/admin/sites").body[0]["identifying_on_device"],
        false
    );
    // A site whose identifying data stays on its devices: the setting comes with the site.
    let r = a.post(
        "/admin/sites",
        &[
            ("csrf", &a.csrf()),
            ("site_id", "site-y"),
            ("name", "Y"),
            ("identifying_on_device", "on"),
        ],
    );
    assert_eq!(r.status, 201);
    let sites = s.admin_get("/api/admin/sites").body;
    assert_eq!(sites[1]["site_id"], "site-y");
    assert_eq!(sites[1]["identifying_on_device"], true);
    let r = a.post(
        "/admin/sites",
        &[
            ("csrf", &a.csrf()),
            ("site_id", "site-y"),
            ("name", "Again"),
        ],
    );
    assert_eq!(r.status, 409);
    // The other POSTs too.
    for path in [
        "/admin/staff",
        "/admin/enrolment",
        "/admin/devices/0123456789abcdef0123456789abcdef/revoke",
        "/admin/staff/ana/enabled",
        "/cases/nope/resolve",
    ] {
        let r = a.post(
            path,
            &[("csrf", "forged"), ("field", "x"), ("enabled", "true")],
        );
        assert_eq!(r.status, 403, "{path}");
    }
}

#[test]
fn five_failures_lock_an_account_for_fifteen_minutes() {
    let s = TestServer::start(&crate::backend(), "console-lockout");
    staff(&s, "ana", "admin", None);
    staff(&s, "ben", "admin", None);
    for i in 1..=4 {
        assert_eq!(
            try_login(s.addr, "ana", "wrong password").status,
            401,
            "{i}"
        );
    }
    // The fifth failure locks; then even the right password is refused, with the answer of a
    // wrong password (an unknown name gets the same: no user enumeration).
    let r = try_login(s.addr, "ana", "wrong password");
    assert_eq!(r.status, 401);
    assert!(html(&r).contains("locked for 15 minutes"));
    let r = try_login(s.addr, "ana", PASSWORD);
    assert_eq!(r.status, 401);
    assert!(set_cookie(&r, "wardcrf_session").is_none());
    // Per user: another account is not affected.
    login(s.addr, "ben");
    // 14 minutes later: still locked; after 15: the right password works again.
    s.now.fetch_add(14 * 60, Ordering::SeqCst);
    assert_eq!(try_login(s.addr, "ana", PASSWORD).status, 401);
    s.now.fetch_add(61, Ordering::SeqCst);
    login(s.addr, "ana");
    // A success starts the count again: four more failures do not lock.
    for _ in 0..4 {
        assert_eq!(try_login(s.addr, "ana", "wrong password").status, 401);
    }
    login(s.addr, "ana");
    // The admin page shows a locked account.
    for _ in 0..5 {
        try_login(s.addr, "ben", "wrong password");
    }
    let admin = login(s.addr, "ana");
    let page = html(&admin.get("/admin/staff"));
    assert!(page.contains("Locked"), "{page}");
}

#[test]
fn an_admin_resets_a_forgotten_password_and_lifts_a_lock_out_with_the_admin_token() {
    let s = TestServer::start(&crate::backend(), "console-reset");
    staff(&s, "ana", "admin", None);
    staff(&s, "ben", "admin", None);
    let new_password = "a new and longer passphrase";
    let put = |path: &str, token: Option<&str>, body: &serde_json::Value| {
        request(
            s.addr,
            "PUT",
            path,
            token,
            Some(&serde_json::to_vec(body).unwrap()),
        )
    };
    let body = json!({"password": new_password});
    // Only with the admin token; a short password and an unknown user are refused.
    let r = put("/api/admin/staff/ana/password", None, &body);
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = put(
        "/api/admin/staff/ana/password",
        Some(&s.admin),
        &json!({"password": "short"}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = put("/api/admin/staff/nobody/password", Some(&s.admin), &body);
    assert_eq!((r.status, r.code()), (404, "unknown_staff"));
    let r = put(
        "/api/admin/staff/ana/password",
        Some(&s.admin),
        &json!({"pass": "x"}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    // ana's open session ends with the reset; the old password no longer works, the new one does.
    let before = login(s.addr, "ana");
    let r = put("/api/admin/staff/ana/password", Some(&s.admin), &body);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({"username": "ana"}));
    assert!(!r.body.to_string().contains(new_password));
    assert_ne!(
        before.get("/").status,
        200,
        "the session of before the reset ended"
    );
    assert_eq!(try_login(s.addr, "ana", PASSWORD).status, 401);
    assert_eq!(try_login(s.addr, "ana", new_password).status, 303);
    // A lock-out lifted before it runs out: ben is locked by five failures, then unlocked.
    for _ in 0..5 {
        try_login(s.addr, "ben", "wrong password");
    }
    assert_eq!(try_login(s.addr, "ben", PASSWORD).status, 401, "locked");
    let r = post_json(s.addr, "/api/admin/staff/ben/unlock", None, &json!({}));
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = s.admin_post("/api/admin/staff/nobody/unlock", &json!({}));
    assert_eq!((r.status, r.code()), (404, "unknown_staff"));
    let r = s.admin_post("/api/admin/staff/ben/unlock", &json!({}));
    assert_eq!(r.status, 200, "{:?}", r.body);
    login(s.addr, "ben");
}

/// Two devices of `site` edit vs_spo2 of one case differently: a conflict at the repository.
fn conflicted_case(s: &TestServer, site: &str, tag: &str) -> (Device, Device, String) {
    let mut a = device(s, site, &format!("{tag}-a"));
    let mut b = device(s, site, &format!("{tag}-b"));
    let case = a.store.create_case("icrown-core", &[]).unwrap();
    a.set(&case, "vs_spo2", json!(95), None);
    a.sync().unwrap();
    b.sync().unwrap();
    a.set_by(
        &case,
        "vs_spo2",
        json!(92),
        "nurse-ana",
        Some("re-measured"),
    );
    b.set_by(
        &case,
        "vs_spo2",
        json!(97),
        "nurse-ben",
        Some("probe repositioned"),
    );
    a.sync().unwrap();
    b.sync().unwrap();
    (a, b, case)
}

#[test]
fn a_case_whose_stored_document_is_damaged_is_marked_for_admins_and_its_pages_say_so() {
    let s = TestServer::start(&crate::backend(), "console-damaged");
    s.site("site-a");
    staff(&s, "nina", "site-nurse", Some("site-a"));
    staff(&s, "ana", "admin", None);
    let (_a, _b, case) = conflicted_case(&s, "site-a", "damaged");
    let mut c = device(&s, "site-a", "damaged-c");
    let fine = c.store.create_case("icrown-core", &[]).unwrap();
    c.set(&fine, "vs_spo2", json!(96), None);
    c.sync().unwrap();
    s.damage_document(&case);

    for user in ["ana", "nina"] {
        let browser = login(s.addr, user);
        // The case's page (values and history) and its conflict's resolution: a page saying
        // what happened, not a failure of the repository.
        let r = browser.get(&format!("/cases/{case}"));
        assert_eq!(r.status, 409, "{user}: {}", html(&r));
        let page = html(&r);
        assert!(
            page.contains("damaged") && page.contains("push it again"),
            "{user}: {page}"
        );
        let r = browser.post(
            &format!("/cases/{case}/resolve"),
            &[
                ("csrf", &browser.csrf()),
                ("field", "vs_spo2"),
                ("choice", "__other__"),
                ("other_value", "93"),
                ("reason", "checked"),
            ],
        );
        assert_eq!(r.status, 409, "{user}: {}", html(&r));
        assert!(html(&r).contains("damaged"), "{user}");
        // The other case and the lists keep working.
        assert_eq!(browser.get(&format!("/cases/{fine}")).status, 200);
        let list = browser.get("/cases");
        assert_eq!(list.status, 200);
        let list = html(&list);
        assert!(list.contains(&case) && list.contains(&fine), "{list}");
        let overview = browser.get("/");
        assert_eq!(overview.status, 200);
        let overview = html(&overview);
        // Administrators see the damage marked in the list and the overview.
        let marker = "class=\"tag error damaged\"";
        if user == "ana" {
            assert_eq!(list.matches(marker).count(), 1, "{list}");
            assert!(overview.contains(marker), "{overview}");
            assert!(overview.contains(&case), "{overview}");
        } else {
            assert!(!list.contains(marker), "{list}");
            assert!(!overview.contains(marker), "{overview}");
        }
    }
}

#[test]
fn roles_limit_what_each_user_sees_and_does() {
    let s = TestServer::start(&crate::backend(), "console-roles");
    s.site("site-a");
    s.site("site-b");
    staff(&s, "nina", "site-nurse", Some("site-a"));
    staff(&s, "dora", "data-manager", None);
    staff(&s, "ana", "admin", None);
    let (_a, _b, case_a) = conflicted_case(&s, "site-a", "roles-a");
    let mut c = device(&s, "site-b", "roles-c");
    let case_b = c.store.create_case("icrown-core", &[]).unwrap();
    c.set(&case_b, "vs_spo2", json!(96), None);
    c.sync().unwrap();

    let nina = login(s.addr, "nina");
    // Her own site's case: visible; the other site's: as if absent, on every page.
    assert_eq!(nina.get(&format!("/cases/{case_a}")).status, 200);
    for path in [
        format!("/cases/{case_b}"),
        format!("/cases/{case_b}/conflicts"),
        "/cases/0000000000000000000000000000dead".to_string(),
    ] {
        assert_eq!(nina.get(&path).status, 404, "{path}");
    }
    let csrf = nina.csrf();
    let r = nina.post(
        &format!("/cases/{case_b}/resolve"),
        &[
            ("csrf", &csrf),
            ("field", "vs_spo2"),
            ("choice", "96"),
            ("reason", "x"),
        ],
    );
    assert_eq!(r.status, 404);
    // Lists and the overview show her site only.
    let list = html(&nina.get("/cases?site=site-b"));
    assert!(list.contains(&case_a) && !list.contains(&case_b), "{list}");
    let overview = html(&nina.get("/"));
    assert!(!overview.contains("site-b"), "{overview}");
    // No administration, no exports.
    for path in [
        "/admin/sites",
        "/admin/staff",
        "/admin/devices",
        "/admin/enrolment",
        "/exports",
    ] {
        assert_eq!(nina.get(path).status, 403, "{path}");
    }
    let r = nina.get("/api/exports/csv");
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = nina.post(
        "/admin/sites",
        &[("csrf", &csrf), ("site_id", "site-z"), ("name", "Z")],
    );
    assert_eq!(r.status, 403);

    // A data manager: every site and exports, no administration.
    let dora = login(s.addr, "dora");
    assert_eq!(dora.get(&format!("/cases/{case_b}")).status, 200);
    let list = html(&dora.get("/cases"));
    assert!(list.contains(&case_a) && list.contains(&case_b));
    assert_eq!(dora.get("/admin/staff").status, 403);
    let exports = html(&dora.get("/exports"));
    assert!(exports.contains("/exports/download"), "{exports}");
    let r = dora.get("/exports/download?format=csv&site=site-b&lang=");
    assert_eq!(r.status, 303);
    assert!(
        r.head
            .contains("location: /api/exports/csv?site=site-b\r\n"),
        "{}",
        r.head
    );
    let r = dora.get("/api/exports/csv?site=site-b");
    assert_eq!(r.status, 200);
    assert_eq!(&r.raw[..2], b"PK", "a ZIP");
    // Signed out: 401 as before; the admin token still works.
    assert_eq!(get(s.addr, "/api/exports/csv", None).status, 401);
    assert_eq!(s.admin_get("/api/exports/csv").status, 200);

    // An administrator: everything; disabling a user ends her sessions.
    let ana = login(s.addr, "ana");
    for path in [
        "/admin/sites",
        "/admin/staff",
        "/admin/devices",
        "/admin/enrolment",
        "/exports",
    ] {
        assert_eq!(ana.get(path).status, 200, "{path}");
    }
    let r = ana.post(
        "/admin/staff/dora/enabled",
        &[("csrf", &ana.csrf()), ("enabled", "false")],
    );
    assert_eq!(r.status, 303);
    assert_eq!(dora.get("/").status, 303, "signed out");
    assert_eq!(try_login(s.addr, "dora", PASSWORD).status, 401);
    let r = ana.post(
        "/admin/staff/ana/enabled",
        &[("csrf", &ana.csrf()), ("enabled", "false")],
    );
    assert_eq!(r.status, 400, "not oneself");
}

#[test]
fn a_conflict_resolved_in_the_console_reaches_every_device_at_its_next_sync() {
    let s = TestServer::start(&crate::backend(), "console-resolve");
    s.site("site-a");
    staff(&s, "nina", "site-nurse", Some("site-a"));
    let (mut a, mut b, case) = conflicted_case(&s, "site-a", "resolve");
    let nina = login(s.addr, "nina");
    let page = html(&nina.get(&format!("/cases/{case}/conflicts")));
    // Both candidates side by side, with who wrote them.
    assert!(page.contains("ana") && page.contains("ben"), "{page}");
    // And the reason each gave with the value.
    for reason in ["re-measured", "probe repositioned"] {
        assert!(
            page.contains(&format!("<dd class=\"reason\">{reason}</dd>")),
            "{reason}: {page}"
        );
    }
    assert_eq!(
        page.matches("name=\"choice\"").count(),
        3,
        "two candidates and another value"
    );
    // The candidate 92 %: the radio whose value is its JSON.
    let choice = page
        .split("name=\"choice\" value=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].replace("&quot;", "\""))
        .find(|v| {
            serde_json::from_str::<serde_json::Value>(v).is_ok_and(|j| j["value"] == json!(92))
        })
        .expect("the candidate 92");
    let csrf = nina.csrf();
    // A reason is required; a value must be chosen.
    let r = nina.post(
        &format!("/cases/{case}/resolve"),
        &[
            ("csrf", &csrf),
            ("field", "vs_spo2"),
            ("choice", &choice),
            ("reason", " "),
        ],
    );
    assert_eq!(r.status, 400);
    let r = nina.post(
        &format!("/cases/{case}/resolve"),
        &[
            ("csrf", &csrf),
            ("field", "vs_spo2"),
            ("choice", "__other__"),
            ("other_value", "250"),
            ("reason", "typo"),
        ],
    );
    assert_eq!(r.status, 400, "an impossible value is refused");
    assert!(html(&r).contains("not stored"), "{}", html(&r));
    let before = s.admin_get(&format!("/api/cases/{case}"));
    assert_eq!(before.body["conflicts"].as_array().unwrap().len(), 1);
    let r = nina.post(
        &format!("/cases/{case}/resolve"),
        &[
            ("csrf", &csrf),
            ("field", "vs_spo2"),
            ("choice", &choice),
            ("reason", "checked the monitor log"),
        ],
    );
    assert_eq!(r.status, 303, "{}", html(&r));
    let done = html(&nina.get(&format!("/cases/{case}/conflicts?resolved=1")));
    assert!(done.contains("next sync"));
    // The repository's projection has no conflict any more.
    let after = s.admin_get(&format!("/api/cases/{case}"));
    assert_eq!(after.body["conflicts"], json!([]));
    assert_eq!(after.body["values"]["vs_spo2"]["value"], json!(92));
    // Resolving again: the conflict is gone.
    let r = nina.post(
        &format!("/cases/{case}/resolve"),
        &[
            ("csrf", &csrf),
            ("field", "vs_spo2"),
            ("choice", &choice),
            ("reason", "again"),
        ],
    );
    assert_eq!(r.status, 409);
    // Both devices pull the resolution at their next sync: same value, same history entry.
    for d in [&mut a, &mut b] {
        let summary = d.sync().unwrap();
        assert_eq!(summary.conflicts, 0);
        assert_eq!(d.value(&case, "vs_spo2")["value"], json!(92));
        let last = d
            .store
            .history(&case, Some("vs_spo2"))
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(last.op, "resolve");
        assert_eq!(last.user, "nina");
        assert_eq!(last.reason.as_deref(), Some("checked the monitor log"));
        assert!(wardcrf_core::repository::is_repository_actor(&last.device));
    }
    let history = s.admin_get(&format!("/api/cases/{case}/history?field=vs_spo2"));
    let last = history.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["op"].as_str(), last["user"].as_str()),
        (Some("resolve"), Some("nina"))
    );
    // The case page shows it in the field's history, in the chosen language.
    let page = html(&request_with(
        s.addr,
        "GET",
        &format!("/cases/{case}"),
        None,
        &[("Cookie", &format!("{}; wardcrf_lang=ja", nina.cookie))],
        None,
    ));
    assert!(page.contains("checked the monitor log"));
    assert!(
        page.contains("経皮的動脈血酸素飽和度"),
        "the field label in Japanese"
    );
    assert!(page.contains("<html lang=\"ja\">"));
}

#[test]
fn an_enrolment_code_from_the_console_enrols_a_device() {
    let s = TestServer::start(&crate::backend(), "console-enrol");
    s.site("site-a");
    staff(&s, "ana", "admin", None);
    let ana = login(s.addr, "ana");
    let r = ana.post(
        "/admin/enrolment",
        &[("csrf", &ana.csrf()), ("site", "site-a")],
    );
    assert_eq!(r.status, 201);
    let page = html(&r);
    assert!(page.contains("<img class=\"qr\""), "a QR code");
    assert!(page.contains("data:image/svg+xml,"));
    let at = page.find("id=\"enrol-code\">").unwrap() + "id=\"enrol-code\">".len();
    let code = &page[at..at + page[at..].find('<').unwrap()];
    // The QR code's payload, also shown as text: this address and code, no pin over HTTP.
    let at = page.find("id=\"enrol-uri\">").unwrap() + "id=\"enrol-uri\">".len();
    let shown = page[at..at + page[at..].find('<').unwrap()].replace("&amp;", "&");
    let payload = wardcrf_core::sync::EnrolPayload::parse(&shown).expect("a payload");
    assert_eq!(payload.code, code);
    assert_eq!(payload.server, format!("http://{}", s.addr));
    assert_eq!(payload.pin, None);
    assert!(!page.contains("id=\"enrol-pin\""));
    let r = post_json(
        s.addr,
        "/api/enroll",
        None,
        &json!({"code": code, "device_id": "0123456789abcdef0123456789abcdef"}),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["site_id"], "site-a");
    // The device list shows it; revoking it refuses its next sync.
    let devices = html(&ana.get("/admin/devices"));
    assert!(devices.contains("0123456789abcdef0123456789abcdef"));
    let r = ana.post(
        "/admin/devices/0123456789abcdef0123456789abcdef/revoke",
        &[("csrf", &ana.csrf())],
    );
    assert_eq!(r.status, 303);
    let r = s.admin_get("/api/admin/devices");
    assert_eq!(r.body[0]["revoked"], true);
}

#[test]
fn pages_are_served_with_their_stylesheet_and_protective_headers() {
    let s = TestServer::start(&crate::backend(), "console-assets");
    let r = get(s.addr, "/assets/console.css", None);
    assert_eq!(r.status, 200);
    assert!(r.head.contains("content-type: text/css"));
    let r = get(s.addr, "/login", None);
    assert!(
        r.head
            .contains("content-security-policy: default-src 'none'")
    );
    assert!(r.head.contains("x-frame-options: deny"));
    let page = html(&r);
    // Nothing from elsewhere: no external script, stylesheet or font.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    assert!(page.contains("<label for=\"username\">"));
    // The language follows the browser, then the user's choice.
    let r = request_with(
        s.addr,
        "GET",
        "/login",
        None,
        &[("Accept-Language", "de-DE,de;q=0.9")],
        None,
    );
    assert!(html(&r).contains("Anmelden"));
    let r = get(s.addr, "/lang?to=ja&back=/login", None);
    assert_eq!(r.status, 303);
    assert!(
        set_cookie(&r, "wardcrf_lang")
            .unwrap()
            .starts_with("wardcrf_lang=ja")
    );
    let r = get(s.addr, "/lang?to=ja&back=//elsewhere.example", None);
    assert!(r.head.contains("location: /\r\n"), "{}", r.head);
}

#[test]
fn clinicians_work_on_tablets_only_and_admins_reset_and_unlock_staff_in_the_console() {
    let s = TestServer::start(&crate::backend(), "console-clinician");
    s.site("site-a");
    staff(&s, "ana", "admin", None);
    let r = s.admin_post(
        "/api/admin/staff",
        &json!({"username": "sato", "role": "clinician", "site_id": "site-a",
                "display_name": "Dr. Sato Hanako", "password": PASSWORD}),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["role"], "clinician");
    // A clinician needs a site, like a site nurse.
    let r = s.admin_post(
        "/api/admin/staff",
        &json!({"username": "kim", "role": "clinician", "password": PASSWORD}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = s.admin_post(
        "/api/admin/staff",
        &json!({"username": "kim", "role": "clinician", "site_id": "site-a",
                "display_name": "line\nbreak", "password": PASSWORD}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    // The right password of a clinician: told, in the page's language, to use a tablet.
    let r = try_login(s.addr, "sato", PASSWORD);
    assert_eq!(r.status, 403, "{}", html(&r));
    assert!(html(&r).contains("tablets"), "{}", html(&r));
    assert!(set_cookie(&r, "wardcrf_session").is_none());
    let r = try_login(s.addr, "sato", "a wrong password");
    assert_eq!(r.status, 401, "a wrong password says nothing of the role");

    // The staff page names each person and offers the reset; a locked account its unlock.
    for _ in 0..5 {
        try_login(s.addr, "sato", "a wrong password");
    }
    let admin = login(s.addr, "ana");
    let page = html(&admin.get("/admin/staff"));
    assert!(page.contains("Dr. Sato Hanako"), "{page}");
    assert!(page.contains("/admin/staff/sato/unlock"), "{page}");
    assert!(page.contains("/admin/staff/sato/password"), "{page}");
    let csrf = admin.csrf();
    let r = admin.post("/admin/staff/sato/unlock", &[("csrf", "wrong")]);
    assert_eq!(r.status, 403);
    let r = admin.post("/admin/staff/sato/unlock", &[("csrf", &csrf)]);
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(!html(&r).contains("/admin/staff/sato/unlock"));
    let r = admin.post(
        "/admin/staff/sato/password",
        &[("csrf", &csrf), ("password", "short")],
    );
    assert_eq!(r.status, 400);
    let r = admin.post(
        "/admin/staff/sato/password",
        &[("csrf", &csrf), ("password", "a new and longer passphrase")],
    );
    assert_eq!(r.status, 200, "{}", html(&r));
    let r = admin.post(
        "/admin/staff/nobody/password",
        &[("csrf", &csrf), ("password", "a new and longer passphrase")],
    );
    assert_eq!(r.status, 404);
    // The reset raised the epoch: each tablet asks sato for an online sign-in.
    let epoch = s
        .storage()
        .count("SELECT credential_epoch FROM staff_users WHERE username = 'sato'");
    assert_eq!(epoch, 1);
}

#[test]
fn the_case_page_names_each_author_and_marks_changes_from_before_staff_signed_in() {
    use automerge::ReadDoc;
    use automerge::transaction::{CommitOptions, Transactable};
    let dir = temp_dir("console-authors").join("store");
    let mut store = wardcrf_core::CaseStore::create(
        &dir,
        &wardcrf_core::Passphrase::insecure_for_tests("p", 10),
    )
    .unwrap();
    store.sign_in_for_tests("nurse-site-a").unwrap();
    let case = store.create_case("icrown-core", &[]).unwrap();
    let hr = wardcrf_core::FieldPath::field("vs_hr");
    store.set_value(&case, &hr, json!(88), None).unwrap();
    let doc = store.export_cases().unwrap().remove(0).bytes;
    // A change made before staff signed in on devices: its note names no signed-in author.
    let mut legacy = automerge::AutoCommit::load(&doc).unwrap();
    let (_, values) = legacy.get(automerge::ROOT, "values").unwrap().unwrap();
    let (current, _) = legacy.get(&values, "vs_hr").unwrap().unwrap();
    let earlier = current.as_str().unwrap().replace("88", "86");
    legacy.put(&values, "vs_hr", earlier).unwrap();
    let note = json!({"user": "old-nurse", "op": "set", "field": "vs_hr", "reason": "legacy",
                      "new": {"value": 86, "unit": "/min"}});
    legacy.commit_with(
        CommitOptions::default()
            .with_message(note.to_string())
            .with_time(1_500_000_000),
    );
    let seed = vec![(
        case.clone(),
        "site-a".to_string(),
        "icrown-core".to_string(),
        legacy.save(),
    )];
    let s = TestServer::start_with_cases(&crate::backend(), "console-authors", &seed);
    staff(&s, "ana", "admin", None);
    let page = html(&login(s.addr, "ana").get(&format!("/cases/{case}")));
    assert!(
        page.contains("Test nurse-site-a <code>nurse-site-a</code>"),
        "{page}"
    );
    assert!(page.contains("unverified:</span> old-nurse"), "{page}");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn the_case_page_shows_each_signature_with_its_signer_time_and_meaning_and_when_it_is_superseded() {
    let dir = temp_dir("console-signature").join("store");
    let mut store = wardcrf_core::CaseStore::create(
        &dir,
        &wardcrf_core::Passphrase::insecure_for_tests("p", 10),
    )
    .unwrap();
    store.sign_in_for_tests("nurse-site-a").unwrap();
    let case = store.create_case("icrown-core", &[]).unwrap();
    let values: serde_json::Value = serde_json::from_str(include_str!(
        "../../../core/tests/fixtures/complete-case.json"
    ))
    .unwrap();
    for (k, v) in values.as_object().unwrap() {
        let path = wardcrf_core::FieldPath::field(k);
        store.set_value(&case, &path, v.clone(), None).unwrap();
    }
    store
        .set_status(&case, wardcrf_core::Status::Complete, None)
        .unwrap();
    store
        .sign(&case, &test_password("nurse-site-a"), "author")
        .unwrap();
    let signed = store.export_cases().unwrap().remove(0).bytes;
    let gcs = wardcrf_core::FieldPath::field("vs_gcs");
    store
        .set_value(&case, &gcs, json!(14), Some("re-assessed"))
        .unwrap();
    let edited = store.export_cases().unwrap().remove(0).bytes;
    for (doc, state) in [(signed, "valid"), (edited, "superseded by a later edit")] {
        let seed = vec![(
            case.clone(),
            "site-a".to_string(),
            "icrown-core".to_string(),
            doc,
        )];
        let s = TestServer::start_with_cases(&crate::backend(), "console-signature", &seed);
        staff(&s, "ana", "admin", None);
        let session = login(s.addr, "ana");
        let page = html(&session.get(&format!("/cases/{case}")));
        assert!(page.contains("Electronic signatures"), "{page}");
        assert!(
            page.contains("Test nurse-site-a <code>nurse-site-a</code>"),
            "{page}"
        );
        assert!(
            page.contains("I am the author of this case report"),
            "{page}"
        );
        assert!(page.contains(&format!("<td>{state}</td>")), "{page}");
    }
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn the_console_shows_cases_awaiting_projection_and_marks_stale_ones() {
    let s = TestServer::start_lagging(&crate::backend(), "console-backlog");
    s.site("site-a");
    staff(&s, "dora", "data-manager", None);
    let mut a1 = device(&s, "site-a", "cb1");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(80), None);
    a1.sync().unwrap();
    (s.projections.drain)();
    a1.set(&case, "vs_hr", json!(90), Some("recount"));
    a1.sync().unwrap();
    s.now.fetch_add(42, Ordering::SeqCst);
    let b = login(s.addr, "dora");
    for path in ["/", "/cases"] {
        let page = html(&b.get(path));
        assert!(
            page.contains("1 case(s) awaiting projection, the oldest for 42 s"),
            "{path}: {page}"
        );
    }
    assert!(html(&b.get("/cases")).contains("class=\"tag warn stale\""));
    (s.projections.drain)();
    let page = html(&b.get("/cases"));
    assert!(!page.contains("awaiting projection"), "{page}");
    assert!(!page.contains("tag warn stale"), "{page}");

    // A case whose stored document cannot be projected: counted for everyone, listed with
    // the reason for administrators.
    s.damage_document(&case);
    s.storage().enqueue(&case, START);
    (s.projections.drain)();
    assert!(
        html(&b.get("/")).contains("1 case(s) could not be updated from their last sync"),
        "{}",
        html(&b.get("/"))
    );
    staff(&s, "ana", "admin", None);
    let page = html(&login(s.addr, "ana").get("/"));
    assert!(
        page.contains("Cases that could not be projected (1)"),
        "{page}"
    );
    assert!(page.contains(&format!("<code>{case}</code>")), "{page}");
}
