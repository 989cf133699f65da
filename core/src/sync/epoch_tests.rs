//! The device's rule for a repository restored from a backup: an answer of another epoch makes
//! the device push every case again and pull from the start, in the same sync, so that the
//! restored repository ends up with every change a device holds. The repository here is the
//! in-memory hub behind a transport that keeps an epoch as the server does (`api/sync.rs`): a
//! request of another epoch is answered with the epoch alone.

use super::*;
use crate::repository::{Hub, HubStorage, MemoryHubStorage};
use crate::store::document::CaseDoc;
use crate::store::{CaseFilter, FieldPath, Passphrase};
use automerge::ActorId;
use serde_json::json;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The repository: a hub, its epoch, and what the devices sent it (exchanges refused).
struct Repo {
    hub: RefCell<Hub<MemoryHubStorage>>,
    epoch: RefCell<String>,
    refused: RefCell<usize>,
}

impl Repo {
    fn new() -> Repo {
        Repo {
            hub: RefCell::new(Hub::new(MemoryHubStorage::default())),
            epoch: RefCell::new("epoch-1".into()),
            refused: RefCell::new(0),
        }
    }

    /// A copy of the storage as it is now ("yesterday's backup").
    fn backup(&self) -> MemoryHubStorage {
        self.hub.borrow().storage.clone()
    }

    /// Puts `backup` back, with a new epoch (as `wardcrf-server restore` does).
    fn restore(&self, backup: MemoryHubStorage, epoch: &str) {
        self.hub.borrow_mut().storage = backup;
        *self.epoch.borrow_mut() = epoch.into();
    }

    /// Every case of the repository and its heads.
    fn heads(&self) -> BTreeMap<String, Vec<String>> {
        let ids = self
            .hub
            .borrow_mut()
            .storage
            .cases_after("A", 0, 10_000)
            .unwrap();
        ids.into_iter()
            .map(|(id, _)| {
                let doc = self.hub.borrow_mut().document(&id).unwrap().unwrap();
                let heads = CaseDoc::load(&doc, &ActorId::random()).unwrap().heads();
                (id, heads.iter().map(ToString::to_string).collect())
            })
            .collect()
    }
}

/// One device's line to the repository (through JSON, as over the network).
struct Line<'a> {
    repo: &'a Repo,
    device: String,
}

impl Transport for Line<'_> {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        let body = serde_json::to_vec(request).unwrap();
        let request: SyncRequest = serde_json::from_slice(&body).unwrap();
        let epoch = self.repo.epoch.borrow().clone();
        if request.epoch.as_ref().is_some_and(|e| *e != epoch) {
            return Ok(SyncResponse {
                protocol: request.protocol,
                cursor: 0,
                more: true,
                cases: vec![],
                repush: vec![],
                epoch: Some(epoch),
            });
        }
        let mut response = match self
            .repo
            .hub
            .borrow_mut()
            .exchange("A", &self.device, &request)
        {
            Ok(r) => r,
            Err(e) => {
                *self.repo.refused.borrow_mut() += 1;
                return Err(TransportError::Refused(e.to_string()));
            }
        };
        response.epoch = Some(epoch);
        let answer = serde_json::to_vec(&response).unwrap();
        Ok(serde_json::from_slice(&answer).unwrap())
    }
}

struct Device {
    store: CaseStore,
    dir: PathBuf,
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Device {
    fn new(repo: &Repo, name: &str) -> Device {
        let tag = crate::store::SecretKey::generate()
            .unwrap()
            .keyed_hash("t", b"t");
        let dir = std::env::temp_dir().join(format!(
            "wardcrf-epoch-{name}-{:02x}{:02x}{:02x}",
            tag[0], tag[1], tag[2]
        ));
        let mut store = CaseStore::create(&dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
        store.sign_in_for_tests("nurse").unwrap();
        let mut hub = repo.hub.borrow_mut();
        hub.storage.add_staff("A", "nurse");
        hub.storage.enroll(&store.device_id(), "A");
        drop(hub);
        Device { store, dir }
    }

    fn sync(&mut self, repo: &Repo) -> SyncSummary {
        let line = Line {
            repo,
            device: self.store.device_id(),
        };
        sync(&mut self.store, &line, &mut |_| {}).unwrap()
    }

    fn set(&mut self, case: &str, field: &str, v: serde_json::Value) {
        self.store
            .set_value(case, &FieldPath::field(field), v, Some("recounted"))
            .unwrap();
    }

    /// Every case of the device and its heads.
    fn heads(&self) -> BTreeMap<String, Vec<String>> {
        self.store
            .list(&CaseFilter {
                include_deleted: true,
                ..CaseFilter::default()
            })
            .unwrap()
            .into_iter()
            .map(|c| {
                let heads = self.store.sync_push(&c.case_id).unwrap().heads;
                (c.case_id, heads)
            })
            .collect()
    }
}

#[test]
fn the_first_epoch_is_kept_and_the_same_one_changes_nothing() {
    let repo = Repo::new();
    let mut a = Device::new(&repo, "first");
    let case = a.store.create_case("icrown-core", &[]).unwrap();
    assert_eq!(a.store.sync_epoch().unwrap(), None);
    assert_eq!(a.sync(&repo).pushed, 1);
    assert_eq!(a.store.sync_epoch().unwrap().as_deref(), Some("epoch-1"));
    // Same epoch: nothing to push again, the cursor goes on.
    let cursor = a.store.sync_cursor().unwrap();
    assert!(cursor > 0);
    let again = a.sync(&repo);
    assert_eq!((again.pushed, again.pulled), (0, 0));
    assert_eq!(a.store.sync_cursor().unwrap(), cursor);
    assert_eq!(repo.heads()[&case], a.heads()[&case]);
}

#[test]
fn the_store_forgets_what_a_restored_repository_held_and_starts_its_cursor_again() {
    let repo = Repo::new();
    let mut a = Device::new(&repo, "store");
    let one = a.store.create_case("icrown-core", &[]).unwrap();
    let two = a.store.create_case("icrown-core", &[]).unwrap();
    a.sync(&repo);
    assert!(a.store.sync_outbox().unwrap().is_empty());
    assert!(a.store.sync_cursor().unwrap() > 0);
    // The same epoch again, then the first one ever seen by another store: no reset.
    assert!(!a.store.sync_note_epoch("epoch-1").unwrap());
    assert!(a.store.sync_outbox().unwrap().is_empty());
    // Another epoch: every case goes out again, the cursor starts from 0.
    assert!(a.store.sync_note_epoch("epoch-2").unwrap());
    let mut outbox = a.store.sync_outbox().unwrap();
    outbox.sort();
    let mut both = vec![one, two];
    both.sort();
    assert_eq!(outbox, both);
    assert_eq!(a.store.sync_cursor().unwrap(), 0);
    assert_eq!(a.store.sync_epoch().unwrap().as_deref(), Some("epoch-2"));
    assert!(!a.store.sync_note_epoch("epoch-2").unwrap(), "kept");
}

#[test]
fn devices_push_again_what_a_restored_repository_lacks_and_pull_what_it_holds() {
    let repo = Repo::new();
    let (mut a, mut b, mut offline) = (
        Device::new(&repo, "a"),
        Device::new(&repo, "b"),
        Device::new(&repo, "offline"),
    );
    let old = a.store.create_case("icrown-core", &[]).unwrap();
    a.set(&old, "vs_hr", json!(80));
    let theirs = b.store.create_case("icrown-core", &[]).unwrap();
    a.sync(&repo);
    b.sync(&repo);
    a.sync(&repo);
    offline.sync(&repo);
    let yesterday = repo.backup();
    // After the backup: acknowledged edits of an old case, and a new case, by two devices.
    a.set(&old, "vs_hr", json!(96));
    let new = a.store.create_case("icrown-core", &[]).unwrap();
    a.set(&new, "vs_temp", json!(38.4));
    b.set(&theirs, "vs_temp", json!(37.1));
    a.sync(&repo);
    b.sync(&repo);
    a.sync(&repo);
    let acknowledged = repo.heads();
    assert_eq!(acknowledged.len(), 3);
    // The repository goes back to yesterday.
    repo.restore(yesterday, "epoch-2");
    assert_eq!(repo.heads().len(), 2);
    a.sync(&repo);
    b.sync(&repo);
    // A third sync each: what the other pushed again reaches both.
    a.sync(&repo);
    b.sync(&repo);
    assert_eq!(*repo.refused.borrow(), 0, "no push was refused");
    assert_eq!(
        repo.heads(),
        acknowledged,
        "every acknowledged change is back"
    );
    assert_eq!(a.heads(), acknowledged);
    assert_eq!(b.heads(), acknowledged);
    // The device offline all along had nothing new: it loses nothing and duplicates nothing.
    let before = offline.heads();
    assert_eq!(before.len(), 2);
    offline.sync(&repo);
    assert_eq!(offline.heads(), acknowledged);
    assert_eq!(repo.heads(), acknowledged);
    for d in [&a, &b, &offline] {
        assert!(d.store.sync_outbox().unwrap().is_empty());
        assert_eq!(d.store.sync_epoch().unwrap().as_deref(), Some("epoch-2"));
    }
}
