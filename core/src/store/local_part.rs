//! The device-only part of a case: at a site that keeps identifying data on its devices, the
//! identifying fields (name, hospital record number, date of birth) are written to a second
//! sealed document per case that is never synced, exported or merged. Reads (values,
//! validation, history, look-up) see both parts.
//!
//! Also here: the keyed look-up index of identifying values, which reads both parts.

use super::{CaseStore, StoreError, db, now};
use crate::case::document::{CaseDoc, ChangeNote, FieldPath, HistoryEntry};
use crate::staff::Attribution;
use serde_json::{Map, Value as Json};

/// Fields indexed for look-up by keyed hash.
const INDEXED: [&str; 2] = ["hospital_record_number", "patient_name"];

/// The savepoint a write of both parts runs in.
const SAVEPOINT: &str = "local_part";

/// Normalises an identifier for the keyed index: case, spacing and full-width characters
/// do not matter ("ＭＲＮ 0012" finds "mrn 0012").
pub(super) fn normalise_identifier(s: &str) -> String {
    let folded: String = s
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect();
    folded
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl CaseStore {
    /// The associated data of a case's device-only part: distinct from the case document's,
    /// so neither sealed blob can be passed off as the other.
    fn local_aad(case_id: &str) -> Vec<u8> {
        format!("wardcrf|v1|local|{case_id}").into_bytes()
    }

    /// Whether this device keeps identifying data to itself: its site's setting, learnt at
    /// enrolment ([`CaseStore::enrolled`]). Identifying fields (name, hospital record number,
    /// date of birth) are then written to a device-only part of each case that is never synced,
    /// exported or merged; reads (values, validation, history, look-up) see both parts. Once
    /// on, it stays on for this store.
    pub fn keeps_identifying_on_device(&self) -> bool {
        self.identifying_on_device
    }

    /// The device-only part of a case, if it has one.
    pub(super) fn load_local(&self, case_id: &str) -> Result<Option<CaseDoc>, StoreError> {
        if !self.identifying_on_device {
            return Ok(None);
        }
        db::local_part(&self.conn, case_id)?
            .map(|b| {
                let plain = self.key()?.open(&Self::local_aad(case_id), &b)?;
                Ok(CaseDoc::load(&plain, &self.actor)?)
            })
            .transpose()
    }

    /// The device-only part of a case to write to: its own, or a new one.
    pub(super) fn local_or_new(
        &self,
        case_id: &str,
        author: &Attribution,
    ) -> Result<CaseDoc, StoreError> {
        Ok(match self.load_local(case_id)? {
            Some(l) => l,
            None => CaseDoc::create(
                &self.actor,
                &Map::new(),
                &[],
                &ChangeNote::by(author, "create"),
                now(),
            )?,
        })
    }

    /// The values of a case: its document's, and those of its device-only part.
    pub(super) fn values_of(
        &self,
        case_id: &str,
        doc: &CaseDoc,
    ) -> Result<Map<String, Json>, StoreError> {
        let mut values = doc.values();
        if let Some(local) = self.load_local(case_id)? {
            values.extend(local.values());
        }
        // A case of an earlier form version reads as the current version does.
        let recorded = crate::case::CaseForm::of(doc).form_version;
        if let Ok(form) = self.form_of(doc) {
            crate::case::upgrade::as_current(&form, &recorded, &mut values);
        }
        Ok(values)
    }

    /// Whether a write to `path` goes to the case's device-only part.
    pub(super) fn is_local_field(
        &self,
        doc: &CaseDoc,
        path: &FieldPath,
    ) -> Result<bool, StoreError> {
        if !self.identifying_on_device || path.group.is_some() {
            return Ok(false);
        }
        let form = self.form_of(doc)?;
        Ok(form
            .field(&path.field)
            .is_some_and(|f| f.group.is_none() && f.def.identifying))
    }

    /// Writes a case's device-only part and its document (for the look-up index and a
    /// reopened status) in one transaction.
    pub(super) fn write_with_local(
        &mut self,
        case_id: &str,
        doc: &mut CaseDoc,
        local: &mut CaseDoc,
    ) -> Result<(), StoreError> {
        db::savepoint(&self.conn, SAVEPOINT)?;
        let result = (|| -> Result<(), StoreError> {
            let blob = self.key()?.seal(&Self::local_aad(case_id), &local.save())?;
            db::put_local_part(&self.conn, case_id, &blob)?;
            self.write(case_id, doc, false)
        })();
        match result {
            Ok(()) => {
                db::release(&self.conn, SAVEPOINT)?;
                Ok(())
            }
            Err(e) => {
                db::rollback_to(&self.conn, SAVEPOINT);
                Err(e)
            }
        }
    }

    /// Whether a case document has ever held an identifying value (its history included).
    pub(super) fn holds_identifying(&self, doc: &mut CaseDoc) -> Result<bool, StoreError> {
        let form = self.form_of(doc)?;
        Ok(doc.history(None).iter().any(|e| {
            e.group.is_none()
                && e.field
                    .as_deref()
                    .and_then(|f| form.field(f))
                    .is_some_and(|f| f.def.identifying)
        }))
    }

    /// The keyed look-up tokens of a case's indexed identifying values (from either part).
    pub(super) fn lookup_tokens(
        &self,
        case_id: &str,
        doc: &CaseDoc,
    ) -> Result<Vec<(&'static str, Vec<u8>)>, StoreError> {
        let local = self.load_local(case_id)?;
        let key = self.key()?;
        Ok(INDEXED
            .iter()
            .filter_map(|f| {
                let path = FieldPath::field(*f);
                let v = local
                    .as_ref()
                    .and_then(|l| l.value(&path))
                    .or_else(|| doc.value(&path))?;
                let s = v.as_str()?.to_string();
                Some((
                    *f,
                    key.keyed_hash("lookup", normalise_identifier(&s).as_bytes()),
                ))
            })
            .collect())
    }

    /// A case's audit trail with its device-only part's entries (its creation aside) merged in
    /// by time; each part keeps its own (causal) order.
    pub(super) fn with_local_history(
        &self,
        case_id: &str,
        field: Option<&str>,
        shared: Vec<HistoryEntry>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let Some(mut local) = self.load_local(case_id)? else {
            return Ok(shared);
        };
        let mut local = local
            .history(field)
            .into_iter()
            .filter(|e| e.op != "create")
            .peekable();
        let mut out = Vec::with_capacity(shared.len());
        for entry in shared {
            while let Some(l) = local.next_if(|l| l.time < entry.time) {
                out.push(l);
            }
            out.push(entry);
        }
        out.extend(local);
        Ok(out)
    }
}
