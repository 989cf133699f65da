//! Stores written by earlier versions must still open and read the same. The fixture under
//! `tests/fixtures/store-v1/` was written by schema version 1; every later version must open it
//! (after its migrations) with the same values and history.
//!
//! To write the fixture anew (only when adding a version's fixture, never to "fix" this test):
//! `WARDCRF_WRITE_FIXTURES=1 cargo test -p wardcrf-core --test store_fixtures`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use serde_json::json;
use std::path::{Path, PathBuf};
use wardcrf_core::{CaseFilter, CaseStore, FieldPath, Passphrase};

const PASSPHRASE: &str = "fixture passphrase v1";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1")
}

fn write_fixture(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let mut s = {
        let mut s =
            CaseStore::create(dir, &Passphrase::insecure_for_tests(PASSPHRASE, 1000)).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    };
    let case = s.create_case("icrown-core", &["sari"]).unwrap();
    s.set_value(
        &case,
        &FieldPath::field("vs_temp"),
        json!({"value": 101.3, "unit": "[degF]"}),
        None,
    )
    .unwrap();
    s.set_value(
        &case,
        &FieldPath::field("vs_temp"),
        json!(38.1),
        Some("re-measured"),
    )
    .unwrap();
    let row = json!({"med_class": 8, "med_start_date": "2024-03-01"});
    s.add_row(&case, "medications", row.as_object().unwrap(), None)
        .unwrap();
    drop(s);
    for side in ["wardcrf.db-wal", "wardcrf.db-shm"] {
        let _ = std::fs::remove_file(dir.join(side));
    }
}

#[test]
fn a_version_1_store_still_opens_and_reads_the_same() {
    if std::env::var_os("WARDCRF_WRITE_FIXTURES").is_some() {
        write_fixture(&fixture_dir());
    }
    // Work on a copy: opening writes the WAL and would change the fixture.
    let copy = std::env::temp_dir().join(format!("wardcrf-fixture-v1-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(fixture_dir().join("wardcrf.db"), copy.join("wardcrf.db")).unwrap();
    // A wrong key is refused before anything is written: no migration, not a byte changed.
    let before = std::fs::read(copy.join("wardcrf.db")).unwrap();
    let err = CaseStore::open(&copy, &Passphrase::new("not the passphrase")).unwrap_err();
    assert!(matches!(err, wardcrf_core::StoreError::WrongKey), "{err}");
    assert_eq!(std::fs::read(copy.join("wardcrf.db")).unwrap(), before);
    let mut s = CaseStore::open(&copy, &Passphrase::new(PASSPHRASE)).unwrap();
    let cases = s.list(&CaseFilter::default()).unwrap();
    assert_eq!(cases.len(), 1);
    let view = s.case(&cases[0].case_id).unwrap();
    assert_eq!(view.modules, ["sari"]);
    assert_eq!(
        view.values["vs_temp"],
        json!({"value": 38.1, "unit": "Cel"})
    );
    assert_eq!(view.values["medications"][0]["med_class"], "8");
    let history = s.history(&cases[0].case_id, Some("vs_temp")).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[0].new.as_ref().unwrap()["entered"],
        json!({"value": 101.3, "unit": "[degF]"})
    );
    assert_eq!(history[1].reason.as_deref(), Some("re-measured"));
    drop(s);
    std::fs::remove_dir_all(&copy).unwrap();
}

/// A store written by the version whose core form was 1.0.0, holding baricitinib under its
/// old ATC code (L04AA37). Written once by that version's code (commit 29ee28c); never anew.
fn forms_1_0_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-forms-1.0")
}

#[test]
fn a_case_of_form_version_1_0_opens_reads_as_current_and_moves_with_an_audit_entry() {
    let copy = std::env::temp_dir().join(format!("wardcrf-forms-1.0-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(
        forms_1_0_fixture().join("wardcrf.db"),
        copy.join("wardcrf.db"),
    )
    .unwrap();
    let mut s = CaseStore::open(&copy, &Passphrase::new("fixture passphrase forms 1.0")).unwrap();
    s.sign_in_for_tests("nurse").unwrap();
    let cases = s.list(&CaseFilter::default()).unwrap();
    assert_eq!(cases.len(), 1);
    let id = cases[0].case_id.clone();
    // It opens as it was entered, read as the current form reads it: no unknown code.
    let view = s.case(&id).unwrap();
    assert_eq!(view.form_version, "1.0.0");
    let meds = view.values["medications"].as_array().unwrap();
    assert!(meds.iter().any(|m| m["med_name"] == "L04AF02"), "{meds:?}");
    assert!(!meds.iter().any(|m| m["med_name"] == "L04AA37"));
    let session = s.session(&id).unwrap();
    assert!(
        session.fields().all(|f| f.errors.is_empty()),
        "an old case validates under the new form"
    );
    // Moving it is one audited change, made by the signed-in nurse.
    s.sign_in_for_tests("nurse-b").unwrap();
    let up = s.upgrade_form(&id).unwrap().expect("the case is behind");
    assert_eq!((up.from.as_str(), up.to.as_str()), ("1.0.0", "1.1.0"));
    assert_eq!(up.recoded.len(), 1);
    assert_eq!(s.case(&id).unwrap().form_version, "1.1.0");
    let history = s.history(&id, Some("med_name")).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.op, "upgrade_form");
    assert_eq!(last.user, "nurse-b");
    assert_eq!(
        (last.old.as_ref().unwrap(), last.new.as_ref().unwrap()),
        (&json!("L04AA37"), &json!("L04AF02"))
    );
    assert!(last.reason.as_deref().unwrap().contains("L04AF02"));
    let all = s.history(&id, None).unwrap();
    assert!(
        all.iter()
            .any(|h| h.op == "upgrade_form" && h.new == Some(json!({"form_version": "1.1.0"})))
    );
    // Moved once: the next call finds nothing to do, and the values are unchanged.
    assert!(s.upgrade_form(&id).unwrap().is_none());
    drop(s);
    std::fs::remove_dir_all(&copy).unwrap();
}
