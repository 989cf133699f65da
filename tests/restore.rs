//! The repository is restored from yesterday's backup under live tablets, with the real
//! `wardcrf-server` binary, on SQLite and PostgreSQL: tablets sync, a backup is taken
//! (`wardcrf-server backup`), tablets go on editing and creating cases and syncing (the
//! repository acknowledges it all), the server is stopped, `wardcrf-server restore` puts the
//! backup back (refused while the server still runs), and the server starts again. The tablets
//! see the new repository epoch and push again what the backup lacks: in the end the
//! repository holds every acknowledged change again (a new tablet pulls exactly what the
//! tablets hold), the tablets agree, and cases created after the backup exist again. A tablet
//! that was offline the whole time loses and duplicates nothing.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

mod common;

use common::*;
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::path::Path;
use wardcrf_core::FieldPath;

on_both_backends!(
    restoring_yesterdays_backup_loses_no_acknowledged_change,
    super::restore_under_live_devices
);

const SITE: &str = "de-berlin-03";

fn set(d: &mut Device, case: &str, field: &str, v: Value) {
    d.store
        .set_value(case, &FieldPath::field(field), v, Some("recounted"))
        .unwrap();
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `wardcrf-server restore --from FILE`, once the stopped server's database sessions are gone
/// (PostgreSQL notices a killed client's connections shortly after): retried while it refuses
/// because of other sessions, for at most a generous deadline.
fn restore(repo: &Repository, backup: &Path) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let out = repo.server_command(&[
            OsStr::new("restore"),
            OsStr::new("--from"),
            backup.as_os_str(),
        ]);
        if out.status.success()
            || !text(&out).contains("other session")
            || std::time::Instant::now() > deadline
        {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn restore_under_live_devices(backend: Backend) {
    let repo = Repository::new(&backend, "restore");
    let server = repo.start();
    let url = server.url.clone();
    let admin = repo.admin(&server);
    add_site(&admin, SITE);
    let dir = repo.dir.join("devices");
    let mut a = enroll(&url, &admin, &dir, "a", SITE);
    let mut b = enroll(&url, &admin, &dir, "b", SITE);
    let mut offline = enroll(&url, &admin, &dir, "offline", SITE);

    // Before the backup: cases of both tablets, everywhere.
    let mut before = Vec::new();
    for i in 0..3 {
        let d = if i < 2 { &mut a } else { &mut b };
        let case = d.store.create_case("icrown-core", &[]).unwrap();
        d.store
            .set_value(&case, &FieldPath::field("vs_hr"), json!(70 + i), None)
            .unwrap();
        before.push(case);
    }
    a.sync(&url);
    b.sync(&url);
    a.sync(&url);
    offline.sync(&url);
    assert_eq!(offline.case_ids().len(), 3);

    // Yesterday's backup, taken while the server serves.
    let saved = repo.dir.join("yesterday.backup");
    let out = repo.server_command(&[OsStr::new("backup"), OsStr::new("--out"), saved.as_os_str()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("patient data"), "{}", text(&out));
    assert!(text(&out).contains("pseudonym-key"), "{}", text(&out));

    // After it: edits of old cases, new cases and a conflict, all acknowledged.
    set(&mut a, &before[0], "vs_hr", json!(101));
    set(&mut b, &before[2], "vs_hr", json!(99));
    let new_a = a.store.create_case("icrown-core", &[]).unwrap();
    set(&mut a, &new_a, "vs_temp", json!(38.5));
    let new_b = b.store.create_case("icrown-core", &[]).unwrap();
    a.sync(&url);
    b.sync(&url);
    set(&mut a, &before[1], "vs_hr", json!(120));
    set(&mut b, &before[1], "vs_hr", json!(121));
    a.sync(&url);
    b.sync(&url);
    a.sync(&url);
    let acknowledged = snapshot(&mut a);
    assert_eq!(snapshot(&mut b), acknowledged);
    assert_eq!(acknowledged.len(), 5);
    assert!(
        !acknowledged[&before[1]].1.is_empty(),
        "the conflict is there"
    );

    // No restore under a running server.
    let refused = repo.server_command(&[
        OsStr::new("restore"),
        OsStr::new("--from"),
        saved.as_os_str(),
    ]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("stop every"), "{}", text(&refused));
    assert_eq!(a.sync(&url).pulled, 0, "the repository is as it was");

    // Stop, restore yesterday's backup, start again at the same address.
    drop(server);
    let out = restore(&repo, &saved);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("new epoch"), "{}", text(&out));
    let server = repo.restart_at(&url);
    let admin = repo.admin(&server);
    let mut fresh = enroll(&url, &admin, &dir, "before-devices-sync", SITE);
    fresh.sync(&url);
    assert_eq!(
        fresh.case_ids().len(),
        3,
        "the repository went back to yesterday"
    );

    // The tablets sync: they push again what the backup lacks.
    a.sync(&url);
    b.sync(&url);
    a.sync(&url);
    b.sync(&url);
    assert_eq!(snapshot(&mut a), acknowledged);
    assert_eq!(snapshot(&mut b), acknowledged);
    // The tablet offline all along: nothing lost, nothing twice, everything received.
    offline.sync(&url);
    assert_eq!(snapshot(&mut offline), acknowledged);
    // The repository holds every acknowledged change: a new tablet pulls exactly that.
    let mut witness = enroll(&url, &admin, &dir, "witness", SITE);
    witness.sync(&url);
    assert_eq!(snapshot(&mut witness), acknowledged);
    assert!(witness.case_ids().contains(&new_a) && witness.case_ids().contains(&new_b));
    fresh.sync(&url);
    assert_eq!(snapshot(&mut fresh), acknowledged);
    // Nothing is left to push, and another round changes nothing.
    for d in [&mut a, &mut b, &mut offline, &mut witness] {
        assert!(d.store.sync_outbox().unwrap().is_empty(), "{}", d.name);
        let again = d.sync(&url);
        assert_eq!((again.pushed, again.pulled), (0, 0), "{}", d.name);
    }
}
