//! A faithful local Salesforce org: the OAuth token endpoint and the REST resources truce
//! (and simple-salesforce) use, over real HTTP, with Salesforce's rules and error bodies.
//!
//! What it reproduces: the token endpoint's client-credentials (body or HTTP Basic),
//! refresh-token and JWT bearer grants ([`oauth`], [`jwt`]) with Salesforce's error bodies;
//! tokens that expire and `INVALID_SESSION_ID`; `query`/`queryAll` with a strict SOQL
//! subset ([`soql`]) paged at 2,000 rows through `nextRecordsUrl`; sObject rows (create,
//! get, update, delete, upsert and get by external id); sObject Collections (create,
//! update, upsert, delete, retrieve; at most 200 records; per-record results);
//! `/composite` (25 subrequests, at most five queries or collections, `allOrNone`,
//! `referenceId` references) counted as ONE API call; `updated`/`deleted`; `describe`;
//! `limits` and the `Sforce-Limit-Info` header; `REQUEST_LIMIT_EXCEEDED` once the daily
//! allocation is spent; validation from describe; 18-character ids with the real key
//! prefixes; `LastModifiedDate`/`SystemModstamp` kept at whole seconds.
//!
//! Its objects ([`objects`]): Lead, Contact, Account, Opportunity, OpportunityContactRole
//! and the OpportunityStage metadata rows, with checked references, stage-derived fields,
//! one primary contact role per Opportunity and Salesforce's delete cascades
//! ([`store`]).
//!
//! What tests, the demo and benchmarks control, in process: deterministic seeding, edits as
//! a user makes them, lead conversion (with `convertLead`'s options), delete and merge,
//! opportunity stages, a pinned clock (which JWT expiry follows too), request counters,
//! fault injection (5xx, `UNABLE_TO_LOCK_ROW`, latency, dropped connections, malformed
//! bodies), the API usage counter, and token expiry.
//!
//! Not reproduced: relationship queries, aggregate functions, `OFFSET`, date literals such
//! as `TODAY`, Bulk API, the SOAP API, Person Accounts, users and queues as records.
//! `GET /limits` is not counted as an API call here (so a paused client can watch usage
//! fall without spending it); whether Salesforce counts it is not confirmed.

mod composite;
pub mod errors;
pub mod jwt;
pub mod oauth;
pub mod objects;
mod routes;
mod seed;
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
use serde_json::{Map, Value};

use crate::common::{Counters, FaultInjector, Faults, Served};
use crate::lock;

pub use errors::SfError;
pub use jwt::{AppKey, JwtKeyError};
pub use store::{LeadConvert, LeadConverted, Stage, Upserted, ValidationRule};

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
    /// An External ID + Unique text field added to Account (`HubSpot_Company_Id__c`).
    pub account_external_id_field: Option<String>,
    /// An External ID + Unique text field added to Opportunity (`HubSpot_Deal_Id__c`).
    pub opportunity_external_id_field: Option<String>,
    /// Usernames of the org's users who are pre-authorized for the connected app: the
    /// `sub` a JWT bearer assertion may name.
    pub users: Vec<String>,
    /// The X.509 certificate (or RSA public key) the connected app holds for the JWT
    /// bearer grant, PEM. `None`: every assertion is refused. A PEM that cannot be read
    /// also refuses every assertion; [`SalesforceSandbox::set_jwt_certificate`] says why.
    pub jwt_certificate: Option<String>,
}

/// The username of the org's integration user (the default of [`SandboxOptions::users`]).
pub const DEFAULT_USER: &str = "integration@truce-sandbox.example.com";

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
            account_external_id_field: Some("HubSpot_Company_Id__c".into()),
            opportunity_external_id_field: Some("HubSpot_Deal_Id__c".into()),
            users: vec![DEFAULT_USER.into()],
            jwt_certificate: None,
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
    /// The connected app's JWT verification key (PKCS#1 RSA public key, DER), if readable.
    pub(crate) jwt_key: Mutex<Option<Vec<u8>>>,
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

impl SalesforceSandbox {
    /// An empty org with these options.
    pub fn new(opts: SandboxOptions) -> SalesforceSandbox {
        let external_ids = store::ExternalIds {
            person: opts.external_id_field.clone(),
            account: opts.account_external_id_field.clone(),
            opportunity: opts.opportunity_external_id_field.clone(),
        };
        let org = Org::new(external_ids, opts.duplicate_rule_on_email);
        let jwt_key = match opts.jwt_certificate.as_deref().map(jwt::public_key) {
            Some(Ok(key)) => Some(key),
            Some(Err(err)) => {
                tracing::warn!(%err, "the sandbox's JWT certificate cannot be read: every assertion will be refused");
                None
            }
            None => None,
        };
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
            jwt_key: Mutex::new(jwt_key),
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
        seed::leads(&mut self.org(), n, seed)
    }

    /// Creates `n` realistic contacts, deterministically from `seed`; returns their ids.
    pub fn seed_contacts(&self, n: usize, seed: u64) -> Vec<String> {
        seed::contacts(&mut self.org(), n, seed)
    }

    /// Creates `n` realistic accounts, deterministically from `seed`; returns their ids.
    pub fn seed_accounts(&self, n: usize, seed: u64) -> Vec<String> {
        seed::accounts(&mut self.org(), n, seed)
    }

    /// Creates `n` opportunities on the live accounts (none when there are no accounts),
    /// deterministically from `seed`; returns their ids.
    pub fn seed_opportunities(&self, n: usize, seed: u64) -> Vec<String> {
        seed::opportunities(&mut self.org(), n, seed)
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
        seed::user_edits(&mut self.org(), n, seed)
    }

    /// Converts a lead with Salesforce's defaults: creates its Account, Contact and
    /// Opportunity (the Contact its primary contact role) and marks it converted
    /// (read-only). Returns `(contact id, account id)`.
    pub fn convert_lead(&self, id: &str) -> Result<(String, String), Vec<SfError>> {
        self.org().convert_lead(id)
    }

    /// Converts a lead with `convertLead`'s options (into an existing Account or Contact,
    /// with or without an Opportunity, its name...). Nothing changes when it is refused.
    pub fn convert_lead_with(
        &self,
        id: &str,
        options: &LeadConvert,
    ) -> Result<LeadConverted, Vec<SfError>> {
        self.org().convert_lead_with(id, options)
    }

    /// The org's opportunity stages (inactive ones included), in sort order.
    pub fn opportunity_stages(&self) -> Vec<Stage> {
        self.org().stages()
    }

    /// Adds an opportunity stage at the end of the sales process, as an admin would in
    /// Setup; returns its OpportunityStage id.
    pub fn add_opportunity_stage(&self, stage: Stage) -> String {
        self.org().add_stage(stage)
    }

    /// Replaces the connected app's JWT certificate (an X.509 certificate or an RSA public
    /// key, PEM). On error the previous one stays.
    pub fn set_jwt_certificate(&self, pem: &str) -> Result<(), JwtKeyError> {
        let key = jwt::public_key(pem)?;
        *lock(&self.shared.jwt_key) = Some(key);
        Ok(())
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

    /// Ids of live records of `object` whose text `field` equals `value`
    /// (case-insensitively), e.g. an External ID.
    pub fn find_by_field(&self, object: &str, field: &str, value: &str) -> Vec<String> {
        self.org().find_by_value(object, field, value)
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
    /// `INVALID_SESSION_ID`), as a session timeout would: clients must log in again.
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
    /// `SystemModstamp`, or time moves exactly as a test says. JWT bearer assertions are
    /// checked for expiry against this clock too.
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
