//! The disease modules' rules written with date arithmetic (`days_between`): the SARI onset
//! window and the AMR day-3 boundary of hospital acquisition, validated on the bundled forms.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use serde_json::{Value, json};
use wardcrf_core::{Catalog, Context, Form, PartialDate, Report, validate};

fn form(module: &str) -> Form {
    Catalog::bundled()
        .expect("bundled forms load")
        .form("icrown-core", &[module])
        .expect("the module composes with the core form")
}

fn check(form: &Form, values: Value) -> Report {
    let ctx = Context {
        today: PartialDate::parse("2024-06-01").ok(),
        ..Context::default()
    };
    validate(form, values.as_object().expect("an object"), &ctx)
}

/// The fields a rule was reported on: `(field, warning)`, errors first.
fn fired(report: &Report, rule: &str) -> Vec<(String, bool)> {
    let on = |list: &[wardcrf_core::Issue], warning: bool| {
        list.iter()
            .filter(|i| i.rule.as_deref() == Some(rule))
            .map(|i| (i.field.clone(), warning))
            .collect::<Vec<_>>()
    };
    let mut all = on(&report.errors, false);
    all.extend(on(&report.warnings, true));
    all
}

fn issues_on(report: &Report, field: &str) -> Vec<String> {
    report
        .errors
        .iter()
        .chain(&report.warnings)
        .filter(|i| i.field == field)
        .filter_map(|i| i.rule.clone())
        .collect()
}

fn fields(list: &[&str], warning: bool) -> Vec<(String, bool)> {
    list.iter().map(|f| (f.to_string(), warning)).collect()
}

#[test]
fn sari_warns_when_onset_is_more_than_10_days_before_admission() {
    let sari = form("sari");
    let case = |onset: Value| json!({"admission_date": "2024-03-15", "symptom_onset_date": onset});
    let rule = "sari_onset_within_10_days";
    // 11 days before admission: outside the WHO window.
    let r = check(&sari, case(json!("2024-03-04")));
    assert_eq!(
        fired(&r, rule),
        fields(&["symptom_onset_date", "admission_date"], true)
    );
    assert_eq!(
        r.warnings
            .iter()
            .find(|i| i.rule.as_deref() == Some(rule))
            .unwrap()
            .confirmed,
        None
    );
    // 10 days before, the day of admission, and (for this rule) an onset after admission.
    for onset in ["2024-03-05", "2024-03-15", "2024-03-16"] {
        assert_eq!(
            fired(&check(&sari, case(json!(onset))), rule),
            [],
            "{onset}"
        );
    }
    // Across a month end and a leap day: 2024-02-29 to 2024-03-11 is 11 days.
    let r = check(
        &sari,
        json!({"admission_date": "2024-03-11", "symptom_onset_date": "2024-02-29"}),
    );
    assert_eq!(fired(&r, rule).len(), 2);
    // A reason given on the onset date confirms the warning.
    let r = check(
        &sari,
        case(json!({"value": "2024-03-01", "confirm": "admitted for secondary pneumonia"})),
    );
    let issue = r
        .warnings
        .iter()
        .find(|i| i.rule.as_deref() == Some(rule))
        .unwrap();
    assert_eq!(
        issue.confirmed.as_deref(),
        Some("admitted for secondary pneumonia")
    );
    assert!(issue.message.en.contains("more than 10 days"));
    // Without an admission date the rule cannot be decided and does not fire.
    let r = check(&sari, json!({"symptom_onset_date": "2023-01-01"}));
    assert_eq!(fired(&r, rule), []);
}

fn amr_case(episode: u8, acquisition: u8, onset: &str, isolate: &str) -> Value {
    let mut v = json!({
        "admission_date": "2024-03-10",
        "amr_episode_type": episode,
        "amr_acquisition": acquisition,
        "amr_index_isolate_date": isolate,
    });
    if episode == 1 {
        v["amr_infection_onset_date"] = json!(onset);
    }
    v
}

#[test]
fn amr_hospital_acquired_infection_starts_on_day_3_or_later() {
    let amr = form("amr");
    let rule = "amr_hospital_onset_from_day_3";
    let all = [
        "amr_acquisition",
        "amr_infection_onset_date",
        "admission_date",
    ];
    // Admission on 10 March is day 1: 11 March is day 2, 12 March day 3.
    for (onset, flagged) in [
        ("2024-03-09", true),
        ("2024-03-10", true),
        ("2024-03-11", true),
        ("2024-03-12", false),
        ("2024-04-30", false),
    ] {
        let r = check(&amr, amr_case(1, 3, onset, "2024-03-12"));
        let want = if flagged { fields(&all, false) } else { vec![] };
        assert_eq!(fired(&r, rule), want, "onset {onset}");
        // Only this rule speaks about the onset date: the former "after admission" rule is
        // gone, and the community-onset warning does not apply to code 3.
        let on_onset = issues_on(&r, "amr_infection_onset_date");
        assert_eq!(
            on_onset,
            if flagged { vec![rule] } else { vec![] },
            "{onset}"
        );
    }
    // Acquired elsewhere or in the community, an early onset is no error.
    for acquisition in [1, 2, 4, 99] {
        let r = check(&amr, amr_case(1, acquisition, "2024-03-11", "2024-03-11"));
        assert_eq!(fired(&r, rule), [], "acquisition {acquisition}");
    }
}

#[test]
fn amr_hospital_acquired_colonisation_needs_a_first_specimen_from_day_3() {
    let amr = form("amr");
    let rule = "amr_hospital_colonisation_from_day_3";
    let all = [
        "amr_acquisition",
        "amr_index_isolate_date",
        "admission_date",
    ];
    for (isolate, flagged) in [
        ("2024-03-10", true),
        ("2024-03-11", true),
        ("2024-03-12", false),
    ] {
        let r = check(&amr, amr_case(2, 3, "", isolate));
        let want = if flagged { fields(&all, false) } else { vec![] };
        assert_eq!(fired(&r, rule), want, "isolate {isolate}");
        // One rule per problem: the infection-only isolate rule stays silent here.
        let on_isolate = issues_on(&r, "amr_index_isolate_date");
        assert_eq!(
            on_isolate,
            if flagged { vec![rule] } else { vec![] },
            "{isolate}"
        );
    }
    // For an infection, the onset dates acquisition: an isolate on day 2 is accepted, one
    // from the admission day is not (the earlier rule, kept for infections).
    let r = check(&amr, amr_case(1, 3, "2024-03-12", "2024-03-11"));
    assert_eq!(
        issues_on(&r, "amr_index_isolate_date"),
        Vec::<String>::new()
    );
    let r = check(&amr, amr_case(1, 3, "2024-03-12", "2024-03-10"));
    assert_eq!(
        issues_on(&r, "amr_index_isolate_date"),
        ["amr_hospital_isolate_after_admission"]
    );
}

#[test]
fn amr_community_onset_on_day_3_or_later_is_questioned() {
    let amr = form("amr");
    let rule = "amr_community_onset_from_day_3";
    let all = [
        "amr_acquisition",
        "amr_infection_onset_date",
        "admission_date",
    ];
    for acquisition in [1, 2] {
        for (onset, flagged) in [
            ("2024-03-01", false),
            ("2024-03-10", false),
            ("2024-03-11", false),
            ("2024-03-12", true),
            ("2024-05-01", true),
        ] {
            let r = check(&amr, amr_case(1, acquisition, onset, "2024-03-12"));
            let want = if flagged { fields(&all, true) } else { vec![] };
            assert_eq!(
                fired(&r, rule),
                want,
                "acquisition {acquisition}, onset {onset}"
            );
            assert!(r.errors.iter().all(|i| i.rule.as_deref() != Some(rule)));
        }
    }
    for acquisition in [3, 4, 99] {
        let r = check(&amr, amr_case(1, acquisition, "2024-03-20", "2024-03-20"));
        assert_eq!(fired(&r, rule), [], "acquisition {acquisition}");
    }
    // Colonisation has no onset date: nothing to question.
    let r = check(&amr, amr_case(2, 1, "", "2024-03-20"));
    assert_eq!(fired(&r, rule), []);
}
