//! The session built from a form and values alone: typed answers, states, skip logic.

use super::*;
use crate::Catalog;
use crate::validate::{Context, validate};

fn session_of(values: serde_json::Value) -> FormSession {
    let catalog = Catalog::bundled().unwrap();
    let form = catalog.composed::<String>("icrown-core", &[]).unwrap();
    let values = values.as_object().unwrap().clone();
    let report = validate(
        &form,
        &values,
        &Context {
            today: None,
            completing: true,
            default_units: None,
        },
    );
    let mut units = BTreeMap::new();
    units.insert("vs_temp".to_string(), "[degF]".to_string());
    units.insert("vs_hr".to_string(), "not-a-unit-of-it".to_string());
    FormSession::build(
        form,
        &CaseState {
            case_id: "c1",
            status: Status::Draft,
            values: &values,
            report: &report,
            conflicts: &[],
            default_units: &units,
        },
    )
}

#[test]
fn answers_are_typed_by_the_field_kind() {
    let s = session_of(json!({
        "case_id": "JP-1", "age_years": 54, "sex_at_birth": 1,
        "admission_date": "2024-03", "contact_with_case": 1,
        "contact_setting": ["household", 2], "vs_datetime": "2024-03-01T10:00",
    }));
    let a = |id: &str| s.field(&FieldPath::field(id)).unwrap().answer.clone();
    assert_eq!(a("case_id"), Some(Answer::Text("JP-1".into())));
    assert_eq!(a("age_years"), Some(Answer::Number(54.0)));
    assert_eq!(a("sex_at_birth"), Some(Answer::Choice("1".into())));
    assert_eq!(a("admission_date"), Some(Answer::Date("2024-03".into())));
    assert_eq!(
        a("contact_setting"),
        Some(Answer::Choices(vec!["household".into(), "2".into()]))
    );
    assert_eq!(
        a("vs_datetime"),
        Some(Answer::DateTime("2024-03-01T10:00".into()))
    );
    assert_eq!(a("vs_temp"), None);
}

#[test]
fn the_site_default_unit_applies_only_when_the_field_offers_it() {
    let s = session_of(json!({}));
    let unit = |id: &str| s.field(&FieldPath::field(id)).unwrap().default_unit.clone();
    assert_eq!(unit("vs_temp").as_deref(), Some("[degF]"));
    assert_eq!(unit("vs_hr").as_deref(), Some("/min"));
    assert_eq!(unit("case_id"), None);
}

#[test]
fn a_wrong_value_is_an_error_and_an_unusual_one_needs_a_reason() {
    let s = session_of(json!({"vs_hr": "fast", "vs_spo2": 75, "vs_temp": 38}));
    let st = |id: &str| s.field(&FieldPath::field(id)).unwrap().state;
    assert_eq!(st("vs_hr"), FieldState::Error);
    assert_eq!(st("vs_spo2"), FieldState::NeedsReason);
    assert_eq!(st("vs_temp"), FieldState::Valid);
    assert_eq!(st("vs_rr"), FieldState::Empty);
    let hr = s.field(&FieldPath::field("vs_hr")).unwrap();
    assert!(hr.errors.iter().all(|i| i.code != IssueCode::Required));
    assert!(!hr.errors.is_empty());
    let spo2 = s.field(&FieldPath::field("vs_spo2")).unwrap();
    assert_eq!(spo2.warnings.len(), 1);
    assert!(spo2.errors.is_empty());
    let vitals = s.sections.iter().find(|x| x.id == "vitals").unwrap();
    assert_eq!(vitals.progress.problems, 2);
    assert!(s.completion_problems.iter().any(|p| p.field == "vs_spo2"));
}

#[test]
fn conditional_fields_show_with_their_answer_and_hidden_ones_are_listed() {
    let s = session_of(json!({"sex_at_birth": 1, "pregnancy_status": 1}));
    assert!(s.field(&FieldPath::field("pregnancy_status")).is_none());
    assert_eq!(s.hidden_values.len(), 1);
    assert_eq!(
        s.hidden_values[0].path,
        FieldPath::field("pregnancy_status")
    );
    let s = session_of(json!({"sex_at_birth": 2, "pregnancy_status": 1}));
    assert!(s.field(&FieldPath::field("pregnancy_status")).is_some());
    assert!(s.hidden_values.is_empty());
}

#[test]
fn answers_write_back_as_the_json_the_store_reads() {
    assert_eq!(
        Answer::Number(101.3).to_json(Some("[degF]")),
        json!({"value": 101.3, "unit": "[degF]"})
    );
    assert_eq!(Answer::Number(5.0).to_json(None), json!(5.0));
    assert_eq!(
        Answer::Choices(vec!["a".into()]).to_json(None),
        json!(["a"])
    );
    assert_eq!(Answer::Boolean(true).to_json(None), json!(true));
}
