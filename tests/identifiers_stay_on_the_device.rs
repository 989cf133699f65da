//! A site that keeps identifying data on its devices (docs/adr/0004): name, hospital record number
//! and date of birth entered on a tablet never reach the repository, nor another tablet of the
//! site, while the clinical values sync as everywhere else; the repository refuses a push that
//! carries them anyway (a device that does not know the setting), applying nothing of it.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

mod common;

use common::*;
use serde_json::json;
use wardcrf_core::sync::{self, HttpTransport, Method, SyncError, TransportError};
use wardcrf_core::{CaseStore, FieldPath, Passphrase, StoreError};

const SECRETS: [&str; 3] = ["Nakamura Hikari", "OSK-20931-77", "1949-11-03"];

on_both_backends!(
    identifying_values_never_leave_the_device,
    super::never_leave_the_device
);

fn set(d: &mut Device, case: &str, field: &str, value: serde_json::Value) {
    d.store
        .set_value(case, &FieldPath::field(field), value, None)
        .unwrap();
}

/// Whether `needle` occurs anywhere in `bytes`.
fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn never_leave_the_device(backend: Backend) {
    let repo = Repository::new(&backend, "private_site");
    let dir = repo.dir.clone();
    let server = repo.start();
    let admin = repo.admin(&server);
    add_private_site(&admin, "jp-osaka-02");
    let sites = admin.call(Method::Get, "/api/admin/sites", None).unwrap();
    let site = sites
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site_id"] == "jp-osaka-02")
        .unwrap();
    assert_eq!(site["identifying_on_device"], json!(true));

    let mut one = enroll(&server.url, &admin, &dir, "osaka-1", "jp-osaka-02");
    let mut two = enroll(&server.url, &admin, &dir, "osaka-2", "jp-osaka-02");
    assert!(one.store.keeps_identifying_on_device());
    let case = one.store.create_case("icrown-core", &[]).unwrap();
    set(&mut one, &case, "patient_name", json!(SECRETS[0]));
    set(&mut one, &case, "hospital_record_number", json!(SECRETS[1]));
    set(&mut one, &case, "date_of_birth", json!(SECRETS[2]));
    set(&mut one, &case, "vs_hr", json!(104));
    assert_eq!(one.sync(&server.url).pushed, 1);
    two.sync(&server.url);

    // The tablet that entered them still has them; its peer and the repository do not.
    let mine = one.store.case(&case).unwrap();
    assert_eq!(mine.values["patient_name"], json!(SECRETS[0]));
    let theirs = two.store.case(&case).unwrap();
    assert_eq!(theirs.values["vs_hr"]["value"], json!(104));
    for field in ["patient_name", "hospital_record_number", "date_of_birth"] {
        assert!(theirs.values.get(field).is_none(), "{field} reached a peer");
    }
    let mut seen = Vec::new();
    for path in [
        format!("/api/cases/{case}"),
        format!("/api/cases/{case}/history"),
        "/api/exports/odm".to_string(),
    ] {
        let mut body = Vec::new();
        admin.download(&path, &mut body).unwrap();
        seen.push((path, body));
    }
    assert!(contains(&seen[0].1, "104"), "the clinical value is there");
    for (path, body) in &seen {
        for secret in SECRETS {
            assert!(!contains(body, secret), "{secret} in {path}");
        }
    }
    if matches!(backend, Backend::Sqlite) {
        // Documents are stored without compression: a value held would show in the file.
        let mut db = std::fs::read(repo.data().join("repository.db")).unwrap();
        if let Ok(wal) = std::fs::read(repo.data().join("repository.db-wal")) {
            db.extend(wal);
        }
        for secret in SECRETS {
            assert!(
                !contains(&db, secret),
                "{secret} in the repository's database"
            );
        }
    }

    // A device that does not know the setting (enrolled by an older app) pushes a name: the
    // repository refuses the batch and keeps nothing of it.
    let code = admin
        .call(
            Method::Post,
            "/api/admin/enroll-codes",
            Some(&json!({"site_id": "jp-osaka-02"})),
        )
        .unwrap();
    let mut old = CaseStore::create(
        &dir.join("old-app"),
        &Passphrase::insecure_for_tests("old", 10),
    )
    .unwrap();
    old.sign_in_for_tests(&nurse_of("jp-osaka-02")).unwrap();
    let e = sync::enroll(
        &server.url,
        code["code"].as_str().unwrap(),
        &old.device_id(),
    )
    .unwrap();
    old.set_sync_credential(&server.url, &e.token).unwrap();
    let leaked = old.create_case("icrown-core", &[]).unwrap();
    old.set_value(
        &leaked,
        &FieldPath::field("patient_name"),
        json!("Okada Rin"),
        None,
    )
    .unwrap();
    let line = HttpTransport::new(&server.url, &e.token).unwrap();
    let err = sync::sync(&mut old, &line, &mut |_| {}).unwrap_err();
    let SyncError::Transport(TransportError::Refused(why)) = &err else {
        panic!("expected a refusal, got {err}");
    };
    assert!(why.contains("identifying"), "{why}");
    assert!(
        !why.contains("Okada"),
        "the refusal never quotes the value: {why}"
    );
    let mut body = Vec::new();
    let gone = admin.download(&format!("/api/cases/{leaked}"), &mut body);
    assert!(gone.is_err(), "nothing of the refused batch is kept");

    // A tablet used before enrolment, whose records hold a name, cannot join the site.
    let mut used = CaseStore::create(
        &dir.join("used"),
        &Passphrase::insecure_for_tests("used", 10),
    )
    .unwrap();
    used.sign_in_for_tests(&nurse_of("jp-osaka-02")).unwrap();
    let before = used.create_case("icrown-core", &[]).unwrap();
    used.set_value(
        &before,
        &FieldPath::field("patient_name"),
        json!("Sato Mei"),
        None,
    )
    .unwrap();
    let code = admin
        .call(
            Method::Post,
            "/api/admin/enroll-codes",
            Some(&json!({"site_id": "jp-osaka-02"})),
        )
        .unwrap();
    let e = sync::enroll(
        &server.url,
        code["code"].as_str().unwrap(),
        &used.device_id(),
    )
    .unwrap();
    assert!(e.identifying_on_device);
    assert!(matches!(
        used.enrolled(&server.url, &e),
        Err(StoreError::IdentifyingAlreadyShared { cases: 1 })
    ));
    assert_eq!(used.sync_credential().unwrap(), None);
}
