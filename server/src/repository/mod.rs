//! The repository's storage: the [`Repository`] trait (sites, enrolment, devices, auth,
//! projections, console staff and sessions), its error [`RepoError`], the rows it reads and
//! writes, and the transactions a caller asks for with [`Repository::atomically`].
//!
//! Two backends implement it, with the same tables and the same semantics, and both also
//! implement the core's [`HubStorage`] for sync:
//!
//! - [`sqlite`]: [`SqliteStorage`], one embedded SQLite database (WAL), the default;
//! - [`postgres`]: [`PostgresStorage`], a PostgreSQL database (`--database-url`).
//!
//! Each backend also implements [`WardStaff`] (`ward.rs`): staff who sign in on tablets, site
//! settings and device unlock keys.
//!
//! [`pool`] shares connections of either between concurrent requests. The schema of each
//! backend is a numbered list of migrations in `server/migrations/{sqlite,postgres}/`.
//!
//! The rules that do not depend on the database (how a failed login counts, when an enrolment
//! code is usable, what a refused push means) are written here once and used by both.

pub mod pool;
pub mod postgres;
mod queue;
mod rows;
pub mod sqlite;
mod ward;

pub use pool::{Connect, HubPool, Lease, PoolUsage};
pub use postgres::PostgresStorage;
pub use queue::{ProjectionBacklog, ProjectionFailure, QueueEntry, QueuedProjection};
pub(crate) use queue::{projection_failure, queue_entry, queued_projection};
pub use rows::{
    CaseListItem, CaseQuery, DeviceAuth, DeviceInfo, ProjectionRow, SiteSummary, StaffRecord,
    StaffSession,
};
pub(crate) use rows::{
    Columns, QUARANTINE_COLUMNS, STAFF_COLUMNS, case_list_item, device_auth, device_info,
    projection_row, quarantined_case, site_summary, staff_record, staff_session, stored_case,
};
pub use sqlite::SqliteStorage;
pub use ward::WardStaff;

use wardcrf_core::migrate::MigrateError;
use wardcrf_core::repository::{Hub, HubStorage, Put};

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

impl From<MigrateError> for RepoError {
    fn from(e: MigrateError) -> Self {
        match e {
            MigrateError::TooNew { found, known } => RepoError::TooNew { found, known },
            MigrateError::Sqlite(e) => e.into(),
        }
    }
}

/// What one readiness probe found on a connection ([`Repository::probe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The schema version the database is at (the migrations applied to it).
    pub schema_version: u32,
    /// Whether the connection still reaches the database the server opened: false when the
    /// SQLite file was removed or replaced under the running server (its writes would go to
    /// a file nobody reads again).
    pub in_place: bool,
}

/// Sites, enrolment and devices. Secrets arrive already hashed (SHA-256); a backend never
/// sees a token or code. One implementation per database: [`SqliteStorage`] and
/// [`PostgresStorage`].
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
    ) -> Result<(), RepoError>
    where
        Self: Sized,
    {
        self.atomically(|s| {
            s.create_site(site_id, name, now)?;
            if identifying_on_device {
                s.keep_identifying_on_device(site_id)?;
            }
            Ok(())
        })
    }
    fn create_enroll_code(
        &mut self,
        code_sha256: &[u8],
        site_id: &str,
        expires_at: u64,
    ) -> Result<(), RepoError>;
    /// Uses a code once and enrols the device under the given token hash, with its unlock key
    /// (64 hex digits, kept to be handed back: see [`WardStaff`]); returns its site.
    /// Nothing changes when it fails.
    fn enroll(
        &mut self,
        code_sha256: &[u8],
        device_id: &str,
        token_sha256: &[u8],
        device_key: &str,
        now: u64,
    ) -> Result<String, RepoError>;
    fn devices(&mut self) -> Result<Vec<DeviceInfo>, RepoError>;
    fn revoke_device(&mut self, device_id: &str) -> Result<(), RepoError>;
    fn device_by_token(&mut self, token_sha256: &[u8]) -> Result<Option<DeviceAuth>, RepoError>;
    fn record_sync(&mut self, device_id: &str, now: u64) -> Result<(), RepoError>;
    /// Stores a case's projection, replacing the stored one unless that one was made from a
    /// newer document (a larger `projected_seq`): an older projection never wins.
    fn put_projection(&mut self, row: &ProjectionRow) -> Result<(), RepoError>;
    /// Projections matching `query`, by site then case id.
    fn projections(&mut self, query: &CaseQuery) -> Result<Vec<CaseListItem>, RepoError>;
    fn projection(&mut self, case_id: &str) -> Result<Option<ProjectionRow>, RepoError>;
    /// Stored cases with no projection yet (stored before projections existed), by case id.
    fn cases_without_projection(&mut self) -> Result<Vec<String>, RepoError>;

    // The projection queue (`queue.rs`): every writer of a case queues it in its own
    // transaction; workers drain it.

    /// Records that `case_id` needs projecting at the sequence number of its stored document
    /// (as this transaction sees it): one row per case, keeping the newest number and the
    /// oldest enqueue time. A failure recorded for an older document is forgotten.
    fn enqueue_projection(&mut self, case_id: &str, now: u64) -> Result<(), RepoError>;
    /// [`Repository::enqueue_projection`] for the cases one exchange stored (a store may
    /// queue them with one statement).
    fn enqueue_projections(&mut self, case_ids: &[&str], now: u64) -> Result<(), RepoError> {
        for id in case_ids {
            self.enqueue_projection(id, now)?;
        }
        Ok(())
    }
    /// Queues every stored case whose projection is missing or older than its document and
    /// that is not queued yet (cases stored by an older version); returns how many.
    fn enqueue_unprojected(&mut self, now: u64) -> Result<u64, RepoError>;
    /// Up to `limit` waiting cases (failed ones left out), oldest first. On PostgreSQL the
    /// rows are locked until the open transaction ends and rows locked by another one are
    /// skipped (`FOR UPDATE SKIP LOCKED`): call it inside [`Repository::atomically`].
    fn claim_projections(&mut self, limit: usize) -> Result<Vec<QueuedProjection>, RepoError>;
    /// Whether [`Repository::claim_projections`] locks what it returns until the transaction
    /// ends (PostgreSQL). Where a claim is a plain read (SQLite), a worker projects outside
    /// any transaction and writes what it made in a short one: a transaction there holds the
    /// database's only write lock, which every sync exchange needs.
    fn claims_lock_rows(&self) -> bool;
    /// Removes the case's queue row unless it waits for a document newer than `seq`.
    fn dequeue_projection(&mut self, case_id: &str, seq: u64) -> Result<(), RepoError>;
    /// Records that the case's document at `seq` cannot be projected (unless a newer one is
    /// queued meanwhile): it is shown, and not tried again until a newer document is stored.
    fn fail_projection(
        &mut self,
        case_id: &str,
        seq: u64,
        reason: &str,
        now: u64,
    ) -> Result<(), RepoError>;
    /// How far the projections trail the stored documents at `now`.
    fn projection_backlog(&mut self, now: u64) -> Result<ProjectionBacklog, RepoError>;
    /// The cases that could not be projected, by site then case id.
    fn projection_failures(&mut self) -> Result<Vec<ProjectionFailure>, RepoError>;
    /// The case's queue row, when its projection is older than its document.
    fn queued_projection(&mut self, case_id: &str) -> Result<Option<QueueEntry>, RepoError>;

    /// Stores a projection made by a worker from the document at `row.projected_seq` (never
    /// over one made from a newer document: see [`Repository::put_projection`]) and removes
    /// the queue row unless a newer document waits, in one transaction.
    fn complete_projection(&mut self, row: &ProjectionRow) -> Result<(), RepoError>
    where
        Self: Sized,
    {
        // The queue row first: every writer locks the queue row before the projection row.
        self.atomically(|s| {
            s.dequeue_projection(&row.case_id, row.projected_seq)?;
            s.put_projection(row)
        })
    }

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
    /// Replaces a user's password hash, lifts a lock, ends every session and raises the
    /// user's credential epoch (devices then ask for an online sign-in); `false` for an
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
    /// Readiness: one trivial query answered by the database (the schema version it is at),
    /// and whether the connection still reaches the database the server opened.
    fn probe(&mut self) -> Result<Probe, RepoError>;
    /// The value shared by every server process of this repository under `name`: the one
    /// recorded first. Records `proposed` when none is recorded yet, so that processes
    /// starting at the same time agree (one insert wins; the others read it).
    fn shared_value(&mut self, name: &str, proposed: &[u8], now: u64)
    -> Result<Vec<u8>, RepoError>;
    /// The repository's epoch: a random id made with the database and replaced by a restore.
    /// Every sync answer carries it, so devices learn when the repository went back in time.
    fn epoch(&mut self) -> Result<String, RepoError>;
    /// Replaces the epoch with a new random one (after the database was restored from a
    /// backup) and returns it.
    fn new_epoch(&mut self) -> Result<String, RepoError>;
    /// Whether the database has closed this connection (it is then replaced, never reused).
    fn is_broken(&mut self) -> bool {
        false
    }
    /// Whether this connection still reaches the database, asked of the database (a round
    /// trip where there is one); the pool asks an idle connection after another one was found
    /// closed.
    fn is_alive(&mut self) -> bool {
        !self.is_broken()
    }
    /// Background upkeep of the database files, off the exchanges' path (called by the
    /// projection workers at low priority): on SQLite, a passive checkpoint of the
    /// write-ahead log, which a commit would otherwise do in the middle of an exchange.
    /// Nothing on PostgreSQL, which keeps its own.
    fn upkeep(&mut self) -> Result<(), RepoError> {
        Ok(())
    }

    /// Runs `f` in one transaction (for example a whole sync exchange and its projections:
    /// one commit instead of one per step, and all or nothing). What `f` does is committed
    /// when it returns `Ok`, and undone when it returns `Err` or when the commit fails (the
    /// commit's error is then returned).
    ///
    /// A call made while a transaction is already open on this connection joins it: `f` runs
    /// in that transaction, and the outermost call alone commits or rolls back. An error of
    /// the inner call therefore undoes its work only when it reaches the outermost call;
    /// return it, do not swallow it.
    fn atomically<R, E: From<RepoError>>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, E>,
    ) -> Result<R, E>
    where
        Self: Sized,
    {
        run_atomically(self, |s| s, f)
    }

    /// Whether a transaction opened by [`Repository::begin`] is open on this connection.
    fn in_transaction(&self) -> bool;
    /// Starts one transaction for the steps that follow; prefer [`Repository::atomically`],
    /// which always ends it.
    fn begin(&mut self) -> Result<(), RepoError>;
    /// Commits the open [`Repository::begin`]; a failed commit leaves nothing of it.
    fn commit(&mut self) -> Result<(), RepoError>;
    /// Undoes an open [`Repository::begin`]; does nothing when none is open.
    fn rollback(&mut self);
}

/// [`Repository::atomically`] for a sync [`Hub`] over a repository storage: `f` gets the
/// hub (so it can write a prepared exchange with [`Hub::write`]) and everything it stores
/// through the hub's storage is one transaction, with the same rules (a call while one is
/// open joins it).
pub trait AtomicHub {
    fn atomically<R, E: From<RepoError>>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, E>,
    ) -> Result<R, E>;
}

impl<S: HubStorage + Repository> AtomicHub for Hub<S> {
    fn atomically<R, E: From<RepoError>>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, E>,
    ) -> Result<R, E> {
        run_atomically(self, |hub| &mut hub.storage, f)
    }
}

/// Runs `f` on `target` in one transaction of the storage that `storage` reaches from it;
/// see [`Repository::atomically`].
fn run_atomically<T, S: Repository, R, E: From<RepoError>>(
    target: &mut T,
    storage: fn(&mut T) -> &mut S,
    f: impl FnOnce(&mut T) -> Result<R, E>,
) -> Result<R, E> {
    if storage(target).in_transaction() {
        return f(target);
    }
    storage(target).begin()?;
    match f(target) {
        Ok(out) => {
            storage(target).commit()?;
            Ok(out)
        }
        Err(e) => {
            storage(target).rollback();
            Err(e)
        }
    }
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
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

/// Whether an enrolment code found with these columns may enrol a device `now`.
pub(crate) fn usable_code(used: bool, expires_at: i64, now: u64) -> Result<(), RepoError> {
    if used {
        return Err(RepoError::CodeUsed);
    }
    if to_u64(expires_at) <= now {
        return Err(RepoError::CodeExpired);
    }
    Ok(())
}

/// What a push that wrote nothing means, from the site of the case stored under its id now
/// (if any): a case of another site, or a case changed since the device read it (or created
/// meanwhile). The sequence number the attempt took is left unused (harmless: numbers only
/// need to grow).
pub(crate) fn refused_push(holder: Option<String>, site: &str) -> Put {
    match holder {
        Some(other) if other != site => Put::OtherSite,
        _ => Put::Changed,
    }
}
