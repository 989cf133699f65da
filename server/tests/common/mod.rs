//! Shared by the integration tests: a plain blocking HTTP/1.1 client on `TcpStream` and an
//! in-process server on 127.0.0.1:0 with a clock the test can move, on either backend
//! ([`Backend`]); throwaway PostgreSQL schemas and databases ([`PgSchema`], [`PgDatabase`]).
//! `backend.rs` is shared with the system tests (`tests/common`).
#![allow(clippy::unwrap_used, dead_code)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod backend;
/// The backend of a test target (each target defines `fn backend()`), and the rest shared
/// with the system tests.
pub use backend::*;

pub const START: u64 = 1_800_000_000;

/// A response: status and body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    /// The body, expanded when it came compressed.
    pub raw: Vec<u8>,
    /// The status line and headers, lowercase.
    pub head: String,
    /// The body's length on the wire.
    pub wire_len: usize,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Resp {
    request_with(addr, method, path, token, &[], body)
}

/// [`request`] with further headers (`Content-Encoding`, `Accept-Encoding`, ...). A gzip
/// answer is expanded: [`Resp::raw`] is the expanded body, [`Resp::head`] says how it came.
pub fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    let body = body.unwrap_or(b"");
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and stop reading before the body is sent: ignore write errors.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = raw[split + 4..].to_vec();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    let wire_len = body.len();
    if head.contains("content-encoding: gzip") {
        body = wardcrf_core::sync::gunzip(&body, 1 << 30).unwrap();
    }
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    Resp {
        status,
        body: json,
        raw: body,
        head,
        wire_len,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end])
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

pub fn post_json(addr: SocketAddr, path: &str, token: Option<&str>, body: &Value) -> Resp {
    request(
        addr,
        "POST",
        path,
        token,
        Some(&serde_json::to_vec(body).unwrap()),
    )
}

pub fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Resp {
    request(addr, "GET", path, token, None)
}

/// A fresh, empty schema in the test server's database; dropped with everything in it.
#[derive(Debug)]
pub struct PgSchema {
    url: String,
    pub name: String,
}

impl PgSchema {
    pub fn new(url: &str, prefix: &str) -> PgSchema {
        let name = unique(prefix);
        let mut client = postgres::Client::connect(url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {DATABASE_URL_VAR}: {e}"));
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        PgSchema {
            url: url.to_string(),
            name,
        }
    }

    /// The server's configuration with this schema as the only search path.
    pub fn config(&self) -> postgres::Config {
        let mut config: postgres::Config = self.url.parse().unwrap();
        config.options(&format!("-c search_path={}", self.name));
        config
    }

    /// A migrated storage in this schema.
    pub fn storage(&self) -> wardcrf_server::PostgresStorage {
        wardcrf_server::PostgresStorage::connect_with(&self.config()).unwrap()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// An in-process server on a fresh database of `backend` (SQLite in a temporary directory,
/// or a throwaway PostgreSQL schema).
/// A case put straight into storage: (case id, site, form id, saved document).
pub type SeedCase = (String, String, String, Vec<u8>);

/// What a test can do with the projection queue of a [`TestServer`] (its `AppState`).
#[derive(Clone)]
pub struct Projections {
    /// Projects everything queued now, synchronously; returns how many.
    pub drain: Arc<dyn Fn() -> usize + Send + Sync>,
    /// Starts this many projection workers, as the server binary does.
    pub start_workers: Arc<dyn Fn(usize) -> wardcrf_server::Workers + Send + Sync>,
    /// The backlog now.
    pub backlog: Arc<dyn Fn() -> wardcrf_server::repository::ProjectionBacklog + Send + Sync>,
}

/// The router of a pooled server and its queue's handles (a test drains the queue or starts
/// workers, as with a lagging server).
fn pooled_parts<S: wardcrf_server::Store>(
    state: wardcrf_server::AppState<S>,
) -> (axum::Router, Projections) {
    let (a, b, c) = (state.clone(), state.clone(), state.clone());
    let projections = Projections {
        drain: Arc::new(move || a.drain_projections().unwrap()),
        start_workers: Arc::new(move |n| b.start_projection_workers(n)),
        backlog: Arc::new(move || c.projection_backlog().unwrap()),
    };
    (wardcrf_server::router(state), projections)
}

/// The router over `storage` after seeding it and projecting what lacks a projection. Unless
/// `lagging`, every request first waits for the projection queue to drain (the test reads
/// what it synced, as after the workers caught up); a `lagging` server projects only when
/// the test drains it or starts workers.
fn app_over<S>(
    mut storage: S,
    cases: &[SeedCase],
    (admin, metrics): (&str, &str),
    clock: wardcrf_server::Clock,
    lagging: bool,
) -> (axum::Router, usize, Projections)
where
    S: wardcrf_core::repository::HubStorage
        + wardcrf_server::Repository
        + wardcrf_server::repository::WardStaff
        + Send
        + 'static,
    S::Error: std::fmt::Debug,
{
    for (case_id, site, form, doc) in cases {
        let read = storage.case(case_id).unwrap().map(|c| c.seq);
        storage.put_case(case_id, site, form, doc, read).unwrap();
    }
    let state = wardcrf_server::AppState::new(storage, admin, clock).with_metrics_token(metrics);
    let n = state.backfill_projections().unwrap();
    state.drain_projections().unwrap();
    let (a, b, c) = (state.clone(), state.clone(), state.clone());
    let projections = Projections {
        drain: Arc::new(move || a.drain_projections().unwrap()),
        start_workers: Arc::new(move |n| b.start_projection_workers(n)),
        backlog: Arc::new(move || c.projection_backlog().unwrap()),
    };
    let mut app = wardcrf_server::router(state.clone());
    if !lagging {
        let drain = projections.drain.clone();
        app = app.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let drain = drain.clone();
                async move {
                    tokio::task::spawn_blocking(move || drain()).await.unwrap();
                    next.run(req).await
                }
            },
        ));
    }
    (app, n, projections)
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub admin: String,
    /// The token of `GET /metrics`.
    pub metrics: String,
    pub now: Arc<AtomicU64>,
    pub dir: std::path::PathBuf,
    /// Cases projected at start because they had no projection.
    pub backfilled: usize,
    /// The server's projection queue.
    pub projections: Projections,
    /// Kept to drop the schema at the end.
    _schema: Option<PgSchema>,
}

/// A second connection to a [`TestServer`]'s own storage (for writing what no API writes,
/// as a disk fault or an older bug would, and for reading bookkeeping tables).
pub enum Storage {
    Sqlite(wardcrf_server::SqliteStorage, std::path::PathBuf),
    Postgres(Box<wardcrf_server::PostgresStorage>, Box<postgres::Config>),
}

impl Storage {
    /// Stores `doc` as the case's document, bytes as given (the next sequence number of `site`).
    pub fn put_raw(&mut self, case_id: &str, site: &str, form_id: &str, doc: &[u8]) -> u64 {
        use wardcrf_core::repository::{HubStorage, Put};
        fn put<S: HubStorage>(
            s: &mut S,
            case_id: &str,
            site: &str,
            form_id: &str,
            doc: &[u8],
        ) -> u64
        where
            S::Error: std::fmt::Debug,
        {
            let read = s.case(case_id).unwrap().map(|c| c.seq);
            match s.put_case(case_id, site, form_id, doc, read).unwrap() {
                Put::Stored(seq) => seq,
                other => panic!("not stored: {other:?}"),
            }
        }
        match self {
            Storage::Sqlite(s, _) => put(s, case_id, site, form_id, doc),
            Storage::Postgres(s, _) => put(s.as_mut(), case_id, site, form_id, doc),
        }
    }

    /// The cases in quarantine now (of `site`, or of all sites).
    pub fn quarantined(
        &mut self,
        site: Option<&str>,
    ) -> Vec<wardcrf_core::repository::QuarantinedCase> {
        use wardcrf_core::repository::HubStorage;
        match self {
            Storage::Sqlite(s, _) => s.quarantined(site).unwrap(),
            Storage::Postgres(s, _) => s.quarantined(site).unwrap(),
        }
    }

    /// The stored projection of a case, read straight from the storage.
    pub fn projection(
        &mut self,
        case_id: &str,
    ) -> Option<wardcrf_server::repository::ProjectionRow> {
        use wardcrf_server::Repository;
        match self {
            Storage::Sqlite(s, _) => s.projection(case_id).unwrap(),
            Storage::Postgres(s, _) => s.projection(case_id).unwrap(),
        }
    }

    /// Queues a case for projection, as every writer of a case does.
    pub fn enqueue(&mut self, case_id: &str, now: u64) {
        use wardcrf_server::Repository;
        match self {
            Storage::Sqlite(s, _) => s.enqueue_projection(case_id, now).unwrap(),
            Storage::Postgres(s, _) => s.enqueue_projection(case_id, now).unwrap(),
        }
    }

    /// Starts `n` projection workers over this connection, as another server process on the
    /// same database would.
    pub fn start_workers(self, n: usize) -> wardcrf_server::Workers {
        let clock = wardcrf_server::system_clock();
        match self {
            Storage::Sqlite(s, _) => wardcrf_server::AppState::new(s, "another-server", clock)
                .start_projection_workers(n),
            Storage::Postgres(s, _) => wardcrf_server::AppState::new(*s, "another-server", clock)
                .start_projection_workers(n),
        }
    }

    /// The single integer `sql` selects (the same text on both backends).
    pub fn count(&mut self, sql: &str) -> i64 {
        match self {
            Storage::Sqlite(_, path) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Storage::Postgres(_, config) => config
                .connect(postgres::NoTls)
                .unwrap()
                .query_one(sql, &[])
                .unwrap()
                .get(0),
        }
    }
}

impl TestServer {
    pub fn start(backend: &Backend, name: &str) -> TestServer {
        Self::start_with_cases(backend, name, &[])
    }

    /// A server whose projections trail the sync: nothing is projected until the test drains
    /// [`TestServer::projections`] or starts workers.
    pub fn start_lagging(backend: &Backend, name: &str) -> TestServer {
        Self::start_on(backend, name, &[], true)
    }

    /// Starts on a storage that already holds `cases` (as a server version without
    /// projections stored them: no projection rows); the server projects them before serving,
    /// as `wardcrf-server` does at start ([`TestServer::backfilled`] says how many).
    pub fn start_with_cases(backend: &Backend, name: &str, cases: &[SeedCase]) -> TestServer {
        Self::start_on(backend, name, cases, false)
    }

    fn start_on(backend: &Backend, name: &str, cases: &[SeedCase], lagging: bool) -> TestServer {
        let dir = temp_dir(name);
        let admin = wardcrf_server::secret::new_token().unwrap();
        let metrics = wardcrf_server::secret::new_token().unwrap();
        let tokens = (admin.as_str(), metrics.as_str());
        let now = Arc::new(AtomicU64::new(START));
        let clock_now = now.clone();
        let clock: wardcrf_server::Clock = Arc::new(move || clock_now.load(Ordering::SeqCst));
        let (app, backfilled, projections, schema) = match backend {
            Backend::Sqlite => {
                let storage =
                    wardcrf_server::SqliteStorage::open(&dir.join("repository.db")).unwrap();
                let (app, n, p) = app_over(storage, cases, tokens, clock, lagging);
                (app, n, p, None)
            }
            Backend::Postgres(url) => {
                let schema = PgSchema::new(url, name);
                let (app, n, p) = app_over(schema.storage(), cases, tokens, clock, lagging);
                (app, n, p, Some(schema))
            }
        };
        let addr = serve_in_background(app, wardcrf_server::serve::Limits::default());
        TestServer {
            addr,
            admin,
            metrics,
            now,
            dir,
            backfilled,
            projections,
            _schema: schema,
        }
    }

    /// An in-process server over a pool of up to `connections` storage connections, as the
    /// binary serves (requests of different sites, and a site's reads, run side by side).
    pub fn start_pooled(backend: &Backend, name: &str, connections: usize) -> TestServer {
        let dir = temp_dir(name);
        let admin = wardcrf_server::secret::new_token().unwrap();
        let now = Arc::new(AtomicU64::new(START));
        let clock_now = now.clone();
        let clock: wardcrf_server::Clock = Arc::new(move || clock_now.load(Ordering::SeqCst));
        let metrics = wardcrf_server::secret::new_token().unwrap();
        let ((app, projections), schema) = match backend {
            Backend::Sqlite => {
                let db = dir.join("repository.db");
                let pool = wardcrf_server::HubPool::new(
                    Box::new(move || wardcrf_server::SqliteStorage::open(&db)),
                    connections,
                )
                .unwrap();
                let state = wardcrf_server::AppState::with_pool(pool, &admin, clock)
                    .with_metrics_token(&metrics);
                (pooled_parts(state), None)
            }
            Backend::Postgres(url) => {
                let schema = PgSchema::new(url, name);
                let config = schema.config();
                let pool = wardcrf_server::HubPool::new(
                    Box::new(move || wardcrf_server::PostgresStorage::connect_with(&config)),
                    connections,
                )
                .unwrap();
                let state = wardcrf_server::AppState::with_pool(pool, &admin, clock)
                    .with_metrics_token(&metrics);
                (pooled_parts(state), Some(schema))
            }
        };
        let addr = serve_in_background(app, wardcrf_server::serve::Limits::default());
        TestServer {
            addr,
            admin,
            metrics,
            now,
            dir,
            backfilled: 0,
            projections,
            _schema: schema,
        }
    }

    /// A second connection to this server's storage.
    pub fn storage(&self) -> Storage {
        match &self._schema {
            None => {
                let path = self.dir.join("repository.db");
                Storage::Sqlite(wardcrf_server::SqliteStorage::open(&path).unwrap(), path)
            }
            Some(schema) => {
                Storage::Postgres(Box::new(schema.storage()), Box::new(schema.config()))
            }
        }
    }

    pub fn admin_post(&self, path: &str, body: &Value) -> Resp {
        post_json(self.addr, path, Some(&self.admin), body)
    }

    pub fn admin_get(&self, path: &str) -> Resp {
        get(self.addr, path, Some(&self.admin))
    }

    pub fn site(&self, site_id: &str) {
        let r = self.admin_post(
            "/api/admin/sites",
            &serde_json::json!({"site_id": site_id, "name": format!("Site {site_id}")}),
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
    }

    pub fn code(&self, site_id: &str) -> String {
        let r = self.admin_post(
            "/api/admin/enroll-codes",
            &serde_json::json!({"site_id": site_id}),
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["code"].as_str().unwrap().to_string()
    }

    /// Enrols `device_id` at `site_id`; returns its token.
    pub fn enroll(&self, site_id: &str, device_id: &str) -> String {
        self.enrolment(site_id, device_id).token.clone()
    }

    /// Enrols `device_id` at `site_id`; the repository's answer, as a device reads it.
    pub fn enrolment(&self, site_id: &str, device_id: &str) -> wardcrf_core::sync::Enrolment {
        let code = self.code(site_id);
        let r = post_json(
            self.addr,
            "/api/enroll",
            None,
            &serde_json::json!({"code": code, "device_id": device_id}),
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
        serde_json::from_slice(&r.raw).unwrap()
    }

    /// Where this server's storage is (see [`StorageAt`]).
    pub fn storage_at(&self) -> StorageAt {
        match &self._schema {
            None => StorageAt::Sqlite(self.dir.join("repository.db")),
            Some(schema) => StorageAt::Postgres(Box::new(schema.config())),
        }
    }

    /// Makes `id` a site nurse of `site` (see [`StorageAt::ward_staff`]).
    pub fn ward_staff(&self, site: &str, id: &str) {
        self.storage_at().ward_staff(site, id);
    }
}

impl TestServer {
    /// Damages case `case_id`'s stored document straight in the server's storage, as an older
    /// bug or a disk fault would leave it: the document followed by 64 zero bytes, which the
    /// strict load refuses. Bypasses every check of the API; returns the damaged bytes.
    pub fn damage_document(&self, case_id: &str) -> Vec<u8> {
        fn damage<S: wardcrf_core::repository::HubStorage>(mut s: S, case_id: &str) -> Vec<u8>
        where
            S::Error: std::fmt::Debug,
        {
            let stored = s.case(case_id).unwrap().expect("the case is stored");
            let mut doc = stored.doc;
            doc.extend_from_slice(&[0; 64]);
            let put = s
                .put_case(
                    case_id,
                    &stored.site,
                    &stored.form_id,
                    &doc,
                    Some(stored.seq),
                )
                .unwrap();
            assert!(matches!(put, wardcrf_core::repository::Put::Stored(_)));
            doc
        }
        match &self._schema {
            Some(schema) => damage(schema.storage(), case_id),
            None => damage(
                wardcrf_server::SqliteStorage::open(&self.dir.join("repository.db")).unwrap(),
                case_id,
            ),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let tag = wardcrf_server::secret::new_token().unwrap();
    let dir = std::env::temp_dir().join(format!("wardcrf-server-{name}-{}", &tag[..8]));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A device's line to a [`TestServer`]: each exchange posted as JSON to /api/sync, the
/// roster read from /api/device/roster and online sign-ins posted to
/// /api/device/staff/sign-in, as the device's HTTPS client does.
pub struct Http {
    pub addr: SocketAddr,
    pub token: String,
}

impl Http {
    /// A refusal as the device's client reads it.
    fn refused(r: &Resp) -> wardcrf_core::sync::TransportError {
        wardcrf_core::sync::TransportError::Refused(format!("{} {}", r.status, r.code()))
    }
}

impl wardcrf_core::sync::Transport for Http {
    fn exchange(
        &self,
        request: &wardcrf_core::sync::SyncRequest,
    ) -> Result<wardcrf_core::sync::SyncResponse, wardcrf_core::sync::TransportError> {
        let body = serde_json::to_vec(request).unwrap();
        let r = request_with(
            self.addr,
            "POST",
            "/api/sync",
            Some(&self.token),
            &[],
            Some(&body),
        );
        if r.status != 200 {
            return Err(Self::refused(&r));
        }
        Ok(serde_json::from_slice(&r.raw).unwrap())
    }

    fn roster(
        &self,
    ) -> Result<Option<wardcrf_core::staff::Roster>, wardcrf_core::sync::TransportError> {
        let r = get(
            self.addr,
            wardcrf_core::staff::ROSTER_PATH,
            Some(&self.token),
        );
        if r.status != 200 {
            return Err(Self::refused(&r));
        }
        Ok(Some(serde_json::from_slice(&r.raw).unwrap()))
    }

    fn sign_in(
        &self,
        sign_in: &wardcrf_core::staff::StaffSignIn,
    ) -> Result<wardcrf_core::staff::StaffGrant, wardcrf_core::sync::TransportError> {
        let body = serde_json::to_vec(sign_in).unwrap();
        let r = request(
            self.addr,
            "POST",
            wardcrf_core::staff::SIGN_IN_PATH,
            Some(&self.token),
            Some(&body),
        );
        if r.status != 200 {
            return Err(Self::refused(&r));
        }
        Ok(serde_json::from_slice(&r.raw).unwrap())
    }
}

/// Where a [`TestServer`]'s storage is, to connect to it when needed (a device adds the
/// staff it signs in as).
#[derive(Clone)]
pub enum StorageAt {
    Sqlite(std::path::PathBuf),
    Postgres(Box<postgres::Config>),
}

/// The password of a ward staff member made by [`TestServer::ward_staff`]: the one the
/// device store's `sign_in_for_tests` wraps its key with.
pub fn test_password(id: &str) -> String {
    format!("test password {id}")
}

impl StorageAt {
    /// Makes `id` a site nurse of `site` (once; an existing user is left as is), with
    /// [`test_password`] hashed cheaply (one PBKDF2 iteration: tests only) and the display
    /// name `Test <id>` (as `sign_in_for_tests` names them on the device).
    pub fn ward_staff(&self, site: &str, id: &str) {
        fn add<S: wardcrf_server::Repository>(mut s: S, site: &str, id: &str) {
            let hash = wardcrf_server::console::hash_password(&test_password(id), 1).unwrap();
            s.create_staff(&wardcrf_server::repository::StaffRecord {
                username: id.to_string(),
                role: "site_nurse".into(),
                site_id: Some(site.to_string()),
                display_name: format!("Test {id}"),
                credential_epoch: 0,
                password_hash: hash,
                failed_logins: 0,
                locked_until: None,
                disabled: false,
                created_at: START,
            })
            .unwrap();
        }
        match self {
            StorageAt::Sqlite(path) => {
                add(wardcrf_server::SqliteStorage::open(path).unwrap(), site, id)
            }
            StorageAt::Postgres(config) => add(
                wardcrf_server::PostgresStorage::connect_with(config).unwrap(),
                site,
                id,
            ),
        }
    }
}

/// A ward device enrolled at a [`TestServer`], signed in as its site's nurse ([`nurse_of`],
/// whom the repository knows); its store is removed when dropped.
pub struct Device {
    pub store: wardcrf_core::CaseStore,
    pub http: Http,
    /// Its site.
    pub site: String,
    /// The repository's storage, where the staff it signs in as are added.
    pub storage: StorageAt,
    dir: std::path::PathBuf,
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The site nurse a [`device`] of `site` signs in as: `nurse-<site>` (a staff id names one
/// person of one site).
pub fn nurse_of(site: &str) -> String {
    format!("nurse-{site}")
}

/// A new device store enrolled at `site` (its token only: the store is not told of the
/// enrolment), signed in as the site's nurse ([`nurse_of`]).
pub fn device(server: &TestServer, site: &str, name: &str) -> Device {
    device_at(server.addr, &server.admin, server.storage_at(), site, name)
}

/// [`device`] of the repository at `addr` (a server binary, say), enrolled with a code made
/// with the admin token `admin`; its staff are added to the storage at `storage`.
pub fn device_at(
    addr: SocketAddr,
    admin: &str,
    storage: StorageAt,
    site: &str,
    name: &str,
) -> Device {
    let dir = temp_dir(name).join("store");
    let store = wardcrf_core::CaseStore::create(
        &dir,
        &wardcrf_core::Passphrase::insecure_for_tests("p", 10),
    )
    .unwrap();
    let code = post_json(
        addr,
        "/api/admin/enroll-codes",
        Some(admin),
        &serde_json::json!({"site_id": site}),
    );
    assert_eq!(code.status, 201, "{:?}", code.body);
    let enrolled = post_json(
        addr,
        "/api/enroll",
        None,
        &serde_json::json!({"code": code.body["code"], "device_id": store.device_id()}),
    );
    assert_eq!(enrolled.status, 201, "{:?}", enrolled.body);
    let token = enrolled.body["token"].as_str().unwrap().to_string();
    let mut device = Device {
        store,
        http: Http { addr, token },
        site: site.to_string(),
        storage,
        dir: dir.parent().unwrap().to_path_buf(),
    };
    device.sign_in(&nurse_of(site));
    device
}

impl Device {
    pub fn sync(
        &mut self,
    ) -> Result<wardcrf_core::sync::SyncSummary, wardcrf_core::sync::SyncError> {
        wardcrf_core::sync::sync(&mut self.store, &self.http, &mut |_| {})
    }

    /// Signs `user` in on this device (a site nurse of its site, added to the repository
    /// when missing), unless they are signed in already.
    pub fn sign_in(&mut self, user: &str) {
        if self.store.signed_in().is_some_and(|s| s.staff.id == user) {
            return;
        }
        self.storage.ward_staff(&self.site, user);
        self.store.sign_in_for_tests(user).unwrap();
    }

    /// Sets a case-level field as `user` (signed in first).
    pub fn set_by(&mut self, case: &str, field: &str, v: Value, user: &str, reason: Option<&str>) {
        self.sign_in(user);
        self.store
            .set_value(case, &wardcrf_core::FieldPath::field(field), v, reason)
            .unwrap();
    }

    /// Sets a case-level field as the site's nurse ([`nurse_of`]).
    pub fn set(&mut self, case: &str, field: &str, v: Value, reason: Option<&str>) {
        let nurse = nurse_of(&self.site);
        self.set_by(case, field, v, &nurse, reason);
    }

    pub fn value(&mut self, case: &str, field: &str) -> Value {
        self.store.case(case).unwrap().values[field].clone()
    }
}

/// Serves `app` on a loopback port through the server's own accept loop (timeouts and
/// connection limit as `limits` say), on a runtime of its own thread; returns the address.
pub fn serve_in_background(app: axum::Router, limits: wardcrf_server::serve::Limits) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            wardcrf_server::serve::serve(listener, app, None, limits, std::future::pending())
                .await
                .unwrap();
        });
    });
    rx.recv().unwrap()
}

/// The `wardcrf-server` binary running on `--data` (and the flags given), once it listens;
/// stopped when dropped.
pub struct ServerBinary {
    pub child: Running,
    pub addr: SocketAddr,
    pub data: std::path::PathBuf,
    /// The admin token it wrote (or found) in its data directory.
    pub admin: String,
    /// The metrics token it wrote (or found) in its data directory.
    pub metrics: String,
}

impl ServerBinary {
    pub fn start(data: &std::path::Path, extra: &[&str]) -> ServerBinary {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wardcrf-server"));
        command
            .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(extra)
            .stderr(std::process::Stdio::inherit());
        let started = start_until(&mut command, "listening on http://");
        let read = |name: &str| {
            std::fs::read_to_string(data.join(name))
                .unwrap()
                .trim()
                .to_string()
        };
        ServerBinary {
            addr: started.address.parse().unwrap(),
            child: started.child,
            data: data.to_path_buf(),
            admin: read("admin-token"),
            metrics: read("metrics-token"),
        }
    }
}

/// Calls `ready` until it says true, for at most `secs` seconds (then fails with `what`).
pub fn poll_until(secs: u64, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "never {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
