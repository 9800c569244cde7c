//! Recording qualifications and hand-offs, inside identity's transaction.
//!
//! People identity ([`crate::engine::identity::people`]) calls these where it sees a
//! qualified HubSpot contact, creates a Lead for one, or links one to a Lead. Nothing is
//! recorded without `[sla]`. Each record is kept once per contact: a contact qualifying
//! twice is handed off once.
//!
//! A hand-off is either
//!
//! - **created**: truce queues the creation of a Lead for a qualified contact (the Lead's
//!   id, and the time it reached sales, follow once Salesforce confirms the create), or
//! - **linked**: a qualified contact is linked to an existing Lead (or a linked contact
//!   qualifies) while the Lead's status is still an untouched one. A Lead sales already
//!   works is not handed to them; a Lead sales made whose contact marketing never
//!   qualified is not either.

use truce_connectors::ObjectType;
use truce_state::{HandoffHow, LinkId, NewHandoff, Snapshot};

use super::text;
use crate::engine::EngineError;
use crate::engine::identity::Step;
use crate::engine::pair::People;
use crate::engine::stored;

/// The qualifying value of a HubSpot contact that passes the gate.
fn qualifying_value(people: &People, snap: &Snapshot) -> Option<String> {
    let value = snap.fields.get(&people.qualify.property);
    if people.qualify.passes(value) {
        text(value)
    } else {
        None
    }
}

/// Records that the HubSpot contact `snap` is qualified, the first time it is seen so.
/// Returns true then: the contact has just qualified.
pub(crate) fn qualified(
    step: &mut Step<'_, '_>,
    people: &People,
    snap: &Snapshot,
) -> Result<bool, EngineError> {
    let Some(sla) = &step.settings.sla else {
        return Ok(false);
    };
    let Some(value) = qualifying_value(people, snap) else {
        return Ok(false);
    };
    let source = text(snap.fields.get(&sla.source_property));
    // When HubSpot last changed the record as first seen qualified: the best time the
    // store has for the qualification (never later than now).
    let at = snap.modified_at.min(step.now);
    Ok(step
        .tx
        .record_qualified(&snap.record_id, &value, source.as_deref(), at)?)
}

/// truce is creating a Lead on `link` for the qualified contact `snap`: a hand-off.
pub(crate) fn created(
    step: &mut Step<'_, '_>,
    people: &People,
    snap: &Snapshot,
    link: LinkId,
) -> Result<(), EngineError> {
    if step.settings.sla.is_none() || people.create_as != ObjectType::SalesforceLead {
        return Ok(());
    }
    let Some(value) = qualifying_value(people, snap) else {
        return Ok(());
    };
    record(step, snap, link, HandoffHow::Created, None, None, value)
}

/// The qualified contact `snap` is linked on `link`: a hand-off when the link holds a Lead
/// nobody has worked yet.
pub(crate) fn linked(
    step: &mut Step<'_, '_>,
    people: &People,
    snap: &Snapshot,
    link: LinkId,
) -> Result<(), EngineError> {
    let Some(sla) = &step.settings.sla else {
        return Ok(());
    };
    let Some(value) = qualifying_value(people, snap) else {
        return Ok(());
    };
    let Some(held) = step.tx.reader().link(link)? else {
        return Ok(());
    };
    let (Some(ObjectType::SalesforceLead), Some(lead_id)) = (
        stored::salesforce_object(&held)?,
        held.salesforce_id.clone(),
    ) else {
        return Ok(());
    };
    let pair = step.spec.pair.as_str();
    let salesforce = stored::system_name(truce_connectors::System::Salesforce);
    let Some(lead) = step.tx.reader().snapshot(pair, salesforce, &lead_id)? else {
        return Ok(());
    };
    let status = text(lead.fields.get(&sla.status_field));
    if lead.deleted || stored::is_converted(&lead) || !sla.is_untouched(status.as_deref()) {
        return Ok(());
    }
    let owner = text(lead.fields.get(&sla.owner_field));
    record(
        step,
        snap,
        link,
        HandoffHow::Linked,
        Some(lead_id),
        owner,
        value,
    )
}

fn record(
    step: &mut Step<'_, '_>,
    snap: &Snapshot,
    link: LinkId,
    how: HandoffHow,
    lead_id: Option<String>,
    owner: Option<String>,
    value: String,
) -> Result<(), EngineError> {
    let Some(sla) = &step.settings.sla else {
        return Ok(());
    };
    let source = text(snap.fields.get(&sla.source_property));
    // The hand-off needs its qualification (the funnel counts from it).
    let at = snap.modified_at.min(step.now);
    step.tx
        .record_qualified(&snap.record_id, &value, source.as_deref(), at)?;
    let since_seq = step.tx.reader().last_seq()?;
    let email = snap.match_key.clone().unwrap_or_default();
    let handoff = NewHandoff {
        hubspot_id: snap.record_id.clone(),
        link_id: link,
        email,
        how,
        lead_id,
        owner,
        value,
        source,
        handed_off_at: step.now,
        since_seq,
    };
    if step.tx.record_handoff(&handoff)? {
        tracing::debug!(
            target: "truce::sla",
            link = link.0,
            email = %handoff.email,
            how = how.as_str(),
            lead = handoff.lead_id.as_deref().unwrap_or(""),
            "handed to sales"
        );
    }
    Ok(())
}
