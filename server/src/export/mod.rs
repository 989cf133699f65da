//! Exports of the repository's cases for data managers: CSV (a ZIP of one file for the cases
//! and one per repeating group), CDISC ODM 1.3.2 XML (metadata, clinical data and the audit
//! trail) and HL7 FHIR R4 JSON (a Bundle of a Questionnaire, a QuestionnaireResponse per case,
//! Observations for vital signs, lab values and pathogen tests, and Conditions for coded
//! diagnoses).
//!
//! Every format reads what the repository stores: the projection rows (current values, status) and,
//! for ODM's audit records, each case's merged document through
//! [`wardcrf_core::repository::case_history`]. Cases are read and written one at a time into an
//! [`std::io::Write`]: an export holds the list of case ids and one case, never every case.
//! Parts that a format needs before what they are made from (the group files of the ZIP,
//! ODM's AdminData listing every user and device) are spooled to anonymous temporary files.
//!
//! The forms: every case is exported against the bundled core form composed with every
//! bundled module (field ids are unique across modules, so this one form has a column or an
//! item for every field any case can hold). Deleted cases are left out. Values are never
//! logged.
//!
//! Research exports ([`ExportOptions::research`], [`Research`]) are de-identified for one
//! named recipient, in every format alike:
//! - only the cases whose consent covers the uses the export states it needs
//!   ([`Research::with_purposes`]; secondary use is always implied) are exported: consent
//!   obtained, not withdrawn, and a consent scope naming every use; or an ethics-committee
//!   waiver when the export needs secondary use only. The rule and why a waiver covers no more
//!   are in [`consent`] ([`consent::consent_covers`], one function). Every other case (no
//!   consent, unknown, no answer, withdrawn, a use not consented to) is left out of the file
//!   whole: its rows, its audit trail, its site and users in ODM's AdminData, its resources;
//! - every field the form marks `identifying` is left out: its column, item or question, its
//!   values, its audit records and the conditions that name it; so is the study's subject
//!   pseudonym (`case_id`, CDASH SUBJID), the same in every export, which would link them;
//! - so is every field the form marks `quasi_identifying` (free text such as
//!   `final_diagnosis_other`, a place), unless the export asks for them
//!   ([`Research::with_quasi_identifiers`]);
//! - the age at admission (the form's `age` source: `age_years`) is computed in whole years
//!   from the date of birth and the admission date when both are full dates, and replaces the
//!   age entered; the date of birth itself is identifying and left out. Ages are top-coded:
//!   from 90 years on the age is `90+` ([`TOP_CODED_AGE`]), in the current values and in the
//!   audit trail, so every research export holds the age as text: a CSV cell `62` or `90+`;
//!   in ODM an ItemDef of DataType `text` (Length 3, without the range checks of the number);
//!   in FHIR a Questionnaire item of type `string` (maxLength 3) answered with `valueString`
//!   (a condition comparing the age with a number keeps only its expression extension). Text
//!   says what is known, where an integer 90 with an extension would be read as 90 by anyone
//!   who ignores the extension;
//! - with date shift ([`Research::with_date_shift`]) every date and date-time of a case moves
//!   by the same number of days, so intervals within the case survive: its fields and rows,
//!   the times of its audit records and signatures (ODM AuditRecord and Signature
//!   DateTimeStamps), FHIR `authored`, `effectiveDateTime` and Provenance `recorded` and
//!   `signature.when`. The number of days is the case's offset for the recipient
//!   ([`pseudonym::PseudonymKey::day_offset`]: −180 to +180, never 0, from the keyed HMAC of
//!   the recipient and the case id), different between cases and between recipients and
//!   never written in the file. A date-time keeps its time of day and UTC offset. A partial
//!   date (a year, a year and month) cannot move by an exact number of days, and moving it by
//!   whole months would leak the offset's size or break intervals, so it is left out (with its
//!   audit records), as is a stored date that is no date. The export's own time (ODM
//!   CreationDateTime and FileOID, the Bundle's id and timestamp, the EffectiveDate of
//!   AdminData's locations) is not a date of a case and stays. Dates written inside free text
//!   are not found: such fields should be marked `quasi_identifying`;
//! - case ids, row ids, user names and device ids become keyed pseudonyms for the recipient
//!   ([`pseudonym`]): stable for that recipient, unlinkable across recipients;
//! - ODM audit records keep who (pseudonym), where (device pseudonym) and when, but not the
//!   free-text reasons (they may name the patient) nor the change hashes (the same in every
//!   export, so they would link the recipients' files); file names say `research`.
//!
//! Free-text fields the form marks neither identifying nor quasi-identifying (e.g. a lineage
//! or an organism) are exported as entered.
//!
//! Exports that are not research exports (data managers at the repository) hold every case,
//! every field and the dates as entered.
//!
//! Standard codes: the codes the form gives fields and choices (LOINC, SNOMED CT, ICD-10,
//! ICD-10-GM, ATC; [`wardcrf_core::CodeSystem`]) are in ODM as an `Alias` per code (`Context`
//! LOINC, SNOMED-CT, ICD-10, ICD-10-GM, ATC; then CDASH) on the ItemDef and on each
//! CodeListItem, and in FHIR as codings with each system's canonical URI (see the FHIR module).
//! A choice's own codes are the only source: a choice without codes is exported by its code
//! and label only.
//!
//! An export never shows a stale projection: a case whose projection is older than its
//! stored document (pushed after the projection queue was drained for the export) is exported
//! with its current values, status and form read from the document itself.
//!
//! A case whose stored document cannot be read (a disk fault, a document stored by an older
//! version that the strict load refuses) or whose projection is not readable is left out of
//! every format: the export goes on with the other cases and stays valid, and the server log
//! names the case and the reason (never a value). [`document_damage`] and [`damaged_cases`]
//! say which cases are damaged, for the exports, the console and the API alike.

pub mod consent;
mod csv;
mod fhir;
mod odm;
pub mod pseudonym;
mod research;

pub use consent::Purpose;
pub use research::{Research, TOP_CODED_AGE};
use research::{deidentify, deidentify_history, is_age_field, is_subject_id};

use crate::repository::{CaseQuery, ProjectionRow, RepoError, Repository};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use wardcrf_core::case::{Parts, Signature};
use wardcrf_core::repository::{HubStorage, case_history, case_projection};
use wardcrf_core::{Catalog, Form, FormField, HistoryEntry, Lang};

/// Why an export failed. Messages name cases and steps, never values.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("the repository storage failed: {0}")]
    Storage(String),
    #[error("the bundled forms could not be composed for export: {0}")]
    Forms(String),
    #[error("case {case_id} could not be read: {reason}")]
    Case { case_id: String, reason: String },
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the ZIP archive failed: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing a CSV file failed: {0}")]
    Csv(#[from] ::csv::Error),
    #[error(
        "the recipient of a research export must be 1 to 100 letters, digits, spaces, '-', '_', '.' or '@'"
    )]
    Recipient,
    #[error("no pseudonym key: {0}")]
    Key(#[from] crate::secret::RandomError),
}

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A ZIP: `cases.csv` and `<group>.csv` per repeating group.
    Csv,
    /// CDISC ODM 1.3.2 XML.
    Odm,
    /// HL7 FHIR R4 JSON: a Bundle (collection).
    Fhir,
}

impl Format {
    /// The format named in a URL or on the command line (`csv`, `odm`, `fhir`).
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "csv" => Some(Format::Csv),
            "odm" => Some(Format::Odm),
            "fhir" => Some(Format::Fhir),
            _ => None,
        }
    }

    /// The media type of the export.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Csv => "application/zip",
            Format::Odm => "application/xml",
            Format::Fhir => "application/fhir+json",
        }
    }

    /// The file name offered for the export (`wardcrf-export.zip`, `wardcrf-export.odm.xml`,
    /// `wardcrf-export.fhir.json`; `wardcrf-research-export.*` for a research export).
    pub fn file_name(self, research: bool) -> &'static str {
        match (self, research) {
            (Format::Csv, false) => "wardcrf-export.zip",
            (Format::Odm, false) => "wardcrf-export.odm.xml",
            (Format::Fhir, false) => "wardcrf-export.fhir.json",
            (Format::Csv, true) => "wardcrf-research-export.zip",
            (Format::Odm, true) => "wardcrf-research-export.odm.xml",
            (Format::Fhir, true) => "wardcrf-research-export.fhir.json",
        }
    }
}

/// What to export and how.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only this site's cases (all sites when `None`).
    pub site: Option<String>,
    /// CSV: add `<field>_label` columns with choice labels in this language.
    pub lang: Option<Lang>,
    /// The export's time (unix seconds): ODM's CreationDateTime and FileOID.
    pub now: u64,
    /// A research export: de-identified for this recipient (see the module docs).
    pub research: Option<Research>,
}

impl ExportOptions {
    /// Whether `field` is exported: in a research export, neither identifying fields nor the
    /// study's own subject pseudonym ([`is_subject_id`]) are, nor quasi-identifying fields
    /// unless the export asks for them.
    fn exported(&self, field: &FormField) -> bool {
        match &self.research {
            None => true,
            Some(r) => {
                !(field.def.identifying
                    || is_subject_id(field)
                    || (field.def.quasi_identifying && !r.quasi_identifiers))
            }
        }
    }

    /// Whether `field` is the form's age in years and the export top-codes it (a research
    /// export): its values are text then (`62`, `90+`), in every format.
    fn top_codes(&self, form: &Form, field: &FormField) -> bool {
        self.research.is_some() && is_age_field(form, field)
    }

    /// How a case is named in the export: its id, or the recipient's pseudonym of it.
    fn case_key(&self, case_id: &str) -> String {
        self.key("case", case_id)
    }

    /// How a row is named: its id, or the recipient's pseudonym of it.
    fn row_key(&self, row_id: &str) -> String {
        self.key("row", row_id)
    }

    /// How a user is named in audit records.
    fn user_key(&self, user: &str) -> String {
        self.key("user", user)
    }

    /// How a device is named in audit records.
    fn device_key(&self, device: &str) -> String {
        self.key("device", device)
    }

    fn key(&self, kind: &str, id: &str) -> String {
        match &self.research {
            Some(r) if !id.is_empty() => r.pseudonym(kind, id),
            _ => id.to_string(),
        }
    }
}

/// Writes the export of `format` to `out`.
pub fn export<S, W>(
    format: Format,
    storage: &mut S,
    catalog: &Catalog,
    options: &ExportOptions,
    out: W,
) -> Result<W, ExportError>
where
    S: Repository + HubStorage,
    W: Write,
{
    let form = export_form(catalog)?;
    match format {
        Format::Csv => csv::write(storage, &form, options, out),
        Format::Odm => odm::write(storage, &form, options, out),
        Format::Fhir => fhir::write(storage, &form, options, out),
    }
}

/// The form every case is exported against: the first core form of the catalog composed with
/// every module that extends it.
pub fn export_form(catalog: &Catalog) -> Result<Form, ExportError> {
    let core = catalog
        .definitions()
        .iter()
        .find(|d| d.extends.is_none())
        .ok_or_else(|| ExportError::Forms("no core form".into()))?;
    let modules: Vec<&str> = catalog
        .definitions()
        .iter()
        .filter(|d| d.extends.as_deref() == Some(core.form_id.as_str()))
        .map(|d| d.form_id.as_str())
        .collect();
    catalog
        .form(&core.form_id, &modules)
        .map_err(|e| ExportError::Forms(e.to_string()))
}

/// The ids of the cases to export (not deleted; of the chosen site), by site then case id.
fn case_ids<S: Repository>(storage: &mut S, site: Option<&str>) -> Result<Vec<String>, RepoError> {
    let query = CaseQuery {
        site_id: site.map(str::to_string),
        ..CaseQuery::default()
    };
    Ok(storage
        .projections(&query)?
        .into_iter()
        .filter(|c| !c.deleted)
        .map(|c| c.case_id)
        .collect())
}

/// One case as exported: its projection row and its current values (de-identified in a
/// research export), and the days its dates and times moved by (0 unless a research export
/// shifts dates).
struct ExportCase {
    row: ProjectionRow,
    values: Map<String, Value>,
    days: i64,
}

impl ExportCase {
    /// A time of this case (unix seconds) as the export shows it: moved by the case's days.
    fn time(&self, unix: i64) -> i64 {
        unix.saturating_add(self.days.saturating_mul(SECONDS_PER_DAY))
    }
}

pub(super) const SECONDS_PER_DAY: i64 = 86_400;

/// Reads one case for export: its projection (values de-identified in a research export) and,
/// when `with_history`, the audit trail of its stored document. `None` when it vanished or was
/// deleted meanwhile, and when it cannot be read: then it is left out, and the log names the
/// case and why (never a value). Only a failing storage fails the export.
fn load_case<S: Repository + HubStorage>(
    storage: &mut S,
    case_id: &str,
    form: &Form,
    options: &ExportOptions,
    with_history: bool,
) -> Result<Option<(ExportCase, Vec<HistoryEntry>)>, ExportError> {
    let Some(row) = storage.projection(case_id)? else {
        return Ok(None);
    };
    if row.deleted {
        return Ok(None);
    }
    let site = row.site_id.clone();
    let skip = |reason: &str| {
        tracing::warn!(case = case_id, site = %site, reason, "export: case left out");
        Ok(None)
    };
    let Ok(Value::Object(values)) = serde_json::from_str::<Value>(&row.values) else {
        return skip("its stored values are not a JSON object");
    };
    let Some(stored) = storage
        .case(case_id)
        .map_err(|e| ExportError::Storage(e.to_string()))?
    else {
        return skip("it has a projection but no stored document");
    };
    let read = if with_history {
        read_history(&stored.doc, None)
    } else {
        document_damage(&stored.doc).map_or(Ok(Vec::new()), Err)
    };
    let history = match read {
        Ok(h) => h,
        Err(e) => {
            quarantine_found(storage, case_id, &e, "an export");
            return skip(&damaged_reason(&e));
        }
    };
    let (mut row, mut values) = (row, values);
    if stored.seq > row.projected_seq {
        // Pushed after its projection: the current values come from the document itself.
        match guarded(|| case_projection(&stored.doc).map_err(|e| e.to_string())) {
            Ok(current) => {
                if !current.form_id.is_empty() {
                    row.form_id = current.form_id;
                }
                row.status = current.status;
                row.projected_seq = stored.seq;
                if current.deleted {
                    return Ok(None);
                }
                values = current.values;
                // As the projection reads a case of an earlier form version.
                wardcrf_core::case::upgrade::as_current(form, &current.form_version, &mut values);
            }
            Err(e) => {
                quarantine_found(storage, case_id, &e, "an export");
                return skip(&damaged_reason(&e));
            }
        }
    }
    let mut history = history;
    let mut case = ExportCase {
        row,
        values,
        days: 0,
    };
    if let Some(research) = &options.research {
        if !consent::consent_covers(&case.values, research.purposes()) {
            tracing::debug!(
                case = case_id,
                site = %site,
                "research export: case left out, its consent does not cover the export"
            );
            return Ok(None);
        }
        case.days = research.day_offset(case_id);
        deidentify(form, options, &mut case);
        history = deidentify_history(form, options, case.days, history);
    }
    Ok(Some((case, history)))
}

fn damaged_reason(detail: &str) -> String {
    format!(
        "its stored document is damaged ({detail}); it is quarantined until a device of its site pushes it again"
    )
}

/// What staff and integrators are told of a case whose stored document is damaged.
pub const QUARANTINED: &str = "this case's stored document is damaged and quarantined; a device of its site will push it again";

/// The audit trail of a stored case document (entries touching `field` when given), or why
/// the document cannot be read. A panic inside the document library on damaged bytes is
/// caught and becomes that reason.
pub(crate) fn read_history(doc: &[u8], field: Option<&str>) -> Result<Vec<HistoryEntry>, String> {
    guarded(|| case_history(doc, field).map_err(|e| e.to_string()))
}

/// The electronic signatures of a stored case document (see
/// [`wardcrf_core::case::case_signatures`]); a panic of the document library is an error.
pub(crate) fn read_signatures(doc: &[u8]) -> Result<Vec<Signature>, String> {
    guarded(|| wardcrf_core::case::case_signatures(doc).map_err(|e| e.to_string()))
}

/// Why a stored case document cannot be read (loaded strictly and projected), or `None` when
/// it can. Panics of the document library are caught.
pub(crate) fn document_damage(doc: &[u8]) -> Option<String> {
    guarded(|| case_projection(doc).map(|_| ()).map_err(|e| e.to_string())).err()
}

/// Runs a read of a stored document, a panic becoming an error.
fn guarded<T>(read: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .unwrap_or_else(|_| Err("the document library failed on it".into()))
}

/// Of `case_ids`, those in quarantine (their stored document cannot be read), with the
/// reason: read from the quarantine records, not by loading documents, so a page listing
/// thousands of cases stays cheap. Err: the storage failed.
pub(crate) fn damaged_cases<'a, S: HubStorage>(
    storage: &mut S,
    case_ids: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, String> {
    let mut quarantined: BTreeMap<String, String> = storage
        .quarantined(None)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|q| (q.case_id, q.reason))
        .collect();
    let listed: std::collections::BTreeSet<&str> = case_ids.into_iter().collect();
    quarantined.retain(|id, _| listed.contains(id.as_str()));
    Ok(quarantined)
}

/// Records that the stored document of `case_id` was found damaged by `found_by` (an export,
/// a console page, the API): the case is quarantined as a sync would quarantine it (its bytes
/// kept, its site's devices asked to push it again at their next sync) and the log names it.
/// A storage failure here is only logged: the caller goes on without the case either way.
pub(crate) fn quarantine_found<S: HubStorage>(
    storage: &mut S,
    case_id: &str,
    reason: &str,
    found_by: &str,
) {
    match storage.quarantine(case_id, reason) {
        Ok(Some(q)) => tracing::warn!(
            case = %q.case_id,
            site = %q.site,
            reason = %q.reason,
            device = q.device.as_deref().unwrap_or("unknown"),
            found_by,
            "case quarantined: its stored document cannot be loaded; the site's devices are asked \
             to push it again"
        ),
        Ok(None) => {}
        Err(e) => tracing::error!(case = case_id, error = %e, "case could not be quarantined"),
    }
}

/// The value of a stored answer: `{"value": v, "unit": .., ..}` gives `v`; others are as is.
fn plain(answer: &Value) -> &Value {
    Parts::of(answer).answer
}

/// The unit a stored answer is in, when it carries one.
fn unit_of(answer: &Value) -> Option<&str> {
    Parts::of(answer).unit
}

/// Separates the codes of a multiple-choice answer in one cell or ODM value.
const CODE_SEPARATOR: &str = ";";

/// An answer as text: strings as they are, numbers in JSON notation, booleans as
/// `true`/`false`, multiple codes joined by `;`; empty for no answer.
fn answer_text(answer: &Value) -> String {
    match plain(answer) {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(CODE_SEPARATOR),
        other @ Value::Object(_) => other.to_string(),
    }
}

/// The labels of the codes of a choice answer in `lang` (joined by `; `), or `None` for a
/// field without choices.
fn answer_labels(field: &FormField, answer: &Value, lang: Lang) -> Option<String> {
    if field.choices.is_empty() {
        return None;
    }
    let label = |code: &str| {
        field
            .choice_label(code)
            .map(|t| t.get(lang).to_string())
            .unwrap_or_default()
    };
    Some(match plain(answer) {
        Value::Null => String::new(),
        Value::String(code) => label(code),
        Value::Array(codes) => codes
            .iter()
            .filter_map(Value::as_str)
            .map(label)
            .collect::<Vec<_>>()
            .join("; "),
        other => label(&other.to_string()),
    })
}

/// The rows of a repeating group in a case's values: each row's id and its fields.
fn group_rows<'a>(
    values: &'a Map<String, Value>,
    group: &str,
) -> Vec<(&'a str, &'a Map<String, Value>)> {
    values
        .get(group)
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(Value::as_object)
                .map(|row| (row.get("row_id").and_then(Value::as_str).unwrap_or(""), row))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_become_text() {
        assert_eq!(answer_text(&json!({"value": 38.5, "unit": "Cel"})), "38.5");
        assert_eq!(answer_text(&json!(["1", "3"])), "1;3");
        assert_eq!(answer_text(&json!(true)), "true");
        assert_eq!(answer_text(&json!("Yamada")), "Yamada");
        assert_eq!(answer_text(&Value::Null), "");
        assert_eq!(unit_of(&json!({"value": 38.5, "unit": "Cel"})), Some("Cel"));
    }

    #[test]
    fn the_export_form_holds_every_bundled_module() {
        let catalog = Catalog::bundled().unwrap();
        let form = export_form(&catalog).unwrap();
        assert_eq!(form.form_id(), "icrown-core");
        assert_eq!(form.parts().len(), catalog.definitions().len());
    }
}
