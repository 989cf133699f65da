//! The sync wire format, shared by the device client and the repository server.
//!
//! One exchange is one HTTP request: the device pushes, per case it changed, the automerge
//! changes the repository lacks (`save_after` the heads the repository is known to hold) and
//! its cursor (the last repository sequence number it applied); the repository answers with,
//! per case it changed since that cursor (and per pushed case), the changes the device lacks
//! and the repository's heads. Changes are automerge's own encoding: base64 in the JSON form,
//! raw bytes in the binary form ([`BinaryBody`]) that the device client uses. Applying changes
//! twice is harmless, so an interrupted exchange is simply repeated.
//!
//! Over HTTP, a body above [`COMPRESS_ABOVE`] bytes travels gzip-compressed
//! (`Content-Encoding: gzip`; the device asks for compressed answers with `Accept-Encoding`).
//! The cases of one batch share field names, note keys and users, so a batch compresses far
//! better than each document alone.

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Sync bodies larger than this are sent gzip-compressed.
pub const COMPRESS_ABOVE: usize = 1024;

/// The largest sync answer a device reads once expanded. The repository's own request limit is
/// 32 MiB, and its pull answers stay far below this (`PULL_BYTES`).
pub const MAX_ANSWER: usize = 256 * 1024 * 1024;

/// At most this many cases in one push: four times what the device client sends
/// ([`crate::sync::PUSH_BATCH`]). The repository refuses more; the wire decoder reads no more.
pub const MAX_PUSH_CASES: usize = 4 * super::PUSH_BATCH;
/// At most this many heads for one case (concurrent edits not yet merged on the device).
pub const MAX_HEADS: usize = 256;

/// `bytes` gzip-compressed (fast level: the CPU matters as much as the bytes on a tablet).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Why a gzip body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GunzipError {
    #[error("the compressed body is larger than {0} bytes once expanded")]
    TooLarge(usize),
    #[error("the body is not valid gzip")]
    Invalid,
}

/// Expands a gzip body of at most `limit` bytes once expanded (a small body that would expand
/// without bound is refused, not read).
pub fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(limit));
    let read = flate2::read::GzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out);
    match read {
        Ok(n) if n > limit => Err(GunzipError::TooLarge(limit)),
        Ok(_) => Ok(out),
        Err(_) => Err(GunzipError::Invalid),
    }
}

/// The protocol version this build speaks. A device sends it; a repository answers in the
/// version of the request, any from [`OLDEST_PROTOCOL`] to this one.
///
/// - 1: the first version.
/// - 2: requests and answers carry the repository's epoch ([`SyncResponse::epoch`]).
pub const PROTOCOL: u32 = 2;

/// The oldest protocol version a repository of this build still answers (devices not yet
/// updated), and a device still reads (a repository that answers without an epoch).
pub const OLDEST_PROTOCOL: u32 = 1;

/// The first protocol version whose requests and answers carry the repository's epoch.
pub const EPOCH_PROTOCOL: u32 = 2;

/// The changes of one case, and the sender's heads after them (hex change hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseChanges {
    pub case_id: String,
    pub form_id: String,
    /// automerge changes, base64 (standard alphabet, padded).
    #[serde(with = "b64")]
    pub changes: Vec<u8>,
    /// The sender's heads once these changes are applied.
    pub heads: Vec<String>,
}

/// Device → repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    pub protocol: u32,
    /// The highest repository sequence number whose cases this device has applied.
    pub cursor: u64,
    /// Read from JSON only up to [`MAX_PUSH_CASES`] entries, each with up to
    /// [`super::MAX_HEADS`] heads: one more is refused there, before the rest of the body is
    /// parsed.
    #[serde(deserialize_with = "bounded::push")]
    pub push: Vec<CaseChanges>,
    /// The repository epoch the device last synced with ([`SyncResponse::epoch`]), from
    /// protocol 2 on; `None` before its first such answer. A repository whose epoch is
    /// another (it was restored from a backup since) takes nothing of the request and answers
    /// with its epoch only: the push was built on heads the repository may no longer hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// Why a JSON sync request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonRequestError {
    /// The push holds more entries than are taken in one exchange (read up to one more).
    #[error(
        "the push holds more than {0} cases; at most {0} are taken in one exchange: send fewer \
         cases at a time"
    )]
    TooManyCases(usize),
    /// Not JSON, or not a sync request (serde's message: keys and positions, never values).
    #[error("the request is not valid JSON for this endpoint: {0}")]
    Invalid(String),
}

impl SyncRequest {
    /// Reads a JSON request. Lists are read only up to their limit (more than
    /// [`MAX_PUSH_CASES`] entries is [`JsonRequestError::TooManyCases`], more than
    /// [`super::MAX_HEADS`] heads for a case [`JsonRequestError::Invalid`]), so a body of
    /// many small entries costs no more than one at the limit.
    pub fn from_json(bytes: &[u8]) -> Result<Self, JsonRequestError> {
        bounded::TOO_MANY_CASES.set(false);
        serde_json::from_slice(bytes).map_err(|e| {
            if bounded::TOO_MANY_CASES.replace(false) {
                JsonRequestError::TooManyCases(MAX_PUSH_CASES)
            } else {
                JsonRequestError::Invalid(e.to_string())
            }
        })
    }
}

/// Repository → device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncResponse {
    pub protocol: u32,
    /// The cursor to send next time (once `cases` are applied).
    pub cursor: u64,
    /// More cases wait beyond this batch: exchange again.
    pub more: bool,
    pub cases: Vec<CaseChanges>,
    /// Cases the repository asks to be pushed again whole: their stored document could not
    /// be read, and they are left out of every answer until a device that holds one pushes
    /// it. A device forgets what the repository holds of each of them that it holds (its
    /// next push then sends the whole case) and ignores the others. Sent only when not
    /// empty, so devices that predate it read every other answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repush: Vec<String>,
    /// The repository's epoch (protocol 2 on): a random id made with its database and
    /// replaced whenever the database is restored from a backup. A device that sees it change
    /// treats the repository as restored: it may lack what the device pushed or pulled since
    /// the backup, so the device pushes everything again and pulls from the start. Sent only in
    /// answers to requests of protocol 2 or later, so older devices read every answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// The media type of the binary encoding of sync bodies.
pub const BINARY_MEDIA_TYPE: &str = "application/vnd.wardcrf.sync+binary";

/// Why a binary sync body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the binary sync body is malformed: {0}")]
pub struct BinaryError(pub String);

/// The binary encoding of sync bodies: the same content as the JSON, with the changes as
/// raw bytes instead of base64 and heads as 32 raw bytes instead of hex. Raw bytes let the
/// gzip of a batch find what its cases share (field names, notes, users), which base64 hides:
/// a batch of freshly entered cases goes in about a third of the bytes of its gzipped JSON.
///
/// Layout (integers little-endian): a 4-byte magic (`WSQ1` request, `WSA1` answer), the
/// protocol (u32), the cursor (u64), for an answer `more` (u8, 0 or 1), from protocol 2 on
/// the epoch (u16 length + UTF-8; empty when there is none), the number of cases
/// (u32), then per case: case id and form id (u16 length + UTF-8 each), the number of heads
/// (u16) and the heads (32 bytes each), the changes (u32 length + bytes). An answer whose
/// `repush` is not empty ends with it: the number of case ids (u32, never 0) and each id
/// (u16 length + UTF-8); without it the answer ends after its cases.
///
/// A body whose content does not fit the layout (a string longer than 65,535 bytes, a head that
/// is not 64 hex digits, more heads or cases than the counts hold) is refused when encoding,
/// never truncated: the other side could not read it.
pub trait BinaryBody: Sized {
    fn to_binary(&self) -> Result<Vec<u8>, BinaryError>;
    fn from_binary(bytes: &[u8]) -> Result<Self, BinaryError>;
}

const REQUEST_MAGIC: &[u8; 4] = b"WSQ1";
const ANSWER_MAGIC: &[u8; 4] = b"WSA1";

fn put_str(out: &mut Vec<u8>, s: &str, what: &str) -> Result<(), BinaryError> {
    let bytes = s.as_bytes();
    let len = u16::try_from(bytes.len()).map_err(|_| {
        BinaryError(format!(
            "{what} is {} bytes long; at most 65535 fit",
            bytes.len()
        ))
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// The epoch of a body of `protocol` 2 or later (empty when there is none); before that a
/// body has no place for one.
fn put_epoch(out: &mut Vec<u8>, protocol: u32, epoch: Option<&str>) -> Result<(), BinaryError> {
    if protocol >= EPOCH_PROTOCOL {
        put_str(out, epoch.unwrap_or(""), "the epoch")
    } else if epoch.is_some() {
        Err(BinaryError(format!(
            "a body of protocol {protocol} has no place for an epoch"
        )))
    } else {
        Ok(())
    }
}

fn put_cases(out: &mut Vec<u8>, cases: &[CaseChanges]) -> Result<(), BinaryError> {
    let n = u32::try_from(cases.len()).map_err(|_| BinaryError("too many cases".into()))?;
    out.extend_from_slice(&n.to_le_bytes());
    for c in cases {
        put_str(out, &c.case_id, "a case id")?;
        put_str(out, &c.form_id, "a form id")?;
        let heads = c
            .heads
            .iter()
            .map(|h| hex32(h))
            .collect::<Option<Vec<[u8; 32]>>>()
            .ok_or_else(|| {
                BinaryError(format!("case {}: a head is not 64 hex digits", c.case_id))
            })?;
        let n = u16::try_from(heads.len())
            .map_err(|_| BinaryError(format!("case {}: too many heads", c.case_id)))?;
        out.extend_from_slice(&n.to_le_bytes());
        for h in &heads {
            out.extend_from_slice(h);
        }
        let len = u32::try_from(c.changes.len())
            .map_err(|_| BinaryError(format!("case {}: its changes are too long", c.case_id)))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&c.changes);
    }
    Ok(())
}

fn hex32(h: &str) -> Option<[u8; 32]> {
    let bytes = h.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a binary body front to back; every read checks what is left.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], BinaryError> {
        if self.0.len() < n {
            return Err(BinaryError(format!("it ends inside {what}")));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self, what: &str) -> Result<u16, BinaryError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, BinaryError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, BinaryError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }

    fn str(&mut self, what: &str) -> Result<String, BinaryError> {
        let len = usize::from(self.u16(what)?);
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| BinaryError(format!("{what} is not UTF-8")))
    }

    /// The epoch of a body of `protocol` 2 or later (`None` when empty); before that, none.
    fn epoch(&mut self, protocol: u32) -> Result<Option<String>, BinaryError> {
        if protocol < EPOCH_PROTOCOL {
            return Ok(None);
        }
        let epoch = self.str("the epoch")?;
        Ok(Some(epoch).filter(|e| !e.is_empty()))
    }

    /// The cases; more than `max` are refused before any is read.
    fn cases(&mut self, max: usize) -> Result<Vec<CaseChanges>, BinaryError> {
        let n = self.u32("the number of cases")?;
        if n as usize > max {
            return Err(BinaryError(format!(
                "it holds {n} cases; at most {max} are taken in one exchange"
            )));
        }
        // Each case takes at least 10 bytes: never trust a count beyond what is there.
        let mut cases = Vec::with_capacity((n as usize).min(self.0.len() / 10));
        for _ in 0..n {
            let case_id = self.str("a case id")?;
            let form_id = self.str("a form id")?;
            let n_heads = usize::from(self.u16("the number of heads")?);
            let heads = self
                .take(n_heads.saturating_mul(32), "the heads")?
                .chunks(32)
                .map(to_hex)
                .collect();
            let len = self.u32("the length of the changes")? as usize;
            let changes = self.take(len, "the changes")?.to_vec();
            cases.push(CaseChanges {
                case_id,
                form_id,
                changes,
                heads,
            });
        }
        Ok(cases)
    }

    fn end(&self) -> Result<(), BinaryError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(BinaryError(format!(
                "{} bytes follow its end",
                self.0.len()
            )))
        }
    }
}

impl BinaryBody for SyncRequest {
    fn to_binary(&self) -> Result<Vec<u8>, BinaryError> {
        let size: usize = self.push.iter().map(|c| c.changes.len() + 128).sum();
        let mut out = Vec::with_capacity(size + 32);
        out.extend_from_slice(REQUEST_MAGIC);
        out.extend_from_slice(&self.protocol.to_le_bytes());
        out.extend_from_slice(&self.cursor.to_le_bytes());
        put_epoch(&mut out, self.protocol, self.epoch.as_deref())?;
        put_cases(&mut out, &self.push)?;
        Ok(out)
    }

    fn from_binary(bytes: &[u8]) -> Result<Self, BinaryError> {
        let mut r = Reader(bytes);
        if r.take(4, "the magic number")? != REQUEST_MAGIC {
            return Err(BinaryError("it is not a WardCRF sync request".into()));
        }
        let protocol = r.u32("the protocol")?;
        let cursor = r.u64("the cursor")?;
        let epoch = r.epoch(protocol)?;
        let push = r.cases(MAX_PUSH_CASES)?;
        r.end()?;
        Ok(SyncRequest {
            protocol,
            cursor,
            push,
            epoch,
        })
    }
}

impl BinaryBody for SyncResponse {
    fn to_binary(&self) -> Result<Vec<u8>, BinaryError> {
        let size: usize = self.cases.iter().map(|c| c.changes.len() + 128).sum();
        let mut out = Vec::with_capacity(size + 32);
        out.extend_from_slice(ANSWER_MAGIC);
        out.extend_from_slice(&self.protocol.to_le_bytes());
        out.extend_from_slice(&self.cursor.to_le_bytes());
        out.push(u8::from(self.more));
        put_epoch(&mut out, self.protocol, self.epoch.as_deref())?;
        put_cases(&mut out, &self.cases)?;
        if !self.repush.is_empty() {
            let n = u32::try_from(self.repush.len())
                .map_err(|_| BinaryError("too many cases to push again".into()))?;
            out.extend_from_slice(&n.to_le_bytes());
            for id in &self.repush {
                put_str(&mut out, id, "a case id to push again")?;
            }
        }
        Ok(out)
    }

    fn from_binary(bytes: &[u8]) -> Result<Self, BinaryError> {
        let mut r = Reader(bytes);
        if r.take(4, "the magic number")? != ANSWER_MAGIC {
            return Err(BinaryError("it is not a WardCRF sync answer".into()));
        }
        let protocol = r.u32("the protocol")?;
        let cursor = r.u64("the cursor")?;
        let more = match r.take(1, "the more flag")?[0] {
            0 => false,
            1 => true,
            other => return Err(BinaryError(format!("the more flag is {other}"))),
        };
        let epoch = r.epoch(protocol)?;
        let cases = r.cases(u32::MAX as usize)?;
        let mut repush = Vec::new();
        if !r.0.is_empty() {
            let n = r.u32("the number of cases to push again")?;
            if n == 0 {
                return Err(BinaryError("an empty list of cases to push again".into()));
            }
            // Each id takes at least 2 bytes: never trust a count beyond what is there.
            repush.reserve((n as usize).min(r.0.len() / 2));
            for _ in 0..n {
                repush.push(r.str("a case id to push again")?);
            }
        }
        r.end()?;
        Ok(SyncResponse {
            protocol,
            cursor,
            more,
            cases,
            repush,
            epoch,
        })
    }
}

/// JSON lists read only up to a limit: a visitor counts the entries and fails at the first
/// beyond it, so a body of many small entries is not parsed whole first.
mod bounded {
    use super::CaseChanges;
    use serde::Deserialize;
    use serde::de::{DeserializeSeed, Deserializer, Error, SeqAccess, Visitor};
    use std::cell::Cell;
    use std::marker::PhantomData;

    thread_local! {
        /// Set when a push list went beyond its limit: tells [`super::SyncRequest::from_json`]
        /// that serde's error is this refusal.
        pub(super) static TOO_MANY_CASES: Cell<bool> = const { Cell::new(false) };
    }

    /// A list of at most `limit` items; `on_overflow` runs before the refusal.
    struct Bounded<T> {
        limit: usize,
        what: &'static str,
        on_overflow: fn(),
        item: PhantomData<T>,
    }

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Bounded<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {} {}", self.limit, self.what)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.limit));
            while let Some(item) = seq.next_element()? {
                if out.len() == self.limit {
                    (self.on_overflow)();
                    return Err(A::Error::custom(format_args!(
                        "more than {} {}; at most {} are taken",
                        self.limit, self.what, self.limit
                    )));
                }
                out.push(item);
            }
            Ok(out)
        }
    }

    impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Bounded<T> {
        type Value = Vec<T>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
            d.deserialize_seq(self)
        }
    }

    /// A pushed entry as read from JSON: [`CaseChanges`] with its heads bounded (answers'
    /// entries are read as [`CaseChanges`], unbounded).
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PushedEntry {
        case_id: String,
        form_id: String,
        #[serde(with = "super::b64")]
        changes: Vec<u8>,
        #[serde(deserialize_with = "heads")]
        heads: Vec<String>,
    }

    pub fn push<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CaseChanges>, D::Error> {
        let entries: Vec<PushedEntry> = d.deserialize_seq(Bounded {
            limit: super::MAX_PUSH_CASES,
            what: "cases in the push",
            on_overflow: || TOO_MANY_CASES.set(true),
            item: PhantomData,
        })?;
        Ok(entries
            .into_iter()
            .map(|e| CaseChanges {
                case_id: e.case_id,
                form_id: e.form_id,
                changes: e.changes,
                heads: e.heads,
            })
            .collect())
    }

    fn heads<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Bounded {
            limit: super::MAX_HEADS,
            what: "heads for a case",
            on_overflow: || {},
            item: PhantomData,
        }
        .deserialize(d)
    }
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("changes are not base64: {e}")))
    }
}

/// What the repository gives a device at enrolment.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Enrolment {
    pub device_id: String,
    pub site_id: String,
    /// The device's bearer token: keep it in the encrypted store, never print it.
    pub token: String,
    /// The site keeps identifying data on its devices: never synced at all (see
    /// [`crate::CaseStore::enrolled`]). Absent from older repositories: `false`.
    #[serde(default)]
    pub identifying_on_device: bool,
    /// The device's unlock key (64 hex digits), held by the repository: the device wraps its
    /// data key with it once and forgets it, so that the repository can hand it back to a
    /// staff member signing in online, or to an administrator recovering the store. Absent
    /// from older repositories (the first online sign-in brings it).
    #[serde(default)]
    pub device_key: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("device_id", &self.device_id)
            .field("site_id", &self.site_id)
            .field("token", &"[redacted]")
            .field("identifying_on_device", &self.identifying_on_device)
            .field(
                "device_key",
                &self.device_key.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests;
