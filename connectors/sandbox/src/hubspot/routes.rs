//! The sandbox's HTTP surface: HubSpot's contact, search, batch, merge, properties and
//! OAuth token endpoints, behind bearer auth and HubSpot's rate limits.
//!
//! Layers, outermost first: the arrival log (every request, for the "never over the burst"
//! tests), the shared counters and fault injection (`crate::common::layer`), then auth and
//! the rate limits ([`guard`]), then the handler. Injected faults therefore do not spend the
//! sandbox's own rate budget, but they do appear in the arrival log.

// Refusals are axum responses handed straight back to the client; boxing them buys nothing.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use serde::de::DeserializeOwned;

use super::errors::{self, WriteError};
use super::schema::{DEFAULT_PROPERTIES, iso};
use super::search;
use super::store::{Contact, Store};
use super::wire::{
    BatchInputs, BatchReadRequest, BatchResponse, BatchWriteInput, CollectionResponse, IdInput,
    MergeRequest, NextPage, OAuthError, ObjectInput, Paging, PropertiesResponse, SearchRequest,
    SearchResponse, SimplePublicObject, StandardError, TokenResponse,
};
use super::{Arrival, Inner};
use crate::common::FaultBodies;

const CONTACTS: &str = "/crm/v3/objects/contacts";
const MAX_BATCH: usize = 100;
const MAX_LIST: usize = 100;

type Shared = State<Arc<Inner>>;

/// Builds the router with every layer.
pub(super) fn router(inner: Arc<Inner>) -> Router {
    let api = Router::new()
        .route(CONTACTS, get(list).post(create))
        .route("/crm/v3/objects/contacts/search", post(search_contacts))
        .route("/crm/v3/objects/contacts/merge", post(merge))
        .route("/crm/v3/objects/contacts/batch/read", post(batch_read))
        .route("/crm/v3/objects/contacts/batch/create", post(batch_create))
        .route("/crm/v3/objects/contacts/batch/update", post(batch_update))
        .route("/crm/v3/objects/contacts/batch/upsert", post(batch_upsert))
        .route(
            "/crm/v3/objects/contacts/batch/archive",
            post(batch_archive),
        )
        .route(
            "/crm/v3/objects/contacts/{id}",
            get(get_one).patch(update_one).delete(archive_one),
        )
        .route("/crm/v3/properties/contacts", get(properties))
        .route("/crm/v3/properties/contacts/{name}", get(property))
        .route_layer(middleware::from_fn_with_state(inner.clone(), guard));
    let oauth = Router::new()
        .route("/oauth/v1/token", post(token))
        .route("/oauth/v3/token", post(token));
    let router = api.merge(oauth).with_state(inner.clone());
    let bodies: Arc<dyn FaultBodies> = Arc::new(Bodies {
        inner: inner.clone(),
    });
    let router = crate::common::layer(router, inner.counters.clone(), inner.faults.clone(), bodies);
    router.route_layer(middleware::from_fn_with_state(inner, record_arrival))
}

struct Bodies {
    inner: Arc<Inner>,
}

impl FaultBodies for Bodies {
    fn server_error(&self) -> Response {
        errors::internal_error()
    }

    fn rate_limited(&self, retry_after_secs: u64) -> Response {
        let mut response =
            errors::rate_limited(errors::Policy::TenSecondlyRolling, Some(retry_after_secs));
        self.inner.rate_headers(response.headers_mut(), Some(0));
        response
    }
}

async fn record_arrival(State(inner): Shared, request: Request, next: Next) -> Response {
    inner.record(Arrival {
        at: std::time::Instant::now(),
        search: request.uri().path().ends_with("/search"),
    });
    next.run(request).await
}

/// Bearer auth, then the rate limits; rate-limit headers on every answer but search's.
async fn guard(State(inner): Shared, request: Request, next: Next) -> Response {
    if let Err(refusal) = inner.authenticate(request.headers()) {
        return refusal;
    }
    let search = request.uri().path().ends_with("/search");
    if let Err(refusal) = inner.spend(search) {
        return refusal;
    }
    let mut response = next.run(request).await;
    if !search {
        inner.rate_headers(response.headers_mut(), None);
    }
    response
}

/// Parses a JSON body, answering HubSpot's 400 when it does not parse.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(bytes)
        .map_err(|err| errors::bad_request(format!("Invalid input JSON: {err}")))
}

/// Query parameters; repeated keys and comma-separated values are both lists.
struct Params(HashMap<String, Vec<String>>);

impl Params {
    fn parse(raw: Option<String>) -> Params {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Params(map)
    }

    fn one(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        // Some clients (the Python SDK) send `True`.
        self.one(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn list(&self, key: &str) -> Option<Vec<String>> {
        self.0.get(key).map(|values| {
            values
                .iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
    }
}

/// A contact as HubSpot renders it: the asked-for properties (known ones; unset → null),
/// always with `hs_object_id`, `createdate` and `lastmodifieddate`.
pub(super) fn render(store: &Store, c: &Contact, asked: Option<&[String]>) -> SimplePublicObject {
    let mut properties: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut put = |name: &str| {
        if store.schema.get(name).is_some() {
            properties.insert(name.to_string(), c.props.get(name).cloned());
        }
    };
    match asked {
        Some(names) => names.iter().for_each(|n| put(n)),
        None => DEFAULT_PROPERTIES.iter().for_each(|n| put(n)),
    }
    for always in ["hs_object_id", "createdate", "lastmodifieddate"] {
        put(always);
    }
    SimplePublicObject {
        id: c.id.to_string(),
        properties,
        created_at: Some(iso(c.created_ms)),
        updated_at: Some(iso(c.modified_ms)),
        archived: c.archived_ms.is_some(),
        archived_at: c.archived_ms.map(iso),
        object_write_trace_id: None,
        new: None,
    }
}

fn written(store: &Store, c: &Contact) -> SimplePublicObject {
    let names: Vec<String> = c.props.keys().cloned().collect();
    render(store, c, Some(&names))
}

fn batch_answer(
    ok_status: StatusCode,
    results: Vec<SimplePublicObject>,
    errors: Vec<StandardError>,
    started: String,
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
        completed_at: iso(chrono::Utc::now().timestamp_millis()),
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

/// Resolves an input id: a record id, or a unique value when `id_property` is `email`.
fn find<'a>(
    store: &'a Store,
    id: &str,
    id_property: Option<&str>,
    archived: bool,
) -> Option<&'a Arc<Contact>> {
    match id_property {
        Some("email") => store.by_email(id),
        Some("hs_object_id") | None => {
            let n = id.trim().parse::<u64>().ok()?;
            if archived {
                store.get_archived(n)
            } else {
                store.get(n)
            }
        }
        Some(_) => None,
    }
}

async fn list(State(inner): Shared, RawQuery(raw): RawQuery) -> Response {
    let params = Params::parse(raw);
    let limit = match params.one("limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=MAX_LIST).contains(&n) => n,
        Some(_) => return errors::bad_request(format!("limit must be between 1 and {MAX_LIST}")),
    };
    let from = match params.one("after").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return errors::bad_request("after is not a valid paging token"),
    };
    let asked = params.list("properties");
    let store = inner.store();
    let (page, next) = store.page(from, limit, params.flag("archived"));
    let results = page
        .iter()
        .map(|c| render(&store, c, asked.as_deref()))
        .collect();
    let paging = next.map(|n| Paging {
        next: Some(NextPage {
            after: n.to_string(),
            link: Some(format!("{CONTACTS}?after={n}")),
        }),
    });
    Json(CollectionResponse { results, paging }).into_response()
}

async fn get_one(
    State(inner): Shared,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw);
    let store = inner.store();
    match find(
        &store,
        &id,
        params.one("idProperty"),
        params.flag("archived"),
    ) {
        Some(c) => Json(render(&store, c, params.list("properties").as_deref())).into_response(),
        None => errors::not_found(),
    }
}

async fn create(State(inner): Shared, bytes: Bytes) -> Response {
    let input: ObjectInput = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = inner.now_ms();
    let mut store = inner.store();
    match store.create(&input.properties, now) {
        Ok(c) => (StatusCode::CREATED, Json(written(&store, &c))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn update_one(
    State(inner): Shared,
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
    let mut store = inner.store();
    let Some(target) = find(&store, &id, params.one("idProperty"), false).map(|c| c.id) else {
        return errors::not_found();
    };
    match store.update(target, &input.properties, now) {
        Ok(c) => Json(written(&store, &c)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn archive_one(State(inner): Shared, Path(id): Path<String>) -> Response {
    let now = inner.now_ms();
    if let Ok(n) = id.parse::<u64>() {
        inner.store().archive(n, now);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn search_contacts(State(inner): Shared, bytes: Bytes) -> Response {
    let request: SearchRequest = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut store = inner.store();
    store.catch_up_index(std::time::Instant::now());
    match search::search(&store, &request, inner.options.single_sort) {
        Ok(found) => {
            let asked = (!request.properties.is_empty()).then_some(request.properties.as_slice());
            let results = found
                .page
                .iter()
                .map(|c| render(&store, c, asked))
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

async fn merge(State(inner): Shared, bytes: Bytes) -> Response {
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
    let mut store = inner.store();
    match store.merge(primary, other, now) {
        Ok(c) => Json(written(&store, &c)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn batch_read(State(inner): Shared, RawQuery(raw): RawQuery, bytes: Bytes) -> Response {
    let params = Params::parse(raw);
    let request: BatchReadRequest = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len()) {
        return refusal;
    }
    let started = iso(inner.now_ms());
    let store = inner.store();
    let asked = (!request.properties.is_empty()).then_some(request.properties.as_slice());
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in &request.inputs {
        match find(
            &store,
            &input.id,
            request.id_property.as_deref(),
            params.flag("archived"),
        ) {
            Some(c) => results.push(render(&store, c, asked)),
            None => missing.push(input.id.clone()),
        }
    }
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        let mut e = WriteError::NotFound(String::new()).standard(None, None);
        e.context.insert("ids".into(), missing);
        vec![e]
    };
    batch_answer(StatusCode::OK, results, errors, started)
}

async fn batch_create(State(inner): Shared, bytes: Bytes) -> Response {
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
    let mut store = inner.store();
    if !multi_status {
        let mut seen = std::collections::HashSet::new();
        for input in &request.inputs {
            if let Err(e) = store.check_create(&input.properties) {
                return e.into_response();
            }
            if let Some(email) = input.properties.get("email")
                && !seen.insert(email.to_lowercase())
            {
                return errors::bad_request(format!("Duplicate email {email} in the batch"));
            }
        }
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &request.inputs {
        let trace = input.object_write_trace_id.as_deref();
        match store.create(&input.properties, now) {
            Ok(c) => {
                let mut object = written(&store, &c);
                object.object_write_trace_id = trace.map(String::from);
                results.push(object);
            }
            Err(e) => errors.push(e.standard(None, trace)),
        }
    }
    batch_answer(StatusCode::CREATED, results, errors, started)
}

/// In all-or-nothing mode: the first input a batch update or upsert would refuse, as the
/// answer for the whole batch.
fn refuse_whole_batch(store: &Store, inputs: &[BatchWriteInput], upsert: bool) -> Option<Response> {
    for input in inputs {
        let id = input.id.clone().unwrap_or_default();
        let id_property =
            input
                .id_property
                .as_deref()
                .or(if upsert { Some("hs_object_id") } else { None });
        let check = match find(store, &id, id_property, false) {
            Some(existing) => store.check_update(existing.id, &input.properties),
            None if upsert && id_property == Some("email") => {
                let mut props = input.properties.clone();
                props.entry("email".into()).or_insert_with(|| id.clone());
                store.check_create(&props)
            }
            None => Ok(()),
        };
        if let Err(refusal) = check {
            return Some(refusal.into_response());
        }
    }
    None
}

async fn batch_update(State(inner): Shared, bytes: Bytes) -> Response {
    let request: BatchInputs<BatchWriteInput> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len()) {
        return refusal;
    }
    let now = inner.now_ms();
    let started = iso(now);
    let mut store = inner.store();
    if inner.options.atomic_batches
        && let Some(refusal) = refuse_whole_batch(&store, &request.inputs, false)
    {
        return refusal;
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &request.inputs {
        let id = input.id.clone().unwrap_or_default();
        let trace = input.object_write_trace_id.as_deref();
        let Some(target) = find(&store, &id, input.id_property.as_deref(), false).map(|c| c.id)
        else {
            errors.push(WriteError::NotFound(id.clone()).standard(Some(&id), trace));
            continue;
        };
        match store.update(target, &input.properties, now) {
            Ok(c) => {
                let mut object = written(&store, &c);
                object.object_write_trace_id = trace.map(String::from);
                results.push(object);
            }
            Err(e) => errors.push(e.standard(Some(&id), trace)),
        }
    }
    batch_answer(StatusCode::OK, results, errors, started)
}

async fn batch_upsert(State(inner): Shared, bytes: Bytes) -> Response {
    let request: BatchInputs<BatchWriteInput> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len()) {
        return refusal;
    }
    let now = inner.now_ms();
    let started = iso(now);
    let mut store = inner.store();
    if inner.options.atomic_batches
        && let Some(refusal) = refuse_whole_batch(&store, &request.inputs, true)
    {
        return refusal;
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &request.inputs {
        let id = input.id.clone().unwrap_or_default();
        let trace = input.object_write_trace_id.as_deref();
        let id_property = input.id_property.as_deref().unwrap_or("hs_object_id");
        let existing = find(&store, &id, Some(id_property), false).map(|c| c.id);
        let outcome = match existing {
            Some(target) => store
                .update(target, &input.properties, now)
                .map(|c| (c, false)),
            None if id_property == "email" => {
                let mut props = input.properties.clone();
                props.entry("email".into()).or_insert_with(|| id.clone());
                store.create(&props, now).map(|c| (c, true))
            }
            None => Err(WriteError::NotFound(id.clone())),
        };
        match outcome {
            Ok((c, new)) => {
                let mut object = written(&store, &c);
                object.new = Some(new);
                object.object_write_trace_id = trace.map(String::from);
                results.push(object);
            }
            Err(e) => errors.push(e.standard(Some(&id), trace)),
        }
    }
    batch_answer(StatusCode::OK, results, errors, started)
}

async fn batch_archive(State(inner): Shared, bytes: Bytes) -> Response {
    let request: BatchInputs<IdInput> = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = too_many(request.inputs.len()) {
        return refusal;
    }
    let now = inner.now_ms();
    let mut store = inner.store();
    for input in &request.inputs {
        if let Ok(n) = input.id.parse::<u64>() {
            store.archive(n, now);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn properties(State(inner): Shared) -> Response {
    let store = inner.store();
    Json(PropertiesResponse {
        results: store.schema.all().cloned().collect(),
    })
    .into_response()
}

async fn property(State(inner): Shared, Path(name): Path<String>) -> Response {
    let store = inner.store();
    match store.schema.get(&name) {
        Some(p) => Json(p.clone()).into_response(),
        None => errors::not_found(),
    }
}

async fn token(State(inner): Shared, Form(form): Form<HashMap<String, String>>) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    match inner.refresh(
        field("grant_type"),
        field("client_id"),
        field("client_secret"),
        field("refresh_token"),
    ) {
        Some(response) => Json::<TokenResponse>(response).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            Json(OAuthError {
                error: "invalid_grant".into(),
                error_description: "refresh token is invalid, expired or revoked".into(),
                status: Some("BAD_REFRESH_TOKEN".into()),
                message: Some("refresh token is invalid, expired or revoked".into()),
            }),
        )
            .into_response(),
    }
}

/// Sets the `X-HubSpot-RateLimit-*` headers.
pub(super) fn set_rate_headers(
    headers: &mut HeaderMap,
    max: u32,
    remaining: u32,
    daily: Option<(u64, u64)>,
) {
    headers.insert("x-hubspot-ratelimit-max", HeaderValue::from(max));
    headers.insert(
        "x-hubspot-ratelimit-remaining",
        HeaderValue::from(remaining),
    );
    headers.insert(
        "x-hubspot-ratelimit-interval-milliseconds",
        HeaderValue::from_static("10000"),
    );
    if let Some((limit, left)) = daily {
        headers.insert("x-hubspot-ratelimit-daily", HeaderValue::from(limit));
        headers.insert(
            "x-hubspot-ratelimit-daily-remaining",
            HeaderValue::from(left),
        );
    }
}
