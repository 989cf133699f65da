//! Loading and composing forms: the bundled catalog, and a broken file with every problem listed.

use wardcrf_core::{Catalog, Form, FormError};

#[test]
fn every_bundled_form_and_module_compiles_alone_and_together() {
    let catalog = Catalog::bundled().unwrap();
    let ids: Vec<&str> = catalog
        .definitions()
        .iter()
        .map(|d| d.form_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "icrown-core",
            "sari",
            "mpox",
            "sfts-vhf",
            "hepatitis-child",
            "amr",
            "entry-genome",
            "biobank",
            "follow-up"
        ]
    );
    for id in &ids {
        let form = catalog
            .form(id, &[])
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(form.fields().len() >= 100);
    }
    // A patient may be enrolled under several modules at once: all compose together.
    let all = catalog.form("icrown-core", &ids[1..]).unwrap();
    assert_eq!(all.parts().len(), ids.len());
    for def in &catalog.definitions()[1..] {
        assert!(
            all.fields().iter().any(|f| f.defined_by == def.form_id),
            "{} adds fields",
            def.form_id
        );
        assert!(
            !def.assumptions.is_empty(),
            "{} records its assumptions",
            def.form_id
        );
    }
}

#[test]
fn a_module_cannot_be_composed_with_the_wrong_core_or_twice() {
    let catalog = Catalog::bundled().unwrap();
    let mpox = catalog.get("mpox").unwrap();
    let sari = catalog.get("sari").unwrap();
    let err = Form::compose(sari, &[mpox]).unwrap_err().to_string();
    assert!(
        err.contains("is a module") && err.contains("extends 'icrown-core', not 'sari'"),
        "{err}"
    );
    let core = catalog.get("icrown-core").unwrap();
    let err = Form::compose(core, &[mpox, mpox]).unwrap_err().to_string();
    assert!(err.contains("module 'mpox': is listed twice"), "{err}");
    assert!(matches!(
        catalog.form("ebola", &[]),
        Err(FormError::UnknownForm { .. })
    ));
}

#[test]
fn a_broken_form_gets_every_problem_listed_with_its_location() {
    let json = include_str!("fixtures/broken-form.json");
    let problems = Form::from_json(json).unwrap_err().problems();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let expected = [
        "form: form_id 'Broken Form' must be lowercase letters, digits and '-'",
        "form: version '1.0' must be MAJOR.MINOR.PATCH",
        "form: title is missing in ja",
        "choice list 'ynu': choice code '1' is used twice",
        "section 'vitals' › field 'vs_temp': unit 'Celsius' is not a UCUM unit WardCRF knows",
        "section 'vitals' › field 'vs_temp': hard limits: min 45 is above max 25",
        "section 'vitals' › field 'vs_hr': cannot convert 'mg' to '/min': give a 'factor'",
        "section 'vitals' › field 'vs_hr': soft limits must lie within the hard limits",
        "section 'vitals' › field 'vs_temp': the field id is used twice",
        "section 'vitals' › field 'o2': choice list 'yes_no' does not exist",
        "section 'vitals' › field 'note': a text field cannot have a unit",
        "section 'vitals' › field 'note': partial_date is for date fields",
        "section 'vitals' › field 'o2_flow': show_if 'o2 = 7': '7' is not a code of this choice field (codes: )",
        "skip logic: show_if conditions depend on each other in a cycle",
        "rule 'dbp_below_sbp': message is missing in de",
        "rule 'dbp_below_sbp': 'vs_dbp' is not a field this rule can report on",
        "rule 'dbp_below_sbp': check 'vs_dbp < vs_sbp': 'vs_dbp' is not a field that can be used here",
    ];
    for want in expected {
        assert!(
            text.iter().any(|t| t.starts_with(want)),
            "missing problem: {want}\n got: {text:#?}"
        );
    }
    assert_eq!(text.len(), expected.len(), "{text:#?}");
}
