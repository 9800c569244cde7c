//! History: everything the store knows happened to one person, company or deal, for
//! `truce history`.
//!
//! People are the `contacts` pair, found by email; companies and deals are found by their
//! link's name (compared case-insensitively) or by the id of their record on either side.
//!
//! A person is found by email through every link ever made for it (active or not) and every
//! snapshot that carries it, so the history also covers records that were never linked or
//! that changed hands (a converted lead, a HubSpot merge). Field changes and conflict
//! decisions come back interleaved in time order.

use crate::changes::{self, Change};
use crate::conflicts::{self, Conflict};
use crate::error::{Result, SqlContext};
use crate::{Reader, normalize_email};

/// One event in a person's history.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryEntry {
    /// A field change observed on one side.
    Change(Change),
    /// A conflict the merge decided.
    Conflict(Conflict),
}

impl HistoryEntry {
    /// When the event was recorded (ms): the change's `observed_at` or the conflict's
    /// `decided_at`.
    pub fn at(&self) -> i64 {
        match self {
            HistoryEntry::Change(c) => c.observed_at,
            HistoryEntry::Conflict(c) => c.decided_at,
        }
    }
}

impl Reader<'_> {
    /// Every change and conflict concerning this email (compared normalised), oldest first;
    /// at the same instant, changes come before the conflicts they caused.
    pub fn history(&self, email: &str) -> Result<Vec<HistoryEntry>> {
        let email = normalize_email(email);
        let changes: Vec<Change> = self
            .conn
            .prepare_cached(&format!(
                "WITH person_links AS (
                     SELECT id, hubspot_id, salesforce_id FROM links
                     WHERE email = ?1 AND pair = 'contacts'
                 ),
                 person_records (system, record_id) AS (
                     SELECT 'hubspot', hubspot_id FROM person_links WHERE hubspot_id IS NOT NULL
                     UNION
                     SELECT 'salesforce', salesforce_id FROM person_links
                         WHERE salesforce_id IS NOT NULL
                     UNION
                     SELECT system, record_id FROM snapshots INDEXED BY snapshots_key
                         WHERE pair = 'contacts' AND system IN ('hubspot', 'salesforce')
                           AND match_key = ?1
                 )
                 SELECT {columns}
                 FROM changes
                 WHERE link_id IN (SELECT id FROM person_links)
                    OR (pair = 'contacts'
                        AND (system, record_id) IN (SELECT system, record_id FROM person_records))
                 ORDER BY seq",
                columns = changes::COLUMNS
            ))
            .and_then(|mut stmt| stmt.query_map([&email], changes::from_row)?.collect())
            .ctx(self.path, "reading a person's changes")?;
        Ok(interleave(changes, self.person_conflicts(&email)?))
    }

    fn person_conflicts(&self, email: &str) -> Result<Vec<Conflict>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {columns} FROM conflicts
                 WHERE pair = 'contacts' AND (email = ?1
                     OR link_id IN (SELECT id FROM links WHERE email = ?1 AND pair = 'contacts'))
                 ORDER BY decided_at, id",
                columns = conflicts::COLUMNS
            ))
            .and_then(|mut stmt| stmt.query_map([email], conflicts::from_row)?.collect())
            .ctx(self.path, "reading a person's conflicts")
    }

    /// Every change and conflict concerning the companies and deals named `who` (their
    /// link's name, any case) or holding a record with id `who`, oldest first.
    pub fn record_history(&self, who: &str) -> Result<Vec<HistoryEntry>> {
        let who = who.trim();
        let changes: Vec<Change> = self
            .conn
            .prepare_cached(&format!(
                "WITH the_links AS (
                     SELECT id, pair, hubspot_id, salesforce_id FROM links
                     WHERE pair <> 'contacts'
                       AND (lower(name) = lower(?1) OR hubspot_id = ?1 OR salesforce_id = ?1)
                 ),
                 the_records (pair, system, record_id) AS (
                     SELECT pair, 'hubspot', hubspot_id FROM the_links
                         WHERE hubspot_id IS NOT NULL
                     UNION
                     SELECT pair, 'salesforce', salesforce_id FROM the_links
                         WHERE salesforce_id IS NOT NULL
                     UNION
                     SELECT pair, system, record_id FROM snapshots
                         WHERE pair <> 'contacts' AND record_id = ?1
                 )
                 SELECT {columns} FROM changes
                 WHERE link_id IN (SELECT id FROM the_links)
                    OR (pair, system, record_id) IN (SELECT * FROM the_records)
                 ORDER BY seq",
                columns = changes::COLUMNS
            ))
            .and_then(|mut stmt| stmt.query_map([who], changes::from_row)?.collect())
            .ctx(self.path, "reading a record's changes")?;
        let conflicts: Vec<Conflict> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {columns} FROM conflicts
                 WHERE pair <> 'contacts' AND link_id IN (
                     SELECT id FROM links WHERE pair <> 'contacts'
                       AND (lower(name) = lower(?1) OR hubspot_id = ?1 OR salesforce_id = ?1))
                 ORDER BY decided_at, id",
                columns = conflicts::COLUMNS
            ))
            .and_then(|mut stmt| stmt.query_map([who], conflicts::from_row)?.collect())
            .ctx(self.path, "reading a record's conflicts")?;
        Ok(interleave(changes, conflicts))
    }
}

/// Merges two time-sorted lists, changes first on ties.
fn interleave(changes: Vec<Change>, conflicts: Vec<Conflict>) -> Vec<HistoryEntry> {
    let mut out = Vec::with_capacity(changes.len() + conflicts.len());
    let mut conflicts = conflicts.into_iter().peekable();
    for change in changes {
        while let Some(conflict) = conflicts.next_if(|c| c.decided_at < change.observed_at) {
            out.push(HistoryEntry::Conflict(conflict));
        }
        out.push(HistoryEntry::Change(change));
    }
    out.extend(conflicts.map(HistoryEntry::Conflict));
    out
}
