//! A case entered on a device under an earlier version of the core form (the committed store
//! fixture `core/tests/fixtures/store-forms-1.0`, written by that version's code, holding
//! baricitinib under its old ATC code) syncs to the repository, which shows and checks it as
//! the current form reads it; a current device pulls it, moves it to the current version in
//! one audited change, and the move reaches the repository and the older device alike.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;
use wardcrf_core::sync::{HttpTransport, Method};
use wardcrf_core::{CaseStore, Passphrase};

on_both_backends!(
    a_case_of_an_older_form_version_syncs_and_moves_with_an_audit_entry,
    super::older_form_version
);

/// The fixture store, copied, enrolled at `site` as a device of the older version.
fn older_device(url: &str, admin: &HttpTransport, dir: &Path, site: &str) -> Device {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/store-forms-1.0");
    let store_dir = dir.join("older");
    std::fs::create_dir_all(&store_dir).unwrap();
    std::fs::copy(fixture.join("wardcrf.db"), store_dir.join("wardcrf.db")).unwrap();
    let mut store =
        CaseStore::open(&store_dir, &Passphrase::new("fixture passphrase forms 1.0")).unwrap();
    // The nurse who entered the case on that tablet.
    store.sign_in_for_tests("nurse").unwrap();
    enroll_store(url, admin, store, "older", site)
}

fn med_names(values: &Value) -> Vec<String> {
    values["medications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["med_name"].as_str().unwrap().to_string())
        .collect()
}

fn older_form_version(backend: Backend) {
    let repo = Repository::new(&backend, "older-form");
    let dir = repo.dir.clone();
    let server = repo.start();
    let admin = repo.admin(&server);
    let site = "jp-osaka-01";
    add_site(&admin, site);
    // The nurse who entered the case on the older tablet is staff of the site.
    add_staff(&admin, site, "nurse");
    let mut older = older_device(&server.url, &admin, &dir, site);
    let case = older.case_ids().into_iter().next().unwrap();
    older.sync(&server.url);

    // The repository shows the case as the current form reads it: no unknown code flagged.
    let shown = admin
        .call(Method::Get, &format!("/api/cases/{case}"), None)
        .unwrap();
    assert!(med_names(&shown["values"]).contains(&"L04AF02".to_string()));
    let flags = shown["flags"].to_string();
    assert!(!flags.contains("med_name"), "{flags}");

    // A current device pulls it, and moves it in one audited change.
    let mut current = enroll(&server.url, &admin, &dir, "current", site);
    current.sync(&server.url);
    assert_eq!(current.store.case(&case).unwrap().form_version, "1.0.0");
    let up = current.store.upgrade_form(&case).unwrap().unwrap();
    assert_eq!(up.to, "1.1.0");
    current.sync(&server.url);

    // The repository's audit trail holds the move; the older device learns it.
    let history = admin
        .call(
            Method::Get,
            &format!("/api/cases/{case}/history?field=med_name"),
            None,
        )
        .unwrap();
    let moved = history
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["op"] == "upgrade_form")
        .expect("the move is in the audit trail");
    assert_eq!(
        (&moved["old"], &moved["new"]),
        (&json!("L04AA37"), &json!("L04AF02"))
    );
    assert_eq!(moved["user"], json!(nurse_of(site)));
    older.sync(&server.url);
    let view = older.store.case(&case).unwrap();
    assert_eq!(view.form_version, "1.1.0");
    assert!(med_names(&Value::Object(view.values)).contains(&"L04AF02".to_string()));
}
