//! The sync wire format, shared by the device client and the repository server.
//!
//! One exchange is one HTTP request: the device pushes, per case it changed, the automerge
//! changes the repository lacks (`save_after` the heads the repository is known to hold) and
//! its cursor (the last repository sequence number it applied); the repository answers with,
//! per case it changed since that cursor (and per pushed case), the changes the device lacks
//! and the repository's heads. Changes are automerge's own encoding, base64 in JSON. Applying
//! changes twice is harmless, so an interrupted exchange is simply repeated.
//!
//! Over HTTP, a body above [`COMPRESS_ABOVE`] bytes travels gzip-compressed
//! (`Content-Encoding: gzip`; the device asks for compressed answers with `Accept-Encoding`).
//! The cases of one batch share field names, note keys and users, so a batch compresses far
//! better than each document alone.

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Sync bodies larger than this are sent gzip-compressed.
pub const COMPRESS_ABOVE: usize = 1024;

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

/// The protocol version this build speaks.
pub const PROTOCOL: u32 = 1;

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
    pub push: Vec<CaseChanges>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips_and_refuses_bombs_and_garbage() {
        let body = br#"{"protocol":1,"cursor":0,"push":[]}"#.repeat(200);
        let packed = gzip(&body);
        assert!(packed.len() < body.len() / 10);
        assert_eq!(gunzip(&packed, body.len()).unwrap(), body);
        // Expanding beyond the limit is refused, however small the compressed body.
        let bomb = gzip(&vec![0u8; 10_000_000]);
        assert!(bomb.len() < 100_000);
        assert_eq!(
            gunzip(&bomb, 1_000_000),
            Err(GunzipError::TooLarge(1_000_000))
        );
        assert_eq!(gunzip(b"not gzip at all", 1000), Err(GunzipError::Invalid));
        assert_eq!(
            gunzip(&packed[..packed.len() / 2], body.len()),
            Err(GunzipError::Invalid),
            "a truncated body"
        );
    }

    /// The serialized form is a contract with deployed devices and servers: a change here
    /// must be a new protocol version.
    #[test]
    fn wire_format_snapshot() {
        let req = SyncRequest {
            protocol: PROTOCOL,
            cursor: 42,
            push: vec![CaseChanges {
                case_id: "0a1b".into(),
                form_id: "icrown-core".into(),
                changes: vec![0x85, 0x6f, 0x4a, 0x83],
                heads: vec!["ab".repeat(32)],
            }],
        };
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"protocol":1,"cursor":42,"push":[{{"case_id":"0a1b","form_id":"icrown-core","changes":"hW9Kgw==","heads":["{}"]}}]}}"#,
                "ab".repeat(32)
            )
        );
        assert_eq!(serde_json::from_str::<SyncRequest>(&json).unwrap(), req);
        let resp = SyncResponse {
            protocol: 1,
            cursor: 7,
            more: false,
            cases: vec![],
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"protocol":1,"cursor":7,"more":false,"cases":[]}"#
        );
    }

    #[test]
    fn refuses_bad_base64_and_unknown_keys() {
        let bad = r#"{"protocol":1,"cursor":0,"push":[{"case_id":"a","form_id":"f","changes":"***","heads":[]}]}"#;
        assert!(
            serde_json::from_str::<SyncRequest>(bad)
                .unwrap_err()
                .to_string()
                .contains("not base64")
        );
        let extra = r#"{"protocol":1,"cursor":0,"push":[],"admin":true}"#;
        assert!(serde_json::from_str::<SyncRequest>(extra).is_err());
    }
}
