//! Electronic signatures of a case (21 CFR Part 11 §11.50, §11.70), one definition for the
//! device and the repository.
//!
//! Signing moves a complete case to `signed` in one change whose note is the signature: the
//! signer (staff id and printed name, [`Attribution`]), the time, the meaning chosen from the
//! site's meanings (its code and its labels in the three languages), and the case's heads at
//! signing, which bind the signature to exactly the record signed. The person's password is
//! checked by the caller at that moment (the device store: not a PIN).
//!
//! A signature is never removed: a later edit of the case (which reopens it) leaves it in the
//! history, shown as superseded ([`signatures`]).

use super::document::{CaseDoc, ChangeNote, DocError};
use super::meta::Status;
use crate::staff::{Attribution, SignatureMeaning};
use serde::Serialize;
use serde_json::{Value as Json, json};

/// The change-note operation of a signature.
pub const SIGN_OP: &str = "sign";

/// Operations that change what was signed (values, rows, conflicts, status, deletion).
const EDIT_OPS: &[&str] = &[
    "set",
    "clear",
    "row_add",
    "row_remove",
    "resolve",
    "reopen",
    "delete",
    "restore",
    "edit",
];

/// One signature of a case, as history, the console and the exports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signature {
    /// The signer's staff id and printed name.
    pub signer: Attribution,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// The meaning's code (`author`, `investigator-approval`, ...).
    pub meaning: String,
    /// The meaning's label in English, Japanese and German, as shown when signing.
    pub meaning_en: String,
    pub meaning_ja: String,
    pub meaning_de: String,
    /// The case's heads when it was signed (hex): what the signature covers.
    pub heads: Vec<String>,
    /// The signing change (hex).
    pub change: String,
    /// A later edit changed the case: the signature no longer covers its current state.
    pub superseded: bool,
}

/// Why a case could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("a case can only be signed when it is complete")]
    NotComplete,
    #[error(transparent)]
    Document(#[from] DocError),
}

/// Signs a complete case as `signer` with `meaning`, in one change. The caller has checked
/// the signer's password.
pub fn sign(
    doc: &mut CaseDoc,
    signer: &Attribution,
    meaning: &SignatureMeaning,
    time: i64,
) -> Result<(), SignError> {
    let status = Status::of(doc);
    if status != Status::Complete {
        return Err(SignError::NotComplete);
    }
    let heads: Vec<String> = doc.heads().iter().map(ToString::to_string).collect();
    let mut note = ChangeNote::by(signer, SIGN_OP);
    note.old = Some(json!(status.as_str()));
    note.new = Some(json!({
        "status": Status::Signed.as_str(),
        "meaning": meaning.code,
        "meaning_en": meaning.en,
        "meaning_ja": meaning.ja,
        "meaning_de": meaning.de,
        "heads": heads,
    }));
    doc.put_root("status", Some(Status::Signed.as_str()), &note, time)?;
    Ok(())
}

/// Every signature of a case, oldest first, each marked superseded when a change that edits
/// the case is not covered by the heads it signed.
pub fn signatures(doc: &mut CaseDoc) -> Vec<Signature> {
    let signed: Vec<(i64, ChangeNote, String)> = doc
        .changes()
        .into_iter()
        .filter(|(_, _, note, _)| note.op == SIGN_OP && note.by.is_some())
        .map(|(_, time, note, hash)| (time, note, hash))
        .collect();
    signed
        .into_iter()
        .filter_map(|(time, note, change)| {
            let new = note.new.as_ref()?;
            let text = |k: &str| new.get(k).and_then(Json::as_str).unwrap_or("").to_string();
            let heads: Vec<String> = new
                .get("heads")?
                .as_array()?
                .iter()
                .filter_map(|h| h.as_str().map(str::to_string))
                .collect();
            let parsed = super::heads::parse_heads(&heads)?;
            let superseded = doc
                .notes_after(&parsed)
                .iter()
                .any(|n| EDIT_OPS.contains(&n.op.as_str()));
            Some(Signature {
                signer: note.by.clone()?,
                time,
                meaning: text("meaning"),
                meaning_en: text("meaning_en"),
                meaning_ja: text("meaning_ja"),
                meaning_de: text("meaning_de"),
                heads,
                change,
                superseded,
            })
        })
        .collect()
}
