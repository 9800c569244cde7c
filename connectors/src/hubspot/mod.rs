//! HubSpot CRM: [`HubSpotConnector`], the [`Connector`] truce syncs through.
//!
//! - [`config`]: [`HubSpotConfig`], with the objects and properties to read, budgets and
//!   retry policy, and [`HubSpotAuth`].
//! - `objects`: what the client knows about each object (contacts, companies, deals) and
//!   its associations, as a table.
//! - [`paths`]: [`ApiVersion`] and the one builder of every path, per family
//!   (`2026-09` or `v3`).
//! - `calls`: HubSpot's half of the shared call pipeline: classification of refusals,
//!   the token (static or OAuth refresh), the budgets plugged in.
//! - `limits`: the budgets (10 s burst, search per second, daily share), the
//!   `X-HubSpot-RateLimit-*` headers and 429 policies.
//! - `pull`: search, the archive sweep, list scans, batch reads.
//! - `write`: batch writes, splitting, matching answers to writes.
//! - `associations`: association fields read with every page and by
//!   [`Connector::associations`] (v4 batch reads).
//! - `linking`: association fields written (primary company, a deal's contacts), batched
//!   across the writes of one `apply`.
//! - `records`: wire objects → [`crate::Record`] or [`crate::Rejected`].
//! - `describe`: property definitions → [`FieldInfo`]; deal stages and pipelines from the
//!   pipelines API.
//! - [`wire`]: serde types of HubSpot's JSON.

mod associations;
mod calls;
mod catch_up;
pub mod config;
mod describe;
mod limits;
mod link_answers;
mod linking;
mod objects;
pub mod paths;
mod pull;
mod records;
pub mod wire;
mod write;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::contract::{
    Associated, Connector, Cursor, Cursors, Fetched, FieldInfo, ObjectType, PullPage, Quota,
    ScanPage, System, Write, WriteOutcome,
};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::{HttpClient, Pipeline};
use crate::lookback::{Clock, PollTimes};

pub use calls::existing_id;
pub use config::{HubSpotAuth, HubSpotConfig};
pub use paths::ApiVersion;
pub use pull::{ARCHIVED_STREAM, STREAM};

use calls::HubSpotCalls;
use limits::Limits;
use objects::Configured;
use paths::Paths;

/// The HubSpot connector.
#[derive(Debug)]
pub struct HubSpotConnector {
    pipeline: Pipeline<HubSpotCalls>,
    paths: Paths,
    objects: Vec<Configured>,
    object_types: Vec<ObjectType>,
    sweep_every: Duration,
    last_sweep: Mutex<Option<Instant>>,
    /// Streams read to the end, and where: a continuation page skips them.
    finished: Mutex<HashMap<String, Cursor>>,
    polls: PollTimes,
    /// The list road's lists in progress and floors (see `pull`).
    catch_up: catch_up::CatchUps,
}

impl HubSpotConnector {
    /// A connector for `config`, sending through `http`. Fails (fatally) when the base URL
    /// is not a URL, or an object or association is not one this client reads.
    pub fn new(config: HubSpotConfig, http: HttpClient) -> Result<HubSpotConnector, Error> {
        if url::Url::parse(config.base()).is_err() {
            return Err(Error::new(
                ErrorClass::Fatal,
                "configuring HubSpot",
                ApiError::message(format!("base_url {:?} is not a URL", config.base_url)),
            ));
        }
        let objects = objects::configure(&config.objects)?;
        let vendor = HubSpotCalls::new(&config.auth, Limits::new(&config));
        let base = Some(config.base().to_string());
        Ok(HubSpotConnector {
            pipeline: Pipeline::new(http, vendor, base, config.retry.clone()),
            paths: Paths::new(config.api_version),
            object_types: objects.iter().map(|o| o.spec.object).collect(),
            objects,
            sweep_every: Duration::from_secs(300),
            last_sweep: Mutex::new(None),
            finished: Mutex::new(HashMap::new()),
            polls: PollTimes::default(),
            catch_up: catch_up::CatchUps::default(),
        })
    }

    /// Times polls with `clock` (ms since the epoch) instead of the system clock, so a test
    /// can step past the look-back without waiting for it.
    pub fn with_clock(self, clock: Clock) -> HubSpotConnector {
        self.polls.set_clock(clock);
        self
    }

    /// Sweeps archived records at most once per `every` (default 5 minutes; zero sweeps on
    /// every poll).
    pub fn with_archive_sweep_interval(mut self, every: Duration) -> HubSpotConnector {
        self.sweep_every = every;
        self
    }

    /// The family of paths this connector speaks.
    pub fn api_version(&self) -> ApiVersion {
        self.paths.version()
    }

    fn configured(&self, object: ObjectType, action: &str) -> Result<&Configured, Error> {
        self.objects
            .iter()
            .find(|o| o.spec.object == object)
            .ok_or_else(|| {
                Error::new(
                    ErrorClass::Fatal,
                    action,
                    ApiError::message(format!(
                        "the HubSpot connector is not configured to read {object}"
                    )),
                )
            })
    }
}

#[async_trait]
impl Connector for HubSpotConnector {
    fn system(&self) -> System {
        System::HubSpot
    }

    fn objects(&self) -> &[ObjectType] {
        &self.object_types
    }

    fn calls(&self) -> u64 {
        self.pipeline.calls()
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn pull(
        &self,
        since: &Cursors,
        position: Option<&Cursors>,
        lookback: Duration,
    ) -> Result<PullPage, Error> {
        self.pull_page(since, position, lookback).await
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn scan(&self, object: ObjectType, resume: Option<&str>) -> Result<ScanPage, Error> {
        let object = self.configured(object, &format!("HubSpot scan of {object}"))?;
        self.scan_page(object, resume).await
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn fetch(&self, object: ObjectType, ids: &[String]) -> Result<Fetched, Error> {
        let object = self.configured(object, &format!("HubSpot read of {object}"))?;
        self.batch_read(object, ids, false).await
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn find_by_email(&self, emails: &[String]) -> Result<Fetched, Error> {
        let mut found = Fetched::default();
        for object in self.objects.iter().filter(|o| o.spec.email.is_some()) {
            let more = self.batch_read(object, emails, true).await?;
            found.records.extend(more.records);
            found.rejected.extend(more.rejected);
        }
        Ok(found)
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn apply(&self, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, Error> {
        self.apply_writes(writes).await
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn associations(
        &self,
        object: ObjectType,
        ids: &[String],
        fields: &[String],
    ) -> Result<Vec<Associated>, Error> {
        let object = self.configured(object, &format!("HubSpot association read of {object}"))?;
        self.associated(object, ids, fields).await
    }

    async fn describe(&self, object: ObjectType) -> Result<Vec<FieldInfo>, Error> {
        let object = self.configured(object, &format!("HubSpot describe of {object}"))?;
        self.describe_object(object).await
    }

    fn quota(&self) -> Option<Quota> {
        self.pipeline.vendor().limits().quota()
    }
}
