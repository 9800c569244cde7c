//! The merge-and-plan step: links in, decisions written to the store.
//!
//! Links are merged in batches, one transaction per batch: for each link the pure
//! [`reconcile::plan_link`] decides, and this module writes what it decided (base values,
//! outbox writes, conflicts, deferred references, quarantine entries) and logs the events.
//! What the pure plan needs from the store (change times, which link a record id belongs
//! to) it asks through [`StoreLookup`]; a store error there fails the step rather than
//! being read as "changed at 0".
//!
//! A link with a write still on its way is skipped (it is merged again once the write
//! finished), and so is a link of a pair that is not synced.

use truce_state::{LinkId, LinkView, NewConflict, Reader, Store, Tx};

use super::events::{self, ConflictEvent, QuarantineEvent};
use super::identity::Identity;
use super::mapping::Reference;
use super::merge::Side;
use super::observe::Observer;
use super::pair::Pair;
use super::reconcile::{self, Lookup, system_of};
use super::settings::Settings;
use super::{Engine, EngineError, MergeSummary, stored};

/// Links merged per transaction: big enough to amortise commits, small enough to keep a
/// crash's lost work and the memory held small.
const MERGE_BATCH: usize = 500;

impl Engine {
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
                merge_views(tx, views, settings, observer, now).map(|(part, _)| (part, last))
            })?;
            summary.add(&part);
            match last {
                Some(last) => after = Some(last),
                None => return Ok(summary),
            }
        }
    }

    /// Reconciles these links in batches, one transaction per batch.
    pub(crate) fn merge_links(&mut self, links: Vec<LinkId>) -> Result<MergeSummary, EngineError> {
        let clock = self.clock.clone();
        let now = move || clock();
        merge_links(
            &mut self.store,
            &self.settings,
            self.observer.as_ref(),
            &now,
            links,
        )
    }

    /// The links whose references wait for a record one of `links` holds.
    pub(crate) fn waiting_for(&self, links: &[LinkId]) -> Result<Vec<LinkId>, EngineError> {
        waiting_for(&self.store.reader(), &self.settings, links)
    }
}

/// Reconciles `links` in batches, one transaction per batch (the store may be one the
/// other system's apply pass shares: [`super::shared::SharedStore`] hands it out per call).
pub(crate) fn merge_links(
    store: &mut Store,
    settings: &Settings,
    observer: &dyn Observer,
    now: &(dyn Fn() -> i64 + Sync),
    links: Vec<LinkId>,
) -> Result<MergeSummary, EngineError> {
    merge_links_not_busy(store, settings, observer, now, links).map(|(summary, _)| summary)
}

/// [`merge_links`], also naming the links it passed over because a write of theirs is
/// still on its way: they are not merged until that write finished.
pub(crate) fn merge_links_not_busy(
    store: &mut Store,
    settings: &Settings,
    observer: &dyn Observer,
    now: &(dyn Fn() -> i64 + Sync),
    mut links: Vec<LinkId>,
) -> Result<(MergeSummary, Vec<LinkId>), EngineError> {
    links.sort();
    links.dedup();
    let mut summary = MergeSummary::default();
    let mut busy = Vec::new();
    for batch in links.chunks(MERGE_BATCH) {
        let now = now();
        let (part, passed) = store.transaction(|tx| {
            let mut views = Vec::with_capacity(batch.len());
            for &link in batch {
                views.extend(tx.reader().link_view(link)?);
            }
            merge_views(tx, views, settings, observer, now)
        })?;
        summary.add(&part);
        busy.extend(passed);
    }
    Ok((summary, busy))
}

/// Merges the links an identity step dirtied and those waiting on them, and counts what
/// the step did (links, creates, duplicates) with the merge.
pub(crate) fn merge_identified(
    store: &mut Store,
    settings: &Settings,
    observer: &dyn Observer,
    now: &(dyn Fn() -> i64 + Sync),
    identity: &Identity,
) -> Result<MergeSummary, EngineError> {
    let dirty: Vec<LinkId> = identity.dirty.iter().copied().collect();
    let mut links = waiting_for(&store.reader(), settings, &dirty)?;
    links.extend(dirty);
    let mut summary = merge_links(store, settings, observer, now, links)?;
    summary.linked += identity.linked;
    summary.creates += identity.creates;
    summary.duplicates += identity.duplicates;
    Ok(summary)
}

/// The links whose references wait for a record one of `links` holds.
pub(crate) fn waiting_for(
    reader: &Reader<'_>,
    settings: &Settings,
    links: &[LinkId],
) -> Result<Vec<LinkId>, EngineError> {
    let mut waiting = Vec::new();
    // Only a pair that maps references can wait: without one, no lookup per link.
    let references = settings
        .pairs
        .iter()
        .any(|spec| spec.fields.iter().any(|f| f.reference.is_some()));
    if !references {
        return Ok(waiting);
    }
    for &id in links {
        let Some(link) = reader.link(id)? else {
            continue;
        };
        for (system, record) in [
            (System::HubSpot, &link.hubspot_id),
            (System::Salesforce, &link.salesforce_id),
        ] {
            if let Some(record) = record {
                let name = stored::system_name(system);
                waiting.extend(reader.waiting_on(&link.pair, name, record)?);
            }
        }
    }
    Ok(waiting)
}

use truce_connectors::System;

/// Merges one batch of link views inside a transaction; also returns the links passed
/// over because a write of theirs is on its way.
fn merge_views(
    tx: &mut Tx<'_>,
    views: Vec<LinkView>,
    settings: &Settings,
    observer: &dyn Observer,
    now: i64,
) -> Result<(MergeSummary, Vec<LinkId>), EngineError> {
    let mut summary = MergeSummary::default();
    let mut passed = Vec::new();
    let (Some(first), Some(last)) = (views.first(), views.last()) else {
        return Ok((summary, passed));
    };
    // A write still on its way: merge again once it finished, not twice now.
    let busy = tx
        .reader()
        .links_with_pending_writes(first.link.id, last.link.id)?;
    for view in views {
        if busy.contains(&view.link.id) {
            passed.push(view.link.id);
            continue;
        }
        if view.link.state != truce_state::LinkState::Active {
            continue;
        }
        let pair = stored::link_pair(&view.link)?;
        let Some(spec) = settings.pair(pair) else {
            continue;
        };
        let plan = {
            let reader = tx.reader();
            let mut lookup = StoreLookup {
                reader: &reader,
                view: &view,
            };
            reconcile::plan_link(&view, spec, &mut lookup)?
        };
        summary.links += 1;
        if spec.fields.iter().any(|f| f.reference.is_some()) {
            // Only pairs with references can wait; the others skip the statement.
            tx.set_deferred(view.link.id, &plan.deferred, now)?;
        }
        write_plan(tx, &view, pair, plan, observer, now, &mut summary)?;
    }
    Ok((summary, passed))
}

/// Writes what the plan of one link decided, and logs its events.
fn write_plan(
    tx: &mut Tx<'_>,
    view: &LinkView,
    pair: Pair,
    plan: reconcile::LinkPlan,
    observer: &dyn Observer,
    now: i64,
    summary: &mut MergeSummary,
) -> Result<(), EngineError> {
    let link = view.link.id;
    let name = view.link.name.as_deref().unwrap_or("");
    if let Some(entry) = &plan.quarantine {
        // Merged again with nothing new (a sweep, another field's change), the same bad
        // value is not reported twice; the link still waits for it to be fixed.
        if tx.reader().open_quarantine_same(entry)? {
            return Ok(());
        }
        tx.quarantine_record(entry, now)?;
        events::quarantine(&QuarantineEvent {
            object: pair,
            link: link.0,
            email: &view.link.email,
            name,
            system: &entry.system,
            record_id: entry.record_id.as_deref().unwrap_or(""),
            field: entry.field.as_deref(),
            error_code: &entry.error_code,
            message: &entry.message,
        });
        summary.quarantined += 1;
        return Ok(());
    }
    for (field, value) in &plan.agreed {
        tx.set_base(link, field, value, now)?;
    }
    for conflict in &plan.conflicts {
        tx.record_conflict(conflict, now)?;
        log_conflict(pair, conflict);
        observer.conflict(pair.as_str(), &conflict.field, &conflict.rule);
        summary.conflicts += 1;
    }
    for revert in &plan.reverts {
        events::reverted(&events::RevertEvent {
            object: pair,
            link: link.0,
            email: &view.link.email,
            name,
            field: &revert.field,
            salesforce_field: &revert.salesforce_field,
            side: revert.side,
            rule: revert.rule,
        });
    }
    for write in &plan.writes {
        tx.enqueue(write, now)?;
        summary.writes += 1;
    }
    Ok(())
}

fn log_conflict(pair: Pair, conflict: &NewConflict) {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    events::conflict(&ConflictEvent {
        object: pair,
        link: conflict.link_id.0,
        email: &conflict.email,
        name: conflict.name.as_deref().unwrap_or(""),
        field: &conflict.field,
        salesforce_field: &conflict.salesforce_field,
        hubspot_value: &text(&conflict.hubspot_value),
        salesforce_value: &text(&conflict.salesforce_value),
        base_value: &text(&conflict.base_value),
        rule: &conflict.rule,
        winner: &conflict.winner,
    });
}

/// What the pure plan asks of the store, for one link.
struct StoreLookup<'r, 'a> {
    reader: &'r Reader<'a>,
    view: &'r LinkView,
}

impl Lookup for StoreLookup<'_, '_> {
    fn changed_at(&mut self, side: Side, field: &str) -> Result<i64, EngineError> {
        let record = match side {
            Side::HubSpot => self.view.link.hubspot_id.as_deref(),
            Side::Salesforce => self.view.link.salesforce_id.as_deref(),
        };
        let Some(record) = record else {
            return Ok(0);
        };
        let system = stored::system_name(system_of(side));
        let latest = self
            .reader
            .latest_change(&self.view.link.pair, system, record, field)?;
        Ok(latest.map_or(0, |c| c.source_modified_at))
    }

    fn link_of(
        &mut self,
        target: Reference,
        side: Side,
        id: &str,
    ) -> Result<Option<LinkId>, EngineError> {
        let system = stored::system_name(system_of(side));
        let link = self
            .reader
            .link_by_record(target.target.as_str(), system, id)?;
        Ok(link.map(|l| l.id))
    }

    fn record_of(&mut self, link: LinkId, side: Side) -> Result<Option<String>, EngineError> {
        let Some(link) = self.reader.link(link)? else {
            return Ok(None);
        };
        Ok(match side {
            Side::HubSpot => link.hubspot_id,
            Side::Salesforce => link.salesforce_id,
        })
    }
}
