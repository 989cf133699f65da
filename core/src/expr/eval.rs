//! Evaluation with three-valued logic: a test on an empty field or values that cannot be
//! compared is unknown (`None`); `or` and `and` decide when any operand does.
//!
//! The date functions reason over intervals: a partial date stands for every day it may be
//! (`2024-03` for 1 to 31 March), so a function of it gives a range of whole numbers, and a
//! comparison is decided only when it comes out the same for every number in the range.

use super::check::{Func, Node, NumTerm, Term};
use super::{CmpOp, Env, Value};
use crate::date::PartialDate;
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
        Node::NumCmp(l, op, r) => decide(num_value(l, env)?, *op, num_value(r, env)?),
    }
}

/// The first and last day a date may be: the date itself when it is full, the month or the
/// year when it is partial. `None` when it names no real day. A datetime counts by its date
/// as written (its time and UTC offset are not used).
fn date_span(v: &Value) -> Option<(PartialDate, PartialDate)> {
    let d = match v {
        Value::Date(d) => *d,
        Value::DateTime(t) => t.date,
        _ => return None,
    };
    let year = d.year;
    match (d.month, d.day) {
        (None, _) => Some((
            PartialDate::ymd(year, 1, 1)?,
            PartialDate::ymd(year, 12, 31)?,
        )),
        (Some(m), None) => Some((
            PartialDate::ymd(year, m, 1)?,
            (28..=31)
                .rev()
                .find_map(|day| PartialDate::ymd(year, m, day))?,
        )),
        (Some(m), Some(day)) => {
            let full = PartialDate::ymd(year, m, day)?;
            Some((full, full))
        }
    }
}

/// A number compared: exact (a number field or constant), or a function's result, which is
/// any whole number from the first bound to the second (one number when its dates are full).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Exact(f64),
    Whole(i64, i64),
}

fn num_value(t: &NumTerm, env: &dyn Env) -> Option<Num> {
    match t {
        NumTerm::Const(n) => Some(Num::Exact(*n)),
        NumTerm::Field(f) => match env.value(f)? {
            Value::Num(n) if !n.is_nan() => Some(Num::Exact(n)),
            _ => None,
        },
        NumTerm::Call(func, a, b) => {
            let (a_first, a_last) = date_span(&term_value(a, env)?)?;
            let (b_first, b_last) = date_span(&term_value(b, env)?)?;
            // Both functions grow with the second date and shrink with the first: the least
            // is from the first date's last day to the second's first, the most the reverse.
            let (low, high) = match func {
                Func::DaysBetween => (
                    b_first.days_since_epoch()? - a_last.days_since_epoch()?,
                    b_last.days_since_epoch()? - a_first.days_since_epoch()?,
                ),
                Func::YearsBetween => {
                    (a_last.years_until(&b_first)?, a_first.years_until(&b_last)?)
                }
            };
            Some(Num::Whole(low, high))
        }
    }
}

/// Decides a comparison of two numbers when it holds, or fails, for every value either may
/// have; otherwise it is unknown.
fn decide(a: Num, op: CmpOp, b: Num) -> Option<bool> {
    let bounds = |n: Num| match n {
        Num::Exact(x) => (x, x),
        Num::Whole(lo, hi) => (lo as f64, hi as f64),
    };
    let ((a_lo, a_hi), (b_lo, b_hi)) = (bounds(a), bounds(b));
    let can_be_equal = match (a, b) {
        (Num::Exact(x), Num::Exact(y)) => x == y,
        (Num::Exact(x), Num::Whole(lo, hi)) | (Num::Whole(lo, hi), Num::Exact(x)) => {
            x.fract() == 0.0 && lo as f64 <= x && x <= hi as f64
        }
        (Num::Whole(lo1, hi1), Num::Whole(lo2, hi2)) => lo1 <= hi2 && lo2 <= hi1,
    };
    let possible = [
        (Ordering::Less, a_lo < b_hi),
        (Ordering::Equal, can_be_equal),
        (Ordering::Greater, a_hi > b_lo),
    ];
    let mut outcomes = possible
        .iter()
        .filter(|(_, can)| *can)
        .map(|(o, _)| op.holds(*o));
    let first = outcomes.next()?;
    outcomes.all(|x| x == first).then_some(first)
}
