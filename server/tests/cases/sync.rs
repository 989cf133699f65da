//! `wardcrf_core::sync::sync` through HTTP: devices of a site converge via the server; another
//! site's device never sees them; a revoked device is refused.
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use serde_json::json;
use std::net::SocketAddr;
use wardcrf_core::sync::{SyncRequest, SyncResponse, Transport, TransportError, sync};
use wardcrf_core::{CaseStore, FieldPath, Passphrase, StoreError};

/// Posts each exchange as JSON to /api/sync.
struct Http {
    addr: SocketAddr,
    token: String,
}

impl Transport for Http {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        let body = serde_json::to_vec(request).unwrap();
        let r = request_raw(self.addr, &self.token, &body);
        if r.status != 200 {
            return Err(TransportError::Refused(format!(
                "{} {}",
                r.status,
                r.code()
            )));
        }
        Ok(serde_json::from_slice(&r.raw).unwrap())
    }
}

fn request_raw(addr: SocketAddr, token: &str, body: &[u8]) -> Resp {
    request(addr, "POST", "/api/sync", Some(token), Some(body))
}

struct Device {
    store: CaseStore,
    http: Http,
    dir: std::path::PathBuf,
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn device(server: &TestServer, site: &str, name: &str) -> Device {
    let dir = temp_dir(name).join("store");
    let store = CaseStore::create(&dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
    let token = server.enroll(site, &store.device_id());
    Device {
        store,
        http: Http {
            addr: server.addr,
            token,
        },
        dir: dir.parent().unwrap().to_path_buf(),
    }
}

impl Device {
    fn sync(&mut self) -> Result<wardcrf_core::sync::SyncSummary, wardcrf_core::sync::SyncError> {
        sync(&mut self.store, &self.http, &mut |_| {})
    }

    fn set(&mut self, case: &str, field: &str, v: serde_json::Value, reason: Option<&str>) {
        self.store
            .set_value(case, &FieldPath::field(field), v, "nurse", reason)
            .unwrap();
    }

    fn value(&mut self, case: &str, field: &str) -> serde_json::Value {
        self.store.case(case).unwrap().values[field].clone()
    }
}

#[test]
fn devices_of_a_site_converge_and_other_sites_never_see_the_cases() {
    let server = TestServer::start(&crate::backend(), "sync");
    server.site("site-a");
    server.site("site-b");
    let mut a1 = device(&server, "site-a", "a1");
    let mut a2 = device(&server, "site-a", "a2");
    let mut b1 = device(&server, "site-b", "b1");

    let case = a1.store.create_case("icrown-core", &[], "nurse").unwrap();
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
    let case = a1.store.create_case("icrown-core", &[], "nurse").unwrap();
    a1.set(&case, "vs_hr", json!(70), None);
    a1.sync().unwrap();

    // A site-B device pushing a case that belongs to site A is refused (other_site).
    let mut push = a1.store.sync_push(&case).unwrap();
    push.heads.clear();
    let body = serde_json::to_vec(&SyncRequest {
        protocol: wardcrf_core::sync::PROTOCOL,
        cursor: 0,
        push: vec![push],
    })
    .unwrap();
    let r = request_raw(server.addr, &b1.http.token, &body);
    assert_eq!((r.status, r.code()), (400, "other_site"));
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
