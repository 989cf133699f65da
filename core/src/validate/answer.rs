//! Reading one answer as entered: forgiving number parsing (decimal commas, full-width
//! digits), units converted to the field's canonical unit, choice codes as numbers or strings,
//! the confirmation reason; every unreadable or impossible answer is reported on its field.

use super::{Answer, DEFAULT_MAX_TEXT, IssueCode, LikelyUnit, Loc, MAX_REASON, Out};
use crate::date::{DateTime, PartialDate};
use crate::expr;
use crate::form::{FieldType, FormField, Limits};
use crate::lang::Text;
use crate::messages::{self, Expected, Shown};
use crate::units;
use serde_json::{Number, Value as Json};

/// The subject of a numeric message: the label and value with its unit, never an identifier.
pub(super) fn shown(f: &FormField, v: f64) -> Shown<'_> {
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

/// The unit other than `typed_in`, among those the field offers, in which `number` would give
/// a value within `within` (in the canonical unit), with that value: the unit a clinician
/// probably meant. When several would, the one whose value lies nearest the middle of
/// `within` (on a log scale: units differ by powers of ten).
pub(super) fn likely_unit(
    f: &FormField,
    number: f64,
    typed_in: &str,
    within: &Limits,
) -> Option<LikelyUnit> {
    let canonical = f.def.unit.as_deref()?;
    let identity = units::Conversion {
        factor: 1.0,
        offset: 0.0,
    };
    let middle = match (within.min, within.max) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => (a * b).sqrt(),
        (Some(a), Some(b)) => (a + b) / 2.0,
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return None,
    };
    let distance = |v: f64| {
        if v > 0.0 && middle > 0.0 {
            (v / middle).ln().abs()
        } else {
            (v - middle).abs()
        }
    };
    std::iter::once((canonical, identity))
        .chain(f.conversions.iter().map(|(u, c)| (u.as_str(), *c)))
        .filter(|(u, _)| *u != typed_in)
        .map(|(u, c)| (u, units::round(c.apply(number), f.def.decimals)))
        .filter(|(_, v)| within.contains(*v))
        .min_by(|a, b| distance(a.1).total_cmp(&distance(b.1)))
        .map(|(u, v)| LikelyUnit {
            unit: u.to_string(),
            value: v,
        })
}

/// Reads one answer: returns it when readable, and records any problem. A number without a
/// unit is read in `entry_unit` (the site's default for the field), when given.
pub(super) fn read_answer(
    f: &FormField,
    raw: &Json,
    loc: &Loc,
    out: &mut Out,
    entry_unit: Option<&str>,
) -> Option<Answer> {
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
    // A bare number is in the unit entry starts in at this site.
    let unit = unit.or_else(|| {
        entry_unit
            .filter(|u| f.def.unit.as_deref() != Some(*u))
            .map(str::to_string)
    });
    let mut typed = None;
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
            // The number as the clinician typed it, and its unit, for the unit-slip guard.
            let typed_unit = unit.clone().or_else(|| canonical_unit.clone());
            typed = match (&entered_before, typed_unit) {
                (Some(e), _) if converted_from.is_none() => typed_of(e),
                (_, Some(u)) => Some((entered, u)),
                _ => None,
            };
            if let Some(hard) = f.def.hard
                && !hard.contains(v)
            {
                let within = f.def.typical.or(f.def.soft);
                let likely = typed
                    .as_ref()
                    .zip(within)
                    .and_then(|((n, u), w)| likely_unit(f, *n, u, &w));
                hard_error(f, v, &hard, likely, loc, out);
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
                    invalid_date(f, raw, loc, out);
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
                    invalid_date(f, raw, loc, out);
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
        typed,
    })
}

/// The number and unit of a canonical value's `entered` object.
fn typed_of(entered: &Json) -> Option<(f64, String)> {
    let n = entered.get("value")?.as_f64()?;
    let u = entered.get("unit")?.as_str()?;
    Some((n, u.to_string()))
}

/// A date that does not exist (`2024-02-30`), shown as typed unless the field identifies.
fn invalid_date(f: &FormField, raw: &Json, loc: &Loc, out: &mut Out) {
    let msg = messages::wrong_type(
        &f.def.label,
        input_text(raw, f.def.identifying).as_deref(),
        expected_of(f),
    );
    out.push(f.id(), loc, IssueCode::InvalidDate, msg, false);
}

fn hard_error(
    f: &FormField,
    v: f64,
    hard: &Limits,
    likely: Option<LikelyUnit>,
    loc: &Loc,
    out: &mut Out,
) {
    let range = messages::range(hard.min, hard.max, f.def.unit.as_deref());
    let mut msg = messages::hard_limit(&shown(f, v), &range);
    match likely {
        Some(l) => {
            msg = messages::append(msg, &messages::likely_unit(&l.unit, &shown(f, l.value)));
            out.push_likely(f.id(), loc, IssueCode::HardLimit, msg, None, l);
        }
        None => out.push(f.id(), loc, IssueCode::HardLimit, msg, false),
    }
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
