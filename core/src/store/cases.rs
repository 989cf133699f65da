//! Entering and reading cases on the device: create, set a value, add or remove a row, move
//! along draft → complete → signed, delete and restore, read a case with its validation
//! report, list, search, history, conflicts and their resolution; and merging the cases of
//! another device. Each edit is checked by the case domain's rules ([`crate::case::edit`]).

use super::{
    CaseExport, CaseFilter, CaseStore, CaseSummary, CaseView, Conflict, HistoryEntry, MergeSummary,
    Status, StoreError, db, local_part::normalise_identifier, new_id, now,
};
use crate::case::document::{CaseDoc, ChangeNote, FieldPath, RecodedValue, UPGRADE_FORM_OP};
use crate::case::edit::{
    CaseContext, check_value, clean_reason, open_conflict, refuse_write, reopen_after_edit,
};
use crate::case::upgrade::{self, Upgrade};
use crate::validate::{Context, Issue, validate};
use serde_json::{Map, Value as Json, json};

impl CaseStore {
    /// Creates a case of a core form (or module, with its core form) plus modules.
    pub fn create_case(&mut self, form_id: &str, modules: &[&str]) -> Result<String, StoreError> {
        let author = self.author()?;
        let def = self.catalog.get(form_id)?.clone();
        let (core, mut mods) = match &def.extends {
            Some(base) => (base.clone(), vec![def.form_id.clone()]),
            None => (def.form_id.clone(), Vec::new()),
        };
        for m in modules {
            if !mods.iter().any(|x| x == m) {
                mods.push((*m).to_string());
            }
        }
        let form = self.form(&core, &mods)?;
        let case_id = new_id()?;
        let mut meta = Map::new();
        meta.insert("form_id".into(), json!(core));
        meta.insert("form_version".into(), json!(form.definition().version));
        meta.insert("modules".into(), json!(mods));
        meta.insert("created_by".into(), json!(author.id));
        let groups: Vec<String> = form.groups().iter().map(|g| g.id.clone()).collect();
        let note = ChangeNote::by(&author, "create");
        let mut doc = CaseDoc::create(&self.actor, &meta, &groups, &note, now())?;
        self.write(&case_id, &mut doc, true)?;
        Ok(case_id)
    }

    /// A case to change, moved first to the current version of its form (in memory: the
    /// caller's write stores the move with its own change, [`CaseStore::upgrade_form`]).
    pub(super) fn editable(&self, case_id: &str) -> Result<(CaseDoc, Status), StoreError> {
        let (mut doc, deleted) = self.load(case_id)?;
        if deleted {
            return Err(StoreError::Deleted(case_id.to_string()));
        }
        self.upgrade_doc(&mut doc)?;
        let status = Status::of(&doc);
        Ok((doc, status))
    }

    /// Moves a case entered under an earlier version of its form to the current one, in one
    /// audited change (each recoded value in its history, with the migration's note as the
    /// reason); the change syncs like any other. `None` when the case is current. Editing a
    /// case moves it too.
    pub fn upgrade_form(&mut self, case_id: &str) -> Result<Option<Upgrade>, StoreError> {
        let (mut doc, deleted) = self.load(case_id)?;
        if deleted {
            return Err(StoreError::Deleted(case_id.to_string()));
        }
        let upgrade = self.upgrade_doc(&mut doc)?;
        if upgrade.is_some() {
            self.write(case_id, &mut doc, false)?;
        }
        Ok(upgrade)
    }

    /// Applies the move to the current form version to `doc` in memory (one change).
    fn upgrade_doc(&self, doc: &mut CaseDoc) -> Result<Option<Upgrade>, StoreError> {
        let recorded = crate::case::CaseForm::of(doc).form_version;
        let form = self.form_of(doc)?;
        let Some(upgrade) = upgrade::plan(&form, &recorded, &doc.values()) else {
            return Ok(None);
        };
        let author = self.author()?;
        let mut note = ChangeNote::by(&author, UPGRADE_FORM_OP);
        note.reason = Some(
            upgrade
                .notes
                .iter()
                .map(|n| n.en.clone())
                .collect::<Vec<_>>()
                .join(" "),
        );
        note.old = Some(json!({"form_version": upgrade.from}));
        note.new = Some(json!({"form_version": upgrade.to}));
        note.recoded = upgrade
            .recoded
            .iter()
            .map(|(path, old, new)| RecodedValue {
                path: path.clone(),
                old: old.clone(),
                new: new.clone(),
            })
            .collect();
        let values: Vec<(FieldPath, Json)> = upgrade
            .recoded
            .iter()
            .map(|(p, _, new)| (p.clone(), new.clone()))
            .collect();
        doc.upgrade_form(&values, &upgrade.to, &note, now())?;
        Ok(Some(upgrade))
    }

    /// Sets a value (a case-level field, or a field of an existing row). The value is validated:
    /// an impossible value is refused; one outside soft limits needs `reason` as confirmation.
    /// A reason is required to change an earlier entry and to edit a complete or signed case
    /// (which reopens it as a draft).
    pub fn set_value(
        &mut self,
        case_id: &str,
        path: &FieldPath,
        value: Json,
        reason: Option<&str>,
    ) -> Result<Json, StoreError> {
        let reason = clean_reason(reason);
        let author = self.author()?;
        let (mut doc, status) = self.editable(case_id)?;
        if let (Some(g), Some(r)) = (&path.group, &path.row_id)
            && !doc.has_row(g, r)
        {
            return Err(StoreError::UnknownRow {
                case_id: case_id.into(),
                group: g.clone(),
                row_id: r.clone(),
            });
        }
        // An identifying field at a site that keeps them on the device: its device-only part.
        let mut local = if self.is_local_field(&doc, path)? {
            Some(self.local_or_new(case_id, &author)?)
        } else {
            None
        };
        let old = match &local {
            Some(l) => l.value(path),
            None => doc.value(path),
        };
        if old.is_some() && reason.is_none() {
            return Err(StoreError::ReasonRequired(
                "changing a value entered before",
            ));
        }
        if status != Status::Draft && reason.is_none() {
            return Err(StoreError::ReasonRequired(
                "editing a complete or signed case",
            ));
        }
        let canonical = if value.is_null() {
            None
        } else {
            let form = self.form_of(&doc)?;
            let settings = self.site_settings()?;
            let case = CaseContext {
                form: &form,
                values: self.values_of(case_id, &doc)?,
                today: self.today,
                default_units: Some(&settings.default_units),
            };
            Some(check_value(&case, path, value, reason.as_deref())?)
        };
        if canonical == old {
            return Ok(canonical.unwrap_or(Json::Null));
        }
        let mut note = ChangeNote::by(&author, if canonical.is_some() { "set" } else { "clear" });
        note.reason = reason;
        note.field = Some(path.field.clone());
        note.group = path.group.clone();
        note.row_id = path.row_id.clone();
        note.old = old;
        note.new = canonical.clone();
        let t = now();
        if let Some(local) = &mut local {
            local.put_value(path, canonical.as_ref(), &note, t)?;
            // The shared record learns only that the case was reopened: not the field's
            // values, nor the reason (which may quote them); both stay in the local part.
            let mut shared = ChangeNote::by(&author, "edit");
            shared.reason = Some("an identifying field was edited on the device".into());
            reopen_after_edit(&mut doc, status, &shared, t)?;
            self.write_with_local(case_id, &mut doc, local)?;
        } else {
            doc.put_value(path, canonical.as_ref(), &note, t)?;
            reopen_after_edit(&mut doc, status, &note, t)?;
            self.write(case_id, &mut doc, false)?;
        }
        Ok(canonical.unwrap_or(Json::Null))
    }

    /// Adds a row to a repeating group with its first values; returns the new row id.
    pub fn add_row(
        &mut self,
        case_id: &str,
        group: &str,
        values: &Map<String, Json>,
        reason: Option<&str>,
    ) -> Result<String, StoreError> {
        let reason = clean_reason(reason);
        let author = self.author()?;
        let (mut doc, status) = self.editable(case_id)?;
        if status != Status::Draft && reason.is_none() {
            return Err(StoreError::ReasonRequired(
                "editing a complete or signed case",
            ));
        }
        let form = self.form_of(&doc)?;
        if form.group(group).is_none() {
            return Err(StoreError::UnknownField {
                field: group.to_string(),
            });
        }
        let row_id = new_id()?;
        // Validate the new row as part of the case.
        let mut all = self.values_of(case_id, &doc)?;
        let mut row = values.clone();
        row.insert("row_id".into(), json!(row_id));
        if let Some(a) = all
            .entry(group.to_string())
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            a.push(Json::Object(row))
        }
        let settings = self.site_settings()?;
        let report = validate(
            &form,
            &all,
            &Context {
                today: self.today,
                completing: false,
                default_units: Some(&settings.default_units),
            },
        );
        let mine = |i: &Issue| {
            i.row_id.as_deref() == Some(row_id.as_str()) || (i.group.is_none() && i.field == group)
        };
        refuse_write(&report, mine)?;
        let mut canonical: Map<String, Json> = report
            .values
            .get(group)
            .and_then(Json::as_array)
            .and_then(|rows| {
                rows.iter()
                    .find(|r| r.get("row_id").and_then(Json::as_str) == Some(row_id.as_str()))
            })
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        canonical.remove("row_id");
        let mut note = ChangeNote::by(&author, "row_add");
        note.reason = reason;
        note.group = Some(group.to_string());
        note.row_id = Some(row_id.clone());
        note.new = Some(Json::Object(canonical.clone()));
        let t = now();
        doc.add_row(group, &row_id, &canonical, &note, t)?;
        reopen_after_edit(&mut doc, status, &note, t)?;
        self.write(case_id, &mut doc, false)?;
        Ok(row_id)
    }

    /// Removes a row (kept in the document, marked removed with the reason).
    pub fn remove_row(
        &mut self,
        case_id: &str,
        group: &str,
        row_id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let reason =
            clean_reason(Some(reason)).ok_or(StoreError::ReasonRequired("removing a row"))?;
        let author = self.author()?;
        let (mut doc, _) = self.editable(case_id)?;
        if !doc.has_row(group, row_id) {
            return Err(StoreError::UnknownRow {
                case_id: case_id.into(),
                group: group.into(),
                row_id: row_id.into(),
            });
        }
        let path = FieldPath::row(group, row_id, "_removed");
        let mut note = ChangeNote::by(&author, "row_remove");
        note.reason = Some(reason.clone());
        note.group = Some(group.into());
        note.row_id = Some(row_id.into());
        let marker = json!({"user": author.id, "reason": reason});
        doc.put_value(&path, Some(&marker), &note, now())?;
        self.write(case_id, &mut doc, false)?;
        Ok(())
    }

    /// A case with its values, validation report, status and open conflicts.
    pub fn case(&mut self, case_id: &str) -> Result<CaseView, StoreError> {
        let (mut doc, deleted) = self.load(case_id)?;
        let form = self.form_of(&doc)?;
        let values = self.values_of(case_id, &doc)?;
        let report = self.validated(&form, &values, false);
        let conflicts = doc
            .conflicts()
            .into_iter()
            .map(|(path, candidates)| Conflict {
                case_id: case_id.to_string(),
                path,
                candidates,
            })
            .collect();
        Ok(CaseView {
            case_id: case_id.to_string(),
            form_id: form.form_id().to_string(),
            // The version the case records (older until a device moves it).
            form_version: crate::case::CaseForm::of(&doc).form_version,
            modules: crate::case::meta::modules_of(&doc),
            status: Status::of(&doc),
            deleted,
            values: report.values.clone(),
            report,
            conflicts,
        })
    }

    /// Lists cases with their display labels, status, conflicts and sync state, without
    /// opening a case document (see `case_list.rs`).
    /// Needs the store unlocked, like every read: a locked tablet tells nothing of its cases.
    pub fn list(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        self.list_cases(filter)
    }

    /// Moves a case along draft → complete → signed, or reopens it (with a reason).
    pub fn set_status(
        &mut self,
        case_id: &str,
        target: Status,
        reason: Option<&str>,
    ) -> Result<Status, StoreError> {
        let reason = clean_reason(reason);
        let author = self.author()?;
        let (mut doc, status) = self.editable(case_id)?;
        match target {
            // Values in hidden fields need the clinician's choice: `CaseStore::complete`.
            Status::Complete => {
                let session = self.session_of(case_id, &mut doc)?;
                let left = !session.completion_problems.is_empty() || session.conflicts > 0;
                if !left && !session.hidden_values.is_empty() {
                    return Err(StoreError::HiddenValues(
                        session.hidden_values.into_iter().map(|h| h.path).collect(),
                    ));
                }
                return self.complete_with(case_id, reason);
            }
            // A signature needs the signer's password and a meaning: `CaseStore::sign`.
            Status::Signed if status != Status::Signed => {
                return Err(StoreError::SignatureRequired);
            }
            Status::Draft if status != Status::Draft && reason.is_none() => {
                return Err(StoreError::ReasonRequired(
                    "reopening a complete or signed case",
                ));
            }
            _ => {}
        }
        if status == target {
            return Ok(status);
        }
        let mut note = ChangeNote::by(
            &author,
            if target == Status::Draft {
                "reopen"
            } else {
                "status"
            },
        );
        note.reason = reason;
        note.old = Some(json!(status.as_str()));
        note.new = Some(json!(target.as_str()));
        doc.put_root("status", Some(target.as_str()), &note, now())?;
        self.write(case_id, &mut doc, false)?;
        Ok(target)
    }

    /// Deletes a case (recoverably: it stays in the store, marked deleted with the reason).
    pub fn delete_case(&mut self, case_id: &str, reason: &str) -> Result<(), StoreError> {
        self.mark_deleted(case_id, reason, true)
    }

    /// Restores a deleted case.
    pub fn restore_case(&mut self, case_id: &str, reason: &str) -> Result<(), StoreError> {
        self.mark_deleted(case_id, reason, false)
    }

    fn mark_deleted(
        &mut self,
        case_id: &str,
        reason: &str,
        deleted: bool,
    ) -> Result<(), StoreError> {
        let what = if deleted {
            "deleting a case"
        } else {
            "restoring a case"
        };
        let reason = clean_reason(Some(reason)).ok_or(StoreError::ReasonRequired(what))?;
        let author = self.author()?;
        let (mut doc, _) = self.load(case_id)?;
        let mut note = ChangeNote::by(&author, if deleted { "delete" } else { "restore" });
        note.reason = Some(reason.clone());
        let marker = deleted.then(|| json!({"user": author.id, "reason": reason}).to_string());
        doc.put_root("deleted", marker.as_deref(), &note, now())?;
        self.write(case_id, &mut doc, false)
    }

    /// The audit trail of a case, oldest first; only entries touching `field` when given.
    pub fn history(
        &self,
        case_id: &str,
        field: Option<&str>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let (mut doc, _) = self.load(case_id)?;
        let shared = doc.history(field);
        self.with_local_history(case_id, field, shared)
    }

    /// Open conflicts of one case, or of every case flagged with conflicts.
    pub fn conflicts(&mut self, case_id: Option<&str>) -> Result<Vec<Conflict>, StoreError> {
        let ids: Vec<String> = match case_id {
            Some(id) => vec![id.to_string()],
            None => db::conflicted_case_ids(&self.conn)?,
        };
        let mut out = Vec::new();
        for id in ids {
            let (mut doc, _) = self.load(&id)?;
            out.extend(
                doc.conflicts()
                    .into_iter()
                    .map(|(path, candidates)| Conflict {
                        case_id: id.clone(),
                        path,
                        candidates,
                    }),
            );
        }
        Ok(out)
    }

    /// Resolves a conflict with a value (a candidate's or a new one) and a reason: one change
    /// that supersedes every candidate.
    pub fn resolve(
        &mut self,
        case_id: &str,
        path: &FieldPath,
        value: Json,
        reason: &str,
    ) -> Result<Json, StoreError> {
        let reason =
            clean_reason(Some(reason)).ok_or(StoreError::ReasonRequired("resolving a conflict"))?;
        let author = self.author()?;
        let (mut doc, _) = self.editable(case_id)?;
        let conflict = open_conflict(&mut doc, path)?;
        let form = self.form_of(&doc)?;
        let settings = self.site_settings()?;
        let case = CaseContext {
            form: &form,
            values: self.values_of(case_id, &doc)?,
            today: self.today,
            default_units: Some(&settings.default_units),
        };
        let resolved = conflict.resolve(&mut doc, &case, value, &author, reason, now())?;
        self.write(case_id, &mut doc, false)?;
        Ok(resolved.value)
    }

    /// Finds cases by hospital record number or patient name through the keyed index.
    pub fn find(&self, field: &str, value: &str) -> Result<Vec<String>, StoreError> {
        let token = self
            .key()?
            .keyed_hash("lookup", normalise_identifier(value).as_bytes());
        Ok(db::find(&self.conn, field, &token)?)
    }

    /// Every case document, for another device to merge (decrypted: send only over a secure
    /// channel).
    pub fn export_cases(&self) -> Result<Vec<CaseExport>, StoreError> {
        let ids = db::case_ids(&self.conn)?;
        ids.into_iter()
            .map(|case_id| {
                let (mut doc, _) = self.load(&case_id)?;
                Ok(CaseExport {
                    bytes: doc.save(),
                    case_id,
                })
            })
            .collect()
    }

    /// Merges case documents from another device; every change of both sides is kept.
    pub fn import_cases(&mut self, cases: &[CaseExport]) -> Result<MergeSummary, StoreError> {
        let mut summary = MergeSummary::default();
        for c in cases {
            let mut theirs = CaseDoc::load(&c.bytes, &self.actor)?;
            if self.identifying_on_device && self.holds_identifying(&mut theirs)? {
                return Err(StoreError::IdentifyingAlreadyShared { cases: 1 });
            }
            let exists = db::case_exists(&self.conn, &c.case_id)?;
            let mut doc = if exists {
                let (mut mine, _) = self.load(&c.case_id)?;
                if mine.meta("form_id") != theirs.meta("form_id") {
                    return Err(StoreError::Mismatch(c.case_id.clone()));
                }
                let before = mine.heads();
                mine.merge(&mut theirs)?;
                if mine.heads() == before {
                    continue;
                }
                summary.updated_cases += 1;
                mine
            } else {
                summary.new_cases += 1;
                theirs
            };
            summary.conflicts += doc.conflicts().len();
            self.write(&c.case_id, &mut doc, !exists)?;
        }
        tracing::info!(
            received = cases.len(),
            new_cases = summary.new_cases,
            updated_cases = summary.updated_cases,
            conflicts = summary.conflicts,
            "cases merged from another device"
        );
        Ok(summary)
    }

    /// Merges every case of `other` into this store.
    pub fn merge_from(&mut self, other: &CaseStore) -> Result<MergeSummary, StoreError> {
        let cases = other.export_cases()?;
        self.import_cases(&cases)
    }
}
