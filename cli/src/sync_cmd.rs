//! The repository commands: `device enroll`, `sync`, and `admin` (site administration over the
//! HTTP API of docs/http-api.md).
//!
//! The device token lives only in the encrypted store (it is sealed with the store's data key);
//! the administrator's token is read from a file. Neither is ever printed. A repository that
//! cannot be reached exits with 3 (try again later: nothing is lost); a refusal exits with 2.

use crate::staff_cmd::{Need, SignInOpts};
use crate::{CliError, print_json, store_cmd};
use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wardcrf_core::CaseStore;
use wardcrf_core::sync::{
    EnrolPayload, HttpOptions, HttpTransport, Method, SyncProgress, SyncSummary, TransportError,
};

type Outcome = Result<ExitCode, CliError>;

/// One admin request: method, path, JSON body.
type Call<'a> = dyn Fn(Method, &str, Option<Json>) -> Result<Json, CliError> + 'a;

/// Largest admin token or CA certificate file read.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// `wardcrf device …`: the store commands plus enrolment.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    #[command(flatten)]
    Store(store_cmd::DeviceCommand),
    /// Enrol this device with the repository, using a one-time code from the site
    /// administrator; the device token is kept in the encrypted store.
    Enroll(EnrollArgs),
}

/// Options about the connection to the repository.
#[derive(Debug, Args)]
pub struct TlsOpts {
    /// The hospital's own certificate authority (PEM) when the repository's certificate is
    /// signed by it: only that CA is then trusted.
    #[arg(long, value_name = "PEM_FILE")]
    ca_file: Option<PathBuf>,
}

impl TlsOpts {
    pub(crate) fn options(&self) -> Result<HttpOptions, CliError> {
        let ca_pem = match &self.ca_file {
            Some(path) => Some(read_small(path)?.into_bytes()),
            None => None,
        };
        Ok(HttpOptions {
            ca_pem,
            ..HttpOptions::default()
        })
    }
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The store directory.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    #[command(flatten)]
    who: SignInOpts,
    /// The repository address, like https://crf.example-hospital.org.
    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "qr",
        conflicts_with = "qr"
    )]
    server: Option<String>,
    /// The one-time enrolment code from the site administrator.
    #[arg(
        long,
        value_name = "CODE",
        required_unless_present = "qr",
        conflicts_with = "qr"
    )]
    code: Option<String>,
    /// The enrolment QR code's text from the console (`wardcrf://enroll?v=1&server=…&code=…
    /// [&pin=sha256:…]`) instead of --server and --code: with a pin, this device then trusts
    /// only the repository certificate with that fingerprint (--ca-file is not used).
    #[arg(long, value_name = "PAYLOAD")]
    qr: Option<String>,
    #[command(flatten)]
    tls: TlsOpts,
    /// Machine-readable output: JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `wardcrf sync`
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The store directory.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// Who syncs (optional on a store nobody signed in on yet, or with $WARDCRF_RECOVERY_KEY).
    #[command(flatten)]
    who: SignInOpts,
    /// Sync with the repository at this address instead of the one enrolled with (the same
    /// repository moved, e.g. behind a load balancer): the device keeps its credential and
    /// its certificate pin, and keeps the new address for later syncs once this one succeeds.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    #[command(flatten)]
    tls: TlsOpts,
    /// Machine-readable output: JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `wardcrf admin`
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The repository address, like https://crf.example-hospital.org.
    #[arg(long, value_name = "URL")]
    server: String,
    /// A file holding the administrator token (never give it on the command line).
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
    #[command(flatten)]
    tls: TlsOpts,
    /// Machine-readable output: JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add or list sites.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Issue a one-time enrolment code for a device of a site (valid 24 h).
    EnrollCode {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
    },
    /// List or revoke enrolled devices.
    #[command(subcommand)]
    Device(AdminDeviceCommand),
    /// The cases as the repository holds them: list, show, history.
    #[command(subcommand)]
    Case(AdminCaseCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCaseCommand {
    /// List the cases the repository holds, by site then case id.
    List {
        /// Only cases of this site.
        #[arg(long, value_name = "SITE_ID")]
        site: Option<String>,
        #[arg(long)]
        status: Option<store_cmd::StatusArg>,
        /// Only cases with open conflicts.
        #[arg(long)]
        conflicts: bool,
        /// Only cases with data-quality flags (values that break a form rule or limit).
        #[arg(long)]
        flagged: bool,
    },
    /// Show a case: site, status, values, open conflicts and data-quality flags.
    Show { case_id: String },
    /// The audit trail of a case: every change from every device, oldest first.
    History {
        case_id: String,
        /// Only entries touching this field.
        #[arg(long)]
        field: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Add a site (id: lowercase letters, digits and '-').
    Add {
        site_id: String,
        #[arg(long)]
        name: String,
        /// Keep identifying data (name, hospital record number, date of birth) on the site's
        /// devices: never synced to the repository. Only when the site is created.
        #[arg(long)]
        identifying_on_device: bool,
    },
    /// List the sites with their device and case counts.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AdminDeviceCommand {
    /// List enrolled devices.
    List,
    /// Revoke a device: its token stops working at once.
    Revoke { device_id: String },
}

/// A file of at most [`MAX_SECRET_FILE_BYTES`]; its content is never part of an error.
fn read_small(path: &Path) -> Result<String, CliError> {
    crate::read_file(path, MAX_SECRET_FILE_BYTES)
}

/// The store, unlocked by the staff member of `who` (or, when nobody ever signed in on it or
/// with the recovery key, by no one).
/// `options` with the certificate the store pinned at enrolment, if it did: that certificate is
/// then the only trust anchor.
pub(crate) fn pinned(store: &CaseStore, options: &HttpOptions) -> Result<HttpOptions, CliError> {
    Ok(HttpOptions {
        pin: store.server_pin()?,
        ..options.clone()
    })
}

fn open_store(dir: &Path, who: &SignInOpts, options: &HttpOptions) -> Result<CaseStore, CliError> {
    crate::staff_cmd::open_with(dir, who, Need::Read, options)
}

fn emit(json: bool, value: &Json, text: impl FnOnce() -> String) -> Outcome {
    if json {
        print_json(value);
    } else {
        print!("{}", text());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn device(cmd: DeviceCommand) -> Outcome {
    match cmd {
        DeviceCommand::Store(cmd) => store_cmd::device(cmd),
        DeviceCommand::Enroll(args) => enroll(&args),
    }
}

fn enroll(args: &EnrollArgs) -> Outcome {
    let options = args.tls.options()?;
    // Open the store first: a one-time code is not spent on a store that cannot keep the token.
    let mut store = open_store(&args.store, &args.who, &options)?;
    let device_id = store.device_id();
    let payload = match (&args.qr, &args.server, &args.code) {
        (Some(qr), _, _) => EnrolPayload::parse(qr)?,
        (None, Some(server), Some(code)) => EnrolPayload {
            server: server.clone(),
            code: code.clone(),
            pin: None,
        },
        _ => {
            return Err(CliError::Input(
                "give --server and --code, or --qr".to_string(),
            ));
        }
    };
    let enrolment = wardcrf_core::sync::enroll_with_payload(&payload, &device_id, &options)
        .map_err(|e| CliError::Repository {
            doing: "enrolment",
            source: e,
        })?;
    let server = HttpTransport::with_options(&payload.server, "", &options)
        .map(|t| t.base_url().to_string())
        .unwrap_or_else(|_| payload.server.trim().to_string());
    store.enrolled_pinned(&server, &enrolment, payload.pin)?;
    let mut out = json!({"device_id": enrolment.device_id, "site": enrolment.site_id});
    if enrolment.identifying_on_device {
        // Only at such a site, so the answer keeps its documented shape everywhere else.
        out["identifying_on_device"] = json!(true);
    }
    emit(args.json, &out, || {
        let kept = if enrolment.identifying_on_device {
            " Identifying data (name, record number, date of birth) stays on this device: it is never synced."
        } else {
            ""
        };
        format!(
            "Enrolled device {} at site {} with {server}; sync with 'wardcrf sync --store {}'.{kept}\n",
            enrolment.device_id,
            enrolment.site_id,
            args.store.display()
        )
    })
}

pub fn sync(args: &SyncArgs) -> Outcome {
    let options = args.tls.options()?;
    let mut store = open_store(&args.store, &args.who, &options)?;
    let Some((enrolled, token)) = store.sync_credential()? else {
        return Err(CliError::NotEnrolled);
    };
    let options = pinned(&store, &options)?;
    let address = match &args.server {
        // The address alone is checked first: its error is the address's, not the TLS set-up's.
        Some(url) => HttpTransport::with_options(url, "", &HttpOptions::default())
            .map(|t| t.base_url().to_string())
            .map_err(|e| CliError::ServerUrl {
                reason: match e {
                    TransportError::Refused(reason) | TransportError::Unreachable(reason) => reason,
                    other => other.to_string(),
                },
            })?,
        None => enrolled.clone(),
    };
    let transport = HttpTransport::with_options(&address, &token, &options).map_err(|e| {
        CliError::Repository {
            doing: "sync",
            source: e,
        }
    })?;
    let server = transport.base_url().to_string();
    let mut bar =
        ProgressBar::new(std::io::stdout().is_terminal() && std::io::stderr().is_terminal());
    let result = wardcrf_core::sync::sync(&mut store, &transport, &mut |p| bar.show(p));
    bar.finish();
    let summary: SyncSummary = result?;
    if server != enrolled {
        // The same repository answered at the new address: later syncs go there.
        store.set_sync_credential(&server, &token)?;
    }
    let out = json!({
        "pushed": summary.pushed,
        "pulled": summary.pulled,
        "conflicts": summary.conflicts,
    });
    emit(args.json, &out, || {
        let mut text = format!(
            "Synced with {server}: {} case(s) sent, {} case(s) received, {} open conflict(s).\n",
            summary.pushed, summary.pulled, summary.conflicts
        );
        if summary.conflicts > 0 {
            let _ = writeln!(
                text,
                "Review them with 'wardcrf conflicts --store {}'.",
                args.store.display()
            );
        }
        text
    })
}

/// A one-line text progress bar on stderr.
struct ProgressBar {
    on: bool,
    drawn: bool,
}

impl ProgressBar {
    const WIDTH: usize = 24;

    fn new(on: bool) -> Self {
        ProgressBar { on, drawn: false }
    }

    fn show(&mut self, p: SyncProgress) {
        if !self.on {
            return;
        }
        let total = p.pushed + p.remaining;
        let filled = (p.pushed * Self::WIDTH)
            .checked_div(total)
            .unwrap_or(Self::WIDTH);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rsyncing [{}{}] sent {}/{total}, received {}   ",
            "#".repeat(filled),
            "-".repeat(Self::WIDTH - filled),
            p.pushed,
            p.pulled
        );
        let _ = err.flush();
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}

/// The administrator's line to the repository: the token read from its file.
pub fn admin_transport(
    server: &str,
    token_file: &Path,
    tls: &TlsOpts,
) -> Result<HttpTransport, CliError> {
    let token = read_small(token_file)?.trim().to_string();
    if token.is_empty() {
        return Err(CliError::Input(format!(
            "{} is empty: it must hold the administrator token",
            token_file.display()
        )));
    }
    HttpTransport::with_options(server, &token, &tls.options()?).map_err(|e| CliError::Repository {
        doing: "request",
        source: e,
    })
}

pub fn admin(args: &AdminArgs) -> Outcome {
    let repo = admin_transport(&args.server, &args.token_file, &args.tls)?;
    let call = |method, path: &str, body: Option<Json>| {
        repo.call(method, path, body.as_ref())
            .map_err(|e| CliError::Repository {
                doing: "request",
                source: e,
            })
    };
    match &args.command {
        AdminCommand::Site(SiteCommand::Add {
            site_id,
            name,
            identifying_on_device,
        }) => {
            let mut body = json!({"site_id": site_id, "name": name});
            if *identifying_on_device {
                body["identifying_on_device"] = json!(true);
            }
            let out = call(Method::Post, "/api/admin/sites", Some(body))?;
            emit(args.json, &out, || {
                let kept = if *identifying_on_device {
                    " Its devices keep identifying data to themselves: never synced."
                } else {
                    ""
                };
                format!("Added site {site_id} ({name}).{kept}\n")
            })
        }
        AdminCommand::Site(SiteCommand::List) => {
            let out = call(Method::Get, "/api/admin/sites", None)?;
            emit(args.json, &out, || {
                let mut text = String::new();
                for s in out.as_array().into_iter().flatten() {
                    let _ = writeln!(
                        text,
                        "{:<24} {:>4} device(s) {:>6} case(s)  {}{}",
                        s["site_id"].as_str().unwrap_or_default(),
                        s["devices"],
                        s["cases"],
                        s["name"].as_str().unwrap_or_default(),
                        if s["identifying_on_device"] == json!(true) {
                            "  (identifying data stays on the devices)"
                        } else {
                            ""
                        }
                    );
                }
                text
            })
        }
        AdminCommand::EnrollCode { site } => {
            let out = call(
                Method::Post,
                "/api/admin/enroll-codes",
                Some(json!({"site_id": site})),
            )?;
            emit(args.json, &out, || {
                format!(
                    "{}\n(one-time enrolment code for site {site}; valid 24 hours)\n",
                    out["code"].as_str().unwrap_or_default()
                )
            })
        }
        AdminCommand::Device(AdminDeviceCommand::List) => {
            let out = call(Method::Get, "/api/admin/devices", None)?;
            emit(args.json, &out, || {
                let mut text = String::new();
                for d in out.as_array().into_iter().flatten() {
                    let last = match d["last_sync_at"].as_u64() {
                        Some(t) => format!("last sync {}", unix_time(t)),
                        None => "never synced".into(),
                    };
                    let _ = writeln!(
                        text,
                        "{}  {:<24} {last}{}",
                        d["device_id"].as_str().unwrap_or_default(),
                        d["site_id"].as_str().unwrap_or_default(),
                        if d["revoked"].as_bool() == Some(true) {
                            "  REVOKED"
                        } else {
                            ""
                        }
                    );
                }
                let _ = writeln!(text, "{} device(s)", out.as_array().map_or(0, Vec::len));
                text
            })
        }
        AdminCommand::Case(cmd) => admin_case(cmd, args.json, &call),
        AdminCommand::Device(AdminDeviceCommand::Revoke { device_id }) => {
            let path = format!("/api/admin/devices/{device_id}/revoke");
            if device_id.is_empty() || !device_id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(CliError::Input(format!(
                    "'{device_id}' is not a device id (see 'wardcrf admin … device list')"
                )));
            }
            let out = call(Method::Post, &path, Some(json!({})))?;
            emit(args.json, &out, || {
                format!("Revoked device {device_id}: its token no longer works.\n")
            })
        }
    }
}

/// A case id as the path of a URL: refused unless it is plain letters, digits, '-' and '_'.
fn case_path(case_id: &str) -> Result<String, CliError> {
    if case_id.is_empty()
        || !case_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CliError::Input(format!(
            "'{case_id}' is not a case id (see 'wardcrf admin … case list')"
        )));
    }
    Ok(format!("/api/cases/{case_id}"))
}

/// `wardcrf admin … case list|show|history`.
fn admin_case(cmd: &AdminCaseCommand, json: bool, call: &Call<'_>) -> Outcome {
    match cmd {
        AdminCaseCommand::List {
            site,
            status,
            conflicts,
            flagged,
        } => {
            let mut query = Vec::new();
            if let Some(site) = site {
                if !site
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    return Err(CliError::Input(format!(
                        "'{site}' is not a site id (lowercase letters, digits and '-')"
                    )));
                }
                query.push(format!("site={site}"));
            }
            if let Some(status) = status {
                query.push(format!(
                    "status={}",
                    wardcrf_core::Status::from(*status).as_str()
                ));
            }
            if *conflicts {
                query.push("conflicts=true".into());
            }
            if *flagged {
                query.push("flagged=true".into());
            }
            let path = if query.is_empty() {
                "/api/cases".to_string()
            } else {
                format!("/api/cases?{}", query.join("&"))
            };
            let out = call(Method::Get, &path, None)?;
            emit(json, &out, || {
                let mut text = String::new();
                for c in out.as_array().into_iter().flatten() {
                    let mut notes = Vec::new();
                    if c["deleted"].as_bool() == Some(true) {
                        notes.push("deleted".to_string());
                    }
                    if c["conflicts"].as_u64().unwrap_or(0) > 0 {
                        notes.push(format!("{} conflict(s)", c["conflicts"]));
                    }
                    if c["flags"].as_u64().unwrap_or(0) > 0 {
                        notes.push(format!("{} flag(s)", c["flags"]));
                    }
                    let _ = writeln!(
                        text,
                        "{}  {:<24} {:<14} {:<9} {}",
                        c["case_id"].as_str().unwrap_or_default(),
                        c["site_id"].as_str().unwrap_or_default(),
                        c["form_id"].as_str().unwrap_or_default(),
                        c["status"].as_str().unwrap_or_default(),
                        notes.join(", ")
                    );
                }
                let _ = writeln!(text, "{} case(s)", out.as_array().map_or(0, Vec::len));
                text
            })
        }
        AdminCaseCommand::Show { case_id } => {
            let out = call(Method::Get, &case_path(case_id)?, None)?;
            emit(json, &out, || case_text(&out))
        }
        AdminCaseCommand::History { case_id, field } => {
            let mut path = format!("{}/history", case_path(case_id)?);
            if let Some(field) = field {
                if !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(CliError::Input(format!("'{field}' is not a field id")));
                }
                let _ = write!(path, "?field={field}");
            }
            let out = call(Method::Get, &path, None)?;
            let history: Vec<wardcrf_core::HistoryEntry> = serde_json::from_value(out.clone())
                .map_err(|e| {
                    CliError::Input(format!("the repository sent an unreadable history: {e}"))
                })?;
            emit(json, &out, || store_cmd::history_text(&history))
        }
    }
}

/// A repository case (`GET /api/cases/{id}`) as text.
fn case_text(c: &Json) -> String {
    let mut text = String::new();
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    let _ = writeln!(
        text,
        "case {}  site {}  form {}  status {}{}",
        s("case_id"),
        s("site_id"),
        s("form_id"),
        s("status"),
        if c["deleted"].as_bool() == Some(true) {
            "  DELETED"
        } else {
            ""
        }
    );
    for (field, value) in c["values"].as_object().into_iter().flatten() {
        match value {
            Json::Array(rows) => {
                for row in rows {
                    let id = row["row_id"].as_str().unwrap_or_default();
                    for (f, v) in row.as_object().into_iter().flatten() {
                        if f != "row_id" {
                            let _ =
                                writeln!(text, "  {field}[{id}].{f} = {}", store_cmd::fmt_value(v));
                        }
                    }
                }
            }
            v => {
                let _ = writeln!(text, "  {field} = {}", store_cmd::fmt_value(v));
            }
        }
    }
    for conflict in c["conflicts"].as_array().into_iter().flatten() {
        let _ = writeln!(
            text,
            "CONFLICT {}:",
            conflict["field"].as_str().unwrap_or_default()
        );
        for cand in conflict["candidates"].as_array().into_iter().flatten() {
            let _ = writeln!(
                text,
                "  {}  by {} on device {}",
                store_cmd::fmt_value(&cand["value"]),
                cand["user"].as_str().unwrap_or_default(),
                cand["device"].as_str().unwrap_or_default()
            );
            if let Some(reason) = cand["reason"].as_str() {
                let _ = writeln!(text, "    reason: {reason}");
            }
        }
    }
    for kind in ["errors", "warnings"] {
        for flag in c["flags"][kind].as_array().into_iter().flatten() {
            let _ = writeln!(
                text,
                "{} {}: {}",
                if kind == "errors" { "ERROR" } else { "WARNING" },
                flag["field"].as_str().unwrap_or_default(),
                flag["message"].as_str().unwrap_or_default()
            );
        }
    }
    text
}

/// UTC date and time of a Unix timestamp, for listings.
fn unix_time(secs: u64) -> String {
    wardcrf_core::Timestamp::from_unsigned(secs).minutes_utc()
}

/// The message and exit code of a repository error: 3 when it is worth retrying.
pub fn transport_exit(e: &TransportError) -> u8 {
    match e {
        TransportError::Unreachable(_) => 3,
        TransportError::Refused(_)
        | TransportError::Revoked
        | TransportError::CertificateMismatch(_)
        | TransportError::SignInRefused { .. } => 2,
    }
}
