//! Reconciling one link: its two snapshots and base values in, a plan out.
//!
//! [`plan_link`] canonicalises each mapped field on both sides ([`super::mapping`]), runs the
//! three-way merge ([`super::merge`]) and gathers the result as data: base values that are
//! now agreed, at most one write per side (all of its fields in one record update), the
//! conflicts decided, the edits reverted, the references still waiting for their target,
//! or — when a value cannot be mapped — one quarantine entry instead of any write.
//!
//! The function does no I/O. What it needs from outside comes through [`Lookup`]: when
//! each side last changed a field (for `two_way` conflicts), and, for references, which
//! link a record id belongs to and which record a link holds on each side.
//!
//! ## References
//!
//! A reference's canonical value is the *link* it points to (a set of links for
//! `@contacts`), so both sides agree when they point at the same linked pair, whatever the
//! ids. A side pointing at a record that is not linked yet leaves the field out of this
//! merge (it would look like a blank), and the link waits for that record
//! ([`LinkPlan::deferred`]); an element of a set that is not linked yet is left out of the
//! set the same way. A value to write whose link has no record on the written side yet
//! (its create is on the way) waits too. truce never writes one system's id into the
//! other.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use truce_connectors::{ObjectType, System};
use truce_state::{
    Deferred, LinkId, LinkView, NewConflict, NewQuarantine, OutboxWrite, Snapshot, WriteOp,
};

use super::EngineError;
use super::mapping::{FieldMap, Reference};
use super::merge::{self, Decision, FieldState, Kind, Rule, SetState, Side, Value};
use super::pair::PairSpec;
use super::stored;

mod references;

/// An edit put back because the field's rule does not let that side win.
#[derive(Debug, Clone, PartialEq)]
pub struct Revert {
    /// The HubSpot property.
    pub field: String,
    /// The Salesforce field.
    pub salesforce_field: String,
    /// The side whose edit is put back.
    pub side: Side,
    /// The rule.
    pub rule: Rule,
    /// The value it is put back to.
    pub value: Value,
}

/// What reconciling one link decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkPlan {
    /// Fields whose sides now agree: Salesforce field → canonical value, to store as base.
    pub agreed: BTreeMap<String, Json>,
    /// Writes to queue (at most one per side).
    pub writes: Vec<OutboxWrite>,
    /// Conflicts decided.
    pub conflicts: Vec<NewConflict>,
    /// Edits put back.
    pub reverts: Vec<Revert>,
    /// References waiting for a record to be linked: the link is merged again then.
    pub deferred: Vec<Deferred>,
    /// Set when a value could not be mapped: the record goes to quarantine, nothing is
    /// written for this link.
    pub quarantine: Option<NewQuarantine>,
}

/// What the plan needs to know from outside, asked only when needed.
pub trait Lookup {
    /// When `side`'s `field` of this link last changed (ms since the epoch); 0 when the
    /// change log holds no change of it (it is the oldest value there is).
    fn changed_at(&mut self, side: Side, field: &str) -> Result<i64, EngineError>;
    /// The active link of `target`'s pair holding the record `id` of `side`.
    fn link_of(
        &mut self,
        target: Reference,
        side: Side,
        id: &str,
    ) -> Result<Option<LinkId>, EngineError>;
    /// The record `link` holds on `side`, once it holds one.
    fn record_of(&mut self, link: LinkId, side: Side) -> Result<Option<String>, EngineError>;
}

/// The canonical value as stored in the base and conflict tables.
pub fn json_of(value: &Value) -> Json {
    value.clone().map_or(Json::Null, Json::String)
}

fn value_of(json: &Json) -> Value {
    match json {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The system a side stands for.
pub fn system_of(side: Side) -> System {
    match side {
        Side::HubSpot => System::HubSpot,
        Side::Salesforce => System::Salesforce,
    }
}

/// Plans one link of `spec`'s pair.
pub fn plan_link(
    view: &LinkView,
    spec: &PairSpec,
    lookup: &mut dyn Lookup,
) -> Result<LinkPlan, EngineError> {
    let mut plan = LinkPlan::default();
    let (Some(hubspot), Some(salesforce)) = (&view.hubspot, &view.salesforce) else {
        return Ok(plan);
    };
    if hubspot.deleted || salesforce.deleted {
        return Ok(plan);
    }
    let Some(object) = stored::salesforce_object(&view.link)? else {
        return Ok(plan);
    };
    let mut planner = Planner {
        view,
        spec,
        object,
        hubspot,
        salesforce,
        plan: &mut plan,
        to_hubspot: Pending::default(),
        to_salesforce: Pending::default(),
    };
    for map in spec.fields_for(object) {
        let planned = match map.reference {
            None => planner.value_field(map, lookup)?,
            Some(reference) if reference.many => planner.set_field(map, reference, lookup)?,
            Some(reference) => planner.reference_field(map, reference, lookup)?,
        };
        if let Err(quarantine) = planned {
            return Ok(LinkPlan {
                quarantine: Some(*quarantine),
                ..LinkPlan::default()
            });
        }
    }
    planner.finish();
    Ok(plan)
}

/// A quarantine entry for this link, boxed: it is the rare path.
type Quarantined = Box<NewQuarantine>;

struct Planner<'a> {
    view: &'a LinkView,
    spec: &'a PairSpec,
    object: ObjectType,
    hubspot: &'a Snapshot,
    salesforce: &'a Snapshot,
    plan: &'a mut LinkPlan,
    to_hubspot: Pending,
    to_salesforce: Pending,
}

impl Planner<'_> {
    /// A plain field: canonical values, three-way merge, writes in each API's wire form.
    fn value_field(
        &mut self,
        map: &FieldMap,
        lookup: &mut dyn Lookup,
    ) -> Result<Result<(), Quarantined>, EngineError> {
        let (h, s) = match self.canonical_pair(map) {
            Ok(pair) => pair,
            Err(quarantine) => return Ok(Err(quarantine)),
        };
        let (base, h, s) = self.settled(map, h, s);
        let decision = self.decide(map, &base, &h, &s, lookup)?;
        self.record(
            map,
            (&base, &h, &s),
            decision,
            |map, side, value| match side {
                Side::HubSpot => Ok(map.to_hubspot(value)),
                Side::Salesforce => map.to_salesforce(value).map_err(|e| e.to_string()),
            },
        )
    }

    fn snapshot(&self, side: Side) -> &Snapshot {
        match side {
            Side::HubSpot => self.hubspot,
            Side::Salesforce => self.salesforce,
        }
    }

    fn email(&self) -> Option<String> {
        Some(self.view.link.email.clone()).filter(|e| !e.is_empty())
    }

    fn canonical_pair(&self, map: &FieldMap) -> Result<(Value, Value), Quarantined> {
        let unmappable = |snapshot: &Snapshot, err: super::mapping::MapError| {
            Box::new(NewQuarantine {
                pair: self.spec.pair.as_str().into(),
                link_id: Some(self.view.link.id),
                email: self.email(),
                system: snapshot.system.clone(),
                record_id: Some(snapshot.record_id.clone()),
                field: Some(err.field.clone()),
                error_code: "UNMAPPABLE_VALUE".into(),
                message: err.to_string(),
            })
        };
        let h = map
            .from_hubspot(self.hubspot.fields.get(&map.hubspot))
            .map_err(|e| unmappable(self.hubspot, e))?;
        let s = map
            .from_salesforce(self.salesforce.fields.get(&map.salesforce))
            .map_err(|e| unmappable(self.salesforce, e))?;
        Ok((h, s))
    }

    /// The base, and each side's value to merge: the base for a side last observed
    /// before the base was set (truce wrote it since: its stale value is not a change;
    /// the echo will confirm the base), otherwise what was observed.
    fn settled(&self, map: &FieldMap, h: Value, s: Value) -> (Option<Value>, Value, Value) {
        let stored = self.view.base.get(&map.salesforce);
        let base = stored.map(|b| value_of(&b.value));
        match (stored, &base) {
            (Some(stored), Some(b)) => {
                let pick = |observed: Value, at: i64| {
                    if at < stored.updated_at {
                        b.clone()
                    } else {
                        observed
                    }
                };
                let h = pick(h, self.hubspot.observed_at);
                let s = pick(s, self.salesforce.observed_at);
                (base, h, s)
            }
            _ => (base, h, s),
        }
    }

    fn decide(
        &self,
        map: &FieldMap,
        base: &Option<Value>,
        h: &Value,
        s: &Value,
        lookup: &mut dyn Lookup,
    ) -> Result<Decision, EngineError> {
        let conflict_possible = base.as_ref().is_none_or(|b| h != b && s != b);
        let (h_at, s_at) = if map.rule == Rule::TwoWay && conflict_possible && h != s {
            (
                lookup.changed_at(Side::HubSpot, &map.hubspot)?,
                lookup.changed_at(Side::Salesforce, &map.salesforce)?,
            )
        } else {
            (0, 0)
        };
        Ok(merge::merge_field(&FieldState {
            base: base.as_ref(),
            hubspot: h,
            salesforce: s,
            hubspot_changed_at: h_at,
            salesforce_changed_at: s_at,
            rule: map.rule,
        }))
    }

    fn conflict(
        &self,
        map: &FieldMap,
        base: &Option<String>,
        h: &Value,
        s: &Value,
        winner: Option<Side>,
    ) -> NewConflict {
        NewConflict {
            pair: self.spec.pair.as_str().into(),
            link_id: self.view.link.id,
            email: self.view.link.email.clone(),
            name: self.view.link.name.clone(),
            field: map.hubspot.clone(),
            salesforce_field: map.salesforce.clone(),
            hubspot_value: json_of(h),
            salesforce_value: json_of(s),
            base_value: json_of(base),
            rule: map.rule.as_str().into(),
            winner: winner.map_or("none", Side::as_str).into(),
        }
    }

    /// Adds one field's decision to the plan; `wire` turns the value to write into the
    /// written side's form.
    fn record(
        &mut self,
        map: &FieldMap,
        (base, h, s): (&Option<Value>, &Value, &Value),
        decision: Decision,
        wire: impl FnOnce(&FieldMap, Side, &Value) -> Result<Json, String>,
    ) -> Result<Result<(), Quarantined>, EngineError> {
        if decision.kind == Kind::Agreed {
            if let Some(agreed) = &decision.agreed
                && base.as_ref() != Some(agreed)
            {
                self.plan
                    .agreed
                    .insert(map.salesforce.clone(), json_of(agreed));
            }
            return Ok(Ok(()));
        }
        if let Kind::Conflict { winner } = &decision.kind {
            let conflict = self.conflict(map, &base.clone().flatten(), h, s, *winner);
            self.plan.conflicts.push(conflict);
            if winner.is_none() {
                // Rule `none` writes nothing; moving the base to HubSpot's value reports
                // this disagreement once instead of at every merge.
                self.plan.agreed.insert(map.salesforce.clone(), json_of(h));
            }
        }
        let Some((target, value)) = &decision.write else {
            return Ok(Ok(()));
        };
        if decision.kind == Kind::Reverted {
            self.plan.reverts.push(Revert {
                field: map.hubspot.clone(),
                salesforce_field: map.salesforce.clone(),
                side: *target,
                rule: map.rule,
                value: value.clone(),
            });
        }
        let written = match wire(map, *target, value) {
            Ok(written) => written,
            Err(message) => {
                return Ok(Err(Box::new(NewQuarantine {
                    pair: self.spec.pair.as_str().into(),
                    link_id: Some(self.view.link.id),
                    email: self.email(),
                    system: stored::system_name(system_of(target.other())).into(),
                    record_id: self.snapshot(target.other()).record_id.clone().into(),
                    field: Some(map.name(target.other()).to_string()),
                    error_code: "UNMAPPABLE_VALUE".into(),
                    message,
                })));
            }
        };
        let pending = match target {
            Side::HubSpot => &mut self.to_hubspot,
            Side::Salesforce => &mut self.to_salesforce,
        };
        pending
            .fields
            .insert(map.name(*target).to_string(), written);
        pending.base.insert(map.salesforce.clone(), json_of(value));
        Ok(Ok(()))
    }

    /// Turns the pending fields into at most one write per side. A converted lead is
    /// read-only; its link moves to the Contact before it is planned again.
    fn finish(self) {
        let converted = stored::is_converted(self.salesforce);
        let hubspot_object = self.spec.pair.hubspot_object();
        if let Some(write) = self.to_hubspot.into_write(
            self.view,
            self.spec,
            System::HubSpot,
            hubspot_object,
            &self.hubspot.record_id,
        ) {
            self.plan.writes.push(write);
        }
        if !converted
            && let Some(write) = self.to_salesforce.into_write(
                self.view,
                self.spec,
                System::Salesforce,
                self.object,
                &self.salesforce.record_id,
            )
        {
            self.plan.writes.push(write);
        }
    }
}

/// Fields to write to one side, with the base values they establish.
#[derive(Default)]
struct Pending {
    fields: BTreeMap<String, Json>,
    base: BTreeMap<String, Json>,
}

impl Pending {
    fn into_write(
        self,
        view: &LinkView,
        spec: &PairSpec,
        system: System,
        object: ObjectType,
        record_id: &str,
    ) -> Option<OutboxWrite> {
        (!self.fields.is_empty()).then(|| OutboxWrite {
            pair: spec.pair.as_str().into(),
            link_id: Some(view.link.id),
            system: stored::system_name(system).into(),
            object: object.as_str().into(),
            op: WriteOp::Update,
            record_id: Some(record_id.into()),
            fields: self.fields,
            upsert: None,
            base: self.base,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mapping::{FieldMapping, FieldType};
    use crate::engine::pair::{Identity, Pair, People, Qualify};
    use serde_json::json;
    use std::collections::HashMap;
    use truce_state::{BaseValue, Converted, Link, LinkState, RecordMeta};

    fn field(
        hubspot: &str,
        salesforce: &str,
        rule: Rule,
        field_type: Option<FieldType>,
    ) -> FieldMapping {
        FieldMapping {
            object: Pair::Contacts,
            hubspot: hubspot.into(),
            salesforce: salesforce.into(),
            on: None,
            rule,
            values: BTreeMap::new(),
            salesforce_if_blank: None,
            field_type,
        }
    }

    fn spec_with(extra: &[FieldMapping]) -> PairSpec {
        let mut fields = vec![
            field("email", "Email", Rule::TwoWay, Some(FieldType::Email)),
            field("firstname", "FirstName", Rule::TwoWay, None),
            field("lastname", "LastName", Rule::AlwaysSalesforce, None),
            field("score", "Score__c", Rule::TwoWay, Some(FieldType::Number)),
        ];
        fields.extend_from_slice(extra);
        PairSpec {
            pair: Pair::Contacts,
            identity: Identity::Email(People {
                qualify: Qualify::default(),
                create_as: ObjectType::SalesforceLead,
                external_id_field: None,
            }),
            fields: fields.iter().map(FieldMap::new).collect(),
            create_defaults: Vec::new(),
            extra_reads: Vec::new(),
        }
    }

    fn spec() -> PairSpec {
        spec_with(&[])
    }

    /// The outside world of a plan: change times by side, and links as (pair, side, id).
    #[derive(Default)]
    struct World {
        changed: HashMap<Side, i64>,
        links: HashMap<(Pair, Side, String), LinkId>,
        records: HashMap<(LinkId, Side), String>,
    }

    impl World {
        fn at(hubspot: i64, salesforce: i64) -> World {
            World {
                changed: HashMap::from([(Side::HubSpot, hubspot), (Side::Salesforce, salesforce)]),
                ..World::default()
            }
        }

        /// A company link `id` holding HubSpot company `h` and Account `s` (either may be
        /// missing while its create is on the way).
        fn company(mut self, id: i64, h: Option<&str>, s: Option<&str>) -> World {
            let link = LinkId(id);
            for (side, record) in [(Side::HubSpot, h), (Side::Salesforce, s)] {
                if let Some(record) = record {
                    self.links
                        .insert((Pair::Companies, side, record.into()), link);
                    self.records.insert((link, side), record.into());
                }
            }
            self
        }
    }

    impl Lookup for World {
        fn changed_at(&mut self, side: Side, _: &str) -> Result<i64, EngineError> {
            Ok(self.changed.get(&side).copied().unwrap_or(0))
        }
        fn link_of(
            &mut self,
            target: Reference,
            side: Side,
            id: &str,
        ) -> Result<Option<LinkId>, EngineError> {
            Ok(self
                .links
                .get(&(target.target, side, id.to_string()))
                .copied())
        }
        fn record_of(&mut self, link: LinkId, side: Side) -> Result<Option<String>, EngineError> {
            Ok(self.records.get(&(link, side)).cloned())
        }
    }

    fn plan_of(v: &LinkView, world: &mut World) -> LinkPlan {
        plan_link(v, &spec(), world).unwrap()
    }

    fn snapshot(system: &str, object: &str, id: &str, fields: Json) -> Snapshot {
        Snapshot {
            pair: "contacts".into(),
            system: system.into(),
            object: object.into(),
            record_id: id.into(),
            match_key: Some("ada@example.com".into()),
            modified_at: 0,
            deleted: false,
            fields: serde_json::from_value(fields).unwrap(),
            meta: RecordMeta::default(),
            observed_at: 0,
        }
    }

    fn view(hubspot: Json, salesforce: Json, base: &[(&str, Json)]) -> LinkView {
        LinkView {
            link: Link {
                id: LinkId(1),
                pair: "contacts".into(),
                email: "ada@example.com".into(),
                name: None,
                hubspot_id: Some("101".into()),
                salesforce_object: Some("Contact".into()),
                salesforce_id: Some("0031".into()),
                state: LinkState::Active,
                created_at: 0,
                updated_at: 0,
            },
            hubspot: Some(snapshot("hubspot", "contacts", "101", hubspot)),
            salesforce: Some(snapshot("salesforce", "Contact", "0031", salesforce)),
            base: base
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        BaseValue {
                            value: v.clone(),
                            updated_at: 0,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_hubspot_edit_becomes_one_salesforce_update_with_the_base_it_establishes() {
        let v = view(
            json!({"email": "ada@example.com", "firstname": "Ada", "lastname": "L", "score": "3.50"}),
            json!({"Email": "ADA@example.com", "FirstName": "Adda", "LastName": "L", "Score__c": 3.5}),
            &[
                ("Email", json!("ada@example.com")),
                ("FirstName", json!("Adda")),
                ("LastName", json!("L")),
                ("Score__c", json!("3.5")),
            ],
        );
        let plan = plan_of(&v, &mut World::default());
        assert!(plan.conflicts.is_empty());
        assert_eq!(plan.writes.len(), 1, "{plan:?}");
        let write = &plan.writes[0];
        assert_eq!(write.system, "salesforce");
        assert_eq!(write.record_id.as_deref(), Some("0031"));
        assert_eq!(
            write.fields,
            BTreeMap::from([("FirstName".into(), json!("Ada"))])
        );
        assert_eq!(
            write.base,
            BTreeMap::from([("FirstName".into(), json!("Ada"))])
        );
    }

    #[test]
    fn values_equal_in_canonical_form_cause_no_write_and_become_the_base() {
        let v = view(
            json!({"email": "Ada@Example.com ", "firstname": "Ada", "lastname": "L", "score": "3.50"}),
            json!({"Email": "ada@example.com", "FirstName": "Ada", "LastName": "L", "Score__c": 3.5}),
            &[],
        );
        let plan = plan_of(&v, &mut World::default());
        assert!(plan.writes.is_empty(), "{plan:?}");
        assert_eq!(plan.agreed.get("Score__c"), Some(&json!("3.5")));
        assert_eq!(plan.agreed.get("Email"), Some(&json!("ada@example.com")));
    }

    #[test]
    fn a_conflict_is_recorded_with_both_values_the_base_and_the_winner() {
        let v = view(
            json!({"email": "ada@example.com", "firstname": "Ada-H", "lastname": "L"}),
            json!({"Email": "ada@example.com", "FirstName": "Ada-S", "LastName": "L"}),
            &[("FirstName", json!("Ada"))],
        );
        let plan = plan_of(&v, &mut World::at(100, 200));
        assert_eq!(plan.conflicts.len(), 1);
        let c = &plan.conflicts[0];
        assert_eq!(
            (c.field.as_str(), c.winner.as_str(), &c.base_value),
            ("firstname", "salesforce", &json!("Ada"))
        );
        assert_eq!(plan.writes[0].system, "hubspot");
        assert_eq!(
            plan.writes[0].fields.get("firstname"),
            Some(&json!("Ada-S"))
        );
    }

    #[test]
    fn an_edit_on_the_losing_side_of_a_one_way_rule_is_reverted() {
        let v = view(
            json!({"email": "ada@example.com", "firstname": "Ada", "lastname": "Changed"}),
            json!({"Email": "ada@example.com", "FirstName": "Ada", "LastName": "L"}),
            &[("LastName", json!("L")), ("FirstName", json!("Ada"))],
        );
        let plan = plan_of(&v, &mut World::default());
        assert_eq!(plan.reverts.len(), 1);
        assert_eq!(plan.reverts[0].side, Side::HubSpot);
        assert_eq!(plan.writes[0].fields.get("lastname"), Some(&json!("L")));
    }

    #[test]
    fn an_unmappable_value_quarantines_the_record_and_writes_nothing() {
        let v = view(
            json!({"email": "ada@example.com", "firstname": "X", "score": "many"}),
            json!({"Email": "ada@example.com", "FirstName": "Y", "Score__c": 3}),
            &[],
        );
        let plan = plan_of(&v, &mut World::default());
        assert!(plan.writes.is_empty());
        let q = plan.quarantine.expect("quarantined");
        assert_eq!(q.field.as_deref(), Some("score"));
        assert_eq!(q.system, "hubspot");
        assert!(q.message.contains("\"many\""), "{}", q.message);
    }

    #[test]
    fn a_side_not_observed_since_truce_wrote_to_it_is_not_taken_for_a_change() {
        // truce wrote "Ada" to Salesforce (base set at 10); Salesforce's snapshot is from 5.
        let mut v = view(
            json!({"email": "ada@example.com", "firstname": "Ada"}),
            json!({"Email": "ada@example.com", "FirstName": null}),
            &[
                ("FirstName", json!("Ada")),
                ("Email", json!("ada@example.com")),
            ],
        );
        v.base.get_mut("FirstName").unwrap().updated_at = 10;
        v.salesforce.as_mut().unwrap().observed_at = 5;
        v.hubspot.as_mut().unwrap().observed_at = 5;
        let plan = plan_of(&v, &mut World::default());
        assert!(plan.writes.is_empty(), "{plan:?}");
        // Once Salesforce is observed again, its value counts.
        v.salesforce.as_mut().unwrap().observed_at = 11;
        let plan = plan_of(&v, &mut World::default());
        assert_eq!(plan.writes[0].system, "hubspot");
    }

    #[test]
    fn a_converted_lead_is_never_written() {
        let v = view(
            json!({"email": "ada@example.com", "firstname": "New"}),
            json!({"Email": "ada@example.com", "FirstName": "Old"}),
            &[("FirstName", json!("Old"))],
        );
        let mut v = v;
        v.salesforce.as_mut().unwrap().meta.converted = Some(Converted::default());
        let plan = plan_of(&v, &mut World::default());
        assert!(
            plan.writes.iter().all(|w| w.system != "salesforce"),
            "{plan:?}"
        );
    }

    fn company_ref() -> FieldMapping {
        FieldMapping {
            on: Some(vec![ObjectType::SalesforceContact]),
            ..field("@company", "AccountId", Rule::TwoWay, None)
        }
    }

    fn plan_refs(v: &LinkView, world: &mut World) -> LinkPlan {
        plan_link(v, &spec_with(&[company_ref()]), world).unwrap()
    }

    fn person(company: Json, account: Json, base: Option<&str>) -> LinkView {
        let base: Vec<(&str, Json)> = base.map(|b| ("AccountId", json!(b))).into_iter().collect();
        view(
            json!({"email": "ada@example.com", "@company": company}),
            json!({"Email": "ada@example.com", "AccountId": account}),
            &base,
        )
    }

    fn world() -> World {
        World::default()
            .company(7, Some("501"), Some("0017"))
            .company(8, Some("502"), Some("0018"))
            .company(9, Some("503"), None)
    }

    #[test]
    fn references_agree_when_they_point_at_one_linked_pair_whatever_the_ids() {
        let plan = plan_refs(&person(json!("501"), json!("0017"), None), &mut world());
        assert!(plan.writes.is_empty(), "{plan:?}");
        assert_eq!(plan.agreed.get("AccountId"), Some(&json!("7")));
        assert!(plan.deferred.is_empty());
    }

    #[test]
    fn a_moved_reference_is_written_as_the_other_systems_id_of_the_same_link() {
        let plan = plan_refs(
            &person(json!("502"), json!("0017"), Some("7")),
            &mut world(),
        );
        assert_eq!(plan.writes.len(), 1, "{plan:?}");
        let write = &plan.writes[0];
        assert_eq!(write.system, "salesforce");
        assert_eq!(write.fields.get("AccountId"), Some(&json!("0018")));
        assert_eq!(write.base.get("AccountId"), Some(&json!("8")));
        // And the other way: Salesforce moved, HubSpot's association follows.
        let plan = plan_refs(
            &person(json!("501"), json!("0018"), Some("7")),
            &mut world(),
        );
        assert_eq!(plan.writes[0].system, "hubspot");
        assert_eq!(plan.writes[0].fields.get("@company"), Some(&json!("502")));
    }

    #[test]
    fn a_reference_to_a_record_not_linked_yet_waits_and_is_never_written_as_a_raw_id() {
        let plan = plan_refs(
            &person(json!("999"), json!("0017"), Some("7")),
            &mut world(),
        );
        assert!(plan.writes.is_empty(), "{plan:?}");
        assert!(!plan.agreed.contains_key("AccountId"));
        assert_eq!(plan.deferred.len(), 1);
        let wait = &plan.deferred[0];
        assert_eq!(
            (
                wait.target_pair.as_str(),
                wait.target_system.as_str(),
                wait.target_id.as_str()
            ),
            ("companies", "hubspot", "999")
        );
    }

    #[test]
    fn a_reference_to_a_link_whose_other_side_is_still_being_created_waits_for_it() {
        let plan = plan_refs(
            &person(json!("503"), json!("0017"), Some("7")),
            &mut world(),
        );
        assert!(plan.writes.is_empty(), "{plan:?}");
        assert_eq!(plan.deferred.len(), 1);
        assert_eq!(plan.deferred[0].target_id, "503");
    }

    #[test]
    fn a_cleared_reference_clears_the_other_side_by_the_rule() {
        let plan = plan_refs(&person(json!("501"), Json::Null, Some("7")), &mut world());
        assert_eq!(plan.writes[0].system, "hubspot");
        assert_eq!(plan.writes[0].fields.get("@company"), Some(&Json::Null));
        assert_eq!(plan.writes[0].base.get("AccountId"), Some(&Json::Null));
    }

    #[test]
    fn references_conflict_and_are_decided_by_the_rule_like_any_field() {
        // Both moved away from link 7: HubSpot to 8, Salesforce to a company not linked.
        let mut w = world().company(10, Some("504"), Some("0110"));
        let plan = plan_link(
            &person(json!("502"), json!("0110"), Some("7")),
            &spec_with(&[company_ref()]),
            &mut w,
        )
        .unwrap();
        assert_eq!(plan.conflicts.len(), 1);
        assert_eq!(plan.conflicts[0].winner, "hubspot");
        assert_eq!(plan.conflicts[0].hubspot_value, json!("8"));
        assert_eq!(plan.writes[0].fields.get("AccountId"), Some(&json!("0018")));
    }
}
