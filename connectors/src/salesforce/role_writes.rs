//! An Opportunity's contacts, written: a [`Write`] to an Opportunity may carry
//! `OpportunityContactRole`, the *whole desired set* of ContactIds.
//!
//! The set is taken out of the record write ([`take_children`]); once the record is
//! written (created, upserted or updated; an update carrying nothing but the set is not
//! sent at all), the client reads the Opportunities' current roles, then creates a role
//! for each missing contact and deletes each role whose contact left the set. Roles of a
//! contact that stays are kept as they are (an admin may give one contact two roles).
//!
//! ## One primary
//!
//! Salesforce keeps at most one primary role per Opportunity. When none of the kept roles
//! is primary, the first role created is; when nothing is created but the primary was
//! deleted, the first kept role (in the order of the desired set) becomes primary.
//!
//! ## Calls and outcomes
//!
//! Across the writes of one `apply`: one pass of composite calls reads the current roles
//! (five `IN` queries a call, about 180 Opportunities each), then the creates, deletes and
//! primary updates go as sObject Collections of 200, five a call: a batch of writes costs
//! two calls more than its record writes. Each write still gets exactly one outcome: a
//! role Salesforce refused is that write's error, in Salesforce's words, naming the
//! Contact and the Opportunity; but when the write created the Opportunity, the write
//! stays accepted with the new id and the refusal is reported beside it
//! ([`PartRefused`]), so the engine records the Opportunity and never creates it again. Roles refused with a passing error (`UNABLE_TO_LOCK_ROW`)
//! are re-sent in the same rounds as records; a composite holding role creates is sent at
//! most once, and a write whose roles may or may not have been made is simply written
//! again later: the next diff starts from what Salesforce holds.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::{Value, json};

use super::SalesforceConnector;
use super::objects::{CONTACT_ROLES, ChildSet};
use super::pull::{HEAVY_PER_COMPOSITE, sub_error};
use super::roles::{Role, id_key};
use super::soql::RecordId;
use super::wire::{SaveResult, SubRequest, SubResponse};
use super::write::{COLLECTION_SIZE, Outcomes, record_error};
use crate::contract::{ObjectType, PartRefused, Write, WriteOp, Written};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::retry::Resends;

/// The desired child set of one write.
#[derive(Debug, Clone)]
pub(super) struct Wanted {
    key: i64,
    child: &'static ChildSet,
    desired: Vec<String>,
}

/// The child set an object's writes may carry.
fn child_of(object: ObjectType) -> Option<&'static ChildSet> {
    (object == ObjectType::SalesforceOpportunity).then_some(&CONTACT_ROLES)
}

/// The desired set a write's value names: ids, each once, in the order given.
fn desired(value: Value, child: &ChildSet) -> Result<Vec<String>, String> {
    let items = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "{} must be an array of {} values, not {other}",
                child.field(),
                child.related
            ));
        }
    };
    let mut ids: Vec<String> = Vec::new();
    for item in items {
        let id = item
            .as_str()
            .and_then(|s| RecordId::new(s).ok())
            .ok_or_else(|| format!("{}: {item} is not a Salesforce record id", child.field()))?;
        if !ids.iter().any(|i| id_key(i) == id_key(id.as_str())) {
            ids.push(id.as_str().to_string());
        }
    }
    Ok(ids)
}

/// Takes the child sets out of `writes`. Returns the writes left for sObject Collections
/// and the sets to write once their records are. An update that carried nothing but its
/// set is not sent: its record part is done already. A set that cannot be written refuses
/// its write.
pub(super) fn take_children(
    writes: Vec<Write>,
    outcomes: &mut Outcomes,
) -> (Vec<Write>, Vec<Wanted>) {
    let mut left = Vec::with_capacity(writes.len());
    let mut wanted = Vec::new();
    for mut write in writes {
        let Some(child) = child_of(write.object) else {
            left.push(write);
            continue;
        };
        let field = write
            .fields
            .keys()
            .find(|k| k.eq_ignore_ascii_case(child.field()))
            .cloned();
        let Some(value) = field.and_then(|f| write.fields.remove(&f)) else {
            left.push(write);
            continue;
        };
        if let WriteOp::Delete { .. } = write.op {
            // Salesforce deletes an Opportunity's roles with it.
            left.push(write);
            continue;
        }
        match desired(value, child) {
            Ok(desired) => wanted.push(Wanted {
                key: write.key,
                child,
                desired,
            }),
            Err(message) => {
                let action = format!("Salesforce write of the contacts of a {}", write.object);
                let err = Error::new(ErrorClass::Permanent, action, ApiError::message(message));
                outcomes.insert(write.key, Err(err));
                continue;
            }
        }
        match &write.op {
            WriteOp::Update { id, .. } if write.fields.is_empty() => {
                let written = Written {
                    id: id.clone(),
                    created: false,
                };
                outcomes.insert(write.key, Ok(written));
            }
            _ => left.push(write),
        }
    }
    (left, wanted)
}

/// One role to create, delete or make primary, for the write `key`.
#[derive(Debug, Clone)]
struct RoleOp {
    key: i64,
    parent: String,
    kind: OpKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OpKind {
    Delete { id: String, related: String },
    Create { related: String, primary: bool },
    Primary { id: String, related: String },
}

impl RoleOp {
    fn action(&self, child: &ChildSet) -> String {
        let (object, parent) = (child.object, &self.parent);
        match &self.kind {
            OpKind::Create { related, .. } => {
                format!(
                    "Salesforce create of the {object} of Contact {related} on Opportunity {parent}"
                )
            }
            OpKind::Delete { id, related } => {
                format!(
                    "Salesforce delete of {object} {id} (Contact {related}) of Opportunity {parent}"
                )
            }
            OpKind::Primary { id, related } => format!(
                "Salesforce update of {object} {id} (Contact {related}) of Opportunity {parent} to primary"
            ),
        }
    }

    fn verb(&self) -> u8 {
        match self.kind {
            OpKind::Delete { .. } => 0,
            OpKind::Create { .. } => 1,
            OpKind::Primary { .. } => 2,
        }
    }
}

/// The role operations that turn `current` into `desired` for one parent (see the module
/// docs on the primary role).
fn diff(key: i64, parent: &str, desired: &[String], current: &[Role]) -> Vec<RoleOp> {
    let wanted = |related: &str| desired.iter().any(|d| id_key(d) == id_key(related));
    let (kept, gone): (Vec<&Role>, Vec<&Role>) = current.iter().partition(|r| wanted(&r.related));
    let op = |kind| RoleOp {
        key,
        parent: parent.to_string(),
        kind,
    };
    let mut ops: Vec<RoleOp> = gone
        .iter()
        .map(|r| {
            op(OpKind::Delete {
                id: r.id.clone(),
                related: r.related.clone(),
            })
        })
        .collect();
    let missing: Vec<&String> = desired
        .iter()
        .filter(|d| !kept.iter().any(|r| id_key(&r.related) == id_key(d)))
        .collect();
    let needs_primary = !kept.iter().any(|r| r.primary);
    for (i, related) in missing.iter().enumerate() {
        ops.push(op(OpKind::Create {
            related: related.to_string(),
            primary: needs_primary && i == 0,
        }));
    }
    if needs_primary && missing.is_empty() && gone.iter().any(|r| r.primary) {
        let first = desired
            .iter()
            .find_map(|d| kept.iter().find(|r| id_key(&r.related) == id_key(d)));
        if let Some(role) = first {
            ops.push(op(OpKind::Primary {
                id: role.id.clone(),
                related: role.related.clone(),
            }));
        }
    }
    ops
}

/// One collection of role operations, all of one kind.
type Batch = Vec<RoleOp>;
/// One composite call's collections and what Salesforce answered.
type Answered = (Vec<Batch>, Result<Vec<SubResponse>, Error>);

/// A refused operation goes round again while its refusal passes and rounds remain; else
/// it is its write's error (the first one, when several of a write's roles fail).
fn refused(
    op: &RoleOp,
    err: Error,
    resends: &Resends,
    again: &mut Vec<RoleOp>,
    failed: &mut BTreeMap<i64, Error>,
) {
    if resends.again(&err) {
        again.push(op.clone());
    } else {
        failed.entry(op.key).or_insert(err);
    }
}

impl SalesforceConnector {
    /// Writes the child sets of writes whose record part succeeded. A failure becomes its
    /// write's outcome, except after a create: the record exists, so the write stays
    /// accepted with its new id (never created twice) and the set's refusal goes into
    /// `refused`.
    pub(super) async fn write_children(
        &self,
        wanted: Vec<Wanted>,
        outcomes: &mut Outcomes,
        refused: &mut BTreeMap<i64, PartRefused>,
    ) {
        let mut targets: Vec<(Wanted, String)> = Vec::new();
        for w in wanted {
            if let Some(Ok(written)) = outcomes.get(&w.key) {
                let id = written.id.clone();
                targets.push((w, id));
            }
        }
        if targets.is_empty() {
            return;
        }
        let parents: Vec<String> = targets.iter().map(|(_, id)| id.clone()).collect();
        let action = format!(
            "Salesforce read of the contact roles of {} Opportunities",
            parents.len()
        );
        let current = match self.current_roles(&parents, &action).await {
            Ok(current) => current,
            Err(err) => {
                for (w, _) in &targets {
                    outcomes.insert(w.key, Err(err.clone()));
                }
                return;
            }
        };
        let mut by_parent: BTreeMap<&str, Vec<Role>> = BTreeMap::new();
        for role in &current {
            by_parent
                .entry(id_key(&role.parent))
                .or_default()
                .push(role.clone());
        }
        let mut pending: Vec<RoleOp> = Vec::new();
        for (w, parent) in &targets {
            let roles = by_parent
                .get(id_key(parent))
                .map(Vec::as_slice)
                .unwrap_or_default();
            pending.extend(diff(w.key, parent, &w.desired, roles));
        }
        let child = targets.first().map_or(&CONTACT_ROLES, |(w, _)| w.child);
        let mut failed: BTreeMap<i64, Error> = BTreeMap::new();
        let mut resends = Resends::new(self.inner.pipeline.policy());
        while !pending.is_empty() {
            pending = self
                .send_role_ops(child, std::mem::take(&mut pending), &resends, &mut failed)
                .await;
            if pending.is_empty() {
                break;
            }
            match resends.next_round() {
                Some(wait) => tokio::time::sleep(wait).await,
                None => break,
            }
        }
        for (key, err) in failed {
            match outcomes.get(&key) {
                Some(Ok(written)) if written.created => {
                    let field = child.field().to_string();
                    refused.insert(key, PartRefused { field, error: err });
                }
                _ => {
                    outcomes.insert(key, Err(err));
                }
            }
        }
    }

    /// Sends role operations (collections of 200, five a call, calls side by side); the
    /// first refusal of each write lands in `failed`. Returns the operations to re-send.
    async fn send_role_ops(
        &self,
        child: &ChildSet,
        ops: Vec<RoleOp>,
        resends: &Resends,
        failed: &mut BTreeMap<i64, Error>,
    ) -> Vec<RoleOp> {
        let mut by_verb: BTreeMap<u8, Vec<RoleOp>> = BTreeMap::new();
        for op in ops {
            by_verb.entry(op.verb()).or_default().push(op);
        }
        let batches: Vec<Batch> = by_verb
            .into_values()
            .flat_map(|list| {
                list.chunks(COLLECTION_SIZE)
                    .map(<[RoleOp]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect();
        let calls: Vec<Vec<Batch>> = batches
            .chunks(HEAVY_PER_COMPOSITE)
            .map(<[Batch]>::to_vec)
            .collect();
        let answered: Vec<Answered> =
            futures::stream::iter(calls.into_iter().map(|call| async move {
                let subs = self.role_requests(child, &call);
                let count: usize = call.iter().map(Vec::len).sum();
                let action = format!("Salesforce write of {count} {}s", child.object);
                // Creates are not idempotent: never repeat them blindly.
                let once = call
                    .iter()
                    .flatten()
                    .any(|op| matches!(op.kind, OpKind::Create { .. }));
                let result = self.composite(subs, &action, once).await;
                (call, result)
            }))
            .buffered(self.inner.max_concurrency)
            .collect()
            .await;
        let mut again = Vec::new();
        for (call, result) in answered {
            let answers = match result {
                Ok(answers) => answers,
                Err(err) => {
                    for op in call.iter().flatten() {
                        failed.entry(op.key).or_insert_with(|| err.clone());
                    }
                    continue;
                }
            };
            for (batch, answer) in call.iter().zip(answers) {
                let results: Option<Vec<SaveResult>> = (answer.http_status_code < 300)
                    .then(|| serde_json::from_value(answer.body.clone()).ok())
                    .flatten()
                    .filter(|r: &Vec<SaveResult>| r.len() == batch.len());
                let Some(results) = results else {
                    let action = format!("Salesforce write of {} {}s", batch.len(), child.object);
                    let err = sub_error(&answer, &action);
                    for op in batch {
                        refused(op, err.clone(), resends, &mut again, failed);
                    }
                    continue;
                };
                // One result per record, in the order sent: each is its operation's.
                for (op, result) in batch.iter().zip(results) {
                    if !result.success {
                        let err = record_error(&result.errors, &op.action(child));
                        refused(op, err, resends, &mut again, failed);
                    }
                }
            }
        }
        again
    }

    /// The sObject Collections subrequests of one composite call of role operations.
    fn role_requests(&self, child: &ChildSet, call: &[Batch]) -> Vec<SubRequest> {
        let collections = self.data_path("composite/sobjects");
        let object = child.object.as_str();
        call.iter()
            .enumerate()
            .map(|(i, batch)| {
                let reference_id = format!("r{i}");
                let records = |ops: &[RoleOp]| {
                    let records: Vec<Value> = ops
                        .iter()
                        .map(|op| match &op.kind {
                            OpKind::Create { related, primary } => json!({
                                "attributes": {"type": object},
                                child.parent: op.parent,
                                child.related: related,
                                child.primary: primary,
                            }),
                            // Deletes carry no body; only primary updates get here.
                            OpKind::Primary { id, .. } | OpKind::Delete { id, .. } => json!({
                                "attributes": {"type": object},
                                "id": id,
                                child.primary: true,
                            }),
                        })
                        .collect();
                    Some(json!({"allOrNone": false, "records": records}))
                };
                let (method, url, body) = match batch.first().map(|op| &op.kind) {
                    Some(OpKind::Delete { .. }) => {
                        let ids: Vec<&str> = batch
                            .iter()
                            .filter_map(|op| match &op.kind {
                                OpKind::Delete { id, .. } => Some(id.as_str()),
                                _ => None,
                            })
                            .collect();
                        let url = format!("{collections}?ids={}&allOrNone=false", ids.join(","));
                        ("DELETE", url, None)
                    }
                    Some(OpKind::Primary { .. }) => ("PATCH", collections.clone(), records(batch)),
                    _ => ("POST", collections.clone(), records(batch)),
                };
                SubRequest {
                    method,
                    url,
                    reference_id,
                    body,
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn role(id: &str, contact: &str, primary: bool) -> Role {
        Role {
            id: id.into(),
            parent: "006000000000001AAA".into(),
            related: contact.into(),
            primary,
        }
    }

    fn kinds(ops: &[RoleOp]) -> Vec<OpKind> {
        ops.iter().map(|o| o.kind.clone()).collect()
    }

    const A: &str = "003000000000001AAA";
    const B: &str = "003000000000002AAA";
    const C: &str = "003000000000003AAA";

    #[test]
    fn missing_contacts_are_created_and_departed_ones_deleted_keeping_the_rest() {
        let current = [role("00K1", A, true), role("00K2", B, false)];
        let ops = diff(7, "006000000000001AAA", &[A.into(), C.into()], &current);
        assert_eq!(
            kinds(&ops),
            vec![
                OpKind::Delete {
                    id: "00K2".into(),
                    related: B.into()
                },
                OpKind::Create {
                    related: C.into(),
                    primary: false
                },
            ]
        );
        assert!(ops.iter().all(|o| o.key == 7));
        assert!(diff(7, "006000000000001AAA", &[B.into(), A.into()], &current).is_empty());
    }

    #[test]
    fn the_first_role_created_is_primary_when_the_opportunity_has_none() {
        let ops = diff(1, "006000000000001AAA", &[B.into(), A.into()], &[]);
        assert_eq!(
            kinds(&ops),
            vec![
                OpKind::Create {
                    related: B.into(),
                    primary: true
                },
                OpKind::Create {
                    related: A.into(),
                    primary: false
                },
            ]
        );
        // The primary leaves: the first new role takes its place.
        let current = [role("00K1", A, true), role("00K2", B, false)];
        let ops = diff(1, "006000000000001AAA", &[B.into(), C.into()], &current);
        assert_eq!(
            kinds(&ops),
            vec![
                OpKind::Delete {
                    id: "00K1".into(),
                    related: A.into()
                },
                OpKind::Create {
                    related: C.into(),
                    primary: true
                },
            ]
        );
        // Nothing to create: the first kept role becomes primary.
        let ops = diff(1, "006000000000001AAA", &[B.into()], &current);
        assert_eq!(
            kinds(&ops),
            vec![
                OpKind::Delete {
                    id: "00K1".into(),
                    related: A.into()
                },
                OpKind::Primary {
                    id: "00K2".into(),
                    related: B.into()
                },
            ]
        );
    }

    #[test]
    fn the_set_is_taken_out_of_the_record_write_and_a_set_alone_sends_no_record_update() {
        let mut outcomes = Outcomes::new();
        let write = |key, fields: Vec<(&str, Value)>| Write {
            key,
            object: ObjectType::SalesforceOpportunity,
            op: WriteOp::Update {
                id: "006000000000001AAA".into(),
                no_associations: false,
            },
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>(),
        };
        let (left, wanted) = take_children(
            vec![
                write(1, vec![("OpportunityContactRole", json!([A, A, B]))]),
                write(
                    2,
                    vec![
                        ("StageName", json!("Prospecting")),
                        ("OpportunityContactRole", json!(null)),
                    ],
                ),
                write(3, vec![("OpportunityContactRole", json!(["not an id"]))]),
                write(4, vec![("StageName", json!("Prospecting"))]),
            ],
            &mut outcomes,
        );
        assert_eq!(left.iter().map(|w| w.key).collect::<Vec<_>>(), vec![2, 4]);
        assert!(
            left.iter()
                .all(|w| !w.fields.contains_key("OpportunityContactRole"))
        );
        assert_eq!(
            wanted
                .iter()
                .map(|w| (w.key, w.desired.len()))
                .collect::<Vec<_>>(),
            vec![(1, 2), (2, 0)]
        );
        assert!(outcomes[&1].is_ok(), "the record part of write 1 is done");
        let refused = outcomes[&3].as_ref().unwrap_err();
        assert_eq!(refused.class(), ErrorClass::Permanent);
        assert!(
            refused
                .api()
                .message
                .contains("\"not an id\" is not a Salesforce record id")
        );
    }
}
