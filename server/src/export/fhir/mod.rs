//! The HL7 FHIR R4 (4.0.1) export: one Bundle of type `collection`, in JSON, written case by
//! case (the list of case ids and one case are in memory at a time, never every case).
//!
//! - The first entry is a **Questionnaire** for the export form (url
//!   `urn:wardcrf:questionnaire:<form>`, the core form's version): one `group` item per section
//!   (linkId `section:<id>`), in it one item per field (linkId = the field id) and one repeating
//!   `group` item per repeating group (linkId = the group id) holding the group's fields.
//!   Types: text → string (with maxLength), integer → integer, decimal → decimal, date → date
//!   (partial dates are FHIR dates too), datetime → dateTime, boolean → boolean, choice →
//!   choice with an answerOption per code (a Coding of system `urn:wardcrf:codes:<field>`),
//!   multichoice → choice with `repeats`. Required fields are `required`; the field's standard
//!   codes (LOINC, SNOMED CT, ICD-10, ICD-10-GM, ATC: [`wardcrf_core::CodeSystem::fhir_uri`])
//!   are the item's `code`; a UCUM unit is the `questionnaire-unit` extension. Texts are in
//!   English with the ja and de translations in the `translation` extension on `_text` (and on
//!   each answer option's `_display`).
//! - Codes of choices: an answerOption's `valueCoding` holds one Coding, and an answer must be
//!   one of the options, so the answer option stays the form's own code (system
//!   `urn:wardcrf:codes:<field>`: what the tablet stored, including choices no standard code
//!   covers). The choice's standard codes (a pathogen's SNOMED CT organism, a diagnosis's
//!   ICD-10 and ICD-10-GM codes, a drug's ATC code) are extensions [`CHOICE_CODING_EXTENSION`]
//!   on that Coding, one `valueCoding` each, in the Questionnaire and in every answer; where
//!   FHIR takes several codings (a CodeableConcept: the `code` of Observations and Conditions,
//!   an Observation's value and method) the form's coding comes first and the standard
//!   codings follow it. A choice the form gives no code is exported by its own code and label
//!   only; nothing is inferred from a choice's code (a `med_name` code that looks like an ATC
//!   code has an ATC coding only when the choice carries `codes.atc`).
//! - Skip logic: every item with a `show_if` keeps its expression in the extension
//!   [`SHOW_IF_EXTENSION`], and gets `enableWhen` where FHIR can say the same thing: a single
//!   test of a field against a literal (`=`, `!=`, `<`, `<=`, `>`, `>=`; `in (..)`; `not in
//!   (..)`; `contains`; `is empty`, `is not empty` as `exists`), or several such tests all
//!   joined by `and` (enableBehavior `all`) or all by `or` (`any`). Not expressible, so the item
//!   stays enabled and only the extension carries the condition: a mix of `and` and `or`,
//!   parentheses, `not (..)`, a comparison with another field or with `today`, an `in` list
//!   under `and` or a `not in` list under `or` (that would need nested logic), a literal that
//!   does not fit the question's type. Conditions of a section or a group are on its group item.
//! - A **QuestionnaireResponse** per case (id and identifier: the case id; `status`
//!   in-progress for a draft, completed once complete or signed; `authored` the repository's
//!   last update; the site in the extension [`SITE_EXTENSION`]) with the answered items in the
//!   Questionnaire's structure; each row of a repeating group is one repetition of the group
//!   item, whose element `id` is the row id. A stored value that does not fit its item (a code
//!   not in the list, text where a number belongs: data the devices synced despite the form)
//!   is left out of the response and the server logs the case and field (never the value).
//!   A date-time without a UTC offset cannot be a FHIR dateTime with a time: it is given as its
//!   date, with the value as entered in the `originalText` extension.
//! - An **Observation** per vital sign (a numeric field with a LOINC code and a UCUM unit in the
//!   section `vitals`; category `vital-signs`) and per lab value (the same, in the repeating
//!   group `labs`; category `laboratory`): `code` LOINC, `valueQuantity` in UCUM (system
//!   `http://unitsofmeasure.org`), `effectiveDateTime` the section's or row's date-time field,
//!   `status` preliminary for a draft case and final otherwise, `derivedFrom` its
//!   QuestionnaireResponse. Blood pressure is two Observations (systolic, diastolic), not the
//!   85354-9 panel. Observations have no `subject`: the export holds no Patient.
//! - An **Observation** per pathogen test (a row of the repeating group `pathogen_tests` naming
//!   a pathogen of the list; category `laboratory`). The form has no LOINC code per pathogen
//!   and method (one LOINC for every pathogen was the bug this replaces: SARS-CoV-2's 94500-6
//!   on an influenza test), so the test is named by what it looked for: `code` holds the
//!   form's coding of the pathogen tested and, when the form gives one, the SNOMED CT concept
//!   of the organism (an influenza A test 407479009, an mpox test 59774002, never one code for
//!   all), with the text `Pathogen tested: <label>`; `valueCodeableConcept` is the result
//!   (detected, not detected, equivocal, unknown: the form's coding and any standard code of
//!   the choice), or `dataAbsentReason` unknown without one; `method` the test method;
//!   `effectiveDateTime` the specimen's collection date; a `component` holds the Ct value in
//!   UCUM `{Ct}`. A LOINC test code per pathogen and method would be the better `code` once
//!   the form gives them; the specimen type stays in the response (no Specimen resource).
//! - A **Condition** per answer of a case-level diagnosis field (a choice field whose choices
//!   carry ICD-10 or ICD-10-GM codes: `final_diagnosis`): `code` the form's coding, then the
//!   ICD-10 (`http://hl7.org/fhir/sid/icd-10`) and ICD-10-GM
//!   (`http://fhir.de/CodeSystem/bfarm/icd-10-gm`) codings, text the label; category
//!   `encounter-diagnosis`, verification `confirmed`; `subject` the case's patient by
//!   identifier (the system and value of the response's identifier: R4 requires a subject and
//!   the export holds no Patient); `evidence` the case's QuestionnaireResponse. A choice without
//!   codes (`other`) has the form's coding only, and the text of `<field>_other` as a `note`
//!   when the export holds that field (it is quasi-identifying: not in research exports by
//!   default).
//! - A **Provenance** per electronic signature of a case (see `provenances`).
//!
//! Entries have `urn:uuid:` fullUrls derived from a SHA-256 of what they are (stable between
//! exports of the same data).
//!
//! A research export has no item for an identifying field, nor for a quasi-identifying one
//! unless asked (nor an enableWhen naming one), the recipient's case pseudonym as the
//! response's id and identifier (system `urn:wardcrf:research-pseudonym`) and the Conditions'
//! subject, row pseudonyms as the rows' ids, and fullUrls and resource ids derived from the
//! pseudonyms. Its age item (`age_years`) is a `string` of at most 3 characters answered with
//! `valueString` (`62`, `90+`: the age top-coded), without the unit extension; a condition
//! comparing the age with a number keeps only its expression extension. With date shift, the
//! dates of a case's answers, `authored`, `effectiveDateTime` and the Provenance times move by
//! the case's offset (see [`super`]); the Bundle's timestamp is the export's own time.

mod findings;
mod questionnaire;
mod response;
mod skip_logic;
#[cfg(test)]
mod tests;

use findings::{conditions, pathogen_observations};
use questionnaire::{Entry, Layout, coding, loinc_code, questionnaire, standard_codings};
use response::{fhir_date, observations, response};
use skip_logic::skip_logic;

use super::{ExportCase, ExportError, ExportOptions, case_ids, load_case};
use crate::repository::Repository;
use serde_json::Value;
use std::io::Write;
use wardcrf_core::repository::HubStorage;
use wardcrf_core::{Form, Timestamp};

/// UCUM, the code system of units.
const UCUM: &str = "http://unitsofmeasure.org";
/// Translations of a string element (FHIR core extension).
const TRANSLATION: &str = "http://hl7.org/fhir/StructureDefinition/translation";
/// The unit of a numeric question (FHIR core extension).
const UNIT_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit";
/// A value as it was entered (FHIR core extension).
const ORIGINAL_TEXT: &str = "http://hl7.org/fhir/StructureDefinition/originalText";
/// An item's skip-logic expression in WardCRF's expression language, as the form states it.
pub const SHOW_IF_EXTENSION: &str = "urn:wardcrf:fhir:StructureDefinition:show-if";
/// The site a QuestionnaireResponse comes from.
pub const SITE_EXTENSION: &str = "urn:wardcrf:fhir:StructureDefinition:site";
/// Observation categories.
const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
/// The section whose numeric LOINC fields become vital-sign Observations.
const VITALS_SECTION: &str = "vitals";
/// The repeating group whose numeric LOINC fields become laboratory Observations.
const LABS_GROUP: &str = "labs";

/// The code system of a choice field's codes.
/// The identifier system of staff ids (signers).
pub const STAFF_SYSTEM: &str = "urn:wardcrf:staff";
/// The extension saying that a later edit superseded a signature.
pub const SUPERSEDED_EXTENSION: &str = "urn:wardcrf:fhir:signature-superseded";

/// The identifier system of a case: its id, or (research) the recipient's pseudonym of it.
fn case_system(options: &ExportOptions) -> &'static str {
    if options.research.is_some() {
        "urn:wardcrf:research-pseudonym"
    } else {
        "urn:wardcrf:case"
    }
}

/// The extension on a choice's Coding (answer options, answers) carrying one standard coding
/// of the choice (a pathogen's SNOMED CT organism, a diagnosis's ICD-10 and ICD-10-GM codes):
/// a Coding holds one code, and the answer must stay the form's own code.
pub const CHOICE_CODING_EXTENSION: &str = "urn:wardcrf:fhir:StructureDefinition:choice-coding";

pub fn code_system(field: &str) -> String {
    format!("urn:wardcrf:codes:{field}")
}

/// The linkId of a section's group item.
pub fn section_link_id(section: &str) -> String {
    format!("section:{section}")
}

/// Writes the Bundle to `out`.
pub(super) fn write<S, W>(
    storage: &mut S,
    form: &Form,
    options: &ExportOptions,
    mut out: W,
) -> Result<W, ExportError>
where
    S: Repository + HubStorage,
    W: Write,
{
    let layout = Layout::new(form, options);
    let questionnaire = questionnaire(form, &layout, options);
    let canonical = format!("{}|{}", questionnaire_url(form), form.definition().version);
    writeln!(
        out,
        "{{\"resourceType\":\"Bundle\",\"id\":\"wardcrf-export-{}\",\"type\":\"collection\",\"timestamp\":\"{}\",\"entry\":[",
        options.now,
        Timestamp::from_unsigned(options.now).iso_datetime()
    )?;
    entry(
        &mut out,
        &uuid_urn(&["questionnaire", form.form_id()]),
        &questionnaire,
        true,
    )?;
    for case_id in case_ids(storage, options.site.as_deref())? {
        let Some((case, _)) = load_case(storage, &case_id, form, options, false)? else {
            continue;
        };
        let case_key = options.case_key(&case.row.case_id);
        let response_url = uuid_urn(&["response", &case_key]);
        let response = response(&layout, &canonical, &case, &case_key, options);
        entry(&mut out, &response_url, &response, false)?;
        let resources = observations(form, &case, &case_key, &response_url, options)
            .into_iter()
            .chain(pathogen_observations(
                form,
                &case,
                &case_key,
                &response_url,
                options,
            ))
            .chain(conditions(form, &case, &case_key, &response_url, options))
            .chain(provenances(
                storage,
                &case,
                &case_key,
                &response_url,
                options,
            )?);
        for (url, resource) in resources {
            entry(&mut out, &url, &resource, false)?;
        }
    }
    out.write_all(b"]}\n")?;
    out.flush()?;
    Ok(out)
}

/// A **Provenance** per electronic signature of a case: its target the case's
/// QuestionnaireResponse, `recorded` and `signature.when` the time of signing, the signer as
/// agent and `signature.who` (staff id as identifier, printed name as display; the recipient's
/// pseudonym and no name in a research export), the signature type from ISO/ASTM E1762 (author,
/// or verification for any other meaning, with the meaning's label), and the extension
/// [`SUPERSEDED_EXTENSION`] when a later edit superseded it.
fn provenances<S: Repository + HubStorage>(
    storage: &mut S,
    case: &ExportCase,
    case_key: &str,
    response_url: &str,
    options: &ExportOptions,
) -> Result<Vec<(String, Value)>, ExportError> {
    let Some(stored) = storage
        .case(&case.row.case_id)
        .map_err(|e| ExportError::Storage(e.to_string()))?
    else {
        return Ok(Vec::new());
    };
    // A document that does not read has no signatures to show (load_case, which read it
    // first, quarantined it).
    let signatures = super::read_signatures(&stored.doc).unwrap_or_default();
    Ok(signatures
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let n = i.to_string();
            let id = uuid(&["provenance", case_key, &n]);
            let when = Timestamp::from_unix_seconds(case.time(s.time)).iso_datetime();
            let mut who = serde_json::json!({
                "identifier": {"system": STAFF_SYSTEM, "value": options.user_key(&s.signer.id)}
            });
            if options.research.is_none() {
                who["display"] = Value::from(s.signer.name.clone());
            }
            let (code, display) = if s.meaning == "author" {
                ("1.2.840.10065.1.12.1.1", "Author's Signature")
            } else {
                ("1.2.840.10065.1.12.1.5", "Verification Signature")
            };
            let mut provenance = serde_json::json!({
                "resourceType": "Provenance",
                "id": id,
                "target": [{"reference": response_url}],
                "recorded": when,
                "agent": [{
                    "type": {"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "code": "author"
                    }]},
                    "who": who.clone()
                }],
                "signature": [{
                    "type": [{
                        "system": "urn:iso-astm:E1762-95:2013",
                        "code": code,
                        "display": format!("{display}: {}", s.meaning_en)
                    }],
                    "when": when,
                    "who": who
                }]
            });
            if s.superseded {
                provenance["extension"] =
                    serde_json::json!([{"url": SUPERSEDED_EXTENSION, "valueBoolean": true}]);
            }
            (format!("urn:uuid:{id}"), provenance)
        })
        .collect())
}

fn entry<W: Write>(
    out: &mut W,
    url: &str,
    resource: &Value,
    first: bool,
) -> Result<(), ExportError> {
    if !first {
        out.write_all(b",\n")?;
    }
    write!(out, "{{\"fullUrl\":\"{url}\",\"resource\":")?;
    serde_json::to_writer(&mut *out, resource).map_err(std::io::Error::from)?;
    out.write_all(b"}")?;
    Ok(())
}

/// `urn:uuid:` with a UUID (version 8: custom) from the SHA-256 of `parts`.
fn uuid_urn(parts: &[&str]) -> String {
    format!("urn:uuid:{}", uuid(parts))
}

fn uuid(parts: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"wardcrf-fhir-export-v1");
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    let digest = ctx.finish();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A FHIR `id`: 1–64 of letters, digits, `-` and `.`.
fn is_fhir_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn questionnaire_url(form: &Form) -> String {
    format!("urn:wardcrf:questionnaire:{}", form.form_id())
}

/// A computable name (`[A-Z][A-Za-z0-9_]*`) from a form id: `icrown-core` → `IcrownCore`.
fn computable_name(form_id: &str) -> String {
    let mut name: String = form_id
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        name.insert_str(0, "Form");
    }
    name
}
