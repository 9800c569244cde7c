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
//! A Salesforce create without an external-id field is not idempotent, so it is marked as
//! sent before the call; a create that carries the mark when it comes round again (a crash
//! or a lost answer between sending and recording) is preceded by a lookup by email, and
//! the record found is adopted instead of created twice. A create never sent costs no
//! lookup.
//!
//! Both systems are applied side by side ([`SharedStore`]): each waits on its own quota.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use truce_connectors::{
    Connector, ErrorClass, ObjectType, System, UpsertKey, Write, WriteOp, WriteOutcome,
};
use truce_state::{
    FieldChange, LinkId, Origin, OutboxItem, Refusal, Tx, WriteOp as StoredOp, normalize_email,
};

use super::EngineError;
use super::settings::Settings;
use super::shared::SharedStore;
use crate::logging::{self, QuarantineEvent};

/// What one apply pass did, per system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Links whose writes finished (accepted, adopted or dropped): merged again at once,
    /// since a link is not merged while a write of its own is on the way.
    pub finished: BTreeSet<LinkId>,
    /// Writes accepted.
    pub written: usize,
    /// Records created.
    pub created: usize,
    /// Writes that failed for now and will be retried.
    pub retrying: usize,
    /// Writes quarantined.
    pub quarantined: usize,
}

/// Sends every due write of one system.
pub async fn apply_system(
    store: &SharedStore<'_>,
    connector: &dyn Connector,
    settings: &Settings,
    now: &dyn Fn() -> i64,
    progress: &dyn super::Progress,
) -> Result<Applied, EngineError> {
    let system = connector.system();
    let mut total = Applied::default();
    let queued: i64 = store
        .with(|s| s.reader().pending_summary())?
        .iter()
        .filter(|p| p.system == system.as_str())
        .map(|p| p.count)
        .sum();
    let queued = u64::try_from(queued).unwrap_or(0);
    let mut settled = 0u64;
    // Each round either finishes items or pushes them into the future, so this ends; the
    // bound is a guard against a store that keeps handing back the same items.
    for _ in 0..10_000 {
        let items = store.with(|s| s.reader().due(system.as_str(), now(), settings.apply_batch))?;
        if items.is_empty() {
            break;
        }
        let items = adopt_existing(store, connector, items, now(), &mut total.finished).await?;
        if items.is_empty() {
            continue;
        }
        let blind_ids: Vec<_> = items.iter().filter(|i| blind(i)).map(|i| i.id).collect();
        if !blind_ids.is_empty() {
            store.with(|s| s.transaction(|tx| tx.mark_sent(&blind_ids, now())))?;
        }
        let writes: Vec<Write> = items.iter().filter_map(to_write).collect();
        let outcomes = match connector.apply(writes).await {
            Ok(outcomes) => outcomes,
            Err(err) if err.class() == ErrorClass::Fatal => return Err(err.into()),
            Err(err) if err.class() == ErrorClass::AuthExpired => return Err(err.into()),
            Err(err) => items
                .iter()
                .map(|item| WriteOutcome {
                    key: item.id.0,
                    result: Err(err.clone()),
                })
                .collect(),
        };
        let applied = store.with(|s| {
            s.transaction(|tx| record_outcomes(tx, system, &items, outcomes, settings, now()))
        })?;
        settled += items.len() as u64;
        progress.wrote(system, settled.min(queued), queued);
        total.finished.extend(applied.finished);
        total.written += applied.written;
        total.created += applied.created;
        total.retrying += applied.retrying;
        total.quarantined += applied.quarantined;
    }
    Ok(total)
}

fn to_write(item: &OutboxItem) -> Option<Write> {
    let object = ObjectType::parse(&item.write.object)?;
    let op = match item.write.op {
        StoredOp::Create => WriteOp::Create {
            upsert_on: item.write.upsert.as_ref().map(upsert_key),
        },
        StoredOp::Update => WriteOp::Update {
            id: item.write.record_id.clone()?,
        },
        StoredOp::Delete => WriteOp::Delete {
            id: item.write.record_id.clone()?,
        },
    };
    Some(Write {
        key: item.id.0,
        object,
        op,
        fields: item.write.fields.clone(),
    })
}

/// The stored upsert key in the contract's terms.
fn upsert_key(key: &truce_state::UpsertKey) -> UpsertKey {
    if key.field == super::EMAIL_KEY {
        UpsertKey::Email(key.value.clone())
    } else {
        UpsertKey::Field {
            field: key.field.clone(),
            value: key.value.clone(),
        }
    }
}

/// A create the remote system cannot recognise if it is sent twice: a Salesforce create
/// without an external-id field.
fn blind(item: &OutboxItem) -> bool {
    item.write.system == "salesforce"
        && item.write.op == StoredOp::Create
        && item.write.upsert.is_none()
}

/// For blind creates sent before without a recorded outcome: looks their emails up and
/// adopts the records that already exist. Returns the items to send.
async fn adopt_existing(
    store: &SharedStore<'_>,
    connector: &dyn Connector,
    items: Vec<OutboxItem>,
    now: i64,
    finished: &mut BTreeSet<LinkId>,
) -> Result<Vec<OutboxItem>, EngineError> {
    let resent = |item: &OutboxItem| blind(item) && item.sent_at.is_some();
    let emails: Vec<String> = items
        .iter()
        .filter(|item| resent(item))
        .filter_map(|item| item.write.fields.get("Email").and_then(Json::as_str))
        .map(normalize_email)
        .collect();
    if emails.is_empty() {
        return Ok(items);
    }
    let found = connector.find_by_email(&emails).await?;
    let mut existing: BTreeMap<String, (ObjectType, String)> = BTreeMap::new();
    for record in &found.records {
        let object = record.object;
        if let Some(email) = record.email.as_deref()
            && !record.deleted
            && record.converted.is_none()
        {
            existing
                .entry(normalize_email(email))
                .or_insert((object, record.id.clone()));
        }
    }
    let mut send = Vec::with_capacity(items.len());
    let mut adopted = Vec::new();
    for item in items {
        let email = item
            .write
            .fields
            .get("Email")
            .and_then(Json::as_str)
            .map(normalize_email);
        match email.and_then(|e| existing.get(&e).cloned()) {
            Some(found) if resent(&item) => adopted.push((item, found)),
            _ => send.push(item),
        }
    }
    if !adopted.is_empty() {
        store.with(|s| {
            s.transaction(|tx| {
            for (item, (object, id)) in &adopted {
                if let Some(link) = item.write.link_id {
                    tracing::info!(
                        link = link.0,
                        record = %id,
                        "Salesforce already has this email: adopting the record instead of creating"
                    );
                    if tx.reader().link_by_salesforce_id(id)?.is_none() {
                        tx.set_link_salesforce(link, object.as_str(), id, now)?;
                    }
                    finished.insert(link);
                }
                tx.mark_done(item.id, now)?;
            }
            Ok::<_, truce_state::StoreError>(())
        })
        })?;
    }
    Ok(send)
}

fn record_outcomes(
    tx: &mut Tx<'_>,
    system: System,
    items: &[OutboxItem],
    outcomes: Vec<WriteOutcome>,
    settings: &Settings,
    now: i64,
) -> Result<Applied, EngineError> {
    let mut applied = Applied::default();
    let by_key: BTreeMap<i64, &OutboxItem> = items.iter().map(|i| (i.id.0, i)).collect();
    let mut answered = std::collections::BTreeSet::new();
    for outcome in outcomes {
        let Some(item) = by_key.get(&outcome.key) else {
            continue;
        };
        answered.insert(outcome.key);
        if outcome.result.is_ok() || converted_lead_outcome(&outcome) {
            applied.finished.extend(item.write.link_id);
        }
        match outcome.result {
            Ok(written) => {
                accepted(tx, system, item, &written.id, now)?;
                applied.written += 1;
                applied.created += usize::from(written.created);
            }
            Err(err) => match err.class() {
                ErrorClass::Permanent | ErrorClass::Fatal | ErrorClass::Superseded => {
                    if converted_lead(&err) {
                        superseded(tx, item, now)?;
                    } else {
                        quarantine(tx, system, item, &err, now)?;
                        applied.quarantined += 1;
                    }
                }
                _ => {
                    if failed(tx, system, item, &err, settings, now)? {
                        applied.quarantined += 1;
                    } else {
                        applied.retrying += 1;
                    }
                }
            },
        }
    }
    // A write the connector did not answer is treated as failed for now.
    for item in items.iter().filter(|i| !answered.contains(&i.id.0)) {
        let err = truce_connectors::Error::new(
            ErrorClass::Transient,
            format!("{} write", system.label()),
            truce_connectors::ApiError::message("no outcome returned for this write"),
        );
        if failed(tx, system, item, &err, settings, now)? {
            applied.quarantined += 1;
        } else {
            applied.retrying += 1;
        }
    }
    Ok(applied)
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
    if write.op == StoredOp::Create
        && let Some(link_id) = link
    {
        let taken = match system {
            System::HubSpot => tx.reader().link_by_hubspot_id(id)?,
            System::Salesforce => tx.reader().link_by_salesforce_id(id)?,
        };
        match taken {
            Some(other) if other.id != link_id => {
                // The upsert landed on a record another link holds: one person, two links.
                tracing::warn!(
                    target: "truce::duplicate",
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
    for (field, value) in &write.base {
        tx.set_base(link, field, value, now)?;
    }
    let snapshot = tx.reader().snapshot(system.as_str(), id)?;
    for (field, value) in &write.fields {
        let old = snapshot
            .as_ref()
            .and_then(|s| s.fields.get(field).cloned())
            .unwrap_or(Json::Null);
        tx.append_change(
            system.as_str(),
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

fn converted_lead_outcome(outcome: &WriteOutcome) -> bool {
    outcome.result.as_ref().err().is_some_and(converted_lead)
}

fn converted_lead(err: &truce_connectors::Error) -> bool {
    err.class() == ErrorClass::Superseded
        || err.api().code.as_deref() == Some("CANNOT_UPDATE_CONVERTED_LEAD")
}

/// A write to a lead that was converted meanwhile: dropped; the next pull moves the link
/// to the Contact and the merge plans the write there.
fn superseded(tx: &mut Tx<'_>, item: &OutboxItem, now: i64) -> Result<(), EngineError> {
    tracing::info!(
        link = item.write.link_id.map(|l| l.0),
        lead = item.write.record_id.as_deref().unwrap_or(""),
        "write to a converted lead dropped; the link moves to its Contact"
    );
    tx.mark_done(item.id, now)?;
    Ok(())
}

/// Records a failed attempt; quarantines once attempts are spent. True when quarantined.
fn failed(
    tx: &mut Tx<'_>,
    system: System,
    item: &OutboxItem,
    err: &truce_connectors::Error,
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
    err: &truce_connectors::Error,
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
    let email = match item.write.link_id {
        Some(link) => tx.reader().link(link)?.map(|l| l.email),
        None => None,
    }
    .unwrap_or_default();
    logging::quarantine(&QuarantineEvent {
        link: item.write.link_id.map_or(0, |l| l.0),
        email: &email,
        system: system.as_str(),
        record_id: item.write.record_id.as_deref().unwrap_or(""),
        field: refusal.field.as_deref(),
        error_code: &refusal.error_code,
        message: &refusal.message,
    });
    Ok(())
}
