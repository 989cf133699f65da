//! The command-line arguments of the store commands, and the environment variables that carry
//! their passphrases.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use wardcrf_core::{FieldPath, Lang, Status};

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
    pub(super) store: PathBuf,
    /// Who acts: every change is recorded under this signed-in staff member.
    #[command(flatten)]
    pub(crate) who: crate::staff_cmd::SignInOpts,
    /// Machine-readable output: JSON on stdout.
    #[arg(long)]
    pub(super) json: bool,
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
    pub(super) group: Option<String>,
    /// The row id (from `case row-add` or `case show`).
    #[arg(long, value_name = "ROW_ID", requires = "group")]
    pub(super) row: Option<String>,
}

impl RowOpts {
    pub(super) fn path(&self, field: &str) -> FieldPath {
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
    /// Show a case: values, status, open conflicts, its validation report, and values left in
    /// fields the answers hide (with --json also the form session: the sections and fields the
    /// answers show, with their states).
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
    /// Mark a case complete, sign it (the signer's password again, from
    /// $WARDCRF_USER_PASSWORD, and --meaning), or reopen it as a draft.
    Status {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        target: Target,
        #[arg(long)]
        reason: Option<String>,
        /// What a signature means (a code of the site's signature meanings, e.g. author).
        #[arg(long, value_name = "MEANING")]
        meaning: Option<String>,
        /// Language of the remaining problems listed when the case is not complete.
        #[arg(long, default_value = "en")]
        lang: Lang,
        /// Completing: keep the values left in fields the other answers now hide.
        #[arg(long, conflicts_with = "clear_hidden")]
        keep_hidden: bool,
        /// Completing: clear the values left in hidden fields first, with this reason.
        #[arg(long, value_name = "REASON")]
        clear_hidden: Option<String>,
    },
    /// Clear the values left in fields the other answers now hide (one change, with a reason).
    ClearHidden {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// The signatures of a case: signer, time, meaning, and whether a later edit superseded it.
    Signatures {
        #[command(flatten)]
        opts: StoreOpts,
        /// The case id (from `case new` or `case list`).
        case: String,
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
    pub(super) opts: StoreOpts,
    /// Only this case.
    #[arg(long = "case", value_name = "CASE")]
    pub(super) case_id: Option<String>,
}

/// `wardcrf resolve`
#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub(super) opts: StoreOpts,
    /// The case id (from `case new` or `case list`).
    pub(super) case: String,
    /// The field id (as in `wardcrf forms show`).
    pub(super) field: String,
    /// The value to keep: a candidate's or a new one (JSON if it parses, else plain text).
    #[arg(long)]
    pub(super) value: String,
    /// The unit the value was entered in (UCUM).
    #[arg(long)]
    pub(super) unit: Option<String>,
    #[arg(long)]
    pub(super) reason: Option<String>,
    #[command(flatten)]
    pub(super) row: RowOpts,
}

/// `wardcrf merge`
#[derive(Debug, Args)]
pub struct MergeArgs {
    #[command(flatten)]
    pub(super) opts: StoreOpts,
    /// The other store (passphrase from $WARDCRF_FROM_PASSPHRASE).
    #[arg(long, value_name = "OTHER_DIR")]
    pub(super) from: PathBuf,
}
