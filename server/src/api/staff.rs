//! The device-token endpoints of staff on tablets: `POST /api/device/staff/sign-in` (a staff
//! member's online sign-in, answered with who they are and the device's unlock key) and
//! `GET /api/device/roster` (the site's staff and settings, read at every sync). The device
//! and its token are checked before any of the body is read.

use crate::body::{SIGN_IN_BODY, parse, read_limited};
use crate::console::{SignInGuard, check_device_sign_in};
use crate::error::ApiError;
use crate::repository::DeviceAuth;
use crate::secret;
use crate::serve::ClientAddr;
use crate::state::{AppState, Store, bearer};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use std::sync::Arc;
use wardcrf_core::staff::{Roster, StaffGrant, StaffSignIn};

/// The enrolled device a request's bearer token belongs to (revoked or not), before
/// anything of the body is read.
pub(crate) async fn device_of<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<DeviceAuth, ApiError> {
    let token_hash = secret::sha256(bearer(headers).ok_or(ApiError::Unauthorized)?);
    state
        .with_hub(move |hub| {
            hub.storage
                .device_by_token(&token_hash)?
                .ok_or(ApiError::Unauthorized)
        })
        .await
}

/// The enrolled device of a request, refused when revoked.
async fn active_device<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<DeviceAuth, ApiError> {
    let device = device_of(state, headers).await?;
    if device.revoked {
        return Err(ApiError::DeviceRevoked);
    }
    Ok(device)
}

/// `POST /api/device/staff/sign-in`: checks a staff member's password for the device's site
/// (see [`check_device_sign_in`]) and answers [`StaffGrant`]: the person and the device's
/// unlock key (given to the device now if it was enrolled before devices had one). Logged
/// as one line naming the device, its site, the user and the outcome, never the password.
pub(crate) async fn sign_in<S: Store>(
    State(state): State<AppState<S>>,
    Extension(guard): Extension<Arc<SignInGuard>>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<StaffGrant>, ApiError> {
    let device = active_device(&state, &headers).await?;
    let request: StaffSignIn = parse(read_limited(body, &headers, SIGN_IN_BODY).await?)?;
    let user = request.user.trim().to_ascii_lowercase();
    let checked = check_device_sign_in(
        &state,
        &guard,
        address,
        &device.site_id,
        &user,
        request.password,
    )
    .await;
    let record = match checked {
        Ok(record) => record,
        Err(e) => {
            let (_, code) = e.status_and_code();
            tracing::info!(
                target: "wardcrf::staff",
                device = %device.device_id,
                site = %device.site_id,
                user = %user.chars().take(64).collect::<String>(),
                code,
                "staff sign-in on a device refused"
            );
            return Err(e);
        }
    };
    let member = record.member().ok_or(ApiError::NotSiteStaff)?;
    let new_key = secret::new_device_key().map_err(|e| ApiError::Internal(e.to_string()))?;
    let id = device.device_id.clone();
    let device_key = state
        .with_hub(move |hub| Ok(hub.storage.give_device_key(&id, &new_key)?))
        .await?;
    tracing::info!(
        target: "wardcrf::staff",
        device = %device.device_id,
        site = %device.site_id,
        user = %member.id,
        "staff signed in on a device"
    );
    Ok(Json(StaffGrant {
        staff: member,
        device_key: device_key.into(),
    }))
}

/// `GET /api/device/roster`: the device's site's staff with a ward role (deactivated ones
/// listed inactive) and the site's settings.
pub(crate) async fn roster<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Json<Roster>, ApiError> {
    let device = active_device(&state, &headers).await?;
    let site = device.site_id.clone();
    let roster = state
        .with_hub(move |hub| {
            let staff = hub.storage.site_staff(&site)?;
            let settings = hub.storage.site_settings(&site)?.unwrap_or_default();
            Ok(Roster {
                staff: staff.iter().filter_map(|s| s.member()).collect(),
                site_id: site,
                settings,
            })
        })
        .await?;
    Ok(Json(roster))
}
