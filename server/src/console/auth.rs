//! Staff sign-in: passwords (salted PBKDF2-HMAC-SHA256), sessions (random tokens kept only
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
//! Why PBKDF2 through ring rather than argon2: ring is already the repository's (and the
//! device store's) only cryptography, audited and pure Rust with assembly; PBKDF2-HMAC-SHA256
//! at OWASP's 600,000 iterations is the same hash the device store derives its key with, and
//! adds no crate. Argon2 would resist GPU guessing better; the lock-out (5 failures → 15
//! minutes) bounds online guessing either way, and offline guessing needs the database.

use super::html::{Page, csrf_field, esc, notice};
use super::i18n::{LANG_COOKIE, M, lang_of};
use super::{ConsoleError, ConsoleSettings, Staff, respond};
use crate::error::ApiError;
use crate::secret;
use crate::serve::ClientAddr;
use crate::state::AppState;
use crate::storage::Repository;
use axum::Extension;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ring::pbkdf2;
use serde::Deserialize;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use wardcrf_core::Lang;
use wardcrf_core::sync::HubStorage;

/// The session cookie.
pub const SESSION_COOKIE: &str = "wardcrf_session";
/// The cookie of the sign-in form's own CSRF token (double submit: no session exists yet).
pub const LOGIN_COOKIE: &str = "wardcrf_login";
/// PBKDF2-HMAC-SHA256 iterations for new password hashes (OWASP 2023).
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Consecutive failed sign-ins that lock an account.
pub const MAX_FAILURES: u64 = 5;
/// How long a lock lasts.
pub const LOCK_SECS: u64 = 15 * 60;
/// How long a session lasts (a working day).
pub const SESSION_SECS: u64 = 12 * 60 * 60;
/// Password length limits (the upper one bounds the work of hashing).
pub const MIN_PASSWORD: usize = 10;
pub const MAX_PASSWORD: usize = 1024;

/// Why a password could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")]
    Length,
    #[error(transparent)]
    Random(#[from] secret::RandomError),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a new password's length (in characters).
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if (MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

/// `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>` of a password (16 random salt bytes).
pub fn hash_password(password: &str, iterations: u32) -> Result<String, PasswordError> {
    check_password(password)?;
    let salt = secret::new_token()?; // 32 random bytes as hex; 16 are enough
    let salt = unhex(&salt[..32]).ok_or(secret::RandomError)?;
    let n = NonZeroU32::new(iterations.max(1)).ok_or(secret::RandomError)?;
    let mut out = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        &salt,
        password.as_bytes(),
        &mut out,
    );
    Ok(format!(
        "pbkdf2-sha256${iterations}${}${}",
        hex(&salt),
        hex(&out)
    ))
}

/// Whether `password` matches a stored hash (in constant time); `false` for a malformed one.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(iter), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Some(n), Some(salt), Some(hash)) = (
        iter.parse::<u32>().ok().and_then(NonZeroU32::new),
        unhex(salt),
        unhex(hash),
    ) else {
        return false;
    };
    if password.len() > MAX_PASSWORD * 4 {
        return false;
    }
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        &salt,
        password.as_bytes(),
        &hash,
    )
    .is_ok()
}

/// A hash no password matches, verified for unknown users so that a wrong user name costs
/// the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password("not a password of anyone", PBKDF2_ITERATIONS).unwrap_or_default()
    })
}

/// How many sign-in attempts are let through, and how many password hashes run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInSettings {
    /// Failed attempts a client address may make at once...
    pub address_burst: u32,
    /// ...and then one more per this interval.
    pub address_every: Duration,
    /// Failed attempts for one user name (known or not) at once...
    pub name_burst: u32,
    /// ...and then one more per this interval.
    pub name_every: Duration,
    /// Password hashes computed at once, process-wide.
    pub hash_slots: usize,
    /// How long an attempt waits for a hash slot before it is answered 429.
    pub hash_wait: Duration,
    /// Addresses and user names remembered (each); beyond, the longest-unused are forgotten.
    pub max_keys: usize,
}

impl Default for SignInSettings {
    /// 20 failed attempts at once per address and per user name, then one every 3 s (20 a
    /// minute); a hash slot per two cores (at least one), waited for up to 5 s.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        SignInSettings {
            address_burst: 20,
            address_every: Duration::from_secs(3),
            name_burst: 20,
            name_every: Duration::from_secs(3),
            hash_slots: (cores / 2).max(1),
            hash_wait: Duration::from_secs(5),
            max_keys: 10_000,
        }
    }
}

/// Token buckets, one per key, in a map of bounded size.
#[derive(Debug)]
struct Buckets<K> {
    burst: f64,
    every: Duration,
    max_keys: usize,
    /// Per key: the tokens left, as of when.
    map: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(burst: u32, every: Duration, max_keys: usize) -> Self {
        Buckets {
            burst: f64::from(burst.max(1)),
            every: every.max(Duration::from_millis(1)),
            max_keys: max_keys.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, (tokens, at): (f64, Instant), now: Instant) -> f64 {
        let earned = now.saturating_duration_since(at).as_secs_f64() / self.every.as_secs_f64();
        (tokens + earned).min(self.burst)
    }

    /// Takes a token for `key`, or says how long until one is there.
    fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = match map.get(key) {
            Some(&entry) => self.refilled(entry, now),
            None => {
                if map.len() >= self.max_keys {
                    // Forget the full buckets first; if none is, the longest unused.
                    map.retain(|_, entry| self.refilled(*entry, now) < self.burst);
                    if map.len() >= self.max_keys
                        && let Some(oldest) = map
                            .iter()
                            .min_by_key(|(_, (_, at))| *at)
                            .map(|(k, _)| k.clone())
                    {
                        map.remove(&oldest);
                    }
                }
                self.burst
            }
        };
        if tokens >= 1.0 {
            map.insert(key.clone(), (tokens - 1.0, now));
            Ok(())
        } else {
            map.insert(key.clone(), (tokens, now));
            Err(self.every.mul_f64(1.0 - tokens))
        }
    }

    /// Gives back a token taken for `key` (the attempt succeeded).
    fn give_back(&self, key: &K) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(key) {
            entry.0 = (entry.0 + 1.0).min(self.burst);
        }
    }
}

/// The allowance of sign-in attempts per client address and per user name, and the slots of
/// password hashing; one per router (see [`crate::routes::router_with`]).
#[derive(Debug)]
pub struct SignInGuard {
    settings: SignInSettings,
    addresses: Buckets<IpAddr>,
    names: Buckets<String>,
    slots: tokio::sync::Semaphore,
    hashes: AtomicU64,
}

impl Default for SignInGuard {
    fn default() -> Self {
        SignInGuard::new(SignInSettings::default())
    }
}

/// Why a sign-in attempt was not let through to a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sign-in attempts; retry in {} s", .0.as_secs().max(1))]
pub struct Throttled(pub Duration);

impl SignInGuard {
    pub fn new(settings: SignInSettings) -> Self {
        SignInGuard {
            settings,
            addresses: Buckets::new(
                settings.address_burst,
                settings.address_every,
                settings.max_keys,
            ),
            names: Buckets::new(settings.name_burst, settings.name_every, settings.max_keys),
            slots: tokio::sync::Semaphore::new(settings.hash_slots.max(1)),
            hashes: AtomicU64::new(0),
        }
    }

    /// The key of a user name: as typed (normalised) when it could be one, else one shared
    /// key for every malformed name (so that they cannot fill the map).
    fn name_key(username: &str) -> String {
        if super::valid_username(username) {
            username.to_string()
        } else {
            String::new()
        }
    }

    /// The key of a client address: an IPv4 address (also when IPv4-mapped), or the /64
    /// network of an IPv6 one (what one client is usually given).
    fn address_key(address: IpAddr) -> IpAddr {
        match address.to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !u128::from(u64::MAX),
            )),
            v4 => v4,
        }
    }

    /// Takes one attempt of the allowance of `address` (when known) and of `username`.
    pub fn admit(&self, address: Option<IpAddr>, username: &str) -> Result<(), Throttled> {
        let now = Instant::now();
        if let Some(addr) = address {
            self.addresses
                .take(&Self::address_key(addr), now)
                .map_err(Throttled)?;
        }
        self.names
            .take(&Self::name_key(username), now)
            .map_err(Throttled)
    }

    /// Gives back the attempt of a successful sign-in.
    pub fn succeeded(&self, address: Option<IpAddr>, username: &str) {
        if let Some(addr) = address {
            self.addresses.give_back(&Self::address_key(addr));
        }
        self.names.give_back(&Self::name_key(username));
    }

    /// Whether `password` matches `stored`, checked on a blocking thread in one of the hash
    /// slots; [`Throttled`] when no slot came free in time.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, Throttled> {
        let wait = self.settings.hash_wait;
        let slot = tokio::time::timeout(wait, self.slots.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(Throttled(wait))?;
        self.hashes.fetch_add(1, Ordering::Relaxed);
        let matched = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
            .await
            .unwrap_or(false);
        drop(slot);
        Ok(matched)
    }

    /// How many password hashes this guard has computed.
    pub fn hashes_computed(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }
}

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
pub async fn signed_in<S: HubStorage + Repository + Send + 'static>(
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
    let role = super::Role::parse(&session.role).ok_or(ConsoleError::Forbidden)?;
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
    Throttled(Duration),
}

pub async fn post_login<S: HubStorage + Repository + Send + 'static>(
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
fn may_sign_in(user: &crate::storage::StaffRecord, now: u64) -> bool {
    !user.disabled && user.locked_until.is_none_or(|t| t <= now)
}

/// Checks a sign-in attempt (see the module documentation): the allowance, then the user's
/// record (connection given back), the password in a hash slot, and the outcome recorded.
async fn attempt<S: HubStorage + Repository + Send + 'static>(
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
    let ok = state
        .with_hub(move |hub| {
            if matched {
                // Still not locked (a parallel attempt may have locked it meanwhile).
                let unlocked = hub
                    .storage
                    .staff_user(&user)?
                    .is_some_and(|u| may_sign_in(&u, now));
                if unlocked {
                    hub.storage.record_login_success(&user)?;
                    return Ok(true);
                }
                Ok(false)
            } else {
                hub.storage
                    .record_login_failure(&user, now, MAX_FAILURES, LOCK_SECS)?;
                Ok(false)
            }
        })
        .await?;
    if ok {
        guard.succeeded(address, username);
        Ok(Attempt::Ok)
    } else {
        Ok(Attempt::Wrong)
    }
}

async fn login<S: HubStorage + Repository + Send + 'static>(
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

pub async fn post_logout<S: HubStorage + Repository + Send + 'static>(
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
    fn passwords_hash_salted_and_verify() {
        let a = hash_password("correct horse battery", 1000).unwrap();
        let b = hash_password("correct horse battery", 1000).unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("pbkdf2-sha256$1000$"));
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("correct horse batterx", &a));
        assert!(!verify_password("correct horse battery", "garbage"));
        assert!(!verify_password("x", "pbkdf2-sha256$0$00$00"));
        assert_eq!(hash_password("short", 1000), Err(PasswordError::Length));
    }

    #[test]
    fn buckets_refill_say_when_and_stay_bounded() {
        let b: Buckets<u32> = Buckets::new(2, Duration::from_secs(10), 3);
        let t0 = Instant::now();
        assert!(b.take(&1, t0).is_ok());
        assert!(b.take(&1, t0).is_ok());
        let wait = b.take(&1, t0).unwrap_err();
        assert!(wait > Duration::from_secs(9) && wait <= Duration::from_secs(10));
        // One token back after the interval; a success gives one back too.
        assert!(b.take(&1, t0 + Duration::from_secs(10)).is_ok());
        b.give_back(&1);
        assert!(b.take(&1, t0 + Duration::from_secs(10)).is_ok());
        // Never more than max_keys remembered: many keys forget the oldest.
        for k in 2..100 {
            assert!(b.take(&k, t0 + Duration::from_secs(11)).is_ok());
        }
        assert!(b.map.lock().unwrap().len() <= 3);
    }

    #[test]
    fn one_ipv6_network_shares_an_allowance() {
        let guard = SignInGuard::new(SignInSettings {
            address_burst: 1,
            address_every: Duration::from_secs(600),
            ..SignInSettings::default()
        });
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(guard.admit(Some(a), "u1").is_ok());
        assert!(guard.admit(Some(b), "u2").is_err());
        assert!(guard.admit(Some(other), "u3").is_ok());
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(guard.admit(Some(v4), "u4").is_ok());
        assert!(guard.admit(Some(mapped), "u5").is_err());
    }

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
