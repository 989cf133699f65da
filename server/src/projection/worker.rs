//! The workers that drain the projection queue, in every server process.
//!
//! A worker claims a batch of queued cases
//! ([`crate::repository::Repository::claim_projections`]: on PostgreSQL, in the transaction
//! that writes the batch, the rows stay locked by it and other workers, in this process or
//! another, skip them; a worker that dies releases them when its session ends), loads each
//! stored document, projects and validates the batch on up to 4 threads, and writes each
//! projection unless a newer one is stored; a queue row goes only when the number projected
//! is its number, so a push made meanwhile stays queued. A document that cannot be projected
//! is recorded with the reason and left aside (shown in the console, never retried until a
//! newer document is stored), so it never blocks the queue.
//!
//! Projecting is background work: a worker thread runs at a lower CPU priority ([`NICENESS`])
//! so that, on a busy machine, sync exchanges and console requests go first and the queue
//! drains in the time left (its lag is shown). On SQLite a batch is projected outside any
//! transaction and written in a short one, never holding the database's only write lock
//! while it computes (every exchange needs that lock).
//!
//! Waking: an exchange that stored cases wakes this process's workers at once
//! ([`ProjectionWake::notify`]); cases stored by another process are found by a poll every
//! [`POLL_INTERVAL`] (a claim on an empty queue is one index probe). Workers stop when
//! [`Workers`] is stopped or dropped, after the batch in hand.

use crate::forms::Forms;
use crate::repository::{
    AtomicHub, HubPool, ProjectionRow, QueueEntry, QueuedProjection, RepoError,
};
use crate::state::{Clock, Store};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wardcrf_core::repository::{Hub, StoredCase, case_projection, parallel_map};

/// Cases claimed and projected in one transaction.
pub const BATCH: usize = 32;

/// How often an idle worker looks for cases queued by another server process.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How often at most a worker does the database's upkeep
/// ([`crate::repository::Repository::upkeep`]): a checkpoint copies what the log gathered
/// since the last one, and syncs the file.
pub const UPKEEP_EVERY: Duration = Duration::from_millis(500);

/// Wakes the workers of this process, and tells them to stop.
#[derive(Debug, Default)]
pub struct ProjectionWake {
    state: Mutex<WakeState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct WakeState {
    /// Raised by every notification: a worker that saw an older number does not sleep.
    generation: u64,
    stopping: bool,
}

impl ProjectionWake {
    fn lock(&self) -> MutexGuard<'_, WakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cases were queued: wake the workers.
    pub(crate) fn notify(&self) {
        self.lock().generation += 1;
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.lock().stopping = true;
        self.changed.notify_all();
    }

    fn stopping(&self) -> bool {
        self.lock().stopping
    }

    /// The notifications seen so far; `None` once stopping.
    fn seen(&self) -> Option<u64> {
        let s = self.lock();
        (!s.stopping).then_some(s.generation)
    }

    /// Sleeps until a notification after `seen`, a stop, or `timeout`; `false` when stopping.
    fn wait(&self, seen: u64, timeout: Duration) -> bool {
        let s = self.lock();
        let (s, _) = self
            .changed
            .wait_timeout_while(s, timeout, |s| !s.stopping && s.generation == seen)
            .unwrap_or_else(|p| p.into_inner());
        !s.stopping
    }
}

/// The projection workers of this process; stopped (after the batch in hand) when dropped.
#[derive(Debug)]
pub struct Workers {
    wake: Arc<ProjectionWake>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops the workers and waits for them.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.wake.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Starts `n` workers draining the queue of `pool`'s database.
pub(crate) fn start_workers<S: Store>(
    pool: Arc<HubPool<S>>,
    forms: Arc<Forms>,
    clock: Clock,
    wake: Arc<ProjectionWake>,
    n: usize,
) -> Workers {
    let threads = (0..n.max(1))
        .filter_map(|i| {
            let (pool, forms, clock, wake) =
                (pool.clone(), forms.clone(), clock.clone(), wake.clone());
            std::thread::Builder::new()
                .name(format!("projection-{i}"))
                .spawn(move || run(&pool, &forms, &clock, &wake))
                .map_err(|e| {
                    tracing::error!(
                        target: "wardcrf::projection",
                        error = %e,
                        "a projection worker could not be started"
                    );
                })
                .ok()
        })
        .collect();
    Workers { wake, threads }
}

/// How much lower than the server's other threads a worker runs (a nice value: 10 of 19).
pub const NICENESS: i32 = 10;

/// Lowers the calling thread's CPU priority by [`NICENESS`] (Linux; the threads it starts
/// inherit it); says why not when it cannot, and the worker runs on at the same priority.
fn run_in_background() {
    #[cfg(target_os = "linux")]
    {
        let me = Some(rustix::thread::gettid());
        let lowered = rustix::process::getpriority_process(me)
            .and_then(|now| rustix::process::setpriority_process(me, now + NICENESS));
        if let Err(e) = lowered {
            tracing::warn!(
                target: "wardcrf::projection",
                error = %e,
                "a projection worker could not lower its priority; it competes with sync exchanges"
            );
        }
    }
}

fn run<S: Store>(pool: &HubPool<S>, forms: &Forms, clock: &Clock, wake: &ProjectionWake) {
    run_in_background();
    let mut upkept = Instant::now();
    let mut upkeep = |hub: &mut Hub<S>| {
        if upkept.elapsed() < UPKEEP_EVERY {
            return;
        }
        upkept = Instant::now();
        if let Err(e) = hub.storage.upkeep() {
            tracing::warn!(
                target: "wardcrf::projection",
                error = %e,
                "database upkeep (checkpoint) failed; tried again shortly"
            );
        }
    };
    while let Some(seen) = wake.seen() {
        if let Err(e) = drain_while(pool, forms, clock, || !wake.stopping(), &mut upkeep) {
            tracing::warn!(
                target: "wardcrf::projection",
                error = %e,
                "projecting queued cases failed; the queue is tried again shortly"
            );
        }
        if let Ok(mut hub) = pool.lease() {
            upkeep(&mut hub);
        }
        if !wake.wait(seen, POLL_INTERVAL) {
            break;
        }
    }
}

/// Projects queued cases until none is left unclaimed (cases other workers hold are left to
/// them; failed ones are left aside); returns how many were taken.
pub(crate) fn drain<S: Store>(
    pool: &HubPool<S>,
    forms: &Forms,
    now: u64,
) -> Result<usize, RepoError> {
    let clock: Clock = Arc::new(move || now);
    drain_while(pool, forms, &clock, || true, &mut |_| {})
}

/// Projects batches while `go_on` says so and the queue holds any; `upkeep` is offered the
/// connection after each batch.
fn drain_while<S: Store>(
    pool: &HubPool<S>,
    forms: &Forms,
    clock: &Clock,
    go_on: impl Fn() -> bool,
    upkeep: &mut dyn FnMut(&mut Hub<S>),
) -> Result<usize, RepoError> {
    let mut total = 0;
    while go_on() {
        let mut hub = pool.lease()?;
        let n = project_batch(&mut hub, forms, clock())?;
        upkeep(&mut hub);
        if n == 0 {
            break;
        }
        total += n;
    }
    Ok(total)
}

/// Claims, projects and writes one batch; returns how many were claimed.
fn project_batch<S: Store>(hub: &mut Hub<S>, forms: &Forms, now: u64) -> Result<usize, RepoError> {
    project_batch_with(hub, now, &|case_id, stored| {
        project_stored(case_id, stored, forms, now)
    })
}

/// Makes the projection of one stored case (or says why it cannot).
type Project<'a> = dyn Fn(&str, &StoredCase) -> Result<ProjectionRow, String> + Sync + 'a;

/// [`project_batch`] with the projecting step given. On PostgreSQL the claim, the
/// projections and their writes are one transaction (its row locks keep other workers off
/// the batch; an exchange never waits for them unless it pushes a case of the batch). On
/// SQLite a transaction holds the database's only write lock, which every exchange needs:
/// the batch is read and projected outside any transaction and written in a short one (a
/// claim there locks nothing, and each write keeps only a projection at least as new).
fn project_batch_with<S: Store>(
    hub: &mut Hub<S>,
    now: u64,
    project: &Project<'_>,
) -> Result<usize, RepoError> {
    if hub.storage.claims_lock_rows() {
        return hub.atomically(|hub| -> Result<usize, RepoError> {
            let batch = claim_and_load(hub)?;
            let made = project_loaded(&batch.loaded, project);
            write_batch(hub, &batch, made, now)?;
            Ok(batch.claimed)
        });
    }
    let batch = claim_and_load(hub)?;
    let made = project_loaded(&batch.loaded, project);
    hub.atomically(|hub| write_batch(hub, &batch, made, now))?;
    Ok(batch.claimed)
}

/// A claimed batch: the stored documents of its cases, and the queue rows of cases gone.
struct Batch {
    claimed: usize,
    loaded: Vec<(String, StoredCase)>,
    gone: Vec<QueuedProjection>,
}

fn claim_and_load<S: Store>(hub: &mut Hub<S>) -> Result<Batch, RepoError> {
    let claimed = hub.storage.claim_projections(BATCH)?;
    let mut batch = Batch {
        claimed: claimed.len(),
        loaded: Vec::with_capacity(claimed.len()),
        gone: Vec::new(),
    };
    for q in claimed {
        match load(hub, &q.case_id)? {
            Some(stored) => batch.loaded.push((q.case_id, stored)),
            // Gone (never happens: cases are not deleted): nothing to project.
            None => batch.gone.push(q),
        }
    }
    Ok(batch)
}

/// The projections of a batch, made on up to 4 threads.
fn project_loaded(
    loaded: &[(String, StoredCase)],
    project: &Project<'_>,
) -> Vec<Result<ProjectionRow, String>> {
    parallel_map(loaded, |(case_id, stored)| project(case_id, stored))
}

fn write_batch<S: Store>(
    hub: &mut Hub<S>,
    batch: &Batch,
    made: Vec<Result<ProjectionRow, String>>,
    now: u64,
) -> Result<(), RepoError> {
    for q in &batch.gone {
        hub.storage.dequeue_projection(&q.case_id, q.seq)?;
    }
    for ((case_id, stored), made) in batch.loaded.iter().zip(made) {
        record(hub, case_id, stored.seq, made, now)?;
    }
    Ok(())
}

fn load<S: Store>(hub: &mut Hub<S>, case_id: &str) -> Result<Option<StoredCase>, RepoError> {
    hub.storage
        .case(case_id)
        .map_err(|e| RepoError::Storage(e.to_string()))
}

/// The projection of a stored document, or why it cannot be made (the document library's
/// failure on damaged bytes, a panic included).
fn project_stored(
    case_id: &str,
    stored: &StoredCase,
    forms: &Forms,
    now: u64,
) -> Result<ProjectionRow, String> {
    let read = std::panic::catch_unwind(|| case_projection(&stored.doc).map_err(|e| e.to_string()))
        .unwrap_or_else(|_| Err("the document library failed on it".into()))?;
    Ok(super::project(
        case_id,
        &stored.site,
        &stored.form_id,
        &read,
        stored.seq,
        forms,
        now,
    ))
}

/// Writes what projecting the document at `seq` gave: the projection (the queue row goes
/// unless a newer document waits), or the failure (recorded with the case; logged without
/// it, and never with a value).
fn record<S: Store>(
    hub: &mut Hub<S>,
    case_id: &str,
    seq: u64,
    made: Result<ProjectionRow, String>,
    now: u64,
) -> Result<(), RepoError> {
    match made {
        Ok(row) => hub.storage.complete_projection(&row),
        Err(reason) => {
            // The case is named in the queue row (the console lists it), not in the log.
            tracing::error!(
                target: "wardcrf::projection",
                error = %reason,
                "a stored case cannot be projected; it is left aside until a device pushes it \
                 again (the console counts it)"
            );
            let reason = format!("its stored document cannot be read: {reason}");
            hub.storage.fail_projection(case_id, seq, &reason, now)
        }
    }
}

/// Projects `case_id` now if it waits in the queue (a case view, a console resolution: off
/// the sync path, one case); returns the case's queue row left after that: `None` when its
/// projection is as new as its document, else the number waiting and why it could not be
/// projected.
pub(crate) fn refresh<S: Store>(
    hub: &mut Hub<S>,
    forms: &Forms,
    case_id: &str,
    now: u64,
) -> Result<Option<QueueEntry>, RepoError> {
    match hub.storage.queued_projection(case_id)? {
        Some(entry) if entry.failure.is_none() => {
            if let Some(stored) = load(hub, case_id)? {
                let made = project_stored(case_id, &stored, forms, now);
                hub.atomically(|hub| record(hub, case_id, stored.seq, made, now))?;
            }
            Ok(hub.storage.queued_projection(case_id)?)
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::{Repository, SqliteStorage};
    use wardcrf_core::repository::{HubStorage, Put};

    #[test]
    fn on_sqlite_a_batch_is_projected_without_holding_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.db");
        let mut storage = SqliteStorage::open(&path).unwrap();
        storage.create_site("a", "A", 1).unwrap();
        for case in ["c1", "c2", "c3"] {
            let put = storage.put_case(case, "a", "f", b"doc", None).unwrap();
            assert!(matches!(put, Put::Stored(_)), "{put:?}");
            storage.enqueue_projection(case, 1).unwrap();
        }
        let mut hub = Hub::new(storage);
        // While each case is projected, an exchange's connection takes the write lock at once.
        let free = Mutex::new(Vec::new());
        let claimed = project_batch_with(&mut hub, 2, &|_, _| {
            let other = rusqlite::Connection::open(&path).unwrap();
            other.busy_timeout(Duration::ZERO).unwrap();
            let took = other.execute_batch("BEGIN IMMEDIATE; ROLLBACK").is_ok();
            free.lock().unwrap().push(took);
            Err("projected in the test".to_string())
        })
        .unwrap();
        assert_eq!(claimed, 3);
        assert_eq!(*free.lock().unwrap(), [true; 3]);
        // What was made is written: here, three cases that could not be projected.
        let backlog = hub.storage.projection_backlog(2).unwrap();
        assert_eq!((backlog.pending, backlog.failed), (0, 3));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_worker_thread_runs_at_a_lower_priority_and_its_helpers_too() {
        std::thread::spawn(|| {
            let me = || Some(rustix::thread::gettid());
            let before = rustix::process::getpriority_process(me()).unwrap();
            run_in_background();
            let after = rustix::process::getpriority_process(me()).unwrap();
            assert_eq!(after, (before + NICENESS).min(19));
            // A thread it starts (the projection of a batch runs on several) inherits it.
            let helper = std::thread::spawn(move || {
                rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
            });
            assert_eq!(helper.join().unwrap(), after);
        })
        .join()
        .unwrap();
    }
}
