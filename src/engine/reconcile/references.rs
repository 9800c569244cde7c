//! Reconciling a link's reference fields (`@company`, `@contacts`): each side's record ids
//! resolved to links, merged as one link or as a set of links, and what waits for a record
//! that is not linked yet. The rules are in the parent module's docs, *References*.

use std::collections::BTreeSet;

use serde_json::Value as Json;
use truce_state::{Deferred, LinkId};

use super::{
    EngineError, FieldMap, Lookup, NewQuarantine, Planner, Quarantined, Reference, Revert, Rule,
    SetState, Side, merge, stored, system_of,
};

impl Planner<'_> {
    /// One referenced record: both sides resolved to links, then merged like a value.
    pub(super) fn reference_field(
        &mut self,
        map: &FieldMap,
        reference: Reference,
        lookup: &mut dyn Lookup,
    ) -> Result<Result<(), Quarantined>, EngineError> {
        let mut resolved = [None, None];
        for (slot, side) in resolved.iter_mut().zip([Side::HubSpot, Side::Salesforce]) {
            let ids = match self.raw_ids(map, side) {
                Ok(ids) => ids,
                Err(quarantine) => return Ok(Err(quarantine)),
            };
            match ids.first() {
                None => *slot = Some(None),
                Some(id) => match lookup.link_of(reference, side, id)? {
                    Some(link) => *slot = Some(Some(link.0.to_string())),
                    None => self.wait(map, reference, side, id),
                },
            }
        }
        let [Some(h), Some(s)] = resolved else {
            return Ok(Ok(()));
        };
        let (base, h, s) = self.settled(map, h, s);
        let decision = self.decide(map, &base, &h, &s, lookup)?;
        let Some((side, Some(link))) = &decision.write else {
            return self.record(map, (&base, &h, &s), decision, |_, _, _| Ok(Json::Null));
        };
        let link = link_id(link)?;
        match lookup.record_of(link, *side)? {
            Some(id) => self.record(map, (&base, &h, &s), decision, |_, _, _| {
                Ok(Json::String(id.clone()))
            }),
            None => {
                self.wait_for_link(map, reference, link, *side, lookup)?;
                Ok(Ok(()))
            }
        }
    }

    /// A set of referenced records, merged element by element.
    pub(super) fn set_field(
        &mut self,
        map: &FieldMap,
        reference: Reference,
        lookup: &mut dyn Lookup,
    ) -> Result<Result<(), Quarantined>, EngineError> {
        let mut sets = [BTreeSet::new(), BTreeSet::new()];
        for (set, side) in sets.iter_mut().zip([Side::HubSpot, Side::Salesforce]) {
            let ids = match self.raw_ids(map, side) {
                Ok(ids) => ids,
                Err(quarantine) => return Ok(Err(quarantine)),
            };
            for id in ids {
                match lookup.link_of(reference, side, &id)? {
                    Some(link) => {
                        set.insert(link.0.to_string());
                    }
                    None => self.wait(map, reference, side, &id),
                }
            }
        }
        let [h, s] = sets;
        let stored = self.view.base.get(&map.salesforce);
        let base: Option<BTreeSet<String>> = stored.map(|b| set_of(&b.value));
        let (h, s) = match (stored, &base) {
            (Some(stored), Some(base)) => (
                if self.hubspot.observed_at < stored.updated_at {
                    base.clone()
                } else {
                    h
                },
                if self.salesforce.observed_at < stored.updated_at {
                    base.clone()
                } else {
                    s
                },
            ),
            _ => (h, s),
        };
        let changed = base.as_ref().is_none_or(|b| h != *b && s != *b);
        let (h_at, s_at) = if map.rule == Rule::TwoWay && changed && h != s {
            (
                lookup.changed_at(Side::HubSpot, &map.hubspot)?,
                lookup.changed_at(Side::Salesforce, &map.salesforce)?,
            )
        } else {
            (0, 0)
        };
        let decision = merge::merge_set(&SetState {
            base: base.as_ref(),
            hubspot: &h,
            salesforce: &s,
            hubspot_changed_at: h_at,
            salesforce_changed_at: s_at,
            rule: map.rule,
        });
        for (element, winner) in &decision.conflicts {
            let has = |set: &BTreeSet<String>| set.contains(element).then(|| element.clone());
            self.plan.conflicts.push(self.conflict(
                map,
                &base.as_ref().map(has).unwrap_or(None),
                &has(&h),
                &has(&s),
                *winner,
            ));
        }
        for (element, side) in &decision.reverted {
            self.plan.reverts.push(Revert {
                field: map.hubspot.clone(),
                salesforce_field: map.salesforce.clone(),
                side: *side,
                rule: map.rule,
                value: Some(element.clone()),
            });
        }
        let mut writes = Vec::new();
        for (side, target) in [
            (Side::HubSpot, &decision.to_hubspot),
            (Side::Salesforce, &decision.to_salesforce),
        ] {
            let Some(target) = target else { continue };
            let mut ids = Vec::with_capacity(target.len());
            for link in target {
                let link = link_id(link)?;
                match lookup.record_of(link, side)? {
                    Some(id) => ids.push(Json::String(id)),
                    None => {
                        self.wait_for_link(map, reference, link, side, lookup)?;
                        return Ok(Ok(()));
                    }
                }
            }
            writes.push((side, Json::Array(ids)));
        }
        let agreed = decision.agreed.map(|set| json_of_set(&set));
        for (side, wire) in writes {
            let pending = match side {
                Side::HubSpot => &mut self.to_hubspot,
                Side::Salesforce => &mut self.to_salesforce,
            };
            pending.fields.insert(map.name(side).to_string(), wire);
            if let Some(agreed) = &agreed {
                pending.base.insert(map.salesforce.clone(), agreed.clone());
            }
        }
        let unchanged = decision.to_hubspot.is_none() && decision.to_salesforce.is_none();
        if let (true, Some(agreed)) = (unchanged, agreed)
            && stored.map(|b| &b.value) != Some(&agreed)
        {
            self.plan.agreed.insert(map.salesforce.clone(), agreed);
        }
        Ok(Ok(()))
    }

    /// The record ids a reference holds on `side` (none, one, or a set).
    pub(super) fn raw_ids(&self, map: &FieldMap, side: Side) -> Result<Vec<String>, Quarantined> {
        let snapshot = self.snapshot(side);
        let raw = snapshot.fields.get(map.name(side));
        match raw {
            None | Some(Json::Null) => Ok(Vec::new()),
            Some(Json::String(id)) if id.is_empty() => Ok(Vec::new()),
            Some(Json::String(id)) => Ok(vec![id.clone()]),
            Some(Json::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Json::String(id) => Ok(id.clone()),
                    Json::Number(n) => Ok(n.to_string()),
                    other => Err(self.unreadable(side, map, other)),
                })
                .collect(),
            Some(Json::Number(n)) => Ok(vec![n.to_string()]),
            Some(other) => Err(self.unreadable(side, map, other)),
        }
    }

    pub(super) fn unreadable(&self, side: Side, map: &FieldMap, value: &Json) -> Quarantined {
        let snapshot = self.snapshot(side);
        Box::new(NewQuarantine {
            pair: self.spec.pair.as_str().into(),
            link_id: Some(self.view.link.id),
            email: self.email(),
            system: snapshot.system.clone(),
            record_id: Some(snapshot.record_id.clone()),
            field: Some(map.name(side).to_string()),
            error_code: "UNMAPPABLE_VALUE".into(),
            message: format!(
                "{} field `{}`: cannot read {value} as record ids",
                system_of(side).label(),
                map.name(side)
            ),
        })
    }

    /// Notes that this link waits for record `id` of `side` to be linked.
    pub(super) fn wait(&mut self, map: &FieldMap, reference: Reference, side: Side, id: &str) {
        self.plan.deferred.push(Deferred {
            link_id: self.view.link.id,
            field: map.hubspot.clone(),
            target_pair: reference.target.as_str().into(),
            target_system: stored::system_name(system_of(side)).into(),
            target_id: id.to_string(),
        });
    }

    /// Notes that this link waits for `link` to hold a record on `side` (its create is on
    /// the way): it waits for the record the link holds on the other side to be linked.
    pub(super) fn wait_for_link(
        &mut self,
        map: &FieldMap,
        reference: Reference,
        link: LinkId,
        side: Side,
        lookup: &mut dyn Lookup,
    ) -> Result<(), EngineError> {
        if let Some(known) = lookup.record_of(link, side.other())? {
            self.wait(map, reference, side.other(), &known);
        }
        Ok(())
    }
}

/// The link a reference's canonical value names.
fn link_id(canonical: &str) -> Result<LinkId, EngineError> {
    canonical.parse().map(LinkId).map_err(|_| {
        EngineError::Unreadable(format!(
            "a reference's value `{canonical}` is not a link id; the state file's base values \
             were not written by this truce"
        ))
    })
}

/// A set's canonical value as stored: a JSON array of link ids, sorted.
fn json_of_set(set: &BTreeSet<String>) -> Json {
    Json::Array(set.iter().cloned().map(Json::String).collect())
}

fn set_of(json: &Json) -> BTreeSet<String> {
    match json {
        Json::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(String::from))
            .collect(),
        _ => BTreeSet::new(),
    }
}
