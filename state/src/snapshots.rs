//! Snapshots: the last observed state of every remote record, linked or not.
//!
//! One row per `(pair, system, record_id)`, holding the record's fields as one JSON object,
//! its metadata (conversion, merges) as typed JSON of its own, and its *match key*: what
//! identity matches it on within its pair (a person's normalised email, a company's
//! domain), indexed. The merge reads snapshots through [`crate::LinkView`]; identity reads
//! them by match key. A snapshot never goes back in time: an upsert older than the stored
//! row (a look-back re-read that raced a newer page) is ignored.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, SqlContext, StoreError};
use crate::sql::{Json, fields_text};
use crate::{Reader, Tx, normalize_email};

/// What a record became, once converted (a Salesforce lead: the Contact, Account and
/// Opportunity it turned into).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Converted {
    /// The person record it became.
    pub contact_id: Option<String>,
    /// The company record it was attached to.
    pub account_id: Option<String>,
    /// The deal record created with it, if any.
    pub opportunity_id: Option<String>,
}

/// A record's metadata beyond its fields: what the engine needs to move links.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordMeta {
    /// Set once the record was converted.
    pub converted: Option<Converted>,
    /// On a merge loser, the record that absorbed it.
    pub merged_into: Option<String>,
    /// On a merge survivor, the ids merged into it.
    pub merged_ids: Vec<String>,
    /// What people call the record (a company's or deal's name), for records named
    /// rather than emailed.
    pub name: Option<String>,
    /// For a deal: where it stands.
    pub outcome: Option<Outcome>,
}

/// Where a deal stands: closed, won, and its amount as a plain decimal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Closed (won or lost).
    pub closed: bool,
    /// Won.
    pub won: bool,
    /// The amount, when it has one.
    pub amount: Option<String>,
}

/// A record as pulled, to store as its snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SnapshotUpdate {
    /// The API's object name (`contacts`, `Lead`, `Account`...).
    pub object: String,
    /// The record's id in its system.
    pub record_id: String,
    /// What identity matches the record on (trimmed and lower-cased by the store).
    pub match_key: Option<String>,
    /// The record's modification time (ms).
    pub modified_at: i64,
    /// Archived or in the recycle bin.
    pub deleted: bool,
    /// The fields, with the API's own JSON types.
    pub fields: BTreeMap<String, Value>,
    /// Conversion and merges.
    pub meta: RecordMeta,
}

/// A stored snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The object pair.
    pub pair: String,
    /// `hubspot` or `salesforce`.
    pub system: String,
    /// The API's object name.
    pub object: String,
    /// The record's id.
    pub record_id: String,
    /// What identity matches it on.
    pub match_key: Option<String>,
    /// The record's modification time (ms).
    pub modified_at: i64,
    /// Archived or in the recycle bin.
    pub deleted: bool,
    /// The fields.
    pub fields: BTreeMap<String, Value>,
    /// Conversion and merges.
    pub meta: RecordMeta,
    /// When truce stored this version (ms).
    pub observed_at: i64,
}

const COLUMNS: &str =
    "pair, system, object, record_id, match_key, modified_at, deleted, fields, meta, observed_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Snapshot> {
    Ok(Snapshot {
        pair: row.get(0)?,
        system: row.get(1)?,
        object: row.get(2)?,
        record_id: row.get(3)?,
        match_key: row.get(4)?,
        modified_at: row.get(5)?,
        deleted: row.get(6)?,
        fields: row.get::<_, Json<_>>(7)?.0,
        meta: row.get::<_, Json<_>>(8)?.0,
        observed_at: row.get(9)?,
    })
}

impl Tx<'_> {
    /// Stores a record's snapshot. Returns false when the stored snapshot is newer and was
    /// kept.
    pub fn upsert_snapshot(
        &mut self,
        pair: &str,
        system: &str,
        update: &SnapshotUpdate,
        observed_at: i64,
    ) -> Result<bool> {
        let fields = fields_text(self.path(), "storing a snapshot", &update.fields)?;
        let meta = serde_json::to_string(&update.meta).map_err(|source| StoreError::Encode {
            path: self.path().to_path_buf(),
            context: "storing a snapshot",
            source,
        })?;
        let changed = self
            .conn()
            .prepare_cached(
                "INSERT INTO snapshots (pair, system, record_id, object, match_key, modified_at,
                                        deleted, fields, meta, observed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (pair, system, record_id) DO UPDATE SET
                     object = excluded.object, match_key = excluded.match_key,
                     modified_at = excluded.modified_at, deleted = excluded.deleted,
                     fields = excluded.fields, meta = excluded.meta,
                     observed_at = excluded.observed_at
                 WHERE excluded.modified_at >= snapshots.modified_at",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    pair,
                    system,
                    update.record_id,
                    update.object,
                    update.match_key.as_deref().map(normalize_email),
                    update.modified_at,
                    update.deleted,
                    fields,
                    meta,
                    observed_at
                ])
            })
            .ctx(self.path(), "storing a snapshot")?;
        Ok(changed > 0)
    }
}

impl Reader<'_> {
    /// The last snapshot of this record.
    pub fn snapshot(&self, pair: &str, system: &str, record_id: &str) -> Result<Option<Snapshot>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM snapshots
                 WHERE pair = ?1 AND system = ?2 AND record_id = ?3"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([pair, system, record_id], from_row)
                    .optional()
            })
            .ctx(self.path, "reading a snapshot")
    }

    /// Every record of `pair` in `system` with this match key, by id. More than one of a
    /// kind is a duplicate to report.
    pub fn snapshots_by_key(&self, pair: &str, system: &str, key: &str) -> Result<Vec<Snapshot>> {
        self.conn
            .prepare_cached(&format!(
                // Without statistics SQLite may pick the primary key (pair, system) for this
                // query, a scan of every snapshot of the system per lookup: the index is named.
                "SELECT {COLUMNS} FROM snapshots INDEXED BY snapshots_key
                 WHERE pair = ?1 AND system = ?2 AND match_key = ?3 ORDER BY record_id"
            ))
            .and_then(|mut stmt| {
                stmt.query_map([pair, system, &normalize_email(key)], from_row)?
                    .collect()
            })
            .ctx(self.path, "reading snapshots by match key")
    }

    /// Up to `limit` records of `pair` in `system` that no active link holds, as
    /// `(object, record_id)` with record ids above `after`, in id order: the records still
    /// waiting to be matched. Ids only: identity reads each snapshot as it takes it up, so
    /// a backfill's 300,000 are not parsed twice.
    pub fn unlinked_records(
        &self,
        pair: &str,
        system: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        self.conn
            .prepare_cached(
                "SELECT s.object, s.record_id FROM snapshots AS s
                 WHERE pair = ?1 AND system = ?2 AND (?3 IS NULL OR record_id > ?3)
                   AND NOT EXISTS (
                       SELECT 1 FROM links AS l
                       WHERE l.state = 'active' AND l.pair = s.pair AND (
                           (s.system = 'hubspot' AND l.hubspot_id = s.record_id)
                           OR (s.system = 'salesforce' AND l.salesforce_id = s.record_id)))
                 ORDER BY record_id LIMIT ?4",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![pair, system, after, crate::sql::limit(limit)],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?
                .collect()
            })
            .ctx(self.path, "reading unlinked records")
    }
}
