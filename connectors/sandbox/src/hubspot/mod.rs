//! A faithful local HubSpot (CRM v3 contacts) for tests, the demo and benchmarks.
//!
//! [`HubSpotSandbox`] serves the endpoints truce uses — list, get (also by email), create,
//! update, archive, batch read/create/update/upsert/archive, search, merge, properties and
//! the OAuth token endpoint — with HubSpot's rules and bodies: bearer auth and its 401s,
//! 207 multi-status, email uniqueness (409 with `Existing ID`), validation errors, the
//! search caps (200 per page, 10,000 reachable, 5 groups × 6 filters), forward-only
//! lifecycle stages, merges with a new id and aliases, and the three rate limits
//! (per rolling 10 s, per second for search, daily) with HubSpot's 429 body and headers.
//!
//! For tests it adds a control API that bypasses HTTP: deterministic seeding, edits "as a
//! user would" (at the current or an explicit time), archive and merge, request counters, an
//! arrival log, fault injection, and a search index that can lag writes.
//!
//! ## Clock
//!
//! `createdate`/`lastmodifieddate` are wall-clock milliseconds, never going backwards, so
//! writes of one burst share a millisecond as they do in HubSpot. Seeded contacts get fixed
//! times in 2025, so seeding is deterministic.
//!
//! ## Files
//!
//! [`wire`] holds HubSpot's JSON as serde types (a copy of the client's, see there why);
//! `schema` the property definitions and value checks, `store` the contacts, `search` the
//! filter engine, `errors` HubSpot's refusals, `routes` the HTTP surface.

// Refusals are axum responses handed straight back to the client; boxing them buys nothing.
#![allow(clippy::result_large_err)]

mod errors;
mod routes;
mod schema;
mod search;
mod store;
pub mod wire;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Response;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::common::{Counters, FaultInjector, Faults, Served};
use crate::lock;
use wire::{Property, TokenResponse};

pub use errors::Policy;
pub use schema::{LEAD_STATUSES, LIFECYCLE_STAGES};
pub use search::MAX_REACHABLE;
use store::Store;

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
    store: Mutex<Store>,
    options: SandboxOptions,
    counters: Arc<Counters>,
    faults: Arc<FaultInjector>,
    rate: Mutex<RateState>,
    oauth: Mutex<OAuthState>,
    arrivals: Mutex<Vec<Arrival>>,
    last_ms: AtomicI64,
}

impl Inner {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// Wall-clock ms, never earlier than a time already handed out.
    fn now_ms(&self) -> i64 {
        let wall = chrono::Utc::now().timestamp_millis();
        let prev = self.last_ms.fetch_max(wall, Ordering::SeqCst);
        prev.max(wall)
    }

    fn record(&self, arrival: Arrival) {
        lock(&self.arrivals).push(arrival);
    }

    fn authenticate(&self, headers: &HeaderMap) -> Result<(), Response> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(token) = token else {
            return Err(errors::unauthenticated());
        };
        if token == self.options.token {
            return Ok(());
        }
        let expiry = lock(&self.oauth).issued.get(token).copied();
        match expiry {
            Some(until) if until > Instant::now() => Ok(()),
            Some(until) => {
                let ago = Instant::now().saturating_duration_since(until);
                let at = chrono::Utc::now() - chrono::Duration::from_std(ago).unwrap_or_default();
                Err(errors::expired(
                    ago.as_secs(),
                    &schema::iso(at.timestamp_millis()),
                ))
            }
            None => Err(errors::unauthenticated()),
        }
    }

    /// Spends one call from the budgets, or answers the 429 of the first one spent.
    fn spend(&self, search: bool) -> Result<(), Response> {
        let now = Instant::now();
        let mut rate = lock(&self.rate);
        let today = chrono::Utc::now().timestamp_millis().div_euclid(86_400_000);
        if rate.day != today {
            rate.day = today;
            rate.day_count = 0;
        }
        if let Some(limit) = self.options.daily_limit
            && rate.day_count >= limit
        {
            rate.hits.daily += 1;
            let mut response = errors::rate_limited(Policy::Daily, None);
            if !search {
                drop(rate);
                self.rate_headers(response.headers_mut(), Some(0));
            }
            return Err(response);
        }
        if search {
            if let Some(limit) = self.options.search_per_second {
                trim(&mut rate.search, now, Duration::from_secs(1));
                if rate.search.len() >= limit as usize {
                    rate.hits.secondly += 1;
                    return Err(errors::rate_limited(Policy::Secondly, None));
                }
                rate.search.push_back(now);
            }
        } else if let Some(limit) = self.options.requests_per_10s {
            trim(&mut rate.burst, now, Duration::from_secs(10));
            if rate.burst.len() >= limit as usize {
                rate.hits.ten_secondly += 1;
                drop(rate);
                let mut response = errors::rate_limited(Policy::TenSecondlyRolling, None);
                self.rate_headers(response.headers_mut(), Some(0));
                return Err(response);
            }
            rate.burst.push_back(now);
        }
        rate.day_count += 1;
        Ok(())
    }

    fn rate_headers(&self, headers: &mut HeaderMap, remaining: Option<u32>) {
        let Some(max) = self.options.requests_per_10s else {
            return;
        };
        let mut rate = lock(&self.rate);
        trim(&mut rate.burst, Instant::now(), Duration::from_secs(10));
        let left = remaining.unwrap_or_else(|| max.saturating_sub(rate.burst.len() as u32));
        let daily = self
            .options
            .daily_limit
            .map(|limit| (limit, limit.saturating_sub(rate.day_count)));
        routes::set_rate_headers(headers, max, left, daily);
    }

    fn refresh(
        &self,
        grant: &str,
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
    ) -> Option<TokenResponse> {
        let app = self.options.oauth.as_ref()?;
        if grant != "refresh_token"
            || client_id != app.client_id
            || client_secret != app.client_secret
            || refresh_token != app.refresh_token
        {
            return None;
        }
        let mut oauth = lock(&self.oauth);
        oauth.refreshes += 1;
        let token = format!(
            "CJSP{}x{:016x}",
            oauth.refreshes,
            self.options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ oauth.refreshes
        );
        oauth
            .issued
            .insert(token.clone(), Instant::now() + app.access_token_lifetime);
        Some(TokenResponse {
            access_token: token,
            refresh_token: Some(app.refresh_token.clone()),
            expires_in: app.access_token_lifetime.as_secs(),
            token_type: "bearer".into(),
        })
    }
}

fn trim(window: &mut VecDeque<Instant>, now: Instant, span: Duration) {
    while window
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= span)
    {
        window.pop_front();
    }
}

/// A contact as the control API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxContact {
    /// The record id.
    pub id: String,
    /// Set properties (including the maintained ones).
    pub properties: BTreeMap<String, String>,
    /// `lastmodifieddate` in ms.
    pub modified_ms: i64,
    /// `createdate` in ms.
    pub created_ms: i64,
}

impl SandboxContact {
    fn of(c: &store::Contact) -> SandboxContact {
        SandboxContact {
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
    /// No such contact.
    #[error("no contact {0}")]
    NotFound(String),
    /// The email belongs to another contact.
    #[error("email already used by contact {0}")]
    Conflict(u64),
    /// A value HubSpot would refuse.
    #[error("invalid value: {0}")]
    Invalid(String),
}

impl From<errors::WriteError> for SandboxError {
    fn from(e: errors::WriteError) -> Self {
        match e {
            errors::WriteError::NotFound(id) => SandboxError::NotFound(id),
            errors::WriteError::Conflict { existing } => SandboxError::Conflict(existing),
            errors::WriteError::Invalid(list) => SandboxError::Invalid(
                list.into_iter()
                    .map(|i| i.message)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
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
            store: Mutex::new(Store::new(options.search_index_lag)),
            counters: Arc::new(Counters::default()),
            faults: Arc::new(FaultInjector::new(options.seed)),
            rate: Mutex::new(RateState::default()),
            oauth: Mutex::new(OAuthState::default()),
            arrivals: Mutex::new(Vec::new()),
            last_ms: AtomicI64::new(0),
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

    /// Adds `n` deterministic, realistic contacts (same `seed`, same contacts); returns
    /// their ids. Their dates are fixed points in 2025, one to three seconds apart.
    pub fn seed_contacts(&self, n: usize, seed: u64) -> Vec<String> {
        const FIRST: [&str; 16] = [
            "Ada",
            "Grace",
            "Alan",
            "Edsger",
            "Barbara",
            "Donald",
            "Margaret",
            "Ken",
            "Frances",
            "John",
            "Radia",
            "Linus",
            "Katherine",
            "Dennis",
            "Hedy",
            "Tim",
        ];
        const LAST: [&str; 16] = [
            "Lovelace",
            "Hopper",
            "Turing",
            "Dijkstra",
            "Liskov",
            "Knuth",
            "Hamilton",
            "Thompson",
            "Allen",
            "McCarthy",
            "Perlman",
            "Torvalds",
            "Johnson",
            "Ritchie",
            "Lamarr",
            "Berners-Lee",
        ];
        const COMPANIES: [&str; 10] = [
            "Acme",
            "Globex",
            "Initech",
            "Umbrella",
            "Hooli",
            "Stark Industries",
            "Wayne Enterprises",
            "Wonka",
            "Tyrell",
            "Cyberdyne",
        ];
        const CITIES: [&str; 10] = [
            "Oslo", "Lyon", "Austin", "Leeds", "Porto", "Ghent", "Graz", "Turku", "Cork", "Bergen",
        ];
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = self.inner.store();
        let mut at: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z
        let mut ids = Vec::with_capacity(n);
        let start = store.count();
        for i in 0..n {
            let serial = start + i;
            let first = FIRST[rng.random_range(0..FIRST.len())];
            let last = LAST[rng.random_range(0..LAST.len())];
            let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
            let domain = company.to_lowercase().replace(' ', "");
            let mut props = BTreeMap::new();
            props.insert(
                "email".to_string(),
                format!(
                    "{}.{}.{serial}@{domain}.example",
                    first.to_lowercase(),
                    last.to_lowercase().replace('-', "")
                ),
            );
            props.insert("firstname".into(), first.to_string());
            props.insert("lastname".into(), last.to_string());
            props.insert("company".into(), company.to_string());
            props.insert(
                "city".into(),
                CITIES[rng.random_range(0..CITIES.len())].to_string(),
            );
            props.insert(
                "phone".into(),
                format!(
                    "+1 555 {:03} {:04}",
                    rng.random_range(0..1000),
                    rng.random_range(0..10_000)
                ),
            );
            let stage = LIFECYCLE_STAGES[rng.random_range(0..6)];
            props.insert("lifecyclestage".into(), stage.to_string());
            if rng.random_bool(0.6) {
                let status = LEAD_STATUSES[rng.random_range(0..LEAD_STATUSES.len())];
                props.insert("hs_lead_status".into(), status.to_string());
            }
            at += rng.random_range(1_000..3_000);
            ids.push(store.insert_seeded(props, at).to_string());
        }
        ids
    }

    /// Creates a contact with HubSpot's validation; returns its id.
    pub fn create_contact(&self, props: &[(&str, &str)]) -> Result<String, SandboxError> {
        let now = self.inner.now_ms();
        let c = self.inner.store().create(&string_props(props), now)?;
        Ok(c.id.to_string())
    }

    /// Edits a contact as a user would in HubSpot's UI: `lastmodifieddate` moves to now.
    pub fn edit(&self, id: &str, props: &[(&str, &str)]) -> Result<SandboxContact, SandboxError> {
        let now = self.inner.now_ms();
        self.edit_at(id, props, now)
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
        let id = parse_id(id)?;
        let c = self
            .inner
            .store()
            .update(id, &string_props(props), modified_ms)?;
        Ok(SandboxContact::of(&c))
    }

    /// Edits many contacts in one burst: every one gets the same `lastmodifieddate` (one
    /// millisecond), as a bulk import or workflow does. `edit` maps each id to its changes.
    pub fn edit_burst<F>(&self, ids: &[String], mut edit: F) -> Result<i64, SandboxError>
    where
        F: FnMut(&str) -> Vec<(String, String)>,
    {
        let now = self.inner.now_ms();
        let mut store = self.inner.store();
        for id in ids {
            let props: BTreeMap<String, String> = edit(id).into_iter().collect();
            store.update(parse_id(id)?, &props, now)?;
        }
        Ok(now)
    }

    /// Archives a contact, as deleting it in HubSpot does.
    pub fn archive(&self, id: &str) -> Result<(), SandboxError> {
        let now = self.inner.now_ms();
        match self.inner.store().archive(parse_id(id)?, now) {
            Some(_) => Ok(()),
            None => Err(SandboxError::NotFound(id.to_string())),
        }
    }

    /// Merges `other` into `primary`; returns the new record's id.
    pub fn merge(&self, primary: &str, other: &str) -> Result<String, SandboxError> {
        let now = self.inner.now_ms();
        let c = self
            .inner
            .store()
            .merge(parse_id(primary)?, parse_id(other)?, now)?;
        Ok(c.id.to_string())
    }

    /// A live contact (merged-away ids resolve to the survivor).
    pub fn get(&self, id: &str) -> Option<SandboxContact> {
        let id = id.parse().ok()?;
        self.inner.store().get(id).map(|c| SandboxContact::of(c))
    }

    /// A live contact by email, case-insensitively.
    pub fn find_by_email(&self, email: &str) -> Option<SandboxContact> {
        self.inner
            .store()
            .by_email(email)
            .map(|c| SandboxContact::of(c))
    }

    /// Every live contact, in id order.
    pub fn contacts(&self) -> Vec<SandboxContact> {
        self.inner
            .store()
            .all()
            .map(|c| SandboxContact::of(c))
            .collect()
    }

    /// How many live contacts there are.
    pub fn count(&self) -> usize {
        self.inner.store().count()
    }

    /// The property definitions it serves.
    pub fn property_definitions(&self) -> Vec<Property> {
        self.inner.store().schema.all().cloned().collect()
    }
}
