//! The bundled forms against the iCROWN data dictionary (`core/reference/*.csv`): every row of
//! the core dictionary is a field of `icrown-core`, and every row of the optional dictionary a
//! field of at least one disease module, with the same attributes.

use std::collections::HashMap;
use wardcrf_core::{Catalog, Choice, FieldType, Form, FormField};

fn rows(file: &str) -> Vec<HashMap<String, String>> {
    let path = format!("{}/reference/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut reader = csv::Reader::from_path(&path).expect("dictionary present");
    let headers = reader.headers().expect("header row").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("well-formed row");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn num(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| s.parse().expect("numeric limit"))
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Checks the dictionary's choice column against the field's choices.
fn check_choices(id: &str, spec: &str, choices: &[Choice]) {
    let labels: Vec<&str> = choices.iter().map(|c| c.label.en.as_str()).collect();
    if spec.starts_with("ISO 3166-1 alpha-2") {
        assert!(choices.len() >= 240, "{id}: the whole ISO 3166-1 list");
        for (code, name) in [("JP", "Japan"), ("DE", "Germany")] {
            let c = choices
                .iter()
                .find(|c| c.code == code)
                .unwrap_or_else(|| panic!("{id}: {code}"));
            assert_eq!(c.label.en, name);
        }
        assert!(
            choices
                .iter()
                .all(|c| c.code.len() == 2 && c.code.chars().all(|ch| ch.is_ascii_uppercase()))
        );
    } else if spec.contains('=') {
        let want: Vec<(String, String)> = spec
            .split('|')
            .map(|item| {
                let (code, label) = item.split_once('=').expect("code=label");
                (code.to_string(), label.to_string())
            })
            .collect();
        let got: Vec<(String, String)> = choices
            .iter()
            .map(|c| (c.code.clone(), c.label.en.clone()))
            .collect();
        // Every dictionary choice, in the dictionary's order; the network may add choices
        // (antibiotics, Japanese antivirals, saliva) between them.
        let mut rest = got.iter();
        for w in &want {
            assert!(
                rest.any(|g| g == w),
                "{id}: choice {w:?} missing or out of the dictionary's order in {got:?}"
            );
        }
    } else {
        // A list of labels without codes, possibly naming an external list with examples:
        // "ARC Lists/outcome/Diseases.csv (e.g. COVID-19|Influenza|...)". Every named label is
        // an option; an item's trailing note in parentheses naming the source is not part of it.
        let inner = spec
            .split_once("(e.g. ")
            .map_or(spec, |(_, rest)| rest.trim_end_matches(')'));
        for item in inner.split('|') {
            let label = item.split(" (ARC").next().unwrap_or(item).trim();
            assert!(
                labels.contains(&label),
                "{id}: option '{label}' missing from {labels:?}"
            );
        }
    }
    for c in choices {
        assert!(
            c.label.missing().is_empty(),
            "{id}: choice {} lacks a translation",
            c.code
        );
    }
}

fn check_row(form: &Form, row: &HashMap<String, String>) -> Result<(), String> {
    let id = &row["field_id"];
    let f: &FormField = form
        .field(id)
        .ok_or_else(|| format!("{id} is not in the form"))?;
    assert_eq!(f.section, row["section"], "{id}: section");
    assert_eq!(f.def.label.en, row["label_en"], "{id}: English label");
    assert_eq!(f.def.label.ja, row["label_ja"], "{id}: Japanese label");
    assert_eq!(f.def.label.de, row["label_de"], "{id}: German label");
    assert_eq!(f.def.kind.name(), row["type"], "{id}: type");
    assert_eq!(f.def.unit, opt(&row["unit"]), "{id}: unit");
    let hard = f.def.hard.unwrap_or_default();
    let soft = f.def.soft.unwrap_or_default();
    assert_eq!(
        (hard.min, hard.max),
        (num(&row["hard_min"]), num(&row["hard_max"])),
        "{id}: hard limits"
    );
    assert_eq!(
        (soft.min, soft.max),
        (num(&row["soft_min"]), num(&row["soft_max"])),
        "{id}: soft limits"
    );
    assert_eq!(f.def.required, row["required"] == "y", "{id}: required");
    assert_eq!(
        f.def.identifying,
        row["identifying"] == "y",
        "{id}: identifying"
    );
    assert_eq!(
        f.group,
        opt(&row["repeating_group"]),
        "{id}: repeating group"
    );
    assert_eq!(f.def.codes.loinc, opt(&row["loinc"]), "{id}: LOINC");
    assert_eq!(f.def.codes.cdash, opt(&row["cdash"]), "{id}: CDASH");
    assert_eq!(f.def.source, opt(&row["source"]), "{id}: source");
    let is_choice = matches!(f.def.kind, FieldType::Choice | FieldType::Multichoice);
    assert_eq!(
        is_choice,
        !row["choices"].is_empty(),
        "{id}: choices present"
    );
    if is_choice {
        check_choices(id, &row["choices"], &f.choices);
    }
    Ok(())
}

#[test]
fn every_core_dictionary_row_is_in_the_core_form() {
    let catalog = Catalog::bundled().unwrap();
    let form = catalog.form("icrown-core", &[]).unwrap();
    let rows = rows("crf-dictionary.csv");
    assert_eq!(rows.len(), 100);
    for row in &rows {
        check_row(&form, row).unwrap();
    }
    // Fields beyond the dictionary are the network's own additions, and say so.
    let extra: Vec<&str> = form
        .fields()
        .iter()
        .filter(|f| !rows.iter().any(|r| r["field_id"] == f.def.id))
        .map(|f| f.def.id.as_str())
        .collect();
    for id in &extra {
        let f = form.field(id).unwrap();
        assert!(
            f.def
                .source
                .as_deref()
                .is_some_and(|s| s.starts_with("proposed")),
            "{id} is not in the dictionary, so its source must say it is proposed"
        );
    }
    assert_eq!(
        form.fields().len(),
        100 + extra.len(),
        "every dictionary row is a field"
    );
    let sections: Vec<&str> = form
        .definition()
        .sections
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(
        sections,
        [
            "admission",
            "travel",
            "covid_history",
            "comorbidities",
            "vitals",
            "pathogen_tests",
            "medications",
            "procedures",
            "outcome",
            "labs"
        ]
    );
}

#[test]
fn every_optional_dictionary_row_is_in_a_disease_module() {
    let catalog = Catalog::bundled().unwrap();
    let modules = ["sari", "mpox", "sfts-vhf", "hepatitis-child", "amr"];
    let forms: Vec<Form> = modules
        .iter()
        .map(|m| catalog.form(m, &[]).unwrap())
        .collect();
    for row in rows("crf-dictionary-optional.csv") {
        let id = &row["field_id"];
        let homes: Vec<&Form> = forms
            .iter()
            .filter(|f| f.field(id).is_some_and(|x| x.defined_by != "icrown-core"))
            .collect();
        assert!(!homes.is_empty(), "optional field {id} is in no module");
        for form in homes {
            check_row(form, &row).unwrap();
        }
    }
}
