//! The rows the repository reads and writes ([`SiteSummary`], [`DeviceInfo`], [`DeviceAuth`],
//! [`ProjectionRow`], [`CaseListItem`], [`StaffRecord`], [`StaffSession`]), the query of the
//! case list ([`CaseQuery`]), and how each is read from a result row: once, for both
//! backends, through [`Columns`] (the columns by position, as the `SELECT` lists them).

use super::to_u64;
use wardcrf_core::repository::{QuarantinedCase, StoredCase};
use wardcrf_core::staff::{Attribution, StaffMember, StaffRole};

/// A site as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteSummary {
    pub site_id: String,
    pub name: String,
    pub devices: u64,
    pub cases: u64,
    /// The site keeps identifying data on its devices: never synced.
    pub identifying_on_device: bool,
}

/// An enrolled device as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub device_id: String,
    pub site_id: String,
    pub enrolled_at: u64,
    pub last_sync_at: Option<u64>,
    pub revoked: bool,
}

/// Who a device token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device_id: String,
    pub site_id: String,
    pub revoked: bool,
    /// Its site keeps identifying data on the devices: a push carrying any is refused.
    pub identifying_on_device: bool,
}

/// The stored projection of one case (JSON columns as JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionRow {
    pub case_id: String,
    pub site_id: String,
    pub form_id: String,
    /// JSON array of module ids.
    pub modules: String,
    pub status: String,
    pub deleted: bool,
    /// JSON object of the current values.
    pub values: String,
    /// JSON array of open conflicts.
    pub conflicts: String,
    pub n_conflicts: u64,
    /// JSON `{"errors": [..], "warnings": [..]}`.
    pub flags: String,
    pub n_flags: u64,
    pub updated_at: u64,
    /// The sequence number of the stored document this projection was made from.
    pub projected_seq: u64,
}

/// Which projections `GET /api/cases` lists; `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseQuery {
    pub site_id: Option<String>,
    pub status: Option<String>,
    /// Only cases with (true) or without (false) data-quality flags.
    pub flagged: Option<bool>,
    /// Only cases with (true) or without (false) open conflicts.
    pub conflicts: Option<bool>,
}

/// A case as `GET /api/cases` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaseListItem {
    pub case_id: String,
    pub site_id: String,
    pub form_id: String,
    pub status: String,
    pub deleted: bool,
    pub conflicts: u64,
    pub flags: u64,
    pub updated_at: u64,
    /// The sequence number of the stored document the listed projection was made from.
    pub projected_seq: u64,
    /// A newer document is stored and waits for its projection (or could not be projected):
    /// what is listed is older than the case.
    pub stale: bool,
}

/// A staff user of the web console; the password only as its salted hash.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffRecord {
    pub username: String,
    /// `admin`, `data_manager`, `site_nurse` or `clinician`.
    pub role: String,
    /// The site of a site nurse or a clinician.
    pub site_id: Option<String>,
    /// The printed name shown with the person's entries and signatures; empty: the user name
    /// (see [`StaffRecord::printed_name`]).
    pub display_name: String,
    /// Raised by every password reset (devices then ask for an online sign-in).
    pub credential_epoch: u64,
    pub password_hash: String,
    /// Consecutive failed logins.
    pub failed_logins: u64,
    /// Locked until then (unix seconds) after too many failed logins.
    pub locked_until: Option<u64>,
    pub disabled: bool,
    pub created_at: u64,
}

impl StaffRecord {
    /// The printed name: the display name, or the user name when it has none.
    pub fn printed_name(&self) -> &str {
        if self.display_name.trim().is_empty() {
            &self.username
        } else {
            &self.display_name
        }
    }

    /// The person as a device's roster lists them; `None` for a role that does not sign in
    /// on tablets (admin, data manager).
    pub fn member(&self) -> Option<StaffMember> {
        Some(StaffMember {
            id: self.username.clone(),
            display_name: self.printed_name().to_string(),
            role: StaffRole::parse(&self.role)?,
            active: !self.disabled,
            credential_epoch: self.credential_epoch,
        })
    }

    /// The attribution of the changes this person makes (id and printed name).
    pub fn attribution(&self) -> Attribution {
        Attribution {
            id: self.username.clone(),
            name: self.printed_name().to_string(),
        }
    }
}

impl std::fmt::Debug for StaffRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffRecord")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("site_id", &self.site_id)
            .field("password_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A live console session and who holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub username: String,
    pub role: String,
    pub site_id: Option<String>,
    /// The session's synchronizer token, required with every POST.
    pub csrf_token: String,
    pub expires_at: u64,
}

impl std::fmt::Debug for StaffSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffSession")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("site_id", &self.site_id)
            .finish_non_exhaustive()
    }
}

/// One result row of either backend, read by column position. Integers are the database's
/// 64-bit integers; flags its booleans (SQLite: 0 or 1).
pub(crate) trait Columns {
    type Error;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn text_opt(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    fn int_opt(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    fn flag(&self, i: usize) -> Result<bool, Self::Error>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>, Self::Error>;

    /// A count or time (never negative; a negative one reads as 0).
    fn count(&self, i: usize) -> Result<u64, Self::Error> {
        self.int(i).map(to_u64)
    }

    fn count_opt(&self, i: usize) -> Result<Option<u64>, Self::Error> {
        Ok(self.int_opt(i)?.map(to_u64))
    }
}

/// `site_id, name, <devices>, <cases>, identifying_on_device`
pub(crate) fn site_summary<R: Columns>(r: &R) -> Result<SiteSummary, R::Error> {
    Ok(SiteSummary {
        site_id: r.text(0)?,
        name: r.text(1)?,
        devices: r.count(2)?,
        cases: r.count(3)?,
        identifying_on_device: r.flag(4)?,
    })
}

/// `device_id, site_id, enrolled_at, last_sync_at, revoked`
pub(crate) fn device_info<R: Columns>(r: &R) -> Result<DeviceInfo, R::Error> {
    Ok(DeviceInfo {
        device_id: r.text(0)?,
        site_id: r.text(1)?,
        enrolled_at: r.count(2)?,
        last_sync_at: r.count_opt(3)?,
        revoked: r.flag(4)?,
    })
}

/// `device_id, site_id, revoked, <site's> identifying_on_device`
pub(crate) fn device_auth<R: Columns>(r: &R) -> Result<DeviceAuth, R::Error> {
    Ok(DeviceAuth {
        device_id: r.text(0)?,
        site_id: r.text(1)?,
        revoked: r.flag(2)?,
        identifying_on_device: r.flag(3)?,
    })
}

/// `case_id, site_id, form_id, modules, status, deleted, "values", conflicts, n_conflicts,
/// flags, n_flags, updated_at, projected_seq`
pub(crate) fn projection_row<R: Columns>(r: &R) -> Result<ProjectionRow, R::Error> {
    Ok(ProjectionRow {
        case_id: r.text(0)?,
        site_id: r.text(1)?,
        form_id: r.text(2)?,
        modules: r.text(3)?,
        status: r.text(4)?,
        deleted: r.flag(5)?,
        values: r.text(6)?,
        conflicts: r.text(7)?,
        n_conflicts: r.count(8)?,
        flags: r.text(9)?,
        n_flags: r.count(10)?,
        updated_at: r.count(11)?,
        projected_seq: r.count(12)?,
    })
}

/// `case_id, site_id, form_id, status, deleted, n_conflicts, n_flags, updated_at,
/// projected_seq, <stale>`
pub(crate) fn case_list_item<R: Columns>(r: &R) -> Result<CaseListItem, R::Error> {
    Ok(CaseListItem {
        case_id: r.text(0)?,
        site_id: r.text(1)?,
        form_id: r.text(2)?,
        status: r.text(3)?,
        deleted: r.flag(4)?,
        conflicts: r.count(5)?,
        flags: r.count(6)?,
        updated_at: r.count(7)?,
        projected_seq: r.count(8)?,
        stale: r.flag(9)?,
    })
}

/// The columns of a [`StaffRecord`], in the order [`staff_record`] reads them.
pub(crate) const STAFF_COLUMNS: &str = "username, role, site_id, password_hash, failed_logins, \
     locked_until, disabled, created_at, display_name, credential_epoch";

/// [`STAFF_COLUMNS`]
pub(crate) fn staff_record<R: Columns>(r: &R) -> Result<StaffRecord, R::Error> {
    Ok(StaffRecord {
        username: r.text(0)?,
        role: r.text(1)?,
        site_id: r.text_opt(2)?,
        password_hash: r.text(3)?,
        failed_logins: r.count(4)?,
        locked_until: r.count_opt(5)?,
        disabled: r.flag(6)?,
        created_at: r.count(7)?,
        display_name: r.text(8)?,
        credential_epoch: r.count(9)?,
    })
}

/// `username, role, site_id, csrf_token, expires_at`
pub(crate) fn staff_session<R: Columns>(r: &R) -> Result<StaffSession, R::Error> {
    Ok(StaffSession {
        username: r.text(0)?,
        role: r.text(1)?,
        site_id: r.text_opt(2)?,
        csrf_token: r.text(3)?,
        expires_at: r.count(4)?,
    })
}

/// `site_id, form_id, doc, seq`
pub(crate) fn stored_case<R: Columns>(r: &R) -> Result<StoredCase, R::Error> {
    Ok(StoredCase {
        site: r.text(0)?,
        form_id: r.text(1)?,
        doc: r.bytes(2)?,
        seq: r.count(3)?,
    })
}

/// The columns of a [`QuarantinedCase`], in the order [`quarantined_case`] reads them.
pub(crate) const QUARANTINE_COLUMNS: &str = "case_id, site_id, reason, device_id, first_seen";

/// [`QUARANTINE_COLUMNS`]
pub(crate) fn quarantined_case<R: Columns>(r: &R) -> Result<QuarantinedCase, R::Error> {
    Ok(QuarantinedCase {
        case_id: r.text(0)?,
        site: r.text(1)?,
        reason: r.text(2)?,
        device: r.text_opt(3)?,
        first_seen: r.count(4)?,
    })
}
