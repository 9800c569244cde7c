//! The associations API (v4, and the date versions' copy of it): the associations of one
//! record, associating two records with types or by default, removing a pair, and the
//! batch calls (`read`, `create`, `archive`, `labels/archive`, `associate/default`).
//!
//! Differences by family, as HubSpot's specs give them: `batch/archive` and
//! `batch/labels/archive` answer 204 on v4 and 200 with a `BatchResponseVoid` under date
//! versions; `batch/create` answers 201 (207 with errors) on v4 and 2026-03, 200 with the
//! errors folded in on 2026-09. Nothing here touches a record's last-modified date.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use super::{At, Params, Shared, body, unknown_type};
use crate::hubspot::Inner;
use crate::hubspot::associations::{
    self as kinds, AssociationKind, Endpoint, HUBSPOT_DEFINED, PRIMARY_LABEL,
};
use crate::hubspot::errors::{self, WriteError};
use crate::hubspot::objects::{ApiVersion, ObjectType};
use crate::hubspot::portal::{Portal, invalid_type};
use crate::hubspot::schema::iso;
use crate::hubspot::wire::associations::{
    AssociationBatchResponse, AssociationPage, AssociationSpec, AssociationSpecWithLabel,
    DefaultPost, FetchInput, Inputs, LabelsBetweenObjectPair, MultiArchive,
    MultiAssociatedObjectWithLabel, MultiPost, PublicAssociationMultiWithLabel,
    PublicDefaultAssociation, PublicObjectId,
};
use crate::hubspot::wire::{NextPage, Paging, StandardError};

/// Most associated records per page of one record's associations (the default too).
const MAX_PAGE: usize = 500;
/// Most ids per batch read (HubSpot's limit since 2025-02-10).
const MAX_READ: usize = 1_000;
/// Most inputs per batch write. HubSpot's number is not documented; 2,000 is the one
/// integrators cite.
const MAX_WRITE: usize = 2_000;

/// Adds the association routes under `version`.
pub(super) fn routes(mut router: Router<Arc<Inner>>, version: ApiVersion) -> Router<Arc<Inner>> {
    let records = version.record_associations_base();
    for object in ObjectType::ALL {
        for alias in object.aliases() {
            let at = Extension(At { version, object });
            let path = format!("{records}/{alias}/{{id}}/associations");
            router = router
                .route(&format!("{path}/{{to}}"), get(page).layer(at))
                .route(
                    &format!("{path}/{{to}}/{{to_id}}"),
                    put(put_labels).delete(remove_pair).layer(at),
                )
                .route(
                    &format!("{path}/default/{{to}}/{{to_id}}"),
                    put(put_default).layer(at),
                );
        }
    }
    let batch = format!("{}/{{from}}/{{to}}/batch", version.base("associations"));
    let family = Extension(version);
    router
        .route(&format!("{batch}/read"), post(batch_read).layer(family))
        .route(&format!("{batch}/create"), post(batch_create).layer(family))
        .route(
            &format!("{batch}/archive"),
            post(batch_archive).layer(family),
        )
        .route(
            &format!("{batch}/labels/archive"),
            post(batch_archive_labels).layer(family),
        )
        .route(
            &format!("{batch}/associate/default"),
            post(batch_default).layer(family),
        )
}

fn parse_type(name: &str) -> Result<ObjectType, Response> {
    ObjectType::parse(name).ok_or_else(|| unknown_type(name))
}

fn parse_pair(from: &str, to: &str) -> Result<(ObjectType, ObjectType), Response> {
    Ok((parse_type(from)?, parse_type(to)?))
}

fn spec_with_label(kind: AssociationKind) -> AssociationSpecWithLabel {
    AssociationSpecWithLabel {
        category: HUBSPOT_DEFINED.into(),
        type_id: kind.type_id,
        label: kind.primary.then(|| PRIMARY_LABEL.to_string()),
    }
}

fn spec(kind: AssociationKind) -> AssociationSpec {
    AssociationSpec {
        association_category: HUBSPOT_DEFINED.into(),
        association_type_id: i64::from(kind.type_id),
    }
}

/// The associated records of `from` of type `to`, from the cursor `after` on: one page
/// and the cursor of the next.
fn listed(
    portal: &Portal,
    from: Endpoint,
    to: ObjectType,
    after: Option<u64>,
    limit: usize,
) -> (Vec<MultiAssociatedObjectWithLabel>, Option<u64>) {
    let all = portal.associations.of(from, to);
    let mut rest = all
        .into_iter()
        .filter(|(id, _)| after.is_none_or(|a| *id >= a));
    let page = rest
        .by_ref()
        .take(limit)
        .map(|(id, primary)| MultiAssociatedObjectWithLabel {
            to_object_id: id,
            association_types: kinds::kinds_listed(from.0, to, primary)
                .into_iter()
                .map(spec_with_label)
                .collect(),
        })
        .collect();
    (page, rest.next().map(|(id, _)| id))
}

async fn page(
    State(inner): Shared,
    Extension(at): Extension<At>,
    Path((id, to)): Path<(String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw);
    let to = match parse_type(&to) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    let limit = match params.limit(MAX_PAGE, MAX_PAGE) {
        Ok(n) => n,
        Err(refusal) => return refusal,
    };
    let after = match params.one("after").map(str::parse::<u64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return errors::bad_request("after is not a valid paging token"),
    };
    // Ids are not resolved through merges: reading a merged-away id finds nothing.
    let Ok(id) = id.trim().parse::<u64>() else {
        return Json(AssociationPage::default()).into_response();
    };
    let portal = inner.portal();
    let (results, next) = listed(&portal, (at.object, id), to, after, limit);
    let paging = next.map(|n| Paging {
        next: Some(NextPage {
            after: n.to_string(),
            link: Some(format!("{}?after={n}", uri.path())),
        }),
    });
    Json(AssociationPage { results, paging }).into_response()
}

/// The types a write names, checked: HubSpot-defined, from `from` to `to`.
fn checked_kinds(
    from: ObjectType,
    to: ObjectType,
    specs: &[AssociationSpec],
) -> Result<Vec<AssociationKind>, WriteError> {
    if specs.is_empty() {
        return Err(WriteError::Refused {
            message: "At least one association type is required".into(),
            context: BTreeMap::new(),
        });
    }
    specs
        .iter()
        .map(|s| {
            (s.association_category == HUBSPOT_DEFINED)
                .then(|| kinds::kind_of(from, to, s.association_type_id))
                .flatten()
                .ok_or_else(|| invalid_type(from, Some(to), s.association_type_id))
        })
        .collect()
}

/// The two live records of a pair write.
fn pair(
    portal: &Portal,
    from: ObjectType,
    id: &str,
    to: ObjectType,
    to_id: &str,
) -> Result<(Endpoint, Endpoint), WriteError> {
    if kinds::default_kind(from, to).is_none() {
        return Err(invalid_type(from, Some(to), 0));
    }
    Ok((
        (from, portal.live_id(from, id)?),
        (to, portal.live_id(to, to_id)?),
    ))
}

fn labels_between(portal: &Portal, a: Endpoint, b: Endpoint) -> LabelsBetweenObjectPair {
    let primary = portal.associations.is_primary(a, b).unwrap_or(false);
    LabelsBetweenObjectPair {
        from_object_type_id: a.0.type_id().into(),
        from_object_id: a.1,
        to_object_type_id: b.0.type_id().into(),
        to_object_id: b.1,
        labels: kinds::kinds_listed(a.0, b.0, primary)
            .into_iter()
            .filter(|k| k.primary)
            .map(|_| PRIMARY_LABEL.to_string())
            .collect(),
    }
}

async fn put_labels(
    State(inner): Shared,
    Extension(at): Extension<At>,
    Path((id, to, to_id)): Path<(String, String, String)>,
    bytes: Bytes,
) -> Response {
    let to = match parse_type(&to) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    let specs: Vec<AssociationSpec> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut portal = inner.portal();
    // The types are added to what the pair has (a primary label stays until it is archived
    // or another company becomes primary); whether HubSpot's PUT replaces the pair's labels
    // instead is not documented.
    let made = checked_kinds(at.object, to, &specs).and_then(|kinds| {
        let (a, b) = pair(&portal, at.object, &id, to, &to_id)?;
        portal.associate(a, b, &kinds);
        Ok(labels_between(&portal, a, b))
    });
    match made {
        Ok(labels) => (StatusCode::CREATED, Json(labels)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Makes an unlabeled link between two records; the two directions as HubSpot reports
/// them.
fn associate_default(
    portal: &mut Portal,
    from: ObjectType,
    id: &str,
    to: ObjectType,
    to_id: &str,
) -> Result<Vec<PublicDefaultAssociation>, WriteError> {
    let (a, b) = pair(portal, from, id, to, to_id)?;
    portal.associations.link(a, b, false);
    let made = |x: Endpoint, y: Endpoint| {
        kinds::default_kind(x.0, y.0).map(|kind| PublicDefaultAssociation {
            from: PublicObjectId {
                id: x.1.to_string(),
            },
            to: PublicObjectId {
                id: y.1.to_string(),
            },
            association_spec: spec(kind),
        })
    };
    Ok(made(a, b).into_iter().chain(made(b, a)).collect())
}

fn batch_body<T: Serialize>(
    status: StatusCode,
    results: Vec<T>,
    errors: Vec<StandardError>,
    started: String,
    completed: String,
) -> Response {
    let body = AssociationBatchResponse {
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

async fn put_default(
    State(inner): Shared,
    Extension(at): Extension<At>,
    Path((id, to, to_id)): Path<(String, String, String)>,
) -> Response {
    let to = match parse_type(&to) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    let started = iso(inner.now_ms());
    let mut portal = inner.portal();
    match associate_default(&mut portal, at.object, &id, to, &to_id) {
        Ok(results) => batch_body(
            StatusCode::OK,
            results,
            Vec::new(),
            started,
            iso(inner.now_ms()),
        ),
        Err(e) => e.into_response(),
    }
}

async fn remove_pair(
    State(inner): Shared,
    Extension(at): Extension<At>,
    Path((id, to, to_id)): Path<(String, String, String)>,
) -> Response {
    let to = match parse_type(&to) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    if let (Ok(a), Ok(b)) = (id.trim().parse::<u64>(), to_id.trim().parse::<u64>()) {
        inner.portal().associations.unlink((at.object, a), (to, b));
    }
    StatusCode::NO_CONTENT.into_response()
}

fn too_many(n: usize, max: usize) -> Option<Response> {
    (n > max).then(|| {
        errors::bad_request(format!(
            "Batch input limit exceeded: {n} inputs were sent, the limit is {max}"
        ))
    })
}

/// A batch error for one input (its context says which).
fn input_error(e: WriteError, object: ObjectType) -> StandardError {
    e.standard(object, None, None)
}

async fn batch_read(
    State(inner): Shared,
    Path((from, to)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let (from, to) = match parse_pair(&from, &to) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let request: Inputs<FetchInput> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len(), MAX_READ) {
        return refusal;
    }
    let started = iso(inner.now_ms());
    let portal = inner.portal();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &request.inputs {
        let after = input.after.as_deref().and_then(|a| a.parse::<u64>().ok());
        let found = input
            .id
            .trim()
            .parse::<u64>()
            .ok()
            .map(|id| listed(&portal, (from, id), to, after, MAX_PAGE))
            .filter(|(page, _)| !page.is_empty());
        match found {
            Some((page, next)) => results.push(PublicAssociationMultiWithLabel {
                from: PublicObjectId {
                    id: input.id.clone(),
                },
                to: page,
                paging: next.map(|n| Paging {
                    next: Some(NextPage {
                        after: n.to_string(),
                        link: None,
                    }),
                }),
            }),
            // Not a failure: HubSpot's way of saying "none" (a 207 error per id).
            None => errors.push(StandardError {
                status: "error".into(),
                category: "OBJECT_NOT_FOUND".into(),
                sub_category: Some(json!("crm.associations.NO_ASSOCIATIONS_FOUND")),
                message: format!(
                    "No {} is associated with {} {}.",
                    to.singular(),
                    from.singular(),
                    input.id
                ),
                context: BTreeMap::from([
                    ("fromObjectId".to_string(), vec![input.id.clone()]),
                    ("fromObjectType".to_string(), vec![from.singular().into()]),
                    ("toObjectType".to_string(), vec![to.singular().into()]),
                ]),
                ..StandardError::default()
            }),
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    batch_body(status, results, errors, started, iso(inner.now_ms()))
}

async fn batch_create(
    State(inner): Shared,
    Extension(version): Extension<ApiVersion>,
    Path((from, to)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let (from, to) = match parse_pair(&from, &to) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let request: Inputs<MultiPost> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len(), MAX_WRITE) {
        return refusal;
    }
    let started = iso(inner.now_ms());
    let mut portal = inner.portal();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &request.inputs {
        let made = checked_kinds(from, to, &input.types).and_then(|kinds| {
            let (a, b) = pair(&portal, from, &input.from.id, to, &input.to.id)?;
            portal.associate(a, b, &kinds);
            Ok(labels_between(&portal, a, b))
        });
        match made {
            Ok(labels) => results.push(labels),
            Err(e) => errors.push(input_error(e, from)),
        }
    }
    let status = if version.folds_batch_errors() {
        StatusCode::OK
    } else if errors.is_empty() {
        StatusCode::CREATED
    } else {
        StatusCode::MULTI_STATUS
    };
    batch_body(status, results, errors, started, iso(inner.now_ms()))
}

/// The answer of the archive calls: 204 on v4, `BatchResponseVoid` under date versions.
fn archived(version: ApiVersion, started: String, completed: String) -> Response {
    if version.is_dated() {
        batch_body::<()>(StatusCode::OK, Vec::new(), Vec::new(), started, completed)
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

async fn batch_archive(
    State(inner): Shared,
    Extension(version): Extension<ApiVersion>,
    Path((from, to)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let (from, to) = match parse_pair(&from, &to) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let request: Inputs<MultiArchive> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len(), MAX_WRITE) {
        return refusal;
    }
    let started = iso(inner.now_ms());
    let mut portal = inner.portal();
    for input in &request.inputs {
        let Ok(a) = input.from.id.trim().parse::<u64>() else {
            continue;
        };
        for other in &input.to {
            if let Ok(b) = other.id.trim().parse::<u64>() {
                portal.associations.unlink((from, a), (to, b));
            }
        }
    }
    archived(version, started, iso(inner.now_ms()))
}

async fn batch_archive_labels(
    State(inner): Shared,
    Extension(version): Extension<ApiVersion>,
    Path((from, to)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let (from, to) = match parse_pair(&from, &to) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let request: Inputs<MultiPost> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len(), MAX_WRITE) {
        return refusal;
    }
    let started = iso(inner.now_ms());
    let mut portal = inner.portal();
    for input in &request.inputs {
        let (Ok(a), Ok(b)) = (
            input.from.id.trim().parse::<u64>(),
            input.to.id.trim().parse::<u64>(),
        ) else {
            continue;
        };
        let kinds = match checked_kinds(from, to, &input.types) {
            Ok(k) => k,
            Err(e) => return e.into_response(),
        };
        // Removing the unlabeled type removes every label of the pair; removing only the
        // primary label keeps the association.
        if kinds.iter().any(|k| !k.primary) {
            portal.associations.unlink((from, a), (to, b));
        } else {
            portal.associations.demote((from, a), (to, b));
        }
    }
    archived(version, started, iso(inner.now_ms()))
}

async fn batch_default(
    State(inner): Shared,
    Path((from, to)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let (from, to) = match parse_pair(&from, &to) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let request: Inputs<DefaultPost> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len(), MAX_WRITE) {
        return refusal;
    }
    let started = iso(inner.now_ms());
    let mut portal = inner.portal();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &request.inputs {
        match associate_default(&mut portal, from, &input.from.id, to, &input.to.id) {
            Ok(made) => results.extend(made),
            Err(e) => errors.push(input_error(e, from)),
        }
    }
    // HubSpot answers 200 here even when some inputs failed, with the errors inside.
    batch_body(
        StatusCode::OK,
        results,
        errors,
        started,
        iso(inner.now_ms()),
    )
}
