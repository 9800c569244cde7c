//! Conflicts: every time both sides changed a field and the field's rule picked a winner.
//!
//! The merge records each decision in the transaction that applies it, so the record and
//! the write it caused are committed together; `truce conflicts` lists them, filtered by
//! time and field. Values are canonical (after mapping transforms), `Null` for blank; a
//! `Null` base means "no base yet" or "agreed on blank" alike.

use rusqlite::{Row, params};
use serde_json::Value;

use crate::error::{Result, SqlContext};
use crate::links::LinkId;
use crate::sql::{JsonValue, id_type, value_text};
use crate::{Reader, Tx, normalize_email};

id_type!(
    /// A conflict record's id.
    ConflictId
);

/// A decided conflict, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConflict {
    /// The object pair.
    pub pair: String,
    /// The link whose records disagreed.
    pub link_id: LinkId,
    /// The person's email (normalised by the store); empty for pairs without one.
    pub email: String,
    /// The record's name, for pairs without an email.
    pub name: Option<String>,
    /// The HubSpot property.
    pub field: String,
    /// The Salesforce field.
    pub salesforce_field: String,
    /// HubSpot's value.
    pub hubspot_value: Value,
    /// Salesforce's value.
    pub salesforce_value: Value,
    /// The base both sides moved away from.
    pub base_value: Value,
    /// The field's rule (`two_way`, `always_salesforce`...).
    pub rule: String,
    /// The side that won (`hubspot` or `salesforce`).
    pub winner: String,
}

/// A recorded conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The record's id.
    pub id: ConflictId,
    /// When the merge decided it (ms).
    pub decided_at: i64,
    /// The object pair.
    pub pair: String,
    /// The link whose records disagreed.
    pub link_id: LinkId,
    /// The person's email; empty for pairs without one.
    pub email: String,
    /// The record's name, for pairs without an email.
    pub name: Option<String>,
    /// The HubSpot property.
    pub field: String,
    /// The Salesforce field.
    pub salesforce_field: String,
    /// HubSpot's value.
    pub hubspot_value: Value,
    /// Salesforce's value.
    pub salesforce_value: Value,
    /// The base.
    pub base_value: Value,
    /// The rule that decided.
    pub rule: String,
    /// The side that won.
    pub winner: String,
}

/// The columns [`from_row`] reads, in order.
pub(crate) const COLUMNS: &str = "id, decided_at, link_id, email, field, salesforce_field, \
                                  hubspot_value, salesforce_value, base_value, rule, winner, \
                                  pair, name";

pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Conflict> {
    Ok(Conflict {
        id: row.get(0)?,
        decided_at: row.get(1)?,
        pair: row.get(11)?,
        link_id: row.get(2)?,
        email: row.get(3)?,
        name: row.get(12)?,
        field: row.get(4)?,
        salesforce_field: row.get(5)?,
        hubspot_value: row.get::<_, JsonValue>(6)?.0,
        salesforce_value: row.get::<_, JsonValue>(7)?.0,
        base_value: row.get::<_, JsonValue>(8)?.0,
        rule: row.get(9)?,
        winner: row.get(10)?,
    })
}

impl Tx<'_> {
    /// Records a decided conflict.
    pub fn record_conflict(
        &mut self,
        conflict: &NewConflict,
        decided_at: i64,
    ) -> Result<ConflictId> {
        crate::sql::insert_row(
            self.conn(),
            "INSERT INTO conflicts (decided_at, link_id, email, field, salesforce_field,
                                    hubspot_value, salesforce_value, base_value, rule, winner,
                                    pair, name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                decided_at,
                conflict.link_id,
                normalize_email(&conflict.email),
                conflict.field,
                conflict.salesforce_field,
                value_text(&conflict.hubspot_value),
                value_text(&conflict.salesforce_value),
                value_text(&conflict.base_value),
                conflict.rule,
                conflict.winner,
                conflict.pair,
                conflict.name
            ],
        )
        .map(ConflictId)
        .ctx(self.path(), "recording a conflict")
    }
}

impl Reader<'_> {
    /// Conflicts decided at or after `since` (ms), oldest first; with `field`, only those
    /// of that field, named either way (HubSpot property or Salesforce field).
    pub fn conflicts(&self, since: i64, field: Option<&str>) -> Result<Vec<Conflict>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM conflicts
                 WHERE decided_at >= ?1 AND (?2 IS NULL OR field = ?2 OR salesforce_field = ?2)
                 ORDER BY decided_at, id"
            ))
            .and_then(|mut stmt| stmt.query_map(params![since, field], from_row)?.collect())
            .ctx(self.path, "reading conflicts")
    }

    /// How many conflicts were decided at or after `since` (ms).
    pub fn conflict_count(&self, since: i64) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM conflicts WHERE decided_at >= ?1",
                [since],
                |r| r.get(0),
            )
            .ctx(self.path, "counting conflicts")
    }
}
