//! The sync storm: many devices at a few sites syncing against one server at once, with the
//! device clients in a process of their own (this benchmark binary started again in a
//! "devices" mode), so the server's CPU figure is its own and the bench's bookkeeping is apart.
//!
//! The parent builds and enrols the device stores (not timed), writes a plan (server address,
//! each device's store directory, key and token) and starts the devices process, which runs
//! one thread per device: a first sync of all devices at once, then rounds of "edit one case,
//! sync". A failed sync is retried as the apps retry (exponential back-off, a bounded number of
//! attempts, scaled down from the apps' 30 s first wait); every attempt and failure is counted
//! by kind, and a device that finally fails is reported, never waited for: no thread panics
//! and nothing waits without a deadline.

use crate::dataset::edited_value as edited_value_of;
use crate::dataset::{CaseData, DocTemplate, fill, generate_set};
use crate::{Config, EDIT_FIELD, USER, ms, percentile};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use wardcrf_core::sync::{HttpTransport, SyncError, TransportError, sync};
use wardcrf_core::{CaseStore, FieldPath, RawKeyProvider, SecretKey};

/// The environment variable that starts this binary in the devices mode (its value: the plan).
pub(crate) const PLAN_VAR: &str = "WARDCRF_BENCH_STORM_PLAN";
/// Attempts of one sync before the device gives up (the first and its retries).
const ATTEMPTS: u32 = 6;
/// The first wait before a retry; doubled each time (100, 200, 400, 800, 1600 ms).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How much lower than the server the devices process runs (a nice value).
const DEVICES_NICENESS: i32 = 19;
/// How long the parent waits for the devices process before it stops it and reports.
const DEADLINE: Duration = Duration::from_secs(900);

/// A device store's key in the storm (stores are throwaway; a raw key, no KDF).
fn key_of(index: usize) -> [u8; 32] {
    let mut key = [0x5a; 32];
    key[..8].copy_from_slice(&(index as u64).to_le_bytes());
    key
}

fn open_store(dir: &Path, index: usize, create: bool) -> Result<CaseStore, String> {
    let kek = SecretKey::from_bytes(&key_of(index)).map_err(|e| e.to_string())?;
    let provider = RawKeyProvider::new(kek);
    let store = if create {
        CaseStore::create(dir, &provider)
    } else {
        CaseStore::open(dir, &provider)
    };
    store.map_err(|e| e.to_string())
}

fn store_dir(scratch: &Path, index: usize) -> PathBuf {
    scratch.join(format!("conc-{index}"))
}

fn cases_of(index: usize, config_cases: usize) -> Vec<CaseData> {
    generate_set(1000 + index, config_cases)
}

/// The storm, run from the parent: builds and enrols the stores, runs the devices process,
/// reports its figures with the server's CPU time meanwhile.
pub(crate) fn concurrent(
    server: &crate::common::Server,
    template: &DocTemplate,
    scratch: &Path,
    tag: &str,
    config: &Config,
) -> Json {
    if config.devices == 0 {
        return json!(null);
    }
    let sites: Vec<String> = (0..config.sites)
        .map(|s| format!("bench-{tag}-c{s}"))
        .collect();
    for s in &sites {
        server.add_site(s);
    }
    let t = Instant::now();
    let mut devices = Vec::new();
    for d in 0..config.devices {
        let dir = store_dir(scratch, d);
        let mut store = open_store(&dir, d, true).expect("create a device store");
        store
            .sign_in_for_tests(USER)
            .expect("sign the bench nurse in");
        fill(&mut store, template, &cases_of(d, config.cases_per_device));
        let site = &sites[d % sites.len()];
        let token = server.enrol(&mut store, site);
        // The site nurse `enrol` signed in, whom the devices process signs in again.
        let staff = server.ward_staff(site);
        devices.push(json!({"index": d, "dir": dir, "token": token, "staff": staff}));
    }
    println!(
        "  built and enrolled {} device stores of {} cases in {:.1} s (not timed)",
        config.devices,
        config.cases_per_device,
        t.elapsed().as_secs_f64()
    );
    let plan = json!({
        "url": server.url(), "rounds": config.rounds,
        "cases_per_device": config.cases_per_device, "devices": devices,
        "sites": config.sites,
    });
    let plan_path = scratch.join("storm-plan.json");
    std::fs::write(&plan_path, plan.to_string()).expect("write the storm plan");
    let out_path = scratch.join("storm-result.json");
    let server_pid = server.child.id().to_string();
    let s0 = crate::cpu_seconds(&server_pid).unwrap_or(0.0);
    let exchanges_before = exchange_histogram(&server.metrics());
    let mut child = std::process::Command::new(std::env::current_exe().expect("this binary"))
        .env(PLAN_VAR, &plan_path)
        .env("WARDCRF_BENCH_STORM_OUT", &out_path)
        .stdout(std::process::Stdio::inherit())
        .spawn()
        .expect("start the devices process");
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(200));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let server_cpu = crate::cpu_seconds(&server_pid).unwrap_or(0.0) - s0;
    let result = std::fs::read(&out_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Json>(&b).ok());
    let Some(mut result) = result else {
        let why = match status {
            None => format!(
                "did not finish within {} s and was stopped",
                DEADLINE.as_secs()
            ),
            Some(s) => format!("ended ({s}) without figures"),
        };
        println!("  the devices process {why}");
        return json!({"error": format!("the devices process {why}")});
    };
    result["server_cpu_seconds"] = json!(server_cpu);
    // The server's own time per exchange (request to answer head, from its histogram): what
    // the devices wait for beyond their own work on the same 2 cores.
    let exchanges = histogram_delta(&exchanges_before, &exchange_histogram(&server.metrics()));
    let at_most = |q: f64| quantile_at_most(&exchanges, q).map(|s| s * 1000.0);
    result["server_exchanges"] = json!(exchanges.last().map_or(0, |b| b.1));
    result["server_exchange_p50_ms_at_most"] = json!(at_most(0.5));
    result["server_exchange_p99_ms_at_most"] = json!(at_most(0.99));
    print_result(&result);
    result
}

/// The cumulative buckets `(upper bound in seconds, count)` of the server's sync exchange
/// duration histogram in a `/metrics` text.
fn exchange_histogram(metrics: &str) -> Vec<(f64, u64)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("wardcrf_sync_exchange_duration_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (le, rest) = l.split_once("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.trim().parse().ok()?))
        })
        .collect()
}

/// The buckets of what was counted between two readings.
fn histogram_delta(before: &[(f64, u64)], after: &[(f64, u64)]) -> Vec<(f64, u64)> {
    after
        .iter()
        .map(|&(le, n)| {
            let was = before.iter().find(|b| b.0 == le).map_or(0, |b| b.1);
            (le, n.saturating_sub(was))
        })
        .collect()
}

/// The upper bound of the bucket holding quantile `q` (seconds); `None` when nothing counted.
fn quantile_at_most(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil() as u64;
    buckets.iter().find(|b| b.1 >= rank).map(|b| b.0)
}

fn print_result(r: &Json) {
    println!(
        "  first sync of all devices at once (push own, pull site's): {:.1} s",
        r["first_sync_all_seconds"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  {} devices × {} rounds (edit 1 case, sync): {} syncs in {:.2} s = {:.1} syncs/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} cases pulled from site peers",
        r["devices"],
        r["rounds"],
        r["syncs"],
        r["seconds"].as_f64().unwrap_or(0.0),
        r["syncs_per_s"].as_f64().unwrap_or(0.0),
        r["p50_ms"].as_f64().unwrap_or(0.0),
        r["p99_ms"].as_f64().unwrap_or(0.0),
        r["max_ms"].as_f64().unwrap_or(0.0),
        r["pulled"],
    );
    println!(
        "  attempts {} for {} syncs ({} retried), failed attempts by kind {}, devices that finally failed {}; CPU: server {:.2} s, devices process {:.2} s",
        r["attempts"],
        r["syncs_tried"],
        r["syncs_retried"],
        r["failures_by_kind"],
        r["failed_devices"],
        r["server_cpu_seconds"].as_f64().unwrap_or(0.0),
        r["devices_cpu_seconds"].as_f64().unwrap_or(0.0),
    );
    let ms = |k: &str| {
        r[k].as_f64()
            .map_or("-".to_string(), |v| format!("{v:.0} ms"))
    };
    println!(
        "  the server's own time per exchange (its histogram, first syncs included, {} exchanges): p50 at most {}, p99 at most {}",
        r["server_exchanges"],
        ms("server_exchange_p50_ms_at_most"),
        ms("server_exchange_p99_ms_at_most"),
    );
}

/// The kind of a failed sync, for the counts (the HTTP status when the repository answered).
fn kind(e: &SyncError) -> String {
    match e {
        SyncError::Transport(TransportError::Refused(m)) => {
            let status: String = m.chars().take_while(char::is_ascii_digit).collect();
            if status.len() == 3 {
                format!("refused {status}")
            } else {
                "refused".into()
            }
        }
        SyncError::Transport(TransportError::Unreachable(_)) => "unreachable".into(),
        SyncError::Transport(TransportError::Revoked) => "revoked".into(),
        SyncError::Transport(_) => "transport".into(),
        SyncError::Store(_) => "device store".into(),
        SyncError::Protocol(_) => "protocol".into(),
        SyncError::Cancelled => "cancelled".into(),
    }
}

/// Whether the apps would try again later (not for a revoked device or an app to update).
fn retried(e: &SyncError) -> bool {
    !matches!(
        e,
        SyncError::Transport(TransportError::Revoked)
            | SyncError::Transport(TransportError::CertificateMismatch(_))
            | SyncError::Protocol(_)
    )
}

/// What one device did.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    pulled: usize,
    attempts: u64,
    tried: u64,
    retried: u64,
    failures: BTreeMap<String, u64>,
    /// The sync that finally failed, if any (the device stops there).
    gave_up: Option<String>,
}

impl Tally {
    /// One sync, retried with back-off; its time includes the retries (what a nurse waits).
    fn sync(&mut self, store: &mut CaseStore, transport: &HttpTransport) -> Option<Duration> {
        self.tried += 1;
        let t = Instant::now();
        let mut wait = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            self.attempts += 1;
            match sync(&mut *store, transport, &mut |_| {}) {
                Ok(s) => {
                    self.pulled += s.pulled;
                    if attempt > 1 {
                        self.retried += 1;
                    }
                    return Some(t.elapsed());
                }
                Err(e) => {
                    *self.failures.entry(kind(&e)).or_default() += 1;
                    if attempt == ATTEMPTS || !retried(&e) {
                        self.gave_up = Some(format!("after {attempt} attempts: {}", kind(&e)));
                        return None;
                    }
                    std::thread::sleep(wait);
                    wait *= 2;
                }
            }
        }
        None
    }
}

/// The devices mode: runs the plan at `plan_path`, writes the figures to
/// `$WARDCRF_BENCH_STORM_OUT` and exits.
pub(crate) fn devices_main(plan_path: &Path) {
    // The simulated tablets yield the 2 cores to the server: each real tablet has a CPU of
    // its own, and here the 100 of them would otherwise take most of what the server needs
    // (the threads started below inherit this thread's priority).
    #[cfg(target_os = "linux")]
    let _ = rustix::process::setpriority_process(None, DEVICES_NICENESS);
    let plan: Json = serde_json::from_slice(&std::fs::read(plan_path).expect("read the plan"))
        .expect("the plan is JSON");
    let url = plan["url"]
        .as_str()
        .expect("the server address")
        .to_string();
    let rounds = plan["rounds"].as_u64().unwrap_or(0) as usize;
    let per_device = plan["cases_per_device"].as_u64().unwrap_or(0) as usize;
    let mut ready = Vec::new();
    let mut unopened = Vec::new();
    for d in plan["devices"].as_array().into_iter().flatten() {
        let index = d["index"].as_u64().unwrap_or(0) as usize;
        let dir = PathBuf::from(d["dir"].as_str().unwrap_or_default());
        let token = d["token"].as_str().unwrap_or_default().to_string();
        let staff = d["staff"].as_str().unwrap_or_default().to_string();
        let opened = open_store(&dir, index, false).and_then(|mut s| {
            s.sign_in_for_tests(&staff).map_err(|e| e.to_string())?;
            let t = HttpTransport::new(&url, &token).map_err(|e| e.to_string())?;
            Ok((s, t))
        });
        match opened {
            Ok((store, transport)) => ready.push((index, store, transport)),
            Err(e) => unopened.push(format!("device {index}: {e}")),
        }
    }
    let n = ready.len();
    let setup = Arc::new(Barrier::new(n + 1));
    let start = Arc::new(Barrier::new(n + 1));
    let threads: Vec<_> = ready
        .into_iter()
        .map(|(index, mut store, transport)| {
            let (setup, start) = (setup.clone(), start.clone());
            std::thread::spawn(move || {
                let cases = cases_of(index, per_device);
                let mut tally = Tally::default();
                // First sync: push its own cases, pull the site's (not in the latencies).
                let first_ok = tally.sync(&mut store, &transport).is_some();
                setup.wait();
                start.wait();
                if first_ok {
                    for round in 0..rounds {
                        let case = &cases[round % cases.len()];
                        let edited = store.set_value(
                            &case.case_id,
                            &FieldPath::field(EDIT_FIELD),
                            edited_value_of(case, 10 + round as i64),
                            Some("re-measured"),
                        );
                        if let Err(e) = edited {
                            tally.gave_up = Some(format!("edit: {e}"));
                            break;
                        }
                        match tally.sync(&mut store, &transport) {
                            Some(latency) => tally.latencies.push(latency),
                            None => break,
                        }
                    }
                }
                (index, tally)
            })
        })
        .collect();
    let cpu0 = crate::cpu_seconds("self").unwrap_or(0.0);
    let t = Instant::now();
    setup.wait();
    let t_setup = t.elapsed();
    start.wait();
    let t = Instant::now();
    let mut all = Vec::new();
    let mut totals = Tally::default();
    let mut failed = unopened;
    for h in threads {
        match h.join() {
            Ok((index, tally)) => {
                all.extend(tally.latencies);
                totals.pulled += tally.pulled;
                totals.attempts += tally.attempts;
                totals.tried += tally.tried;
                totals.retried += tally.retried;
                for (k, v) in tally.failures {
                    *totals.failures.entry(k).or_default() += v;
                }
                if let Some(why) = tally.gave_up {
                    failed.push(format!("device {index}: {why}"));
                }
            }
            Err(_) => failed.push("a device thread panicked".into()),
        }
    }
    let wall = t.elapsed();
    all.sort();
    let syncs = all.len();
    let result = json!({
        "devices": plan["devices"].as_array().map_or(0, Vec::len), "rounds": rounds,
        "sites": plan["sites"],
        "cases_per_device": per_device, "syncs": syncs, "seconds": wall.as_secs_f64(),
        "syncs_per_s": syncs as f64 / wall.as_secs_f64().max(1e-9),
        "p50_ms": ms(percentile(&all, 0.5)), "p99_ms": ms(percentile(&all, 0.99)),
        "max_ms": ms(all.last().copied().unwrap_or_default()), "pulled": totals.pulled,
        "first_sync_all_seconds": t_setup.as_secs_f64(),
        "attempts": totals.attempts, "syncs_tried": totals.tried,
        "syncs_retried": totals.retried, "failures_by_kind": totals.failures,
        "failed_devices": failed.len(), "failed": failed,
        "max_attempts": ATTEMPTS, "first_backoff_ms": ms(FIRST_BACKOFF),
        "devices_cpu_seconds": crate::cpu_seconds("self").unwrap_or(0.0) - cpu0,
    });
    let out = std::env::var_os("WARDCRF_BENCH_STORM_OUT").expect("where to write the figures");
    std::fs::write(out, result.to_string()).expect("write the storm figures");
}
