//! Evaluation with three-valued logic: a test on an empty field or values that cannot be
//! compared is unknown (`None`); `or` and `and` decide when any operand does.

use super::check::{Node, Term};
use super::{Env, Value};
use std::cmp::Ordering;

fn term_value(t: &Term, env: &dyn Env) -> Option<Value> {
    match t {
        Term::Field(f) => env.value(f),
        Term::Const(v) => Some(v.clone()),
        Term::Today => env.today().map(Value::Date),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
        (Value::Text(x), Value::Text(y)) | (Value::Code(x), Value::Code(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => x.partial_cmp_known(y),
        (Value::DateTime(x), Value::DateTime(y)) => Some(x.cmp_instant(y)),
        (Value::Date(x), Value::DateTime(y)) => x.partial_cmp_known(&y.date),
        (Value::DateTime(x), Value::Date(y)) => x.date.partial_cmp_known(y),
        _ => None,
    }
}

pub(super) fn eval(n: &Node, env: &dyn Env) -> Option<bool> {
    match n {
        Node::Or(v) => {
            let mut unknown = false;
            for x in v {
                match eval(x, env) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Node::And(v) => {
            let mut unknown = false;
            for x in v {
                match eval(x, env) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown { None } else { Some(true) }
        }
        Node::Not(x) => eval(x, env).map(|b| !b),
        Node::IsEmpty(t, neg) => {
            let empty = match term_value(t, env) {
                None => true,
                Some(Value::Codes(c)) => c.is_empty(),
                Some(Value::Text(s)) => s.trim().is_empty(),
                Some(_) => false,
            };
            Some(empty != *neg)
        }
        Node::Contains(t, code) => match term_value(t, env)? {
            Value::Codes(c) => Some(c.contains(code)),
            _ => None,
        },
        Node::In(t, list, neg) => {
            let v = term_value(t, env)?;
            let hit = match &v {
                Value::Codes(cs) => list
                    .iter()
                    .any(|l| matches!(l, Value::Code(c) if cs.contains(c))),
                v => list.iter().any(|l| compare(v, l) == Some(Ordering::Equal)),
            };
            Some(hit != *neg)
        }
        Node::Cmp(l, op, r) => {
            let (a, b) = (term_value(l, env)?, term_value(r, env)?);
            compare(&a, &b).map(|o| op.holds(o))
        }
    }
}
