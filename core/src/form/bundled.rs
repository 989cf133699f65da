//! The forms that ship with WardCRF: the iCROWN core form and its disease modules.

use super::definition::FormDefinition;
use super::{Form, FormError, load};

/// `(file name, JSON)` of every bundled form, core first.
const BUNDLED: &[(&str, &str)] = &[
    (
        "icrown-core.json",
        include_str!("../../forms/icrown-core.json"),
    ),
    (
        "modules/sari.json",
        include_str!("../../forms/modules/sari.json"),
    ),
    (
        "modules/mpox.json",
        include_str!("../../forms/modules/mpox.json"),
    ),
    (
        "modules/sfts-vhf.json",
        include_str!("../../forms/modules/sfts-vhf.json"),
    ),
    (
        "modules/hepatitis-child.json",
        include_str!("../../forms/modules/hepatitis-child.json"),
    ),
    (
        "modules/amr.json",
        include_str!("../../forms/modules/amr.json"),
    ),
];

/// A set of form definitions (core forms and modules) to pick and compose from.
#[derive(Debug, Clone)]
pub struct Catalog {
    definitions: Vec<FormDefinition>,
}

impl Catalog {
    /// The bundled forms.
    ///
    /// They are checked by the test suite; a bundled file that fails to parse is a build defect
    /// and is reported as [`FormError`] rather than a panic.
    pub fn bundled() -> Result<Catalog, FormError> {
        let mut definitions = Vec::new();
        let mut problems = Vec::new();
        for (name, json) in BUNDLED {
            match load::parse_definition(json) {
                Ok(d) => definitions.push(d),
                Err(e) => problems.extend(e.problems().into_iter().map(|mut p| {
                    p.location = format!("{name} › {}", p.location);
                    p
                })),
            }
        }
        if problems.is_empty() {
            Ok(Catalog { definitions })
        } else {
            Err(FormError::Invalid(problems))
        }
    }

    /// A catalog of the given definitions.
    pub fn new(definitions: Vec<FormDefinition>) -> Catalog {
        Catalog { definitions }
    }

    /// Every definition, core forms first as given.
    pub fn definitions(&self) -> &[FormDefinition] {
        &self.definitions
    }

    /// A definition by form id.
    pub fn get(&self, form_id: &str) -> Result<&FormDefinition, FormError> {
        self.definitions
            .iter()
            .find(|d| d.form_id == form_id)
            .ok_or_else(|| FormError::UnknownForm {
                id: form_id.to_string(),
                known: self
                    .definitions
                    .iter()
                    .map(|d| d.form_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The form a case uses: `form_id` (a core form, or a module: then its core form with it)
    /// plus further modules.
    pub fn form(&self, form_id: &str, modules: &[&str]) -> Result<Form, FormError> {
        let first = self.get(form_id)?;
        let (core, mut mods) = match &first.extends {
            Some(base) => (self.get(base)?, vec![first]),
            None => (first, Vec::new()),
        };
        for m in modules {
            let def = self.get(m)?;
            if !mods.iter().any(|x| x.form_id == def.form_id) {
                mods.push(def);
            }
        }
        Form::compose(core, &mods)
    }

    /// Checks a definition as it would be used: a module composed with its core form from
    /// this catalog, a core form on its own.
    pub fn check(&self, def: &FormDefinition) -> Result<Form, FormError> {
        match &def.extends {
            Some(base) => Form::compose(self.get(base)?, &[def]),
            None => Form::compile(def.clone()),
        }
    }
}
