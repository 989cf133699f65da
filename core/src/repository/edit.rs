//! Changes the repository itself makes to a stored case document: a conflict resolved by a
//! staff user in the web console.
//!
//! The resolution is one automerge change, written by a repository actor (see
//! [`repository_actor`]) with the staff user and the reason in its note, exactly as a device
//! writes a resolution ([`crate::CaseStore::resolve`]), by the same rule
//! ([`crate::case::edit`]): a new op that supersedes every candidate, with the chosen value
//! checked against the form. The repository stores the new document under the next sequence
//! number of its site, so every device of the site pulls the change at its next sync.

use crate::case::document::{CaseDoc, FieldPath};
use crate::case::edit::{CaseContext, EditError, clean_reason, open_conflict};
use crate::case::meta;
use crate::case::projection::{CaseProjection, case_projection};
use crate::staff::Attribution;
use crate::validate::Issue;
use crate::{Form, PartialDate};
use automerge::ActorId;
use serde_json::Value as Json;

/// The first bytes of every actor the repository writes changes as.
pub const REPOSITORY_ACTOR_PREFIX: &[u8] = b"wardcrf-repo";

/// A fresh repository actor: [`REPOSITORY_ACTOR_PREFIX`] and 4 random bytes (16 bytes, like a
/// device's). A new actor per change keeps the actor's sequence numbers unique even when two
/// repositories (a restored backup, a second server) write to copies of one document.
pub fn repository_actor() -> ActorId {
    let mut bytes = REPOSITORY_ACTOR_PREFIX.to_vec();
    bytes.extend_from_slice(&ActorId::random().to_bytes()[..4]);
    ActorId::from(bytes)
}

/// Whether an actor (as hex, as history entries and candidates give it) is the repository's.
pub fn is_repository_actor(hex: &str) -> bool {
    // Compared pair by pair, without formatting the prefix: the repository asks this of
    // every change a push brings.
    let hex = hex.as_bytes();
    hex.len() >= 2 * REPOSITORY_ACTOR_PREFIX.len()
        && REPOSITORY_ACTOR_PREFIX
            .iter()
            .zip(hex.chunks_exact(2))
            .all(|(b, pair)| {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                pair == [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]
            })
}

/// Why the repository could not resolve a conflict. Messages never repeat values.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryEditError {
    #[error("the case document is damaged: {0}")]
    Damaged(String),
    #[error("the case is deleted; it must be restored on a device first")]
    Deleted,
    #[error("{0} has no open conflict (it may have been resolved already)")]
    NoConflict(String),
    #[error("no row {row_id} in {group}")]
    UnknownRow { group: String, row_id: String },
    #[error("{0} is not a field of this case's form")]
    UnknownField(String),
    #[error("a reason is needed to resolve a conflict")]
    ReasonRequired,
    /// The value cannot be stored: impossible for the field, or outside its expected range
    /// with a confirmation of its own that confirms nothing (a blank one); `issues` hold the
    /// messages in every language.
    #[error("the value of {field} cannot be stored: it breaks a hard rule of the form")]
    Rejected { field: String, issues: Vec<Issue> },
}

/// A resolution to write: which field, the value chosen, who and why.
#[derive(Debug, Clone)]
pub struct Resolution<'a> {
    pub path: &'a FieldPath,
    /// A candidate's value, or a new value (either checked against the form).
    pub value: Json,
    /// The staff user, recorded in the change like a device's signed-in user.
    pub author: &'a Attribution,
    pub reason: &'a str,
    /// Seconds since the Unix epoch.
    pub time: i64,
}

/// What a resolution produced.
#[derive(Debug)]
pub struct Resolved {
    /// The whole new document, to store in place of the old one.
    pub doc: Vec<u8>,
    /// The value written (canonical, in the field's unit).
    pub value: Json,
    /// The candidates it superseded.
    pub superseded: Vec<Json>,
    /// The case as the new document holds it.
    pub projection: CaseProjection,
}

/// Resolves the open conflict at `resolution.path` in the stored document `doc`, as a change by
/// a fresh repository actor. `form` is the case's composed form: the value (a candidate's or a
/// new one) is checked as a device checks it ([`crate::case::check_value`]): an impossible
/// value is refused; one outside the soft limits is kept confirmed by the reason.
pub fn resolve_in_document(
    doc: &[u8],
    form: &Form,
    resolution: &Resolution<'_>,
    today: Option<PartialDate>,
) -> Result<Resolved, RepositoryEditError> {
    let path = resolution.path;
    let reason =
        clean_reason(Some(resolution.reason)).ok_or(RepositoryEditError::ReasonRequired)?;
    let actor = repository_actor();
    let mut case = CaseDoc::load(doc, &actor).map_err(|e| damaged(&e))?;
    if meta::is_deleted(&case) {
        return Err(RepositoryEditError::Deleted);
    }
    if let (Some(g), Some(r)) = (&path.group, &path.row_id)
        && !case.has_row(g, r)
    {
        return Err(RepositoryEditError::UnknownRow {
            group: g.clone(),
            row_id: r.clone(),
        });
    }
    let conflict = open_conflict(&mut case, path)?;
    // A console resolution gives each number with its unit; no site default applies.
    let context = CaseContext {
        form,
        values: case.values(),
        today,
        default_units: None,
    };
    let resolved = conflict.resolve(
        &mut case,
        &context,
        resolution.value.clone(),
        resolution.author,
        reason,
        resolution.time,
    )?;
    let saved = case.save();
    let projection =
        case_projection(&saved).map_err(|e| RepositoryEditError::Damaged(e.to_string()))?;
    Ok(Resolved {
        doc: saved,
        value: resolved.value,
        superseded: resolved.superseded,
        projection,
    })
}

fn damaged(e: &dyn std::fmt::Display) -> RepositoryEditError {
    RepositoryEditError::Damaged(e.to_string())
}

impl From<EditError> for RepositoryEditError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::UnknownField { field } => RepositoryEditError::UnknownField(field),
            EditError::Rejected { field, issues } => {
                RepositoryEditError::Rejected { field, issues }
            }
            // The console gives a reason with every resolution, which confirms a value outside
            // the expected range; only a value with a blank confirmation of its own stays
            // unconfirmed, and is refused as a device refuses it.
            EditError::NeedsConfirmation { field, warnings } => RepositoryEditError::Rejected {
                field,
                issues: warnings,
            },
            EditError::NoConflict(field) => RepositoryEditError::NoConflict(field),
            EditError::Document(e) => damaged(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::{Hub, HubStorage, MemoryHubStorage};
    use crate::sync::{SyncRequest, SyncResponse, Transport, TransportError};
    use crate::{CaseStore, Catalog, Passphrase};
    use serde_json::json;
    use std::cell::RefCell;

    struct Direct<'a>(&'a RefCell<Hub<MemoryHubStorage>>, &'static str);

    impl Transport for Direct<'_> {
        fn exchange(&self, r: &SyncRequest) -> Result<SyncResponse, TransportError> {
            self.0
                .borrow_mut()
                .exchange("site-a", self.1, r)
                .map_err(|e| TransportError::Refused(e.to_string()))
        }
    }

    fn store(dir: &std::path::Path) -> CaseStore {
        {
            let mut s = CaseStore::create(dir, &Passphrase::insecure_for_tests("p", 10)).unwrap();
            s.sign_in_for_tests("nurse").unwrap();
            s
        }
    }

    #[test]
    fn repository_actors_are_told_from_device_actors_by_their_hex() {
        for _ in 0..20 {
            assert!(is_repository_actor(&repository_actor().to_hex_string()));
            assert!(!is_repository_actor(&ActorId::random().to_hex_string()));
        }
        let prefix: String = REPOSITORY_ACTOR_PREFIX
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(is_repository_actor(&prefix));
        // Cut short, changed in its last digit, or in capitals: not the repository's.
        assert!(!is_repository_actor(&prefix[..prefix.len() - 1]));
        let mut changed = prefix.clone().into_bytes();
        *changed.last_mut().unwrap() = b'0';
        assert!(!is_repository_actor(&String::from_utf8(changed).unwrap()));
        assert!(!is_repository_actor(&prefix.to_uppercase()));
        assert!(!is_repository_actor(""));
    }

    #[test]
    fn a_resolution_by_the_repository_reaches_devices_and_records_who_and_why() {
        let tmp = std::env::temp_dir().join(format!(
            "wardcrf-repo-edit-{}",
            ActorId::random().to_hex_string()
        ));
        let hub = RefCell::new(Hub::new(MemoryHubStorage::default()));
        let mut a = store(&tmp.join("a"));
        let mut b = store(&tmp.join("b"));
        for device in [a.device_id(), b.device_id()] {
            hub.borrow_mut().storage.enroll(&device, "site-a");
            hub.borrow_mut().storage.add_staff("site-a", "nurse");
        }
        let case = a.create_case("icrown-core", &[]).unwrap();
        let path = FieldPath::field("vs_spo2");
        a.set_value(&case, &path, json!(95), None).unwrap();
        let (ta, tb) = (Direct(&hub, "a"), Direct(&hub, "b"));
        crate::sync::sync(&mut a, &ta, &mut |_| {}).unwrap();
        crate::sync::sync(&mut b, &tb, &mut |_| {}).unwrap();
        a.set_value(&case, &path, json!(92), Some("re-measured"))
            .unwrap();
        b.set_value(&case, &path, json!(97), Some("re-measured"))
            .unwrap();
        crate::sync::sync(&mut a, &ta, &mut |_| {}).unwrap();
        crate::sync::sync(&mut b, &tb, &mut |_| {}).unwrap();
        let stored = hub.borrow_mut().storage.case(&case).unwrap().unwrap();
        let form = Catalog::bundled()
            .unwrap()
            .form("icrown-core", &[])
            .unwrap();

        // Without a reason, or on a field without a conflict: refused.
        let r = Resolution {
            path: &path,
            value: json!(92),
            author: &crate::staff::Attribution {
                id: "dm".into(),
                name: "Data Manager".into(),
            },
            reason: " ",
            time: 1_800_000_000,
        };
        assert!(matches!(
            resolve_in_document(&stored.doc, &form, &r, None),
            Err(RepositoryEditError::ReasonRequired)
        ));
        let other = FieldPath::field("vs_sbp");
        let r2 = Resolution {
            path: &other,
            reason: "x",
            ..r.clone()
        };
        assert!(matches!(
            resolve_in_document(&stored.doc, &form, &r2, None),
            Err(RepositoryEditError::NoConflict(_))
        ));
        // An impossible new value is refused.
        let r3 = Resolution {
            value: json!(250),
            reason: "typo",
            ..r.clone()
        };
        assert!(matches!(
            resolve_in_document(&stored.doc, &form, &r3, None),
            Err(RepositoryEditError::Rejected { .. })
        ));

        // A value whose own confirmation is blank confirms nothing: refused, as a device
        // refuses it (the repository used to store it unconfirmed).
        let r4 = Resolution {
            value: json!({"value": 75, "confirm": " "}),
            reason: "typo",
            ..r.clone()
        };
        assert!(matches!(
            resolve_in_document(&stored.doc, &form, &r4, None),
            Err(RepositoryEditError::Rejected { .. })
        ));
        // A candidate's value is checked too, and stored as it was (canonical already).
        let candidate = crate::case::case_projection(&stored.doc).unwrap().conflicts[0].candidates
            [0]
        .value
        .clone();
        let kept = resolve_in_document(
            &stored.doc,
            &form,
            &Resolution {
                value: candidate.clone(),
                reason: "the first reading",
                ..r.clone()
            },
            None,
        )
        .unwrap();
        assert_eq!(kept.value, candidate);

        let resolved = resolve_in_document(
            &stored.doc,
            &form,
            &Resolution {
                reason: "checked the monitor log",
                ..r
            },
            None,
        )
        .unwrap();
        assert!(resolved.projection.conflicts.is_empty());
        assert_eq!(resolved.projection.values["vs_spo2"]["value"], json!(92));
        assert_eq!(resolved.value["value"], json!(92));
        assert_eq!(resolved.superseded.len(), 2);
        let seq = hub
            .borrow_mut()
            .storage
            .put_case(
                &case,
                "site-a",
                &stored.form_id,
                &resolved.doc,
                Some(stored.seq),
            )
            .unwrap();
        let crate::repository::Put::Stored(seq) = seq else {
            panic!("stored over the version read: {seq:?}")
        };
        assert!(seq > stored.seq);

        // Both devices pull it at their next sync and see the same entry.
        crate::sync::sync(&mut a, &ta, &mut |_| {}).unwrap();
        crate::sync::sync(&mut b, &tb, &mut |_| {}).unwrap();
        for s in [&mut a, &mut b] {
            let view = s.case(&case).unwrap();
            assert!(view.conflicts.is_empty());
            assert_eq!(view.values["vs_spo2"]["value"], json!(92));
            let last = s.history(&case, Some("vs_spo2")).unwrap().pop().unwrap();
            assert_eq!((last.op.as_str(), last.user.as_str()), ("resolve", "dm"));
            assert_eq!(last.reason.as_deref(), Some("checked the monitor log"));
            assert!(is_repository_actor(&last.device));
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
