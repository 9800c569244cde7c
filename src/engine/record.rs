//! The record step: connector records in, one store page out.
//!
//! For each pulled (or scanned) record, [`build_page`] compares the tracked fields with the
//! stored snapshot and emits one change-log row per field that changed. A change whose new
//! value, in canonical form, equals the link's base is the echo of truce's own write
//! (`origin = echo`): it is logged, and the merge will find both sides agreeing, so it never
//! propagates back. Records that are new, changed, deleted, converted or merged are
//! returned as *touched*, for the identity and merge steps.
//!
//! The page (changes, snapshots, cursors or scan token) is written by the caller in one
//! transaction ([`truce_state::Tx::record_page`]).

use std::collections::BTreeMap;

use serde_json::Value as Json;
use truce_connectors::{ObjectType, Record, System};
use truce_state::{FieldChange, Origin, PulledPage, Reader, SnapshotUpdate, normalize_email};

use super::merge::Side;
use super::settings::Settings;

/// Snapshot keys truce adds from the record's metadata (real API field names).
const IS_CONVERTED: &str = "IsConverted";
const CONVERTED_CONTACT: &str = "ConvertedContactId";
const MASTER_RECORD: &str = "MasterRecordId";
const MERGED_IDS: &str = "hs_merged_object_ids";

/// A record the identity and merge steps must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    /// The record's system.
    pub system: System,
    /// The record's object.
    pub object: ObjectType,
    /// Its id.
    pub id: String,
}

/// Builds the page for `records` of one system. `observed_at` is now (ms).
pub fn build_page(
    reader: &Reader<'_>,
    system: System,
    records: &[Record],
    settings: &Settings,
    observed_at: i64,
) -> truce_state::Result<(PulledPage, Vec<Touched>)> {
    let mut page = PulledPage {
        system: system.as_str().into(),
        observed_at,
        ..PulledPage::default()
    };
    let mut touched = Vec::new();
    for record in records {
        let object = record.object;
        let fields = snapshot_fields(record);
        let previous = reader.snapshot(system.as_str(), &record.id)?;
        if previous
            .as_ref()
            .is_some_and(|p| p.modified_at > record.modified_at)
        {
            // An older version seen again (look-back re-read): nothing new.
            continue;
        }
        let old_fields = previous.as_ref().map(|p| &p.fields);
        let changes = field_changes(
            reader, system, record, object, old_fields, &fields, settings,
        )?;
        let deleted_changed = previous.as_ref().map(|p| p.deleted) != Some(record.deleted);
        if previous.is_none() || deleted_changed || !changes.is_empty() {
            touched.push(Touched {
                system,
                object,
                id: record.id.clone(),
            });
        }
        page.changes.extend(changes);
        page.snapshots.push(SnapshotUpdate {
            object: object.as_str().into(),
            record_id: record.id.clone(),
            email: record.email.as_deref().map(normalize_email),
            modified_at: record.modified_at,
            deleted: record.deleted,
            fields,
        });
    }
    Ok((page, touched))
}

/// The record's fields plus the metadata the engine needs later from the snapshot alone.
fn snapshot_fields(record: &Record) -> BTreeMap<String, Json> {
    let mut fields = record.fields.clone();
    if let Some(conversion) = &record.converted {
        fields.insert(IS_CONVERTED.into(), Json::Bool(true));
        if let Some(contact) = &conversion.contact_id {
            fields.insert(CONVERTED_CONTACT.into(), Json::String(contact.clone()));
        }
    }
    if let Some(master) = &record.merged_into {
        fields.insert(MASTER_RECORD.into(), Json::String(master.clone()));
    }
    if !record.merged_ids.is_empty() {
        fields.insert(MERGED_IDS.into(), Json::String(record.merged_ids.join(";")));
    }
    fields
}

/// The fields whose changes are logged: mapped ones, email, the qualification property,
/// and the metadata keys.
fn tracked(settings: &Settings, system: System, field: &str) -> bool {
    match system {
        System::HubSpot => {
            field == MERGED_IDS
                || field == settings.qualify.property
                || settings.fields.iter().any(|f| f.hubspot == field)
        }
        System::Salesforce => {
            matches!(field, IS_CONVERTED | CONVERTED_CONTACT | MASTER_RECORD)
                || settings.fields.iter().any(|f| f.salesforce == field)
        }
    }
}

fn field_changes(
    reader: &Reader<'_>,
    system: System,
    record: &Record,
    object: ObjectType,
    old: Option<&BTreeMap<String, Json>>,
    new: &BTreeMap<String, Json>,
    settings: &Settings,
) -> truce_state::Result<Vec<FieldChange>> {
    let link = match system {
        System::HubSpot => reader.link_by_hubspot_id(&record.id)?,
        System::Salesforce => reader.link_by_salesforce_id(&record.id)?,
    };
    let base = match &link {
        Some(link) => reader.base(link.id)?,
        None => BTreeMap::new(),
    };
    let mut changes = Vec::new();
    let keys = new
        .keys()
        .chain(old.into_iter().flat_map(|o| o.keys()))
        .filter(|k| tracked(settings, system, k));
    let mut seen = std::collections::BTreeSet::new();
    for key in keys {
        if !seen.insert(key.as_str()) {
            continue;
        }
        let before = old.and_then(|o| o.get(key)).cloned().unwrap_or(Json::Null);
        let after = new.get(key).cloned().unwrap_or(Json::Null);
        if before == after || (is_blank(&before) && is_blank(&after)) {
            continue;
        }
        let echo = link.is_some() && is_echo(settings, system, key, &after, &base);
        changes.push(FieldChange {
            object: object.as_str().into(),
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
/// write coming back.
fn is_echo(
    settings: &Settings,
    system: System,
    field: &str,
    value: &Json,
    base: &BTreeMap<String, truce_state::BaseValue>,
) -> bool {
    let side = match system {
        System::HubSpot => Side::HubSpot,
        System::Salesforce => Side::Salesforce,
    };
    settings.fields.iter().any(|map| {
        let (name, canonical) = match side {
            Side::HubSpot => (&map.hubspot, map.from_hubspot(Some(value))),
            Side::Salesforce => (&map.salesforce, map.from_salesforce(Some(value))),
        };
        name == field
            && canonical.is_ok_and(|v| {
                base.get(&map.salesforce)
                    .is_some_and(|b| super::reconcile::json_of(&v) == b.value)
            })
    })
}
