//! Deferred references: a link's reference field waiting for the record it points to.
//!
//! A reference (a contact's company, a deal's contacts) can only be written once the
//! record it points to is linked on the other side; until then the engine notes here which
//! link waits, for which field, on which record. When that record gets linked (or its
//! create is confirmed), [`Reader::waiting_on`] names the links to merge again. The rows
//! are the plan kept for later, not history: a link's rows are replaced at each merge.

use rusqlite::params;

use crate::error::{Result, SqlContext};
use crate::links::LinkId;
use crate::{Reader, Tx};

/// One reference waiting for its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// The link whose field waits.
    pub link_id: LinkId,
    /// The reference field (its HubSpot name, `@company`).
    pub field: String,
    /// The pair the target record belongs to.
    pub target_pair: String,
    /// The system of the target record's id.
    pub target_system: String,
    /// The target record's id in that system.
    pub target_id: String,
}

impl Tx<'_> {
    /// Replaces what `link` waits for with `waits` (empty: it waits for nothing).
    pub fn set_deferred(&mut self, link: LinkId, waits: &[Deferred], now: i64) -> Result<()> {
        self.conn()
            .prepare_cached("DELETE FROM deferred WHERE link_id = ?1")
            .and_then(|mut stmt| stmt.execute([link]))
            .ctx(self.path(), "clearing deferred references")?;
        let mut insert = self
            .conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO deferred (link_id, field, target_pair, target_system,
                                                 target_id, since)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .ctx(self.path(), "deferring a reference")?;
        for wait in waits {
            insert
                .execute(params![
                    link,
                    wait.field,
                    wait.target_pair,
                    wait.target_system,
                    wait.target_id,
                    now
                ])
                .ctx(self.path(), "deferring a reference")?;
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// The links waiting for this record.
    pub fn waiting_on(&self, pair: &str, system: &str, id: &str) -> Result<Vec<LinkId>> {
        self.conn
            .prepare_cached(
                "SELECT DISTINCT link_id FROM deferred
                 WHERE target_pair = ?1 AND target_system = ?2 AND target_id = ?3
                 ORDER BY link_id",
            )
            .and_then(|mut stmt| stmt.query_map([pair, system, id], |r| r.get(0))?.collect())
            .ctx(self.path, "reading links waiting for a record")
    }

    /// Every deferred reference, by link.
    pub fn deferred(&self) -> Result<Vec<Deferred>> {
        self.conn
            .prepare_cached(
                "SELECT link_id, field, target_pair, target_system, target_id FROM deferred
                 ORDER BY link_id, field, target_id",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |r| {
                    Ok(Deferred {
                        link_id: r.get(0)?,
                        field: r.get(1)?,
                        target_pair: r.get(2)?,
                        target_system: r.get(3)?,
                        target_id: r.get(4)?,
                    })
                })?
                .collect()
            })
            .ctx(self.path, "reading deferred references")
    }
}
