//! API usage as last reported by each system (HubSpot's daily headers, Salesforce's
//! `Sforce-Limit-Info`), kept so `truce status` can show it without calling either API.

use rusqlite::{Row, params};

use crate::error::{Result, SqlContext};
use crate::{Reader, Tx};

/// One system's API usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUsage {
    /// `hubspot` or `salesforce`.
    pub system: String,
    /// Calls used in the current day.
    pub used: i64,
    /// Calls allowed per day.
    pub max: i64,
    /// When the system reported it (ms).
    pub observed_at: i64,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<QuotaUsage> {
    Ok(QuotaUsage {
        system: row.get(0)?,
        used: row.get(1)?,
        max: row.get(2)?,
        observed_at: row.get(3)?,
    })
}

impl Tx<'_> {
    /// Stores a system's latest reported usage.
    pub fn record_quota(&mut self, system: &str, used: i64, max: i64, now: i64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO quota (system, used, max, observed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (system) DO UPDATE SET used = ?2, max = ?3, observed_at = ?4",
            )
            .and_then(|mut stmt| stmt.execute(params![system, used, max, now]))
            .ctx(self.path(), "recording API usage")?;
        Ok(())
    }
}

impl Reader<'_> {
    /// Every system's latest reported usage.
    pub fn quotas(&self) -> Result<Vec<QuotaUsage>> {
        self.conn
            .prepare_cached("SELECT system, used, max, observed_at FROM quota ORDER BY system")
            .and_then(|mut stmt| stmt.query_map([], from_row)?.collect())
            .ctx(self.path, "reading API usage")
    }
}
