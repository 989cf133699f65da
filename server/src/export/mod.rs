//! Exports of the repository's cases for data managers: CSV (a ZIP of one file for the cases
//! and one per repeating group), CDISC ODM 1.3.2 XML (metadata, clinical data and the audit
//! trail) and HL7 FHIR R4 JSON (a Bundle of a Questionnaire, a QuestionnaireResponse per case
//! and Observations for vital signs and lab values).
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
//! - every field the form marks `identifying` is left out: its column, item or question, its
//!   values, its audit records and the conditions that name it; so is the study's subject
//!   pseudonym (`case_id`, CDASH SUBJID), the same in every export, which would link them;
//! - the age at admission (the form's `age` source: `age_years`) is computed in whole years
//!   from the date of birth and the admission date when both are full dates, and replaces the
//!   age entered; the date of birth itself is identifying and left out;
//! - case ids, row ids, user names and device ids become keyed pseudonyms for the recipient
//!   ([`pseudonym`]): stable for that recipient, unlinkable across recipients;
//! - ODM audit records keep who (pseudonym), where (device pseudonym) and when, but not the
//!   free-text reasons (they may name the patient) nor the change hashes (the same in every
//!   export, so they would link the recipients' files); file names say `research`.
//!
//! Free-text fields the form does not mark identifying (e.g. a lineage or an organism) are
//! exported as entered.
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

mod csv;
mod fhir;
mod odm;
pub mod pseudonym;

use crate::repository::{CaseQuery, ProjectionRow, RepoError, Repository};
use pseudonym::PseudonymKey;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use wardcrf_core::case::{Parts, Signature};
use wardcrf_core::repository::{HubStorage, case_history, case_projection};
use wardcrf_core::{Catalog, Form, FormField, HistoryEntry, Lang, PartialDate};

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

/// A research export's recipient and the key of its pseudonyms.
#[derive(Debug, Clone)]
pub struct Research {
    recipient: String,
    key: Arc<PseudonymKey>,
}

impl Research {
    /// For `recipient` (1 to 100 letters, digits, spaces, `-`, `_`, `.`, `@`; not blank),
    /// with pseudonyms under `key`.
    pub fn new(recipient: &str, key: Arc<PseudonymKey>) -> Result<Research, ExportError> {
        let ok = !recipient.trim().is_empty()
            && recipient.chars().count() <= 100
            && recipient
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '@'));
        if !ok {
            return Err(ExportError::Recipient);
        }
        Ok(Research {
            recipient: recipient.to_string(),
            key,
        })
    }

    /// The recipient's pseudonym of `id` (of `kind`: case, row, user, device).
    fn pseudonym(&self, kind: &str, id: &str) -> String {
        self.key.pseudonym(&self.recipient, kind, id)
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
    /// study's own subject pseudonym ([`is_subject_id`]) are.
    fn exported(&self, field: &FormField) -> bool {
        self.research.is_none() || !(field.def.identifying || is_subject_id(field))
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
/// research export).
struct ExportCase {
    row: ProjectionRow,
    values: Map<String, Value>,
}

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
            }
            Err(e) => {
                quarantine_found(storage, case_id, &e, "an export");
                return skip(&damaged_reason(&e));
            }
        }
    }
    let mut case = ExportCase { row, values };
    if options.research.is_some() {
        deidentify(form, &mut case);
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

/// Removes the identifying fields from a case's values (case-level and in every row) after
/// computing the age at admission from the date of birth.
fn deidentify(form: &Form, case: &mut ExportCase) {
    if let Some(age) = &form.definition().age
        && let (Some(birth), Some(reference)) = (&age.birth_date_field, &age.reference_date_field)
        && let Some(years) = age_in_years(
            case.values.get(birth.as_str()),
            case.values.get(reference.as_str()),
        )
    {
        case.values
            .insert(age.years_field.clone(), Value::from(years));
    }
    for f in form
        .fields()
        .iter()
        .filter(|f| f.def.identifying || is_subject_id(f))
    {
        match &f.group {
            None => {
                case.values.remove(f.id());
            }
            Some(group) => {
                if let Some(rows) = case.values.get_mut(group).and_then(Value::as_array_mut) {
                    for row in rows.iter_mut().filter_map(Value::as_object_mut) {
                        row.remove(f.id());
                    }
                }
            }
        }
    }
}

/// The field holding the subject's study pseudonym (CDASH `SUBJID`: iCROWN's REBIND ID, the NUM
/// trust centre's pseudonym). It is the same in every export, so in research exports it would
/// link two recipients' files: they get the per-recipient case pseudonym instead.
fn is_subject_id(field: &FormField) -> bool {
    field.def.codes.cdash.as_deref() == Some("SUBJID")
}

/// Whole years from a birth date to a later reference date (both full dates), else `None`.
fn age_in_years(birth: Option<&Value>, reference: Option<&Value>) -> Option<i64> {
    let date = |v: Option<&Value>| {
        v.map(plain)
            .and_then(Value::as_str)
            .and_then(|s| PartialDate::parse(s).ok())
            .filter(PartialDate::is_full)
    };
    let (b, r) = (date(birth)?, date(reference)?);
    let md = |d: &PartialDate| (d.month.unwrap_or(1), d.day.unwrap_or(1));
    let years = i64::from(r.year) - i64::from(b.year) - i64::from(md(&r) < md(&b));
    (years >= 0).then_some(years)
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
    fn age_is_whole_years_at_the_reference_date() {
        let age = |b: &str, r: &str| age_in_years(Some(&json!(b)), Some(&json!(r)));
        assert_eq!(age("1980-06-15", "2024-06-14"), Some(43));
        assert_eq!(age("1980-06-15", "2024-06-15"), Some(44));
        assert_eq!(age("2000-02-29", "2023-02-28"), Some(22));
        assert_eq!(age("2000-02-29", "2023-03-01"), Some(23));
        assert_eq!(age("2024-05-01", "2024-03-01"), None);
        assert_eq!(age("1980-06", "2024-06-15"), None);
        assert_eq!(age_in_years(None, Some(&json!("2024-06-15"))), None);
    }

    #[test]
    fn recipients_are_names_not_arbitrary_text() {
        let key = Arc::new(PseudonymKey::from_bytes(&[1; 32]));
        assert!(Research::new("JIHS-NUM study 2027", key.clone()).is_ok());
        assert!(Research::new("Charité Berlin", key.clone()).is_ok());
        for bad in ["", "   ", "a/b", "x\ny", &"r".repeat(101)] {
            assert!(
                matches!(Research::new(bad, key.clone()), Err(ExportError::Recipient)),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_export_form_holds_every_bundled_module() {
        let catalog = Catalog::bundled().unwrap();
        let form = export_form(&catalog).unwrap();
        assert_eq!(form.form_id(), "icrown-core");
        assert_eq!(form.parts().len(), catalog.definitions().len());
    }
}
