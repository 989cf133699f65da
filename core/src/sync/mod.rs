//! Sync between ward devices and the central repository.
//!
//! - [`wire`]: the request and response of one exchange (shared by device and server).
//! - [`sync()`]: the device side: push what the repository lacks, pull what the device lacks,
//!   in batches, until nothing is left; progress through a callback ([`sync_cancellable`]
//!   can be stopped between exchanges). The store is taken one short step at a time
//!   ([`StoreAccess`]), never while the transport talks to the repository, so an app's screens
//!   read and edit during a sync; a sync holds a [`SyncLease`] on the data key so that one
//!   under way when the store locks still applies the answer the repository acknowledged.
//! - [`HttpTransport`] (feature `device-http`): the device's HTTPS client, and enrolment.
//!
//! The repository's side of an exchange is [`crate::repository`].
//!
//! The cost of a sync is proportional to what changed: a device sends only cases whose local
//! heads differ from the heads the repository is known to hold, and the repository sends only
//! cases changed since the device's cursor, each as the changes the other side lacks.

mod enrol_payload;
#[cfg(feature = "device-http")]
mod http;
pub(crate) mod wire;

pub use enrol_payload::{CertPin, ENROL_PAYLOAD_VERSION, EnrolPayload, EnrolPayloadError};

#[cfg(feature = "device-http")]
pub use http::{
    CONNECT_TIMEOUT, HttpOptions, HttpTransport, Method, PinMismatch, REQUEST_TIMEOUT, Roots,
    enroll, enroll_with_options, enroll_with_payload,
};
pub use wire::{
    BINARY_MEDIA_TYPE, BinaryBody, BinaryError, COMPRESS_ABOVE, CaseChanges, EPOCH_PROTOCOL,
    Enrolment, GunzipError, JsonRequestError, MAX_ANSWER, MAX_HEADS, MAX_PUSH_CASES,
    OLDEST_PROTOCOL, PROTOCOL, SyncRequest, SyncResponse, gunzip, gzip,
};

use crate::staff::{Roster, StaffGrant, StaffSignIn};
use crate::store::{CaseStore, StoreError};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// At most this many cases are pushed in one exchange.
pub const PUSH_BATCH: usize = 100;

pub use crate::case::document::parse_heads;
/// The data key lent to a sync (made and used by [`sync_cancellable`]).
pub use crate::store::SyncLease;

/// Why an exchange with the repository failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection, a time-out, a dropped response: try again later; nothing is lost.
    #[error("the repository could not be reached: {0}")]
    Unreachable(String),
    /// The repository refused the request (bad credentials, bad input).
    #[error("the repository refused the sync: {0}")]
    Refused(String),
    /// The site administrator revoked this device: its token will never work again; the
    /// device must be enrolled anew.
    #[error("this device has been revoked by the site administrator; ask them to enroll it again")]
    Revoked,
    /// The repository at this address presented no certificate with the fingerprint this
    /// device pinned (from the enrolment QR code): another server, or one in the way.
    #[error(
        "{0}: the repository's certificate does not match the fingerprint of the enrolment code; \
         this may not be the hospital's repository (ask the site administrator)"
    )]
    CertificateMismatch(String),
    /// The repository refused a staff member's online sign-in; `message` is its words.
    #[error("{message}")]
    SignInRefused {
        refusal: SignInRefusal,
        message: String,
    },
}

/// Why the repository refused an online sign-in (its error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// `wrong_credentials`: the user id or password is wrong.
    WrongCredentials,
    /// `locked_out`: too many wrong passwords; the account is locked for a while.
    LockedOut,
    /// `account_deactivated`: the account may not sign in anywhere.
    AccountDeactivated,
    /// `not_site_staff`: the account is not a clinician or site nurse of this device's site.
    NotSiteStaff,
}

impl SignInRefusal {
    /// From the repository's error code.
    pub fn from_code(code: &str) -> Option<SignInRefusal> {
        match code {
            "wrong_credentials" => Some(SignInRefusal::WrongCredentials),
            "locked_out" => Some(SignInRefusal::LockedOut),
            "account_deactivated" => Some(SignInRefusal::AccountDeactivated),
            "not_site_staff" => Some(SignInRefusal::NotSiteStaff),
            _ => None,
        }
    }
}

impl TransportError {
    /// Whether the repository refused because the site administrator revoked this device.
    pub fn is_revoked(&self) -> bool {
        matches!(self, TransportError::Revoked)
    }
}

/// Carries one exchange to the repository (HTTPS in the apps; in memory in tests).
pub trait Transport {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError>;

    /// The site's roster and settings, read after each sync; `None` from a transport (or an
    /// older repository) that has none.
    fn roster(&self) -> Result<Option<Roster>, TransportError> {
        Ok(None)
    }

    /// Checks a staff member's credential at the repository (an online sign-in).
    fn sign_in(&self, request: &StaffSignIn) -> Result<StaffGrant, TransportError> {
        let _ = request;
        Err(TransportError::Refused(
            "this connection to the repository cannot sign staff in".into(),
        ))
    }
}

/// Signs a staff member in on the device: offline with the wrap of their password when they
/// have one here, else online through `transport` (a first sign-in on this device, after a
/// password reset, or after too many wrong passwords), which also refreshes the roster. A
/// wrong credential is refused with nothing written but the count of failures.
pub fn sign_in(
    store: &mut CaseStore,
    transport: Option<&dyn Transport>,
    staff_id: &str,
    password: &str,
) -> Result<(), SyncError> {
    match store.sign_in(staff_id, &crate::store::Credential::password(password)) {
        Err(StoreError::OnlineSignInRequired(_)) if transport.is_some() => {}
        other => return Ok(other?),
    }
    let Some(transport) = transport else {
        return Ok(());
    };
    let grant = transport.sign_in(&StaffSignIn {
        user: staff_id.to_string(),
        password: zeroize::Zeroizing::new(password.to_string()),
    })?;
    if grant.staff.id != staff_id {
        return Err(SyncError::Transport(TransportError::Refused(
            "the repository answered for another user".into(),
        )));
    }
    store.sign_in_online(&grant, password)?;
    if let Some(roster) = transport.roster()? {
        store.set_roster(&roster)?;
    }
    Ok(())
}

/// Where a sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SyncProgress {
    pub pushed: usize,
    pub pulled: usize,
    /// Cases still waiting to be pushed (an estimate while pulling continues).
    pub remaining: usize,
}

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    pub pushed: usize,
    pub pulled: usize,
    /// Open conflicts on this device after the sync.
    pub conflicts: usize,
    /// Exchanges made.
    pub exchanges: usize,
}

/// Why a sync stopped. What was applied before the failure is kept; syncing again completes.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the repository speaks sync protocol {0}; this app speaks {PROTOCOL}: update the app")]
    Protocol(u32),
    /// Stopped on request between two exchanges (see [`sync_cancellable`]).
    #[error("the sync was cancelled; what was exchanged is kept: sync again to complete it")]
    Cancelled,
}

/// How a sync reaches the store: one short step at a time (the outbox, each case to push, the
/// answer to apply, the roster), never while the transport talks to the repository.
///
/// An exclusive `&mut CaseStore` (the CLI, tests) holds the store for the whole sync; a
/// `&Mutex<CaseStore>` (an app: its screens read and edit while a sync is in flight) is locked
/// for each step only, so an edit can land between building a push and applying its answer.
/// That is safe: the answer records the heads the repository holds, the store keeps its own,
/// and a case whose heads differ is pushed again by the next sync.
pub trait StoreAccess {
    /// Runs one step with the store.
    fn with<R>(&mut self, step: impl FnOnce(&mut CaseStore) -> R) -> R;
}

impl StoreAccess for &mut CaseStore {
    fn with<R>(&mut self, step: impl FnOnce(&mut CaseStore) -> R) -> R {
        step(self)
    }
}

impl StoreAccess for &std::sync::Mutex<CaseStore> {
    /// A panic in an earlier holder does not leave a half-written case behind (every write is
    /// one SQLite transaction), so a poisoned lock is taken over.
    fn with<R>(&mut self, step: impl FnOnce(&mut CaseStore) -> R) -> R {
        let mut store = self
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        step(&mut store)
    }
}

/// Syncs a device store with the repository until both hold everything.
pub fn sync(
    store: &mut CaseStore,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(SyncProgress),
) -> Result<SyncSummary, SyncError> {
    sync_cancellable(store, transport, progress, &AtomicBool::new(false))
}

/// [`sync()`] that stops with [`SyncError::Cancelled`] before the next exchange once `cancel`
/// is set (by another thread, or by `progress`). An exchange under way is completed and
/// applied first, so a cancelled sync loses nothing and the next sync carries on.
///
/// The store is reached through `store` one step at a time ([`StoreAccess`]); `progress` is
/// called outside those steps (with a shared store it may read or edit it). A locked store
/// does not start a sync ([`StoreError::Locked`]). If the store locks while an exchange is
/// under way, the answer is still applied (with the sync's [`SyncLease`]: what
/// the repository acknowledged is never lost), then the sync stops with
/// [`StoreError::Locked`] instead of starting another exchange. Callers run one sync of a
/// store at a time.
pub fn sync_cancellable<S: StoreAccess>(
    mut store: S,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(SyncProgress),
    cancel: &AtomicBool,
) -> Result<SyncSummary, SyncError> {
    // Log events carry counts, durations and error kinds only: never a case id, a value, the
    // repository's address or a token.
    fn millis(d: std::time::Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }
    let started = std::time::Instant::now();
    tracing::info!("sync started");
    let mut summary = SyncSummary::default();
    let mut run = || -> Result<(), SyncError> {
        let lease = store.with(|s| s.sync_lease())?;
        let mut last_outbox = usize::MAX;
        // Cases the repository asked for again (each is pushed whole once per sync).
        let mut asked_again: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            if cancel.load(Ordering::Acquire) {
                return Err(SyncError::Cancelled);
            }
            let (outbox, cursor, epoch) = store.with(|s| {
                // Locked since the last exchange: no further exchange (the key is leased
                // only to finish the one under way).
                if !s.is_unlocked() {
                    return Err(StoreError::Locked);
                }
                Ok((s.sync_outbox()?, s.sync_cursor()?, s.sync_epoch()?))
            })?;
            if outbox.len() >= last_outbox && outbox.len() > PUSH_BATCH {
                // The repository did not take the last batch: stop rather than send it forever.
                tracing::warn!(
                    outbox = outbox.len(),
                    "the repository did not take the last batch; stopping"
                );
                break;
            }
            last_outbox = outbox.len();
            let batch = &outbox[..outbox.len().min(PUSH_BATCH)];
            // One case per step: an edit waits for one case's changes, not a whole batch.
            let push = batch
                .iter()
                .map(|id| store.with(|s| s.sync_push(id)))
                .collect::<Result<Vec<_>, _>>()?;
            let request = SyncRequest {
                epoch,
                protocol: PROTOCOL,
                cursor,
                push,
            };
            let round = std::time::Instant::now();
            let response = transport.exchange(&request)?;
            if !(OLDEST_PROTOCOL..=PROTOCOL).contains(&response.protocol) {
                return Err(SyncError::Protocol(response.protocol));
            }
            summary.exchanges += 1;
            summary.pushed += request.push.len();
            let pushed: std::collections::HashSet<&str> =
                request.push.iter().map(|c| c.case_id.as_str()).collect();
            let repush: Vec<String> = response
                .repush
                .iter()
                .filter(|id| !asked_again.contains(*id))
                .cloned()
                .collect();
            // Cases edited here since the push keep their edits: the answer records the heads
            // the repository holds, and those cases stay in the outbox.
            // An answer of another repository epoch: restored from a backup, the repository may
            // lack what this device pushed or pulled since; the store then forgets what it
            // believed the repository held and starts its cursor again, and the sync goes on.
            let (forgotten, restored) = store.with(|s| {
                s.with_sync_lease(&lease, |s| {
                    s.sync_apply_all(&response.cases, response.cursor)?;
                    let forgotten = s.sync_forget_server_heads(&repush)?;
                    let restored = match &response.epoch {
                        Some(epoch) => s.sync_note_epoch(epoch)?,
                        None => false,
                    };
                    Ok::<_, StoreError>((forgotten, restored))
                })
            })?;
            if restored {
                last_outbox = usize::MAX;
            }
            asked_again.extend(repush);
            let pulled = response
                .cases
                .iter()
                .filter(|c| !pushed.contains(c.case_id.as_str()))
                .count();
            summary.pulled += pulled;
            tracing::debug!(
                round = summary.exchanges,
                pushed = request.push.len(),
                pulled,
                asked_again = forgotten.len(),
                more = response.more,
                duration_ms = millis(round.elapsed()),
                "sync exchange applied"
            );
            progress(SyncProgress {
                pushed: summary.pushed,
                pulled: summary.pulled,
                remaining: outbox.len().saturating_sub(batch.len()),
            });
            if !response.more && outbox.len() <= batch.len() && forgotten.is_empty() && !restored {
                break;
            }
        }
        summary.conflicts = store
            .with(|s| s.with_sync_lease(&lease, |s| s.conflicts(None)))?
            .len();
        // Who may sign in here, and the site's settings: a deactivated account is forgotten.
        if let Some(roster) = transport.roster()? {
            store.with(|s| s.with_sync_lease(&lease, |s| s.set_roster(&roster)))?;
        }
        Ok(())
    };
    let outcome = run();
    // What the exchange wrote leaves the WAL now, not inside a later save.
    if let Err(e) = store.with(|s| s.checkpoint()) {
        tracing::warn!(error = %e, "checkpoint after sync failed");
    }
    let duration_ms = millis(started.elapsed());
    match outcome {
        Ok(()) => {
            tracing::info!(
                pushed = summary.pushed,
                pulled = summary.pulled,
                conflicts = summary.conflicts,
                rounds = summary.exchanges,
                duration_ms,
                "sync finished"
            );
            Ok(summary)
        }
        Err(e) => {
            let kind = match &e {
                SyncError::Transport(TransportError::Unreachable(_)) => "unreachable",
                SyncError::Transport(TransportError::Refused(_)) => "refused",
                SyncError::Transport(TransportError::Revoked) => "revoked",
                SyncError::Transport(TransportError::CertificateMismatch(_)) => {
                    "certificate_mismatch"
                }
                SyncError::Transport(TransportError::SignInRefused { .. }) => "sign_in_refused",
                SyncError::Store(_) => "store",
                SyncError::Protocol(_) => "protocol",
                SyncError::Cancelled => "cancelled",
            };
            if matches!(e, SyncError::Cancelled) {
                tracing::warn!(
                    kind,
                    pushed = summary.pushed,
                    pulled = summary.pulled,
                    rounds = summary.exchanges,
                    duration_ms,
                    "sync stopped"
                );
            } else {
                tracing::error!(
                    kind,
                    pushed = summary.pushed,
                    pulled = summary.pulled,
                    rounds = summary.exchanges,
                    duration_ms,
                    "sync failed"
                );
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod epoch_tests;
#[cfg(test)]
mod tests;
