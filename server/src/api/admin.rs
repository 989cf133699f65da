//! The admin-token endpoints: `POST/GET /api/admin/sites`, `PUT
//! /api/admin/sites/{site_id}/settings`, `POST /api/admin/enroll-codes`, `GET
//! /api/admin/devices`, `POST /api/admin/devices/{device_id}/revoke` and `GET
//! /api/admin/devices/{device_id}/recovery-key`.

use crate::body::{ADMIN_BODY, parse, read_limited};
use crate::error::ApiError;
use crate::secret;
use crate::state::{AppState, CODE_VALIDITY_SECS, Store};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use wardcrf_core::staff::SiteSettings;

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

pub(crate) async fn create_site<S: Store>(
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

pub(crate) async fn list_sites<S: Store>(
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

pub(crate) async fn create_code<S: Store>(
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

pub(crate) async fn list_devices<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let devices = state.with_hub(|hub| Ok(hub.storage.devices()?)).await?;
    Ok(Json(json!(devices)))
}

pub(crate) async fn revoke_device<S: Store>(
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

/// `GET /api/admin/devices/{device_id}/recovery-key`: the device's unlock key, with which an
/// administrator opens the store of a device whose staff all forgot their credentials (the
/// store keeps its data key wrapped for it). Logged as one line naming the device, never the
/// key.
pub(crate) async fn recovery_key<S: Store>(
    State(state): State<AppState<S>>,
    Path(device_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let id = device_id.clone();
    let key = state
        .with_hub(move |hub| Ok(hub.storage.device_key(&id)?))
        .await?
        .ok_or(ApiError::NoDeviceKey)?;
    tracing::warn!(
        target: "wardcrf::staff",
        device = %device_id,
        "device recovery key handed to an administrator"
    );
    Ok(Json(json!({"device_id": device_id, "device_key": key})))
}

/// `PUT /api/admin/sites/{site_id}/settings`: replaces a site's settings (inactivity lock,
/// signature meanings, default unit per field), checked as its devices check them; the
/// devices read them at their next sync.
pub(crate) async fn set_site_settings<S: Store>(
    State(state): State<AppState<S>>,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<SiteSettings>, ApiError> {
    state.check_admin(&headers)?;
    let settings: SiteSettings = parse(read_limited(body, &headers, ADMIN_BODY).await?)?;
    settings
        .check()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if !settings.default_units.is_empty() {
        // Each default names a number field of a bundled form and a unit that field offers.
        let catalog = state.forms.catalog.as_ref().ok_or_else(|| {
            ApiError::BadRequest("the repository's forms are unavailable: no default units".into())
        })?;
        let form =
            crate::export::export_form(catalog).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        form.check_default_units(&settings.default_units)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let stored = settings.clone();
    state
        .with_hub(move |hub| Ok(hub.storage.set_site_settings(&site_id, &stored)?))
        .await?;
    Ok(Json(settings))
}
