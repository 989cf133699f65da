//! The repository's side of sync: what the central repository does with what devices send, and
//! the changes it makes itself. No I/O: the server crate stores through [`HubStorage`].
//!
//! - [`Hub`] (`hub.rs`): one exchange in two phases. [`Hub::prepare`] reads, checks and merges
//!   with no transaction open. [`Hub::write`] stores the result and the device's bookkeeping.
//!   Per-site sequence numbers give each device what changed after its cursor.
//! - `accept.rs`: the strict reading of a push. It checks identifiers, limits, whole chunks,
//!   dependencies, heads, actors and identifying fields, so that no tablet is trusted.
//! - `chunks.rs`: reads automerge chunk headers without inflating (deflate bombs) and lists a
//!   document's actors.
//! - `edit.rs`: a conflict resolved at the repository (web console), written as a change by a
//!   repository actor.
//! - `memory.rs`: [`MemoryHubStorage`], an in-memory [`HubStorage`] for tests and benchmarks.
//!
//! Compiled with the `repository` feature (the server's); the app library leaves it out.

mod accept;
mod chunks;
mod edit;
mod hub;
mod memory;
mod storage;

pub use crate::parallel::parallel_map;
pub use accept::{
    IdentifyingFields, MAX_CASE_BYTES, MAX_CASE_CHANGES, MAX_CASE_EXPANDED, MAX_FORM_ID, MAX_HEADS,
    MAX_PUSH_BYTES, MAX_PUSH_CASES, MAX_PUSH_EXPANDED, valid_case_id, valid_form_id,
};
pub use chunks::{ChunkError, expanded_size};
pub use edit::{
    REPOSITORY_ACTOR_PREFIX, RepositoryEditError, Resolution, Resolved, is_repository_actor,
    repository_actor, resolve_in_document,
};
pub use hub::{
    CaseProjection, Exchanged, Hub, HubError, PULL_BATCH, PULL_BYTES, Prepared, ProjectedConflict,
    REPUSH_LIMIT, StoredPush, case_history, case_projection,
};
pub use memory::MemoryHubStorage;
pub use storage::{HubStorage, PushedDoc, Put, QuarantinedCase, Sent, SiteAuthors, StoredCase};
