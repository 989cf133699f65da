//! The bundled forms the repository checks cases against, each composition (a form and its
//! modules) compiled once and kept in the catalog's bounded cache ([`Catalog::composed`]).
//!
//! The form id and module list come from what devices push, so they are checked against the
//! catalog before anything is composed or cached: an unknown id is refused without touching
//! the cache (the case gets the `unknown_form` flag), a module list is normalised (sorted,
//! duplicates removed) so that one composition has one key, and the cache holds at most
//! [`MAX_COMPOSED`] compositions, dropping the least recently used beyond that.

use std::sync::Arc;
use wardcrf_core::repository::IdentifyingFields;
use wardcrf_core::{Catalog, Form};

pub use wardcrf_core::MAX_COMPOSED;

/// The bundled form catalog and the compositions made from it.
pub(crate) struct Forms {
    /// `None`: the bundled catalog failed to load; every case is then flagged.
    pub(crate) catalog: Option<Catalog>,
    /// The identifying fields of every form of the catalog.
    identifying: IdentifyingFields,
}

impl Forms {
    /// The forms bundled with this build.
    pub(crate) fn bundled() -> Forms {
        Forms::new(Catalog::bundled().ok(), MAX_COMPOSED)
    }

    /// Forms of `catalog`, keeping at most `bound` compositions.
    fn new(catalog: Option<Catalog>, bound: usize) -> Forms {
        let catalog = catalog.map(|c| c.with_cache_bound(bound));
        Forms {
            identifying: catalog
                .as_ref()
                .map(IdentifyingFields::of_catalog)
                .unwrap_or_default(),
            catalog,
        }
    }

    /// The fields no push may write: every identifying field of the catalog at a site that
    /// keeps identifying data on its devices (`keeps_them`), none elsewhere. `None` when the
    /// site keeps them but the catalog could not be loaded: nothing can then be checked, so
    /// nothing may be taken.
    pub(crate) fn identifying(&self, keeps_them: bool) -> Option<IdentifyingFields> {
        match (keeps_them, &self.catalog) {
            (false, _) => Some(IdentifyingFields::default()),
            (true, Some(_)) => Some(self.identifying.clone()),
            (true, None) => None,
        }
    }

    /// The composed form of `form_id` with `modules` (in any order, duplicates ignored), or
    /// why it cannot be had (an id the catalog does not know, modules that do not fit).
    pub(crate) fn form(&self, form_id: &str, modules: &[String]) -> Result<Arc<Form>, String> {
        let Some(catalog) = &self.catalog else {
            return Err("the bundled form catalog could not be loaded".into());
        };
        let known = |id: &str| catalog.definitions().iter().any(|d| d.form_id == id);
        if !known(form_id) {
            return Err("the case's form is not one of the bundled forms".into());
        }
        if modules.iter().any(|m| !known(m)) {
            return Err("a module of the case is not one of the bundled forms".into());
        }
        let mut modules = modules.to_vec();
        modules.sort_unstable();
        modules.dedup();
        catalog
            .composed(form_id, &modules)
            .map_err(|e| e.to_string())
    }

    /// How many compositions are kept.
    #[cfg(test)]
    fn cached(&self) -> usize {
        self.catalog.as_ref().map_or(0, |c| c.composed_kept().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled modules of the core form.
    fn modules(forms: &Forms) -> Vec<String> {
        let catalog = forms.catalog.as_ref().unwrap();
        catalog
            .definitions()
            .iter()
            .filter(|d| d.extends.as_deref() == Some("icrown-core"))
            .map(|d| d.form_id.clone())
            .collect()
    }

    #[test]
    fn distinct_device_lists_do_not_grow_the_cache_past_its_bound() {
        let forms = Forms::bundled();
        let mods = modules(&forms);
        assert!(mods.len() >= 3, "{mods:?}");
        // 1,200 distinct lists as a device may send them: orders, repeats, unknown names.
        for i in 0..1_200usize {
            let mut list: Vec<String> = mods
                .iter()
                .enumerate()
                .filter(|(j, _)| i >> j & 1 == 1)
                .map(|(_, m)| m.clone())
                .collect();
            let n = list.len().max(1);
            list.rotate_left(i % n);
            for _ in 0..i % 7 {
                if let Some(first) = list.first().cloned() {
                    list.push(first);
                }
            }
            if i % 5 == 0 {
                list.push(format!("no-such-module-{i}"));
            }
            let _ = forms.form("icrown-core", &list);
            assert!(
                forms.cached() <= MAX_COMPOSED,
                "{} after {i}",
                forms.cached()
            );
        }
        // Only the distinct compositions of known modules (2^n, at most the bound) are kept.
        assert!(forms.cached() <= (1usize << mods.len()).min(MAX_COMPOSED));
    }

    #[test]
    fn order_and_repeats_do_not_make_a_new_composition() {
        let forms = Forms::bundled();
        let mods = modules(&forms);
        let (a, b) = (mods[0].clone(), mods[1].clone());
        let one = forms.form("icrown-core", &[a.clone(), b.clone()]).unwrap();
        let two = forms
            .form("icrown-core", &[b.clone(), a.clone(), b.clone()])
            .unwrap();
        assert!(Arc::ptr_eq(&one, &two));
        assert_eq!(forms.cached(), 1);
    }

    #[test]
    fn unknown_ids_are_refused_and_not_cached() {
        let forms = Forms::bundled();
        for i in 0..100 {
            let e = forms.form(&format!("form-{i}"), &[]).unwrap_err();
            assert!(e.contains("not one of the bundled forms"), "{e}");
            let e = forms
                .form("icrown-core", &[format!("module-{i}")])
                .unwrap_err();
            assert!(e.contains("not one of the bundled forms"), "{e}");
        }
        assert_eq!(forms.cached(), 0);
        assert!(forms.form("icrown-core", &[]).is_ok());
        assert_eq!(forms.cached(), 1);
    }

    #[test]
    fn beyond_the_bound_the_least_recently_used_is_dropped() {
        let forms = Forms::new(Catalog::bundled().ok(), 4);
        let mods = modules(&forms);
        let core = forms.form("icrown-core", &[]).unwrap();
        let mut composed = Vec::new();
        for m in &mods {
            composed.push(forms.form("icrown-core", std::slice::from_ref(m)).unwrap());
            assert!(forms.cached() <= 4);
            // The core form alone stays in use: it is never the least recently used.
            assert!(Arc::ptr_eq(&core, &forms.form("icrown-core", &[]).unwrap()));
        }
        assert_eq!(forms.cached(), 4);
        // The first module's composition was the least recently used: dropped, composed anew.
        let first = forms.form("icrown-core", &mods[..1]).unwrap();
        assert!(!Arc::ptr_eq(&first, &composed[0]));
        // The last one was kept.
        let last = forms.form("icrown-core", &mods[mods.len() - 1..]).unwrap();
        assert!(Arc::ptr_eq(&last, &composed[mods.len() - 1]));
        assert_eq!(forms.cached(), 4);
    }
}
