//! The store commands of `wardcrf` as a user runs them: the real binary, real stores in
//! temporary directories, passphrases from the environment.

mod common;

use common::{A_PASS, B_PASS, NEW_PASS, Store, WRONG, json_of, text};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Output;

/// Runs `wardcrf` with only the given WARDCRF_* variables set (see `common::run_env`).
fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    common::run_env(args, env, &[])
}

/// A failure: exit 2, nothing on stdout, the message on stderr (returned).
fn failure(out: &Output) -> String {
    common::failure(out, 2)
}

impl Store {
    fn db(&self) -> PathBuf {
        self.dir.join("wardcrf.db")
    }

    fn set(&self, case: &str, field: &str, value: &str, extra: &[&str]) -> Output {
        let mut rest = vec![case, field, value, "--json"];
        rest.extend(extra);
        self.run(&["case", "set"], &rest)
    }

    fn show(&self, case: &str, lang: &str) -> Value {
        self.ok(&["case", "show"], &[case, "--lang", lang])
    }

    fn history(&self, case: &str, field: &str) -> Value {
        self.ok(&["case", "history"], &[case, field])
    }

    fn merge_from(&self, other: &Store) -> Value {
        let out = run_env(
            &[
                "merge",
                "--store",
                self.path(),
                "--from",
                other.path(),
                "--json",
                "--user",
                common::DEFAULT_USER,
            ],
            &[
                ("WARDCRF_PASSPHRASE", self.pass),
                ("WARDCRF_FROM_PASSPHRASE", other.pass),
                (
                    "WARDCRF_USER_PASSWORD",
                    &common::staff_password(common::DEFAULT_USER),
                ),
            ],
        );
        json_of(&out)
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(|c| c["case_id"].as_str().expect("case id").to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn device_init_needs_a_passphrase_and_creates_a_store_only_once() {
    let s = Store::dir_only("init", A_PASS);
    let err = failure(&run_env(&["device", "init", "--store", s.path()], &[]));
    assert!(err.contains("WARDCRF_PASSPHRASE"), "{err}");
    let err = failure(&run_env(
        &["device", "init", "--store", s.path()],
        &[("WARDCRF_PASSPHRASE", "")],
    ));
    assert!(err.contains("WARDCRF_PASSPHRASE"), "{err}");
    let err = failure(&run_env(
        &["device", "init", "--store", s.path()],
        &[("WARDCRF_PASSPHRASE", "   ")],
    ));
    assert!(err.contains("WARDCRF_PASSPHRASE"), "{err}");
    assert!(!s.db().exists(), "nothing created without a passphrase");

    let out = s.init();
    let v = json_of(&out);
    assert_eq!(v["store"], s.path());
    let device = v["device_id"].as_str().unwrap().to_string();
    assert!(text(&out.stderr).contains("WARNING"));
    let err = failure(&s.init());
    assert!(err.contains("a store already exists"), "{err}");
    // Readable output without --json.
    let out = s.run(&["case", "list"], &[]);
    assert!(
        text(&out.stdout).contains("0 case(s)"),
        "{}",
        text(&out.stdout)
    );
    // Another command on a directory without a store.
    let empty = Store::dir_only("none", A_PASS);
    let err = failure(&empty.run(&["case", "list"], &[]));
    assert!(err.contains("wardcrf device init"), "{err}");
    // The device id stays; a passphrase flag does not exist.
    let out = run_env(
        &[
            "device",
            "rekey",
            "--store",
            s.path(),
            "--passphrase",
            A_PASS,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let again = s.ok(&["case", "list"], &[]);
    assert_eq!(again, json!([]));
    assert_eq!(device.len(), 32);
}

#[test]
fn a_wrong_passphrase_fails_and_changes_nothing_and_rekey_replaces_it() {
    let s = Store::new("wrongkey", A_PASS);
    let case = s.new_case("icrown-core");
    assert_eq!(s.set(&case, "vs_hr", "88", &[]).status.code(), Some(0));
    let before = std::fs::read(s.db()).unwrap();
    for (cmd, rest) in [
        (&["case", "list"][..], vec!["--json"]),
        (&["case", "set"][..], vec![case.as_str(), "vs_rr", "18"]),
        (&["case", "show"][..], vec![case.as_str(), "--json"]),
        (&["device", "rekey"][..], vec![]),
    ] {
        let out = run_env(
            &[cmd, &["--store", s.path()], &rest[..]].concat(),
            &[
                ("WARDCRF_PASSPHRASE", WRONG),
                ("WARDCRF_NEW_PASSPHRASE", NEW_PASS),
            ],
        );
        let err = failure(&out);
        assert!(
            err.contains("the key or passphrase is wrong for this store"),
            "{cmd:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::read(s.db()).unwrap(),
        before,
        "the database is byte-identical after wrong passphrases"
    );

    // Rekey: the new passphrase opens the store, the old one no longer does.
    let err = failure(&s.run(&["device", "rekey"], &[]));
    assert!(err.contains("WARDCRF_NEW_PASSPHRASE"), "{err}");
    let out = run_env(
        &["device", "rekey", "--store", s.path(), "--json"],
        &[
            ("WARDCRF_PASSPHRASE", A_PASS),
            ("WARDCRF_NEW_PASSPHRASE", NEW_PASS),
            ("WARDCRF_INSECURE_KDF_ITERATIONS", "1000"),
        ],
    );
    assert_eq!(json_of(&out)["rekeyed"], true);
    let err = failure(&s.run(&["case", "list"], &[]));
    assert!(err.contains("passphrase is wrong"), "{err}");
    let out = s.run_pass(NEW_PASS, &["case", "show"], &[&case, "--json"]);
    assert_eq!(json_of(&out)["values"]["vs_hr"]["value"], 88);
}

#[test]
fn set_converts_units_refuses_impossible_values_and_asks_for_reasons() {
    let s = Store::new("set", A_PASS);
    let case = s.new_case("icrown-core");
    let v = json_of(&s.set(&case, "vs_temp", "101.3", &["--unit", "[degF]"]));
    assert_eq!(
        v,
        json!({"case_id": case, "field": "vs_temp",
               "value": {"value": 38.5, "unit": "Cel", "entered": {"value": 101.3, "unit": "[degF]"}}})
    );
    // An impossible value: exit 2, the reason on stderr, nothing stored.
    let err = failure(&s.set(&case, "vs_hr", "400", &[]));
    assert!(
        err.contains("wardcrf: the value of vs_hr was not saved: it is outside the possible range"),
        "{err}"
    );
    assert!(
        err.contains("Heart rate 400 /min"),
        "the detailed message follows: {err}"
    );
    assert!(err.contains("outside the possible range"), "{err}");
    assert!(s.show(&case, "en")["values"].get("vs_hr").is_none());
    // Outside the soft limits: the reason confirms it.
    let err = failure(&s.set(&case, "vs_spo2", "75", &[]));
    assert!(
        err.contains("save it again with a reason that confirms it"),
        "{err}"
    );
    assert!(err.contains("--reason"), "{err}");
    let v = json_of(&s.set(&case, "vs_spo2", "75", &["--reason", "COPD, baseline 78 %"]));
    assert_eq!(v["value"]["confirm"], "COPD, baseline 78 %");
    // A second entry of a field needs a reason.
    let err = failure(&s.set(&case, "vs_temp", "37.9", &[]));
    assert!(err.contains("a reason is required"), "{err}");
    let v = json_of(&s.set(&case, "vs_temp", "37.9", &["--reason", "re-measured"]));
    assert_eq!(v["value"], json!({"value": 37.9, "unit": "Cel"}));
    // Plain text and dates need no quoting; a numeric record number stays text.
    let v = json_of(&s.set(&case, "admission_date", "2024-03-01", &[]));
    assert_eq!(v["value"], "2024-03-01");
    let v = json_of(&s.set(&case, "patient_name", "Yamada Taro", &[]));
    assert_eq!(v["value"], "Yamada Taro");
    let v = json_of(&s.set(&case, "hospital_record_number", "12345", &[]));
    assert_eq!(v["value"], "12345");
    // Clearing: an empty value or null.
    let v = json_of(&s.set(&case, "vs_temp", "", &["--reason", "wrong patient"]));
    assert_eq!(v["value"], Value::Null);
    let v = json_of(&s.set(&case, "patient_name", "null", &["--reason", "typo"]));
    assert_eq!(v["value"], Value::Null);
    let values = &s.show(&case, "en")["values"];
    assert!(values.get("vs_temp").is_none() && values.get("patient_name").is_none());
    // Unknown fields and cases.
    let err = failure(&s.set(&case, "no_such_field", "1", &[]));
    assert!(err.contains("not a field of this case's form"), "{err}");
    let err = failure(&s.set("0000", "vs_hr", "80", &[]));
    assert!(err.contains("no case 0000"), "{err}");
    // --group needs --row (a usage error).
    assert_eq!(
        s.set(&case, "med_class", "8", &["--group", "medications"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn rows_are_added_edited_and_removed_by_id() {
    let s = Store::new("rows", A_PASS);
    let case = s.new_case("icrown-core");
    let first = s.ok(
        &["case", "row-add"],
        &[
            &case,
            "medications",
            "--values",
            r#"{"med_class": 8, "med_start_date": "2024-03-01"}"#,
        ],
    )["row_id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = s.ok(
        &["case", "row-add"],
        &[&case, "medications", "--values", r#"{"med_class": 10}"#],
    )["row_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    let v = json_of(&s.set(
        &case,
        "med_start_date",
        "2024-03-02",
        &["--group", "medications", "--row", &second],
    ));
    assert_eq!(v["row_id"], second.as_str());
    assert_eq!(v["value"], "2024-03-02");
    let err = failure(&s.run(
        &["case", "row-add"],
        &[&case, "medications", "--values", r#"{"med_class": 77}"#],
    ));
    assert!(err.contains("not saved"), "{err}");
    let err = failure(&s.run(
        &["case", "row-add"],
        &[&case, "medications", "--values", "[1]"],
    ));
    assert!(err.contains("JSON object"), "{err}");
    let err = failure(&s.run(&["case", "row-remove"], &[&case, "medications", &first]));
    assert!(err.contains("a reason is required"), "{err}");
    let v = s.ok(
        &["case", "row-remove"],
        &[&case, "medications", &first, "--reason", "duplicate entry"],
    );
    assert_eq!(v["removed"], true);
    let err = failure(&s.run(
        &["case", "row-remove"],
        &[&case, "medications", "nope", "--reason", "x"],
    ));
    assert!(err.contains("no row nope"), "{err}");
    let rows = s.show(&case, "en")["values"]["medications"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["row_id"], second.as_str());
    assert_eq!(rows[0]["med_start_date"], "2024-03-02");
    let h = s.history(&case, "med_start_date");
    let ops: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["row_add", "set"]);
}

#[test]
fn show_gives_the_view_and_the_report_in_the_chosen_language() {
    let s = Store::new("show", A_PASS);
    let case = s.new_case("mpox");
    json_of(&s.set(&case, "vs_spo2", "75", &["--reason", "COPD"]));
    let v = s.show(&case, "ja");
    assert_eq!(v["case_id"], case.as_str());
    assert_eq!(v["form_id"], "icrown-core");
    assert_eq!(v["modules"], json!(["mpox"]));
    assert_eq!(v["status"], "draft");
    assert_eq!(v["deleted"], false);
    assert_eq!(v["conflicts"], json!([]));
    assert_eq!(v["values"]["vs_spo2"]["value"], 75);
    let warning = v["report"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["field"] == "vs_spo2")
        .expect("SpO2 warning")
        .clone();
    assert!(
        warning["message"].as_str().unwrap().contains("想定範囲"),
        "{warning}"
    );
    assert_eq!(warning["confirmed"], "COPD");
    assert!(!v["report"]["missing"].as_array().unwrap().is_empty());
    let de = s.show(&case, "de");
    assert!(
        de["report"]["missing"][0]["message"]
            .as_str()
            .unwrap()
            .contains("muss ausgefüllt sein")
    );
    let out = s.run(&["case", "show"], &[&case, "--lang", "ja"]);
    assert_eq!(out.status.code(), Some(0));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("警告") && shown.contains("icrown-core 1.1.0 + mpox"),
        "{shown}"
    );
}

#[test]
fn list_filters_by_status_form_time_conflicts_and_deletion() {
    let s = Store::new("list", A_PASS);
    let a = s.new_case("icrown-core");
    let b = s.new_case("mpox");
    let list = |rest: &[&str]| sorted(ids(&s.ok(&["case", "list"], rest)));
    assert_eq!(list(&[]), sorted(vec![a.clone(), b.clone()]));
    assert_eq!(list(&["--status", "draft"]).len(), 2);
    assert!(list(&["--status", "complete"]).is_empty());
    assert!(list(&["--status", "signed"]).is_empty());
    assert_eq!(list(&["--form", "icrown-core"]).len(), 2);
    assert!(list(&["--form", "sari"]).is_empty());
    assert!(list(&["--conflicts"]).is_empty());
    assert_eq!(list(&["--updated-since", "0"]).len(), 2);
    assert!(list(&["--updated-since", "99999999999"]).is_empty());
    let summary = &s.ok(&["case", "list"], &[])[0];
    for key in [
        "case_id",
        "form_id",
        "form_version",
        "status",
        "has_conflicts",
        "deleted",
        "created_at",
        "updated_at",
    ] {
        assert!(summary.get(key).is_some(), "{key} in {summary}");
    }
    assert_eq!(
        s.run(&["case", "list"], &["--status", "finished"])
            .status
            .code(),
        Some(2)
    );

    // Delete and restore.
    let err = failure(&s.run(&["case", "delete"], &[&a]));
    assert!(err.contains("a reason is required"), "{err}");
    let v = s.ok(&["case", "delete"], &[&a, "--reason", "enrolled twice"]);
    assert_eq!(v, json!({"case_id": a, "deleted": true}));
    assert_eq!(list(&[]), vec![b.clone()]);
    assert_eq!(list(&["--deleted"]).len(), 2);
    let err = failure(&s.set(&a, "vs_hr", "80", &[]));
    assert!(err.contains("is deleted; restore it first"), "{err}");
    assert_eq!(s.show(&a, "en")["deleted"], true);
    let v = s.ok(
        &["case", "restore"],
        &[&a, "--reason", "deleted by mistake"],
    );
    assert_eq!(v, json!({"case_id": a, "deleted": false}));
    assert_eq!(list(&[]).len(), 2);
    let ops: Vec<Value> = s.ok(&["case", "history"], &[&a]).as_array().unwrap()[1..]
        .iter()
        .map(|h| json!([h["op"], h["reason"]]))
        .collect();
    assert_eq!(
        ops,
        [
            json!(["delete", "enrolled twice"]),
            json!(["restore", "deleted by mistake"])
        ]
    );
}

#[test]
fn history_lists_old_and_new_values_with_reasons() {
    let s = Store::new("history", A_PASS);
    let case = s.new_case("icrown-core");
    json_of(&s.set(&case, "vs_temp", "38.4", &["--user", "dr.b"]));
    json_of(&s.set(
        &case,
        "vs_temp",
        "38.6",
        &["--user", "dr.c", "--reason", "re-measured"],
    ));
    json_of(&s.set(&case, "vs_hr", "90", &[]));
    let h = s.history(&case, "vs_temp");
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[0]["op"], "set");
    assert_eq!(h[0]["old"], Value::Null);
    assert_eq!(h[0]["new"]["value"], 38.4);
    assert_eq!(h[0]["user"], "dr.b");
    assert_eq!(h[1]["old"]["value"], 38.4);
    assert_eq!(h[1]["new"]["value"], 38.6);
    assert_eq!(h[1]["reason"], "re-measured");
    assert_eq!(h[1]["user"], "dr.c");
    assert_eq!(h[1]["device"].as_str().map(str::len), Some(32));
    assert!(h[1]["time"].as_i64().unwrap() > 1_700_000_000);
    let all = s.ok(&["case", "history"], &[&case]);
    assert_eq!(all.as_array().unwrap().len(), 4, "create + three sets");
    assert_eq!(all[0]["op"], "create");
    assert_eq!(all[0]["user"], "nurse.a");
    let out = s.run(&["case", "history"], &[&case, "vs_temp"]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("38.4 °C → 38.6 °C") && shown.contains("(reason: re-measured)"),
        "{shown}"
    );
}

/// Every field required to complete the core form, with a plausible value (shared fixture).
const REQUIRED: &str = include_str!("../../core/tests/fixtures/complete-case.json");

#[test]
fn status_lists_the_remaining_problems_then_completes_signs_and_reopens() {
    let s = Store::new("status", A_PASS);
    let case = s.new_case("icrown-core");
    json_of(&s.set(&case, "vs_sbp", "100", &[]));
    json_of(&s.set(&case, "vs_dbp", "120", &[]));
    let err = failure(&s.run(&["case", "status"], &[&case, "complete", "--json"]));
    assert!(err.contains("the case cannot be marked complete"), "{err}");
    assert!(
        err.contains("age_years [required]"),
        "every problem is listed: {err}"
    );
    assert!(err.contains("vs_dbp [rule]"), "{err}");
    let err = failure(&s.run(
        &["case", "status"],
        &[&case, "complete", "--lang", "ja", "--json"],
    ));
    assert!(err.contains("入院時年齢"), "{err}");
    let err = failure(&s.run(
        &["case", "status"],
        &[&case, "signed", "--meaning", "author", "--json"],
    ));
    assert!(err.contains("only be signed when it is complete"), "{err}");
    assert_eq!(
        s.run(&["case", "status"], &[&case, "finished"])
            .status
            .code(),
        Some(2)
    );

    let values: Value = serde_json::from_str(REQUIRED).unwrap();
    for (field, value) in values.as_object().unwrap() {
        let raw = match value {
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        let extra: &[&str] = if ["vs_sbp", "vs_dbp"].contains(&field.as_str()) {
            &["--reason", "re-measured"]
        } else {
            &[]
        };
        json_of(&s.set(&case, field, &raw, extra));
    }
    let v = s.ok(&["case", "status"], &[&case, "complete"]);
    assert_eq!(v, json!({"case_id": case, "status": "complete"}));
    let v = s.ok(
        &["case", "status"],
        &[&case, "signed", "--user", "pi.e", "--meaning", "author"],
    );
    assert_eq!(v["status"], "signed");
    assert_eq!(
        ids(&s.ok(&["case", "list"], &["--status", "signed"])),
        std::slice::from_ref(&case)
    );
    // A signed case is locked: an edit needs a reason (and reopens it).
    let err = failure(&s.set(&case, "vs_gcs", "15", &[]));
    assert!(err.contains("a reason is required"), "{err}");
    let err = failure(&s.run(&["case", "status"], &[&case, "reopen", "--json"]));
    assert!(err.contains("a reason is required"), "{err}");
    let v = s.ok(
        &["case", "status"],
        &[&case, "reopen", "--reason", "lab results pending"],
    );
    assert_eq!(v["status"], "draft");
}

#[test]
fn find_looks_cases_up_by_record_number_and_name() {
    let s = Store::new("find", A_PASS);
    let case = s.new_case("icrown-core");
    let other = s.new_case("icrown-core");
    json_of(&s.set(&case, "hospital_record_number", "MRN 0012345", &[]));
    json_of(&s.set(&other, "patient_name", "Yamada  Taro", &[]));
    let find = |field: &str, value: &str| {
        s.ok(&["case", "find"], &["--field", field, value])["case_ids"].clone()
    };
    assert_eq!(find("hospital_record_number", "mrn 0012345"), json!([case]));
    assert_eq!(
        find("hospital_record_number", "ＭＲＮ　００１２３４５"),
        json!([case])
    );
    assert_eq!(find("patient_name", "yamada taro"), json!([other]));
    assert_eq!(find("patient_name", "Suzuki"), json!([]));
    assert_eq!(
        s.run(&["case", "find"], &["--field", "vs_hr", "80"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn merge_needs_the_other_passphrase_and_another_store() {
    let a = Store::new("merge-a", A_PASS);
    let b = Store::new("merge-b", B_PASS);
    let err = failure(&b.run(&["merge"], &["--from", a.path()]));
    assert!(err.contains("WARDCRF_FROM_PASSPHRASE"), "{err}");
    let out = run_env(
        &[
            "merge",
            "--store",
            b.path(),
            "--from",
            a.path(),
            "--user",
            common::DEFAULT_USER,
        ],
        &[
            ("WARDCRF_PASSPHRASE", B_PASS),
            ("WARDCRF_FROM_PASSPHRASE", WRONG),
            (
                "WARDCRF_USER_PASSWORD",
                &common::staff_password(common::DEFAULT_USER),
            ),
        ],
    );
    let err = failure(&out);
    assert!(
        err.contains("the other store") && err.contains("passphrase is wrong"),
        "{err}"
    );
    let err = failure(&b.run(&["merge"], &["--from", b.path()]));
    assert!(err.contains("same store"), "{err}");
}

#[test]
fn two_devices_edit_offline_conflict_resolve_and_converge() {
    let a = Store::new("conflict-a", A_PASS);
    let b = Store::new("conflict-b", B_PASS);
    let case = a.new_case("icrown-core");
    json_of(&a.set(&case, "vs_hr", "88", &["--user", "nurse.a"]));
    assert_eq!(
        b.merge_from(&a),
        json!({"new_cases": 1, "updated_cases": 0, "conflicts": 0})
    );
    assert_eq!(b.show(&case, "en")["values"]["vs_hr"]["value"], 88);

    // Offline, both devices change the heart rate.
    json_of(&a.set(
        &case,
        "vs_hr",
        "92",
        &["--user", "nurse.a", "--reason", "re-counted"],
    ));
    json_of(&b.set(
        &case,
        "vs_hr",
        "104",
        &["--user", "dr.b", "--reason", "monitor reading"],
    ));
    json_of(&b.set(&case, "vs_rr", "20", &["--user", "dr.b"]));
    let m = a.merge_from(&b);
    assert_eq!(m["updated_cases"], 1);
    assert_eq!(m["conflicts"], 1);
    b.merge_from(&a);

    let mut candidates_seen = Vec::new();
    for s in [&a, &b] {
        let c = s.ok(&["conflicts"], &[]);
        let c = c.as_array().unwrap();
        assert_eq!(c.len(), 1, "one conflict: {c:?}");
        assert_eq!(c[0]["case_id"], case.as_str());
        assert_eq!(c[0]["field"], "vs_hr");
        let mut got: Vec<(Value, Value)> = c[0]["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                assert_eq!(x["device"].as_str().map(str::len), Some(32), "{x}");
                assert!(x["time"].as_i64().unwrap() > 1_700_000_000, "{x}");
                (x["value"]["value"].clone(), x["user"].clone())
            })
            .collect();
        got.sort_by_key(|(v, _)| v.to_string());
        assert_eq!(
            got,
            [(json!(104), json!("dr.b")), (json!(92), json!("nurse.a"))]
        );
        let mut devices: Vec<String> = c[0]["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["device"].as_str().unwrap().to_string())
            .collect();
        devices.sort();
        devices.dedup();
        assert_eq!(devices.len(), 2, "each candidate names its device");
        candidates_seen.push(c[0]["candidates"].clone());
        // Only for this case, too; and the case is flagged in the list.
        assert_eq!(
            s.ok(&["conflicts"], &["--case", &case])
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            ids(&s.ok(&["case", "list"], &["--conflicts"])),
            std::slice::from_ref(&case)
        );
        assert_eq!(s.show(&case, "en")["conflicts"][0]["field"], "vs_hr");
        assert_eq!(s.show(&case, "en")["values"]["vs_rr"]["value"], 20);
        let shown = text(&s.run(&["conflicts"], &[]).stdout);
        assert!(
            shown.contains("Conflict in vs_hr") && shown.contains("by dr.b"),
            "{shown}"
        );
    }
    assert_eq!(candidates_seen[0], candidates_seen[1]);
    // A case with an open conflict cannot be completed.
    let err = failure(&a.run(&["case", "status"], &[&case, "complete"]));
    assert!(err.contains("cannot be marked complete"), "{err}");
    assert!(
        err.contains("1 open conflict(s) must be resolved first"),
        "{err}"
    );

    // A nurse resolves on A, with a reason.
    let err = failure(&a.run(&["resolve"], &[&case, "vs_hr", "--value", "104"]));
    assert!(err.contains("a reason is required"), "{err}");
    let v = a.ok(
        &["resolve"],
        &[
            &case,
            "vs_hr",
            "--value",
            "104",
            "--reason",
            "monitor value confirmed with chart",
            "--user",
            "nurse.c",
        ],
    );
    assert_eq!(v["value"]["value"], 104);
    assert_eq!(a.ok(&["conflicts"], &[]), json!([]));
    let err = failure(&a.run(
        &["resolve"],
        &[&case, "vs_hr", "--value", "104", "--reason", "again"],
    ));
    assert!(err.contains("has no conflict to resolve"), "{err}");

    // A → B: both devices agree, value and history.
    let m = b.merge_from(&a);
    assert_eq!(m["updated_cases"], 1);
    assert_eq!(m["conflicts"], 0);
    assert_eq!(b.ok(&["conflicts"], &[]), json!([]));
    let (va, vb) = (a.show(&case, "en"), b.show(&case, "en"));
    assert_eq!(va["values"], vb["values"]);
    assert_eq!(va["values"]["vs_hr"]["value"], 104);
    assert_eq!(va["conflicts"], json!([]));
    let (ha, hb) = (a.history(&case, "vs_hr"), b.history(&case, "vs_hr"));
    assert_eq!(ha, hb, "both devices hold the same history");
    let ha = ha.as_array().unwrap();
    let ops: Vec<&str> = ha.iter().map(|h| h["op"].as_str().unwrap()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "set").count(), 3, "{ops:?}");
    assert_eq!(ops.last(), Some(&"resolve"));
    let last = ha.last().unwrap();
    assert_eq!(last["reason"], "monitor value confirmed with chart");
    assert_eq!(last["user"], "nurse.c");
    assert_eq!(last["old"].as_array().map(Vec::len), Some(2));
    // Merging again changes nothing.
    assert_eq!(
        a.merge_from(&b),
        json!({"new_cases": 0, "updated_cases": 0, "conflicts": 0})
    );
}

#[test]
fn show_gives_the_session_and_values_in_hidden_fields_are_cleared_or_kept() {
    let s = Store::new("hidden", A_PASS);
    let case = s.new_case("icrown-core");
    let shown = |v: &Value, id: &str| {
        v["sections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["fields"].as_array().unwrap().iter())
            .any(|f| f["field"] == id)
    };
    let v = s.show(&case, "en");
    assert!(!shown(&v, "vs_o2_flow"), "hidden until on oxygen");
    assert_eq!(v["next_missing"], json!({"field": "case_id"}));
    assert_eq!(v["can_complete"], json!(false));
    json_of(&s.set(&case, "vs_spo2_on_o2", "1", &[]));
    json_of(&s.set(&case, "vs_o2_flow", "4", &[]));
    let v = s.show(&case, "de");
    assert!(shown(&v, "vs_o2_flow"));
    let vitals = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "vitals")
        .unwrap();
    let flow = vitals["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "vs_o2_flow")
        .unwrap();
    assert_eq!(flow["state"], "valid");
    assert_eq!(v["hidden_values"], json!([]));
    json_of(&s.set(&case, "vs_spo2_on_o2", "0", &["--reason", "room air"]));
    let v = s.show(&case, "en");
    assert!(!shown(&v, "vs_o2_flow"));
    assert_eq!(v["hidden_values"][0]["field"], "vs_o2_flow");
    assert_eq!(v["hidden_values"][0]["shown"], "4 L/min");

    // Completing asks for the choice, once nothing else is left.
    let values: Value = serde_json::from_str(REQUIRED).unwrap();
    for (field, value) in values.as_object().unwrap() {
        if field == "vs_spo2_on_o2" {
            continue;
        }
        let raw = match value {
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        json_of(&s.set(&case, field, &raw, &[]));
    }
    let err = failure(&s.run(&["case", "status"], &[&case, "complete", "--json"]));
    assert!(err.contains("still hold values"), "{err}");
    assert!(err.contains("vs_o2_flow"), "{err}");
    assert!(err.contains("--keep-hidden"), "{err}");
    let err = failure(&s.run(&["case", "clear-hidden"], &[&case, "--json"]));
    assert!(err.contains("a reason is required"), "{err}");
    let v = s.ok(
        &["case", "clear-hidden"],
        &[&case, "--reason", "not on oxygen"],
    );
    assert_eq!(v["cleared"], json!([{"field": "vs_o2_flow"}]));
    let h = s.history(&case, "vs_o2_flow");
    let last = h.as_array().unwrap().last().unwrap();
    assert_eq!(last["op"], "clear");
    assert_eq!(last["reason"], "not on oxygen");
    let v = s.ok(&["case", "status"], &[&case, "complete"]);
    assert_eq!(v["status"], "complete");

    // Kept instead: the completion records it.
    let other = s.new_case("icrown-core");
    for (field, value) in values.as_object().unwrap() {
        let raw = match value {
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        json_of(&s.set(&other, field, &raw, &[]));
    }
    json_of(&s.set(&other, "vs_spo2_on_o2", "1", &["--reason", "on oxygen"]));
    json_of(&s.set(&other, "vs_o2_flow", "2", &[]));
    json_of(&s.set(&other, "vs_spo2_on_o2", "0", &["--reason", "room air"]));
    let v = s.ok(&["case", "status"], &[&other, "complete", "--keep-hidden"]);
    assert_eq!(v["status"], "complete");
    assert_eq!(
        s.show(&other, "en")["values"]["vs_o2_flow"]["value"],
        json!(2.0)
    );
}

#[test]
fn the_case_list_shows_the_label_and_what_is_not_synced() {
    let s = Store::new("list-label", A_PASS);
    let a = s.new_case("icrown-core");
    let b = s.new_case("icrown-core");
    assert_eq!(s.set(&a, "case_id", "ICR-0042", &[]).status.code(), Some(0));
    assert_eq!(
        s.set(&a, "admission_date", "2024-03-02", &[]).status.code(),
        Some(0)
    );
    let list = s.ok(&["case", "list"], &[]);
    let of = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["case_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(of(&a)["label"], "ICR-0042 · 2024-03-02");
    assert_eq!(of(&b)["label"], "");
    for c in [of(&a), of(&b)] {
        assert_eq!(c["pending_sync"], true, "{c}");
        assert_eq!(c["conflicts"], 0, "{c}");
    }
    let shown = text(&s.run(&["case", "list"], &[]).stdout);
    let line = |id: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {shown}"))
            .to_string()
    };
    assert!(line(&a).contains("not synced"), "{shown}");
    assert!(line(&a).contains("ICR-0042 · 2024-03-02"), "{shown}");
    assert!(line(&b).contains("(no label)"), "{shown}");
    assert!(shown.contains("2 case(s), 2 not synced"), "{shown}");
}
