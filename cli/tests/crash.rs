//! Durability: writers killed with SIGKILL at random moments never lose an acknowledged edit
//! and never leave a store that cannot be opened.
//!
//! Each round starts a real `wardcrf case set` process and kills it after a random delay drawn
//! around its usual run time, so kills land before, during and after the SQLite commit. An edit
//! is acknowledged when the process exited 0 and printed its JSON answer. At the end (and every
//! 25 rounds) the store must open, and the field's history must hold every acknowledged value.
//!
//! Runs until 200 writers have been killed; set `WARDCRF_CRASH_KILLS` for a longer soak.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PASSPHRASE: &str = "crash test passphrase";
/// The staff member who writes, and their password (signed in on the store as a first online
/// sign-in would have).
const USER: &str = "crash.test";
const PASSWORD: &str = "test password crash.test";

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small deterministic generator (xorshift64*), seeded from the clock and printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn run(store: &str, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_wardcrf"))
        .env("WARDCRF_PASSPHRASE", PASSPHRASE)
        .env("WARDCRF_INSECURE_KDF_ITERATIONS", "1000")
        .env("WARDCRF_USER_PASSWORD", PASSWORD)
        .args(args)
        .args(["--store", store, "--json", "--user", USER])
        .output()
        .expect("wardcrf runs");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON answer")
}

fn history_values(store: &str, case: &str) -> Vec<String> {
    let h = run(store, &["case", "history", case, "case_id"]);
    h.as_array()
        .expect("history is a list")
        .iter()
        .filter_map(|e| e["new"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn killed_writers_never_lose_acknowledged_edits() {
    let kills_wanted: usize = std::env::var("WARDCRF_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
        | 1;
    println!("crash test: until {kills_wanted} writers are killed, seed {seed}");
    let mut rng = Rng(seed);
    let dir = TempDir(std::env::temp_dir().join(format!("wardcrf-crash-{seed:x}")));
    let store = dir.0.to_str().expect("utf-8 path").to_string();
    run(&store, &["device", "init"]);
    wardcrf_core::CaseStore::open(&dir.0, &wardcrf_core::Passphrase::new(PASSPHRASE))
        .and_then(|mut s| s.sign_in_for_tests(USER))
        .expect("the writer signs in");
    let case = run(&store, &["case", "new", "--form", "icrown-core"])["case_id"]
        .as_str()
        .expect("case id")
        .to_string();

    // How long a write usually takes, to spread the kills around it.
    let t = Instant::now();
    run(
        &store,
        &[
            "case", "set", &case, "case_id", "C-warmup", "--reason", "warm-up",
        ],
    );
    let typical = t.elapsed();
    let mut acknowledged = vec!["C-warmup".to_string()];
    let (mut killed, mut completed) = (0, 0);

    let mut round = 0;
    while killed < kills_wanted {
        assert!(
            round < kills_wanted * 4,
            "kills do not land ({killed} in {round} rounds)"
        );
        round += 1;
        let value = format!("C-{round:05}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_wardcrf"))
            .env("WARDCRF_PASSPHRASE", PASSPHRASE)
            .env("WARDCRF_USER_PASSWORD", PASSWORD)
            .args([
                "case",
                "set",
                &case,
                "case_id",
                &value,
                "--reason",
                "crash round",
            ])
            .args(["--store", &store, "--json", "--user", USER])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("writer starts");
        let delay = Duration::from_micros(rng.below(typical.as_micros() as u64 * 6 / 5 + 1));
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL; fails only if the process already exited
        let out = child.wait_with_output().expect("writer reaped");
        let answered = serde_json::from_slice::<Value>(&out.stdout).is_ok();
        if out.status.success() && answered {
            acknowledged.push(value);
            completed += 1;
        } else {
            killed += 1;
        }
        if round % 25 == 24 {
            let found = history_values(&store, &case);
            for v in &acknowledged {
                assert!(
                    found.contains(v),
                    "round {round}: acknowledged {v} lost (seed {seed})"
                );
            }
        }
    }
    let found = history_values(&store, &case);
    for v in &acknowledged {
        assert!(found.contains(v), "acknowledged {v} lost (seed {seed})");
    }
    let shown = run(&store, &["case", "show", &case]);
    assert!(
        shown["values"]["case_id"].is_string(),
        "the store opens and shows the case"
    );
    println!(
        "crash test: {killed} writers killed, {completed} completed, all acknowledged edits present"
    );
}
