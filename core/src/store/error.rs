//! Why a store operation failed ([`StoreError`]), with the cause of a database or file failure
//! kept as a typed source ([`DatabaseError`], [`std::io::Error`]).
//!
//! Messages name what to do and never carry patient data or keys.

use super::schema::SchemaError;
use crate::case::document::DocError;
use crate::case::edit::EditError;
use crate::form::FormError;
use crate::store::encryption::KeyError;
use crate::validate::{Issue, IssueCode, Report};
use std::path::PathBuf;

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
    Key(#[source] KeyError),
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
    /// Fields the answers now hide still hold values: the clinician clears them (with a
    /// reason) or keeps them before completing ([`crate::session::HiddenValues`]).
    #[error(
        "{} field(s) that do not apply given the other answers still hold values: clear them with a reason, or keep them, then complete the case", .0.len()
    )]
    HiddenValues(Vec<crate::case::document::FieldPath>),
    #[error("a case can only be signed when it is complete")]
    NotSignable,
    /// Moving a case to `signed` is a signature: the signer's password and a meaning.
    #[error(
        "signing a case needs the signer's password again and the meaning of the signature: use sign"
    )]
    SignatureRequired,
    #[error("no signature meaning '{meaning}' at this site; choose one of: {}", known.join(", "))]
    UnknownMeaning { meaning: String, known: Vec<String> },
    /// The data key is not in memory: a staff member must sign in.
    #[error("the store is locked: sign in with your password or PIN")]
    Locked,
    /// Entering or changing data needs a signed-in staff member.
    #[error("no staff member is signed in: sign in to enter or change data")]
    NotSignedIn,
    /// The person has not signed in on this device yet, their password was reset, or too
    /// many wrong passwords were typed: only an online sign-in works.
    #[error(
        "{0} must sign in online (connected to the repository): a first sign-in on this device, a password reset, or too many wrong passwords"
    )]
    OnlineSignInRequired(String),
    #[error("the user name, password or PIN is wrong; nothing was changed")]
    WrongCredential,
    #[error("{0} has no PIN on this device: sign in with the password")]
    NoPin(String),
    #[error("too many wrong PINs: the PIN of {0} no longer works; sign in with the password")]
    PinLocked(String),
    #[error("a PIN is 4 to 12 digits")]
    BadPin,
    #[error("the account of {0} is deactivated: it cannot sign in")]
    AccountDeactivated(String),
    #[error("an unlock key is 64 hexadecimal digits, as the repository's administrator gives it")]
    BadUnlockKey,
    #[error(
        "this store has no wrap under the repository's unlock key (it was never enrolled, or enrolled before this version and no staff member has signed in online since)"
    )]
    NoUnlockKey,
    #[error("the repository's roster was refused: {0}")]
    Roster(#[source] crate::staff::RosterError),
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
    Database(#[source] Box<DatabaseError>),
    #[error("the store files could not be accessed: {0}")]
    Io(#[source] std::io::Error),
}

/// What failed inside the store database.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A stored case document (or device-only part) does not load or take a change.
    #[error(transparent)]
    Document(#[from] DocError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The sealed sync credential does not hold what it should.
    #[error("damaged: sync credential")]
    Credential,
    /// The sync credential could not be written or read as JSON.
    #[error(transparent)]
    CredentialJson(serde_json::Error),
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
        StoreError::Database(Box::new(e.into()))
    }
}

impl From<DocError> for StoreError {
    fn from(e: DocError) -> Self {
        StoreError::Database(Box::new(e.into()))
    }
}

impl From<SchemaError> for StoreError {
    fn from(e: SchemaError) -> Self {
        StoreError::Database(Box::new(e.into()))
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

impl From<EditError> for StoreError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::UnknownField { field } => StoreError::UnknownField { field },
            EditError::Rejected { field, issues } => StoreError::Rejected { field, issues },
            EditError::NeedsConfirmation { field, warnings } => {
                StoreError::NeedsConfirmation { field, warnings }
            }
            EditError::NoConflict(field) => StoreError::NoConflict(field),
            EditError::Document(d) => d.into(),
        }
    }
}
