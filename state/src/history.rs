//! History: everything the store knows happened to one person, for `truce history EMAIL`.
//!
//! People are the `contacts` pair: the pair whose links and snapshots carry an email.
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
        let conflicts: Vec<Conflict> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {columns} FROM conflicts
                 WHERE pair = 'contacts' AND (email = ?1
                     OR link_id IN (SELECT id FROM links WHERE email = ?1 AND pair = 'contacts'))
                 ORDER BY decided_at, id",
                columns = conflicts::COLUMNS
            ))
            .and_then(|mut stmt| stmt.query_map([&email], conflicts::from_row)?.collect())
            .ctx(self.path, "reading a person's conflicts")?;

        // Both lists are sorted; merge them by time, changes first on ties.
        let mut out = Vec::with_capacity(changes.len() + conflicts.len());
        let mut conflicts = conflicts.into_iter().peekable();
        for change in changes {
            while let Some(conflict) = conflicts.next_if(|c| c.decided_at < change.observed_at) {
                out.push(HistoryEntry::Conflict(conflict));
            }
            out.push(HistoryEntry::Change(change));
        }
        out.extend(conflicts.map(HistoryEntry::Conflict));
        Ok(out)
    }
}
