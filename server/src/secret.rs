//! Random tokens and enrolment codes, and the SHA-256 hashes the repository keeps of them;
//! the admin token every server process of one repository accepts ([`shared_admin_token`]).
//!
//! Several server processes may serve one repository (one PostgreSQL database). The first to
//! start makes the admin token, writes it to its data directory (`DATA/admin-token`, as a
//! single server does) and records its SHA-256 in the database; every other process accepts
//! the token whose hash is recorded there, without needing the file. Processes starting at
//! the same time agree: the database keeps the first hash recorded, and a process whose
//! freshly made token lost removes its file again, so no data directory holds a token that
//! is not accepted. A data directory holding another token than the recorded one stops its
//! server with a message saying which file to copy.

use crate::repository::{RepoError, Repository};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::{Path, PathBuf};

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

/// The name under which the admin token's SHA-256 is shared between server processes.
pub const ADMIN_TOKEN_SHA256: &str = "admin-token-sha256";

/// Why a secret every server process of the repository must share could not be agreed on.
#[derive(Debug, thiserror::Error)]
pub enum SharedSecretError {
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the repository database: {0}")]
    Storage(#[from] RepoError),
    #[error(
        "{path} is not this repository's admin token: another server of this repository \
         recorded a different one first. Copy the admin-token file of that server to {path}, \
         or delete {path} to use the repository's token"
    )]
    AdminTokenDiffers { path: String },
    #[error(
        "the pseudonym key in {path} is not the one this repository's other servers use (its \
         fingerprint differs from the one recorded in the database): copy the pseudonym-key \
         file of the first server to {path}, or give that file with --pseudonym-key"
    )]
    PseudonymKeyDiffers { path: String },
    #[error("the repository database holds a damaged {0}; restore the database from a backup")]
    Damaged(&'static str),
}

/// The admin token this server accepts (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// The SHA-256 of the token every server of the repository accepts.
    pub sha256: [u8; 32],
    /// The file holding the token in this server's data directory, when it holds it (the
    /// server that made it); `None` when another server made it.
    pub file: Option<PathBuf>,
    /// Whether this start made the token.
    pub created: bool,
}

/// Agrees with the other servers of the repository behind `storage` on the admin token; see
/// the module documentation.
pub fn shared_admin_token<R: Repository>(
    storage: &mut R,
    dir: &Path,
    now: u64,
) -> Result<AdminToken, SharedSecretError> {
    let (path, token, created) =
        crate::serve::ensure_admin_token(dir).map_err(|source| SharedSecretError::File {
            path: dir
                .join(crate::serve::ADMIN_TOKEN_FILE)
                .display()
                .to_string(),
            source,
        })?;
    let mine = sha256(&token);
    drop(token);
    let recorded = storage.shared_value(ADMIN_TOKEN_SHA256, &mine, now)?;
    let recorded: [u8; 32] = recorded
        .try_into()
        .map_err(|_| SharedSecretError::Damaged("admin token hash"))?;
    if same_hash(&recorded, &mine) {
        return Ok(AdminToken {
            sha256: mine,
            file: Some(path),
            created,
        });
    }
    if created {
        // Another server made the repository's token first: this one is never accepted.
        std::fs::remove_file(&path).map_err(|source| SharedSecretError::File {
            path: path.display().to_string(),
            source,
        })?;
        return Ok(AdminToken {
            sha256: recorded,
            file: None,
            created: false,
        });
    }
    Err(SharedSecretError::AdminTokenDiffers {
        path: path.display().to_string(),
    })
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

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "wardcrf-secret-{name}-{}",
            &new_token().unwrap()[..8]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn servers_of_one_repository_share_the_first_admin_token_and_a_stale_file_is_refused() {
        let db = temp_dir("db").join("repository.db");
        let (one, two, three) = (temp_dir("one"), temp_dir("two"), temp_dir("three"));
        let mut s = crate::SqliteStorage::open(&db).unwrap();
        let first = shared_admin_token(&mut s, &one, 1).unwrap();
        assert!(first.created);
        let token = std::fs::read_to_string(one.join(crate::serve::ADMIN_TOKEN_FILE)).unwrap();
        assert_eq!(first.sha256, sha256(token.trim()));
        // A second server (its own data directory) accepts the same token, and keeps no
        // file of a token nobody accepts.
        let mut s2 = crate::SqliteStorage::open(&db).unwrap();
        let second = shared_admin_token(&mut s2, &two, 2).unwrap();
        assert_eq!(
            (second.sha256, second.file, second.created),
            (first.sha256, None, false)
        );
        assert!(!two.join(crate::serve::ADMIN_TOKEN_FILE).exists());
        // The first again: the same.
        assert_eq!(
            shared_admin_token(&mut s, &one, 3).unwrap().sha256,
            first.sha256
        );
        // A data directory holding another token is refused, its file left as it is.
        std::fs::write(three.join(crate::serve::ADMIN_TOKEN_FILE), "x".repeat(64)).unwrap();
        let refused = shared_admin_token(&mut s2, &three, 4).unwrap_err();
        assert!(
            matches!(refused, SharedSecretError::AdminTokenDiffers { .. }),
            "{refused}"
        );
        assert!(refused.to_string().contains("Copy the admin-token file"));
        for d in [one, two, three, db.parent().unwrap().to_path_buf()] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
