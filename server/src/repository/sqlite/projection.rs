//! The projection statements of [`SqliteStorage`]: the projection rows (written only over an
//! older projection), the case list with its staleness, and the projection queue (see
//! `repository/queue.rs`). One worker drains the queue on SQLite: its writes are serialised
//! by the database anyway, so a claim is a plain read.

use super::SqliteStorage;
use crate::repository::{
    CaseListItem, CaseQuery, ProjectionBacklog, ProjectionFailure, ProjectionRow, QueueEntry,
    QueuedProjection, RepoError, case_list_item, projection_failure, projection_row, queue_entry,
    queued_projection, to_i64, to_u64,
};
use rusqlite::params;

impl SqliteStorage {
    pub(super) fn put_projection_row(&mut self, p: &ProjectionRow) -> Result<(), RepoError> {
        self.conn.execute(
            "INSERT INTO case_projection (case_id, site_id, form_id, modules, status, deleted,
                 \"values\", conflicts, n_conflicts, flags, n_flags, updated_at, projected_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (case_id) DO UPDATE SET
                 site_id = excluded.site_id, form_id = excluded.form_id,
                 modules = excluded.modules, status = excluded.status,
                 deleted = excluded.deleted, \"values\" = excluded.\"values\",
                 conflicts = excluded.conflicts, n_conflicts = excluded.n_conflicts,
                 flags = excluded.flags, n_flags = excluded.n_flags,
                 updated_at = excluded.updated_at, projected_seq = excluded.projected_seq
             WHERE case_projection.projected_seq <= excluded.projected_seq",
            params![
                p.case_id,
                p.site_id,
                p.form_id,
                p.modules,
                p.status,
                p.deleted,
                p.values,
                p.conflicts,
                to_i64(p.n_conflicts),
                p.flags,
                to_i64(p.n_flags),
                to_i64(p.updated_at),
                to_i64(p.projected_seq)
            ],
        )?;
        Ok(())
    }

    pub(super) fn list_projections(
        &mut self,
        q: &CaseQuery,
    ) -> Result<Vec<CaseListItem>, RepoError> {
        Ok(self.all(
            "SELECT p.case_id, p.site_id, p.form_id, p.status, p.deleted, p.n_conflicts,
                    p.n_flags, p.updated_at, p.projected_seq, q.case_id IS NOT NULL
             FROM case_projection p LEFT JOIN projection_queue q ON q.case_id = p.case_id
             WHERE (?1 IS NULL OR p.site_id = ?1) AND (?2 IS NULL OR p.status = ?2)
               AND (?3 IS NULL OR (p.n_flags > 0) = ?3)
               AND (?4 IS NULL OR (p.n_conflicts > 0) = ?4)
             ORDER BY p.site_id, p.case_id",
            params![q.site_id, q.status, q.flagged, q.conflicts],
            |r| case_list_item(r),
        )?)
    }

    pub(super) fn projection_of(
        &mut self,
        case_id: &str,
    ) -> Result<Option<ProjectionRow>, RepoError> {
        Ok(self.one(
            "SELECT case_id, site_id, form_id, modules, status, deleted, \"values\",
                    conflicts, n_conflicts, flags, n_flags, updated_at, projected_seq
             FROM case_projection WHERE case_id = ?1",
            [case_id],
            |r| projection_row(r),
        )?)
    }

    pub(super) fn unprojected_cases(&mut self) -> Result<Vec<String>, RepoError> {
        Ok(self.all(
            "SELECT c.case_id FROM cases c
             LEFT JOIN case_projection p ON p.case_id = c.case_id
             WHERE p.case_id IS NULL ORDER BY c.case_id",
            [],
            |r| r.get(0),
        )?)
    }

    pub(super) fn enqueue(&mut self, case_id: &str, now: u64) -> Result<(), RepoError> {
        self.conn
            .prepare_cached(
                "INSERT INTO projection_queue (case_id, seq, enqueued_at)
             SELECT case_id, seq, ?2 FROM cases WHERE case_id = ?1
             ON CONFLICT (case_id) DO UPDATE SET
                 enqueued_at = CASE WHEN projection_queue.failure IS NULL
                     THEN projection_queue.enqueued_at ELSE excluded.enqueued_at END,
                 failure = NULL, failed_at = NULL,
                 seq = MAX(projection_queue.seq, excluded.seq)
             WHERE excluded.seq > projection_queue.seq OR projection_queue.failure IS NULL",
            )?
            .execute(params![case_id, to_i64(now)])?;
        Ok(())
    }

    pub(super) fn enqueue_all_unprojected(&mut self, now: u64) -> Result<u64, RepoError> {
        let n = self.conn.execute(
            "INSERT INTO projection_queue (case_id, seq, enqueued_at)
             SELECT c.case_id, c.seq, ?1 FROM cases c
             LEFT JOIN case_projection p ON p.case_id = c.case_id
             WHERE (p.case_id IS NULL OR p.projected_seq < c.seq)
               AND NOT EXISTS (SELECT 1 FROM projection_queue q WHERE q.case_id = c.case_id)
             ON CONFLICT (case_id) DO NOTHING",
            [to_i64(now)],
        )?;
        Ok(n as u64)
    }

    pub(super) fn claim(&mut self, limit: usize) -> Result<Vec<QueuedProjection>, RepoError> {
        Ok(self.all(
            "SELECT case_id, seq FROM projection_queue WHERE failure IS NULL
             ORDER BY enqueued_at, case_id LIMIT ?1",
            [i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| queued_projection(r),
        )?)
    }

    pub(super) fn dequeue(&mut self, case_id: &str, seq: u64) -> Result<(), RepoError> {
        self.conn.execute(
            "DELETE FROM projection_queue WHERE case_id = ?1 AND seq <= ?2",
            params![case_id, to_i64(seq)],
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
        self.conn.execute(
            "UPDATE projection_queue SET failure = ?3, failed_at = ?4
             WHERE case_id = ?1 AND seq <= ?2",
            params![case_id, to_i64(seq), reason, to_i64(now)],
        )?;
        Ok(())
    }

    pub(super) fn backlog(&mut self, now: u64) -> Result<ProjectionBacklog, RepoError> {
        let (pending, oldest, failed): (i64, Option<i64>, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(failure IS NULL), 0),
                    MIN(CASE WHEN failure IS NULL THEN enqueued_at END),
                    COALESCE(SUM(failure IS NOT NULL), 0)
             FROM projection_queue",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(ProjectionBacklog::at(
            to_u64(pending),
            oldest.map(to_u64),
            to_u64(failed),
            now,
        ))
    }

    pub(super) fn failures(&mut self) -> Result<Vec<ProjectionFailure>, RepoError> {
        Ok(self.all(
            "SELECT q.case_id, COALESCE(c.site_id, ''), q.seq, q.failure, COALESCE(q.failed_at, 0)
             FROM projection_queue q LEFT JOIN cases c ON c.case_id = q.case_id
             WHERE q.failure IS NOT NULL ORDER BY 2, q.case_id",
            [],
            |r| projection_failure(r),
        )?)
    }

    pub(super) fn queue_entry_of(
        &mut self,
        case_id: &str,
    ) -> Result<Option<QueueEntry>, RepoError> {
        Ok(self.one(
            "SELECT seq, failure FROM projection_queue WHERE case_id = ?1",
            [case_id],
            |r| queue_entry(r),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MIGRATIONS, migrate};
    use rusqlite::Connection;

    #[test]
    fn migration_007_marks_existing_projections_as_new_as_their_documents() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A repository at schema 6: projections were made in the exchange that stored them.
        wardcrf_core::migrate::migrate_sqlite(&mut conn, &MIGRATIONS[..6]).unwrap();
        conn.execute_batch(
            "INSERT INTO sites (site_id, name, created_at) VALUES ('a', 'A', 1);
             INSERT INTO cases (case_id, site_id, form_id, doc, seq) VALUES ('c1', 'a', 'f', x'00', 4);
             INSERT INTO case_projection (case_id, site_id, form_id, modules, status, deleted,
                 \"values\", conflicts, n_conflicts, flags, n_flags, updated_at)
                 VALUES ('c1', 'a', 'f', '[]', 'draft', 0, '{}', '[]', 0, '{}', 0, 1);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), super::super::SCHEMA_VERSION);
        let seq: i64 = conn
            .query_row("SELECT projected_seq FROM case_projection", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(seq, 4);
        let queued: i64 = conn
            .query_row("SELECT COUNT(*) FROM projection_queue", [], |r| r.get(0))
            .unwrap();
        assert_eq!(queued, 0);
    }
}
