//! The HTTP API of docs/http-api.md against an in-process server: admin, enrolment, auth,
//! errors and limits.
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use serde_json::json;

const DEV1: &str = "0123456789abcdef0123456789abcdef";
const DEV2: &str = "fedcba9876543210fedcba9876543210";

#[test]
fn health_needs_no_auth_and_unknown_paths_are_json_404() {
    let s = TestServer::start(&crate::backend(), "health");
    let r = get(s.addr, "/api/health", None);
    assert_eq!((r.status, r.body.clone()), (200, json!({"status": "ok"})));
    let r = get(s.addr, "/api/nothing", None);
    assert_eq!((r.status, r.code()), (404, "not_found"));
}

#[test]
fn admin_endpoints_need_the_admin_token() {
    let s = TestServer::start(&crate::backend(), "admin-auth");
    for token in [None, Some("wrong"), Some("")] {
        let r = get(s.addr, "/api/admin/sites", token);
        assert_eq!((r.status, r.code()), (401, "unauthorized"));
        let r = post_json(
            s.addr,
            "/api/admin/sites",
            token,
            &json!({"site_id": "a", "name": "A"}),
        );
        assert_eq!((r.status, r.code()), (401, "unauthorized"));
        assert!(r.body["error"]["message"].is_string());
    }
    // A device token is not an admin token.
    s.site("jp-tokyo-01");
    let device_token = s.enroll("jp-tokyo-01", DEV1);
    let r = get(s.addr, "/api/admin/devices", Some(&device_token));
    assert_eq!(r.status, 401);
}

#[test]
fn sites_are_created_once_validated_and_listed_with_counts() {
    let s = TestServer::start(&crate::backend(), "sites");
    let r = s.admin_post(
        "/api/admin/sites",
        &json!({"site_id": "jp-tokyo-01", "name": "Tokyo General"}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body,
        json!({"site_id": "jp-tokyo-01", "name": "Tokyo General", "identifying_on_device": false})
    );
    let r = s.admin_post(
        "/api/admin/sites",
        &json!({"site_id": "jp-tokyo-01", "name": "Again"}),
    );
    assert_eq!((r.status, r.code()), (409, "site_exists"));
    for bad in ["", "Upper", "with space", "under_score", &"a".repeat(65)] {
        let r = s.admin_post("/api/admin/sites", &json!({"site_id": bad, "name": "X"}));
        assert_eq!((r.status, r.code()), (400, "bad_request"), "{bad:?}");
    }
    let r = s.admin_post("/api/admin/sites", &json!({"site_id": "x"}));
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    s.site("de-berlin-02");
    s.enroll("jp-tokyo-01", DEV1);
    let r = s.admin_get("/api/admin/sites");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!([
            {"site_id": "de-berlin-02", "name": "Site de-berlin-02", "devices": 0, "cases": 0,
             "identifying_on_device": false},
            {"site_id": "jp-tokyo-01", "name": "Tokyo General", "devices": 1, "cases": 0,
             "identifying_on_device": false},
        ])
    );
}

#[test]
fn enrolment_codes_are_one_time_and_expire_after_24_hours() {
    let s = TestServer::start(&crate::backend(), "enrol");
    let r = s.admin_post("/api/admin/enroll-codes", &json!({"site_id": "nope"}));
    assert_eq!((r.status, r.code()), (404, "unknown_site"));
    s.site("a");
    let r = s.admin_post("/api/admin/enroll-codes", &json!({"site_id": "a"}));
    assert_eq!(r.status, 201);
    let code = r.body["code"].as_str().unwrap().to_string();
    assert!(code.len() >= 16);
    assert_eq!(r.body["site_id"], "a");
    assert_eq!(r.body["expires_at"], START + 24 * 3600);

    let enrol = |code: &str, device: &str| {
        post_json(
            s.addr,
            "/api/enroll",
            None,
            &json!({"code": code, "device_id": device}),
        )
    };
    let r = enrol("not-a-code-at-all", DEV1);
    assert_eq!((r.status, r.code()), (400, "invalid_code"));
    let r = enrol(&code, "not-hex");
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = enrol(&code, DEV1);
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["device_id"], DEV1);
    assert_eq!(r.body["site_id"], "a");
    let token = r.body["token"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!r.raw.is_empty());
    // One time only.
    let r = enrol(&code, DEV2);
    assert_eq!((r.status, r.code()), (410, "code_used"));
    // The same device cannot enrol twice; the refused code stays usable.
    let code2 = s.code("a");
    let r = enrol(&code2, DEV1);
    assert_eq!((r.status, r.code()), (409, "device_exists"));
    // Expiry: valid just before 24 h, expired at 24 h.
    s.now
        .store(START + 24 * 3600 - 1, std::sync::atomic::Ordering::SeqCst);
    let r = enrol(&code2.to_uppercase(), DEV2);
    assert_eq!(r.status, 201, "codes are case-insensitive: {:?}", r.body);
    let code3 = s.code("a");
    s.now.store(
        START + 24 * 3600 - 1 + 24 * 3600,
        std::sync::atomic::Ordering::SeqCst,
    );
    let r = enrol(&code3, "00000000000000000000000000000000");
    assert_eq!((r.status, r.code()), (410, "code_expired"));
    // No message ever echoes the code.
    assert!(!r.body.to_string().contains(&code3));
}

#[test]
fn devices_are_listed_and_revoked() {
    let s = TestServer::start(&crate::backend(), "devices");
    s.site("a");
    s.site("b");
    let t1 = s.enroll("a", DEV1);
    s.enroll("b", DEV2);
    let r = s.admin_get("/api/admin/devices");
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[0],
        json!({"device_id": DEV1, "site_id": "a", "enrolled_at": START, "last_sync_at": null, "revoked": false})
    );
    // Syncing records last_sync_at.
    s.now.store(START + 60, std::sync::atomic::Ordering::SeqCst);
    let r = post_json(
        s.addr,
        "/api/sync",
        Some(&t1),
        &json!({"protocol": 1, "cursor": 0, "push": []}),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"protocol": 1, "cursor": 0, "more": false, "cases": []})
    );
    let r = s.admin_get("/api/admin/devices");
    assert_eq!(r.body[0]["last_sync_at"], START + 60);

    let r = s.admin_post(&format!("/api/admin/devices/{DEV1}/revoke"), &json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"device_id": DEV1, "revoked": true}));
    let r = s.admin_post("/api/admin/devices/ffff/revoke", &json!({}));
    assert_eq!((r.status, r.code()), (404, "unknown_device"));
    assert_eq!(s.admin_get("/api/admin/devices").body[0]["revoked"], true);

    let r = post_json(
        s.addr,
        "/api/sync",
        Some(&t1),
        &json!({"protocol": 1, "cursor": 0, "push": []}),
    );
    assert_eq!((r.status, r.code()), (403, "device_revoked"));
    assert_eq!(
        r.body["error"]["message"],
        "this device has been revoked by the site administrator; ask them to enroll it again"
    );
}

#[test]
fn sync_refuses_bad_tokens_bad_json_and_oversized_bodies() {
    let s = TestServer::start(&crate::backend(), "sync-errors");
    s.site("a");
    let token = s.enroll("a", DEV1);
    let empty = json!({"protocol": 1, "cursor": 0, "push": []});
    for t in [None, Some("0".repeat(64))] {
        let r = post_json(s.addr, "/api/sync", t.as_deref(), &empty);
        assert_eq!((r.status, r.code()), (401, "unauthorized"));
    }
    for bad in [
        &b"{not json"[..],
        br#"{"protocol":1,"cursor":0}"#,
        br#"{"protocol":1,"cursor":0,"push":[],"admin":true}"#,
        br#"{"protocol":1,"cursor":0,"push":[{"case_id":"c","form_id":"f","changes":"***","heads":[]}]}"#,
    ] {
        let r = request(s.addr, "POST", "/api/sync", Some(&token), Some(bad));
        assert_eq!((r.status, r.code()), (400, "bad_request"));
    }
    let r = post_json(
        s.addr,
        "/api/sync",
        Some(&token),
        &json!({"protocol": 99, "cursor": 0, "push": []}),
    );
    assert_eq!((r.status, r.code()), (400, "protocol"));
    let r = post_json(
        s.addr,
        "/api/sync",
        Some(&token),
        &json!({"protocol": 1, "cursor": 0, "push": [
            {"case_id": "c1".repeat(16), "form_id": "icrown-core", "changes": "AAAA", "heads": []}
        ]}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_case"));
    // A case id devices never make.
    let r = post_json(
        s.addr,
        "/api/sync",
        Some(&token),
        &json!({"protocol": 1, "cursor": 0, "push": [
            {"case_id": "c1", "form_id": "icrown-core", "changes": "AAAA", "heads": []}
        ]}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_case_id"));
    // Nothing was applied.
    assert_eq!(s.admin_get("/api/admin/sites").body[0]["cases"], 0);

    let mut big =
        br#"{"protocol":1,"cursor":0,"push":[{"case_id":"c","form_id":"f","changes":""#.to_vec();
    big.resize(big.len() + 33 * 1024 * 1024, b'A');
    big.extend_from_slice(br#"","heads":[]}]}"#);
    let r = request(s.addr, "POST", "/api/sync", Some(&token), Some(&big));
    assert_eq!((r.status, r.code()), (413, "too_large"));
    assert_eq!(s.admin_get("/api/admin/sites").body[0]["cases"], 0);
}
