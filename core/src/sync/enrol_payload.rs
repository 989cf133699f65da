//! What an enrolment QR code carries, and the certificate pin a device keeps from it.
//!
//! The console shows a new one-time code as text and as a QR code of
//!
//! ```text
//! wardcrf://enroll?v=1&server=<address, URL-encoded>&code=<code>[&pin=sha256:<64 hex digits>]
//! ```
//!
//! `pin` is the SHA-256 fingerprint (over the DER) of a certificate the repository presents in
//! its TLS chain: its own certificate, or better the hospital CA's that signed it (the
//! repository's certificate file then holds the chain up to that CA). A device enrolling from
//! the payload trusts only a chain holding that certificate (see [`CertPin`]) and keeps the pin
//! for every later exchange. A payload without `v` is an older console's (the same fields, no
//! pin) and read as version 1. The address must be `https://`, or `http://` to this machine.
//!
//! [`EnrolPayload::parse`] fails with a typed [`EnrolPayloadError`]; none of its messages holds
//! the code.

use std::fmt;
use std::str::FromStr;

/// The version of the payload this build writes and reads.
pub const ENROL_PAYLOAD_VERSION: &str = "1";

const PREFIX: &str = "wardcrf://enroll?";
const PIN_PREFIX: &str = "sha256:";

/// The SHA-256 fingerprint of a certificate (over its DER encoding) that a repository's TLS
/// chain must contain. Not a secret: it is printed on the enrolment page.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertPin([u8; 32]);

impl CertPin {
    /// The pin of a certificate given as DER.
    pub fn of_der(der: &[u8]) -> CertPin {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        CertPin(bytes)
    }

    /// The fingerprint's 32 bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for CertPin {
    /// `sha256:` and 64 lower-case hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PIN_PREFIX)?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CertPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertPin({self})")
    }
}

impl FromStr for CertPin {
    type Err = EnrolPayloadError;

    /// `sha256:` and 64 hex digits (either case; `:` between bytes allowed, as `openssl x509
    /// -fingerprint -sha256` prints them).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let hex = s
            .get(..PIN_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(PIN_PREFIX))
            .map(|_| &s[PIN_PREFIX.len()..])
            .ok_or(EnrolPayloadError::BadPin)?;
        let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
        if digits.len() != 64 {
            return Err(EnrolPayloadError::BadPin);
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in digits.chunks(2).enumerate() {
            let high = hex_digit(pair[0]).ok_or(EnrolPayloadError::BadPin)?;
            let low = hex_digit(pair[1]).ok_or(EnrolPayloadError::BadPin)?;
            bytes[i] = high << 4 | low;
        }
        Ok(CertPin(bytes))
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Why an enrolment payload could not be read. No variant holds the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolPayloadError {
    #[error("this is not a WardCRF enrolment code (it should start with {PREFIX})")]
    NotEnrolment,
    #[error("the enrolment code is of version {0}, which this app does not know; update the app")]
    UnknownVersion(String),
    #[error("the enrolment code has no {0}")]
    Missing(&'static str),
    #[error("the enrolment code's certificate fingerprint is not sha256: and 64 hex digits")]
    BadPin,
    #[error("the enrolment code's part '{0}' is not validly encoded")]
    BadEncoding(&'static str),
    #[error(
        "the enrolment code's repository address must be https:// (http:// only to this machine)"
    )]
    InsecureAddress,
}

/// A parsed enrolment payload.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolPayload {
    /// The repository's address as written in the payload.
    pub server: String,
    /// The one-time code: a secret until it is used.
    pub code: String,
    /// The certificate the repository's chain must hold, when the console advertised one.
    pub pin: Option<CertPin>,
}

impl fmt::Debug for EnrolPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrolPayload")
            .field("server", &self.server)
            .field("code", &"[redacted]")
            .field("pin", &self.pin)
            .finish()
    }
}

impl EnrolPayload {
    /// Reads a payload as the console writes it (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<EnrolPayload, EnrolPayloadError> {
        let text = text.trim();
        let query = text
            .get(..PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(PREFIX))
            .map(|_| &text[PREFIX.len()..])
            .ok_or(EnrolPayloadError::NotEnrolment)?;
        let (mut version, mut server, mut code, mut pin) = (None, None, None, None);
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let slot = match key {
                "v" => (&mut version, "v"),
                "server" => (&mut server, "server"),
                "code" => (&mut code, "code"),
                "pin" => (&mut pin, "pin"),
                // Later versions may add fields a version-1 reader can ignore.
                _ => continue,
            };
            *slot.0 = Some(percent_decode(value).ok_or(EnrolPayloadError::BadEncoding(slot.1))?);
        }
        let version = version.unwrap_or_else(|| ENROL_PAYLOAD_VERSION.to_string());
        if version != ENROL_PAYLOAD_VERSION {
            return Err(EnrolPayloadError::UnknownVersion(
                version.chars().take(16).collect(),
            ));
        }
        let server = server
            .filter(|s| !s.trim().is_empty())
            .ok_or(EnrolPayloadError::Missing("repository address (server)"))?;
        let code = code
            .filter(|c| !c.trim().is_empty())
            .ok_or(EnrolPayloadError::Missing("one-time code (code)"))?;
        let pin = pin
            .filter(|p| !p.is_empty())
            .map(|p| p.parse())
            .transpose()?;
        if !secure_address(&server) {
            return Err(EnrolPayloadError::InsecureAddress);
        }
        Ok(EnrolPayload {
            server: server.trim().to_string(),
            code: code.trim().to_string(),
            pin,
        })
    }

    /// The payload as text, for a QR code.
    pub fn to_uri(&self) -> String {
        let mut out = format!(
            "{PREFIX}v={ENROL_PAYLOAD_VERSION}&server={}&code={}",
            percent_encode(&self.server),
            percent_encode(&self.code)
        );
        if let Some(pin) = &self.pin {
            out.push_str("&pin=");
            out.push_str(&pin.to_string());
        }
        out
    }
}

/// `https://…`, or `http://` to localhost or a loopback address.
fn secure_address(server: &str) -> bool {
    let server = server.trim();
    let lower = server.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return true;
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as a space); `None` for a broken escape or bytes that are
/// not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let high = hex_digit(*bytes.get(i + 1)?)?;
                let low = hex_digit(*bytes.get(i + 2)?)?;
                out.push(high << 4 | low);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_payload_round_trips_through_its_uri() {
        let payload = EnrolPayload {
            server: "https://crf.example-hospital.org:8443".into(),
            code: "abcd2345efgh".into(),
            pin: Some(PIN.parse().unwrap()),
        };
        let uri = payload.to_uri();
        assert_eq!(
            uri,
            format!(
                "wardcrf://enroll?v=1&server=https:%2F%2Fcrf.example-hospital.org:8443\
                 &code=abcd2345efgh&pin={PIN}"
            )
        );
        assert_eq!(EnrolPayload::parse(&uri).unwrap(), payload);
    }

    #[test]
    fn the_older_console_payload_without_version_or_pin_is_read() {
        let p = EnrolPayload::parse(
            " wardcrf://enroll?server=http%3A%2F%2F127.0.0.1%3A8080&code=abc&later=1\n",
        )
        .unwrap();
        assert_eq!(p.server, "http://127.0.0.1:8080");
        assert_eq!(p.code, "abc");
        assert_eq!(p.pin, None);
    }

    #[test]
    fn bad_payloads_fail_with_typed_errors() {
        let parse = EnrolPayload::parse;
        assert_eq!(
            parse("https://crf.example.org"),
            Err(EnrolPayloadError::NotEnrolment)
        );
        assert_eq!(
            parse("wardcrf://enroll?v=2&server=https://a&code=x"),
            Err(EnrolPayloadError::UnknownVersion("2".into()))
        );
        assert!(matches!(
            parse("wardcrf://enroll?v=1&code=x"),
            Err(EnrolPayloadError::Missing(_))
        ));
        assert!(matches!(
            parse("wardcrf://enroll?v=1&server=https://a&code="),
            Err(EnrolPayloadError::Missing(_))
        ));
        assert_eq!(
            parse("wardcrf://enroll?server=https://a&code=x&pin=sha256:00ff"),
            Err(EnrolPayloadError::BadPin)
        );
        assert_eq!(
            parse(&format!(
                "wardcrf://enroll?server=https://a&code=x&pin={}",
                PIN.replace("sha256", "md5")
            )),
            Err(EnrolPayloadError::BadPin)
        );
        assert_eq!(
            parse(&format!(
                "wardcrf://enroll?server=https://a&code=x&pin={}",
                PIN.replace('a', "g")
            )),
            Err(EnrolPayloadError::BadPin)
        );
        assert_eq!(
            parse("wardcrf://enroll?server=https://a&code=%zz"),
            Err(EnrolPayloadError::BadEncoding("code"))
        );
        for insecure in [
            "http://crf.example.org",
            "http://127.0.0.1.example.org",
            "http://localhost@crf.example.org",
            "ftp://127.0.0.1",
        ] {
            assert_eq!(
                parse(&format!(
                    "wardcrf://enroll?server={}&code=x",
                    percent_encode(insecure)
                )),
                Err(EnrolPayloadError::InsecureAddress),
                "{insecure}"
            );
        }
        for loopback in [
            "http://localhost:8080",
            "http://127.0.0.2",
            "http://[::1]:80",
        ] {
            let uri = format!(
                "wardcrf://enroll?server={}&code=x",
                percent_encode(loopback)
            );
            assert!(parse(&uri).is_ok(), "{loopback}");
        }
    }

    #[test]
    fn errors_and_debug_never_show_the_code() {
        let p = EnrolPayload::parse("wardcrf://enroll?server=https://a&code=sekrit7").unwrap();
        assert!(!format!("{p:?}").contains("sekrit7"));
        let e =
            EnrolPayload::parse("wardcrf://enroll?v=9&server=https://a&code=sekrit7").unwrap_err();
        assert!(!e.to_string().contains("sekrit7"));
    }

    #[test]
    fn pins_read_openssl_fingerprints_and_print_lower_hex() {
        let colons = PIN
            .trim_start_matches("sha256:")
            .to_ascii_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        let pin: CertPin = format!("SHA256:{colons}").parse().unwrap();
        assert_eq!(pin.to_string(), PIN);
        assert_eq!(
            CertPin::of_der(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
