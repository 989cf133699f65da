//! Staff on the device: signing in (online the first time, then offline), PINs, locking,
//! recovery with the repository's unlock key, electronic signatures, and the inactivity lock.
//!
//! Each method is one core call ([`wardcrf_core::sync::sign_in`] and the core store's
//! `sign_in`, `set_pin`, `lock`, `sign`, ...). The one thing kept here is the time of the last
//! call ([`Activity`]): after the site's `lock_after_minutes` without a call the store drops
//! its key before it does anything else, and a data call fails with `Locked`.

use crate::CaseStore;
use crate::error::WardcrfError;
use crate::store::enrolled_transport;
use std::time::{Duration, Instant};
use wardcrf_core as core;
use wardcrf_core::staff::DEFAULT_LOCK_MINUTES;
use wardcrf_core::sync::Transport;
use zeroize::Zeroizing;

/// A role that signs in on a site's tablets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StaffRole {
    /// Enters data at the bedside.
    Clinician,
    /// A site research nurse: enters data, resolves conflicts, signs.
    SiteNurse,
}

impl From<core::staff::StaffRole> for StaffRole {
    fn from(r: core::staff::StaffRole) -> Self {
        match r {
            core::staff::StaffRole::Clinician => StaffRole::Clinician,
            core::staff::StaffRole::SiteNurse => StaffRole::SiteNurse,
        }
    }
}

/// The staff member signed in on the store: every change is recorded under them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignedInUser {
    /// The repository user name.
    pub id: String,
    /// The printed name shown with their entries and signatures.
    pub display_name: String,
    pub role: StaffRole,
    /// When they signed in (seconds since the Unix epoch).
    pub since: i64,
}

impl From<&core::Session> for SignedInUser {
    fn from(s: &core::Session) -> Self {
        SignedInUser {
            id: s.staff.id.clone(),
            display_name: s.staff.name.clone(),
            role: s.role.into(),
            since: s.since,
        }
    }
}

/// A meaning a signer chooses (21 CFR Part 11 §11.50), labelled in the three languages.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignatureMeaning {
    /// What `sign` takes (`author`, `investigator-approval`, ...).
    pub code: String,
    pub en: String,
    pub ja: String,
    pub de: String,
}

impl From<core::staff::SignatureMeaning> for SignatureMeaning {
    fn from(m: core::staff::SignatureMeaning) -> Self {
        SignatureMeaning {
            code: m.code,
            en: m.en,
            ja: m.ja,
            de: m.de,
        }
    }
}

/// An electronic signature of a case: who, when, what it means and what it covers.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Signature {
    pub signer_id: String,
    /// The signer's printed name.
    pub signer_name: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// The meaning's code.
    pub meaning: String,
    /// The meaning's labels as shown when signing.
    pub meaning_en: String,
    pub meaning_ja: String,
    pub meaning_de: String,
    /// The case's heads when it was signed (hex): what the signature covers.
    pub heads: Vec<String>,
    /// The signing change (hex).
    pub change: String,
    /// A later edit changed the case: the signature no longer covers its current state.
    pub superseded: bool,
}

impl From<core::case::Signature> for Signature {
    fn from(s: core::case::Signature) -> Self {
        Signature {
            signer_id: s.signer.id,
            signer_name: s.signer.name,
            time: s.time,
            meaning: s.meaning,
            meaning_en: s.meaning_en,
            meaning_ja: s.meaning_ja,
            meaning_de: s.meaning_de,
            heads: s.heads,
            change: s.change,
            superseded: s.superseded,
        }
    }
}

/// When the store was last used, and after how long without use it locks itself.
#[derive(Debug)]
pub(crate) struct Activity {
    last_use: Instant,
    lock_after: Duration,
}

impl Activity {
    pub(crate) fn new(store: &core::CaseStore) -> Self {
        Activity {
            last_use: Instant::now(),
            lock_after: lock_after(store),
        }
    }

    /// Reads the site's inactivity lock again (after a sync or sign-in brought a roster).
    pub(crate) fn refresh(&mut self, store: &core::CaseStore) {
        self.lock_after = lock_after(store);
    }

    /// Records a call; when the store was left unused too long, locks it first and says so.
    pub(crate) fn used(&mut self, store: &mut core::CaseStore) -> bool {
        let locked = self.check(store);
        self.last_use = Instant::now();
        locked
    }

    /// Locks the store when it was left unused too long, and says so; records no use (a
    /// screen asking who is signed in does not keep the store open). A store nobody has
    /// claimed (no staff ever signed in: its platform key alone opens it) has nothing to lock.
    pub(crate) fn check(&mut self, store: &mut core::CaseStore) -> bool {
        if self.last_use.elapsed() < self.lock_after || !store.is_unlocked() {
            return false;
        }
        // Unreadable: treated as claimed (locking is the safe side).
        if store.signed_in().is_none() && !store.is_claimed().unwrap_or(true) {
            return false;
        }
        store.lock();
        true
    }

    /// How long the store has been unused.
    #[cfg(test)]
    pub(crate) fn idle(&self) -> Duration {
        self.last_use.elapsed()
    }

    /// Makes the store look unused for `idle`.
    #[cfg(test)]
    pub(crate) fn idle_for_tests(&mut self, idle: Duration) {
        self.last_use = Instant::now()
            .checked_sub(idle)
            .expect("the clock reaches back that far");
    }
}

/// The site's inactivity lock; the default when the settings cannot be read.
fn lock_after(store: &core::CaseStore) -> Duration {
    let minutes = store.lock_after_minutes().unwrap_or(DEFAULT_LOCK_MINUTES);
    Duration::from_secs(u64::from(minutes) * 60)
}

impl CaseStore {
    fn signed_in_user(store: &core::CaseStore) -> Result<SignedInUser, WardcrfError> {
        store
            .signed_in()
            .map(SignedInUser::from)
            .ok_or(WardcrfError::NotSignedIn)
    }
}

#[uniffi::export]
impl CaseStore {
    /// Signs a staff member in with their password: offline when they signed in on this
    /// device before, else online through the repository this device is enrolled with (a
    /// first sign-in here, after a password reset or too many wrong passwords). A wrong
    /// password is refused and nothing is written but the count of failures. `ca_pem`: the
    /// hospital's own certificate authority, as for `sync`. Blocking when online.
    #[uniffi::method(default(ca_pem = None))]
    pub fn sign_in(
        &self,
        user: String,
        password: String,
        ca_pem: Option<Vec<u8>>,
    ) -> Result<SignedInUser, WardcrfError> {
        let password = Zeroizing::new(password);
        let mut store = self.session();
        let transport = enrolled_transport(&store, ca_pem)?;
        let result = core::sync::sign_in(
            &mut store,
            transport.as_ref().map(|t| t as &dyn Transport),
            &user,
            &password,
        );
        // An online sign-in brings the roster and with it the site's inactivity lock.
        self.activity().refresh(&store);
        result?;
        Self::signed_in_user(&store)
    }

    /// Unlocks the store for a staff member with the PIN they set on this device (after a
    /// password sign-in). Five wrong PINs in a row and the PIN no longer works (`PinLocked`).
    pub fn unlock_with_pin(&self, user: String, pin: String) -> Result<SignedInUser, WardcrfError> {
        let pin = Zeroizing::new(pin);
        let mut store = self.session();
        store.sign_in(&user, &core::Credential::pin(pin.as_str()))?;
        Self::signed_in_user(&store)
    }

    /// Sets (or replaces) the signed-in staff member's PIN (4 to 12 digits); their password
    /// confirms it.
    pub fn set_pin(&self, password: String, pin: String) -> Result<(), WardcrfError> {
        let (password, pin) = (Zeroizing::new(password), Zeroizing::new(pin));
        Ok(self.store()?.set_pin(&password, &pin)?)
    }

    /// Removes the signed-in staff member's PIN.
    pub fn remove_pin(&self) -> Result<(), WardcrfError> {
        Ok(self.store()?.remove_pin()?)
    }

    /// Drops the data key from memory and signs the staff member out (the app going to the
    /// background, a lock button). The store stays open; a sign-in or PIN unlocks it. Every
    /// call is refused as `Locked` at once; a sync under way still applies the exchange in
    /// hand, then stops with `Locked`.
    pub fn lock(&self) {
        self.session().lock();
    }

    /// Signs the staff member out; like `lock`, the data key leaves memory.
    pub fn sign_out(&self) {
        self.session().lock();
    }

    /// Who is signed in, if anyone (none after the inactivity lock). Asking is not use: it
    /// does not hold the inactivity lock off.
    pub fn current_user(&self) -> Option<SignedInUser> {
        self.peek().signed_in().map(SignedInUser::from)
    }

    /// Whether the data key is in memory (someone signed in, a recovery, or a store nobody has
    /// claimed yet). Asking is not use.
    pub fn is_unlocked(&self) -> bool {
        self.peek().is_unlocked()
    }

    /// Records use of the app (a touch, a key press) so that the inactivity lock does not
    /// fall while someone works; when it is already due, it falls now.
    pub fn touch(&self) {
        drop(self.session());
    }

    /// The ids of the staff who signed in on this device (and may sign in offline).
    pub fn local_staff(&self) -> Result<Vec<String>, WardcrfError> {
        Ok(self.session().local_staff()?)
    }

    /// The site's inactivity lock in minutes (the default before the first sync).
    pub fn lock_after_minutes(&self) -> Result<u32, WardcrfError> {
        let store = self.session();
        let minutes = store.lock_after_minutes()?;
        self.activity().refresh(&store);
        Ok(minutes)
    }

    /// The meanings a signer chooses from at this site.
    pub fn signature_meanings(&self) -> Result<Vec<SignatureMeaning>, WardcrfError> {
        Ok(self
            .session()
            .site_settings()?
            .signature_meanings
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Signs a complete case as the signed-in staff member, who types their password again
    /// (a PIN is not enough), with a meaning code from `signature_meanings`.
    pub fn sign(
        &self,
        case_id: String,
        password: String,
        meaning: String,
    ) -> Result<Signature, WardcrfError> {
        let password = Zeroizing::new(password);
        Ok(self.store()?.sign(&case_id, &password, &meaning)?.into())
    }

    /// The signatures of a case, oldest first; superseded ones are marked.
    pub fn signatures(&self, case_id: String) -> Result<Vec<Signature>, WardcrfError> {
        Ok(self
            .store()?
            .signatures(&case_id)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Unlocks a store whose staff all forgot their credentials with the device's unlock key
    /// from the repository's administrator (64 hex digits). Cases can then be read and synced
    /// (nothing is lost), not changed, until a staff member signs in online.
    pub fn recover(&self, unlock_key: String) -> Result<(), WardcrfError> {
        let unlock_key = Zeroizing::new(unlock_key);
        Ok(self.session().recover(&unlock_key)?)
    }
}

#[cfg(test)]
impl CaseStore {
    /// Signs `staff_id` in with the core's test hook (password `test password <id>`).
    pub(crate) fn sign_in_for_tests(&self, staff_id: &str) -> Result<(), WardcrfError> {
        Ok(self.session().sign_in_for_tests(staff_id)?)
    }
}
