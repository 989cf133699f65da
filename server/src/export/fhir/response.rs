//! A case as FHIR resources: its QuestionnaireResponse (answers in the Questionnaire's
//! structure, one repetition per row) and the Observations of its vital signs and lab values.

use super::*;
use crate::export::{ExportCase, ExportOptions, group_rows, plain};
use serde_json::{Map, Value, json};
use wardcrf_core::{DateTime, FieldType, Form, FormField, Lang, PartialDate, Timestamp};

/// A date as FHIR writes it (`2024`, `2024-03`, `2024-03-05`), when it is one.
pub(super) fn fhir_date(s: &str) -> Option<String> {
    let d = PartialDate::parse(s).ok()?;
    (d.year >= 1).then(|| d.to_string())
}

/// A date-time as a FHIR dateTime, and the value as entered when FHIR cannot hold it whole
/// (no UTC offset: only the date is a valid FHIR dateTime).
pub(super) fn fhir_datetime(s: &str) -> Option<(String, Option<String>)> {
    let t = DateTime::parse(s).ok()?;
    if t.date.year < 1 {
        return None;
    }
    let date = t.date.to_string();
    let (h, m, sec) = (t.seconds / 3600, t.seconds / 60 % 60, t.seconds % 60);
    match t.offset_minutes {
        Some(0) => Some((format!("{date}T{h:02}:{m:02}:{sec:02}Z"), None)),
        Some(off) if off.unsigned_abs() < 14 * 60 || off.unsigned_abs() == 14 * 60 => {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            Some((
                format!(
                    "{date}T{h:02}:{m:02}:{sec:02}{sign}{:02}:{:02}",
                    a / 60,
                    a % 60
                ),
                None,
            ))
        }
        _ => Some((date, Some(s.to_string()))),
    }
}

/// The answers (`[{"valueX": ..}]`) of a stored value for `f`, or `None` when the value does
/// not fit the item. `top_coded`: the age of a research export, text.
fn answers(f: &FormField, stored: &Value, top_coded: bool) -> Option<Vec<Value>> {
    let v = plain(stored);
    if top_coded {
        return match v {
            Value::String(s) if !s.is_empty() => Some(vec![json!({ "valueString": s })]),
            _ => None,
        };
    }
    let code_of = |c: &Value| match c {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let one = |key: &str, value: Value| Some(vec![json!({ key: value })]);
    match f.def.kind {
        FieldType::Text => match v {
            Value::String(s) if !s.is_empty() => one("valueString", json!(s)),
            _ => None,
        },
        FieldType::Integer => {
            let n = v
                .as_i64()
                .or_else(|| v.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))?;
            let n = i32::try_from(n).ok()?;
            one("valueInteger", json!(n))
        }
        FieldType::Decimal => match v {
            Value::Number(n) => one("valueDecimal", Value::Number(n.clone())),
            _ => None,
        },
        FieldType::Date => one("valueDate", json!(fhir_date(v.as_str()?)?)),
        FieldType::Datetime => {
            let (value, entered) = fhir_datetime(v.as_str()?)?;
            let mut a = Map::new();
            a.insert("valueDateTime".into(), json!(value));
            if let Some(entered) = entered {
                a.insert("_valueDateTime".into(), original_text(&entered));
            }
            Some(vec![Value::Object(a)])
        }
        FieldType::Boolean => one("valueBoolean", json!(v.as_bool()?)),
        FieldType::Choice => {
            let code = code_of(v)?;
            f.choice_label(&code)?;
            one("valueCoding", coding(f, &code))
        }
        FieldType::Multichoice => {
            let codes = v.as_array()?;
            let mut out = Vec::with_capacity(codes.len());
            for c in codes {
                let code = code_of(c)?;
                f.choice_label(&code)?;
                out.push(json!({"valueCoding": coding(f, &code)}));
            }
            (!out.is_empty()).then_some(out)
        }
    }
}

fn original_text(entered: &str) -> Value {
    json!({"extension": [{"url": ORIGINAL_TEXT, "valueString": entered}]})
}

/// The response item of one answered field; `None` (and a log line) when its value does not
/// fit; `None` silently when there is no value.
fn answer_item(
    layout: &Layout,
    case_id: &str,
    f: &FormField,
    stored: Option<&Value>,
) -> Option<Value> {
    let stored = stored.filter(|v| !plain(v).is_null())?;
    match answers(f, stored, layout.top_codes(f)) {
        Some(a) => Some(json!({"linkId": f.id(), "answer": a})),
        None => {
            tracing::warn!(
                case = case_id,
                field = f.id(),
                "FHIR export: a stored value does not fit its item and is left out"
            );
            None
        }
    }
}

pub(super) fn response(
    layout: &Layout,
    canonical: &str,
    case: &ExportCase,
    case_key: &str,
    options: &ExportOptions,
) -> Value {
    let (row, values) = (&case.row, &case.values);
    let case_id = row.case_id.as_str();
    let mut sections = Vec::new();
    for s in &layout.sections {
        let mut items = Vec::new();
        for e in &s.entries {
            match e {
                Entry::Field(f) => {
                    items.extend(answer_item(layout, case_id, f, values.get(f.id())));
                }
                Entry::Group { id, fields, .. } => {
                    for (row_id, row_values) in group_rows(values, id) {
                        let answered: Vec<Value> = fields
                            .iter()
                            .filter_map(|f| answer_item(layout, case_id, f, row_values.get(f.id())))
                            .collect();
                        if answered.is_empty() {
                            continue;
                        }
                        let mut g = Map::new();
                        let row_key = options.row_key(row_id);
                        if !row_key.is_empty() && !row_key.chars().any(char::is_whitespace) {
                            g.insert("id".into(), json!(row_key));
                        }
                        g.insert("linkId".into(), json!(id));
                        g.insert("item".into(), Value::Array(answered));
                        items.push(Value::Object(g));
                    }
                }
            }
        }
        if !items.is_empty() {
            sections.push(json!({"linkId": section_link_id(&s.id), "item": items}));
        }
    }
    let mut r = Map::new();
    r.insert("resourceType".into(), json!("QuestionnaireResponse"));
    let id = if is_fhir_id(case_key) {
        case_key.to_string()
    } else {
        uuid(&["response", case_key])
    };
    r.insert("id".into(), json!(id));
    r.insert(
        "extension".into(),
        json!([{"url": SITE_EXTENSION, "valueString": row.site_id}]),
    );
    r.insert(
        "identifier".into(),
        json!({"system": case_system(options), "value": case_key}),
    );
    r.insert("questionnaire".into(), json!(canonical));
    r.insert(
        "status".into(),
        json!(if row.status == "draft" {
            "in-progress"
        } else {
            "completed"
        }),
    );
    if row.updated_at > 0 {
        r.insert(
            "authored".into(),
            json!(
                Timestamp::from_unix_seconds(case.time(i64::try_from(row.updated_at).unwrap_or(0)))
                    .iso_datetime()
            ),
        );
    }
    if !sections.is_empty() {
        r.insert("item".into(), Value::Array(sections));
    }
    Value::Object(r)
}

/// Whether `f` becomes an Observation, and its category code and display.
fn observation_category(f: &FormField) -> Option<(&'static str, &'static str)> {
    if !matches!(f.def.kind, FieldType::Integer | FieldType::Decimal)
        || f.def.unit.is_none()
        || loinc_code(f).is_none()
    {
        return None;
    }
    match f.group.as_deref() {
        None if f.section == VITALS_SECTION => Some(("vital-signs", "Vital Signs")),
        Some(LABS_GROUP) => Some(("laboratory", "Laboratory")),
        _ => None,
    }
}

pub(super) fn observations(
    form: &Form,
    case: &ExportCase,
    case_key: &str,
    response_url: &str,
    options: &ExportOptions,
) -> Vec<(String, Value)> {
    let (row, values) = (&case.row, &case.values);
    let status = if row.status == "draft" {
        "preliminary"
    } else {
        "final"
    };
    let mut out = Vec::new();
    let mut one = |f: &FormField, stored: Option<&Value>, when: Option<&Value>, row_id: &str| {
        let Some((category, display)) = observation_category(f).filter(|_| options.exported(f))
        else {
            return;
        };
        let Some(Value::Number(n)) = stored.map(plain) else {
            return;
        };
        let (Some(unit), Some(loinc)) = (f.def.unit.as_deref(), loinc_code(f)) else {
            return;
        };
        if stored
            .and_then(crate::export::unit_of)
            .is_some_and(|u| u != unit)
        {
            return; // stored values are in the field's unit; anything else is not trusted
        }
        let id = uuid(&["observation", case_key, &options.row_key(row_id), f.id()]);
        let mut o = Map::new();
        o.insert("resourceType".into(), json!("Observation"));
        o.insert("id".into(), json!(id));
        o.insert("status".into(), json!(status));
        o.insert(
            "category".into(),
            json!([{"coding": [{"system": CATEGORY_SYSTEM, "code": category, "display": display}]}]),
        );
        // LOINC first, then any other standard code of the field.
        let codings = standard_codings(&f.def.codes);
        debug_assert!(codings.first().is_some_and(|c| c["code"] == loinc));
        o.insert(
            "code".into(),
            json!({"coding": codings, "text": f.def.label.get(Lang::En)}),
        );
        if let Some((t, entered)) = when
            .map(plain)
            .and_then(Value::as_str)
            .and_then(fhir_datetime)
        {
            o.insert("effectiveDateTime".into(), json!(t));
            if let Some(entered) = entered {
                o.insert("_effectiveDateTime".into(), original_text(&entered));
            }
        }
        o.insert(
            "valueQuantity".into(),
            json!({"value": n, "unit": unit, "system": UCUM, "code": unit}),
        );
        o.insert("derivedFrom".into(), json!([{"reference": response_url}]));
        out.push((format!("urn:uuid:{id}"), Value::Object(o)));
    };
    let when_field = |group: Option<&str>, section: &str| {
        form.fields_in(group)
            .find(|f| {
                f.def.kind == FieldType::Datetime && (group.is_some() || f.section == section)
            })
            .map(|f| f.id().to_string())
    };
    let vitals_when = when_field(None, VITALS_SECTION);
    for f in form.fields_in(None) {
        let when = vitals_when.as_deref().and_then(|w| values.get(w));
        one(f, values.get(f.id()), when, "");
    }
    let labs_when = when_field(Some(LABS_GROUP), "");
    for (row_id, row_values) in group_rows(values, LABS_GROUP) {
        let when = labs_when.as_deref().and_then(|w| row_values.get(w));
        for f in form.fields_in(Some(LABS_GROUP)) {
            one(f, row_values.get(f.id()), when, row_id);
        }
    }
    out
}
