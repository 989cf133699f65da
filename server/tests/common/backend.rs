//! The test helpers shared by the server's integration tests (`server/tests/common`) and the
//! system tests (`tests/common`, which include this file by path): the backend a test runs
//! the repository on ([`Backend`]), names unique to a test run ([`unique`]), throwaway
//! PostgreSQL databases ([`PgDatabase`]) and child processes reaped on drop ([`Running`]).
//! Only `std` and the `postgres` client: both test crates build it as is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the repository keeps its data in a test.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL server URL; each test gets a schema or database of its own in it.
    Postgres(String),
}

/// The variable naming the PostgreSQL server of the tests (tests/run starts a throwaway one).
pub const DATABASE_URL_VAR: &str = "WARDCRF_TEST_DATABASE_URL";

impl Backend {
    /// PostgreSQL at `$WARDCRF_TEST_DATABASE_URL`; fails the test (never skips) without it.
    pub fn postgres_from_env() -> Backend {
        match std::env::var(DATABASE_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => Backend::Postgres(url),
            _ => panic!(
                "{DATABASE_URL_VAR} is not set: the PostgreSQL tests need a server, e.g. \
                 {DATABASE_URL_VAR}=postgres://postgres@127.0.0.1:55432/wardcrf_test \
                 (bash tests/run starts a throwaway one)"
            ),
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this test run, usable as a directory, schema or database name:
/// `t_`, `prefix` in lowercase (other characters as `_`, at most 30), the process id, a
/// counter and the clock's nanoseconds.
pub fn unique(prefix: &str) -> String {
    let clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "t_{clean}_{}_{}_{nanos:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh database on the PostgreSQL server (for the binary, which takes a plain URL),
/// dropped with everything in it.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn new(url: &str, prefix: &str) -> PgDatabase {
        let name = unique(prefix);
        let mut client = postgres::Client::connect(url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {DATABASE_URL_VAR}: {e}"));
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        // Same server, same credentials, the new database: replace the URL's last path part.
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (url, String::new()),
        };
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        PgDatabase {
            admin_url: url.to_string(),
            url: format!("{base}/{name}{query}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A running child process (a server binary), killed and reaped when dropped (also when an
/// assertion fails).
#[derive(Debug)]
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server binary that has said it is ready (see [`start_until`]).
#[derive(Debug)]
pub struct Listening {
    /// The process, killed and reaped when dropped.
    pub child: Running,
    /// What follows the ready prefix on its line (the address it listens on).
    pub address: String,
    /// Every line it printed on standard output, up to and including that one.
    pub lines: Vec<String>,
    /// The rest of its standard output.
    pub stdout: std::io::BufReader<std::process::ChildStdout>,
}

/// Starts `command` with its standard output piped and reads that output until a line starts
/// with `ready` (e.g. `listening on http://`); fails with what it printed if it exits first.
/// Standard error is left as the caller set it.
pub fn start_until(command: &mut std::process::Command, ready: &str) -> Listening {
    use std::io::BufRead;
    let mut child = Running(
        command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the server binary"),
    );
    let stdout = child.0.stdout.take().expect("its standard output is piped");
    let mut stdout = std::io::BufReader::new(stdout);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let read = stdout
            .read_line(&mut line)
            .expect("read its standard output");
        assert!(read > 0, "the server exited before it was ready: {lines:?}");
        let line = line.trim_end().to_string();
        if let Some(rest) = line.strip_prefix(ready) {
            let address = rest.trim().to_string();
            lines.push(line);
            return Listening {
                child,
                address,
                lines,
                stdout,
            };
        }
        lines.push(line);
    }
}

/// An `application/x-www-form-urlencoded` body of `pairs` (a console form as a browser sends it).
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}
