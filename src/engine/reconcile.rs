//! Reconciling one link: its two snapshots and base values in, a plan out.
//!
//! [`plan_link`] canonicalises each mapped field on both sides ([`super::mapping`]), runs the
//! three-way merge ([`super::merge`]) and gathers the result as data: base values that are
//! now agreed, at most one write per side (all of its fields in one record update), the
//! conflicts decided, the edits reverted, or — when a value cannot be mapped — one
//! quarantine entry instead of any write. The only outside knowledge it needs, when each
//! side last changed a field (for `two_way` conflicts), comes through a closure, so the
//! function itself does no I/O.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use truce_state::{LinkView, NewConflict, NewQuarantine, OutboxWrite, Snapshot, WriteOp};

use super::mapping::FieldMap;
use super::merge::{self, Decision, FieldState, Kind, Side, Value};
use super::settings::Settings;
use crate::config::{Rule, SalesforceObject};

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
    /// Set when a value could not be mapped: the record goes to quarantine, nothing is
    /// written for this link.
    pub quarantine: Option<NewQuarantine>,
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

/// True when a Salesforce snapshot is a converted lead, which is never written again.
pub fn is_converted(snapshot: &Snapshot) -> bool {
    snapshot.fields.get("IsConverted") == Some(&Json::Bool(true))
}

/// Plans one link. `changed_at(side, field)` says when that side's field last changed
/// (ms), and is asked only to break `two_way` conflicts.
pub fn plan_link(
    view: &LinkView,
    settings: &Settings,
    changed_at: &mut dyn FnMut(Side, &str) -> i64,
) -> LinkPlan {
    let mut plan = LinkPlan::default();
    let (Some(hubspot), Some(salesforce)) = (&view.hubspot, &view.salesforce) else {
        return plan;
    };
    if hubspot.deleted || salesforce.deleted {
        return plan;
    }
    let Some(object) = salesforce_object(&view.link.salesforce_object) else {
        return plan;
    };
    let mut to_hubspot = Pending::default();
    let mut to_salesforce = Pending::default();
    for map in settings.fields_for(object) {
        let (h, s) = match canonical_pair(map, hubspot, salesforce) {
            Ok(pair) => pair,
            Err(quarantine) => {
                return LinkPlan {
                    quarantine: Some(quarantine.with_link(view)),
                    ..LinkPlan::default()
                };
            }
        };
        let stored_base = view.base.get(&map.salesforce);
        let base = stored_base.map(|b| value_of(&b.value));
        // A side observed before its base was last set has not shown truce's write yet:
        // its stale value is not a change (the echo will confirm the base).
        let (h, s) = match (stored_base, &base) {
            (Some(stored), Some(base)) => (
                settled(h, base, hubspot.observed_at, stored.updated_at),
                settled(s, base, salesforce.observed_at, stored.updated_at),
            ),
            _ => (h, s),
        };
        let conflict_possible = base.as_ref().is_none_or(|b| h != *b && s != *b);
        let (h_at, s_at) = if map.rule == Rule::TwoWay && conflict_possible && h != s {
            (
                changed_at(Side::HubSpot, &map.hubspot),
                changed_at(Side::Salesforce, &map.salesforce),
            )
        } else {
            (0, 0)
        };
        let decision = merge::merge_field(&FieldState {
            base: base.as_ref(),
            hubspot: &h,
            salesforce: &s,
            hubspot_changed_at: h_at,
            salesforce_changed_at: s_at,
            rule: map.rule,
        });
        if let Err(quarantine) = record(
            &mut plan,
            &mut to_hubspot,
            &mut to_salesforce,
            map,
            view,
            (&base, &h, &s),
            decision,
        ) {
            return LinkPlan {
                quarantine: Some(*quarantine),
                ..LinkPlan::default()
            };
        }
    }
    let converted = is_converted(salesforce);
    if let Some(write) = to_hubspot.into_write(view, "hubspot", "contacts", &hubspot.record_id) {
        plan.writes.push(write);
    }
    // A converted lead is read-only; its link moves to the Contact before it is planned.
    if !converted
        && let Some(write) = to_salesforce.into_write(
            view,
            "salesforce",
            &salesforce.object,
            &salesforce.record_id,
        )
    {
        plan.writes.push(write);
    }
    plan
}

/// The value to merge for one side: the base when the side was last observed before the
/// base was set (truce wrote it since), otherwise what was observed.
fn settled(observed: Value, base: &Value, observed_at: i64, base_set_at: i64) -> Value {
    if observed_at < base_set_at {
        base.clone()
    } else {
        observed
    }
}

fn salesforce_object(name: &Option<String>) -> Option<SalesforceObject> {
    match name.as_deref() {
        Some("Lead") => Some(SalesforceObject::Lead),
        Some("Contact") => Some(SalesforceObject::Contact),
        _ => None,
    }
}

/// A quarantine entry still missing its link.
struct Unmappable(Box<NewQuarantine>);

impl Unmappable {
    fn with_link(self, view: &LinkView) -> NewQuarantine {
        NewQuarantine {
            link_id: Some(view.link.id),
            email: Some(view.link.email.clone()),
            ..*self.0
        }
    }
}

fn canonical_pair(
    map: &FieldMap,
    hubspot: &Snapshot,
    salesforce: &Snapshot,
) -> Result<(Value, Value), Unmappable> {
    let unmappable = |snapshot: &Snapshot, err: super::mapping::MapError| {
        Unmappable(Box::new(NewQuarantine {
            link_id: None,
            email: None,
            system: snapshot.system.clone(),
            record_id: Some(snapshot.record_id.clone()),
            field: Some(err.field.clone()),
            error_code: "UNMAPPABLE_VALUE".into(),
            message: err.to_string(),
        }))
    };
    let h = map
        .from_hubspot(hubspot.fields.get(&map.hubspot))
        .map_err(|e| unmappable(hubspot, e))?;
    let s = map
        .from_salesforce(salesforce.fields.get(&map.salesforce))
        .map_err(|e| unmappable(salesforce, e))?;
    Ok((h, s))
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
        system: &str,
        object: &str,
        record_id: &str,
    ) -> Option<OutboxWrite> {
        (!self.fields.is_empty()).then(|| OutboxWrite {
            link_id: Some(view.link.id),
            system: system.into(),
            object: object.into(),
            op: WriteOp::Update,
            record_id: Some(record_id.into()),
            fields: self.fields,
            upsert: None,
            base: self.base,
        })
    }
}

fn record(
    plan: &mut LinkPlan,
    to_hubspot: &mut Pending,
    to_salesforce: &mut Pending,
    map: &FieldMap,
    view: &LinkView,
    (base, h, s): (&Option<Value>, &Value, &Value),
    decision: Decision,
) -> Result<(), Box<NewQuarantine>> {
    if decision.kind == Kind::Agreed {
        if let Some(agreed) = &decision.agreed
            && base.as_ref() != Some(agreed)
        {
            plan.agreed.insert(map.salesforce.clone(), json_of(agreed));
        }
        return Ok(());
    }
    if let Kind::Conflict { winner } = &decision.kind {
        plan.conflicts.push(NewConflict {
            link_id: view.link.id,
            email: view.link.email.clone(),
            field: map.hubspot.clone(),
            salesforce_field: map.salesforce.clone(),
            hubspot_value: json_of(h),
            salesforce_value: json_of(s),
            base_value: base.as_ref().map_or(Json::Null, json_of),
            rule: map.rule.as_str().into(),
            winner: winner.map_or("none", Side::as_str).into(),
        });
        if winner.is_none() {
            // Rule `none` writes nothing; moving the base to HubSpot's value reports this
            // disagreement once instead of at every merge.
            plan.agreed.insert(map.salesforce.clone(), json_of(h));
        }
    }
    let Some((target, value)) = &decision.write else {
        return Ok(());
    };
    if decision.kind == Kind::Reverted {
        plan.reverts.push(Revert {
            field: map.hubspot.clone(),
            salesforce_field: map.salesforce.clone(),
            side: *target,
            rule: map.rule,
            value: value.clone(),
        });
    }
    let agreed = json_of(value);
    match target {
        Side::HubSpot => {
            to_hubspot
                .fields
                .insert(map.hubspot.clone(), map.to_hubspot(value));
            to_hubspot.base.insert(map.salesforce.clone(), agreed);
        }
        Side::Salesforce => {
            let wire = map.to_salesforce(value).map_err(|err| {
                Box::new(NewQuarantine {
                    link_id: Some(view.link.id),
                    email: Some(view.link.email.clone()),
                    system: "hubspot".into(),
                    record_id: view.link.hubspot_id.clone(),
                    field: Some(map.hubspot.clone()),
                    error_code: "UNMAPPABLE_VALUE".into(),
                    message: err.to_string(),
                })
            })?;
            to_salesforce.fields.insert(map.salesforce.clone(), wire);
            to_salesforce.base.insert(map.salesforce.clone(), agreed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DeletePolicy, FieldMapping, FieldType, Qualify};
    use serde_json::json;
    use std::time::Duration;
    use truce_state::{BaseValue, Link, LinkId, LinkState};

    fn settings() -> Settings {
        let field = |hubspot: &str, salesforce: &str, rule, field_type| FieldMapping {
            hubspot: hubspot.into(),
            salesforce: salesforce.into(),
            on: vec![SalesforceObject::Lead, SalesforceObject::Contact],
            rule,
            values: BTreeMap::new(),
            salesforce_if_blank: None,
            field_type,
        };
        Settings {
            fields: [
                field("email", "Email", Rule::TwoWay, None),
                field("firstname", "FirstName", Rule::TwoWay, None),
                field("lastname", "LastName", Rule::AlwaysSalesforce, None),
                field("score", "Score__c", Rule::TwoWay, Some(FieldType::Number)),
            ]
            .iter()
            .map(FieldMap::new)
            .collect(),
            qualify: Qualify::default(),
            create_as: SalesforceObject::Lead,
            deletes: DeletePolicy::Unlink,
            lookback: Duration::from_secs(60),
            external_id_field: None,
            max_attempts: 8,
            apply_batch: 1000,
        }
    }

    fn snapshot(system: &str, object: &str, id: &str, fields: Json) -> Snapshot {
        Snapshot {
            system: system.into(),
            object: object.into(),
            record_id: id.into(),
            email: Some("ada@example.com".into()),
            modified_at: 0,
            deleted: false,
            fields: serde_json::from_value(fields).unwrap(),
            observed_at: 0,
        }
    }

    fn view(hubspot: Json, salesforce: Json, base: &[(&str, Json)]) -> LinkView {
        LinkView {
            link: Link {
                id: LinkId(1),
                email: "ada@example.com".into(),
                hubspot_id: Some("101".into()),
                salesforce_object: Some("Lead".into()),
                salesforce_id: Some("00Q1".into()),
                state: LinkState::Active,
                created_at: 0,
                updated_at: 0,
            },
            hubspot: Some(snapshot("hubspot", "contacts", "101", hubspot)),
            salesforce: Some(snapshot("salesforce", "Lead", "00Q1", salesforce)),
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
        let plan = plan_link(&v, &settings(), &mut |_, _| 0);
        assert!(plan.conflicts.is_empty());
        assert_eq!(plan.writes.len(), 1, "{plan:?}");
        let write = &plan.writes[0];
        assert_eq!(write.system, "salesforce");
        assert_eq!(write.record_id.as_deref(), Some("00Q1"));
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
        let plan = plan_link(&v, &settings(), &mut |_, _| 0);
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
        let plan = plan_link(&v, &settings(), &mut |side, _| match side {
            Side::HubSpot => 100,
            Side::Salesforce => 200,
        });
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
        let plan = plan_link(&v, &settings(), &mut |_, _| 0);
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
        let plan = plan_link(&v, &settings(), &mut |_, _| 0);
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
        let plan = plan_link(&v, &settings(), &mut |_, _| 0);
        assert!(plan.writes.is_empty(), "{plan:?}");
        // Once Salesforce is observed again, its value counts.
        v.salesforce.as_mut().unwrap().observed_at = 11;
        let plan = plan_link(&v, &settings(), &mut |_, _| 0);
        assert_eq!(plan.writes[0].system, "hubspot");
    }

    #[test]
    fn a_converted_lead_is_never_written() {
        let v = view(
            json!({"email": "ada@example.com", "firstname": "New"}),
            json!({"Email": "ada@example.com", "FirstName": "Old", "IsConverted": true}),
            &[("FirstName", json!("Old"))],
        );
        let plan = plan_link(&v, &settings(), &mut |_, _| 0);
        assert!(
            plan.writes.iter().all(|w| w.system != "salesforce"),
            "{plan:?}"
        );
    }
}
