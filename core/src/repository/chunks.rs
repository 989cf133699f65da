//! How large pushed automerge bytes become once the document library has decompressed them.
//!
//! automerge inflates, without any size limit, the deflate-compressed columns of a document
//! chunk and the body of a compressed change chunk when it loads bytes: a few megabytes can
//! expand to gigabytes. [`expanded_size`] walks the chunk structure first (the automerge binary
//! format: magic `85 6f 4a 83`, a 4-byte checksum, the chunk type, a uLEB128 length, the body;
//! chunks follow each other) and inflates every compressed part into nothing, counting, up to
//! a limit: a case is refused before automerge sees it when it would expand beyond that.
//!
//! Devices send documents without column compression (`save_nocompress`) and plain change
//! chunks (`save_after`), so for them the expanded size is their length; compressed documents
//! and change chunks (older automerge writers) are taken within the limit. Bundle chunks and
//! unknown chunk types are refused: no WardCRF writer makes them.

use std::io::Read;

/// Why pushed bytes were refused before the document library read them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Once decompressed, the bytes would take more than this many bytes.
    #[error("they would expand to more than {0} bytes once decompressed")]
    TooLarge(usize),
    /// The chunk structure cannot be walked (cut short, lengths beyond the chunk, a
    /// compressed part that is not deflate, a chunk type no WardCRF writer makes).
    #[error("{0}")]
    Malformed(String),
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;
/// Bit 3 of a column specification: the column's data is deflate-compressed.
const DEFLATE_BIT: u64 = 0b1000;

fn malformed(what: &str) -> ChunkError {
    ChunkError::Malformed(what.to_string())
}

/// The number of bytes `bytes` (a sequence of automerge chunks) takes once every compressed
/// part is inflated, counted without keeping what is inflated; [`ChunkError::TooLarge`] as
/// soon as it exceeds `limit`, [`ChunkError::Malformed`] when the structure cannot be walked.
/// Checksums are not verified here (the document library does).
pub fn expanded_size(bytes: &[u8], limit: usize) -> Result<usize, ChunkError> {
    walk(bytes, limit).map_err(|e| match e {
        ChunkError::TooLarge(_) => ChunkError::TooLarge(limit),
        malformed => malformed,
    })
}

fn walk(bytes: &[u8], limit: usize) -> Result<usize, ChunkError> {
    let mut total: usize = 0;
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut r = Cursor(rest);
        if r.take(4, "a chunk header")? != MAGIC {
            return Err(malformed("bytes that are not an automerge chunk"));
        }
        r.take(4, "a chunk checksum")?;
        let kind = r.take(1, "a chunk type")?[0];
        let len = r.len("a chunk length")?;
        let body = r.take(len, "a chunk")?;
        let header = rest.len() - r.0.len() - body.len();
        let size = header
            + match kind {
                DOCUMENT => document_size(body, limit.saturating_sub(total + header))?,
                CHANGE => body.len(),
                COMPRESSED_CHANGE => {
                    inflated_size(body, limit.saturating_sub(total + header), "a change")?
                }
                other => {
                    return Err(ChunkError::Malformed(format!(
                        "a chunk of type {other}, which no WardCRF device sends"
                    )));
                }
            };
        total = total.saturating_add(size);
        if total > limit {
            return Err(ChunkError::TooLarge(limit));
        }
        rest = r.0;
    }
    Ok(total)
}

/// The heads of `bytes` read from the header of their document chunk, without loading the
/// document, when `bytes` are exactly one whole document chunk whose checksum holds (the
/// repository's own saved documents); `None` for any other shape (trailing bytes, change
/// chunks, a checksum that does not match, a header cut short), which the caller loads.
pub fn document_heads(bytes: &[u8]) -> Option<Vec<automerge::ChangeHash>> {
    let mut r = Cursor(bytes);
    if r.take(4, "a chunk header").ok()? != MAGIC {
        return None;
    }
    let checksum = r.take(4, "a chunk checksum").ok()?;
    // The checksum covers the chunk type, its length and its body: all that follows.
    let checked = r.0;
    if r.take(1, "a chunk type").ok()?[0] != DOCUMENT {
        return None;
    }
    let len = r.len("a chunk length").ok()?;
    let body = r.take(len, "a chunk").ok()?;
    if !r.0.is_empty() {
        return None;
    }
    let hash = ring::digest::digest(&ring::digest::SHA256, checked);
    if hash.as_ref().get(..4)? != checksum {
        return None;
    }
    let mut b = Cursor(body);
    let actors = b.len("the number of actors").ok()?;
    for _ in 0..actors {
        let n = b.len("an actor id").ok()?;
        b.take(n, "an actor id").ok()?;
    }
    let n = b.len("the number of heads").ok()?;
    let mut heads = (0..n)
        .map(|_| {
            b.take(32, "a head")
                .ok()
                .and_then(|h| automerge::ChangeHash::try_from(h).ok())
        })
        .collect::<Option<Vec<_>>>()?;
    heads.sort_unstable();
    Some(heads)
}

/// The expanded size of a document chunk's body: its length with each deflated column
/// counted at its inflated size.
fn document_size(body: &[u8], limit: usize) -> Result<usize, ChunkError> {
    let mut r = Cursor(body);
    let actors = r.len("the number of actors")?;
    for _ in 0..actors {
        let n = r.len("an actor id")?;
        r.take(n, "an actor id")?;
    }
    let heads = r.len("the number of heads")?;
    r.take(heads.saturating_mul(32), "the heads")?;
    let mut columns = Vec::new();
    for what in ["the change columns", "the operation columns"] {
        let n = r.len(what)?;
        for _ in 0..n {
            let spec = r.uleb(what)?;
            let len = r.len(what)?;
            columns.push((spec & DEFLATE_BIT != 0, len));
        }
    }
    let mut size = body.len();
    for (deflated, len) in columns {
        let data = r.take(len, "a column")?;
        if deflated {
            let budget = limit.saturating_sub(size);
            size = size.saturating_add(inflated_size(data, budget, "a column")?);
            if size > limit {
                return Err(ChunkError::TooLarge(limit));
            }
        }
    }
    Ok(size)
}

/// The size of raw-deflate `data` once inflated, into nothing; [`ChunkError::TooLarge`]
/// beyond `limit` (at most `limit + 1` bytes are inflated).
fn inflated_size(data: &[u8], limit: usize, what: &str) -> Result<usize, ChunkError> {
    let decoder = flate2::read::DeflateDecoder::new(data);
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let n = std::io::copy(&mut decoder.take(cap), &mut std::io::sink())
        .map_err(|_| ChunkError::Malformed(format!("{what} is compressed but not deflate")))?;
    match usize::try_from(n) {
        Ok(n) if n <= limit => Ok(n),
        _ => Err(ChunkError::TooLarge(limit)),
    }
}

/// Reads a chunk front to back; every read checks what is left.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ChunkError> {
        if self.0.len() < n {
            return Err(ChunkError::Malformed(format!("{what} is cut short")));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// An unsigned LEB128 number of at most 64 bits.
    fn uleb(&mut self, what: &str) -> Result<u64, ChunkError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.take(1, what)?[0];
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                break;
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ChunkError::Malformed(format!(
            "{what}: a number is malformed"
        )))
    }

    /// A length or count: never more than the bytes left (each item takes one byte at least).
    fn len(&mut self, what: &str) -> Result<usize, ChunkError> {
        let n = self.uleb(what)?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.0.len())
            .ok_or_else(|| ChunkError::Malformed(format!("{what} goes beyond the chunk")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::document::{ChangeNote, FieldPath};
    use automerge::{ActorId, AutoCommit, ROOT, transaction::Transactable};
    use std::io::Write;

    fn deflate(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn case_doc() -> crate::store::document::CaseDoc {
        let actor = ActorId::random();
        let mut doc = crate::store::document::CaseDoc::create(
            &actor,
            &serde_json::Map::new(),
            &["labs".to_string()],
            &ChangeNote::new("nurse", "create"),
            1,
        )
        .unwrap();
        for i in 0..50 {
            let mut note = ChangeNote::new("nurse", "set");
            note.field = Some("vs_hr".into());
            doc.put_value(
                &FieldPath::field("vs_hr"),
                Some(&serde_json::json!(60 + i)),
                &note,
                2 + i,
            )
            .unwrap();
        }
        doc
    }

    #[test]
    fn heads_are_read_from_a_whole_document_chunk_only() {
        let mut doc = case_doc();
        let saved = doc.save();
        assert_eq!(document_heads(&saved), Some(doc.heads()));
        // Two writers' concurrent changes: two heads, as the document holds them.
        let mut other = crate::store::document::CaseDoc::load(&saved, &ActorId::random()).unwrap();
        let mut note = ChangeNote::new("nurse", "set");
        note.field = Some("vs_temp".into());
        other
            .put_value(
                &FieldPath::field("vs_temp"),
                Some(&serde_json::json!(38.5)),
                &note,
                99,
            )
            .unwrap();
        note.field = Some("vs_hr".into());
        doc.put_value(
            &FieldPath::field("vs_hr"),
            Some(&serde_json::json!(120)),
            &note,
            99,
        )
        .unwrap();
        doc.merge(&mut other).unwrap();
        let merged = doc.save();
        assert_eq!(doc.heads().len(), 2);
        assert_eq!(document_heads(&merged), Some(doc.heads()));
        // Anything else is left to a full load.
        let mut trailing = merged.clone();
        trailing.extend_from_slice(&[0; 64]);
        assert_eq!(document_heads(&trailing), None);
        let mut flipped = merged.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            document_heads(&flipped),
            None,
            "the checksum no longer holds"
        );
        assert_eq!(document_heads(&merged[..merged.len() - 1]), None);
        assert_eq!(document_heads(&doc.changes_after(&[])), None);
        assert_eq!(document_heads(&[]), None);
    }

    #[test]
    fn what_devices_send_expands_to_its_own_length() {
        let mut doc = case_doc();
        let saved = doc.save();
        assert_eq!(expanded_size(&saved, saved.len()), Ok(saved.len()));
        let changes = doc.changes_after(&[]);
        assert!(changes.len() > 1000);
        assert_eq!(expanded_size(&changes, changes.len()), Ok(changes.len()));
        assert_eq!(expanded_size(&[], 0), Ok(0));
        // A limit below the length refuses.
        assert_eq!(
            expanded_size(&changes, changes.len() - 1),
            Err(ChunkError::TooLarge(changes.len() - 1))
        );
    }

    #[test]
    fn compressed_documents_and_changes_count_at_their_inflated_size() {
        let mut am = AutoCommit::new();
        for i in 0..2000 {
            am.put(ROOT, format!("field_{i}"), "the same words again and again")
                .unwrap();
        }
        let compressed = am.save();
        let plain = am.save_nocompress();
        assert!(compressed.len() < plain.len());
        let n = expanded_size(&compressed, usize::MAX).unwrap();
        assert!(n >= plain.len() - 64 && n > compressed.len(), "{n}");
        assert!(matches!(
            expanded_size(&compressed, compressed.len()),
            Err(ChunkError::TooLarge(_))
        ));
        // A compressed change chunk (type 2): its body inflated.
        let change = am.get_changes(&[]).pop().unwrap();
        let raw = change.raw_bytes().to_vec();
        let mut packed = raw[..8].to_vec();
        packed.push(COMPRESSED_CHANGE);
        let body = deflate(&raw[9 + uleb_len(&raw[9..])..]);
        leb(&mut packed, body.len() as u64);
        packed.extend_from_slice(&body);
        let inner = raw.len() - 9 - uleb_len(&raw[9..]);
        assert_eq!(
            expanded_size(&packed, usize::MAX),
            Ok(packed.len() - body.len() + inner)
        );
    }

    #[test]
    fn a_deflate_bomb_is_refused_without_inflating_it_into_memory() {
        let bomb = bomb_document(64 * 1024 * 1024);
        assert!(bomb.len() < 200_000, "{}", bomb.len());
        assert_eq!(
            expanded_size(&bomb, 16 * 1024 * 1024),
            Err(ChunkError::TooLarge(16 * 1024 * 1024))
        );
        let mut bomb_change = bomb[..8].to_vec();
        bomb_change.push(COMPRESSED_CHANGE);
        let body = deflate(&vec![0u8; 32 * 1024 * 1024]);
        leb(&mut bomb_change, body.len() as u64);
        bomb_change.extend_from_slice(&body);
        assert_eq!(
            expanded_size(&bomb_change, 1024 * 1024),
            Err(ChunkError::TooLarge(1024 * 1024))
        );
    }

    #[test]
    fn structures_that_cannot_be_walked_are_refused() {
        let mut doc = case_doc();
        let saved = doc.save();
        for cut in [1, 5, 9, 10, 40, saved.len() - 1] {
            assert!(
                matches!(
                    expanded_size(&saved[..cut], usize::MAX),
                    Err(ChunkError::Malformed(_))
                ),
                "cut at {cut}"
            );
        }
        let mut trailing = saved.clone();
        trailing.extend_from_slice(&[0u8; 64]);
        assert!(matches!(
            expanded_size(&trailing, usize::MAX),
            Err(ChunkError::Malformed(_))
        ));
        let mut bundle = saved.clone();
        bundle[8] = 3;
        assert!(matches!(
            expanded_size(&bundle, usize::MAX),
            Err(ChunkError::Malformed(_))
        ));
        // A deflated column that is not deflate.
        let mut column = MAGIC.to_vec();
        column.extend_from_slice(&[0; 4]);
        column.push(DOCUMENT);
        let mut body = vec![0, 0, 0, 1];
        leb(&mut body, 8 | (1 << 4));
        leb(&mut body, 4);
        body.extend_from_slice(&[0xff; 4]);
        leb(&mut column, body.len() as u64);
        column.extend_from_slice(&body);
        assert!(matches!(
            expanded_size(&column, usize::MAX),
            Err(ChunkError::Malformed(m)) if m.contains("not deflate")
        ));
        // Counts and lengths beyond the chunk.
        for body in [vec![0x7f], vec![0, 0, 0, 1, 0, 0x7f], vec![0xff; 11]] {
            let mut chunk = vec![0u8; 8];
            chunk.push(DOCUMENT);
            leb(&mut chunk, body.len() as u64);
            chunk.extend_from_slice(&body);
            chunk[..4].copy_from_slice(&MAGIC);
            assert!(
                matches!(
                    expanded_size(&chunk, usize::MAX),
                    Err(ChunkError::Malformed(_))
                ),
                "{body:?}"
            );
        }
    }

    fn leb(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn uleb_len(bytes: &[u8]) -> usize {
        bytes.iter().position(|b| b & 0x80 == 0).unwrap() + 1
    }

    /// A document chunk with one operation column of `size` zero bytes, deflated.
    fn bomb_document(size: usize) -> Vec<u8> {
        let column = deflate(&vec![0u8; size]);
        // No actors, no heads, no change columns, one operation column.
        let mut body = vec![0, 0, 0, 1];
        leb(&mut body, 8 | (1 << 4)); // deflated, column 1
        leb(&mut body, column.len() as u64);
        body.extend_from_slice(&column);
        let mut chunk = MAGIC.to_vec();
        chunk.extend_from_slice(&[0; 4]);
        chunk.push(DOCUMENT);
        leb(&mut chunk, body.len() as u64);
        chunk.extend_from_slice(&body);
        chunk
    }
}
