//! The WardCRF repository server: enrolment of ward devices, token authentication and case
//! sync over HTTP(S) (contract: `docs/http-api.md`), storing in embedded SQLite or in PostgreSQL.
//!
//! - [`repository`]: the [`Repository`] trait, its rows and errors, the SQLite backend
//!   (also the core's `HubStorage`), the PostgreSQL backend (`--database-url`, same trait,
//!   same tables) and the pool of connections ([`HubPool`]; sync serialised per site).
//! - [`routes`]: the axum router, and what every request goes through (the admin token and
//!   body limits before any body is read, gzip, content negotiation).
//! - `api`: the handlers, one file per job (admin, enrol, sync, cases, export); [`error`]:
//!   their typed errors and HTTP answers; [`state`]: what they share ([`AppState`]).
//! - `projection`: the repository's side of a sync exchange (one transaction, retried when a
//!   case changed meanwhile, queuing each stored case), the projection of a case, and the
//!   workers that drain the projection queue ([`Workers`]).
//! - [`console`]: the web console at `/` (staff sign-in, overview, cases, conflict review
//!   and resolution, administration, exports) and `--demo`'s seeding.
//! - [`export`]: CSV and CDISC ODM exports of the stored cases, written case by case.
//! - `forms`: the bundled forms cases are checked against, compositions in a bounded cache.
//! - [`ops`]: `/healthz`, `/readyz` (with room for further readiness checks) and `/metrics`
//!   (Prometheus text, behind the metrics token).
//! - [`secret`]: random tokens and codes, stored only as SHA-256 hashes.
//! - [`backup`]: `wardcrf-server backup`, `restore` and `new-epoch`, and the lock a running
//!   server holds on its data directory.

pub(crate) mod api;
pub mod backup;
pub mod body;
pub mod console;
pub mod error;
pub mod export;
pub(crate) mod forms;
pub mod ops;
pub(crate) mod projection;
pub mod repository;
pub mod routes;
pub mod secret;
pub mod serve;
pub mod state;

pub use projection::Workers;
pub use repository::{HubPool, PostgresStorage, Repository, SqliteStorage};
pub use routes::{router, router_with};
pub use state::{AppState, Clock, Store, system_clock};
