//! The form as the clinician sees it for one case: the one place where skip logic, field
//! states, progress and the next missing field are worked out for the tablets and the CLI.
//!
//! [`FormSession::build`] takes a composed form, the case's stored values, its validation
//! report for completion and its open conflicts, and gives:
//!
//! - the sections the current answers show, each with its shown fields (typed [`Answer`],
//!   [`FieldState`], the issues on it, the candidates of a conflict, the unit a new entry
//!   starts in) and repeating groups with their rows, and its [`Progress`];
//! - the values left in fields the answers now hide ([`FormSession::hidden_values`]): not an
//!   error; completing asks whether to clear them ([`HiddenValues`]);
//! - the first required field still empty, and everything that blocks completion.
//!
//! Labels, help and choices stay in the form (`session.form`), in en/ja/de: a shell renders them
//! in its language. Nothing here reads or writes the store.

use crate::case::document::{Candidate, FieldPath};
use crate::case::meta::Status;
use crate::case::value::Value;
use crate::form::{FieldType, Form, FormField, Item};
use crate::lang::Lang;
use crate::validate::{Issue, IssueCode, Report};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A field's answer, typed by the field's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Text(String),
    Number(f64),
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    Date(String),
    /// ISO 8601 date and time.
    DateTime(String),
    /// A choice code.
    Choice(String),
    /// The codes of a multiple choice.
    Choices(Vec<String>),
    Boolean(bool),
}

impl Answer {
    /// The answer of a stored value (annotations left aside), as the field's kind reads it;
    /// `None` when the stored JSON is not of that kind (validation reports it).
    pub fn of(kind: FieldType, stored: &Json) -> Option<Answer> {
        let code = |v: &Json| match v {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let answer = Value::from_json(stored.clone()).answer().clone();
        match kind {
            FieldType::Text => answer.as_str().map(|s| Answer::Text(s.to_string())),
            FieldType::Integer | FieldType::Decimal => answer.as_f64().map(Answer::Number),
            FieldType::Date => answer.as_str().map(|s| Answer::Date(s.to_string())),
            FieldType::Datetime => answer.as_str().map(|s| Answer::DateTime(s.to_string())),
            FieldType::Choice => code(&answer).map(Answer::Choice),
            FieldType::Multichoice => answer
                .as_array()?
                .iter()
                .map(code)
                .collect::<Option<Vec<_>>>()
                .map(Answer::Choices),
            FieldType::Boolean => answer.as_bool().map(Answer::Boolean),
        }
    }

    /// The answer as a value to write: `unit` is the unit a number was entered in (it is
    /// converted into the field's unit when stored).
    pub fn to_json(&self, unit: Option<&str>) -> Json {
        match self {
            Answer::Number(n) => match unit {
                Some(u) => json!({"value": n, "unit": u}),
                None => json!(n),
            },
            Answer::Text(s) | Answer::Date(s) | Answer::DateTime(s) | Answer::Choice(s) => {
                json!(s)
            }
            Answer::Choices(c) => json!(c),
            Answer::Boolean(b) => json!(b),
        }
    }

    /// The answer as a person reads it, in `lang`: choice labels, yes/no, a number with the
    /// field's unit.
    pub fn shown(&self, field: &FormField, lang: Lang) -> String {
        let label = |code: &str| {
            field
                .choice_label(code)
                .map_or_else(|| code.to_string(), |t| t.get(lang).to_string())
        };
        match self {
            Answer::Text(s) | Answer::Date(s) | Answer::DateTime(s) => s.clone(),
            Answer::Number(n) => match &field.def.unit {
                Some(u) => format!("{n} {}", crate::units::display(u, lang)),
                None => n.to_string(),
            },
            Answer::Choice(c) => label(c),
            Answer::Choices(c) => c.iter().map(|c| label(c)).collect::<Vec<_>>().join(", "),
            Answer::Boolean(b) => match (b, lang) {
                (true, Lang::En) => "Yes".into(),
                (false, Lang::En) => "No".into(),
                (true, Lang::Ja) => "はい".into(),
                (false, Lang::Ja) => "いいえ".into(),
                (true, Lang::De) => "Ja".into(),
                (false, Lang::De) => "Nein".into(),
            },
        }
    }
}

/// Where a field stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldState {
    /// No value (a required one is listed among the problems that block completion).
    Empty,
    /// A value with nothing to say about it.
    Valid,
    /// A value outside the expected range (or another warning) that needs a reason.
    NeedsReason,
    /// A value with a warning that a reason confirmed.
    Confirmed,
    /// A value that breaks a rule of the form.
    Error,
    /// Devices wrote different values concurrently: a nurse chooses.
    Conflict,
}

/// One shown field of a case or of a row.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionField {
    pub path: FieldPath,
    /// The stored value as it is (with unit, what was entered, confirmation).
    pub stored: Option<Json>,
    pub answer: Option<Answer>,
    pub state: FieldState,
    /// The errors on this field (never "required": see [`FormSession::completion_problems`]).
    pub errors: Vec<Issue>,
    /// The warnings on this field, confirmed or not.
    pub warnings: Vec<Issue>,
    /// The concurrent values, when the field is in conflict.
    pub candidates: Vec<Candidate>,
    /// The unit a new entry starts in: the site's default for this field, else the field's.
    pub default_unit: Option<String>,
}

impl SessionField {
    /// The field's confirmation reason, if its value carries one.
    pub fn confirmation(&self) -> Option<String> {
        let stored = self.stored.clone()?;
        Value::from_json(stored).confirm().map(str::to_string)
    }

    /// What was typed before conversion into the field's unit: (number, unit).
    pub fn entered(&self) -> Option<(f64, String)> {
        let stored = self.stored.clone()?;
        let value = Value::from_json(stored);
        let e = value.entered()?;
        Some((e.value()?.as_f64()?, e.unit()?.to_string()))
    }
}

/// A row of a repeating group, with its shown fields.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub row_id: String,
    pub fields: Vec<SessionField>,
}

/// A shown repeating group with its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionGroup {
    pub id: String,
    pub rows: Vec<SessionRow>,
    /// Whether another row may be added (below the group's maximum).
    pub can_add_row: bool,
}

/// An item of a section, in display order.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionItem {
    Field(Box<SessionField>),
    Group(SessionGroup),
}

/// How far a section is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Shown fields with a value (rows included).
    pub answered: u32,
    /// Shown fields required for completion.
    pub required: u32,
    /// Of those, answered.
    pub required_answered: u32,
    /// Errors, unconfirmed warnings and conflicts on its fields.
    pub problems: u32,
}

/// A shown section.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSection {
    pub id: String,
    pub items: Vec<SessionItem>,
    pub progress: Progress,
}

/// A value in a field the answers now hide.
#[derive(Debug, Clone, PartialEq)]
pub struct HiddenValue {
    pub path: FieldPath,
    pub stored: Json,
    pub answer: Option<Answer>,
}

/// What to do with values in hidden fields when a case is completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HiddenValues {
    /// The caller saw none: completing fails if there are any.
    NoneExpected,
    /// Keep them (the clinician decided they stay on record).
    Keep,
    /// Clear them in one audited change, with this reason.
    Clear(String),
}

/// The form as the clinician sees it for one case.
#[derive(Debug, Clone)]
pub struct FormSession {
    pub form: Arc<Form>,
    pub case_id: String,
    pub status: Status,
    /// The sections the answers show, in order, each with its shown items.
    pub sections: Vec<SessionSection>,
    pub hidden_values: Vec<HiddenValue>,
    /// The first shown required field that is still empty.
    pub next_missing: Option<FieldPath>,
    /// Everything that blocks completion: errors (required fields left empty included) and
    /// warnings without a reason.
    pub completion_problems: Vec<Issue>,
    /// Open conflicts (they block completion too).
    pub conflicts: usize,
}

/// What a session is built from.
#[derive(Debug)]
pub struct CaseState<'a> {
    pub case_id: &'a str,
    pub status: Status,
    /// The stored values (`{"field": value, "group": [{"row_id", ...}]}`).
    pub values: &'a Map<String, Json>,
    /// The case validated for completion.
    pub report: &'a Report,
    pub conflicts: &'a [(FieldPath, Vec<Candidate>)],
    /// The site's default unit per field id.
    pub default_units: &'a BTreeMap<String, String>,
}

impl FormSession {
    /// Builds the session of a case.
    pub fn build(form: Arc<Form>, case: &CaseState<'_>) -> FormSession {
        let report = case.report;
        let mut next_missing = None;
        let mut sections = Vec::new();
        for section in &form.definition().sections {
            if !report.visible.sections.contains(&section.id) {
                continue;
            }
            let mut progress = Progress::default();
            let mut items = Vec::new();
            for item in &section.items {
                match item {
                    Item::Field(def) => {
                        if !report.visible.fields.contains(&def.id) {
                            continue;
                        }
                        let Some(field) = form.field(&def.id) else {
                            continue;
                        };
                        let path = FieldPath::field(def.id.clone());
                        let f = session_field(field, path, case.values.get(&def.id), case);
                        count(&mut progress, field, &f, &mut next_missing);
                        items.push(SessionItem::Field(Box::new(f)));
                    }
                    Item::Group(g) => {
                        if !report.visible.groups.contains(&g.id) {
                            continue;
                        }
                        let rows = rows_of(case.values, &g.id);
                        let mut out_rows = Vec::new();
                        for (row_id, row) in rows {
                            let mut fields = Vec::new();
                            for def in &g.fields {
                                if !report.visible.shows(&def.id, Some(&g.id), Some(&row_id)) {
                                    continue;
                                }
                                let Some(field) = form.field(&def.id) else {
                                    continue;
                                };
                                let path = FieldPath::row(g.id.clone(), row_id.clone(), &def.id);
                                let f = session_field(field, path, row.get(&def.id), case);
                                count(&mut progress, field, &f, &mut next_missing);
                                fields.push(f);
                            }
                            out_rows.push(SessionRow { row_id, fields });
                        }
                        let max = g.max_rows.unwrap_or(crate::validate::DEFAULT_MAX_ROWS);
                        items.push(SessionItem::Group(SessionGroup {
                            id: g.id.clone(),
                            can_add_row: (out_rows.len() as u64) < u64::from(max),
                            rows: out_rows,
                        }));
                    }
                }
            }
            if !items.is_empty() {
                sections.push(SessionSection {
                    id: section.id.clone(),
                    items,
                    progress,
                });
            }
        }
        let hidden_values = report
            .hidden
            .iter()
            .filter_map(|issue| {
                let path = path_of(issue)?;
                let stored = path.get_in(case.values)?;
                let answer = form
                    .field(&issue.field)
                    .and_then(|f| Answer::of(f.def.kind, &stored));
                Some(HiddenValue {
                    path,
                    stored,
                    answer,
                })
            })
            .collect();
        let completion_problems = report
            .errors
            .iter()
            .chain(report.warnings.iter().filter(|w| w.confirmed.is_none()))
            .cloned()
            .collect();
        FormSession {
            form,
            case_id: case.case_id.to_string(),
            status: case.status,
            sections,
            hidden_values,
            next_missing,
            completion_problems,
            conflicts: case.conflicts.len(),
        }
    }

    /// Whether the case can be completed now: a draft with no problem and no conflict
    /// (values in hidden fields still ask for a choice: [`HiddenValues`]).
    pub fn can_complete(&self) -> bool {
        self.status == Status::Draft && self.completion_problems.is_empty() && self.conflicts == 0
    }

    /// Every shown field, in display order (rows included).
    pub fn fields(&self) -> impl Iterator<Item = &SessionField> {
        self.sections.iter().flat_map(|s| s.items.iter()).flat_map(
            |item| -> Box<dyn Iterator<Item = &SessionField>> {
                match item {
                    SessionItem::Field(f) => Box::new(std::iter::once(&**f)),
                    SessionItem::Group(g) => Box::new(g.rows.iter().flat_map(|r| r.fields.iter())),
                }
            },
        )
    }

    /// A shown field by its path.
    pub fn field(&self, path: &FieldPath) -> Option<&SessionField> {
        self.fields().find(|f| &f.path == path)
    }
}

/// The rows of a group in the stored values: (row id, values), rows without an id left out.
fn rows_of(values: &Map<String, Json>, group: &str) -> Vec<(String, Map<String, Json>)> {
    values
        .get(group)
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|row| {
            let row = row.as_object()?;
            let id = row.get("row_id")?.as_str()?.to_string();
            Some((id, row.clone()))
        })
        .collect()
}

/// The path an issue is about; `None` for a row issue without a row id.
fn path_of(issue: &Issue) -> Option<FieldPath> {
    match &issue.group {
        None => Some(FieldPath::field(issue.field.clone())),
        Some(g) => Some(FieldPath::row(
            g.clone(),
            issue.row_id.clone()?,
            &issue.field,
        )),
    }
}

fn on(issue: &Issue, path: &FieldPath) -> bool {
    issue.field == path.field && issue.group == path.group && issue.row_id == path.row_id
}

fn session_field(
    field: &FormField,
    path: FieldPath,
    stored: Option<&Json>,
    case: &CaseState<'_>,
) -> SessionField {
    let report = case.report;
    let errors: Vec<&Issue> = report
        .errors
        .iter()
        .filter(|i| on(i, &path) && i.code != IssueCode::Required)
        .collect();
    let warnings: Vec<Issue> = report
        .warnings
        .iter()
        .filter(|i| on(i, &path))
        .cloned()
        .collect();
    let candidates = case
        .conflicts
        .iter()
        .find(|(p, _)| p == &path)
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    let state = if !candidates.is_empty() {
        FieldState::Conflict
    } else if !errors.is_empty() {
        FieldState::Error
    } else if warnings.iter().any(|w| w.confirmed.is_none()) {
        FieldState::NeedsReason
    } else if !warnings.is_empty() {
        FieldState::Confirmed
    } else if stored.is_some() {
        FieldState::Valid
    } else {
        FieldState::Empty
    };
    let default_unit = field
        .entry_unit(Some(case.default_units))
        .map(str::to_string);
    SessionField {
        answer: stored.and_then(|s| Answer::of(field.def.kind, s)),
        stored: stored.cloned(),
        state,
        errors: errors.into_iter().cloned().collect(),
        warnings,
        candidates,
        default_unit,
        path,
    }
}

fn count(
    progress: &mut Progress,
    field: &FormField,
    f: &SessionField,
    next_missing: &mut Option<FieldPath>,
) {
    let answered = f.stored.is_some();
    progress.answered += u32::from(answered);
    if field.required {
        progress.required += 1;
        progress.required_answered += u32::from(answered);
        if !answered && next_missing.is_none() {
            *next_missing = Some(f.path.clone());
        }
    }
    if matches!(
        f.state,
        FieldState::Error | FieldState::NeedsReason | FieldState::Conflict
    ) {
        progress.problems += 1;
    }
}

#[cfg(test)]
mod tests;
