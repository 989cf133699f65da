//! The pages every staff user has: the overview, the case list, a case by section, the
//! conflict review with its resolve action, and (administrators, data managers) exports.

use super::auth::{check_csrf, csrf, signed_in};
use super::html::{Page, esc, notice, time, url};
use super::i18n::{M, lang_of, status_label};
use super::{ConsoleError, ConsoleSettings, Staff, respond};
use crate::error::ApiError;
use crate::export::{damaged_cases, quarantine_found, read_history};
use crate::projection::project;
use crate::state::AppState;
use crate::storage::{CaseListItem, CaseQuery, ProjectionRow, Repository};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use wardcrf_core::sync::{
    HubStorage, RepositoryEditError, Resolution, is_repository_actor, resolve_in_document,
};
use wardcrf_core::{Context, FieldPath, FieldType, FormField, Lang, PartialDate, Text};

fn demo_note(settings: &Option<Extension<ConsoleSettings>>, lang: Lang) -> String {
    match settings {
        Some(Extension(s)) if s.demo => notice("ok", M::DemoNote.get(lang)),
        _ => String::new(),
    }
}

/// Runs a page handler: the signed-in user, the page or its error as a page.
async fn page<S, F, Fut>(state: &AppState<S>, headers: &HeaderMap, path: &str, f: F) -> Response
where
    S: HubStorage + Repository + Send + 'static,
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

/// The marker of a case whose stored document is damaged (administrators see it).
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

// ---------------------------------------------------------------------------------------
// Overview

pub async fn overview<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    settings: Option<Extension<ConsoleSettings>>,
) -> Response {
    page(&state.clone(), &headers, "/", |staff, lang| async move {
        let only = staff.only_site().map(str::to_string);
        let admin = staff.role.administers();
        let (sites, cases, devices, damaged) = state
            .with_hub(move |hub| {
                let sites = hub.storage.sites()?;
                let cases = hub.storage.projections(&CaseQuery {
                    site_id: only,
                    ..CaseQuery::default()
                })?;
                let devices = hub.storage.devices()?;
                let damaged = damaged_for(&mut hub.storage, admin, &cases)?;
                Ok((sites, cases, devices, damaged))
            })
            .await?;
        let sites: Vec<_> = sites
            .into_iter()
            .filter(|s| staff.sees_site(&s.site_id))
            .collect();
        let names: HashMap<String, String> = sites
            .iter()
            .map(|s| (s.site_id.clone(), s.name.clone()))
            .collect();
        let mut b = demo_note(&settings, lang);
        // Cases per site and status.
        #[derive(Default)]
        struct Counts {
            draft: u64,
            complete: u64,
            signed: u64,
            conflicts: u64,
            flagged: u64,
            total: u64,
        }
        let mut per_site: BTreeMap<String, Counts> = sites
            .iter()
            .map(|s| (s.site_id.clone(), Counts::default()))
            .collect();
        for c in cases.iter().filter(|c| !c.deleted) {
            let e = per_site.entry(c.site_id.clone()).or_default();
            match c.status.as_str() {
                "complete" => e.complete += 1,
                "signed" => e.signed += 1,
                _ => e.draft += 1,
            }
            e.conflicts += u64::from(c.conflicts > 0);
            e.flagged += u64::from(c.flags > 0);
            e.total += 1;
        }
        let _ = write!(
            b,
            "<section aria-labelledby=\"h-sites\"><h2 id=\"h-sites\">{}</h2>\
             <div class=\"scroll\" tabindex=\"0\"><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"num\">{}</th>\
             <th scope=\"col\" class=\"num\">{}</th><th scope=\"col\" class=\"num\">{}</th><th scope=\"col\" class=\"num\">{}</th>\
             <th scope=\"col\" class=\"num\">{}</th><th scope=\"col\" class=\"num\">{}</th></tr></thead><tbody>",
            M::CasesPerSite.get(lang),
            M::Site.get(lang),
            M::Draft.get(lang),
            M::Complete.get(lang),
            M::Signed.get(lang),
            M::OpenConflicts.get(lang),
            M::Flagged.get(lang),
            M::Total.get(lang),
        );
        for (site, c) in &per_site {
            let link = |q: &str, n: u64| {
                format!(
                    "<a href=\"/cases?site={}{q}\">{n}</a>",
                    url(site)
                )
            };
            let _ = write!(
                b,
                "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                site_name(site, &names),
                link("&amp;status=draft", c.draft),
                link("&amp;status=complete", c.complete),
                link("&amp;status=signed", c.signed),
                link("&amp;conflicts=true", c.conflicts),
                link("&amp;flagged=true", c.flagged),
                link("", c.total),
            );
        }
        b.push_str("</tbody></table></div></section>");
        // Open conflicts.
        let conflicted: Vec<&CaseListItem> = cases
            .iter()
            .filter(|c| c.conflicts > 0 && !c.deleted)
            .collect();
        let _ = write!(
            b,
            "<section aria-labelledby=\"h-conflicts\"><h2 id=\"h-conflicts\">{} ({})</h2>",
            M::OpenConflicts.get(lang),
            conflicted.iter().map(|c| c.conflicts).sum::<u64>()
        );
        if conflicted.is_empty() {
            let _ = write!(b, "<p>{}</p>", M::NoConflicts.get(lang));
        } else {
            b.push_str("<ul class=\"conflicts\">");
            for c in conflicted {
                let _ = write!(
                    b,
                    "<li><a href=\"/cases/{id}/conflicts\">{} <code>{}</code></a> — {} · {}: {}</li>",
                    M::ReviewConflicts.get(lang),
                    esc(&c.case_id),
                    site_name(&c.site_id, &names),
                    M::Conflicts.get(lang),
                    c.conflicts,
                    id = url(&c.case_id),
                );
            }
            b.push_str("</ul>");
        }
        b.push_str("</section>");
        // Cases whose stored document is damaged (administrators).
        if !damaged.is_empty() {
            let _ = write!(
                b,
                "<section aria-labelledby=\"h-damaged\"><h2 id=\"h-damaged\">{} ({})</h2><p>{}</p><ul>",
                M::DamagedCases.get(lang),
                damaged.len(),
                M::DamagedHelp.get(lang),
            );
            for c in cases.iter().filter(|c| damaged.contains_key(&c.case_id)) {
                let _ = write!(
                    b,
                    "<li>{} <a href=\"/cases/{}\"><code>{}</code></a> — {}</li>",
                    damaged_tag(lang),
                    url(&c.case_id),
                    esc(&c.case_id),
                    site_name(&c.site_id, &names),
                );
            }
            b.push_str("</ul></section>");
        }
        // Devices and their last sync.
        let _ = write!(
            b,
            "<section aria-labelledby=\"h-devices\"><h2 id=\"h-devices\">{}</h2>\
             <div class=\"scroll\" tabindex=\"0\"><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
             <th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            M::DevicesLastSync.get(lang),
            M::Device.get(lang),
            M::Site.get(lang),
            M::LastSync.get(lang),
            M::Status.get(lang),
        );
        for d in devices.iter().filter(|d| staff.sees_site(&d.site_id)) {
            let _ = write!(
                b,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.device_id),
                site_name(&d.site_id, &names),
                d.last_sync_at
                    .map(|t| time(t as i64))
                    .unwrap_or_else(|| M::Never.get(lang).to_string()),
                if d.revoked {
                    M::Revoked.get(lang)
                } else {
                    M::Active.get(lang)
                },
            );
        }
        b.push_str("</tbody></table></div></section>");
        Ok(Page::new(M::Overview.get(lang), b))
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Case list

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conflicts: Option<String>,
    #[serde(default)]
    flagged: Option<String>,
}

fn tri(v: Option<&str>) -> Option<bool> {
    match v {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
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

pub async fn case_list<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = params.map(|q| q.0).unwrap_or_default();
    let empty = |s: Option<String>| s.filter(|v| !v.is_empty());
    let site = empty(params.site);
    let status =
        empty(params.status).filter(|s| ["draft", "complete", "signed"].contains(&s.as_str()));
    let conflicts = empty(params.conflicts);
    let flagged = empty(params.flagged);
    page(&state.clone(), &headers, "/cases", |staff, lang| async move {
        let site = match staff.only_site() {
            Some(own) => Some(own.to_string()),
            None => site,
        };
        let query = CaseQuery {
            site_id: site.clone(),
            status: status.clone(),
            flagged: tri(flagged.as_deref()),
            conflicts: tri(conflicts.as_deref()),
        };
        let admin = staff.role.administers();
        let (sites, cases, damaged) = state
            .with_hub(move |hub| {
                let sites = hub.storage.sites()?;
                let cases = hub.storage.projections(&query)?;
                let damaged = damaged_for(&mut hub.storage, admin, &cases)?;
                Ok((sites, cases, damaged))
            })
            .await?;
        let names: HashMap<String, String> = sites
            .iter()
            .map(|s| (s.site_id.clone(), s.name.clone()))
            .collect();
        let mut b = String::new();
        b.push_str("<form class=\"filters\" method=\"get\" action=\"/cases\">");
        if staff.only_site().is_none() {
            let mut opts = vec![(String::new(), M::AllSites.get(lang).to_string())];
            opts.extend(
                sites
                    .iter()
                    .map(|s| (s.site_id.clone(), format!("{} ({})", s.name, s.site_id))),
            );
            b.push_str(&select("site", M::Site.get(lang), &opts, site.as_deref()));
        }
        let any = (String::new(), M::Any.get(lang).to_string());
        let statuses = [
            any.clone(),
            ("draft".into(), M::Draft.get(lang).into()),
            ("complete".into(), M::Complete.get(lang).into()),
            ("signed".into(), M::Signed.get(lang).into()),
        ];
        b.push_str(&select("status", M::Status.get(lang), &statuses, status.as_deref()));
        let yn = [
            any,
            ("true".into(), M::Yes.get(lang).into()),
            ("false".into(), M::No.get(lang).into()),
        ];
        b.push_str(&select("conflicts", M::OpenConflicts.get(lang), &yn, conflicts.as_deref()));
        b.push_str(&select("flagged", M::Flagged.get(lang), &yn, flagged.as_deref()));
        let _ = write!(b, "<button type=\"submit\">{}</button></form>", M::Filter.get(lang));
        if cases.is_empty() {
            let _ = write!(b, "<p>{}</p>", M::NoCases.get(lang));
        } else {
            let _ = write!(
                b,
                "<div class=\"scroll\" tabindex=\"0\"><table><caption>{n} {cases}</caption><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
                 <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\" class=\"num\">{}</th><th scope=\"col\" class=\"num\">{}</th>\
                 <th scope=\"col\">{}</th></tr></thead><tbody>",
                M::Case.get(lang),
                M::Site.get(lang),
                M::Form.get(lang),
                M::Status.get(lang),
                M::Conflicts.get(lang),
                M::Flagged.get(lang),
                M::Updated.get(lang),
                n = cases.len(),
                cases = M::Cases.get(lang),
            );
            for c in &cases {
                let conflicts = if c.conflicts > 0 {
                    format!(
                        "<a href=\"/cases/{}/conflicts\" class=\"warn\">{}</a>",
                        url(&c.case_id),
                        c.conflicts
                    )
                } else {
                    "0".into()
                };
                let status = if c.deleted {
                    format!("{} ({})", status_label(&c.status, lang), M::Deleted.get(lang))
                } else {
                    status_label(&c.status, lang).to_string()
                };
                let _ = write!(
                    b,
                    "<tr><th scope=\"row\"><a href=\"/cases/{}\"><code>{}</code></a>{}</th><td>{}</td><td>{}</td>\
                     <td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                    url(&c.case_id),
                    esc(&c.case_id),
                    if damaged.contains_key(&c.case_id) {
                        format!(" {}", damaged_tag(lang))
                    } else {
                        String::new()
                    },
                    site_name(&c.site_id, &names),
                    esc(&c.form_id),
                    esc(&status),
                    conflicts,
                    c.flags,
                    time(c.updated_at as i64),
                );
            }
            b.push_str("</tbody></table></div>");
        }
        Ok(Page::new(M::Cases.get(lang), b))
    })
    .await
}

// ---------------------------------------------------------------------------------------
// One case

/// A case's projection, if the user sees its site (404 otherwise, as if absent).
async fn visible_case<S: HubStorage + Repository + Send + 'static>(
    state: &AppState<S>,
    staff: &Staff,
    case_id: &str,
) -> Result<ProjectionRow, ConsoleError> {
    let id = case_id.to_string();
    let row = state
        .with_hub(move |hub| Ok(hub.storage.projection(&id)?))
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
        Json::Object(o) if o.contains_key("value") => {
            let mut s = show_value(field, &o["value"], lang);
            if let Some(Json::String(u)) = o.get("unit")
                && !s.ends_with(&esc(&wardcrf_core::ucum::display(u, lang)))
            {
                let _ = write!(s, " {}", esc(&wardcrf_core::ucum::display(u, lang)));
            }
            if let Some(Json::String(c)) = o.get("confirm") {
                let _ = write!(s, " <span class=\"muted\">({})</span>", esc(c));
            }
            s
        }
        other => esc(&other.to_string()),
    }
}

fn section_labels(state: &crate::forms::Forms) -> HashMap<String, Text> {
    let mut out = HashMap::new();
    if let Some(catalog) = &state.catalog {
        for def in catalog.definitions() {
            for s in &def.sections {
                out.entry(s.id.clone()).or_insert_with(|| s.label.clone());
            }
        }
    }
    out
}

fn path_key(field: &str, group: Option<&str>, row: Option<&str>) -> String {
    format!("{}|{}|{}", group.unwrap_or(""), row.unwrap_or(""), field)
}

pub async fn case_view<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
) -> Response {
    let path = format!("/cases/{}", url(&case_id));
    page(&state.clone(), &headers, &path, |staff, lang| async move {
        let row = visible_case(&state, &staff, &case_id).await?;
        let id = case_id.clone();
        let stored = state
            .with_hub(move |hub| {
                hub.storage
                    .case(&id)
                    .map_err(|e| ApiError::Internal(format!("reading case: {e}")))
            })
            .await?
            .ok_or(ConsoleError::NotFound)?;
        let history = tokio::task::spawn_blocking(move || read_history(&stored.doc, None))
            .await
            .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?;
        let history = match history {
            Ok(history) => history,
            Err(reason) => {
                let id = case_id.clone();
                state
                    .with_hub(move |hub| {
                        quarantine_found(&mut hub.storage, &id, &reason, "the console's case page");
                        Ok(())
                    })
                    .await?;
                return Err(ConsoleError::Damaged);
            }
        };
        let modules: Vec<String> = serde_json::from_str(&row.modules).unwrap_or_default();
        let values = match parse_json(&row.values) {
            Json::Object(o) => o,
            _ => serde_json::Map::new(),
        };
        let conflicts = parse_json(&row.conflicts);
        let form = state.forms.form(&row.form_id, &modules).ok();
        let labels = section_labels(&state.forms);
        // The report in the user's language (the stored flags are in English).
        let report = form.as_ref().map(|f| {
            let days = i64::try_from(state.now() / 86_400).unwrap_or(i64::MAX);
            wardcrf_core::validate(
                f,
                &values,
                &Context {
                    today: PartialDate::from_days_since_epoch(days),
                    completing: false,
                },
            )
        });
        let label = |field: &str| -> String {
            form.as_ref()
                .and_then(|f| f.field(field))
                .map(|f| f.def.label.get(lang).to_string())
                .unwrap_or_else(|| field.to_string())
        };
        let mut issues: HashMap<String, Vec<(bool, String)>> = HashMap::new();
        if let Some(r) = &report {
            for (is_error, list) in [(true, &r.errors), (false, &r.warnings)] {
                for i in list {
                    issues
                        .entry(path_key(&i.field, i.group.as_deref(), i.row_id.as_deref()))
                        .or_default()
                        .push((is_error, i.message.get(lang).to_string()));
                }
            }
        }
        let mut hist: HashMap<String, Vec<&wardcrf_core::HistoryEntry>> = HashMap::new();
        for h in &history {
            if let Some(f) = &h.field {
                hist.entry(path_key(f, h.group.as_deref(), h.row_id.as_deref()))
                    .or_default()
                    .push(h);
            }
        }
        let conflicted: Vec<String> = conflicts
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        path_key(
                            c["field"].as_str().unwrap_or(""),
                            c["group"].as_str(),
                            c["row_id"].as_str(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let names = state.with_hub(|hub| Ok(hub.storage.sites()?)).await?;
        let site_label = names
            .iter()
            .find(|s| s.site_id == row.site_id)
            .map(|s| format!("{} ({})", esc(&s.name), esc(&s.site_id)))
            .unwrap_or_else(|| esc(&row.site_id));
        let mut b = String::new();
        let _ = write!(
            b,
            "<dl class=\"summary\"><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}{}</dd><dt>{}</dt><dd>{}{}</dd>\
             <dt>{}</dt><dd>{}</dd></dl>",
            M::Site.get(lang),
            site_label,
            M::Form.get(lang),
            esc(&row.form_id),
            if modules.is_empty() { String::new() } else { format!(" + {}", esc(&modules.join(", "))) },
            M::Status.get(lang),
            status_label(&row.status, lang),
            if row.deleted { format!(" ({})", M::Deleted.get(lang)) } else { String::new() },
            M::Updated.get(lang),
            time(row.updated_at as i64),
        );
        if row.n_conflicts > 0 {
            let _ = write!(
                b,
                "<p class=\"notice warn\" role=\"status\">{}: {} — <a href=\"/cases/{}/conflicts\">{}</a></p>",
                M::OpenConflicts.get(lang),
                row.n_conflicts,
                url(&case_id),
                M::ReviewConflicts.get(lang)
            );
        }
        if let Some(r) = &report
            && (!r.errors.is_empty() || !r.warnings.is_empty())
        {
            let _ = write!(b, "<section class=\"flags\" aria-labelledby=\"h-flags\"><h2 id=\"h-flags\">{}</h2><ul>", M::Flagged.get(lang));
            for (kind, list) in [(M::Errors, &r.errors), (M::Warnings, &r.warnings)] {
                for i in list {
                    let _ = write!(
                        b,
                        "<li class=\"{}\"><strong>{}</strong> · {}: {}</li>",
                        if kind == M::Errors { "error" } else { "warn" },
                        kind.get(lang),
                        esc(&label(&i.field)),
                        esc(i.message.get(lang))
                    );
                }
            }
            b.push_str("</ul></section>");
        }
        let history_of = |key: &str, f: Option<&FormField>| -> String {
            let Some(entries) = hist.get(key) else {
                return String::new();
            };
            let mut s = format!(
                "<details><summary>{} ({})</summary><table class=\"history\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
                 <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
                M::History.get(lang),
                entries.len(),
                M::When.get(lang),
                M::Who.get(lang),
                M::Device.get(lang),
                M::Change.get(lang),
                M::Why.get(lang),
            );
            for e in entries {
                let show = |v: &Option<Json>| match v {
                    // A resolution's old value lists the candidates it superseded.
                    Some(Json::Array(a)) if e.op == "resolve" => a
                        .iter()
                        .map(|c| show_value(f, c, lang))
                        .collect::<Vec<_>>()
                        .join(" | "),
                    Some(v) => show_value(f, v, lang),
                    None => "—".into(),
                };
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} <span class=\"old\">{}</span> → <strong>{}</strong></td><td>{}</td></tr>",
                    time(e.time),
                    esc(&e.user),
                    short_device(&e.device, lang),
                    esc(&e.op),
                    show(&e.old),
                    show(&e.new),
                    esc(e.reason.as_deref().unwrap_or("")),
                );
            }
            s.push_str("</tbody></table></details>");
            s
        };
        let field_row = |f: Option<&FormField>, id: &str, v: &Json, key: &str| -> String {
            let mut flags = String::new();
            for (is_error, m) in issues.get(key).into_iter().flatten() {
                let _ = write!(
                    flags,
                    "<p class=\"{}\">{}</p>",
                    if *is_error { "error" } else { "warn" },
                    esc(m)
                );
            }
            let conflict = if conflicted.iter().any(|k| k == key) {
                format!(" <span class=\"tag warn\">{}</span>", M::Conflicts.get(lang))
            } else {
                String::new()
            };
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}{conflict}{flags}{}</td></tr>",
                esc(&f.map(|f| f.def.label.get(lang).to_string()).unwrap_or_else(|| id.to_string())),
                show_value(f, v, lang),
                history_of(key, f),
            )
        };
        if values.is_empty() {
            let _ = write!(b, "<p>{}</p>", M::EmptyCase.get(lang));
        }
        // Sections in form order: the case-level fields with a value, then each group's rows.
        let mut sections: Vec<(String, String)> = Vec::new(); // (section id, html)
        let mut shown: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut add = |section: &str, html: String| {
            match sections.iter_mut().find(|(s, _)| s == section) {
                Some((_, h)) => h.push_str(&html),
                None => sections.push((section.to_string(), html)),
            }
        };
        if let Some(form) = &form {
            let mut groups_done: Vec<String> = Vec::new();
            for f in form.fields() {
                match &f.group {
                    None => {
                        if let Some(v) = values.get(f.id()) {
                            shown.insert(f.id().to_string());
                            add(&f.section, field_row(Some(f), f.id(), v, &path_key(f.id(), None, None)));
                        }
                    }
                    Some(g) if !groups_done.contains(g) => {
                        groups_done.push(g.clone());
                        shown.insert(g.clone());
                        let rows = values.get(g).and_then(Json::as_array).cloned().unwrap_or_default();
                        if rows.is_empty() {
                            continue;
                        }
                        let glabel = form.group(g).map(|x| x.label.get(lang).to_string()).unwrap_or_else(|| g.clone());
                        let mut html = format!("<tr class=\"group\"><th scope=\"rowgroup\" colspan=\"2\">{}</th></tr>", esc(&glabel));
                        for (i, r) in rows.iter().enumerate() {
                            let row_id = r["row_id"].as_str().unwrap_or("");
                            let _ = write!(html, "<tr class=\"rowhead\"><td colspan=\"2\">{} {} <code>{}</code></td></tr>", M::Row.get(lang), i + 1, esc(row_id));
                            for gf in form.fields_in(Some(g)) {
                                if let Some(v) = r.get(gf.id()) {
                                    html.push_str(&field_row(Some(gf), gf.id(), v, &path_key(gf.id(), Some(g), Some(row_id))));
                                }
                            }
                        }
                        add(&f.section, html);
                    }
                    Some(_) => {}
                }
            }
        }
        // Values the form does not know (another form version): shown, never hidden.
        for (k, v) in &values {
            if !shown.contains(k) {
                add("", field_row(None, k, v, &path_key(k, None, None)));
            }
        }
        for (section, html) in &sections {
            let title = labels
                .get(section)
                .map(|t| t.get(lang).to_string())
                .unwrap_or_else(|| section.clone());
            let _ = write!(
                b,
                "<section class=\"form-section\" aria-labelledby=\"s-{id}\"><h2 id=\"s-{id}\">{}</h2>\
                 <table class=\"values\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>{html}</tbody></table></section>",
                esc(&title),
                M::Field.get(lang),
                M::Value.get(lang),
                id = esc(section),
            );
        }
        Ok(Page::new(format!("{} {}", M::Case.get(lang), case_id), b))
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Conflicts

#[derive(Deserialize, Default)]
pub struct ConflictParams {
    #[serde(default)]
    resolved: Option<String>,
}

/// The radio value of "another value".
const OTHER: &str = "__other__";

pub async fn conflicts<S: HubStorage + Repository + Send + 'static>(
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

fn conflicts_page<S: HubStorage + Repository + Send + 'static>(
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
                 <dl><dt>{who}</dt><dd>{user}</dd><dt>{when}</dt><dd>{time}</dd><dt>{dev}</dt><dd>{device}</dd></dl></div>",
                json = esc(&value.to_string()),
                shown = show_value(f, value, lang),
                keep = M::KeepThis.get(lang),
                who = M::Who.get(lang),
                user = esc(cand["user"].as_str().unwrap_or("")),
                when = M::When.get(lang),
                time = time(cand["time"].as_i64().unwrap_or(0)),
                dev = M::Device.get(lang),
                device = short_device(cand["device"].as_str().unwrap_or(""), lang),
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

pub async fn resolve<S: HubStorage + Repository + Send + 'static>(
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

async fn resolve_inner<S: HubStorage + Repository + Send + 'static>(
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
            // Like a device's push: under the site's sync lock, one transaction, the next
            // sequence number of the site (devices pull it at their next sync).
            let site_lock = pool.site_lock(&site);
            let _site = site_lock.lock().unwrap_or_else(|p| p.into_inner());
            let mut hub = pool.lease()?;
            let stored = hub
                .storage
                .case(&id)
                .map_err(|e| ApiError::Internal(format!("reading case: {e}")))?
                .ok_or(ApiError::UnknownCase)?;
            if stored.site != site {
                return Err(ApiError::UnknownCase);
            }
            let modules: Vec<String> = serde_json::from_str(&row.modules).unwrap_or_default();
            let composed = forms
                .form(&row.form_id, &modules)
                .map_err(ApiError::Internal)?;
            let days = i64::try_from(now / 86_400).unwrap_or(i64::MAX);
            let resolution = Resolution {
                path: &path,
                value,
                user: &user,
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
            hub.storage.begin()?;
            let stored_result = (|| -> Result<(), ApiError> {
                hub.storage
                    .put_case(&id, &site, &stored.form_id, &resolved.doc)
                    .map_err(|e| ApiError::Internal(format!("storing case: {e}")))?;
                let projected = project(
                    &id,
                    &site,
                    &stored.form_id,
                    resolved.projection,
                    &forms,
                    now,
                );
                hub.storage.put_projection(&projected)?;
                Ok(())
            })();
            match stored_result {
                Ok(()) => hub.storage.commit()?,
                Err(e) => {
                    hub.storage.rollback();
                    return Err(e);
                }
            }
            Ok(Ok(()))
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
            eprintln!("warning: console: case {case_id:?} cannot be resolved: {d}");
            Err(ConsoleError::Damaged)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Exports

/// Export format names offered when the export module knows them (it grows: FHIR and
/// research exports are being added there).
const EXPORT_FORMATS: &[&str] = &["csv", "odm", "fhir", "research-csv", "research"];

pub async fn exports<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Response {
    page(&state.clone(), &headers, "/exports", |staff, lang| async move {
        if !staff.role.exports() {
            return Err(ConsoleError::Forbidden);
        }
        let sites = state.with_hub(|hub| Ok(hub.storage.sites()?)).await?;
        let mut b = notice("warn", M::ExportsHelp.get(lang));
        for name in EXPORT_FORMATS {
            if crate::export::Format::parse(name).is_none() {
                continue;
            }
            let title = match *name {
                "csv" => M::FormatCsv.get(lang).to_string(),
                "odm" => M::FormatOdm.get(lang).to_string(),
                other => other.to_uppercase(),
            };
            let mut site_opts = vec![(String::new(), M::AllSites.get(lang).to_string())];
            site_opts.extend(
                sites
                    .iter()
                    .map(|s| (s.site_id.clone(), format!("{} ({})", s.name, s.site_id))),
            );
            let mut lang_opts = vec![(String::new(), M::NoLabels.get(lang).to_string())];
            lang_opts.extend(
                Lang::ALL
                    .iter()
                    .map(|l| (l.code().to_string(), super::i18n::lang_name(*l).to_string())),
            );
            let _ = write!(
                b,
                "<section class=\"export\" aria-labelledby=\"x-{name}\"><h2 id=\"x-{name}\">{}</h2>\
                 <form method=\"get\" action=\"/exports/download\">\
                 <input type=\"hidden\" name=\"format\" value=\"{name}\">{}{}\
                 <button type=\"submit\">{} <span class=\"muted\">({name})</span></button></form></section>",
                esc(&title),
                select(&format!("site-{name}"), M::Site.get(lang), &site_opts, None)
                    .replace(&format!("name=\"site-{name}\""), "name=\"site\""),
                select(&format!("lang-{name}"), M::LabelsIn.get(lang), &lang_opts, None)
                    .replace(&format!("name=\"lang-{name}\""), "name=\"lang\""),
                M::Download.get(lang),
            );
        }
        Ok(Page::new(M::Exports.get(lang), b).with_status(StatusCode::OK))
    })
    .await
}

#[derive(Deserialize)]
pub struct DownloadParams {
    format: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    lang: String,
}

/// `GET /exports/download?format&site&lang` (the exports page's forms, whose empty choices
/// mean "all sites" and "codes only"): on to `/api/exports/{format}` with only the choices
/// made; that route checks the session's role again.
pub async fn download<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    params: Result<Query<DownloadParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let lang = lang_of(&headers);
    let result = async {
        let staff = signed_in(&state, &headers).await?;
        if !staff.role.exports() {
            return Err(ConsoleError::Forbidden);
        }
        let Query(p) =
            params.map_err(|_| ConsoleError::BadInput(M::BadRequest.get(lang).into()))?;
        if crate::export::Format::parse(&p.format).is_none() {
            return Err(ConsoleError::NotFound);
        }
        let mut query: Vec<String> = Vec::new();
        if !p.site.is_empty() {
            query.push(format!("site={}", url(&p.site)));
        }
        if !p.lang.is_empty() {
            query.push(format!("lang={}", url(&p.lang)));
        }
        let mut target = format!("/api/exports/{}", url(&p.format));
        if !query.is_empty() {
            target = format!("{target}?{}", query.join("&"));
        }
        Ok(Redirect::to(&target).into_response())
    }
    .await;
    respond(lang, None, result)
}
