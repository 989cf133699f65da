//! The projection queue's rows, shared by both backends: what the queue holds for one case
//! ([`QueuedProjection`]), a case that could not be projected ([`ProjectionFailure`]), and the
//! lag the console and the operator see ([`ProjectionBacklog`]).
//!
//! Every writer of a case (a sync exchange, a console resolution, the start-up backfill)
//! records in its own transaction that the case needs projecting at its new sequence number
//! ([`super::Repository::enqueue_projection`]): one row per case, keeping the newest number
//! and the oldest enqueue time. Workers claim rows, project the stored document and replace
//! the projection only with one made from a document at least as new
//! ([`super::Repository::complete_projection`]); the row goes only when its number is the one
//! projected, so a newer push made meanwhile stays queued.

use super::Columns;

/// A case waiting for its projection: its id and the sequence number of its newest stored
/// document when it was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedProjection {
    pub case_id: String,
    pub seq: u64,
}

/// A case whose stored document could not be projected (it is not tried again until a newer
/// document is stored). The reason names the damage, never a value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProjectionFailure {
    pub case_id: String,
    pub site_id: String,
    pub seq: u64,
    pub reason: String,
    pub failed_at: u64,
}

/// How far the projections trail the stored documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProjectionBacklog {
    /// Cases waiting to be projected (failed ones not counted).
    pub pending: u64,
    /// When the oldest waiting case was queued (unix seconds); `None` when none waits.
    pub oldest_enqueued_at: Option<u64>,
    /// How long the oldest waiting case has waited at the `now` asked for (seconds; 0 when
    /// none waits).
    pub oldest_age_secs: u64,
    /// Cases that could not be projected (shown, never retried until pushed again).
    pub failed: u64,
}

impl ProjectionBacklog {
    /// The backlog from its counts, with the age of the oldest at `now`.
    pub(crate) fn at(pending: u64, oldest_enqueued_at: Option<u64>, failed: u64, now: u64) -> Self {
        ProjectionBacklog {
            pending,
            oldest_enqueued_at,
            oldest_age_secs: oldest_enqueued_at.map_or(0, |t| now.saturating_sub(t)),
            failed,
        }
    }
}

/// Where a case's projection stands against its stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// The sequence number waiting to be projected.
    pub seq: u64,
    /// Why it could not be projected, when it could not.
    pub failure: Option<String>,
}

/// `case_id, seq`
pub(crate) fn queued_projection<R: Columns>(r: &R) -> Result<QueuedProjection, R::Error> {
    Ok(QueuedProjection {
        case_id: r.text(0)?,
        seq: r.count(1)?,
    })
}

/// `case_id, site_id, seq, failure, failed_at`
pub(crate) fn projection_failure<R: Columns>(r: &R) -> Result<ProjectionFailure, R::Error> {
    Ok(ProjectionFailure {
        case_id: r.text(0)?,
        site_id: r.text(1)?,
        seq: r.count(2)?,
        reason: r.text(3)?,
        failed_at: r.count(4)?,
    })
}

/// `seq, failure`
pub(crate) fn queue_entry<R: Columns>(r: &R) -> Result<QueueEntry, R::Error> {
    Ok(QueueEntry {
        seq: r.count(0)?,
        failure: r.text_opt(1)?,
    })
}
