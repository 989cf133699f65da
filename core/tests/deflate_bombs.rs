//! Pushes whose automerge bytes expand without bound once decompressed (a deflated column of a
//! document chunk, a compressed change chunk): refused before the document library inflates
//! them, nothing stored, and the repository's memory not blown.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::Write;
use std::path::PathBuf;
use wardcrf_core::repository::{Hub, HubError, HubStorage, MAX_CASE_EXPANDED, MemoryHubStorage};
use wardcrf_core::sync::{CaseChanges, PROTOCOL, SyncRequest};
use wardcrf_core::{CaseStore, FieldPath, Passphrase};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const MIB: usize = 1024 * 1024;

struct Tablet {
    store: CaseStore,
    dir: PathBuf,
}

impl Drop for Tablet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tablet_with_case(name: &str) -> (Tablet, CaseChanges) {
    let dir = std::env::temp_dir().join(format!(
        "wardcrf-bombs-{name}-{}",
        automerge::ActorId::random().to_hex_string()
    ));
    let mut store = {
        let mut s = CaseStore::create(&dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    };
    let case = store.create_case("icrown-core", &[]).unwrap();
    store
        .set_value(
            &case,
            &FieldPath::field("vs_hr"),
            serde_json::json!(88),
            None,
        )
        .unwrap();
    let push = store.sync_push(&case).unwrap();
    (Tablet { store, dir }, push)
}

fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// `size` zero bytes, raw-deflated without ever holding them.
fn deflated_zeros(size: usize) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let piece = vec![0u8; MIB];
    for _ in 0..size / MIB {
        e.write_all(&piece).unwrap();
    }
    e.finish().unwrap()
}

/// A whole chunk with its checksum right: the first 4 bytes of SHA-256 over type, length
/// and body.
fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut hashed = vec![kind];
    leb(&mut hashed, body.len() as u64);
    hashed.extend_from_slice(body);
    let digest = ring::digest::digest(&ring::digest::SHA256, &hashed);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&digest.as_ref()[..4]);
    out.extend_from_slice(&hashed);
    out
}

/// A document chunk whose one operation column (the object actor column, deflated) inflates
/// to `size` zero bytes.
fn document_bomb(size: usize) -> Vec<u8> {
    let column = deflated_zeros(size);
    let mut body = vec![0, 0, 0, 1]; // no actors, no heads, no change columns, one op column
    leb(&mut body, (1 << 4) | 8); // column 1, deflated
    leb(&mut body, column.len() as u64);
    body.extend_from_slice(&column);
    chunk(0, &body)
}

/// The peak resident memory of this process so far, in bytes.
fn peak_memory() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

fn request(push: Vec<CaseChanges>) -> SyncRequest {
    SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 0,
        push,
    }
}

fn is_too_large(err: &HubError, case_id: &str) -> bool {
    matches!(err, HubError::TooLarge(m) if m.contains(case_id) && m.contains("decompressed"))
}

/// One test for every bomb: the peak memory of the process is what is checked.
#[test]
fn deflate_bombs_are_refused_before_they_are_inflated() {
    let bomb = document_bomb(200 * MIB);
    assert!(bomb.len() < MIB, "{}", bomb.len());
    let mut change_bomb = chunk(2, &deflated_zeros(200 * MIB));
    // A compressed change bomb after a plain change: every chunk of a push counts.
    let (tablet, honest) = tablet_with_case("bombs");
    let device = tablet.store.device_id();
    let mut hub = Hub::new(MemoryHubStorage::default());
    hub.storage.add_staff("site-a", "nurse");
    let before = peak_memory();

    // A new case whose document is the bomb.
    let as_new = CaseChanges {
        changes: bomb.clone(),
        heads: Vec::new(),
        ..honest.clone()
    };
    let err = hub
        .exchange("site-a", &device, &request(vec![as_new]))
        .unwrap_err();
    assert!(is_too_large(&err, &honest.case_id), "{err:?}");
    assert!(hub.storage.case(&honest.case_id).unwrap().is_none());

    // A compressed change chunk after the case's honest changes.
    let mut with_change = honest.clone();
    with_change.changes.append(&mut change_bomb);
    let err = hub
        .exchange("site-a", &device, &request(vec![with_change]))
        .unwrap_err();
    assert!(is_too_large(&err, &honest.case_id), "{err:?}");
    assert!(hub.storage.case(&honest.case_id).unwrap().is_none());

    // The honest push goes through; then a bomb as new changes of the stored case.
    hub.exchange("site-a", &device, &request(vec![honest.clone()]))
        .unwrap();
    let stored = hub.storage.case(&honest.case_id).unwrap().unwrap();
    let mut onto_stored = honest.clone();
    onto_stored.changes = bomb;
    let err = hub
        .exchange("site-a", &device, &request(vec![onto_stored]))
        .unwrap_err();
    assert!(is_too_large(&err, &honest.case_id), "{err:?}");
    let after = hub.storage.case(&honest.case_id).unwrap().unwrap();
    assert_eq!((after.doc, after.seq), (stored.doc, stored.seq));

    let grown = peak_memory().saturating_sub(before);
    assert!(
        grown < 128 * MIB,
        "the peak memory grew by {} MiB",
        grown / MIB
    );
}

#[test]
fn a_case_just_within_the_expansion_limit_is_read_and_one_beyond_it_is_not() {
    let (tablet, honest) = tablet_with_case("limit");
    let device = tablet.store.device_id();
    let mut hub = Hub::new(MemoryHubStorage::default());
    hub.storage.add_staff("site-a", "nurse");
    // The limit counts every byte once expanded: the honest changes plus the bomb's.
    let mut beyond = honest.clone();
    beyond
        .changes
        .extend(document_bomb(MAX_CASE_EXPANDED - MIB + 2 * MIB));
    let err = hub
        .exchange("site-a", &device, &request(vec![beyond]))
        .unwrap_err();
    assert!(is_too_large(&err, &honest.case_id), "{err:?}");
    // Within the limit, the walk lets it through to the document library, which reads it
    // (or refuses it for what it holds), not refused for its size.
    let mut within = honest.clone();
    within.changes.extend(document_bomb(8 * MIB));
    let result = hub.exchange("site-a", &device, &request(vec![within]));
    assert!(!matches!(&result, Err(HubError::TooLarge(_))), "{result:?}");
}
