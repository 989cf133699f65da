//! The core form's clinical rules of the joint network: age against the date of birth (date
//! arithmetic in expressions), the path of a patient who is not admitted, and age-banded
//! limits for children's blood pressure and laboratory values.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use serde_json::{Value, json};
use wardcrf_core::{Catalog, Context, IssueCode, Report, validate};

fn run(values: Value, completing: bool) -> Report {
    let form = Catalog::bundled()
        .unwrap()
        .composed("icrown-core", &[] as &[&str])
        .unwrap();
    validate(
        &form,
        values.as_object().unwrap(),
        &Context {
            completing,
            ..Context::default()
        },
    )
}

fn rule_fired(r: &Report, rule: &str) -> bool {
    r.errors
        .iter()
        .chain(&r.warnings)
        .any(|i| i.rule.as_deref() == Some(rule))
}

fn soft(r: &Report, field: &str) -> bool {
    r.warnings
        .iter()
        .any(|w| w.field == field && w.code == IssueCode::SoftLimit)
}

#[test]
fn age_must_agree_with_the_date_of_birth_in_completed_years() {
    let case = |age: i64| json!({"date_of_birth": "1970-06-15", "admission_date": "2026-06-14", "age_years": age});
    // The day before the 56th birthday: 55 completed years.
    assert!(!rule_fired(
        &run(case(55), false),
        "age_matches_date_of_birth"
    ));
    let wrong = run(case(56), false);
    assert!(rule_fired(&wrong, "age_matches_date_of_birth"));
    assert!(
        wrong
            .errors
            .iter()
            .any(|e| e.rule.as_deref() == Some("age_matches_date_of_birth")),
        "a contradiction is an error"
    );
    // Without a date of birth nothing can be said.
    let no_dob = json!({"admission_date": "2026-06-14", "age_years": 56});
    assert!(!rule_fired(
        &run(no_dob, false),
        "age_matches_date_of_birth"
    ));
}

#[test]
fn a_patient_who_is_not_admitted_has_no_admission_stay_or_discharge_to_fill() {
    let required = |r: &Report| -> Vec<String> {
        r.errors
            .iter()
            .filter(|e| e.code == IssueCode::Required)
            .map(|e| e.field.clone())
            .collect()
    };
    let outpatient = run(json!({"care_setting": "2"}), true);
    let missing = required(&outpatient);
    assert!(missing.contains(&"presentation_date".to_string()));
    for admitted_only in ["admission_date", "outcome", "outcome_date", "proc_oxygen"] {
        assert!(
            !missing.iter().any(|f| f == admitted_only),
            "{admitted_only} is not asked of an outpatient"
        );
    }
    assert!(!outpatient.visible.sections.contains("procedures"));
    // Left empty (every case recorded before the question), the patient was admitted.
    let earlier = required(&run(json!({}), true));
    assert!(earlier.contains(&"admission_date".to_string()));
    assert!(earlier.contains(&"outcome".to_string()));
    assert!(!earlier.contains(&"presentation_date".to_string()));
}

#[test]
fn childrens_blood_pressure_and_laboratory_values_have_limits_for_their_age() {
    // A patient's case with `extra` values: lab values go in one lab row.
    let patient = |mut v: Value, extra: Value| {
        v["labs"] = json!([{"row_id": "l1", "lab_datetime": "2026-06-01T08:00"}]);
        for (k, x) in extra.as_object().unwrap() {
            if k.starts_with("lab_") {
                v["labs"][0][k] = x.clone();
            } else {
                v[k] = x.clone();
            }
        }
        run(v, false)
    };
    let infant = |extra: Value| {
        let three_months =
            json!({"date_of_birth": "2026-03-01", "admission_date": "2026-06-01", "age_years": 0});
        patient(three_months, extra)
    };
    let adult = |extra: Value| {
        patient(
            json!({"age_years": 40, "admission_date": "2026-06-01"}),
            extra,
        )
    };
    // A three-month-old's normal blood pressure and creatinine: the creatinine flags in an
    // adult only, and a pressure below the infant's hypotension threshold flags.
    let normal_infant = json!({"vs_sbp": 80, "vs_dbp": 40, "lab_creat": 0.15});
    let r = infant(normal_infant.clone());
    for f in ["vs_sbp", "vs_dbp", "lab_creat"] {
        assert!(
            !soft(&r, f),
            "{f} is normal at three months: {:?}",
            r.warnings
        );
    }
    assert!(soft(&adult(normal_infant), "lab_creat"));
    assert!(soft(&infant(json!({"vs_sbp": 65})), "vs_sbp"));
    // An adult's blood pressure is unusual in an infant.
    let r = infant(json!({"vs_sbp": 150, "vs_dbp": 95}));
    assert!(soft(&r, "vs_sbp") && soft(&r, "vs_dbp"));
    // A newborn's haemoglobin of 21 g/dL is expected; in a three-month-old it is not.
    let newborn = json!({"date_of_birth": "2026-05-25", "admission_date": "2026-06-01",
        "age_years": 0, "labs": [{"row_id": "l1", "lab_datetime": "2026-06-01T08:00", "lab_hgb": 21}]});
    assert!(!soft(&run(newborn, false), "lab_hgb"));
    assert!(soft(&infant(json!({"lab_hgb": 21})), "lab_hgb"));
}
