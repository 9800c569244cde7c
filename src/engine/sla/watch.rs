//! The watch: each cycle, every hand-off not yet settled is judged again, and what is new
//! is recorded, written to HubSpot and reported.
//!
//! Per batch of hand-offs, one transaction: the Lead truce created is named once its
//! create was confirmed; the Lead's status changes made in Salesforce since the hand-off
//! are read from the change log and judged ([`super::judge`]); a new finding is recorded
//! (once per Lead and kind) together with the outbox write of the outcome to the HubSpot
//! contact (`[sla] hubspot_property`); the verdict is stored. Only after the commit are
//! findings logged and counted, so a finding is never reported without being recorded.

use truce_connectors::{ObjectType, System};
use truce_state::{
    FindingKind, Handoff, HandoffVerdict, NewFinding, Origin, OutboxWrite, SlaOutcome, Tx, WriteOp,
};

use super::judge::{self, LeadNow, Rules, StatusChange};
use super::{Sla, text};
use crate::engine::events::{self, SlaEvent};
use crate::engine::pair::Pair;
use crate::engine::{Engine, EngineError, stored};

/// Hand-offs judged per transaction.
const WATCH_BATCH: usize = 500;

/// A finding recorded in this pass, to log and count once committed.
#[derive(Debug, Clone)]
struct Found {
    link: i64,
    email: String,
    lead_id: String,
    owner: String,
    kind: FindingKind,
    status: String,
    handed_off_at: i64,
    age_ms: i64,
}

impl Engine {
    /// Judges every hand-off not yet settled; returns how many findings were reported.
    /// Does nothing without `[sla]`.
    pub(crate) fn watch_sla(&mut self) -> Result<usize, EngineError> {
        let Some(sla) = self.settings.sla.clone() else {
            return Ok(0);
        };
        let mut after: Option<String> = None;
        let mut reported = 0;
        loop {
            let now = self.now();
            let (found, last) = self.store.transaction(|tx| {
                let open = tx.reader().open_handoffs(after.as_deref(), WATCH_BATCH)?;
                let last = open.last().map(|h| h.hubspot_id.clone());
                let mut found = Vec::new();
                for handoff in &open {
                    watch_one(tx, &sla, handoff, now, &mut found)?;
                }
                Ok::<_, EngineError>((found, last))
            })?;
            for f in &found {
                events::sla(&SlaEvent {
                    link: f.link,
                    email: &f.email,
                    record_id: &f.lead_id,
                    owner: &f.owner,
                    kind: f.kind.as_str(),
                    status: &f.status,
                    handed_off_at: f.handed_off_at,
                    age_ms: f.age_ms,
                });
                self.observer.sla_finding(f.kind.as_str());
            }
            reported += found.len();
            match last {
                Some(last) => after = Some(last),
                None => return Ok(reported),
            }
        }
    }
}

/// Judges one hand-off inside the batch's transaction.
fn watch_one(
    tx: &mut Tx<'_>,
    sla: &Sla,
    handoff: &Handoff,
    now: i64,
    found: &mut Vec<Found>,
) -> Result<(), EngineError> {
    let pair = Pair::Contacts.as_str();
    let salesforce = stored::system_name(System::Salesforce);
    let link = tx.reader().link(handoff.link_id)?;
    let mut handed_off_at = handoff.handed_off_at;
    let lead_id = match &handoff.lead_id {
        Some(id) => id.clone(),
        // truce's create: the Lead is named once Salesforce confirmed it, which is when it
        // reached sales. Until then (or if Salesforce refused it) there is nothing to judge.
        None => match &link {
            Some(l) if stored::salesforce_object(l)? == Some(ObjectType::SalesforceLead) => {
                let Some(id) = l.salesforce_id.clone() else {
                    return Ok(());
                };
                handed_off_at = l.updated_at;
                tx.set_handoff_lead(&handoff.hubspot_id, &id, handed_off_at)?;
                id
            }
            _ => return Ok(()),
        },
    };
    // Not pulled yet (just created): its first pull comes with the next cycle.
    let Some(lead) = tx.reader().snapshot(pair, salesforce, &lead_id)? else {
        return Ok(());
    };
    // A breached Lead nobody touched stays watched (a discard may follow), but until it is
    // observed again there is nothing new to judge: neglected Leads cost one read a cycle.
    if handoff
        .breached_at
        .is_some_and(|found| lead.observed_at <= found)
    {
        return Ok(());
    }
    let owner = text(lead.fields.get(&sla.owner_field));
    if handoff.owner.is_none()
        && let Some(owner) = &owner
    {
        tx.set_handoff_owner(&handoff.hubspot_id, owner)?;
    }
    let changes: Vec<StatusChange> = tx
        .reader()
        .changes_for_record(pair, salesforce, &lead_id)?
        .into_iter()
        .filter(|c| {
            c.field == sla.status_field && c.seq > handoff.since_seq && c.origin == Origin::Remote
        })
        .map(|c| StatusChange {
            from: text(Some(&c.old)),
            status: text(Some(&c.new)),
            at: c.source_modified_at,
        })
        .collect();
    let status = text(lead.fields.get(&sla.status_field));
    let state = LeadNow {
        status: status.clone(),
        converted: stored::is_converted(&lead),
        deleted: lead.deleted,
        modified_at: lead.modified_at,
    };
    let rules = Rules {
        first_touch_ms: sla.first_touch_ms(),
        untouched: &sla.untouched,
        closed: &sla.closed,
    };
    let mut verdict = judge::judge(rules, handed_off_at, &changes, &state, now);
    // A breach once reported stands: a touch seen only after it (a Salesforce index that
    // lagged) does not turn it into a met hand-off.
    if handoff.breached_at.is_some() && verdict.outcome == Some(SlaOutcome::Met) {
        verdict.outcome = Some(SlaOutcome::Breached);
    }
    for kind in verdict.findings() {
        // A breach is as old as now, or as the late touch, and names the status the Lead
        // sat in; a discard is as old as its touch and names the status it was closed to.
        let (at, at_status) = match (&verdict.touch, kind) {
            (None, _) => (now, status.clone()),
            (Some(touch), FindingKind::Breached) => (touch.at, touch.from.clone()),
            (Some(touch), FindingKind::DiscardedUntouched) => (touch.at, touch.status.clone()),
        };
        let age_ms = (at - handed_off_at).max(0);
        let finding = NewFinding {
            hubspot_id: handoff.hubspot_id.clone(),
            kind,
            lead_id: lead_id.clone(),
            owner: owner.clone(),
            status: at_status.clone(),
            age_ms,
        };
        if tx.record_finding(&finding, now)? {
            found.push(Found {
                link: handoff.link_id.0,
                email: handoff.email.clone(),
                lead_id: lead_id.clone(),
                owner: owner.clone().unwrap_or_default(),
                kind,
                status: at_status.unwrap_or_default(),
                handed_off_at,
                age_ms,
            });
        }
    }
    if verdict.outcome != handoff.outcome
        && let (Some(outcome), Some(property)) = (verdict.outcome, &sla.hubspot_property)
    {
        tell_hubspot(tx, link.as_ref(), property, outcome, now)?;
    }
    let stored_verdict = HandoffVerdict {
        first_touch_at: verdict.touch.as_ref().map(|t| t.at),
        first_status: verdict.touch.as_ref().and_then(|t| t.status.clone()),
        outcome: verdict.outcome,
        settled: verdict.settled,
    };
    let before = HandoffVerdict {
        first_touch_at: handoff.first_touch_at,
        first_status: handoff.first_status.clone(),
        outcome: handoff.outcome,
        settled: handoff.settled,
    };
    if stored_verdict != before {
        tx.set_handoff_verdict(&handoff.hubspot_id, &stored_verdict)?;
    }
    Ok(())
}

/// Queues the write of `outcome` to the linked HubSpot contact's `property`, through the
/// outbox like any write. The property is not read back, so its echo changes nothing.
fn tell_hubspot(
    tx: &mut Tx<'_>,
    link: Option<&truce_state::Link>,
    property: &str,
    outcome: SlaOutcome,
    now: i64,
) -> Result<(), EngineError> {
    let Some(link) = link.filter(|l| l.state == truce_state::LinkState::Active) else {
        return Ok(());
    };
    let Some(contact) = &link.hubspot_id else {
        return Ok(());
    };
    tx.enqueue(
        &OutboxWrite {
            pair: Pair::Contacts.as_str().into(),
            link_id: Some(link.id),
            system: stored::system_name(System::HubSpot).into(),
            object: Pair::Contacts.hubspot_object().as_str().into(),
            op: WriteOp::Update,
            record_id: Some(contact.clone()),
            fields: [(
                property.to_string(),
                serde_json::Value::String(outcome.as_str().into()),
            )]
            .into_iter()
            .collect(),
            upsert: None,
            base: Default::default(),
        },
        now,
    )?;
    Ok(())
}
