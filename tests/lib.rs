//! Cross-component scenario tests of WardCRF live beside this file (`sites_and_devices.rs`):
//! real `wardcrf-server` processes and device stores syncing over HTTP. This crate has no code
//! of its own; `tests/run` is the command that runs every suite of the workspace.
