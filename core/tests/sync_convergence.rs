//! Property test: convergence through the repository over random topologies and orders.
//!
//! A random number of devices spread over one or two sites edit cases offline, create cases,
//! merge directly with a device of their own site (a tablet handed over, a USB export), and
//! sync with the repository in any order — some exchanges lose their request or their answer
//! on the way. Once every device has synced until quiet, every device of a site holds the same
//! cases, values, open conflicts and history; the repository holds the same values and
//! conflicts; no device holds another site's case; and no acknowledged write is missing from
//! the history.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use proptest::prelude::*;
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use wardcrf_core::repository::{Hub, MemoryHubStorage, case_projection};
use wardcrf_core::sync::{SyncRequest, SyncResponse, Transport, TransportError, sync};
use wardcrf_core::{CaseStore, FieldPath, Passphrase};

type SharedHub = Rc<RefCell<Hub<MemoryHubStorage>>>;

/// What happens to the next exchange on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    None,
    /// The request never reaches the repository.
    Request,
    /// The repository applies the request; its answer is lost.
    Answer,
}

struct Line {
    hub: SharedHub,
    site: String,
    device: String,
    loss: Cell<Loss>,
}

impl Transport for Line {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        let loss = self.loss.replace(Loss::None);
        if loss == Loss::Request {
            return Err(TransportError::Unreachable("no connection".into()));
        }
        // Through JSON, as over the network.
        let request: SyncRequest =
            serde_json::from_slice(&serde_json::to_vec(request).unwrap()).unwrap();
        let response = self
            .hub
            .borrow_mut()
            .exchange(&self.site, &self.device, &request)
            .map_err(|e| TransportError::Refused(e.to_string()))?;
        if loss == Loss::Answer {
            return Err(TransportError::Unreachable("connection reset".into()));
        }
        Ok(serde_json::from_slice(&serde_json::to_vec(&response).unwrap()).unwrap())
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

#[derive(Debug, Clone)]
enum Op {
    /// A device creates a case (it gets one field at once).
    Create { device: usize, value: i64 },
    /// A device edits a field of one of the cases it holds (the `pick`-th, modulo).
    Set {
        device: usize,
        pick: usize,
        field: usize,
        value: i64,
    },
    /// A device resolves the first open conflict it holds.
    Resolve { device: usize, choice: usize },
    /// A device syncs with the repository; an exchange may lose its request or its answer.
    Sync { device: usize, loss: Loss },
    /// Two devices merge directly (only within a site: a device never holds another site's case).
    Merge { into: usize, from: usize },
}

const MAX_DEVICES: usize = 4;
const FIELDS: [(&str, i64); 3] = [("vs_hr", 60), ("vs_rr", 12), ("vs_sbp", 100)];

fn op() -> impl Strategy<Value = Op> {
    let loss = prop_oneof![
        4 => Just(Loss::None),
        1 => Just(Loss::Request),
        1 => Just(Loss::Answer),
    ];
    prop_oneof![
        1 => (0..MAX_DEVICES, 0i64..4).prop_map(|(device, value)| Op::Create { device, value }),
        4 => (0..MAX_DEVICES, 0..8usize, 0..FIELDS.len(), 0i64..4)
            .prop_map(|(device, pick, field, value)| Op::Set { device, pick, field, value }),
        1 => (0..MAX_DEVICES, 0..2usize).prop_map(|(device, choice)| Op::Resolve { device, choice }),
        3 => (0..MAX_DEVICES, loss).prop_map(|(device, loss)| Op::Sync { device, loss }),
        1 => (0..MAX_DEVICES, 0..MAX_DEVICES).prop_map(|(into, from)| Op::Merge { into, from }),
    ]
}

/// Devices (2 to 4) and the site of each (one or two sites; site 0 always has a device).
fn topology() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..2usize, 2..=MAX_DEVICES).prop_map(|mut sites| {
        sites[0] = 0;
        sites
    })
}

fn tag() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

fn device(hub: &SharedHub, site: usize, i: usize, tag: u64) -> Device {
    let dir = std::env::temp_dir().join(format!("wardcrf-syncconv-{tag:x}-{i}"));
    let store = {
        let mut s = CaseStore::create(&dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    };
    // Enrolled at its site: the repository takes changes only by devices of the pushing site.
    hub.borrow_mut()
        .storage
        .enroll(&store.device_id(), &format!("site-{site}"));
    for user in [
        "nurse", "user0", "user1", "user2", "user3", "user4", "user5",
    ] {
        hub.borrow_mut()
            .storage
            .add_staff(&format!("site-{site}"), user);
    }
    let line = Line {
        hub: hub.clone(),
        site: format!("site-{site}"),
        device: store.device_id(),
        loss: Cell::new(Loss::None),
    };
    Device { store, line, dir }
}

fn case_ids(store: &CaseStore) -> Vec<String> {
    store
        .list(&Default::default())
        .unwrap()
        .into_iter()
        .map(|c| c.case_id)
        .collect()
}

/// Open conflicts as comparable data: path and sorted candidate values.
fn conflicts_of(
    conflicts: impl Iterator<Item = (String, Vec<String>)>,
) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = conflicts
        .map(|(path, mut values)| {
            values.sort();
            (path, values)
        })
        .collect();
    out.sort();
    out
}

/// Per case: values, open conflicts and history (what every device of a site must agree on).
type Snapshot = BTreeMap<String, (Value, Vec<(String, Vec<String>)>, Value)>;

fn snapshot(store: &mut CaseStore) -> Snapshot {
    case_ids(store)
        .into_iter()
        .map(|id| {
            let view = store.case(&id).unwrap();
            let conflicts = conflicts_of(view.conflicts.iter().map(|c| {
                (
                    format!("{:?}", c.path),
                    c.candidates.iter().map(|x| x.value.to_string()).collect(),
                )
            }));
            let history = serde_json::to_value(store.history(&id, None).unwrap()).unwrap();
            (id, (Value::Object(view.values), conflicts, history))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn devices_converge_through_the_repository_whatever_the_topology_and_order(
        sites in topology(),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let tag = tag();
        let hub: SharedHub = Rc::new(RefCell::new(Hub::new(MemoryHubStorage::default())));
        let mut devices: Vec<Device> = sites
            .iter()
            .enumerate()
            .map(|(i, &site)| device(&hub, site, i, tag))
            .collect();
        let n = devices.len();
        let mut acknowledged: Vec<Value> = Vec::new();
        let mut created: BTreeMap<String, usize> = BTreeMap::new(); // case → site
        for op in &ops {
            match *op {
                Op::Create { device, value } => {
                    let d = &mut devices[device % n];
                    let id = d.store.create_case("icrown-core", &[]).unwrap();
                    let stored = d
                        .store
                        .set_value(&id, &FieldPath::field("vs_temp"), json!(36 + value), None)
                        .unwrap();
                    acknowledged.push(stored);
                    created.insert(id, sites[device % n]);
                }
                Op::Set { device, pick, field, value } => {
                    let d = &mut devices[device % n];
                    let ids = case_ids(&d.store);
                    if ids.is_empty() {
                        continue;
                    }
                    let (id, base) = FIELDS[field];
                    let user = format!("user{}", device % n);
                    d.store.sign_in_for_tests(&user).unwrap();
                    let stored = d
                        .store
                        .set_value(&ids[pick % ids.len()], &FieldPath::field(id), json!(base + value * 7), Some("ward round"))
                        .unwrap();
                    acknowledged.push(stored);
                }
                Op::Resolve { device, choice } => {
                    let d = &mut devices[device % n];
                    if let Some(c) = d.store.conflicts(None).unwrap().into_iter().next() {
                        let chosen = c.candidates[choice % c.candidates.len()].value.clone();
                        let case = c.case_id.clone();
                        d.store.resolve(&case, &c.path, chosen, "checked the chart").unwrap();
                    }
                }
                Op::Sync { device, loss } => {
                    let d = &mut devices[device % n];
                    d.line.loss.set(loss);
                    let result = sync(&mut d.store, &d.line, &mut |_| {});
                    d.line.loss.set(Loss::None);
                    match (loss, result) {
                        (Loss::None, r) => { r.unwrap(); }
                        (_, Err(wardcrf_core::sync::SyncError::Transport(TransportError::Unreachable(_)))) => {}
                        (_, other) => prop_assert!(false, "a lost exchange must fail as unreachable: {other:?}"),
                    }
                }
                Op::Merge { into, from } => {
                    let (into, from) = (into % n, from % n);
                    if into == from || sites[into] != sites[from] {
                        continue;
                    }
                    let exported = devices[from].store.export_cases().unwrap();
                    devices[into].store.import_cases(&exported).unwrap();
                }
            }
        }
        // Everyone syncs until quiet: two rounds carry every change to every device.
        for _ in 0..2 {
            for d in devices.iter_mut() {
                sync(&mut d.store, &d.line, &mut |_| {}).unwrap();
            }
        }
        let snaps: Vec<Snapshot> = devices.iter_mut().map(|d| snapshot(&mut d.store)).collect();
        for (i, snap) in snaps.iter().enumerate() {
            // Each device holds exactly its site's cases.
            let own: Vec<&String> = created.iter().filter(|(_, s)| **s == sites[i]).map(|(id, _)| id).collect();
            prop_assert_eq!(snap.keys().collect::<Vec<_>>(), own, "device {} holds its site's cases", i);
            // Every device of a site agrees with the first device of that site.
            let first = sites.iter().position(|s| *s == sites[i]).unwrap();
            prop_assert_eq!(snap, &snaps[first], "device {} differs from device {}", i, first);
            // The repository holds the same values and conflicts.
            for (id, (values, conflicts, _)) in snap {
                let doc = hub.borrow_mut().document(id).unwrap().unwrap();
                let p = case_projection(&doc).unwrap();
                prop_assert_eq!(&Value::Object(p.values), values, "repository values of {}", id);
                let hub_conflicts = conflicts_of(p.conflicts.iter().map(|c| {
                    (
                        format!("{:?}", c.path),
                        c.candidates.iter().map(|x| x.value.to_string()).collect(),
                    )
                }));
                prop_assert_eq!(&hub_conflicts, conflicts, "repository conflicts of {}", id);
            }
        }
        // No acknowledged write is missing from the history of its site's devices.
        let written: Vec<Value> = snaps
            .iter()
            .flat_map(|s| s.values())
            .flat_map(|(_, _, h)| h.as_array().cloned().unwrap_or_default())
            .filter_map(|e| e.get("new").cloned())
            .collect();
        for v in &acknowledged {
            prop_assert!(written.contains(v), "{} missing from every history", v);
        }
    }
}
