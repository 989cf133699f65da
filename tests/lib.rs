//! Cross-component scenario tests of WardCRF live beside this file: real `wardcrf-server`
//! processes (on SQLite, and on PostgreSQL with the `postgres-tests` feature), ward device
//! stores and the `wardcrf` command line, syncing over HTTP.
//!
//! - `sites_and_devices.rs`: three devices at two sites, random edits and sync orders, a server
//!   restart, conflicts and their resolution everywhere, site isolation; a server killed
//!   mid-sync and a batch sent twice.
//! - `http_faults.rs`: answers cut at every stage, truncated and garbled requests, a captive
//!   portal answering instead of the repository.
//! - `nurse_resolves_with_the_cli.rs`: the conflict-and-resolution scenario with the CLI only.
//! - `staff_sign_in.rs`: two staff members on one tablet through the CLI, online then offline:
//!   attribution, wrong credentials, PIN lock-out, a signature, recovery, deactivation.
//! - `sync_during_edits.rs`: a tablet edits cases while its sync is in flight; the edits are
//!   kept and reach the repository and another tablet with the next sync.
//! - `older_form_version.rs`: a case of an earlier core-form version (a committed store
//!   written by that version) syncs, is read as the current form reads it, and moves to the
//!   current version in one audited change that reaches every device.
//! - `common/`: the repository on either backend, devices, and the fault-injecting proxy.
//!
//! This crate has no code of its own; `tests/run` is the command that runs every suite.
