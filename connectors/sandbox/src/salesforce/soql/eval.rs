//! Runs a parsed [`Query`] over rows, with Salesforce's typing rules: string comparisons
//! are case-insensitive, ids compare on their 15-character case-sensitive form, datetimes
//! compare as instants and must be unquoted, `!=` and `NOT IN` include nulls.

use std::cmp::Ordering;
use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::{CmpOp, Expr, LikePart, Literal, OrderItem, Query, SoqlError};

/// A field's type, as far as queries care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A record id (`Id`).
    Id,
    /// A reference to another record.
    Reference,
    /// Text of any kind (string, email, phone, picklist, textarea, url).
    Text,
    /// `boolean`.
    Boolean,
    /// `datetime`.
    DateTime,
    /// `date`.
    Date,
    /// `double`, `currency`, `int`.
    Number,
}

/// The fields of one object, for resolving names case-insensitively.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The object's API name.
    pub object: String,
    /// Field API names and types.
    pub fields: Vec<(String, FieldType)>,
}

impl Schema {
    fn resolve(&self, name: &str) -> Result<(String, FieldType), SoqlError> {
        self.fields
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(name))
            .cloned()
            .ok_or_else(|| SoqlError {
                code: "INVALID_FIELD",
                message: format!(
                    "No such column '{name}' on entity '{}'. If you are attempting to use a \
                     custom field, be sure to append the '__c' after the custom field name. \
                     Please reference your WSDL or the describe call for the appropriate names.",
                    self.object
                ),
            })
    }
}

enum Compiled {
    And(Box<Compiled>, Box<Compiled>),
    Or(Box<Compiled>, Box<Compiled>),
    Not(Box<Compiled>),
    Cmp(String, FieldType, CmpOp, Literal),
    In(String, FieldType, bool, Vec<Literal>),
    /// `IN` on a text or id field, as a set of comparison keys: a lookup of hundreds of
    /// emails stays one hash probe per row.
    InKeys(String, FieldType, bool, HashSet<String>, bool),
    Like(String, Vec<LikePart>),
}

fn type_error(field: &str, ty: FieldType) -> SoqlError {
    let message = match ty {
        FieldType::DateTime => format!(
            "value of filter criterion for field '{field}' must be of type dateTime and should not be enclosed in quotes"
        ),
        FieldType::Date => format!(
            "value of filter criterion for field '{field}' must be of type date and should not be enclosed in quotes"
        ),
        FieldType::Boolean => format!(
            "value of filter criterion for field '{field}' must be of type boolean and should not be enclosed in quotes"
        ),
        FieldType::Number => format!(
            "value of filter criterion for field '{field}' must be of type double and should not be enclosed in quotes"
        ),
        _ => format!(
            "value of filter criterion for field '{field}' must be of type string and should be enclosed in quotes"
        ),
    };
    SoqlError {
        code: "INVALID_QUERY_FILTER_OPERATOR",
        message,
    }
}

fn check_literal(field: &str, ty: FieldType, lit: &Literal) -> Result<(), SoqlError> {
    let ok = matches!(
        (ty, lit),
        (_, Literal::Null)
            | (
                FieldType::Id | FieldType::Reference | FieldType::Text,
                Literal::Str(_)
            )
            | (FieldType::Boolean, Literal::Bool(_))
            | (FieldType::DateTime, Literal::DateTime(_))
            | (FieldType::Date, Literal::Date(_))
            | (FieldType::Number, Literal::Num(_))
    );
    if ok {
        Ok(())
    } else {
        Err(type_error(field, ty))
    }
}

fn compile(expr: &Expr, schema: &Schema) -> Result<Compiled, SoqlError> {
    Ok(match expr {
        Expr::And(a, b) => {
            Compiled::And(Box::new(compile(a, schema)?), Box::new(compile(b, schema)?))
        }
        Expr::Or(a, b) => {
            Compiled::Or(Box::new(compile(a, schema)?), Box::new(compile(b, schema)?))
        }
        Expr::Not(a) => Compiled::Not(Box::new(compile(a, schema)?)),
        Expr::Cmp(field, op, lit) => {
            let (name, ty) = schema.resolve(field)?;
            check_literal(&name, ty, lit)?;
            if matches!(lit, Literal::Null) && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(SoqlError {
                    code: "INVALID_QUERY_FILTER_OPERATOR",
                    message: format!("invalid operator on null for field '{name}'"),
                });
            }
            Compiled::Cmp(name, ty, *op, lit.clone())
        }
        Expr::In(field, negated, lits) => {
            let (name, ty) = schema.resolve(field)?;
            for lit in lits {
                check_literal(&name, ty, lit)?;
            }
            match text_keys(ty, lits) {
                Some((keys, null)) => Compiled::InKeys(name, ty, *negated, keys, null),
                None => Compiled::In(name, ty, *negated, lits.clone()),
            }
        }
        Expr::Like(field, pattern, _) => {
            let (name, ty) = schema.resolve(field)?;
            if !matches!(ty, FieldType::Text | FieldType::Id | FieldType::Reference) {
                return Err(SoqlError {
                    code: "INVALID_QUERY_FILTER_OPERATOR",
                    message: format!("invalid operator on field '{name}': LIKE needs a text field"),
                });
            }
            Compiled::Like(name, pattern.clone())
        }
    })
}

/// Parses a datetime as the sandbox stores it (`2024-06-01T10:00:00.000+0000`).
pub fn parse_stored_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn id15(s: &str) -> &str {
    s.get(..15).unwrap_or(s)
}

/// The key a text or id value compares by: ids on their first 15 characters, text without
/// regard to case. `None` for other types.
fn text_key(ty: FieldType, value: &str) -> Option<String> {
    match ty {
        FieldType::Id | FieldType::Reference => Some(id15(value).to_string()),
        FieldType::Text => Some(value.to_lowercase()),
        _ => None,
    }
}

/// The keys of an `IN` list on a text or id field, and whether it holds `null`.
fn text_keys(ty: FieldType, lits: &[Literal]) -> Option<(HashSet<String>, bool)> {
    let mut keys = HashSet::with_capacity(lits.len());
    let mut null = false;
    for lit in lits {
        match lit {
            Literal::Str(s) => {
                keys.insert(text_key(ty, s)?);
            }
            Literal::Null => null = true,
            _ => return None,
        }
    }
    Some((keys, null))
}

/// Compares a stored value to a literal; `None` when either is null or they do not compare.
fn compare(ty: FieldType, value: &Value, lit: &Literal) -> Option<Ordering> {
    match (ty, value, lit) {
        (FieldType::Id | FieldType::Reference, Value::String(v), Literal::Str(l)) => {
            Some(id15(v).cmp(id15(l)))
        }
        (FieldType::Text, Value::String(v), Literal::Str(l)) => {
            Some(v.to_lowercase().cmp(&l.to_lowercase()))
        }
        (FieldType::Boolean, Value::Bool(v), Literal::Bool(l)) => Some(v.cmp(l)),
        (FieldType::Number, Value::Number(v), Literal::Num(l)) => v.as_f64()?.partial_cmp(l),
        (FieldType::DateTime, Value::String(v), Literal::DateTime(l)) => {
            Some(parse_stored_datetime(v)?.cmp(l))
        }
        (FieldType::Date, Value::String(v), Literal::Date(l)) => {
            Some(NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?.cmp(l))
        }
        _ => None,
    }
}

fn equals(ty: FieldType, value: &Value, lit: &Literal) -> bool {
    match lit {
        Literal::Null => value.is_null(),
        _ => compare(ty, value, lit) == Some(Ordering::Equal),
    }
}

fn like_match(pattern: &[LikePart], text: &[char]) -> bool {
    // Iterative wildcard matching with backtracking to the last `%`.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(LikePart::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(LikePart::One) => {
                p += 1;
                t += 1;
            }
            Some(LikePart::Char(c)) if c.to_lowercase().eq(text[t].to_lowercase()) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|x| *x == LikePart::Any)
}

fn matches(c: &Compiled, row: &Map<String, Value>) -> bool {
    match c {
        Compiled::And(a, b) => matches(a, row) && matches(b, row),
        Compiled::Or(a, b) => matches(a, row) || matches(b, row),
        Compiled::Not(a) => !matches(a, row),
        Compiled::Cmp(field, ty, op, lit) => {
            let value = row.get(field).unwrap_or(&Value::Null);
            match op {
                CmpOp::Eq => equals(*ty, value, lit),
                CmpOp::Ne => !equals(*ty, value, lit),
                _ => match compare(*ty, value, lit) {
                    Some(ord) => match op {
                        CmpOp::Lt => ord == Ordering::Less,
                        CmpOp::Le => ord != Ordering::Greater,
                        CmpOp::Gt => ord == Ordering::Greater,
                        CmpOp::Ge => ord != Ordering::Less,
                        CmpOp::Eq | CmpOp::Ne => false,
                    },
                    None => false,
                },
            }
        }
        Compiled::In(field, ty, negated, lits) => {
            let value = row.get(field).unwrap_or(&Value::Null);
            let hit = lits.iter().any(|l| equals(*ty, value, l));
            hit != *negated
        }
        Compiled::InKeys(field, ty, negated, keys, null) => {
            let hit = match row.get(field) {
                None | Some(Value::Null) => *null,
                Some(Value::String(v)) => text_key(*ty, v).is_some_and(|k| keys.contains(&k)),
                Some(_) => false,
            };
            hit != *negated
        }
        Compiled::Like(field, pattern) => match row.get(field) {
            Some(Value::String(s)) => like_match(pattern, &s.chars().collect::<Vec<_>>()),
            _ => false,
        },
    }
}

type Keyed<'a> = (Vec<Option<SortVal>>, &'a Map<String, Value>);

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortVal {
    Text(String),
    Num(f64),
    Bool(bool),
}

fn sort_val(ty: FieldType, value: &Value) -> Option<SortVal> {
    match (ty, value) {
        (_, Value::Null) => None,
        (FieldType::Id | FieldType::Reference, Value::String(s)) => {
            Some(SortVal::Text(id15(s).to_string()))
        }
        (FieldType::DateTime, Value::String(s)) => Some(SortVal::Num(
            parse_stored_datetime(s)?.timestamp_millis() as f64,
        )),
        (FieldType::Date, Value::String(s)) => Some(SortVal::Text(s.clone())),
        (_, Value::String(s)) => Some(SortVal::Text(s.to_lowercase())),
        (_, Value::Bool(b)) => Some(SortVal::Bool(*b)),
        (_, Value::Number(n)) => Some(SortVal::Num(n.as_f64().unwrap_or(0.0))),
        _ => None,
    }
}

fn cmp_keys(a: &[Option<SortVal>], b: &[Option<SortVal>], order: &[OrderItem]) -> Ordering {
    for ((x, y), item) in a.iter().zip(b).zip(order) {
        let ord = match (x, y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => {
                if item.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (Some(_), None) => {
                if item.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(y).unwrap_or(Ordering::Equal);
                if item.desc { o.reverse() } else { o }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Runs `query` over `rows` (all rows of `schema.object`, in id order): filters, orders,
/// limits and projects onto the selected fields (canonical names).
pub fn execute<'a>(
    query: &Query,
    schema: &Schema,
    rows: impl Iterator<Item = &'a Map<String, Value>>,
) -> Result<Vec<Map<String, Value>>, SoqlError> {
    let selected = query
        .fields
        .iter()
        .map(|f| schema.resolve(f).map(|(name, _)| name))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = query
        .filter
        .as_ref()
        .map(|f| compile(f, schema))
        .transpose()?;
    let order = query
        .order
        .iter()
        .map(|o| schema.resolve(&o.field))
        .collect::<Result<Vec<_>, _>>()?;
    let mut hits: Vec<&Map<String, Value>> = rows
        .filter(|row| filter.as_ref().is_none_or(|f| matches(f, row)))
        .collect();
    if !order.is_empty() {
        let mut keyed: Vec<Keyed<'_>> = hits
            .into_iter()
            .map(|row| {
                let key = order
                    .iter()
                    .map(|(name, ty)| sort_val(*ty, row.get(name).unwrap_or(&Value::Null)))
                    .collect();
                (key, row)
            })
            .collect();
        keyed.sort_by(|a, b| cmp_keys(&a.0, &b.0, &query.order));
        hits = keyed.into_iter().map(|(_, row)| row).collect();
    }
    if let Some(limit) = query.limit {
        hits.truncate(limit);
    }
    Ok(hits
        .into_iter()
        .map(|row| {
            selected
                .iter()
                .map(|name| (name.clone(), row.get(name).cloned().unwrap_or(Value::Null)))
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema {
            object: "Lead".into(),
            fields: vec![
                ("Id".into(), FieldType::Id),
                ("LastName".into(), FieldType::Text),
                ("SystemModstamp".into(), FieldType::DateTime),
                ("IsConverted".into(), FieldType::Boolean),
            ],
        }
    }

    fn rows() -> Vec<Map<String, Value>> {
        [
            json!({"Id":"00Q000000000001AAA","LastName":"O'Brien","SystemModstamp":"2024-06-01T10:00:00.000+0000","IsConverted":false}),
            json!({"Id":"00Q000000000002AAA","LastName":"50%_off","SystemModstamp":"2024-06-01T10:00:00.000+0000","IsConverted":true}),
            json!({"Id":"00Q000000000003AAA","LastName":null,"SystemModstamp":"2024-06-01T11:00:00.000+0000","IsConverted":false}),
        ]
        .into_iter()
        .filter_map(|v| v.as_object().cloned())
        .collect()
    }

    fn run(text: &str) -> Result<Vec<String>, SoqlError> {
        let q = parse(text)?;
        let rows = rows();
        Ok(execute(&q, &schema(), rows.iter())?
            .into_iter()
            .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    #[test]
    fn in_lists_match_text_without_case_ids_on_15_characters_and_null() {
        assert_eq!(
            run("SELECT Id FROM Lead WHERE LastName IN ('O\\'BRIEN', '50%_OFF')").unwrap(),
            ["00Q000000000001AAA", "00Q000000000002AAA"]
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE Id IN ('00Q000000000003')").unwrap(),
            ["00Q000000000003AAA"]
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE LastName IN (null, 'nobody')").unwrap(),
            ["00Q000000000003AAA"]
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE LastName NOT IN ('o\\'brien', null)").unwrap(),
            ["00Q000000000002AAA"]
        );
    }

    #[test]
    fn comparisons_follow_salesforce_typing() {
        assert_eq!(
            run("SELECT Id FROM Lead WHERE lastname = 'o\\'brien'")
                .ok()
                .map(|v| v.len()),
            Some(1)
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE LastName != 'x'")
                .ok()
                .map(|v| v.len()),
            Some(3)
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE LastName = null")
                .ok()
                .map(|v| v.len()),
            Some(1)
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE SystemModstamp > 2024-06-01T10:00:00Z").ok(),
            Some(vec!["00Q000000000003AAA".to_string()])
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE SystemModstamp = '2024-06-01T10:00:00Z'")
                .err()
                .map(|e| e.code),
            Some("INVALID_QUERY_FILTER_OPERATOR")
        );
        assert_eq!(
            run("SELECT Nope FROM Lead").err().map(|e| e.code),
            Some("INVALID_FIELD")
        );
    }

    #[test]
    fn like_treats_escaped_wildcards_literally() {
        assert_eq!(
            run("SELECT Id FROM Lead WHERE LastName LIKE '50\\%\\_off'")
                .ok()
                .map(|v| v.len()),
            Some(1)
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE LastName LIKE '50\\%\\_'")
                .ok()
                .map(|v| v.len()),
            Some(0)
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE LastName LIKE 'o%'")
                .ok()
                .map(|v| v.len()),
            Some(1)
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE LastName LIKE '%_%'")
                .ok()
                .map(|v| v.len()),
            Some(2)
        );
    }

    #[test]
    fn order_by_supports_direction_and_null_placement() {
        assert_eq!(
            run("SELECT Id FROM Lead ORDER BY LastName DESC NULLS FIRST, Id LIMIT 2").ok(),
            Some(vec![
                "00Q000000000003AAA".to_string(),
                "00Q000000000001AAA".to_string()
            ])
        );
        assert_eq!(
            run("SELECT Id FROM Lead WHERE NOT (IsConverted = true) ORDER BY SystemModstamp DESC")
                .ok(),
            Some(vec![
                "00Q000000000003AAA".to_string(),
                "00Q000000000001AAA".to_string()
            ])
        );
    }
}
