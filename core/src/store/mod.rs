//! The encrypted on-device case store.
//!
//! One SQLite database per device (`DIR/wardcrf.db`, WAL, `synchronous=FULL`: a write returns
//! only once it is durable). Each case is one automerge document, sealed with AES-256-GCM
//! under the store's data key. Every change carries device, user, time and reason; the
//! document history is the audit trail. Two stores merge case documents without a server;
//! fields edited concurrently become conflicts that a nurse resolves.

pub(crate) mod document;
mod encryption;
mod schema;

pub use document::{Candidate, ChangeNote, FieldPath};
pub use encryption::{
    KeyError, KeyProvider, MIN_PASSPHRASE_ITERATIONS, Passphrase, RawKeyProvider, SecretKey,
};
pub use schema::SCHEMA_VERSION;

use crate::form::{Catalog, Form, FormError};
use crate::validate::{Context, Issue, IssueCode, Report, validate};
use automerge::ActorId;
use document::{CaseDoc, DocError};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The database file inside a store directory.
pub const DB_FILE: &str = "wardcrf.db";
const CANARY: &[u8] = b"wardcrf canary v1";
/// Longest reason kept for a change.
pub const MAX_REASON: usize = 2000;

/// Why a store operation failed. Messages name what to do and never carry patient data or keys.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no store in {0}: run 'wardcrf device init' first")]
    NotInitialised(PathBuf),
    #[error("a store already exists in {0}")]
    AlreadyInitialised(PathBuf),
    #[error("the key or passphrase is wrong for this store; nothing was changed")]
    WrongKey,
    #[error("key provider: {0}")]
    Key(KeyError),
    #[error(
        "the store database was damaged and has been moved aside to {moved_to}; it was not deleted (unsynced case reports may exist only there): contact support to recover it"
    )]
    Damaged { moved_to: PathBuf },
    #[error("no case {0} on this device")]
    UnknownCase(String),
    #[error("case {0} is deleted; restore it first")]
    Deleted(String),
    #[error("no row {row_id} in {group} of case {case_id}")]
    UnknownRow {
        case_id: String,
        group: String,
        row_id: String,
    },
    #[error("{field} is not a field of this case's form")]
    UnknownField { field: String },
    /// The value is impossible or unreadable; `issues` hold the messages in every language.
    #[error("the value of {field} was not saved: {}", why(.issues))]
    Rejected { field: String, issues: Vec<Issue> },
    /// The value is outside the expected range; `warnings` hold the messages.
    #[error(
        "the value of {field} is outside its expected range and was not saved: save it again with a reason that confirms it"
    )]
    NeedsConfirmation { field: String, warnings: Vec<Issue> },
    #[error("a reason is required: {0}")]
    ReasonRequired(&'static str),
    /// Completion is blocked; the report lists what is left.
    #[error("the case cannot be marked complete: {} problem(s) and {conflicts} open conflict(s) left", .report.errors.len() + .report.missing.len() + .report.warnings.iter().filter(|w| w.confirmed.is_none()).count())]
    NotComplete {
        report: Box<Report>,
        conflicts: usize,
    },
    #[error("a case can only be signed when it is complete")]
    NotSignable,
    #[error("{0} has no conflict to resolve")]
    NoConflict(String),
    #[error("the case documents of the two devices do not describe the same case: {0}")]
    Mismatch(String),
    #[error(transparent)]
    Form(#[from] FormError),
    /// Enrolment at a site that keeps identifying data on the device only, into a store whose
    /// shared case records already hold identifying values (entered before enrolment): those
    /// records would carry them to the repository, so the store refuses the site.
    #[error(
        "this device already holds {cases} case(s) with identifying values (name, record number, date of birth) in their shared record, entered before enrolment; this site keeps identifying data on the device only, so those records may never be synced: enrol a new, empty store for this site"
    )]
    IdentifyingAlreadyShared { cases: usize },
    #[error("the store database failed: {0}")]
    Database(String),
    #[error("the store files could not be accessed: {0}")]
    Io(String),
}

/// Why values were refused, without repeating the values (error texts may reach logs).
fn why(issues: &[Issue]) -> String {
    let mut reasons: Vec<&str> = issues
        .iter()
        .map(|i| match i.code {
            IssueCode::HardLimit => "it is outside the possible range",
            IssueCode::WrongType => "it is not of the field's type",
            IssueCode::NotAChoice => "it is not one of the answer options",
            IssueCode::InvalidDate => "the date does not exist",
            IssueCode::PartialDateNotAllowed => "a full date is needed",
            IssueCode::UnitNotAllowed => "the unit is not accepted",
            IssueCode::TooLong => "the text is too long",
            IssueCode::TooManyRows => "there are too many rows",
            IssueCode::UnknownField => "a field is not part of the form",
            _ => "it breaks a rule of the form",
        })
        .collect();
    reasons.dedup();
    if reasons.is_empty() {
        "it could not be read".into()
    } else {
        reasons.join("; ")
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<DocError> for StoreError {
    fn from(e: DocError) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<KeyError> for StoreError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::WrongKey => StoreError::WrongKey,
            other => StoreError::Key(other),
        }
    }
}

impl From<schema::SchemaError> for StoreError {
    fn from(e: schema::SchemaError) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Where a case is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Complete,
    Signed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Complete => "complete",
            Status::Signed => "signed",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "complete" => Status::Complete,
            "signed" => Status::Signed,
            _ => Status::Draft,
        }
    }
}

/// A case in a list: only what the plaintext columns hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSummary {
    pub case_id: String,
    pub form_id: String,
    pub form_version: String,
    pub status: Status,
    pub has_conflicts: bool,
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

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    pub time: i64,
    pub device: String,
    pub user: String,
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_id: Option<String>,
    pub old: Option<Json>,
    pub new: Option<Json>,
    pub reason: Option<String>,
    pub change: String,
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

fn clean_reason(reason: Option<&str>) -> Option<String> {
    reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(MAX_REASON).collect())
}

/// Normalises an identifier for the keyed index: case, spacing and full-width characters
/// do not matter ("ＭＲＮ 0012" finds "mrn 0012").
fn normalise_identifier(s: &str) -> String {
    let folded: String = s
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect();
    folded
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Refuses a write when the issues it concerns (`mine`) include an impossible value, or a
/// warning nobody confirmed.
fn refuse_write(report: &Report, mine: impl Fn(&Issue) -> bool) -> Result<(), StoreError> {
    let rejecting: Vec<Issue> = report
        .errors
        .iter()
        .filter(|i| mine(i) && i.code.rejects_write())
        .cloned()
        .collect();
    if let Some(first) = rejecting.first() {
        return Err(StoreError::Rejected {
            field: first.field.clone(),
            issues: rejecting,
        });
    }
    let unconfirmed: Vec<Issue> = report
        .warnings
        .iter()
        .filter(|w| mine(w) && w.code == IssueCode::SoftLimit && w.confirmed.is_none())
        .cloned()
        .collect();
    if let Some(first) = unconfirmed.first() {
        return Err(StoreError::NeedsConfirmation {
            field: first.field.clone(),
            warnings: unconfirmed,
        });
    }
    Ok(())
}

/// After an edit of a complete or signed case: the change that reopens it as a draft.
fn reopen_after_edit(
    doc: &mut CaseDoc,
    status: Status,
    edit: &ChangeNote,
    time: i64,
) -> Result<(), StoreError> {
    if status == Status::Draft {
        return Ok(());
    }
    let mut note = ChangeNote::new(&edit.user, "reopen");
    note.reason = edit.reason.clone();
    note.old = Some(json!(status.as_str()));
    note.new = Some(json!("draft"));
    doc.put_root("status", Some("draft"), &note, time)?;
    Ok(())
}

/// A canonical value without its confirmation reason (`{"value": 5, "confirm": ..}` → `5`;
/// `{"value", "unit", "confirm"}` → `{"value", "unit"}`).
pub(crate) fn without_confirmation(v: Json) -> Json {
    match v {
        Json::Object(mut o) if o.contains_key("confirm") => {
            o.remove("confirm");
            if o.len() == 1 && o.contains_key("value") {
                o.remove("value").unwrap_or(Json::Null)
            } else {
                Json::Object(o)
            }
        }
        other => other,
    }
}

/// Fields indexed for look-up by keyed hash.
const INDEXED: [&str; 2] = ["hospital_record_number", "patient_name"];

/// The encrypted case store of one device.
pub struct CaseStore {
    dir: PathBuf,
    conn: Connection,
    key: SecretKey,
    actor: ActorId,
    catalog: Catalog,
    forms: HashMap<(String, Vec<String>), Form>,
    today: Option<crate::PartialDate>,
    /// The site keeps identifying data on the device: identifying fields are written to each
    /// case's device-only part (see [`CaseStore::keeps_identifying_on_device`]).
    identifying_on_device: bool,
}

impl std::fmt::Debug for CaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseStore")
            .field("dir", &self.dir)
            .field("device", &self.device_id())
            .finish_non_exhaustive()
    }
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

impl CaseStore {
    /// Creates a new store in `dir` (created if needed), its data key wrapped by `provider`.
    pub fn create(dir: &Path, provider: &dyn KeyProvider) -> Result<CaseStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(e.to_string()))?;
        let path = db_path(dir);
        if path.exists() {
            return Err(StoreError::AlreadyInitialised(dir.to_path_buf()));
        }
        let mut conn = connect(&path)?;
        schema::migrate(&mut conn)?;
        let key = SecretKey::generate()?;
        let params_bytes = provider.new_params()?;
        let wrapped = provider.wrap(key.bytes(), &params_bytes)?;
        let canary = key.seal(b"wardcrf|canary", CANARY)?;
        let actor = encryption::random_bytes::<16>()?;
        let tx = conn.transaction()?;
        for (k, v) in [
            ("key_kind", provider.kind().into_bytes()),
            ("key_params", params_bytes),
            ("wrapped_key", wrapped),
            ("canary", canary),
            ("device_actor", actor.to_vec()),
            ("created_at", now().to_string().into_bytes()),
        ] {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                params![k, v],
            )?;
        }
        tx.commit()?;
        Self::assemble(dir, conn, key, &actor)
    }

    /// Opens an existing store. A wrong key is detected before anything is written; a damaged
    /// database is moved aside (never deleted) and reported.
    pub fn open(dir: &Path, provider: &dyn KeyProvider) -> Result<CaseStore, StoreError> {
        let path = db_path(dir);
        if !path.exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        match Self::open_checked(dir, &path, provider) {
            Err(StoreError::Database(msg)) if msg.starts_with("damaged:") => {
                let moved_to = Self::move_aside(&path)?;
                Err(StoreError::Damaged { moved_to })
            }
            other => other,
        }
    }

    fn open_checked(
        dir: &Path,
        path: &Path,
        provider: &dyn KeyProvider,
    ) -> Result<CaseStore, StoreError> {
        let damaged = |e: rusqlite::Error| {
            if is_damage(&e) {
                StoreError::Database(format!("damaged: {e}"))
            } else {
                StoreError::from(e)
            }
        };
        let mut conn = connect(path).map_err(damaged)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(damaged)?;
        if check != "ok" {
            return Err(StoreError::Database(format!("damaged: {check}")));
        }
        // The key is checked before anything is written (migrations included).
        let (key, actor) = {
            let meta = |k: &str| -> Result<Vec<u8>, StoreError> {
                conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| StoreError::Database(format!("damaged: meta '{k}' missing")))
            };
            let raw = provider.unwrap(&meta("wrapped_key")?, &meta("key_params")?)?;
            let key = SecretKey::from_bytes(&raw)?;
            if &key.open(b"wardcrf|canary", &meta("canary")?)?[..] != CANARY {
                return Err(StoreError::WrongKey);
            }
            (key, meta("device_actor")?)
        };
        schema::migrate(&mut conn)?;
        Self::assemble(dir, conn, key, &actor)
    }

    /// A store over an open, migrated database whose key has been checked.
    fn assemble(
        dir: &Path,
        conn: Connection,
        key: SecretKey,
        actor: &[u8],
    ) -> Result<CaseStore, StoreError> {
        let identifying_on_device = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'identifying_on_device'",
                [],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?
            .is_some_and(|v| v == b"1");
        Ok(CaseStore {
            dir: dir.to_path_buf(),
            conn,
            key,
            actor: ActorId::from(actor),
            catalog: Catalog::bundled()?,
            forms: HashMap::new(),
            today: None,
            identifying_on_device,
        })
    }

    fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
        let stamp = now();
        let target = path.with_file_name(format!("{DB_FILE}.damaged-{stamp}"));
        std::fs::rename(path, &target).map_err(|e| StoreError::Io(e.to_string()))?;
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            if side.exists() {
                let to = PathBuf::from(format!("{}{suffix}", target.display()));
                std::fs::rename(&side, to).map_err(|e| StoreError::Io(e.to_string()))?;
            }
        }
        Ok(target)
    }

    /// Rewraps the data key with a new provider (new passphrase or hardware key). Nothing else
    /// is re-encrypted.
    pub fn rekey(&mut self, provider: &dyn KeyProvider) -> Result<(), StoreError> {
        let params_bytes = provider.new_params()?;
        let wrapped = provider.wrap(self.key.bytes(), &params_bytes)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'wrapped_key'",
            params![wrapped],
        )?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'key_params'",
            params![params_bytes],
        )?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'key_kind'",
            params![provider.kind().into_bytes()],
        )?;
        tx.commit()?;
        Ok(())
    }

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

    fn form(&mut self, form_id: &str, modules: &[String]) -> Result<&Form, StoreError> {
        let key = (form_id.to_string(), modules.to_vec());
        if !self.forms.contains_key(&key) {
            let mods: Vec<&str> = modules.iter().map(String::as_str).collect();
            let form = self.catalog.form(form_id, &mods)?;
            self.forms.insert(key.clone(), form);
        }
        self.forms
            .get(&key)
            .ok_or_else(|| StoreError::Database("form cache".into()))
    }

    fn aad(case_id: &str) -> Vec<u8> {
        format!("wardcrf|v1|case|{case_id}").into_bytes()
    }

    /// The associated data of a case's device-only part: distinct from the case document's,
    /// so neither sealed blob can be passed off as the other.
    fn local_aad(case_id: &str) -> Vec<u8> {
        format!("wardcrf|v1|local|{case_id}").into_bytes()
    }

    /// Whether this device keeps identifying data to itself: its site's setting, learnt at
    /// enrolment ([`CaseStore::enrolled`]). Identifying fields (name, hospital record number,
    /// date of birth) are then written to a device-only part of each case that is never synced,
    /// exported or merged; reads (values, validation, history, look-up) see both parts. Once
    /// on, it stays on for this store.
    pub fn keeps_identifying_on_device(&self) -> bool {
        self.identifying_on_device
    }

    /// The device-only part of a case, if it has one.
    fn load_local(&self, case_id: &str) -> Result<Option<CaseDoc>, StoreError> {
        if !self.identifying_on_device {
            return Ok(None);
        }
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT doc FROM local_parts WHERE case_id = ?1",
                [case_id],
                |r| r.get(0),
            )
            .optional()?;
        blob.map(|b| {
            let plain = self.key.open(&Self::local_aad(case_id), &b)?;
            Ok(CaseDoc::load(&plain, &self.actor)?)
        })
        .transpose()
    }

    /// The values of a case: its document's, and those of its device-only part.
    fn values_of(&self, case_id: &str, doc: &CaseDoc) -> Result<Map<String, Json>, StoreError> {
        let mut values = doc.values();
        if let Some(local) = self.load_local(case_id)? {
            values.extend(local.values());
        }
        Ok(values)
    }

    /// Whether a write to `path` goes to the case's device-only part.
    fn is_local_field(&mut self, doc: &CaseDoc, path: &FieldPath) -> Result<bool, StoreError> {
        if !self.identifying_on_device || path.group.is_some() {
            return Ok(false);
        }
        let form = self.form_of(doc)?;
        Ok(form
            .field(&path.field)
            .is_some_and(|f| f.group.is_none() && f.def.identifying))
    }

    /// Writes a case's device-only part and its document (for the look-up index and a
    /// reopened status) in one transaction.
    fn write_with_local(
        &mut self,
        case_id: &str,
        doc: &mut CaseDoc,
        local: &mut CaseDoc,
    ) -> Result<(), StoreError> {
        self.conn.execute_batch("SAVEPOINT local_part")?;
        let result = (|| -> Result<(), StoreError> {
            let blob = self.key.seal(&Self::local_aad(case_id), &local.save())?;
            self.conn.execute(
                "INSERT INTO local_parts (case_id, doc) VALUES (?1, ?2)
                 ON CONFLICT (case_id) DO UPDATE SET doc = excluded.doc",
                params![case_id, blob],
            )?;
            self.write(case_id, doc, false)
        })();
        match result {
            Ok(()) => {
                self.conn.execute_batch("RELEASE local_part")?;
                Ok(())
            }
            Err(e) => {
                let _ = self
                    .conn
                    .execute_batch("ROLLBACK TO local_part; RELEASE local_part");
                Err(e)
            }
        }
    }

    fn load(&self, case_id: &str) -> Result<(CaseDoc, bool), StoreError> {
        let row: Option<(Vec<u8>, i64)> = self
            .conn
            .query_row(
                "SELECT doc, deleted FROM cases WHERE case_id = ?1",
                [case_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (blob, deleted) = row.ok_or_else(|| StoreError::UnknownCase(case_id.to_string()))?;
        let plain = self.key.open(&Self::aad(case_id), &blob)?;
        Ok((CaseDoc::load(&plain, &self.actor)?, deleted != 0))
    }

    fn modules_of(doc: &CaseDoc) -> Vec<String> {
        doc.meta("modules")
            .and_then(|m| serde_json::from_value::<Vec<String>>(m).ok())
            .unwrap_or_default()
    }

    fn form_of(&mut self, doc: &CaseDoc) -> Result<Form, StoreError> {
        let form_id = doc
            .meta("form_id")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(self.form(&form_id, &Self::modules_of(doc))?.clone())
    }

    /// Seals and writes a document with its plaintext listing columns, in one transaction.
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
        let local_heads = document::encode_heads(&doc.heads());
        let bytes = doc.save();
        let blob = self.key.seal(&Self::aad(case_id), &bytes)?;
        let status = doc.root_str("status").unwrap_or_else(|| "draft".into());
        let status = Status::parse(&status).as_str();
        let deleted = i64::from(doc.root_str("deleted").is_some());
        let conflicts = i64::from(!doc.conflicts().is_empty());
        let form_id = doc
            .meta("form_id")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let version = doc
            .meta("form_version")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let local = self.load_local(case_id)?;
        let index: Vec<(&str, Vec<u8>)> = INDEXED
            .iter()
            .filter_map(|f| {
                let path = FieldPath::field(*f);
                let v = local
                    .as_ref()
                    .and_then(|l| l.value(&path))
                    .or_else(|| doc.value(&path))?;
                let s = v.as_str()?.to_string();
                Some((
                    *f,
                    self.key
                        .keyed_hash("lookup", normalise_identifier(&s).as_bytes()),
                ))
            })
            .collect();
        let t = now();
        // A savepoint: its own transaction, or part of a whole sync answer (`sync_apply_all`).
        let tx = self.conn.savepoint()?;
        if insert {
            tx.execute(
                "INSERT INTO cases (case_id, form_id, form_version, status, has_conflicts, deleted, created_at, updated_at, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
                params![case_id, form_id, version, status, conflicts, deleted, t, blob],
            )?;
        } else {
            tx.execute(
                "UPDATE cases SET status = ?2, has_conflicts = ?3, deleted = ?4, updated_at = ?5, doc = ?6 WHERE case_id = ?1",
                params![case_id, status, conflicts, deleted, t, blob],
            )?;
        }
        tx.execute(
            "UPDATE cases SET local_heads = ?2 WHERE case_id = ?1",
            params![case_id, local_heads],
        )?;
        if let Some(heads) = server_heads {
            tx.execute(
                "UPDATE cases SET server_heads = ?2 WHERE case_id = ?1",
                params![case_id, heads],
            )?;
        }
        tx.execute("DELETE FROM lookup WHERE case_id = ?1", [case_id])?;
        for (kind, token) in index {
            tx.execute(
                "INSERT INTO lookup (kind, token, case_id) VALUES (?1, ?2, ?3)",
                params![kind, token, case_id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Creates a case of a core form (or module, with its core form) plus modules.
    pub fn create_case(
        &mut self,
        form_id: &str,
        modules: &[&str],
        user: &str,
    ) -> Result<String, StoreError> {
        let def = self.catalog.get(form_id)?.clone();
        let (core, mut mods) = match &def.extends {
            Some(base) => (base.clone(), vec![def.form_id.clone()]),
            None => (def.form_id.clone(), Vec::new()),
        };
        for m in modules {
            if !mods.iter().any(|x| x == m) {
                mods.push((*m).to_string());
            }
        }
        let form = self.form(&core, &mods)?.clone();
        let case_id = new_id()?;
        let mut meta = Map::new();
        meta.insert("form_id".into(), json!(core));
        meta.insert("form_version".into(), json!(form.definition().version));
        meta.insert("modules".into(), json!(mods));
        meta.insert("created_by".into(), json!(user));
        let groups: Vec<String> = form.groups().iter().map(|g| g.id.clone()).collect();
        let note = ChangeNote::new(user, "create");
        let mut doc = CaseDoc::create(&self.actor, &meta, &groups, &note, now())?;
        self.write(&case_id, &mut doc, true)?;
        Ok(case_id)
    }

    fn editable(&self, case_id: &str) -> Result<(CaseDoc, Status), StoreError> {
        let (doc, deleted) = self.load(case_id)?;
        if deleted {
            return Err(StoreError::Deleted(case_id.to_string()));
        }
        let status = Status::parse(&doc.root_str("status").unwrap_or_default());
        Ok((doc, status))
    }

    /// Validates the case with `path` set to `raw` and returns the canonical value to store.
    fn checked_value(
        &mut self,
        case_id: &str,
        doc: &CaseDoc,
        path: &FieldPath,
        raw: Json,
        reason: Option<&str>,
    ) -> Result<Json, StoreError> {
        let form = self.form_of(doc)?;
        let field = form
            .field(&path.field)
            .filter(|f| f.group == path.group)
            .ok_or_else(|| StoreError::UnknownField {
                field: path.field.clone(),
            })?;
        // A soft warning is confirmed by the reason given with the write.
        let raw = match (raw, reason) {
            (Json::Object(mut o), Some(r))
                if o.contains_key("value") && !o.contains_key("confirm") =>
            {
                o.insert("confirm".into(), json!(r));
                Json::Object(o)
            }
            (Json::Object(o), _) if o.contains_key("value") => Json::Object(o),
            (plain, Some(r)) => json!({"value": plain, "confirm": r}),
            (plain, None) => plain,
        };
        let mut values = self.values_of(case_id, doc)?;
        path.put_in(&mut values, raw);
        let report = validate(
            &form,
            &values,
            &Context {
                today: self.today,
                completing: false,
            },
        );
        let at_path = |i: &&Issue| {
            i.field == field.def.id
                && i.group == path.group
                && (path.row_id.is_none() || i.row_id == path.row_id)
        };
        refuse_write(&report, |i| at_path(&i))?;
        let canonical = path
            .get_in(&report.values)
            .ok_or_else(|| StoreError::Rejected {
                field: path.field.clone(),
                issues: Vec::new(),
            })?;
        // The reason confirms a warning only when there is one; otherwise it is just the
        // reason for the change, kept in the history, not in the value.
        let warned = report
            .warnings
            .iter()
            .filter(at_path)
            .any(|w| w.code == IssueCode::SoftLimit);
        Ok(if warned {
            canonical
        } else {
            without_confirmation(canonical)
        })
    }

    /// Sets a value (a case-level field, or a field of an existing row). The value is validated:
    /// an impossible value is refused; one outside soft limits needs `reason` as confirmation.
    /// A reason is required to change an earlier entry and to edit a complete or signed case
    /// (which reopens it as a draft).
    pub fn set_value(
        &mut self,
        case_id: &str,
        path: &FieldPath,
        value: Json,
        user: &str,
        reason: Option<&str>,
    ) -> Result<Json, StoreError> {
        let reason = clean_reason(reason);
        let (mut doc, status) = self.editable(case_id)?;
        if let (Some(g), Some(r)) = (&path.group, &path.row_id)
            && !doc.has_row(g, r)
        {
            return Err(StoreError::UnknownRow {
                case_id: case_id.into(),
                group: g.clone(),
                row_id: r.clone(),
            });
        }
        // An identifying field at a site that keeps them on the device: its device-only part.
        let mut local = if self.is_local_field(&doc, path)? {
            Some(match self.load_local(case_id)? {
                Some(l) => l,
                None => CaseDoc::create(
                    &self.actor,
                    &Map::new(),
                    &[],
                    &ChangeNote::new(user, "create"),
                    now(),
                )?,
            })
        } else {
            None
        };
        let old = match &local {
            Some(l) => l.value(path),
            None => doc.value(path),
        };
        if old.is_some() && reason.is_none() {
            return Err(StoreError::ReasonRequired(
                "changing a value entered before",
            ));
        }
        if status != Status::Draft && reason.is_none() {
            return Err(StoreError::ReasonRequired(
                "editing a complete or signed case",
            ));
        }
        let canonical = if value.is_null() {
            None
        } else {
            Some(self.checked_value(case_id, &doc, path, value, reason.as_deref())?)
        };
        if canonical == old {
            return Ok(canonical.unwrap_or(Json::Null));
        }
        let mut note = ChangeNote::new(user, if canonical.is_some() { "set" } else { "clear" });
        note.reason = reason;
        note.field = Some(path.field.clone());
        note.group = path.group.clone();
        note.row_id = path.row_id.clone();
        note.old = old;
        note.new = canonical.clone();
        let t = now();
        if let Some(local) = &mut local {
            local.put_value(path, canonical.as_ref(), &note, t)?;
            // The shared record learns only that the case was reopened: not the field's
            // values, nor the reason (which may quote them); both stay in the local part.
            let mut shared = ChangeNote::new(user, "edit");
            shared.reason = Some("an identifying field was edited on the device".into());
            reopen_after_edit(&mut doc, status, &shared, t)?;
            self.write_with_local(case_id, &mut doc, local)?;
        } else {
            doc.put_value(path, canonical.as_ref(), &note, t)?;
            reopen_after_edit(&mut doc, status, &note, t)?;
            self.write(case_id, &mut doc, false)?;
        }
        Ok(canonical.unwrap_or(Json::Null))
    }

    /// Adds a row to a repeating group with its first values; returns the new row id.
    pub fn add_row(
        &mut self,
        case_id: &str,
        group: &str,
        values: &Map<String, Json>,
        user: &str,
        reason: Option<&str>,
    ) -> Result<String, StoreError> {
        let reason = clean_reason(reason);
        let (mut doc, status) = self.editable(case_id)?;
        if status != Status::Draft && reason.is_none() {
            return Err(StoreError::ReasonRequired(
                "editing a complete or signed case",
            ));
        }
        let form = self.form_of(&doc)?;
        if form.group(group).is_none() {
            return Err(StoreError::UnknownField {
                field: group.to_string(),
            });
        }
        let row_id = new_id()?;
        // Validate the new row as part of the case.
        let mut all = self.values_of(case_id, &doc)?;
        let mut row = values.clone();
        row.insert("row_id".into(), json!(row_id));
        if let Some(a) = all
            .entry(group.to_string())
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            a.push(Json::Object(row))
        }
        let report = validate(
            &form,
            &all,
            &Context {
                today: self.today,
                completing: false,
            },
        );
        let mine = |i: &Issue| {
            i.row_id.as_deref() == Some(row_id.as_str()) || (i.group.is_none() && i.field == group)
        };
        refuse_write(&report, mine)?;
        let mut canonical: Map<String, Json> = report
            .values
            .get(group)
            .and_then(Json::as_array)
            .and_then(|rows| {
                rows.iter()
                    .find(|r| r.get("row_id").and_then(Json::as_str) == Some(row_id.as_str()))
            })
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        canonical.remove("row_id");
        let mut note = ChangeNote::new(user, "row_add");
        note.reason = reason;
        note.group = Some(group.to_string());
        note.row_id = Some(row_id.clone());
        note.new = Some(Json::Object(canonical.clone()));
        let t = now();
        doc.add_row(group, &row_id, &canonical, &note, t)?;
        reopen_after_edit(&mut doc, status, &note, t)?;
        self.write(case_id, &mut doc, false)?;
        Ok(row_id)
    }

    /// Removes a row (kept in the document, marked removed with the reason).
    pub fn remove_row(
        &mut self,
        case_id: &str,
        group: &str,
        row_id: &str,
        user: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let reason =
            clean_reason(Some(reason)).ok_or(StoreError::ReasonRequired("removing a row"))?;
        let (mut doc, _) = self.editable(case_id)?;
        if !doc.has_row(group, row_id) {
            return Err(StoreError::UnknownRow {
                case_id: case_id.into(),
                group: group.into(),
                row_id: row_id.into(),
            });
        }
        let path = FieldPath::row(group, row_id, "_removed");
        let mut note = ChangeNote::new(user, "row_remove");
        note.reason = Some(reason.clone());
        note.group = Some(group.into());
        note.row_id = Some(row_id.into());
        let marker = json!({"user": user, "reason": reason});
        doc.put_value(&path, Some(&marker), &note, now())?;
        self.write(case_id, &mut doc, false)?;
        Ok(())
    }

    /// A case with its values, validation report, status and open conflicts.
    pub fn case(&mut self, case_id: &str) -> Result<CaseView, StoreError> {
        let (mut doc, deleted) = self.load(case_id)?;
        let form = self.form_of(&doc)?;
        let values = self.values_of(case_id, &doc)?;
        let report = validate(
            &form,
            &values,
            &Context {
                today: self.today,
                completing: false,
            },
        );
        let conflicts = doc
            .conflicts()
            .into_iter()
            .map(|(path, candidates)| Conflict {
                case_id: case_id.to_string(),
                path,
                candidates,
            })
            .collect();
        Ok(CaseView {
            case_id: case_id.to_string(),
            form_id: form.form_id().to_string(),
            form_version: form.definition().version.clone(),
            modules: Self::modules_of(&doc),
            status: Status::parse(&doc.root_str("status").unwrap_or_default()),
            deleted,
            values: report.values.clone(),
            report,
            conflicts,
        })
    }

    /// Lists cases from the plaintext columns only (no decryption).
    pub fn list(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT case_id, form_id, form_version, status, has_conflicts, deleted, created_at, updated_at FROM cases
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR form_id = ?2) AND (?3 IS NULL OR updated_at >= ?3)
               AND (?4 = 0 OR has_conflicts = 1) AND (?5 = 1 OR deleted = 0)
             ORDER BY updated_at DESC, case_id",
        )?;
        let rows = stmt.query_map(
            params![
                filter.status.map(Status::as_str),
                filter.form_id,
                filter.updated_since,
                i64::from(filter.with_conflicts),
                i64::from(filter.include_deleted)
            ],
            |r| {
                Ok(CaseSummary {
                    case_id: r.get(0)?,
                    form_id: r.get(1)?,
                    form_version: r.get(2)?,
                    status: Status::parse(&r.get::<_, String>(3)?),
                    has_conflicts: r.get::<_, i64>(4)? != 0,
                    deleted: r.get::<_, i64>(5)? != 0,
                    created_at: r.get(6)?,
                    updated_at: r.get(7)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves a case along draft → complete → signed, or reopens it (with a reason).
    pub fn set_status(
        &mut self,
        case_id: &str,
        target: Status,
        user: &str,
        reason: Option<&str>,
    ) -> Result<Status, StoreError> {
        let reason = clean_reason(reason);
        let (mut doc, status) = self.editable(case_id)?;
        match target {
            Status::Complete => {
                let form = self.form_of(&doc)?;
                let values = self.values_of(case_id, &doc)?;
                let report = validate(
                    &form,
                    &values,
                    &Context {
                        today: self.today,
                        completing: true,
                    },
                );
                let conflicts = doc.conflicts().len();
                if !report.is_complete() || conflicts > 0 {
                    return Err(StoreError::NotComplete {
                        report: Box::new(report),
                        conflicts,
                    });
                }
            }
            Status::Signed if status != Status::Complete => return Err(StoreError::NotSignable),
            Status::Draft if status != Status::Draft && reason.is_none() => {
                return Err(StoreError::ReasonRequired(
                    "reopening a complete or signed case",
                ));
            }
            _ => {}
        }
        if status == target {
            return Ok(status);
        }
        let mut note = ChangeNote::new(
            user,
            if target == Status::Draft {
                "reopen"
            } else {
                "status"
            },
        );
        note.reason = reason;
        note.old = Some(json!(status.as_str()));
        note.new = Some(json!(target.as_str()));
        doc.put_root("status", Some(target.as_str()), &note, now())?;
        self.write(case_id, &mut doc, false)?;
        Ok(target)
    }

    /// Deletes a case (recoverably: it stays in the store, marked deleted with the reason).
    pub fn delete_case(
        &mut self,
        case_id: &str,
        user: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.mark_deleted(case_id, user, reason, true)
    }

    /// Restores a deleted case.
    pub fn restore_case(
        &mut self,
        case_id: &str,
        user: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.mark_deleted(case_id, user, reason, false)
    }

    fn mark_deleted(
        &mut self,
        case_id: &str,
        user: &str,
        reason: &str,
        deleted: bool,
    ) -> Result<(), StoreError> {
        let what = if deleted {
            "deleting a case"
        } else {
            "restoring a case"
        };
        let reason = clean_reason(Some(reason)).ok_or(StoreError::ReasonRequired(what))?;
        let (mut doc, _) = self.load(case_id)?;
        let mut note = ChangeNote::new(user, if deleted { "delete" } else { "restore" });
        note.reason = Some(reason.clone());
        let marker = deleted.then(|| json!({"user": user, "reason": reason}).to_string());
        doc.put_root("deleted", marker.as_deref(), &note, now())?;
        self.write(case_id, &mut doc, false)
    }

    /// The audit trail of a case, oldest first; only entries touching `field` when given.
    pub fn history(
        &self,
        case_id: &str,
        field: Option<&str>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let (mut doc, _) = self.load(case_id)?;
        let shared = doc.history(field);
        let Some(mut local) = self.load_local(case_id)? else {
            return Ok(shared);
        };
        // The device-only part's entries (its creation aside) merged in by time; each part
        // keeps its own (causal) order.
        let mut local = local
            .history(field)
            .into_iter()
            .filter(|e| e.op != "create")
            .peekable();
        let mut out = Vec::with_capacity(shared.len());
        for entry in shared {
            while let Some(l) = local.next_if(|l| l.time < entry.time) {
                out.push(l);
            }
            out.push(entry);
        }
        out.extend(local);
        Ok(out)
    }

    /// Open conflicts of one case, or of every case flagged with conflicts.
    pub fn conflicts(&mut self, case_id: Option<&str>) -> Result<Vec<Conflict>, StoreError> {
        let ids: Vec<String> = match case_id {
            Some(id) => vec![id.to_string()],
            // Through the partial index of migration 004: costs the conflicted cases only.
            None => {
                let mut stmt = self.conn.prepare(
                    "SELECT case_id FROM cases WHERE has_conflicts = 1 AND deleted = 0
                     ORDER BY updated_at DESC, case_id",
                )?;
                let ids = stmt.query_map([], |r| r.get(0))?;
                ids.collect::<Result<_, _>>()?
            }
        };
        let mut out = Vec::new();
        for id in ids {
            let (mut doc, _) = self.load(&id)?;
            out.extend(
                doc.conflicts()
                    .into_iter()
                    .map(|(path, candidates)| Conflict {
                        case_id: id.clone(),
                        path,
                        candidates,
                    }),
            );
        }
        Ok(out)
    }

    /// Resolves a conflict with a value (a candidate's or a new one) and a reason: one change
    /// that supersedes every candidate.
    pub fn resolve(
        &mut self,
        case_id: &str,
        path: &FieldPath,
        value: Json,
        user: &str,
        reason: &str,
    ) -> Result<Json, StoreError> {
        let reason =
            clean_reason(Some(reason)).ok_or(StoreError::ReasonRequired("resolving a conflict"))?;
        let (mut doc, _) = self.editable(case_id)?;
        let candidates = doc
            .conflicts()
            .into_iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c)
            .ok_or_else(|| StoreError::NoConflict(path.field.clone()))?;
        let canonical = self.checked_value(case_id, &doc, path, value, Some(&reason))?;
        let mut note = ChangeNote::new(user, "resolve");
        note.reason = Some(reason);
        note.field = Some(path.field.clone());
        note.group = path.group.clone();
        note.row_id = path.row_id.clone();
        note.old = Some(Json::Array(
            candidates.iter().map(|c| c.value.clone()).collect(),
        ));
        note.new = Some(canonical.clone());
        doc.put_value(path, Some(&canonical), &note, now())?;
        self.write(case_id, &mut doc, false)?;
        Ok(canonical)
    }

    /// Finds cases by hospital record number or patient name through the keyed index.
    pub fn find(&self, field: &str, value: &str) -> Result<Vec<String>, StoreError> {
        let token = self
            .key
            .keyed_hash("lookup", normalise_identifier(value).as_bytes());
        let mut stmt = self.conn.prepare(
            "SELECT case_id FROM lookup WHERE kind = ?1 AND token = ?2 ORDER BY case_id",
        )?;
        let ids = stmt.query_map(params![field, token], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// Every case document, for another device to merge (decrypted: send only over a secure
    /// channel).
    pub fn export_cases(&self) -> Result<Vec<CaseExport>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT case_id FROM cases ORDER BY case_id")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.into_iter()
            .map(|case_id| {
                let (mut doc, _) = self.load(&case_id)?;
                Ok(CaseExport {
                    bytes: doc.save(),
                    case_id,
                })
            })
            .collect()
    }

    /// Merges case documents from another device; every change of both sides is kept.
    pub fn import_cases(&mut self, cases: &[CaseExport]) -> Result<MergeSummary, StoreError> {
        let mut summary = MergeSummary::default();
        for c in cases {
            let mut theirs = CaseDoc::load(&c.bytes, &self.actor)?;
            if self.identifying_on_device && self.holds_identifying(&mut theirs)? {
                return Err(StoreError::IdentifyingAlreadyShared { cases: 1 });
            }
            let exists: bool = self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM cases WHERE case_id = ?1)",
                [&c.case_id],
                |r| r.get(0),
            )?;
            let mut doc = if exists {
                let (mut mine, _) = self.load(&c.case_id)?;
                if mine.meta("form_id") != theirs.meta("form_id") {
                    return Err(StoreError::Mismatch(c.case_id.clone()));
                }
                let before = mine.heads();
                mine.merge(&mut theirs)?;
                if mine.heads() == before {
                    continue;
                }
                summary.updated_cases += 1;
                mine
            } else {
                summary.new_cases += 1;
                theirs
            };
            summary.conflicts += doc.conflicts().len();
            self.write(&c.case_id, &mut doc, !exists)?;
        }
        Ok(summary)
    }

    /// Merges every case of `other` into this store.
    pub fn merge_from(&mut self, other: &CaseStore) -> Result<MergeSummary, StoreError> {
        let cases = other.export_cases()?;
        self.import_cases(&cases)
    }
}

/// Device-side sync bookkeeping (the exchange itself is in [`crate::sync`]).
impl CaseStore {
    /// Cases the repository does not yet hold as they are here (never synced, or changed).
    pub fn sync_outbox(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT case_id FROM cases WHERE server_heads = x'' OR local_heads != server_heads ORDER BY updated_at, case_id",
        )?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// The changes of a case that the repository lacks, with this device's heads.
    pub fn sync_push(&self, case_id: &str) -> Result<crate::sync::CaseChanges, StoreError> {
        /// server_heads, local_heads, form_id, sealed document.
        type PushRow = (Vec<u8>, Vec<u8>, String, Vec<u8>);
        let row: Option<PushRow> = self
            .conn
            .query_row(
                "SELECT server_heads, local_heads, form_id, doc FROM cases WHERE case_id = ?1",
                [case_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (server, local, form_id, blob) =
            row.ok_or_else(|| StoreError::UnknownCase(case_id.to_string()))?;
        // A case the repository has never held goes as the whole saved document, which is what
        // the store keeps (sealed): the same changes in automerge's compressed document
        // encoding, about a seventh of the bytes of the change-by-change encoding for a case
        // entered field by field, and sent without loading the document (measured by
        // server/benches/sync.rs). Both encodings are read by `load_incremental`.
        if server.is_empty()
            && let Some(heads) = document::decode_heads(&local).filter(|h| !h.is_empty())
        {
            let plain = self.key.open(&Self::aad(case_id), &blob)?;
            return Ok(crate::sync::CaseChanges {
                case_id: case_id.to_string(),
                form_id,
                changes: plain.to_vec(),
                heads: heads.iter().map(ToString::to_string).collect(),
            });
        }
        let (mut doc, _) = self.load(case_id)?;
        let known = document::decode_heads(&server).unwrap_or_default();
        let form_id = doc
            .meta("form_id")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(crate::sync::CaseChanges {
            case_id: case_id.to_string(),
            form_id,
            changes: doc.changes_after(&known),
            heads: doc.heads().iter().map(ToString::to_string).collect(),
        })
    }

    /// Applies a case received from the repository and records the repository's heads.
    /// Returns whether the case was new to this device.
    pub fn sync_apply(&mut self, case: &crate::sync::CaseChanges) -> Result<bool, StoreError> {
        let heads = crate::sync::parse_heads(&case.heads)
            .ok_or_else(|| StoreError::Mismatch(format!("{}: malformed heads", case.case_id)))?;
        let server_heads = document::encode_heads(&heads);
        let local_heads: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT local_heads FROM cases WHERE case_id = ?1",
                [&case.case_id],
                |r| r.get(0),
            )
            .optional()?;
        if local_heads.as_deref() == Some(server_heads.as_slice()) {
            // The repository holds exactly what this device holds (the answer to its own push):
            // nothing to decrypt, merge or rewrite, only the bookkeeping.
            self.conn.execute(
                "UPDATE cases SET server_heads = ?2 WHERE case_id = ?1",
                params![case.case_id, server_heads],
            )?;
            return Ok(false);
        }
        let exists = local_heads.is_some();
        let mut doc = if exists {
            let (mut doc, _) = self.load(&case.case_id)?;
            doc.apply(&case.changes)?;
            doc
        } else {
            CaseDoc::from_changes(&case.changes, &self.actor)?
        };
        self.write_synced(&case.case_id, &mut doc, !exists, Some(&server_heads))?;
        Ok(!exists)
    }

    /// Applies a whole answer of the repository and its cursor in one transaction (one durable
    /// write instead of one per case); all or nothing. Returns, per case, whether it was new.
    pub fn sync_apply_all(
        &mut self,
        cases: &[crate::sync::CaseChanges],
        cursor: u64,
    ) -> Result<Vec<bool>, StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let applied = cases
            .iter()
            .map(|c| self.sync_apply(c))
            .collect::<Result<Vec<bool>, StoreError>>()
            .and_then(|new| {
                self.set_sync_cursor(cursor)?;
                Ok(new)
            });
        // On any failure (COMMIT included: it can fail and leave the transaction open), the
        // store is as it was before the answer; the next sync asks again.
        let committed = applied.and_then(|new| {
            self.conn.execute_batch("COMMIT")?;
            Ok(new)
        });
        if committed.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        committed
    }

    /// Forgets what the repository holds of each of `case_ids` that this store holds (the
    /// repository asked for them again: see [`crate::sync::SyncResponse::repush`]); the next
    /// push sends each of them whole. Ids this store does not hold are ignored. Returns the
    /// ids forgotten.
    pub fn sync_forget_server_heads(
        &mut self,
        case_ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut forgotten = Vec::new();
        for id in case_ids {
            let n = self.conn.execute(
                "UPDATE cases SET server_heads = x'' WHERE case_id = ?1",
                [id],
            )?;
            if n > 0 {
                forgotten.push(id.clone());
            }
        }
        Ok(forgotten)
    }

    fn meta_value(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Keeps what enrolment gave this device: the repository address and its token (sealed),
    /// and its site's setting for identifying data ([`CaseStore::keeps_identifying_on_device`]).
    /// A store whose shared records already hold identifying values cannot join a site that
    /// keeps them on the device ([`StoreError::IdentifyingAlreadyShared`]); nothing is kept then.
    pub fn enrolled(
        &mut self,
        server_url: &str,
        enrolment: &crate::sync::Enrolment,
    ) -> Result<(), StoreError> {
        if enrolment.identifying_on_device && !self.identifying_on_device {
            let ids: Vec<String> = {
                let mut stmt = self.conn.prepare("SELECT case_id FROM cases")?;
                let ids = stmt.query_map([], |r| r.get(0))?;
                ids.collect::<Result<_, _>>()?
            };
            let mut shared = 0;
            for id in ids {
                let (mut doc, _) = self.load(&id)?;
                if self.holds_identifying(&mut doc)? {
                    shared += 1;
                }
            }
            if shared > 0 {
                return Err(StoreError::IdentifyingAlreadyShared { cases: shared });
            }
        }
        self.set_sync_credential(server_url, &enrolment.token)?;
        if enrolment.identifying_on_device {
            self.put_meta("identifying_on_device", b"1")?;
            self.identifying_on_device = true;
        }
        Ok(())
    }

    /// Whether a case document has ever held an identifying value (its history included).
    fn holds_identifying(&mut self, doc: &mut CaseDoc) -> Result<bool, StoreError> {
        let form = self.form_of(doc)?;
        Ok(doc.history(None).iter().any(|e| {
            e.group.is_none()
                && e.field
                    .as_deref()
                    .and_then(|f| form.field(f))
                    .is_some_and(|f| f.def.identifying)
        }))
    }

    /// Keeps the repository address and this device's token, sealed with the data key.
    pub fn set_sync_credential(&mut self, server_url: &str, token: &str) -> Result<(), StoreError> {
        let plain = serde_json::to_vec(&json!({"server_url": server_url, "token": token}))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let sealed = self.key.seal(b"wardcrf|v1|credential", &plain)?;
        self.put_meta("sync_credential", &sealed)
    }

    /// The repository address and device token, if this device is enrolled.
    pub fn sync_credential(&self) -> Result<Option<(String, String)>, StoreError> {
        let sealed = self.meta_value("sync_credential")?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plain = self.key.open(b"wardcrf|v1|credential", &sealed)?;
        let v: Json =
            serde_json::from_slice(&plain).map_err(|e| StoreError::Database(e.to_string()))?;
        match (v["server_url"].as_str(), v["token"].as_str()) {
            (Some(u), Some(t)) => Ok(Some((u.to_string(), t.to_string()))),
            _ => Err(StoreError::Database("damaged: sync credential".into())),
        }
    }

    /// The repository sequence number this device has applied up to.
    pub fn sync_cursor(&self) -> Result<u64, StoreError> {
        let v = self.meta_value("sync_cursor")?;
        Ok(v.and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    /// Records the cursor once a response's cases are applied.
    pub fn set_sync_cursor(&mut self, cursor: u64) -> Result<(), StoreError> {
        self.put_meta("sync_cursor", cursor.to_string().as_bytes())
    }
}

#[cfg(test)]
mod tests;
