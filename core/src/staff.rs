//! Staff identity, one definition for the tablet and the repository: who may enter data on a
//! site's tablets, what the repository tells a device about them (the roster and the site's
//! settings), the online sign-in exchange, and how a change names the person who made it.
//!
//! - The repository's staff accounts with a ward role ([`StaffRole`]: `clinician`,
//!   `site_nurse`) may sign in on their own site's tablets, no one else.
//! - A device learns the site's [`Roster`] at every sync: ids, display names, roles, whether
//!   the account is active and its credential epoch (raised by a password reset, which makes
//!   the next sign-in on each device an online one). Never a password or a verifier.
//! - A first sign-in on a device is online ([`StaffSignIn`] → [`StaffGrant`]); afterwards the
//!   device signs the person in offline with the data key wrapped for them.
//! - Every change note names its author ([`Attribution`]); the repository refuses a push
//!   whose new changes name anyone who is not staff of the device's site
//!   ([`crate::repository`]).

use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// The device's path for an online staff sign-in (device token; JSON [`StaffSignIn`] →
/// [`StaffGrant`]).
pub const SIGN_IN_PATH: &str = "/api/device/staff/sign-in";
/// The device's path for its site's roster and settings (device token; JSON [`Roster`]).
pub const ROSTER_PATH: &str = "/api/device/roster";
/// At most this many staff in one site's roster (a roster is read whole).
pub const MAX_ROSTER: usize = 10_000;
/// At most this many signature meanings per site.
pub const MAX_MEANINGS: usize = 32;
/// The longest display name or meaning label, in characters.
pub const MAX_LABEL: usize = 200;
/// The default inactivity lock, in minutes.
pub const DEFAULT_LOCK_MINUTES: u32 = 5;

/// Whether `id` is a staff id: 1-64 characters of lowercase ASCII letters, digits, `.`, `_`
/// and `-` (the repository's user names).
pub fn valid_staff_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// A role that may sign in on a site's tablets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Enters data at the bedside.
    Clinician,
    /// A site research nurse: enters data, resolves conflicts, signs.
    SiteNurse,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Clinician => "clinician",
            StaffRole::SiteNurse => "site_nurse",
        }
    }

    /// From its stored name (`clinician`, `site_nurse`; `-` for `_` accepted); `None` for a
    /// role that does not sign in on tablets (admin, data manager).
    pub fn parse(s: &str) -> Option<StaffRole> {
        match s.trim().replace('-', "_").as_str() {
            "clinician" => Some(StaffRole::Clinician),
            "site_nurse" => Some(StaffRole::SiteNurse),
            _ => None,
        }
    }
}

/// One person of a site's roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    /// The repository user name.
    pub id: String,
    /// The printed name shown with their entries and signatures.
    pub display_name: String,
    pub role: StaffRole,
    /// A deactivated account signs in nowhere; its history stays.
    pub active: bool,
    /// Raised by every password reset: a device that signed the person in under a lower
    /// epoch asks for an online sign-in.
    pub credential_epoch: u64,
}

impl StaffMember {
    /// The attribution of this person's changes.
    pub fn attribution(&self) -> Attribution {
        Attribution {
            id: self.id.clone(),
            name: self.display_name.clone(),
        }
    }
}

/// One meaning a signer may choose (21 CFR Part 11 §11.50), labelled in the three languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureMeaning {
    /// A short code (`author`, `investigator-approval`), 1-64 characters like a staff id.
    pub code: String,
    pub en: String,
    pub ja: String,
    pub de: String,
}

impl SignatureMeaning {
    fn new(code: &str, en: &str, ja: &str, de: &str) -> Self {
        SignatureMeaning {
            code: code.into(),
            en: en.into(),
            ja: ja.into(),
            de: de.into(),
        }
    }

    /// The label in `lang`.
    pub fn label(&self, lang: crate::Lang) -> &str {
        match lang {
            crate::Lang::En => &self.en,
            crate::Lang::Ja => &self.ja,
            crate::Lang::De => &self.de,
        }
    }
}

/// The most default units a site sets (one per number field with units is far fewer).
pub const MAX_DEFAULT_UNITS: usize = 500;

/// The settings of a site that its tablets follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSettings {
    /// Minutes without use after which a tablet drops the data key (1-120).
    pub lock_after_minutes: u32,
    /// The meanings a signer chooses from.
    pub signature_meanings: Vec<SignatureMeaning>,
    /// The unit each field's entry starts in at this site (field id → UCUM code), where it
    /// is not the field's own unit: one of the units the field offers.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub default_units: std::collections::BTreeMap<String, String>,
}

impl Default for SiteSettings {
    fn default() -> Self {
        SiteSettings {
            lock_after_minutes: DEFAULT_LOCK_MINUTES,
            signature_meanings: default_meanings(),
            default_units: Default::default(),
        }
    }
}

/// The meanings every site starts with.
pub fn default_meanings() -> Vec<SignatureMeaning> {
    vec![
        SignatureMeaning::new(
            "author",
            "I am the author of this case report",
            "私はこの症例報告の作成者です",
            "Ich bin der Verfasser dieses Fallberichts",
        ),
        SignatureMeaning::new(
            "investigator-approval",
            "Investigator approval: I have reviewed and approve this case report",
            "研究責任者承認：この症例報告を確認し承認します",
            "Freigabe durch den Prüfarzt: Ich habe diesen Fallbericht geprüft und gebe ihn frei",
        ),
    ]
}

impl SiteSettings {
    /// The meaning with `code`.
    pub fn meaning(&self, code: &str) -> Option<&SignatureMeaning> {
        self.signature_meanings.iter().find(|m| m.code == code)
    }

    /// Checks what a repository administrator sets (and what a device reads).
    pub fn check(&self) -> Result<(), RosterError> {
        if !(1..=120).contains(&self.lock_after_minutes) {
            return Err(RosterError::LockMinutes);
        }
        if self.signature_meanings.is_empty() || self.signature_meanings.len() > MAX_MEANINGS {
            return Err(RosterError::Meanings);
        }
        for m in &self.signature_meanings {
            if !valid_staff_id(&m.code) || [&m.en, &m.ja, &m.de].iter().any(|l| !valid_label(l)) {
                return Err(RosterError::Meaning(m.code.chars().take(64).collect()));
            }
        }
        // Whether each default names a field that offers the unit is the form's check
        // (`Form::check_default_units`); here only their shape, before anything reads them.
        let short = |s: &str| (1..=64).contains(&s.len()) && !s.chars().any(char::is_control);
        if self.default_units.len() > MAX_DEFAULT_UNITS
            || self
                .default_units
                .iter()
                .any(|(f, u)| !short(f) || !short(u))
        {
            return Err(RosterError::DefaultUnits);
        }
        Ok(())
    }
}

fn valid_label(s: &str) -> bool {
    let n = s.chars().count();
    (1..=MAX_LABEL).contains(&n) && !s.chars().any(char::is_control)
}

/// What the repository tells a device about its site's staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    pub site_id: String,
    pub staff: Vec<StaffMember>,
    #[serde(default)]
    pub settings: SiteSettings,
}

/// Why a roster or a site's settings are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    #[error("the roster lists more than {MAX_ROSTER} staff")]
    TooLarge,
    #[error("the roster lists a malformed staff id")]
    BadId,
    #[error("the roster lists staff member {0} twice")]
    Duplicate(String),
    #[error("the display name of staff member {0} is empty, too long or holds control characters")]
    BadName(String),
    #[error("the inactivity lock must be 1 to 120 minutes")]
    LockMinutes,
    #[error(
        "a site has at most {MAX_DEFAULT_UNITS} default units, each a field id and a unit of 1-64 characters"
    )]
    DefaultUnits,
    #[error("a site needs 1 to {MAX_MEANINGS} signature meanings")]
    Meanings,
    #[error(
        "signature meaning {0}: its code must be like a user name and each label 1-{MAX_LABEL} characters"
    )]
    Meaning(String),
}

impl Roster {
    /// The member with `id`.
    pub fn member(&self, id: &str) -> Option<&StaffMember> {
        self.staff.iter().find(|s| s.id == id)
    }

    /// Checks a roster read from the repository before a device keeps it.
    pub fn check(&self) -> Result<(), RosterError> {
        if self.staff.len() > MAX_ROSTER {
            return Err(RosterError::TooLarge);
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.staff {
            if !valid_staff_id(&s.id) {
                return Err(RosterError::BadId);
            }
            if !seen.insert(s.id.as_str()) {
                return Err(RosterError::Duplicate(s.id.clone()));
            }
            if !valid_label(&s.display_name) {
                return Err(RosterError::BadName(s.id.clone()));
            }
        }
        self.settings.check()
    }
}

/// A device's online sign-in request: the credential goes to the repository over the
/// device's enrolled channel, never anywhere else.
#[derive(Clone, Serialize, Deserialize)]
pub struct StaffSignIn {
    pub user: String,
    pub password: Zeroizing<String>,
}

impl fmt::Debug for StaffSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffSignIn")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// The repository's answer to a good online sign-in: who the person is, and the device's
/// unlock key, with which the device opens its data key to wrap it for them.
#[derive(Clone, Serialize, Deserialize)]
pub struct StaffGrant {
    pub staff: StaffMember,
    /// The device's unlock key (64 hex digits): held by the repository, never kept on the
    /// device in the clear.
    pub device_key: Zeroizing<String>,
}

impl fmt::Debug for StaffGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffGrant")
            .field("staff", &self.staff)
            .field("device_key", &"[redacted]")
            .finish()
    }
}

/// Who made a change: the signed-in staff member's id and printed name, written into every
/// change note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub id: String,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_ids_are_user_names() {
        for ok in ["sato", "m.weber", "nurse_1", "a-b"] {
            assert!(valid_staff_id(ok), "{ok}");
        }
        for bad in ["", "Sato", "佐藤", "a b", &"x".repeat(65), "a/b"] {
            assert!(!valid_staff_id(bad), "{bad}");
        }
    }

    #[test]
    fn roles_parse_from_their_stored_names() {
        assert_eq!(StaffRole::parse("clinician"), Some(StaffRole::Clinician));
        assert_eq!(StaffRole::parse("site-nurse"), Some(StaffRole::SiteNurse));
        assert_eq!(StaffRole::parse("admin"), None);
        assert_eq!(
            serde_json::to_string(&StaffRole::SiteNurse).unwrap(),
            "\"site_nurse\""
        );
    }

    fn member(id: &str, name: &str) -> StaffMember {
        StaffMember {
            id: id.into(),
            display_name: name.into(),
            role: StaffRole::Clinician,
            active: true,
            credential_epoch: 0,
        }
    }

    #[test]
    fn rosters_are_checked_before_a_device_keeps_them() {
        let mut r = Roster {
            site_id: "tokyo".into(),
            staff: vec![member("sato", "Dr. Sato Hanako")],
            settings: SiteSettings::default(),
        };
        assert_eq!(r.check(), Ok(()));
        r.staff.push(member("sato", "Again"));
        assert_eq!(r.check(), Err(RosterError::Duplicate("sato".into())));
        r.staff[1] = member("Bad Id", "x");
        assert_eq!(r.check(), Err(RosterError::BadId));
        r.staff[1] = member("weber", "line\nbreak");
        assert_eq!(r.check(), Err(RosterError::BadName("weber".into())));
        r.staff.pop();
        r.settings.lock_after_minutes = 0;
        assert_eq!(r.check(), Err(RosterError::LockMinutes));
        r.settings.lock_after_minutes = 5;
        r.settings.signature_meanings.clear();
        assert_eq!(r.check(), Err(RosterError::Meanings));
    }

    #[test]
    fn every_site_starts_with_two_labelled_meanings() {
        let s = SiteSettings::default();
        assert_eq!(s.check(), Ok(()));
        assert_eq!(s.lock_after_minutes, 5);
        assert!(s.meaning("author").is_some());
        assert!(
            s.meaning("investigator-approval")
                .unwrap()
                .label(crate::Lang::De)
                .contains("Prüfarzt")
        );
    }

    #[test]
    fn credentials_never_print() {
        let s = StaffSignIn {
            user: "sato".into(),
            password: Zeroizing::new("hunter2-hunter2".into()),
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        let g = StaffGrant {
            staff: member("sato", "Sato"),
            device_key: Zeroizing::new("ab".repeat(32)),
        };
        assert!(!format!("{g:?}").contains("abab"));
    }
}
