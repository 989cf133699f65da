//! Staff sign-in on the device: who may unlock the store and make changes.
//!
//! The store's data key is wrapped several times, never stored in the clear:
//! - for each staff member who signed in here online, under a key derived from their password
//!   (PBKDF2-HMAC-SHA256, at least [`MIN_PASSPHRASE_ITERATIONS`]) mixed with the device
//!   secret, which only the platform key (Keystore, Keychain) opens: the database alone, or
//!   the database with the platform key but without a staff credential, opens nothing;
//! - optionally again under that person's PIN, mixed the same way; [`MAX_PIN_FAILURES`] wrong
//!   PINs remove it (then the password), [`MAX_PASSWORD_FAILURES`] wrong passwords ask for an
//!   online sign-in;
//! - under the device's unlock key, which only the repository holds ([`StaffGrant`]): a staff
//!   member's first sign-in on a device is checked online and brings it, and an administrator
//!   recovers a store whose users forgot their credentials with it ([`CaseStore::recover`]);
//! - until the first staff member signs in, under the device secret alone (the "open door" of
//!   a new store, or of a store made before staff signed in on devices); the first online
//!   sign-in closes it.
//!
//! The site's roster ([`Roster`]), learnt at each sync, ends the offline sign-in of a
//! deactivated account and asks for an online one after a password reset.

use super::encryption::{KeyError, MIN_PASSPHRASE_ITERATIONS, SecretKey, random_bytes};
use super::{CaseStore, StoreError, db, now};
use crate::case::signature::{Signature, sign, signatures};
use crate::staff::{Attribution, Roster, SiteSettings, StaffGrant, StaffMember, StaffRole};
use serde::Serialize;
use std::fmt;
use std::num::NonZeroU32;
use zeroize::Zeroizing;

/// Wrong passwords in a row after which a staff member must sign in online.
pub const MAX_PASSWORD_FAILURES: i64 = 5;
/// Wrong PINs in a row after which the PIN no longer works.
pub const MAX_PIN_FAILURES: i64 = 5;
/// The shortest PIN, in digits.
pub const MIN_PIN: usize = 4;
/// The longest PIN, in digits.
pub const MAX_PIN: usize = 12;
const SALT_LEN: usize = 16;
const ROSTER_AAD: &[u8] = b"wardcrf|roster";
const DEVICE_WRAP_AAD: &[u8] = b"wardcrf|device-wrap";

/// A staff member's secret, typed in at the tablet.
#[derive(Clone)]
pub enum Credential {
    Password(Zeroizing<String>),
    Pin(Zeroizing<String>),
}

impl Credential {
    pub fn password(p: impl Into<String>) -> Self {
        Credential::Password(Zeroizing::new(p.into()))
    }

    pub fn pin(p: impl Into<String>) -> Self {
        Credential::Pin(Zeroizing::new(p.into()))
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credential::Password(_) => "Credential::Password([redacted])",
            Credential::Pin(_) => "Credential::Pin([redacted])",
        })
    }
}

/// Who is signed in on the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Id and printed name, as every change they make carries them.
    pub staff: Attribution,
    pub role: StaffRole,
    /// When they signed in (seconds since the epoch).
    pub since: i64,
}

/// What a credential derives: the key that wraps the data key for one person.
fn staff_kek(
    device_secret: &SecretKey,
    purpose: &str,
    staff_id: &str,
    secret: &str,
    params: &[u8],
) -> Result<SecretKey, StoreError> {
    if params.len() != 4 + SALT_LEN {
        return Err(StoreError::WrongKey);
    }
    let iterations = u32::from_be_bytes([params[0], params[1], params[2], params[3]]);
    let iterations = NonZeroU32::new(iterations).ok_or(StoreError::WrongKey)?;
    let mut derived = Zeroizing::new([0u8; 32]);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &params[4..],
        secret.as_bytes(),
        &mut derived[..],
    );
    // Mixed with the device secret: without the platform key, no guess can be checked.
    let mixed =
        Zeroizing::new(device_secret.keyed_hash(&format!("{purpose}|{staff_id}"), &derived[..]));
    Ok(SecretKey::from_bytes(&mixed)?)
}

fn new_params(iterations: u32) -> Result<Vec<u8>, StoreError> {
    let mut params = iterations.to_be_bytes().to_vec();
    params.extend_from_slice(&random_bytes::<SALT_LEN>()?);
    Ok(params)
}

fn wrap_aad(purpose: &str, staff_id: &str) -> Vec<u8> {
    format!("wardcrf|{purpose}|{staff_id}").into_bytes()
}

/// The device's unlock key from its 64 hex digits.
fn device_key(hex: &str) -> Result<SecretKey, StoreError> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return Err(StoreError::BadUnlockKey);
    }
    let bytes: Option<Vec<u8>> = (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let bytes = Zeroizing::new(bytes.ok_or(StoreError::BadUnlockKey)?);
    Ok(SecretKey::from_bytes(&bytes)?)
}

fn check_pin(pin: &str) -> Result<(), StoreError> {
    if (MIN_PIN..=MAX_PIN).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::BadPin)
    }
}

impl CaseStore {
    /// Who is signed in, if anyone.
    pub fn signed_in(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Whether the data key is in memory (someone signed in, or a recovery).
    pub fn is_unlocked(&self) -> bool {
        self.key.is_some()
    }

    /// Whether staff have signed in on this store: then only they, the repository or the
    /// recovery key unlock it.
    pub fn is_claimed(&self) -> Result<bool, StoreError> {
        Ok(db::meta(&self.conn, "open_door")?.is_none())
    }

    /// The staff members who signed in on this device (and may sign in offline).
    pub fn local_staff(&self) -> Result<Vec<String>, StoreError> {
        Ok(db::staff_ids(&self.conn)?)
    }

    /// Drops the data key from memory and signs the user out (the inactivity lock, the app
    /// going to the background, signing out). The store stays open; its write-ahead log is
    /// checkpointed, as a locked tablet is an idle one.
    pub fn lock(&mut self) {
        if self.key.take().is_some() || self.session.is_some() {
            tracing::info!("store locked");
        }
        self.session = None;
        // A locked tablet is an idle one: the WAL is written back now, not inside a save.
        if let Err(e) = self.checkpoint() {
            tracing::warn!(error = %e, "checkpoint at lock failed");
        }
    }

    /// PBKDF2 iterations for the wraps this store makes from now on; tests only (never
    /// below what patient data needs in production).
    #[doc(hidden)]
    pub fn set_credential_iterations_for_tests(&mut self, iterations: u32) {
        self.credential_iterations = iterations.max(1);
    }

    /// Signs `staff_id` in with the password `test password <id>` and few PBKDF2 iterations:
    /// offline when they signed in here before, else as an online sign-in of a site nurse of
    /// that id would (the store must be unlocked: new, or someone signed in). For tests of the
    /// crates above the store; never for patient data.
    #[doc(hidden)]
    pub fn sign_in_for_tests(&mut self, staff_id: &str) -> Result<(), StoreError> {
        let password = format!("test password {staff_id}");
        if db::staff_key(&self.conn, staff_id)?.is_some() {
            return self.sign_in(staff_id, &Credential::password(password));
        }
        self.set_credential_iterations_for_tests(1);
        let key = self.key()?.clone();
        let staff = StaffMember {
            id: staff_id.to_string(),
            display_name: format!("Test {staff_id}"),
            role: StaffRole::SiteNurse,
            active: true,
            credential_epoch: 0,
        };
        self.keep_staff_key(key, &staff, &password, None)
    }

    /// A first (or renewed) sign-in that the repository checked: `grant` is its answer to
    /// `password`. Opens the data key (already open, or with the device's unlock key the grant
    /// carries), wraps it for this person under `password`, closes the open door, and signs
    /// them in.
    pub fn sign_in_online(&mut self, grant: &StaffGrant, password: &str) -> Result<(), StoreError> {
        let staff = &grant.staff;
        if !crate::staff::valid_staff_id(&staff.id) {
            return Err(StoreError::WrongCredential);
        }
        if !staff.active {
            return Err(StoreError::AccountDeactivated(staff.id.clone()));
        }
        let unlock = device_key(&grant.device_key)?;
        // The repository's unlock key must open the wrap made under it (at enrolment, or at
        // the first online sign-in of a device enrolled before this version): an answer that
        // does not is not the repository's.
        let (key, device_wrap) = match (&self.key, db::meta(&self.conn, "device_wrap")?) {
            (_, Some(wrap)) => {
                let key = self.checked_key(&unlock.open(DEVICE_WRAP_AAD, &wrap)?)?;
                (key, None)
            }
            (Some(k), None) => (k.clone(), Some(unlock.seal(DEVICE_WRAP_AAD, k.bytes())?)),
            (None, None) => return Err(StoreError::NoUnlockKey),
        };
        if self.key.as_ref().is_some_and(|k| k.bytes() != key.bytes()) {
            return Err(StoreError::WrongKey);
        }
        self.keep_staff_key(key, staff, password, device_wrap.as_deref())?;
        tracing::info!("staff signed in online");
        Ok(())
    }

    /// Wraps the data key for `staff` under `password`, closes the open door, and signs them
    /// in.
    fn keep_staff_key(
        &mut self,
        key: SecretKey,
        staff: &StaffMember,
        password: &str,
        device_wrap: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let params = new_params(self.credential_iterations)?;
        let kek = staff_kek(
            &self.device_secret,
            "staff-password",
            &staff.id,
            password,
            &params,
        )?;
        let row = db::StaffKeyRow {
            staff_id: staff.id.clone(),
            display_name: staff.display_name.clone(),
            role: staff.role.as_str().to_string(),
            credential_epoch: i64::try_from(staff.credential_epoch).unwrap_or(i64::MAX),
            password_params: params,
            password_wrap: kek.seal(&wrap_aad("staff-password", &staff.id), key.bytes())?,
            needs_online: false,
            pin_params: None,
            pin_wrap: None,
        };
        db::put_staff_key(&mut self.conn, &row, now(), device_wrap)?;
        self.start_session(key, staff.attribution(), staff.role);
        Ok(())
    }

    /// Signs a staff member in offline, with the password or PIN they set on this device.
    /// A wrong credential is refused and counted; nothing else is written.
    pub fn sign_in(&mut self, staff_id: &str, credential: &Credential) -> Result<(), StoreError> {
        let row = db::staff_key(&self.conn, staff_id)?
            .ok_or_else(|| StoreError::OnlineSignInRequired(staff_id.to_string()))?;
        self.check_roster_allows(&row)?;
        let key = match credential {
            Credential::Password(p) => self.open_with_password(&row, p)?,
            Credential::Pin(pin) => {
                let (Some(params), Some(wrap)) = (&row.pin_params, &row.pin_wrap) else {
                    return Err(StoreError::NoPin(staff_id.to_string()));
                };
                let kek = staff_kek(&self.device_secret, "staff-pin", staff_id, pin, params)?;
                match kek.open(&wrap_aad("staff-pin", staff_id), wrap) {
                    Ok(raw) => {
                        db::pin_ok(&self.conn, staff_id)?;
                        self.checked_key(&raw)?
                    }
                    Err(_) => {
                        if db::pin_failed(&self.conn, staff_id, MAX_PIN_FAILURES)? {
                            tracing::warn!("too many wrong PINs: PIN removed");
                            return Err(StoreError::PinLocked(staff_id.to_string()));
                        }
                        return Err(StoreError::WrongCredential);
                    }
                }
            }
        };
        let role = StaffRole::parse(&row.role).unwrap_or(StaffRole::Clinician);
        let staff = Attribution {
            id: row.staff_id.clone(),
            name: row.display_name.clone(),
        };
        self.start_session(key, staff, role);
        Ok(())
    }

    /// Sets (or replaces) the signed-in person's PIN; their password confirms it.
    pub fn set_pin(&mut self, password: &str, pin: &str) -> Result<(), StoreError> {
        check_pin(pin)?;
        let session = self.session.clone().ok_or(StoreError::NotSignedIn)?;
        let id = &session.staff.id;
        let row = db::staff_key(&self.conn, id)?
            .ok_or_else(|| StoreError::OnlineSignInRequired(id.clone()))?;
        let key = self.open_with_password(&row, password)?;
        let params = new_params(self.credential_iterations)?;
        let kek = staff_kek(&self.device_secret, "staff-pin", id, pin, &params)?;
        let wrap = kek.seal(&wrap_aad("staff-pin", id), key.bytes())?;
        db::set_pin(&self.conn, id, Some((&params, &wrap)))?;
        Ok(())
    }

    /// Removes the signed-in person's PIN.
    pub fn remove_pin(&mut self) -> Result<(), StoreError> {
        let session = self.session.as_ref().ok_or(StoreError::NotSignedIn)?;
        Ok(db::set_pin(&self.conn, &session.staff.id, None)?)
    }

    /// Wraps the data key under the device's unlock key from the repository (at enrolment),
    /// which is then forgotten: only the repository holds it.
    pub(super) fn keep_unlock_key(&mut self, unlock_key: &str) -> Result<(), StoreError> {
        let unlock = device_key(unlock_key)?;
        let wrap = unlock.seal(DEVICE_WRAP_AAD, self.key()?.bytes())?;
        Ok(db::put_meta(&self.conn, "device_wrap", &wrap)?)
    }

    /// Unlocks a store whose users all forgot their credentials, with the device's unlock key
    /// from the repository's administrator (64 hex digits). Nobody is signed in: cases can be
    /// read, exported and synced (nothing is lost), not changed, until a staff member signs
    /// in online.
    pub fn recover(&mut self, unlock_key: &str) -> Result<(), StoreError> {
        let unlock = device_key(unlock_key)?;
        let wrap = db::meta(&self.conn, "device_wrap")?.ok_or(StoreError::NoUnlockKey)?;
        let raw = unlock
            .open(DEVICE_WRAP_AAD, &wrap)
            .map_err(|_| StoreError::WrongKey)?;
        let key = self.checked_key(&raw)?;
        self.key = Some(key);
        self.session = None;
        tracing::warn!("store unlocked with the recovery key");
        Ok(())
    }

    /// Keeps the site's roster (from the repository at each sync) and forgets the wraps of
    /// anyone it no longer lists as active staff: they cannot sign in here offline any more.
    /// A signed-in person so deactivated is signed out and the store locked.
    pub fn set_roster(&mut self, roster: &Roster) -> Result<(), StoreError> {
        roster.check().map_err(StoreError::Roster)?;
        let json = serde_json::to_vec(roster)
            .map_err(|_| StoreError::Roster(crate::staff::RosterError::TooLarge))?;
        let sealed = self.device_secret.seal(ROSTER_AAD, &json)?;
        db::put_meta(&self.conn, "roster", &sealed)?;
        let gone: Vec<String> = db::staff_ids(&self.conn)?
            .into_iter()
            .filter(|id| !roster.member(id).is_some_and(|m| m.active))
            .collect();
        if !gone.is_empty() {
            db::remove_staff_keys(&mut self.conn, &gone)?;
            tracing::info!(
                staff = gone.len(),
                "deactivated staff can no longer sign in here"
            );
        }
        if self
            .session
            .as_ref()
            .is_some_and(|s| gone.contains(&s.staff.id))
        {
            self.lock();
        }
        Ok(())
    }

    /// The site's roster as last learnt, if any.
    pub fn roster(&self) -> Result<Option<Roster>, StoreError> {
        let Some(sealed) = db::meta(&self.conn, "roster")? else {
            return Ok(None);
        };
        let plain = self.device_secret.open(ROSTER_AAD, &sealed)?;
        Ok(serde_json::from_slice(&plain).ok())
    }

    /// The site's settings (inactivity lock, signature meanings): the roster's, or the
    /// defaults before the first sync.
    pub fn site_settings(&self) -> Result<SiteSettings, StoreError> {
        Ok(self.roster()?.map(|r| r.settings).unwrap_or_default())
    }

    /// A roster member, if listed.
    pub fn staff_member(&self, staff_id: &str) -> Result<Option<StaffMember>, StoreError> {
        Ok(self.roster()?.and_then(|r| r.member(staff_id).cloned()))
    }

    /// Signs a complete case as the signed-in person, who types their password again (not a
    /// PIN: 21 CFR Part 11 §11.200), with a meaning from the site's signature meanings.
    pub fn sign(
        &mut self,
        case_id: &str,
        password: &str,
        meaning: &str,
    ) -> Result<Signature, StoreError> {
        let author = self.author()?;
        let settings = self.site_settings()?;
        let meaning =
            settings
                .meaning(meaning)
                .cloned()
                .ok_or_else(|| StoreError::UnknownMeaning {
                    meaning: meaning.chars().take(64).collect(),
                    known: settings
                        .signature_meanings
                        .iter()
                        .map(|m| m.code.clone())
                        .collect(),
                })?;
        let (mut doc, _) = self.editable(case_id)?;
        let row = db::staff_key(&self.conn, &author.id)?
            .ok_or_else(|| StoreError::OnlineSignInRequired(author.id.clone()))?;
        let key = self.open_with_password(&row, password)?;
        if Some(key.bytes()) != self.key.as_ref().map(SecretKey::bytes) {
            return Err(StoreError::WrongCredential);
        }
        sign(&mut doc, &author, &meaning, now()).map_err(|e| match e {
            crate::case::SignError::NotComplete => StoreError::NotSignable,
            crate::case::SignError::Document(d) => StoreError::from(d),
        })?;
        self.write(case_id, &mut doc, false)?;
        signatures(&mut doc).pop().ok_or(StoreError::NotSignable)
    }

    /// The signatures of a case, oldest first, each marked superseded when a later edit
    /// changed what it signed.
    pub fn signatures(&self, case_id: &str) -> Result<Vec<Signature>, StoreError> {
        let (mut doc, _) = self.load(case_id)?;
        Ok(signatures(&mut doc))
    }

    /// The inactivity lock of this site, in minutes.
    pub fn lock_after_minutes(&self) -> Result<u32, StoreError> {
        Ok(self.site_settings()?.lock_after_minutes)
    }

    fn start_session(&mut self, key: SecretKey, staff: Attribution, role: StaffRole) {
        self.key = Some(key);
        self.session = Some(Session {
            staff,
            role,
            since: now(),
        });
    }

    /// A deactivated account (per the roster) loses its wrap; a credential reset at the
    /// repository after this person's sign-in here asks for an online one.
    fn check_roster_allows(&mut self, row: &db::StaffKeyRow) -> Result<(), StoreError> {
        let id = &row.staff_id;
        if let Some(member) = self.staff_member(id)? {
            if !member.active {
                db::remove_staff_keys(&mut self.conn, std::slice::from_ref(id))?;
                return Err(StoreError::AccountDeactivated(id.clone()));
            }
            if i64::try_from(member.credential_epoch).unwrap_or(i64::MAX) > row.credential_epoch {
                return Err(StoreError::OnlineSignInRequired(id.clone()));
            }
        }
        if row.needs_online {
            return Err(StoreError::OnlineSignInRequired(id.clone()));
        }
        Ok(())
    }

    /// The data key from a person's password wrap; a wrong password is counted.
    fn open_with_password(
        &self,
        row: &db::StaffKeyRow,
        password: &str,
    ) -> Result<SecretKey, StoreError> {
        if row.needs_online {
            return Err(StoreError::OnlineSignInRequired(row.staff_id.clone()));
        }
        let id = &row.staff_id;
        let kek = staff_kek(
            &self.device_secret,
            "staff-password",
            id,
            password,
            &row.password_params,
        )?;
        match kek.open(&wrap_aad("staff-password", id), &row.password_wrap) {
            Ok(raw) => {
                db::password_ok(&self.conn, id)?;
                self.checked_key(&raw)
            }
            Err(KeyError::WrongKey) => {
                db::password_failed(&self.conn, id, MAX_PASSWORD_FAILURES)?;
                Err(StoreError::WrongCredential)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The default PBKDF2 iterations of staff wraps.
pub(super) const CREDENTIAL_ITERATIONS: u32 = MIN_PASSPHRASE_ITERATIONS;

#[cfg(test)]
#[path = "staff_keys_tests.rs"]
mod tests;
