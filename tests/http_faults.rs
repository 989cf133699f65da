//! Poor hospital networks between a ward device and the real repository server: answers cut at
//! every stage, requests truncated on the way, a body garbled in transit, a captive portal
//! answering instead of the repository. Each failure is a clear, typed error on the device;
//! nothing half-applied reaches the repository; the next sync completes; and in the end another
//! device and the repository hold every acknowledged value exactly once, with the same history.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

mod common;

use common::*;
use serde_json::{Value, json};
use wardcrf_core::FieldPath;
use wardcrf_core::sync::{Method, SyncError, TransportError};

on_both_backends!(
    broken_connections_lose_and_duplicate_nothing,
    super::broken_connections
);

/// The repository's view of one case, or `None` when it never received it.
fn repository_case(admin: &wardcrf_core::sync::HttpTransport, case: &str) -> Option<Value> {
    match admin.call(Method::Get, &format!("/api/cases/{case}"), None) {
        Ok(v) => Some(v),
        Err(TransportError::Refused(m)) if m.contains("404") || m.contains("unknown_case") => None,
        Err(e) => panic!("reading case {case}: {e}"),
    }
}

fn broken_connections(backend: Backend) {
    let repo = Repository::new(&backend, "faults");
    let server = repo.start();
    let admin = repo.admin(&server);
    add_site(&admin, "jp-osaka-02");
    let mut writer = enroll(&server.url, &admin, &repo.dir, "writer", "jp-osaka-02");
    let mut reader = enroll(&server.url, &admin, &repo.dir, "reader", "jp-osaka-02");
    let line = FaultyLine::new(&server.url);

    // Thirty cases to start with; every value written is remembered.
    let mut cases = Vec::new();
    let mut written = 0usize;
    let mut write = |w: &mut Device, case: &str, field: &str, v: i64| {
        w.store
            .set_value(case, &FieldPath::field(field), json!(v), Some("ward round"))
            .unwrap();
        written += 1;
    };
    for i in 0..30 {
        let id = writer.store.create_case("icrown-core", &[]).unwrap();
        write(&mut writer, &id, "vs_hr", 60 + i);
        cases.push(id);
    }

    // 1. The answer is cut at every stage: the device reports the repository as unreachable
    //    (try again later). The repository may have applied the push; the retry must not
    //    duplicate it.
    for (round, cut) in [
        Cut::Start,
        Cut::FirstLine,
        Cut::BeforeBody,
        Cut::MidBody,
        Cut::LastByte,
    ]
    .into_iter()
    .enumerate()
    {
        write(&mut writer, &cases[round], "vs_rr", 14 + round as i64);
        line.set(Fault::CutAnswerAt(cut));
        match writer.try_sync(&line.url) {
            Err(SyncError::Transport(TransportError::Unreachable(m))) => {
                assert!(
                    m.contains(&line.url),
                    "{cut:?}: the message names the address: {m}"
                );
            }
            other => panic!("answer cut at {cut:?}: expected unreachable, got {other:?}"),
        }
    }

    // 2. The request is cut on the way: the repository sees a truncated body and applies
    //    nothing of it.
    for cut in [Cut::FirstLine, Cut::BeforeBody, Cut::MidBody, Cut::LastByte] {
        let fresh = writer.store.create_case("icrown-core", &[]).unwrap();
        write(&mut writer, &fresh, "vs_temp", 38);
        line.set(Fault::CutRequestAt(cut));
        let result = writer.try_sync(&line.url);
        assert!(
            matches!(
                result,
                Err(SyncError::Transport(TransportError::Unreachable(_)))
            ),
            "request cut at {cut:?}: {result:?}"
        );
        assert_eq!(
            repository_case(&admin, &fresh),
            None,
            "request cut at {cut:?}: nothing of a truncated request is applied"
        );
        cases.push(fresh);
    }

    // 3. A body garbled in transit is refused whole with a clear reason.
    let fresh = writer.store.create_case("icrown-core", &[]).unwrap();
    write(&mut writer, &fresh, "vs_spo2", 96);
    line.set(Fault::GarbleRequestBody);
    match writer.try_sync(&line.url) {
        Err(SyncError::Transport(TransportError::Refused(m))) => {
            // The push travels gzip-compressed: its CRC catches the damage.
            assert!(
                m.contains("not valid gzip") || m.contains("not valid JSON"),
                "{m}"
            );
        }
        other => panic!("garbled body: expected a refusal, got {other:?}"),
    }
    assert_eq!(
        repository_case(&admin, &fresh),
        None,
        "a refused batch applies nothing"
    );
    cases.push(fresh);

    // 4. A captive portal answers in the repository's place: the device says so and keeps
    //    everything for the next sync (the repository did receive this push).
    let fresh = writer.store.create_case("icrown-core", &[]).unwrap();
    write(&mut writer, &fresh, "vs_sbp", 128);
    line.set(Fault::ForeignAnswer);
    match writer.try_sync(&line.url) {
        Err(SyncError::Transport(TransportError::Unreachable(m))) => {
            assert!(m.contains("not JSON") && m.contains("login page"), "{m}");
        }
        other => panic!("foreign answer: expected unreachable, got {other:?}"),
    }
    cases.push(fresh);
    assert!(line.broken.load(std::sync::atomic::Ordering::SeqCst) >= 11);

    // The line is good again: one sync completes everything.
    writer.sync(&line.url);
    assert!(writer.store.sync_outbox().unwrap().is_empty());
    reader.sync(&server.url);
    assert_eq!(
        reader.case_ids(),
        cases.iter().cloned().collect(),
        "every case reached the other device"
    );
    let mut entries = 0;
    for case in &cases {
        let history = writer.store.history(case, None).unwrap();
        assert_eq!(
            reader.store.history(case, None).unwrap(),
            history,
            "{case}: no loss, no duplicate on the other device"
        );
        let on_server = admin
            .call(Method::Get, &format!("/api/cases/{case}/history"), None)
            .unwrap();
        assert_eq!(
            on_server,
            serde_json::to_value(&history).unwrap(),
            "{case}: the repository holds the same history"
        );
        assert_eq!(
            repository_case(&admin, case).unwrap()["values"],
            Value::Object(writer.store.case(case).unwrap().values),
        );
        entries += history.iter().filter(|h| h.op == "set").count();
    }
    assert_eq!(
        entries, written,
        "each acknowledged write is there exactly once"
    );
}
