//! # WardCRF for Kotlin and Swift
//!
//! A thin uniffi layer over [`wardcrf_core`]: each exported method locks the store, converts
//! its arguments, calls one core method and maps the error. There is no logic here that the
//! core does not have.
//!
//! - [`CaseStore`]: the device's encrypted store, opened with an app [`KeyProvider`] (Android
//!   Keystore, iOS Keychain) or a passphrase; cases, values with units, repeating rows, status,
//!   history, conflicts and resolution, merge of two stores, enrolment, and sync with a
//!   [`SyncProgressListener`] and a [`SyncCancellation`].
//! - Staff on the device: `sign_in` (online through the repository the first time, offline
//!   afterwards), `unlock_with_pin`, `lock`, `current_user` ([`SignedInUser`]), the inactivity
//!   lock (`touch`), electronic signatures (`sign` with the password and a
//!   [`SignatureMeaning`]; [`Signature`]) and `recover`. Every change is recorded under the
//!   staff member signed in.
//! - [`forms`], [`form_layout`]: the bundled forms, labels in [`Language`] `En`, `Ja` or `De`;
//!   [`validate_values`]: the validation the store runs on save, for live feedback.
//! - [`WardcrfError`]: one error whose variants say what to do.
//! - [`set_log_sink`]: the core's log records (sync counts, durations, HTTP statuses; never a
//!   value or a token) forwarded to an app [`LogSink`] (Logcat, `os_log`).
//!
//! - [`FormSession`] (`form_session`, `set_answer`, `add_session_row`, `clear_hidden`,
//!   `complete`): the form as the clinician sees it, worked out by the core: the sections the
//!   answers show, fields with typed answers ([`AnswerValue`]), states and messages, rows,
//!   values left in hidden fields, the next missing field. Screens render from it alone.
//!
//! The older value methods (`set_value`, `view_case`, `validate_values`) take and give case
//! values as JSON text (`38.5`, `{"value": 101.3, "unit": "[degF]"}`), for tools and tests.
//!
//! ```no_run
//! use wardcrf_ffi::{CaseStore, FieldPath, Language};
//!
//! let dir = std::env::temp_dir().join("wardcrf-ffi-doc");
//! let store = CaseStore::create_with_passphrase(
//!     dir.display().to_string(), "correct horse battery staple".into())?;
//! store.enroll("https://crf.example-hospital.jp".into(), "ENROL-CODE".into(), None)?;
//! // The first sign-in of a staff member on a device is checked by the repository.
//! let user = store.sign_in("sato".into(), "her password".into(), None)?;
//! assert_eq!(user.id, "sato");
//! let case = store.create_case("icrown-core".into(), vec![])?;
//! let path = FieldPath { field: "vs_temp".into(), group: None, row_id: None };
//! store.set_quantity(case.clone(), path, 101.3, "[degF]".into(), None)?;
//! let view = store.view_case(case, Language::Ja)?;
//! assert!(view.values_json.contains("38.5"));
//! store.lock();
//! # Ok::<(), wardcrf_ffi::WardcrfError>(())
//! ```

mod enrol;
mod error;
mod forms;
mod log;
mod session;
mod staff;
mod store;
mod types;

pub use error::WardcrfError;
pub use forms::{
    ChoiceOption, FieldKind, FieldLayout, FormInfo, FormItem, FormLayout, GroupLayout, MeasureUnit,
    SectionLayout, ValueRange, form_layout, forms, validate_values,
};
pub use log::{LogLevel, LogSetupError, LogSink, set_log_sink};
pub use session::{
    AnswerValue, EnteredQuantity, FieldMessage, FieldState, FormSession, HiddenValue,
    HiddenValueChoice, SectionProgress, SessionCandidate, SessionField, SessionGroup, SessionItem,
    SessionRow, SessionSection,
};
pub use staff::{Signature, SignatureMeaning, SignedInUser, StaffRole};
pub use store::{CaseStore, KeyProvider, KeyProviderError, SyncCancellation, SyncProgressListener};
pub use types::{
    Candidate, CaseFilter, CaseStatus, CaseSummary, CaseView, Conflict, Enrolment, FieldPath,
    HistoryEntry, IssueCode, Language, MergeSummary, SyncProgress, SyncSummary, ValidationIssue,
    ValidationReport,
};

uniffi::setup_scaffolding!();

#[cfg(test)]
mod tests;
