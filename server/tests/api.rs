//! The HTTP API (and staff on devices) on SQLite (the same cases run on PostgreSQL in tests/postgres.rs).
#![allow(clippy::unwrap_used)]

mod common;

fn backend() -> common::Backend {
    common::Backend::Sqlite
}

#[path = "cases/api.rs"]
mod api;
#[path = "cases/staff.rs"]
mod staff;
