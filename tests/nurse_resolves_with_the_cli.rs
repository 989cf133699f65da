//! A conflict settled by a nurse, with nothing but the `wardcrf` command line against
//! the real `wardcrf-server`: two devices of one site edit the same field offline, both sync, a
//! nurse resolves the conflict on one device, both sync again — and both devices and the
//! repository end with the one resolved value and the same full history.

#![allow(clippy::unwrap_used)] // scenario helpers outside #[test] functions

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

on_both_backends!(
    two_devices_conflict_and_a_nurse_resolves_on_one,
    super::nurse_resolves
);

const PASS: &str = "ward-5-east-tablet";

/// Runs `wardcrf`; the store passphrase comes from the environment, as on a ward tablet, and
/// so does the password of the staff member named by `--user`.
fn wardcrf(args: &[&str]) -> Output {
    let mut cmd = Command::new(workspace_binary("wardcrf"));
    cmd.args(args)
        .env("WARDCRF_PASSPHRASE", PASS)
        .env("WARDCRF_INSECURE_KDF_ITERATIONS", "1000");
    if let Some(i) = args.iter().position(|a| *a == "--user") {
        cmd.env("WARDCRF_USER_PASSWORD", staff_password(args[i + 1]));
    }
    cmd.output().unwrap()
}

/// The JSON a successful `wardcrf … --json` printed.
fn ok(args: &[&str]) -> Value {
    let out = wardcrf(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "wardcrf {args:?} failed ({:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("wardcrf {args:?} printed no JSON ({e}):\n{stdout}"))
}

struct Tablet {
    store: PathBuf,
    /// Who acts when a command names nobody with `--user` (once someone signed in on it).
    user: Option<&'static str>,
}

impl Tablet {
    fn run(&self, cmd: &[&str], rest: &[&str]) -> Value {
        let mut args = cmd.to_vec();
        args.extend(["--store", self.store.to_str().unwrap()]);
        args.extend(rest);
        if let Some(user) = self.user.filter(|_| !rest.contains(&"--user")) {
            args.extend(["--user", user]);
        }
        args.push("--json");
        ok(&args)
    }
}

fn nurse_resolves(backend: Backend) {
    let repo = Repository::new(&backend, "cli_scenario");
    let server = repo.start();
    let token_file = repo.admin_token_file();
    let admin = |args: &[&str]| {
        let mut all = vec![
            "admin",
            "--server",
            &server.url,
            "--token-file",
            token_file.to_str().unwrap(),
        ];
        all.extend(args);
        all.push("--json");
        ok(&all)
    };
    admin(&[
        "site",
        "add",
        "jp-tokyo-01",
        "--name",
        "Tokyo Medical Centre",
    ]);

    // The ward's staff, clinicians of the site; each signs in online on a tablet the first time.
    let admin_line = repo.admin(&server);
    for id in ["nurse.sato", "dr.weber", "nurse.tanaka"] {
        add_staff(&admin_line, "jp-tokyo-01", id);
    }

    let tablet = |name: &str| -> Tablet {
        let store = repo.dir.join(name);
        let t = Tablet { store, user: None };
        let init = t.run(&["device", "init"], &[]);
        assert!(init["device_id"].is_string(), "{init}");
        let code = admin(&["enroll-code", "--site", "jp-tokyo-01"])["code"]
            .as_str()
            .unwrap()
            .to_string();
        let e = t.run(
            &["device", "enroll"],
            &["--server", &server.url, "--code", &code],
        );
        assert_eq!(e["site"], "jp-tokyo-01");
        t
    };
    let mut a = tablet("tablet-a");
    let mut b = tablet("tablet-b");

    // A case entered on tablet A reaches tablet B.
    let case = a.run(
        &["case", "new"],
        &["--form", "icrown-core", "--user", "nurse.sato"],
    )["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    a.user = Some("nurse.sato");
    a.run(
        &["case", "set"],
        &[&case, "vs_temp", "37.9", "--user", "nurse.sato"],
    );
    assert_eq!(a.run(&["sync"], &[])["pushed"], 1);
    assert_eq!(b.run(&["sync"], &[])["pulled"], 1);

    // Offline, both record a different temperature (B in Fahrenheit).
    a.run(
        &["case", "set"],
        &[
            &case,
            "vs_temp",
            "38.6",
            "--user",
            "nurse.sato",
            "--reason",
            "re-measured",
        ],
    );
    b.run(
        &["case", "set"],
        &[
            &case,
            "vs_temp",
            "102.2",
            "--unit",
            "[degF]",
            "--user",
            "dr.weber",
            "--reason",
            "ear thermometer",
        ],
    );
    b.user = Some("dr.weber");
    // Both sync: the conflict is on both tablets and on the repository.
    a.run(&["sync"], &[]);
    assert_eq!(b.run(&["sync"], &[])["conflicts"], 1);
    assert_eq!(a.run(&["sync"], &[])["conflicts"], 1);
    for t in [&a, &b] {
        let conflicts = t.run(&["conflicts"], &[]);
        assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts}");
        assert_eq!(conflicts[0]["field"], "vs_temp");
    }
    let listed = admin(&["case", "list", "--conflicts"]);
    assert_eq!(listed[0]["case_id"], case.as_str(), "{listed}");
    let on_server = admin(&["case", "show", &case]);
    let candidates = on_server["conflicts"][0]["candidates"].as_array().unwrap();
    let mut temps: Vec<f64> = candidates
        .iter()
        .map(|c| c["value"]["value"].as_f64().unwrap())
        .collect();
    temps.sort_by(f64::total_cmp);
    assert_eq!(temps, [38.6, 39.0], "{on_server}");

    // The nurse resolves on tablet B; both sync again.
    b.run(
        &["resolve"],
        &[
            &case,
            "vs_temp",
            "--value",
            "39.0",
            "--reason",
            "ear reading confirmed",
            "--user",
            "nurse.tanaka",
        ],
    );
    b.run(&["sync"], &[]);
    assert_eq!(a.run(&["sync"], &[])["conflicts"], 0);
    assert_eq!(b.run(&["sync"], &[])["conflicts"], 0);

    // One resolved value everywhere.
    for t in [&a, &b] {
        let shown = t.run(&["case", "show"], &[&case]);
        assert_eq!(shown["values"]["vs_temp"]["value"], 39.0, "{shown}");
        assert_eq!(t.run(&["conflicts"], &[]), serde_json::json!([]));
    }
    let on_server = admin(&["case", "show", &case]);
    assert_eq!(on_server["values"]["vs_temp"]["value"], 39.0, "{on_server}");
    assert_eq!(on_server["conflicts"], serde_json::json!([]));
    assert_eq!(
        admin(&["case", "list", "--conflicts"]),
        serde_json::json!([])
    );

    // The full history, the same on both tablets and on the repository.
    let history_a = a.run(&["case", "history"], &[&case]);
    assert_eq!(history_a, b.run(&["case", "history"], &[&case]));
    assert_eq!(history_a, admin(&["case", "history", &case]));
    let temps = admin(&["case", "history", &case, "--field", "vs_temp"]);
    let steps: Vec<(&str, &str)> = temps
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["op"].as_str().unwrap(), h["user"].as_str().unwrap()))
        .collect();
    assert_eq!(steps.len(), 4, "{temps}");
    assert_eq!(steps[0], ("set", "nurse.sato"));
    assert!(
        steps[1..3].contains(&("set", "nurse.sato")) && steps[1..3].contains(&("set", "dr.weber"))
    );
    assert_eq!(steps[3], ("resolve", "nurse.tanaka"));
    for h in temps.as_array().unwrap() {
        let id = h["user"].as_str().unwrap();
        assert_eq!(h["user_name"], format!("Test {id}"), "{h}");
        assert_eq!(h["verified"], true, "{h}");
    }
    assert_eq!(temps[3]["reason"], "ear reading confirmed");
}
