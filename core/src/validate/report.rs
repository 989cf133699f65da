//! What validation reports: the stable problem codes, one problem on one field, and the
//! report of a whole case with its canonical values (and its JSON form for apps and the CLI).

use crate::lang::{Lang, Text};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::collections::{HashMap, HashSet};

/// The kind of a problem; stable codes that apps and the repository act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    /// The key names no field of the form (or of the row's group).
    UnknownField,
    /// The answer is not of the field's type.
    WrongType,
    /// The code is not one of the field's choices.
    NotAChoice,
    /// The date does not exist (`2024-02-30`).
    InvalidDate,
    /// A year or year-month where a full date is needed.
    PartialDateNotAllowed,
    /// The unit is not one the field accepts.
    UnitNotAllowed,
    /// The text is longer than allowed.
    TooLong,
    /// A group has more rows than allowed.
    TooManyRows,
    /// Outside the hard limits: impossible, rejected.
    HardLimit,
    /// Outside the soft limits: unusual, accepted with a confirmation reason.
    SoftLimit,
    /// Untypical as entered, typical had the number been typed in another unit the field
    /// offers: the message names that unit and the value it gives. Accepted with a
    /// confirmation reason, like [`IssueCode::SoftLimit`], or corrected.
    UnitSlip,
    /// A date in the future.
    FutureDate,
    /// Required for completion and empty.
    Required,
    /// A value in a field that skip logic hides: not an error, but the clinician decides
    /// whether to clear it before the case is completed ([`Report::hidden`]).
    HiddenValue,
    /// A cross-field rule of the form does not hold.
    Rule,
}

impl IssueCode {
    /// The stable snake_case code, as in JSON reports (`hard_limit`).
    pub fn as_str(self) -> &'static str {
        use IssueCode::*;
        match self {
            UnknownField => "unknown_field",
            WrongType => "wrong_type",
            NotAChoice => "not_a_choice",
            InvalidDate => "invalid_date",
            PartialDateNotAllowed => "partial_date_not_allowed",
            UnitNotAllowed => "unit_not_allowed",
            TooLong => "too_long",
            TooManyRows => "too_many_rows",
            HardLimit => "hard_limit",
            SoftLimit => "soft_limit",
            UnitSlip => "unit_slip",
            FutureDate => "future_date",
            Required => "required",
            HiddenValue => "hidden_value",
            Rule => "rule",
        }
    }

    /// Whether the value stands only with a reason that confirms it (or is corrected): a value
    /// outside the expected range, or one that looks typed in the wrong unit.
    pub fn needs_confirmation(self) -> bool {
        matches!(self, IssueCode::SoftLimit | IssueCode::UnitSlip)
    }

    /// Whether a write carrying this problem must be refused (the value is impossible or
    /// unreadable), as opposed to accepted and flagged until the case is completed.
    pub fn rejects_write(self) -> bool {
        use IssueCode::*;
        matches!(
            self,
            UnknownField
                | WrongType
                | NotAChoice
                | InvalidDate
                | PartialDateNotAllowed
                | UnitNotAllowed
                | TooLong
                | TooManyRows
                | HardLimit
        )
    }
}

/// One problem, on one field (of one row, for a repeating group).
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub field: String,
    /// The repeating group, when the field is in one.
    pub group: Option<String>,
    /// Row position within the group (0-based).
    pub row: Option<usize>,
    /// The row's stable id, when the row has one.
    pub row_id: Option<String>,
    pub code: IssueCode,
    /// The rule id, for [`IssueCode::Rule`].
    pub rule: Option<String>,
    /// The reason the clinician gave to confirm a warning, if any.
    pub confirmed: Option<String>,
    pub message: Text,
    /// For [`IssueCode::UnitSlip`], and a [`IssueCode::HardLimit`] that another unit
    /// explains: the unit the number was probably meant in, and the value it gives.
    pub likely_unit: Option<LikelyUnit>,
}

/// The unit a number was probably meant in, and what it gives in the field's own unit.
#[derive(Debug, Clone, PartialEq)]
pub struct LikelyUnit {
    /// The UCUM code of the likely unit (one the field offers).
    pub unit: String,
    /// The number read in that unit, converted to the field's canonical unit.
    pub value: f64,
}

/// The result of validating a case.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
    /// Required fields still empty, while the case is being entered (see
    /// [`super::Context::completing`]).
    pub missing: Vec<Issue>,
    /// Values in fields that skip logic now hides ([`IssueCode::HiddenValue`]): kept, neither
    /// an error nor a warning; completing the case asks whether to clear them.
    pub hidden: Vec<Issue>,
    /// Which fields, groups and sections the current answers show.
    pub visible: Visibility,
    /// The values in canonical form and units, `{"field": value, "group": [{row}]}`.
    pub values: Map<String, Json>,
}

/// What skip logic shows, given the answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Visibility {
    /// Sections shown (their own conditions hold).
    pub sections: HashSet<String>,
    /// Case-level fields shown.
    pub fields: HashSet<String>,
    /// Repeating groups shown (rows may be added).
    pub groups: HashSet<String>,
    /// The fields shown in each row, by group, in the order of the rows.
    pub rows: HashMap<String, Vec<RowVisibility>>,
}

/// The fields shown in one row: (row id, fields).
pub type RowVisibility = (Option<String>, HashSet<String>);

impl Visibility {
    /// Whether a field is shown: case-level, or in the row `row_id` of `group`.
    pub fn shows(&self, field: &str, group: Option<&str>, row_id: Option<&str>) -> bool {
        match group {
            None => self.fields.contains(field),
            Some(g) => self.rows.get(g).is_some_and(|rows| {
                rows.iter()
                    .any(|(id, shown)| id.as_deref() == row_id && shown.contains(field))
            }),
        }
    }
}

impl Report {
    /// Whether nothing blocks completion: no errors, nothing missing, every warning confirmed.
    /// Values in hidden fields do not block it (completing asks what to do with them).
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
            && self.missing.is_empty()
            && self.warnings.iter().all(|w| w.confirmed.is_some())
    }

    /// Whether the values may be stored (no problem that rejects a write).
    pub fn accepts_write(&self) -> bool {
        !self.errors.iter().any(|e| e.code.rejects_write())
    }

    /// The report as JSON with messages in `lang`:
    /// `{"errors": [{"field", "code", "message", ...}], "warnings": [...], "values": {...}}`.
    pub fn to_json(&self, lang: Lang) -> Json {
        let issue = |i: &Issue| {
            let mut o = Map::new();
            o.insert("field".into(), Json::String(i.field.clone()));
            if let Some(g) = &i.group {
                o.insert("group".into(), Json::String(g.clone()));
            }
            if let Some(r) = i.row {
                o.insert("row".into(), Json::from(r));
            }
            if let Some(r) = &i.row_id {
                o.insert("row_id".into(), Json::String(r.clone()));
            }
            o.insert("code".into(), Json::String(i.code.as_str().into()));
            if let Some(r) = &i.rule {
                o.insert("rule".into(), Json::String(r.clone()));
            }
            o.insert(
                "message".into(),
                Json::String(i.message.get(lang).to_string()),
            );
            if let Some(c) = &i.confirmed {
                o.insert("confirmed".into(), Json::String(c.clone()));
            }
            if let Some(u) = &i.likely_unit {
                o.insert(
                    "likely_unit".into(),
                    serde_json::json!({"unit": u.unit, "value": u.value}),
                );
            }
            Json::Object(o)
        };
        serde_json::json!({
            "errors": self.errors.iter().map(issue).collect::<Vec<_>>(),
            "warnings": self.warnings.iter().map(issue).collect::<Vec<_>>(),
            "missing": self.missing.iter().map(issue).collect::<Vec<_>>(),
            "hidden": self.hidden.iter().map(issue).collect::<Vec<_>>(),
            "values": self.values,
        })
    }
}
