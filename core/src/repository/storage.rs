//! What the repository's sync logic ([`super::Hub`]) needs of a database: the
//! [`HubStorage`] contract and the rows it reads and writes. The server's SQLite and
//! PostgreSQL stores implement it (with their own multi-row statements where a default here
//! goes one case at a time); [`super::MemoryHubStorage`] does for tests.

use std::collections::BTreeSet;

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

/// What [`HubStorage::put_pushed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Stored under this sequence number.
    Stored(u64),
    /// The case id belongs to another site: nothing was written.
    OtherSite,
    /// The case was created or changed by another writer since it was read: nothing was
    /// written; the exchange is to be made again.
    Changed,
}

/// A stored case set aside because its document cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantinedCase {
    pub case_id: String,
    pub site: String,
    /// Why the document cannot be loaded (the loader's words, no case contents).
    pub reason: String,
    /// The device that last pushed the case, when known.
    pub device: Option<String>,
    /// When it was found (unix seconds, the database's clock).
    pub first_seen: u64,
}

/// What the repository stores for sync. One implementation per database; all must pass the
/// same tests. Each method is one atomic step; [`super::Hub::exchange`] is built so that a failure
/// between steps only causes changes to be sent again, never lost.
pub trait HubStorage {
    type Error: std::fmt::Display;
    fn case(&mut self, case_id: &str) -> Result<Option<StoredCase>, Self::Error>;
    /// Stores the repository's own new document of a case (a console resolution) under the
    /// next sequence number of `site`, as a compare-and-set, exactly as [`Self::put_pushed`]:
    /// a new case when `read_seq` is `None` (only if no case has this id), else the case as
    /// it was read at sequence number `read_seq` (only if it is still so). Another writer's
    /// merge committed since the read (another server process, a device's push) is never
    /// overwritten: the answer is then [`Put::Changed`] and the caller reads, merges and
    /// writes again. It never moves a case to another site ([`Put::OtherSite`]). Writes
    /// nothing unless it answers [`Put::Stored`]; leaves the device that last pushed the case
    /// as it was.
    fn put_case(
        &mut self,
        case_id: &str,
        site: &str,
        form_id: &str,
        doc: &[u8],
        read_seq: Option<u64>,
    ) -> Result<Put, Self::Error>;
    /// Stores a document pushed by `device` under the next sequence number of `site`: a new
    /// case when `read_seq` is `None` (only if no case has this id), else the case as it was
    /// read at sequence number `read_seq` (only if it is still so). Remembers the device as
    /// the one that last pushed the case. Writes nothing unless it answers [`Put::Stored`].
    fn put_pushed(
        &mut self,
        case_id: &str,
        site: &str,
        form_id: &str,
        doc: &[u8],
        device: &str,
        read_seq: Option<u64>,
    ) -> Result<Put, Self::Error>;
    /// [`HubStorage::put_pushed`] for the documents of one exchange, each case once, in
    /// order (sequence numbers in that order): each is stored or refused as `put_pushed`
    /// would. The answers come in the order of `docs`; after a refusal, the rest may be
    /// missing (the caller gives up the exchange, whose transaction then undoes it all).
    fn put_pushed_many(
        &mut self,
        site: &str,
        device: &str,
        docs: &[PushedDoc<'_>],
    ) -> Result<Vec<Put>, Self::Error> {
        let mut out = Vec::with_capacity(docs.len());
        for d in docs {
            let put = self.put_pushed(d.case_id, site, d.form_id, d.doc, device, d.read_seq)?;
            let stored = matches!(put, Put::Stored(_));
            out.push(put);
            if !stored {
                break;
            }
        }
        Ok(out)
    }
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
    /// [`HubStorage::case`] of each of `case_ids`, in their order (a store may read them with
    /// one query).
    fn cases_by_id(&mut self, case_ids: &[&str]) -> Result<Vec<Option<StoredCase>>, Self::Error> {
        case_ids.iter().map(|id| self.case(id)).collect()
    }
    /// [`HubStorage::device_heads`] of each of `case_ids`, in their order.
    fn device_heads_many(
        &mut self,
        device: &str,
        case_ids: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, Self::Error> {
        case_ids
            .iter()
            .map(|id| self.device_heads(device, id))
            .collect()
    }
    /// Records heads sent to (or received from) a device, valid once its cursor reaches `seq`.
    ///
    /// At most one such record is kept per device and case: the newest, which replaces an
    /// older one still waiting. Records of one case come with ever higher sequence numbers,
    /// so the older record would have become known no later than the newer; dropping it only
    /// delays what the repository knows the device holds, which makes it send a little more
    /// (changes the device already has, harmless to apply again), never less.
    fn record_sent(
        &mut self,
        device: &str,
        case_id: &str,
        heads: &[u8],
        seq: u64,
    ) -> Result<(), Self::Error>;
    /// [`HubStorage::record_sent`] for several cases of one exchange, each named once (a
    /// store may write them with one statement).
    fn record_sent_many(&mut self, device: &str, sent: &[Sent]) -> Result<(), Self::Error> {
        for s in sent {
            self.record_sent(device, &s.case_id, &s.heads, s.seq)?;
        }
        Ok(())
    }
    /// The device has applied everything up to `cursor`: its sent heads up to it are known.
    fn confirm(&mut self, device: &str, cursor: u64) -> Result<(), Self::Error>;
    /// Quarantines the stored case `case_id` for `reason`, keeping a copy of its document as
    /// it is now (unless it is quarantined already). Returns its open quarantine record;
    /// `None` when no such case is stored.
    fn quarantine(
        &mut self,
        case_id: &str,
        reason: &str,
    ) -> Result<Option<QuarantinedCase>, Self::Error>;
    /// Lifts the quarantine of a case (its document was replaced); the record and the damaged
    /// bytes are kept.
    fn release(&mut self, case_id: &str) -> Result<(), Self::Error>;
    /// The cases in quarantine now, of `site` or of every site, by site then case id.
    fn quarantined(&mut self, site: Option<&str>) -> Result<Vec<QuarantinedCase>, Self::Error>;
    /// The site a device (its id: its automerge actor, hex) is or was enrolled at, revoked
    /// or not; `None` for a device never enrolled.
    fn device_site(&mut self, device: &str) -> Result<Option<String>, Self::Error>;
    /// Who may be named as the author of a change at `site` (see [`SiteAuthors`]).
    fn site_authors(&mut self, site: &str) -> Result<SiteAuthors, Self::Error>;
}

/// Who may be named as the author of a site's changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteAuthors {
    /// The staff ids of the site with a ward role (`clinician`, `site_nurse`), deactivated
    /// accounts included: an account's earlier changes stay its own.
    pub staff: BTreeSet<String>,
    /// Changes naming no signed-in author (made before staff signed in on devices) are taken
    /// when made before this time (seconds since the epoch); `None`: never.
    pub unattributed_before: Option<i64>,
}

/// A document an exchange stores for a pushed case ([`HubStorage::put_pushed_many`]).
#[derive(Debug, Clone, Copy)]
pub struct PushedDoc<'a> {
    pub case_id: &'a str,
    pub form_id: &'a str,
    pub doc: &'a [u8],
    /// The sequence number the case was read at; `None` for a new case.
    pub read_seq: Option<u64>,
}

/// Heads an exchange sends a device (or received from it) for a case, valid once the
/// device's cursor reaches `seq` ([`HubStorage::record_sent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub case_id: String,
    pub heads: Vec<u8>,
    pub seq: u64,
}
