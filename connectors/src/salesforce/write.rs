//! Writing to Salesforce: sObject Collections packed into `/composite` calls, and each
//! record's result matched back to its write.
//!
//! Writes are grouped by what their collection does (create, upsert on an external-id
//! field, update, delete) and cut into collections of 200; up to five collections go in
//! one composite call, so 1,000 records cost ONE API call, and calls go out concurrently up
//! to `max_concurrency`. A collection answers one result per record, in the order sent
//! (Salesforce's contract), each tied back to its write's key.
//!
//! Plain creates are not idempotent: a composite holding one is sent at most once when its
//! answer may have been lost (see [`crate::http::Repeat`]). Records refused with a passing
//! error (`UNABLE_TO_LOCK_ROW`) are re-sent in up to three rounds; a refusal because the
//! record moved on (a converted lead) is [`ErrorClass::Superseded`].
//!
//! An Opportunity's contacts travel in the write as `OpportunityContactRole`; they are
//! taken out of the record write and written as contact roles once the record is
//! (`role_writes.rs`).

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::SalesforceConnector;
use super::calls::class_of_code;
use super::pull::{HEAVY_PER_COMPOSITE, sub_error};
use super::role_writes::take_children;
use super::soql::{FieldName, RecordId};
use super::wire::{RecordError, SaveResult, SubRequest, SubResponse};
use crate::contract::{ObjectType, UpsertKey, Write, WriteOp, WriteOutcome, Written};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::retry::Resends;

/// Records per sObject Collections request.
pub const COLLECTION_SIZE: usize = 200;

/// Each write's outcome so far, by key.
pub(super) type Outcomes = BTreeMap<i64, Result<Written, Error>>;
type Batch = (Kind, Vec<Write>);
/// One composite call's batches and what Salesforce answered.
type Answered = (Vec<Batch>, Result<Vec<SubResponse>, Error>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Create(ObjectType),
    Upsert(ObjectType, String),
    Update(ObjectType),
    Delete,
}

impl Kind {
    fn verb(&self) -> &'static str {
        match self {
            Kind::Create(_) => "create",
            Kind::Upsert(..) => "upsert",
            Kind::Update(_) => "update",
            Kind::Delete => "delete",
        }
    }
}

/// The external-id field a create upserts on. Salesforce has no upsert on email.
fn upsert_field(key: &UpsertKey) -> Result<&str, String> {
    match key {
        UpsertKey::Field { field, .. } => Ok(field),
        UpsertKey::Email(_) => {
            Err("Salesforce cannot upsert on email: configure an external-id field".into())
        }
    }
}

/// One record's refusal inside a collection answer, kept as data.
pub(super) fn record_error(errors: &[RecordError], action: &str) -> Error {
    let code = errors.first().map(|e| e.status_code.clone());
    let class = code
        .as_deref()
        .and_then(class_of_code)
        .filter(|c| matches!(c, ErrorClass::Transient | ErrorClass::Superseded))
        .unwrap_or(ErrorClass::Permanent);
    let mut fields: Vec<String> = Vec::new();
    for e in errors {
        for f in &e.fields {
            if !fields.contains(f) {
                fields.push(f.clone());
            }
        }
    }
    let message = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Error::new(
        class,
        action,
        ApiError {
            status: None,
            code,
            message,
            fields,
            retry_after: None,
        },
    )
}

fn write_body(write: &Write, upsert_field: Option<&str>) -> Value {
    let mut record = Map::new();
    record.insert("attributes".into(), json!({"type": write.object.as_str()}));
    for (k, v) in &write.fields {
        record.insert(k.clone(), v.clone());
    }
    match &write.op {
        WriteOp::Update { id, .. } => {
            record.insert("id".into(), Value::String(id.clone()));
        }
        WriteOp::Create {
            upsert_on: Some(key),
        } => {
            if let Some(f) = upsert_field {
                record.insert(f.to_string(), Value::String(key.value().to_string()));
            }
        }
        _ => {}
    }
    Value::Object(record)
}

fn refuse(outcomes: &mut Outcomes, write: &Write, action: String, message: String) {
    let err = Error::new(ErrorClass::Permanent, action, ApiError::message(message));
    outcomes.insert(write.key, Err(err));
}

impl SalesforceConnector {
    /// Applies writes; one outcome per write, in input order (see the module docs).
    pub(super) async fn apply_writes(
        &self,
        writes: Vec<Write>,
    ) -> Result<Vec<WriteOutcome>, Error> {
        let mut outcomes = Outcomes::new();
        let order: Vec<i64> = writes.iter().map(|w| w.key).collect();
        let (writes, children) = take_children(writes, &mut outcomes);
        let mut pending = writes;
        let mut first_failure: Option<Error> = None;
        let mut any_call_succeeded = false;
        let mut resends = Resends::new(self.inner.pipeline.policy());
        loop {
            let batches = self.plan_batches(std::mem::take(&mut pending), &mut outcomes);
            let calls: Vec<Vec<Batch>> = batches
                .chunks(HEAVY_PER_COMPOSITE)
                .map(<[Batch]>::to_vec)
                .collect();
            // Composite calls go out concurrently, bounded by `max_concurrency` (the
            // semaphore in `Limits` bounds them again, with everything else in flight).
            let answered: Vec<Answered> =
                futures::stream::iter(calls.into_iter().map(|call| async move {
                    let subs = self.collection_requests(&call);
                    let records: usize = call.iter().map(|(_, l)| l.len()).sum();
                    let action = format!("Salesforce write of {records} records");
                    // Plain creates are not idempotent: never repeat them blindly.
                    let once = call.iter().any(|(k, _)| matches!(k, Kind::Create(_)));
                    tracing::debug!(
                        collections = call.len(),
                        records,
                        "Salesforce composite write"
                    );
                    let result = self.composite(subs, &action, once).await;
                    (call, result)
                }))
                .buffered(self.inner.max_concurrency)
                .collect()
                .await;
            for (call, result) in answered {
                let answers = match result {
                    Ok(a) => {
                        any_call_succeeded = true;
                        a
                    }
                    Err(err) => {
                        for w in call.iter().flat_map(|(_, list)| list) {
                            outcomes.insert(w.key, Err(err.clone()));
                        }
                        first_failure.get_or_insert(err);
                        continue;
                    }
                };
                for ((kind, list), answer) in call.iter().zip(answers) {
                    collect_results(kind, list, &answer, &resends, &mut pending, &mut outcomes);
                }
            }
            if pending.is_empty() {
                break;
            }
            // Records refused with UNABLE_TO_LOCK_ROW: give the lock holder a moment.
            match resends.next_round() {
                Some(wait) => tokio::time::sleep(wait).await,
                None => break,
            }
        }
        // Nothing reached Salesforce at all: that is a failure of the whole call.
        if let (false, Some(err)) = (any_call_succeeded, first_failure) {
            return Err(err);
        }
        let mut refused = BTreeMap::new();
        if !children.is_empty() {
            self.write_children(children, &mut outcomes, &mut refused)
                .await;
        }
        Ok(order
            .into_iter()
            .filter_map(|key| {
                outcomes.remove(&key).map(|result| WriteOutcome {
                    key,
                    result,
                    refused: refused.remove(&key),
                })
            })
            .collect())
    }

    /// Groups writes by what their collection call does and cuts them into collections
    /// of at most 200; writes that cannot be sent get their outcome at once.
    fn plan_batches(&self, writes: Vec<Write>, outcomes: &mut Outcomes) -> Vec<Batch> {
        let mut groups: BTreeMap<Kind, Vec<Write>> = BTreeMap::new();
        for write in writes {
            if !self
                .inner
                .objects
                .iter()
                .any(|o| o.spec.object == write.object)
            {
                let action = format!("Salesforce write of a {}", write.object);
                let message = "this connector is not configured to write it".to_string();
                refuse(outcomes, &write, action, message);
                continue;
            }
            let kind = match &write.op {
                WriteOp::Create {
                    upsert_on: Some(key),
                } => match upsert_field(key).and_then(FieldName::new) {
                    Ok(f) => Kind::Upsert(write.object, f.as_str().to_string()),
                    Err(m) => {
                        refuse(
                            outcomes,
                            &write,
                            format!("Salesforce upsert of {}", write.object),
                            m,
                        );
                        continue;
                    }
                },
                WriteOp::Create { upsert_on: None } => Kind::Create(write.object),
                WriteOp::Update { id, .. } | WriteOp::Delete { id }
                    if RecordId::new(id).is_err() =>
                {
                    let action = format!("Salesforce write of {} {id}", write.object);
                    refuse(
                        outcomes,
                        &write,
                        action,
                        format!("{id:?} is not a Salesforce record id"),
                    );
                    continue;
                }
                WriteOp::Update { .. } => Kind::Update(write.object),
                WriteOp::Delete { .. } => Kind::Delete,
            };
            groups.entry(kind).or_default().push(write);
        }
        let mut batches = Vec::new();
        for (kind, list) in groups {
            for chunk in list.chunks(COLLECTION_SIZE) {
                batches.push((kind.clone(), chunk.to_vec()));
            }
        }
        batches
    }

    /// The sObject Collections subrequests of one composite call.
    fn collection_requests(&self, call: &[Batch]) -> Vec<SubRequest> {
        let collections = self.data_path("composite/sobjects");
        call.iter()
            .enumerate()
            .map(|(i, (kind, list))| {
                let reference_id = format!("c{i}");
                let records = |field: Option<&str>| {
                    let records: Vec<Value> = list.iter().map(|w| write_body(w, field)).collect();
                    json!({"allOrNone": false, "records": records})
                };
                let (method, url, body) = match kind {
                    Kind::Delete => {
                        let ids: Vec<&str> = list
                            .iter()
                            .filter_map(|w| match &w.op {
                                WriteOp::Delete { id } => Some(id.as_str()),
                                _ => None,
                            })
                            .collect();
                        let url = format!("{collections}?ids={}&allOrNone=false", ids.join(","));
                        ("DELETE", url, None)
                    }
                    Kind::Upsert(object, f) => {
                        let url = format!("{collections}/{}/{f}", object.as_str());
                        ("PATCH", url, Some(records(Some(f))))
                    }
                    Kind::Create(_) => ("POST", collections.clone(), Some(records(None))),
                    Kind::Update(_) => ("PATCH", collections.clone(), Some(records(None))),
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

/// Turns one collection's answer into outcomes; transient refusals go back to `pending`
/// while rounds remain.
fn collect_results(
    kind: &Kind,
    list: &[Write],
    answer: &SubResponse,
    resends: &Resends,
    pending: &mut Vec<Write>,
    outcomes: &mut Outcomes,
) {
    let verb = kind.verb();
    let results: Option<Vec<SaveResult>> = (answer.http_status_code < 300)
        .then(|| serde_json::from_value(answer.body.clone()).ok())
        .flatten()
        .filter(|r: &Vec<SaveResult>| r.len() == list.len());
    let Some(results) = results else {
        let action = format!("Salesforce {verb} of {} records", list.len());
        let err = sub_error(answer, &action);
        for w in list {
            if resends.again(&err) {
                pending.push(w.clone());
            } else {
                outcomes.insert(w.key, Err(err.clone()));
            }
        }
        return;
    };
    // One result per record, in the order sent: each is its write's.
    for (w, result) in list.iter().zip(results) {
        if result.success {
            let known = match &w.op {
                WriteOp::Update { id, .. } | WriteOp::Delete { id } => Some(id.clone()),
                WriteOp::Create { .. } => None,
            };
            let Some(id) = result.id.clone().filter(|id| !id.is_empty()).or(known) else {
                let action = format!("Salesforce {verb} of a {}", w.object);
                let api = ApiError::message("Salesforce answered success without the record's id");
                outcomes.insert(w.key, Err(Error::new(ErrorClass::Transient, action, api)));
                continue;
            };
            let created = match kind {
                Kind::Create(_) => true,
                Kind::Upsert(..) => result.created.unwrap_or(false),
                _ => false,
            };
            outcomes.insert(w.key, Ok(Written { id, created }));
            continue;
        }
        let target = match &w.op {
            WriteOp::Update { id, .. } | WriteOp::Delete { id } => format!("{} {id}", w.object),
            WriteOp::Create { upsert_on: Some(k) } => {
                let field = upsert_field(k).unwrap_or("Email");
                format!("{} {field}={}", w.object, k.value())
            }
            WriteOp::Create { upsert_on: None } => w.object.to_string(),
        };
        let err = record_error(&result.errors, &format!("Salesforce {verb} of {target}"));
        if resends.again(&err) {
            pending.push(w.clone());
        } else {
            outcomes.insert(w.key, Err(err));
        }
    }
}
