//! Unit tests of every kind of check, on a small form written for them.

use super::*;
use crate::form::Form;
use crate::lang::Lang;
use serde_json::json;

fn t(s: &str) -> Json {
    json!({"en": s, "ja": format!("{s}(ja)"), "de": format!("{s}(de)")})
}

fn test_form() -> Form {
    let def = json!({
        "form_id": "test", "version": "1.0.0", "title": t("Test"),
        "age": {"years_field": "age", "birth_date_field": "dob", "reference_date_field": "admit"},
        "choice_lists": {"ynu": [
            {"code": "1", "label": t("Yes")}, {"code": "0", "label": t("No")}, {"code": "99", "label": t("Unknown")}
        ]},
        "sections": [
            {"id": "main", "label": t("Main"), "items": [
                {"field": {"id": "name", "type": "text", "label": t("Name"), "identifying": true, "max_length": 10}},
                {"field": {"id": "dob", "type": "date", "label": t("Birth"), "identifying": true}},
                {"field": {"id": "age", "type": "integer", "label": t("Age"), "unit": "a", "hard": {"min": 0, "max": 120}, "required": true}},
                {"field": {"id": "admit", "type": "date", "label": t("Admission"), "required": true}},
                {"field": {"id": "onset", "type": "date", "label": t("Onset"), "partial_date": true}},
                {"field": {"id": "temp", "type": "decimal", "label": t("Temperature"), "unit": "Cel", "decimals": 1,
                           "alt_units": [{"unit": "[degF]"}], "hard": {"min": 25, "max": 45}, "soft": {"min": 35, "max": 41}}},
                {"field": {"id": "hr", "type": "integer", "label": t("Heart rate"), "unit": "/min",
                           "hard": {"min": 20, "max": 300}, "soft": {"min": 40, "max": 150},
                           "soft_by_age": [{"below_age_months": 12, "min": 80, "max": 200}, {"below_age_months": 144, "min": 50, "max": 150}]}},
                {"field": {"id": "crea", "type": "decimal", "label": t("Creatinine"), "unit": "mg/dL", "decimals": 2,
                           "alt_units": [{"unit": "umol/L", "factor": 0.01131}]}},
                {"field": {"id": "o2", "type": "choice", "label": t("Oxygen"), "choices": "ynu", "required": true}},
                {"field": {"id": "o2_flow", "type": "decimal", "label": t("Flow"), "unit": "L/min", "show_if": "o2 = 1", "required": true}},
                {"field": {"id": "o2_note", "type": "text", "label": t("Flow note"), "show_if": "o2_flow > 10"}},
                {"field": {"id": "setting", "type": "multichoice", "label": t("Setting"),
                           "choices": [{"code": "1", "label": t("Home")}, {"code": "5", "label": t("Sexual")}]}},
                {"field": {"id": "ok", "type": "boolean", "label": t("OK")}},
                {"field": {"id": "seen", "type": "datetime", "label": t("Seen")}},
                {"field": {"id": "sbp", "type": "integer", "label": t("Systolic")}},
                {"field": {"id": "dbp", "type": "integer", "label": t("Diastolic")}},
                {"group": {"id": "meds", "label": t("Medications"), "max_rows": 3, "fields": [
                    {"id": "med_start", "type": "date", "label": t("Start"), "required": true},
                    {"id": "med_end", "type": "date", "label": t("End")},
                    {"id": "med_reason", "type": "text", "label": t("Why"), "show_if": "o2 = 1 and med_start is not empty"}
                ]}}
            ]}
        ],
        "rules": [
            {"id": "dbp_below_sbp", "check": "dbp < sbp", "fields": ["dbp", "sbp"], "message": t("DBP must be below SBP")},
            {"id": "onset_before_admit", "check": "onset <= admit", "fields": ["onset"], "message": t("Onset after admission")},
            {"id": "med_order", "group": "meds", "check": "med_end >= med_start", "fields": ["med_end"], "message": t("End before start")},
            {"id": "hr_high", "check": "not (hr > 140 and temp < 36)", "fields": ["hr"], "severity": "warning", "message": t("Check HR")}
        ]
    });
    Form::from_json(&def.to_string()).expect("test form is valid")
}

fn run_with(values: Json, ctx: Context) -> Report {
    validate(&test_form(), values.as_object().expect("object"), &ctx)
}

fn run(values: Json) -> Report {
    run_with(values, Context::default())
}

fn codes(issues: &[Issue]) -> Vec<(String, IssueCode)> {
    issues.iter().map(|i| (i.field.clone(), i.code)).collect()
}

fn has(issues: &[Issue], field: &str, code: IssueCode) -> bool {
    issues.iter().any(|i| i.field == field && i.code == code)
}

#[test]
fn converts_units_and_keeps_the_entered_value() {
    let r = run(
        json!({"temp": {"value": 101.3, "unit": "[degF]"}, "crea": {"value": 88.4, "unit": "umol/L"}}),
    );
    assert_eq!(codes(&r.errors), vec![]);
    assert_eq!(
        r.values["temp"],
        json!({"value": 38.5, "unit": "Cel", "entered": {"value": 101.3, "unit": "[degF]"}})
    );
    assert_eq!(r.values["crea"]["value"], json!(1.0));
    assert_eq!(r.values["crea"]["entered"]["unit"], "umol/L");
}

#[test]
fn checks_limits_after_conversion() {
    // 113 °F = 45 °C (allowed); 114 °F = 45.6 °C (impossible).
    assert!(
        run(json!({"temp": {"value": 113, "unit": "[degF]"}}))
            .errors
            .is_empty()
    );
    let r = run(json!({"temp": {"value": 114, "unit": "[degF]"}}));
    assert_eq!(
        codes(&r.errors),
        vec![("temp".into(), IssueCode::HardLimit)]
    );
    assert!(
        r.values.get("temp").is_none(),
        "an impossible value is not a canonical value"
    );
    assert_eq!(
        r.errors[0].message.en,
        "Temperature 45.6 °C is outside the possible range 25–45 °C. Check the value and its unit."
    );
}

#[test]
fn refuses_units_the_field_does_not_accept() {
    let r = run(json!({"temp": {"value": 310, "unit": "K"}, "ok": {"value": true, "unit": "kg"}}));
    assert!(has(&r.errors, "temp", IssueCode::UnitNotAllowed));
    assert!(
        r.errors[0].message.en.contains("use Cel, [degF]"),
        "{}",
        r.errors[0].message.en
    );
    assert!(has(&r.errors, "ok", IssueCode::WrongType));
}

#[test]
fn soft_limits_warn_and_take_a_confirmation() {
    let r = run(json!({"temp": 34.2}));
    assert_eq!(
        codes(&r.warnings),
        vec![("temp".into(), IssueCode::SoftLimit)]
    );
    assert_eq!(r.warnings[0].confirmed, None);
    assert!(r.errors.is_empty());
    let r = run(json!({"temp": {"value": 34.2, "confirm": " rewarmed after surgery "}}));
    assert_eq!(
        r.warnings[0].confirmed.as_deref(),
        Some("rewarmed after surgery")
    );
    assert_eq!(r.values["temp"]["confirm"], "rewarmed after surgery");
}

#[test]
fn soft_limits_follow_the_age_band() {
    // A 6-month-old (from date of birth) with a heart rate of 170: normal for an infant.
    let infant = json!({"dob": "2024-01-10", "admit": "2024-07-20", "hr": 170});
    assert!(run(infant).warnings.is_empty());
    // The same heart rate in an adult warns with the adult range.
    let r = run(json!({"age": 40, "hr": 170}));
    assert!(
        r.warnings[0].message.en.contains("40–150 /min"),
        "{}",
        r.warnings[0].message.en
    );
    // A 5-year-old (from age in years) with 45/min: below the 1–12 year band.
    let r = run(json!({"age": 5, "hr": 45}));
    assert!(
        r.warnings[0]
            .message
            .en
            .contains("for the patient's age (50–150 /min)"),
        "{}",
        r.warnings[0].message.en
    );
    // Unknown age: the adult range applies.
    assert!(run(json!({"hr": 45})).warnings.is_empty());
}

#[test]
fn required_fields_are_missing_while_entering_and_errors_on_completion() {
    let r = run(json!({"age": 30}));
    assert!(r.errors.is_empty());
    let missing: Vec<&str> = r.missing.iter().map(|m| m.field.as_str()).collect();
    assert_eq!(missing, ["admit", "o2"]);
    let r = run_with(
        json!({"age": 30}),
        Context {
            completing: true,
            ..Context::default()
        },
    );
    assert_eq!(
        codes(&r.errors),
        vec![
            ("admit".into(), IssueCode::Required),
            ("o2".into(), IssueCode::Required)
        ]
    );
    assert!(!r.is_complete());
}

#[test]
fn skip_logic_hides_fields_and_lists_values_in_hidden_fields() {
    // o2 = 0: the flow field is hidden, so not required, and a value in it is listed as
    // hidden: not an error, completion is not blocked by it.
    let r = run_with(
        json!({"age": 30, "admit": "2024-01-01", "o2": 0, "o2_flow": 4}),
        Context {
            completing: true,
            ..Context::default()
        },
    );
    assert_eq!(codes(&r.errors), vec![]);
    assert_eq!(
        codes(&r.hidden),
        vec![("o2_flow".into(), IssueCode::HiddenValue)]
    );
    assert!(r.is_complete(), "a hidden value does not block completion");
    assert!(!r.visible.fields.contains("o2_flow"));
    assert!(r.visible.fields.contains("o2"));
    assert_eq!(
        r.values["o2_flow"]["value"],
        json!(4.0),
        "the value is kept, only listed"
    );
    // o2 = 1: the flow field is shown and required.
    let r = run_with(
        json!({"age": 30, "admit": "2024-01-01", "o2": 1}),
        Context {
            completing: true,
            ..Context::default()
        },
    );
    assert_eq!(
        codes(&r.errors),
        vec![("o2_flow".into(), IssueCode::Required)]
    );
    // Hidden fields count as empty in other conditions: o2_note depends on the hidden o2_flow.
    let r = run(json!({"o2": 0, "o2_flow": 12, "o2_note": "high"}));
    assert!(has(&r.hidden, "o2_note", IssueCode::HiddenValue));
    let shown = run(json!({"o2": 1, "o2_flow": 12, "o2_note": "high"}));
    assert!(!shown.errors.iter().any(|e| e.field == "o2_note"));
    assert!(shown.hidden.is_empty());
    assert!(shown.visible.fields.contains("o2_note"));
}

#[test]
fn cross_field_rules_fire_only_when_decidable() {
    let r = run(json!({"sbp": 100, "dbp": 120}));
    assert_eq!(
        codes(&r.errors),
        vec![
            ("dbp".into(), IssueCode::Rule),
            ("sbp".into(), IssueCode::Rule)
        ]
    );
    assert_eq!(r.errors[0].rule.as_deref(), Some("dbp_below_sbp"));
    assert!(
        run(json!({"dbp": 120})).errors.is_empty(),
        "one side empty: not decidable"
    );
    // A partial onset date in the admission month may be either side.
    assert!(
        run(json!({"onset": "2024-03", "admit": "2024-03-10"}))
            .errors
            .is_empty()
    );
    assert!(has(
        &run(json!({"onset": "2024-04", "admit": "2024-03-10"})).errors,
        "onset",
        IssueCode::Rule
    ));
    // Warning-severity rules land in warnings.
    let r = run(json!({"hr": 145, "temp": 35.5}));
    assert!(has(&r.warnings, "hr", IssueCode::Rule));
    assert_eq!(
        r.warnings
            .iter()
            .find(|w| w.code == IssueCode::Rule)
            .unwrap()
            .confirmed,
        None
    );
    // ... and are confirmed by a reason on the rule's first field.
    let r = run(json!({"hr": {"value": 145, "confirm": "septic, hypothermic"}, "temp": 35.5}));
    let w = r
        .warnings
        .iter()
        .find(|w| w.code == IssueCode::Rule)
        .unwrap();
    assert_eq!(w.confirmed.as_deref(), Some("septic, hypothermic"));
}

#[test]
fn group_rows_are_checked_row_by_row() {
    let r = run_with(
        json!({"o2": 1, "meds": [
            {"row_id": "a", "med_start": "2024-03-05", "med_end": "2024-03-01"},
            {"row_id": "b", "med_start": "2024-03-01", "med_end": "2024-03-05", "med_reason": "x"},
            {"med_end": "2024-03-05", "sbp": 3}
        ]}),
        Context {
            completing: true,
            ..Context::default()
        },
    );
    let rowed: Vec<(String, Option<usize>, Option<String>, IssueCode)> = r
        .errors
        .iter()
        .filter(|e| e.group.is_some())
        .map(|e| (e.field.clone(), e.row, e.row_id.clone(), e.code))
        .collect();
    assert_eq!(
        rowed,
        vec![
            ("sbp".into(), Some(2), None, IssueCode::UnknownField),
            ("med_end".into(), Some(0), Some("a".into()), IssueCode::Rule),
            ("med_start".into(), Some(2), None, IssueCode::Required),
        ]
    );
    assert_eq!(
        r.values["meds"][1],
        json!({"row_id": "b", "med_start": "2024-03-01", "med_end": "2024-03-05", "med_reason": "x"})
    );
}

#[test]
fn group_shape_and_size_are_checked() {
    let r = run(json!({"meds": {"med_start": "2024-01-01"}}));
    assert!(has(&r.errors, "meds", IssueCode::WrongType));
    let r = run(json!({"meds": [1, {}, {}, {}]}));
    assert!(has(&r.errors, "meds", IssueCode::TooManyRows));
    assert!(has(&r.errors, "meds", IssueCode::WrongType));
    let r = run(json!({"med_start": "2024-01-01"}));
    assert!(
        has(&r.errors, "med_start", IssueCode::UnknownField),
        "group fields live in rows"
    );
}

#[test]
fn reads_input_forgivingly() {
    let r = run(
        json!({"temp": "38,2", "hr": "８８", "o2": 1, "setting": [5, "1", 5], "ok": "yes", "age": 30.0}),
    );
    assert!(r.errors.is_empty(), "{:?}", codes(&r.errors));
    assert_eq!(r.values["temp"]["value"], json!(38.2));
    assert_eq!(r.values["hr"]["value"], json!(88));
    assert_eq!(r.values["o2"], json!("1"));
    assert_eq!(
        r.values["setting"],
        json!(["1", "5"]),
        "deduplicated, in choice order"
    );
    assert_eq!(r.values["ok"], json!(true));
    assert!(
        run(json!({"temp": null, "name": "  ", "setting": []}))
            .values
            .is_empty()
    );
}

#[test]
fn reports_wrong_types_and_codes() {
    let r = run(json!({
        "age": 30.5, "temp": "warm", "o2": 7, "setting": [2], "ok": 1, "seen": "yesterday",
        "admit": "2024-02-30", "onset": "2024-13", "sbp": [1], "nonsense": 1, "name": "x".repeat(11),
        "temp2": 1
    }));
    let got = codes(&r.errors);
    for (field, code) in [
        ("age", IssueCode::WrongType),
        ("temp", IssueCode::WrongType),
        ("o2", IssueCode::NotAChoice),
        ("setting", IssueCode::NotAChoice),
        ("ok", IssueCode::WrongType),
        ("seen", IssueCode::WrongType),
        ("admit", IssueCode::InvalidDate),
        ("onset", IssueCode::InvalidDate),
        ("sbp", IssueCode::WrongType),
        ("nonsense", IssueCode::UnknownField),
        ("name", IssueCode::TooLong),
        ("temp2", IssueCode::UnknownField),
    ] {
        assert!(
            got.contains(&(field.to_string(), code)),
            "{field} {code:?} in {got:?}"
        );
    }
    assert!(r.errors.iter().all(|e| e.code.rejects_write()));
    assert!(!r.accepts_write());
}

#[test]
fn partial_dates_only_where_allowed() {
    let r = run(json!({"admit": "2024-03", "onset": "2024-03"}));
    assert_eq!(
        codes(&r.errors),
        vec![("admit".into(), IssueCode::PartialDateNotAllowed)]
    );
    assert_eq!(r.values["onset"], "2024-03");
}

#[test]
fn future_dates_warn_when_today_is_known() {
    let today = PartialDate::parse("2024-06-01").ok();
    let r = run_with(
        json!({"admit": "2024-06-02", "onset": "2024-06", "seen": "2024-07-01T10:00"}),
        Context {
            today,
            completing: false,
            default_units: None,
        },
    );
    let got = codes(&r.warnings);
    assert_eq!(
        got,
        vec![
            ("admit".into(), IssueCode::FutureDate),
            ("seen".into(), IssueCode::FutureDate)
        ]
    );
    assert!(
        run(json!({"admit": "2099-01-01"})).warnings.is_empty(),
        "no today, no warning"
    );
}

#[test]
fn never_echoes_identifying_values() {
    let r = run(json!({"name": [12345], "dob": "1999-02-30"}));
    for e in &r.errors {
        for lang in Lang::ALL {
            let m = e.message.get(lang);
            assert!(!m.contains("12345") && !m.contains("1999"), "{m}");
        }
    }
    assert_eq!(r.errors.len(), 2);
}

#[test]
fn messages_exist_in_all_three_languages() {
    let r = run(json!({"temp": 47, "hr": 10, "o2": 5, "sbp": 100, "dbp": 120, "age": "x"}));
    assert!(r.errors.len() >= 5);
    for e in r.errors.iter().chain(&r.warnings) {
        assert!(e.message.missing().is_empty(), "{e:?}");
        assert_ne!(e.message.en, e.message.ja);
        assert_ne!(e.message.en, e.message.de);
    }
}

#[test]
fn report_json_has_the_documented_shape() {
    let r = run(
        json!({"temp": 47, "meds": [{"row_id": "r1", "med_start": "2024-03-05", "med_end": "2024-03-01"}]}),
    );
    let j = r.to_json(Lang::De);
    assert_eq!(
        j["errors"][0],
        json!({"field": "temp", "code": "hard_limit",
        "message": "Temperature(de) 47 °C liegt außerhalb des möglichen Bereichs (25–45 °C). Bitte Wert und Einheit prüfen."})
    );
    assert_eq!(
        j["errors"][1],
        json!({"field": "med_end", "group": "meds", "row": 0, "row_id": "r1",
        "code": "rule", "rule": "med_order", "message": "End before start(de)"})
    );
    assert!(j["warnings"].as_array().unwrap().is_empty());
    assert_eq!(j["values"]["meds"][0]["row_id"], "r1");
}

#[test]
fn a_row_rule_reports_case_level_fields_at_case_level_once() {
    let mut def: Json = serde_json::to_value(test_form().definition()).unwrap();
    def["rules"].as_array_mut().unwrap().push(json!({
        "id": "med_before_admit", "group": "meds", "check": "med_start <= admit",
        "fields": ["med_start", "admit"], "message": t("Medication after admission")
    }));
    let form = Form::from_json(&def.to_string()).unwrap();
    let values = json!({"admit": "2024-01-01", "meds": [{"med_start": "2024-02-01"}, {"med_start": "2024-03-01"}]});
    let r = validate(&form, values.as_object().unwrap(), &Context::default());
    let got: Vec<(String, Option<usize>)> =
        r.errors.iter().map(|e| (e.field.clone(), e.row)).collect();
    assert_eq!(
        got,
        vec![
            ("med_start".into(), Some(0)),
            ("admit".into(), None),
            ("med_start".into(), Some(1))
        ]
    );
}

#[test]
fn issue_codes_are_their_serialized_names() {
    use IssueCode::*;
    for code in [
        UnknownField,
        WrongType,
        NotAChoice,
        InvalidDate,
        PartialDateNotAllowed,
        UnitNotAllowed,
        TooLong,
        TooManyRows,
        HardLimit,
        SoftLimit,
        FutureDate,
        Required,
        HiddenValue,
        Rule,
    ] {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
    }
}

#[test]
fn a_number_in_a_text_field_is_kept_as_text() {
    let r = run(json!({"name": 12345}));
    assert!(r.errors.is_empty());
    assert_eq!(r.values["name"], json!("12345"));
}
