//! The HTTPS transport: one sync exchange is one `POST {base}/api/sync` (see docs/http-api.md),
//! and a device joins the repository once with [`enroll`].
//!
//! TLS is rustls on ring. Server certificates are checked against the platform's roots, or, when
//! the hospital runs its own certificate authority, against that CA only
//! ([`HttpOptions::ca_pem`]). Plain `http://` is accepted for loopback addresses only (tests, a
//! repository on the same machine). Redirects are not followed: a device token is never sent to
//! an address other than the one enrolled with.
//!
//! The device token goes in the `Authorization` header and nowhere else: it is not part of any
//! error text, and [`HttpTransport`] and [`Enrolment`] redact it from `Debug`.

use super::{
    BinaryBody, Enrolment, MAX_ANSWER, SyncRequest, SyncResponse, Transport, TransportError,
};
use reqwest::blocking::{Client, Response};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;

/// How long to wait for a TCP/TLS connection to the repository.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one whole exchange may take (a batch of 100 cases on a slow ward network).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Which certificate authorities a repository's certificate may chain to when no hospital CA
/// (`ca_pem`) is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The operating system's trust store and verifier.
    Platform,
    /// Mozilla's roots, built in: for platforms whose verifier the app would first have to set
    /// up (Android's needs JNI initialisation), and the default there.
    Bundled,
}

impl Roots {
    /// [`Roots::Bundled`] on Android, [`Roots::Platform`] elsewhere.
    pub const DEFAULT: Roots = if cfg!(target_os = "android") {
        Roots::Bundled
    } else {
        Roots::Platform
    };
}

/// Connection settings; the defaults suit a ward device.
#[derive(Clone)]
pub struct HttpOptions {
    /// The certificate authority (PEM, one or more certificates) that signed the repository's
    /// certificate, when it is the hospital's own: only these roots are then trusted.
    pub ca_pem: Option<Vec<u8>>,
    /// The roots trusted when `ca_pem` is not given.
    pub roots: Roots,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_pem: None,
            roots: Roots::DEFAULT,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field("roots", &self.roots)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// An HTTP method of the repository API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// The repository over HTTPS, with one bearer token (a device token, or an administrator's for
/// [`HttpTransport::call`]).
pub struct HttpTransport {
    base: String,
    token: String,
    client: Client,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl HttpTransport {
    /// A transport to the repository at `base_url` (e.g. `https://crf.example-hospital.org`),
    /// trusting the platform's certificate roots.
    pub fn new(base_url: &str, token: &str) -> Result<Self, TransportError> {
        Self::with_options(base_url, token, &HttpOptions::default())
    }

    pub fn with_options(
        base_url: &str,
        token: &str,
        options: &HttpOptions,
    ) -> Result<Self, TransportError> {
        let base = check_base_url(base_url)?;
        let client = build_client(options)?;
        Ok(HttpTransport {
            base,
            token: token.to_string(),
            client,
        })
    }

    /// The repository address, normalised (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One call of the repository API (`path` like `/api/admin/sites`) with this transport's
    /// token; the JSON answer of a 2xx response, or the server's error message.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, TransportError> {
        let response = send(
            &self.client,
            &self.base,
            method,
            path,
            Some(&self.token),
            body,
        )?;
        read_json(response, &self.base, Some(&self.token))
    }
}

impl HttpTransport {
    /// GETs `path` with this transport's token and copies a 2xx body to `out` (exports);
    /// returns the bytes copied. Errors as for [`HttpTransport::call`].
    pub fn download(
        &self,
        path: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, TransportError> {
        let mut response = send(
            &self.client,
            &self.base,
            Method::Get,
            path,
            Some(&self.token),
            None,
        )?;
        if !response.status().is_success() {
            read_json(response, &self.base, Some(&self.token))?;
            return Err(TransportError::Unreachable(format!(
                "{} answered without a body; try again later",
                self.base
            )));
        }
        response
            .copy_to(out)
            .map_err(|e| unreachable(&self.base, &e, Some(&self.token)))
    }
}

impl Transport for HttpTransport {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        // The binary encoding (raw bytes compress far better than base64), gzip-compressed.
        let body = request
            .to_binary()
            .map_err(|e| TransportError::Refused(format!("this device's request: {e}")))?;
        let mut post = self
            .client
            .post(format!("{}/api/sync", self.base))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, super::BINARY_MEDIA_TYPE)
            .header(reqwest::header::ACCEPT, super::BINARY_MEDIA_TYPE)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip");
        let body = if body.len() > super::COMPRESS_ABOVE {
            post = post.header(reqwest::header::CONTENT_ENCODING, "gzip");
            super::gzip(&body)
        } else {
            body
        };
        let response = post
            .body(body)
            .send()
            .map_err(|e| unreachable(&self.base, &e, Some(&self.token)))?;
        if !response.status().is_success() {
            // An error: read_json turns the status and message into the right error.
            read_json(response, &self.base, Some(&self.token))?;
            return Err(TransportError::Unreachable(format!(
                "{} answered the sync without a result; try again later",
                self.base
            )));
        }
        let gzipped = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let binary = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| {
                v.as_bytes()
                    .starts_with(super::BINARY_MEDIA_TYPE.as_bytes())
            });
        let bytes = response
            .bytes()
            .map_err(|e| unreachable(&self.base, &e, Some(&self.token)))?;
        let not_json = || {
            TransportError::Unreachable(format!(
                "{} answered with something that is not JSON; is this the WardCRF repository \
                 (or is a network login page in the way)?",
                self.base
            ))
        };
        let bytes = if gzipped {
            super::gunzip(&bytes, MAX_ANSWER).map_err(|_| not_json())?
        } else {
            bytes.to_vec()
        };
        if binary {
            return SyncResponse::from_binary(&bytes).map_err(|e| {
                TransportError::Unreachable(format!(
                    "{} answered with a damaged sync response ({e}); try again later",
                    self.base
                ))
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                not_json()
            } else {
                TransportError::Unreachable(format!(
                    "{} answered with something that is not a sync response ({e}); is this the \
                     WardCRF repository?",
                    self.base
                ))
            }
        })
    }
}

/// Enrols this device with a one-time code from the site administrator; the answer carries the
/// device token to keep (in the encrypted store).
pub fn enroll(base_url: &str, code: &str, device_id: &str) -> Result<Enrolment, TransportError> {
    enroll_with_options(base_url, code, device_id, &HttpOptions::default())
}

pub fn enroll_with_options(
    base_url: &str,
    code: &str,
    device_id: &str,
    options: &HttpOptions,
) -> Result<Enrolment, TransportError> {
    let base = check_base_url(base_url)?;
    let client = build_client(options)?;
    let body = json!({"code": code.trim(), "device_id": device_id});
    let response = send(
        &client,
        &base,
        Method::Post,
        "/api/enroll",
        None,
        Some(&body),
    )?;
    // The code is a secret too: scrub it as well as the token from any error text.
    let value = read_json(response, &base, Some(code.trim()))?;
    let enrolment: Enrolment = serde_json::from_value(value).map_err(|_| {
        TransportError::Refused(format!(
            "{base} answered the enrolment without a device token; is this the WardCRF repository?"
        ))
    })?;
    if enrolment.device_id != device_id {
        return Err(TransportError::Refused(format!(
            "{base} enrolled device {} instead of this device ({device_id})",
            enrolment.device_id
        )));
    }
    Ok(enrolment)
}

/// Installs ring as rustls' crypto provider (once per process; later calls are no-ops).
fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn build_client(options: &HttpOptions) -> Result<Client, TransportError> {
    install_provider();
    let mut builder = Client::builder()
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("wardcrf/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = &options.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            TransportError::Refused(format!("the CA certificate file is not usable PEM: {e}"))
        })?;
        if certs.is_empty() {
            return Err(TransportError::Refused(
                "the CA certificate file holds no certificate".into(),
            ));
        }
        builder = builder.tls_certs_only(certs);
    } else if options.roots == Roots::Bundled {
        let certs = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok());
        builder = builder.tls_certs_only(certs);
    }
    builder
        .build()
        .map_err(|e| TransportError::Refused(format!("cannot set up HTTPS: {}", chain(&e))))
}

/// Checks the repository address: `https://`, or `http://` to a loopback address only.
fn check_base_url(raw: &str) -> Result<String, TransportError> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        TransportError::Refused(format!(
            "'{}' is not a repository address like https://crf.example.org ({e})",
            raw.trim()
        ))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TransportError::Refused(
            "the repository address must not contain a user name or password".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(TransportError::Refused(
            "the repository address must not contain '?' or '#'".into(),
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(TransportError::Refused(format!(
                "{} uses plain http://, which would send case data unencrypted; use https:// \
                 (http:// is accepted only for this machine: localhost, 127.0.0.1, [::1])",
                url.as_str().trim_end_matches('/')
            )));
        }
        other => {
            return Err(TransportError::Refused(format!(
                "'{other}:' is not a repository address; use https://"
            )));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn send(
    client: &Client,
    base: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Result<Response, TransportError> {
    let url = format!("{base}{path}");
    let mut request = match method {
        Method::Get => client.get(&url),
        Method::Post => client.post(&url),
    };
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().map_err(|e| unreachable(base, &e, bearer))
}

/// A failure to talk to the repository at all; an untrusted certificate is a refusal (trying
/// again will not help).
fn unreachable(base: &str, e: &reqwest::Error, secret: Option<&str>) -> TransportError {
    if let Some(tls) = tls_error(e) {
        return TransportError::Refused(scrub(
            format!(
                "{base}: the secure connection was refused ({tls}); if the repository's \
                 certificate comes from the hospital's own certificate authority, give that CA"
            ),
            secret,
        ));
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "no connection"
    } else {
        "the exchange broke off"
    };
    TransportError::Unreachable(scrub(format!("{base}: {what} ({})", chain(e)), secret))
}

/// The JSON of a 2xx answer, or the error the status and body describe.
fn read_json(
    response: Response,
    base: &str,
    secret: Option<&str>,
) -> Result<Value, TransportError> {
    let status = response.status();
    if status.is_success() {
        return response.json::<Value>().map_err(|e| {
            if e.is_decode() {
                TransportError::Unreachable(format!(
                    "{base} answered with something that is not JSON; is this the WardCRF \
                     repository (or is a network login page in the way)?"
                ))
            } else {
                unreachable(base, &e, secret)
            }
        });
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_string);
    // The body of an error is small; a broken one is as good as none.
    let body: Option<Value> = response.json().ok();
    let (code, message) = match &body {
        Some(v) => (
            v["error"]["code"].as_str().map(str::to_string),
            v["error"]["message"].as_str().map(str::to_string),
        ),
        None => (None, None),
    };
    Err(status_error(
        status,
        code.as_deref(),
        message,
        location,
        base,
        secret,
    ))
}

fn status_error(
    status: StatusCode,
    code: Option<&str>,
    message: Option<String>,
    location: Option<String>,
    base: &str,
    secret: Option<&str>,
) -> TransportError {
    let http = status.as_u16();
    let text = match (code, message) {
        (Some("device_revoked"), _) => return TransportError::Revoked,
        (_, Some(m)) if !m.trim().is_empty() => match code {
            Some(c) => format!("{m} ({c}, HTTP {http})"),
            None => format!("{m} (HTTP {http})"),
        },
        _ if status.is_redirection() => format!(
            "{base} redirects to {}; give that address instead (HTTP {http})",
            location.as_deref().unwrap_or("another address")
        ),
        _ if status == StatusCode::UNAUTHORIZED => {
            format!("{base} did not accept the credentials; enroll the device again (HTTP {http})")
        }
        _ if status == StatusCode::NOT_FOUND => {
            format!("{base} has no WardCRF repository API; check the address (HTTP {http})")
        }
        _ => format!(
            "{base} answered HTTP {http} {}",
            status.canonical_reason().unwrap_or_default()
        ),
    };
    let text = scrub(text, secret);
    if status.is_server_error() {
        TransportError::Unreachable(format!("the repository failed: {text}; try again later"))
    } else {
        TransportError::Refused(text)
    }
}

/// The rustls error behind a failed request, if any. io::Errors nest (hyper's wraps
/// tokio-rustls') and hide their inner error from `source()`, so look inside them too.
fn tls_error(e: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls.clone());
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| tls_error(inner))
    {
        return Some(inner);
    }
    e.source().and_then(tls_error)
}

/// An error with its causes, which reqwest keeps out of its own `Display`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Removes a secret from text bound for an error message.
fn scrub(text: String, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() && text.contains(s) => text.replace(s, "[redacted]"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    //! Against a tiny HTTP responder on a loopback socket: one canned answer per connection.

    use super::*;
    use crate::sync::{CaseChanges, PROTOCOL};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

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
        let msg =
            "this device has been revoked by the site administrator; ask them to enroll it again";
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
}
