//! Identity for deals (the `deals` pair): a HubSpot deal and a Salesforce Opportunity are
//! one deal because truce made them one, never because they look alike.
//!
//! - **Id fields**: an Opportunity may carry the HubSpot deal id (`[deals]
//!   external_id_field`) and a HubSpot deal the Opportunity id (`hubspot_id_property`).
//!   A record naming a record of the other side (or named by one) is linked to it. These
//!   are also what make creates idempotent: a create upserts on them, so one whose answer
//!   was lost is found, not repeated.
//! - **Creating**: `create_in_hubspot = "always"` (default) makes every Opportunity a HubSpot
//!   deal, so marketing sees the pipeline its leads became; `create_in_salesforce` is
//!   `never` by default. A deal created from the other side is made with the values every
//!   create carries (its pipeline).
//!
//! A record's match key ([`super::super::record`]) is the id it names on the other side, so
//! both directions are one indexed lookup.

use truce_connectors::{ObjectType, System, UpsertKey};
use truce_state::{NewLink, NewQuarantine, Snapshot};

use super::{Create, Step};
use crate::engine::EngineError;
use crate::engine::events::{self, QuarantineEvent};
use crate::engine::pair::{CreatePolicy, Deals};
use crate::engine::stored;

/// Resolves one live deal record.
pub(super) fn resolve(
    step: &mut Step<'_, '_>,
    deals: &Deals,
    system: System,
    snap: &Snapshot,
) -> Result<(), EngineError> {
    if let Some(link) = step.link_of(system, &snap.record_id)? {
        if let Some(name) = &snap.meta.name
            && link.name.as_ref() != Some(name)
        {
            step.tx.set_link_name(link.id, Some(name), step.now)?;
        }
        step.out.dirty.insert(link.id);
        return Ok(());
    }
    if link_named(step, system, snap)? {
        return Ok(());
    }
    let policy = match system {
        System::HubSpot => deals.create_in_salesforce,
        System::Salesforce => deals.create_in_hubspot,
    };
    if policy == CreatePolicy::Always {
        create(step, deals, system, snap)?;
    }
    Ok(())
}

/// Links `snap` to the record of the other side it names, or that names it; true when it
/// found one (linked, or left to a pending create).
fn link_named(
    step: &mut Step<'_, '_>,
    system: System,
    snap: &Snapshot,
) -> Result<bool, EngineError> {
    let other = match system {
        System::HubSpot => System::Salesforce,
        System::Salesforce => System::HubSpot,
    };
    let pair = step.spec.pair.as_str();
    let other_name = stored::system_name(other);
    let mut candidates = Vec::new();
    if let Some(named) = &snap.match_key {
        candidates.extend(step.tx.reader().snapshot(pair, other_name, named)?);
    }
    candidates.extend(
        step.tx
            .reader()
            .snapshots_by_key(pair, other_name, &snap.record_id)?,
    );
    for candidate in candidates.into_iter().filter(|c| !c.deleted) {
        if step.link_of(other, &candidate.record_id)?.is_some() {
            continue;
        }
        let (hubspot, salesforce) = match system {
            System::HubSpot => (snap, &candidate),
            System::Salesforce => (&candidate, snap),
        };
        let link = step.tx.create_link(
            &NewLink {
                pair: pair.into(),
                email: String::new(),
                name: hubspot.meta.name.clone().or(salesforce.meta.name.clone()),
                hubspot_id: Some(hubspot.record_id.clone()),
                salesforce_object: Some(salesforce.object.clone()),
                salesforce_id: Some(salesforce.record_id.clone()),
            },
            step.now,
        )?;
        step.out.linked += 1;
        step.out.dirty.insert(link);
        return Ok(true);
    }
    Ok(false)
}

/// The first mapped value of `snap` that cannot be carried to the other side, as the
/// quarantine entry naming it.
fn unmappable(step: &Step<'_, '_>, from: System, snap: &Snapshot) -> Option<NewQuarantine> {
    let fields = step
        .spec
        .fields_for(ObjectType::SalesforceOpportunity)
        .filter(|m| m.reference.is_none());
    for map in fields {
        let (field, failed) = match from {
            System::HubSpot => (
                &map.hubspot,
                map.from_hubspot(snap.fields.get(&map.hubspot))
                    .and_then(|value| map.to_salesforce(&value))
                    .err(),
            ),
            System::Salesforce => (
                &map.salesforce,
                map.from_salesforce(snap.fields.get(&map.salesforce)).err(),
            ),
        };
        if let Some(err) = failed {
            return Some(NewQuarantine {
                pair: step.spec.pair.as_str().into(),
                link_id: None,
                email: None,
                system: snap.system.clone(),
                record_id: Some(snap.record_id.clone()),
                field: Some(field.clone()),
                error_code: "UNMAPPABLE_VALUE".into(),
                message: err.to_string(),
            });
        }
    }
    None
}

/// Queues the create of `snap` on the other side, keyed on the other side's id field so
/// that a repeat after a crash updates instead of duplicating. A deal with a value that
/// does not map (a stage missing from the table) is not created: it is quarantined naming
/// the value, where a create without it would be refused for a missing required field
/// (or land without it); fixed, the deal is created on its next change.
fn create(
    step: &mut Step<'_, '_>,
    deals: &Deals,
    from: System,
    snap: &Snapshot,
) -> Result<(), EngineError> {
    if let Some(entry) = unmappable(step, from, snap) {
        if !step.tx.reader().open_quarantine_same(&entry)? {
            step.tx.quarantine_record(&entry, step.now)?;
            events::quarantine(&QuarantineEvent {
                object: step.spec.pair,
                link: 0,
                email: "",
                name: snap.meta.name.as_deref().unwrap_or(""),
                system: &entry.system,
                record_id: &snap.record_id,
                field: entry.field.as_deref(),
                error_code: &entry.error_code,
                message: &entry.message,
            });
        }
        return Ok(());
    }
    let (target, key_field) = match from {
        System::HubSpot => (ObjectType::SalesforceOpportunity, &deals.external_id_field),
        System::Salesforce => (ObjectType::HubSpotDeal, &deals.hubspot_id_property),
    };
    let upsert = key_field.as_ref().map(|field| UpsertKey::Field {
        field: field.clone(),
        value: snap.record_id.clone(),
    });
    tracing::info!(
        object = step.spec.pair.as_str(),
        record = %snap.record_id,
        name = snap.meta.name.as_deref().unwrap_or(""),
        "deal created in {}",
        target.system().label()
    );
    step.create_other_side(
        snap,
        Create {
            target,
            upsert,
            link: None,
            email: None,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::engine::identity::fixture::Fixture;
    use crate::engine::pair::{DeletePolicy, Identity as Rule, Pair, PairSpec};
    use crate::engine::settings::Settings;

    fn settings(create_in_hubspot: CreatePolicy, ids: bool) -> Settings {
        let deals = PairSpec {
            pair: Pair::Deals,
            identity: Rule::Deal(Deals {
                create_in_hubspot,
                create_in_salesforce: CreatePolicy::Never,
                external_id_field: ids.then(|| "HubSpot_Deal_Id__c".into()),
                hubspot_id_property: ids.then(|| "salesforce_opportunity_id".into()),
            }),
            fields: Vec::new(),
            create_defaults: vec![(ObjectType::HubSpotDeal, "pipeline".into(), json!("sales"))],
            extra_reads: Vec::new(),
        };
        Settings {
            pairs: vec![deals],
            deletes: DeletePolicy::Unlink,
            lookback: Duration::from_secs(60),
            association_sweep: Duration::from_secs(300),
            max_attempts: 8,
            apply_batch: 100,
            sla: None,
        }
    }

    #[test]
    fn every_opportunity_becomes_a_hubspot_deal_upserted_on_its_id_in_the_pipeline() {
        let mut f = Fixture::new();
        f.snapshot(ObjectType::SalesforceOpportunity, "0061", None, json!({}));
        let out = f.resolve(
            &settings(CreatePolicy::Always, true),
            &[(ObjectType::SalesforceOpportunity, "0061")],
            &[],
        );
        assert_eq!(out.creates, 1);
        let create = &f.creates(System::HubSpot)[0].write;
        assert_eq!(
            (create.pair.as_str(), create.object.as_str()),
            ("deals", "deals")
        );
        let key = create.upsert.as_ref().unwrap();
        assert_eq!(
            (key.field.as_str(), key.value.as_str()),
            ("salesforce_opportunity_id", "0061")
        );
        assert_eq!(create.fields.get("pipeline"), Some(&json!("sales")));
    }

    #[test]
    fn never_leaves_opportunities_home() {
        let mut f = Fixture::new();
        f.snapshot(ObjectType::SalesforceOpportunity, "0062", None, json!({}));
        let out = f.resolve(
            &settings(CreatePolicy::Never, true),
            &[(ObjectType::SalesforceOpportunity, "0062")],
            &[],
        );
        assert_eq!(out.creates, 0);
    }

    #[test]
    fn a_record_naming_the_other_sides_record_in_its_id_field_is_linked_to_it_both_ways() {
        // The Opportunity names the deal (its external id holds the deal id).
        let mut f = Fixture::new();
        f.snapshot(ObjectType::HubSpotDeal, "901", None, json!({}));
        f.snapshot(
            ObjectType::SalesforceOpportunity,
            "0063",
            Some("901"),
            json!({}),
        );
        let out = f.resolve(
            &settings(CreatePolicy::Always, true),
            &[(ObjectType::SalesforceOpportunity, "0063")],
            &[],
        );
        assert_eq!((out.linked, out.creates), (1, 0));
        assert_eq!(
            f.link_of(Pair::Deals, "901")
                .unwrap()
                .salesforce_id
                .as_deref(),
            Some("0063")
        );
        // The deal names the Opportunity; the Opportunity is touched: found by the key.
        let mut f = Fixture::new();
        f.snapshot(ObjectType::HubSpotDeal, "902", Some("0064"), json!({}));
        f.snapshot(ObjectType::SalesforceOpportunity, "0064", None, json!({}));
        let out = f.resolve(
            &settings(CreatePolicy::Always, true),
            &[(ObjectType::SalesforceOpportunity, "0064")],
            &[],
        );
        assert_eq!((out.linked, out.creates), (1, 0));
        assert_eq!(
            f.link_of(Pair::Deals, "902").unwrap().name.as_deref(),
            Some("deals 902")
        );
    }

    #[test]
    fn without_id_fields_a_create_is_blind_and_two_lookalikes_are_never_linked() {
        let mut f = Fixture::new();
        f.snapshot(ObjectType::HubSpotDeal, "903", None, json!({}));
        f.snapshot(ObjectType::SalesforceOpportunity, "0065", None, json!({}));
        let out = f.resolve(
            &settings(CreatePolicy::Always, false),
            &[(ObjectType::SalesforceOpportunity, "0065")],
            &[],
        );
        assert_eq!((out.linked, out.creates), (0, 1));
        assert!(f.creates(System::HubSpot)[0].write.upsert.is_none());
    }
}
