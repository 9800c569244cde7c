//! A faithful local Salesforce org: the OAuth token endpoint and the REST resources truce
//! (and simple-salesforce) use, over real HTTP, with Salesforce's rules and error bodies.
//!
//! What it reproduces: tokens that expire and `INVALID_SESSION_ID`; `query`/`queryAll` with
//! a strict SOQL subset ([`soql`]) paged at 2,000 rows through `nextRecordsUrl`; sObject
//! rows (create, get, update, delete, upsert and get by external id); sObject Collections
//! (create, update, upsert, delete, retrieve; at most 200 records; per-record results);
//! `/composite` (25 subrequests, at most five queries or collections, `allOrNone`,
//! `referenceId` references) counted as ONE API call; `updated`/`deleted`; `describe`;
//! `limits` and the `Sforce-Limit-Info` header; `REQUEST_LIMIT_EXCEEDED` once the daily
//! allocation is spent; validation from describe; 18-character ids with the real key
//! prefixes; `LastModifiedDate`/`SystemModstamp` kept at whole seconds.
//!
//! What tests, the demo and benchmarks control, in process: deterministic seeding, edits as
//! a user makes them, lead conversion, delete and merge, a pinned clock, request counters,
//! fault injection (5xx, `UNABLE_TO_LOCK_ROW`, latency, dropped connections, malformed
//! bodies), the API usage counter, and token expiry.
//!
//! Not reproduced: relationship queries, aggregate functions, `OFFSET`, date literals such
//! as `TODAY`, Bulk API, the SOAP API. `GET /limits` is not counted as an API call here
//! (so a paused client can watch usage fall without spending it); whether Salesforce
//! counts it is not confirmed.

mod composite;
pub mod errors;
mod routes;
pub mod soql;
pub mod store;
pub mod validate;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value, json};

use crate::common::{Counters, FaultInjector, Faults, Served};
use crate::lock;

pub use errors::SfError;
pub use store::{Upserted, ValidationRule};

/// How a sandbox org is set up.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The connected app's consumer key the token endpoint accepts.
    pub client_id: String,
    /// Its consumer secret.
    pub client_secret: String,
    /// A refresh token accepted by the `refresh_token` grant (none: that grant is refused).
    pub refresh_token: Option<String>,
    /// How long an access token lives (none: until [`SalesforceSandbox::expire_tokens`]).
    pub token_lifetime: Option<Duration>,
    /// Seed for ids of faults and lock-row draws.
    pub seed: u64,
    /// The daily API request allocation.
    pub daily_limit: u64,
    /// A duplicate rule refusing a second Lead or Contact with the same email.
    pub duplicate_rule_on_email: bool,
    /// An External ID text field added to Lead and Contact (`HubSpot_Contact_Id__c`).
    pub external_id_field: Option<String>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            client_id: "truce-sandbox-client".into(),
            client_secret: "truce-sandbox-secret".into(),
            refresh_token: Some("truce-sandbox-refresh".into()),
            token_lifetime: None,
            seed: 1,
            daily_limit: 100_000,
            duplicate_rule_on_email: false,
            external_id_field: Some("HubSpot_Contact_Id__c".into()),
        }
    }
}

/// Salesforce-specific faults on top of the shared ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SalesforceFaults {
    /// The shared faults (5xx, latency, dropped connection, malformed body...).
    pub faults: Faults,
    /// Probability that one record of a write fails with `UNABLE_TO_LOCK_ROW`.
    pub lock_row: f64,
}

pub(crate) struct QueryCursor {
    pub(crate) records: Arc<Vec<Value>>,
}

pub(crate) struct Shared {
    pub(crate) opts: SandboxOptions,
    pub(crate) org: Mutex<Org>,
    pub(crate) tokens: Mutex<HashMap<String, Option<Instant>>>,
    pub(crate) token_seq: AtomicU64,
    pub(crate) usage: AtomicU64,
    pub(crate) limit: AtomicU64,
    pub(crate) counters: Arc<Counters>,
    pub(crate) faults: Arc<FaultInjector>,
    pub(crate) lock_row: Mutex<(f64, StdRng)>,
    pub(crate) cursors: Mutex<HashMap<String, QueryCursor>>,
    pub(crate) cursor_seq: AtomicU64,
    pub(crate) instance_url: Mutex<Option<String>>,
}

pub use store::Org;

impl Shared {
    /// Draws whether the next record write hits a row lock.
    pub(crate) fn draw_lock_row(&self) -> bool {
        let mut guard = lock(&self.lock_row);
        let p = guard.0;
        p > 0.0 && guard.1.random::<f64>() < p
    }
}

/// A Salesforce org on loopback. Cheap to clone; clones share the org.
#[derive(Clone)]
pub struct SalesforceSandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SalesforceSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceSandbox").finish_non_exhaustive()
    }
}

const FIRST: [&str; 24] = [
    "Ada", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Keiko",
    "Liam", "Maya", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wen", "Yusuf",
];
const LAST: [&str; 24] = [
    "Adams", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "O'Neil", "Patel", "Quispe", "Rossi", "Schmidt",
    "Tanaka", "Ulrich", "Varga", "Weber", "Young",
];
const COMPANIES: [&str; 12] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
];
const TITLES: [&str; 4] = ["Head of Ops", "CFO", "Analyst", "Director"];
const CITIES: [&str; 10] = [
    "Berlin", "Lisbon", "Toronto", "Austin", "Osaka", "Nairobi", "Lyon", "Denver", "Porto",
    "Dublin",
];

impl SalesforceSandbox {
    /// An empty org with these options.
    pub fn new(opts: SandboxOptions) -> SalesforceSandbox {
        let org = Org::new(opts.external_id_field.clone(), opts.duplicate_rule_on_email);
        let shared = Shared {
            limit: AtomicU64::new(opts.daily_limit),
            faults: Arc::new(FaultInjector::new(opts.seed)),
            lock_row: Mutex::new((0.0, StdRng::seed_from_u64(opts.seed ^ 0x5eed))),
            opts,
            org: Mutex::new(org),
            tokens: Mutex::new(HashMap::new()),
            token_seq: AtomicU64::new(1),
            usage: AtomicU64::new(0),
            counters: Arc::new(Counters::default()),
            cursors: Mutex::new(HashMap::new()),
            cursor_seq: AtomicU64::new(1),
            instance_url: Mutex::new(None),
        };
        SalesforceSandbox {
            shared: Arc::new(shared),
        }
    }

    /// The routes (token endpoint and REST API), with counting and fault injection.
    pub fn router(&self) -> Router {
        routes::router(self.shared.clone())
    }

    /// Serves the org on `addr` (port 0 picks one). Token responses then carry the served
    /// address as `instance_url`.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<Served> {
        let served = crate::common::serve(self.router(), addr).await?;
        self.set_instance_url(&served.url());
        Ok(served)
    }

    /// Sets the `instance_url` the token endpoint hands out (for serving behind TLS).
    pub fn set_instance_url(&self, url: &str) {
        *lock(&self.shared.instance_url) = Some(url.trim_end_matches('/').to_string());
    }

    /// The options this org was made with (the credentials it accepts).
    pub fn options(&self) -> &SandboxOptions {
        &self.shared.opts
    }

    fn org(&self) -> MutexGuard<'_, Org> {
        lock(&self.shared.org)
    }

    /// Creates `n` realistic leads, deterministically from `seed`; returns their ids.
    pub fn seed_leads(&self, n: usize, seed: u64) -> Vec<String> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut org = self.org();
        let base = org.count("Lead");
        (0..n)
            .filter_map(|i| {
                let (first, last, company, city) = pick(&mut rng);
                let status = store::LEAD_STATUSES[[0, 0, 1, 3][rng.random_range(0..4usize)]];
                let title = ["CTO", "VP Sales", "Engineer", "Buyer", "Founder"][rng.random_range(0..5usize)];
                let body = json!({
                    "FirstName": first, "LastName": last, "Company": company, "City": city,
                    "Email": email(first, last, company, base + i),
                    "Phone": format!("+1 555 {:04}", rng.random_range(0..10_000u32)),
                    "Status": status,
                    "LeadSource": store::LEAD_SOURCES[rng.random_range(0..store::LEAD_SOURCES.len())],
                    "Title": title,
                });
                org.create("Lead", &obj(body)).ok()
            })
            .collect()
    }

    /// Creates `n` realistic contacts, deterministically from `seed`; returns their ids.
    pub fn seed_contacts(&self, n: usize, seed: u64) -> Vec<String> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xc0);
        let mut org = self.org();
        let base = org.count("Contact") + 1_000_000;
        (0..n)
            .filter_map(|i| {
                let (first, last, company, city) = pick(&mut rng);
                let body = json!({
                    "FirstName": first, "LastName": last, "MailingCity": city,
                    "Email": email(first, last, company, base + i),
                    "Phone": format!("+1 555 {:04}", rng.random_range(0..10_000u32)),
                    "LeadSource": store::LEAD_SOURCES[rng.random_range(0..store::LEAD_SOURCES.len())],
                });
                org.create("Contact", &obj(body)).ok()
            })
            .collect()
    }

    /// Creates a record (validated as the API would), returning its id.
    pub fn create(&self, object: &str, fields: Value) -> Result<String, Vec<SfError>> {
        self.org().create(object, &obj(fields))
    }

    /// Edits a record as a user would in the UI: validated, and `LastModifiedDate` and
    /// `SystemModstamp` move to now.
    pub fn edit(&self, object: &str, id: &str, fields: Value) -> Result<(), Vec<SfError>> {
        self.org().update(object, id, &obj(fields))
    }

    /// Makes `n` edits as sales people would, deterministically from `seed`: a lead's status
    /// moves on, a title or phone number changes, a contact moves city. Converted and
    /// deleted records are left alone. Returns `(object, id)` of each edited record.
    pub fn simulate_user_edits(&self, n: usize, seed: u64) -> Vec<(String, String)> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xed17);
        let mut org = self.org();
        let live = |org: &Org, object: &str| -> Vec<String> {
            org.rows(object)
                .filter(|r| r.get("IsDeleted") != Some(&Value::Bool(true)))
                .filter(|r| r.get("IsConverted") != Some(&Value::Bool(true)))
                .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_string))
                .collect()
        };
        let leads = live(&org, "Lead");
        let contacts = live(&org, "Contact");
        let mut edited = Vec::new();
        for _ in 0..n {
            let lead_turn =
                contacts.is_empty() || (!leads.is_empty() && rng.random_range(0..3u32) < 2);
            let (object, pool) = if lead_turn {
                ("Lead", &leads)
            } else {
                ("Contact", &contacts)
            };
            if pool.is_empty() {
                break;
            }
            let id = pool[rng.random_range(0..pool.len())].clone();
            let body = match (object, rng.random_range(0..3u32)) {
                ("Lead", 0) => {
                    json!({"Status": store::LEAD_STATUSES[if rng.random_range(0..2u32) == 0 { 1 } else { 3 }]})
                }
                ("Lead", 1) => json!({"Title": TITLES[rng.random_range(0..TITLES.len())]}),
                ("Lead", _) => json!({"City": CITIES[rng.random_range(0..CITIES.len())]}),
                (_, 0) => json!({"MailingCity": CITIES[rng.random_range(0..CITIES.len())]}),
                (_, 1) => json!({"Title": TITLES[rng.random_range(0..TITLES.len())]}),
                _ => json!({"Phone": format!("+1 555 {:04}", rng.random_range(0..10_000u32))}),
            };
            if org.update(object, &id, &obj(body)).is_ok() {
                edited.push((object.to_string(), id));
            }
        }
        edited
    }

    /// Converts a lead: creates its Account and Contact, marks it converted (read-only).
    pub fn convert_lead(&self, id: &str) -> Result<(String, String), Vec<SfError>> {
        self.org().convert_lead(id)
    }

    /// Moves a record to the recycle bin.
    pub fn delete(&self, object: &str, id: &str) -> Result<(), Vec<SfError>> {
        self.org().delete(object, id)
    }

    /// Merges `loser` into `master` (the loser is deleted with `MasterRecordId`).
    pub fn merge(&self, object: &str, master: &str, loser: &str) -> Result<(), Vec<SfError>> {
        self.org().merge(object, master, loser)
    }

    /// A record with all its fields (deleted ones included), as JSON.
    pub fn get(&self, object: &str, id: &str) -> Option<Value> {
        self.org().get(object, id).map(|m| Value::Object(m.clone()))
    }

    /// Live (not deleted) records of an object.
    pub fn count(&self, object: &str) -> usize {
        self.org().count(object)
    }

    /// `(object, id)` of live Leads and Contacts with this email (case-insensitive).
    pub fn find_by_email(&self, email: &str) -> Vec<(String, String)> {
        let org = self.org();
        let want = email.to_lowercase();
        let mut out = Vec::new();
        for object in ["Lead", "Contact"] {
            for row in org.rows(object) {
                let live = row.get("IsDeleted") != Some(&Value::Bool(true));
                let hit = row
                    .get("Email")
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
                    .as_deref()
                    == Some(&want);
                if live
                    && hit
                    && let Some(id) = row.get("Id").and_then(Value::as_str)
                {
                    out.push((object.to_string(), id.to_string()));
                }
            }
        }
        out
    }

    /// Every id of an object, deleted ones included, in id order.
    pub fn ids(&self, object: &str) -> Vec<String> {
        self.org()
            .rows(object)
            .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    /// Requests per endpoint.
    pub fn counters(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: SalesforceFaults) {
        self.shared.faults.set(faults.faults);
        lock(&self.shared.lock_row).0 = faults.lock_row;
    }

    /// `(used, max)` of the daily API allocation.
    pub fn api_usage(&self) -> (u64, u64) {
        (
            self.shared.usage.load(Ordering::SeqCst),
            self.shared.limit.load(Ordering::SeqCst),
        )
    }

    /// Sets the calls used today (tests make usage rise or fall with it).
    pub fn set_api_usage(&self, used: u64) {
        self.shared.usage.store(used, Ordering::SeqCst);
    }

    /// Changes the daily allocation.
    pub fn set_daily_limit(&self, max: u64) {
        self.shared.limit.store(max, Ordering::SeqCst);
    }

    /// Invalidates every access token issued so far (the next data call answers 401
    /// `INVALID_SESSION_ID`), as a session timeout would.
    pub fn expire_tokens(&self) {
        lock(&self.shared.tokens).clear();
    }

    /// Adds a custom validation rule, as an admin would in Setup.
    pub fn add_validation_rule(&self, rule: ValidationRule) {
        self.org().rules.push(rule);
    }

    /// Forgets every open query cursor, as Salesforce does with idle ones after about 15
    /// minutes: their `nextRecordsUrl` then answers `INVALID_QUERY_LOCATOR`.
    pub fn expire_query_locators(&self) {
        lock(&self.shared.cursors).clear();
    }

    /// A few lines for `truce sandbox` to print: where to log in and what it accepts.
    pub fn banner(&self, login_url: &str) -> String {
        let o = &self.shared.opts;
        format!(
            "Salesforce sandbox\n  login_url     = \"{login_url}\"\n  grant         = \"client_credentials\" (or \"refresh_token\")\n  client_id     = {}\n  client_secret = {}\n  refresh_token = {}\n  external_id_field = {}\n  daily API allocation = {}",
            o.client_id,
            o.client_secret,
            o.refresh_token
                .as_deref()
                .unwrap_or("(refresh_token grant disabled)"),
            o.external_id_field.as_deref().unwrap_or("(none)"),
            self.shared.limit.load(Ordering::SeqCst),
        )
    }

    /// Pins the org's clock (`None` follows the wall clock again), so many edits share one
    /// `SystemModstamp`, or time moves exactly as a test says.
    pub fn pin_clock(&self, at: Option<DateTime<Utc>>) {
        self.org().pinned_now = at;
    }

    /// The org's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.org().now()
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn pick(rng: &mut StdRng) -> (&'static str, &'static str, &'static str, &'static str) {
    (
        FIRST[rng.random_range(0..FIRST.len())],
        LAST[rng.random_range(0..LAST.len())],
        COMPANIES[rng.random_range(0..COMPANIES.len())],
        CITIES[rng.random_range(0..CITIES.len())],
    )
}

fn email(first: &str, last: &str, company: &str, n: usize) -> String {
    let clean = |s: &str| {
        s.to_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    };
    format!(
        "{}.{}{}@{}.example.com",
        clean(first),
        clean(last),
        n,
        clean(company)
    )
}
