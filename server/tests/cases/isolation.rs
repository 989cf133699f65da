//! One bad case never stops a site: a stored document that cannot be loaded is quarantined and
//! repaired by a device that holds the case; answers are bounded by bytes; a device's
//! bookkeeping does not grow per sync; a case id is never moved between sites or written twice
//! by one push. Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use serde_json::json;
use std::net::SocketAddr;
use wardcrf_core::sync::{CaseChanges, PROTOCOL, SyncRequest, SyncResponse};

fn post_sync(addr: SocketAddr, token: &str, request: &SyncRequest) -> Resp {
    let body = serde_json::to_vec(request).unwrap();
    request_with(addr, "POST", "/api/sync", Some(token), &[], Some(&body))
}

fn answer(r: &Resp) -> SyncResponse {
    assert_eq!(r.status, 200, "{:?}", r.body);
    serde_json::from_slice(&r.raw).unwrap()
}

fn pull(cursor: u64) -> SyncRequest {
    SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor,
        push: Vec::new(),
    }
}

/// A valid document of `case` followed by 64 zero bytes: what the lenient incremental load
/// once let through, and what every strict load refuses.
fn poisoned(device: &Device, case: &str) -> Vec<u8> {
    let mut doc = device
        .store
        .export_cases()
        .unwrap()
        .into_iter()
        .find(|c| c.case_id == case)
        .unwrap()
        .bytes;
    doc.extend_from_slice(&[0u8; 64]);
    doc
}

#[test]
fn a_case_that_cannot_be_loaded_is_quarantined_and_the_site_keeps_syncing() {
    let server = TestServer::start(&crate::backend(), "iso-poison");
    server.site("site-a");
    server.site("site-b");
    let mut a1 = device(&server, "site-a", "iso-a1");
    let mut b1 = device(&server, "site-b", "iso-b1");
    let mut cases = Vec::new();
    for hr in [70, 80, 90] {
        let case = a1.store.create_case("icrown-core", &[]).unwrap();
        a1.set(&case, "vs_hr", json!(hr), None);
        cases.push(case);
    }
    a1.sync().unwrap();
    let b_case = b1.store.create_case("icrown-core", &[]).unwrap();
    b1.sync().unwrap();

    // A disk fault (or an older bug) leaves one stored document unloadable.
    let damaged = cases[1].clone();
    let mut storage = server.storage();
    storage.put_raw(&damaged, "site-a", "icrown-core", &poisoned(&a1, &damaged));

    // A new device of the site gets every other case; the damaged one is skipped.
    let mut a2 = device(&server, "site-a", "iso-a2");
    let s = a2.sync().expect("one damaged case never fails a pull");
    assert_eq!(s.pulled, 2);
    assert_eq!(a2.value(&cases[0], "vs_hr")["value"], json!(70));
    assert_eq!(a2.value(&cases[2], "vs_hr")["value"], json!(90));
    assert!(a2.store.case(&damaged).is_err());
    // Site B never hears of it.
    assert_eq!(b1.sync().unwrap().pulled, 0);
    assert!(b1.store.case(&b_case).is_ok());
    let r = answer(&post_sync(server.addr, &b1.http.token, &pull(0)));
    assert!(r.cases.iter().all(|c| c.case_id != damaged));
    assert!(r.repush.is_empty(), "site B is not asked for site A's case");

    // The site's devices are asked to push it again; it is listed as quarantined, with who
    // last pushed it and why.
    let r = answer(&post_sync(server.addr, &a2.http.token, &pull(0)));
    assert_eq!(r.repush, vec![damaged.clone()]);
    assert!(r.cases.iter().all(|c| c.case_id != damaged));
    let listed = storage.quarantined(Some("site-a"));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].case_id, damaged);
    assert_eq!(listed[0].site, "site-a");
    assert_eq!(
        listed[0].device.as_deref(),
        Some(a1.store.device_id().as_str())
    );
    assert!(!listed[0].reason.is_empty());
    assert!(storage.quarantined(Some("site-b")).is_empty());
    let kept = storage.count(&format!(
        "SELECT COUNT(*) FROM case_quarantine WHERE case_id = '{damaged}'"
    ));
    assert_eq!(kept, 1);

    // The device that holds the case pushes it whole in the same sync; it is repaired.
    let s = a1.sync().unwrap();
    assert!(s.exchanges >= 2, "{s:?}");
    assert!(storage.quarantined(None).is_empty());
    assert_eq!(a2.sync().unwrap().pulled, 1);
    assert_eq!(a2.value(&damaged, "vs_hr")["value"], json!(80));
    // The damaged bytes are kept; edits flow again.
    let kept = storage.count(&format!(
        "SELECT COUNT(*) FROM case_quarantine WHERE case_id = '{damaged}'"
    ));
    assert_eq!(kept, 1);
    a2.set(&damaged, "vs_hr", json!(84), Some("recount"));
    a2.sync().unwrap();
    a1.sync().unwrap();
    assert_eq!(a1.value(&damaged, "vs_hr")["value"], json!(84));
    let r = server.admin_get(&format!("/api/cases/{damaged}"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["values"]["vs_hr"]["value"], json!(84));
}

#[test]
fn an_edit_pushed_to_a_damaged_case_is_taken_whole_and_repairs_it() {
    let server = TestServer::start(&crate::backend(), "iso-edit");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "iso-e1");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(70), None);
    let other = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&other, "vs_hr", json!(60), None);
    a1.sync().unwrap();
    let mut storage = server.storage();
    storage.put_raw(&case, "site-a", "icrown-core", &poisoned(&a1, &case));

    // The device pushes only its new change; the repository cannot merge it into the damaged
    // document, asks for the whole case and takes it, all in one sync.
    a1.set(&case, "vs_hr", json!(72), Some("recount"));
    a1.set(&other, "vs_hr", json!(62), Some("recount"));
    let s = a1.sync().expect("a damaged stored case never fails a push");
    assert!(s.exchanges >= 2, "{s:?}");
    assert!(storage.quarantined(None).is_empty());
    let mut a2 = device(&server, "site-a", "iso-e2");
    assert_eq!(a2.sync().unwrap().pulled, 2);
    assert_eq!(a2.value(&case, "vs_hr")["value"], json!(72));
    assert_eq!(a2.value(&other, "vs_hr")["value"], json!(62));
}

#[test]
fn a_replacement_for_a_damaged_case_must_be_whole_and_from_its_site() {
    let server = TestServer::start(&crate::backend(), "iso-whole");
    server.site("site-a");
    server.site("site-b");
    let mut a1 = device(&server, "site-a", "iso-w1");
    let b1 = device(&server, "site-b", "iso-w2");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(70), None);
    a1.sync().unwrap();
    a1.set(&case, "vs_hr", json!(71), Some("recount"));
    let mut storage = server.storage();
    storage.put_raw(&case, "site-a", "icrown-core", &poisoned(&a1, &case));
    // Detected by a pull.
    let r = answer(&post_sync(server.addr, &a1.http.token, &pull(0)));
    assert_eq!(r.repush, vec![case.clone()]);

    // Another site cannot take the case over by pushing it whole.
    let incremental = a1.store.sync_push(&case).unwrap();
    let whole = CaseChanges {
        changes: poisoned(&a1, &case)[..poisoned(&a1, &case).len() - 64].to_vec(),
        ..incremental.clone()
    };
    let r = post_sync(
        server.addr,
        &b1.http.token,
        &SyncRequest {
            epoch: None,
            protocol: PROTOCOL,
            cursor: 0,
            push: vec![whole],
        },
    );
    // Answered as any case the device may not change: the answer never confirms the case exists.
    assert_eq!((r.status, r.code()), (400, "bad_case"));
    // Only the new change (not the whole case): not stored, still quarantined, asked again.
    let r = answer(&post_sync(
        server.addr,
        &a1.http.token,
        &SyncRequest {
            epoch: None,
            protocol: PROTOCOL,
            cursor: 0,
            push: vec![incremental],
        },
    ));
    assert_eq!(r.repush, vec![case.clone()]);
    assert!(r.cases.iter().all(|c| c.case_id != case));
    assert_eq!(storage.quarantined(Some("site-a")).len(), 1);
    // The whole case: taken.
    a1.sync().unwrap();
    assert!(storage.quarantined(None).is_empty());
    let r = server.admin_get(&format!("/api/cases/{case}"));
    assert_eq!(r.body["values"]["vs_hr"]["value"], json!(71));
}

/// A random string of `n` letters and digits (hardly compressible).
fn noise(n: usize, seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(ALPHABET[(x % 62) as usize])
        })
        .collect()
}

#[test]
fn pull_answers_are_bounded_by_bytes_and_a_larger_case_goes_alone() {
    use automerge::{AutoCommit, ROOT, ReadDoc, transaction::Transactable};
    let server = TestServer::start(&crate::backend(), "iso-bytes");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "iso-big");
    let mut storage = server.storage();
    let mut big = Vec::new();
    // Four cases of about 6 MB each, and one of about 20 MB (beyond the bound on its own).
    for (i, size) in [6_000_000, 6_000_000, 6_000_000, 20_000_000, 6_000_000]
        .into_iter()
        .enumerate()
    {
        let case = a1.store.create_case("icrown-core", &[]).unwrap();
        a1.set(&case, "vs_hr", json!(70), None);
        let bytes = a1
            .store
            .export_cases()
            .unwrap()
            .into_iter()
            .find(|c| c.case_id == case)
            .unwrap()
            .bytes;
        let mut doc = AutoCommit::load(&bytes).unwrap();
        let (_, values) = doc.get(ROOT, "values").unwrap().unwrap();
        doc.put(&values, "bench_note", noise(size, i as u64 + 7))
            .unwrap();
        storage.put_raw(&case, "site-a", "icrown-core", &doc.save());
        big.push(case);
    }
    let a2 = device(&server, "site-a", "iso-big2");
    let mut cursor = 0;
    let mut seen = Vec::new();
    let mut answers = 0;
    loop {
        let r = answer(&post_sync(server.addr, &a2.http.token, &pull(cursor)));
        answers += 1;
        let bytes: usize = r.cases.iter().map(|c| c.changes.len()).sum();
        assert!(
            r.cases.len() == 1 || bytes <= 16 * 1024 * 1024,
            "{} cases, {bytes} bytes in one answer",
            r.cases.len()
        );
        seen.extend(r.cases.iter().map(|c| c.case_id.clone()));
        cursor = r.cursor;
        if !r.more {
            break;
        }
        assert!(answers < 10);
    }
    assert!(answers >= 3, "{answers} answers");
    seen.sort();
    big.sort();
    assert_eq!(seen, big);
    // The device client gets them all too.
    let mut a3 = device(&server, "site-a", "iso-big3");
    let s = a3.sync().unwrap();
    assert_eq!((s.pulled, s.exchanges), (5, answers));
}

#[test]
fn a_device_that_always_sends_cursor_zero_keeps_one_pending_row_per_case() {
    let server = TestServer::start(&crate::backend(), "iso-sent");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "iso-s1");
    for hr in [70, 80, 90] {
        let case = a1.store.create_case("icrown-core", &[]).unwrap();
        a1.set(&case, "vs_hr", json!(hr), None);
    }
    a1.sync().unwrap();
    let stuck = device(&server, "site-a", "iso-s2");
    for _ in 0..20 {
        let r = answer(&post_sync(server.addr, &stuck.http.token, &pull(0)));
        assert_eq!(r.cases.len(), 3);
    }
    let mut storage = server.storage();
    let rows = storage.count(&format!(
        "SELECT COUNT(*) FROM device_sent WHERE device_id = '{}'",
        stuck.store.device_id()
    ));
    assert_eq!(rows, 3, "one pending row per case, not one per sync");
}

#[test]
fn one_push_cannot_write_a_case_twice() {
    let server = TestServer::start(&crate::backend(), "iso-twice");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "iso-t1");
    let mut a2 = device(&server, "site-a", "iso-t2");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(70), None);
    let first = a1.store.sync_push(&case).unwrap();
    // A second entry under the same id carrying another case's document.
    let other = a2.store.create_case("icrown-core", &[]).unwrap();
    a2.set(&other, "vs_hr", json!(150), None);
    let second = CaseChanges {
        case_id: case.clone(),
        ..a2.store.sync_push(&other).unwrap()
    };
    let r = post_sync(
        server.addr,
        &a1.http.token,
        &SyncRequest {
            epoch: None,
            protocol: PROTOCOL,
            cursor: 0,
            push: vec![first, second],
        },
    );
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(
        server.admin_get(&format!("/api/cases/{case}")).status,
        404,
        "nothing of the push is kept"
    );
    a1.sync().unwrap();
    a2.sync().unwrap();
    assert_eq!(a2.value(&case, "vs_hr")["value"], json!(70));
}

/// `#[test] fn $name` running `$body` on a fresh, empty storage of the target's backend.
macro_rules! storage_test {
    ($name:ident, $body:ident) => {
        #[test]
        fn $name() {
            match crate::backend() {
                Backend::Sqlite => $body(wardcrf_server::SqliteStorage::open_in_memory().unwrap()),
                Backend::Postgres(url) => {
                    let schema = PgSchema::new(&url, stringify!($name));
                    $body(schema.storage());
                }
            }
        }
    };
}

storage_test!(a_case_never_moves_between_sites, never_moves);
fn never_moves<S: wardcrf_core::repository::HubStorage>(mut s: S)
where
    S::Error: std::fmt::Debug,
{
    use wardcrf_core::repository::Put;
    assert_eq!(
        s.put_case("c1", "A", "f", b"1", None).unwrap(),
        Put::Stored(1)
    );
    assert_eq!(
        s.put_case("c1", "B", "f", b"from B", Some(1)).unwrap(),
        Put::OtherSite
    );
    assert_eq!(
        s.put_case("c1", "B", "f", b"from B", None).unwrap(),
        Put::OtherSite
    );
    let c = s.case("c1").unwrap().unwrap();
    assert_eq!(
        (c.site.as_str(), c.doc.as_slice(), c.seq),
        ("A", &b"1"[..], 1)
    );
    // Pushed: new only when no case has the id; else only over the version read.
    assert_eq!(
        s.put_pushed("c1", "B", "f", b"x", "dev-b", None).unwrap(),
        Put::OtherSite
    );
    assert_eq!(
        s.put_pushed("c1", "B", "f", b"x", "dev-b", Some(1))
            .unwrap(),
        Put::OtherSite
    );
    assert_eq!(
        s.put_pushed("c1", "A", "f", b"x", "dev-a", None).unwrap(),
        Put::Changed
    );
    assert_eq!(
        s.put_pushed("c1", "A", "f", b"x", "dev-a", Some(7))
            .unwrap(),
        Put::Changed
    );
    assert_eq!(s.case("c1").unwrap().unwrap().doc, b"1");
    let Put::Stored(seq) = s
        .put_pushed("c1", "A", "f", b"2", "dev-a", Some(1))
        .unwrap()
    else {
        panic!("stored over the version read")
    };
    assert!(seq > 1);
    // (A refused attempt may leave a sequence number unused: numbers only need to grow.)
    let Put::Stored(b_seq) = s.put_pushed("c2", "B", "f", b"b", "dev-b", None).unwrap() else {
        panic!("a new case is stored")
    };
    let c = s.case("c1").unwrap().unwrap();
    assert_eq!(
        (c.site.as_str(), c.doc.as_slice(), c.seq),
        ("A", &b"2"[..], seq)
    );
    assert_eq!(
        s.cases_after("B", 0, 10).unwrap(),
        vec![("c2".to_string(), b_seq)]
    );
}

storage_test!(quarantine_keeps_the_damaged_bytes_and_lifts, quarantine);
fn quarantine<S: wardcrf_core::repository::HubStorage>(mut s: S)
where
    S::Error: std::fmt::Debug,
{
    assert_eq!(s.quarantine("none", "why").unwrap(), None);
    s.put_pushed("c1", "A", "f", b"bad", "dev-1", None).unwrap();
    s.put_case("c2", "B", "f", b"bad too", None).unwrap();
    let q = s.quarantine("c1", "cannot be loaded").unwrap().unwrap();
    assert_eq!(
        (q.case_id.as_str(), q.site.as_str(), q.reason.as_str()),
        ("c1", "A", "cannot be loaded")
    );
    assert_eq!(q.device.as_deref(), Some("dev-1"));
    assert!(q.first_seen > 1_600_000_000);
    // Once: the first reason stays.
    assert_eq!(s.quarantine("c1", "again").unwrap().unwrap(), q);
    let q2 = s.quarantine("c2", "no document").unwrap().unwrap();
    assert_eq!(q2.device, None);
    assert_eq!(s.quarantined(None).unwrap(), vec![q.clone(), q2.clone()]);
    assert_eq!(s.quarantined(Some("B")).unwrap(), vec![q2]);
    s.release("c2").unwrap();
    assert_eq!(s.quarantined(None).unwrap(), vec![q]);
    // Quarantined again later: a new record.
    let again = s.quarantine("c2", "damaged again").unwrap().unwrap();
    assert_eq!(again.reason, "damaged again");
}
