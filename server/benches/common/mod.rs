//! What the benchmarks share: the real `wardcrf-server` binary as a child process on
//! loopback with the admin calls a benchmark needs, and temporary directories.
//! Included by each benchmark with `mod common;` (not every benchmark uses every item).
#![allow(dead_code)]

use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use wardcrf_core::CaseStore;
use wardcrf_core::sync::{HttpTransport, Method, enroll};

/// A run-unique tag, so site ids never collide with an earlier run on the same database.
pub fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}", (nanos as u64) ^ u64::from(std::process::id()))
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("wardcrf-bench-{what}-{}", run_tag()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        // Private, as the server wants its data directory (it warns otherwise).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .expect("make the temp dir private");
        }
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The real server binary, killed and reaped when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: HttpTransport,
    data: TempDir,
}

impl Server {
    pub fn start(database_url: Option<&str>) -> Server {
        let data = TempDir::new("server");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardcrf-server"));
        cmd.arg("--data")
            .arg(&data.0)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        // Warnings and errors only, unless the runner asks for more: a line per request and per
        // exchange would bury the figures (the lines of one exchange cost microseconds).
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut child = cmd.spawn().expect("start wardcrf-server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("wardcrf-server exited before listening")
                .expect("read server output");
            if let Some(rest) = line.strip_prefix("listening on http://") {
                break rest.trim().parse().expect("a socket address");
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let token = std::fs::read_to_string(data.0.join("admin-token")).expect("admin token");
        let admin =
            HttpTransport::new(&format!("http://{addr}"), token.trim()).expect("admin transport");
        Server {
            child,
            addr,
            admin,
            data,
        }
    }

    /// The server's `GET /metrics` text (with the metrics token it wrote in its data
    /// directory).
    pub fn metrics(&self) -> String {
        let token = std::fs::read_to_string(self.data.0.join("metrics-token")).expect("token");
        let mut stream = std::net::TcpStream::connect(self.addr).expect("connect for /metrics");
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.addr,
            token.trim()
        )
        .expect("ask for /metrics");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read /metrics");
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(head.starts_with("HTTP/1.1 200"), "/metrics: {head}");
        body.to_string()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add_site(&self, site: &str) {
        self.admin
            .call(
                Method::Post,
                "/api/admin/sites",
                Some(&json!({"site_id": site, "name": format!("Bench {site}")})),
            )
            .expect("add a site");
    }

    /// Enrols a device store at `site` and signs the site's bench nurse in on it (a site
    /// nurse the repository knows: see [`Server::ward_staff`]); returns its token.
    pub fn enrol(&self, store: &mut CaseStore, site: &str) -> String {
        let code = self
            .admin
            .call(
                Method::Post,
                "/api/admin/enroll-codes",
                Some(&json!({"site_id": site})),
            )
            .expect("an enrolment code");
        let code = code["code"].as_str().expect("a code").to_string();
        let enrolment = enroll(&self.url(), &code, &store.device_id()).expect("enrol");
        store
            .set_sync_credential(&self.url(), &enrolment.token)
            .expect("keep the credential");
        let nurse = self.ward_staff(site);
        store.sign_in_for_tests(&nurse).expect("sign the nurse in");
        enrolment.token
    }

    /// The site nurse of `site` whom its bench devices sign in as (`n.<site>`), added to the
    /// repository when missing (a staff id names one person of one site). The password is
    /// the one `CaseStore::sign_in_for_tests` wraps the device's key with.
    pub fn ward_staff(&self, site: &str) -> String {
        let id: String = format!("n.{site}").chars().take(64).collect();
        // Refused (409) when another device of the site added them already; any other
        // failure shows as the site's pushes being refused.
        let _ = self.admin.call(
            Method::Post,
            "/api/admin/staff",
            Some(
                &json!({"username": id, "role": "site_nurse", "site_id": site,
                         "password": format!("test password {id}")}),
            ),
        );
        id
    }

    pub fn site_cases(&self, site: &str) -> u64 {
        let sites = self
            .admin
            .call(Method::Get, "/api/admin/sites", None)
            .expect("list sites");
        sites
            .as_array()
            .and_then(|a| a.iter().find(|s| s["site_id"] == site))
            .and_then(|s| s["cases"].as_u64())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
