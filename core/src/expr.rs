//! The skip-logic and rule expression language: parsed, type-checked against the form, and
//! evaluated with three-valued logic (true, false, unknown).
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | test
//! test    := operand ( cmp operand | ["not"] "in" "(" lit ("," lit)* ")"
//!                    | "is" ["not"] "empty" | "contains" lit )
//! cmp     := "=" | "!=" | "<" | "<=" | ">" | ">="
//! operand := field-id | lit | call
//! call    := func "(" date "," date ")"
//! func    := "days_between" | "years_between"
//! date    := field-id | today
//! lit     := number | 'text' | "text" | true | false | today
//! ```
//! Besides comparisons the language has two pure functions, each of two dates (a date or
//! datetime field, or `today`) and giving a whole number that is compared with a number, a
//! number field or another call:
//!
//! - `days_between(a, b)`: days from `a` to `b` (`b - a`, negative when `b` is earlier); a
//!   datetime counts by its calendar date as written.
//! - `years_between(a, b)`: completed years from `a` to `b`, as an age is counted (a year is
//!   complete on the same month and day; from 29 February, on 1 March in a common year);
//!   negative (minus the completed years from `b` to `a`) when `b` is earlier.
//!
//! A partial date stands for every day it may be, so a function of it has a range of values
//! and a comparison with it is decided only when it comes out the same over the whole range;
//! otherwise it is unknown, like a comparison with an empty field.
//!
//! The language has no loops, assignments or user-defined functions; parsing is bounded in
//! length and depth (nested parentheses, `not`s and calls).
//!
//! - `parse`: the lexer and parser (text to syntax tree).
//! - `check`: the type checker (syntax tree to typed tree, against the form's fields).
//! - `eval`: three-valued evaluation of the typed tree.

mod check;
mod eval;
mod parse;

use crate::date::{DateTime, PartialDate};
use crate::form::FieldType;
use check::{Checker, Node};
use std::cmp::Ordering;
use std::fmt;

const MAX_LEN: usize = 4096;
const MAX_DEPTH: usize = 48;

/// A value an expression reads from a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Text(String),
    /// A single-choice code.
    Code(String),
    /// Multiple-choice codes.
    Codes(Vec<String>),
    Date(PartialDate),
    DateTime(DateTime),
    Bool(bool),
}

/// What an expression is evaluated against.
pub trait Env {
    /// The effective value of a field (`None` when empty or hidden).
    fn value(&self, field: &str) -> Option<Value>;
    /// Today's date, when known.
    fn today(&self) -> Option<PartialDate>;
}

/// What the type checker needs to know of a field an expression names.
#[derive(Debug, Clone)]
pub struct FieldInfo {
    pub kind: FieldType,
    /// Valid codes, for choice fields.
    pub codes: Vec<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }

    fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// A parsed and type-checked expression, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    root: Node,
    fields: Vec<String>,
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError(msg.into()))
}

/// Formats a number literal the way choice codes are written (`1`, not `1.0`).
pub(crate) fn format_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl Expr {
    /// Parses `src` and checks it against the fields `lookup` knows.
    pub fn compile(
        src: &str,
        lookup: &dyn Fn(&str) -> Option<FieldInfo>,
    ) -> Result<Expr, ExprError> {
        let ast = parse::parse(src)?;
        let mut checker = Checker {
            lookup,
            fields: Vec::new(),
        };
        let root = checker.node(&ast)?;
        Ok(Expr {
            source: src.to_string(),
            root,
            fields: checker.fields,
        })
    }

    /// Evaluates the expression: `None` when it cannot be decided.
    pub fn eval(&self, env: &dyn Env) -> Option<bool> {
        eval::eval(&self.root, env)
    }

    /// The fields the expression reads, in order of first mention.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests;
