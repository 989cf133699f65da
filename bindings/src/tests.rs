//! The wrapper over the core (the core's own behaviour is tested in the core): key providers
//! adapted both ways, JSON values in and out, errors mapped, two stores merged, staff signed
//! in, PINs, the inactivity lock and signatures, and a sync that leaves the store free (one
//! sync at a time, a locked store refused).

use super::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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

/// A new store on a pad key with `staff` signed in (the core's test sign-in).
fn signed_in(dir: &TempDir, pad: u8, staff: &str) -> Arc<CaseStore> {
    let store = CaseStore::create(dir.path(), Arc::new(PadKey(pad))).unwrap();
    store.sign_in_for_tests(staff).unwrap();
    store
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
    // A store nobody has signed in on yet: the platform key alone opens it, checked at once.
    drop(CaseStore::create(dir.path(), Arc::new(PadKey(0x5a))).unwrap());
    assert_eq!(
        CaseStore::open(dir.path(), Arc::new(PadKey(0x33))).unwrap_err(),
        WardcrfError::WrongKey
    );
    assert_eq!(
        CaseStore::open(dir.path(), Arc::new(PadKey(0))).unwrap_err(),
        WardcrfError::KeyUnavailable {
            reason: "the key provider failed: device locked".into()
        }
    );
    assert_eq!(
        CaseStore::create(dir.path(), Arc::new(PadKey(0x5a))).unwrap_err(),
        WardcrfError::StoreExists
    );
    let store = CaseStore::open(dir.path(), Arc::new(PadKey(0x5a))).unwrap();
    store.sign_in_for_tests("nurse").unwrap();
    let case = store.create_case("icrown-core".into(), vec![]).unwrap();
    drop(store);
    assert_eq!(
        CaseStore::open(dir.path(), Arc::new(PadKey(0))).unwrap_err(),
        WardcrfError::KeyUnavailable {
            reason: "the key provider failed: device locked".into()
        }
    );
    let store = CaseStore::open(dir.path(), Arc::new(PadKey(0x5a))).unwrap();
    // Staff signed in on it: it opens locked.
    assert!(!store.is_unlocked());
    assert_eq!(
        store.view_case(case.clone(), Language::En),
        Err(WardcrfError::Locked)
    );
    store.sign_in_for_tests("nurse").unwrap();
    let cases = store.list_cases(CaseFilter::default()).unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].case_id, case);
    assert_eq!(cases[0].status, CaseStatus::Draft);
}

#[test]
fn values_rows_status_and_history_cross_as_json_and_records() {
    let dir = TempDir::new("values");
    let store = signed_in(&dir, 7, "dr-a");
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
        Err(WardcrfError::SignatureRequired)
    );
    assert_eq!(
        store.sign(case.clone(), "test password dr-a".into(), "author".into()),
        Err(WardcrfError::NotSignable)
    );
    let history = store.history(case.clone(), None).unwrap();
    let ops: Vec<&str> = history.iter().map(|h| h.op.as_str()).collect();
    assert_eq!(ops, ["create", "set", "set", "row_add", "row_remove"]);
    assert!(
        history
            .iter()
            .all(|h| h.user == "dr-a" && h.user_name.as_deref() == Some("Test dr-a") && h.verified)
    );
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
    let a = signed_in(&da, 1, "dr-a");
    let b = signed_in(&db, 2, "dr-b");
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
    let store = CaseStore::create(dir.path(), Arc::new(PadKey(3))).unwrap();
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

#[test]
fn a_device_pointed_at_another_address_keeps_its_credential_and_pin() {
    let dir = TempDir::new("move");
    let store = CaseStore::create(dir.path(), Arc::new(PadKey(9))).unwrap();
    assert_eq!(
        store.set_server_url("https://lb.example.org".into()),
        Err(WardcrfError::NotEnrolled)
    );
    let pin: wardcrf_core::sync::CertPin = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
    let enrolment = wardcrf_core::sync::Enrolment {
        device_id: store.device_id(),
        site_id: "site-a".into(),
        token: "the device token".into(),
        identifying_on_device: false,
        device_key: None,
    };
    store
        .store()
        .unwrap()
        .enrolled_pinned("https://crf-1.example.org", &enrolment, Some(pin))
        .unwrap();
    // Not a repository address: refused, nothing changed.
    for bad in [
        "ftp://crf.example.org",
        "http://crf.example.org",
        "not an address",
    ] {
        assert!(
            matches!(
                store.set_server_url(bad.into()),
                Err(WardcrfError::InvalidInput { .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(
        store.server_url().unwrap().as_deref(),
        Some("https://crf-1.example.org")
    );
    store
        .set_server_url(" https://crf.example.org/ ".into())
        .unwrap();
    assert_eq!(
        store.server_url().unwrap().as_deref(),
        Some("https://crf.example.org")
    );
    let core = store.store().unwrap();
    assert_eq!(
        core.sync_credential().unwrap(),
        Some((
            "https://crf.example.org".to_string(),
            "the device token".to_string()
        ))
    );
    assert_eq!(core.server_pin().unwrap(), Some(pin));
}

#[test]
fn changes_need_a_signed_in_staff_member_whose_first_sign_in_is_online() {
    let dir = TempDir::new("no-user");
    let store = CaseStore::create(dir.path(), Arc::new(PadKey(4))).unwrap();
    // A new store nobody has claimed is open, but nobody may write in it.
    assert!(store.is_unlocked());
    assert_eq!(store.current_user(), None);
    assert_eq!(
        store.create_case("icrown-core".into(), vec![]),
        Err(WardcrfError::NotSignedIn)
    );
    // Not enrolled: a first sign-in, which the repository must check, cannot happen.
    assert_eq!(
        store.sign_in("sato".into(), "her password".into(), None),
        Err(WardcrfError::OnlineSignInRequired {
            user: "sato".into()
        })
    );
    assert!(store.local_staff().unwrap().is_empty());
    store.sign_in_for_tests("sato").unwrap();
    assert_eq!(
        store.current_user(),
        Some(SignedInUser {
            id: "sato".into(),
            display_name: "Test sato".into(),
            role: StaffRole::SiteNurse,
            since: store.current_user().map_or(0, |u| u.since),
        })
    );
    assert_eq!(store.local_staff().unwrap(), ["sato"]);
    store.create_case("icrown-core".into(), vec![]).unwrap();
    store.sign_out();
    assert_eq!(store.current_user(), None);
    assert!(!store.is_unlocked());
}

#[test]
fn a_wrong_password_or_pin_writes_nothing_and_five_wrong_pins_end_the_pin() {
    let dir = TempDir::new("pin");
    let store = signed_in(&dir, 5, "nurse");
    let case = store.create_case("icrown-core".into(), vec![]).unwrap();
    assert_eq!(
        store.set_pin("not my password".into(), "2468".into()),
        Err(WardcrfError::WrongCredential)
    );
    assert_eq!(
        store.set_pin("test password nurse".into(), "12".into()),
        Err(WardcrfError::BadPin)
    );
    store
        .set_pin("test password nurse".into(), "2468".into())
        .unwrap();
    store.lock();
    assert!(!store.is_unlocked());
    assert_eq!(store.history(case.clone(), None), Err(WardcrfError::Locked));
    assert_eq!(
        store.sign_in("nurse".into(), "not my password".into(), None),
        Err(WardcrfError::WrongCredential)
    );
    assert_eq!(
        store.unlock_with_pin("nurse".into(), "1111".into()),
        Err(WardcrfError::WrongCredential)
    );
    assert_eq!(store.current_user(), None);
    let user = store
        .unlock_with_pin("nurse".into(), "2468".into())
        .unwrap();
    assert_eq!(
        (user.id.as_str(), user.role),
        ("nurse", StaffRole::SiteNurse)
    );
    // The refused credentials wrote nothing.
    assert_eq!(store.history(case.clone(), None).unwrap().len(), 1);

    store.lock();
    for _ in 0..4 {
        assert_eq!(
            store.unlock_with_pin("nurse".into(), "0000".into()),
            Err(WardcrfError::WrongCredential)
        );
    }
    assert_eq!(
        store.unlock_with_pin("nurse".into(), "0000".into()),
        Err(WardcrfError::PinLocked {
            user: "nurse".into()
        })
    );
    assert_eq!(
        store.unlock_with_pin("nurse".into(), "2468".into()),
        Err(WardcrfError::NoPin {
            user: "nurse".into()
        })
    );
    assert!(!store.is_unlocked());
    let user = store
        .sign_in("nurse".into(), "test password nurse".into(), None)
        .unwrap();
    assert_eq!(user.display_name, "Test nurse");
    store
        .set_pin("test password nurse".into(), "97531".into())
        .unwrap();
    store.remove_pin().unwrap();
    store.lock();
    assert_eq!(
        store.unlock_with_pin("nurse".into(), "97531".into()),
        Err(WardcrfError::NoPin {
            user: "nurse".into()
        })
    );
}

#[test]
fn an_unused_store_locks_itself_and_use_keeps_it_open() {
    let dir = TempDir::new("idle");
    let store = signed_in(&dir, 6, "nurse");
    assert_eq!(store.lock_after_minutes().unwrap(), 5);
    let case = store.create_case("icrown-core".into(), vec![]).unwrap();
    store.activity().idle_for_tests(Duration::from_secs(4 * 60));
    store.touch();
    store.activity().idle_for_tests(Duration::from_secs(4 * 60));
    // Asking who is signed in (a screen polling) is not use: the clock keeps running.
    assert!(store.current_user().is_some() && store.is_unlocked());
    assert!(store.activity().idle() >= Duration::from_secs(4 * 60));
    store.view_case(case.clone(), Language::En).unwrap();
    assert!(store.activity().idle() < Duration::from_secs(60));

    store
        .activity()
        .idle_for_tests(Duration::from_secs(5 * 60 + 1));
    assert_eq!(
        store.view_case(case.clone(), Language::En),
        Err(WardcrfError::Locked)
    );
    assert!(!store.is_unlocked());
    assert_eq!(store.current_user(), None);
    store.sign_in_for_tests("nurse").unwrap();
    store.view_case(case.clone(), Language::En).unwrap();
    // Asking who is signed in after too long also finds the store locked.
    store.activity().idle_for_tests(Duration::from_secs(6 * 60));
    assert_eq!(store.current_user(), None);
    assert!(!store.is_unlocked());

    // A store nobody has claimed has no key to protect: the platform key alone opens it.
    let open = TempDir::new("idle-open");
    let store = CaseStore::create(open.path(), Arc::new(PadKey(8))).unwrap();
    store
        .activity()
        .idle_for_tests(Duration::from_secs(60 * 60));
    assert!(store.list_cases(CaseFilter::default()).unwrap().is_empty());
    assert!(store.is_unlocked());
}

#[test]
fn signing_needs_the_password_and_a_meaning_of_the_site() {
    let dir = TempDir::new("sign");
    let store = signed_in(&dir, 9, "nurse");
    let case = store.create_case("icrown-core".into(), vec![]).unwrap();
    let values: serde_json::Value =
        serde_json::from_str(include_str!("../../core/tests/fixtures/complete-case.json")).unwrap();
    for (k, v) in values.as_object().unwrap() {
        store
            .set_value(case.clone(), field(k), v.to_string(), None)
            .unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    store
        .set_status(case.clone(), CaseStatus::Complete, None)
        .unwrap();
    let meanings = store.signature_meanings().unwrap();
    let author = meanings.iter().find(|m| m.code == "author").unwrap();
    assert!(author.ja.contains("作成者"));
    assert_eq!(
        store.sign(case.clone(), "test password nurse".into(), "boss".into()),
        Err(WardcrfError::UnknownMeaning {
            meaning: "boss".into(),
            known: meanings.iter().map(|m| m.code.clone()).collect()
        })
    );
    assert_eq!(
        store.sign(case.clone(), "a PIN is not enough".into(), "author".into()),
        Err(WardcrfError::WrongCredential)
    );
    assert!(store.signatures(case.clone()).unwrap().is_empty());
    let signature = store
        .sign(case.clone(), "test password nurse".into(), "author".into())
        .unwrap();
    assert_eq!(
        (
            signature.signer_id.as_str(),
            signature.signer_name.as_str(),
            signature.meaning.as_str(),
            signature.meaning_en.as_str(),
            signature.superseded
        ),
        ("nurse", "Test nurse", "author", author.en.as_str(), false)
    );
    assert!(!signature.heads.is_empty());
    assert_eq!(
        store.view_case(case.clone(), Language::En).unwrap().status,
        CaseStatus::Signed
    );
    assert_eq!(
        store.signatures(case.clone()).unwrap(),
        std::slice::from_ref(&signature)
    );
    let history = store.history(case.clone(), None).unwrap();
    assert_eq!(history.last().map(|h| h.op.as_str()), Some("sign"));
    // A later edit: the signature stays in the history, superseded.
    store
        .set_value(
            case.clone(),
            field("vs_hr"),
            "101".into(),
            Some("recounted".into()),
        )
        .unwrap();
    let signatures = store.signatures(case).unwrap();
    assert_eq!(signatures.len(), 1);
    assert!(signatures[0].superseded);
}

fn shown_field<'a>(session: &'a FormSession, id: &str) -> Option<&'a SessionField> {
    session
        .sections
        .iter()
        .flat_map(|s| s.items.iter())
        .find_map(|item| match item {
            SessionItem::Field { field } if field.id == id => Some(field),
            _ => None,
        })
}

#[test]
fn the_form_session_is_typed_and_follows_the_answers() {
    let dir = TempDir::new("session");
    let store = signed_in(&dir, 0x21, "nurse");
    let case = store.create_case("icrown-core".into(), vec![]).unwrap();
    let session = store.form_session(case.clone(), Language::Ja).unwrap();
    assert_eq!(session.next_missing, Some(field("case_id")));
    assert!(!session.can_complete);
    let temp = shown_field(&session, "vs_temp").unwrap();
    assert_eq!(temp.kind, FieldKind::Decimal);
    assert_eq!(temp.units.first().map(|u| u.code.as_str()), Some("Cel"));
    assert!(temp.units.iter().any(|u| u.code == "[degF]"));
    assert_eq!(temp.state, FieldState::Empty);

    // A temperature typed in °F is stored in °C, and the session says what was typed.
    let session = store
        .set_answer(
            case.clone(),
            field("vs_temp"),
            Some(AnswerValue::Number { value: 101.3 }),
            Language::En,
            Some("[degF]".into()),
            None,
        )
        .unwrap();
    let temp = shown_field(&session, "vs_temp").unwrap();
    assert_eq!(temp.answer, Some(AnswerValue::Number { value: 38.5 }));
    assert_eq!(
        temp.entered,
        Some(EnteredQuantity {
            value: 101.3,
            unit: "[degF]".into()
        })
    );
    assert_eq!(temp.state, FieldState::Valid);

    // An unusual value is refused without a reason; with one it is confirmed.
    assert!(matches!(
        store.set_answer(
            case.clone(),
            field("vs_spo2"),
            Some(AnswerValue::Number { value: 75.0 }),
            Language::De,
            None,
            None,
        ),
        Err(WardcrfError::NeedsConfirmation { .. })
    ));
    let session = store
        .set_answer(
            case.clone(),
            field("vs_spo2"),
            Some(AnswerValue::Number { value: 75.0 }),
            Language::De,
            None,
            Some("zweimal gemessen".into()),
        )
        .unwrap();
    let spo2 = shown_field(&session, "vs_spo2").unwrap();
    assert_eq!(spo2.state, FieldState::Confirmed);
    assert_eq!(spo2.confirmation.as_deref(), Some("zweimal gemessen"));
    assert!(spo2.messages.iter().all(|m| m.warning));

    // Pregnancy shows for a female patient; answered, then hidden by a corrected sex, its
    // value is offered for clearing and completion asks for the choice.
    let session = store
        .set_answer(
            case.clone(),
            field("sex_at_birth"),
            Some(AnswerValue::Choice { code: "2".into() }),
            Language::En,
            None,
            None,
        )
        .unwrap();
    assert!(shown_field(&session, "pregnancy_status").is_some());
    store
        .set_answer(
            case.clone(),
            field("pregnancy_status"),
            Some(AnswerValue::Choice { code: "1".into() }),
            Language::En,
            None,
            None,
        )
        .unwrap();
    let session = store
        .set_answer(
            case.clone(),
            field("sex_at_birth"),
            Some(AnswerValue::Choice { code: "1".into() }),
            Language::En,
            None,
            Some("entered in the wrong row".into()),
        )
        .unwrap();
    assert!(shown_field(&session, "pregnancy_status").is_none());
    assert_eq!(session.hidden_values.len(), 1);
    assert_eq!(session.hidden_values[0].path, field("pregnancy_status"));
    assert!(!session.hidden_values[0].shown.is_empty());
    assert!(matches!(
        store.complete(
            case.clone(),
            HiddenValueChoice::NoHiddenValues,
            Language::En
        ),
        Err(WardcrfError::NotComplete { .. })
    ));
    let session = store
        .clear_hidden(case.clone(), "does not apply".into(), Language::En)
        .unwrap();
    assert!(session.hidden_values.is_empty());
}

/// The cases one exchange pushed, each with its heads.
type Pushed = Vec<(String, Vec<String>)>;

/// A repository stand-in that holds each exchange until the test lets it go, and tells the
/// test when one arrives: the test acts while a sync is in flight, without timing.
struct Gate {
    arrived: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    in_flight: std::sync::atomic::AtomicUsize,
    most_in_flight: std::sync::atomic::AtomicUsize,
    /// The heads pushed for each case, exchange by exchange.
    pushes: std::sync::Mutex<Vec<Pushed>>,
}

impl Gate {
    fn new() -> (
        Arc<Gate>,
        std::sync::mpsc::Receiver<()>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (arrived, arrivals) = std::sync::mpsc::channel();
        let (go, release) = std::sync::mpsc::channel();
        let gate = Gate {
            arrived: std::sync::Mutex::new(arrived),
            release: std::sync::Mutex::new(release),
            in_flight: 0.into(),
            most_in_flight: 0.into(),
            pushes: std::sync::Mutex::new(Vec::new()),
        };
        (Arc::new(gate), arrivals, go)
    }

    fn exchanges(&self) -> usize {
        self.pushes.lock().unwrap().len()
    }
}

impl wardcrf_core::sync::Transport for Gate {
    fn exchange(
        &self,
        request: &wardcrf_core::sync::SyncRequest,
    ) -> Result<wardcrf_core::sync::SyncResponse, wardcrf_core::sync::TransportError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most_in_flight.fetch_max(now, SeqCst);
        self.pushes.lock().unwrap().push(
            request
                .push
                .iter()
                .map(|c| (c.case_id.clone(), c.heads.clone()))
                .collect(),
        );
        self.arrived.lock().unwrap().send(()).unwrap();
        self.release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30))
            .expect("the test lets the exchange go");
        self.in_flight.fetch_sub(1, SeqCst);
        // Takes nothing (the push stays in the outbox), sends nothing.
        Ok(wardcrf_core::sync::SyncResponse {
            epoch: None,
            protocol: wardcrf_core::sync::PROTOCOL,
            cursor: request.cursor,
            more: false,
            cases: vec![],
            repush: vec![],
        })
    }
}

/// Runs `call` on another thread and gives its result, or fails the test when it does not
/// return within a few seconds (a store held across the exchange would block it for good).
fn promptly<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the store answers while a sync is in flight")
}

struct ListsCases(Arc<CaseStore>, std::sync::Mutex<Vec<usize>>);

impl SyncProgressListener for ListsCases {
    fn on_progress(&self, _progress: SyncProgress) {
        let cases = self.0.list_cases(CaseFilter::default()).unwrap().len();
        self.1.lock().unwrap().push(cases);
    }
}

#[test]
fn the_store_answers_during_a_sync_and_a_second_sync_waits_for_the_first() {
    let dir = TempDir::new("busy");
    let store = signed_in(&dir, 7, "sato");
    let case = store.create_case("icrown-core".into(), vec![]).unwrap();
    let (gate, arrivals, go) = Gate::new();
    let listener = Arc::new(ListsCases(store.clone(), std::sync::Mutex::new(Vec::new())));
    let first = {
        let (store, gate, listener) = (store.clone(), gate.clone(), listener.clone());
        std::thread::spawn(move || store.sync_through(&*gate, Some(listener), None))
    };
    arrivals.recv_timeout(Duration::from_secs(30)).unwrap();
    // While the first sync waits for its answer, the ward reads and edits.
    let (s, c) = (store.clone(), case.clone());
    let stored = promptly(move || {
        s.set_value(c.clone(), field("vs_hr"), "88".into(), None)
            .unwrap();
        s.view_case(c, Language::En).unwrap().values_json
    });
    assert!(stored.contains("88"), "{stored}");
    // A second sync waits for the first: its exchange does not start while the first's is
    // held (the gate would see two in flight).
    let second = {
        let (store, gate) = (store.clone(), gate.clone());
        std::thread::spawn(move || store.sync_through(&*gate, None, None))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(gate.exchanges(), 1);
    go.send(()).unwrap();
    first.join().unwrap().unwrap();
    arrivals.recv_timeout(Duration::from_secs(30)).unwrap();
    go.send(()).unwrap();
    second.join().unwrap().unwrap();
    assert_eq!(
        gate.most_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // The listener read the store during the first sync; the edit made during it went out
    // with the second (new heads for the case).
    assert_eq!(*listener.1.lock().unwrap(), vec![1]);
    let pushes = gate.pushes.lock().unwrap();
    assert_eq!(pushes.len(), 2);
    assert_eq!(pushes[0][0].0, case);
    assert_eq!(pushes[1][0].0, case);
    assert_ne!(pushes[0][0].1, pushes[1][0].1);
}

#[test]
fn a_locked_store_does_not_start_a_sync_and_one_locked_midway_finishes_its_exchange() {
    let dir = TempDir::new("lockedsync");
    let store = signed_in(&dir, 9, "sato");
    store.create_case("icrown-core".into(), vec![]).unwrap();
    let (gate, arrivals, go) = Gate::new();
    let sync = {
        let (store, gate) = (store.clone(), gate.clone());
        std::thread::spawn(move || store.sync_through(&*gate, None, None))
    };
    arrivals.recv_timeout(Duration::from_secs(30)).unwrap();
    // The tablet locks during the exchange: at once, and every call is refused.
    let s = store.clone();
    promptly(move || s.lock());
    assert!(!store.is_unlocked());
    assert_eq!(
        store.create_case("icrown-core".into(), vec![]).unwrap_err(),
        WardcrfError::Locked
    );
    go.send(()).unwrap();
    // The answer in hand is applied; nothing more was asked for, so the sync ends well.
    sync.join().unwrap().unwrap();
    assert!(!store.is_unlocked(), "the sync left no key behind");
    // A locked store does not start a sync.
    assert_eq!(
        store.sync_through(&*gate, None, None).unwrap_err(),
        WardcrfError::Locked
    );
    assert_eq!(
        store.sync(None, None, None).unwrap_err(),
        WardcrfError::Locked
    );
    assert_eq!(gate.exchanges(), 1);
}

#[test]
fn a_sync_is_not_use_and_the_inactivity_lock_stops_it_from_starting() {
    let dir = TempDir::new("syncidle");
    let store = signed_in(&dir, 10, "nurse");
    store.create_case("icrown-core".into(), vec![]).unwrap();
    let (gate, arrivals, go) = Gate::new();
    go.send(()).unwrap();
    store.activity().idle_for_tests(Duration::from_secs(4 * 60));
    // A background sync does not hold off the inactivity lock.
    store.sync_through(&*gate, None, None).unwrap();
    arrivals.try_recv().unwrap();
    assert!(store.activity().idle() >= Duration::from_secs(4 * 60));
    store
        .activity()
        .idle_for_tests(Duration::from_secs(5 * 60 + 1));
    assert_eq!(
        store.sync_through(&*gate, None, None).unwrap_err(),
        WardcrfError::Locked
    );
    assert!(!store.is_unlocked());
    assert_eq!(gate.exchanges(), 1);
}
