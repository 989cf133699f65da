//! Units as Japanese and German sites enter them: the site's default unit per field, exact
//! conversions to the canonical unit, and the guard against order-of-magnitude slips (a
//! number plausible only in another unit the field offers names that unit and its value).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use serde_json::{Value, json};
use std::collections::BTreeMap;
use wardcrf_core::{Catalog, Context, Form, IssueCode, Lang, Report, validate};

fn form(modules: &[&str]) -> std::sync::Arc<Form> {
    Catalog::bundled()
        .unwrap()
        .composed("icrown-core", modules)
        .unwrap()
}

fn site(defaults: &[(&str, &str)]) -> BTreeMap<String, String> {
    defaults
        .iter()
        .map(|(f, u)| (f.to_string(), u.to_string()))
        .collect()
}

/// Validates one lab row holding `field: value` at a site with `defaults`.
fn lab(form: &Form, field: &str, value: Value, defaults: &BTreeMap<String, String>) -> Report {
    let values =
        json!({"labs": [{"row_id": "l1", "lab_datetime": "2026-11-02T08:00", field: value}]});
    validate(
        form,
        values.as_object().unwrap(),
        &Context {
            default_units: Some(defaults),
            ..Context::default()
        },
    )
}

fn stored(r: &Report, field: &str) -> Value {
    r.values["labs"][0][field].clone()
}

fn issues(r: &Report, field: &str) -> Vec<(IssueCode, String)> {
    r.errors
        .iter()
        .chain(&r.warnings)
        .filter(|i| i.field == field)
        .map(|i| (i.code, i.message.get(Lang::En).to_string()))
        .collect()
}

#[test]
fn platelets_typed_at_a_japanese_site_are_read_in_ten_thousands_per_microlitre() {
    let form = form(&[]);
    let r = lab(
        &form,
        "lab_plt",
        json!("15.2"),
        &site(&[("lab_plt", "10*4/uL")]),
    );
    assert_eq!(issues(&r, "lab_plt"), []);
    assert_eq!(
        stored(&r, "lab_plt"),
        json!({"value": 152.0, "unit": "10*9/L", "entered": {"value": 15.2, "unit": "10*4/uL"}})
    );
    // Stored values validate again unchanged, wherever they are read (no site default).
    let again = lab(&form, "lab_plt", stored(&r, "lab_plt"), &site(&[]));
    assert_eq!(issues(&again, "lab_plt"), []);
    assert_eq!(stored(&again, "lab_plt"), stored(&r, "lab_plt"));
}

#[test]
fn the_same_number_where_the_default_is_per_litre_warns_that_it_looks_like_ten_thousands() {
    let form = form(&[]);
    let r = lab(&form, "lab_plt", json!("15.2"), &site(&[]));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let slip = r
        .warnings
        .iter()
        .find(|w| w.field == "lab_plt" && w.code == IssueCode::UnitSlip)
        .expect("a unit-slip warning");
    let likely = slip.likely_unit.as_ref().unwrap();
    assert_eq!((likely.unit.as_str(), likely.value), ("10*4/uL", 152.0));
    let en = slip.message.get(Lang::En);
    assert!(en.contains("×10⁴/µL") && en.contains("152 ×10⁹/L"), "{en}");
    assert!(slip.message.get(Lang::Ja).contains("152 ×10⁹/L"));
    assert!(slip.message.get(Lang::De).contains("152 ×10⁹/L"));
    assert_eq!(slip.confirmed, None);
    // Confirmed with a reason (a real count of 15 ×10⁹/L in SFTS), it stands.
    let confirmed = lab(
        &form,
        "lab_plt",
        json!({"value": 15.2, "confirm": "SFTS, counted twice"}),
        &site(&[]),
    );
    let w = confirmed
        .warnings
        .iter()
        .find(|w| w.code == IssueCode::UnitSlip)
        .unwrap();
    assert_eq!(w.confirmed.as_deref(), Some("SFTS, counted twice"));
    // A typical count raises nothing, nor does a low count no other unit explains.
    for quiet in [json!(152), json!(3.2)] {
        let r = lab(&form, "lab_plt", quiet.clone(), &site(&[]));
        assert!(
            !r.warnings.iter().any(|w| w.code == IssueCode::UnitSlip),
            "{quiet}: {:?}",
            r.warnings
        );
    }
}

#[test]
fn crp_at_a_site_whose_default_is_milligrams_per_decilitre_is_stored_in_milligrams_per_litre() {
    let form = form(&[]);
    let r = lab(&form, "lab_crp", json!(8.5), &site(&[("lab_crp", "mg/dL")]));
    assert_eq!(issues(&r, "lab_crp"), []);
    assert_eq!(stored(&r, "lab_crp")["value"], json!(85.0));
    assert_eq!(stored(&r, "lab_crp")["unit"], json!("mg/L"));
    // A unit given explicitly wins over the site's default.
    let r = lab(
        &form,
        "lab_crp",
        json!({"value": 8.5, "unit": "mg/L"}),
        &site(&[("lab_crp", "mg/dL")]),
    );
    assert_eq!(stored(&r, "lab_crp")["value"], json!(8.5));
}

#[test]
fn a_white_count_per_microlitre_is_not_a_bare_refusal_but_names_the_unit() {
    let form = form(&[]);
    let r = lab(&form, "lab_wbc", json!("6500"), &site(&[]));
    let error = r
        .errors
        .iter()
        .find(|e| e.field == "lab_wbc")
        .expect("impossible in ×10⁹/L");
    assert_eq!(error.code, IssueCode::HardLimit);
    let likely = error.likely_unit.as_ref().unwrap();
    assert_eq!((likely.unit.as_str(), likely.value), ("/uL", 6.5));
    let en = error.message.get(Lang::En);
    assert!(en.contains("/µL") && en.contains("6.5 ×10⁹/L"), "{en}");
    // Typed in /µL, it converts exactly.
    let r = lab(
        &form,
        "lab_wbc",
        json!({"value": 6500, "unit": "/uL"}),
        &site(&[]),
    );
    assert_eq!(issues(&r, "lab_wbc"), []);
    assert_eq!(stored(&r, "lab_wbc")["value"], json!(6.5));
}

#[test]
fn sodium_in_milliequivalents_is_millimoles() {
    let form = form(&[]);
    let r = lab(&form, "lab_na", json!(138), &site(&[("lab_na", "meq/L")]));
    assert_eq!(issues(&r, "lab_na"), []);
    assert_eq!(stored(&r, "lab_na")["value"], json!(138.0));
    assert_eq!(stored(&r, "lab_na")["entered"]["unit"], json!("meq/L"));
}

#[test]
fn a_default_unit_the_field_does_not_offer_is_ignored_at_entry_and_refused_as_a_setting() {
    let form = form(&[]);
    let odd = site(&[("lab_plt", "mg/dL")]);
    let r = lab(&form, "lab_plt", json!(152), &odd);
    assert_eq!(stored(&r, "lab_plt")["value"], json!(152.0));
    let e = form.check_default_units(&odd).unwrap_err().to_string();
    assert!(e.contains("mg/dL") && e.contains("10*4/uL"), "{e}");
    assert!(
        form.check_default_units(&site(&[("no_such", "mg/dL")]))
            .is_err()
    );
    assert!(
        form.check_default_units(&site(&[("vs_jcs", "mg/dL")]))
            .is_err()
    );
    assert!(
        form.check_default_units(&site(&[("lab_plt", "10*4/uL"), ("lab_crp", "mg/dL")]))
            .is_ok()
    );
}
