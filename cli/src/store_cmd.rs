//! The store commands: `device`, `case`, `conflicts`, `resolve` and `merge`.
//!
//! The passphrase of a store is read from the environment (`WARDCRF_PASSPHRASE`; for `merge`
//! the other store's from `WARDCRF_FROM_PASSPHRASE`, for `device rekey` the new one from
//! `WARDCRF_NEW_PASSPHRASE`), never from a flag, and is never printed. With `--json` the result
//! is JSON on stdout; errors always go to stderr with an empty stdout.//!
//! - `args`: the command-line arguments and passphrase variables.
//! - `text`: rendering values, histories, conflicts and problems for the terminal.

mod args;
mod session;
mod text;

pub use args::*;
pub(crate) use text::{fmt_value, history_text};

use crate::staff_cmd::{self, Need};
use crate::{CliError, print_json, show};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use std::fmt::Write as _;
use std::process::ExitCode;
use text::{conflict_text, fmt_time, issue_line, place, problems, signatures_text};
use wardcrf_core::session::HiddenValues;
use wardcrf_core::{
    CaseFilter, CaseStore, Catalog, FieldPath, Lang, MIN_PASSPHRASE_ITERATIONS, Passphrase, Status,
    StoreError,
};

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
    match insecure_iterations()? {
        None => Ok(Passphrase::new(secret)),
        Some(n) => Ok(Passphrase::insecure_for_tests(secret, n)),
    }
}

/// The test-only PBKDF2 iteration count of [`INSECURE_KDF_VAR`] for the key wrappings this
/// command makes (passphrase, staff password and PIN), announced loudly; `None` when unset.
pub(crate) fn insecure_iterations() -> Result<Option<u32>, CliError> {
    let Ok(raw) = std::env::var(INSECURE_KDF_VAR) else {
        return Ok(None);
    };
    let n: u32 =
        raw.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            CliError::Input(format!("{INSECURE_KDF_VAR} must be a positive count"))
        })?;
    eprintln!(
        "wardcrf: WARNING: {INSECURE_KDF_VAR} is set: keys are derived with only {n} \
         PBKDF2 iterations (production: {MIN_PASSPHRASE_ITERATIONS}). FOR TESTS ONLY: never keep \
         patient data in this store."
    );
    Ok(Some(n))
}

/// The store of `opts`, unlocked for `need` by the staff member of `--user`.
fn open(opts: &StoreOpts, need: Need) -> Result<CaseStore, CliError> {
    staff_cmd::open(&opts.store, &opts.who, need)
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
        StoreError::Locked | StoreError::NotSignedIn => eprintln!(
            "wardcrf: give --user ID, with the password in {} or the PIN in {}",
            staff_cmd::USER_PASSWORD_VAR,
            staff_cmd::USER_PIN_VAR
        ),
        StoreError::OnlineSignInRequired(_) => eprintln!(
            "wardcrf: sign in while the repository can be reached: 'wardcrf user login' (the device must be enrolled)"
        ),
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
            let mut store = open(&o, Need::Platform)?;
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
            let mut store = open(&opts, Need::Write)?;
            let mods: Vec<&str> = modules.iter().map(String::as_str).collect();
            let id = store.create_case(&form, &mods)?;
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
            let mut store = open(&opts, Need::Write)?;
            let path = row.path(&field);
            let value = value_for(&value, unit.as_deref());
            let stored = store.set_value(&case, &path, value, reason.as_deref())?;
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
            let mut store = open(&opts, Need::Write)?;
            let id = store.add_row(&case, &group, &values, reason.as_deref())?;
            emit(opts.json, &json!({"row_id": id}), || format!("{id}\n"))
        }
        CaseCommand::RowRemove {
            opts,
            case,
            group,
            row_id,
            reason,
        } => {
            let mut store = open(&opts, Need::Write)?;
            store.remove_row(
                &case,
                &group,
                &row_id,
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
            let store = open(&opts, Need::Read)?;
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
                    match c.conflicts {
                        0 if c.has_conflicts => flags.push("conflicts".to_string()),
                        0 => {}
                        1 => flags.push("1 conflict".to_string()),
                        n => flags.push(format!("{n} conflicts")),
                    }
                    if c.deleted {
                        flags.push("deleted".to_string());
                    }
                    let label = if c.label.is_empty() {
                        "(no label)"
                    } else {
                        c.label.as_str()
                    };
                    let _ = writeln!(
                        out,
                        "{}  {:<12} {:<9} {:<10} updated {}  {label}  {}",
                        c.case_id,
                        c.form_id,
                        c.status.as_str(),
                        if c.pending_sync {
                            "not synced"
                        } else {
                            "synced"
                        },
                        fmt_time(c.updated_at),
                        flags.join(", ")
                    );
                }
                let pending = list.iter().filter(|c| c.pending_sync).count();
                let _ = writeln!(out, "{} case(s), {pending} not synced", list.len());
                out
            })
        }
        CaseCommand::History { opts, case, field } => {
            let store = open(&opts, Need::Read)?;
            let history = store.history(&case, field.as_deref())?;
            emit(opts.json, &history, || history_text(&history))
        }
        CaseCommand::Status {
            opts,
            case,
            target,
            reason,
            meaning,
            lang,
            keep_hidden,
            clear_hidden,
        } => {
            let hidden = match (keep_hidden, clear_hidden) {
                (true, _) => Some(HiddenValues::Keep),
                (false, Some(reason)) => Some(HiddenValues::Clear(reason)),
                (false, None) => None,
            };
            if hidden.is_some() && !matches!(target, Target::Complete) {
                return Err(CliError::Input(
                    "--keep-hidden and --clear-hidden apply to completing a case".into(),
                ));
            }
            let target = match target {
                Target::Complete => Status::Complete,
                Target::Signed => return sign(&opts, &case, meaning.as_deref()),
                Target::Reopen => Status::Draft,
            };
            let mut store = open(&opts, Need::Write)?;
            let done = match hidden {
                Some(choice) => store.complete(&case, choice),
                None => store.set_status(&case, target, reason.as_deref()),
            };
            let status = match done {
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
                    if let StoreError::HiddenValues(paths) = &e {
                        for p in paths {
                            notes.push(format!("  {}", place(p)));
                        }
                        notes.push(format!(
                            "wardcrf: complete again with --keep-hidden, or --clear-hidden REASON (or 'wardcrf case clear-hidden {case} --reason R')"
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
        CaseCommand::ClearHidden { opts, case, reason } => {
            session::clear_hidden(&opts, &case, reason.as_deref().unwrap_or_default())
        }
        CaseCommand::Signatures { opts, case } => {
            let store = open(&opts, Need::Read)?;
            let list = store.signatures(&case)?;
            emit(opts.json, &list, || signatures_text(&list))
        }
        CaseCommand::Delete { opts, case, reason } => {
            let mut store = open(&opts, Need::Write)?;
            store.delete_case(&case, reason.as_deref().unwrap_or_default())?;
            let out = json!({"case_id": case, "deleted": true});
            emit(opts.json, &out, || {
                format!("Deleted {case} (it can be restored with 'wardcrf case restore').\n")
            })
        }
        CaseCommand::Restore { opts, case, reason } => {
            let mut store = open(&opts, Need::Write)?;
            store.restore_case(&case, reason.as_deref().unwrap_or_default())?;
            let out = json!({"case_id": case, "deleted": false});
            emit(opts.json, &out, || format!("Restored {case}.\n"))
        }
        CaseCommand::Find { opts, field, value } => {
            let store = open(&opts, Need::Read)?;
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
    let mut store = open(opts, Need::Read)?;
    let view = store.case(case)?;
    let form_session = store.session(case)?;
    if opts.json {
        let mut out = serde_json::to_value(&view).unwrap_or(Json::Null);
        if let Json::Object(o) = &mut out {
            o.insert("report".into(), view.report.to_json(lang));
            session::insert_json(o, &form_session, lang);
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
    print!("{}", session::hidden_text(&form_session));
    Ok(ExitCode::SUCCESS)
}

/// Signs a complete case: the signer's password again (never a PIN) and a meaning.
fn sign(opts: &StoreOpts, case: &str, meaning: Option<&str>) -> Outcome {
    let password = staff_cmd::signing_password()?;
    let mut store = open(opts, Need::Write)?;
    let Some(meaning) = meaning else {
        let known = store.site_settings()?.signature_meanings;
        return Err(CliError::MeaningRequired(
            known.into_iter().map(|m| m.code).collect(),
        ));
    };
    let signature = store.sign(case, &password, meaning)?;
    let out = json!({"case_id": case, "status": Status::Signed, "signature": signature});
    emit(opts.json, &out, || {
        format!(
            "{case}: signed\n{}",
            signatures_text(std::slice::from_ref(&signature))
        )
    })
}

pub fn conflicts(args: ConflictsArgs) -> Outcome {
    let mut store = open(&args.opts, Need::Read)?;
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
    let mut store = open(&args.opts, Need::Write)?;
    let path = args.row.path(&args.field);
    let value = value_for(&args.value, args.unit.as_deref());
    let stored = store.resolve(
        &args.case,
        &path,
        value,
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
    let mut store = open(&args.opts, Need::Write)?;
    let from_pass = Passphrase::new(env_secret(FROM_PASSPHRASE_VAR)?);
    let mut other = CaseStore::open(&args.from, &from_pass).map_err(|e| CliError::OtherStore {
        dir: args.from.clone(),
        source: e,
    })?;
    staff_cmd::unlock_other(&mut other, &args.opts.who)?;
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
