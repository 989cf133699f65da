//! The repository's storage in memory ([`MemoryHubStorage`]): for tests, and the reference the
//! database backends (`wardcrf-server`'s SQLite and PostgreSQL storages) are held against.

use super::storage::{HubStorage, Put, QuarantinedCase, SiteAuthors, StoredCase};
use std::collections::HashMap;

/// A repository storage in memory, for tests and as the reference for real backends.
#[derive(Debug, Clone, Default)]
pub struct MemoryHubStorage {
    cases: HashMap<String, StoredCase>,
    seq: HashMap<String, u64>,
    known: HashMap<(String, String), Vec<u8>>,
    /// Per device and case: heads and sequence number.
    sent: HashMap<(String, String), (Vec<u8>, u64)>,
    pushed_by: HashMap<String, String>,
    /// Every quarantine record, with the damaged bytes and whether it is lifted.
    quarantine: Vec<(QuarantinedCase, Vec<u8>, bool)>,
    /// Enrolled devices (their actor ids, hex) and their sites.
    devices: HashMap<String, String>,
    /// Per site: who may be named as an author.
    authors: HashMap<String, SiteAuthors>,
}

impl MemoryHubStorage {
    /// Enrols a device (its automerge actor as hex) at a site.
    pub fn enroll(&mut self, device: &str, site: &str) {
        self.devices.insert(device.to_string(), site.to_string());
    }

    /// Makes `staff` a staff member of `site` who may be named as an author.
    pub fn add_staff(&mut self, site: &str, staff: &str) {
        self.authors
            .entry(site.to_string())
            .or_default()
            .staff
            .insert(staff.to_string());
    }

    /// Takes changes naming no signed-in author when made before `time` at `site`.
    pub fn take_unattributed_before(&mut self, site: &str, time: i64) {
        self.authors
            .entry(site.to_string())
            .or_default()
            .unattributed_before = Some(time);
    }

    fn next_seq(&mut self, site: &str) -> u64 {
        let seq = self.seq.entry(site.to_string()).or_insert(0);
        *seq += 1;
        *seq
    }

    fn store(&mut self, case_id: &str, site: &str, form_id: &str, doc: &[u8]) -> u64 {
        let seq = self.next_seq(site);
        self.cases.insert(
            case_id.to_string(),
            StoredCase {
                site: site.into(),
                form_id: form_id.into(),
                doc: doc.to_vec(),
                seq,
            },
        );
        seq
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
        read_seq: Option<u64>,
    ) -> Result<Put, Self::Error> {
        match (self.cases.get(case_id), read_seq) {
            (Some(c), _) if c.site != site => return Ok(Put::OtherSite),
            (Some(c), Some(seq)) if c.seq == seq => {}
            (None, None) => {}
            _ => return Ok(Put::Changed),
        }
        Ok(Put::Stored(self.store(case_id, site, form_id, doc)))
    }

    fn put_pushed(
        &mut self,
        case_id: &str,
        site: &str,
        form_id: &str,
        doc: &[u8],
        device: &str,
        read_seq: Option<u64>,
    ) -> Result<Put, Self::Error> {
        match (self.cases.get(case_id), read_seq) {
            (Some(c), _) if c.site != site => return Ok(Put::OtherSite),
            (Some(c), Some(seq)) if c.seq == seq => {}
            (None, None) => {}
            _ => return Ok(Put::Changed),
        }
        self.pushed_by.insert(case_id.into(), device.into());
        Ok(Put::Stored(self.store(case_id, site, form_id, doc)))
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
            .insert((device.into(), case_id.into()), (heads.to_vec(), seq));
        Ok(())
    }

    fn confirm(&mut self, device: &str, cursor: u64) -> Result<(), Self::Error> {
        let done: Vec<(String, String)> = self
            .sent
            .iter()
            .filter(|((d, _), (_, seq))| d == device && *seq <= cursor)
            .map(|(k, _)| k.clone())
            .collect();
        for key in done {
            if let Some((heads, _)) = self.sent.remove(&key) {
                self.known.insert(key, heads);
            }
        }
        Ok(())
    }

    fn quarantine(
        &mut self,
        case_id: &str,
        reason: &str,
    ) -> Result<Option<QuarantinedCase>, Self::Error> {
        if let Some((q, _, _)) = self
            .quarantine
            .iter()
            .find(|(q, _, lifted)| q.case_id == case_id && !lifted)
        {
            return Ok(Some(q.clone()));
        }
        let Some(stored) = self.cases.get(case_id) else {
            return Ok(None);
        };
        let first_seen = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let q = QuarantinedCase {
            case_id: case_id.into(),
            site: stored.site.clone(),
            reason: reason.into(),
            device: self.pushed_by.get(case_id).cloned(),
            first_seen,
        };
        self.quarantine.push((q.clone(), stored.doc.clone(), false));
        Ok(Some(q))
    }

    fn release(&mut self, case_id: &str) -> Result<(), Self::Error> {
        for (q, _, lifted) in &mut self.quarantine {
            if q.case_id == case_id {
                *lifted = true;
            }
        }
        Ok(())
    }

    fn quarantined(&mut self, site: Option<&str>) -> Result<Vec<QuarantinedCase>, Self::Error> {
        let mut v: Vec<QuarantinedCase> = self
            .quarantine
            .iter()
            .filter(|(q, _, lifted)| !lifted && site.is_none_or(|s| q.site == s))
            .map(|(q, _, _)| q.clone())
            .collect();
        v.sort_by(|a, b| (&a.site, &a.case_id).cmp(&(&b.site, &b.case_id)));
        Ok(v)
    }

    fn device_site(&mut self, device: &str) -> Result<Option<String>, Self::Error> {
        Ok(self.devices.get(device).cloned())
    }

    fn site_authors(&mut self, site: &str) -> Result<SiteAuthors, Self::Error> {
        Ok(self.authors.get(site).cloned().unwrap_or_default())
    }
}
