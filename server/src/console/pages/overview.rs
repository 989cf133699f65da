//! The overview page (`GET /`): cases, conflicts, flags and devices per site, and the
//! latest syncs, limited to the sites the user sees.

use super::*;
use crate::console::ConsoleSettings;
use crate::console::html::{Col, Page, TABLE_END, esc, table_start, url};
use crate::console::i18n::M;
use crate::repository::{CaseListItem, CaseQuery};
use crate::state::AppState;
use crate::state::Store;
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use wardcrf_core::Timestamp;

pub async fn overview<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    settings: Option<Extension<ConsoleSettings>>,
) -> Response {
    page(&state.clone(), &headers, "/", |staff, lang| async move {
        let only = staff.only_site().map(str::to_string);
        let admin = staff.role.administers();
        let now = state.now();
        let (sites, cases, devices, damaged, (backlog, failures)) = state
            .with_hub(move |hub| {
                let sites = hub.storage.sites()?;
                let cases = hub.storage.projections(&CaseQuery {
                    site_id: only,
                    ..CaseQuery::default()
                })?;
                let devices = hub.storage.devices()?;
                let damaged = damaged_for(&mut hub.storage, admin, &cases)?;
                let backlog = hub.storage.projection_backlog(now)?;
                let failures = if admin && backlog.failed > 0 {
                    hub.storage.projection_failures()?
                } else {
                    Vec::new()
                };
                Ok((sites, cases, devices, damaged, (backlog, failures)))
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
        b.push_str(&backlog_notice(&backlog, lang));
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
            "<section aria-labelledby=\"h-sites\"><h2 id=\"h-sites\">{}</h2>{}",
            M::CasesPerSite.get(lang),
            table_start(
                None,
                &[
                    Col::Text(M::Site.get(lang)),
                    Col::Num(M::Draft.get(lang)),
                    Col::Num(M::Complete.get(lang)),
                    Col::Num(M::Signed.get(lang)),
                    Col::Num(M::OpenConflicts.get(lang)),
                    Col::Num(M::Flagged.get(lang)),
                    Col::Num(M::Total.get(lang)),
                ]
            ),
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
        b.push_str(TABLE_END);
        b.push_str("</section>");
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
        // Cases that could not be projected (administrators): which, and why.
        if !failures.is_empty() {
            let _ = write!(
                b,
                "<section aria-labelledby=\"h-unprojected\"><h2 id=\"h-unprojected\">{} ({})</h2><ul>",
                M::Unprojected.get(lang),
                failures.len(),
            );
            for f in failures.iter().filter(|f| staff.sees_site(&f.site_id)) {
                let _ = write!(
                    b,
                    "<li><code>{}</code> — {} — {}</li>",
                    esc(&f.case_id),
                    site_name(&f.site_id, &names),
                    esc(&f.reason),
                );
            }
            b.push_str("</ul></section>");
        }
        // Devices and their last sync.
        let _ = write!(
            b,
            "<section aria-labelledby=\"h-devices\"><h2 id=\"h-devices\">{}</h2>{}",
            M::DevicesLastSync.get(lang),
            table_start(
                None,
                &[
                    Col::Text(M::Device.get(lang)),
                    Col::Text(M::Site.get(lang)),
                    Col::Text(M::LastSync.get(lang)),
                    Col::Text(M::Status.get(lang)),
                ]
            ),
        );
        for d in devices.iter().filter(|d| staff.sees_site(&d.site_id)) {
            let _ = write!(
                b,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.device_id),
                site_name(&d.site_id, &names),
                d.last_sync_at
                    .map(|t| Timestamp::from_unsigned(t).minutes_utc())
                    .unwrap_or_else(|| M::Never.get(lang).to_string()),
                if d.revoked {
                    M::Revoked.get(lang)
                } else {
                    M::Active.get(lang)
                },
            );
        }
        b.push_str(TABLE_END);
        b.push_str("</section>");
        Ok(Page::new(M::Overview.get(lang), b))
    })
    .await
}
