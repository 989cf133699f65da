//! The admin-token staff API: `POST /api/admin/staff` (adds a staff user, with an optional
//! display name), `PUT /api/admin/staff/{username}/password` (a reset: raises the user's
//! credential epoch), `POST /api/admin/staff/{username}/unlock` and `PUT
//! /api/admin/staff/{username}/active` (deactivates or reactivates; nothing is ever deleted).

use crate::console::{NewStaffUser, Role, StaffError, add_staff_user};
use crate::error::ApiError;
use crate::state::AppState;
use crate::state::Store;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStaff {
    username: String,
    role: String,
    #[serde(default)]
    site_id: Option<String>,
    /// The printed name (default: the user name).
    #[serde(default)]
    display_name: Option<String>,
    password: String,
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `POST /api/admin/staff` (admin token): adds a staff user.
pub async fn api_add_staff<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: NewStaff = match admin_json(&state, &headers, body) {
        Ok(req) => req,
        Err(refused) => return *refused,
    };
    let now = state.now();
    let (username, role, site) = (req.username.clone(), req.role.clone(), req.site_id.clone());
    let result = state
        .with_hub(move |hub| {
            let new = NewStaffUser {
                username: &req.username,
                role: &req.role,
                site: req.site_id.as_deref(),
                display_name: req.display_name.as_deref(),
                password: &req.password,
            };
            Ok(add_staff_user(&mut hub.storage, new, now))
        })
        .await;
    match result {
        Ok(Ok(())) => {
            let role = Role::parse(&role).map_or("", Role::as_str);
            (
                StatusCode::CREATED,
                Json(json!({"username": username.trim(), "role": role, "site_id": site})),
            )
                .into_response()
        }
        Ok(Err(StaffError::Exists)) => json_error(
            StatusCode::CONFLICT,
            "staff_exists",
            &StaffError::Exists.to_string(),
        ),
        Ok(Err(StaffError::UnknownSite)) => json_error(
            StatusCode::NOT_FOUND,
            "unknown_site",
            &StaffError::UnknownSite.to_string(),
        ),
        Ok(Err(
            e @ (StaffError::Password(crate::console::PasswordError::Random(_))
            | StaffError::Repo(_)),
        )) => ApiError::Internal(e.to_string()).into_response(),
        Ok(Err(e)) => json_error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
        Err(e) => e.into_response(),
    }
}

/// The JSON body of an admin-token request, or the answer that refuses it (the admin token is
/// checked first).
fn admin_json<S: Store, T: serde::de::DeserializeOwned>(
    state: &AppState<S>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Box<Response>> {
    let refuse = |r: Response| Box::new(r);
    state
        .check_admin(headers)
        .map_err(|e| refuse(e.into_response()))?;
    let bytes = body.map_err(|_| {
        refuse(json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request body could not be read",
        ))
    })?;
    // serde_json names the key or position, never a value.
    serde_json::from_slice(&bytes).map_err(|e| {
        refuse(json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("the request is not valid JSON for this endpoint: {e}"),
        ))
    })
}

/// The answer for a staff user name the repository does not know.
fn unknown_staff() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "unknown_staff",
        "no staff user with this name",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

/// `PUT /api/admin/staff/{username}/password` (admin token): gives a staff user a new password
/// (a forgotten one). The user's failed sign-ins and any lock-out are cleared and their console
/// sessions end; the password is hashed before a database connection is taken.
pub async fn api_reset_password<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: NewPassword = match admin_json(&state, &headers, body) {
        Ok(req) => req,
        Err(refused) => return *refused,
    };
    let hashed = tokio::task::spawn_blocking(move || {
        crate::console::hash_password(&req.password, crate::console::PBKDF2_ITERATIONS)
    })
    .await;
    let hash = match hashed {
        Ok(Ok(hash)) => hash,
        Ok(Err(e @ crate::console::PasswordError::Length)) => {
            return json_error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string());
        }
        Ok(Err(e)) => return ApiError::Internal(e.to_string()).into_response(),
        Err(e) => return ApiError::Internal(format!("worker failed: {e}")).into_response(),
    };
    let name = username.clone();
    match state
        .with_hub(move |hub| Ok(hub.storage.set_staff_password(&name, &hash)?))
        .await
    {
        Ok(true) => {
            tracing::info!(target: "wardcrf::staff", user = %username, "staff password reset");
            Json(json!({"username": username})).into_response()
        }
        Ok(false) => unknown_staff(),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/admin/staff/{username}/unlock` (admin token): lifts a staff user's lock-out and
/// clears their failed sign-ins, before the lock would run out.
pub async fn api_unlock<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    if let Err(e) = state.check_admin(&headers) {
        return e.into_response();
    }
    let name = username.clone();
    let unlocked = state
        .with_hub(move |hub| {
            if hub.storage.staff_user(&name)?.is_none() {
                return Ok(false);
            }
            hub.storage.record_login_success(&name)?;
            Ok(true)
        })
        .await;
    match unlocked {
        Ok(true) => {
            tracing::info!(target: "wardcrf::staff", user = %username, "staff lock-out lifted");
            Json(json!({"username": username})).into_response()
        }
        Ok(false) => unknown_staff(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Active {
    active: bool,
}

/// `PUT /api/admin/staff/{username}/active` (admin token): deactivates (`false`: the user
/// signs in nowhere, on tablets after their next sync; console sessions end) or reactivates
/// a staff user. The account and its history stay.
pub async fn api_set_active<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: Active = match admin_json(&state, &headers, body) {
        Ok(req) => req,
        Err(refused) => return *refused,
    };
    let name = username.clone();
    let active = req.active;
    match state
        .with_hub(move |hub| Ok(hub.storage.set_staff_disabled(&name, !active)?))
        .await
    {
        Ok(true) => {
            tracing::info!(target: "wardcrf::staff", user = %username, active, "staff account activation set");
            Json(json!({"username": username, "active": active})).into_response()
        }
        Ok(false) => unknown_staff(),
        Err(e) => e.into_response(),
    }
}
