//! `wardcrf device enroll`, `wardcrf sync` and `wardcrf admin` as a user runs them: the real
//! binary and real stores, first against a small fake repository on a loopback socket (what the
//! client sends, how it reports refusals), then end to end against the real `wardcrf-server`.

mod common;

use common::{
    A_PASS, ADMIN_TOKEN, B_PASS, Store, TOKEN, failure, json_of, run_env, temp_dir, text,
};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

impl Store {
    fn enroll(&mut self, server: &str, code: &str) -> Output {
        self.secrets.push(code.to_string());
        self.run(
            &["device", "enroll"],
            &["--server", server, "--code", code, "--json"],
        )
    }

    fn sync(&self) -> Output {
        self.run(&["sync"], &["--json"])
    }

    fn set(&self, case: &str, field: &str, value: &str, extra: &[&str]) -> Value {
        let mut rest = vec![case, field, value];
        rest.extend(extra);
        self.ok(&["case", "set"], &rest)
    }

    /// Every byte of every file of the store, to look for a plaintext secret.
    fn raw_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(&self.dir).expect("store dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                all.extend(std::fs::read(&path).expect("store file"));
            }
        }
        all
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// A fake repository: answers every request with what the test's handler says.

#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Value,
}

type Handler = dyn Fn(&Received) -> (u16, Value) + Send + Sync;

struct FakeRepo {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeRepo {
    fn start(handler: Box<Handler>) -> FakeRepo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_string();
                let path = parts.next().unwrap_or_default().to_string();
                let (mut length, mut authorization, mut gzipped) = (0, None, false);
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 {
                        break;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            "authorization" => authorization = Some(value.trim().to_string()),
                            "content-encoding" => gzipped = value.trim() == "gzip",
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let req = Received {
                    method,
                    path,
                    authorization,
                    body: readable(&body, gzipped),
                };
                let (status, answer) = handler(&req);
                log.lock().expect("log").push(req);
                let answer = answer.to_string();
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        FakeRepo { base, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }
}

/// A request body as JSON: sync requests travel in the binary encoding, gzipped when large.
fn readable(body: &[u8], gzipped: bool) -> Value {
    use wardcrf_core::sync::{BinaryBody, SyncRequest, gunzip};
    let body = if gzipped {
        gunzip(body, 1 << 26).unwrap_or_default()
    } else {
        body.to_vec()
    };
    serde_json::from_slice(&body)
        .ok()
        .or_else(|| {
            SyncRequest::from_binary(&body)
                .ok()
                .and_then(|r| serde_json::to_value(r).ok())
        })
        .unwrap_or(Value::Null)
}

fn error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// What the fake repository answers to a sync: "ok", "revoked" or "down".
type Mode = Arc<Mutex<&'static str>>;

fn fake_for_devices(mode: Mode) -> FakeRepo {
    FakeRepo::start(Box::new(move |req| match req.path.as_str() {
        "/api/enroll" if req.body["code"] == "GOOD-CODE" => (
            201,
            json!({"device_id": req.body["device_id"], "site_id": "jp-tokyo-01", "token": TOKEN}),
        ),
        "/api/enroll" => (
            400,
            error("invalid_code", "this enrolment code is not known"),
        ),
        "/api/sync" => match *mode.lock().expect("mode") {
            "ok" => (
                200,
                json!({"protocol": 1, "cursor": 1, "more": false, "cases": []}),
            ),
            "revoked" => (
                403,
                error(
                    "device_revoked",
                    "this device has been revoked by the site administrator; ask them to enroll it again",
                ),
            ),
            _ => (503, error("unavailable", "the repository is restarting")),
        },
        "/api/device/roster" => (200, common::test_roster("jp-tokyo-01")),
        _ => (404, error("not_found", "no such endpoint")),
    }))
}

#[test]
fn sync_needs_an_enrolled_device() {
    let s = Store::new("unenrolled", A_PASS);
    let err = failure(&s.sync(), 2);
    assert!(
        err.contains("this device is not enrolled: run 'wardcrf device enroll'"),
        "{err}"
    );
    // And a passphrase, like every store command.
    let out = run_env(&["sync", "--store", s.path()], &[], &[]);
    assert!(failure(&out, 2).contains("WARDCRF_PASSPHRASE"));
}

#[test]
fn enrolment_keeps_the_token_sealed_in_the_store_and_sync_sends_it() {
    let mode: Mode = Arc::new(Mutex::new("ok"));
    let repo = fake_for_devices(mode.clone());
    let mut s = Store::new("enrol", A_PASS);

    let err = failure(&s.enroll(&repo.base, "BAD-CODE"), 2);
    assert!(err.contains("this enrolment code is not known"), "{err}");

    let v = json_of(&s.enroll(&repo.base, "GOOD-CODE"));
    let device = v["device_id"].as_str().expect("device id").to_string();
    assert_eq!(v, json!({"device_id": device, "site": "jp-tokyo-01"}));
    let enrol = &repo.received()[1];
    assert_eq!(
        enrol.body,
        json!({"code": "GOOD-CODE", "device_id": device})
    );
    assert_eq!(enrol.authorization, None);
    assert!(
        !contains(&s.raw_bytes(), TOKEN.as_bytes()),
        "the device token is stored in plaintext"
    );

    let case = s.new_case("icrown-core");
    s.set(&case, "vs_hr", "88", &[]);
    assert_eq!(
        json_of(&s.sync()),
        json!({"pushed": 1, "pulled": 0, "conflicts": 0})
    );
    // The sync, then the site's roster (with the same token).
    let mut received = repo.received();
    let roster = received.pop().expect("a roster request");
    assert_eq!(
        (roster.method.as_str(), roster.path.as_str()),
        ("GET", "/api/device/roster")
    );
    assert_eq!(roster.authorization, Some(format!("Bearer {TOKEN}")));
    let sync = received.pop().expect("a sync request");
    assert_eq!(
        (sync.method.as_str(), sync.path.as_str()),
        ("POST", "/api/sync")
    );
    assert_eq!(sync.authorization, Some(format!("Bearer {TOKEN}")));
    assert_eq!(sync.body["push"][0]["case_id"], case.as_str());
    // Without --json: a sentence.
    let out = s.run(&["sync"], &[]);
    assert!(text(&out.stdout).contains("Synced with"), "{out:?}");

    *mode.lock().expect("mode") = "revoked";
    let err = failure(&s.sync(), 2);
    assert!(err.contains("revoked"), "{err}");

    *mode.lock().expect("mode") = "down";
    let err = failure(&s.sync(), 3);
    assert!(
        err.contains("could not be reached") && err.contains("restarting"),
        "{err}"
    );
}

#[test]
fn enrolment_refuses_plain_http_to_another_machine_and_reports_no_connection() {
    let mut s = Store::new("http", A_PASS);
    let err = failure(&s.enroll("http://crf.example-hospital.org", "GOOD-CODE"), 2);
    assert!(err.contains("https://"), "{err}");
    let err = failure(&s.enroll("crf.example-hospital.org", "GOOD-CODE"), 2);
    assert!(err.contains("not a repository address"), "{err}");

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = failure(&s.enroll(&format!("http://{addr}"), "GOOD-CODE"), 3);
    assert!(err.contains("could not be reached"), "{err}");
    assert!(failure(&s.sync(), 2).contains("not enrolled"));
}

/// `wardcrf admin --server URL --token-file FILE …` with the given extra secrets.
fn admin(server: &str, token_file: &Path, args: &[&str], secrets: &[&str]) -> Output {
    let mut all = vec![
        "admin",
        "--server",
        server,
        "--token-file",
        token_file.to_str().expect("utf-8 path"),
    ];
    all.extend(args);
    run_env(&all, &[], secrets)
}

#[test]
fn admin_commands_call_the_api_with_the_token_from_the_file() {
    let repo = FakeRepo::start(Box::new(|req| {
        if req.authorization.as_deref() != Some(&format!("Bearer {ADMIN_TOKEN}")) {
            return (
                401,
                error("unauthorized", "the administrator token is not valid"),
            );
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/admin/sites") => (201, req.body.clone()),
            ("GET", "/api/admin/sites") => (
                200,
                json!([{"site_id": "jp-tokyo-01", "name": "Tokyo General", "devices": 1, "cases": 3}]),
            ),
            ("POST", "/api/admin/enroll-codes") => (
                201,
                json!({"code": "ABCDEFGHJKLMNPQR", "site_id": req.body["site_id"], "expires_at": 1_900_000_000}),
            ),
            ("GET", "/api/admin/devices") => (
                200,
                json!([{"device_id": "0123456789abcdef0123456789abcdef", "site_id": "jp-tokyo-01",
                        "enrolled_at": 1_800_000_000, "last_sync_at": null, "revoked": false}]),
            ),
            ("POST", "/api/admin/devices/0123456789abcdef0123456789abcdef/revoke") => (
                200,
                json!({"device_id": "0123456789abcdef0123456789abcdef", "revoked": true}),
            ),
            ("POST", p) if p.ends_with("/revoke") => {
                (404, error("unknown_device", "no device with this id"))
            }
            _ => (404, error("not_found", "no such endpoint")),
        }
    }));
    let dir = temp_dir("admin");
    std::fs::create_dir_all(&dir).expect("dir");
    let token_file = dir.join("admin-token");
    std::fs::write(&token_file, format!("  {ADMIN_TOKEN}\n")).expect("token file");
    let base = repo.base.as_str();

    let v = json_of(&admin(
        base,
        &token_file,
        &[
            "site",
            "add",
            "jp-tokyo-01",
            "--name",
            "Tokyo General",
            "--json",
        ],
        &[],
    ));
    assert_eq!(
        v,
        json!({"site_id": "jp-tokyo-01", "name": "Tokyo General"})
    );
    assert_eq!(repo.received()[0].body, v);
    let v = json_of(&admin(base, &token_file, &["site", "list", "--json"], &[]));
    assert_eq!(v[0]["cases"], 3);
    let v = json_of(&admin(
        base,
        &token_file,
        &["enroll-code", "--site", "jp-tokyo-01", "--json"],
        &[],
    ));
    assert_eq!(v["code"], "ABCDEFGHJKLMNPQR");
    let out = admin(
        base,
        &token_file,
        &["enroll-code", "--site", "jp-tokyo-01"],
        &[],
    );
    assert!(text(&out.stdout).starts_with("ABCDEFGHJKLMNPQR\n"));
    let v = json_of(&admin(
        base,
        &token_file,
        &["device", "list", "--json"],
        &[],
    ));
    assert_eq!(v[0]["revoked"], false);
    let out = admin(base, &token_file, &["device", "list"], &[]);
    assert!(text(&out.stdout).contains("never synced"), "{out:?}");
    let v = json_of(&admin(
        base,
        &token_file,
        &[
            "device",
            "revoke",
            "0123456789abcdef0123456789abcdef",
            "--json",
        ],
        &[],
    ));
    assert_eq!(v["revoked"], true);
    let err = failure(
        &admin(
            base,
            &token_file,
            &["device", "revoke", "ffff", "--json"],
            &[],
        ),
        2,
    );
    assert!(err.contains("no device with this id"), "{err}");

    // A wrong token: refused, and neither token is printed.
    std::fs::write(&token_file, "not-the-admin-token").expect("token file");
    let err = failure(
        &admin(
            base,
            &token_file,
            &["device", "list"],
            &["not-the-admin-token"],
        ),
        2,
    );
    assert!(err.contains("administrator token is not valid"), "{err}");
    std::fs::write(&token_file, " \n").expect("token file");
    assert!(failure(&admin(base, &token_file, &["device", "list"], &[]), 2).contains("empty"));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// End to end with the real repository server.

/// A running `wardcrf-server`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    data: PathBuf,
    /// What the server printed before `listening on`.
    printed: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// The server binary, built next to `wardcrf` (`cargo build --workspace` builds both).
fn server_binary() -> PathBuf {
    let wardcrf = PathBuf::from(env!("CARGO_BIN_EXE_wardcrf"));
    let dir = wardcrf.parent().expect("the binary's directory");
    dir.join(format!("wardcrf-server{}", std::env::consts::EXE_SUFFIX))
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    /// With extra arguments (written files go in the data directory: `(flag, contents)`).
    fn start_with(files: &[(&str, &str)]) -> Server {
        let bin = server_binary();
        assert!(
            bin.is_file(),
            "the repository server binary is missing: {} does not exist. This end-to-end test \
             needs it: run `cargo build --workspace` (which builds wardcrf-server next to \
             wardcrf) before `cargo test`.",
            bin.display()
        );
        let data = temp_dir("server");
        std::fs::create_dir_all(&data).expect("data dir");
        let mut cmd = Command::new(&bin);
        cmd.args(["--listen", "127.0.0.1:0", "--data"]).arg(&data);
        for (i, (flag, contents)) in files.iter().enumerate() {
            let file = data.join(format!("arg-{i}.pem"));
            std::fs::write(&file, contents).expect("server file");
            cmd.arg(flag).arg(file);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for pipe in [
            Box::new(stdout) as Box<dyn Read + Send>,
            Box::new(stderr) as Box<dyn Read + Send>,
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        // Keep draining so the server never blocks on a full pipe.
                        continue;
                    }
                }
            });
        }
        drop(tx);
        let mut seen = Vec::new();
        let base = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(i) = line.find("listening on http") {
                        let addr = line[i + "listening on ".len()..].split_whitespace().next();
                        break addr.expect("an address").to_string();
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    let _ = child.kill();
                    panic!(
                        "wardcrf-server did not print 'listening on http(s)://ADDR' (exit: \
                         {status:?}); it printed:\n{}",
                        seen.join("\n")
                    );
                }
            }
        };
        Server {
            child,
            base,
            data,
            printed: seen,
        }
    }

    /// Adds a clinician of `site` (printed name `Test <id>`, password
    /// [`common::staff_password`]) with `wardcrf-server create-user` on the running server's
    /// data.
    fn add_staff(&self, site: &str, id: &str) {
        let password = common::staff_password(id);
        let out = Command::new(server_binary())
            .arg("--data")
            .arg(&self.data)
            .args(["create-user", id, "--role", "clinician", "--site", site])
            .args(["--name", &format!("Test {id}")])
            .env("WARDCRF_STAFF_PASSWORD", &password)
            .output()
            .expect("create-user runs");
        assert!(out.status.success(), "create-user {id}: {out:?}");
    }

    fn admin_token_file(&self) -> PathBuf {
        let file = self.data.join("admin-token");
        assert!(file.is_file(), "{} was not written", file.display());
        file
    }
}

#[test]
fn end_to_end_two_devices_sync_conflict_and_revocation() {
    let server = Server::start();
    let token_file = server.admin_token_file();
    let admin_token = std::fs::read_to_string(&token_file).expect("admin token");
    let admin_token = admin_token.trim().to_string();
    let base = server.base.as_str();
    let adm = |args: &[&str], extra: &[&str]| {
        let mut secrets = vec![admin_token.as_str()];
        secrets.extend(extra);
        admin(base, &token_file, args, &secrets)
    };

    let v = json_of(&adm(
        &[
            "site",
            "add",
            "jp-tokyo-01",
            "--name",
            "Tokyo General",
            "--json",
        ],
        &[],
    ));
    assert_eq!(v["site_id"], "jp-tokyo-01");
    let code = || {
        let v = json_of(&adm(
            &["enroll-code", "--site", "jp-tokyo-01", "--json"],
            &[],
        ));
        v["code"].as_str().expect("a code").to_string()
    };
    let (code_a, code_b) = (code(), code());

    for id in ["nurse.a", "dr.b"] {
        server.add_staff("jp-tokyo-01", id);
    }
    // New devices: their staff sign in online through the repository the first time.
    let mut a = Store::open_door("e2e-a", A_PASS);
    let mut b = Store::open_door("e2e-b", B_PASS);
    let va = json_of(&a.enroll(base, &code_a));
    let vb = json_of(&b.enroll(base, &code_b));
    (a.staff, b.staff) = (true, true);
    assert_eq!(va["site"], "jp-tokyo-01");
    assert_eq!(vb["site"], "jp-tokyo-01");
    let device_b = vb["device_id"].as_str().expect("device id").to_string();
    // A code works once.
    let mut c = Store::open_door("e2e-c", B_PASS);
    failure(&c.enroll(base, &code_a), 2);

    // A enters a case; it reaches B through the repository.
    let case = a.new_case("icrown-core");
    a.set(&case, "vs_hr", "88", &["--user", "nurse.a"]);
    // The patient consented (the research export below holds the case for it).
    a.set(&case, "consent_status", "1", &["--user", "nurse.a"]);
    assert_eq!(
        json_of(&a.sync()),
        json!({"pushed": 1, "pulled": 0, "conflicts": 0})
    );
    assert_eq!(
        json_of(&b.sync()),
        json!({"pushed": 0, "pulled": 1, "conflicts": 0})
    );
    assert_eq!(
        b.ok(&["case", "show"], &[&case])["values"]["vs_hr"]["value"],
        88
    );

    // Offline, both change the heart rate; B also the respiratory rate.
    a.set(
        &case,
        "vs_hr",
        "92",
        &["--user", "nurse.a", "--reason", "re-counted"],
    );
    b.set(
        &case,
        "vs_hr",
        "104",
        &["--user", "dr.b", "--reason", "monitor reading"],
    );
    b.set(&case, "vs_rr", "20", &["--user", "dr.b"]);
    assert_eq!(json_of(&a.sync())["pushed"], 1);
    let vb = json_of(&b.sync());
    assert_eq!(
        (vb["pushed"].clone(), vb["conflicts"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(json_of(&a.sync())["conflicts"], 1);

    // Both devices hold the same case, with the same conflict.
    let show_a = a.ok(&["case", "show"], &[&case]);
    let show_b = b.ok(&["case", "show"], &[&case]);
    assert_eq!(show_a["values"], show_b["values"]);
    assert_eq!(show_a["values"]["vs_rr"]["value"], 20);
    for s in [&a, &b] {
        let c = s.ok(&["conflicts"], &[]);
        let c = c.as_array().expect("a list");
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0]["field"], "vs_hr");
        let mut values: Vec<String> = c[0]["candidates"]
            .as_array()
            .expect("candidates")
            .iter()
            .map(|x| x["value"]["value"].to_string())
            .collect();
        values.sort();
        assert_eq!(values, ["104", "92"]);
    }

    // The repository shows the same conflict to the administrator, as text too.
    let listed = text(&adm(&["case", "list", "--conflicts"], &[]).stdout);
    assert!(
        listed.contains(&case) && listed.contains("1 conflict(s)"),
        "{listed}"
    );
    let shown = text(&adm(&["case", "show", &case], &[]).stdout);
    assert!(shown.contains("CONFLICT vs_hr:"), "{shown}");
    assert!(shown.contains("vs_rr = 20"), "{shown}");
    let history = text(&adm(&["case", "history", &case, "--field", "vs_hr"], &[]).stdout);
    assert!(
        history.contains("(reason: re-counted)") && history.contains("(reason: monitor reading)"),
        "{history}"
    );
    assert!(
        history.contains("Test nurse.a (nurse.a)") && history.contains("Test dr.b (dr.b)"),
        "each change under its author's printed name and id: {history}"
    );
    let err = failure(&adm(&["case", "show", "../admin"], &[]), 2);
    assert!(err.contains("is not a case id"), "{err}");
    let err = failure(&adm(&["case", "show", "no-such-case"], &[]), 2);
    assert!(err.contains("no such case"), "{err}");

    // Exports, downloaded with the administrator token.
    let dir = temp_dir("exports");
    std::fs::create_dir_all(&dir).expect("export dir");
    let zip = dir.join("cases.zip");
    let zip_path = zip.to_str().expect("utf-8");
    let mut args = vec!["export", "--server", base, "--token-file"];
    let token_path = token_file.to_str().expect("utf-8");
    args.push(token_path);
    let csv_args: Vec<&str> = args
        .iter()
        .copied()
        .chain([
            "--format", "csv", "--lang", "ja", "--out", zip_path, "--json",
        ])
        .collect();
    let v = json_of(&run_env(&csv_args, &[], &[admin_token.as_str()]));
    assert_eq!(v["format"], "csv");
    let bytes = std::fs::read(&zip).expect("the export");
    assert_eq!(&bytes[..2], b"PK", "a ZIP");
    assert_eq!(v["bytes"], bytes.len());
    let odm = dir.join("study.xml");
    let odm_args: Vec<&str> = args
        .iter()
        .copied()
        .chain([
            "--format",
            "odm",
            "--site",
            "jp-tokyo-01",
            "--out",
            odm.to_str().expect("utf-8"),
        ])
        .collect();
    let out = run_env(&odm_args, &[], &[admin_token.as_str()]);
    assert!(
        text(&out.stdout).contains("Wrote the odm export"),
        "{out:?}"
    );
    let xml = std::fs::read_to_string(&odm).expect("the ODM export");
    assert!(
        xml.starts_with("<?xml") && xml.contains(&case),
        "{}",
        &xml[..200.min(xml.len())]
    );
    let bad_args: Vec<&str> = args
        .iter()
        .copied()
        .chain([
            "--format",
            "odm",
            "--lang",
            "fr",
            "--out",
            odm.to_str().expect("utf-8"),
        ])
        .collect();
    let err = failure(&run_env(&bad_args, &[], &[]), 2);
    assert!(err.contains("en, ja or de"), "{err}");
    assert!(!dir.join("study.xml.part").exists());
    // A FHIR research export for a named recipient: a Bundle without the case's real id.
    let fhir = dir.join("research.fhir.json");
    let fhir_args: Vec<&str> = args
        .iter()
        .copied()
        .chain([
            "--format",
            "fhir",
            "--research",
            "--recipient",
            "Uni Heidelberg",
            "--out",
            fhir.to_str().expect("utf-8"),
            "--json",
        ])
        .collect();
    let v = json_of(&run_env(&fhir_args, &[], &[admin_token.as_str()]));
    assert_eq!(
        (v["format"].as_str(), v["research"].as_bool()),
        (Some("fhir"), Some(true))
    );
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(&fhir).expect("the FHIR export")).expect("FHIR JSON");
    assert_eq!(bundle["resourceType"], "Bundle");
    let responses = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "QuestionnaireResponse")
        .count();
    assert_eq!(responses, 1, "the consented case is in the research export");
    assert!(
        !bundle.to_string().contains(&case),
        "the real case id in a research export"
    );
    let no_recipient: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--format", "csv", "--research", "--out", zip_path])
        .collect();
    let err = failure(&run_env(&no_recipient, &[], &[]), 2);
    assert!(err.contains("--recipient"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);

    // The administrator sees both devices and revokes B: B is refused, A goes on.
    let devices = json_of(&adm(&["device", "list", "--json"], &[]));
    assert_eq!(devices.as_array().map(Vec::len), Some(2), "{devices}");
    let v = json_of(&adm(&["device", "revoke", &device_b, "--json"], &[]));
    assert_eq!(v["revoked"], true);
    let err = failure(&b.sync(), 2);
    assert!(err.contains("revoked"), "{err}");
    json_of(&a.sync());
    let devices = json_of(&adm(&["device", "list", "--json"], &[]));
    let revoked: Vec<&Value> = devices
        .as_array()
        .expect("a list")
        .iter()
        .filter(|d| d["revoked"] == true)
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["device_id"], device_b.as_str());
}

// A test-only certificate authority ("the hospital's CA") and a server certificate it signed for
// 127.0.0.1 and localhost (P-256, valid until 2126). Generated once with openssl; the key
// protects nothing.
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBrTCCAVOgAwIBAgIUVX96n3ZPD+q09/XFfGlAKzbfJ4cwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYV2FyZENSRiBUZXN0IEhvc3BpdGFsIENBMCAXDTI2MTEyNDE0
MDI1OFoYDzIxMjYxMDMxMTQwMjU4WjAjMSEwHwYDVQQDDBhXYXJkQ1JGIFRlc3Qg
SG9zcGl0YWwgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATzFSGZ/5pBnHaA
ZzBoWMQwTHOvJs+1iOcW3pmpl4ZwfWT4bkIHIKrDKplVljQuCnUQ/BNSzO1teXaq
s9m0cO/eo2MwYTAdBgNVHQ4EFgQUAjNkRadziX51nisM8pAeLW4tiR4wHwYDVR0j
BBgwFoAUAjNkRadziX51nisM8pAeLW4tiR4wDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIgP9desRvr1sw26Y23C9zC1bAO
7gzgusWoh/6t6zilpEsCIQCE3wBJNi7qQv2LMN1w8cBS4bXP8ZHTIGeEbiKcplkB
sw==
-----END CERTIFICATE-----\n";
const TEST_SERVER_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIByjCCAXGgAwIBAgIUWLdtrFjtnKElZ9BIIPu/rf8wiIIwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYV2FyZENSRiBUZXN0IEhvc3BpdGFsIENBMCAXDTI2MTEyNDE0
MDI1OFoYDzIxMjYxMDMxMTQwMjU4WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTAT
BgcqhkjOPQIBBggqhkjOPQMBBwNCAAQL5NxTrfCmU1ehoH1nMPZCcHsOA6ozmlmW
N8UapyYKUe0qazWyEgf4dClX5151ReE5qPcq9gg15VJ1qroH+Sq/o4GPMIGMMBoG
A1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAJBgNVHRMEAjAAMA4GA1UdDwEB/wQE
AwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUNJzywVk1ox0jCSnb
u2Q8RmkXFEAwHwYDVR0jBBgwFoAUAjNkRadziX51nisM8pAeLW4tiR4wCgYIKoZI
zj0EAwIDRwAwRAIgTyEWgMv26oa0p+0eBATTGHuOcVU3ZHatgnO8cqRrAZoCIE2O
o5a1Yl1+l2LwWZFDnKWKT3XN91rdU+YBN13JeV2Y
-----END CERTIFICATE-----\n";
const TEST_SERVER_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdsD2MJVOQCIMstuN
Qvv/0jTfKZQHCk4K80HkwE8jQM6hRANCAAQL5NxTrfCmU1ehoH1nMPZCcHsOA6oz
mlmWN8UapyYKUe0qazWyEgf4dClX5151ReE5qPcq9gg15VJ1qroH+Sq/
-----END PRIVATE KEY-----\n";

#[test]
fn https_with_the_hospital_ca() {
    let server = Server::start_with(&[
        ("--tls-cert", TEST_SERVER_CERT_PEM),
        ("--tls-key", TEST_SERVER_KEY_PEM),
    ]);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let token_file = server.admin_token_file();
    let admin_token = std::fs::read_to_string(&token_file).expect("admin token");
    let secrets = [admin_token.trim()];
    let dir = temp_dir("ca");
    std::fs::create_dir_all(&dir).expect("dir");
    let ca = dir.join("hospital-ca.pem");
    std::fs::write(&ca, TEST_CA_PEM).expect("ca file");
    let ca = ca.to_str().expect("utf-8 path");
    let base = server.base.as_str();

    // Without the hospital's CA the certificate is not trusted: a refusal, not "try later".
    let err = failure(
        &admin(
            base,
            &token_file,
            &["site", "add", "jp-osaka-02", "--name", "Osaka"],
            &secrets,
        ),
        2,
    );
    assert!(err.contains("certificate"), "{err}");

    let with_ca = |args: &[&str]| {
        let mut all = vec!["--ca-file", ca];
        all.extend(args);
        json_of(&admin(base, &token_file, &all, &secrets))
    };
    with_ca(&["site", "add", "jp-osaka-02", "--name", "Osaka", "--json"]);
    let code = with_ca(&["enroll-code", "--site", "jp-osaka-02", "--json"])["code"]
        .as_str()
        .expect("a code")
        .to_string();

    server.add_staff("jp-osaka-02", "nurse.a");
    let mut s = Store::open_door("tls", A_PASS);
    s.secrets.push(code.clone());
    let v = json_of(&s.run(
        &["device", "enroll"],
        &["--server", base, "--code", &code, "--ca-file", ca, "--json"],
    ));
    assert_eq!(v["site"], "jp-osaka-02");
    // The first sign-in goes online: with the hospital's CA, like every exchange.
    s.staff = true;
    let v = json_of(&s.run(&["user", "login"], &["--ca-file", ca, "--json"]));
    assert_eq!(
        (v["user"].as_str(), v["name"].as_str()),
        (Some("nurse.a"), Some("Test nurse.a"))
    );
    let case = s.new_case("icrown-core");
    s.set(&case, "vs_hr", "71", &[]);
    assert_eq!(
        json_of(&s.run(&["sync"], &["--ca-file", ca, "--json"])),
        json!({"pushed": 1, "pulled": 0, "conflicts": 0})
    );
    let err = failure(&s.sync(), 2);
    assert!(err.contains("certificate"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A store enrolled from the enrolment QR code's payload (its certificate fingerprint as the
/// server advertises it: the last certificate of its chain file) trusts that certificate alone:
/// sign-in and sync need no CA file. A payload whose fingerprint the chain does not hold is
/// refused before the code is sent, and nothing is stored.
#[test]
fn enrolment_from_the_qr_payload_pins_the_repository_certificate() {
    use wardcrf_core::sync::{CertPin, EnrolPayload};
    // The chain with the hospital CA (its fingerprint is pinned), and the server's certificate
    // alone (then that is pinned).
    let with_ca = format!("{TEST_SERVER_CERT_PEM}{TEST_CA_PEM}");
    for (tag, chain) in [("ca", with_ca.as_str()), ("leaf", TEST_SERVER_CERT_PEM)] {
        let server =
            Server::start_with(&[("--tls-cert", chain), ("--tls-key", TEST_SERVER_KEY_PEM)]);
        let pin: CertPin = server
            .printed
            .iter()
            .find_map(|l| l.strip_prefix("enrolment QR codes pin "))
            .unwrap_or_else(|| panic!("no pin printed: {:?}", server.printed))
            .parse()
            .expect("a pin");
        let token_file = server.admin_token_file();
        let admin_token = std::fs::read_to_string(&token_file).expect("admin token");
        let secrets = [admin_token.trim()];
        let dir = temp_dir(&format!("qr-{tag}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("hospital-ca.pem");
        std::fs::write(&ca, TEST_CA_PEM).expect("ca file");
        let ca = ca.to_str().expect("utf-8 path");
        let base = server.base.as_str();
        let adm = |args: &[&str]| {
            let mut all = vec!["--ca-file", ca];
            all.extend(args);
            json_of(&admin(base, &token_file, &all, &secrets))
        };
        adm(&["site", "add", "jp-osaka-02", "--name", "Osaka", "--json"]);
        let code = adm(&["enroll-code", "--site", "jp-osaka-02", "--json"])["code"]
            .as_str()
            .expect("a code")
            .to_string();
        server.add_staff("jp-osaka-02", "nurse.a");
        let payload = EnrolPayload {
            server: base.to_string(),
            code: code.clone(),
            pin: Some(pin),
        };
        let mut wrong = *pin.bytes();
        wrong[31] ^= 1;
        let wrong = EnrolPayload {
            pin: Some(format!("sha256:{}", hex(&wrong)).parse().expect("a pin")),
            ..payload.clone()
        };

        let mut s = Store::open_door(&format!("qr-{tag}"), A_PASS);
        s.secrets.push(code.clone());
        let err = failure(
            &s.run(&["device", "enroll"], &["--qr", &wrong.to_uri(), "--json"]),
            2,
        );
        assert!(err.contains("fingerprint"), "{tag}: {err}");
        let err = failure(&s.sync(), 2);
        assert!(err.contains("not enrolled"), "{tag}: nothing stored: {err}");

        // The right pin: the code was not spent by the refused attempt.
        let v = json_of(&s.run(
            &["device", "enroll"],
            &["--qr", &payload.to_uri(), "--json"],
        ));
        assert_eq!(v["site"], "jp-osaka-02", "{tag}");
        s.staff = true;
        let v = json_of(&s.run(&["user", "login"], &["--json"]));
        assert_eq!(v["user"], "nurse.a", "{tag}");
        let case = s.new_case("icrown-core");
        s.set(&case, "vs_hr", "71", &[]);
        assert_eq!(
            json_of(&s.sync()),
            json!({"pushed": 1, "pulled": 0, "conflicts": 0}),
            "{tag}: no CA file needed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
