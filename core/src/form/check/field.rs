//! Checking one field of a definition (its id, type, choices, units and conversions, limits)
//! and adding it, compiled, to the form's fields.

use super::super::FormField;
use super::super::definition::*;
use super::{Ctx, check_choices, is_snake_id};
use crate::units;
use std::collections::HashMap;

#[allow(clippy::too_many_arguments)]
pub(super) fn add_field(
    def: &FormDefinition,
    f: &Field,
    section: &str,
    group: Option<&str>,
    loc: &str,
    defined_by: &str,
    fields: &mut Vec<FormField>,
    index: &mut HashMap<String, usize>,
    cx: &mut Ctx,
) {
    if !is_snake_id(&f.id) {
        cx.add(
            loc,
            "the field id must be snake_case (lowercase letters, digits, '_')",
        );
    }
    if index.contains_key(&f.id) {
        cx.add(loc, "the field id is used twice");
        return;
    }
    cx.text(loc, "label", &f.label);
    if let Some(h) = &f.help {
        cx.text(loc, "help", h);
    }
    let kind = f.kind;
    let is_choice = matches!(kind, FieldType::Choice | FieldType::Multichoice);
    let choices = match (&f.choices, is_choice) {
        (None, true) => {
            cx.add(loc, "a choice field needs 'choices'");
            Vec::new()
        }
        (Some(_), false) => {
            cx.add(loc, format!("a {} field cannot have choices", kind.name()));
            Vec::new()
        }
        (None, false) => Vec::new(),
        (Some(Choices::Named(name)), true) => match def.choice_lists.get(name) {
            Some(list) => list.clone(),
            None => {
                cx.add(loc, format!("choice list '{name}' does not exist"));
                Vec::new()
            }
        },
        (Some(Choices::Inline(list)), true) => {
            check_choices(list, loc, cx);
            list.clone()
        }
    };
    let numeric = kind.is_numeric();
    let mut conversions = Vec::new();
    match (&f.unit, numeric) {
        (Some(_), false) => cx.add(loc, format!("a {} field cannot have a unit", kind.name())),
        (Some(u), true) if !units::is_known(u) => {
            cx.add(loc, format!("unit '{u}' is not a UCUM unit WardCRF knows"));
        }
        _ => {}
    }
    if !f.alt_units.is_empty() {
        match &f.unit {
            None => cx.add(loc, "alt_units need a canonical 'unit'"),
            Some(canonical) => {
                for alt in &f.alt_units {
                    if &alt.unit == canonical || conversions.iter().any(|(u, _)| u == &alt.unit) {
                        cx.add(
                            loc,
                            format!("alternative unit '{}' is listed twice", alt.unit),
                        );
                        continue;
                    }
                    let conv = match alt.factor {
                        Some(factor) if factor.is_finite() && factor > 0.0 => {
                            Some(units::Conversion {
                                factor,
                                offset: alt.offset.unwrap_or(0.0),
                            })
                        }
                        Some(_) => {
                            cx.add(
                                loc,
                                format!("the factor for '{}' must be a positive number", alt.unit),
                            );
                            None
                        }
                        None if alt.offset.is_some() => {
                            cx.add(loc, format!("'{}' has an offset but no factor", alt.unit));
                            None
                        }
                        None => {
                            let c = units::conversion(&alt.unit, canonical);
                            if c.is_none() {
                                cx.add(
                                    loc,
                                    format!(
                                        "cannot convert '{}' to '{canonical}': give a 'factor'",
                                        alt.unit
                                    ),
                                );
                            }
                            c
                        }
                    };
                    if let Some(c) = conv {
                        conversions.push((alt.unit.clone(), c));
                    }
                }
            }
        }
    }
    if f.decimals.is_some() && kind != FieldType::Decimal {
        cx.add(loc, "'decimals' is for decimal fields");
    }
    if f.decimals.is_some_and(|d| d > 9) {
        cx.add(loc, "'decimals' must be at most 9");
    }
    for (name, limits) in [
        ("hard", &f.hard),
        ("soft", &f.soft),
        ("typical", &f.typical),
    ] {
        let Some(l) = limits else { continue };
        if !numeric {
            cx.add(loc, format!("{name} limits are for number fields"));
        }
        check_limits(l, &format!("{name} limits"), loc, cx);
    }
    if let (Some(h), Some(s)) = (&f.hard, &f.soft) {
        let inside = |v: Option<f64>| v.is_none_or(|v| h.contains(v));
        if !inside(s.min) || !inside(s.max) {
            cx.add(loc, "soft limits must lie within the hard limits");
        }
    }
    if let Some(t) = &f.typical {
        let bound = f.soft.or(f.hard).unwrap_or_default();
        let inside = |v: Option<f64>| v.is_none_or(|v| bound.contains(v));
        if !inside(t.min) || !inside(t.max) {
            cx.add(loc, "typical limits must lie within the soft limits");
        }
        if f.alt_units.is_empty() {
            cx.add(
                loc,
                "typical limits guard against unit slips: the field needs alt_units",
            );
        }
    }
    if f.quasi_identifying && f.identifying {
        cx.add(
            loc,
            "a field is identifying or quasi_identifying, not both (identifying fields are never exported for research)",
        );
    }
    check_codes(&f.codes, loc, cx);
    if !f.soft_by_age.is_empty() {
        if !numeric {
            cx.add(loc, "soft_by_age is for number fields");
        }
        let mut last = 0;
        for band in &f.soft_by_age {
            if band.below_age_months <= last {
                cx.add(loc, "soft_by_age bands must be in increasing age order");
            }
            last = band.below_age_months;
            check_limits(
                &band.limits(),
                &format!("soft_by_age band below {} months", band.below_age_months),
                loc,
                cx,
            );
        }
    }
    if f.partial_date && kind != FieldType::Date {
        cx.add(loc, "partial_date is for date fields");
    }
    if f.max_length.is_some() && kind != FieldType::Text {
        cx.add(loc, "max_length is for text fields");
    }
    index.insert(f.id.clone(), fields.len());
    fields.push(FormField {
        def: f.clone(),
        section: section.to_string(),
        group: group.map(str::to_string),
        choices,
        required: f.required,
        defined_by: defined_by.to_string(),
        conversions,
        conditions: Vec::new(),
    });
}

/// Checks that every standard code has its system's shape.
pub(super) fn check_codes(codes: &Codes, loc: &str, cx: &mut Ctx) {
    for (system, code) in codes.coded() {
        if !system.check(code) {
            cx.add(
                loc,
                format!(
                    "'{code}' is not a well-formed {} code",
                    system.odm_context()
                ),
            );
        }
    }
    if codes
        .cdash
        .as_ref()
        .is_some_and(|c| c.trim().is_empty() || c.len() > 200)
    {
        cx.add(loc, "a CDASH mapping is 1-200 characters");
    }
}

fn check_limits(l: &Limits, what: &str, loc: &str, cx: &mut Ctx) {
    if l.min.is_none() && l.max.is_none() {
        cx.add(loc, format!("{what} give neither min nor max"));
    }
    if let (Some(a), Some(b)) = (l.min, l.max)
        && a > b
    {
        cx.add(loc, format!("{what}: min {a} is above max {b}"));
    }
}
