//! The repository's side of one sync exchange and the projections it keeps.
//!
//! [`exchange`] runs one exchange of a device under its site's sync lock: the read and merge
//! phase (where the core refuses, on the decoded changes, any new change writing a field its
//! site keeps on the devices), then one write transaction (the exchange, the device's last
//! sync, and every stored case queued for projection: all or nothing), made again from the
//! start when another writer changed a case meanwhile. No projection is made in the exchange:
//! the console's projections and data-quality flags trail the sync by the queue's lag
//! (`worker.rs` drains the queue; the console and the API show the lag and mark what is
//! stale). [`project`] makes one projection row (validated with the bundled forms: errors
//! and warnings become data-quality flags, which never refuse a sync); [`backfill`] queues
//! the cases an older server stored without one.

mod worker;

pub use worker::Workers;
pub(crate) use worker::{ProjectionWake, drain, refresh, start_workers};

use crate::error::ApiError;
use crate::forms::Forms;
use crate::repository::{AtomicHub, DeviceAuth, HubPool, ProjectionRow, RepoError};
use crate::state::{Store, under_site_lock};
use serde_json::{Value, json};
use wardcrf_core::repository::{CaseProjection, Exchanged, Hub, HubError};
use wardcrf_core::sync::SyncRequest;
use wardcrf_core::{Context, Lang, PartialDate};

/// How often an exchange is made when another writer keeps changing its cases.
const ATTEMPTS: u32 = 3;

/// What one exchange did, counted for the log (never a value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Cases the device pushed.
    pub(crate) pushed: usize,
    /// Pushed cases the repository stored (and queued for projection).
    pub(crate) stored: usize,
    /// Open conflicts in the cases stored.
    pub(crate) conflicts: u64,
    /// Cases sent to the device (its own merged ones and those it lacked).
    pub(crate) sent: usize,
    /// Quarantined cases the device is asked to push again.
    pub(crate) repush: usize,
    /// Attempts made (more than one when another writer changed a case meanwhile).
    pub(crate) attempts: u32,
}

/// One exchange done: the answer for the device, and what it did.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) exchanged: Exchanged,
    pub(crate) counts: Counts,
}

/// Runs one exchange of the device `auth` (see the module documentation). Blocks: call it on
/// the blocking threads.
pub(crate) fn exchange<S: Store>(
    pool: &HubPool<S>,
    auth: &DeviceAuth,
    request: &SyncRequest,
    forms: &Forms,
    now: u64,
) -> Result<Done, ApiError> {
    let mut done = under_site_lock(pool, &auth.site_id, |hub| {
        // Another writer (the console) can change a case between the two phases: the
        // exchange is then made again from the start.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match sync_exchange(hub, auth, request, forms, now) {
                Err(ApiError::Hub(HubError::Changed(_))) if attempts < ATTEMPTS => continue,
                Err(e) => return Err(e),
                Ok(mut done) => {
                    done.counts.attempts = attempts;
                    return Ok(done);
                }
            }
        }
    })?;
    for q in &done.exchanged.quarantined {
        tracing::warn!(
            target: "wardcrf::sync",
            case = %q.case_id,
            site = %q.site,
            reason = %q.reason,
            last_pushed_by = q.device.as_deref().unwrap_or("unknown"),
            found_by = %auth.device_id,
            "a case is quarantined: its stored document cannot be loaded; the site's devices \
             are asked to push it again"
        );
    }
    let response = &done.exchanged.response;
    done.counts.pushed = request.push.len();
    done.counts.sent = response.cases.len();
    done.counts.repush = response.repush.len();
    Ok(done)
}

/// One exchange in two phases: reading and merging with no transaction open, under the
/// site's lock; then the writes in one short transaction (the exchange, the device's last
/// sync and the queue rows of the cases it stored: all or nothing).
fn sync_exchange<S: Store>(
    hub: &mut Hub<S>,
    auth: &DeviceAuth,
    request: &SyncRequest,
    forms: &Forms,
    now: u64,
) -> Result<Done, ApiError> {
    let identifying = forms
        .identifying(auth.identifying_on_device)
        .ok_or_else(|| ApiError::Internal("the bundled form catalog could not be loaded".into()))?;
    let mut prepared = hub.prepare(&auth.site_id, &auth.device_id, request, &identifying)?;
    // The cases this exchange stores are queued for projection; flags never refuse a sync.
    let stored = prepared.take_stored();
    let counts = Counts {
        stored: stored.len(),
        conflicts: stored.iter().map(|s| s.conflicts as u64).sum(),
        ..Counts::default()
    };
    // The exchange, the device's last sync and the queue rows: all or nothing.
    let exchanged = hub.atomically(|hub| -> Result<_, ApiError> {
        let exchanged = hub.write(prepared)?;
        hub.storage.record_sync(&auth.device_id, now)?;
        let ids: Vec<&str> = stored.iter().map(|s| s.case_id.as_str()).collect();
        hub.storage.enqueue_projections(&ids, now)?;
        Ok(exchanged)
    })?;
    Ok(Done { exchanged, counts })
}

/// A case's projection row, made from its stored document at `seq`: its values validated
/// with the bundled form and its modules (errors and warnings become the data-quality flags).
/// The flags are counted on the validation report and the projection's typed parts are
/// serialised once, into the row's text columns.
pub(crate) fn project(
    case_id: &str,
    site_id: &str,
    stored_form_id: &str,
    p: &CaseProjection,
    seq: u64,
    forms: &Forms,
    now: u64,
) -> ProjectionRow {
    let form_id = if p.form_id.is_empty() {
        stored_form_id.to_string()
    } else {
        p.form_id.clone()
    };
    // A case of an earlier form version is shown, checked and exported as the current version
    // reads it, until a device moves it (wardcrf_core::case::upgrade).
    let mut values = p.values.clone();
    let (flags, n_flags) = match forms.form(&form_id, &p.modules) {
        Ok(form) => {
            wardcrf_core::case::upgrade::as_current(&form, &p.form_version, &mut values);
            let days = i64::try_from(now / 86_400).unwrap_or(i64::MAX);
            let ctx = Context {
                today: PartialDate::from_days_since_epoch(days),
                completing: false,
                default_units: None,
            };
            let report = wardcrf_core::validate(&form, &values, &ctx);
            // A value left in a field the answers now hide is shown as a warning.
            let n = report.errors.len() + report.warnings.len() + report.hidden.len();
            let j = report.to_json(Lang::En);
            let warnings: Vec<&Value> = j["warnings"]
                .as_array()
                .into_iter()
                .chain(j["hidden"].as_array())
                .flatten()
                .collect();
            (json!({"errors": j["errors"], "warnings": warnings}), n)
        }
        Err(message) => (
            json!({
                "errors": [{"field": "", "code": "unknown_form", "message": message}],
                "warnings": [],
            }),
            1,
        ),
    };
    ProjectionRow {
        case_id: case_id.to_string(),
        site_id: site_id.to_string(),
        form_id,
        modules: text(&p.modules),
        status: p.status.clone(),
        deleted: p.deleted,
        values: text(&values),
        conflicts: text(&p.conflicts),
        n_conflicts: p.conflicts.len() as u64,
        flags: flags.to_string(),
        n_flags: n_flags as u64,
        updated_at: now,
        projected_seq: seq,
    }
}

/// Compact JSON text of a projection's part (as `serde_json::Value`'s `to_string` writes it).
fn text<T: serde::Serialize + ?Sized>(part: &T) -> String {
    serde_json::to_string(part).unwrap_or_else(|_| Value::Null.to_string())
}

/// Queues every stored case whose projection is missing or older than its document (cases
/// stored by a server version older than projections, or than the queue); returns how many.
/// The workers (or [`drain`]) project them.
pub(crate) fn backfill<S: Store>(pool: &HubPool<S>, now: u64) -> Result<usize, RepoError> {
    let mut hub = pool.lease()?;
    let n = hub.storage.enqueue_unprojected(now)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
