//! A stored field value, typed.
//!
//! A case keeps each answer as JSON in one of two shapes:
//!
//! - plain: the answer itself (`75`, `"M"`, `["cough", "fever"]`, `"2024-03"`);
//! - annotated: an object with a `value` key and, beside it, any of `unit` (the UCUM code of a
//!   measured value), `entered` (what was typed before conversion into the field's unit:
//!   `{"value": 101.3, "unit": "[degF]"}`) and `confirm` (the reason that confirms a value
//!   outside the expected range), in that order:
//!   `{"value": 38.5, "unit": "Cel", "entered": {"value": 101.3, "unit": "[degF]"}, "confirm": "…"}`.
//!
//! [`Value`] reads and writes exactly that JSON (serde goes through [`serde_json::Value`]). An
//! object with a `value` key that does not fit the annotated shape (an unknown key, a unit that
//! is not text, `null` beside `value`) stays [`Value::Plain`], unchanged: validation reports
//! what is wrong with it, as it always has.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value as Json};

/// One stored (or entered) field value: plain, or annotated with its unit, what was entered
/// and a confirmation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The answer as it is, without annotations (also: an object that is not a well-formed
    /// annotated value, kept as given).
    Plain(Json),
    /// `{"value": .., "unit"?: .., "entered"?: {..}, "confirm"?: ..}`.
    Annotated(Annotated),
}

/// A value with its unit, what was entered before conversion, and its confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotated {
    /// The answer in the field's unit.
    pub value: Json,
    /// The field's unit (a UCUM code), for a measured value.
    pub unit: Option<String>,
    /// What was entered before conversion into `unit`.
    pub entered: Option<Entered>,
    /// The reason that confirms a value outside the expected range.
    pub confirm: Option<String>,
}

/// What was entered before conversion: `{"value": 101.3, "unit": "[degF]"}`, kept as given.
#[derive(Debug, Clone, PartialEq)]
pub struct Entered(Map<String, Json>);

impl Entered {
    /// The number as typed.
    pub fn value(&self) -> Option<&Json> {
        self.0.get("value")
    }

    /// The unit it was typed in.
    pub fn unit(&self) -> Option<&str> {
        self.0.get("unit").and_then(Json::as_str)
    }

    /// The JSON object it was read from.
    pub fn as_map(&self) -> &Map<String, Json> {
        &self.0
    }
}

const KEYS: [&str; 4] = ["value", "unit", "entered", "confirm"];

impl Value {
    /// Reads a value from its JSON.
    pub fn from_json(json: Json) -> Value {
        match json {
            Json::Object(o) if Self::is_annotated(&o) => {
                let mut o = o;
                let text = |v: Option<Json>| match v {
                    Some(Json::String(s)) => Some(s),
                    _ => None,
                };
                Value::Annotated(Annotated {
                    value: o.remove("value").unwrap_or(Json::Null),
                    unit: text(o.remove("unit")),
                    entered: match o.remove("entered") {
                        Some(Json::Object(e)) => Some(Entered(e)),
                        _ => None,
                    },
                    confirm: text(o.remove("confirm")),
                })
            }
            other => Value::Plain(other),
        }
    }

    /// Whether an object is an annotated value in its canonical form: a `value`, then any of
    /// `unit` (text), `entered` (an object) and `confirm` (text), in that order, and nothing
    /// else. Anything else is kept as it is ([`Value::Plain`]), so that every JSON reads and
    /// writes back unchanged.
    fn is_annotated(o: &Map<String, Json>) -> bool {
        let mut last = None;
        o.contains_key("value")
            && o.iter().all(|(k, v)| {
                let Some(at) = KEYS.iter().position(|x| x == k) else {
                    return false;
                };
                let in_order = last.is_none_or(|l| at > l);
                last = Some(at);
                in_order
                    && match k.as_str() {
                        "value" => true,
                        "entered" => v.is_object(),
                        _ => v.is_string(),
                    }
            })
    }

    /// The value as JSON (exactly the JSON it was read from).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Plain(v) => v.clone(),
            Value::Annotated(a) => a.to_json(),
        }
    }

    /// The answer without its annotations.
    pub fn answer(&self) -> &Json {
        match self {
            Value::Plain(v) => v,
            Value::Annotated(a) => &a.value,
        }
    }

    /// The unit, for a measured value.
    pub fn unit(&self) -> Option<&str> {
        match self {
            Value::Annotated(a) => a.unit.as_deref(),
            Value::Plain(_) => None,
        }
    }

    /// What was entered before conversion, if the value was converted.
    pub fn entered(&self) -> Option<&Entered> {
        match self {
            Value::Annotated(a) => a.entered.as_ref(),
            Value::Plain(_) => None,
        }
    }

    /// The confirmation reason, if the value carries one.
    pub fn confirm(&self) -> Option<&str> {
        match self {
            Value::Annotated(a) => a.confirm.as_deref(),
            Value::Plain(_) => None,
        }
    }

    /// The value without its confirmation reason (`{"value": 5, "confirm": ..}` → `5`;
    /// `{"value", "unit", "confirm"}` → `{"value", "unit"}`).
    pub fn without_confirmation(self) -> Value {
        match self {
            Value::Annotated(mut a) if a.confirm.is_some() => {
                a.confirm = None;
                if a.unit.is_none() && a.entered.is_none() {
                    Value::Plain(a.value)
                } else {
                    Value::Annotated(a)
                }
            }
            other => other,
        }
    }
}

impl Annotated {
    /// A value with nothing but a confirmation.
    pub fn confirmed(value: Json, reason: &str) -> Annotated {
        Annotated {
            value,
            unit: None,
            entered: None,
            confirm: Some(reason.to_string()),
        }
    }

    fn to_json(&self) -> Json {
        let mut o = Map::new();
        o.insert("value".into(), self.value.clone());
        if let Some(u) = &self.unit {
            o.insert("unit".into(), Json::String(u.clone()));
        }
        if let Some(e) = &self.entered {
            o.insert("entered".into(), Json::Object(e.0.clone()));
        }
        if let Some(c) = &self.confirm {
            o.insert("confirm".into(), Json::String(c.clone()));
        }
        Json::Object(o)
    }
}

/// A stored value read in place, without copying it: its parts, by the same rule as
/// [`Value::from_json`] (an object that is not a well-formed annotated value is an answer of
/// its own). For readers that only show or export a value: the console, the exports, the CLI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parts<'a> {
    /// The answer in the field's unit.
    pub answer: &'a Json,
    /// The field's unit, for a measured value.
    pub unit: Option<&'a str>,
    /// What was entered before conversion into `unit` (an object: `{"value", "unit"}`).
    pub entered: Option<&'a Json>,
    /// The reason that confirms a value outside the expected range.
    pub confirm: Option<&'a str>,
}

impl<'a> Parts<'a> {
    /// The parts of the stored value `json`.
    pub fn of(json: &'a Json) -> Parts<'a> {
        Parts::annotated(json).unwrap_or(Parts {
            answer: json,
            unit: None,
            entered: None,
            confirm: None,
        })
    }

    /// The parts of `json` when it is an annotated value; `None` for a plain answer.
    pub fn annotated(json: &'a Json) -> Option<Parts<'a>> {
        match json {
            Json::Object(o) if Value::is_annotated(o) => Some(Parts {
                answer: o.get("value").unwrap_or(&Json::Null),
                unit: o.get("unit").and_then(Json::as_str),
                entered: o.get("entered"),
                confirm: o.get("confirm").and_then(Json::as_str),
            }),
            _ => None,
        }
    }
}

impl From<Json> for Value {
    fn from(json: Json) -> Value {
        Value::from_json(json)
    }
}

impl From<Value> for Json {
    fn from(v: Value) -> Json {
        match v {
            Value::Plain(v) => v,
            Value::Annotated(a) => a.to_json(),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Json::deserialize(d).map(Value::from_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` as a [`Value`] and writes it back: the same bytes.
    fn round_trip(text: &str) -> Value {
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
        assert_eq!(Json::from(v.clone()).to_string(), text);
        v
    }

    #[test]
    fn plain_answers_read_and_write_unchanged() {
        for text in [
            "75",
            "36.6",
            r#""M""#,
            r#"["cough","fever"]"#,
            r#""2024-03""#,
            "true",
            "null",
            r#"{"user":"ana","reason":"duplicate"}"#,
        ] {
            assert!(matches!(round_trip(text), Value::Plain(_)), "{text}");
        }
    }

    #[test]
    fn a_confirmed_plain_answer() {
        let v = round_trip(r#"{"value":75,"confirm":"chronic lung disease"}"#);
        assert_eq!(v.confirm(), Some("chronic lung disease"));
        assert_eq!(v.answer(), &serde_json::json!(75));
        assert_eq!(v.unit(), None);
        assert_eq!(v.without_confirmation().to_json(), serde_json::json!(75));
    }

    #[test]
    fn a_quantity_with_its_unit() {
        let v = round_trip(r#"{"value":38.5,"unit":"Cel"}"#);
        assert_eq!(v.unit(), Some("Cel"));
        assert_eq!(v.confirm(), None);
        assert!(v.entered().is_none());
    }

    #[test]
    fn a_converted_quantity_with_what_was_entered() {
        let v =
            round_trip(r#"{"value":38.5,"unit":"Cel","entered":{"value":101.3,"unit":"[degF]"}}"#);
        let e = v.entered().unwrap();
        assert_eq!(e.unit(), Some("[degF]"));
        assert_eq!(e.value(), Some(&serde_json::json!(101.3)));
    }

    #[test]
    fn a_confirmed_quantity() {
        let v = round_trip(r#"{"value":34.2,"unit":"Cel","confirm":"rewarmed after surgery"}"#);
        assert_eq!(
            v.without_confirmation().to_json().to_string(),
            r#"{"value":34.2,"unit":"Cel"}"#
        );
    }

    #[test]
    fn a_converted_and_confirmed_quantity() {
        let text = r#"{"value":42.0,"unit":"Cel","entered":{"value":107.6,"unit":"[degF]"},"confirm":"checked twice"}"#;
        let v = round_trip(text);
        assert_eq!(v.confirm(), Some("checked twice"));
        assert_eq!(
            v.without_confirmation().to_json().to_string(),
            r#"{"value":42.0,"unit":"Cel","entered":{"value":107.6,"unit":"[degF]"}}"#
        );
    }

    #[test]
    fn objects_that_are_not_well_formed_annotated_values_stay_as_given() {
        for text in [
            r#"{"value":5,"unit":null}"#,
            r#"{"value":5,"confirm":null}"#,
            r#"{"value":5,"unit":7}"#,
            r#"{"value":5,"entered":"101"}"#,
            r#"{"value":5,"nonsense":1}"#,
            r#"{"unit":"Cel","value":38.5}"#,
            r#"{"value":5,"confirm":"a","unit":"Cel"}"#,
        ] {
            let v = round_trip(text);
            assert!(matches!(v, Value::Plain(_)), "{text}");
            assert_eq!(v.clone().without_confirmation(), v);
        }
    }

    #[test]
    fn parts_read_in_place_what_the_typed_value_reads() {
        for text in [
            r#"75"#,
            r#""M""#,
            r#"{"value": 38.5, "unit": "Cel", "entered": {"value": 101.3, "unit": "[degF]"}, "confirm": "twice"}"#,
            r#"{"value": 75, "confirm": "COPD"}"#,
            r#"{"value": 5, "colour": "red"}"#,
            r#"{"unit": "Cel"}"#,
        ] {
            let json: Json = serde_json::from_str(text).unwrap();
            let typed = Value::from_json(json.clone());
            let parts = Parts::of(&json);
            assert_eq!(parts.answer, typed.answer(), "{text}");
            assert_eq!(parts.unit, typed.unit(), "{text}");
            assert_eq!(
                parts.entered.and_then(Json::as_object),
                typed.entered().map(Entered::as_map),
                "{text}"
            );
            assert_eq!(
                Parts::annotated(&json).is_some(),
                matches!(typed, Value::Annotated(_))
            );
            assert_eq!(parts.confirm, typed.confirm(), "{text}");
        }
    }
}
