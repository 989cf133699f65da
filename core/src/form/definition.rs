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
    /// Core forms only: how cases entered under earlier versions move to this one, oldest
    /// first (a case records the version of its core form, `form_version`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<Migration>,
}

/// What moves a case from version `from` of its core form to the next listed version (or
/// this definition's own): choice codes that changed. Applied as one audited change per
/// value on the device ([`crate::case::upgrade`]); read through it everywhere before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    pub from: String,
    /// Why, in the three languages: the reason each recoded value's history shows.
    pub note: Text,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recode: Vec<Recode>,
}

/// A choice code replaced by another of the same meaning (a reassigned ATC code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recode {
    pub field: String,
    pub from: String,
    pub to: String,
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
    /// Where nearly every patient's value lies (in the canonical unit), narrower than the soft
    /// limits. Used only to catch unit slips: a value outside it that would lie inside it had
    /// the number been typed in another unit the field offers is a warning naming that unit
    /// and the converted value (`unit_slip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical: Option<Limits>,
    /// Required before the case can be marked complete (when the field is shown).
    #[serde(default)]
    pub required: bool,
    /// Identifies the patient (name, date of birth, record number): never in research exports.
    #[serde(default)]
    pub identifying: bool,
    /// Can identify the patient in combination with other fields (a city, free-text notes,
    /// rare occupations): left out of research exports unless the export asks for them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub quasi_identifying: bool,
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

/// One answer option: the stored code, its label, and the standard codes of what it means
/// (a pathogen's SNOMED CT concept, a diagnosis's ICD-10 code, a drug's ATC code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub code: String,
    pub label: Text,
    #[serde(default, skip_serializing_if = "Codes::is_empty")]
    pub codes: Codes,
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

/// Standard codes of a field or a choice, used by exports (CDISC ODM aliases, FHIR codings).
///
/// Each is checked for its system's shape when the form is loaded ([`CodeSystem::check`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Codes {
    /// LOINC (`8310-5`): observations and questions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc: Option<String>,
    /// CDISC CDASH variable (`VSORRES`): not a coding system, an ODM alias only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdash: Option<String>,
    /// SNOMED CT concept id (`840533007`): organisms, findings, dispositions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snomed: Option<String>,
    /// WHO ICD-10 (`U07.1`): diagnoses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icd10: Option<String>,
    /// ICD-10-GM, the German modification the German sites bill with (`U07.1`, `B04`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icd10gm: Option<String>,
    /// WHO ATC (`J05AB16`): drugs and drug classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atc: Option<String>,
}

/// A coding system a form can name, with its FHIR system URI and ODM alias context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSystem {
    Loinc,
    Snomed,
    Icd10,
    Icd10Gm,
    Atc,
}

impl CodeSystem {
    /// The systems in the order exports list them.
    pub const ALL: [CodeSystem; 5] = [
        CodeSystem::Loinc,
        CodeSystem::Snomed,
        CodeSystem::Icd10,
        CodeSystem::Icd10Gm,
        CodeSystem::Atc,
    ];

    /// The canonical FHIR URI of the system.
    pub fn fhir_uri(self) -> &'static str {
        match self {
            CodeSystem::Loinc => "http://loinc.org",
            CodeSystem::Snomed => "http://snomed.info/sct",
            CodeSystem::Icd10 => "http://hl7.org/fhir/sid/icd-10",
            CodeSystem::Icd10Gm => "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
            CodeSystem::Atc => "http://www.whocc.no/atc",
        }
    }

    /// The `Context` of a CDISC ODM `Alias` carrying a code of this system.
    pub fn odm_context(self) -> &'static str {
        match self {
            CodeSystem::Loinc => "LOINC",
            CodeSystem::Snomed => "SNOMED-CT",
            CodeSystem::Icd10 => "ICD-10",
            CodeSystem::Icd10Gm => "ICD-10-GM",
            CodeSystem::Atc => "ATC",
        }
    }

    /// The key of the system in form files.
    pub fn key(self) -> &'static str {
        match self {
            CodeSystem::Loinc => "loinc",
            CodeSystem::Snomed => "snomed",
            CodeSystem::Icd10 => "icd10",
            CodeSystem::Icd10Gm => "icd10gm",
            CodeSystem::Atc => "atc",
        }
    }

    /// Whether `code` has this system's shape: LOINC `digits-checkdigit`, SNOMED CT a 6-18
    /// digit concept id, ICD-10 (and -GM) a category with an optional subdivision (`A00`,
    /// `U07.1`, `B34.2`), ATC one of its five levels (`J`, `J05`, `J05A`, `J05AB`, `J05AB16`).
    pub fn check(self, code: &str) -> bool {
        let b = code.as_bytes();
        let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
        let upper = |c: u8| c.is_ascii_uppercase();
        match self {
            CodeSystem::Loinc => match code.split_once('-') {
                Some((n, c)) => {
                    digits(n.as_bytes()) && n.len() <= 7 && c.len() == 1 && digits(c.as_bytes())
                }
                None => false,
            },
            CodeSystem::Snomed => (6..=18).contains(&b.len()) && digits(b) && b[0] != b'0',
            CodeSystem::Icd10 | CodeSystem::Icd10Gm => {
                let (cat, sub) = match code.split_once('.') {
                    Some((c, s)) => (c.as_bytes(), Some(s.as_bytes())),
                    None => (b, None),
                };
                cat.len() == 3
                    && upper(cat[0])
                    && cat[1..].iter().all(u8::is_ascii_digit)
                    && sub.is_none_or(|s| (1..=2).contains(&s.len()) && digits(s))
            }
            CodeSystem::Atc => {
                let shape: &[fn(u8) -> bool] = &[
                    |c| c.is_ascii_uppercase(),
                    |c| c.is_ascii_digit(),
                    |c| c.is_ascii_digit(),
                    |c| c.is_ascii_uppercase(),
                    |c| c.is_ascii_uppercase(),
                    |c| c.is_ascii_digit(),
                    |c| c.is_ascii_digit(),
                ];
                [1, 3, 4, 5, 7].contains(&b.len()) && b.iter().zip(shape).all(|(c, ok)| ok(*c))
            }
        }
    }
}

impl Codes {
    pub(crate) fn is_empty(&self) -> bool {
        self.cdash.is_none() && self.coded().next().is_none()
    }

    /// The code of `system`, if any.
    pub fn get(&self, system: CodeSystem) -> Option<&str> {
        match system {
            CodeSystem::Loinc => self.loinc.as_deref(),
            CodeSystem::Snomed => self.snomed.as_deref(),
            CodeSystem::Icd10 => self.icd10.as_deref(),
            CodeSystem::Icd10Gm => self.icd10gm.as_deref(),
            CodeSystem::Atc => self.atc.as_deref(),
        }
    }

    /// Every code given, with its system, in [`CodeSystem::ALL`] order.
    pub fn coded(&self) -> impl Iterator<Item = (CodeSystem, &str)> {
        CodeSystem::ALL
            .into_iter()
            .filter_map(|s| self.get(s).map(|c| (s, c)))
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
