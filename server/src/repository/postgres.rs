//! The repository in PostgreSQL (`wardcrf-server --database-url postgres://...`):
//! [`PostgresStorage`] implements the same [`Repository`] and core [`HubStorage`] as
//! [`super::SqliteStorage`], with the same tables and the same semantics. Every method is one
//! transaction, or a step of the one open ([`Repository::atomically`]). It uses the blocking
//! client: the API already calls storage off the async threads (`spawn_blocking`). The schema
//! is `server/migrations/postgres/`, numbered as the SQLite one and recorded in
//! `schema_version`.

use super::{
    CaseListItem, CaseQuery, Columns, DeviceAuth, DeviceInfo, ProjectionRow, RepoError, Repository,
    STAFF_COLUMNS, SiteSummary, StaffRecord, StaffSession, device_auth, device_info,
    next_lock_state, quarantined_case, site_summary, staff_record, staff_session, stored_case,
    to_i64, usable_code,
};
use super::{ProjectionBacklog, ProjectionFailure, QueueEntry, QueuedProjection};
use ::postgres::{Client, Config, NoTls, Statement};
use std::collections::HashMap;
use wardcrf_core::repository::{
    HubStorage, PushedDoc, Put, QuarantinedCase, Sent, SiteAuthors, StoredCase,
};

/// Numbered migrations; migration `i` takes the schema from version `i` to `i + 1`. The
/// applied ones are rows of `schema_version`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/001_init.sql"),
    include_str!("../../migrations/postgres/002_case_projection.sql"),
    include_str!("../../migrations/postgres/003_console.sql"),
    include_str!("../../migrations/postgres/004_site_identifying.sql"),
    include_str!("../../migrations/postgres/005_quarantine.sql"),
    include_str!("../../migrations/postgres/006_staff_on_devices.sql"),
    include_str!("../../migrations/postgres/007_projection_queue.sql"),
    include_str!("../../migrations/postgres/008_cluster.sql"),
    include_str!("../../migrations/postgres/009_epoch.sql"),
    include_str!("../../migrations/postgres/010_site_default_units.sql"),
];

/// The migrations (by the version they lead to) that leave the code of the version before
/// them working, so servers of both versions can share the database during a rolling upgrade
/// (`wardcrf_core::migrate::oldest_compatible`; `docs/deploy.md`). List a migration here only
/// when it adds what older code ignores and older code's writes stay right for the newer one.
///
/// - 8 (`repository_secrets`): servers of schema 7 keep their admin token and pseudonym key in
///   their data directory, as before.
/// - 9 (`repository_epoch`): servers of schema 8 speak sync protocol 1, which carries no
///   epoch; the table is theirs to ignore.
///
/// 7 (the projection queue) is not: an older server would project synchronously and leave
/// `projected_seq` behind, so its cases would read as stale.
const ADDITIVE: &[u32] = &[8, 9];

/// The schema version this code writes (the same numbering as the SQLite schema).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const _: () = assert!(SCHEMA_VERSION == super::sqlite::SCHEMA_VERSION);

/// How long the pool waits for an idle connection to answer whether it is alive.
const IS_ALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The advisory lock that serialises migrations of concurrently starting servers.
const MIGRATION_LOCK: i64 = 0x5741_5244_4352_4601;

impl From<::postgres::Error> for RepoError {
    fn from(e: ::postgres::Error) -> Self {
        // The server's own words ("terminating connection due to administrator command"),
        // not its detail line, which can quote row values.
        RepoError::Storage(match e.as_db_error() {
            Some(db) => format!("PostgreSQL: {}", db.message()),
            // A connection's failure with its cause ("error performing TLS handshake: invalid
            // peer certificate: UnknownIssuer"): never a row value.
            None => tls::with_causes(&e),
        })
    }
}

mod projection;
mod puts;
mod statements;
mod tls;
mod ward;
use statements::{Cached, Step};
pub use tls::{DatabaseTarget, DatabaseTlsError, with_causes};

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

    /// Connects to `url` (`postgres://user@host:port/db`; TLS only when it names
    /// `sslmode=require`) and migrates.
    pub fn connect(url: &str) -> Result<PostgresStorage, RepoError> {
        let target = DatabaseTarget::parse(url, None)
            .map_err(|e| RepoError::Storage(tls::with_causes(&e)))?;
        Self::connect_to(&target)
    }

    /// Connects to `target` (over TLS when its settings say so) and migrates.
    pub fn connect_to(target: &DatabaseTarget) -> Result<PostgresStorage, RepoError> {
        Self::open(target.tls.connect(&target.config)?)
    }

    /// Connects with an explicit configuration, without TLS (tests set a search path), and
    /// migrates.
    pub fn connect_with(config: &Config) -> Result<PostgresStorage, RepoError> {
        Self::open(config.connect(NoTls)?)
    }

    fn open(mut client: Client) -> Result<PostgresStorage, RepoError> {
        migrate(&mut client)?;
        Ok(PostgresStorage {
            client,
            in_batch: false,
            statements: HashMap::new(),
        })
    }
}

/// Applies every migration the database lacks, each in its own transaction under an advisory
/// lock; returns the database's schema version. A database a newer server has migrated is used
/// as it is when its migrations since this version were additive (a rolling upgrade: see
/// [`ADDITIVE`]), and refused otherwise.
pub fn migrate(client: &mut Client) -> Result<u32, RepoError> {
    migrate_with(client, MIGRATIONS, ADDITIVE)
}

/// [`migrate`] with a given list of migrations and of the additive ones among them (tests play
/// an older or a newer server with it).
pub fn migrate_with(
    client: &mut Client,
    migrations: &[&str],
    additive: &[u32],
) -> Result<u32, RepoError> {
    let known = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
    loop {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version    INTEGER PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             );
             ALTER TABLE schema_version ADD COLUMN IF NOT EXISTS compatible_from INTEGER",
        )?;
        let row = tx.query_one(
            "SELECT v.version, v.compatible_from FROM schema_version v
             UNION ALL SELECT 0, 0 ORDER BY 1 DESC LIMIT 1",
            &[],
        )?;
        let found = u32::try_from(row.try_get::<_, i32>(0)?).unwrap_or(0);
        let compatible_from = row
            .try_get::<_, Option<i32>>(1)?
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX));
        wardcrf_core::migrate::may_run(found, known, compatible_from)?;
        // One at a time, each with its own commit, the version read again under the lock.
        let Some((next, sql)) = wardcrf_core::migrate::due(found.min(known), migrations)?.next()
        else {
            tx.commit()?;
            return Ok(found);
        };
        tx.batch_execute(sql)?;
        let compatible_from = wardcrf_core::migrate::oldest_compatible(next, additive);
        let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO schema_version (version, applied_at, compatible_from)
             VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT, $2)",
            &[&as_i32(next), &as_i32(compatible_from)],
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
        self.put_projection_row(p)
    }

    fn projections(&mut self, q: &CaseQuery) -> Result<Vec<CaseListItem>, RepoError> {
        self.list_projections(q)
    }

    fn projection(&mut self, case_id: &str) -> Result<Option<ProjectionRow>, RepoError> {
        self.projection_of(case_id)
    }

    fn enqueue_projection(&mut self, case_id: &str, now: u64) -> Result<(), RepoError> {
        self.enqueue(case_id, now)
    }

    fn enqueue_projections(&mut self, case_ids: &[&str], now: u64) -> Result<(), RepoError> {
        self.enqueue_many(case_ids, now)
    }

    fn enqueue_unprojected(&mut self, now: u64) -> Result<u64, RepoError> {
        self.enqueue_all_unprojected(now)
    }

    fn claim_projections(&mut self, limit: usize) -> Result<Vec<QueuedProjection>, RepoError> {
        self.claim(limit)
    }

    fn claims_lock_rows(&self) -> bool {
        true
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

    fn shared_value(
        &mut self,
        name: &str,
        proposed: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, RepoError> {
        // A concurrent insert of the same name waits for the other transaction, then does
        // nothing; the select (a new snapshot under READ COMMITTED) reads the winner's value.
        Ok(self.atomic(|tx| {
            tx.execute(
                "INSERT INTO repository_secrets (name, value, set_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &proposed, &to_i64(now)],
            )?;
            tx.query_one(
                "SELECT value FROM repository_secrets WHERE name = $1",
                &[&name],
            )?
            .try_get(0)
        })?)
    }

    fn is_broken(&mut self) -> bool {
        self.client.is_closed()
    }

    fn is_alive(&mut self) -> bool {
        !self.client.is_closed() && self.client.is_valid(IS_ALIVE_TIMEOUT).is_ok()
    }

    fn probe(&mut self) -> Result<super::Probe, RepoError> {
        let found: i32 = self
            .client
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
            .get(0);
        Ok(super::Probe {
            schema_version: u32::try_from(found).unwrap_or(0),
            in_place: true,
        })
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
        self.unprojected_cases()
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
        read_seq: Option<u64>,
    ) -> Result<Put, Self::Error> {
        self.atomic(|tx| puts::put_checked(tx, case_id, site, form_id, doc, None, read_seq))
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
        self.atomic(|tx| puts::put_checked(tx, case_id, site, form_id, doc, Some(device), read_seq))
    }

    fn put_pushed_many(
        &mut self,
        site: &str,
        device: &str,
        docs: &[PushedDoc<'_>],
    ) -> Result<Vec<Put>, Self::Error> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        self.atomic(|tx| puts::put_checked_many(tx, site, device, docs))
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

    fn cases_by_id(&mut self, case_ids: &[&str]) -> Result<Vec<Option<StoredCase>>, Self::Error> {
        if case_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, StoredCase> = self
            .db()
            .all(
                "SELECT site_id, form_id, doc, seq, case_id FROM cases WHERE case_id = ANY($1)",
                &[&case_ids],
                |r| Ok((r.text(4)?, stored_case(r)?)),
            )?
            .into_iter()
            .collect();
        Ok(case_ids.iter().map(|id| found.remove(*id)).collect())
    }

    fn device_heads_many(
        &mut self,
        device: &str,
        case_ids: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, Self::Error> {
        if case_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, Vec<u8>> = self
            .db()
            .all(
                "SELECT case_id, heads FROM device_known WHERE device_id = $1 AND case_id = ANY($2)",
                &[&device, &case_ids],
                |r| Ok((r.text(0)?, r.bytes(1)?)),
            )?
            .into_iter()
            .collect();
        Ok(case_ids.iter().map(|id| found.remove(*id)).collect())
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

    fn record_sent_many(&mut self, device: &str, sent: &[Sent]) -> Result<(), Self::Error> {
        // One statement for the whole exchange; the cases are each named once (an upsert
        // cannot change one row twice).
        if sent.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = sent.iter().map(|s| s.case_id.as_str()).collect();
        let heads: Vec<&[u8]> = sent.iter().map(|s| s.heads.as_slice()).collect();
        let seqs: Vec<i64> = sent.iter().map(|s| to_i64(s.seq)).collect();
        self.db().execute(
            "INSERT INTO device_sent (device_id, case_id, heads, seq)
             SELECT $1, case_id, heads, seq
             FROM UNNEST($2::text[], $3::bytea[], $4::bigint[]) AS s (case_id, heads, seq)
             ON CONFLICT (device_id, case_id) DO UPDATE SET
                 heads = excluded.heads, seq = excluded.seq",
            &[&device, &ids, &heads, &seqs],
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
