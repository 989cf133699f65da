//! The encrypted on-device case store.
//!
//! One SQLite database per device (`DIR/wardcrf.db`, WAL, `synchronous=FULL`: a write returns
//! only once it is durable). Each case is one automerge document, sealed with AES-256-GCM
//! under the store's data key. Every change carries device, signed-in staff member (id and
//! printed name), time and reason; the document history is the audit trail. Two stores merge case documents without a server;
//! fields edited concurrently become conflicts that a nurse resolves.
//!
//! This file holds the store's public types; [`CaseStore`]'s methods are in the rooms of
//! their jobs:
//!
//! - `open.rs`: create, open (key check, migrations, the move-aside damage policy), rekey,
//!   and WAL checkpoints (kept off the save path);
//! - `staff_keys.rs`: staff sign-in on the device (online, then offline by password or PIN),
//!   locking, recovery with the repository's unlock key, the roster, signing a case;
//! - `cases.rs`: entering and reading cases (values, rows, status, history, conflicts,
//!   look-up) and merging with another device;
//! - `case_list.rs`: the case list (sealed display labels, "not yet synced") without opening
//!   a case document;
//! - `local_part.rs`: the device-only part of a case (identifying fields kept on the device);
//! - `sync_state.rs`: outbox, server heads, cursor, credentials and enrolment;
//! - `db.rs`: every SQL statement; `error.rs`: [`StoreError`]; `encryption.rs`: keys and
//!   sealing; `schema.rs`: migrations.
//!
//! The rules of an edit (value check, resolution, reopening) are the case domain's
//! ([`crate::case::edit`]), shared with the repository.

mod case_list;
mod cases;
mod db;
mod encryption;
mod error;
mod local_part;
mod open;
mod schema;
mod session;
mod staff_keys;
mod sync_state;

/// The case document module, where it was before the case domain had its own room.
pub(crate) use crate::case::document;
pub use crate::case::document::{Candidate, ChangeNote, FieldPath, HistoryEntry};
pub use crate::case::meta::Status;
pub use encryption::{
    KeyError, KeyProvider, MIN_PASSPHRASE_ITERATIONS, Passphrase, RawKeyProvider, SecretKey,
};
pub use error::{DatabaseError, StoreError};
pub use schema::SCHEMA_VERSION;
pub use staff_keys::{Credential, MAX_PASSWORD_FAILURES, MAX_PIN_FAILURES, Session};
pub use sync_state::SyncLease;

use crate::case::document::CaseDoc;
use crate::form::{Catalog, Form};
use crate::validate::Report;
use automerge::ActorId;
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The database file inside a store directory.
pub const DB_FILE: &str = "wardcrf.db";

/// A case in a list: what the plaintext columns hold, and its sealed display label; listing
/// never opens a case document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSummary {
    pub case_id: String,
    pub form_id: String,
    pub form_version: String,
    /// The values of the fields the form designates (`list_label`), joined by ` · `; empty
    /// when none is answered. May identify the patient: for display on this device only.
    pub label: String,
    pub status: Status,
    pub has_conflicts: bool,
    /// The number of open conflicts.
    pub conflicts: u32,
    /// The repository does not hold the case as it is here (changed since the last sync, or
    /// never synced).
    pub pending_sync: bool,
    pub deleted: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which cases to list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<Status>,
    pub form_id: Option<String>,
    /// Updated at or after this time (seconds since the epoch).
    pub updated_since: Option<i64>,
    pub with_conflicts: bool,
    pub include_deleted: bool,
}

/// A conflict: a field with several concurrent values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub case_id: String,
    #[serde(flatten)]
    pub path: FieldPath,
    pub candidates: Vec<Candidate>,
}

/// A case as the app shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    pub case_id: String,
    pub form_id: String,
    pub form_version: String,
    pub modules: Vec<String>,
    pub status: Status,
    pub deleted: bool,
    pub values: Map<String, Json>,
    #[serde(skip)]
    pub report: Report,
    pub conflicts: Vec<Conflict>,
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MergeSummary {
    /// Cases new to this store.
    pub new_cases: usize,
    /// Cases that received changes.
    pub updated_cases: usize,
    /// Open conflicts on the merged cases afterwards.
    pub conflicts: usize,
}

/// A case document as exchanged between devices (sealed only at rest, not here).
#[derive(Debug, Clone)]
pub struct CaseExport {
    pub case_id: String,
    pub bytes: Vec<u8>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn new_id() -> Result<String, StoreError> {
    let b = encryption::random_bytes::<16>()?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The encrypted case store of one device.
///
/// A store is open (its database and the device secret, under the platform key) or also
/// unlocked (its data key in memory). Once a staff member has signed in on it, only a staff
/// sign-in (password, PIN), the repository (online sign-in) or the recovery key unlock it;
/// entering data needs a signed-in staff member, whose id and name every change carries.
pub struct CaseStore {
    dir: PathBuf,
    conn: Connection,
    /// The data key: `None` while locked.
    key: Option<SecretKey>,
    /// The device secret (wrapped by the platform key): seals the device's credential and
    /// roster, and is mixed into every staff key, so the database alone opens nothing.
    device_secret: SecretKey,
    /// Who is signed in.
    session: Option<Session>,
    /// PBKDF2 iterations for new staff wraps.
    credential_iterations: u32,
    actor: ActorId,
    /// The forms cases are entered on; composed forms are cached inside it.
    catalog: Catalog,
    today: Option<crate::PartialDate>,
    /// The site keeps identifying data on the device: identifying fields are written to each
    /// case's device-only part (see [`CaseStore::keeps_identifying_on_device`]).
    identifying_on_device: bool,
    /// How many times a sealed case document was opened (see [`CaseStore::documents_opened`]).
    documents_opened: AtomicU64,
}

/// A case document saved and sealed, with the listing columns read from it
/// ([`CaseStore::seal_document`]).
struct SealedDocument {
    blob: Vec<u8>,
    local_heads: Vec<u8>,
    form: crate::case::CaseForm,
    status: Status,
    conflicts: usize,
    deleted: bool,
}

impl std::fmt::Debug for CaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseStore")
            .field("dir", &self.dir)
            .field("device", &self.device_id())
            .finish_non_exhaustive()
    }
}

impl CaseStore {
    /// This device's id (its automerge actor, hex).
    pub fn device_id(&self) -> String {
        self.actor.to_hex_string()
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets the date validation takes as today (default: none, no future-date warnings).
    pub fn set_today(&mut self, today: Option<crate::PartialDate>) {
        self.today = today;
    }

    /// The composed form of `form_id` with `modules` (from the catalog's cache).
    fn form(&self, form_id: &str, modules: &[String]) -> Result<Arc<Form>, StoreError> {
        Ok(self.catalog.composed(form_id, modules)?)
    }

    /// The composed form a case document is entered on.
    fn form_of(&self, doc: &CaseDoc) -> Result<Arc<Form>, StoreError> {
        let form = crate::case::CaseForm::of(doc);
        self.form(&form.form_id, &form.modules)
    }

    /// The data key, or [`StoreError::Locked`].
    fn key(&self) -> Result<&SecretKey, StoreError> {
        self.key.as_ref().ok_or(StoreError::Locked)
    }

    /// The signed-in staff member who makes a change, or [`StoreError::NotSignedIn`].
    fn author(&self) -> Result<crate::staff::Attribution, StoreError> {
        self.key()?;
        self.session
            .as_ref()
            .map(|s| s.staff.clone())
            .ok_or(StoreError::NotSignedIn)
    }

    /// The associated data of a case's sealed document.
    fn aad(case_id: &str) -> Vec<u8> {
        format!("wardcrf|v1|case|{case_id}").into_bytes()
    }

    /// Decrypts a case's sealed document (the one place that does: it counts).
    fn open_document(
        &self,
        case_id: &str,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
        Self::open_sealed(self.key()?, &self.documents_opened, case_id, sealed)
    }

    /// [`Self::open_document`] with the key and the counter given (from several threads).
    fn open_sealed(
        key: &SecretKey,
        opened: &AtomicU64,
        case_id: &str,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
        opened.fetch_add(1, Ordering::Relaxed);
        Ok(key.open(&Self::aad(case_id), sealed)?)
    }

    /// How many times this store has decrypted a case document since it was opened: what
    /// tests and benchmarks read to show that a path (the case list) opens none.
    #[doc(hidden)]
    pub fn documents_opened(&self) -> u64 {
        self.documents_opened.load(Ordering::Relaxed)
    }

    /// A case's document, and whether the case is deleted.
    fn load(&self, case_id: &str) -> Result<(CaseDoc, bool), StoreError> {
        let row = db::sealed_case(&self.conn, case_id)?
            .ok_or_else(|| StoreError::UnknownCase(case_id.to_string()))?;
        let plain = self.open_document(case_id, &row.doc)?;
        Ok((CaseDoc::load(&plain, &self.actor)?, row.deleted))
    }

    /// Seals and writes a document with its listing columns (plaintext, and the sealed label),
    /// in one transaction.
    fn write(&mut self, case_id: &str, doc: &mut CaseDoc, insert: bool) -> Result<(), StoreError> {
        self.write_synced(case_id, doc, insert, None)
    }

    /// [`Self::write`], also recording the heads the repository holds (after a sync).
    fn write_synced(
        &mut self,
        case_id: &str,
        doc: &mut CaseDoc,
        insert: bool,
        server_heads: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let sealed = Self::seal_document(self.key()?, case_id, doc)?;
        self.write_sealed(case_id, doc, &sealed, insert, server_heads)
    }

    /// The part of a write that needs no database: the document saved and sealed, and its
    /// listing columns read from it (run on several threads when a sync answer is applied).
    fn seal_document(
        key: &SecretKey,
        case_id: &str,
        doc: &mut CaseDoc,
    ) -> Result<SealedDocument, StoreError> {
        let local_heads = document::encode_heads(&doc.heads());
        let bytes = doc.save();
        Ok(SealedDocument {
            blob: key.seal(&Self::aad(case_id), &bytes)?,
            local_heads,
            form: crate::case::CaseForm::of(doc),
            status: Status::of(doc),
            conflicts: doc.conflicts().len(),
            deleted: crate::case::meta::is_deleted(doc),
        })
    }

    /// Writes a sealed document with its listing columns, its lookup tokens and its sealed
    /// label (which read the case's device-only part).
    fn write_sealed(
        &mut self,
        case_id: &str,
        doc: &CaseDoc,
        sealed: &SealedDocument,
        insert: bool,
        server_heads: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let lookup = self.lookup_tokens(case_id, doc)?;
        let label = self.sealed_label(case_id, doc)?;
        let row = db::CaseRow {
            case_id,
            form_id: &sealed.form.form_id,
            form_version: &sealed.form.form_version,
            status: sealed.status,
            conflicts: sealed.conflicts,
            deleted: sealed.deleted,
            doc: &sealed.blob,
            label: &label,
            local_heads: &sealed.local_heads,
            server_heads,
            lookup: &lookup,
        };
        // A savepoint: its own transaction, or part of a whole sync answer (`sync_apply_all`).
        db::write_case(&mut self.conn, &row, insert, now())?;
        Ok(())
    }
}

#[cfg(test)]
mod list_tests;
#[cfg(test)]
mod tests;
