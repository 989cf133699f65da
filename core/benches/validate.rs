//! Validation speed, printed as figures (run: `cargo bench -p wardcrf-core --bench validate`).
//!
//! The form must answer as the clinician types: what matters is the time to validate a whole
//! case after one keystroke (the engine re-checks the case, so rules and skip logic stay
//! exact), and the one-off time to load and compose the forms when the app starts.

#![allow(clippy::unwrap_used)] // a benchmark of bundled, tested forms

use serde_json::{Map, Value, json};
use std::hint::black_box;
use std::time::{Duration, Instant};
use wardcrf_core::{Catalog, Context, FieldType, Form, FormField, PartialDate, validate};

fn sample(f: &FormField) -> Value {
    let mid = |l: Option<wardcrf_core::Limits>| {
        l.map(|l| (l.min.unwrap_or(0.0) + l.max.unwrap_or(100.0)) / 2.0)
    };
    match f.def.kind {
        FieldType::Integer => json!(mid(f.def.soft.or(f.def.hard)).unwrap_or(3.0).round() as i64),
        FieldType::Decimal => json!(mid(f.def.soft.or(f.def.hard)).unwrap_or(3.5)),
        FieldType::Date => json!("2024-05-10"),
        FieldType::Datetime => json!("2024-05-10T08:00"),
        FieldType::Choice => json!(f.choices[0].code),
        FieldType::Multichoice => json!([f.choices[0].code]),
        FieldType::Boolean => json!(true),
        FieldType::Text => json!("sample text"),
    }
}

/// A case with every field answered and `rows` rows in each repeating group.
fn full_case(form: &Form, rows: usize) -> Map<String, Value> {
    let mut case: Map<String, Value> = form
        .fields_in(None)
        .map(|f| (f.id().to_string(), sample(f)))
        .collect();
    for g in form.groups() {
        let list = (0..rows)
            .map(|i| {
                let mut row: Map<String, Value> = form
                    .fields_in(Some(&g.id))
                    .map(|f| (f.id().to_string(), sample(f)))
                    .collect();
                row.insert("row_id".into(), json!(format!("{}-{i}", g.id)));
                Value::Object(row)
            })
            .collect();
        case.insert(g.id.clone(), Value::Array(list));
    }
    case
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99), samples[samples.len() - 1])
}

fn measure(name: &str, n: usize, mut f: impl FnMut()) {
    for _ in 0..n / 10 + 1 {
        f();
    }
    let samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    let (p50, p99, max) = percentiles(samples);
    println!(
        "{name:<58} p50 {:>9.1} µs   p99 {:>9.1} µs   max {:>9.1} µs",
        us(p50),
        us(p99),
        us(max)
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let catalog = Catalog::bundled().unwrap();
    // Every bundled module: a patient may be enrolled under all of them at once.
    let modules: Vec<&str> = catalog
        .definitions()
        .iter()
        .filter(|d| d.extends.is_some())
        .map(|d| d.form_id.as_str())
        .collect();
    let files = catalog.definitions().len();
    measure(
        &format!("load bundled catalog (parse {files} form files)"),
        50,
        || {
            black_box(Catalog::bundled().unwrap());
        },
    );
    measure("compose icrown-core", 50, || {
        black_box(catalog.form("icrown-core", &[]).unwrap());
    });
    let all = format!("core + {} modules", modules.len());
    measure(
        &format!("compose icrown-core + all {} modules", modules.len()),
        50,
        || {
            black_box(catalog.form("icrown-core", &modules).unwrap());
        },
    );
    let ctx = Context {
        today: PartialDate::parse("2024-06-01").ok(),
        completing: false,
        default_units: None,
    };
    for (label, form) in [
        ("core", catalog.form("icrown-core", &[]).unwrap()),
        (all.as_str(), catalog.form("icrown-core", &modules).unwrap()),
    ] {
        for rows in [1, 10] {
            let case = full_case(&form, rows);
            let fields: usize = form.fields_in(None).count() + form.groups().len() * rows * 8;
            measure(
                &format!("validate full case, {label}, {rows} row(s)/group (~{fields} values)"),
                500,
                || {
                    black_box(validate(&form, &case, &ctx));
                },
            );
        }
    }
    let form = catalog.form("icrown-core", &[]).unwrap();
    let empty = Map::new();
    measure("validate empty case, core", 2000, || {
        black_box(validate(&form, &empty, &ctx));
    });
}
