//! What the system tests share: the repository on either backend as the real `wardcrf-server`
//! binary ([`Repository`], [`Server`]), ward devices ([`Device`]), a seeded generator, and a TCP
//! proxy that breaks connections on purpose ([`FaultyLine`]).
#![allow(clippy::unwrap_used, dead_code)] // helpers outside #[test] functions; not every target uses all

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wardcrf_core::sync::{self, HttpTransport, Method};
use wardcrf_core::{CaseStore, Passphrase};

#[path = "../../server/tests/common/backend.rs"]
mod backend;
/// The backend, unique names and throwaway databases: one definition with the server's tests.
pub use backend::*;

/// `#[test]`s running `$body(Backend)` on SQLite and, with the `postgres-tests` feature
/// (tests/run enables it), on PostgreSQL: `$name::sqlite` and `$name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            #[test]
            fn sqlite() {
                $body($crate::common::Backend::Sqlite);
            }
            #[cfg(feature = "postgres-tests")]
            #[test]
            fn postgres() {
                $body($crate::common::Backend::postgres_from_env());
            }
        }
    };
}

/// A seed from the clock; print it so a failure can be replayed.
pub fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1
}

/// A deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

/// A binary of the workspace, built next to this test (`cargo test --workspace` builds them).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` (tests/run does)",
        bin.display()
    );
    bin
}

/// A repository's data (directory, and database on PostgreSQL), outliving server restarts.
pub struct Repository {
    pub dir: PathBuf,
    db: Option<PgDatabase>,
}

impl Repository {
    pub fn new(backend: &Backend, name: &str) -> Repository {
        let dir = std::env::temp_dir().join(format!("wardcrf-system-{}", unique(name)));
        std::fs::create_dir_all(&dir).unwrap();
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres(url) => Some(PgDatabase::new(url, name)),
        };
        Repository { dir, db }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("repository")
    }

    /// Starts `wardcrf-server` on this repository's data.
    pub fn start(&self) -> Server {
        self.start_listening("127.0.0.1:0")
    }

    /// Starts `wardcrf-server` again at the address (`http://127.0.0.1:PORT`) a stopped one
    /// had, where its devices look for it.
    pub fn restart_at(&self, url: &str) -> Server {
        let addr = url.strip_prefix("http://").unwrap().trim_end_matches('/');
        self.start_listening(addr)
    }

    /// Starts one more `wardcrf-server` on this repository's database with a data directory
    /// of its own (`DIR/<name>`), as another server of one repository behind a load balancer
    /// runs; `args` are added (e.g. `--pseudonym-key FILE`).
    pub fn start_instance(&self, name: &str, args: &[&str]) -> Server {
        self.start_with(&self.dir.join(name), "127.0.0.1:0", args)
    }

    fn start_listening(&self, listen: &str) -> Server {
        self.start_with(&self.data(), listen, &[])
    }

    fn start_with(&self, data: &Path, listen: &str, args: &[&str]) -> Server {
        let mut cmd = Command::new(workspace_binary("wardcrf-server"));
        cmd.arg("--data")
            .arg(data)
            .args(["--listen", listen])
            .args(args);
        if let Some(db) = &self.db {
            cmd.args(["--database-url", &db.url]);
        }
        cmd.stderr(Stdio::null());
        let started = start_until(&mut cmd, "listening on ");
        let (child, url, stdout) = (started.child, started.address, started.stdout);
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in stdout.lines() {});
        Server { child, url }
    }

    /// Runs `wardcrf-server --data DIR [--database-url URL] ARGS` (a command such as `backup`,
    /// `restore`) to its end.
    pub fn server_command(&self, args: &[&std::ffi::OsStr]) -> std::process::Output {
        let mut cmd = Command::new(workspace_binary("wardcrf-server"));
        cmd.arg("--data").arg(self.data());
        if let Some(db) = &self.db {
            cmd.args(["--database-url", &db.url]);
        }
        cmd.args(args).stdin(Stdio::null()).output().unwrap()
    }

    pub fn admin_token_file(&self) -> PathBuf {
        self.data().join("admin-token")
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.admin_token_file())
            .unwrap()
            .trim()
            .to_string()
    }

    /// The administrator's line to a running server of this repository.
    pub fn admin(&self, server: &Server) -> HttpTransport {
        HttpTransport::new(&server.url, &self.admin_token()).unwrap()
    }
}

impl Drop for Repository {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `wardcrf-server`, killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Running,
    pub url: String,
}

/// Adds a site, with its nurse ([`nurse_of`]), whom its [`enroll`]ed devices sign in as.
pub fn add_site(admin: &HttpTransport, site: &str) {
    admin
        .call(
            Method::Post,
            "/api/admin/sites",
            Some(&json!({"site_id": site, "name": format!("Site {site}")})),
        )
        .unwrap();
    add_staff(admin, site, &nurse_of(site));
}

/// The nurse a device of `site` signs in as: `nurse-<site>` (staff ids name one person across
/// the repository).
pub fn nurse_of(site: &str) -> String {
    format!("nurse-{site}")
}

/// The password of a staff member made by [`add_staff`] (the one a store's test sign-in uses).
pub fn staff_password(id: &str) -> String {
    format!("test password {id}")
}

/// Adds `id` as a clinician of `site` (printed name `Test <id>`, password [`staff_password`])
/// through the administrator's API.
pub fn add_staff(admin: &HttpTransport, site: &str, id: &str) {
    admin
        .call(
            Method::Post,
            "/api/admin/staff",
            Some(&json!({
                "username": id,
                "role": "clinician",
                "site_id": site,
                "display_name": format!("Test {id}"),
                "password": staff_password(id),
            })),
        )
        .unwrap();
}

/// Adds a site that keeps identifying data on its devices (never synced).
pub fn add_private_site(admin: &HttpTransport, site: &str) {
    admin
        .call(
            Method::Post,
            "/api/admin/sites",
            Some(&json!({
                "site_id": site,
                "name": format!("Site {site}"),
                "identifying_on_device": true,
            })),
        )
        .unwrap();
    add_staff(admin, site, &nurse_of(site));
}

/// A ward device: an encrypted store enrolled at a site.
pub struct Device {
    pub name: String,
    pub site: String,
    pub store: CaseStore,
    pub token: String,
}

/// Creates a store under `dir` and enrols it at `site` through `url`, signed in as the site's
/// nurse ([`nurse_of`]).
pub fn enroll(url: &str, admin: &HttpTransport, dir: &Path, name: &str, site: &str) -> Device {
    let store = {
        let mut s =
            CaseStore::create(&dir.join(name), &Passphrase::insecure_for_tests(name, 10)).unwrap();
        s.sign_in_for_tests(&nurse_of(site)).unwrap();
        s
    };
    enroll_store(url, admin, store, name, site)
}

/// Enrols an existing store (signed in) at `site` through `url`.
pub fn enroll_store(
    url: &str,
    admin: &HttpTransport,
    mut store: CaseStore,
    name: &str,
    site: &str,
) -> Device {
    let code = admin
        .call(
            Method::Post,
            "/api/admin/enroll-codes",
            Some(&json!({"site_id": site})),
        )
        .unwrap();
    let e = sync::enroll(url, code["code"].as_str().unwrap(), &store.device_id()).unwrap();
    assert_eq!(e.site_id, site);
    store.enrolled(url, &e).unwrap();
    Device {
        name: name.into(),
        site: site.into(),
        store,
        token: e.token,
    }
}

impl Device {
    /// One sync with the repository at `url`.
    pub fn try_sync(&mut self, url: &str) -> Result<sync::SyncSummary, sync::SyncError> {
        let line = HttpTransport::new(url, &self.token).unwrap();
        sync::sync(&mut self.store, &line, &mut |_| {})
    }

    pub fn sync(&mut self, url: &str) -> sync::SyncSummary {
        self.try_sync(url)
            .unwrap_or_else(|e| panic!("{} sync: {e}", self.name))
    }

    pub fn case_ids(&self) -> BTreeSet<String> {
        self.store
            .list(&Default::default())
            .unwrap()
            .into_iter()
            .map(|c| c.case_id)
            .collect()
    }
}

/// Per case: its values and its open conflicts (paths and candidate values).
pub type Snapshot = BTreeMap<String, (Value, BTreeSet<String>)>;

/// Every case of a device with its values and its open conflicts.
pub fn snapshot(d: &mut Device) -> Snapshot {
    d.case_ids()
        .into_iter()
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

/// How a [`FaultyLine`] breaks the next connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bytes pass both ways untouched.
    None,
    /// The request passes; the answer is cut after this many bytes, then the connection drops.
    CutAnswerAt(Cut),
    /// The request is cut after this part, then the connection drops (the server sees a
    /// truncated body).
    CutRequestAt(Cut),
    /// One byte in the middle of the request body is replaced by a byte that is never valid in
    /// JSON text (0xFF).
    GarbleRequestBody,
    /// The server answers, but the device receives a captive-portal HTML page instead.
    ForeignAnswer,
}

/// Where in an HTTP message a [`Fault`] cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Before a single byte passes.
    Start,
    /// In the middle of the status or request line.
    FirstLine,
    /// After the headers, before the body.
    BeforeBody,
    /// Half the body.
    MidBody,
    /// All but the last byte.
    LastByte,
}

/// A loopback TCP proxy in front of the server, breaking connections as its [`Fault`] says.
/// Each connection takes the fault set when it was accepted, and the fault then returns to
/// [`Fault::None`] (one broken connection per fault).
pub struct FaultyLine {
    pub url: String,
    fault: Arc<Mutex<Fault>>,
    /// Connections given a fault so far.
    pub broken: Arc<AtomicU64>,
}

impl FaultyLine {
    /// A proxy to `upstream` (`http://127.0.0.1:PORT`).
    pub fn new(upstream: &str) -> FaultyLine {
        let target = upstream
            .strip_prefix("http://")
            .expect("plain HTTP on loopback")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fault = Arc::new(Mutex::new(Fault::None));
        let broken = Arc::new(AtomicU64::new(0));
        let (f, b) = (fault.clone(), broken.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let this = std::mem::replace(&mut *f.lock().unwrap(), Fault::None);
                if this != Fault::None {
                    b.fetch_add(1, Ordering::SeqCst);
                }
                let target = target.clone();
                std::thread::spawn(move || relay(client, &target, this));
            }
        });
        FaultyLine { url, fault, broken }
    }

    /// Breaks the next connection this way.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

/// The end of the headers and the Content-Length of the HTTP message starting `buf`.
fn head_of(buf: &[u8]) -> Option<(usize, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Some((end, length))
}

/// Reads from `from` until one whole HTTP message (headers and body) is in hand.
fn read_message(from: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((end, length)) = head_of(&buf)
            && buf.len() >= end + length
        {
            return Some(buf);
        }
        let n = from.read(&mut chunk).ok()?;
        if n == 0 {
            return (!buf.is_empty()).then_some(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn cut_point(message: &[u8], cut: Cut) -> usize {
    let (end, length) = head_of(message).unwrap_or((message.len(), 0));
    match cut {
        Cut::Start => 0,
        Cut::FirstLine => 6.min(message.len()),
        Cut::BeforeBody => end,
        Cut::MidBody => end + length / 2,
        Cut::LastByte => (end + length).saturating_sub(1),
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

fn relay(mut client: TcpStream, target: &str, fault: Fault) {
    let Ok(mut server) = TcpStream::connect(target) else {
        return;
    };
    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = server.set_read_timeout(Some(Duration::from_secs(60)));
    let drop_both = |client: &TcpStream, server: &TcpStream| {
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    };
    if fault == Fault::None {
        let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || pump(c2, s2));
        pump(server, client);
        return;
    }
    // The first exchange on the connection is the one broken.
    let Some(mut request) = read_message(&mut client) else {
        return;
    };
    match fault {
        Fault::CutRequestAt(cut) => {
            let at = cut_point(&request, cut);
            let _ = server.write_all(&request[..at]);
            std::thread::sleep(Duration::from_millis(50));
            drop_both(&client, &server);
            return;
        }
        Fault::GarbleRequestBody => {
            let (end, length) = head_of(&request).unwrap_or((0, 0));
            if length > 0 {
                request[end + length / 2] = 0xFF;
            }
        }
        _ => {}
    }
    if server.write_all(&request).is_err() {
        drop_both(&client, &server);
        return;
    }
    let Some(answer) = read_message(&mut server) else {
        drop_both(&client, &server);
        return;
    };
    match fault {
        Fault::CutAnswerAt(cut) => {
            let at = cut_point(&answer, cut);
            let _ = client.write_all(&answer[..at]);
            let _ = client.flush();
            drop_both(&client, &server);
        }
        Fault::ForeignAnswer => {
            let page = b"<html><body>Hospital guest Wi-Fi: please log in</body></html>";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                page.len()
            );
            let _ = client.write_all(head.as_bytes());
            let _ = client.write_all(page);
            drop_both(&client, &server);
        }
        _ => {
            // A garbled request: pass the server's answer on, then close.
            let _ = client.write_all(&answer);
            drop_both(&client, &server);
        }
    }
}

/// `PUT path` with a JSON body and the administrator's token, over plain HTTP to a loopback
/// server (the device's HTTP client has no PUT); returns the status code and the body.
pub fn admin_put(repo: &Repository, server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let addr = server
        .url
        .strip_prefix("http://")
        .unwrap()
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    let request = format!(
        "PUT {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        repo.admin_token(),
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let (end, _) = head_of(&answer).unwrap();
    let head = String::from_utf8_lossy(&answer[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (
        status,
        serde_json::from_slice(&answer[end..]).unwrap_or(Value::Null),
    )
}
