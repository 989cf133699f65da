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
#[path = "cases/cluster.rs"]
mod cluster;
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
#[path = "cases/ops.rs"]
mod ops;
#[path = "cases/queue.rs"]
mod queue;
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
fn an_older_server_runs_on_after_additive_migrations_only() {
    use wardcrf_server::repository::postgres::migrate_with;
    const ALL: &[&str] = &[
        "CREATE TABLE t1 (x INTEGER);",
        "CREATE TABLE t2 (y INTEGER);",
        "CREATE TABLE t3 (z INTEGER);",
        "ALTER TABLE t1 RENAME COLUMN x TO w;",
    ];
    let schema = PgSchema::new(&url(), "migrate-rolling");
    let mut client = schema.config().connect(postgres::NoTls).unwrap();
    // A server of version 1 made the database.
    assert_eq!(migrate_with(&mut client, &ALL[..1], &[2, 3]).unwrap(), 1);
    // A server of version 3 starts (a rolling upgrade): 2 and 3 only add tables.
    assert_eq!(migrate_with(&mut client, &ALL[..3], &[2, 3]).unwrap(), 3);
    let recorded: Vec<(i32, Option<i32>)> = client
        .query(
            "SELECT version, compatible_from FROM schema_version ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(recorded, [(1, Some(1)), (2, Some(1)), (3, Some(1))]);
    // The version-1 servers still running reconnect and carry on, without migrating back.
    assert_eq!(migrate_with(&mut client, &ALL[..1], &[2, 3]).unwrap(), 3);
    assert_eq!(migrate_with(&mut client, &ALL[..2], &[2, 3]).unwrap(), 3);
    // Version 4 breaks older code: from then on only servers of version 4 run.
    assert_eq!(migrate_with(&mut client, ALL, &[2, 3]).unwrap(), 4);
    for older in 1..=3 {
        assert!(matches!(
            migrate_with(&mut client, &ALL[..older], &[2, 3]),
            Err(RepoError::TooNew { found: 4, known }) if known as usize == older
        ));
    }
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

    // Requests at once: the server holds several connections, every one of them cut below.
    let metrics_token = std::fs::read_to_string(data.join("metrics-token")).unwrap();
    let open = || {
        let m = get(addr, "/metrics", Some(metrics_token.trim()));
        let text = String::from_utf8_lossy(&m.raw).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("wardcrf_db_pool_connections_open "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    poll_until(60, "the server held four connections", || {
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| get(addr, "/api/admin/sites", Some(&token)));
            }
        });
        open() >= 4.0
    });

    // The database drops every connection (a restart, a failover): the server replaces them
    // by itself. A request on a connection just cut may fail (500, "try again later"); the
    // device's next attempt succeeds, however many connections the server held: the first
    // one found closed makes the pool ask the others before it leases them.
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
    assert!(answers.len() <= 2, "one request at most fails: {answers:?}");
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

/// A self-signed CA certificate made with the openssl tool, in `dir`.
fn other_ca(dir: &std::path::Path) -> std::path::PathBuf {
    let (cert, key) = (dir.join("other-ca.pem"), dir.join("other-ca.key"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=Some other CA"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    // tests/run installs the openssl tool when it is missing; never skip silently.
    assert!(
        made.is_ok_and(|o| o.status.success()),
        "the openssl command is needed to make a test certificate (apt-get install openssl)"
    );
    cert
}

#[test]
fn the_database_connection_is_encrypted_and_checked_with_the_given_ca() {
    let ca = std::env::var_os("WARDCRF_TEST_DATABASE_CA").unwrap_or_else(|| {
        panic!(
            "WARDCRF_TEST_DATABASE_CA must name the CA file of the test PostgreSQL's certificate \
             (tests/run starts PostgreSQL with TLS and sets it)"
        )
    });
    let db = PgDatabase::new(&url(), "tls");
    let dir = temp_dir("bin-pg-tls");
    let data = dir.join("data");
    let mut command = Command::new(env!("CARGO_BIN_EXE_wardcrf-server"));
    command
        .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--database-url", &db.url])
        .arg("--database-ca")
        .arg(&ca)
        .stderr(Stdio::inherit());
    let started = start_until(&mut command, "listening on http://");
    assert!(
        started
            .lines
            .iter()
            .any(|l| l == "repository in PostgreSQL (TLS)"),
        "{:?}",
        started.lines
    );
    // PostgreSQL's own view: every connection of the server to its database is TLS.
    let mut admin = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
    let row = admin
        .query_one(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE s.ssl)
             FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
             WHERE a.datname = $1",
            &[&db.name],
        )
        .unwrap();
    let (all, encrypted): (i64, i64) = (row.get(0), row.get(1));
    assert!(all > 0, "the server holds a connection");
    assert_eq!(encrypted, all, "every connection of the server is TLS");
    drop(started);

    // A CA that did not sign the database's certificate: refused at start, saying why.
    let wrong = other_ca(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_wardcrf-server"))
        .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--database-url", &db.url])
        .arg("--database-ca")
        .arg(&wrong)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PostgreSQL database"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains(&db.url), "the URL is never echoed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stops (`false`) or allows again new connections to the database `name`, ending those open
/// when stopping: to the server, the database is down, then back.
fn database_up(admin_url: &str, name: &str, up: bool) {
    let mut client = postgres::Client::connect(admin_url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {up}"))
        .unwrap();
    if !up {
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&name],
            )
            .unwrap();
    }
}

#[test]
fn readyz_fails_while_the_database_is_down_and_recovers_with_it() {
    let db = PgDatabase::new(&url(), "readyz");
    let dir = temp_dir("pg-readyz");
    let server = ServerBinary::start(&dir.join("data"), &["--database-url", &db.url]);
    let ready = || get(server.addr, "/readyz", None);
    assert_eq!(ready().status, 200, "{:?}", ready().body);
    database_up(&url(), &db.name, false);
    let mut last = None;
    poll_until(60, "not ready while the database is down", || {
        let r = ready();
        let down = r.status == 503;
        last = Some(r);
        down
    });
    let r = last.unwrap();
    assert_eq!(r.body["reason"], "database_unreachable", "{:?}", r.body);
    // Neither the URL nor the database's name in the answer.
    let text = String::from_utf8_lossy(&r.raw);
    assert!(
        !text.contains(&db.name) && !text.contains("postgres://"),
        "{text}"
    );
    assert_eq!(get(server.addr, "/healthz", None).status, 200);
    database_up(&url(), &db.name, true);
    poll_until(60, "ready again once the database is back", || {
        ready().status == 200
    });
    // And it serves again.
    let r = get(server.addr, "/api/admin/sites", Some(&server.admin));
    assert_eq!(r.status, 200, "{:?}", r.body);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn servers_started_at_once_share_one_admin_token_seed_the_demo_once_and_refuse_another_key() {
    let db = PgDatabase::new(&url(), "cluster-start");
    let dir = temp_dir("cluster-start");
    let key = dir.join("pseudonym-key");
    std::fs::write(&key, format!("{}\n", "3c".repeat(32))).unwrap();
    let start = |name: &str, key: &std::path::Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wardcrf-server"));
        command
            .args(["--data", dir.join(name).to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--demo"])
            .args(["--pseudonym-key", key.to_str().unwrap()])
            .args(["--database-url", &db.url])
            .stderr(Stdio::null());
        command
    };
    let started: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let mut command = start(&format!("server-{i}"), &key);
                s.spawn(move || start_until(&mut command, "listening on http://"))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // One demo sign-in, printed by all; the cases seeded by one of them only.
    let logins: std::collections::BTreeSet<&String> = started
        .iter()
        .flat_map(|s| s.lines.iter())
        .filter(|l| l.starts_with("demo login:"))
        .collect();
    assert_eq!(logins.len(), 1, "{logins:?}");
    let seeders = started
        .iter()
        .filter(|s| s.lines.iter().any(|l| l.starts_with("demo: seeded")))
        .count();
    assert_eq!(seeders, 1);
    // One admin token, in the data directory of the server that made it, accepted by all.
    let tokens: Vec<String> = (0..3)
        .filter_map(|i| std::fs::read_to_string(dir.join(format!("server-{i}/admin-token"))).ok())
        .collect();
    assert_eq!(tokens.len(), 1);
    for s in &started {
        let addr: std::net::SocketAddr = s.address.parse().unwrap();
        let r = get(addr, "/api/admin/sites", Some(tokens[0].trim()));
        assert_eq!(r.status, 200, "{:?}", r.body);
        let sites = r.body.as_array().unwrap();
        assert_eq!(sites.len(), 2, "the demo's two sites, once: {sites:?}");
    }
    // A server given another pseudonym key refuses to start and says what to copy.
    let other = dir.join("other-key");
    std::fs::write(&other, format!("{}\n", "4d".repeat(32))).unwrap();
    let out = start("server-3", &other)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("copy the pseudonym-key file"), "{said}");
    assert!(!said.contains(&"4d".repeat(32)), "the key is never printed");
    drop(started);
    let _ = std::fs::remove_dir_all(&dir);
}
