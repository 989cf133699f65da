//! Creating and opening a store: the data key and its check (the canary), migrations, and the
//! damage policy: a database SQLite finds damaged is moved aside, never deleted, and reported
//! ([`StoreError::Damaged`]). Also rekeying (a new passphrase or hardware key), the
//! upgrade of a store made before staff signed in on devices (see `staff_keys.rs` for the
//! keys), and WAL checkpoints: kept off the save path (see [`CaseStore::checkpoint`]).

use super::encryption::{self, KeyProvider, SecretKey};
use super::{CaseStore, DB_FILE, StoreError, db, now, schema};
use crate::form::Catalog;
use automerge::ActorId;
use rusqlite::Connection;
use std::path::{Path, PathBuf};

const CANARY: &[u8] = b"wardcrf canary v1";
/// Associated data of the open door: the data key under the device secret alone.
const OPEN_DOOR_AAD: &[u8] = b"wardcrf|open-door";
/// Associated data of the device secret's canary.
const DEVICE_CANARY_AAD: &[u8] = b"wardcrf|device-canary";

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
    /// Creates a new store in `dir` (created if needed), its device secret wrapped by
    /// `provider`. Until a staff member signs in online, the data key is wrapped by the
    /// device secret alone (the open door): the store is unlocked, with nobody signed in.
    pub fn create(dir: &Path, provider: &dyn KeyProvider) -> Result<CaseStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::Io)?;
        let path = db_path(dir);
        if path.exists() {
            return Err(StoreError::AlreadyInitialised(dir.to_path_buf()));
        }
        let mut conn = db::connect(&path)?;
        migrate(&mut conn)?;
        let key = SecretKey::generate()?;
        let secret = SecretKey::generate()?;
        let params_bytes = provider.new_params()?;
        let canary = key.seal(b"wardcrf|canary", CANARY)?;
        let actor = encryption::random_bytes::<16>()?;
        db::init_meta(
            &mut conn,
            &[
                ("key_kind", provider.kind().into_bytes()),
                (
                    "device_secret",
                    provider.wrap(secret.bytes(), &params_bytes)?,
                ),
                ("key_params", params_bytes),
                ("open_door", secret.seal(OPEN_DOOR_AAD, key.bytes())?),
                ("device_canary", secret.seal(DEVICE_CANARY_AAD, CANARY)?),
                ("canary", canary),
                ("device_actor", actor.to_vec()),
                ("created_at", now().to_string().into_bytes()),
            ],
        )?;
        let store = Self::assemble(dir, conn, Some(key), secret, &actor)?;
        tracing::info!(schema = schema::SCHEMA_VERSION, "store created");
        Ok(store)
    }

    /// Opens an existing store with the platform key. A store on which staff have signed in
    /// opens locked: a staff sign-in ([`CaseStore::sign_in`], [`CaseStore::sign_in_online`])
    /// or the recovery key ([`CaseStore::recover`]) unlocks it. One on which nobody has yet
    /// opens unlocked, with nobody signed in. A wrong key is detected before anything is
    /// written; a damaged database is moved aside (never deleted) and reported.
    pub fn open(dir: &Path, provider: &dyn KeyProvider) -> Result<CaseStore, StoreError> {
        let path = db_path(dir);
        if !path.exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        match Self::open_checked(dir, &path, provider) {
            Ok(store) => {
                tracing::info!(
                    schema = schema::SCHEMA_VERSION,
                    locked = !store.is_unlocked(),
                    "store opened"
                );
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
        let meta = |conn: &Connection, k: &'static str| -> Result<Vec<u8>, OpenFailure> {
            db::meta(conn, k)?.ok_or(OpenFailure::Damaged(Damage::MissingMeta(k)))
        };
        let params = meta(&conn, "key_params")?;
        let canary = meta(&conn, "canary")?;
        let actor = meta(&conn, "device_actor")?;
        let (key, secret, legacy) = match db::meta(&conn, "device_secret")? {
            Some(wrapped) => {
                let secret = SecretKey::from_bytes(&provider.unwrap(&wrapped, &params)?)?;
                // A platform key that does not authenticate what it unwraps gives a wrong
                // secret silently: the canary says so before anything is read or written.
                if let Some(device_canary) = db::meta(&conn, "device_canary")?
                    && &secret.open(DEVICE_CANARY_AAD, &device_canary)?[..] != CANARY
                {
                    return Err(StoreError::WrongKey.into());
                }
                let key = match db::meta(&conn, "open_door")? {
                    Some(door) => Some(checked(&secret.open(OPEN_DOOR_AAD, &door)?, &canary)?),
                    None => None,
                };
                (key, secret, false)
            }
            // A store made before staff signed in on devices: its data key under the platform
            // key directly. It gets a device secret and an open door below.
            None => {
                let raw = provider.unwrap(&meta(&conn, "wrapped_key")?, &params)?;
                (Some(checked(&raw, &canary)?), SecretKey::generate()?, true)
            }
        };
        migrate(&mut conn)?;
        // What a previous run left in the WAL (it was not closed, or never checkpointed at
        // idle) goes into the database now, before the first save.
        db::checkpoint(&conn)?;
        if legacy && let Some(key) = &key {
            Self::upgrade_key_layout(&mut conn, provider, &params, key, &secret)?;
        }
        Ok(Self::assemble(dir, conn, key, secret, &actor)?)
    }

    /// Gives a store made before staff sign-in its device secret: the data key moves from the
    /// platform key to the open door, and the device's credential from the data key to the
    /// device secret (a locked store must still reach the repository), in one transaction.
    fn upgrade_key_layout(
        conn: &mut Connection,
        provider: &dyn KeyProvider,
        params: &[u8],
        key: &SecretKey,
        secret: &SecretKey,
    ) -> Result<(), StoreError> {
        let credential = match db::meta(conn, "sync_credential")? {
            Some(sealed) => Some(secret.seal(
                super::sync_state::CREDENTIAL_AAD,
                &key.open(super::sync_state::CREDENTIAL_AAD, &sealed)?,
            )?),
            None => None,
        };
        let wrapped = provider.wrap(secret.bytes(), params)?;
        let door = secret.seal(OPEN_DOOR_AAD, key.bytes())?;
        let device_canary = secret.seal(DEVICE_CANARY_AAD, CANARY)?;
        db::put_metas(
            conn,
            &[
                ("device_secret", Some(&wrapped)),
                ("device_canary", Some(&device_canary)),
                ("open_door", Some(&door)),
                ("sync_credential", credential.as_deref()),
                ("wrapped_key", None),
            ],
        )?;
        tracing::info!("store key layout upgraded for staff sign-in");
        Ok(())
    }

    /// The data key from raw bytes, checked against the store's canary.
    pub(super) fn checked_key(&self, raw: &[u8]) -> Result<SecretKey, StoreError> {
        let canary = db::meta(&self.conn, "canary")?.ok_or(StoreError::WrongKey)?;
        checked(raw, &canary)
    }

    /// A store over an open, migrated database whose key has been checked.
    fn assemble(
        dir: &Path,
        conn: Connection,
        key: Option<SecretKey>,
        device_secret: SecretKey,
        actor: &[u8],
    ) -> Result<CaseStore, StoreError> {
        let identifying_on_device =
            db::meta(&conn, "identifying_on_device")?.is_some_and(|v| v == b"1");
        Ok(CaseStore {
            dir: dir.to_path_buf(),
            conn,
            key,
            device_secret,
            session: None,
            credential_iterations: super::staff_keys::CREDENTIAL_ITERATIONS,
            actor: ActorId::from(actor),
            catalog: Catalog::bundled()?,
            today: None,
            identifying_on_device,
            documents_opened: std::sync::atomic::AtomicU64::new(0),
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

    /// Rewraps the device secret with a new platform provider (new passphrase or hardware
    /// key). Nothing else is re-encrypted.
    pub fn rekey(&mut self, provider: &dyn KeyProvider) -> Result<(), StoreError> {
        let params_bytes = provider.new_params()?;
        let wrapped = provider.wrap(self.device_secret.bytes(), &params_bytes)?;
        let kind = provider.kind().into_bytes();
        db::put_metas(
            &mut self.conn,
            &[
                ("device_secret", Some(&wrapped)),
                ("key_params", Some(&params_bytes)),
                ("key_kind", Some(&kind)),
            ],
        )?;
        Ok(())
    }
}

impl CaseStore {
    /// Copies what the write-ahead log holds into the database file (a passive checkpoint:
    /// it never waits for, nor blocks, a reader or writer); returns the pages copied.
    ///
    /// Saves do not checkpoint (a checkpoint in a save is what made one save in ~74 take
    /// several milliseconds): the apps call this when the user is idle, and a sync calls it
    /// when it ends. If nobody does, a save checkpoints once the log has grown past
    /// [`db::WAL_LIMIT_PAGES`] pages, and opening a store checkpoints what an earlier run
    /// left, so the log stays bounded. Every save is durable before it returns either way
    /// (`synchronous=FULL`): a checkpoint only moves committed pages.
    pub fn checkpoint(&self) -> Result<u32, StoreError> {
        let copied = db::checkpoint(&self.conn)?;
        tracing::debug!(pages = copied, "store checkpointed");
        Ok(copied)
    }
}

/// The data key from raw bytes, checked against the store's canary.
fn checked(raw: &[u8], canary: &[u8]) -> Result<SecretKey, StoreError> {
    let key = SecretKey::from_bytes(raw)?;
    if &key.open(b"wardcrf|canary", canary)?[..] != CANARY {
        return Err(StoreError::WrongKey);
    }
    Ok(key)
}
