//! The agreement between marketing and sales: qualifications, hand-offs and SLA findings.
//!
//! Three tables, each written once per thing it records:
//!
//! - `qualified`: a HubSpot contact first seen qualified (its time, the qualifying value,
//!   the lead source). One row per contact: qualifying again changes nothing.
//! - `handoffs`: a qualified contact that became a Salesforce Lead, created by truce or an
//!   unworked Lead linked when the contact qualified. One row per contact. The Lead's id
//!   is unknown while truce's create is on the way; the watch fills it in. The row also
//!   carries the watch's verdict so far: when the Lead was first worked and to which
//!   status, the outcome (`met`, `breached`, `discarded_untouched`) and whether the watch
//!   is done with it (`settled`).
//! - `sla_findings`: one row per Lead and kind of finding (`breached`,
//!   `discarded_untouched`). [`Tx::record_finding`] answers whether the row is new, so the
//!   caller reports a finding exactly when it records it, in the same transaction as the
//!   HubSpot write that tells marketing.
//!
//! The store gives these words no meaning beyond keeping them: which status is untouched,
//! when a Lead breached, what to write where, is the engine's business.

use rusqlite::{OptionalExtension, Row, params};

use crate::error::{Result, SqlContext};
use crate::links::LinkId;
use crate::sql::text_enum;
use crate::{Reader, Tx};

text_enum!(
    /// How a contact reached sales.
    HandoffHow {
        /// truce created the Lead.
        Created => "created",
        /// truce linked an existing, unworked Lead.
        Linked => "linked",
    }
);

text_enum!(
    /// What the watch concluded about a hand-off.
    SlaOutcome {
        /// First worked within the agreed time.
        Met => "met",
        /// Left untouched past the agreed time.
        Breached => "breached",
        /// Closed straight from an untouched status.
        DiscardedUntouched => "discarded_untouched",
    }
);

text_enum!(
    /// A finding reported to both teams (at most one of each per Lead).
    FindingKind {
        /// Left untouched past the agreed time.
        Breached => "breached",
        /// Closed straight from an untouched status.
        DiscardedUntouched => "discarded_untouched",
    }
);

impl From<FindingKind> for SlaOutcome {
    fn from(kind: FindingKind) -> SlaOutcome {
        match kind {
            FindingKind::Breached => SlaOutcome::Breached,
            FindingKind::DiscardedUntouched => SlaOutcome::DiscardedUntouched,
        }
    }
}

/// A hand-off to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHandoff {
    /// The HubSpot contact handed off.
    pub hubspot_id: String,
    /// Its link.
    pub link_id: LinkId,
    /// The person's email.
    pub email: String,
    /// Created or linked.
    pub how: HandoffHow,
    /// The Lead, when it exists already (linked); `None` while truce creates it.
    pub lead_id: Option<String>,
    /// The Lead's owner, when known.
    pub owner: Option<String>,
    /// The value that qualified the contact.
    pub value: String,
    /// The contact's lead source, when it has one.
    pub source: Option<String>,
    /// When the Lead reached sales (ms).
    pub handed_off_at: i64,
    /// The change log's end at the hand-off: only later changes can be the first touch.
    pub since_seq: i64,
}

/// A recorded hand-off, with the watch's verdict so far and its findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The HubSpot contact handed off.
    pub hubspot_id: String,
    /// Its link.
    pub link_id: LinkId,
    /// The person's email.
    pub email: String,
    /// Created or linked.
    pub how: HandoffHow,
    /// The Lead; `None` while truce's create is on the way (or was refused).
    pub lead_id: Option<String>,
    /// The Lead's owner when first seen.
    pub owner: Option<String>,
    /// The value that qualified the contact.
    pub value: String,
    /// The contact's lead source, when it has one.
    pub source: Option<String>,
    /// When the Lead reached sales (ms).
    pub handed_off_at: i64,
    /// The change log's end at the hand-off.
    pub since_seq: i64,
    /// When the Lead first left its untouched status (ms).
    pub first_touch_at: Option<i64>,
    /// The status it left to.
    pub first_status: Option<String>,
    /// The watch's conclusion so far.
    pub outcome: Option<SlaOutcome>,
    /// The watch is done with it: no finding can follow.
    pub settled: bool,
    /// When the breach was found (ms), if it was.
    pub breached_at: Option<i64>,
    /// When the discard was found (ms), if it was.
    pub discarded_at: Option<i64>,
}

/// The watch's verdict on one hand-off, to store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandoffVerdict {
    /// When the Lead first left its untouched status (ms).
    pub first_touch_at: Option<i64>,
    /// The status it left to.
    pub first_status: Option<String>,
    /// The conclusion so far.
    pub outcome: Option<SlaOutcome>,
    /// No finding can follow.
    pub settled: bool,
}

/// A finding to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFinding {
    /// The hand-off's HubSpot contact.
    pub hubspot_id: String,
    /// Breached or discarded untouched.
    pub kind: FindingKind,
    /// The Lead.
    pub lead_id: String,
    /// Its owner at the time.
    pub owner: Option<String>,
    /// Its status at the time.
    pub status: Option<String>,
    /// How long after the hand-off (ms).
    pub age_ms: i64,
}

/// A recorded finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The hand-off's HubSpot contact.
    pub hubspot_id: String,
    /// Breached or discarded untouched.
    pub kind: FindingKind,
    /// The Lead.
    pub lead_id: String,
    /// Its owner at the time.
    pub owner: Option<String>,
    /// Its status at the time.
    pub status: Option<String>,
    /// How long after the hand-off (ms).
    pub age_ms: i64,
    /// When it was found (ms).
    pub found_at: i64,
}

/// A qualified contact, with its hand-off if it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedContact {
    /// The HubSpot contact.
    pub hubspot_id: String,
    /// When it was first seen qualified (ms).
    pub qualified_at: i64,
    /// The qualifying value.
    pub value: String,
    /// Its lead source, when it has one.
    pub source: Option<String>,
    /// Its hand-off, if it reached sales.
    pub handoff: Option<Handoff>,
}

/// Counts for `truce status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlaSummary {
    /// Hand-offs recorded.
    pub handoffs: i64,
    /// Hand-offs whose Lead nobody has worked yet.
    pub open: i64,
    /// Of those, the ones already past the agreed time.
    pub breached_open: i64,
    /// Hand-offs first worked in time.
    pub met: i64,
    /// Breaches found.
    pub breached: i64,
    /// Discards found.
    pub discarded_untouched: i64,
}

const HANDOFF_COLUMNS: &str = "h.hubspot_id, h.link_id, h.email, h.how, h.lead_id, h.owner, \
     h.value, h.source, h.handed_off_at, h.since_seq, h.first_touch_at, h.first_status, \
     h.outcome, h.settled, \
     (SELECT found_at FROM sla_findings AS f \
         WHERE f.hubspot_id = h.hubspot_id AND f.kind = 'breached'), \
     (SELECT found_at FROM sla_findings AS f \
         WHERE f.hubspot_id = h.hubspot_id AND f.kind = 'discarded_untouched')";

/// Reads a hand-off from [`HANDOFF_COLUMNS`] starting at column `at`.
fn handoff_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Handoff> {
    Ok(Handoff {
        hubspot_id: row.get(at)?,
        link_id: row.get(at + 1)?,
        email: row.get(at + 2)?,
        how: row.get(at + 3)?,
        lead_id: row.get(at + 4)?,
        owner: row.get(at + 5)?,
        value: row.get(at + 6)?,
        source: row.get(at + 7)?,
        handed_off_at: row.get(at + 8)?,
        since_seq: row.get(at + 9)?,
        first_touch_at: row.get(at + 10)?,
        first_status: row.get(at + 11)?,
        outcome: row.get(at + 12)?,
        settled: row.get(at + 13)?,
        breached_at: row.get(at + 14)?,
        discarded_at: row.get(at + 15)?,
    })
}

fn handoff_row(row: &Row<'_>) -> rusqlite::Result<Handoff> {
    handoff_at(row, 0)
}

impl Tx<'_> {
    /// Records that a HubSpot contact was seen qualified; false when it was already.
    pub fn record_qualified(
        &mut self,
        hubspot_id: &str,
        value: &str,
        source: Option<&str>,
        at: i64,
    ) -> Result<bool> {
        let added = self
            .conn()
            .prepare_cached(
                "INSERT INTO qualified (hubspot_id, qualified_at, value, source)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hubspot_id) DO NOTHING",
            )
            .and_then(|mut stmt| stmt.execute(params![hubspot_id, at, value, source]))
            .ctx(self.path(), "recording a qualified contact")?;
        Ok(added > 0)
    }

    /// Records a hand-off; false when this contact was handed off already (a contact
    /// qualifying twice is handed off once). The contact must be recorded as qualified.
    pub fn record_handoff(&mut self, handoff: &NewHandoff) -> Result<bool> {
        let added = self
            .conn()
            .prepare_cached(
                "INSERT INTO handoffs (hubspot_id, link_id, email, how, lead_id, owner, value,
                                       source, handed_off_at, since_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (hubspot_id) DO NOTHING",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    handoff.hubspot_id,
                    handoff.link_id,
                    handoff.email,
                    handoff.how,
                    handoff.lead_id,
                    handoff.owner,
                    handoff.value,
                    handoff.source,
                    handoff.handed_off_at,
                    handoff.since_seq
                ])
            })
            .ctx(self.path(), "recording a hand-off")?;
        Ok(added > 0)
    }

    /// Names the Lead truce created for a hand-off, and when it reached sales.
    pub fn set_handoff_lead(
        &mut self,
        hubspot_id: &str,
        lead_id: &str,
        handed_off_at: i64,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE handoffs SET lead_id = ?2, handed_off_at = ?3
                 WHERE hubspot_id = ?1 AND lead_id IS NULL",
            )
            .and_then(|mut stmt| stmt.execute(params![hubspot_id, lead_id, handed_off_at]))
            .ctx(self.path(), "naming a hand-off's Lead")?;
        Ok(())
    }

    /// Records the Lead's owner the first time it is known.
    pub fn set_handoff_owner(&mut self, hubspot_id: &str, owner: &str) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE handoffs SET owner = ?2 WHERE hubspot_id = ?1 AND owner IS NULL",
            )
            .and_then(|mut stmt| stmt.execute(params![hubspot_id, owner]))
            .ctx(self.path(), "recording a hand-off's owner")?;
        Ok(())
    }

    /// Stores the watch's verdict on a hand-off.
    pub fn set_handoff_verdict(
        &mut self,
        hubspot_id: &str,
        verdict: &HandoffVerdict,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE handoffs SET first_touch_at = ?2, first_status = ?3, outcome = ?4,
                                     settled = ?5
                 WHERE hubspot_id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    hubspot_id,
                    verdict.first_touch_at,
                    verdict.first_status,
                    verdict.outcome,
                    verdict.settled
                ])
            })
            .ctx(self.path(), "storing a hand-off's verdict")?;
        Ok(())
    }

    /// Records a finding; false when this Lead already has one of this kind (it is reported
    /// once).
    pub fn record_finding(&mut self, finding: &NewFinding, now: i64) -> Result<bool> {
        let added = self
            .conn()
            .prepare_cached(
                "INSERT INTO sla_findings (hubspot_id, kind, lead_id, owner, status, age_ms,
                                           found_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (hubspot_id, kind) DO NOTHING",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    finding.hubspot_id,
                    finding.kind,
                    finding.lead_id,
                    finding.owner,
                    finding.status,
                    finding.age_ms,
                    now
                ])
            })
            .ctx(self.path(), "recording an SLA finding")?;
        Ok(added > 0)
    }
}

impl Reader<'_> {
    /// One hand-off, by its HubSpot contact.
    pub fn handoff(&self, hubspot_id: &str) -> Result<Option<Handoff>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {HANDOFF_COLUMNS} FROM handoffs AS h WHERE h.hubspot_id = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([hubspot_id], handoff_row).optional())
            .ctx(self.path, "reading a hand-off")
    }

    /// Up to `limit` hand-offs the watch is not done with, by HubSpot id after `after`.
    pub fn open_handoffs(&self, after: Option<&str>, limit: usize) -> Result<Vec<Handoff>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {HANDOFF_COLUMNS} FROM handoffs AS h INDEXED BY handoffs_open
                 WHERE h.settled = 0 AND (?1 IS NULL OR h.hubspot_id > ?1)
                 ORDER BY h.hubspot_id LIMIT ?2"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(params![after, crate::sql::limit(limit)], handoff_row)?
                    .collect()
            })
            .ctx(self.path, "reading open hand-offs")
    }

    /// Every hand-off, by HubSpot id.
    pub fn handoffs(&self) -> Result<Vec<Handoff>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {HANDOFF_COLUMNS} FROM handoffs AS h ORDER BY h.hubspot_id"
            ))
            .and_then(|mut stmt| stmt.query_map([], handoff_row)?.collect())
            .ctx(self.path, "reading hand-offs")
    }

    /// The contacts first seen qualified in `from..=to` (ms), oldest first, each with its
    /// hand-off.
    pub fn qualified_between(&self, from: i64, to: i64) -> Result<Vec<QualifiedContact>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT q.hubspot_id, q.qualified_at, q.value, q.source,
                        h.hubspot_id IS NOT NULL, {HANDOFF_COLUMNS}
                 FROM qualified AS q LEFT JOIN handoffs AS h ON h.hubspot_id = q.hubspot_id
                 WHERE q.qualified_at BETWEEN ?1 AND ?2
                 ORDER BY q.qualified_at, q.hubspot_id"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(params![from, to], |row| {
                    let handed_off: bool = row.get(4)?;
                    Ok(QualifiedContact {
                        hubspot_id: row.get(0)?,
                        qualified_at: row.get(1)?,
                        value: row.get(2)?,
                        source: row.get(3)?,
                        handoff: if handed_off {
                            Some(handoff_at(row, 5)?)
                        } else {
                            None
                        },
                    })
                })?
                .collect()
            })
            .ctx(self.path, "reading qualified contacts")
    }

    /// Every finding, oldest first.
    pub fn sla_findings(&self) -> Result<Vec<Finding>> {
        self.conn
            .prepare_cached(
                "SELECT hubspot_id, kind, lead_id, owner, status, age_ms, found_at
                 FROM sla_findings ORDER BY found_at, hubspot_id, kind",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |row| {
                    Ok(Finding {
                        hubspot_id: row.get(0)?,
                        kind: row.get(1)?,
                        lead_id: row.get(2)?,
                        owner: row.get(3)?,
                        status: row.get(4)?,
                        age_ms: row.get(5)?,
                        found_at: row.get(6)?,
                    })
                })?
                .collect()
            })
            .ctx(self.path, "reading SLA findings")
    }

    /// Hand-off counts for `truce status`.
    pub fn sla_summary(&self) -> Result<SlaSummary> {
        self.conn
            .query_row(
                "SELECT
                     (SELECT count(*) FROM handoffs),
                     (SELECT count(*) FROM handoffs
                         WHERE settled = 0 AND first_touch_at IS NULL AND lead_id IS NOT NULL),
                     (SELECT count(*) FROM handoffs
                         WHERE settled = 0 AND first_touch_at IS NULL AND outcome = 'breached'),
                     (SELECT count(*) FROM handoffs WHERE outcome = 'met'),
                     (SELECT count(*) FROM sla_findings WHERE kind = 'breached'),
                     (SELECT count(*) FROM sla_findings WHERE kind = 'discarded_untouched')",
                [],
                |row| {
                    Ok(SlaSummary {
                        handoffs: row.get(0)?,
                        open: row.get(1)?,
                        breached_open: row.get(2)?,
                        met: row.get(3)?,
                        breached: row.get(4)?,
                        discarded_untouched: row.get(5)?,
                    })
                },
            )
            .ctx(self.path, "counting hand-offs")
    }
}
