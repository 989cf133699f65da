//! Composing a form: a core form with its modules merged in, each module's fields and
//! sections added where the module says, every clash reported.

use super::super::definition::*;
use super::super::{FormError, Problem};
use std::collections::{HashMap, HashSet};

/// A core form with its modules merged in.
pub(in crate::form) struct Merged {
    pub parts: Vec<(String, String)>,
    /// Field id → the module that defines it (core fields are absent).
    pub origins: HashMap<String, String>,
}

/// Merges modules into a copy of the core form.
pub(in crate::form) fn merge(
    core: &FormDefinition,
    modules: &[&FormDefinition],
) -> Result<(FormDefinition, Merged), FormError> {
    let mut problems = Vec::new();
    let mut merged = core.clone();
    let mut parts = vec![(core.form_id.clone(), core.version.clone())];
    if core.extends.is_some() {
        problems.push(Problem::new(
            format!("form '{}'", core.form_id),
            "is a module (it has 'extends'), not a core form",
        ));
    }
    let mut origins = HashMap::new();
    let mut seen_modules = HashSet::new();
    for m in modules {
        let loc = format!("module '{}'", m.form_id);
        if !seen_modules.insert(m.form_id.clone()) {
            problems.push(Problem::new(&loc, "is listed twice"));
            continue;
        }
        if m.extends.as_deref() != Some(core.form_id.as_str()) {
            problems.push(Problem::new(
                &loc,
                format!(
                    "extends '{}', not '{}'",
                    m.extends.as_deref().unwrap_or("nothing"),
                    core.form_id
                ),
            ));
            continue;
        }
        if !m.migrations.is_empty() {
            problems.push(Problem::new(
                &loc,
                "a module has no migrations: a case records the version of its core form, so they live there",
            ));
        }
        parts.push((m.form_id.clone(), m.version.clone()));
        merge_module(&mut merged, m, &loc, &mut origins, &mut problems);
    }
    if problems.is_empty() {
        Ok((merged, Merged { parts, origins }))
    } else {
        Err(FormError::Invalid(problems))
    }
}

/// Every field already in a definition, by id.
fn field_map(def: &FormDefinition) -> HashMap<String, Field> {
    let mut out = HashMap::new();
    for s in &def.sections {
        for item in &s.items {
            match item {
                Item::Field(f) => {
                    out.insert(f.id.clone(), f.clone());
                }
                Item::Group(g) => {
                    for f in &g.fields {
                        out.insert(f.id.clone(), f.clone());
                    }
                }
            }
        }
    }
    out
}

fn merge_module(
    merged: &mut FormDefinition,
    m: &FormDefinition,
    loc: &str,
    origins: &mut HashMap<String, String>,
    problems: &mut Vec<Problem>,
) {
    let existing = field_map(merged);
    for f in field_map(m).into_keys() {
        if !existing.contains_key(&f) {
            origins.insert(f, m.form_id.clone());
        }
    }
    // A field several modules share must be defined identically; a shared one is added once.
    let keep = |f: &Field, problems: &mut Vec<Problem>| -> bool {
        match existing.get(&f.id) {
            None => true,
            Some(other) if other == f => false,
            Some(_) => {
                problems.push(Problem::new(
                    format!("{loc} › field '{}'", f.id),
                    "is already defined, differently, by the core form or another module",
                ));
                false
            }
        }
    };
    for (name, list) in &m.choice_lists {
        match merged.choice_lists.get(name) {
            Some(existing) if existing != list => problems.push(Problem::new(
                format!("{loc} › choice list '{name}'"),
                "differs from the list of the same name in the core form or another module",
            )),
            Some(_) => {}
            None => {
                merged.choice_lists.insert(name.clone(), list.clone());
            }
        }
    }
    for section in &m.sections {
        let target = merged.sections.iter().position(|s| s.id == section.id);
        let mut items = Vec::new();
        for item in &section.items {
            match item {
                Item::Field(f) => {
                    if keep(f, problems) {
                        items.push(Item::Field(f.clone()));
                    }
                }
                Item::Group(g) => {
                    let fields: Vec<Field> = g
                        .fields
                        .iter()
                        .filter(|f| keep(f, problems))
                        .cloned()
                        .collect();
                    let base_group = merged
                        .sections
                        .iter_mut()
                        .flat_map(|s| s.items.iter_mut())
                        .find_map(|i| match i {
                            Item::Group(bg) if bg.id == g.id => Some(bg),
                            _ => None,
                        });
                    match base_group {
                        Some(bg) => bg.fields.extend(fields),
                        None => items.push(Item::Group(Group {
                            fields,
                            ..g.clone()
                        })),
                    }
                }
            }
        }
        match target {
            Some(i) => merged.sections[i].items.extend(items),
            None => merged.sections.push(Section {
                items,
                ..section.clone()
            }),
        }
    }
    if !m.list_label.is_empty() {
        problems.push(Problem::new(
            loc,
            "list_label is for core forms; a module's cases are listed with its core form's label",
        ));
    }
    merged.rules.extend(m.rules.iter().cloned());
    for r in &m.require {
        if !merged.require.contains(r) {
            merged.require.push(r.clone());
        }
    }
    for a in &m.assumptions {
        merged.assumptions.push(format!("[{}] {a}", m.form_id));
    }
}
