//! The backfill: scan both systems completely, link every pair, merge every link, write.
//!
//! Resumable by construction: each scanned page is recorded with its resume token in one
//! transaction, a finished scan is skipped on the next run, and linking and merging are
//! idempotent (a link with a write on its way is not planned twice; creates are upserts or
//! preceded by a lookup). Interrupt it anywhere and run it again.
//!
//! HubSpot's scan and Salesforce's run side by side: each waits on its own quota. Within a
//! scan, pages are read ahead of the one being recorded (up to [`READ_AHEAD_RECORDS`]),
//! and the two scans take turns at the store.
//!
//! Once the scans are complete, each pull cursor that does not exist yet is set to the
//! moment its scan started, so the daemon's first poll reads only what changed since.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use truce_connectors::{ApiError, Connector, ErrorClass, ObjectType, ScanPage, System};
use truce_state::{Cursor, LinkId, ScanStep};

use super::apply::Applied;
use super::identity::all_unlinked;
use super::pair::Pair;
use super::pull::{record_page, reject};
use super::read_back::ReadBack;
use super::settings::Settings;
use super::shared::SharedStore;
use super::{Clock, Engine, EngineError, MergeSummary, Progress, stored};

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

/// The objects a backfill scans in `system`: every object of every synced pair, pairs in
/// linking order.
fn scans(settings: &Settings, system: System) -> Vec<ObjectType> {
    settings
        .pairs
        .iter()
        .flat_map(|spec| spec.pair.objects(system))
        .collect()
}

impl Engine {
    /// Runs (or resumes) the backfill. With `write == false` it scans, links and plans
    /// into this engine's store but sends nothing (the dry run uses a scratch copy).
    pub async fn backfill(
        &mut self,
        progress: &dyn Progress,
        write: bool,
    ) -> Result<BackfillSummary, EngineError> {
        self.backfill_pairs(progress, write, None).await
    }

    /// Runs (or resumes) the backfill of one pair only (`truce backfill --object`), or of
    /// every synced pair with `None`.
    pub async fn backfill_pairs(
        &mut self,
        progress: &dyn Progress,
        write: bool,
        only: Option<Pair>,
    ) -> Result<BackfillSummary, EngineError> {
        let mut summary = BackfillSummary::default();
        let pairs: Vec<Pair> = self
            .settings
            .pairs
            .iter()
            .map(|spec| spec.pair)
            .filter(|pair| only.is_none_or(|only| only == *pair))
            .collect();
        let (hubspot, salesforce) = self.scan_both(progress, &pairs).await;
        let (hubspot, salesforce) = (hubspot?, salesforce?);
        summary.scanned_hubspot = hubspot.0;
        summary.scanned_salesforce = salesforce.0;
        summary.scan_pages = hubspot.1 + salesforce.1;
        self.start_cursors()?;
        progress.phase("linking");
        let mut touched = Vec::new();
        for &pair in &pairs {
            for system in [System::HubSpot, System::Salesforce] {
                touched.extend(all_unlinked(&self.store.reader(), pair, system)?);
            }
        }
        // Companies are matched through people and created for the records that refer to
        // them: every linked person and every linked deal (a resumed backfill linked some
        // before it stopped) is looked at again.
        let mut recheck: BTreeSet<LinkId> = BTreeSet::new();
        if pairs.contains(&Pair::Companies) {
            let reader = self.store.reader();
            recheck.extend(reader.active_link_ids(Pair::Contacts.as_str())?);
            if self.settings.pair(Pair::Deals).is_some() {
                recheck.extend(reader.active_link_ids(Pair::Deals.as_str())?);
            }
        }
        // Every active link is merged next, so identity's own merge would be done twice.
        let identity = self.identify(&touched, &recheck).await?;
        progress.phase("merging");
        let merged = self.reconcile_all()?;
        summary.merge = MergeSummary {
            links: merged.links,
            linked: identity.linked,
            creates: identity.creates,
            writes: merged.writes,
            conflicts: merged.conflicts,
            quarantined: merged.quarantined,
            duplicates: identity.duplicates,
        };
        if write {
            progress.phase("writing");
            let (to_hubspot, to_salesforce, after) =
                self.apply_settled(progress, ReadBack::Filled).await?;
            summary.merge.writes += after.writes;
            summary.merge.conflicts += after.conflicts;
            summary.to_hubspot = to_hubspot;
            summary.to_salesforce = to_salesforce;
        }
        Ok(summary)
    }

    /// Scans HubSpot and Salesforce side by side; `(records, pages)` read in this run by each.
    /// Both finish even if one fails, so the pages read are kept for the resumed run.
    async fn scan_both(
        &mut self,
        progress: &dyn Progress,
        pairs: &[Pair],
    ) -> (
        Result<(u64, u64), EngineError>,
        Result<(u64, u64), EngineError>,
    ) {
        let scanner = |connector: &Arc<dyn Connector>| Scanner {
            connector: connector.clone(),
            settings: &self.settings,
            pairs,
            clock: &self.clock,
            progress,
        };
        let (hubspot, salesforce) = (scanner(&self.hubspot), scanner(&self.salesforce));
        let store = SharedStore::new(&mut self.store);
        tokio::join!(hubspot.scan_all(&store), salesforce.scan_all(&store))
    }

    /// Sets each missing pull cursor to when its scan started: changes before that were
    /// read by the scan.
    fn start_cursors(&mut self) -> Result<(), EngineError> {
        let lookback = i64::try_from(self.settings.lookback.as_millis()).unwrap_or(0);
        let settings = &self.settings;
        self.store.transaction(|tx| {
            for system in [System::HubSpot, System::Salesforce] {
                let name = stored::system_name(system);
                for object in scans(settings, system) {
                    let stream = object.as_str();
                    let Some(scan) = tx.reader().scan(name, stream)? else {
                        continue;
                    };
                    if tx.reader().cursor(name, stream)?.is_none() {
                        let cursor = Cursor {
                            modified_at: scan.started_at - lookback,
                            id: String::new(),
                        };
                        tx.advance_cursor(name, stream, &cursor, scan.started_at)?;
                    }
                }
            }
            Ok::<_, truce_state::StoreError>(())
        })?;
        Ok(())
    }
}

type ScanResult = Result<ScanPage, truce_connectors::Error>;

/// Pages read and waiting to be recorded, with the share of [`READ_AHEAD_RECORDS`] each
/// holds until it is.
type Pages = mpsc::UnboundedReceiver<(ScanResult, OwnedSemaphorePermit)>;

/// How many records a scan may have read and not yet recorded: enough for a window of
/// HubSpot's 100-record list pages to go out while Salesforce's pages of 2,000 are being
/// recorded, at a bounded memory cost (about 13 MiB of peak RSS at most, measured).
const READ_AHEAD_RECORDS: usize = 4_000;

/// How long one scan records pages before it lets the other system's scan have the store.
const TURN: Duration = Duration::from_millis(20);

/// The error for a reading task that ended without handing over the last page: it
/// panicked.
fn stopped(object: ObjectType) -> truce_connectors::Error {
    truce_connectors::Error::new(
        ErrorClass::Fatal,
        format!("scanning {object}"),
        ApiError::message("the page read stopped before the last page"),
    )
}

/// One system's part of the backfill scan.
struct Scanner<'a> {
    connector: Arc<dyn Connector>,
    settings: &'a Settings,
    pairs: &'a [Pair],
    clock: &'a Clock,
    progress: &'a dyn Progress,
}

impl Scanner<'_> {
    /// Scans each of this system's objects in turn.
    async fn scan_all(&self, store: &SharedStore<'_>) -> Result<(u64, u64), EngineError> {
        let system = self.connector.system();
        let (mut records, mut pages) = (0, 0);
        for object in scans(self.settings, system) {
            if !self.pairs.contains(&Pair::of(object)) {
                continue;
            }
            let (r, p) = self.scan(store, object).await?;
            records += r;
            pages += p;
        }
        Ok((records, pages))
    }

    /// Reads the pages of `object` from `token` on a task of its own, ahead of the one
    /// being recorded by up to [`READ_AHEAD_RECORDS`]: the calls go out at the pace of the
    /// API and its quota, not of the store (which the other system's scan holds while it
    /// records a page of 2,000). Each page's token comes from the page before, so one task
    /// reads them in turn. A page travels with its share of the budget, given back once
    /// the page is recorded. The task ends after the last page, after an error, or when the
    /// receiver is dropped.
    fn read_ahead(&self, object: ObjectType, token: Option<String>) -> Pages {
        let (pages, receiver) = mpsc::unbounded_channel();
        let budget = Arc::new(Semaphore::new(READ_AHEAD_RECORDS));
        let connector = self.connector.clone();
        tokio::spawn(async move {
            let mut token = token;
            loop {
                let page = connector.scan(object, token.as_deref()).await;
                let next = page.as_ref().ok().and_then(|p| p.next.clone());
                let records = page.as_ref().map_or(0, |p| p.records.len());
                let share = records.clamp(1, READ_AHEAD_RECORDS);
                let Ok(share) = budget.clone().acquire_many_owned(share as u32).await else {
                    return;
                };
                if pages.send((page, share)).is_err() {
                    return;
                }
                match next {
                    Some(next) => token = Some(next),
                    None => return,
                }
            }
        });
        receiver
    }

    /// Scans one object to the end, resuming from the stored token. Returns the records
    /// and pages read in this run.
    async fn scan(
        &self,
        store: &SharedStore<'_>,
        object: ObjectType,
    ) -> Result<(u64, u64), EngineError> {
        let system = self.connector.system();
        let name = stored::system_name(system);
        let stored = store.with(|s| s.reader().scan(name, object.as_str()))?;
        if stored.as_ref().is_some_and(|s| s.done) {
            let total = stored.map_or(0, |s| u64::try_from(s.records).unwrap_or(0));
            self.progress.scanned(system, object, total);
            return Ok((0, 0));
        }
        let mut total = stored
            .as_ref()
            .map_or(0, |s| u64::try_from(s.records).unwrap_or(0));
        let token = stored.and_then(|s| s.token);
        let (mut records, mut pages) = (0, 0);
        let mut read = self.read_ahead(object, token);
        let mut turn = Instant::now();
        loop {
            // The other system's scan shares this task (and the store). A scan whose next
            // page is always ready would record page after page and never let it record
            // one, so a scan gives way once it has held the store for a `TURN`.
            if turn.elapsed() >= TURN {
                tokio::task::yield_now().await;
                turn = Instant::now();
            }
            let (page, _share) = match read.try_recv() {
                Ok(read) => read,
                Err(TryRecvError::Empty) => {
                    let next = read.recv().await;
                    turn = Instant::now();
                    next.ok_or_else(|| stopped(object))?
                }
                Err(TryRecvError::Disconnected) => return Err(stopped(object).into()),
            };
            let page = page?;
            let now = (self.clock)();
            store.with(|s| {
                record_page(s, self.settings, now, system, &page.records, |stored| {
                    stored.scan = Some(ScanStep {
                        object: object.as_str().into(),
                        next: page.next.clone(),
                    });
                })
            })?;
            store.with(|s| reject(s, system, &page.rejected, now))?;
            let n = page.records.len() as u64;
            records += n;
            total += n;
            pages += 1;
            self.progress.scanned(system, object, total);
            if page.next.is_none() {
                return Ok((records, pages));
            }
        }
    }
}
