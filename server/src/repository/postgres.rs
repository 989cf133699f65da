//! The repository in PostgreSQL (`wardcrf-server --database-url postgres://...`):
//! [`PostgresStorage`] implements the same [`Repository`] and core [`HubStorage`] as
//! [`super::SqliteStorage`], with the same tables and the same semantics. Every method is one
//! transaction, or a step of the one open ([`Repository::atomically`]). It uses the blocking
//! client: the API already calls storage off the async threads (`spawn_blocking`). The schema
//! is `server/migrations/postgres/`, numbered as the SQLite one and recorded in
//! `schema_version`.

use super::{
    CaseListItem, CaseQuery, Columns, DeviceAuth, DeviceInfo, ProjectionRow, RepoError, Repository,
    STAFF_COLUMNS, SiteSummary, StaffRecord, StaffSession, case_list_item, device_auth,
    device_info, next_lock_state, projection_row, quarantined_case, refused_push, site_summary,
    staff_record, staff_session, stored_case, to_i64, to_u64, usable_code,
};
use ::postgres::{Client, Config, NoTls, Statement};
use std::collections::HashMap;
use wardcrf_core::repository::{HubStorage, Put, QuarantinedCase, SiteAuthors, StoredCase};

/// Numbered migrations; migration `i` takes the schema from version `i` to `i + 1`. The
/// applied ones are rows of `schema_version`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/001_init.sql"),
    include_str!("../../migrations/postgres/002_case_projection.sql"),
    include_str!("../../migrations/postgres/003_console.sql"),
    include_str!("../../migrations/postgres/004_site_identifying.sql"),
    include_str!("../../migrations/postgres/005_quarantine.sql"),
    include_str!("../../migrations/postgres/006_staff_on_devices.sql"),
    include_str!("../../migrations/postgres/009_epoch.sql"),
];

/// The schema version this code writes (the same numbering as the SQLite schema).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const _: () = assert!(SCHEMA_VERSION == super::sqlite::SCHEMA_VERSION);

/// The advisory lock that serialises migrations of concurrently starting servers.
const MIGRATION_LOCK: i64 = 0x5741_5244_4352_4601;

impl From<::postgres::Error> for RepoError {
    fn from(e: ::postgres::Error) -> Self {
        // The server's own words ("terminating connection due to administrator command"),
        // not its detail line, which can quote row values.
        RepoError::Storage(match e.as_db_error() {
            Some(db) => format!("PostgreSQL: {}", db.message()),
            None => e.to_string(),
        })
    }
}

mod statements;
mod ward;
use statements::{Cached, Step};

/// One connection to the repository's PostgreSQL database (the server keeps a pool of them).
pub struct PostgresStorage {
    client: Client,
    /// Inside [`Repository::begin`]: steps run in that transaction.
    in_batch: bool,
    statements: HashMap<&'static str, Statement>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// The connection, with statements prepared once.
    fn db(&mut self) -> Cached<'_> {
        Cached {
            client: &mut self.client,
            statements: &mut self.statements,
        }
    }

    /// Runs `f` atomically: in its own transaction, or as part of the open
    /// [`Repository::begin`] (whose rollback then undoes it with the rest).
    fn atomic<T>(
        &mut self,
        f: impl FnOnce(&mut Step<'_>) -> Result<T, ::postgres::Error>,
    ) -> Result<T, ::postgres::Error> {
        if self.in_batch {
            f(&mut Step::Open(self.db()))
        } else {
            let mut step = Step::Own(self.client.transaction()?);
            let out = f(&mut step)?;
            if let Step::Own(tx) = step {
                tx.commit()?;
            }
            Ok(out)
        }
    }

    /// Connects to `url` (`postgres://user@host:port/db`, without TLS) and migrates.
    pub fn connect(url: &str) -> Result<PostgresStorage, RepoError> {
        let config: Config = url
            .parse()
            .map_err(|e: ::postgres::Error| RepoError::Storage(format!("bad database URL: {e}")))?;
        Self::connect_with(&config)
    }

    /// Connects with an explicit configuration (tests set a search path) and migrates.
    pub fn connect_with(config: &Config) -> Result<PostgresStorage, RepoError> {
        let mut client = config.connect(NoTls)?;
        migrate(&mut client)?;
        Ok(PostgresStorage {
            client,
            in_batch: false,
            statements: HashMap::new(),
        })
    }
}

/// Applies every migration the database lacks, each in its own transaction under an advisory
/// lock; refuses a database written by a newer version.
pub fn migrate(client: &mut Client) -> Result<u32, RepoError> {
    loop {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version    INTEGER PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             )",
        )?;
        let found: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
            .get(0);
        let found = u32::try_from(found).unwrap_or(0);
        // One at a time, each with its own commit, the version read again under the lock.
        let Some((next, sql)) = wardcrf_core::migrate::due(found, MIGRATIONS)?.next() else {
            tx.commit()?;
            return Ok(SCHEMA_VERSION);
        };
        tx.batch_execute(sql)?;
        let next = i32::try_from(next).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO schema_version (version, applied_at)
             VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)",
            &[&next],
        )?;
        tx.commit()?;
    }
}

impl Repository for PostgresStorage {
    fn create_site(&mut self, site_id: &str, name: &str, now: u64) -> Result<(), RepoError> {
        // One statement: atomic alone, and part of an open `begin` when there is one.
        let n = self.db().execute(
            "INSERT INTO sites (site_id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (site_id) DO NOTHING",
            &[&site_id, &name, &to_i64(now)],
        )?;
        if n == 0 {
            return Err(RepoError::SiteExists);
        }
        Ok(())
    }

    fn sites(&mut self) -> Result<Vec<SiteSummary>, RepoError> {
        Ok(self.db().all(
            "SELECT s.site_id, s.name,
                    (SELECT COUNT(*) FROM devices d WHERE d.site_id = s.site_id),
                    (SELECT COUNT(*) FROM cases c WHERE c.site_id = s.site_id),
                    s.identifying_on_device
             FROM sites s ORDER BY s.site_id",
            &[],
            site_summary,
        )?)
    }

    fn keep_identifying_on_device(&mut self, site_id: &str) -> Result<(), RepoError> {
        let n = self.db().execute(
            "UPDATE sites SET identifying_on_device = TRUE WHERE site_id = $1",
            &[&site_id],
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
        let mut tx = self.client.transaction()?;
        // FOR SHARE: the site cannot vanish before the code referring to it is stored.
        let exists = tx
            .query_opt(
                "SELECT 1 FROM sites WHERE site_id = $1 FOR SHARE",
                &[&site_id],
            )?
            .is_some();
        if !exists {
            return Err(RepoError::UnknownSite);
        }
        tx.execute(
            "INSERT INTO enroll_codes (code_sha256, site_id, expires_at) VALUES ($1, $2, $3)",
            &[&code_sha256, &site_id, &to_i64(expires_at)],
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
        let mut tx = self.client.transaction()?;
        // FOR UPDATE: two enrolments with one code cannot both see it unused.
        let code = tx.query_opt(
            "SELECT site_id, expires_at, used FROM enroll_codes WHERE code_sha256 = $1
             FOR UPDATE",
            &[&code_sha256],
        )?;
        let Some(code) = code else {
            return Err(RepoError::InvalidCode);
        };
        let site_id: String = code.try_get(0)?;
        usable_code(code.try_get(2)?, code.try_get(1)?, now)?;
        let n = tx.execute(
            "INSERT INTO devices (device_id, site_id, token_sha256, enrolled_at, device_key)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO NOTHING",
            &[
                &device_id,
                &site_id,
                &token_sha256,
                &to_i64(now),
                &device_key,
            ],
        )?;
        if n == 0 {
            // Dropping the transaction rolls it back: the code stays unused.
            return Err(RepoError::DeviceExists);
        }
        tx.execute(
            "UPDATE enroll_codes SET used = TRUE WHERE code_sha256 = $1",
            &[&code_sha256],
        )?;
        tx.commit()?;
        Ok(site_id)
    }

    fn devices(&mut self) -> Result<Vec<DeviceInfo>, RepoError> {
        Ok(self.db().all(
            "SELECT device_id, site_id, enrolled_at, last_sync_at, revoked
             FROM devices ORDER BY site_id, device_id",
            &[],
            device_info,
        )?)
    }

    fn revoke_device(&mut self, device_id: &str) -> Result<(), RepoError> {
        let n = self.db().execute(
            "UPDATE devices SET revoked = TRUE WHERE device_id = $1",
            &[&device_id],
        )?;
        if n == 0 {
            return Err(RepoError::UnknownDevice);
        }
        Ok(())
    }

    fn device_by_token(&mut self, token_sha256: &[u8]) -> Result<Option<DeviceAuth>, RepoError> {
        Ok(self.db().one(
            "SELECT d.device_id, d.site_id, d.revoked, s.identifying_on_device
             FROM devices d JOIN sites s ON s.site_id = d.site_id
             WHERE d.token_sha256 = $1",
            &[&token_sha256],
            device_auth,
        )?)
    }

    fn record_sync(&mut self, device_id: &str, now: u64) -> Result<(), RepoError> {
        self.db().execute(
            "UPDATE devices SET last_sync_at = $2 WHERE device_id = $1",
            &[&device_id, &to_i64(now)],
        )?;
        Ok(())
    }

    fn put_projection(&mut self, p: &ProjectionRow) -> Result<(), RepoError> {
        self.db().execute(
            "INSERT INTO case_projection (case_id, site_id, form_id, modules, status, deleted,
                 \"values\", conflicts, n_conflicts, flags, n_flags, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (case_id) DO UPDATE SET
                 site_id = excluded.site_id, form_id = excluded.form_id,
                 modules = excluded.modules, status = excluded.status,
                 deleted = excluded.deleted, \"values\" = excluded.\"values\",
                 conflicts = excluded.conflicts, n_conflicts = excluded.n_conflicts,
                 flags = excluded.flags, n_flags = excluded.n_flags,
                 updated_at = excluded.updated_at",
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
            ],
        )?;
        Ok(())
    }

    fn projections(&mut self, q: &CaseQuery) -> Result<Vec<CaseListItem>, RepoError> {
        Ok(self.db().all(
            "SELECT case_id, site_id, form_id, status, deleted, n_conflicts, n_flags, updated_at
             FROM case_projection
             WHERE ($1::TEXT IS NULL OR site_id = $1) AND ($2::TEXT IS NULL OR status = $2)
               AND ($3::BOOLEAN IS NULL OR (n_flags > 0) = $3)
               AND ($4::BOOLEAN IS NULL OR (n_conflicts > 0) = $4)
             ORDER BY site_id, case_id",
            &[&q.site_id, &q.status, &q.flagged, &q.conflicts],
            case_list_item,
        )?)
    }

    fn projection(&mut self, case_id: &str) -> Result<Option<ProjectionRow>, RepoError> {
        Ok(self.db().one(
            "SELECT case_id, site_id, form_id, modules, status, deleted, \"values\",
                    conflicts, n_conflicts, flags, n_flags, updated_at
             FROM case_projection WHERE case_id = $1",
            &[&case_id],
            projection_row,
        )?)
    }

    fn is_broken(&mut self) -> bool {
        self.client.is_closed()
    }

    fn in_transaction(&self) -> bool {
        self.in_batch
    }

    fn begin(&mut self) -> Result<(), RepoError> {
        self.client.batch_execute("BEGIN")?;
        self.in_batch = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), RepoError> {
        self.in_batch = false;
        self.client.batch_execute("COMMIT")?;
        Ok(())
    }

    fn rollback(&mut self) {
        if std::mem::take(&mut self.in_batch) {
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }

    fn cases_without_projection(&mut self) -> Result<Vec<String>, RepoError> {
        Ok(self.db().all(
            "SELECT c.case_id FROM cases c
             LEFT JOIN case_projection p ON p.case_id = c.case_id
             WHERE p.case_id IS NULL ORDER BY c.case_id",
            &[],
            |r| r.try_get(0),
        )?)
    }

    fn create_staff(&mut self, u: &StaffRecord) -> Result<bool, RepoError> {
        let n = self.db().execute(
            "INSERT INTO staff_users (username, role, site_id, password_hash, failed_logins,
                 locked_until, disabled, created_at, display_name)
             VALUES ($1, $2, $3, $4, 0, NULL, $5, $6, $7) ON CONFLICT (username) DO NOTHING",
            &[
                &u.username,
                &u.role,
                &u.site_id,
                &u.password_hash,
                &u.disabled,
                &to_i64(u.created_at),
                &u.display_name,
            ],
        )?;
        Ok(n == 1)
    }

    fn staff_users(&mut self) -> Result<Vec<StaffRecord>, RepoError> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff_users ORDER BY username");
        let rows = self.client.query(sql.as_str(), &[])?;
        Ok(rows.iter().map(staff_record).collect::<Result<_, _>>()?)
    }

    fn staff_user(&mut self, username: &str) -> Result<Option<StaffRecord>, RepoError> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff_users WHERE username = $1");
        let row = self.client.query_opt(sql.as_str(), &[&username])?;
        Ok(row.as_ref().map(staff_record).transpose()?)
    }

    fn record_login_failure(
        &mut self,
        username: &str,
        now: u64,
        max_failures: u64,
        lock_secs: u64,
    ) -> Result<Option<u64>, RepoError> {
        let mut tx = self.client.transaction()?;
        // FOR UPDATE: concurrent failures are all counted.
        let Some(row) = tx.query_opt(
            "SELECT failed_logins, locked_until FROM staff_users WHERE username = $1
             FOR UPDATE",
            &[&username],
        )?
        else {
            return Ok(None);
        };
        let (failed, locked_until) = next_lock_state(
            row.count(0)?,
            row.count_opt(1)?,
            now,
            max_failures,
            lock_secs,
        );
        tx.execute(
            "UPDATE staff_users SET failed_logins = $2, locked_until = $3 WHERE username = $1",
            &[&username, &to_i64(failed), &locked_until.map(to_i64)],
        )?;
        tx.commit()?;
        Ok(locked_until.filter(|&t| t > now))
    }

    fn record_login_success(&mut self, username: &str) -> Result<(), RepoError> {
        self.db().execute(
            "UPDATE staff_users SET failed_logins = 0, locked_until = NULL WHERE username = $1",
            &[&username],
        )?;
        Ok(())
    }

    fn set_staff_disabled(&mut self, username: &str, disabled: bool) -> Result<bool, RepoError> {
        let mut tx = self.client.transaction()?;
        let n = tx.execute(
            "UPDATE staff_users SET disabled = $2 WHERE username = $1",
            &[&username, &disabled],
        )?;
        if disabled {
            tx.execute(
                "DELETE FROM staff_sessions WHERE username = $1",
                &[&username],
            )?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn set_staff_password(
        &mut self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, RepoError> {
        let mut tx = self.client.transaction()?;
        let n = tx.execute(
            "UPDATE staff_users SET password_hash = $2, failed_logins = 0, locked_until = NULL,
                 credential_epoch = credential_epoch + 1
             WHERE username = $1",
            &[&username, &password_hash],
        )?;
        tx.execute(
            "DELETE FROM staff_sessions WHERE username = $1",
            &[&username],
        )?;
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
        self.db().execute(
            "INSERT INTO staff_sessions (token_sha256, username, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &token_sha256,
                &username,
                &csrf_token,
                &to_i64(now),
                &to_i64(expires_at),
            ],
        )?;
        Ok(())
    }

    fn session(
        &mut self,
        token_sha256: &[u8],
        now: u64,
    ) -> Result<Option<StaffSession>, RepoError> {
        Ok(self.db().one(
            "SELECT u.username, u.role, u.site_id, s.csrf_token, s.expires_at
             FROM staff_sessions s JOIN staff_users u ON u.username = s.username
             WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND NOT u.disabled",
            &[&token_sha256, &to_i64(now)],
            staff_session,
        )?)
    }

    fn delete_session(&mut self, token_sha256: &[u8]) -> Result<(), RepoError> {
        self.db().execute(
            "DELETE FROM staff_sessions WHERE token_sha256 = $1",
            &[&token_sha256],
        )?;
        Ok(())
    }

    fn delete_expired_sessions(&mut self, now: u64) -> Result<u64, RepoError> {
        Ok(self.db().execute(
            "DELETE FROM staff_sessions WHERE expires_at <= $1",
            &[&to_i64(now)],
        )?)
    }

    fn epoch(&mut self) -> Result<String, RepoError> {
        let row = self
            .db()
            .query_one("SELECT epoch FROM repository_epoch WHERE id = 1", &[])?;
        Ok(row.get(0))
    }

    fn new_epoch(&mut self) -> Result<String, RepoError> {
        let row = self.db().query_one(
            "UPDATE repository_epoch SET epoch = replace(gen_random_uuid()::text, '-', '')
             WHERE id = 1 RETURNING epoch",
            &[],
        )?;
        Ok(row.get(0))
    }
}

impl HubStorage for PostgresStorage {
    type Error = ::postgres::Error;

    fn case(&mut self, case_id: &str) -> Result<Option<StoredCase>, Self::Error> {
        self.db().one(
            "SELECT site_id, form_id, doc, seq FROM cases WHERE case_id = $1",
            &[&case_id],
            stored_case,
        )
    }

    fn put_case(
        &mut self,
        case_id: &str,
        site: &str,
        form_id: &str,
        doc: &[u8],
    ) -> Result<u64, Self::Error> {
        self.atomic(|tx| {
            let seq = next_seq(tx, site)?;
            // Never moves a case to another site: no row comes back, an error (rolled back).
            tx.query_one(
                "INSERT INTO cases (case_id, site_id, form_id, doc, seq)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (case_id) DO UPDATE SET
                     form_id = excluded.form_id, doc = excluded.doc, seq = excluded.seq
                 WHERE cases.site_id = excluded.site_id
                 RETURNING seq",
                &[&case_id, &site, &form_id, &doc, &seq],
            )?;
            Ok(to_u64(seq))
        })
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
        self.atomic(|tx| {
            let seq = next_seq(tx, site)?;
            // Under READ COMMITTED a concurrent insert of the same id waits for the other
            // transaction and then does nothing; a concurrent update makes the seq test fail.
            let n = match read_seq {
                None => tx.execute(
                    "INSERT INTO cases (case_id, site_id, form_id, doc, seq, pushed_by)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO NOTHING",
                    &[&case_id, &site, &form_id, &doc, &seq, &device],
                )?,
                Some(read) => tx.execute(
                    "UPDATE cases SET form_id = $3, doc = $4, seq = $5, pushed_by = $6
                     WHERE case_id = $1 AND site_id = $2 AND seq = $7",
                    &[
                        &case_id,
                        &site,
                        &form_id,
                        &doc,
                        &seq,
                        &device,
                        &to_i64(read),
                    ],
                )?,
            };
            if n == 1 {
                return Ok(Put::Stored(to_u64(seq)));
            }
            let holder = tx
                .query_opt("SELECT site_id FROM cases WHERE case_id = $1", &[&case_id])?
                .map(|r| r.try_get(0))
                .transpose()?;
            Ok(refused_push(holder, site))
        })
    }

    fn cases_after(
        &mut self,
        site: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, Self::Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db().all(
            "SELECT case_id, seq FROM cases WHERE site_id = $1 AND seq > $2
             ORDER BY seq LIMIT $3",
            &[&site, &to_i64(after), &limit],
            |r| Ok((r.text(0)?, r.count(1)?)),
        )
    }

    fn device_heads(
        &mut self,
        device: &str,
        case_id: &str,
    ) -> Result<Option<Vec<u8>>, Self::Error> {
        self.db().one(
            "SELECT heads FROM device_known WHERE device_id = $1 AND case_id = $2",
            &[&device, &case_id],
            |r| r.bytes(0),
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
        self.db().execute(
            "INSERT INTO device_sent (device_id, case_id, heads, seq) VALUES ($1, $2, $3, $4)
             ON CONFLICT (device_id, case_id) DO UPDATE SET
                 heads = excluded.heads, seq = excluded.seq",
            &[&device, &case_id, &heads, &to_i64(seq)],
        )?;
        Ok(())
    }

    fn confirm(&mut self, device: &str, cursor: u64) -> Result<(), Self::Error> {
        self.atomic(|tx| {
            // The latest heads sent per case win (as in memory and in SQLite); PostgreSQL
            // cannot upsert one row twice in a statement, so pick them with DISTINCT ON.
            tx.execute(
                "INSERT INTO device_known (device_id, case_id, heads)
                 SELECT DISTINCT ON (case_id) device_id, case_id, heads FROM device_sent
                 WHERE device_id = $1 AND seq <= $2 ORDER BY case_id, id DESC
                 ON CONFLICT (device_id, case_id) DO UPDATE SET heads = excluded.heads",
                &[&device, &to_i64(cursor)],
            )?;
            tx.execute(
                "DELETE FROM device_sent WHERE device_id = $1 AND seq <= $2",
                &[&device, &to_i64(cursor)],
            )?;
            Ok(())
        })
    }

    fn device_site(&mut self, device: &str) -> Result<Option<String>, Self::Error> {
        self.db().one(
            "SELECT site_id FROM devices WHERE device_id = $1",
            &[&device],
            |r| r.text(0),
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
                 SELECT case_id, site_id, $2, pushed_by, doc, EXTRACT(EPOCH FROM now())::BIGINT
                 FROM cases WHERE case_id = $1
                 ON CONFLICT DO NOTHING",
                &[&case_id, &reason],
            )?;
            tx.query_opt(
                "SELECT case_id, site_id, reason, device_id, first_seen FROM case_quarantine
                 WHERE case_id = $1 AND lifted_at IS NULL",
                &[&case_id],
            )?
            .as_ref()
            .map(quarantined_case)
            .transpose()
        })
    }

    fn release(&mut self, case_id: &str) -> Result<(), Self::Error> {
        self.db().execute(
            "UPDATE case_quarantine SET lifted_at = EXTRACT(EPOCH FROM now())::BIGINT
             WHERE case_id = $1 AND lifted_at IS NULL",
            &[&case_id],
        )?;
        Ok(())
    }

    fn quarantined(&mut self, site: Option<&str>) -> Result<Vec<QuarantinedCase>, Self::Error> {
        self.db().all(
            "SELECT case_id, site_id, reason, device_id, first_seen FROM case_quarantine
             WHERE lifted_at IS NULL AND ($1::TEXT IS NULL OR site_id = $1)
             ORDER BY site_id, case_id",
            &[&site],
            quarantined_case,
        )
    }
}

/// Takes the next sequence number of `site`; the upsert locks the site's row, so concurrent
/// writers get distinct numbers.
fn next_seq(tx: &mut Step<'_>, site: &str) -> Result<i64, ::postgres::Error> {
    tx.query_one(
        "INSERT INTO site_seq (site_id, seq) VALUES ($1, 1)
             ON CONFLICT (site_id) DO UPDATE SET seq = site_seq.seq + 1
             RETURNING seq",
        &[&site],
    )?
    .try_get(0)
}
