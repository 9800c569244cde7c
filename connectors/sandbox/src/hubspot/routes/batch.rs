//! The batch endpoints of every object type: `batch/read`, `create`, `update`, `upsert`
//! and `archive`, at most 100 inputs each.
//!
//! Partial failures answer 207 with `errors[]` naming the inputs (by id, trace id). A batch
//! create is all or nothing unless every input carries its own `objectWriteTraceId`
//! (HubSpot's rule for multi-status); updates and upserts are per input unless the sandbox
//! runs with `atomic_batches`. The 2026-09 spec has no 207 (its 200/201 bodies carry
//! `errors`); what production answers is not known, so the sandbox answers 207 there too,
//! which a client accepting both handles.

use std::collections::{BTreeMap, HashSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::objects::{find, written};
use super::{At, Params, Shared, body};
use crate::hubspot::errors::{self, WriteError};
use crate::hubspot::objects::ObjectType;
use crate::hubspot::portal::{Enforce, Portal};
use crate::hubspot::schema::iso;
use crate::hubspot::wire::{
    BatchInputs, BatchReadRequest, BatchResponse, BatchWriteInput, IdInput, SimplePublicObject,
    StandardError,
};

const MAX_BATCH: usize = 100;

fn answer(
    ok_status: StatusCode,
    results: Vec<SimplePublicObject>,
    errors: Vec<StandardError>,
    started: String,
    completed: String,
) -> Response {
    let status = if errors.is_empty() {
        ok_status
    } else {
        StatusCode::MULTI_STATUS
    };
    let body = BatchResponse {
        status: "COMPLETE".into(),
        results,
        num_errors: (!errors.is_empty()).then_some(errors.len() as u32),
        errors,
        requested_at: None,
        started_at: started,
        completed_at: completed,
        links: BTreeMap::new(),
    };
    (status, Json(body)).into_response()
}

fn too_many(n: usize) -> Option<Response> {
    (n > MAX_BATCH).then(|| {
        errors::bad_request(format!(
            "Batch input limit exceeded: {n} inputs were sent, the limit is {MAX_BATCH}"
        ))
    })
}

pub(super) async fn read(
    State(inner): Shared,
    Extension(at): Extension<At>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Response {
    let params = Params::parse(raw);
    let request: BatchReadRequest = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len()) {
        return refusal;
    }
    let started = iso(inner.now_ms());
    let portal = inner.portal();
    let records = portal.records(at.object);
    let asked = (!request.properties.is_empty()).then_some(request.properties.as_slice());
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in &request.inputs {
        match find(
            records,
            &input.id,
            request.id_property.as_deref(),
            params.flag("archived"),
        ) {
            Ok(Some(c)) => results.push(super::render(&portal, at.object, c, asked, &[])),
            Ok(None) => missing.push(input.id.clone()),
            Err(refusal) => return refusal,
        }
    }
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        let mut e = WriteError::NotFound(String::new()).standard(at.object, None, None);
        e.context.insert("ids".into(), missing);
        vec![e]
    };
    answer(
        StatusCode::OK,
        results,
        errors,
        started,
        iso(inner.now_ms()),
    )
}

/// In all-or-nothing mode: the first input of a batch create the portal would refuse, or
/// two inputs sharing a unique value.
fn refuse_creates(portal: &Portal, at: At, inputs: &[BatchWriteInput]) -> Option<Response> {
    let records = portal.records(at.object);
    let mut seen = HashSet::new();
    for input in inputs {
        if let Err(e) = portal.check_create(
            at.object,
            &input.properties,
            &input.associations,
            at.enforce(),
        ) {
            return Some(e.into_response());
        }
        for (name, value) in &input.properties {
            let key = if name == "email" {
                value.to_lowercase()
            } else {
                value.clone()
            };
            if !value.is_empty() && records.is_unique(name) && !seen.insert((name.clone(), key)) {
                return Some(errors::bad_request(format!(
                    "Duplicate {name} {value} in the batch"
                )));
            }
        }
    }
    None
}

pub(super) async fn create(
    State(inner): Shared,
    Extension(at): Extension<At>,
    bytes: Bytes,
) -> Response {
    let request: BatchInputs<BatchWriteInput> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len()) {
        return refusal;
    }
    // Multi-status is on only when every input carries its own trace id (HubSpot's rule);
    // otherwise the batch is all or nothing.
    let mut traces: Vec<&str> = request
        .inputs
        .iter()
        .filter_map(|i| i.object_write_trace_id.as_deref())
        .collect();
    traces.sort_unstable();
    traces.dedup();
    let multi_status = traces.len() == request.inputs.len();
    let now = inner.now_ms();
    let started = iso(now);
    let mut portal = inner.portal();
    if !multi_status && let Some(refusal) = refuse_creates(&portal, at, &request.inputs) {
        return refusal;
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &request.inputs {
        let trace = input.object_write_trace_id.as_deref();
        match portal.create(
            at.object,
            &input.properties,
            &input.associations,
            at.enforce(),
            now,
        ) {
            Ok(c) => {
                let mut object = written(&portal, at.object, &c);
                object.object_write_trace_id = trace.map(String::from);
                results.push(object);
            }
            Err(e) => errors.push(e.standard(at.object, None, trace)),
        }
    }
    answer(
        StatusCode::CREATED,
        results,
        errors,
        started,
        iso(inner.now_ms()),
    )
}

/// The record an update or upsert input names; `Err` is a refusal of the whole batch.
fn target(
    portal: &Portal,
    object: ObjectType,
    input: &BatchWriteInput,
    upsert: bool,
) -> Result<Option<u64>, Response> {
    let id = input.id.clone().unwrap_or_default();
    let id_property =
        input
            .id_property
            .as_deref()
            .or(if upsert { Some("hs_object_id") } else { None });
    Ok(find(portal.records(object), &id, id_property, false)?.map(|c| c.id))
}

/// The values an upsert creates a missing record with: its unique key included.
fn upsert_values(input: &BatchWriteInput) -> Option<BTreeMap<String, String>> {
    let property = input.id_property.as_deref()?;
    if property == "hs_object_id" {
        return None;
    }
    let mut props = input.properties.clone();
    props
        .entry(property.to_string())
        .or_insert_with(|| input.id.clone().unwrap_or_default());
    Some(props)
}

/// In all-or-nothing mode: the first input a batch update or upsert would refuse, as the
/// answer for the whole batch.
fn refuse_whole_batch(
    portal: &Portal,
    object: ObjectType,
    inputs: &[BatchWriteInput],
    upsert: bool,
    enforce: Enforce,
) -> Option<Response> {
    for input in inputs {
        let check = match target(portal, object, input, upsert) {
            Err(refusal) => return Some(refusal),
            Ok(Some(existing)) => portal.check_update(object, existing, &input.properties, enforce),
            Ok(None) if upsert => match upsert_values(input) {
                Some(props) => portal.check_create(object, &props, &[], enforce),
                None => Ok(()),
            },
            Ok(None) => Ok(()),
        };
        if let Err(refusal) = check {
            return Some(refusal.into_response());
        }
    }
    None
}

fn write_each(inner: &crate::hubspot::Inner, at: At, bytes: &Bytes, upsert: bool) -> Response {
    let request: BatchInputs<BatchWriteInput> = match body(bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len()) {
        return refusal;
    }
    let now = inner.now_ms();
    let started = iso(now);
    let mut portal = inner.portal();
    if inner.options.atomic_batches
        && let Some(refusal) =
            refuse_whole_batch(&portal, at.object, &request.inputs, upsert, at.enforce())
    {
        return refusal;
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &request.inputs {
        let id = input.id.clone().unwrap_or_default();
        let trace = input.object_write_trace_id.as_deref();
        let outcome = match target(&portal, at.object, input, upsert) {
            Err(refusal) => return refusal,
            Ok(Some(existing)) => portal
                .update(at.object, existing, &input.properties, at.enforce(), now)
                .map(|c| (c, false)),
            Ok(None) => match upsert.then(|| upsert_values(input)).flatten() {
                // Associations are not accepted on upsert, so none are made.
                Some(props) => portal
                    .create(at.object, &props, &[], at.enforce(), now)
                    .map(|c| (c, true)),
                None => Err(WriteError::NotFound(id.clone())),
            },
        };
        match outcome {
            Ok((c, new)) => {
                let mut object = written(&portal, at.object, &c);
                object.new = upsert.then_some(new);
                object.object_write_trace_id = trace.map(String::from);
                results.push(object);
            }
            Err(e) => errors.push(e.standard(at.object, Some(&id), trace)),
        }
    }
    answer(
        StatusCode::OK,
        results,
        errors,
        started,
        iso(inner.now_ms()),
    )
}

pub(super) async fn update(
    State(inner): Shared,
    Extension(at): Extension<At>,
    bytes: Bytes,
) -> Response {
    write_each(&inner, at, &bytes, false)
}

pub(super) async fn upsert(
    State(inner): Shared,
    Extension(at): Extension<At>,
    bytes: Bytes,
) -> Response {
    write_each(&inner, at, &bytes, true)
}

pub(super) async fn archive(
    State(inner): Shared,
    Extension(at): Extension<At>,
    bytes: Bytes,
) -> Response {
    let request: BatchInputs<IdInput> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len()) {
        return refusal;
    }
    let now = inner.now_ms();
    let mut portal = inner.portal();
    for input in &request.inputs {
        if let Ok(n) = input.id.parse::<u64>() {
            portal.archive(at.object, n, now);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}
