//! The wrapper over the core (the core's own behaviour is tested in the core): key providers
//! adapted both ways, JSON values in and out, errors mapped, two stores merged.

use super::*;
use std::path::PathBuf;
use std::sync::Arc;

/// A key provider as an app would write one: XOR with a fixed pad stands in for the Keystore
/// (the core checks the result against its canary, so a wrong pad is a wrong key).
#[derive(Debug)]
struct PadKey(u8);

impl KeyProvider for PadKey {
    fn kind(&self) -> String {
        "test-pad".into()
    }
    fn wrap(&self, data_key: Vec<u8>) -> Result<Vec<u8>, KeyProviderError> {
        Ok(data_key.iter().map(|b| b ^ self.0).collect())
    }
    fn unwrap(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyProviderError> {
        if self.0 == 0 {
            return Err(KeyProviderError::Unavailable {
                reason: "device locked".into(),
            });
        }
        Ok(wrapped.iter().map(|b| b ^ self.0).collect())
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("wardcrf-ffi-{name}-{}-{n}", std::process::id()));
        TempDir(dir)
    }
    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn field(id: &str) -> FieldPath {
    FieldPath {
        field: id.into(),
        group: None,
        row_id: None,
    }
}

#[test]
fn a_foreign_key_provider_opens_the_store_and_a_wrong_one_is_a_typed_error() {
    let dir = TempDir::new("key");
    let store = CaseStore::create(dir.path(), Arc::new(PadKey(0x5a)), "nurse".into()).unwrap();
    let case = store.create_case("icrown-core".into(), vec![]).unwrap();
    drop(store);
    assert_eq!(
        CaseStore::open(dir.path(), Arc::new(PadKey(0x33)), "nurse".into()).unwrap_err(),
        WardcrfError::WrongKey
    );
    assert_eq!(
        CaseStore::open(dir.path(), Arc::new(PadKey(0)), "nurse".into()).unwrap_err(),
        WardcrfError::KeyUnavailable {
            reason: "the key provider failed: device locked".into()
        }
    );
    assert_eq!(
        CaseStore::create(dir.path(), Arc::new(PadKey(0x5a)), "nurse".into()).unwrap_err(),
        WardcrfError::StoreExists
    );
    let store = CaseStore::open(dir.path(), Arc::new(PadKey(0x5a)), "nurse".into()).unwrap();
    let cases = store.list_cases(CaseFilter::default()).unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].case_id, case);
    assert_eq!(cases[0].status, CaseStatus::Draft);
}

#[test]
fn values_rows_status_and_history_cross_as_json_and_records() {
    let dir = TempDir::new("values");
    let store = CaseStore::create(dir.path(), Arc::new(PadKey(7)), "dr-a".into()).unwrap();
    let case = store.create_case("icrown-core".into(), vec![]).unwrap();
    let stored = store
        .set_quantity(case.clone(), field("vs_temp"), 101.3, "[degF]".into(), None)
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["value"], 38.5);
    assert_eq!(stored["unit"], "Cel");
    // Impossible: refused with codes; unusual: needs a reason; a change: needs a reason.
    assert_eq!(
        store.set_value(case.clone(), field("vs_spo2"), "150".into(), None),
        Err(WardcrfError::ValidationRejected {
            field: "vs_spo2".into(),
            codes: vec![IssueCode::HardLimit]
        })
    );
    assert!(matches!(
        store.set_value(case.clone(), field("vs_spo2"), "75".into(), None),
        Err(WardcrfError::NeedsConfirmation { .. })
    ));
    store
        .set_value(
            case.clone(),
            field("vs_spo2"),
            "75".into(),
            Some("chronic lung disease".into()),
        )
        .unwrap();
    assert!(matches!(
        store.set_value(case.clone(), field("vs_temp"), "37.0".into(), None),
        Err(WardcrfError::ReasonRequired { .. })
    ));
    assert!(matches!(
        store.set_value(case.clone(), field("vs_temp"), "{oops".into(), None),
        Err(WardcrfError::InvalidInput { .. })
    ));
    let row = store
        .add_row(
            case.clone(),
            "medications".into(),
            r#"{"med_class": 8}"#.into(),
            None,
        )
        .unwrap();
    let view = store.view_case(case.clone(), Language::En).unwrap();
    let values: serde_json::Value = serde_json::from_str(&view.values_json).unwrap();
    assert_eq!(values["medications"][0]["row_id"], row.as_str());
    assert!(view.report.warnings.iter().any(|w| w.field == "vs_spo2"
        && w.code == IssueCode::SoftLimit
        && w.confirmed.as_deref() == Some("chronic lung disease")));
    assert!(!view.report.missing.is_empty());
    store
        .remove_row(
            case.clone(),
            "medications".into(),
            row.clone(),
            "entered twice".into(),
        )
        .unwrap();
    assert!(matches!(
        store.remove_row(
            case.clone(),
            "medications".into(),
            "nope".into(),
            "x".into()
        ),
        Err(WardcrfError::NotFound { .. })
    ));
    assert!(matches!(
        store.set_status(case.clone(), CaseStatus::Complete, None),
        Err(WardcrfError::NotComplete { errors, .. }) if errors > 0
    ));
    assert_eq!(
        store.set_status(case.clone(), CaseStatus::Signed, None),
        Err(WardcrfError::NotSignable)
    );
    let history = store.history(case.clone(), None).unwrap();
    let ops: Vec<&str> = history.iter().map(|h| h.op.as_str()).collect();
    assert_eq!(ops, ["create", "set", "set", "row_add", "row_remove"]);
    assert!(history.iter().all(|h| h.user == "dr-a"));
    let temp = store.history(case.clone(), Some("vs_temp".into())).unwrap();
    assert_eq!(temp.len(), 1);
    assert!(
        temp[0]
            .new_json
            .as_deref()
            .unwrap_or_default()
            .contains("38.5")
    );
    assert_eq!(
        store.view_case("no-such-case".into(), Language::En),
        Err(WardcrfError::NotFound {
            what: "case no-such-case".into()
        })
    );
}

#[test]
fn two_stores_merge_into_a_conflict_that_a_resolution_settles() {
    let (da, db) = (TempDir::new("merge-a"), TempDir::new("merge-b"));
    let a = CaseStore::create(da.path(), Arc::new(PadKey(1)), "dr-a".into()).unwrap();
    let b = CaseStore::create(db.path(), Arc::new(PadKey(2)), "dr-b".into()).unwrap();
    let case = a.create_case("icrown-core".into(), vec![]).unwrap();
    assert_eq!(b.merge_from(a.clone()).unwrap().new_cases, 1);
    a.set_value(case.clone(), field("vs_hr"), "88".into(), None)
        .unwrap();
    b.set_value(case.clone(), field("vs_hr"), "92".into(), None)
        .unwrap();
    let merged = a.merge_from(b.clone()).unwrap();
    assert_eq!((merged.updated_cases, merged.conflicts), (1, 1));
    let conflicts = a.conflicts(None).unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].path, field("vs_hr"));
    let users: Vec<&str> = conflicts[0]
        .candidates
        .iter()
        .map(|c| c.user.as_str())
        .collect();
    assert!(users.contains(&"dr-a") && users.contains(&"dr-b"));
    assert!(
        conflicts[0]
            .candidates
            .iter()
            .any(|c| c.device == b.device_id())
    );
    let chosen = conflicts[0].candidates[0].value_json.clone();
    a.resolve(
        case.clone(),
        field("vs_hr"),
        chosen,
        "checked the monitor".into(),
    )
    .unwrap();
    assert!(a.conflicts(Some(case.clone())).unwrap().is_empty());
    assert_eq!(
        a.resolve(case.clone(), field("vs_hr"), "90".into(), "again".into()),
        Err(WardcrfError::NoConflict {
            field: "vs_hr".into()
        })
    );
    assert!(matches!(
        a.merge_from(a.clone()),
        Err(WardcrfError::InvalidInput { .. })
    ));
}

#[test]
fn a_device_not_enrolled_cannot_sync() {
    let dir = TempDir::new("sync");
    let store = CaseStore::create(dir.path(), Arc::new(PadKey(3)), "n".into()).unwrap();
    assert_eq!(store.server_url().unwrap(), None);
    assert_eq!(
        store.sync(None, None, None).unwrap_err(),
        WardcrfError::NotEnrolled
    );
    assert!(matches!(
        store.enroll("http://example.org".into(), "code".into(), None),
        Err(WardcrfError::Refused { .. })
    ));
    let cancel = SyncCancellation::new();
    assert!(!cancel.is_cancelled());
    cancel.cancel();
    assert!(cancel.is_cancelled());
}
