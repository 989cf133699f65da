//! Property tests of the expression language's date functions (`days_between`,
//! `years_between`): whatever text is compiled, and whatever values and dates (including ones a
//! form would never accept) a compiled expression is evaluated on, nothing panics. The general
//! parser, loader and validation properties are in `never_panics.rs`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use proptest::prelude::*;
use std::collections::HashMap;
use wardcrf_core::{DateTime, Env, Expr, FieldInfo, FieldType, PartialDate, Value};

fn lookup(name: &str) -> Option<FieldInfo> {
    let kind = match name {
        "d" | "e" => FieldType::Date,
        "t" => FieldType::Datetime,
        "n" => FieldType::Integer,
        "c" => FieldType::Choice,
        _ => return None,
    };
    Some(FieldInfo {
        kind,
        codes: vec!["1".into()],
    })
}

struct Vals {
    values: HashMap<&'static str, Value>,
    today: Option<PartialDate>,
}

impl Env for Vals {
    fn value(&self, field: &str) -> Option<Value> {
        self.values.get(field).cloned()
    }
    fn today(&self) -> Option<PartialDate> {
        self.today
    }
}

/// Any partial date the type can hold, real or not (month 13, day 0, year 0 or 65535).
fn any_date() -> impl Strategy<Value = PartialDate> {
    prop_oneof![
        (
            any::<u16>(),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u8>())
        )
            .prop_map(|(year, month, day)| PartialDate { year, month, day }),
        (-800_000i64..3_000_000).prop_filter_map("a day count with a u16 year", |n| {
            PartialDate::from_days_since_epoch(n)
        }),
        (1000u16..=9999, 1u8..=12).prop_map(|(year, m)| PartialDate {
            year,
            month: Some(m),
            day: None
        }),
        (1000u16..=9999).prop_map(|year| PartialDate {
            year,
            month: None,
            day: None
        }),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any_date().prop_map(Value::Date),
        (
            any_date(),
            0u32..200_000,
            proptest::option::of(any::<i16>())
        )
            .prop_map(|(date, seconds, offset_minutes)| Value::DateTime(DateTime {
                date,
                seconds,
                offset_minutes
            })),
        any::<f64>().prop_map(Value::Num),
        Just(Value::Code("1".into())),
        Just(Value::Text("x".into())),
    ]
}

fn words() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("days_between"),
            Just("years_between"),
            Just("weeks_between"),
            Just("("),
            Just(")"),
            Just(","),
            Just("d"),
            Just("e"),
            Just("t"),
            Just("n"),
            Just("c"),
            Just("today"),
            Just("="),
            Just("<="),
            Just(">"),
            Just("!="),
            Just("and"),
            Just("or"),
            Just("not"),
            Just("is"),
            Just("empty"),
            Just("in"),
            Just("10"),
            Just("-3"),
            Just("2.5"),
            Just("99999999999999999999999999999999999999999"),
            Just("'2024-01-01'"),
        ],
        0..40,
    )
    .prop_map(|w| w.join(" "))
}

/// A well-formed comparison with a call, so that evaluation is reached.
fn calls() -> impl Strategy<Value = String> {
    let arg = || prop_oneof![Just("d"), Just("e"), Just("t"), Just("today")];
    let side = prop_oneof![
        (
            prop_oneof![Just("days_between"), Just("years_between")],
            arg(),
            arg()
        )
            .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
        Just("n".to_string()),
        any::<i32>().prop_map(|k| k.to_string()),
        Just("99999999999999999999999999999999999999999".to_string()),
        Just("0.5".to_string()),
    ];
    let op = prop_oneof![
        Just("="),
        Just("!="),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">=")
    ];
    (
        (
            prop_oneof![Just("days_between"), Just("years_between")],
            arg(),
            arg(),
        )
            .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
        op,
        side,
        any::<bool>(),
    )
        .prop_map(|(call, op, other, flip)| {
            if flip {
                format!("{other} {op} {call}")
            } else {
                format!("{call} {op} {other}")
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn date_functions_never_panic(
        src in prop_oneof![words(), calls()],
        d in proptest::option::of(any_value()),
        e in proptest::option::of(any_value()),
        t in proptest::option::of(any_value()),
        n in proptest::option::of(any_value()),
        today in proptest::option::of(any_date()),
    ) {
        let Ok(expr) = Expr::compile(&src, &lookup) else { return Ok(()) };
        let mut values = HashMap::new();
        for (k, v) in [("d", d), ("e", e), ("t", t), ("n", n)] {
            if let Some(v) = v {
                values.insert(k, v);
            }
        }
        let _ = expr.eval(&Vals { values, today });
    }

    #[test]
    fn a_call_compares_consistently(
        a in any_date(),
        b in any_date(),
        k in -40_000i64..40_000,
        years in any::<bool>(),
    ) {
        // Whatever the dates, `f < k`, `f = k` and `f > k` are never true together, and when
        // all three are decided exactly one holds.
        let f = if years { "years_between(d, e)" } else { "days_between(d, e)" };
        let vals = Vals {
            values: HashMap::from([("d", Value::Date(a)), ("e", Value::Date(b))]),
            today: None,
        };
        let results: Vec<Option<bool>> = ["<", "=", ">"]
            .iter()
            .map(|op| Expr::compile(&format!("{f} {op} {k}"), &lookup).unwrap().eval(&vals))
            .collect();
        prop_assert!(results.iter().filter(|r| **r == Some(true)).count() <= 1);
        if results.iter().all(Option::is_some) {
            prop_assert_eq!(results.iter().filter(|r| **r == Some(true)).count(), 1);
        }
        // Negating the operator negates a decided result.
        let le = Expr::compile(&format!("{f} <= {k}"), &lookup).unwrap().eval(&vals);
        let gt = results[2];
        prop_assert_eq!(le.map(|x| !x), gt);
    }
}
