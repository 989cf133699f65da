//! The device's side of sync bookkeeping (the exchange itself is in [`crate::sync`]): which
//! cases the repository lacks (the outbox, from the heads each side holds), the changes to
//! push, applying the repository's answer with its cursor, and what enrolment gave the device
//! (the repository address and token, sealed; the site's setting for identifying data), and
//! the sync's lease on the data key ([`SyncLease`]).

use super::{CaseStore, DatabaseError, SecretKey, StoreError, db, document};
use crate::case::document::CaseDoc;
use serde_json::{Value as Json, json};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// What a store holds of a case the repository sent ([`CaseStore::apply_cases`]).
enum Held {
    /// Exactly what the repository holds.
    Same,
    /// Another state of it: its sealed document.
    Sealed(Vec<u8>),
    /// Nothing: the case is new to this device.
    Nothing,
}

/// The associated data of the sealed sync credential.
pub(super) const CREDENTIAL_AAD: &[u8] = b"wardcrf|v1|credential";

/// The data key lent to one sync for its duration, so that a sync under way when the store
/// locks still applies the answer the repository has already acknowledged
/// ([`CaseStore::with_sync_lease`]). Only a sync holds one; it is made from an unlocked store
/// ([`CaseStore::sync_lease`]) and the key leaves memory when the lease is dropped. Every
/// other call on a locked store is refused as [`StoreError::Locked`] while a lease is out.
pub struct SyncLease {
    key: SecretKey,
}

impl fmt::Debug for SyncLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyncLease(<redacted>)")
    }
}

impl CaseStore {
    /// A lease on the data key for a sync: [`StoreError::Locked`] on a locked store (a locked
    /// store does not start a sync).
    pub fn sync_lease(&self) -> Result<SyncLease, StoreError> {
        Ok(SyncLease {
            key: self.key()?.clone(),
        })
    }

    /// Runs one of a sync's store steps (applying an answer, counting conflicts, keeping the
    /// roster) with the data key of `lease` when the store has locked since the lease was
    /// made. The key is back out of the store when `f` returns (or panics): no other call ever
    /// sees the store unlocked by a lease. On an unlocked store `f` simply runs.
    pub fn with_sync_lease<R>(
        &mut self,
        lease: &SyncLease,
        f: impl FnOnce(&mut CaseStore) -> R,
    ) -> R {
        if self.key.is_some() {
            return f(self);
        }
        self.key = Some(lease.key.clone());
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&mut *self)));
        // Locked before, locked after (whatever `f` did, it cannot have signed anyone in).
        self.key = None;
        outcome.unwrap_or_else(|panic| resume_unwind(panic))
    }

    /// Cases the repository does not yet hold as they are here (never synced, or changed).
    pub fn sync_outbox(&self) -> Result<Vec<String>, StoreError> {
        Ok(db::outbox(&self.conn)?)
    }

    /// The changes of a case that the repository lacks, with this device's heads.
    pub fn sync_push(&self, case_id: &str) -> Result<crate::sync::CaseChanges, StoreError> {
        let db::PushRow {
            server_heads: server,
            local_heads: local,
            form_id,
            doc: blob,
        } = db::push_row(&self.conn, case_id)?
            .ok_or_else(|| StoreError::UnknownCase(case_id.to_string()))?;
        // A case the repository has never held goes as the whole saved document, which is what
        // the store keeps (sealed): the same changes in automerge's compressed document
        // encoding, about a seventh of the bytes of the change-by-change encoding for a case
        // entered field by field, and sent without loading the document (measured by
        // server/benches/sync.rs). Both encodings are read by `load_incremental`.
        if server.is_empty()
            && let Some(heads) = document::decode_heads(&local).filter(|h| !h.is_empty())
        {
            let plain = self.open_document(case_id, &blob)?;
            return Ok(crate::sync::CaseChanges {
                case_id: case_id.to_string(),
                form_id,
                changes: plain.to_vec(),
                heads: heads.iter().map(ToString::to_string).collect(),
            });
        }
        let (mut doc, _) = self.load(case_id)?;
        let known = document::decode_heads(&server).unwrap_or_default();
        let form_id = crate::case::meta::form_id_of(&doc);
        Ok(crate::sync::CaseChanges {
            case_id: case_id.to_string(),
            form_id,
            changes: doc.changes_after(&known),
            heads: doc.heads().iter().map(ToString::to_string).collect(),
        })
    }

    /// Applies a case received from the repository and records the repository's heads.
    /// Returns whether the case was new to this device.
    pub fn sync_apply(&mut self, case: &crate::sync::CaseChanges) -> Result<bool, StoreError> {
        let new = self.apply_cases(std::slice::from_ref(case))?;
        Ok(new.first().copied().unwrap_or(false))
    }

    /// Applies a whole answer of the repository and its cursor in one transaction (one durable
    /// write instead of one per case); all or nothing. Returns, per case, whether it was new.
    pub fn sync_apply_all(
        &mut self,
        cases: &[crate::sync::CaseChanges],
        cursor: u64,
    ) -> Result<Vec<bool>, StoreError> {
        db::begin(&self.conn)?;
        let applied = self.apply_cases(cases).and_then(|new| {
            self.set_sync_cursor(cursor)?;
            Ok(new)
        });
        // On any failure (COMMIT included: it can fail and leave the transaction open), the
        // store is as it was before the answer; the next sync asks again.
        let committed = applied.and_then(|new| {
            db::commit(&self.conn)?;
            Ok(new)
        });
        match &committed {
            Ok(new) => tracing::info!(
                cases = cases.len(),
                new_cases = new.iter().filter(|n| **n).count(),
                cursor,
                "sync answer applied"
            ),
            Err(_) => db::rollback(&self.conn),
        }
        committed
    }

    /// Applies cases received from the repository, in two steps: what this store holds of
    /// each is read (in order); then the documents are decrypted, merged, saved and sealed on
    /// several threads (the CPU-bound part: loading a document hashes every change in it)
    /// while this thread writes each, in order, as soon as it is ready. Returns, per case,
    /// whether it was new to this device.
    fn apply_cases(&mut self, cases: &[crate::sync::CaseChanges]) -> Result<Vec<bool>, StoreError> {
        let mut work = Vec::with_capacity(cases.len());
        let mut seen = std::collections::HashSet::with_capacity(cases.len());
        for case in cases {
            // Each case is merged with what the store held before the answer: one named twice
            // would have its first copy's changes overwritten by the second.
            if !seen.insert(case.case_id.as_str()) {
                return Err(StoreError::Mismatch(format!(
                    "{}: sent twice in one answer",
                    case.case_id
                )));
            }
            let heads = document::parse_heads(&case.heads).ok_or_else(|| {
                StoreError::Mismatch(format!("{}: malformed heads", case.case_id))
            })?;
            let server_heads = document::encode_heads(&heads);
            let local_heads = db::local_heads(&self.conn, &case.case_id)?;
            let held = match local_heads {
                // The repository holds exactly what this device holds (the answer to its own
                // push): nothing to decrypt, merge or rewrite, only the bookkeeping.
                Some(local) if local == server_heads => Held::Same,
                Some(_) => Held::Sealed(
                    db::sealed_case(&self.conn, &case.case_id)?
                        .ok_or_else(|| StoreError::UnknownCase(case.case_id.clone()))?
                        .doc,
                ),
                None => Held::Nothing,
            };
            work.push((case, server_heads, held));
        }
        // Owned copies for the merging threads: the calling thread writes to the store
        // meanwhile.
        let (key, actor) = (self.key()?.clone(), self.actor.clone());
        let opened = std::sync::atomic::AtomicU64::new(0);
        let mut new = Vec::with_capacity(cases.len());
        let written: Result<(), StoreError> = crate::parallel::parallel_in_order(
            &work,
            |(case, _, held)| {
                let mut doc = match held {
                    Held::Same => return Ok(None),
                    Held::Sealed(sealed) => {
                        let plain = Self::open_sealed(&key, &opened, &case.case_id, sealed)?;
                        let mut doc = CaseDoc::load(&plain, &actor)?;
                        doc.apply(&case.changes)?;
                        doc
                    }
                    Held::Nothing => CaseDoc::from_changes(&case.changes, &actor)?,
                };
                let sealed = Self::seal_document(&key, &case.case_id, &mut doc)?;
                Ok::<_, StoreError>(Some((doc, sealed)))
            },
            |i, merged| {
                let (case, server_heads, held) = &work[i];
                let insert = matches!(held, Held::Nothing);
                match merged? {
                    None => {
                        db::set_server_heads(&self.conn, &case.case_id, server_heads)?;
                    }
                    Some((doc, sealed)) => {
                        self.write_sealed(
                            &case.case_id,
                            &doc,
                            &sealed,
                            insert,
                            Some(server_heads),
                        )?;
                    }
                }
                new.push(insert);
                Ok(())
            },
        );
        self.documents_opened.fetch_add(
            opened.load(std::sync::atomic::Ordering::Relaxed),
            std::sync::atomic::Ordering::Relaxed,
        );
        written?;
        Ok(new)
    }

    /// Forgets what the repository holds of each of `case_ids` that this store holds (the
    /// repository asked for them again: see [`crate::sync::SyncResponse::repush`]); the next
    /// push sends each of them whole. Ids this store does not hold are ignored. Returns the
    /// ids forgotten.
    pub fn sync_forget_server_heads(
        &mut self,
        case_ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut forgotten = Vec::new();
        for id in case_ids {
            let n = db::set_server_heads(&self.conn, id, &[])?;
            if n > 0 {
                forgotten.push(id.clone());
            }
        }
        Ok(forgotten)
    }

    /// Keeps what enrolment gave this device: the repository address and its token (sealed),
    /// and its site's setting for identifying data ([`CaseStore::keeps_identifying_on_device`]).
    /// A store whose shared records already hold identifying values cannot join a site that
    /// keeps them on the device ([`StoreError::IdentifyingAlreadyShared`]); nothing is kept then.
    pub fn enrolled(
        &mut self,
        server_url: &str,
        enrolment: &crate::sync::Enrolment,
    ) -> Result<(), StoreError> {
        self.enrolled_pinned(server_url, enrolment, None)
    }

    /// As [`CaseStore::enrolled`], keeping also the certificate the repository's chain must
    /// hold (the enrolment QR code's fingerprint): [`CaseStore::server_pin`]. An enrolment
    /// without a pin forgets an earlier one.
    pub fn enrolled_pinned(
        &mut self,
        server_url: &str,
        enrolment: &crate::sync::Enrolment,
        pin: Option<crate::sync::CertPin>,
    ) -> Result<(), StoreError> {
        if enrolment.identifying_on_device && !self.identifying_on_device {
            let ids = db::case_ids(&self.conn)?;
            let mut shared = 0;
            for id in ids {
                let (mut doc, _) = self.load(&id)?;
                if self.holds_identifying(&mut doc)? {
                    shared += 1;
                }
            }
            if shared > 0 {
                return Err(StoreError::IdentifyingAlreadyShared { cases: shared });
            }
        }
        if let Some(unlock) = &enrolment.device_key {
            self.keep_unlock_key(unlock)?;
        }
        self.set_sync_credential(server_url, &enrolment.token)?;
        match pin {
            // Not a secret: kept in plain text.
            Some(pin) => db::put_meta(&self.conn, "server_pin", pin.to_string().as_bytes())?,
            None => db::put_metas(&mut self.conn, &[("server_pin", None)])?,
        }
        if enrolment.identifying_on_device {
            db::put_meta(&self.conn, "identifying_on_device", b"1")?;
            self.identifying_on_device = true;
        }
        Ok(())
    }

    /// Keeps the repository address and this device's token, sealed with the data key.
    pub fn set_sync_credential(&mut self, server_url: &str, token: &str) -> Result<(), StoreError> {
        let plain = serde_json::to_vec(&json!({"server_url": server_url, "token": token}))
            .map_err(|e| StoreError::Database(Box::new(DatabaseError::CredentialJson(e))))?;
        let sealed = self.device_secret.seal(CREDENTIAL_AAD, &plain)?;
        Ok(db::put_meta(&self.conn, "sync_credential", &sealed)?)
    }

    /// The repository address and device token, if this device is enrolled.
    pub fn sync_credential(&self) -> Result<Option<(String, String)>, StoreError> {
        let sealed = db::meta(&self.conn, "sync_credential")?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plain = self.device_secret.open(CREDENTIAL_AAD, &sealed)?;
        let v: Json = serde_json::from_slice(&plain)
            .map_err(|e| StoreError::Database(Box::new(DatabaseError::CredentialJson(e))))?;
        match (v["server_url"].as_str(), v["token"].as_str()) {
            (Some(u), Some(t)) => Ok(Some((u.to_string(), t.to_string()))),
            _ => Err(StoreError::Database(Box::new(DatabaseError::Credential))),
        }
    }

    /// The certificate the repository's chain must hold, when this device was enrolled from a
    /// QR code that carried one: every exchange trusts that certificate alone.
    pub fn server_pin(&self) -> Result<Option<crate::sync::CertPin>, StoreError> {
        let Some(text) = db::meta(&self.conn, "server_pin")? else {
            return Ok(None);
        };
        std::str::from_utf8(&text)
            .ok()
            .and_then(|t| t.parse().ok())
            .map(Some)
            .ok_or_else(|| StoreError::Database(Box::new(DatabaseError::Credential)))
    }

    /// The repository epoch this device last synced with ([`crate::sync::SyncResponse::epoch`]);
    /// `None` before its first answer that carried one.
    pub fn sync_epoch(&self) -> Result<Option<String>, StoreError> {
        let v = db::meta(&self.conn, "sync_epoch")?;
        Ok(v.and_then(|b| String::from_utf8(b).ok()))
    }

    /// Records the epoch of a repository answer. The first epoch ever seen is just kept. One
    /// that differs from the kept one means the repository was restored from a backup and may
    /// lack what this device pushed or pulled since: in one transaction with the new epoch,
    /// the store forgets the heads it believed the repository held of every case (each is in
    /// the outbox again, and goes whole) and resets its cursor to 0 (it pulls what the
    /// restored repository holds). Returns whether the repository was restored.
    pub fn sync_note_epoch(&mut self, epoch: &str) -> Result<bool, StoreError> {
        let kept = self.sync_epoch()?;
        if kept.as_deref() == Some(epoch) {
            return Ok(false);
        }
        let Some(_) = kept else {
            db::put_meta(&self.conn, "sync_epoch", epoch.as_bytes())?;
            return Ok(false);
        };
        db::begin(&self.conn)?;
        let reset = db::forget_all_server_heads(&self.conn).and_then(|cases| {
            db::put_meta(&self.conn, "sync_cursor", b"0")?;
            db::put_meta(&self.conn, "sync_epoch", epoch.as_bytes())?;
            db::commit(&self.conn)?;
            Ok(cases)
        });
        match reset {
            Ok(cases) => {
                tracing::warn!(
                    cases,
                    "the repository was restored from a backup: every case is pushed again and \
                     the repository's cases are pulled from the start"
                );
                Ok(true)
            }
            Err(e) => {
                db::rollback(&self.conn);
                Err(e.into())
            }
        }
    }

    /// The repository sequence number this device has applied up to.
    pub fn sync_cursor(&self) -> Result<u64, StoreError> {
        let v = db::meta(&self.conn, "sync_cursor")?;
        Ok(v.and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    /// Records the cursor once a response's cases are applied.
    pub fn set_sync_cursor(&mut self, cursor: u64) -> Result<(), StoreError> {
        Ok(db::put_meta(
            &self.conn,
            "sync_cursor",
            cursor.to_string().as_bytes(),
        )?)
    }
}
