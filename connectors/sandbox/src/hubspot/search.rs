//! The search endpoint's filter engine: filterGroups (ORed) of filters (ANDed), sorts,
//! `limit` ≤ 200, numeric `after` offsets, `total`, and the 10,000-result cap.
//!
//! Queries whose every group bounds the last-modified property (`lastmodifieddate` on
//! contacts, `hs_lastmodifieddate` on companies and deals) from below start from that bound
//! in the `(modified, id)` index, so an incremental pull over 100,000 records reads only
//! what changed. A filter on the other type's property (`hs_lastmodifieddate` on contacts)
//! matches nothing, as HubSpot's silently does. Values compare by the property's type: datetimes and dates as epoch
//! milliseconds (filters may give ms or ISO), numbers as numbers, everything else as
//! case-insensitive text.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::Value;

use super::schema::{Schema, parse_instant};
use super::store::{Record, Records};
use super::wire::{Filter, SearchRequest};

/// Most results one query can reach (`after + limit` may not pass it).
pub const MAX_REACHABLE: usize = 10_000;
/// Largest page.
pub const MAX_LIMIT: usize = 200;
/// Most filter groups per query.
pub const MAX_GROUPS: usize = 5;
/// Most filters per group.
pub const MAX_FILTERS_PER_GROUP: usize = 6;
/// Most filters per query.
pub const MAX_FILTERS: usize = 18;

/// One page of matches.
#[derive(Debug)]
pub struct Found {
    /// The page, in sort order.
    pub page: Vec<Arc<Record>>,
    /// Every match of the query.
    pub total: usize,
    /// The offset of the next page, when there are more matches.
    pub next: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Instant,
    Number,
    Text,
}

fn kind_of(schema: &Schema, property: &str) -> Kind {
    match schema.get(property).map(|p| p.kind.as_str()) {
        Some("datetime" | "date") => Kind::Instant,
        Some("number") => Kind::Number,
        _ => Kind::Text,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A comparable form of a value.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Key {
    Num(f64),
    Text(String),
}

fn key(kind: Kind, raw: &str) -> Option<Key> {
    match kind {
        Kind::Instant => parse_instant(raw)
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc().timestamp_millis())
            })
            .map(|ms| Key::Num(ms as f64)),
        Kind::Number => raw.trim().parse::<f64>().ok().map(Key::Num),
        Kind::Text => Some(Key::Text(raw.to_lowercase())),
    }
}

/// The record's value of `property` as a key (maintained fields read from typed data).
fn record_key(record: &Record, modified: &str, property: &str, kind: Kind) -> Option<Key> {
    match property {
        "createdate" => Some(Key::Num(record.created_ms as f64)),
        "hs_object_id" => Some(Key::Num(record.id as f64)),
        p if p == modified => Some(Key::Num(record.modified_ms as f64)),
        _ => record.props.get(property).and_then(|v| key(kind, v)),
    }
}

struct Compiled {
    property: String,
    kind: Kind,
    op: Op,
}

enum Op {
    Cmp(Ordering, bool, Key),
    Ne(Key),
    Between(Key, Key),
    In(Vec<Key>, bool),
    Has(bool),
    Token(String, bool),
}

fn compile(schema: &Schema, filter: &Filter) -> Result<Compiled, String> {
    let property = filter.property_name.clone();
    let kind = kind_of(schema, &property);
    let need = |v: &Option<Value>| -> Result<Key, String> {
        let raw = v.as_ref().map(text).ok_or_else(|| {
            format!(
                "filter on {property} with {} needs a value",
                filter.operator
            )
        })?;
        key(kind, &raw).ok_or_else(|| format!("{raw} is not a valid value for {property}"))
    };
    let op = match filter.operator.as_str() {
        "EQ" => Op::Cmp(Ordering::Equal, true, need(&filter.value)?),
        "NEQ" => Op::Ne(need(&filter.value)?),
        "GT" => Op::Cmp(Ordering::Greater, false, need(&filter.value)?),
        "GTE" => Op::Cmp(Ordering::Greater, true, need(&filter.value)?),
        "LT" => Op::Cmp(Ordering::Less, false, need(&filter.value)?),
        "LTE" => Op::Cmp(Ordering::Less, true, need(&filter.value)?),
        "BETWEEN" => Op::Between(need(&filter.value)?, need(&filter.high_value)?),
        "IN" | "NOT_IN" => {
            let values = filter.values.as_ref().ok_or_else(|| {
                format!("filter on {property} with {} needs values", filter.operator)
            })?;
            let keys = values
                .iter()
                .map(|v| {
                    key(kind, &text(v)).ok_or_else(|| format!("{v} is not valid for {property}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Op::In(keys, filter.operator == "IN")
        }
        "HAS_PROPERTY" => Op::Has(true),
        "NOT_HAS_PROPERTY" => Op::Has(false),
        "CONTAINS_TOKEN" | "NOT_CONTAINS_TOKEN" => Op::Token(
            filter
                .value
                .as_ref()
                .map(text)
                .unwrap_or_default()
                .to_lowercase(),
            filter.operator == "CONTAINS_TOKEN",
        ),
        other => return Err(format!("Unknown operator {other}")),
    };
    Ok(Compiled { property, kind, op })
}

fn matches(record: &Record, modified: &str, filter: &Compiled) -> bool {
    let value = record_key(record, modified, &filter.property, filter.kind);
    match &filter.op {
        Op::Has(want) => value.is_some() == *want,
        Op::Ne(k) => value.as_ref() != Some(k),
        Op::Cmp(ord, or_equal, k) => match value.as_ref().and_then(|v| v.partial_cmp(k)) {
            Some(Ordering::Equal) => *or_equal,
            Some(got) => got == *ord && *ord != Ordering::Equal,
            None => false,
        },
        Op::Between(low, high) => value.is_some_and(|v| &v >= low && &v <= high),
        Op::In(keys, want) => value.is_some_and(|v| keys.contains(&v)) == *want,
        Op::Token(token, want) => {
            let raw = record
                .props
                .get(&filter.property)
                .map(|v| v.to_lowercase())
                .unwrap_or_default();
            let found = match token.strip_prefix('*') {
                Some(suffix) => raw.ends_with(suffix),
                None => {
                    raw.split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.')
                        .any(|t| t == token)
                        || raw == *token
                }
            };
            found == *want
        }
    }
}

/// The lowest last-modified time a group can match, when it bounds it from below.
fn lower_bound(group: &[Compiled], modified: &str) -> Option<i64> {
    group
        .iter()
        .filter(|f| f.property == modified)
        .filter_map(|f| match &f.op {
            Op::Cmp(Ordering::Greater | Ordering::Equal, _, Key::Num(n))
            | Op::Between(Key::Num(n), _) => Some(*n as i64),
            _ => None,
        })
        .max()
}

/// Runs a search. `Err` is the message of a 400 `VALIDATION_ERROR`.
///
/// With `single_sort`, only the first sort rule applies and ties come in a scrambled order.
pub fn search(
    store: &Records,
    request: &SearchRequest,
    single_sort: bool,
) -> Result<Found, String> {
    let modified = store.object.modified_property();
    let limit = request.limit.unwrap_or(10) as usize;
    if limit > MAX_LIMIT {
        return Err(format!("limit must be at most {MAX_LIMIT}, was {limit}"));
    }
    let after = match &request.after {
        None => 0,
        Some(v) => text(v)
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("after must be a number, was {}", text(v)))?,
    };
    if after + limit > MAX_REACHABLE {
        return Err(format!(
            "Paging beyond {MAX_REACHABLE} results is not supported: after ({after}) + limit ({limit}) must be at most {MAX_REACHABLE}"
        ));
    }
    if request.filter_groups.len() > MAX_GROUPS {
        return Err(format!(
            "Too many filter groups ({}); the limit is {MAX_GROUPS}",
            request.filter_groups.len()
        ));
    }
    let total_filters: usize = request.filter_groups.iter().map(|g| g.filters.len()).sum();
    if total_filters > MAX_FILTERS
        || request
            .filter_groups
            .iter()
            .any(|g| g.filters.len() > MAX_FILTERS_PER_GROUP)
    {
        return Err(format!(
            "Too many filters: at most {MAX_FILTERS_PER_GROUP} per group and {MAX_FILTERS} in all"
        ));
    }
    let groups = request
        .filter_groups
        .iter()
        .map(|g| {
            g.filters
                .iter()
                .map(|f| compile(&store.schema, f))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let from = if groups.is_empty() {
        i64::MIN
    } else {
        groups
            .iter()
            .map(|g| lower_bound(g, modified).unwrap_or(i64::MIN))
            .min()
            .unwrap_or(i64::MIN)
    };
    let query = request.query.as_ref().map(|q| q.to_lowercase());
    let mut found: Vec<&Arc<Record>> = store
        .index_from(from)
        .filter(|c| {
            groups.is_empty()
                || groups
                    .iter()
                    .any(|g| g.iter().all(|f| matches(c, modified, f)))
        })
        .filter(|c| match &query {
            Some(q) => store.object.searchable().iter().any(|p| {
                c.props
                    .get(*p)
                    .is_some_and(|v| v.to_lowercase().contains(q.as_str()))
            }),
            None => true,
        })
        .collect();
    let rules = if single_sort { 1 } else { usize::MAX };
    let sorts: Vec<(String, bool)> = request
        .sorts
        .iter()
        .take(rules)
        .map(|s| {
            let (p, desc) = s.key();
            (p.to_string(), desc)
        })
        .collect();
    // The index is already in (lastmodifieddate, id) order; sort only when asked otherwise.
    let index_order = matches!(
        sorts.as_slice(),
        [(p, false)] | [(p, false), (_, false)] if p == modified
    ) && sorts.get(1).is_none_or(|(p, _)| p == "hs_object_id")
        && !single_sort;
    // Without a tie-break, equal keys come in an order that is stable but not by id.
    let tie = |id: u64| -> u64 {
        if single_sort {
            id.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
        } else {
            id
        }
    };
    if !index_order {
        if sorts.is_empty() {
            found.sort_by_key(|c| c.id);
        } else {
            let kinds: Vec<Kind> = sorts
                .iter()
                .map(|(p, _)| kind_of(&store.schema, p))
                .collect();
            found.sort_by(|a, b| {
                for ((p, desc), kind) in sorts.iter().zip(&kinds) {
                    let (ka, kb) = (
                        record_key(a, modified, p, *kind),
                        record_key(b, modified, p, *kind),
                    );
                    let ord = ka.partial_cmp(&kb).unwrap_or(Ordering::Equal);
                    let ord = if *desc { ord.reverse() } else { ord };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                tie(a.id).cmp(&tie(b.id))
            });
        }
    }
    let total = found.len();
    let page: Vec<Arc<Record>> = found
        .iter()
        .skip(after)
        .take(limit)
        .map(|c| (*c).clone())
        .collect();
    let next = (after + limit < total).then_some(after + limit);
    Ok(Found { page, total, next })
}
