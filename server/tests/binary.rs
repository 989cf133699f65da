//! The `wardcrf-server` binary: start-up, the admin token file, and the plain-HTTP guard.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_wardcrf-server");

/// The server binary once it listens: what it printed, and where it listens (stopped when
/// dropped).
struct Started {
    _server: Running,
    addr: std::net::SocketAddr,
    lines: Vec<String>,
}

fn start(data: &std::path::Path) -> Started {
    start_with(data, &[], "listening on http://")
}

fn start_with(data: &std::path::Path, extra: &[&str], ready: &str) -> Started {
    let mut command = Command::new(BIN);
    command
        .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::inherit());
    let started = start_until(&mut command, ready);
    Started {
        addr: started.address.parse().unwrap(),
        lines: started.lines,
        _server: started.child,
    }
}

#[test]
fn first_start_writes_a_private_admin_token_and_never_prints_it() {
    let dir = temp_dir("bin-token");
    let data = dir.join("data");
    let server = start(&data);
    let path = data.join("admin-token");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert_eq!(token.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(data.join("repository.db").exists());
    let out = server.lines.join("\n");
    assert!(out.contains(path.to_str().unwrap()), "{out}");
    assert!(!out.contains(&token));
    assert_ne!(server.addr.port(), 0);
    assert_eq!(get(server.addr, "/api/health", None).status, 200);
    let r = get(server.addr, "/api/admin/sites", Some(&token));
    assert_eq!(r.status, 200);
    let r = post_json(
        server.addr,
        "/api/admin/sites",
        Some(&token),
        &serde_json::json!({"site_id": "a", "name": "A"}),
    );
    assert_eq!(r.status, 201);
    drop(server);

    // A restart keeps the token and the data.
    let server = start(&data);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        token,
        "token kept"
    );
    let r = get(server.addr, "/api/admin/sites", Some(&token));
    assert_eq!(r.body[0]["site_id"], "a");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plain_http_on_a_non_loopback_address_is_refused() {
    let dir = temp_dir("bin-insecure");
    let out = Command::new(BIN)
        .args([
            "--data",
            dir.join("data").to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("use --tls-cert/--tls-key or --insecure-http"),
        "{err}"
    );
    assert!(!dir.join("data").exists(), "nothing created when refused");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tls_flags_must_come_together_and_name_readable_files() {
    let dir = temp_dir("bin-tls");
    let out = Command::new(BIN)
        .args([
            "--data",
            dir.to_str().unwrap(),
            "--tls-cert",
            "/nonexistent",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    let out = Command::new(BIN)
        .args([
            "--data",
            dir.to_str().unwrap(),
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/cert.pem"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn serves_https_with_the_given_certificate() {
    let dir = temp_dir("bin-https");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    // tests/run installs the openssl tool when it is missing; never skip silently.
    assert!(
        made.is_ok_and(|o| o.status.success()),
        "the openssl command is needed to make a test certificate (apt-get install openssl)"
    );
    let server = start_with(
        &dir.join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        "listening on https://",
    );

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&cert).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), "localhost".try_into().unwrap())
            .unwrap();
    let tcp = std::net::TcpStream::connect(server.addr).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    use std::io::{Read, Write};
    tls.write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(r#"{"status":"ok"}"#), "{text}");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
