//! Records and enums crossing the boundary, each converted from its core type.
//!
//! Case values stay JSON (the core's model of a case is JSON): they cross as JSON text in the
//! shape of `docs/form-format.md` and the README (`38.5`, `"2024-03-01"`,
//! `{"value": 101.3, "unit": "[degF]"}`, a group as `[{"row_id": .., field: value}]`). Everything
//! else is typed.

use serde_json::Value as Json;
use wardcrf_core as core;

/// A language of labels and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Language {
    En,
    Ja,
    De,
}

impl From<Language> for core::Lang {
    fn from(l: Language) -> Self {
        match l {
            Language::En => core::Lang::En,
            Language::Ja => core::Lang::Ja,
            Language::De => core::Lang::De,
        }
    }
}

/// Where a case is in its life: draft → complete → signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseStatus {
    Draft,
    Complete,
    Signed,
}

impl From<core::Status> for CaseStatus {
    fn from(s: core::Status) -> Self {
        match s {
            core::Status::Draft => CaseStatus::Draft,
            core::Status::Complete => CaseStatus::Complete,
            core::Status::Signed => CaseStatus::Signed,
        }
    }
}

impl From<CaseStatus> for core::Status {
    fn from(s: CaseStatus) -> Self {
        match s {
            CaseStatus::Draft => core::Status::Draft,
            CaseStatus::Complete => core::Status::Complete,
            CaseStatus::Signed => core::Status::Signed,
        }
    }
}

/// The kind of a validation problem (stable; apps act on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum IssueCode {
    UnknownField,
    WrongType,
    NotAChoice,
    InvalidDate,
    PartialDateNotAllowed,
    UnitNotAllowed,
    TooLong,
    TooManyRows,
    /// Impossible: the value is refused.
    HardLimit,
    /// Unusual: accepted with a reason that confirms it.
    SoftLimit,
    /// Looks typed in another unit ([`ValidationIssue::likely_unit`]): corrected, or
    /// accepted with a reason that confirms it.
    UnitSlip,
    FutureDate,
    /// Required for completion and empty.
    Required,
    HiddenValue,
    /// A cross-field rule of the form does not hold.
    Rule,
}

impl From<core::IssueCode> for IssueCode {
    fn from(c: core::IssueCode) -> Self {
        use core::IssueCode as C;
        match c {
            C::UnknownField => IssueCode::UnknownField,
            C::WrongType => IssueCode::WrongType,
            C::NotAChoice => IssueCode::NotAChoice,
            C::InvalidDate => IssueCode::InvalidDate,
            C::PartialDateNotAllowed => IssueCode::PartialDateNotAllowed,
            C::UnitNotAllowed => IssueCode::UnitNotAllowed,
            C::TooLong => IssueCode::TooLong,
            C::TooManyRows => IssueCode::TooManyRows,
            C::HardLimit => IssueCode::HardLimit,
            C::SoftLimit => IssueCode::SoftLimit,
            C::UnitSlip => IssueCode::UnitSlip,
            C::FutureDate => IssueCode::FutureDate,
            C::Required => IssueCode::Required,
            C::HiddenValue => IssueCode::HiddenValue,
            C::Rule => IssueCode::Rule,
        }
    }
}

/// One validation problem on one field (of one row, in a repeating group).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ValidationIssue {
    pub field: String,
    pub group: Option<String>,
    pub row_id: Option<String>,
    pub code: IssueCode,
    /// The form rule's id, for [`IssueCode::Rule`].
    pub rule: Option<String>,
    /// The reason that confirmed a warning, if one was given.
    pub confirmed: Option<String>,
    /// In the language asked for.
    pub message: String,
    /// The unit the number was probably meant in, and the value it gives in the field's
    /// unit: an app offers it as a one-tap correction.
    pub likely_unit: Option<LikelyUnit>,
}

/// A unit a number was probably meant in ([`IssueCode::UnitSlip`], or an impossible value
/// another unit explains).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LikelyUnit {
    /// UCUM code, one the field offers.
    pub unit: String,
    /// The number read in that unit, in the field's own unit.
    pub value: f64,
}

impl ValidationIssue {
    pub(crate) fn new(i: &core::Issue, lang: core::Lang) -> Self {
        ValidationIssue {
            field: i.field.clone(),
            group: i.group.clone(),
            row_id: i.row_id.clone(),
            code: i.code.into(),
            rule: i.rule.clone(),
            confirmed: i.confirmed.clone(),
            message: i.message.get(lang).to_string(),
            likely_unit: i.likely_unit.as_ref().map(|l| LikelyUnit {
                unit: l.unit.clone(),
                value: l.value,
            }),
        }
    }
}

/// A case's validation: errors, warnings (confirmed or not) and required fields still empty.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ValidationReport {
    pub errors: Vec<ValidationIssue>,
    pub warnings: Vec<ValidationIssue>,
    pub missing: Vec<ValidationIssue>,
    /// Values left in fields the other answers now hide: not errors; completing asks whether
    /// to clear or keep them.
    pub hidden: Vec<ValidationIssue>,
    /// Nothing blocks completion (no errors, nothing missing, every warning confirmed).
    pub complete: bool,
    /// The values in canonical units, as JSON text (an object of field ids).
    pub values_json: String,
}

impl ValidationReport {
    pub(crate) fn new(r: &core::Report, lang: core::Lang) -> Self {
        let issues = |v: &[core::Issue]| v.iter().map(|i| ValidationIssue::new(i, lang)).collect();
        ValidationReport {
            errors: issues(&r.errors),
            warnings: issues(&r.warnings),
            missing: issues(&r.missing),
            hidden: issues(&r.hidden),
            complete: r.is_complete(),
            values_json: Json::Object(r.values.clone()).to_string(),
        }
    }
}

/// Where a value lives: a case-level field (`group` and `row_id` empty) or a field of a row.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldPath {
    pub field: String,
    #[uniffi(default = None)]
    pub group: Option<String>,
    #[uniffi(default = None)]
    pub row_id: Option<String>,
}

impl From<FieldPath> for core::FieldPath {
    fn from(p: FieldPath) -> Self {
        core::FieldPath {
            field: p.field,
            group: p.group,
            row_id: p.row_id,
        }
    }
}

impl From<core::FieldPath> for FieldPath {
    fn from(p: core::FieldPath) -> Self {
        FieldPath {
            field: p.field,
            group: p.group,
            row_id: p.row_id,
        }
    }
}

/// A case in a list, read without opening the case: what the store keeps unencrypted (no
/// patient data) and the case's display label, kept sealed beside it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseSummary {
    pub case_id: String,
    pub form_id: String,
    pub form_version: String,
    pub status: CaseStatus,
    pub has_conflicts: bool,
    pub deleted: bool,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    /// The values of the fields the form designates for a list line (e.g. study case id,
    /// hospital record number, admission date), joined by " · "; empty when none is answered.
    /// May identify the patient: show it on the device, never log or send it.
    pub label: String,
    /// The number of open conflicts.
    pub conflicts: u32,
    /// The repository does not hold the case as it is here yet (changed since the last sync,
    /// or never synced): the "not yet synced" marker.
    pub pending_sync: bool,
}

impl From<core::CaseSummary> for CaseSummary {
    fn from(c: core::CaseSummary) -> Self {
        CaseSummary {
            case_id: c.case_id,
            form_id: c.form_id,
            form_version: c.form_version,
            status: c.status.into(),
            has_conflicts: c.has_conflicts,
            deleted: c.deleted,
            created_at: c.created_at,
            updated_at: c.updated_at,
            label: c.label,
            conflicts: c.conflicts,
            pending_sync: c.pending_sync,
        }
    }
}

/// Which cases to list; the default lists every case not deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct CaseFilter {
    #[uniffi(default = None)]
    pub status: Option<CaseStatus>,
    #[uniffi(default = None)]
    pub form_id: Option<String>,
    /// Updated at or after this time (seconds since the Unix epoch).
    #[uniffi(default = None)]
    pub updated_since: Option<i64>,
    #[uniffi(default = false)]
    pub with_conflicts: bool,
    #[uniffi(default = false)]
    pub include_deleted: bool,
}

impl From<CaseFilter> for core::CaseFilter {
    fn from(f: CaseFilter) -> Self {
        core::CaseFilter {
            status: f.status.map(Into::into),
            form_id: f.form_id,
            updated_since: f.updated_since,
            with_conflicts: f.with_conflicts,
            include_deleted: f.include_deleted,
        }
    }
}

/// One concurrent value of a conflicted field, with who wrote it where and when.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Candidate {
    pub value_json: String,
    /// The device id (hex).
    pub device: String,
    pub user: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// The reason given with the change that wrote this value, if any.
    pub reason: Option<String>,
}

/// A field edited on two devices: every candidate value, for a nurse to resolve.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Conflict {
    pub case_id: String,
    pub path: FieldPath,
    pub candidates: Vec<Candidate>,
}

impl From<core::Conflict> for Conflict {
    fn from(c: core::Conflict) -> Self {
        Conflict {
            case_id: c.case_id,
            path: c.path.into(),
            candidates: c
                .candidates
                .into_iter()
                .map(|c| Candidate {
                    value_json: c.value.to_string(),
                    device: c.device,
                    user: c.user,
                    time: c.time,
                    reason: c.reason,
                })
                .collect(),
        }
    }
}

/// A case as the app shows it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseView {
    pub case_id: String,
    pub form_id: String,
    pub form_version: String,
    pub modules: Vec<String>,
    pub status: CaseStatus,
    pub deleted: bool,
    /// The values in canonical units, as JSON text (an object of field ids; a value entered
    /// in another unit keeps what was entered: `{"value": 38.5, "unit": "Cel", "entered": ..}`).
    pub values_json: String,
    pub report: ValidationReport,
    pub conflicts: Vec<Conflict>,
}

impl CaseView {
    pub(crate) fn new(v: core::CaseView, lang: core::Lang) -> Self {
        CaseView {
            report: ValidationReport::new(&v.report, lang),
            case_id: v.case_id,
            form_id: v.form_id,
            form_version: v.form_version,
            modules: v.modules,
            status: v.status.into(),
            deleted: v.deleted,
            values_json: Json::Object(v.values).to_string(),
            conflicts: v.conflicts.into_iter().map(Into::into).collect(),
        }
    }
}

/// One entry of a case's audit trail: who, when, on which device, what changed and why.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HistoryEntry {
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub device: String,
    /// The author's staff id (before staff signed in on devices: the free-text name typed
    /// then; see `verified`).
    pub user: String,
    /// The author's printed name; none for a change made before staff signed in.
    pub user_name: Option<String>,
    /// Whether the author was a signed-in staff member; show an unverified author as
    /// `unverified: <user>`.
    pub verified: bool,
    /// `create`, `set`, `clear`, `row_add`, `row_remove`, `status`, `reopen`, `resolve`,
    /// `delete`, `restore`, `sign`.
    pub op: String,
    pub field: Option<String>,
    pub group: Option<String>,
    pub row_id: Option<String>,
    pub old_json: Option<String>,
    pub new_json: Option<String>,
    pub reason: Option<String>,
    /// The change's hash.
    pub change: String,
}

impl From<core::HistoryEntry> for HistoryEntry {
    fn from(h: core::HistoryEntry) -> Self {
        HistoryEntry {
            time: h.time,
            device: h.device,
            user: h.user,
            user_name: h.user_name,
            verified: h.verified,
            op: h.op,
            field: h.field,
            group: h.group,
            row_id: h.row_id,
            old_json: h.old.map(|v| v.to_string()),
            new_json: h.new.map(|v| v.to_string()),
            reason: h.reason,
            change: h.change,
        }
    }
}

/// What merging another device's store did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MergeSummary {
    pub new_cases: u32,
    pub updated_cases: u32,
    /// Open conflicts on the merged cases afterwards.
    pub conflicts: u32,
}

impl From<core::MergeSummary> for MergeSummary {
    fn from(m: core::MergeSummary) -> Self {
        MergeSummary {
            new_cases: count(m.new_cases),
            updated_cases: count(m.updated_cases),
            conflicts: count(m.conflicts),
        }
    }
}

/// Where a sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    pub pushed: u32,
    pub pulled: u32,
    /// Cases still waiting to be sent (an estimate while receiving continues).
    pub remaining: u32,
}

impl From<core::sync::SyncProgress> for SyncProgress {
    fn from(p: core::sync::SyncProgress) -> Self {
        SyncProgress {
            pushed: count(p.pushed),
            pulled: count(p.pulled),
            remaining: count(p.remaining),
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    pub pushed: u32,
    pub pulled: u32,
    /// Open conflicts on this device afterwards.
    pub conflicts: u32,
    /// Exchanges with the repository.
    pub exchanges: u32,
}

impl From<core::sync::SyncSummary> for SyncSummary {
    fn from(s: core::sync::SyncSummary) -> Self {
        SyncSummary {
            pushed: count(s.pushed),
            pulled: count(s.pulled),
            conflicts: count(s.conflicts),
            exchanges: count(s.exchanges),
        }
    }
}

/// What the repository gave this device at enrolment (the token stays sealed in the store).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Enrolment {
    pub device_id: String,
    pub site_id: String,
    /// The repository address as kept (normalised).
    pub server_url: String,
    /// The site keeps identifying data (name, record number, date of birth) on this device:
    /// it is never synced. Worth telling the user once.
    pub identifying_on_device: bool,
}

/// A count for the foreign side (saturating: no store holds four billion cases).
pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
