//! The web console on SQLite (the same cases run on PostgreSQL in tests/postgres.rs).
#![allow(clippy::unwrap_used)]

mod common;

fn backend() -> common::Backend {
    common::Backend::Sqlite
}

#[path = "cases/console.rs"]
mod console;
