//! The sync engine: pull → record → identity → merge → plan → apply, for every object pair.
//!
//! [`Engine`] owns the state store and one connector per system. [`Engine::cycle`] is one
//! poll of the daemon; [`Engine::backfill`] is the one-shot full reconcile. Every pair runs
//! through the same steps, read from its description ([`pair::PairSpec`]); each step's
//! effects are durable before the next begins, so a restart resumes from the store alone:
//!
//! 1. **pull** ([`pull`], [`record`]): pages of changes since the stored cursors, every
//!    object of a system in one pass; each page's change-log rows, snapshots and cursor
//!    move are one transaction. Rows a connector could not read are quarantined.
//! 2. **identity** ([`identity`]): touched records are linked, moved, unlinked, or queued
//!    for creation on the other side, by their pair's rule.
//! 3. **merge and plan** ([`plan`], [`reconcile`], [`merge`], [`mapping`]): each touched
//!    link is reconciled field by field; base values, outbox writes, conflicts, deferred
//!    references and quarantine entries are written in one transaction per batch of links.
//! 4. **apply** ([`apply`]): the outbox is sent in batches, both systems side by side
//!    ([`shared`]), outcomes recorded.
//! 5. **SLA watch** ([`sla`]): hand-offs to sales are judged; findings are recorded,
//!    written to HubSpot (on the next apply) and logged.
//!
//! The engine speaks no vendor: records, errors and objects arrive typed through the
//! connector contract; [`stored`] converts to and from the store's strings; the events
//! scripts parse are defined in [`events`]; counters go to an [`observe::Observer`].
//! Pure parts (mapping, merge, reconcile) are table-tested; the pipeline is tested end to
//! end against the sandboxes over HTTP. `docs/architecture.md` draws the whole.

pub mod apply;
pub mod backfill;
pub mod events;
pub mod identity;
pub mod mapping;
pub mod merge;
pub mod observe;
pub mod pair;
pub mod pass_merges;
pub mod plan;
pub mod pull;
pub mod read_back;
pub mod reconcile;
pub mod record;
pub mod settings;
pub mod shared;
pub mod sla;
pub mod stored;
pub mod sweep;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use truce_connectors::{Connector, ObjectType, System};
use truce_state::{LinkId, Store, StoreError};

use self::apply::Applied;
use self::identity::Identity;
use self::observe::{Observer, Unobserved};
use self::read_back::ReadBack;
use self::record::Touched;
use self::settings::Settings;
use self::shared::SharedStore;

/// What can stop a cycle: the store, a connector call that retrying did not fix, or state
/// this truce cannot read.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A remote call failed after retries (boxed: it carries the API's whole answer).
    #[error(transparent)]
    Connector(Box<truce_connectors::Error>),
    /// The state file holds something this engine cannot interpret.
    #[error("{0}")]
    Unreadable(String),
}

impl From<truce_connectors::Error> for EngineError {
    fn from(err: truce_connectors::Error) -> Self {
        EngineError::Connector(Box::new(err))
    }
}

/// Milliseconds since the epoch; injected so tests control time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// What one cycle did (the daemon's INFO line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleSummary {
    /// HubSpot records pulled.
    pub pulled_hubspot: usize,
    /// Salesforce records pulled.
    pub pulled_salesforce: usize,
    /// Links created.
    pub linked: usize,
    /// Conflicts decided.
    pub conflicts: usize,
    /// Records or writes quarantined.
    pub quarantined: usize,
    /// Writes accepted by HubSpot.
    pub written_hubspot: usize,
    /// Writes accepted by Salesforce.
    pub written_salesforce: usize,
    /// Writes waiting for a retry.
    pub retrying: usize,
    /// Oldest pulled change's age when recorded (ms): how far behind truce runs.
    pub lag_ms: i64,
}

/// What reconciling a set of links did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Links reconciled.
    pub links: usize,
    /// Links created by identity.
    pub linked: usize,
    /// Creates queued.
    pub creates: usize,
    /// Writes queued.
    pub writes: usize,
    /// Conflicts decided.
    pub conflicts: usize,
    /// Records quarantined because a value could not be mapped.
    pub quarantined: usize,
    /// Duplicates reported.
    pub duplicates: usize,
}

/// Reports progress of long work (the backfill's scans and writes).
pub trait Progress: Send + Sync {
    /// A page of `object` was recorded; `total` records of it so far.
    fn scanned(&self, system: System, object: ObjectType, total: u64);
    /// A new phase begins (`linking`, `merging`, `writing`).
    fn phase(&self, name: &str);
    /// `done` of the `total` writes queued for `system` are settled (sent or set aside).
    fn wrote(&self, _system: System, _done: u64, _total: u64) {}
}

/// Progress that reports nothing.
pub struct Quiet;

impl MergeSummary {
    fn add(&mut self, other: &MergeSummary) {
        self.links += other.links;
        self.linked += other.linked;
        self.creates += other.creates;
        self.writes += other.writes;
        self.conflicts += other.conflicts;
        self.quarantined += other.quarantined;
        self.duplicates += other.duplicates;
    }
}

impl Progress for Quiet {
    fn scanned(&self, _: System, _: ObjectType, _: u64) {}
    fn phase(&self, _: &str) {}
}

/// The sync engine for one HubSpot portal and one Salesforce org.
pub struct Engine {
    store: Store,
    hubspot: Arc<dyn Connector>,
    salesforce: Arc<dyn Connector>,
    settings: Settings,
    clock: Clock,
    observer: Arc<dyn Observer>,
    /// When associations were last swept (ms); `None` until the first cycle sweeps.
    last_sweep: Option<i64>,
    /// Set once the first cycle merged every link: a restart resumes from the store alone,
    /// including links whose merge was deferred when the last process stopped.
    resumed: bool,
}

impl Engine {
    /// An engine over an open store and two connectors.
    pub fn new(
        store: Store,
        hubspot: Arc<dyn Connector>,
        salesforce: Arc<dyn Connector>,
        settings: Settings,
        clock: Clock,
    ) -> Engine {
        Engine {
            store,
            hubspot,
            salesforce,
            settings,
            clock,
            observer: Arc::new(Unobserved),
            last_sweep: None,
            resumed: false,
        }
    }

    /// Reports the engine's events to `observer` (the metrics) from now on.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Engine {
        self.observer = observer;
        self
    }

    /// The store, for reading.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, for maintenance (tests, dry runs).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The settings the engine runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    fn connector(&self, system: System) -> Arc<dyn Connector> {
        match system {
            System::HubSpot => self.hubspot.clone(),
            System::Salesforce => self.salesforce.clone(),
        }
    }

    /// One poll: pull both sides, link, merge, write. Logs one INFO line.
    pub async fn cycle(&mut self) -> Result<CycleSummary, EngineError> {
        let started = Instant::now();
        let mut touched = Vec::new();
        let hubspot = self.pull(System::HubSpot, &mut touched).await?;
        let salesforce = self.pull(System::Salesforce, &mut touched).await?;
        touched.extend(self.sweep_if_due().await?);
        let mut merged = self.settle(&touched, &BTreeSet::new()).await?;
        merged.quarantined += hubspot.rejected + salesforce.rejected;
        if !self.resumed {
            let all = self.reconcile_all()?;
            merged.conflicts += all.conflicts;
            merged.quarantined += all.quarantined;
            self.resumed = true;
        }
        let (to_hubspot, to_salesforce, after) = self
            .apply_settled(&Quiet, ReadBack::FilledAndReferences)
            .await?;
        merged.conflicts += after.conflicts;
        merged.quarantined += after.quarantined;
        self.watch_sla()?;
        self.record_quotas()?;
        let summary = CycleSummary {
            pulled_hubspot: hubspot.records,
            pulled_salesforce: salesforce.records,
            linked: merged.linked,
            conflicts: merged.conflicts,
            quarantined: merged.quarantined + to_hubspot.quarantined + to_salesforce.quarantined,
            written_hubspot: to_hubspot.written,
            written_salesforce: to_salesforce.written,
            retrying: to_hubspot.retrying + to_salesforce.retrying,
            lag_ms: hubspot.lag_ms.max(salesforce.lag_ms),
        };
        tracing::info!(
            pulled_hubspot = summary.pulled_hubspot,
            pulled_salesforce = summary.pulled_salesforce,
            written_hubspot = summary.written_hubspot,
            written_salesforce = summary.written_salesforce,
            linked = summary.linked,
            conflicts = summary.conflicts,
            quarantined = summary.quarantined,
            retrying = summary.retrying,
            lag_ms = summary.lag_ms,
            "cycle done"
        );
        self.observer.cycle(&summary, started.elapsed());
        Ok(summary)
    }

    /// Sends the outbox, then merges again what the writes finished; the writes that merge
    /// queues are sent at once, up to [`FOLLOW_UP_PASSES`] more passes, instead of waiting
    /// a poll interval each. Each pass reads back the records it created that `rule` asks
    /// for ([`read_back`]).
    async fn apply_settled(
        &mut self,
        progress: &dyn Progress,
        rule: ReadBack,
    ) -> Result<(Applied, Applied, MergeSummary), EngineError> {
        let (mut to_hubspot, mut to_salesforce) = (Applied::default(), Applied::default());
        let mut after = MergeSummary::default();
        for _ in 0..=FOLLOW_UP_PASSES {
            let (hubspot, salesforce, read, left) = self.apply(progress, rule).await?;
            let mut more = self.after_apply(left)?;
            more.add(&read);
            more.add(&hubspot.merged);
            more.add(&salesforce.merged);
            after.writes += more.writes;
            after.conflicts += more.conflicts;
            after.quarantined += more.quarantined;
            to_hubspot.add(hubspot);
            to_salesforce.add(salesforce);
            if more.writes == 0 {
                break;
            }
        }
        Ok((to_hubspot, to_salesforce, after))
    }

    /// Merges the links finished again after the pass merged them ([`pass_merges::PassMerges`]),
    /// and the links that waited for a record one of them holds.
    fn after_apply(&mut self, left: Vec<LinkId>) -> Result<MergeSummary, EngineError> {
        let mut links = self.waiting_for(&left)?;
        links.extend(left);
        self.merge_links(links)
    }

    /// Identity, then merge of every touched link (and of the links that waited for one
    /// of them); fetches snapshots identity asked for. People in `recheck` have their
    /// companies matched again although nothing about them changed (a backfill that adds
    /// companies to people linked long ago).
    async fn settle(
        &mut self,
        touched: &[Touched],
        recheck: &BTreeSet<LinkId>,
    ) -> Result<MergeSummary, EngineError> {
        let identity = self.identify(touched, recheck).await?;
        self.merge_identified(&identity)
    }

    /// Identity alone: links, creates and duplicates for the touched records, with the
    /// records it asked for read and resolved too. The links it dirtied are not merged.
    async fn identify(
        &mut self,
        touched: &[Touched],
        recheck: &BTreeSet<LinkId>,
    ) -> Result<Identity, EngineError> {
        let now = self.now();
        let settings = self.settings.clone();
        let identity = self
            .store
            .transaction(|tx| identity::resolve(tx, touched, &settings, now, recheck))?;
        self.complete_identity(identity).await
    }

    /// Finishes what an identity step began: reads the records it asked for and resolves
    /// them (their people's companies matched again).
    async fn complete_identity(&mut self, mut identity: Identity) -> Result<Identity, EngineError> {
        if identity.fetch.is_empty() {
            return Ok(identity);
        }
        let fetched = self.fetch_missing(&identity.fetch).await?;
        let now = self.now();
        let settings = self.settings.clone();
        let dirty = identity.dirty.clone();
        let again = self
            .store
            .transaction(|tx| identity::resolve(tx, &fetched, &settings, now, &dirty))?;
        identity.dirty.extend(again.dirty);
        identity.linked += again.linked;
        identity.creates += again.creates;
        identity.duplicates += again.duplicates;
        identity.fetch.clear();
        Ok(identity)
    }

    /// Finishes an identity step, then merges every link it dirtied.
    async fn settle_identity(&mut self, identity: Identity) -> Result<MergeSummary, EngineError> {
        let identity = self.complete_identity(identity).await?;
        self.merge_identified(&identity)
    }

    /// Merges the links an identity step dirtied and those waiting on them.
    fn merge_identified(&mut self, identity: &Identity) -> Result<MergeSummary, EngineError> {
        let clock = self.clock.clone();
        let now = move || clock();
        plan::merge_identified(
            &mut self.store,
            &self.settings,
            self.observer.as_ref(),
            &now,
            identity,
        )
    }

    /// Keeps the API usage each connector last saw, for `truce status`.
    fn record_quotas(&mut self) -> Result<(), EngineError> {
        let now = self.now();
        let reports: Vec<(System, truce_connectors::Quota)> = [System::HubSpot, System::Salesforce]
            .into_iter()
            .filter_map(|system| Some((system, self.connector(system).quota()?)))
            .collect();
        if reports.is_empty() {
            return Ok(());
        }
        self.store.transaction(|tx| {
            for (system, quota) in &reports {
                let used = i64::try_from(quota.used).unwrap_or(i64::MAX);
                let limit = i64::try_from(quota.limit).unwrap_or(i64::MAX);
                tx.record_quota(stored::system_name(*system), used, limit, now)?;
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(())
    }

    /// Sends the outbox of both systems, side by side: each waits on its own quota, then
    /// reads back what it created ([`read_back`]). Returns what each sent and what merging
    /// the records read back did.
    async fn apply(
        &mut self,
        progress: &dyn Progress,
        rule: ReadBack,
    ) -> Result<(Applied, Applied, MergeSummary, Vec<LinkId>), EngineError> {
        let merges = pass_merges::PassMerges::default();
        let (to_hubspot, to_salesforce) = {
            let clock = self.clock.clone();
            let now = move || clock();
            let observer = self.observer.clone();
            let store = SharedStore::new(&mut self.store);
            let sending = |connector: &Arc<dyn Connector>| apply::Sender {
                store: &store,
                connector: connector.clone(),
                settings: &self.settings,
                now: &now,
                progress,
                observer: observer.as_ref(),
                merges: &merges,
            };
            let (hubspot, salesforce) = (sending(&self.hubspot), sending(&self.salesforce));
            tokio::join!(
                hubspot.send_and_read_back(rule),
                salesforce.send_and_read_back(rule)
            )
        };
        let ((to_hubspot, hubspot_read), (to_salesforce, salesforce_read)) =
            (to_hubspot?, to_salesforce?);
        let mut read = hubspot_read.merged;
        read.add(&salesforce_read.merged);
        for identity in [hubspot_read.unsettled, salesforce_read.unsettled]
            .into_iter()
            .flatten()
        {
            read.add(&self.settle_identity(identity).await?);
        }
        Ok((to_hubspot, to_salesforce, read, merges.left()))
    }
}

/// Apply passes after the first within one cycle or backfill: a create, then the
/// references to it, then what those finish (a chain longer than that waits a cycle).
const FOLLOW_UP_PASSES: usize = 2;

/// Objects the identity step asked to read, as touched records once recorded.
pub(crate) type Wanted = [(ObjectType, String)];
