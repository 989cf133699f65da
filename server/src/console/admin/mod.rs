//! Administration (administrators only): sites, staff users, devices (revocation) and
//! enrolment codes shown as QR codes; and `POST /api/admin/staff` for the admin token.
//!
//! - `staff`: the staff users page and its forms.
//! - `staff_api`: the admin-token staff API (add, reset, unlock, deactivate).
//! - `devices`: devices and enrolment codes.
//! - Here: the administrator check, the page runner, the form check, the pages re-shown after
//!   a post ([`AdminPage`]), and the sites.

use super::auth::{check_csrf, csrf, signed_in};
use super::html::{Col, Page, esc, notice, table_start, url};
use super::i18n::{M, lang_of};
use super::{ConsoleError, Staff, respond};
use crate::repository::RepoError;
use crate::state::AppState;
use crate::state::Store;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::fmt::Write;
use wardcrf_core::Lang;

/// The admin pages' forms: each has the session's CSRF token in its field `csrf`.
macro_rules! posted_forms {
    ($($form:ty),*) => {
        $(impl crate::console::admin::Posted for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}

mod devices;
mod staff;
mod staff_api;

use devices::enrolment_body;
use staff::staff_body;

pub use devices::{devices, enrolment, new_code, revoke};
pub use staff::{add_staff, reset_password, set_enabled, staff, unlock};
pub use staff_api::{api_add_staff, api_reset_password, api_set_active, api_unlock};

/// The signed-in administrator, or why not.
async fn admin<S: Store>(state: &AppState<S>, headers: &HeaderMap) -> Result<Staff, ConsoleError> {
    let staff = signed_in(state, headers).await?;
    if staff.role.administers() {
        Ok(staff)
    } else {
        Err(ConsoleError::Forbidden)
    }
}

/// Runs an admin handler; errors become pages (sign-in when signed out).
async fn run<S, F, Fut>(state: &AppState<S>, headers: &HeaderMap, path: &str, f: F) -> Response
where
    S: Store,
    F: FnOnce(Staff, Lang) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ConsoleError>>,
{
    let lang = lang_of(headers);
    let staff = match admin(state, headers).await {
        Ok(s) => s,
        Err(ConsoleError::SignedOut) => {
            return Redirect::to(&format!("/login?next={}", url(path))).into_response();
        }
        Err(e) => {
            let who = signed_in(state, headers).await.ok();
            return respond(lang, who.as_ref(), Err(e));
        }
    };
    let result = f(staff.clone(), lang).await;
    respond(lang, Some(&staff), result)
}

/// A posted form that carries the session's CSRF token.
trait Posted {
    fn csrf(&self) -> &str;
}

posted_forms!(SiteForm);

/// The posted form, once it parsed and its CSRF token is the session's.
fn posted<T: Posted>(
    form: Result<Form<T>, FormRejection>,
    staff: &Staff,
    lang: Lang,
) -> Result<T, ConsoleError> {
    let Form(form) = form.map_err(|_| ConsoleError::BadInput(M::BadRequest.get(lang).into()))?;
    check_csrf(staff, form.csrf())?;
    Ok(form)
}

/// The administration pages that list something beside a form, shown again with the outcome
/// of a post above them.
#[derive(Debug, Clone, Copy)]
enum AdminPage {
    Sites,
    Staff,
    Enrolment,
}

impl AdminPage {
    fn path(self) -> &'static str {
        match self {
            AdminPage::Sites => "/admin/sites",
            AdminPage::Staff => "/admin/staff",
            AdminPage::Enrolment => "/admin/enrolment",
        }
    }

    /// The page with `message` (a notice, a new code) at its top, answered with `status`.
    async fn render<S: Store>(
        self,
        state: &AppState<S>,
        staff: &Staff,
        lang: Lang,
        message: String,
        status: StatusCode,
    ) -> Result<Response, ConsoleError> {
        let (title, body) = match self {
            AdminPage::Sites => (M::Sites, sites_body(state, staff, lang, message).await?),
            AdminPage::Staff => (M::Staff, staff_body(state, staff, lang, message).await?),
            AdminPage::Enrolment => (
                M::EnrolmentCodes,
                enrolment_body(state, staff, lang, message).await?,
            ),
        };
        Ok(Page::new(title.get(lang), body).with_status(status).render(
            lang,
            Some(staff),
            self.path(),
        ))
    }
}

/// `GET` of an [`AdminPage`].
async fn show<S: Store>(state: AppState<S>, headers: HeaderMap, page: AdminPage) -> Response {
    run(
        &state.clone(),
        &headers,
        page.path(),
        |staff, lang| async move {
            page.render(&state, &staff, lang, String::new(), StatusCode::OK)
                .await
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Sites

fn valid_site_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The sites and the form that adds one, below `message`.
async fn sites_body<S: Store>(
    state: &AppState<S>,
    staff: &Staff,
    lang: Lang,
    message: String,
) -> Result<String, ConsoleError> {
    let sites = state.with_hub(|hub| Ok(hub.storage.sites()?)).await?;
    let mut b = message;
    b.push_str(&table_start(
        None,
        &[
            Col::Text(M::SiteId.get(lang)),
            Col::Text(M::Name.get(lang)),
            Col::Num(M::Devices.get(lang)),
            Col::Num(M::Cases.get(lang)),
            Col::Text(M::IdentifyingOnDevice.get(lang)),
        ],
    ));
    for s in &sites {
        let _ = write!(
            b,
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\"><a href=\"/cases?site={}\">{}</a></td><td>{}</td></tr>",
            esc(&s.site_id),
            esc(&s.name),
            s.devices,
            url(&s.site_id),
            s.cases,
            if s.identifying_on_device {
                M::Yes.get(lang)
            } else {
                M::No.get(lang)
            },
        );
    }
    let _ = write!(
        b,
        "</tbody></table></div><form class=\"panel\" method=\"post\" action=\"/admin/sites\">{}\
         <h2>{}</h2><label for=\"site_id\">{}</label>\
         <input id=\"site_id\" name=\"site_id\" required maxlength=\"64\" pattern=\"[a-z0-9-]+\" \
         aria-describedby=\"site-help\" autocapitalize=\"none\" spellcheck=\"false\">\
         <p class=\"muted\" id=\"site-help\">{}</p>\
         <label for=\"name\">{}</label><input id=\"name\" name=\"name\" required maxlength=\"200\">\
         <div class=\"check\"><input type=\"checkbox\" id=\"identifying_on_device\" \
         name=\"identifying_on_device\" aria-describedby=\"ident-help\">\
         <label for=\"identifying_on_device\">{}</label></div>\
         <p class=\"muted\" id=\"ident-help\">{}</p>\
         <button type=\"submit\">{}</button></form>",
        csrf(staff),
        M::AddSite.get(lang),
        M::SiteId.get(lang),
        M::SiteIdHelp.get(lang),
        M::Name.get(lang),
        M::IdentifyingOnDevice.get(lang),
        M::IdentifyingOnDeviceHelp.get(lang),
        M::Add.get(lang)
    );
    Ok(b)
}

pub async fn sites<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap) -> Response {
    show(state, headers, AdminPage::Sites).await
}

#[derive(Deserialize)]
pub struct SiteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    site_id: String,
    #[serde(default)]
    name: String,
    /// The checkbox: present (`on`) when ticked.
    #[serde(default)]
    identifying_on_device: Option<String>,
}

pub async fn add_site<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    form: Result<Form<SiteForm>, FormRejection>,
) -> Response {
    run(
        &state.clone(),
        &headers,
        "/admin/sites",
        |staff, lang| async move {
            let form = posted(form, &staff, lang)?;
            let id = form.site_id.trim().to_string();
            let name = form.name.trim().to_string();
            if !valid_site_id(&id) || name.is_empty() || name.chars().count() > 200 {
                let m = notice("error", M::BadSiteId.get(lang));
                return AdminPage::Sites
                    .render(&state, &staff, lang, m, StatusCode::BAD_REQUEST)
                    .await;
            }
            let now = state.now();
            let private = form.identifying_on_device.is_some();
            let created = state
                .with_hub(
                    move |hub| match hub.storage.add_site(&id, &name, private, now) {
                        Ok(()) => Ok(true),
                        Err(RepoError::SiteExists) => Ok(false),
                        Err(e) => Err(e.into()),
                    },
                )
                .await?;
            let (m, status) = if created {
                (notice("ok", M::SiteAdded.get(lang)), StatusCode::CREATED)
            } else {
                (
                    notice("error", M::SiteExists.get(lang)),
                    StatusCode::CONFLICT,
                )
            };
            AdminPage::Sites
                .render(&state, &staff, lang, m, status)
                .await
        },
    )
    .await
}
