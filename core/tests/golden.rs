//! Golden tests of validation messages: one case touching every kind of check on the bundled
//! core form, its report kept in English, Japanese and German under `tests/golden/`.
//!
//! A changed message fails here until a reviewer has read the new text. To accept new texts,
//! run `WARDCRF_UPDATE_GOLDEN=1 cargo test -p wardcrf-core --test golden` and review the diff.

use serde_json::json;
use wardcrf_core::{Catalog, Context, Lang, PartialDate, validate};

fn golden_case() -> serde_json::Value {
    json!({
        "case_id": "JP-0001",
        "patient_name": "x",
        "date_of_birth": "2023-11-31",
        "age_years": 4,
        "sex_at_birth": 7,
        "admission_date": "2024-05-10",
        "symptom_onset_date": "2024-05-12",
        "travel_14d": 0,
        "travel": [{"row_id": "t1", "travel_country": "JP"}],
        "contact_setting": [1, 99],
        "vs_datetime": "2024-07-01T08:00",
        "vs_temp": {"value": 101.3, "unit": "[degF]"},
        "vs_hr": 190,
        "vs_rr": "abc",
        "vs_sbp": 100,
        "vs_dbp": 120,
        "vs_spo2": {"value": 75, "confirm": "chronic lung disease"},
        "vs_weight": {"value": 44, "unit": "stone"},
        "vs_height": 300,
        "outcome_date": "2024-05-01",
        "medications": [{"row_id": "m1", "med_class": 8, "med_start_date": "2024-05-12", "med_end_date": "2024-05-11"}],
        "labs": [
            {"row_id": "l1", "lab_datetime": "2024-05-10T09:00", "lab_crp": {"value": 2.5, "unit": "mg/dL"}},
            {"row_id": "l2", "lab_datetime": "2024-05-11T09:00", "lab_plt": 15.2, "lab_wbc": "6500"}
        ],
        "weather": "sunny"
    })
}

#[test]
fn messages_match_the_reviewed_golden_files() {
    let catalog = Catalog::bundled().unwrap();
    let form = catalog.form("icrown-core", &[]).unwrap();
    let ctx = Context {
        today: PartialDate::parse("2024-06-01").ok(),
        completing: true,
        default_units: None,
    };
    let report = validate(&form, golden_case().as_object().unwrap(), &ctx);
    let update = std::env::var_os("WARDCRF_UPDATE_GOLDEN").is_some();
    for lang in Lang::ALL {
        let path = format!(
            "{}/tests/golden/report.{lang}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let got = serde_json::to_string_pretty(&report.to_json(lang)).unwrap() + "\n";
        if update {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            got == want,
            "{lang} messages differ from {path}; review and update with WARDCRF_UPDATE_GOLDEN=1:\n{got}"
        );
    }
}
