//! Against a tiny HTTP responder on a loopback socket: one canned answer per connection.

use super::*;
use crate::sync::{CaseChanges, PROTOCOL};
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

const TOKEN: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";

/// What the responder received.
#[derive(Debug)]
struct Received {
    method: String,
    path: String,
    authorization: Option<String>,
    encoding: Option<String>,
    body: Vec<u8>,
}

/// Serves `answers` (status line + JSON body), one per connection, in order; returns the
/// base URL and the requests received.
fn responder(answers: Vec<(u16, String)>) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, body) in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            let path = parts.next().unwrap_or_default().to_string();
            let mut length = 0;
            let mut authorization = None;
            let mut encoding = None;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "authorization" => authorization = Some(value.trim().to_string()),
                    "content-encoding" => encoding = Some(value.trim().to_string()),
                    _ => {}
                }
            }
            let mut body_in = vec![0; length];
            reader.read_exact(&mut body_in).unwrap();
            let _ = tx.send(Received {
                method,
                path,
                authorization,
                encoding,
                body: body_in,
            });
            let mut stream = reader.into_inner();
            let extra = if status == 302 {
                "Location: https://elsewhere.example/api/sync\r\n"
            } else {
                ""
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, rx)
}

fn request() -> SyncRequest {
    SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 3,
        push: vec![CaseChanges {
            case_id: "c1".into(),
            form_id: "icrown-core".into(),
            changes: vec![1, 2, 3],
            heads: vec!["ab".repeat(32)],
        }],
    }
}

fn error_body(code: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

fn assert_no_token(e: &TransportError) {
    assert!(!e.to_string().contains(TOKEN), "token in error: {e}");
    assert!(!format!("{e:?}").contains(TOKEN), "token in error: {e:?}");
}

#[test]
fn posts_the_request_with_the_token_and_reads_the_response() {
    let response = SyncResponse {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 9,
        more: false,
        cases: vec![CaseChanges {
            case_id: "c2".into(),
            form_id: "icrown-core".into(),
            changes: vec![4, 5],
            heads: vec!["cd".repeat(32)],
        }],
        repush: vec!["c3".into()],
    };
    let (base, rx) = responder(vec![(200, serde_json::to_string(&response).unwrap())]);
    let t = HttpTransport::new(&format!("{base}/"), TOKEN).unwrap();
    assert_eq!(t.base_url(), base);
    assert!(!format!("{t:?}").contains(TOKEN));
    assert_eq!(t.exchange(&request()).unwrap(), response);
    let got = rx.recv().unwrap();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/api/sync");
    assert_eq!(got.authorization, Some(format!("Bearer {TOKEN}")));
    let sent = SyncRequest::from_binary(&got.body).unwrap();
    assert_eq!(sent, request());
    assert_eq!(got.encoding, None, "a small body goes as it is");
}

#[test]
fn bundled_roots_are_all_usable_and_the_default_on_android_only() {
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
    assert!(roots.len() > 100, "{}", roots.len());
    for der in roots {
        assert!(reqwest::Certificate::from_der(der).is_ok());
    }
    let options = HttpOptions {
        roots: Roots::Bundled,
        ..HttpOptions::default()
    };
    assert!(HttpTransport::with_options("https://crf.example.org", TOKEN, &options).is_ok());
    assert_eq!(
        HttpOptions::default().roots == Roots::Bundled,
        cfg!(target_os = "android")
    );
}

#[test]
fn a_large_push_goes_gzip_compressed() {
    let response = SyncResponse {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 1,
        more: false,
        cases: Vec::new(),
        repush: Vec::new(),
    };
    let (base, rx) = responder(vec![(200, serde_json::to_string(&response).unwrap())]);
    let t = HttpTransport::new(&base, TOKEN).unwrap();
    let mut big = request();
    big.push[0].changes = b"automerge change bytes ".repeat(400);
    assert_eq!(t.exchange(&big).unwrap(), response);
    let got = rx.recv().unwrap();
    assert_eq!(got.encoding.as_deref(), Some("gzip"));
    let plain = crate::sync::gunzip(&got.body, 1 << 20).unwrap();
    assert!(
        got.body.len() < plain.len() / 4,
        "{} of {}",
        got.body.len(),
        plain.len()
    );
    assert_eq!(SyncRequest::from_binary(&plain).unwrap(), big);
}

#[test]
fn a_revoked_device_is_told_so() {
    let msg = "this device has been revoked by the site administrator; ask them to enroll it again";
    let (base, _rx) = responder(vec![
        (403, error_body("device_revoked", msg)),
        (403, r#"{"error": {"code": "device_revoked"}}"#.into()),
    ]);
    let t = HttpTransport::new(&base, TOKEN).unwrap();
    for _ in 0..2 {
        let e = t.exchange(&request()).unwrap_err();
        assert!(matches!(&e, TransportError::Revoked), "{e:?}");
        assert!(e.is_revoked());
        assert_no_token(&e);
    }
}

#[test]
fn refusals_carry_the_server_message_and_never_the_token() {
    let (base, _rx) = responder(vec![
        (401, error_body("unauthorized", "unknown device token")),
        (
            400,
            error_body("bad_case", &format!("case refused; you sent {TOKEN}")),
        ),
        (404, "not json".into()),
    ]);
    let t = HttpTransport::new(&base, TOKEN).unwrap();
    let e = t.exchange(&request()).unwrap_err();
    assert_eq!(
        e,
        TransportError::Refused("unknown device token (unauthorized, HTTP 401)".into())
    );
    assert!(!e.is_revoked());
    let e = t.exchange(&request()).unwrap_err();
    assert!(matches!(&e, TransportError::Refused(m) if m.contains("[redacted]")));
    assert_no_token(&e);
    let e = t.exchange(&request()).unwrap_err();
    assert!(
        matches!(&e, TransportError::Refused(m) if m.contains("HTTP 404")),
        "{e:?}"
    );
}

#[test]
fn server_failures_and_garbage_are_worth_retrying() {
    let (base, _rx) = responder(vec![
        (503, error_body("unavailable", "database busy")),
        (200, "<html>Wi-Fi login</html>".into()),
    ]);
    let t = HttpTransport::new(&base, TOKEN).unwrap();
    let e = t.exchange(&request()).unwrap_err();
    assert!(
        matches!(&e, TransportError::Unreachable(m) if m.contains("database busy")),
        "{e:?}"
    );
    let e = t.exchange(&request()).unwrap_err();
    assert!(matches!(&e, TransportError::Unreachable(_)), "{e:?}");
}

#[test]
fn redirects_are_not_followed() {
    let (base, rx) = responder(vec![(302, String::new())]);
    let t = HttpTransport::new(&base, TOKEN).unwrap();
    let e = t.exchange(&request()).unwrap_err();
    assert!(
        matches!(&e, TransportError::Refused(m) if m.contains("https://elsewhere.example")),
        "{e:?}"
    );
    rx.recv().unwrap();
    assert!(rx.recv().is_err(), "a second request was made");
}

#[test]
fn no_server_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let t = HttpTransport::new(&format!("http://{addr}"), TOKEN).unwrap();
    let e = t.exchange(&request()).unwrap_err();
    assert!(matches!(e, TransportError::Unreachable(_)), "{e:?}");
    assert_no_token(&e);
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let options = HttpOptions {
        request_timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    };
    let t = HttpTransport::with_options(&format!("http://{addr}"), TOKEN, &options).unwrap();
    let e = t.exchange(&request()).unwrap_err();
    assert!(
        matches!(&e, TransportError::Unreachable(m) if m.contains("timed out")),
        "{e:?}"
    );
    drop(listener);
}

#[test]
fn plain_http_only_on_this_machine() {
    for ok in [
        "https://crf.example-hospital.org",
        "https://crf.example-hospital.org:8443/wardcrf/",
        "http://127.0.0.1:8080",
        "http://localhost:3000",
        "http://[::1]:3000",
    ] {
        assert!(HttpTransport::new(ok, TOKEN).is_ok(), "{ok}");
    }
    for bad in [
        "http://crf.example-hospital.org",
        "http://10.0.0.5:8080",
        "http://localhost.example.org",
    ] {
        let e = HttpTransport::new(bad, TOKEN).unwrap_err();
        assert!(
            matches!(&e, TransportError::Refused(m) if m.contains("https://")),
            "{bad}: {e:?}"
        );
    }
    for bad in [
        "crf.example.org",
        "ftp://crf.example.org",
        "https://nurse:secret@crf.example.org",
        "https://crf.example.org/?x=1",
    ] {
        assert!(
            matches!(
                HttpTransport::new(bad, TOKEN),
                Err(TransportError::Refused(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_bad_ca_file_is_refused() {
    for pem in [&b"not a certificate"[..], b""] {
        let options = HttpOptions {
            ca_pem: Some(pem.to_vec()),
            ..HttpOptions::default()
        };
        assert!(matches!(
            HttpTransport::with_options("https://crf.example.org", TOKEN, &options),
            Err(TransportError::Refused(_))
        ));
    }
}

#[test]
fn enrolment_sends_the_code_and_returns_the_token() {
    let device = "0123456789abcdef0123456789abcdef";
    let (base, rx) = responder(vec![
        (
            201,
            json!({"device_id": device, "site_id": "jp-tokyo-01", "token": TOKEN}).to_string(),
        ),
        (
            410,
            error_body("code_used", "this enrolment code was already used"),
        ),
    ]);
    let e = enroll(&base, " CODE-123 ", device).unwrap();
    assert_eq!(e.site_id, "jp-tokyo-01");
    assert_eq!(e.token, TOKEN);
    assert!(!format!("{e:?}").contains(TOKEN));
    let got = rx.recv().unwrap();
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("POST", "/api/enroll")
    );
    assert_eq!(got.authorization, None);
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body, json!({"code": "CODE-123", "device_id": device}));
    let e = enroll(&base, "CODE-123", device).unwrap_err();
    assert!(
        matches!(&e, TransportError::Refused(m) if m.contains("already used")),
        "{e:?}"
    );
}

#[test]
fn admin_calls_use_get_and_post() {
    let (base, rx) = responder(vec![(200, "[]".into())]);
    let t = HttpTransport::new(&base, TOKEN).unwrap();
    assert_eq!(
        t.call(Method::Get, "/api/admin/devices", None).unwrap(),
        json!([])
    );
    let got = rx.recv().unwrap();
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("GET", "/api/admin/devices")
    );
    assert_eq!(got.authorization, Some(format!("Bearer {TOKEN}")));
}

#[test]
fn a_refused_staff_sign_in_says_why_in_a_type() {
    use crate::staff::StaffSignIn;
    use crate::sync::SignInRefusal;
    let (base, _rx) = responder(vec![
        (
            401,
            error_body("wrong_credentials", "the user id or password is wrong"),
        ),
        (
            429,
            error_body("locked_out", "too many wrong passwords: try again later"),
        ),
        (
            403,
            error_body("account_deactivated", "the account is deactivated"),
        ),
        (
            403,
            error_body("not_site_staff", "not staff of this device's site"),
        ),
    ]);
    let t = HttpTransport::new(&base, TOKEN).unwrap();
    let request = StaffSignIn {
        user: "sato".into(),
        password: zeroize::Zeroizing::new("a password".into()),
    };
    for expected in [
        SignInRefusal::WrongCredentials,
        SignInRefusal::LockedOut,
        SignInRefusal::AccountDeactivated,
        SignInRefusal::NotSiteStaff,
    ] {
        let e = t.sign_in(&request).unwrap_err();
        assert!(
            matches!(&e, TransportError::SignInRefused { refusal, .. } if *refusal == expected),
            "{e:?}"
        );
        assert!(!e.to_string().contains("a password"));
        assert_no_token(&e);
    }
}
