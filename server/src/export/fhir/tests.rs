//! Tests of the FHIR export: ids, skip logic as enableWhen, date-times.

use super::*;
use crate::export::fhir::response::fhir_datetime;
use crate::export::fhir::skip_logic::enable_when;
use wardcrf_core::Catalog;

fn form() -> Form {
    super::super::export_form(&Catalog::bundled().unwrap()).unwrap()
}

fn ew(form: &Form, expr: &str) -> Option<(Vec<Value>, Option<&'static str>)> {
    enable_when(expr, &|id| form.field(id))
}

#[test]
fn simple_skip_logic_becomes_enable_when() {
    let form = form();
    let (c, b) = ew(&form, "sex_at_birth in (2, 3)").unwrap();
    assert_eq!(b, Some("any"));
    assert_eq!(c.len(), 2);
    assert_eq!(c[1]["answerCoding"]["code"], "3");
    assert_eq!(
        c[1]["answerCoding"]["system"],
        "urn:wardcrf:codes:sex_at_birth"
    );
    let (c, b) = ew(&form, "age_years >= 15").unwrap();
    assert_eq!((b, c[0]["operator"].as_str()), (None, Some(">=")));
    assert_eq!(c[0]["answerInteger"], 15);
    let (c, _) = ew(&form, "med_dose is not empty").unwrap();
    assert_eq!(c[0]["operator"], "exists");
    assert_eq!(c[0]["answerBoolean"], true);
    let (c, b) = ew(
        &form,
        "amr_episode_type = 1 and amr_infection_site not in (1, 2)",
    )
    .unwrap();
    assert_eq!((c.len(), b), (3, Some("all")));
    let (c, b) = ew(
        &form,
        "amr_phenotype contains 4 or amr_phenotype contains 5",
    )
    .unwrap();
    assert_eq!((c.len(), b), (2, Some("any")));
    assert_eq!(c[0]["operator"], "=");
    let (c, _) = ew(&form, "hepatitis_child_peak_inr >= 1.5").unwrap();
    assert_eq!(c[0]["answerDecimal"], 1.5);
    let (c, _) = ew(
        &form,
        "test_result = 1 and test_pathogen != 'bacterial_culture'",
    )
    .unwrap();
    assert_eq!(c[1]["answerCoding"]["code"], "bacterial_culture");
}

#[test]
fn nested_or_unknown_skip_logic_is_not_expressed() {
    let form = form();
    for expr in [
        "(proc_imv = 1 or proc_niv = 1) and sari_pf_ratio_lowest is not empty",
        "test_pathogen = 'bacterial_culture' or (test_method = 3 and test_pathogen is empty)",
        "sex_at_birth in (2, 3) and age_years > 10",
        "outcome_date > today",
        "vs_sbp > vs_dbp",
        "no_such_field = 1",
        "sex_at_birth = 77",
        "not (sex_at_birth = 2)",
    ] {
        assert!(ew(&form, expr).is_none(), "{expr}");
    }
}

#[test]
fn datetimes_without_offset_keep_the_entered_value() {
    assert_eq!(
        fhir_datetime("2024-03-01T10:30"),
        Some(("2024-03-01".into(), Some("2024-03-01T10:30".into())))
    );
    assert_eq!(
        fhir_datetime("2024-03-01T10:30+09:00"),
        Some(("2024-03-01T10:30:00+09:00".into(), None))
    );
    assert_eq!(
        fhir_datetime("2024-03-01T10:30:05Z"),
        Some(("2024-03-01T10:30:05Z".into(), None))
    );
    assert_eq!(fhir_date("2022-03").as_deref(), Some("2022-03"));
    assert_eq!(fhir_date("yesterday"), None);
}

#[test]
fn uuids_are_well_formed_and_stable() {
    let a = uuid(&["response", "abc"]);
    assert_eq!(a, uuid(&["response", "abc"]));
    assert_ne!(a, uuid(&["response", "abd"]));
    assert_ne!(uuid(&["ab", "c"]), uuid(&["a", "bc"]));
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "8");
    assert!(is_fhir_id(&a));
    assert_eq!(computable_name("icrown-core"), "IcrownCore");
}
