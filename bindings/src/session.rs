//! The form session of a case, as the apps render it: the core's [`core::session`] in records,
//! labels and messages in the language asked for, values typed ([`AnswerValue`]). Each edit
//! made through the session returns the new session, so a screen re-renders from one value.

use crate::error::WardcrfError;
use crate::forms::{ChoiceOption, FieldKind, MeasureUnit, ValueRange, field_layout};
use crate::store::CaseStore;
use crate::types::{CaseStatus, FieldPath, IssueCode, Language, ValidationIssue, count};
use wardcrf_core as core;
use wardcrf_core::session::{self as s, Answer};

/// A field's answer, typed by the field's kind.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AnswerValue {
    Text {
        text: String,
    },
    Number {
        value: f64,
    },
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (a partial date where the field allows one).
    Date {
        date: String,
    },
    /// ISO 8601 date and time (`2024-03-01T10:00`).
    DateTime {
        datetime: String,
    },
    /// A choice code.
    Choice {
        code: String,
    },
    /// The codes of a multiple choice.
    Choices {
        codes: Vec<String>,
    },
    Boolean {
        value: bool,
    },
}

impl From<Answer> for AnswerValue {
    fn from(a: Answer) -> Self {
        match a {
            Answer::Text(text) => AnswerValue::Text { text },
            Answer::Number(value) => AnswerValue::Number { value },
            Answer::Date(date) => AnswerValue::Date { date },
            Answer::DateTime(datetime) => AnswerValue::DateTime { datetime },
            Answer::Choice(code) => AnswerValue::Choice { code },
            Answer::Choices(codes) => AnswerValue::Choices { codes },
            Answer::Boolean(value) => AnswerValue::Boolean { value },
        }
    }
}

impl From<AnswerValue> for Answer {
    fn from(a: AnswerValue) -> Self {
        match a {
            AnswerValue::Text { text } => Answer::Text(text),
            AnswerValue::Number { value } => Answer::Number(value),
            AnswerValue::Date { date } => Answer::Date(date),
            AnswerValue::DateTime { datetime } => Answer::DateTime(datetime),
            AnswerValue::Choice { code } => Answer::Choice(code),
            AnswerValue::Choices { codes } => Answer::Choices(codes),
            AnswerValue::Boolean { value } => Answer::Boolean(value),
        }
    }
}

/// Where a field stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FieldState {
    Empty,
    Valid,
    /// Outside the expected range (or another warning): save it again with a reason.
    NeedsReason,
    /// A warning a reason confirmed.
    Confirmed,
    Error,
    /// Devices wrote different values: a nurse chooses one (`candidates`).
    Conflict,
}

impl From<s::FieldState> for FieldState {
    fn from(st: s::FieldState) -> Self {
        match st {
            s::FieldState::Empty => FieldState::Empty,
            s::FieldState::Valid => FieldState::Valid,
            s::FieldState::NeedsReason => FieldState::NeedsReason,
            s::FieldState::Confirmed => FieldState::Confirmed,
            s::FieldState::Error => FieldState::Error,
            s::FieldState::Conflict => FieldState::Conflict,
        }
    }
}

/// A message on a field, in the language asked for.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldMessage {
    pub code: IssueCode,
    pub message: String,
    /// A warning (a reason confirms it) rather than an error.
    pub warning: bool,
}

/// What was typed before conversion into the field's unit.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EnteredQuantity {
    pub value: f64,
    pub unit: String,
}

/// One concurrent value of a field in conflict.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SessionCandidate {
    pub answer: Option<AnswerValue>,
    /// The value as a person reads it (choice label, unit).
    pub shown: String,
    pub device: String,
    pub user: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// The reason given with this value, if any.
    pub reason: Option<String>,
}

/// A shown field with everything a screen needs to render and edit it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SessionField {
    pub path: FieldPath,
    pub id: String,
    pub kind: FieldKind,
    pub label: String,
    pub help: Option<String>,
    pub required: bool,
    pub identifying: bool,
    /// A year or year-month is accepted.
    pub partial_date: bool,
    pub decimals: Option<u8>,
    pub max_length: Option<u32>,
    pub hard_limits: Option<ValueRange>,
    pub soft_limits: Option<ValueRange>,
    pub choices: Vec<ChoiceOption>,
    /// The unit values are stored in.
    pub unit: Option<MeasureUnit>,
    /// Every unit a value may be entered in, the stored unit first.
    pub units: Vec<MeasureUnit>,
    /// The unit a new entry starts in: the site's default for this field, else the field's.
    pub default_unit: Option<String>,
    pub answer: Option<AnswerValue>,
    /// The answer as a person reads it (choice label, yes/no, unit).
    pub shown: Option<String>,
    pub entered: Option<EnteredQuantity>,
    /// The reason that confirmed the value, if it needed one.
    pub confirmation: Option<String>,
    pub state: FieldState,
    pub messages: Vec<FieldMessage>,
    pub candidates: Vec<SessionCandidate>,
}

/// A row of a repeating group with its shown fields.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SessionRow {
    pub row_id: String,
    pub fields: Vec<SessionField>,
}

/// A shown repeating group.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SessionGroup {
    pub id: String,
    pub label: String,
    pub help: Option<String>,
    pub max_rows: Option<u32>,
    pub can_add_row: bool,
    pub rows: Vec<SessionRow>,
}

/// An item of a section, in display order.
// Records cross the FFI by value (serialised into a buffer): boxing would save nothing there.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum SessionItem {
    Field { field: SessionField },
    Group { group: SessionGroup },
}

/// How far a section is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SectionProgress {
    pub answered: u32,
    pub required: u32,
    pub required_answered: u32,
    /// Errors, unconfirmed warnings and conflicts.
    pub problems: u32,
}

/// A shown section.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SessionSection {
    pub id: String,
    pub label: String,
    pub help: Option<String>,
    pub items: Vec<SessionItem>,
    pub progress: SectionProgress,
}

/// A value in a field the other answers now hide.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HiddenValue {
    pub path: FieldPath,
    pub label: String,
    /// The value as a person reads it.
    pub shown: String,
}

/// What to do with values in hidden fields when completing a case.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum HiddenValueChoice {
    /// The screen showed none: completing fails with `HiddenValuesPending` if there are some.
    NoHiddenValues,
    /// Keep them on record.
    Keep,
    /// Clear them in one audited change with this reason.
    Clear { reason: String },
}

/// The form as the clinician sees it for one case.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FormSession {
    pub case_id: String,
    pub form_id: String,
    pub title: String,
    pub status: CaseStatus,
    /// The sections the answers show, in order.
    pub sections: Vec<SessionSection>,
    pub hidden_values: Vec<HiddenValue>,
    /// The first shown required field still empty.
    pub next_missing: Option<FieldPath>,
    /// Everything that blocks completion (errors, required fields left empty, warnings
    /// without a reason).
    pub completion_problems: Vec<ValidationIssue>,
    pub can_complete: bool,
    /// Open conflicts.
    pub conflicts: u32,
}

fn shown_of(
    form: &core::Form,
    field: &str,
    stored: &serde_json::Value,
    lang: core::Lang,
) -> String {
    match form.field(field) {
        Some(f) => match Answer::of(f.def.kind, stored) {
            Some(a) => a.shown(f, lang),
            None => stored.to_string(),
        },
        None => stored.to_string(),
    }
}

fn session_field(form: &core::Form, f: s::SessionField, lang: core::Lang) -> Option<SessionField> {
    let compiled = form.field(&f.path.field)?;
    let layout = field_layout(form, &compiled.def, lang);
    let message = |i: &core::Issue, warning: bool| FieldMessage {
        code: i.code.into(),
        message: i.message.get(lang).to_string(),
        warning,
    };
    let messages = f
        .errors
        .iter()
        .map(|i| message(i, false))
        .chain(f.warnings.iter().map(|i| message(i, true)))
        .collect();
    let candidates = f
        .candidates
        .iter()
        .map(|c| SessionCandidate {
            answer: Answer::of(compiled.def.kind, &c.value).map(Into::into),
            shown: shown_of(form, &f.path.field, &c.value, lang),
            device: c.device.clone(),
            user: c.user.clone(),
            time: c.time,
            reason: c.reason.clone(),
        })
        .collect();
    let mut units: Vec<MeasureUnit> = layout.unit.iter().cloned().collect();
    units.extend(layout.alt_units.iter().cloned());
    Some(SessionField {
        entered: f
            .entered()
            .map(|(value, unit)| EnteredQuantity { value, unit }),
        confirmation: f.confirmation(),
        shown: f.answer.as_ref().map(|a| a.shown(compiled, lang)),
        answer: f.answer.map(Into::into),
        path: f.path.into(),
        id: layout.id,
        kind: layout.kind,
        label: layout.label,
        help: layout.help,
        required: layout.required,
        identifying: layout.identifying,
        partial_date: layout.partial_date,
        decimals: layout.decimals,
        max_length: layout.max_length,
        hard_limits: layout.hard_limits,
        soft_limits: layout.soft_limits,
        choices: layout.choices,
        unit: layout.unit,
        units,
        default_unit: f.default_unit,
        state: f.state.into(),
        messages,
        candidates,
    })
}

impl FormSession {
    pub(crate) fn new(session: s::FormSession, lang: core::Lang) -> Self {
        let form = session.form.clone();
        let def = form.definition();
        let can_complete = session.can_complete();
        let sections = session
            .sections
            .into_iter()
            .filter_map(|sec| {
                let meta = def.sections.iter().find(|x| x.id == sec.id)?;
                let items =
                    sec.items
                        .into_iter()
                        .filter_map(|item| match item {
                            s::SessionItem::Field(f) => session_field(&form, *f, lang)
                                .map(|field| SessionItem::Field { field }),
                            s::SessionItem::Group(g) => {
                                let group = form.group(&g.id)?;
                                Some(SessionItem::Group {
                                    group: SessionGroup {
                                        label: group.label.get(lang).to_string(),
                                        help: group.help.as_ref().map(|h| h.get(lang).to_string()),
                                        max_rows: group.max_rows,
                                        can_add_row: g.can_add_row,
                                        rows: g
                                            .rows
                                            .into_iter()
                                            .map(|r| SessionRow {
                                                row_id: r.row_id,
                                                fields: r
                                                    .fields
                                                    .into_iter()
                                                    .filter_map(|f| session_field(&form, f, lang))
                                                    .collect(),
                                            })
                                            .collect(),
                                        id: g.id,
                                    },
                                })
                            }
                        })
                        .collect();
                Some(SessionSection {
                    label: meta.label.get(lang).to_string(),
                    help: meta.help.as_ref().map(|h| h.get(lang).to_string()),
                    items,
                    progress: SectionProgress {
                        answered: sec.progress.answered,
                        required: sec.progress.required,
                        required_answered: sec.progress.required_answered,
                        problems: sec.progress.problems,
                    },
                    id: sec.id,
                })
            })
            .collect();
        FormSession {
            case_id: session.case_id,
            form_id: form.form_id().to_string(),
            title: def.title.get(lang).to_string(),
            status: session.status.into(),
            sections,
            hidden_values: session
                .hidden_values
                .into_iter()
                .map(|h| HiddenValue {
                    label: form.field(&h.path.field).map_or_else(
                        || h.path.field.clone(),
                        |f| f.def.label.get(lang).to_string(),
                    ),
                    shown: shown_of(&form, &h.path.field, &h.stored, lang),
                    path: h.path.into(),
                })
                .collect(),
            next_missing: session.next_missing.map(Into::into),
            completion_problems: session
                .completion_problems
                .iter()
                .map(|i| ValidationIssue::new(i, lang))
                .collect(),
            can_complete,
            conflicts: count(session.conflicts),
        }
    }
}

impl CaseStore {
    fn session_now(
        &self,
        store: &core::CaseStore,
        case_id: &str,
        lang: Language,
    ) -> Result<FormSession, WardcrfError> {
        Ok(FormSession::new(store.session(case_id)?, lang.into()))
    }
}

#[uniffi::export]
impl CaseStore {
    /// The form as the clinician sees it for a case: the sections the answers show, each
    /// field with its typed answer, state and messages in `lang`, rows, values left in hidden
    /// fields, the next missing field and what blocks completion.
    pub fn form_session(
        &self,
        case_id: String,
        lang: Language,
    ) -> Result<FormSession, WardcrfError> {
        let store = self.store()?;
        self.session_now(&store, &case_id, lang)
    }

    /// Sets (or, with no answer, clears) a field and returns the new session. `unit`: the unit
    /// a number was entered in (converted into the field's unit). An impossible value is
    /// refused; one outside the expected range, a change of an earlier entry and an edit of a
    /// complete or signed case need `reason`.
    #[uniffi::method(default(unit = None, reason = None))]
    pub fn set_answer(
        &self,
        case_id: String,
        path: FieldPath,
        answer: Option<AnswerValue>,
        lang: Language,
        unit: Option<String>,
        reason: Option<String>,
    ) -> Result<FormSession, WardcrfError> {
        if let Some(AnswerValue::Number { value }) = &answer
            && !value.is_finite()
        {
            return Err(WardcrfError::InvalidInput {
                reason: "the number is not finite".into(),
            });
        }
        let value = answer.map_or(serde_json::Value::Null, |a| {
            Answer::from(a).to_json(unit.as_deref())
        });
        let mut store = self.store()?;
        store.set_value(&case_id, &path.into(), value, reason.as_deref())?;
        self.session_now(&store, &case_id, lang)
    }

    /// Adds an empty row to a repeating group and returns the new session (the row is the
    /// group's last).
    #[uniffi::method(default(reason = None))]
    pub fn add_session_row(
        &self,
        case_id: String,
        group: String,
        lang: Language,
        reason: Option<String>,
    ) -> Result<FormSession, WardcrfError> {
        let mut store = self.store()?;
        store.add_row(&case_id, &group, &serde_json::Map::new(), reason.as_deref())?;
        self.session_now(&store, &case_id, lang)
    }

    /// Clears every value left in a field the answers now hide, in one audited change with
    /// `reason`; returns the new session.
    pub fn clear_hidden(
        &self,
        case_id: String,
        reason: String,
        lang: Language,
    ) -> Result<FormSession, WardcrfError> {
        let mut store = self.store()?;
        store.clear_hidden(&case_id, &reason)?;
        self.session_now(&store, &case_id, lang)
    }

    /// Marks a case complete, with the clinician's choice about values in hidden fields;
    /// `NotComplete` while anything blocks it (the session's `completion_problems`).
    pub fn complete(
        &self,
        case_id: String,
        hidden: HiddenValueChoice,
        lang: Language,
    ) -> Result<FormSession, WardcrfError> {
        let choice = match hidden {
            HiddenValueChoice::NoHiddenValues => s::HiddenValues::NoneExpected,
            HiddenValueChoice::Keep => s::HiddenValues::Keep,
            HiddenValueChoice::Clear { reason } => s::HiddenValues::Clear(reason),
        };
        let mut store = self.store()?;
        store.complete(&case_id, choice)?;
        self.session_now(&store, &case_id, lang)
    }
}
