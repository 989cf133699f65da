//! Research exports: who receives one ([`Research`]: recipient, pseudonym key, purposes, date
//! shift, quasi-identifiers), and how a case's values and audit trail are de-identified for
//! them: identifying and left-out fields removed, the age computed and top-coded at 90, dates
//! shifted by the case's offset. Which cases an export holds is [`super::consent`]'s rule.

use super::consent::Purpose;
use super::pseudonym::PseudonymKey;
use super::{ExportCase, ExportError, ExportOptions, SECONDS_PER_DAY, plain};
use serde_json::{Map, Value};
use std::sync::Arc;
use wardcrf_core::{Form, FormField, HistoryEntry, PartialDate};

/// A research export's recipient and the key of its pseudonyms, the uses it needs (which
/// decide the cases it holds: [`super::consent`]), and whether it shifts dates and holds
/// quasi-identifying fields.
#[derive(Debug, Clone)]
pub struct Research {
    recipient: String,
    key: Arc<PseudonymKey>,
    /// The uses needed beyond secondary use (which is always implied), sorted.
    purposes: Vec<Purpose>,
    date_shift: bool,
    pub(super) quasi_identifiers: bool,
}

impl Research {
    /// For `recipient` (1 to 100 letters, digits, spaces, `-`, `_`, `.`, `@`; not blank),
    /// with pseudonyms under `key`; needing secondary use only, without date shift, without
    /// quasi-identifying fields.
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
            purposes: Vec::new(),
            date_shift: false,
            quasi_identifiers: false,
        })
    }

    /// The uses of the data the export needs besides secondary use (always implied): only
    /// cases whose consent covers them all are exported ([`consent::consent_covers`]).
    pub fn with_purposes(mut self, purposes: &[Purpose]) -> Research {
        let mut p: Vec<Purpose> = purposes
            .iter()
            .copied()
            .filter(|p| *p != Purpose::SecondaryUse)
            .collect();
        p.sort();
        p.dedup();
        self.purposes = p;
        self
    }

    /// Whether every date and time of a case moves by the case's offset for this recipient
    /// (see the module docs).
    pub fn with_date_shift(mut self, on: bool) -> Research {
        self.date_shift = on;
        self
    }

    /// Whether the fields the form marks `quasi_identifying` are exported.
    pub fn with_quasi_identifiers(mut self, include: bool) -> Research {
        self.quasi_identifiers = include;
        self
    }

    /// The uses the export needs besides secondary use.
    pub fn purposes(&self) -> &[Purpose] {
        &self.purposes
    }

    /// Whether dates are shifted.
    pub fn date_shift(&self) -> bool {
        self.date_shift
    }

    /// Whether quasi-identifying fields are exported.
    pub fn quasi_identifiers(&self) -> bool {
        self.quasi_identifiers
    }

    /// The recipient's pseudonym of `id` (of `kind`: case, row, user, device).
    pub(super) fn pseudonym(&self, kind: &str, id: &str) -> String {
        self.key.pseudonym(&self.recipient, kind, id)
    }

    /// The days every date of `case_id` moves by in this recipient's exports (0 without date
    /// shift).
    pub(super) fn day_offset(&self, case_id: &str) -> i64 {
        if self.date_shift {
            self.key.day_offset(&self.recipient, case_id)
        } else {
            0
        }
    }
}

/// De-identifies a case's values for a research export: computes the age at admission from
/// the date of birth, removes every field the export leaves out (case-level and in every row),
/// and top-codes the age and shifts the dates of the others ([`research_value`]).
pub(super) fn deidentify(form: &Form, options: &ExportOptions, case: &mut ExportCase) {
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
    let days = case.days;
    let fix = |f: &FormField, values: &mut Map<String, Value>| {
        let Some(v) = values.get(f.id()) else { return };
        match research_value(form, options, days, f, v) {
            Some(new) => {
                values.insert(f.id().to_string(), new);
            }
            None => {
                values.remove(f.id());
            }
        }
    };
    for f in form.fields() {
        match &f.group {
            None => fix(f, &mut case.values),
            Some(group) => {
                if let Some(rows) = case.values.get_mut(group).and_then(Value::as_array_mut) {
                    for row in rows.iter_mut().filter_map(Value::as_object_mut) {
                        fix(f, row);
                    }
                }
            }
        }
    }
}

/// A stored value of `f` as a research export shows it: `None` when it is left out (a field
/// the export does not hold; with date shift, a date or date-time that cannot be shifted
/// exactly: a partial date, a value that is no date); the age in years top-coded (`90+` from
/// 90 on, every age as text); with date shift, a date or date-time moved by `days` (the time
/// of day and UTC offset kept). Other values are as stored.
pub(super) fn research_value(
    form: &Form,
    options: &ExportOptions,
    days: i64,
    f: &FormField,
    stored: &Value,
) -> Option<Value> {
    if !options.exported(f) {
        return None;
    }
    let answer = plain(stored);
    if answer.is_null() {
        return Some(stored.clone());
    }
    if options.top_codes(form, f) {
        return top_coded_age(answer).map(Value::from);
    }
    let shift = options.research.as_ref().is_some_and(Research::date_shift);
    match f.def.kind {
        wardcrf_core::FieldType::Date if shift => {
            shift_date(answer.as_str()?, days).map(Value::from)
        }
        wardcrf_core::FieldType::Datetime if shift => {
            shift_datetime(answer.as_str()?, days).map(Value::from)
        }
        _ => Some(stored.clone()),
    }
}

/// The top-coding age: ages from this many years on are exported as `90+` (HIPAA Safe Harbor,
/// §164.514(b)(2)(i)(C)).
pub const TOP_CODED_AGE: i64 = 90;

/// An age in years as a research export shows it: whole years as text, `90+` from 90 on
/// (also for an age held as text). `None` (left out) for anything that is not an age: a value
/// the export cannot read is not shown as entered.
pub(super) fn top_coded_age(answer: &Value) -> Option<String> {
    let years = match answer {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|y| y.is_finite() && *y >= 0.0)?;
    Some(if years >= TOP_CODED_AGE as f64 {
        format!("{TOP_CODED_AGE}+")
    } else {
        format!("{}", years.floor() as i64)
    })
}

/// Whether `field` is the age in years the form names (`age.years_field`).
pub(super) fn is_age_field(form: &Form, field: &FormField) -> bool {
    field.group.is_none()
        && form
            .definition()
            .age
            .as_ref()
            .is_some_and(|a| a.years_field == field.id())
}

/// A full date (`YYYY-MM-DD`) moved by `days`; `None` for a partial date or no date.
pub(super) fn shift_date(text: &str, days: i64) -> Option<String> {
    let date = PartialDate::parse(text).ok().filter(PartialDate::is_full)?;
    let moved = PartialDate::from_days_since_epoch(date.days_since_epoch()?.checked_add(days)?)?;
    Some(moved.to_string())
}

/// A date-time moved by `days`: its date moves, its time of day and UTC offset stay as
/// written. `None` when it is no date-time.
pub(super) fn shift_datetime(text: &str, days: i64) -> Option<String> {
    wardcrf_core::DateTime::parse(text).ok()?;
    // A date-time starts with its full date (`YYYY-MM-DD`), then `T` or a space.
    let (date, rest) = (text.get(..10)?, text.get(10..)?);
    Some(format!("{}{rest}", shift_date(date, days)?))
}

/// The audit trail of a case as a research export shows it: every change's time moved by the
/// case's `days`, and the values it records as [`research_value`] gives them (a change whose
/// value the export leaves out is left out; a row's values likewise).
pub(super) fn deidentify_history(
    form: &Form,
    options: &ExportOptions,
    days: i64,
    history: Vec<HistoryEntry>,
) -> Vec<HistoryEntry> {
    let field_in =
        |group: Option<&str>, id: &str| form.field(id).filter(|f| f.group.as_deref() == group);
    history
        .into_iter()
        .filter_map(|mut e| {
            e.time = e.time.saturating_add(days.saturating_mul(SECONDS_PER_DAY));
            if let Some(id) = e.field.clone() {
                let Some(f) = field_in(e.group.as_deref(), &id) else {
                    return Some(e);
                };
                if !options.exported(f) {
                    return None;
                }
                let one = |v: Option<Value>| -> Result<Option<Value>, ()> {
                    match v {
                        None => Ok(None),
                        Some(v) if plain(&v).is_null() => Ok(Some(v)),
                        Some(v) => research_value(form, options, days, f, &v)
                            .map(Some)
                            .ok_or(()),
                    }
                };
                let new = one(e.new.take()).ok()?;
                // A resolution records the values it superseded as a list.
                let old = match e.old.take() {
                    Some(Value::Array(candidates)) if e.op == "resolve" => Some(Value::Array(
                        candidates
                            .into_iter()
                            .filter_map(|c| one(Some(c)).ok().flatten())
                            .collect(),
                    )),
                    old => one(old).unwrap_or(None),
                };
                e.new = new;
                e.old = old;
            } else if let (Some(group), Some(Value::Object(row))) =
                (e.group.clone(), e.new.as_mut())
            {
                let keys: Vec<String> = row.keys().cloned().collect();
                for k in keys {
                    let Some(f) = field_in(Some(&group), &k) else {
                        continue;
                    };
                    let v = row.remove(&k).unwrap_or(Value::Null);
                    if let Some(v) = research_value(form, options, days, f, &v) {
                        row.insert(k, v);
                    }
                }
            }
            Some(e)
        })
        .collect()
}

/// The field holding the subject's study pseudonym (CDASH `SUBJID`: iCROWN's REBIND ID, the NUM
/// trust centre's pseudonym). It is the same in every export, so in research exports it would
/// link two recipients' files: they get the per-recipient case pseudonym instead.
pub(super) fn is_subject_id(field: &FormField) -> bool {
    field.def.codes.cdash.as_deref() == Some("SUBJID")
}

/// Whole years from a birth date to a later reference date (both full dates), else `None`.
pub(super) fn age_in_years(birth: Option<&Value>, reference: Option<&Value>) -> Option<i64> {
    let date = |v: Option<&Value>| {
        v.map(plain)
            .and_then(Value::as_str)
            .and_then(|s| PartialDate::parse(s).ok())
            .filter(PartialDate::is_full)
    };
    let (b, r) = (date(birth)?, date(reference)?);
    // A reference date before the birth date gives no age; otherwise the one rule of
    // completed years, as rules and skip logic count them.
    (r.partial_cmp_known(&b)? != std::cmp::Ordering::Less)
        .then(|| b.years_until(&r))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::super::export_form;
    use super::*;
    use serde_json::json;
    use wardcrf_core::Catalog;

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
    fn full_dates_move_by_whole_days_and_partial_dates_are_left_out() {
        assert_eq!(shift_date("2026-03-14", 20).as_deref(), Some("2026-04-03"));
        assert_eq!(
            shift_date("2026-03-14", -180).as_deref(),
            Some("2025-09-15")
        );
        assert_eq!(shift_date("2024-02-28", 1).as_deref(), Some("2024-02-29"));
        assert_eq!(shift_date("2026-01-10", -15).as_deref(), Some("2025-12-26"));
        for partial in ["2026-03", "2026", "soon", "", "2026-02-30"] {
            assert_eq!(shift_date(partial, 5), None, "{partial}");
        }
        // A date-time keeps its time of day and offset as written.
        assert_eq!(
            shift_datetime("2026-03-14T08:30+09:00", -180).as_deref(),
            Some("2025-09-15T08:30+09:00")
        );
        assert_eq!(
            shift_datetime("2026-03-14 23:59:30.250Z", 20).as_deref(),
            Some("2026-04-03 23:59:30.250Z")
        );
        assert_eq!(
            shift_datetime("2026-03-14T10:00", 1).as_deref(),
            Some("2026-03-15T10:00")
        );
        for bad in ["2026-03-14", "2026-03T10:00", "noon", "2026-03-14T25:00"] {
            assert_eq!(shift_datetime(bad, 5), None, "{bad}");
        }
    }

    #[test]
    fn ages_from_90_are_top_coded_and_every_age_is_text() {
        let age = |v: Value| top_coded_age(&v);
        assert_eq!(age(json!(62)).as_deref(), Some("62"));
        assert_eq!(age(json!(0)).as_deref(), Some("0"));
        assert_eq!(age(json!(89)).as_deref(), Some("89"));
        assert_eq!(age(json!(89.9)).as_deref(), Some("89"));
        assert_eq!(age(json!(90)).as_deref(), Some("90+"));
        assert_eq!(age(json!(93)).as_deref(), Some("90+"));
        assert_eq!(age(json!(117)).as_deref(), Some("90+"));
        assert_eq!(age(json!("93")).as_deref(), Some("90+"));
        assert_eq!(age(json!(" 45 ")).as_deref(), Some("45"));
        for unreadable in [json!("old"), json!(-1), json!(true), json!([93])] {
            assert_eq!(age(unreadable.clone()), None, "{unreadable}");
        }
    }

    #[test]
    fn research_values_drop_shift_and_top_code_by_field() {
        let catalog = Catalog::bundled().unwrap();
        let form = export_form(&catalog).unwrap();
        let key = Arc::new(PseudonymKey::from_bytes(&[3; 32]));
        let research = Research::new("Uni Tokyo", key).unwrap();
        let options = |r: Research| ExportOptions {
            research: Some(r),
            ..ExportOptions::default()
        };
        let plain_research = options(research.clone());
        let shifted = options(research.clone().with_date_shift(true));
        let quasi = options(research.with_quasi_identifiers(true));
        let field = |id: &str| form.field(id).unwrap();
        let value =
            |o: &ExportOptions, id: &str, v: Value| research_value(&form, o, 10, field(id), &v);
        // Identifying fields and the subject id never; quasi-identifying ones on request.
        assert_eq!(value(&quasi, "patient_name", json!("Yamada")), None);
        assert_eq!(value(&quasi, "case_id", json!("REBIND-1")), None);
        assert_eq!(
            value(&plain_research, "final_diagnosis_other", json!("x")),
            None
        );
        assert_eq!(
            value(&quasi, "final_diagnosis_other", json!("x")),
            Some(json!("x"))
        );
        // The age: text, top-coded, with or without date shift.
        assert_eq!(
            value(&plain_research, "age_years", json!(93)),
            Some(json!("90+"))
        );
        assert_eq!(value(&shifted, "age_years", json!(44)), Some(json!("44")));
        // Dates move only with date shift; partial dates are then left out.
        assert_eq!(
            value(&plain_research, "admission_date", json!("2026-03-14")),
            Some(json!("2026-03-14"))
        );
        assert_eq!(
            value(&shifted, "admission_date", json!("2026-03-14")),
            Some(json!("2026-03-24"))
        );
        assert_eq!(
            value(&shifted, "prior_covid19_date", json!("2025-11")),
            None
        );
        assert_eq!(
            value(&plain_research, "prior_covid19_date", json!("2025-11")),
            Some(json!("2025-11"))
        );
        assert_eq!(
            value(&shifted, "vs_datetime", json!("2026-03-14T08:30+09:00")),
            Some(json!("2026-03-24T08:30+09:00"))
        );
        assert_eq!(value(&shifted, "vs_temp", json!(38.5)), Some(json!(38.5)));
        assert_eq!(
            value(&shifted, "admission_date", Value::Null),
            Some(Value::Null)
        );
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
}
