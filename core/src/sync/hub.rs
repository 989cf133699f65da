//! The repository side of a sync exchange, independent of HTTP and of the database.

use super::accept::{self, IdentifyingFields, NOT_THIS_CASE};
use super::parse_heads;
use super::wire::{CaseChanges, PROTOCOL, SyncRequest, SyncResponse};
use crate::store::document::CaseDoc;
use automerge::{ActorId, ChangeHash};
use std::collections::{BTreeMap, HashMap};

/// At most this many cases are returned in one response.
pub const PULL_BATCH: usize = 200;

/// A case as the repository keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCase {
    pub site: String,
    pub form_id: String,
    /// The saved automerge document.
    pub doc: Vec<u8>,
    /// The site-wide sequence number of its last change.
    pub seq: u64,
}

/// What the repository stores for sync. One implementation per database; all must pass the
/// same tests. Each method is one atomic step; [`Hub::exchange`] is built so that a failure
/// between steps only causes changes to be sent again, never lost.
pub trait HubStorage {
    type Error: std::fmt::Display;
    fn case(&mut self, case_id: &str) -> Result<Option<StoredCase>, Self::Error>;
    /// Stores a case's new document under the next sequence number of its site; returns it.
    fn put_case(
        &mut self,
        case_id: &str,
        site: &str,
        form_id: &str,
        doc: &[u8],
    ) -> Result<u64, Self::Error>;
    /// Cases of `site` with a sequence number above `after`, lowest first, at most `limit`.
    fn cases_after(
        &mut self,
        site: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, Self::Error>;
    /// The heads a device is known to hold for a case.
    fn device_heads(&mut self, device: &str, case_id: &str)
    -> Result<Option<Vec<u8>>, Self::Error>;
    /// Records heads sent to (or received from) a device, valid once its cursor reaches `seq`.
    fn record_sent(
        &mut self,
        device: &str,
        case_id: &str,
        heads: &[u8],
        seq: u64,
    ) -> Result<(), Self::Error>;
    /// The device has applied everything up to `cursor`: its sent heads up to it are known.
    fn confirm(&mut self, device: &str, cursor: u64) -> Result<(), Self::Error>;
    /// The site a device (its id: its automerge actor, hex) is or was enrolled at, revoked
    /// or not; `None` for a device never enrolled.
    fn device_site(&mut self, device: &str) -> Result<Option<String>, Self::Error>;
}

/// Why the repository refused or failed an exchange. Refusals are the client's fault (4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    #[error("unsupported sync protocol {0}; this repository speaks {PROTOCOL}")]
    Protocol(u32),
    /// A case of another site: answered exactly as a case whose form differs from the stored
    /// one, so that the answer never confirms that a case id exists elsewhere.
    #[error("case {0}: {NOT_THIS_CASE}")]
    OtherSite(String),
    #[error("case {case_id}: {reason}")]
    BadCase { case_id: String, reason: String },
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
    #[error("the repository storage failed: {0}")]
    Storage(String),
}

impl HubError {
    /// Whether the request itself was at fault (answer 4xx) rather than the repository.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, HubError::Storage(_))
    }
}

fn storage<E: std::fmt::Display>(e: E) -> HubError {
    HubError::Storage(e.to_string())
}

fn encode(heads: &[ChangeHash]) -> Vec<u8> {
    crate::store::document::encode_heads(heads)
}

/// The repository's sync logic.
#[derive(Debug)]
pub struct Hub<S: HubStorage> {
    pub storage: S,
    actor: ActorId,
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

    /// [`Hub::exchange`], also giving the projection of every pushed case as the repository
    /// now holds it, read from the documents the exchange merged (no second load).
    ///
    /// The documents of the pushed cases are loaded, merged, saved and projected on several
    /// threads (the CPU-bound part of a push); storage is written afterwards, in order.
    /// Every pushed case is checked first (see [`accept`](super::accept)); no change may
    /// write one of the `identifying` fields.
    pub fn exchange_projected(
        &mut self,
        site: &str,
        device: &str,
        request: &SyncRequest,
        identifying: &IdentifyingFields,
    ) -> Result<Exchanged, HubError> {
        if request.protocol != PROTOCOL {
            return Err(HubError::Protocol(request.protocol));
        }
        accept::check_request(request)?;
        let bad = |c: &CaseChanges, reason: String| HubError::BadCase {
            case_id: c.case_id.clone(),
            reason,
        };
        // 1. Check every pushed case against what is stored.
        let mut inputs: Vec<(&CaseChanges, Vec<ChangeHash>, Option<StoredCase>)> = Vec::new();
        for c in &request.push {
            let device_heads =
                parse_heads(&c.heads).ok_or_else(|| bad(c, "malformed heads".into()))?;
            let existing = self.storage.case(&c.case_id).map_err(storage)?;
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
        // 2. Merge them in memory, in parallel; any malformed case refuses the whole request.
        let actor = &self.actor;
        let merged = parallel_map(&inputs, |(c, device_heads, existing)| {
            merge_pushed(c, device_heads, existing.as_ref(), actor, identifying)
        })
        .into_iter()
        .collect::<Result<Vec<Merged>, HubError>>()?;
        let new_actors: Vec<(&str, &std::collections::BTreeSet<String>)> = inputs
            .iter()
            .zip(&merged)
            .map(|((c, _, _), m)| (c.case_id.as_str(), &m.new_actors))
            .collect();
        accept::check_actors(&mut self.storage, site, device, &new_actors)?;
        // 3. Store them; the device holds its own heads plus whatever it receives below.
        let mut reply: BTreeMap<String, CaseChanges> = BTreeMap::new();
        let mut stored = Vec::with_capacity(merged.len());
        for ((c, _, existing), m) in inputs.iter().zip(merged) {
            let seq = match (existing, m.saved) {
                (_, Some(saved)) => self
                    .storage
                    .put_case(&c.case_id, site, &c.form_id, &saved)
                    .map_err(storage)?,
                // Nothing new (a batch sent again): stored as it is.
                (Some(existing), None) => existing.seq,
                (None, None) => return Err(storage("a new case without a document")),
            };
            reply.insert(
                c.case_id.clone(),
                CaseChanges {
                    case_id: c.case_id.clone(),
                    form_id: c.form_id.clone(),
                    changes: m.reply_changes,
                    heads: m.heads.iter().map(ToString::to_string).collect(),
                },
            );
            self.storage
                .record_sent(device, &c.case_id, &encode(&m.heads), seq)
                .map_err(storage)?;
            stored.push((c.case_id.clone(), m.projection));
        }
        // 4. What changed at the site since the device's cursor.
        self.storage
            .confirm(device, request.cursor)
            .map_err(storage)?;
        let changed = self
            .storage
            .cases_after(site, request.cursor, PULL_BATCH + 1)
            .map_err(storage)?;
        let more = changed.len() > PULL_BATCH;
        let mut cursor = request.cursor;
        // Read what is stored (in order), then prepare each case's changes in parallel.
        let mut pulls: Vec<(String, u64, StoredCase, Vec<ChangeHash>)> = Vec::new();
        for (case_id, seq) in changed.into_iter().take(PULL_BATCH) {
            cursor = cursor.max(seq);
            if reply.contains_key(&case_id) {
                continue;
            }
            let Some(stored) = self.storage.case(&case_id).map_err(storage)? else {
                continue;
            };
            let known = self
                .storage
                .device_heads(device, &case_id)
                .map_err(storage)?
                .and_then(|b| crate::store::document::decode_heads(&b))
                .unwrap_or_default();
            pulls.push((case_id, seq, stored, known));
        }
        let prepared = parallel_map(&pulls, |(_, _, stored, known)| {
            let mut doc = CaseDoc::load(&stored.doc, actor).map_err(storage)?;
            let heads = doc.heads();
            if known.is_empty() {
                // A case new to the device: the stored document as it is (its document
                // encoding is far smaller than every change one by one, and needs no work).
                return Ok(Some((stored.doc.clone(), heads)));
            }
            if encode(known) == encode(&heads) {
                return Ok(None); // the device already holds exactly this
            }
            Ok(Some((doc.changes_after(known), heads)))
        });
        for ((case_id, seq, stored, _), pull) in pulls.into_iter().zip(prepared) {
            let Some((changes, heads)) = pull? else {
                continue;
            };
            self.storage
                .record_sent(device, &case_id, &encode(&heads), seq)
                .map_err(storage)?;
            reply.insert(
                case_id.clone(),
                CaseChanges {
                    case_id,
                    form_id: stored.form_id,
                    changes,
                    heads: heads.iter().map(ToString::to_string).collect(),
                },
            );
        }
        Ok(Exchanged {
            response: SyncResponse {
                protocol: PROTOCOL,
                cursor,
                more,
                cases: reply.into_values().collect(),
            },
            stored,
        })
    }

    /// The current document of a case (for exports and the console).
    pub fn document(&mut self, case_id: &str) -> Result<Option<Vec<u8>>, HubError> {
        Ok(self.storage.case(case_id).map_err(storage)?.map(|c| c.doc))
    }
}

/// What [`Hub::exchange_projected`] did: the answer for the device, and the projection of
/// every case it pushed (in push order).
#[derive(Debug)]
pub struct Exchanged {
    pub response: SyncResponse,
    pub stored: Vec<(String, CaseProjection)>,
}

/// A pushed case merged in memory.
struct Merged {
    /// The document to store; `None` when the push brought nothing new.
    saved: Option<Vec<u8>>,
    heads: Vec<ChangeHash>,
    /// What the device lacks of the merged case.
    reply_changes: Vec<u8>,
    projection: CaseProjection,
    /// The actors of the changes new to the repository.
    new_actors: std::collections::BTreeSet<String>,
}

/// A pushed case checked and merged with what is stored (see [`accept::accept_case`]), with
/// what the device lacks and the projection; a panic inside refuses the case.
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
        Ok(Merged {
            saved: accepted.saved,
            reply_changes: doc.changes_after(device_heads),
            projection: project_doc(&mut doc),
            heads,
            new_actors: accepted.new_actors,
        })
    })
}

/// `f` over `items` on up to 4 threads (the available cores), results in order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(items.len().div_ceil(8).max(1));
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// A repository storage in memory, for tests and as the reference for real backends.
#[derive(Debug, Default)]
pub struct MemoryHubStorage {
    cases: HashMap<String, StoredCase>,
    seq: HashMap<String, u64>,
    known: HashMap<(String, String), Vec<u8>>,
    sent: Vec<(String, String, Vec<u8>, u64)>,
    /// Enrolled devices (their actor ids, hex) and their sites.
    devices: HashMap<String, String>,
}

impl MemoryHubStorage {
    /// Enrols a device (its automerge actor as hex) at a site.
    pub fn enroll(&mut self, device: &str, site: &str) {
        self.devices.insert(device.to_string(), site.to_string());
    }
}

impl HubStorage for MemoryHubStorage {
    type Error = std::convert::Infallible;

    fn case(&mut self, case_id: &str) -> Result<Option<StoredCase>, Self::Error> {
        Ok(self.cases.get(case_id).cloned())
    }

    fn put_case(
        &mut self,
        case_id: &str,
        site: &str,
        form_id: &str,
        doc: &[u8],
    ) -> Result<u64, Self::Error> {
        let seq = self.seq.entry(site.to_string()).or_insert(0);
        *seq += 1;
        self.cases.insert(
            case_id.to_string(),
            StoredCase {
                site: site.into(),
                form_id: form_id.into(),
                doc: doc.to_vec(),
                seq: *seq,
            },
        );
        Ok(*seq)
    }

    fn cases_after(
        &mut self,
        site: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, Self::Error> {
        let mut v: Vec<(String, u64)> = self
            .cases
            .iter()
            .filter(|(_, c)| c.site == site && c.seq > after)
            .map(|(id, c)| (id.clone(), c.seq))
            .collect();
        v.sort_by_key(|(_, s)| *s);
        v.truncate(limit);
        Ok(v)
    }

    fn device_heads(
        &mut self,
        device: &str,
        case_id: &str,
    ) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(self
            .known
            .get(&(device.to_string(), case_id.to_string()))
            .cloned())
    }

    fn record_sent(
        &mut self,
        device: &str,
        case_id: &str,
        heads: &[u8],
        seq: u64,
    ) -> Result<(), Self::Error> {
        self.sent
            .push((device.into(), case_id.into(), heads.to_vec(), seq));
        Ok(())
    }

    fn confirm(&mut self, device: &str, cursor: u64) -> Result<(), Self::Error> {
        let (done, pending): (Vec<_>, Vec<_>) = self
            .sent
            .drain(..)
            .partition(|(d, _, _, seq)| d == device && *seq <= cursor);
        self.sent = pending;
        for (d, case_id, heads, _) in done {
            self.known.insert((d, case_id), heads);
        }
        Ok(())
    }

    fn device_site(&mut self, device: &str) -> Result<Option<String>, Self::Error> {
        Ok(self.devices.get(device).cloned())
    }
}

/// What the repository shows of one case: read from its stored document.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CaseProjection {
    pub form_id: String,
    pub modules: Vec<String>,
    /// `draft`, `complete` or `signed`.
    pub status: String,
    pub deleted: bool,
    /// The current values as a validation input (`{"field": value, "group": [{row}]}`).
    pub values: serde_json::Map<String, serde_json::Value>,
    /// Every field with concurrent different values, with its candidates.
    pub conflicts: Vec<ProjectedConflict>,
}

/// One open conflict of a [`CaseProjection`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProjectedConflict {
    #[serde(flatten)]
    pub path: crate::store::FieldPath,
    pub candidates: Vec<crate::store::Candidate>,
}

/// Reads a stored case document (as [`StoredCase::doc`] holds it) into a [`CaseProjection`].
pub fn case_projection(doc: &[u8]) -> Result<CaseProjection, HubError> {
    let mut doc = CaseDoc::load(doc, &ActorId::random()).map_err(storage)?;
    Ok(project_doc(&mut doc))
}

fn project_doc(doc: &mut CaseDoc) -> CaseProjection {
    let modules = match doc.meta("modules") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let form_id = match doc.meta("form_id") {
        Some(serde_json::Value::String(s)) => s,
        _ => String::new(),
    };
    CaseProjection {
        form_id,
        modules,
        status: doc.root_str("status").unwrap_or_else(|| "draft".into()),
        deleted: doc.root_str("deleted").is_some(),
        values: doc.values(),
        conflicts: doc
            .conflicts()
            .into_iter()
            .map(|(path, candidates)| ProjectedConflict { path, candidates })
            .collect(),
    }
}

/// The audit trail of a stored case document (as [`StoredCase::doc`] holds it), oldest first,
/// the same entries every device holding the same changes shows; only entries touching `field`
/// when given.
pub fn case_history(
    doc: &[u8],
    field: Option<&str>,
) -> Result<Vec<crate::store::HistoryEntry>, HubError> {
    let mut doc = CaseDoc::load(doc, &ActorId::random()).map_err(storage)?;
    Ok(doc.history(field))
}
