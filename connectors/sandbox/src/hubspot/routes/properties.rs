//! The properties API of every object type: list, get one, create (custom properties,
//! including `hasUniqueValue` ones that become upsert keys), `batch/read` and
//! `batch/create`, under `/crm/v3/properties/{type}` and `/crm/properties/{version}/{type}`.
//!
//! Property groups, updates and archiving are not served: truce reads definitions and
//! creates its id properties, nothing more.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};

use super::{At, Params, Shared, body, unknown_type};
use crate::hubspot::Inner;
use crate::hubspot::errors;
use crate::hubspot::objects::{ApiVersion, ObjectType};
use crate::hubspot::schema::iso;
use crate::hubspot::wire::{
    BatchInputs, PropertiesResponse, Property, PropertyBatchRead, PropertyBatchResponse,
    StandardError,
};

/// Adds the properties routes of every object type under `version`.
pub(super) fn routes(mut router: Router<Arc<Inner>>, version: ApiVersion) -> Router<Arc<Inner>> {
    let base = version.base("properties");
    for object in ObjectType::ALL {
        for alias in object.aliases() {
            let at = Extension(At { version, object });
            let path = format!("{base}/{alias}");
            router = router
                .route(&path, get(list).post(create).layer(at))
                .route(&format!("{path}/batch/read"), post(batch_read).layer(at))
                .route(
                    &format!("{path}/batch/create"),
                    post(batch_create).layer(at),
                )
                .route(&format!("{path}/{{name}}"), get(one).layer(at));
        }
    }
    router.route(
        &format!("{base}/{{object}}"),
        any(|Path(object): Path<String>| async move { unknown_type(&object) }),
    )
}

async fn list(
    State(inner): Shared,
    Extension(at): Extension<At>,
    RawQuery(raw): RawQuery,
) -> Response {
    // No property is ever archived here, so `archived=true` lists none.
    let archived = Params::parse(raw).flag("archived");
    let portal = inner.portal();
    let results = if archived {
        Vec::new()
    } else {
        portal.records(at.object).schema.all().cloned().collect()
    };
    Json(PropertiesResponse { results }).into_response()
}

async fn one(
    State(inner): Shared,
    Extension(at): Extension<At>,
    Path(name): Path<String>,
) -> Response {
    let portal = inner.portal();
    match portal.records(at.object).schema.get(&name) {
        Some(p) => Json(p.clone()).into_response(),
        None => errors::not_found(),
    }
}

/// Adds one property; the refusal as a response.
fn add(inner: &Inner, object: ObjectType, property: Property) -> Result<Property, Response> {
    let name = property.name.clone();
    inner
        .portal()
        .records_mut(object)
        .schema
        .add(property)
        .map_err(|refusal| match refusal {
            None => errors::property_exists(&name),
            Some(message) => errors::bad_request(message),
        })
}

async fn create(State(inner): Shared, Extension(at): Extension<At>, bytes: Bytes) -> Response {
    let property: Property = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match add(&inner, at.object, property) {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(refusal) => refusal,
    }
}

fn batch_answer(
    ok: StatusCode,
    results: Vec<Property>,
    errors: Vec<StandardError>,
    started: String,
    completed: String,
) -> Response {
    let status = if errors.is_empty() {
        ok
    } else {
        StatusCode::MULTI_STATUS
    };
    let body = PropertyBatchResponse {
        status: "COMPLETE".into(),
        results,
        num_errors: (!errors.is_empty()).then_some(errors.len() as u32),
        errors,
        started_at: started,
        completed_at: completed,
        links: BTreeMap::new(),
    };
    (status, Json(body)).into_response()
}

async fn batch_read(State(inner): Shared, Extension(at): Extension<At>, bytes: Bytes) -> Response {
    let request: PropertyBatchRead = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let started = iso(inner.now_ms());
    let portal = inner.portal();
    let schema = &portal.records(at.object).schema;
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in &request.inputs {
        match schema.get(&input.name).filter(|_| !request.archived) {
            Some(p) => results.push(p.clone()),
            None => missing.push(input.name.clone()),
        }
    }
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        vec![StandardError {
            status: "error".into(),
            category: "OBJECT_NOT_FOUND".into(),
            message: format!("Could not find some properties: {}", missing.join(", ")),
            context: BTreeMap::from([("names".to_string(), missing)]),
            ..StandardError::default()
        }]
    };
    batch_answer(
        StatusCode::OK,
        results,
        errors,
        started,
        iso(inner.now_ms()),
    )
}

async fn batch_create(
    State(inner): Shared,
    Extension(at): Extension<At>,
    bytes: Bytes,
) -> Response {
    let request: BatchInputs<Property> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let started = iso(inner.now_ms());
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for property in request.inputs {
        let name = property.name.clone();
        match add(&inner, at.object, property) {
            Ok(created) => results.push(created),
            Err(_) => errors.push(StandardError {
                status: "error".into(),
                category: "VALIDATION_ERROR".into(),
                message: format!("Property {name} could not be created"),
                context: BTreeMap::from([("name".to_string(), vec![name])]),
                ..StandardError::default()
            }),
        }
    }
    // 201 (207 with errors) on legacy and 2026-03; the 2026-09 spec answers 200 with the
    // errors in the body.
    let mut response = batch_answer(
        StatusCode::CREATED,
        results,
        errors,
        started,
        iso(inner.now_ms()),
    );
    if at.version.folds_batch_errors() {
        *response.status_mut() = StatusCode::OK;
    }
    response
}
