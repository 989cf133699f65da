//! Checking a definition and building the compiled [`Form`]; merging a core form with modules.
//!
//! Every check records a [`Problem`] and carries on, so an author sees all problems at once.
//!
//! - `merge`: merging modules into a core form.
//! - `field`: checking and compiling one field.

mod field;
mod merge;

pub(super) use merge::{Merged, merge};

use field::add_field;

use super::definition::*;
use super::{Form, FormError, FormField, FormRule, Problem, Scopes};
use crate::expr::{Expr, FieldInfo};
use crate::lang::Text;
use std::collections::{BTreeSet, HashMap, HashSet};

fn is_snake_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_form_id(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_semver(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
}

struct Ctx {
    problems: Vec<Problem>,
}

impl Ctx {
    fn add(&mut self, loc: &str, msg: impl Into<String>) {
        self.problems.push(Problem::new(loc, msg));
    }

    fn text(&mut self, loc: &str, what: &str, t: &Text) {
        let missing = t.missing();
        if !missing.is_empty() {
            let langs: Vec<&str> = missing.iter().map(|l| l.code()).collect();
            self.add(loc, format!("{what} is missing in {}", langs.join(", ")));
        }
    }
}

/// Checks `def` and builds the compiled form.
pub(super) fn compile(def: FormDefinition, merged: Option<Merged>) -> Result<Form, FormError> {
    let composed = merged.is_some();
    let (parts, origins) = match merged {
        Some(m) => (m.parts, m.origins),
        None => (
            vec![(def.form_id.clone(), def.version.clone())],
            HashMap::new(),
        ),
    };
    let mut cx = Ctx {
        problems: Vec::new(),
    };
    check_header(&def, composed, &mut cx);
    check_choice_lists(&def, &mut cx);

    // Pass 1: every field, with its resolved choices, so expressions can be checked against all.
    let mut fields: Vec<FormField> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut section_ids = HashSet::new();
    let core_id = def.form_id.clone();
    let defined_by = |id: &str| origins.get(id).unwrap_or(&core_id).clone();
    for (si, section) in def.sections.iter().enumerate() {
        let sloc = format!("section '{}'", section.id);
        if !is_snake_id(&section.id) {
            cx.add(
                &format!("section #{}", si + 1),
                format!("id '{}' must be snake_case", section.id),
            );
        }
        if !section_ids.insert(section.id.clone()) {
            cx.add(&sloc, "the section id is used twice");
        }
        cx.text(&sloc, "label", &section.label);
        if let Some(h) = &section.help {
            cx.text(&sloc, "help", h);
        }
        if section.items.is_empty() {
            cx.add(&sloc, "has no items");
        }
        for item in &section.items {
            match item {
                Item::Field(f) => {
                    let loc = format!("{sloc} › field '{}'", f.id);
                    add_field(
                        &def,
                        f,
                        &section.id,
                        None,
                        &loc,
                        &defined_by(&f.id),
                        &mut fields,
                        &mut index,
                        &mut cx,
                    );
                }
                Item::Group(g) => {
                    let gloc = format!("{sloc} › group '{}'", g.id);
                    if !is_snake_id(&g.id) {
                        cx.add(&gloc, "the group id must be snake_case");
                    }
                    if groups.iter().any(|x| x.id == g.id) || index.contains_key(&g.id) {
                        cx.add(
                            &gloc,
                            "the group id is already used by another group or field",
                        );
                    }
                    cx.text(&gloc, "label", &g.label);
                    if let Some(h) = &g.help {
                        cx.text(&gloc, "help", h);
                    }
                    if g.fields.is_empty() {
                        cx.add(&gloc, "has no fields");
                    }
                    if g.max_rows == Some(0) {
                        cx.add(&gloc, "max_rows must be at least 1");
                    }
                    for f in &g.fields {
                        let loc = format!("{gloc} › field '{}'", f.id);
                        add_field(
                            &def,
                            f,
                            &section.id,
                            Some(&g.id),
                            &loc,
                            &defined_by(&f.id),
                            &mut fields,
                            &mut index,
                            &mut cx,
                        );
                    }
                    groups.push(g.clone());
                }
            }
        }
    }
    if fields.is_empty() {
        cx.add("form", "has no fields");
    }
    if let Some(m) = groups.iter().find(|g| index.contains_key(&g.id)) {
        cx.add(&format!("group '{}'", m.id), "has the same id as a field");
    }

    check_recodes(&def, &fields, &index, &mut cx);

    // Pass 2: skip logic, now that every field is known.
    let lookup_in = |scope: Option<&str>| scope_lookup(&fields, &index, scope.map(str::to_string));
    let mut conditions: Vec<Vec<Expr>> = vec![Vec::new(); fields.len()];
    let mut scopes = Scopes::default();
    for section in &def.sections {
        let sloc = format!("section '{}'", section.id);
        let section_cond = section.show_if.as_ref().and_then(|src| {
            Expr::compile(src, &lookup_in(None))
                .map_err(|e| cx.add(&sloc, format!("show_if '{src}': {e}")))
                .ok()
        });
        scopes
            .sections
            .insert(section.id.clone(), section_cond.iter().cloned().collect());
        for item in &section.items {
            let (group_cond, members): (Option<Expr>, Vec<&Field>) = match item {
                Item::Field(f) => (None, vec![f]),
                Item::Group(g) => (
                    g.show_if.as_ref().and_then(|src| {
                        Expr::compile(src, &lookup_in(None))
                            .map_err(|e| {
                                cx.add(
                                    &format!("{sloc} › group '{}'", g.id),
                                    format!("show_if '{src}': {e}"),
                                )
                            })
                            .ok()
                    }),
                    g.fields.iter().collect(),
                ),
            };
            if let Item::Group(g) = item {
                let conds = section_cond.iter().chain(group_cond.iter()).cloned();
                scopes.groups.insert(g.id.clone(), conds.collect());
            }
            for f in members {
                let Some(&i) = index.get(&f.id) else { continue };
                if fields[i].section != section.id {
                    continue; // a duplicate id, already reported
                }
                let mut conds: Vec<Expr> = section_cond
                    .iter()
                    .chain(group_cond.iter())
                    .cloned()
                    .collect();
                if let Some(src) = &f.show_if {
                    let scope = fields[i].group.clone();
                    match Expr::compile(src, &lookup_in(scope.as_deref())) {
                        Ok(e) if e.fields().iter().any(|x| x == &f.id) => cx.add(
                            &format!("{sloc} › field '{}'", f.id),
                            format!("show_if '{src}' depends on the field itself"),
                        ),
                        Ok(e) => conds.push(e),
                        Err(e) => cx.add(
                            &format!("{sloc} › field '{}'", f.id),
                            format!("show_if '{src}': {e}"),
                        ),
                    }
                }
                conditions[i] = conds;
            }
        }
    }

    // Rules.
    let mut rules = Vec::new();
    let mut rule_ids = HashSet::new();
    for rule in &def.rules {
        let loc = format!("rule '{}'", rule.id);
        if !is_snake_id(&rule.id) {
            cx.add(&loc, "the rule id must be snake_case");
        }
        if !rule_ids.insert(rule.id.clone()) {
            cx.add(&loc, "the rule id is used twice");
        }
        cx.text(&loc, "message", &rule.message);
        if let Some(g) = &rule.group
            && !groups.iter().any(|x| &x.id == g)
        {
            cx.add(&loc, format!("group '{g}' does not exist"));
        }
        if rule.fields.is_empty() {
            cx.add(
                &loc,
                "must name at least one field to report the problem on",
            );
        }
        for f in &rule.fields {
            if lookup_in(rule.group.as_deref())(f).is_none() {
                cx.add(
                    &loc,
                    format!("'{f}' is not a field this rule can report on"),
                );
            }
        }
        match Expr::compile(&rule.check, &lookup_in(rule.group.as_deref())) {
            Ok(check) => rules.push(FormRule {
                def: rule.clone(),
                check,
            }),
            Err(e) => cx.add(&loc, format!("check '{}': {e}", rule.check)),
        }
    }

    for (f, c) in fields.iter_mut().zip(conditions) {
        f.conditions = c;
    }
    let visibility_order = order_by_dependencies(&fields, &index, &mut cx);

    // Module requirements and the age source.
    for r in &def.require {
        match index.get(r) {
            Some(&i) => fields[i].required = true,
            None => cx.add("require", format!("'{r}' is not a field of the form")),
        }
    }
    check_list_label(&def, &fields, &index, &mut cx);
    if let Some(age) = &def.age {
        check_age_source(age, &fields, &index, &mut cx);
    } else if fields.iter().any(|f| !f.def.soft_by_age.is_empty()) {
        cx.add(
            "age",
            "fields have soft_by_age limits, but the form does not say where the age comes from",
        );
    }

    if !cx.problems.is_empty() {
        return Err(FormError::Invalid(cx.problems));
    }
    Ok(Form {
        definition: def,
        parts,
        fields,
        index,
        groups,
        rules,
        visibility_order,
        scopes,
    })
}

/// What expressions in `scope` (a group id, or `None` for case level) may read.
fn scope_lookup<'a>(
    fields: &'a [FormField],
    index: &'a HashMap<String, usize>,
    scope: Option<String>,
) -> impl Fn(&str) -> Option<FieldInfo> + 'a {
    move |name: &str| {
        let f = &fields[*index.get(name)?];
        if f.group.is_some() && f.group != scope {
            return None;
        }
        Some(FieldInfo {
            kind: f.def.kind,
            codes: f.choices.iter().map(|c| c.code.clone()).collect(),
        })
    }
}

fn check_header(def: &FormDefinition, composed: bool, cx: &mut Ctx) {
    if !is_form_id(&def.form_id) {
        cx.add(
            "form",
            format!(
                "form_id '{}' must be lowercase letters, digits and '-'",
                def.form_id
            ),
        );
    }
    if !is_semver(&def.version) {
        cx.add(
            "form",
            format!("version '{}' must be MAJOR.MINOR.PATCH", def.version),
        );
    }
    cx.text("form", "title", &def.title);
    if let Some(d) = &def.description {
        cx.text("form", "description", d);
    }
    if !composed && def.extends.is_none() && !def.require.is_empty() {
        cx.add(
            "form",
            "'require' is for modules; a core form marks fields required directly",
        );
    }
    if def.extends.is_some() && !def.migrations.is_empty() {
        cx.add(
            "form",
            "a module has no migrations: a case records the version of its core form, so they live there",
        );
    }
    let mut last: Option<&str> = None;
    for m in &def.migrations {
        let loc = format!("migration from {}", m.from);
        cx.text(&loc, "note", &m.note);
        let earlier = |a: &str, b: &str| super::version_cmp(a, b) == Some(std::cmp::Ordering::Less);
        if !is_semver(&m.from) || !earlier(&m.from, &def.version) {
            cx.add(
                &loc,
                format!("'from' must be a version before this one ({})", def.version),
            );
        }
        if last.is_some_and(|l| !earlier(l, &m.from)) {
            cx.add(&loc, "migrations must be listed oldest first");
        }
        last = Some(&m.from);
    }
}

/// Checks each migration's recodes against the compiled fields: a recoded field is a choice
/// field whose choices hold the new code and no longer the old one. A field of a module the
/// form is compiled without is not checked here (it is when composed with it).
fn check_recodes(
    def: &FormDefinition,
    fields: &[FormField],
    index: &HashMap<String, usize>,
    cx: &mut Ctx,
) {
    for m in &def.migrations {
        for r in &m.recode {
            let loc = format!("migration from {} › recode of '{}'", m.from, r.field);
            let Some(f) = index.get(&r.field).map(|&i| &fields[i]) else {
                continue;
            };
            if !matches!(f.def.kind, FieldType::Choice | FieldType::Multichoice) {
                cx.add(&loc, "only choice codes are recoded");
            } else if f.choice_label(&r.to).is_none() {
                cx.add(&loc, format!("'{}' is not a choice of the field", r.to));
            } else if f.choice_label(&r.from).is_some() {
                cx.add(&loc, format!("'{}' is still a choice of the field", r.from));
            }
        }
    }
}

fn check_choice_lists(def: &FormDefinition, cx: &mut Ctx) {
    for (name, list) in &def.choice_lists {
        check_choices(list, &format!("choice list '{name}'"), cx);
    }
}

fn check_choices(list: &[Choice], loc: &str, cx: &mut Ctx) {
    if list.is_empty() {
        cx.add(loc, "has no choices");
    }
    let mut codes = HashSet::new();
    for c in list {
        if c.code.trim().is_empty() || c.code.len() > 64 || c.code.trim() != c.code {
            cx.add(
                loc,
                format!(
                    "choice code '{}' must be 1–64 characters without surrounding spaces",
                    c.code
                ),
            );
        }
        if !codes.insert(&c.code) {
            cx.add(loc, format!("choice code '{}' is used twice", c.code));
        }
        field::check_codes(&c.codes, &format!("{loc}, choice '{}'", c.code), cx);
        let missing = c.label.missing();
        if !missing.is_empty() {
            let langs: Vec<&str> = missing.iter().map(|l| l.code()).collect();
            cx.add(
                loc,
                format!(
                    "the label of choice '{}' is missing in {}",
                    c.code,
                    langs.join(", ")
                ),
            );
        }
    }
}

fn check_age_source(
    age: &AgeSource,
    fields: &[FormField],
    index: &HashMap<String, usize>,
    cx: &mut Ctx,
) {
    let mut want =
        |id: &str, kinds: &[FieldType], what: &str| match index.get(id).map(|&i| &fields[i]) {
            None => cx.add("age", format!("{what} '{id}' is not a field of the form")),
            Some(f) if f.group.is_some() => cx.add(
                "age",
                format!("{what} '{id}' cannot be in a repeating group"),
            ),
            Some(f) if !kinds.contains(&f.def.kind) => {
                cx.add(
                    "age",
                    format!("{what} '{id}' has the wrong type ({})", f.def.kind.name()),
                );
            }
            Some(_) => {}
        };
    want(
        &age.years_field,
        &[FieldType::Integer, FieldType::Decimal],
        "years_field",
    );
    if let Some(b) = &age.birth_date_field {
        want(b, &[FieldType::Date], "birth_date_field");
    }
    if let Some(r) = &age.reference_date_field {
        want(
            r,
            &[FieldType::Date, FieldType::Datetime],
            "reference_date_field",
        );
    }
}

/// The most fields a case list label may show (a list line, not a summary).
const MAX_LIST_LABEL_FIELDS: usize = 4;

/// `list_label`: a core form's distinct case-level fields whose values read as they are
/// stored (text, numbers, dates), at most [`MAX_LIST_LABEL_FIELDS`].
fn check_list_label(
    def: &FormDefinition,
    fields: &[FormField],
    index: &HashMap<String, usize>,
    cx: &mut Ctx,
) {
    if def.list_label.is_empty() {
        return;
    }
    if def.extends.is_some() {
        cx.add(
            "list_label",
            "is for core forms; a module's cases are listed with its core form's label",
        );
        return;
    }
    if def.list_label.len() > MAX_LIST_LABEL_FIELDS {
        cx.add(
            "list_label",
            format!("names more than {MAX_LIST_LABEL_FIELDS} fields"),
        );
    }
    let mut seen = HashSet::new();
    for id in &def.list_label {
        if !seen.insert(id) {
            cx.add("list_label", format!("'{id}' is named twice"));
            continue;
        }
        match index.get(id).map(|&i| &fields[i]) {
            None => cx.add("list_label", format!("'{id}' is not a field of the form")),
            Some(f) if f.group.is_some() => cx.add(
                "list_label",
                format!("'{id}' is in a repeating group; a label needs a case-level field"),
            ),
            Some(f)
                if matches!(
                    f.def.kind,
                    FieldType::Choice | FieldType::Multichoice | FieldType::Boolean
                ) =>
            {
                cx.add(
                    "list_label",
                    format!(
                        "'{id}' is a {} field; a label shows text, numbers and dates as stored",
                        f.def.kind.name()
                    ),
                )
            }
            Some(_) => {}
        }
    }
}

/// Orders fields so that every field comes after the fields its skip logic reads; reports cycles.
fn order_by_dependencies(
    fields: &[FormField],
    index: &HashMap<String, usize>,
    cx: &mut Ctx,
) -> Vec<usize> {
    let deps: Vec<BTreeSet<usize>> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.conditions
                .iter()
                .flat_map(|c| c.fields())
                .filter_map(|name| index.get(name).copied())
                .filter(|&d| d != i)
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done
    let mut state = vec![0u8; fields.len()];
    let mut order = Vec::with_capacity(fields.len());
    let mut reported = false;
    for start in 0..fields.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, deps[start].iter().copied().collect::<Vec<_>>())];
        state[start] = 1;
        while let Some((node, pending)) = stack.last_mut() {
            match pending.pop() {
                Some(d) if state[d] == 0 => {
                    state[d] = 1;
                    let next = deps[d].iter().copied().collect();
                    stack.push((d, next));
                }
                Some(d) if state[d] == 1 => {
                    if !reported {
                        let path: Vec<&str> = stack.iter().map(|(n, _)| fields[*n].id()).collect();
                        cx.add(
                            "skip logic",
                            format!(
                                "show_if conditions depend on each other in a cycle: {} → {}",
                                path.join(" → "),
                                fields[d].id()
                            ),
                        );
                        reported = true;
                    }
                }
                Some(_) => {}
                None => {
                    state[*node] = 2;
                    order.push(*node);
                    stack.pop();
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::super::{Form, FormError};
    use crate::form::definition::FormDefinition;

    fn core_with_label(label: &[&str]) -> FormDefinition {
        let mut def: FormDefinition =
            serde_json::from_str(include_str!("../../forms/icrown-core.json")).unwrap();
        def.list_label = label.iter().map(|s| (*s).to_string()).collect();
        def
    }

    fn problems(def: FormDefinition) -> Vec<String> {
        match Form::compile(def) {
            Ok(_) => Vec::new(),
            Err(e @ FormError::Invalid(_)) => {
                e.problems().iter().map(ToString::to_string).collect()
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_bundled_core_form_names_its_list_label() {
        let def = core_with_label(&["case_id", "hospital_record_number", "admission_date"]);
        let bundled: FormDefinition =
            serde_json::from_str(include_str!("../../forms/icrown-core.json")).unwrap();
        assert_eq!(bundled.list_label, def.list_label);
        assert!(problems(def).is_empty());
    }

    #[test]
    fn a_list_label_names_distinct_case_level_fields_shown_as_stored() {
        let got = problems(core_with_label(&[
            "case_id",
            "no_such_field",
            "sex_at_birth",
            "med_start_date",
            "case_id",
        ]));
        let want = [
            "list_label: names more than 4 fields",
            "list_label: 'no_such_field' is not a field of the form",
            "list_label: 'sex_at_birth' is a choice field; a label shows text, numbers and dates as stored",
            "list_label: 'med_start_date' is in a repeating group; a label needs a case-level field",
            "list_label: 'case_id' is named twice",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_module_cannot_set_the_list_label() {
        let core = core_with_label(&[]);
        let mut module: FormDefinition =
            serde_json::from_str(include_str!("../../forms/modules/mpox.json")).unwrap();
        module.list_label = vec!["case_id".into()];
        let got = match Form::compose(&core, &[&module]) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(ToString::to_string).collect(),
        };
        assert_eq!(
            got,
            [
                "module 'mpox': list_label is for core forms; a module's cases are listed with its core form's label"
            ]
        );
        // Alone, too.
        assert!(
            problems(module)
                .iter()
                .any(|p| p.starts_with("list_label: is for core forms")),
        );
    }
}
