//! The ODM `ClinicalData` of one case: its history as transactions (SubjectData, item groups
//! per section and per row, ItemData per change, each with its AuditRecord), and the closing
//! `Upsert`s that leave the current values.

use super::*;
use crate::export::{
    ExportCase, ExportError, ExportOptions, answer_text, group_rows, plain, unit_of,
};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use wardcrf_core::case::SIGN_OP;
use wardcrf_core::{Form, FormField, HistoryEntry, Timestamp};

/// How audit records are written: as they are, or (research) pseudonymised and without
/// free text or change hashes.
pub(super) struct Audit<'a> {
    pub(super) options: &'a ExportOptions,
}

/// One case as a SubjectData: its creation, then per item group every change in the order of
/// the case history, each ItemData with its own AuditRecord.
pub(super) fn subject<W: Write>(
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
            // A signature's note holds the meaning too; its item is the status it set.
            SIGN_OP => (STATUS_OID, Value::from("signed")),
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
        if entry.op == SIGN_OP {
            signature(x, entry, audit, seen)?;
        }
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
    let (user, device) = seen.who(entry, options);
    x.open("AuditRecord", &[])?;
    x.empty("UserRef", &[("UserOID", &user_oid(&user))])?;
    x.empty("LocationRef", &[("LocationOID", &device_oid(&device))])?;
    x.text_element(
        "DateTimeStamp",
        &[],
        &Timestamp::from_unix_seconds(entry.time).iso_datetime(),
    )?;
    if options.research.is_none() {
        if let Some(reason) = entry.reason.as_deref().filter(|r| !r.is_empty()) {
            x.text_element("ReasonForChange", &[], reason)?;
        }
        x.text_element("SourceID", &[], &entry.change)?;
    }
    x.close()
}

/// The electronic signature a `sign` change made: who, where, which meaning (a SignatureDef of
/// AdminData) and when (21 CFR Part 11 §11.50).
fn signature<W: Write>(
    x: &mut Xml<W>,
    entry: &HistoryEntry,
    audit: &Audit,
    seen: &mut Seen,
) -> Result<(), ExportError> {
    let meaning = entry
        .new
        .as_ref()
        .and_then(|n| n.get("meaning"))
        .and_then(Value::as_str)
        .filter(|m| wardcrf_core::staff::valid_staff_id(m))
        .unwrap_or("unspecified")
        .to_string();
    let label = entry
        .new
        .as_ref()
        .and_then(|n| n.get("meaning_en"))
        .and_then(Value::as_str)
        .unwrap_or("Electronic signature")
        .to_string();
    let (user, device) = seen.who(entry, audit.options);
    x.open("Signature", &[])?;
    x.empty("UserRef", &[("UserOID", &user_oid(&user))])?;
    x.empty("LocationRef", &[("LocationOID", &device_oid(&device))])?;
    x.empty(
        "SignatureRef",
        &[("SignatureOID", &signature_oid(&meaning))],
    )?;
    x.text_element(
        "DateTimeStamp",
        &[],
        &Timestamp::from_unix_seconds(entry.time).iso_datetime(),
    )?;
    seen.meanings.entry(meaning).or_insert(label);
    x.close()
}
