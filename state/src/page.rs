//! Recording one pulled page: the store's half of the "no lost update" promise.
//!
//! A page's field changes, snapshots, cursor moves and scan progress are written in one
//! transaction. If any part fails, none of it is kept, so the cursor never stands past a
//! change that is not in the change log, and the next poll reads the page again.
//!
//! Order inside the transaction follows the promise too: changes are appended first,
//! snapshots second, and cursors last.

use std::collections::BTreeMap;

use crate::Tx;
use crate::changes::FieldChange;
use crate::cursors::{Cursor, ScanStep};
use crate::error::Result;
use crate::snapshots::SnapshotUpdate;

/// Everything one pulled (or scanned) page of one system changes in the store, for the
/// records of one object pair. A connector page holding several pairs' records is
/// recorded as several of these in one transaction, the cursors on the last.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PulledPage {
    /// The object pair the changes and snapshots belong to.
    pub pair: String,
    /// `hubspot` or `salesforce`.
    pub system: String,
    /// When truce read the page (ms).
    pub observed_at: i64,
    /// Field changes to append to the log, in order.
    pub changes: Vec<FieldChange>,
    /// Records to store as snapshots.
    pub snapshots: Vec<SnapshotUpdate>,
    /// Where the page ended, by stream; each cursor moves only if this is ahead.
    pub cursors: BTreeMap<String, Cursor>,
    /// For a backfill page: the scan's resume point. The page's snapshots count as the
    /// records it read.
    pub scan: Option<ScanStep>,
}

/// What recording a page did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordSummary {
    /// Changes appended to the log.
    pub changes: usize,
    /// Snapshots written.
    pub snapshots: usize,
    /// Snapshots skipped because the stored one is newer.
    pub stale_snapshots: usize,
    /// Cursors that moved forward.
    pub cursors_moved: usize,
    /// The log's last `seq` after the page (0 if the log is still empty).
    pub last_seq: i64,
}

impl Tx<'_> {
    /// Records one page inside this transaction (see the module docs). Use
    /// [`crate::Store::record_page`] unless the page must commit with other writes.
    pub fn record_page(&mut self, page: &PulledPage) -> Result<RecordSummary> {
        let mut summary = RecordSummary::default();
        for change in &page.changes {
            summary.last_seq =
                self.append_change(&page.pair, &page.system, change, page.observed_at)?;
            summary.changes += 1;
        }
        for snapshot in &page.snapshots {
            if self.upsert_snapshot(&page.pair, &page.system, snapshot, page.observed_at)? {
                summary.snapshots += 1;
            } else {
                summary.stale_snapshots += 1;
            }
        }
        if let Some(step) = &page.scan {
            let records = i64::try_from(page.snapshots.len()).unwrap_or(i64::MAX);
            self.record_scan_step(&page.system, step, records, page.observed_at)?;
        }
        for (stream, cursor) in &page.cursors {
            if self.advance_cursor(&page.system, stream, cursor, page.observed_at)? {
                summary.cursors_moved += 1;
            }
        }
        if summary.changes == 0 {
            summary.last_seq = self.reader().last_seq()?;
        }
        tracing::debug!(
            pair = %page.pair,
            system = %page.system,
            changes = summary.changes,
            snapshots = summary.snapshots,
            stale = summary.stale_snapshots,
            cursors_moved = summary.cursors_moved,
            "page recorded"
        );
        Ok(summary)
    }
}
