//! The WardCRF repository server: enrolment of ward devices, token authentication and case
//! sync over HTTP(S) (contract: `docs/http-api.md`), storing in embedded SQLite or in PostgreSQL.
//!
//! - [`storage`]: the [`storage::Repository`] trait and the SQLite backend (also the core's
//!   `HubStorage`).
//! - [`crate::postgres`]: the PostgreSQL backend (`--database-url`), same trait, same tables.
//! - [`api`]: the axum router and its typed errors.
//! - [`console`]: the web console at `/` (staff sign-in, overview, cases, conflict review
//!   and resolution, administration, exports) and `--demo`'s seeding.
//! - [`export`]: CSV and CDISC ODM exports of the stored cases, written case by case.
//! - `forms`: the bundled forms cases are checked against, compositions in a bounded cache.
//! - [`pool`]: storage connections shared by concurrent requests; sync serialised per site.
//! - [`secret`]: random tokens and codes, stored only as SHA-256 hashes.

pub mod api;
pub mod console;
pub mod export;
pub(crate) mod forms;
pub mod pool;
pub mod postgres;
pub mod secret;
pub mod serve;
pub mod storage;

pub use crate::postgres::PostgresStorage;
pub use api::{AppState, Clock, router, router_with, system_clock};
pub use pool::HubPool;
pub use storage::{Repository, SqliteStorage};
