//! Administration (administrators only): sites, staff users, devices (revocation) and
//! enrolment codes shown as QR codes; and `POST /api/admin/staff` for the admin token.

use super::auth::{check_csrf, csrf, signed_in};
use super::html::{Col, Page, TABLE_END, esc, notice, table_start, url};
use super::i18n::{M, lang_of};
use super::{ConsoleError, ConsoleSettings, Role, Staff, StaffError, add_staff_user, respond};
use crate::api::{ApiError, AppState, CODE_VALIDITY_SECS};
use crate::secret;
use crate::storage::{RepoError, Repository};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FormRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;
use serde_json::json;
use std::fmt::Write;
use wardcrf_core::sync::HubStorage;
use wardcrf_core::{Lang, Timestamp};

/// The signed-in administrator, or why not.
async fn admin<S: HubStorage + Repository + Send + 'static>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<Staff, ConsoleError> {
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
    S: HubStorage + Repository + Send + 'static,
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
    async fn render<S: HubStorage + Repository + Send + 'static>(
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
async fn show<S: HubStorage + Repository + Send + 'static>(
    state: AppState<S>,
    headers: HeaderMap,
    page: AdminPage,
) -> Response {
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
async fn sites_body<S: HubStorage + Repository + Send + 'static>(
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

pub async fn sites<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Response {
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

impl Posted for SiteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn add_site<S: HubStorage + Repository + Send + 'static>(
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

// ---------------------------------------------------------------------------------------
// Staff users

/// The staff users, their actions and the form that adds one, below `message`.
async fn staff_body<S: HubStorage + Repository + Send + 'static>(
    state: &AppState<S>,
    staff: &Staff,
    lang: Lang,
    message: String,
) -> Result<String, ConsoleError> {
    let (users, sites) = state
        .with_hub(|hub| Ok((hub.storage.staff_users()?, hub.storage.sites()?)))
        .await?;
    let now = state.now();
    let mut b = message;
    b.push_str(&table_start(
        None,
        &[
            Col::Text(M::Username.get(lang)),
            Col::Text(M::Role.get(lang)),
            Col::Text(M::Site.get(lang)),
            Col::Text(M::Status.get(lang)),
            Col::Text(M::Actions.get(lang)),
        ],
    ));
    for u in &users {
        let role = Role::parse(&u.role).map_or(u.role.as_str(), |r| r.label(lang));
        let mut state_text = if u.disabled {
            M::Disabled.get(lang).to_string()
        } else {
            M::Active.get(lang).to_string()
        };
        if u.locked_until.is_some_and(|t| t > now) {
            let _ = write!(state_text, " · {}", M::Locked.get(lang));
        }
        let action = if u.username == staff.username {
            String::new()
        } else {
            let (to, label) = if u.disabled {
                ("true", M::Enable)
            } else {
                ("false", M::Disable)
            };
            format!(
                "<form class=\"inline\" method=\"post\" action=\"/admin/staff/{}/enabled\">{}\
                 <input type=\"hidden\" name=\"enabled\" value=\"{to}\">\
                 <button type=\"submit\" aria-label=\"{} {}\">{}</button></form>",
                url(&u.username),
                csrf(staff),
                label.get(lang),
                esc(&u.username),
                label.get(lang)
            )
        };
        let _ = write!(
            b,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&u.username),
            esc(role),
            esc(u.site_id.as_deref().unwrap_or("—")),
            esc(&state_text),
            action
        );
    }
    let roles = [Role::SiteNurse, Role::DataManager, Role::Admin];
    let _ = write!(
        b,
        "</tbody></table></div><form class=\"panel\" method=\"post\" action=\"/admin/staff\">{}\
         <h2>{}</h2><label for=\"username\">{}</label>\
         <input id=\"username\" name=\"username\" required maxlength=\"64\" autocomplete=\"off\" \
         autocapitalize=\"none\" spellcheck=\"false\">\
         <label for=\"role\">{}</label><select id=\"role\" name=\"role\">",
        csrf(staff),
        M::AddStaff.get(lang),
        M::Username.get(lang),
        M::Role.get(lang),
    );
    for r in roles {
        let _ = write!(
            b,
            "<option value=\"{}\">{}</option>",
            r.as_str(),
            r.label(lang)
        );
    }
    let _ = write!(
        b,
        "</select><label for=\"site\">{}</label><select id=\"site\" name=\"site\">\
         <option value=\"\">—</option>",
        M::SiteForNurse.get(lang)
    );
    for s in &sites {
        let _ = write!(
            b,
            "<option value=\"{}\">{} ({})</option>",
            esc(&s.site_id),
            esc(&s.name),
            esc(&s.site_id)
        );
    }
    let _ = write!(
        b,
        "</select><label for=\"password\">{}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" required minlength=\"10\" \
         maxlength=\"1024\" autocomplete=\"new-password\" aria-describedby=\"pw-help\">\
         <p class=\"muted\" id=\"pw-help\">{}</p><button type=\"submit\">{}</button></form>",
        M::Password.get(lang),
        M::PasswordHelp.get(lang),
        M::Add.get(lang)
    );
    Ok(b)
}

pub async fn staff<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Response {
    show(state, headers, AdminPage::Staff).await
}

#[derive(Deserialize)]
pub struct StaffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    password: String,
}

impl Posted for StaffForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn staff_error_text(e: &StaffError, lang: Lang) -> Option<&'static str> {
    Some(match e {
        StaffError::BadUsername => M::BadUsername.get(lang),
        StaffError::BadRole => M::BadRequest.get(lang),
        StaffError::SiteMismatch => M::NurseNeedsSite.get(lang),
        StaffError::UnknownSite => M::UnknownSite.get(lang),
        StaffError::Exists => M::StaffExists.get(lang),
        StaffError::Password(super::PasswordError::Length) => M::BadPassword.get(lang),
        StaffError::Password(_) | StaffError::Repo(_) => return None,
    })
}

pub async fn add_staff<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    form: Result<Form<StaffForm>, FormRejection>,
) -> Response {
    run(
        &state.clone(),
        &headers,
        "/admin/staff",
        |staff, lang| async move {
            let form = posted(form, &staff, lang)?;
            let now = state.now();
            let result = state
                .with_hub(move |hub| {
                    let site = Some(form.site.as_str()).filter(|s| !s.is_empty());
                    Ok(add_staff_user(
                        &mut hub.storage,
                        &form.username,
                        &form.role,
                        site,
                        &form.password,
                        now,
                    ))
                })
                .await?;
            let (m, status) = match result {
                Ok(()) => (notice("ok", M::StaffAdded.get(lang)), StatusCode::CREATED),
                Err(e) => match staff_error_text(&e, lang) {
                    Some(text) => (
                        notice("error", text),
                        if matches!(e, StaffError::Exists) {
                            StatusCode::CONFLICT
                        } else {
                            StatusCode::BAD_REQUEST
                        },
                    ),
                    None => return Err(ApiError::Internal(e.to_string()).into()),
                },
            };
            AdminPage::Staff
                .render(&state, &staff, lang, m, status)
                .await
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct EnabledForm {
    #[serde(default)]
    csrf: String,
    enabled: bool,
}

impl Posted for EnabledForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn set_enabled<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    form: Result<Form<EnabledForm>, FormRejection>,
) -> Response {
    run(
        &state.clone(),
        &headers,
        "/admin/staff",
        |staff, lang| async move {
            let form = posted(form, &staff, lang)?;
            if username == staff.username {
                let m = notice("error", M::CannotDisableSelf.get(lang));
                return AdminPage::Staff
                    .render(&state, &staff, lang, m, StatusCode::BAD_REQUEST)
                    .await;
            }
            let found = state
                .with_hub(move |hub| {
                    Ok(hub.storage.set_staff_disabled(&username, !form.enabled)?)
                })
                .await?;
            if !found {
                return Err(ConsoleError::NotFound);
            }
            Ok(Redirect::to("/admin/staff").into_response())
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Devices

pub async fn devices<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Response {
    run(&state.clone(), &headers, "/admin/devices", |staff, lang| async move {
        let devices = state.with_hub(|hub| Ok(hub.storage.devices()?)).await?;
        let mut b = String::new();
        b.push_str(&table_start(
            None,
            &[
                Col::Text(M::Device.get(lang)),
                Col::Text(M::Site.get(lang)),
                Col::Text(M::Enrolled.get(lang)),
                Col::Text(M::LastSync.get(lang)),
                Col::Text(M::Status.get(lang)),
            ],
        ));
        for d in &devices {
            let status = if d.revoked {
                M::Revoked.get(lang).to_string()
            } else {
                format!(
                    "{} <form class=\"inline\" method=\"post\" action=\"/admin/devices/{}/revoke\">{}\
                     <button type=\"submit\" aria-label=\"{} {}\">{}</button></form>",
                    M::Active.get(lang),
                    url(&d.device_id),
                    csrf(&staff),
                    M::Revoke.get(lang),
                    esc(&d.device_id),
                    M::Revoke.get(lang)
                )
            };
            let _ = write!(
                b,
                "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.device_id),
                esc(&d.site_id),
                Timestamp::from_unsigned(d.enrolled_at).minutes_utc(),
                d.last_sync_at
                    .map(|t| Timestamp::from_unsigned(t).minutes_utc())
                    .unwrap_or_else(|| M::Never.get(lang).into()),
                status
            );
        }
        b.push_str(TABLE_END);
        Ok(Page::new(M::Devices.get(lang), b).render(lang, Some(&staff), "/admin/devices"))
    })
    .await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

impl Posted for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn revoke<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(device_id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    run(
        &state.clone(),
        &headers,
        "/admin/devices",
        |staff, lang| async move {
            posted(form, &staff, lang)?;
            let found = state
                .with_hub(move |hub| match hub.storage.revoke_device(&device_id) {
                    Ok(()) => Ok(true),
                    Err(RepoError::UnknownDevice) => Ok(false),
                    Err(e) => Err(e.into()),
                })
                .await?;
            if !found {
                return Err(ConsoleError::NotFound);
            }
            Ok(Redirect::to("/admin/devices").into_response())
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Enrolment codes

/// The form that creates an enrolment code, below `shown` (a new code, or a notice).
async fn enrolment_body<S: HubStorage + Repository + Send + 'static>(
    state: &AppState<S>,
    staff: &Staff,
    lang: Lang,
    shown: String,
) -> Result<String, ConsoleError> {
    let sites = state.with_hub(|hub| Ok(hub.storage.sites()?)).await?;
    let mut b = shown;
    let _ = write!(
        b,
        "<form class=\"panel\" method=\"post\" action=\"/admin/enrolment\">{}<h2>{}</h2>\
         <label for=\"site\">{}</label><select id=\"site\" name=\"site\" required>",
        csrf(staff),
        M::NewCode.get(lang),
        M::Site.get(lang)
    );
    for s in &sites {
        let _ = write!(
            b,
            "<option value=\"{}\">{} ({})</option>",
            esc(&s.site_id),
            esc(&s.name),
            esc(&s.site_id)
        );
    }
    let _ = write!(
        b,
        "</select><button type=\"submit\">{}</button></form>",
        M::Create.get(lang)
    );
    Ok(b)
}

pub async fn enrolment<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Response {
    show(state, headers, AdminPage::Enrolment).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    site: String,
}

impl Posted for CodeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The address devices reach this repository at, as the browser reached it.
fn server_url(headers: &HeaderMap, settings: &ConsoleSettings) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("localhost");
    let scheme = if settings.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// The enrolment QR code: `wardcrf://enroll?server=<address>&code=<code>` as an SVG image.
fn qr_svg(content: &str) -> Option<String> {
    let code = qrcode::QrCode::new(content.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
    )
}

pub async fn new_code<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    settings: Option<Extension<ConsoleSettings>>,
    form: Result<Form<CodeForm>, FormRejection>,
) -> Response {
    let settings = settings.map(|e| e.0).unwrap_or_default();
    let server = server_url(&headers, &settings);
    run(&state.clone(), &headers, "/admin/enrolment", |staff, lang| async move {
        let form = posted(form, &staff, lang)?;
        let code = secret::new_code().map_err(|e| ApiError::Internal(e.to_string()))?;
        let hash = secret::sha256(&code);
        let expires_at = state.now() + CODE_VALIDITY_SECS;
        let site = form.site.clone();
        let known = state
            .with_hub(move |hub| {
                match hub.storage.create_enroll_code(&hash, &site, expires_at) {
                    Ok(()) => Ok(true),
                    Err(RepoError::UnknownSite) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        if !known {
            let m = notice("error", M::UnknownSite.get(lang));
            return AdminPage::Enrolment.render(&state, &staff, lang, m, StatusCode::BAD_REQUEST).await;
        }
        let content = format!("wardcrf://enroll?server={}&code={code}", url(&server));
        let qr = qr_svg(&content)
            .map(|svg| {
                format!(
                    "<img class=\"qr\" width=\"240\" height=\"240\" alt=\"{}\" src=\"data:image/svg+xml,{}\">",
                    M::QrAlt.get(lang),
                    url(&svg)
                )
            })
            .unwrap_or_default();
        let shown = format!(
            "<section class=\"code panel\" aria-labelledby=\"h-code\"><h2 id=\"h-code\">{} <code>{}</code></h2>\
             {qr}<p class=\"bigcode\"><code id=\"enrol-code\">{code}</code></p><p>{} {}</p>\
             <p>{}</p><pre><code>wardcrf device enroll --store DIR --server {} --code {code}</code></pre></section>",
            M::CodeFor.get(lang),
            esc(&form.site),
            M::CodeExpires.get(lang),
            Timestamp::from_unsigned(expires_at).minutes_utc(),
            M::CodeHelp.get(lang),
            esc(&server),
        );
        AdminPage::Enrolment.render(&state, &staff, lang, shown, StatusCode::CREATED).await
    })
    .await
}

// ---------------------------------------------------------------------------------------
// The admin-token API

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStaff {
    username: String,
    role: String,
    #[serde(default)]
    site_id: Option<String>,
    password: String,
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `POST /api/admin/staff` (admin token): adds a staff user.
pub async fn api_add_staff<S: HubStorage + Repository + Send + 'static>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(e) = state.check_admin(&headers) {
        return e.into_response();
    }
    let Ok(bytes) = body else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request body could not be read",
        );
    };
    let req: NewStaff = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            // serde_json names the key or position, never a value.
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("the request is not valid JSON for this endpoint: {e}"),
            );
        }
    };
    let now = state.now();
    let (username, role, site) = (req.username.clone(), req.role.clone(), req.site_id.clone());
    let result = state
        .with_hub(move |hub| {
            Ok(add_staff_user(
                &mut hub.storage,
                &req.username,
                &req.role,
                req.site_id.as_deref(),
                &req.password,
                now,
            ))
        })
        .await;
    match result {
        Ok(Ok(())) => {
            let role = Role::parse(&role).map_or("", Role::as_str);
            (
                StatusCode::CREATED,
                Json(json!({"username": username.trim(), "role": role, "site_id": site})),
            )
                .into_response()
        }
        Ok(Err(StaffError::Exists)) => json_error(
            StatusCode::CONFLICT,
            "staff_exists",
            &StaffError::Exists.to_string(),
        ),
        Ok(Err(StaffError::UnknownSite)) => json_error(
            StatusCode::NOT_FOUND,
            "unknown_site",
            &StaffError::UnknownSite.to_string(),
        ),
        Ok(Err(
            e @ (StaffError::Password(super::PasswordError::Random(_)) | StaffError::Repo(_)),
        )) => ApiError::Internal(e.to_string()).into_response(),
        Ok(Err(e)) => json_error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
        Err(e) => e.into_response(),
    }
}
