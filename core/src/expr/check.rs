//! The type checker: every field an expression names must exist where it is used, choice
//! codes must be the field's own, and comparisons must be between operands of one type. It
//! turns the syntax tree into the typed tree that is evaluated.

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

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Cmp(Term, CmpOp, Term),
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
