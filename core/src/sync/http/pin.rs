//! Trusting a repository by a pinned certificate (the fingerprint from the enrolment QR code)
//! instead of certificate authorities.
//!
//! The presented chain (the repository's certificate, then what it sends with it) must hold a
//! certificate whose SHA-256 fingerprint over the DER is the pin; otherwise the handshake fails
//! with [`PinMismatch`]. The pinned certificate is then the only trust anchor:
//! - a CA certificate (anything after the first): the repository's certificate must chain to it
//!   through the certificates sent before it, be valid now and name the host;
//! - the repository's own certificate: exactly that certificate is accepted, if it is valid now
//!   (its notBefore/notAfter read from the DER) and names the host.

use crate::sync::CertPin;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, RootCertStore};
use std::sync::Arc;

/// The presented chain holds no certificate with the pinned fingerprint.
#[derive(Debug, thiserror::Error)]
#[error("no certificate of the repository's chain has the pinned fingerprint")]
pub struct PinMismatch;

/// A rustls verifier that trusts one pinned certificate.
#[derive(Debug)]
pub(super) struct PinVerifier {
    pin: CertPin,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinVerifier {
    pub(super) fn new(pin: CertPin, provider: &CryptoProvider) -> Self {
        PinVerifier {
            pin,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

/// A client configuration trusting only `pin`.
pub(super) fn pinned_config(pin: CertPin) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinVerifier::new(pin, &provider));
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let position = std::iter::once(end_entity)
            .chain(intermediates)
            .position(|der| CertPin::of_der(der) == self.pin)
            .ok_or_else(|| {
                Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    PinMismatch,
                ))))
            })?;
        let parsed = ParsedCertificate::try_from(end_entity)?;
        if position == 0 {
            check_validity(end_entity, now)?;
        } else {
            let mut roots = RootCertStore::empty();
            roots.add(intermediates[position - 1].clone())?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &parsed,
                &roots,
                &intermediates[..position - 1],
                now,
                self.algorithms.all,
            )?;
        }
        rustls::client::verify_server_name(&parsed, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether the pin's failure is behind a rustls error.
pub(super) fn is_pin_mismatch(e: &Error) -> bool {
    matches!(e, Error::InvalidCertificate(CertificateError::Other(other))
        if other.0.downcast_ref::<PinMismatch>().is_some())
}

/// Fails unless `now` lies within the certificate's validity.
fn check_validity(der: &[u8], now: UnixTime) -> Result<(), Error> {
    let (not_before, not_after) =
        validity(der).ok_or(Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now < not_before {
        return Err(Error::InvalidCertificate(CertificateError::NotValidYet));
    }
    if now > not_after {
        return Err(Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

/// One DER element: its tag, its contents and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let (content, after) = rest.split_at(len);
    Some((tag, content, after))
}

/// A certificate's notBefore and notAfter as Unix seconds.
fn validity(der: &[u8]) -> Option<(i64, i64)> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(certificate)? else {
        return None;
    };
    let (tag, _, mut rest) = element(tbs)?;
    // [0] version is optional; then serialNumber, signature, issuer, validity.
    if tag != 0xa0 {
        rest = tbs;
    }
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, validity, _) = element(rest)? else {
        return None;
    };
    let (tag_before, before, rest) = element(validity)?;
    let (tag_after, after, _) = element(rest)?;
    Some((time(tag_before, before)?, time(tag_after, after)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as Unix seconds.
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if text.len() == 12 => {
            let yy: i64 = text[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        0x18 if text.len() == 14 => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |i: usize| rest[i..i + 2].parse::<i64>().ok();
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    // The one civil-date algorithm (`crate::date`), which also refuses a date that does not exist.
    let date = crate::PartialDate::ymd(
        u16::try_from(year).ok()?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
    )?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(date.days_since_epoch()? * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_times_are_read_as_unix_seconds() {
        assert_eq!(time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(time(0x17, b"261124140258Z"), Some(1_795_528_978));
        assert_eq!(time(0x18, b"21261031140258Z"), Some(4_949_128_978));
        assert_eq!(time(0x17, b"2611241402Z"), None);
        assert_eq!(time(0x04, b"261124140258Z"), None);
        assert_eq!(time(0x17, b"260230140258Z"), None, "no 30 February");
        assert_eq!(time(0x17, b"261124250258Z"), None, "no hour 25");
    }
}
