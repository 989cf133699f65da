//! The repository side of a sync exchange, independent of HTTP and of the database.
//!
//! An exchange has two phases. [`Hub::prepare`] reads and merges: it checks and merges the
//! pushed cases and prepares what the device lacks, loading documents on several threads,
//! without writing anything. [`Hub::write`] then stores what was decided, in a few short
//! statements, so a caller's write transaction lasts only for the writes. Each case is written
//! as a compare-and-set on the version the merge read ([`HubStorage::put_pushed`]): when
//! another writer (another server process, the console) changed it between the two phases,
//! nothing is kept and the exchange is made again ([`HubError::Changed`]).
//!
//! A stored case whose document cannot be loaded (an older bug, a disk fault) never fails an
//! exchange: it is quarantined ([`HubStorage::quarantine`]: recorded with its damaged bytes,
//! never deleted), skipped by pulls, and the devices of its site are asked to push it again
//! ([`SyncResponse::repush`]). A device that holds the case then pushes it whole, which
//! replaces the damaged document and lifts the quarantine.

use super::accept::{self, IdentifyingFields, NOT_THIS_CASE};
pub use super::storage::{HubStorage, PushedDoc, Put, QuarantinedCase, Sent, StoredCase};
use crate::case::document::CaseDoc;
pub use crate::case::projection::{
    CaseProjection, ProjectedConflict, case_history, case_projection,
};
use crate::parallel::parallel_map;
use crate::sync::parse_heads;
use crate::sync::wire::{CaseChanges, OLDEST_PROTOCOL, PROTOCOL, SyncRequest, SyncResponse};
use automerge::{ActorId, ChangeHash};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// At most this many cases are returned in one response.
pub const PULL_BATCH: usize = 200;

/// Stored cases read with one look-up while an answer is prepared.
const PULL_READ: usize = 32;

/// At most this many bytes of changes are returned in one response, unless a single case is
/// larger: it then goes alone. Far below the device's answer limit ([`crate::sync::MAX_ANSWER`])
/// even as base64 in JSON.
pub const PULL_BYTES: usize = 16 * 1024 * 1024;

const _: () = assert!(PULL_BYTES / 3 * 4 + 1024 * 1024 < crate::sync::MAX_ANSWER);

/// At most this many case ids are named in one response's [`SyncResponse::repush`].
pub const REPUSH_LIMIT: usize = PULL_BATCH;

/// Why the repository refused or failed an exchange. Refusals are the client's fault (4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    #[error(
        "unsupported sync protocol {0}; this repository speaks {OLDEST_PROTOCOL} to {PROTOCOL}"
    )]
    Protocol(u32),
    /// A case of another site: answered exactly as a case whose form differs from the stored
    /// one, so that the answer never confirms that a case id exists elsewhere.
    #[error("case {0}: {NOT_THIS_CASE}")]
    OtherSite(String),
    #[error("case {case_id}: {reason}")]
    BadCase { case_id: String, reason: String },
    /// Another writer changed a case during the exchange: nothing was kept; sync again.
    #[error("case {0} changed during this sync; nothing was kept: sync again")]
    Changed(String),
    #[error(
        "entry {index} of the push: a case id must be 32 lowercase hex digits, as devices make them"
    )]
    BadCaseId { index: usize },
    #[error("case {0} appears more than once in the push: send each case once per exchange")]
    DuplicateCase(String),
    #[error("the push holds {sent} cases; at most {limit} are taken in one exchange")]
    TooManyCases { sent: usize, limit: usize },
    #[error("{0}")]
    TooLarge(String),
    #[error(
        "case {0}: it holds changes under the repository's own identity, which only the repository writes"
    )]
    RepositoryActor(String),
    #[error(
        "case {case_id}: it holds changes by device {actor}, which is not enrolled at this device's site"
    )]
    ForeignActor { case_id: String, actor: String },
    /// A new change writes a field the site keeps on its devices. Names fields, never values.
    #[error(
        "case {case_id} carries identifying data ({}), which this site keeps on its devices only: \
         nothing of this sync was kept; update the app and enrol this device again",
        fields.join(", ")
    )]
    Identifying {
        case_id: String,
        fields: Vec<String>,
    },
    /// A new change names an author who is not staff of the device's site.
    #[error(
        "a change in this push names user '{user}', who is not a staff member of this device's \
         site: nothing of this sync was kept; sign in on the device as staff of this site"
    )]
    NotSiteStaff { user: String },
    #[error("the repository storage failed: {0}")]
    Storage(String),
}

impl HubError {
    /// Whether the request itself was at fault (answer 4xx) rather than the repository.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, HubError::Storage(_) | HubError::Changed(_))
    }
}

fn storage<E: std::fmt::Display>(e: E) -> HubError {
    HubError::Storage(e.to_string())
}

fn encode(heads: &[ChangeHash]) -> Vec<u8> {
    crate::case::document::encode_heads(heads)
}

/// Loads a stored document; a library panic on damaged bytes counts as damage.
fn load_stored(doc: &[u8], actor: &ActorId) -> Result<CaseDoc, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| CaseDoc::load(doc, actor))) {
        Ok(Ok(doc)) => Ok(doc),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the automerge library failed while loading it".into()),
    }
}

/// The repository's sync logic.
#[derive(Debug)]
pub struct Hub<S: HubStorage> {
    pub storage: S,
    actor: ActorId,
}

/// What [`Hub::prepare`] decided for one exchange, for [`Hub::write`] to store.
#[derive(Debug)]
pub struct Prepared {
    site: String,
    device: String,
    /// The device's cursor as it sent it.
    confirmed: u64,
    pushed: Vec<PushedCase>,
    /// The pushed cases whose document changes (to be stored).
    stored: Vec<StoredPush>,
    pulled: Vec<PulledCase>,
    /// Stored cases found unloadable by this exchange, with why.
    damaged: Vec<(String, String)>,
    repush: Vec<String>,
    cursor: u64,
    more: bool,
    /// The protocol of the request, which the answer speaks.
    protocol: u32,
}

/// A pushed case merged in memory, to be stored.
#[derive(Debug)]
struct PushedCase {
    case_id: String,
    form_id: String,
    /// The document to store; `None` when the push brought nothing new.
    saved: Option<Vec<u8>>,
    /// The sequence number of the stored case as read; `None` for a new case.
    read_seq: Option<u64>,
    /// It replaces a quarantined document.
    replaces: bool,
    heads: Vec<ChangeHash>,
    reply_changes: Vec<u8>,
}

/// A stored case prepared for the device.
#[derive(Debug)]
struct PulledCase {
    case_id: String,
    form_id: String,
    seq: u64,
    changes: Vec<u8>,
    heads: Vec<ChangeHash>,
}

/// Whether two sets of heads are the same.
fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let a: BTreeSet<&ChangeHash> = a.iter().collect();
    let b: BTreeSet<&ChangeHash> = b.iter().collect();
    a == b
}

impl<S: HubStorage> Hub<S> {
    pub fn new(storage: S) -> Self {
        // The repository writes no changes of its own during sync; a fixed actor suffices.
        Hub {
            storage,
            actor: ActorId::from(&b"wardcrf-repository"[..]),
        }
    }

    /// Handles one exchange for `device` of `site`. The whole push is checked before anything
    /// is stored: a malformed or out-of-site case refuses the request and applies nothing.
    pub fn exchange(
        &mut self,
        site: &str,
        device: &str,
        request: &SyncRequest,
    ) -> Result<SyncResponse, HubError> {
        self.exchange_projected(site, device, request, &IdentifyingFields::default())
            .map(|e| e.response)
    }

    /// [`Hub::exchange`], also naming every pushed case whose document it stored, with its
    /// open conflicts read from the document it merged (nothing else of it is read here: the
    /// repository projects stored cases off the sync path): [`Hub::prepare`] then
    /// [`Hub::write`]. Every pushed case is checked first (see
    /// [`accept`](super::accept)); no new change may write one of the `identifying` fields.
    pub fn exchange_projected(
        &mut self,
        site: &str,
        device: &str,
        request: &SyncRequest,
        identifying: &IdentifyingFields,
    ) -> Result<Exchanged, HubError> {
        let prepared = self.prepare(site, device, request, identifying)?;
        self.write(prepared)
    }

    /// The read and merge phase of an exchange: writes nothing.
    ///
    /// The documents of the pushed cases are loaded, merged and saved on several
    /// threads (the CPU-bound part of a push), and so are those the device lacks.
    pub fn prepare(
        &mut self,
        site: &str,
        device: &str,
        request: &SyncRequest,
        identifying: &IdentifyingFields,
    ) -> Result<Prepared, HubError> {
        if !(OLDEST_PROTOCOL..=PROTOCOL).contains(&request.protocol) {
            return Err(HubError::Protocol(request.protocol));
        }
        accept::check_request(request)?;
        let bad = |c: &CaseChanges, reason: String| HubError::BadCase {
            case_id: c.case_id.clone(),
            reason,
        };
        // The pushed cases (each once: `check_request` refuses a case sent twice).
        let seen: HashSet<&str> = request.push.iter().map(|c| c.case_id.as_str()).collect();
        // 1. Check every pushed case against what is stored.
        let mut inputs: Vec<(&CaseChanges, Vec<ChangeHash>, Option<StoredCase>)> = Vec::new();
        let ids: Vec<&str> = request.push.iter().map(|c| c.case_id.as_str()).collect();
        let stored = self.storage.cases_by_id(&ids).map_err(storage)?;
        if stored.len() != ids.len() {
            return Err(storage("the store answered for other cases than asked"));
        }
        for (c, existing) in request.push.iter().zip(stored) {
            let device_heads =
                parse_heads(&c.heads).ok_or_else(|| bad(c, "malformed heads".into()))?;
            match &existing {
                Some(stored) if stored.site != site => {
                    return Err(HubError::OtherSite(c.case_id.clone()));
                }
                Some(stored) if stored.form_id != c.form_id => {
                    return Err(bad(c, NOT_THIS_CASE.into()));
                }
                _ => {}
            }
            inputs.push((c, device_heads, existing));
        }
        // A pushed case whose stored document is quarantined is merged as a new case: only
        // a whole one replaces the damaged document (checked below).
        let mut quarantined: BTreeSet<String> = self
            .storage
            .quarantined(Some(site))
            .map_err(storage)?
            .into_iter()
            .map(|q| q.case_id)
            .collect();
        let read_seqs: Vec<Option<u64>> = inputs
            .iter()
            .map(|(_, _, existing)| existing.as_ref().map(|s| s.seq))
            .collect();
        let mut replacing: Vec<bool> = inputs
            .iter()
            .map(|(c, _, existing)| existing.is_some() && quarantined.contains(&c.case_id))
            .collect();
        for ((_, _, existing), replaces) in inputs.iter_mut().zip(&replacing) {
            if *replaces {
                *existing = None;
            }
        }
        // 2. Merge them in memory, in parallel.
        let actor = &self.actor;
        let mut merged = parallel_map(&inputs, |(c, device_heads, existing)| {
            merge_pushed(c, device_heads, existing.as_ref(), actor, identifying)
        });
        // A stored document that does not load, found by this merge, is quarantined; the
        // pushed case is then merged as a new one.
        let mut damaged: Vec<(String, String)> = Vec::new();
        for (i, (c, device_heads, existing)) in inputs.iter_mut().enumerate() {
            let Some(stored) = existing.as_ref().filter(|_| merged[i].is_err()) else {
                continue;
            };
            if let Err(reason) = load_stored(&stored.doc, actor) {
                damaged.push((c.case_id.clone(), reason));
                quarantined.insert(c.case_id.clone());
                replacing[i] = true;
                *existing = None;
                merged[i] = merge_pushed(c, device_heads, None, actor, identifying);
            }
        }
        let mut pushed = Vec::with_capacity(inputs.len());
        let mut stored = Vec::with_capacity(inputs.len());
        let mut replaced = HashSet::new();
        // Who wrote the changes new to the repository, per case (checked below).
        let mut writers: Vec<(&str, BTreeSet<String>)> = Vec::with_capacity(inputs.len());
        let mut authors = accept::Authors::default();
        for (i, ((c, device_heads, _), m)) in inputs.iter().zip(merged).enumerate() {
            if replacing[i] {
                // Anything but the whole case (its changes and the device's heads) is left
                // aside: nothing stored, and the device is asked for the whole case again.
                match m {
                    Ok(mut m) if m.saved.is_some() && same_heads(&m.heads, device_heads) => {
                        // The whole case replaces a damaged copy: the repository's own
                        // resolutions in it cannot be told from the damaged bytes, so only
                        // the devices that wrote it are checked.
                        m.new_actors
                            .retain(|a| !super::edit::is_repository_actor(a));
                        writers.push((c.case_id.as_str(), std::mem::take(&mut m.new_actors)));
                        authors.merge(std::mem::take(&mut m.authors));
                        replaced.insert(c.case_id.clone());
                        let (case, push) = PushedCase::new(c, m, read_seqs[i], true);
                        stored.extend(push);
                        pushed.push(case);
                    }
                    _ => {}
                }
                continue;
            }
            // Any other malformed case refuses the whole request.
            let mut m = m?;
            writers.push((c.case_id.as_str(), std::mem::take(&mut m.new_actors)));
            authors.merge(std::mem::take(&mut m.authors));
            let (case, push) = PushedCase::new(c, m, read_seqs[i], false);
            stored.extend(push);
            pushed.push(case);
        }
        let writers: Vec<(&str, &BTreeSet<String>)> =
            writers.iter().map(|(id, actors)| (*id, actors)).collect();
        accept::check_actors(&mut self.storage, site, device, &writers)?;
        accept::check_authors(&mut self.storage, site, &authors)?;
        // 4. What changed at the site since the device's cursor, bounded by count and bytes.
        let changed = self
            .storage
            .cases_after(site, request.cursor, PULL_BATCH + 1)
            .map_err(storage)?;
        let mut more = changed.len() > PULL_BATCH;
        let reply_bytes: usize = pushed.iter().map(|p| p.reply_changes.len()).sum();
        // Read what is stored (in order, at most about PULL_BYTES of documents), then prepare
        // each case's changes in parallel. Each step says what it did with the case:
        // `None` handled (nothing to send), `Some(i)` to send as prepared in `pulls[i]`.
        let mut steps: Vec<(String, u64, Option<usize>)> = Vec::new();
        let mut pulls: Vec<(StoredCase, Vec<ChangeHash>)> = Vec::new();
        let mut read = 0usize;
        // Read a few at a time (one query each on a database server), up to the byte bound.
        let changed: Vec<(String, u64)> = changed.into_iter().take(PULL_BATCH).collect();
        'read: for group in changed.chunks(PULL_READ) {
            let wanted: Vec<&str> = group
                .iter()
                .map(|(id, _)| id.as_str())
                .filter(|id| !seen.contains(id) && !quarantined.contains(*id))
                .collect();
            let stored = self.storage.cases_by_id(&wanted).map_err(storage)?;
            let known = self
                .storage
                .device_heads_many(device, &wanted)
                .map_err(storage)?;
            if stored.len() != wanted.len() || known.len() != wanted.len() {
                return Err(storage("the store answered for other cases than asked"));
            }
            let mut found = wanted.into_iter().zip(stored.into_iter().zip(known));
            for (case_id, seq) in group {
                if seen.contains(case_id.as_str()) || quarantined.contains(case_id) {
                    // Answered as pushed, or left aside until repaired (the repair is a new
                    // seq).
                    steps.push((case_id.clone(), *seq, None));
                    continue;
                }
                let Some((_, (stored, known))) = found.next() else {
                    return Err(storage("the store answered for fewer cases than asked"));
                };
                let Some(stored) = stored else {
                    steps.push((case_id.clone(), *seq, None));
                    continue;
                };
                if read > 0 && read + stored.doc.len() > PULL_BYTES {
                    more = true;
                    break 'read;
                }
                read += stored.doc.len();
                let known = known
                    .and_then(|b| crate::case::document::decode_heads(&b))
                    .unwrap_or_default();
                steps.push((case_id.clone(), *seq, Some(pulls.len())));
                pulls.push((stored, known));
            }
        }
        let mut prepared = parallel_map(&pulls, |(stored, known)| {
            if known.is_empty() {
                // A case new to the device: the stored document as it is (its document
                // encoding is far smaller than every change one by one). When it is one
                // whole document chunk whose checksum holds (as the repository saves them),
                // its heads are read from its header, without loading it.
                if let Some(heads) = super::chunks::document_heads(&stored.doc) {
                    return Ok(Some((stored.doc.clone(), heads)));
                }
            }
            let mut doc = load_stored(&stored.doc, actor)?;
            let heads = doc.heads();
            if known.is_empty() {
                return Ok(Some((stored.doc.clone(), heads)));
            }
            if encode(known) == encode(&heads) {
                return Ok(None); // the device already holds exactly this
            }
            Ok(Some((doc.changes_after(known), heads)))
        })
        .into_iter()
        .map(Some)
        .collect::<Vec<_>>();
        let mut cursor = request.cursor;
        let mut pulled = Vec::new();
        let mut sent = reply_bytes;
        for (case_id, seq, pull) in steps {
            if let Some(i) = pull {
                match prepared[i].take() {
                    Some(Ok(Some((changes, heads)))) => {
                        // A case larger than the bound goes alone.
                        if sent > 0 && sent + changes.len() > PULL_BYTES {
                            more = true;
                            break;
                        }
                        sent += changes.len();
                        pulled.push(PulledCase {
                            case_id,
                            form_id: pulls[i].0.form_id.clone(),
                            seq,
                            changes,
                            heads,
                        });
                    }
                    Some(Err(reason)) => {
                        quarantined.insert(case_id.clone());
                        damaged.push((case_id, reason));
                    }
                    Some(Ok(None)) | None => {}
                }
            }
            cursor = cursor.max(seq);
        }
        let repush = quarantined
            .into_iter()
            .filter(|id| !replaced.contains(id))
            .take(REPUSH_LIMIT)
            .collect();
        Ok(Prepared {
            site: site.to_string(),
            device: device.to_string(),
            confirmed: request.cursor,
            pushed,
            stored,
            pulled,
            damaged,
            repush,
            cursor,
            more,
            protocol: request.protocol,
        })
    }

    /// The write phase of an exchange: stores what [`Hub::prepare`] decided, in order.
    pub fn write(&mut self, p: Prepared) -> Result<Exchanged, HubError> {
        let (site, device) = (p.site.as_str(), p.device.as_str());
        // Damaged documents are kept (copied) before anything can replace them.
        let mut quarantined = Vec::with_capacity(p.damaged.len());
        for (case_id, reason) in &p.damaged {
            if let Some(q) = self.storage.quarantine(case_id, reason).map_err(storage)? {
                quarantined.push(q);
            }
        }
        // 3. Store the pushed cases; the device holds its own heads plus what it receives.
        let mut reply: BTreeMap<String, CaseChanges> = BTreeMap::new();
        let mut written: HashMap<String, u64> = HashMap::new();
        let mut sent: Vec<Sent> = Vec::with_capacity(p.pushed.len().max(p.pulled.len()));
        // The documents to store, each case once, stored together.
        let mut names = HashSet::new();
        let mut docs = Vec::with_capacity(p.pushed.len());
        for c in &p.pushed {
            match (&c.saved, c.read_seq) {
                (Some(doc), read_seq) => {
                    if !names.insert(c.case_id.as_str()) {
                        return Err(HubError::BadCase {
                            case_id: c.case_id.clone(),
                            reason: "sent twice in one sync; send each case once".into(),
                        });
                    }
                    docs.push(PushedDoc {
                        case_id: &c.case_id,
                        form_id: &c.form_id,
                        doc,
                        read_seq,
                    });
                }
                (None, Some(_)) => {}
                (None, None) => return Err(storage("a new case without a document")),
            }
        }
        let puts = self
            .storage
            .put_pushed_many(site, device, &docs)
            .map_err(storage)?;
        drop(docs);
        let mut puts = puts.into_iter();
        for c in p.pushed {
            let seq = match (&c.saved, c.read_seq) {
                (Some(_), _) => match puts.next() {
                    Some(Put::Stored(seq)) => seq,
                    Some(Put::OtherSite) => return Err(HubError::OtherSite(c.case_id)),
                    Some(Put::Changed) => return Err(HubError::Changed(c.case_id)),
                    None => return Err(storage("the store answered for fewer cases than it took")),
                },
                // Nothing new (a batch sent again): stored as it is.
                (None, Some(seq)) => seq,
                (None, None) => return Err(storage("a new case without a document")),
            };
            if c.saved.is_some() {
                written.insert(c.case_id.clone(), seq);
            }
            if c.replaces {
                self.storage.release(&c.case_id).map_err(storage)?;
            }
            sent.push(Sent {
                case_id: c.case_id.clone(),
                heads: encode(&c.heads),
                seq,
            });
            reply.insert(
                c.case_id.clone(),
                CaseChanges {
                    case_id: c.case_id.clone(),
                    form_id: c.form_id,
                    changes: c.reply_changes,
                    heads: c.heads.iter().map(ToString::to_string).collect(),
                },
            );
        }
        // Recorded before the device's cursor is confirmed, as each would have been alone.
        self.storage
            .record_sent_many(device, &sent)
            .map_err(storage)?;
        // 4. What the device lacks.
        self.storage.confirm(device, p.confirmed).map_err(storage)?;
        sent.clear();
        for c in p.pulled {
            sent.push(Sent {
                case_id: c.case_id.clone(),
                heads: encode(&c.heads),
                seq: c.seq,
            });
            reply.insert(
                c.case_id.clone(),
                CaseChanges {
                    case_id: c.case_id,
                    form_id: c.form_id,
                    changes: c.changes,
                    heads: c.heads.iter().map(ToString::to_string).collect(),
                },
            );
        }
        self.storage
            .record_sent_many(device, &sent)
            .map_err(storage)?;
        // The device's cursor passes the cases this exchange stored (it gets them in this
        // answer), up to the first case stored by anyone else since the pull was read.
        let mut cursor = p.cursor;
        if !p.more && !written.is_empty() {
            let after = self
                .storage
                .cases_after(site, cursor, written.len() + 1)
                .map_err(storage)?;
            for (case_id, seq) in after {
                if written.get(&case_id) != Some(&seq) {
                    break;
                }
                cursor = seq;
            }
        }
        Ok(Exchanged {
            response: SyncResponse {
                epoch: None,
                protocol: p.protocol,
                cursor,
                more: p.more,
                cases: reply.into_values().collect(),
                repush: p.repush,
            },
            stored: p.stored,
            quarantined,
        })
    }

    /// The current document of a case (for exports and the console).
    pub fn document(&mut self, case_id: &str) -> Result<Option<Vec<u8>>, HubError> {
        Ok(self.storage.case(case_id).map_err(storage)?.map(|c| c.doc))
    }
}

impl Prepared {
    /// The pushed cases the exchange will store, with their open conflicts (taken out:
    /// [`Exchanged::stored`] is then empty).
    pub fn take_stored(&mut self) -> Vec<StoredPush> {
        std::mem::take(&mut self.stored)
    }
}

impl PushedCase {
    fn new(
        c: &CaseChanges,
        m: Merged,
        read_seq: Option<u64>,
        replaces: bool,
    ) -> (PushedCase, Option<StoredPush>) {
        let stored = m.saved.is_some().then(|| StoredPush {
            case_id: c.case_id.clone(),
            conflicts: m.conflicts,
        });
        let case = PushedCase {
            case_id: c.case_id.clone(),
            form_id: c.form_id.clone(),
            saved: m.saved,
            read_seq,
            replaces,
            heads: m.heads,
            reply_changes: m.reply_changes,
        };
        (case, stored)
    }
}

/// What [`Hub::exchange_projected`] did: the answer for the device, every case it pushed
/// and the repository stored, and the cases it found damaged and quarantined (for the log).
#[derive(Debug)]
pub struct Exchanged {
    pub response: SyncResponse,
    pub stored: Vec<StoredPush>,
    pub quarantined: Vec<QuarantinedCase>,
}

/// A pushed case whose merged document an exchange stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPush {
    pub case_id: String,
    /// Open conflicts in the merged document.
    pub conflicts: usize,
}

/// A pushed case merged in memory.
struct Merged {
    /// The document to store; `None` when the push brought nothing new.
    saved: Option<Vec<u8>>,
    heads: Vec<ChangeHash>,
    /// What the device lacks of the merged case.
    reply_changes: Vec<u8>,
    /// Open conflicts in the merged document (counted only when it changed).
    conflicts: usize,
    /// The actors of the changes new to the repository.
    new_actors: std::collections::BTreeSet<String>,
    /// Whom those changes name as their authors.
    authors: accept::Authors,
}

/// A pushed case checked and merged with what is stored (see [`accept::accept_case`]), with
/// what the device lacks and its open conflicts; a panic inside refuses the case.
fn merge_pushed(
    c: &CaseChanges,
    device_heads: &[ChangeHash],
    existing: Option<&StoredCase>,
    actor: &ActorId,
    identifying: &IdentifyingFields,
) -> Result<Merged, HubError> {
    accept::guarded(&c.case_id, || {
        let accepted = accept::accept_case(c, device_heads, existing, actor, identifying)?;
        let mut doc = accepted.doc;
        let heads = doc.heads();
        let conflicts = if accepted.saved.is_some() {
            doc.conflicts().len()
        } else {
            0
        };
        Ok(Merged {
            saved: accepted.saved,
            reply_changes: doc.changes_after(device_heads),
            conflicts,
            heads,
            new_actors: accepted.new_actors,
            authors: accepted.authors,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::MemoryHubStorage;
    use crate::sync::PROTOCOL;
    use crate::{CaseStore, FieldPath, Passphrase};
    use serde_json::json;

    fn store(dir: &std::path::Path) -> CaseStore {
        let mut s = CaseStore::create(dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
        s.sign_in_for_tests("nurse").unwrap();
        s
    }

    fn push(store: &mut CaseStore, case: &str) -> SyncRequest {
        SyncRequest {
            epoch: None,
            protocol: PROTOCOL,
            cursor: 0,
            push: vec![store.sync_push(case).unwrap()],
        }
    }

    /// What an exchange of `request` by `device` stored.
    fn exchange(hub: &mut Hub<MemoryHubStorage>, device: &str, r: &SyncRequest) -> Exchanged {
        hub.exchange_projected("site-a", device, r, &IdentifyingFields::default())
            .unwrap()
    }

    #[test]
    fn an_exchange_names_the_cases_it_stores_with_their_conflicts_and_no_others() {
        let tmp = std::env::temp_dir().join(format!(
            "wardcrf-hub-stored-{}",
            ActorId::random().to_hex_string()
        ));
        let mut hub = Hub::new(MemoryHubStorage::default());
        let (mut a, mut b) = (store(&tmp.join("a")), store(&tmp.join("b")));
        for device in [a.device_id(), b.device_id()] {
            hub.storage.enroll(&device, "site-a");
        }
        hub.storage.add_staff("site-a", "nurse");
        let case = a.create_case("icrown-core", &[]).unwrap();
        let path = FieldPath::field("vs_spo2");
        a.set_value(&case, &path, json!(95), None).unwrap();
        let first = push(&mut a, &case);
        let done = exchange(&mut hub, &a.device_id(), &first);
        let stored = vec![StoredPush {
            case_id: case.clone(),
            conflicts: 0,
        }];
        assert_eq!(done.stored, stored);
        // The same push again brings nothing new: nothing stored, nothing to project again.
        assert_eq!(exchange(&mut hub, &a.device_id(), &first).stored, []);
        // Device b takes the case, and both change the same field meanwhile: a conflict.
        let doc = hub.storage.case(&case).unwrap().unwrap().doc;
        b.sync_apply(&CaseChanges {
            case_id: case.clone(),
            form_id: "icrown-core".into(),
            changes: doc,
            heads: done.response.cases[0].heads.clone(),
        })
        .unwrap();
        a.set_value(&case, &path, json!(92), Some("re-measured"))
            .unwrap();
        b.set_value(&case, &path, json!(97), Some("re-measured"))
            .unwrap();
        let mut conflicts_stored = |s: &mut CaseStore| {
            let request = push(s, &case);
            let e = exchange(&mut hub, &s.device_id(), &request);
            e.stored.iter().map(|p| p.conflicts).collect::<Vec<_>>()
        };
        assert_eq!(conflicts_stored(&mut a), [0]);
        assert_eq!(conflicts_stored(&mut b), [1], "92 and 97 side by side");
        drop((a, b));
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
