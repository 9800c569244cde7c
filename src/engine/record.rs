//! The record step: connector records in, store pages out.
//!
//! For each pulled (or scanned) record, [`build_pages`] compares the tracked fields with
//! the stored snapshot and emits one change-log row per field that changed. A change whose
//! new value, in canonical form, equals the link's base is the echo of truce's own write
//! (`origin = echo`): it is logged, and the merge will find both sides agreeing, so it never
//! propagates back. Records that are new, changed, deleted, converted or merged are
//! returned as *touched*, for the identity and merge steps.
//!
//! A connector page may hold records of several pairs (Salesforce reads Leads and Accounts
//! in one call): it becomes one store page per pair, written by the caller in one
//! transaction ([`truce_state::Tx::record_page`]). Records of objects no synced pair holds
//! are not recorded.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use truce_connectors::{Associated, ObjectType, Record, System};
use truce_state::{FieldChange, Origin, PulledPage, Reader};

use super::EngineError;
use super::merge::Side;
use super::pair::{Identity, Pair, PairSpec};
use super::settings::Settings;
use super::stored;

/// A record the identity and merge steps must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    /// The record's pair.
    pub pair: Pair,
    /// The record's system.
    pub system: System,
    /// The record's object.
    pub object: ObjectType,
    /// Its id.
    pub id: String,
}

/// Builds the store pages for `records` of one system, one per pair, in [`Pair::ALL`]'s
/// order. `observed_at` is now (ms).
pub fn build_pages(
    reader: &Reader<'_>,
    system: System,
    records: &[Record],
    settings: &Settings,
    observed_at: i64,
) -> Result<(Vec<PulledPage>, Vec<Touched>), EngineError> {
    let mut pages: BTreeMap<Pair, PulledPage> = BTreeMap::new();
    let mut touched = Vec::new();
    for record in records {
        let Some(spec) = settings.pair_of(record.object) else {
            continue;
        };
        let page = pages.entry(spec.pair).or_insert_with(|| PulledPage {
            pair: spec.pair.as_str().into(),
            system: stored::system_name(system).into(),
            observed_at,
            ..PulledPage::default()
        });
        if let Some(t) = record_one(reader, spec, system, record, page)? {
            touched.push(t);
        }
    }
    let mut pages: Vec<PulledPage> = Pair::ALL
        .into_iter()
        .filter_map(|pair| pages.remove(&pair))
        .collect();
    if pages.is_empty() {
        // The cursors and scan step still need a page to travel in.
        pages.push(PulledPage {
            pair: Pair::Contacts.as_str().into(),
            system: stored::system_name(system).into(),
            observed_at,
            ..PulledPage::default()
        });
    }
    Ok((pages, touched))
}

/// Builds the store pages for association patches of one system (fields read apart from
/// their records, see [`super::sweep`]): each patch changes only the fields it carries
/// on the stored snapshot. HubSpot does not date association changes, so a change found
/// this way is dated when it was observed, `observed_at`.
pub fn build_patch_pages(
    reader: &Reader<'_>,
    system: System,
    patches: &[(ObjectType, Associated)],
    settings: &Settings,
    observed_at: i64,
) -> Result<(Vec<PulledPage>, Vec<Touched>), EngineError> {
    let mut pages: BTreeMap<Pair, PulledPage> = BTreeMap::new();
    let mut touched = Vec::new();
    for (object, patch) in patches {
        let Some(spec) = settings.pair_of(*object) else {
            continue;
        };
        let pair = spec.pair.as_str();
        let Some(previous) = reader.snapshot(pair, stored::system_name(system), &patch.id)? else {
            continue;
        };
        let mut record = stored::record_of(&previous, *object);
        record.fields.extend(patch.fields.clone());
        record.modified_at = previous.modified_at;
        let changes: Vec<FieldChange> =
            field_changes(reader, spec, system, &record, Some(&previous.fields))?
                .into_iter()
                .map(|c| FieldChange {
                    source_modified_at: observed_at,
                    ..c
                })
                .collect();
        if changes.is_empty() {
            continue;
        }
        let page = pages.entry(spec.pair).or_insert_with(|| PulledPage {
            pair: pair.into(),
            system: stored::system_name(system).into(),
            observed_at,
            ..PulledPage::default()
        });
        page.changes.extend(changes);
        page.snapshots
            .push(stored::snapshot_update(&record, previous.match_key.clone()));
        touched.push(Touched {
            pair: spec.pair,
            system,
            object: *object,
            id: patch.id.clone(),
        });
    }
    Ok((pages.into_values().collect(), touched))
}

/// Adds one record's changes and snapshot to its pair's page; returns it when touched.
fn record_one(
    reader: &Reader<'_>,
    spec: &PairSpec,
    system: System,
    record: &Record,
    page: &mut PulledPage,
) -> Result<Option<Touched>, EngineError> {
    let pair = spec.pair.as_str();
    let system_name = stored::system_name(system);
    let previous = reader.snapshot(pair, system_name, &record.id)?;
    if previous
        .as_ref()
        .is_some_and(|p| p.modified_at > record.modified_at)
    {
        // An older version seen again (look-back re-read): nothing new.
        return Ok(None);
    }
    let update = stored::snapshot_update(record, match_key(spec, record));
    let changes = field_changes(
        reader,
        spec,
        system,
        record,
        previous.as_ref().map(|p| &p.fields),
    )?;
    let moved = previous.as_ref().is_none_or(|p| {
        p.deleted != update.deleted || p.meta != update.meta || p.match_key != update.match_key
    });
    page.changes.extend_from_slice(&changes);
    page.snapshots.push(update);
    Ok((moved || !changes.is_empty()).then(|| Touched {
        pair: spec.pair,
        system,
        object: record.object,
        id: record.id.clone(),
    }))
}

/// What identity matches a record on within its pair.
fn match_key(spec: &PairSpec, record: &Record) -> Option<String> {
    match &spec.identity {
        Identity::Email(_) => stored::email_key(record.email.as_deref()),
        Identity::Company(_) => stored::domain_key(record.domain.as_deref()),
        // The id of the other side's record this deal names, if its id field is mapped.
        Identity::Deal(deals) => {
            let field = match record.object.system() {
                System::HubSpot => deals.hubspot_id_property.as_ref(),
                System::Salesforce => deals.external_id_field.as_ref(),
            }?;
            record
                .fields
                .get(field)
                .and_then(Json::as_str)
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(String::from)
        }
    }
}

fn field_changes(
    reader: &Reader<'_>,
    spec: &PairSpec,
    system: System,
    record: &Record,
    old: Option<&BTreeMap<String, Json>>,
) -> Result<Vec<FieldChange>, EngineError> {
    let pair = spec.pair.as_str();
    let link = reader.link_by_record(pair, stored::system_name(system), &record.id)?;
    let base = match &link {
        Some(link) => reader.base(link.id)?,
        None => BTreeMap::new(),
    };
    let keys: BTreeSet<&String> = record
        .fields
        .keys()
        .chain(old.into_iter().flat_map(|o| o.keys()))
        .filter(|k| spec.tracks(system, k))
        .collect();
    let mut changes = Vec::new();
    for key in keys {
        let before = old.and_then(|o| o.get(key)).cloned().unwrap_or(Json::Null);
        let after = record.fields.get(key).cloned().unwrap_or(Json::Null);
        if before == after || (is_blank(&before) && is_blank(&after)) {
            continue;
        }
        let echo = link.is_some() && is_echo(spec, system, key, &after, &base);
        changes.push(FieldChange {
            object: record.object.as_str().into(),
            record_id: record.id.clone(),
            link_id: link.as_ref().map(|l| l.id),
            field: key.clone(),
            old: before,
            new: after,
            source_modified_at: record.modified_at,
            origin: if echo { Origin::Echo } else { Origin::Remote },
        });
    }
    Ok(changes)
}

fn is_blank(value: &Json) -> bool {
    matches!(value, Json::Null) || value.as_str() == Some("")
}

/// True when the new value is what the link's base says both sides agreed on: truce's own
/// write coming back. References are compared as links by the merge, not here: their
/// changes are logged as remote, which only affects what `history` calls them.
fn is_echo(
    spec: &PairSpec,
    system: System,
    field: &str,
    value: &Json,
    base: &BTreeMap<String, truce_state::BaseValue>,
) -> bool {
    let side = match system {
        System::HubSpot => Side::HubSpot,
        System::Salesforce => Side::Salesforce,
    };
    spec.fields
        .iter()
        .filter(|map| map.reference.is_none() && map.name(side) == field)
        .any(|map| {
            let canonical = match side {
                Side::HubSpot => map.from_hubspot(Some(value)),
                Side::Salesforce => map.from_salesforce(Some(value)),
            };
            canonical.is_ok_and(|v| {
                base.get(&map.salesforce)
                    .is_some_and(|b| super::reconcile::json_of(&v) == b.value)
            })
        })
}
