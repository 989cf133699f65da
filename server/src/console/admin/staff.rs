//! Staff users (`/admin/staff`): the list with lock and enable/disable actions, the form that
//! adds one; and `POST /api/admin/staff`, which adds one for the admin token.

use super::{AdminPage, posted, run, show};
use crate::console::auth::csrf;
use crate::console::html::{Col, esc, notice, table_start, url};
use crate::console::i18n::M;
use crate::console::{ConsoleError, Role, Staff, StaffError, add_staff_user};
use crate::error::ApiError;
use crate::state::AppState;
use crate::state::Store;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FormRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;
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
    password: String,
}

fn staff_error_text(e: &StaffError, lang: Lang) -> Option<&'static str> {
    Some(match e {
        StaffError::BadUsername => M::BadUsername.get(lang),
        StaffError::BadRole => M::BadRequest.get(lang),
        StaffError::SiteMismatch => M::NurseNeedsSite.get(lang),
        StaffError::UnknownSite => M::UnknownSite.get(lang),
        StaffError::Exists => M::StaffExists.get(lang),
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
pub async fn api_add_staff<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: NewStaff = match admin_json(&state, &headers, body) {
        Ok(req) => req,
        Err(refused) => return *refused,
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
            e @ (StaffError::Password(crate::console::PasswordError::Random(_))
            | StaffError::Repo(_)),
        )) => ApiError::Internal(e.to_string()).into_response(),
        Ok(Err(e)) => json_error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
        Err(e) => e.into_response(),
    }
}

/// The JSON body of an admin-token request, or the answer that refuses it (the admin token is
/// checked first).
fn admin_json<S: Store, T: serde::de::DeserializeOwned>(
    state: &AppState<S>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Box<Response>> {
    let refuse = |r: Response| Box::new(r);
    state
        .check_admin(headers)
        .map_err(|e| refuse(e.into_response()))?;
    let bytes = body.map_err(|_| {
        refuse(json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request body could not be read",
        ))
    })?;
    // serde_json names the key or position, never a value.
    serde_json::from_slice(&bytes).map_err(|e| {
        refuse(json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("the request is not valid JSON for this endpoint: {e}"),
        ))
    })
}

/// The answer for a staff user name the repository does not know.
fn unknown_staff() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "unknown_staff",
        "no staff user with this name",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

/// `PUT /api/admin/staff/{username}/password` (admin token): gives a staff user a new password
/// (a forgotten one). The user's failed sign-ins and any lock-out are cleared and their console
/// sessions end; the password is hashed before a database connection is taken.
pub async fn api_reset_password<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: NewPassword = match admin_json(&state, &headers, body) {
        Ok(req) => req,
        Err(refused) => return *refused,
    };
    let hashed = tokio::task::spawn_blocking(move || {
        crate::console::hash_password(&req.password, crate::console::PBKDF2_ITERATIONS)
    })
    .await;
    let hash = match hashed {
        Ok(Ok(hash)) => hash,
        Ok(Err(e @ crate::console::PasswordError::Length)) => {
            return json_error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string());
        }
        Ok(Err(e)) => return ApiError::Internal(e.to_string()).into_response(),
        Err(e) => return ApiError::Internal(format!("worker failed: {e}")).into_response(),
    };
    let name = username.clone();
    match state
        .with_hub(move |hub| Ok(hub.storage.set_staff_password(&name, &hash)?))
        .await
    {
        Ok(true) => {
            tracing::info!(target: "wardcrf::staff", user = %username, "staff password reset");
            Json(json!({"username": username})).into_response()
        }
        Ok(false) => unknown_staff(),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/admin/staff/{username}/unlock` (admin token): lifts a staff user's lock-out and
/// clears their failed sign-ins, before the lock would run out.
pub async fn api_unlock<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    if let Err(e) = state.check_admin(&headers) {
        return e.into_response();
    }
    let name = username.clone();
    let unlocked = state
        .with_hub(move |hub| {
            if hub.storage.staff_user(&name)?.is_none() {
                return Ok(false);
            }
            hub.storage.record_login_success(&name)?;
            Ok(true)
        })
        .await;
    match unlocked {
        Ok(true) => {
            tracing::info!(target: "wardcrf::staff", user = %username, "staff lock-out lifted");
            Json(json!({"username": username})).into_response()
        }
        Ok(false) => unknown_staff(),
        Err(e) => e.into_response(),
    }
}

posted_forms!(StaffForm, EnabledForm);
