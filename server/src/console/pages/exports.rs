//! The exports page (`GET /exports`) for administrators and data managers, and its download
//! form (`GET /exports/download`), which goes on to `/api/exports/{format}`.

use super::*;
use crate::console::auth::signed_in;
use crate::console::html::{Page, esc, notice, url};
use crate::console::i18n::{M, lang_of};
use crate::console::{ConsoleError, respond};
use crate::state::AppState;
use crate::state::Store;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::fmt::Write;
use wardcrf_core::Lang;

/// The export formats the page offers, each served at `/api/exports/{format}`.
const EXPORT_FORMATS: &[&str] = &["csv", "odm", "fhir", "research-csv", "research"];

pub async fn exports<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap) -> Response {
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
                    .map(|l| (l.code().to_string(), crate::console::i18n::lang_name(*l).to_string())),
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
pub async fn download<S: Store>(
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
