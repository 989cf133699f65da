//! What a case document says about the case itself, read in one place: its status, its form
//! and form version, its modules, and whether it is deleted.
//!
//! The device store and the repository's projection both read a document through these, so a
//! case has the same status and form wherever it is shown.

use super::document::CaseDoc;
use serde::Serialize;
use serde_json::Value as Json;

/// Where a case is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Complete,
    Signed,
}

impl Status {
    /// The status as documents, listing columns and projections store it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Complete => "complete",
            Status::Signed => "signed",
        }
    }

    /// Reads a stored status; anything unknown (or none) is a draft.
    pub fn parse(s: &str) -> Status {
        match s {
            "complete" => Status::Complete,
            "signed" => Status::Signed,
            _ => Status::Draft,
        }
    }

    /// The status a case document holds (a draft when it holds none).
    pub(crate) fn of(doc: &CaseDoc) -> Status {
        Status::parse(&doc.root_str("status").unwrap_or_default())
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The form a case is entered on: a core form, its version, and the modules composed with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseForm {
    pub form_id: String,
    pub form_version: String,
    pub modules: Vec<String>,
}

impl CaseForm {
    /// Reads a case document's form (empty parts when the document holds none).
    pub(crate) fn of(doc: &CaseDoc) -> CaseForm {
        CaseForm {
            form_id: form_id_of(doc),
            form_version: text(doc.meta("form_version")),
            modules: modules_of(doc),
        }
    }
}

fn text(v: Option<Json>) -> String {
    match v {
        Some(Json::String(s)) => s,
        _ => String::new(),
    }
}

/// The core form id of a case document (empty when it holds none).
pub(crate) fn form_id_of(doc: &CaseDoc) -> String {
    text(doc.meta("form_id"))
}

/// The modules of a case document (its text entries; none when it holds no list).
pub(crate) fn modules_of(doc: &CaseDoc) -> Vec<String> {
    match doc.meta("modules") {
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a case document is marked deleted.
pub(crate) fn is_deleted(doc: &CaseDoc) -> bool {
    doc.root_str("deleted").is_some()
}
