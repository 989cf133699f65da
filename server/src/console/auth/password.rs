//! Staff passwords: salted PBKDF2-HMAC-SHA256 hashes (`pbkdf2-sha256$<iterations>$<salt>$<hash>`),
//! their length rules and their constant-time check.
//!
//! Why PBKDF2 through ring rather than argon2: ring is already the repository's (and the
//! device store's) only cryptography, audited and pure Rust with assembly; PBKDF2-HMAC-SHA256
//! at OWASP's 600,000 iterations is the same hash the device store derives its key with, and
//! adds no crate. Argon2 would resist GPU guessing better; the lock-out (5 failures → 15
//! minutes) bounds online guessing either way, and offline guessing needs the database.

use crate::secret;
use ring::pbkdf2;
use std::num::NonZeroU32;
use std::sync::OnceLock;

/// PBKDF2-HMAC-SHA256 iterations for new password hashes (OWASP 2023).
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Password length limits (the upper one bounds the work of hashing).
pub const MIN_PASSWORD: usize = 10;
pub const MAX_PASSWORD: usize = 1024;

/// Why a password could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")]
    Length,
    #[error(transparent)]
    Random(#[from] secret::RandomError),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a new password's length (in characters).
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if (MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

/// `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>` of a password (16 random salt bytes).
pub fn hash_password(password: &str, iterations: u32) -> Result<String, PasswordError> {
    check_password(password)?;
    let salt = secret::new_token()?; // 32 random bytes as hex; 16 are enough
    let salt = unhex(&salt[..32]).ok_or(secret::RandomError)?;
    let n = NonZeroU32::new(iterations.max(1)).ok_or(secret::RandomError)?;
    let mut out = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        &salt,
        password.as_bytes(),
        &mut out,
    );
    Ok(format!(
        "pbkdf2-sha256${iterations}${}${}",
        hex(&salt),
        hex(&out)
    ))
}

/// Whether `password` matches a stored hash (in constant time); `false` for a malformed one.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(iter), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Some(n), Some(salt), Some(hash)) = (
        iter.parse::<u32>().ok().and_then(NonZeroU32::new),
        unhex(salt),
        unhex(hash),
    ) else {
        return false;
    };
    if password.len() > MAX_PASSWORD * 4 {
        return false;
    }
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        &salt,
        password.as_bytes(),
        &hash,
    )
    .is_ok()
}

/// A hash no password matches, verified for unknown users so that a wrong user name costs
/// the same time as a wrong password.
pub(super) fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password("not a password of anyone", PBKDF2_ITERATIONS).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_salted_and_verify() {
        let a = hash_password("correct horse battery", 1000).unwrap();
        let b = hash_password("correct horse battery", 1000).unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("pbkdf2-sha256$1000$"));
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("correct horse batterx", &a));
        assert!(!verify_password("correct horse battery", "garbage"));
        assert!(!verify_password("x", "pbkdf2-sha256$0$00$00"));
        assert_eq!(hash_password("short", 1000), Err(PasswordError::Length));
    }
}
