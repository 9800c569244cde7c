//! The apply step: send what the outbox holds, and record what became of each write.
//!
//! Due writes are taken in batches per system and handed to the connector, which packs them
//! into as few calls as its API allows. Each outcome is recorded in one transaction per
//! batch:
//!
//! - **accepted**: the item is done; the base values it carried become the link's base
//!   (only now, never at planning time); a create puts the new id on its link; each written
//!   field is logged with `origin = truce`.
//! - **refused for good** (validation): the item goes to quarantine with the API's own
//!   code, field and message, and one WARN `truce::quarantine` event is logged.
//! - **failed for now** (5xx, 429, timeout): retried later with exponential backoff; after
//!   `max_attempts` it is quarantined like a refusal.
//!
//! A create without an upsert key (a Salesforce create without an external-id field) is not
//! idempotent, so it is marked as sent before the call; a create that carries the mark when
//! it comes round again (a crash or a lost answer between sending and recording) is
//! preceded by a lookup (a person by the link's email), and the record found is adopted
//! instead of created twice. A create never sent costs no lookup.
//!
//! A write the remote system calls moot (its record moved on: a lead converted meanwhile)
//! is dropped; the next pull moves the link and the merge plans the write again there.
//!
//! Both systems are applied side by side ([`SharedStore`]): each waits on its own quota.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value as Json;
use truce_connectors::{
    ApiError, Connector, Error, ErrorClass, ObjectType, PartRefused, System, Write, WriteOp,
    WriteOutcome,
};
use truce_state::{
    FieldChange, LinkId, Origin, OutboxItem, OutboxState, OutboxWrite, Refusal, Tx,
    WriteOp as StoredOp,
};

use super::events::{self, QuarantineEvent};
use super::observe::{Observer, WriteOutcomeKind};
use super::pair::Pair;
use super::pass_merges::PassMerges;
use super::read_back;
use super::settings::Settings;
use super::shared::SharedStore;
use super::{EngineError, MergeSummary, Progress, stored};

/// What one apply pass did, per system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Links whose writes finished (accepted, adopted or dropped).
    pub finished: BTreeSet<LinkId>,
    /// Of those, the links a create (or an adopted record) gave their missing record: only
    /// these can be what a deferred reference waits for.
    pub completed: BTreeSet<LinkId>,
    /// What merging the finished links within the pass did: its writes joined the pass
    /// when their system was still sending, or wait for the next.
    pub merged: MergeSummary,
    /// Writes accepted.
    pub written: usize,
    /// Records created.
    pub created: usize,
    /// Writes accepted that set references only (a deal's company and contacts): APIs
    /// batch those apart from records (HubSpot associations, 1,000 a call).
    pub references_only: usize,
    /// Writes that failed for now and will be retried.
    pub retrying: usize,
    /// Writes quarantined.
    pub quarantined: usize,
    /// The records created, as `(object, id)`: those worth it are read back in the same
    /// pass (`read_back.rs`).
    pub created_records: Vec<(ObjectType, String)>,
}

impl Applied {
    /// Adds another pass's figures to these.
    pub(crate) fn add(&mut self, other: Applied) {
        self.finished.extend(other.finished);
        self.completed.extend(other.completed);
        self.merged.add(&other.merged);
        self.written += other.written;
        self.created += other.created;
        self.references_only += other.references_only;
        self.retrying += other.retrying;
        self.quarantined += other.quarantined;
        self.created_records.extend(other.created_records);
    }
}

/// One system's apply pass: where it reads and records, whom it sends to, whom it tells.
pub struct Sender<'a> {
    /// The store, shared with the other system's pass.
    pub store: &'a SharedStore<'a>,
    /// The system written to.
    pub connector: Arc<dyn Connector>,
    /// Batch size and retry limits.
    pub settings: &'a Settings,
    /// The clock (ms).
    pub now: &'a (dyn Fn() -> i64 + Sync),
    /// Where progress goes (the backfill's bar).
    pub progress: &'a dyn Progress,
    /// Where outcomes are counted.
    pub observer: &'a dyn Observer,
    /// The links this pass merged after their writes finished, shared with the other
    /// system's pass.
    pub merges: &'a PassMerges,
}

impl Sender<'_> {
    fn system(&self) -> System {
        self.connector.system()
    }

    fn now(&self) -> i64 {
        (self.now)()
    }

    /// Sends every due write of this system. The links each batch finished are merged
    /// while the next batch's calls are on their way (or wait for the quota), so neither
    /// the calls wait for the merge nor the pass ends with a merge of everything it wrote
    /// ([`PassMerges`]). What those merges queue is sent in this loop too.
    pub async fn send_all(&self) -> Result<Applied, EngineError> {
        let system = stored::system_name(self.system());
        let mut total = Applied::default();
        let queued: i64 = self
            .store
            .with(|s| s.reader().pending_summary())?
            .iter()
            .filter(|p| p.system == system)
            .map(|p| p.count)
            .sum();
        let queued = u64::try_from(queued).unwrap_or(0);
        let mut settled = 0u64;
        let mut unmerged = Applied::default();
        // A full batch of what the pass's own merges queue goes out first: the associations
        // of the records it creates would otherwise wait behind the whole queue, and end
        // the pass with calls that each carry a whole batch's work.
        let queued_before = self.store.with(|s| s.reader().last_outbox_id())?;
        // Each round either finishes items or pushes them into the future, so this ends;
        // the bound is a guard against a store that keeps handing back the same items.
        for _ in 0..10_000 {
            let batch = self.settings.apply_batch;
            let items = self.store.with(|s| {
                s.reader()
                    .due_newer_first(system, self.now(), queued_before, batch)
            })?;
            if items.is_empty() {
                if unmerged.finished.is_empty() {
                    break;
                }
                // The last batch's merge may queue more.
                total
                    .merged
                    .add(&self.merge_finished(&std::mem::take(&mut unmerged))?);
                continue;
            }
            let count = items.len() as u64;
            // Biased: the batch's calls leave before the merge takes the thread.
            let (sent, merged) = tokio::join!(biased; self.send(items), async {
                self.merge_finished(&unmerged)
            });
            let sent = sent?;
            total.merged.add(&merged?);
            unmerged = Applied {
                finished: sent.finished.clone(),
                completed: sent.completed.clone(),
                ..Applied::default()
            };
            total.add(sent);
            settled += count;
            self.progress
                .wrote(self.system(), settled.min(queued), queued);
        }
        Ok(total)
    }

    /// Sends one batch of due items and records what became of each.
    async fn send(&self, items: Vec<OutboxItem>) -> Result<Applied, EngineError> {
        let mut applied = Applied::default();
        let mut adopted = BTreeSet::new();
        let items = self.adopt_existing(items, &mut adopted).await?;
        applied.completed.extend(&adopted);
        applied.finished.extend(adopted);
        if items.is_empty() {
            return Ok(applied);
        }
        let blind_ids: Vec<_> = items.iter().filter(|i| blind(i)).map(|i| i.id).collect();
        if !blind_ids.is_empty() {
            let now = self.now();
            self.store
                .with(|s| s.transaction(|tx| tx.mark_sent(&blind_ids, now)))?;
        }
        let bare = self
            .store
            .with(|s| read_back::without_associations(&s.reader(), self.settings, &items))?;
        let (writes, unreadable): (Vec<_>, Vec<_>) = items
            .iter()
            .map(|item| to_write(item, bare.contains(&item.id)))
            .partition(Result::is_ok);
        let writes: Vec<Write> = writes.into_iter().flatten().collect();
        let keys: Vec<i64> = writes.iter().map(|w| w.key).collect();
        let mut outcomes = match self.connector.apply(writes).await {
            Ok(outcomes) => outcomes,
            Err(err) if matches!(err.class(), ErrorClass::Fatal | ErrorClass::AuthExpired) => {
                return Err(err.into());
            }
            Err(err) => keys
                .into_iter()
                .map(|key| WriteOutcome::whole(key, Err(err.clone())))
                .collect(),
        };
        outcomes.extend(unreadable.into_iter().filter_map(Result::err).map(|o| *o));
        let system = self.system();
        let now = self.now();
        let recorded = self.store.with(|s| {
            s.transaction(|tx| {
                record_outcomes(
                    tx,
                    system,
                    &items,
                    outcomes,
                    self.settings,
                    self.observer,
                    now,
                )
            })
        })?;
        applied.add(recorded);
        Ok(applied)
    }

    /// For blind creates sent before without a recorded outcome: looks their people up by
    /// email and adopts the records that already exist. Returns the items to send.
    async fn adopt_existing(
        &self,
        items: Vec<OutboxItem>,
        finished: &mut BTreeSet<LinkId>,
    ) -> Result<Vec<OutboxItem>, EngineError> {
        let resent = |item: &OutboxItem| blind(item) && item.sent_at.is_some();
        let mut emails = BTreeMap::new();
        for item in items.iter().filter(|i| resent(i)) {
            if let Some(email) = self.person_email(item)? {
                emails.insert(item.id, email);
            }
        }
        if emails.is_empty() {
            return Ok(items);
        }
        let lookup: Vec<String> = emails.values().cloned().collect();
        let found = self.connector.find_by_email(&lookup).await?;
        let mut existing: BTreeMap<String, (ObjectType, String)> = BTreeMap::new();
        for record in &found.records {
            if let Some(email) = stored::email_key(record.email.as_deref())
                && !record.deleted
                && record.converted.is_none()
            {
                existing
                    .entry(email)
                    .or_insert((record.object, record.id.clone()));
            }
        }
        let mut send = Vec::with_capacity(items.len());
        let mut adopted = Vec::new();
        for item in items {
            match emails.get(&item.id).and_then(|e| existing.get(e)) {
                Some(found) => adopted.push((item, found.clone())),
                None => send.push(item),
            }
        }
        if !adopted.is_empty() {
            let now = self.now();
            self.store
                .with(|s| s.transaction(|tx| adopt(tx, &adopted, now, finished)))?;
        }
        Ok(send)
    }

    /// The email of the person a people-pair item's link stands for.
    fn person_email(&self, item: &OutboxItem) -> Result<Option<String>, EngineError> {
        let (Some(link), true) = (
            item.write.link_id,
            item.write.pair == Pair::Contacts.as_str(),
        ) else {
            return Ok(None);
        };
        let link = self.store.with(|s| s.reader().link(link))?;
        Ok(link.map(|l| l.email).filter(|e| !e.is_empty()))
    }
}

/// Records the records found for resent creates as their links' records.
fn adopt(
    tx: &mut Tx<'_>,
    adopted: &[(OutboxItem, (ObjectType, String))],
    now: i64,
    finished: &mut BTreeSet<LinkId>,
) -> Result<(), EngineError> {
    for (item, (object, id)) in adopted {
        if let Some(link) = item.write.link_id {
            tracing::info!(
                object = %item.write.pair,
                link = link.0,
                record = %id,
                "{} already has this record: adopting it instead of creating another",
                object.system().label()
            );
            let system = stored::system_name(object.system());
            if tx
                .reader()
                .link_by_record(&item.write.pair, system, id)?
                .is_none()
            {
                match object.system() {
                    System::HubSpot => tx.set_link_hubspot(link, id, now)?,
                    System::Salesforce => tx.set_link_salesforce(link, object.as_str(), id, now)?,
                }
            }
            finished.insert(link);
        }
        tx.mark_done(item.id, now)?;
    }
    Ok(())
}

/// The contract's write for an outbox item; an item the store holds in a form this truce
/// cannot read is answered at once with a permanent error naming the problem.
fn to_write(item: &OutboxItem, no_associations: bool) -> Result<Write, Box<WriteOutcome>> {
    let refuse = |message: String| {
        Box::new(WriteOutcome {
            key: item.id.0,
            result: Err(Error::new(
                ErrorClass::Permanent,
                format!("reading queued write {}", item.id),
                ApiError::message(message),
            )),
            refused: None,
        })
    };
    let object = stored::object(&item.write.object).map_err(|e| refuse(e.to_string()))?;
    let id = || {
        item.write
            .record_id
            .clone()
            .ok_or_else(|| refuse(format!("a {:?} without a record id", item.write.op)))
    };
    let op = match item.write.op {
        StoredOp::Create => WriteOp::Create {
            upsert_on: item.write.upsert.as_ref().map(stored::upsert),
        },
        StoredOp::Update => WriteOp::Update {
            id: id()?,
            no_associations,
        },
        StoredOp::Delete => WriteOp::Delete { id: id()? },
    };
    Ok(Write {
        key: item.id.0,
        object,
        op,
        fields: item.write.fields.clone(),
    })
}

/// A create the remote system cannot recognise if it is sent twice: one without an
/// upsert key.
fn blind(item: &OutboxItem) -> bool {
    item.write.op == StoredOp::Create && item.write.upsert.is_none()
}

fn record_outcomes(
    tx: &mut Tx<'_>,
    system: System,
    items: &[OutboxItem],
    outcomes: Vec<WriteOutcome>,
    settings: &Settings,
    observer: &dyn Observer,
    now: i64,
) -> Result<Applied, EngineError> {
    let mut applied = Applied::default();
    let by_key: BTreeMap<i64, &OutboxItem> = items.iter().map(|i| (i.id.0, i)).collect();
    let mut answered = BTreeSet::new();
    for outcome in outcomes {
        let Some(item) = by_key.get(&outcome.key) else {
            continue;
        };
        if !answered.insert(outcome.key) {
            continue;
        }
        // A create whose record was made but one of its fields refused: the record is
        // accepted without that field, which is quarantined as an update of its own.
        let mut whole = (*item).clone();
        let part = match (outcome.refused, &outcome.result) {
            (Some(part), Ok(written)) => Some(split_part(&mut whole, part, &written.id)),
            _ => None,
        };
        let kind = settle(
            tx,
            system,
            &whole,
            outcome.result,
            settings,
            now,
            &mut applied,
        )?;
        if let Some(kind) = kind {
            observer.wrote(system, &item.write.pair, kind, 1);
        }
        if let Some((write, err)) = part {
            quarantine_part(tx, system, write, &err, now)?;
            applied.quarantined += 1;
            observer.wrote(system, &item.write.pair, WriteOutcomeKind::Quarantined, 1);
        }
    }
    // A write the connector did not answer is treated as failed for now.
    for item in items.iter().filter(|i| !answered.contains(&i.id.0)) {
        let err = Error::new(
            ErrorClass::Transient,
            format!("{} write", system.label()),
            ApiError::message("no outcome returned for this write"),
        );
        let kind = settle(tx, system, item, Err(err), settings, now, &mut applied)?;
        if let Some(kind) = kind {
            observer.wrote(system, &item.write.pair, kind, 1);
        }
    }
    Ok(applied)
}

/// Whether `write` is an update of mapped references and nothing else.
fn references_only(settings: &Settings, write: &OutboxWrite) -> bool {
    let Some(spec) = Pair::parse(&write.pair).and_then(|pair| settings.pair(pair)) else {
        return false;
    };
    write.op == StoredOp::Update
        && !write.fields.is_empty()
        && write.fields.keys().all(|name| spec.is_reference(name))
}

/// Records what became of one write; returns how it counts (`None` for a moot write).
fn settle(
    tx: &mut Tx<'_>,
    system: System,
    item: &OutboxItem,
    result: Result<truce_connectors::Written, Error>,
    settings: &Settings,
    now: i64,
    applied: &mut Applied,
) -> Result<Option<WriteOutcomeKind>, EngineError> {
    let err = match result {
        Ok(written) => {
            applied.finished.extend(item.write.link_id);
            if item.write.op == StoredOp::Create {
                applied.completed.extend(item.write.link_id);
            }
            accepted(tx, system, item, &written.id, now)?;
            applied.written += 1;
            applied.created += usize::from(written.created);
            applied.references_only += usize::from(references_only(settings, &item.write));
            if written.created {
                read_back::as_created(tx, settings, item, &written.id, now)?;
                let object = stored::object(&item.write.object)?;
                applied.created_records.push((object, written.id));
            }
            return Ok(Some(WriteOutcomeKind::Ok));
        }
        Err(err) => err,
    };
    match err.class() {
        ErrorClass::Superseded => {
            applied.finished.extend(item.write.link_id);
            superseded(tx, item, &err, now)?;
            Ok(None)
        }
        ErrorClass::Permanent | ErrorClass::Fatal => {
            quarantine(tx, system, item, &err, now)?;
            applied.quarantined += 1;
            Ok(Some(WriteOutcomeKind::Quarantined))
        }
        _ if failed(tx, system, item, &err, settings, now)? => {
            applied.quarantined += 1;
            Ok(Some(WriteOutcomeKind::Quarantined))
        }
        _ => {
            applied.retrying += 1;
            Ok(Some(WriteOutcomeKind::Retry))
        }
    }
}

fn accepted(
    tx: &mut Tx<'_>,
    system: System,
    item: &OutboxItem,
    id: &str,
    now: i64,
) -> Result<(), EngineError> {
    let write = &item.write;
    let mut link = write.link_id;
    let system_name = stored::system_name(system);
    if write.op == StoredOp::Create
        && let Some(link_id) = link
    {
        match tx.reader().link_by_record(&write.pair, system_name, id)? {
            Some(other) if other.id != link_id => {
                // The upsert landed on a record another link holds: one thing, two links.
                tracing::warn!(
                    target: "truce::duplicate",
                    object = %write.pair,
                    link = link_id.0,
                    other_link = other.id.0,
                    record = id,
                    "create matched a record that is already linked; keeping the older link"
                );
                tx.unlink(link_id, now)?;
                link = None;
            }
            _ => match system {
                System::HubSpot => tx.set_link_hubspot(link_id, id, now)?,
                System::Salesforce => tx.set_link_salesforce(link_id, &write.object, id, now)?,
            },
        }
    }
    tx.mark_done(item.id, now)?;
    let Some(link) = link else {
        return Ok(());
    };
    if write.op == StoredOp::Update {
        read_back::written_to_created(tx, item, id, now)?;
    }
    for (field, value) in &write.base {
        tx.set_base(link, field, value, now)?;
    }
    let snapshot = tx.reader().snapshot(&write.pair, system_name, id)?;
    for (field, value) in &write.fields {
        let old = snapshot
            .as_ref()
            .and_then(|s| s.fields.get(field).cloned())
            .unwrap_or(Json::Null);
        tx.append_change(
            &write.pair,
            system_name,
            &FieldChange {
                object: write.object.clone(),
                record_id: id.to_string(),
                link_id: Some(link),
                field: field.clone(),
                old,
                new: value.clone(),
                source_modified_at: now,
                origin: Origin::Truce,
            },
            now,
        )?;
    }
    Ok(())
}

/// Takes the refused field out of `whole` (its value and its base), returning it as an
/// update of the record `id` with the refusal.
fn split_part(whole: &mut OutboxItem, part: PartRefused, id: &str) -> (OutboxWrite, Error) {
    let take = |map: &mut BTreeMap<String, Json>| {
        let key = map
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&part.field))
            .cloned();
        key.and_then(|k| map.remove_entry(&k))
    };
    let fields = take(&mut whole.write.fields).into_iter().collect();
    let base = take(&mut whole.write.base).into_iter().collect();
    let write = OutboxWrite {
        op: StoredOp::Update,
        record_id: Some(id.to_string()),
        upsert: None,
        fields,
        base,
        ..whole.write.clone()
    };
    (write, part.error)
}

/// Queues the refused part of an accepted create and quarantines it at once, so `truce
/// retry` sends just that part to the record that exists.
fn quarantine_part(
    tx: &mut Tx<'_>,
    system: System,
    write: OutboxWrite,
    err: &Error,
    now: i64,
) -> Result<(), EngineError> {
    let id = tx.enqueue(&write, now)?;
    let item = OutboxItem {
        id,
        write,
        state: OutboxState::Pending,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
    };
    quarantine(tx, system, &item, err, now)
}

/// A write to a record that moved on (a lead converted meanwhile): dropped; the next pull
/// moves the link and the merge plans the write there.
fn superseded(
    tx: &mut Tx<'_>,
    item: &OutboxItem,
    err: &Error,
    now: i64,
) -> Result<(), EngineError> {
    tracing::info!(
        object = %item.write.pair,
        link = item.write.link_id.map(|l| l.0),
        record = item.write.record_id.as_deref().unwrap_or(""),
        reason = %err.api(),
        "write dropped: the record moved on (converted or merged); the link follows it"
    );
    tx.mark_done(item.id, now)?;
    Ok(())
}

/// Records a failed attempt; quarantines once attempts are spent. True when quarantined.
fn failed(
    tx: &mut Tx<'_>,
    system: System,
    item: &OutboxItem,
    err: &Error,
    settings: &Settings,
    now: i64,
) -> Result<bool, EngineError> {
    if item.attempts + 1 >= settings.max_attempts {
        quarantine(tx, system, item, err, now)?;
        return Ok(true);
    }
    let exponent = u32::try_from(item.attempts.clamp(0, 10)).unwrap_or(10);
    let backoff_ms = 2_000_i64.saturating_mul(1 << exponent).min(15 * 60_000);
    let wait = err
        .retry_after()
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(backoff_ms);
    tx.mark_failed(item.id, &err.to_string(), now + wait, now)?;
    Ok(false)
}

fn quarantine(
    tx: &mut Tx<'_>,
    system: System,
    item: &OutboxItem,
    err: &Error,
    now: i64,
) -> Result<(), EngineError> {
    let api = err.api();
    let refusal = Refusal {
        email: None,
        field: api.fields.first().cloned(),
        error_code: api
            .code
            .clone()
            .unwrap_or_else(|| format!("HTTP_{}", api.status.unwrap_or(0))),
        message: api.message.clone(),
    };
    tx.quarantine_write(item.id, &refusal, now)?;
    let link = match item.write.link_id {
        Some(link) => tx.reader().link(link)?,
        None => None,
    };
    let pair = stored::pair(&item.write.pair)?;
    events::quarantine(&QuarantineEvent {
        object: pair,
        link: item.write.link_id.map_or(0, |l| l.0),
        email: link.as_ref().map_or("", |l| l.email.as_str()),
        name: link.as_ref().and_then(|l| l.name.as_deref()).unwrap_or(""),
        system: stored::system_name(system),
        record_id: item.write.record_id.as_deref().unwrap_or(""),
        field: refusal.field.as_deref(),
        error_code: &refusal.error_code,
        message: &refusal.message,
    });
    Ok(())
}
