//! Duplicates: match keys that two or more records share on one side.
//!
//! Identity matches on a key (a person's email, a company's domain, the company its linked
//! contacts point to), so two records of one side with one key cannot be matched without
//! guessing; truce reports them here instead and leaves them unlinked until a person
//! resolves them. One row per `(pair, system, key)`, replaced on each detection and cleared
//! when the duplicate is gone.

use rusqlite::{Row, params};

use crate::error::{Result, SqlContext, StoreError};
use crate::sql::Json;
use crate::{Reader, Tx, normalize_email};

/// A reported duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The object pair.
    pub pair: String,
    /// The side holding the duplicates.
    pub system: String,
    /// The shared match key (a normalised email for people).
    pub key: String,
    /// The records sharing it, sorted.
    pub record_ids: Vec<String>,
    /// When it was last detected (ms).
    pub detected_at: i64,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Duplicate> {
    Ok(Duplicate {
        pair: row.get(0)?,
        system: row.get(1)?,
        key: row.get(2)?,
        record_ids: row.get::<_, Json<_>>(3)?.0,
        detected_at: row.get(4)?,
    })
}

impl Tx<'_> {
    /// Reports (or re-reports) that these records of `pair` in `system` share `key`
    /// (compared trimmed and lower-cased, like every match key).
    pub fn report_duplicate(
        &mut self,
        pair: &str,
        system: &str,
        key: &str,
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
                "INSERT INTO duplicates (pair, system, match_key, record_ids, detected_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (pair, system, match_key) DO UPDATE SET
                     record_ids = excluded.record_ids, detected_at = excluded.detected_at",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![pair, system, normalize_email(key), ids, now])
            })
            .ctx(self.path(), "reporting a duplicate")?;
        Ok(())
    }

    /// Clears the report for this key; returns whether there was one.
    pub fn clear_duplicate(&mut self, pair: &str, system: &str, key: &str) -> Result<bool> {
        let changed = self
            .conn()
            .execute(
                "DELETE FROM duplicates WHERE pair = ?1 AND system = ?2 AND match_key = ?3",
                params![pair, system, normalize_email(key)],
            )
            .ctx(self.path(), "clearing a duplicate")?;
        Ok(changed > 0)
    }
}

impl Reader<'_> {
    /// Every reported duplicate, by pair, system and key.
    pub fn duplicates(&self) -> Result<Vec<Duplicate>> {
        self.conn
            .prepare_cached(
                "SELECT pair, system, match_key, record_ids, detected_at FROM duplicates
                 ORDER BY pair, system, match_key",
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
