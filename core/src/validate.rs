//! The validation engine: a pure function of (form, case values, today) → report.
//!
//! It runs on the tablet as the clinician types and again on the repository when a case
//! arrives. Case values are JSON: `{"field_id": value, "group_id": [{row}, ...]}`. A value may
//! be given with its unit and a confirmation reason: `{"value": 101.3, "unit": "[degF]",
//! "confirm": "measured twice"}`. Input is read forgivingly (German decimal commas, full-width
//! digits from a Japanese keyboard, choice codes as numbers or strings), and every problem is
//! reported on the field it concerns, in English, Japanese and German.
//!
//! - `report`: the problem codes and the report.
//! - `answer`: reading one answer (types, units, choices, confirmation).
//! - `checks`: skip logic, required fields, soft limits, future dates, cross-field rules.

mod answer;
mod checks;
mod report;

pub use report::{Issue, IssueCode, LikelyUnit, Report, RowVisibility, Visibility};

use crate::date::PartialDate;
use crate::expr;
use crate::form::Form;
use crate::lang::Text;
use crate::messages::{self, Expected};
use answer::read_answer;
use checks::{Vals, age_in_months, check_fields, fire_rule, visible_fields};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// Default maximum length of a text answer.
pub const DEFAULT_MAX_TEXT: u32 = 2000;
/// Default maximum number of rows of a repeating group.
pub const DEFAULT_MAX_ROWS: u32 = 1000;
/// Longest confirmation reason kept.
pub const MAX_REASON: usize = 2000;

/// What validation needs besides the form and the values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Today's date at the site, for future-date warnings and `today` in expressions.
    pub today: Option<PartialDate>,
    /// Checking for completion: empty required fields are errors. Otherwise (while the case
    /// is being entered) they are listed in [`Report::missing`].
    pub completing: bool,
    /// The site's default unit per field (field id → UCUM code,
    /// [`crate::staff::SiteSettings::default_units`]): a number entered without a unit is
    /// read in it, where the field offers it. Values stored canonically carry their unit and
    /// are not affected.
    pub default_units: Option<&'a std::collections::BTreeMap<String, String>>,
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
    /// For numbers: the number as typed and its unit (before any conversion).
    typed: Option<(f64, String)>,
}

struct Out {
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
    missing: Vec<Issue>,
    hidden: Vec<Issue>,
}

impl Out {
    fn push(&mut self, field: &str, loc: &Loc, code: IssueCode, message: Text, warning: bool) {
        self.push_full(field, loc, code, message, warning, None, None);
    }

    /// Pushes a problem that names the unit the number was probably meant in.
    fn push_likely(
        &mut self,
        field: &str,
        loc: &Loc,
        code: IssueCode,
        message: Text,
        confirmed: Option<String>,
        likely: LikelyUnit,
    ) {
        let warning = code != IssueCode::HardLimit;
        self.push_full(field, loc, code, message, warning, None, confirmed);
        let list = if warning {
            &mut self.warnings
        } else {
            &mut self.errors
        };
        if let Some(last) = list.last_mut() {
            last.likely_unit = Some(likely);
        }
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
            likely_unit: None,
        };
        if warning {
            self.warnings.push(issue);
        } else {
            self.errors.push(issue);
        }
    }
}

/// Validates case values against a form.
pub fn validate(form: &Form, values: &Map<String, Json>, ctx: &Context<'_>) -> Report {
    let mut out = Out {
        errors: Vec::new(),
        warnings: Vec::new(),
        missing: Vec::new(),
        hidden: Vec::new(),
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
                            if let Some(a) = read_answer(
                                field,
                                fv,
                                &loc,
                                &mut out,
                                field.entry_unit(ctx.default_units),
                            ) {
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
                    if let Some(a) = read_answer(
                        field,
                        raw,
                        &top,
                        &mut out,
                        field.entry_unit(ctx.default_units),
                    ) {
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
    let mut visibility = Visibility {
        fields: shown_set(&case_visible),
        ..Visibility::default()
    };
    let scope_env = Vals {
        own: &case_eff,
        outer: None,
        today: ctx.today,
    };
    let holds = |conds: &[expr::Expr]| conds.iter().all(|c| c.eval(&scope_env) == Some(true));
    for (id, conds) in &form.scopes.sections {
        if holds(conds) {
            visibility.sections.insert(id.clone());
        }
    }
    for (id, conds) in &form.scopes.groups {
        if holds(conds) {
            visibility.groups.insert(id.clone());
        }
    }
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
            visibility
                .rows
                .entry(group.id.clone())
                .or_default()
                .push((loc.row_id.clone(), shown_set(&visible)));
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
        hidden: out.hidden,
        visible: visibility,
        values: canonical_values(form, &case, &rows),
    }
}

/// The fields of a visibility map that are shown.
fn shown_set(visible: &HashMap<&str, bool>) -> std::collections::HashSet<String> {
    visible
        .iter()
        .filter(|(_, shown)| **shown)
        .map(|(f, _)| f.to_string())
        .collect()
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
