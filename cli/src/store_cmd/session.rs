//! The form session of a case on the command line: the sections and fields the answers show
//! (in `case show --json`), the values left in hidden fields, and clearing them.

use super::{Outcome, StoreOpts, emit, open, place};
use crate::staff_cmd::Need;
use serde_json::{Map, Value as Json, json};
use std::fmt::Write as _;
use wardcrf_core::session::{FieldState, FormSession, SessionField, SessionItem};
use wardcrf_core::{FieldPath, Issue, Lang};

fn state_name(state: FieldState) -> &'static str {
    match state {
        FieldState::Empty => "empty",
        FieldState::Valid => "valid",
        FieldState::NeedsReason => "needs_reason",
        FieldState::Confirmed => "confirmed",
        FieldState::Error => "error",
        FieldState::Conflict => "conflict",
    }
}

fn path_json(path: &FieldPath) -> Map<String, Json> {
    let mut o = Map::new();
    o.insert("field".into(), json!(path.field));
    if let (Some(g), Some(r)) = (&path.group, &path.row_id) {
        o.insert("group".into(), json!(g));
        o.insert("row_id".into(), json!(r));
    }
    o
}

fn message_json(i: &Issue, warning: bool, lang: Lang) -> Json {
    json!({"code": i.code.as_str(), "message": i.message.get(lang), "warning": warning})
}

fn field_json(session: &FormSession, f: &SessionField, lang: Lang) -> Json {
    let mut o = path_json(&f.path);
    let def = session.form.field(&f.path.field);
    if let Some(def) = def {
        o.insert("label".into(), json!(def.def.label.get(lang)));
        o.insert("required".into(), json!(def.required));
        if let Some(a) = &f.answer {
            o.insert("shown".into(), json!(a.shown(def, lang)));
        }
    }
    o.insert("state".into(), json!(state_name(f.state)));
    o.insert("value".into(), f.stored.clone().unwrap_or(Json::Null));
    if let Some(u) = &f.default_unit {
        o.insert("default_unit".into(), json!(u));
    }
    let messages: Vec<Json> = f
        .errors
        .iter()
        .map(|i| message_json(i, false, lang))
        .chain(f.warnings.iter().map(|i| message_json(i, true, lang)))
        .collect();
    o.insert("messages".into(), Json::Array(messages));
    if !f.candidates.is_empty() {
        o.insert("candidates".into(), json!(f.candidates));
    }
    Json::Object(o)
}

/// Adds the session to a case's JSON: `sections` (each with its shown `fields` and `groups`
/// with their rows, and its `progress`), `hidden_values`, `next_missing`,
/// `completion_problems` and `can_complete`.
pub(super) fn insert_json(out: &mut Map<String, Json>, session: &FormSession, lang: Lang) {
    let def = session.form.definition();
    let sections: Vec<Json> = session
        .sections
        .iter()
        .map(|s| {
            let label = def
                .sections
                .iter()
                .find(|x| x.id == s.id)
                .map(|x| x.label.get(lang).to_string());
            let mut fields = Vec::new();
            let mut groups = Vec::new();
            for item in &s.items {
                match item {
                    SessionItem::Field(f) => fields.push(field_json(session, f, lang)),
                    SessionItem::Group(g) => groups.push(json!({
                        "id": g.id,
                        "label": session.form.group(&g.id).map(|x| x.label.get(lang)),
                        "can_add_row": g.can_add_row,
                        "rows": g.rows.iter().map(|r| json!({
                            "row_id": r.row_id,
                            "fields": r.fields.iter().map(|f| field_json(session, f, lang)).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                    })),
                }
            }
            json!({
                "id": s.id,
                "label": label,
                "progress": {
                    "answered": s.progress.answered,
                    "required": s.progress.required,
                    "required_answered": s.progress.required_answered,
                    "problems": s.progress.problems,
                },
                "fields": fields,
                "groups": groups,
            })
        })
        .collect();
    let hidden: Vec<Json> = session
        .hidden_values
        .iter()
        .map(|h| {
            let mut o = path_json(&h.path);
            if let Some(f) = session.form.field(&h.path.field) {
                o.insert("label".into(), json!(f.def.label.get(lang)));
                if let Some(a) = &h.answer {
                    o.insert("shown".into(), json!(a.shown(f, lang)));
                }
            }
            o.insert("value".into(), h.stored.clone());
            Json::Object(o)
        })
        .collect();
    out.insert("sections".into(), Json::Array(sections));
    out.insert("hidden_values".into(), Json::Array(hidden));
    out.insert(
        "next_missing".into(),
        session
            .next_missing
            .as_ref()
            .map_or(Json::Null, |p| Json::Object(path_json(p))),
    );
    out.insert(
        "completion_problems".into(),
        Json::Array(
            session
                .completion_problems
                .iter()
                .map(|i| {
                    let mut o = path_json(&FieldPath {
                        field: i.field.clone(),
                        group: i.group.clone(),
                        row_id: i.row_id.clone(),
                    });
                    o.insert("code".into(), json!(i.code.as_str()));
                    o.insert("message".into(), json!(i.message.get(lang)));
                    Json::Object(o)
                })
                .collect(),
        ),
    );
    out.insert("can_complete".into(), json!(session.can_complete()));
}

/// What to do about values left in hidden fields (listed with the report), for the terminal:
/// nothing when there are none.
pub(super) fn hidden_text(session: &FormSession) -> String {
    if session.hidden_values.is_empty() {
        return String::new();
    }
    format!(
        "Clear the values in fields that do not apply with 'wardcrf case clear-hidden {} --reason R', or keep them when completing (--keep-hidden).\n",
        session.case_id
    )
}

/// `case clear-hidden`: clears the values left in hidden fields in one change.
pub(super) fn clear_hidden(opts: &StoreOpts, case: &str, reason: &str) -> Outcome {
    let mut store = open(opts, Need::Write)?;
    let cleared = store.clear_hidden(case, reason)?;
    let out = json!({
        "case_id": case,
        "cleared": cleared.iter().map(|p| Json::Object(path_json(p))).collect::<Vec<_>>(),
    });
    emit(opts.json, &out, || {
        if cleared.is_empty() {
            "No value is left in a hidden field.\n".into()
        } else {
            let mut s = format!("Cleared {} value(s):\n", cleared.len());
            for p in &cleared {
                let _ = writeln!(s, "  {}", place(p));
            }
            s
        }
    })
}
