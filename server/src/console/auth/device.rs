//! A staff member's online sign-in on a tablet, checked as the console checks its own: the
//! same throttle of attempts ([`SignInGuard`]), the same hash slots (the password checked on a
//! blocking thread, with no database connection held), and the same count of failures and
//! lock-out, shared with the console (five failures in a row, on tablets or the console, lock
//! the account for 15 minutes).
//!
//! Unlike the console, a tablet learns why a right password is refused: a deactivated account,
//! or someone who is not a clinician or site nurse of the device's site. An unknown user and
//! a wrong password get one answer, after the same hashing.

use super::password::dummy_hash;
use super::{LOCK_SECS, MAX_FAILURES, SignInGuard, Throttled};
use crate::error::ApiError;
use crate::repository::StaffRecord;
use crate::state::{AppState, Store};
use std::net::IpAddr;
use wardcrf_core::staff::StaffRole;
use zeroize::Zeroizing;

fn throttled(Throttled(after): Throttled) -> ApiError {
    ApiError::Throttled(after.as_secs_f64().ceil().max(1.0) as u64)
}

/// Seconds until `locked_until`, when the account is locked at `now`.
fn locked_for(user: &StaffRecord, now: u64) -> Option<u64> {
    user.locked_until.filter(|&t| t > now).map(|t| t - now)
}

/// Checks `username`'s password for a sign-in on a device of `site`; the staff user, or why
/// not (see the module documentation).
pub(crate) async fn check_device_sign_in<S: Store>(
    state: &AppState<S>,
    guard: &SignInGuard,
    address: Option<IpAddr>,
    site: &str,
    username: &str,
    password: Zeroizing<String>,
) -> Result<StaffRecord, ApiError> {
    guard.admit(address, username).map_err(throttled)?;
    let now = state.now();
    let name = username.to_string();
    let found = state
        .with_hub(move |hub| Ok(hub.storage.staff_user(&name)?))
        .await?;
    if let Some(secs) = found.as_ref().and_then(|u| locked_for(u, now)) {
        return Err(ApiError::LockedOut(secs));
    }
    // The same hashing whether or not the user exists.
    let stored = found
        .as_ref()
        .map_or_else(|| dummy_hash().to_string(), |u| u.password_hash.clone());
    let matched = guard
        .verify(password.to_string(), stored)
        .await
        .map_err(throttled)?;
    if found.is_none() {
        return Err(ApiError::WrongCredentials);
    }
    let name = username.to_string();
    let site = site.to_string();
    let checked = state
        .with_hub(move |hub| {
            if !matched {
                hub.storage
                    .record_login_failure(&name, now, MAX_FAILURES, LOCK_SECS)?;
                return Err(ApiError::WrongCredentials);
            }
            // Read again: a parallel attempt may have locked it, an administrator changed it.
            let user = hub
                .storage
                .staff_user(&name)?
                .ok_or(ApiError::WrongCredentials)?;
            if let Some(secs) = locked_for(&user, now) {
                return Err(ApiError::LockedOut(secs));
            }
            if user.disabled {
                return Err(ApiError::AccountDeactivated);
            }
            let ward = StaffRole::parse(&user.role).is_some();
            if !ward || user.site_id.as_deref() != Some(site.as_str()) {
                return Err(ApiError::NotSiteStaff);
            }
            hub.storage.record_login_success(&name)?;
            Ok(user)
        })
        .await?;
    guard.succeeded(address, username);
    Ok(checked)
}
