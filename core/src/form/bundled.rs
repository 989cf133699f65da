//! The forms that ship with WardCRF: the iCROWN core form and its disease modules.

use super::composed::{ComposedCache, MAX_COMPOSED};
use super::definition::FormDefinition;
use super::{Form, FormError, load};
use std::sync::Arc;

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
    (
        "modules/entry-genome.json",
        include_str!("../../forms/modules/entry-genome.json"),
    ),
    (
        "modules/biobank.json",
        include_str!("../../forms/modules/biobank.json"),
    ),
    (
        "modules/follow-up.json",
        include_str!("../../forms/modules/follow-up.json"),
    ),
];

/// A set of form definitions (core forms and modules) to pick and compose from, with a bounded
/// cache of the forms composed from them ([`Catalog::composed`]).
#[derive(Debug, Clone)]
pub struct Catalog {
    definitions: Vec<FormDefinition>,
    composed: ComposedCache,
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
            Ok(Catalog::new(definitions))
        } else {
            Err(FormError::Invalid(problems))
        }
    }

    /// A catalog of the given definitions.
    pub fn new(definitions: Vec<FormDefinition>) -> Catalog {
        Catalog {
            definitions,
            composed: ComposedCache::new(MAX_COMPOSED),
        }
    }

    /// This catalog keeping at most `bound` composed forms (at least one) instead of
    /// [`MAX_COMPOSED`].
    pub fn with_cache_bound(self, bound: usize) -> Catalog {
        Catalog {
            composed: ComposedCache::new(bound),
            ..self
        }
    }

    /// The form a case uses, as [`Catalog::form`] composes it, compiled once and shared: the
    /// same `Arc` for the same `form_id` and `modules` (in the same order) while it is kept.
    /// At most [`MAX_COMPOSED`] compositions (or the bound given to
    /// [`Catalog::with_cache_bound`]) are kept; the least recently used is composed again
    /// when next needed. Refusals are not kept.
    pub fn composed<M: AsRef<str>>(
        &self,
        form_id: &str,
        modules: &[M],
    ) -> Result<Arc<Form>, FormError> {
        let modules: Vec<String> = modules.iter().map(|m| m.as_ref().to_string()).collect();
        if let Some(form) = self.composed.get(form_id, &modules) {
            return Ok(form);
        }
        let mods: Vec<&str> = modules.iter().map(String::as_str).collect();
        let form = Arc::new(self.form(form_id, &mods)?);
        Ok(self.composed.put(form_id, &modules, form))
    }

    /// How many composed forms are kept, and at most how many.
    pub fn composed_kept(&self) -> (usize, usize) {
        (self.composed.len(), self.composed.bound())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_composition_is_compiled_once_and_shared() {
        let catalog = Catalog::bundled().unwrap();
        let a = catalog.composed("icrown-core", &["sari"]).unwrap();
        let b = catalog
            .composed("icrown-core", &["sari".to_string()])
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.form_id(), "icrown-core");
        let plain = catalog.composed::<&str>("icrown-core", &[]).unwrap();
        assert!(!Arc::ptr_eq(&a, &plain));
        assert_eq!(catalog.composed_kept(), (2, MAX_COMPOSED));
        // Refusals are not kept.
        assert!(catalog.composed::<&str>("no-such-form", &[]).is_err());
        assert_eq!(catalog.composed_kept().0, 2);
        // From several threads: one catalog, one form.
        let shared = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| catalog.composed("icrown-core", &["sari"]).unwrap()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert!(shared.iter().all(|f| Arc::ptr_eq(f, &a)));
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_least_recently_used() {
        let catalog = Catalog::bundled().unwrap().with_cache_bound(2);
        let core = catalog.composed::<&str>("icrown-core", &[]).unwrap();
        let sari = catalog.composed("icrown-core", &["sari"]).unwrap();
        // Used again: the plain core form is now the most recent.
        assert!(Arc::ptr_eq(
            &core,
            &catalog.composed::<&str>("icrown-core", &[]).unwrap()
        ));
        let mpox = catalog.composed("icrown-core", &["mpox"]).unwrap();
        assert_eq!(catalog.composed_kept(), (2, 2));
        assert!(Arc::ptr_eq(
            &core,
            &catalog.composed::<&str>("icrown-core", &[]).unwrap()
        ));
        assert!(Arc::ptr_eq(
            &mpox,
            &catalog.composed("icrown-core", &["mpox"]).unwrap()
        ));
        // The least recently used (sari) was dropped: composed anew.
        assert!(!Arc::ptr_eq(
            &sari,
            &catalog.composed("icrown-core", &["sari"]).unwrap()
        ));
    }
}
