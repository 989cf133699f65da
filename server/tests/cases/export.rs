//! Exports (`GET /api/exports/{csv|odm|fhir}`) of cases synced from real device stores: the
//! ODM validates against the CDISC ODM 1.3.2 schema (xmllint: the test FAILS without it; Debian
//! package libxml2-utils) and every OID it references is defined; the CSV ZIP holds the cases
//! and the group rows, with labels on request; the FHIR Bundle validates with the PyPI package
//! fhir.resources 6.4.0 (FHIR R4 4.0.1) and every answer fits its Questionnaire item
//! (server/tests/fhir/validate.sh: the test FAILS when it cannot be run).
//! Shared by both backends: run on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use quick_xml::events::Event;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

/// A name with every character XML and CSV must escape.
const NAME: &str = "Yamada & <Taro> \"T\" 'x', 山田";

/// Records, as `user`, that the patient of `case` consented to the uses of `scope` (research
/// exports hold only the cases whose consent covers them).
fn consent_by(d: &mut Device, case: &str, scope: &[&str], user: &str) {
    d.set_by(case, "consent_status", json!("1"), user, None);
    d.set_by(case, "consent_scope", json!(scope), user, None);
}

/// [`consent_by`] the site's nurse.
fn consent(d: &mut Device, case: &str, scope: &[&str]) {
    let nurse = nurse_of(&d.site);
    consent_by(d, case, scope, &nurse);
}

/// Site A: one case with values, a unit, a choice, a partial date, a medication row and an
/// edit with a reason from a second device; one nearly empty case. Site B: one case.
/// Returns (server, the full case, the other site-A case, the site-B case, the row id).
fn seeded(name: &str) -> (TestServer, String, String, String, String) {
    let server = TestServer::start(&crate::backend(), name);
    server.site("site-a");
    server.site("site-b");
    let mut a1 = device(&server, "site-a", &format!("{name}-a1"));
    let mut a2 = device(&server, "site-a", &format!("{name}-a2"));
    let mut b1 = device(&server, "site-b", &format!("{name}-b1"));

    let full = a1.store.create_case("icrown-core", &[]).unwrap();
    consent_by(&mut a1, &full, &["secondary_use"], "nurse-a");
    a1.set_by(&full, "patient_name", json!(NAME), "nurse-a", None);
    a1.set_by(&full, "sex_at_birth", json!("2"), "nurse-a", None);
    a1.set_by(&full, "vs_temp", json!(38.5), "nurse-a", None);
    a1.set_by(&full, "vs_hr", json!(88), "nurse-a", None);
    a1.set_by(
        &full,
        "prior_covid19_date",
        json!("2022-03"),
        "nurse-a",
        None,
    );
    a1.set_by(
        &full,
        "vs_datetime",
        json!("2024-03-01T10:00"),
        "nurse-a",
        None,
    );
    a1.set_by(&full, "contact_with_case", json!("1"), "nurse-a", None);
    a1.set_by(&full, "contact_setting", json!(["1", "3"]), "nurse-a", None);
    let mut row = serde_json::Map::new();
    row.insert("med_class".into(), json!("8"));
    let row_id = a1.store.add_row(&full, "medications", &row, None).unwrap();
    let mut lab = serde_json::Map::new();
    lab.insert("lab_datetime".into(), json!("2024-03-01T09:30+09:00"));
    lab.insert("lab_crp".into(), json!(12.5));
    lab.insert("lab_wbc".into(), json!(9.1));
    a1.store.add_row(&full, "labs", &lab, None).unwrap();
    // A value entered and cleared, a row added and removed: both stay in the audit trail.
    a1.set_by(&full, "vs_rr", json!(20), "nurse-a", None);
    a1.set_by(
        &full,
        "vs_rr",
        serde_json::Value::Null,
        "nurse-a",
        Some("wrong patient"),
    );
    let mut gone = serde_json::Map::new();
    gone.insert("med_class".into(), json!("2"));
    let gone_id = a1.store.add_row(&full, "medications", &gone, None).unwrap();
    a1.store
        .remove_row(&full, "medications", &gone_id, "duplicate")
        .unwrap();
    let other = a1.store.create_case("icrown-core", &[]).unwrap();
    consent_by(&mut a1, &other, &["secondary_use"], "nurse-a");
    a1.set_by(&other, "vs_hr", json!(70), "nurse-a", None);
    a1.sync().unwrap();
    a2.sync().unwrap();
    a2.set_by(
        &full,
        "vs_hr",
        json!(96),
        "charge-nurse",
        Some("recount <after> rest"),
    );
    a2.sync().unwrap();
    let b_case = b1.store.create_case("icrown-core", &[]).unwrap();
    consent_by(&mut b1, &b_case, &["secondary_use"], "nurse-b");
    b1.set_by(&b_case, "vs_hr", json!(75), "nurse-b", None);
    b1.sync().unwrap();
    (server, full, other, b_case, row_id)
}

fn xmllint_schema_check(xml: &[u8]) {
    let dir = temp_dir("odm-xmllint");
    let file = dir.join("export.odm.xml");
    std::fs::write(&file, xml).unwrap();
    let schema =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/odm-1.3.2/ODM1-3-2.xsd");
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint is needed to validate the ODM export (Debian: apt-get install libxml2-utils): {e}")
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "the ODM export does not validate against ODM 1.3.2:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every element of the document: (name, attributes unescaped), with the text of elements
/// that hold only text.
#[derive(Debug)]
struct El {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
}

fn parse_xml(xml: &[u8]) -> Vec<El> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out: Vec<El> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).unwrap();
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            a.key.as_ref().to_string(),
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .unwrap()
                                .into_owned(),
                        )
                    })
                    .collect();
                out.push(El {
                    name: e.name().as_ref().to_string(),
                    attrs,
                    text: String::new(),
                });
                if matches!(event, Event::Start(_)) {
                    stack.push(out.len() - 1);
                }
            }
            Event::Text(t) => {
                if let Some(&i) = stack.last() {
                    out[i].text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(&i) = stack.last() {
                    if let Some(c) = r.resolve_char_ref().unwrap() {
                        out[i].text.push(c);
                        buf.clear();
                        continue;
                    }
                    let c = match r.xml10_content().as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected entity {other}"),
                    };
                    out[i].text.push_str(c);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

/// Every OID referenced (an attribute `...OID` other than `OID` and `FileOID`) is defined
/// (an `OID` attribute), and no OID is defined twice for one kind of element.
fn check_references(elements: &[El]) {
    let mut defined: BTreeSet<&str> = BTreeSet::new();
    let mut kinds: BTreeSet<(&str, &str)> = BTreeSet::new();
    for e in elements {
        if let Some(oid) = e.attrs.get("OID") {
            assert!(
                kinds.insert((e.name.as_str(), oid.as_str())),
                "{} {oid} defined twice",
                e.name
            );
            defined.insert(oid);
        }
    }
    let mut checked = 0;
    for e in elements {
        for (k, v) in &e.attrs {
            if k.ends_with("OID") && k != "OID" && k != "FileOID" && k != "PriorFileOID" {
                assert!(
                    defined.contains(v.as_str()),
                    "<{} {k}=\"{v}\"> references an OID that is not defined",
                    e.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} references");
}

fn find<'a>(elements: &'a [El], name: &str, attr: &str, value: &str) -> Vec<&'a El> {
    elements
        .iter()
        .filter(|e| e.name == name && e.attrs.get(attr).map(String::as_str) == Some(value))
        .collect()
}

/// The elements inside the element at `start` (by nesting order in the flat list: the
/// following elements up to the next one of the same name).
fn after<'a>(elements: &'a [El], start: &El, until: &str) -> &'a [El] {
    let i = elements
        .iter()
        .position(|e| std::ptr::eq(e, start))
        .unwrap();
    let end = elements[i + 1..]
        .iter()
        .position(|e| e.name == until)
        .map_or(elements.len(), |p| i + 1 + p);
    &elements[i + 1..end]
}

#[test]
fn the_odm_export_validates_against_the_schema_and_defines_every_oid_it_references() {
    let (server, full, other, b_case, row_id) = seeded("export-odm");
    let r = server.admin_get("/api/exports/odm");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(
        r.head.contains("content-type: application/xml"),
        "{}",
        r.head
    );
    assert!(
        r.head
            .contains("content-disposition: attachment; filename=\"wardcrf-export.odm.xml\""),
        "{}",
        r.head
    );
    xmllint_schema_check(&r.raw);
    let elements = parse_xml(&r.raw);
    check_references(&elements);

    // Metadata: data types, repeating groups, units, limits, translations, codes.
    let item = |id: &str| find(&elements, "ItemDef", "OID", &format!("I.{id}"))[0];
    assert_eq!(item("vs_temp").attrs["DataType"], "float");
    assert_eq!(item("vs_hr").attrs["DataType"], "integer");
    assert_eq!(item("prior_covid19_date").attrs["DataType"], "partialDate");
    assert_eq!(item("date_of_birth").attrs["DataType"], "date");
    assert_eq!(item("patient_name").attrs["DataType"], "text");
    let meds = find(&elements, "ItemGroupDef", "OID", "IG.GRP.medications");
    assert_eq!(meds[0].attrs["Repeating"], "Yes");
    let vitals = find(&elements, "ItemGroupDef", "OID", "IG.SEC.vitals");
    assert_eq!(vitals[0].attrs["Repeating"], "No");
    let temp = after(&elements, item("vs_temp"), "ItemDef");
    let checks: Vec<(&str, &str, &str)> = temp
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name == "RangeCheck")
        .map(|(i, e)| {
            (
                e.attrs["SoftHard"].as_str(),
                e.attrs["Comparator"].as_str(),
                temp[i + 1].text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        vec![
            ("Hard", "GE", "25"),
            ("Hard", "LE", "45"),
            ("Soft", "GE", "35"),
            ("Soft", "LE", "41")
        ]
    );
    assert!(temp.iter().any(|e| e.name == "Alias"
        && e.attrs["Context"] == "LOINC"
        && e.attrs["Name"] == "8310-5"));
    assert!(
        temp.iter()
            .any(|e| e.name == "Alias" && e.attrs["Context"] == "CDASH")
    );
    assert!(
        temp.iter()
            .any(|e| e.name == "MeasurementUnitRef" && e.attrs["MeasurementUnitOID"] == "MU.Cel")
    );
    let sex = after(&elements, item("sex_at_birth"), "ItemDef");
    assert!(sex.iter().any(|e| e.name == "CodeListRef"));
    let langs: Vec<&str> = sex
        .iter()
        .take_while(|e| e.name != "CodeListRef")
        .filter(|e| e.name == "TranslatedText")
        .map(|e| e.attrs["xml:lang"].as_str())
        .collect();
    assert!(langs.starts_with(&["en", "ja", "de"]), "{langs:?}");
    let cl = find(&elements, "CodeList", "OID", "CL.sex_at_birth")[0];
    let cl = after(&elements, cl, "CodeList");
    assert!(
        cl.iter()
            .any(|e| e.name == "TranslatedText" && e.text == "女性")
    );

    // Clinical data: every case of every site, values as stored (escaped and read back).
    let subjects: Vec<&str> = elements
        .iter()
        .filter(|e| e.name == "SubjectData")
        .map(|e| e.attrs["SubjectKey"].as_str())
        .collect();
    let mut expected = vec![full.as_str(), other.as_str()];
    expected.sort();
    expected.push(b_case.as_str());
    assert_eq!(subjects, expected);
    let odm = find(&elements, "ODM", "FileType", "Transactional");
    assert_eq!(odm.len(), 1, "a Transactional file");
    let subject = find(&elements, "SubjectData", "SubjectKey", &full)[0];
    assert_eq!(subject.attrs["TransactionType"], "Insert");
    let data = after(&elements, subject, "SubjectData");
    // Every ItemData is a transaction; applied in order they give the current values.
    assert!(
        data.iter()
            .filter(|e| e.name == "ItemData")
            .all(|e| e.attrs.contains_key("TransactionType"))
    );
    let value = |id: &str| {
        data.iter()
            .rev()
            .find(|e| e.name == "ItemData" && e.attrs["ItemOID"] == format!("I.{id}"))
            .map(|e| e.attrs["Value"].as_str())
    };
    assert_eq!(value("patient_name"), Some(NAME));
    assert_eq!(value("sex_at_birth"), Some("2"));
    assert_eq!(value("vs_temp"), Some("38.5"));
    assert_eq!(value("vs_hr"), Some("96"));
    assert_eq!(value("prior_covid19_date"), Some("2022-03"));
    assert!(data.iter().any(|e| e.name == "ItemData"
        && e.attrs["ItemOID"] == "I.med_class"
        && e.attrs["Value"] == "8"));
    assert!(data.iter().any(|e| e.name == "ItemGroupData"
        && e.attrs["ItemGroupOID"] == "IG.GRP.medications"
        && e.attrs.get("ItemGroupRepeatKey") == Some(&row_id)));
    assert!(
        data.iter()
            .any(|e| e.name == "SiteRef" && e.attrs["LocationOID"] == "LOC.SITE.site-a")
    );
    assert_eq!(value("CASE.status"), Some("draft"));
    // One ItemData per change of the heart rate: 88 entered, then 96 by the second device,
    // each with its own audit record.
    let hr: Vec<&El> = data
        .iter()
        .filter(|e| e.name == "ItemData" && e.attrs["ItemOID"] == "I.vs_hr")
        .collect();
    let changes: Vec<(&str, &str)> = hr
        .iter()
        .map(|e| {
            (
                e.attrs["TransactionType"].as_str(),
                e.attrs["Value"].as_str(),
            )
        })
        .collect();
    assert_eq!(changes, [("Insert", "88"), ("Update", "96")]);
    let rr: Vec<&str> = data
        .iter()
        .filter(|e| e.name == "ItemData" && e.attrs["ItemOID"] == "I.vs_rr")
        .map(|e| e.attrs["TransactionType"].as_str())
        .collect();
    assert_eq!(rr, ["Insert", "Remove"]);
    let removed: Vec<&str> = data
        .iter()
        .filter(|e| e.name == "ItemGroupData" && e.attrs["ItemGroupOID"] == "IG.GRP.medications")
        .map(|e| e.attrs["TransactionType"].as_str())
        .collect();
    assert_eq!(removed, ["Insert", "Insert", "Remove"]);
    let first = after(data, hr[0], "ItemData");
    assert_eq!(first[0].name, "AuditRecord");
    assert_eq!(first[1].attrs["UserOID"], "USR.nurse-a");
    assert!(!first.iter().any(|e| e.name == "ReasonForChange"));
    let audit = after(data, hr[1], "ItemData");
    assert_eq!(audit[0].name, "AuditRecord");
    assert_eq!(audit[1].attrs["UserOID"], "USR.charge-nurse");
    // Each user of the audit records by staff id and printed name.
    let user = find(&elements, "User", "OID", "USR.charge-nurse")[0];
    let user = after(&elements, user, "User");
    let texts: Vec<(&str, &str)> = user
        .iter()
        .take_while(|e| ["LoginName", "DisplayName", "FullName"].contains(&e.name.as_str()))
        .map(|e| (e.name.as_str(), e.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            ("LoginName", "charge-nurse"),
            ("FullName", "Test charge-nurse")
        ]
    );
    assert!(audit[2].attrs["LocationOID"].starts_with("LOC.DEV."));
    assert_eq!(audit[3].name, "DateTimeStamp");
    assert!(
        audit[3].text.ends_with('Z') && audit[3].text.len() == 20,
        "{}",
        audit[3].text
    );
    assert_eq!(audit[4].name, "ReasonForChange");
    assert_eq!(audit[4].text, "recount <after> rest");
    assert_eq!(audit[5].name, "SourceID");
    // Two devices of site A and one of site B made the exported changes.
    let devices = elements
        .iter()
        .filter(|e| e.name == "Location" && e.attrs["OID"].starts_with("LOC.DEV."))
        .count();
    assert_eq!(devices, 3);
    // The identifying value is exported as it is, and escaped in the bytes.
    let text = String::from_utf8(r.raw.clone()).unwrap();
    assert!(
        text.contains("Yamada &amp; &lt;Taro&gt; &quot;T&quot;"),
        "escaped"
    );

    // One site only.
    let r = server.admin_get("/api/exports/odm?site=site-b");
    assert_eq!(r.status, 200);
    xmllint_schema_check(&r.raw);
    let elements = parse_xml(&r.raw);
    check_references(&elements);
    let subjects: Vec<&str> = elements
        .iter()
        .filter(|e| e.name == "SubjectData")
        .map(|e| e.attrs["SubjectKey"].as_str())
        .collect();
    assert_eq!(subjects, vec![b_case.as_str()]);
}

fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        let rows = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        out.insert(file.name().unwrap().to_string(), rows);
    }
    out
}

#[test]
fn the_csv_export_is_a_zip_of_cases_and_group_rows_with_labels_on_request() {
    let (server, full, other, _b_case, row_id) = seeded("export-csv");
    let r = server.admin_get("/api/exports/csv?site=site-a&lang=ja");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(
        r.head.contains("content-type: application/zip"),
        "{}",
        r.head
    );
    assert!(
        r.head
            .contains("content-disposition: attachment; filename=\"wardcrf-export.zip\"")
    );
    let files = unzip(&r.raw);
    for group in ["medications", "labs", "travel", "pathogen_tests"] {
        assert!(
            files.contains_key(&format!("{group}.csv")),
            "{:?}",
            files.keys()
        );
    }
    let cases = &files["cases.csv"];
    let header = &cases[0];
    assert_eq!(header[..4], ["record_id", "site_id", "form_id", "status"]);
    let names: std::collections::BTreeSet<&String> = header.iter().collect();
    assert_eq!(names.len(), header.len(), "column names are unique");
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    assert_eq!(col("sex_at_birth_label"), col("sex_at_birth") + 1);
    assert!(!header.iter().any(|h| h == "vs_temp_label"));
    assert!(
        !header.iter().any(|h| h == "med_class"),
        "group fields are in their own file"
    );
    let mut ids: Vec<&str> = cases[1..].iter().map(|r| r[0].as_str()).collect();
    ids.sort();
    let mut expected = vec![full.as_str(), other.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
    let row = cases[1..].iter().find(|r| r[0] == full).unwrap();
    assert_eq!(row.len(), header.len());
    assert_eq!(row[1], "site-a");
    assert_eq!(row[2], "icrown-core");
    assert_eq!(row[3], "draft");
    assert_eq!(row[col("patient_name")], NAME);
    assert_eq!(row[col("sex_at_birth")], "2");
    assert_eq!(row[col("sex_at_birth_label")], "女性");
    assert_eq!(row[col("vs_temp")], "38.5");
    assert_eq!(row[col("vs_hr")], "96");
    assert_eq!(row[col("prior_covid19_date")], "2022-03");
    let meds = &files["medications.csv"];
    assert_eq!(
        meds[0][..4],
        ["record_id", "row_id", "med_class", "med_class_label"]
    );
    assert_eq!(meds.len(), 2, "{meds:?}");
    assert_eq!(meds[1][0], full);
    assert_eq!(meds[1][1], row_id);
    assert_eq!(meds[1][2], "8");
    assert_eq!(meds[1][3], "抗ウイルス薬");
    assert_eq!(files["labs.csv"].len(), 2);

    // Codes only by default; every site.
    let r = server.admin_get("/api/exports/csv");
    assert_eq!(r.status, 200);
    let files = unzip(&r.raw);
    assert_eq!(files["cases.csv"].len(), 4);
    assert!(!files["cases.csv"][0].iter().any(|h| h.ends_with("_label")));
}

/// Text a spreadsheet would run as a formula when it opens a CSV file (OWASP "CSV injection"),
/// and text that only looks like it. Entered on a device as ordinary free text.
const FORMULAS: &[&str] = &[
    "=HYPERLINK(\"http://x.invalid\",\"click\")",
    "@SUM(1+1)",
    "+1+1",
    "-1+1",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
    "＝1+1",
    "'already quoted",
];

/// Whether a CSV cell would start a formula in a spreadsheet: it begins with `=`, `+`, `-`,
/// `@`, a tab or a carriage return (or their full-width forms) and is not a plain number.
fn formula_trigger(cell: &str) -> bool {
    let plain_number = cell.parse::<f64>().is_ok_and(f64::is_finite)
        && cell
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'));
    cell.starts_with(['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠']) && !plain_number
}

/// Every cell of every file of a CSV export, read as data (the csv crate), none a formula.
fn assert_no_formula(files: &BTreeMap<String, Vec<Vec<String>>>) {
    let mut cells = 0;
    for (name, rows) in files {
        for row in rows {
            for cell in row {
                cells += 1;
                assert!(
                    !formula_trigger(cell),
                    "{name}: the cell {cell:?} is a formula"
                );
            }
        }
    }
    assert!(cells > 100, "only {cells} cells");
}

/// What a reader gets back from a neutralised cell: the text without the quote put before it.
fn unquote(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

#[test]
fn csv_cells_never_start_a_formula_and_their_text_is_recoverable() {
    let server = TestServer::start(&crate::backend(), "export-csv-formulas");
    server.site("site-f");
    let mut d = device(&server, "site-f", "export-csv-formulas-d");
    let mut cases = Vec::new();
    for (i, formula) in FORMULAS.iter().enumerate() {
        let case = d.store.create_case("icrown-core", &[]).unwrap();
        consent(&mut d, &case, &["secondary_use"]);
        d.set(&case, "case_id", json!(formula), None);
        d.set(&case, "patient_name", json!(format!("{formula} {i}")), None);
        // Text that is a plain number (like a negative value) stays a number.
        d.set(&case, "hospital_record_number", json!("-3.5"), None);
        d.set(&case, "vs_temp", json!(38.5), None);
        let mut row = serde_json::Map::new();
        row.insert("test_pathogen".into(), json!("bacterial_culture"));
        row.insert("amr_organism".into(), json!(formula));
        let row_id = d
            .store
            .add_row(&case, "pathogen_tests", &row, None)
            .unwrap();
        cases.push((case, formula, row_id));
    }
    d.sync().unwrap();

    let r = server.admin_get("/api/exports/csv?lang=en");
    assert_eq!(r.status, 200, "{:?}", r.body);
    let files = unzip(&r.raw);
    assert_no_formula(&files);
    let table = &files["cases.csv"];
    let col = |name: &str| table[0].iter().position(|h| h == name).unwrap();
    let tests = &files["pathogen_tests.csv"];
    let organism = tests[0].iter().position(|h| h == "amr_organism").unwrap();
    for (i, (case, formula, row_id)) in cases.iter().enumerate() {
        let row = table[1..].iter().find(|r| &r[0] == case).unwrap();
        assert_eq!(unquote(&row[col("case_id")]), **formula);
        assert_eq!(unquote(&row[col("patient_name")]), format!("{formula} {i}"));
        assert_eq!(row[col("hospital_record_number")], "-3.5");
        assert_eq!(row[col("vs_temp")], "38.5");
        let test = tests[1..].iter().find(|r| &r[1] == row_id).unwrap();
        assert_eq!(unquote(&test[organism]), **formula);
    }

    // Research exports get the same.
    let r = server.admin_get("/api/exports/csv?research=true&recipient=Uni%20Tokyo&lang=ja");
    assert_eq!(r.status, 200, "{:?}", r.body);
    let files = unzip(&r.raw);
    assert_no_formula(&files);
    let tests = &files["pathogen_tests.csv"];
    let organism = tests[0].iter().position(|h| h == "amr_organism").unwrap();
    let mut found: Vec<&str> = tests[1..].iter().map(|r| unquote(&r[organism])).collect();
    let mut expected: Vec<&str> = FORMULAS.to_vec();
    found.sort_unstable();
    expected.sort_unstable();
    assert_eq!(found, expected);
}

#[test]
fn a_case_whose_stored_document_is_damaged_is_skipped_by_every_export_and_the_rest_is_valid() {
    let (server, full, other, b_case, _row_id) = seeded("export-damaged");
    let damaged = server.damage_document(&other);
    assert!(wardcrf_core::repository::case_history(&damaged, None).is_err());
    let has = |bytes: &[u8], id: &str| bytes.windows(id.len()).any(|w| w == id.as_bytes());

    let r = server.admin_get("/api/exports/odm");
    assert_eq!(r.status, 200, "{:?}", r.body);
    xmllint_schema_check(&r.raw);
    let elements = parse_xml(&r.raw);
    check_references(&elements);
    assert_eq!(case_keys("odm", &r.raw), sorted(&[&full, &b_case]));
    assert!(!has(&r.raw, &other));

    let r = server.admin_get("/api/exports/csv?lang=de");
    assert_eq!(r.status, 200, "{:?}", r.body);
    let files = unzip(&r.raw);
    assert_eq!(case_keys("csv", &r.raw), sorted(&[&full, &b_case]));
    assert!(files.values().flatten().all(|row| row[0] != other));

    let r = server.admin_get("/api/exports/fhir");
    assert_eq!(r.status, 200, "{:?}", r.body);
    fhir_validate(&r.raw).unwrap();
    assert!(has(&r.raw, &full) && has(&r.raw, &b_case));
    assert!(!has(&r.raw, &other));

    // Research exports too: one subject fewer, still valid.
    for format in ["odm", "csv", "fhir"] {
        let r = server.admin_get(&format!(
            "/api/exports/{format}?research=true&recipient=Uni%20Tokyo"
        ));
        assert_eq!(r.status, 200, "{format}: {:?}", r.body);
        assert_eq!(case_keys(format, &r.raw).len(), 2, "{format}");
        match format {
            "odm" => xmllint_schema_check(&r.raw),
            "fhir" => {
                fhir_validate(&r.raw).unwrap();
            }
            _ => {}
        }
    }

    // The case's history: a typed refusal naming the state, not a failure of the repository.
    let r = server.admin_get(&format!("/api/cases/{other}/history"));
    assert_eq!((r.status, r.code()), (409, "quarantined"), "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("damaged") && message.contains("push it again"),
        "{message}"
    );
    let r = server.admin_get(&format!("/api/cases/{full}/history"));
    assert_eq!(r.status, 200);
    let r = server.admin_get("/api/cases");
    assert_eq!(r.status, 200);
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

#[test]
fn exports_need_the_admin_token_a_known_format_and_known_parameters() {
    let server = TestServer::start(&crate::backend(), "export-auth");
    server.site("site-a");
    let token = server.enroll("site-a", &"a".repeat(32));
    for token in [None, Some("wrong"), Some(token.as_str())] {
        let r = get(server.addr, "/api/exports/odm", token);
        assert_eq!((r.status, r.code()), (401, "unauthorized"));
    }
    let r = server.admin_get("/api/exports/pdf");
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = server.admin_get("/api/exports/csv?lang=fr");
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = server.admin_get("/api/exports/csv?colour=red");
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    // No cases: a valid, empty export.
    let r = server.admin_get("/api/exports/odm");
    assert_eq!(r.status, 200);
    xmllint_schema_check(&r.raw);
    let r = server.admin_get("/api/exports/csv");
    assert_eq!(unzip(&r.raw)["cases.csv"].len(), 1);
}

/// Runs server/tests/fhir/validate.sh (fhir.resources 6.4.0, FHIR R4 4.0.1, in a virtual
/// environment under target/) on `bundle`: `Ok(summary)` when valid, `Err(problems)` when not.
/// Panics, failing the test, when the validator cannot be run at all.
fn fhir_validate(bundle: &[u8]) -> Result<serde_json::Value, String> {
    let dir = temp_dir("fhir-validate");
    let file = dir.join("export.fhir.json");
    std::fs::write(&file, bundle).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir/validate.sh");
    let out = std::process::Command::new("sh")
        .arg(&script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    match out.status.code() {
        Some(0) => Ok(serde_json::from_slice(&out.stdout).unwrap()),
        Some(1) => Err(stderr),
        _ => panic!(
            "the FHIR validator could not run: {stderr}\n\
             It needs python3 with venv (Debian: apt-get install python3-venv) and PyPI; \
             install it with: sh server/tests/fhir/validate.sh --setup (tests/run does)"
        ),
    }
}

fn fhir_entries(bundle: &serde_json::Value, kind: &str) -> Vec<serde_json::Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == kind)
        .map(|e| e["resource"].clone())
        .collect()
}

/// Every item of a Questionnaire or QuestionnaireResponse item tree, depth first.
fn fhir_items(items: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    for item in items.as_array().into_iter().flatten() {
        out.push(item.clone());
        fhir_items(&item["item"], out);
    }
}

#[test]
fn the_fhir_export_validates_with_fhir_resources_and_every_answer_fits_its_item() {
    let (server, full, other, b_case, row_id) = seeded("export-fhir");
    let r = server.admin_get("/api/exports/fhir");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(
        r.head.contains("content-type: application/fhir+json"),
        "{}",
        r.head
    );
    assert!(
        r.head
            .contains("content-disposition: attachment; filename=\"wardcrf-export.fhir.json\""),
        "{}",
        r.head
    );
    let summary = fhir_validate(&r.raw).unwrap_or_else(|problems| panic!("{problems}"));
    assert_eq!(summary["fhir_version"], "4.0.1");
    assert_eq!(summary["responses"], 3, "{summary}");
    // Temperature, heart rate (vitals) and two lab values of the full case; the other cases' heart rates.
    assert_eq!(summary["observations"], 6, "{summary}");
    assert!(summary["answers"].as_u64().unwrap() >= 14, "{summary}");
    assert!(summary["enable_when"].as_u64().unwrap() > 20, "{summary}");

    let bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
    assert_eq!(bundle["type"], "collection");
    let q = &fhir_entries(&bundle, "Questionnaire")[0];
    let mut items = Vec::new();
    fhir_items(&q["item"], &mut items);
    let item = |id: &str| {
        items
            .iter()
            .find(|i| i["linkId"] == id)
            .unwrap_or_else(|| panic!("no item {id}"))
            .clone()
    };
    let temp = item("vs_temp");
    assert_eq!(temp["type"], "decimal");
    assert_eq!(temp["code"][0]["system"], "http://loinc.org");
    assert_eq!(temp["code"][0]["code"], "8310-5");
    let unit = temp["extension"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"] == "http://hl7.org/fhir/StructureDefinition/questionnaire-unit")
        .unwrap();
    assert_eq!(unit["valueCoding"]["code"], "Cel");
    assert_eq!(unit["valueCoding"]["system"], "http://unitsofmeasure.org");
    let translations = temp["_text"]["extension"].as_array().unwrap();
    assert_eq!(translations.len(), 2);
    assert_eq!(
        translations[0]["url"],
        "http://hl7.org/fhir/StructureDefinition/translation"
    );
    assert_eq!(translations[0]["extension"][0]["valueCode"], "ja");
    assert_eq!(translations[1]["extension"][0]["valueCode"], "de");
    let sex = item("sex_at_birth");
    assert_eq!(sex["type"], "choice");
    let female = sex["answerOption"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["valueCoding"]["code"] == "2")
        .unwrap();
    assert_eq!(
        female["valueCoding"]["_display"]["extension"][0]["extension"][1]["valueString"],
        "女性"
    );
    let pregnancy = item("pregnancy_status");
    assert_eq!(pregnancy["enableBehavior"], "any");
    assert_eq!(pregnancy["enableWhen"].as_array().unwrap().len(), 2);
    assert_eq!(pregnancy["enableWhen"][0]["question"], "sex_at_birth");
    assert_eq!(item("contact_setting")["repeats"], true);
    let meds = item("medications");
    assert_eq!(
        (meds["type"].as_str(), meds["repeats"].as_bool()),
        (Some("group"), Some(true))
    );
    // A condition FHIR cannot state keeps only the expression.
    let organism = item("amr_organism");
    assert!(organism.get("enableWhen").is_none());
    assert!(
        organism["extension"][0]["valueString"]
            .as_str()
            .unwrap()
            .contains("bacterial_culture")
    );
    assert_eq!(item("patient_name")["type"], "string");

    // The responses: one per case, with the answers in the Questionnaire's structure.
    let responses = fhir_entries(&bundle, "QuestionnaireResponse");
    let mut ids: Vec<&str> = responses
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![full.as_str(), other.as_str(), b_case.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
    let response = responses.iter().find(|r| r["id"] == full.as_str()).unwrap();
    assert_eq!(response["status"], "in-progress");
    assert_eq!(response["identifier"]["value"], full.as_str());
    let mut answered = Vec::new();
    fhir_items(&response["item"], &mut answered);
    let answer = |id: &str| {
        answered
            .iter()
            .find(|i| i["linkId"] == id)
            .unwrap_or_else(|| panic!("no answer {id}"))["answer"]
            .clone()
    };
    assert_eq!(answer("patient_name")[0]["valueString"], NAME);
    assert_eq!(answer("vs_hr")[0]["valueInteger"], 96);
    assert_eq!(answer("vs_temp")[0]["valueDecimal"], 38.5);
    assert_eq!(answer("prior_covid19_date")[0]["valueDate"], "2022-03");
    assert_eq!(answer("sex_at_birth")[0]["valueCoding"]["code"], "2");
    assert_eq!(answer("contact_setting").as_array().unwrap().len(), 2);
    // No UTC offset: the date, with the time as entered.
    let when = &answer("vs_datetime")[0];
    assert_eq!(when["valueDateTime"], "2024-03-01");
    assert_eq!(
        when["_valueDateTime"]["extension"][0]["valueString"],
        "2024-03-01T10:00"
    );
    let med_row = answered
        .iter()
        .find(|i| i["linkId"] == "medications")
        .unwrap();
    assert_eq!(med_row["id"], row_id.as_str());

    // Observations: LOINC, UCUM, derived from their response.
    let observations = fhir_entries(&bundle, "Observation");
    let crp = observations
        .iter()
        .find(|o| o["code"]["coding"][0]["code"] == "1988-5")
        .unwrap();
    assert_eq!(crp["category"][0]["coding"][0]["code"], "laboratory");
    assert_eq!(crp["valueQuantity"]["value"], 12.5);
    assert_eq!(crp["valueQuantity"]["code"], "mg/L");
    assert_eq!(crp["effectiveDateTime"], "2024-03-01T09:30:00+09:00");
    assert_eq!(crp["status"], "preliminary");
    let temp = observations
        .iter()
        .find(|o| o["code"]["coding"][0]["code"] == "8310-5")
        .unwrap();
    assert_eq!(temp["category"][0]["coding"][0]["code"], "vital-signs");
    assert_eq!(temp["valueQuantity"]["system"], "http://unitsofmeasure.org");
    let full_url = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["id"] == full.as_str())
        .unwrap()["fullUrl"]
        .clone();
    assert_eq!(temp["derivedFrom"][0]["reference"], full_url);

    // One site only.
    let r = server.admin_get("/api/exports/fhir?site=site-b");
    let summary = fhir_validate(&r.raw).unwrap_or_else(|problems| panic!("{problems}"));
    assert_eq!(summary["responses"], 1);
}

#[test]
fn the_fhir_validator_rejects_an_answer_that_does_not_fit_its_item() {
    let (server, full, _, _, _) = seeded("export-fhir-bad");
    let r = server.admin_get("/api/exports/fhir?site=site-a");
    assert!(fhir_validate(&r.raw).is_ok());
    let text = String::from_utf8(r.raw.clone()).unwrap();
    // A code that is not an answer option of sex_at_birth, in the full case's response.
    let mut bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
    let response = bundle["entry"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["resource"]["id"] == full.as_str())
        .unwrap();
    let admission = response["resource"]["item"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["linkId"] == "section:admission")
        .unwrap();
    let sex = admission["item"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["linkId"] == "sex_at_birth")
        .unwrap();
    sex["answer"][0]["valueCoding"]["code"] = json!("7");
    let problems = fhir_validate(&serde_json::to_vec(&bundle).unwrap()).unwrap_err();
    assert!(problems.contains("not an answerOption"), "{problems}");
    // A malformed date is refused by fhir.resources itself.
    let bad = text.replacen(
        "\"valueDate\":\"2022-03\"",
        "\"valueDate\":\"March 2022\"",
        1,
    );
    assert_ne!(bad, text);
    let problems = fhir_validate(bad.as_bytes()).unwrap_err();
    assert!(problems.contains("fhir.resources"), "{problems}");
    // An integer answer to a decimal item.
    let bad = text.replacen("\"valueDecimal\":38.5", "\"valueInteger\":38", 1);
    assert_ne!(bad, text);
    let problems = fhir_validate(bad.as_bytes()).unwrap_err();
    assert!(problems.contains("vs_temp"), "{problems}");
}

/// Distinctive identifying values, an earlier value of one, and free text naming the patient.
const PATIENT: &str = "Qorlanski-Ishikawa Zyxwvu 山田花子";
const PATIENT_BEFORE: &str = "Qorlansky Wrongname";
const RECORD_NUMBER: &str = "HRN-8817-4432-XQ";
const BIRTH: &str = "1961-07-23";
const REASON: &str = "confirmed with Mrs Qorlanski by phone";
const NURSE: &str = "kawabata-sigrun";
/// The network's study pseudonym (`case_id`, CDASH SUBJID): the same for every recipient.
const STUDY_ID: &str = "REBIND-77Q-4410";

/// A site with one case holding every identifying field (and a corrected name, a reason naming
/// the patient, a medication row), and a second case; synced from two devices.
/// Returns (server, every id that must not appear in a research export).
fn seeded_identifiers(name: &str) -> (TestServer, Vec<String>) {
    let server = TestServer::start(&crate::backend(), name);
    server.site("site-r");
    let mut d1 = device(&server, "site-r", &format!("{name}-d1"));
    let mut d2 = device(&server, "site-r", &format!("{name}-d2"));
    let case = d1.store.create_case("icrown-core", &[]).unwrap();
    consent_by(&mut d1, &case, &["secondary_use", "genome"], NURSE);
    d1.set_by(&case, "patient_name", json!(PATIENT_BEFORE), NURSE, None);
    d1.set_by(
        &case,
        "hospital_record_number",
        json!(RECORD_NUMBER),
        NURSE,
        None,
    );
    d1.set_by(&case, "date_of_birth", json!(BIRTH), NURSE, None);
    d1.set_by(&case, "case_id", json!(STUDY_ID), NURSE, None);
    d1.set_by(&case, "admission_date", json!("2024-03-01"), NURSE, None);
    d1.set_by(&case, "age_years", json!(60), NURSE, None);
    d1.set_by(&case, "sex_at_birth", json!("2"), NURSE, None);
    d1.set_by(&case, "vs_hr", json!(88), NURSE, None);
    let mut row = serde_json::Map::new();
    row.insert("med_class".into(), json!("8"));
    let row_id = d1.store.add_row(&case, "medications", &row, None).unwrap();
    let second = d1.store.create_case("icrown-core", &[]).unwrap();
    d1.set_by(&second, "consent_status", json!("2"), NURSE, None);
    d1.set_by(&second, "vs_hr", json!(70), NURSE, None);
    d1.sync().unwrap();
    d2.sync().unwrap();
    d2.set_by(&case, "patient_name", json!(PATIENT), NURSE, Some(REASON));
    d2.set_by(&case, "vs_hr", json!(92), NURSE, Some(REASON));
    d2.sync().unwrap();
    let secrets = vec![
        PATIENT.to_string(),
        "Qorlanski".to_string(),
        "山田花子".to_string(),
        PATIENT_BEFORE.to_string(),
        RECORD_NUMBER.to_string(),
        BIRTH.to_string(),
        "1961".to_string(),
        REASON.to_string(),
        NURSE.to_string(),
        STUDY_ID.to_string(),
        case.clone(),
        second.clone(),
        row_id,
        d1.store.device_id(),
        d2.store.device_id(),
    ];
    (server, secrets)
}

/// The values found in `bytes` (as UTF-8 text). A secret of digits only (the birth year)
/// counts as a number of its own, not inside a longer run of letters and digits: random hex
/// pseudonyms and ids hold any four digits often enough to fail a run now and then.
fn leaks<'a>(bytes: &[u8], secrets: &'a [String]) -> Vec<&'a str> {
    let alnum = |i: Option<usize>| {
        i.and_then(|i| bytes.get(i))
            .is_some_and(u8::is_ascii_alphanumeric)
    };
    secrets
        .iter()
        .filter(|s| {
            let number = s.bytes().all(|b| b.is_ascii_digit());
            bytes.windows(s.len()).enumerate().any(|(i, w)| {
                w == s.as_bytes()
                    && !(number && (alnum(i.checked_sub(1)) || alnum(Some(i + s.len()))))
            })
        })
        .map(String::as_str)
        .collect()
}

/// Every file of a ZIP as (name, bytes).
fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            (file.name().unwrap().to_string(), data)
        })
        .collect()
}

/// The case keys of an export of `format` (CSV's first column, ODM's SubjectKeys, FHIR's
/// response ids), sorted.
fn case_keys(format: &str, bytes: &[u8]) -> Vec<String> {
    let mut keys: Vec<String> = match format {
        "csv" => unzip(bytes)["cases.csv"][1..]
            .iter()
            .map(|r| r[0].clone())
            .collect(),
        "odm" => parse_xml(bytes)
            .iter()
            .filter(|e| e.name == "SubjectData")
            .map(|e| e.attrs["SubjectKey"].clone())
            .collect(),
        _ => {
            let bundle: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            fhir_entries(&bundle, "QuestionnaireResponse")
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect()
        }
    };
    keys.sort();
    keys
}

#[test]
fn research_exports_hold_no_identifying_value_in_any_byte_and_pseudonyms_are_per_recipient() {
    let (server, secrets) = seeded_identifiers("export-research");
    let mut keys_by_format = Vec::new();
    for format in ["csv", "odm", "fhir"] {
        // The ordinary export holds them (so the scan below can fail).
        let plain = server.admin_get(&format!("/api/exports/{format}?lang=ja"));
        assert_eq!(plain.status, 200);
        let scanned: Vec<u8> = if format == "csv" {
            zip_entries(&plain.raw)
                .into_iter()
                .flat_map(|(name, data)| name.into_bytes().into_iter().chain(data))
                .collect()
        } else {
            plain.raw.clone()
        };
        let found = leaks(&scanned, &secrets);
        for expected in [PATIENT, RECORD_NUMBER, BIRTH, STUDY_ID, &secrets[10]] {
            assert!(
                found.contains(&expected),
                "{format}: {expected} not in the ordinary export"
            );
        }

        let path = |recipient: &str| {
            format!("/api/exports/{format}?research=true&recipient={recipient}&lang=de")
        };
        let first = server.admin_get(&path("Uni%20Tokyo"));
        assert_eq!(first.status, 200, "{:?}", first.body);
        assert!(
            first.head.contains("filename=\"wardcrf-research-export."),
            "{}",
            first.head
        );
        assert!(!leaks(first.head.as_bytes(), &secrets).iter().any(|_| true));
        // Every byte, and for the ZIP every byte of every file and file name too.
        let found = leaks(&first.raw, &secrets);
        assert!(found.is_empty(), "{format} research export holds {found:?}");
        if format == "csv" {
            for (name, data) in zip_entries(&first.raw) {
                let found = leaks(name.as_bytes(), &secrets);
                assert!(found.is_empty(), "file name {name} holds {found:?}");
                let found = leaks(&data, &secrets);
                assert!(found.is_empty(), "{name} holds {found:?}");
            }
        }
        // Still valid.
        match format {
            "odm" => {
                xmllint_schema_check(&first.raw);
                check_references(&parse_xml(&first.raw));
            }
            "fhir" => {
                let summary =
                    fhir_validate(&first.raw).unwrap_or_else(|problems| panic!("{problems}"));
                assert_eq!(summary["responses"], 2);
            }
            _ => {}
        }
        // Stable for one recipient, different for another.
        let again = server.admin_get(&path("Uni%20Tokyo"));
        let other = server.admin_get(&path("Charit%C3%A9%20Berlin"));
        let (k1, k2, k3) = (
            case_keys(format, &first.raw),
            case_keys(format, &again.raw),
            case_keys(format, &other.raw),
        );
        assert_eq!(k1.len(), 2);
        assert_eq!(
            k1, k2,
            "{format}: the same recipient gets the same pseudonyms"
        );
        assert!(
            k1.iter().all(|k| !k3.contains(k)),
            "{format}: two recipients share a pseudonym"
        );
        keys_by_format.push(k1);
    }
    // One recipient's pseudonym of a case is the same in every format.
    assert_eq!(keys_by_format[0], keys_by_format[1]);
    assert_eq!(keys_by_format[0], keys_by_format[2]);

    // The date of birth became the age at admission (2024-03-01: 62, not the 60 entered).
    let r = server.admin_get("/api/exports/csv?research=true&recipient=Uni%20Tokyo");
    let files = unzip(&r.raw);
    let header = &files["cases.csv"][0];
    assert_eq!(header[0], "case_pseudonym");
    for gone in ["patient_name", "hospital_record_number", "date_of_birth"] {
        assert!(!header.iter().any(|h| h == gone), "{gone} has a column");
    }
    let age = header.iter().position(|h| h == "age_years").unwrap();
    let ages: Vec<&str> = files["cases.csv"][1..]
        .iter()
        .map(|r| r[age].as_str())
        .collect();
    assert!(ages.contains(&"62"), "{ages:?}");
    assert_eq!(
        files["medications.csv"][0][..2],
        ["case_pseudonym", "row_pseudonym"]
    );
    let r = server.admin_get("/api/exports/fhir?research=true&recipient=Uni%20Tokyo");
    let bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
    let mut items = Vec::new();
    fhir_items(
        &fhir_entries(&bundle, "Questionnaire")[0]["item"],
        &mut items,
    );
    assert!(!items.iter().any(|i| i["linkId"] == "patient_name"));
    assert!(items.iter().any(|i| i["linkId"] == "age_years"));

    // A research export needs a recipient; a recipient needs research; names are names.
    let r = server.admin_get("/api/exports/odm?research=true");
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("recipient"),
        "{:?}",
        r.body
    );
    let r = server.admin_get("/api/exports/odm?recipient=x");
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = server.admin_get("/api/exports/odm?research=true&recipient=%0A");
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = server.admin_get("/api/exports/odm?research=yes&recipient=x");
    assert_eq!((r.status, r.code()), (400, "bad_request"));
}

/// A case of site A entered whole, completed and signed by the site's nurse with the meaning
/// "investigator-approval" (her password typed again), then synced. Returns (server, device,
/// case).
fn signed_case(name: &str) -> (TestServer, Device, String) {
    let server = TestServer::start(&crate::backend(), name);
    server.site("site-a");
    let mut a = device(&server, "site-a", &format!("{name}-a"));
    let case = a.store.create_case("icrown-core", &[]).unwrap();
    let values: serde_json::Value = serde_json::from_str(include_str!(
        "../../../core/tests/fixtures/complete-case.json"
    ))
    .unwrap();
    for (k, v) in values.as_object().unwrap() {
        a.set(&case, k, v.clone(), None);
    }
    a.set(&case, "consent_scope", json!(["secondary_use"]), None);
    a.store
        .set_status(&case, wardcrf_core::Status::Complete, None)
        .unwrap();
    let password = test_password(&nurse_of("site-a"));
    a.store
        .sign(&case, &password, "investigator-approval")
        .unwrap();
    a.sync().unwrap();
    (server, a, case)
}

#[test]
fn a_signature_appears_in_the_odm_and_fhir_exports_and_a_later_edit_supersedes_it() {
    let (server, mut a, case) = signed_case("export-signature");
    let nurse = nurse_of("site-a");

    // ODM: the status item the signature set carries a Signature naming the signer, the
    // device, the meaning's SignatureDef and the time; the signer's User has her name.
    let r = server.admin_get("/api/exports/odm");
    assert_eq!(r.status, 200);
    xmllint_schema_check(&r.raw);
    let elements = parse_xml(&r.raw);
    check_references(&elements);
    let signatures: Vec<&El> = elements.iter().filter(|e| e.name == "Signature").collect();
    assert_eq!(signatures.len(), 1);
    let inside = after(&elements, signatures[0], "ItemData");
    let attr = |name: &str, a: &str| {
        inside
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.attrs.get(a).cloned())
    };
    assert_eq!(attr("UserRef", "UserOID"), Some(format!("USR.{nurse}")));
    assert_eq!(
        attr("SignatureRef", "SignatureOID").as_deref(),
        Some("SD.investigator-approval")
    );
    assert!(inside.iter().any(|e| e.name == "DateTimeStamp"));
    let def = find(&elements, "SignatureDef", "OID", "SD.investigator-approval");
    assert_eq!(def.len(), 1);
    assert_eq!(def[0].attrs["Methodology"], "Electronic");
    let meaning = after(&elements, def[0], "SignatureDef");
    assert!(
        meaning
            .iter()
            .any(|e| e.name == "Meaning" && e.text.starts_with("Investigator approval")),
        "{meaning:?}"
    );
    let user = find(&elements, "User", "OID", &format!("USR.{nurse}"));
    assert!(
        after(&elements, user[0], "User")
            .iter()
            .any(|e| e.name == "FullName" && e.text == format!("Test {nurse}"))
    );

    // FHIR: one Provenance, its target the case's response, the signer as agent and who.
    let r = server.admin_get("/api/exports/fhir");
    assert_eq!(r.status, 200);
    fhir_validate(&r.raw).unwrap();
    let bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
    let provenances = fhir_entries(&bundle, "Provenance");
    assert_eq!(provenances.len(), 1);
    let p = &provenances[0];
    let response_url = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "QuestionnaireResponse")
        .unwrap()["fullUrl"]
        .clone();
    assert_eq!(p["target"][0]["reference"], response_url);
    let sig = &p["signature"][0];
    assert_eq!(sig["who"]["display"], format!("Test {nurse}"));
    assert_eq!(sig["who"]["identifier"]["value"], nurse);
    assert_eq!(sig["type"][0]["code"], "1.2.840.10065.1.12.1.5");
    assert_eq!(sig["when"], p["recorded"]);
    assert!(p.get("extension").is_none(), "not superseded yet");

    // A later edit reopens the case: the signature stays, superseded.
    a.set(&case, "vs_gcs", json!(14), Some("re-assessed"));
    a.sync().unwrap();
    let r = server.admin_get("/api/exports/fhir");
    fhir_validate(&r.raw).unwrap();
    let bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
    let provenances = fhir_entries(&bundle, "Provenance");
    assert_eq!(provenances.len(), 1);
    assert_eq!(
        provenances[0]["extension"][0]["valueBoolean"],
        json!(true),
        "{}",
        provenances[0]
    );
    let r = server.admin_get("/api/exports/odm");
    xmllint_schema_check(&r.raw);
    let elements = parse_xml(&r.raw);
    let signatures: Vec<&El> = elements.iter().filter(|e| e.name == "Signature").collect();
    assert_eq!(signatures.len(), 1);
    let signed_at = |elements: &[El], signature: &El| {
        after(elements, signature, "ItemData")
            .iter()
            .find(|e| e.name == "DateTimeStamp")
            .unwrap()
            .text
            .clone()
    };
    let odm_signed = signed_at(&elements, signatures[0]);

    // A date-shifted research export moves the time of signing with the case's dates.
    let offset = day_offset_of("Uni Tokyo", &case);
    let query = "research=true&recipient=Uni%20Tokyo&date_shift=true";
    let r = server.admin_get(&format!("/api/exports/fhir?{query}"));
    fhir_validate(&r.raw).unwrap();
    let bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
    let shifted = &fhir_entries(&bundle, "Provenance")[0];
    let recorded = provenances[0]["recorded"].as_str().unwrap();
    assert_eq!(
        shifted["recorded"].as_str().unwrap(),
        moved(recorded, offset)
    );
    assert_eq!(shifted["signature"][0]["when"], shifted["recorded"]);
    assert!(!holds(&r.raw, &recorded[..10]));
    let r = server.admin_get(&format!("/api/exports/odm?{query}"));
    xmllint_schema_check(&r.raw);
    let elements = parse_xml(&r.raw);
    let signature = elements.iter().find(|e| e.name == "Signature").unwrap();
    assert_eq!(signed_at(&elements, signature), moved(&odm_signed, offset));
}

/// Every byte of an export of `format`: for the CSV ZIP, every file name and file.
fn export_bytes(format: &str, raw: &[u8]) -> Vec<u8> {
    if format == "csv" {
        zip_entries(raw)
            .into_iter()
            .flat_map(|(name, data)| name.into_bytes().into_iter().chain(data))
            .collect()
    } else {
        raw.to_vec()
    }
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

/// Checks an ODM export against the schema and its references, or a FHIR export with the
/// validator; returns the FHIR summary.
fn assert_valid(format: &str, raw: &[u8]) -> Option<serde_json::Value> {
    match format {
        "odm" => {
            xmllint_schema_check(raw);
            check_references(&parse_xml(raw));
            None
        }
        "fhir" => Some(fhir_validate(raw).unwrap_or_else(|problems| panic!("{problems}"))),
        _ => None,
    }
}

/// The research pseudonym of a case for `recipient`: the in-process server uses this
/// process's key.
fn pseudonym_of(recipient: &str, case: &str) -> String {
    wardcrf_server::export::pseudonym::process_key()
        .unwrap()
        .pseudonym(recipient, "case", case)
}

/// The days a date-shifted research export for `recipient` moves the dates of `case` by.
fn day_offset_of(recipient: &str, case: &str) -> i64 {
    wardcrf_server::export::pseudonym::process_key()
        .unwrap()
        .day_offset(recipient, case)
}

/// Adds a pathogen-test row of a bacterial culture whose isolate is `marker`: free text that
/// finds the case in the bytes of any format.
fn marker_row(d: &mut Device, case: &str, marker: &str) {
    let mut row = serde_json::Map::new();
    row.insert("test_pathogen".into(), json!("bacterial_culture"));
    row.insert("amr_organism".into(), json!(marker));
    d.store.add_row(case, "pathogen_tests", &row, None).unwrap();
}

#[test]
fn research_exports_hold_only_the_cases_whose_consent_covers_the_purposes_they_state() {
    let server = TestServer::start(&crate::backend(), "export-consent");
    server.site("site-c");
    let mut d = device(&server, "site-c", "export-consent-d");
    let all: &[&str] = &["secondary_use", "genome", "companies", "jp_de_transfer"];
    // (marker, consent status, scope, withdrawn)
    let fixtures: &[(&str, Option<&str>, &[&str], bool)] = &[
        ("ISOLATE-WITHDRAWN-QX", Some("1"), all, true),
        ("ISOLATE-SECONDARY-QX", Some("1"), &["secondary_use"], false),
        (
            "ISOLATE-GENOME-QX",
            Some("1"),
            &["secondary_use", "genome"],
            false,
        ),
        ("ISOLATE-WAIVER-QX", Some("2"), &[], false),
        ("ISOLATE-REFUSED-QX", Some("0"), &[], false),
        ("ISOLATE-UNKNOWN-QX", Some("99"), &[], false),
        ("ISOLATE-UNANSWERED-QX", None, &[], false),
        ("ISOLATE-NOSCOPE-QX", Some("1"), &[], false),
    ];
    let mut cases: BTreeMap<&str, String> = BTreeMap::new();
    for (marker, status, scope, withdrawn) in fixtures {
        let case = d.store.create_case("icrown-core", &[]).unwrap();
        if let Some(status) = status {
            d.set(&case, "consent_status", json!(status), None);
        }
        if !scope.is_empty() {
            d.set(&case, "consent_scope", json!(scope), None);
        }
        if *withdrawn {
            d.set(&case, "consent_withdrawn", json!(true), None);
            d.set(&case, "consent_withdrawal_date", json!("2025-03-20"), None);
        }
        marker_row(&mut d, &case, marker);
        cases.insert(marker, case);
    }
    d.sync().unwrap();
    let recipient = "Uni Tokyo";

    for format in ["csv", "odm", "fhir"] {
        // The ordinary export holds every case.
        let plain = server.admin_get(&format!("/api/exports/{format}"));
        assert_eq!(plain.status, 200, "{:?}", plain.body);
        let bytes = export_bytes(format, &plain.raw);
        for (marker, case) in &cases {
            assert!(
                holds(&bytes, marker),
                "{format}: {marker} not in the plain export"
            );
            assert!(
                holds(&bytes, case),
                "{format}: {case} not in the plain export"
            );
        }
        assert_eq!(case_keys(format, &plain.raw).len(), fixtures.len());

        for (purpose, expected) in [
            (
                "",
                &[
                    "ISOLATE-SECONDARY-QX",
                    "ISOLATE-GENOME-QX",
                    "ISOLATE-WAIVER-QX",
                    // Consent recorded before the form asked for its scope: secondary use.
                    "ISOLATE-NOSCOPE-QX",
                ][..],
            ),
            (
                "&purpose=secondary_use",
                &[
                    "ISOLATE-SECONDARY-QX",
                    "ISOLATE-GENOME-QX",
                    "ISOLATE-WAIVER-QX",
                    // Consent recorded before the form asked for its scope: secondary use.
                    "ISOLATE-NOSCOPE-QX",
                ][..],
            ),
            ("&purpose=genome", &["ISOLATE-GENOME-QX"][..]),
            ("&purpose=secondary_use,genome", &["ISOLATE-GENOME-QX"][..]),
            ("&purpose=genome,jp_de_transfer", &[][..]),
            ("&purpose=companies", &[][..]),
        ] {
            let r = server.admin_get(&format!(
                "/api/exports/{format}?research=true&recipient=Uni%20Tokyo{purpose}"
            ));
            assert_eq!(r.status, 200, "{format}{purpose}: {:?}", r.body);
            assert_valid(format, &r.raw);
            let bytes = export_bytes(format, &r.raw);
            for (marker, case) in &cases {
                let key = pseudonym_of(recipient, case);
                let wanted = expected.contains(marker);
                assert_eq!(
                    holds(&bytes, marker),
                    wanted,
                    "{format}{purpose}: {marker} held: {}",
                    !wanted
                );
                assert_eq!(
                    holds(&bytes, &key),
                    wanted,
                    "{format}{purpose}: {marker}'s pseudonym"
                );
                assert!(!holds(&bytes, case), "{format}{purpose}: a case id");
            }
            let mut keys: Vec<String> = expected
                .iter()
                .map(|m| pseudonym_of(recipient, &cases[m]))
                .collect();
            keys.sort();
            assert_eq!(case_keys(format, &r.raw), keys, "{format}{purpose}");
        }
    }

    // Purposes are the consent form's; options of research exports need research=true.
    for (query, says) in [
        ("research=true&recipient=x&purpose=marketing", "marketing"),
        ("purpose=genome", "research"),
        ("date_shift=true", "research"),
        ("quasi=include", "research"),
        ("research=true&recipient=x&quasi=maybe", "include"),
        ("research=true&recipient=x&date_shift=yes", "date_shift"),
    ] {
        let r = server.admin_get(&format!("/api/exports/csv?{query}"));
        assert_eq!((r.status, r.code()), (400, "bad_request"), "{query}");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
}

#[test]
fn research_exports_show_ages_of_90_and_over_as_90_plus_in_every_format() {
    let server = TestServer::start(&crate::backend(), "export-age");
    server.site("site-g");
    let mut d = device(&server, "site-g", "export-age-d");
    // 93 at admission from the date of birth, 93 entered too (the audit trail holds it).
    let old = d.store.create_case("icrown-core", &[]).unwrap();
    consent(&mut d, &old, &["secondary_use"]);
    d.set(&old, "date_of_birth", json!("1931-11-02"), None);
    d.set(&old, "admission_date", json!("2025-03-14"), None);
    d.set(&old, "age_years", json!(93), None);
    // 91 entered, no date of birth.
    let entered = d.store.create_case("icrown-core", &[]).unwrap();
    consent(&mut d, &entered, &["secondary_use"]);
    d.set(&entered, "age_years", json!(91), None);
    // 90 on the day of admission; 89 entered a day too early.
    let ninety = d.store.create_case("icrown-core", &[]).unwrap();
    consent(&mut d, &ninety, &["secondary_use"]);
    d.set(&ninety, "date_of_birth", json!("1935-03-14"), None);
    d.set(&ninety, "admission_date", json!("2025-03-14"), None);
    d.set(&ninety, "age_years", json!(89), None);
    // 45: as a number, still text in a research export.
    let young = d.store.create_case("icrown-core", &[]).unwrap();
    consent(&mut d, &young, &["secondary_use"]);
    d.set(&young, "age_years", json!(45), None);
    d.sync().unwrap();
    let recipient = "Uni Tokyo";
    let expected: BTreeMap<String, &str> = [
        (pseudonym_of(recipient, &old), "90+"),
        (pseudonym_of(recipient, &entered), "90+"),
        (pseudonym_of(recipient, &ninety), "90+"),
        (pseudonym_of(recipient, &young), "45"),
    ]
    .into_iter()
    .collect();
    let ages = ["93".to_string(), "91".to_string()];

    for format in ["csv", "odm", "fhir"] {
        let plain = server.admin_get(&format!("/api/exports/{format}"));
        let found = leaks(&export_bytes(format, &plain.raw), &ages);
        assert_eq!(
            found,
            ["93", "91"],
            "{format}: the plain export holds the ages"
        );

        let r = server.admin_get(&format!(
            "/api/exports/{format}?research=true&recipient=Uni%20Tokyo"
        ));
        assert_eq!(r.status, 200, "{:?}", r.body);
        let bytes = export_bytes(format, &r.raw);
        let found = leaks(&bytes, &ages);
        assert!(
            found.is_empty(),
            "{format}: the research export holds {found:?}"
        );
        assert!(holds(&bytes, "90+"), "{format}");
        let summary = assert_valid(format, &r.raw);
        let shown: BTreeMap<String, String> = match format {
            "csv" => {
                let files = unzip(&r.raw);
                let cases = &files["cases.csv"];
                let col = cases[0].iter().position(|h| h == "age_years").unwrap();
                cases[1..]
                    .iter()
                    .map(|row| (row[0].clone(), row[col].clone()))
                    .collect()
            }
            "odm" => {
                let elements = parse_xml(&r.raw);
                let def = find(&elements, "ItemDef", "OID", "I.age_years")[0];
                assert_eq!(def.attrs["DataType"], "text");
                assert_eq!(def.attrs["Length"], "3");
                assert!(
                    !after(&elements, def, "ItemDef")
                        .iter()
                        .any(|e| e.name == "RangeCheck")
                );
                let mut shown = BTreeMap::new();
                for subject in elements.iter().filter(|e| e.name == "SubjectData") {
                    let values: Vec<&str> = after(&elements, subject, "SubjectData")
                        .iter()
                        .filter(|e| e.name == "ItemData" && e.attrs["ItemOID"] == "I.age_years")
                        .map(|e| e.attrs["Value"].as_str())
                        .collect();
                    // Every value of the audit trail is top-coded too: 93 entered is 90+.
                    assert!(
                        values.iter().all(|v| ["90+", "89", "45"].contains(v)),
                        "{values:?}"
                    );
                    shown.insert(
                        subject.attrs["SubjectKey"].clone(),
                        values.last().unwrap().to_string(),
                    );
                }
                shown
            }
            _ => {
                let bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
                let mut items = Vec::new();
                fhir_items(
                    &fhir_entries(&bundle, "Questionnaire")[0]["item"],
                    &mut items,
                );
                let item = items.iter().find(|i| i["linkId"] == "age_years").unwrap();
                assert_eq!(item["type"], "string");
                assert_eq!(item["maxLength"], 3);
                assert!(summary.unwrap()["answers"].as_u64().unwrap() > 4);
                fhir_entries(&bundle, "QuestionnaireResponse")
                    .iter()
                    .map(|qr| {
                        let mut answered = Vec::new();
                        fhir_items(&qr["item"], &mut answered);
                        let age = answered
                            .iter()
                            .find(|i| i["linkId"] == "age_years")
                            .unwrap();
                        (
                            qr["id"].as_str().unwrap().to_string(),
                            age["answer"][0]["valueString"]
                                .as_str()
                                .unwrap()
                                .to_string(),
                        )
                    })
                    .collect()
            }
        };
        let shown: BTreeMap<String, &str> =
            shown.iter().map(|(k, v)| (k.clone(), v.as_str())).collect();
        assert_eq!(shown, expected, "{format}");
    }
}

/// The full dates of the date-shift fixture: none may appear in a date-shifted export.
const CASE_A_DATES: &[&str] = &[
    "2025-03-14", // admission
    "2025-03-10", // onset
    "2025-03-29", // outcome
    "2024-10-01", // last vaccine
    "2025-03-15", // lab
    "2025-03-13", // specimen
    "2025-03-16", // medication start
    "2025-03-21", // medication end
    "2025-03-01", // travel end
];
const CASE_B_DATES: &[&str] = &["2025-04-02", "2025-03-30", "2025-04-11"];

/// `date` (a full date, or the date of a date-time) moved by `days`.
fn moved(date: &str, days: i64) -> String {
    let (day, rest) = date.split_at(10);
    let d = wardcrf_core::PartialDate::parse(day).unwrap();
    let shifted =
        wardcrf_core::PartialDate::from_days_since_epoch(d.days_since_epoch().unwrap() + days)
            .unwrap();
    format!("{shifted}{rest}")
}

/// Days from `a` to `b` (full dates, or the dates of date-times).
fn days_between(a: &str, b: &str) -> i64 {
    let day = |s: &str| {
        wardcrf_core::PartialDate::parse(&s[..10])
            .unwrap()
            .days_since_epoch()
            .unwrap()
    };
    day(b) - day(a)
}

#[test]
fn date_shifted_research_exports_hold_no_real_date_of_a_case_and_keep_its_intervals() {
    let server = TestServer::start(&crate::backend(), "export-dateshift");
    server.site("site-s");
    let mut d = device(&server, "site-s", "export-dateshift-d");
    let a = d.store.create_case("icrown-core", &[]).unwrap();
    consent(&mut d, &a, &["secondary_use"]);
    d.set(&a, "admission_date", json!("2025-03-14"), None);
    d.set(&a, "symptom_onset_date", json!("2025-03-10"), None);
    d.set(&a, "outcome", json!("1"), None);
    d.set(&a, "outcome_date", json!("2025-03-29"), None);
    d.set(&a, "vs_datetime", json!("2025-03-14T08:30+09:00"), None);
    d.set(&a, "vs_hr", json!(101), None);
    d.set(&a, "prior_covid19", json!("1"), None);
    d.set(&a, "prior_covid19_date", json!("2023-11"), None);
    d.set(&a, "covid19_vaccinated", json!("1"), None);
    d.set(&a, "covid19_last_vaccine_date", json!("2024-10-01"), None);
    let mut lab = serde_json::Map::new();
    lab.insert("lab_datetime".into(), json!("2025-03-15T07:05Z"));
    lab.insert("lab_crp".into(), json!(12.5));
    d.store.add_row(&a, "labs", &lab, None).unwrap();
    let mut test = serde_json::Map::new();
    test.insert("test_collection_date".into(), json!("2025-03-13"));
    test.insert("test_pathogen".into(), json!("influenza_a"));
    test.insert("test_result".into(), json!("1"));
    d.store.add_row(&a, "pathogen_tests", &test, None).unwrap();
    let mut med = serde_json::Map::new();
    med.insert("med_class".into(), json!("8"));
    med.insert("med_start_date".into(), json!("2025-03-16"));
    med.insert("med_end_date".into(), json!("2025-03-21"));
    d.store.add_row(&a, "medications", &med, None).unwrap();
    d.set(&a, "travel_14d", json!("1"), None);
    let mut travel = serde_json::Map::new();
    travel.insert("travel_country".into(), json!("TH"));
    travel.insert("travel_start_date".into(), json!("2025-02"));
    travel.insert("travel_end_date".into(), json!("2025-03-01"));
    d.store.add_row(&a, "travel", &travel, None).unwrap();
    let b = d.store.create_case("icrown-core", &[]).unwrap();
    consent(&mut d, &b, &["secondary_use"]);
    d.set(&b, "admission_date", json!("2025-04-02"), None);
    d.set(&b, "symptom_onset_date", json!("2025-03-30"), None);
    d.set(&b, "outcome", json!("1"), None);
    d.set(&b, "outcome_date", json!("2025-04-11"), None);
    d.set(&b, "vs_datetime", json!("2025-04-02T21:15Z"), None);
    d.set(&b, "vs_hr", json!(77), None);
    d.sync().unwrap();

    // The dates of the audit trail: the days the changes were made.
    let plain_odm = server.admin_get("/api/exports/odm");
    let plain = parse_xml(&plain_odm.raw);
    let stamps = |elements: &[El], case: &str| -> Vec<String> {
        let subject = find(elements, "SubjectData", "SubjectKey", case)[0];
        after(elements, subject, "SubjectData")
            .iter()
            .filter(|e| e.name == "DateTimeStamp")
            .map(|e| e.text.clone())
            .collect()
    };
    let (stamps_a, stamps_b) = (stamps(&plain, &a), stamps(&plain, &b));
    assert!(!stamps_a.is_empty() && !stamps_b.is_empty());
    let mut real: Vec<String> = CASE_A_DATES
        .iter()
        .chain(CASE_B_DATES)
        .map(|s| s.to_string())
        .collect();
    real.extend(
        stamps_a
            .iter()
            .chain(&stamps_b)
            .map(|s| s[..10].to_string()),
    );
    real.sort();
    real.dedup();
    // A recipient for whom no moved date happens to fall on a real one (a coincidence, not a
    // leak, but it would make the scan below fail).
    let recipient = (1..)
        .map(|i| format!("Uni Tokyo {i}"))
        .find(|r| {
            let (oa, ob) = (day_offset_of(r, &a), day_offset_of(r, &b));
            CASE_A_DATES
                .iter()
                .map(|s| moved(s, oa))
                .chain(CASE_B_DATES.iter().map(|s| moved(s, ob)))
                .chain(stamps_a.iter().map(|s| moved(&s[..10], oa)))
                .chain(stamps_b.iter().map(|s| moved(&s[..10], ob)))
                .all(|m| !real.contains(&m))
        })
        .unwrap();
    let (off_a, off_b) = (day_offset_of(&recipient, &a), day_offset_of(&recipient, &b));
    for off in [off_a, off_b] {
        assert!(off != 0 && (-180..=180).contains(&off), "{off}");
    }
    let (key_a, key_b) = (pseudonym_of(&recipient, &a), pseudonym_of(&recipient, &b));
    let query = format!(
        "research=true&recipient={}&date_shift=true",
        recipient.replace(' ', "%20")
    );

    for format in ["csv", "odm", "fhir"] {
        let r = server.admin_get(&format!("/api/exports/{format}?{query}"));
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_valid(format, &r.raw);
        let bytes = export_bytes(format, &r.raw);
        // No real date of either case, in any form: as a date, in a date-time, in a time stamp.
        let found = leaks(&bytes, &real);
        assert!(found.is_empty(), "{format}: the export holds {found:?}");
        assert_eq!(case_keys(format, &r.raw), sorted(&[&key_a, &key_b]));

        // Each date where it belongs, moved by its case's offset.
        let shown: BTreeMap<(String, String), String> = match format {
            "csv" => {
                let files = unzip(&r.raw);
                let mut shown = BTreeMap::new();
                for (file, fields) in [
                    (
                        "cases.csv",
                        &[
                            "admission_date",
                            "symptom_onset_date",
                            "outcome_date",
                            "vs_datetime",
                            "covid19_last_vaccine_date",
                            "prior_covid19_date",
                        ][..],
                    ),
                    ("labs.csv", &["lab_datetime"][..]),
                    ("pathogen_tests.csv", &["test_collection_date"][..]),
                    ("medications.csv", &["med_start_date", "med_end_date"][..]),
                    ("travel.csv", &["travel_start_date", "travel_end_date"][..]),
                ] {
                    let rows = &files[file];
                    for row in &rows[1..] {
                        let case = if row[0] == key_a { "a" } else { "b" };
                        for field in fields {
                            let col = rows[0].iter().position(|h| h == field).unwrap();
                            shown.insert((case.to_string(), field.to_string()), row[col].clone());
                        }
                    }
                }
                shown
            }
            "odm" => {
                let elements = parse_xml(&r.raw);
                let mut shown = BTreeMap::new();
                for (case, key) in [("a", &key_a), ("b", &key_b)] {
                    let subject = find(&elements, "SubjectData", "SubjectKey", key)[0];
                    for e in after(&elements, subject, "SubjectData") {
                        if e.name == "ItemData"
                            && let Some(v) = e.attrs.get("Value")
                        {
                            let field = e.attrs["ItemOID"].trim_start_matches("I.");
                            shown.insert((case.to_string(), field.to_string()), v.clone());
                        }
                    }
                    // Every time stamp of the audit trail moved by the case's offset.
                    let offset = if case == "a" { off_a } else { off_b };
                    let real_stamps = if case == "a" { &stamps_a } else { &stamps_b };
                    for stamp in stamps(&elements, key) {
                        assert!(
                            real_stamps.contains(&moved(&stamp, -offset)),
                            "{stamp} is no real time stamp moved by {offset}"
                        );
                    }
                }
                shown
            }
            _ => {
                let bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
                let plain_fhir: serde_json::Value =
                    serde_json::from_slice(&server.admin_get("/api/exports/fhir").raw).unwrap();
                let mut shown = BTreeMap::new();
                for (case, key, id) in [("a", &key_a, &a), ("b", &key_b, &b)] {
                    let qr = fhir_entries(&bundle, "QuestionnaireResponse")
                        .into_iter()
                        .find(|q| q["id"] == key.as_str())
                        .unwrap();
                    let mut answered = Vec::new();
                    fhir_items(&qr["item"], &mut answered);
                    for item in answered {
                        let answer = &item["answer"][0];
                        let value = answer["valueDate"]
                            .as_str()
                            .or(answer["valueDateTime"].as_str());
                        if let Some(v) = value {
                            let field = item["linkId"].as_str().unwrap().to_string();
                            // A date-time without offset is a date; as entered in originalText.
                            let entered = answer["_valueDateTime"]["extension"][0]["valueString"]
                                .as_str()
                                .unwrap_or(v);
                            shown.insert((case.to_string(), field), entered.to_string());
                        }
                    }
                    // authored: the repository's last update, moved too.
                    let plain_qr = fhir_entries(&plain_fhir, "QuestionnaireResponse")
                        .into_iter()
                        .find(|q| q["id"] == id.as_str())
                        .unwrap();
                    let offset = if case == "a" { off_a } else { off_b };
                    assert_eq!(
                        qr["authored"].as_str().unwrap(),
                        moved(plain_qr["authored"].as_str().unwrap(), offset)
                    );
                }
                // The Observations' times are the moved ones.
                for o in fhir_entries(&bundle, "Observation") {
                    let t = o["effectiveDateTime"].as_str().unwrap();
                    assert!(!real.contains(&t[..10].to_string()), "{t}");
                }
                let pathogen = fhir_entries(&bundle, "Observation")
                    .into_iter()
                    .find(|o| o["code"]["coding"][0]["code"] == "influenza_a")
                    .unwrap();
                assert_eq!(
                    pathogen["effectiveDateTime"].as_str().unwrap(),
                    moved("2025-03-13", off_a)
                );
                shown
            }
        };
        let get = |case: &str, field: &str| -> Option<&str> {
            shown
                .get(&(case.to_string(), field.to_string()))
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        for (field, date) in [
            ("admission_date", "2025-03-14"),
            ("symptom_onset_date", "2025-03-10"),
            ("outcome_date", "2025-03-29"),
            ("vs_datetime", "2025-03-14T08:30+09:00"),
            ("covid19_last_vaccine_date", "2024-10-01"),
            ("lab_datetime", "2025-03-15T07:05Z"),
            ("test_collection_date", "2025-03-13"),
            ("med_start_date", "2025-03-16"),
            ("med_end_date", "2025-03-21"),
            ("travel_end_date", "2025-03-01"),
        ] {
            let want = moved(date, off_a);
            let got = get("a", field).unwrap_or_else(|| panic!("{format}: no {field}"));
            // FHIR writes a date-time with its seconds.
            assert_eq!(
                got.replace(":00+", "+").replace(":00Z", "Z"),
                want.replace(":00+", "+").replace(":00Z", "Z"),
                "{format}: {field}"
            );
        }
        for (field, date) in [
            ("admission_date", "2025-04-02"),
            ("symptom_onset_date", "2025-03-30"),
            ("outcome_date", "2025-04-11"),
        ] {
            assert_eq!(
                get("b", field),
                Some(moved(date, off_b).as_str()),
                "{format}: {field}"
            );
        }
        // Intervals within a case survive.
        for case in ["a", "b"] {
            let admission = get(case, "admission_date").unwrap();
            let onset = get(case, "symptom_onset_date").unwrap();
            let outcome = get(case, "outcome_date").unwrap();
            let want = if case == "a" { (4, 15) } else { (3, 9) };
            assert_eq!(
                (
                    days_between(onset, admission),
                    days_between(admission, outcome)
                ),
                want,
                "{format}: case {case}"
            );
        }
        // Partial dates cannot move by whole days: they are left out.
        for field in ["prior_covid19_date", "travel_start_date"] {
            assert_eq!(get("a", field), None, "{format}: {field}");
        }
    }

    // Without date shift the dates are as entered, partial dates included.
    let r = server.admin_get("/api/exports/csv?research=true&recipient=Uni%20Tokyo");
    let files = unzip(&r.raw);
    let cases = &files["cases.csv"];
    let col = |h: &str| cases[0].iter().position(|c| c == h).unwrap();
    let row = cases[1..]
        .iter()
        .find(|row| row[0] == pseudonym_of("Uni Tokyo", &a))
        .unwrap();
    assert_eq!(row[col("admission_date")], "2025-03-14");
    assert_eq!(row[col("prior_covid19_date")], "2023-11");
}

#[test]
fn quasi_identifying_fields_are_left_out_of_research_exports_unless_asked_for() {
    let server = TestServer::start(&crate::backend(), "export-quasi");
    server.site("site-q");
    let mut d = device(&server, "site-q", "export-quasi-d");
    let case = d.store.create_case("icrown-core", &[]).unwrap();
    consent(&mut d, &case, &["secondary_use"]);
    let rare = "Kuru-like prion disease of Okutama QX";
    d.set(&case, "final_diagnosis", json!("other"), None);
    d.set(&case, "final_diagnosis_other", json!(rare), None);
    d.set(&case, "vs_hr", json!(88), None);
    d.sync().unwrap();
    for format in ["csv", "odm", "fhir"] {
        let plain = server.admin_get(&format!("/api/exports/{format}"));
        assert!(holds(&export_bytes(format, &plain.raw), rare), "{format}");
        for (quasi, held) in [
            ("", false),
            ("&quasi=exclude", false),
            ("&quasi=include", true),
        ] {
            let r = server.admin_get(&format!(
                "/api/exports/{format}?research=true&recipient=Uni%20Tokyo{quasi}"
            ));
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_valid(format, &r.raw);
            let bytes = export_bytes(format, &r.raw);
            assert_eq!(holds(&bytes, rare), held, "{format}{quasi}: the value");
            // Its column, ItemDef or item too.
            let defined = match format {
                "csv" => unzip(&r.raw)["cases.csv"][0]
                    .iter()
                    .any(|h| h == "final_diagnosis_other"),
                "odm" => !find(
                    &parse_xml(&r.raw),
                    "ItemDef",
                    "OID",
                    "I.final_diagnosis_other",
                )
                .is_empty(),
                _ => {
                    let bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
                    let mut items = Vec::new();
                    fhir_items(
                        &fhir_entries(&bundle, "Questionnaire")[0]["item"],
                        &mut items,
                    );
                    let condition = &fhir_entries(&bundle, "Condition")[0];
                    assert_eq!(condition["code"]["coding"][0]["code"], "other");
                    assert_eq!(condition.get("note").is_some(), held);
                    items.iter().any(|i| i["linkId"] == "final_diagnosis_other")
                }
            };
            assert_eq!(defined, held, "{format}{quasi}: the field");
            assert!(
                holds(&bytes, "final_diagnosis"),
                "{format}: the diagnosis stays"
            );
        }
    }
}

#[test]
fn standard_codes_are_odm_aliases_and_fhir_codings_and_each_pathogen_test_has_its_own() {
    let server = TestServer::start(&crate::backend(), "export-codes");
    server.site("site-k");
    let mut d = device(&server, "site-k", "export-codes-d");
    let case = d.store.create_case("icrown-core", &[]).unwrap();
    consent(&mut d, &case, &["secondary_use"]);
    d.set(&case, "final_diagnosis", json!("influenza"), None);
    for (pathogen, result, date) in [
        ("influenza_a", "1", "2025-03-13"),
        ("monkeypox_virus_mpox", "0", "2025-03-14"),
        ("adenovirus", "99", "2025-03-14"),
    ] {
        let mut row = serde_json::Map::new();
        row.insert("test_collection_date".into(), json!(date));
        row.insert("test_specimen".into(), json!("12"));
        row.insert("test_pathogen".into(), json!(pathogen));
        row.insert("test_method".into(), json!("1"));
        row.insert("test_result".into(), json!(result));
        if result == "1" {
            row.insert("test_ct_value".into(), json!(24.5));
        }
        d.store
            .add_row(&case, "pathogen_tests", &row, None)
            .unwrap();
    }
    let mut med = serde_json::Map::new();
    med.insert("med_class".into(), json!("8"));
    med.insert("med_name".into(), json!("J05AB16"));
    med.insert("med_route".into(), json!("2"));
    med.insert("med_start_date".into(), json!("2025-03-14"));
    d.store.add_row(&case, "medications", &med, None).unwrap();
    d.sync().unwrap();
    const ATC: &str = "http://www.whocc.no/atc";
    const SNOMED: &str = "http://snomed.info/sct";
    const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
    const ICD10GM: &str = "http://fhir.de/CodeSystem/bfarm/icd-10-gm";
    const CHOICE_CODING: &str = "urn:wardcrf:fhir:StructureDefinition:choice-coding";

    for research in ["", "?research=true&recipient=Uni%20Tokyo&date_shift=true"] {
        // FHIR.
        let r = server.admin_get(&format!("/api/exports/fhir{research}"));
        assert_eq!(r.status, 200, "{:?}", r.body);
        let summary = fhir_validate(&r.raw).unwrap_or_else(|problems| panic!("{problems}"));
        assert_eq!(summary["conditions"], 1, "{summary}");
        assert_eq!(summary["coded_observations"], 3, "{summary}");
        assert!(
            summary["standard_codings"][ICD10].as_u64().unwrap() >= 2,
            "{summary}"
        );
        // SARS-CoV-2's codes belong to no test here.
        assert!(!holds(&r.raw, "94500-6"));
        let bundle: serde_json::Value = serde_json::from_slice(&r.raw).unwrap();
        let mut items = Vec::new();
        fhir_items(
            &fhir_entries(&bundle, "Questionnaire")[0]["item"],
            &mut items,
        );
        let item = |id: &str| items.iter().find(|i| i["linkId"] == id).unwrap().clone();
        let option = |id: &str, code: &str| {
            item(id)["answerOption"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["valueCoding"]["code"] == code)
                .unwrap()["valueCoding"]
                .clone()
        };
        let extension_codes = |coding: &serde_json::Value| -> Vec<(String, String)> {
            coding["extension"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["url"] == CHOICE_CODING)
                .map(|e| {
                    (
                        e["valueCoding"]["system"].as_str().unwrap().to_string(),
                        e["valueCoding"]["code"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        };
        let pair = |s: &str, c: &str| (s.to_string(), c.to_string());
        // No code of the field for every pathogen; the organism on each answer option.
        assert!(item("test_pathogen").get("code").is_none());
        assert_eq!(
            extension_codes(&option("test_pathogen", "influenza_a")),
            [pair(SNOMED, "407479009")]
        );
        assert_eq!(
            extension_codes(&option("test_pathogen", "monkeypox_virus_mpox")),
            [pair(SNOMED, "59774002")]
        );
        assert!(extension_codes(&option("test_pathogen", "adenovirus")).is_empty());
        assert_eq!(
            option("test_pathogen", "influenza_a")["system"],
            "urn:wardcrf:codes:test_pathogen"
        );
        assert_eq!(
            extension_codes(&option("final_diagnosis", "influenza")),
            [pair(ICD10, "J10"), pair(ICD10GM, "J10")]
        );
        assert_eq!(item("vs_temp")["code"][0]["system"], "http://loinc.org");
        assert_eq!(
            extension_codes(&option("med_name", "J05AB16")),
            [pair(ATC, "J05AB16")]
        );
        // The answers carry them too.
        let qr = &fhir_entries(&bundle, "QuestionnaireResponse")[0];
        let mut answered = Vec::new();
        fhir_items(&qr["item"], &mut answered);
        let diagnosis = answered
            .iter()
            .find(|i| i["linkId"] == "final_diagnosis")
            .unwrap();
        assert_eq!(
            extension_codes(&diagnosis["answer"][0]["valueCoding"]),
            [pair(ICD10, "J10"), pair(ICD10GM, "J10")]
        );
        let drug = answered.iter().find(|i| i["linkId"] == "med_name").unwrap();
        assert_eq!(
            extension_codes(&drug["answer"][0]["valueCoding"]),
            [pair(ATC, "J05AB16")]
        );
        let pathogens: Vec<Vec<(String, String)>> = answered
            .iter()
            .filter(|i| i["linkId"] == "test_pathogen")
            .map(|i| extension_codes(&i["answer"][0]["valueCoding"]))
            .collect();
        assert_eq!(pathogens.len(), 3);
        assert!(pathogens.contains(&vec![pair(SNOMED, "59774002")]));

        // An Observation per test, coded by the pathogen tested: never one code for all.
        let observations = fhir_entries(&bundle, "Observation");
        let test = |code: &str| {
            observations
                .iter()
                .find(|o| o["code"]["coding"][0]["code"] == code)
                .unwrap_or_else(|| panic!("no Observation of {code}"))
                .clone()
        };
        let codings = |o: &serde_json::Value| -> Vec<(String, String)> {
            o["code"]["coding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["system"].as_str().unwrap().to_string(),
                        c["code"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        };
        let flu = test("influenza_a");
        let mpox = test("monkeypox_virus_mpox");
        let adeno = test("adenovirus");
        assert_eq!(
            codings(&flu),
            [
                pair("urn:wardcrf:codes:test_pathogen", "influenza_a"),
                pair(SNOMED, "407479009")
            ]
        );
        assert_eq!(
            codings(&mpox),
            [
                pair("urn:wardcrf:codes:test_pathogen", "monkeypox_virus_mpox"),
                pair(SNOMED, "59774002")
            ]
        );
        assert_eq!(
            codings(&adeno),
            [pair("urn:wardcrf:codes:test_pathogen", "adenovirus")]
        );
        assert_ne!(codings(&flu), codings(&mpox));
        for o in [&flu, &mpox, &adeno] {
            assert!(!o.to_string().contains("840533007"), "{o}");
            assert_eq!(o["category"][0]["coding"][0]["code"], "laboratory");
        }
        assert_eq!(flu["code"]["text"], "Pathogen tested: Influenza A");
        assert_eq!(adeno["code"]["text"], "Pathogen tested: Adenovirus");
        assert_eq!(flu["valueCodeableConcept"]["coding"][0]["code"], "1");
        assert_eq!(flu["valueCodeableConcept"]["text"], "Detected");
        assert_eq!(mpox["valueCodeableConcept"]["text"], "Not detected");
        assert_eq!(flu["method"]["coding"][0]["code"], "1");
        assert_eq!(flu["component"][0]["valueQuantity"]["value"], 24.5);
        assert_eq!(flu["component"][0]["valueQuantity"]["code"], "{Ct}");
        if research.is_empty() {
            assert_eq!(flu["effectiveDateTime"], "2025-03-13");
        }

        // The diagnosis as a Condition with its ICD-10 and ICD-10-GM codes.
        let condition = &fhir_entries(&bundle, "Condition")[0];
        assert_eq!(
            codings(condition),
            [
                pair("urn:wardcrf:codes:final_diagnosis", "influenza"),
                pair(ICD10, "J10"),
                pair(ICD10GM, "J10")
            ]
        );
        assert_eq!(
            condition["category"][0]["coding"][0]["code"],
            "encounter-diagnosis"
        );
        let key = if research.is_empty() {
            case.clone()
        } else {
            pseudonym_of("Uni Tokyo", &case)
        };
        assert_eq!(condition["subject"]["identifier"]["value"], key.as_str());
        assert_eq!(qr["id"], key.as_str());

        // ODM: an Alias per code, on the CodeListItems of the choices.
        let r = server.admin_get(&format!("/api/exports/odm{research}"));
        assert_eq!(r.status, 200);
        xmllint_schema_check(&r.raw);
        assert!(!holds(&r.raw, "94500-6"));
        let elements = parse_xml(&r.raw);
        let aliases = |list: &str, code: &str| -> Vec<(String, String)> {
            let cl = find(&elements, "CodeList", "OID", list)[0];
            let inside = after(&elements, cl, "CodeList");
            let item = inside
                .iter()
                .position(|e| e.name == "CodeListItem" && e.attrs["CodedValue"] == code)
                .unwrap();
            inside[item + 1..]
                .iter()
                .take_while(|e| e.name != "CodeListItem")
                .filter(|e| e.name == "Alias")
                .map(|e| (e.attrs["Context"].clone(), e.attrs["Name"].clone()))
                .collect()
        };
        assert_eq!(
            aliases("CL.test_pathogen", "influenza_a"),
            [pair("SNOMED-CT", "407479009")]
        );
        assert_eq!(
            aliases("CL.test_pathogen", "monkeypox_virus_mpox"),
            [pair("SNOMED-CT", "59774002")]
        );
        assert!(aliases("CL.test_pathogen", "adenovirus").is_empty());
        assert_eq!(
            aliases("CL.final_diagnosis", "influenza"),
            [pair("ICD-10", "J10"), pair("ICD-10-GM", "J10")]
        );
        assert_eq!(aliases("CL.med_name", "J05AB16"), [pair("ATC", "J05AB16")]);
        let pathogen = find(&elements, "ItemDef", "OID", "I.test_pathogen")[0];
        let field_aliases: Vec<&str> = after(&elements, pathogen, "ItemDef")
            .iter()
            .filter(|e| e.name == "Alias")
            .map(|e| e.attrs["Context"].as_str())
            .collect();
        assert_eq!(field_aliases, ["CDASH"]);
    }
}
