//! What the command-line tests share: running the real `wardcrf` binary with only the given
//! WARDCRF_* variables, reading its JSON or its error, and store directories removed when
//! dropped. No test secret may ever appear in any output: every run checks.
#![allow(dead_code)] // each test target uses part of it

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Every passphrase the tests use.
pub const A_PASS: &str = "ward-7-tablet-pass";
pub const B_PASS: &str = "icu-tablet-pass";
pub const WRONG: &str = "wrong-guess-pass";
pub const NEW_PASS: &str = "renewed-pass";
/// The device token a fake repository hands out.
pub const TOKEN: &str = "d3v1cet0ken0000d3v1cet0ken0000d3v1cet0ken0000d3v1cet0ken00001234";
/// The administrator token of a fake repository.
pub const ADMIN_TOKEN: &str = "adm1nt0ken-adm1nt0ken-adm1nt0ken";

/// Never printed, whatever the command.
const SECRETS: [&str; 6] = [A_PASS, B_PASS, WRONG, NEW_PASS, TOKEN, ADMIN_TOKEN];

const VARS: [&str; 7] = [
    "WARDCRF_PASSPHRASE",
    "WARDCRF_FROM_PASSPHRASE",
    "WARDCRF_NEW_PASSPHRASE",
    "WARDCRF_INSECURE_KDF_ITERATIONS",
    "WARDCRF_USER_PASSWORD",
    "WARDCRF_USER_PIN",
    "WARDCRF_RECOVERY_KEY",
];

/// The staff members who have signed in on every [`Store::new`] (as an online sign-in would
/// have made them), each with the password [`staff_password`]; commands run through
/// [`Store::run`] act as [`DEFAULT_USER`] unless they name another with `--user`.
pub const TEST_STAFF: [&str; 5] = ["nurse.a", "nurse.c", "dr.b", "dr.c", "pi.e"];
pub const DEFAULT_USER: &str = "nurse.a";

/// The roster a repository of `site` hands its devices: [`TEST_STAFF`], active, as
/// `GET /api/device/roster` answers.
pub fn test_roster(site: &str) -> Value {
    let staff: Vec<Value> = TEST_STAFF
        .iter()
        .map(|id| {
            serde_json::json!({
                "id": id,
                "display_name": format!("Test {id}"),
                "role": "site_nurse",
                "active": true,
                "credential_epoch": 0,
            })
        })
        .collect();
    serde_json::json!({"site_id": site, "staff": staff})
}

/// The password of a test staff member on the test stores.
pub fn staff_password(id: &str) -> String {
    format!("test password {id}")
}

/// Runs `wardcrf` with only the given WARDCRF_* variables set; neither the test secrets nor
/// `secrets` may appear in its output.
pub fn run_env(args: &[&str], env: &[(&str, &str)], secrets: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardcrf"));
    for v in VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().expect("wardcrf runs");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    for s in SECRETS.iter().chain(secrets) {
        assert!(
            !stdout.contains(s) && !stderr.contains(s),
            "a secret was printed by {args:?}:\n{stdout}\n{stderr}"
        );
    }
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The JSON on stdout of a command that succeeded.
pub fn json_of(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// A failure with this exit code, nothing on stdout; returns stderr.
pub fn failure(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "stdout on error: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh path under the temporary directory (not created).
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "wardcrf-cli-{name}-{}-{}-{nanos:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A store directory, removed when dropped.
pub struct Store {
    pub dir: PathBuf,
    pub pass: &'static str,
    /// Further secrets this store's commands must never print (enrolment codes).
    pub secrets: Vec<String>,
    /// Whether [`TEST_STAFF`] signed in on it ([`Store::new`]): its commands then act as one.
    pub staff: bool,
}

impl Store {
    /// A directory name only; the store is not created.
    pub fn dir_only(name: &str, pass: &'static str) -> Store {
        Store {
            dir: temp_dir(name),
            pass,
            secrets: Vec::new(),
            staff: false,
        }
    }

    /// A new store (fast test key derivation) on which [`TEST_STAFF`] have signed in.
    pub fn new(name: &str, pass: &'static str) -> Store {
        let mut s = Store::open_door(name, pass);
        s.staff = true;
        let mut store = wardcrf_core::CaseStore::open(&s.dir, &wardcrf_core::Passphrase::new(pass))
            .expect("the new store opens");
        for id in TEST_STAFF {
            store.sign_in_for_tests(id).expect("test staff sign in");
        }
        s
    }

    /// A new store on which nobody has signed in yet (readable with the passphrase alone).
    pub fn open_door(name: &str, pass: &'static str) -> Store {
        let s = Store::dir_only(name, pass);
        let out = s.init();
        let v = json_of(&out);
        assert_eq!(v["device_id"].as_str().map(str::len), Some(32), "{v}");
        assert!(text(&out.stderr).contains("FOR TESTS ONLY"));
        s
    }

    pub fn init(&self) -> Output {
        run_env(
            &["device", "init", "--store", self.path(), "--json"],
            &[
                ("WARDCRF_PASSPHRASE", self.pass),
                ("WARDCRF_INSECURE_KDF_ITERATIONS", "1000"),
            ],
            &[],
        )
    }

    pub fn path(&self) -> &str {
        self.dir.to_str().expect("utf-8 path")
    }

    /// `wardcrf <group> <sub> --store DIR <rest>` with this store's passphrase.
    pub fn run(&self, cmd: &[&str], rest: &[&str]) -> Output {
        self.run_pass(self.pass, cmd, rest)
    }

    /// `wardcrf <group> <sub> --store DIR <rest>` with the passphrase `pass`, as the staff
    /// member named by `--user` in `rest` (else [`DEFAULT_USER`]) with their password.
    pub fn run_pass(&self, pass: &str, cmd: &[&str], rest: &[&str]) -> Output {
        let mut args: Vec<&str> = cmd.to_vec();
        args.extend(["--store", self.path()]);
        args.extend(rest);
        let user = match rest.iter().position(|a| *a == "--user") {
            Some(i) => Some(rest[i + 1]),
            None if self.staff => {
                args.extend(["--user", DEFAULT_USER]);
                Some(DEFAULT_USER)
            }
            None => None,
        };
        let password = user.map(staff_password);
        let mut secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let mut env = vec![("WARDCRF_PASSPHRASE", pass)];
        if let Some(p) = &password {
            secrets.push(p);
            env.push(("WARDCRF_USER_PASSWORD", p));
        }
        run_env(&args, &env, &secrets)
    }

    /// The JSON output of a command that must succeed.
    pub fn ok(&self, cmd: &[&str], rest: &[&str]) -> Value {
        let mut rest = rest.to_vec();
        rest.push("--json");
        json_of(&self.run(cmd, &rest))
    }

    pub fn new_case(&self, form: &str) -> String {
        let v = self.ok(&["case", "new"], &["--form", form]);
        v["case_id"].as_str().expect("case id").to_string()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
