//! The sandbox's HTTP surface: HubSpot's objects (contacts, companies, deals), search,
//! batch, merge, properties, associations, pipelines, owners and OAuth token endpoints,
//! behind bearer auth and HubSpot's rate limits, under every API family the sandbox
//! serves (legacy `v3`/`v4`, `2026-03`, `2026-09`).
//!
//! Layers, outermost first: the arrival log (every request, for the "never over the burst"
//! tests), the shared counters and fault injection (`crate::common::layer`), then auth and
//! the rate limits ([`guard`]), then the handler. Injected faults therefore do not spend the
//! sandbox's own rate budget, but they do appear in the arrival log.
//!
//! ## Paths and counters
//!
//! Every path is registered literally per object type spelling (`contacts`, `contact`,
//! `0-1`...) and per family, and the handler learns which from an [`At`] extension. The
//! request counters are keyed by the matched path, so a count names both the object and
//! the family: `"GET /crm/v3/objects/contacts"`, `"POST /crm/objects/2026-09/0-3/search"`.
//!
//! Files: [`objects`] (records, search, merge), [`batch`], [`properties`],
//! [`associations`], [`settings`] (pipelines and owners).

// Refusals are axum responses handed straight back to the client; boxing them buys nothing.
#![allow(clippy::result_large_err)]

mod associations;
mod batch;
mod objects;
mod properties;
mod settings;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json};
use serde::de::DeserializeOwned;

use super::errors;
use super::objects::{ApiVersion, ObjectType};
use super::portal::Enforce;
use super::wire::{OAuthError, TokenResponse};
use super::{Arrival, Inner};
use crate::common::FaultBodies;

pub(super) use objects::render;

type Shared = State<Arc<Inner>>;

/// Which family and object type a route serves (a request extension set per route).
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    /// The API family of the path.
    pub version: ApiVersion,
    /// The object type the path names (the "from" type of association paths).
    pub object: ObjectType,
}

impl At {
    /// Whether writes through this path are held to the portal's 2026-09 rules.
    fn enforce(self) -> Enforce {
        if self.version.enforces_rules() {
            Enforce::Rules
        } else {
            Enforce::No
        }
    }
}

/// Builds the router with every layer.
pub(super) fn router(inner: Arc<Inner>) -> Router {
    let mut api: Router<Arc<Inner>> = Router::new();
    for version in ApiVersion::ALL {
        api = objects::routes(api, version);
        api = associations::routes(api, version);
        api = properties::routes(api, version);
        api = settings::routes(api, version);
    }
    let api = api.route_layer(middleware::from_fn_with_state(inner.clone(), guard));
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

    /// `limit` within `1..=max`, `default` when absent; a 400 otherwise.
    fn limit(&self, default: usize, max: usize) -> Result<usize, Response> {
        match self.one("limit").map(str::parse::<usize>) {
            None => Ok(default),
            Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(errors::bad_request(format!(
                "limit must be between 1 and {max}"
            ))),
        }
    }
}

/// A 400 for a path naming an object type the sandbox does not serve.
fn unknown_type(name: &str) -> Response {
    errors::bad_request(format!("Unable to infer object type from: {name}"))
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
