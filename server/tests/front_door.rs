//! The repository's front door on SQLite: credentials checked before a body is read, body
//! limits, connection timeouts and limit, sign-in throttling, and private files.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wardcrf_server::console::{SignInGuard, SignInSettings};
use wardcrf_server::serve::Limits;

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

/// A server on the real accept loop ([`wardcrf_server::serve::serve`]) with `limits`, over a
/// fresh SQLite repository; returns its address and admin token.
fn start_door(name: &str, limits: wardcrf_server::serve::Limits) -> (SocketAddr, String) {
    start_door_with(name, limits, Arc::new(SignInGuard::default()))
}

/// [`start_door`] throttling sign-ins with `guard`.
fn start_door_with(
    name: &str,
    limits: wardcrf_server::serve::Limits,
    guard: Arc<SignInGuard>,
) -> (SocketAddr, String) {
    let dir = temp_dir(name);
    let admin = wardcrf_server::secret::new_token().unwrap();
    let storage = wardcrf_server::SqliteStorage::open(&dir.join("repository.db")).unwrap();
    let state = wardcrf_server::AppState::new(storage, &admin, wardcrf_server::system_clock());
    let app = wardcrf_server::router_with(state, guard);
    (serve_in_background(app, limits), admin)
}

fn limits(header: u64, body: u64, idle: u64, max: usize) -> wardcrf_server::serve::Limits {
    wardcrf_server::serve::Limits {
        header_timeout: Duration::from_secs(header),
        body_timeout: Duration::from_secs(body),
        idle_timeout: Duration::from_secs(idle),
        max_connections: max,
    }
}

/// How long until the server closes `stream` (reads until end of file), at most `max`.
fn closed_after(stream: &mut TcpStream, max: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(max)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed());
            }
            Err(_) => return None,
        }
        if start.elapsed() > max {
            return None;
        }
    }
}

#[test]
fn half_sent_headers_and_silent_connections_are_closed_after_the_header_timeout() {
    let (addr, _) = start_door("door-header", limits(1, 30, 30, 64));
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let mut silent = TcpStream::connect(addr).unwrap();
    let t = closed_after(&mut half, Duration::from_secs(10)).expect("closed");
    assert!(t < Duration::from_secs(4), "{t:?}");
    let t = closed_after(&mut silent, Duration::from_secs(10)).expect("closed");
    assert!(t < Duration::from_secs(4), "{t:?}");
}

#[test]
fn a_kept_alive_connection_waits_the_idle_timeout_not_the_header_timeout() {
    let (addr, _) = start_door("door-idle", limits(1, 30, 3, 64));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t = closed_after(&mut stream, Duration::from_secs(10)).expect("closed");
    assert!(
        t > Duration::from_millis(2000) && t < Duration::from_secs(6),
        "{t:?}"
    );
}

#[test]
fn a_body_that_stalls_is_refused_after_the_body_timeout() {
    let (addr, _) = start_door("door-body", limits(5, 1, 30, 64));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            b"POST /api/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"code\": ",
        )
        .unwrap();
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn idle_clients_at_the_connection_limit_only_delay_health_until_they_time_out() {
    let (addr, _) = start_door("door-limit", limits(2, 30, 30, 4));
    assert_eq!(get(addr, "/api/health", None).status, 200);
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    // A fifth connection waits for a free slot: no answer while the four hold theirs...
    let mut waiting = TcpStream::connect(addr).unwrap();
    waiting
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut buf = [0u8; 4096];
    assert!(waiting.read(&mut buf).is_err(), "answered beyond the limit");
    // ...and its answer once they time out (2 s after they connected).
    let start = Instant::now();
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = waiting.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    // Clients that go away free their slots at once.
    let more: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    drop(more);
    drop(idle);
    let start = Instant::now();
    assert_eq!(get(addr, "/api/health", None).status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

const PASSWORD: &str = "correct horse battery staple";

fn add_staff(addr: SocketAddr, admin: &str, username: &str) {
    let body = serde_json::json!({"username": username, "role": "admin", "password": PASSWORD});
    let r = post_json(addr, "/api/admin/staff", Some(admin), &body);
    assert_eq!(r.status, 201, "{:?}", r.body);
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A sign-in through the form (its page first, for the form's token and cookie).
fn try_login(addr: SocketAddr, user: &str, password: &str) -> Resp {
    let page = get(addr, "/login", None);
    assert_eq!(page.status, 200);
    let text = String::from_utf8_lossy(&page.raw).to_string();
    let at = text.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let token = &text[at..at + text[at..].find('"').unwrap()];
    let body = format!(
        "csrf={token}&next=%2F&username={}&password={}",
        url_encode(user),
        url_encode(password)
    );
    request_with(
        addr,
        "POST",
        "/login",
        None,
        &[
            ("Cookie", &format!("wardcrf_login={token}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(body.as_bytes()),
    )
}

/// A sign-in answer's page without its fresh form token (which differs every time).
fn page_without_token(r: &Resp) -> String {
    let text = String::from_utf8_lossy(&r.raw).to_string();
    let at = text.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let end = at + text[at..].find('"').unwrap();
    format!("{}{}", &text[..at], &text[end..])
}

fn generous() -> SignInSettings {
    SignInSettings {
        address_burst: 1000,
        name_burst: 1000,
        ..SignInSettings::default()
    }
}

#[test]
fn a_locked_account_answers_as_an_unknown_user_name() {
    let guard = Arc::new(SignInGuard::new(generous()));
    let (addr, admin) = start_door_with("door-enum", Limits::default(), guard.clone());
    add_staff(addr, &admin, "ana");
    for _ in 0..5 {
        assert_eq!(try_login(addr, "ana", "wrong password").status, 401);
    }
    // Locked now: the right password, a wrong one, and an unknown name answer alike.
    let locked_right = try_login(addr, "ana", PASSWORD);
    let locked_wrong = try_login(addr, "ana", "wrong password");
    let unknown = try_login(addr, "nobody", "wrong password");
    for r in [&locked_right, &locked_wrong] {
        assert_eq!(r.status, unknown.status);
        assert_eq!(page_without_token(r), page_without_token(&unknown));
        assert!(!r.head.contains("wardcrf_session="));
    }
    assert_eq!(unknown.status, 401);
    // Each attempt cost one hash, known or not, locked or not.
    assert_eq!(guard.hashes_computed(), 8);
}

#[test]
fn sign_ins_beyond_an_addresss_allowance_get_429_before_any_hash() {
    let guard = Arc::new(SignInGuard::new(SignInSettings {
        address_burst: 3,
        address_every: Duration::from_secs(600),
        ..generous()
    }));
    let (addr, admin) = start_door_with("door-address", Limits::default(), guard.clone());
    add_staff(addr, &admin, "ana");
    for name in ["u1", "u2", "u3"] {
        assert_eq!(try_login(addr, name, "wrong password").status, 401);
    }
    assert_eq!(guard.hashes_computed(), 3);
    // The fourth from this address, even for a known user with her password: 429, no hash.
    let r = try_login(addr, "ana", PASSWORD);
    assert_eq!(r.status, 429);
    assert!(r.head.contains("retry-after: "), "{}", r.head);
    assert!(!r.head.contains("wardcrf_session="));
    assert!(String::from_utf8_lossy(&r.raw).contains("Too many sign-in attempts"));
    assert_eq!(guard.hashes_computed(), 3);
}

#[test]
fn sign_ins_beyond_a_user_names_allowance_get_429_and_other_names_go_on() {
    let guard = Arc::new(SignInGuard::new(SignInSettings {
        name_burst: 2,
        name_every: Duration::from_secs(600),
        ..generous()
    }));
    let (addr, admin) = start_door_with("door-name", Limits::default(), guard.clone());
    add_staff(addr, &admin, "ana");
    add_staff(addr, &admin, "ben");
    // A known and an unknown name are throttled alike.
    for name in ["ana", "nobody"] {
        for _ in 0..2 {
            assert_eq!(try_login(addr, name, "wrong password").status, 401);
        }
        assert_eq!(try_login(addr, name, "wrong password").status, 429);
    }
    assert_eq!(guard.hashes_computed(), 4);
    // Another user signs in; successes do not use up her allowance.
    for _ in 0..3 {
        assert_eq!(try_login(addr, "ben", PASSWORD).status, 303);
    }
    assert_eq!(guard.hashes_computed(), 7);
}

#[test]
fn a_password_check_does_not_hold_the_database_connection() {
    // One database connection (AppState::new): while a sign-in's hash runs, admin requests
    // that need the connection still answer.
    let (addr, admin) = start_door("door-lease", Limits::default());
    add_staff(addr, &admin, "ana");
    let start = Instant::now();
    assert_eq!(try_login(addr, "ana", "wrong password").status, 401);
    let hash_time = start.elapsed();
    assert!(hash_time > Duration::from_millis(100), "{hash_time:?}");
    let login = std::thread::spawn(move || try_login(addr, "ana", "wrong password").status);
    std::thread::sleep(hash_time / 4);
    let start = Instant::now();
    let r = get(addr, "/api/admin/sites", Some(&admin));
    let waited = start.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        waited < hash_time / 3,
        "an admin request waited {waited:?} during a sign-in of {hash_time:?}"
    );
    assert_eq!(login.join().unwrap(), 401);
}

const BIN: &str = env!("CARGO_BIN_EXE_wardcrf-server");

/// Runs the real binary on `data` until it listens; returns its address, what it printed on
/// standard error by then (read after it is stopped), and stops it.
fn run_binary(data: &std::path::Path, extra: &[&str], check: impl FnOnce(SocketAddr)) -> String {
    let mut command = std::process::Command::new(BIN);
    command
        .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(std::process::Stdio::piped());
    let mut started = start_until(&mut command, "listening on http://");
    check(started.address.parse().unwrap());
    let child = &mut started.child.0;
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_its_files_are_private_to_the_server_user() {
    let data = temp_dir("door-modes").join("a").join("data");
    let stderr = run_binary(&data, &["--demo"], |addr| {
        assert_eq!(get(addr, "/api/health", None).status, 200);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(data.parent().unwrap()), 0o700);
        for name in [
            "repository.db",
            "repository.db-wal",
            "repository.db-shm",
            "admin-token",
            "metrics-token",
            "pseudonym-key",
            "demo-login",
        ] {
            let path = data.join(name);
            assert!(path.exists(), "{name}");
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    });
    assert!(!stderr.contains(" WARN "), "{stderr}");
}

#[cfg(unix)]
#[test]
fn looser_modes_are_named_in_a_warning_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let data = temp_dir("door-loose");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = data.join("repository.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stderr = run_binary(&data, &[], |addr| {
        assert_eq!(get(addr, "/api/health", None).status, 200);
    });
    // A log line of level WARN each (the default text format).
    let warned = |what: String| {
        stderr
            .lines()
            .any(|l| l.contains(" WARN ") && l.contains(&what))
    };
    assert!(
        warned(format!("{} has mode 0755", data.display())),
        "{stderr}"
    );
    assert!(
        warned(format!("{} has mode 0644", db.display())),
        "{stderr}"
    );
    // Warned, never changed or refused.
    assert_eq!(mode(&db), 0o644);
}

#[test]
fn the_binary_takes_the_front_door_flags_and_closes_slow_headers() {
    let help = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--header-timeout",
        "--body-timeout",
        "--idle-timeout",
        "--max-connections",
    ] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
    let data = temp_dir("door-flags");
    run_binary(
        &data,
        &["--header-timeout", "1", "--max-connections", "16"],
        |addr| {
            let mut half = TcpStream::connect(addr).unwrap();
            half.write_all(b"GET /api/health HTTP/1.1\r\n").unwrap();
            let t = closed_after(&mut half, Duration::from_secs(10)).expect("closed");
            assert!(t < Duration::from_secs(4), "{t:?}");
            assert_eq!(get(addr, "/api/health", None).status, 200);
        },
    );
}
