//! The pages every staff user has: the overview, the case list, a case by section, the
//! conflict review with its resolve action, and (administrators, data managers) exports.
//!
//! - `overview`: the overview at `/`;
//! - `case_list`: the case list at `/cases`;
//! - `case_view`: one case at `/cases/{case_id}`;
//! - `conflicts`: the conflict review and its resolve action;
//! - `exports`: `/exports` and its download form.
//!
//! Here: the helpers they share (the page runner, site and device labels, a case visible to
//! the user, values as a person reads them).

mod case_list;
mod case_view;
mod conflicts;
mod exports;
mod overview;

use crate::console::auth::signed_in;
use crate::console::html::{Page, esc, notice, url};
use crate::console::i18n::{M, lang_of};
use crate::console::{ConsoleError, ConsoleSettings, Staff, respond};
use crate::error::ApiError;
use crate::export::damaged_cases;
use crate::repository::{CaseListItem, ProjectionBacklog, ProjectionRow};
use crate::state::AppState;
use crate::state::Store;
use axum::Extension;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use wardcrf_core::case::Parts;
use wardcrf_core::repository::{HubStorage, is_repository_actor};
use wardcrf_core::{FieldType, FormField, Lang};

pub use case_list::case_list;
pub use case_view::case_view;
pub use conflicts::{conflicts, resolve};
pub use exports::{download, exports};
pub use overview::overview;

fn demo_note(settings: &Option<Extension<ConsoleSettings>>, lang: Lang) -> String {
    match settings {
        Some(Extension(s)) if s.demo => notice("ok", M::DemoNote.get(lang)),
        _ => String::new(),
    }
}

/// Runs a page handler: the signed-in user, the page or its error as a page.
async fn page<S, F, Fut>(state: &AppState<S>, headers: &HeaderMap, path: &str, f: F) -> Response
where
    S: Store,
    F: FnOnce(Staff, Lang) -> Fut,
    Fut: std::future::Future<Output = Result<Page, ConsoleError>>,
{
    let lang = lang_of(headers);
    let staff = match signed_in(state, headers).await {
        Ok(s) => s,
        Err(ConsoleError::SignedOut) => {
            return Redirect::to(&format!("/login?next={}", url(path))).into_response();
        }
        Err(e) => return respond(lang, None, Err(e)),
    };
    match f(staff.clone(), lang).await {
        Ok(p) => p.render(lang, Some(&staff), path),
        Err(e) => respond(lang, Some(&staff), Err(e)),
    }
}

fn site_name(id: &str, names: &HashMap<String, String>) -> String {
    match names.get(id) {
        Some(n) => format!("{} <span class=\"muted\">({})</span>", esc(n), esc(id)),
        None => esc(id),
    }
}

fn short_device(device: &str, lang: Lang) -> String {
    if is_repository_actor(device) {
        format!("<span class=\"tag\">{}</span>", M::Repository.get(lang))
    } else {
        format!(
            "<code title=\"{d}\">{}</code>",
            esc(device.get(..8).unwrap_or(device)),
            d = esc(device)
        )
    }
}

/// Who made a change, as the console shows it (HTML): the printed name and staff id of a
/// signed-in author, or "unverified: <name>" for a change made before staff signed in on
/// devices (the core's `ChangeNote::author`, in the page's language).
fn author_html(e: &wardcrf_core::HistoryEntry, lang: Lang) -> String {
    match (&e.user_name, e.verified) {
        (Some(name), true) => format!("{} <code>{}</code>", esc(name), esc(&e.user)),
        _ => format!(
            "<span class=\"tag warn\">{}</span> {}",
            M::Unverified.get(lang),
            esc(&e.user)
        ),
    }
}

/// The marker of a case whose stored document is damaged (administrators see it).
/// A case listed from a projection older than its stored document.
fn stale_tag(lang: Lang) -> String {
    format!(
        "<span class=\"tag warn stale\" title=\"{}\">{}</span>",
        esc(M::StaleHelp.get(lang)),
        M::Stale.get(lang)
    )
}

/// What the console says of the projection queue: how many cases await their projection and
/// for how long, and how many could not be projected; nothing when the queue is empty.
fn backlog_notice(backlog: &ProjectionBacklog, lang: Lang) -> String {
    let mut out = String::new();
    if backlog.pending > 0 {
        let text = M::AwaitingProjection
            .get(lang)
            .replace("{n}", &backlog.pending.to_string())
            .replace("{s}", &backlog.oldest_age_secs.to_string());
        out.push_str(&notice("info backlog", &text));
    }
    if backlog.failed > 0 {
        let text = M::ProjectionFailed
            .get(lang)
            .replace("{n}", &backlog.failed.to_string());
        out.push_str(&notice("error backlog", &text));
    }
    out
}

fn damaged_tag(lang: Lang) -> String {
    format!(
        "<span class=\"tag error damaged\" title=\"{}\">{}</span>",
        esc(M::CaseDamaged.get(lang)),
        M::Damaged.get(lang)
    )
}

/// For an administrator, the cases of `cases` whose stored document is damaged (see
/// [`damaged_cases`]); nothing is read for other roles.
fn damaged_for<S: HubStorage>(
    storage: &mut S,
    staff_administers: bool,
    cases: &[CaseListItem],
) -> Result<BTreeMap<String, String>, ApiError> {
    if !staff_administers {
        return Ok(BTreeMap::new());
    }
    damaged_cases(storage, cases.iter().map(|c| c.case_id.as_str())).map_err(ApiError::Internal)
}

fn select(id: &str, label: &str, options: &[(String, String)], selected: Option<&str>) -> String {
    let mut s = format!(
        "<div class=\"field\"><label for=\"{id}\">{label}</label><select id=\"{id}\" name=\"{id}\">"
    );
    for (value, text) in options {
        let sel = if selected == Some(value.as_str()) || (selected.is_none() && value.is_empty()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            s,
            "<option value=\"{}\"{sel}>{}</option>",
            esc(value),
            esc(text)
        );
    }
    s.push_str("</select></div>");
    s
}

/// A case's projection, if the user sees its site (404 otherwise, as if absent).
async fn visible_case<S: Store>(
    state: &AppState<S>,
    staff: &Staff,
    case_id: &str,
) -> Result<ProjectionRow, ConsoleError> {
    let id = case_id.to_string();
    let (forms, now) = (state.forms.clone(), state.now());
    // A case waiting in the projection queue is projected first: one case is shown current.
    let row = state
        .with_hub(move |hub| {
            crate::projection::refresh(hub, &forms, &id, now)?;
            Ok(hub.storage.projection(&id)?)
        })
        .await?
        .ok_or(ConsoleError::NotFound)?;
    if staff.sees_site(&row.site_id) {
        Ok(row)
    } else {
        Err(ConsoleError::NotFound)
    }
}

fn parse_json(s: &str) -> Json {
    serde_json::from_str(s).unwrap_or(Json::Null)
}

/// A value as a person reads it: choice labels, units, yes/no.
fn show_value(field: Option<&FormField>, v: &Json, lang: Lang) -> String {
    let code_label = |code: &Json| -> String {
        let code_text = match code {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        match field.and_then(|f| f.choice_label(&code_text)) {
            Some(t) => format!(
                "{} <span class=\"muted\">[{}]</span>",
                esc(t.get(lang)),
                esc(&code_text)
            ),
            None => esc(&code_text),
        }
    };
    if let Some(parts) = Parts::annotated(v) {
        let mut s = show_value(field, parts.answer, lang);
        if let Some(u) = parts.unit
            && !s.ends_with(&esc(&wardcrf_core::ucum::display(u, lang)))
        {
            let _ = write!(s, " {}", esc(&wardcrf_core::ucum::display(u, lang)));
        }
        if let Some(c) = parts.confirm {
            let _ = write!(s, " <span class=\"muted\">({})</span>", esc(c));
        }
        return s;
    }
    match v {
        Json::Null => "—".into(),
        Json::Bool(b) => if *b {
            M::Yes.get(lang)
        } else {
            M::No.get(lang)
        }
        .into(),
        Json::String(s) => match field.map(|f| f.def.kind) {
            Some(FieldType::Choice) => code_label(v),
            _ => esc(s),
        },
        Json::Number(_) => match field.map(|f| f.def.kind) {
            Some(FieldType::Choice) => code_label(v),
            _ => {
                let unit = field
                    .and_then(|f| f.def.unit.as_deref())
                    .map(|u| format!(" {}", esc(&wardcrf_core::ucum::display(u, lang))))
                    .unwrap_or_default();
                format!("{}{unit}", v)
            }
        },
        Json::Array(items) => items
            .iter()
            .map(|i| match field.map(|f| f.def.kind) {
                Some(FieldType::Multichoice | FieldType::Choice) => code_label(i),
                _ => show_value(field, i, lang),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => esc(&other.to_string()),
    }
}
