//! Property test: whatever devices do offline and in whatever order they merge, once every
//! device has merged with every other, all hold the same values, the same open conflicts and
//! the same history, and no acknowledged value is lost from the history.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use wardcrf_core::{CaseStore, FieldPath, Passphrase};

#[derive(Debug, Clone)]
enum Op {
    Set {
        device: usize,
        field: usize,
        value: i64,
    },
    AddRow {
        device: usize,
        class: usize,
    },
    Resolve {
        device: usize,
    },
    Merge {
        into: usize,
        from: usize,
    },
}

const DEVICES: usize = 3;
const FIELDS: [(&str, i64); 3] = [("vs_hr", 60), ("vs_rr", 12), ("vs_sbp", 100)];
const CLASSES: [&str; 3] = ["8", "2", "10"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..DEVICES, 0..FIELDS.len(), 0i64..4).prop_map(|(device, field, value)| Op::Set { device, field, value }),
        1 => (0..DEVICES, 0..CLASSES.len()).prop_map(|(device, class)| Op::AddRow { device, class }),
        1 => (0..DEVICES).prop_map(|device| Op::Resolve { device }),
        2 => (0..DEVICES, 0..DEVICES).prop_map(|(into, from)| Op::Merge { into, from }),
    ]
}

struct Dirs(Vec<PathBuf>);

impl Drop for Dirs {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn merge(stores: &mut [CaseStore], into: usize, from: usize) {
    if into == from {
        return;
    }
    let exported = stores[from].export_cases().unwrap();
    stores[into].import_cases(&exported).unwrap();
}

/// Conflicts as comparable data: path and the sorted candidate values.
fn conflicts(s: &mut CaseStore) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = s
        .conflicts(None)
        .unwrap()
        .into_iter()
        .map(|c| {
            let mut vals: Vec<String> = c.candidates.iter().map(|x| x.value.to_string()).collect();
            vals.sort();
            (format!("{:?}", c.path), vals)
        })
        .collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn devices_converge_after_merging_in_any_order(ops in proptest::collection::vec(op(), 1..40)) {
        let tag: u64 = rand_tag();
        let dirs = Dirs((0..DEVICES).map(|i| std::env::temp_dir().join(format!("wardcrf-conv-{tag:x}-{i}"))).collect());
        let mut stores: Vec<CaseStore> = dirs.0.iter()
            .map(|d| { let mut s = CaseStore::create(d, &Passphrase::insecure_for_tests("p", 10)).unwrap(); s.sign_in_for_tests("nurse").unwrap(); s })
            .collect();
        let case = stores[0].create_case("icrown-core", &[]).unwrap();
        for i in 1..DEVICES {
            merge(&mut stores, i, 0);
        }
        let mut acknowledged: Vec<Value> = Vec::new();
        for op in &ops {
            match *op {
                Op::Set { device, field, value } => {
                    let (id, base) = FIELDS[field];
                    let v = base + value * 7;
                    let user = format!("user{device}");
                    stores[device].sign_in_for_tests(&user).unwrap();
                    let stored = stores[device].set_value(&case, &FieldPath::field(id), json!(v), Some("edit")).unwrap();
                    acknowledged.push(stored);
                }
                Op::AddRow { device, class } => {
                    let row = json!({"med_class": CLASSES[class]});
                    stores[device].add_row(&case, "medications", row.as_object().unwrap(), None).unwrap();
                }
                Op::Resolve { device } => {
                    if let Some(c) = stores[device].conflicts(Some(&case)).unwrap().into_iter().next() {
                        let chosen = c.candidates[0].value.clone();
                        stores[device].resolve(&case, &c.path, chosen, "checked chart").unwrap();
                    }
                }
                Op::Merge { into, from } => merge(&mut stores, into, from),
            }
        }
        // Everyone merges with everyone.
        for into in 0..DEVICES {
            for from in 0..DEVICES {
                merge(&mut stores, into, from);
            }
        }
        for into in 0..DEVICES {
            merge(&mut stores, into, 0);
        }
        let views: Vec<_> = stores.iter_mut().map(|s| s.case(&case).unwrap().values).collect();
        let conflict_sets: Vec<_> = stores.iter_mut().map(conflicts).collect();
        let histories: Vec<_> = stores.iter().map(|s| s.history(&case, None).unwrap()).collect();
        for i in 1..DEVICES {
            prop_assert_eq!(&views[i], &views[0]);
            prop_assert_eq!(&conflict_sets[i], &conflict_sets[0]);
            prop_assert_eq!(&histories[i], &histories[0]);
        }
        // Every acknowledged write is in the shared history.
        let written: Vec<&Value> = histories[0].iter().filter_map(|h| h.new.as_ref()).collect();
        for v in &acknowledged {
            prop_assert!(written.contains(&v), "{} missing from history", v);
        }
    }
}

fn rand_tag() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}
