//! The router of the whole API (`docs/http-api.md`) and the console, and what every request
//! goes through before its handler: the admin token and the body limits checked before any
//! body is read (the bodies themselves: [`crate::body`]), and the matched route named in the
//! request's log span and timed in the HTTP latency histogram ([`crate::ops::metrics`]).

use crate::api;
use crate::body::{FORM_BODY, MAX_BODY, announced_length};
use crate::error::ApiError;
use crate::state::{AppState, Store};
use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use wardcrf_core::staff::{ROSTER_PATH, SIGN_IN_PATH};

/// The router of the whole API, with the default allowance of sign-in attempts.
pub fn router<S: Store>(state: AppState<S>) -> Router {
    router_with(state, Arc::new(crate::console::SignInGuard::default()))
}

/// The router of the whole API, throttling sign-ins with `sign_in`.
pub fn router_with<S: Store>(
    state: AppState<S>,
    sign_in: Arc<crate::console::SignInGuard>,
) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/healthz", get(crate::ops::health::healthz))
        .route("/readyz", get(crate::ops::health::readyz::<S>))
        .route("/metrics", get(crate::ops::metrics::metrics::<S>))
        .route(
            "/api/admin/sites",
            post(api::admin::create_site::<S>).get(api::admin::list_sites::<S>),
        )
        .route(
            "/api/admin/enroll-codes",
            post(api::admin::create_code::<S>),
        )
        .route("/api/admin/devices", get(api::admin::list_devices::<S>))
        .route(
            "/api/admin/devices/{device_id}/revoke",
            post(api::admin::revoke_device::<S>),
        )
        .route(
            "/api/admin/devices/{device_id}/recovery-key",
            get(api::admin::recovery_key::<S>),
        )
        .route(
            "/api/admin/sites/{site_id}/settings",
            put(api::admin::set_site_settings::<S>),
        )
        .route("/api/cases", get(api::cases::list_cases::<S>))
        .route("/api/cases/{case_id}", get(api::cases::get_case::<S>))
        .route(
            "/api/cases/{case_id}/history",
            get(api::cases::get_case_history::<S>),
        )
        .route("/api/exports/{format}", get(api::export::get_export::<S>))
        .route("/api/enroll", post(api::enroll::enroll::<S>))
        .route("/api/sync", post(api::sync::sync::<S>))
        .route(SIGN_IN_PATH, post(api::staff::sign_in::<S>))
        .route(ROSTER_PATH, get(api::staff::roster::<S>))
        // Console forms are small: an anonymous sign-in cannot make the server hold 32 MiB.
        .merge(
            crate::console::routes::<S>()
                .layer(DefaultBodyLimit::max(FORM_BODY))
                .layer(axum::middleware::from_fn(form_size_first)),
        )
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin_token_first::<S>,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            name_the_route::<S>,
        ))
        .layer(axum::Extension(sign_in))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Records the matched route (`/api/cases/{case_id}`: the template, never the ids or the
/// query) in the request's span of the accept loop ([`crate::serve`]), and the time to the
/// answer's head under that template in the metrics; a request no route matches leaves the
/// span's route empty and is timed as `unmatched`.
async fn name_the_route<S: Store>(
    State(state): State<AppState<S>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|r| r.as_str().to_string());
    if let Some(route) = &route {
        tracing::Span::current().record("route", route.as_str());
    }
    let method = request.method().clone();
    let response = next.run(request).await;
    state.metrics.http_request(
        route.as_deref(),
        &method,
        response.status(),
        started.elapsed(),
    );
    response
}

/// A console request announcing a body larger than [`FORM_BODY`] is refused (413) unread.
async fn form_size_first(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if announced_length(request.headers()).is_some_and(|n| n > FORM_BODY as u64) {
        return ApiError::TooLarge(FORM_BODY).into_response();
    }
    next.run(request).await
}

/// Every `/api/admin/` request is refused (401) unless it carries the admin token, before its
/// handler runs and so before any of its body is read.
async fn admin_token_first<S: Store>(
    State(state): State<AppState<S>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.uri().path().starts_with("/api/admin/")
        && let Err(e) = state.check_admin(request.headers())
    {
        return e.into_response();
    }
    next.run(request).await
}
