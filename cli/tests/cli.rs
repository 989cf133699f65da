//! The `wardcrf` command as a user runs it: fixed spellings, output shapes and exit codes.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Output};

fn wardcrf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardcrf"))
        .args(args)
        .output()
        .expect("wardcrf runs")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("wardcrf-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, content).expect("temp file written");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn validate(values: &Value, lang: &str) -> Value {
    let file = TempFile::new(&format!("values-{lang}.json"), &values.to_string());
    let out = wardcrf(&[
        "validate",
        "--form",
        "icrown-core",
        "--values",
        file.path(),
        "--lang",
        lang,
        "--json",
        "--today",
        "2024-06-01",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)
}

fn issue<'a>(report: &'a Value, kind: &str, field: &str) -> &'a Value {
    report[kind]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["field"] == field))
        .unwrap_or_else(|| panic!("no {kind} on {field}: {report:#}"))
}

#[test]
fn forms_list_json_names_the_core_form_and_modules() {
    let out = wardcrf(&["forms", "list", "--json"]);
    assert!(out.status.success());
    let list = stdout_json(&out);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["form_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "icrown-core",
            "sari",
            "mpox",
            "sfts-vhf",
            "hepatitis-child",
            "amr",
            "entry-genome",
            "biobank",
            "follow-up"
        ]
    );
    assert_eq!(list[0]["kind"], "core");
    // The dictionary's 100 fields and the network's proposed ones.
    assert!(list[0]["fields"].as_u64().unwrap() > 100, "{}", list[0]);
    assert_eq!(list[2]["extends"], "icrown-core");
}

#[test]
fn forms_show_prints_labels_in_the_chosen_language_or_the_whole_definition() {
    let out = wardcrf(&["forms", "show", "icrown-core", "--lang", "ja"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("入院時バイタルサイン") && text.contains("体温"),
        "{text}"
    );
    let out = wardcrf(&["forms", "show", "icrown-core", "--json"]);
    let def = stdout_json(&out);
    assert_eq!(def["form_id"], "icrown-core");
    assert_eq!(def["sections"].as_array().unwrap().len(), 10);
    let out = wardcrf(&["forms", "show", "mpox", "--lang", "de"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("icrown-core 1.1.0 + mpox"));
    let out = wardcrf(&["forms", "show", "ebola"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no form 'ebola' is bundled"));
}

#[test]
fn forms_check_accepts_bundled_files_and_lists_every_problem_of_a_broken_one() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let ok = wardcrf(&[
        "forms",
        "check",
        &format!("{root}/core/forms/modules/mpox.json"),
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = wardcrf(&[
        "forms",
        "check",
        &format!("{root}/core/tests/fixtures/broken-form.json"),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 18, "{stderr}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("field 'vs_temp': unit 'Celsius' is not a UCUM unit"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("rule 'dbp_below_sbp': message is missing in de"))
    );
    assert!(lines[17].ends_with("17 problem(s)"));
    let syntax = TempFile::new("syntax.json", "{\"form_id\": ");
    let out = wardcrf(&["forms", "check", syntax.path()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON (line 1"));
    let missing = wardcrf(&["forms", "check", "/nonexistent/form.json"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn validate_reports_the_acceptance_scenario() {
    let values = json!({
        "vs_temp": {"value": 101.3, "unit": "[degF]"},
        "vs_spo2": 75,
        "vs_sbp": 100, "vs_dbp": 120
    });
    for lang in ["en", "ja", "de"] {
        let r = validate(&values, lang);
        assert_eq!(
            r["values"]["vs_temp"],
            json!({"value": 38.5, "unit": "Cel", "entered": {"value": 101.3, "unit": "[degF]"}})
        );
        assert!(
            r["errors"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["field"] != "vs_temp")
        );
        assert_eq!(issue(&r, "warnings", "vs_spo2")["code"], "soft_limit");
        assert_eq!(issue(&r, "errors", "vs_dbp")["code"], "rule");
        assert_eq!(issue(&r, "errors", "vs_dbp")["rule"], "dbp_below_sbp");
    }
    let r = validate(&json!({"vs_temp": 47}), "ja");
    let e = issue(&r, "errors", "vs_temp");
    assert_eq!(e["code"], "hard_limit");
    assert_eq!(
        e["message"],
        "体温の値 47 °C は入力可能な範囲（25–45 °C）外です。値と単位を確認してください。"
    );
    let r = validate(&json!({"vs_temp": 47}), "de");
    assert_eq!(
        issue(&r, "errors", "vs_temp")["message"],
        "Körpertemperatur 47 °C liegt außerhalb des möglichen Bereichs (25–45 °C). Bitte Wert und Einheit prüfen."
    );
}

/// Runs `wardcrf validate` on a values file and expects it to refuse with exit 2 and `reason`.
fn refused(values_path: &str, extra: &[&str], reason: &str) {
    let mut args = vec![
        "validate",
        "--form",
        "icrown-core",
        "--values",
        values_path,
        "--json",
    ];
    args.extend(extra);
    let out = wardcrf(&args);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(reason), "{args:?}: {stderr}");
}

#[test]
fn validate_exits_2_on_input_it_cannot_read() {
    let not_json = TempFile::new("bad.json", "{vs_temp: 37}");
    refused(not_json.path(), &[], "is not valid JSON (line 1, column 2)");
    let array = TempFile::new("array.json", "[1, 2]");
    refused(array.path(), &[], "must hold a JSON object");
    refused("/nonexistent.json", &[], "cannot read /nonexistent.json");
    let ok = TempFile::new("ok.json", "{}");
    refused(ok.path(), &["--lang", "fr"], "unsupported language 'fr'");
    refused(
        ok.path(),
        &["--today", "2024-06"],
        "--today '2024-06' is not a full date",
    );
    refused(
        ok.path(),
        &["--module", "ebola"],
        "no form 'ebola' is bundled",
    );
}

#[test]
fn validate_as_a_site_with_default_units() {
    let values = json!({"labs": [{"row_id": "l1", "lab_datetime": "2024-05-10T09:00",
        "lab_plt": "15.2", "lab_crp": 8.5, "lab_bun": 40}]});
    let file = TempFile::new("site-units.json", &values.to_string());
    let run = |extra: &[&str]| {
        let mut args = vec!["validate", "--form", "icrown-core", "--module", "sari"];
        args.extend(["--values", file.path(), "--json", "--today", "2024-06-01"]);
        args.extend(extra);
        let out = wardcrf(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_json(&out)
    };
    // A Japanese site: platelets in ×10⁴/µL, CRP in mg/dL; a German one: urea in mg/dL.
    let r = run(&[
        "--default-unit",
        "lab_plt=10*4/uL",
        "--default-unit",
        "lab_crp=mg/dL",
        "--default-unit",
        "lab_bun=mg/dL{urea}",
    ]);
    let row = &r["values"]["labs"][0];
    assert_eq!(row["lab_plt"]["value"], json!(152.0));
    assert_eq!(row["lab_crp"]["value"], json!(85.0));
    assert_eq!(
        row["lab_bun"]["value"],
        json!(18.7),
        "40 mg/dL urea is 18.7 mg/dL urea nitrogen"
    );
    assert!(
        r["warnings"].as_array().unwrap().is_empty(),
        "{}",
        r["warnings"]
    );
    // Where the default is the field's own unit, 15.2 looks like ×10⁴/µL.
    let r = run(&[]);
    let slip = issue(&r, "warnings", "lab_plt");
    assert_eq!(slip["code"], "unit_slip");
    assert_eq!(
        slip["likely_unit"],
        json!({"unit": "10*4/uL", "value": 152.0})
    );
    // A default the field does not offer, or not FIELD=UCUM, is refused.
    refused(
        file.path(),
        &["--default-unit", "lab_plt=mg/dL"],
        "'mg/dL' is not a unit lab_plt offers",
    );
    refused(
        file.path(),
        &["--default-unit", "lab_plt"],
        "is not FIELD=UCUM",
    );
}

#[test]
fn validate_with_complete_turns_missing_required_fields_into_errors() {
    let file = TempFile::new("complete.json", "{}");
    let entering = stdout_json(&wardcrf(&[
        "validate",
        "--form",
        "icrown-core",
        "--values",
        file.path(),
        "--json",
    ]));
    assert!(entering["errors"].as_array().unwrap().is_empty());
    let missing = entering["missing"].as_array().unwrap().len();
    assert!(missing > 40, "{missing}");
    let completing = stdout_json(&wardcrf(&[
        "validate",
        "--form",
        "icrown-core",
        "--values",
        file.path(),
        "--json",
        "--complete",
    ]));
    assert_eq!(completing["errors"].as_array().unwrap().len(), missing);
}
