//! The CSV export: a ZIP holding `cases.csv` (one row per case: `case_id`, `site_id`,
//! `form_id`, `status`, then one column per case-level field in form order) and one
//! `<group>.csv` per repeating group (`case_id`, `row_id`, then the group's fields). Cells hold
//! codes and values in the canonical unit; with a language, a `<field>_label` column follows
//! each choice field with the choice labels in it. Multiple codes are joined by `;`.
//!
//! In a research export the identifying fields (and the quasi-identifying ones unless asked
//! for) have no column, and the first columns are `case_pseudonym` (and `row_pseudonym` in
//! group files) holding the recipient's pseudonyms; the age is `90+` from 90 years on, and with
//! date shift every date and date-time cell of a case is moved by the case's offset (partial
//! dates are empty).
//!
//! Every cell, header names included, is neutralised against spreadsheet formulas (the OWASP
//! rule for CSV injection, [`neutralise`]): text that starts with `=`, `+`, `-`, `@`, a tab or a
//! carriage return (or the full-width `＝`, `＋`, `－`, `＠`, which Japanese spreadsheets also
//! read as formulas) gets a single quote `'` before it, unless it is a plain number such as
//! `-3.5`, so numbers stay numbers. Text that starts with a quote gets one more, so the rule
//! is reversible: a reader removes one leading quote to get the text as entered.
//!
//! A ZIP holds one file at a time: `cases.csv` is written straight into the archive while
//! each group's rows go to a temporary file, appended to the archive at the end. The ZIP is
//! written as a stream (data descriptors), so `out` need not seek.

use super::{
    ExportError, ExportOptions, answer_labels, answer_text, case_ids, group_rows, load_case,
};
use crate::repository::Repository;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use wardcrf_core::repository::HubStorage;
use wardcrf_core::{Form, FormField, Lang};
use zip::write::SimpleFileOptions;

/// Writes the ZIP of CSV files to `out`.
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
    let lang = options.lang;
    let case_fields: Vec<&FormField> = form
        .fields_in(None)
        .filter(|f| options.exported(f))
        .collect();
    let groups: Vec<(String, Vec<&FormField>)> = form
        .groups()
        .iter()
        .map(|g| {
            let fields = form
                .fields_in(Some(&g.id))
                .filter(|f| options.exported(f))
                .collect();
            (g.id.clone(), fields)
        })
        .collect();
    // The repository's case id is `record_id`: the form has a `case_id` field of its own (the
    // study pseudonym), whose column would otherwise share the name.
    let (case_column, row_column) = if options.research.is_some() {
        ("case_pseudonym", "row_pseudonym")
    } else {
        ("record_id", "row_id")
    };

    let file_options =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut zip = zip::ZipWriter::new_stream(out);
    zip.start_file("cases.csv", file_options)?;
    let mut group_files = Vec::with_capacity(groups.len());
    for (_, fields) in &groups {
        let mut w = ::csv::Writer::from_writer(BufWriter::new(tempfile::tempfile()?));
        let mut header = vec![case_column.to_string(), row_column.to_string()];
        header.extend(columns(fields, lang));
        write_record(&mut w, &header)?;
        group_files.push(w);
    }
    {
        let mut cases = ::csv::Writer::from_writer(&mut zip);
        let mut header: Vec<String> = [case_column, "site_id", "form_id", "status"]
            .map(String::from)
            .to_vec();
        header.extend(columns(&case_fields, lang));
        write_record(&mut cases, &header)?;
        for case_id in case_ids(storage, options.site.as_deref())? {
            let Some((case, _)) = load_case(storage, &case_id, form, options, false)? else {
                continue;
            };
            let case_key = options.case_key(&case.row.case_id);
            let mut record = vec![
                case_key.clone(),
                case.row.site_id.clone(),
                case.row.form_id.clone(),
                case.row.status.clone(),
            ];
            cells(&mut record, &case_fields, |id| case.values.get(id), lang);
            write_record(&mut cases, &record)?;
            for ((group, fields), file) in groups.iter().zip(group_files.iter_mut()) {
                for (row_id, row) in group_rows(&case.values, group) {
                    let mut record = vec![case_key.clone(), options.row_key(row_id)];
                    cells(&mut record, fields, |id| row.get(id), lang);
                    write_record(file, &record)?;
                }
            }
        }
        cases.flush()?;
    }
    for ((group, _), file) in groups.iter().zip(group_files) {
        let mut file = file
            .into_inner()
            .map_err(|e| ExportError::Io(e.into_error()))?
            .into_inner()
            .map_err(|e| ExportError::Io(e.into_error()))?;
        file.seek(SeekFrom::Start(0))?;
        zip.start_file(format!("{group}.csv"), file_options)?;
        std::io::copy(&mut file, &mut zip)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Writes one record, every cell [`neutralise`]d.
fn write_record<W: Write>(w: &mut ::csv::Writer<W>, record: &[String]) -> Result<(), ExportError> {
    w.write_record(record.iter().map(|cell| neutralise(cell).into_owned()))?;
    Ok(())
}

/// A cell as a spreadsheet may open it without running it: `'` before text that starts with
/// `=`, `+`, `-`, `@`, a tab, a carriage return, their full-width forms or a quote, unless the
/// text is a plain number (`-3.5`, `+1`, `1e-3`). Everything else is returned as is.
fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    const TRIGGERS: [char; 11] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠', '\''];
    if cell.starts_with(TRIGGERS) && !plain_number(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// A decimal number in plain notation: an optional sign, digits with at most one point, an
/// optional exponent (`-3.5`, `+2`, `.5`, `1e-3`); not `inf`, `NaN`, `0x1` or `1+1`.
fn plain_number(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (digits(int) || int.is_empty())
                && (digits(frac) || frac.is_empty())
                && !(int.is_empty() && frac.is_empty())
        }
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// The column names of `fields`: each field's id, followed by `<id>_label` for choice fields
/// when labels are asked for.
fn columns(fields: &[&FormField], lang: Option<Lang>) -> Vec<String> {
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        out.push(f.id().to_string());
        if lang.is_some() && !f.choices.is_empty() {
            out.push(format!("{}_label", f.id()));
        }
    }
    out
}

/// Appends the cells of `fields` (as [`columns`] names them) to `record`.
fn cells<'a>(
    record: &mut Vec<String>,
    fields: &[&FormField],
    value: impl Fn(&str) -> Option<&'a serde_json::Value>,
    lang: Option<Lang>,
) {
    for f in fields {
        let answer = value(f.id()).unwrap_or(&serde_json::Value::Null);
        record.push(answer_text(answer));
        if let Some(lang) = lang
            && let Some(labels) = answer_labels(f, answer, lang)
        {
            record.push(labels);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_triggers_get_a_quote_and_numbers_stay_numbers() {
        for (cell, out) in [
            (
                "=HYPERLINK(\"http://x\",\"click\")",
                "'=HYPERLINK(\"http://x\",\"click\")",
            ),
            ("@SUM(1+1)", "'@SUM(1+1)"),
            ("+1+1", "'+1+1"),
            ("-1+1", "'-1+1"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("＝1+1", "'＝1+1"),
            ("'quoted", "''quoted"),
            ("-inf", "'-inf"),
            ("-NaN", "'-NaN"),
            ("-", "'-"),
            ("-.", "'-."),
            ("-1e", "'-1e"),
            ("-3.5", "-3.5"),
            ("+2", "+2"),
            ("-.5", "-.5"),
            ("-1e-3", "-1e-3"),
            ("38.5", "38.5"),
            ("Yamada = Taro", "Yamada = Taro"),
            ("", ""),
            ("山田", "山田"),
        ] {
            assert_eq!(neutralise(cell), out, "{cell:?}");
        }
    }
}
