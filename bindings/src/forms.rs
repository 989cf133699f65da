//! The bundled forms in the user's language, and validation of values before they are saved.

use crate::error::{WardcrfError, bad_json};
use crate::store::parse_today;
use crate::types::{Language, ValidationReport};
use serde_json::Value as Json;
use std::sync::{Arc, OnceLock};
use wardcrf_core as core;

/// The bundled catalog, parsed once per process, with its cache of composed forms.
fn catalog() -> Result<&'static core::Catalog, WardcrfError> {
    static CATALOG: OnceLock<core::Catalog> = OnceLock::new();
    if let Some(c) = CATALOG.get() {
        return Ok(c);
    }
    // A bundled file that fails to parse is reported on each call (nothing is kept).
    let parsed = core::Catalog::bundled()?;
    Ok(CATALOG.get_or_init(|| parsed))
}

/// A composed bundled form, compiled once and shared.
fn composed(form_id: &str, modules: &[String]) -> Result<Arc<core::Form>, WardcrfError> {
    Ok(catalog()?.composed(form_id, modules)?)
}

/// A bundled form: a core form, or a disease module that extends one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FormInfo {
    pub form_id: String,
    pub version: String,
    /// The core form a module extends; none for a core form.
    pub extends: Option<String>,
    pub title: String,
}

/// The type of a field's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FieldKind {
    Text,
    Integer,
    Decimal,
    Date,
    Datetime,
    Choice,
    Multichoice,
    Boolean,
}

impl From<core::FieldType> for FieldKind {
    fn from(t: core::FieldType) -> Self {
        use core::FieldType as T;
        match t {
            T::Text => FieldKind::Text,
            T::Integer => FieldKind::Integer,
            T::Decimal => FieldKind::Decimal,
            T::Date => FieldKind::Date,
            T::Datetime => FieldKind::Datetime,
            T::Choice => FieldKind::Choice,
            T::Multichoice => FieldKind::Multichoice,
            T::Boolean => FieldKind::Boolean,
        }
    }
}

/// An answer option.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChoiceOption {
    pub code: String,
    pub label: String,
}

/// A closed range; either bound may be absent.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct ValueRange {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl From<core::Limits> for ValueRange {
    fn from(l: core::Limits) -> Self {
        ValueRange {
            min: l.min,
            max: l.max,
        }
    }
}

/// A unit: its UCUM code and how it is shown in the language asked for.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MeasureUnit {
    pub code: String,
    pub display: String,
}

fn unit(code: &str, lang: core::Lang) -> MeasureUnit {
    MeasureUnit {
        code: code.to_string(),
        display: core::ucum::display(code, lang),
    }
}

/// A field as a form screen shows it, labels in the language asked for.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldLayout {
    pub id: String,
    pub kind: FieldKind,
    pub label: String,
    pub help: Option<String>,
    /// The unit values are stored in.
    pub unit: Option<MeasureUnit>,
    /// Other units a value may be entered in (converted on save).
    pub alt_units: Vec<MeasureUnit>,
    pub decimals: Option<u8>,
    pub choices: Vec<ChoiceOption>,
    /// Values outside are refused.
    pub hard_limits: Option<ValueRange>,
    /// Values outside need a confirming reason.
    pub soft_limits: Option<ValueRange>,
    /// Required before the case can be completed.
    pub required: bool,
    /// Identifies the patient (name, record number): never leaves the site in research exports.
    pub identifying: bool,
    /// A year or year-month is accepted.
    pub partial_date: bool,
    pub max_length: Option<u32>,
    /// Skip logic (shown only when it holds), in the form expression language.
    pub show_if: Option<String>,
}

/// A repeating group (medications, lab values, ...): rows of its fields.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct GroupLayout {
    pub id: String,
    pub label: String,
    pub help: Option<String>,
    pub show_if: Option<String>,
    pub max_rows: Option<u32>,
    pub fields: Vec<FieldLayout>,
}

/// An item of a section, in display order.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FormItem {
    Field { field: FieldLayout },
    Group { group: GroupLayout },
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SectionLayout {
    pub id: String,
    pub label: String,
    pub help: Option<String>,
    pub show_if: Option<String>,
    pub items: Vec<FormItem>,
}

/// A form composed with its modules, ready to show.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FormLayout {
    pub form_id: String,
    pub version: String,
    pub title: String,
    /// `form_id@version` of the core form and each module.
    pub parts: Vec<String>,
    pub sections: Vec<SectionLayout>,
}

pub(crate) fn field_layout(form: &core::Form, def: &core::Field, lang: core::Lang) -> FieldLayout {
    // The compiled field has the resolved choices and whether a module made it required.
    let compiled = form.field(&def.id);
    FieldLayout {
        id: def.id.clone(),
        kind: def.kind.into(),
        label: def.label.get(lang).to_string(),
        help: def.help.as_ref().map(|h| h.get(lang).to_string()),
        unit: def.unit.as_deref().map(|u| unit(u, lang)),
        alt_units: def.alt_units.iter().map(|a| unit(&a.unit, lang)).collect(),
        decimals: def.decimals,
        choices: compiled
            .map(|f| {
                f.choices
                    .iter()
                    .map(|c| ChoiceOption {
                        code: c.code.clone(),
                        label: c.label.get(lang).to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        hard_limits: def.hard.map(Into::into),
        soft_limits: def.soft.map(Into::into),
        required: compiled.map_or(def.required, |f| f.required),
        identifying: def.identifying,
        partial_date: def.partial_date,
        max_length: def.max_length,
        show_if: def.show_if.clone(),
    }
}

/// The bundled forms: core forms and disease modules, titles in `lang`.
#[uniffi::export]
pub fn forms(lang: Language) -> Result<Vec<FormInfo>, WardcrfError> {
    let lang = lang.into();
    Ok(catalog()?
        .definitions()
        .iter()
        .map(|d| FormInfo {
            form_id: d.form_id.clone(),
            version: d.version.clone(),
            extends: d.extends.clone(),
            title: d.title.get(lang).to_string(),
        })
        .collect())
}

/// A form (a core form or a module, with its core form) composed with further modules,
/// section by section, labels in `lang`.
#[uniffi::export(default(modules = []))]
pub fn form_layout(
    form_id: String,
    modules: Vec<String>,
    lang: Language,
) -> Result<FormLayout, WardcrfError> {
    let lang = lang.into();
    let form = composed(&form_id, &modules)?;
    let def = form.definition();
    let sections = def
        .sections
        .iter()
        .map(|s| SectionLayout {
            id: s.id.clone(),
            label: s.label.get(lang).to_string(),
            help: s.help.as_ref().map(|h| h.get(lang).to_string()),
            show_if: s.show_if.clone(),
            items: s
                .items
                .iter()
                .map(|item| match item {
                    core::Item::Field(f) => FormItem::Field {
                        field: field_layout(&form, f, lang),
                    },
                    core::Item::Group(g) => FormItem::Group {
                        group: GroupLayout {
                            id: g.id.clone(),
                            label: g.label.get(lang).to_string(),
                            help: g.help.as_ref().map(|h| h.get(lang).to_string()),
                            show_if: g.show_if.clone(),
                            max_rows: g.max_rows,
                            fields: g
                                .fields
                                .iter()
                                .map(|f| field_layout(&form, f, lang))
                                .collect(),
                        },
                    },
                })
                .collect(),
        })
        .collect();
    Ok(FormLayout {
        form_id: form.form_id().to_string(),
        version: def.version.clone(),
        title: def.title.get(lang).to_string(),
        parts: form
            .parts()
            .iter()
            .map(|(id, v)| format!("{id}@{v}"))
            .collect(),
        sections,
    })
}

/// Validates case values (a JSON object as in a case's `values_json`) against a form, as the
/// store does on save: for live feedback while a clinician types. `completing`: as when
/// marking the case complete (required fields then are errors). `today`: `YYYY-MM-DD`.
#[uniffi::export(default(modules = [], completing = false, today = None))]
pub fn validate_values(
    form_id: String,
    values_json: String,
    lang: Language,
    modules: Vec<String>,
    completing: bool,
    today: Option<String>,
) -> Result<ValidationReport, WardcrfError> {
    let values = match serde_json::from_str(&values_json).map_err(|e| bad_json("the values", &e))? {
        Json::Object(o) => o,
        _ => {
            return Err(WardcrfError::InvalidInput {
                reason: "the values must be a JSON object".into(),
            });
        }
    };
    let form = composed(&form_id, &modules)?;
    let ctx = core::Context {
        today: parse_today(today)?,
        completing,
        default_units: None,
    };
    let report = core::validate(&form, &values, &ctx);
    Ok(ValidationReport::new(&report, lang.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_bundled_forms_in_the_language_asked_for() {
        let en = forms(Language::En).unwrap();
        let ja = forms(Language::Ja).unwrap();
        assert!(
            en.iter()
                .any(|f| f.form_id == "icrown-core" && f.extends.is_none())
        );
        assert!(
            en.iter()
                .any(|f| f.form_id == "mpox" && f.extends.is_some())
        );
        assert_ne!(en[0].title, ja[0].title);
    }

    #[test]
    fn lays_out_a_form_with_units_choices_and_groups() {
        let form = form_layout("icrown-core".into(), vec![], Language::De).unwrap();
        let fields: Vec<&FieldLayout> = form
            .sections
            .iter()
            .flat_map(|s| &s.items)
            .filter_map(|i| match i {
                FormItem::Field { field } => Some(field),
                FormItem::Group { .. } => None,
            })
            .collect();
        let temp = fields.iter().find(|f| f.id == "vs_temp").unwrap();
        assert_eq!(temp.unit.as_ref().unwrap().display, "°C");
        assert!(temp.alt_units.iter().any(|u| u.code == "[degF]"));
        assert!(form.sections.iter().flat_map(|s| &s.items).any(
            |i| matches!(i, FormItem::Group { group } if group.id == "medications" && !group.fields.is_empty())
        ));
        assert!(
            form_layout("nope".into(), vec![], Language::En).is_err(),
            "an unknown form is invalid input"
        );
    }

    #[test]
    fn validates_values_with_messages_in_the_language_asked_for() {
        let report = validate_values(
            "icrown-core".into(),
            r#"{"vs_temp": {"value": 101.3, "unit": "[degF]"}, "vs_spo2": 75}"#.into(),
            Language::Ja,
            vec![],
            false,
            None,
        )
        .unwrap();
        let values: Json = serde_json::from_str(&report.values_json).unwrap();
        assert_eq!(values["vs_temp"]["value"], 38.5);
        let spo2 = report
            .warnings
            .iter()
            .find(|w| w.field == "vs_spo2")
            .unwrap();
        assert!(spo2.message.contains("想定範囲"), "{}", spo2.message);
        assert!(!report.complete);
        assert!(matches!(
            validate_values(
                "icrown-core".into(),
                "[1]".into(),
                Language::En,
                vec![],
                false,
                None
            ),
            Err(WardcrfError::InvalidInput { .. })
        ));
    }
}
