//! The records endpoints of every object type: list, get, create, update, archive,
//! search and merge (`/crm/v3/objects/{type}[...]` and the date versions'
//! `/crm/objects/{version}/{type}[...]`), and how a record is rendered, with v3-style
//! `associations` when asked for.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};

use super::{At, Params, Shared, batch, body, unknown_type};
use crate::hubspot::Inner;
use crate::hubspot::associations::kinds_listed;
use crate::hubspot::errors;
use crate::hubspot::objects::{ApiVersion, ObjectType};
use crate::hubspot::portal::Portal;
use crate::hubspot::schema::iso;
use crate::hubspot::search;
use crate::hubspot::store::{Record, Records};
use crate::hubspot::wire::{
    AssociatedId, AssociatedIds, CollectionResponse, MergeRequest, NextPage, ObjectInput, Paging,
    SearchRequest, SearchResponse, SimplePublicObject,
};

const MAX_LIST: usize = 100;

/// The portal id HubSpot names in some messages.
pub(super) const PORTAL_ID: u64 = 62_515;

/// Adds the records routes of every object type under `version`.
pub(super) fn routes(mut router: Router<Arc<Inner>>, version: ApiVersion) -> Router<Arc<Inner>> {
    let base = version.base("objects");
    for object in ObjectType::ALL {
        for alias in object.aliases() {
            let at = Extension(At { version, object });
            let path = format!("{base}/{alias}");
            router = router
                .route(&path, get(list).post(create).layer(at))
                .route(&format!("{path}/search"), post(search).layer(at))
                .route(&format!("{path}/merge"), post(merge).layer(at))
                .route(&format!("{path}/batch/read"), post(batch::read).layer(at))
                .route(
                    &format!("{path}/batch/create"),
                    post(batch::create).layer(at),
                )
                .route(
                    &format!("{path}/batch/update"),
                    post(batch::update).layer(at),
                )
                .route(
                    &format!("{path}/batch/upsert"),
                    post(batch::upsert).layer(at),
                )
                .route(
                    &format!("{path}/batch/archive"),
                    post(batch::archive).layer(at),
                )
                .route(
                    &format!("{path}/{{id}}"),
                    get(get_one).patch(update_one).delete(archive_one).layer(at),
                );
        }
    }
    router
        .route(
            &format!("{base}/{{object}}"),
            any(|Path(object): Path<String>| async move { unknown_type(&object) }),
        )
        .route(
            &format!("{base}/{{object}}/{{rest}}"),
            any(|Path((object, _)): Path<(String, String)>| async move { unknown_type(&object) }),
        )
}

/// A record as HubSpot renders it: the asked-for properties (known ones; unset → null),
/// always with `hs_object_id`, `createdate` and the last-modified property, and the
/// v3-style associations of the types in `with` that it has.
pub(in crate::hubspot) fn render(
    portal: &Portal,
    object: ObjectType,
    record: &Record,
    asked: Option<&[String]>,
    with: &[ObjectType],
) -> SimplePublicObject {
    let schema = &portal.records(object).schema;
    let mut properties: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut put = |name: &str| {
        if schema.get(name).is_some() {
            properties.insert(name.to_string(), record.props.get(name).cloned());
        }
    };
    match asked {
        Some(names) => names.iter().for_each(|n| put(n)),
        None => object.default_properties().iter().for_each(|n| put(n)),
    }
    for always in ["hs_object_id", "createdate", object.modified_property()] {
        put(always);
    }
    let mut associations = BTreeMap::new();
    for to in with.iter().copied().filter(|to| *to != object) {
        let results: Vec<AssociatedId> = portal
            .associations
            .of((object, record.id), to)
            .into_iter()
            .flat_map(|(id, primary)| {
                kinds_listed(object, to, primary)
                    .into_iter()
                    .map(move |kind| AssociatedId {
                        id: id.to_string(),
                        kind: kind.v3_name.to_string(),
                    })
            })
            .collect();
        // Types without associated records are left out, as HubSpot leaves them out.
        if !results.is_empty() {
            associations.insert(
                to.name().to_string(),
                AssociatedIds {
                    results,
                    paging: None,
                },
            );
        }
    }
    SimplePublicObject {
        id: record.id.to_string(),
        properties,
        created_at: Some(iso(record.created_ms)),
        updated_at: Some(iso(record.modified_ms)),
        archived: record.archived_ms.is_some(),
        archived_at: record.archived_ms.map(iso),
        object_write_trace_id: None,
        new: None,
        associations: (!associations.is_empty()).then_some(associations),
    }
}

/// A record as a write answers it: every property it has.
pub(super) fn written(portal: &Portal, object: ObjectType, record: &Record) -> SimplePublicObject {
    let names: Vec<String> = record.props.keys().cloned().collect();
    render(portal, object, record, Some(&names), &[])
}

/// The object types an `associations=` parameter names (unknown ones ignored, as HubSpot
/// ignores them).
fn associations_asked(params: &Params) -> Vec<ObjectType> {
    params
        .list("associations")
        .unwrap_or_default()
        .iter()
        .filter_map(|t| ObjectType::parse(t))
        .collect()
}

/// Resolves an input id: a record id, or a unique value when `id_property` names a unique
/// property. A property that is not unique is HubSpot's 400 for the whole request.
pub(super) fn find<'a>(
    records: &'a Records,
    id: &str,
    id_property: Option<&str>,
    archived: bool,
) -> Result<Option<&'a Arc<Record>>, Response> {
    match id_property {
        Some("hs_object_id") | None => {
            let Ok(n) = id.trim().parse::<u64>() else {
                return Ok(None);
            };
            Ok(if archived {
                records.get_archived(n)
            } else {
                records.get(n)
            })
        }
        Some(property) if records.is_unique(property) => Ok(records.by_unique(property, id)),
        Some(property) => Err(errors::bad_request(format!(
            "Unable to perform update/upsert by non-unique {} property {property} in portal ID {PORTAL_ID}",
            records.object.type_id()
        ))),
    }
}

async fn list(
    State(inner): Shared,
    Extension(at): Extension<At>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw);
    let limit = match params.limit(10, MAX_LIST) {
        Ok(n) => n,
        Err(refusal) => return refusal,
    };
    let from = match params.one("after").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return errors::bad_request("after is not a valid paging token"),
    };
    let asked = params.list("properties");
    let with = associations_asked(&params);
    let portal = inner.portal();
    let (page, next) = portal
        .records(at.object)
        .page(from, limit, params.flag("archived"));
    let results = page
        .iter()
        .map(|c| render(&portal, at.object, c, asked.as_deref(), &with))
        .collect();
    let paging = next.map(|n| Paging {
        next: Some(NextPage {
            after: n.to_string(),
            link: Some(format!("{}?after={n}", uri.path())),
        }),
    });
    Json(CollectionResponse { results, paging }).into_response()
}

async fn get_one(
    State(inner): Shared,
    Extension(at): Extension<At>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw);
    let portal = inner.portal();
    let records = portal.records(at.object);
    match find(
        records,
        &id,
        params.one("idProperty"),
        params.flag("archived"),
    ) {
        Ok(Some(c)) => Json(render(
            &portal,
            at.object,
            c,
            params.list("properties").as_deref(),
            &associations_asked(&params),
        ))
        .into_response(),
        Ok(None) => errors::not_found(),
        Err(refusal) => refusal,
    }
}

async fn create(State(inner): Shared, Extension(at): Extension<At>, bytes: Bytes) -> Response {
    let input: ObjectInput = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = inner.now_ms();
    let mut portal = inner.portal();
    match portal.create(
        at.object,
        &input.properties,
        &input.associations,
        at.enforce(),
        now,
    ) {
        Ok(c) => (StatusCode::CREATED, Json(written(&portal, at.object, &c))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn update_one(
    State(inner): Shared,
    Extension(at): Extension<At>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Response {
    let params = Params::parse(raw);
    let input: ObjectInput = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = inner.now_ms();
    let mut portal = inner.portal();
    let target = match find(
        portal.records(at.object),
        &id,
        params.one("idProperty"),
        false,
    ) {
        Ok(Some(c)) => c.id,
        Ok(None) => return errors::not_found(),
        Err(refusal) => return refusal,
    };
    match portal.update(at.object, target, &input.properties, at.enforce(), now) {
        Ok(c) => Json(written(&portal, at.object, &c)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn archive_one(
    State(inner): Shared,
    Extension(at): Extension<At>,
    Path(id): Path<String>,
) -> Response {
    let now = inner.now_ms();
    if let Ok(n) = id.parse::<u64>() {
        inner.portal().archive(at.object, n, now);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn search(State(inner): Shared, Extension(at): Extension<At>, bytes: Bytes) -> Response {
    let request: SearchRequest = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut portal = inner.portal();
    portal
        .records_mut(at.object)
        .catch_up_index(std::time::Instant::now());
    match search::search(
        portal.records(at.object),
        &request,
        inner.options.single_sort,
    ) {
        Ok(found) => {
            let asked = (!request.properties.is_empty()).then_some(request.properties.as_slice());
            let results = found
                .page
                .iter()
                .map(|c| render(&portal, at.object, c, asked, &[]))
                .collect();
            let paging = found.next.map(|n| Paging {
                next: Some(NextPage {
                    after: n.to_string(),
                    link: None,
                }),
            });
            Json(SearchResponse {
                total: found.total as u64,
                results,
                paging,
            })
            .into_response()
        }
        Err(message) => errors::bad_request(message),
    }
}

async fn merge(State(inner): Shared, Extension(at): Extension<At>, bytes: Bytes) -> Response {
    let request: MergeRequest = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Ok(primary), Ok(other)) = (
        request.primary_object_id.parse::<u64>(),
        request.object_id_to_merge.parse::<u64>(),
    ) else {
        return errors::not_found();
    };
    let now = inner.now_ms();
    let mut portal = inner.portal();
    match portal.merge(at.object, primary, other, now) {
        Ok(c) => Json(written(&portal, at.object, &c)).into_response(),
        Err(e) => e.into_response(),
    }
}
