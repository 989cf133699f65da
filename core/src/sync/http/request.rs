//! One request to the repository API and its answer: sending with the bearer token, reading a
//! JSON answer, and turning a failed connection or an error status into a [`TransportError`]
//! whose text never holds the token or an enrolment code.

use super::{Method, TransportError};
use crate::sync::SignInRefusal;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::Value;

pub(super) fn send(
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
pub(super) fn unreachable(base: &str, e: &reqwest::Error, secret: Option<&str>) -> TransportError {
    if let Some(tls) = tls_error(e) {
        if super::pin::is_pin_mismatch(&tls) {
            return TransportError::CertificateMismatch(base.to_string());
        }
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
pub(super) fn read_json(
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
    if let (Some(refusal), Some(m)) = (code.and_then(SignInRefusal::from_code), &message) {
        return TransportError::SignInRefused {
            refusal,
            message: scrub(m.clone(), secret),
        };
    }
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
pub(super) fn chain(e: &dyn std::error::Error) -> String {
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
