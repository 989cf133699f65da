//! `wardcrf_core::sync::sync` through HTTP: devices of a site converge via the server; another
//! site's device never sees them; a revoked device is refused.
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use serde_json::json;
use std::net::SocketAddr;
use wardcrf_core::sync::{SyncRequest, SyncResponse, TransportError};
use wardcrf_core::{CaseStore, FieldPath, Passphrase, StoreError};

fn request_raw(addr: SocketAddr, token: &str, body: &[u8]) -> Resp {
    request(addr, "POST", "/api/sync", Some(token), Some(body))
}

#[test]
fn devices_of_a_site_converge_and_other_sites_never_see_the_cases() {
    let server = TestServer::start(&crate::backend(), "sync");
    server.site("site-a");
    server.site("site-b");
    let mut a1 = device(&server, "site-a", "a1");
    let mut a2 = device(&server, "site-a", "a2");
    let mut b1 = device(&server, "site-b", "b1");

    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(88), None);
    let s = a1.sync().unwrap();
    assert_eq!((s.pushed, s.pulled), (1, 0));
    assert_eq!(a2.sync().unwrap().pulled, 1);
    assert_eq!(a2.value(&case, "vs_hr")["value"], json!(88));
    assert_eq!(b1.sync().unwrap().pulled, 0);
    assert!(matches!(
        b1.store.case(&case),
        Err(StoreError::UnknownCase(_))
    ));

    // Concurrent edits converge to the same conflict on both devices.
    a1.set(&case, "vs_hr", json!(92), Some("recount"));
    a2.set(&case, "vs_hr", json!(104), Some("monitor"));
    a2.set(&case, "vs_temp", json!(38.2), None);
    a1.sync().unwrap();
    a2.sync().unwrap();
    a1.sync().unwrap();
    for d in [&mut a1, &mut a2] {
        let c = d.store.conflicts(None).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(d.value(&case, "vs_temp")["value"], json!(38.2));
    }
    // Nothing new: nothing pushed or pulled.
    let s = a2.sync().unwrap();
    assert_eq!((s.pushed, s.pulled, s.exchanges), (0, 0, 1));
    // Site B still knows nothing; pushing site A's case id from B is refused.
    assert_eq!(b1.sync().unwrap().pulled, 0);
    let sites = server.admin_get("/api/admin/sites").body;
    assert_eq!(sites[0]["cases"], 1);
    assert_eq!(sites[1]["cases"], 0);
    let devices = server.admin_get("/api/admin/devices").body;
    assert!(
        devices
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["last_sync_at"] == START)
    );
}

#[test]
fn a_revoked_device_cannot_sync_and_a_refused_push_applies_nothing() {
    let server = TestServer::start(&crate::backend(), "sync-revoke");
    server.site("site-a");
    server.site("site-b");
    let mut a1 = device(&server, "site-a", "ra1");
    let mut b1 = device(&server, "site-b", "rb1");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(70), None);
    a1.sync().unwrap();

    // A site-B device pushing a case that belongs to site A is refused, answered as any
    // refused case (never confirming that the case exists at another site).
    let mut push = a1.store.sync_push(&case).unwrap();
    push.heads.clear();
    let body = serde_json::to_vec(&SyncRequest {
        epoch: None,
        protocol: wardcrf_core::sync::PROTOCOL,
        cursor: 0,
        push: vec![push],
    })
    .unwrap();
    let r = request_raw(server.addr, &b1.http.token, &body);
    assert_eq!((r.status, r.code()), (400, "bad_case"));
    assert_eq!(b1.sync().unwrap().pulled, 0);

    let r = server.admin_post(
        &format!("/api/admin/devices/{}/revoke", a1.store.device_id()),
        &json!({}),
    );
    assert_eq!(r.status, 200);
    a1.set(&case, "vs_hr", json!(71), Some("recount"));
    match a1.sync() {
        Err(wardcrf_core::sync::SyncError::Transport(TransportError::Refused(m))) => {
            assert_eq!(m, "403 device_revoked");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn synced_cases_are_projected_flagged_and_kept_never_dropped() {
    let server = TestServer::start(&crate::backend(), "sync-projection");
    server.site("site-a");
    server.site("site-b");
    let mut a1 = device(&server, "site-a", "pa1");
    let mut a2 = device(&server, "site-a", "pa2");
    let mut b1 = device(&server, "site-b", "pb1");

    // A diastolic pressure above the systolic breaks rule dbp_below_sbp; a heart rate beyond
    // the soft limits is confirmed with a reason. Both are stored and synced all the same.
    let flagged = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&flagged, "vs_sbp", json!(100), None);
    a1.set(&flagged, "vs_dbp", json!(120), None);
    a1.set(&flagged, "vs_hr", json!(170), Some("measured twice"));
    let clean = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&clean, "vs_hr", json!(80), None);
    a1.sync().unwrap();
    let other = b1.store.create_case("icrown-core", &[]).unwrap();
    b1.set(&other, "vs_hr", json!(75), None);
    b1.sync().unwrap();

    let r = server.admin_get(&format!("/api/cases/{flagged}"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let c = &r.body;
    assert_eq!(c["case_id"], json!(flagged));
    assert_eq!(c["site_id"], "site-a");
    assert_eq!(c["form_id"], "icrown-core");
    assert_eq!(c["modules"], json!([]));
    assert_eq!(c["status"], "draft");
    assert_eq!(c["deleted"], false);
    assert_eq!(c["updated_at"], START);
    assert_eq!(c["conflicts"], json!([]));
    // The values are kept as pushed.
    let value = |v: &serde_json::Value| v.get("value").cloned().unwrap_or_else(|| v.clone());
    assert_eq!(value(&c["values"]["vs_dbp"]), json!(120));
    assert_eq!(value(&c["values"]["vs_sbp"]), json!(100));
    assert_eq!(value(&c["values"]["vs_hr"]), json!(170));
    let errors = c["flags"]["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["rule"] == "dbp_below_sbp"),
        "{errors:?}"
    );
    let warnings = c["flags"]["warnings"].as_array().unwrap();
    let hr = warnings
        .iter()
        .find(|w| w["field"] == "vs_hr")
        .unwrap_or_else(|| panic!("{warnings:?}"));
    assert_eq!(hr["code"], "soft_limit");
    assert_eq!(hr["confirmed"], "measured twice");
    // The other device of the site receives the flagged values unchanged.
    a2.sync().unwrap();
    assert_eq!(a2.value(&flagged, "vs_dbp")["value"], json!(120));

    // The list, and its filters.
    let ids = |path: &str| -> Vec<String> {
        let r = server.admin_get(path);
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["case_id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut all_a = vec![flagged.clone(), clean.clone()];
    all_a.sort();
    assert_eq!(ids("/api/cases?site=site-a"), all_a);
    assert_eq!(ids("/api/cases").len(), 3);
    assert_eq!(ids("/api/cases?site=site-b"), vec![other.clone()]);
    assert_eq!(
        ids("/api/cases?site=site-a&flagged=true"),
        vec![flagged.clone()]
    );
    assert_eq!(ids("/api/cases?status=draft").len(), 3);
    assert!(ids("/api/cases?status=signed").is_empty());
    assert!(ids("/api/cases?conflicts=true").is_empty());
    let list = server.admin_get("/api/cases?site=site-a&flagged=true").body;
    let item = &list[0];
    assert_eq!(item["form_id"], "icrown-core");
    assert_eq!(item["status"], "draft");
    assert_eq!(item["conflicts"], 0);
    assert!(item["flags"].as_u64().unwrap() >= 2, "{item:?}");
    assert_eq!(item["updated_at"], START);
    let r = server.admin_get("/api/cases?status=lost");
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = server.admin_get("/api/cases?flagged=maybe");
    assert_eq!((r.status, r.code()), (400, "bad_request"));

    // Concurrent edits on two devices: an open conflict in the projection.
    a1.set(&clean, "vs_hr", json!(92), Some("recount"));
    a2.set(&clean, "vs_hr", json!(104), Some("monitor"));
    a1.sync().unwrap();
    a2.sync().unwrap();
    assert_eq!(ids("/api/cases?conflicts=true"), vec![clean.clone()]);
    let c = server.admin_get(&format!("/api/cases/{clean}")).body;
    let conflicts = c["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["field"], "vs_hr");
    let candidates = conflicts[0]["candidates"].as_array().unwrap();
    let mut seen: Vec<serde_json::Value> = candidates.iter().map(|c| value(&c["value"])).collect();
    seen.sort_by_key(|v| v.as_i64());
    assert_eq!(seen, vec![json!(92), json!(104)]);
    for c in candidates {
        assert_eq!(c["user"], nurse_of("site-a"));
        assert!(c["device"].is_string() && c["time"].is_i64(), "{c:?}");
    }
    let list = server.admin_get("/api/cases?conflicts=true").body;
    assert_eq!(list[0]["conflicts"], 1);
}

#[test]
fn the_case_endpoints_need_the_admin_token_and_know_unknown_cases() {
    let server = TestServer::start(&crate::backend(), "sync-projection-auth");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "qa1");
    let case = a1.store.create_case("icrown-core", &[]).unwrap();
    a1.set(&case, "vs_hr", json!(80), None);
    a1.sync().unwrap();
    for path in ["/api/cases".to_string(), format!("/api/cases/{case}")] {
        for token in [None, Some("wrong"), Some(a1.http.token.as_str())] {
            let r = get(server.addr, &path, token);
            assert_eq!((r.status, r.code()), (401, "unauthorized"), "{path}");
        }
        assert_eq!(server.admin_get(&path).status, 200, "{path}");
    }
    let r = server.admin_get("/api/cases/no-such-case");
    assert_eq!((r.status, r.code()), (404, "unknown_case"));
    assert!(r.body["error"]["message"].is_string());
}

#[test]
fn cases_stored_before_projections_are_projected_at_start_and_their_history_is_served() {
    // A ward store's cases, stored as an older server (without projections) would have them.
    let dir = temp_dir("backfill-device").join("store");
    let mut store = {
        let mut s = CaseStore::create(&dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    };
    let case = store.create_case("icrown-core", &[]).unwrap();
    let hr = FieldPath::field("vs_hr");
    store.set_value(&case, &hr, json!(88), None).unwrap();
    store.sign_in_for_tests("charge-nurse").unwrap();
    store
        .set_value(&case, &hr, json!(96), Some("recount"))
        .unwrap();
    let doc = store.export_cases().unwrap().remove(0).bytes;
    let seed = vec![(case.clone(), "site-a".into(), "icrown-core".into(), doc)];
    let server = TestServer::start_with_cases(&crate::backend(), "backfill", &seed);
    assert_eq!(server.backfilled, 1);

    let c = server.admin_get(&format!("/api/cases/{case}"));
    assert_eq!(c.status, 200, "{:?}", c.body);
    assert_eq!(c.body["site_id"], "site-a");
    assert_eq!(c.body["values"]["vs_hr"]["value"], json!(96));
    let list = server.admin_get("/api/cases?site=site-a").body;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // The server's history of the case is the device's, entry for entry.
    let device_history = serde_json::to_value(store.history(&case, None).unwrap()).unwrap();
    let r = server.admin_get(&format!("/api/cases/{case}/history"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, device_history);
    let r = server.admin_get(&format!("/api/cases/{case}/history?field=vs_hr"));
    let entries = r.body.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[1]["new"]["value"], json!(96));
    assert_eq!(entries[1]["old"]["value"], json!(88));
    assert_eq!(entries[1]["reason"], "recount");
    assert_eq!(entries[1]["user"], "charge-nurse");
    let r = server.admin_get(&format!("/api/cases/{case}/history?colour=red"));
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = server.admin_get("/api/cases/no-such-case/history");
    assert_eq!((r.status, r.code()), (404, "unknown_case"));
    let r = get(server.addr, &format!("/api/cases/{case}/history"), None);
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn sync_bodies_travel_gzip_compressed_and_bad_compressed_bodies_are_refused_whole() {
    use wardcrf_core::sync::{PROTOCOL, gzip};
    let server = TestServer::start(&crate::backend(), "sync-gzip");
    server.site("site-a");
    let mut a1 = device(&server, "site-a", "ga1");
    let mut a2 = device(&server, "site-a", "ga2");
    let mut ids = Vec::new();
    for i in 0..12 {
        let case = a1.store.create_case("icrown-core", &[]).unwrap();
        a1.set(&case, "vs_hr", json!(70 + i), None);
        ids.push(case);
    }
    let push: Vec<_> = ids
        .iter()
        .map(|id| a1.store.sync_push(id).unwrap())
        .collect();
    let request = serde_json::to_vec(&SyncRequest {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 0,
        push,
    })
    .unwrap();
    let packed = gzip(&request);
    assert!(packed.len() < request.len() / 2);
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        request_with(
            server.addr,
            "POST",
            "/api/sync",
            Some(&a1.http.token),
            headers,
            Some(body),
        )
    };

    // Garbage announced as gzip, a body that expands beyond the limit, an unknown encoding:
    // refused with a clear reason, nothing applied.
    let r = post(&[("Content-Encoding", "gzip")], &request);
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{:?}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid gzip")
    );
    let bomb = gzip(&vec![b' '; 40 * 1024 * 1024]);
    let r = post(&[("Content-Encoding", "gzip")], &bomb);
    assert_eq!((r.status, r.code()), (413, "too_large"), "{:?}", r.body);
    let r = post(&[("Content-Encoding", "br")], &request);
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    // The binary encoding, damaged: refused with its reason.
    let binary = [("Content-Type", wardcrf_core::sync::BINARY_MEDIA_TYPE)];
    let r = post(&binary, b"WSQ1 and then nothing sensible");
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{:?}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("binary sync body is malformed"),
        "{:?}",
        r.body
    );
    assert_eq!(a2.sync().unwrap().pulled, 0, "nothing was applied");

    // The same push compressed is taken; the answer comes compressed when asked for.
    let r = post(
        &[("Content-Encoding", "gzip"), ("Accept-Encoding", "gzip")],
        &packed,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.head.contains("content-encoding: gzip"), "{}", r.head);
    assert!(r.wire_len < r.raw.len());
    let answer: SyncResponse = serde_json::from_slice(&r.raw).unwrap();
    assert_eq!(answer.cases.len(), 12);
    // Without Accept-Encoding the answer is plain JSON.
    let r = post(&[], &request);
    assert_eq!(r.status, 200);
    assert!(!r.head.contains("content-encoding"), "{}", r.head);
    assert_eq!(a2.sync().unwrap().pulled, 12);
}
