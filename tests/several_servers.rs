//! Several `wardcrf-server` processes on one PostgreSQL database, as behind a load balancer:
//! three servers started at the same time (they agree on one admin token and one pseudonym
//! key), twelve ward devices at two sites syncing through randomly chosen servers, all at once,
//! with concurrent edits of the same cases (the same field on two devices: a conflict, kept),
//! and one conflict resolved in the web console of one server while devices sync through the
//! others. In the end every device of a site holds every case of its site and the same
//! documents, and every change a device's sync acknowledged is in them.
//!
//! Property-style: the random choices come from a seed printed at the start; rerun one with
//! `WARDCRF_TEST_SEED=<seed>`. Needs PostgreSQL (`WARDCRF_TEST_DATABASE_URL`, feature
//! `postgres-tests`): without the URL the test fails, it never skips.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use wardcrf_core::FieldPath;
use wardcrf_core::sync::{Method, SyncError, TransportError};

const SITES: [&str; 2] = ["jp-sendai-01", "de-mainz-01"];
const DEVICES_PER_SITE: usize = 6;
const CASES_PER_SITE: usize = 4;
const ROUNDS: usize = 3;
/// Fields edited, with values that need no reason.
const FIELDS: [(&str, i64, i64); 3] = [("vs_hr", 60, 99), ("vs_rr", 12, 20), ("vs_spo2", 94, 99)];
/// Console users' password.
const CONSOLE_PASSWORD: &str = "console password for the cluster test";

#[cfg(feature = "postgres-tests")]
#[test]
fn three_servers_on_one_database_lose_nothing_and_every_device_converges() {
    several_servers(Backend::postgres_from_env());
}

/// One edit a device made: (device name, case, field, stored value).
type Edit = (String, String, String, Value);

fn several_servers(backend: Backend) {
    let seed = std::env::var("WARDCRF_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(clock_seed);
    println!("several servers: seed {seed} (rerun with WARDCRF_TEST_SEED={seed})");
    let mut rng = Rng(seed);
    let repo = Repository::new(&backend, "several_servers");
    // One pseudonym key, a copy given to every server.
    let key = repo.dir.join("pseudonym-key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    let key = key.to_str().unwrap().to_string();

    // Three servers started at once on an empty database: migrations, the admin token and the
    // key are settled between them.
    let mut servers: Vec<Server> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..3)
            .map(|i| {
                let (repo, key) = (&repo, &key);
                s.spawn(move || {
                    repo.start_instance(&format!("server-{i}"), &["--pseudonym-key", key])
                })
            })
            .collect();
        starts.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let holders: Vec<usize> = (0..3)
        .filter(|i| {
            repo.dir
                .join(format!("server-{i}"))
                .join("admin-token")
                .exists()
        })
        .collect();
    assert_eq!(holders.len(), 1, "one server made the admin token");
    let token = std::fs::read_to_string(
        repo.dir
            .join(format!("server-{}", holders[0]))
            .join("admin-token"),
    )
    .unwrap()
    .trim()
    .to_string();
    let admins: Vec<_> = servers
        .iter()
        .map(|s| wardcrf_core::sync::HttpTransport::new(&s.url, &token).unwrap())
        .collect();
    for admin in &admins {
        admin
            .call(Method::Get, "/api/admin/sites", None)
            .expect("every server accepts the one admin token");
    }
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let pick = |rng: &mut Rng| urls[rng.below(urls.len())].clone();

    for site in SITES {
        add_site(&admins[rng.below(3)], site);
    }
    admins[0]
        .call(
            Method::Post,
            "/api/admin/staff",
            Some(&json!({"username": "dm", "role": "data-manager", "password": CONSOLE_PASSWORD})),
        )
        .unwrap();

    // Twelve devices, each enrolled through a server of its own choosing.
    let mut devices: Vec<Device> = Vec::new();
    for site in SITES {
        for i in 0..DEVICES_PER_SITE {
            let url = pick(&mut rng);
            let admin = &admins[urls.iter().position(|u| *u == url).unwrap()];
            devices.push(enroll(
                &url,
                admin,
                &repo.dir,
                &format!("{site}-tab{i}"),
                site,
            ));
        }
    }
    // The first device of each site enters the site's cases.
    let mut cases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in devices.iter_mut().step_by(DEVICES_PER_SITE) {
        for _ in 0..CASES_PER_SITE {
            let id = d.store.create_case("icrown-core", &[]).unwrap();
            cases.entry(d.site.clone()).or_default().push(id);
        }
        let url = pick(&mut rng);
        sync_until_done(d, &url);
    }

    // Rounds of edits and concurrent syncs through random servers. In the first round two
    // devices of the first site set the same field of the same case: a conflict.
    let mut acknowledged: Vec<Edit> = Vec::new();
    let conflict_case = cases[SITES[0]][0].clone();
    for round in 0..ROUNDS {
        // Everyone first has the site's cases.
        let mut made: Vec<Vec<Edit>> = vec![Vec::new(); devices.len()];
        if round > 0 {
            for (i, d) in devices.iter_mut().enumerate() {
                let site_cases = &cases[&d.site];
                for _ in 0..2 {
                    let case = &site_cases[rng.below(site_cases.len())];
                    let (field, lo, hi) = FIELDS[rng.below(FIELDS.len())];
                    if *case == conflict_case && field == "vs_hr" {
                        continue; // left for the console to resolve
                    }
                    let v = lo + rng.below((hi - lo + 1) as usize) as i64;
                    let before = d.store.history(case, Some(field)).unwrap().len();
                    let stored = d
                        .store
                        .set_value(case, &FieldPath::field(field), json!(v), Some("ward round"))
                        .unwrap();
                    // The value it already holds is no change (nothing to acknowledge).
                    if d.store.history(case, Some(field)).unwrap().len() > before {
                        made[i].push((d.name.clone(), case.clone(), field.into(), stored));
                    }
                }
            }
        }
        let routes: Vec<String> = devices.iter().map(|_| pick(&mut rng)).collect();
        std::thread::scope(|s| {
            for (d, url) in devices.iter_mut().zip(&routes) {
                s.spawn(move || sync_until_done(d, url));
            }
        });
        for edits in made {
            acknowledged.extend(edits);
        }
        if round == 0 {
            // Both hold the case now; they disagree on its heart rate, offline.
            for (d, v) in devices[..2].iter_mut().zip([71, 88]) {
                assert!(d.case_ids().contains(&conflict_case), "{} has it", d.name);
                let stored = d
                    .store
                    .set_value(
                        &conflict_case,
                        &FieldPath::field("vs_hr"),
                        json!(v),
                        Some("ward round"),
                    )
                    .unwrap();
                acknowledged.push((
                    d.name.clone(),
                    conflict_case.clone(),
                    "vs_hr".into(),
                    stored,
                ));
            }
            for d in devices[..2].iter_mut() {
                let url = pick(&mut rng);
                sync_until_done(d, &url);
            }
        }
    }

    // The conflict is resolved in the console of one server while the devices sync through
    // the servers at random.
    let console_at = rng.below(3);
    let routes: Vec<String> = devices.iter().map(|_| pick(&mut rng)).collect();
    let chosen = std::thread::scope(|s| {
        let resolving = s.spawn(|| resolve_in_console(&servers[console_at].url, &conflict_case));
        for (d, url) in devices.iter_mut().zip(&routes) {
            s.spawn(move || sync_until_done(d, url));
        }
        resolving.join().unwrap()
    });

    // Quiet: two rounds of syncs through random servers bring everyone to the same documents.
    for _ in 0..2 {
        for d in devices.iter_mut() {
            let url = pick(&mut rng);
            sync_until_done(d, &url);
        }
    }

    // Every device holds every case of its site, the same documents as its site's others.
    let mut by_site: BTreeMap<String, Snapshot> = BTreeMap::new();
    for d in devices.iter_mut() {
        let expected: BTreeSet<String> = cases[&d.site].iter().cloned().collect();
        assert_eq!(
            d.case_ids(),
            expected,
            "{} holds every case of its site",
            d.name
        );
        let snap = snapshot(d);
        match by_site.get(&d.site) {
            Some(first) => assert_eq!(&snap, first, "{} converged with its site", d.name),
            None => {
                by_site.insert(d.site.clone(), snap);
            }
        }
    }
    // The resolution reached everyone; no other conflict on that field remains.
    for d in devices.iter_mut().filter(|d| d.site == SITES[0]) {
        let view = d.store.case(&conflict_case).unwrap();
        assert!(
            !view.conflicts.iter().any(|c| c.path.field == "vs_hr"),
            "{}: the console's resolution is there",
            d.name
        );
        let last = d.store.history(&conflict_case, Some("vs_hr")).unwrap();
        assert!(
            last.iter().any(|e| e.op == "resolve" && e.user == "dm"),
            "{}: the resolution by dm is in the history",
            d.name
        );
    }
    // No acknowledged change was lost: every edit a device's sync carried is in the history
    // of its field on every device of its site.
    let device_ids: BTreeMap<String, String> = devices
        .iter()
        .map(|d| (d.name.clone(), d.store.device_id()))
        .collect();
    for d in devices.iter() {
        for (by, case, field, stored) in acknowledged
            .iter()
            .filter(|(by, ..)| by.starts_with(d.site.as_str()))
        {
            let history = d.store.history(case, Some(field)).unwrap();
            assert!(
                history
                    .iter()
                    .any(|e| e.device == device_ids[by] && same_value(e.new.as_ref(), stored)),
                "seed {seed}: {by}'s {field} = {stored} of {case} is on {}",
                d.name
            );
        }
    }
    println!(
        "several servers: resolved with {chosen}; {} edits kept",
        acknowledged.len()
    );

    // A device moved to another address of the same repository keeps its credential and pin,
    // and keeps the new address (the CLI and the app bindings: `--server`, `setServerUrl`).
    cli_device_moves(&repo, &mut servers, &admins[0]);
}

/// Whether a history entry's new value is the value a device stored (bare, or with its unit).
fn same_value(new: Option<&Value>, stored: &Value) -> bool {
    let bare = |v: &Value| v.get("value").cloned().unwrap_or_else(|| v.clone());
    new.is_some_and(|n| bare(n) == bare(stored))
}

/// Syncs as the apps do: a sync the repository could not serve now (busy: another server
/// wrote one of the cases meanwhile) is made again; any other failure fails the test.
fn sync_until_done(d: &mut Device, url: &str) {
    for _ in 0..20 {
        match d.try_sync(url) {
            Ok(_) => return,
            // The repository answered 5xx ("busy": a case changed under the exchange): the
            // apps try again later.
            Err(SyncError::Transport(TransportError::Unreachable(_))) => continue,
            Err(e) => panic!("{} sync through {url}: {e}", d.name),
        }
    }
    panic!("{}: the repository stayed busy", d.name);
}

/// Signs in to the console at `url` as the data manager and resolves the heart-rate conflict
/// of `case` with its first candidate; returns the value chosen.
fn resolve_in_console(url: &str, case: &str) -> String {
    let addr = url.strip_prefix("http://").unwrap().trim_end_matches('/');
    let (_, head, page) = http(addr, "GET", "/login", &[], "");
    let login_cookie = cookie(&head, "wardcrf_login");
    let csrf = csrf_of(&page);
    let body = form_body(&[
        ("csrf", &csrf),
        ("username", "dm"),
        ("password", CONSOLE_PASSWORD),
        ("next", "/"),
    ]);
    let (status, head, _) = http(
        addr,
        "POST",
        "/login",
        &[("cookie", &format!("wardcrf_login={login_cookie}"))],
        &body,
    );
    assert_eq!(status, 303, "the data manager signs in");
    let session = format!("wardcrf_session={}", cookie(&head, "wardcrf_session"));
    let (status, _, page) = http(
        addr,
        "GET",
        &format!("/cases/{case}/conflicts"),
        &[("cookie", &session)],
        "",
    );
    assert_eq!(status, 200);
    let csrf = csrf_of(&page);
    let choice = first_choice(&page);
    let body = form_body(&[
        ("csrf", &csrf),
        ("field", "vs_hr"),
        ("group", ""),
        ("row_id", ""),
        ("choice", &choice),
        ("other_value", ""),
        ("reason", "checked against the monitor"),
    ]);
    let (status, _, page) = http(
        addr,
        "POST",
        &format!("/cases/{case}/resolve"),
        &[("cookie", &session)],
        &body,
    );
    assert_eq!(status, 303, "the resolution is stored: {page}");
    choice
}

/// The first candidate offered on a conflicts page (a radio button's value, HTML-unescaped).
fn first_choice(page: &str) -> String {
    let at = page
        .find("name=\"choice\" value=\"")
        .expect("a candidate to choose");
    let rest = &page[at + "name=\"choice\" value=\"".len()..];
    rest[..rest.find('"').unwrap()]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn cookie(head: &str, name: &str) -> String {
    head.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie").then_some(v.trim())
        })
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
        .unwrap_or_else(|| panic!("a {name} cookie in {head}"))
}

/// One HTTP/1.1 request over a fresh connection: the status, the head and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        request.push_str("content-type: application/x-www-form-urlencoded\r\n");
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, head.to_string(), body.to_string())
}

/// Runs `wardcrf` with a store passphrase from the environment.
fn wardcrf(args: &[&str]) -> std::process::Output {
    Command::new(workspace_binary("wardcrf"))
        .args(args)
        .env("WARDCRF_PASSPHRASE", "cluster tablet passphrase")
        .env("WARDCRF_INSECURE_KDF_ITERATIONS", "1000")
        .output()
        .unwrap()
}

fn wardcrf_ok(args: &[&str]) -> Value {
    let out = wardcrf(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wardcrf {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("wardcrf {args:?} printed no JSON ({e}): {stdout}"))
}

/// A CLI tablet enrolled through one server syncs through another with `--server`, then (the
/// first server gone) without it: the new address was kept, with the tablet's credential.
fn cli_device_moves(
    repo: &Repository,
    servers: &mut [Server],
    admin: &wardcrf_core::sync::HttpTransport,
) {
    let store = repo.dir.join("cli-tablet");
    let store = store.to_str().unwrap();
    wardcrf_ok(&["device", "init", "--store", store, "--json"]);
    let code = admin
        .call(
            Method::Post,
            "/api/admin/enroll-codes",
            Some(&json!({"site_id": SITES[1]})),
        )
        .unwrap();
    let code = code["code"].as_str().unwrap();
    wardcrf_ok(&[
        "device",
        "enroll",
        "--store",
        store,
        "--server",
        &servers[2].url,
        "--code",
        code,
        "--json",
    ]);
    // Not an address: refused, nothing changed.
    let bad = wardcrf(&[
        "sync",
        "--store",
        store,
        "--server",
        "ftp://elsewhere",
        "--json",
    ]);
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(
        said.contains("--server") && said.contains("not a repository address"),
        "{said}"
    );
    let pulled = wardcrf_ok(&[
        "sync",
        "--store",
        store,
        "--server",
        &servers[1].url,
        "--json",
    ]);
    assert_eq!(pulled["pulled"], json!(CASES_PER_SITE), "{pulled}");
    // The server it enrolled with is gone: the kept address is the new one.
    servers[2].child.0.kill().unwrap();
    servers[2].child.0.wait().unwrap();
    let again = wardcrf_ok(&["sync", "--store", store, "--json"]);
    assert_eq!(again["pulled"], json!(0), "{again}");
}
