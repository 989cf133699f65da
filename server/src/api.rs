//! The HTTP API of `docs/http-api.md`: admin, enrolment, sync and health.

use crate::forms::Forms;
use crate::pool::HubPool;
use crate::secret;
use crate::storage::{CaseQuery, DeviceAuth, ProjectionRow, RepoError, Repository};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use wardcrf_core::sync::{
    BINARY_MEDIA_TYPE, BinaryBody, COMPRESS_ABOVE, CaseProjection, Exchanged, GunzipError, Hub,
    HubError, HubStorage, JsonRequestError, SyncRequest, case_projection, gunzip, gzip,
};
use wardcrf_core::{Context, Lang, PartialDate};

/// The largest request body accepted (413 `too_large` beyond).
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// The largest body of an admin-token request (sites, enrolment codes, staff users).
pub const ADMIN_BODY: usize = 64 * 1024;
/// The largest body of an enrolment (a code and a device id).
pub const ENROL_BODY: usize = 4 * 1024;
/// The largest body of a web console form (sign-in, resolving a conflict, administration).
pub const FORM_BODY: usize = 64 * 1024;

/// How long an enrolment code stays valid.
pub const CODE_VALIDITY_SECS: u64 = 24 * 60 * 60;

/// The current time in unix seconds; injectable so tests can move it.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// Why a request failed; each maps to one status and `{"error": {"code", "message"}}`.
/// Messages never carry tokens, codes or case contents.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or unknown credentials")]
    Unauthorized,
    /// Signed in, but the role does not allow this (the web console's sessions).
    #[error("your role does not allow this; ask an administrator")]
    Forbidden,
    #[error("this device has been revoked by the site administrator; ask them to enroll it again")]
    DeviceRevoked,
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the endpoint's limit (in bytes).
    #[error("the request body exceeds this endpoint's limit of {}", size_text(*.0))]
    TooLarge(usize),
    /// The body did not arrive within the server's body timeout (seconds).
    #[error("the request body did not arrive within {0} s; retry on a better connection")]
    BodyTimeout(u64),
    #[error("no such endpoint")]
    NotFound,
    #[error("no such case")]
    UnknownCase,
    /// The case's stored document cannot be read (see [`crate::export::document_damage`]).
    #[error("{}", crate::export::QUARANTINED)]
    Quarantined,
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("the repository failed; try again later")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::DeviceRevoked => (StatusCode::FORBIDDEN, "device_revoked"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::UnknownCase => (StatusCode::NOT_FOUND, "unknown_case"),
            ApiError::Quarantined => (StatusCode::CONFLICT, "quarantined"),
            ApiError::Repo(e) => match e {
                RepoError::SiteExists => (StatusCode::CONFLICT, "site_exists"),
                RepoError::UnknownSite => (StatusCode::NOT_FOUND, "unknown_site"),
                RepoError::UnknownDevice => (StatusCode::NOT_FOUND, "unknown_device"),
                RepoError::InvalidCode => (StatusCode::BAD_REQUEST, "invalid_code"),
                RepoError::CodeUsed => (StatusCode::GONE, "code_used"),
                RepoError::CodeExpired => (StatusCode::GONE, "code_expired"),
                RepoError::DeviceExists => (StatusCode::CONFLICT, "device_exists"),
                RepoError::TooNew { .. } | RepoError::Storage(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
            },
            ApiError::Hub(e) => match e {
                HubError::Protocol(_) => (StatusCode::BAD_REQUEST, "protocol"),
                // Answered as any other refused case: never confirms a case of another site.
                HubError::OtherSite(_) => (StatusCode::BAD_REQUEST, "bad_case"),
                HubError::BadCase { .. } => (StatusCode::BAD_REQUEST, "bad_case"),
                HubError::Changed(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
                HubError::BadCaseId { .. } => (StatusCode::BAD_REQUEST, "bad_case_id"),
                HubError::DuplicateCase(_) => (StatusCode::BAD_REQUEST, "duplicate_case"),
                HubError::TooManyCases { .. } | HubError::TooLarge(_) => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
                }
                HubError::RepositoryActor(_) | HubError::ForeignActor { .. } => {
                    (StatusCode::BAD_REQUEST, "foreign_actor")
                }
                HubError::Identifying { .. } => (StatusCode::BAD_REQUEST, "identifying"),
                HubError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Repo(RepoError::InvalidCode) => {
                "this enrolment code is not known; check it or ask the site administrator for a new one".into()
            }
            ApiError::Repo(RepoError::CodeUsed) => {
                "this enrolment code has already been used; ask the site administrator for a new one".into()
            }
            ApiError::Repo(RepoError::CodeExpired) => {
                "this enrolment code has expired; ask the site administrator for a new one".into()
            }
            ApiError::Repo(RepoError::DeviceExists) => {
                "this device is already enrolled; a revoked device needs a fresh store to enrol again".into()
            }
            ApiError::Repo(RepoError::TooNew { .. } | RepoError::Storage(_))
            | ApiError::Hub(HubError::Storage(_)) => {
                "the repository failed; try again later".into()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            // The detail is a storage error (no tokens, codes or case contents).
            let detail = match &self {
                ApiError::Internal(d) | ApiError::Repo(RepoError::Storage(d)) => d.clone(),
                ApiError::Hub(HubError::Storage(d)) => d.clone(),
                other => other.to_string(),
            };
            eprintln!("error: {code}: {detail}");
        }
        let body = json!({"error": {"code": code, "message": self.message()}});
        (status, Json(body)).into_response()
    }
}

/// What the handlers share: the storage connections (each with its hub), the admin token's
/// hash, the clock and the form catalog.
pub struct AppState<S: HubStorage + Repository> {
    pub(crate) hub: Arc<HubPool<S>>,
    admin_token_sha256: [u8; 32],
    clock: Clock,
    /// The forms cases are checked against for data-quality flags.
    pub(crate) forms: Arc<Forms>,
}

impl<S: HubStorage + Repository> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            hub: self.hub.clone(),
            admin_token_sha256: self.admin_token_sha256,
            clock: self.clock.clone(),
            forms: self.forms.clone(),
        }
    }
}

impl<S: HubStorage + Repository> std::fmt::Debug for AppState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl<S: HubStorage + Repository + Send + 'static> AppState<S> {
    /// Over one storage connection (tests; requests then take turns).
    pub fn new(storage: S, admin_token: &str, clock: Clock) -> Self {
        Self::with_pool(HubPool::single(storage), admin_token, clock)
    }

    /// Over a pool of storage connections (the server: concurrent requests, reconnection).
    pub fn with_pool(pool: HubPool<S>, admin_token: &str, clock: Clock) -> Self {
        AppState {
            hub: Arc::new(pool),
            admin_token_sha256: secret::sha256(admin_token),
            clock,
            forms: Arc::new(Forms::bundled()),
        }
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Gives every stored case without a projection (stored by a server version older than
    /// projections) its projection; returns how many. Run once at start, before serving.
    pub fn backfill_projections(&self) -> Result<usize, RepoError> {
        let now = self.now();
        let mut hub = self.hub.lease()?;
        let missing = hub.storage.cases_without_projection()?;
        let mut done = 0;
        for case_id in &missing {
            let stored = hub
                .storage
                .case(case_id)
                .map_err(|e| RepoError::Storage(e.to_string()))?;
            if let Some(stored) = stored {
                let projected = case_projection(&stored.doc)
                    .map(|p| project(case_id, &stored.site, &stored.form_id, p, &self.forms, now));
                match projected {
                    Ok(row) => {
                        hub.storage.put_projection(&row)?;
                        done += 1;
                    }
                    Err(e) => eprintln!("error: projection of case {case_id}: {e}"),
                }
            }
        }
        Ok(done)
    }

    /// Runs `f` on the hub off the async threads (SQLite blocks).
    pub(crate) async fn with_hub<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Hub<S>) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.hub.clone();
        tokio::task::spawn_blocking(move || {
            let mut hub = pool.lease()?;
            f(&mut hub)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
    }

    pub(crate) fn check_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
        if secret::same_hash(&secret::sha256(token), &self.admin_token_sha256) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

fn parse<T: DeserializeOwned>(body: Bytes) -> Result<T, ApiError> {
    parse_encoded(body, None)
}

/// A byte count as people read it: `32 MiB`, `4 KiB` or `100 bytes`.
fn size_text(n: usize) -> String {
    const KIB: usize = 1024;
    if n >= KIB * KIB && n.is_multiple_of(KIB * KIB) {
        format!("{} MiB", n / (KIB * KIB))
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// The request body, at most `limit` bytes. Call it only once the request's credentials are
/// checked: nothing of the body is read before. A body announced (Content-Length) larger than
/// `limit` is refused without reading it; one that turns out larger is refused at the limit.
pub(crate) async fn read_limited(
    mut body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
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

/// The request's Content-Encoding, lowercase (`None` when absent).
fn content_encoding(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
}

/// A JSON body, expanded first when it came gzip-compressed (`Content-Encoding: gzip`; at most
/// [`MAX_BODY`] bytes once expanded).
fn parse_encoded<T: DeserializeOwned>(body: Bytes, encoding: Option<&str>) -> Result<T, ApiError> {
    let bytes = read_body(body, encoding)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's messages name the offending key or position, never values.
        ApiError::BadRequest(format!(
            "the request is not valid JSON for this endpoint: {e}"
        ))
    })
}

/// The request body, expanded when it came gzip-compressed.
fn read_body(bytes: Bytes, encoding: Option<&str>) -> Result<Bytes, ApiError> {
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

/// A console request announcing a body larger than [`FORM_BODY`] is refused (413) unread.
async fn form_size_first(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > FORM_BODY as u64) {
        return ApiError::TooLarge(FORM_BODY).into_response();
    }
    next.run(request).await
}

/// Every `/api/admin/` request is refused (401) unless it carries the admin token, before its
/// handler runs and so before any of its body is read.
async fn admin_token_first<S: HubStorage + Repository + Send + 'static>(
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

/// The router of the whole API, with the default allowance of sign-in attempts.
pub fn router<S: HubStorage + Repository + Send + 'static>(state: AppState<S>) -> Router {
    router_with(state, Arc::new(crate::console::SignInGuard::default()))
}

/// The router of the whole API, throttling sign-ins with `sign_in`.
pub fn router_with<S: HubStorage + Repository + Send + 'static>(
    state: AppState<S>,
    sign_in: Arc<crate::console::SignInGuard>,
) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route(
            "/api/admin/sites",
            post(create_site::<S>).get(list_sites::<S>),
        )
        .route("/api/admin/enroll-codes", post(create_code::<S>))
        .route("/api/admin/devices", get(list_devices::<S>))
        .route(
            "/api/admin/devices/{device_id}/revoke",
            post(revoke_device::<S>),
        )
        .route("/api/cases", get(list_cases::<S>))
        .route("/api/cases/{case_id}", get(get_case::<S>))
        .route("/api/cases/{case_id}/history", get(get_case_history::<S>))
        .route("/api/exports/{format}", get(export::get_export::<S>))
        .route("/api/enroll", post(enroll::<S>))
        .route("/api/sync", post(sync::<S>))
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
        .layer(axum::Extension(sign_in))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSite {
    site_id: String,
    name: String,
    /// Identifying data stays on the site's devices (never synced); fixed at creation.
    #[serde(default)]
    identifying_on_device: bool,
}

fn valid_site_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

async fn create_site<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.check_admin(&headers)?;
    let site: NewSite = parse(read_limited(body, &headers, ADMIN_BODY).await?)?;
    if !valid_site_id(&site.site_id) {
        return Err(ApiError::BadRequest(
            "site_id must be 1-64 characters of lowercase letters, digits and '-'".into(),
        ));
    }
    let name = site.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest("name must be 1-200 characters".into()));
    }
    let now = state.now();
    let (id, n) = (site.site_id.clone(), name.clone());
    let private = site.identifying_on_device;
    state
        .with_hub(move |hub| Ok(hub.storage.add_site(&id, &n, private, now)?))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "site_id": site.site_id,
            "name": name,
            "identifying_on_device": private,
        })),
    ))
}

async fn list_sites<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let sites = state.with_hub(|hub| Ok(hub.storage.sites()?)).await?;
    Ok(Json(json!(sites)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCode {
    site_id: String,
}

async fn create_code<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.check_admin(&headers)?;
    let req: NewCode = parse(read_limited(body, &headers, ADMIN_BODY).await?)?;
    let code = secret::new_code().map_err(|e| ApiError::Internal(e.to_string()))?;
    let expires_at = state.now() + CODE_VALIDITY_SECS;
    let hash = secret::sha256(&code);
    let site = req.site_id.clone();
    state
        .with_hub(move |hub| Ok(hub.storage.create_enroll_code(&hash, &site, expires_at)?))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"code": code, "site_id": req.site_id, "expires_at": expires_at})),
    ))
}

async fn list_devices<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let devices = state.with_hub(|hub| Ok(hub.storage.devices()?)).await?;
    Ok(Json(json!(devices)))
}

async fn revoke_device<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    Path(device_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let id = device_id.clone();
    state
        .with_hub(move |hub| Ok(hub.storage.revoke_device(&id)?))
        .await?;
    Ok(Json(json!({"device_id": device_id, "revoked": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Enrolment {
    code: String,
    device_id: String,
}

fn valid_device_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn enroll<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req: Enrolment = parse(read_limited(body, &headers, ENROL_BODY).await?)?;
    if !valid_device_id(&req.device_id) {
        return Err(ApiError::BadRequest(
            "device_id must be the store's device id: 32 lowercase hex digits".into(),
        ));
    }
    let code_hash = secret::sha256(&secret::normalize_code(&req.code));
    let token = secret::new_token().map_err(|e| ApiError::Internal(e.to_string()))?;
    let token_hash = secret::sha256(&token);
    let now = state.now();
    let device = req.device_id.clone();
    let (site, private) = state
        .with_hub(move |hub| {
            let site = hub.storage.enroll(&code_hash, &device, &token_hash, now)?;
            let private = hub
                .storage
                .sites()?
                .into_iter()
                .any(|s| s.site_id == site && s.identifying_on_device);
            Ok((site, private))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "device_id": req.device_id,
            "site_id": site,
            "token": token,
            "identifying_on_device": private,
        })),
    ))
}

async fn sync<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The device and its token first: nothing of the body is read for an unknown one.
    let token_hash = secret::sha256(bearer(&headers).ok_or(ApiError::Unauthorized)?);
    let auth = state
        .with_hub(move |hub| {
            hub.storage
                .device_by_token(&token_hash)?
                .ok_or(ApiError::Unauthorized)
        })
        .await?;
    if auth.revoked {
        return Err(ApiError::DeviceRevoked);
    }
    let body = read_limited(body, &headers, MAX_BODY).await?;
    let now = state.now();
    let pool = state.hub.clone();
    let forms = state.forms.clone();
    let encoding = content_encoding(&headers);
    // The binary encoding when the device sends it; the answer then comes in it too.
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
    let response = tokio::task::spawn_blocking(move || {
        let request: SyncRequest = if binary {
            SyncRequest::from_binary(&read_body(body, encoding.as_deref())?)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?
        } else {
            // Read only up to the push limits: more entries is refused as too large.
            SyncRequest::from_json(&read_body(body, encoding.as_deref())?).map_err(|e| match e {
                JsonRequestError::TooManyCases(_) => {
                    ApiError::Hub(HubError::TooLarge(e.to_string()))
                }
                JsonRequestError::Invalid(_) => ApiError::BadRequest(e.to_string()),
            })?
        };
        // One exchange per site at a time (see `pool`); other sites go on meanwhile.
        let site_lock = pool.site_lock(&auth.site_id);
        let _site = site_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut hub = pool.lease()?;
        // Another writer (the console) can change a case between the two phases: the
        // exchange is then made again from the start.
        let mut attempts = 0;
        let exchanged = loop {
            attempts += 1;
            match sync_exchange(&mut hub, &auth, &request, &forms, now) {
                Err(ApiError::Hub(HubError::Changed(_))) if attempts < 3 => continue,
                Err(e) => {
                    if e.status_and_code().0.is_server_error() {
                        eprintln!(
                            "error: the sync of device {} (site {}) failed: {e:?}",
                            auth.device_id, auth.site_id
                        );
                    }
                    return Err(e);
                }
                Ok(exchanged) => break exchanged,
            }
        };
        for q in &exchanged.quarantined {
            eprintln!(
                "warning: case {} of site {} is quarantined: its stored document cannot be \
                 loaded ({}); last pushed by device {}; found by the sync of device {}; the \
                 site's devices are asked to push it again",
                q.case_id,
                q.site,
                q.reason,
                q.device.as_deref().unwrap_or("unknown"),
                auth.device_id
            );
        }
        // Serialise (and compress) here, off the async threads: a response can be large.
        let body = if binary {
            exchanged
                .response
                .to_binary()
                .map_err(|e| ApiError::Internal(e.to_string()))?
        } else {
            serde_json::to_vec(&exchanged.response)
                .map_err(|e| ApiError::Internal(e.to_string()))?
        };
        Ok(if gzip_accepted && body.len() > COMPRESS_ABOVE {
            (gzip(&body), true)
        } else {
            (body, false)
        })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))??;
    let (body, gzipped) = response;
    let media_type = if binary {
        BINARY_MEDIA_TYPE
    } else {
        "application/json"
    };
    let mut response = ([(header::CONTENT_TYPE, media_type)], Bytes::from(body)).into_response();
    if gzipped {
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    Ok(response)
}

/// One exchange in two phases: reading and merging (and checking the projections) with no
/// transaction open, under the site's lock; then the writes in one short transaction (the
/// exchange, the device's last sync and the projections: all or nothing).
fn sync_exchange<S: HubStorage + Repository>(
    hub: &mut Hub<S>,
    auth: &DeviceAuth,
    request: &SyncRequest,
    forms: &Forms,
    now: u64,
) -> Result<Exchanged, ApiError> {
    let identifying = forms
        .identifying(auth.identifying_on_device)
        .ok_or_else(|| ApiError::Internal("the bundled form catalog could not be loaded".into()))?;
    let mut prepared = hub.prepare(&auth.site_id, &auth.device_id, request, &identifying)?;
    // The projections of the cases this exchange stores; flags never refuse a sync.
    let rows = project_all(
        prepared.take_projections(),
        &request.push,
        &auth.site_id,
        forms,
        now,
    );
    hub.storage.begin()?;
    let written = (|| -> Result<_, ApiError> {
        let exchanged = hub.write(prepared)?;
        hub.storage.record_sync(&auth.device_id, now)?;
        for row in &rows {
            hub.storage.put_projection(row)?;
        }
        Ok(exchanged)
    })();
    match written {
        Ok(e) => {
            hub.storage.commit()?;
            Ok(e)
        }
        Err(e) => {
            hub.storage.rollback();
            Err(e)
        }
    }
}

/// The projection rows of the cases an exchange stored, validated on up to 4 threads.
fn project_all(
    stored: Vec<(String, CaseProjection)>,
    pushed: &[wardcrf_core::sync::CaseChanges],
    site_id: &str,
    forms: &Forms,
    now: u64,
) -> Vec<ProjectionRow> {
    let form_ids: HashMap<&str, &str> = pushed
        .iter()
        .map(|c| (c.case_id.as_str(), c.form_id.as_str()))
        .collect();
    let work: Vec<((String, CaseProjection), &str)> = stored
        .into_iter()
        .map(|(case_id, p)| {
            let form_id = form_ids.get(case_id.as_str()).copied().unwrap_or_default();
            ((case_id, p), form_id)
        })
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(work.len().div_ceil(8).max(1));
    let chunk = work.len().div_ceil(threads).max(1);
    let rows = |part: Vec<((String, CaseProjection), &str)>| -> Vec<ProjectionRow> {
        part.into_iter()
            .map(|((case_id, p), form_id)| project(&case_id, site_id, form_id, p, forms, now))
            .collect()
    };
    let mut parts: Vec<Vec<_>> = Vec::new();
    let mut work = work.into_iter().peekable();
    while work.peek().is_some() {
        parts.push(work.by_ref().take(chunk).collect());
    }
    if parts.len() <= 1 {
        return parts.into_iter().flat_map(rows).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || rows(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// A case's projection row: its values validated with the bundled form and its modules
/// (errors and warnings become the data-quality flags).
pub(crate) fn project(
    case_id: &str,
    site_id: &str,
    stored_form_id: &str,
    p: CaseProjection,
    forms: &Forms,
    now: u64,
) -> ProjectionRow {
    let form_id = if p.form_id.is_empty() {
        stored_form_id.to_string()
    } else {
        p.form_id.clone()
    };
    let flags = match forms.form(&form_id, &p.modules) {
        Ok(form) => {
            let days = i64::try_from(now / 86_400).unwrap_or(i64::MAX);
            let ctx = Context {
                today: PartialDate::from_days_since_epoch(days),
                completing: false,
            };
            let report = wardcrf_core::validate(&form, &p.values, &ctx);
            let j = report.to_json(Lang::En);
            json!({"errors": j["errors"], "warnings": j["warnings"]})
        }
        Err(message) => json!({
            "errors": [{"field": "", "code": "unknown_form", "message": message}],
            "warnings": [],
        }),
    };
    let count = |k: &str| flags[k].as_array().map_or(0, Vec::len) as u64;
    let n_flags = count("errors") + count("warnings");
    let text = |v: &Value| v.to_string();
    ProjectionRow {
        case_id: case_id.to_string(),
        site_id: site_id.to_string(),
        form_id,
        modules: text(&json!(p.modules)),
        status: p.status,
        deleted: p.deleted,
        values: text(&Value::Object(p.values)),
        conflicts: text(&json!(p.conflicts)),
        n_conflicts: p.conflicts.len() as u64,
        flags: text(&flags),
        n_flags,
        updated_at: now,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseParams {
    site: Option<String>,
    status: Option<String>,
    flagged: Option<bool>,
    conflicts: Option<bool>,
}

async fn list_cases<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    params: Result<Query<CaseParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let Query(params) = params.map_err(|e| {
        ApiError::BadRequest(format!(
            "bad query: {}; use site, status (draft, complete, signed), flagged and conflicts (true or false)",
            e.body_text()
        ))
    })?;
    if let Some(s) = &params.status
        && !["draft", "complete", "signed"].contains(&s.as_str())
    {
        return Err(ApiError::BadRequest(
            "status must be draft, complete or signed".into(),
        ));
    }
    let query = CaseQuery {
        site_id: params.site,
        status: params.status,
        flagged: params.flagged,
        conflicts: params.conflicts,
    };
    let cases = state
        .with_hub(move |hub| Ok(hub.storage.projections(&query)?))
        .await?;
    Ok(Json(json!(cases)))
}

async fn get_case<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let row = state
        .with_hub(move |hub| Ok(hub.storage.projection(&case_id)?))
        .await?
        .ok_or(ApiError::UnknownCase)?;
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    Ok(Json(json!({
        "case_id": row.case_id,
        "site_id": row.site_id,
        "form_id": row.form_id,
        "modules": parse(&row.modules),
        "status": row.status,
        "deleted": row.deleted,
        "values": parse(&row.values),
        "conflicts": parse(&row.conflicts),
        "flags": parse(&row.flags),
        "updated_at": row.updated_at,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    field: Option<String>,
}

/// The audit trail of a case as the repository holds it: every change from every device,
/// oldest first, the same entries a device shows after syncing.
async fn get_case_history<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let Query(params) = params.map_err(|e| {
        ApiError::BadRequest(format!(
            "bad query: {}; the only parameter is field",
            e.body_text()
        ))
    })?;
    let id = case_id.clone();
    let stored = state
        .with_hub(move |hub| {
            hub.storage
                .case(&id)
                .map_err(|e| ApiError::Internal(format!("reading case: {e}")))
        })
        .await?
        .ok_or(ApiError::UnknownCase)?;
    let history = tokio::task::spawn_blocking(move || {
        crate::export::read_history(&stored.doc, params.field.as_deref())
    })
    .await
    .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?;
    match history {
        Ok(history) => Ok(Json(json!(history))),
        Err(reason) => {
            state
                .with_hub(move |hub| {
                    crate::export::quarantine_found(
                        &mut hub.storage,
                        &case_id,
                        &reason,
                        "a history request",
                    );
                    Ok(())
                })
                .await?;
            Err(ApiError::Quarantined)
        }
    }
}

/// `GET /api/exports/{csv|odm|fhir}?site&lang&research&recipient`: the export streamed as it
/// is written (see [`crate::export`]).
mod export {
    use super::{ApiError, AppState};
    use crate::export::{ExportOptions, Format, Research};
    use crate::storage::Repository;
    use axum::body::{Body, Bytes};
    use axum::extract::rejection::QueryRejection;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, HeaderValue, header};
    use axum::response::{IntoResponse, Response};
    use serde::Deserialize;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::sync::mpsc;
    use wardcrf_core::Lang;
    use wardcrf_core::sync::HubStorage;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct ExportParams {
        site: Option<String>,
        lang: Option<String>,
        research: Option<bool>,
        recipient: Option<String>,
    }

    /// Chunks of the body in flight between the export thread and the connection.
    const CHUNKS: usize = 8;
    /// The size of one chunk.
    const CHUNK: usize = 64 * 1024;

    pub(super) async fn get_export<S: HubStorage + Repository + Send + 'static>(
        State(state): State<AppState<S>>,
        Path(format): Path<String>,
        headers: HeaderMap,
        params: Result<Query<ExportParams>, QueryRejection>,
    ) -> Result<Response, ApiError> {
        // The admin token, or a console session of an administrator or data manager.
        crate::console::check_export_access(&state, &headers).await?;
        let format = Format::parse(&format).ok_or(ApiError::NotFound)?;
        let Query(params) = params.map_err(|e| {
            ApiError::BadRequest(format!(
                "bad query: {}; use site, lang (en, ja or de), research=true and recipient",
                e.body_text()
            ))
        })?;
        let lang = match params.lang.as_deref() {
            None => None,
            Some(l) => Some(
                l.parse::<Lang>()
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?,
            ),
        };
        let research = match (
            params.research.unwrap_or(false),
            params.recipient.as_deref(),
        ) {
            (false, None) => None,
            (true, Some(recipient)) => Some(
                Research::new(
                    recipient,
                    crate::export::pseudonym::process_key()
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                )
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
            ),
            (true, None) => {
                return Err(ApiError::BadRequest(
                    "a research export needs recipient=NAME: its pseudonyms are made for one recipient".into(),
                ));
            }
            (false, Some(_)) => {
                return Err(ApiError::BadRequest(
                    "recipient is for research exports only: add research=true".into(),
                ));
            }
        };
        let file_name = format.file_name(research.is_some());
        let options = ExportOptions {
            site: params.site,
            lang,
            now: state.now(),
            research,
        };
        let forms = state.forms.clone();
        if forms.catalog.is_none() {
            return Err(ApiError::Internal(
                "the bundled form catalog could not be loaded".into(),
            ));
        }
        let pool = state.hub.clone();
        let (tx, rx) = mpsc::channel(CHUNKS);
        // Written off the async threads; the body carries each chunk as it is ready. A failure
        // half-way can only cut the body short (the status is sent): the client sees an
        // incomplete transfer, and the server logs the step (never a value).
        tokio::task::spawn_blocking(move || {
            let writer = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            let result = (|| {
                let catalog = forms
                    .catalog
                    .as_ref()
                    .ok_or_else(|| crate::export::ExportError::Forms("no catalog".into()))?;
                let mut hub = pool.lease()?;
                let writer =
                    crate::export::export(format, &mut hub.storage, catalog, &options, writer)?;
                writer.finish()?;
                Ok::<_, crate::export::ExportError>(())
            })();
            if let Err(e) = result {
                eprintln!("error: export failed: {e}");
                let _ = tx.blocking_send(Err(std::io::Error::other("the export failed")));
            }
        });
        let mut response = Body::new(ChannelBody(rx)).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.media_type()),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(response)
    }

    /// Sends what is written in chunks to the response body (blocking while the client is
    /// behind: bounded memory).
    struct ChannelWriter {
        tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
        buf: Vec<u8>,
    }

    impl ChannelWriter {
        fn send(&mut self) -> std::io::Result<()> {
            if self.buf.is_empty() {
                return Ok(());
            }
            let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
            self.tx.blocking_send(Ok(chunk)).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })
        }

        fn finish(mut self) -> std::io::Result<()> {
            self.send()
        }
    }

    impl std::io::Write for ChannelWriter {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.buf.extend_from_slice(data);
            if self.buf.len() >= CHUNK {
                self.send()?;
            }
            Ok(data.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The receiving end as an HTTP body.
    struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

    impl http_body::Body for ChannelBody {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|chunk| chunk.map(|r| r.map(http_body::Frame::data)))
        }
    }
}
