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
#[path = "cases/console.rs"]
mod console;
#[path = "cases/export.rs"]
mod export;
#[path = "cases/hostile_push.rs"]
mod hostile_push;
#[path = "cases/isolation.rs"]
mod isolation;
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
