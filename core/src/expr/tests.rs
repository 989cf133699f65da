//! The language end to end: parsing, type errors, and three-valued evaluation.

use super::*;
use std::collections::HashMap;

fn lookup(name: &str) -> Option<FieldInfo> {
    let (kind, codes): (FieldType, &[&str]) = match name {
        "sex" => (FieldType::Choice, &["1", "2", "3", "99"]),
        "setting" => (FieldType::Multichoice, &["1", "2", "5"]),
        "age" | "sbp" | "dbp" => (FieldType::Integer, &[]),
        "temp" => (FieldType::Decimal, &[]),
        "onset" | "admit" | "dob" => (FieldType::Date, &[]),
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

fn datetime(s: &str) -> Value {
    Value::DateTime(DateTime::parse(s).unwrap())
}

/// `src` evaluated with `a` and `b` in the fields `onset` and `admit`.
fn between(src: &str, a: &str, b: &str) -> Option<bool> {
    run(src, &[("onset", date(a)), ("admit", date(b))])
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

#[test]
fn counts_days_between_full_dates() {
    let days = "days_between(onset, admit)";
    for (a, b, want) in [
        ("2024-03-01", "2024-03-11", 10),
        ("2024-03-11", "2024-03-01", -10),
        ("2024-03-01", "2024-03-01", 0),
        // Month ends, leap days and year ends.
        ("2024-01-31", "2024-02-01", 1),
        ("2024-02-28", "2024-03-01", 2),
        ("2023-02-28", "2023-03-01", 1),
        ("2024-04-30", "2024-05-01", 1),
        ("2023-12-31", "2024-01-01", 1),
        ("2024-01-01", "2025-01-01", 366),
        ("2023-01-01", "2024-01-01", 365),
        ("1900-02-28", "1900-03-01", 1),
        ("2000-02-28", "2000-03-01", 2),
        ("2024-03-01", "2023-03-01", -366),
        ("1000-01-01", "9999-12-31", 3_287_181),
    ] {
        assert_eq!(
            between(&format!("{days} = {want}"), a, b),
            Some(true),
            "{a} to {b}"
        );
        assert_eq!(
            between(&format!("{days} = {}", want + 1), a, b),
            Some(false)
        );
        assert_eq!(between(&format!("{days} < {want}"), a, b), Some(false));
        assert_eq!(between(&format!("{want} <= {days}"), a, b), Some(true));
    }
    // The SARI onset rule: 10 days is within, 11 is not.
    let rule = "days_between(onset, admit) <= 10";
    assert_eq!(between(rule, "2024-02-25", "2024-03-06"), Some(true));
    assert_eq!(between(rule, "2024-02-24", "2024-03-06"), Some(false));
    // A number that is not whole is never equal to a count of days.
    assert_eq!(
        between(
            "days_between(onset, admit) = 10.5",
            "2024-03-01",
            "2024-03-11"
        ),
        Some(false)
    );
    assert_eq!(
        between(
            "days_between(onset, admit) < 10.5",
            "2024-03-01",
            "2024-03-11"
        ),
        Some(true)
    );
}

#[test]
fn counts_completed_years_as_ages_are_counted() {
    let years = |dob: &str, on: &str| -> i64 {
        (-200..200)
            .find(|n| {
                run(
                    &format!("years_between(dob, admit) = {n}"),
                    &[("dob", date(dob)), ("admit", date(on))],
                ) == Some(true)
            })
            .unwrap_or_else(|| panic!("{dob} to {on}: no whole number of years"))
    };
    assert_eq!(years("2000-06-15", "2024-06-14"), 23);
    assert_eq!(years("2000-06-15", "2024-06-15"), 24);
    assert_eq!(years("2000-06-15", "2000-06-15"), 0);
    assert_eq!(years("2000-06-15", "2001-06-14"), 0);
    // Born on 29 February: a year completes on 1 March in a common year, on 29 February in a
    // leap year.
    assert_eq!(years("2020-02-29", "2021-02-28"), 0);
    assert_eq!(years("2020-02-29", "2021-03-01"), 1);
    assert_eq!(years("2020-02-29", "2024-02-28"), 3);
    assert_eq!(years("2020-02-29", "2024-02-29"), 4);
    // Born on 1 March, counted to a leap day and to 28 February.
    assert_eq!(years("2023-03-01", "2024-02-29"), 0);
    assert_eq!(years("2023-03-01", "2024-03-01"), 1);
    assert_eq!(years("2019-02-28", "2020-02-28"), 1);
    assert_eq!(years("2019-12-31", "2020-01-01"), 0);
    // Backwards: minus the completed years from the later date back to the earlier.
    assert_eq!(years("2024-06-15", "2000-06-15"), -24);
    assert_eq!(years("2024-06-15", "2000-06-16"), -23);
    assert_eq!(years("2024-06-15", "2024-01-01"), 0);
    // Usable on either side of a comparison, and against a number field.
    let v = [("dob", date("2008-06-02")), ("age", Value::Num(15.0))];
    assert_eq!(run("years_between(dob, today) >= 16", &v), Some(false));
    assert_eq!(run("18 > years_between(dob, today)", &v), Some(true));
    assert_eq!(run("years_between(dob, today) = age", &v), Some(true));
    assert_eq!(run("years_between(dob, today) != age", &v), Some(false));
}

#[test]
fn date_functions_take_datetimes_by_their_calendar_date_and_today() {
    let days = "days_between(admit, lab_time)";
    let at = |t: &str| [("admit", date("2024-03-15")), ("lab_time", datetime(t))];
    assert_eq!(
        run(&format!("{days} = -1"), &at("2024-03-14T23:59")),
        Some(true)
    );
    assert_eq!(
        run(&format!("{days} = 0"), &at("2024-03-15T00:00")),
        Some(true)
    );
    // The date as written counts, whatever the offset.
    assert_eq!(
        run(&format!("{days} = 0"), &at("2024-03-15T01:00+09:00")),
        Some(true)
    );
    assert_eq!(
        run(&format!("{days} = 2"), &at("2024-03-17T08:30Z")),
        Some(true)
    );
    assert_eq!(
        run(
            "days_between(lab_time, lab_time) = 0",
            &at("2024-03-17T08:30Z")
        ),
        Some(true)
    );
    // Today is 2024-06-01 in these tests.
    let v = [("onset", date("2024-05-25"))];
    assert_eq!(run("days_between(onset, today) = 7", &v), Some(true));
    assert_eq!(run("days_between(today, onset) = -7", &v), Some(true));
    struct NoToday;
    impl Env for NoToday {
        fn value(&self, _: &str) -> Option<Value> {
            Some(date("2024-05-25"))
        }
        fn today(&self) -> Option<PartialDate> {
            None
        }
    }
    let e = Expr::compile("days_between(onset, today) = 7", &lookup).unwrap();
    assert_eq!(e.eval(&NoToday), None);
}

#[test]
fn date_functions_of_partial_dates_are_decided_only_over_the_whole_range() {
    // 2024-03 may be any day of March: 1 to 31 March before 15 March is -16 to 14 days.
    let (a, b) = ("2024-03", "2024-03-15");
    for (src, want) in [
        ("days_between(onset, admit) <= 14", Some(true)),
        ("days_between(onset, admit) <= 13", None),
        ("days_between(onset, admit) <= 10", None),
        ("days_between(onset, admit) > 14", Some(false)),
        ("days_between(onset, admit) >= -16", Some(true)),
        ("days_between(onset, admit) < -16", Some(false)),
        ("days_between(onset, admit) = 0", None),
        ("days_between(onset, admit) = 15", Some(false)),
        ("days_between(onset, admit) != 15", Some(true)),
        ("days_between(onset, admit) = 2.5", Some(false)),
    ] {
        assert_eq!(between(src, a, b), want, "{src}");
    }
    // February 2024 (29 days) is 20 to 48 days before 20 March: more than 10 for sure.
    assert_eq!(
        between("days_between(onset, admit) <= 10", "2024-02", "2024-03-20"),
        Some(false)
    );
    assert_eq!(
        between("days_between(onset, admit) >= 20", "2024-02", "2024-03-20"),
        Some(true)
    );
    assert_eq!(
        between("days_between(onset, admit) > 20", "2024-02", "2024-03-20"),
        None
    );
    // February 2023 has 28 days.
    assert_eq!(
        between("days_between(onset, admit) >= 20", "2023-02", "2023-03-20"),
        Some(true)
    );
    assert_eq!(
        between("days_between(onset, admit) <= 47", "2023-02", "2023-03-20"),
        Some(true)
    );
    assert_eq!(
        between("days_between(onset, admit) <= 46", "2023-02", "2023-03-20"),
        None
    );
    // A year alone: 2023 is 75 (from 31 December) to 439 days (from 1 January) before
    // 15 March 2024.
    assert_eq!(
        between("days_between(onset, admit) >= 75", "2023", "2024-03-15"),
        Some(true)
    );
    assert_eq!(
        between("days_between(onset, admit) <= 439", "2023", "2024-03-15"),
        Some(true)
    );
    assert_eq!(
        between("days_between(onset, admit) > 75", "2023", "2024-03-15"),
        None
    );
    // Both partial.
    assert_eq!(
        between("days_between(onset, admit) >= 0", "2023-12", "2024-01"),
        Some(true)
    );
    assert_eq!(
        between("days_between(onset, admit) = 31", "2023-12", "2024-01"),
        None
    );
    assert_eq!(
        between("days_between(onset, admit) <= 61", "2023-12", "2024-01"),
        Some(true)
    );
    assert_eq!(
        between("days_between(onset, admit) = 0", "2024", "2024"),
        None
    );
    // Years: born in 1990, on 15 March 2024 the patient is 33 or 34.
    let v = |dob: &str| [("dob", date(dob)), ("admit", date("2024-03-15"))];
    assert_eq!(
        run("years_between(dob, admit) >= 33", &v("1990")),
        Some(true)
    );
    assert_eq!(run("years_between(dob, admit) >= 34", &v("1990")), None);
    assert_eq!(
        run("years_between(dob, admit) > 34", &v("1990")),
        Some(false)
    );
    // Born in February 1990: 34 for sure; in March 1990: 33 or 34.
    assert_eq!(
        run("years_between(dob, admit) = 34", &v("1990-02")),
        Some(true)
    );
    assert_eq!(run("years_between(dob, admit) = 34", &v("1990-03")), None);
    // An empty date leaves it unknown; so does a value that names no day.
    assert_eq!(
        run(
            "days_between(onset, admit) > 0",
            &[("admit", date("2024-03-15"))]
        ),
        None
    );
    let no_day = Value::Date(PartialDate {
        year: 2024,
        month: Some(13),
        day: None,
    });
    let v = [("onset", no_day), ("admit", date("2024-03-15"))];
    assert_eq!(run("days_between(onset, admit) > 0", &v), None);
    // Three-valued logic around an undecided call, as in a rule.
    let rule = "sex != 3 or days_between(admit, onset) >= 2";
    let v = |onset: &str| {
        [
            ("sex", Value::Code("3".into())),
            ("onset", date(onset)),
            ("admit", date("2024-03-15")),
        ]
    };
    assert_eq!(run(rule, &v("2024-03")), None);
    assert_eq!(run(rule, &v("2024-03-16")), Some(false));
    assert_eq!(run(rule, &v("2024-03-17")), Some(true));
    assert_eq!(run(rule, &v("2024-04")), Some(true));
}

#[test]
fn compares_two_calls_and_a_call_with_a_number_field() {
    let v = [
        ("onset", date("2024-03-01")),
        ("admit", date("2024-03-05")),
        ("age", Value::Num(3.0)),
    ];
    assert_eq!(run("days_between(onset, admit) > age", &v), Some(true));
    assert_eq!(run("age < days_between(onset, admit)", &v), Some(true));
    assert_eq!(
        run(
            "days_between(onset, admit) < days_between(admit, today)",
            &v
        ),
        Some(true)
    );
    assert_eq!(
        run(
            "days_between(onset, admit) = age",
            &[("onset", date("2024-03-01"))]
        ),
        None
    );
    let e = Expr::compile(
        "days_between(onset, admit) <= 10 and sex = 2 or age > 1",
        &lookup,
    )
    .unwrap();
    assert_eq!(e.fields(), ["onset", "admit", "sex", "age"]);
}

#[test]
fn rejects_bad_calls_with_reasons() {
    let cases = [
        ("days_between(age, admit) > 1", "'age' is a number field"),
        ("days_between(onset, sex) > 1", "'sex' is a choice field"),
        ("years_between(note, admit) > 1", "'note' is a text field"),
        (
            "days_between(onset) > 1",
            "takes 2 arguments, days_between(from, to), not 1",
        ),
        ("days_between() > 1", "not 0"),
        (
            "years_between(onset, admit, today) > 1",
            "takes 2 arguments",
        ),
        (
            "weeks_between(onset, admit) > 1",
            "'weeks_between' is not a function",
        ),
        ("onset(admit) > 1", "'onset' is not a function"),
        (
            "days_between(onset, admit) = 'x'",
            "a text cannot be compared with days_between(...)",
        ),
        (
            "days_between(onset, admit) = true",
            "true/false cannot be compared",
        ),
        (
            "days_between(onset, admit) > today",
            "'today' cannot be compared",
        ),
        (
            "sex = days_between(onset, admit)",
            "'sex' (choice) cannot be compared with days_between",
        ),
        (
            "days_between(onset, admit) <= admit",
            "'admit' (date) cannot be compared",
        ),
        ("days_between(onset, nosuch) > 1", "'nosuch' is not a field"),
        (
            "days_between(onset, '2024-01-01') > 1",
            "needs date or datetime fields or 'today', not a text",
        ),
        ("days_between(onset, 3) > 1", "not a number"),
        (
            "days_between(days_between(onset, admit), admit) > 1",
            "not days_between(...)",
        ),
        ("days_between(today, today) > 1", "at least one field"),
        (
            "days_between(onset, admit) is empty",
            "'is empty' needs a field",
        ),
        (
            "days_between(onset, admit) in (1, 2)",
            "'in' needs a field on its left",
        ),
        (
            "days_between(onset, admit) contains 1",
            "'contains' needs a field",
        ),
        ("days_between(onset, admit)", "expected a comparison"),
        // Parse errors.
        (
            "days_between(onset, admit > 1",
            "expected ',' or ')' after an argument of days_between",
        ),
        (
            "days_between(onset, admit",
            "missing ')' after the arguments of days_between",
        ),
        ("days_between(onset admit) > 1", "expected ',' or ')'"),
        ("days_between(onset,) > 1", "unexpected ')'"),
        ("days_between(, onset) > 1", "unexpected ','"),
        ("days_between(onset, admit) >", "ends too early"),
        ("days_between(onset, admit)) > 1", "expected a comparison"),
    ];
    for (src, want) in cases {
        let e = Expr::compile(src, &lookup).unwrap_err();
        assert!(e.0.contains(want), "{src}: got '{e}', want '{want}'");
    }
}

#[test]
fn bounds_nested_calls_and_reads_huge_numbers() {
    let deep = format!(
        "{}onset{} > 1",
        "days_between(".repeat(100),
        ", admit)".repeat(100)
    );
    assert!(
        Expr::compile(&deep, &lookup)
            .unwrap_err()
            .0
            .contains("nested too deeply")
    );
    let shallow = format!(
        "{}onset{} > 1",
        "days_between(".repeat(3),
        ", admit)".repeat(3)
    );
    assert!(
        Expr::compile(&shallow, &lookup)
            .unwrap_err()
            .0
            .contains("not days_between")
    );
    let many = format!("days_between({}admit) > 1", "onset, ".repeat(400));
    assert!(
        Expr::compile(&many, &lookup)
            .unwrap_err()
            .0
            .contains("not 401")
    );
    let v = [("onset", date("1000-01-01")), ("admit", date("9999-12-31"))];
    let huge = "9".repeat(400);
    assert_eq!(
        run(&format!("days_between(onset, admit) < {huge}"), &v),
        Some(true)
    );
    assert_eq!(
        run(&format!("days_between(onset, admit) > -{huge}"), &v),
        Some(true)
    );
    assert_eq!(
        run(&format!("years_between(onset, admit) = {huge}"), &v),
        Some(false)
    );
    // Dates that cannot come from a form still do not panic.
    let odd = |y, m, d| {
        Value::Date(PartialDate {
            year: y,
            month: m,
            day: d,
        })
    };
    for (a, b) in [
        (odd(u16::MAX, Some(12), Some(31)), odd(0, Some(1), Some(1))),
        (odd(0, None, Some(40)), odd(u16::MAX, None, None)),
        (odd(2023, Some(2), Some(29)), odd(2024, Some(0), None)),
    ] {
        for f in ["days_between", "years_between"] {
            let v = [("onset", a.clone()), ("admit", b.clone())];
            let _ = run(&format!("{f}(onset, admit) > 0"), &v);
        }
    }
}
