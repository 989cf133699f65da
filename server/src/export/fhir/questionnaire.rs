//! The Questionnaire of the export form: its layout (sections, fields, repeating groups),
//! item types, standard codes, units, answer options and the ja/de translations.

use super::*;
use crate::export::ExportOptions;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use wardcrf_core::{Codes, FieldType, Form, FormField, Item, Lang, Text};

/// The form's structure as the Questionnaire shows it: sections in order, each with its
/// case-level fields and repeating groups in the order the form lists them.
pub(super) struct Layout<'a> {
    pub(super) sections: Vec<SectionLayout<'a>>,
    /// The age in years when the export top-codes it (a research export): a `string` item.
    pub(super) top_coded: Option<&'a str>,
}

impl Layout<'_> {
    /// Whether `f` is the top-coded age.
    pub(super) fn top_codes(&self, f: &FormField) -> bool {
        self.top_coded == Some(f.id())
    }
}

pub(super) struct SectionLayout<'a> {
    pub(super) id: String,
    pub(super) label: Text,
    pub(super) show_if: Option<String>,
    pub(super) entries: Vec<Entry<'a>>,
}

pub(super) enum Entry<'a> {
    Field(&'a FormField),
    Group {
        id: String,
        label: Text,
        show_if: Option<String>,
        fields: Vec<&'a FormField>,
    },
}

impl<'a> Layout<'a> {
    pub(super) fn new(form: &'a Form, options: &ExportOptions) -> Layout<'a> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut sections = Vec::new();
        for s in &form.definition().sections {
            let mut entries = Vec::new();
            for item in &s.items {
                match item {
                    Item::Field(f) => {
                        if let Some(ff) = form.field(&f.id)
                            && ff.group.is_none()
                            && options.exported(ff)
                            && seen.insert(ff.id())
                        {
                            entries.push(Entry::Field(ff));
                        }
                    }
                    Item::Group(g) => {
                        if let Some(group) = form.group(&g.id)
                            && seen.insert(group.id.as_str())
                        {
                            entries.push(Entry::Group {
                                id: group.id.clone(),
                                label: group.label.clone(),
                                show_if: group.show_if.clone(),
                                fields: form
                                    .fields_in(Some(&group.id))
                                    .filter(|f| options.exported(f))
                                    .collect(),
                            });
                        }
                    }
                }
            }
            // Fields a module added to this section without listing them in it.
            for f in form
                .fields_in(None)
                .filter(|f| f.section == s.id && options.exported(f))
            {
                if seen.insert(f.id()) {
                    entries.push(Entry::Field(f));
                }
            }
            if !entries.is_empty() {
                sections.push(SectionLayout {
                    id: s.id.clone(),
                    label: s.label.clone(),
                    show_if: s.show_if.clone(),
                    entries,
                });
            }
        }
        let top_coded = form
            .fields()
            .iter()
            .find(|f| options.exported(f) && options.top_codes(form, f))
            .map(FormField::id);
        Layout {
            sections,
            top_coded,
        }
    }
}

/// `{"extension": [translation ja, translation de]}` for a `_text`/`_display`/`_title`
/// element, or `None` when the text has no translation.
fn translations(text: &Text) -> Option<Value> {
    let ext: Vec<Value> = [(Lang::Ja, &text.ja), (Lang::De, &text.de)]
        .into_iter()
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(lang, t)| {
            json!({"url": TRANSLATION, "extension": [
                {"url": "lang", "valueCode": lang.code()},
                {"url": "content", "valueString": t},
            ]})
        })
        .collect();
    (!ext.is_empty()).then(|| json!({ "extension": ext }))
}

/// Sets `text` (English) and `_text` (translations) on `item`.
fn put_text(item: &mut Map<String, Value>, key: &str, text: &Text) {
    let en = text.get(Lang::En);
    if en.is_empty() {
        return;
    }
    item.insert(key.into(), json!(en));
    if let Some(t) = translations(text) {
        item.insert(format!("_{key}"), t);
    }
}

fn item_type(f: &FormField, top_coded: bool) -> &'static str {
    match f.def.kind {
        _ if top_coded => "string",
        FieldType::Text => "string",
        FieldType::Integer => "integer",
        FieldType::Decimal => "decimal",
        FieldType::Date => "date",
        FieldType::Datetime => "dateTime",
        FieldType::Choice | FieldType::Multichoice => "choice",
        FieldType::Boolean => "boolean",
    }
}

/// The LOINC code of a field.
pub(super) fn loinc_code(f: &FormField) -> Option<&str> {
    f.def.codes.loinc.as_deref().filter(|c| !c.is_empty())
}

/// The Coding of the choice `code` of `f`: the form's own code system
/// (`urn:wardcrf:codes:<field>`), the label as display (with its translations), and the
/// choice's standard codes ([`standard_codings`]) in the extension [`CHOICE_CODING_EXTENSION`].
pub(super) fn coding(f: &FormField, code: &str) -> Value {
    let mut c = Map::new();
    let standard = standard_codings(&choice_codes(f, code));
    if !standard.is_empty() {
        let ext: Vec<Value> = standard
            .into_iter()
            .map(|coding| json!({"url": CHOICE_CODING_EXTENSION, "valueCoding": coding}))
            .collect();
        c.insert("extension".into(), Value::Array(ext));
    }
    c.insert("system".into(), json!(code_system(f.id())));
    c.insert("code".into(), json!(code));
    if let Some(label) = f.choice_label(code) {
        put_text(&mut c, "display", label);
    }
    Value::Object(c)
}

/// The form's own Coding of a choice, without the extension: for a CodeableConcept, which
/// lists the standard codings beside it.
pub(super) fn local_coding(f: &FormField, code: &str) -> Value {
    json!({
        "system": code_system(f.id()),
        "code": code,
        "display": f.choice_label(code).map(|t| t.get(Lang::En)).unwrap_or(code),
    })
}

/// The standard codes of the choice `code` of `f` (none when it has none or is no choice).
pub(super) fn choice_codes(f: &FormField, code: &str) -> Codes {
    f.choices
        .iter()
        .find(|c| c.code == code)
        .map(|c| c.codes.clone())
        .unwrap_or_default()
}

/// A Coding per standard code (LOINC, SNOMED CT, ICD-10, ICD-10-GM, ATC, in that order), with
/// the system's canonical URI. No display: the code systems' own displays are not bundled.
pub(super) fn standard_codings(codes: &Codes) -> Vec<Value> {
    codes
        .coded()
        .map(|(system, code)| json!({"system": system.fhir_uri(), "code": code}))
        .collect()
}

/// A CodeableConcept of a choice: the form's own coding, then its standard codings, and the
/// English label as text.
pub(super) fn concept(f: &FormField, code: &str) -> Value {
    let mut codings = vec![local_coding(f, code)];
    codings.extend(standard_codings(&choice_codes(f, code)));
    json!({
        "coding": codings,
        "text": f.choice_label(code).map(|t| t.get(Lang::En)).unwrap_or(code),
    })
}

pub(super) fn questionnaire(form: &Form, layout: &Layout, options: &ExportOptions) -> Value {
    let def = form.definition();
    // The questions a condition may name: identifying ones are not in a research export.
    // The top-coded age is text: a condition comparing it with a number stays in the
    // extension only.
    let fields = |id: &str| {
        form.field(id)
            .filter(|f| options.exported(f) && !layout.top_codes(f))
    };
    let mut q = Map::new();
    q.insert("resourceType".into(), json!("Questionnaire"));
    if is_fhir_id(&def.form_id) {
        q.insert("id".into(), json!(def.form_id));
    }
    q.insert("url".into(), json!(questionnaire_url(form)));
    q.insert("version".into(), json!(def.version));
    q.insert("name".into(), json!(computable_name(&def.form_id)));
    put_text(&mut q, "title", &def.title);
    q.insert("status".into(), json!("active"));
    q.insert("language".into(), json!("en"));
    q.insert("subjectType".into(), json!(["Patient"]));
    let parts: Vec<String> = form
        .parts()
        .iter()
        .map(|(id, version)| format!("{id} {version}"))
        .collect();
    q.insert(
        "description".into(),
        json!(format!(
            "{} (composed of: {})",
            def.title.get(Lang::En),
            parts.join(", ")
        )),
    );
    let items: Vec<Value> = layout
        .sections
        .iter()
        .map(|s| {
            let mut item = Map::new();
            item.insert("linkId".into(), json!(section_link_id(&s.id)));
            put_text(&mut item, "text", &s.label);
            item.insert("type".into(), json!("group"));
            skip_logic(&mut item, s.show_if.as_deref(), &fields);
            let children: Vec<Value> = s
                .entries
                .iter()
                .map(|e| match e {
                    Entry::Field(f) => field_item(f, layout.top_codes(f), &fields),
                    Entry::Group {
                        id,
                        label,
                        show_if,
                        fields: group_fields,
                    } => {
                        let mut g = Map::new();
                        g.insert("linkId".into(), json!(id));
                        put_text(&mut g, "text", label);
                        g.insert("type".into(), json!("group"));
                        g.insert("repeats".into(), json!(true));
                        skip_logic(&mut g, show_if.as_deref(), &fields);
                        g.insert(
                            "item".into(),
                            Value::Array(
                                group_fields
                                    .iter()
                                    .map(|f| field_item(f, layout.top_codes(f), &fields))
                                    .collect(),
                            ),
                        );
                        Value::Object(g)
                    }
                })
                .collect();
            item.insert("item".into(), Value::Array(children));
            Value::Object(item)
        })
        .collect();
    q.insert("item".into(), Value::Array(items));
    Value::Object(q)
}

/// The item of a field; `top_coded`: the age of a research export, a `string` of at most 3
/// characters (`62`, `90+`).
fn field_item<'a>(
    f: &FormField,
    top_coded: bool,
    fields: &impl Fn(&str) -> Option<&'a FormField>,
) -> Value {
    let mut item = Map::new();
    item.insert("linkId".into(), json!(f.id()));
    put_text(&mut item, "text", &f.def.label);
    item.insert("type".into(), json!(item_type(f, top_coded)));
    if f.required {
        item.insert("required".into(), json!(true));
    }
    if f.def.kind == FieldType::Multichoice {
        item.insert("repeats".into(), json!(true));
    }
    if top_coded {
        item.insert("maxLength".into(), json!(3));
    } else if f.def.kind == FieldType::Text {
        let max = f.def.max_length.unwrap_or(wardcrf_core::DEFAULT_MAX_TEXT);
        item.insert("maxLength".into(), json!(max.max(1)));
    }
    let codes = standard_codings(&f.def.codes);
    if !codes.is_empty() {
        item.insert("code".into(), Value::Array(codes));
    }
    if let Some(unit) = &f.def.unit
        && matches!(f.def.kind, FieldType::Integer | FieldType::Decimal)
        && !top_coded
    {
        item.insert(
            "extension".into(),
            json!([{"url": UNIT_EXTENSION,
                    "valueCoding": {"system": UCUM, "code": unit, "display": unit}}]),
        );
    }
    skip_logic(&mut item, f.def.show_if.as_deref(), fields);
    if !f.choices.is_empty() {
        let options: Vec<Value> = f
            .choices
            .iter()
            .map(|c| json!({"valueCoding": coding(f, &c.code)}))
            .collect();
        item.insert("answerOption".into(), Value::Array(options));
    }
    Value::Object(item)
}
