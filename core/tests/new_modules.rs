//! The content of issue 17: the entry genome surveillance, sample/biobank and follow-up
//! modules, and the per-agent susceptibility and MRGN items of the AMR module. They compose
//! with the core form and with every other module, their texts are complete in en/ja/de, their
//! standard codes are the verified ones, and each of their rules fires on the answers it is
//! about and stays quiet otherwise.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use wardcrf_core::{
    Catalog, Choices, CodeSystem, Context, Field, Form, FormDefinition, Item, Report, Text,
    validate,
};

const NEW: [&str; 3] = ["entry-genome", "biobank", "follow-up"];

/// The fields the AMR module gained in version 1.1.0.
const AMR_NEW: [&str; 13] = [
    "amr_mrgn",
    "amr_agent_test_row",
    "amr_agent_organism",
    "amr_agent_organism_other",
    "amr_agent",
    "amr_agent_other",
    "amr_agent_method",
    "amr_agent_mic_qualifier",
    "amr_agent_mic",
    "amr_agent_zone",
    "amr_agent_sir",
    "amr_agent_standard",
    "amr_agent_standard_version",
];

fn catalog() -> Catalog {
    Catalog::bundled().expect("bundled forms load")
}

fn form(modules: &[&str]) -> Form {
    catalog()
        .form("icrown-core", modules)
        .unwrap_or_else(|e| panic!("{modules:?}: {e}"))
}

fn check(form: &Form, values: Value) -> Report {
    validate(
        form,
        values.as_object().expect("an object"),
        &Context {
            ..Default::default()
        },
    )
}

/// Where a rule was reported: `(field, row, warning)`, errors first.
fn fired(report: &Report, rule: &str) -> Vec<(String, Option<usize>, bool)> {
    let on = |list: &[wardcrf_core::Issue], warning: bool| {
        list.iter()
            .filter(|i| i.rule.as_deref() == Some(rule))
            .map(|i| (i.field.clone(), i.row, warning))
            .collect::<Vec<_>>()
    };
    let mut all = on(&report.errors, false);
    all.extend(on(&report.warnings, true));
    all
}

fn fires(report: &Report, rule: &str) -> bool {
    !fired(report, rule).is_empty()
}

/// `(field, row, warning)` for case-level fields.
fn at(fields: &[&str], warning: bool) -> Vec<(String, Option<usize>, bool)> {
    fields
        .iter()
        .map(|f| (f.to_string(), None, warning))
        .collect()
}

/// Every field of a definition, with whether it sits in a repeating group.
fn fields_of(def: &FormDefinition) -> Vec<&Field> {
    def.sections
        .iter()
        .flat_map(|s| s.items.iter())
        .flat_map(|i| match i {
            Item::Field(f) => vec![f],
            Item::Group(g) => g.fields.iter().collect(),
        })
        .collect()
}

fn merge(base: &Value, extra: Value) -> Value {
    let mut v = base.clone();
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

// --- Composition, texts, sources, codes -------------------------------------------------------

#[test]
fn the_new_modules_are_bundled_and_compose_alone_with_each_other_and_with_all() {
    let catalog = catalog();
    for id in NEW {
        let def = catalog.get(id).unwrap();
        assert_eq!(def.version, "1.0.0", "{id}");
        assert_eq!(def.extends.as_deref(), Some("icrown-core"), "{id}");
        assert!(!def.assumptions.is_empty(), "{id} records its assumptions");
        let alone = catalog
            .form(id, &[])
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(alone.fields().iter().any(|f| f.defined_by == id), "{id}");
    }
    assert_eq!(catalog.get("amr").unwrap().version, "1.1.0");
    // Every pair of modules, new and old.
    let modules: Vec<&str> = catalog
        .definitions()
        .iter()
        .filter(|d| d.extends.as_deref() == Some("icrown-core"))
        .map(|d| d.form_id.as_str())
        .collect();
    for a in NEW {
        for b in &modules {
            catalog
                .form("icrown-core", &[a, b])
                .unwrap_or_else(|e| panic!("{a} + {b}: {e}"));
        }
    }
    // All of them at once, in either order: the repository's export form.
    let all = catalog.form("icrown-core", &modules).unwrap();
    assert_eq!(all.parts().len(), catalog.definitions().len());
    let mut reversed = modules.clone();
    reversed.reverse();
    let back = catalog.form("icrown-core", &reversed).unwrap();
    assert_eq!(back.fields().len(), all.fields().len());
    for id in NEW.iter().copied().chain(["amr"]) {
        assert!(all.fields().iter().any(|f| f.defined_by == id), "{id}");
    }
}

#[test]
fn new_ids_are_used_by_no_other_form() {
    let catalog = catalog();
    let mut owners: HashMap<String, Vec<&str>> = HashMap::new();
    let mut groups: HashMap<String, Vec<&str>> = HashMap::new();
    let mut rules: HashMap<String, Vec<&str>> = HashMap::new();
    for def in catalog.definitions() {
        for f in fields_of(def) {
            owners.entry(f.id.clone()).or_default().push(&def.form_id);
        }
        for s in &def.sections {
            for i in &s.items {
                if let Item::Group(g) = i {
                    groups.entry(g.id.clone()).or_default().push(&def.form_id);
                }
            }
        }
        for r in &def.rules {
            rules.entry(r.id.clone()).or_default().push(&def.form_id);
        }
    }
    let mut new_fields: Vec<String> = NEW
        .iter()
        .flat_map(|id| fields_of(catalog.get(id).unwrap()))
        .map(|f| f.id.clone())
        .collect();
    new_fields.extend(AMR_NEW.iter().map(|s| s.to_string()));
    for id in &new_fields {
        assert_eq!(owners[id].len(), 1, "{id} is defined by {:?}", owners[id]);
    }
    for (id, by) in groups
        .iter()
        .filter(|(g, _)| ["biobank_samples", "followup_cps", "amr_agents"].contains(&g.as_str()))
    {
        assert_eq!(by.len(), 1, "group {id}: {by:?}");
    }
    for (id, by) in &rules {
        assert_eq!(by.len(), 1, "rule {id} is used by {by:?}");
    }
    // The new field ids carry their module's prefix.
    for (module, prefix) in [
        ("entry-genome", "entry_"),
        ("biobank", "biobank_"),
        ("follow-up", "followup_"),
    ] {
        for f in fields_of(catalog.get(module).unwrap()) {
            assert!(f.id.starts_with(prefix), "{module}: {}", f.id);
        }
    }
}

fn japanese(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}'))
}

fn complete(what: &str, t: &Text) {
    assert!(t.missing().is_empty(), "{what}: missing {:?}", t.missing());
    for s in [&t.en, &t.ja, &t.de] {
        assert_eq!(s.trim(), s, "{what}: surrounding spaces");
    }
}

/// A sentence or a field label: written in Japanese, and in German rather than English.
fn translated(what: &str, t: &Text) {
    complete(what, t);
    assert!(
        japanese(&t.ja),
        "{what}: the Japanese text is not Japanese: {}",
        t.ja
    );
    assert_ne!(t.de, t.en, "{what}: the German text is the English one");
}

#[test]
fn texts_are_complete_and_translated_in_all_three_languages() {
    let catalog = catalog();
    for id in NEW {
        let def = catalog.get(id).unwrap();
        translated(&format!("{id} title"), &def.title);
        translated(
            &format!("{id} description"),
            def.description.as_ref().unwrap(),
        );
        for s in &def.sections {
            translated(&format!("{id} section {}", s.id), &s.label);
            if let Some(h) = &s.help {
                translated(&format!("{id} section {} help", s.id), h);
            }
            for i in &s.items {
                if let Item::Group(g) = i {
                    complete(&format!("{id} group {}", g.id), &g.label);
                    assert!(japanese(&g.label.ja), "{}", g.id);
                    if let Some(h) = &g.help {
                        translated(&format!("{id} group {} help", g.id), h);
                    }
                }
            }
        }
        for r in &def.rules {
            translated(&format!("{id} rule {}", r.id), &r.message);
        }
    }
    let amr = catalog.get("amr").unwrap();
    let new_fields: Vec<&Field> = NEW
        .iter()
        .flat_map(|id| fields_of(catalog.get(id).unwrap()))
        .chain(
            fields_of(amr)
                .into_iter()
                .filter(|f| AMR_NEW.contains(&f.id.as_str())),
        )
        .collect();
    assert_eq!(
        new_fields.len(),
        NEW.iter()
            .map(|id| fields_of(catalog.get(id).unwrap()).len())
            .sum::<usize>()
            + AMR_NEW.len()
    );
    for f in &new_fields {
        complete(&f.id, &f.label);
        assert!(japanese(&f.label.ja), "{}: {}", f.id, f.label.ja);
        if let Some(h) = &f.help {
            translated(&format!("{} help", f.id), h);
        }
        if let Some(Choices::Inline(list)) = &f.choices {
            for c in list {
                complete(&format!("{} choice {}", f.id, c.code), &c.label);
            }
        }
    }
    for r in amr
        .rules
        .iter()
        .filter(|r| r.id.starts_with("amr_agent") || r.id.contains("mrgn"))
    {
        translated(&format!("amr rule {}", r.id), &r.message);
    }
}

#[test]
fn every_new_field_says_it_is_proposed_and_none_is_identifying() {
    let catalog = catalog();
    let amr = catalog.get("amr").unwrap();
    let fields = NEW
        .iter()
        .flat_map(|id| fields_of(catalog.get(id).unwrap()))
        .chain(
            fields_of(amr)
                .into_iter()
                .filter(|f| AMR_NEW.contains(&f.id.as_str())),
        );
    let mut quasi = Vec::new();
    for f in fields {
        let source = f.source.as_deref().unwrap_or_default();
        assert!(source.starts_with("proposed"), "{}: {source}", f.id);
        assert!(!f.identifying, "{}", f.id);
        if f.quasi_identifying {
            quasi.push(f.id.as_str());
        }
    }
    // Places in free text, public sequence records, and the biobank's sample pseudonym.
    quasi.sort_unstable();
    assert_eq!(
        quasi,
        [
            "biobank_sample_id",
            "entry_gisaid_accession",
            "entry_insdc_accession",
            "entry_port_other"
        ]
    );
}

/// Inline choice codes of a field with their standard code in `system`.
fn coded(form: &Form, field: &str, system: CodeSystem) -> BTreeMap<String, String> {
    form.field(field)
        .unwrap()
        .choices
        .iter()
        .filter_map(|c| c.codes.get(system).map(|x| (c.code.clone(), x.to_string())))
        .collect()
}

fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn standard_codes_are_the_verified_ones() {
    let all = form(&["entry-genome", "biobank", "follow-up", "amr"]);
    // Every code on a new field or choice has its system's shape (the loader checks it too).
    let catalog = catalog();
    let amr = catalog.get("amr").unwrap();
    for f in NEW
        .iter()
        .flat_map(|id| fields_of(catalog.get(id).unwrap()))
        .chain(
            fields_of(amr)
                .into_iter()
                .filter(|f| AMR_NEW.contains(&f.id.as_str())),
        )
    {
        let field = all.field(&f.id).unwrap();
        let codes = f
            .codes
            .coded()
            .chain(field.choices.iter().flat_map(|c| c.codes.coded()));
        for (system, code) in codes {
            assert!(system.check(code), "{}: {code}", f.id);
        }
    }
    // Organisms: SNOMED CT organism concepts.
    assert_eq!(
        coded(&all, "amr_agent_organism", CodeSystem::Snomed),
        table(&[
            ("a_baumannii", "91288006"),
            ("c_freundii", "6265002"),
            ("e_cloacae", "14385002"),
            ("e_coli", "112283007"),
            ("e_faecalis", "78065002"),
            ("e_faecium", "90272000"),
            ("k_aerogenes", "62592009"),
            ("k_oxytoca", "40886007"),
            ("k_pneumoniae", "56415008"),
            ("p_aeruginosa", "52499004"),
            ("p_mirabilis", "73457008"),
            ("s_aureus", "3092008"),
            ("s_maltophilia", "113697002"),
            ("s_marcescens", "33522002"),
            ("s_pneumoniae", "9861002"),
        ])
    );
    // Agents: the choice code is the WHO ATC code, as in the core medication list.
    let agents = coded(&all, "amr_agent", CodeSystem::Atc);
    assert!(agents.iter().all(|(code, atc)| code == atc));
    let field = all.field("amr_agent").unwrap();
    assert_eq!(
        agents.len() + 1,
        field.choices.len(),
        "all but OTHER are coded"
    );
    let label = |atc: &str| field.choice_label(atc).unwrap().en.clone();
    for (atc, name) in [
        ("J01DH02", "Meropenem"),
        ("J01DH51", "Imipenem/cilastatin"),
        ("J01CR05", "Piperacillin/tazobactam"),
        ("J01CA12", "Piperacillin"),
        ("J01DD01", "Cefotaxime"),
        ("J01DD02", "Ceftazidime"),
        ("J01DD04", "Ceftriaxone"),
        ("J01DE01", "Cefepime"),
        ("J01MA02", "Ciprofloxacin"),
        ("J01MA12", "Levofloxacin"),
        ("J01GB03", "Gentamicin"),
        ("J01GB06", "Amikacin"),
        ("J01XA01", "Vancomycin"),
        ("J01XX08", "Linezolid"),
        ("J01XB01", "Colistin"),
        ("J01CF04", "Oxacillin"),
        ("J01CA01", "Ampicillin"),
        ("J01EE01", "Trimethoprim/sulfamethoxazole"),
        ("J01AA12", "Tigecycline"),
        ("J01DD52", "Ceftazidime/avibactam"),
    ] {
        assert_eq!(label(atc), name, "{atc}");
    }
    // Vital status: SNOMED CT findings.
    for f in ["followup_d28_status", "followup_d90_status"] {
        assert_eq!(
            coded(&all, f, CodeSystem::Snomed),
            table(&[("1", "438949009"), ("2", "419099009"), ("3", "399307001")]),
            "{f}"
        );
    }
    // The sequenced pathogen reuses the core pathogen list's organism codes.
    let core = coded(&all, "test_pathogen", CodeSystem::Snomed);
    let entry = coded(&all, "entry_seq_pathogen", CodeSystem::Snomed);
    assert_eq!(entry.len(), 5);
    for code in entry.values() {
        assert!(core.values().any(|c| c == code), "{code}");
    }
}

#[test]
fn units_limits_and_skip_logic_of_the_susceptibility_rows() {
    let amr = form(&["amr"]);
    let row = |extra: Value| {
        merge(
            &json!({"amr_agent_test_row": 1, "amr_agent_organism": "e_coli", "amr_agent": "J01DH02",
                    "amr_agent_sir": "S"}),
            extra,
        )
    };
    // µg/mL is the same number in mg/L.
    let r = check(
        &amr,
        json!({"amr_agents": [row(json!({"amr_agent_mic": {"value": 0.125, "unit": "ug/mL"}}))]}),
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.values["amr_agents"][0]["amr_agent_mic"]["value"], 0.125);
    assert_eq!(r.values["amr_agents"][0]["amr_agent_mic"]["unit"], "mg/L");
    // An MIC of 0 is impossible; above 1024 mg/L needs a confirmation.
    let r = check(
        &amr,
        json!({"amr_agents": [row(json!({"amr_agent_mic": 0}))]}),
    );
    assert!(r.errors.iter().any(|i| i.field == "amr_agent_mic"));
    let r = check(
        &amr,
        json!({"amr_agents": [row(json!({"amr_agent_mic": 2048}))]}),
    );
    assert!(r.errors.is_empty());
    assert!(r.warnings.iter().any(|i| i.field == "amr_agent_mic"));
    // Disc diffusion records the zone, not an MIC.
    let r = check(
        &amr,
        json!({"amr_agents": [row(json!({"amr_agent_method": "disc", "amr_agent_mic": 1, "amr_agent_zone": 22}))]}),
    );
    assert!(r.hidden.iter().any(|i| i.field == "amr_agent_mic"));
    assert!(!r.hidden.iter().any(|i| i.field == "amr_agent_zone"));
    let r = check(
        &amr,
        json!({"amr_agents": [row(json!({"amr_agent_method": "bmd", "amr_agent_zone": 22}))]}),
    );
    assert!(r.hidden.iter().any(|i| i.field == "amr_agent_zone"));
    // The version of the breakpoint table only for EUCAST and CLSI.
    let r = check(
        &amr,
        json!({"amr_agents": [row(json!({"amr_agent_standard": "unknown", "amr_agent_standard_version": "v15.0"}))]}),
    );
    assert!(
        r.hidden
            .iter()
            .any(|i| i.field == "amr_agent_standard_version")
    );
    // The MRGN class sits in the pathogen test rows of bacterial cultures only.
    let r = check(
        &amr,
        json!({"pathogen_tests": [{"test_pathogen": "sars_cov_2", "amr_mrgn": "3mrgn"}]}),
    );
    assert!(r.hidden.iter().any(|i| i.field == "amr_mrgn"));
    assert!(!amr.field("amr_mrgn").unwrap().required);
    assert_eq!(
        amr.field("amr_mrgn").unwrap().group.as_deref(),
        Some("pathogen_tests")
    );
    // Completing a case asks for the organism, agent and interpretation of every row.
    let r = validate(
        &amr,
        json!({"amr_agents": [{"amr_agent_test_row": 1}]})
            .as_object()
            .unwrap(),
        &Context {
            completing: true,
            ..Default::default()
        },
    );
    for f in ["amr_agent_organism", "amr_agent", "amr_agent_sir"] {
        assert!(r.errors.iter().any(|i| i.field == f), "{f}");
    }
}

// --- Entry genome surveillance ----------------------------------------------------------------

fn entry(extra: Value) -> Value {
    merge(
        &json!({"admission_date": "2024-03-12", "travel_14d": 1, "entry_arrival_date": "2024-03-10",
                "entry_port": "NRT", "entry_seq_status": "done", "entry_seq_pathogen": "sars_cov_2",
                "entry_seq_specimen": "saliva", "entry_seq_sample_date": "2024-03-10"}),
        extra,
    )
}

#[test]
fn entry_sample_dates_are_checked_against_arrival() {
    let f = form(&["entry-genome"]);
    let quiet = check(&f, entry(json!({})));
    assert!(
        quiet.errors.is_empty() && quiet.warnings.is_empty(),
        "{:?} {:?}",
        quiet.errors,
        quiet.warnings
    );
    // A day before arrival: an error on both dates.
    let r = check(&f, entry(json!({"entry_seq_sample_date": "2024-03-09"})));
    assert_eq!(
        fired(&r, "entry_sample_not_before_arrival"),
        at(&["entry_seq_sample_date", "entry_arrival_date"], false)
    );
    // 21 days after arrival is still fine, 22 a warning.
    let r = check(&f, entry(json!({"entry_seq_sample_date": "2024-03-31"})));
    assert!(!fires(&r, "entry_sample_within_21_days"));
    let r = check(&f, entry(json!({"entry_seq_sample_date": "2024-04-01"})));
    assert_eq!(
        fired(&r, "entry_sample_within_21_days"),
        at(&["entry_seq_sample_date", "entry_arrival_date"], true)
    );
    // A sample month before the arrival month is decided; the same month is not.
    let r = check(&f, entry(json!({"entry_seq_sample_date": "2024-02"})));
    assert!(r.errors.iter().any(|i| i.field == "entry_seq_sample_date"));
    // Not sequenced: the sample fields are hidden and their dates are not compared.
    let r = check(
        &f,
        entry(json!({"entry_seq_status": "not_done", "entry_seq_sample_date": "2024-03-01"})),
    );
    assert!(!fires(&r, "entry_sample_not_before_arrival"));
    assert!(r.hidden.iter().any(|i| i.field == "entry_seq_sample_date"));
}

#[test]
fn entry_arrival_is_not_after_admission() {
    let f = form(&["entry-genome"]);
    let r = check(
        &f,
        entry(json!({"entry_arrival_date": "2024-03-13", "entry_seq_sample_date": "2024-03-13"})),
    );
    assert_eq!(
        fired(&r, "entry_arrival_not_after_admission"),
        at(&["entry_arrival_date", "admission_date"], false)
    );
    let r = check(
        &f,
        entry(json!({"entry_arrival_date": "2024-03-12", "entry_seq_sample_date": "2024-03-12"})),
    );
    assert!(!fires(&r, "entry_arrival_not_after_admission"));
    // Without an admission date the rule does not fire.
    let mut v =
        entry(json!({"entry_arrival_date": "2024-03-13", "entry_seq_sample_date": "2024-03-13"}));
    v.as_object_mut().unwrap().remove("admission_date");
    assert!(!fires(&check(&f, v), "entry_arrival_not_after_admission"));
    // Entry screening (not admitted): the arrival is compared with the date of presentation,
    // and the admission date is not asked.
    let screened = |arrival: &str| {
        entry(json!({"care_setting": 4, "presentation_date": "2024-03-10",
                     "entry_arrival_date": arrival, "entry_seq_sample_date": "2024-03-11"}))
    };
    let r = check(&f, screened("2024-03-11"));
    assert_eq!(
        fired(&r, "entry_arrival_not_after_presentation"),
        at(&["entry_arrival_date", "presentation_date"], false)
    );
    assert!(!fires(&r, "entry_arrival_not_after_admission"));
    assert!(r.hidden.iter().any(|i| i.field == "admission_date"));
    let r = check(&f, screened("2024-03-10"));
    assert!(!fires(&r, "entry_arrival_not_after_presentation"));
    // Their travel window ends at the presentation.
    let mut v = screened("2024-03-10");
    v["travel_14d"] = json!(0);
    assert!(fires(&check(&f, v), "entry_travel_answer_consistent"));
}

#[test]
fn entry_contradicting_the_travel_answer_is_a_warning() {
    let f = form(&["entry-genome"]);
    assert!(f.field("travel_14d").unwrap().required);
    let rule = "entry_travel_answer_consistent";
    // No onset: the window is the 14 days before admission (arrival 2 days before).
    let r = check(&f, entry(json!({"travel_14d": 0})));
    assert_eq!(
        fired(&r, rule),
        at(&["travel_14d", "entry_arrival_date"], true)
    );
    let r = check(&f, entry(json!({"travel_14d": 1})));
    assert!(!fires(&r, rule));
    // Arrival 20 days before admission, no onset: outside the window.
    let r = check(
        &f,
        entry(
            json!({"travel_14d": 0, "entry_arrival_date": "2024-02-21", "entry_seq_sample_date": "2024-02-21"}),
        ),
    );
    assert!(!fires(&r, rule));
    // With an onset, the window is the 14 days before onset: arrival 9 days before onset.
    let v = json!({"travel_14d": 0, "entry_arrival_date": "2024-02-01", "entry_seq_sample_date": "2024-02-01",
                   "symptom_onset_date": "2024-02-10"});
    assert!(fires(&check(&f, entry(v)), rule));
    // Onset abroad, before arrival: the patient was abroad in the window.
    let v = json!({"travel_14d": 0, "symptom_onset_date": "2024-03-01"});
    assert!(fires(&check(&f, entry(v)), rule));
    // Onset 30 days after arrival.
    let v = json!({"travel_14d": 0, "entry_arrival_date": "2024-02-01", "entry_seq_sample_date": "2024-02-01",
                   "symptom_onset_date": "2024-03-02"});
    assert!(!fires(&check(&f, entry(v)), rule));
}

// --- Samples and biobank ----------------------------------------------------------------------

fn sample(extra: Value) -> Value {
    merge(
        &json!({"biobank_sample_id": "BB-000123", "biobank_sample_type": "plasma",
                "biobank_collection_datetime": "2024-03-12T09:30"}),
        extra,
    )
}

fn biobank_case(consent: Value, rows: Vec<Value>) -> Value {
    merge(
        &json!({"admission_date": "2024-03-12", "consent_status": 1, "biobank_site_country": "JP",
                "biobank_samples": rows}),
        consent,
    )
}

#[test]
fn a_dna_sample_without_genome_consent_is_a_warning() {
    let f = form(&["biobank"]);
    let rule = "biobank_dna_needs_genome_consent";
    let rows = || {
        vec![
            sample(json!({})),
            sample(json!({"biobank_sample_type": "dna"})),
        ]
    };
    // Secondary use only: the DNA row (the second) warns, on the sample and on the scope.
    let r = check(
        &f,
        biobank_case(json!({"consent_scope": ["secondary_use"]}), rows()),
    );
    assert_eq!(
        fired(&r, rule),
        [
            ("biobank_sample_type".to_string(), Some(1), true),
            ("consent_scope".to_string(), None, true)
        ]
    );
    // An empty scope is secondary use only; a waiver hides the scope: both warn.
    assert!(fires(&check(&f, biobank_case(json!({}), rows())), rule));
    assert!(fires(
        &check(&f, biobank_case(json!({"consent_status": 2}), rows())),
        rule
    ));
    // Genome analysis consented: quiet.
    let r = check(
        &f,
        biobank_case(
            json!({"consent_scope": ["secondary_use", "genome"]}),
            rows(),
        ),
    );
    assert!(!fires(&r, rule));
    // No DNA: quiet.
    let r = check(&f, biobank_case(json!({}), vec![sample(json!({}))]));
    assert!(!fires(&r, rule));
}

#[test]
fn a_shipment_between_japan_and_germany_needs_transfer_consent() {
    let f = form(&["biobank"]);
    let rule = "biobank_transfer_needs_consent";
    let shipped = |dest: Value| {
        sample(merge(
            &json!({"biobank_shipped": true, "biobank_ship_date": "2024-03-20"}),
            dest,
        ))
    };
    let case = |site: &str, scope: Value, dest: Value| {
        let mut v = biobank_case(json!({"consent_scope": scope}), vec![shipped(dest)]);
        v["biobank_site_country"] = json!(site);
        v
    };
    let no = json!(["secondary_use"]);
    let yes = json!(["secondary_use", "jp_de_transfer"]);
    // From Japan to the NUM central biobank, from Germany to JIHS: errors without consent.
    let r = check(
        &f,
        case("JP", no.clone(), json!({"biobank_ship_destination": "num"})),
    );
    assert_eq!(
        fired(&r, rule),
        [
            ("biobank_ship_destination".to_string(), Some(0), false),
            ("consent_scope".to_string(), None, false),
            ("biobank_site_country".to_string(), None, false)
        ]
    );
    assert!(fires(
        &check(
            &f,
            case(
                "DE",
                no.clone(),
                json!({"biobank_ship_destination": "jihs"})
            )
        ),
        rule
    ));
    // Another institution in the other country.
    let other = |country: &str| {
        json!({"biobank_ship_destination": "other", "biobank_ship_destination_other": "Institut X",
               "biobank_ship_country": country})
    };
    assert!(fires(&check(&f, case("DE", no.clone(), other("JP"))), rule));
    assert!(!fires(
        &check(&f, case("DE", no.clone(), other("FR"))),
        rule
    ));
    assert!(!fires(
        &check(&f, case("DE", no.clone(), other("DE"))),
        rule
    ));
    // Within the country: quiet.
    assert!(!fires(
        &check(
            &f,
            case(
                "JP",
                no.clone(),
                json!({"biobank_ship_destination": "jihs"})
            )
        ),
        rule
    ));
    assert!(!fires(
        &check(
            &f,
            case("DE", no.clone(), json!({"biobank_ship_destination": "num"}))
        ),
        rule
    ));
    // With the transfer consented: quiet.
    assert!(!fires(
        &check(
            &f,
            case("JP", yes, json!({"biobank_ship_destination": "num"}))
        ),
        rule
    ));
    // Not shipped: the shipment fields are hidden and nothing fires.
    let mut v = case("JP", no, json!({"biobank_ship_destination": "num"}));
    v["biobank_samples"][0]["biobank_shipped"] = json!(false);
    let r = check(&f, v);
    assert!(!fires(&r, rule));
    assert!(
        r.hidden
            .iter()
            .any(|i| i.field == "biobank_ship_destination")
    );
}

#[test]
fn samples_after_a_withdrawal_of_consent_are_warnings() {
    let f = form(&["biobank"]);
    let withdrawn = json!({"consent_withdrawn": true, "consent_withdrawal_date": "2024-03-15"});
    // Collected the day after the withdrawal.
    let r = check(
        &f,
        biobank_case(
            withdrawn.clone(),
            vec![sample(
                json!({"biobank_collection_datetime": "2024-03-16T08:00"}),
            )],
        ),
    );
    assert_eq!(
        fired(&r, "biobank_collected_after_withdrawal"),
        [
            ("biobank_collection_datetime".to_string(), Some(0), true),
            ("consent_withdrawal_date".to_string(), None, true)
        ]
    );
    // Collected on the day of the withdrawal (possibly before it), or earlier: quiet.
    let r = check(
        &f,
        biobank_case(
            withdrawn.clone(),
            vec![sample(
                json!({"biobank_collection_datetime": "2024-03-15T23:00"}),
            )],
        ),
    );
    assert!(!fires(&r, "biobank_collected_after_withdrawal"));
    // Shipped after the withdrawal.
    let shipped = sample(
        json!({"biobank_shipped": true, "biobank_ship_date": "2024-03-20",
                                "biobank_ship_destination": "jihs"}),
    );
    let r = check(&f, biobank_case(withdrawn, vec![shipped.clone()]));
    assert_eq!(
        fired(&r, "biobank_shipped_after_withdrawal"),
        [
            ("biobank_ship_date".to_string(), Some(0), true),
            ("consent_withdrawal_date".to_string(), None, true)
        ]
    );
    // Consent not withdrawn: quiet.
    let r = check(
        &f,
        biobank_case(json!({"consent_withdrawn": false}), vec![shipped]),
    );
    assert!(!fires(&r, "biobank_shipped_after_withdrawal"));
    assert!(!fires(&r, "biobank_collected_after_withdrawal"));
}

#[test]
fn samples_under_a_waiver_and_sample_dates_and_processing_are_checked() {
    let f = form(&["biobank"]);
    // A waiver: every sample row asks to check the protocol.
    let r = check(
        &f,
        biobank_case(
            json!({"consent_status": 2}),
            vec![sample(json!({})), sample(json!({}))],
        ),
    );
    let rows: Vec<Option<usize>> = fired(&r, "biobank_sample_under_waiver")
        .into_iter()
        .filter(|(f, _, _)| f == "biobank_sample_type")
        .map(|(_, row, _)| row)
        .collect();
    assert_eq!(rows, [Some(0), Some(1)]);
    assert!(!fires(
        &check(&f, biobank_case(json!({}), vec![sample(json!({}))])),
        "biobank_sample_under_waiver"
    ));
    // Shipped before it was collected: an error.
    let row = sample(
        json!({"biobank_shipped": true, "biobank_ship_date": "2024-03-11",
                            "biobank_ship_destination": "jihs"}),
    );
    let r = check(&f, biobank_case(json!({}), vec![row]));
    assert!(fires(&r, "biobank_ship_not_before_collection"));
    let row = sample(
        json!({"biobank_shipped": true, "biobank_ship_date": "2024-03-12",
                            "biobank_ship_destination": "jihs"}),
    );
    assert!(!fires(
        &check(&f, biobank_case(json!({}), vec![row])),
        "biobank_ship_not_before_collection"
    ));
    // Collected before admission: a warning.
    let row = sample(json!({"biobank_collection_datetime": "2024-03-11T23:50"}));
    let r = check(&f, biobank_case(json!({}), vec![row]));
    assert_eq!(
        fired(&r, "biobank_collection_not_before_admission"),
        [
            ("biobank_collection_datetime".to_string(), Some(0), true),
            ("admission_date".to_string(), None, true)
        ]
    );
    // 'None' excludes the processing steps.
    let rule = "biobank_processing_none_exclusive";
    let with = |p: Value| {
        check(
            &f,
            biobank_case(json!({}), vec![sample(json!({"biobank_processing": p}))]),
        )
    };
    assert!(fires(&with(json!(["none", "frozen_minus_80"])), rule));
    assert!(!fires(&with(json!(["none"])), rule));
    assert!(!fires(
        &with(json!(["centrifuged", "aliquoted", "frozen_minus_80"])),
        rule
    ));
    // Aliquots: never negative, more than 50 confirmed.
    let r = with(json!(["aliquoted"]));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let r = check(
        &f,
        biobank_case(json!({}), vec![sample(json!({"biobank_aliquots": -1}))]),
    );
    assert!(r.errors.iter().any(|i| i.field == "biobank_aliquots"));
    let r = check(
        &f,
        biobank_case(json!({}), vec![sample(json!({"biobank_aliquots": 60}))]),
    );
    assert!(r.warnings.iter().any(|i| i.field == "biobank_aliquots"));
    // The test row is a number as the list shows it: 1 to 200.
    let r = check(
        &f,
        biobank_case(json!({}), vec![sample(json!({"biobank_test_row": 0}))]),
    );
    assert!(r.errors.iter().any(|i| i.field == "biobank_test_row"));
    let r = check(
        &f,
        biobank_case(json!({}), vec![sample(json!({"biobank_test_row": 3}))]),
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

// --- Follow-up --------------------------------------------------------------------------------

/// Admission on 1 January 2024 (day 0): day 28 is 29 January, day 90 is 31 March.
fn follow(extra: Value) -> Value {
    merge(
        &json!({"admission_date": "2024-01-01", "outcome": 1, "outcome_date": "2024-01-10"}),
        extra,
    )
}

#[test]
fn follow_up_statuses_agree_with_each_other_and_with_the_date_of_death() {
    let f = form(&["follow-up"]);
    let alive = json!({"followup_d28_status": 1, "followup_d28_last_alive_date": "2024-01-29",
                       "followup_d90_status": 1, "followup_d90_last_alive_date": "2024-03-31"});
    let r = check(&f, follow(alive));
    assert!(
        r.errors.is_empty() && r.warnings.is_empty(),
        "{:?} {:?}",
        r.errors,
        r.warnings
    );

    // Dead at day 28, then alive or lost at day 90: an error.
    let rule = "followup_d90_dead_after_d28_dead";
    for d90 in [1, 3] {
        let r = check(
            &f,
            follow(
                json!({"followup_d28_status": 2, "followup_death_date": "2024-01-20",
                          "followup_d90_status": d90, "followup_d90_last_alive_date": "2024-01-15"}),
            ),
        );
        assert_eq!(
            fired(&r, rule),
            at(&["followup_d90_status", "followup_d28_status"], false),
            "{d90}"
        );
    }
    let dead = |date: &str| json!({"followup_d28_status": 2, "followup_d90_status": 2, "followup_death_date": date});
    assert!(!fires(&check(&f, follow(dead("2024-01-20"))), rule));
    assert!(!fires(
        &check(&f, follow(json!({"followup_d28_status": 2}))),
        rule
    ));

    // Dead by day 28: death on day 28 fits, on day 29 does not.
    let rule = "followup_d28_dead_within_28_days";
    assert!(!fires(&check(&f, follow(dead("2024-01-29"))), rule));
    let r = check(&f, follow(dead("2024-01-30")));
    assert_eq!(
        fired(&r, rule),
        at(
            &[
                "followup_death_date",
                "followup_d28_status",
                "admission_date"
            ],
            false
        )
    );
    // Alive (or lost) at day 28 and dead by day 90: death after day 28.
    let rule = "followup_d28_alive_death_after_day_28";
    let later = |d28: u8, date: &str| {
        json!({"followup_d28_status": d28, "followup_d28_last_alive_date": "2024-01-20",
               "followup_d90_status": 2, "followup_death_date": date})
    };
    assert!(fires(&check(&f, follow(later(1, "2024-01-29"))), rule));
    assert!(fires(&check(&f, follow(later(3, "2024-01-25"))), rule));
    assert!(!fires(&check(&f, follow(later(1, "2024-01-30"))), rule));
    // Dead by day 90: day 90 fits, day 91 does not.
    let rule = "followup_d90_dead_within_90_days";
    let d90 = |date: &str| {
        json!({"followup_d28_status": 1, "followup_d28_last_alive_date": "2024-01-29",
               "followup_d90_status": 2, "followup_death_date": date})
    };
    assert!(!fires(&check(&f, follow(d90("2024-03-31"))), rule));
    assert!(fires(&check(&f, follow(d90("2024-04-01"))), rule));
    // Never before admission.
    let r = check(&f, follow(dead("2023-12-31")));
    assert_eq!(
        fired(&r, "followup_death_not_before_admission"),
        at(&["followup_death_date", "admission_date"], false)
    );
    // The date of death is asked only when a status is 'Dead'.
    let r = check(
        &f,
        follow(json!({"followup_d28_status": 1, "followup_death_date": "2024-02-01"})),
    );
    assert!(r.hidden.iter().any(|i| i.field == "followup_death_date"));
}

#[test]
fn follow_up_agrees_with_the_outcome_at_discharge() {
    let f = form(&["follow-up"]);
    // Died in hospital: the date of death is the outcome date.
    let in_hospital = |outcome_date: &str, extra: Value| {
        merge(
            &json!({"admission_date": "2024-01-01", "outcome": 4, "outcome_date": outcome_date}),
            extra,
        )
    };
    let dead = json!({"followup_d28_status": 2, "followup_d90_status": 2});
    let r = check(
        &f,
        in_hospital(
            "2024-01-10",
            merge(&dead, json!({"followup_death_date": "2024-01-11"})),
        ),
    );
    assert_eq!(
        fired(&r, "followup_in_hospital_death_date"),
        at(&["followup_death_date", "outcome_date"], false)
    );
    let r = check(
        &f,
        in_hospital(
            "2024-01-10",
            merge(&dead, json!({"followup_death_date": "2024-01-10"})),
        ),
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Died in hospital on day 9: not alive at day 28 nor at day 90.
    let alive = json!({"followup_d28_status": 1, "followup_d28_last_alive_date": "2024-01-29",
                       "followup_d90_status": 3, "followup_d90_last_alive_date": "2024-01-29"});
    let r = check(&f, in_hospital("2024-01-10", alive.clone()));
    assert_eq!(
        fired(&r, "followup_in_hospital_death_by_day_28"),
        at(&["followup_d28_status", "outcome"], false)
    );
    assert!(fires(&r, "followup_in_hospital_death_by_day_90"));
    // Died in hospital on day 40: alive at day 28 is right, not at day 90.
    let r = check(&f, in_hospital("2024-02-10", alive));
    assert!(!fires(&r, "followup_in_hospital_death_by_day_28"));
    assert!(fires(&r, "followup_in_hospital_death_by_day_90"));
    // Discharged alive on 10 January: a death on 9 January is impossible.
    let rule = "followup_death_not_before_discharge_alive";
    let r = check(
        &f,
        follow(merge(&dead, json!({"followup_death_date": "2024-01-09"}))),
    );
    assert_eq!(
        fired(&r, rule),
        at(&["followup_death_date", "outcome_date"], false)
    );
    let r = check(
        &f,
        follow(merge(&dead, json!({"followup_death_date": "2024-01-10"}))),
    );
    assert!(!fires(&r, rule));
}

#[test]
fn follow_up_contacts_fit_their_day() {
    let f = form(&["follow-up"]);
    let d28 = |status: u8, date: &str| {
        follow(json!({"followup_d28_status": status, "followup_d28_last_alive_date": date}))
    };
    // Alive at day 28 needs a contact from day 28 on (a warning, for visit windows).
    let rule = "followup_d28_alive_confirmed_from_day_28";
    assert_eq!(
        fired(&check(&f, d28(1, "2024-01-28")), rule),
        at(
            &["followup_d28_last_alive_date", "followup_d28_status"],
            true
        )
    );
    assert!(!fires(&check(&f, d28(1, "2024-01-29")), rule));
    // Lost to follow-up although known alive on day 28.
    let rule = "followup_d28_lost_before_day_28";
    assert!(fires(&check(&f, d28(3, "2024-01-29")), rule));
    assert!(!fires(&check(&f, d28(3, "2024-01-10")), rule));
    // The same at day 90.
    let d90 = |status: u8, date: &str| {
        follow(json!({"followup_d90_status": status, "followup_d90_last_alive_date": date}))
    };
    assert!(fires(
        &check(&f, d90(1, "2024-03-30")),
        "followup_d90_alive_confirmed_from_day_90"
    ));
    assert!(!fires(
        &check(&f, d90(1, "2024-03-31")),
        "followup_d90_alive_confirmed_from_day_90"
    ));
    assert!(fires(
        &check(&f, d90(3, "2024-03-31")),
        "followup_d90_lost_before_day_90"
    ));
    assert!(!fires(
        &check(&f, d90(3, "2024-02-01")),
        "followup_d90_lost_before_day_90"
    ));
    // Never before admission.
    let r = check(&f, d28(3, "2023-12-31"));
    assert!(fires(&r, "followup_d28_last_alive_not_before_admission"));
    let r = check(&f, d90(3, "2023-12-31"));
    assert!(fires(&r, "followup_d90_last_alive_not_before_admission"));
    // Known alive after the date of death.
    let r = check(
        &f,
        follow(
            json!({"followup_d28_status": 1, "followup_d28_last_alive_date": "2024-02-10",
                      "followup_d90_status": 2, "followup_death_date": "2024-02-05"}),
        ),
    );
    assert!(fires(&r, "followup_d28_last_alive_not_after_death"));
    // The day-90 contact cannot be earlier than the day-28 one.
    let both = |d90_date: &str| {
        follow(
            json!({"followup_d28_status": 1, "followup_d28_last_alive_date": "2024-02-01",
                      "followup_d90_status": 3, "followup_d90_last_alive_date": d90_date}),
        )
    };
    let rule = "followup_d90_last_alive_not_before_d28";
    assert_eq!(
        fired(&check(&f, both("2024-01-30")), rule),
        at(
            &[
                "followup_d90_last_alive_date",
                "followup_d28_last_alive_date"
            ],
            false
        )
    );
    assert!(!fires(&check(&f, both("2024-02-01")), rule));
}

#[test]
fn readmissions_follow_discharge_and_precede_death() {
    let f = form(&["follow-up"]);
    let readmitted = |date: &str, extra: Value| {
        follow(merge(
            &json!({"followup_readmission": 1, "followup_readmission_date": date}),
            extra,
        ))
    };
    let r = check(&f, readmitted("2024-01-09", json!({})));
    assert_eq!(
        fired(&r, "followup_readmission_after_discharge"),
        at(&["followup_readmission_date", "outcome_date"], false)
    );
    let r = check(&f, readmitted("2024-01-10", json!({})));
    assert!(
        r.errors.is_empty() && r.warnings.is_empty(),
        "{:?} {:?}",
        r.errors,
        r.warnings
    );
    let dead = json!({"followup_d28_status": 1, "followup_d28_last_alive_date": "2024-01-29",
                      "followup_d90_status": 2, "followup_death_date": "2024-02-01"});
    assert!(fires(
        &check(&f, readmitted("2024-02-02", dead.clone())),
        "followup_readmission_not_after_death"
    ));
    assert!(!fires(
        &check(&f, readmitted("2024-02-01", dead)),
        "followup_readmission_not_after_death"
    ));
    let r = check(&f, readmitted("2024-04-01", json!({})));
    assert_eq!(
        fired(&r, "followup_readmission_within_90_days"),
        at(&["followup_readmission_date", "admission_date"], true)
    );
    // No readmission question after a death in hospital.
    let mut v = readmitted("2024-02-02", json!({}));
    v["outcome"] = json!(4);
    let r = check(&f, v);
    assert!(r.hidden.iter().any(|i| i.field == "followup_readmission"));
    assert!(!fires(&r, "followup_readmission_after_discharge"));
}

#[test]
fn the_who_scale_rows_agree_with_their_date_and_the_vital_status() {
    let f = form(&["follow-up"]);
    let cps = |rows: Value, extra: Value| follow(merge(&json!({"followup_cps": rows}), extra));
    // Day 3 is 4 January.
    let rule = "followup_cps_day_matches_date";
    let ok = cps(
        json!([{"followup_cps_day": 3, "followup_cps_date": "2024-01-04", "followup_cps_score": 5}]),
        json!({}),
    );
    let r = check(&f, ok);
    assert!(
        r.errors.is_empty() && r.warnings.is_empty(),
        "{:?} {:?}",
        r.errors,
        r.warnings
    );
    let r = check(
        &f,
        cps(
            json!([{"followup_cps_day": 0, "followup_cps_date": "2024-01-01", "followup_cps_score": 4},
                   {"followup_cps_day": 3, "followup_cps_date": "2024-01-05", "followup_cps_score": 5}]),
            json!({}),
        ),
    );
    assert_eq!(
        fired(&r, rule),
        [
            ("followup_cps_day".to_string(), Some(1), false),
            ("followup_cps_date".to_string(), Some(1), false),
            ("admission_date".to_string(), None, false)
        ]
    );
    // The day is 0 to 365; beyond day 90 it is confirmed.
    let r = check(
        &f,
        cps(
            json!([{"followup_cps_day": 366, "followup_cps_score": 4}]),
            json!({}),
        ),
    );
    assert!(r.errors.iter().any(|i| i.field == "followup_cps_day"));
    let r = check(
        &f,
        cps(
            json!([{"followup_cps_day": 120, "followup_cps_score": 2}]),
            json!({}),
        ),
    );
    assert!(r.warnings.iter().any(|i| i.field == "followup_cps_day"));
    // Dead (10) only from the date of death on; nothing else after it.
    let died = json!({"followup_d28_status": 2, "followup_d90_status": 2, "followup_death_date": "2024-01-06",
                      "outcome": 4, "outcome_date": "2024-01-06"});
    let row = |day: u8, date: &str, score: u8| json!({"followup_cps_day": day, "followup_cps_date": date, "followup_cps_score": score});
    let r = check(&f, cps(json!([row(4, "2024-01-05", 10)]), died.clone()));
    assert!(fires(&r, "followup_cps_dead_not_before_death"));
    let r = check(
        &f,
        cps(
            json!([row(5, "2024-01-06", 10), row(5, "2024-01-06", 9)]),
            died.clone(),
        ),
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let r = check(&f, cps(json!([row(6, "2024-01-07", 9)]), died));
    assert!(fires(&r, "followup_cps_alive_not_after_death"));
    // Dead by day 28 (or 90) on the scale, but not dead at day 28 (or 90).
    let alive = json!({"followup_d28_status": 1, "followup_d28_last_alive_date": "2024-01-29",
                       "followup_d90_status": 3, "followup_d90_last_alive_date": "2024-01-29"});
    let r = check(
        &f,
        cps(
            json!([{"followup_cps_day": 10, "followup_cps_score": 10}]),
            alive.clone(),
        ),
    );
    assert!(fires(&r, "followup_cps_dead_by_day_28"));
    assert!(fires(&r, "followup_cps_dead_by_day_90"));
    let r = check(
        &f,
        cps(
            json!([{"followup_cps_day": 40, "followup_cps_score": 10}]),
            alive,
        ),
    );
    assert!(!fires(&r, "followup_cps_dead_by_day_28"));
    assert!(fires(&r, "followup_cps_dead_by_day_90"));
    // Scores 7 to 9 are invasive ventilation.
    let vent = |imv: u8| {
        cps(
            json!([{"followup_cps_day": 2, "followup_cps_score": 8}]),
            json!({"proc_imv": imv}),
        )
    };
    assert_eq!(
        fired(&check(&f, vent(0)), "followup_cps_ventilation_recorded"),
        [
            ("followup_cps_score".to_string(), Some(0), true),
            ("proc_imv".to_string(), None, true)
        ]
    );
    assert!(!fires(
        &check(&f, vent(1)),
        "followup_cps_ventilation_recorded"
    ));
    // A hospital score after discharge needs a readmission.
    let after = |readmission: u8| {
        cps(
            json!([row(11, "2024-01-12", 5)]),
            json!({"followup_readmission": readmission, "followup_readmission_date": "2024-01-12"}),
        )
    };
    assert!(fires(
        &check(&f, after(0)),
        "followup_cps_hospitalised_after_discharge"
    ));
    assert!(!fires(
        &check(&f, after(1)),
        "followup_cps_hospitalised_after_discharge"
    ));
}

// --- AMR: per-agent susceptibility and MRGN ---------------------------------------------------

#[test]
fn an_intrinsic_resistance_reported_susceptible_is_a_warning() {
    let f = form(&["amr"]);
    let rule = "amr_agent_expected_resistance";
    let result = |organism: &str, agent: &str, sir: &str| {
        json!({"amr_agent_test_row": 1, "amr_agent_organism": organism, "amr_agent": agent,
               "amr_agent_sir": sir})
    };
    let r = check(
        &f,
        json!({"amr_agents": [result("e_coli", "J01CA01", "S"), result("k_pneumoniae", "J01CA01", "S")]}),
    );
    assert_eq!(
        fired(&r, rule),
        [
            ("amr_agent_sir".to_string(), Some(1), true),
            ("amr_agent".to_string(), Some(1), true),
            ("amr_agent_organism".to_string(), Some(1), true)
        ]
    );
    for (organism, agent, sir) in [
        ("e_coli", "J01XA01", "S"),
        ("p_aeruginosa", "J01XX08", "I"),
        ("s_aureus", "J01XB01", "S"),
        ("e_faecium", "J01DD04", "I"),
        ("e_faecalis", "J01DE01", "S"),
        ("s_maltophilia", "J01DH02", "S"),
        ("p_aeruginosa", "J01DD04", "S"),
        ("p_aeruginosa", "J01EE01", "S"),
        ("e_cloacae", "J01DB04", "S"),
        ("p_mirabilis", "J01XB01", "S"),
        ("s_marcescens", "J01XB01", "I"),
    ] {
        let r = check(&f, json!({"amr_agents": [result(organism, agent, sir)]}));
        assert!(fires(&r, rule), "{organism} {agent} {sir}");
    }
    for (organism, agent, sir) in [
        ("k_pneumoniae", "J01CA01", "R"),
        ("e_coli", "J01CA01", "S"),
        ("s_aureus", "J01XA01", "S"),
        ("p_aeruginosa", "J01DD02", "S"),
        ("p_aeruginosa", "J01DH02", "I"),
        ("e_faecium", "J01XA01", "S"),
        ("s_maltophilia", "J01EE01", "S"),
        ("a_baumannii", "J01CR01", "S"),
        ("other", "J01CA01", "S"),
        ("k_pneumoniae", "J01CA01", "NB"),
    ] {
        let mut row = result(organism, agent, sir);
        if organism == "other" {
            row["amr_agent_organism_other"] = json!("Hafnia alvei");
        }
        let r = check(&f, json!({"amr_agents": [row]}));
        assert!(!fires(&r, rule), "{organism} {agent} {sir}");
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
}

#[test]
fn the_mrgn_class_agrees_with_the_resistance_phenotype() {
    let f = form(&["amr"]);
    let test = |mrgn: &str, phenotype: Value| {
        check(
            &f,
            json!({"pathogen_tests": [{"test_pathogen": "bacterial_culture", "test_method": 3,
                                       "amr_phenotype": phenotype, "amr_mrgn": mrgn}]}),
        )
    };
    let r = test("3mrgn", json!([0]));
    assert_eq!(
        fired(&r, "amr_mrgn_none_detected"),
        [
            ("amr_mrgn".to_string(), Some(0), true),
            ("amr_phenotype".to_string(), Some(0), true)
        ]
    );
    assert!(!fires(
        &test("neither", json!([0])),
        "amr_mrgn_none_detected"
    ));
    assert!(fires(&test("4mrgn", json!([1])), "amr_mrgn_gram_positive"));
    assert!(!fires(
        &test("4mrgn", json!([1, 4])),
        "amr_mrgn_gram_positive"
    ));
    assert!(!fires(
        &test("not_applicable", json!([1])),
        "amr_mrgn_gram_positive"
    ));
    assert!(fires(
        &test("4mrgn", json!([3])),
        "amr_4mrgn_carbapenem_resistant"
    ));
    assert!(!fires(
        &test("4mrgn", json!([3, 4])),
        "amr_4mrgn_carbapenem_resistant"
    ));
    assert!(!fires(
        &test("3mrgn", json!([3])),
        "amr_4mrgn_carbapenem_resistant"
    ));
    let quiet = test("4mrgn", json!([5]));
    assert!(
        quiet.errors.is_empty() && quiet.warnings.is_empty(),
        "{:?} {:?}",
        quiet.errors,
        quiet.warnings
    );
}

#[test]
fn the_new_modules_keep_the_core_form_as_it_is() {
    // Modules add fields and rules; they make no core field identifying or change its type.
    let core = form(&[]);
    let all = form(&["entry-genome", "biobank", "follow-up"]);
    let core_ids: HashSet<&str> = core.fields().iter().map(|f| f.id()).collect();
    for f in all.fields().iter().filter(|f| core_ids.contains(f.id())) {
        let c = core.field(f.id()).unwrap();
        assert_eq!(f.def, c.def, "{}", f.id());
        assert_eq!(f.required, c.required, "{}", f.id());
    }
}
