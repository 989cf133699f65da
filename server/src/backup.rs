//! Backups of the repository and restoring one: `wardcrf-server backup`, `restore` and
//! `new-epoch`.
//!
//! - SQLite (`DIR/repository.db`): a backup is a consistent copy taken while servers keep
//!   serving (`VACUUM INTO` reads one snapshot of the WAL database), written to a new file of
//!   mode 0600. A restore checks that the file is a WardCRF repository this binary can open,
//!   refuses while a server holds the data directory ([`DataDirLock`]: every server holds a
//!   shared `flock` on `DIR/repository.lock`, a restore needs it exclusively), brings the copy
//!   to the current schema, gives it a new epoch, keeps the replaced database beside it, and
//!   puts the copy in place with one rename.
//! - PostgreSQL (`--database-url`): `pg_dump -Fc` and `pg_restore --clean --if-exists`, when
//!   those tools are on the PATH (else a clear error: use them by hand, docs/deploy.md); a
//!   restore refuses while other sessions use the database and sets a new epoch afterwards.
//!
//! The epoch (`repository_epoch`) tells devices the repository went back in time: they then
//! push again what the backup lacks ([`wardcrf_core::sync::SyncResponse::epoch`]). A backup
//! holds patient data; the admin token and the pseudonym key are files of the data directory
//! and are not in it.

use crate::repository::{PostgresStorage, RepoError, Repository, SqliteStorage};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The file of the data directory every server holds a shared lock on while it runs.
pub const LOCK_FILE: &str = "repository.lock";

/// Why a backup or a restore failed; nothing is replaced then.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{} already exists: choose a new file name for the backup, or remove it first", .0.display())]
    Exists(PathBuf),
    #[error("there is no repository at {}: is --data right?", .0.display())]
    NoRepository(PathBuf),
    #[error(
        "a wardcrf-server is running on {}: stop every server that uses this data directory, \
         then restore",
        .0.display()
    )]
    InUse(PathBuf),
    #[error(
        "{0} other session(s) use the database: stop every wardcrf-server (and any other \
         client) that uses it, then restore"
    )]
    DatabaseInUse(i64),
    #[error("a restore of {} is under way: wait for it to finish", .0.display())]
    Restoring(PathBuf),
    #[error("{} is not a WardCRF repository backup: {why}", path.display())]
    NotARepository { path: PathBuf, why: String },
    #[error(
        "{} holds a repository of schema {found}; this wardcrf-server reads up to {known}: \
         restore it with the newer wardcrf-server that wrote it",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("{} is not a path this command can pass to SQLite (not UTF-8)", .0.display())]
    Path(PathBuf),
    #[error("SQLite, {what}: {source}")]
    Sqlite {
        what: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the repository: {0}")]
    Repo(#[from] RepoError),
    #[error("the database URL cannot be read: {0}")]
    Url(#[source] ::postgres::Error),
    #[error(
        "{tool} was not found on the PATH: install the PostgreSQL client tools (of the \
         database's major version), or run {tool} yourself as docs/deploy.md describes"
    )]
    ToolMissing {
        tool: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{tool} failed ({status}); its messages are above")]
    ToolFailed {
        tool: &'static str,
        status: ExitStatus,
    },
    #[error("PostgreSQL: {0}")]
    Postgres(#[source] ::postgres::Error),
}

fn io_err(path: &Path, what: &'static str) -> impl FnOnce(io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io { path, what, source }
}

fn sqlite_err(what: &'static str) -> impl FnOnce(rusqlite::Error) -> BackupError {
    move |source| BackupError::Sqlite { what, source }
}

/// A server's hold on its data directory: a shared lock on [`LOCK_FILE`] for as long as this
/// value lives. Any number of servers may hold it; a restore cannot while one does.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Opens (creating, mode 0600) the lock file of `data`.
fn lock_file(data: &Path) -> Result<(PathBuf, File), BackupError> {
    let path = data.join(LOCK_FILE);
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&path)
        .map_err(io_err(&path, "cannot open the lock file"))?;
    Ok((path, file))
}

/// Takes the shared lock a running server holds on `data` ([`DataDirLock`]); refused while a
/// restore holds it.
pub fn hold_data_dir(data: &Path) -> Result<DataDirLock, BackupError> {
    let (path, file) = lock_file(data)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::Restoring(data.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path, "cannot lock")(e)),
    }
}

/// A new file of mode 0600 at `path`, which must not exist.
fn create_private(path: &Path) -> Result<File, BackupError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(io_err(path, "cannot create the file"))
}

/// A temporary name beside `path` (same directory: a rename is then atomic).
fn beside(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
}

/// Makes the file `partial` durable and gives it the name `out` (refused if `out` exists, so a
/// backup never replaces another by mistake); `partial` is removed either way.
fn publish(partial: &Path, out: &Path) -> Result<(), BackupError> {
    let outcome = File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(io_err(partial, "cannot write the backup"))
        .and_then(|()| match std::fs::hard_link(partial, out) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(BackupError::Exists(out.to_path_buf()))
            }
            Err(e) => Err(io_err(out, "cannot create the backup")(e)),
        });
    let _ = std::fs::remove_file(partial);
    outcome?;
    sync_dir(out);
    Ok(())
}

/// Makes a rename in the directory of `path` durable (best effort).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
}

fn utf8(path: &Path) -> Result<&str, BackupError> {
    path.to_str()
        .ok_or_else(|| BackupError::Path(path.to_path_buf()))
}

/// Writes a consistent copy of the SQLite repository of `data` to the new file `out` (mode
/// 0600), while servers go on serving.
pub fn backup_sqlite(data: &Path, out: &Path) -> Result<(), BackupError> {
    let db = data.join(crate::serve::DATABASE_FILE);
    if !db.is_file() {
        return Err(BackupError::NoRepository(data.to_path_buf()));
    }
    if out.exists() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let partial = beside(out, "partial");
    drop(create_private(&partial)?);
    let copied = (|| {
        let conn = rusqlite::Connection::open_with_flags(
            &db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_err("opening the repository"))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sqlite_err("opening the repository"))?;
        // One read transaction: the copy is the database as of one commit.
        conn.execute("VACUUM INTO ?1", [utf8(&partial)?])
            .map_err(sqlite_err("copying the repository"))?;
        drop(conn);
        // A file of its own, without a WAL beside it.
        let copy = rusqlite::Connection::open(&partial).map_err(sqlite_err("writing the copy"))?;
        copy.pragma_update(None, "journal_mode", "DELETE")
            .map_err(sqlite_err("writing the copy"))?;
        drop(copy);
        check_sqlite(&partial).map(|_| ())
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    publish(&partial, out)
}

/// Checks that `file` is a sound SQLite WardCRF repository this binary can open; returns its
/// schema version.
pub fn check_sqlite(file: &Path) -> Result<u32, BackupError> {
    let not = |why: String| BackupError::NotARepository {
        path: file.to_path_buf(),
        why,
    };
    if !file.is_file() {
        return Err(not("there is no such file".into()));
    }
    let conn =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| not(format!("SQLite cannot open it ({e})")))?;
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not(format!("not an SQLite database ({e})")))?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('sites', 'devices', 'cases')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| not(format!("not an SQLite database ({e})")))?;
    if version == 0 || tables != 3 {
        return Err(not("it lacks the repository's tables".into()));
    }
    let known = crate::repository::sqlite::SCHEMA_VERSION;
    if version > known {
        return Err(BackupError::TooNew {
            path: file.to_path_buf(),
            found: version,
            known,
        });
    }
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| not(format!("it is damaged ({e})")))?;
    if check != "ok" {
        return Err(not("it is damaged (SQLite's integrity check failed)".into()));
    }
    Ok(version)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// The replaced database, kept (SQLite): remove it once the restore is checked.
    pub kept: Option<PathBuf>,
}

/// Replaces the SQLite repository of `data` with the backup `from`: refused while a server
/// holds the data directory, or when `from` is not a repository this binary can open. The
/// restored repository gets a new epoch; the replaced database is kept beside it.
pub fn restore_sqlite(data: &Path, from: &Path, now: u64) -> Result<Restored, BackupError> {
    check_sqlite(from)?;
    std::fs::create_dir_all(data).map_err(io_err(data, "cannot create the data directory"))?;
    let (_, lock) = lock_file(data)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(BackupError::InUse(data.to_path_buf()));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(io_err(&data.join(LOCK_FILE), "cannot lock")(e));
        }
    }
    let db = data.join(crate::serve::DATABASE_FILE);
    let incoming = beside(&db, "restoring");
    let _ = std::fs::remove_file(&incoming);
    let prepared = (|| {
        let mut target = create_private(&incoming)?;
        let mut source = File::open(from).map_err(io_err(from, "cannot read the backup"))?;
        io::copy(&mut source, &mut target).map_err(io_err(&incoming, "cannot copy the backup"))?;
        target
            .sync_all()
            .map_err(io_err(&incoming, "cannot copy the backup"))?;
        drop(target);
        // The current schema, and a new epoch: devices learn the repository went back.
        let mut storage = SqliteStorage::open(&incoming)?;
        storage.new_epoch()?;
        drop(storage);
        fold_wal(&incoming)
    })();
    if let Err(e) = prepared {
        let _ = std::fs::remove_file(&incoming);
        return Err(e);
    }
    // The replaced database: its WAL folded in first (a WAL left beside the restored file
    // would be read as part of it), then kept under another name.
    let kept = if db.exists() {
        fold_wal(&db)?;
        let kept = data.join(format!("{}.replaced-{now}", crate::serve::DATABASE_FILE));
        std::fs::rename(&db, &kept).map_err(io_err(&db, "cannot move the replaced database"))?;
        Some(kept)
    } else {
        None
    };
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data.join(format!("{}{suffix}", crate::serve::DATABASE_FILE)));
    }
    std::fs::rename(&incoming, &db)
        .map_err(io_err(&db, "cannot put the restored database in place"))?;
    sync_dir(&db);
    drop(lock);
    Ok(Restored { kept })
}

/// Checkpoints the WAL of the SQLite database `db` into it and removes the WAL.
fn fold_wal(db: &Path) -> Result<(), BackupError> {
    let conn = rusqlite::Connection::open(db).map_err(sqlite_err("opening a database"))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sqlite_err("opening a database"))?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(sqlite_err("checkpointing a database"))?;
    conn.close()
        .map_err(|(_, e)| sqlite_err("closing a database")(e))?;
    Ok(())
}

/// The `PG*` environment of the PostgreSQL client tools for `url`: the password travels in
/// the environment, never on a command line other local users can read.
fn pg_env(url: &str) -> Result<Vec<(&'static str, String)>, BackupError> {
    let config: ::postgres::Config = url.parse().map_err(BackupError::Url)?;
    let mut env = Vec::new();
    if let Some(host) = config.get_hosts().first() {
        match host {
            ::postgres::config::Host::Tcp(h) => env.push(("PGHOST", h.clone())),
            #[cfg(unix)]
            ::postgres::config::Host::Unix(p) => {
                env.push(("PGHOST", p.to_string_lossy().into_owned()));
            }
        }
    }
    if let Some(port) = config.get_ports().first() {
        env.push(("PGPORT", port.to_string()));
    }
    if let Some(user) = config.get_user() {
        env.push(("PGUSER", user.to_string()));
    }
    if let Some(password) = config.get_password() {
        env.push(("PGPASSWORD", String::from_utf8_lossy(password).into_owned()));
    }
    if let Some(db) = config.get_dbname() {
        env.push(("PGDATABASE", db.to_string()));
    }
    Ok(env)
}

/// Runs a PostgreSQL client tool; its messages go to standard error.
fn run_tool(
    tool: &'static str,
    args: &[&std::ffi::OsStr],
    env: &[(&'static str, String)],
    stdout: Stdio,
) -> Result<std::process::Output, BackupError> {
    let output = Command::new(tool)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| BackupError::ToolMissing { tool, source })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(BackupError::ToolFailed {
            tool,
            status: output.status,
        })
    }
}

/// Writes the PostgreSQL repository at `url` to the new file `out` (mode 0600) with
/// `pg_dump -Fc` (a consistent snapshot while servers go on serving).
pub fn backup_postgres(url: &str, out: &Path) -> Result<(), BackupError> {
    let env = pg_env(url)?;
    if out.exists() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let partial = beside(out, "partial");
    drop(create_private(&partial)?);
    let dumped = run_tool(
        "pg_dump",
        &[
            "-Fc".as_ref(),
            "--no-owner".as_ref(),
            "-f".as_ref(),
            partial.as_os_str(),
        ],
        &env,
        Stdio::null(),
    );
    if let Err(e) = dumped {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    publish(&partial, out)
}

/// Replaces the PostgreSQL repository at `url` with the `pg_dump -Fc` backup `from`
/// (`pg_restore --clean --if-exists`, in one transaction), then gives it a new epoch. Refused
/// while other sessions use the database, and when `from` is not a WardCRF repository backup
/// of a schema this binary can open.
pub fn restore_postgres(url: &str, from: &Path) -> Result<(), BackupError> {
    let env = pg_env(url)?;
    if !from.is_file() {
        return Err(BackupError::NotARepository {
            path: from.to_path_buf(),
            why: "there is no such file".into(),
        });
    }
    check_pg_dump(from, &env)?;
    let mut client =
        ::postgres::Client::connect(url, ::postgres::NoTls).map_err(BackupError::Postgres)?;
    let others: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .map_err(BackupError::Postgres)?
        .get(0);
    drop(client);
    if others > 0 {
        return Err(BackupError::DatabaseInUse(others));
    }
    let db = env
        .iter()
        .find(|(k, _)| *k == "PGDATABASE")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "postgres".into());
    run_tool(
        "pg_restore",
        &[
            "--clean".as_ref(),
            "--if-exists".as_ref(),
            "--no-owner".as_ref(),
            "--single-transaction".as_ref(),
            "-d".as_ref(),
            db.as_ref(),
            from.as_os_str(),
        ],
        &env,
        Stdio::null(),
    )?;
    let mut storage = PostgresStorage::connect(url)?;
    storage.new_epoch()?;
    Ok(())
}

/// Checks from its table of contents and its `schema_version` rows that `file` is a
/// `pg_dump -Fc` of a WardCRF repository this binary can open.
fn check_pg_dump(file: &Path, env: &[(&'static str, String)]) -> Result<(), BackupError> {
    let not = |why: &str| BackupError::NotARepository {
        path: file.to_path_buf(),
        why: why.to_string(),
    };
    let listed = run_tool(
        "pg_restore",
        &["--list".as_ref(), file.as_os_str()],
        env,
        Stdio::piped(),
    )
    .map_err(|e| match e {
        BackupError::ToolFailed { .. } => not("pg_restore cannot read it (not a pg_dump -Fc file)"),
        other => other,
    })?;
    let toc = String::from_utf8_lossy(&listed.stdout);
    let has_table = |name: &str| {
        toc.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.windows(3).any(|w| w[0] == "TABLE" && w[2] == name)
        })
    };
    if !["sites", "devices", "cases", "schema_version"]
        .iter()
        .all(|t| has_table(t))
    {
        return Err(not("it lacks the repository's tables"));
    }
    let rows = run_tool(
        "pg_restore",
        &[
            "--data-only".as_ref(),
            "--table=schema_version".as_ref(),
            "-f".as_ref(),
            "-".as_ref(),
            file.as_os_str(),
        ],
        env,
        Stdio::piped(),
    )?;
    let text = String::from_utf8_lossy(&rows.stdout);
    let found = text
        .lines()
        .skip_while(|l| !l.starts_with("COPY "))
        .skip(1)
        .take_while(|l| *l != "\\.")
        .filter_map(|l| l.split('\t').next()?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    let known = crate::repository::postgres::SCHEMA_VERSION;
    if found > known {
        return Err(BackupError::TooNew {
            path: file.to_path_buf(),
            found,
            known,
        });
    }
    Ok(())
}

/// Gives the repository a new epoch (after a restore made with other tools): devices then push
/// again whatever the restored repository lacks. Returns the new epoch.
pub fn new_epoch<S: Repository>(storage: &mut S) -> Result<String, BackupError> {
    Ok(storage.new_epoch()?)
}
