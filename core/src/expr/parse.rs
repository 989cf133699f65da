//! Reading an expression's text: the lexer and a recursive-descent parser (bounded in length
//! and nesting depth) producing the untyped syntax tree.

use super::{CmpOp, ExprError, MAX_DEPTH, MAX_LEN, err};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Lit {
    Num(f64),
    Str(String),
    Bool(bool),
    Today,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    Field(String),
    Lit(Lit),
    /// A function applied to its arguments (`days_between(a, b)`); the name and the number
    /// and kinds of arguments are checked by the type checker.
    Call(String, Vec<Operand>),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ast {
    Or(Vec<Ast>),
    And(Vec<Ast>),
    Not(Box<Ast>),
    Cmp(Operand, CmpOp, Operand),
    In(Operand, Vec<Lit>, bool),
    IsEmpty(Operand, bool),
    Contains(Operand, Lit),
}

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
                if self.eat(&Tok::LParen) {
                    return self.call(name);
                }
                Ok(Operand::Field(name))
            }
            _ => Ok(Operand::Lit(self.literal()?)),
        }
    }

    /// The arguments of a call, after its `(`. Arguments are operands, so calls nest; the
    /// nesting counts towards the expression's depth bound.
    fn call(&mut self, name: String) -> Result<Operand, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("expression is nested too deeply");
        }
        let mut args = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                args.push(self.operand()?);
                if self.eat(&Tok::RParen) {
                    break;
                }
                if !self.eat(&Tok::Comma) {
                    return match self.toks.get(self.pos) {
                        None => err(format!("missing ')' after the arguments of {name}")),
                        Some(t) => err(format!(
                            "expected ',' or ')' after an argument of {name}, not {}",
                            describe(t)
                        )),
                    };
                }
            }
        }
        self.depth -= 1;
        Ok(Operand::Call(name, args))
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

pub(super) fn parse(src: &str) -> Result<Ast, ExprError> {
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
