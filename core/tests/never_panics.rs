//! Property tests: validation, form loading and expression parsing never panic, whatever JSON
//! or text they are given, and always answer with a report or a typed error.

use proptest::prelude::*;
use serde_json::{Map, Value};
use std::sync::OnceLock;
use wardcrf_core::{Catalog, Context, Expr, FieldInfo, FieldType, Form, PartialDate, validate};

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::bundled().expect("bundled forms parse"))
}

fn all_modules() -> &'static Form {
    static FORM: OnceLock<Form> = OnceLock::new();
    FORM.get_or_init(|| {
        catalog()
            .form(
                "icrown-core",
                &["sari", "mpox", "sfts-vhf", "hepatitis-child", "amr"],
            )
            .expect("all modules compose")
    })
}

/// Field and group ids of the form, plus a few that are not.
fn keys() -> Vec<String> {
    let form = all_modules();
    let mut keys: Vec<String> = form.fields().iter().map(|f| f.id().to_string()).collect();
    keys.extend(form.groups().iter().map(|g| g.id.clone()));
    keys.extend(["row_id", "value", "unit", "confirm", "nonsense", ""].map(String::from));
    keys
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-1000.0f64..1000.0).prop_map(|f| serde_json::json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("2024-03-01"),
            Just("2024-02"),
            Just("2024"),
            Just("2024-02-30"),
            Just("38,5"),
            Just("３８．５"),
            Just("1"),
            Just("99"),
            Just("[degF]"),
            Just("Cel"),
            Just("2024-03-01T10:00+09:00"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let keys = keys();
    json_leaf().prop_recursive(4, 48, 6, move |inner| {
        let key = proptest::sample::select(keys.clone());
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn arb_values() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec((proptest::sample::select(keys()), arb_json()), 0..24)
        .prop_map(|kv| kv.into_iter().collect())
}

/// Every JSON pointer into the core form definition.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(o) => o
            .iter()
            .for_each(|(k, v)| pointers(v, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| pointers(v, format!("{at}/{i}"), out)),
        _ => {}
    }
}

fn core_json() -> &'static (Value, Vec<String>) {
    static CORE: OnceLock<(Value, Vec<String>)> = OnceLock::new();
    CORE.get_or_init(|| {
        let def = catalog().get("icrown-core").expect("core form");
        let v = serde_json::to_value(def).expect("serializable");
        let mut ptrs = Vec::new();
        pointers(&v, String::new(), &mut ptrs);
        (v, ptrs)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validation_never_panics(values in arb_values(), completing in any::<bool>(), day in 0i64..30000) {
        let ctx = Context { today: PartialDate::from_days_since_epoch(day), completing, default_units: None };
        let report = validate(all_modules(), &values, &ctx);
        // Every value reported back is one that was given: nothing is invented.
        for key in report.values.keys() {
            prop_assert!(values.contains_key(key));
        }
        let _ = report.to_json(wardcrf_core::Lang::Ja);
        // Canonical values are a fixed point: validating them again changes nothing.
        let again = validate(all_modules(), &report.values, &ctx);
        prop_assert_eq!(&again.values, &report.values);
    }

    #[test]
    fn arbitrary_json_never_panics_the_form_loader(doc in arb_json()) {
        let _ = Form::from_json(&doc.to_string());
    }

    #[test]
    fn mutated_core_forms_load_or_give_problems(
        picks in proptest::collection::vec((any::<proptest::sample::Index>(), arb_json()), 1..4)
    ) {
        let (core, ptrs) = core_json();
        let mut doc = core.clone();
        for (index, replacement) in picks {
            let ptr = index.get(ptrs);
            if let Some(slot) = doc.pointer_mut(ptr) {
                *slot = replacement;
            }
        }
        if let Err(e) = Form::from_json(&doc.to_string()) {
            prop_assert!(!e.problems().is_empty());
        }
    }

    #[test]
    fn expressions_never_panic(src in ".{0,80}", words in proptest::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("="), Just("<"), Just("and"), Just("or"), Just("not"), Just("("),
                    Just(")"), Just("in"), Just("is"), Just("empty"), Just("1"), Just("'x'"), Just(","), Just("today"),
                    Just("contains"), Just("2024-01-01"), Just("'2024-01-01'")], 0..30)) {
        let lookup = |name: &str| match name {
            "a" => Some(FieldInfo { kind: FieldType::Choice, codes: vec!["1".into()] }),
            "b" => Some(FieldInfo { kind: FieldType::Date, codes: vec![] }),
            _ => None,
        };
        let _ = Expr::compile(&src, &lookup);
        let _ = Expr::compile(&words.join(" "), &lookup);
    }
}
