//! The case list (`GET /cases`): filters by site, status, open conflicts and validation flags.

use super::*;
use crate::console::html::{Col, Page, TABLE_END, esc, table_start, url};
use crate::console::i18n::{M, status_label};
use crate::repository::CaseQuery;
use crate::state::AppState;
use crate::state::Store;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write;
use wardcrf_core::Timestamp;

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

pub async fn case_list<S: Store>(
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
        let now = state.now();
        let (sites, cases, damaged, backlog) = state
            .with_hub(move |hub| {
                let sites = hub.storage.sites()?;
                let cases = hub.storage.projections(&query)?;
                let damaged = damaged_for(&mut hub.storage, admin, &cases)?;
                let backlog = hub.storage.projection_backlog(now)?;
                Ok((sites, cases, damaged, backlog))
            })
            .await?;
        let names: HashMap<String, String> = sites
            .iter()
            .map(|s| (s.site_id.clone(), s.name.clone()))
            .collect();
        let mut b = backlog_notice(&backlog, lang);
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
            b.push_str(&table_start(
                Some(&format!("{} {}", cases.len(), M::Cases.get(lang))),
                &[
                    Col::Text(M::Case.get(lang)),
                    Col::Text(M::Site.get(lang)),
                    Col::Text(M::Form.get(lang)),
                    Col::Text(M::Status.get(lang)),
                    Col::Num(M::Conflicts.get(lang)),
                    Col::Num(M::Flagged.get(lang)),
                    Col::Text(M::Updated.get(lang)),
                ],
            ));
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
                    } else if c.stale {
                        format!(" {}", stale_tag(lang))
                    } else {
                        String::new()
                    },
                    site_name(&c.site_id, &names),
                    esc(&c.form_id),
                    esc(&status),
                    conflicts,
                    c.flags,
                    Timestamp::from_unsigned(c.updated_at).minutes_utc(),
                );
            }
            b.push_str(TABLE_END);
        }
        Ok(Page::new(M::Cases.get(lang), b))
    })
    .await
}
