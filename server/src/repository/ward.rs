//! What the repository keeps for staff who sign in on their site's tablets: the
//! [`WardStaff`] trait (each backend implements it beside its [`super::Repository`]): a site's
//! staff with a ward role, its settings (inactivity lock, signature meanings), each device's
//! unlock key, and since when changes must name a signed-in author.

use super::RepoError;
use super::rows::StaffRecord;
use wardcrf_core::staff::{SignatureMeaning, SiteSettings, default_meanings};

/// The repository setting that holds since when changes must name a signed-in author.
pub(crate) const UNATTRIBUTED_BEFORE: &str = "unattributed_before";

/// The roles whose holders sign in on their site's tablets, as stored.
pub(crate) const WARD_ROLES: [&str; 2] = ["clinician", "site_nurse"];

/// Staff on the ward's tablets: one implementation per database, beside [`super::Repository`].
pub trait WardStaff {
    /// The staff users of `site_id` with a ward role (clinician, site nurse), deactivated
    /// ones included, by user name.
    fn site_staff(&mut self, site_id: &str) -> Result<Vec<StaffRecord>, RepoError>;
    /// A site's settings; `None` for an unknown site.
    fn site_settings(&mut self, site_id: &str) -> Result<Option<SiteSettings>, RepoError>;
    /// Replaces a site's settings (checked by the caller); [`RepoError::UnknownSite`] for an
    /// unknown site.
    fn set_site_settings(
        &mut self,
        site_id: &str,
        settings: &SiteSettings,
    ) -> Result<(), RepoError>;
    /// A device's unlock key, `None` when it was given none (enrolled before devices had
    /// one, and no staff member has signed in on it since); [`RepoError::UnknownDevice`] for
    /// an unknown device.
    fn device_key(&mut self, device_id: &str) -> Result<Option<String>, RepoError>;
    /// Gives a device `key` as its unlock key unless it has one already; returns the key it
    /// has now ([`RepoError::UnknownDevice`] for an unknown device).
    fn give_device_key(&mut self, device_id: &str, key: &str) -> Result<String, RepoError>;
    /// Changes naming no signed-in author are taken when made before this time (unix
    /// seconds): when the repository began to keep staff on devices.
    fn unattributed_before(&mut self) -> Result<Option<i64>, RepoError>;
}

/// A site's settings from its stored columns (meanings and default units as JSON text,
/// `NULL`: the defaults).
pub(crate) fn settings_from(
    lock_after_minutes: i64,
    meanings: Option<&str>,
    default_units: Option<&str>,
) -> Result<SiteSettings, RepoError> {
    let signature_meanings = match meanings {
        None => default_meanings(),
        Some(text) => serde_json::from_str::<Vec<SignatureMeaning>>(text).map_err(|e| {
            RepoError::Storage(format!(
                "a site's stored signature meanings do not read: {e}"
            ))
        })?,
    };
    Ok(SiteSettings {
        lock_after_minutes: u32::try_from(lock_after_minutes).unwrap_or(0),
        signature_meanings,
        default_units: match default_units {
            None => Default::default(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                RepoError::Storage(format!("a site's stored default units do not read: {e}"))
            })?,
        },
    })
}

/// The stored columns of a site's settings: the lock in minutes, the meanings and the
/// default units as JSON.
pub(crate) fn settings_columns(
    settings: &SiteSettings,
) -> Result<(i64, String, String), RepoError> {
    let storage = |e: serde_json::Error| RepoError::Storage(e.to_string());
    let meanings = serde_json::to_string(&settings.signature_meanings).map_err(storage)?;
    let units = serde_json::to_string(&settings.default_units).map_err(storage)?;
    Ok((i64::from(settings.lock_after_minutes), meanings, units))
}
