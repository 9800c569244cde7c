//! The backfill: scan both systems completely, link by email, merge every link, write.
//!
//! Resumable by construction: each scanned page is recorded with its resume token in one
//! transaction, a finished scan is skipped on the next run, and linking and merging are
//! idempotent (a link with a write on its way is not planned twice; creates are upserts or
//! preceded by a lookup). Interrupt it anywhere and run it again.
//!
//! Once the scans are complete, each pull cursor that does not exist yet is set to the
//! moment its scan started, so the daemon's first poll reads only what changed since.

use truce_connectors::{ObjectType, System};
use truce_state::{Cursor, ScanStep};

use super::apply::Applied;
use super::{Engine, EngineError, MergeSummary, Progress, all_unlinked};

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillSummary {
    /// HubSpot records read.
    pub scanned_hubspot: u64,
    /// Salesforce records read.
    pub scanned_salesforce: u64,
    /// Scan pages read (API calls spent scanning).
    pub scan_pages: u64,
    /// Linking and merging.
    pub merge: MergeSummary,
    /// Writes to HubSpot.
    pub to_hubspot: Applied,
    /// Writes to Salesforce.
    pub to_salesforce: Applied,
}

const SCANS: [(System, ObjectType); 3] = [
    (System::HubSpot, ObjectType::HubSpotContact),
    (System::Salesforce, ObjectType::SalesforceLead),
    (System::Salesforce, ObjectType::SalesforceContact),
];

impl Engine {
    /// Runs (or resumes) the backfill. With `write == false` it scans, links and plans
    /// into this engine's store but sends nothing (the dry run uses a scratch copy).
    pub async fn backfill(
        &mut self,
        progress: &dyn Progress,
        write: bool,
    ) -> Result<BackfillSummary, EngineError> {
        let mut summary = BackfillSummary::default();
        for (system, object) in SCANS {
            let (records, pages) = self.scan(system, object, progress).await?;
            match system {
                System::HubSpot => summary.scanned_hubspot += records,
                System::Salesforce => summary.scanned_salesforce += records,
            }
            summary.scan_pages += pages;
        }
        self.start_cursors()?;
        progress.phase("linking");
        let mut touched = all_unlinked(&self.store, System::HubSpot)?;
        touched.extend(all_unlinked(&self.store, System::Salesforce)?);
        let settle = self.settle(&touched).await?;
        progress.phase("merging");
        let merged = self.reconcile_all()?;
        summary.merge = MergeSummary {
            links: merged.links,
            linked: settle.linked,
            creates: settle.creates,
            writes: settle.writes + merged.writes,
            conflicts: settle.conflicts + merged.conflicts,
            quarantined: settle.quarantined + merged.quarantined,
            duplicates: settle.duplicates,
        };
        if write {
            progress.phase("writing");
            let (to_hubspot, to_salesforce) = self.apply(progress).await?;
            let finished: Vec<_> = to_hubspot
                .finished
                .union(&to_salesforce.finished)
                .copied()
                .collect();
            let after = self.merge_links(finished)?;
            summary.merge.writes += after.writes;
            summary.merge.conflicts += after.conflicts;
            summary.to_hubspot = to_hubspot;
            summary.to_salesforce = to_salesforce;
        }
        Ok(summary)
    }

    /// Scans one object to the end, resuming from the stored token. Returns the records
    /// and pages read in this run.
    async fn scan(
        &mut self,
        system: System,
        object: ObjectType,
        progress: &dyn Progress,
    ) -> Result<(u64, u64), EngineError> {
        let stored = self.store.reader().scan(system.as_str(), object.as_str())?;
        if stored.as_ref().is_some_and(|s| s.done) {
            let total = stored.map_or(0, |s| u64::try_from(s.records).unwrap_or(0));
            progress.scanned(system, object, total);
            return Ok((0, 0));
        }
        let mut total = stored
            .as_ref()
            .map_or(0, |s| u64::try_from(s.records).unwrap_or(0));
        let mut token = stored.and_then(|s| s.token);
        let connector = self.connector(system);
        let (mut records, mut pages) = (0, 0);
        loop {
            let page = connector.scan(object, token.as_deref()).await?;
            self.record(system, &page.records, |stored| {
                stored.scan = Some(ScanStep {
                    object: object.as_str().into(),
                    next: page.next.clone(),
                });
            })?;
            let n = page.records.len() as u64;
            records += n;
            total += n;
            pages += 1;
            progress.scanned(system, object, total);
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok((records, pages))
    }

    /// Sets each missing pull cursor to when its scan started: changes before that were
    /// read by the scan.
    fn start_cursors(&mut self) -> Result<(), EngineError> {
        let lookback = i64::try_from(self.settings.lookback.as_millis()).unwrap_or(0);
        self.store.transaction(|tx| {
            for (system, object) in SCANS {
                let stream = object.as_str();
                let Some(scan) = tx.reader().scan(system.as_str(), stream)? else {
                    continue;
                };
                if tx.reader().cursor(system.as_str(), stream)?.is_none() {
                    let cursor = Cursor {
                        modified_at: scan.started_at - lookback,
                        id: String::new(),
                    };
                    tx.advance_cursor(system.as_str(), stream, &cursor, scan.started_at)?;
                }
            }
            Ok::<_, truce_state::StoreError>(())
        })?;
        Ok(())
    }
}
