//! Staff on the store through `wardcrf`: who may read and change a store, wrong passwords and
//! PINs refused with nothing written, PINs that stop working after too many wrong tries,
//! signatures that need the password again and a meaning, and history that names each author.

mod common;

use common::{A_PASS, Store, failure, json_of, run_env, staff_password, text};
use serde_json::Value;
use std::process::Output;

/// `wardcrf <cmd> --store DIR <rest> --user ID` with only these credential variables.
fn run_as(s: &Store, cmd: &[&str], rest: &[&str], user: &str, env: &[(&str, &str)]) -> Output {
    let mut args: Vec<&str> = cmd.to_vec();
    args.extend(["--store", s.path(), "--user", user]);
    args.extend(rest);
    let mut vars = vec![("WARDCRF_PASSPHRASE", s.pass)];
    vars.extend(env);
    let secrets: Vec<&str> = env.iter().map(|(_, v)| *v).collect();
    run_env(&args, &vars, &secrets)
}

fn history(s: &Store, case: &str) -> Value {
    s.ok(&["case", "history"], &[case])
}

#[test]
fn a_store_nobody_signed_in_on_reads_without_a_user_but_changes_need_one() {
    let s = Store::open_door("open-door", A_PASS);
    let list = s.ok(&["case", "list"], &[]);
    assert_eq!(list, serde_json::json!([]));
    let err = failure(&s.run(&["case", "new"], &["--form", "icrown-core"]), 2);
    assert!(err.contains("--user ID"), "{err}");
    // Nobody can be signed in offline before a first (online) sign-in; this store is not
    // enrolled, so there is nobody to ask.
    let out = run_as(
        &s,
        &["case", "new"],
        &["--form", "icrown-core"],
        "nurse.a",
        &[("WARDCRF_USER_PASSWORD", "test password nurse.a")],
    );
    let err = failure(&out, 2);
    assert!(err.contains("must sign in online"), "{err}");
    assert_eq!(s.ok(&["case", "list"], &[]), serde_json::json!([]));
}

#[test]
fn a_claimed_store_reads_nothing_without_a_staff_credential() {
    let s = Store::new("claimed", A_PASS);
    let case = s.new_case("icrown-core");
    let out = run_env(
        &["case", "show", &case, "--store", s.path(), "--json"],
        &[("WARDCRF_PASSPHRASE", A_PASS)],
        &[],
    );
    let err = failure(&out, 2);
    assert!(err.contains("--user ID"), "{err}");
    let out = run_as(&s, &["case", "list"], &["--json"], "nurse.a", &[]);
    let err = failure(&out, 2);
    assert!(err.contains("WARDCRF_USER_PASSWORD"), "{err}");
}

#[test]
fn a_wrong_password_or_pin_exits_2_and_writes_nothing() {
    let s = Store::new("wrong-cred", A_PASS);
    let case = s.new_case("icrown-core");
    let before = history(&s, &case);
    let wrong = [("WARDCRF_USER_PASSWORD", "not the password")];
    let out = run_as(
        &s,
        &["case", "set"],
        &[&case, "vs_hr", "88"],
        "dr.b",
        &wrong,
    );
    let err = failure(&out, 2);
    assert!(err.contains("password or PIN is wrong"), "{err}");
    let out = run_as(
        &s,
        &["case", "set"],
        &[&case, "vs_hr", "88"],
        "nobody",
        &wrong,
    );
    failure(&out, 2);
    // No PIN set yet: the PIN is refused.
    let out = run_as(
        &s,
        &["case", "set"],
        &[&case, "vs_hr", "88"],
        "dr.b",
        &[("WARDCRF_USER_PIN", "123456")],
    );
    let err = failure(&out, 2);
    assert!(err.contains("has no PIN"), "{err}");
    assert_eq!(history(&s, &case), before, "nothing was written");
}

#[test]
fn a_pin_signs_in_until_five_wrong_ones() {
    let s = Store::new("pin", A_PASS);
    let case = s.new_case("icrown-core");
    let password = staff_password("dr.b");
    let pin_env = [
        ("WARDCRF_USER_PASSWORD", password.as_str()),
        ("WARDCRF_USER_PIN", "246810"),
    ];
    let v = json_of(&run_as(&s, &["user", "pin"], &["--json"], "dr.b", &pin_env));
    assert_eq!(
        (v["user"].as_str(), v["pin"].as_bool()),
        (Some("dr.b"), Some(true))
    );
    let with_pin = |pin: &str| {
        run_as(
            &s,
            &["case", "set"],
            &[&case, "vs_rr", "18", "--json"],
            "dr.b",
            &[("WARDCRF_USER_PIN", pin)],
        )
    };
    json_of(&with_pin("246810"));
    for _ in 0..5 {
        let before = history(&s, &case);
        let err = failure(&with_pin("000000"), 2);
        assert!(
            err.contains("password or PIN is wrong") || err.contains("too many wrong PINs"),
            "{err}"
        );
        assert_eq!(history(&s, &case), before, "nothing was written");
    }
    let err = failure(&with_pin("246810"), 2);
    assert!(err.contains("PIN"), "the right PIN no longer works: {err}");
    // The password still does.
    json_of(&s.run(
        &["case", "set"],
        &[
            &case,
            "vs_rr",
            "19",
            "--reason",
            "re-counted",
            "--json",
            "--user",
            "dr.b",
        ],
    ));
}

#[test]
fn history_names_each_author_and_a_signature_needs_the_password_and_a_meaning() {
    let s = Store::new("sign", A_PASS);
    let case = s.new_case("icrown-core");
    json_of(&s.run(
        &["case", "set"],
        &[&case, "vs_hr", "90", "--json", "--user", "dr.b"],
    ));
    let h = history(&s, &case);
    assert_eq!(h[0]["user"], "nurse.a");
    assert_eq!(h[0]["user_name"], "Test nurse.a");
    assert_eq!(h[1]["user"], "dr.b");
    assert_eq!(h[1]["verified"], true);
    let shown = text(&s.run(&["case", "history"], &[&case]).stdout);
    assert!(
        shown.contains("Test nurse.a (nurse.a)") && shown.contains("Test dr.b (dr.b)"),
        "{shown}"
    );

    let values: Value =
        serde_json::from_str(include_str!("../../core/tests/fixtures/complete-case.json")).unwrap();
    for (field, value) in values.as_object().unwrap() {
        let raw = match value {
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        let mut rest = vec![case.as_str(), field.as_str(), raw.as_str(), "--json"];
        if field == "vs_hr" {
            rest.extend(["--reason", "re-counted"]);
        }
        json_of(&s.run(&["case", "set"], &rest));
    }
    json_of(&s.run(&["case", "status"], &[&case, "complete", "--json"]));

    // A PIN does not sign; a wrong password does not; no meaning, no signature.
    let pin_env = [
        ("WARDCRF_USER_PASSWORD", "test password pi.e"),
        ("WARDCRF_USER_PIN", "13572468"),
    ];
    json_of(&run_as(&s, &["user", "pin"], &["--json"], "pi.e", &pin_env));
    let sign = |env: &[(&str, &str)], meaning: &str| {
        run_as(
            &s,
            &["case", "status"],
            &[&case, "signed", "--meaning", meaning, "--json"],
            "pi.e",
            env,
        )
    };
    let err = failure(&sign(&[("WARDCRF_USER_PIN", "13572468")], "author"), 2);
    assert!(err.contains("a PIN does not sign"), "{err}");
    let err = failure(
        &run_as(
            &s,
            &["case", "status"],
            &[&case, "signed", "--json"],
            "pi.e",
            &[("WARDCRF_USER_PASSWORD", "test password pi.e")],
        ),
        2,
    );
    assert!(
        err.contains("--meaning") && err.contains("investigator-approval"),
        "{err}"
    );
    let err = failure(
        &sign(&[("WARDCRF_USER_PASSWORD", "test password pi.e")], "bogus"),
        2,
    );
    assert!(err.contains("no signature meaning"), "{err}");
    assert_eq!(
        s.ok(&["case", "signatures"], &[&case]),
        serde_json::json!([])
    );

    let v = json_of(&sign(
        &[("WARDCRF_USER_PASSWORD", "test password pi.e")],
        "investigator-approval",
    ));
    assert_eq!(v["status"], "signed");
    assert_eq!(v["signature"]["signer"]["id"], "pi.e");
    let sigs = s.ok(&["case", "signatures"], &[&case]);
    assert_eq!(sigs[0]["signer"]["name"], "Test pi.e");
    assert_eq!(sigs[0]["meaning"], "investigator-approval");
    assert_eq!(sigs[0]["superseded"], false);
    assert!(sigs[0]["time"].as_i64().unwrap() > 1_700_000_000);
    let shown = text(&s.run(&["case", "signatures"], &[&case]).stdout);
    assert!(
        shown.contains("signed by Test pi.e (pi.e): Investigator approval"),
        "{shown}"
    );

    // A later edit supersedes it; the signature stays in the list.
    json_of(&s.run(
        &["case", "set"],
        &[&case, "vs_gcs", "14", "--reason", "re-assessed", "--json"],
    ));
    let sigs = s.ok(&["case", "signatures"], &[&case]);
    assert_eq!(sigs[0]["superseded"], true);
    let shown = text(&s.run(&["case", "signatures"], &[&case]).stdout);
    assert!(shown.contains("SUPERSEDED"), "{shown}");
}

#[test]
fn recovery_needs_the_key_and_a_store_enrolled_with_the_repository() {
    let s = Store::new("recover", A_PASS);
    let out = run_env(
        &["store", "recover", "--store", s.path()],
        &[("WARDCRF_PASSPHRASE", A_PASS)],
        &[],
    );
    let err = failure(&out, 2);
    assert!(err.contains("WARDCRF_RECOVERY_KEY"), "{err}");
    let key = "ab".repeat(32);
    let out = run_env(
        &["store", "recover", "--store", s.path()],
        &[
            ("WARDCRF_PASSPHRASE", A_PASS),
            ("WARDCRF_RECOVERY_KEY", &key),
        ],
        &[&key],
    );
    let err = failure(&out, 2);
    assert!(
        err.contains("no wrap under the repository's unlock key"),
        "{err}"
    );
}
