//! Sync benchmarks: the real `wardcrf-server` binary on loopback, the real device client.
//!
//! Run: `cargo bench -p wardcrf-server --bench sync` (or `server/benches/run-sync-bench`, which
//! also runs it on PostgreSQL and compares with PouchDB). `WARDCRF_BENCH_QUICK=1` for a smoke
//! run (200 / 1,000 cases, 10 devices); `WARDCRF_BENCH_DATABASE_URL=postgres://...` to run a
//! second time on PostgreSQL (an existing, preferably empty, database);
//! `WARDCRF_BENCH_SIZES=10000 WARDCRF_BENCH_DEVICES=0` to run one store size and no
//! concurrent devices (for profiling).
//!
//! What is measured, per backend:
//! - initial sync device → server of 1,000 and 10,000 icrown-core cases of 87 fields each
//!   (57 case-level values, a pathogen test, a medication and a laboratory row), each case
//!   entered field by field as the store does (one automerge change per field, with its note);
//! - incremental sync after 1 case and after 10 % of the cases got one field edited
//!   (`set_value` of `vs_hr` with a reason, as a nurse correcting a value);
//! - a no-op sync with every case already on the server;
//! - 100 devices (threads, each its own store) at 4 sites syncing repeatedly against one server:
//!   each round a device edits one of its cases and syncs; syncs per second and latency;
//! - heavy exchanges: a device pushes 2,000 cases (800 quick) in the largest requests the
//!   repository takes (`MAX_PUSH_CASES` each, back to back) while a device of another site
//!   edits a case and syncs again and again; that device's sync latency meanwhile (the
//!   repository merges before it takes its write lock).
//!   `WARDCRF_BENCH_HEAVY_ONLY=1` runs only this scenario.
//!
//! Bytes are counted by a small TCP proxy between device and server (both directions, HTTP
//! headers included), the same method the PouchDB comparison uses. Device stores are built
//! outside the timed region: the case documents are generated with automerge exactly as the
//! store writes them (checked against the store's own `set_value`/`add_row` on three cases) and
//! imported with `import_cases`. Stores use a raw key (no passphrase KDF).
//!
//! Writes `target/bench/sync-wardcrf.json` (figures) and `target/bench/sync-dataset.json` (the
//! generated case values and edits, read by the PouchDB benchmark). Nothing is asserted about
//! the figures: a slow machine prints its numbers.

mod common;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};
use common::{Server, TempDir, run_tag};
use serde_json::{Map, Value as Json, json};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use wardcrf_core::repository::{Hub, MemoryHubStorage, case_projection};
use wardcrf_core::sync::{
    HttpTransport, MAX_PUSH_CASES, PROTOCOL, PUSH_BATCH, SyncRequest, SyncResponse, SyncSummary,
    Transport, TransportError, sync,
};
use wardcrf_core::{CaseExport, CaseStore, ChangeNote, FieldPath, RawKeyProvider, SecretKey};

const USER: &str = "nurse.bench";
const FORM: &str = "icrown-core";
/// The field every incremental edit changes (a corrected heart rate).
const EDIT_FIELD: &str = "vs_hr";
/// Base time of the generated changes (2024-03-01T00:00:00Z).
const T0: i64 = 1_709_251_200;

// ---------------------------------------------------------------------------------------------
// Configuration

#[derive(Debug, Clone)]
struct Config {
    quick: bool,
    /// Device store sizes for the initial / incremental / no-op runs.
    sizes: Vec<usize>,
    devices: usize,
    sites: usize,
    cases_per_device: usize,
    rounds: usize,
}

impl Config {
    fn from_env() -> Config {
        let quick = std::env::var("WARDCRF_BENCH_QUICK").is_ok_and(|v| v == "1");
        let mut config = Config::preset(quick);
        // For profiling one scenario: WARDCRF_BENCH_SIZES=10000 WARDCRF_BENCH_DEVICES=0.
        if let Ok(sizes) = std::env::var("WARDCRF_BENCH_SIZES") {
            config.sizes = sizes
                .split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("WARDCRF_BENCH_SIZES: numbers, comma-separated")
                })
                .collect();
        }
        if let Ok(devices) = std::env::var("WARDCRF_BENCH_DEVICES") {
            config.devices = devices
                .trim()
                .parse()
                .expect("WARDCRF_BENCH_DEVICES: a number");
        }
        config
    }

    fn preset(quick: bool) -> Config {
        if quick {
            Config {
                quick,
                sizes: vec![200, 1000],
                devices: 10,
                sites: 2,
                cases_per_device: 5,
                rounds: 5,
            }
        } else {
            Config {
                quick,
                sizes: vec![1000, 10_000],
                devices: 100,
                sites: 4,
                cases_per_device: 10,
                rounds: 10,
            }
        }
    }
}

fn out_dir() -> PathBuf {
    std::env::var_os("WARDCRF_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench"))
}

// ---------------------------------------------------------------------------------------------
// Generated cases

/// SplitMix64: fixed seeds, so every run (and the PouchDB side) sees the same values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// A decimal in [lo, hi] with `places` decimals.
    fn dec(&mut self, lo: f64, hi: f64, places: i32) -> Json {
        let scale = 10f64.powi(places);
        let v = self.range((lo * scale) as i64, (hi * scale) as i64) as f64 / scale;
        json!(v)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize].clone()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn hex(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }
}

/// Days since 1970-01-01 → (year, month, day) (proleptic Gregorian).
fn civil(days: i64) -> (i64, i64, i64) {
    let (y, m, d) = wardcrf_core::civil_from_days(days);
    (y, m.into(), d.into())
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
fn date(days: i64) -> String {
    wardcrf_core::Timestamp::from_unix_seconds(days * 86_400).iso_date()
}

const NAMES: [&str; 12] = [
    "Yamada Taro",
    "Suzuki Hanako",
    "Tanaka Ichiro",
    "Sato Yuki",
    "Watanabe Ken",
    "Ito Aiko",
    "Nakamura Sho",
    "Kobayashi Mei",
    "Müller Anna",
    "Schmidt Jonas",
    "Takahashi Ren",
    "Matsumoto Emi",
];

/// One case: the case id, case-level values in entry order, and rows (group, row id, values).
#[derive(Debug, Clone)]
struct CaseData {
    case_id: String,
    values: Vec<(String, Json)>,
    rows: Vec<(String, String, Map<String, Json>)>,
}

impl CaseData {
    fn fields(&self) -> usize {
        self.values.len() + self.rows.iter().map(|r| r.2.len()).sum::<usize>()
    }

    /// The case as one JSON document (for PouchDB): the values as `wardcrf validate` reads them.
    fn to_json(&self) -> Json {
        let mut values: Map<String, Json> = self.values.iter().cloned().collect();
        for (group, row_id, row) in &self.rows {
            let mut r = Map::new();
            r.insert("row_id".into(), json!(row_id));
            r.extend(row.clone());
            let rows = values.entry(group.clone()).or_insert_with(|| json!([]));
            if let Some(a) = rows.as_array_mut() {
                a.push(Json::Object(r));
            }
        }
        json!({"case_id": self.case_id, "form_id": FORM, "status": "draft", "values": values})
    }

    fn value(&self, field: &str) -> Option<&Json> {
        self.values.iter().find(|(f, _)| f == field).map(|(_, v)| v)
    }
}

/// A realistic icrown-core case (values vary per case; the rules of the form hold).
fn generate_case(rng: &mut Rng, site_no: usize, n: usize) -> CaseData {
    let mut v: Vec<(String, Json)> = Vec::new();
    let mut put = |k: &str, val: Json| v.push((k.to_string(), val));
    // 2024-01-01 = day 19723; admissions over two years.
    let adm = 19_723 + rng.range(0, 700);
    let (ay, am, ad) = civil(adm);
    let (by, bm, bd) = (ay - rng.range(18, 92), rng.range(1, 12), rng.range(1, 28));
    let age = ay - by - i64::from((am, ad) < (bm, bd));
    let female = rng.chance(45);
    put("case_id", json!(format!("JP-{site_no:02}-{n:05}")));
    put(
        "hospital_record_number",
        json!(format!("MRN-{:07}", rng.range(1, 9_999_999))),
    );
    put("patient_name", json!(rng.pick(&NAMES)));
    put("date_of_birth", json!(format!("{by:04}-{bm:02}-{bd:02}")));
    put("age_years", json!(age));
    put("sex_at_birth", json!(if female { 2 } else { 1 }));
    put("admission_date", json!(date(adm)));
    put("symptom_onset_date", json!(date(adm - rng.range(1, 7))));
    put("target_infection", json!(1));
    put("case_classification", json!(rng.pick(&[1, 1, 1, 2])));
    put("consent_status", json!(rng.pick(&[1, 1, 1, 2])));
    put("travel_14d", json!(rng.pick(&[0, 0, 0, 99])));
    put("contact_with_case", json!(rng.pick(&[0, 1, 1, 99])));
    put("animal_contact", json!(0));
    put("tick_bite", json!(0));
    put("prior_covid19", json!(rng.pick(&[0, 0, 99])));
    put("covid19_vaccinated", json!(1));
    put(
        "covid19_last_vaccine_date",
        json!(date(adm - rng.range(60, 700))),
    );
    for c in [
        "comorb_chronic_cardiac",
        "comorb_hypertension",
        "comorb_chronic_pulmonary",
        "comorb_asthma",
        "comorb_ckd",
        "comorb_liver",
        "comorb_hiv",
        "comorb_immunosuppression",
        "comorb_transplant",
        "comorb_chronic_neuro",
        "comorb_obesity",
    ] {
        let yes = rng.chance(if c == "comorb_hypertension" { 35 } else { 8 });
        put(c, json!(if yes { 1 } else { 0 }));
    }
    put("comorb_diabetes", json!(rng.pick(&[0, 0, 0, 2])));
    put("comorb_malignancy", json!(rng.pick(&[0, 0, 0, 0, 2])));
    put("smoking_status", json!(rng.pick(&[1, 2, 3, 3, 99])));
    let hh = rng.range(8, 20);
    let mm = rng.range(0, 59);
    put(
        "vs_datetime",
        json!(format!("{}T{hh:02}:{mm:02}", date(adm))),
    );
    put("vs_temp", rng.dec(36.4, 39.8, 1));
    put("vs_hr", json!(rng.range(62, 128)));
    put("vs_rr", json!(rng.range(14, 30)));
    let sbp = rng.range(100, 165);
    put("vs_sbp", json!(sbp));
    put("vs_dbp", json!(rng.range(55, (sbp - 25).min(98))));
    let oxygen = rng.chance(40);
    put(
        "vs_spo2",
        json!(if oxygen {
            rng.range(88, 94)
        } else {
            rng.range(94, 99)
        }),
    );
    put("vs_spo2_on_o2", json!(0));
    put("vs_gcs", json!(rng.pick(&[15, 15, 15, 14, 13])));
    put(
        "vs_height",
        if female {
            rng.dec(145.0, 172.0, 1)
        } else {
            rng.dec(158.0, 188.0, 1)
        },
    );
    put("vs_weight", rng.dec(42.0, 105.0, 1));
    let icu = rng.chance(12);
    put("proc_oxygen", json!(i64::from(oxygen)));
    put("proc_hfnc", json!(i64::from(oxygen && rng.chance(15))));
    put("proc_niv", json!(0));
    put("proc_imv", json!(0));
    put("proc_ecmo", json!(0));
    put("proc_rrt", json!(0));
    put("proc_icu", json!(i64::from(icu)));
    put("proc_vasopressor", json!(i64::from(icu && rng.chance(30))));
    put("proc_transfusion", json!(0));
    put("proc_liver_transplant", json!(0));
    let stay = rng.range(3, 21);
    put("outcome", json!(1));
    put("outcome_date", json!(date(adm + stay)));
    put("outcome_o2_at_discharge", json!(0));
    let covid = rng.chance(75);
    put(
        "final_diagnosis",
        json!(if covid { "covid_19" } else { "influenza" }),
    );

    let mut rows = Vec::new();
    let mut test = Map::new();
    test.insert(
        "test_collection_date".into(),
        json!(date(adm - rng.range(0, 1))),
    );
    test.insert("test_specimen".into(), json!(rng.pick(&[12, 12, 7, 15])));
    test.insert(
        "test_pathogen".into(),
        json!(if covid { "sars_cov_2" } else { "influenza_a" }),
    );
    test.insert("test_method".into(), json!(1));
    test.insert("test_result".into(), json!(1));
    test.insert("test_ct_value".into(), rng.dec(16.0, 34.0, 1));
    test.insert(
        "test_clade_lineage".into(),
        json!(if covid {
            rng.pick(&["JN.1", "KP.2", "XBB.1.5", "KP.3.1.1"])
        } else {
            rng.pick(&["H1N1pdm09", "H3N2"])
        }),
    );
    rows.push(("pathogen_tests".to_string(), rng.hex(), test));
    let mut med = Map::new();
    med.insert("med_class".into(), json!(8));
    let (name, route, dose) = if covid {
        rng.pick(&[
            ("J05AB16", 4, 200),
            ("J05AE30", 1, 300),
            ("J05AB18", 1, 800),
        ])
    } else {
        ("J05AH02", 1, 75)
    };
    med.insert("med_name".into(), json!(name));
    med.insert("med_route".into(), json!(route));
    med.insert("med_dose".into(), json!(dose));
    med.insert("med_dose_unit".into(), json!("mg"));
    med.insert("med_start_date".into(), json!(date(adm)));
    med.insert(
        "med_end_date".into(),
        json!(date(adm + rng.range(3, 5).min(stay))),
    );
    rows.push(("medications".to_string(), rng.hex(), med));
    let mut lab = Map::new();
    lab.insert(
        "lab_datetime".into(),
        json!(format!(
            "{}T{:02}:{:02}",
            date(adm),
            rng.range(6, 9),
            rng.range(0, 59)
        )),
    );
    let wbc = rng.range(250, 1500);
    lab.insert("lab_wbc".into(), json!(wbc as f64 / 100.0));
    lab.insert(
        "lab_lymph".into(),
        json!(rng.range(30, (wbc / 3).max(31)) as f64 / 100.0),
    );
    lab.insert("lab_hgb".into(), rng.dec(9.5, 16.5, 1));
    lab.insert("lab_plt".into(), json!(rng.range(90, 420)));
    lab.insert("lab_crp".into(), rng.dec(2.0, 180.0, 1));
    lab.insert("lab_pct".into(), rng.dec(0.02, 2.5, 2));
    lab.insert("lab_ast".into(), json!(rng.range(14, 120)));
    lab.insert("lab_alt".into(), json!(rng.range(8, 110)));
    lab.insert("lab_tbil".into(), rng.dec(0.3, 1.8, 2));
    lab.insert("lab_creat".into(), rng.dec(0.45, 1.6, 2));
    lab.insert("lab_na".into(), json!(rng.range(131, 146)));
    lab.insert("lab_ldh".into(), json!(rng.range(150, 520)));
    lab.insert("lab_ck".into(), json!(rng.range(40, 600)));
    lab.insert("lab_ddimer".into(), rng.dec(0.3, 4.0, 2));
    lab.insert("lab_inr".into(), rng.dec(0.9, 1.3, 2));
    rows.push(("labs".to_string(), rng.hex(), lab));
    CaseData {
        case_id: rng.hex(),
        values: v,
        rows,
    }
}

/// `n` cases for site number `site_no` (seeded by it, so a set is the same in every run).
fn generate_set(site_no: usize, n: usize) -> Vec<CaseData> {
    let mut rng = Rng(0x5743_5246_5359_4e43 ^ (site_no as u64) << 32);
    (0..n)
        .map(|i| generate_case(&mut rng, site_no, i))
        .collect()
}

/// The edited value of [`EDIT_FIELD`] in the `k`-th edit round.
fn edited_value(case: &CaseData, k: i64) -> Json {
    let hr = case.value(EDIT_FIELD).and_then(Json::as_i64).unwrap_or(80);
    json!(60 + (hr - 60 + 7 * k).rem_euclid(70))
}

// ---------------------------------------------------------------------------------------------
// Case documents as the store writes them

/// What every new case document starts with, read from one the store created itself.
struct DocTemplate {
    meta: Vec<(String, String)>,
    groups: Vec<String>,
}

impl DocTemplate {
    fn from_store(store: &mut CaseStore) -> DocTemplate {
        let id = store
            .create_case(FORM, &[], USER)
            .expect("create a template case");
        let export = store
            .export_cases()
            .expect("export the template")
            .into_iter()
            .find(|c| c.case_id == id)
            .expect("the template case");
        let doc = AutoCommit::load(&export.bytes).expect("load the template");
        let obj = |parent: &automerge::ObjId, key: &str| match doc.get(parent, key) {
            Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
            other => panic!("template document has no '{key}' map: {other:?}"),
        };
        let case = obj(&ROOT, "case");
        let meta = doc
            .keys(&case)
            .map(|k| {
                let v = match doc.get(&case, k.as_str()) {
                    Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
                        automerge::ScalarValue::Str(s) => s.to_string(),
                        other => panic!("meta {k} is {other:?}"),
                    },
                    other => panic!("meta {k} is {other:?}"),
                };
                (k, v)
            })
            .collect();
        let rows = obj(&ROOT, "rows");
        let groups = doc.keys(&rows).collect();
        DocTemplate { meta, groups }
    }

    /// The saved document of `case` entered by `actor` one field at a time (as
    /// `CaseStore::create_case`, `set_value` and `add_row` do: one change per entry).
    fn build(&self, actor: &ActorId, case: &CaseData, seed: i64) -> Vec<u8> {
        let mut doc = AutoCommit::new().with_actor(actor.clone());
        let mut t = T0 + seed * 3_600;
        let commit = |doc: &mut AutoCommit, note: &ChangeNote, t: &mut i64| {
            let message = serde_json::to_string(note).expect("a note serializes");
            doc.commit_with(CommitOptions::default().with_message(message).with_time(*t));
            *t += 20 + (*t % 17);
        };
        let c = doc
            .put_object(ROOT, "case", ObjType::Map)
            .expect("put case");
        for (k, v) in &self.meta {
            doc.put(&c, k.as_str(), v.as_str()).expect("put meta");
        }
        doc.put(ROOT, "status", "draft").expect("put status");
        let values = doc
            .put_object(ROOT, "values", ObjType::Map)
            .expect("put values");
        let rows = doc
            .put_object(ROOT, "rows", ObjType::Map)
            .expect("put rows");
        let mut groups = std::collections::HashMap::new();
        for g in &self.groups {
            let id = doc
                .put_object(&rows, g.as_str(), ObjType::Map)
                .expect("put group");
            groups.insert(g.clone(), id);
        }
        commit(&mut doc, &ChangeNote::new(USER, "create"), &mut t);
        for (field, value) in &case.values {
            doc.put(&values, field.as_str(), value.to_string())
                .expect("put value");
            let mut note = ChangeNote::new(USER, "set");
            note.field = Some(field.clone());
            note.new = Some(value.clone());
            commit(&mut doc, &note, &mut t);
        }
        for (group, row_id, row) in &case.rows {
            let g = groups.get(group).expect("a group of the form");
            let r = doc
                .put_object(g, row_id.as_str(), ObjType::Map)
                .expect("put row");
            for (k, v) in row {
                doc.put(&r, k.as_str(), v.to_string())
                    .expect("put row value");
            }
            let mut note = ChangeNote::new(USER, "row_add");
            note.group = Some(group.clone());
            note.row_id = Some(row_id.clone());
            note.new = Some(Json::Object(row.clone()));
            commit(&mut doc, &note, &mut t);
        }
        doc.save()
    }
}

fn actor_of(store: &CaseStore) -> ActorId {
    let hex = store.device_id();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("device id is hex"))
        .collect();
    ActorId::from(bytes)
}

fn new_store(dir: &Path) -> CaseStore {
    let provider = RawKeyProvider::new(SecretKey::generate().expect("a random key"));
    CaseStore::create(dir, &provider).expect("create a device store")
}

/// Fills `store` with `cases` (generated documents, imported 500 at a time).
fn fill(store: &mut CaseStore, template: &DocTemplate, cases: &[CaseData]) {
    let actor = actor_of(store);
    for (k, chunk) in cases.chunks(500).enumerate() {
        let batch: Vec<CaseExport> = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| CaseExport {
                case_id: c.case_id.clone(),
                bytes: template.build(&actor, c, (k * 500 + i) as i64),
            })
            .collect();
        let summary = store.import_cases(&batch).expect("import cases");
        assert_eq!(summary.new_cases, batch.len(), "every case is new");
    }
}

/// Values as the store shows them, rows without their ids (to compare two ways of entering).
fn comparable(mut values: Map<String, Json>) -> Map<String, Json> {
    for v in values.values_mut() {
        if let Some(rows) = v.as_array_mut() {
            for r in rows.iter_mut().filter_map(Json::as_object_mut) {
                r.remove("row_id");
            }
        }
    }
    values
}

/// Checks the generated documents against the store's own entry path on a few cases: the same
/// values through `set_value`/`add_row` (which validate and canonicalise) must read back equal.
fn check_generator(scratch: &Path, template: &DocTemplate) {
    let mut store = new_store(&scratch.join("check"));
    let actor = actor_of(&store);
    for (i, case) in generate_set(99, 3).iter().enumerate() {
        let real = store
            .create_case(FORM, &[], USER)
            .expect("create a check case");
        for (field, value) in &case.values {
            store
                .set_value(&real, &FieldPath::field(field), value.clone(), USER, None)
                .unwrap_or_else(|e| panic!("generated {field} = {value} is refused: {e}"));
        }
        for (group, _, row) in &case.rows {
            store
                .add_row(&real, group, row, USER, None)
                .unwrap_or_else(|e| panic!("generated {group} row is refused: {e}"));
        }
        let bytes = template.build(&actor, case, i as i64);
        store
            .import_cases(&[CaseExport {
                case_id: case.case_id.clone(),
                bytes,
            }])
            .expect("import a generated case");
        let a = store.case(&real).expect("read the entered case");
        let b = store.case(&case.case_id).expect("read the generated case");
        assert_eq!(
            comparable(a.values),
            comparable(b.values),
            "generated case documents must read like entered ones"
        );
        assert_eq!(a.form_version, b.form_version);
        assert!(
            b.report.errors.is_empty(),
            "generated case has errors: {:?}",
            b.report.errors
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The server and the byte-counting proxy

/// A TCP proxy on loopback counting bytes in both directions.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicU64::new(0));
        let (u, d) = (up.clone(), down.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (c2, s2) = match (client.try_clone(), server.try_clone()) {
                    (Ok(c), Ok(s)) => (c, s),
                    _ => continue,
                };
                let (u, d) = (u.clone(), d.clone());
                std::thread::spawn(move || pump(client, server, &u));
                std::thread::spawn(move || pump(s2, c2, &d));
            }
        });
        Proxy { addr, up, down }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::SeqCst),
            self.down.load(Ordering::SeqCst),
        )
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, counter: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                counter.fetch_add(n as u64, Ordering::SeqCst);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

// ---------------------------------------------------------------------------------------------
// Measurements

#[derive(Debug, Clone)]
struct Run {
    name: String,
    cases: usize,
    changed: usize,
    seconds: f64,
    bytes_up: u64,
    bytes_down: u64,
    exchanges: usize,
    pushed: usize,
    /// Time inside `Transport::exchange` (request encoding, HTTP, the server, response
    /// decoding); the rest is the device's own work (reading and applying cases).
    exchange_seconds: f64,
    /// CPU time (user + system) of the server process during the sync.
    server_cpu_seconds: f64,
    /// CPU time of this process (the device and the byte-counting proxy) during the sync.
    device_cpu_seconds: f64,
}

impl Run {
    fn to_json(&self) -> Json {
        json!({
            "name": self.name, "cases": self.cases, "changed": self.changed,
            "seconds": self.seconds,
            "cases_per_s": self.changed as f64 / self.seconds.max(1e-9),
            "bytes_up": self.bytes_up, "bytes_down": self.bytes_down,
            "bytes_total": self.bytes_up + self.bytes_down,
            "bytes_per_changed_case": (self.bytes_up + self.bytes_down) as f64 / self.changed.max(1) as f64,
            "exchanges": self.exchanges, "pushed": self.pushed,
            "exchange_seconds": self.exchange_seconds,
            "device_seconds": self.seconds - self.exchange_seconds,
            "server_cpu_seconds": self.server_cpu_seconds,
            "device_cpu_seconds": self.device_cpu_seconds,
        })
    }
}

/// A transport that adds up the time spent in exchanges.
struct Timed<'a> {
    inner: &'a HttpTransport,
    spent: std::cell::Cell<Duration>,
}

impl Transport for Timed<'_> {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        let t = Instant::now();
        let result = self.inner.exchange(request);
        self.spent.set(self.spent.get() + t.elapsed());
        result
    }
}

/// CPU time (user + system, seconds) a process has used so far, from `/proc/PID/stat`
/// (Linux; its clock ticks are USER_HZ, 100 per second). `None` elsewhere.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// One timed sync of `store` through the proxy.
fn timed_sync(
    name: &str,
    store: &mut CaseStore,
    transport: &HttpTransport,
    server: &Server,
    proxy: &Proxy,
    cases: usize,
    changed: usize,
) -> Run {
    let server_pid = server.child.id().to_string();
    let cpu = || {
        (
            cpu_seconds(&server_pid).unwrap_or(0.0),
            cpu_seconds("self").unwrap_or(0.0),
        )
    };
    let (s0, c0) = cpu();
    let (u0, d0) = proxy.counts();
    let timed = Timed {
        inner: transport,
        spent: std::cell::Cell::new(Duration::ZERO),
    };
    let t = Instant::now();
    let summary: SyncSummary = sync(store, &timed, &mut |_| {}).expect("sync");
    let seconds = t.elapsed().as_secs_f64();
    let (u1, d1) = proxy.counts();
    let (s1, c1) = cpu();
    assert_eq!(summary.pushed, changed, "{name}: pushed what changed");
    Run {
        name: name.to_string(),
        cases,
        changed,
        seconds,
        bytes_up: u1 - u0,
        bytes_down: d1 - d0,
        exchanges: summary.exchanges,
        pushed: summary.pushed,
        exchange_seconds: timed.spent.get().as_secs_f64(),
        server_cpu_seconds: s1 - s0,
        device_cpu_seconds: c1 - c0,
    }
}

/// Edits `field` of the given cases (outside any timed region).
fn edit(store: &mut CaseStore, cases: &[&CaseData], round: i64) {
    for c in cases {
        store
            .set_value(
                &c.case_id,
                &FieldPath::field(EDIT_FIELD),
                edited_value(c, round),
                USER,
                Some("re-measured"),
            )
            .expect("edit a case");
    }
}

/// Initial, incremental (1 case, 10 %) and no-op syncs of a store of `cases.len()` cases.
fn store_runs(
    server: &Server,
    proxy: &Proxy,
    template: &DocTemplate,
    scratch: &Path,
    site: &str,
    cases: &[CaseData],
) -> Vec<Run> {
    let n = cases.len();
    let t = Instant::now();
    let mut store = new_store(&scratch.join(format!("device-{n}")));
    fill(&mut store, template, cases);
    println!(
        "  built a device store of {n} cases in {:.1} s (not timed)",
        t.elapsed().as_secs_f64()
    );
    server.add_site(site);
    let token = server.enrol(&mut store, site);
    let transport = HttpTransport::new(&proxy.url(), &token).expect("device transport");
    let mut runs = Vec::new();
    runs.push(timed_sync(
        "initial", &mut store, &transport, server, proxy, n, n,
    ));
    assert_eq!(
        server.site_cases(site),
        n as u64,
        "the server holds every case"
    );
    edit(&mut store, &[&cases[0]], 1);
    runs.push(timed_sync(
        "incremental_1",
        &mut store,
        &transport,
        server,
        proxy,
        n,
        1,
    ));
    let tenth: Vec<&CaseData> = cases.iter().step_by(10).collect();
    edit(&mut store, &tenth, 2);
    runs.push(timed_sync(
        "incremental_10pct",
        &mut store,
        &transport,
        server,
        proxy,
        n,
        tenth.len(),
    ));
    runs.push(timed_sync(
        "noop", &mut store, &transport, server, proxy, n, 0,
    ));
    for r in &runs {
        print_run(r);
    }
    runs
}

fn print_run(r: &Run) {
    println!(
        "  {:<18} {:>6} cases {:>6} changed {:>9.3} s {:>9.0} cases/s {:>12} B up {:>12} B down {:>9.0} B/changed case {:>4} exchanges ({:.3} s in them); CPU: server {:.2} s, device {:.2} s",
        r.name,
        r.cases,
        r.changed,
        r.seconds,
        r.changed as f64 / r.seconds.max(1e-9),
        r.bytes_up,
        r.bytes_down,
        (r.bytes_up + r.bytes_down) as f64 / r.changed.max(1) as f64,
        r.exchanges,
        r.exchange_seconds,
        r.server_cpu_seconds,
        r.device_cpu_seconds
    );
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `devices` devices spread over `sites` sites, each with its own store, syncing repeatedly.
fn concurrent(
    server: &Server,
    template: &DocTemplate,
    scratch: &Path,
    tag: &str,
    config: &Config,
) -> Json {
    if config.devices == 0 {
        return json!(null);
    }
    let sites: Vec<String> = (0..config.sites)
        .map(|s| format!("bench-{tag}-c{s}"))
        .collect();
    for s in &sites {
        server.add_site(s);
    }
    let t = Instant::now();
    let mut devices = Vec::new();
    for d in 0..config.devices {
        let mut store = new_store(&scratch.join(format!("conc-{d}")));
        let cases = generate_set(1000 + d, config.cases_per_device);
        fill(&mut store, template, &cases);
        let token = server.enrol(&mut store, &sites[d % sites.len()]);
        devices.push((store, token, cases));
    }
    println!(
        "  built and enrolled {} device stores of {} cases in {:.1} s (not timed)",
        config.devices,
        config.cases_per_device,
        t.elapsed().as_secs_f64()
    );
    let url = server.url();
    let rounds = config.rounds;
    let n = devices.len();
    let setup_barrier = Arc::new(Barrier::new(n + 1));
    let start_barrier = Arc::new(Barrier::new(n + 1));
    let mut handles = Vec::new();
    for (mut store, token, cases) in devices {
        let url = url.clone();
        let (setup_barrier, start_barrier) = (setup_barrier.clone(), start_barrier.clone());
        handles.push(std::thread::spawn(move || {
            let transport = HttpTransport::new(&url, &token).expect("device transport");
            // First sync: push its own cases, pull the site's (not measured).
            sync(&mut store, &transport, &mut |_| {}).expect("first sync");
            setup_barrier.wait();
            start_barrier.wait();
            let mut latencies = Vec::with_capacity(rounds);
            let mut pulled = 0;
            for round in 0..rounds {
                let case = &cases[round % cases.len()];
                edit(&mut store, &[case], 10 + round as i64);
                let t = Instant::now();
                let s = sync(&mut store, &transport, &mut |_| {}).expect("sync");
                latencies.push(t.elapsed());
                pulled += s.pulled;
            }
            (latencies, pulled)
        }));
    }
    let t = Instant::now();
    setup_barrier.wait();
    let t_setup = t.elapsed();
    start_barrier.wait();
    let t = Instant::now();
    let mut all = Vec::new();
    let mut pulled = 0;
    for h in handles {
        let (lat, p) = h.join().expect("a device thread");
        all.extend(lat);
        pulled += p;
    }
    let wall = t.elapsed();
    all.sort();
    let syncs = all.len();
    let per_s = syncs as f64 / wall.as_secs_f64();
    let (p50, p99, max) = (
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or_default(),
    );
    println!(
        "  first sync of all devices at once (push own, pull site's): {:.1} s",
        t_setup.as_secs_f64()
    );
    println!(
        "  {n} devices × {rounds} rounds (edit 1 case, sync): {syncs} syncs in {:.2} s = {per_s:.1} syncs/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {pulled} cases pulled from site peers",
        wall.as_secs_f64(),
        ms(p50),
        ms(p99),
        ms(max)
    );
    json!({
        "devices": n, "sites": config.sites, "cases_per_device": config.cases_per_device,
        "rounds": rounds, "syncs": syncs, "seconds": wall.as_secs_f64(), "syncs_per_s": per_s,
        "p50_ms": ms(p50), "p99_ms": ms(p99), "max_ms": ms(max), "pulled": pulled,
        "first_sync_all_seconds": t_setup.as_secs_f64(),
    })
}

/// One site's device pushes a large store in the largest requests the repository takes
/// ([`MAX_PUSH_CASES`] new cases each, back to back) while a device of another site edits a
/// case and syncs, again and again until the heavy exchanges are answered.
fn heavy_exchange(
    server: &Server,
    template: &DocTemplate,
    scratch: &Path,
    tag: &str,
    config: &Config,
) -> Json {
    let n = MAX_PUSH_CASES * if config.quick { 2 } else { 5 };
    let (heavy_site, light_site) = (format!("bench-{tag}-heavy"), format!("bench-{tag}-light"));
    server.add_site(&heavy_site);
    server.add_site(&light_site);
    let mut heavy = new_store(&scratch.join("heavy"));
    let cases = generate_set(2000, n);
    fill(&mut heavy, template, &cases);
    let heavy_token = server.enrol(&mut heavy, &heavy_site);
    let push = heavy
        .sync_outbox()
        .expect("outbox")
        .iter()
        .map(|id| heavy.sync_push(id))
        .collect::<Result<Vec<_>, _>>()
        .expect("push");
    let requests: Vec<SyncRequest> = push
        .chunks(MAX_PUSH_CASES)
        .map(|part| SyncRequest {
            protocol: PROTOCOL,
            cursor: 0,
            push: part.to_vec(),
        })
        .collect();
    let mut light = new_store(&scratch.join("light"));
    let light_cases = generate_set(2001, 5);
    fill(&mut light, template, &light_cases);
    let light_token = server.enrol(&mut light, &light_site);
    let url = server.url();
    let transport = HttpTransport::new(&url, &light_token).expect("device transport");
    sync(&mut light, &transport, &mut |_| {}).expect("first sync");
    let mut round = 0;
    let mut sync_once = |light: &mut CaseStore| {
        edit(
            light,
            &[&light_cases[round % light_cases.len()]],
            100 + round as i64,
        );
        round += 1;
        let t = Instant::now();
        sync(light, &transport, &mut |_| {}).expect("sync");
        t.elapsed()
    };
    let mut idle: Vec<Duration> = (0..10).map(|_| sync_once(&mut light)).collect();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heavy_thread = {
        let (url, done) = (url.clone(), done.clone());
        std::thread::spawn(move || {
            let transport = HttpTransport::new(&url, &heavy_token).expect("heavy transport");
            let t = Instant::now();
            let mut answered = Ok(0);
            for request in &requests {
                match transport.exchange(request) {
                    Ok(a) => answered = answered.map(|n| n + a.cases.len()),
                    Err(e) => {
                        answered = Err(e);
                        break;
                    }
                }
            }
            done.store(true, Ordering::Release);
            (t.elapsed(), answered)
        })
    };
    let mut during = Vec::new();
    while !done.load(Ordering::Acquire) {
        during.push(sync_once(&mut light));
    }
    let (heavy_time, answer) = heavy_thread.join().expect("the heavy exchange");
    let stored = answer.expect("the heavy exchange is answered");
    idle.sort();
    during.sort();
    let max = |v: &[Duration]| v.last().copied().unwrap_or_default();
    println!(
        "  {} exchanges of {MAX_PUSH_CASES} cases ({stored} answered) took {:.2} s; meanwhile a device of another site synced {} times: p50 {:.1} ms, max {:.1} ms (idle: p50 {:.1} ms, max {:.1} ms)",
        n / MAX_PUSH_CASES,
        heavy_time.as_secs_f64(),
        during.len(),
        ms(percentile(&during, 0.5)),
        ms(max(&during)),
        ms(percentile(&idle, 0.5)),
        ms(max(&idle)),
    );
    json!({
        "cases": n, "heavy_seconds": heavy_time.as_secs_f64(), "other_site_syncs": during.len(),
        "other_site_p50_ms": ms(percentile(&during, 0.5)), "other_site_max_ms": ms(max(&during)),
        "idle_p50_ms": ms(percentile(&idle, 0.5)), "idle_max_ms": ms(max(&idle)),
    })
}

fn backend(
    name: &str,
    database_url: Option<&str>,
    template: &DocTemplate,
    sets: &[Vec<CaseData>],
    config: &Config,
) -> Json {
    println!("\n== {name}");
    let scratch = TempDir::new(name);
    let server = Server::start(database_url);
    let tag = run_tag();
    println!("- one heavy exchange while another site syncs");
    let heavy = heavy_exchange(&server, template, &scratch.0, &tag, config);
    if std::env::var("WARDCRF_BENCH_HEAVY_ONLY").is_ok_and(|v| v == "1") {
        return json!({"heavy_exchange": heavy});
    }
    let proxy = Proxy::start(server.addr);
    let mut runs = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        println!("- device store of {} cases", set.len());
        runs.extend(store_runs(
            &server,
            &proxy,
            template,
            &scratch.0,
            &format!("bench-{tag}-s{i}"),
            set,
        ));
    }
    println!(
        "- {} concurrent devices at {} sites",
        config.devices, config.sites
    );
    let conc = concurrent(&server, template, &scratch.0, &tag, config);
    json!({
        "runs": runs.iter().map(Run::to_json).collect::<Vec<_>>(),
        "concurrent": conc,
        "heavy_exchange": heavy,
    })
}

/// Where an initial sync's time goes, per case, measured step by step in this process on the
/// first data set: the device reading what to push, JSON, the repository's merge (in memory,
/// no database), the projection (read + validate), the device applying the answers.
fn breakdown(template: &DocTemplate, scratch: &Path, cases: &[CaseData]) -> Json {
    let mut store = new_store(&scratch.join("breakdown"));
    fill(&mut store, template, cases);
    let n = cases.len() as f64;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n;
    let ids = store.sync_outbox().expect("outbox");
    let t = Instant::now();
    let pushes: Vec<_> = ids
        .iter()
        .map(|id| store.sync_push(id).expect("sync_push"))
        .collect();
    let t_push = t.elapsed();
    let requests: Vec<SyncRequest> = pushes
        .chunks(PUSH_BATCH)
        .map(|c| SyncRequest {
            protocol: PROTOCOL,
            cursor: 0,
            push: c.to_vec(),
        })
        .collect();
    let t = Instant::now();
    let bodies: Vec<Vec<u8>> = requests
        .iter()
        .map(|r| serde_json::to_vec(r).expect("encode"))
        .collect();
    let t_encode = t.elapsed();
    let t = Instant::now();
    for b in &bodies {
        std::hint::black_box(serde_json::from_slice::<SyncRequest>(b).expect("decode"));
    }
    let t_decode = t.elapsed();
    let mut hub = Hub::new(MemoryHubStorage::default());
    let t = Instant::now();
    let responses: Vec<SyncResponse> = requests
        .iter()
        .map(|r| {
            hub.exchange("site", &store.device_id(), r)
                .expect("exchange")
        })
        .collect();
    let t_hub = t.elapsed();
    let catalog = wardcrf_core::Catalog::bundled().expect("bundled forms");
    let form = catalog.form(FORM, &[]).expect("the core form");
    let t = Instant::now();
    for p in &pushes {
        let projection = case_projection(&p.changes).expect("projection");
        let report = wardcrf_core::validate(
            &form,
            &projection.values,
            &wardcrf_core::Context {
                today: None,
                completing: false,
            },
        );
        std::hint::black_box(report.to_json(wardcrf_core::Lang::En));
    }
    let t_projection = t.elapsed();
    let t = Instant::now();
    for r in &responses {
        for c in &r.cases {
            store.sync_apply(c).expect("apply");
        }
    }
    let t_apply = t.elapsed();
    let b = json!({
        "cases": cases.len(),
        "device_push_us": us(t_push),
        "json_encode_us": us(t_encode),
        "json_decode_us": us(t_decode),
        "hub_merge_us": us(t_hub),
        "projection_us": us(t_projection),
        "device_apply_us": us(t_apply),
    });
    println!(
        "where an initial sync's time goes, per case ({} cases, measured step by step in-process): device reads what to push {:.0} µs; \
         request JSON encode {:.0} µs + decode {:.0} µs; repository merge in memory (no database) {:.0} µs; projection (read + validate) {:.0} µs; \
         device applies the answer {:.0} µs. The rest of an exchange is HTTP and the repository's database.",
        cases.len(),
        us(t_push),
        us(t_encode),
        us(t_decode),
        us(t_hub),
        us(t_projection),
        us(t_apply)
    );
    b
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is ignored (one benchmark).
    let config = Config::from_env();
    let database_url = std::env::var("WARDCRF_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let out = out_dir();
    std::fs::create_dir_all(&out).expect("create target/bench");
    println!(
        "WardCRF sync benchmark{}: wardcrf-server on loopback, device client over HTTP, bytes counted by a TCP proxy; {} CPUs, load average {}",
        if config.quick { " (quick)" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );

    let scratch = TempDir::new("setup");
    let mut store = new_store(&scratch.0.join("template"));
    let template = DocTemplate::from_store(&mut store);
    drop(store);
    check_generator(&scratch.0, &template);
    let sets: Vec<Vec<CaseData>> = config
        .sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| generate_set(i + 1, n))
        .collect();
    let fields = sets[0][0].fields();
    let actor = ActorId::random();
    let doc_bytes: Vec<usize> = sets[0]
        .iter()
        .take(100)
        .enumerate()
        .map(|(i, c)| template.build(&actor, c, i as i64).len())
        .collect();
    let json_bytes: Vec<usize> = sets[0]
        .iter()
        .take(100)
        .map(|c| c.to_json().to_string().len())
        .collect();
    let avg = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
    println!(
        "cases: icrown-core, {fields} fields each (57 case-level values + pathogen test, medication and lab rows), entered one change per field; \
         mean automerge document {:.0} B (saved, with the audit trail), mean plain JSON of the values {:.0} B",
        avg(&doc_bytes),
        avg(&json_bytes)
    );

    // The data set for the PouchDB benchmark: the same cases and the same edits.
    let dataset = json!({
        "edit_field": EDIT_FIELD,
        "sets": sets.iter().map(|set| json!({
            "cases": set.iter().map(CaseData::to_json).collect::<Vec<_>>(),
            "edit_1": [{"index": 0, "value": edited_value(&set[0], 1)}],
            "edit_10pct": set.iter().enumerate().step_by(10)
                .map(|(i, c)| json!({"index": i, "value": edited_value(c, 2)})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("sync-dataset.json"),
        serde_json::to_vec(&dataset).expect("dataset JSON"),
    )
    .expect("write sync-dataset.json");

    let mut results = Map::new();
    results.insert(
        "breakdown".into(),
        breakdown(&template, &scratch.0, &sets[0]),
    );
    results.insert("tool".into(), json!("wardcrf"));
    results.insert("quick".into(), json!(config.quick));
    results.insert("fields_per_case".into(), json!(fields));
    results.insert("doc_bytes_mean".into(), json!(avg(&doc_bytes)));
    results.insert("json_bytes_mean".into(), json!(avg(&json_bytes)));
    results.insert("load_average_start".into(), json!(load_average()));
    let mut backends = Map::new();
    backends.insert(
        "sqlite".into(),
        backend("SQLite (embedded)", None, &template, &sets, &config),
    );
    if let Some(url) = &database_url {
        backends.insert(
            "postgres".into(),
            backend("PostgreSQL", Some(url), &template, &sets, &config),
        );
    } else {
        println!("\n(PostgreSQL skipped: set WARDCRF_BENCH_DATABASE_URL to run it)");
    }
    results.insert("backends".into(), Json::Object(backends));
    let path = out.join("sync-wardcrf.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&Json::Object(results)).expect("results JSON"),
    )
    .expect("write sync-wardcrf.json");
    println!("\nfigures written to {}", path.display());
}
