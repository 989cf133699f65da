//! Tests of the case store: keys, values, rows, status, history, merge and conflicts.

use super::*;
use serde_json::json;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let n = encryption::random_bytes::<6>().unwrap();
        let dir = std::env::temp_dir().join(format!(
            "wardcrf-store-{name}-{}",
            n.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pass(p: &str) -> Passphrase {
    Passphrase::insecure_for_tests(p, 1000)
}

fn store(dir: &TempDir) -> CaseStore {
    {
        let mut s = CaseStore::create(&dir.0, &pass("ward 7 tablet")).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    }
}

fn f(id: &str) -> FieldPath {
    FieldPath::field(id)
}

#[test]
fn opens_only_with_the_right_key_and_rekeys() {
    let dir = TempDir::new("keys");
    let mut s = store(&dir);
    let case = s.create_case("icrown-core", &[]).unwrap();
    let device = s.device_id();
    drop(s);
    let before = std::fs::read(dir.0.join(DB_FILE)).unwrap();
    assert!(matches!(
        CaseStore::open(&dir.0, &pass("wrong")),
        Err(StoreError::WrongKey)
    ));
    assert_eq!(
        std::fs::read(dir.0.join(DB_FILE)).unwrap(),
        before,
        "a wrong key changes nothing"
    );
    let mut s = CaseStore::open(&dir.0, &pass("ward 7 tablet")).unwrap();
    assert_eq!(s.device_id(), device, "the device id is stable");
    s.rekey(&pass("new passphrase")).unwrap();
    drop(s);
    assert!(matches!(
        CaseStore::open(&dir.0, &pass("ward 7 tablet")),
        Err(StoreError::WrongKey)
    ));
    let mut s = CaseStore::open(&dir.0, &pass("new passphrase")).unwrap();
    assert!(
        matches!(s.case(&case), Err(StoreError::Locked)),
        "claimed: locked"
    );
    s.sign_in_for_tests("nurse").unwrap();
    assert_eq!(s.case(&case).unwrap().status, Status::Draft);
    let raw = RawKeyProvider::new(SecretKey::from_bytes(&[9u8; 32]).unwrap());
    s.rekey(&raw).unwrap();
    drop(s);
    CaseStore::open(&dir.0, &raw)
        .unwrap()
        .sign_in_for_tests("nurse")
        .unwrap();
    assert!(matches!(
        CaseStore::create(&dir.0, &raw),
        Err(StoreError::AlreadyInitialised(_))
    ));
    assert!(matches!(
        CaseStore::open(&dir.0.join("nope"), &raw),
        Err(StoreError::NotInitialised(_))
    ));
}

#[test]
fn sets_values_with_validation_units_and_reasons() {
    let dir = TempDir::new("values");
    let mut s = store(&dir);
    s.sign_in_for_tests("dr.b").unwrap();
    let case = s.create_case("icrown-core", &[]).unwrap();
    let v = s
        .set_value(
            &case,
            &f("vs_temp"),
            json!({"value": 101.3, "unit": "[degF]"}),
            None,
        )
        .unwrap();
    assert_eq!(
        v,
        json!({"value": 38.5, "unit": "Cel", "entered": {"value": 101.3, "unit": "[degF]"}})
    );
    // An impossible value is refused, and nothing is written.
    let err = s
        .set_value(&case, &f("vs_hr"), json!(400), None)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Rejected { field, .. } if field == "vs_hr"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the value of vs_hr was not saved: it is outside the possible range"
    );
    assert!(s.case(&case).unwrap().values.get("vs_hr").is_none());
    // A value outside soft limits needs a confirmation reason.
    let err = s
        .set_value(&case, &f("vs_spo2"), json!(75), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::NeedsConfirmation { .. }), "{err}");
    let v = s
        .set_value(&case, &f("vs_spo2"), json!(75), Some("COPD, baseline 78 %"))
        .unwrap();
    assert_eq!(v["confirm"], "COPD, baseline 78 %");
    // Changing an earlier entry needs a reason.
    let err = s
        .set_value(&case, &f("vs_temp"), json!(37.9), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::ReasonRequired(_)));
    s.set_value(&case, &f("vs_temp"), json!(37.9), Some("re-measured"))
        .unwrap();
    assert!(matches!(
        s.set_value(&case, &f("no_such_field"), json!(1), None),
        Err(StoreError::UnknownField { .. })
    ));
    // Clearing a value is a change too.
    s.set_value(
        &case,
        &f("vs_temp"),
        Json::Null,
        Some("entered in the wrong case"),
    )
    .unwrap();
    let view = s.case(&case).unwrap();
    assert!(view.values.get("vs_temp").is_none());
    let history = s.history(&case, Some("vs_temp")).unwrap();
    let ops: Vec<(&str, Option<Json>, Option<Json>)> = history
        .iter()
        .map(|h| {
            (
                h.op.as_str(),
                h.old.as_ref().map(|v| v["value"].clone()),
                h.new.as_ref().map(|v| v["value"].clone()),
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            ("set", None, Some(json!(38.5))),
            ("set", Some(json!(38.5)), Some(json!(37.9))),
            ("clear", Some(json!(37.9)), None),
        ]
    );
    assert_eq!(history[1].reason.as_deref(), Some("re-measured"));
    assert_eq!(history[1].user, "dr.b");
    assert_eq!(history[1].device, s.device_id());
    assert!(history[1].time > 1_700_000_000);
}

#[test]
fn repeating_rows_have_stable_ids() {
    let dir = TempDir::new("rows");
    let mut s = store(&dir);
    let case = s.create_case("icrown-core", &[]).unwrap();
    let first = s
        .add_row(
            &case,
            "medications",
            json!({"med_class": 8, "med_start_date": "2024-03-01"})
                .as_object()
                .unwrap(),
            None,
        )
        .unwrap();
    let second = s
        .add_row(
            &case,
            "medications",
            json!({"med_class": 10}).as_object().unwrap(),
            None,
        )
        .unwrap();
    assert_ne!(first, second);
    s.set_value(
        &case,
        &FieldPath::row("medications", &second, "med_start_date"),
        json!("2024-03-02"),
        None,
    )
    .unwrap();
    let err = s
        .add_row(
            &case,
            "medications",
            json!({"med_class": 77}).as_object().unwrap(),
            None,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
    s.remove_row(&case, "medications", &first, "duplicate entry")
        .unwrap();
    let view = s.case(&case).unwrap();
    let rows = view.values["medications"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["row_id"], json!(second));
    assert_eq!(rows[0]["med_start_date"], "2024-03-02");
    assert!(matches!(
        s.set_value(
            &case,
            &FieldPath::row("medications", "nope", "med_class"),
            json!(8),
            None
        ),
        Err(StoreError::UnknownRow { .. })
    ));
    assert!(matches!(
        s.remove_row(&case, "medications", &second, " "),
        Err(StoreError::ReasonRequired(_))
    ));
}

/// Fills every required field of the core form with a plausible value.
fn fill_required(s: &mut CaseStore, case: &str) {
    let values: Json =
        serde_json::from_str(include_str!("../../tests/fixtures/complete-case.json")).unwrap();
    for (k, v) in values.as_object().unwrap() {
        s.set_value(case, &f(k), v.clone(), None)
            .unwrap_or_else(|e| panic!("{k}: {e}"));
    }
}

#[test]
fn status_flows_from_draft_to_complete_to_signed_and_reopens() {
    let dir = TempDir::new("status");
    let mut s = store(&dir);
    let case = s.create_case("icrown-core", &[]).unwrap();
    let err = s.set_status(&case, Status::Complete, None).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotComplete { report, conflicts: 0 } if report.missing.is_empty() && !report.errors.is_empty()),
        "{err}"
    );
    assert!(matches!(
        s.sign(&case, "test password nurse", "author"),
        Err(StoreError::NotSignable)
    ));
    fill_required(&mut s, &case);
    s.set_status(&case, Status::Complete, None).unwrap();
    assert!(matches!(
        s.set_status(&case, Status::Signed, None),
        Err(StoreError::SignatureRequired)
    ));
    s.sign(&case, "test password nurse", "author").unwrap();
    assert_eq!(
        s.list(&CaseFilter {
            status: Some(Status::Signed),
            ..CaseFilter::default()
        })
        .unwrap()
        .len(),
        1
    );
    // A signed case is locked: an edit needs a reason and reopens it.
    assert!(matches!(
        s.set_value(&case, &f("vs_gcs"), json!(15), None),
        Err(StoreError::ReasonRequired(_))
    ));
    s.set_value(&case, &f("vs_gcs"), json!(15), Some("GCS was omitted"))
        .unwrap();
    assert_eq!(s.case(&case).unwrap().status, Status::Draft);
    s.set_status(&case, Status::Complete, None).unwrap();
    assert!(matches!(
        s.set_status(&case, Status::Draft, None),
        Err(StoreError::ReasonRequired(_))
    ));
    s.set_status(&case, Status::Draft, Some("lab results pending"))
        .unwrap();
    let ops: Vec<String> = s
        .history(&case, None)
        .unwrap()
        .into_iter()
        .map(|h| h.op)
        .collect();
    assert_eq!(ops.first().map(String::as_str), Some("create"));
    assert!(
        ops.iter().filter(|o| *o == "reopen").count() == 2,
        "{ops:?}"
    );
}

#[test]
fn deletes_recoverably_and_lists_by_filter() {
    let dir = TempDir::new("delete");
    let mut s = store(&dir);
    let a = s.create_case("icrown-core", &[]).unwrap();
    let b = s.create_case("mpox", &[]).unwrap();
    assert_eq!(s.case(&b).unwrap().modules, ["mpox"]);
    assert!(matches!(
        s.delete_case(&a, ""),
        Err(StoreError::ReasonRequired(_))
    ));
    s.delete_case(&a, "enrolled twice").unwrap();
    assert!(matches!(
        s.set_value(&a, &f("vs_hr"), json!(80), None),
        Err(StoreError::Deleted(_))
    ));
    let ids = |s: &CaseStore, filter: CaseFilter| {
        s.list(&filter)
            .unwrap()
            .into_iter()
            .map(|c| c.case_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&s, CaseFilter::default()), vec![b.clone()]);
    assert_eq!(
        ids(
            &s,
            CaseFilter {
                include_deleted: true,
                ..CaseFilter::default()
            }
        )
        .len(),
        2
    );
    s.restore_case(&a, "deleted by mistake").unwrap();
    assert_eq!(ids(&s, CaseFilter::default()).len(), 2);
    assert_eq!(
        ids(
            &s,
            CaseFilter {
                updated_since: Some(now() + 100),
                ..CaseFilter::default()
            }
        )
        .len(),
        0
    );
    assert!(matches!(s.case("0000"), Err(StoreError::UnknownCase(_))));
}

#[test]
fn finds_cases_by_identifier_through_the_keyed_index() {
    let dir = TempDir::new("find");
    let mut s = store(&dir);
    let case = s.create_case("icrown-core", &[]).unwrap();
    s.set_value(
        &case,
        &f("hospital_record_number"),
        json!("MRN 0012345"),
        None,
    )
    .unwrap();
    s.set_value(&case, &f("patient_name"), json!("Yamada  Taro"), None)
        .unwrap();
    assert_eq!(
        s.find("hospital_record_number", "mrn 0012345").unwrap(),
        vec![case.clone()]
    );
    assert_eq!(
        s.find("hospital_record_number", "ＭＲＮ　００１２３４５")
            .unwrap(),
        vec![case.clone()]
    );
    assert_eq!(
        s.find("patient_name", "yamada taro").unwrap(),
        vec![case.clone()]
    );
    assert!(s.find("patient_name", "Suzuki").unwrap().is_empty());
    s.set_value(
        &case,
        &f("patient_name"),
        json!("Yamada Jiro"),
        Some("typo"),
    )
    .unwrap();
    assert!(s.find("patient_name", "yamada taro").unwrap().is_empty());
}

#[test]
fn no_patient_value_appears_in_any_byte_on_disk() {
    let dir = TempDir::new("plaintext");
    let mut s = store(&dir);
    let secrets = [
        "Yamada Hanako",
        "MRN-77331928",
        "1961-04-23",
        "Sehr seltener Kommentar",
        "Zz9-lineage-Q",
    ];
    let case = s.create_case("mpox", &[]).unwrap();
    s.set_value(&case, &f("patient_name"), json!(secrets[0]), None)
        .unwrap();
    s.set_value(&case, &f("hospital_record_number"), json!(secrets[1]), None)
        .unwrap();
    s.set_value(&case, &f("date_of_birth"), json!(secrets[2]), None)
        .unwrap();
    s.set_value(&case, &f("vs_temp"), json!(38.4), None)
        .unwrap();
    s.set_value(&case, &f("vs_temp"), json!(38.6), Some(secrets[3]))
        .unwrap();
    s.add_row(
        &case,
        "pathogen_tests",
        json!({"test_clade_lineage": secrets[4]})
            .as_object()
            .unwrap(),
        None,
    )
    .unwrap();
    // Read every file while the store is open (WAL not yet checkpointed) and after closing.
    let scan = |when: &str| {
        for entry in std::fs::read_dir(&dir.0).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for secret in secrets.iter().chain(["mpox"].iter()) {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{secret} found in {} ({when})",
                    path.display()
                );
            }
        }
    };
    scan("open");
    drop(s);
    scan("closed");
}

#[test]
fn a_damaged_database_is_moved_aside_not_deleted() {
    let dir = TempDir::new("damaged");
    drop(store(&dir));
    let path = dir.0.join(DB_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().take(100) {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = CaseStore::open(&dir.0, &pass("ward 7 tablet")).unwrap_err();
    let StoreError::Damaged { moved_to } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        std::fs::read(moved_to).unwrap(),
        bytes,
        "kept byte for byte"
    );
    assert!(!path.exists());
    assert!(err.to_string().contains("moved aside"));
}

fn two_devices(name: &str) -> (TempDir, TempDir, CaseStore, CaseStore, String) {
    let (da, db) = (
        TempDir::new(&format!("{name}-a")),
        TempDir::new(&format!("{name}-b")),
    );
    let mut a = store(&da);
    let mut b = {
        let mut s = CaseStore::create(&db.0, &pass("other tablet")).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    };
    let case = a.create_case("icrown-core", &[]).unwrap();
    a.set_value(&case, &f("vs_hr"), json!(88), None).unwrap();
    let s = b.merge_from(&a).unwrap();
    assert_eq!(
        s,
        MergeSummary {
            new_cases: 1,
            updated_cases: 0,
            conflicts: 0
        }
    );
    (da, db, a, b, case)
}

#[test]
fn concurrent_edits_of_one_field_become_a_conflict_and_a_resolution_converges() {
    let (_da, _db, mut a, mut b, case) = two_devices("conflict");
    a.sign_in_for_tests("nurse.a").unwrap();
    b.sign_in_for_tests("dr.b").unwrap();
    // Offline, both devices change the heart rate; A also sets the temperature, B the SpO2.
    a.set_value(&case, &f("vs_hr"), json!(92), Some("re-counted"))
        .unwrap();
    b.set_value(&case, &f("vs_hr"), json!(104), Some("monitor reading"))
        .unwrap();
    a.set_value(&case, &f("vs_temp"), json!(38.1), None)
        .unwrap();
    b.set_value(&case, &f("vs_spo2"), json!(95), None).unwrap();
    a.merge_from(&b).unwrap();
    b.merge_from(&a).unwrap();
    for s in [&mut a, &mut b] {
        let conflicts = s.conflicts(None).unwrap();
        assert_eq!(conflicts.len(), 1, "only the heart rate conflicts");
        let c = &conflicts[0];
        assert_eq!(c.path, f("vs_hr"));
        let mut got: Vec<(Json, String, Option<String>)> = c
            .candidates
            .iter()
            .map(|x| (x.value["value"].clone(), x.user.clone(), x.reason.clone()))
            .collect();
        got.sort_by_key(|(v, _, _)| v.to_string());
        assert_eq!(
            got,
            vec![
                (json!(104), "dr.b".into(), Some("monitor reading".into())),
                (json!(92), "nurse.a".into(), Some("re-counted".into()))
            ],
            "each candidate carries the reason given with its value"
        );
        assert!(
            c.candidates
                .iter()
                .all(|x| x.device.len() == 32 && x.time > 0)
        );
        let view = s.case(&case).unwrap();
        assert_eq!(
            view.values["vs_temp"]["value"],
            json!(38.1),
            "different fields merge silently"
        );
        assert_eq!(view.values["vs_spo2"]["value"], json!(95));
        assert_eq!(
            s.list(&CaseFilter {
                with_conflicts: true,
                ..CaseFilter::default()
            })
            .unwrap()
            .len(),
            1
        );
    }
    // A nurse resolves on B; A receives the resolution.
    b.sign_in_for_tests("nurse.c").unwrap();
    assert!(matches!(
        b.resolve(&case, &f("vs_hr"), json!(104), ""),
        Err(StoreError::ReasonRequired(_))
    ));
    b.resolve(
        &case,
        &f("vs_hr"),
        json!(104),
        "monitor value confirmed with chart",
    )
    .unwrap();
    assert!(b.conflicts(None).unwrap().is_empty());
    assert!(matches!(
        b.resolve(&case, &f("vs_hr"), json!(104), "again"),
        Err(StoreError::NoConflict(_))
    ));
    a.merge_from(&b).unwrap();
    let (va, vb) = (a.case(&case).unwrap(), b.case(&case).unwrap());
    assert_eq!(va.values, vb.values);
    assert_eq!(va.values["vs_hr"]["value"], json!(104));
    assert!(va.conflicts.is_empty());
    let (ha, hb) = (
        a.history(&case, Some("vs_hr")).unwrap(),
        b.history(&case, Some("vs_hr")).unwrap(),
    );
    assert_eq!(ha, hb, "both devices hold the full history");
    let ops: Vec<&str> = ha.iter().map(|h| h.op.as_str()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "set").count(), 3);
    assert_eq!(ops.last(), Some(&"resolve"));
    assert_eq!(
        ha.last().unwrap().reason.as_deref(),
        Some("monitor value confirmed with chart")
    );
}

#[test]
fn concurrent_resolutions_stay_a_conflict_unless_they_agree() {
    let (_da, _db, mut a, mut b, case) = two_devices("resolutions");
    a.set_value(&case, &f("vs_hr"), json!(90), Some("x"))
        .unwrap();
    b.set_value(&case, &f("vs_hr"), json!(110), Some("y"))
        .unwrap();
    a.merge_from(&b).unwrap();
    b.merge_from(&a).unwrap();
    a.resolve(&case, &f("vs_hr"), json!(90), "chart says 90")
        .unwrap();
    b.resolve(&case, &f("vs_hr"), json!(110), "monitor says 110")
        .unwrap();
    a.merge_from(&b).unwrap();
    let c = a.conflicts(Some(&case)).unwrap();
    assert_eq!(c.len(), 1, "two nurses disagreeing is itself a conflict");
    assert_eq!(c[0].candidates.len(), 2);
    // Two devices writing the same value concurrently is not a conflict.
    a.set_value(&case, &f("vs_rr"), json!(18), None).unwrap();
    b.set_value(&case, &f("vs_rr"), json!(18), None).unwrap();
    a.merge_from(&b).unwrap();
    assert!(
        a.conflicts(Some(&case))
            .unwrap()
            .iter()
            .all(|c| c.path.field != "vs_rr")
    );
}

#[test]
fn concurrent_row_additions_both_survive() {
    let (_da, _db, mut a, mut b, case) = two_devices("rows");
    let ra = a
        .add_row(
            &case,
            "medications",
            json!({"med_class": 8}).as_object().unwrap(),
            None,
        )
        .unwrap();
    let rb = b
        .add_row(
            &case,
            "medications",
            json!({"med_class": 2}).as_object().unwrap(),
            None,
        )
        .unwrap();
    a.merge_from(&b).unwrap();
    b.merge_from(&a).unwrap();
    for s in [&mut a, &mut b] {
        let view = s.case(&case).unwrap();
        let mut ids: Vec<&str> = view.values["medications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["row_id"].as_str().unwrap())
            .collect();
        ids.sort();
        let mut want = vec![ra.as_str(), rb.as_str()];
        want.sort();
        assert_eq!(ids, want);
    }
    assert_eq!(
        a.merge_from(&b).unwrap(),
        MergeSummary::default(),
        "merging again changes nothing"
    );
}

#[test]
fn the_sync_credential_is_sealed_and_survives_reopening() {
    let dir = TempDir::new("credential");
    let mut s = store(&dir);
    assert_eq!(s.sync_credential().unwrap(), None);
    let token = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeed";
    s.set_sync_credential("https://repo.example:8443", token)
        .unwrap();
    drop(s);
    let bytes: Vec<u8> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flat_map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is never plaintext on disk"
    );
    let s = CaseStore::open(&dir.0, &pass("ward 7 tablet")).unwrap();
    assert_eq!(
        s.sync_credential().unwrap(),
        Some(("https://repo.example:8443".into(), token.into()))
    );
}

#[test]
fn a_first_push_is_the_saved_document_and_the_echo_of_a_push_rewrites_nothing() {
    let dir = TempDir::new("first-push");
    let mut s = store(&dir);
    let case = s.create_case("icrown-core", &[]).unwrap();
    fill_required(&mut s, &case);
    let (mut doc, _) = s.load(&case).unwrap();
    let push = s.sync_push(&case).unwrap();
    // Never synced: the whole saved document (smaller than the changes one by one), with the
    // document's heads, readable by the other side like changes.
    assert_eq!(push.changes, doc.save());
    assert!(push.changes.len() < doc.changes_after(&[]).len());
    let mut heads: Vec<String> = doc.heads().iter().map(ToString::to_string).collect();
    let mut pushed = push.heads.clone();
    heads.sort();
    pushed.sort();
    assert_eq!(pushed, heads);
    let mut other = CaseDoc::from_changes(&push.changes, &ActorId::random()).unwrap();
    assert_eq!(other.values(), doc.values());
    assert_eq!(other.heads().len(), doc.heads().len());

    // The repository's answer with exactly the device's heads only records them.
    let before: Vec<u8> = s
        .conn
        .query_row("SELECT doc FROM cases WHERE case_id = ?1", [&case], |r| {
            r.get(0)
        })
        .unwrap();
    let echo = crate::sync::CaseChanges {
        changes: Vec::new(),
        ..push.clone()
    };
    assert!(!s.sync_apply(&echo).unwrap());
    let after: Vec<u8> = s
        .conn
        .query_row("SELECT doc FROM cases WHERE case_id = ?1", [&case], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(before, after, "the sealed document is not rewritten");
    assert!(s.sync_outbox().unwrap().is_empty());

    // A later edit goes as the changes after the repository's heads only.
    s.set_value(&case, &f("vs_hr"), json!(88), Some("re-measured"))
        .unwrap();
    assert_eq!(s.sync_outbox().unwrap(), vec![case.clone()]);
    let next = s.sync_push(&case).unwrap();
    assert!(next.changes.len() < push.changes.len());
    other.apply(&next.changes).unwrap();
    let (doc, _) = s.load(&case).unwrap();
    assert_eq!(other.values(), doc.values());
}

#[test]
fn a_sync_answer_is_applied_whole_or_not_at_all() {
    let dir = TempDir::new("apply-all");
    let mut s = store(&dir);
    let other_dir = TempDir::new("apply-all-other");
    let mut other = store(&other_dir);
    let a = other.create_case("icrown-core", &[]).unwrap();
    let b = other.create_case("icrown-core", &[]).unwrap();
    let good = [other.sync_push(&a).unwrap(), other.sync_push(&b).unwrap()];
    let broken = crate::sync::CaseChanges {
        changes: b"not an automerge chunk".to_vec(),
        case_id: "c-broken".into(),
        ..good[0].clone()
    };
    s.set_sync_cursor(4).unwrap();
    // A damaged case in the middle: nothing of the answer is kept, nor its cursor.
    let answer = vec![good[0].clone(), broken, good[1].clone()];
    assert!(s.sync_apply_all(&answer, 9).is_err());
    assert!(s.list(&Default::default()).unwrap().is_empty());
    assert_eq!(s.sync_cursor().unwrap(), 4);
    // The whole answer: both cases and the cursor.
    assert_eq!(s.sync_apply_all(&good, 9).unwrap(), vec![true, true]);
    assert_eq!(s.list(&Default::default()).unwrap().len(), 2);
    assert_eq!(s.sync_cursor().unwrap(), 9);
    // Applied again (an answer repeated): nothing new, nothing duplicated.
    assert_eq!(s.sync_apply_all(&good, 9).unwrap(), vec![false, false]);
    assert_eq!(s.list(&Default::default()).unwrap().len(), 2);
}

#[test]
fn a_large_answer_is_merged_on_several_threads_as_one_by_one() {
    // 40 cases (more than one thread's share): new ones, and ones held here in another state.
    let dir = TempDir::new("apply-many");
    let mut s = store(&dir);
    let other_dir = TempDir::new("apply-many-other");
    let mut other = store(&other_dir);
    let ids: Vec<String> = (0..40)
        .map(|i| {
            let case = other.create_case("icrown-core", &[]).unwrap();
            other
                .set_value(&case, &f("vs_hr"), json!(60 + i), None)
                .unwrap();
            case
        })
        .collect();
    let first: Vec<_> = ids.iter().map(|c| other.sync_push(c).unwrap()).collect();
    assert_eq!(s.sync_apply_all(&first, 1).unwrap(), vec![true; 40]);
    for (i, case) in ids.iter().enumerate() {
        // Half of them change there, and half of those here too.
        if i % 2 == 0 {
            other
                .set_value(case, &f("vs_rr"), json!(12 + i / 4), None)
                .unwrap();
        }
        if i % 4 == 0 {
            s.set_value(case, &f("vs_temp"), json!(37.5), None).unwrap();
        }
    }
    let second: Vec<_> = ids.iter().map(|c| other.sync_push(c).unwrap()).collect();
    assert_eq!(s.sync_apply_all(&second, 2).unwrap(), vec![false; 40]);
    for (i, case) in ids.iter().enumerate() {
        let (mut doc, _) = s.load(case).unwrap();
        let (mut theirs, _) = other.load(case).unwrap();
        let number = |field: &str| doc.value(&f(field)).map(|v| v["value"].clone());
        assert_eq!(number("vs_hr"), Some(json!(60 + i)), "{i}");
        let rr = (i % 2 == 0).then(|| json!(12 + i / 4));
        assert_eq!(number("vs_rr"), rr, "{i}");
        let temp = (i % 4 == 0).then(|| json!(37.5));
        assert_eq!(number("vs_temp"), temp, "{i}");
        // Held exactly as there, unless edited here since: then outside the outbox no more.
        assert_eq!(doc.heads() == theirs.heads(), i % 4 != 0, "{i}");
    }
    let outbox: Vec<String> = ids.iter().step_by(4).cloned().collect();
    let mut pending = s.sync_outbox().unwrap();
    pending.sort();
    let mut expected = outbox.clone();
    expected.sort();
    assert_eq!(
        pending, expected,
        "the cases edited here still go to the repository"
    );
    assert_eq!(s.list(&Default::default()).unwrap().len(), 40);
}

#[test]
fn an_answer_naming_a_case_twice_is_refused_whole() {
    let dir = TempDir::new("apply-twice");
    let mut s = store(&dir);
    let other_dir = TempDir::new("apply-twice-other");
    let mut other = store(&other_dir);
    let case = other.create_case("icrown-core", &[]).unwrap();
    let first = other.sync_push(&case).unwrap();
    other
        .set_value(&case, &f("vs_hr"), json!(70), None)
        .unwrap();
    let second = other.sync_push(&case).unwrap();
    let refused = s.sync_apply_all(&[first, second], 3);
    assert!(
        matches!(&refused, Err(StoreError::Mismatch(m)) if m.contains("twice")),
        "{refused:?}"
    );
    assert!(s.list(&Default::default()).unwrap().is_empty());
    assert_eq!(s.sync_cursor().unwrap(), 0);
}

#[test]
fn the_outbox_is_found_through_its_index() {
    let dir = TempDir::new("outbox-index");
    let s = store(&dir);
    let plan: Vec<String> = s
        .conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT case_id FROM cases
             WHERE server_heads = x'' OR local_heads != server_heads ORDER BY updated_at, case_id",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(plan.iter().any(|p| p.contains("cases_outbox")), "{plan:?}");
    let plan: Vec<String> = s
        .conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT case_id FROM cases WHERE has_conflicts = 1 AND deleted = 0
             ORDER BY updated_at DESC, case_id",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter().any(|p| p.contains("cases_with_conflicts")),
        "{plan:?}"
    );
}

fn enrolment(identifying_on_device: bool) -> crate::sync::Enrolment {
    crate::sync::Enrolment {
        device_id: "d".into(),
        site_id: "site-a".into(),
        token: "t0ken".into(),
        identifying_on_device,
        device_key: None,
    }
}

/// Whether `needle` occurs anywhere in `bytes`.
fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn identifying_values_stay_in_the_device_only_part_at_such_a_site() {
    let dir = TempDir::new("local-part");
    let mut s = store(&dir);
    s.enrolled("https://repo.example", &enrolment(true))
        .unwrap();
    assert!(s.keeps_identifying_on_device());
    let case = s.create_case("icrown-core", &[]).unwrap();
    s.set_value(&case, &f("patient_name"), json!("Kobayashi Emi"), None)
        .unwrap();
    s.set_value(
        &case,
        &f("hospital_record_number"),
        json!("K-5531-0098"),
        None,
    )
    .unwrap();
    s.set_value(&case, &f("date_of_birth"), json!("1958-02-17"), None)
        .unwrap();
    s.set_value(&case, &f("vs_hr"), json!(91), None).unwrap();
    s.set_value(
        &case,
        &f("patient_name"),
        json!("Kobayashi Emiko"),
        Some("name as on the wristband"),
    )
    .unwrap();

    // The device sees every value, validated together, and finds the case by them.
    let view = s.case(&case).unwrap();
    assert_eq!(view.values["patient_name"], json!("Kobayashi Emiko"));
    assert_eq!(view.values["date_of_birth"], json!("1958-02-17"));
    assert_eq!(view.values["vs_hr"]["value"], json!(91));
    assert_eq!(
        s.find("patient_name", "kobayashi emiko").unwrap(),
        vec![case.clone()]
    );
    assert_eq!(
        s.find("hospital_record_number", "k-5531-0098").unwrap(),
        vec![case.clone()]
    );
    // Its history has both parts, the identifying edits with their reason.
    let history = s.history(&case, Some("patient_name")).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].old, Some(json!("Kobayashi Emi")));
    assert_eq!(
        history[1].reason.as_deref(),
        Some("name as on the wristband")
    );
    let all = s.history(&case, None).unwrap();
    assert!(all.windows(2).all(|w| w[0].time <= w[1].time));
    assert!(all.iter().any(|e| e.field.as_deref() == Some("vs_hr")));

    // What leaves the device (a push, an export for another device) holds none of them.
    let push = s.sync_push(&case).unwrap();
    let exported = s.export_cases().unwrap();
    for secret in ["Kobayashi", "K-5531-0098", "1958-02-17", "wristband"] {
        assert!(!contains(&push.changes, secret), "{secret} in the push");
        assert!(
            !contains(&exported[0].bytes, secret),
            "{secret} in the export"
        );
    }
    let mut pushed = CaseDoc::load(&push.changes, &s.actor).unwrap();
    assert_eq!(pushed.values()["vs_hr"]["value"], json!(91));
    assert!(pushed.values().get("patient_name").is_none());
    assert!(pushed.history(Some("patient_name")).is_empty());

    // The setting and the values survive reopening the store.
    drop(s);
    let mut s = CaseStore::open(&dir.0, &pass("ward 7 tablet")).unwrap();
    s.sign_in_for_tests("nurse").unwrap();
    assert!(s.keeps_identifying_on_device());
    assert_eq!(
        s.case(&case).unwrap().values["hospital_record_number"],
        json!("K-5531-0098")
    );
}

#[test]
fn editing_an_identifying_field_of_a_complete_case_reopens_it_without_telling_the_value() {
    let dir = TempDir::new("local-reopen");
    let mut s = store(&dir);
    s.enrolled("https://repo.example", &enrolment(true))
        .unwrap();
    let case = s.create_case("icrown-core", &[]).unwrap();
    fill_required(&mut s, &case);
    s.set_status(&case, Status::Complete, None).unwrap();
    assert!(matches!(
        s.set_value(&case, &f("patient_name"), json!("Ito Ren"), None),
        Err(StoreError::ReasonRequired(_))
    ));
    s.set_value(
        &case,
        &f("patient_name"),
        json!("Ito Ren"),
        Some("spelling of Ito Ren"),
    )
    .unwrap();
    let view = s.case(&case).unwrap();
    assert_eq!(view.status, Status::Draft, "reopened");
    assert_eq!(view.values["patient_name"], json!("Ito Ren"));
    let push = s.sync_push(&case).unwrap();
    assert!(!contains(&push.changes, "Ito Ren"));
    let mut shared = CaseDoc::load(&push.changes, &s.actor).unwrap();
    let reopen = shared
        .history(None)
        .into_iter()
        .find(|e| e.op == "reopen")
        .expect("a reopen entry");
    assert_eq!(
        reopen.reason.as_deref(),
        Some("an identifying field was edited on the device")
    );
}

#[test]
fn a_store_whose_shared_records_hold_identifiers_cannot_join_such_a_site() {
    let dir = TempDir::new("local-refused");
    let mut s = store(&dir);
    let case = s.create_case("icrown-core", &[]).unwrap();
    s.set_value(&case, &f("patient_name"), json!("Abe Sora"), None)
        .unwrap();
    // Cleared again, the name is still in the record's history: still refused.
    s.set_value(&case, &f("patient_name"), Json::Null, Some("wrong case"))
        .unwrap();
    let err = s
        .enrolled("https://repo.example", &enrolment(true))
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::IdentifyingAlreadyShared { cases: 1 }
    ));
    assert!(!err.to_string().contains("Abe"));
    assert!(!s.keeps_identifying_on_device());
    assert_eq!(s.sync_credential().unwrap(), None, "nothing kept");
    // A site without the setting takes it; values then go to the shared record as before.
    s.enrolled("https://repo.example", &enrolment(false))
        .unwrap();
    assert!(!s.keeps_identifying_on_device());
    assert!(s.sync_credential().unwrap().is_some());
}

#[test]
fn merging_and_syncing_keep_the_device_only_part() {
    let (_da, _db, mut a, mut b, case) = two_devices("local-merge");
    b.enrolled("https://repo.example", &enrolment(true))
        .unwrap();
    b.set_value(&case, &f("patient_name"), json!("Mori Aoi"), None)
        .unwrap();
    // Another device's edit arrives (as a sync answer would bring it).
    a.set_value(&case, &f("vs_rr"), json!(22), None).unwrap();
    let theirs = a.sync_push(&case).unwrap();
    b.sync_apply_all(std::slice::from_ref(&theirs), 7).unwrap();
    let view = b.case(&case).unwrap();
    assert_eq!(view.values["vs_rr"]["value"], json!(22));
    assert_eq!(view.values["patient_name"], json!("Mori Aoi"));
    assert_eq!(
        b.find("patient_name", "mori aoi").unwrap(),
        vec![case.clone()]
    );
    // A record that carries identifiers is refused by a store that keeps them to itself.
    let other = a.create_case("icrown-core", &[]).unwrap();
    a.set_value(&other, &f("patient_name"), json!("Ueda Kai"), None)
        .unwrap();
    assert!(matches!(
        b.merge_from(&a),
        Err(StoreError::IdentifyingAlreadyShared { .. })
    ));
}
