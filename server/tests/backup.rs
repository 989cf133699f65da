//! Backups and restores of the SQLite repository (`wardcrf_server::backup`): a backup taken
//! while devices push is a sound, private copy; a restore refuses a file that is not a
//! repository, one of a newer schema, and a data directory a server holds; a restored
//! repository has a new epoch and the replaced database is kept. (On PostgreSQL the same
//! commands run pg_dump and pg_restore: the system test `tests/restore.rs` covers both.)
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use wardcrf_core::repository::HubStorage;
use wardcrf_server::backup::{self, BackupError};
use wardcrf_server::{Repository, SqliteStorage};

/// The case ids of the SQLite repository `db`, each document loaded (a torn copy would not).
fn cases_of(db: &Path) -> Vec<String> {
    let mut storage = SqliteStorage::open(db).unwrap();
    let ids: Vec<String> = storage
        .cases_after("a", 0, 100_000)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for id in &ids {
        let stored = storage.case(id).unwrap().unwrap();
        automerge::Automerge::load(&stored.doc).unwrap();
    }
    ids
}

#[test]
fn backups_taken_while_devices_push_are_sound_private_copies() {
    let server = TestServer::start(&Backend::Sqlite, "backup-live");
    server.site("a");
    let mut d = device(&server, "a", "backup-live-device");
    let out_dir = temp_dir("backup-live-out");
    let mut backups: Vec<std::path::PathBuf> = Vec::new();
    let pushing = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..40 {
                let case = d.store.create_case("icrown-core", &[]).unwrap();
                d.set(&case, "vs_hr", json!(72), None);
                d.sync().unwrap();
            }
            pushing.store(false, std::sync::atomic::Ordering::SeqCst);
        });
        // Backups one after another for as long as the device pushes (at least two).
        while backups.len() < 2 || pushing.load(std::sync::atomic::Ordering::SeqCst) {
            let out = out_dir.join(format!("repository-{}.backup", backups.len()));
            backup::backup_sqlite(&server.dir, &out).unwrap();
            backups.push(out);
        }
    });
    assert!(!pushing.load(std::sync::atomic::Ordering::SeqCst));
    let mut seen = 0;
    for out in &backups {
        let mode = std::fs::metadata(out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", out.display());
        backup::check_sqlite(out).unwrap();
        assert!(!out.with_extension("backup-wal").exists());
        // Later backups hold at least what earlier ones held.
        let n = cases_of(out).len();
        assert!(n >= seen, "{n} < {seen}");
        seen = n;
    }
    // After the pushes, a backup holds every case.
    let last = out_dir.join("after.backup");
    backup::backup_sqlite(&server.dir, &last).unwrap();
    assert_eq!(cases_of(&last).len(), 40);
    // A backup never replaces a file.
    assert!(matches!(
        backup::backup_sqlite(&server.dir, &last),
        Err(BackupError::Exists(_))
    ));
    // No repository there: said so.
    assert!(matches!(
        backup::backup_sqlite(&out_dir.join("nothing"), &out_dir.join("x")),
        Err(BackupError::NoRepository(_))
    ));
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn a_restore_checks_the_file_refuses_a_held_data_directory_and_gives_a_new_epoch() {
    let server = TestServer::start(&Backend::Sqlite, "restore-checks");
    server.site("a");
    let mut d = device(&server, "a", "restore-checks-device");
    let before = d.store.create_case("icrown-core", &[]).unwrap();
    d.sync().unwrap();
    let work = temp_dir("restore-checks-work");
    let saved = work.join("yesterday.backup");
    backup::backup_sqlite(&server.dir, &saved).unwrap();
    let after = d.store.create_case("icrown-core", &[]).unwrap();
    d.sync().unwrap();
    let old_epoch = SqliteStorage::open(&saved).unwrap().epoch().unwrap();

    // A copy of the data directory, restored while "a server" holds it: refused.
    let data = work.join("data");
    std::fs::create_dir_all(&data).unwrap();
    backup::backup_sqlite(&server.dir, &work.join("today.backup")).unwrap();
    std::fs::copy(work.join("today.backup"), data.join("repository.db")).unwrap();
    let held = backup::hold_data_dir(&data).unwrap();
    let second = backup::hold_data_dir(&data).unwrap(); // servers share it
    assert!(matches!(
        backup::restore_sqlite(&data, &saved, 1),
        Err(BackupError::InUse(_))
    ));
    assert_eq!(
        cases_of(&data.join("repository.db")).len(),
        2,
        "nothing replaced"
    );
    drop((held, second));

    // Not a repository, or of a newer schema: refused, nothing replaced.
    let junk = work.join("junk");
    std::fs::write(&junk, b"not a database at all").unwrap();
    assert!(matches!(
        backup::restore_sqlite(&data, &junk, 1),
        Err(BackupError::NotARepository { .. })
    ));
    let other = work.join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER)")
        .unwrap();
    assert!(matches!(
        backup::restore_sqlite(&data, &other, 1),
        Err(BackupError::NotARepository { .. })
    ));
    let newer = work.join("newer.backup");
    std::fs::copy(&saved, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    assert!(matches!(
        backup::restore_sqlite(&data, &newer, 1),
        Err(BackupError::TooNew { found: 999, .. })
    ));
    assert_eq!(cases_of(&data.join("repository.db")).len(), 2);

    // Restored: yesterday's cases, a new epoch, the replaced database kept.
    let restored = backup::restore_sqlite(&data, &saved, 1234).unwrap();
    let kept = restored.kept.unwrap();
    assert_eq!(kept, data.join("repository.db.replaced-1234"));
    assert_eq!(cases_of(&kept).len(), 2);
    let ids = cases_of(&data.join("repository.db"));
    assert_eq!(ids, vec![before.clone()]);
    assert!(!ids.contains(&after));
    let mode = std::fs::metadata(data.join("repository.db"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let new_epoch = SqliteStorage::open(&data.join("repository.db"))
        .unwrap()
        .epoch()
        .unwrap();
    assert_ne!(new_epoch, old_epoch);
    assert_eq!(new_epoch.len(), 32);
    // The backup itself is left as it was.
    assert_eq!(
        SqliteStorage::open(&saved).unwrap().epoch().unwrap(),
        old_epoch
    );
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn every_sync_answer_carries_the_epoch_and_another_one_takes_nothing() {
    let server = TestServer::start(&Backend::Sqlite, "epoch-answer");
    server.site("a");
    let mut d = device(&server, "a", "epoch-answer-device");
    let case = d.store.create_case("icrown-core", &[]).unwrap();
    d.sync().unwrap();
    let epoch = match server.storage() {
        Storage::Sqlite(mut s, _) => s.epoch().unwrap(),
        Storage::Postgres(mut s, _) => s.epoch().unwrap(),
    };
    assert_eq!(d.store.sync_epoch().unwrap(), Some(epoch.clone()));
    // A device of protocol 1 gets the answer it always got: no epoch.
    let old = post_json(
        server.addr,
        "/api/sync",
        Some(&d.http.token),
        &json!({"protocol": 1, "cursor": 0, "push": []}),
    );
    assert_eq!(old.status, 200);
    assert!(old.body.get("epoch").is_none(), "{:?}", old.body);
    // Protocol 2 with another epoch: nothing of the push is taken, the epoch is named.
    let push = d.store.sync_push(&case).unwrap();
    let stale = post_json(
        server.addr,
        "/api/sync",
        Some(&d.http.token),
        &json!({"protocol": 2, "cursor": 5, "epoch": "0".repeat(32), "push": [push]}),
    );
    assert_eq!(stale.status, 200);
    let body = &stale.body;
    assert_eq!(body["epoch"], json!(epoch));
    assert_eq!(body["cursor"], json!(0));
    assert_eq!(body["cases"], json!([]));
    // Its own epoch: an ordinary exchange.
    let fine = post_json(
        server.addr,
        "/api/sync",
        Some(&d.http.token),
        &json!({"protocol": 2, "cursor": 0, "epoch": epoch, "push": []}),
    );
    assert_eq!(fine.status, 200, "{:?}", fine.body);
    assert_eq!(fine.body["cases"].as_array().unwrap().len(), 1);
    assert_eq!(fine.body["epoch"], json!(epoch));
}
