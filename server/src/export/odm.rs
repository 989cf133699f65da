//! The CDISC ODM 1.3.2 export: one XML document (FileType `Transactional`) valid against the
//! ODM 1.3.2 schema (`server/reference/odm-1.3.2/ODM1-3-2.xsd`).
//!
//! - `Study`: GlobalVariables, BasicDefinitions (a MeasurementUnit per UCUM unit of the form)
//!   and one MetaDataVersion: Protocol → StudyEventDef `SE.CASE` → FormDef `F.<form>` →
//!   ItemGroupDef `IG.CASE` (the case's own state: `I.CASE.status` with CodeList
//!   `CL.CASE.status`, `I.CASE.deleted`), `IG.SEC.<section>` (the section's case-level fields,
//!   `Repeating="No"`) and `IG.GRP.<group>` (each repeating group, `Repeating="Yes"`) → ItemDef
//!   `I.<field>` with Description (help), Question (label) in en/ja/de, MeasurementUnitRef,
//!   RangeCheck (`SoftHard="Hard"` for hard limits, `"Soft"` for soft ones), CodeListRef and
//!   Alias (`LOINC`, `CDASH`); CodeList `CL.<field>` with Decode en/ja/de per choice.
//!   DataTypes: text → text, integer → integer, decimal → float (ODM has no decimal), date →
//!   date (partialDate for fields that accept partial dates), datetime → datetime, choice →
//!   text with its CodeList, multichoice → text holding the codes joined by `;` (no
//!   CodeListRef: the value is not a single code of the list), boolean → boolean.
//! - `AdminData`: a User `USR.<name>` per user in the exported audit records, a Location
//!   `LOC.SITE.<site>` per site and `LOC.DEV.<device>` per device (the automerge actor of the
//!   device store that made a change).
//! - `ClinicalData`: the case history as transactions. A SubjectData per case (SubjectKey:
//!   the case id; SiteRef its site; `TransactionType="Insert"` with the AuditRecord of the
//!   change that created the case), one StudyEventData and FormData (`Upsert`), then:
//!   - `IG.CASE`: the status `draft` at creation, then every status change, deletion and
//!     restoration, each an ItemData with its AuditRecord;
//!   - an ItemGroupData per section (`Upsert`) holding one ItemData per change of one of its
//!     fields, in history order: `Insert` (first value), `Update` (a new value, a conflict
//!     resolved), `Remove` (cleared, no Value), each with its own AuditRecord (UserRef,
//!     LocationRef the device, DateTimeStamp, ReasonForChange when one was given, SourceID the
//!     automerge change hash) and the MeasurementUnitRef of a value in the field's unit;
//!   - per row of a repeating group (ItemGroupRepeatKey: the row id): an ItemGroupData
//!     `Insert` with the AuditRecord of the change that added the row and an ItemData `Insert`
//!     per value it was added with, then the row's later changes as above; a removed row gets
//!     a second ItemGroupData `Remove` with the AuditRecord of its removal.
//!
//! Where the current value of an item is not the one its last change left (concurrent values
//! still in conflict, a value computed for a research export), an `Upsert` ItemData without
//! AuditRecord closes the item, so that applying the transactions in order gives the
//! repository's current values.
//!
//! A research export has no ItemDef, ItemRef or CodeList for an identifying field (and so no
//! ItemData of one), the recipient's pseudonyms as SubjectKey, ItemGroupRepeatKey, user and
//! device (`USR.<pseudonym>`, `LOC.DEV.<pseudonym>`), and audit records without
//! ReasonForChange (free text) and SourceID (the change hash, the same in every export). The
//! age at admission computed from the date of birth is a closing `Upsert` without audit record.
//!
//! AdminData must precede ClinicalData, but its users and devices are known only once every
//! case is read: ClinicalData is written to an anonymous temporary file first and copied
//! after the AdminData.

use super::{
    ExportCase, ExportError, ExportOptions, answer_text, case_ids, group_rows, iso_date,
    iso_datetime, load_case, plain, unit_of,
};
use crate::storage::Repository;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use wardcrf_core::sync::HubStorage;
use wardcrf_core::{FieldType, Form, FormField, HistoryEntry, Lang, Limits, Text};

/// The ODM namespace (1.3.x share it).
const ODM_NS: &str = "http://www.cdisc.org/ns/odm/v1.3";
/// The one study event every case is exported under.
const STUDY_EVENT_OID: &str = "SE.CASE";
/// The item group of a case's own state (status, deletion), not a form section.
const CASE_GROUP_OID: &str = "IG.CASE";
/// The case status (draft, complete, signed).
const STATUS_OID: &str = "I.CASE.status";
const STATUS_CODES_OID: &str = "CL.CASE.status";
/// Whether the case was deleted (a deletion undone shows as `true` then `false`).
const DELETED_OID: &str = "I.CASE.deleted";

/// Writes the ODM document to `out`.
pub(super) fn write<S, W>(
    storage: &mut S,
    form: &Form,
    options: &ExportOptions,
    out: W,
) -> Result<W, ExportError>
where
    S: Repository + HubStorage,
    W: Write,
{
    let oids = Oids::new(form);
    let audit = Audit { options };

    // ClinicalData first, into a spool file, noting who and which devices appear.
    let mut seen = Seen::default();
    let spool = {
        let mut x = Xml::new(BufWriter::new(tempfile::tempfile()?), 1);
        x.open(
            "ClinicalData",
            &[("StudyOID", &oids.study), ("MetaDataVersionOID", &oids.mdv)],
        )?;
        for case_id in case_ids(storage, options.site.as_deref())? {
            let Some((case, history)) = load_case(storage, &case_id, form, options, true)? else {
                continue;
            };
            seen.sites.insert(case.row.site_id.clone());
            subject(&mut x, form, &oids, &case, &history, &audit, &mut seen)?;
        }
        x.close()?;
        x.into_inner()
            .into_inner()
            .map_err(|e| ExportError::Io(e.into_error()))?
    };

    let mut x = Xml::new(out, 0);
    x.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")?;
    let created = iso_datetime(i64::try_from(options.now).unwrap_or(i64::MAX));
    let file_oid = format!("WardCRF.export.{}", options.now);
    x.open(
        "ODM",
        &[
            ("xmlns", ODM_NS),
            ("FileType", "Transactional"),
            ("FileOID", &file_oid),
            ("CreationDateTime", &created),
            ("ODMVersion", "1.3.2"),
            ("Originator", "WardCRF repository"),
            ("SourceSystem", "WardCRF"),
            ("SourceSystemVersion", env!("CARGO_PKG_VERSION")),
        ],
    )?;
    study(&mut x, form, &oids, options)?;
    admin_data(
        &mut x,
        &oids,
        &seen,
        &iso_date(i64::try_from(options.now).unwrap_or(0)),
    )?;
    let mut spool = spool;
    spool.seek(SeekFrom::Start(0))?;
    x.copy_from(&mut spool)?;
    x.close()?;
    x.finish()
}

/// The OIDs of the study-level definitions.
struct Oids {
    study: String,
    mdv: String,
    form: String,
}

impl Oids {
    fn new(form: &Form) -> Oids {
        let def = form.definition();
        Oids {
            study: format!("ST.{}", def.form_id),
            mdv: format!("MDV.{}.{}", def.form_id, def.version),
            form: format!("F.{}", def.form_id),
        }
    }
}

fn item_oid(field: &str) -> String {
    format!("I.{field}")
}
fn section_oid(section: &str) -> String {
    format!("IG.SEC.{section}")
}
fn group_oid(group: &str) -> String {
    format!("IG.GRP.{group}")
}
fn codelist_oid(field: &str) -> String {
    format!("CL.{field}")
}
fn unit_oid(unit: &str) -> String {
    format!("MU.{unit}")
}
fn user_oid(user: &str) -> String {
    format!("USR.{user}")
}
fn device_oid(device: &str) -> String {
    format!("LOC.DEV.{device}")
}
fn site_oid(site: &str) -> String {
    format!("LOC.SITE.{site}")
}

/// Who and where appear in the exported audit records, and which sites.
#[derive(Default)]
struct Seen {
    users: BTreeSet<String>,
    devices: BTreeSet<String>,
    sites: BTreeSet<String>,
}

/// The sections holding exported case-level fields, in form order: (section id, its fields).
fn sections<'a>(form: &'a Form, options: &ExportOptions) -> Vec<(String, Vec<&'a FormField>)> {
    form.definition()
        .sections
        .iter()
        .map(|s| {
            let fields: Vec<&FormField> = form
                .fields_in(None)
                .filter(|f| f.section == s.id && options.exported(f))
                .collect();
            (s.id.clone(), fields)
        })
        .filter(|(_, fields)| !fields.is_empty())
        .collect()
}

fn study<W: Write>(
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
        item_def(x, f)?;
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

fn item_def<W: Write>(x: &mut Xml<W>, f: &FormField) -> Result<(), ExportError> {
    let length = match f.def.kind {
        FieldType::Text => Some(f.def.max_length.unwrap_or(wardcrf_core::DEFAULT_MAX_TEXT)),
        _ => None,
    }
    .map(|n| n.max(1).to_string());
    let mut attrs = vec![
        ("OID", item_oid(f.id())),
        ("Name", f.id().to_string()),
        ("DataType", data_type(f).to_string()),
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
        if let Some(limits) = limits {
            range_checks(x, &limits, soft_hard, f.def.unit.as_deref())?;
        }
    }
    if !f.choices.is_empty() && f.def.kind != FieldType::Multichoice {
        x.empty("CodeListRef", &[("CodeListOID", &codelist_oid(f.id()))])?;
    }
    if let Some(loinc) = &f.def.codes.loinc {
        x.empty("Alias", &[("Context", "LOINC"), ("Name", loinc)])?;
    }
    if let Some(cdash) = &f.def.codes.cdash {
        x.empty("Alias", &[("Context", "CDASH"), ("Name", cdash)])?;
    }
    x.close()
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
fn number(v: f64) -> String {
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

fn admin_data<W: Write>(
    x: &mut Xml<W>,
    oids: &Oids,
    seen: &Seen,
    effective: &str,
) -> Result<(), ExportError> {
    if seen.users.is_empty() && seen.devices.is_empty() && seen.sites.is_empty() {
        return Ok(());
    }
    x.open("AdminData", &[("StudyOID", &oids.study)])?;
    for user in &seen.users {
        x.open("User", &[("OID", &user_oid(user))])?;
        x.text_element("LoginName", &[], user)?;
        x.close()?;
    }
    let locations = seen
        .sites
        .iter()
        .map(|s| (site_oid(s), format!("site {s}"), "Site"))
        .chain(
            seen.devices
                .iter()
                .map(|d| (device_oid(d), format!("device {d}"), "Other")),
        );
    for (oid, name, kind) in locations {
        x.open(
            "Location",
            &[("OID", &oid), ("Name", &name), ("LocationType", kind)],
        )?;
        x.empty(
            "MetaDataVersionRef",
            &[
                ("StudyOID", &oids.study),
                ("MetaDataVersionOID", &oids.mdv),
                ("EffectiveDate", effective),
            ],
        )?;
        x.close()?;
    }
    x.close()
}

/// How audit records are written: as they are, or (research) pseudonymised and without
/// free text or change hashes.
struct Audit<'a> {
    options: &'a ExportOptions,
}

/// One case as a SubjectData: its creation, then per item group every change in the order of
/// the case history, each ItemData with its own AuditRecord.
fn subject<W: Write>(
    x: &mut Xml<W>,
    form: &Form,
    oids: &Oids,
    case: &ExportCase,
    history: &[HistoryEntry],
    audit: &Audit,
    seen: &mut Seen,
) -> Result<(), ExportError> {
    let (site_id, values) = (case.row.site_id.as_str(), &case.values);
    let subject_key = audit.options.case_key(&case.row.case_id);
    let created = history.iter().find(|e| e.op == "create");
    x.open(
        "SubjectData",
        &[
            ("SubjectKey", &subject_key),
            (
                "TransactionType",
                if created.is_some() {
                    "Insert"
                } else {
                    "Upsert"
                },
            ),
        ],
    )?;
    if let Some(created) = created {
        audit_record(x, created, audit, seen)?;
    }
    x.empty("SiteRef", &[("LocationOID", &site_oid(site_id))])?;
    x.open(
        "StudyEventData",
        &[
            ("StudyEventOID", STUDY_EVENT_OID),
            ("TransactionType", "Upsert"),
        ],
    )?;
    x.open(
        "FormData",
        &[("FormOID", &oids.form), ("TransactionType", "Upsert")],
    )?;

    // The case's status (and deletions undone), as items of IG.CASE.
    x.open(
        "ItemGroupData",
        &[
            ("ItemGroupOID", CASE_GROUP_OID),
            ("TransactionType", "Upsert"),
        ],
    )?;
    let mut status = None;
    if let Some(created) = created {
        let value = Value::from("draft");
        change_item(
            x,
            STATUS_OID,
            "Insert",
            &value,
            None,
            Some(created),
            audit,
            seen,
        )?;
        status = Some(value);
    }
    for e in history {
        let (oid, value) = match e.op.as_str() {
            "status" | "reopen" => (STATUS_OID, e.new.clone().unwrap_or(Value::Null)),
            "delete" => (DELETED_OID, Value::Bool(true)),
            "restore" => (DELETED_OID, Value::Bool(false)),
            _ => continue,
        };
        change_item(x, oid, "Upsert", &value, None, Some(e), audit, seen)?;
        if oid == STATUS_OID {
            status = Some(value);
        }
    }
    let current = Value::from(case.row.status.as_str());
    if status.as_ref() != Some(&current) {
        change_item(x, STATUS_OID, "Upsert", &current, None, None, audit, seen)?;
    }
    x.close()?;

    for (section, fields) in sections(form, audit.options) {
        let changes: Vec<&HistoryEntry> = history
            .iter()
            .filter(|e| e.group.is_none() && is_value_change(e))
            .filter(|e| fields.iter().any(|f| e.field.as_deref() == Some(f.id())))
            .collect();
        let answered = fields
            .iter()
            .any(|f| values.get(f.id()).is_some_and(|v| !plain(v).is_null()));
        if changes.is_empty() && !answered {
            continue;
        }
        x.open(
            "ItemGroupData",
            &[
                ("ItemGroupOID", &section_oid(&section)),
                ("TransactionType", "Upsert"),
            ],
        )?;
        let mut last: HashMap<&str, Value> = HashMap::new();
        for e in changes {
            let Some(f) = fields.iter().find(|f| e.field.as_deref() == Some(f.id())) else {
                continue;
            };
            field_change(x, f, e, &mut last, audit, seen)?;
        }
        closing_values(x, &fields, values, &last, audit, seen)?;
        x.close()?;
    }

    for g in form.groups() {
        let fields: Vec<&FormField> = form
            .fields_in(Some(&g.id))
            .filter(|f| audit.options.exported(f))
            .collect();
        let current = group_rows(values, &g.id);
        // Every row the history or the values know, in the order it first appears.
        let mut row_ids: Vec<&str> = Vec::new();
        for e in history {
            if e.group.as_deref() == Some(g.id.as_str())
                && let Some(r) = e.row_id.as_deref()
                && !row_ids.contains(&r)
            {
                row_ids.push(r);
            }
        }
        for (r, _) in &current {
            if !row_ids.contains(r) {
                row_ids.push(r);
            }
        }
        for row_id in row_ids {
            let in_row: Vec<&HistoryEntry> = history
                .iter()
                .filter(|e| {
                    e.group.as_deref() == Some(g.id.as_str()) && e.row_id.as_deref() == Some(row_id)
                })
                .collect();
            let row_values = current.iter().find(|(r, _)| *r == row_id).map(|(_, v)| *v);
            let added = in_row.iter().find(|e| e.op == "row_add");
            let removed = in_row.iter().rev().find(|e| e.op == "row_remove");
            let key = audit.options.row_key(row_id);
            let mut attrs = vec![("ItemGroupOID", group_oid(&g.id))];
            if !key.is_empty() {
                attrs.push(("ItemGroupRepeatKey", key.clone()));
            }
            let mut open = attrs.clone();
            open.push((
                "TransactionType",
                if added.is_some() { "Insert" } else { "Upsert" }.to_string(),
            ));
            let open: Vec<(&str, &str)> = open.iter().map(|(k, v)| (*k, v.as_str())).collect();
            x.open("ItemGroupData", &open)?;
            let mut last: HashMap<&str, Value> = HashMap::new();
            if let Some(added) = added {
                audit_record(x, added, audit, seen)?;
                let new = added.new.as_ref().and_then(Value::as_object);
                for f in &fields {
                    if let Some(v) = new
                        .and_then(|n| n.get(f.id()))
                        .filter(|v| !plain(v).is_null())
                    {
                        change_item(
                            x,
                            &item_oid(f.id()),
                            "Insert",
                            v,
                            Some(f),
                            None,
                            audit,
                            seen,
                        )?;
                        last.insert(f.id(), plain(v).clone());
                    }
                }
            }
            for e in in_row.iter().filter(|e| is_value_change(e)) {
                let Some(f) = fields.iter().find(|f| e.field.as_deref() == Some(f.id())) else {
                    continue;
                };
                field_change(x, f, e, &mut last, audit, seen)?;
            }
            if let Some(row) = row_values {
                closing_values(x, &fields, row, &last, audit, seen)?;
            }
            x.close()?;
            if let Some(removed) = removed
                && row_values.is_none()
            {
                let mut remove = attrs.clone();
                remove.push(("TransactionType", "Remove".to_string()));
                let remove: Vec<(&str, &str)> =
                    remove.iter().map(|(k, v)| (*k, v.as_str())).collect();
                x.open("ItemGroupData", &remove)?;
                audit_record(x, removed, audit, seen)?;
                x.close()?;
            }
        }
    }
    x.close()?; // FormData
    x.close()?; // StudyEventData
    x.close() // SubjectData
}

/// The ops that change one field's value.
fn is_value_change(e: &HistoryEntry) -> bool {
    matches!(e.op.as_str(), "set" | "clear" | "resolve") && e.field.is_some()
}

/// One change of a field as an ItemData (Insert, Update or Remove) with its audit record;
/// notes the value it leaves in `last`.
fn field_change<'a, W: Write>(
    x: &mut Xml<W>,
    f: &'a FormField,
    e: &HistoryEntry,
    last: &mut HashMap<&'a str, Value>,
    audit: &Audit,
    seen: &mut Seen,
) -> Result<(), ExportError> {
    let new = e.new.as_ref().filter(|v| !plain(v).is_null());
    let had = last.get(f.id()).is_some_and(|v| !v.is_null())
        || e.old.as_ref().is_some_and(|v| !plain(v).is_null());
    let oid = item_oid(f.id());
    match new {
        Some(v) if e.op != "clear" => {
            let kind = if had { "Update" } else { "Insert" };
            change_item(x, &oid, kind, v, Some(f), Some(e), audit, seen)?;
            last.insert(f.id(), plain(v).clone());
        }
        _ => {
            x.open(
                "ItemData",
                &[("ItemOID", &oid), ("TransactionType", "Remove")],
            )?;
            audit_record(x, e, audit, seen)?;
            x.close()?;
            last.insert(f.id(), Value::Null);
        }
    }
    Ok(())
}

/// For every field whose current value is not the one its last change left (concurrent
/// values still in conflict, a value computed for the export), an `Upsert` with the current
/// value and no audit record, so that applying the file's transactions in order gives the
/// repository's current values.
fn closing_values<W: Write>(
    x: &mut Xml<W>,
    fields: &[&FormField],
    values: &serde_json::Map<String, Value>,
    last: &HashMap<&str, Value>,
    audit: &Audit,
    seen: &mut Seen,
) -> Result<(), ExportError> {
    for f in fields {
        let current = values.get(f.id()).map(plain).unwrap_or(&Value::Null);
        let left = last.get(f.id()).unwrap_or(&Value::Null);
        if current == left {
            continue;
        }
        let oid = item_oid(f.id());
        if current.is_null() {
            x.empty(
                "ItemData",
                &[("ItemOID", &oid), ("TransactionType", "Remove")],
            )?;
        } else if let Some(v) = values.get(f.id()) {
            change_item(x, &oid, "Upsert", v, Some(f), None, audit, seen)?;
        }
    }
    Ok(())
}

/// An ItemData with a value (and its unit when it is the field's own), a transaction type and
/// the audit record of `entry` when given.
#[allow(clippy::too_many_arguments)]
fn change_item<W: Write>(
    x: &mut Xml<W>,
    oid: &str,
    transaction: &str,
    answer: &Value,
    f: Option<&FormField>,
    entry: Option<&HistoryEntry>,
    audit: &Audit,
    seen: &mut Seen,
) -> Result<(), ExportError> {
    let value = answer_text(answer);
    // Only the field's own unit is declared (stored values are always in it).
    let unit = unit_of(answer).filter(|u| f.and_then(|f| f.def.unit.as_deref()) == Some(*u));
    let attrs = [
        ("ItemOID", oid),
        ("TransactionType", transaction),
        ("Value", value.as_str()),
    ];
    if entry.is_none() && unit.is_none() {
        return x.empty("ItemData", &attrs);
    }
    x.open("ItemData", &attrs)?;
    if let Some(entry) = entry {
        audit_record(x, entry, audit, seen)?;
    }
    if let Some(unit) = unit {
        x.empty(
            "MeasurementUnitRef",
            &[("MeasurementUnitOID", &unit_oid(unit))],
        )?;
    }
    x.close()
}

fn audit_record<W: Write>(
    x: &mut Xml<W>,
    entry: &HistoryEntry,
    audit: &Audit,
    seen: &mut Seen,
) -> Result<(), ExportError> {
    let options = audit.options;
    let user = options.user_key(&entry.user);
    let device = options.device_key(&entry.device);
    x.open("AuditRecord", &[])?;
    x.empty("UserRef", &[("UserOID", &user_oid(&user))])?;
    x.empty("LocationRef", &[("LocationOID", &device_oid(&device))])?;
    seen.users.insert(user);
    seen.devices.insert(device);
    x.text_element("DateTimeStamp", &[], &iso_datetime(entry.time))?;
    if options.research.is_none() {
        if let Some(reason) = entry.reason.as_deref().filter(|r| !r.is_empty()) {
            x.text_element("ReasonForChange", &[], reason)?;
        }
        x.text_element("SourceID", &[], &entry.change)?;
    }
    x.close()
}

/// A small streaming XML writer: every text and attribute value is escaped, characters XML
/// 1.0 cannot hold are replaced by U+FFFD, and elements are indented.
struct Xml<W: Write> {
    out: W,
    open: Vec<String>,
    /// Indentation of the outermost element written (ClinicalData sits inside ODM).
    base: usize,
}

impl<W: Write> Xml<W> {
    fn new(out: W, base: usize) -> Xml<W> {
        Xml {
            out,
            open: Vec::new(),
            base,
        }
    }

    fn indent(&mut self) -> std::io::Result<()> {
        for _ in 0..self.base + self.open.len() {
            self.out.write_all(b"  ")?;
        }
        Ok(())
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) -> std::io::Result<()> {
        self.indent()?;
        write!(self.out, "<{name}")?;
        for (k, v) in attrs {
            write!(self.out, " {k}=\"{}\"", escape(v, true))?;
        }
        Ok(())
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), ExportError> {
        self.start_tag(name, attrs)?;
        self.out.write_all(b">\n")?;
        self.open.push(name.to_string());
        Ok(())
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), ExportError> {
        self.start_tag(name, attrs)?;
        self.out.write_all(b"/>\n")?;
        Ok(())
    }

    fn text_element(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        text: &str,
    ) -> Result<(), ExportError> {
        self.start_tag(name, attrs)?;
        writeln!(self.out, ">{}</{name}>", escape(text, false))?;
        Ok(())
    }

    fn close(&mut self) -> Result<(), ExportError> {
        if let Some(name) = self.open.pop() {
            self.indent()?;
            writeln!(self.out, "</{name}>")?;
        }
        Ok(())
    }

    fn raw(&mut self, s: &str) -> Result<(), ExportError> {
        Ok(self.out.write_all(s.as_bytes())?)
    }

    fn copy_from(&mut self, r: &mut impl std::io::Read) -> Result<(), ExportError> {
        std::io::copy(r, &mut self.out)?;
        Ok(())
    }

    fn into_inner(self) -> W {
        self.out
    }

    fn finish(mut self) -> Result<W, ExportError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Escapes text (`&`, `<`, `>`) or an attribute value (also `"`, and tab, line feed and
/// carriage return as character references, which attribute normalisation would otherwise
/// turn into spaces); characters XML 1.0 does not allow become U+FFFD.
fn escape(s: &str, attribute: bool) -> std::borrow::Cow<'_, str> {
    let needs = |c: char| {
        matches!(c, '&' | '<' | '>' | '"')
            || (c as u32) < 0x20
            || c == '\u{FFFE}'
            || c == '\u{FFFF}'
    };
    if !s.chars().any(needs) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' | '"' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped_and_invalid_characters_replaced() {
        assert_eq!(escape("a & b", false), "a &amp; b");
        assert_eq!(escape("<x y=\"1\">", true), "&lt;x y=&quot;1&quot;&gt;");
        assert_eq!(escape("<x y=\"1\">", false), "&lt;x y=\"1\"&gt;");
        assert_eq!(escape("a\tb\nc\rd", true), "a&#9;b&#10;c&#13;d");
        assert_eq!(escape("a\tb\nc\rd", false), "a\tb\nc&#13;d");
        assert_eq!(
            escape("bell\u{7}nul\u{0}", false),
            "bell\u{FFFD}nul\u{FFFD}"
        );
        assert_eq!(escape("山田 太郎", true), "山田 太郎");
    }

    #[test]
    fn limits_print_without_a_needless_fraction() {
        assert_eq!(number(30.0), "30");
        assert_eq!(number(35.5), "35.5");
        assert_eq!(number(-2.0), "-2");
    }
}
