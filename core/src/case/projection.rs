//! What the repository shows of a case, read from its stored document: its form, modules,
//! status, values and open conflicts ([`CaseProjection`]), and its audit trail
//! ([`case_history`]).

use super::document::{Candidate, CaseDoc, DocError, FieldPath, HistoryEntry};
use super::meta::{self, Status};
use crate::repository::HubError;
use automerge::ActorId;

/// What the repository shows of one case: read from its stored document.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CaseProjection {
    pub form_id: String,
    /// The version of the core form the case records ([`super::upgrade`]).
    pub form_version: String,
    pub modules: Vec<String>,
    /// `draft`, `complete` or `signed` (as [`Status::as_str`] writes it).
    pub status: String,
    pub deleted: bool,
    /// The current values as a validation input (`{"field": value, "group": [{row}]}`).
    pub values: serde_json::Map<String, serde_json::Value>,
    /// Every field with concurrent different values, with its candidates.
    pub conflicts: Vec<ProjectedConflict>,
}

/// One open conflict of a [`CaseProjection`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProjectedConflict {
    #[serde(flatten)]
    pub path: FieldPath,
    pub candidates: Vec<Candidate>,
}

/// Reads a stored case document (as [`crate::repository::StoredCase::doc`] holds it) into a
/// [`CaseProjection`].
pub fn case_projection(doc: &[u8]) -> Result<CaseProjection, HubError> {
    let mut doc = CaseDoc::load(doc, &ActorId::random()).map_err(unreadable)?;
    Ok(project_doc(&mut doc))
}

/// A stored document that does not load, as the repository reports it.
fn unreadable(e: DocError) -> HubError {
    HubError::Storage(e.to_string())
}

/// The projection of a loaded case document.
pub(crate) fn project_doc(doc: &mut CaseDoc) -> CaseProjection {
    CaseProjection {
        form_id: meta::form_id_of(doc),
        form_version: super::CaseForm::of(doc).form_version,
        modules: meta::modules_of(doc),
        status: Status::of(doc).as_str().to_string(),
        deleted: meta::is_deleted(doc),
        values: doc.values(),
        conflicts: doc
            .conflicts()
            .into_iter()
            .map(|(path, candidates)| ProjectedConflict { path, candidates })
            .collect(),
    }
}

/// The audit trail of a stored case document (as [`crate::repository::StoredCase::doc`] holds it),
/// oldest first, the same entries every device holding the same changes shows; only entries
/// touching `field` when given.
pub fn case_history(doc: &[u8], field: Option<&str>) -> Result<Vec<HistoryEntry>, HubError> {
    let mut doc = CaseDoc::load(doc, &ActorId::random()).map_err(unreadable)?;
    Ok(doc.history(field))
}

/// The electronic signatures of a stored case document, oldest first, each marked superseded
/// when a later edit changed what it signed.
pub fn case_signatures(doc: &[u8]) -> Result<Vec<super::Signature>, HubError> {
    let mut doc = CaseDoc::load(doc, &ActorId::random()).map_err(unreadable)?;
    Ok(super::signatures(&mut doc))
}
