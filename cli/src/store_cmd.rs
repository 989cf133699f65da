//! The store commands: `device`, `case`, `conflicts`, `resolve` and `merge`.
//!
//! The passphrase of a store is read from the environment (`WARDCRF_PASSPHRASE`; for `merge`
//! the other store's from `WARDCRF_FROM_PASSPHRASE`, for `device rekey` the new one from
//! `WARDCRF_NEW_PASSPHRASE`), never from a flag, and is never printed. With `--json` the result
//! is JSON on stdout; errors always go to stderr with an empty stdout.

use crate::{CliError, print_json, show};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use wardcrf_core::{
    CaseFilter, CaseStore, Catalog, FieldPath, HistoryEntry, Issue, Lang,
    MIN_PASSPHRASE_ITERATIONS, Passphrase, Report, Status, StoreError, ucum,
};

/// The store passphrase.
pub const PASSPHRASE_VAR: &str = "WARDCRF_PASSPHRASE";
/// The passphrase of the other store, for `merge`.
pub const FROM_PASSPHRASE_VAR: &str = "WARDCRF_FROM_PASSPHRASE";
/// The new passphrase, for `device rekey`.
pub const NEW_PASSPHRASE_VAR: &str = "WARDCRF_NEW_PASSPHRASE";
/// Tests only: a low PBKDF2 iteration count for `device init` and `device rekey`.
pub const INSECURE_KDF_VAR: &str = "WARDCRF_INSECURE_KDF_ITERATIONS";

/// Options of every store command.
#[derive(Debug, Args)]
pub struct StoreOpts {
    /// The store directory.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// Who is acting, recorded with every change (default: $USER, else "unknown").
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Machine-readable output: JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Create this device's encrypted store (passphrase from $WARDCRF_PASSPHRASE).
    Init(StoreOpts),
    /// Re-wrap the store key with a new passphrase (from $WARDCRF_NEW_PASSPHRASE).
    Rekey(StoreOpts),
}

/// A case status to move to.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Target {
    Complete,
    Signed,
    /// Back to draft (needs --reason).
    Reopen,
}

/// A case status to list.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Draft,
    Complete,
    Signed,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Status {
        match s {
            StatusArg::Draft => Status::Draft,
            StatusArg::Complete => Status::Complete,
            StatusArg::Signed => Status::Signed,
        }
    }
}

/// Where a value lives: a case-level field, or (with --group and --row) a field of a row.
#[derive(Debug, Args)]
pub struct RowOpts {
    /// The repeating group of the field.
    #[arg(long, value_name = "GROUP", requires = "row")]
    group: Option<String>,
    /// The row id (from `case row-add` or `case show`).
    #[arg(long, value_name = "ROW_ID", requires = "group")]
    row: Option<String>,
}

impl RowOpts {
    fn path(&self, field: &str) -> FieldPath {
        match (&self.group, &self.row) {
            (Some(g), Some(r)) => FieldPath::row(g, r, field),
            _ => FieldPath::field(field),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Create a case of a form (a core form, or a disease module with its core form).
    New {
        #[command(flatten)]
        opts: StoreOpts,
        #[arg(long)]
        form: String,
        /// Further disease modules (repeatable).
        #[arg(long = "module")]
        modules: Vec<String>,
    },
    /// Set (or, with '' or null, clear) a value; prints the stored canonical value.
    Set {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        /// The field id (as in `wardcrf forms show`).
        field: String,
        /// JSON if it parses (38.5, true, [1,2], "text"), otherwise plain text (2024-03-01).
        value: String,
        /// The unit the value was entered in (UCUM, e.g. '[degF]').
        #[arg(long)]
        unit: Option<String>,
        /// Why: needed to change an earlier entry or a complete case; confirms an unusual value.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        row: RowOpts,
    },
    /// Add a row to a repeating group; prints its row id.
    RowAdd {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        group: String,
        /// The row's first values as a JSON object, like '{"med_class": 8}'.
        #[arg(long, default_value = "{}")]
        values: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Remove a row (kept in the history with the reason).
    RowRemove {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        group: String,
        row_id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Show a case: values, status, open conflicts and its validation report.
    Show {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        #[arg(long, default_value = "en")]
        lang: Lang,
    },
    /// List the cases on this device.
    List {
        #[command(flatten)]
        opts: StoreOpts,
        #[arg(long)]
        status: Option<StatusArg>,
        /// The core form id (cases of a disease module are listed under their core form).
        #[arg(long)]
        form: Option<String>,
        /// Only cases changed at or after this time (seconds since 1970-01-01 UTC).
        #[arg(long, value_name = "UNIX_SECONDS")]
        updated_since: Option<i64>,
        /// Only cases with open conflicts.
        #[arg(long)]
        conflicts: bool,
        /// Include deleted cases.
        #[arg(long)]
        deleted: bool,
    },
    /// The audit trail of a case (of one field when given), oldest first.
    History {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        field: Option<String>,
    },
    /// Mark a case complete or signed, or reopen it as a draft.
    Status {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        target: Target,
        #[arg(long)]
        reason: Option<String>,
        /// Language of the remaining problems listed when the case is not complete.
        #[arg(long, default_value = "en")]
        lang: Lang,
    },
    /// Delete a case (recoverably, with a reason).
    Delete {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Restore a deleted case.
    Restore {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Find cases by hospital record number or patient name (case and spacing do not matter).
    Find {
        #[command(flatten)]
        opts: StoreOpts,
        #[arg(long, value_parser = ["hospital_record_number", "patient_name"])]
        field: String,
        value: String,
    },
}

/// `wardcrf conflicts`
#[derive(Debug, Args)]
pub struct ConflictsArgs {
    #[command(flatten)]
    opts: StoreOpts,
    /// Only this case.
    #[arg(long = "case", value_name = "CASE")]
    case_id: Option<String>,
}

/// `wardcrf resolve`
#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    opts: StoreOpts,
    /// The case id (from `case new` or `case list`).
    case: String,
    /// The field id (as in `wardcrf forms show`).
    field: String,
    /// The value to keep: a candidate's or a new one (JSON if it parses, else plain text).
    #[arg(long)]
    value: String,
    /// The unit the value was entered in (UCUM).
    #[arg(long)]
    unit: Option<String>,
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    row: RowOpts,
}

/// `wardcrf merge`
#[derive(Debug, Args)]
pub struct MergeArgs {
    #[command(flatten)]
    opts: StoreOpts,
    /// The other store (passphrase from $WARDCRF_FROM_PASSPHRASE).
    #[arg(long, value_name = "OTHER_DIR")]
    from: PathBuf,
}

type Outcome = Result<ExitCode, CliError>;

fn env_secret(var: &'static str) -> Result<String, CliError> {
    match std::env::var(var) {
        Ok(s) if !s.is_empty() => Ok(s),
        _ => Err(CliError::Passphrase { var }),
    }
}

/// The passphrase for a new key wrapping: production strength unless the test-only
/// iteration count is set, which is announced loudly.
fn new_passphrase(secret: String, var: &'static str) -> Result<Passphrase, CliError> {
    if secret.trim().is_empty() {
        return Err(CliError::Passphrase { var });
    }
    let Ok(raw) = std::env::var(INSECURE_KDF_VAR) else {
        return Ok(Passphrase::new(secret));
    };
    let n: u32 =
        raw.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            CliError::Input(format!("{INSECURE_KDF_VAR} must be a positive count"))
        })?;
    eprintln!(
        "wardcrf: WARNING: {INSECURE_KDF_VAR} is set: the passphrase key is derived with only {n} \
         PBKDF2 iterations (production: {MIN_PASSPHRASE_ITERATIONS}). FOR TESTS ONLY: never keep \
         patient data in this store."
    );
    Ok(Passphrase::insecure_for_tests(secret, n))
}

fn open(dir: &std::path::Path) -> Result<CaseStore, CliError> {
    let pass = Passphrase::new(env_secret(PASSPHRASE_VAR)?);
    let mut store = CaseStore::open(dir, &pass)?;
    store.set_today(crate::today(None)?);
    Ok(store)
}

fn user(opts: &StoreOpts) -> String {
    let clean = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    opts.user
        .clone()
        .and_then(clean)
        .or_else(|| std::env::var("USER").ok().and_then(clean))
        .unwrap_or_else(|| "unknown".into())
}

fn emit<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> Outcome {
    if json {
        print_json(&serde_json::to_value(value).unwrap_or(Json::Null));
    } else {
        print!("{}", text());
    }
    Ok(ExitCode::SUCCESS)
}

/// A command-line value: JSON if it parses, else the text itself; empty or `null` clears.
fn parse_value(raw: &str) -> Json {
    if raw.trim().is_empty() {
        return Json::Null;
    }
    serde_json::from_str(raw.trim()).unwrap_or_else(|_| Json::String(raw.to_string()))
}

/// The value to send: the command-line value, with its unit when given. (A number typed for
/// a text field, such as a record number, is kept as text by the validation engine.)
fn value_for(raw: &str, unit: Option<&str>) -> Json {
    match (parse_value(raw), unit) {
        (Json::Null, _) => Json::Null,
        (v, Some(u)) => json!({"value": v, "unit": u}),
        (v, None) => v,
    }
}

/// A stored value for the terminal: `38.5 °C (entered 101.3 °F)`.
pub(crate) fn fmt_value(v: &Json) -> String {
    match v {
        Json::Null => "(empty)".into(),
        Json::String(s) => s.clone(),
        Json::Object(o) if o.contains_key("value") => {
            let mut out = fmt_value(&o["value"]);
            if let Some(u) = o.get("unit").and_then(Json::as_str) {
                let _ = write!(out, " {}", unit_text(u));
            }
            if let Some(e) = o.get("entered") {
                let _ = write!(out, " (entered {})", fmt_value(e));
            }
            if let Some(c) = o.get("confirm").and_then(Json::as_str) {
                let _ = write!(out, " ✓ {c}");
            }
            out
        }
        other => other.to_string(),
    }
}

fn unit_text(u: &str) -> String {
    let shown = ucum::display(u, Lang::En);
    if shown.is_empty() { u.into() } else { shown }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SSZ`.
fn fmt_time(t: i64) -> String {
    wardcrf_core::Timestamp::from_unix_seconds(t).seconds_utc()
}

/// An audit trail as lines of text, oldest first.
pub(crate) fn history_text(history: &[HistoryEntry]) -> String {
    let mut out = String::new();
    for h in history {
        let what = match (&h.group, &h.row_id, &h.field) {
            (Some(g), Some(r), Some(f)) => format!(" {g}[{r}].{f}"),
            (Some(g), Some(r), None) => format!(" {g}[{r}]"),
            (_, _, Some(f)) => format!(" {f}"),
            _ => String::new(),
        };
        let change = match (&h.old, &h.new) {
            (None, None) => String::new(),
            (old, new) => format!(
                ": {} → {}",
                old.as_ref().map_or("(empty)".into(), fmt_value),
                new.as_ref().map_or("(empty)".into(), fmt_value)
            ),
        };
        let reason = h
            .reason
            .as_ref()
            .map(|r| format!("  (reason: {r})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}  {}  {:<12} {}{what}{change}{reason}",
            fmt_time(h.time),
            short(&h.device),
            h.user,
            h.op
        );
    }
    out
}

fn short(device: &str) -> &str {
    device.get(..8).unwrap_or(device)
}

fn place(path: &FieldPath) -> String {
    match (&path.group, &path.row_id) {
        (Some(g), Some(r)) => format!("{g}[{r}].{}", path.field),
        _ => path.field.clone(),
    }
}

fn issue_line(issue: &Issue, lang: Lang) -> String {
    let at = match (&issue.group, &issue.row_id) {
        (Some(g), Some(r)) => format!("{g}[{r}].{}", issue.field),
        (Some(g), None) => format!("{g}.{}", issue.field),
        _ => issue.field.clone(),
    };
    format!(
        "  - {at} [{}]: {}",
        issue.code.as_str(),
        issue.message.get(lang)
    )
}

/// What a nurse still has to do before a case can be marked complete.
fn problems(report: &Report, lang: Lang) -> Vec<String> {
    report
        .errors
        .iter()
        .chain(&report.missing)
        .chain(report.warnings.iter().filter(|w| w.confirmed.is_none()))
        .map(|i| issue_line(i, lang))
        .collect()
}

/// More about a store error, printed on stderr after its message: every problem found, and
/// what to type next.
pub fn explain(e: &StoreError, lang: Lang) {
    match e {
        StoreError::Rejected { issues, .. } => {
            for i in issues {
                eprintln!("{}", issue_line(i, lang));
            }
        }
        StoreError::NeedsConfirmation { warnings, .. } => {
            for w in warnings {
                eprintln!("{}", issue_line(w, lang));
            }
            eprintln!("wardcrf: if the value is right, give the reason with --reason");
        }
        StoreError::ReasonRequired(_) => eprintln!("wardcrf: give it with --reason"),
        StoreError::WrongKey => {
            eprintln!("wardcrf: check the passphrase in the environment variable {PASSPHRASE_VAR}")
        }
        StoreError::NotComplete { report, .. } => {
            for l in problems(report, lang) {
                eprintln!("{l}");
            }
        }
        _ => {}
    }
}

pub fn device(cmd: DeviceCommand) -> Outcome {
    match cmd {
        DeviceCommand::Init(o) => {
            let pass = new_passphrase(env_secret(PASSPHRASE_VAR)?, PASSPHRASE_VAR)?;
            let store = CaseStore::create(&o.store, &pass)?;
            let out =
                json!({"device_id": store.device_id(), "store": o.store.display().to_string()});
            emit(o.json, &out, || {
                format!(
                    "Created the store in {} (device {}).\n",
                    o.store.display(),
                    store.device_id()
                )
            })
        }
        DeviceCommand::Rekey(o) => {
            let mut store = open(&o.store)?;
            let new = new_passphrase(env_secret(NEW_PASSPHRASE_VAR)?, NEW_PASSPHRASE_VAR)?;
            store.rekey(&new)?;
            let out = json!({
                "device_id": store.device_id(),
                "store": o.store.display().to_string(),
                "rekeyed": true,
            });
            emit(o.json, &out, || {
                format!(
                    "The store in {} now opens with the new passphrase only.\n",
                    o.store.display()
                )
            })
        }
    }
}

fn changed(case: &str, path: &FieldPath, value: Json) -> Json {
    let mut out = Map::new();
    out.insert("case_id".into(), json!(case));
    out.insert("field".into(), json!(path.field));
    if let (Some(g), Some(r)) = (&path.group, &path.row_id) {
        out.insert("group".into(), json!(g));
        out.insert("row_id".into(), json!(r));
    }
    out.insert("value".into(), value);
    Json::Object(out)
}

pub fn case(cmd: CaseCommand) -> Outcome {
    match cmd {
        CaseCommand::New {
            opts,
            form,
            modules,
        } => {
            let mut store = open(&opts.store)?;
            let mods: Vec<&str> = modules.iter().map(String::as_str).collect();
            let id = store.create_case(&form, &mods, &user(&opts))?;
            emit(opts.json, &json!({"case_id": id}), || format!("{id}\n"))
        }
        CaseCommand::Set {
            opts,
            case,
            field,
            value,
            unit,
            reason,
            row,
        } => {
            let mut store = open(&opts.store)?;
            let path = row.path(&field);
            let value = value_for(&value, unit.as_deref());
            let stored = store.set_value(&case, &path, value, &user(&opts), reason.as_deref())?;
            let text = format!("{} = {}\n", place(&path), fmt_value(&stored));
            emit(opts.json, &changed(&case, &path, stored), || text)
        }
        CaseCommand::RowAdd {
            opts,
            case,
            group,
            values,
            reason,
        } => {
            let Ok(Json::Object(values)) = serde_json::from_str::<Json>(&values) else {
                return Err(CliError::Input(
                    "--values must be a JSON object of the row's fields, like '{\"med_class\": 8}'"
                        .into(),
                ));
            };
            let mut store = open(&opts.store)?;
            let id = store.add_row(&case, &group, &values, &user(&opts), reason.as_deref())?;
            emit(opts.json, &json!({"row_id": id}), || format!("{id}\n"))
        }
        CaseCommand::RowRemove {
            opts,
            case,
            group,
            row_id,
            reason,
        } => {
            let mut store = open(&opts.store)?;
            store.remove_row(
                &case,
                &group,
                &row_id,
                &user(&opts),
                reason.as_deref().unwrap_or_default(),
            )?;
            let out = json!({"case_id": case, "group": group, "row_id": row_id, "removed": true});
            emit(opts.json, &out, || {
                format!("Removed row {row_id} of {group}.\n")
            })
        }
        CaseCommand::Show { opts, case, lang } => show_case(&opts, &case, lang),
        CaseCommand::List {
            opts,
            status,
            form,
            updated_since,
            conflicts,
            deleted,
        } => {
            let store = open(&opts.store)?;
            let list = store.list(&CaseFilter {
                status: status.map(Status::from),
                form_id: form,
                updated_since,
                with_conflicts: conflicts,
                include_deleted: deleted,
            })?;
            emit(opts.json, &list, || {
                let mut out = String::new();
                for c in &list {
                    let mut flags = Vec::new();
                    if c.has_conflicts {
                        flags.push("conflicts");
                    }
                    if c.deleted {
                        flags.push("deleted");
                    }
                    let _ = writeln!(
                        out,
                        "{}  {:<12} {:<9} updated {}  {}",
                        c.case_id,
                        c.form_id,
                        c.status.as_str(),
                        fmt_time(c.updated_at),
                        flags.join(", ")
                    );
                }
                let _ = writeln!(out, "{} case(s)", list.len());
                out
            })
        }
        CaseCommand::History { opts, case, field } => {
            let store = open(&opts.store)?;
            let history = store.history(&case, field.as_deref())?;
            emit(opts.json, &history, || history_text(&history))
        }
        CaseCommand::Status {
            opts,
            case,
            target,
            reason,
            lang,
        } => {
            let mut store = open(&opts.store)?;
            let target = match target {
                Target::Complete => Status::Complete,
                Target::Signed => Status::Signed,
                Target::Reopen => Status::Draft,
            };
            let status = match store.set_status(&case, target, &user(&opts), reason.as_deref()) {
                Ok(status) => status,
                Err(e) => {
                    let mut notes = Vec::new();
                    if let StoreError::NotComplete {
                        conflicts: open, ..
                    } = e
                        && open > 0
                    {
                        notes.push(format!(
                                "wardcrf: {open} open conflict(s) must be resolved first (see 'wardcrf conflicts --case {case}')"
                            ));
                    }
                    return Err(CliError::Explained {
                        source: e,
                        lang,
                        notes,
                    });
                }
            };
            let out = json!({"case_id": case, "status": status});
            emit(opts.json, &out, || format!("{case}: {}\n", status.as_str()))
        }
        CaseCommand::Delete { opts, case, reason } => {
            let mut store = open(&opts.store)?;
            store.delete_case(&case, &user(&opts), reason.as_deref().unwrap_or_default())?;
            let out = json!({"case_id": case, "deleted": true});
            emit(opts.json, &out, || {
                format!("Deleted {case} (it can be restored with 'wardcrf case restore').\n")
            })
        }
        CaseCommand::Restore { opts, case, reason } => {
            let mut store = open(&opts.store)?;
            store.restore_case(&case, &user(&opts), reason.as_deref().unwrap_or_default())?;
            let out = json!({"case_id": case, "deleted": false});
            emit(opts.json, &out, || format!("Restored {case}.\n"))
        }
        CaseCommand::Find { opts, field, value } => {
            let store = open(&opts.store)?;
            let ids = store.find(&field, &value)?;
            emit(opts.json, &json!({"case_ids": ids}), || {
                if ids.is_empty() {
                    "No case found.\n".into()
                } else {
                    ids.iter().map(|i| format!("{i}\n")).collect()
                }
            })
        }
    }
}

fn show_case(opts: &StoreOpts, case: &str, lang: Lang) -> Outcome {
    let mut store = open(&opts.store)?;
    let view = store.case(case)?;
    if opts.json {
        let mut out = serde_json::to_value(&view).unwrap_or(Json::Null);
        if let Json::Object(o) = &mut out {
            o.insert("report".into(), view.report.to_json(lang));
        }
        print_json(&out);
        return Ok(ExitCode::SUCCESS);
    }
    let mods: Vec<&str> = view.modules.iter().map(String::as_str).collect();
    let form = Catalog::bundled()?.form(&view.form_id, &mods)?;
    let mut parts = vec![format!("{} {}", view.form_id, view.form_version)];
    parts.extend(view.modules.iter().cloned());
    println!(
        "{} ({})  {}{}",
        view.case_id,
        parts.join(" + "),
        view.status.as_str(),
        if view.deleted { ", deleted" } else { "" }
    );
    if !view.conflicts.is_empty() {
        print!("{}", conflict_text(&view.conflicts));
    }
    print!("{}", show::render_report(&view.report, &form, lang));
    Ok(ExitCode::SUCCESS)
}

fn conflict_text(conflicts: &[wardcrf_core::Conflict]) -> String {
    let mut out = String::new();
    for c in conflicts {
        let _ = writeln!(out, "Conflict in {} of case {}:", place(&c.path), c.case_id);
        for cand in &c.candidates {
            let _ = writeln!(
                out,
                "  {}  by {} on device {} at {}",
                fmt_value(&cand.value),
                cand.user,
                short(&cand.device),
                fmt_time(cand.time)
            );
        }
    }
    out
}

pub fn conflicts(args: ConflictsArgs) -> Outcome {
    let mut store = open(&args.opts.store)?;
    let list = store.conflicts(args.case_id.as_deref())?;
    emit(args.opts.json, &list, || {
        if list.is_empty() {
            "No open conflicts.\n".into()
        } else {
            conflict_text(&list)
        }
    })
}

pub fn resolve(args: ResolveArgs) -> Outcome {
    let mut store = open(&args.opts.store)?;
    let path = args.row.path(&args.field);
    let value = value_for(&args.value, args.unit.as_deref());
    let stored = store.resolve(
        &args.case,
        &path,
        value,
        &user(&args.opts),
        args.reason.as_deref().unwrap_or_default(),
    )?;
    let text = format!("{} = {} (resolved)\n", place(&path), fmt_value(&stored));
    emit(args.opts.json, &changed(&args.case, &path, stored), || text)
}

pub fn merge(args: MergeArgs) -> Outcome {
    let same = match (
        std::fs::canonicalize(&args.opts.store),
        std::fs::canonicalize(&args.from),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(CliError::Input(
            "--from names this same store; give the other device's store".into(),
        ));
    }
    let mut store = open(&args.opts.store)?;
    let from_pass = Passphrase::new(env_secret(FROM_PASSPHRASE_VAR)?);
    let other = CaseStore::open(&args.from, &from_pass).map_err(|e| CliError::OtherStore {
        dir: args.from.clone(),
        source: e,
    })?;
    let summary = store.merge_from(&other)?;
    emit(args.opts.json, &summary, || {
        format!(
            "Merged from {}: {} new case(s), {} updated case(s), {} open conflict(s).\n",
            args.from.display(),
            summary.new_cases,
            summary.updated_cases,
            summary.conflicts
        )
    })
}
