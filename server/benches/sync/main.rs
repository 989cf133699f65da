//! Sync benchmarks: the real `wardcrf-server` binary on loopback, the real device client.
//!
//! Run: `cargo bench -p wardcrf-server --bench sync` (or `server/benches/run-sync-bench`, which
//! also runs it on PostgreSQL and compares with PouchDB). `WARDCRF_BENCH_QUICK=1` for a smoke
//! run (200 / 1,000 cases, 10 devices); `WARDCRF_BENCH_DATABASE_URL=postgres://...` to run a
//! second time on PostgreSQL (an existing, preferably empty, database);
//! `WARDCRF_BENCH_SIZES=10000 WARDCRF_BENCH_DEVICES=0` to run one store size and no
//! concurrent devices (for profiling).
//!
//! What is measured, per backend:
//! - initial sync device → server of 1,000 and 10,000 icrown-core cases of 87 fields each
//!   (57 case-level values, a pathogen test, a medication and a laboratory row), each case
//!   entered field by field as the store does (one automerge change per field, with its note);
//! - incremental sync after 1 case and after 10 % of the cases got one field edited
//!   (`set_value` of `vs_hr` with a reason, as a nurse correcting a value);
//! - a no-op sync with every case already on the server;
//! - a new tablet enrolled at the site (a replaced device) pulling every case of it;
//! - 100 devices (threads of a devices process apart from the server and this one: `storm.rs`),
//!   each its own store, at 4 sites syncing repeatedly against one server: each round a device
//!   edits one of its cases and syncs; syncs per second, latency, attempts and failures (a
//!   failed sync is retried with back-off, a bounded number of times, as the apps do);
//! - heavy exchanges: a device pushes 2,000 cases (800 quick) in the largest requests the
//!   repository takes (`MAX_PUSH_CASES` each, back to back) while a device of another site
//!   edits a case and syncs again and again; that device's sync latency meanwhile (the
//!   repository merges before it takes its write lock).
//!   `WARDCRF_BENCH_HEAVY_ONLY=1` runs only this scenario.
//!
//! Bytes are counted by a small TCP proxy between device and server (both directions, HTTP
//! headers included), the same method the PouchDB comparison uses. Device stores are built
//! outside the timed region: the case documents are generated with automerge exactly as the
//! store writes them (checked against the store's own `set_value`/`add_row` on three cases) and
//! imported with `import_cases`. Stores use a raw key (no passphrase KDF).
//!
//! Writes `target/bench/sync-wardcrf.json` (figures) and `target/bench/sync-dataset.json` (the
//! generated case values and edits, read by the PouchDB benchmark). Nothing is asserted about
//! the figures: a slow machine prints its numbers.

#[path = "../common/mod.rs"]
mod common;
mod dataset;
mod proxy;
mod storm;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};
use common::{Server, TempDir, run_tag};
use dataset::*;
use proxy::Proxy;
use serde_json::{Map, Value as Json, json};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wardcrf_core::repository::{Hub, MemoryHubStorage, case_projection};
use wardcrf_core::sync::{
    HttpTransport, MAX_PUSH_CASES, PROTOCOL, PUSH_BATCH, SyncRequest, SyncResponse, SyncSummary,
    Transport, TransportError, sync,
};
use wardcrf_core::{CaseExport, CaseStore, ChangeNote, FieldPath, RawKeyProvider, SecretKey};

const USER: &str = "nurse.bench";
const FORM: &str = "icrown-core";
/// The field every incremental edit changes (a corrected heart rate).
const EDIT_FIELD: &str = "vs_hr";
/// The run where a new tablet enrolled at the site pulls every case of it.
const NEW_TABLET: &str = "new_tablet_pull";
/// Base time of the generated changes (2024-03-01T00:00:00Z).
const T0: i64 = 1_709_251_200;

// ---------------------------------------------------------------------------------------------
// Configuration

#[derive(Debug, Clone)]
struct Config {
    quick: bool,
    /// Device store sizes for the initial / incremental / no-op runs.
    sizes: Vec<usize>,
    devices: usize,
    sites: usize,
    cases_per_device: usize,
    rounds: usize,
}

impl Config {
    fn from_env() -> Config {
        let quick = std::env::var("WARDCRF_BENCH_QUICK").is_ok_and(|v| v == "1");
        let mut config = Config::preset(quick);
        // For profiling one scenario: WARDCRF_BENCH_SIZES=10000 WARDCRF_BENCH_DEVICES=0.
        if let Ok(sizes) = std::env::var("WARDCRF_BENCH_SIZES") {
            config.sizes = sizes
                .split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("WARDCRF_BENCH_SIZES: numbers, comma-separated")
                })
                .collect();
        }
        if let Ok(devices) = std::env::var("WARDCRF_BENCH_DEVICES") {
            config.devices = devices
                .trim()
                .parse()
                .expect("WARDCRF_BENCH_DEVICES: a number");
        }
        config
    }

    fn preset(quick: bool) -> Config {
        if quick {
            Config {
                quick,
                sizes: vec![200, 1000],
                devices: 10,
                sites: 2,
                cases_per_device: 5,
                rounds: 5,
            }
        } else {
            Config {
                quick,
                sizes: vec![1000, 10_000],
                devices: 100,
                sites: 4,
                cases_per_device: 10,
                rounds: 10,
            }
        }
    }
}

fn out_dir() -> PathBuf {
    std::env::var_os("WARDCRF_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench"))
}

// ---------------------------------------------------------------------------------------------
// Measurements

#[derive(Debug, Clone)]
struct Run {
    name: String,
    cases: usize,
    changed: usize,
    seconds: f64,
    bytes_up: u64,
    bytes_down: u64,
    exchanges: usize,
    pushed: usize,
    /// Time inside `Transport::exchange` (request encoding, HTTP, the server, response
    /// decoding); the rest is the device's own work (reading and applying cases).
    exchange_seconds: f64,
    /// CPU time (user + system) of the server process during the sync.
    server_cpu_seconds: f64,
    /// CPU time of this process (the device and the byte-counting proxy) during the sync.
    device_cpu_seconds: f64,
}

impl Run {
    fn to_json(&self) -> Json {
        json!({
            "name": self.name, "cases": self.cases, "changed": self.changed,
            "seconds": self.seconds,
            "cases_per_s": self.changed as f64 / self.seconds.max(1e-9),
            "bytes_up": self.bytes_up, "bytes_down": self.bytes_down,
            "bytes_total": self.bytes_up + self.bytes_down,
            "bytes_per_changed_case": (self.bytes_up + self.bytes_down) as f64 / self.changed.max(1) as f64,
            "exchanges": self.exchanges, "pushed": self.pushed,
            "exchange_seconds": self.exchange_seconds,
            "device_seconds": self.seconds - self.exchange_seconds,
            "server_cpu_seconds": self.server_cpu_seconds,
            "device_cpu_seconds": self.device_cpu_seconds,
        })
    }
}

/// A transport that adds up the time spent in exchanges.
struct Timed<'a> {
    inner: &'a HttpTransport,
    spent: std::cell::Cell<Duration>,
}

impl Transport for Timed<'_> {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        let t = Instant::now();
        let result = self.inner.exchange(request);
        self.spent.set(self.spent.get() + t.elapsed());
        result
    }
}

/// CPU time (user + system, seconds) a process has used so far, from `/proc/PID/stat`
/// (Linux; its clock ticks are USER_HZ, 100 per second). `None` elsewhere.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// One timed sync of `store` through the proxy.
fn timed_sync(
    name: &str,
    store: &mut CaseStore,
    transport: &HttpTransport,
    server: &Server,
    proxy: &Proxy,
    cases: usize,
    changed: usize,
) -> Run {
    let server_pid = server.child.id().to_string();
    let cpu = || {
        (
            cpu_seconds(&server_pid).unwrap_or(0.0),
            cpu_seconds("self").unwrap_or(0.0),
        )
    };
    let (s0, c0) = cpu();
    let (u0, d0) = proxy.counts();
    let timed = Timed {
        inner: transport,
        spent: std::cell::Cell::new(Duration::ZERO),
    };
    let t = Instant::now();
    let summary: SyncSummary = sync(store, &timed, &mut |_| {}).expect("sync");
    let seconds = t.elapsed().as_secs_f64();
    let (u1, d1) = proxy.counts();
    let (s1, c1) = cpu();
    if name == NEW_TABLET {
        assert_eq!(
            summary.pulled, changed,
            "{name}: pulled every case of the site"
        );
    } else {
        assert_eq!(summary.pushed, changed, "{name}: pushed what changed");
    }
    Run {
        name: name.to_string(),
        cases,
        changed,
        seconds,
        bytes_up: u1 - u0,
        bytes_down: d1 - d0,
        exchanges: summary.exchanges,
        pushed: summary.pushed,
        exchange_seconds: timed.spent.get().as_secs_f64(),
        server_cpu_seconds: s1 - s0,
        device_cpu_seconds: c1 - c0,
    }
}

/// Edits `field` of the given cases (outside any timed region).
fn edit(store: &mut CaseStore, cases: &[&CaseData], round: i64) {
    for c in cases {
        store
            .set_value(
                &c.case_id,
                &FieldPath::field(EDIT_FIELD),
                edited_value(c, round),
                Some("re-measured"),
            )
            .expect("edit a case");
    }
}

/// Initial, incremental (1 case, 10 %) and no-op syncs of a store of `cases.len()` cases.
fn store_runs(
    server: &Server,
    proxy: &Proxy,
    template: &DocTemplate,
    scratch: &Path,
    site: &str,
    cases: &[CaseData],
) -> Vec<Run> {
    let n = cases.len();
    let t = Instant::now();
    let mut store = new_store(&scratch.join(format!("device-{n}")));
    fill(&mut store, template, cases);
    println!(
        "  built a device store of {n} cases in {:.1} s (not timed)",
        t.elapsed().as_secs_f64()
    );
    server.add_site(site);
    let token = server.enrol(&mut store, site);
    let transport = HttpTransport::new(&proxy.url(), &token).expect("device transport");
    let mut runs = Vec::new();
    runs.push(timed_sync(
        "initial", &mut store, &transport, server, proxy, n, n,
    ));
    assert_eq!(
        server.site_cases(site),
        n as u64,
        "the server holds every case"
    );
    edit(&mut store, &[&cases[0]], 1);
    runs.push(timed_sync(
        "incremental_1",
        &mut store,
        &transport,
        server,
        proxy,
        n,
        1,
    ));
    let tenth: Vec<&CaseData> = cases.iter().step_by(10).collect();
    edit(&mut store, &tenth, 2);
    runs.push(timed_sync(
        "incremental_10pct",
        &mut store,
        &transport,
        server,
        proxy,
        n,
        tenth.len(),
    ));
    runs.push(timed_sync(
        "noop", &mut store, &transport, server, proxy, n, 0,
    ));
    // A new tablet enrolled at the site (a device replaced) pulls every case of it.
    let mut fresh = new_store(&scratch.join(format!("new-tablet-{n}")));
    let fresh_token = server.enrol(&mut fresh, site);
    let fresh_transport = HttpTransport::new(&proxy.url(), &fresh_token).expect("device transport");
    runs.push(timed_sync(
        NEW_TABLET,
        &mut fresh,
        &fresh_transport,
        server,
        proxy,
        n,
        n,
    ));
    for r in &runs {
        print_run(r);
    }
    runs
}

fn print_run(r: &Run) {
    println!(
        "  {:<18} {:>6} cases {:>6} changed {:>9.3} s {:>9.0} cases/s {:>12} B up {:>12} B down {:>9.0} B/changed case {:>4} exchanges ({:.3} s in them); CPU: server {:.2} s, device {:.2} s",
        r.name,
        r.cases,
        r.changed,
        r.seconds,
        r.changed as f64 / r.seconds.max(1e-9),
        r.bytes_up,
        r.bytes_down,
        (r.bytes_up + r.bytes_down) as f64 / r.changed.max(1) as f64,
        r.exchanges,
        r.exchange_seconds,
        r.server_cpu_seconds,
        r.device_cpu_seconds
    );
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One site's device pushes a large store in the largest requests the repository takes
/// ([`MAX_PUSH_CASES`] new cases each, back to back) while a device of another site edits a
/// case and syncs, again and again until the heavy exchanges are answered.
fn heavy_exchange(
    server: &Server,
    template: &DocTemplate,
    scratch: &Path,
    tag: &str,
    config: &Config,
) -> Json {
    let n = MAX_PUSH_CASES * if config.quick { 2 } else { 5 };
    let (heavy_site, light_site) = (format!("bench-{tag}-heavy"), format!("bench-{tag}-light"));
    server.add_site(&heavy_site);
    server.add_site(&light_site);
    let mut heavy = new_store(&scratch.join("heavy"));
    let cases = generate_set(2000, n);
    fill(&mut heavy, template, &cases);
    let heavy_token = server.enrol(&mut heavy, &heavy_site);
    let push = heavy
        .sync_outbox()
        .expect("outbox")
        .iter()
        .map(|id| heavy.sync_push(id))
        .collect::<Result<Vec<_>, _>>()
        .expect("push");
    let requests: Vec<SyncRequest> = push
        .chunks(MAX_PUSH_CASES)
        .map(|part| SyncRequest {
            epoch: None,
            protocol: PROTOCOL,
            cursor: 0,
            push: part.to_vec(),
        })
        .collect();
    let mut light = new_store(&scratch.join("light"));
    let light_cases = generate_set(2001, 5);
    fill(&mut light, template, &light_cases);
    let light_token = server.enrol(&mut light, &light_site);
    let url = server.url();
    let transport = HttpTransport::new(&url, &light_token).expect("device transport");
    sync(&mut light, &transport, &mut |_| {}).expect("first sync");
    let mut round = 0;
    let mut sync_once = |light: &mut CaseStore| {
        edit(
            light,
            &[&light_cases[round % light_cases.len()]],
            100 + round as i64,
        );
        round += 1;
        let t = Instant::now();
        sync(light, &transport, &mut |_| {}).expect("sync");
        t.elapsed()
    };
    let mut idle: Vec<Duration> = (0..10).map(|_| sync_once(&mut light)).collect();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heavy_thread = {
        let (url, done) = (url.clone(), done.clone());
        std::thread::spawn(move || {
            let transport = HttpTransport::new(&url, &heavy_token).expect("heavy transport");
            let t = Instant::now();
            let mut answered = Ok(0);
            for request in &requests {
                match transport.exchange(request) {
                    Ok(a) => answered = answered.map(|n| n + a.cases.len()),
                    Err(e) => {
                        answered = Err(e);
                        break;
                    }
                }
            }
            done.store(true, Ordering::Release);
            (t.elapsed(), answered)
        })
    };
    let mut during = Vec::new();
    while !done.load(Ordering::Acquire) {
        during.push(sync_once(&mut light));
    }
    let (heavy_time, answer) = heavy_thread.join().expect("the heavy exchange");
    let stored = answer.expect("the heavy exchange is answered");
    idle.sort();
    during.sort();
    let max = |v: &[Duration]| v.last().copied().unwrap_or_default();
    println!(
        "  {} exchanges of {MAX_PUSH_CASES} cases ({stored} answered) took {:.2} s; meanwhile a device of another site synced {} times: p50 {:.1} ms, max {:.1} ms (idle: p50 {:.1} ms, max {:.1} ms)",
        n / MAX_PUSH_CASES,
        heavy_time.as_secs_f64(),
        during.len(),
        ms(percentile(&during, 0.5)),
        ms(max(&during)),
        ms(percentile(&idle, 0.5)),
        ms(max(&idle)),
    );
    json!({
        "cases": n, "heavy_seconds": heavy_time.as_secs_f64(), "other_site_syncs": during.len(),
        "other_site_p50_ms": ms(percentile(&during, 0.5)), "other_site_max_ms": ms(max(&during)),
        "idle_p50_ms": ms(percentile(&idle, 0.5)), "idle_max_ms": ms(max(&idle)),
    })
}

fn backend(
    name: &str,
    database_url: Option<&str>,
    template: &DocTemplate,
    sets: &[Vec<CaseData>],
    config: &Config,
) -> Json {
    println!("\n== {name}");
    let scratch = TempDir::new(name);
    let server = Server::start(database_url);
    let tag = run_tag();
    println!("- one heavy exchange while another site syncs");
    let heavy = heavy_exchange(&server, template, &scratch.0, &tag, config);
    if std::env::var("WARDCRF_BENCH_HEAVY_ONLY").is_ok_and(|v| v == "1") {
        return json!({"heavy_exchange": heavy});
    }
    let proxy = Proxy::start(server.addr);
    let mut runs = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        println!("- device store of {} cases", set.len());
        runs.extend(store_runs(
            &server,
            &proxy,
            template,
            &scratch.0,
            &format!("bench-{tag}-s{i}"),
            set,
        ));
    }
    println!(
        "- {} concurrent devices at {} sites",
        config.devices, config.sites
    );
    let conc = storm::concurrent(&server, template, &scratch.0, &tag, config);
    json!({
        "runs": runs.iter().map(Run::to_json).collect::<Vec<_>>(),
        "concurrent": conc,
        "heavy_exchange": heavy,
    })
}

/// Where an initial sync's time goes, per case, measured step by step in this process on the
/// first data set: the device reading what to push, JSON, the repository's merge (in memory,
/// no database), the projection (read + validate), the device applying the answers.
fn breakdown(template: &DocTemplate, scratch: &Path, cases: &[CaseData]) -> Json {
    let mut store = new_store(&scratch.join("breakdown"));
    fill(&mut store, template, cases);
    let n = cases.len() as f64;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n;
    let ids = store.sync_outbox().expect("outbox");
    let t = Instant::now();
    let pushes: Vec<_> = ids
        .iter()
        .map(|id| store.sync_push(id).expect("sync_push"))
        .collect();
    let t_push = t.elapsed();
    let requests: Vec<SyncRequest> = pushes
        .chunks(PUSH_BATCH)
        .map(|c| SyncRequest {
            epoch: None,
            protocol: PROTOCOL,
            cursor: 0,
            push: c.to_vec(),
        })
        .collect();
    let t = Instant::now();
    let bodies: Vec<Vec<u8>> = requests
        .iter()
        .map(|r| serde_json::to_vec(r).expect("encode"))
        .collect();
    let t_encode = t.elapsed();
    let t = Instant::now();
    for b in &bodies {
        std::hint::black_box(serde_json::from_slice::<SyncRequest>(b).expect("decode"));
    }
    let t_decode = t.elapsed();
    let mut hub = Hub::new(MemoryHubStorage::default());
    // The generated documents' changes name the bench nurse without a signed-in author (as
    // changes made before staff signed in on devices): taken, and their authors still read.
    hub.storage.add_staff("site", USER);
    hub.storage.take_unattributed_before("site", i64::MAX);
    let t = Instant::now();
    let responses: Vec<SyncResponse> = requests
        .iter()
        .map(|r| {
            hub.exchange("site", &store.device_id(), r)
                .expect("exchange")
        })
        .collect();
    let t_hub = t.elapsed();
    let catalog = wardcrf_core::Catalog::bundled().expect("bundled forms");
    let form = catalog.form(FORM, &[]).expect("the core form");
    let t = Instant::now();
    for p in &pushes {
        let projection = case_projection(&p.changes).expect("projection");
        let report = wardcrf_core::validate(
            &form,
            &projection.values,
            &wardcrf_core::Context {
                today: None,
                completing: false,
                default_units: None,
            },
        );
        std::hint::black_box(report.to_json(wardcrf_core::Lang::En));
    }
    let t_projection = t.elapsed();
    let t = Instant::now();
    for r in &responses {
        for c in &r.cases {
            store.sync_apply(c).expect("apply");
        }
    }
    let t_apply = t.elapsed();
    let b = json!({
        "cases": cases.len(),
        "device_push_us": us(t_push),
        "json_encode_us": us(t_encode),
        "json_decode_us": us(t_decode),
        "hub_merge_us": us(t_hub),
        "projection_us": us(t_projection),
        "device_apply_us": us(t_apply),
    });
    println!(
        "where an initial sync's time goes, per case ({} cases, measured step by step in-process): device reads what to push {:.0} µs; \
         request JSON encode {:.0} µs + decode {:.0} µs; repository merge in memory (no database) {:.0} µs; projection (read + validate) {:.0} µs; \
         device applies the answer {:.0} µs. The rest of an exchange is HTTP and the repository's database.",
        cases.len(),
        us(t_push),
        us(t_encode),
        us(t_decode),
        us(t_hub),
        us(t_projection),
        us(t_apply)
    );
    b
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    // Started again by the storm as its devices process.
    if let Some(plan) = std::env::var_os(storm::PLAN_VAR) {
        storm::devices_main(Path::new(&plan));
        return;
    }
    // `cargo bench` passes --bench; a filter argument is ignored (one benchmark).
    let config = Config::from_env();
    let database_url = std::env::var("WARDCRF_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let out = out_dir();
    std::fs::create_dir_all(&out).expect("create target/bench");
    println!(
        "WardCRF sync benchmark{}: wardcrf-server on loopback, device client over HTTP, bytes counted by a TCP proxy; {} CPUs, load average {}",
        if config.quick { " (quick)" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );

    let scratch = TempDir::new("setup");
    let mut store = new_store(&scratch.0.join("template"));
    let template = DocTemplate::from_store(&mut store);
    drop(store);
    check_generator(&scratch.0, &template);
    let sets: Vec<Vec<CaseData>> = config
        .sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| generate_set(i + 1, n))
        .collect();
    let fields = sets[0][0].fields();
    let actor = ActorId::random();
    let doc_bytes: Vec<usize> = sets[0]
        .iter()
        .take(100)
        .enumerate()
        .map(|(i, c)| template.build(&actor, c, i as i64).len())
        .collect();
    let json_bytes: Vec<usize> = sets[0]
        .iter()
        .take(100)
        .map(|c| c.to_json().to_string().len())
        .collect();
    let avg = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
    println!(
        "cases: icrown-core, {fields} fields each (57 case-level values + pathogen test, medication and lab rows), entered one change per field; \
         mean automerge document {:.0} B (saved, with the audit trail), mean plain JSON of the values {:.0} B",
        avg(&doc_bytes),
        avg(&json_bytes)
    );

    // The data set for the PouchDB benchmark: the same cases and the same edits.
    let dataset = json!({
        "edit_field": EDIT_FIELD,
        "sets": sets.iter().map(|set| json!({
            "cases": set.iter().map(CaseData::to_json).collect::<Vec<_>>(),
            "edit_1": [{"index": 0, "value": edited_value(&set[0], 1)}],
            "edit_10pct": set.iter().enumerate().step_by(10)
                .map(|(i, c)| json!({"index": i, "value": edited_value(c, 2)})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("sync-dataset.json"),
        serde_json::to_vec(&dataset).expect("dataset JSON"),
    )
    .expect("write sync-dataset.json");

    let mut results = Map::new();
    results.insert(
        "breakdown".into(),
        breakdown(&template, &scratch.0, &sets[0]),
    );
    results.insert("tool".into(), json!("wardcrf"));
    results.insert("quick".into(), json!(config.quick));
    results.insert("fields_per_case".into(), json!(fields));
    results.insert("doc_bytes_mean".into(), json!(avg(&doc_bytes)));
    results.insert("json_bytes_mean".into(), json!(avg(&json_bytes)));
    results.insert("load_average_start".into(), json!(load_average()));
    let mut backends = Map::new();
    backends.insert(
        "sqlite".into(),
        backend("SQLite (embedded)", None, &template, &sets, &config),
    );
    if let Some(url) = &database_url {
        backends.insert(
            "postgres".into(),
            backend("PostgreSQL", Some(url), &template, &sets, &config),
        );
    } else {
        println!("\n(PostgreSQL skipped: set WARDCRF_BENCH_DATABASE_URL to run it)");
    }
    results.insert("backends".into(), Json::Object(backends));
    let path = out.join("sync-wardcrf.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&Json::Object(results)).expect("results JSON"),
    )
    .expect("write sync-wardcrf.json");
    println!("\nfigures written to {}", path.display());
}
