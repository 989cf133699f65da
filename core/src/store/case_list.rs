//! The case list without opening a case document.
//!
//! A list line shows a case's display label (the values of the fields its form names in
//! `list_label`, e.g. study case id, hospital record number, admission date), status, open
//! conflicts and whether the repository already holds it as it is here. Status, conflicts and
//! sync state are plaintext columns (none of them patient data). The label may identify the
//! patient, so it is sealed like the document (AES-256-GCM under the data key, with associated
//! data naming the record kind and the case) in its own small column, rewritten on every write
//! of the case (`CaseStore::write_synced`). Listing opens these small blobs only.
//!
//! Cases written before labels were kept have none: the first list after the upgrade opens
//! each of their documents once, seals their labels and conflict counts in one transaction,
//! and from then on no list opens a document.

use super::{CaseFilter, CaseStore, CaseSummary, StoreError, db};
use crate::case::document::{CaseDoc, FieldPath};
use serde_json::Value as Json;

/// What separates the values of a label.
const SEPARATOR: &str = " · ";

/// The savepoint the backfill of labels runs in.
const BACKFILL: &str = "label_backfill";

impl CaseStore {
    /// The associated data of a case's sealed label: distinct from its document's and its
    /// device-only part's, so no sealed blob can be passed off as another.
    pub(super) fn label_aad(case_id: &str) -> Vec<u8> {
        format!("wardcrf|v1|label|{case_id}").into_bytes()
    }

    /// A case's display label: the answered fields of its form's `list_label`, in order
    /// (from the device-only part where the site keeps identifying fields there). Empty when
    /// none is answered, or when this device does not know the case's form.
    pub(super) fn label_of(&self, case_id: &str, doc: &CaseDoc) -> Result<String, StoreError> {
        // A case of a form this device lacks (merged from a newer device) is listed unlabelled
        // until its form arrives and the case is written again.
        let Ok(form) = self.form_of(doc) else {
            return Ok(String::new());
        };
        let fields = &form.definition().list_label;
        if fields.is_empty() {
            return Ok(String::new());
        }
        let local = self.load_local(case_id)?;
        let parts: Vec<String> = fields
            .iter()
            .filter_map(|id| {
                let path = FieldPath::field(id.as_str());
                let value = local
                    .as_ref()
                    .and_then(|l| l.value(&path))
                    .or_else(|| doc.value(&path))?;
                shown(&value)
            })
            .collect();
        Ok(parts.join(SEPARATOR))
    }

    /// A case's display label, sealed for its listing column.
    pub(super) fn sealed_label(&self, case_id: &str, doc: &CaseDoc) -> Result<Vec<u8>, StoreError> {
        let label = self.label_of(case_id, doc)?;
        Ok(self
            .key()?
            .seal(&Self::label_aad(case_id), label.as_bytes())?)
    }

    /// Lists cases from the listing columns, opening sealed labels only (see the module
    /// docs); the first list after an upgrade first labels the cases written before.
    pub(super) fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        let key = self.key()?;
        self.backfill_labels()?;
        db::list(&self.conn, filter)?
            .into_iter()
            .map(|row| -> Result<CaseSummary, StoreError> {
                let mut summary = row.summary;
                if let Some(sealed) = row.sealed_label {
                    let plain = key.open(&Self::label_aad(&summary.case_id), &sealed)?;
                    summary.label = String::from_utf8_lossy(&plain).into_owned();
                }
                Ok(summary)
            })
            .collect()
    }

    /// How many cases the repository does not hold as they are here: changed since the last
    /// sync, or never synced (the "not yet synced" badge). Needs the store unlocked, like
    /// every read.
    pub fn pending_sync_count(&self) -> Result<u64, StoreError> {
        self.key()?;
        Ok(db::pending_sync_count(&self.conn)?)
    }

    /// Seals the labels (and counts the conflicts) of the cases written before labels were
    /// kept, each document opened once, in one transaction; returns how many were labelled. A
    /// case whose document cannot be read is left as it was (listed unlabelled; its own reads
    /// report what is wrong) and tried again at the next list.
    pub(super) fn backfill_labels(&self) -> Result<usize, StoreError> {
        let ids = db::unlabelled_case_ids(&self.conn)?;
        if ids.is_empty() {
            return Ok(0);
        }
        db::savepoint(&self.conn, BACKFILL)?;
        let result = (|| -> Result<usize, StoreError> {
            let mut done = 0;
            for case_id in &ids {
                let mut doc = match self.load(case_id) {
                    Ok((doc, _)) => doc,
                    Err(_) => {
                        tracing::warn!(
                            case_id = %case_id,
                            "case list label: the case document could not be read; listed without a label"
                        );
                        continue;
                    }
                };
                let label = self.sealed_label(case_id, &doc)?;
                db::put_label(&self.conn, case_id, &label, doc.conflicts().len())?;
                done += 1;
            }
            Ok(done)
        })();
        match result {
            Ok(done) => {
                db::release(&self.conn, BACKFILL)?;
                tracing::info!(
                    cases = done,
                    "case list labels sealed for cases written before"
                );
                Ok(done)
            }
            Err(e) => {
                db::rollback_to(&self.conn, BACKFILL);
                Err(e)
            }
        }
    }
}

/// How a stored value reads in a label: text as entered, a number as stored, a measurement's
/// value; nothing for what a label cannot show.
fn shown(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Json::Number(n) => Some(n.to_string()),
        Json::Object(o) => o.get("value").and_then(shown),
        _ => None,
    }
}
