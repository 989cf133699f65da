//! Joining the repository: a device enrols once with a one-time code from the site
//! administrator (typed, or read from the console's QR code with the repository's certificate
//! fingerprint) and receives its own bearer token.

use super::client::{HttpOptions, build_client, check_base_url};
use super::request::{read_json, send};
use super::{Method, TransportError};
use crate::sync::{EnrolPayload, Enrolment};
use serde_json::json;

/// Enrols this device with a one-time code from the site administrator; the answer carries the
/// device token to keep (in the encrypted store).
pub fn enroll(base_url: &str, code: &str, device_id: &str) -> Result<Enrolment, TransportError> {
    enroll_with_options(base_url, code, device_id, &HttpOptions::default())
}

pub fn enroll_with_options(
    base_url: &str,
    code: &str,
    device_id: &str,
    options: &HttpOptions,
) -> Result<Enrolment, TransportError> {
    let base = check_base_url(base_url)?;
    let client = build_client(options)?;
    let body = json!({"code": code.trim(), "device_id": device_id});
    let response = send(
        &client,
        &base,
        Method::Post,
        "/api/enroll",
        None,
        Some(&body),
    )?;
    // The code is a secret too: scrub it as well as the token from any error text.
    let value = read_json(response, &base, Some(code.trim()))?;
    let enrolment: Enrolment = serde_json::from_value(value).map_err(|_| {
        TransportError::Refused(format!(
            "{base} answered the enrolment without a device token; is this the WardCRF repository?"
        ))
    })?;
    if enrolment.device_id != device_id {
        return Err(TransportError::Refused(format!(
            "{base} enrolled device {} instead of this device ({device_id})",
            enrolment.device_id
        )));
    }
    Ok(enrolment)
}

/// Enrols this device from the console's QR code payload: with its certificate fingerprint,
/// the repository must present that certificate ([`HttpOptions::pin`], overriding `options`'
/// roots), else the enrolment fails with [`TransportError::CertificateMismatch`] before the
/// code is sent. Keep `payload.pin` with the credential for later exchanges.
pub fn enroll_with_payload(
    payload: &EnrolPayload,
    device_id: &str,
    options: &HttpOptions,
) -> Result<Enrolment, TransportError> {
    let options = HttpOptions {
        pin: payload.pin.or(options.pin),
        ..options.clone()
    };
    enroll_with_options(&payload.server, &payload.code, device_id, &options)
}
