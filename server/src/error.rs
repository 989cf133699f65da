//! [`ApiError`]: why a request failed, and its HTTP answer: one status and
//! `{"error": {"code", "message"}}` per kind (the codes of `docs/http-api.md`). Server-side
//! failures are logged (never a token, code or case content); their answer says only that the
//! repository failed.

use crate::repository::RepoError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wardcrf_core::repository::HubError;

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
    /// A staff sign-in on a device: an unknown user or a wrong password (one answer).
    #[error("the user name or password is wrong")]
    WrongCredentials,
    /// A staff sign-in on a device: the account is locked after repeated failures (tablet and
    /// console failures count together) for this many more seconds.
    #[error(
        "this account is locked after too many failed sign-ins; try again in {} min or ask an administrator to unlock it",
        .0.div_ceil(60).max(1)
    )]
    LockedOut(u64),
    /// Too many sign-in attempts from this address or for this user name (seconds to wait).
    #[error("too many sign-in attempts; retry in {} s", (*.0).max(1))]
    Throttled(u64),
    /// A staff sign-in on a device with the right password of a deactivated account.
    #[error("this account has been deactivated; ask an administrator")]
    AccountDeactivated,
    /// A staff sign-in on a device with the right password of someone who is not a clinician
    /// or site nurse of the device's site.
    #[error(
        "this account may not sign in on this device: it is not a clinician or site nurse of the device's site"
    )]
    NotSiteStaff,
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
    /// The device has no unlock key: enrolled before devices had one, and no staff member
    /// has signed in on it since (its store is opened with its own passphrase or key).
    #[error(
        "this device has no recovery key: it was enrolled before devices had one and no staff member has signed in on it since"
    )]
    NoDeviceKey,
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
    /// The HTTP status and the error code of the answer.
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::DeviceRevoked => (StatusCode::FORBIDDEN, "device_revoked"),
            ApiError::WrongCredentials => (StatusCode::UNAUTHORIZED, "wrong_credentials"),
            ApiError::LockedOut(_) => (StatusCode::TOO_MANY_REQUESTS, "locked_out"),
            ApiError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            ApiError::AccountDeactivated => (StatusCode::FORBIDDEN, "account_deactivated"),
            ApiError::NotSiteStaff => (StatusCode::FORBIDDEN, "not_site_staff"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::UnknownCase => (StatusCode::NOT_FOUND, "unknown_case"),
            ApiError::NoDeviceKey => (StatusCode::NOT_FOUND, "no_device_key"),
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
                HubError::NotSiteStaff { .. } => (StatusCode::FORBIDDEN, "not_site_staff"),
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

    /// What went wrong on the server's side, for the log: a storage error (no tokens, codes
    /// or case contents).
    pub(crate) fn detail(&self) -> String {
        match self {
            ApiError::Internal(d) | ApiError::Repo(RepoError::Storage(d)) => d.clone(),
            ApiError::Hub(HubError::Storage(d)) => d.clone(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(target: "wardcrf::http", code, detail = %self.detail(), "request failed");
        }
        let body = json!({"error": {"code": code, "message": self.message()}});
        let mut response = (status, Json(body)).into_response();
        if let ApiError::LockedOut(secs) | ApiError::Throttled(secs) = self
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.max(1).to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}

/// A byte count as people read it: `32 MiB`, `4 KiB` or `100 bytes`.
pub(crate) fn size_text(n: usize) -> String {
    const KIB: usize = 1024;
    if n >= KIB * KIB && n.is_multiple_of(KIB * KIB) {
        format!("{} MiB", n / (KIB * KIB))
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}
