//! Identity: which HubSpot contact is which Salesforce record.
//!
//! [`resolve`] looks at every touched record and keeps the links right:
//!
//! - **Matching** is on the normalised email. A Salesforce Contact beats a Lead. Two
//!   candidates of the same kind are a duplicate: reported (`truce status`, WARN), never
//!   guessed.
//! - **Creating**: a HubSpot contact with no match is created in Salesforce (as
//!   `create_salesforce_as`) only when it passes the qualification gate; a Salesforce record
//!   with no match is created in HubSpot (closed loop: marketing sees sales' people). The
//!   link is made at once, with the other side empty until the create is confirmed.
//! - **Moves**: a converted lead hands its link to its Contact; a HubSpot merge hands the
//!   link to the surviving contact; a Salesforce merge to the master record. A changed email
//!   keeps the link.
//! - **Deletes** follow `sync.deletes`: unlink (default) or propagate.
//!
//! Everything happens inside the caller's transaction; the links to merge come back.

use std::collections::BTreeSet;

use serde_json::Value as Json;
use truce_connectors::{ObjectType, System};
use truce_state::{
    Link, LinkId, NewLink, OutboxWrite, Snapshot, Tx, UpsertKey, WriteOp, normalize_email,
};

use super::reconcile::{is_converted, json_of};
use super::record::Touched;
use super::settings::{Settings, object_name};
use crate::config::{DeletePolicy, SalesforceObject};

/// What identity resolution did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Links to merge now.
    pub dirty: BTreeSet<LinkId>,
    /// Links created.
    pub linked: usize,
    /// Creates queued (either side).
    pub creates: usize,
    /// Links dissolved by deletes.
    pub unlinked: usize,
    /// Duplicates reported.
    pub duplicates: usize,
    /// Salesforce records whose snapshots are needed (a converted lead's Contact).
    pub fetch: Vec<(ObjectType, String)>,
}

/// Resolves identity for every touched record.
pub fn resolve(
    tx: &mut Tx<'_>,
    touched: &[Touched],
    settings: &Settings,
    now: i64,
) -> truce_state::Result<Identity> {
    let mut out = Identity::default();
    for record in touched {
        let Some(snapshot) = tx.reader().snapshot(record.system.as_str(), &record.id)? else {
            continue;
        };
        match record.system {
            System::HubSpot => hubspot(tx, &snapshot, settings, now, &mut out)?,
            System::Salesforce => salesforce(tx, &snapshot, settings, now, &mut out)?,
        }
    }
    Ok(out)
}

fn hubspot(
    tx: &mut Tx<'_>,
    snap: &Snapshot,
    settings: &Settings,
    now: i64,
    out: &mut Identity,
) -> truce_state::Result<()> {
    let linked = tx.reader().link_by_hubspot_id(&snap.record_id)?;
    if snap.deleted {
        if let Some(link) = linked {
            deleted(tx, &link, System::HubSpot, settings, now, out)?;
        }
        return Ok(());
    }
    take_over_merged(tx, snap, linked.as_ref(), now, out)?;
    if let Some(link) = tx.reader().link_by_hubspot_id(&snap.record_id)? {
        keep_email(tx, &link, snap, now)?;
        // A create Salesforce refused (now quarantined) is planned again once the contact
        // changes: the change may be the fix.
        if link.salesforce_id.is_none()
            && tx.reader().pending_for_link(link.id)?.is_empty()
            && settings.qualifies(snap.fields.get(&settings.qualify.property))
            && let Some(email) = snap.email.clone()
        {
            create_in_salesforce(tx, snap, &email, Some(link.id), settings, now)?;
            out.creates += 1;
        }
        out.dirty.insert(link.id);
        return Ok(());
    }
    let Some(email) = snap.email.clone() else {
        return Ok(());
    };
    // A link made from the Salesforce side, waiting for its HubSpot contact.
    if let Some(link) = waiting_link(tx, &email, |l| l.hubspot_id.is_none())? {
        tx.set_link_hubspot(link.id, &snap.record_id, now)?;
        out.dirty.insert(link.id);
        return Ok(());
    }
    match salesforce_match(tx, &email, now, out)? {
        Match::One(object, id) => {
            let link = tx.create_link(
                &NewLink {
                    email,
                    hubspot_id: Some(snap.record_id.clone()),
                    salesforce_object: Some(object.into()),
                    salesforce_id: Some(id),
                },
                now,
            )?;
            out.linked += 1;
            out.dirty.insert(link);
        }
        Match::Ambiguous => {}
        Match::None if settings.qualifies(snap.fields.get(&settings.qualify.property)) => {
            create_in_salesforce(tx, snap, &email, None, settings, now)?;
            out.creates += 1;
        }
        Match::None => {}
    }
    Ok(())
}

fn salesforce(
    tx: &mut Tx<'_>,
    snap: &Snapshot,
    settings: &Settings,
    now: i64,
    out: &mut Identity,
) -> truce_state::Result<()> {
    let linked = tx.reader().link_by_salesforce_id(&snap.record_id)?;
    if snap.deleted {
        if let Some(link) = linked {
            match snap.fields.get("MasterRecordId").and_then(Json::as_str) {
                Some(master) => move_salesforce(tx, &link, &snap.object, master, now, out)?,
                None => deleted(tx, &link, System::Salesforce, settings, now, out)?,
            }
        }
        return Ok(());
    }
    if is_converted(snap) {
        if let (Some(link), Some(contact)) = (
            linked,
            snap.fields.get("ConvertedContactId").and_then(Json::as_str),
        ) {
            tracing::info!(
                link = link.id.0,
                email = %link.email,
                lead = %snap.record_id,
                contact = %contact,
                "lead converted: the link moves to its Contact"
            );
            move_salesforce(tx, &link, "Contact", contact, now, out)?;
            if tx.reader().snapshot("salesforce", contact)?.is_none() {
                out.fetch
                    .push((ObjectType::SalesforceContact, contact.to_string()));
            }
        }
        return Ok(());
    }
    if let Some(link) = linked {
        keep_email(tx, &link, snap, now)?;
        out.dirty.insert(link.id);
        return Ok(());
    }
    let Some(email) = snap.email.clone() else {
        return Ok(());
    };
    if let Some(link) = waiting_link(tx, &email, |l| l.salesforce_id.is_none())? {
        tx.set_link_salesforce(link.id, &snap.object, &snap.record_id, now)?;
        out.dirty.insert(link.id);
        return Ok(());
    }
    let hubspot: Vec<Snapshot> = live(tx.reader().snapshots_by_email("hubspot", &email)?);
    match hubspot.as_slice() {
        [] => {
            // Only the record the email matches (a Contact before a Lead) is created; the
            // others wait for it and link to it once it exists.
            if let Match::One(_, id) = salesforce_match(tx, &email, now, out)?
                && id == snap.record_id
            {
                create_in_hubspot(tx, snap, &email, settings, now)?;
                out.creates += 1;
            }
        }
        // Only the record the email matches on this side (a Contact before a Lead, never
        // one of several of a kind) is linked.
        [contact] => {
            if let Match::One(_, id) = salesforce_match(tx, &email, now, out)?
                && id == snap.record_id
            {
                link_to_hubspot(tx, snap, contact, &email, now, out)?;
            }
        }
        _ => {
            let ids: Vec<String> = hubspot.iter().map(|s| s.record_id.clone()).collect();
            report_duplicate(tx, "hubspot", &email, &ids, now, out)?;
        }
    }
    Ok(())
}

/// Links a Salesforce record to the HubSpot contact with its email, unless that contact is
/// linked already: then a Contact replaces a Lead, and two of a kind are a duplicate.
fn link_to_hubspot(
    tx: &mut Tx<'_>,
    snap: &Snapshot,
    contact: &Snapshot,
    email: &str,
    now: i64,
    out: &mut Identity,
) -> truce_state::Result<()> {
    let Some(existing) = tx.reader().link_by_hubspot_id(&contact.record_id)? else {
        let link = tx.create_link(
            &NewLink {
                email: email.into(),
                hubspot_id: Some(contact.record_id.clone()),
                salesforce_object: Some(snap.object.clone()),
                salesforce_id: Some(snap.record_id.clone()),
            },
            now,
        )?;
        out.linked += 1;
        out.dirty.insert(link);
        return Ok(());
    };
    let existing_is_lead = existing.salesforce_object.as_deref() == Some("Lead");
    if existing_is_lead && snap.object == "Contact" {
        tx.set_link_salesforce(existing.id, "Contact", &snap.record_id, now)?;
        tx.clear_base(existing.id)?;
        out.dirty.insert(existing.id);
    } else if existing.salesforce_id.as_deref() != Some(snap.record_id.as_str()) {
        let mut ids: Vec<String> = existing.salesforce_id.iter().cloned().collect();
        ids.push(snap.record_id.clone());
        report_duplicate(tx, "salesforce", email, &ids, now, out)?;
    }
    Ok(())
}

/// The one Salesforce record an email matches (Contacts first), reporting duplicates.
enum Match {
    One(&'static str, String),
    Ambiguous,
    None,
}

fn salesforce_match(
    tx: &mut Tx<'_>,
    email: &str,
    now: i64,
    out: &mut Identity,
) -> truce_state::Result<Match> {
    let candidates: Vec<Snapshot> = live(tx.reader().snapshots_by_email("salesforce", email)?)
        .into_iter()
        .filter(|s| !is_converted(s))
        .collect();
    for object in ["Contact", "Lead"] {
        let of_kind: Vec<&Snapshot> = candidates.iter().filter(|s| s.object == object).collect();
        match of_kind.as_slice() {
            [] => continue,
            [one] => return Ok(Match::One(object, one.record_id.clone())),
            many => {
                let ids: Vec<String> = many.iter().map(|s| s.record_id.clone()).collect();
                report_duplicate(tx, "salesforce", email, &ids, now, out)?;
                return Ok(Match::Ambiguous);
            }
        }
    }
    Ok(Match::None)
}

fn live(snapshots: Vec<Snapshot>) -> Vec<Snapshot> {
    snapshots.into_iter().filter(|s| !s.deleted).collect()
}

fn report_duplicate(
    tx: &mut Tx<'_>,
    system: &str,
    email: &str,
    ids: &[String],
    now: i64,
    out: &mut Identity,
) -> truce_state::Result<()> {
    tracing::warn!(
        target: "truce::duplicate",
        system,
        email,
        records = %ids.join(","),
        "duplicate: one email, several records on one side; not linked until resolved"
    );
    tx.report_duplicate(system, email, ids, now)?;
    out.duplicates += 1;
    Ok(())
}

/// An active link for this email still missing one side.
fn waiting_link(
    tx: &mut Tx<'_>,
    email: &str,
    missing: impl Fn(&Link) -> bool,
) -> truce_state::Result<Option<Link>> {
    Ok(tx
        .reader()
        .links_by_email(email)?
        .into_iter()
        .find(|l| l.state == truce_state::LinkState::Active && missing(l)))
}

/// A linked record's email changed: the link stays, its email follows.
fn keep_email(tx: &mut Tx<'_>, link: &Link, snap: &Snapshot, now: i64) -> truce_state::Result<()> {
    if let Some(email) = &snap.email
        && *email != link.email
        && !email.is_empty()
    {
        tx.set_link_email(link.id, email, now)?;
    }
    Ok(())
}

/// A HubSpot merge: the survivor (this record) takes over the links of the merged ids.
fn take_over_merged(
    tx: &mut Tx<'_>,
    snap: &Snapshot,
    survivor_link: Option<&Link>,
    now: i64,
    out: &mut Identity,
) -> truce_state::Result<()> {
    let Some(merged) = snap
        .fields
        .get("hs_merged_object_ids")
        .and_then(Json::as_str)
    else {
        return Ok(());
    };
    let mut survivor = survivor_link.cloned();
    for old in merged.split(';').map(str::trim).filter(|id| !id.is_empty()) {
        if old == snap.record_id {
            continue;
        }
        let Some(link) = tx.reader().link_by_hubspot_id(old)? else {
            continue;
        };
        match &survivor {
            None => {
                tracing::info!(
                    link = link.id.0,
                    merged = old,
                    survivor = %snap.record_id,
                    "HubSpot merge: the surviving contact takes over the link"
                );
                tx.set_link_hubspot(link.id, &snap.record_id, now)?;
                out.dirty.insert(link.id);
                survivor = tx.reader().link(link.id)?;
            }
            Some(kept) if kept.id != link.id => {
                let ids: Vec<String> = [&kept.salesforce_id, &link.salesforce_id]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                let email = snap.email.clone().unwrap_or_else(|| link.email.clone());
                report_duplicate(tx, "salesforce", &email, &ids, now, out)?;
                tx.unlink(link.id, now)?;
                out.unlinked += 1;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Moves a link to another Salesforce record (conversion, merge master).
fn move_salesforce(
    tx: &mut Tx<'_>,
    link: &Link,
    object: &str,
    id: &str,
    now: i64,
    out: &mut Identity,
) -> truce_state::Result<()> {
    match tx.reader().link_by_salesforce_id(id)? {
        Some(other) if other.id != link.id => {
            let ids = vec![
                link.salesforce_id.clone().unwrap_or_default(),
                id.to_string(),
            ];
            report_duplicate(tx, "salesforce", &link.email, &ids, now, out)?;
        }
        Some(_) => {}
        None => {
            tx.set_link_salesforce(link.id, object, id, now)?;
            // Field names differ between Lead and Contact (City / MailingCity): start afresh.
            tx.clear_base(link.id)?;
            out.dirty.insert(link.id);
        }
    }
    Ok(())
}

fn deleted(
    tx: &mut Tx<'_>,
    link: &Link,
    gone: System,
    settings: &Settings,
    now: i64,
    out: &mut Identity,
) -> truce_state::Result<()> {
    if settings.deletes == DeletePolicy::Propagate {
        let target = match gone {
            System::HubSpot => link
                .salesforce_id
                .clone()
                .zip(link.salesforce_object.clone())
                .map(|(id, object)| ("salesforce", object, id)),
            System::Salesforce => link
                .hubspot_id
                .clone()
                .map(|id| ("hubspot", "contacts".to_string(), id)),
        };
        if let Some((system, object, id)) = target {
            tx.enqueue(
                &OutboxWrite {
                    link_id: Some(link.id),
                    system: system.into(),
                    object,
                    op: WriteOp::Delete,
                    record_id: Some(id),
                    fields: Default::default(),
                    upsert: None,
                    base: Default::default(),
                },
                now,
            )?;
        }
    }
    tracing::info!(
        link = link.id.0,
        email = %link.email,
        deleted_in = gone.as_str(),
        policy = match settings.deletes {
            DeletePolicy::Unlink => "unlink",
            DeletePolicy::Propagate => "propagate",
        },
        "record deleted on one side: link dissolved"
    );
    tx.unlink(link.id, now)?;
    out.unlinked += 1;
    Ok(())
}

/// Queues the creation of a HubSpot contact in Salesforce, on `link` or a new link.
fn create_in_salesforce(
    tx: &mut Tx<'_>,
    snap: &Snapshot,
    email: &str,
    link: Option<LinkId>,
    settings: &Settings,
    now: i64,
) -> truce_state::Result<()> {
    let object = settings.create_as;
    let link = match link {
        Some(link) => link,
        None => tx.create_link(
            &NewLink {
                email: email.into(),
                hubspot_id: Some(snap.record_id.clone()),
                // Object and id arrive together once Salesforce confirms the create.
                salesforce_object: None,
                salesforce_id: None,
            },
            now,
        )?,
    };
    let mut fields = serde_json::Map::new();
    let mut base = std::collections::BTreeMap::new();
    for map in settings.fields_for(object) {
        // Unmappable values are left out here; the merge quarantines them once linked.
        let Ok(value) = map.from_hubspot(snap.fields.get(&map.hubspot)) else {
            continue;
        };
        let Ok(wire) = map.to_salesforce(&value) else {
            continue;
        };
        if !wire.is_null() {
            fields.insert(map.salesforce.clone(), wire);
            base.insert(map.salesforce.clone(), json_of(&value));
        }
    }
    let upsert = settings.external_id_field.as_ref().map(|field| {
        fields.remove(field);
        UpsertKey {
            field: field.clone(),
            value: snap.record_id.clone(),
        }
    });
    tx.enqueue(
        &OutboxWrite {
            link_id: Some(link),
            system: "salesforce".into(),
            object: object_name(object).into(),
            op: WriteOp::Create,
            record_id: None,
            fields: fields.into_iter().collect(),
            upsert,
            base,
        },
        now,
    )?;
    Ok(())
}

fn create_in_hubspot(
    tx: &mut Tx<'_>,
    snap: &Snapshot,
    email: &str,
    settings: &Settings,
    now: i64,
) -> truce_state::Result<()> {
    let object = match snap.object.as_str() {
        "Contact" => SalesforceObject::Contact,
        _ => SalesforceObject::Lead,
    };
    let link = tx.create_link(
        &NewLink {
            email: email.into(),
            hubspot_id: None,
            salesforce_object: Some(snap.object.clone()),
            salesforce_id: Some(snap.record_id.clone()),
        },
        now,
    )?;
    let mut fields = std::collections::BTreeMap::new();
    let mut base = std::collections::BTreeMap::new();
    for map in settings.fields_for(object) {
        let Ok(value) = map.from_salesforce(snap.fields.get(&map.salesforce)) else {
            continue;
        };
        if value.is_some() {
            fields.insert(map.hubspot.clone(), map.to_hubspot(&value));
            base.insert(map.salesforce.clone(), json_of(&value));
        }
    }
    tx.enqueue(
        &OutboxWrite {
            link_id: Some(link),
            system: "hubspot".into(),
            object: "contacts".into(),
            op: WriteOp::Create,
            record_id: None,
            fields,
            upsert: Some(UpsertKey {
                field: super::EMAIL_KEY.into(),
                value: normalize_email(email),
            }),
            base,
        },
        now,
    )?;
    Ok(())
}
