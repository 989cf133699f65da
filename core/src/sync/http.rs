//! The HTTPS transport: one sync exchange is one `POST {base}/api/sync` (see docs/http-api.md),
//! and a device joins the repository once with [`enroll`].
//!
//! TLS is rustls on ring. Server certificates are checked against the platform's roots, or, when
//! the hospital runs its own certificate authority, against that CA only
//! ([`HttpOptions::ca_pem`]), or, after enrolment from the console's QR code, by the one
//! certificate pinned from it ([`HttpOptions::pin`]). Plain `http://` is accepted for loopback addresses only (tests, a
//! repository on the same machine). Redirects are not followed: a device token is never sent to
//! an address other than the one enrolled with.
//!
//! The device token goes in the `Authorization` header and nowhere else: it is not part of any
//! error text, and [`HttpTransport`] and [`crate::sync::Enrolment`] redact it from `Debug`.
//!
//! - `client`: the HTTPS client and its trusted roots, the check of a repository address.
//! - `request`: one API request and how its failures become [`TransportError`]s.
//! - `enroll`: joining the repository with a one-time code, or with the enrolment QR code's
//!   payload whose certificate fingerprint is then pinned.
//! - `pin`: trusting the repository by that pinned certificate alone.
//!
//! Each exchange logs (`tracing`) its HTTP status, body sizes and duration; never the address,
//! the token or a byte of the body. The transport does not retry: a failed exchange fails the
//! sync, and the next sync carries on from what was applied.

mod client;
mod enroll;
mod pin;
mod request;

pub use client::{CONNECT_TIMEOUT, HttpOptions, REQUEST_TIMEOUT, Roots};
pub use enroll::{enroll, enroll_with_options, enroll_with_payload};
pub use pin::PinMismatch;

use super::{BinaryBody, MAX_ANSWER, SyncRequest, SyncResponse, Transport, TransportError};
use crate::staff::{ROSTER_PATH, Roster, SIGN_IN_PATH, StaffGrant, StaffSignIn};
use client::{build_client, check_base_url};
use request::{read_json, send, unreachable};
use reqwest::blocking::Client;
use serde_json::Value;
use std::time::{Duration, Instant};

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
    fn roster(&self) -> Result<Option<Roster>, TransportError> {
        let v = self.call(Method::Get, ROSTER_PATH, None)?;
        let roster: Roster = serde_json::from_value(v).map_err(|e| {
            TransportError::Refused(format!("the repository's roster could not be read: {e}"))
        })?;
        Ok(Some(roster))
    }

    fn sign_in(&self, request: &StaffSignIn) -> Result<StaffGrant, TransportError> {
        let body = serde_json::json!({"user": request.user, "password": &*request.password});
        let v = self.call(Method::Post, SIGN_IN_PATH, Some(&body))?;
        serde_json::from_value(v).map_err(|e| {
            TransportError::Refused(format!(
                "the repository's sign-in answer could not be read: {e}"
            ))
        })
    }

    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        // The binary encoding (raw bytes compress far better than base64), gzip-compressed.
        let body = request
            .to_binary()
            .map_err(|e| TransportError::Refused(format!("this device's request: {e}")))?;
        let started = Instant::now();
        let request_bytes = body.len();
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
        let sent_bytes = body.len();
        let response = post.body(body).send().map_err(|e| {
            let error = unreachable(&self.base, &e, Some(&self.token));
            tracing::warn!(
                kind = error_kind(&error),
                request_bytes,
                duration_ms = millis(started.elapsed()),
                "the sync request got no answer"
            );
            error
        })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            // An error: read_json turns the status and message into the right error.
            let error = read_json(response, &self.base, Some(&self.token)).err();
            tracing::warn!(
                status,
                kind = error.as_ref().map_or("no result", error_kind),
                duration_ms = millis(started.elapsed()),
                "the repository answered the sync with an error"
            );
            if let Some(error) = error {
                return Err(error);
            }
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
        tracing::debug!(
            status,
            request_bytes,
            sent_bytes,
            response_bytes = bytes.len(),
            gzipped,
            duration_ms = millis(started.elapsed()),
            "sync exchange answered"
        );
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

/// The kind of a transport error, for log events (its text may name the repository).
fn error_kind(e: &TransportError) -> &'static str {
    match e {
        TransportError::Unreachable(_) => "unreachable",
        TransportError::Refused(_) => "refused",
        TransportError::Revoked => "revoked",
        TransportError::CertificateMismatch(_) => "certificate_mismatch",
        TransportError::SignInRefused { .. } => "sign_in_refused",
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
