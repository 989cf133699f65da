//! The admin-token reads of stored cases: `GET /api/cases` (the projections, filtered),
//! `GET /api/cases/{case_id}` (one projection) and `GET /api/cases/{case_id}/history` (its
//! audit trail, read from the stored document; a document that cannot be read is quarantined
//! and answered `quarantined`).
//!
//! Projections trail the stored documents by the projection queue's lag, and never silently:
//! each listed case carries `projected_seq` (the stored document's number it was made from)
//! and `stale` (a newer document waits for its projection). One case asked for is projected
//! first if it waits, so it is answered current unless its document cannot be projected:
//! then `stale` is true, with `projection_error`.

use crate::error::ApiError;
use crate::repository::CaseQuery;
use crate::state::{AppState, Store, blocking};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseParams {
    site: Option<String>,
    status: Option<String>,
    flagged: Option<bool>,
    conflicts: Option<bool>,
}

pub(crate) async fn list_cases<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    params: Result<Query<CaseParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let Query(params) = params.map_err(|e| {
        ApiError::BadRequest(format!(
            "bad query: {}; use site, status (draft, complete, signed), flagged and conflicts (true or false)",
            e.body_text()
        ))
    })?;
    if let Some(s) = &params.status
        && !["draft", "complete", "signed"].contains(&s.as_str())
    {
        return Err(ApiError::BadRequest(
            "status must be draft, complete or signed".into(),
        ));
    }
    let query = CaseQuery {
        site_id: params.site,
        status: params.status,
        flagged: params.flagged,
        conflicts: params.conflicts,
    };
    let cases = state
        .with_hub(move |hub| Ok(hub.storage.projections(&query)?))
        .await?;
    Ok(Json(json!(cases)))
}

pub(crate) async fn get_case<S: Store>(
    State(state): State<AppState<S>>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let (forms, now) = (state.forms.clone(), state.now());
    let (row, waiting) = state
        .with_hub(move |hub| {
            let waiting = crate::projection::refresh(hub, &forms, &case_id, now)?;
            Ok((hub.storage.projection(&case_id)?, waiting))
        })
        .await?;
    let row = row.ok_or(ApiError::UnknownCase)?;
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    Ok(Json(json!({
        "case_id": row.case_id,
        "site_id": row.site_id,
        "form_id": row.form_id,
        "modules": parse(&row.modules),
        "status": row.status,
        "deleted": row.deleted,
        "values": parse(&row.values),
        "conflicts": parse(&row.conflicts),
        "flags": parse(&row.flags),
        "updated_at": row.updated_at,
        "projected_seq": row.projected_seq,
        "stale": waiting.is_some(),
        "projection_error": waiting.and_then(|w| w.failure),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    field: Option<String>,
}

/// The audit trail of a case as the repository holds it: every change from every device,
/// oldest first, the same entries a device shows after syncing.
pub(crate) async fn get_case_history<S: Store>(
    State(state): State<AppState<S>>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    state.check_admin(&headers)?;
    let Query(params) = params.map_err(|e| {
        ApiError::BadRequest(format!(
            "bad query: {}; the only parameter is field",
            e.body_text()
        ))
    })?;
    let id = case_id.clone();
    let stored = state
        .with_hub(move |hub| {
            hub.storage
                .case(&id)
                .map_err(|e| ApiError::Internal(format!("reading case: {e}")))
        })
        .await?
        .ok_or(ApiError::UnknownCase)?;
    let history =
        blocking(move || crate::export::read_history(&stored.doc, params.field.as_deref())).await?;
    match history {
        Ok(history) => Ok(Json(json!(history))),
        Err(reason) => {
            state
                .with_hub(move |hub| {
                    crate::export::quarantine_found(
                        &mut hub.storage,
                        &case_id,
                        &reason,
                        "a history request",
                    );
                    Ok(())
                })
                .await?;
            Err(ApiError::Quarantined)
        }
    }
}
