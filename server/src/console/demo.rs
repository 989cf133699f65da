//! `wardcrf-server --demo`: two demo sites, three simulated ward tablets and their synthetic
//! cases, entered in real device stores (the core's `CaseStore`) and synced to this repository
//! through the real sync path: the core's sync loop sends the requests a device sends (binary
//! encoding, bearer token) to this server's own router, in process (`Loopback`: no socket,
//! and the server needs no HTTP client), so that open conflicts, data-quality flags and each
//! device's last sync appear as they would from the ward. Also the demo staff users, who share
//! one random password kept in `DATA_DIR/demo-login` (mode 0600): the console's, and the ward
//! staff ([`WARD_USERS`]) who sign in on the tablets (online the first time) and enter the
//! cases, so that every change names its author.
//!
//! Idempotent: the cases are seeded once (when the site `demo-tokyo` does not exist yet); the
//! staff users are added when missing; later starts only print the login again. Several
//! servers of one repository started with `--demo` at the same time seed it once: the demo
//! password and the right to seed are values the repository's database shares (the first
//! recorded wins), and every server prints the same sign-in.

use super::{NewStaffUser, StaffError, add_staff_user, hash_password};
use crate::repository::RepoError;
use crate::secret;
use crate::state::AppState;
use crate::state::Store;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use tower::ServiceExt;
use wardcrf_core::staff::{ROSTER_PATH, Roster, SIGN_IN_PATH, StaffGrant, StaffSignIn};
use wardcrf_core::sync::{
    BINARY_MEDIA_TYPE, BinaryBody, Enrolment, MAX_ANSWER, SyncError, SyncRequest, SyncResponse,
    Transport, TransportError,
};
use wardcrf_core::{CaseStore, FieldPath, RawKeyProvider, SecretKey, StoreError};

/// The demo's site with open conflicts (two tablets).
pub const SITE_A: &str = "demo-tokyo";
/// The demo's second site (one tablet).
pub const SITE_B: &str = "demo-berlin";
/// The file that keeps the demo staff users' password.
pub const LOGIN_FILE: &str = "demo-login";

/// The demo staff users: (user name, role, site).
pub const USERS: &[(&str, &str, Option<&str>)] = &[
    ("demo-admin", "admin", None),
    ("demo-manager", "data_manager", None),
    ("nurse-tokyo", "site_nurse", Some(SITE_A)),
    ("nurse-berlin", "site_nurse", Some(SITE_B)),
];

/// The demo's ward staff, who sign in on the simulated tablets: (user name, role, site,
/// printed name). They share the demo password; clinicians cannot sign in to the console.
pub const WARD_USERS: &[(&str, &str, &str, &str)] = &[
    ("dr-sato", "clinician", SITE_A, "Dr. Sato Hanako"),
    ("ns-tanaka", "site_nurse", SITE_A, "Tanaka Yui"),
    ("ns-suzuki", "site_nurse", SITE_A, "Suzuki Aoi"),
    ("dr-weber", "clinician", SITE_B, "Dr. Anna Weber"),
    ("pfl-schmidt", "site_nurse", SITE_B, "Lena Schmidt"),
];

/// The demo sign-in: the user names and their shared password.
#[derive(Clone)]
pub struct DemoLogin {
    pub users: Vec<(String, String, Option<String>)>,
    pub password: String,
    /// Cases entered now (0 when the demo data was already there).
    pub seeded_cases: usize,
}

impl std::fmt::Debug for DemoLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoLogin")
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

/// Why the demo could not be seeded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo: the repository failed: {0}")]
    Repo(#[from] RepoError),
    #[error("demo: a simulated device store failed: {0}")]
    Store(#[from] StoreError),
    #[error("demo: a simulated device could not sync: {0}")]
    Sync(#[from] SyncError),
    #[error("demo: a simulated device could not enrol: {0}")]
    Transport(#[from] TransportError),
    #[error("demo: staff user: {0}")]
    Staff(#[from] StaffError),
    #[error("demo: {0}")]
    Io(#[from] std::io::Error),
    #[error("demo: {0}")]
    Other(String),
}

/// The names of the demo's values shared by every server of the repository.
const DEMO_PASSWORD: &str = "demo-password";
const DEMO_SEEDER: &str = "demo-seeder";

/// The demo password: read from `dir/demo-login`, or a new random one written there. Returns
/// it and whether it is new.
fn demo_password(dir: &Path) -> Result<(String, bool), DemoError> {
    let path = dir.join(LOGIN_FILE);
    let (password, created) = crate::serve::private_file(&path, || {
        let token = secret::new_token().map_err(std::io::Error::other)?;
        Ok(format!("demo-{}", &token[..16]))
    })?;
    if password.chars().count() < super::auth::MIN_PASSWORD {
        return Err(DemoError::Other(format!(
            "{} holds no usable password; delete it to get a new one",
            path.display()
        )));
    }
    Ok((password, created))
}

/// A simulated tablet's line to this repository: each request a device sends over HTTPS (an
/// enrolment, a sync exchange in the binary encoding with its bearer token) handed to the
/// server's own router in process, and its answer read as a device reads it.
struct Loopback {
    app: Router,
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
    token: String,
}

impl Loopback {
    /// Sends one request to the router; the answer's status and body.
    fn send(&self, request: Request<Body>) -> Result<(StatusCode, Vec<u8>), TransportError> {
        let unreachable = |e: &dyn std::fmt::Display| TransportError::Unreachable(e.to_string());
        self.runtime.block_on(async {
            let response = self
                .app
                .clone()
                .oneshot(request)
                .await
                .map_err(|e| unreachable(&e))?;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
                .await
                .map_err(|e| unreachable(&e))?;
            Ok((status, body.to_vec()))
        })
    }

    /// The repository's refusal (`{"error": {"code", "message"}}`) as a device sees it.
    fn refused(status: StatusCode, body: &[u8]) -> TransportError {
        let answer: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
        let error = &answer["error"];
        if error["code"] == "device_revoked" {
            return TransportError::Revoked;
        }
        let message = error["message"].as_str().unwrap_or("no message");
        TransportError::Refused(format!("{status}: {message}"))
    }

    /// Enrols a device with a one-time code, as `POST /api/enroll` from a tablet.
    /// Sends a device-token request (a JSON body, or none); the answer's JSON.
    fn device_json<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, TransportError> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(body.map_or_else(Body::empty, Body::from))
            .map_err(|e| TransportError::Refused(e.to_string()))?;
        let (status, body) = self.send(request)?;
        if !status.is_success() {
            return Err(Self::refused(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| TransportError::Refused(format!("an answer of {path}: {e}")))
    }

    fn enroll(&mut self, code: &str, device_id: &str) -> Result<Enrolment, TransportError> {
        let body = json!({"code": code, "device_id": device_id}).to_string();
        let request = Request::post("/api/enroll")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .map_err(|e| TransportError::Refused(e.to_string()))?;
        let (status, body) = self.send(request)?;
        if !status.is_success() {
            return Err(Self::refused(status, &body));
        }
        let enrolment: Enrolment = serde_json::from_slice(&body)
            .map_err(|e| TransportError::Refused(format!("an enrolment answer: {e}")))?;
        self.token = enrolment.token.clone();
        Ok(enrolment)
    }
}

impl Transport for Loopback {
    fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        let body = request
            .to_binary()
            .map_err(|e| TransportError::Refused(e.to_string()))?;
        let request = Request::post("/api/sync")
            .header(header::CONTENT_TYPE, BINARY_MEDIA_TYPE)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::from(body))
            .map_err(|e| TransportError::Refused(e.to_string()))?;
        let (status, body) = self.send(request)?;
        if !status.is_success() {
            return Err(Self::refused(status, &body));
        }
        SyncResponse::from_binary(&body)
            .map_err(|e| TransportError::Refused(format!("a sync answer: {e}")))
    }

    fn roster(&self) -> Result<Option<Roster>, TransportError> {
        self.device_json("GET", ROSTER_PATH, None).map(Some)
    }

    fn sign_in(&self, request: &StaffSignIn) -> Result<StaffGrant, TransportError> {
        let body =
            serde_json::to_vec(request).map_err(|e| TransportError::Refused(e.to_string()))?;
        self.device_json("POST", SIGN_IN_PATH, Some(body))
    }
}

/// A simulated ward tablet: a real device store in a throwaway directory, on which the
/// demo's ward staff sign in (online the first time, through the repository).
struct Tablet {
    store: CaseStore,
    line: Loopback,
    /// The demo password, shared by the ward staff.
    password: String,
}

impl Tablet {
    fn enrol(
        root: &Path,
        name: &str,
        mut line: Loopback,
        code: &str,
        password: &str,
    ) -> Result<Tablet, DemoError> {
        let key = SecretKey::generate().map_err(|e| DemoError::Other(e.to_string()))?;
        let mut store = CaseStore::create(&root.join(name), &RawKeyProvider::new(key))?;
        let enrolment = line.enroll(code, &store.device_id())?;
        store.enrolled("http://demo.invalid", &enrolment)?;
        Ok(Tablet {
            store,
            line,
            password: password.to_string(),
        })
    }

    /// Signs `user` in on this tablet, unless they are signed in already.
    fn sign_in(&mut self, user: &str) -> Result<(), DemoError> {
        if self.store.signed_in().is_some_and(|s| s.staff.id == user) {
            return Ok(());
        }
        wardcrf_core::sync::sign_in(&mut self.store, Some(&self.line), user, &self.password)?;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), DemoError> {
        wardcrf_core::sync::sync(&mut self.store, &self.line, &mut |_| {})?;
        Ok(())
    }

    fn set(
        &mut self,
        case: &str,
        field: &str,
        v: Json,
        user: &str,
        reason: Option<&str>,
    ) -> Result<(), DemoError> {
        self.sign_in(user)?;
        self.store
            .set_value(case, &FieldPath::field(field), v, reason)?;
        Ok(())
    }

    /// A new case with admission values, as a bedside clinician enters it.
    fn admit(
        &mut self,
        user: &str,
        n: usize,
        values: &[(&str, Json)],
    ) -> Result<String, DemoError> {
        self.sign_in(user)?;
        let case = self.store.create_case("icrown-core", &[])?;
        self.set(
            &case,
            "hospital_record_number",
            json!(format!("DEMO-{n:04}")),
            user,
            None,
        )?;
        self.set(
            &case,
            "patient_name",
            json!(format!("Demo Patient {n}")),
            user,
            None,
        )?;
        for (field, v) in values {
            self.set(&case, field, v.clone(), user, None)?;
        }
        Ok(case)
    }
}

/// A directory that is removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Seeds the demo (see the module documentation) into the repository behind `state`; `app`
/// is its router, to which the simulated tablets hand their requests.
pub fn seed_demo<S: Store>(
    state: &AppState<S>,
    app: &Router,
    data_dir: &Path,
) -> Result<DemoLogin, DemoError> {
    let (mut password, mut new_password) = demo_password(data_dir)?;
    let now = state.now();
    let fresh = {
        let mut hub = state.hub.lease()?;
        // One password for every server of the repository: the first recorded.
        let shared = hub
            .storage
            .shared_value(DEMO_PASSWORD, password.as_bytes(), now)?;
        if shared != password.as_bytes() {
            password = String::from_utf8(shared).map_err(|_| {
                DemoError::Other("the repository holds a damaged demo sign-in".into())
            })?;
            new_password = false;
            std::fs::write(data_dir.join(LOGIN_FILE), format!("{password}\n"))?;
        }
        // Seeded by the one server whose claim is recorded first, and only into a
        // repository whose demo sites hold no cases or devices yet. (Servers that lose the
        // claim create the demo sites too, perhaps before the winner looks: the sites
        // alone say nothing.)
        let claim = secret::new_token().map_err(|e| DemoError::Other(e.to_string()))?;
        let won = hub
            .storage
            .shared_value(DEMO_SEEDER, claim.as_bytes(), now)?
            == claim.as_bytes();
        let sites = hub.storage.sites()?;
        let fresh = won
            && !sites.iter().any(|s| {
                [SITE_A, SITE_B].contains(&s.site_id.as_str()) && (s.cases > 0 || s.devices > 0)
            });
        for (id, name) in [
            (SITE_A, "Tokyo General Hospital (demo)"),
            (SITE_B, "Berlin University Hospital (demo)"),
        ] {
            match hub.storage.create_site(id, name, now) {
                Ok(()) | Err(RepoError::SiteExists) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let console_users = USERS.iter().map(|(u, r, s)| (*u, *r, *s, None));
        let ward_users = WARD_USERS
            .iter()
            .map(|(u, r, s, name)| (*u, *r, Some(*s), Some(*name)));
        for (user, role, site, display_name) in console_users.chain(ward_users) {
            let new = NewStaffUser {
                username: user,
                role,
                site,
                display_name,
                password: &password,
            };
            match add_staff_user(&mut hub.storage, new, now) {
                Ok(()) => {}
                Err(StaffError::Exists) if new_password => {
                    // The password file was lost: the demo users get the new one.
                    let hash = hash_password(&password, super::PBKDF2_ITERATIONS)
                        .map_err(StaffError::from)?;
                    hub.storage.set_staff_password(user, &hash)?;
                }
                Err(StaffError::Exists) => {}
                Err(e) => return Err(e.into()),
            }
        }
        fresh
    };
    let mut seeded = 0;
    if fresh {
        seeded = seed_cases(state, app, data_dir, &password)?;
    }
    Ok(DemoLogin {
        users: USERS
            .iter()
            .map(|(u, r, s)| (u.to_string(), r.to_string(), s.map(str::to_string)))
            .collect(),
        password,
        seeded_cases: seeded,
    })
}

fn new_code<S: Store>(state: &AppState<S>, site: &str) -> Result<String, DemoError> {
    let code = secret::new_code().map_err(|e| DemoError::Other(e.to_string()))?;
    let mut hub = state.hub.lease()?;
    hub.storage.create_enroll_code(
        &secret::sha256(&code),
        site,
        state.now() + crate::state::CODE_VALIDITY_SECS,
    )?;
    Ok(code)
}

fn seed_cases<S: Store>(
    state: &AppState<S>,
    app: &Router,
    data_dir: &Path,
    password: &str,
) -> Result<usize, DemoError> {
    // The tablets' requests go to this server's own router, in process.
    let runtime = std::sync::Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    );
    let line = || Loopback {
        app: app.clone(),
        runtime: runtime.clone(),
        token: String::new(),
    };
    let tag = secret::new_token().map_err(|e| DemoError::Other(e.to_string()))?;
    let root = TempDir(data_dir.join(format!(".demo-tablets-{}", &tag[..8])));
    (|| {
        let codes = [
            new_code(state, SITE_A)?,
            new_code(state, SITE_A)?,
            new_code(state, SITE_B)?,
        ];
        let mut a = Tablet::enrol(&root.0, "tokyo-tablet-1", line(), &codes[0], password)?;
        let mut b = Tablet::enrol(&root.0, "tokyo-tablet-2", line(), &codes[1], password)?;
        let mut c = Tablet::enrol(&root.0, "berlin-tablet-1", line(), &codes[2], password)?;
        let vitals = |t: f64, hr: i64, spo2: i64| {
            vec![
                ("admission_date", json!("2026-01-12")),
                ("age_years", json!(40 + hr % 37)),
                ("vs_temp", json!(t)),
                ("vs_hr", json!(hr)),
                ("vs_rr", json!(18)),
                ("vs_sbp", json!(124)),
                ("vs_dbp", json!(78)),
                ("vs_spo2", json!(spo2)),
            ]
        };
        // Tokyo: tablet 1 admits four patients; tablet 2 gets them at its first sync.
        let c1 = a.admit("dr-sato", 1, &vitals(38.4, 96, 95))?;
        let c2 = a.admit("dr-sato", 2, &vitals(39.1, 112, 93))?;
        let c3 = a.admit("ns-tanaka", 3, &vitals(37.2, 80, 97))?;
        let _c4 = a.admit("ns-tanaka", 4, &vitals(36.8, 72, 98))?;
        a.sync()?;
        b.sync()?;
        // Offline on both tablets, the same fields are corrected differently: conflicts.
        a.set(
            &c1,
            "vs_spo2",
            json!(91),
            "dr-sato",
            Some("re-measured on room air"),
        )?;
        b.set(
            &c1,
            "vs_spo2",
            json!(88),
            "ns-suzuki",
            Some("value from the night shift"),
        )?;
        a.set(
            &c2,
            "vs_temp",
            json!(38.6),
            "dr-sato",
            Some("tympanic re-check"),
        )?;
        b.set(
            &c2,
            "vs_temp",
            json!(39.4),
            "ns-suzuki",
            Some("axillary, 06:00"),
        )?;
        // Data-quality flags: a low SpO2 confirmed with a reason, and diastolic above systolic.
        b.set(
            &c3,
            "vs_spo2",
            json!(75),
            "ns-suzuki",
            Some("chronic lung disease, baseline 78 %"),
        )?;
        b.set(
            &c3,
            "vs_dbp",
            json!(130),
            "ns-suzuki",
            Some("typed from the monitor"),
        )?;
        let c5 = b.admit("ns-suzuki", 5, &vitals(38.0, 101, 94))?;
        let _ = c5;
        a.sync()?;
        b.sync()?;
        a.sync()?;
        // Berlin: one tablet, two patients, no conflict.
        c.admit("dr-weber", 101, &vitals(38.9, 104, 92))?;
        c.admit("pfl-schmidt", 102, &vitals(37.5, 88, 96))?;
        c.sync()?;
        Ok::<usize, DemoError>(7)
    })()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_a_device_reads_it() {
        let revoked = br#"{"error": {"code": "device_revoked", "message": "ask them"}}"#;
        assert_eq!(
            Loopback::refused(StatusCode::FORBIDDEN, revoked),
            TransportError::Revoked
        );
        let bad = br#"{"error": {"code": "bad_case", "message": "not this site's"}}"#;
        assert_eq!(
            Loopback::refused(StatusCode::BAD_REQUEST, bad),
            TransportError::Refused("400 Bad Request: not this site's".into())
        );
        assert_eq!(
            Loopback::refused(StatusCode::BAD_GATEWAY, b"<html>"),
            TransportError::Refused("502 Bad Gateway: no message".into())
        );
    }
}
