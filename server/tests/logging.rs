//! The server's log: `wardcrf-server --log-format json` on embedded SQLite, through a whole
//! sync scenario over HTTP (two devices of one site push, pull and conflict; the admin reads
//! cases, a history and an export; a wrong token, an unknown path and a tablet sign-in naming a
//! patient). Every log line must be one JSON object, each exchange must give exactly one
//! `wardcrf::sync` line with its counts, bytes and duration, and no line may hold a seeded
//! patient value, a reason, a token or the password of the staff member who signed in on the
//! devices.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const BIN: &str = env!("CARGO_BIN_EXE_wardcrf-server");

/// Values no log line may hold: identifying fields, the study case id (free text), numbers with decimals (no
/// timestamp, count or duration can hold three digits before a '.'), a date and the reasons.
const SEEDED: &[&str] = &[
    "Quillon Vexmarrow",
    "Vexmarrow",
    "HRN-55213-QZ",
    "1931-07-19",
    "SUBJ-ZZ-7781",
    "143.27",
    "187.43",
    "191.66",
    "reason-XQ-4471",
    "reason-KW-9902",
];

/// The binary with JSON logs, its standard output and error read line by line until it ends.
struct Running {
    child: common::Running,
    addr: std::net::SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Started with `RUST_LOG` unset (the default filter, `info`).
    fn start(data: &std::path::Path) -> Running {
        Running::start_with(data, None)
    }

    /// Started with `RUST_LOG=filter` when given.
    fn start_with(data: &std::path::Path, filter: Option<&str>) -> Running {
        let mut command = Command::new(BIN);
        command
            .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(["--log-format", "json"]);
        match filter {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        command.stderr(Stdio::piped());
        let Listening {
            mut child,
            address,
            lines,
            stdout: out,
        } = start_until(&mut command, "listening on http://");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let err_lines = stderr.clone();
        let err = BufReader::new(child.0.stderr.take().unwrap());
        let err_reader = std::thread::spawn(move || {
            for line in err.lines() {
                err_lines.lock().unwrap().push(line.unwrap());
            }
        });
        let addr = address.parse().unwrap();
        let stdout = Arc::new(Mutex::new(lines));
        let out_lines = stdout.clone();
        let out_reader = std::thread::spawn(move || {
            for line in out.lines() {
                out_lines.lock().unwrap().push(line.unwrap());
            }
        });
        Running {
            child,
            addr,
            stdout,
            readers: vec![err_reader, out_reader],
            stderr,
        }
    }

    /// Stops the server and gives everything it wrote: (standard output, standard error).
    fn stop(mut self) -> (Vec<String>, Vec<String>) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (out, err)
    }
}

/// The password of the ward's site nurse in these tests (never logged).
const NURSE_PASSWORD: &str = "nurse password Zq-7731-Vox";

/// A device store enrolled at `site` through the running server, on which the site's nurse
/// `nurse-<site>` (added through the admin API when missing) signed in online.
struct Enrolled {
    store: wardcrf_core::CaseStore,
    http: Http,
}

fn enrol(server: &Running, admin: &str, site: &str, dir: &std::path::Path) -> Enrolled {
    let store = wardcrf_core::CaseStore::create(
        dir,
        &wardcrf_core::Passphrase::insecure_for_tests("p", 10),
    )
    .unwrap();
    let code = post_json(
        server.addr,
        "/api/admin/enroll-codes",
        Some(admin),
        &json!({"site_id": site}),
    );
    assert_eq!(code.status, 201, "{:?}", code.body);
    let enrolled = post_json(
        server.addr,
        "/api/enroll",
        None,
        &json!({"code": code.body["code"], "device_id": store.device_id()}),
    );
    assert_eq!(enrolled.status, 201, "{:?}", enrolled.body);
    let http = Http {
        addr: server.addr,
        token: enrolled.body["token"].as_str().unwrap().to_string(),
    };
    let nurse = format!("nurse-{site}");
    let added = post_json(
        server.addr,
        "/api/admin/staff",
        Some(admin),
        &json!({"username": nurse, "role": "site_nurse", "site_id": site, "password": NURSE_PASSWORD}),
    );
    assert!([201, 409].contains(&added.status), "{:?}", added.body);
    let mut store = store;
    wardcrf_core::sync::sign_in(&mut store, Some(&http), &nurse, NURSE_PASSWORD).unwrap();
    Enrolled { store, http }
}

impl Enrolled {
    /// Syncs; returns how many exchanges it made.
    fn sync(&mut self) -> usize {
        wardcrf_core::sync::sync(&mut self.store, &self.http, &mut |_| {})
            .unwrap()
            .exchanges
    }

    fn set(&mut self, case: &str, field: &str, v: Value, reason: Option<&str>) {
        self.store
            .set_value(case, &wardcrf_core::FieldPath::field(field), v, reason)
            .unwrap();
    }
}

#[test]
fn json_log_has_one_line_per_exchange_and_no_patient_value_or_token() {
    let dir = temp_dir("logging");
    let server = Running::start(&dir.join("data"));
    let admin = std::fs::read_to_string(dir.join("data").join("admin-token"))
        .unwrap()
        .trim()
        .to_string();
    let site = post_json(
        server.addr,
        "/api/admin/sites",
        Some(&admin),
        &json!({"site_id": "ward-a", "name": "Ward A"}),
    );
    assert_eq!(site.status, 201, "{:?}", site.body);
    let mut a = enrol(&server, &admin, "ward-a", &dir.join("a"));
    let mut b = enrol(&server, &admin, "ward-a", &dir.join("b"));
    let mut exchanges = 0;

    // A enters two cases with identifying data, free text and decimals, and pushes them.
    let first = a.store.create_case("icrown-core", &[]).unwrap();
    a.set(&first, "patient_name", json!("Quillon Vexmarrow"), None);
    a.set(
        &first,
        "hospital_record_number",
        json!("HRN-55213-QZ"),
        None,
    );
    a.set(&first, "date_of_birth", json!("1931-07-19"), None);
    a.set(&first, "case_id", json!("SUBJ-ZZ-7781"), None);
    a.set(&first, "vs_weight", json!(143.27), None);
    let second = a.store.create_case("icrown-core", &[]).unwrap();
    a.set(&second, "vs_height", json!(187.43), None);
    exchanges += a.sync();
    // B pulls them; then both change the same field apart: a conflict once both synced.
    exchanges += b.sync();
    a.set(&second, "vs_height", json!(191.66), Some("reason-XQ-4471"));
    b.set(&second, "vs_height", json!(143.27), Some("reason-KW-9902"));
    exchanges += a.sync();
    exchanges += b.sync();
    exchanges += a.sync();

    // The admin reads what the repository holds.
    assert_eq!(get(server.addr, "/api/cases", Some(&admin)).status, 200);
    let case = get(server.addr, &format!("/api/cases/{second}"), Some(&admin));
    assert_eq!(case.status, 200);
    assert!(!case.body["conflicts"].as_array().unwrap().is_empty());
    let path = format!("/api/cases/{first}/history?field=patient_name");
    assert_eq!(get(server.addr, &path, Some(&admin)).status, 200);
    let export = get(server.addr, "/api/exports/csv?site=ward-a", Some(&admin));
    assert_eq!(export.status, 200);
    // A wrong token, and a path no route matches that names a patient.
    let refused = post_json(
        server.addr,
        "/api/sync",
        Some(&a.http.token[1..]),
        &json!({}),
    );
    assert_eq!(refused.status, 401);
    assert_eq!(get(server.addr, "/api/Vexmarrow", None).status, 404);
    // A sign-in on a tablet with a patient's name typed as the user: refused, not logged.
    let typo = post_json(
        server.addr,
        wardcrf_core::staff::SIGN_IN_PATH,
        Some(&a.http.token),
        &json!({"user": "Vexmarrow", "password": NURSE_PASSWORD}),
    );
    assert_eq!(typo.status, 401);

    let secrets: [&str; 4] = [&admin, &a.http.token, &b.http.token, NURSE_PASSWORD];
    let (stdout, stderr) = server.stop();

    // Every log line is one JSON object; standard output holds the start-up banner only.
    let lines: Vec<Value> = stderr
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l.is_object() && l["level"].is_string())
    );
    let banner = [
        "wrote a new admin token to ",
        "wrote a new pseudonym key to ",
        "wrote a new metrics token to ",
        "web console: ",
        "listening on ",
    ];
    for line in &stdout {
        assert!(banner.iter().any(|b| line.starts_with(b)), "{line}");
    }

    // Exactly one sync line per exchange, with its counts, bytes and duration.
    let syncs: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "wardcrf::sync")
        .collect();
    assert_eq!(syncs.len(), exchanges, "{syncs:#?}");
    let devices = [a.store.device_id(), b.store.device_id()];
    for line in &syncs {
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["message"], "sync exchange", "{line}");
        assert_eq!(line["site"], "ward-a", "{line}");
        assert!(
            devices.iter().any(|d| line["device"] == d.as_str()),
            "{line}"
        );
        for count in [
            "pushed",
            "stored",
            "conflicts",
            "sent",
            "repush",
            "bytes_in",
            "bytes_out",
            "duration_ms",
        ] {
            assert!(line[count].is_u64(), "{count} in {line}");
        }
    }
    assert_eq!(syncs[0]["pushed"], 2, "{:?}", syncs[0]);
    assert_eq!(syncs[0]["stored"], 2, "{:?}", syncs[0]);
    assert!(syncs.iter().any(|l| l["conflicts"].as_u64() > Some(0)));
    assert!(syncs.iter().any(|l| l["sent"].as_u64() > Some(0)));

    // One request line per request, with its route template, never the path's ids.
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "wardcrf::http" && l["message"] == "request")
        .collect();
    let routed = |route: &str| {
        requests
            .iter()
            .filter(|l| l["span"]["route"] == route)
            .count()
    };
    assert_eq!(routed("/api/sync"), exchanges + 1);
    assert_eq!(routed("/api/cases/{case_id}"), 1);
    assert_eq!(routed("/api/cases/{case_id}/history"), 1);
    assert!(requests.iter().all(|l| l["status"].is_u64()
        && l["duration_ms"].is_u64()
        && l["span"]["method"].is_string()));

    // Nothing seeded, no token, anywhere.
    for line in stderr.iter().chain(&stdout) {
        for value in SEEDED.iter().chain(&secrets) {
            assert!(!line.contains(value), "{value:?} logged: {line}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rust_log_chooses_the_lines() {
    let dir = temp_dir("logging-filter");
    let server = Running::start_with(&dir.join("data"), Some("warn,wardcrf::http=info"));
    assert_eq!(get(server.addr, "/api/health", None).status, 200);
    let (_, stderr) = server.stop();
    // Only the request's line: nothing else of level INFO gets through.
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    let line: Value = serde_json::from_str(&stderr[0]).unwrap();
    assert_eq!(line["target"], "wardcrf::http", "{line}");
    assert_eq!(line["span"]["route"], "/api/health", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    std::fs::remove_dir_all(&dir).unwrap();
}
