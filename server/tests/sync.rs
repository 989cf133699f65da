//! Sync through HTTP on SQLite (the same cases run on PostgreSQL in tests/postgres.rs).
#![allow(clippy::unwrap_used)]

mod common;

fn backend() -> common::Backend {
    common::Backend::Sqlite
}

#[path = "cases/concurrency.rs"]
mod concurrency;
#[path = "cases/hostile_push.rs"]
mod hostile_push;
#[path = "cases/isolation.rs"]
mod isolation;
#[path = "cases/queue.rs"]
mod queue;
#[path = "cases/sync.rs"]
mod sync;
