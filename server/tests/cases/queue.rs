//! The projection queue through the server: pushed cases are queued by the exchange and
//! projected by workers (or a drain), a newer push leaves the case stale until projected
//! again, two servers' workers drain one queue side by side and leave every case projected
//! from its latest document, a case that cannot be projected is left aside without blocking
//! the others, and the lag is visible in the backlog and the case list.
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Polls `done` until it holds; fails after a generous deadline.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The case list entry of `case`, if listed.
fn listed(server: &TestServer, case: &str) -> Option<Value> {
    let list = server.admin_get("/api/cases").body;
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["case_id"] == json!(case))
        .cloned()
}

fn stored_seq(server: &TestServer, case: &str) -> u64 {
    let n = server
        .storage()
        .count(&format!("SELECT seq FROM cases WHERE case_id = '{case}'"));
    u64::try_from(n).unwrap()
}

#[test]
fn pushed_cases_wait_in_the_queue_and_the_workers_project_them() {
    let server = TestServer::start_lagging(&crate::backend(), "queue-workers");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "qa1");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_sbp", json!(100), None);
    a1.set(&case, "vs_dbp", json!(120), None);
    assert_eq!(a1.sync().unwrap().pushed, 1);

    // The exchange queued the case and projected nothing.
    let backlog = (server.projections.backlog)();
    assert_eq!((backlog.pending, backlog.failed), (1, 0));
    assert!(backlog.oldest_enqueued_at.is_some());
    assert_eq!(
        listed(&server, &case),
        None,
        "not projected in the exchange"
    );

    // The workers project it; a second push wakes them again.
    let workers = (server.projections.start_workers)(1);
    eventually("the case is projected", || {
        listed(&server, &case).is_some_and(|c| c["stale"] == json!(false))
    });
    let c = listed(&server, &case).unwrap();
    let flags = c["flags"].as_u64().unwrap();
    assert!(flags > 0, "dbp above sbp is flagged: {c}");
    assert_eq!(c["projected_seq"], json!(stored_seq(&server, &case)));
    a1.set(&case, "vs_dbp", json!(60), Some("measured again"));
    a1.sync().unwrap();
    let seq = stored_seq(&server, &case);
    eventually("the newer document is projected", || {
        listed(&server, &case).is_some_and(|c| c["projected_seq"] == json!(seq))
    });
    assert!(listed(&server, &case).unwrap()["flags"].as_u64().unwrap() < flags);
    assert_eq!((server.projections.backlog)().pending, 0);
    workers.stop();
}

#[test]
fn a_newer_push_leaves_the_case_stale_and_marked_until_it_is_projected() {
    let server = TestServer::start_lagging(&crate::backend(), "queue-stale");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "qs1");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(80), None);
    a1.sync().unwrap();
    assert_eq!((server.projections.drain)(), 1);
    let first = listed(&server, &case).unwrap();
    assert_eq!(first["stale"], json!(false));

    a1.set(&case, "vs_hr", json!(90), Some("recount"));
    a1.sync().unwrap();
    // The list says what it shows is older than the case.
    let c = listed(&server, &case).unwrap();
    assert_eq!(c["stale"], json!(true), "{c}");
    assert_eq!(c["projected_seq"], first["projected_seq"]);
    assert!(stored_seq(&server, &case) > c["projected_seq"].as_u64().unwrap());
    let backlog = (server.projections.backlog)();
    assert_eq!(backlog.pending, 1);
    server
        .now
        .fetch_add(30, std::sync::atomic::Ordering::SeqCst);
    assert_eq!((server.projections.backlog)().oldest_age_secs, 30);

    // One case asked for is projected first: answered current.
    let r = server.admin_get(&format!("/api/cases/{case}"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["values"]["vs_hr"]["value"], json!(90));
    assert_eq!(r.body["stale"], json!(false));
    assert_eq!(r.body["projected_seq"], json!(stored_seq(&server, &case)));
    assert_eq!(listed(&server, &case).unwrap()["stale"], json!(false));
    assert_eq!((server.projections.backlog)().pending, 0);
}

#[test]
fn an_export_never_shows_a_stale_projection() {
    let server = TestServer::start_lagging(&crate::backend(), "queue-export");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "qe1");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(81), None);
    a1.sync().unwrap();
    (server.projections.drain)();
    a1.set(&case, "vs_hr", json!(93), Some("recount"));
    a1.sync().unwrap();
    let fresh = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&fresh, "vs_hr", json!(67), None);
    a1.sync().unwrap();
    assert_eq!((server.projections.backlog)().pending, 2);
    let r = server.admin_get("/api/exports/fhir");
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.raw);
    assert!(
        text.contains(&fresh),
        "a case queued before the export is exported"
    );
    assert!(text.contains("93"), "the current value is exported");
    assert!(!text.contains("\"value\":81"), "never the older one");
}

#[test]
fn a_case_that_cannot_be_projected_is_left_aside_and_never_blocks_the_queue() {
    let server = TestServer::start_lagging(&crate::backend(), "queue-damaged");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "qd1");
    let bad = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&bad, "vs_hr", json!(70), None);
    let good = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&good, "vs_hr", json!(71), None);
    a1.sync().unwrap();
    // The stored document of one queued case is damaged (a disk fault) before it is projected.
    server.damage_document(&bad);
    server.storage().enqueue(&bad, START);
    let workers = (server.projections.start_workers)(1);
    eventually("the queue holds only the damaged case", || {
        let b = (server.projections.backlog)();
        (b.pending, b.failed) == (0, 1)
    });
    assert!(listed(&server, &good).is_some());
    assert_eq!(listed(&server, &bad), None);
    // Not retried: later pushes are projected all the same.
    let later = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&later, "vs_hr", json!(72), None);
    a1.sync().unwrap();
    eventually("a later case is projected", || {
        listed(&server, &later).is_some()
    });
    assert_eq!((server.projections.backlog)().pending, 0);
    workers.stop();
}

#[test]
fn two_servers_draining_one_queue_project_every_case_from_its_latest_document() {
    let server = TestServer::start_lagging(&crate::backend(), "queue-two");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "qt1");
    let cases: Vec<String> = (0..40)
        .map(|i| {
            let case = a1.store.create_case("icrown-core", &[]).unwrap();
            a1.set(&case, "vs_hr", json!(60 + i), None);
            case
        })
        .collect();
    a1.sync().unwrap();
    // Two other servers' workers drain the queue side by side, while the device keeps
    // pushing newer versions of every case.
    let one = server.storage().start_workers(2);
    let two = server.storage().start_workers(2);
    for round in 1..=3 {
        for (i, case) in cases.iter().enumerate() {
            let v = json!(100 + round * 10 + i as i64 % 10);
            a1.set(case, "vs_hr", v, Some("recount"));
        }
        a1.sync().unwrap();
    }
    eventually("the queue is drained", || {
        (server.projections.backlog)().pending == 0
    });
    one.stop();
    two.stop();
    let mut storage = server.storage();
    for (i, case) in cases.iter().enumerate() {
        let row = storage.projection(case).expect("projected");
        assert_eq!(row.projected_seq, stored_seq(&server, case), "{case}");
        let values: Value = serde_json::from_str(&row.values).unwrap();
        assert_eq!(
            values["vs_hr"]["value"],
            json!(130 + i as i64 % 10),
            "{case} is projected from its latest document"
        );
    }
}
