//! A faithful local HubSpot portal (CRM contacts, companies and deals) for tests, the demo
//! and benchmarks.
//!
//! [`HubSpotSandbox`] serves the endpoints a sync uses — for contacts, companies and deals:
//! list, get (also by a unique property), create (with associations), update, archive,
//! batch read/create/update/upsert/archive, search, merge and properties; the v4
//! associations API; deal pipelines; owners; and the OAuth token endpoint — under the
//! legacy `v3`/`v4` paths and the `2026-03` and `2026-09` date versions, with HubSpot's
//! rules and bodies: bearer auth and its 401s, 207 multi-status, unique values (409 with
//! `Existing ID`), validation errors, deal stages that must belong to their pipeline, the
//! search caps (200 per page, 10,000 reachable, 5 groups × 6 filters), forward-only
//! lifecycle stages, merges with a new id and aliases, associations that never touch a
//! record's last-modified date, the portal's write validation rules on `2026-09` only, and
//! the three rate limits (per rolling 10 s, per second for search, daily) with HubSpot's
//! 429 body and headers.
//!
//! For tests it adds a control API that bypasses HTTP: deterministic seeding, edits "as a
//! user would" (at the current or an explicit time), archive, merge, associations,
//! pipelines, owners and validation rules ([`control`]), request counters (keyed by
//! matched path, so by family too), an arrival log, fault injection, a search index that
//! can lag writes, and a clock that can be frozen.
//!
//! ## Clock
//!
//! Created and last-modified dates are wall-clock milliseconds, never going backwards, so
//! writes of one burst share a millisecond as they do in HubSpot; a test may freeze the
//! clock and move it by hand ([`HubSpotSandbox::freeze_clock`]). Seeded records get fixed
//! times in 2025, so seeding is deterministic.
//!
//! ## Files
//!
//! [`wire`] holds HubSpot's JSON as serde types (a copy of the client's, see there why);
//! `objects` the object types and API families, `schema` the property definitions and
//! value checks, `store` the records of one type, `portal` all of them with the rules that
//! look across types, `associations`, `pipelines`, `owners` and `validation` their own
//! data, `search` the filter engine, `errors` HubSpot's refusals, `access` auth and rate
//! limits, `routes` the HTTP surface, `control` and `seed` the test-facing API.

// Refusals are axum responses handed straight back to the client; boxing them buys nothing.
#![allow(clippy::result_large_err)]

mod access;
mod associations;
mod control;
mod errors;
mod objects;
mod owners;
mod pipelines;
mod portal;
mod routes;
mod schema;
mod search;
mod seed;
mod store;
mod validation;
pub mod wire;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;

use crate::common::{Counters, FaultInjector, Faults, Served};
use crate::lock;
use wire::Property;

pub use control::SandboxAssociation;
pub use errors::Policy;
pub use objects::{ApiVersion, ObjectType};
pub use owners::SandboxOwner;
pub use pipelines::{DEFAULT_PIPELINE, DealPipeline, DealStage};
use portal::{Enforce, Portal};
pub use schema::{INDUSTRIES, LEAD_STATUSES, LIFECYCLE_STAGES};
pub use search::MAX_REACHABLE;
pub use validation::ValidationRule;

/// OAuth as the sandbox's token endpoint accepts it.
#[derive(Debug, Clone)]
pub struct SandboxOAuth {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// The refresh token it accepts.
    pub refresh_token: String,
    /// How long an issued access token is valid (`expires_in`).
    pub access_token_lifetime: Duration,
}

/// How a sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The static (private-app) bearer token it accepts.
    pub token: String,
    /// Seeds fault draws and anything random.
    pub seed: u64,
    /// The burst limit per rolling 10 s; `None` is unlimited.
    pub requests_per_10s: Option<u32>,
    /// Search requests per rolling second; `None` is unlimited.
    pub search_per_second: Option<u32>,
    /// Calls per UTC day; `None` is unlimited.
    pub daily_limit: Option<u64>,
    /// How long a write takes to show up in search (HubSpot: seconds).
    pub search_index_lag: Duration,
    /// The OAuth app, when the token endpoint should work.
    pub oauth: Option<SandboxOAuth>,
    /// Apply only the first sort rule of a search and return ties in a scrambled (but
    /// deterministic) order: HubSpot documents one sort rule per search.
    pub single_sort: bool,
    /// Refuse a whole batch update or upsert (400/409, nothing written) when one input is
    /// invalid, instead of answering 207: HubSpot's documents disagree on which it does.
    pub atomic_batches: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            token: "pat-na1-sandbox-0000".into(),
            seed: 1,
            requests_per_10s: None,
            search_per_second: None,
            daily_limit: None,
            search_index_lag: Duration::ZERO,
            oauth: None,
            single_sort: false,
            atomic_batches: false,
        }
    }
}

/// One request as it arrived (before faults, auth or limits).
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// When it arrived.
    pub at: Instant,
    /// A search request (exempt from the 10 s burst limit).
    pub search: bool,
}

/// How often the sandbox's own limits refused a request (injected 429s not included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitHits {
    /// 429 `TEN_SECONDLY_ROLLING`.
    pub ten_secondly: u64,
    /// 429 `SECONDLY` (search).
    pub secondly: u64,
    /// 429 `DAILY`.
    pub daily: u64,
}

#[derive(Debug, Default)]
struct RateState {
    burst: VecDeque<Instant>,
    search: VecDeque<Instant>,
    day: i64,
    day_count: u64,
    hits: LimitHits,
}

#[derive(Debug, Default)]
struct OAuthState {
    issued: HashMap<String, Instant>,
    refreshes: u64,
}

pub(crate) struct Inner {
    portal: Mutex<Portal>,
    options: SandboxOptions,
    counters: Arc<Counters>,
    faults: Arc<FaultInjector>,
    rate: Mutex<RateState>,
    oauth: Mutex<OAuthState>,
    arrivals: Mutex<Vec<Arrival>>,
    last_ms: AtomicI64,
    frozen_ms: Mutex<Option<i64>>,
}

impl Inner {
    fn portal(&self) -> MutexGuard<'_, Portal> {
        lock(&self.portal)
    }

    /// The sandbox's clock in ms: the frozen time when a test froze it, else wall-clock
    /// ms, never earlier than a time already handed out.
    fn now_ms(&self) -> i64 {
        if let Some(frozen) = *lock(&self.frozen_ms) {
            return frozen;
        }
        let wall = chrono::Utc::now().timestamp_millis();
        let prev = self.last_ms.fetch_max(wall, Ordering::SeqCst);
        prev.max(wall)
    }

    fn record(&self, arrival: Arrival) {
        lock(&self.arrivals).push(arrival);
    }
}

/// A record as the control API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxRecord {
    /// The record id.
    pub id: String,
    /// Set properties (including the maintained ones).
    pub properties: BTreeMap<String, String>,
    /// The last-modified date (`lastmodifieddate`, `hs_lastmodifieddate`) in ms.
    pub modified_ms: i64,
    /// `createdate` in ms.
    pub created_ms: i64,
}

/// A contact as the control API shows it (the same shape as any record).
pub type SandboxContact = SandboxRecord;

impl SandboxRecord {
    fn of(c: &store::Record) -> SandboxRecord {
        SandboxRecord {
            id: c.id.to_string(),
            properties: c.props.clone(),
            modified_ms: c.modified_ms,
            created_ms: c.created_ms,
        }
    }
}

/// Why a control-API call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SandboxError {
    /// No such record.
    #[error("no record {0}")]
    NotFound(String),
    /// A unique value (email, `hasUniqueValue` property) belongs to another record.
    #[error("unique value already used by record {0}")]
    Conflict(u64),
    /// A value, association, pipeline or owner HubSpot would refuse.
    #[error("invalid: {0}")]
    Invalid(String),
}

impl From<errors::WriteError> for SandboxError {
    fn from(e: errors::WriteError) -> Self {
        match e {
            errors::WriteError::NotFound(id) => SandboxError::NotFound(id),
            errors::WriteError::Conflict { existing, .. } => SandboxError::Conflict(existing),
            errors::WriteError::Invalid(list) | errors::WriteError::Rules(list) => {
                SandboxError::Invalid(
                    list.into_iter()
                        .map(|i| i.message)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            }
            errors::WriteError::Refused { message, .. } => SandboxError::Invalid(message),
        }
    }
}

/// The HubSpot sandbox: an in-memory portal and its HTTP API.
#[derive(Clone)]
pub struct HubSpotSandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HubSpotSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotSandbox")
            .field("contacts", &self.count())
            .finish_non_exhaustive()
    }
}

fn string_props(props: &[(&str, &str)]) -> BTreeMap<String, String> {
    props
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse_id(id: &str) -> Result<u64, SandboxError> {
    id.parse()
        .map_err(|_| SandboxError::NotFound(id.to_string()))
}

impl HubSpotSandbox {
    /// An empty portal.
    pub fn new(options: SandboxOptions) -> HubSpotSandbox {
        let inner = Inner {
            portal: Mutex::new(Portal::new(options.search_index_lag)),
            counters: Arc::new(Counters::default()),
            faults: Arc::new(FaultInjector::new(options.seed)),
            rate: Mutex::new(RateState::default()),
            oauth: Mutex::new(OAuthState::default()),
            arrivals: Mutex::new(Vec::new()),
            last_ms: AtomicI64::new(0),
            frozen_ms: Mutex::new(None),
            options,
        };
        HubSpotSandbox {
            inner: Arc::new(inner),
        }
    }

    /// The HTTP API, with auth, limits, counters and faults.
    pub fn router(&self) -> Router {
        routes::router(self.inner.clone())
    }

    /// Serves the API on `addr` (port 0 picks one); `Served::url()` is the base URL.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<Served> {
        crate::common::serve(self.router(), addr).await
    }

    /// The static bearer token it accepts.
    pub fn token(&self) -> &str {
        &self.inner.options.token
    }

    /// Requests per endpoint and answers per status.
    pub fn counters(&self) -> Arc<Counters> {
        self.inner.counters.clone()
    }

    /// Sets fault probabilities (see [`crate::Faults`]).
    pub fn set_faults(&self, faults: Faults) {
        self.inner.faults.set(faults);
    }

    /// Every request so far, as it arrived.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.inner.arrivals).clone()
    }

    /// The most requests of one kind (search or not) that arrived in any window of `span`.
    pub fn max_in_window(&self, span: Duration, search: bool) -> usize {
        let times: Vec<Instant> = self
            .arrivals()
            .into_iter()
            .filter(|a| a.search == search)
            .map(|a| a.at)
            .collect();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].saturating_duration_since(times[start]) >= span {
                start += 1;
            }
            best = best.max(end + 1 - start);
        }
        best
    }

    /// How often the sandbox's own limits said 429.
    pub fn limit_hits(&self) -> LimitHits {
        lock(&self.inner.rate).hits
    }

    /// How many OAuth refreshes the token endpoint granted.
    pub fn oauth_refreshes(&self) -> u64 {
        lock(&self.inner.oauth).refreshes
    }

    /// Makes every issued OAuth access token expire now.
    pub fn expire_access_tokens(&self) {
        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        for until in lock(&self.inner.oauth).issued.values_mut() {
            *until = past;
        }
    }

    /// Creates a contact with HubSpot's validation; returns its id.
    pub fn create_contact(&self, props: &[(&str, &str)]) -> Result<String, SandboxError> {
        self.create_object(ObjectType::Contacts, props)
    }

    /// Edits a contact as a user would in HubSpot's UI: `lastmodifieddate` moves to now.
    pub fn edit(&self, id: &str, props: &[(&str, &str)]) -> Result<SandboxContact, SandboxError> {
        self.edit_object(ObjectType::Contacts, id, props)
    }

    /// Edits a contact with an explicit `lastmodifieddate` (possibly in the past: a record
    /// that becomes visible late, as after a long transaction). Values are checked as
    /// HubSpot's UI checks them.
    pub fn edit_at(
        &self,
        id: &str,
        props: &[(&str, &str)],
        modified_ms: i64,
    ) -> Result<SandboxContact, SandboxError> {
        self.edit_object_at(ObjectType::Contacts, id, props, modified_ms)
    }

    /// Edits many contacts in one burst: every one gets the same `lastmodifieddate` (one
    /// millisecond), as a bulk import or workflow does. `edit` maps each id to its changes.
    pub fn edit_burst<F>(&self, ids: &[String], mut edit: F) -> Result<i64, SandboxError>
    where
        F: FnMut(&str) -> Vec<(String, String)>,
    {
        let now = self.inner.now_ms();
        let mut portal = self.inner.portal();
        for id in ids {
            let props: BTreeMap<String, String> = edit(id).into_iter().collect();
            portal.edit(ObjectType::Contacts, parse_id(id)?, &props, now)?;
        }
        Ok(now)
    }

    /// Archives a contact, as deleting it in HubSpot does.
    pub fn archive(&self, id: &str) -> Result<(), SandboxError> {
        self.archive_object(ObjectType::Contacts, id)
    }

    /// Merges `other` into `primary`; returns the new record's id.
    pub fn merge(&self, primary: &str, other: &str) -> Result<String, SandboxError> {
        self.merge_objects(ObjectType::Contacts, primary, other)
    }

    /// A live contact (merged-away ids resolve to the survivor).
    pub fn get(&self, id: &str) -> Option<SandboxContact> {
        self.object(ObjectType::Contacts, id)
    }

    /// A live contact by email, case-insensitively.
    pub fn find_by_email(&self, email: &str) -> Option<SandboxContact> {
        self.inner
            .portal()
            .records(ObjectType::Contacts)
            .by_email(email)
            .map(|c| SandboxRecord::of(c))
    }

    /// Every live contact, in id order.
    pub fn contacts(&self) -> Vec<SandboxContact> {
        self.objects(ObjectType::Contacts)
    }

    /// How many live contacts there are.
    pub fn count(&self) -> usize {
        self.object_count(ObjectType::Contacts)
    }

    /// The contact property definitions it serves.
    pub fn property_definitions(&self) -> Vec<Property> {
        self.inner
            .portal()
            .records(ObjectType::Contacts)
            .schema
            .all()
            .cloned()
            .collect()
    }
}
