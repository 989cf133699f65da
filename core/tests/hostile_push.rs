//! The repository's accept path against pushes a buggy or hostile tablet can send: a document
//! with bytes after it, identifiers devices never make, duplicated or too many entries, changes
//! under the repository's own actor or by a device not enrolled at the site. Each is refused
//! as a whole with a typed error, and nothing of it is stored.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT, ReadDoc};
use serde_json::json;
use std::path::PathBuf;
use wardcrf_core::repository::{Hub, HubError, HubStorage, MemoryHubStorage, repository_actor};
use wardcrf_core::sync::{CaseChanges, PROTOCOL, SyncRequest};
use wardcrf_core::{CaseStore, FieldPath, Passphrase};

struct Tablet {
    store: CaseStore,
    dir: PathBuf,
}

impl Drop for Tablet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tablet(name: &str) -> Tablet {
    let dir = std::env::temp_dir().join(format!(
        "wardcrf-hostile-{name}-{}",
        automerge::ActorId::random().to_hex_string()
    ));
    let store = {
        let mut s = CaseStore::create(&dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    };
    Tablet { store, dir }
}

/// A tablet with one case holding a value; the case's first push as the tablet makes it.
fn tablet_with_case(name: &str) -> (Tablet, CaseChanges) {
    let mut t = tablet(name);
    let case = t.store.create_case("icrown-core", &[]).unwrap();
    t.store
        .set_value(
            &case,
            &FieldPath::field("vs_hr"),
            serde_json::json!(88),
            None,
        )
        .unwrap();
    let push = t.store.sync_push(&case).unwrap();
    (t, push)
}

fn request(push: Vec<CaseChanges>) -> SyncRequest {
    SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 0,
        push,
    }
}

fn hub() -> Hub<MemoryHubStorage> {
    let mut hub = Hub::new(MemoryHubStorage::default());
    for site in ["site-a", "site-b"] {
        hub.storage.add_staff(site, "nurse");
    }
    hub
}

fn stored(hub: &mut Hub<MemoryHubStorage>, case_id: &str) -> Option<Vec<u8>> {
    hub.storage.case(case_id).unwrap().map(|c| c.doc)
}

#[test]
fn a_document_followed_by_other_bytes_is_refused_and_nothing_is_stored() {
    let (t, mut push) = tablet_with_case("trailing");
    push.changes.extend_from_slice(&[0u8; 64]);
    let mut hub = hub();
    let err = hub
        .exchange("site-a", &t.store.device_id(), &request(vec![push.clone()]))
        .unwrap_err();
    assert!(
        matches!(&err, HubError::BadCase { case_id, .. } if *case_id == push.case_id),
        "{err:?}"
    );
    assert!(err.is_client_error());
    assert_eq!(stored(&mut hub, &push.case_id), None);

    // The same after the case is stored: changes with bytes after them are refused too.
    let (t, good) = tablet_with_case("trailing2");
    let device = t.store.device_id();
    hub.exchange("site-a", &device, &request(vec![good.clone()]))
        .unwrap();
    let before = stored(&mut hub, &good.case_id).unwrap();
    let mut again = good.clone();
    again
        .changes
        .extend_from_slice(b"garbage after the changes");
    assert!(matches!(
        hub.exchange("site-a", &device, &request(vec![again])),
        Err(HubError::BadCase { .. })
    ));
    assert_eq!(stored(&mut hub, &good.case_id).unwrap(), before);
}

#[test]
fn a_first_push_is_stored_as_the_repositorys_own_encoding_not_the_bytes_sent() {
    let (mut t, _) = tablet_with_case("reencode");
    let case = t.store.create_case("icrown-core", &[]).unwrap();
    // Enough changes for the device's compressed encoding to differ from the repository's.
    for hr in 60..100 {
        t.store
            .set_value(
                &case,
                &FieldPath::field("vs_hr"),
                serde_json::json!(hr),
                Some("re-measured on the ward round"),
            )
            .unwrap();
    }
    let mut push = t.store.sync_push(&case).unwrap();
    // The same document in automerge's compressed encoding: a valid document, not the one the
    // repository writes.
    push.changes = AutoCommit::load(&push.changes).unwrap().save();
    let mut hub = hub();
    hub.exchange("site-a", &t.store.device_id(), &request(vec![push.clone()]))
        .unwrap();
    let doc = stored(&mut hub, &push.case_id).unwrap();
    assert!(doc != push.changes, "the device's raw bytes were stored");
    let mut loaded = AutoCommit::load(&doc).unwrap();
    let mut sent = AutoCommit::load(&push.changes).unwrap();
    assert_eq!(loaded.get_heads(), sent.get_heads());
}

#[test]
fn case_ids_devices_never_make_are_refused() {
    let (t, push) = tablet_with_case("ids");
    let device = t.store.device_id();
    let mut hub = hub();
    for bad in [
        String::new(),
        "a".repeat(80_000),
        format!("{}\0", &push.case_id[..31]),
        push.case_id.to_uppercase(),
        format!("{}0", push.case_id),
        "é".repeat(16),
    ] {
        let mut c = push.clone();
        c.case_id = bad.clone();
        let err = hub
            .exchange("site-a", &device, &request(vec![c]))
            .unwrap_err();
        assert!(err.is_client_error(), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("32 lowercase hex"), "{message}");
        assert!(message.len() < 300, "the message repeats the id");
        assert_eq!(stored(&mut hub, &bad), None);
    }
}

#[test]
fn form_ids_are_bounded() {
    let (t, push) = tablet_with_case("forms");
    let mut hub = hub();
    for bad in ["", "ICROWN", "a b", &"f".repeat(200)] {
        let mut c = push.clone();
        c.form_id = bad.to_string();
        let err = hub
            .exchange("site-a", &t.store.device_id(), &request(vec![c]))
            .unwrap_err();
        assert!(err.to_string().contains("form id"), "{err}");
    }
    assert_eq!(stored(&mut hub, &push.case_id), None);
}

#[test]
fn the_same_case_twice_in_one_push_is_refused() {
    let (mut t, first) = tablet_with_case("twice");
    t.store
        .set_value(
            &first.case_id,
            &FieldPath::field("vs_hr"),
            serde_json::json!(90),
            Some("re-measured"),
        )
        .unwrap();
    let second = t.store.sync_push(&first.case_id).unwrap();
    let mut hub = hub();
    let err = hub
        .exchange(
            "site-a",
            &t.store.device_id(),
            &request(vec![first.clone(), second]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("more than once"), "{err}");
    assert_eq!(stored(&mut hub, &first.case_id), None);
}

#[test]
fn a_push_of_too_many_entries_is_refused_before_any_look_up() {
    let entries: Vec<CaseChanges> = (0..2_000u32)
        .map(|i| CaseChanges {
            case_id: format!("{i:032x}"),
            form_id: "icrown-core".into(),
            changes: Vec::new(),
            heads: Vec::new(),
        })
        .collect();
    let mut hub = hub();
    let err = hub
        .exchange("site-a", &"ab".repeat(16), &request(entries))
        .unwrap_err();
    assert!(err.to_string().contains("at most"), "{err}");
}

/// The tablet's case with one more change written by `actor` (in a copy of its document),
/// pushed as the changes after what the repository holds.
fn forged(push: &CaseChanges, actor: automerge::ActorId, user: &str, op: &str) -> CaseChanges {
    let note = json!({
        "user": user, "by": {"id": user, "name": user}, "op": op, "field": "vs_hr", "reason": "checked"
    });
    changed_by(push, actor, note, 1_700_000_000)
}

/// A change by the pushing device whose note says `note` (JSON).
fn noted(push: &CaseChanges, device: &str, note: serde_json::Value, time: i64) -> CaseChanges {
    changed_by(push, automerge::ActorId::from(hex(device)), note, time)
}

/// A change of the heart rate by `actor` on top of `push`, with `note` as its message.
fn changed_by(
    push: &CaseChanges,
    actor: automerge::ActorId,
    note: serde_json::Value,
    time: i64,
) -> CaseChanges {
    let mut doc = AutoCommit::load(&push.changes).unwrap().with_actor(actor);
    let before = doc.get_heads();
    let values = match doc.get(ROOT, "values").unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("no values map: {other:?}"),
    };
    doc.put(&values, "vs_hr", "120").unwrap();
    doc.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(note.to_string())
            .with_time(time),
    );
    CaseChanges {
        case_id: push.case_id.clone(),
        form_id: push.form_id.clone(),
        changes: doc.save_after(&before),
        heads: doc.get_heads().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_change_naming_a_user_who_is_not_staff_of_the_site_is_refused_whole() {
    let (t, push) = tablet_with_case("impostor");
    let device = t.store.device_id();
    let mut hub = hub();
    hub.storage.add_staff("site-b", "mallory");
    hub.exchange("site-a", &device, &request(vec![push.clone()]))
        .unwrap();
    let before = stored(&mut hub, &push.case_id).unwrap();
    // A second, honest case in the same push: refused with it (nothing of the exchange kept).
    let (t2, other_case) = tablet_with_case("honest");
    let other_device = t2.store.device_id();
    enroll(&mut hub, &other_device, "site-a");
    let refused = [
        // Staff of another site, a user the repository does not know, a note whose two names
        // differ, and a note naming nobody signed in (after the repository required one).
        json!({"user": "mallory", "by": {"id": "mallory", "name": "M"}, "op": "set"}),
        json!({"user": "ghost", "by": {"id": "ghost", "name": "G"}, "op": "set"}),
        json!({"user": "mallory", "by": {"id": "nurse", "name": "Test nurse"}, "op": "set"}),
        json!({"user": "free text", "op": "set"}),
    ];
    for note in refused {
        let change = noted(&push, &device, note.clone(), 1_800_000_000);
        let err = hub
            .exchange(
                "site-a",
                &device,
                &request(vec![change, other_case.clone()]),
            )
            .unwrap_err();
        assert!(
            matches!(&err, HubError::NotSiteStaff { user } if err.to_string().contains(user.as_str())),
            "{note}: {err}"
        );
        assert_eq!(stored(&mut hub, &push.case_id).unwrap(), before, "{note}");
        assert_eq!(stored(&mut hub, &other_case.case_id), None, "{note}");
    }
    // A change from before the repository required a signed-in author is taken, as is one
    // by staff of the site.
    hub.storage
        .take_unattributed_before("site-a", 1_700_000_000);
    let legacy = noted(
        &push,
        &device,
        json!({"user": "free text", "op": "set"}),
        1_600_000_000,
    );
    hub.exchange("site-a", &device, &request(vec![legacy]))
        .unwrap();
    let by_staff = noted(
        &push,
        &other_device,
        json!({"user": "nurse", "by": {"id": "nurse", "name": "Test nurse"}, "op": "set"}),
        1_800_000_000,
    );
    hub.exchange("site-a", &device, &request(vec![by_staff]))
        .unwrap();
}

#[test]
fn a_change_under_the_repositorys_actor_is_refused() {
    let (t, push) = tablet_with_case("forge");
    let device = t.store.device_id();
    let mut hub = hub();
    hub.exchange("site-a", &device, &request(vec![push.clone()]))
        .unwrap();
    let before = stored(&mut hub, &push.case_id).unwrap();
    let change = forged(&push, repository_actor(), "dr.staff", "resolve");
    let err = hub
        .exchange("site-a", &device, &request(vec![change]))
        .unwrap_err();
    assert!(err.is_client_error(), "{err:?}");
    assert!(err.to_string().contains("repository"), "{err}");
    assert_eq!(stored(&mut hub, &push.case_id).unwrap(), before);

    // The same for a brand-new case carrying such a change.
    let (t2, push2) = tablet_with_case("forge2");
    let mut whole = forged(&push2, repository_actor(), "dr.staff", "resolve");
    let mut doc = AutoCommit::load(&push2.changes).unwrap();
    doc.load_incremental(&whole.changes).unwrap();
    whole.changes = doc.save();
    assert!(
        hub.exchange("site-a", &t2.store.device_id(), &request(vec![whole]))
            .is_err()
    );
    assert_eq!(stored(&mut hub, &push2.case_id), None);
}

#[test]
fn a_change_by_a_device_not_enrolled_at_the_site_is_refused() {
    let (t, push) = tablet_with_case("stranger");
    let device = t.store.device_id();
    let mut hub = hub();
    hub.exchange("site-a", &device, &request(vec![push.clone()]))
        .unwrap();
    let before = stored(&mut hub, &push.case_id).unwrap();
    // A random actor, and the actor of a device enrolled at another site.
    let other = tablet("other-site");
    enroll(&mut hub, &other.store.device_id(), "site-b");
    for actor in [
        automerge::ActorId::random(),
        automerge::ActorId::from(hex(&other.store.device_id())),
    ] {
        let hex_actor = actor.to_hex_string();
        let change = forged(&push, actor, "nurse", "set");
        let err = hub
            .exchange("site-a", &device, &request(vec![change]))
            .unwrap_err();
        assert!(err.to_string().contains(&hex_actor), "{err}");
        assert_eq!(stored(&mut hub, &push.case_id).unwrap(), before);
    }
    // A device of the same site: its changes may come through another tablet (merged directly).
    let colleague = tablet("colleague");
    enroll(&mut hub, &colleague.store.device_id(), "site-a");
    let actor = automerge::ActorId::from(hex(&colleague.store.device_id()));
    let change = forged(&push, actor, "nurse", "set");
    hub.exchange("site-a", &device, &request(vec![change]))
        .unwrap();
    assert_ne!(stored(&mut hub, &push.case_id).unwrap(), before);
}

#[test]
fn a_case_of_another_site_is_refused_like_any_case_the_device_may_not_change() {
    let (a, push) = tablet_with_case("site-a");
    let mut hub = hub();
    hub.exchange("site-a", &a.store.device_id(), &request(vec![push.clone()]))
        .unwrap();
    // Site B's device pushes a case with that id.
    let (b, mut theirs) = tablet_with_case("site-b");
    theirs.case_id = push.case_id.clone();
    let other_site = hub
        .exchange("site-b", &b.store.device_id(), &request(vec![theirs]))
        .unwrap_err();
    // Site A's own device pushes it with another form.
    let mut wrong_form = push.clone();
    wrong_form.form_id = "sari".into();
    let other_form = hub
        .exchange("site-a", &a.store.device_id(), &request(vec![wrong_form]))
        .unwrap_err();
    assert_eq!(other_site.to_string(), other_form.to_string());
    assert!(!other_site.to_string().contains("site"), "{other_site}");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn enroll(hub: &mut Hub<MemoryHubStorage>, device: &str, site: &str) {
    hub.storage.enroll(device, site);
    hub.storage.add_staff(site, "nurse");
}
