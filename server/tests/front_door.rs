//! The repository's front door on SQLite: credentials checked before a body is read, body
//! limits, connection timeouts and limit, sign-in throttling, and private files.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Sends only a request's head (announcing `length` body bytes) and reads the answer: the
/// status, or `None` when none came within `wait`.
fn head_only(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    length: usize,
    wait: Duration,
) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|s| s.parse().ok())
}

const BIG: usize = 32 * 1024 * 1024;

#[test]
fn an_unknown_token_is_refused_before_the_body_is_sent() {
    let s = TestServer::start(&Backend::Sqlite, "door-token-first");
    let wait = Duration::from_secs(10);
    let json = ("Content-Type", "application/json");
    // No token, and a wrong one: 401 while the 32 MiB body is still unsent.
    assert_eq!(
        head_only(s.addr, "/api/sync", &[json], BIG, wait),
        Some(401)
    );
    let bad = format!("Bearer {}", "0".repeat(64));
    assert_eq!(
        head_only(
            s.addr,
            "/api/sync",
            &[json, ("Authorization", &bad)],
            BIG,
            wait
        ),
        Some(401)
    );
    // Admin POSTs alike (the staff API too).
    for path in [
        "/api/admin/sites",
        "/api/admin/enroll-codes",
        "/api/admin/staff",
    ] {
        assert_eq!(
            head_only(s.addr, path, &[json, ("Authorization", &bad)], BIG, wait),
            Some(401),
            "{path}"
        );
    }
    // An enrolment has no token: its body is small, so a large one is refused unread.
    assert_eq!(
        head_only(s.addr, "/api/enroll", &[json], 1024 * 1024, wait),
        Some(413)
    );
    // And a console form.
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    assert_eq!(head_only(s.addr, "/login", &[form], BIG, wait), Some(413));
}

#[test]
fn a_known_device_still_gets_its_body_read_and_limits_answered() {
    let s = TestServer::start(&Backend::Sqlite, "door-known");
    s.site("site-a");
    let token = s.enroll("site-a", "0123456789abcdef0123456789abcdef");
    // A well-formed empty exchange works.
    let r = post_json(
        s.addr,
        "/api/sync",
        Some(&token),
        &serde_json::json!({"protocol": wardcrf_core::sync::PROTOCOL, "cursor": 0, "push": []}),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Announcing more than 32 MiB: 413 without the body, with the limit in the message.
    let auth = format!("Bearer {token}");
    let json = ("Content-Type", "application/json");
    assert_eq!(
        head_only(
            s.addr,
            "/api/sync",
            &[json, ("Authorization", &auth)],
            BIG + 1,
            Duration::from_secs(10)
        ),
        Some(413)
    );
    let r = request(s.addr, "POST", "/api/enroll", None, Some(&vec![b' '; 5000]));
    assert_eq!((r.status, r.code()), (413, "too_large"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4 KiB"),
        "{:?}",
        r.body
    );
}
