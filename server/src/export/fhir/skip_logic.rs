//! Skip logic in the Questionnaire: the `show_if` expression kept in its extension, and
//! `enableWhen` (with `enableBehavior`) where a simple test or a flat `and`/`or` of tests can
//! say the same thing.

use super::*;
use serde_json::{Map, Value, json};
use wardcrf_core::{FieldType, FormField};

/// Adds the show-if extension and, when expressible, `enableWhen` and `enableBehavior`.
pub(super) fn skip_logic<'a>(
    item: &mut Map<String, Value>,
    show_if: Option<&str>,
    fields: &impl Fn(&str) -> Option<&'a FormField>,
) {
    let Some(expr) = show_if.map(str::trim).filter(|e| !e.is_empty()) else {
        return;
    };
    let ext = json!({"url": SHOW_IF_EXTENSION, "valueString": expr});
    match item.get_mut("extension").and_then(Value::as_array_mut) {
        Some(list) => list.push(ext),
        None => {
            item.insert("extension".into(), json!([ext]));
        }
    }
    if let Some((conditions, behavior)) = enable_when(expr, fields) {
        item.insert("enableWhen".into(), Value::Array(conditions));
        if let Some(b) = behavior {
            item.insert("enableBehavior".into(), json!(b));
        }
    }
}

/// A token of the expression language.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(String),
    Str(String),
    Sym(&'static str),
}

fn tokens(s: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(cs[start..i].iter().collect()));
        } else if c.is_ascii_digit()
            || (c == '-' && cs.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < cs.len() && (cs[i].is_ascii_digit() || cs[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(cs[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            let end = cs[i + 1..].iter().position(|&d| d == c)? + i + 1;
            out.push(Tok::Str(cs[i + 1..end].iter().collect()));
            i = end + 1;
        } else {
            let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
            let sym = match two.as_str() {
                "!=" => "!=",
                "<=" => "<=",
                ">=" => ">=",
                _ => match c {
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    _ => return None,
                },
            };
            i += sym.len();
            out.push(Tok::Sym(sym));
        }
    }
    Some(out)
}

/// One test of a field, as FHIR enableWhen conditions with how they combine.
struct Test {
    conditions: Vec<Value>,
    /// `Some("any")` for an `in` list, `Some("all")` for `not in`, `None` for one condition.
    combine: Option<&'static str>,
}

/// `enableWhen` for `expr`, or `None` when FHIR cannot express it (see the module docs).
pub(super) fn enable_when<'a>(
    expr: &str,
    fields: &impl Fn(&str) -> Option<&'a FormField>,
) -> Option<(Vec<Value>, Option<&'static str>)> {
    let toks = tokens(expr)?;
    // Split on and/or at the top level; parentheses are not expressible.
    let mut tests: Vec<&[Tok]> = Vec::new();
    let mut joiner: Option<&str> = None;
    let mut start = 0;
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Sym("(") => depth += 1,
            Tok::Sym(")") => depth = depth.checked_sub(1)?,
            Tok::Ident(w) if depth == 0 && (w == "and" || w == "or") => {
                if joiner.is_some_and(|j| j != w) {
                    return None;
                }
                joiner = Some(if w == "and" { "and" } else { "or" });
                tests.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    tests.push(&toks[start..]);
    let mut conditions = Vec::new();
    for t in &tests {
        let test = simple_test(t, fields)?;
        match (test.combine, joiner) {
            (Some("any"), Some("and")) | (Some("all"), Some("or")) => return None,
            _ => {}
        }
        conditions.extend(test.conditions);
        if joiner.is_none() {
            let behavior = if conditions.len() > 1 {
                test.combine
            } else {
                None
            };
            return Some((conditions, behavior));
        }
    }
    let behavior = match joiner {
        Some("or") => Some("any"),
        _ => Some("all"),
    };
    let behavior = if conditions.len() > 1 { behavior } else { None };
    Some((conditions, behavior))
}

fn simple_test<'a>(t: &[Tok], fields: &impl Fn(&str) -> Option<&'a FormField>) -> Option<Test> {
    let Some(Tok::Ident(name)) = t.first() else {
        return None;
    };
    let field = fields(name)?;
    let rest = &t[1..];
    let cond = |op: &str, answer: (String, Value)| {
        let mut m = Map::new();
        m.insert("question".into(), json!(field.id()));
        m.insert("operator".into(), json!(op));
        m.insert(answer.0, answer.1);
        Value::Object(m)
    };
    let ident = |i: usize, w: &str| matches!(rest.get(i), Some(Tok::Ident(x)) if x == w);
    // is [not] empty
    if ident(0, "is") {
        let (exists, next) = if ident(1, "not") {
            (true, 2)
        } else {
            (false, 1)
        };
        if ident(next, "empty") && rest.len() == next + 1 {
            return Some(Test {
                conditions: vec![cond("exists", ("answerBoolean".into(), json!(exists)))],
                combine: None,
            });
        }
        return None;
    }
    // [not] in (lit, ...)
    let (negated, in_at) = if ident(0, "not") {
        (true, 1)
    } else {
        (false, 0)
    };
    if ident(in_at, "in") {
        let list = &rest[in_at + 1..];
        if list.first() != Some(&Tok::Sym("(")) || list.last() != Some(&Tok::Sym(")")) {
            return None;
        }
        let inner = &list[1..list.len() - 1];
        let mut conditions = Vec::new();
        for (i, tok) in inner.iter().enumerate() {
            if i % 2 == 1 {
                if tok != &Tok::Sym(",") {
                    return None;
                }
                continue;
            }
            let answer = literal(field, tok)?;
            conditions.push(cond(if negated { "!=" } else { "=" }, answer));
        }
        if conditions.is_empty() {
            return None;
        }
        let combine = if conditions.len() > 1 {
            Some(if negated { "all" } else { "any" })
        } else {
            None
        };
        return Some(Test {
            conditions,
            combine,
        });
    }
    if rest.len() != 2 {
        return None;
    }
    let op = match &rest[0] {
        Tok::Ident(w) if w == "contains" && field.def.kind == FieldType::Multichoice => "=",
        Tok::Sym(s @ ("=" | "!=")) => s,
        Tok::Sym(s @ ("<" | "<=" | ">" | ">="))
            if matches!(
                field.def.kind,
                FieldType::Integer | FieldType::Decimal | FieldType::Date
            ) =>
        {
            s
        }
        _ => return None,
    };
    if field.def.kind == FieldType::Multichoice && op != "=" {
        return None;
    }
    let answer = literal(field, &rest[1])?;
    Some(Test {
        conditions: vec![cond(op, answer)],
        combine: None,
    })
}

/// The enableWhen answer for a literal compared with `field`.
fn literal(field: &FormField, tok: &Tok) -> Option<(String, Value)> {
    let text = match tok {
        Tok::Num(n) | Tok::Str(n) => n.clone(),
        Tok::Ident(w) if w == "true" || w == "false" => w.clone(),
        _ => return None,
    };
    match field.def.kind {
        FieldType::Choice | FieldType::Multichoice => {
            field.choice_label(&text)?;
            Some((
                "answerCoding".into(),
                json!({"system": code_system(field.id()), "code": text}),
            ))
        }
        FieldType::Integer => {
            let Tok::Num(_) = tok else { return None };
            let n: i32 = text.parse().ok()?;
            Some(("answerInteger".into(), json!(n)))
        }
        FieldType::Decimal => {
            let Tok::Num(_) = tok else { return None };
            let n: f64 = text.parse().ok()?;
            Some(("answerDecimal".into(), json!(n)))
        }
        FieldType::Boolean => match text.as_str() {
            "true" => Some(("answerBoolean".into(), json!(true))),
            "false" => Some(("answerBoolean".into(), json!(false))),
            _ => None,
        },
        FieldType::Text => {
            let Tok::Str(_) = tok else { return None };
            (!text.is_empty()).then(|| ("answerString".into(), json!(text)))
        }
        FieldType::Date => {
            let Tok::Str(_) = tok else { return None };
            let d = fhir_date(&text)?;
            Some(("answerDate".into(), json!(d)))
        }
        FieldType::Datetime => None,
    }
}
