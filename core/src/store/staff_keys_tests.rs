//! Tests of staff sign-in on the device: online then offline, PINs, locking, the roster,
//! recovery with the repository's unlock key, signatures.

use super::*;
use crate::store::{FieldPath, Passphrase, Status};
use crate::sync::Enrolment;
use serde_json::json;
use std::path::PathBuf;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let n = random_bytes::<6>().unwrap();
        Dir(std::env::temp_dir().join(format!(
            "wardcrf-staff-{name}-{}",
            n.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const UNLOCK: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

fn platform() -> Passphrase {
    Passphrase::insecure_for_tests("platform key", 10)
}

fn member(id: &str, name: &str) -> StaffMember {
    StaffMember {
        id: id.into(),
        display_name: name.into(),
        role: StaffRole::Clinician,
        active: true,
        credential_epoch: 0,
    }
}

fn grant(id: &str, name: &str) -> StaffGrant {
    StaffGrant {
        staff: member(id, name),
        device_key: Zeroizing::new(UNLOCK.into()),
    }
}

fn roster(staff: Vec<StaffMember>) -> Roster {
    Roster {
        site_id: "tokyo".into(),
        staff,
        settings: SiteSettings::default(),
    }
}

/// A new store enrolled (its data key wrapped under the repository's unlock key), with
/// cheap staff wraps.
fn enrolled_store(dir: &Dir) -> CaseStore {
    let mut s = CaseStore::create(&dir.0, &platform()).unwrap();
    s.set_credential_iterations_for_tests(10);
    s.enrolled(
        "http://127.0.0.1:1",
        &Enrolment {
            device_id: s.device_id(),
            site_id: "tokyo".into(),
            token: "device-token".into(),
            identifying_on_device: false,
            device_key: Some(Zeroizing::new(UNLOCK.into())),
        },
    )
    .unwrap();
    s
}

fn reopen(dir: &Dir) -> CaseStore {
    let mut s = CaseStore::open(&dir.0, &platform()).unwrap();
    s.set_credential_iterations_for_tests(10);
    s
}

fn hr() -> FieldPath {
    FieldPath::field("vs_hr")
}

#[test]
fn two_staff_sign_in_online_then_offline_and_each_change_is_theirs() {
    let dir = Dir::new("two");
    let mut s = enrolled_store(&dir);
    assert!(!s.is_claimed().unwrap(), "a new store is an open door");
    assert!(matches!(
        s.create_case("icrown-core", &[]),
        Err(StoreError::NotSignedIn)
    ));
    s.sign_in_online(&grant("sato", "Dr. Sato Hanako"), "sato's password")
        .unwrap();
    assert!(s.is_claimed().unwrap(), "the first sign-in closes the door");
    let case = s.create_case("icrown-core", &[]).unwrap();
    s.set_value(&case, &hr(), json!(88), None).unwrap();
    s.lock();
    assert!(matches!(s.case(&case), Err(StoreError::Locked)));
    // A second person, first online: the store is locked, the grant's unlock key opens it.
    s.sign_in_online(&grant("weber", "Marie Weber"), "weber's password")
        .unwrap();
    s.set_value(&case, &FieldPath::field("vs_rr"), json!(18), None)
        .unwrap();
    drop(s);
    // Offline from now on (no repository involved): each with their own password.
    let mut s = reopen(&dir);
    assert!(!s.is_unlocked());
    assert_eq!(s.local_staff().unwrap(), ["sato", "weber"]);
    s.sign_in("sato", &Credential::password("sato's password"))
        .unwrap();
    s.set_value(&case, &hr(), json!(92), Some("re-counted"))
        .unwrap();
    let who: Vec<(String, String, Option<String>, bool)> = s
        .history(&case, None)
        .unwrap()
        .into_iter()
        .map(|h| (h.op, h.user, h.user_name, h.verified))
        .collect();
    let sato = |op: &str| {
        (
            op.to_string(),
            "sato".to_string(),
            Some("Dr. Sato Hanako".to_string()),
            true,
        )
    };
    assert_eq!(
        who,
        vec![
            sato("create"),
            sato("set"),
            (
                "set".into(),
                "weber".into(),
                Some("Marie Weber".into()),
                true
            ),
            sato("set"),
        ]
    );
    assert_eq!(s.signed_in().unwrap().staff.name, "Dr. Sato Hanako");
}

#[test]
fn a_wrong_password_or_pin_is_refused_with_nothing_written_and_five_wrong_pins_end_the_pin() {
    let dir = Dir::new("wrong");
    let mut s = enrolled_store(&dir);
    s.sign_in_online(&grant("sato", "Sato"), "right password")
        .unwrap();
    let case = s.create_case("icrown-core", &[]).unwrap();
    assert!(matches!(
        s.set_pin("wrong password", "2468"),
        Err(StoreError::WrongCredential)
    ));
    assert!(matches!(
        s.set_pin("right password", "12"),
        Err(StoreError::BadPin)
    ));
    s.set_pin("right password", "2468").unwrap();
    let history = s.history(&case, None).unwrap();
    s.lock();
    assert!(matches!(
        s.sign_in("sato", &Credential::password("wrong password")),
        Err(StoreError::WrongCredential)
    ));
    assert!(matches!(
        s.sign_in("nobody", &Credential::password("x")),
        Err(StoreError::OnlineSignInRequired(_))
    ));
    assert!(!s.is_unlocked() && s.signed_in().is_none());
    s.sign_in("sato", &Credential::pin("2468")).unwrap();
    assert_eq!(s.history(&case, None).unwrap(), history, "nothing written");
    s.lock();
    for attempt in 1..=MAX_PIN_FAILURES {
        let err = s.sign_in("sato", &Credential::pin("0000")).unwrap_err();
        if attempt < MAX_PIN_FAILURES {
            assert!(matches!(err, StoreError::WrongCredential), "{err}");
        } else {
            assert!(matches!(err, StoreError::PinLocked(_)), "{err}");
        }
    }
    assert!(matches!(
        s.sign_in("sato", &Credential::pin("2468")),
        Err(StoreError::NoPin(_))
    ));
    s.sign_in("sato", &Credential::password("right password"))
        .unwrap();
    assert_eq!(s.history(&case, None).unwrap(), history, "nothing written");
}

#[test]
fn too_many_wrong_passwords_ask_for_an_online_sign_in() {
    let dir = Dir::new("online");
    let mut s = enrolled_store(&dir);
    s.sign_in_online(&grant("sato", "Sato"), "right password")
        .unwrap();
    s.lock();
    for _ in 0..MAX_PASSWORD_FAILURES {
        assert!(matches!(
            s.sign_in("sato", &Credential::password("guess")),
            Err(StoreError::WrongCredential)
        ));
    }
    assert!(matches!(
        s.sign_in("sato", &Credential::password("right password")),
        Err(StoreError::OnlineSignInRequired(_))
    ));
    s.sign_in_online(&grant("sato", "Sato"), "right password")
        .unwrap();
    s.lock();
    s.sign_in("sato", &Credential::password("right password"))
        .unwrap();
}

#[test]
fn the_store_and_its_platform_key_without_a_staff_credential_open_nothing() {
    let dir = Dir::new("stolen");
    let mut s = enrolled_store(&dir);
    s.sign_in_online(&grant("sato", "Sato"), "right password")
        .unwrap();
    let case = s.create_case("icrown-core", &[]).unwrap();
    s.set_value(
        &case,
        &FieldPath::field("patient_name"),
        json!("Yamada Taro"),
        None,
    )
    .unwrap();
    drop(s);
    // The thief has the directory and the platform key.
    let mut s = reopen(&dir);
    assert!(!s.is_unlocked());
    assert!(matches!(s.case(&case), Err(StoreError::Locked)));
    assert!(matches!(
        s.list(&Default::default()),
        Err(StoreError::Locked)
    ));
    assert!(matches!(s.history(&case, None), Err(StoreError::Locked)));
    assert!(matches!(
        s.find("patient_name", "Yamada Taro"),
        Err(StoreError::Locked)
    ));
    assert!(matches!(s.export_cases(), Err(StoreError::Locked)));
    assert!(matches!(s.sync_push(&case), Err(StoreError::Locked)));
    // A made-up grant does not open it: the unlock key is the repository's.
    let mut forged = grant("mallory", "M");
    forged.device_key = Zeroizing::new("11".repeat(32));
    assert!(matches!(
        s.sign_in_online(&forged, "anything"),
        Err(StoreError::WrongKey)
    ));
    assert!(!s.is_unlocked());
    // What it may read: the device's own credential, to sign staff in online.
    assert!(s.sync_credential().unwrap().is_some());
    let bytes = std::fs::read(dir.0.join(crate::store::DB_FILE)).unwrap();
    assert!(!bytes.windows(11).any(|w| w == b"Yamada Taro"));
}

#[test]
fn the_repositorys_unlock_key_recovers_a_store_whose_users_forgot_their_credentials() {
    let dir = Dir::new("recover");
    let mut s = enrolled_store(&dir);
    s.sign_in_online(&grant("sato", "Sato"), "forgotten")
        .unwrap();
    let case = s.create_case("icrown-core", &[]).unwrap();
    s.set_value(&case, &hr(), json!(77), None).unwrap();
    drop(s);
    let mut s = reopen(&dir);
    assert!(matches!(
        s.recover("not hex"),
        Err(StoreError::BadUnlockKey)
    ));
    assert!(matches!(
        s.recover(&"22".repeat(32)),
        Err(StoreError::WrongKey)
    ));
    s.recover(UNLOCK).unwrap();
    // Everything reads, exports and pushes; nothing is entered without a staff member.
    assert_eq!(s.case(&case).unwrap().values["vs_hr"]["value"], json!(77));
    assert_eq!(s.export_cases().unwrap().len(), 1);
    assert_eq!(s.sync_outbox().unwrap(), std::slice::from_ref(&case));
    s.sync_push(&case).unwrap();
    assert!(matches!(
        s.set_value(&case, &hr(), json!(78), Some("x")),
        Err(StoreError::NotSignedIn)
    ));
    // A new staff sign-in online then works as ever.
    s.sign_in_online(&grant("weber", "Weber"), "new password")
        .unwrap();
    s.set_value(&case, &hr(), json!(78), Some("after recovery"))
        .unwrap();
}

#[test]
fn the_roster_ends_deactivated_accounts_and_a_reset_asks_for_an_online_sign_in() {
    let dir = Dir::new("roster");
    let mut s = enrolled_store(&dir);
    s.sign_in_online(&grant("sato", "Sato"), "pw sato").unwrap();
    s.sign_in_online(&grant("weber", "Weber"), "pw weber")
        .unwrap();
    let mut reset = member("sato", "Sato");
    reset.credential_epoch = 1;
    let mut gone = member("weber", "Weber");
    gone.active = false;
    s.set_roster(&roster(vec![reset, gone])).unwrap();
    assert!(
        !s.is_unlocked(),
        "weber, signed in, was deactivated: locked"
    );
    assert!(matches!(
        s.sign_in("weber", &Credential::password("pw weber")),
        Err(StoreError::OnlineSignInRequired(_))
    ));
    assert_eq!(s.local_staff().unwrap(), ["sato"]);
    assert!(matches!(
        s.sign_in("sato", &Credential::password("pw sato")),
        Err(StoreError::OnlineSignInRequired(_))
    ));
    let mut g = grant("weber", "Weber");
    g.staff.active = false;
    assert!(matches!(
        s.sign_in_online(&g, "pw weber"),
        Err(StoreError::AccountDeactivated(_))
    ));
    let mut g = grant("sato", "Sato");
    g.staff.credential_epoch = 1;
    s.sign_in_online(&g, "new pw sato").unwrap();
    s.lock();
    s.sign_in("sato", &Credential::password("new pw sato"))
        .unwrap();
    // A roster the repository should never send is refused whole.
    let mut bad = roster(vec![member("Bad Id", "x")]);
    assert!(matches!(s.set_roster(&bad), Err(StoreError::Roster(_))));
    bad.staff.clear();
    bad.settings.lock_after_minutes = 0;
    assert!(matches!(s.set_roster(&bad), Err(StoreError::Roster(_))));
}

#[test]
fn a_signature_needs_the_password_and_a_later_edit_supersedes_it() {
    let dir = Dir::new("sign");
    let mut s = enrolled_store(&dir);
    s.sign_in_online(&grant("sato", "Dr. Sato Hanako"), "pw sato")
        .unwrap();
    let case = s.create_case("icrown-core", &[]).unwrap();
    let values: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/fixtures/complete-case.json")).unwrap();
    for (k, v) in values.as_object().unwrap() {
        s.set_value(&case, &FieldPath::field(k), v.clone(), None)
            .unwrap();
    }
    s.set_status(&case, Status::Complete, None).unwrap();
    assert!(matches!(
        s.sign(&case, "pw sato", "i-agree"),
        Err(StoreError::UnknownMeaning { .. })
    ));
    assert!(matches!(
        s.sign(&case, "wrong", "author"),
        Err(StoreError::WrongCredential)
    ));
    assert_eq!(s.case(&case).unwrap().status, Status::Complete);
    let sig = s.sign(&case, "pw sato", "investigator-approval").unwrap();
    assert_eq!(s.case(&case).unwrap().status, Status::Signed);
    assert_eq!(sig.signer.name, "Dr. Sato Hanako");
    assert_eq!(sig.meaning, "investigator-approval");
    assert!(sig.meaning_ja.contains("承認"));
    assert!(!sig.superseded && !sig.heads.is_empty());
    s.set_value(
        &case,
        &FieldPath::field("vs_gcs"),
        json!(14),
        Some("re-assessed"),
    )
    .unwrap();
    let sigs = s.signatures(&case).unwrap();
    assert_eq!(sigs.len(), 1, "history keeps the signature");
    assert!(sigs[0].superseded);
    assert_eq!(s.case(&case).unwrap().status, Status::Draft);
}

/// A platform key provider that does not authenticate what it unwraps (a one-byte pad):
/// a wrong one yields a wrong secret silently.
struct Pad(u8);

impl crate::store::KeyProvider for Pad {
    fn kind(&self) -> String {
        "pad".into()
    }
    fn wrap(&self, data_key: &[u8], _: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(data_key.iter().map(|b| b ^ self.0).collect())
    }
    fn unwrap(&self, wrapped: &[u8], _: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Ok(Zeroizing::new(wrapped.iter().map(|b| b ^ self.0).collect()))
    }
}

#[test]
fn a_wrong_platform_key_is_found_at_open_even_when_it_does_not_authenticate() {
    let dir = Dir::new("pad");
    let mut s = CaseStore::create(&dir.0, &Pad(0x11)).unwrap();
    s.sign_in_for_tests("sato").unwrap();
    drop(s);
    assert!(matches!(
        CaseStore::open(&dir.0, &Pad(0x22)),
        Err(StoreError::WrongKey)
    ));
    let mut s = CaseStore::open(&dir.0, &Pad(0x11)).unwrap();
    s.sign_in_for_tests("sato").unwrap();
}
