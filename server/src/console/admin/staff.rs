//! Staff users (`/admin/staff`): the list (user name, display name, role, site, status) with
//! its actions (deactivate or reactivate, unlock, reset the password: a reset raises the
//! user's credential epoch, so each tablet asks for an online sign-in), and the form that adds
//! one. The admin-token API is `staff_api.rs`.

use super::{AdminPage, posted, run, show};
use crate::console::auth::csrf;
use crate::console::html::{Col, esc, notice, table_start, url};
use crate::console::i18n::M;
use crate::console::{ConsoleError, NewStaffUser, Role, Staff, StaffError, add_staff_user};
use crate::error::ApiError;
use crate::repository::StaffRecord;
use crate::state::AppState;
use crate::state::Store;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::fmt::Write;
use wardcrf_core::Lang;

// ---------------------------------------------------------------------------------------
// Staff users

/// The staff users, their actions and the form that adds one, below `message`.
pub(super) async fn staff_body<S: Store>(
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
            Col::Text(M::DisplayName.get(lang)),
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
        let action = user_actions(staff, u, now, lang);
        let _ = write!(
            b,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            esc(&u.username),
            esc(u.printed_name()),
            esc(role),
            esc(u.site_id.as_deref().unwrap_or("—")),
            esc(&state_text),
            action
        );
    }
    let roles = [
        Role::Clinician,
        Role::SiteNurse,
        Role::DataManager,
        Role::Admin,
    ];
    let _ = write!(
        b,
        "</tbody></table></div><form class=\"panel\" method=\"post\" action=\"/admin/staff\">{}\
         <h2>{}</h2><label for=\"username\">{}</label>\
         <input id=\"username\" name=\"username\" required maxlength=\"64\" autocomplete=\"off\" \
         autocapitalize=\"none\" spellcheck=\"false\">\
         <label for=\"display_name\">{}</label>\
         <input id=\"display_name\" name=\"display_name\" maxlength=\"200\" autocomplete=\"off\">\
         <label for=\"role\">{}</label><select id=\"role\" name=\"role\">",
        csrf(staff),
        M::AddStaff.get(lang),
        M::Username.get(lang),
        M::DisplayName.get(lang),
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

/// The actions on one staff user: deactivate or reactivate (never oneself), unlock (when
/// locked out) and reset the password.
fn user_actions(staff: &Staff, u: &StaffRecord, now: u64, lang: Lang) -> String {
    let mut out = String::new();
    let mut form = |path: &str, fields: &str, label: M| {
        let _ = write!(
            out,
            "<form class=\"inline\" method=\"post\" action=\"/admin/staff/{}/{path}\">{}{fields}\
             <button type=\"submit\" aria-label=\"{} {}\">{}</button></form>",
            url(&u.username),
            csrf(staff),
            label.get(lang),
            esc(&u.username),
            label.get(lang)
        );
    };
    if u.username != staff.username {
        let (to, label) = if u.disabled {
            ("true", M::Enable)
        } else {
            ("false", M::Disable)
        };
        let field = format!("<input type=\"hidden\" name=\"enabled\" value=\"{to}\">");
        form("enabled", &field, label);
    }
    if u.locked_until.is_some_and(|t| t > now) {
        form("unlock", "", M::Unlock);
    }
    let field = format!(
        "<input name=\"password\" type=\"password\" required minlength=\"10\" \
         maxlength=\"1024\" autocomplete=\"new-password\" aria-label=\"{} {}\">",
        M::NewPassword.get(lang),
        esc(&u.username)
    );
    form("password", &field, M::ResetPassword);
    out
}

pub async fn staff<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap) -> Response {
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
    display_name: String,
    #[serde(default)]
    password: String,
}

fn staff_error_text(e: &StaffError, lang: Lang) -> Option<&'static str> {
    Some(match e {
        StaffError::BadUsername => M::BadUsername.get(lang),
        StaffError::BadRole => M::BadRequest.get(lang),
        StaffError::SiteMismatch => M::NurseNeedsSite.get(lang),
        StaffError::UnknownSite => M::UnknownSite.get(lang),
        StaffError::Exists => M::StaffExists.get(lang),
        StaffError::BadDisplayName => M::BadDisplayName.get(lang),
        StaffError::Password(crate::console::PasswordError::Length) => M::BadPassword.get(lang),
        StaffError::Password(_) | StaffError::Repo(_) => return None,
    })
}

pub async fn add_staff<S: Store>(
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
                    let new = NewStaffUser {
                        username: &form.username,
                        role: &form.role,
                        site,
                        display_name: Some(&form.display_name),
                        password: &form.password,
                    };
                    Ok(add_staff_user(&mut hub.storage, new, now))
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

pub async fn set_enabled<S: Store>(
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

#[derive(Deserialize)]
pub struct UnlockForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/staff/{username}/unlock`: lifts a lock-out and clears the failed sign-ins.
pub async fn unlock<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    form: Result<Form<UnlockForm>, FormRejection>,
) -> Response {
    run(
        &state.clone(),
        &headers,
        "/admin/staff",
        |staff, lang| async move {
            posted(form, &staff, lang)?;
            let name = username.clone();
            let found = state
                .with_hub(move |hub| {
                    if hub.storage.staff_user(&name)?.is_none() {
                        return Ok(false);
                    }
                    hub.storage.record_login_success(&name)?;
                    Ok(true)
                })
                .await?;
            if !found {
                return Err(ConsoleError::NotFound);
            }
            tracing::info!(target: "wardcrf::staff", user = %username, by = %staff.username, "staff lock-out lifted");
            let m = notice("ok", M::Unlocked.get(lang));
            AdminPage::Staff
                .render(&state, &staff, lang, m, StatusCode::OK)
                .await
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// `POST /admin/staff/{username}/password`: gives a staff user a new password (hashed off
/// the async threads before a connection is taken); clears a lock-out, ends their console
/// sessions and raises their credential epoch.
pub async fn reset_password<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    run(
        &state.clone(),
        &headers,
        "/admin/staff",
        |staff, lang| async move {
            let form = posted(form, &staff, lang)?;
            let hashed = crate::state::blocking(move || {
                crate::console::hash_password(&form.password, crate::console::PBKDF2_ITERATIONS)
            })
            .await?;
            let hash = match hashed {
                Ok(hash) => hash,
                Err(crate::console::PasswordError::Length) => {
                    let m = notice("error", M::BadPassword.get(lang));
                    return AdminPage::Staff
                        .render(&state, &staff, lang, m, StatusCode::BAD_REQUEST)
                        .await;
                }
                Err(e) => return Err(ApiError::Internal(e.to_string()).into()),
            };
            let name = username.clone();
            let found = state
                .with_hub(move |hub| Ok(hub.storage.set_staff_password(&name, &hash)?))
                .await?;
            if !found {
                return Err(ConsoleError::NotFound);
            }
            tracing::info!(target: "wardcrf::staff", user = %username, by = %staff.username, "staff password reset");
            let m = notice("ok", M::PasswordWasReset.get(lang));
            AdminPage::Staff
                .render(&state, &staff, lang, m, StatusCode::OK)
                .await
        },
    )
    .await
}

posted_forms!(StaffForm, EnabledForm, UnlockForm, PasswordForm);
