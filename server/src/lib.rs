//! The WardCRF repository server: enrolment of ward devices, token authentication and case
//! sync over HTTP(S) (contract: `docs/http-api.md`), storing in embedded SQLite.
//!
//! - [`storage`]: the [`storage::Repository`] trait and the SQLite backend (also the core's
//!   `HubStorage`).
//! - [`api`]: the axum router and its typed errors.
//! - [`secret`]: random tokens and codes, stored only as SHA-256 hashes.

pub mod api;
pub mod secret;
pub mod serve;
pub mod storage;

pub use api::{AppState, Clock, router, system_clock};
pub use storage::{Repository, SqliteStorage};
