//! Creating and opening a store: the data key and its check (the canary), migrations, and the
//! damage policy: a database SQLite finds damaged is moved aside, never deleted, and reported
//! ([`StoreError::Damaged`]). Also rekeying (a new passphrase or hardware key).

use super::encryption::{self, KeyProvider, SecretKey};
use super::{CaseStore, DB_FILE, StoreError, db, now, schema};
use crate::form::Catalog;
use automerge::ActorId;
use rusqlite::Connection;
use std::path::{Path, PathBuf};

const CANARY: &[u8] = b"wardcrf canary v1";

fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

/// What SQLite found wrong with a damaged database.
#[derive(Debug, thiserror::Error)]
enum Damage {
    #[error("{0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error("integrity check: {0}")]
    Integrity(String),
    #[error("meta '{0}' missing")]
    MissingMeta(&'static str),
}

impl Damage {
    /// Which check found the damage (what the log says: never the database's own text).
    fn kind(&self) -> &'static str {
        match self {
            Damage::Sqlite(_) => "not a database, or corrupt",
            Damage::Integrity(_) => "integrity check failed",
            Damage::MissingMeta(_) => "store metadata missing",
        }
    }
}

/// Why opening failed: a damaged database (to move aside) or any other failure.
#[derive(Debug)]
enum OpenFailure {
    Damaged(Damage),
    Failed(StoreError),
}

impl<E: Into<StoreError>> From<E> for OpenFailure {
    fn from(e: E) -> Self {
        OpenFailure::Failed(e.into())
    }
}

/// A connection error that means damage is damage; anything else is a failure.
fn damage_or_failure(e: rusqlite::Error) -> OpenFailure {
    if db::is_damage(&e) {
        OpenFailure::Damaged(Damage::Sqlite(e))
    } else {
        OpenFailure::Failed(e.into())
    }
}

/// Brings the schema up to date, logging the migration when there was one.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let before = db::schema_version(conn)?;
    schema::migrate(conn)?;
    let after = db::schema_version(conn)?;
    if after != before {
        tracing::info!(from = before, to = after, "store schema migrated");
    }
    Ok(())
}

impl CaseStore {
    /// Creates a new store in `dir` (created if needed), its data key wrapped by `provider`.
    pub fn create(dir: &Path, provider: &dyn KeyProvider) -> Result<CaseStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::Io)?;
        let path = db_path(dir);
        if path.exists() {
            return Err(StoreError::AlreadyInitialised(dir.to_path_buf()));
        }
        let mut conn = db::connect(&path)?;
        migrate(&mut conn)?;
        let key = SecretKey::generate()?;
        let params_bytes = provider.new_params()?;
        let wrapped = provider.wrap(key.bytes(), &params_bytes)?;
        let canary = key.seal(b"wardcrf|canary", CANARY)?;
        let actor = encryption::random_bytes::<16>()?;
        db::init_meta(
            &mut conn,
            &[
                ("key_kind", provider.kind().into_bytes()),
                ("key_params", params_bytes),
                ("wrapped_key", wrapped),
                ("canary", canary),
                ("device_actor", actor.to_vec()),
                ("created_at", now().to_string().into_bytes()),
            ],
        )?;
        let store = Self::assemble(dir, conn, key, &actor)?;
        tracing::info!(schema = schema::SCHEMA_VERSION, "store created");
        Ok(store)
    }

    /// Opens an existing store. A wrong key is detected before anything is written; a damaged
    /// database is moved aside (never deleted) and reported.
    pub fn open(dir: &Path, provider: &dyn KeyProvider) -> Result<CaseStore, StoreError> {
        let path = db_path(dir);
        if !path.exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        match Self::open_checked(dir, &path, provider) {
            Ok(store) => {
                tracing::info!(schema = schema::SCHEMA_VERSION, "store opened");
                Ok(store)
            }
            Err(OpenFailure::Damaged(damage)) => {
                let moved_to = Self::move_aside(&path)?;
                tracing::error!(
                    moved_to = %moved_to.display(),
                    damage = damage.kind(),
                    "store database damaged: moved aside"
                );
                Err(StoreError::Damaged { moved_to })
            }
            Err(OpenFailure::Failed(e)) => Err(e),
        }
    }

    fn open_checked(
        dir: &Path,
        path: &Path,
        provider: &dyn KeyProvider,
    ) -> Result<CaseStore, OpenFailure> {
        let mut conn = db::connect(path).map_err(damage_or_failure)?;
        let check = db::quick_check(&conn).map_err(damage_or_failure)?;
        if check != "ok" {
            return Err(OpenFailure::Damaged(Damage::Integrity(check)));
        }
        // The key is checked before anything is written (migrations included).
        let (key, actor) = {
            let meta = |k: &'static str| -> Result<Vec<u8>, OpenFailure> {
                db::meta(&conn, k)?.ok_or(OpenFailure::Damaged(Damage::MissingMeta(k)))
            };
            let raw = provider.unwrap(&meta("wrapped_key")?, &meta("key_params")?)?;
            let key = SecretKey::from_bytes(&raw)?;
            if &key.open(b"wardcrf|canary", &meta("canary")?)?[..] != CANARY {
                return Err(StoreError::WrongKey.into());
            }
            (key, meta("device_actor")?)
        };
        migrate(&mut conn)?;
        Ok(Self::assemble(dir, conn, key, &actor)?)
    }

    /// A store over an open, migrated database whose key has been checked.
    fn assemble(
        dir: &Path,
        conn: Connection,
        key: SecretKey,
        actor: &[u8],
    ) -> Result<CaseStore, StoreError> {
        let identifying_on_device =
            db::meta(&conn, "identifying_on_device")?.is_some_and(|v| v == b"1");
        Ok(CaseStore {
            dir: dir.to_path_buf(),
            conn,
            key,
            actor: ActorId::from(actor),
            catalog: Catalog::bundled()?,
            today: None,
            identifying_on_device,
        })
    }

    fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
        let stamp = now();
        let target = path.with_file_name(format!("{DB_FILE}.damaged-{stamp}"));
        std::fs::rename(path, &target).map_err(StoreError::Io)?;
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            if side.exists() {
                let to = PathBuf::from(format!("{}{suffix}", target.display()));
                std::fs::rename(&side, to).map_err(StoreError::Io)?;
            }
        }
        Ok(target)
    }

    /// Rewraps the data key with a new provider (new passphrase or hardware key). Nothing else
    /// is re-encrypted.
    pub fn rekey(&mut self, provider: &dyn KeyProvider) -> Result<(), StoreError> {
        let params_bytes = provider.new_params()?;
        let wrapped = provider.wrap(self.key.bytes(), &params_bytes)?;
        db::rewrap_key(
            &mut self.conn,
            &wrapped,
            &params_bytes,
            &provider.kind().into_bytes(),
        )?;
        Ok(())
    }
}
