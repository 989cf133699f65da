//! The web console of the repository, served at `/`: staff sign in (see [`auth`]) and see
//! the overview, cases by site and status, each case by section with its validation flags and
//! history, the open conflicts side by side with a resolve action, and — by role — exports and
//! the administration of sites, staff users, devices and enrolment codes (QR codes).
//!
//! Pages are rendered here in Rust (plain HTML, one stylesheet, no script), in the user's
//! language (en/ja/de). Every handler checks the session and the role itself: a site nurse
//! sees her own site only (other sites' cases answer 404, as if absent).
//!
//! - [`auth`]: passwords, sessions, CSRF, lock-out, sign-in and sign-out.
//! - [`pages`]: overview, case list, case view, conflict review and resolution, exports.
//! - [`admin`]: sites, staff users, devices, enrolment codes; the admin-token staff API.
//! - [`demo`]: `wardcrf-server --demo`'s synthetic sites, devices and cases.

mod admin;
mod auth;
pub mod demo;
mod html;
mod i18n;
mod pages;

use crate::error::ApiError;
use crate::repository::{RepoError, Repository, StaffRecord};
use crate::state::AppState;
use crate::state::Store;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use html::{Page, esc};
use i18n::M;
use wardcrf_core::Lang;

pub(crate) use auth::check_device_sign_in;
pub use auth::{
    LOCK_SECS, MAX_FAILURES, PBKDF2_ITERATIONS, PasswordError, SESSION_COOKIE, SignInGuard,
    SignInSettings, Throttled, hash_password, verify_password,
};

/// How the console is served (set by `wardcrf-server` as a request extension).
#[derive(Debug, Clone, Default)]
pub struct ConsoleSettings {
    /// Mark cookies `Secure`: the console is reached over HTTPS (served with TLS, or behind a
    /// TLS-terminating proxy with `--insecure-http`).
    pub secure_cookies: bool,
    /// Serving the demo: pages say the data is synthetic.
    pub demo: bool,
    /// The certificate fingerprint the enrolment QR code carries (`--advertise-ca`, else the
    /// last certificate of `--tls-cert`); none over plain HTTP.
    pub enrol_pin: Option<wardcrf_core::sync::CertPin>,
}

/// What a staff user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sites, staff users, devices, enrolment codes; every site's cases; exports.
    Admin,
    /// Every site's cases, conflicts and exports.
    DataManager,
    /// Her own site's cases and conflicts only; signs in on her site's tablets.
    SiteNurse,
    /// Enters data on her own site's tablets only: never signs in to the console.
    Clinician,
}

impl Role {
    /// From its stored name (`admin`, `data_manager`, `site_nurse`, `clinician`; `-` for `_`
    /// accepted).
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().replace('-', "_").as_str() {
            "admin" => Some(Role::Admin),
            "data_manager" => Some(Role::DataManager),
            "site_nurse" => Some(Role::SiteNurse),
            "clinician" => Some(Role::Clinician),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::DataManager => "data_manager",
            Role::SiteNurse => "site_nurse",
            Role::Clinician => "clinician",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Role::Admin => M::RoleAdmin.get(lang),
            Role::DataManager => M::RoleDataManager.get(lang),
            Role::SiteNurse => M::RoleSiteNurse.get(lang),
            Role::Clinician => M::RoleClinician.get(lang),
        }
    }

    /// Belongs to one site (site nurse, clinician); the other roles have none.
    pub fn site_scoped(self) -> bool {
        matches!(self, Role::SiteNurse | Role::Clinician)
    }

    /// May sign in to the console (a clinician works on the ward's tablets only).
    pub fn uses_console(self) -> bool {
        self != Role::Clinician
    }

    /// May download exports.
    pub fn exports(self) -> bool {
        matches!(self, Role::Admin | Role::DataManager)
    }

    /// May administer sites, staff, devices and enrolment codes.
    pub fn administers(self) -> bool {
        self == Role::Admin
    }
}

/// The signed-in staff user of a request.
#[derive(Clone)]
pub struct Staff {
    pub username: String,
    pub role: Role,
    /// A site nurse's site.
    pub site: Option<String>,
    /// The session's CSRF token.
    pub(crate) csrf: String,
    pub(crate) token_sha256: [u8; 32],
}

impl std::fmt::Debug for Staff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staff")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

impl Staff {
    /// Whether this user may see the cases and devices of `site`.
    pub fn sees_site(&self, site: &str) -> bool {
        match self.role {
            Role::SiteNurse | Role::Clinician => self.site.as_deref() == Some(site),
            Role::Admin | Role::DataManager => true,
        }
    }

    /// The only site this user sees, for a site nurse.
    pub fn only_site(&self) -> Option<&str> {
        match self.role {
            Role::SiteNurse | Role::Clinician => Some(self.site.as_deref().unwrap_or("")),
            Role::Admin | Role::DataManager => None,
        }
    }
}

/// Why a console request failed; each renders as a page in the user's language.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: go to the sign-in page.
    #[error("not signed in")]
    SignedOut,
    #[error("the role does not allow this")]
    Forbidden,
    /// Absent, or of a site the user does not see.
    #[error("not found")]
    NotFound,
    /// A POST without the session's CSRF token.
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    /// Input the user can correct; the message is already in her language.
    #[error("bad input")]
    BadInput(String),
    /// The state changed meanwhile (a conflict resolved by someone else).
    #[error("changed meanwhile")]
    Conflict(String),
    /// The case's stored document cannot be read: quarantined until a device pushes it again.
    #[error("the case's stored document is damaged")]
    Damaged,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<RepoError> for ConsoleError {
    fn from(e: RepoError) -> Self {
        ConsoleError::Api(ApiError::Repo(e))
    }
}

/// The answer to a console request: the page, or the error as a page.
pub(crate) fn respond(
    lang: Lang,
    staff: Option<&Staff>,
    result: Result<Response, ConsoleError>,
) -> Response {
    let error = match result {
        Ok(r) => return r,
        Err(e) => e,
    };
    let (status, text) = match &error {
        ConsoleError::SignedOut => return Redirect::to("/login").into_response(),
        ConsoleError::Forbidden => (StatusCode::FORBIDDEN, M::Forbidden.get(lang).to_string()),
        ConsoleError::NotFound => (StatusCode::NOT_FOUND, M::NotFound.get(lang).to_string()),
        ConsoleError::Csrf => (StatusCode::FORBIDDEN, M::StaleForm.get(lang).to_string()),
        ConsoleError::BadInput(m) => (StatusCode::BAD_REQUEST, m.clone()),
        ConsoleError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
        ConsoleError::Damaged => (StatusCode::CONFLICT, M::CaseDamaged.get(lang).to_string()),
        ConsoleError::Api(e) => {
            // Logged without values: storage errors carry none.
            tracing::error!(error = %e, "console: request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                M::ServerError.get(lang).to_string(),
            )
        }
    };
    let body = format!(
        "{}<p><a href=\"/\">{}</a></p>",
        html::notice("error", &text),
        M::Overview.get(lang)
    );
    let title = match status {
        StatusCode::NOT_FOUND => M::NotFound.get(lang),
        StatusCode::FORBIDDEN => M::Forbidden.get(lang),
        _ => M::BadRequest.get(lang),
    };
    let title = title.split([':', '.', '（', '：']).next().unwrap_or(title);
    Page::new(esc(title), body)
        .with_status(status)
        .render(lang, staff, "/")
}

/// The console's routes (merged into [`crate::routes::router`]).
pub fn routes<S: Store>() -> Router<AppState<S>> {
    Router::new()
        .route("/assets/console.css", get(stylesheet))
        .route("/login", get(auth::get_login).post(auth::post_login::<S>))
        .route("/logout", post(auth::post_logout::<S>))
        .route("/lang", get(auth::set_lang))
        .route("/", get(pages::overview::<S>))
        .route("/cases", get(pages::case_list::<S>))
        .route("/cases/{case_id}", get(pages::case_view::<S>))
        .route("/cases/{case_id}/conflicts", get(pages::conflicts::<S>))
        .route("/cases/{case_id}/resolve", post(pages::resolve::<S>))
        .route("/exports", get(pages::exports::<S>))
        .route("/exports/download", get(pages::download::<S>))
        .route(
            "/admin/sites",
            get(admin::sites::<S>).post(admin::add_site::<S>),
        )
        .route(
            "/admin/staff",
            get(admin::staff::<S>).post(admin::add_staff::<S>),
        )
        .route(
            "/admin/staff/{username}/enabled",
            post(admin::set_enabled::<S>),
        )
        .route("/admin/staff/{username}/unlock", post(admin::unlock::<S>))
        .route(
            "/admin/staff/{username}/password",
            post(admin::reset_password::<S>),
        )
        .route("/admin/devices", get(admin::devices::<S>))
        .route(
            "/admin/devices/{device_id}/revoke",
            post(admin::revoke::<S>),
        )
        .route(
            "/admin/enrolment",
            get(admin::enrolment::<S>).post(admin::new_code::<S>),
        )
        .route("/api/admin/staff", post(admin::api_add_staff::<S>))
        .route(
            "/api/admin/staff/{username}/password",
            put(admin::api_reset_password::<S>),
        )
        .route(
            "/api/admin/staff/{username}/unlock",
            post(admin::api_unlock::<S>),
        )
        .route(
            "/api/admin/staff/{username}/active",
            put(admin::api_set_active::<S>),
        )
}

async fn stylesheet() -> Response {
    let mut r = include_str!("../../assets/console.css").into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// `GET /api/exports/...` is for the admin token, or a console session of an administrator
/// or a data manager (a site nurse: 403 `forbidden`).
pub(crate) async fn check_export_access<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return state.check_admin(headers);
    }
    match auth::signed_in(state, headers).await {
        Ok(staff) if staff.role.exports() => Ok(()),
        Ok(_) => Err(ApiError::Forbidden),
        Err(ConsoleError::Api(e)) => Err(e),
        Err(_) => Err(ApiError::Unauthorized),
    }
}

/// Why a staff user could not be added.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("the user name must be 1-64 characters of lowercase letters, digits, '.', '_' and '-'")]
    BadUsername,
    #[error("unknown role; use admin, data-manager, site-nurse or clinician")]
    BadRole,
    #[error("a site nurse or a clinician needs --site (their site); the other roles have none")]
    SiteMismatch,
    #[error("no such site; add the site first")]
    UnknownSite,
    #[error("a staff user with this name already exists")]
    Exists,
    #[error("the display name must be 1-200 characters without line breaks")]
    BadDisplayName,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// A staff user to add (see [`add_staff_user`]).
#[derive(Clone, Copy)]
pub struct NewStaffUser<'a> {
    pub username: &'a str,
    /// `admin`, `data-manager`, `site-nurse` or `clinician`.
    pub role: &'a str,
    /// The site of a site nurse or a clinician.
    pub site: Option<&'a str>,
    /// The printed name shown with the person's entries and signatures; `None` or empty: the
    /// user name.
    pub display_name: Option<&'a str>,
    pub password: &'a str,
}

impl std::fmt::Debug for NewStaffUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewStaffUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

/// The display name as stored: trimmed, `""` for none; refused when longer than 200
/// characters or holding control characters.
fn display_name_of(name: Option<&str>) -> Result<String, StaffError> {
    let name = name.map_or("", str::trim);
    if name.chars().count() > wardcrf_core::staff::MAX_LABEL || name.chars().any(char::is_control) {
        return Err(StaffError::BadDisplayName);
    }
    Ok(name.to_string())
}

/// Adds a staff user to `storage` (the console's admin page, the admin-token API,
/// `wardcrf-server create-user` and the demo all come here). User names follow the core's
/// rule for staff ids ([`wardcrf_core::staff::valid_staff_id`]): the id a tablet names in
/// each change. Hashing is slow (by design): call it off the async threads.
pub fn add_staff_user<S: Repository>(
    storage: &mut S,
    user: NewStaffUser<'_>,
    now: u64,
) -> Result<(), StaffError> {
    let username = user.username.trim();
    if !wardcrf_core::staff::valid_staff_id(username) {
        return Err(StaffError::BadUsername);
    }
    let role = Role::parse(user.role).ok_or(StaffError::BadRole)?;
    let site = user.site.map(str::trim).filter(|s| !s.is_empty());
    if role.site_scoped() != site.is_some() {
        return Err(StaffError::SiteMismatch);
    }
    let display_name = display_name_of(user.display_name)?;
    if let Some(site) = site
        && !storage.sites()?.iter().any(|s| s.site_id == site)
    {
        return Err(StaffError::UnknownSite);
    }
    let password_hash = hash_password(user.password, PBKDF2_ITERATIONS)?;
    let created = storage.create_staff(&StaffRecord {
        username: username.to_string(),
        role: role.as_str().to_string(),
        site_id: site.map(str::to_string),
        display_name,
        credential_epoch: 0,
        password_hash,
        failed_logins: 0,
        locked_until: None,
        disabled: false,
        created_at: now,
    })?;
    if created {
        Ok(())
    } else {
        Err(StaffError::Exists)
    }
}
