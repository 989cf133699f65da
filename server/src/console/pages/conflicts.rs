//! The conflict review of a case (`GET /cases/{case_id}/conflicts`): the candidates side by
//! side, and the resolve action (`POST /cases/{case_id}/resolve`) that writes the chosen or
//! typed value as the repository.

use super::*;
use crate::console::auth::{check_csrf, csrf, signed_in};
use crate::console::html::{Page, esc, notice, url};
use crate::console::i18n::{M, lang_of};
use crate::console::{ConsoleError, Staff, respond};
use crate::error::ApiError;
use crate::projection::refresh;
use crate::repository::ProjectionRow;
use crate::state::Store;
use crate::state::{AppState, under_site_lock};
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value as Json;
use std::fmt::Write;
use wardcrf_core::repository::{
    HubError, Put, RepositoryEditError, Resolution, resolve_in_document,
};
use wardcrf_core::{FieldPath, Lang, PartialDate, Timestamp};

/// How often a resolution is made again when another writer keeps changing the case.
const RESOLVE_ATTEMPTS: u32 = 5;

#[derive(Deserialize, Default)]
pub struct ConflictParams {
    #[serde(default)]
    resolved: Option<String>,
}

/// The radio value of "another value".
const OTHER: &str = "__other__";

pub async fn conflicts<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    params: Result<Query<ConflictParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let resolved = params.ok().and_then(|q| q.0.resolved).is_some();
    let path = format!("/cases/{}/conflicts", url(&case_id));
    page(&state.clone(), &headers, &path, |staff, lang| async move {
        let row = visible_case(&state, &staff, &case_id).await?;
        conflicts_page(
            &state,
            &staff,
            lang,
            &row,
            resolved.then(|| notice("ok", M::Resolved.get(lang))),
        )
    })
    .await
}

fn conflicts_page<S: Store>(
    state: &AppState<S>,
    staff: &Staff,
    lang: Lang,
    row: &ProjectionRow,
    message: Option<String>,
) -> Result<Page, ConsoleError> {
    let modules: Vec<String> = serde_json::from_str(&row.modules).unwrap_or_default();
    let form = state.forms.form(&row.form_id, &modules).ok();
    let conflicts = parse_json(&row.conflicts);
    let mut b = message.unwrap_or_default();
    let _ = write!(
        b,
        "<p><a href=\"/cases/{}\">{} <code>{}</code></a></p>",
        url(&row.case_id),
        M::ViewCase.get(lang),
        esc(&row.case_id)
    );
    let list = conflicts.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        let _ = write!(b, "<p>{}</p>", M::NoConflicts.get(lang));
    }
    for (n, c) in list.iter().enumerate() {
        let field = c["field"].as_str().unwrap_or("");
        let group = c["group"].as_str();
        let row_id = c["row_id"].as_str();
        let f = form.as_ref().and_then(|f| f.field(field));
        let mut title = f
            .map(|f| f.def.label.get(lang).to_string())
            .unwrap_or_else(|| field.to_string());
        if let (Some(g), Some(r)) = (group, row_id) {
            let glabel = form
                .as_ref()
                .and_then(|f| f.group(g))
                .map(|x| x.label.get(lang).to_string())
                .unwrap_or_else(|| g.to_string());
            title = format!("{glabel} · {} {r} · {title}", M::Row.get(lang));
        }
        let _ = write!(
            b,
            "<form class=\"conflict\" method=\"post\" action=\"/cases/{case}/resolve\">{csrf}\
             <input type=\"hidden\" name=\"field\" value=\"{field}\">\
             <input type=\"hidden\" name=\"group\" value=\"{group}\">\
             <input type=\"hidden\" name=\"row_id\" value=\"{row}\">\
             <fieldset><legend><h2>{title} <code class=\"muted\">{field}</code></h2></legend>\
             <p class=\"muted\">{cands}</p><div class=\"candidates\">",
            case = url(&row.case_id),
            csrf = csrf(staff),
            field = esc(field),
            group = esc(group.unwrap_or("")),
            row = esc(row_id.unwrap_or("")),
            title = esc(&title),
            cands = M::Candidates.get(lang),
        );
        for (i, cand) in c["candidates"].as_array().into_iter().flatten().enumerate() {
            let value = &cand["value"];
            let _ = write!(
                b,
                "<div class=\"candidate\"><input type=\"radio\" id=\"c{n}-{i}\" name=\"choice\" value=\"{json}\" required>\
                 <label for=\"c{n}-{i}\"><span class=\"value\">{shown}</span> <span class=\"keep\">{keep}</span></label>\
                 <dl><dt>{who}</dt><dd>{user}</dd><dt>{when}</dt><dd>{time}</dd><dt>{dev}</dt><dd>{device}</dd>{reason}</dl></div>",
                json = esc(&value.to_string()),
                shown = show_value(f, value, lang),
                keep = M::KeepThis.get(lang),
                who = M::Who.get(lang),
                user = esc(cand["user"].as_str().unwrap_or("")),
                when = M::When.get(lang),
                time =
                    Timestamp::from_unix_seconds(cand["time"].as_i64().unwrap_or(0)).minutes_utc(),
                dev = M::Device.get(lang),
                device = short_device(cand["device"].as_str().unwrap_or(""), lang),
                reason = cand["reason"]
                    .as_str()
                    .map(|r| format!(
                        "<dt>{}</dt><dd class=\"reason\">{}</dd>",
                        M::Why.get(lang),
                        esc(r)
                    ))
                    .unwrap_or_default(),
            );
        }
        let _ = write!(
            b,
            "<div class=\"candidate other\"><input type=\"radio\" id=\"c{n}-o\" name=\"choice\" value=\"{OTHER}\">\
             <label for=\"c{n}-o\">{other}</label>\
             <label class=\"sub\" for=\"v{n}\">{value}</label>\
             <input id=\"v{n}\" name=\"other_value\" aria-describedby=\"vh{n}\">\
             <p class=\"muted\" id=\"vh{n}\">{other_help}</p></div></div>\
             <label for=\"r{n}\">{why}</label>\
             <textarea id=\"r{n}\" name=\"reason\" required maxlength=\"2000\" rows=\"2\" aria-describedby=\"rh{n}\"></textarea>\
             <p class=\"muted\" id=\"rh{n}\">{reason_help}</p>\
             <button type=\"submit\">{resolve}</button></fieldset></form>",
            other = M::OtherValue.get(lang),
            value = M::Value.get(lang),
            other_help = M::OtherValueHelp.get(lang),
            why = M::Why.get(lang),
            reason_help = M::ReasonHelp.get(lang),
            resolve = M::Resolve.get(lang),
        );
    }
    Ok(Page::new(
        format!("{} · {}", M::ReviewConflicts.get(lang), row.case_id),
        b,
    ))
}

#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    field: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    row_id: String,
    #[serde(default)]
    choice: String,
    #[serde(default)]
    other_value: String,
    #[serde(default)]
    reason: String,
}

/// A typed value as the command line reads it: JSON when it parses, plain text otherwise.
fn typed_value(s: &str) -> Json {
    let s = s.trim();
    serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.to_string()))
}

pub async fn resolve<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    form: Result<Form<ResolveForm>, FormRejection>,
) -> Response {
    let lang = lang_of(&headers);
    let staff = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return respond(lang, None, Err(e)),
    };
    let result = resolve_inner(&state, &staff, lang, &case_id, form).await;
    respond(lang, Some(&staff), result)
}

async fn resolve_inner<S: Store>(
    state: &AppState<S>,
    staff: &Staff,
    lang: Lang,
    case_id: &str,
    form: Result<Form<ResolveForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let Form(form) = form.map_err(|_| ConsoleError::BadInput(M::BadRequest.get(lang).into()))?;
    check_csrf(staff, &form.csrf)?;
    let row = visible_case(state, staff, case_id).await?;
    let path = FieldPath {
        field: form.field.clone(),
        group: Some(form.group.clone()).filter(|g| !g.is_empty()),
        row_id: Some(form.row_id.clone()).filter(|r| !r.is_empty()),
    };
    let value = match form.choice.as_str() {
        "" => return Err(ConsoleError::BadInput(M::ChooseValue.get(lang).into())),
        OTHER if form.other_value.trim().is_empty() => {
            return Err(ConsoleError::BadInput(M::ChooseValue.get(lang).into()));
        }
        OTHER => typed_value(&form.other_value),
        json => serde_json::from_str(json)
            .map_err(|_| ConsoleError::BadInput(M::ChooseValue.get(lang).into()))?,
    };
    if form.reason.trim().is_empty() {
        return Err(ConsoleError::BadInput(M::ReasonRequired.get(lang).into()));
    }
    let now = state.now();
    let pool = state.hub.clone();
    let forms = state.forms.clone();
    let site = row.site_id.clone();
    let id = case_id.to_string();
    let user = staff.username.clone();
    let reason = form.reason.clone();
    let outcome = tokio::task::spawn_blocking(
        move || -> Result<Result<(), RepositoryEditError>, ApiError> {
            // Like a device's push: one transaction, the next sequence number of the site
            // (devices pull it at their next sync), written only over the version read; when
            // another writer (another server process) changed the case meanwhile, it is read
            // and resolved again.
            let mut attempts = 0;
            under_site_lock(&pool, &site, |hub| {
                loop {
                    attempts += 1;
                    let stored = hub
                        .storage
                        .case(&id)
                        .map_err(|e| ApiError::Internal(format!("reading case: {e}")))?
                        .ok_or(ApiError::UnknownCase)?;
                    if stored.site != site {
                        return Err(ApiError::UnknownCase);
                    }
                    let modules: Vec<String> =
                        serde_json::from_str(&row.modules).unwrap_or_default();
                    let composed = forms
                        .form(&row.form_id, &modules)
                        .map_err(ApiError::Internal)?;
                    let days = i64::try_from(now / 86_400).unwrap_or(i64::MAX);
                    // The note names the staff user by id and printed name, as a device's does.
                    let author = match hub.storage.staff_user(&user)? {
                        Some(record) => record.attribution(),
                        None => wardcrf_core::staff::Attribution {
                            id: user.clone(),
                            name: user.clone(),
                        },
                    };
                    let resolution = Resolution {
                        path: &path,
                        value: value.clone(),
                        author: &author,
                        reason: &reason,
                        time: i64::try_from(now).unwrap_or(i64::MAX),
                    };
                    // A panic of the document library on damaged bytes is a damaged document too.
                    let resolved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        resolve_in_document(
                            &stored.doc,
                            &composed,
                            &resolution,
                            PartialDate::from_days_since_epoch(days),
                        )
                    }))
                    .unwrap_or_else(|_| {
                        Err(RepositoryEditError::Damaged(
                            "the document library failed on it".into(),
                        ))
                    });
                    let resolved = match resolved {
                        Ok(r) => r,
                        Err(e) => return Ok(Err(e)),
                    };
                    let stored_now =
                        hub.storage
                            .atomically(|storage| -> Result<bool, ApiError> {
                                let put = storage
                                    .put_case(
                                        &id,
                                        &site,
                                        &stored.form_id,
                                        &resolved.doc,
                                        Some(stored.seq),
                                    )
                                    .map_err(|e| {
                                        ApiError::Internal(format!("storing case: {e}"))
                                    })?;
                                match put {
                                    Put::Stored(_) => {}
                                    Put::Changed => return Ok(false),
                                    Put::OtherSite => return Err(ApiError::UnknownCase),
                                }
                                // Its queue row in the same transaction; then, off the
                                // sync path, this one case is projected now so the page
                                // shows the resolution.
                                storage.enqueue_projection(&id, now)?;
                                Ok(true)
                            })?;
                    if stored_now {
                        refresh(hub, &forms, &id, now)?;
                        return Ok(Ok(()));
                    }
                    if attempts >= RESOLVE_ATTEMPTS {
                        return Err(ApiError::Hub(HubError::Changed(id.clone())));
                    }
                }
            })
        },
    )
    .await
    .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))??;
    match outcome {
        Ok(()) => Ok(
            Redirect::to(&format!("/cases/{}/conflicts?resolved=1", url(case_id))).into_response(),
        ),
        Err(RepositoryEditError::NoConflict(_)) => {
            Err(ConsoleError::Conflict(M::AlreadyResolved.get(lang).into()))
        }
        Err(RepositoryEditError::ReasonRequired) => {
            Err(ConsoleError::BadInput(M::ReasonRequired.get(lang).into()))
        }
        Err(RepositoryEditError::Deleted) => {
            Err(ConsoleError::Conflict(M::CaseDeleted.get(lang).into()))
        }
        Err(RepositoryEditError::Rejected { issues, .. }) => {
            let why: Vec<&str> = issues.iter().map(|i| i.message.get(lang)).collect();
            Err(ConsoleError::BadInput(format!(
                "{}: {}",
                M::ValueRefused.get(lang),
                why.join(" ")
            )))
        }
        Err(RepositoryEditError::UnknownRow { .. } | RepositoryEditError::UnknownField(_)) => {
            Err(ConsoleError::BadInput(M::BadRequest.get(lang).into()))
        }
        Err(RepositoryEditError::Damaged(d)) => {
            tracing::warn!(case = %case_id, damage = %d, "console: the case cannot be resolved: its stored document is damaged");
            Err(ConsoleError::Damaged)
        }
    }
}
