//! Cases entered under an earlier version of their core form: reading them as the current
//! version does, and moving them to it.
//!
//! A case records the version of its core form (`form_version`). The form lists, oldest
//! first, what moves a case on from each earlier version ([`crate::form::Migration`]): choice
//! codes that changed (baricitinib's ATC code L04AA37 became L04AF02). Until a device moves the
//! case, everything reads it through [`as_current`] (the device's form session and checks, the
//! repository's projection and exports), so an old case keeps opening, validating and syncing.
//! A device moves it with [`plan`]: one audited change holding every recoded value and the new
//! version ([`crate::case::document::UPGRADE_FORM_OP`]). A recode replaces only its old code,
//! so reading a moved case through [`as_current`] changes nothing, and a value an older device
//! writes later with an old code is read as the new one.

use super::document::FieldPath;
use crate::form::{Form, Migration, Recode, version_cmp};
use crate::lang::Text;
use serde_json::{Map, Value as Json};
use std::cmp::Ordering;

/// What moving one case to its form's version changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Upgrade {
    /// The version the case records ("" when it records none).
    pub from: String,
    /// The form's version.
    pub to: String,
    /// Why: the notes of the migrations applied, oldest first.
    pub notes: Vec<Text>,
    /// Each recoded value: where, old and new.
    pub recoded: Vec<(FieldPath, Json, Json)>,
}

/// The migrations that apply to a case recording `version` (all of them when it records
/// none or one that cannot be read).
fn pending<'a>(form: &'a Form, version: &str) -> impl Iterator<Item = &'a Migration> {
    form.definition()
        .migrations
        .iter()
        .filter(move |m| !matches!(version_cmp(&m.from, version), Some(Ordering::Less)))
}

/// `raw` with `r` applied: a choice code (bare, or as the `value` of an annotated value), or
/// the codes of a multiple choice. `None` when nothing changes.
fn recode_value(raw: &Json, r: &Recode) -> Option<Json> {
    match raw {
        Json::String(s) if *s == r.from => Some(Json::String(r.to.clone())),
        Json::Array(codes) if codes.iter().any(|c| c.as_str() == Some(&r.from)) => {
            let mut out: Vec<Json> = Vec::new();
            for c in codes {
                let c = if c.as_str() == Some(&r.from) {
                    Json::String(r.to.clone())
                } else {
                    c.clone()
                };
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            Some(Json::Array(out))
        }
        Json::Object(o) if o.contains_key("value") => {
            let inner = recode_value(&o["value"], r)?;
            let mut o = o.clone();
            o.insert("value".into(), inner);
            Some(Json::Object(o))
        }
        _ => None,
    }
}

/// Visits every value a recode concerns (case-level, and in each row of each group).
fn each_value(values: &mut Map<String, Json>, r: &Recode, f: &mut dyn FnMut(FieldPath, &mut Json)) {
    if let Some(v) = values.get_mut(&r.field) {
        f(FieldPath::field(r.field.clone()), v);
    }
    for (group, rows) in values.iter_mut() {
        let Some(rows) = rows.as_array_mut() else {
            continue;
        };
        for row in rows.iter_mut().filter_map(Json::as_object_mut) {
            let row_id = row.get("row_id").and_then(Json::as_str).map(str::to_string);
            if let (Some(id), Some(v)) = (row_id, row.get_mut(&r.field)) {
                f(FieldPath::row(group.clone(), id, r.field.clone()), v);
            }
        }
    }
}

/// Reads `values` of a case recording `version` as the form's version does (in place).
pub fn as_current(form: &Form, version: &str, values: &mut Map<String, Json>) {
    for m in pending(form, version) {
        for r in &m.recode {
            each_value(values, r, &mut |_, v| {
                if let Some(new) = recode_value(v, r) {
                    *v = new;
                }
            });
        }
    }
}

/// What moving a case recording `version` with `values` to the form's version changes;
/// `None` when it is at that version already (or later: a newer device's case is left as
/// it is).
pub fn plan(form: &Form, version: &str, values: &Map<String, Json>) -> Option<Upgrade> {
    let to = &form.definition().version;
    if version_cmp(version, to).is_some_and(|o| o != Ordering::Less) {
        return None;
    }
    let mut values = values.clone();
    let mut recoded = Vec::new();
    let mut notes = Vec::new();
    for m in pending(form, version) {
        notes.push(m.note.clone());
        for r in &m.recode {
            each_value(&mut values, r, &mut |path, v| {
                if let Some(new) = recode_value(v, r) {
                    recoded.push((path, v.clone(), new.clone()));
                    *v = new;
                }
            });
        }
    }
    Some(Upgrade {
        from: version.to_string(),
        to: to.clone(),
        notes,
        recoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::FormDefinition;
    use serde_json::json;

    fn form() -> Form {
        let mut def: FormDefinition = crate::Catalog::bundled()
            .unwrap()
            .definitions()
            .iter()
            .find(|d| d.form_id == "icrown-core")
            .unwrap()
            .clone();
        def.migrations.retain(|m| m.from == "1.0.0");
        Form::compile(def).unwrap()
    }

    #[test]
    fn an_old_code_reads_as_the_new_one_wherever_it_sits() {
        let form = form();
        let mut values = json!({
            "medications": [
                {"row_id": "m1", "med_name": "L04AA37"},
                {"row_id": "m2", "med_name": {"value": "L04AA37", "confirm": "as prescribed"}},
                {"row_id": "m3", "med_name": "J05AB16"}
            ]
        })
        .as_object()
        .unwrap()
        .clone();
        let before = values.clone();
        let up = plan(&form, "1.0.0", &values).unwrap();
        assert_eq!(up.recoded.len(), 2);
        assert_eq!(
            up.recoded[0].0,
            FieldPath::row("medications", "m1", "med_name")
        );
        assert_eq!(
            (&up.recoded[0].1, &up.recoded[0].2),
            (&json!("L04AA37"), &json!("L04AF02"))
        );
        assert_eq!(up.to, form.definition().version);
        as_current(&form, "1.0.0", &mut values);
        assert_eq!(values["medications"][0]["med_name"], json!("L04AF02"));
        assert_eq!(
            values["medications"][1]["med_name"]["value"],
            json!("L04AF02")
        );
        assert_eq!(
            values["medications"][1]["med_name"]["confirm"],
            json!("as prescribed")
        );
        assert_eq!(values["medications"][2], before["medications"][2]);
        // At the form's version, or a later one, nothing moves.
        assert!(plan(&form, &form.definition().version, &before).is_none());
        assert!(plan(&form, "99.0.0", &before).is_none());
        // A case recording no version is read from the oldest.
        assert_eq!(plan(&form, "", &before).unwrap().recoded.len(), 2);
    }
}
