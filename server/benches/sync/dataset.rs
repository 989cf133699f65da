//! The benchmark's data set: cases generated with fixed seeds (the PouchDB side reads the same
//! values), and device stores filled with case documents built as the store writes them
//! (checked against the store's own `set_value`/`add_row`).

use super::*;

/// SplitMix64: fixed seeds, so every run (and the PouchDB side) sees the same values.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// A decimal in [lo, hi] with `places` decimals.
    pub(crate) fn dec(&mut self, lo: f64, hi: f64, places: i32) -> Json {
        let scale = 10f64.powi(places);
        let v = self.range((lo * scale) as i64, (hi * scale) as i64) as f64 / scale;
        json!(v)
    }

    pub(crate) fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize].clone()
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(crate) fn hex(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }
}

/// Days since 1970-01-01 → (year, month, day) (proleptic Gregorian).
pub(crate) fn civil(days: i64) -> (i64, i64, i64) {
    let (y, m, d) = wardcrf_core::civil_from_days(days);
    (y, m.into(), d.into())
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
pub(crate) fn date(days: i64) -> String {
    wardcrf_core::Timestamp::from_unix_seconds(days * 86_400).iso_date()
}

pub(crate) const NAMES: [&str; 12] = [
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
pub(crate) struct CaseData {
    pub(crate) case_id: String,
    pub(crate) values: Vec<(String, Json)>,
    pub(crate) rows: Vec<(String, String, Map<String, Json>)>,
}

impl CaseData {
    pub(crate) fn fields(&self) -> usize {
        self.values.len() + self.rows.iter().map(|r| r.2.len()).sum::<usize>()
    }

    /// The case as one JSON document (for PouchDB): the values as `wardcrf validate` reads them.
    pub(crate) fn to_json(&self) -> Json {
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

    pub(crate) fn value(&self, field: &str) -> Option<&Json> {
        self.values.iter().find(|(f, _)| f == field).map(|(_, v)| v)
    }
}

/// A realistic icrown-core case (values vary per case; the rules of the form hold).
pub(crate) fn generate_case(rng: &mut Rng, site_no: usize, n: usize) -> CaseData {
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
pub(crate) fn generate_set(site_no: usize, n: usize) -> Vec<CaseData> {
    let mut rng = Rng(0x5743_5246_5359_4e43 ^ (site_no as u64) << 32);
    (0..n)
        .map(|i| generate_case(&mut rng, site_no, i))
        .collect()
}

/// The edited value of [`EDIT_FIELD`] in the `k`-th edit round.
pub(crate) fn edited_value(case: &CaseData, k: i64) -> Json {
    let hr = case.value(EDIT_FIELD).and_then(Json::as_i64).unwrap_or(80);
    json!(60 + (hr - 60 + 7 * k).rem_euclid(70))
}

// ---------------------------------------------------------------------------------------------
// Case documents as the store writes them

/// What every new case document starts with, read from one the store created itself.
pub(crate) struct DocTemplate {
    pub(crate) meta: Vec<(String, String)>,
    pub(crate) groups: Vec<String>,
}

impl DocTemplate {
    pub(crate) fn from_store(store: &mut CaseStore) -> DocTemplate {
        let id = store
            .create_case(FORM, &[])
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
    pub(crate) fn build(&self, actor: &ActorId, case: &CaseData, seed: i64) -> Vec<u8> {
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

pub(crate) fn actor_of(store: &CaseStore) -> ActorId {
    let hex = store.device_id();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("device id is hex"))
        .collect();
    ActorId::from(bytes)
}

/// A new device store with the bench nurse signed in (devices that enrol sign in as their
/// site's nurse instead: `Server::enrol`).
pub(crate) fn new_store(dir: &Path) -> CaseStore {
    let provider = RawKeyProvider::new(SecretKey::generate().expect("a random key"));
    let mut store = CaseStore::create(dir, &provider).expect("create a device store");
    store
        .sign_in_for_tests(USER)
        .expect("sign the bench nurse in");
    store
}

/// Fills `store` with `cases` (generated documents, imported 500 at a time).
pub(crate) fn fill(store: &mut CaseStore, template: &DocTemplate, cases: &[CaseData]) {
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
pub(crate) fn comparable(mut values: Map<String, Json>) -> Map<String, Json> {
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
pub(crate) fn check_generator(scratch: &Path, template: &DocTemplate) {
    let mut store = new_store(&scratch.join("check"));
    let actor = actor_of(&store);
    for (i, case) in generate_set(99, 3).iter().enumerate() {
        let real = store.create_case(FORM, &[]).expect("create a check case");
        for (field, value) in &case.values {
            store
                .set_value(&real, &FieldPath::field(field), value.clone(), None)
                .unwrap_or_else(|e| panic!("generated {field} = {value} is refused: {e}"));
        }
        for (group, _, row) in &case.rows {
            store
                .add_row(&real, group, row, None)
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
