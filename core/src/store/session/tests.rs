//! The form session on a real store: skip logic as the clinician answers, values left in
//! hidden fields, clearing them (one audited change), completion asking for the choice.

use super::*;
use crate::session::{Answer, FieldState, SessionItem};
use crate::store::{CaseFilter, Passphrase};
use serde_json::{Value as Json, json};

struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn store(name: &str) -> (Dir, CaseStore) {
    let n = crate::store::encryption::random_bytes::<6>().unwrap();
    let dir = std::env::temp_dir().join(format!(
        "wardcrf-session-{name}-{}",
        n.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let mut s =
        CaseStore::create(&dir, &Passphrase::insecure_for_tests("ward tablet", 1000)).unwrap();
    s.sign_in_for_tests("nurse").unwrap();
    (Dir(dir), s)
}

fn f(id: &str) -> FieldPath {
    FieldPath::field(id)
}

fn fill_required(s: &mut CaseStore, case: &str) {
    let values: Json =
        serde_json::from_str(include_str!("../../../tests/fixtures/complete-case.json")).unwrap();
    for (k, v) in values.as_object().unwrap() {
        s.set_value(case, &f(k), v.clone(), None)
            .unwrap_or_else(|e| panic!("{k}: {e}"));
    }
}

fn section_has_group(session: &FormSession, section: &str, group: &str) -> bool {
    session.sections.iter().any(|s| {
        s.id == section
            && s.items
                .iter()
                .any(|i| matches!(i, SessionItem::Group(g) if g.id == group))
    })
}

#[test]
fn the_travel_rows_appear_only_when_travel_is_answered_yes() {
    let (_d, mut s) = store("travel");
    let case = s.create_case("icrown-core", &[]).unwrap();
    let session = s.session(&case).unwrap();
    assert!(session.field(&f("travel_14d")).is_some());
    assert!(!section_has_group(&session, "travel", "travel"));
    s.set_value(&case, &f("travel_14d"), json!(1), None)
        .unwrap();
    let session = s.session(&case).unwrap();
    assert!(section_has_group(&session, "travel", "travel"));
    assert_eq!(
        session.field(&f("travel_14d")).unwrap().answer,
        Some(Answer::Choice("1".into()))
    );
    s.set_value(&case, &f("travel_14d"), json!(0), Some("misheard"))
        .unwrap();
    assert!(!section_has_group(
        &s.session(&case).unwrap(),
        "travel",
        "travel"
    ));
}

#[test]
fn a_field_hidden_by_an_answer_leaves_the_session_and_its_value_is_offered_for_clearing() {
    let (_d, mut s) = store("hidden");
    let case = s.create_case("icrown-core", &[]).unwrap();
    fill_required(&mut s, &case);
    s.set_value(&case, &f("vs_spo2_on_o2"), json!(1), Some("on oxygen"))
        .unwrap();
    s.set_value(&case, &f("vs_o2_flow"), json!(4), None)
        .unwrap();
    let session = s.session(&case).unwrap();
    let flow = session
        .field(&f("vs_o2_flow"))
        .expect("shown while on oxygen");
    assert_eq!(flow.answer, Some(Answer::Number(4.0)));
    assert_eq!(flow.state, FieldState::Valid);
    assert_eq!(flow.default_unit.as_deref(), Some("L/min"));

    s.set_value(&case, &f("vs_spo2_on_o2"), json!(0), Some("was room air"))
        .unwrap();
    let session = s.session(&case).unwrap();
    assert!(session.field(&f("vs_o2_flow")).is_none(), "hidden now");
    assert_eq!(session.hidden_values.len(), 1);
    assert_eq!(session.hidden_values[0].path, f("vs_o2_flow"));
    assert_eq!(session.hidden_values[0].answer, Some(Answer::Number(4.0)));
    assert!(
        session.completion_problems.is_empty() && session.can_complete(),
        "a hidden value is not an error: {:?}",
        session.completion_problems
    );

    // Completing asks for the choice.
    assert!(matches!(
        s.set_status(&case, Status::Complete, None),
        Err(StoreError::HiddenValues(p)) if p == vec![f("vs_o2_flow")]
    ));
    assert!(matches!(
        s.complete(&case, HiddenValues::NoneExpected),
        Err(StoreError::HiddenValues(_))
    ));
    assert!(matches!(
        s.clear_hidden(&case, "  "),
        Err(StoreError::ReasonRequired(_))
    ));
    assert_eq!(
        s.complete(&case, HiddenValues::Clear("not on oxygen".into()))
            .unwrap(),
        Status::Complete
    );
    let session = s.session(&case).unwrap();
    assert!(session.hidden_values.is_empty());
    assert_eq!(session.status, Status::Complete);
    // One audited change: the field's history shows the clear with its reason.
    let last = s.history(&case, Some("vs_o2_flow")).unwrap().pop().unwrap();
    assert_eq!(last.op, "clear");
    assert_eq!(last.reason.as_deref(), Some("not on oxygen"));
    assert_eq!(last.old, Some(json!({"value": 4.0, "unit": "L/min"})));
    assert_eq!(last.user, "nurse");
}

#[test]
fn hidden_values_may_be_kept_with_the_choice_on_record() {
    let (_d, mut s) = store("keep");
    let case = s.create_case("icrown-core", &[]).unwrap();
    fill_required(&mut s, &case);
    s.set_value(&case, &f("vs_spo2_on_o2"), json!(1), Some("on oxygen"))
        .unwrap();
    s.set_value(&case, &f("vs_o2_flow"), json!(2), None)
        .unwrap();
    s.set_value(&case, &f("vs_spo2_on_o2"), json!(0), Some("room air"))
        .unwrap();
    assert_eq!(
        s.complete(&case, HiddenValues::Keep).unwrap(),
        Status::Complete
    );
    assert_eq!(
        s.case(&case).unwrap().values["vs_o2_flow"]["value"],
        json!(2.0),
        "kept"
    );
    let status = s.history(&case, None).unwrap().pop().unwrap();
    assert_eq!(status.op, "status");
    assert!(status.reason.unwrap().contains("values kept in 1 field"));
}

#[test]
fn completion_lists_what_is_left_and_the_next_missing_field() {
    let (_d, mut s) = store("problems");
    let case = s.create_case("icrown-core", &[]).unwrap();
    let session = s.session(&case).unwrap();
    assert_eq!(session.next_missing, Some(f("case_id")));
    assert!(!session.can_complete());
    assert!(
        session
            .completion_problems
            .iter()
            .any(|p| p.field == "age_years" && p.code == crate::IssueCode::Required)
    );
    let admission = &session.sections[0];
    assert_eq!(admission.id, "admission");
    assert_eq!(admission.progress.answered, 0);
    assert!(admission.progress.required >= 7);
    fill_required(&mut s, &case);
    let session = s.session(&case).unwrap();
    assert_eq!(session.next_missing, None);
    assert!(session.can_complete(), "{:?}", session.completion_problems);
    assert_eq!(
        session.sections[0].progress.required_answered,
        session.sections[0].progress.required
    );
    // A value outside the expected range needs a reason, and says so.
    s.set_value(&case, &f("vs_spo2"), json!(75), Some("checked twice"))
        .unwrap();
    let spo2 = s.session(&case).unwrap();
    let spo2 = spo2.field(&f("vs_spo2")).unwrap();
    assert_eq!(spo2.state, FieldState::Confirmed);
    assert_eq!(spo2.confirmation().as_deref(), Some("checked twice"));
    // Rows: a lab row shows its fields, and the next missing field points into it.
    let row = s
        .add_row(&case, "labs", &serde_json::Map::new(), None)
        .unwrap();
    let session = s.session(&case).unwrap();
    assert_eq!(
        session.next_missing,
        Some(FieldPath::row("labs", row.as_str(), "lab_datetime"))
    );
    assert!(!s.list(&CaseFilter::default()).unwrap().is_empty());
}

#[test]
fn a_number_entered_in_another_unit_shows_what_was_typed() {
    let (_d, mut s) = store("units");
    let case = s.create_case("icrown-core", &[]).unwrap();
    s.set_value(
        &case,
        &f("vs_temp"),
        Answer::Number(101.3).to_json(Some("[degF]")),
        None,
    )
    .unwrap();
    let session = s.session(&case).unwrap();
    let temp = session.field(&f("vs_temp")).unwrap();
    assert_eq!(temp.answer, Some(Answer::Number(38.5)));
    assert_eq!(temp.entered(), Some((101.3, "[degF]".to_string())));
}

#[test]
fn a_number_without_a_unit_is_read_in_the_sites_default_unit() {
    use crate::staff::{Roster, SiteSettings, StaffMember, StaffRole};
    let (_dir, mut s) = store("default-unit");
    let mut settings = SiteSettings::default();
    settings
        .default_units
        .insert("lab_plt".into(), "10*4/uL".into());
    s.set_roster(&Roster {
        site_id: "jp-sendai-01".into(),
        staff: vec![StaffMember {
            id: "nurse".into(),
            display_name: "Nurse".into(),
            role: StaffRole::Clinician,
            active: true,
            credential_epoch: 0,
        }],
        settings,
    })
    .unwrap();
    let case = s.create_case("icrown-core", &[]).unwrap();
    let row = json!({"lab_datetime": "2026-11-02T08:00"});
    let row_id = s
        .add_row(&case, "labs", row.as_object().unwrap(), None)
        .unwrap();
    let plt = FieldPath::row("labs", row_id.as_str(), "lab_plt");
    // Typed as the Japanese laboratory reports it: 15.2 ×10⁴/µL.
    let stored = s.set_value(&case, &plt, json!("15.2"), None).unwrap();
    assert_eq!(
        stored,
        json!({"value": 152.0, "unit": "10*9/L", "entered": {"value": 15.2, "unit": "10*4/uL"}})
    );
    let session = s.session(&case).unwrap();
    let field = session.field(&plt).unwrap();
    assert_eq!(field.default_unit.as_deref(), Some("10*4/uL"));
    assert_eq!(field.state, FieldState::Valid);
}
