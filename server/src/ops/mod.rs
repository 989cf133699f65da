//! What an operator watches the repository with: `GET /healthz` (the process answers),
//! `GET /readyz` (the database answers, at the schema this binary knows, and every further
//! readiness check passes: [`health`]) and `GET /metrics` (counters, gauges and latency
//! histograms in the Prometheus text format, behind their own token: [`metrics`]).
//!
//! None of them carries a patient value, a case, site or device id, a user name or a token.

pub mod health;
pub mod metrics;

pub use health::{Check, NotReady, Readiness};
pub use metrics::{METRICS_TOKEN_FILE, Metrics, ensure_metrics_token};
