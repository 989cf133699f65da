//! Random tokens and enrolment codes, and the SHA-256 hashes the repository keeps of them.

use ring::rand::{SecureRandom, SystemRandom};

/// Why no randomness could be had (the system's generator failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomError)?;
    Ok(bytes)
}

/// A bearer token: 32 random bytes as 64 lowercase hex digits.
pub fn new_token() -> Result<String, RandomError> {
    Ok(random_bytes::<32>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A device's unlock key: 32 random bytes as 64 lowercase hex digits (kept by the
/// repository in the clear, since it hands it back: see `repository::WardStaff`).
pub fn new_device_key() -> Result<zeroize::Zeroizing<String>, RandomError> {
    new_token().map(zeroize::Zeroizing::new)
}

/// The length of an enrolment code.
pub const CODE_LEN: usize = 20;
const CODE_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// An enrolment code: 20 characters of lowercase base32 (100 random bits), easy to type.
pub fn new_code() -> Result<String, RandomError> {
    Ok(random_bytes::<CODE_LEN>()?
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
        .collect())
}

/// A code as typed: surrounding space dropped, case ignored.
pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_lowercase()
}

/// The SHA-256 of a secret, the only form in which the repository stores it.
pub fn sha256(secret: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Compares two hashes in time independent of where they differ.
pub fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_codes_have_their_shapes_and_differ() {
        let (t1, t2) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(t1.len(), 64);
        assert!(t1.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(t1, t2);
        let c = new_code().unwrap();
        assert_eq!(c.len(), CODE_LEN);
        assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        assert_eq!(normalize_code(&format!(" {} ", c.to_uppercase())), c);
        assert!(same_hash(&sha256("x"), &sha256("x")));
        assert!(!same_hash(&sha256("x"), &sha256("y")));
    }
}
