//! Identity for people (the `contacts` pair): a HubSpot contact and a Salesforce Lead or
//! Contact are one person when they share a normalised email.
//!
//! - **Matching**: a Salesforce Contact beats a Lead. Two candidates of the same kind are a
//!   duplicate: reported, never guessed.
//! - **Creating**: a HubSpot contact with no match is created in Salesforce (as the pair's
//!   `create_as`) only when it passes the qualification gate; a Salesforce record with no
//!   match is created in HubSpot (closed loop: marketing sees sales' people). The link is
//!   made at once, with the other side empty until the create is confirmed.
//! - **Conversion**: a converted lead hands its link to its Contact.
//! - A changed email keeps the link.
//! - **Hand-offs** (with `[sla]`): a qualified contact is recorded as handed to sales where
//!   a Lead is created for it or linked to it ([`crate::engine::sla::handoff`]).

use truce_connectors::{ObjectType, System, UpsertKey};
use truce_state::{Link, LinkId, LinkState, NewLink, Snapshot};

use super::{Create, Step};
use crate::engine::EngineError;
use crate::engine::pair::People;
use crate::engine::sla::handoff;
use crate::engine::stored;

/// Resolves one live person record.
pub(super) fn resolve(
    step: &mut Step<'_, '_>,
    people: &People,
    system: System,
    snap: &Snapshot,
) -> Result<(), EngineError> {
    match system {
        System::HubSpot => hubspot(step, people, snap),
        System::Salesforce => salesforce(step, snap),
    }
}

fn hubspot(step: &mut Step<'_, '_>, people: &People, snap: &Snapshot) -> Result<(), EngineError> {
    let qualified_now = handoff::qualified(step, people, snap)?;
    if let Some(link) = step.link_of(System::HubSpot, &snap.record_id)? {
        keep_email(step, &link, snap)?;
        // A create Salesforce refused (now quarantined) is planned again once the contact
        // changes: the change may be the fix.
        if link.salesforce_id.is_none()
            && step.tx.reader().pending_for_link(link.id)?.is_empty()
            && qualifies(people, snap)
            && let Some(email) = snap.match_key.clone()
        {
            create_in_salesforce(step, people, snap, &email, Some(link.id))?;
        }
        if qualified_now {
            handoff::linked(step, people, snap, link.id)?;
        }
        step.out.dirty.insert(link.id);
        return Ok(());
    }
    let Some(email) = snap.match_key.clone() else {
        return Ok(());
    };
    // A link made from the Salesforce side, waiting for its HubSpot contact.
    if let Some(link) = waiting_link(step, &email, |l| l.hubspot_id.is_none())? {
        step.tx
            .set_link_hubspot(link.id, &snap.record_id, step.now)?;
        step.out.dirty.insert(link.id);
        return Ok(());
    }
    match salesforce_match(step, &email)? {
        Match::One(object, id) => {
            let link = step.tx.create_link(
                &NewLink {
                    pair: step.spec.pair.as_str().into(),
                    email,
                    name: None,
                    hubspot_id: Some(snap.record_id.clone()),
                    salesforce_object: Some(object.as_str().into()),
                    salesforce_id: Some(id),
                },
                step.now,
            )?;
            step.out.linked += 1;
            step.out.dirty.insert(link);
            handoff::linked(step, people, snap, link)?;
        }
        Match::Ambiguous => {}
        Match::None if qualifies(people, snap) => {
            create_in_salesforce(step, people, snap, &email, None)?;
        }
        Match::None => {}
    }
    Ok(())
}

fn salesforce(step: &mut Step<'_, '_>, snap: &Snapshot) -> Result<(), EngineError> {
    let linked = step.link_of(System::Salesforce, &snap.record_id)?;
    if let Some(converted) = &snap.meta.converted {
        if let (Some(link), Some(contact)) = (linked, &converted.contact_id) {
            tracing::info!(
                link = link.id.0,
                email = %link.email,
                lead = %snap.record_id,
                contact = %contact,
                "lead converted: the link moves to its Contact"
            );
            step.move_salesforce(&link, ObjectType::SalesforceContact, contact)?;
            let pair = step.spec.pair.as_str();
            let salesforce = stored::system_name(System::Salesforce);
            if step
                .tx
                .reader()
                .snapshot(pair, salesforce, contact)?
                .is_none()
            {
                step.out
                    .fetch
                    .push((ObjectType::SalesforceContact, contact.clone()));
            }
        }
        return Ok(());
    }
    if let Some(link) = linked {
        keep_email(step, &link, snap)?;
        step.out.dirty.insert(link.id);
        return Ok(());
    }
    let Some(email) = snap.match_key.clone() else {
        return Ok(());
    };
    if let Some(link) = waiting_link(step, &email, |l| l.salesforce_id.is_none())? {
        step.tx
            .set_link_salesforce(link.id, &snap.object, &snap.record_id, step.now)?;
        step.out.dirty.insert(link.id);
        return Ok(());
    }
    let pair = step.spec.pair.as_str();
    let hubspot_name = stored::system_name(System::HubSpot);
    let hubspot: Vec<Snapshot> = live(step.tx.reader().snapshots_by_key(
        pair,
        hubspot_name,
        &email,
    )?);
    if let [_, _, ..] = hubspot.as_slice() {
        let ids: Vec<String> = hubspot.iter().map(|s| s.record_id.clone()).collect();
        return step.report_duplicate(System::HubSpot, &email, &ids);
    }
    // Only the record the email matches on this side (a Contact before a Lead, never one of
    // several of a kind) is linked or created; the others wait for it and link to it once
    // it exists.
    let Match::One(_, matched) = salesforce_match(step, &email)? else {
        return Ok(());
    };
    if matched != snap.record_id {
        return Ok(());
    }
    match hubspot.first() {
        None => create_in_hubspot(step, snap, &email)?,
        Some(contact) => link_to_hubspot(step, snap, contact, &email)?,
    }
    Ok(())
}

/// Links a Salesforce record to the HubSpot contact with its email, unless that contact is
/// linked already: then a Contact replaces a Lead, and two of a kind are a duplicate.
fn link_to_hubspot(
    step: &mut Step<'_, '_>,
    snap: &Snapshot,
    contact: &Snapshot,
    email: &str,
) -> Result<(), EngineError> {
    let Some(existing) = step.link_of(System::HubSpot, &contact.record_id)? else {
        let link = step.tx.create_link(
            &NewLink {
                pair: step.spec.pair.as_str().into(),
                email: email.into(),
                name: None,
                hubspot_id: Some(contact.record_id.clone()),
                salesforce_object: Some(snap.object.clone()),
                salesforce_id: Some(snap.record_id.clone()),
            },
            step.now,
        )?;
        step.out.linked += 1;
        step.out.dirty.insert(link);
        return Ok(());
    };
    let existing_object = stored::salesforce_object(&existing)?;
    let object = stored::object(&snap.object)?;
    if existing_object == Some(ObjectType::SalesforceLead)
        && object == ObjectType::SalesforceContact
    {
        step.tx
            .set_link_salesforce(existing.id, object.as_str(), &snap.record_id, step.now)?;
        step.tx.clear_base(existing.id)?;
        step.out.dirty.insert(existing.id);
    } else if existing.salesforce_id.as_deref() != Some(snap.record_id.as_str()) {
        let mut ids: Vec<String> = existing.salesforce_id.iter().cloned().collect();
        ids.push(snap.record_id.clone());
        step.report_duplicate(System::Salesforce, email, &ids)?;
    }
    Ok(())
}

/// The one Salesforce record an email matches (Contacts first), reporting duplicates.
enum Match {
    One(ObjectType, String),
    Ambiguous,
    None,
}

fn salesforce_match(step: &mut Step<'_, '_>, email: &str) -> Result<Match, EngineError> {
    let pair = step.spec.pair.as_str();
    let salesforce = stored::system_name(System::Salesforce);
    let candidates: Vec<Snapshot> =
        live(step.tx.reader().snapshots_by_key(pair, salesforce, email)?)
            .into_iter()
            .filter(|s| !stored::is_converted(s))
            .collect();
    for &object in step.spec.pair.salesforce_objects() {
        let of_kind: Vec<&Snapshot> = candidates
            .iter()
            .filter(|s| s.object == object.as_str())
            .collect();
        match of_kind.as_slice() {
            [] => continue,
            [one] => return Ok(Match::One(object, one.record_id.clone())),
            many => {
                let ids: Vec<String> = many.iter().map(|s| s.record_id.clone()).collect();
                step.report_duplicate(System::Salesforce, email, &ids)?;
                return Ok(Match::Ambiguous);
            }
        }
    }
    Ok(Match::None)
}

fn live(snapshots: Vec<Snapshot>) -> Vec<Snapshot> {
    snapshots.into_iter().filter(|s| !s.deleted).collect()
}

fn qualifies(people: &People, snap: &Snapshot) -> bool {
    people
        .qualify
        .passes(snap.fields.get(&people.qualify.property))
}

/// An active link for this email still missing one side.
fn waiting_link(
    step: &Step<'_, '_>,
    email: &str,
    missing: impl Fn(&Link) -> bool,
) -> Result<Option<Link>, EngineError> {
    Ok(step
        .tx
        .reader()
        .links_by_email(step.spec.pair.as_str(), email)?
        .into_iter()
        .find(|l| l.state == LinkState::Active && missing(l)))
}

/// A linked record's email changed: the link stays, its email follows.
fn keep_email(step: &mut Step<'_, '_>, link: &Link, snap: &Snapshot) -> Result<(), EngineError> {
    if let Some(email) = &snap.match_key
        && *email != link.email
        && !email.is_empty()
    {
        step.tx.set_link_email(link.id, email, step.now)?;
    }
    Ok(())
}

/// Queues the creation of a HubSpot contact in Salesforce, on `link` or a new link.
fn create_in_salesforce(
    step: &mut Step<'_, '_>,
    people: &People,
    snap: &Snapshot,
    email: &str,
    link: Option<LinkId>,
) -> Result<(), EngineError> {
    let upsert = people
        .external_id_field
        .as_ref()
        .map(|field| UpsertKey::Field {
            field: field.clone(),
            value: snap.record_id.clone(),
        });
    let link = step.create_other_side(
        snap,
        Create {
            target: people.create_as,
            upsert,
            link,
            email: Some(email),
        },
    )?;
    handoff::created(step, people, snap, link)
}

/// Queues the creation of a Salesforce person in HubSpot, upserted on the email.
fn create_in_hubspot(
    step: &mut Step<'_, '_>,
    snap: &Snapshot,
    email: &str,
) -> Result<(), EngineError> {
    let link = step.create_other_side(
        snap,
        Create {
            target: step.spec.pair.hubspot_object(),
            upsert: Some(UpsertKey::Email(email.into())),
            link: None,
            email: Some(email),
        },
    )?;
    // The new person's Account is looked at now (companies::from_people), so its HubSpot
    // company is created beside the contact instead of a cycle later.
    step.out.dirty.insert(link);
    Ok(())
}
