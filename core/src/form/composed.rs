//! The catalog's cache of composed forms: each composition (a form id and its modules, as
//! given) compiled once and shared as an `Arc<Form>`, at most a bounded number kept (the least
//! recently used dropped beyond it). Thread-safe: one catalog serves every thread.

use super::Form;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// At most this many compositions are kept by default.
pub const MAX_COMPOSED: usize = 64;

/// A form id and the modules composed with it, in the order given.
type Composition = (String, Vec<String>);

/// The kept compositions, each with the tick of its last use.
#[derive(Default)]
struct Entries {
    forms: HashMap<Composition, (Arc<Form>, u64)>,
    tick: u64,
}

/// A bounded, thread-safe cache of composed forms.
pub(super) struct ComposedCache {
    entries: Mutex<Entries>,
    bound: usize,
}

impl ComposedCache {
    pub(super) fn new(bound: usize) -> ComposedCache {
        ComposedCache {
            entries: Mutex::new(Entries::default()),
            bound: bound.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic elsewhere while holding the lock leaves the map consistent (every update is
        // one insert or remove): the cache stays usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept form of a composition, marked as just used.
    pub(super) fn get(&self, form_id: &str, modules: &[String]) -> Option<Arc<Form>> {
        let mut e = self.lock();
        e.tick += 1;
        let tick = e.tick;
        let key = (form_id.to_string(), modules.to_vec());
        e.forms.get_mut(&key).map(|(form, used)| {
            *used = tick;
            Arc::clone(form)
        })
    }

    /// Keeps a composed form (dropping the least recently used beyond the bound); returns the
    /// one kept, which is an earlier one when another thread composed it meanwhile.
    pub(super) fn put(&self, form_id: &str, modules: &[String], form: Arc<Form>) -> Arc<Form> {
        let mut e = self.lock();
        e.tick += 1;
        let tick = e.tick;
        let key = (form_id.to_string(), modules.to_vec());
        if let Some((kept, used)) = e.forms.get_mut(&key) {
            *used = tick;
            return Arc::clone(kept);
        }
        while e.forms.len() >= self.bound {
            let oldest = e
                .forms
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => e.forms.remove(&k),
                None => break,
            };
        }
        e.forms.insert(key, (Arc::clone(&form), tick));
        form
    }

    /// How many compositions are kept.
    pub(super) fn len(&self) -> usize {
        self.lock().forms.len()
    }

    pub(super) fn bound(&self) -> usize {
        self.bound
    }
}

impl Clone for ComposedCache {
    fn clone(&self) -> Self {
        let e = self.lock();
        ComposedCache {
            entries: Mutex::new(Entries {
                forms: e.forms.clone(),
                tick: e.tick,
            }),
            bound: self.bound,
        }
    }
}

impl std::fmt::Debug for ComposedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposedCache")
            .field("kept", &self.len())
            .field("bound", &self.bound)
            .finish()
    }
}
