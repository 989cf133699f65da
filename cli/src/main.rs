//! `wardcrf`: explore the bundled case report forms, check form files, validate case values,
//! keep cases in this device's encrypted store (`device`, `case`, `conflicts`, `resolve`,
//! `merge`) as a signed-in staff member (`user`, `--user`; `store recover`), and sync them with
//! the central repository (`device enroll`, `sync`, `admin`).
//!
//! Exit codes: 0 success (for `validate`, whatever the report says); 1 a checked form file has
//! problems; 2 the input could not be read or used, or the store or the repository refused the
//! operation; 3 the repository could not be reached (try again later: nothing is lost). The
//! reason is printed on stderr; stdout stays empty.

mod export_cmd;
mod show;
mod staff_cmd;
mod store_cmd;
mod sync_cmd;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use wardcrf_core::{Catalog, Context, FormError, Lang, PartialDate, StoreError, validate};

/// Largest values file read (a case with every repeating group full is far smaller).
const MAX_VALUES_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Parser)]
#[command(
    name = "wardcrf",
    version,
    about = "WardCRF: offline-first case report forms for infectious-disease research networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explore and check form definitions.
    #[command(subcommand)]
    Forms(FormsCommand),
    /// Validate case values against a form and print the report.
    Validate(ValidateArgs),
    /// Set up this device's encrypted case store, or change its passphrase.
    #[command(subcommand)]
    Device(sync_cmd::DeviceCommand),
    /// Staff sign-in on this device: first online, then offline; a PIN for later sign-ins.
    #[command(subcommand)]
    User(staff_cmd::UserCommand),
    /// Unlock a store whose users forgot their credentials with the recovery key.
    #[command(subcommand)]
    Store(staff_cmd::StoreCommand),
    /// Enter, review, list and sign cases in the store.
    #[command(subcommand)]
    Case(store_cmd::CaseCommand),
    /// List the fields edited concurrently on two devices, with every candidate value.
    Conflicts(store_cmd::ConflictsArgs),
    /// Resolve a conflict with the value to keep and a reason.
    Resolve(store_cmd::ResolveArgs),
    /// Merge the cases of another device's store into this one.
    Merge(store_cmd::MergeArgs),
    /// Send this device's changes to the repository and receive the other devices'.
    Sync(sync_cmd::SyncArgs),
    /// Administer the repository: sites, enrolment codes, devices (admin token from a file).
    Admin(sync_cmd::AdminArgs),
    /// Download a repository export (CSV in a ZIP, CDISC ODM 1.3.2 or HL7 FHIR R4) with the
    /// administrator token.
    Export(export_cmd::ExportArgs),
}

#[derive(Subcommand)]
enum FormsCommand {
    /// List the bundled forms and disease modules.
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "en")]
        lang: Lang,
    },
    /// Show a form section by section (with --json: the whole definition).
    Show {
        form_id: String,
        /// Disease modules to compose with the form (repeatable).
        #[arg(long = "module")]
        modules: Vec<String>,
        #[arg(long, default_value = "en")]
        lang: Lang,
        #[arg(long)]
        json: bool,
    },
    /// Check a form file: exit 0 when valid, 1 with every problem on stderr otherwise.
    Check { file: PathBuf },
}

#[derive(Args)]
struct ValidateArgs {
    /// A core form id, or a disease module id (composed with its core form).
    #[arg(long)]
    form: String,
    /// Further disease modules (repeatable).
    #[arg(long = "module")]
    modules: Vec<String>,
    /// JSON file of values: {"field_id": value, "group_id": [{row}, ...]}.
    #[arg(long)]
    values: PathBuf,
    #[arg(long, default_value = "en")]
    lang: Lang,
    #[arg(long)]
    json: bool,
    /// Check for completion: empty required fields become errors (otherwise listed as missing).
    #[arg(long)]
    complete: bool,
    /// The date taken as today (YYYY-MM-DD); defaults to the system date (UTC).
    #[arg(long)]
    today: Option<String>,
    /// Validate as a site whose default unit for FIELD is UCUM would (repeatable), e.g.
    /// `--default-unit lab_plt=10*4/uL`: a number given without a unit is read in it.
    #[arg(long = "default-unit", value_name = "FIELD=UCUM", value_parser = parse_default_unit)]
    default_units: Vec<(String, String)>,
}

/// Reads `FIELD=UCUM`.
fn parse_default_unit(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((f, u)) if !f.trim().is_empty() && !u.trim().is_empty() => {
            Ok((f.trim().to_string(), u.trim().to_string()))
        }
        _ => Err(format!(
            "'{s}' is not FIELD=UCUM (for example lab_plt=10*4/uL)"
        )),
    }
}

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is larger than {} MiB", MAX_VALUES_BYTES / (1024 * 1024))]
    TooLarge { path: PathBuf },
    #[error("{path} is not valid JSON (line {line}, column {column}): {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path} must hold a JSON object of field values, like {{\"vs_temp\": 37.2}}")]
    NotAnObject { path: PathBuf },
    #[error("--today '{0}' is not a full date (YYYY-MM-DD)")]
    Today(String),
    #[error(transparent)]
    Form(#[from] FormError),
    #[error("--default-unit: {0}")]
    DefaultUnit(#[from] wardcrf_core::DefaultUnitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A store error whose details are listed in `lang`, followed by `notes`.
    #[error("{source}")]
    Explained {
        source: StoreError,
        lang: Lang,
        notes: Vec<String>,
    },
    #[error("the other store ({}): {source}", dir.display())]
    OtherStore { dir: PathBuf, source: StoreError },
    #[error(
        "set the passphrase in the environment variable {var} (it is never taken from the command line)"
    )]
    Passphrase { var: &'static str },
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Sync(#[from] wardcrf_core::sync::SyncError),
    /// An exchange with the repository other than a sync failed.
    #[error("{}", repository_message(doing, source))]
    Repository {
        doing: &'static str,
        source: wardcrf_core::sync::TransportError,
    },
    #[error("--qr: {0}")]
    EnrolPayload(#[from] wardcrf_core::sync::EnrolPayloadError),
    #[error("this device is not enrolled: run 'wardcrf device enroll'")]
    NotEnrolled,
    /// `wardcrf sync --server URL`: not a repository address; nothing was sent or changed.
    #[error("--server: {reason}; nothing was sent and the device keeps its address")]
    ServerUrl { reason: String },
    #[error(
        "the store is locked or the command changes data: give the staff member acting with --user ID (password from {}, or PIN from {})",
        staff_cmd::USER_PASSWORD_VAR,
        staff_cmd::USER_PIN_VAR
    )]
    NeedsUser,
    #[error(
        "set the password in the environment variable {} or the PIN in {} (never on the command line)",
        staff_cmd::USER_PASSWORD_VAR,
        staff_cmd::USER_PIN_VAR
    )]
    NoCredential,
    #[error(
        "a signature needs the signer's password again, in the environment variable {} (a PIN does not sign)",
        staff_cmd::USER_PASSWORD_VAR
    )]
    SigningPassword,
    #[error("signing needs the meaning of the signature: --meaning, one of: {}", .0.join(", "))]
    MeaningRequired(Vec<String>),
}

fn repository_message(doing: &str, e: &wardcrf_core::sync::TransportError) -> String {
    use wardcrf_core::sync::TransportError;
    match e {
        TransportError::Unreachable(m) => {
            format!("the repository could not be reached: {m}; try the {doing} again later")
        }
        TransportError::Refused(m) => format!("the repository refused the {doing}: {m}"),
        TransportError::Revoked | TransportError::CertificateMismatch(_) => {
            format!("the repository refused the {doing}: {e}")
        }
        TransportError::SignInRefused { message, .. } => {
            format!("the repository refused the sign-in: {message}")
        }
    }
}

impl CliError {
    /// The exit code of a command that failed this way.
    fn exit_code(&self) -> u8 {
        use wardcrf_core::sync::SyncError;
        match self {
            CliError::Repository { source, .. } | CliError::Sync(SyncError::Transport(source)) => {
                sync_cmd::transport_exit(source)
            }
            _ => 2,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Forms(FormsCommand::List { json, lang }) => forms_list(json, lang),
        Command::Forms(FormsCommand::Show {
            form_id,
            modules,
            lang,
            json,
        }) => forms_show(&form_id, &modules, lang, json),
        Command::Forms(FormsCommand::Check { file }) => forms_check(&file),
        Command::Validate(args) => run_validate(&args),
        Command::Device(cmd) => sync_cmd::device(cmd),
        Command::User(cmd) => staff_cmd::user(cmd),
        Command::Store(cmd) => staff_cmd::store(cmd),
        Command::Case(cmd) => store_cmd::case(cmd),
        Command::Conflicts(args) => store_cmd::conflicts(args),
        Command::Resolve(args) => store_cmd::resolve(args),
        Command::Merge(args) => store_cmd::merge(args),
        Command::Sync(args) => sync_cmd::sync(&args),
        Command::Admin(args) => sync_cmd::admin(&args),
        Command::Export(args) => export_cmd::export(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wardcrf: {e}");
            match &e {
                CliError::Store(s) | CliError::Sync(wardcrf_core::sync::SyncError::Store(s)) => {
                    store_cmd::explain(s, Lang::En)
                }
                CliError::Explained {
                    source,
                    lang,
                    notes,
                } => {
                    store_cmd::explain(source, *lang);
                    for n in notes {
                        eprintln!("{n}");
                    }
                }
                CliError::Sync(wardcrf_core::sync::SyncError::Transport(
                    wardcrf_core::sync::TransportError::Unreachable(_),
                )) => eprintln!(
                    "wardcrf: nothing is lost: what was exchanged is kept; sync again when the repository can be reached"
                ),
                _ => {}
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn read_file(path: &Path, limit: u64) -> Result<String, CliError> {
    let meta = std::fs::metadata(path).map_err(|source| CliError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > limit {
        return Err(CliError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn forms_list(json: bool, lang: Lang) -> Result<ExitCode, CliError> {
    let catalog = Catalog::bundled()?;
    let mut rows = Vec::new();
    for def in catalog.definitions() {
        let form = catalog.form(&def.form_id, &[])?;
        let own = form
            .fields()
            .iter()
            .filter(|f| f.defined_by == def.form_id)
            .count();
        rows.push(serde_json::json!({
            "form_id": def.form_id,
            "version": def.version,
            "kind": if def.extends.is_some() { "module" } else { "core" },
            "extends": def.extends,
            "title": def.title.get(lang),
            "fields": own,
            "sections": def.sections.len(),
            "rules": def.rules.len(),
        }));
    }
    if json {
        print_json(&Value::Array(rows));
    } else {
        for r in &rows {
            println!(
                "{:<16} {:<7} {:<7} {:>4} fields  {}",
                r["form_id"].as_str().unwrap_or_default(),
                r["version"].as_str().unwrap_or_default(),
                r["kind"].as_str().unwrap_or_default(),
                r["fields"],
                r["title"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn forms_show(
    form_id: &str,
    modules: &[String],
    lang: Lang,
    json: bool,
) -> Result<ExitCode, CliError> {
    let catalog = Catalog::bundled()?;
    if json {
        let def = catalog.get(form_id)?;
        if modules.is_empty() {
            print_json(&serde_json::to_value(def).unwrap_or_default());
        } else {
            let mods: Vec<&str> = modules.iter().map(String::as_str).collect();
            let form = catalog.form(form_id, &mods)?;
            print_json(&serde_json::to_value(form.definition()).unwrap_or_default());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mods: Vec<&str> = modules.iter().map(String::as_str).collect();
    let form = catalog.form(form_id, &mods)?;
    print!("{}", show::render(&form, lang));
    Ok(ExitCode::SUCCESS)
}

fn forms_check(file: &Path) -> Result<ExitCode, CliError> {
    let text = read_file(file, wardcrf_core::MAX_FORM_BYTES as u64)?;
    let catalog = Catalog::bundled()?;
    let checked =
        wardcrf_core::parse_definition(&text).and_then(|def| catalog.check(&def).map(|f| (def, f)));
    match checked {
        Ok((def, form)) => {
            println!(
                "{}: {} {} is valid ({} fields, {} repeating groups, {} rules)",
                file.display(),
                def.form_id,
                def.version,
                form.fields()
                    .iter()
                    .filter(|f| f.defined_by == def.form_id)
                    .count(),
                form.groups().len(),
                def.rules.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let problems = e.problems();
            for p in &problems {
                eprintln!("{}: {p}", file.display());
            }
            eprintln!("{}: {} problem(s)", file.display(), problems.len());
            Ok(ExitCode::from(1))
        }
    }
}

fn today(arg: Option<&str>) -> Result<Option<PartialDate>, CliError> {
    match arg {
        Some(s) => match PartialDate::parse(s.trim()) {
            Ok(d) if d.is_full() => Ok(Some(d)),
            _ => Err(CliError::Today(s.to_string())),
        },
        None => {
            let days = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| (d.as_secs() / 86_400) as i64)
                .ok();
            Ok(days.and_then(PartialDate::from_days_since_epoch))
        }
    }
}

fn run_validate(args: &ValidateArgs) -> Result<ExitCode, CliError> {
    let default_units: std::collections::BTreeMap<String, String> =
        args.default_units.iter().cloned().collect();
    let ctx = Context {
        today: today(args.today.as_deref())?,
        completing: args.complete,
        default_units: Some(&default_units),
    };
    let text = read_file(&args.values, MAX_VALUES_BYTES)?;
    let values: Value = serde_json::from_str(&text).map_err(|e| CliError::Json {
        path: args.values.clone(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let Value::Object(values) = values else {
        return Err(CliError::NotAnObject {
            path: args.values.clone(),
        });
    };
    let catalog = Catalog::bundled()?;
    let mods: Vec<&str> = args.modules.iter().map(String::as_str).collect();
    let form = catalog.form(&args.form, &mods)?;
    form.check_default_units(&default_units)?;
    let report = validate(&form, &values, &ctx);
    if args.json {
        print_json(&report.to_json(args.lang));
    } else {
        print!("{}", show::render_report(&report, &form, args.lang));
    }
    Ok(ExitCode::SUCCESS)
}
