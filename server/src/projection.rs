//! The repository's side of one sync exchange and the projections it keeps.
//!
//! [`exchange`] runs one exchange of a device under its site's sync lock: the read and merge
//! phase (where the core refuses, on the decoded changes, any new change writing a field its
//! site keeps on the devices), the projection of every case it stores (validated with the
//! bundled forms on up to 4 threads: errors and warnings become data-quality flags, which
//! never refuse a sync), then one write transaction (the exchange, the device's last sync and
//! the projections: all or nothing), made again from the start when another writer changed a
//! case meanwhile. [`project`] makes one projection row; [`backfill`] projects the cases an
//! older server stored without one.

use crate::error::ApiError;
use crate::forms::Forms;
use crate::repository::{AtomicHub, DeviceAuth, HubPool, ProjectionRow, RepoError};
use crate::state::{Store, under_site_lock};
use serde_json::{Value, json};
use std::collections::HashMap;
use wardcrf_core::repository::{
    CaseProjection, Exchanged, Hub, HubError, case_projection, parallel_map,
};
use wardcrf_core::sync::{CaseChanges, SyncRequest};
use wardcrf_core::{Context, Lang, PartialDate};

/// How often an exchange is made when another writer keeps changing its cases.
const ATTEMPTS: u32 = 3;

/// What one exchange did, counted for the log (never a value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Cases the device pushed.
    pub(crate) pushed: usize,
    /// Pushed cases the repository stored (and projected).
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

/// One exchange in two phases: reading and merging (and checking the projections) with no
/// transaction open, under the site's lock; then the writes in one short transaction (the
/// exchange, the device's last sync and the projections: all or nothing).
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
    // The projections of the cases this exchange stores; flags never refuse a sync.
    let rows = project_all(
        prepared.take_projections(),
        &request.push,
        &auth.site_id,
        forms,
        now,
    );
    let counts = Counts {
        stored: rows.len(),
        conflicts: rows.iter().map(|r| r.n_conflicts).sum(),
        ..Counts::default()
    };
    // The exchange, the device's last sync and the projections: all or nothing.
    let exchanged = hub.atomically(|hub| -> Result<_, ApiError> {
        let exchanged = hub.write(prepared)?;
        hub.storage.record_sync(&auth.device_id, now)?;
        for row in &rows {
            hub.storage.put_projection(row)?;
        }
        Ok(exchanged)
    })?;
    Ok(Done { exchanged, counts })
}

/// The projection rows of the cases an exchange stored, validated on up to 4 threads.
fn project_all(
    stored: Vec<(String, CaseProjection)>,
    pushed: &[CaseChanges],
    site_id: &str,
    forms: &Forms,
    now: u64,
) -> Vec<ProjectionRow> {
    let form_ids: HashMap<&str, &str> = pushed
        .iter()
        .map(|c| (c.case_id.as_str(), c.form_id.as_str()))
        .collect();
    let work: Vec<(String, CaseProjection, &str)> = stored
        .into_iter()
        .map(|(case_id, p)| {
            let form_id = form_ids.get(case_id.as_str()).copied().unwrap_or_default();
            (case_id, p, form_id)
        })
        .collect();
    parallel_map(&work, |(case_id, p, form_id)| {
        project_row(case_id, site_id, form_id, p, forms, now)
    })
}

/// A case's projection row: its values validated with the bundled form and its modules
/// (errors and warnings become the data-quality flags).
pub(crate) fn project(
    case_id: &str,
    site_id: &str,
    stored_form_id: &str,
    p: CaseProjection,
    forms: &Forms,
    now: u64,
) -> ProjectionRow {
    project_row(case_id, site_id, stored_form_id, &p, forms, now)
}

/// [`project`] of a borrowed projection. The flags are counted on the validation report and
/// the projection's typed parts are serialised once, into the row's text columns.
fn project_row(
    case_id: &str,
    site_id: &str,
    stored_form_id: &str,
    p: &CaseProjection,
    forms: &Forms,
    now: u64,
) -> ProjectionRow {
    let form_id = if p.form_id.is_empty() {
        stored_form_id.to_string()
    } else {
        p.form_id.clone()
    };
    let (flags, n_flags) = match forms.form(&form_id, &p.modules) {
        Ok(form) => {
            let days = i64::try_from(now / 86_400).unwrap_or(i64::MAX);
            let ctx = Context {
                today: PartialDate::from_days_since_epoch(days),
                completing: false,
            };
            let report = wardcrf_core::validate(&form, &p.values, &ctx);
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
        values: text(&p.values),
        conflicts: text(&p.conflicts),
        n_conflicts: p.conflicts.len() as u64,
        flags: flags.to_string(),
        n_flags: n_flags as u64,
        updated_at: now,
    }
}

/// Compact JSON text of a projection's part (as `serde_json::Value`'s `to_string` writes it).
fn text<T: serde::Serialize + ?Sized>(part: &T) -> String {
    serde_json::to_string(part).unwrap_or_else(|_| Value::Null.to_string())
}

/// Gives every stored case without a projection its projection; returns how many. A case
/// whose document cannot be read is logged and left without one.
pub(crate) fn backfill<S: Store>(
    pool: &HubPool<S>,
    forms: &Forms,
    now: u64,
) -> Result<usize, RepoError> {
    let mut hub = pool.lease()?;
    let missing = hub.storage.cases_without_projection()?;
    let mut done = 0;
    for case_id in &missing {
        let stored = hub
            .storage
            .case(case_id)
            .map_err(|e| RepoError::Storage(e.to_string()))?;
        if let Some(stored) = stored {
            let projected = case_projection(&stored.doc)
                .map(|p| project(case_id, &stored.site, &stored.form_id, p, forms, now));
            match projected {
                Ok(row) => {
                    hub.storage.put_projection(&row)?;
                    done += 1;
                }
                Err(e) => tracing::error!(
                    target: "wardcrf::projection",
                    case = %case_id,
                    error = %e,
                    "a stored case cannot be projected"
                ),
            }
        }
    }
    Ok(done)
}
