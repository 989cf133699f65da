//! The router of the whole API (`docs/http-api.md`) and the console, and what every request
//! goes through before and after its handler: the admin token and the body limits checked
//! before any body is read, reading a body up to its limit, gzip request bodies, the content
//! negotiation of sync answers (JSON or binary, gzip when accepted), and the matched route
//! named in the request's log span.

use crate::api;
use crate::error::ApiError;
use crate::state::{AppState, Store};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use wardcrf_core::sync::{BINARY_MEDIA_TYPE, COMPRESS_ABOVE, GunzipError, gunzip, gzip};

/// The largest request body accepted (413 `too_large` beyond).
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// The largest body of an admin-token request (sites, enrolment codes, staff users).
pub const ADMIN_BODY: usize = 64 * 1024;
/// The largest body of an enrolment (a code and a device id).
pub const ENROL_BODY: usize = 4 * 1024;
/// The largest body of a web console form (sign-in, resolving a conflict, administration).
pub const FORM_BODY: usize = 64 * 1024;

/// The router of the whole API, with the default allowance of sign-in attempts.
pub fn router<S: Store>(state: AppState<S>) -> Router {
    router_with(state, Arc::new(crate::console::SignInGuard::default()))
}

/// The router of the whole API, throttling sign-ins with `sign_in`.
pub fn router_with<S: Store>(
    state: AppState<S>,
    sign_in: Arc<crate::console::SignInGuard>,
) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route(
            "/api/admin/sites",
            post(api::admin::create_site::<S>).get(api::admin::list_sites::<S>),
        )
        .route(
            "/api/admin/enroll-codes",
            post(api::admin::create_code::<S>),
        )
        .route("/api/admin/devices", get(api::admin::list_devices::<S>))
        .route(
            "/api/admin/devices/{device_id}/revoke",
            post(api::admin::revoke_device::<S>),
        )
        .route("/api/cases", get(api::cases::list_cases::<S>))
        .route("/api/cases/{case_id}", get(api::cases::get_case::<S>))
        .route(
            "/api/cases/{case_id}/history",
            get(api::cases::get_case_history::<S>),
        )
        .route("/api/exports/{format}", get(api::export::get_export::<S>))
        .route("/api/enroll", post(api::enroll::enroll::<S>))
        .route("/api/sync", post(api::sync::sync::<S>))
        // Console forms are small: an anonymous sign-in cannot make the server hold 32 MiB.
        .merge(
            crate::console::routes::<S>()
                .layer(DefaultBodyLimit::max(FORM_BODY))
                .layer(axum::middleware::from_fn(form_size_first)),
        )
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin_token_first::<S>,
        ))
        .layer(axum::middleware::from_fn(name_the_route))
        .layer(axum::Extension(sign_in))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Records the matched route (`/api/cases/{case_id}`: the template, never the ids or the
/// query) in the request's span of the accept loop ([`crate::serve`]); a request no route
/// matches leaves it empty.
async fn name_the_route(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if let Some(route) = request.extensions().get::<MatchedPath>() {
        tracing::Span::current().record("route", route.as_str());
    }
    next.run(request).await
}

/// A console request announcing a body larger than [`FORM_BODY`] is refused (413) unread.
async fn form_size_first(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if announced_length(request.headers()).is_some_and(|n| n > FORM_BODY as u64) {
        return ApiError::TooLarge(FORM_BODY).into_response();
    }
    next.run(request).await
}

/// Every `/api/admin/` request is refused (401) unless it carries the admin token, before its
/// handler runs and so before any of its body is read.
async fn admin_token_first<S: Store>(
    State(state): State<AppState<S>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.uri().path().starts_with("/api/admin/")
        && let Err(e) = state.check_admin(request.headers())
    {
        return e.into_response();
    }
    next.run(request).await
}

/// The body length the request announces (`Content-Length`), if it is a number.
fn announced_length(headers: &HeaderMap) -> Option<u64> {
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
