//! The WardCRF repository server: enrolment of ward devices, token authentication and case
//! sync over HTTP(S) (contract: `docs/http-api.md`), storing in embedded SQLite or in PostgreSQL.
//!
//! - [`storage`]: the [`storage::Repository`] trait and the SQLite backend (also the core's
//!   `HubStorage`).
//! - [`crate::postgres`]: the PostgreSQL backend (`--database-url`), same trait, same tables.
//! - [`routes`]: the axum router, and what every request goes through (the admin token and
//!   body limits before any body is read, gzip, content negotiation).
//! - `api`: the handlers, one file per job (admin, enrol, sync, cases, export); [`error`]:
//!   their typed errors and HTTP answers; [`state`]: what they share ([`AppState`]).
//! - `projection`: the repository's side of a sync exchange (one transaction, retried when a
//!   case changed meanwhile) and the projection of each stored case.
//! - [`console`]: the web console at `/` (staff sign-in, overview, cases, conflict review
//!   and resolution, administration, exports) and `--demo`'s seeding.
//! - [`export`]: CSV and CDISC ODM exports of the stored cases, written case by case.
//! - `forms`: the bundled forms cases are checked against, compositions in a bounded cache.
//! - [`pool`]: storage connections shared by concurrent requests; sync serialised per site.
//! - [`secret`]: random tokens and codes, stored only as SHA-256 hashes.

pub(crate) mod api;
pub mod console;
pub mod error;
pub mod export;
pub(crate) mod forms;
pub mod pool;
pub mod postgres;
pub(crate) mod projection;
pub mod routes;
pub mod secret;
pub mod serve;
pub mod state;
pub mod storage;

pub use crate::postgres::PostgresStorage;
pub use pool::HubPool;
pub use routes::{router, router_with};
pub use state::{AppState, Clock, Store, system_clock};
pub use storage::{Repository, SqliteStorage};
