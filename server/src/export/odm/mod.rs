//! The CDISC ODM 1.3.2 export: one XML document (FileType `Transactional`) valid against the
//! ODM 1.3.2 schema (`server/reference/odm-1.3.2/ODM1-3-2.xsd`).
//!
//! - `Study`: GlobalVariables, BasicDefinitions (a MeasurementUnit per UCUM unit of the form)
//!   and one MetaDataVersion: Protocol → StudyEventDef `SE.CASE` → FormDef `F.<form>` →
//!   ItemGroupDef `IG.CASE` (the case's own state: `I.CASE.status` with CodeList
//!   `CL.CASE.status`, `I.CASE.deleted`), `IG.SEC.<section>` (the section's case-level fields,
//!   `Repeating="No"`) and `IG.GRP.<group>` (each repeating group, `Repeating="Yes"`) → ItemDef
//!   `I.<field>` with Description (help), Question (label) in en/ja/de, MeasurementUnitRef,
//!   RangeCheck (`SoftHard="Hard"` for hard limits, `"Soft"` for soft ones), CodeListRef and
//!   an Alias per standard code (`Context` `LOINC`, `SNOMED-CT`, `ICD-10`, `ICD-10-GM`, `ATC`)
//!   then `CDASH`; CodeList `CL.<field>` with, per choice, a CodeListItem holding its Decode
//!   en/ja/de and an Alias per standard code of the choice (ODM 1.3.2 allows Alias after
//!   Decode in a CodeListItem).
//!   DataTypes: text → text, integer → integer, decimal → float (ODM has no decimal), date →
//!   date (partialDate for fields that accept partial dates), datetime → datetime, choice →
//!   text with its CodeList, multichoice → text holding the codes joined by `;` (no
//!   CodeListRef: the value is not a single code of the list), boolean → boolean.
//! - `AdminData`: a User `USR.<name>` per user in the exported audit records (with FullName,
//!   the staff member's printed name, or `unverified: <name>` for a change made before staff
//!   signed in on devices; none in a research export), a Location `LOC.SITE.<site>` per site and
//!   `LOC.DEV.<device>` per device (the automerge actor of the device store that made a
//!   change), and a SignatureDef `SD.<meaning>` per signature meaning used.
//! - Electronic signatures: the ItemData of `I.CASE.status` that a signature set to `signed`
//!   carries, after its AuditRecord, a Signature (UserRef, LocationRef, SignatureRef to the
//!   meaning's SignatureDef, DateTimeStamp).
//! - `ClinicalData`: the case history as transactions. A SubjectData per case (SubjectKey:
//!   the case id; SiteRef its site; `TransactionType="Insert"` with the AuditRecord of the
//!   change that created the case), one StudyEventData and FormData (`Upsert`), then:
//!   - `IG.CASE`: the status `draft` at creation, then every status change, deletion and
//!     restoration, each an ItemData with its AuditRecord;
//!   - an ItemGroupData per section (`Upsert`) holding one ItemData per change of one of its
//!     fields, in history order: `Insert` (first value), `Update` (a new value, a conflict
//!     resolved), `Remove` (cleared, no Value), each with its own AuditRecord (UserRef,
//!     LocationRef the device, DateTimeStamp, ReasonForChange when one was given, SourceID the
//!     automerge change hash) and the MeasurementUnitRef of a value in the field's unit;
//!   - per row of a repeating group (ItemGroupRepeatKey: the row id): an ItemGroupData
//!     `Insert` with the AuditRecord of the change that added the row and an ItemData `Insert`
//!     per value it was added with, then the row's later changes as above; a removed row gets
//!     a second ItemGroupData `Remove` with the AuditRecord of its removal.
//!
//! Where the current value of an item is not the one its last change left (concurrent values
//! still in conflict, a value computed for a research export), an `Upsert` ItemData without
//! AuditRecord closes the item, so that applying the transactions in order gives the
//! repository's current values.
//!
//! A research export has no ItemDef, ItemRef or CodeList for an identifying field (and so no
//! ItemData of one), the recipient's pseudonyms as SubjectKey, ItemGroupRepeatKey, user and
//! device (`USR.<pseudonym>`, `LOC.DEV.<pseudonym>`), and audit records without
//! ReasonForChange (free text) and SourceID (the change hash, the same in every export). The
//! age at admission computed from the date of birth is a closing `Upsert` without audit record.
//! The age is top-coded (`90+`, in the audit trail too): its ItemDef is DataType `text`,
//! Length 3, without range checks. Quasi-identifying fields are left out like identifying
//! ones unless the export asks for them. With date shift, values and the DateTimeStamps of
//! audit records and signatures move by the case's offset; the document's CreationDateTime
//! and AdminData's EffectiveDate are the export's own time. Cases whose consent does not cover
//! the export are not in the file (nor their users, devices and sites in AdminData).
//!
//! AdminData must precede ClinicalData, but its users and devices are known only once every
//! case is read: ClinicalData is written to an anonymous temporary file first and copied
//! after the AdminData.

mod clinical;
mod metadata;
#[cfg(test)]
mod tests;
mod xml;

use clinical::{Audit, subject};
use metadata::study;
use xml::Xml;

use super::{ExportError, ExportOptions, case_ids, load_case};
use crate::repository::Repository;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use wardcrf_core::repository::HubStorage;
use wardcrf_core::{Form, FormField, HistoryEntry, Timestamp};

/// The ODM namespace (1.3.x share it).
const ODM_NS: &str = "http://www.cdisc.org/ns/odm/v1.3";
/// The one study event every case is exported under.
const STUDY_EVENT_OID: &str = "SE.CASE";
/// The item group of a case's own state (status, deletion), not a form section.
const CASE_GROUP_OID: &str = "IG.CASE";
/// The case status (draft, complete, signed).
const STATUS_OID: &str = "I.CASE.status";
const STATUS_CODES_OID: &str = "CL.CASE.status";
/// Whether the case was deleted (a deletion undone shows as `true` then `false`).
const DELETED_OID: &str = "I.CASE.deleted";

/// Writes the ODM document to `out`.
pub(super) fn write<S, W>(
    storage: &mut S,
    form: &Form,
    options: &ExportOptions,
    out: W,
) -> Result<W, ExportError>
where
    S: Repository + HubStorage,
    W: Write,
{
    let oids = Oids::new(form);
    let audit = Audit { options };

    // ClinicalData first, into a spool file, noting who and which devices appear.
    let mut seen = Seen::default();
    let spool = {
        let mut x = Xml::new(BufWriter::new(tempfile::tempfile()?), 1);
        x.open(
            "ClinicalData",
            &[("StudyOID", &oids.study), ("MetaDataVersionOID", &oids.mdv)],
        )?;
        for case_id in case_ids(storage, options.site.as_deref())? {
            let Some((case, history)) = load_case(storage, &case_id, form, options, true)? else {
                continue;
            };
            seen.sites.insert(case.row.site_id.clone());
            subject(&mut x, form, &oids, &case, &history, &audit, &mut seen)?;
        }
        x.close()?;
        x.into_inner()
            .into_inner()
            .map_err(|e| ExportError::Io(e.into_error()))?
    };

    let mut x = Xml::new(out, 0);
    x.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")?;
    let created = Timestamp::from_unsigned(options.now).iso_datetime();
    let file_oid = format!("WardCRF.export.{}", options.now);
    x.open(
        "ODM",
        &[
            ("xmlns", ODM_NS),
            ("FileType", "Transactional"),
            ("FileOID", &file_oid),
            ("CreationDateTime", &created),
            ("ODMVersion", "1.3.2"),
            ("Originator", "WardCRF repository"),
            ("SourceSystem", "WardCRF"),
            ("SourceSystemVersion", env!("CARGO_PKG_VERSION")),
        ],
    )?;
    study(&mut x, form, &oids, options)?;
    admin_data(
        &mut x,
        &oids,
        &seen,
        &Timestamp::from_unix_seconds(i64::try_from(options.now).unwrap_or(0)).iso_date(),
    )?;
    let mut spool = spool;
    spool.seek(SeekFrom::Start(0))?;
    x.copy_from(&mut spool)?;
    x.close()?;
    x.finish()
}

/// The OIDs of the study-level definitions.
struct Oids {
    study: String,
    mdv: String,
    form: String,
}

impl Oids {
    fn new(form: &Form) -> Oids {
        let def = form.definition();
        Oids {
            study: format!("ST.{}", def.form_id),
            mdv: format!("MDV.{}.{}", def.form_id, def.version),
            form: format!("F.{}", def.form_id),
        }
    }
}

fn item_oid(field: &str) -> String {
    format!("I.{field}")
}
fn section_oid(section: &str) -> String {
    format!("IG.SEC.{section}")
}
fn group_oid(group: &str) -> String {
    format!("IG.GRP.{group}")
}
fn codelist_oid(field: &str) -> String {
    format!("CL.{field}")
}
fn unit_oid(unit: &str) -> String {
    format!("MU.{unit}")
}
fn user_oid(user: &str) -> String {
    format!("USR.{user}")
}
fn signature_oid(meaning: &str) -> String {
    format!("SD.{meaning}")
}
fn device_oid(device: &str) -> String {
    format!("LOC.DEV.{device}")
}
fn site_oid(site: &str) -> String {
    format!("LOC.SITE.{site}")
}

/// Who and where appear in the exported audit records, and which sites and signature
/// meanings.
#[derive(Default)]
struct Seen {
    /// User (or their pseudonym) → whether a signed-in staff member, and the name shown
    /// (none in a research export): the printed name, or `unverified: <name>` when every
    /// change of theirs was made before staff signed in on devices.
    users: BTreeMap<String, (bool, Option<String>)>,
    devices: BTreeSet<String>,
    sites: BTreeSet<String>,
    /// Signature meaning code → its English label.
    meanings: BTreeMap<String, String>,
}

impl Seen {
    /// The user and device keys of a history entry, noted for AdminData.
    fn who(&mut self, entry: &HistoryEntry, options: &ExportOptions) -> (String, String) {
        let user = options.user_key(&entry.user);
        let device = options.device_key(&entry.device);
        let name = options.research.is_none().then(|| match &entry.user_name {
            Some(name) if entry.verified => name.clone(),
            _ => format!("unverified: {}", entry.user),
        });
        let known = self
            .users
            .entry(user.clone())
            .or_insert((entry.verified, name.clone()));
        if entry.verified && !known.0 {
            *known = (true, name);
        }
        self.devices.insert(device.clone());
        (user, device)
    }
}

/// The sections holding exported case-level fields, in form order: (section id, its fields).
fn sections<'a>(form: &'a Form, options: &ExportOptions) -> Vec<(String, Vec<&'a FormField>)> {
    form.definition()
        .sections
        .iter()
        .map(|s| {
            let fields: Vec<&FormField> = form
                .fields_in(None)
                .filter(|f| f.section == s.id && options.exported(f))
                .collect();
            (s.id.clone(), fields)
        })
        .filter(|(_, fields)| !fields.is_empty())
        .collect()
}

fn admin_data<W: Write>(
    x: &mut Xml<W>,
    oids: &Oids,
    seen: &Seen,
    effective: &str,
) -> Result<(), ExportError> {
    if seen.users.is_empty() && seen.devices.is_empty() && seen.sites.is_empty() {
        return Ok(());
    }
    x.open("AdminData", &[("StudyOID", &oids.study)])?;
    for (user, (_, name)) in &seen.users {
        x.open("User", &[("OID", &user_oid(user))])?;
        x.text_element("LoginName", &[], user)?;
        if let Some(name) = name {
            x.text_element("FullName", &[], name)?;
        }
        x.close()?;
    }
    let locations = seen
        .sites
        .iter()
        .map(|s| (site_oid(s), format!("site {s}"), "Site"))
        .chain(
            seen.devices
                .iter()
                .map(|d| (device_oid(d), format!("device {d}"), "Other")),
        );
    for (oid, name, kind) in locations {
        x.open(
            "Location",
            &[("OID", &oid), ("Name", &name), ("LocationType", kind)],
        )?;
        x.empty(
            "MetaDataVersionRef",
            &[
                ("StudyOID", &oids.study),
                ("MetaDataVersionOID", &oids.mdv),
                ("EffectiveDate", effective),
            ],
        )?;
        x.close()?;
    }
    for (meaning, label) in &seen.meanings {
        x.open(
            "SignatureDef",
            &[
                ("OID", &signature_oid(meaning)),
                ("Methodology", "Electronic"),
            ],
        )?;
        x.text_element("Meaning", &[], label)?;
        x.text_element(
            "LegalReason",
            &[],
            "21 CFR Part 11 electronic signature: the signer's user id and password, entered again at signing",
        )?;
        x.close()?;
    }
    x.close()
}
