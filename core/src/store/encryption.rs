//! Keys and encryption of the case store.
//!
//! A random 256-bit data key encrypts every stored record with AES-256-GCM (ring), a fresh
//! random nonce per write, and associated data naming the record (kind, case id, format
//! version) so that a blob cannot be moved to another row. The data key is itself stored
//! wrapped by a [`KeyProvider`]: the app's Keystore/Keychain key, or a key derived from a
//! passphrase with PBKDF2-HMAC-SHA256. Re-keying rewraps the data key only.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;
use std::num::NonZeroU32;
use zeroize::Zeroizing;

/// Format version of sealed blobs (the first byte of each).
const BLOB_VERSION: u8 = 1;
/// Minimum PBKDF2 iterations for a passphrase (OWASP 2023 guidance for PBKDF2-HMAC-SHA256).
pub const MIN_PASSPHRASE_ITERATIONS: u32 = 600_000;
const SALT_LEN: usize = 16;

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key (or passphrase) does not open this store.
    #[error("the key or passphrase does not open this store")]
    WrongKey,
    /// The key provider (Keystore, Keychain) failed; its own words, which carry no secret.
    #[error("the key provider failed: {0}")]
    Provider(String),
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// Wraps and unwraps the store's data key: backed by the Android Keystore or iOS Keychain in
/// the apps (the key never leaves the secure hardware), or by a passphrase.
pub trait KeyProvider: Send + Sync {
    /// A short name of the kind of provider, stored beside the wrapped key (`passphrase`,
    /// `android-keystore`, ...), so a later open can say which key is expected.
    fn kind(&self) -> String;
    /// Encrypts the data key. `params` are the provider's stored parameters (e.g. a salt),
    /// created by [`KeyProvider::new_params`] when the key was first wrapped.
    fn wrap(&self, data_key: &[u8], params: &[u8]) -> Result<Vec<u8>, KeyError>;
    /// Decrypts the data key; [`KeyError::WrongKey`] when this provider's key does not fit.
    fn unwrap(&self, wrapped: &[u8], params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError>;
    /// Fresh parameters for a new wrapping (a salt for passphrases; empty for hardware keys).
    fn new_params(&self) -> Result<Vec<u8>, KeyError> {
        Ok(Vec::new())
    }
}

/// A 256-bit key held in memory and zeroed when dropped.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, KeyError> {
        let mut k = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(&mut k[..])
            .map_err(|_| KeyError::Random)?;
        Ok(SecretKey(k))
    }

    /// A key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::WrongKey)?;
        Ok(SecretKey(Zeroizing::new(arr)))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0[..]
    }

    fn aead(&self) -> LessSafeKey {
        // A 32-byte slice is always a valid AES-256 key.
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, self.bytes()).unwrap_or_else(|_| unreachable_key()),
        )
    }

    /// Encrypts `plain` with a fresh nonce; `aad` is bound in and must match on opening.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KeyError::Random)?;
        let mut buf = plain.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| KeyError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(BLOB_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts a blob from [`SecretKey::seal`]; [`KeyError::WrongKey`] when the key or the
    /// associated data does not match or the blob was altered.
    pub fn open(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if blob.len() < 1 + NONCE_LEN + AES_256_GCM.tag_len() || blob[0] != BLOB_VERSION {
            return Err(KeyError::WrongKey);
        }
        let nonce = Nonce::try_assume_unique_for_key(&blob[1..1 + NONCE_LEN])
            .map_err(|_| KeyError::WrongKey)?;
        let mut buf = Zeroizing::new(blob[1 + NONCE_LEN..].to_vec());
        let plain_len = self
            .aead()
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| KeyError::WrongKey)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }

    /// HMAC-SHA256 of `data` under a key derived from this one for `purpose`.
    pub fn keyed_hash(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, self.bytes());
        let sub = hmac::sign(&derive, purpose.as_bytes());
        let key = hmac::Key::new(hmac::HMAC_SHA256, sub.as_ref());
        hmac::sign(&key, data).as_ref().to_vec()
    }
}

fn unreachable_key() -> UnboundKey {
    // ring accepts every 32-byte AES-256 key; this path cannot be taken.
    panic!("AES-256 rejected a 32-byte key")
}

/// A key provider holding a raw 256-bit key-encryption key: for apps that keep the key in a
/// secure store and hand it over, and for tests.
pub struct RawKeyProvider {
    kek: SecretKey,
}

impl RawKeyProvider {
    pub fn new(kek: SecretKey) -> Self {
        RawKeyProvider { kek }
    }
}

impl fmt::Debug for RawKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawKeyProvider(<redacted>)")
    }
}

impl KeyProvider for RawKeyProvider {
    fn kind(&self) -> String {
        "raw-key".into()
    }

    fn wrap(&self, data_key: &[u8], _params: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.kek.seal(b"wardcrf|data-key", data_key)
    }

    fn unwrap(&self, wrapped: &[u8], _params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.kek.open(b"wardcrf|data-key", wrapped)
    }
}

/// A key provider deriving the key-encryption key from a passphrase (PBKDF2-HMAC-SHA256).
///
/// Parameters stored with the wrapped key: 4 bytes of iteration count, then the salt.
pub struct Passphrase {
    secret: Zeroizing<String>,
    iterations: u32,
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Passphrase(<redacted>, {} iterations)", self.iterations)
    }
}

impl Passphrase {
    /// A passphrase with the production iteration count.
    pub fn new(secret: impl Into<String>) -> Self {
        Passphrase {
            secret: Zeroizing::new(secret.into()),
            iterations: MIN_PASSPHRASE_ITERATIONS,
        }
    }

    /// A passphrase with a low iteration count, for tests only: never for patient data.
    #[doc(hidden)]
    pub fn insecure_for_tests(secret: impl Into<String>, iterations: u32) -> Self {
        Passphrase {
            secret: Zeroizing::new(secret.into()),
            iterations: iterations.max(1),
        }
    }

    fn kek(&self, params: &[u8]) -> Result<SecretKey, KeyError> {
        if params.len() != 4 + SALT_LEN {
            return Err(KeyError::WrongKey);
        }
        let iterations = u32::from_be_bytes([params[0], params[1], params[2], params[3]]);
        let iterations = NonZeroU32::new(iterations).ok_or(KeyError::WrongKey)?;
        let mut out = Zeroizing::new([0u8; 32]);
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &params[4..],
            self.secret.as_bytes(),
            &mut out[..],
        );
        Ok(SecretKey(out))
    }
}

impl KeyProvider for Passphrase {
    fn kind(&self) -> String {
        "passphrase".into()
    }

    fn new_params(&self) -> Result<Vec<u8>, KeyError> {
        let mut params = self.iterations.to_be_bytes().to_vec();
        let mut salt = [0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| KeyError::Random)?;
        params.extend_from_slice(&salt);
        Ok(params)
    }

    fn wrap(&self, data_key: &[u8], params: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.kek(params)?.seal(b"wardcrf|data-key", data_key)
    }

    fn unwrap(&self, wrapped: &[u8], params: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.kek(params)?.open(b"wardcrf|data-key", wrapped)
    }
}

/// Random bytes from the system generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| KeyError::Random)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_bound_associated_data() {
        let k = SecretKey::generate().unwrap();
        let blob = k.seal(b"case|abc", b"patient data").unwrap();
        assert_eq!(&k.open(b"case|abc", &blob).unwrap()[..], b"patient data");
        assert_eq!(
            k.open(b"case|xyz", &blob),
            Err(KeyError::WrongKey),
            "blob moved to another row"
        );
        let other = SecretKey::generate().unwrap();
        assert_eq!(other.open(b"case|abc", &blob), Err(KeyError::WrongKey));
        let mut tampered = blob.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(k.open(b"case|abc", &tampered), Err(KeyError::WrongKey));
        assert_eq!(k.open(b"case|abc", &blob[..5]), Err(KeyError::WrongKey));
        // A fresh nonce per write: the same plaintext never gives the same blob.
        assert_ne!(k.seal(b"a", b"x").unwrap(), k.seal(b"a", b"x").unwrap());
    }

    #[test]
    fn passphrases_wrap_and_detect_the_wrong_one() {
        let good = Passphrase::insecure_for_tests("correct horse", 1000);
        let params = good.new_params().unwrap();
        assert_eq!(params.len(), 20);
        let data = SecretKey::generate().unwrap();
        let wrapped = good.wrap(data.bytes(), &params).unwrap();
        assert_eq!(&good.unwrap(&wrapped, &params).unwrap()[..], data.bytes());
        let bad = Passphrase::insecure_for_tests("wrong horse", 1000);
        assert_eq!(bad.unwrap(&wrapped, &params), Err(KeyError::WrongKey));
        assert_eq!(Passphrase::new("x").iterations, 600_000);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let p = Passphrase::new("hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        let k = SecretKey::from_bytes(&[7u8; 32]).unwrap();
        assert_eq!(format!("{k:?}"), "SecretKey(<redacted>)");
    }

    #[test]
    fn keyed_hashes_depend_on_key_and_purpose() {
        let k = SecretKey::from_bytes(&[1u8; 32]).unwrap();
        let a = k.keyed_hash("index", b"MRN-1");
        assert_eq!(a, k.keyed_hash("index", b"MRN-1"));
        assert_ne!(a, k.keyed_hash("other", b"MRN-1"));
        assert_ne!(
            a,
            SecretKey::from_bytes(&[2u8; 32])
                .unwrap()
                .keyed_hash("index", b"MRN-1")
        );
    }
}
