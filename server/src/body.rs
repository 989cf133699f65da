//! Request and answer bodies: the body limits of each kind of request, reading a body up to
//! its limit (nothing of it before the caller has checked the credentials), gzip request
//! bodies, JSON parsing, and the content negotiation of sync answers (JSON or binary, gzip
//! when accepted).

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use wardcrf_core::sync::{BINARY_MEDIA_TYPE, COMPRESS_ABOVE, GunzipError, gunzip, gzip};

/// The largest request body accepted (413 `too_large` beyond).
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// The largest body of an admin-token request (sites, enrolment codes, staff users).
pub const ADMIN_BODY: usize = 64 * 1024;
/// The largest body of an enrolment (a code and a device id).
pub const ENROL_BODY: usize = 4 * 1024;
/// The largest body of a staff member's sign-in on a device (a user name and a password).
pub const SIGN_IN_BODY: usize = 8 * 1024;
/// The largest body of a web console form (sign-in, resolving a conflict, administration).
pub const FORM_BODY: usize = 64 * 1024;

/// The body length the request announces (`Content-Length`), if it is a number.
pub(crate) fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The request body, at most `limit` bytes. Call it only once the request's credentials are
/// checked: nothing of the body is read before. A body announced (Content-Length) larger than
/// `limit` is refused without reading it; one that turns out larger is refused at the limit.
pub(crate) async fn read_limited(
    mut body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let announced = announced_length(headers);
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let capacity = announced.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut bytes = Vec::with_capacity(capacity);
    loop {
        let frame = std::future::poll_fn(|cx| {
            http_body::Body::poll_frame(std::pin::Pin::new(&mut body), cx)
        })
        .await;
        match frame {
            None => break,
            Some(Err(e)) => return Err(body_error(&e)),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if bytes.len() + data.len() > limit {
                        return Err(ApiError::TooLarge(limit));
                    }
                    bytes.extend_from_slice(&data);
                }
            }
        }
    }
    Ok(Bytes::from(bytes))
}

/// Why a body could not be read: the body timeout of the accept loop, or the client's fault.
fn body_error(e: &axum::Error) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(t) = c.downcast_ref::<crate::serve::BodyTimeout>() {
            return ApiError::BodyTimeout(t.0);
        }
        cause = c.source();
    }
    ApiError::BadRequest("the request body could not be read (the connection broke off)".into())
}

/// A JSON body sent without Content-Encoding.
pub(crate) fn parse<T: DeserializeOwned>(body: Bytes) -> Result<T, ApiError> {
    parse_encoded(body, None)
}

/// A JSON body, expanded first when it came gzip-compressed (`Content-Encoding: gzip`; at most
/// [`MAX_BODY`] bytes once expanded).
pub(crate) fn parse_encoded<T: DeserializeOwned>(
    body: Bytes,
    encoding: Option<&str>,
) -> Result<T, ApiError> {
    let bytes = read_body(body, encoding)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's messages name the offending key or position, never values.
        ApiError::BadRequest(format!(
            "the request is not valid JSON for this endpoint: {e}"
        ))
    })
}

/// The request body, expanded when it came gzip-compressed.
pub(crate) fn read_body(bytes: Bytes, encoding: Option<&str>) -> Result<Bytes, ApiError> {
    let bytes = match encoding {
        None | Some("identity") => bytes,
        Some("gzip") => Bytes::from(gunzip(&bytes, MAX_BODY).map_err(|e| match e {
            GunzipError::TooLarge(_) => ApiError::TooLarge(MAX_BODY),
            GunzipError::Invalid => ApiError::BadRequest(
                "the request body is not valid gzip (Content-Encoding: gzip)".into(),
            ),
        })?),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unsupported Content-Encoding '{other}'; send gzip or no encoding"
            )));
        }
    };
    Ok(bytes)
}

/// How a sync request came and how its answer goes: the body's Content-Encoding, whether it
/// is the binary encoding (the answer then comes in it too), and whether the client accepts a
/// gzip answer.
#[derive(Debug, Clone)]
pub(crate) struct Negotiated {
    /// The request's Content-Encoding, lowercase (`None` when absent).
    pub(crate) encoding: Option<String>,
    pub(crate) binary: bool,
    pub(crate) gzip_accepted: bool,
}

impl Negotiated {
    pub(crate) fn of(headers: &HeaderMap) -> Negotiated {
        let encoding = headers
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
        let binary = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().starts_with(BINARY_MEDIA_TYPE));
        let gzip_accepted = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"))
            });
        Negotiated {
            encoding,
            binary,
            gzip_accepted,
        }
    }

    /// An encoded answer as it goes on the wire: compressed when the client accepts gzip and
    /// it is worth it; with whether it was.
    pub(crate) fn compress(&self, body: Vec<u8>) -> (Vec<u8>, bool) {
        if self.gzip_accepted && body.len() > COMPRESS_ABOVE {
            (gzip(&body), true)
        } else {
            (body, false)
        }
    }

    /// The answer's response: its media type, and `Content-Encoding: gzip` when `gzipped`.
    pub(crate) fn response(&self, body: Vec<u8>, gzipped: bool) -> Response {
        let media_type = if self.binary {
            BINARY_MEDIA_TYPE
        } else {
            "application/json"
        };
        let mut response =
            ([(header::CONTENT_TYPE, media_type)], Bytes::from(body)).into_response();
        if gzipped {
            response.headers_mut().insert(
                header::CONTENT_ENCODING,
                header::HeaderValue::from_static("gzip"),
            );
        }
        response
    }
}
