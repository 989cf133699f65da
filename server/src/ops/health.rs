//! Liveness and readiness of one server process.
//!
//! `GET /healthz` says the process answers: it touches no database and needs no token, so a
//! supervisor restarts only a process that no longer serves at all.
//!
//! `GET /readyz` says whether this process should be sent requests now ([`Readiness`]): a
//! pooled connection must answer a trivial query within a short deadline, the database must
//! be at the schema this binary knows, the SQLite file must still be the one the server
//! opened, and every further [`Check`] added with [`Readiness::add`] must pass on the same
//! connection. A failing answer is 503 with a short snake_case reason (never a connection
//! string, path or error text). Nothing is cached: the answer turns 200 again by itself once
//! the database is back, because the pool replaces the connections the database closed.
//! One probe runs at a time, so probes of a hung database never pile up blocked threads.

use crate::repository::HubPool;
use crate::state::{AppState, Store};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use wardcrf_core::repository::{Hub, HubStorage};

/// How long a readiness probe may take, from the request to the last check's answer.
pub const READY_DEADLINE: Duration = Duration::from_secs(2);

/// Why this process is not ready: a short snake_case reason of a closed set, safe to show to
/// anyone (no path, address, id or error text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not ready: {reason}")]
pub struct NotReady {
    pub reason: &'static str,
}

impl NotReady {
    /// No connection to the database could be had, or it did not answer the query.
    pub const DATABASE_UNREACHABLE: NotReady = NotReady::new("database_unreachable");
    /// The checks did not answer within the deadline (a hung database, or every connection
    /// busy for longer than the deadline).
    pub const TIMEOUT: NotReady = NotReady::new("timeout");
    /// The SQLite file was removed or replaced under the running server.
    pub const DATABASE_FILE_MISSING: NotReady = NotReady::new("database_file_missing");
    /// The database is at another schema version than this binary knows (migrated by a newer
    /// server, or an older database put in its place).
    pub const SCHEMA_MISMATCH: NotReady = NotReady::new("schema_mismatch");
    /// A check stopped half-way (a bug): reported rather than hidden.
    pub const CHECK_FAILED: NotReady = NotReady::new("check_failed");

    /// A reason of a further check: snake_case, from a closed set of the check's own.
    pub const fn new(reason: &'static str) -> NotReady {
        NotReady { reason }
    }
}

/// What a further check runs: on the connection the database check used, at `now` (unix
/// seconds); blocking is allowed (it runs off the async threads, within the deadline).
pub type CheckFn<S> = dyn Fn(&mut Hub<S>, u64) -> Result<(), NotReady> + Send + Sync;

/// One named readiness check run after the database check (e.g. "projection_queue").
pub struct Check<S: HubStorage> {
    name: &'static str,
    run: Box<CheckFn<S>>,
}

impl<S: HubStorage> std::fmt::Debug for Check<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<S: HubStorage> Check<S> {
    pub fn new(
        name: &'static str,
        run: impl Fn(&mut Hub<S>, u64) -> Result<(), NotReady> + Send + Sync + 'static,
    ) -> Check<S> {
        Check {
            name,
            run: Box::new(run),
        }
    }
}

/// The name of the built-in check: a connection, its answer and the schema version.
pub const DATABASE_CHECK: &str = "database";

/// What one readiness probe found: each check run, in order, with its result. The checks
/// after a failing database check are not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<(&'static str, Result<(), NotReady>)>,
}

impl Report {
    fn failed(name: &'static str, why: NotReady) -> Report {
        Report {
            checks: vec![(name, Err(why))],
        }
    }

    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.checks.iter().all(|(_, r)| r.is_ok())
    }

    /// The first failing check's reason.
    pub fn reason(&self) -> Option<NotReady> {
        self.checks.iter().find_map(|(_, r)| r.err())
    }
}

/// The readiness checks of one process; see the module documentation.
pub struct Readiness<S: HubStorage> {
    checks: RwLock<Vec<Arc<Check<S>>>>,
    deadline: Duration,
    /// One probe at a time: held by the probe's blocking task until it ends.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The last answer, to log when it changes (not on every probe).
    was_ready: AtomicBool,
}

impl<S: HubStorage> std::fmt::Debug for Readiness<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Default for Readiness<S> {
    fn default() -> Self {
        Readiness::with_deadline(READY_DEADLINE)
    }
}

impl<S: Store> Readiness<S> {
    /// The database check alone, answering within `deadline`.
    pub fn with_deadline(deadline: Duration) -> Readiness<S> {
        Readiness {
            checks: RwLock::new(Vec::new()),
            deadline,
            turn: Arc::new(tokio::sync::Mutex::new(())),
            was_ready: AtomicBool::new(true),
        }
    }

    /// Adds a check run after the database check (and the ones added before it).
    pub fn add(&self, check: Check<S>) {
        self.checks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(check));
    }

    /// Runs the checks on a connection of `pool` within the deadline.
    pub async fn probe(&self, pool: Arc<HubPool<S>>, now: u64) -> Report {
        let started = Instant::now();
        let checks = self
            .checks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Ok(turn) = tokio::time::timeout(self.deadline, self.turn.clone().lock_owned()).await
        else {
            return Report::failed(DATABASE_CHECK, NotReady::TIMEOUT);
        };
        let work = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            run_checks(&pool, &checks, now)
        });
        let left = self.deadline.saturating_sub(started.elapsed());
        let report = match tokio::time::timeout(left, work).await {
            Ok(Ok(report)) => report,
            Ok(Err(_)) => Report::failed(DATABASE_CHECK, NotReady::CHECK_FAILED),
            Err(_) => Report::failed(DATABASE_CHECK, NotReady::TIMEOUT),
        };
        let ready = report.ready();
        if self.was_ready.swap(ready, Ordering::Relaxed) != ready {
            match report.reason() {
                Some(why) => tracing::warn!(
                    target: "wardcrf::ops",
                    reason = why.reason,
                    "not ready: /readyz answers 503 until this clears"
                ),
                None => tracing::info!(target: "wardcrf::ops", "ready again"),
            }
        }
        report
    }
}

/// The database check, then every further check on the same connection.
fn run_checks<S: Store>(pool: &HubPool<S>, checks: &[Arc<Check<S>>], now: u64) -> Report {
    let mut hub = match pool.lease() {
        Ok(hub) => hub,
        Err(_) => return Report::failed(DATABASE_CHECK, NotReady::DATABASE_UNREACHABLE),
    };
    let database = match hub.storage.probe() {
        Err(_) => Err(NotReady::DATABASE_UNREACHABLE),
        Ok(p) if !p.in_place => Err(NotReady::DATABASE_FILE_MISSING),
        Ok(p) if p.schema_version != crate::repository::sqlite::SCHEMA_VERSION => {
            Err(NotReady::SCHEMA_MISMATCH)
        }
        Ok(_) => Ok(()),
    };
    let mut report = Report {
        checks: vec![(DATABASE_CHECK, database)],
    };
    if database.is_ok() {
        for check in checks {
            report.checks.push((check.name, (check.run)(&mut hub, now)));
        }
    }
    report
}

/// `GET /healthz`: the process answers (no database, no token).
pub(crate) async fn healthz() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n").into_response()
}

/// `GET /readyz`: 200 `{"status": "ready", ...}` or 503 `{"status": "not_ready", "reason":
/// ...}`, with each check's result (no token: load balancers probe it).
pub(crate) async fn readyz<S: Store>(State(state): State<AppState<S>>) -> Response {
    let report = state.readiness.probe(state.hub.clone(), state.now()).await;
    let checks: serde_json::Map<String, serde_json::Value> = report
        .checks
        .iter()
        .map(|(name, r)| {
            let status = match r {
                Ok(()) => "ok",
                Err(why) => why.reason,
            };
            (name.to_string(), json!(status))
        })
        .collect();
    let (status, body) = match report.reason() {
        None => (StatusCode::OK, json!({"status": "ready", "checks": checks})),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "not_ready", "reason": why.reason, "checks": checks}),
        ),
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStorage;

    fn pool() -> Arc<HubPool<SqliteStorage>> {
        Arc::new(HubPool::single(SqliteStorage::open_in_memory().unwrap()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_connection_busy_beyond_the_deadline_is_a_timeout_and_clears_by_itself() {
        let pool = pool();
        let readiness = Readiness::with_deadline(Duration::from_millis(200));
        assert!(readiness.probe(pool.clone(), 0).await.ready());
        let held = pool.lease().unwrap();
        let report = readiness.probe(pool.clone(), 0).await;
        assert_eq!(report.reason(), Some(NotReady::TIMEOUT));
        // A second probe while the first still waits for a connection: no second thread.
        let report = readiness.probe(pool.clone(), 0).await;
        assert_eq!(report.reason(), Some(NotReady::TIMEOUT));
        drop(held);
        // The waiting probe gets the connection and ends; the next one is ready.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if readiness.probe(pool.clone(), 0).await.ready() {
                break;
            }
            assert!(Instant::now() < deadline, "never ready again");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn further_checks_run_in_order_after_the_database_check() {
        let pool = pool();
        let readiness = Readiness::with_deadline(Duration::from_secs(30));
        readiness.add(Check::new("first", |_, _| Ok(())));
        readiness.add(Check::new("stuck_queue", |_, now| {
            if now > 10 {
                Err(NotReady::new("stuck"))
            } else {
                Ok(())
            }
        }));
        let report = readiness.probe(pool.clone(), 5).await;
        assert!(report.ready());
        let names: Vec<_> = report.checks.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [DATABASE_CHECK, "first", "stuck_queue"]);
        let report = readiness.probe(pool, 11).await;
        assert_eq!(report.reason(), Some(NotReady::new("stuck")));
    }
}
