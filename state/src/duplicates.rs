//! Duplicates: emails that two or more records share on one side.
//!
//! Matching is by email, so two HubSpot contacts (or two Salesforce records) with one email
//! cannot be matched without guessing; truce reports them here instead and leaves them
//! unlinked until a person merges them. One row per `(system, email)`, replaced on each
//! detection and cleared when the duplicate is gone.

use rusqlite::{Row, params};

use crate::error::{Result, SqlContext, StoreError};
use crate::sql::Json;
use crate::{Reader, Tx, normalize_email};

/// A reported duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The side holding the duplicates.
    pub system: String,
    /// The shared email (normalised).
    pub email: String,
    /// The records sharing it, sorted.
    pub record_ids: Vec<String>,
    /// When it was last detected (ms).
    pub detected_at: i64,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Duplicate> {
    Ok(Duplicate {
        system: row.get(0)?,
        email: row.get(1)?,
        record_ids: row.get::<_, Json<_>>(2)?.0,
        detected_at: row.get(3)?,
    })
}

impl Tx<'_> {
    /// Reports (or re-reports) that these records of `system` share `email`.
    pub fn report_duplicate(
        &mut self,
        system: &str,
        email: &str,
        record_ids: &[String],
        now: i64,
    ) -> Result<()> {
        let mut ids = record_ids.to_vec();
        ids.sort();
        ids.dedup();
        let ids = serde_json::to_string(&ids).map_err(|source| StoreError::Encode {
            path: self.path().to_path_buf(),
            context: "reporting a duplicate",
            source,
        })?;
        self.conn()
            .prepare_cached(
                "INSERT INTO duplicates (system, email, record_ids, detected_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (system, email) DO UPDATE SET
                     record_ids = excluded.record_ids, detected_at = excluded.detected_at",
            )
            .and_then(|mut stmt| stmt.execute(params![system, normalize_email(email), ids, now]))
            .ctx(self.path(), "reporting a duplicate")?;
        Ok(())
    }

    /// Clears the report for this email; returns whether there was one.
    pub fn clear_duplicate(&mut self, system: &str, email: &str) -> Result<bool> {
        let changed = self
            .conn()
            .execute(
                "DELETE FROM duplicates WHERE system = ?1 AND email = ?2",
                params![system, normalize_email(email)],
            )
            .ctx(self.path(), "clearing a duplicate")?;
        Ok(changed > 0)
    }
}

impl Reader<'_> {
    /// Every reported duplicate, by system and email.
    pub fn duplicates(&self) -> Result<Vec<Duplicate>> {
        self.conn
            .prepare_cached(
                "SELECT system, email, record_ids, detected_at FROM duplicates
                 ORDER BY system, email",
            )
            .and_then(|mut stmt| stmt.query_map([], from_row)?.collect())
            .ctx(self.path, "reading duplicates")
    }

    /// How many duplicates are reported.
    pub fn duplicate_count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM duplicates", [], |r| r.get(0))
            .ctx(self.path, "counting duplicates")
    }
}
