//! Shared by the integration tests: a plain blocking HTTP/1.1 client on `TcpStream` and an
//! in-process server on 127.0.0.1:0 with a clock the test can move.
#![allow(clippy::unwrap_used, dead_code)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const START: u64 = 1_800_000_000;

/// A response: status and body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub raw: Vec<u8>,
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
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or(b"");
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
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
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    Resp {
        status,
        body: json,
        raw: body,
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

/// An in-process server on a fresh SQLite database in a temporary directory.
pub struct TestServer {
    pub addr: SocketAddr,
    pub admin: String,
    pub now: Arc<AtomicU64>,
    pub dir: std::path::PathBuf,
}

impl TestServer {
    pub fn start(name: &str) -> TestServer {
        let dir = temp_dir(name);
        let storage = wardcrf_server::SqliteStorage::open(&dir.join("repository.db")).unwrap();
        let admin = wardcrf_server::secret::new_token().unwrap();
        let now = Arc::new(AtomicU64::new(START));
        let clock_now = now.clone();
        let clock: wardcrf_server::Clock = Arc::new(move || clock_now.load(Ordering::SeqCst));
        let app = wardcrf_server::router(wardcrf_server::AppState::new(storage, &admin, clock));
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
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        TestServer {
            addr,
            admin,
            now,
            dir,
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
        let code = self.code(site_id);
        let r = post_json(
            self.addr,
            "/api/enroll",
            None,
            &serde_json::json!({"code": code, "device_id": device_id}),
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["token"].as_str().unwrap().to_string()
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
