//! The WardCRF repository server: enrolment of ward devices, token authentication and case
//! sync over HTTP(S) (contract: `docs/http-api.md`), storing in embedded SQLite or in PostgreSQL.
//!
//! - [`repository`]: the [`Repository`] trait, its rows and errors, the SQLite backend
//!   (also the core's `HubStorage`), the PostgreSQL backend (`--database-url`, same trait,
//!   same tables) and the pool of connections ([`HubPool`]; sync serialised per site).
//! - [`api`]: the axum router and its typed errors.
//! - [`console`]: the web console at `/` (staff sign-in, overview, cases, conflict review
//!   and resolution, administration, exports) and `--demo`'s seeding.
//! - [`export`]: CSV and CDISC ODM exports of the stored cases, written case by case.
//! - `forms`: the bundled forms cases are checked against, compositions in a bounded cache.
//! - [`secret`]: random tokens and codes, stored only as SHA-256 hashes.

pub mod api;
pub mod console;
pub mod export;
pub(crate) mod forms;
pub mod repository;
pub mod secret;
pub mod serve;

pub use api::{AppState, Clock, router, router_with, system_clock};
pub use repository::{HubPool, PostgresStorage, Repository, SqliteStorage};

// old paths, removed once every user names crate::repository
pub use repository::{pool, postgres};
// old paths, removed once every user names crate::repository
#[doc(hidden)]
pub mod storage {
    //! The old path of [`crate::repository`] and its SQLite backend.
    pub use crate::repository::sqlite::*;
    pub use crate::repository::*;
}
