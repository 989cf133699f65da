//! Devices (`/admin/devices`: the list, revocation) and enrolment codes
//! (`/admin/enrolment`: a new code shown as text and as a QR code).

use super::{AdminPage, posted, run, show};
use crate::console::auth::csrf;
use crate::console::html::{Col, Page, TABLE_END, esc, notice, table_start, url};
use crate::console::i18n::M;
use crate::console::{ConsoleError, ConsoleSettings, Staff};
use crate::error::ApiError;
use crate::repository::RepoError;
use crate::secret;
use crate::state::Store;
use crate::state::{AppState, CODE_VALIDITY_SECS};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use std::fmt::Write;
use wardcrf_core::sync::EnrolPayload;
use wardcrf_core::{Lang, Timestamp};

// ---------------------------------------------------------------------------------------
// Devices

pub async fn devices<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap) -> Response {
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

pub async fn revoke<S: Store>(
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
pub(super) async fn enrolment_body<S: Store>(
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

pub async fn enrolment<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap) -> Response {
    show(state, headers, AdminPage::Enrolment).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    site: String,
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

/// The enrolment QR code of a payload (`wardcrf://enroll?v=1&server=…&code=…&pin=…`, see
/// [`EnrolPayload`]) as an SVG image.
fn qr_svg(content: &str) -> Option<String> {
    let code = qrcode::QrCode::new(content.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
    )
}

/// What the enrolment QR code carries: the address, the code and, over HTTPS, the
/// certificate fingerprint to pin (over plain HTTP there is no certificate to pin).
fn enrol_payload(server: &str, code: &str, settings: &ConsoleSettings) -> EnrolPayload {
    EnrolPayload {
        server: server.to_string(),
        code: code.to_string(),
        pin: settings
            .enrol_pin
            .filter(|_| server.starts_with("https://")),
    }
}

pub async fn new_code<S: Store>(
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
        let payload = enrol_payload(&server, &code, &settings);
        let (pin, content) = (payload.pin, payload.to_uri());
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
             <p>{}</p><pre><code>wardcrf device enroll --store DIR --server {} --code {code}</code></pre>\
             <p>{}</p><pre><code id=\"enrol-uri\">{}</code></pre>{}</section>",
            M::CodeFor.get(lang),
            esc(&form.site),
            M::CodeExpires.get(lang),
            Timestamp::from_unsigned(expires_at).minutes_utc(),
            M::CodeHelp.get(lang),
            esc(&server),
            M::EnrolUriHelp.get(lang),
            esc(&content),
            pin.map(|p| format!(
                "<p>{} <code id=\"enrol-pin\">{p}</code></p>",
                M::EnrolPin.get(lang)
            ))
            .unwrap_or_default(),
        );
        AdminPage::Enrolment.render(&state, &staff, lang, shown, StatusCode::CREATED).await
    })
    .await
}

posted_forms!(CsrfForm, CodeForm);

#[cfg(test)]
mod tests {
    use super::*;
    use wardcrf_core::sync::CertPin;

    #[test]
    fn the_qr_payload_pins_the_advertised_certificate_over_https_only() {
        let pin = CertPin::of_der(b"the hospital CA");
        let settings = ConsoleSettings {
            secure_cookies: true,
            enrol_pin: Some(pin),
            ..Default::default()
        };
        let p = enrol_payload("https://crf.example.org", "abcd2345", &settings);
        assert_eq!(p.pin, Some(pin));
        assert_eq!(EnrolPayload::parse(&p.to_uri()), Ok(p));
        let p = enrol_payload("http://127.0.0.1:8080", "abcd2345", &settings);
        assert_eq!(p.pin, None);
        assert!(!p.to_uri().contains("pin="));
    }
}
