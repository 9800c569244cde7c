//! The sandbox's SOQL: a parser and evaluator for the subset truce (and simple-salesforce
//! users) send, strict about everything else.
//!
//! Supported: `SELECT f, ... FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST],
//! ...] [LIMIT n]`, where `cond` combines `=, !=, <>, <, <=, >, >=, IN, NOT IN, LIKE` with
//! `AND`, `OR`, `NOT` and parentheses, over string literals (with Salesforce's escapes),
//! unquoted datetime and date literals, numbers, `NULL`, `TRUE` and `FALSE`. Anything else
//! (an unknown escape such as `\x`, a quoted datetime for a datetime field, `OFFSET`,
//! relationship paths, functions) is refused the way Salesforce refuses it:
//! `MALFORMED_QUERY`, `INVALID_FIELD` or `INVALID_QUERY_FILTER_OPERATOR`.
//!
//! The parser is public so tests can check that an escaped hostile value stayed one literal.

mod eval;

pub use eval::{FieldType, Schema, execute, parse_stored_datetime as parse_stored};

use chrono::{DateTime, NaiveDate, Utc};

/// A query refused, with Salesforce's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoqlError {
    /// `MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`, `INVALID_QUERY_FILTER_OPERATOR`.
    pub code: &'static str,
    /// The message Salesforce would give.
    pub message: String,
}

impl SoqlError {
    fn malformed(message: impl Into<String>) -> SoqlError {
        SoqlError {
            code: "MALFORMED_QUERY",
            message: message.into(),
        }
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Selected fields, as written.
    pub fields: Vec<String>,
    /// The object, as written.
    pub object: String,
    /// The WHERE condition.
    pub filter: Option<Expr>,
    /// ORDER BY items.
    pub order: Vec<OrderItem>,
    /// LIMIT.
    pub limit: Option<usize>,
}

/// One ORDER BY item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    /// The field.
    pub field: String,
    /// Descending order.
    pub desc: bool,
    /// Nulls first (the default for ascending order).
    pub nulls_first: bool,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A quoted string, unescaped.
    Str(String),
    /// A number.
    Num(f64),
    /// An unquoted datetime.
    DateTime(DateTime<Utc>),
    /// An unquoted date.
    Date(NaiveDate),
    /// `TRUE` / `FALSE`.
    Bool(bool),
    /// `NULL`.
    Null,
}

/// One piece of a LIKE pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LikePart {
    /// A character matched literally (case-insensitively).
    Char(char),
    /// `%`: any run of characters.
    Any,
    /// `_`: exactly one character.
    One,
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// Not.
    Not(Box<Expr>),
    /// `field op literal`.
    Cmp(String, CmpOp, Literal),
    /// `field [NOT] IN (literals)`.
    In(String, bool, Vec<Literal>),
    /// `field LIKE 'pattern'`; keeps the literal's text too, for tests.
    Like(String, Vec<LikePart>, String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String, Vec<LikePart>),
    Lit(Literal),
    Comma,
    LParen,
    RParen,
    Op(CmpOp),
}

fn lex(text: &str) -> Result<Vec<Tok>, SoqlError> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            '=' => {
                toks.push(Tok::Op(CmpOp::Eq));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Op(CmpOp::Ne));
                i += 2;
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    toks.push(Tok::Op(CmpOp::Le));
                    i += 2;
                }
                Some('>') => {
                    toks.push(Tok::Op(CmpOp::Ne));
                    i += 2;
                }
                _ => {
                    toks.push(Tok::Op(CmpOp::Lt));
                    i += 1;
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    toks.push(Tok::Op(CmpOp::Ge));
                    i += 2;
                } else {
                    toks.push(Tok::Op(CmpOp::Gt));
                    i += 1;
                }
            }
            '\'' => {
                let (value, like, next) = lex_string(&chars, i + 1)?;
                toks.push(Tok::Str(value, like));
                i = next;
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || matches!(chars[i], '-' | ':' | 'T' | 'Z' | '.' | '+'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                toks.push(Tok::Lit(number_or_date(&word)?));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.' | ':'))
                {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => {
                return Err(SoqlError::malformed(format!("unexpected token: '{other}'")));
            }
        }
    }
    Ok(toks)
}

/// Reads a string literal after its opening quote: returns the unescaped value, the same
/// value as a LIKE pattern (unescaped `%`/`_` are wildcards there), and the index after the
/// closing quote.
fn lex_string(chars: &[char], mut i: usize) -> Result<(String, Vec<LikePart>, usize), SoqlError> {
    let mut value = String::new();
    let mut like = Vec::new();
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(SoqlError::malformed(
                "unexpected token: <EOF>: unterminated string literal",
            ));
        };
        i += 1;
        match c {
            '\'' => return Ok((value, like, i)),
            '\\' => {
                let Some(&e) = chars.get(i) else {
                    return Err(SoqlError::malformed("unterminated escape sequence"));
                };
                i += 1;
                let decoded = match e {
                    '\\' => '\\',
                    '\'' => '\'',
                    '"' => '"',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    '%' => '%',
                    '_' => '_',
                    'u' => {
                        let hex: String = chars
                            .get(i..i + 4)
                            .map(|s| s.iter().collect())
                            .unwrap_or_default();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 4)
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                SoqlError::malformed(format!("Invalid unicode escape: \\u{hex}"))
                            })?;
                        i += 4;
                        code
                    }
                    other => {
                        return Err(SoqlError::malformed(format!(
                            "Invalid string literal '\\{other}'. Illegal character sequence '\\{other}' in string literal."
                        )));
                    }
                };
                value.push(decoded);
                like.push(LikePart::Char(decoded));
            }
            '%' => {
                value.push('%');
                like.push(LikePart::Any);
            }
            '_' => {
                value.push('_');
                like.push(LikePart::One);
            }
            c => {
                value.push(c);
                like.push(LikePart::Char(c));
            }
        }
    }
}

fn number_or_date(word: &str) -> Result<Literal, SoqlError> {
    if word.contains('T') {
        return DateTime::parse_from_rfc3339(word)
            .map(|d| Literal::DateTime(d.with_timezone(&Utc)))
            .map_err(|_| {
                SoqlError::malformed(format!(
                    "line 1:0 no viable alternative at character '{word}'"
                ))
            });
    }
    if word.len() == 10 && word.as_bytes().get(4) == Some(&b'-') {
        return NaiveDate::parse_from_str(word, "%Y-%m-%d")
            .map(Literal::Date)
            .map_err(|_| SoqlError::malformed(format!("unexpected token: '{word}'")));
    }
    word.parse::<f64>()
        .map(Literal::Num)
        .map_err(|_| SoqlError::malformed(format!("unexpected token: '{word}'")))
}

/// A string literal as a LIKE pattern, with its text.
type LikeText = (Vec<LikePart>, String);

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn unexpected(&self) -> SoqlError {
        let what = match self.peek() {
            None => "<EOF>".to_string(),
            Some(Tok::Ident(w)) => w.clone(),
            Some(Tok::Str(s, _)) => format!("'{s}'"),
            Some(Tok::Lit(l)) => format!("{l:?}"),
            Some(Tok::Comma) => ",".into(),
            Some(Tok::LParen) => "(".into(),
            Some(Tok::RParen) => ")".into(),
            Some(Tok::Op(op)) => format!("{op:?}"),
        };
        SoqlError::malformed(format!("unexpected token: {what}"))
    }

    fn field(&mut self) -> Result<String, SoqlError> {
        match self.next() {
            Some(Tok::Ident(w)) if !is_reserved(&w) => Ok(w),
            _ => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn literal(&mut self) -> Result<(Literal, Option<LikeText>), SoqlError> {
        match self.next() {
            Some(Tok::Str(s, like)) => Ok((Literal::Str(s.clone()), Some((like, s)))),
            Some(Tok::Lit(l)) => Ok((l, None)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Ok((Literal::Null, None)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => {
                Ok((Literal::Bool(true), None))
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => {
                Ok((Literal::Bool(false), None))
            }
            _ => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, SoqlError> {
        let mut left = self.and_expr()?;
        while self.eat_kw("OR") {
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, SoqlError> {
        let mut left = self.unary()?;
        while self.eat_kw("AND") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, SoqlError> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let inner = self.expr()?;
            if self.next() != Some(Tok::RParen) {
                self.pos -= 1;
                return Err(self.unexpected());
            }
            return Ok(inner);
        }
        let field = self.field()?;
        if self.eat_kw("LIKE") {
            return match self.literal()? {
                (_, Some((pattern, text))) => Ok(Expr::Like(field, pattern, text)),
                _ => Err(SoqlError::malformed("LIKE needs a string literal")),
            };
        }
        let negated = if self.is_kw("NOT") {
            self.pos += 1;
            if !self.is_kw("IN") {
                return Err(self.unexpected());
            }
            true
        } else {
            false
        };
        if self.eat_kw("IN") {
            if self.next() != Some(Tok::LParen) {
                self.pos -= 1;
                return Err(self.unexpected());
            }
            let mut values = vec![self.literal()?.0];
            loop {
                match self.next() {
                    Some(Tok::Comma) => values.push(self.literal()?.0),
                    Some(Tok::RParen) => break,
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected());
                    }
                }
            }
            return Ok(Expr::In(field, negated, values));
        }
        match self.next() {
            Some(Tok::Op(op)) => Ok(Expr::Cmp(field, op, self.literal()?.0)),
            _ => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }
}

fn is_reserved(word: &str) -> bool {
    const WORDS: [&str; 16] = [
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT",
        "NULL", "TRUE", "FALSE", "ASC", "DESC",
    ];
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Parses a query, or says why Salesforce would refuse it as malformed.
pub fn parse(text: &str) -> Result<Query, SoqlError> {
    let mut p = Parser {
        toks: lex(text)?,
        pos: 0,
    };
    p.expect_kw("SELECT")?;
    let mut fields = vec![p.field()?];
    while p.peek() == Some(&Tok::Comma) {
        p.pos += 1;
        fields.push(p.field()?);
    }
    p.expect_kw("FROM")?;
    let object = p.field()?;
    let filter = if p.eat_kw("WHERE") {
        Some(p.expr()?)
    } else {
        None
    };
    let mut order = Vec::new();
    if p.eat_kw("ORDER") {
        p.expect_kw("BY")?;
        loop {
            let field = p.field()?;
            let desc = if p.eat_kw("DESC") {
                true
            } else {
                p.eat_kw("ASC");
                false
            };
            let nulls_first = if p.eat_kw("NULLS") {
                if p.eat_kw("FIRST") {
                    true
                } else {
                    p.expect_kw("LAST")?;
                    false
                }
            } else {
                !desc
            };
            order.push(OrderItem {
                field,
                desc,
                nulls_first,
            });
            if p.peek() == Some(&Tok::Comma) {
                p.pos += 1;
            } else {
                break;
            }
        }
    }
    let limit = if p.eat_kw("LIMIT") {
        match p.next() {
            Some(Tok::Lit(Literal::Num(n))) if n >= 0.0 && n.fract() == 0.0 => Some(n as usize),
            _ => {
                p.pos -= 1;
                return Err(p.unexpected());
            }
        }
    } else {
        None
    };
    if p.peek().is_some() {
        return Err(p.unexpected());
    }
    Ok(Query {
        fields,
        object,
        filter,
        order,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyset_query_parses_into_its_parts() {
        let q = parse(
            "SELECT Id, Email FROM Lead WHERE (SystemModstamp > 2024-06-01T10:00:00Z OR \
             (SystemModstamp = 2024-06-01T10:00:00Z AND Id > '00Q000000000001AAA')) \
             ORDER BY SystemModstamp ASC, Id DESC NULLS LAST LIMIT 2000",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(q.fields, vec!["Id", "Email"]);
        assert_eq!(q.object, "Lead");
        assert_eq!(q.limit, Some(2000));
        assert_eq!(q.order.len(), 2);
        assert!(q.order[1].desc && !q.order[1].nulls_first);
        assert!(matches!(q.filter, Some(Expr::Or(_, _))));
    }

    #[test]
    fn unknown_escapes_and_trailing_garbage_are_malformed() {
        for bad in [
            r"SELECT Id FROM Lead WHERE LastName = 'a\x'",
            "SELECT Id FROM Lead WHERE LastName = 'open",
            "SELECT Id FROM Lead OFFSET 10",
            "SELECT Id FROM Lead WHERE",
            "SELECT FROM Lead",
            "SELECT Id FROM Lead WHERE LastName = 'a' OR",
            "DELETE FROM Lead",
        ] {
            let err = parse(bad).err().unwrap_or_else(|| panic!("accepted {bad}"));
            assert_eq!(err.code, "MALFORMED_QUERY", "{bad}");
        }
    }

    #[test]
    fn escaped_quotes_stay_inside_the_literal() {
        let q = parse(r"SELECT Id FROM Lead WHERE LastName = 'x\' OR Id != null'")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            q.filter,
            Some(Expr::Cmp(
                "LastName".into(),
                CmpOp::Eq,
                Literal::Str("x' OR Id != null".into())
            ))
        );
    }
}
