//! Ward devices of two sites and the real repository server, over HTTP: random offline edits
//! and random sync orders, a server restart in the middle, and at the end every device of a
//! site — and a device enrolled afresh, which can only know what the server holds — sees the
//! same values and the same conflicts, while no device ever sees another site's cases.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

mod common;

use common::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use wardcrf_core::FieldPath;
use wardcrf_core::sync::{self, HttpTransport};

const FIELDS: [(&str, i64, i64); 4] = [
    ("vs_hr", 50, 140),
    ("vs_rr", 10, 30),
    ("vs_sbp", 90, 180),
    ("age_years", 18, 95),
];

on_both_backends!(
    devices_of_two_sites_converge_through_the_server_across_a_restart,
    super::converge_across_a_restart
);

fn converge_across_a_restart(backend: Backend) {
    let seed = clock_seed();
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let repo = Repository::new(&backend, "converge");
    let dir = repo.dir.clone();
    let mut server = repo.start();
    let mut admin = repo.admin(&server);
    for site in ["jp-tokyo-01", "de-berlin-01"] {
        add_site(&admin, site);
    }
    let mut devices = vec![
        enroll(&server.url, &admin, &dir, "tokyo-1", "jp-tokyo-01"),
        enroll(&server.url, &admin, &dir, "tokyo-2", "jp-tokyo-01"),
        enroll(&server.url, &admin, &dir, "berlin-1", "de-berlin-01"),
    ];
    let mut cases: BTreeMap<String, Vec<String>> = BTreeMap::new(); // site → case ids
    for step in 0..80 {
        if step == 40 {
            // The repository restarts (same data, new port): devices carry on with the new address.
            drop(server);
            server = repo.start();
            admin = repo.admin(&server);
        }
        let i = rng.below(devices.len());
        let site = devices[i].site.clone();
        match rng.below(5) {
            0 => {
                let id = devices[i].store.create_case("icrown-core", &[]).unwrap();
                cases.entry(site).or_default().push(id);
            }
            1 | 2 => {
                let known: Vec<String> = devices[i]
                    .store
                    .list(&Default::default())
                    .unwrap()
                    .into_iter()
                    .map(|c| c.case_id)
                    .collect();
                if known.is_empty() {
                    continue;
                }
                let case = &known[rng.below(known.len())];
                let (field, lo, hi) = FIELDS[rng.below(FIELDS.len())];
                let v = lo + rng.below((hi - lo) as usize) as i64;
                devices[i]
                    .store
                    .set_value(case, &FieldPath::field(field), json!(v), Some("ward round"))
                    .unwrap();
            }
            _ => {
                let url = server.url.clone();
                devices[i].sync(&url);
            }
        }
    }
    // A deliberate conflict at the first site: both devices change one field offline.
    let shared = devices[0].store.create_case("icrown-core", &[]).unwrap();
    cases
        .entry("jp-tokyo-01".into())
        .or_default()
        .push(shared.clone());
    let url = server.url.clone();
    devices[0].sync(&url);
    devices[1].sync(&url);
    devices[0]
        .store
        .set_value(&shared, &FieldPath::field("vs_temp"), json!(38.1), None)
        .unwrap();
    devices[1]
        .store
        .set_value(&shared, &FieldPath::field("vs_temp"), json!(39.4), None)
        .unwrap();
    // Everyone syncs until quiet; then a fresh device per site learns only from the server.
    for _ in 0..2 {
        for d in devices.iter_mut() {
            d.sync(&url);
        }
    }
    devices.push(enroll(&url, &admin, &dir, "tokyo-fresh", "jp-tokyo-01"));
    devices.push(enroll(&url, &admin, &dir, "berlin-fresh", "de-berlin-01"));
    for d in devices.iter_mut().skip(3) {
        d.sync(&url);
    }
    let snaps: Vec<(String, Snapshot)> = devices
        .iter_mut()
        .map(|d| (d.site.clone(), snapshot(d)))
        .collect();
    for (site, ids) in &cases {
        let same_site: Vec<&BTreeMap<_, _>> = snaps
            .iter()
            .filter(|(s, _)| s == site)
            .map(|(_, m)| m)
            .collect();
        assert!(same_site.len() >= 2);
        for m in &same_site {
            assert_eq!(*m, same_site[0], "devices of {site} differ (seed {seed})");
            let held: BTreeSet<&String> = m.keys().collect();
            assert_eq!(
                held,
                ids.iter().collect(),
                "{site} holds exactly its own cases (seed {seed})"
            );
        }
    }
    // The deliberate conflict is on every device of the site, with both candidates.
    for (site, m) in &snaps {
        if site == "jp-tokyo-01" {
            let (_, conflicts) = &m[&shared];
            assert!(
                conflicts
                    .iter()
                    .any(|c| c.contains("vs_temp") && c.contains("38.1") && c.contains("39.4")),
                "{conflicts:?}"
            );
        } else {
            assert!(
                !m.contains_key(&shared),
                "another site's case leaked (seed {seed})"
            );
        }
    }
    // A nurse resolves on one device; after syncing, the conflict is gone everywhere.
    devices[1]
        .store
        .resolve(
            &shared,
            &FieldPath::field("vs_temp"),
            json!(39.4),
            "chart says 39.4",
        )
        .unwrap();
    for _ in 0..2 {
        for d in devices.iter_mut() {
            d.sync(&url);
        }
    }
    let tokyo: Vec<Snapshot> = devices
        .iter_mut()
        .filter(|d| d.site == "jp-tokyo-01")
        .map(snapshot)
        .collect();
    for m in &tokyo {
        assert!(
            m[&shared].1.is_empty(),
            "conflict cleared on every device (seed {seed})"
        );
        assert_eq!(m[&shared].0["vs_temp"]["value"], json!(39.4));
        assert_eq!(m, &tokyo[0]);
    }
    let h0 = devices[0].store.history(&shared, None).unwrap();
    assert_eq!(
        h0,
        devices[3].store.history(&shared, None).unwrap(),
        "the fresh device holds the full history"
    );
    assert_eq!(h0.last().unwrap().op, "resolve");
    // A sync with nothing new changes nothing.
    let before = snapshot(&mut devices[0]);
    devices[0].sync(&url);
    assert_eq!(snapshot(&mut devices[0]), before);
    drop(server);
}

on_both_backends!(
    a_server_killed_mid_sync_and_a_batch_sent_twice_lose_and_duplicate_nothing,
    super::killed_mid_sync_and_sent_twice
);

fn killed_mid_sync_and_sent_twice(backend: Backend) {
    let repo = Repository::new(&backend, "kill");
    let dir = repo.dir.clone();
    let mut server = repo.start();
    let admin = repo.admin(&server);
    add_site(&admin, "s1");
    let mut writer = enroll(&server.url, &admin, &dir, "writer", "s1");
    let mut reader = enroll(&server.url, &admin, &dir, "reader", "s1");
    let mut ids = Vec::new();
    for i in 0..250 {
        let id = writer.store.create_case("icrown-core", &[]).unwrap();
        writer
            .store
            .set_value(&id, &FieldPath::field("vs_hr"), json!(50 + i % 80), None)
            .unwrap();
        ids.push(id);
    }
    // The server is killed (SIGKILL) in the middle of the writer's sync: right after the first
    // of its batches has been answered.
    let pid = server.child.0.id().to_string();
    let line = HttpTransport::new(&server.url, &writer.token).unwrap();
    let mut killed = false;
    let first = sync::sync(&mut writer.store, &line, &mut |_| {
        if !killed {
            killed = Command::new("kill")
                .args(["-9", &pid])
                .status()
                .is_ok_and(|s| s.success());
        }
    });
    assert!(killed, "the server was killed mid-sync");
    assert!(
        matches!(
            first,
            Err(sync::SyncError::Transport(
                sync::TransportError::Unreachable(_)
            ))
        ),
        "{first:?}"
    );
    assert!(
        !writer.store.sync_outbox().unwrap().is_empty(),
        "the rest waits for the next sync"
    );
    drop(server);
    server = repo.start();
    let url = server.url.clone();
    writer.sync(&url);
    assert!(writer.store.sync_outbox().unwrap().is_empty());
    // The same batch arrives twice (a retry after a lost answer): nothing is applied twice.
    let push = writer.store.sync_push(&ids[0]).unwrap();
    let line = HttpTransport::new(&url, &writer.token).unwrap();
    let request = sync::SyncRequest {
        epoch: None,
        protocol: sync::PROTOCOL,
        cursor: 0,
        push: vec![push],
    };
    use wardcrf_core::sync::Transport;
    let a = line.exchange(&request).unwrap();
    let b = line.exchange(&request).unwrap();
    assert_eq!(
        a.cases
            .iter()
            .find(|c| c.case_id == ids[0])
            .map(|c| &c.heads),
        b.cases
            .iter()
            .find(|c| c.case_id == ids[0])
            .map(|c| &c.heads)
    );
    reader.sync(&url);
    let held: BTreeSet<String> = reader.case_ids();
    assert_eq!(
        held,
        ids.iter().cloned().collect(),
        "every case reached the other device"
    );
    for id in ids.iter().step_by(25) {
        assert_eq!(
            reader.store.history(id, None).unwrap(),
            writer.store.history(id, None).unwrap(),
            "no duplicate, no loss"
        );
    }
    drop(server);
}
