//! The rules a push must meet before the repository stores any of it.
//!
//! - The request: at most [`MAX_PUSH_CASES`] entries and [`MAX_PUSH_BYTES`] bytes of changes,
//!   each case once, case ids exactly as devices make them ([`valid_case_id`]), bounded form
//!   ids ([`valid_form_id`]), at most [`MAX_CASE_BYTES`] bytes and [`MAX_HEADS`] heads a case.
//! - Each case's bytes: read strictly (whole chunks with correct checksums, nothing after them,
//!   no change whose dependencies are missing), at most [`MAX_CASE_CHANGES`] new changes, and
//!   stored only as the repository's own re-encoding, re-read strictly before it is stored.
//!   Every automerge call on them runs under `catch_unwind`: a library panic refuses the
//!   exchange instead of failing the repository.
//! - Who wrote the new changes: only devices enrolled at the pushing device's site; never a
//!   repository actor ([`crate::repository::is_repository_actor`]), which only the repository writes.
//! - At a site that keeps identifying data on its devices: no new change writes an identifying
//!   field anywhere in the case (a value set then cleared, a row, a nested value).

use super::chunks::ChunkError;
use super::hub::HubError;
use super::storage::{HubStorage, StoredCase};
use crate::store::document::{CaseDoc, ChangeNote, NewChange};
use crate::sync::wire::{CaseChanges, SyncRequest};
pub use crate::sync::wire::{MAX_HEADS, MAX_PUSH_CASES};
use automerge::{ActorId, ChangeHash};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// At most this many bytes of changes in one push, all cases together (the server's body
/// limit).
pub const MAX_PUSH_BYTES: usize = 32 * 1024 * 1024;
/// At most this many bytes of changes for one case in one push.
pub const MAX_CASE_BYTES: usize = 8 * 1024 * 1024;
/// At most this many bytes for one case's changes once the document library has decompressed
/// them (see [`super::chunks`]): devices send uncompressed chunks (at most
/// [`MAX_CASE_BYTES`]); this leaves room for compressed ones from other automerge writers.
pub const MAX_CASE_EXPANDED: usize = 64 * 1024 * 1024;
/// At most this many bytes for all the changes of one push once decompressed: bounds the
/// work of inflating a push before it is refused.
pub const MAX_PUSH_EXPANDED: usize = 128 * 1024 * 1024;
/// At most this many changes new to the repository for one case in one push, counted where
/// the new changes are read (changes to a stored case; any case at a site that keeps
/// identifying data on its devices). A new case sent as one document is bounded by its
/// bytes ([`MAX_CASE_BYTES`], [`MAX_CASE_EXPANDED`]) instead.
pub const MAX_CASE_CHANGES: usize = 50_000;
/// The longest form id.
pub const MAX_FORM_ID: usize = 64;

/// What the repository answers, the same way, for a case of another site and for a case whose
/// form differs from the stored one: it never confirms which.
pub(super) const NOT_THIS_CASE: &str =
    "refused: this device cannot change a case with this id and form id";

/// Whether `id` is a case id as devices make them: 32 lowercase hex digits (16 random bytes).
pub fn valid_case_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `id` can be a form id: 1 to [`MAX_FORM_ID`] lowercase ASCII letters, digits and
/// `-`, starting with a letter (the server checks it against its catalog as well).
pub fn valid_form_id(id: &str) -> bool {
    id.len() <= MAX_FORM_ID
        && id.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Field ids a site keeps on its devices: no pushed change may write one. Empty for a site
/// that shares identifying data with the repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentifyingFields(pub BTreeSet<String>);

impl IdentifyingFields {
    /// The identifying fields of every form of a catalog, modules included.
    pub fn of_catalog(catalog: &crate::Catalog) -> Self {
        let mut ids = BTreeSet::new();
        for def in catalog.definitions() {
            let form = match &def.extends {
                Some(base) => catalog.form(base, &[def.form_id.as_str()]),
                None => catalog.form(&def.form_id, &[]),
            };
            for f in form.iter().flat_map(|f| f.fields()) {
                if f.def.identifying {
                    ids.insert(f.def.id.clone());
                }
            }
        }
        IdentifyingFields(ids)
    }
}

/// Checks the shape of a push before anything is looked up or loaded.
pub(super) fn check_request(request: &SyncRequest) -> Result<(), HubError> {
    if request.push.len() > MAX_PUSH_CASES {
        return Err(HubError::TooManyCases {
            sent: request.push.len(),
            limit: MAX_PUSH_CASES,
        });
    }
    let total: usize = request.push.iter().map(|c| c.changes.len()).sum();
    if total > MAX_PUSH_BYTES {
        return Err(HubError::TooLarge(format!(
            "the push carries {total} bytes of changes; at most {MAX_PUSH_BYTES} are taken in \
             one exchange: send fewer cases at a time"
        )));
    }
    let mut seen = HashSet::with_capacity(request.push.len());
    for (index, c) in request.push.iter().enumerate() {
        if !valid_case_id(&c.case_id) {
            return Err(HubError::BadCaseId { index });
        }
        if !seen.insert(c.case_id.as_str()) {
            return Err(HubError::DuplicateCase(c.case_id.clone()));
        }
        let bad = |reason: String| HubError::BadCase {
            case_id: c.case_id.clone(),
            reason,
        };
        if !valid_form_id(&c.form_id) {
            return Err(bad(format!(
                "its form id must be 1 to {MAX_FORM_ID} lowercase letters, digits and '-', \
                 starting with a letter"
            )));
        }
        if c.changes.len() > MAX_CASE_BYTES {
            return Err(HubError::TooLarge(format!(
                "case {}: its changes are {} bytes; at most {MAX_CASE_BYTES} are taken for one \
                 case",
                c.case_id,
                c.changes.len()
            )));
        }
        if c.heads.len() > MAX_HEADS {
            return Err(bad(format!(
                "it names {} heads; at most {MAX_HEADS}",
                c.heads.len()
            )));
        }
    }
    check_expansion(request)
}

/// Refuses a push whose automerge bytes would decompress beyond [`MAX_CASE_EXPANDED`] for a
/// case or [`MAX_PUSH_EXPANDED`] for the push, or whose chunk structure cannot be walked,
/// before the document library inflates any of it (what is inflated here is counted, not
/// kept).
fn check_expansion(request: &SyncRequest) -> Result<(), HubError> {
    let mut left = MAX_PUSH_EXPANDED;
    for c in &request.push {
        let limit = MAX_CASE_EXPANDED.min(left);
        match super::chunks::expanded_size(&c.changes, limit) {
            Ok(n) => left -= n,
            Err(ChunkError::TooLarge(_)) if limit < MAX_CASE_EXPANDED => {
                return Err(HubError::TooLarge(format!(
                    "the changes of this push would expand to more than {MAX_PUSH_EXPANDED} \
                     bytes once decompressed: send fewer cases at a time, uncompressed"
                )));
            }
            Err(ChunkError::TooLarge(_)) => {
                return Err(HubError::TooLarge(format!(
                    "case {}: its changes would expand to more than {MAX_CASE_EXPANDED} bytes \
                     once decompressed; at most that is taken for one case",
                    c.case_id
                )));
            }
            Err(ChunkError::Malformed(reason)) => {
                return Err(HubError::BadCase {
                    case_id: c.case_id.clone(),
                    reason: format!("its changes are not readable automerge chunks: {reason}"),
                });
            }
        }
    }
    Ok(())
}

/// A pushed case merged with what is stored, checked.
pub(super) struct Accepted {
    pub doc: CaseDoc,
    /// The re-encoded document to store; `None` when the push brought nothing new.
    pub saved: Option<Vec<u8>>,
    /// The actors (hex) of the changes the push brought that the repository did not hold.
    pub new_actors: BTreeSet<String>,
    /// Who those changes name as their authors.
    pub authors: Authors,
}

/// Who the new changes of a push name as their authors (changes under the repository's own
/// identity are the repository's, and not counted).
#[derive(Debug, Default)]
pub(super) struct Authors {
    /// The staff ids named (`by`).
    pub staff: BTreeSet<String>,
    /// The latest change that names no signed-in staff member: its time and its free-text user.
    pub unattributed: Option<(i64, String)>,
}

impl Authors {
    fn add(&mut self, actor: &str, time: i64, note: ChangeNote) {
        if super::edit::is_repository_actor(actor) {
            return;
        }
        match note.by {
            // The id a note names twice must be the same; a note saying otherwise names a
            // user who is not the signed-in author, and is refused as such.
            Some(by) if by.id == note.user => {
                self.staff.insert(by.id);
            }
            _ => {
                if self.unattributed.as_ref().is_none_or(|(u, _)| time > *u) {
                    self.unattributed = Some((time, note.user));
                }
            }
        }
    }

    pub fn merge(&mut self, other: Authors) {
        self.staff.extend(other.staff);
        if let Some((t, user)) = other.unattributed
            && self.unattributed.as_ref().is_none_or(|(u, _)| t > *u)
        {
            self.unattributed = Some((t, user));
        }
    }
}

/// Runs `f` on device-supplied data; a panic inside (automerge on hostile bytes) becomes a
/// refusal of the case instead of unwinding through the repository.
pub(super) fn guarded<T>(
    case_id: &str,
    f: impl FnOnce() -> Result<T, HubError>,
) -> Result<T, HubError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(HubError::BadCase {
            case_id: case_id.to_string(),
            reason: "its changes could not be read (the document library failed on them)".into(),
        })
    })
}

/// Merges a pushed case into the stored one (or reads a new case) strictly, and checks what
/// the push brings: its size, the device's heads, identifying fields. Call under [`guarded`].
pub(super) fn accept_case(
    c: &CaseChanges,
    device_heads: &[ChangeHash],
    existing: Option<&StoredCase>,
    actor: &ActorId,
    identifying: &IdentifyingFields,
) -> Result<Accepted, HubError> {
    let bad = |reason: String| HubError::BadCase {
        case_id: c.case_id.clone(),
        reason,
    };
    let check_count = |n: usize| {
        if n > MAX_CASE_CHANGES {
            Err(bad(format!(
                "it brings {n} new changes; at most {MAX_CASE_CHANGES} are taken for one case \
                 in one exchange"
            )))
        } else {
            Ok(())
        }
    };
    let (mut doc, before) = match existing {
        Some(stored) => {
            let mut doc = CaseDoc::load(&stored.doc, actor).map_err(|e| {
                HubError::Storage(format!("case {}: the stored document: {e}", c.case_id))
            })?;
            let before = doc.heads();
            doc.apply_strict(&c.changes)
                .map_err(|e| bad(format!("its changes: {e}")))?;
            (doc, before)
        }
        None => {
            let mut doc =
                CaseDoc::load(&c.changes, actor).map_err(|e| bad(format!("its document: {e}")))?;
            if !doc.missing_deps().is_empty() {
                return Err(bad(
                    "its document depends on changes it does not hold".into()
                ));
            }
            (doc, Vec::new())
        }
    };
    // The device's heads are usually the document's own (a whole case, or every change it
    // lacked): those need no look-up, which would rebuild a change of a loaded document.
    let heads_now = doc.heads();
    if device_heads
        .iter()
        .any(|h| !heads_now.contains(h) && !doc.has_change(h))
    {
        return Err(bad("its heads name changes it does not carry".into()));
    }
    if heads_now == before {
        return Ok(Accepted {
            doc,
            saved: None,
            new_actors: BTreeSet::new(),
            authors: Authors::default(),
        });
    }
    // Every new change's actor and note (its author) is read; its operations only at a site
    // that keeps identifying fields on its devices (what it writes must be known there).
    let writers: Vec<(String, i64, ChangeNote)> = if identifying.0.is_empty() {
        doc.writers_since(&before)
    } else {
        let new = doc.changes_since(&before);
        check_count(new.len())?;
        let fields = identifying_written(&new, identifying);
        if !fields.is_empty() {
            return Err(HubError::Identifying {
                case_id: c.case_id.clone(),
                fields: fields.into_iter().collect(),
            });
        }
        new.iter()
            .map(|n| (n.actor.clone(), n.time(), n.note()))
            .collect()
    };
    check_count(writers.len())?;
    let mut authors = Authors::default();
    let mut new_actors = BTreeSet::new();
    for (actor, time, note) in writers {
        authors.add(&actor, time, note);
        new_actors.insert(actor);
    }
    // The repository's own encoding of what loaded strictly, never the bytes sent.
    let saved = doc.save();
    Ok(Accepted {
        doc,
        saved: Some(saved),
        new_actors,
        authors,
    })
}

/// The identifying fields that `changes` write (put or delete) anywhere in a case: top-level
/// values, rows, nested values, then cleared or not. Field ids only, never values.
pub(super) fn identifying_written(
    changes: &[NewChange],
    identifying: &IdentifyingFields,
) -> BTreeSet<String> {
    if identifying.0.is_empty() {
        return BTreeSet::new();
    }
    changes
        .iter()
        .flat_map(NewChange::written_keys)
        .filter(|k| identifying.0.contains(k))
        .collect()
}

/// Refuses the push if any new change is by a repository actor or by an actor that is not a
/// device enrolled at `site` (the pushing `device` itself is). A device may push changes of
/// another device of its site (merged directly between tablets); revoked devices count as
/// enrolled, as their earlier changes can still reach the repository that way.
pub(super) fn check_actors<S: HubStorage>(
    storage: &mut S,
    site: &str,
    device: &str,
    new_actors: &[(&str, &BTreeSet<String>)],
) -> Result<(), HubError> {
    let mut known: BTreeMap<String, bool> = BTreeMap::new();
    known.insert(device.to_string(), true);
    for (case_id, actors) in new_actors {
        for actor in actors.iter() {
            if super::edit::is_repository_actor(actor) {
                return Err(HubError::RepositoryActor((*case_id).to_string()));
            }
            let ok = match known.get(actor) {
                Some(&ok) => ok,
                None => {
                    let at = storage
                        .device_site(actor)
                        .map_err(|e| HubError::Storage(e.to_string()))?;
                    let ok = at.as_deref() == Some(site);
                    known.insert(actor.clone(), ok);
                    ok
                }
            };
            if !ok {
                return Err(HubError::ForeignActor {
                    case_id: (*case_id).to_string(),
                    actor: actor.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Refuses the push if any new change names an author who is not staff of `site` with a
/// ward role (an account deactivated since still counts: its earlier changes are its own), or
/// names no signed-in author and was made after the repository began to require one.
pub(super) fn check_authors<S: HubStorage>(
    storage: &mut S,
    site: &str,
    authors: &Authors,
) -> Result<(), HubError> {
    if authors.staff.is_empty() && authors.unattributed.is_none() {
        return Ok(());
    }
    let known = storage
        .site_authors(site)
        .map_err(|e| HubError::Storage(e.to_string()))?;
    if let Some(user) = authors.staff.iter().find(|u| !known.staff.contains(*u)) {
        return Err(HubError::NotSiteStaff { user: user.clone() });
    }
    if let Some((time, user)) = &authors.unattributed
        && known
            .unattributed_before
            .is_none_or(|before| *time >= before)
    {
        return Err(HubError::NotSiteStaff {
            user: user.chars().take(64).collect(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_are_exactly_what_devices_make() {
        assert!(valid_case_id(&"0123456789abcdef".repeat(2)));
        for bad in [
            "",
            "0123456789abcdef",
            &"0123456789ABCDEF".repeat(2),
            &"0123456789abcdeg".repeat(2),
            &format!("{}\0", "a".repeat(31)),
            &"a".repeat(33),
            &"é".repeat(16),
        ] {
            assert!(!valid_case_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_ids_a_store_makes_are_valid_case_ids() {
        let dir = std::env::temp_dir().join(format!(
            "wardcrf-accept-ids-{}",
            ActorId::random().to_hex_string()
        ));
        let mut store =
            crate::CaseStore::create(&dir, &crate::Passphrase::insecure_for_tests("p", 10))
                .unwrap();
        store.sign_in_for_tests("nurse").unwrap();
        for _ in 0..20 {
            let id = store.create_case("icrown-core", &[]).unwrap();
            assert!(valid_case_id(&id), "{id}");
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn form_ids_are_bounded_lowercase_words() {
        for good in ["icrown-core", "sari", "hepatitis-child", "sfts-vhf"] {
            assert!(valid_form_id(good), "{good}");
        }
        for bad in ["", "ICROWN", "a b", "-x", "1abc", "x\0", &"f".repeat(65)] {
            assert!(!valid_form_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn identifying_fields_written_anywhere_by_new_changes_are_listed() {
        use crate::store::document::{ChangeNote, FieldPath};
        use serde_json::json;
        let ids = IdentifyingFields(["patient_name".to_string()].into());
        let actor = ActorId::random();
        let mut doc = CaseDoc::create(
            &actor,
            &serde_json::Map::new(),
            &["labs".to_string()],
            &ChangeNote::new("n", "create"),
            1,
        )
        .unwrap();
        let start = doc.heads();
        let set =
            |doc: &mut CaseDoc, field: &str, v: Option<serde_json::Value>, note_field: &str| {
                let mut note = ChangeNote::new("n", "set");
                note.field = Some(note_field.into());
                doc.put_value(&FieldPath::field(field), v.as_ref(), &note, 2)
                    .unwrap();
            };
        set(&mut doc, "vs_hr", Some(json!(80)), "vs_hr");
        let clean = doc.heads();
        assert!(identifying_written(&doc.changes_since(&start), &ids).is_empty());
        // Set, then cleared: the current values hold no name, the changes do.
        set(&mut doc, "patient_name", Some(json!("A B")), "patient_name");
        set(&mut doc, "patient_name", None, "patient_name");
        assert!(doc.values().get("patient_name").is_none());
        let written = identifying_written(&doc.changes_since(&clean), &ids);
        assert_eq!(written.into_iter().collect::<Vec<_>>(), ["patient_name"]);
        // In a row, and only in a change's note.
        let after = doc.heads();
        let mut row = serde_json::Map::new();
        row.insert("patient_name".into(), json!("A B"));
        doc.add_row("labs", "r1", &row, &ChangeNote::new("n", "row_add"), 3)
            .unwrap();
        assert_eq!(
            identifying_written(&doc.changes_since(&after), &ids).len(),
            1
        );
        let after = doc.heads();
        set(&mut doc, "vs_hr", Some(json!(81)), "patient_name");
        assert_eq!(
            identifying_written(&doc.changes_since(&after), &ids).len(),
            1
        );
        // A site that shares identifying data checks nothing.
        assert!(
            identifying_written(&doc.changes_since(&[]), &IdentifyingFields::default()).is_empty()
        );
    }

    #[test]
    fn the_catalogs_identifying_fields_are_found() {
        let catalog = crate::Catalog::bundled().unwrap();
        let ids = IdentifyingFields::of_catalog(&catalog);
        assert!(ids.0.contains("patient_name"), "{:?}", ids.0);
        assert!(!ids.0.contains("vs_hr"));
    }
}
