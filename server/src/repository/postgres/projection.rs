//! The projection statements of [`PostgresStorage`]: the projection rows (written only over
//! an older projection), the case list with its staleness, and the projection queue (see
//! `repository/queue.rs`). Workers of every server process claim queue rows with
//! `FOR UPDATE SKIP LOCKED` inside their transaction: a claimed row is invisible to the other
//! workers until that transaction ends, and a crashed worker's claim ends with its session.

use super::PostgresStorage;
use crate::repository::{
    CaseListItem, CaseQuery, ProjectionBacklog, ProjectionFailure, ProjectionRow, QueueEntry,
    QueuedProjection, RepoError, case_list_item, projection_failure, projection_row, queue_entry,
    queued_projection, to_i64, to_u64,
};

impl PostgresStorage {
    pub(super) fn put_projection_row(&mut self, p: &ProjectionRow) -> Result<(), RepoError> {
        self.db().execute(
            "INSERT INTO case_projection (case_id, site_id, form_id, modules, status, deleted,
                 \"values\", conflicts, n_conflicts, flags, n_flags, updated_at, projected_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (case_id) DO UPDATE SET
                 site_id = excluded.site_id, form_id = excluded.form_id,
                 modules = excluded.modules, status = excluded.status,
                 deleted = excluded.deleted, \"values\" = excluded.\"values\",
                 conflicts = excluded.conflicts, n_conflicts = excluded.n_conflicts,
                 flags = excluded.flags, n_flags = excluded.n_flags,
                 updated_at = excluded.updated_at, projected_seq = excluded.projected_seq
             WHERE case_projection.projected_seq <= excluded.projected_seq",
            &[
                &p.case_id,
                &p.site_id,
                &p.form_id,
                &p.modules,
                &p.status,
                &p.deleted,
                &p.values,
                &p.conflicts,
                &to_i64(p.n_conflicts),
                &p.flags,
                &to_i64(p.n_flags),
                &to_i64(p.updated_at),
                &to_i64(p.projected_seq),
            ],
        )?;
        Ok(())
    }

    pub(super) fn list_projections(
        &mut self,
        q: &CaseQuery,
    ) -> Result<Vec<CaseListItem>, RepoError> {
        Ok(self.db().all(
            "SELECT p.case_id, p.site_id, p.form_id, p.status, p.deleted, p.n_conflicts,
                    p.n_flags, p.updated_at, p.projected_seq, q.case_id IS NOT NULL
             FROM case_projection p LEFT JOIN projection_queue q ON q.case_id = p.case_id
             WHERE ($1::TEXT IS NULL OR p.site_id = $1) AND ($2::TEXT IS NULL OR p.status = $2)
               AND ($3::BOOLEAN IS NULL OR (p.n_flags > 0) = $3)
               AND ($4::BOOLEAN IS NULL OR (p.n_conflicts > 0) = $4)
             ORDER BY p.site_id, p.case_id",
            &[&q.site_id, &q.status, &q.flagged, &q.conflicts],
            case_list_item,
        )?)
    }

    pub(super) fn projection_of(
        &mut self,
        case_id: &str,
    ) -> Result<Option<ProjectionRow>, RepoError> {
        Ok(self.db().one(
            "SELECT case_id, site_id, form_id, modules, status, deleted, \"values\",
                    conflicts, n_conflicts, flags, n_flags, updated_at, projected_seq
             FROM case_projection WHERE case_id = $1",
            &[&case_id],
            projection_row,
        )?)
    }

    pub(super) fn unprojected_cases(&mut self) -> Result<Vec<String>, RepoError> {
        Ok(self.db().all(
            "SELECT c.case_id FROM cases c
             LEFT JOIN case_projection p ON p.case_id = c.case_id
             WHERE p.case_id IS NULL ORDER BY c.case_id",
            &[],
            |r| r.try_get(0),
        )?)
    }

    pub(super) fn enqueue(&mut self, case_id: &str, now: u64) -> Result<(), RepoError> {
        self.enqueue_many(&[case_id], now)
    }

    /// Queues each of `case_ids` at the sequence number of its stored document, in one
    /// statement (see [`crate::repository::Repository::enqueue_projection`]).
    pub(super) fn enqueue_many(&mut self, case_ids: &[&str], now: u64) -> Result<(), RepoError> {
        if case_ids.is_empty() {
            return Ok(());
        }
        self.db().execute(
            "INSERT INTO projection_queue (case_id, seq, enqueued_at)
             SELECT case_id, seq, $2 FROM cases WHERE case_id = ANY($1)
             ON CONFLICT (case_id) DO UPDATE SET
                 enqueued_at = CASE WHEN projection_queue.failure IS NULL
                     THEN projection_queue.enqueued_at ELSE excluded.enqueued_at END,
                 failure = NULL, failed_at = NULL,
                 seq = GREATEST(projection_queue.seq, excluded.seq)
             WHERE excluded.seq > projection_queue.seq OR projection_queue.failure IS NULL",
            &[&case_ids, &to_i64(now)],
        )?;
        Ok(())
    }

    pub(super) fn enqueue_all_unprojected(&mut self, now: u64) -> Result<u64, RepoError> {
        Ok(self.db().execute(
            "INSERT INTO projection_queue (case_id, seq, enqueued_at)
             SELECT c.case_id, c.seq, $1 FROM cases c
             LEFT JOIN case_projection p ON p.case_id = c.case_id
             WHERE (p.case_id IS NULL OR p.projected_seq < c.seq)
               AND NOT EXISTS (SELECT 1 FROM projection_queue q WHERE q.case_id = c.case_id)
             ON CONFLICT (case_id) DO NOTHING",
            &[&to_i64(now)],
        )?)
    }

    pub(super) fn claim(&mut self, limit: usize) -> Result<Vec<QueuedProjection>, RepoError> {
        Ok(self.db().all(
            "SELECT case_id, seq FROM projection_queue WHERE failure IS NULL
             ORDER BY enqueued_at, case_id LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            queued_projection,
        )?)
    }

    pub(super) fn dequeue(&mut self, case_id: &str, seq: u64) -> Result<(), RepoError> {
        self.db().execute(
            "DELETE FROM projection_queue WHERE case_id = $1 AND seq <= $2",
            &[&case_id, &to_i64(seq)],
        )?;
        Ok(())
    }

    pub(super) fn fail(
        &mut self,
        case_id: &str,
        seq: u64,
        reason: &str,
        now: u64,
    ) -> Result<(), RepoError> {
        self.db().execute(
            "UPDATE projection_queue SET failure = $3, failed_at = $4
             WHERE case_id = $1 AND seq <= $2",
            &[&case_id, &to_i64(seq), &reason, &to_i64(now)],
        )?;
        Ok(())
    }

    pub(super) fn backlog(&mut self, now: u64) -> Result<ProjectionBacklog, RepoError> {
        let row = self.db().query_one(
            "SELECT COUNT(*) FILTER (WHERE failure IS NULL),
                    MIN(enqueued_at) FILTER (WHERE failure IS NULL),
                    COUNT(*) FILTER (WHERE failure IS NOT NULL)
             FROM projection_queue",
            &[],
        )?;
        let pending: i64 = row.try_get(0)?;
        let oldest: Option<i64> = row.try_get(1)?;
        let failed: i64 = row.try_get(2)?;
        Ok(ProjectionBacklog::at(
            to_u64(pending),
            oldest.map(to_u64),
            to_u64(failed),
            now,
        ))
    }

    pub(super) fn failures(&mut self) -> Result<Vec<ProjectionFailure>, RepoError> {
        Ok(self.db().all(
            "SELECT q.case_id, COALESCE(c.site_id, ''), q.seq, q.failure, COALESCE(q.failed_at, 0)
             FROM projection_queue q LEFT JOIN cases c ON c.case_id = q.case_id
             WHERE q.failure IS NOT NULL ORDER BY 2, q.case_id",
            &[],
            projection_failure,
        )?)
    }

    pub(super) fn queue_entry_of(
        &mut self,
        case_id: &str,
    ) -> Result<Option<QueueEntry>, RepoError> {
        Ok(self.db().one(
            "SELECT seq, failure FROM projection_queue WHERE case_id = $1",
            &[&case_id],
            queue_entry,
        )?)
    }
}
