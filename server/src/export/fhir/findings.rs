//! Coded findings of a case as FHIR resources: an Observation per pathogen test (a row of the
//! repeating group `pathogen_tests`) and a Condition per coded diagnosis. The modelling is
//! explained in the module docs of [`super`].

use super::questionnaire::{choice_codes, concept, standard_codings};
use super::response::fhir_date;
use super::*;
use crate::export::{ExportCase, ExportOptions, group_rows, plain};
use serde_json::{Map, Value, json};
use wardcrf_core::{FieldType, Form, FormField, Lang};

/// The repeating group of pathogen tests, and its fields.
pub(super) const PATHOGEN_TESTS_GROUP: &str = "pathogen_tests";
const PATHOGEN_FIELD: &str = "test_pathogen";
const RESULT_FIELD: &str = "test_result";
const METHOD_FIELD: &str = "test_method";
const COLLECTION_DATE_FIELD: &str = "test_collection_date";
const CT_FIELD: &str = "test_ct_value";
/// Data absent reasons (FHIR R4).
const DATA_ABSENT: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";
const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";

/// The choice code of an answer (a code as text, or a number written as one).
fn code_of(v: &Value) -> Option<String> {
    match plain(v) {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A field of `group` (`None`: case-level) that the export holds.
fn exported<'a>(
    form: &'a Form,
    options: &ExportOptions,
    group: Option<&str>,
    id: &str,
) -> Option<&'a FormField> {
    form.field(id)
        .filter(|f| f.group.as_deref() == group && options.exported(f))
}

/// An Observation per row of `pathogen_tests` that names a pathogen of the list: `code` the
/// pathogen tested (the form's coding and the pathogen's SNOMED CT organism when the form
/// gives one; text `Pathogen tested: <label>`), `valueCodeableConcept` the result (or
/// `dataAbsentReason` unknown), `method` the test method, `effectiveDateTime` the collection
/// date, a component with the Ct value in UCUM `{Ct}`.
pub(super) fn pathogen_observations(
    form: &Form,
    case: &ExportCase,
    case_key: &str,
    response_url: &str,
    options: &ExportOptions,
) -> Vec<(String, Value)> {
    let group = Some(PATHOGEN_TESTS_GROUP);
    let Some(pathogen) =
        exported(form, options, group, PATHOGEN_FIELD).filter(|f| f.def.kind == FieldType::Choice)
    else {
        return Vec::new();
    };
    let result = exported(form, options, group, RESULT_FIELD);
    let method = exported(form, options, group, METHOD_FIELD);
    let collected = exported(form, options, group, COLLECTION_DATE_FIELD);
    let ct = exported(form, options, group, CT_FIELD);
    let status = if case.row.status == "draft" {
        "preliminary"
    } else {
        "final"
    };
    let mut out = Vec::new();
    for (row_id, row) in group_rows(&case.values, PATHOGEN_TESTS_GROUP) {
        let Some(code) = row.get(pathogen.id()).and_then(code_of) else {
            continue;
        };
        let Some(label) = pathogen.choice_label(&code) else {
            continue; // not a pathogen of the list: the response leaves it out too
        };
        let id = uuid(&[
            "observation",
            case_key,
            &options.row_key(row_id),
            pathogen.id(),
        ]);
        let mut text = concept(pathogen, &code);
        text["text"] = json!(format!(
            "{}: {}",
            pathogen.def.label.get(Lang::En),
            label.get(Lang::En)
        ));
        let mut o = Map::new();
        o.insert("resourceType".into(), json!("Observation"));
        o.insert("id".into(), json!(id));
        o.insert("status".into(), json!(status));
        o.insert(
            "category".into(),
            json!([{"coding": [{"system": CATEGORY_SYSTEM, "code": "laboratory", "display": "Laboratory"}]}]),
        );
        o.insert("code".into(), text);
        if let Some(date) = collected
            .and_then(|f| row.get(f.id()))
            .map(plain)
            .and_then(Value::as_str)
            .and_then(fhir_date)
        {
            o.insert("effectiveDateTime".into(), json!(date));
        }
        let answer = |f: Option<&FormField>| {
            let f = f?;
            let code = row.get(f.id()).and_then(code_of)?;
            f.choice_label(&code)?;
            Some(concept(f, &code))
        };
        match answer(result) {
            Some(value) => {
                o.insert("valueCodeableConcept".into(), value);
            }
            None => {
                o.insert(
                    "dataAbsentReason".into(),
                    json!({"coding": [{"system": DATA_ABSENT, "code": "unknown", "display": "Unknown"}]}),
                );
            }
        }
        if let Some(m) = answer(method) {
            o.insert("method".into(), m);
        }
        if let Some(f) = ct
            && let Some(Value::Number(n)) = row.get(f.id()).map(plain)
            && let Some(unit) = f.def.unit.as_deref()
        {
            let mut code = Map::new();
            let codings = standard_codings(&f.def.codes);
            if !codings.is_empty() {
                code.insert("coding".into(), Value::Array(codings));
            }
            code.insert("text".into(), json!(f.def.label.get(Lang::En)));
            o.insert(
                "component".into(),
                json!([{
                    "code": code,
                    "valueQuantity": {"value": n, "unit": unit, "system": UCUM, "code": unit}
                }]),
            );
        }
        o.insert("derivedFrom".into(), json!([{"reference": response_url}]));
        out.push((format!("urn:uuid:{id}"), Value::Object(o)));
    }
    out
}

/// Whether a choice field is a diagnosis: some of its choices carry an ICD-10 or ICD-10-GM
/// code.
fn is_diagnosis(f: &FormField) -> bool {
    matches!(f.def.kind, FieldType::Choice | FieldType::Multichoice)
        && f.choices
            .iter()
            .any(|c| c.codes.icd10.is_some() || c.codes.icd10gm.is_some())
}

/// A Condition per answer of a case-level diagnosis field (a choice field whose choices carry
/// ICD-10 or ICD-10-GM codes, e.g. `final_diagnosis`): `code` the form's coding, then the
/// choice's ICD-10 (`http://hl7.org/fhir/sid/icd-10`) and ICD-10-GM
/// (`http://fhir.de/CodeSystem/bfarm/icd-10-gm`) codings, text its label; a choice without codes
/// (`other`) has the form's coding only, and the text of the field `<field>_other` as a note
/// when the export holds it. Category `encounter-diagnosis`, verification `confirmed`; the
/// subject is the case's patient by identifier (the export holds no Patient), and the
/// evidence is the case's QuestionnaireResponse.
pub(super) fn conditions(
    form: &Form,
    case: &ExportCase,
    case_key: &str,
    response_url: &str,
    options: &ExportOptions,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for f in form
        .fields_in(None)
        .filter(|f| options.exported(f) && is_diagnosis(f))
    {
        let codes: Vec<String> = match case.values.get(f.id()).map(plain) {
            Some(Value::Array(items)) => items.iter().filter_map(code_of).collect(),
            Some(v) => code_of(v).into_iter().collect(),
            None => Vec::new(),
        };
        let other = exported(form, options, None, &format!("{}_other", f.id()))
            .and_then(|o| case.values.get(o.id()))
            .map(plain)
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty());
        for code in codes {
            if f.choice_label(&code).is_none() {
                continue;
            }
            let id = uuid(&["condition", case_key, f.id(), &code]);
            let mut c = Map::new();
            c.insert("resourceType".into(), json!("Condition"));
            c.insert("id".into(), json!(id));
            c.insert(
                "verificationStatus".into(),
                json!({"coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed", "display": "Confirmed"}]}),
            );
            c.insert(
                "category".into(),
                json!([{"coding": [{"system": CONDITION_CATEGORY, "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}]),
            );
            c.insert("code".into(), concept(f, &code));
            c.insert(
                "subject".into(),
                json!({"identifier": {"system": case_system(options), "value": case_key}}),
            );
            c.insert(
                "evidence".into(),
                json!([{"detail": [{"reference": response_url}]}]),
            );
            if let Some(text) = other.filter(|_| choice_codes(f, &code).coded().next().is_none()) {
                c.insert("note".into(), json!([{"text": text}]));
            }
            out.push((format!("urn:uuid:{id}"), Value::Object(c)));
        }
    }
    out
}
