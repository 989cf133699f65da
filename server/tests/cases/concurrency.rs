//! Many devices of several sites syncing at once against a server over a pool of storage
//! connections, as the binary serves a shift change: every exchange is answered (none refused
//! because the database was busy) and every device ends with all of its site's cases.
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use serde_json::json;
use std::sync::{Arc, Barrier};

const SITES: usize = 4;
const DEVICES_PER_SITE: usize = 8;
const CASES_PER_DEVICE: usize = 3;
const ROUNDS: usize = 4;

#[test]
fn many_devices_syncing_at_once_are_all_answered() {
    let server = TestServer::start_pooled(&crate::backend(), "storm", 16);
    let sites: Vec<String> = (0..SITES).map(|s| format!("storm-{s}")).collect();
    for s in &sites {
        server.site(s);
    }
    let mut devices = Vec::new();
    for d in 0..SITES * DEVICES_PER_SITE {
        let site = &sites[d % SITES];
        let mut device = device(&server, site, &format!("storm-d{d}"));
        let cases: Vec<String> = (0..CASES_PER_DEVICE)
            .map(|i| {
                let case = device.store.create_case("icrown-core", &[]).unwrap();
                device.set(&case, "vs_hr", json!(60 + i), None);
                case
            })
            .collect();
        devices.push((device, cases));
    }
    let start = Arc::new(Barrier::new(devices.len()));
    let threads: Vec<_> = devices
        .into_iter()
        .map(|(mut device, cases)| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let mut failures = Vec::new();
                for round in 0..ROUNDS {
                    let case = &cases[round % cases.len()];
                    device.set(case, "vs_hr", json!(100 + round), Some("re-measured"));
                    if let Err(e) = device.sync() {
                        failures.push(format!("round {round}: {e}"));
                    }
                }
                (device, failures)
            })
        })
        .collect();
    let mut devices = Vec::new();
    let mut failures = Vec::new();
    for t in threads {
        let (device, f) = t.join().unwrap();
        failures.extend(f);
        devices.push(device);
    }
    assert!(
        failures.is_empty(),
        "{} of {} concurrent syncs failed: {failures:?}",
        failures.len(),
        SITES * DEVICES_PER_SITE * ROUNDS
    );
    // Every device then holds every case of its site, and none of another site.
    for device in &mut devices {
        device.sync().unwrap();
        device.sync().unwrap();
        let n = device
            .store
            .list(&wardcrf_core::CaseFilter::default())
            .unwrap()
            .len();
        assert_eq!(n, DEVICES_PER_SITE * CASES_PER_DEVICE, "{}", device.site);
    }
}
