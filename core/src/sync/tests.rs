//! Device ↔ repository sync over an in-memory transport: several devices, two sites,
//! conflicts, interruptions, refusals and the cost of a sync with nothing new.

use super::*;
use crate::repository::{Hub, HubError, MemoryHubStorage};
use crate::store::document::CaseDoc;
use crate::store::{FieldPath, Passphrase};
use automerge::ActorId;
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;

type SharedHub = Rc<RefCell<Hub<MemoryHubStorage>>>;

/// A device's line to the repository; it can be made to lose the next response.
struct Line {
    hub: SharedHub,
    site: String,
    device: String,
    drop_next_response: Cell<bool>,
    sizes: RefCell<Vec<(usize, usize)>>,
}

impl Transport for Line {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        // Through JSON, as over the network.
        let body = serde_json::to_vec(request).unwrap();
        let request: SyncRequest = serde_json::from_slice(&body).unwrap();
        let response = self
            .hub
            .borrow_mut()
            .exchange(&self.site, &self.device, &request)
            .map_err(|e| TransportError::Refused(e.to_string()))?;
        let answer = serde_json::to_vec(&response).unwrap();
        self.sizes.borrow_mut().push((body.len(), answer.len()));
        if self.drop_next_response.replace(false) {
            return Err(TransportError::Unreachable("connection reset".into()));
        }
        Ok(serde_json::from_slice(&answer).unwrap())
    }
}

struct Device {
    store: CaseStore,
    line: Line,
    dir: PathBuf,
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn device(hub: &SharedHub, site: &str, name: &str) -> Device {
    let (store, line, dir) = store_and_line(hub, site, name);
    Device { store, line, dir }
}

/// A new store in a temporary directory with "nurse" signed in, and its line to `site`.
fn store_and_line(hub: &SharedHub, site: &str, name: &str) -> (CaseStore, Line, PathBuf) {
    let tag = crate::store::SecretKey::generate()
        .unwrap()
        .keyed_hash("t", b"t");
    let dir = std::env::temp_dir().join(format!(
        "wardcrf-sync-{name}-{:02x}{:02x}{:02x}",
        tag[0], tag[1], tag[2]
    ));
    let store = {
        let mut s = CaseStore::create(&dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    };
    hub.borrow_mut().storage.add_staff(site, "nurse");
    let line = Line {
        hub: hub.clone(),
        site: site.into(),
        device: store.device_id(),
        drop_next_response: Cell::new(false),
        sizes: RefCell::new(Vec::new()),
    };
    (store, line, dir)
}

impl Device {
    fn sync(&mut self) -> SyncSummary {
        sync(&mut self.store, &self.line, &mut |_| {}).unwrap()
    }

    fn set(&mut self, case: &str, field: &str, v: Value, reason: Option<&str>) {
        self.store
            .set_value(case, &FieldPath::field(field), v, reason)
            .unwrap();
    }

    fn value(&mut self, case: &str, field: &str) -> Value {
        self.store
            .case(case)
            .unwrap()
            .values
            .get(field)
            .cloned()
            .unwrap_or(Value::Null)
    }
}

fn new_hub() -> SharedHub {
    Rc::new(RefCell::new(Hub::new(MemoryHubStorage::default())))
}

fn hub_values(hub: &SharedHub, case: &str) -> serde_json::Map<String, Value> {
    let bytes = hub.borrow_mut().document(case).unwrap().unwrap();
    CaseDoc::load(&bytes, &ActorId::random()).unwrap().values()
}

#[test]
fn devices_of_a_site_converge_through_the_repository_and_see_the_same_conflicts() {
    let hub = new_hub();
    let (mut a1, mut a2, mut b1) = (
        device(&hub, "A", "a1"),
        device(&hub, "A", "a2"),
        device(&hub, "B", "b1"),
    );
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(88), None);
    assert_eq!(
        a1.sync(),
        SyncSummary {
            pushed: 1,
            pulled: 0,
            conflicts: 0,
            exchanges: 1
        }
    );
    assert_eq!(a2.sync().pulled, 1);
    assert_eq!(
        b1.sync().pulled,
        0,
        "another site's device never receives the case"
    );
    assert!(matches!(
        b1.store.case(&case),
        Err(StoreError::UnknownCase(_))
    ));
    // Offline: both change the heart rate; a2 also records the temperature.
    a1.set(&case, "vs_hr", json!(92), Some("recount"));
    a2.set(&case, "vs_hr", json!(104), Some("monitor"));
    a2.set(&case, "vs_temp", json!(38.2), None);
    a1.sync();
    a2.sync();
    a1.sync();
    for d in [&mut a1, &mut a2] {
        let c = d.store.conflicts(None).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].candidates.len(), 2);
        assert_eq!(d.value(&case, "vs_temp")["value"], json!(38.2));
    }
    let mut hub_doc = CaseDoc::load(
        &hub.borrow_mut().document(&case).unwrap().unwrap(),
        &ActorId::random(),
    )
    .unwrap();
    assert_eq!(
        hub_doc.conflicts().len(),
        1,
        "the repository sees the conflict too"
    );
    // Resolved on a2; a1 sees the resolution at its next sync.
    a2.store
        .resolve(
            &case,
            &FieldPath::field("vs_hr"),
            json!(104),
            "monitor confirmed",
        )
        .unwrap();
    a2.sync();
    a1.sync();
    assert!(a1.store.conflicts(None).unwrap().is_empty());
    assert_eq!(a1.value(&case, "vs_hr"), a2.value(&case, "vs_hr"));
    assert_eq!(
        a1.store.case(&case).unwrap().values,
        a2.store.case(&case).unwrap().values
    );
    assert_eq!(
        hub_values(&hub, &case),
        a1.store
            .case(&case)
            .unwrap()
            .values
            .clone()
            .into_iter()
            .collect()
    );
    assert_eq!(
        a1.store.history(&case, None).unwrap(),
        a2.store.history(&case, None).unwrap()
    );
}

#[test]
fn a_sync_with_nothing_new_is_one_small_exchange_whatever_the_store_size() {
    let hub = new_hub();
    let (mut a1, mut a2) = (device(&hub, "A", "s1"), device(&hub, "A", "s2"));
    for i in 0..130 {
        let case = a1.store.create_case("icrown-core", &[]).unwrap();
        a1.set(&case, "vs_hr", json!(60 + i % 50), None);
    }
    let first = a1.sync();
    assert_eq!(first.pushed, 130);
    assert_eq!(first.exchanges, 2, "pushed in batches of {PUSH_BATCH}");
    assert_eq!(a2.sync().pulled, 130);
    for d in [&mut a1, &mut a2] {
        d.line.sizes.borrow_mut().clear();
        let s = d.sync();
        assert_eq!((s.pushed, s.pulled, s.exchanges), (0, 0, 1));
        let sizes = d.line.sizes.borrow();
        assert_eq!(sizes.len(), 1);
        let (up, down) = sizes[0];
        assert!(up + down <= 2048, "{up} + {down} bytes");
    }
    // One edit costs one case each way, not the store.
    let case = a1.store.list(&crate::store::CaseFilter::default()).unwrap()[0]
        .case_id
        .clone();
    a1.set(&case, "vs_rr", json!(18), None);
    assert_eq!(a1.sync().pushed, 1);
    assert_eq!(a2.sync().pulled, 1);
    assert_eq!(a2.value(&case, "vs_rr")["value"], json!(18));
}

#[test]
fn an_interrupted_sync_completes_on_the_next_one_without_duplicates() {
    let hub = new_hub();
    let (mut a1, mut a2) = (device(&hub, "A", "i1"), device(&hub, "A", "i2"));
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(70), None);
    // The repository applies the push but the answer is lost.
    a1.line.drop_next_response.set(true);
    assert!(matches!(
        sync(&mut a1.store, &a1.line, &mut |_| {}),
        Err(SyncError::Transport(TransportError::Unreachable(_)))
    ));
    assert_eq!(
        a1.store.sync_outbox().unwrap(),
        vec![case.clone()],
        "still waiting to be confirmed"
    );
    a1.sync();
    assert!(a1.store.sync_outbox().unwrap().is_empty());
    // The same on the pulling side.
    a2.line.drop_next_response.set(true);
    assert!(sync(&mut a2.store, &a2.line, &mut |_| {}).is_err());
    a2.sync();
    a2.sync();
    assert_eq!(a2.value(&case, "vs_hr")["value"], json!(70));
    assert_eq!(
        a1.store.history(&case, None).unwrap(),
        a2.store.history(&case, None).unwrap()
    );
    assert_eq!(
        a2.store.history(&case, Some("vs_hr")).unwrap().len(),
        1,
        "nothing applied twice"
    );
}

#[test]
fn the_repository_refuses_bad_pushes_and_applies_nothing_of_them() {
    let hub = new_hub();
    let (mut a1, mut b1) = (device(&hub, "A", "r1"), device(&hub, "B", "r2"));
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.sync();
    // A device of site B pushes a case of site A.
    let forged = a1.store.sync_push(&case).unwrap();
    let req = SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 0,
        push: vec![forged.clone()],
    };
    let err = hub
        .borrow_mut()
        .exchange("B", &b1.store.device_id(), &req)
        .unwrap_err();
    assert_eq!(err, HubError::OtherSite(case.clone()));
    assert!(err.is_client_error());
    // A batch with one good new case and one malformed: neither is stored.
    let good_id = b1.store.create_case("icrown-core", &[]).unwrap();
    let good = b1.store.sync_push(&good_id).unwrap();
    let broken = CaseChanges {
        case_id: "deadbeef".repeat(4),
        form_id: "icrown-core".into(),
        changes: vec![1, 2, 3],
        heads: vec![],
    };
    let req = SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 0,
        push: vec![good, broken],
    };
    let err = hub
        .borrow_mut()
        .exchange("B", &b1.store.device_id(), &req)
        .unwrap_err();
    assert!(
        matches!(err, HubError::BadCase { ref case_id, .. } if *case_id == "deadbeef".repeat(4)),
        "{err}"
    );
    assert!(hub.borrow_mut().document(&good_id).unwrap().is_none());
    let old = SyncRequest {
        epoch: None,
        protocol: 0,
        cursor: 0,
        push: vec![],
    };
    assert_eq!(
        hub.borrow_mut().exchange("B", "x", &old).unwrap_err(),
        HubError::Protocol(0)
    );
    // The honest device still syncs.
    assert_eq!(b1.sync().pushed, 1);
}

#[test]
fn a_cancelled_sync_stops_between_exchanges_and_the_next_one_completes_it() {
    let hub = new_hub();
    let mut a1 = device(&hub, "A", "c1");
    for _ in 0..PUSH_BATCH + 5 {
        a1.store.create_case("icrown-core", &[]).unwrap();
    }
    // Cancelled before it starts: no exchange at all.
    let cancel = AtomicBool::new(true);
    let r = sync_cancellable(&mut a1.store, &a1.line, &mut |_| {}, &cancel);
    assert!(matches!(r, Err(SyncError::Cancelled)), "{r:?}");
    assert!(a1.line.sizes.borrow().is_empty());
    // Cancelled from the progress callback after the first batch: that batch is kept.
    let cancel = AtomicBool::new(false);
    let mut seen = Vec::new();
    let r = sync_cancellable(
        &mut a1.store,
        &a1.line,
        &mut |p| {
            seen.push(p);
            cancel.store(true, Ordering::Release);
        },
        &cancel,
    );
    assert!(matches!(r, Err(SyncError::Cancelled)), "{r:?}");
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].pushed, seen[0].remaining), (PUSH_BATCH, 5));
    assert_eq!(a1.store.sync_outbox().unwrap().len(), 5);
    let rest = a1.sync();
    assert_eq!((rest.pushed, rest.exchanges), (5, 1));
    assert!(a1.store.sync_outbox().unwrap().is_empty());
}

/// A store shared with the ward's screens while it syncs (as in the apps).
struct SharedDevice {
    store: std::sync::Mutex<CaseStore>,
    line: Line,
    dir: PathBuf,
}

impl Drop for SharedDevice {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn shared_device(hub: &SharedHub, site: &str, name: &str) -> SharedDevice {
    let (store, line, dir) = store_and_line(hub, site, name);
    SharedDevice {
        store: std::sync::Mutex::new(store),
        line,
        dir,
    }
}

impl SharedDevice {
    /// The store, for a screen's call.
    fn ward(&self) -> std::sync::MutexGuard<'_, CaseStore> {
        self.store.try_lock().expect("the store is free")
    }

    fn sync(&self) -> SyncSummary {
        sync_cancellable(
            &self.store,
            &self.line,
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .unwrap()
    }
}

type WardStep<'a> = Box<dyn FnOnce(&mut CaseStore) + 'a>;

/// A line on which, while the repository's answer is on its way back (the hub has already
/// answered), the ward uses the store: one step per exchange, in order. The store must be free
/// then (`try_lock`): a sync that held it across the exchange fails the test.
struct BusyWard<'a> {
    device: &'a SharedDevice,
    during: RefCell<std::collections::VecDeque<WardStep<'a>>>,
}

impl<'a> BusyWard<'a> {
    fn new(device: &'a SharedDevice, steps: Vec<WardStep<'a>>) -> Self {
        BusyWard {
            device,
            during: RefCell::new(steps.into()),
        }
    }

    fn sync(&self) -> Result<SyncSummary, SyncError> {
        sync_cancellable(
            &self.device.store,
            self,
            &mut |_| {},
            &AtomicBool::new(false),
        )
    }
}

impl Transport for BusyWard<'_> {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        let answer = self.device.line.exchange(request);
        let step = self.during.borrow_mut().pop_front();
        if let Some(step) = step {
            step(&mut self.device.ward());
        }
        answer
    }
}

fn set_in(store: &mut CaseStore, case: &str, field: &str, v: Value, reason: Option<&str>) {
    store
        .set_value(case, &FieldPath::field(field), v, reason)
        .unwrap();
}

fn value_in(store: &mut CaseStore, case: &str, field: &str) -> Value {
    store.case(case).unwrap().values[field]["value"].clone()
}

#[test]
fn edits_made_while_the_repository_answers_are_kept_and_pushed_by_the_next_sync() {
    let hub = new_hub();
    let a = shared_device(&hub, "A", "busy");
    let mut b = device(&hub, "A", "other");
    let x = a.ward().create_case("icrown-core", &[]).unwrap();
    set_in(&mut a.ward(), &x, "vs_hr", json!(88), None);
    a.sync();
    b.sync();
    // The other device changes X (two fields); this one changes X and starts Z.
    b.set(&x, "vs_rr", json!(20), None);
    b.set(&x, "vs_spo2", json!(97), None);
    b.sync();
    set_in(&mut a.ward(), &x, "vs_hr", json!(90), Some("recount"));
    let z = a.ward().create_case("icrown-core", &[]).unwrap();
    // While the answer (X merged with the other device's change, Z taken) is on its way:
    // X (pushed and changed by the answer) gets another field and a concurrent value of a
    // field the answer also changes; Z (pushed) a field; W is a new case.
    let new_case = RefCell::new(String::new());
    let busy = BusyWard::new(
        &a,
        vec![Box::new(|s: &mut CaseStore| {
            set_in(s, &x, "vs_temp", json!(37.2), None);
            set_in(s, &x, "vs_spo2", json!(94), None);
            set_in(s, &z, "vs_hr", json!(120), None);
            *new_case.borrow_mut() = s.create_case("icrown-core", &[]).unwrap();
        })],
    );
    let first = busy.sync().unwrap();
    assert_eq!((first.pushed, first.exchanges), (2, 1));
    let w = new_case.borrow().clone();
    {
        // Nothing lost here: the answer merged under the edits.
        let mut s = a.ward();
        assert_eq!(value_in(&mut s, &x, "vs_hr"), json!(90));
        assert_eq!(value_in(&mut s, &x, "vs_rr"), json!(20));
        assert_eq!(value_in(&mut s, &x, "vs_temp"), json!(37.2));
        assert_eq!(value_in(&mut s, &z, "vs_hr"), json!(120));
        let spo2: Vec<Value> = s.conflicts(Some(&x)).unwrap()[0]
            .candidates
            .iter()
            .map(|c| c.value["value"].clone())
            .collect();
        assert!(
            spo2.contains(&json!(97)) && spo2.contains(&json!(94)),
            "{spo2:?}"
        );
        // The edits made during the sync wait for the next one.
        let mut outbox = s.sync_outbox().unwrap();
        outbox.sort();
        let mut expected = vec![x.clone(), z.clone(), w.clone()];
        expected.sort();
        assert_eq!(outbox, expected);
    }
    assert!(hub_values(&hub, &x).get("vs_temp").is_none());
    assert!(hub.borrow_mut().document(&w).unwrap().is_none());
    let next = a.sync();
    assert_eq!(next.pushed, 3);
    assert!(a.ward().sync_outbox().unwrap().is_empty());
    assert_eq!(hub_values(&hub, &x)["vs_temp"]["value"], json!(37.2));
    assert_eq!(hub_values(&hub, &z)["vs_hr"]["value"], json!(120));
    assert!(hub.borrow_mut().document(&w).unwrap().is_some());
    // The other device gets all of it, the conflict included.
    b.sync();
    assert_eq!(b.value(&x, "vs_temp")["value"], json!(37.2));
    assert_eq!(b.value(&x, "vs_hr")["value"], json!(90));
    assert_eq!(b.store.conflicts(Some(&x)).unwrap().len(), 1);
}

#[test]
fn a_store_locked_during_a_sync_applies_the_answer_then_refuses_everything_else() {
    let hub = new_hub();
    let a = shared_device(&hub, "A", "locking");
    let mut b = device(&hub, "A", "peer");
    let from_b = b.store.create_case("icrown-core", &[]).unwrap();
    b.set(&from_b, "vs_hr", json!(77), None);
    b.sync();
    for _ in 0..PUSH_BATCH + 5 {
        a.ward().create_case("icrown-core", &[]).unwrap();
    }
    // The tablet locks (a button, the inactivity lock) during the first exchange.
    let busy = BusyWard::new(&a, vec![Box::new(|s: &mut CaseStore| s.lock())]);
    let err = busy.sync().unwrap_err();
    assert!(
        matches!(err, SyncError::Store(StoreError::Locked)),
        "{err:?}"
    );
    // One exchange, applied in full although the store was locked: the first batch is on
    // the repository and known to be there, the other device's case arrived.
    assert_eq!(a.line.sizes.borrow().len(), 1);
    {
        let mut s = a.ward();
        assert!(!s.is_unlocked(), "the lease left no key behind");
        assert!(matches!(s.case(&from_b), Err(StoreError::Locked)));
        assert!(matches!(s.sync_lease(), Err(StoreError::Locked)));
        assert_eq!(s.sync_outbox().unwrap().len(), 5);
    }
    // A locked store does not start a sync: no exchange.
    let r = sync_cancellable(&a.store, &a.line, &mut |_| {}, &AtomicBool::new(false));
    assert!(
        matches!(r, Err(SyncError::Store(StoreError::Locked))),
        "{r:?}"
    );
    assert_eq!(a.line.sizes.borrow().len(), 1);
    a.ward().sign_in_for_tests("nurse").unwrap();
    assert_eq!(value_in(&mut a.ward(), &from_b, "vs_hr"), json!(77));
    let rest = a.sync();
    assert_eq!((rest.pushed, rest.exchanges), (5, 1));
    // Locked during the last exchange: the sync completes (roster and all) and the store is
    // still locked after it.
    let last = a.ward().create_case("icrown-core", &[]).unwrap();
    let busy = BusyWard::new(&a, vec![Box::new(|s: &mut CaseStore| s.lock())]);
    assert_eq!(busy.sync().unwrap().pushed, 1);
    assert!(!a.ward().is_unlocked());
    assert!(hub.borrow_mut().document(&last).unwrap().is_some());
    assert!(a.ward().sync_outbox().unwrap().is_empty());
}

#[test]
fn a_step_on_a_leased_key_that_panics_leaves_the_store_locked() {
    let hub = new_hub();
    let a = shared_device(&hub, "A", "panic");
    let lease = a.ward().sync_lease().unwrap();
    a.ward().lock();
    let mut s = a.ward();
    let seen = s.with_sync_lease(&lease, |s| s.is_unlocked());
    assert!(seen, "the step has the key");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.with_sync_lease(&lease, |_| panic!("a step failed"))
    }));
    assert!(r.is_err());
    assert!(!s.is_unlocked());
    assert!(s.sync_outbox().is_ok());
    assert!(matches!(
        s.create_case("icrown-core", &[]),
        Err(StoreError::Locked)
    ));
}
