//! Health, readiness and metrics on SQLite (the shared cases run on PostgreSQL in
//! tests/postgres.rs too), and the real binary: `/readyz` while its database file is gone,
//! and `/metrics` after a device's sync.
#![allow(clippy::unwrap_used)]

mod common;

fn backend() -> common::Backend {
    common::Backend::Sqlite
}

#[path = "cases/ops.rs"]
mod ops;

use common::*;

#[test]
fn readyz_fails_while_the_database_file_is_gone_and_recovers_when_it_is_back() {
    let dir = temp_dir("ops-bin-file");
    let server = ServerBinary::start(&dir.join("data"), &[]);
    let ready = || get(server.addr, "/readyz", None);
    assert_eq!(ready().status, 200, "{:?}", ready().body);
    let db = server.data.join("repository.db");
    let away = dir.join("moved-away.db");
    std::fs::rename(&db, &away).unwrap();
    let r = ready();
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert_eq!(r.body["reason"], "database_file_missing");
    // No path in the answer.
    assert!(!String::from_utf8_lossy(&r.raw).contains(dir.to_str().unwrap()));
    assert_eq!(get(server.addr, "/healthz", None).status, 200);
    std::fs::rename(&away, &db).unwrap();
    assert_eq!(ready().status, 200, "{:?}", ready().body);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metrics_of_the_binary_show_a_device_sync() {
    let dir = temp_dir("ops-bin-metrics");
    let server = ServerBinary::start(&dir.join("data"), &[]);
    let r = post_json(
        server.addr,
        "/api/admin/sites",
        Some(&server.admin),
        &serde_json::json!({"site_id": "ward-9", "name": "Ward 9"}),
    );
    assert_eq!(r.status, 201);
    let storage = StorageAt::Sqlite(server.data.join("repository.db"));
    let mut device = device_at(server.addr, &server.admin, storage, "ward-9", "ops-bin-dev");
    let case = device.store.create_case("icrown-core", &[]).unwrap();
    device.set(&case, "vs_hr", serde_json::json!(64), None);
    device.sync().unwrap();
    let r = get(server.addr, "/metrics", Some(&server.metrics));
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.raw).unwrap();
    for line in [
        "wardcrf_sync_exchanges_total{outcome=\"ok\"} 1",
        "wardcrf_sync_cases_pushed_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(!text.contains(&case), "{text}");
    assert_eq!(
        get(server.addr, "/metrics", Some(&server.admin)).status,
        401
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Even under a umask that lets everyone read and write new files (as some container
/// runtimes set), the data directory and every file the server writes in it stay private.
#[cfg(unix)]
#[test]
fn under_an_open_umask_every_data_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("ops-umask");
    let data = dir.join("data");
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", "umask 000 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_wardcrf-server"))
        .args([
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--demo",
        ]);
    let started = start_until(&mut command, "listening on http://");
    let addr: std::net::SocketAddr = started.address.parse().unwrap();
    assert_eq!(get(addr, "/healthz", None).status, 200);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let mut names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in [
        "admin-token",
        "metrics-token",
        "repository.db",
        "repository.db-wal",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    for name in &names {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    drop(started);
    std::fs::remove_dir_all(&dir).unwrap();
}
