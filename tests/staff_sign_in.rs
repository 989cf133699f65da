//! Staff sign in on a ward tablet, with nothing but the `wardcrf` command line against the real
//! `wardcrf-server`: two staff members sign in online, then offline with the repository
//! stopped; each enters values under their own id and printed name, on the tablet and, after a
//! sync, on the repository; wrong passwords and PINs are refused with nothing written, and five
//! wrong PINs end the PIN; a signature needs the password and shows name, time and meaning; the
//! store and its passphrase alone read nothing; the administrator's recovery key opens the
//! store of users who forgot their credentials and a sync loses nothing; a user deactivated at
//! the repository cannot sign in on the tablet after its next sync.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Output};
use wardcrf_core::sync::Method;

on_both_backends!(
    two_staff_sign_in_on_one_tablet_online_then_offline,
    super::staff_sign_in
);

const PASS: &str = "ward-3-west-tablet";
const SITE: &str = "jp-tokyo-01";

/// A ward tablet's store, driven through `wardcrf`.
struct Tablet {
    store: PathBuf,
}

impl Tablet {
    /// `wardcrf <cmd> --store DIR <rest> --json` with the passphrase and these variables.
    fn raw(&self, cmd: &[&str], rest: &[&str], env: &[(&str, &str)]) -> Output {
        let mut args = cmd.to_vec();
        args.extend(["--store", self.store.to_str().unwrap()]);
        args.extend(rest);
        args.push("--json");
        let mut c = Command::new(workspace_binary("wardcrf"));
        c.args(&args)
            .env("WARDCRF_PASSPHRASE", PASS)
            .env("WARDCRF_INSECURE_KDF_ITERATIONS", "1000");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for (k, v) in env {
            assert!(!printed.contains(v), "{k} was printed by {args:?}");
        }
        out
    }

    /// As `user`, signed in with their password.
    fn as_user(&self, user: &str, cmd: &[&str], rest: &[&str]) -> Output {
        let password = staff_password(user);
        let mut rest = rest.to_vec();
        rest.extend(["--user", user]);
        self.raw(cmd, &rest, &[("WARDCRF_USER_PASSWORD", &password)])
    }

    fn ok_as(&self, user: &str, cmd: &[&str], rest: &[&str]) -> Value {
        json(&self.as_user(user, cmd, rest))
    }
}

/// The JSON of a command that succeeded.
fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A stored value without its annotations (unit, entered value).
fn plain(v: &Value) -> &Value {
    v.get("value").unwrap_or(v)
}

/// The message of a command refused with exit code 2 and nothing on stdout.
fn refused(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn staff_sign_in(backend: Backend) {
    let repo = Repository::new(&backend, "staff_sign_in");
    let server = repo.start();
    let admin = repo.admin(&server);
    add_site(&admin, SITE);
    for id in ["nurse.sato", "dr.weber"] {
        add_staff(&admin, SITE, id);
    }

    let tablet = Tablet {
        store: repo.dir.join("tablet"),
    };
    json(&tablet.raw(&["device", "init"], &[], &[]));
    let code = admin
        .call(
            Method::Post,
            "/api/admin/enroll-codes",
            Some(&json!({"site_id": SITE})),
        )
        .unwrap();
    let enrolled = json(&tablet.raw(
        &["device", "enroll"],
        &[
            "--server",
            &server.url,
            "--code",
            code["code"].as_str().unwrap(),
        ],
        &[],
    ));
    let device_id = enrolled["device_id"].as_str().unwrap().to_string();

    // Online, the first time, through the repository.
    for id in ["nurse.sato", "dr.weber"] {
        let v = tablet.ok_as(id, &["user", "login"], &[]);
        assert_eq!(v["name"], format!("Test {id}"));
    }
    // A wrong password for someone the tablet does not know: refused by the repository.
    let out = tablet.raw(
        &["user", "login"],
        &["--user", "nurse.sato"],
        &[("WARDCRF_USER_PASSWORD", "not her password")],
    );
    assert!(refused(&out).contains("password or PIN is wrong"));

    // The repository stops: everything from here is offline.
    let url = server.url.clone();
    drop(server);
    let case = tablet.ok_as("nurse.sato", &["case", "new"], &["--form", "icrown-core"])["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    tablet.ok_as("nurse.sato", &["case", "set"], &[&case, "vs_temp", "37.9"]);
    tablet.ok_as("dr.weber", &["case", "set"], &[&case, "vs_hr", "88"]);
    let history = tablet.ok_as("dr.weber", &["case", "history"], &[&case]);
    let before = history.clone();
    let authors: Vec<(&str, &str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["op"].as_str().unwrap(),
                h["user"].as_str().unwrap(),
                h["user_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        authors,
        [
            ("create", "nurse.sato", "Test nurse.sato"),
            ("set", "nurse.sato", "Test nurse.sato"),
            ("set", "dr.weber", "Test dr.weber"),
        ]
    );

    // A wrong password: exit 2, nothing written.
    let out = tablet.raw(
        &["case", "set"],
        &[&case, "vs_rr", "18", "--user", "dr.weber"],
        &[("WARDCRF_USER_PASSWORD", "a wrong guess")],
    );
    assert!(refused(&out).contains("password or PIN is wrong"));
    // The store and its passphrase, without a staff credential, read nothing.
    let out = tablet.raw(&["case", "show"], &[&case], &[]);
    assert!(refused(&out).contains("--user ID"));
    let out = tablet.raw(&["case", "list"], &[], &[]);
    assert!(refused(&out).contains("--user ID"));

    // A PIN, set with the password; five wrong PINs end it.
    let sato_password = staff_password("nurse.sato");
    json(&tablet.raw(
        &["user", "pin"],
        &["--user", "nurse.sato"],
        &[
            ("WARDCRF_USER_PASSWORD", &sato_password),
            ("WARDCRF_USER_PIN", "4826"),
        ],
    ));
    let with_pin = |pin: &str, value: &str| {
        tablet.raw(
            &["case", "set"],
            &[&case, "vs_rr", value, "--user", "nurse.sato"],
            &[("WARDCRF_USER_PIN", pin)],
        )
    };
    json(&with_pin("4826", "18"));
    let with_rr = tablet.ok_as("nurse.sato", &["case", "history"], &[&case]);
    for _ in 0..5 {
        refused(&with_pin("0000", "30"));
    }
    assert!(refused(&with_pin("4826", "30")).contains("PIN"));
    assert_eq!(
        tablet.ok_as("nurse.sato", &["case", "history"], &[&case]),
        with_rr,
        "nothing written by wrong credentials"
    );
    assert_eq!(
        with_rr.as_array().unwrap().len(),
        before.as_array().unwrap().len() + 1
    );

    // A signature: the password again, and a meaning; shown with name, time and meaning.
    let values: Value =
        serde_json::from_str(include_str!("../core/tests/fixtures/complete-case.json")).unwrap();
    for (field, value) in values.as_object().unwrap() {
        let raw = match value {
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        let mut rest = vec![case.as_str(), field.as_str(), raw.as_str()];
        if ["vs_temp", "vs_hr", "vs_rr"].contains(&field.as_str()) {
            rest.extend(["--reason", "admission values"]);
        }
        tablet.ok_as("dr.weber", &["case", "set"], &rest);
    }
    tablet.ok_as("dr.weber", &["case", "status"], &[&case, "complete"]);
    let out = tablet.raw(
        &["case", "status"],
        &[
            &case,
            "signed",
            "--meaning",
            "author",
            "--user",
            "nurse.sato",
        ],
        &[("WARDCRF_USER_PIN", "4826")],
    );
    refused(&out);
    let signed = tablet.ok_as(
        "dr.weber",
        &["case", "status"],
        &[&case, "signed", "--meaning", "investigator-approval"],
    );
    assert_eq!(signed["status"], "signed");
    let sigs = tablet.ok_as("nurse.sato", &["case", "signatures"], &[&case]);
    assert_eq!(sigs.as_array().unwrap().len(), 1);
    assert_eq!(
        sigs[0]["signer"],
        json!({"id": "dr.weber", "name": "Test dr.weber"})
    );
    assert_eq!(sigs[0]["meaning"], "investigator-approval");
    assert!(sigs[0]["time"].as_i64().unwrap() > 1_700_000_000);

    // The repository again (same address): a sync; its history names each author.
    let server = repo.restart_at(&url);
    let admin = repo.admin(&server);
    let v = tablet.ok_as("dr.weber", &["sync"], &[]);
    assert_eq!(v["pushed"], 1, "{v}");
    let mut body = Vec::new();
    admin
        .download(&format!("/api/cases/{case}/history"), &mut body)
        .unwrap();
    let on_server: Value = serde_json::from_slice(&body).unwrap();
    let local = tablet.ok_as("dr.weber", &["case", "history"], &[&case]);
    assert_eq!(on_server, local, "the same history, authors included");
    for h in on_server.as_array().unwrap() {
        let id = h["user"].as_str().unwrap();
        assert!(["nurse.sato", "dr.weber"].contains(&id), "{h}");
        assert_eq!(h["user_name"], format!("Test {id}"));
        assert_eq!(h["verified"], true);
    }

    // Both forget their credentials after an unsynced change: the administrator's recovery
    // key opens the store, reads it, and a sync loses nothing.
    tablet.ok_as(
        "nurse.sato",
        &["case", "set"],
        &[&case, "vs_gcs", "14", "--reason", "re-assessed"],
    );
    let key = admin
        .call(
            Method::Get,
            &format!("/api/admin/devices/{device_id}/recovery-key"),
            None,
        )
        .unwrap();
    let key = key["device_key"].as_str().unwrap().to_string();
    let recovery = [("WARDCRF_RECOVERY_KEY", key.as_str())];
    let opened = json(&tablet.raw(&["store", "recover"], &[], &recovery));
    assert_eq!(opened["cases"], 1);
    let shown = json(&tablet.raw(&["case", "show"], &[&case], &recovery));
    assert_eq!(plain(&shown["values"]["vs_gcs"]), 14);
    // Reading and syncing, not changing.
    let err = refused(&tablet.raw(&["case", "set"], &[&case, "vs_gcs", "15"], &recovery));
    assert!(err.contains("--user ID"), "{err}");
    let v = json(&tablet.raw(&["sync"], &[], &recovery));
    assert_eq!(v["pushed"], 1, "{v}");
    let mut body = Vec::new();
    admin
        .download(&format!("/api/cases/{case}"), &mut body)
        .unwrap();
    let on_server: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(plain(&on_server["values"]["vs_gcs"]), 14, "nothing lost");

    // dr.weber is deactivated at the repository: after the tablet's next sync, no sign-in.
    let (status, answer) = admin_put(
        &repo,
        &server,
        "/api/admin/staff/dr.weber/active",
        &json!({"active": false}),
    );
    assert_eq!(
        (status, &answer["active"]),
        (200, &json!(false)),
        "{answer}"
    );
    json(&tablet.as_user("nurse.sato", &["sync"], &[]));
    // The tablet forgot their credentials: only the repository could sign them in, and it
    // refuses.
    let err = refused(&tablet.as_user("dr.weber", &["case", "list"], &[]));
    assert!(
        err.contains("refused the sign-in") && err.contains("deactivated"),
        "{err}"
    );
    let err = refused(&tablet.as_user("dr.weber", &["user", "login"], &[]));
    assert!(err.contains("deactivated"), "{err}");
    // The other still can, and the deactivated person's history stays theirs.
    let history = tablet.ok_as("nurse.sato", &["case", "history"], &[&case, "vs_hr"]);
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["user"] == "dr.weber")
    );
}
