//! The one error of the bindings, with variants a caller can act on, mapped from the core's
//! errors in one place.
//!
//! Nothing here carries patient data or key material: uniffi builds the foreign exception's
//! message from every field of a variant, so fields hold only ids (case, field, row, device),
//! issue codes and counts, never an entered value or a validation message that may quote one.
//! The localized messages of a case are in its [`crate::CaseView`] report, and
//! [`crate::validate_values`] checks values before they are saved.

use crate::types::{FieldPath, IssueCode, count};
use wardcrf_core::sync::{EnrolPayloadError, SignInRefusal, SyncError, TransportError};
use wardcrf_core::{FormError, KeyError, StoreError};

/// Why a WardCRF call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum WardcrfError {
    /// The key or passphrase does not open this store; nothing was changed.
    #[error("the key or passphrase is wrong for this store; nothing was changed")]
    WrongKey,
    /// The key provider (Keystore, Keychain) could not wrap or unwrap the key: e.g. the device
    /// is locked or the user must authenticate first.
    #[error("the key provider failed: {reason}")]
    KeyUnavailable { reason: String },
    /// No store in this directory: create one first.
    #[error("no store in this directory: create one first")]
    NoStore,
    /// A store already exists in this directory: open it instead.
    #[error("a store already exists in this directory: open it instead")]
    StoreExists,
    /// The store database was damaged and moved aside (never deleted: unsynced cases may exist
    /// only there). Create a new store, sync, and contact support to recover the old file.
    #[error("the store database was damaged and has been moved aside to {moved_to}")]
    StorageDamaged { moved_to: String },
    /// The store could not be read or written (disk full, permissions): try again.
    #[error("the store failed: {reason}")]
    Storage { reason: String },
    /// No such case (or row) on this device.
    #[error("not found: {what}")]
    NotFound { what: String },
    /// The case is deleted: restore it first.
    #[error("case {case_id} is deleted; restore it first")]
    CaseDeleted { case_id: String },
    /// The value is impossible or unreadable and was not saved.
    #[error("the value of {field} was not saved: {codes:?}")]
    ValidationRejected {
        field: String,
        codes: Vec<IssueCode>,
    },
    /// The value is outside its expected range and was not saved: save it again with a reason
    /// that confirms it.
    #[error("the value of {field} needs a reason that confirms it: {codes:?}")]
    NeedsConfirmation {
        field: String,
        codes: Vec<IssueCode>,
    },
    /// A reason is required for this change (changing an earlier entry, editing a complete or
    /// signed case, removing a row, resolving a conflict, ...).
    #[error("a reason is required: {what}")]
    ReasonRequired { what: String },
    /// The case cannot be marked complete: the case's report lists what is left.
    #[error(
        "the case cannot be marked complete: {errors} error(s), {missing} missing, {unconfirmed} unconfirmed warning(s), {conflicts} open conflict(s)"
    )]
    NotComplete {
        errors: u32,
        missing: u32,
        unconfirmed: u32,
        conflicts: u32,
    },
    /// Fields the answers now hide still hold values: ask the clinician to clear them (with
    /// a reason) or keep them, then complete again with that choice.
    #[error(
        "{count} field(s) that do not apply given the other answers still hold values: clear them with a reason, or keep them"
    )]
    HiddenValuesPending { count: u32, fields: Vec<FieldPath> },
    /// Only a complete case can be signed.
    #[error("a case can only be signed when it is complete")]
    NotSignable,
    /// The field has no open conflict (perhaps already resolved).
    #[error("{field} has no conflict to resolve")]
    NoConflict { field: String },
    /// Two devices' documents with one case id describe different cases: report it.
    #[error("the two devices hold different cases under one id: {case_id}")]
    Mismatch { case_id: String },
    /// An argument is not usable (unknown form or field, malformed JSON, a bad address).
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// This device is not enrolled with a repository: enroll it first.
    #[error("this device is not enrolled: enroll it with a code from the site administrator")]
    NotEnrolled,
    /// The site administrator revoked this device: it must be enrolled again.
    #[error("this device has been revoked by the site administrator; ask them to enroll it again")]
    Revoked,
    /// The repository refused (bad credentials or code, an untrusted certificate, bad input):
    /// trying again unchanged will not help.
    #[error("the repository refused: {reason}")]
    Refused { reason: String },
    /// The repository presented no certificate with the fingerprint of the enrolment QR code
    /// (or the one pinned from it): it may not be the hospital's repository. Nothing was sent
    /// and nothing is stored.
    #[error(
        "{server}: the repository's certificate does not match the enrolment code's fingerprint"
    )]
    CertificateMismatch { server: String },
    /// The scanned or pasted text is not a usable enrolment code (`reason` says why; it never
    /// holds the code).
    #[error("not a usable enrolment code: {reason}")]
    BadEnrolmentCode { reason: String },
    /// The repository could not be reached (no network, a time-out, a server failure):
    /// nothing is lost; try again later.
    #[error("the repository could not be reached: {reason}")]
    Network { reason: String },
    /// The repository speaks another sync protocol: update the app.
    #[error("the repository speaks sync protocol {server_protocol}: update the app")]
    UpdateRequired { server_protocol: u32 },
    /// The sync was cancelled; what was exchanged is kept. Sync again to complete it.
    #[error("the sync was cancelled; what was exchanged is kept")]
    Cancelled,
    /// Moving a case to signed is a signature: use `sign` with the signer's password and a
    /// meaning.
    #[error(
        "signing a case needs the signer's password again and the meaning of the signature: use sign"
    )]
    SignatureRequired,
    /// The meaning is not one of the site's signature meanings.
    #[error("no signature meaning '{meaning}' at this site; choose one of: {}", known.join(", "))]
    UnknownMeaning { meaning: String, known: Vec<String> },
    /// The data key is not in memory (locked by the app, by inactivity, or opened after staff
    /// signed in): sign in with a password or PIN.
    #[error("the store is locked: sign in with your password or PIN")]
    Locked,
    /// Entering or changing data needs a signed-in staff member.
    #[error("no staff member is signed in: sign in to enter or change data")]
    NotSignedIn,
    /// A first sign-in on this device, a password reset, or too many wrong passwords: only a
    /// sign-in while connected to the repository works.
    #[error(
        "{user} must sign in online (connected to the repository): a first sign-in on this device, a password reset, or too many wrong passwords"
    )]
    OnlineSignInRequired { user: String },
    /// The user name, password or PIN is wrong; nothing was changed.
    #[error("the user name, password or PIN is wrong; nothing was changed")]
    WrongCredential,
    /// The staff member set no PIN on this device: sign in with the password.
    #[error("{user} has no PIN on this device: sign in with the password")]
    NoPin { user: String },
    /// Too many wrong PINs: the PIN no longer works; sign in with the password.
    #[error("too many wrong PINs: the PIN of {user} no longer works; sign in with the password")]
    PinLocked { user: String },
    /// A PIN is 4 to 12 digits.
    #[error("a PIN is 4 to 12 digits")]
    BadPin,
    /// The account is deactivated at the repository: it signs in nowhere.
    #[error("the account of {user} is deactivated: it cannot sign in")]
    AccountDeactivated { user: String },
    /// An unlock key is 64 hexadecimal digits, as the repository's administrator gives it.
    #[error("an unlock key is 64 hexadecimal digits, as the repository's administrator gives it")]
    BadUnlockKey,
    /// The store holds no wrap under the repository's unlock key.
    #[error(
        "this store has no wrap under the repository's unlock key (it was never enrolled, or enrolled before this version and no staff member has signed in online since)"
    )]
    NoUnlockKey,
    /// The repository's roster of the site's staff could not be kept.
    #[error("the repository's roster was refused: {reason}")]
    RosterRefused { reason: String },
    /// Too many wrong passwords at the repository: the account is locked for a while.
    #[error("{reason}")]
    LockedOut { reason: String },
    /// The account is not a clinician or site nurse of this device's site.
    #[error("{reason}")]
    NotSiteStaff { reason: String },
}

impl From<StoreError> for WardcrfError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotInitialised(_) => WardcrfError::NoStore,
            StoreError::AlreadyInitialised(_) => WardcrfError::StoreExists,
            StoreError::WrongKey => WardcrfError::WrongKey,
            StoreError::Key(k) => k.into(),
            StoreError::Damaged { moved_to } => WardcrfError::StorageDamaged {
                moved_to: moved_to.display().to_string(),
            },
            StoreError::UnknownCase(id) => WardcrfError::NotFound {
                what: format!("case {id}"),
            },
            StoreError::Deleted(case_id) => WardcrfError::CaseDeleted { case_id },
            StoreError::UnknownRow { group, row_id, .. } => WardcrfError::NotFound {
                what: format!("row {row_id} of {group}"),
            },
            StoreError::UnknownField { field } => WardcrfError::InvalidInput {
                reason: format!("{field} is not a field of this case's form"),
            },
            StoreError::Rejected { field, issues } => WardcrfError::ValidationRejected {
                field,
                codes: issues.iter().map(|i| i.code.into()).collect(),
            },
            StoreError::NeedsConfirmation { field, warnings } => WardcrfError::NeedsConfirmation {
                field,
                codes: warnings.iter().map(|i| i.code.into()).collect(),
            },
            StoreError::ReasonRequired(what) => WardcrfError::ReasonRequired { what: what.into() },
            StoreError::NotComplete { report, conflicts } => WardcrfError::NotComplete {
                errors: count(report.errors.len()),
                missing: count(report.missing.len()),
                unconfirmed: count(
                    report
                        .warnings
                        .iter()
                        .filter(|w| w.confirmed.is_none())
                        .count(),
                ),
                conflicts: count(conflicts),
            },
            StoreError::HiddenValues(paths) => WardcrfError::HiddenValuesPending {
                count: count(paths.len()),
                fields: paths.into_iter().map(Into::into).collect(),
            },
            StoreError::NotSignable => WardcrfError::NotSignable,
            StoreError::SignatureRequired => WardcrfError::SignatureRequired,
            StoreError::UnknownMeaning { meaning, known } => {
                WardcrfError::UnknownMeaning { meaning, known }
            }
            StoreError::Locked => WardcrfError::Locked,
            StoreError::NotSignedIn => WardcrfError::NotSignedIn,
            StoreError::OnlineSignInRequired(user) => WardcrfError::OnlineSignInRequired { user },
            StoreError::WrongCredential => WardcrfError::WrongCredential,
            StoreError::NoPin(user) => WardcrfError::NoPin { user },
            StoreError::PinLocked(user) => WardcrfError::PinLocked { user },
            StoreError::BadPin => WardcrfError::BadPin,
            StoreError::AccountDeactivated(user) => WardcrfError::AccountDeactivated { user },
            StoreError::BadUnlockKey => WardcrfError::BadUnlockKey,
            StoreError::NoUnlockKey => WardcrfError::NoUnlockKey,
            StoreError::Roster(cause) => WardcrfError::RosterRefused {
                reason: cause.to_string(),
            },
            StoreError::NoConflict(field) => WardcrfError::NoConflict { field },
            StoreError::Mismatch(case_id) => WardcrfError::Mismatch { case_id },
            StoreError::Form(f) => f.into(),
            e @ StoreError::IdentifyingAlreadyShared { .. } => WardcrfError::InvalidInput {
                reason: e.to_string(),
            },
            StoreError::Database(cause) => WardcrfError::Storage {
                reason: cause.to_string(),
            },
            StoreError::Io(cause) => WardcrfError::Storage {
                reason: cause.to_string(),
            },
        }
    }
}

impl From<KeyError> for WardcrfError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::WrongKey => WardcrfError::WrongKey,
            other => WardcrfError::KeyUnavailable {
                reason: other.to_string(),
            },
        }
    }
}

impl From<FormError> for WardcrfError {
    fn from(e: FormError) -> Self {
        WardcrfError::InvalidInput {
            reason: e.to_string(),
        }
    }
}

impl From<TransportError> for WardcrfError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Unreachable(reason) => WardcrfError::Network { reason },
            TransportError::Refused(reason) => WardcrfError::Refused { reason },
            TransportError::Revoked => WardcrfError::Revoked,
            TransportError::CertificateMismatch(server) => {
                WardcrfError::CertificateMismatch { server }
            }
            TransportError::SignInRefused { refusal, message } => match refusal {
                SignInRefusal::WrongCredentials => WardcrfError::WrongCredential,
                SignInRefusal::AccountDeactivated => WardcrfError::Refused { reason: message },
                SignInRefusal::LockedOut => WardcrfError::LockedOut { reason: message },
                SignInRefusal::NotSiteStaff => WardcrfError::NotSiteStaff { reason: message },
            },
        }
    }
}

impl From<EnrolPayloadError> for WardcrfError {
    fn from(e: EnrolPayloadError) -> Self {
        WardcrfError::BadEnrolmentCode {
            reason: e.to_string(),
        }
    }
}

impl From<SyncError> for WardcrfError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Transport(t) => t.into(),
            SyncError::Store(s) => s.into(),
            SyncError::Protocol(server_protocol) => {
                WardcrfError::UpdateRequired { server_protocol }
            }
            SyncError::Cancelled => WardcrfError::Cancelled,
        }
    }
}

/// A JSON argument that does not parse; the text itself is never repeated (it may be a value).
pub(crate) fn bad_json(what: &str, e: &serde_json::Error) -> WardcrfError {
    WardcrfError::InvalidInput {
        reason: format!(
            "{what} is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use wardcrf_core::{Issue, Report, Text};

    fn issue(code: wardcrf_core::IssueCode, confirmed: Option<&str>) -> Issue {
        Issue {
            field: "vs_temp".into(),
            group: None,
            row: None,
            row_id: None,
            code,
            rule: None,
            confirmed: confirmed.map(str::to_string),
            likely_unit: None,
            // A message quoting the entered value, as validation messages may.
            message: Text::new("Temperature 55.5 °C is impossible", "55.5", "55.5"),
        }
    }

    #[test]
    fn store_errors_map_to_actionable_variants() {
        assert_eq!(
            WardcrfError::from(StoreError::WrongKey),
            WardcrfError::WrongKey
        );
        assert_eq!(
            WardcrfError::from(StoreError::Key(KeyError::WrongKey)),
            WardcrfError::WrongKey
        );
        assert_eq!(
            WardcrfError::from(StoreError::Key(KeyError::Provider("locked".into()))),
            WardcrfError::KeyUnavailable {
                reason: "the key provider failed: locked".into()
            }
        );
        assert_eq!(
            WardcrfError::from(StoreError::NotInitialised(PathBuf::from("/x"))),
            WardcrfError::NoStore
        );
        assert_eq!(
            WardcrfError::from(StoreError::Damaged {
                moved_to: PathBuf::from("/s/wardcrf.db.damaged-1")
            }),
            WardcrfError::StorageDamaged {
                moved_to: "/s/wardcrf.db.damaged-1".into()
            }
        );
        assert_eq!(
            WardcrfError::from(StoreError::UnknownCase("c1".into())),
            WardcrfError::NotFound {
                what: "case c1".into()
            }
        );
        assert_eq!(
            WardcrfError::from(StoreError::ReasonRequired("removing a row")),
            WardcrfError::ReasonRequired {
                what: "removing a row".into()
            }
        );
        assert!(matches!(
            WardcrfError::from(StoreError::Form(FormError::UnknownForm {
                id: "x".into(),
                known: "icrown-core".into()
            })),
            WardcrfError::InvalidInput { .. }
        ));
    }

    #[test]
    fn staff_errors_map_to_typed_variants_with_the_core_message() {
        let cases = [
            (StoreError::Locked, WardcrfError::Locked),
            (StoreError::NotSignedIn, WardcrfError::NotSignedIn),
            (
                StoreError::OnlineSignInRequired("sato".into()),
                WardcrfError::OnlineSignInRequired {
                    user: "sato".into(),
                },
            ),
            (StoreError::WrongCredential, WardcrfError::WrongCredential),
            (
                StoreError::NoPin("sato".into()),
                WardcrfError::NoPin {
                    user: "sato".into(),
                },
            ),
            (
                StoreError::PinLocked("sato".into()),
                WardcrfError::PinLocked {
                    user: "sato".into(),
                },
            ),
            (StoreError::BadPin, WardcrfError::BadPin),
            (
                StoreError::AccountDeactivated("sato".into()),
                WardcrfError::AccountDeactivated {
                    user: "sato".into(),
                },
            ),
            (StoreError::BadUnlockKey, WardcrfError::BadUnlockKey),
            (StoreError::NoUnlockKey, WardcrfError::NoUnlockKey),
            (
                StoreError::SignatureRequired,
                WardcrfError::SignatureRequired,
            ),
            (
                StoreError::UnknownMeaning {
                    meaning: "boss".into(),
                    known: vec!["author".into()],
                },
                WardcrfError::UnknownMeaning {
                    meaning: "boss".into(),
                    known: vec!["author".into()],
                },
            ),
            (
                StoreError::Roster(wardcrf_core::staff::RosterError::LockMinutes),
                WardcrfError::RosterRefused {
                    reason: "the inactivity lock must be 1 to 120 minutes".into(),
                },
            ),
        ];
        for (core, binding) in cases {
            // The same words as the core's message.
            let message = core.to_string();
            let mapped = WardcrfError::from(core);
            assert_eq!(mapped, binding);
            assert_eq!(mapped.to_string(), message);
        }
    }

    #[test]
    fn refusals_carry_codes_and_never_the_entered_value() {
        let e = WardcrfError::from(StoreError::Rejected {
            field: "vs_temp".into(),
            issues: vec![issue(wardcrf_core::IssueCode::HardLimit, None)],
        });
        assert_eq!(
            e,
            WardcrfError::ValidationRejected {
                field: "vs_temp".into(),
                codes: vec![IssueCode::HardLimit]
            }
        );
        assert!(!format!("{e} {e:?}").contains("55.5"));
        let e = WardcrfError::from(StoreError::NeedsConfirmation {
            field: "vs_temp".into(),
            warnings: vec![issue(wardcrf_core::IssueCode::SoftLimit, None)],
        });
        assert!(
            matches!(&e, WardcrfError::NeedsConfirmation { codes, .. } if codes == &[IssueCode::SoftLimit])
        );
        assert!(!format!("{e} {e:?}").contains("55.5"));
    }

    #[test]
    fn an_incomplete_case_is_counted_not_quoted() {
        let report = Report {
            errors: vec![issue(wardcrf_core::IssueCode::Rule, None)],
            warnings: vec![
                issue(wardcrf_core::IssueCode::SoftLimit, None),
                issue(wardcrf_core::IssueCode::SoftLimit, Some("baseline")),
            ],
            missing: vec![],
            values: serde_json::Map::new(),
            ..Report::default()
        };
        let e = WardcrfError::from(StoreError::NotComplete {
            report: Box::new(report),
            conflicts: 2,
        });
        assert_eq!(
            e,
            WardcrfError::NotComplete {
                errors: 1,
                missing: 0,
                unconfirmed: 1,
                conflicts: 2
            }
        );
        assert!(!format!("{e} {e:?}").contains("55.5"));
    }

    #[test]
    fn a_certificate_mismatch_and_a_bad_enrolment_code_are_typed() {
        assert_eq!(
            WardcrfError::from(TransportError::CertificateMismatch(
                "https://crf.example.org".into()
            )),
            WardcrfError::CertificateMismatch {
                server: "https://crf.example.org".into()
            }
        );
        let e = WardcrfError::from(EnrolPayloadError::BadPin);
        assert!(matches!(e, WardcrfError::BadEnrolmentCode { .. }), "{e:?}");
    }

    #[test]
    fn sync_errors_say_whether_to_retry_re_enroll_or_update() {
        assert_eq!(
            WardcrfError::from(TransportError::Revoked),
            WardcrfError::Revoked
        );
        assert_eq!(
            WardcrfError::from(SyncError::Transport(TransportError::Unreachable(
                "timed out".into()
            ))),
            WardcrfError::Network {
                reason: "timed out".into()
            }
        );
        assert_eq!(
            WardcrfError::from(SyncError::Transport(TransportError::Refused(
                "unknown device token (unauthorized, HTTP 401)".into()
            ))),
            WardcrfError::Refused {
                reason: "unknown device token (unauthorized, HTTP 401)".into()
            }
        );
        assert_eq!(
            WardcrfError::from(SyncError::Protocol(9)),
            WardcrfError::UpdateRequired { server_protocol: 9 }
        );
        assert_eq!(
            WardcrfError::from(SyncError::Cancelled),
            WardcrfError::Cancelled
        );
        assert_eq!(
            WardcrfError::from(SyncError::Store(StoreError::WrongKey)),
            WardcrfError::WrongKey
        );
    }

    #[test]
    fn malformed_json_is_described_without_repeating_it() {
        let err =
            serde_json::from_str::<serde_json::Value>("{\"name\": Yamada").expect_err("not JSON");
        let e = bad_json("the value", &err);
        assert!(matches!(&e, WardcrfError::InvalidInput { reason } if reason.contains("line 1")));
        assert!(!e.to_string().contains("Yamada"));
    }
}
