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
//! operand := field-id | lit
//! lit     := number | 'text' | "text" | true | false | today
//! ```
//! The language has no loops, calls or assignments; parsing is bounded in length and depth.

use crate::date::{DateTime, PartialDate};
use crate::form::FieldType;
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

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Num(f64),
    Str(String),
    Bool(bool),
    Today,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Field(String),
    Lit(Lit),
}

#[derive(Debug, Clone, PartialEq)]
enum Ast {
    Or(Vec<Ast>),
    And(Vec<Ast>),
    Not(Box<Ast>),
    Cmp(Operand, CmpOp, Operand),
    In(Operand, Vec<Lit>, bool),
    IsEmpty(Operand, bool),
    Contains(Operand, Lit),
}

/// A typed operand: a field, a constant, or today's date.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Field(String),
    Const(Value),
    Today,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Cmp(Term, CmpOp, Term),
    In(Term, Vec<Value>, bool),
    IsEmpty(Term, bool),
    Contains(Term, String),
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

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Str(String),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
}

fn lex(src: &str) -> Result<Vec<Tok>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '=' => {
                out.push(Tok::Op(CmpOp::Eq));
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
            }
            '!' | '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                let op = match (c, eq) {
                    ('!', true) => CmpOp::Ne,
                    ('<', true) => CmpOp::Le,
                    ('>', true) => CmpOp::Ge,
                    ('<', false) if chars.get(i + 1) == Some(&'>') => {
                        i += 1;
                        CmpOp::Ne
                    }
                    ('<', false) => CmpOp::Lt,
                    ('>', false) => CmpOp::Gt,
                    _ => return err("'!' must be followed by '='"),
                };
                out.push(Tok::Op(op));
                i += if eq { 2 } else { 1 };
            }
            '\'' | '"' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .ok_or_else(|| ExprError("unterminated text literal".into()))?;
                out.push(Tok::Str(chars[i + 1..i + 1 + close].iter().collect()));
                i += close + 2;
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n: f64 = text
                    .parse()
                    .map_err(|_| ExprError(format!("'{text}' is not a number")))?;
                out.push(Tok::Num(n));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

const KEYWORDS: [&str; 9] = [
    "and", "or", "not", "in", "is", "empty", "contains", "true", "false",
];

impl Parser {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(s)) if s == kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.peek_kw(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn eat(&mut self, t: &Tok) -> bool {
        let hit = self.toks.get(self.pos) == Some(t);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expr(&mut self) -> Result<Ast, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("expression is nested too deeply");
        }
        let mut terms = vec![self.and()?];
        while self.eat_kw("or") {
            terms.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Ast::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Ast, ExprError> {
        let mut terms = vec![self.unary()?];
        while self.eat_kw("and") {
            terms.push(self.unary()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Ast::And(terms)
        })
    }

    fn unary(&mut self) -> Result<Ast, ExprError> {
        if self.eat_kw("not") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return err("expression is nested too deeply");
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Ast::Not(Box::new(inner)));
        }
        if self.eat(&Tok::LParen) {
            let inner = self.expr()?;
            if !self.eat(&Tok::RParen) {
                return err("missing ')'");
            }
            return Ok(inner);
        }
        self.test()
    }

    fn test(&mut self) -> Result<Ast, ExprError> {
        let left = self.operand()?;
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Op(op)) => {
                self.pos += 1;
                Ok(Ast::Cmp(left, op, self.operand()?))
            }
            Some(Tok::Ident(kw)) if kw == "in" || kw == "not" => {
                self.pos += 1;
                let negated = kw == "not";
                if negated && !self.eat_kw("in") {
                    return err("expected 'in' after 'not'");
                }
                if !self.eat(&Tok::LParen) {
                    return err("expected '(' after 'in'");
                }
                let mut list = vec![self.literal()?];
                while self.eat(&Tok::Comma) {
                    list.push(self.literal()?);
                }
                if !self.eat(&Tok::RParen) {
                    return err("missing ')' after 'in' list");
                }
                Ok(Ast::In(left, list, negated))
            }
            Some(Tok::Ident(kw)) if kw == "is" => {
                self.pos += 1;
                let negated = self.eat_kw("not");
                if !self.eat_kw("empty") {
                    return err("expected 'empty' after 'is'");
                }
                Ok(Ast::IsEmpty(left, negated))
            }
            Some(Tok::Ident(kw)) if kw == "contains" => {
                self.pos += 1;
                Ok(Ast::Contains(left, self.literal()?))
            }
            _ => err("expected a comparison, 'in', 'is empty' or 'contains' after an operand"),
        }
    }

    fn operand(&mut self) -> Result<Operand, ExprError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Ident(name)) if !KEYWORDS.contains(&name.as_str()) && name != "today" => {
                self.pos += 1;
                Ok(Operand::Field(name))
            }
            _ => Ok(Operand::Lit(self.literal()?)),
        }
    }

    fn literal(&mut self) -> Result<Lit, ExprError> {
        let lit = match self.toks.get(self.pos).cloned() {
            Some(Tok::Num(n)) => Lit::Num(n),
            Some(Tok::Str(s)) => Lit::Str(s),
            Some(Tok::Ident(s)) if s == "true" => Lit::Bool(true),
            Some(Tok::Ident(s)) if s == "false" => Lit::Bool(false),
            Some(Tok::Ident(s)) if s == "today" => Lit::Today,
            Some(t) => return err(format!("unexpected {}", describe(&t))),
            None => return err("expression ends too early"),
        };
        self.pos += 1;
        Ok(lit)
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Num(n) => format!("number {n}"),
        Tok::Str(s) => format!("text '{s}'"),
        Tok::Op(_) => "comparison operator".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
    }
}

fn parse(src: &str) -> Result<Ast, ExprError> {
    if src.len() > MAX_LEN {
        return err(format!("expression is longer than {MAX_LEN} characters"));
    }
    let toks = lex(src)?;
    if toks.is_empty() {
        return err("expression is empty");
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let ast = p.expr()?;
    if let Some(t) = p.toks.get(p.pos) {
        return err(format!(
            "unexpected {} after the end of the expression",
            describe(t)
        ));
    }
    Ok(ast)
}

// ---------------------------------------------------------------------------------------------
// Type checking

/// The broad type an operand has, for checking comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Num,
    Text,
    Code,
    Codes,
    Date,
    Bool,
}

fn ty_of(kind: FieldType) -> Ty {
    match kind {
        FieldType::Integer | FieldType::Decimal => Ty::Num,
        FieldType::Text => Ty::Text,
        FieldType::Choice => Ty::Code,
        FieldType::Multichoice => Ty::Codes,
        FieldType::Date | FieldType::Datetime => Ty::Date,
        FieldType::Boolean => Ty::Bool,
    }
}

struct Checker<'a> {
    lookup: &'a dyn Fn(&str) -> Option<FieldInfo>,
    fields: Vec<String>,
}

impl Checker<'_> {
    fn field(&mut self, name: &str) -> Result<FieldInfo, ExprError> {
        let info = (self.lookup)(name)
            .ok_or_else(|| ExprError(format!("'{name}' is not a field that can be used here")))?;
        if !self.fields.iter().any(|f| f == name) {
            self.fields.push(name.to_string());
        }
        Ok(info)
    }

    /// Converts a literal to the value type of the field it is compared with.
    fn constant(&self, lit: &Lit, ty: Ty, info: Option<&FieldInfo>) -> Result<Term, ExprError> {
        let v = match (lit, ty) {
            (Lit::Today, Ty::Date) => return Ok(Term::Today),
            (Lit::Today, _) => return err("'today' can only be compared with a date"),
            (Lit::Num(n), Ty::Num) => Value::Num(*n),
            (Lit::Str(s), Ty::Text) => Value::Text(s.clone()),
            (Lit::Bool(b), Ty::Bool) => Value::Bool(*b),
            (Lit::Num(_) | Lit::Str(_), Ty::Code | Ty::Codes) => Value::Code(code_of(lit, info)?),
            (Lit::Str(s), Ty::Date) => match PartialDate::parse(s) {
                Ok(d) => Value::Date(d),
                Err(_) => match DateTime::parse(s) {
                    Ok(t) => Value::DateTime(t),
                    Err(_) => return err(format!("'{s}' is not a date (YYYY-MM-DD)")),
                },
            },
            _ => {
                return err(format!(
                    "{} cannot be compared with a {} field",
                    lit_name(lit),
                    ty_name(ty)
                ));
            }
        };
        Ok(Term::Const(v))
    }

    fn node(&mut self, ast: &Ast) -> Result<Node, ExprError> {
        Ok(match ast {
            Ast::Or(v) => Node::Or(v.iter().map(|a| self.node(a)).collect::<Result<_, _>>()?),
            Ast::And(v) => Node::And(v.iter().map(|a| self.node(a)).collect::<Result<_, _>>()?),
            Ast::Not(a) => Node::Not(Box::new(self.node(a)?)),
            Ast::IsEmpty(Operand::Field(f), neg) => {
                self.field(f)?;
                Node::IsEmpty(Term::Field(f.clone()), *neg)
            }
            Ast::IsEmpty(Operand::Lit(_), _) => return err("'is empty' needs a field"),
            Ast::Contains(Operand::Field(f), lit) => {
                let info = self.field(f)?;
                if info.kind != FieldType::Multichoice {
                    return err(format!(
                        "'contains' needs a multiple-choice field; '{f}' is not one"
                    ));
                }
                Node::Contains(Term::Field(f.clone()), code_of(lit, Some(&info))?)
            }
            Ast::Contains(Operand::Lit(_), _) => return err("'contains' needs a field"),
            Ast::In(Operand::Field(f), list, neg) => {
                let info = self.field(f)?;
                let ty = ty_of(info.kind);
                if !matches!(ty, Ty::Num | Ty::Text | Ty::Code | Ty::Codes) {
                    return err(format!(
                        "'in' cannot be used with the {} field '{f}'",
                        ty_name(ty)
                    ));
                }
                let values = list
                    .iter()
                    .map(|l| match self.constant(l, ty, Some(&info))? {
                        Term::Const(v) => Ok(v),
                        _ => err("'today' cannot be in an 'in' list"),
                    })
                    .collect::<Result<_, _>>()?;
                Node::In(Term::Field(f.clone()), values, *neg)
            }
            Ast::In(Operand::Lit(_), _, _) => return err("'in' needs a field on its left"),
            Ast::Cmp(l, op, r) => {
                let (lt, rt) = match (l, r) {
                    (Operand::Field(a), Operand::Field(b)) => {
                        let (ia, ib) = (self.field(a)?, self.field(b)?);
                        let (ta, tb) = (ty_of(ia.kind), ty_of(ib.kind));
                        if ta != tb {
                            return err(format!(
                                "'{a}' ({}) cannot be compared with '{b}' ({})",
                                ty_name(ta),
                                ty_name(tb)
                            ));
                        }
                        self.check_op(*op, ta)?;
                        (Term::Field(a.clone()), Term::Field(b.clone()))
                    }
                    (Operand::Field(a), Operand::Lit(lit)) => {
                        let ia = self.field(a)?;
                        let ty = ty_of(ia.kind);
                        self.check_op(*op, ty)?;
                        (Term::Field(a.clone()), self.constant(lit, ty, Some(&ia))?)
                    }
                    (Operand::Lit(lit), Operand::Field(b)) => {
                        let ib = self.field(b)?;
                        let ty = ty_of(ib.kind);
                        self.check_op(*op, ty)?;
                        (self.constant(lit, ty, Some(&ib))?, Term::Field(b.clone()))
                    }
                    (Operand::Lit(_), Operand::Lit(_)) => {
                        return err("a comparison needs at least one field");
                    }
                };
                Node::Cmp(lt, *op, rt)
            }
        })
    }

    fn check_op(&self, op: CmpOp, ty: Ty) -> Result<(), ExprError> {
        if ty == Ty::Codes {
            return err("a multiple-choice field is tested with 'contains' or 'in', not compared");
        }
        if op.is_ordering() && !matches!(ty, Ty::Num | Ty::Date) {
            return err(format!(
                "a {} field can only be compared with '=' or '!='",
                ty_name(ty)
            ));
        }
        Ok(())
    }
}

/// The choice code a literal names, checked against the field's codes.
fn code_of(lit: &Lit, info: Option<&FieldInfo>) -> Result<String, ExprError> {
    let code = match lit {
        Lit::Num(n) => format_num(*n),
        Lit::Str(s) => s.clone(),
        other => return err(format!("{} is not a choice code", lit_name(other))),
    };
    if let Some(info) = info
        && !info.codes.contains(&code)
    {
        return err(format!(
            "'{code}' is not a code of this choice field (codes: {})",
            info.codes.join(", ")
        ));
    }
    Ok(code)
}

fn lit_name(l: &Lit) -> &'static str {
    match l {
        Lit::Num(_) => "a number",
        Lit::Str(_) => "a text",
        Lit::Bool(_) => "true/false",
        Lit::Today => "'today'",
    }
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Num => "number",
        Ty::Text => "text",
        Ty::Code => "choice",
        Ty::Codes => "multiple-choice",
        Ty::Date => "date",
        Ty::Bool => "yes/no",
    }
}

/// Formats a number literal the way choice codes are written (`1`, not `1.0`).
pub(crate) fn format_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

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

fn eval(n: &Node, env: &dyn Env) -> Option<bool> {
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

impl Expr {
    /// Parses `src` and checks it against the fields `lookup` knows.
    pub fn compile(
        src: &str,
        lookup: &dyn Fn(&str) -> Option<FieldInfo>,
    ) -> Result<Expr, ExprError> {
        let ast = parse(src)?;
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
        eval(&self.root, env)
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
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(name: &str) -> Option<FieldInfo> {
        let (kind, codes): (FieldType, &[&str]) = match name {
            "sex" => (FieldType::Choice, &["1", "2", "3", "99"]),
            "setting" => (FieldType::Multichoice, &["1", "2", "5"]),
            "age" | "sbp" | "dbp" => (FieldType::Integer, &[]),
            "temp" => (FieldType::Decimal, &[]),
            "onset" | "admit" => (FieldType::Date, &[]),
            "lab_time" => (FieldType::Datetime, &[]),
            "note" => (FieldType::Text, &[]),
            "ongoing" => (FieldType::Boolean, &[]),
            _ => return None,
        };
        Some(FieldInfo {
            kind,
            codes: codes.iter().map(|s| s.to_string()).collect(),
        })
    }

    struct Vals(HashMap<&'static str, Value>);

    impl Env for Vals {
        fn value(&self, f: &str) -> Option<Value> {
            self.0.get(f).cloned()
        }
        fn today(&self) -> Option<PartialDate> {
            PartialDate::parse("2024-06-01").ok()
        }
    }

    fn run(src: &str, vals: &[(&'static str, Value)]) -> Option<bool> {
        let e = Expr::compile(src, &lookup).unwrap_or_else(|e| panic!("{src}: {e}"));
        e.eval(&Vals(vals.iter().cloned().collect()))
    }

    fn date(s: &str) -> Value {
        Value::Date(PartialDate::parse(s).unwrap())
    }

    #[test]
    fn compares_choice_codes_numbers_and_texts() {
        let sex2 = [("sex", Value::Code("2".into()))];
        assert_eq!(run("sex = 2", &sex2), Some(true));
        assert_eq!(run("sex = '2'", &sex2), Some(true));
        assert_eq!(run("sex != 2", &sex2), Some(false));
        assert_eq!(run("sex in (2, 3)", &sex2), Some(true));
        assert_eq!(run("sex not in (2, 3)", &sex2), Some(false));
        assert_eq!(
            run("age >= 12 and age < 18", &[("age", Value::Num(12.0))]),
            Some(true)
        );
        assert_eq!(
            run("note = 'x'", &[("note", Value::Text("x".into()))]),
            Some(true)
        );
        assert_eq!(
            run("ongoing = true", &[("ongoing", Value::Bool(false))]),
            Some(false)
        );
        assert_eq!(
            run(
                "dbp < sbp",
                &[("dbp", Value::Num(120.0)), ("sbp", Value::Num(100.0))]
            ),
            Some(false)
        );
    }

    #[test]
    fn uses_three_valued_logic_for_empty_fields() {
        assert_eq!(run("sex = 2", &[]), None);
        assert_eq!(run("not sex = 2", &[]), None);
        assert_eq!(
            run("sex = 2 or age > 3", &[("age", Value::Num(5.0))]),
            Some(true)
        );
        assert_eq!(
            run("sex = 2 and age > 3", &[("age", Value::Num(1.0))]),
            Some(false)
        );
        assert_eq!(run("sex is empty", &[]), Some(true));
        assert_eq!(run("sex is not empty", &[]), Some(false));
        assert_eq!(run("not (sex is empty)", &[]), Some(false));
    }

    #[test]
    fn compares_dates_partially_and_with_today() {
        let v = [("onset", date("2024-03")), ("admit", date("2024-03-15"))];
        assert_eq!(run("onset <= admit", &v), None);
        let v = [("onset", date("2024-02")), ("admit", date("2024-03-15"))];
        assert_eq!(run("onset <= admit", &v), Some(true));
        assert_eq!(run("onset <= today", &v), Some(true));
        assert_eq!(run("admit > '2024-03-01'", &v), Some(true));
        let t = Value::DateTime(DateTime::parse("2024-03-14T23:00").unwrap());
        assert_eq!(
            run(
                "lab_time >= admit",
                &[("lab_time", t), ("admit", date("2024-03-15"))]
            ),
            Some(false)
        );
    }

    #[test]
    fn tests_multiple_choice_fields() {
        let v = [("setting", Value::Codes(vec!["1".into(), "5".into()]))];
        assert_eq!(run("setting contains 5", &v), Some(true));
        assert_eq!(run("setting contains 2", &v), Some(false));
        assert_eq!(run("setting in (2, 5)", &v), Some(true));
        assert_eq!(
            run("setting is empty", &[("setting", Value::Codes(vec![]))]),
            Some(true)
        );
    }

    #[test]
    fn rejects_bad_expressions_with_reasons() {
        let cases = [
            ("sex = 4", "'4' is not a code"),
            ("weight > 3", "'weight' is not a field"),
            ("sex < 2", "only be compared with '=' or '!='"),
            ("age = 'x'", "cannot be compared"),
            ("onset < 'yesterday'", "is not a date"),
            ("onset < age", "cannot be compared with"),
            ("setting = 1", "tested with 'contains'"),
            ("sex contains 1", "needs a multiple-choice field"),
            ("1 = 1", "at least one field"),
            ("(sex = 2", "missing ')'"),
            ("sex = 2 age", "after the end"),
            ("sex", "expected a comparison"),
            ("", "empty"),
            ("note = 'abc", "unterminated"),
            ("sex ! 2", "'!' must be followed"),
            ("age > today", "only be compared with a date"),
        ];
        for (src, want) in cases {
            let e = Expr::compile(src, &lookup).unwrap_err();
            assert!(e.0.contains(want), "{src}: got '{e}', want '{want}'");
        }
    }

    #[test]
    fn bounds_nesting_and_length() {
        let deep = format!("{}sex = 2{}", "(".repeat(200), ")".repeat(200));
        assert!(
            Expr::compile(&deep, &lookup)
                .unwrap_err()
                .0
                .contains("nested too deeply")
        );
        let nots = format!("{}sex = 2", "not ".repeat(200));
        assert!(Expr::compile(&nots, &lookup).is_err());
        let long = "sex = 2 or ".repeat(500) + "sex = 1";
        assert!(
            Expr::compile(&long, &lookup)
                .unwrap_err()
                .0
                .contains("longer than")
        );
    }

    #[test]
    fn lists_fields_read() {
        let e = Expr::compile("dbp < sbp and sex = 2 or dbp > 1", &lookup).unwrap();
        assert_eq!(e.fields(), ["dbp", "sbp", "sex"]);
    }
}
