//! `GET /metrics`: the process's counters, gauges and latency histograms in the Prometheus
//! text format (version 0.0.4), kept in one [`Metrics`] registry shared through `AppState`.
//!
//! What is counted: sync exchanges by outcome and their duration, HTTP request durations by
//! route template (`/api/cases/{case_id}`, never a path carrying ids), method and status
//! class, cases pushed and pulled, bytes of sync bodies in and out, refused exchanges by a
//! closed set of reasons ([`Refusal`]), the storage pool's connections, the projection queue
//! (set by whoever drains it: [`Metrics::set_projection_backlog`]) and the build.
//! No label ever carries a patient value, a case, site or device id, a user name or a token.
//!
//! Who may read it: whoever holds the metrics token, sent as `Authorization: Bearer ...`
//! (Prometheus: `authorization: {credentials_file: ...}`). The token is its own, in
//! `DATA/metrics-token` (0600, written at first start) or the file `--metrics-token-file`
//! names, so that the monitoring system never holds the admin token, and several instances
//! can share one. Without a token (a router built without one) `/metrics` always answers 401.
//! Loopback alone is not trusted: a TLS-terminating proxy on the same host connects from
//! loopback on behalf of anyone.

use crate::error::ApiError;
use crate::repository::{PoolUsage, RepoError};
use crate::state::{AppState, Store};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wardcrf_core::repository::HubError;

/// The metrics token's file name inside the data directory.
pub const METRICS_TOKEN_FILE: &str = "metrics-token";

/// How a sync exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered 200.
    Ok,
    /// Refused as the device's fault (4xx).
    Refused,
    /// Failed on the repository's side, or the device must sync again (5xx).
    Failed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// Why an exchange was refused or failed: a closed set derived from the typed errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No device token, or an unknown one.
    Unauthorized,
    /// The device was revoked.
    Revoked,
    /// The request could not be read (encoding, protocol, case ids, duplicates).
    BadRequest,
    /// A case's document was refused.
    BadCase,
    /// A case of another site (answered to the device as `bad_case`).
    OtherSite,
    /// Changes under an identity the device may not write.
    ForeignActor,
    /// Identifying data from a site that keeps it on its devices.
    Identifying,
    /// A change names someone who is not staff of the site.
    NotSiteStaff,
    /// The body, or the push, is over a limit.
    TooLarge,
    /// The body did not arrive in time.
    BodyTimeout,
    /// A case changed during the exchange; the device syncs again.
    Changed,
    /// The repository's storage failed.
    Storage,
    /// Anything else.
    Other,
}

impl Refusal {
    /// Every reason: each series is shown from the start, at 0.
    pub const ALL: [Refusal; 13] = [
        Refusal::Unauthorized,
        Refusal::Revoked,
        Refusal::BadRequest,
        Refusal::BadCase,
        Refusal::OtherSite,
        Refusal::ForeignActor,
        Refusal::Identifying,
        Refusal::NotSiteStaff,
        Refusal::TooLarge,
        Refusal::BodyTimeout,
        Refusal::Changed,
        Refusal::Storage,
        Refusal::Other,
    ];

    /// The reason of `e`.
    pub fn of(e: &ApiError) -> Refusal {
        match e {
            ApiError::Unauthorized => Refusal::Unauthorized,
            ApiError::DeviceRevoked => Refusal::Revoked,
            ApiError::BadRequest(_) => Refusal::BadRequest,
            ApiError::TooLarge(_) => Refusal::TooLarge,
            ApiError::BodyTimeout(_) => Refusal::BodyTimeout,
            ApiError::Internal(_)
            | ApiError::Repo(RepoError::Storage(_) | RepoError::TooNew { .. }) => Refusal::Storage,
            ApiError::Hub(h) => match h {
                HubError::Protocol(_) | HubError::BadCaseId { .. } | HubError::DuplicateCase(_) => {
                    Refusal::BadRequest
                }
                HubError::OtherSite(_) => Refusal::OtherSite,
                HubError::BadCase { .. } => Refusal::BadCase,
                HubError::Changed(_) => Refusal::Changed,
                HubError::TooManyCases { .. } | HubError::TooLarge(_) => Refusal::TooLarge,
                HubError::RepositoryActor(_) | HubError::ForeignActor { .. } => {
                    Refusal::ForeignActor
                }
                HubError::Identifying { .. } => Refusal::Identifying,
                HubError::NotSiteStaff { .. } => Refusal::NotSiteStaff,
                HubError::Storage(_) => Refusal::Storage,
            },
            _ => Refusal::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::Revoked => "revoked",
            Refusal::BadRequest => "bad_request",
            Refusal::BadCase => "bad_case",
            Refusal::OtherSite => "other_site",
            Refusal::ForeignActor => "foreign_actor",
            Refusal::Identifying => "identifying",
            Refusal::NotSiteStaff => "not_site_staff",
            Refusal::TooLarge => "too_large",
            Refusal::BodyTimeout => "body_timeout",
            Refusal::Changed => "changed",
            Refusal::Storage => "storage",
            Refusal::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    /// The router's template, or `unmatched`.
    route: String,
    method: &'static str,
    /// `2xx`, `4xx`, ...
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds from 1 ms to about 33 s, doubling.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The registry of one process and the handles to its metrics; see the module documentation.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    exchanges: Family<OutcomeLabels, Counter>,
    exchange_seconds: Histogram,
    http_seconds: HistogramFamily<HttpLabels>,
    pushed: Counter,
    pulled: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    refusals: Family<ReasonLabels, Counter>,
    pool_in_use: Gauge,
    pool_open: Gauge,
    pool_max: Gauge,
    queue_depth: Gauge,
    queue_oldest: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let exchanges = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "wardcrf_sync_exchanges",
            "Sync exchanges answered, by outcome (ok, refused, failed)",
            exchanges.clone(),
        );
        let exchange_seconds = seconds_histogram();
        registry.register(
            "wardcrf_sync_exchange_duration_seconds",
            "Duration of sync exchanges, from the request to the answer's head",
            exchange_seconds.clone(),
        );
        let http_seconds: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(seconds_histogram);
        registry.register(
            "wardcrf_http_request_duration_seconds",
            "Duration of HTTP requests to the answer's head, by route template, method and status class",
            http_seconds.clone(),
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let pushed = counter(
            &mut registry,
            "wardcrf_sync_cases_pushed",
            "Cases devices pushed in exchanges answered ok",
        );
        let pulled = counter(
            &mut registry,
            "wardcrf_sync_cases_pulled",
            "Cases sent to devices in exchanges answered ok",
        );
        let bytes_in = counter(
            &mut registry,
            "wardcrf_sync_received_bytes",
            "Bytes of sync request bodies as received (compressed when sent so)",
        );
        let bytes_out = counter(
            &mut registry,
            "wardcrf_sync_sent_bytes",
            "Bytes of sync answer bodies as sent (compressed when sent so)",
        );
        let refusals = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "wardcrf_sync_refusals",
            "Sync exchanges refused or failed, by reason",
            refusals.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let pool_in_use = gauge(
            &mut registry,
            "wardcrf_db_pool_connections_in_use",
            "Database connections leased by a request now",
        );
        let pool_open = gauge(
            &mut registry,
            "wardcrf_db_pool_connections_open",
            "Database connections open now, in use or idle",
        );
        let pool_max = gauge(
            &mut registry,
            "wardcrf_db_pool_connections_max",
            "Database connections this process opens at most (--connections)",
        );
        let queue_depth = gauge(
            &mut registry,
            "wardcrf_projection_queue_depth",
            "Stored cases awaiting their projection and data-quality flags",
        );
        let queue_oldest = gauge(
            &mut registry,
            "wardcrf_projection_queue_oldest_seconds",
            "Age of the oldest case awaiting its projection, in seconds",
        );
        registry.register(
            "wardcrf_build",
            "The wardcrf-server version of this process",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        // Every series of a closed set from the start (at 0), so that a rate is never missing.
        for outcome in [Outcome::Ok, Outcome::Refused, Outcome::Failed] {
            let _ = exchanges.get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            });
        }
        for refusal in Refusal::ALL {
            let _ = refusals.get_or_create(&ReasonLabels {
                reason: refusal.label(),
            });
        }
        Metrics {
            registry,
            exchanges,
            exchange_seconds,
            http_seconds,
            pushed,
            pulled,
            bytes_in,
            bytes_out,
            refusals,
            pool_in_use,
            pool_open,
            pool_max,
            queue_depth,
            queue_oldest,
        }
    }

    /// One exchange answered ok: its cases and bytes.
    pub fn exchange_ok(&self, took: Duration, pushed: u64, pulled: u64, bytes: (u64, u64)) {
        self.exchange(Outcome::Ok, took);
        self.pushed.inc_by(pushed);
        self.pulled.inc_by(pulled);
        self.bytes_in.inc_by(bytes.0);
        self.bytes_out.inc_by(bytes.1);
    }

    /// One exchange refused or failed with `e`.
    pub fn exchange_refused(&self, took: Duration, e: &ApiError) {
        let outcome = if e.status_and_code().0.is_server_error() {
            Outcome::Failed
        } else {
            Outcome::Refused
        };
        self.exchange(outcome, took);
        self.refusals
            .get_or_create(&ReasonLabels {
                reason: Refusal::of(e).label(),
            })
            .inc();
    }

    fn exchange(&self, outcome: Outcome, took: Duration) {
        self.exchanges
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
        self.exchange_seconds.observe(took.as_secs_f64());
    }

    /// One HTTP request answered: `route` is the router's template (`None`: no route matched).
    pub fn http_request(
        &self,
        route: Option<&str>,
        method: &axum::http::Method,
        status: StatusCode,
        took: Duration,
    ) {
        let method = match *method {
            axum::http::Method::GET => "GET",
            axum::http::Method::POST => "POST",
            axum::http::Method::PUT => "PUT",
            axum::http::Method::DELETE => "DELETE",
            axum::http::Method::HEAD => "HEAD",
            _ => "other",
        };
        let status = match status.as_u16() / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        let labels = HttpLabels {
            route: route.unwrap_or("unmatched").to_string(),
            method,
            status,
        };
        self.http_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The projection queue now: cases awaiting projection and the oldest one's age.
    pub fn set_projection_backlog(&self, pending: u64, oldest_age_secs: u64) {
        self.queue_depth.set(gauge_value(pending));
        self.queue_oldest.set(gauge_value(oldest_age_secs));
    }

    /// Everything, in the Prometheus text format, with the pool's connections as `pool` says.
    pub fn encode(&self, pool: PoolUsage) -> Result<String, std::fmt::Error> {
        let n = |v: usize| gauge_value(u64::try_from(v).unwrap_or(u64::MAX));
        self.pool_in_use.set(n(pool.in_use));
        self.pool_open.set(n(pool.open));
        self.pool_max.set(n(pool.max));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The metrics token: read from `file` when given (it must exist), else from
/// `data/metrics-token`, first writing a random one (0600) there. Returns the file, the token
/// and whether it was just written.
pub fn ensure_metrics_token(
    data: &Path,
    file: Option<&Path>,
) -> io::Result<(PathBuf, String, bool)> {
    let (path, token, created) = match file {
        Some(path) => {
            let token = std::fs::read_to_string(path)?.trim().to_string();
            (path.to_path_buf(), token, false)
        }
        None => {
            let path = data.join(METRICS_TOKEN_FILE);
            let (token, created) = crate::serve::private_file(&path, || {
                crate::secret::new_token().map_err(io::Error::other)
            })?;
            (path, token, created)
        }
    };
    if token.len() < 32 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} holds no usable metrics token (32+ characters); write one, or delete the \
                 default file to get a new one",
                path.display()
            ),
        ));
    }
    Ok((path, token, created))
}

/// `GET /metrics` for the holder of the metrics token.
pub(crate) async fn metrics<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = state.check_metrics(&headers) {
        return e.into_response();
    }
    // The queue's gauges as the database has them now (shared by every instance); left as
    // they were when the database does not answer.
    let now = state.now();
    if let Ok(backlog) = state
        .with_hub(move |hub| Ok(hub.storage.projection_backlog(now)?))
        .await
    {
        state
            .metrics
            .set_projection_backlog(backlog.pending, backlog.oldest_age_secs);
    }
    match state.metrics.encode(state.hub.usage()) {
        Ok(text) => (
            [
                (
                    header::CONTENT_TYPE,
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response(),
        Err(e) => ApiError::Internal(format!("encoding the metrics: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_metric_and_the_counters_move() {
        let m = Metrics::new();
        m.exchange_ok(Duration::from_millis(30), 3, 5, (100, 2000));
        m.exchange_refused(
            Duration::from_millis(1),
            &ApiError::Hub(HubError::OtherSite("c0ffee17".into())),
        );
        m.http_request(
            Some("/api/cases/{case_id}"),
            &axum::http::Method::GET,
            StatusCode::NOT_FOUND,
            Duration::from_millis(2),
        );
        m.set_projection_backlog(7, 42);
        let text = m
            .encode(PoolUsage {
                in_use: 1,
                open: 2,
                max: 8,
            })
            .unwrap();
        for line in [
            "wardcrf_sync_exchanges_total{outcome=\"ok\"} 1",
            "wardcrf_sync_exchanges_total{outcome=\"refused\"} 1",
            "wardcrf_sync_cases_pushed_total 3",
            "wardcrf_sync_cases_pulled_total 5",
            "wardcrf_sync_received_bytes_total 100",
            "wardcrf_sync_sent_bytes_total 2000",
            "wardcrf_sync_refusals_total{reason=\"other_site\"} 1",
            "wardcrf_sync_exchange_duration_seconds_count 2",
            "wardcrf_db_pool_connections_in_use 1",
            "wardcrf_db_pool_connections_open 2",
            "wardcrf_db_pool_connections_max 8",
            "wardcrf_projection_queue_depth 7",
            "wardcrf_projection_queue_oldest_seconds 42",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert!(text.contains(
            "wardcrf_http_request_duration_seconds_count{route=\"/api/cases/{case_id}\",method=\"GET\",status=\"4xx\"} 1"
        ), "{text}");
        assert!(
            text.contains(&format!(
                "wardcrf_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        // The case id of the refused push is nowhere.
        assert!(!text.contains("c0ffee17"), "{text}");
    }
}
