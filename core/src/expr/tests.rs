//! The language end to end: parsing, type errors, and three-valued evaluation.

use super::*;
use std::collections::HashMap;

fn lookup(name: &str) -> Option<FieldInfo> {
    let (kind, codes): (FieldType, &[&str]) = match name {
        "sex" => (FieldType::Choice, &["1", "2", "3", "99"]),
        "setting" => (FieldType::Multichoice, &["1", "2", "5"]),
        "age" | "sbp" | "dbp" => (FieldType::Integer, &[]),
        "temp" => (FieldType::Decimal, &[]),
        "onset" | "admit" => (FieldType::Date, &[]),
        "lab_time" => (FieldType::Datetime, &[]),
        "note" => (FieldType::Text, &[]),
        "ongoing" => (FieldType::Boolean, &[]),
        _ => return None,
    };
    Some(FieldInfo {
        kind,
        codes: codes.iter().map(|s| s.to_string()).collect(),
    })
}

struct Vals(HashMap<&'static str, Value>);

impl Env for Vals {
    fn value(&self, f: &str) -> Option<Value> {
        self.0.get(f).cloned()
    }
    fn today(&self) -> Option<PartialDate> {
        PartialDate::parse("2024-06-01").ok()
    }
}

fn run(src: &str, vals: &[(&'static str, Value)]) -> Option<bool> {
    let e = Expr::compile(src, &lookup).unwrap_or_else(|e| panic!("{src}: {e}"));
    e.eval(&Vals(vals.iter().cloned().collect()))
}

fn date(s: &str) -> Value {
    Value::Date(PartialDate::parse(s).unwrap())
}

#[test]
fn compares_choice_codes_numbers_and_texts() {
    let sex2 = [("sex", Value::Code("2".into()))];
    assert_eq!(run("sex = 2", &sex2), Some(true));
    assert_eq!(run("sex = '2'", &sex2), Some(true));
    assert_eq!(run("sex != 2", &sex2), Some(false));
    assert_eq!(run("sex in (2, 3)", &sex2), Some(true));
    assert_eq!(run("sex not in (2, 3)", &sex2), Some(false));
    assert_eq!(
        run("age >= 12 and age < 18", &[("age", Value::Num(12.0))]),
        Some(true)
    );
    assert_eq!(
        run("note = 'x'", &[("note", Value::Text("x".into()))]),
        Some(true)
    );
    assert_eq!(
        run("ongoing = true", &[("ongoing", Value::Bool(false))]),
        Some(false)
    );
    assert_eq!(
        run(
            "dbp < sbp",
            &[("dbp", Value::Num(120.0)), ("sbp", Value::Num(100.0))]
        ),
        Some(false)
    );
}

#[test]
fn uses_three_valued_logic_for_empty_fields() {
    assert_eq!(run("sex = 2", &[]), None);
    assert_eq!(run("not sex = 2", &[]), None);
    assert_eq!(
        run("sex = 2 or age > 3", &[("age", Value::Num(5.0))]),
        Some(true)
    );
    assert_eq!(
        run("sex = 2 and age > 3", &[("age", Value::Num(1.0))]),
        Some(false)
    );
    assert_eq!(run("sex is empty", &[]), Some(true));
    assert_eq!(run("sex is not empty", &[]), Some(false));
    assert_eq!(run("not (sex is empty)", &[]), Some(false));
}

#[test]
fn compares_dates_partially_and_with_today() {
    let v = [("onset", date("2024-03")), ("admit", date("2024-03-15"))];
    assert_eq!(run("onset <= admit", &v), None);
    let v = [("onset", date("2024-02")), ("admit", date("2024-03-15"))];
    assert_eq!(run("onset <= admit", &v), Some(true));
    assert_eq!(run("onset <= today", &v), Some(true));
    assert_eq!(run("admit > '2024-03-01'", &v), Some(true));
    let t = Value::DateTime(DateTime::parse("2024-03-14T23:00").unwrap());
    assert_eq!(
        run(
            "lab_time >= admit",
            &[("lab_time", t), ("admit", date("2024-03-15"))]
        ),
        Some(false)
    );
}

#[test]
fn tests_multiple_choice_fields() {
    let v = [("setting", Value::Codes(vec!["1".into(), "5".into()]))];
    assert_eq!(run("setting contains 5", &v), Some(true));
    assert_eq!(run("setting contains 2", &v), Some(false));
    assert_eq!(run("setting in (2, 5)", &v), Some(true));
    assert_eq!(
        run("setting is empty", &[("setting", Value::Codes(vec![]))]),
        Some(true)
    );
}

#[test]
fn rejects_bad_expressions_with_reasons() {
    let cases = [
        ("sex = 4", "'4' is not a code"),
        ("weight > 3", "'weight' is not a field"),
        ("sex < 2", "only be compared with '=' or '!='"),
        ("age = 'x'", "cannot be compared"),
        ("onset < 'yesterday'", "is not a date"),
        ("onset < age", "cannot be compared with"),
        ("setting = 1", "tested with 'contains'"),
        ("sex contains 1", "needs a multiple-choice field"),
        ("1 = 1", "at least one field"),
        ("(sex = 2", "missing ')'"),
        ("sex = 2 age", "after the end"),
        ("sex", "expected a comparison"),
        ("", "empty"),
        ("note = 'abc", "unterminated"),
        ("sex ! 2", "'!' must be followed"),
        ("age > today", "only be compared with a date"),
    ];
    for (src, want) in cases {
        let e = Expr::compile(src, &lookup).unwrap_err();
        assert!(e.0.contains(want), "{src}: got '{e}', want '{want}'");
    }
}

#[test]
fn bounds_nesting_and_length() {
    let deep = format!("{}sex = 2{}", "(".repeat(200), ")".repeat(200));
    assert!(
        Expr::compile(&deep, &lookup)
            .unwrap_err()
            .0
            .contains("nested too deeply")
    );
    let nots = format!("{}sex = 2", "not ".repeat(200));
    assert!(Expr::compile(&nots, &lookup).is_err());
    let long = "sex = 2 or ".repeat(500) + "sex = 1";
    assert!(
        Expr::compile(&long, &lookup)
            .unwrap_err()
            .0
            .contains("longer than")
    );
}

#[test]
fn lists_fields_read() {
    let e = Expr::compile("dbp < sbp and sex = 2 or dbp > 1", &lookup).unwrap();
    assert_eq!(e.fields(), ["dbp", "sbp", "sex"]);
}
