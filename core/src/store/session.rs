//! The form session of a case on the device ([`crate::session`]): building it from the stored
//! case, clearing the values left in fields the answers now hide (one audited change with a
//! reason), and completing a case with the clinician's choice about those values.

use super::{CaseStore, Status, StoreError, now};
use crate::case::document::{CaseDoc, ChangeNote, FieldPath};
use crate::case::edit::clean_reason;
use crate::session::{CaseState, FormSession, HiddenValues};
use crate::validate::{Context, validate};
use serde_json::json;

impl CaseStore {
    /// A case's values validated against its form, as of the store's today; `completing`:
    /// required fields left empty are errors.
    pub(super) fn validated(
        &self,
        form: &crate::form::Form,
        values: &serde_json::Map<String, serde_json::Value>,
        completing: bool,
    ) -> crate::validate::Report {
        validate(
            form,
            values,
            &Context {
                today: self.today,
                completing,
                default_units: None,
            },
        )
    }

    /// The form as the clinician sees it for a case: shown sections and fields with their
    /// states, values in hidden fields, the next missing field and what blocks completion.
    pub fn session(&self, case_id: &str) -> Result<FormSession, StoreError> {
        let (mut doc, _) = self.load(case_id)?;
        self.session_of(case_id, &mut doc)
    }

    pub(super) fn session_of(
        &self,
        case_id: &str,
        doc: &mut CaseDoc,
    ) -> Result<FormSession, StoreError> {
        let form = self.form_of(doc)?;
        let values = self.values_of(case_id, doc)?;
        let report = self.validated(&form, &values, true);
        let conflicts = doc.conflicts();
        let settings = self.site_settings()?;
        Ok(FormSession::build(
            form,
            &CaseState {
                case_id,
                status: Status::of(doc),
                values: &values,
                report: &report,
                conflicts: &conflicts,
                default_units: &settings.default_units,
            },
        ))
    }

    /// Clears every value in a field the answers now hide, in one change with `reason` (each
    /// cleared field shows in its history with that reason). Returns the paths cleared.
    /// Identifying fields kept on the device are cleared in the case's device-only part.
    pub fn clear_hidden(
        &mut self,
        case_id: &str,
        reason: &str,
    ) -> Result<Vec<FieldPath>, StoreError> {
        let reason = clean_reason(Some(reason)).ok_or(StoreError::ReasonRequired(
            "clearing values in hidden fields",
        ))?;
        let author = self.author()?;
        let (mut doc, status) = self.editable(case_id)?;
        let session = self.session_of(case_id, &mut doc)?;
        if session.hidden_values.is_empty() {
            return Ok(Vec::new());
        }
        let mut shared = Vec::new();
        let mut local = Vec::new();
        for h in &session.hidden_values {
            let entry = (h.path.clone(), h.stored.clone());
            if self.is_local_field(&doc, &h.path)? {
                local.push(entry);
            } else {
                shared.push(entry);
            }
        }
        let mut note = ChangeNote::by(&author, crate::case::document::CLEAR_HIDDEN_OP);
        note.reason = Some(reason.clone());
        let t = now();
        if !local.is_empty() {
            let mut part = self.local_or_new(case_id, &author)?;
            part.clear_values(&local, &note, t)?;
            if !shared.is_empty() {
                doc.clear_values(&shared, &note, t)?;
            }
            let mut reopen = ChangeNote::by(&author, "edit");
            reopen.reason = Some("an identifying field was edited on the device".into());
            crate::case::edit::reopen_after_edit(&mut doc, status, &reopen, t)?;
            self.write_with_local(case_id, &mut doc, &mut part)?;
        } else {
            doc.clear_values(&shared, &note, t)?;
            crate::case::edit::reopen_after_edit(&mut doc, status, &note, t)?;
            self.write(case_id, &mut doc, false)?;
        }
        Ok(shared.into_iter().chain(local).map(|(p, _)| p).collect())
    }

    /// Marks a case complete. Anything left ([`FormSession::completion_problems`], conflicts)
    /// is refused first with [`StoreError::NotComplete`]. Values in hidden fields then need the
    /// clinician's choice: with
    /// [`HiddenValues::NoneExpected`] they are refused ([`StoreError::HiddenValues`]); kept, the
    /// completion records that they were kept; cleared, they are cleared first (one audited
    /// change).
    pub fn complete(&mut self, case_id: &str, hidden: HiddenValues) -> Result<Status, StoreError> {
        let session = self.session(case_id)?;
        if !session.completion_problems.is_empty() || session.conflicts > 0 {
            // What is left comes first: the choice about hidden values is asked last.
            return self.complete_with(case_id, None);
        }
        let reason = match (&hidden, session.hidden_values.is_empty()) {
            (_, true) => None,
            (HiddenValues::NoneExpected, false) => {
                return Err(StoreError::HiddenValues(
                    session
                        .hidden_values
                        .iter()
                        .map(|h| h.path.clone())
                        .collect(),
                ));
            }
            (HiddenValues::Keep, false) => Some(format!(
                "values kept in {} field(s) that do not apply given the other answers",
                session.hidden_values.len()
            )),
            (HiddenValues::Clear(reason), false) => {
                self.clear_hidden(case_id, reason)?;
                None
            }
        };
        self.complete_with(case_id, reason)
    }

    /// Moves a draft to complete when nothing blocks it; `reason` goes in the change's note.
    pub(super) fn complete_with(
        &mut self,
        case_id: &str,
        reason: Option<String>,
    ) -> Result<Status, StoreError> {
        let author = self.author()?;
        let (mut doc, status) = self.editable(case_id)?;
        let form = self.form_of(&doc)?;
        let values = self.values_of(case_id, &doc)?;
        let report = self.validated(&form, &values, true);
        let conflicts = doc.conflicts().len();
        if !report.is_complete() || conflicts > 0 {
            return Err(StoreError::NotComplete {
                report: Box::new(report),
                conflicts,
            });
        }
        if status == Status::Complete {
            return Ok(status);
        }
        let mut note = ChangeNote::by(&author, "status");
        note.reason = reason;
        note.old = Some(json!(status.as_str()));
        note.new = Some(json!(Status::Complete.as_str()));
        doc.put_root("status", Some(Status::Complete.as_str()), &note, now())?;
        self.write(case_id, &mut doc, false)?;
        Ok(Status::Complete)
    }
}

#[cfg(test)]
mod tests;
