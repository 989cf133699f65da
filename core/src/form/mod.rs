//! Form definitions: the file format, checking, composing a core form with disease modules,
//! and the bundled forms.

mod bundled;
mod check;
mod composed;
mod definition;
mod load;

pub use bundled::Catalog;
pub use composed::MAX_COMPOSED;
pub use definition::{
    AgeBand, AgeSource, AltUnit, Choice, Choices, CodeSystem, Codes, Field, FieldType,
    FormDefinition, Group, Item, Limits, Migration, Recode, Rule, Section, Severity,
};
pub use load::MAX_FORM_BYTES;

use crate::expr::Expr;
use crate::units::Conversion;
use std::collections::HashMap;
use std::fmt;

/// One problem in a form definition, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `form`, `section 'vitals' › field 'vs_temp'`, `rule 'dbp_below_sbp'`, ...
    pub location: String,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Why a form could not be loaded or composed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The file is not JSON.
    #[error("the form file is not valid JSON (line {line}, column {column}): {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// The definition has problems; every one found is listed.
    #[error("the form definition has {} problem(s):\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
    /// No bundled form has this id.
    #[error("no form '{id}' is bundled; known forms: {known}")]
    UnknownForm { id: String, known: String },
}

/// Orders two `MAJOR.MINOR.PATCH` versions (`None` when either is not one).
pub fn version_cmp(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let parse = |s: &str| -> Option<[u64; 3]> {
        let mut it = s.split('.').map(|p| p.parse::<u64>().ok());
        let v = [it.next()??, it.next()??, it.next()??];
        it.next().is_none().then_some(v)
    };
    Some(parse(a)?.cmp(&parse(b)?))
}

/// Why a site's default unit for a field is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefaultUnitError {
    #[error("a default unit is set for '{0}', which is not a field of the form")]
    NoSuchField(String),
    #[error("a default unit is set for '{0}', which takes no unit")]
    NoUnits(String),
    #[error("'{unit}' is not a unit {field} offers; it offers {offered}")]
    NotOffered {
        field: String,
        unit: String,
        offered: String,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl FormError {
    /// The problems of an invalid definition (one for the other kinds).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            FormError::Invalid(p) => p.clone(),
            other => vec![Problem::new("form", other.to_string())],
        }
    }
}

/// A field of a compiled form, with everything resolved that validation needs.
#[derive(Debug, Clone)]
pub struct FormField {
    pub def: Field,
    /// The section it is shown in.
    pub section: String,
    /// The repeating group it belongs to, if any.
    pub group: Option<String>,
    /// Resolved answer options (for choice fields).
    pub choices: Vec<Choice>,
    /// Required for completion (from the definition, or made so by a module).
    pub required: bool,
    /// Which form (core or module id) defines the field.
    pub defined_by: String,
    /// Accepted alternative units and their conversion to the canonical unit.
    pub(crate) conversions: Vec<(String, Conversion)>,
    /// Section, group and field skip logic; the field is shown when all hold.
    pub(crate) conditions: Vec<Expr>,
}

impl FormField {
    /// Whether the field accepts numbers in `unit` (its canonical unit or an alternative).
    pub fn offers_unit(&self, unit: &str) -> bool {
        self.def.unit.as_deref() == Some(unit) || self.conversions.iter().any(|(u, _)| u == unit)
    }

    /// The unit entry starts in at a site with `site_defaults` (field id → UCUM code): the
    /// site's default when the field offers it, else the field's own unit.
    pub fn entry_unit<'a>(
        &'a self,
        site_defaults: Option<&'a std::collections::BTreeMap<String, String>>,
    ) -> Option<&'a str> {
        site_defaults
            .and_then(|d| d.get(self.id()))
            .map(String::as_str)
            .filter(|u| self.offers_unit(u))
            .or(self.def.unit.as_deref())
    }

    /// The field id.
    pub fn id(&self) -> &str {
        &self.def.id
    }

    /// The label of a choice code.
    pub fn choice_label(&self, code: &str) -> Option<&crate::Text> {
        self.choices
            .iter()
            .find(|c| c.code == code)
            .map(|c| &c.label)
    }
}

/// A compiled cross-field rule.
#[derive(Debug, Clone)]
pub(crate) struct FormRule {
    pub def: Rule,
    pub check: Expr,
}

/// A checked, composed form (the core form plus any disease modules), ready to validate cases.
#[derive(Debug, Clone)]
pub struct Form {
    definition: FormDefinition,
    parts: Vec<(String, String)>,
    fields: Vec<FormField>,
    index: HashMap<String, usize>,
    groups: Vec<Group>,
    pub(crate) rules: Vec<FormRule>,
    /// Field indices in an order where every skip-logic dependency comes first.
    pub(crate) visibility_order: Vec<usize>,
    /// The skip logic of each section and repeating group (case-level expressions).
    pub(crate) scopes: Scopes,
}

/// The skip logic of sections and repeating groups: a section is shown when its conditions
/// hold; a group when its section's and its own hold (each evaluated on case-level values).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scopes {
    pub sections: HashMap<String, Vec<Expr>>,
    pub groups: HashMap<String, Vec<Expr>>,
}

impl Form {
    /// Parses and checks a single form file (a core form; not a module).
    pub fn from_json(json: &str) -> Result<Form, FormError> {
        Form::compile(load::parse_definition(json)?)
    }

    /// Checks a definition and builds the form; lists every problem found.
    pub fn compile(definition: FormDefinition) -> Result<Form, FormError> {
        check::compile(definition, None)
    }

    /// Composes a core form with disease modules (each must extend the core form).
    pub fn compose(core: &FormDefinition, modules: &[&FormDefinition]) -> Result<Form, FormError> {
        let (definition, merged) = check::merge(core, modules)?;
        check::compile(definition, Some(merged))
    }

    /// The merged definition (for display and export).
    pub fn definition(&self) -> &FormDefinition {
        &self.definition
    }

    /// The id of the core form.
    pub fn form_id(&self) -> &str {
        &self.definition.form_id
    }

    /// `(form_id, version)` of the core form followed by each module, in composition order.
    pub fn parts(&self) -> &[(String, String)] {
        &self.parts
    }

    /// Every field, in display order.
    pub fn fields(&self) -> &[FormField] {
        &self.fields
    }

    /// A field by id.
    pub fn field(&self, id: &str) -> Option<&FormField> {
        self.index.get(id).map(|&i| &self.fields[i])
    }

    /// Checks a site's default units (field id → UCUM code, [`crate::staff::SiteSettings`]):
    /// each names a number field of this form and a unit that field offers.
    pub fn check_default_units(
        &self,
        units: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), DefaultUnitError> {
        for (field, unit) in units {
            let shown = |s: &str| s.chars().take(64).collect::<String>();
            let f = self
                .field(field)
                .ok_or_else(|| DefaultUnitError::NoSuchField(shown(field)))?;
            let Some(canonical) = f.def.unit.as_deref() else {
                return Err(DefaultUnitError::NoUnits(field.clone()));
            };
            if !f.offers_unit(unit) {
                let offered: Vec<&str> = std::iter::once(canonical)
                    .chain(f.conversions.iter().map(|(u, _)| u.as_str()))
                    .collect();
                return Err(DefaultUnitError::NotOffered {
                    field: field.clone(),
                    unit: shown(unit),
                    offered: offered.join(", "),
                });
            }
        }
        Ok(())
    }

    /// The repeating groups.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// A repeating group by id.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// The fields of a repeating group (or the case-level fields for `None`), in display order.
    pub fn fields_in(&self, group: Option<&str>) -> impl Iterator<Item = &FormField> {
        self.fields
            .iter()
            .filter(move |f| f.group.as_deref() == group)
    }
}

/// Parses a form file without checking it (for tools that show or convert definitions).
pub fn parse_definition(json: &str) -> Result<FormDefinition, FormError> {
    load::parse_definition(json)
}
