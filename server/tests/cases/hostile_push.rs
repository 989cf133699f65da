//! Pushes a buggy or hostile tablet can send, through HTTP: each is refused with a typed 4xx
//! answer, nothing of it is kept, and the site's other devices keep syncing.
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use serde_json::json;
use wardcrf_core::sync::{
    BINARY_MEDIA_TYPE, BinaryBody, CaseChanges, PROTOCOL, SyncRequest, SyncResponse,
};

fn push(server: &TestServer, token: &str, cases: Vec<CaseChanges>) -> Resp {
    let body = serde_json::to_vec(&SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 0,
        push: cases,
    })
    .unwrap();
    request(server.addr, "POST", "/api/sync", Some(token), Some(&body))
}

/// An empty exchange in the binary encoding (as the app sends it), read as the app reads it.
fn binary_pull(server: &TestServer, token: &str) -> Result<SyncResponse, String> {
    let body = SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 0,
        push: Vec::new(),
    }
    .to_binary()
    .unwrap();
    let r = request_with(
        server.addr,
        "POST",
        "/api/sync",
        Some(token),
        &[("Content-Type", BINARY_MEDIA_TYPE)],
        Some(&body),
    );
    if r.status != 200 {
        return Err(format!("{} {}", r.status, r.code()));
    }
    SyncResponse::from_binary(&r.raw).map_err(|e| e.to_string())
}

fn cases_of(server: &TestServer) -> u64 {
    server.admin_get("/api/admin/sites").body[0]["cases"]
        .as_u64()
        .unwrap()
}

fn actor_of(device: &Device) -> automerge::ActorId {
    let hex = device.store.device_id();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    automerge::ActorId::from(bytes)
}

#[test]
fn a_document_with_bytes_after_it_is_refused_and_the_site_keeps_syncing() {
    let server = TestServer::start(&crate::backend(), "hostile-trailing");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "ta1");
    let mut a2 = device(&server, "site-a", "ta2");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(88), None);
    let mut poisoned = a1.store.sync_push(&case).unwrap();
    poisoned.changes.extend_from_slice(&[0u8; 64]);
    let r = push(&server, &a1.http.token, vec![poisoned]);
    assert_eq!((r.status, r.code()), (400, "bad_case"), "{:?}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains(&case));
    assert_eq!(cases_of(&server), 0);
    // Every device of the site, new ones included, syncs; the honest push goes through.
    a1.sync().unwrap();
    assert_eq!(a2.sync().unwrap().pulled, 1);
    let mut a3 = device(&server, "site-a", "ta3");
    assert_eq!(a3.sync().unwrap().pulled, 1);
    let r = server.admin_get(&format!("/api/cases/{case}/history"));
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[test]
fn a_long_case_id_is_refused_and_never_reaches_other_devices() {
    let server = TestServer::start(&crate::backend(), "hostile-long-id");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "la1");
    let mut a2 = device(&server, "site-a", "la2");
    let mut a3 = device(&server, "site-a", "la3");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    for bad in ["é".repeat(40_000), String::new(), "\0".repeat(32)] {
        let mut c = a1.store.sync_push(&case).unwrap();
        c.case_id = bad;
        let r = push(&server, &a1.http.token, vec![c]);
        assert_eq!((r.status, r.code()), (400, "bad_case_id"), "{:?}", r.body);
    }
    assert_eq!(cases_of(&server), 0);
    binary_pull(&server, &a2.http.token).unwrap();
    a2.sync().unwrap();
    let c = a3.store.create_case("icrown-core", &[]).unwrap();
    a3.sync().unwrap();
    assert_eq!(
        binary_pull(&server, &a2.http.token).unwrap().cases[0].case_id,
        c
    );
}

#[test]
fn one_case_twice_or_too_many_entries_in_one_push_are_refused() {
    let server = TestServer::start(&crate::backend(), "hostile-entries");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "ea1");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    let c = a1.store.sync_push(&case).unwrap();
    let r = push(&server, &a1.http.token, vec![c.clone(), c]);
    assert_eq!(
        (r.status, r.code()),
        (400, "duplicate_case"),
        "{:?}",
        r.body
    );
    let many: Vec<CaseChanges> = (0..5_000u32)
        .map(|i| CaseChanges {
            case_id: format!("{i:032x}"),
            form_id: "icrown-core".into(),
            changes: Vec::new(),
            heads: Vec::new(),
        })
        .collect();
    let r = push(&server, &a1.http.token, many);
    assert_eq!((r.status, r.code()), (413, "too_large"), "{:?}", r.body);
    assert_eq!(cases_of(&server), 0);
}

#[test]
fn a_change_forged_under_the_repositorys_actor_is_refused() {
    let server = TestServer::start(&crate::backend(), "hostile-forged");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "fa1");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(88), None);
    let mine = a1.store.sync_push(&case).unwrap(); // the whole document, before its first sync
    a1.sync().unwrap();
    let mut doc = AutoCommit::load(&mine.changes)
        .unwrap()
        .with_actor(wardcrf_core::repository::repository_actor());
    let before = doc.get_heads();
    let values = match doc.get(ROOT, "values").unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("no values map: {other:?}"),
    };
    doc.put(&values, "vs_hr", r#"{"value":120,"unit":"/min"}"#)
        .unwrap();
    let note = json!({"user": "dr.staff", "op": "resolve", "field": "vs_hr", "reason": "checked"});
    doc.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(note.to_string())
            .with_time(1_800_000_000),
    );
    let forged = CaseChanges {
        case_id: case.clone(),
        form_id: "icrown-core".into(),
        changes: doc.save_after(&before),
        heads: doc.get_heads().iter().map(ToString::to_string).collect(),
    };
    let r = push(&server, &a1.http.token, vec![forged]);
    assert_eq!((r.status, r.code()), (400, "foreign_actor"), "{:?}", r.body);
    let history = server.admin_get(&format!("/api/cases/{case}/history"));
    assert!(
        !history.raw.windows(8).any(|w| w == b"dr.staff"),
        "the forged change was stored"
    );
}

/// A site that keeps identifying data on its devices, and a device enrolled there whose app
/// does not know it (an old or modified app): it writes names into the shared record.
fn private_site(name: &str) -> (TestServer, Device) {
    let server = TestServer::start(&crate::backend(), name);
    let r = server.admin_post(
        "/api/admin/sites",
        &json!({"site_id": "site-p", "name": "Private", "identifying_on_device": true}),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let d = device(&server, "site-p", name);
    (server, d)
}

#[test]
fn a_name_set_then_cleared_before_the_sync_is_refused_at_a_site_keeping_names_on_devices() {
    let (server, mut d) = private_site("hostile-cleared");
    let case = d.store.create_case("icrown-core", &[]).unwrap();
    d.set(&case, "patient_name", json!("Okada Rin"), None);
    d.set(
        &case,
        "patient_name",
        json!(null),
        Some("entered by mistake"),
    );
    d.set(&case, "vs_hr", json!(70), None);
    let r = push(
        &server,
        &d.http.token,
        vec![d.store.sync_push(&case).unwrap()],
    );
    assert_eq!((r.status, r.code()), (400, "identifying"), "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("patient_name"), "{message}");
    assert!(!message.contains("Okada"), "the refusal quotes the value");
    assert_eq!(cases_of(&server), 0);
}

#[test]
fn a_name_inside_a_row_is_refused_at_a_site_keeping_names_on_devices() {
    let (server, mut d) = private_site("hostile-row");
    let case = d.store.create_case("icrown-core", &[]).unwrap();
    let mine = d.store.sync_push(&case).unwrap();
    // The device's own actor writes a row of labs holding a name.
    let mut doc = AutoCommit::load(&mine.changes)
        .unwrap()
        .with_actor(actor_of(&d));
    let rows = match doc.get(ROOT, "rows").unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("no rows map: {other:?}"),
    };
    let labs = match doc.get(&rows, "labs").unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        _ => doc.put_object(&rows, "labs", ObjType::Map).unwrap(),
    };
    let row = doc.put_object(&labs, "r1", ObjType::Map).unwrap();
    doc.put(&row, "patient_name", r#""Okada Rin""#).unwrap();
    doc.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(json!({"user": "nurse", "op": "row_add", "group": "labs"}).to_string())
            .with_time(1_800_000_000),
    );
    let c = CaseChanges {
        case_id: case,
        form_id: "icrown-core".into(),
        changes: doc.save(),
        heads: doc.get_heads().iter().map(ToString::to_string).collect(),
    };
    let r = push(&server, &d.http.token, vec![c]);
    assert_eq!((r.status, r.code()), (400, "identifying"), "{:?}", r.body);
    assert_eq!(cases_of(&server), 0);
}

/// A document chunk (checksum right) whose one deflated operation column inflates to `mib`
/// MiB of zeros: under 1 MiB on the wire.
fn deflate_bomb(mib: usize) -> Vec<u8> {
    use std::io::Write;
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
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let piece = vec![0u8; 1024 * 1024];
    for _ in 0..mib {
        e.write_all(&piece).unwrap();
    }
    let column = e.finish().unwrap();
    // No actors, no heads, no change columns; one operation column, deflated.
    let mut body = vec![0, 0, 0, 1];
    leb(&mut body, (1 << 4) | 8);
    leb(&mut body, column.len() as u64);
    body.extend_from_slice(&column);
    let mut hashed = vec![0u8];
    leb(&mut hashed, body.len() as u64);
    hashed.extend_from_slice(&body);
    let digest = ring::digest::digest(&ring::digest::SHA256, &hashed);
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83];
    chunk.extend_from_slice(&digest.as_ref()[..4]);
    chunk.extend_from_slice(&hashed);
    chunk
}

#[test]
fn a_deflate_bomb_is_refused_as_too_large_and_the_site_keeps_syncing() {
    let server = TestServer::start(&crate::backend(), "hostile-bomb");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "ba1");
    let mut a2 = device(&server, "site-a", "ba2");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(88), None);
    let honest = a1.store.sync_push(&case).unwrap();
    let bomb = deflate_bomb(200);
    assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
    // As a new case's document, and after the case's honest changes.
    let as_document = CaseChanges {
        changes: bomb.clone(),
        heads: Vec::new(),
        ..honest.clone()
    };
    let mut appended = honest.clone();
    appended.changes.extend_from_slice(&bomb);
    for bombed in [as_document, appended] {
        let r = push(&server, &a1.http.token, vec![bombed]);
        assert_eq!((r.status, r.code()), (413, "too_large"), "{:?}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&case) && message.contains("decompressed"),
            "{message}"
        );
        assert_eq!(cases_of(&server), 0);
    }
    // The case stored, then the bomb as new changes of it: refused, the case unchanged.
    a1.sync().unwrap();
    assert_eq!(cases_of(&server), 1);
    let stored = server.admin_get(&format!("/api/cases/{case}/history")).body;
    let mut onto_stored = honest;
    onto_stored.changes = bomb;
    let r = push(&server, &a1.http.token, vec![onto_stored]);
    assert_eq!((r.status, r.code()), (413, "too_large"), "{:?}", r.body);
    assert_eq!(
        server.admin_get(&format!("/api/cases/{case}/history")).body,
        stored
    );
    assert_eq!(a2.sync().unwrap().pulled, 1);
    assert_eq!(a2.value(&case, "vs_hr")["value"], json!(88));
}

#[test]
fn a_json_push_of_100000_entries_is_refused_as_too_large_at_entry_401() {
    let server = TestServer::start(&crate::backend(), "hostile-json-entries");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "ja1");
    let entry = r#"{"case_id":"","form_id":"","changes":"","heads":[]}"#;
    let body = format!(
        r#"{{"protocol":1,"cursor":0,"push":[{}]}}"#,
        vec![entry; 100_000].join(",")
    );
    let r = request(
        server.addr,
        "POST",
        "/api/sync",
        Some(&a1.http.token),
        Some(body.as_bytes()),
    );
    assert_eq!((r.status, r.code()), (413, "too_large"), "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("more than 400 cases"),
        "refused at the limit, not after reading all: {message}"
    );
    assert_eq!(cases_of(&server), 0);
    a1.sync().unwrap();
}
