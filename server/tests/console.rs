//! The web console on SQLite (the same cases run on PostgreSQL in tests/postgres.rs).
#![allow(clippy::unwrap_used)]

mod common;

fn backend() -> common::Backend {
    common::Backend::Sqlite
}

#[path = "cases/console.rs"]
mod console;

use common::{Running, start_until};
use std::io::Write;
use std::process::{Command, Stdio};

fn server_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wardcrf-server"))
}

#[test]
fn create_user_adds_a_staff_user_from_the_command_line_without_printing_the_password() {
    let dir = common::temp_dir("create-user");
    let data = dir.join("data");
    let password = "first admin's passphrase";
    let out = server_bin()
        .args([
            "--data",
            data.to_str().unwrap(),
            "create-user",
            "ana",
            "--role",
            "admin",
        ])
        .env("WARDCRF_STAFF_PASSWORD", password)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("added staff user ana"), "{text}");
    assert!(!text.contains(password));
    // From standard input when the variable is unset; a site nurse needs her site.
    let mut child = server_bin()
        .args(["--data", data.to_str().unwrap(), "create-user", "nina"])
        .args(["--role", "site-nurse"])
        .env_remove("WARDCRF_STAFF_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"another passphrase\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --site"));
    // The same name again, a bad role, a short password: refused with exit code 2.
    for (args, env_pw, says) in [
        (vec!["ana", "--role", "admin"], password, "already exists"),
        (vec!["bea", "--role", "wizard"], password, "unknown role"),
        (vec!["bea", "--role", "admin"], "short", "10 to 1024"),
    ] {
        let out = server_bin()
            .args(["--data", data.to_str().unwrap(), "create-user"])
            .args(&args)
            .env("WARDCRF_STAFF_PASSWORD", env_pw)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains(env_pw), "{args:?}: {err}");
    }
    // Stored with a slow salted hash that verifies.
    use wardcrf_server::Repository;
    let mut storage = wardcrf_server::SqliteStorage::open(&data.join("repository.db")).unwrap();
    let ana = storage.staff_user("ana").unwrap().unwrap();
    assert_eq!(ana.role, "admin");
    assert!(ana.password_hash.starts_with("pbkdf2-sha256$600000$"));
    assert!(wardcrf_server::console::verify_password(
        password,
        &ana.password_hash
    ));
    assert!(storage.staff_user("bea").unwrap().is_none());

    // A clinician of a site, with the printed name shown with her entries and signatures.
    storage.create_site("site-a", "Site A", 1).unwrap();
    let out = server_bin()
        .args(["--data", data.to_str().unwrap(), "create-user", "sato"])
        .args(["--role", "clinician", "--site", "site-a"])
        .args(["--name", "Dr. Sato Hanako"])
        .env("WARDCRF_STAFF_PASSWORD", password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sato = storage.staff_user("sato").unwrap().unwrap();
    assert_eq!(
        (
            sato.role.as_str(),
            sato.site_id.as_deref(),
            sato.printed_name()
        ),
        ("clinician", Some("site-a"), "Dr. Sato Hanako")
    );
    let out = server_bin()
        .args(["--data", data.to_str().unwrap(), "create-user", "kim"])
        .args(["--role", "clinician"])
        .env("WARDCRF_STAFF_PASSWORD", password)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --site"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `wardcrf-server --demo` on `data`; returns it and the lines printed up to
/// `listening on`.
fn start_demo(data: &std::path::Path) -> (Running, Vec<String>) {
    let mut command = server_bin();
    command
        .args([
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--demo",
        ])
        .stderr(Stdio::inherit());
    let started = start_until(&mut command, "listening on http://");
    (started.child, started.lines)
}

fn printed<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line '{prefix}…' in {lines:?}"))
}

#[test]
fn the_demo_is_seeded_where_its_sites_exist_empty() {
    // As another server that lost the seeding claim leaves the repository when it creates
    // the demo sites before the winner looks: the sites, no cases, no devices.
    let dir = common::temp_dir("demo-empty-sites");
    let data = dir.join("data");
    {
        let server = common::ServerBinary::start(&data, &[]);
        for (id, name) in [("demo-tokyo", "Tokyo"), ("demo-berlin", "Berlin")] {
            let site = serde_json::json!({"site_id": id, "name": name});
            let r = common::post_json(server.addr, "/api/admin/sites", Some(&server.admin), &site);
            assert_eq!(r.status, 201, "{:?}", r.body);
        }
    }
    let (_server, lines) = start_demo(&data);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("demo: seeded 7 synthetic cases")),
        "{lines:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_demo_is_seeded_once_through_sync_and_prints_its_address_and_login() {
    let dir = common::temp_dir("demo");
    let data = dir.join("data");
    let (first, lines) = start_demo(&data);
    let url = printed(&lines, "web console: ").to_string();
    let password = printed(&lines, "demo login: user demo-admin, password ").to_string();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("demo: seeded 7 synthetic cases")),
        "{lines:?}"
    );
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'));
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let cases = common::get(addr, "/api/cases", Some(token.trim()));
    let list = cases.body.as_array().unwrap().clone();
    assert_eq!(list.len(), 7);
    let conflicted = list.iter().filter(|c| c["conflicts"] == 1).count();
    assert_eq!(conflicted, 2, "two open conflicts: {list:?}");
    assert!(
        list.iter().any(|c| c["flags"].as_u64() > Some(0)),
        "a flagged case"
    );
    // Entered on simulated tablets that synced: three devices with a last sync.
    let devices = common::get(addr, "/api/admin/devices", Some(token.trim()));
    let devices = devices.body.as_array().unwrap();
    assert_eq!(devices.len(), 3);
    assert!(devices.iter().all(|d| d["last_sync_at"].is_u64()));
    // The history shows who entered what on which device, as a device would.
    let c = list.iter().find(|c| c["conflicts"] == 1).unwrap();
    let history = common::get(
        addr,
        &format!("/api/cases/{}/history", c["case_id"].as_str().unwrap()),
        Some(token.trim()),
    );
    let devices_in_history: std::collections::BTreeSet<&str> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["device"].as_str())
        .collect();
    assert_eq!(devices_in_history.len(), 2, "entered from two tablets");
    drop(first);
    // Started again: nothing seeded twice, the same login.
    let (_second, lines) = start_demo(&data);
    assert!(
        !lines.iter().any(|l| l.starts_with("demo: seeded")),
        "{lines:?}"
    );
    assert_eq!(
        printed(&lines, "demo login: user demo-admin, password "),
        password
    );
    let url = printed(&lines, "web console: ");
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let cases = common::get(addr, "/api/cases", Some(token.trim()));
    assert_eq!(cases.body.as_array().unwrap().len(), 7);
    let _ = std::fs::remove_dir_all(&dir);
}
