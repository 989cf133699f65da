//! Staff sign-in: passwords (salted PBKDF2-HMAC-SHA256, see [`password`]), sessions (random tokens kept only
//! as SHA-256 hashes, in `HttpOnly; SameSite=Strict` cookies), the CSRF synchronizer token of
//! each session, the lock-out after repeated failures, and the throttling of sign-in attempts
//! per client address and per user name ([`SignInGuard`]).
//!
//! A sign-in reads the user's record, gives its database connection back, checks the password
//! on a blocking thread (at most [`SignInSettings::hash_slots`] at once, so that a flood of
//! sign-ins cannot take every core from device syncs), then records the outcome. Attempts
//! beyond a client address's or a user name's allowance are answered 429 with `Retry-After`
//! before any hash is computed. Known and unknown user names get the same answers: a wrong
//! password, an unknown or disabled user and a locked account all answer 401 with one message,
//! after the same amount of hashing.
//!
//!
//! - [`password`]: hashing and checking passwords.
//! - [`throttle`]: the allowance of attempts and the hash slots ([`SignInGuard`]).
//! - [`device`]: a staff member's online sign-in on a tablet, counted with the console's.
//! - Here: cookies, sessions, CSRF, the sign-in and sign-out pages, the language switch.

mod device;
mod password;
mod throttle;

pub(crate) use device::check_device_sign_in;

use super::html::{Page, csrf_field, esc, notice};
use super::i18n::{LANG_COOKIE, M, lang_of};
use super::{ConsoleError, ConsoleSettings, Staff, respond};
use crate::error::ApiError;
use crate::secret;
use crate::serve::ClientAddr;
use crate::state::AppState;
use crate::state::Store;
use axum::Extension;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use wardcrf_core::Lang;

use password::dummy_hash;
pub use password::{
    MIN_PASSWORD, PBKDF2_ITERATIONS, PasswordError, hash_password, verify_password,
};
pub use throttle::{SignInGuard, SignInSettings, Throttled};

/// The session cookie.
pub const SESSION_COOKIE: &str = "wardcrf_session";
/// The cookie of the sign-in form's own CSRF token (double submit: no session exists yet).
pub const LOGIN_COOKIE: &str = "wardcrf_login";
/// Consecutive failed sign-ins that lock an account.
pub const MAX_FAILURES: u64 = 5;
/// How long a lock lasts.
pub const LOCK_SECS: u64 = 15 * 60;
/// How long a session lasts (a working day).
pub const SESSION_SECS: u64 = 12 * 60 * 60;

/// The value of a cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/`, `Secure` over HTTPS.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Option<u64>,
    settings: &ConsoleSettings,
) -> HeaderValue {
    let mut c = format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if settings.secure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The signed-in staff user of a request, or [`ConsoleError::SignedOut`].
pub async fn signed_in<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<Staff, ConsoleError> {
    let token = cookie(headers, SESSION_COOKIE)
        .filter(|t| !t.is_empty())
        .ok_or(ConsoleError::SignedOut)?;
    let hash = secret::sha256(token);
    let now = state.now();
    let session = state
        .with_hub(move |hub| Ok(hub.storage.session(&hash, now)?))
        .await?
        .ok_or(ConsoleError::SignedOut)?;
    let role = super::Role::parse(&session.role)
        .filter(|r| r.uses_console())
        .ok_or(ConsoleError::Forbidden)?;
    Ok(Staff {
        username: session.username,
        role,
        site: session.site_id,
        csrf: session.csrf_token,
        token_sha256: hash,
    })
}

/// Compares a submitted CSRF token with the session's (in constant time).
pub fn check_csrf(staff: &Staff, submitted: &str) -> Result<(), ConsoleError> {
    if secret::same_hash(&secret::sha256(submitted), &secret::sha256(&staff.csrf)) {
        Ok(())
    } else {
        Err(ConsoleError::Csrf)
    }
}

#[derive(Deserialize)]
pub struct LoginParams {
    #[serde(default)]
    next: Option<String>,
}

/// A path inside the console to go to after signing in (never another site, and only visible
/// ASCII, so that it is always a valid `Location` header).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 2048
                && n.bytes().all(|b| (0x21..=0x7e).contains(&b)) =>
        {
            n.into()
        }
        _ => "/".into(),
    }
}

fn login_page(lang: Lang, token: &str, next: &str, error: Option<&str>) -> Page {
    let mut body = String::new();
    if let Some(e) = error {
        body.push_str(&notice("error", e));
    }
    body.push_str(&format!(
        "<form class=\"login\" method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label for=\"username\">{u}</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus \
         autocapitalize=\"none\" spellcheck=\"false\">\
         <label for=\"password\">{p}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required>\
         <button type=\"submit\">{s}</button></form>",
        token = esc(token),
        next = esc(next),
        u = M::Username.get(lang),
        p = M::Password.get(lang),
        s = M::SignIn.get(lang),
    ));
    Page::new(M::SignIn.get(lang), body)
}

/// A sign-in page with a fresh form token in its cookie.
fn login_response(
    lang: Lang,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
    settings: &ConsoleSettings,
) -> Result<Response, ConsoleError> {
    let token = secret::new_token().map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = login_page(lang, &token, next, error)
        .with_status(status)
        .render(lang, None, "/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, Some(3600), settings),
    );
    Ok(response)
}

pub async fn get_login(
    headers: HeaderMap,
    settings: Option<Extension<ConsoleSettings>>,
    Query(params): Query<LoginParams>,
) -> Response {
    let lang = lang_of(&headers);
    let settings = settings.map(|e| e.0).unwrap_or_default();
    let next = safe_next(params.next.as_deref());
    respond(
        lang,
        None,
        login_response(lang, &next, None, StatusCode::OK, &settings),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// What a sign-in attempt came to.
enum Attempt {
    Ok,
    /// A wrong password, an unknown or disabled user, or a locked account: one answer.
    Wrong,
    /// The right password of a role that works on the ward's tablets only (a clinician).
    NotForConsole,
    Throttled(Duration),
}

pub async fn post_login<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    settings: Option<Extension<ConsoleSettings>>,
    Extension(guard): Extension<Arc<SignInGuard>>,
    ClientAddr(address): ClientAddr,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let lang = lang_of(&headers);
    let settings = settings.map(|e| e.0).unwrap_or_default();
    let result = login(&state, &headers, &settings, &guard, address, lang, form).await;
    respond(lang, None, result)
}

/// Whether a staff user is enabled and not locked out at `now`.
fn may_sign_in(user: &crate::repository::StaffRecord, now: u64) -> bool {
    !user.disabled && user.locked_until.is_none_or(|t| t <= now)
}

/// Checks a sign-in attempt (see the module documentation): the allowance, then the user's
/// record (connection given back), the password in a hash slot, and the outcome recorded.
async fn attempt<S: Store>(
    state: &AppState<S>,
    guard: &SignInGuard,
    address: Option<IpAddr>,
    username: &str,
    password: String,
) -> Result<Attempt, ConsoleError> {
    if let Err(Throttled(after)) = guard.admit(address, username) {
        return Ok(Attempt::Throttled(after));
    }
    let now = state.now();
    let user = username.to_string();
    let found = state
        .with_hub(move |hub| Ok(hub.storage.staff_user(&user)?))
        .await?
        .filter(|u| may_sign_in(u, now));
    // The same hashing whether or not the user can sign in.
    let stored = found
        .as_ref()
        .map_or_else(|| dummy_hash().to_string(), |u| u.password_hash.clone());
    let matched = match guard.verify(password, stored).await {
        Ok(m) => m,
        Err(Throttled(after)) => return Ok(Attempt::Throttled(after)),
    };
    if found.is_none() {
        return Ok(Attempt::Wrong);
    }
    let user = username.to_string();
    let outcome = state
        .with_hub(move |hub| {
            if matched {
                // Still not locked (a parallel attempt may have locked it meanwhile).
                let unlocked = hub
                    .storage
                    .staff_user(&user)?
                    .filter(|u| may_sign_in(u, now));
                let Some(record) = unlocked else {
                    return Ok(Attempt::Wrong);
                };
                hub.storage.record_login_success(&user)?;
                if super::Role::parse(&record.role).is_some_and(|r| !r.uses_console()) {
                    return Ok(Attempt::NotForConsole);
                }
                Ok(Attempt::Ok)
            } else {
                hub.storage
                    .record_login_failure(&user, now, MAX_FAILURES, LOCK_SECS)?;
                Ok(Attempt::Wrong)
            }
        })
        .await?;
    if !matches!(outcome, Attempt::Wrong) {
        guard.succeeded(address, username);
    }
    Ok(outcome)
}

async fn login<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    settings: &ConsoleSettings,
    guard: &SignInGuard,
    address: Option<IpAddr>,
    lang: Lang,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let Form(form) = form.map_err(|_| ConsoleError::BadInput(M::BadRequest.get(lang).into()))?;
    let next = safe_next(form.next.as_deref());
    // Double submit: the form's token must equal the one its page set in a cookie.
    let expected = cookie(headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty()
        || !secret::same_hash(&secret::sha256(expected), &secret::sha256(&form.csrf))
    {
        return login_response(
            lang,
            &next,
            Some(M::StaleForm.get(lang)),
            StatusCode::FORBIDDEN,
            settings,
        );
    }
    let username = form.username.trim().to_ascii_lowercase();
    let now = state.now();
    match attempt(state, guard, address, &username, form.password).await? {
        Attempt::Wrong => login_response(
            lang,
            &next,
            Some(M::WrongLogin.get(lang)),
            StatusCode::UNAUTHORIZED,
            settings,
        ),
        Attempt::NotForConsole => login_response(
            lang,
            &next,
            Some(M::ClinicianNoConsole.get(lang)),
            StatusCode::FORBIDDEN,
            settings,
        ),
        Attempt::Throttled(after) => {
            let mut response = login_response(
                lang,
                &next,
                Some(M::TooManySignIns.get(lang)),
                StatusCode::TOO_MANY_REQUESTS,
                settings,
            )?;
            let secs = after.as_secs_f64().ceil().max(1.0).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(response)
        }
        Attempt::Ok => {
            let token = secret::new_token().map_err(|e| ApiError::Internal(e.to_string()))?;
            let csrf = secret::new_token().map_err(|e| ApiError::Internal(e.to_string()))?;
            let hash = secret::sha256(&token);
            state
                .with_hub(move |hub| {
                    hub.storage.delete_expired_sessions(now)?;
                    hub.storage
                        .create_session(&hash, &username, &csrf, now, now + SESSION_SECS)?;
                    Ok(())
                })
                .await?;
            let mut response = Redirect::to(&next).into_response();
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &token, Some(SESSION_SECS), settings),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", Some(0), settings),
            );
            Ok(response)
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn post_logout<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    settings: Option<Extension<ConsoleSettings>>,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let lang = lang_of(&headers);
    let settings = settings.map(|e| e.0).unwrap_or_default();
    let result = async {
        let staff = signed_in(&state, &headers).await?;
        let Form(form) =
            form.map_err(|_| ConsoleError::BadInput(M::BadRequest.get(lang).into()))?;
        check_csrf(&staff, &form.csrf)?;
        let hash = staff.token_sha256;
        state
            .with_hub(move |hub| Ok(hub.storage.delete_session(&hash)?))
            .await?;
        let mut response = Redirect::to("/login").into_response();
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", Some(0), &settings),
        );
        Ok(response)
    }
    .await;
    respond(lang, None, result)
}

#[derive(Deserialize)]
pub struct LangParams {
    to: String,
    #[serde(default)]
    back: Option<String>,
}

/// `GET /lang?to=ja&back=/cases`: keeps the chosen language in a cookie and goes back.
pub async fn set_lang(
    settings: Option<Extension<ConsoleSettings>>,
    params: Result<Query<LangParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let settings = settings.map(|e| e.0).unwrap_or_default();
    let Ok(Query(params)) = params else {
        return Redirect::to("/").into_response();
    };
    let back = safe_next(params.back.as_deref());
    let mut response = Redirect::to(&back).into_response();
    if let Ok(lang) = params.to.parse::<Lang>() {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(LANG_COOKIE, lang.code(), Some(365 * 86_400), &settings),
        );
    }
    response
}

/// The CSRF field of a signed-in form (re-exported for the pages).
pub fn csrf(staff: &Staff) -> String {
    csrf_field(&staff.csrf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_next_paths() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; wardcrf_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(safe_next(Some("/cases")), "/cases");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/x\r\nSet-Cookie: a=b")), "/");
        assert_eq!(safe_next(Some("/caf\u{e9}")), "/");
        let secure = ConsoleSettings {
            secure_cookies: true,
            ..Default::default()
        };
        let c = set_cookie(SESSION_COOKIE, "t", Some(5), &secure);
        assert_eq!(
            c.to_str().unwrap(),
            "wardcrf_session=t; HttpOnly; SameSite=Strict; Path=/; Max-Age=5; Secure"
        );
        let plain = set_cookie(SESSION_COOKIE, "t", None, &ConsoleSettings::default());
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }
}
