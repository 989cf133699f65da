//! The storage backend on SQLite (the same cases run on PostgreSQL in tests/postgres.rs).
#![allow(clippy::unwrap_used)]

mod common;

fn backend() -> common::Backend {
    common::Backend::Sqlite
}

#[path = "cases/cluster.rs"]
mod cluster;
#[path = "cases/storage.rs"]
mod storage;

/// A storm makes the server's pool open connections while other connections write: opening
/// one (its `journal_mode`, `user_version` and migration checks) waits for the lock like any
/// other step, never failing at once with "database is locked".
#[test]
fn connections_opened_while_another_connection_writes_all_open() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = common::temp_dir("open-while-writing");
    let path = dir.join("repository.db");
    drop(wardcrf_server::SqliteStorage::open(&path).unwrap());
    let mut writer = rusqlite::Connection::open(&path).unwrap();
    writer
        .busy_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    writer
        .execute_batch("CREATE TABLE scratch (x BLOB)")
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writing = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let blob = vec![7u8; 64 * 1024];
            while !stop.load(Ordering::Acquire) {
                let tx = writer
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .unwrap();
                tx.execute("INSERT INTO scratch (x) VALUES (?1)", [&blob])
                    .unwrap();
                tx.commit().unwrap();
            }
        })
    };
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                (0..500)
                    .filter_map(|_| wardcrf_server::SqliteStorage::open(&path).err())
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let failures: Vec<String> = openers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    stop.store(true, Ordering::Release);
    writing.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} of 2000 connections failed to open: {:?}",
        failures.len(),
        failures.first()
    );
}
