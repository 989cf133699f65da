//! Document heads (the hashes of a document's latest changes) as they are stored and sent:
//! raw bytes in the device store and the repository, hex text on the wire.

use automerge::ChangeHash;

/// Heads as stored and sent: sorted 32-byte hashes, concatenated.
pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

/// The inverse of [`encode_heads`]; `None` when the bytes are not whole hashes.
pub fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes
        .chunks(32)
        .map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

/// Parses hex change hashes; `None` if any is malformed.
pub fn parse_heads(heads: &[String]) -> Option<Vec<ChangeHash>> {
    heads.iter().map(|h| h.parse::<ChangeHash>().ok()).collect()
}
