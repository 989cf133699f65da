//! Ward devices of two sites and the real repository server, over HTTP: random offline edits
//! and random sync orders, a server restart in the middle, and at the end every device of a
//! site — and a device enrolled afresh, which can only know what the server holds — sees the
//! same values and the same conflicts, while no device ever sees another site's cases.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};
use wardcrf_core::sync::{self, HttpTransport, Method};
use wardcrf_core::{CaseStore, FieldPath, Passphrase};

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace's built `wardcrf-server` (beside this test's directory in target/).
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join("wardcrf-server");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` (tests/run does)",
        bin.display()
    );
    bin
}

fn start_server(data: &Path) -> Server {
    let mut child = Command::new(server_binary())
        .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("listening on ") {
            break rest.trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, url }
}

struct Device {
    name: String,
    site: String,
    store: CaseStore,
    token: String,
}

/// A deterministic generator (xorshift64*), seeded from the clock and printed on failure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

fn enroll(server: &Server, admin: &HttpTransport, dir: &Path, name: &str, site: &str) -> Device {
    let code = admin
        .call(
            Method::Post,
            "/api/admin/enroll-codes",
            Some(&json!({"site_id": site})),
        )
        .unwrap();
    let mut store =
        CaseStore::create(&dir.join(name), &Passphrase::insecure_for_tests(name, 10)).unwrap();
    let e = sync::enroll(
        &server.url,
        code["code"].as_str().unwrap(),
        &store.device_id(),
    )
    .unwrap();
    assert_eq!(e.site_id, site);
    store.set_sync_credential(&server.url, &e.token).unwrap();
    Device {
        name: name.into(),
        site: site.into(),
        store,
        token: e.token,
    }
}

fn sync_device(d: &mut Device, url: &str) {
    let line = HttpTransport::new(url, &d.token).unwrap();
    sync::sync(&mut d.store, &line, &mut |_| {}).unwrap_or_else(|e| panic!("{} sync: {e}", d.name));
}

/// Per case: its values and its open conflicts (paths and candidate values).
type Snapshot = BTreeMap<String, (Value, BTreeSet<String>)>;

/// Every case of a device with its values and its open conflicts.
fn snapshot(d: &mut Device) -> Snapshot {
    let ids: Vec<String> = d
        .store
        .list(&Default::default())
        .unwrap()
        .into_iter()
        .map(|c| c.case_id)
        .collect();
    ids.into_iter()
        .map(|id| {
            let view = d.store.case(&id).unwrap();
            let conflicts = view
                .conflicts
                .iter()
                .map(|c| {
                    let mut vals: Vec<String> =
                        c.candidates.iter().map(|x| x.value.to_string()).collect();
                    vals.sort();
                    format!("{:?}={}", c.path, vals.join("|"))
                })
                .collect();
            (id, (Value::Object(view.values), conflicts))
        })
        .collect()
}

const FIELDS: [(&str, i64, i64); 4] = [
    ("vs_hr", 50, 140),
    ("vs_rr", 10, 30),
    ("vs_sbp", 90, 180),
    ("age_years", 18, 95),
];

#[test]
fn devices_of_two_sites_converge_through_the_server_across_a_restart() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let dir = std::env::temp_dir().join(format!("wardcrf-system-{seed:x}"));
    let data = dir.join("repository");
    let mut server = start_server(&data);
    let admin_token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let mut admin = HttpTransport::new(&server.url, admin_token.trim()).unwrap();
    for (site, name) in [("jp-tokyo-01", "Tokyo"), ("de-berlin-01", "Berlin")] {
        admin
            .call(
                Method::Post,
                "/api/admin/sites",
                Some(&json!({"site_id": site, "name": name})),
            )
            .unwrap();
    }
    let mut devices = vec![
        enroll(&server, &admin, &dir, "tokyo-1", "jp-tokyo-01"),
        enroll(&server, &admin, &dir, "tokyo-2", "jp-tokyo-01"),
        enroll(&server, &admin, &dir, "berlin-1", "de-berlin-01"),
    ];
    let mut cases: BTreeMap<String, Vec<String>> = BTreeMap::new(); // site → case ids
    for step in 0..80 {
        if step == 40 {
            // The repository restarts (same data, new port): devices carry on with the new address.
            drop(server);
            server = start_server(&data);
            admin = HttpTransport::new(&server.url, admin_token.trim()).unwrap();
        }
        let i = rng.below(devices.len());
        let site = devices[i].site.clone();
        match rng.below(5) {
            0 => {
                let user = devices[i].name.clone();
                let id = devices[i]
                    .store
                    .create_case("icrown-core", &[], &user)
                    .unwrap();
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
                let user = devices[i].name.clone();
                devices[i]
                    .store
                    .set_value(
                        case,
                        &FieldPath::field(field),
                        json!(v),
                        &user,
                        Some("ward round"),
                    )
                    .unwrap();
            }
            _ => {
                let url = server.url.clone();
                sync_device(&mut devices[i], &url);
            }
        }
    }
    // A deliberate conflict at the first site: both devices change one field offline.
    let shared = devices[0]
        .store
        .create_case("icrown-core", &[], "tokyo-1")
        .unwrap();
    cases
        .entry("jp-tokyo-01".into())
        .or_default()
        .push(shared.clone());
    let url = server.url.clone();
    sync_device(&mut devices[0], &url);
    sync_device(&mut devices[1], &url);
    devices[0]
        .store
        .set_value(
            &shared,
            &FieldPath::field("vs_temp"),
            json!(38.1),
            "tokyo-1",
            None,
        )
        .unwrap();
    devices[1]
        .store
        .set_value(
            &shared,
            &FieldPath::field("vs_temp"),
            json!(39.4),
            "tokyo-2",
            None,
        )
        .unwrap();
    // Everyone syncs until quiet; then a fresh device per site learns only from the server.
    for _ in 0..2 {
        for d in devices.iter_mut() {
            sync_device(d, &url);
        }
    }
    devices.push(enroll(&server, &admin, &dir, "tokyo-fresh", "jp-tokyo-01"));
    devices.push(enroll(
        &server,
        &admin,
        &dir,
        "berlin-fresh",
        "de-berlin-01",
    ));
    for d in devices.iter_mut().skip(3) {
        sync_device(d, &url);
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
            "nurse",
            "chart says 39.4",
        )
        .unwrap();
    for _ in 0..2 {
        for d in devices.iter_mut() {
            sync_device(d, &url);
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
    sync_device(&mut devices[0], &url);
    assert_eq!(snapshot(&mut devices[0]), before);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_killed_mid_sync_and_a_batch_sent_twice_lose_and_duplicate_nothing() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let dir = std::env::temp_dir().join(format!("wardcrf-system-kill-{seed:x}"));
    let data = dir.join("repository");
    let mut server = start_server(&data);
    let admin_token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let mut admin = HttpTransport::new(&server.url, admin_token.trim()).unwrap();
    admin
        .call(
            Method::Post,
            "/api/admin/sites",
            Some(&json!({"site_id": "s1", "name": "S"})),
        )
        .unwrap();
    let mut writer = enroll(&server, &admin, &dir, "writer", "s1");
    let mut reader = enroll(&server, &admin, &dir, "reader", "s1");
    let mut ids = Vec::new();
    for i in 0..250 {
        let id = writer.store.create_case("icrown-core", &[], "w").unwrap();
        writer
            .store
            .set_value(
                &id,
                &FieldPath::field("vs_hr"),
                json!(50 + i % 80),
                "w",
                None,
            )
            .unwrap();
        ids.push(id);
    }
    // The server is killed (SIGKILL) in the middle of the writer's sync: right after the first
    // of its batches has been answered.
    let pid = server.child.id().to_string();
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
    server = start_server(&data);
    admin = HttpTransport::new(&server.url, admin_token.trim()).unwrap();
    let _ = &admin;
    let url = server.url.clone();
    sync_device(&mut writer, &url);
    assert!(writer.store.sync_outbox().unwrap().is_empty());
    // The same batch arrives twice (a retry after a lost answer): nothing is applied twice.
    let push = writer.store.sync_push(&ids[0]).unwrap();
    let line = HttpTransport::new(&url, &writer.token).unwrap();
    let request = sync::SyncRequest {
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
    sync_device(&mut reader, &url);
    let held: BTreeSet<String> = reader
        .store
        .list(&Default::default())
        .unwrap()
        .into_iter()
        .map(|c| c.case_id)
        .collect();
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
    let _ = std::fs::remove_dir_all(&dir);
}
