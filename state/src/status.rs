//! Status: the summary `truce status` prints.
//!
//! Several counts read one after another; read them through a [`crate::ReadView`] for
//! numbers that belong to the same instant.

use crate::Reader;
use crate::cursors::{ScanProgress, StreamCursor};
use crate::error::{Result, SqlContext};

/// A summary of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The file's schema version.
    pub schema_version: i64,
    /// Links keeping two records in agreement.
    pub links_active: i64,
    /// Links dissolved, kept as history.
    pub links_unlinked: i64,
    /// Active links per object pair, by pair name.
    pub links_by_pair: Vec<(String, i64)>,
    /// Writes waiting to be sent.
    pub outbox_pending: i64,
    /// When the oldest pending write was planned (ms): how far behind the apply step is.
    pub outbox_oldest_pending_at: Option<i64>,
    /// Quarantine entries waiting for an admin.
    pub quarantine_open: i64,
    /// Reported duplicates.
    pub duplicates: i64,
    /// The change log's last `seq` (0 when empty).
    pub last_seq: i64,
    /// Every stream's cursor: how far each pull got.
    pub cursors: Vec<StreamCursor>,
    /// Every backfill scan's progress.
    pub scans: Vec<ScanProgress>,
}

impl Reader<'_> {
    /// Summarises the store.
    pub fn status(&self) -> Result<Status> {
        let (links_active, links_unlinked) = self.link_counts()?;
        let outbox_oldest_pending_at = self
            .conn
            .query_row(
                "SELECT min(created_at) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .ctx(self.path, "reading the outbox's age")?;
        Ok(Status {
            schema_version: self.schema_version()?,
            links_active,
            links_unlinked,
            links_by_pair: self.active_links_by_pair()?,
            outbox_pending: self.outbox_depth()?,
            outbox_oldest_pending_at,
            quarantine_open: self.open_quarantine_count()?,
            duplicates: self.duplicate_count()?,
            last_seq: self.last_seq()?,
            cursors: self.all_cursors()?,
            scans: self.scans()?,
        })
    }
}
