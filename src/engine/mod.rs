//! The sync engine: pull → record → merge → plan → apply, per object pair.
//!
//! [`Engine`] owns the state store and one connector per system. [`Engine::cycle`] is one
//! poll of the daemon; [`Engine::backfill`] is the one-shot full reconcile. Each step's
//! effects are durable before the next begins, so a restart resumes from the store alone:
//!
//! 1. **pull** ([`record`]): pages of changes since the stored cursors; each page's
//!    change-log rows, snapshots and cursor move are one transaction.
//! 2. **identity** ([`identity`]): touched records are linked, moved, unlinked, or queued
//!    for creation on the other side.
//! 3. **merge and plan** ([`reconcile`], [`merge`], [`mapping`]): each touched link is
//!    reconciled field by field; base values, outbox writes, conflicts and quarantine
//!    entries are written in one transaction per batch of links.
//! 4. **apply** ([`apply`]): the outbox is sent in batches, both systems side by side
//!    ([`shared`]), outcomes recorded.
//!
//! Pure parts (mapping, merge, reconcile) are table-tested; the pipeline is tested end to
//! end against the sandboxes over HTTP.

pub mod apply;
pub mod identity;
pub mod mapping;
pub mod merge;
pub mod observe;
pub mod reconcile;
pub mod record;
pub mod settings;
pub mod shared;

use std::collections::BTreeSet;
use std::sync::Arc;

use truce_connectors::{Connector, Cursor, Cursors, ObjectType, System};
use truce_state::{LinkId, LinkView, NewConflict, Store, StoreError, Tx};

use self::apply::Applied;
use self::merge::Side;
use self::observe::{Observer, Unobserved, WriteOutcomeKind};
use self::record::Touched;
use self::settings::Settings;
use self::shared::SharedStore;
use crate::logging::{self, ConflictEvent, QuarantineEvent};

/// What can stop a cycle: the store, or a connector call that retrying did not fix.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A remote call failed after retries (boxed: it carries the API's whole answer).
    #[error(transparent)]
    Connector(Box<truce_connectors::Error>),
}

impl From<truce_connectors::Error> for EngineError {
    fn from(err: truce_connectors::Error) -> Self {
        EngineError::Connector(Box::new(err))
    }
}

/// The one object pair synced so far, as metrics and logs name it.
const CONTACTS: &str = "contacts";

/// How a create's upsert key on the person's email is kept in the outbox.
pub const EMAIL_KEY: &str = "@email";

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
    /// Set once the first cycle merged every link: a restart resumes from the store alone,
    /// including links whose merge was deferred when the last process stopped.
    resumed: bool,
}

/// Links merged per transaction: big enough to amortise commits, small enough to keep a
/// crash's lost work and the memory held small.
const MERGE_BATCH: usize = 500;

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
        let started = std::time::Instant::now();
        let mut touched = Vec::new();
        let mut lag_ms = 0;
        let pulled_hubspot = self
            .pull(System::HubSpot, &mut touched, &mut lag_ms)
            .await?;
        let pulled_salesforce = self
            .pull(System::Salesforce, &mut touched, &mut lag_ms)
            .await?;
        let mut merged = self.settle(&touched).await?;
        if !self.resumed {
            let all = self.reconcile_all()?;
            merged.conflicts += all.conflicts;
            merged.quarantined += all.quarantined;
            self.resumed = true;
        }
        let (to_hubspot, to_salesforce) = self.apply(&Quiet).await?;
        self.observe_writes(System::HubSpot, &to_hubspot);
        self.observe_writes(System::Salesforce, &to_salesforce);
        // Links whose writes just finished were skipped while those were on the way.
        let finished: Vec<LinkId> = to_hubspot
            .finished
            .union(&to_salesforce.finished)
            .copied()
            .collect();
        let after = self.merge_links(finished)?;
        merged.conflicts += after.conflicts;
        merged.quarantined += after.quarantined;
        self.record_quotas()?;
        let summary = CycleSummary {
            pulled_hubspot,
            pulled_salesforce,
            linked: merged.linked,
            conflicts: merged.conflicts,
            quarantined: merged.quarantined + to_hubspot.quarantined + to_salesforce.quarantined,
            written_hubspot: to_hubspot.written,
            written_salesforce: to_salesforce.written,
            retrying: to_hubspot.retrying + to_salesforce.retrying,
            lag_ms,
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

    fn observe_writes(&self, system: System, applied: &Applied) {
        for (outcome, count) in [
            (WriteOutcomeKind::Ok, applied.written),
            (WriteOutcomeKind::Retry, applied.retrying),
            (WriteOutcomeKind::Quarantined, applied.quarantined),
        ] {
            if count > 0 {
                self.observer.wrote(system, CONTACTS, outcome, count as u64);
            }
        }
    }

    /// Pulls every page of changes of one system since its cursors.
    async fn pull(
        &mut self,
        system: System,
        touched: &mut Vec<Touched>,
        lag_ms: &mut i64,
    ) -> Result<usize, EngineError> {
        let connector = self.connector(system);
        let since: Cursors = self
            .store
            .reader()
            .cursors(system.as_str())?
            .into_iter()
            .map(|(stream, c)| {
                (
                    stream,
                    Cursor {
                        modified_at: c.modified_at,
                        id: c.id,
                    },
                )
            })
            .collect();
        let mut position: Option<Cursors> = None;
        let mut pulled = 0;
        loop {
            let page = connector
                .pull(&since, position.as_ref(), self.settings.lookback)
                .await?;
            let now = self.now();
            let page_touched = self.record(system, &page.records, |stored| {
                stored.cursors = page
                    .position
                    .iter()
                    .map(|(stream, c)| {
                        (
                            stream.clone(),
                            truce_state::Cursor {
                                modified_at: c.modified_at,
                                id: c.id.clone(),
                            },
                        )
                    })
                    .collect();
            })?;
            for t in &page_touched {
                if let Some(r) = page.records.iter().find(|r| r.id == t.id) {
                    *lag_ms = (*lag_ms).max(now - r.modified_at);
                }
            }
            pulled += page_touched.len();
            self.observer
                .pulled(system, CONTACTS, page.records.len() as u64);
            touched.extend(page_touched);
            if page.done {
                break;
            }
            position = Some(page.position);
        }
        Ok(pulled)
    }

    /// Identity, then merge of every touched link; fetches snapshots identity asked for.
    async fn settle(&mut self, touched: &[Touched]) -> Result<MergeSummary, EngineError> {
        let now = self.now();
        let settings = self.settings.clone();
        let identity = self
            .store
            .transaction(|tx| identity::resolve(tx, touched, &settings, now))?;
        let mut dirty = identity.dirty.clone();
        if !identity.fetch.is_empty() {
            let fetched = self.fetch_missing(&identity.fetch).await?;
            let now = self.now();
            let again = self
                .store
                .transaction(|tx| identity::resolve(tx, &fetched, &settings, now))?;
            dirty.extend(again.dirty);
        }
        let mut summary = self.merge_links(dirty.into_iter().collect())?;
        summary.linked += identity.linked;
        summary.creates += identity.creates;
        summary.duplicates += identity.duplicates;
        Ok(summary)
    }

    async fn fetch_missing(
        &mut self,
        wanted: &[(ObjectType, String)],
    ) -> Result<Vec<Touched>, EngineError> {
        let mut touched = Vec::new();
        for object in [ObjectType::SalesforceLead, ObjectType::SalesforceContact] {
            let ids: Vec<String> = wanted
                .iter()
                .filter(|(o, _)| *o == object)
                .map(|(_, id)| id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let fetched = self.salesforce.fetch(object, &ids).await?;
            touched.extend(self.record(System::Salesforce, &fetched.records, |_| {})?);
        }
        Ok(touched)
    }

    /// The record step for one page of records (see [`record_page`]).
    fn record(
        &mut self,
        system: System,
        records: &[truce_connectors::Record],
        finish: impl FnOnce(&mut truce_state::PulledPage),
    ) -> Result<Vec<Touched>, EngineError> {
        let now = self.now();
        record_page(
            &mut self.store,
            &self.settings,
            now,
            system,
            records,
            finish,
        )
    }

    /// Reconciles every active link (what the backfill does after its scans): no network,
    /// only the store. Streams through the links a page at a time, so memory stays flat
    /// however many links there are.
    pub fn reconcile_all(&mut self) -> Result<MergeSummary, EngineError> {
        let mut summary = MergeSummary::default();
        let mut after = None;
        loop {
            let now = self.now();
            let settings = &self.settings;
            let observer = self.observer.as_ref();
            let (part, last) = self.store.transaction(|tx| {
                let views = tx.reader().link_views(after, MERGE_BATCH)?;
                let last = views.last().map(|v| v.link.id);
                merge_views(tx, views, settings, observer, now).map(|part| (part, last))
            })?;
            summary.add(&part);
            match last {
                Some(last) => after = Some(last),
                None => return Ok(summary),
            }
        }
    }

    /// Reconciles these links in batches, one transaction per batch.
    fn merge_links(&mut self, mut links: Vec<LinkId>) -> Result<MergeSummary, EngineError> {
        links.sort();
        links.dedup();
        let mut summary = MergeSummary::default();
        for batch in links.chunks(MERGE_BATCH) {
            let now = self.now();
            let settings = &self.settings;
            let observer = self.observer.as_ref();
            let part = self.store.transaction(|tx| {
                let mut views = Vec::with_capacity(batch.len());
                for &link in batch {
                    views.extend(tx.reader().link_view(link)?);
                }
                merge_views(tx, views, settings, observer, now)
            })?;
            summary.add(&part);
        }
        Ok(summary)
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
                tx.record_quota(system.as_str(), used, limit, now)?;
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(())
    }

    /// Sends the outbox of both systems, side by side: each waits on its own quota.
    async fn apply(&mut self, progress: &dyn Progress) -> Result<(Applied, Applied), EngineError> {
        let clock = self.clock.clone();
        let now = move || clock();
        let store = SharedStore::new(&mut self.store);
        let (to_hubspot, to_salesforce) = tokio::join!(
            apply::apply_system(
                &store,
                self.hubspot.as_ref(),
                &self.settings,
                &now,
                progress
            ),
            apply::apply_system(
                &store,
                self.salesforce.as_ref(),
                &self.settings,
                &now,
                progress
            ),
        );
        Ok((to_hubspot?, to_salesforce?))
    }
}

/// The record step for one page of records: builds the store page, lets the caller add
/// its cursors or scan token, and writes it all in one transaction.
fn record_page(
    store: &mut Store,
    settings: &Settings,
    now: i64,
    system: System,
    records: &[truce_connectors::Record],
    finish: impl FnOnce(&mut truce_state::PulledPage),
) -> Result<Vec<Touched>, EngineError> {
    let (mut page, touched) = record::build_page(&store.reader(), system, records, settings, now)?;
    finish(&mut page);
    store.transaction(|tx| tx.record_page(&page))?;
    Ok(touched)
}

/// Merges one batch of link views inside a transaction.
fn merge_views(
    tx: &mut Tx<'_>,
    views: Vec<LinkView>,
    settings: &Settings,
    observer: &dyn Observer,
    now: i64,
) -> Result<MergeSummary, StoreError> {
    let mut summary = MergeSummary::default();
    let (Some(first), Some(last)) = (views.first(), views.last()) else {
        return Ok(summary);
    };
    // A write still on its way: merge again once it finished, not twice now.
    let busy = tx
        .reader()
        .links_with_pending_writes(first.link.id, last.link.id)?;
    for view in views {
        let link = view.link.id;
        if busy.contains(&link) || view.link.state != truce_state::LinkState::Active {
            continue;
        }
        let plan = {
            let reader = tx.reader();
            let mut changed_at = |side: Side, field: &str| {
                let (system, record) = match side {
                    Side::HubSpot => ("hubspot", view.link.hubspot_id.as_deref()),
                    Side::Salesforce => ("salesforce", view.link.salesforce_id.as_deref()),
                };
                record
                    .and_then(|id| reader.latest_change(system, id, field).ok().flatten())
                    .map_or(0, |c| c.source_modified_at)
            };
            reconcile::plan_link(&view, settings, &mut changed_at)
        };
        summary.links += 1;
        if let Some(entry) = &plan.quarantine {
            tx.quarantine_record(entry, now)?;
            logging::quarantine(&QuarantineEvent {
                link: link.0,
                email: &view.link.email,
                system: &entry.system,
                record_id: entry.record_id.as_deref().unwrap_or(""),
                field: entry.field.as_deref(),
                error_code: &entry.error_code,
                message: &entry.message,
            });
            summary.quarantined += 1;
            continue;
        }
        for (field, value) in &plan.agreed {
            tx.set_base(link, field, value, now)?;
        }
        for conflict in &plan.conflicts {
            tx.record_conflict(conflict, now)?;
            log_conflict(conflict);
            observer.conflict(CONTACTS, &conflict.field, &conflict.rule);
            summary.conflicts += 1;
        }
        for revert in &plan.reverts {
            tracing::info!(
                link = link.0,
                email = %view.link.email,
                field = %revert.field,
                salesforce_field = %revert.salesforce_field,
                side = revert.side.as_str(),
                rule = revert.rule.as_str(),
                "reverted: the edit in {} is put back; {} owns this field by rule {}",
                revert.side.as_str(),
                revert.side.other().as_str(),
                revert.rule.as_str()
            );
        }
        for write in &plan.writes {
            tx.enqueue(write, now)?;
            summary.writes += 1;
        }
    }
    Ok(summary)
}

fn log_conflict(conflict: &NewConflict) {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    logging::conflict(&ConflictEvent {
        link: conflict.link_id.0,
        email: &conflict.email,
        field: &conflict.field,
        salesforce_field: &conflict.salesforce_field,
        hubspot_value: &text(&conflict.hubspot_value),
        salesforce_value: &text(&conflict.salesforce_value),
        base_value: &text(&conflict.base_value),
        rule: &conflict.rule,
        winner: &conflict.winner,
    });
}

/// Touched entries for every unlinked snapshot of a system, for a full identity pass.
fn all_unlinked(store: &Store, system: System) -> Result<Vec<Touched>, StoreError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .reader()
            .unlinked_snapshots(system.as_str(), after.as_deref(), 1000)?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.record_id.clone());
        out.extend(page.iter().filter_map(|s| {
            Some(Touched {
                system,
                object: ObjectType::parse(&s.object)?,
                id: s.record_id.clone(),
            })
        }));
    }
    Ok(out)
}

/// Set of links touched, for tests and the demo.
pub type LinkSet = BTreeSet<LinkId>;

pub mod backfill;
