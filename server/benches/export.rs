//! Export benchmark: time and peak memory of each export format for a repository of many
//! cases (default 10,000; `WARDCRF_BENCH_CASES=N` to change), on embedded SQLite.
//!
//! `cargo bench -p wardcrf-server --bench export` prints, per format, the time, the output's
//! size and the process's peak resident memory during the export (Linux: the peak is reset
//! through `/proc/self/clear_refs` before each export and read from `VmHWM`). Exports write
//! case by case, so the peak should stay flat as the number of cases grows.
//!
//! The cases are one complete icrown-core case (the core tests' fixture, entered field by field
//! on a device store) stored under many case ids, with their projections made by the server's
//! own start-up back-fill.

use std::io::Write;
use std::time::Instant;
use wardcrf_core::repository::HubStorage;
use wardcrf_core::{CaseStore, Catalog, FieldPath, Lang, Passphrase};
use wardcrf_server::export::pseudonym::PseudonymKey;
use wardcrf_server::export::{ExportOptions, Format, Research, export};
use wardcrf_server::{AppState, SqliteStorage};

const FULL_CASE: &str = include_str!("../../core/tests/fixtures/complete-case.json");

/// Counts the bytes written, keeping none.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process's peak resident memory in KiB since the last reset (Linux only).
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// One complete case's saved document, entered field by field on a device store.
fn one_document(dir: &std::path::Path) -> Vec<u8> {
    let mut store = CaseStore::create(
        &dir.join("device"),
        &Passphrase::insecure_for_tests("bench", 10),
    )
    .expect("a device store");
    store
        .sign_in_for_tests("nurse.bench")
        .expect("sign the bench nurse in");
    let values: serde_json::Value = serde_json::from_str(FULL_CASE).expect("the fixture");
    let case = store.create_case("icrown-core", &[]).expect("a case");
    for (field, value) in values.as_object().expect("an object") {
        if let Some(rows) = value.as_array() {
            for row in rows {
                let mut row = row.as_object().cloned().unwrap_or_default();
                row.remove("row_id");
                store.add_row(&case, field, &row, None).expect("a row");
            }
        } else {
            let _ = store.set_value(&case, &FieldPath::field(field), value.clone(), None);
        }
    }
    store.export_cases().expect("the case").remove(0).bytes
}

fn main() {
    let n: usize = std::env::var("WARDCRF_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("wardcrf-export-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let db = dir.join("repository.db");
    let doc = one_document(&dir);

    let t = Instant::now();
    let mut storage = SqliteStorage::open(&db).expect("the repository");
    for i in 0..n {
        let site = if i % 2 == 0 {
            "jp-tokyo-01"
        } else {
            "de-berlin-01"
        };
        storage
            .put_case(&format!("case-{i:06}"), site, "icrown-core", &doc, None)
            .expect("a case");
    }
    let state = AppState::new(storage, "bench-admin-token", wardcrf_server::system_clock());
    let projected = state.backfill_projections().expect("the projections");
    drop(state);
    println!(
        "export benchmark: {n} cases of icrown-core ({} B document each), seeded and projected in {:.1} s (not timed below)",
        doc.len(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(projected, n);

    let catalog = Catalog::bundled().expect("the bundled forms");
    let mut storage = SqliteStorage::open(&db).expect("the repository");
    let key = std::sync::Arc::new(PseudonymKey::random().expect("a key"));
    let research = Research::new("bench recipient", key).expect("a recipient");
    for (name, format, lang, research) in [
        ("csv", Format::Csv, None, None),
        ("csv with ja labels", Format::Csv, Some(Lang::Ja), None),
        ("odm", Format::Odm, None, None),
        ("fhir", Format::Fhir, None, None),
        ("csv research", Format::Csv, None, Some(research.clone())),
        ("odm research", Format::Odm, None, Some(research.clone())),
        ("fhir research", Format::Fhir, None, Some(research.clone())),
    ] {
        reset_peak();
        let before = peak_kib();
        let options = ExportOptions {
            site: None,
            lang,
            now: 1_800_000_000,
            research,
        };
        let t = Instant::now();
        let out = export(format, &mut storage, &catalog, &options, Counter(0)).expect("the export");
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_kib();
        println!(
            "  {name:<20} {secs:>7.2} s  {:>9.0} cases/s  {:>10.1} KB out  peak RSS {}",
            n as f64 / secs,
            out.0 as f64 / 1e3,
            match (before, peak) {
                (Some(b), Some(p)) => format!(
                    "{:.1} MiB (at start {:.1} MiB)",
                    p as f64 / 1024.0,
                    b as f64 / 1024.0
                ),
                _ => "not available on this platform".into(),
            }
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
