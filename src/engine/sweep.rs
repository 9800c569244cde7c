//! The association sweep: reading HubSpot associations again, apart from their records.
//!
//! HubSpot does not change a record's modified date when only its associations change (a
//! contact moved to another company, a contact added to a deal), so no incremental pull
//! ever sees such a change. The connector reads the associations of what each poll pulls;
//! this sweep reads those of every *linked* HubSpot record of each pair with associations,
//! at most once per `[sync] association_sweep` (and at the first cycle after a start),
//! and records what changed as ordinary field changes, dated when observed.
//!
//! Cost: one batch call per 1,000 linked records per association (`@company` of 100,000
//! linked contacts is 100 calls a sweep).

use truce_connectors::System;

use super::record::{self, Touched};
use super::{Engine, EngineError, stored};

/// Records read per sweep call: HubSpot's batch association read takes 1,000 ids.
const SWEEP_BATCH: usize = 1000;

impl Engine {
    /// Sweeps associations when the interval has passed; returns the touched records.
    pub(crate) async fn sweep_if_due(&mut self) -> Result<Vec<Touched>, EngineError> {
        let now = self.now();
        let every = i64::try_from(self.settings.association_sweep.as_millis()).unwrap_or(i64::MAX);
        if self.last_sweep.is_some_and(|last| now - last < every) {
            return Ok(Vec::new());
        }
        let touched = self.sweep().await?;
        self.last_sweep = Some(now);
        Ok(touched)
    }

    /// Reads the associations of every linked HubSpot record of every pair that has some.
    async fn sweep(&mut self) -> Result<Vec<Touched>, EngineError> {
        let mut touched = Vec::new();
        let specs = self.settings.pairs.clone();
        for spec in specs {
            let fields = spec.hubspot_associations();
            if fields.is_empty() {
                continue;
            }
            let object = spec.pair.hubspot_object();
            let hubspot = stored::system_name(System::HubSpot);
            let mut after: Option<String> = None;
            let mut calls = 0;
            loop {
                let ids = self.store.reader().linked_ids(
                    spec.pair.as_str(),
                    hubspot,
                    after.as_deref(),
                    SWEEP_BATCH,
                )?;
                let Some(last) = ids.last() else { break };
                after = Some(last.clone());
                let found = self.hubspot.associations(object, &ids, &fields).await?;
                calls += 1;
                let patches: Vec<_> = found.into_iter().map(|a| (object, a)).collect();
                let now = self.now();
                let (pages, page_touched) = record::build_patch_pages(
                    &self.store.reader(),
                    System::HubSpot,
                    &patches,
                    &self.settings,
                    now,
                )?;
                self.store.transaction(|tx| {
                    for page in &pages {
                        tx.record_page(page)?;
                    }
                    Ok::<_, EngineError>(())
                })?;
                touched.extend(page_touched);
            }
            tracing::debug!(
                object = spec.pair.as_str(),
                associations = %fields.join(","),
                pages = calls,
                changed = touched.len(),
                "association sweep done"
            );
        }
        Ok(touched)
    }
}
