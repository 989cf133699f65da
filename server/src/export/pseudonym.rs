//! Keyed pseudonyms for research exports: HMAC-SHA256 (ring) under the repository's secret
//! pseudonym key, over the recipient's name, what is pseudonymised (a case, a row, a user, a
//! device) and its id. The same recipient gets the same pseudonym for a case in every
//! export; two recipients get unrelated ones (without the key, nobody can link them, nor go
//! back to the case id).
//!
//! The same HMAC gives each case its date shift for a recipient ([`PseudonymKey::day_offset`]):
//! a number of days in −180..=+180 other than 0, stable for that recipient and case, unrelated
//! between cases and between recipients, and never written in an export.
//!
//! The key is 32 random bytes that `wardcrf-server` creates on its first start in
//! `DATA_DIR/pseudonym-key` (64 hex digits, mode 0600, like the admin token) and installs for
//! the process ([`install`]). Deleting the file changes every pseudonym of every recipient:
//! back it up with the repository. A process that installs no key (tests, embedders) gets a
//! random one at its first research export, so its pseudonyms hold only while it runs.
//!
//! Several server processes of one repository must use one key (`--pseudonym-key FILE` on
//! each, a copy of one file). The database records the key's fingerprint, a keyed hash that
//! reveals nothing of the key ([`PseudonymKey::fingerprint`]); the first process to start
//! records it, and a process whose key has another fingerprint refuses to start, saying
//! which file to copy ([`check_shared`]). A key file freshly made by a process that lost
//! that race is removed again.

use crate::repository::Repository;
use crate::secret::SharedSecretError;
use ring::hmac;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The pseudonym key's file name inside the data directory.
pub const PSEUDONYM_KEY_FILE: &str = "pseudonym-key";

/// The secret key of research pseudonyms. Its `Debug` shows nothing of it.
pub struct PseudonymKey(hmac::Key);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

impl PseudonymKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> PseudonymKey {
        PseudonymKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// A fresh random key.
    pub fn random() -> Result<PseudonymKey, crate::secret::RandomError> {
        let hex = crate::secret::new_token()?;
        let bytes = parse_hex(&hex).ok_or(crate::secret::RandomError)?;
        Ok(PseudonymKey::from_bytes(&bytes))
    }

    /// A fingerprint of the key, which the repository's database records so that every
    /// server process can check it holds the same key: an HMAC under the key of a fixed
    /// label, which tells nothing of the key and no pseudonym.
    pub fn fingerprint(&self) -> [u8; 32] {
        let tag = hmac::sign(&self.0, b"wardcrf-pseudonym-key-fingerprint-v1");
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The pseudonym of `id` (of `kind`: `case`, `row`, `user`, `device`) for `recipient`:
    /// 32 lowercase hex digits (128 bits of the HMAC).
    pub fn pseudonym(&self, recipient: &str, kind: &str, id: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"wardcrf-research-pseudonym-v1");
        for part in [recipient, kind, id] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        ctx.sign().as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The largest date shift, in days either way.
pub const MAX_DAY_OFFSET: i64 = 180;

impl PseudonymKey {
    /// The days every date of case `case_id` moves by in `recipient`'s date-shifted research
    /// exports: in −[`MAX_DAY_OFFSET`]..=+[`MAX_DAY_OFFSET`], never 0 (a shift of 0 would leave
    /// the case's real dates), from the HMAC of the recipient, the kind `date-shift` and the
    /// case id. The 360 offsets are equally likely but for a bias below 10⁻⁷ (64 bits of the
    /// HMAC reduced modulo 360).
    pub fn day_offset(&self, recipient: &str, case_id: &str) -> i64 {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"wardcrf-research-date-shift-v1");
        for part in [recipient, "date-shift", case_id] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let tag = ctx.sign();
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag.as_ref()[..8]);
        let span = 2 * MAX_DAY_OFFSET as u64; // 360 offsets: -180..=-1 and 1..=180
        let n = (u64::from_be_bytes(first) % span) as i64;
        if n < MAX_DAY_OFFSET {
            n - MAX_DAY_OFFSET
        } else {
            n - MAX_DAY_OFFSET + 1
        }
    }
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Reads the key from `dir/pseudonym-key`, first writing a random one (mode 0600) if the file
/// does not exist. Returns the file's path, the key, and whether it was created.
pub fn ensure_key_file(dir: &Path) -> io::Result<(PathBuf, PseudonymKey, bool)> {
    let path = dir.join(PSEUDONYM_KEY_FILE);
    let (key, created) = ensure_key_at(&path)?;
    Ok((path, key, created))
}

/// Reads the key from the file `path`, first writing a random one (mode 0600) if it does not
/// exist. Returns the key and whether it was created.
pub fn ensure_key_at(path: &Path) -> io::Result<(PseudonymKey, bool)> {
    let (hex, created) = crate::serve::private_file(path, || {
        crate::secret::new_token().map_err(io::Error::other)
    })?;
    let bytes = parse_hex(&hex).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} holds no pseudonym key (64 hex digits); restore it from a backup \
                 (a new key would change every research pseudonym)",
                path.display()
            ),
        )
    })?;
    Ok((PseudonymKey::from_bytes(&bytes), created))
}

/// The name under which the key's fingerprint is shared between server processes.
pub const KEY_FINGERPRINT: &str = "pseudonym-key-fingerprint";

/// Checks that `key` (read from `path`; `created` when this start made it) is the key of
/// every server of the repository behind `storage`, recording its fingerprint when none is
/// recorded yet. A key this start made that lost to another server's is removed again.
pub fn check_shared<R: Repository>(
    storage: &mut R,
    key: &PseudonymKey,
    path: &Path,
    created: bool,
    now: u64,
) -> Result<(), SharedSecretError> {
    let mine = key.fingerprint();
    let recorded = storage.shared_value(KEY_FINGERPRINT, &mine, now)?;
    if recorded.as_slice() == mine.as_slice() {
        return Ok(());
    }
    if created {
        std::fs::remove_file(path).map_err(|source| SharedSecretError::File {
            path: path.display().to_string(),
            source,
        })?;
    }
    Err(SharedSecretError::PseudonymKeyDiffers {
        path: path.display().to_string(),
    })
}

static PROCESS_KEY: OnceLock<Arc<PseudonymKey>> = OnceLock::new();

/// Makes `key` the key of this process's research exports. Returns `false` (and keeps the
/// first) when a key was already installed or made.
pub fn install(key: PseudonymKey) -> bool {
    PROCESS_KEY.set(Arc::new(key)).is_ok()
}

/// The key of this process's research exports: the installed one, else a random one made now.
pub fn process_key() -> Result<Arc<PseudonymKey>, crate::secret::RandomError> {
    if let Some(key) = PROCESS_KEY.get() {
        return Ok(key.clone());
    }
    let key = PseudonymKey::random()?;
    let _ = PROCESS_KEY.set(Arc::new(key));
    PROCESS_KEY.get().cloned().ok_or(crate::secret::RandomError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_recipient_and_differ_across_recipients_kinds_and_keys() {
        let key = PseudonymKey::from_bytes(&[7; 32]);
        let a = key.pseudonym("Uni Tokyo", "case", "abc");
        assert_eq!(a, key.pseudonym("Uni Tokyo", "case", "abc"));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, key.pseudonym("Charité", "case", "abc"));
        assert_ne!(a, key.pseudonym("Uni Tokyo", "row", "abc"));
        assert_ne!(a, key.pseudonym("Uni Tokyo", "case", "abd"));
        assert_ne!(
            key.pseudonym("ab", "case", "c"),
            key.pseudonym("a", "case", "bc")
        );
        assert_ne!(
            a,
            PseudonymKey::from_bytes(&[8; 32]).pseudonym("Uni Tokyo", "case", "abc")
        );
        assert_eq!(format!("{key:?}"), "PseudonymKey(..)");
    }

    #[test]
    fn day_offsets_are_stable_per_recipient_and_case_never_zero_and_spread() {
        let key = PseudonymKey::from_bytes(&[7; 32]);
        let a = key.day_offset("Uni Tokyo", "case-1");
        assert_eq!(a, key.day_offset("Uni Tokyo", "case-1"));
        let mut seen = std::collections::BTreeSet::new();
        let mut differs_by_recipient = 0;
        for i in 0..4000 {
            let case = format!("case-{i}");
            let d = key.day_offset("Uni Tokyo", &case);
            assert!(
                d != 0 && (-MAX_DAY_OFFSET..=MAX_DAY_OFFSET).contains(&d),
                "{d}"
            );
            seen.insert(d);
            if d != key.day_offset("Charité", &case) {
                differs_by_recipient += 1;
            }
        }
        // Every one of the 360 offsets turns up among 4000 cases; both signs; both ends.
        assert_eq!(seen.len(), 360);
        assert!(seen.contains(&-MAX_DAY_OFFSET) && seen.contains(&MAX_DAY_OFFSET));
        assert!(!seen.contains(&0));
        assert!(differs_by_recipient > 3900, "{differs_by_recipient}");
        // Not the pseudonym's bytes, and another key gives other offsets.
        let other = PseudonymKey::from_bytes(&[8; 32]);
        let same = (0..100)
            .filter(|i| {
                let case = format!("case-{i}");
                key.day_offset("r", &case) == other.day_offset("r", &case)
            })
            .count();
        assert!(same < 10, "{same}");
    }

    #[test]
    fn servers_with_another_key_are_refused_and_a_key_made_by_the_loser_is_removed() {
        let dir = std::env::temp_dir().join(format!(
            "wardcrf-pseudonym-shared-{}",
            &crate::secret::new_token().unwrap()[..8]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = crate::SqliteStorage::open(&dir.join("repository.db")).unwrap();
        let first = dir.join("first-key");
        let (key, created) = ensure_key_at(&first).unwrap();
        assert!(created);
        check_shared(&mut s, &key, &first, created, 1).unwrap();
        // A copy of the same file is accepted.
        let copy = dir.join("copy");
        std::fs::copy(&first, &copy).unwrap();
        let (same, created) = ensure_key_at(&copy).unwrap();
        assert!(!created);
        check_shared(&mut s, &same, &copy, created, 2).unwrap();
        // A key made now by another server is refused and removed; one given is kept.
        let other = dir.join("other-key");
        let (wrong, created) = ensure_key_at(&other).unwrap();
        let e = check_shared(&mut s, &wrong, &other, created, 3).unwrap_err();
        assert!(
            matches!(e, SharedSecretError::PseudonymKeyDiffers { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("copy the pseudonym-key file"));
        assert!(!other.exists());
        std::fs::write(&other, "ab".repeat(32)).unwrap();
        let (wrong, created) = ensure_key_at(&other).unwrap();
        assert!(check_shared(&mut s, &wrong, &other, created, 4).is_err());
        assert!(other.exists());
        // The fingerprint is neither the key nor a pseudonym.
        assert_ne!(
            key.fingerprint(),
            PseudonymKey::from_bytes(&[7; 32]).fingerprint()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_key_file_is_created_once_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!(
            "wardcrf-pseudonym-key-{}",
            crate::secret::new_token().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (path, first, created) = ensure_key_file(&dir).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (_, again, created) = ensure_key_file(&dir).unwrap();
        assert!(!created);
        assert_eq!(
            first.pseudonym("r", "case", "c"),
            again.pseudonym("r", "case", "c")
        );
        std::fs::write(&path, "short\n").unwrap();
        let err = ensure_key_file(&dir).unwrap_err();
        assert!(
            err.to_string().contains("restore it from a backup"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
