//! What every request handler shares: [`AppState`] (the pool of storage connections, the admin
//! and metrics tokens' hashes, the clock, the form catalog, the metrics and the readiness
//! checks), the [`Store`] every storage backend is, the
//! [`Clock`], and the helpers that lease a storage connection off the async threads, alone or
//! under a site's sync lock.

use crate::error::ApiError;
use crate::forms::Forms;
use crate::ops::{Check, NotReady};
use crate::ops::{Metrics, Readiness};
use crate::projection::{ProjectionWake, Workers};
use crate::repository::HubPool;
use crate::repository::{RepoError, Repository, WardStaff};
use crate::secret;
use axum::http::{HeaderMap, header};
use std::sync::Arc;
use wardcrf_core::repository::{Hub, HubStorage};

/// A storage backend the server runs on: the core's sync storage and the repository's own
/// tables (with its staff on devices), movable to the blocking threads. Every
/// `HubStorage + Repository + WardStaff + Send + 'static` type is one.
pub trait Store: HubStorage + Repository + WardStaff + Send + 'static {}

impl<T: HubStorage + Repository + WardStaff + Send + 'static> Store for T {}

/// How long an enrolment code stays valid.
pub const CODE_VALIDITY_SECS: u64 = 24 * 60 * 60;

/// The current time in unix seconds; injectable so tests can move it.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// What the handlers share: the storage connections (each with its hub), the admin token's
/// hash, the clock and the form catalog.
pub struct AppState<S: HubStorage + Repository> {
    pub(crate) hub: Arc<HubPool<S>>,
    admin_token_sha256: [u8; 32],
    /// Who may read `/metrics` (none: nobody).
    metrics_token_sha256: Option<[u8; 32]>,
    clock: Clock,
    /// The forms cases are checked against for data-quality flags.
    pub(crate) forms: Arc<Forms>,
    /// This process's counters, gauges and histograms (`GET /metrics`).
    pub(crate) metrics: Arc<Metrics>,
    /// The checks of `GET /readyz`.
    pub(crate) readiness: Arc<Readiness<S>>,
    /// Wakes this process's projection workers after an exchange stored cases.
    projections: Arc<ProjectionWake>,
}

impl<S: HubStorage + Repository> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            hub: self.hub.clone(),
            admin_token_sha256: self.admin_token_sha256,
            metrics_token_sha256: self.metrics_token_sha256,
            clock: self.clock.clone(),
            forms: self.forms.clone(),
            metrics: self.metrics.clone(),
            readiness: self.readiness.clone(),
            projections: self.projections.clone(),
        }
    }
}

impl<S: HubStorage + Repository> std::fmt::Debug for AppState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl<S: Store> AppState<S> {
    /// Over one storage connection (tests; requests then take turns).
    pub fn new(storage: S, admin_token: &str, clock: Clock) -> Self {
        Self::with_pool(HubPool::single(storage), admin_token, clock)
    }

    /// Over a pool of storage connections (the server: concurrent requests, reconnection).
    pub fn with_pool(pool: HubPool<S>, admin_token: &str, clock: Clock) -> Self {
        Self::with_admin_hash(pool, secret::sha256(admin_token), clock)
    }

    /// Over a pool of storage connections, accepting the admin token whose SHA-256 is given
    /// (the one every server of the repository shares: [`secret::shared_admin_token`]).
    pub fn with_admin_hash(pool: HubPool<S>, admin_token_sha256: [u8; 32], clock: Clock) -> Self {
        AppState {
            hub: Arc::new(pool),
            admin_token_sha256,
            metrics_token_sha256: None,
            clock,
            forms: Arc::new(Forms::bundled()),
            metrics: Arc::new(Metrics::new()),
            readiness: Arc::new(queue_checked(Readiness::default())),
            projections: Arc::new(ProjectionWake::default()),
        }
    }

    /// Lets the holder of `token` read `GET /metrics` (see [`crate::ops::metrics`]).
    pub fn with_metrics_token(mut self, token: &str) -> Self {
        self.metrics_token_sha256 = Some(secret::sha256(token));
        self
    }

    /// This process's metrics (e.g. to set the projection queue's gauges).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The checks of `GET /readyz`, to add further ones to ([`Readiness::add`]).
    pub fn readiness(&self) -> &Arc<Readiness<S>> {
        &self.readiness
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Queues every stored case whose projection is missing or older than its document
    /// (stored by a server version older than projections, or left by a crash); returns how
    /// many. Run once at start; the workers (or [`AppState::drain_projections`]) project them.
    pub fn backfill_projections(&self) -> Result<usize, RepoError> {
        crate::projection::backfill(&self.hub, self.now())
    }

    /// Starts `n` projection workers in this process (the server: 1 on SQLite, whose writes
    /// are serialised anyway; more on PostgreSQL). They stop when the handle is stopped or
    /// dropped.
    pub fn start_projection_workers(&self, n: usize) -> Workers {
        crate::projection::start_workers(
            self.hub.clone(),
            self.forms.clone(),
            self.clock.clone(),
            self.projections.clone(),
            n,
        )
    }

    /// Projects every case queued now, here and synchronously (tests, and before the demo
    /// is shown); cases a worker holds at this moment are left to it, cases that cannot be
    /// projected are left aside. Returns how many were taken. Blocks.
    pub fn drain_projections(&self) -> Result<usize, RepoError> {
        crate::projection::drain(&self.hub, &self.forms, self.now())
    }

    /// How far the projections trail the stored documents now. Blocks.
    pub fn projection_backlog(&self) -> Result<crate::repository::ProjectionBacklog, RepoError> {
        let mut hub = self.hub.lease()?;
        hub.storage.projection_backlog(self.now())
    }

    /// Cases were queued for projection: wake this process's workers.
    pub(crate) fn wake_projections(&self) {
        self.projections.notify();
    }

    /// Runs `f` on the hub off the async threads (SQLite blocks).
    pub(crate) async fn with_hub<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Hub<S>) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.hub.clone();
        blocking(move || {
            let mut hub = pool.lease()?;
            f(&mut hub)
        })
        .await?
    }

    pub(crate) fn check_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        check_token(headers, Some(&self.admin_token_sha256))
    }

    /// Whether the request carries the metrics token (the admin token does not do).
    pub(crate) fn check_metrics(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        check_token(headers, self.metrics_token_sha256.as_ref())
    }
}

/// Whether the bearer token of `headers` has the hash `expected` (none: never).
fn check_token(headers: &HeaderMap, expected: Option<&[u8; 32]>) -> Result<(), ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    match expected {
        Some(hash) if secret::same_hash(&secret::sha256(token), hash) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// How long the oldest case may wait for its projection before the queue counts as stuck
/// (`GET /readyz` then fails with `projection_queue_stuck`): far beyond the lag of a
/// shift-change storm (seconds), so it means that no worker is draining the queue.
pub const PROJECTION_STUCK_SECS: u64 = 15 * 60;

/// `readiness` with the projection queue's check: the oldest queued case has waited less than
/// [`PROJECTION_STUCK_SECS`].
fn queue_checked<S: Store>(readiness: Readiness<S>) -> Readiness<S> {
    readiness.add(Check::new("projection_queue", |hub: &mut Hub<S>, now| {
        let backlog = hub
            .storage
            .projection_backlog(now)
            .map_err(|_| NotReady::DATABASE_UNREACHABLE)?;
        if backlog.oldest_age_secs > PROJECTION_STUCK_SECS {
            Err(NotReady::new("projection_queue_stuck"))
        } else {
            Ok(())
        }
    }));
    readiness
}

/// Runs `f` on the blocking threads (storage, merging, serialising large bodies).
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))
}

/// Runs `f` on a leased hub while holding `site`'s sync lock of this process: one exchange
/// (or repository edit) per site at a time in this process, other sites go on meanwhile. The
/// lock only saves work; the writes `f` makes must be compare-and-sets, which keep the data
/// right when other processes write the same site (see [`crate::repository::pool`]). Blocks:
/// call it on the blocking threads.
pub(crate) fn under_site_lock<S: Store, T>(
    pool: &HubPool<S>,
    site: &str,
    f: impl FnOnce(&mut Hub<S>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let site_lock = pool.site_lock(site);
    let _site = site_lock.lock().unwrap_or_else(|p| p.into_inner());
    let mut hub = pool.lease()?;
    f(&mut hub)
}

/// The bearer token of a request's `Authorization` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}
