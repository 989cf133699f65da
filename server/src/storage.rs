//! The repository's storage: the [`Repository`] trait (sites, enrolment, devices, auth) and
//! its embedded-SQLite implementation [`SqliteStorage`], which also implements the core's
//! [`HubStorage`] for sync. Every method is one transaction.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use wardcrf_core::sync::{HubStorage, Put, QuarantinedCase, StoredCase};

/// Numbered migrations; migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/001_init.sql"),
    include_str!("../migrations/002_case_projection.sql"),
    include_str!("../migrations/003_console.sql"),
    include_str!("../migrations/004_site_identifying.sql"),
    include_str!("../migrations/005_quarantine.sql"),
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Why a repository operation failed; all but [`RepoError::Storage`] are the caller's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    #[error("a site with this id already exists")]
    SiteExists,
    #[error("no such site")]
    UnknownSite,
    #[error("no such device")]
    UnknownDevice,
    #[error("unknown enrolment code")]
    InvalidCode,
    #[error("this enrolment code has already been used")]
    CodeUsed,
    #[error("this enrolment code has expired")]
    CodeExpired,
    #[error("this device is already enrolled")]
    DeviceExists,
    #[error(
        "the repository database was written by a newer wardcrf-server (schema {found}, this version knows {known})"
    )]
    TooNew { found: u32, known: u32 },
    #[error("the repository storage failed: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for RepoError {
    fn from(e: rusqlite::Error) -> Self {
        RepoError::Storage(e.to_string())
    }
}

/// A site as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteSummary {
    pub site_id: String,
    pub name: String,
    pub devices: u64,
    pub cases: u64,
    /// The site keeps identifying data on its devices: never synced.
    pub identifying_on_device: bool,
}

/// An enrolled device as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub device_id: String,
    pub site_id: String,
    pub enrolled_at: u64,
    pub last_sync_at: Option<u64>,
    pub revoked: bool,
}

/// Who a device token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device_id: String,
    pub site_id: String,
    pub revoked: bool,
    /// Its site keeps identifying data on the devices: a push carrying any is refused.
    pub identifying_on_device: bool,
}

/// The stored projection of one case (JSON columns as JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionRow {
    pub case_id: String,
    pub site_id: String,
    pub form_id: String,
    /// JSON array of module ids.
    pub modules: String,
    pub status: String,
    pub deleted: bool,
    /// JSON object of the current values.
    pub values: String,
    /// JSON array of open conflicts.
    pub conflicts: String,
    pub n_conflicts: u64,
    /// JSON `{"errors": [..], "warnings": [..]}`.
    pub flags: String,
    pub n_flags: u64,
    pub updated_at: u64,
}

/// Which projections `GET /api/cases` lists; `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseQuery {
    pub site_id: Option<String>,
    pub status: Option<String>,
    /// Only cases with (true) or without (false) data-quality flags.
    pub flagged: Option<bool>,
    /// Only cases with (true) or without (false) open conflicts.
    pub conflicts: Option<bool>,
}

/// A case as `GET /api/cases` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaseListItem {
    pub case_id: String,
    pub site_id: String,
    pub form_id: String,
    pub status: String,
    pub deleted: bool,
    pub conflicts: u64,
    pub flags: u64,
    pub updated_at: u64,
}

/// A staff user of the web console; the password only as its salted hash.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffRecord {
    pub username: String,
    /// `admin`, `data_manager` or `site_nurse`.
    pub role: String,
    /// A site nurse's site.
    pub site_id: Option<String>,
    pub password_hash: String,
    /// Consecutive failed logins.
    pub failed_logins: u64,
    /// Locked until then (unix seconds) after too many failed logins.
    pub locked_until: Option<u64>,
    pub disabled: bool,
    pub created_at: u64,
}

impl std::fmt::Debug for StaffRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffRecord")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("site_id", &self.site_id)
            .field("password_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A live console session and who holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub username: String,
    pub role: String,
    pub site_id: Option<String>,
    /// The session's synchronizer token, required with every POST.
    pub csrf_token: String,
    pub expires_at: u64,
}

impl std::fmt::Debug for StaffSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffSession")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("site_id", &self.site_id)
            .finish_non_exhaustive()
    }
}

/// Sites, enrolment and devices. Secrets arrive already hashed (SHA-256); a backend never
/// sees a token or code. One implementation per database: [`SqliteStorage`] and
/// [`crate::postgres::PostgresStorage`].
pub trait Repository {
    fn create_site(&mut self, site_id: &str, name: &str, now: u64) -> Result<(), RepoError>;
    fn sites(&mut self) -> Result<Vec<SiteSummary>, RepoError>;
    /// Makes a site keep identifying data on its devices (set when the site is created).
    fn keep_identifying_on_device(&mut self, site_id: &str) -> Result<(), RepoError>;
    /// Creates a site with its setting for identifying data, in one transaction: a site never
    /// exists without its setting.
    fn add_site(
        &mut self,
        site_id: &str,
        name: &str,
        identifying_on_device: bool,
        now: u64,
    ) -> Result<(), RepoError> {
        self.begin()?;
        let made = self.create_site(site_id, name, now).and_then(|()| {
            if identifying_on_device {
                self.keep_identifying_on_device(site_id)?;
            }
            Ok(())
        });
        match made {
            Ok(()) => self.commit(),
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }
    fn create_enroll_code(
        &mut self,
        code_sha256: &[u8],
        site_id: &str,
        expires_at: u64,
    ) -> Result<(), RepoError>;
    /// Uses a code once and enrols the device under the given token hash; returns its site.
    /// Nothing changes when it fails.
    fn enroll(
        &mut self,
        code_sha256: &[u8],
        device_id: &str,
        token_sha256: &[u8],
        now: u64,
    ) -> Result<String, RepoError>;
    fn devices(&mut self) -> Result<Vec<DeviceInfo>, RepoError>;
    fn revoke_device(&mut self, device_id: &str) -> Result<(), RepoError>;
    fn device_by_token(&mut self, token_sha256: &[u8]) -> Result<Option<DeviceAuth>, RepoError>;
    fn record_sync(&mut self, device_id: &str, now: u64) -> Result<(), RepoError>;
    /// Stores (replacing) a case's projection.
    fn put_projection(&mut self, row: &ProjectionRow) -> Result<(), RepoError>;
    /// Projections matching `query`, by site then case id.
    fn projections(&mut self, query: &CaseQuery) -> Result<Vec<CaseListItem>, RepoError>;
    fn projection(&mut self, case_id: &str) -> Result<Option<ProjectionRow>, RepoError>;
    /// Stored cases with no projection yet (stored before projections existed), by case id.
    fn cases_without_projection(&mut self) -> Result<Vec<String>, RepoError>;

    // The web console (src/console): staff users and their sessions. Session tokens arrive
    // hashed, passwords as their salted hash.

    /// Adds a staff user; `false` when the user name is taken.
    fn create_staff(&mut self, user: &StaffRecord) -> Result<bool, RepoError>;
    /// Every staff user, by user name.
    fn staff_users(&mut self) -> Result<Vec<StaffRecord>, RepoError>;
    fn staff_user(&mut self, username: &str) -> Result<Option<StaffRecord>, RepoError>;
    /// Counts a failed login of an existing user. At `max_failures` consecutive failures the
    /// account is locked until `now + lock_secs`; a lock that has run out starts a fresh
    /// count. Returns the end of the lock when the account is locked now.
    fn record_login_failure(
        &mut self,
        username: &str,
        now: u64,
        max_failures: u64,
        lock_secs: u64,
    ) -> Result<Option<u64>, RepoError>;
    /// A successful login: the count of failures starts again.
    fn record_login_success(&mut self, username: &str) -> Result<(), RepoError>;
    /// Disables (ending every session) or enables a user; `false` for an unknown user.
    fn set_staff_disabled(&mut self, username: &str, disabled: bool) -> Result<bool, RepoError>;
    /// Replaces a user's password hash, lifts a lock and ends every session; `false` for an
    /// unknown user.
    fn set_staff_password(
        &mut self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, RepoError>;
    fn create_session(
        &mut self,
        token_sha256: &[u8],
        username: &str,
        csrf_token: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<(), RepoError>;
    /// The session of a token hash, unless it has expired or its user is disabled.
    fn session(&mut self, token_sha256: &[u8], now: u64)
    -> Result<Option<StaffSession>, RepoError>;
    fn delete_session(&mut self, token_sha256: &[u8]) -> Result<(), RepoError>;
    /// Removes expired sessions; returns how many.
    fn delete_expired_sessions(&mut self, now: u64) -> Result<u64, RepoError>;
    /// Whether the database has closed this connection (it is then replaced, never reused).
    fn is_broken(&mut self) -> bool {
        false
    }
    /// Starts one transaction for the steps that follow (a whole sync exchange and its
    /// projections: one commit instead of one per step, and all or nothing).
    fn begin(&mut self) -> Result<(), RepoError>;
    fn commit(&mut self) -> Result<(), RepoError>;
    /// Undoes an open [`Repository::begin`]; does nothing when none is open.
    fn rollback(&mut self);
}

/// The repository in one SQLite database (WAL).
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Connection,
    /// Inside [`Repository::begin`]: steps join that transaction (as savepoints).
    in_batch: bool,
}

impl SqliteStorage {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStorage, RepoError> {
        Self::setup(Connection::open(path)?)
    }

    /// A throwaway database in memory (tests).
    pub fn open_in_memory() -> Result<SqliteStorage, RepoError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<SqliteStorage, RepoError> {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(SqliteStorage {
            conn,
            in_batch: false,
        })
    }
}

/// Applies every migration the database lacks, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<u32, RepoError> {
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(RepoError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
    }
    Ok(SCHEMA_VERSION)
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
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
        let mut stmt = self.conn.prepare(
            "SELECT s.site_id, s.name,
                    (SELECT COUNT(*) FROM devices d WHERE d.site_id = s.site_id),
                    (SELECT COUNT(*) FROM cases c WHERE c.site_id = s.site_id),
                    s.identifying_on_device
             FROM sites s ORDER BY s.site_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SiteSummary {
                site_id: r.get(0)?,
                name: r.get(1)?,
                devices: to_u64(r.get(2)?),
                cases: to_u64(r.get(3)?),
                identifying_on_device: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        if used {
            return Err(RepoError::CodeUsed);
        }
        if to_u64(expires_at) <= now {
            return Err(RepoError::CodeExpired);
        }
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
            "INSERT INTO devices (device_id, site_id, token_sha256, enrolled_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![device_id, site_id, token_sha256, to_i64(now)],
        )?;
        tx.commit()?;
        Ok(site_id)
    }

    fn devices(&mut self) -> Result<Vec<DeviceInfo>, RepoError> {
        let mut stmt = self.conn.prepare(
            "SELECT device_id, site_id, enrolled_at, last_sync_at, revoked
             FROM devices ORDER BY site_id, device_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DeviceInfo {
                device_id: r.get(0)?,
                site_id: r.get(1)?,
                enrolled_at: to_u64(r.get(2)?),
                last_sync_at: r.get::<_, Option<i64>>(3)?.map(to_u64),
                revoked: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        Ok(self
            .conn
            .query_row(
                "SELECT d.device_id, d.site_id, d.revoked, s.identifying_on_device
                 FROM devices d JOIN sites s ON s.site_id = d.site_id
                 WHERE d.token_sha256 = ?1",
                [token_sha256],
                |r| {
                    Ok(DeviceAuth {
                        device_id: r.get(0)?,
                        site_id: r.get(1)?,
                        revoked: r.get(2)?,
                        identifying_on_device: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    fn record_sync(&mut self, device_id: &str, now: u64) -> Result<(), RepoError> {
        self.conn.execute(
            "UPDATE devices SET last_sync_at = ?2 WHERE device_id = ?1",
            params![device_id, to_i64(now)],
        )?;
        Ok(())
    }

    fn put_projection(&mut self, p: &ProjectionRow) -> Result<(), RepoError> {
        self.conn.execute(
            "INSERT INTO case_projection (case_id, site_id, form_id, modules, status, deleted,
                 \"values\", conflicts, n_conflicts, flags, n_flags, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (case_id) DO UPDATE SET
                 site_id = excluded.site_id, form_id = excluded.form_id,
                 modules = excluded.modules, status = excluded.status,
                 deleted = excluded.deleted, \"values\" = excluded.\"values\",
                 conflicts = excluded.conflicts, n_conflicts = excluded.n_conflicts,
                 flags = excluded.flags, n_flags = excluded.n_flags,
                 updated_at = excluded.updated_at",
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
                to_i64(p.updated_at)
            ],
        )?;
        Ok(())
    }

    fn projections(&mut self, q: &CaseQuery) -> Result<Vec<CaseListItem>, RepoError> {
        let mut stmt = self.conn.prepare(
            "SELECT case_id, site_id, form_id, status, deleted, n_conflicts, n_flags, updated_at
             FROM case_projection
             WHERE (?1 IS NULL OR site_id = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR (n_flags > 0) = ?3)
               AND (?4 IS NULL OR (n_conflicts > 0) = ?4)
             ORDER BY site_id, case_id",
        )?;
        let rows = stmt.query_map(params![q.site_id, q.status, q.flagged, q.conflicts], |r| {
            Ok(CaseListItem {
                case_id: r.get(0)?,
                site_id: r.get(1)?,
                form_id: r.get(2)?,
                status: r.get(3)?,
                deleted: r.get(4)?,
                conflicts: to_u64(r.get(5)?),
                flags: to_u64(r.get(6)?),
                updated_at: to_u64(r.get(7)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn projection(&mut self, case_id: &str) -> Result<Option<ProjectionRow>, RepoError> {
        Ok(self
            .conn
            .query_row(
                "SELECT case_id, site_id, form_id, modules, status, deleted, \"values\",
                        conflicts, n_conflicts, flags, n_flags, updated_at
                 FROM case_projection WHERE case_id = ?1",
                [case_id],
                |r| {
                    Ok(ProjectionRow {
                        case_id: r.get(0)?,
                        site_id: r.get(1)?,
                        form_id: r.get(2)?,
                        modules: r.get(3)?,
                        status: r.get(4)?,
                        deleted: r.get(5)?,
                        values: r.get(6)?,
                        conflicts: r.get(7)?,
                        n_conflicts: to_u64(r.get(8)?),
                        flags: r.get(9)?,
                        n_flags: to_u64(r.get(10)?),
                        updated_at: to_u64(r.get(11)?),
                    })
                },
            )
            .optional()?)
    }

    fn cases_without_projection(&mut self) -> Result<Vec<String>, RepoError> {
        let mut stmt = self.conn.prepare(
            "SELECT c.case_id FROM cases c
             LEFT JOIN case_projection p ON p.case_id = c.case_id
             WHERE p.case_id IS NULL ORDER BY c.case_id",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn create_staff(&mut self, u: &StaffRecord) -> Result<bool, RepoError> {
        let n = self.conn.execute(
            "INSERT INTO staff_users (username, role, site_id, password_hash, failed_logins,
                 locked_until, disabled, created_at)
             VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5, ?6) ON CONFLICT (username) DO NOTHING",
            params![
                u.username,
                u.role,
                u.site_id,
                u.password_hash,
                u.disabled,
                to_i64(u.created_at)
            ],
        )?;
        Ok(n == 1)
    }

    fn staff_users(&mut self) -> Result<Vec<StaffRecord>, RepoError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {STAFF_COLUMNS} FROM staff_users ORDER BY username"
        ))?;
        let rows = stmt.query_map([], staff_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn staff_user(&mut self, username: &str) -> Result<Option<StaffRecord>, RepoError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {STAFF_COLUMNS} FROM staff_users WHERE username = ?1"),
                [username],
                staff_record,
            )
            .optional()?)
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
            "UPDATE staff_users SET password_hash = ?2, failed_logins = 0, locked_until = NULL
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
        Ok(self
            .conn
            .query_row(
                "SELECT u.username, u.role, u.site_id, s.csrf_token, s.expires_at
                 FROM staff_sessions s JOIN staff_users u ON u.username = s.username
                 WHERE s.token_sha256 = ?1 AND s.expires_at > ?2 AND u.disabled = 0",
                params![token_sha256, to_i64(now)],
                |r| {
                    Ok(StaffSession {
                        username: r.get(0)?,
                        role: r.get(1)?,
                        site_id: r.get(2)?,
                        csrf_token: r.get(3)?,
                        expires_at: to_u64(r.get(4)?),
                    })
                },
            )
            .optional()?)
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
}

/// The columns of a [`StaffRecord`], in the order [`staff_record`] reads them.
pub(crate) const STAFF_COLUMNS: &str = "username, role, site_id, password_hash, failed_logins, \
     locked_until, disabled, created_at";

fn staff_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<StaffRecord> {
    Ok(StaffRecord {
        username: r.get(0)?,
        role: r.get(1)?,
        site_id: r.get(2)?,
        password_hash: r.get(3)?,
        failed_logins: to_u64(r.get(4)?),
        locked_until: r.get::<_, Option<i64>>(5)?.map(to_u64),
        disabled: r.get(6)?,
        created_at: to_u64(r.get(7)?),
    })
}

/// The failure count and lock after one more failed login (the same rule on every backend):
/// a lock that has run out starts a fresh count; `max_failures` in a row lock the account
/// for `lock_secs`.
pub(crate) fn next_lock_state(
    failed: u64,
    locked_until: Option<u64>,
    now: u64,
    max_failures: u64,
    lock_secs: u64,
) -> (u64, Option<u64>) {
    let failed = match locked_until {
        Some(t) if t <= now => 1,
        _ => failed + 1,
    };
    if failed >= max_failures.max(1) {
        (failed, Some(now + lock_secs))
    } else {
        (failed, None)
    }
}

impl SqliteStorage {
    /// Runs `f` atomically: in its own IMMEDIATE transaction, or as a savepoint of the open
    /// [`Repository::begin`].
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
        self.conn
            .query_row(
                "SELECT site_id, form_id, doc, seq FROM cases WHERE case_id = ?1",
                [case_id],
                |r| {
                    Ok(StoredCase {
                        site: r.get(0)?,
                        form_id: r.get(1)?,
                        doc: r.get(2)?,
                        seq: to_u64(r.get(3)?),
                    })
                },
            )
            .optional()
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
            // Never moves a case to another site: no row changes, an error, rolled back.
            let n = tx.execute(
                "INSERT INTO cases (case_id, site_id, form_id, doc, seq) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (case_id) DO UPDATE SET
                     form_id = excluded.form_id, doc = excluded.doc, seq = excluded.seq
                 WHERE cases.site_id = excluded.site_id",
                params![case_id, site, form_id, doc, seq],
            )?;
            if n != 1 {
                return Err(rusqlite::Error::StatementChangedRows(n));
            }
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
            let n = match read_seq {
                None => tx.execute(
                    "INSERT INTO cases (case_id, site_id, form_id, doc, seq, pushed_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (case_id) DO NOTHING",
                    params![case_id, site, form_id, doc, seq, device],
                )?,
                Some(read) => tx.execute(
                    "UPDATE cases SET form_id = ?3, doc = ?4, seq = ?5, pushed_by = ?6
                     WHERE case_id = ?1 AND site_id = ?2 AND seq = ?7",
                    params![case_id, site, form_id, doc, seq, device, to_i64(read)],
                )?,
            };
            if n == 1 {
                return Ok(Put::Stored(to_u64(seq)));
            }
            // Nothing written; the sequence number taken is left unused (harmless: numbers
            // only need to grow).
            let holder: Option<String> = tx
                .query_row(
                    "SELECT site_id FROM cases WHERE case_id = ?1",
                    [case_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(match holder {
                Some(other) if other != site => Put::OtherSite,
                _ => Put::Changed,
            })
        })
    }

    fn cases_after(
        &mut self,
        site: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, Self::Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT case_id, seq FROM cases WHERE site_id = ?1 AND seq > ?2
             ORDER BY seq LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![site, to_i64(after), limit], |r| {
            Ok((r.get(0)?, to_u64(r.get(1)?)))
        })?;
        rows.collect()
    }

    fn device_heads(
        &mut self,
        device: &str,
        case_id: &str,
    ) -> Result<Option<Vec<u8>>, Self::Error> {
        self.conn
            .query_row(
                "SELECT heads FROM device_known WHERE device_id = ?1 AND case_id = ?2",
                [device, case_id],
                |r| r.get(0),
            )
            .optional()
    }

    fn record_sent(
        &mut self,
        device: &str,
        case_id: &str,
        heads: &[u8],
        seq: u64,
    ) -> Result<(), Self::Error> {
        // One record per device and case: the newest (see the trait).
        self.conn.execute(
            "INSERT INTO device_sent (device_id, case_id, heads, seq) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (device_id, case_id) DO UPDATE SET
                 heads = excluded.heads, seq = excluded.seq",
            params![device, case_id, heads, to_i64(seq)],
        )?;
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
        self.conn
            .query_row(
                "SELECT site_id FROM devices WHERE device_id = ?1",
                [device],
                |r| r.get(0),
            )
            .optional()
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
                quarantined_case,
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
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {QUARANTINE_COLUMNS} FROM case_quarantine
             WHERE lifted_at IS NULL AND (?1 IS NULL OR site_id = ?1)
             ORDER BY site_id, case_id"
        ))?;
        let rows = stmt.query_map([site], quarantined_case)?;
        rows.collect()
    }
}

/// The columns of a [`QuarantinedCase`], in the order [`quarantined_case`] reads them.
pub(crate) const QUARANTINE_COLUMNS: &str = "case_id, site_id, reason, device_id, first_seen";

fn quarantined_case(r: &rusqlite::Row<'_>) -> rusqlite::Result<QuarantinedCase> {
    Ok(QuarantinedCase {
        case_id: r.get(0)?,
        site: r.get(1)?,
        reason: r.get(2)?,
        device: r.get(3)?,
        first_seen: to_u64(r.get(4)?),
    })
}

/// Takes the next sequence number of `site`.
fn next_seq(tx: &Connection, site: &str) -> rusqlite::Result<i64> {
    tx.query_row(
        "INSERT INTO site_seq (site_id, seq) VALUES (?1, 1)
         ON CONFLICT (site_id) DO UPDATE SET seq = seq + 1
         RETURNING seq",
        [site],
        |r| r.get(0),
    )
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

    // The storage contract itself is tests/cases/storage.rs, shared with PostgreSQL.
}
