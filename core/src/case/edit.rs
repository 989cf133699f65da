//! The rules of an edit, one definition each, for the device store and the repository alike:
//!
//! - [`clean_reason`]: a reason is trimmed, cut to [`MAX_REASON`] characters, and an empty one
//!   is no reason;
//! - [`check_value`]: a new value is validated with the rest of the case: an impossible value is
//!   refused, one outside the expected range needs a reason (which then confirms it), and what
//!   is stored is the canonical value (units converted);
//! - `open_conflict` and `OpenConflict::resolve`: a conflict is resolved by one change that
//!   supersedes every candidate, with a value checked like any other (a candidate's or a new
//!   one);
//! - `reopen_after_edit`: an edit of a complete or signed case reopens it as a draft.

use super::document::{Candidate, CaseDoc, ChangeNote, DocError, FieldPath};
use super::meta::Status;
use super::value::{Annotated, Value};
use crate::date::PartialDate;
use crate::form::Form;
use crate::staff::Attribution;
use crate::validate::{Context, Issue, Report, validate};
use serde_json::{Map, Value as Json, json};

/// Longest reason kept for a change.
pub const MAX_REASON: usize = 2000;

/// A reason as kept: trimmed and at most [`MAX_REASON`] characters; `None` when empty.
pub fn clean_reason(reason: Option<&str>) -> Option<String> {
    reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(MAX_REASON).collect())
}

/// Why an edit was refused. Messages name fields, never values.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{field} is not a field of this case's form")]
    UnknownField { field: String },
    /// The value is impossible or unreadable; `issues` hold the messages in every language.
    #[error("the value of {field} cannot be stored: it breaks a hard rule of the form")]
    Rejected { field: String, issues: Vec<Issue> },
    /// The value is outside the expected range and nothing confirms it.
    #[error(
        "the value of {field} is outside its expected range and needs a reason that confirms it"
    )]
    NeedsConfirmation { field: String, warnings: Vec<Issue> },
    #[error("{0} has no conflict to resolve")]
    NoConflict(String),
    #[error(transparent)]
    Document(#[from] DocError),
}

/// What a value is checked against: the case's composed form, the case's current values (as a
/// validation input) and the date taken as today.
#[derive(Debug)]
pub struct CaseContext<'a> {
    pub form: &'a Form,
    pub values: Map<String, Json>,
    pub today: Option<PartialDate>,
    /// The site's default unit per field: a number given without a unit is in it.
    pub default_units: Option<&'a std::collections::BTreeMap<String, String>>,
}

/// Refuses a write when the issues it concerns (`mine`) include an impossible value, or a
/// warning nobody confirmed.
pub(crate) fn refuse_write(
    report: &Report,
    mine: impl Fn(&Issue) -> bool,
) -> Result<(), EditError> {
    let rejecting: Vec<Issue> = report
        .errors
        .iter()
        .filter(|i| mine(i) && i.code.rejects_write())
        .cloned()
        .collect();
    if let Some(first) = rejecting.first() {
        return Err(EditError::Rejected {
            field: first.field.clone(),
            issues: rejecting,
        });
    }
    let unconfirmed: Vec<Issue> = report
        .warnings
        .iter()
        .filter(|w| mine(w) && w.code.needs_confirmation() && w.confirmed.is_none())
        .cloned()
        .collect();
    if let Some(first) = unconfirmed.first() {
        return Err(EditError::NeedsConfirmation {
            field: first.field.clone(),
            warnings: unconfirmed,
        });
    }
    Ok(())
}

/// The value as written with `reason`: the reason confirms it unless it already carries a
/// confirmation of its own.
fn confirmed_by(raw: Json, reason: Option<&str>) -> Json {
    let Some(reason) = reason else {
        return raw;
    };
    match Value::from_json(raw) {
        Value::Annotated(mut a) => {
            a.confirm.get_or_insert_with(|| reason.to_string());
            Value::Annotated(a).to_json()
        }
        // An object validation reads as annotated but that is not in the canonical shape:
        // confirmed the same way, keeping its keys as given.
        Value::Plain(Json::Object(mut o)) if o.contains_key("value") => {
            o.entry("confirm").or_insert_with(|| json!(reason));
            Json::Object(o)
        }
        Value::Plain(plain) => Value::Annotated(Annotated::confirmed(plain, reason)).to_json(),
    }
}

/// Validates the case with `path` set to `raw` and returns the canonical value to store.
///
/// An impossible value is refused ([`EditError::Rejected`]); a value outside the expected range
/// is confirmed by `reason` and refused without one ([`EditError::NeedsConfirmation`]). The
/// reason confirms a value only when it is outside the range: otherwise it is just the reason
/// for the change, kept in the history, not in the value.
pub fn check_value(
    case: &CaseContext<'_>,
    path: &FieldPath,
    raw: Json,
    reason: Option<&str>,
) -> Result<Json, EditError> {
    let field = case
        .form
        .field(&path.field)
        .filter(|f| f.group == path.group)
        .ok_or_else(|| EditError::UnknownField {
            field: path.field.clone(),
        })?;
    let mut values = case.values.clone();
    path.put_in(&mut values, confirmed_by(raw, reason));
    let report = validate(
        case.form,
        &values,
        &Context {
            today: case.today,
            completing: false,
            default_units: case.default_units,
        },
    );
    let at_path = |i: &Issue| {
        i.field == field.def.id
            && i.group == path.group
            && (path.row_id.is_none() || i.row_id == path.row_id)
    };
    refuse_write(&report, at_path)?;
    let canonical = path
        .get_in(&report.values)
        .ok_or_else(|| EditError::Rejected {
            field: path.field.clone(),
            issues: Vec::new(),
        })?;
    let warned = report
        .warnings
        .iter()
        .any(|w| at_path(w) && w.code.needs_confirmation());
    Ok(if warned {
        canonical
    } else {
        Value::from_json(canonical).without_confirmation().to_json()
    })
}

/// An open conflict found in a case document, ready to be resolved.
#[derive(Debug)]
pub(crate) struct OpenConflict {
    path: FieldPath,
    candidates: Vec<Candidate>,
}

/// The open conflict at `path`, or [`EditError::NoConflict`].
pub(crate) fn open_conflict(
    doc: &mut CaseDoc,
    path: &FieldPath,
) -> Result<OpenConflict, EditError> {
    doc.conflicts()
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(path, candidates)| OpenConflict { path, candidates })
        .ok_or_else(|| EditError::NoConflict(path.field.clone()))
}

/// What a resolution wrote.
#[derive(Debug)]
pub(crate) struct ResolvedValue {
    /// The canonical value written.
    pub value: Json,
    /// The candidates' values it superseded (the repository reports them).
    #[cfg_attr(not(feature = "repository"), allow(dead_code))]
    pub superseded: Vec<Json>,
}

impl OpenConflict {
    /// The candidates' values.
    pub(crate) fn values(&self) -> Vec<Json> {
        self.candidates.iter().map(|c| c.value.clone()).collect()
    }

    /// Resolves the conflict with `value` (a candidate's or a new one, checked by
    /// [`check_value`] with `reason`, which is required and already clean): one change by
    /// `author` that supersedes every candidate.
    pub(crate) fn resolve(
        self,
        doc: &mut CaseDoc,
        case: &CaseContext<'_>,
        value: Json,
        author: &Attribution,
        reason: String,
        time: i64,
    ) -> Result<ResolvedValue, EditError> {
        let canonical = check_value(case, &self.path, value, Some(&reason))?;
        let superseded = self.values();
        let mut note = ChangeNote::by(author, "resolve");
        note.reason = Some(reason);
        note.field = Some(self.path.field.clone());
        note.group = self.path.group.clone();
        note.row_id = self.path.row_id.clone();
        note.old = Some(Json::Array(superseded.clone()));
        note.new = Some(canonical.clone());
        doc.put_value(&self.path, Some(&canonical), &note, time)?;
        Ok(ResolvedValue {
            value: canonical,
            superseded,
        })
    }
}

/// After an edit of a complete or signed case: the change that reopens it as a draft.
pub(crate) fn reopen_after_edit(
    doc: &mut CaseDoc,
    status: Status,
    edit: &ChangeNote,
    time: i64,
) -> Result<(), DocError> {
    if status == Status::Draft {
        return Ok(());
    }
    let mut note = ChangeNote {
        by: edit.by.clone(),
        ..ChangeNote::new(&edit.user, "reopen")
    };
    note.reason = edit.reason.clone();
    note.old = Some(json!(status.as_str()));
    note.new = Some(json!("draft"));
    doc.put_root("status", Some("draft"), &note, time)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;

    fn context(form: &Form) -> CaseContext<'_> {
        CaseContext {
            form,
            values: Map::new(),
            today: None,
            default_units: None,
        }
    }

    #[test]
    fn a_reason_confirms_a_value_only_when_it_is_outside_the_range() {
        let form = Catalog::bundled()
            .unwrap()
            .form("icrown-core", &[])
            .unwrap();
        let case = context(&form);
        let spo2 = FieldPath::field("vs_spo2");
        assert!(matches!(
            check_value(&case, &spo2, json!(75), None),
            Err(EditError::NeedsConfirmation { .. })
        ));
        assert_eq!(
            check_value(&case, &spo2, json!(75), Some("COPD")).unwrap(),
            json!({"value": 75, "unit": "%", "confirm": "COPD"})
        );
        assert_eq!(
            check_value(&case, &spo2, json!(97), Some("re-measured")).unwrap(),
            json!({"value": 97, "unit": "%"})
        );
        assert!(matches!(
            check_value(&case, &spo2, json!(250), Some("typo")),
            Err(EditError::Rejected { .. })
        ));
        assert!(matches!(
            check_value(&case, &FieldPath::field("nonsense"), json!(1), None),
            Err(EditError::UnknownField { .. })
        ));
    }

    #[test]
    fn a_blank_confirmation_of_its_own_is_no_confirmation() {
        // The value's own (blank) confirmation is kept in place of the reason, so nothing
        // confirms it: refused, wherever the edit is made.
        let form = Catalog::bundled()
            .unwrap()
            .form("icrown-core", &[])
            .unwrap();
        let r = check_value(
            &context(&form),
            &FieldPath::field("vs_spo2"),
            json!({"value": 75, "confirm": " "}),
            Some("a reason"),
        );
        assert!(matches!(r, Err(EditError::NeedsConfirmation { .. })));
    }

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(clean_reason(Some("  ")), None);
        assert_eq!(clean_reason(None), None);
        assert_eq!(clean_reason(Some(" why ")).as_deref(), Some("why"));
        let long = "x".repeat(MAX_REASON + 10);
        assert_eq!(
            clean_reason(Some(&long)).map(|r| r.chars().count()),
            Some(MAX_REASON)
        );
    }
}
