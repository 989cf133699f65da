//! The whole shared suite (storage, HTTP API, sync, exports) on PostgreSQL, plus PostgreSQL's own
//! migration and `--database-url` checks. The server comes from WARDCRF_TEST_DATABASE_URL
//! (tests/run starts a throwaway one); without it every test here FAILS, never skips.
//! Built only with the `postgres-tests` feature so that a plain `cargo test` on a machine
//! without PostgreSQL stays green; tests/run always enables it.
#![allow(clippy::unwrap_used)]

mod common;

fn backend() -> common::Backend {
    common::Backend::postgres_from_env()
}

#[path = "cases/api.rs"]
mod api;
#[path = "cases/concurrency.rs"]
mod concurrency;
#[path = "cases/console.rs"]
mod console;
#[path = "cases/export.rs"]
mod export;
#[path = "cases/hostile_push.rs"]
mod hostile_push;
#[path = "cases/isolation.rs"]
mod isolation;
#[path = "cases/staff.rs"]
mod staff;
#[path = "cases/storage.rs"]
mod storage;
#[path = "cases/sync.rs"]
mod sync;

use common::*;
use std::process::{Command, Stdio};
use wardcrf_server::repository::RepoError;
use wardcrf_server::repository::postgres::{SCHEMA_VERSION, migrate};

fn url() -> String {
    match backend() {
        Backend::Postgres(url) => url,
        Backend::Sqlite => unreachable!(),
    }
}

#[test]
fn migrations_are_recorded_once_and_a_newer_schema_is_refused() {
    let schema = PgSchema::new(&url(), "migrate");
    let mut client = schema.config().connect(postgres::NoTls).unwrap();
    assert_eq!(migrate(&mut client).unwrap(), SCHEMA_VERSION);
    assert_eq!(migrate(&mut client).unwrap(), SCHEMA_VERSION);
    let versions: Vec<i32> = client
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION as i32).collect::<Vec<_>>());
    // Every table of the SQLite schema exists.
    for table in [
        "sites",
        "site_seq",
        "enroll_codes",
        "devices",
        "cases",
        "device_known",
        "device_sent",
        "case_projection",
        "staff_users",
        "staff_sessions",
        "repository_settings",
    ] {
        let n: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM information_schema.tables
                 WHERE table_schema = $1 AND table_name = $2",
                &[&schema.name, &table],
            )
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "{table}");
    }
    client
        .execute(
            "INSERT INTO schema_version (version, applied_at) VALUES ($1, 0)",
            &[&(SCHEMA_VERSION as i32 + 1)],
        )
        .unwrap();
    assert!(matches!(
        migrate(&mut client),
        Err(RepoError::TooNew { found, known }) if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION
    ));
    assert!(matches!(
        wardcrf_server::PostgresStorage::connect_with(&schema.config()),
        Err(RepoError::TooNew { .. })
    ));
}

#[test]
fn migration_006_keeps_staff_sites_and_devices_and_records_when_it_ran() {
    let schema = PgSchema::new(&url(), "migrate-006");
    let mut client = schema.config().connect(postgres::NoTls).unwrap();
    // A repository at schema 5 (as an older server left it), with a nurse, a site, a device.
    client
        .batch_execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .unwrap();
    for (version, sql) in [
        include_str!("../migrations/postgres/001_init.sql"),
        include_str!("../migrations/postgres/002_case_projection.sql"),
        include_str!("../migrations/postgres/003_console.sql"),
        include_str!("../migrations/postgres/004_site_identifying.sql"),
        include_str!("../migrations/postgres/005_quarantine.sql"),
    ]
    .iter()
    .enumerate()
    {
        client.batch_execute(sql).unwrap();
        client
            .execute(
                "INSERT INTO schema_version (version, applied_at) VALUES ($1, 0)",
                &[&(version as i32 + 1)],
            )
            .unwrap();
    }
    client
        .batch_execute(
            "INSERT INTO sites (site_id, name, created_at) VALUES ('a', 'A', 1);
             INSERT INTO staff_users (username, role, site_id, password_hash, created_at)
                 VALUES ('nina', 'site_nurse', 'a', 'h', 1);
             INSERT INTO devices (device_id, site_id, token_sha256, enrolled_at)
                 VALUES ('d1', 'a', '\\x00', 1);",
        )
        .unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(migrate(&mut client).unwrap(), SCHEMA_VERSION);
    let row = client
        .query_one(
            "SELECT display_name, credential_epoch FROM staff_users WHERE username = 'nina'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "", "'' means the user name");
    assert_eq!(row.get::<_, i64>(1), 0);
    let row = client
        .query_one(
            "SELECT lock_after_minutes, signature_meanings FROM sites WHERE site_id = 'a'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 5);
    assert_eq!(row.get::<_, Option<String>>(1), None, "NULL: the defaults");
    let key: Option<String> = client
        .query_one("SELECT device_key FROM devices", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        key, None,
        "an older device gets its key at its first sign-in"
    );
    let ran: i64 = client
        .query_one(
            "SELECT value FROM repository_settings WHERE name = 'unattributed_before'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        (before - 5..=before + 5).contains(&ran),
        "{ran} vs {before}"
    );
}

#[test]
fn concurrent_connections_migrate_once() {
    let schema = PgSchema::new(&url(), "migrate-race");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let config = schema.config();
            std::thread::spawn(move || wardcrf_server::PostgresStorage::connect_with(&config))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
}

#[test]
fn the_binary_serves_from_the_database_url_and_keeps_data_across_restarts() {
    let db = PgDatabase::new(&url(), "bin");
    let dir = temp_dir("bin-pg");
    let data = dir.join("data");
    let start = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wardcrf-server"));
        command
            .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(["--database-url", &db.url])
            .stderr(Stdio::inherit());
        let started = start_until(&mut command, "listening on http://");
        let addr: std::net::SocketAddr = started.address.parse().unwrap();
        let mut lines = started.lines;
        lines.pop(); // the "listening on" line itself
        (started.child, addr, lines)
    };
    let (child, addr, lines) = start();
    assert!(
        lines.iter().any(|l| l == "repository in PostgreSQL"),
        "{lines:?}"
    );
    assert!(!lines.join("\n").contains(&db.url));
    // No SQLite file: the repository lives in PostgreSQL.
    assert!(!data.join("repository.db").exists());
    let token = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_string();
    let r = post_json(
        addr,
        "/api/admin/sites",
        Some(&token),
        &serde_json::json!({"site_id": "pg-site", "name": "PG"}),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);

    // The database drops every connection (a restart, a failover): the server replaces them
    // by itself. A request on a connection just cut may fail (500, "try again later"); the
    // device's next attempt succeeds.
    let mut admin = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
    let dropped = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .unwrap();
    assert!(dropped >= 1, "the server had a connection open");
    let mut answers = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let r = get(addr, "/api/admin/sites", Some(&token));
        answers.push(r.status);
        if r.status == 200 {
            assert_eq!(r.body[0]["site_id"], "pg-site");
            break;
        }
        assert_eq!((r.status, r.code()), (500, "internal"), "{:?}", r.body);
    }
    assert_eq!(answers.last(), Some(&200), "{answers:?}");
    drop(child);

    let (child, addr, _) = start();
    let r = get(addr, "/api/admin/sites", Some(&token));
    assert_eq!(r.body[0]["site_id"], "pg-site");
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_binary_reports_an_unreachable_database_without_echoing_the_url() {
    url(); // Like every test here, fails without the test server's variable.
    let dir = temp_dir("bin-pg-down");
    // Port 1 on loopback: nothing listens there.
    let secret_url = "postgres://u:hunter2-secret@127.0.0.1:1/db";
    let out = Command::new(env!("CARGO_BIN_EXE_wardcrf-server"))
        .args(["--data", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--database-url", secret_url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PostgreSQL database"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
