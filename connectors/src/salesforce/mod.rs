//! Salesforce REST: [`SalesforceConnector`], the [`Connector`] truce syncs through.
//!
//! - [`config`]: [`SalesforceConfig`], with the objects and fields to read, the grant and
//!   budgets, and the OAuth [`Grant`].
//! - `objects`: what the client knows about each sObject, as a table.
//! - `calls`: Salesforce's half of the shared call pipeline: classification of refusals,
//!   the session (token and `instance_url`), the budgets plugged in.
//! - `limits`: `Sforce-Limit-Info`, the `daily_share` gate, requests in flight.
//! - `pull`: polls and lookups, packed into `/composite` calls; reads by id through
//!   sObject Collections retrieve, 2,000 a call.
//! - `roles`: an Opportunity's contacts read from its OpportunityContactRole records, and
//!   their own change stream.
//! - `write`: sObject Collections, five per `/composite` call.
//! - `role_writes`: an Opportunity's desired contacts written as role creates and deletes.
//! - `jwt`: the signed assertion of the JWT bearer grant.
//! - `records`: query rows → [`crate::Record`] or [`crate::Rejected`].
//! - `describe`: describe → [`FieldInfo`]; what each object fills on create, asked once.
//! - [`soql`]: the one place SOQL text is built (escaped literals, checked names and ids).
//! - [`wire`]: Salesforce's JSON as serde types.

mod calls;
pub mod config;
mod describe;
pub mod jwt;
mod limits;
mod objects;
mod pull;
mod records;
mod role_writes;
mod roles;
mod scan;
pub mod soql;
pub mod wire;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::contract::{
    Connector, Cursor, Cursors, Fetched, FieldInfo, ObjectType, PullPage, Quota, ScanPage, System,
    Write, WriteOutcome,
};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::{HttpClient, Pipeline};
use crate::lock;
use crate::lookback::{Clock, PollTimes};

pub use config::{Grant, SalesforceConfig};

use calls::SalesforceCalls;
use objects::{Configured, config_error};

/// Where a stream's last page ended, and the `nextRecordsUrl` that continues from there.
#[derive(Debug, Clone)]
struct PendingPage {
    at: Option<Cursor>,
    next_url: Option<String>,
}

/// The Salesforce connector. Cheap to clone; clones share one pipeline and its budgets.
#[derive(Debug, Clone)]
pub struct SalesforceConnector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pipeline: Pipeline<SalesforceCalls>,
    objects: Vec<Configured>,
    /// The contact roles, read when an Opportunity's contacts are configured.
    roles: Option<Configured>,
    object_types: Vec<ObjectType>,
    max_concurrency: usize,
    pages: Mutex<HashMap<String, PendingPage>>,
    /// Scans in progress, per object (see `scan.rs`).
    scans: Mutex<HashMap<String, scan::ScanState>>,
    polls: PollTimes,
    /// What each object's describe said Salesforce fills on create (asked once).
    filled: Mutex<HashMap<ObjectType, Vec<String>>>,
}

impl SalesforceConnector {
    /// A connector for this config. Fails (fatally) when an object is not one this client
    /// reads yet, or a configured field name is not a Salesforce field name, so no such
    /// name can reach a query.
    pub fn new(config: SalesforceConfig, http: HttpClient) -> Result<SalesforceConnector, Error> {
        let objects = objects::configure(&config.objects)?;
        if let Some(field) = &config.external_id_field {
            soql::FieldName::new(field).map_err(config_error)?;
        }
        if !(0.0..=1.0).contains(&config.daily_share) {
            return Err(config_error(format!(
                "daily_share must be between 0 and 1, not {}",
                config.daily_share
            )));
        }
        let vendor = SalesforceCalls::new(&config)?;
        let roles = objects
            .iter()
            .any(|o| o.children.is_some())
            .then(objects::contact_roles);
        Ok(SalesforceConnector {
            inner: Arc::new(Inner {
                pipeline: Pipeline::new(http, vendor, None, config.retry.clone()),
                roles,
                object_types: objects.iter().map(|o| o.spec.object).collect(),
                objects,
                max_concurrency: config.max_concurrency.max(1),
                pages: Mutex::new(HashMap::new()),
                scans: Mutex::new(HashMap::new()),
                polls: PollTimes::default(),
                filled: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Times polls with `clock` (ms since the epoch) instead of the system clock, so a test
    /// can step past the look-back without waiting for it.
    pub fn with_clock(self, clock: Clock) -> SalesforceConnector {
        self.inner.polls.set_clock(clock);
        self
    }

    /// Logs in (or finds the session already open) without any API call: what `truce
    /// check` tries first, so a refused login is one clear error.
    pub async fn login(&self) -> Result<(), Error> {
        self.inner.pipeline.authenticate().await
    }

    /// The OAuth grant in use, as the config spells it (`client_credentials`,
    /// `refresh_token`, `jwt_bearer`).
    pub fn grant(&self) -> &'static str {
        self.inner.pipeline.vendor().grant()
    }

    /// Why pulls and writes are paused (usage at `daily_share`, or the allocation spent),
    /// when they are.
    pub fn paused(&self) -> Option<String> {
        self.inner.pipeline.vendor().limits().is_paused()
    }

    fn data_path(&self, rest: &str) -> String {
        self.inner.pipeline.vendor().data_path(rest)
    }

    fn pages(&self) -> MutexGuard<'_, HashMap<String, PendingPage>> {
        lock(&self.inner.pages)
    }

    fn scans(&self) -> MutexGuard<'_, HashMap<String, scan::ScanState>> {
        lock(&self.inner.scans)
    }

    fn configured(&self, object: ObjectType, action: &str) -> Result<&Configured, Error> {
        self.inner
            .objects
            .iter()
            .find(|o| o.spec.object == object)
            .ok_or_else(|| {
                Error::new(
                    ErrorClass::Fatal,
                    action,
                    ApiError::message(format!(
                        "the Salesforce connector is not configured to read {object}"
                    )),
                )
            })
    }
}

#[async_trait]
impl Connector for SalesforceConnector {
    fn system(&self) -> System {
        System::Salesforce
    }

    fn objects(&self) -> &[ObjectType] {
        &self.inner.object_types
    }

    fn calls(&self) -> u64 {
        self.inner.pipeline.calls()
    }

    async fn pull(
        &self,
        since: &Cursors,
        position: Option<&Cursors>,
        lookback: Duration,
    ) -> Result<PullPage, Error> {
        // A second try only happens after an expired query locator, and goes by keyset.
        let page = match self.pull_once(since, position, lookback).await? {
            Some(page) => Some(page),
            None => self.pull_once(since, position, lookback).await?,
        };
        match page {
            Some(page) => {
                if page.done {
                    self.inner.polls.finish();
                }
                Ok(page)
            }
            None => Err(Error::new(
                ErrorClass::Transient,
                "Salesforce pull of changes",
                ApiError::message("query locator expired twice in a row"),
            )),
        }
    }

    async fn scan(&self, object: ObjectType, resume: Option<&str>) -> Result<ScanPage, Error> {
        let object = self.configured(object, &format!("Salesforce scan of {object}"))?;
        self.scan_page(object, resume).await
    }

    async fn fetch(&self, object: ObjectType, ids: &[String]) -> Result<Fetched, Error> {
        let object = self.configured(object, &format!("Salesforce fetch of {object}"))?;
        self.fetch_ids(object, ids).await
    }

    async fn find_by_email(&self, emails: &[String]) -> Result<Fetched, Error> {
        self.find_emails(emails).await
    }

    async fn apply(&self, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, Error> {
        self.apply_writes(writes).await
    }

    async fn describe(&self, object: ObjectType) -> Result<Vec<FieldInfo>, Error> {
        let object = self.configured(object, &format!("Salesforce describe of {object}"))?;
        self.describe_object(object).await
    }

    async fn filled_on_create(&self, object: ObjectType) -> Result<Vec<String>, Error> {
        if let Some(known) = lock(&self.inner.filled).get(&object) {
            return Ok(known.clone());
        }
        let action = format!("Salesforce describe of {object}");
        let described = self
            .describe_object(self.configured(object, &action)?)
            .await?;
        let filled: Vec<String> = described
            .into_iter()
            .filter(|f| f.filled_on_create)
            .map(|f| f.name)
            .collect();
        lock(&self.inner.filled).insert(object, filled.clone());
        Ok(filled)
    }

    fn quota(&self) -> Option<Quota> {
        self.inner.pipeline.vendor().limits().quota()
    }
}
