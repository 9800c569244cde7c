//! Writing to HubSpot: batches of creates, upserts, updates and archives, and matching
//! every answer back to the write it belongs to.
//!
//! Creates with a key are `batch/upsert` on it (on `email` for people: idempotent), plain
//! creates `batch/create` (never repeated blindly, see [`crate::http::Repeat`]), updates
//! `batch/update`, deletes `batch/archive`, 100 per call. Every input carries
//! `objectWriteTraceId` = the write's key, and results and `errors[]` of a 207 are matched
//! back by trace id, then id, email or upsert value, never by position. A whole batch that
//! HubSpot refuses for good (a 400 or 409 naming one bad input) is split in halves until
//! the bad records stand alone, so one invalid email costs a few calls, not the other 99
//! writes. Creates upsert on any unique property ([`UpsertKey::Field`]: a company's or a
//! deal's `salesforce_*_id`), as contacts upsert on `email`.
//!
//! A 2026-09 write-validation refusal (400 `VALIDATION_ERROR` with
//! `MISSING_REQUIRED_PROPERTY` or `MISSING_CONDITIONAL_REQUIRED_PROPERTY`, per input in a
//! batch) is a [`ErrorClass::Permanent`] error of that write with HubSpot's message and the
//! property named: never retried; the engine quarantines it.
//!
//! Association fields (`@company`, `@contacts`) are not properties: `linking.rs` takes
//! them out of each write, hands a create's to `batch/create` with the record, and sets
//! the others once the record step succeeded; their failure is that write's error.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::Value;

use super::HubSpotConnector;
use super::calls::{api_of_standard, class_of_category};
use super::limits::CallKind;
use super::linking::{Relink, first_errors, on_create, take_links};
use super::objects::Configured;
use super::pull::BATCH;
use super::wire::associations::AssociationOnCreate;
use super::wire::{BatchInputs, BatchResponse, BatchWriteInput, IdInput};
use crate::contract::{UpsertKey, Write, WriteOp, WriteOutcome, Written};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::Call;

/// Batch calls of one `apply` in flight at once. One at a time, a call's round trip is
/// time the 10-second window goes unused (a burst the window allows after a pause is
/// spent at one call per round trip, and a slow link caps the rate below the limit); the
/// limiter, not this, bounds the rate. Ten: the engine's round of 1,000 writes is ten
/// calls, which then leave together when the window has room (four at a time spread each
/// window's 190 calls over 4–6 s, and every window after it kept that spread). The engine
/// never has two writes on one record in one `apply`, so their order does not matter.
const WRITES_IN_FLIGHT: usize = 10;

/// The write kinds, each with its batch endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Upsert,
    Create,
    Update,
    Archive,
}

impl Kind {
    fn of(write: &Write) -> Kind {
        match &write.op {
            WriteOp::Create { upsert_on: Some(_) } => Kind::Upsert,
            WriteOp::Create { upsert_on: None } => Kind::Create,
            WriteOp::Update { .. } => Kind::Update,
            WriteOp::Delete { .. } => Kind::Archive,
        }
    }

    fn endpoint(self) -> &'static str {
        match self {
            Kind::Upsert => "/batch/upsert",
            Kind::Create => "/batch/create",
            Kind::Update => "/batch/update",
            Kind::Archive => "/batch/archive",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Kind::Upsert => "upsert",
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Archive => "archive",
        }
    }
}

/// A field value as HubSpot takes it: a string, `""` to clear.
fn wire_value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl HubSpotConnector {
    /// Applies writes in batches; one outcome per write, in input order.
    pub(super) async fn apply_writes(
        &self,
        writes: Vec<Write>,
    ) -> Result<Vec<WriteOutcome>, Error> {
        let order: Vec<i64> = writes.iter().map(|w| w.key).collect();
        let mut by_key: HashMap<i64, WriteOutcome> = HashMap::new();
        let mut groups: BTreeMap<(usize, Kind), Vec<Write>> = BTreeMap::new();
        // A create's associations travel with it; the others wait for their record.
        let mut inline: HashMap<i64, Vec<AssociationOnCreate>> = HashMap::new();
        let mut later: Vec<Relink> = Vec::new();
        let outcome = WriteOutcome::whole;
        for mut write in writes {
            let Some(i) = self
                .objects
                .iter()
                .position(|o| o.spec.object == write.object)
            else {
                let err = Error::new(
                    ErrorClass::Fatal,
                    format!("HubSpot write of a {}", write.object),
                    ApiError::message("this connector is not configured to write it"),
                );
                by_key.insert(write.key, outcome(write.key, Err(err)));
                continue;
            };
            let spec = self.objects[i].spec;
            let links = match take_links(spec, &mut write) {
                Ok(links) => links,
                Err(err) => {
                    by_key.insert(write.key, outcome(write.key, Err(err)));
                    continue;
                }
            };
            let kind = Kind::of(&write);
            match kind {
                Kind::Create => {
                    inline.insert(write.key, on_create(&links));
                }
                Kind::Upsert | Kind::Update if !links.is_empty() => {
                    // The id and whether it is new come from the record step.
                    later.push(Relink {
                        key: write.key,
                        spec,
                        id: String::new(),
                        created: matches!(
                            write.op,
                            WriteOp::Update {
                                no_associations: true,
                                ..
                            }
                        ),
                        links,
                    });
                    // Only associations change: no record call, the record is as it was.
                    if let WriteOp::Update { id, .. } = &write.op
                        && write.fields.is_empty()
                    {
                        let written = Written {
                            id: id.clone(),
                            created: false,
                        };
                        by_key.insert(write.key, outcome(write.key, Ok(written)));
                        continue;
                    }
                }
                // An archived record loses its associations with it.
                _ => {}
            }
            groups.entry((i, kind)).or_default().push(write);
        }
        let calls: Vec<BoxFuture<'_, Result<Vec<WriteOutcome>, Error>>> = groups
            .iter()
            .flat_map(|((i, kind), group)| {
                group
                    .chunks(BATCH)
                    .map(|chunk| self.apply_chunk(&self.objects[*i], *kind, chunk, &inline))
            })
            .collect();
        let answered: Vec<Result<Vec<WriteOutcome>, Error>> = futures::stream::iter(calls)
            .buffered(WRITES_IN_FLIGHT)
            .collect()
            .await;
        for outcomes in answered {
            for outcome in outcomes? {
                by_key.insert(outcome.key, outcome);
            }
        }
        // Associations of the records that now exist, batched across every write.
        let relinks: Vec<Relink> = later
            .into_iter()
            .filter_map(|mut relink| {
                let written = by_key.get(&relink.key)?.result.as_ref().ok()?;
                relink.id = written.id.clone();
                relink.created |= written.created;
                Some(relink)
            })
            .collect();
        let failed = first_errors(self.relink(&relinks).await?);
        for (key, err) in failed {
            by_key.insert(key, outcome(key, Err(err)));
        }
        Ok(order
            .into_iter()
            .filter_map(|key| by_key.remove(&key))
            .collect())
    }

    /// Applies one chunk of same-kind writes; a whole-batch permanent refusal is split.
    fn apply_chunk<'a>(
        &'a self,
        object: &'a Configured,
        kind: Kind,
        writes: &'a [Write],
        inline: &'a HashMap<i64, Vec<AssociationOnCreate>>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, Error>> {
        Box::pin(async move {
            let action = format!(
                "HubSpot batch {} of {} {}",
                kind.verb(),
                writes.len(),
                object.spec.object
            );
            let path = self.paths.objects(object.spec.path, kind.endpoint());
            let call = if kind == Kind::Archive {
                let inputs = BatchInputs {
                    inputs: writes
                        .iter()
                        .filter_map(|w| match &w.op {
                            WriteOp::Delete { id } => Some(IdInput { id: id.clone() }),
                            _ => None,
                        })
                        .collect(),
                };
                Call::json(CallKind::Standard, Method::POST, path, &inputs, action)?
            } else {
                let inputs = BatchInputs {
                    inputs: writes
                        .iter()
                        .map(|w| input_of(object, kind, w, inline.get(&w.key)))
                        .collect(),
                };
                Call::json(CallKind::Standard, Method::POST, path, &inputs, action)?
            };
            // A plain create sent twice makes two records.
            let call = if kind == Kind::Create {
                call.at_most_once()
            } else {
                call
            };
            match self.pipeline.send::<Option<BatchResponse>>(call).await {
                Ok(answer) => Ok(match_outcomes(
                    object,
                    kind,
                    writes,
                    answer.unwrap_or_default(),
                )),
                Err(err) if err.class() == ErrorClass::Permanent && writes.len() > 1 => {
                    let (left, right) = writes.split_at(writes.len() / 2);
                    let mut outcomes = self.apply_chunk(object, kind, left, inline).await?;
                    outcomes.extend(self.apply_chunk(object, kind, right, inline).await?);
                    Ok(outcomes)
                }
                Err(err) if err.class() == ErrorClass::Fatal => Err(err),
                // Transient, rate-limited (after retries) or one refused record: every write of
                // the chunk gets the error; the engine retries or quarantines each.
                Err(err) => Ok(writes
                    .iter()
                    .map(|w| WriteOutcome::whole(w.key, Err(err.clone())))
                    .collect()),
            }
        })
    }
}

fn input_of(
    object: &Configured,
    kind: Kind,
    write: &Write,
    associations: Option<&Vec<AssociationOnCreate>>,
) -> BatchWriteInput {
    let mut properties: BTreeMap<String, String> = write
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), wire_value(v)))
        .collect();
    let (id, id_property) = match &write.op {
        WriteOp::Create {
            upsert_on: Some(UpsertKey::Email(email)),
        } => {
            let field = object.spec.email.unwrap_or("email");
            properties
                .entry(field.to_string())
                .or_insert_with(|| email.clone());
            (Some(email.clone()), Some(field.to_string()))
        }
        WriteOp::Create {
            upsert_on: Some(UpsertKey::Field { field, value }),
        } => (Some(value.clone()), Some(field.clone())),
        WriteOp::Update { id, .. } | WriteOp::Delete { id } => (Some(id.clone()), None),
        WriteOp::Create { upsert_on: None } => (None, None),
    };
    BatchWriteInput {
        id,
        id_property,
        properties: if kind == Kind::Archive {
            BTreeMap::new()
        } else {
            properties
        },
        object_write_trace_id: Some(write.key.to_string()),
        associations: associations
            .filter(|_| kind == Kind::Create)
            .cloned()
            .unwrap_or_default(),
    }
}

/// Pairs each write with its result or error, by trace id, then id or email.
fn match_outcomes(
    object: &Configured,
    kind: Kind,
    writes: &[Write],
    answer: BatchResponse,
) -> Vec<WriteOutcome> {
    let one = format!(
        "HubSpot batch {} of one {} record",
        kind.verb(),
        object.spec.object
    );
    if kind == Kind::Archive {
        return writes
            .iter()
            .map(|w| WriteOutcome {
                key: w.key,
                result: match &w.op {
                    WriteOp::Delete { id } => Ok(Written {
                        id: id.clone(),
                        created: false,
                    }),
                    _ => Err(Error::new(
                        ErrorClass::Permanent,
                        &one,
                        ApiError::message("not a delete"),
                    )),
                },
                refused: None,
            })
            .collect();
    }
    let email_field = object.spec.email.unwrap_or("email");
    let by_trace: HashMap<String, usize> = writes
        .iter()
        .enumerate()
        .map(|(i, w)| (w.key.to_string(), i))
        .collect();
    let by_id: HashMap<String, usize> = writes
        .iter()
        .enumerate()
        .filter_map(|(i, w)| match &w.op {
            WriteOp::Update { id, .. } => Some((id.clone(), i)),
            WriteOp::Create {
                upsert_on: Some(key),
            } => Some((key.value().to_lowercase(), i)),
            _ => None,
        })
        .collect();
    let by_email: HashMap<String, usize> = writes
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            w.fields
                .get(email_field)
                .and_then(Value::as_str)
                .or(match &w.op {
                    WriteOp::Create {
                        upsert_on: Some(UpsertKey::Email(email)),
                    } => Some(email.as_str()),
                    _ => None,
                })
                .map(|e| (e.to_lowercase(), i))
        })
        .collect();
    let mut upsert_fields: Vec<&str> = writes
        .iter()
        .filter_map(|w| match &w.op {
            WriteOp::Create {
                upsert_on: Some(UpsertKey::Field { field, .. }),
            } => Some(field.as_str()),
            _ => None,
        })
        .collect();
    upsert_fields.sort_unstable();
    upsert_fields.dedup();
    let mut results: Vec<Option<Result<Written, Error>>> = vec![None; writes.len()];
    for result in answer.results {
        let slot = result
            .object_write_trace_id
            .as_ref()
            .and_then(|t| by_trace.get(t))
            .or_else(|| by_id.get(&result.id))
            .or_else(|| {
                // An upsert on a unique property: its value in the answer.
                upsert_fields.iter().find_map(|field| {
                    let value = result.properties.get(*field)?.as_deref()?;
                    by_id.get(&value.to_lowercase())
                })
            })
            .or_else(|| {
                result
                    .properties
                    .get(email_field)
                    .and_then(|e| e.as_deref())
                    .and_then(|e| {
                        by_id
                            .get(&e.to_lowercase())
                            .or_else(|| by_email.get(&e.to_lowercase()))
                    })
            })
            .copied();
        if let Some(i) = slot {
            let created = match kind {
                Kind::Upsert => result.new.unwrap_or(false),
                Kind::Create => true,
                _ => false,
            };
            results[i] = Some(Ok(Written {
                id: result.id,
                created,
            }));
        }
    }
    for error in &answer.errors {
        let class = class_of_category(&error.category);
        let api = api_of_standard(error);
        let mut slots: Vec<usize> = error
            .context
            .get("objectWriteTraceId")
            .into_iter()
            .flatten()
            .filter_map(|t| by_trace.get(t).copied())
            .collect();
        if slots.is_empty() {
            slots = error
                .context
                .get("ids")
                .into_iter()
                .flatten()
                .filter_map(|id| {
                    by_id
                        .get(id)
                        .or_else(|| by_id.get(&id.to_lowercase()))
                        .copied()
                })
                .collect();
        }
        for i in slots {
            if results[i].is_none() {
                results[i] = Some(Err(Error::new(class, &one, api.clone())));
            }
        }
    }
    writes
        .iter()
        .zip(results)
        .map(|(w, result)| WriteOutcome {
            key: w.key,
            result: result.unwrap_or_else(|| {
                Err(Error::new(
                    ErrorClass::Transient,
                    &one,
                    ApiError::message(
                        "HubSpot's answer named neither a result nor an error for this record",
                    ),
                ))
            }),
            refused: None,
        })
        .collect()
}
