//! Snapshots: the last observed state of every remote record, linked or not.
//!
//! One row per `(system, record_id)`, holding the record's mapped fields as one JSON object.
//! The merge reads them through [`crate::LinkView`]; matching reads them by email. A snapshot
//! never goes back in time: an upsert older than the stored row (a look-back re-read that
//! raced a newer page) is ignored.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};
use serde_json::Value;

use crate::error::{Result, SqlContext};
use crate::sql::{Json, fields_text};
use crate::{Reader, Tx, normalize_email};

/// A record as pulled, to store as its snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SnapshotUpdate {
    /// The API's object name (`contacts`, `Lead`, `Contact`).
    pub object: String,
    /// The record's id in its system.
    pub record_id: String,
    /// The record's email as the API holds it (normalised by the store).
    pub email: Option<String>,
    /// The record's modification time (ms).
    pub modified_at: i64,
    /// Archived or in the recycle bin.
    pub deleted: bool,
    /// The mapped fields, with the API's own JSON types.
    pub fields: BTreeMap<String, Value>,
}

/// A stored snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `hubspot` or `salesforce`.
    pub system: String,
    /// The API's object name.
    pub object: String,
    /// The record's id.
    pub record_id: String,
    /// The normalised email.
    pub email: Option<String>,
    /// The record's modification time (ms).
    pub modified_at: i64,
    /// Archived or in the recycle bin.
    pub deleted: bool,
    /// The mapped fields.
    pub fields: BTreeMap<String, Value>,
    /// When truce stored this version (ms).
    pub observed_at: i64,
}

const COLUMNS: &str = "system, object, record_id, email, modified_at, deleted, fields, observed_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Snapshot> {
    Ok(Snapshot {
        system: row.get(0)?,
        object: row.get(1)?,
        record_id: row.get(2)?,
        email: row.get(3)?,
        modified_at: row.get(4)?,
        deleted: row.get(5)?,
        fields: row.get::<_, Json<_>>(6)?.0,
        observed_at: row.get(7)?,
    })
}

impl Tx<'_> {
    /// Stores a record's snapshot. Returns false when the stored snapshot is newer and was
    /// kept.
    pub fn upsert_snapshot(
        &mut self,
        system: &str,
        update: &SnapshotUpdate,
        observed_at: i64,
    ) -> Result<bool> {
        let fields = fields_text(self.path(), "storing a snapshot", &update.fields)?;
        let changed = self
            .conn()
            .prepare_cached(
                "INSERT INTO snapshots (system, record_id, object, email, modified_at, deleted,
                                        fields, observed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (system, record_id) DO UPDATE SET
                     object = excluded.object, email = excluded.email,
                     modified_at = excluded.modified_at, deleted = excluded.deleted,
                     fields = excluded.fields, observed_at = excluded.observed_at
                 WHERE excluded.modified_at >= snapshots.modified_at",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    system,
                    update.record_id,
                    update.object,
                    update.email.as_deref().map(normalize_email),
                    update.modified_at,
                    update.deleted,
                    fields,
                    observed_at
                ])
            })
            .ctx(self.path(), "storing a snapshot")?;
        Ok(changed > 0)
    }
}

impl Reader<'_> {
    /// The last snapshot of this record.
    pub fn snapshot(&self, system: &str, record_id: &str) -> Result<Option<Snapshot>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM snapshots WHERE system = ?1 AND record_id = ?2"
            ))
            .and_then(|mut stmt| stmt.query_row([system, record_id], from_row).optional())
            .ctx(self.path, "reading a snapshot")
    }

    /// Every record of `system` with this email (compared normalised), by id. More than one
    /// is a duplicate to report.
    pub fn snapshots_by_email(&self, system: &str, email: &str) -> Result<Vec<Snapshot>> {
        let email = normalize_email(email);
        self.conn
            .prepare_cached(&format!(
                // Without statistics SQLite picks the primary key (system = ?) for this
                // query, a scan of every snapshot of the system per lookup: the index is named.
                "SELECT {COLUMNS} FROM snapshots INDEXED BY snapshots_email
                 WHERE system = ?1 AND email = ?2 ORDER BY record_id"
            ))
            .and_then(|mut stmt| stmt.query_map([system, &email], from_row)?.collect())
            .ctx(self.path, "reading snapshots by email")
    }

    /// Up to `limit` snapshots of `system` that no active link holds, with record ids
    /// above `after`, in id order: the records still waiting to be matched.
    pub fn unlinked_snapshots(
        &self,
        system: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Snapshot>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM snapshots AS s
                 WHERE system = ?1 AND (?2 IS NULL OR record_id > ?2)
                   AND NOT EXISTS (
                       SELECT 1 FROM links AS l WHERE l.state = 'active' AND (
                           (s.system = 'hubspot' AND l.hubspot_id = s.record_id)
                           OR (s.system = 'salesforce' AND l.salesforce_id = s.record_id)))
                 ORDER BY record_id LIMIT ?3"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(params![system, after, crate::sql::limit(limit)], from_row)?
                    .collect()
            })
            .ctx(self.path, "reading unlinked snapshots")
    }
}
