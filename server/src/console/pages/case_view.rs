//! One case by section (`GET /cases/{case_id}`): values as a person reads them, validation
//! flags in the user's language, and the case's history.

use super::*;
use crate::console::ConsoleError;
use crate::console::html::{Page, esc, url};
use crate::console::i18n::{M, status_label};
use crate::error::ApiError;
use crate::export::{quarantine_found, read_history, read_signatures};
use crate::state::AppState;
use crate::state::Store;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::fmt::Write;
use wardcrf_core::{Context, FormField, PartialDate, Text, Timestamp};

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

pub async fn case_view<S: Store>(
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
        let read = tokio::task::spawn_blocking(move || {
            Ok::<_, String>((read_history(&stored.doc, None)?, read_signatures(&stored.doc)?))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?;
        let (history, signatures) = match read {
            Ok(read) => read,
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
                    default_units: None,
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
            Timestamp::from_unsigned(row.updated_at).minutes_utc(),
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
        if !signatures.is_empty() {
            let _ = write!(
                b,
                "<section aria-labelledby=\"h-signatures\"><h2 id=\"h-signatures\">{}</h2>\
                 <table class=\"signatures\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
                 <th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
                M::Signatures.get(lang),
                M::Signer.get(lang),
                M::When.get(lang),
                M::Meaning.get(lang),
                M::SignatureState.get(lang),
            );
            for s in &signatures {
                let meaning = match lang {
                    wardcrf_core::Lang::En => &s.meaning_en,
                    wardcrf_core::Lang::Ja => &s.meaning_ja,
                    wardcrf_core::Lang::De => &s.meaning_de,
                };
                let _ = write!(
                    b,
                    "<tr{}><td>{} <code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if s.superseded { " class=\"superseded\"" } else { "" },
                    esc(&s.signer.name),
                    esc(&s.signer.id),
                    Timestamp::from_unix_seconds(s.time).minutes_utc(),
                    esc(meaning),
                    if s.superseded {
                        M::SignatureSuperseded.get(lang)
                    } else {
                        M::SignatureValid.get(lang)
                    },
                );
            }
            b.push_str("</tbody></table></section>");
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
                    Timestamp::from_unix_seconds(e.time).minutes_utc(),
                    author_html(e, lang),
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
