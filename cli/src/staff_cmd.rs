//! Who acts on a store: opening it with the platform passphrase, then signing a staff member
//! in (`--user ID`, password from `WARDCRF_USER_PASSWORD` or PIN from `WARDCRF_USER_PIN`,
//! never from an argument), or unlocking it with the administrator's recovery key
//! (`WARDCRF_RECOVERY_KEY`) for reading and syncing only. Also the commands `user login`,
//! `user pin` and `store recover`.
//!
//! A staff member's first sign-in on a store goes online, over the store's enrolled channel to
//! the repository; later ones are checked offline by the store. A store nobody ever signed in
//! on (an "open door") can be read without `--user`; every change needs a signed-in person.

use crate::sync_cmd::TlsOpts;
use crate::{CliError, print_json};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wardcrf_core::sync::{HttpOptions, HttpTransport};
use wardcrf_core::{CaseStore, Credential, Passphrase};

/// The signed-in person's password.
pub const USER_PASSWORD_VAR: &str = "WARDCRF_USER_PASSWORD";
/// The signed-in person's PIN (`user pin`: the new PIN).
pub const USER_PIN_VAR: &str = "WARDCRF_USER_PIN";
/// The device's unlock key from the repository's administrator, for `store recover`.
pub const RECOVERY_KEY_VAR: &str = "WARDCRF_RECOVERY_KEY";

/// Who acts: a staff member's id.
#[derive(Debug, Args, Default)]
pub struct SignInOpts {
    /// The staff member acting (their repository user id); the password is read from
    /// $WARDCRF_USER_PASSWORD, or the PIN set on this device from $WARDCRF_USER_PIN.
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,
}

/// What the command needs of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Only the platform passphrase (`device rekey`): nothing is read.
    Platform,
    /// Reading (or syncing): anyone signed in, an open door, or the recovery key.
    Read,
    /// Changing data: a signed-in staff member.
    Write,
}

/// A secret from the environment, if set and not empty.
fn env_var(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|s| !s.is_empty())
}

/// Opens the store in `dir` with the passphrase of `WARDCRF_PASSPHRASE`, unlocked for `need`.
pub fn open(dir: &Path, who: &SignInOpts, need: Need) -> Result<CaseStore, CliError> {
    open_with(dir, who, need, &HttpOptions::default())
}

/// [`open`], with these options for an online sign-in.
pub fn open_with(
    dir: &Path,
    who: &SignInOpts,
    need: Need,
    options: &HttpOptions,
) -> Result<CaseStore, CliError> {
    let var = crate::store_cmd::PASSPHRASE_VAR;
    let secret = env_var(var).ok_or(CliError::Passphrase { var })?;
    let mut store = CaseStore::open(dir, &Passphrase::new(secret))?;
    store.set_today(crate::today(None)?);
    match (&who.user, need) {
        (_, Need::Platform) => {}
        (Some(id), _) => sign_in(&mut store, id, options)?,
        (None, Need::Write) => return Err(CliError::NeedsUser),
        (None, Need::Read) if store.is_unlocked() => {}
        (None, Need::Read) => match env_var(RECOVERY_KEY_VAR) {
            Some(key) => store.recover(&key)?,
            None => return Err(CliError::NeedsUser),
        },
    }
    Ok(store)
}

/// The online line to the repository of an enrolled store, if it is enrolled.
fn transport(store: &CaseStore, options: &HttpOptions) -> Result<Option<HttpTransport>, CliError> {
    let Some((server, token)) = store.sync_credential()? else {
        return Ok(None);
    };
    HttpTransport::with_options(&server, &token, &crate::sync_cmd::pinned(store, options)?)
        .map(Some)
        .map_err(|e| CliError::Repository {
            doing: "sign-in",
            source: e,
        })
}

/// Signs the staff member of `who` in on another store (`merge --from`), when it is locked.
pub fn unlock_other(store: &mut CaseStore, who: &SignInOpts) -> Result<(), CliError> {
    match &who.user {
        _ if store.is_unlocked() => Ok(()),
        Some(id) => sign_in(store, id, &HttpOptions::default()),
        None => Err(CliError::NeedsUser),
    }
}

/// Signs `id` in: with the password offline, or online the first time; or with the PIN.
fn sign_in(store: &mut CaseStore, id: &str, options: &HttpOptions) -> Result<(), CliError> {
    if let Some(password) = env_var(USER_PASSWORD_VAR) {
        let password = Secret::new(password);
        if let Some(n) = crate::store_cmd::insecure_iterations()? {
            store.set_credential_iterations_for_tests(n);
        }
        let transport = transport(store, options)?;
        let transport = transport
            .as_ref()
            .map(|t| t as &dyn wardcrf_core::sync::Transport);
        return wardcrf_core::sync::sign_in(store, transport, id, &password).map_err(|e| match e {
            wardcrf_core::sync::SyncError::Transport(source) => CliError::Repository {
                doing: "sign-in",
                source,
            },
            other => other.into(),
        });
    }
    if let Some(pin) = env_var(USER_PIN_VAR) {
        store.sign_in(id, &Credential::pin(pin))?;
        return Ok(());
    }
    Err(CliError::NoCredential)
}

/// A password held as a [`Credential`] (wiped from memory when dropped), read as text.
pub struct Secret(Credential);

impl Secret {
    fn new(s: String) -> Secret {
        Secret(Credential::password(s))
    }
}

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            Credential::Password(p) | Credential::Pin(p) => p.as_str(),
        }
    }
}

/// The password for a signature: from `WARDCRF_USER_PASSWORD` only (a PIN never signs).
pub fn signing_password() -> Result<Secret, CliError> {
    env_var(USER_PASSWORD_VAR)
        .map(Secret::new)
        .ok_or(CliError::SigningPassword)
}

/// `wardcrf user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Sign in on this device (online the first time, through the repository; offline after):
    /// the password is read from $WARDCRF_USER_PASSWORD.
    Login(UserArgs),
    /// Set a PIN for later sign-ins on this device: the password from $WARDCRF_USER_PASSWORD,
    /// the new PIN (4 to 12 digits) from $WARDCRF_USER_PIN.
    Pin(UserArgs),
}

#[derive(Debug, Args)]
pub struct UserArgs {
    /// The store directory.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// The staff member (their repository user id).
    #[arg(long, value_name = "ID")]
    user: String,
    #[command(flatten)]
    tls: TlsOpts,
    /// Machine-readable output: JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `wardcrf store …`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Unlock a store whose users all forgot their credentials with the device's recovery key
    /// from the repository's administrator ($WARDCRF_RECOVERY_KEY): with the variable set,
    /// the store can then be read, exported and synced (nothing is lost), not changed.
    Recover {
        /// The store directory.
        #[arg(long, value_name = "DIR")]
        store: PathBuf,
        /// Machine-readable output: JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

pub fn user(cmd: UserCommand) -> Result<ExitCode, CliError> {
    let (args, pin) = match cmd {
        UserCommand::Login(args) => (args, false),
        UserCommand::Pin(args) => (args, true),
    };
    if env_var(USER_PASSWORD_VAR).is_none() {
        return Err(CliError::Passphrase {
            var: USER_PASSWORD_VAR,
        });
    }
    let new_pin = match pin {
        true => Some(env_var(USER_PIN_VAR).ok_or(CliError::Passphrase { var: USER_PIN_VAR })?),
        false => None,
    };
    // The password, not a PIN, signs in here: a PIN in the environment is the new one.
    let mut store = {
        let options = args.tls.options()?;
        let var = crate::store_cmd::PASSPHRASE_VAR;
        let secret = env_var(var).ok_or(CliError::Passphrase { var })?;
        let mut store = CaseStore::open(&args.store, &Passphrase::new(secret))?;
        sign_in(&mut store, &args.user, &options)?;
        store
    };
    let session = store.signed_in().cloned().ok_or(CliError::NeedsUser)?;
    if let Some(new_pin) = new_pin {
        let password = signing_password()?;
        store.set_pin(&password, &new_pin)?;
    }
    let out = json!({
        "user": session.staff.id,
        "name": session.staff.name,
        "role": session.role.as_str(),
        "pin": pin,
    });
    if args.json {
        print_json(&out);
    } else if pin {
        println!(
            "{} ({}) can now sign in on this device with the PIN.",
            session.staff.name, session.staff.id
        );
    } else {
        println!(
            "Signed in as {} ({}) on this device; later sign-ins here work offline.",
            session.staff.name, session.staff.id
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn store(cmd: StoreCommand) -> Result<ExitCode, CliError> {
    let StoreCommand::Recover { store: dir, json } = cmd;
    if env_var(RECOVERY_KEY_VAR).is_none() {
        return Err(CliError::Passphrase {
            var: RECOVERY_KEY_VAR,
        });
    }
    let var = crate::store_cmd::PASSPHRASE_VAR;
    let secret = env_var(var).ok_or(CliError::Passphrase { var })?;
    let mut store = CaseStore::open(&dir, &Passphrase::new(secret))?;
    let key = env_var(RECOVERY_KEY_VAR).unwrap_or_default();
    store.recover(&key)?;
    let cases = store.list(&wardcrf_core::CaseFilter {
        include_deleted: true,
        ..Default::default()
    })?;
    let out = json!({
        "device_id": store.device_id(),
        "cases": cases.len(),
        "staff": store.local_staff()?,
    });
    if json {
        print_json(&out);
    } else {
        println!(
            "The recovery key opens the store in {} ({} case(s)). With {RECOVERY_KEY_VAR} set, \
             read, export and sync it ('wardcrf sync --store {}'); to change data, a staff member \
             signs in online ('wardcrf user login').",
            dir.display(),
            cases.len(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
