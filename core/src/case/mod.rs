//! The case domain, one definition of each rule, used by the device store and the repository
//! alike.
//!
//! - `document`: a case as an automerge document (values, rows, conflicts, history, heads);
//! - [`value`]: a stored field value, typed ([`Value`]: plain, or with unit, entered value and
//!   confirmation), reading and writing exactly the JSON the documents hold;
//! - [`edit`]: the rules of an edit: one value check, one conflict resolution, reopening;
//! - [`meta`]: what a document says of the case itself: status, form, modules;
//! - [`signature`]: electronic signatures: signing, and which signatures a later edit
//!   superseded;
//! - [`upgrade`]: cases entered under an earlier version of their form: read as the current
//!   version, and moved to it in one audited change;
//! - `projection`: what the repository shows of a stored case (feature `repository`).

pub(crate) mod document;
pub mod edit;
pub(crate) mod heads;
pub mod meta;
#[cfg(feature = "repository")]
pub mod projection;
pub mod signature;
pub mod upgrade;
pub mod value;

pub use document::{Candidate, ChangeNote, FieldPath, HistoryEntry};
pub use edit::{CaseContext, EditError, MAX_REASON, check_value, clean_reason};
pub use meta::{CaseForm, Status};
#[cfg(feature = "repository")]
pub use projection::{
    CaseProjection, ProjectedConflict, case_history, case_projection, case_signatures,
};
pub use signature::{SIGN_OP, SignError, Signature, sign, signatures};
pub use value::{Annotated, Entered, Parts, Value};
