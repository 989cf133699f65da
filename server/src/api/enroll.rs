//! `POST /api/enroll`: a device enrols with a one-time code and gets its token (shown once,
//! stored only as its hash), whether its site keeps identifying data on the devices, and its
//! unlock key (kept by the repository, to be handed back at a staff member's online sign-in
//! or to an administrator recovering the device's store).

use crate::body::{ENROL_BODY, parse, read_limited};
use crate::error::ApiError;
use crate::secret;
use crate::state::{AppState, Store};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

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

pub(crate) async fn enroll<S: Store>(
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
    let device_key = secret::new_device_key().map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = state.now();
    let device = req.device_id.clone();
    let key = device_key.clone();
    let (site, private) = state
        .with_hub(move |hub| {
            let site = hub
                .storage
                .enroll(&code_hash, &device, &token_hash, &key, now)?;
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
            "device_key": device_key.as_str(),
        })),
    ))
}
