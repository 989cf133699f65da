//! The form definition format: what a form file (JSON) says, field for field.
//!
//! These types are the serialized shape of a form. They are checked and indexed by
//! [`crate::Form::compile`]; code that validates or displays a case works on the compiled
//! [`crate::Form`], never on an unchecked definition. The format is described for form
//! authors in `docs/form-format.md`.

use crate::lang::Text;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole form file: the core form, or a disease module that extends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDefinition {
    /// Stable identifier, e.g. `icrown-core` or `mpox`: lowercase letters, digits and `-`.
    pub form_id: String,
    /// Semantic version of this definition (`MAJOR.MINOR.PATCH`).
    pub version: String,
    /// For a disease module: the `form_id` of the form it extends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    /// Clinical and design assumptions made by the authors, in plain English.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<String>,
    /// Where the patient's age comes from, for age-banded soft limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<AgeSource>,
    /// Core forms only: the case-level fields whose values, in this order, make a case's label
    /// in a case list (e.g. the study case id and the admission date). Empty: cases are listed
    /// without a label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub list_label: Vec<String>,
    /// Choice lists shared by several fields, referenced by name from [`Field::choices`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub choice_lists: BTreeMap<String, Vec<Choice>>,
    /// Sections in display order. A module's section whose id is a section of the base form
    /// adds its items to that section (and a group whose id is a base group adds its fields
    /// to that group); other sections are new.
    pub sections: Vec<Section>,
    /// Cross-field rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// For a module: base-form fields that become required for completion when it is used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
}

/// Which fields give the patient's age (used by [`Field::soft_by_age`]).
///
/// Age in months is taken from the birth date and reference date when both are full dates,
/// else from the age in years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeSource {
    pub years_field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_date_field: Option<String>,
}

/// One section of the form, e.g. "Vital signs at admission".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub label: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Text>,
    /// Skip logic for the whole section (an expression over case-level fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<String>,
    pub items: Vec<Item>,
}

/// An item of a section: a single field, or a repeating group of fields.
///
/// Serialized as `{"field": {...}}` or `{"group": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)] // a form holds a few hundred items; boxing buys nothing
pub enum Item {
    Field(Field),
    Group(Group),
}

/// A repeating group: medications, lab values, pathogen tests, travel legs.
///
/// Each row of a case has a stable row id; fields of a group are answered once per row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub label: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Text>,
    /// Skip logic for the whole group (an expression over case-level fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<String>,
    /// Upper bound on the number of rows (a guard against runaway input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u32>,
    pub fields: Vec<Field>,
}

/// The type of a field's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Text,
    Integer,
    Decimal,
    /// A calendar date; partial dates (year, year-month) when [`Field::partial_date`] is set.
    Date,
    /// A date and time of day, optionally with a UTC offset.
    Datetime,
    /// One code from the field's choices.
    Choice,
    /// Any number of codes from the field's choices.
    Multichoice,
    Boolean,
}

impl FieldType {
    /// The name used in form files.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Choice => "choice",
            FieldType::Multichoice => "multichoice",
            FieldType::Boolean => "boolean",
        }
    }

    /// Whether answers are numbers (and may carry units and limits).
    pub fn is_numeric(self) -> bool {
        matches!(self, FieldType::Integer | FieldType::Decimal)
    }
}

/// One question of the form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Stable identifier (`snake_case`), unique across the form and its modules.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub label: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Text>,
    /// Canonical unit, a UCUM code (e.g. `Cel`, `mm[Hg]`, `10*9/L`). Values are stored in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Other units a clinician may enter, converted to [`Field::unit`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alt_units: Vec<AltUnit>,
    /// Decimal places kept when a value is converted from another unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// For choice fields: the name of a form-level choice list, or the choices themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Choices>,
    /// Hard limits (in the canonical unit): a value outside is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard: Option<Limits>,
    /// Soft limits (in the canonical unit): a value outside is accepted with a confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft: Option<Limits>,
    /// Soft limits that replace [`Field::soft`] for young patients, youngest band first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub soft_by_age: Vec<AgeBand>,
    /// Required before the case can be marked complete (when the field is shown).
    #[serde(default)]
    pub required: bool,
    /// Identifies the patient (name, date of birth, record number): never in research exports.
    #[serde(default)]
    pub identifying: bool,
    /// For dates: a year (`2024`) or year-month (`2024-03`) is accepted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub partial_date: bool,
    /// For text: maximum length in characters (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Skip logic: the field is shown only when this expression holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<String>,
    /// Standard codes used by exports.
    #[serde(default, skip_serializing_if = "Codes::is_empty")]
    pub codes: Codes,
    /// Where the field comes from (ISARIC ARC, GECCO data dictionary, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An alternative unit for a numeric field.
///
/// `canonical = entered × factor + offset`. Without `factor`, the conversion comes from the
/// built-in UCUM table (e.g. `[degF]` → `Cel`, `[lb_av]` → `kg`, `mg/dL` → `mg/L`);
/// analyte-specific conversions (creatinine µmol/L → mg/dL) give `factor` explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AltUnit {
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<f64>,
}

/// The choices of a choice field: a named form-level list, or given inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Choices {
    Named(String),
    Inline(Vec<Choice>),
}

/// One answer option: the stored code and its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub code: String,
    pub label: Text,
}

/// A closed range; either bound may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Limits {
    /// Whether `v` lies within the range (bounds included).
    pub fn contains(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// Soft limits for patients younger than `below_age_months`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeBand {
    pub below_age_months: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl AgeBand {
    /// The band's range as limits.
    pub fn limits(&self) -> Limits {
        Limits {
            min: self.min,
            max: self.max,
        }
    }
}

/// Standard codes of a field, used by exports (CDISC ODM aliases, FHIR codings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Codes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdash: Option<String>,
}

impl Codes {
    fn is_empty(&self) -> bool {
        self.loinc.is_none() && self.cdash.is_none()
    }
}

/// How serious a broken cross-field rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The case cannot be completed while it holds.
    #[default]
    Error,
    /// Shown to the clinician; accepted with a confirmation.
    Warning,
}

/// A cross-field rule: `check` must hold whenever the fields it reads have values.
///
/// A rule with `group` is checked once per row of that group and may read the row's fields
/// and case-level fields. A check that cannot be decided (a field empty, a partial date that
/// may fall either side) does not fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The condition that must hold, in the skip-logic expression language.
    pub check: String,
    /// The fields the problem is reported on (the first is the one to fix).
    pub fields: Vec<String>,
    #[serde(default)]
    pub severity: Severity,
    pub message: Text,
}
