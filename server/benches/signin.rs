//! Sign-in flood benchmark: how a device's sync fares while anonymous clients try passwords.
//! The real `wardcrf-server` binary runs on loopback (SQLite, or PostgreSQL with
//! `WARDCRF_BENCH_DATABASE_URL`), and the real device client is used.
//!
//! Run: `cargo bench -p wardcrf-server --bench signin`.
//!
//! Anonymous clients post `/login` at 48 attempts per second (`WARDCRF_BENCH_SIGNINS` to
//! change), from one client thread per attempt a second, each first fetching the sign-in page for its form token as
//! a browser does, with user names both known and unknown. Meanwhile a device edits one case
//! and syncs, over and over. Its sync latency is printed against a quiet baseline, with how
//! the attempts were answered (401 wrong credentials, 429 throttled).
//! (One site's heavy exchange against another site's sync is a scenario of `sync/main.rs`.)
//!
//! Figures are printed and written to `target/bench/signin.json`, never asserted: a slow
//! machine prints its numbers.

mod common;

use common::{Server, TempDir};
use serde_json::json;
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wardcrf_core::sync::{HttpTransport, sync};
use wardcrf_core::{CaseStore, FieldPath, RawKeyProvider, SecretKey};

const FORM: &str = "icrown-core";

fn new_store(dir: &TempDir) -> CaseStore {
    let provider = RawKeyProvider::new(SecretKey::generate().expect("a random key"));
    CaseStore::create(&dir.0, &provider).expect("create a device store")
}

/// A case with a dozen entered values, as a clinician would leave it after admission.
fn enter_case(store: &mut CaseStore, n: usize) -> String {
    let id = store.create_case(FORM, &[]).expect("create a case");
    let values = [
        ("vs_temp", json!(36.5 + (n % 30) as f64 / 10.0)),
        ("vs_hr", json!(60 + (n % 50))),
        ("vs_rr", json!(12 + (n % 10))),
        ("vs_sbp", json!(100 + (n % 40))),
        ("vs_dbp", json!(60 + (n % 20))),
        ("vs_spo2", json!(92 + (n % 8))),
    ];
    for (field, value) in values {
        store
            .set_value(&id, &FieldPath::field(field), value, None)
            .expect("enter a value");
    }
    id
}

/// One HTTP/1.1 exchange on a fresh connection, from the loopback address `from` when given;
/// returns the status, the headers and the body.
fn http(
    addr: SocketAddr,
    from: Option<Ipv4Addr>,
    request: &[u8],
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut s: TcpStream = match from {
        None => TcpStream::connect(addr)?,
        Some(ip) => {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            socket.bind(&SocketAddr::from((ip, 0)).into())?;
            socket.connect(&addr.into())?;
            socket.into()
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.write_all(request)?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.get(split + 4..).unwrap_or_default().to_vec();
    Ok((status, head, body))
}

/// Latencies of small syncs of `store` (one edited case each) for `duration`.
fn sync_loop(store: &mut CaseStore, case_id: &str, duration: Duration) -> Vec<Duration> {
    let (url, token) = store
        .sync_credential()
        .expect("read the credential")
        .expect("enrolled");
    let transport = HttpTransport::new(&url, &token).expect("a transport");
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut k = 0;
    while start.elapsed() < duration {
        k += 1;
        store
            .set_value(
                case_id,
                &FieldPath::field("vs_hr"),
                json!(70 + k % 40),
                Some("re-measured"),
            )
            .expect("edit");
        let t = Instant::now();
        match sync(store, &transport, &mut |_| {}) {
            Ok(_) => latencies.push(t.elapsed()),
            Err(e) => {
                eprintln!("a device sync failed: {e}");
                latencies.push(Duration::from_secs(3600));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    latencies
}

#[derive(Debug, serde::Serialize)]
struct Latency {
    syncs: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn summarize(mut v: Vec<Duration>) -> Latency {
    v.sort();
    let at = |q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Latency {
        syncs: v.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: v.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    }
}

fn print(name: &str, l: &Latency) {
    println!(
        "{name:<44} {:>5} syncs  p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms",
        l.syncs, l.p50_ms, l.p99_ms, l.max_ms
    );
}

/// A device's small syncs while anonymous clients post `/login` at `per_second`: all from one
/// address, or (`spread`) each attempt from an address of its own in 127.0.0.0/8, as a
/// botnet's would come, so that no per-address allowance runs out.
fn signin_flood(
    server: &Server,
    device: &mut CaseStore,
    case_id: &str,
    per_second: u64,
    seconds: u64,
    spread: bool,
) -> serde_json::Value {
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new([
        AtomicU64::new(0), // attempts
        AtomicU64::new(0), // 401
        AtomicU64::new(0), // 429
        AtomicU64::new(0), // other
    ]);
    // One client thread per attempt a second: a thread waiting for its answer never lowers
    // the rate offered (a slow answer is what a flood is meant to cause).
    let threads = per_second.max(1);
    let interval = Duration::from_secs_f64(threads as f64 / per_second as f64);
    let addr = server.addr;
    let flooders: Vec<_> = (0..threads)
        .map(|t| {
            let stop = stop.clone();
            let counts = counts.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                let start = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    let due = start + interval.mul_f64(n as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    n += 1;
                    let from = spread.then(|| {
                        let k = (t as u32) << 16 | (n as u32 & 0xffff);
                        Ipv4Addr::from(0x7f00_0000 | (k & 0x00ff_ffff))
                            .max(Ipv4Addr::new(127, 0, 0, 2))
                    });
                    // The form's token comes from the sign-in page's cookie, as a browser's.
                    let page = http(
                        addr,
                        from,
                        format!("GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                            .as_bytes(),
                    );
                    let Ok((_, head, _)) = page else { continue };
                    let token = head
                        .lines()
                        .find_map(|l| l.split_once("wardcrf_login="))
                        .map(|(_, rest)| rest.split(';').next().unwrap_or("").to_string())
                        .unwrap_or_default();
                    let user = if n.is_multiple_of(2) {
                        "demo-admin".to_string()
                    } else {
                        format!("nobody-{t}-{n}")
                    };
                    let form = format!("csrf={token}&next=%2F&username={user}&password=guess-{n}");
                    let request = format!(
                        "POST /login HTTP/1.1\r\nHost: {addr}\r\nCookie: wardcrf_login={token}\r\n\
                         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{form}",
                        form.len()
                    );
                    counts[0].fetch_add(1, Ordering::SeqCst);
                    match http(addr, from, request.as_bytes()).map(|(s, _, _)| s) {
                        Ok(401) => counts[1].fetch_add(1, Ordering::SeqCst),
                        Ok(429) => counts[2].fetch_add(1, Ordering::SeqCst),
                        _ => counts[3].fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect();
    let t = Instant::now();
    let during = summarize(sync_loop(device, case_id, Duration::from_secs(seconds)));
    let elapsed = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for f in flooders {
        let _ = f.join();
    }
    let attempts = counts[0].load(Ordering::SeqCst);
    let from = if spread {
        "many addresses"
    } else {
        "one address"
    };
    print(
        &format!("device, {per_second} sign-ins/s from {from}"),
        &during,
    );
    println!(
        "sign-in attempts: {attempts} in {elapsed:.1} s ({:.1}/s): {} answered 401, {} answered 429, {} other",
        attempts as f64 / elapsed,
        counts[1].load(Ordering::SeqCst),
        counts[2].load(Ordering::SeqCst),
        counts[3].load(Ordering::SeqCst)
    );
    json!({"from": from, "during_flood": during, "attempts": attempts,
           "attempts_per_second": attempts as f64 / elapsed,
           "answered_401": counts[1].load(Ordering::SeqCst),
           "answered_429": counts[2].load(Ordering::SeqCst),
           "answered_other": counts[3].load(Ordering::SeqCst)})
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let database_url = std::env::var("WARDCRF_BENCH_DATABASE_URL").ok();
    let backend = if database_url.is_some() {
        "postgresql"
    } else {
        "sqlite"
    };
    println!("sign-in flood bench on {backend}");
    let per_second = std::env::var("WARDCRF_BENCH_SIGNINS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48);
    let server = Server::start(database_url.as_deref());
    server.add_site("flooded");
    let dir = TempDir::new("device-flood");
    let mut device = new_store(&dir);
    server.enrol(&mut device, "flooded");
    let case_id = enter_case(&mut device, 0);
    let baseline = summarize(sync_loop(&mut device, &case_id, Duration::from_secs(5)));
    print("device, quiet", &baseline);
    let one = signin_flood(&server, &mut device, &case_id, per_second, 20, false);
    let many = signin_flood(&server, &mut device, &case_id, per_second, 20, true);
    let flood = json!({"baseline": baseline, "one_address": one, "many_addresses": many});
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&out);
    let figures = json!({"backend": backend, "signin_flood": flood});
    let path = out.join("signin.json");
    match serde_json::to_vec_pretty(&figures) {
        Ok(bytes) => match std::fs::write(&path, bytes) {
            Ok(()) => println!("figures: {}", path.display()),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        },
        Err(e) => eprintln!("cannot encode the figures: {e}"),
    }
}
