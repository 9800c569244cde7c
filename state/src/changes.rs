//! The change log: every observed field change, append-only.
//!
//! One row per field per observed record version, numbered by `seq` in the order truce
//! recorded them. `origin` tells a remote edit from the echo of truce's own write, which is
//! what stops ping-pong and what `truce history` shows. There is no update or delete API, and
//! triggers in the schema refuse both, so the log stays evidence.

use rusqlite::{OptionalExtension, Row, params};
use serde_json::Value;

use crate::error::{Result, SqlContext};
use crate::links::LinkId;
use crate::sql::{JsonValue, text_enum, value_text};
use crate::{Reader, Tx};

text_enum!(
    /// Who made a change.
    Origin {
        /// Someone (or something other than truce) edited the record.
        Remote => "remote",
        /// The change is truce's own write coming back on a pull; never propagated.
        Echo => "echo",
        /// truce wrote the change (recorded when the write is confirmed).
        Truce => "truce",
    }
);

/// A field change to append.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// The API's object name.
    pub object: String,
    /// The record's id.
    pub record_id: String,
    /// The record's link, when it has one.
    pub link_id: Option<LinkId>,
    /// The record's field (the system's own field name).
    pub field: String,
    /// The value before; `Null` for blank or never seen.
    pub old: Value,
    /// The value after; `Null` for blank.
    pub new: Value,
    /// The record's modification time that carried the change (ms).
    pub source_modified_at: i64,
    /// Who made it.
    pub origin: Origin,
}

/// A change as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Position in the log; increases with every append.
    pub seq: i64,
    /// When truce recorded it (ms).
    pub observed_at: i64,
    /// The object pair of the record.
    pub pair: String,
    /// `hubspot` or `salesforce`.
    pub system: String,
    /// The API's object name.
    pub object: String,
    /// The record's id.
    pub record_id: String,
    /// The record's link at the time, when it had one.
    pub link_id: Option<LinkId>,
    /// The field.
    pub field: String,
    /// The value before.
    pub old: Value,
    /// The value after.
    pub new: Value,
    /// The record's modification time that carried the change (ms).
    pub source_modified_at: i64,
    /// Who made it.
    pub origin: Origin,
}

/// The columns [`from_row`] reads, in order.
pub(crate) const COLUMNS: &str = "seq, observed_at, system, object, record_id, link_id, field, \
                                  old, new, source_modified_at, origin, pair";

pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Change> {
    Ok(Change {
        seq: row.get(0)?,
        observed_at: row.get(1)?,
        system: row.get(2)?,
        object: row.get(3)?,
        record_id: row.get(4)?,
        link_id: row.get(5)?,
        field: row.get(6)?,
        old: row.get::<_, JsonValue>(7)?.0,
        new: row.get::<_, JsonValue>(8)?.0,
        source_modified_at: row.get(9)?,
        origin: row.get(10)?,
        pair: row.get(11)?,
    })
}

impl Tx<'_> {
    /// Appends one change of a `system` record of `pair` to the log and returns its `seq`.
    pub fn append_change(
        &mut self,
        pair: &str,
        system: &str,
        change: &FieldChange,
        observed_at: i64,
    ) -> Result<i64> {
        crate::sql::insert_row(
            self.conn(),
            "INSERT INTO changes (observed_at, system, object, record_id, link_id, field,
                                  old, new, source_modified_at, origin, pair)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                observed_at,
                system,
                change.object,
                change.record_id,
                change.link_id,
                change.field,
                value_text(&change.old),
                value_text(&change.new),
                change.source_modified_at,
                change.origin,
                pair
            ],
        )
        .ctx(self.path(), "appending to the change log")
    }
}

impl Reader<'_> {
    /// Up to `limit` changes with `seq` above `after`, in log order.
    pub fn changes_after(&self, after: i64, limit: usize) -> Result<Vec<Change>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(params![after, crate::sql::limit(limit)], from_row)?
                    .collect()
            })
            .ctx(self.path, "reading the change log")
    }

    /// Every logged change of one record, in log order.
    pub fn changes_for_record(
        &self,
        pair: &str,
        system: &str,
        record_id: &str,
    ) -> Result<Vec<Change>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM changes
                 WHERE pair = ?1 AND system = ?2 AND record_id = ?3 ORDER BY seq"
            ))
            .and_then(|mut stmt| {
                stmt.query_map([pair, system, record_id], from_row)?
                    .collect()
            })
            .ctx(self.path, "reading a record's changes")
    }

    /// The most recent logged change of one field of one record, of any origin: the
    /// per-field change time the `two_way` rule compares.
    pub fn latest_change(
        &self,
        pair: &str,
        system: &str,
        record_id: &str,
        field: &str,
    ) -> Result<Option<Change>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM changes
                 WHERE pair = ?1 AND system = ?2 AND record_id = ?3 AND field = ?4
                 ORDER BY seq DESC LIMIT 1"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([pair, system, record_id, field], from_row)
                    .optional()
            })
            .ctx(self.path, "reading a field's latest change")
    }

    /// The highest `seq` in the log, 0 when empty.
    pub fn last_seq(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })
            .ctx(self.path, "reading the change log's end")
    }
}
