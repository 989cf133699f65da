//! The storage backend on SQLite (the same cases run on PostgreSQL in tests/postgres.rs).
#![allow(clippy::unwrap_used)]

mod common;

fn backend() -> common::Backend {
    common::Backend::Sqlite
}

#[path = "cases/cluster.rs"]
mod cluster;
#[path = "cases/storage.rs"]
mod storage;
