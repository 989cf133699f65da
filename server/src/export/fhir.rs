//! The HL7 FHIR R4 (4.0.1) export: one Bundle of type `collection`, in JSON, written case by
//! case (the list of case ids and one case are in memory at a time, never every case).
//!
//! - The first entry is a **Questionnaire** for the export form (url
//!   `urn:wardcrf:questionnaire:<form>`, the core form's version): one `group` item per section
//!   (linkId `section:<id>`), in it one item per field (linkId = the field id) and one repeating
//!   `group` item per repeating group (linkId = the group id) holding the group's fields.
//!   Types: text → string (with maxLength), integer → integer, decimal → decimal, date → date
//!   (partial dates are FHIR dates too), datetime → dateTime, boolean → boolean, choice →
//!   choice with an answerOption per code (a Coding of system `urn:wardcrf:codes:<field>`),
//!   multichoice → choice with `repeats`. Required fields are `required`; LOINC codes are the
//!   item's `code`; a UCUM unit is the `questionnaire-unit` extension. Texts are in English
//!   with the ja and de translations in the `translation` extension on `_text` (and on each
//!   answer option's `_display`).
//! - Skip logic: every item with a `show_if` keeps its expression in the extension
//!   [`SHOW_IF_EXTENSION`], and gets `enableWhen` where FHIR can say the same thing: a single
//!   test of a field against a literal (`=`, `!=`, `<`, `<=`, `>`, `>=`; `in (..)`; `not in
//!   (..)`; `contains`; `is empty`, `is not empty` as `exists`), or several such tests all
//!   joined by `and` (enableBehavior `all`) or all by `or` (`any`). Not expressible, so the item
//!   stays enabled and only the extension carries the condition: a mix of `and` and `or`,
//!   parentheses, `not (..)`, a comparison with another field or with `today`, an `in` list
//!   under `and` or a `not in` list under `or` (that would need nested logic), a literal that
//!   does not fit the question's type. Conditions of a section or a group are on its group item.
//! - A **QuestionnaireResponse** per case (id and identifier: the case id; `status`
//!   in-progress for a draft, completed once complete or signed; `authored` the repository's
//!   last update; the site in the extension [`SITE_EXTENSION`]) with the answered items in the
//!   Questionnaire's structure; each row of a repeating group is one repetition of the group
//!   item, whose element `id` is the row id. A stored value that does not fit its item (a code
//!   not in the list, text where a number belongs: data the devices synced despite the form)
//!   is left out of the response and the server logs the case and field (never the value).
//!   A date-time without a UTC offset cannot be a FHIR dateTime with a time: it is given as its
//!   date, with the value as entered in the `originalText` extension.
//! - An **Observation** per vital sign (a numeric field with a LOINC code and a UCUM unit in the
//!   section `vitals`; category `vital-signs`) and per lab value (the same, in the repeating
//!   group `labs`; category `laboratory`): `code` LOINC, `valueQuantity` in UCUM (system
//!   `http://unitsofmeasure.org`), `effectiveDateTime` the section's or row's date-time field,
//!   `status` preliminary for a draft case and final otherwise, `derivedFrom` its
//!   QuestionnaireResponse. Blood pressure is two Observations (systolic, diastolic), not the
//!   85354-9 panel. Observations have no `subject`: the export holds no Patient.
//!
//! Entries have `urn:uuid:` fullUrls derived from a SHA-256 of what they are (stable between
//! exports of the same data).
//!
//! A research export has no item for an identifying field (nor an enableWhen naming one), the
//! recipient's case pseudonym as the response's id and identifier (system
//! `urn:wardcrf:research-pseudonym`), row pseudonyms as the rows' ids, and fullUrls and
//! Observation ids derived from the pseudonyms.

use super::{
    ExportCase, ExportError, ExportOptions, case_ids, group_rows, iso_datetime, load_case, plain,
};
use crate::storage::Repository;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::io::Write;
use wardcrf_core::sync::HubStorage;
use wardcrf_core::{DateTime, FieldType, Form, FormField, Item, Lang, PartialDate, Text};

/// The LOINC code system.
const LOINC: &str = "http://loinc.org";
/// UCUM, the code system of units.
const UCUM: &str = "http://unitsofmeasure.org";
/// Translations of a string element (FHIR core extension).
const TRANSLATION: &str = "http://hl7.org/fhir/StructureDefinition/translation";
/// The unit of a numeric question (FHIR core extension).
const UNIT_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit";
/// A value as it was entered (FHIR core extension).
const ORIGINAL_TEXT: &str = "http://hl7.org/fhir/StructureDefinition/originalText";
/// An item's skip-logic expression in WardCRF's expression language, as the form states it.
pub const SHOW_IF_EXTENSION: &str = "urn:wardcrf:fhir:StructureDefinition:show-if";
/// The site a QuestionnaireResponse comes from.
pub const SITE_EXTENSION: &str = "urn:wardcrf:fhir:StructureDefinition:site";
/// Observation categories.
const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
/// The section whose numeric LOINC fields become vital-sign Observations.
const VITALS_SECTION: &str = "vitals";
/// The repeating group whose numeric LOINC fields become laboratory Observations.
const LABS_GROUP: &str = "labs";

/// The code system of a choice field's codes.
pub fn code_system(field: &str) -> String {
    format!("urn:wardcrf:codes:{field}")
}

/// The linkId of a section's group item.
pub fn section_link_id(section: &str) -> String {
    format!("section:{section}")
}

/// Writes the Bundle to `out`.
pub(super) fn write<S, W>(
    storage: &mut S,
    form: &Form,
    options: &ExportOptions,
    mut out: W,
) -> Result<W, ExportError>
where
    S: Repository + HubStorage,
    W: Write,
{
    let layout = Layout::new(form, options);
    let questionnaire = questionnaire(form, &layout, options);
    let canonical = format!("{}|{}", questionnaire_url(form), form.definition().version);
    let now = i64::try_from(options.now).unwrap_or(i64::MAX);
    writeln!(
        out,
        "{{\"resourceType\":\"Bundle\",\"id\":\"wardcrf-export-{}\",\"type\":\"collection\",\"timestamp\":\"{}\",\"entry\":[",
        options.now,
        iso_datetime(now)
    )?;
    entry(
        &mut out,
        &uuid_urn(&["questionnaire", form.form_id()]),
        &questionnaire,
        true,
    )?;
    for case_id in case_ids(storage, options.site.as_deref())? {
        let Some((case, _)) = load_case(storage, &case_id, form, options, false)? else {
            continue;
        };
        let case_key = options.case_key(&case.row.case_id);
        let response_url = uuid_urn(&["response", &case_key]);
        let response = response(&layout, &canonical, &case, &case_key, options);
        entry(&mut out, &response_url, &response, false)?;
        for (url, observation) in observations(form, &case, &case_key, &response_url, options) {
            entry(&mut out, &url, &observation, false)?;
        }
    }
    out.write_all(b"]}\n")?;
    out.flush()?;
    Ok(out)
}

fn entry<W: Write>(
    out: &mut W,
    url: &str,
    resource: &Value,
    first: bool,
) -> Result<(), ExportError> {
    if !first {
        out.write_all(b",\n")?;
    }
    write!(out, "{{\"fullUrl\":\"{url}\",\"resource\":")?;
    serde_json::to_writer(&mut *out, resource).map_err(std::io::Error::from)?;
    out.write_all(b"}")?;
    Ok(())
}

/// `urn:uuid:` with a UUID (version 8: custom) from the SHA-256 of `parts`.
fn uuid_urn(parts: &[&str]) -> String {
    format!("urn:uuid:{}", uuid(parts))
}

fn uuid(parts: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"wardcrf-fhir-export-v1");
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    let digest = ctx.finish();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A FHIR `id`: 1–64 of letters, digits, `-` and `.`.
fn is_fhir_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn questionnaire_url(form: &Form) -> String {
    format!("urn:wardcrf:questionnaire:{}", form.form_id())
}

/// A computable name (`[A-Z][A-Za-z0-9_]*`) from a form id: `icrown-core` → `IcrownCore`.
fn computable_name(form_id: &str) -> String {
    let mut name: String = form_id
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        name.insert_str(0, "Form");
    }
    name
}

/// The form's structure as the Questionnaire shows it: sections in order, each with its
/// case-level fields and repeating groups in the order the form lists them.
struct Layout<'a> {
    sections: Vec<SectionLayout<'a>>,
}

struct SectionLayout<'a> {
    id: String,
    label: Text,
    show_if: Option<String>,
    entries: Vec<Entry<'a>>,
}

enum Entry<'a> {
    Field(&'a FormField),
    Group {
        id: String,
        label: Text,
        show_if: Option<String>,
        fields: Vec<&'a FormField>,
    },
}

impl<'a> Layout<'a> {
    fn new(form: &'a Form, options: &ExportOptions) -> Layout<'a> {
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
        Layout { sections }
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

fn item_type(f: &FormField) -> &'static str {
    match f.def.kind {
        FieldType::Text => "string",
        FieldType::Integer => "integer",
        FieldType::Decimal => "decimal",
        FieldType::Date => "date",
        FieldType::Datetime => "dateTime",
        FieldType::Choice | FieldType::Multichoice => "choice",
        FieldType::Boolean => "boolean",
    }
}

/// The first token of a LOINC code as the form writes it (`94500-6 (SARS-CoV-2 RNA NAA)`).
fn loinc_code(f: &FormField) -> Option<&str> {
    f.def
        .codes
        .loinc
        .as_deref()
        .and_then(|c| c.split_whitespace().next())
        .filter(|c| !c.is_empty())
}

fn coding(f: &FormField, code: &str) -> Value {
    let mut c = Map::new();
    c.insert("system".into(), json!(code_system(f.id())));
    c.insert("code".into(), json!(code));
    if let Some(label) = f.choice_label(code) {
        put_text(&mut c, "display", label);
    }
    Value::Object(c)
}

fn questionnaire(form: &Form, layout: &Layout, options: &ExportOptions) -> Value {
    let def = form.definition();
    // The questions a condition may name: identifying ones are not in a research export.
    let fields = |id: &str| form.field(id).filter(|f| options.exported(f));
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
                    Entry::Field(f) => field_item(f, &fields),
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
                                    .map(|f| field_item(f, &fields))
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

fn field_item<'a>(f: &FormField, fields: &impl Fn(&str) -> Option<&'a FormField>) -> Value {
    let mut item = Map::new();
    item.insert("linkId".into(), json!(f.id()));
    put_text(&mut item, "text", &f.def.label);
    item.insert("type".into(), json!(item_type(f)));
    if f.required {
        item.insert("required".into(), json!(true));
    }
    if f.def.kind == FieldType::Multichoice {
        item.insert("repeats".into(), json!(true));
    }
    if f.def.kind == FieldType::Text {
        let max = f.def.max_length.unwrap_or(wardcrf_core::DEFAULT_MAX_TEXT);
        item.insert("maxLength".into(), json!(max.max(1)));
    }
    if let Some(loinc) = loinc_code(f) {
        item.insert("code".into(), json!([{"system": LOINC, "code": loinc}]));
    }
    if let Some(unit) = &f.def.unit
        && matches!(f.def.kind, FieldType::Integer | FieldType::Decimal)
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

/// Adds the show-if extension and, when expressible, `enableWhen` and `enableBehavior`.
fn skip_logic<'a>(
    item: &mut Map<String, Value>,
    show_if: Option<&str>,
    fields: &impl Fn(&str) -> Option<&'a FormField>,
) {
    let Some(expr) = show_if.map(str::trim).filter(|e| !e.is_empty()) else {
        return;
    };
    let ext = json!({"url": SHOW_IF_EXTENSION, "valueString": expr});
    match item.get_mut("extension").and_then(Value::as_array_mut) {
        Some(list) => list.push(ext),
        None => {
            item.insert("extension".into(), json!([ext]));
        }
    }
    if let Some((conditions, behavior)) = enable_when(expr, fields) {
        item.insert("enableWhen".into(), Value::Array(conditions));
        if let Some(b) = behavior {
            item.insert("enableBehavior".into(), json!(b));
        }
    }
}

/// A token of the expression language.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(String),
    Str(String),
    Sym(&'static str),
}

fn tokens(s: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(cs[start..i].iter().collect()));
        } else if c.is_ascii_digit()
            || (c == '-' && cs.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < cs.len() && (cs[i].is_ascii_digit() || cs[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(cs[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            let end = cs[i + 1..].iter().position(|&d| d == c)? + i + 1;
            out.push(Tok::Str(cs[i + 1..end].iter().collect()));
            i = end + 1;
        } else {
            let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
            let sym = match two.as_str() {
                "!=" => "!=",
                "<=" => "<=",
                ">=" => ">=",
                _ => match c {
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    _ => return None,
                },
            };
            i += sym.len();
            out.push(Tok::Sym(sym));
        }
    }
    Some(out)
}

/// One test of a field, as FHIR enableWhen conditions with how they combine.
struct Test {
    conditions: Vec<Value>,
    /// `Some("any")` for an `in` list, `Some("all")` for `not in`, `None` for one condition.
    combine: Option<&'static str>,
}

/// `enableWhen` for `expr`, or `None` when FHIR cannot express it (see the module docs).
fn enable_when<'a>(
    expr: &str,
    fields: &impl Fn(&str) -> Option<&'a FormField>,
) -> Option<(Vec<Value>, Option<&'static str>)> {
    let toks = tokens(expr)?;
    // Split on and/or at the top level; parentheses are not expressible.
    let mut tests: Vec<&[Tok]> = Vec::new();
    let mut joiner: Option<&str> = None;
    let mut start = 0;
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Sym("(") => depth += 1,
            Tok::Sym(")") => depth = depth.checked_sub(1)?,
            Tok::Ident(w) if depth == 0 && (w == "and" || w == "or") => {
                if joiner.is_some_and(|j| j != w) {
                    return None;
                }
                joiner = Some(if w == "and" { "and" } else { "or" });
                tests.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    tests.push(&toks[start..]);
    let mut conditions = Vec::new();
    for t in &tests {
        let test = simple_test(t, fields)?;
        match (test.combine, joiner) {
            (Some("any"), Some("and")) | (Some("all"), Some("or")) => return None,
            _ => {}
        }
        conditions.extend(test.conditions);
        if joiner.is_none() {
            let behavior = if conditions.len() > 1 {
                test.combine
            } else {
                None
            };
            return Some((conditions, behavior));
        }
    }
    let behavior = match joiner {
        Some("or") => Some("any"),
        _ => Some("all"),
    };
    let behavior = if conditions.len() > 1 { behavior } else { None };
    Some((conditions, behavior))
}

fn simple_test<'a>(t: &[Tok], fields: &impl Fn(&str) -> Option<&'a FormField>) -> Option<Test> {
    let Some(Tok::Ident(name)) = t.first() else {
        return None;
    };
    let field = fields(name)?;
    let rest = &t[1..];
    let cond = |op: &str, answer: (String, Value)| {
        let mut m = Map::new();
        m.insert("question".into(), json!(field.id()));
        m.insert("operator".into(), json!(op));
        m.insert(answer.0, answer.1);
        Value::Object(m)
    };
    let ident = |i: usize, w: &str| matches!(rest.get(i), Some(Tok::Ident(x)) if x == w);
    // is [not] empty
    if ident(0, "is") {
        let (exists, next) = if ident(1, "not") {
            (true, 2)
        } else {
            (false, 1)
        };
        if ident(next, "empty") && rest.len() == next + 1 {
            return Some(Test {
                conditions: vec![cond("exists", ("answerBoolean".into(), json!(exists)))],
                combine: None,
            });
        }
        return None;
    }
    // [not] in (lit, ...)
    let (negated, in_at) = if ident(0, "not") {
        (true, 1)
    } else {
        (false, 0)
    };
    if ident(in_at, "in") {
        let list = &rest[in_at + 1..];
        if list.first() != Some(&Tok::Sym("(")) || list.last() != Some(&Tok::Sym(")")) {
            return None;
        }
        let inner = &list[1..list.len() - 1];
        let mut conditions = Vec::new();
        for (i, tok) in inner.iter().enumerate() {
            if i % 2 == 1 {
                if tok != &Tok::Sym(",") {
                    return None;
                }
                continue;
            }
            let answer = literal(field, tok)?;
            conditions.push(cond(if negated { "!=" } else { "=" }, answer));
        }
        if conditions.is_empty() {
            return None;
        }
        let combine = if conditions.len() > 1 {
            Some(if negated { "all" } else { "any" })
        } else {
            None
        };
        return Some(Test {
            conditions,
            combine,
        });
    }
    if rest.len() != 2 {
        return None;
    }
    let op = match &rest[0] {
        Tok::Ident(w) if w == "contains" && field.def.kind == FieldType::Multichoice => "=",
        Tok::Sym(s @ ("=" | "!=")) => s,
        Tok::Sym(s @ ("<" | "<=" | ">" | ">="))
            if matches!(
                field.def.kind,
                FieldType::Integer | FieldType::Decimal | FieldType::Date
            ) =>
        {
            s
        }
        _ => return None,
    };
    if field.def.kind == FieldType::Multichoice && op != "=" {
        return None;
    }
    let answer = literal(field, &rest[1])?;
    Some(Test {
        conditions: vec![cond(op, answer)],
        combine: None,
    })
}

/// The enableWhen answer for a literal compared with `field`.
fn literal(field: &FormField, tok: &Tok) -> Option<(String, Value)> {
    let text = match tok {
        Tok::Num(n) | Tok::Str(n) => n.clone(),
        Tok::Ident(w) if w == "true" || w == "false" => w.clone(),
        _ => return None,
    };
    match field.def.kind {
        FieldType::Choice | FieldType::Multichoice => {
            field.choice_label(&text)?;
            Some((
                "answerCoding".into(),
                json!({"system": code_system(field.id()), "code": text}),
            ))
        }
        FieldType::Integer => {
            let Tok::Num(_) = tok else { return None };
            let n: i32 = text.parse().ok()?;
            Some(("answerInteger".into(), json!(n)))
        }
        FieldType::Decimal => {
            let Tok::Num(_) = tok else { return None };
            let n: f64 = text.parse().ok()?;
            Some(("answerDecimal".into(), json!(n)))
        }
        FieldType::Boolean => match text.as_str() {
            "true" => Some(("answerBoolean".into(), json!(true))),
            "false" => Some(("answerBoolean".into(), json!(false))),
            _ => None,
        },
        FieldType::Text => {
            let Tok::Str(_) = tok else { return None };
            (!text.is_empty()).then(|| ("answerString".into(), json!(text)))
        }
        FieldType::Date => {
            let Tok::Str(_) = tok else { return None };
            let d = fhir_date(&text)?;
            Some(("answerDate".into(), json!(d)))
        }
        FieldType::Datetime => None,
    }
}

/// A date as FHIR writes it (`2024`, `2024-03`, `2024-03-05`), when it is one.
fn fhir_date(s: &str) -> Option<String> {
    let d = PartialDate::parse(s).ok()?;
    (d.year >= 1).then(|| d.to_string())
}

/// A date-time as a FHIR dateTime, and the value as entered when FHIR cannot hold it whole
/// (no UTC offset: only the date is a valid FHIR dateTime).
fn fhir_datetime(s: &str) -> Option<(String, Option<String>)> {
    let t = DateTime::parse(s).ok()?;
    if t.date.year < 1 {
        return None;
    }
    let date = t.date.to_string();
    let (h, m, sec) = (t.seconds / 3600, t.seconds / 60 % 60, t.seconds % 60);
    match t.offset_minutes {
        Some(0) => Some((format!("{date}T{h:02}:{m:02}:{sec:02}Z"), None)),
        Some(off) if off.unsigned_abs() < 14 * 60 || off.unsigned_abs() == 14 * 60 => {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            Some((
                format!(
                    "{date}T{h:02}:{m:02}:{sec:02}{sign}{:02}:{:02}",
                    a / 60,
                    a % 60
                ),
                None,
            ))
        }
        _ => Some((date, Some(s.to_string()))),
    }
}

/// The answers (`[{"valueX": ..}]`) of a stored value for `f`, or `None` when the value does
/// not fit the item.
fn answers(f: &FormField, stored: &Value) -> Option<Vec<Value>> {
    let v = plain(stored);
    let code_of = |c: &Value| match c {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let one = |key: &str, value: Value| Some(vec![json!({ key: value })]);
    match f.def.kind {
        FieldType::Text => match v {
            Value::String(s) if !s.is_empty() => one("valueString", json!(s)),
            _ => None,
        },
        FieldType::Integer => {
            let n = v
                .as_i64()
                .or_else(|| v.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))?;
            let n = i32::try_from(n).ok()?;
            one("valueInteger", json!(n))
        }
        FieldType::Decimal => match v {
            Value::Number(n) => one("valueDecimal", Value::Number(n.clone())),
            _ => None,
        },
        FieldType::Date => one("valueDate", json!(fhir_date(v.as_str()?)?)),
        FieldType::Datetime => {
            let (value, entered) = fhir_datetime(v.as_str()?)?;
            let mut a = Map::new();
            a.insert("valueDateTime".into(), json!(value));
            if let Some(entered) = entered {
                a.insert("_valueDateTime".into(), original_text(&entered));
            }
            Some(vec![Value::Object(a)])
        }
        FieldType::Boolean => one("valueBoolean", json!(v.as_bool()?)),
        FieldType::Choice => {
            let code = code_of(v)?;
            f.choice_label(&code)?;
            one("valueCoding", coding(f, &code))
        }
        FieldType::Multichoice => {
            let codes = v.as_array()?;
            let mut out = Vec::with_capacity(codes.len());
            for c in codes {
                let code = code_of(c)?;
                f.choice_label(&code)?;
                out.push(json!({"valueCoding": coding(f, &code)}));
            }
            (!out.is_empty()).then_some(out)
        }
    }
}

fn original_text(entered: &str) -> Value {
    json!({"extension": [{"url": ORIGINAL_TEXT, "valueString": entered}]})
}

/// The response item of one answered field; `None` (and a log line) when its value does not
/// fit; `None` silently when there is no value.
fn answer_item(case_id: &str, f: &FormField, stored: Option<&Value>) -> Option<Value> {
    let stored = stored.filter(|v| !plain(v).is_null())?;
    match answers(f, stored) {
        Some(a) => Some(json!({"linkId": f.id(), "answer": a})),
        None => {
            eprintln!(
                "warning: FHIR export: case {case_id}: the value of {} does not fit its item and is left out",
                f.id()
            );
            None
        }
    }
}

fn response(
    layout: &Layout,
    canonical: &str,
    case: &ExportCase,
    case_key: &str,
    options: &ExportOptions,
) -> Value {
    let (row, values) = (&case.row, &case.values);
    let case_id = row.case_id.as_str();
    let mut sections = Vec::new();
    for s in &layout.sections {
        let mut items = Vec::new();
        for e in &s.entries {
            match e {
                Entry::Field(f) => items.extend(answer_item(case_id, f, values.get(f.id()))),
                Entry::Group { id, fields, .. } => {
                    for (row_id, row_values) in group_rows(values, id) {
                        let answered: Vec<Value> = fields
                            .iter()
                            .filter_map(|f| answer_item(case_id, f, row_values.get(f.id())))
                            .collect();
                        if answered.is_empty() {
                            continue;
                        }
                        let mut g = Map::new();
                        let row_key = options.row_key(row_id);
                        if !row_key.is_empty() && !row_key.chars().any(char::is_whitespace) {
                            g.insert("id".into(), json!(row_key));
                        }
                        g.insert("linkId".into(), json!(id));
                        g.insert("item".into(), Value::Array(answered));
                        items.push(Value::Object(g));
                    }
                }
            }
        }
        if !items.is_empty() {
            sections.push(json!({"linkId": section_link_id(&s.id), "item": items}));
        }
    }
    let mut r = Map::new();
    r.insert("resourceType".into(), json!("QuestionnaireResponse"));
    let id = if is_fhir_id(case_key) {
        case_key.to_string()
    } else {
        uuid(&["response", case_key])
    };
    r.insert("id".into(), json!(id));
    r.insert(
        "extension".into(),
        json!([{"url": SITE_EXTENSION, "valueString": row.site_id}]),
    );
    let system = if options.research.is_some() {
        "urn:wardcrf:research-pseudonym"
    } else {
        "urn:wardcrf:case"
    };
    r.insert(
        "identifier".into(),
        json!({"system": system, "value": case_key}),
    );
    r.insert("questionnaire".into(), json!(canonical));
    r.insert(
        "status".into(),
        json!(if row.status == "draft" {
            "in-progress"
        } else {
            "completed"
        }),
    );
    if row.updated_at > 0 {
        r.insert(
            "authored".into(),
            json!(iso_datetime(i64::try_from(row.updated_at).unwrap_or(0))),
        );
    }
    if !sections.is_empty() {
        r.insert("item".into(), Value::Array(sections));
    }
    Value::Object(r)
}

/// Whether `f` becomes an Observation, and its category code and display.
fn observation_category(f: &FormField) -> Option<(&'static str, &'static str)> {
    if !matches!(f.def.kind, FieldType::Integer | FieldType::Decimal)
        || f.def.unit.is_none()
        || loinc_code(f).is_none()
    {
        return None;
    }
    match f.group.as_deref() {
        None if f.section == VITALS_SECTION => Some(("vital-signs", "Vital Signs")),
        Some(LABS_GROUP) => Some(("laboratory", "Laboratory")),
        _ => None,
    }
}

fn observations(
    form: &Form,
    case: &ExportCase,
    case_key: &str,
    response_url: &str,
    options: &ExportOptions,
) -> Vec<(String, Value)> {
    let (row, values) = (&case.row, &case.values);
    let status = if row.status == "draft" {
        "preliminary"
    } else {
        "final"
    };
    let mut out = Vec::new();
    let mut one = |f: &FormField, stored: Option<&Value>, when: Option<&Value>, row_id: &str| {
        let Some((category, display)) = observation_category(f).filter(|_| options.exported(f))
        else {
            return;
        };
        let Some(Value::Number(n)) = stored.map(plain) else {
            return;
        };
        let (Some(unit), Some(loinc)) = (f.def.unit.as_deref(), loinc_code(f)) else {
            return;
        };
        if stored.and_then(super::unit_of).is_some_and(|u| u != unit) {
            return; // stored values are in the field's unit; anything else is not trusted
        }
        let id = uuid(&["observation", case_key, &options.row_key(row_id), f.id()]);
        let mut o = Map::new();
        o.insert("resourceType".into(), json!("Observation"));
        o.insert("id".into(), json!(id));
        o.insert("status".into(), json!(status));
        o.insert(
            "category".into(),
            json!([{"coding": [{"system": CATEGORY_SYSTEM, "code": category, "display": display}]}]),
        );
        o.insert(
            "code".into(),
            json!({"coding": [{"system": LOINC, "code": loinc}], "text": f.def.label.get(Lang::En)}),
        );
        if let Some((t, entered)) = when
            .map(plain)
            .and_then(Value::as_str)
            .and_then(fhir_datetime)
        {
            o.insert("effectiveDateTime".into(), json!(t));
            if let Some(entered) = entered {
                o.insert("_effectiveDateTime".into(), original_text(&entered));
            }
        }
        o.insert(
            "valueQuantity".into(),
            json!({"value": n, "unit": unit, "system": UCUM, "code": unit}),
        );
        o.insert("derivedFrom".into(), json!([{"reference": response_url}]));
        out.push((format!("urn:uuid:{id}"), Value::Object(o)));
    };
    let when_field = |group: Option<&str>, section: &str| {
        form.fields_in(group)
            .find(|f| {
                f.def.kind == FieldType::Datetime && (group.is_some() || f.section == section)
            })
            .map(|f| f.id().to_string())
    };
    let vitals_when = when_field(None, VITALS_SECTION);
    for f in form.fields_in(None) {
        let when = vitals_when.as_deref().and_then(|w| values.get(w));
        one(f, values.get(f.id()), when, "");
    }
    let labs_when = when_field(Some(LABS_GROUP), "");
    for (row_id, row_values) in group_rows(values, LABS_GROUP) {
        let when = labs_when.as_deref().and_then(|w| row_values.get(w));
        for f in form.fields_in(Some(LABS_GROUP)) {
            one(f, row_values.get(f.id()), when, row_id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardcrf_core::Catalog;

    fn form() -> Form {
        super::super::export_form(&Catalog::bundled().unwrap()).unwrap()
    }

    fn ew(form: &Form, expr: &str) -> Option<(Vec<Value>, Option<&'static str>)> {
        enable_when(expr, &|id| form.field(id))
    }

    #[test]
    fn simple_skip_logic_becomes_enable_when() {
        let form = form();
        let (c, b) = ew(&form, "sex_at_birth in (2, 3)").unwrap();
        assert_eq!(b, Some("any"));
        assert_eq!(c.len(), 2);
        assert_eq!(c[1]["answerCoding"]["code"], "3");
        assert_eq!(
            c[1]["answerCoding"]["system"],
            "urn:wardcrf:codes:sex_at_birth"
        );
        let (c, b) = ew(&form, "age_years >= 15").unwrap();
        assert_eq!((b, c[0]["operator"].as_str()), (None, Some(">=")));
        assert_eq!(c[0]["answerInteger"], 15);
        let (c, _) = ew(&form, "med_dose is not empty").unwrap();
        assert_eq!(c[0]["operator"], "exists");
        assert_eq!(c[0]["answerBoolean"], true);
        let (c, b) = ew(
            &form,
            "amr_episode_type = 1 and amr_infection_site not in (1, 2)",
        )
        .unwrap();
        assert_eq!((c.len(), b), (3, Some("all")));
        let (c, b) = ew(
            &form,
            "amr_phenotype contains 4 or amr_phenotype contains 5",
        )
        .unwrap();
        assert_eq!((c.len(), b), (2, Some("any")));
        assert_eq!(c[0]["operator"], "=");
        let (c, _) = ew(&form, "hepatitis_child_peak_inr >= 1.5").unwrap();
        assert_eq!(c[0]["answerDecimal"], 1.5);
        let (c, _) = ew(
            &form,
            "test_result = 1 and test_pathogen != 'bacterial_culture'",
        )
        .unwrap();
        assert_eq!(c[1]["answerCoding"]["code"], "bacterial_culture");
    }

    #[test]
    fn nested_or_unknown_skip_logic_is_not_expressed() {
        let form = form();
        for expr in [
            "(proc_imv = 1 or proc_niv = 1) and sari_pf_ratio_lowest is not empty",
            "test_pathogen = 'bacterial_culture' or (test_method = 3 and test_pathogen is empty)",
            "sex_at_birth in (2, 3) and age_years > 10",
            "outcome_date > today",
            "vs_sbp > vs_dbp",
            "no_such_field = 1",
            "sex_at_birth = 77",
            "not (sex_at_birth = 2)",
        ] {
            assert!(ew(&form, expr).is_none(), "{expr}");
        }
    }

    #[test]
    fn datetimes_without_offset_keep_the_entered_value() {
        assert_eq!(
            fhir_datetime("2024-03-01T10:30"),
            Some(("2024-03-01".into(), Some("2024-03-01T10:30".into())))
        );
        assert_eq!(
            fhir_datetime("2024-03-01T10:30+09:00"),
            Some(("2024-03-01T10:30:00+09:00".into(), None))
        );
        assert_eq!(
            fhir_datetime("2024-03-01T10:30:05Z"),
            Some(("2024-03-01T10:30:05Z".into(), None))
        );
        assert_eq!(fhir_date("2022-03").as_deref(), Some("2022-03"));
        assert_eq!(fhir_date("yesterday"), None);
    }

    #[test]
    fn uuids_are_well_formed_and_stable() {
        let a = uuid(&["response", "abc"]);
        assert_eq!(a, uuid(&["response", "abc"]));
        assert_ne!(a, uuid(&["response", "abd"]));
        assert_ne!(uuid(&["ab", "c"]), uuid(&["a", "bc"]));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
        assert!(is_fhir_id(&a));
        assert_eq!(computable_name("icrown-core"), "IcrownCore");
    }
}
