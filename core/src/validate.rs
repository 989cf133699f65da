//! The validation engine: a pure function of (form, case values, today) → report.
//!
//! It runs on the tablet as the clinician types and again on the repository when a case
//! arrives. Case values are JSON: `{"field_id": value, "group_id": [{row}, ...]}`. A value may
//! be given with its unit and a confirmation reason: `{"value": 101.3, "unit": "[degF]",
//! "confirm": "measured twice"}`. Input is read forgivingly (German decimal commas, full-width
//! digits from a Japanese keyboard, choice codes as numbers or strings), and every problem is
//! reported on the field it concerns, in English, Japanese and German.

use crate::date::{DateTime, PartialDate};
use crate::expr::{self, Env};
use crate::form::{FieldType, Form, FormField, Limits, Severity};
use crate::lang::{Lang, Text};
use crate::messages::{self, Expected, Shown};
use crate::units;
use serde::Serialize;
use serde_json::{Map, Number, Value as Json};
use std::collections::HashMap;

/// Default maximum length of a text answer.
pub const DEFAULT_MAX_TEXT: u32 = 2000;
/// Default maximum number of rows of a repeating group.
pub const DEFAULT_MAX_ROWS: u32 = 1000;
/// Longest confirmation reason kept.
pub const MAX_REASON: usize = 2000;

/// What validation needs besides the form and the values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// Today's date at the site, for future-date warnings and `today` in expressions.
    pub today: Option<PartialDate>,
    /// Checking for completion: empty required fields are errors. Otherwise (while the case
    /// is being entered) they are listed in [`Report::missing`].
    pub completing: bool,
}

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
    /// A date in the future.
    FutureDate,
    /// Required for completion and empty.
    Required,
    /// A value in a field that skip logic hides.
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
            FutureDate => "future_date",
            Required => "required",
            HiddenValue => "hidden_value",
            Rule => "rule",
        }
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
}

/// The result of validating a case.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
    /// Required fields still empty, while the case is being entered (see [`Context::completing`]).
    pub missing: Vec<Issue>,
    /// The values in canonical form and units, `{"field": value, "group": [{row}]}`.
    pub values: Map<String, Json>,
}

impl Report {
    /// Whether nothing blocks completion: no errors, nothing missing, every warning confirmed.
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
            Json::Object(o)
        };
        serde_json::json!({
            "errors": self.errors.iter().map(issue).collect::<Vec<_>>(),
            "warnings": self.warnings.iter().map(issue).collect::<Vec<_>>(),
            "missing": self.missing.iter().map(issue).collect::<Vec<_>>(),
            "values": self.values,
        })
    }
}

/// Where an issue sits.
#[derive(Clone, Default)]
struct Loc {
    group: Option<String>,
    row: Option<usize>,
    row_id: Option<String>,
}

/// The parsed rows of one repeating group, each with where it sits.
type Rows<'a> = Vec<(Loc, HashMap<&'a str, Answer>)>;

/// A parsed answer.
#[derive(Debug, Clone)]
struct Answer {
    value: expr::Value,
    canonical: Json,
    confirm: Option<String>,
}

struct Out {
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
    missing: Vec<Issue>,
}

impl Out {
    fn push(&mut self, field: &str, loc: &Loc, code: IssueCode, message: Text, warning: bool) {
        self.push_full(field, loc, code, message, warning, None, None);
    }

    #[allow(clippy::too_many_arguments)]
    fn push_full(
        &mut self,
        field: &str,
        loc: &Loc,
        code: IssueCode,
        message: Text,
        warning: bool,
        rule: Option<String>,
        confirmed: Option<String>,
    ) {
        let issue = Issue {
            field: field.to_string(),
            group: loc.group.clone(),
            row: loc.row,
            row_id: loc.row_id.clone(),
            code,
            rule,
            confirmed,
            message,
        };
        if warning {
            self.warnings.push(issue);
        } else {
            self.errors.push(issue);
        }
    }
}

/// Validates case values against a form.
pub fn validate(form: &Form, values: &Map<String, Json>, ctx: &Context) -> Report {
    let mut out = Out {
        errors: Vec::new(),
        warnings: Vec::new(),
        missing: Vec::new(),
    };
    let top = Loc::default();

    // Read every answer, case-level and per row.
    let mut case: HashMap<&str, Answer> = HashMap::new();
    let mut rows: HashMap<&str, Rows> = HashMap::new();
    for (key, raw) in values {
        if let Some(group) = form.group(key) {
            let max = group.max_rows.unwrap_or(DEFAULT_MAX_ROWS);
            let Some(list) = raw.as_array() else {
                if !raw.is_null() {
                    out.push(
                        key,
                        &top,
                        IssueCode::WrongType,
                        messages::bad_rows(&group.label),
                        false,
                    );
                }
                continue;
            };
            if list.len() > max as usize {
                out.push(
                    key,
                    &top,
                    IssueCode::TooManyRows,
                    messages::too_many_rows(&group.label, max),
                    false,
                );
            }
            let mut parsed_rows = Vec::new();
            for (i, row) in list.iter().enumerate().take(max as usize) {
                let mut loc = Loc {
                    group: Some(group.id.clone()),
                    row: Some(i),
                    row_id: None,
                };
                let Some(obj) = row.as_object() else {
                    out.push(
                        key,
                        &loc,
                        IssueCode::WrongType,
                        messages::bad_rows(&group.label),
                        false,
                    );
                    continue;
                };
                loc.row_id = obj.get("row_id").and_then(Json::as_str).map(str::to_string);
                let mut answers = HashMap::new();
                for (fk, fv) in obj {
                    if fk == "row_id" {
                        if !fv.is_string() {
                            out.push(
                                fk,
                                &loc,
                                IssueCode::WrongType,
                                messages::wrong_type(
                                    &Text::new("row_id", "row_id", "row_id"),
                                    None,
                                    Expected::Text,
                                ),
                                false,
                            );
                        }
                        continue;
                    }
                    match form
                        .field(fk)
                        .filter(|f| f.group.as_deref() == Some(group.id.as_str()))
                    {
                        Some(field) => {
                            if let Some(a) = read_answer(field, fv, &loc, &mut out) {
                                answers.insert(field.id(), a);
                            }
                        }
                        None => out.push(
                            fk,
                            &loc,
                            IssueCode::UnknownField,
                            messages::unknown_field(fk, Some(&group.label)),
                            false,
                        ),
                    }
                }
                parsed_rows.push((loc, answers));
            }
            rows.insert(group.id.as_str(), parsed_rows);
        } else {
            match form.field(key).filter(|f| f.group.is_none()) {
                Some(field) => {
                    if let Some(a) = read_answer(field, raw, &top, &mut out) {
                        case.insert(field.id(), a);
                    }
                }
                None => out.push(
                    key,
                    &top,
                    IssueCode::UnknownField,
                    messages::unknown_field(key, None),
                    false,
                ),
            }
        }
    }

    // Skip logic, case level: hidden answers do not count in other expressions.
    let case_visible = visible_fields(form, None, &case, None, ctx);
    let effective = |answers: &HashMap<&str, Answer>,
                     visible: &HashMap<&str, bool>|
     -> HashMap<String, expr::Value> {
        answers
            .iter()
            .filter(|(k, _)| visible.get(*k).copied().unwrap_or(false))
            .map(|(k, a)| (k.to_string(), a.value.clone()))
            .collect()
    };
    let case_eff = effective(&case, &case_visible);
    let age_months = age_in_months(form, &case_eff);
    check_fields(
        form,
        None,
        &case,
        &case_visible,
        &top,
        age_months,
        ctx,
        &mut out,
    );
    let case_env = Vals {
        own: &case_eff,
        outer: None,
        today: ctx.today,
    };
    let case_confirm = |f: &str| case.get(f).and_then(|a| a.confirm.clone());
    for rule in form.rules.iter().filter(|r| r.def.group.is_none()) {
        fire_rule(form, rule, &case_env, &case_confirm, &top, &mut out);
    }

    // Rows.
    for group in form.groups() {
        for (loc, answers) in rows.get(group.id.as_str()).into_iter().flatten() {
            let visible = visible_fields(form, Some(&group.id), answers, Some(&case_eff), ctx);
            check_fields(
                form,
                Some(&group.id),
                answers,
                &visible,
                loc,
                age_months,
                ctx,
                &mut out,
            );
            let row_eff = effective(answers, &visible);
            let env = Vals {
                own: &row_eff,
                outer: Some(&case_eff),
                today: ctx.today,
            };
            for rule in form
                .rules
                .iter()
                .filter(|r| r.def.group.as_deref() == Some(group.id.as_str()))
            {
                let confirm = |f: &str| {
                    answers
                        .get(f)
                        .and_then(|a| a.confirm.clone())
                        .or_else(|| case_confirm(f))
                };
                fire_rule(form, rule, &env, &confirm, loc, &mut out);
            }
        }
    }

    Report {
        errors: out.errors,
        warnings: out.warnings,
        missing: out.missing,
        values: canonical_values(form, &case, &rows),
    }
}

/// Expression environment: a row's values over the case's, or the case's alone.
struct Vals<'a> {
    own: &'a HashMap<String, expr::Value>,
    outer: Option<&'a HashMap<String, expr::Value>>,
    today: Option<PartialDate>,
}

impl Env for Vals<'_> {
    fn value(&self, field: &str) -> Option<expr::Value> {
        self.own
            .get(field)
            .or_else(|| self.outer.and_then(|o| o.get(field)))
            .cloned()
    }

    fn today(&self) -> Option<PartialDate> {
        self.today
    }
}

/// Decides which fields of one scope are shown, dependencies first.
fn visible_fields<'f>(
    form: &'f Form,
    group: Option<&str>,
    answers: &HashMap<&str, Answer>,
    outer: Option<&HashMap<String, expr::Value>>,
    ctx: &Context,
) -> HashMap<&'f str, bool> {
    let mut visible = HashMap::new();
    let mut eff: HashMap<String, expr::Value> = HashMap::new();
    for &i in &form.visibility_order {
        let f = &form.fields()[i];
        if f.group.as_deref() != group {
            continue;
        }
        let env = Vals {
            own: &eff,
            outer,
            today: ctx.today,
        };
        let shown = f.conditions.iter().all(|c| c.eval(&env) == Some(true));
        visible.insert(f.id(), shown);
        if shown && let Some(a) = answers.get(f.id()) {
            eff.insert(f.id().to_string(), a.value.clone());
        }
    }
    visible
}

fn age_in_months(form: &Form, eff: &HashMap<String, expr::Value>) -> Option<i64> {
    let age = form.definition().age.as_ref()?;
    let date_of = |id: &Option<String>| match id.as_ref().and_then(|id| eff.get(id)) {
        Some(expr::Value::Date(d)) => Some(*d),
        Some(expr::Value::DateTime(t)) => Some(t.date),
        _ => None,
    };
    if let (Some(b), Some(r)) = (
        date_of(&age.birth_date_field),
        date_of(&age.reference_date_field),
    ) && let Some(m) = b.months_until(&r).filter(|m| *m >= 0)
    {
        return Some(m);
    }
    match eff.get(&age.years_field) {
        Some(expr::Value::Num(y)) if *y >= 0.0 => Some((*y * 12.0).floor() as i64),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn check_fields(
    form: &Form,
    group: Option<&str>,
    answers: &HashMap<&str, Answer>,
    visible: &HashMap<&str, bool>,
    loc: &Loc,
    age_months: Option<i64>,
    ctx: &Context,
    out: &mut Out,
) {
    for f in form.fields_in(group) {
        let shown = visible.get(f.id()).copied().unwrap_or(false);
        let answer = answers.get(f.id());
        match (shown, answer) {
            (false, Some(_)) => out.push(
                f.id(),
                loc,
                IssueCode::HiddenValue,
                messages::hidden_value(&f.def.label),
                false,
            ),
            (true, None) if f.required => {
                out.push(
                    f.id(),
                    loc,
                    IssueCode::Required,
                    messages::required(&f.def.label),
                    false,
                );
                if !ctx.completing {
                    out.missing.extend(out.errors.pop());
                }
            }
            (true, Some(a)) => check_warnings(f, a, loc, age_months, ctx, out),
            _ => {}
        }
    }
}

/// Soft limits (age-banded where the form says so) and future dates.
fn check_warnings(
    f: &FormField,
    a: &Answer,
    loc: &Loc,
    age_months: Option<i64>,
    ctx: &Context,
    out: &mut Out,
) {
    match &a.value {
        expr::Value::Num(v) => {
            let band = age_months.and_then(|m| {
                f.def
                    .soft_by_age
                    .iter()
                    .find(|b| m < i64::from(b.below_age_months))
                    .map(|b| b.limits())
            });
            let (soft, banded) = match (band, f.def.soft) {
                (Some(b), _) => (b, true),
                (None, Some(s)) => (s, false),
                (None, None) => return,
            };
            if !soft.contains(*v) {
                let range = messages::range(soft.min, soft.max, f.def.unit.as_deref());
                let msg = messages::soft_limit(&shown(f, *v), &range, banded);
                out.push_full(
                    f.id(),
                    loc,
                    IssueCode::SoftLimit,
                    msg,
                    true,
                    None,
                    a.confirm.clone(),
                );
            }
        }
        expr::Value::Date(_) | expr::Value::DateTime(_) => {
            let (date, written) = match &a.value {
                expr::Value::Date(d) => (*d, d.to_string()),
                expr::Value::DateTime(t) => (t.date, t.to_string()),
                _ => return,
            };
            if let Some(today) = ctx.today
                && date.partial_cmp_known(&today) == Some(std::cmp::Ordering::Greater)
            {
                let msg = messages::future_date(&date_shown(f, &written));
                let confirm = a.confirm.clone();
                out.push_full(f.id(), loc, IssueCode::FutureDate, msg, true, None, confirm);
            }
        }
        _ => {}
    }
}

/// Reports a broken rule. A warning is confirmed by a reason given on the value of the rule's
/// first field (the one to check), as soft-limit warnings are.
fn fire_rule(
    form: &Form,
    rule: &crate::form::FormRule,
    env: &Vals,
    confirm_of: &dyn Fn(&str) -> Option<String>,
    loc: &Loc,
    out: &mut Out,
) {
    if rule.check.eval(env) != Some(false) {
        return;
    }
    let warning = rule.def.severity == Severity::Warning;
    let confirmed = if warning {
        confirm_of(&rule.def.fields[0])
    } else {
        None
    };
    let case_level = Loc::default();
    for field in &rule.def.fields {
        // Report on each listed field that has a value, so the clinician sees it where they
        // look; the first listed field is always reported.
        if field != &rule.def.fields[0] && env.value(field).is_none() {
            continue;
        }
        // A row rule may name a case-level field (a medication ending after discharge): that
        // field is reported once, at case level, not as if it were in the row.
        let at = if form.field(field).is_some_and(|f| f.group.is_none()) {
            &case_level
        } else {
            loc
        };
        let list = if warning { &out.warnings } else { &out.errors };
        let seen = list.iter().any(|i| {
            &i.field == field
                && i.rule.as_ref() == Some(&rule.def.id)
                && i.row == at.row
                && i.group == at.group
        });
        if !seen {
            out.push_full(
                field,
                at,
                IssueCode::Rule,
                rule.def.message.clone(),
                warning,
                Some(rule.def.id.clone()),
                confirmed.clone(),
            );
        }
    }
}

/// The subject of a numeric message: the label and value with its unit, never an identifier.
fn shown(f: &FormField, v: f64) -> Shown<'_> {
    let value = (!f.def.identifying).then(|| {
        Text::from_fn(|l| {
            let unit = f
                .def
                .unit
                .as_deref()
                .map(|u| units::display(u, l))
                .unwrap_or_default();
            if unit.is_empty() {
                messages::num(v)
            } else {
                format!("{} {unit}", messages::num(v))
            }
        })
    });
    Shown {
        label: &f.def.label,
        value,
    }
}

fn date_shown<'a>(f: &'a FormField, s: &str) -> Shown<'a> {
    Shown {
        label: &f.def.label,
        value: (!f.def.identifying).then(|| Text::new(s, s, s)),
    }
}

/// Normalises what a clinician typed into a plain ASCII number: full-width digits, a decimal
/// comma, surrounding spaces, a Unicode minus.
fn parse_number(s: &str) -> Option<f64> {
    let mut t: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            '．' => '.',
            '，' => ',',
            '－' | '−' => '-',
            '＋' => '+',
            c => c,
        })
        .collect();
    if t.contains(',') && !t.contains('.') && t.matches(',').count() == 1 {
        t = t.replace(',', ".");
    }
    let ok = !t.is_empty()
        && t.len() <= 40
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    if !ok {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn input_text(raw: &Json, identifying: bool) -> Option<String> {
    if identifying {
        return None;
    }
    let s = match raw {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(if s.chars().count() > 60 {
        s.chars().take(57).collect::<String>() + "..."
    } else {
        s
    })
}

/// Reads one answer: returns it when readable, and records any problem.
fn read_answer(f: &FormField, raw: &Json, loc: &Loc, out: &mut Out) -> Option<Answer> {
    let label = &f.def.label;
    // An object form carries a unit and/or a confirmation reason.
    let mut entered_before = None;
    let (raw, unit, confirm) = match raw {
        Json::Object(o) if o.contains_key("value") => {
            let mut unit = None;
            let mut confirm = None;
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("value", _) => {}
                    ("unit", Json::String(u)) => unit = Some(u.trim().to_string()),
                    ("unit", Json::Null) => {}
                    ("confirm", Json::String(c)) if !c.trim().is_empty() => {
                        confirm = Some(c.trim().chars().take(MAX_REASON).collect::<String>());
                    }
                    ("confirm", Json::String(_) | Json::Null) => {}
                    // What was entered before conversion, as canonical values carry it:
                    // canonical values validate again unchanged.
                    ("entered", Json::Object(e)) => entered_before = Some(Json::Object(e.clone())),
                    _ => {
                        let msg = messages::wrong_type(label, Some(k), expected_of(f));
                        out.push(f.id(), loc, IssueCode::WrongType, msg, false);
                        return None;
                    }
                }
            }
            (&o["value"], unit, confirm)
        }
        other => (other, None, None),
    };
    if raw.is_null() || raw.as_str().is_some_and(|s| s.trim().is_empty()) {
        return None;
    }
    if raw.as_array().is_some_and(Vec::is_empty) && f.def.kind == FieldType::Multichoice {
        return None;
    }
    let wrong = |out: &mut Out| {
        let msg = messages::wrong_type(
            label,
            input_text(raw, f.def.identifying).as_deref(),
            expected_of(f),
        );
        out.push(f.id(), loc, IssueCode::WrongType, msg, false);
        None
    };
    if unit.is_some() && !f.def.kind.is_numeric() {
        return wrong(out);
    }
    let (value, canonical) = match f.def.kind {
        FieldType::Integer | FieldType::Decimal => {
            let entered = match raw {
                Json::Number(n) => n.as_f64().filter(|v| v.is_finite()),
                Json::String(s) => parse_number(s),
                _ => None,
            };
            let Some(entered) = entered else {
                return wrong(out);
            };
            let canonical_unit = f.def.unit.clone();
            let (mut v, converted_from) = match (&unit, &canonical_unit) {
                (Some(u), Some(c)) if u == c => (entered, None),
                (Some(u), Some(_)) => match f.conversions.iter().find(|(alt, _)| alt == u) {
                    Some((_, conv)) => (
                        units::round(conv.apply(entered), f.def.decimals),
                        Some(u.clone()),
                    ),
                    None => {
                        let allowed: Vec<&str> = canonical_unit
                            .iter()
                            .map(String::as_str)
                            .chain(f.conversions.iter().map(|(a, _)| a.as_str()))
                            .collect();
                        let msg = messages::unit_not_allowed(label, u, &allowed.join(", "));
                        out.push(f.id(), loc, IssueCode::UnitNotAllowed, msg, false);
                        return None;
                    }
                },
                (Some(u), None) => {
                    let msg = messages::unit_not_allowed(label, u, "—");
                    out.push(f.id(), loc, IssueCode::UnitNotAllowed, msg, false);
                    return None;
                }
                (None, _) => (entered, None),
            };
            if f.def.kind == FieldType::Integer {
                if converted_from.is_some() {
                    v = v.round();
                } else if v.fract() != 0.0 {
                    return wrong(out);
                }
            }
            if let Some(hard) = f.def.hard
                && !hard.contains(v)
            {
                hard_error(f, v, &hard, loc, out);
                return None;
            }
            let number = if f.def.kind == FieldType::Integer && v.abs() < 9e15 {
                Json::Number(Number::from(v as i64))
            } else {
                Number::from_f64(v).map_or(Json::Null, Json::Number)
            };
            let canonical = match (canonical_unit, converted_from) {
                (None, _) => number,
                (Some(c), None) => match (&unit, entered_before) {
                    // Already canonical, with what was entered before conversion: keep that.
                    (Some(u), Some(e)) if u == &c => {
                        serde_json::json!({"value": number, "unit": c, "entered": e})
                    }
                    _ => serde_json::json!({"value": number, "unit": c}),
                },
                (Some(c), Some(u)) => serde_json::json!({
                    "value": number, "unit": c,
                    "entered": {"value": Number::from_f64(entered).map_or(Json::Null, Json::Number), "unit": u},
                }),
            };
            (expr::Value::Num(v), canonical)
        }
        FieldType::Text => {
            // A record number typed as a number is still text.
            let s = match raw {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                _ => return wrong(out),
            };
            let max = f.def.max_length.unwrap_or(DEFAULT_MAX_TEXT);
            if s.chars().count() > max as usize {
                out.push(
                    f.id(),
                    loc,
                    IssueCode::TooLong,
                    messages::too_long(label, max),
                    false,
                );
                return None;
            }
            (expr::Value::Text(s.clone()), Json::String(s))
        }
        FieldType::Date => {
            let Json::String(s) = raw else {
                return wrong(out);
            };
            match PartialDate::parse(s.trim()) {
                Ok(d) if !d.is_full() && !f.def.partial_date => {
                    out.push(
                        f.id(),
                        loc,
                        IssueCode::PartialDateNotAllowed,
                        messages::partial_date_not_allowed(label),
                        false,
                    );
                    return None;
                }
                Ok(d) => (expr::Value::Date(d), Json::String(d.to_string())),
                Err(crate::date::DateProblem::NoSuchDay) => {
                    let msg = messages::wrong_type(
                        label,
                        input_text(raw, f.def.identifying).as_deref(),
                        expected_of(f),
                    );
                    out.push(f.id(), loc, IssueCode::InvalidDate, msg, false);
                    return None;
                }
                Err(_) => return wrong(out),
            }
        }
        FieldType::Datetime => {
            let Json::String(s) = raw else {
                return wrong(out);
            };
            match DateTime::parse(s.trim()) {
                Ok(t) => (expr::Value::DateTime(t), Json::String(t.to_string())),
                Err(crate::date::DateProblem::NoSuchDay) => {
                    let msg = messages::wrong_type(
                        label,
                        input_text(raw, f.def.identifying).as_deref(),
                        expected_of(f),
                    );
                    out.push(f.id(), loc, IssueCode::InvalidDate, msg, false);
                    return None;
                }
                Err(_) => return wrong(out),
            }
        }
        FieldType::Boolean => {
            let b = match raw {
                Json::Bool(b) => *b,
                Json::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" => true,
                    "false" | "no" => false,
                    _ => return wrong(out),
                },
                _ => return wrong(out),
            };
            (expr::Value::Bool(b), Json::Bool(b))
        }
        FieldType::Choice => {
            let Some(code) = code_of(raw) else {
                return wrong(out);
            };
            if f.choice_label(&code).is_none() {
                not_a_choice(f, &code, loc, out);
                return None;
            }
            (expr::Value::Code(code.clone()), Json::String(code))
        }
        FieldType::Multichoice => {
            let items: Vec<&Json> = match raw {
                Json::Array(a) => a.iter().collect(),
                single => vec![single],
            };
            let mut codes = Vec::new();
            for item in items {
                let Some(code) = code_of(item) else {
                    return wrong(out);
                };
                if f.choice_label(&code).is_none() {
                    not_a_choice(f, &code, loc, out);
                    return None;
                }
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
            // Canonical order: the order of the choices in the form.
            codes.sort_by_key(|c| f.choices.iter().position(|x| &x.code == c));
            let json = Json::Array(codes.iter().cloned().map(Json::String).collect());
            (expr::Value::Codes(codes), json)
        }
    };
    let canonical = match (&confirm, canonical) {
        (Some(c), Json::Object(mut o)) => {
            o.insert("confirm".into(), Json::String(c.clone()));
            Json::Object(o)
        }
        (Some(c), plain) => serde_json::json!({"value": plain, "confirm": c}),
        (None, plain) => plain,
    };
    Some(Answer {
        value,
        canonical,
        confirm,
    })
}

fn hard_error(f: &FormField, v: f64, hard: &Limits, loc: &Loc, out: &mut Out) {
    let range = messages::range(hard.min, hard.max, f.def.unit.as_deref());
    out.push(
        f.id(),
        loc,
        IssueCode::HardLimit,
        messages::hard_limit(&shown(f, v), &range),
        false,
    );
}

fn not_a_choice(f: &FormField, code: &str, loc: &Loc, out: &mut Out) {
    let options: Vec<&str> = f.choices.iter().take(12).map(|c| c.code.as_str()).collect();
    let mut options = options.join(", ");
    if f.choices.len() > 12 {
        options.push_str(", …");
    }
    let shown_code = if f.def.identifying { "…" } else { code };
    out.push(
        f.id(),
        loc,
        IssueCode::NotAChoice,
        messages::not_a_choice(&f.def.label, shown_code, &options),
        false,
    );
}

/// A choice code given as a string or a number (`1` and `"1"` are the same code).
fn code_of(raw: &Json) -> Option<String> {
    match raw {
        Json::String(s) => Some(s.trim().to_string()),
        Json::Number(n) => n.as_f64().map(expr::format_num),
        _ => None,
    }
}

fn expected_of(f: &FormField) -> Expected {
    match f.def.kind {
        FieldType::Integer => Expected::WholeNumber,
        FieldType::Decimal => Expected::Number,
        FieldType::Date if f.def.partial_date => Expected::PartialDate,
        FieldType::Date => Expected::Date,
        FieldType::Datetime => Expected::DateTime,
        FieldType::Text | FieldType::Choice => Expected::Text,
        FieldType::Multichoice => Expected::Codes,
        FieldType::Boolean => Expected::YesNo,
    }
}

/// Canonical values in form order: case-level fields, each group's rows where it stands.
fn canonical_values(
    form: &Form,
    case: &HashMap<&str, Answer>,
    rows: &HashMap<&str, Rows>,
) -> Map<String, Json> {
    let mut out = Map::new();
    for f in form.fields() {
        match &f.group {
            None => {
                if let Some(a) = case.get(f.id()) {
                    out.insert(f.id().to_string(), a.canonical.clone());
                }
            }
            Some(g) if !out.contains_key(g) => {
                let Some(list) = rows.get(g.as_str()) else {
                    continue;
                };
                let rendered = list
                    .iter()
                    .map(|(loc, answers)| {
                        let mut row = Map::new();
                        if let Some(id) = &loc.row_id {
                            row.insert("row_id".into(), Json::String(id.clone()));
                        }
                        for gf in form.fields_in(Some(g)) {
                            if let Some(a) = answers.get(gf.id()) {
                                row.insert(gf.id().to_string(), a.canonical.clone());
                            }
                        }
                        Json::Object(row)
                    })
                    .collect();
                out.insert(g.clone(), Json::Array(rendered));
            }
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
