//! The repository in one embedded SQLite database (WAL): [`SqliteStorage`] implements the
//! [`Repository`] and the core's [`HubStorage`]. Every method is one transaction, or a step of
//! the one open ([`Repository::atomically`]). The schema is `server/migrations/sqlite/`,
//! applied by the core's migration runner on `PRAGMA user_version`.

use super::{CaseListItem, CaseQuery, DeviceAuth, DeviceInfo, ProjectionRow, SiteSummary};
use super::{
    Columns, QUARANTINE_COLUMNS, RepoError, Repository, STAFF_COLUMNS, device_auth, device_info,
    next_lock_state, quarantined_case, refused_push, site_summary, staff_record, staff_session,
    stored_case, to_i64, to_u64, usable_code,
};
use super::{ProjectionBacklog, ProjectionFailure, QueueEntry, QueuedProjection};
use super::{StaffRecord, StaffSession};
use rusqlite::{Connection, OptionalExtension, Params, Row, TransactionBehavior, params};
use std::path::Path;
use wardcrf_core::repository::{HubStorage, Put, QuarantinedCase, SiteAuthors, StoredCase};

mod busy;
mod projection;
mod ward;

pub use busy::BUSY_WAIT;
use busy::wait_for_writer;

/// Prepared statements kept per connection: every statement of an exchange, and the
/// console's most used, are parsed once.
const STATEMENT_CACHE: usize = 64;

/// The write-ahead log size, in pages (64 MiB at 4 KiB pages), past which a commit
/// checkpoints by itself. SQLite's default (1,000 pages) had about one exchange in ten of an
/// initial push copy the log into the database while the device waited.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// Numbered migrations; migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/001_init.sql"),
    include_str!("../../migrations/sqlite/002_case_projection.sql"),
    include_str!("../../migrations/sqlite/003_console.sql"),
    include_str!("../../migrations/sqlite/004_site_identifying.sql"),
    include_str!("../../migrations/sqlite/005_quarantine.sql"),
    include_str!("../../migrations/sqlite/006_staff_on_devices.sql"),
    include_str!("../../migrations/sqlite/007_projection_queue.sql"),
    include_str!("../../migrations/sqlite/008_cluster.sql"),
    include_str!("../../migrations/sqlite/009_epoch.sql"),
    include_str!("../../migrations/sqlite/010_site_default_units.sql"),
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

impl From<rusqlite::Error> for RepoError {
    fn from(e: rusqlite::Error) -> Self {
        RepoError::Storage(e.to_string())
    }
}

impl Columns for Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }
    fn text_opt(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
    fn int_opt(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }
    fn flag(&self, i: usize) -> rusqlite::Result<bool> {
        self.get(i)
    }
    fn bytes(&self, i: usize) -> rusqlite::Result<Vec<u8>> {
        self.get(i)
    }
}

/// The repository in one SQLite database (WAL).
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Connection,
    /// Inside [`Repository::begin`]: steps join that transaction (as savepoints).
    in_batch: bool,
    /// The database file opened, and its identity then (none in memory).
    file: Option<(std::path::PathBuf, Option<(u64, u64)>)>,
}

/// The device and inode of the file at `path` (none where unknown or not unix).
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| (0, 0))
    }
}

impl SqliteStorage {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStorage, RepoError> {
        let mut storage = Self::setup(Connection::open(path)?)?;
        storage.file = Some((path.to_path_buf(), file_identity(path)));
        Ok(storage)
    }

    /// A throwaway database in memory (tests).
    pub fn open_in_memory() -> Result<SqliteStorage, RepoError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<SqliteStorage, RepoError> {
        // First: a connection opened while others write (the pool growing in a sync storm)
        // waits for the lock in its own pragmas and migration check too, instead of failing
        // at once with "database is locked".
        conn.busy_handler(Some(wait_for_writer(BUSY_WAIT)))?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The projection workers checkpoint in the background (`upkeep`); a commit does it
        // itself only past this, when no worker keeps up.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        // Every statement of an exchange stays prepared (the default keeps 16).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        migrate(&mut conn)?;
        Ok(SqliteStorage {
            conn,
            in_batch: false,
            file: None,
        })
    }
}

/// Applies every migration the database lacks, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<u32, RepoError> {
    Ok(wardcrf_core::migrate::migrate_sqlite(conn, MIGRATIONS)?)
}

impl SqliteStorage {
    /// Every row of `sql`, read by `read`.
    fn all<T>(
        &self,
        sql: &str,
        params: impl Params,
        read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, read)?;
        rows.collect()
    }

    /// The row of `sql`, if any, read by `read`.
    fn one<T>(
        &self,
        sql: &str,
        params: impl Params,
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Option<T>> {
        self.conn
            .prepare_cached(sql)?
            .query_row(params, read)
            .optional()
    }
}

impl Repository for SqliteStorage {
    fn create_site(&mut self, site_id: &str, name: &str, now: u64) -> Result<(), RepoError> {
        // One statement: atomic alone, and part of an open `begin` when there is one.
        let n = self.conn.execute(
            "INSERT INTO sites (site_id, name, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (site_id) DO NOTHING",
            params![site_id, name, to_i64(now)],
        )?;
        if n == 0 {
            return Err(RepoError::SiteExists);
        }
        Ok(())
    }

    fn sites(&mut self) -> Result<Vec<SiteSummary>, RepoError> {
        Ok(self.all(
            "SELECT s.site_id, s.name,
                    (SELECT COUNT(*) FROM devices d WHERE d.site_id = s.site_id),
                    (SELECT COUNT(*) FROM cases c WHERE c.site_id = s.site_id),
                    s.identifying_on_device
             FROM sites s ORDER BY s.site_id",
            [],
            |r| site_summary(r),
        )?)
    }

    fn keep_identifying_on_device(&mut self, site_id: &str) -> Result<(), RepoError> {
        let n = self.conn.execute(
            "UPDATE sites SET identifying_on_device = 1 WHERE site_id = ?1",
            [site_id],
        )?;
        if n == 0 {
            return Err(RepoError::UnknownSite);
        }
        Ok(())
    }

    fn create_enroll_code(
        &mut self,
        code_sha256: &[u8],
        site_id: &str,
        expires_at: u64,
    ) -> Result<(), RepoError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM sites WHERE site_id = ?1)",
            [site_id],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(RepoError::UnknownSite);
        }
        tx.execute(
            "INSERT INTO enroll_codes (code_sha256, site_id, expires_at) VALUES (?1, ?2, ?3)",
            params![code_sha256, site_id, to_i64(expires_at)],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn enroll(
        &mut self,
        code_sha256: &[u8],
        device_id: &str,
        token_sha256: &[u8],
        device_key: &str,
        now: u64,
    ) -> Result<String, RepoError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let code: Option<(String, i64, bool)> = tx
            .query_row(
                "SELECT site_id, expires_at, used FROM enroll_codes WHERE code_sha256 = ?1",
                [code_sha256],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((site_id, expires_at, used)) = code else {
            return Err(RepoError::InvalidCode);
        };
        usable_code(used, expires_at, now)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM devices WHERE device_id = ?1)",
            [device_id],
            |r| r.get(0),
        )?;
        if exists {
            return Err(RepoError::DeviceExists);
        }
        tx.execute(
            "UPDATE enroll_codes SET used = 1 WHERE code_sha256 = ?1",
            [code_sha256],
        )?;
        tx.execute(
            "INSERT INTO devices (device_id, site_id, token_sha256, enrolled_at, device_key)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![device_id, site_id, token_sha256, to_i64(now), device_key],
        )?;
        tx.commit()?;
        Ok(site_id)
    }

    fn devices(&mut self) -> Result<Vec<DeviceInfo>, RepoError> {
        Ok(self.all(
            "SELECT device_id, site_id, enrolled_at, last_sync_at, revoked
             FROM devices ORDER BY site_id, device_id",
            [],
            |r| device_info(r),
        )?)
    }

    fn revoke_device(&mut self, device_id: &str) -> Result<(), RepoError> {
        let n = self.conn.execute(
            "UPDATE devices SET revoked = 1 WHERE device_id = ?1",
            [device_id],
        )?;
        if n == 0 {
            return Err(RepoError::UnknownDevice);
        }
        Ok(())
    }

    fn device_by_token(&mut self, token_sha256: &[u8]) -> Result<Option<DeviceAuth>, RepoError> {
        Ok(self.one(
            "SELECT d.device_id, d.site_id, d.revoked, s.identifying_on_device
             FROM devices d JOIN sites s ON s.site_id = d.site_id
             WHERE d.token_sha256 = ?1",
            [token_sha256],
            |r| device_auth(r),
        )?)
    }

    fn record_sync(&mut self, device_id: &str, now: u64) -> Result<(), RepoError> {
        self.conn.execute(
            "UPDATE devices SET last_sync_at = ?2 WHERE device_id = ?1",
            params![device_id, to_i64(now)],
        )?;
        Ok(())
    }

    fn put_projection(&mut self, p: &ProjectionRow) -> Result<(), RepoError> {
        self.put_projection_row(p)
    }

    fn projections(&mut self, q: &CaseQuery) -> Result<Vec<CaseListItem>, RepoError> {
        self.list_projections(q)
    }

    fn projection(&mut self, case_id: &str) -> Result<Option<ProjectionRow>, RepoError> {
        self.projection_of(case_id)
    }

    fn cases_without_projection(&mut self) -> Result<Vec<String>, RepoError> {
        self.unprojected_cases()
    }

    fn enqueue_projection(&mut self, case_id: &str, now: u64) -> Result<(), RepoError> {
        self.enqueue(case_id, now)
    }

    fn enqueue_unprojected(&mut self, now: u64) -> Result<u64, RepoError> {
        self.enqueue_all_unprojected(now)
    }

    fn claim_projections(&mut self, limit: usize) -> Result<Vec<QueuedProjection>, RepoError> {
        self.claim(limit)
    }

    fn upkeep(&mut self) -> Result<(), RepoError> {
        // (busy, pages in the log, pages copied): a passive checkpoint never waits for
        // writers or readers; what it could not copy is copied by a later one.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn claims_lock_rows(&self) -> bool {
        false
    }

    fn dequeue_projection(&mut self, case_id: &str, seq: u64) -> Result<(), RepoError> {
        self.dequeue(case_id, seq)
    }

    fn fail_projection(
        &mut self,
        id: &str,
        seq: u64,
        why: &str,
        now: u64,
    ) -> Result<(), RepoError> {
        self.fail(id, seq, why, now)
    }

    fn projection_backlog(&mut self, now: u64) -> Result<ProjectionBacklog, RepoError> {
        self.backlog(now)
    }

    fn projection_failures(&mut self) -> Result<Vec<ProjectionFailure>, RepoError> {
        self.failures()
    }

    fn queued_projection(&mut self, case_id: &str) -> Result<Option<QueueEntry>, RepoError> {
        self.queue_entry_of(case_id)
    }

    fn create_staff(&mut self, u: &StaffRecord) -> Result<bool, RepoError> {
        let n = self.conn.execute(
            "INSERT INTO staff_users (username, role, site_id, password_hash, failed_logins,
                 locked_until, disabled, created_at, display_name)
             VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5, ?6, ?7) ON CONFLICT (username) DO NOTHING",
            params![
                u.username,
                u.role,
                u.site_id,
                u.password_hash,
                u.disabled,
                to_i64(u.created_at),
                u.display_name
            ],
        )?;
        Ok(n == 1)
    }

    fn staff_users(&mut self) -> Result<Vec<StaffRecord>, RepoError> {
        Ok(self.all(
            &format!("SELECT {STAFF_COLUMNS} FROM staff_users ORDER BY username"),
            [],
            |r| staff_record(r),
        )?)
    }

    fn staff_user(&mut self, username: &str) -> Result<Option<StaffRecord>, RepoError> {
        Ok(self.one(
            &format!("SELECT {STAFF_COLUMNS} FROM staff_users WHERE username = ?1"),
            [username],
            |r| staff_record(r),
        )?)
    }

    fn record_login_failure(
        &mut self,
        username: &str,
        now: u64,
        max_failures: u64,
        lock_secs: u64,
    ) -> Result<Option<u64>, RepoError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: Option<(i64, Option<i64>)> = tx
            .query_row(
                "SELECT failed_logins, locked_until FROM staff_users WHERE username = ?1",
                [username],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((failed, locked_until)) = found else {
            return Ok(None);
        };
        let (failed, locked_until) = next_lock_state(
            to_u64(failed),
            locked_until.map(to_u64),
            now,
            max_failures,
            lock_secs,
        );
        tx.execute(
            "UPDATE staff_users SET failed_logins = ?2, locked_until = ?3 WHERE username = ?1",
            params![username, to_i64(failed), locked_until.map(to_i64)],
        )?;
        tx.commit()?;
        Ok(locked_until.filter(|&t| t > now))
    }

    fn record_login_success(&mut self, username: &str) -> Result<(), RepoError> {
        self.conn.execute(
            "UPDATE staff_users SET failed_logins = 0, locked_until = NULL WHERE username = ?1",
            [username],
        )?;
        Ok(())
    }

    fn set_staff_disabled(&mut self, username: &str, disabled: bool) -> Result<bool, RepoError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE staff_users SET disabled = ?2 WHERE username = ?1",
            params![username, disabled],
        )?;
        if disabled {
            tx.execute("DELETE FROM staff_sessions WHERE username = ?1", [username])?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn set_staff_password(
        &mut self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, RepoError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE staff_users SET password_hash = ?2, failed_logins = 0, locked_until = NULL,
                 credential_epoch = credential_epoch + 1
             WHERE username = ?1",
            params![username, password_hash],
        )?;
        tx.execute("DELETE FROM staff_sessions WHERE username = ?1", [username])?;
        tx.commit()?;
        Ok(n == 1)
    }

    fn create_session(
        &mut self,
        token_sha256: &[u8],
        username: &str,
        csrf_token: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<(), RepoError> {
        self.conn.execute(
            "INSERT INTO staff_sessions (token_sha256, username, csrf_token, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![token_sha256, username, csrf_token, to_i64(now), to_i64(expires_at)],
        )?;
        Ok(())
    }

    fn session(
        &mut self,
        token_sha256: &[u8],
        now: u64,
    ) -> Result<Option<StaffSession>, RepoError> {
        Ok(self.one(
            "SELECT u.username, u.role, u.site_id, s.csrf_token, s.expires_at
             FROM staff_sessions s JOIN staff_users u ON u.username = s.username
             WHERE s.token_sha256 = ?1 AND s.expires_at > ?2 AND u.disabled = 0",
            params![token_sha256, to_i64(now)],
            |r| staff_session(r),
        )?)
    }

    fn delete_session(&mut self, token_sha256: &[u8]) -> Result<(), RepoError> {
        self.conn.execute(
            "DELETE FROM staff_sessions WHERE token_sha256 = ?1",
            [token_sha256],
        )?;
        Ok(())
    }

    fn delete_expired_sessions(&mut self, now: u64) -> Result<u64, RepoError> {
        let n = self.conn.execute(
            "DELETE FROM staff_sessions WHERE expires_at <= ?1",
            [to_i64(now)],
        )?;
        Ok(n as u64)
    }

    fn shared_value(
        &mut self,
        name: &str,
        proposed: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, RepoError> {
        Ok(self.atomic(|tx| -> rusqlite::Result<Vec<u8>> {
            tx.execute(
                "INSERT INTO repository_secrets (name, value, set_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO NOTHING",
                params![name, proposed, to_i64(now)],
            )?;
            tx.query_row(
                "SELECT value FROM repository_secrets WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
        })?)
    }

    fn epoch(&mut self) -> Result<String, RepoError> {
        Ok(self
            .conn
            .query_row("SELECT epoch FROM repository_epoch WHERE id = 1", [], |r| {
                r.get(0)
            })?)
    }

    fn new_epoch(&mut self) -> Result<String, RepoError> {
        Ok(self.conn.query_row(
            "UPDATE repository_epoch SET epoch = lower(hex(randomblob(16))) WHERE id = 1
             RETURNING epoch",
            [],
            |r| r.get(0),
        )?)
    }

    fn in_transaction(&self) -> bool {
        self.in_batch
    }

    fn begin(&mut self) -> Result<(), RepoError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        self.in_batch = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), RepoError> {
        self.in_batch = false;
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            // A COMMIT that fails (busy, disk full) leaves the transaction open: end it, so
            // that nothing of the batch is kept and the connection can serve the next request.
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }

    fn rollback(&mut self) {
        if std::mem::take(&mut self.in_batch) {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn probe(&mut self) -> Result<super::Probe, RepoError> {
        let schema_version = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let in_place = match &self.file {
            Some((path, opened)) => opened.is_some() && file_identity(path) == *opened,
            None => true,
        };
        Ok(super::Probe {
            schema_version,
            in_place,
        })
    }
}

impl SqliteStorage {
    /// Runs one step atomically: in its own IMMEDIATE transaction, or as a savepoint of the
    /// open [`Repository::begin`].
    fn atomic<T, E: From<rusqlite::Error>>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        if self.in_batch {
            let sp = self.conn.savepoint()?;
            let out = f(&sp)?;
            sp.commit()?;
            Ok(out)
        } else {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        }
    }
}

impl HubStorage for SqliteStorage {
    type Error = rusqlite::Error;

    fn case(&mut self, case_id: &str) -> Result<Option<StoredCase>, Self::Error> {
        self.one(
            "SELECT site_id, form_id, doc, seq FROM cases WHERE case_id = ?1",
            [case_id],
            |r| stored_case(r),
        )
    }

    fn put_case(
        &mut self,
        case_id: &str,
        site: &str,
        form_id: &str,
        doc: &[u8],
        read_seq: Option<u64>,
    ) -> Result<Put, Self::Error> {
        self.atomic(|tx| put_checked(tx, case_id, site, form_id, doc, None, read_seq))
    }

    fn put_pushed(
        &mut self,
        case_id: &str,
        site: &str,
        form_id: &str,
        doc: &[u8],
        device: &str,
        read_seq: Option<u64>,
    ) -> Result<Put, Self::Error> {
        self.atomic(|tx| put_checked(tx, case_id, site, form_id, doc, Some(device), read_seq))
    }

    fn cases_after(
        &mut self,
        site: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, Self::Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.all(
            "SELECT case_id, seq FROM cases WHERE site_id = ?1 AND seq > ?2
             ORDER BY seq LIMIT ?3",
            params![site, to_i64(after), limit],
            |r| Ok((r.get(0)?, to_u64(r.get(1)?))),
        )
    }

    fn device_heads(
        &mut self,
        device: &str,
        case_id: &str,
    ) -> Result<Option<Vec<u8>>, Self::Error> {
        self.one(
            "SELECT heads FROM device_known WHERE device_id = ?1 AND case_id = ?2",
            [device, case_id],
            |r| r.get(0),
        )
    }

    fn record_sent(
        &mut self,
        device: &str,
        case_id: &str,
        heads: &[u8],
        seq: u64,
    ) -> Result<(), Self::Error> {
        // One record per device and case: the newest (see the trait).
        self.conn
            .prepare_cached(
                "INSERT INTO device_sent (device_id, case_id, heads, seq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (device_id, case_id) DO UPDATE SET
                     heads = excluded.heads, seq = excluded.seq",
            )?
            .execute(params![device, case_id, heads, to_i64(seq)])?;
        Ok(())
    }

    fn confirm(&mut self, device: &str, cursor: u64) -> Result<(), Self::Error> {
        self.atomic(|tx| {
            // In the order they were sent, so the latest heads per case win (as in memory).
            tx.execute(
                "INSERT INTO device_known (device_id, case_id, heads)
                 SELECT device_id, case_id, heads FROM device_sent
                 WHERE device_id = ?1 AND seq <= ?2 ORDER BY id
                 ON CONFLICT (device_id, case_id) DO UPDATE SET heads = excluded.heads",
                params![device, to_i64(cursor)],
            )?;
            tx.execute(
                "DELETE FROM device_sent WHERE device_id = ?1 AND seq <= ?2",
                params![device, to_i64(cursor)],
            )?;
            Ok(())
        })
    }

    fn device_site(&mut self, device: &str) -> Result<Option<String>, Self::Error> {
        self.one(
            "SELECT site_id FROM devices WHERE device_id = ?1",
            [device],
            |r| r.get(0),
        )
    }

    fn site_authors(&mut self, site: &str) -> Result<SiteAuthors, Self::Error> {
        self.authors_of(site)
    }

    fn quarantine(
        &mut self,
        case_id: &str,
        reason: &str,
    ) -> Result<Option<QuarantinedCase>, Self::Error> {
        self.atomic(|tx| {
            tx.execute(
                "INSERT INTO case_quarantine (case_id, site_id, reason, device_id, doc, first_seen)
                 SELECT case_id, site_id, ?2, pushed_by, doc, CAST(strftime('%s', 'now') AS INTEGER)
                 FROM cases WHERE case_id = ?1
                 ON CONFLICT DO NOTHING",
                params![case_id, reason],
            )?;
            tx.query_row(
                &format!("SELECT {QUARANTINE_COLUMNS} FROM case_quarantine WHERE case_id = ?1 AND lifted_at IS NULL"),
                [case_id],
                |r| quarantined_case(r),
            )
            .optional()
        })
    }

    fn release(&mut self, case_id: &str) -> Result<(), Self::Error> {
        self.conn.execute(
            "UPDATE case_quarantine SET lifted_at = CAST(strftime('%s', 'now') AS INTEGER)
             WHERE case_id = ?1 AND lifted_at IS NULL",
            [case_id],
        )?;
        Ok(())
    }

    fn quarantined(&mut self, site: Option<&str>) -> Result<Vec<QuarantinedCase>, Self::Error> {
        self.all(
            &format!(
                "SELECT {QUARANTINE_COLUMNS} FROM case_quarantine
                 WHERE lifted_at IS NULL AND (?1 IS NULL OR site_id = ?1)
                 ORDER BY site_id, case_id"
            ),
            [site],
            |r| quarantined_case(r),
        )
    }
}

/// Takes the next sequence number of `site`.
/// Every write of a case: a compare-and-set on the sequence number read (see
/// [`HubStorage::put_case`]). The write transaction (`BEGIN IMMEDIATE`) holds the database's
/// one write lock from its first statement to its commit, so the site's numbers it takes are
/// committed in order. `pushed_by` is the device that pushed it, `None` for the repository's
/// own write (the last device is kept).
fn put_checked(
    tx: &Connection,
    case_id: &str,
    site: &str,
    form_id: &str,
    doc: &[u8],
    pushed_by: Option<&str>,
    read_seq: Option<u64>,
) -> rusqlite::Result<Put> {
    let seq = next_seq(tx, site)?;
    let n = match read_seq {
        None => tx
            .prepare_cached(
                "INSERT INTO cases (case_id, site_id, form_id, doc, seq, pushed_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (case_id) DO NOTHING",
            )?
            .execute(params![case_id, site, form_id, doc, seq, pushed_by])?,
        Some(read) => tx
            .prepare_cached(
                "UPDATE cases SET form_id = ?3, doc = ?4, seq = ?5,
                     pushed_by = COALESCE(?6, pushed_by)
                 WHERE case_id = ?1 AND site_id = ?2 AND seq = ?7",
            )?
            .execute(params![
                case_id,
                site,
                form_id,
                doc,
                seq,
                pushed_by,
                to_i64(read)
            ])?,
    };
    if n == 1 {
        return Ok(Put::Stored(to_u64(seq)));
    }
    let holder = tx
        .query_row(
            "SELECT site_id FROM cases WHERE case_id = ?1",
            [case_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(refused_push(holder, site))
}

fn next_seq(tx: &Connection, site: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO site_seq (site_id, seq) VALUES (?1, 1)
         ON CONFLICT (site_id) DO UPDATE SET seq = seq + 1
         RETURNING seq",
    )?
    .query_row([site], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(migrate(&mut conn), Err(RepoError::TooNew { .. })));
    }

    /// (pages in the write-ahead log, pages of it copied into the database), asked of SQLite
    /// by a checkpoint that copies nothing.
    fn wal_state(conn: &Connection) -> (i64, i64) {
        conn.query_row("PRAGMA wal_checkpoint(NOOP)", [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })
        .unwrap()
    }

    #[test]
    fn commits_leave_the_log_to_the_background_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = SqliteStorage::open(&dir.path().join("repository.db")).unwrap();
        // Some 2,500 pages of documents: past SQLite's own limit of 1,000, under ours.
        storage.create_site("site", "Site", 0).unwrap();
        let doc = vec![7u8; 10_000];
        for i in 0..1_000 {
            let put = storage
                .put_case(&format!("case-{i}"), "site", "icrown-core", &doc, None)
                .unwrap();
            assert!(matches!(put, Put::Stored(_)));
        }
        let (log, copied) = wal_state(&storage.conn);
        assert!(log > 2_000, "the log holds {log} pages");
        assert_eq!(copied, 0, "a commit checkpointed the log");
        storage.upkeep().unwrap();
        let (log, copied) = wal_state(&storage.conn);
        assert_eq!(copied, log, "the upkeep left pages in the log");
    }

    // The storage contract itself is tests/cases/storage.rs, shared with PostgreSQL.
}
