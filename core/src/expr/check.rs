//! The type checker: every field an expression names must exist where it is used, choice
//! codes must be the field's own, comparisons must be between operands of one type, and a
//! function must be a known one given the arguments it takes. It turns the syntax tree into
//! the typed tree that is evaluated.

use super::parse::{Ast, Lit, Operand};
use super::{CmpOp, ExprError, FieldInfo, Value, err, format_num};
use crate::date::{DateTime, PartialDate};
use crate::form::FieldType;

/// A typed operand: a field, a constant, or today's date.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Term {
    Field(String),
    Const(Value),
    Today,
}

/// A function of the language: each takes two dates (date or datetime fields, or `today`) and
/// gives a whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    /// Days from the first date to the second (negative when the second is earlier).
    DaysBetween,
    /// Completed years from the first date to the second, as an age is counted.
    YearsBetween,
}

impl Func {
    fn name(self) -> &'static str {
        match self {
            Func::DaysBetween => "days_between",
            Func::YearsBetween => "years_between",
        }
    }
}

/// An operand of a comparison in which a function takes part: numbers only.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum NumTerm {
    /// A number field.
    Field(String),
    Const(f64),
    /// A function of two dates, each a date field, a datetime field or today.
    Call(Func, Term, Term),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Cmp(Term, CmpOp, Term),
    /// A comparison of numbers in which at least one side is a function's result.
    NumCmp(NumTerm, CmpOp, NumTerm),
    In(Term, Vec<Value>, bool),
    IsEmpty(Term, bool),
    Contains(Term, String),
}

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

pub(super) struct Checker<'a> {
    pub(super) lookup: &'a dyn Fn(&str) -> Option<FieldInfo>,
    pub(super) fields: Vec<String>,
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

    pub(super) fn node(&mut self, ast: &Ast) -> Result<Node, ExprError> {
        Ok(match ast {
            Ast::Or(v) => Node::Or(v.iter().map(|a| self.node(a)).collect::<Result<_, _>>()?),
            Ast::And(v) => Node::And(v.iter().map(|a| self.node(a)).collect::<Result<_, _>>()?),
            Ast::Not(a) => Node::Not(Box::new(self.node(a)?)),
            Ast::Cmp(l, op, r)
                if matches!(l, Operand::Call(..)) || matches!(r, Operand::Call(..)) =>
            {
                let (lt, rt) = (self.num_term(l, r)?, self.num_term(r, l)?);
                let reads_field = |t: &NumTerm| match t {
                    NumTerm::Field(_) => true,
                    NumTerm::Const(_) => false,
                    NumTerm::Call(_, a, b) => {
                        matches!(a, Term::Field(_)) || matches!(b, Term::Field(_))
                    }
                };
                if !reads_field(&lt) && !reads_field(&rt) {
                    return err("a comparison needs at least one field");
                }
                Node::NumCmp(lt, *op, rt)
            }
            Ast::IsEmpty(Operand::Call(name, _), _) => {
                return err(format!("'is empty' needs a field, not {name}(...)"));
            }
            Ast::Contains(Operand::Call(name, _), _) => {
                return err(format!("'contains' needs a field, not {name}(...)"));
            }
            Ast::In(Operand::Call(name, _), _, _) => {
                return err(format!(
                    "'in' needs a field on its left, not {name}(...); compare it with \
                     '=', '<', '<=', '>' or '>='"
                ));
            }
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
                    // Comparisons with a function's result are checked above.
                    (Operand::Call(..), _) | (_, Operand::Call(..)) => {
                        return err("a function's result is compared with a number");
                    }
                };
                Node::Cmp(lt, *op, rt)
            }
        })
    }

    /// One side of a comparison in which a function takes part: a number field, a number, or
    /// a function's result. `other` is the other side, for the error messages.
    fn num_term(&mut self, o: &Operand, other: &Operand) -> Result<NumTerm, ExprError> {
        match o {
            Operand::Call(name, args) => self.call(name, args),
            Operand::Lit(Lit::Num(n)) => Ok(NumTerm::Const(*n)),
            Operand::Lit(lit) => err(format!(
                "{} cannot be compared with {}, which is a number",
                lit_name(lit),
                call_text(other)
            )),
            Operand::Field(f) => {
                let ty = ty_of(self.field(f)?.kind);
                if ty != Ty::Num {
                    return err(format!(
                        "'{f}' ({}) cannot be compared with {}, which is a number",
                        ty_name(ty),
                        call_text(other)
                    ));
                }
                Ok(NumTerm::Field(f.clone()))
            }
        }
    }

    /// A call of one of the language's functions, with its arguments checked.
    fn call(&mut self, name: &str, args: &[Operand]) -> Result<NumTerm, ExprError> {
        let func = match name {
            "days_between" => Func::DaysBetween,
            "years_between" => Func::YearsBetween,
            _ => {
                return err(format!(
                    "'{name}' is not a function of the language (it has days_between and \
                     years_between)"
                ));
            }
        };
        let [a, b] = args else {
            return err(format!(
                "{name} takes 2 arguments, {name}(from, to), not {}",
                args.len()
            ));
        };
        Ok(NumTerm::Call(
            func,
            self.date_arg(func, a)?,
            self.date_arg(func, b)?,
        ))
    }

    /// An argument of a date function: a date or datetime field, or `today`.
    fn date_arg(&mut self, func: Func, arg: &Operand) -> Result<Term, ExprError> {
        let name = func.name();
        match arg {
            Operand::Field(f) => {
                let kind = self.field(f)?.kind;
                if !matches!(kind, FieldType::Date | FieldType::Datetime) {
                    return err(format!(
                        "{name} needs date or datetime fields or 'today'; '{f}' is a {} field",
                        ty_name(ty_of(kind))
                    ));
                }
                Ok(Term::Field(f.clone()))
            }
            Operand::Lit(Lit::Today) => Ok(Term::Today),
            Operand::Lit(lit) => err(format!(
                "{name} needs date or datetime fields or 'today', not {}",
                lit_name(lit)
            )),
            Operand::Call(inner, _) => err(format!(
                "{name} needs date or datetime fields or 'today', not {inner}(...)"
            )),
        }
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

/// How an operand compared with a number is named in a message.
fn call_text(o: &Operand) -> String {
    match o {
        Operand::Call(name, _) => format!("{name}(...)"),
        Operand::Field(f) => format!("'{f}'"),
        Operand::Lit(l) => lit_name(l).to_string(),
    }
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
