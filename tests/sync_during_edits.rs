//! A ward keeps working while its tablet syncs with the real `wardcrf-server`: a sync runs on a
//! worker thread over HTTP while the ward's thread edits cases in the same store (the one being
//! pushed, and another one) and creates a case, with the answer already on its way back. The
//! ward's calls complete while the sync is in flight; nothing is lost; the edits made during the
//! sync reach the repository with the next sync, and another tablet of the site receives them.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

mod common;

use common::*;
use serde_json::{Value, json};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use wardcrf_core::sync::{
    self, HttpTransport, SyncRequest, SyncResponse, Transport, TransportError,
};
use wardcrf_core::{CaseStore, FieldPath};

on_both_backends!(
    a_tablet_edits_while_it_syncs_and_the_next_sync_pushes_the_edits,
    super::edits_during_a_sync
);

const SITE: &str = "jp-osaka-02";

/// The tablet's HTTPS line; after each answer has arrived, and before the sync applies it, it
/// tells the ward and waits until the ward has done its work.
struct HeldLine {
    http: HttpTransport,
    arrived: Mutex<Sender<()>>,
    go_on: Mutex<Receiver<()>>,
}

impl Transport for HeldLine {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        let answer = self.http.exchange(request);
        self.arrived.lock().unwrap().send(()).unwrap();
        self.go_on
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60))
            .expect("the ward lets the sync go on");
        answer
    }

    fn roster(&self) -> Result<Option<wardcrf_core::staff::Roster>, TransportError> {
        self.http.roster()
    }
}

/// The store for one of the ward's calls: it must be free while the sync talks to the
/// repository (a sync holding it would make this fail, not hang).
fn ward(store: &Mutex<CaseStore>) -> MutexGuard<'_, CaseStore> {
    for _ in 0..200 {
        if let Ok(guard) = store.try_lock() {
            return guard;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the store was held while the sync waited for the repository");
}

fn set(store: &mut CaseStore, case: &str, field: &str, v: Value, reason: Option<&str>) {
    store
        .set_value(case, &FieldPath::field(field), v, reason)
        .unwrap();
}

fn value(store: &mut CaseStore, case: &str, field: &str) -> Value {
    store.case(case).unwrap().values[field]["value"].clone()
}

fn edits_during_a_sync(backend: Backend) {
    let repo = Repository::new(&backend, "edits-during-sync");
    let server = repo.start();
    let admin = repo.admin(&server);
    add_site(&admin, SITE);
    let mut other = enroll(&server.url, &admin, &repo.dir, "other", SITE);
    let tablet = enroll(&server.url, &admin, &repo.dir, "tablet", SITE);
    let token = tablet.token.clone();
    let store = Mutex::new(tablet.store);

    // A case both tablets hold, then one changed here and waiting to be pushed.
    let (pushed_now, earlier) = {
        let mut s = ward(&store);
        let earlier = s.create_case("icrown-core", &[]).unwrap();
        set(&mut s, &earlier, "vs_hr", json!(80), None);
        (s.create_case("icrown-core", &[]).unwrap(), earlier)
    };
    set(&mut ward(&store), &pushed_now, "vs_hr", json!(101), None);
    let http = || HttpTransport::new(&server.url, &token).unwrap();
    sync::sync_cancellable(&store, &http(), &mut |_| {}, &AtomicBool::new(false)).unwrap();
    other.sync(&server.url);
    set(
        &mut ward(&store),
        &pushed_now,
        "vs_hr",
        json!(104),
        Some("recount"),
    );

    let (arrived_tx, arrived) = channel();
    let (go_on, go_on_rx) = channel();
    let line = HeldLine {
        http: http(),
        arrived: Mutex::new(arrived_tx),
        go_on: Mutex::new(go_on_rx),
    };
    let created = std::thread::scope(|scope| {
        let worker = scope
            .spawn(|| sync::sync_cancellable(&store, &line, &mut |_| {}, &AtomicBool::new(false)));
        arrived.recv_timeout(Duration::from_secs(60)).unwrap();
        // The sync is in flight (its answer not yet applied): the ward edits the case being
        // pushed, another case, and starts a new one.
        let created = {
            let mut s = ward(&store);
            set(&mut s, &pushed_now, "vs_temp", json!(38.9), None);
            set(&mut s, &earlier, "vs_rr", json!(22), None);
            assert_eq!(value(&mut s, &pushed_now, "vs_hr"), json!(104));
            s.create_case("icrown-core", &[]).unwrap()
        };
        assert!(!worker.is_finished(), "the sync waits for the ward");
        go_on.send(()).unwrap();
        let summary = worker.join().unwrap().unwrap();
        assert_eq!((summary.pushed, summary.exchanges), (1, 1));
        created
    });

    // Nothing lost on the tablet; the edits made during the sync wait for the next one.
    {
        let mut s = ward(&store);
        assert_eq!(value(&mut s, &pushed_now, "vs_hr"), json!(104));
        assert_eq!(value(&mut s, &pushed_now, "vs_temp"), json!(38.9));
        assert_eq!(value(&mut s, &earlier, "vs_rr"), json!(22));
        let mut outbox = s.sync_outbox().unwrap();
        outbox.sort();
        let mut expected = vec![pushed_now.clone(), earlier.clone(), created.clone()];
        expected.sort();
        assert_eq!(outbox, expected);
    }
    other.sync(&server.url);
    assert_eq!(value(&mut other.store, &pushed_now, "vs_hr"), json!(104));
    assert!(
        other
            .store
            .case(&pushed_now)
            .unwrap()
            .values
            .get("vs_temp")
            .is_none()
    );
    assert!(!other.case_ids().contains(&created));

    let next =
        sync::sync_cancellable(&store, &http(), &mut |_| {}, &AtomicBool::new(false)).unwrap();
    assert_eq!(next.pushed, 3);
    assert!(ward(&store).sync_outbox().unwrap().is_empty());
    other.sync(&server.url);
    assert_eq!(value(&mut other.store, &pushed_now, "vs_temp"), json!(38.9));
    assert_eq!(value(&mut other.store, &earlier, "vs_rr"), json!(22));
    assert_eq!(value(&mut other.store, &earlier, "vs_hr"), json!(80));
    assert!(other.case_ids().contains(&created));
    drop(server);
}
