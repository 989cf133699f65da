//! The encrypted case store of a device: open it, edit cases, review conflicts, merge, enroll
//! and sync. Each method locks the store, converts its arguments, calls one core method and
//! maps the error; `sync` takes the store only for each of its steps, never across the
//! network. Enrolment is in [`crate::enrol`]; signing staff in, PINs, the inactivity lock and
//! signatures are in [`crate::staff`].

use crate::error::{WardcrfError, bad_json};
use crate::staff::Activity;
use crate::types::{
    CaseFilter, CaseStatus, CaseSummary, CaseView, Conflict, FieldPath, HistoryEntry, Language,
    MergeSummary, SyncProgress, SyncSummary,
};
use serde_json::{Map, Value as Json};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use wardcrf_core as core;
use wardcrf_core::sync::{HttpOptions, HttpTransport, TransportError};
use zeroize::Zeroizing;

/// Why a key provider could not wrap or unwrap the store's data key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyProviderError {
    /// This provider's key does not open the store.
    #[error("the key does not fit")]
    WrongKey,
    /// The key is not usable now (device locked, user not authenticated, key deleted): a short
    /// reason without key material.
    #[error("the key is unavailable: {reason}")]
    Unavailable { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyProviderError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        KeyProviderError::Unavailable { reason: e.reason }
    }
}

/// Wraps and unwraps the store's random data key with a key the app keeps in secure hardware
/// (Android Keystore, iOS Keychain): implemented by the app.
#[uniffi::export(with_foreign)]
pub trait KeyProvider: Send + Sync {
    /// A short name of the kind of key (`android-keystore`, `ios-keychain`), kept beside the
    /// wrapped key.
    fn kind(&self) -> String;
    /// Encrypts the data key.
    fn wrap(&self, data_key: Vec<u8>) -> Result<Vec<u8>, KeyProviderError>;
    /// Decrypts the data key; [`KeyProviderError::WrongKey`] when this key does not fit.
    fn unwrap(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyProviderError>;
}

/// The app's key provider as the core's.
struct ForeignKey(Arc<dyn KeyProvider>);

impl std::fmt::Debug for ForeignKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForeignKey(<redacted>)")
    }
}

fn key_error(e: KeyProviderError) -> core::KeyError {
    match e {
        KeyProviderError::WrongKey => core::KeyError::WrongKey,
        KeyProviderError::Unavailable { reason } => core::KeyError::Provider(reason),
    }
}

impl core::KeyProvider for ForeignKey {
    fn kind(&self) -> String {
        self.0.kind()
    }

    fn wrap(&self, data_key: &[u8], _params: &[u8]) -> Result<Vec<u8>, core::KeyError> {
        // The copy handed over is the app's to protect; ours is zeroed on return.
        self.0.wrap(data_key.to_vec()).map_err(key_error)
    }

    fn unwrap(&self, wrapped: &[u8], _params: &[u8]) -> Result<Zeroizing<Vec<u8>>, core::KeyError> {
        self.0
            .unwrap(wrapped.to_vec())
            .map(Zeroizing::new)
            .map_err(key_error)
    }
}

/// Receives sync progress (on the thread that called `sync`, after each exchange). It may call
/// the store: a sync holds it only for its own short steps, never while it talks to the
/// repository.
#[uniffi::export(with_foreign)]
pub trait SyncProgressListener: Send + Sync {
    fn on_progress(&self, progress: SyncProgress);
}

/// Stops a sync between two exchanges: give it to `sync`, call `cancel` from any thread. The
/// sync then fails with `WardcrfError.Cancelled`; nothing exchanged is lost.
#[derive(Debug, Default, uniffi::Object)]
pub struct SyncCancellation {
    cancelled: AtomicBool,
}

#[uniffi::export]
impl SyncCancellation {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(SyncCancellation::default())
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// The store as a sync reaches it: one step at a time, a due inactivity lock applied first, and
/// no use recorded (a sync, often in the background, does not keep the store unlocked).
struct SyncSteps<'a>(&'a CaseStore);

impl core::sync::StoreAccess for SyncSteps<'_> {
    fn with<R>(&mut self, step: impl FnOnce(&mut core::CaseStore) -> R) -> R {
        step(&mut self.0.peek())
    }
}

/// A device's encrypted case store. Every change is recorded under the staff member signed in
/// (`sign_in`, `unlock_with_pin`); a store on which staff signed in opens locked. After the
/// site's `lock_after_minutes` without a call the store locks itself (see `touch`). Methods may
/// be called from any thread; they run one at a time, except that `sync` holds the store only for
/// its own short steps, so reads and edits go on while it talks to the repository. Close it (Kotlin `close()`/`use`, Swift:
/// drop it) to release the database.
#[derive(uniffi::Object)]
pub struct CaseStore {
    inner: Mutex<core::CaseStore>,
    /// When the store was last used; taken only while `inner` is held.
    activity: Mutex<Activity>,
    /// Held for the whole of a sync: a second `sync` waits for the first. Never taken while
    /// `inner` is held.
    syncing: Mutex<()>,
    device_id: String,
}

impl std::fmt::Debug for CaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseStore")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

fn parse_json(what: &str, text: &str) -> Result<Json, WardcrfError> {
    serde_json::from_str(text).map_err(|e| bad_json(what, &e))
}

fn parse_object(what: &str, text: &str) -> Result<Map<String, Json>, WardcrfError> {
    match parse_json(what, text)? {
        Json::Object(o) => Ok(o),
        _ => Err(WardcrfError::InvalidInput {
            reason: format!("{what} must be a JSON object"),
        }),
    }
}

/// `YYYY-MM-DD` as the core's date.
pub(crate) fn parse_today(
    today: Option<String>,
) -> Result<Option<core::PartialDate>, WardcrfError> {
    today
        .map(|s| match core::PartialDate::parse(s.trim()) {
            Ok(d) if d.is_full() => Ok(d),
            _ => Err(WardcrfError::InvalidInput {
                reason: "today must be a date YYYY-MM-DD".into(),
            }),
        })
        .transpose()
}

pub(crate) fn http_options(ca_pem: Option<Vec<u8>>) -> HttpOptions {
    HttpOptions {
        ca_pem,
        ..HttpOptions::default()
    }
}

/// The connection to the repository this store is enrolled with, if it is.
pub(crate) fn enrolled_transport(
    store: &core::CaseStore,
    ca_pem: Option<Vec<u8>>,
) -> Result<Option<HttpTransport>, WardcrfError> {
    let Some((server, token)) = store.sync_credential()? else {
        return Ok(None);
    };
    // A certificate pinned at enrolment (from the QR code) is then the only trust anchor.
    let options = HttpOptions {
        pin: store.server_pin()?,
        ..http_options(ca_pem)
    };
    Ok(Some(HttpTransport::with_options(
        &server, &token, &options,
    )?))
}

/// A repository address as the store keeps it (normalised), or `InvalidInput` saying why it
/// is not one.
fn new_server_url(url: &str) -> Result<String, WardcrfError> {
    HttpTransport::with_options(url, "", &HttpOptions::default())
        .map(|t| t.base_url().to_string())
        .map_err(|e| WardcrfError::InvalidInput {
            reason: match e {
                TransportError::Refused(reason) | TransportError::Unreachable(reason) => reason,
                other => other.to_string(),
            },
        })
}

impl CaseStore {
    fn wrap(store: core::CaseStore) -> Arc<Self> {
        let activity = Activity::new(&store);
        Arc::new(CaseStore {
            device_id: store.device_id(),
            inner: Mutex::new(store),
            activity: Mutex::new(activity),
            syncing: Mutex::new(()),
        })
    }

    /// The core store, for a call that reads or changes data: when the store was left unused
    /// for longer than its inactivity lock, it is locked first and the call fails with
    /// `Locked`. A panic in an earlier call does not leave a half-written case behind (every
    /// write is one SQLite transaction), so a poisoned lock is taken over.
    pub(crate) fn store(&self) -> Result<MutexGuard<'_, core::CaseStore>, WardcrfError> {
        let mut store = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if self.activity().used(&mut store) {
            return Err(WardcrfError::Locked);
        }
        Ok(store)
    }

    /// The core store for a call that works locked (signing in, the state of the session):
    /// a due inactivity lock is applied, silently.
    pub(crate) fn session(&self) -> MutexGuard<'_, core::CaseStore> {
        let mut store = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        self.activity().used(&mut store);
        store
    }

    /// The core store for a question about the session that is not use of the store (a
    /// screen polling who is signed in): a due inactivity lock is applied, no use recorded.
    pub(crate) fn peek(&self) -> MutexGuard<'_, core::CaseStore> {
        let mut store = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        self.activity().check(&mut store);
        store
    }

    /// Syncs through `transport` (see `sync`): one sync at a time, the store taken for each of
    /// the sync's steps only.
    pub(crate) fn sync_through(
        &self,
        transport: &dyn core::sync::Transport,
        progress: Option<Arc<dyn SyncProgressListener>>,
        cancel: Option<Arc<SyncCancellation>>,
    ) -> Result<SyncSummary, WardcrfError> {
        let _one_at_a_time = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        let never = AtomicBool::new(false);
        let cancel = cancel.as_ref().map_or(&never, |c| &c.cancelled);
        let mut report = |p: core::sync::SyncProgress| {
            if let Some(listener) = &progress {
                listener.on_progress(p.into());
            }
        };
        let summary = core::sync::sync_cancellable(SyncSteps(self), transport, &mut report, cancel);
        // A sync reads the site's roster, which may change the inactivity lock.
        let store = self.peek();
        self.activity().refresh(&store);
        Ok(summary?.into())
    }

    /// The record of use; taken only while the store's lock is held.
    pub(crate) fn activity(&self) -> MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[uniffi::export]
impl CaseStore {
    /// Creates a new store in `dir` (created if needed), its data key wrapped by `key`.
    #[uniffi::constructor]
    pub fn create(dir: String, key: Arc<dyn KeyProvider>) -> Result<Arc<Self>, WardcrfError> {
        let store = core::CaseStore::create(Path::new(&dir), &ForeignKey(key))?;
        Ok(Self::wrap(store))
    }

    /// Opens the store in `dir`; `WrongKey` when `key` does not open it (nothing is changed).
    #[uniffi::constructor]
    pub fn open(dir: String, key: Arc<dyn KeyProvider>) -> Result<Arc<Self>, WardcrfError> {
        let store = core::CaseStore::open(Path::new(&dir), &ForeignKey(key))?;
        Ok(Self::wrap(store))
    }

    /// Creates a new store whose key is derived from a passphrase (PBKDF2, 600,000 rounds).
    #[uniffi::constructor]
    pub fn create_with_passphrase(
        dir: String,
        passphrase: String,
    ) -> Result<Arc<Self>, WardcrfError> {
        let store = core::CaseStore::create(Path::new(&dir), &core::Passphrase::new(passphrase))?;
        Ok(Self::wrap(store))
    }

    /// Opens a store with its passphrase; `WrongKey` when it is not the right one.
    #[uniffi::constructor]
    pub fn open_with_passphrase(
        dir: String,
        passphrase: String,
    ) -> Result<Arc<Self>, WardcrfError> {
        let store = core::CaseStore::open(Path::new(&dir), &core::Passphrase::new(passphrase))?;
        Ok(Self::wrap(store))
    }

    /// Rewraps the data key with another key provider (nothing else is re-encrypted).
    pub fn rekey(&self, key: Arc<dyn KeyProvider>) -> Result<(), WardcrfError> {
        Ok(self.store()?.rekey(&ForeignKey(key))?)
    }

    /// Rewraps the data key with a passphrase.
    pub fn rekey_with_passphrase(&self, passphrase: String) -> Result<(), WardcrfError> {
        Ok(self.store()?.rekey(&core::Passphrase::new(passphrase))?)
    }

    /// This device's id (hex), as shown in conflicts and history.
    pub fn device_id(&self) -> String {
        self.device_id.clone()
    }

    /// The date validation takes as today (`YYYY-MM-DD`; none: no future-date checks).
    pub fn set_today(&self, today: Option<String>) -> Result<(), WardcrfError> {
        let today = parse_today(today)?;
        self.session().set_today(today);
        Ok(())
    }

    /// Creates a case of a core form (or a disease module, with its core form) plus modules;
    /// returns its id.
    #[uniffi::method(default(modules = []))]
    pub fn create_case(
        &self,
        form_id: String,
        modules: Vec<String>,
    ) -> Result<String, WardcrfError> {
        let modules: Vec<&str> = modules.iter().map(String::as_str).collect();
        Ok(self.store()?.create_case(&form_id, &modules)?)
    }

    /// The cases matching `filter`, most recently updated first, each with its display label,
    /// open conflicts and "not yet synced" flag. No case is opened: the labels are kept
    /// sealed beside the cases (the first list after an app update labels older cases once).
    #[uniffi::method(default(filter))]
    pub fn list_cases(&self, filter: CaseFilter) -> Result<Vec<CaseSummary>, WardcrfError> {
        Ok(self
            .store()?
            .list(&filter.into())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// How many cases the repository does not hold as they are here yet (changed since the
    /// last sync, or never synced): the global "not yet synced" count.
    pub fn pending_sync_count(&self) -> Result<u32, WardcrfError> {
        let n = self.store()?.pending_sync_count()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Moves what the store's write-ahead log holds into its database file. Saves do not do
    /// this (it made an occasional save slow): call it when the user is idle (e.g. the app
    /// goes to the background, or a screen has had no input for a few seconds); a sync does
    /// it when it ends. Cheap when there is little to move; works locked, and is not use of
    /// the store (it does not hold off the inactivity lock).
    pub fn checkpoint(&self) -> Result<(), WardcrfError> {
        self.peek().checkpoint()?;
        Ok(())
    }

    /// A case with its values, validation report (messages in `lang`) and open conflicts.
    pub fn view_case(&self, case_id: String, lang: Language) -> Result<CaseView, WardcrfError> {
        let view = self.store()?.case(&case_id)?;
        Ok(CaseView::new(view, lang.into()))
    }

    /// Sets a value (JSON: `38.5`, `"2024-03-01"`, `{"value": 101.3, "unit": "[degF]"}`,
    /// `null` to clear) and returns it as stored, in canonical units (JSON). An impossible
    /// value is refused; one outside the expected range, a change of an earlier entry and an
    /// edit of a complete or signed case need `reason`.
    #[uniffi::method(default(reason = None))]
    pub fn set_value(
        &self,
        case_id: String,
        path: FieldPath,
        value_json: String,
        reason: Option<String>,
    ) -> Result<String, WardcrfError> {
        let value = parse_json("the value", &value_json)?;
        let stored = self
            .store()?
            .set_value(&case_id, &path.into(), value, reason.as_deref())?;
        Ok(stored.to_string())
    }

    /// Sets a number entered in `unit` (UCUM, e.g. `[degF]`): stored in the field's unit,
    /// keeping what was entered. Returns the stored value (JSON).
    #[uniffi::method(default(reason = None))]
    pub fn set_quantity(
        &self,
        case_id: String,
        path: FieldPath,
        value: f64,
        unit: String,
        reason: Option<String>,
    ) -> Result<String, WardcrfError> {
        let number =
            serde_json::Number::from_f64(value).ok_or_else(|| WardcrfError::InvalidInput {
                reason: "the number is not finite".into(),
            })?;
        let mut quantity = Map::new();
        quantity.insert("value".into(), Json::Number(number));
        quantity.insert("unit".into(), Json::String(unit));
        let stored = self.store()?.set_value(
            &case_id,
            &path.into(),
            Json::Object(quantity),
            reason.as_deref(),
        )?;
        Ok(stored.to_string())
    }

    /// Adds a row to a repeating group with its first values (a JSON object of field ids);
    /// returns the new row's id.
    #[uniffi::method(default(values_json = "{}", reason = None))]
    pub fn add_row(
        &self,
        case_id: String,
        group: String,
        values_json: String,
        reason: Option<String>,
    ) -> Result<String, WardcrfError> {
        let values = parse_object("the row values", &values_json)?;
        Ok(self
            .store()?
            .add_row(&case_id, &group, &values, reason.as_deref())?)
    }

    /// Removes a row (kept in the history, marked removed with the reason).
    pub fn remove_row(
        &self,
        case_id: String,
        group: String,
        row_id: String,
        reason: String,
    ) -> Result<(), WardcrfError> {
        Ok(self
            .store()?
            .remove_row(&case_id, &group, &row_id, &reason)?)
    }

    /// Moves a case to `Complete` (when nothing is left: else `NotComplete`), `Signed` (when
    /// complete), or back to `Draft` (with a reason); returns the status now.
    #[uniffi::method(default(reason = None))]
    pub fn set_status(
        &self,
        case_id: String,
        status: CaseStatus,
        reason: Option<String>,
    ) -> Result<CaseStatus, WardcrfError> {
        Ok(self
            .store()?
            .set_status(&case_id, status.into(), reason.as_deref())?
            .into())
    }

    /// Deletes a case recoverably (kept, marked deleted with the reason).
    pub fn delete_case(&self, case_id: String, reason: String) -> Result<(), WardcrfError> {
        Ok(self.store()?.delete_case(&case_id, &reason)?)
    }

    pub fn restore_case(&self, case_id: String, reason: String) -> Result<(), WardcrfError> {
        Ok(self.store()?.restore_case(&case_id, &reason)?)
    }

    /// Moves a case entered under an earlier version of its form to the current version, in
    /// one audited change (each recoded value shows in its history); none when the case is
    /// current. Editing a case moves it too; until then it reads as the current form reads it.
    pub fn upgrade_form(&self, case_id: String) -> Result<Option<FormUpgrade>, WardcrfError> {
        Ok(self.store()?.upgrade_form(&case_id)?.map(|u| FormUpgrade {
            from_version: u.from,
            to_version: u.to,
            recoded_values: u32::try_from(u.recoded.len()).unwrap_or(u32::MAX),
        }))
    }

    /// The audit trail of a case, oldest first; only entries touching `field` when given.
    #[uniffi::method(default(field = None))]
    pub fn history(
        &self,
        case_id: String,
        field: Option<String>,
    ) -> Result<Vec<HistoryEntry>, WardcrfError> {
        Ok(self
            .store()?
            .history(&case_id, field.as_deref())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Open conflicts of one case, or of every case when `case_id` is none.
    #[uniffi::method(default(case_id = None))]
    pub fn conflicts(&self, case_id: Option<String>) -> Result<Vec<Conflict>, WardcrfError> {
        Ok(self
            .store()?
            .conflicts(case_id.as_deref())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Resolves a conflict with a value (a candidate's `value_json` or a new one) and a reason;
    /// returns the value as stored (JSON). It settles the conflict on every device that merges
    /// or syncs afterwards.
    pub fn resolve(
        &self,
        case_id: String,
        path: FieldPath,
        value_json: String,
        reason: String,
    ) -> Result<String, WardcrfError> {
        let value = parse_json("the value", &value_json)?;
        let stored = self
            .store()?
            .resolve(&case_id, &path.into(), value, &reason)?;
        Ok(stored.to_string())
    }

    /// Cases whose `field` (`hospital_record_number` or `patient_name`) is `value`, through
    /// the keyed index (nothing is stored in plain text).
    pub fn find(&self, field: String, value: String) -> Result<Vec<String>, WardcrfError> {
        Ok(self.store()?.find(&field, &value)?)
    }

    /// Merges every case of another device's store into this one; edits of one field on both
    /// become conflicts.
    pub fn merge_from(&self, other: Arc<CaseStore>) -> Result<MergeSummary, WardcrfError> {
        if std::ptr::eq(self, Arc::as_ptr(&other)) {
            return Err(WardcrfError::InvalidInput {
                reason: "a store cannot be merged into itself".into(),
            });
        }
        // Export first and release the other store before locking this one.
        let cases = other.store()?.export_cases()?;
        Ok(self.store()?.import_cases(&cases)?.into())
    }

    /// The repository this device is enrolled with, if any.
    pub fn server_url(&self) -> Result<Option<String>, WardcrfError> {
        Ok(self.session().sync_credential()?.map(|(url, _)| url))
    }

    /// Points this device at another address of the same repository (a site moved behind a
    /// load balancer, a new host name): the device keeps its credential and the certificate
    /// it pinned at enrolment, and every later sync uses the new address. Nothing is sent
    /// now; the next sync reaches the new address (and checks the pin there). An address that
    /// is not a repository address (https://…; http:// only for this machine) is
    /// `InvalidInput` and changes nothing; `NotEnrolled` when this device is not enrolled.
    pub fn set_server_url(&self, url: String) -> Result<(), WardcrfError> {
        let mut store = self.store()?;
        let Some((_, token)) = store.sync_credential()? else {
            return Err(WardcrfError::NotEnrolled);
        };
        let base = new_server_url(&url)?;
        store.set_sync_credential(&base, &token)?;
        Ok(())
    }

    /// Syncs with the repository until both hold everything: blocking (call it off the main
    /// thread, e.g. in a background worker). `progress` hears after each exchange; `cancel`
    /// stops it between exchanges. The store stays free for reads and edits meanwhile (an edit
    /// made during a sync is pushed by the next one); a second `sync` waits for the first. A
    /// locked store does not start a sync (`Locked`); if it locks during one, the exchange
    /// under way is still applied, then the sync stops with `Locked`. A sync is not use of the
    /// store: it does not hold off the inactivity lock.
    #[uniffi::method(default(progress = None, cancel = None, ca_pem = None))]
    pub fn sync(
        &self,
        progress: Option<Arc<dyn SyncProgressListener>>,
        cancel: Option<Arc<SyncCancellation>>,
        ca_pem: Option<Vec<u8>>,
    ) -> Result<SyncSummary, WardcrfError> {
        let transport = {
            let store = self.peek();
            if !store.is_unlocked() {
                return Err(WardcrfError::Locked);
            }
            enrolled_transport(&store, ca_pem)?.ok_or(WardcrfError::NotEnrolled)?
        };
        self.sync_through(&transport, progress, cancel)
    }
}

/// A case moved to the current version of its form ([`CrfStore::upgrade_form`]).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FormUpgrade {
    /// The version the case recorded ("" when it recorded none).
    pub from_version: String,
    pub to_version: String,
    /// How many values were recoded (a reassigned code), each with its history entry.
    pub recoded_values: u32,
}
