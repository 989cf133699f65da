//! # WardCRF core
//!
//! One definition of a case report form and one validation engine, shared by the ward tablet
//! and the central repository.
//!
//! - [`Catalog`] holds form definitions: the bundled iCROWN core form (`icrown-core`) and its
//!   disease modules (`sari`, `mpox`, `sfts-vhf`, `hepatitis-child`, `amr`) and the network's
//!   modules (`entry-genome`, `biobank`, `follow-up`).
//! - [`Form`] is a checked, composed form: sections, fields, repeating groups, skip logic,
//!   units, limits and cross-field rules, with labels in English, Japanese and German.
//! - [`case`] is the case domain shared by the tablet's store and the repository: a case
//!   document, its typed values, the rules of an edit, its status and form, its projection.
//! - [`validate()`] is a pure function of (form, values, today) giving a [`Report`] of
//!   per-field errors and warnings, with messages in all three languages, and the values in
//!   canonical units.
//!
//! ```
//! use wardcrf_core::{Catalog, Context, Lang, validate};
//!
//! let catalog = Catalog::bundled()?;
//! let form = catalog.form("icrown-core", &[])?;
//! let values = serde_json::json!({
//!     "vs_temp": {"value": 101.3, "unit": "[degF]"},
//!     "vs_spo2": 75,
//! });
//! let report = validate(&form, values.as_object().unwrap(), &Context::default());
//! assert_eq!(report.values["vs_temp"]["value"], 38.5);
//! let spo2 = report.warnings.iter().find(|w| w.field == "vs_spo2").unwrap();
//! assert!(spo2.message.get(Lang::Ja).contains("想定範囲"));
//! # Ok::<(), wardcrf_core::FormError>(())
//! ```
//!
//! The form file format is described in `docs/form-format.md`.

pub mod case;
mod date;
mod expr;
mod form;
mod lang;
mod messages;
pub mod migrate;
mod parallel;
#[cfg(feature = "repository")]
pub mod repository;
pub mod session;
pub mod staff;
mod store;
pub mod sync;
mod units;
mod validate;

pub use date::{DateTime, PartialDate, Timestamp, civil_from_days};
pub use expr::{Env, Expr, ExprError, FieldInfo, Value};
pub use form::{
    AgeBand, AgeSource, AltUnit, Catalog, Choice, Choices, CodeSystem, Codes, DefaultUnitError,
    Field, FieldType, Form, FormDefinition, FormError, FormField, Group, Item, Limits,
    MAX_COMPOSED, MAX_FORM_BYTES, Problem, Rule, Section, Severity, parse_definition,
};
pub use lang::{Lang, Text, UnknownLang};
pub use store::{
    Candidate, CaseExport, CaseFilter, CaseStore, CaseSummary, CaseView, ChangeNote, Conflict,
    Credential, DatabaseError, FieldPath, HistoryEntry, KeyError, KeyProvider,
    MAX_PASSWORD_FAILURES, MAX_PIN_FAILURES, MIN_PASSPHRASE_ITERATIONS, MergeSummary, Passphrase,
    RawKeyProvider, SCHEMA_VERSION, SecretKey, Session, Status, StoreError,
};
pub use validate::{
    Context, DEFAULT_MAX_ROWS, DEFAULT_MAX_TEXT, Issue, IssueCode, LikelyUnit, Report,
    RowVisibility, Visibility, validate,
};

/// Unit display and conversion helpers (UCUM codes).
pub mod ucum {
    pub use crate::units::{Conversion, conversion, display, is_known, round};
}
