//! The one place SOQL text is made.
//!
//! Every query truce sends is built here, from a [`Select`] of checked parts, so no value
//! from a record can change a query's shape:
//!
//! - string values only enter as literals escaped by Salesforce's rules ([`quote`]):
//!   backslash first, then the quote and the control characters, exactly as the SOQL
//!   reference and simple-salesforce's `format.py` do;
//! - `LIKE` patterns additionally escape `%` and `_` ([`like_pattern`]);
//! - datetimes are written as SOQL datetime literals, unquoted, in UTC, without
//!   milliseconds ([`datetime_literal`]);
//! - record ids are validated against the 15/18-character shape before they are inlined
//!   ([`RecordId`]);
//! - field and object names cannot be parameterised, so they are allow-listed
//!   ([`FieldName`]): an identifier of letters, digits and underscores (custom fields end
//!   in `__c`), nothing else.
//!
//! Length limits: Salesforce caps a SOQL statement at 100,000 characters and, in older
//! APIs, a WHERE clause at 4,000. `IN (...)` lists are split by [`chunk_in_list`] so each
//! WHERE clause stays under [`MAX_WHERE_CHARS`], which also keeps a GET query URL well
//! below the 16 KB a Salesforce front end accepts.

use std::fmt::Write as _;

use chrono::{DateTime, TimeZone, Utc};

/// The longest WHERE clause truce builds (Salesforce's historical limit is 4,000).
pub const MAX_WHERE_CHARS: usize = 3_800;

/// Escapes a string for a SOQL single-quoted literal and adds the quotes.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    escape_into(&mut out, value, false);
    out.push('\'');
    out
}

/// Escapes a string for a `LIKE` pattern literal (quotes added), so `%` and `_` in the value
/// match themselves. [`Cond::Like`] adds the wildcards around it.
pub fn like_pattern(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    escape_into(&mut out, value, true);
    out
}

fn escape_into(out: &mut String, value: &str, like: bool) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '%' if like => out.push_str("\\%"),
            '_' if like => out.push_str("\\_"),
            // Other control characters have no SOQL escape; \uXXXX keeps them in the value
            // instead of letting them reach the parser raw.
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// A SOQL datetime literal for a time in ms since the epoch, truncated to the second
/// (SOQL literals carry no milliseconds): `2024-01-31T00:00:00Z`.
pub fn datetime_literal(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let at: DateTime<Utc> = Utc
        .timestamp_opt(secs, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A field or object name that may be inlined into SOQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldName(String);

impl FieldName {
    /// Accepts `Email`, `HubSpot_Contact_Id__c`; refuses anything with spaces, quotes,
    /// dots, operators or a leading digit.
    pub fn new(name: &str) -> Result<FieldName, String> {
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if first_ok && rest_ok && name.len() <= 80 && !name.contains("___") {
            Ok(FieldName(name.to_string()))
        } else {
            Err(format!("{name:?} is not a Salesforce field name"))
        }
    }

    /// A name the code itself spells (`Id`, `SystemModstamp`, `Lead`): a constant, never
    /// input, so it is not checked.
    pub(crate) fn constant(name: &'static str) -> FieldName {
        FieldName(name.to_string())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A record id checked against Salesforce's shape (15 or 18 letters and digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(String);

impl RecordId {
    /// Accepts 15- and 18-character alphanumeric ids.
    pub fn new(id: &str) -> Result<RecordId, String> {
        let ok =
            (id.len() == 15 || id.len() == 18) && id.chars().all(|c| c.is_ascii_alphanumeric());
        if ok {
            Ok(RecordId(id.to_string()))
        } else {
            Err(format!("{id:?} is not a Salesforce record id"))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A value on the right of a comparison, rendered only through the rules above.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string, escaped and quoted.
    Str(String),
    /// A checked record id, quoted.
    Id(RecordId),
    /// A datetime in ms since the epoch, as an unquoted SOQL datetime.
    DateTime(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl Literal {
    fn render(&self, out: &mut String) {
        match self {
            Literal::Str(s) => out.push_str(&quote(s)),
            Literal::Id(id) => {
                out.push('\'');
                out.push_str(id.as_str());
                out.push('\'');
            }
            Literal::DateTime(ms) => out.push_str(&datetime_literal(*ms)),
            Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Literal::Null => out.push_str("null"),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
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

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `field op literal`
    Cmp(FieldName, Op, Literal),
    /// `field IN (literals)`
    In(FieldName, Vec<Literal>),
    /// `field LIKE 'pattern'`; the pattern's own `%`/`_` are escaped, `prefix`/`suffix`
    /// wildcards are added around it.
    Like {
        /// The field matched.
        field: FieldName,
        /// The value matched literally.
        value: String,
        /// `%` before the value.
        any_prefix: bool,
        /// `%` after the value.
        any_suffix: bool,
    },
    /// All of these.
    And(Vec<Cond>),
    /// Any of these.
    Or(Vec<Cond>),
}

impl Cond {
    /// `field op literal`.
    pub fn cmp(field: &FieldName, op: Op, value: Literal) -> Cond {
        Cond::Cmp(field.clone(), op, value)
    }

    /// The keyset condition `(f > t) OR (f = t AND Id > id)`: strictly after `(t, id)`.
    pub fn after_keyset(time_field: &FieldName, ms: i64, id: &RecordId) -> Cond {
        let id_field = FieldName("Id".into());
        Cond::Or(vec![
            Cond::Cmp(time_field.clone(), Op::Gt, Literal::DateTime(ms)),
            Cond::And(vec![
                Cond::Cmp(time_field.clone(), Op::Eq, Literal::DateTime(ms)),
                Cond::Cmp(id_field, Op::Gt, Literal::Id(id.clone())),
            ]),
        ])
    }

    fn render(&self, out: &mut String) {
        match self {
            Cond::Cmp(field, op, value) => {
                out.push_str(field.as_str());
                out.push(' ');
                out.push_str(op.as_str());
                out.push(' ');
                value.render(out);
            }
            Cond::In(field, values) => {
                out.push_str(field.as_str());
                out.push_str(" IN (");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.render(out);
                }
                out.push(')');
            }
            Cond::Like {
                field,
                value,
                any_prefix,
                any_suffix,
            } => {
                out.push_str(field.as_str());
                out.push_str(" LIKE '");
                if *any_prefix {
                    out.push('%');
                }
                out.push_str(&like_pattern(value));
                if *any_suffix {
                    out.push('%');
                }
                out.push('\'');
            }
            Cond::And(parts) | Cond::Or(parts) => {
                let joiner = if matches!(self, Cond::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                out.push('(');
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(joiner);
                    }
                    p.render(out);
                }
                out.push(')');
            }
        }
    }

    /// The condition as SOQL text.
    pub fn to_soql(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }
}

/// A `SELECT ... FROM ... [WHERE] [ORDER BY] [LIMIT]` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// The object queried.
    pub object: FieldName,
    /// The selected fields, in order, without duplicates.
    pub fields: Vec<FieldName>,
    /// The WHERE condition.
    pub filter: Option<Cond>,
    /// ORDER BY fields, ascending.
    pub order_by: Vec<FieldName>,
    /// LIMIT.
    pub limit: Option<u32>,
}

impl Select {
    /// `SELECT fields FROM object`, duplicates dropped.
    pub fn new(object: &FieldName, fields: &[FieldName]) -> Select {
        let mut unique: Vec<FieldName> = Vec::with_capacity(fields.len());
        for f in fields {
            if !unique
                .iter()
                .any(|u| u.as_str().eq_ignore_ascii_case(f.as_str()))
            {
                unique.push(f.clone());
            }
        }
        Select {
            object: object.clone(),
            fields: unique,
            filter: None,
            order_by: Vec::new(),
            limit: None,
        }
    }

    /// Adds a WHERE condition.
    pub fn filter(mut self, cond: Cond) -> Select {
        self.filter = Some(cond);
        self
    }

    /// Orders by these fields, ascending.
    pub fn order_by(mut self, fields: &[&FieldName]) -> Select {
        self.order_by = fields.iter().map(|f| (*f).clone()).collect();
        self
    }

    /// Limits the number of rows.
    pub fn limit(mut self, n: u32) -> Select {
        self.limit = Some(n);
        self
    }

    /// The statement as SOQL text.
    pub fn to_soql(&self) -> String {
        let mut out = String::from("SELECT ");
        for (i, f) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(f.as_str());
        }
        out.push_str(" FROM ");
        out.push_str(self.object.as_str());
        if let Some(filter) = &self.filter {
            out.push_str(" WHERE ");
            filter.render(&mut out);
        }
        if !self.order_by.is_empty() {
            out.push_str(" ORDER BY ");
            for (i, f) in self.order_by.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(f.as_str());
                out.push_str(" ASC");
            }
        }
        if let Some(n) = self.limit {
            let _ = write!(out, " LIMIT {n}");
        }
        out
    }
}

/// Splits literals into groups whose `field IN (...)` clause stays under `max_chars`.
/// A single literal longer than the limit still gets its own group (the API will judge it).
pub fn chunk_in_list(
    field: &FieldName,
    values: Vec<Literal>,
    max_chars: usize,
) -> Vec<Vec<Literal>> {
    let base = field.as_str().len() + " IN ()".len();
    let mut groups = Vec::new();
    let mut current: Vec<Literal> = Vec::new();
    let mut len = base;
    for v in values {
        let mut rendered = String::new();
        v.render(&mut rendered);
        let add = rendered.len() + 2;
        if !current.is_empty() && len + add > max_chars {
            groups.push(std::mem::take(&mut current));
            len = base;
        }
        len += add;
        current.push(v);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> FieldName {
        FieldName::new(name).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn backslash_is_escaped_before_the_quote() {
        assert_eq!(quote(r"a\'b"), r"'a\\\'b'");
        assert_eq!(quote("O'Brien"), r"'O\'Brien'");
        assert_eq!(quote("l1\nl2\t\"x\""), r#"'l1\nl2\t\"x\"'"#);
        assert_eq!(quote("bell\u{7}"), r"'bell\u0007'");
    }

    #[test]
    fn like_patterns_escape_wildcards_only_inside_like() {
        assert_eq!(quote("50%_off"), "'50%_off'");
        assert_eq!(like_pattern("50%_off"), r"50\%\_off");
    }

    #[test]
    fn datetimes_are_unquoted_utc_without_milliseconds() {
        assert_eq!(datetime_literal(1_717_236_000_123), "2024-06-01T10:00:00Z");
        assert_eq!(datetime_literal(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn names_and_ids_outside_the_allow_list_are_refused() {
        assert!(FieldName::new("HubSpot_Contact_Id__c").is_ok());
        for bad in [
            "",
            "Email, Id",
            "1x",
            "Id--",
            "a b",
            "Name'",
            "Account.Name",
        ] {
            assert!(FieldName::new(bad).is_err(), "{bad}");
        }
        assert!(RecordId::new("00Q5e00000AbCdEEAV").is_ok());
        assert!(RecordId::new("00Q5e00000AbCdE").is_ok());
        assert!(RecordId::new("00Q5e00000AbCd'").is_err());
        assert!(RecordId::new("00Q5e00000AbCdEEA").is_err());
    }

    #[test]
    fn keyset_query_reads_strictly_after_the_cursor() {
        let id = RecordId::new("00Q000000000001AAA").unwrap_or_else(|e| panic!("{e}"));
        let q = Select::new(&f("Lead"), &[f("Id"), f("SystemModstamp"), f("Id")])
            .filter(Cond::after_keyset(
                &f("SystemModstamp"),
                1_717_236_000_000,
                &id,
            ))
            .order_by(&[&f("SystemModstamp"), &f("Id")])
            .limit(2000);
        assert_eq!(
            q.to_soql(),
            "SELECT Id, SystemModstamp FROM Lead WHERE (SystemModstamp > 2024-06-01T10:00:00Z OR \
             (SystemModstamp = 2024-06-01T10:00:00Z AND Id > '00Q000000000001AAA')) \
             ORDER BY SystemModstamp ASC, Id ASC LIMIT 2000"
        );
    }

    #[test]
    fn in_lists_are_chunked_under_the_where_limit() {
        let values: Vec<Literal> = (0..1000)
            .map(|i| Literal::Str(format!("person{i}@example.com")))
            .collect();
        let field = f("Email");
        let groups = chunk_in_list(&field, values, MAX_WHERE_CHARS);
        assert!(groups.len() > 1);
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 1000);
        for g in groups {
            let text = Cond::In(field.clone(), g).to_soql();
            assert!(text.len() <= MAX_WHERE_CHARS, "{}", text.len());
        }
    }
}
