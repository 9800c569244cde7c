//! Cursors and scans: where each change stream and each backfill stands.
//!
//! A cursor is the keyset high-water mark `(modified_at, id)` of one stream of one system
//! (`contacts`, `Lead`, `Lead.deleted`...). It only moves forward: advancing to an older
//! position keeps the stored one, in SQL, so no caller can rewind it by accident (a late
//! look-back page, two pages recorded out of order). The engine re-reads behind the cursor
//! by its look-back window; the store does not need to.
//!
//! A scan is the resume token of a full read of one object (`truce backfill`), stored with
//! the page it ends, so a backfill interrupted anywhere picks up where it stopped.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};

use crate::error::{Result, SqlContext};
use crate::{Reader, Tx};

/// A keyset position in one change stream, ordered by time then id (like the connectors'
/// `Cursor`, which converts field for field).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// Modification time (ms).
    pub modified_at: i64,
    /// The record id at that time; ties on `modified_at` are ordered by id (byte order).
    pub id: String,
}

/// A stored cursor, with the stream it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCursor {
    /// `hubspot` or `salesforce`.
    pub system: String,
    /// The stream's name.
    pub stream: String,
    /// Its position.
    pub cursor: Cursor,
    /// When it last moved (ms).
    pub updated_at: i64,
}

/// The end of one scanned page, to store with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanStep {
    /// The object scanned.
    pub object: String,
    /// The token that resumes after this page; `None` when the scan is complete.
    pub next: Option<String>,
}

/// How far a full scan of one object got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanProgress {
    /// `hubspot` or `salesforce`.
    pub system: String,
    /// The object scanned.
    pub object: String,
    /// The token to resume with; `None` before the first page and once done.
    pub token: Option<String>,
    /// The scan read its last page.
    pub done: bool,
    /// Records read so far.
    pub records: i64,
    /// When the scan started (ms).
    pub started_at: i64,
    /// When it last moved (ms).
    pub updated_at: i64,
}

fn scan_from_row(row: &Row<'_>) -> rusqlite::Result<ScanProgress> {
    Ok(ScanProgress {
        system: row.get(0)?,
        object: row.get(1)?,
        token: row.get(2)?,
        done: row.get(3)?,
        records: row.get(4)?,
        started_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

const SCAN_COLUMNS: &str = "system, object, token, done, records, started_at, updated_at";

impl Tx<'_> {
    /// Moves a stream's cursor to `to` if that is ahead of where it stands; returns whether
    /// it moved.
    pub fn advance_cursor(
        &mut self,
        system: &str,
        stream: &str,
        to: &Cursor,
        now: i64,
    ) -> Result<bool> {
        let changed = self
            .conn()
            .prepare_cached(
                "INSERT INTO cursors (system, stream, modified_at, record_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (system, stream) DO UPDATE SET
                     modified_at = excluded.modified_at, record_id = excluded.record_id,
                     updated_at = excluded.updated_at
                 WHERE (excluded.modified_at, excluded.record_id)
                     > (cursors.modified_at, cursors.record_id)",
            )
            .and_then(|mut stmt| stmt.execute(params![system, stream, to.modified_at, to.id, now]))
            .ctx(self.path(), "moving a cursor")?;
        Ok(changed > 0)
    }

    /// Forgets a stream's cursor, so the next pull starts from the beginning. The one way
    /// to move a cursor back, for an operator's explicit re-sync.
    pub fn reset_cursor(&mut self, system: &str, stream: &str) -> Result<bool> {
        let changed = self
            .conn()
            .execute(
                "DELETE FROM cursors WHERE system = ?1 AND stream = ?2",
                [system, stream],
            )
            .ctx(self.path(), "resetting a cursor")?;
        Ok(changed > 0)
    }

    /// Stores the end of one scanned page of `records` records.
    pub fn record_scan_step(
        &mut self,
        system: &str,
        step: &ScanStep,
        records: i64,
        now: i64,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO scans (system, object, token, done, records, started_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT (system, object) DO UPDATE SET
                     token = excluded.token, done = excluded.done,
                     records = scans.records + excluded.records,
                     updated_at = excluded.updated_at",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    system,
                    step.object,
                    step.next,
                    step.next.is_none(),
                    records,
                    now
                ])
            })
            .ctx(self.path(), "recording scan progress")?;
        Ok(())
    }

    /// Forgets a scan's progress, so the next backfill of `object` starts from the top.
    pub fn reset_scan(&mut self, system: &str, object: &str) -> Result<bool> {
        let changed = self
            .conn()
            .execute(
                "DELETE FROM scans WHERE system = ?1 AND object = ?2",
                [system, object],
            )
            .ctx(self.path(), "resetting a scan")?;
        Ok(changed > 0)
    }
}

impl Reader<'_> {
    /// One stream's cursor.
    pub fn cursor(&self, system: &str, stream: &str) -> Result<Option<Cursor>> {
        self.conn
            .prepare_cached(
                "SELECT modified_at, record_id FROM cursors WHERE system = ?1 AND stream = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row([system, stream], |r| {
                    Ok(Cursor {
                        modified_at: r.get(0)?,
                        id: r.get(1)?,
                    })
                })
                .optional()
            })
            .ctx(self.path, "reading a cursor")
    }

    /// Every cursor of one system, by stream: what the connector's `pull` takes as `since`.
    pub fn cursors(&self, system: &str) -> Result<BTreeMap<String, Cursor>> {
        self.conn
            .prepare_cached("SELECT stream, modified_at, record_id FROM cursors WHERE system = ?1")
            .and_then(|mut stmt| {
                stmt.query_map([system], |r| {
                    Ok((
                        r.get(0)?,
                        Cursor {
                            modified_at: r.get(1)?,
                            id: r.get(2)?,
                        },
                    ))
                })?
                .collect()
            })
            .ctx(self.path, "reading cursors")
    }

    /// Every cursor of every system, by system and stream.
    pub fn all_cursors(&self) -> Result<Vec<StreamCursor>> {
        self.conn
            .prepare_cached(
                "SELECT system, stream, modified_at, record_id, updated_at FROM cursors
                 ORDER BY system, stream",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |r| {
                    Ok(StreamCursor {
                        system: r.get(0)?,
                        stream: r.get(1)?,
                        cursor: Cursor {
                            modified_at: r.get(2)?,
                            id: r.get(3)?,
                        },
                        updated_at: r.get(4)?,
                    })
                })?
                .collect()
            })
            .ctx(self.path, "reading cursors")
    }

    /// One object's scan progress; `None` when never scanned (or reset).
    pub fn scan(&self, system: &str, object: &str) -> Result<Option<ScanProgress>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SCAN_COLUMNS} FROM scans WHERE system = ?1 AND object = ?2"
            ))
            .and_then(|mut stmt| stmt.query_row([system, object], scan_from_row).optional())
            .ctx(self.path, "reading scan progress")
    }

    /// Every scan's progress.
    pub fn scans(&self) -> Result<Vec<ScanProgress>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SCAN_COLUMNS} FROM scans ORDER BY system, object"
            ))
            .and_then(|mut stmt| stmt.query_map([], scan_from_row)?.collect())
            .ctx(self.path, "reading scan progress")
    }
}
