//! The checks that need the whole scope of a case or row: skip logic (which fields are
//! shown), required fields, soft limits (age-banded where the form says so), future dates,
//! and the form's cross-field rules.

use super::answer::{likely_unit, shown};
use super::{Answer, Context, IssueCode, Loc, Out};
use crate::date::PartialDate;
use crate::expr::{self, Env};
use crate::form::{Form, FormField, Severity};
use crate::lang::Text;
use crate::messages::{self, Shown};
use std::collections::HashMap;

/// Expression environment: a row's values over the case's, or the case's alone.
pub(super) struct Vals<'a> {
    pub(super) own: &'a HashMap<String, expr::Value>,
    pub(super) outer: Option<&'a HashMap<String, expr::Value>>,
    pub(super) today: Option<PartialDate>,
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
pub(super) fn visible_fields<'f>(
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

pub(super) fn age_in_months(form: &Form, eff: &HashMap<String, expr::Value>) -> Option<i64> {
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
pub(super) fn check_fields(
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
            (false, Some(_)) => {
                out.push(
                    f.id(),
                    loc,
                    IssueCode::HiddenValue,
                    messages::hidden_value(&f.def.label),
                    false,
                );
                out.hidden.extend(out.errors.pop());
            }
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

/// The unit-slip guard: a number untypical in the unit it was typed in, and typical in another
/// unit the field offers, is a warning naming that unit and the value it gives.
fn unit_slip(f: &FormField, a: &Answer, v: f64, loc: &Loc, out: &mut Out) {
    let (Some(typical), Some((number, unit))) = (f.def.typical, a.typed.as_ref()) else {
        return;
    };
    if typical.contains(v) || f.def.identifying {
        return;
    }
    if let Some(likely) = likely_unit(f, *number, unit, &typical) {
        let hint = messages::likely_unit(&likely.unit, &shown(f, likely.value));
        let msg = messages::unit_slip(&f.def.label, *number, unit, &hint);
        out.push_likely(
            f.id(),
            loc,
            IssueCode::UnitSlip,
            msg,
            a.confirm.clone(),
            likely,
        );
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
            unit_slip(f, a, *v, loc, out);
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
pub(super) fn fire_rule(
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

fn date_shown<'a>(f: &'a FormField, s: &str) -> Shown<'a> {
    Shown {
        label: &f.def.label,
        value: (!f.def.identifying).then(|| Text::new(s, s, s)),
    }
}
