//! Hostile inputs against the sync request decoders and the repository's accept path, run in
//! every `cargo test` (a bounded, deterministic corpus; the seed is fixed).
//!
//! - Binary and JSON `SyncRequest` bodies with bytes flipped, inserted, deleted or cut: the
//!   decoders answer or refuse, and what decodes goes through [`Hub::exchange`].
//! - Automerge documents and changes made by a real device store, mutated the same ways, half
//!   of them with the chunk checksum recomputed so that they get past automerge's checksum and
//!   into its decoders: pushed as new cases and onto a stored case.
//!
//! No panic may escape an exchange, and every document the repository stores must load with
//! the strict load every later read uses.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use automerge::AutoCommit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wardcrf_core::repository::{Hub, HubStorage, MemoryHubStorage, case_projection};
use wardcrf_core::sync::{BinaryBody, CaseChanges, PROTOCOL, SyncRequest};
use wardcrf_core::{CaseStore, FieldPath, Passphrase};

/// How many mutated inputs of each kind one run makes.
const DOCUMENTS: usize = 10_000;
const CHANGES: usize = 6_000;
const BINARY_BODIES: usize = 5_000;
const JSON_BODIES: usize = 3_000;

/// A cursor beyond every sequence number: exchanges then pull nothing (the pull half is not
/// what is tested here, and loading up to 200 cases per exchange would dominate the run).
const NO_PULL: u64 = 1 << 40;

/// SplitMix64: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn byte(&mut self) -> u8 {
        const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x3f];
        if self.below(3) == 0 {
            INTERESTING[self.below(INTERESTING.len())]
        } else {
            self.next() as u8
        }
    }
}

/// One to four mutations: flip, overwrite, insert, delete a range, duplicate a range, cut.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.byte();
            }
            2 => {
                let i = rng.below(len + 1);
                let b = rng.byte();
                out.insert(i, b);
            }
            3 if len > 1 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                out.drain(i..i + n);
            }
            4 if len > 1 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let part = out[i..i + n].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, part);
            }
            _ => out.truncate(rng.below(len + 1)),
        }
    }
    out
}

/// A chunk's type and body (after magic, checksum, type and LEB128 length).
fn chunks(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() > 9 {
        let typ = rest[8];
        let (mut len, mut at, mut shift) = (0usize, 9, 0);
        loop {
            let b = rest[at];
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        out.push((typ, rest[at..at + len].to_vec()));
        rest = &rest[at + len..];
    }
    out
}

/// A chunk with a correct checksum: the first 4 bytes of the SHA-256 of type, length, body.
fn chunk(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut header = vec![typ];
    let mut n = body.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            header.push(b);
            break;
        }
        header.push(b | 0x80);
    }
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&header);
    ctx.update(body);
    let hash = ctx.finish();
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83];
    out.extend_from_slice(&hash.as_ref()[..4]);
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    out
}

/// `bytes` mutated; half the time inside one chunk's body, the chunk then re-checksummed.
fn hostile(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    if rng.below(2) == 0 {
        return mutate(rng, bytes);
    }
    let parts = chunks(bytes);
    let pick = rng.below(parts.len());
    parts
        .iter()
        .enumerate()
        .flat_map(|(i, (typ, body))| {
            if i == pick {
                chunk(*typ, &mutate(rng, body))
            } else {
                chunk(*typ, body)
            }
        })
        .collect()
}

/// The seed documents, made once by a real device store ([`make_seeds`]) and kept, so that the
/// corpus is the same bytes on every run (a store's actor and clock would change them).
const SEEDS: &str = "tests/fixtures/fuzz_accept_seeds.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct Seeds {
    device: String,
    /// Saved documents of new cases (the first push of a case).
    documents: Vec<CaseChanges>,
    /// A stored case and changes that continue it.
    base: CaseChanges,
    later: CaseChanges,
}

/// The kept seeds; `WARDCRF_FUZZ_NEW_SEEDS=1` makes and keeps new ones first.
fn seeds() -> Seeds {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SEEDS);
    if std::env::var_os("WARDCRF_FUZZ_NEW_SEEDS").is_some() {
        std::fs::write(&path, serde_json::to_vec_pretty(&make_seeds()).unwrap()).unwrap();
    }
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn make_seeds() -> Seeds {
    let dir = std::env::temp_dir().join(format!(
        "wardcrf-fuzz-accept-{}",
        automerge::ActorId::random().to_hex_string()
    ));
    let mut store = {
        let mut s = CaseStore::create(&dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    };
    let mut documents = Vec::new();
    for (i, modules) in [&[][..], &["sari"][..]].iter().enumerate() {
        let case = store.create_case("icrown-core", modules).unwrap();
        for (field, v) in [("vs_hr", 88), ("vs_temp", 37), ("vs_spo2", 95)] {
            store
                .set_value(
                    &case,
                    &FieldPath::field(field),
                    serde_json::json!(v + i as i64),
                    None,
                )
                .unwrap();
        }
        store
            .set_value(
                &case,
                &FieldPath::field("vs_hr"),
                serde_json::json!(90),
                Some("re-measured"),
            )
            .unwrap();
        documents.push(store.sync_push(&case).unwrap());
    }
    let base_id = store.create_case("icrown-core", &[]).unwrap();
    let base = store.sync_push(&base_id).unwrap();
    let heads = base.heads.clone();
    store
        .set_value(
            &base_id,
            &FieldPath::field("vs_hr"),
            serde_json::json!(77),
            None,
        )
        .unwrap();
    store
        .set_value(
            &base_id,
            &FieldPath::field("vs_hr"),
            serde_json::json!(78),
            Some("recount"),
        )
        .unwrap();
    let mut doc = AutoCommit::load(&store.sync_push(&base_id).unwrap().changes).unwrap();
    let known: Vec<automerge::ChangeHash> = heads.iter().map(|h| h.parse().unwrap()).collect();
    let later = CaseChanges {
        case_id: base_id,
        form_id: base.form_id.clone(),
        changes: doc.save_after(&known),
        heads: doc.get_heads().iter().map(ToString::to_string).collect(),
    };
    let seeds = Seeds {
        device: store.device_id(),
        documents,
        base,
        later,
    };
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    seeds
}

/// Why a stored document does not load strictly or project, if it does not.
fn check_stored(hub: &mut Hub<MemoryHubStorage>, case_id: &str, what: &str) -> Option<String> {
    let stored = hub.storage.case(case_id).unwrap()?;
    if let Err(e) = AutoCommit::load(&stored.doc) {
        return Some(format!(
            "{what}: stored case {case_id} does not load strictly: {e}"
        ));
    }
    if let Err(e) = case_projection(&stored.doc) {
        return Some(format!(
            "{what}: stored case {case_id} does not project: {e}"
        ));
    }
    None
}

#[test]
fn hostile_requests_and_documents_never_escape_as_panics_nor_store_what_does_not_load() {
    let seeds = seeds();
    let mut rng = Rng(0x5eed_0012_acce_9700);
    let mut hub = Hub::new(MemoryHubStorage::default());
    hub.storage.enroll(&seeds.device, "site-a");
    hub.storage.add_staff("site-a", "nurse");
    // The kept seeds were written before changes named a signed-in author.
    hub.storage.take_unattributed_before("site-a", i64::MAX);
    let device = seeds.device.clone();
    let request = |push: Vec<CaseChanges>| SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor: NO_PULL,
        push,
    };
    hub.exchange("site-a", &device, &request(vec![seeds.base.clone()]))
        .unwrap();
    // Panics inside the library, contained by the repository, are counted (and not printed).
    let contained = Arc::new(AtomicUsize::new(0));
    let counter = contained.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    }));
    let mut escaped: Vec<String> = Vec::new();
    let mut unloadable: Vec<String> = Vec::new();
    let mut decoder_panics: Vec<String> = Vec::new();
    let (mut ran, mut accepted) = (0usize, 0usize);
    let mut exchange = |hub: &mut Hub<MemoryHubStorage>, req: &SyncRequest, what: &str| {
        let r = catch_unwind(AssertUnwindSafe(|| hub.exchange("site-a", &device, req)));
        match r {
            Err(_) => escaped.push(what.to_string()),
            Ok(Ok(_)) => {
                accepted += 1;
                for c in &req.push {
                    unloadable.extend(check_stored(hub, &c.case_id, what));
                }
            }
            Ok(Err(_)) => {}
        }
    };

    let t = std::time::Instant::now();
    for i in 0..DOCUMENTS {
        let seed = &seeds.documents[i % seeds.documents.len()];
        let mut c = seed.clone();
        c.case_id = format!("{:032x}", 0xf000_0000_u64 + i as u64);
        c.changes = hostile(&mut rng, &seed.changes);
        if rng.below(2) == 0 {
            c.heads.clear();
        }
        exchange(&mut hub, &request(vec![c]), &format!("document {i}"));
        ran += 1;
    }
    for i in 0..CHANGES {
        let mut c = seeds.later.clone();
        c.changes = hostile(&mut rng, &seeds.later.changes);
        exchange(&mut hub, &request(vec![c]), &format!("changes {i}"));
        ran += 1;
    }
    let body = request(vec![seeds.documents[0].clone(), seeds.later.clone()])
        .to_binary()
        .unwrap();
    for i in 0..BINARY_BODIES {
        let bytes = mutate(&mut rng, &body);
        let decoded = catch_unwind(|| SyncRequest::from_binary(&bytes));
        match decoded {
            Err(_) => decoder_panics.push(format!("binary body {i}")),
            Ok(Ok(mut req)) => {
                req.cursor = NO_PULL;
                exchange(&mut hub, &req, &format!("binary body {i}"));
            }
            Ok(Err(_)) => {}
        }
        ran += 1;
    }
    let json = serde_json::to_vec(&request(vec![seeds.documents[1].clone()])).unwrap();
    for i in 0..JSON_BODIES {
        let bytes = mutate(&mut rng, &json);
        let decoded = catch_unwind(|| serde_json::from_slice::<SyncRequest>(&bytes));
        match decoded {
            Err(_) => decoder_panics.push(format!("JSON body {i}")),
            Ok(Ok(mut req)) => {
                req.cursor = NO_PULL;
                exchange(&mut hub, &req, &format!("JSON body {i}"));
            }
            Ok(Err(_)) => {}
        }
        ran += 1;
    }
    std::panic::set_hook(default_hook);
    println!(
        "{ran} hostile inputs in {:.1} s: {accepted} exchanges accepted, {} library panics \
         contained, {} escaped",
        t.elapsed().as_secs_f64(),
        contained.load(Ordering::Relaxed),
        escaped.len()
    );
    assert!(ran >= 10_000);
    assert!(escaped.is_empty(), "panics escaped: {escaped:?}");
    assert!(
        decoder_panics.is_empty(),
        "decoders panicked: {decoder_panics:?}"
    );
    assert!(unloadable.is_empty(), "{unloadable:?}");
    // The honest pushes still go through after all that.
    let mut c = seeds.documents[0].clone();
    c.case_id = "ab".repeat(16);
    hub.exchange("site-a", &device, &request(vec![c])).unwrap();
    assert_eq!(
        check_stored(&mut hub, &"ab".repeat(16), "the honest push"),
        None
    );
    assert!(hub.storage.case(&"ab".repeat(16)).unwrap().is_some());
}
