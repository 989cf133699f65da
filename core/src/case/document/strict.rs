//! What the repository needs of a case document and a device does not: applying a peer's
//! changes strictly (whole, valid chunks and no missing dependency), the changes not covered
//! by given heads, and the keys each change writes (for the identifying-data check).

use super::{CaseDoc, DocError};
use automerge::{ActorId, AutoCommit, ChangeHash, ScalarValue};
use serde_json::Value as Json;
use std::collections::BTreeSet;

impl CaseDoc {
    /// Applies changes from a peer only if every byte of `bytes` is part of a whole, valid
    /// chunk: a document or a change (uncompressed, as devices send them) with a correct
    /// checksum, nothing after the last one. [`CaseDoc::apply`] ignores what follows the first
    /// unreadable chunk; this refuses it. Changes whose dependencies are missing are refused
    /// too (see [`CaseDoc::missing_deps`]).
    pub fn apply_strict(&mut self, bytes: &[u8]) -> Result<(), DocError> {
        let mut changes = Vec::new();
        for chunk in split_chunks(bytes).map_err(DocError::Damaged)? {
            match chunk.get(8) {
                Some(0) => {
                    let mut whole = AutoCommit::load(chunk)
                        .map_err(|e| DocError::Damaged(format!("a document in it: {e}")))?;
                    changes.extend(whole.get_changes(&[]));
                }
                Some(1) => {
                    let change = automerge::Change::try_from(chunk)
                        .map_err(|e| DocError::Damaged(format!("a change in it: {e}")))?;
                    if change.hash().0[..4] != chunk[4..8] {
                        return Err(DocError::Damaged("a change's checksum is wrong".into()));
                    }
                    changes.push(change);
                }
                _ => {
                    return Err(DocError::Damaged(
                        "it holds a chunk that is neither a document nor a plain change".into(),
                    ));
                }
            }
        }
        self.doc.apply_changes(changes)?;
        let missing = self.missing_deps();
        if !missing.is_empty() {
            return Err(DocError::Damaged(format!(
                "its changes depend on {} change(s) it does not hold",
                missing.len()
            )));
        }
        Ok(())
    }

    /// Changes this document was given whose dependencies it lacks (held back, not applied).
    pub fn missing_deps(&mut self) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(&[])
    }

    /// Whether the document holds the change with this hash.
    pub fn has_change(&mut self, hash: &ChangeHash) -> bool {
        self.doc.get_change_by_hash(hash).is_some()
    }

    /// Who wrote the changes not covered by `heads` (all of them for no heads): each one's
    /// actor (hex), time and note, read from the change metadata without rebuilding the
    /// changes' operations (about a third of the cost of [`CaseDoc::changes_since`]).
    pub fn writers_since(&mut self, heads: &[ChangeHash]) -> Vec<(String, i64, super::ChangeNote)> {
        // A push's changes come in runs by one actor: each actor is written as hex once a run.
        let mut last: Option<(ActorId, String)> = None;
        self.doc
            .get_changes_meta(heads)
            .into_iter()
            .map(|m| {
                let hex = match &last {
                    Some((actor, hex)) if *actor == *m.actor => hex.clone(),
                    _ => {
                        let hex = m.actor.to_hex_string();
                        last = Some((m.actor.clone().into_owned(), hex.clone()));
                        hex
                    }
                };
                (hex, m.timestamp, super::note_of(m.message.as_deref()))
            })
            .collect()
    }

    /// The changes not covered by `heads` (all of them for no heads), as [`NewChange`]s.
    pub fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<NewChange> {
        self.doc
            .get_changes(heads)
            .into_iter()
            .map(|c| NewChange {
                actor: c.actor_id().to_hex_string(),
                change: c,
            })
            .collect()
    }
}

/// One change of a document (see [`CaseDoc::changes_since`]).
#[derive(Debug)]
pub struct NewChange {
    /// Its actor, hex (a device id, or a repository actor).
    pub actor: String,
    change: automerge::Change,
}

impl NewChange {
    /// The change's note (`unknown` when it holds none that reads).
    pub fn note(&self) -> super::ChangeNote {
        super::note_of(self.change.message())
    }

    /// The change's time (seconds since the epoch, as its writer's clock said).
    pub fn time(&self) -> i64 {
        self.change.timestamp()
    }

    /// Every map key the change writes (puts, deletes, or makes an object under) anywhere in
    /// the document, every key of a JSON object held in a string it puts, at any depth, and
    /// the field its note names with the keys of the note's old and new values (a note
    /// carries values too).
    pub fn written_keys(&self) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        if let Some(Json::Object(note)) = self
            .change
            .message()
            .and_then(|m| serde_json::from_str(m).ok())
        {
            if let Some(Json::String(field)) = note.get("field") {
                keys.insert(field.clone());
            }
            for side in ["old", "new"] {
                if let Some(v) = note.get(side) {
                    json_keys(v, &mut keys);
                }
            }
        }
        for op in self.change.decode().operations {
            if let automerge::legacy::Key::Map(k) = &op.key {
                keys.insert(k.to_string());
            }
            if let automerge::legacy::OpType::Put(ScalarValue::Str(s)) = &op.action
                && s.trim_start().starts_with(['{', '['])
                && let Ok(v) = serde_json::from_str::<Json>(s)
            {
                json_keys(&v, &mut keys);
            }
        }
        keys
    }
}

fn json_keys(v: &Json, keys: &mut BTreeSet<String>) {
    match v {
        Json::Object(o) => {
            for (k, v) in o {
                keys.insert(k.clone());
                json_keys(v, keys);
            }
        }
        Json::Array(a) => a.iter().for_each(|v| json_keys(v, keys)),
        _ => {}
    }
}

/// The automerge chunks `bytes` is made of (magic, checksum, type, LEB128 length, body, as
/// automerge writes them); refused if anything is left over or a chunk is cut short.
fn split_chunks(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut chunks = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 10 || rest[..4] != MAGIC {
            return Err(format!(
                "{} bytes after its last chunk are not an automerge chunk",
                rest.len()
            ));
        }
        let mut len: u64 = 0;
        let mut at = 9;
        loop {
            let Some(&b) = rest.get(at) else {
                return Err("a chunk header is cut short".into());
            };
            if at - 9 >= 9 {
                return Err("a chunk length is malformed".into());
            }
            len |= u64::from(b & 0x7f) << (7 * (at - 9));
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(at))
            .filter(|&end| end <= rest.len())
            .ok_or_else(|| "a chunk is cut short".to_string())?;
        chunks.push(&rest[..end]);
        rest = &rest[end..];
    }
    Ok(chunks)
}
