//! Staff on the ward's tablets against an in-process server: a staff member's online sign-in
//! on a device (and every refusal), the lock-out it shares with the console, the site's roster
//! and settings, deactivation and password resets as devices see them, the device unlock key
//! (at enrolment, and recovered by an administrator to open a store whose users all forgot
//! their credentials), and the refusal of a push naming someone who is not staff of the site.
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use serde_json::{Value, json};
use wardcrf_core::staff::{ROSTER_PATH, SIGN_IN_PATH};

const PASSWORD: &str = "correct horse battery staple";
const DEV1: &str = "0123456789abcdef0123456789abcdef";
const DEV2: &str = "fedcba9876543210fedcba9876543210";

/// Adds a staff user through `POST /api/admin/staff`.
fn staff(s: &TestServer, username: &str, role: &str, site: Option<&str>, name: Option<&str>) {
    let r = s.admin_post(
        "/api/admin/staff",
        &json!({"username": username, "role": role, "site_id": site, "display_name": name,
                "password": PASSWORD}),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
}

/// A sign-in on the device with `token`.
fn sign_in(s: &TestServer, token: &str, user: &str, password: &str) -> Resp {
    post_json(
        s.addr,
        SIGN_IN_PATH,
        Some(token),
        &json!({"user": user, "password": password}),
    )
}

fn admin_put(s: &TestServer, path: &str, body: &Value) -> Resp {
    request(
        s.addr,
        "PUT",
        path,
        Some(&s.admin),
        Some(&serde_json::to_vec(body).unwrap()),
    )
}

fn is_key(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn ward_staff_sign_in_on_their_own_sites_devices_and_everyone_else_is_refused() {
    let s = TestServer::start(&crate::backend(), "staff-sign-in");
    s.site("site-a");
    s.site("site-b");
    let enrolment = s.enrolment("site-a", DEV1);
    let key = enrolment
        .device_key
        .clone()
        .expect("the enrolment hands out a key");
    assert!(is_key(&json!(key.as_str())));
    let other = s.enrolment("site-a", DEV2);
    assert_ne!(
        other.device_key.as_ref().map(|k| k.as_str()),
        Some(key.as_str()),
        "a key per device"
    );
    let token = enrolment.token.clone();
    staff(
        &s,
        "sato",
        "clinician",
        Some("site-a"),
        Some("Dr. Sato Hanako"),
    );
    staff(&s, "nina", "site-nurse", Some("site-a"), None);
    staff(&s, "weber", "clinician", Some("site-b"), None);
    staff(&s, "dora", "data-manager", None, None);
    staff(&s, "ana", "admin", None, None);

    // The right password of a clinician of the device's site: who they are, and the key.
    let r = sign_in(&s, &token, "sato", PASSWORD);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["staff"],
        json!({"id": "sato", "display_name": "Dr. Sato Hanako", "role": "clinician",
               "active": true, "credential_epoch": 0})
    );
    assert_eq!(r.body["device_key"], key.as_str());
    assert!(
        !r.raw
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes())
    );
    // A site nurse too; her printed name is her user name when she has none.
    let r = sign_in(&s, &token, "nina", PASSWORD);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["staff"]["display_name"], "nina");
    assert_eq!(r.body["staff"]["role"], "site_nurse");

    // A wrong password and an unknown user: one answer.
    let wrong = sign_in(&s, &token, "sato", "not the password");
    let unknown = sign_in(&s, &token, "nobody", PASSWORD);
    assert_eq!((wrong.status, wrong.code()), (401, "wrong_credentials"));
    assert_eq!((unknown.status, unknown.code()), (401, "wrong_credentials"));
    assert_eq!(
        wrong.body["error"]["message"],
        unknown.body["error"]["message"]
    );
    // The right password of someone who is not ward staff of this site.
    for user in ["weber", "dora", "ana"] {
        let r = sign_in(&s, &token, user, PASSWORD);
        assert_eq!((r.status, r.code()), (403, "not_site_staff"), "{user}");
    }
    // A deactivated account (API; nothing deleted): refused with the right password.
    let r = admin_put(
        &s,
        "/api/admin/staff/nina/active",
        &json!({"active": false}),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({"username": "nina", "active": false}));
    let r = sign_in(&s, &token, "nina", PASSWORD);
    assert_eq!((r.status, r.code()), (403, "account_deactivated"));
    let r = sign_in(&s, &token, "nina", "not the password");
    assert_eq!((r.status, r.code()), (401, "wrong_credentials"));
    let r = admin_put(&s, "/api/admin/staff/nina/active", &json!({"active": true}));
    assert_eq!(r.status, 200);
    assert_eq!(sign_in(&s, &token, "nina", PASSWORD).status, 200);
    let r = admin_put(
        &s,
        "/api/admin/staff/nobody/active",
        &json!({"active": false}),
    );
    assert_eq!((r.status, r.code()), (404, "unknown_staff"));
    let r = request(
        s.addr,
        "PUT",
        "/api/admin/staff/nina/active",
        Some(&token),
        Some(br#"{"active": false}"#),
    );
    assert_eq!((r.status, r.code()), (401, "unauthorized"));

    // The device's token first: none, a wrong one, a revoked device.
    for t in [None, Some("wrong")] {
        let r = post_json(
            s.addr,
            SIGN_IN_PATH,
            t,
            &json!({"user": "sato", "password": PASSWORD}),
        );
        assert_eq!((r.status, r.code()), (401, "unauthorized"));
    }
    let r = s.admin_post(&format!("/api/admin/devices/{DEV1}/revoke"), &json!({}));
    assert_eq!(r.status, 200);
    let r = sign_in(&s, &token, "sato", PASSWORD);
    assert_eq!((r.status, r.code()), (403, "device_revoked"));
    let r = get(s.addr, ROSTER_PATH, Some(&token));
    assert_eq!((r.status, r.code()), (403, "device_revoked"));
}

#[test]
fn failures_on_tablets_lock_the_account_as_the_consoles_do_until_an_admin_unlocks_it() {
    let s = TestServer::start(&crate::backend(), "staff-lock");
    s.site("site-a");
    let token = s.enroll("site-a", DEV1);
    staff(&s, "sato", "clinician", Some("site-a"), None);
    for _ in 0..5 {
        let r = sign_in(&s, &token, "sato", "not the password");
        assert_eq!((r.status, r.code()), (401, "wrong_credentials"));
    }
    // Locked: even the right password is refused, with when to retry.
    let r = sign_in(&s, &token, "sato", PASSWORD);
    assert_eq!((r.status, r.code()), (429, "locked_out"), "{:?}", r.body);
    assert!(r.head.contains("retry-after: "), "{}", r.head);
    // The same record as the console's: the admin's unlock lifts it.
    let r = s.admin_post("/api/admin/staff/sato/unlock", &json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(sign_in(&s, &token, "sato", PASSWORD).status, 200);
    // Or the lock runs out (15 minutes).
    for _ in 0..5 {
        sign_in(&s, &token, "sato", "not the password");
    }
    assert_eq!(sign_in(&s, &token, "sato", PASSWORD).status, 429);
    s.now
        .fetch_add(15 * 60 + 1, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(sign_in(&s, &token, "sato", PASSWORD).status, 200);
}

#[test]
fn the_roster_lists_the_sites_ward_staff_with_their_state_and_the_sites_settings() {
    let s = TestServer::start(&crate::backend(), "staff-roster");
    s.site("site-a");
    s.site("site-b");
    let token = s.enroll("site-a", DEV1);
    staff(
        &s,
        "sato",
        "clinician",
        Some("site-a"),
        Some("Dr. Sato Hanako"),
    );
    staff(&s, "nina", "site-nurse", Some("site-a"), None);
    staff(&s, "weber", "clinician", Some("site-b"), None);
    staff(&s, "ana", "admin", None, None);
    let r = get(s.addr, ROSTER_PATH, Some(&token));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let roster: wardcrf_core::staff::Roster = serde_json::from_slice(&r.raw).unwrap();
    assert_eq!(roster.check(), Ok(()));
    assert_eq!(roster.site_id, "site-a");
    let ids: Vec<&str> = roster.staff.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["nina", "sato"], "ward staff of this site only");
    assert_eq!(
        roster.settings,
        wardcrf_core::staff::SiteSettings::default()
    );
    assert!(
        !r.raw.windows(7).any(|w| w == b"pbkdf2-"),
        "never a verifier"
    );
    for t in [None, Some("wrong")] {
        let r = get(s.addr, ROSTER_PATH, t);
        assert_eq!((r.status, r.code()), (401, "unauthorized"));
    }

    // Deactivated: listed, inactive. A password reset raises the credential epoch.
    let r = admin_put(
        &s,
        "/api/admin/staff/nina/active",
        &json!({"active": false}),
    );
    assert_eq!(r.status, 200);
    let r = admin_put(
        &s,
        "/api/admin/staff/sato/password",
        &json!({"password": "a new and longer passphrase"}),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let roster: wardcrf_core::staff::Roster =
        serde_json::from_slice(&get(s.addr, ROSTER_PATH, Some(&token)).raw).unwrap();
    let nina = roster.member("nina").unwrap();
    let sato = roster.member("sato").unwrap();
    assert!(!nina.active);
    assert_eq!(nina.credential_epoch, 0);
    assert!(sato.active);
    assert_eq!(sato.credential_epoch, 1);
    assert_eq!(sato.display_name, "Dr. Sato Hanako");

    // The site's settings, set by the administrator and checked as devices check them.
    let mut settings = wardcrf_core::staff::SiteSettings {
        lock_after_minutes: 10,
        ..Default::default()
    };
    settings.signature_meanings.truncate(1);
    settings.signature_meanings[0].en = "I entered this case report".into();
    // A Japanese site enters platelets in ×10⁴/µL and CRP in mg/dL.
    settings.default_units = [("lab_plt", "10*4/uL"), ("lab_crp", "mg/dL")]
        .into_iter()
        .map(|(f, u)| (f.to_string(), u.to_string()))
        .collect();
    let r = admin_put(
        &s,
        "/api/admin/sites/site-a/settings",
        &serde_json::to_value(&settings).unwrap(),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let roster: wardcrf_core::staff::Roster =
        serde_json::from_slice(&get(s.addr, ROSTER_PATH, Some(&token)).raw).unwrap();
    assert_eq!(roster.settings, settings);
    let mut no_meanings = settings.clone();
    no_meanings.signature_meanings.clear();
    let mut bad_code = settings.clone();
    bad_code.signature_meanings[0].code = "Not A Code".into();
    let mut forever = settings.clone();
    forever.lock_after_minutes = 0;
    // A default unit the field does not offer, one for no field, one for a field without units.
    let mut odd_unit = settings.clone();
    odd_unit
        .default_units
        .insert("lab_plt".into(), "mg/dL".into());
    let mut no_field = settings.clone();
    no_field
        .default_units
        .insert("no_such_field".into(), "mg/dL".into());
    let mut no_units = settings.clone();
    no_units.default_units.insert("vs_jcs".into(), "%".into());
    for bad in [
        serde_json::to_value(&no_meanings).unwrap(),
        serde_json::to_value(&bad_code).unwrap(),
        serde_json::to_value(&forever).unwrap(),
        serde_json::to_value(&odd_unit).unwrap(),
        serde_json::to_value(&no_field).unwrap(),
        serde_json::to_value(&no_units).unwrap(),
        json!({"lock_after_minutes": 5}),
    ] {
        let r = admin_put(&s, "/api/admin/sites/site-a/settings", &bad);
        assert_eq!((r.status, r.code()), (400, "bad_request"), "{bad}");
    }
    let r = admin_put(
        &s,
        "/api/admin/sites/nowhere/settings",
        &serde_json::to_value(&settings).unwrap(),
    );
    assert_eq!((r.status, r.code()), (404, "unknown_site"));
    let r = request(
        s.addr,
        "PUT",
        "/api/admin/sites/site-a/settings",
        Some(&token),
        Some(&serde_json::to_vec(&settings).unwrap()),
    );
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    // Nothing of the refused ones was kept.
    let roster: wardcrf_core::staff::Roster =
        serde_json::from_slice(&get(s.addr, ROSTER_PATH, Some(&token)).raw).unwrap();
    assert_eq!(roster.settings, settings);
}

#[test]
fn an_administrator_recovers_a_store_whose_staff_all_forgot_their_credentials() {
    let s = TestServer::start(&crate::backend(), "staff-recovery");
    s.site("site-a");
    let dir = temp_dir("staff-recovery").join("store");
    let provider = wardcrf_core::Passphrase::insecure_for_tests("p", 10);
    let mut store = wardcrf_core::CaseStore::create(&dir, &provider).unwrap();
    let enrolment = s.enrolment("site-a", &store.device_id());
    store
        .enrolled(&format!("http://{}", s.addr), &enrolment)
        .unwrap();
    s.ward_staff("site-a", "nina");
    store.sign_in_for_tests("nina").unwrap();
    let case = store.create_case("icrown-core", &[]).unwrap();
    store
        .set_value(
            &case,
            &wardcrf_core::FieldPath::field("vs_hr"),
            json!(88),
            None,
        )
        .unwrap();
    drop(store);
    // Reopened, the store is locked: without a staff credential it reads nothing.
    let mut store = wardcrf_core::CaseStore::open(&dir, &provider).unwrap();
    assert!(!store.is_unlocked());
    assert!(store.case(&case).is_err());

    // The administrator's recovery key opens it, and nothing unsynced is lost.
    let path = format!("/api/admin/devices/{}/recovery-key", store.device_id());
    let r = get(s.addr, &path, Some(&enrolment.token));
    assert_eq!(
        (r.status, r.code()),
        (401, "unauthorized"),
        "a device token is not enough"
    );
    let r = get(s.addr, &path, None);
    assert_eq!(r.status, 401);
    let r = s.admin_get(&path);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["device_id"], store.device_id());
    let key = r.body["device_key"].as_str().unwrap().to_string();
    assert_eq!(
        Some(key.as_str()),
        enrolment.device_key.as_ref().map(|k| k.as_str())
    );
    store.recover(&key).unwrap();
    assert_eq!(
        store.case(&case).unwrap().values["vs_hr"]["value"],
        json!(88),
        "the unsynced value is there"
    );
    let r = s.admin_get(&format!("/api/admin/devices/{DEV2}/recovery-key"));
    assert_eq!((r.status, r.code()), (404, "unknown_device"));
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn a_push_naming_someone_who_is_not_staff_of_the_site_is_refused_whole() {
    let s = TestServer::start(&crate::backend(), "staff-push");
    s.site("site-a");
    s.site("site-b");
    let mut a1 = device(&s, "site-a", "staff-push-a1");
    // Staff of another site, signed in on this site's device (as a tampered store could).
    s.ward_staff("site-b", "weber");
    let good = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&good, "vs_hr", json!(80), None);
    a1.store.sign_in_for_tests("weber").unwrap();
    let bad = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.store
        .set_value(
            &bad,
            &wardcrf_core::FieldPath::field("vs_hr"),
            json!(90),
            None,
        )
        .unwrap();
    let refused = a1.sync().unwrap_err().to_string();
    assert!(refused.contains("403 not_site_staff"), "{refused}");
    // Nothing of the exchange was kept: not even the other case of the push.
    assert!(
        s.admin_get("/api/cases")
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    let mut storage = s.storage();
    assert_eq!(storage.count("SELECT COUNT(*) FROM cases"), 0);

    // A staff member deactivated since still authored her earlier changes: taken.
    let mut a2 = device(&s, "site-a", "staff-push-a2");
    let hers = a2.store.create_case("icrown-core", &[]).unwrap();
    a2.set(&hers, "vs_hr", json!(70), None);
    let r = admin_put(
        &s,
        &format!("/api/admin/staff/{}/active", nurse_of("site-a")),
        &json!({"active": false}),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    a2.sync().unwrap();
    let stored = s.admin_get(&format!("/api/cases/{hers}"));
    assert_eq!(stored.status, 200, "{:?}", stored.body);
}
