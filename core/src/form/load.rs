//! Reading a form file: JSON syntax and shape, with every problem reported and located.
//!
//! serde stops at the first error in a document. A form author wants them all, so when the
//! whole file does not deserialize, each section, item and field is tried on its own and every
//! failure is reported with where it is.

use super::definition::{FormDefinition, Section};
use super::{FormError, Problem};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Largest form file accepted (the bundled core form is about 150 KB).
pub const MAX_FORM_BYTES: usize = 8 * 1024 * 1024;

/// Parses a form definition from JSON text, reporting every shape problem it can find.
pub fn parse_definition(json: &str) -> Result<FormDefinition, FormError> {
    if json.len() > MAX_FORM_BYTES {
        return Err(FormError::Invalid(vec![Problem::new(
            "file",
            format!("is larger than {} MiB", MAX_FORM_BYTES / (1024 * 1024)),
        )]));
    }
    let value: Value = serde_json::from_str(json).map_err(|e| FormError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    match serde_json::from_value::<FormDefinition>(value.clone()) {
        Ok(def) => Ok(def),
        Err(whole) => {
            let mut problems = Vec::new();
            locate_problems(&value, &mut problems);
            if problems.is_empty() {
                problems.push(Problem::new("form", whole.to_string()));
            }
            Err(FormError::Invalid(problems))
        }
    }
}

fn try_as<T: DeserializeOwned>(v: &Value, location: &str, problems: &mut Vec<Problem>) -> bool {
    match serde_json::from_value::<T>(v.clone()) {
        Ok(_) => true,
        Err(e) => {
            problems.push(Problem::new(location, e.to_string()));
            false
        }
    }
}

fn id_of(v: &Value) -> String {
    v.get("id")
        .and_then(Value::as_str)
        .map_or_else(|| "?".to_string(), str::to_string)
}

/// Tries each part of the document on its own and records where it fails.
fn locate_problems(value: &Value, problems: &mut Vec<Problem>) {
    let Some(obj) = value.as_object() else {
        problems.push(Problem::new("form", "a form file must be a JSON object"));
        return;
    };
    // The top level without its sections.
    let mut top = obj.clone();
    let sections = top.insert("sections".into(), Value::Array(Vec::new()));
    try_as::<FormDefinition>(&Value::Object(top), "form", problems);
    let Some(sections) = sections else { return };
    let Some(sections) = sections.as_array() else {
        problems.push(Problem::new("form", "'sections' must be a list"));
        return;
    };
    for (si, section) in sections.iter().enumerate() {
        let sloc = format!("section '{}' (#{})", id_of(section), si + 1);
        let Some(sobj) = section.as_object() else {
            problems.push(Problem::new(&sloc, "a section must be a JSON object"));
            continue;
        };
        let mut shell = sobj.clone();
        let items = shell.insert("items".into(), Value::Array(Vec::new()));
        try_as::<Section>(&Value::Object(shell), &sloc, problems);
        let Some(items) = items.as_ref().and_then(Value::as_array) else {
            continue;
        };
        for item in items {
            locate_item_problems(item, &sloc, problems);
        }
    }
}

fn locate_item_problems(item: &Value, sloc: &str, problems: &mut Vec<Problem>) {
    use super::definition::{Field, Group};
    let entry = item
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next());
    match entry {
        Some((kind, field)) if kind == "field" => {
            let loc = format!("{sloc} › field '{}'", id_of(field));
            try_as::<Field>(field, &loc, problems);
        }
        Some((kind, group)) if kind == "group" => {
            let gloc = format!("{sloc} › group '{}'", id_of(group));
            let Some(gobj) = group.as_object() else {
                problems.push(Problem::new(&gloc, "a group must be a JSON object"));
                return;
            };
            let mut shell = gobj.clone();
            let fields = shell.insert("fields".into(), Value::Array(Vec::new()));
            try_as::<Group>(&Value::Object(shell), &gloc, problems);
            for field in fields
                .as_ref()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let loc = format!("{gloc} › field '{}'", id_of(field));
                try_as::<Field>(field, &loc, problems);
            }
        }
        _ => problems.push(Problem::new(
            sloc,
            "each item must be {\"field\": {...}} or {\"group\": {...}}",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_syntax_errors_with_position() {
        match parse_definition("{\n \"form_id\": }") {
            Err(FormError::Syntax { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reports_every_shape_problem_with_location() {
        let json = r#"{
          "form_id": "x", "version": "1.0.0", "title": {"en": "X", "ja": "X", "de": "X"},
          "colour": "blue",
          "sections": [
            {"id": "a", "label": {"en": "A", "ja": "A", "de": "A"}, "items": [
              {"field": {"id": "f1", "type": "number", "label": {"en": "F", "ja": "F", "de": "F"}}},
              {"field": {"id": "f2", "type": "text", "label": {"en": "F", "ja": "F", "de": "F"}, "requried": true}},
              {"group": {"id": "g", "label": {"en": "G", "ja": "G", "de": "G"}, "fields": [
                {"id": "g1", "type": "integer", "label": {"en": "G", "ja": "G", "de": "G"}, "hard": {"min": "0"}}
              ]}},
              {"widget": {}}
            ]}
          ]
        }"#;
        let Err(FormError::Invalid(problems)) = parse_definition(json) else {
            panic!("expected problems")
        };
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 5, "{text:#?}");
        assert!(
            text[0].starts_with("form: unknown field `colour`"),
            "{}",
            text[0]
        );
        assert!(text[1].starts_with("section 'a' (#1) › field 'f1': unknown variant `number`"));
        assert!(text[2].contains("field 'f2': unknown field `requried`"));
        assert!(text[3].contains("group 'g' › field 'g1': invalid type: string \"0\""));
        assert!(text[4].contains("each item must be"));
    }

    #[test]
    fn refuses_non_objects() {
        assert!(matches!(
            parse_definition("[1,2]"),
            Err(FormError::Invalid(_))
        ));
        assert!(matches!(
            parse_definition("\"x\""),
            Err(FormError::Invalid(_))
        ));
    }
}
