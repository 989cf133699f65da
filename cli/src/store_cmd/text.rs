//! Rendering for the terminal: stored values with their units and confirmations, audit trails,
//! conflicts and what still blocks a case's completion.

use serde_json::Value as Json;
use std::fmt::Write as _;
use wardcrf_core::case::{Parts, Signature};
use wardcrf_core::{Conflict, FieldPath, HistoryEntry, Issue, Lang, Report, ucum};

/// A stored value for the terminal: `38.5 °C (entered 101.3 °F)`.
pub(crate) fn fmt_value(v: &Json) -> String {
    if let Some(parts) = Parts::annotated(v) {
        let mut out = fmt_value(parts.answer);
        if let Some(u) = parts.unit {
            let _ = write!(out, " {}", unit_text(u));
        }
        if let Some(e) = parts.entered {
            let _ = write!(out, " (entered {})", fmt_value(e));
        }
        if let Some(c) = parts.confirm {
            let _ = write!(out, " ✓ {c}");
        }
        return out;
    }
    match v {
        Json::Null => "(empty)".into(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn unit_text(u: &str) -> String {
    let shown = ucum::display(u, Lang::En);
    if shown.is_empty() { u.into() } else { shown }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SSZ`.
pub(super) fn fmt_time(t: i64) -> String {
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
            "{}  {}  {:<12}  {}{what}{change}{reason}",
            fmt_time(h.time),
            short(&h.device),
            author(h),
            h.op
        );
    }
    out
}

/// Who made a change: `Printed Name (id)` of a signed-in staff member, or `unverified: <name>`
/// for a change made before staff signed in on devices.
pub(crate) fn author(h: &HistoryEntry) -> String {
    match (&h.user_name, h.verified) {
        (Some(name), true) => format!("{name} ({})", h.user),
        _ => format!("unverified: {}", h.user),
    }
}

/// Signatures as lines: time, signer's printed name and id, meaning, superseded or not.
pub(super) fn signatures_text(signatures: &[Signature]) -> String {
    if signatures.is_empty() {
        return "No signature.\n".into();
    }
    let mut out = String::new();
    for s in signatures {
        let _ = writeln!(
            out,
            "{}  signed by {} ({}): {}{}",
            fmt_time(s.time),
            s.signer.name,
            s.signer.id,
            s.meaning_en,
            if s.superseded {
                "  SUPERSEDED by a later edit"
            } else {
                ""
            }
        );
    }
    out
}

pub(super) fn short(device: &str) -> &str {
    device.get(..8).unwrap_or(device)
}

pub(super) fn place(path: &FieldPath) -> String {
    match (&path.group, &path.row_id) {
        (Some(g), Some(r)) => format!("{g}[{r}].{}", path.field),
        _ => path.field.clone(),
    }
}

pub(super) fn issue_line(issue: &Issue, lang: Lang) -> String {
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
pub(super) fn problems(report: &Report, lang: Lang) -> Vec<String> {
    report
        .errors
        .iter()
        .chain(&report.missing)
        .chain(report.warnings.iter().filter(|w| w.confirmed.is_none()))
        .map(|i| issue_line(i, lang))
        .collect()
}

pub(super) fn conflict_text(conflicts: &[Conflict]) -> String {
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
            if let Some(reason) = &cand.reason {
                let _ = writeln!(out, "    reason: {reason}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: &str, name: Option<&str>, verified: bool) -> HistoryEntry {
        HistoryEntry {
            time: 1_700_000_000,
            device: "0123456789abcdef".into(),
            user: user.into(),
            user_name: name.map(str::to_string),
            verified,
            op: "set".into(),
            field: Some("vs_hr".into()),
            group: None,
            row_id: None,
            old: None,
            new: Some(Json::from(88)),
            reason: None,
            change: "00".into(),
        }
    }

    #[test]
    fn history_shows_the_printed_name_and_id_or_an_unverified_name() {
        let text = history_text(&[
            entry("dr.b", Some("Dr Berg"), true),
            entry("bob", None, false),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("Dr Berg (dr.b)  set vs_hr"), "{text}");
        assert!(lines[1].contains("unverified: bob  set vs_hr"), "{text}");
    }
}
