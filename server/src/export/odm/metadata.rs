//! The ODM `Study`: GlobalVariables, the measurement units, and the MetaDataVersion of the
//! export form (item groups per section and repeating group, ItemDefs with their questions,
//! range checks and aliases, CodeLists).

use super::*;
use crate::export::{ExportError, ExportOptions};
use std::collections::BTreeSet;
use std::io::Write;
use wardcrf_core::{Codes, FieldType, Form, FormField, Lang, Limits, Text};

pub(super) fn study<W: Write>(
    x: &mut Xml<W>,
    form: &Form,
    oids: &Oids,
    options: &ExportOptions,
) -> Result<(), ExportError> {
    let def = form.definition();
    x.open("Study", &[("OID", &oids.study)])?;
    x.open("GlobalVariables", &[])?;
    x.text_element("StudyName", &[], def.title.get(Lang::En))?;
    let description = def
        .description
        .as_ref()
        .map_or_else(|| def.title.get(Lang::En), |d| d.get(Lang::En));
    x.text_element("StudyDescription", &[], description)?;
    x.text_element("ProtocolName", &[], &def.form_id)?;
    x.close()?;

    let units: BTreeSet<&str> = form
        .fields()
        .iter()
        .filter_map(|f| f.def.unit.as_deref())
        .collect();
    if !units.is_empty() {
        x.open("BasicDefinitions", &[])?;
        for unit in &units {
            x.open(
                "MeasurementUnit",
                &[("OID", &unit_oid(unit)), ("Name", unit)],
            )?;
            x.open("Symbol", &[])?;
            x.text_element("TranslatedText", &[("xml:lang", "en")], unit)?;
            x.close()?;
            x.empty("Alias", &[("Context", "UCUM"), ("Name", unit)])?;
            x.close()?;
        }
        x.close()?;
    }

    let parts: Vec<String> = form
        .parts()
        .iter()
        .map(|(id, version)| format!("{id} {version}"))
        .collect();
    x.open(
        "MetaDataVersion",
        &[
            ("OID", &oids.mdv),
            ("Name", &format!("{} {}", def.form_id, def.version)),
            ("Description", &parts.join(", ")),
        ],
    )?;
    x.open("Protocol", &[])?;
    x.empty(
        "StudyEventRef",
        &[("StudyEventOID", STUDY_EVENT_OID), ("Mandatory", "Yes")],
    )?;
    x.close()?;
    x.open(
        "StudyEventDef",
        &[
            ("OID", STUDY_EVENT_OID),
            ("Name", "Case"),
            ("Repeating", "No"),
            ("Type", "Scheduled"),
        ],
    )?;
    x.empty("FormRef", &[("FormOID", &oids.form), ("Mandatory", "Yes")])?;
    x.close()?;

    let sections = sections(form, options);
    x.open(
        "FormDef",
        &[
            ("OID", &oids.form),
            ("Name", def.title.get(Lang::En)),
            ("Repeating", "No"),
        ],
    )?;
    translated(x, "Description", &def.title)?;
    x.empty(
        "ItemGroupRef",
        &[("ItemGroupOID", CASE_GROUP_OID), ("Mandatory", "Yes")],
    )?;
    for (section, _) in &sections {
        x.empty(
            "ItemGroupRef",
            &[("ItemGroupOID", &section_oid(section)), ("Mandatory", "No")],
        )?;
    }
    for g in form.groups() {
        x.empty(
            "ItemGroupRef",
            &[("ItemGroupOID", &group_oid(&g.id)), ("Mandatory", "No")],
        )?;
    }
    x.close()?;

    case_group_def(x)?;
    for (section, fields) in &sections {
        let label = def
            .sections
            .iter()
            .find(|s| &s.id == section)
            .map(|s| &s.label);
        item_group_def(x, &section_oid(section), section, false, label, fields)?;
    }
    for g in form.groups() {
        let fields: Vec<&FormField> = form
            .fields_in(Some(&g.id))
            .filter(|f| options.exported(f))
            .collect();
        item_group_def(x, &group_oid(&g.id), &g.id, true, Some(&g.label), &fields)?;
    }
    case_item_defs(x)?;
    for f in form.fields().iter().filter(|f| options.exported(f)) {
        item_def(x, f, options.top_codes(form, f))?;
    }
    for f in form.fields().iter().filter(|f| options.exported(f)) {
        if !f.choices.is_empty() {
            x.open(
                "CodeList",
                &[
                    ("OID", &codelist_oid(f.id())),
                    ("Name", f.id()),
                    ("DataType", "text"),
                ],
            )?;
            for c in &f.choices {
                x.open("CodeListItem", &[("CodedValue", &c.code)])?;
                translated(x, "Decode", &c.label)?;
                aliases(x, &c.codes)?;
                x.close()?;
            }
            x.close()?;
        }
    }
    x.open(
        "CodeList",
        &[
            ("OID", STATUS_CODES_OID),
            ("Name", "case_status"),
            ("DataType", "text"),
        ],
    )?;
    for (code, label) in [
        ("draft", Text::new("Draft", "下書き", "Entwurf")),
        ("complete", Text::new("Complete", "入力完了", "Vollständig")),
        ("signed", Text::new("Signed", "署名済み", "Signiert")),
    ] {
        x.open("CodeListItem", &[("CodedValue", code)])?;
        translated(x, "Decode", &label)?;
        x.close()?;
    }
    x.close()?;
    x.close()?; // MetaDataVersion
    x.close() // Study
}

/// IG.CASE: the case's status and deletion as items (their changes are in the audit trail too).
fn case_group_def<W: Write>(x: &mut Xml<W>) -> Result<(), ExportError> {
    x.open(
        "ItemGroupDef",
        &[
            ("OID", CASE_GROUP_OID),
            ("Name", "case"),
            ("Repeating", "No"),
        ],
    )?;
    x.empty("ItemRef", &[("ItemOID", STATUS_OID), ("Mandatory", "Yes")])?;
    x.empty("ItemRef", &[("ItemOID", DELETED_OID), ("Mandatory", "No")])?;
    x.close()
}

/// The ItemDefs of IG.CASE.
fn case_item_defs<W: Write>(x: &mut Xml<W>) -> Result<(), ExportError> {
    x.open(
        "ItemDef",
        &[
            ("OID", STATUS_OID),
            ("Name", "case_status"),
            ("DataType", "text"),
            ("Length", "8"),
        ],
    )?;
    translated(
        x,
        "Question",
        &Text::new("Case status", "症例の状態", "Status des Falls"),
    )?;
    x.empty("CodeListRef", &[("CodeListOID", STATUS_CODES_OID)])?;
    x.close()?;
    x.open(
        "ItemDef",
        &[
            ("OID", DELETED_OID),
            ("Name", "case_deleted"),
            ("DataType", "boolean"),
        ],
    )?;
    translated(
        x,
        "Question",
        &Text::new("Case deleted", "症例の削除", "Fall gelöscht"),
    )?;
    x.close()
}

fn item_group_def<W: Write>(
    x: &mut Xml<W>,
    oid: &str,
    name: &str,
    repeating: bool,
    label: Option<&Text>,
    fields: &[&FormField],
) -> Result<(), ExportError> {
    x.open(
        "ItemGroupDef",
        &[
            ("OID", oid),
            ("Name", name),
            ("Repeating", if repeating { "Yes" } else { "No" }),
        ],
    )?;
    if let Some(label) = label {
        translated(x, "Description", label)?;
    }
    for f in fields {
        x.empty(
            "ItemRef",
            &[
                ("ItemOID", &item_oid(f.id())),
                ("Mandatory", if f.required { "Yes" } else { "No" }),
            ],
        )?;
    }
    x.close()
}

fn data_type(f: &FormField) -> &'static str {
    match f.def.kind {
        FieldType::Text | FieldType::Choice | FieldType::Multichoice => "text",
        FieldType::Integer => "integer",
        FieldType::Decimal => "float",
        FieldType::Date if f.def.partial_date => "partialDate",
        FieldType::Date => "date",
        FieldType::Datetime => "datetime",
        FieldType::Boolean => "boolean",
    }
}

/// The ItemDef of `f`; `top_coded`: the age of a research export, text (`62`, `90+`) without
/// range checks.
fn item_def<W: Write>(x: &mut Xml<W>, f: &FormField, top_coded: bool) -> Result<(), ExportError> {
    let length = match f.def.kind {
        _ if top_coded => Some(TOP_CODED_LENGTH),
        FieldType::Text => Some(f.def.max_length.unwrap_or(wardcrf_core::DEFAULT_MAX_TEXT)),
        _ => None,
    }
    .map(|n| n.max(1).to_string());
    let data_type = if top_coded { "text" } else { data_type(f) };
    let mut attrs = vec![
        ("OID", item_oid(f.id())),
        ("Name", f.id().to_string()),
        ("DataType", data_type.to_string()),
    ];
    if let Some(length) = length {
        attrs.push(("Length", length));
    }
    let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    x.open("ItemDef", &attrs)?;
    if let Some(help) = &f.def.help {
        translated(x, "Description", help)?;
    }
    translated(x, "Question", &f.def.label)?;
    if let Some(unit) = &f.def.unit {
        x.empty(
            "MeasurementUnitRef",
            &[("MeasurementUnitOID", &unit_oid(unit))],
        )?;
    }
    for (limits, soft_hard) in [(f.def.hard, "Hard"), (f.def.soft, "Soft")] {
        if let Some(limits) = limits.filter(|_| !top_coded) {
            range_checks(x, &limits, soft_hard, f.def.unit.as_deref())?;
        }
    }
    if !f.choices.is_empty() && f.def.kind != FieldType::Multichoice {
        x.empty("CodeListRef", &[("CodeListOID", &codelist_oid(f.id()))])?;
    }
    aliases(x, &f.def.codes)?;
    x.close()
}

/// The longest top-coded age: `90+`, or up to 89 years.
const TOP_CODED_LENGTH: u32 = 3;

/// An `Alias` per standard code (`Context` LOINC, SNOMED-CT, ICD-10, ICD-10-GM, ATC, in that
/// order), then the CDASH variable: of an ItemDef, or of a CodeListItem (the codes of a choice).
pub(super) fn aliases<W: Write>(x: &mut Xml<W>, codes: &Codes) -> Result<(), ExportError> {
    for (system, code) in codes.coded() {
        x.empty(
            "Alias",
            &[("Context", system.odm_context()), ("Name", code)],
        )?;
    }
    if let Some(cdash) = &codes.cdash {
        x.empty("Alias", &[("Context", "CDASH"), ("Name", cdash)])?;
    }
    Ok(())
}

fn range_checks<W: Write>(
    x: &mut Xml<W>,
    limits: &Limits,
    soft_hard: &str,
    unit: Option<&str>,
) -> Result<(), ExportError> {
    for (bound, comparator) in [(limits.min, "GE"), (limits.max, "LE")] {
        let Some(bound) = bound else { continue };
        x.open(
            "RangeCheck",
            &[("Comparator", comparator), ("SoftHard", soft_hard)],
        )?;
        x.text_element("CheckValue", &[], &number(bound))?;
        if let Some(unit) = unit {
            x.empty(
                "MeasurementUnitRef",
                &[("MeasurementUnitOID", &unit_oid(unit))],
            )?;
        }
        x.close()?;
    }
    Ok(())
}

/// A limit as ODM text: integers without a fraction (`30`, not `30.0`).
pub(super) fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// `<name>` with a TranslatedText per language.
fn translated<W: Write>(x: &mut Xml<W>, name: &str, text: &Text) -> Result<(), ExportError> {
    x.open(name, &[])?;
    for lang in Lang::ALL {
        x.text_element(
            "TranslatedText",
            &[("xml:lang", lang.code())],
            text.get(lang),
        )?;
    }
    x.close()
}
