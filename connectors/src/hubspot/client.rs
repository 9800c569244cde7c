//! [`HubSpotConnector`]: the [`Connector`] for HubSpot CRM v3 contacts.
//!
//! ## Pulling changes, and what it costs
//!
//! The `contacts` stream is a keyset over `(lastmodifieddate, hs_object_id)`. Every page is
//! one search, sorted ascending on both, for the records strictly after the position:
//! `(lastmodifieddate = T AND hs_object_id > id) OR lastmodifieddate > T`, 200 per page.
//! Because every page restarts the query from the last timestamp and id seen, a query never
//! gets near HubSpot's 10,000-result cap, and a burst of any size — even one where
//! thousands of records share one millisecond — is read completely, each record once.
//!
//! The first page of a poll re-reads a look-back window, in which records can become
//! visible late (search index lag); [`crate::lookback`] cuts it where the last complete poll
//! settled it, so an idle poll costs one search once the look-back has passed.
//!
//! HubSpot documents a single sort rule per search, so the connector does not rely on the
//! id tie-break being honoured: a page ends on a complete millisecond, and a millisecond
//! bigger than a page is read with a search sorted on `hs_object_id` alone (see
//! `contacts_page`). If the tie-break is honoured, that costs nothing but re-reading the
//! last millisecond of each full page; if it is not, one extra search per such page.
//!
//! Archived contacts never appear in search, and the archived list cannot be filtered by
//! time, so they are found by a *sweep*: the list endpoint with `archived=true`, read to the
//! end at most once per sweep interval (default 5 minutes, see
//! [`HubSpotConnector::with_archive_sweep_interval`]), on the last page of a poll. Archives
//! newer than the `contacts.archived` cursor (minus the look-back) are reported as deleted
//! records. Cost: an idle poll is one search call; a sweep adds ⌈archived / 100⌉ list calls
//! per interval.
//!
//! Merges need no stream of their own: the surviving record is new (or modified), so it is
//! pulled, and its `hs_merged_object_ids` become [`Record::merged_ids`].
//!
//! ## Writes
//!
//! Creates are `batch/upsert` on `email` (idempotent), updates `batch/update`, deletes
//! `batch/archive`, 100 per call. Every input carries `objectWriteTraceId` = the write's key,
//! and results and `errors[]` of a 207 are matched back by trace id, then id or email, never
//! by position. A whole batch that HubSpot refuses for good (a 400 or 409 naming one bad
//! input) is split in halves until the bad records stand alone, so one invalid email costs a
//! few calls, not the other 99 writes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use super::auth::Auth;
use super::config::HubSpotConfig;
use super::limits::{CallKind, Limits, Policy};
use super::wire::{
    BatchInputs, BatchReadRequest, BatchResponse, BatchWriteInput, CollectionResponse, ErrorBody,
    Filter, FilterGroup, IdInput, PropertiesResponse, Property, SearchRequest, SearchResponse,
    SimplePublicObject, SortSpec, StandardError,
};
use crate::contract::{
    Connector, Cursor, Cursors, Fetched, FieldInfo, FieldKind, ObjectType, PullPage, Quota, Record,
    ScanPage, System, UpsertKey, Write, WriteOp, WriteOutcome, Written,
};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::classify::class_of_status;
use crate::http::{HttpClient, Response, retry};
use crate::lookback::{Clock, PollFrom, PollTimes, poll_from};

/// The stream of live contacts, by `(lastmodifieddate, hs_object_id)`.
pub const STREAM: &str = "contacts";
/// The stream of archived contacts, by `(archivedAt, id)`.
pub const ARCHIVED_STREAM: &str = "contacts.archived";
/// Properties every pulled record carries, besides the configured ones.
pub const ALWAYS_PULLED: [&str; 5] = [
    "email",
    "hs_object_id",
    "lastmodifieddate",
    "createdate",
    "hs_merged_object_ids",
];
/// Search page size (HubSpot's maximum).
pub const SEARCH_PAGE: usize = 200;
/// List page size (HubSpot's maximum).
pub const LIST_PAGE: usize = 100;
/// Batch size (HubSpot's maximum).
pub const BATCH: usize = 100;

const CONTACTS: &str = "/crm/v3/objects/contacts";
/// The contact property holding the email, HubSpot's unique key for people.
const EMAIL: &str = "email";
const OBJECTS: [ObjectType; 1] = [ObjectType::HubSpotContact];

/// The id HubSpot names in a 409 duplicate-email answer (`Existing ID: 123`).
pub fn existing_id(api: &ApiError) -> Option<String> {
    let (_, rest) = api.message.split_once("Existing ID: ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// The HubSpot connector.
#[derive(Debug)]
pub struct HubSpotConnector {
    config: HubSpotConfig,
    http: HttpClient,
    auth: Auth,
    limits: Limits,
    pulled: Vec<String>,
    sweep_every: Duration,
    last_sweep: Mutex<Option<Instant>>,
    polls: PollTimes,
    calls: AtomicU64,
}

fn ms_of(value: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.timestamp_millis())
        .or_else(|| value.parse().ok())
}

fn id_number(id: &str) -> u64 {
    id.parse().unwrap_or(u64::MAX)
}

/// The keyset order of records: time, then numeric id.
fn key(cursor: &Cursor) -> (i64, u64) {
    (cursor.modified_at, id_number(&cursor.id))
}

/// A pulled or read contact as the engine sees it.
fn record(object: SimplePublicObject) -> Record {
    let modified_at = object
        .properties
        .get("lastmodifieddate")
        .and_then(|v| v.as_deref())
        .and_then(ms_of)
        .or_else(|| object.updated_at.as_deref().and_then(ms_of))
        .unwrap_or(0);
    let merged_ids = object
        .properties
        .get("hs_merged_object_ids")
        .and_then(|v| v.as_deref())
        .map(|v| {
            v.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let email = object
        .properties
        .get(EMAIL)
        .cloned()
        .flatten()
        .filter(|e| !e.is_empty());
    let fields = object
        .properties
        .into_iter()
        .map(|(k, v)| (k, v.map(Value::String).unwrap_or(Value::Null)))
        .collect();
    Record {
        object: ObjectType::HubSpotContact,
        id: object.id,
        modified_at,
        email,
        name: None,
        domain: None,
        fields,
        deleted: object.archived,
        merged_ids,
        merged_into: None,
        converted: None,
        outcome: None,
    }
}

/// A field value as HubSpot takes it: a string, `""` to clear.
fn wire_value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The class of one 207 error, from its category.
fn class_of_category(category: &str) -> ErrorClass {
    match category {
        "RATE_LIMITS" => ErrorClass::RateLimited,
        "INTERNAL_ERROR" | "TIMEOUT" | "SERVICE_UNAVAILABLE" | "LOCKED" => ErrorClass::Transient,
        "MISSING_SCOPES" => ErrorClass::Fatal,
        _ => ErrorClass::Permanent,
    }
}

/// What HubSpot said in one 207 error, kept as data.
fn api_of_standard(error: &StandardError) -> ApiError {
    let code = error
        .errors
        .iter()
        .find_map(|d| d.code.clone())
        .or_else(|| (!error.category.is_empty()).then(|| error.category.clone()));
    let mut fields: Vec<String> = error
        .errors
        .iter()
        .flat_map(|d| d.context.get("propertyName").cloned().unwrap_or_default())
        .collect();
    if fields.is_empty() {
        fields = error
            .context
            .get("propertyName")
            .cloned()
            .unwrap_or_default();
    }
    fields.dedup();
    let message = match error.errors.as_slice() {
        [one] if !one.message.is_empty() => one.message.clone(),
        _ => error.message.clone(),
    };
    ApiError {
        status: None,
        code,
        message,
        fields,
        retry_after: None,
    }
}

/// The write kinds, each with its batch endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Upsert,
    Create,
    Update,
    Archive,
}

impl Kind {
    fn of(write: &Write) -> Kind {
        match &write.op {
            WriteOp::Create { upsert_on: Some(_) } => Kind::Upsert,
            WriteOp::Create { upsert_on: None } => Kind::Create,
            WriteOp::Update { .. } => Kind::Update,
            WriteOp::Delete { .. } => Kind::Archive,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Kind::Upsert => "/crm/v3/objects/contacts/batch/upsert",
            Kind::Create => "/crm/v3/objects/contacts/batch/create",
            Kind::Update => "/crm/v3/objects/contacts/batch/update",
            Kind::Archive => "/crm/v3/objects/contacts/batch/archive",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Kind::Upsert => "upsert",
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Archive => "archive",
        }
    }
}

impl HubSpotConnector {
    /// A connector for `config`, sending through `http`.
    pub fn new(config: HubSpotConfig, http: HttpClient) -> Result<HubSpotConnector, Error> {
        if url::Url::parse(config.base()).is_err() {
            return Err(Error::new(
                ErrorClass::Fatal,
                "configuring HubSpot",
                ApiError::message(format!("base_url {:?} is not a URL", config.base_url)),
            ));
        }
        let mut pulled: Vec<String> = ALWAYS_PULLED.iter().map(|s| s.to_string()).collect();
        for p in &config.properties {
            if !pulled.contains(p) {
                pulled.push(p.clone());
            }
        }
        Ok(HubSpotConnector {
            auth: Auth::new(&config.auth, config.retry.clone()),
            limits: Limits::new(&config),
            config,
            http,
            pulled,
            sweep_every: Duration::from_secs(300),
            last_sweep: Mutex::new(None),
            polls: PollTimes::default(),
            calls: AtomicU64::new(0),
        })
    }

    /// Times polls with `clock` (ms since the epoch) instead of the system clock, so a test
    /// can step past the look-back without waiting for it.
    pub fn with_clock(self, clock: Clock) -> HubSpotConnector {
        self.polls.set_clock(clock);
        self
    }

    /// Sweeps archived contacts at most once per `every` (default 5 minutes; zero sweeps on
    /// every poll).
    pub fn with_archive_sweep_interval(mut self, every: Duration) -> HubSpotConnector {
        self.sweep_every = every;
        self
    }

    /// The properties every pull and read asks for.
    pub fn pulled_properties(&self) -> &[String] {
        &self.pulled
    }

    /// Every contact property definition (type, fieldType, options), for `truce check`.
    pub async fn properties(&self) -> Result<Vec<Property>, Error> {
        let answer: PropertiesResponse = self
            .call(
                CallKind::Standard,
                Method::GET,
                "/crm/v3/properties/contacts",
                &[],
                None::<&()>,
                "HubSpot read of contact property definitions",
            )
            .await?;
        Ok(answer.results)
    }

    /// One call, retried as the policy allows, with one token renewal on a 401 (OAuth).
    async fn call<B, T>(
        &self,
        kind: CallKind,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        action: &str,
    ) -> Result<T, Error>
    where
        B: Serialize + Sync + ?Sized,
        T: DeserializeOwned,
    {
        let url = format!("{}{}", self.config.base(), path);
        let generation = AtomicU64::new(0);
        let mut renewed = false;
        loop {
            let outcome = retry(&self.config.retry, |_| async {
                match self
                    .attempt(kind, &method, &url, query, body, action, &generation)
                    .await
                {
                    // A spent daily allowance is not worth waiting for inside one call.
                    Err(err) if err.api().code.as_deref() == Some("DAILY") => Ok(Err(err)),
                    Err(err) => Err(err),
                    Ok(response) => {
                        let bytes: &[u8] = if response.body.is_empty() {
                            b"null"
                        } else {
                            &response.body
                        };
                        // A cut-off or garbled body is transient: the call is safe to repeat.
                        serde_json::from_slice::<T>(bytes).map(Ok).map_err(|err| {
                            Error::new(
                                ErrorClass::Transient,
                                action,
                                ApiError {
                                    status: Some(response.status),
                                    message: format!(
                                        "response body is not the JSON expected: {err}"
                                    ),
                                    ..ApiError::default()
                                },
                            )
                        })
                    }
                }
            })
            .await;
            match outcome {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(err)) => return Err(err),
                Err(err)
                    if err.class() == ErrorClass::AuthExpired
                        && self.auth.renewable()
                        && !renewed =>
                {
                    renewed = true;
                    self.auth
                        .renew(&self.http, generation.load(Ordering::SeqCst))
                        .await?;
                }
                Err(err) => return Err(err),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt<B>(
        &self,
        kind: CallKind,
        method: &Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        action: &str,
        generation: &AtomicU64,
    ) -> Result<Response, Error>
    where
        B: Serialize + Sync + ?Sized,
    {
        self.limits.acquire(kind, action).await?;
        let bearer = self.auth.bearer(&self.http).await?;
        generation.store(bearer.generation, Ordering::SeqCst);
        let mut request = self
            .http
            .client()
            .request(method.clone(), url)
            .bearer_auth(bearer.token.expose());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let response = self.http.send(request, action).await?;
        if kind == CallKind::Standard {
            self.limits.observe(&response.headers);
        }
        if response.is_success() {
            return Ok(response);
        }
        Err(self.error_of(&response, kind, action))
    }

    /// Turns a refusal into a classified error that keeps HubSpot's words.
    fn error_of(&self, response: &Response, kind: CallKind, action: &str) -> Error {
        let Ok(body) = serde_json::from_slice::<ErrorBody>(&response.body) else {
            return response.default_error(action);
        };
        let mut api = ApiError {
            status: Some(response.status),
            code: body
                .errors
                .iter()
                .find_map(|d| d.code.clone())
                .or(body.policy_name.clone())
                .or(body.category.clone()),
            // One detail says it best ("Email address x is invalid"), and matches what a 207
            // says about the same record.
            message: match body.errors.as_slice() {
                [one] if !one.message.is_empty() => one.message.clone(),
                _ if body.message.is_empty() => response.snippet(),
                _ => body.message.clone(),
            },
            fields: body
                .errors
                .iter()
                .flat_map(|d| d.context.get("propertyName").cloned().unwrap_or_default())
                .collect(),
            retry_after: crate::http::classify::retry_after(&response.headers),
        };
        let class = match response.status {
            429 => {
                let policy = body.policy_name.as_deref().and_then(Policy::parse);
                api.retry_after = Some(self.limits.rate_limited(kind, policy, &response.headers));
                if policy == Some(Policy::Daily) {
                    api.code = Some("DAILY".into());
                }
                ErrorClass::RateLimited
            }
            // A static token that HubSpot refuses will not get better by retrying.
            401 if !self.auth.renewable() => ErrorClass::Fatal,
            status => class_of_status(status),
        };
        Error::new(class, action, api)
    }

    /// One search call; the records in the order HubSpot sent them.
    async fn search(
        &self,
        filter_groups: Vec<FilterGroup>,
        sorts: Vec<SortSpec>,
    ) -> Result<Vec<Record>, Error> {
        let request = SearchRequest {
            filter_groups,
            sorts,
            properties: self.pulled.clone(),
            limit: Some(SEARCH_PAGE as u32),
            after: None,
            query: None,
        };
        let answer: SearchResponse = self
            .call(
                CallKind::Search,
                Method::POST,
                "/crm/v3/objects/contacts/search",
                &[],
                Some(&request),
                "HubSpot search of modified contacts",
            )
            .await?;
        Ok(answer.results.into_iter().map(record).collect())
    }

    /// One page of the `contacts` stream strictly after `after` (or from `from_ms` on), in
    /// keyset order, and whether the stream is read to the end.
    ///
    /// HubSpot documents one sort rule per search, so the page is not trusted to be ordered
    /// by id within a millisecond. The last millisecond of a full page may therefore be cut
    /// anywhere: it is left for the next page, which starts after the last *complete*
    /// millisecond. When one millisecond fills a whole page (a bulk import), the page is
    /// kept only if it came back in id order (the secondary sort was honoured: 200 ties in
    /// ascending id order by chance are out of the question); otherwise that millisecond is
    /// read with a search sorted on `hs_object_id` alone, an exact keyset.
    async fn contacts_page(
        &self,
        after: Option<&Cursor>,
        from_ms: i64,
    ) -> Result<(Vec<Record>, bool), Error> {
        let filter_groups = match after {
            Some(c) => vec![
                FilterGroup {
                    filters: vec![
                        Filter::new("lastmodifieddate", "EQ", c.modified_at.to_string()),
                        Filter::new("hs_object_id", "GT", c.id.clone()),
                    ],
                },
                FilterGroup {
                    filters: vec![Filter::new(
                        "lastmodifieddate",
                        "GT",
                        c.modified_at.to_string(),
                    )],
                },
            ],
            None => vec![FilterGroup {
                filters: vec![Filter::new("lastmodifieddate", "GTE", from_ms.to_string())],
            }],
        };
        let sorts = vec![
            SortSpec::ascending("lastmodifieddate"),
            SortSpec::ascending("hs_object_id"),
        ];
        let mut page = self.search(filter_groups, sorts).await?;
        let strictly_after = |r: &Record| after.is_none_or(|c| key(&r.cursor()) > key(c));
        let full = page.len() >= SEARCH_PAGE;
        let in_order = page
            .windows(2)
            .all(|w| key(&w[0].cursor()) < key(&w[1].cursor()));
        page.sort_by_key(|r| key(&r.cursor()));
        page.retain(strictly_after);
        if !full {
            return Ok((page, true));
        }
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok((page, false));
        };
        let last_ms = last.modified_at;
        if first.modified_at != last_ms {
            page.retain(|r| r.modified_at < last_ms);
            return Ok((page, false));
        }
        if in_order {
            return Ok((page, false));
        }
        let mut filters = vec![Filter::new("lastmodifieddate", "EQ", last_ms.to_string())];
        if let Some(c) = after.filter(|c| c.modified_at == last_ms) {
            filters.push(Filter::new("hs_object_id", "GT", c.id.clone()));
        }
        let mut tie = self
            .search(
                vec![FilterGroup { filters }],
                vec![SortSpec::ascending("hs_object_id")],
            )
            .await?;
        tie.sort_by_key(|r| key(&r.cursor()));
        tie.retain(strictly_after);
        Ok((tie, false))
    }

    /// Reads every archived contact; reports those archived since `since` (minus the
    /// look-back), and the newest archive seen.
    async fn sweep_archived(
        &self,
        since: Option<&Cursor>,
        lookback_ms: i64,
    ) -> Result<(Vec<Record>, Option<Cursor>), Error> {
        let threshold = since.map(|c| (c.modified_at - lookback_ms, id_number(&c.id)));
        let mut after: Option<String> = None;
        let mut found = Vec::new();
        let mut newest: Option<Cursor> = since.cloned();
        loop {
            let page = self.list_page(after.as_deref(), true).await?;
            for object in page.results {
                let archived_at = object.archived_at.as_deref().and_then(ms_of);
                let mut r = record(object);
                r.deleted = true;
                if let Some(at) = archived_at {
                    r.modified_at = at;
                }
                let cursor = r.cursor();
                if newest.as_ref().is_none_or(|n| key(&cursor) > key(n)) {
                    newest = Some(cursor);
                }
                let fresh = match threshold {
                    None => true,
                    Some((t, id)) if lookback_ms == 0 => key(&r.cursor()) > (t, id),
                    Some((t, _)) => r.modified_at >= t,
                };
                if fresh {
                    found.push(r);
                }
            }
            match page.paging.and_then(|p| p.next) {
                Some(next) => after = Some(next.after),
                None => break,
            }
        }
        found.sort_by_key(|r| (r.modified_at, id_number(&r.id)));
        Ok((found, newest))
    }

    async fn list_page(
        &self,
        after: Option<&str>,
        archived: bool,
    ) -> Result<CollectionResponse, Error> {
        let mut query = vec![
            ("limit", LIST_PAGE.to_string()),
            ("properties", self.pulled.join(",")),
            ("archived", archived.to_string()),
        ];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        let action = if archived {
            "HubSpot list of archived contacts"
        } else {
            "HubSpot list of contacts"
        };
        self.call(
            CallKind::Standard,
            Method::GET,
            CONTACTS,
            &query,
            None::<&()>,
            action,
        )
        .await
    }

    fn sweep_due(&self) -> bool {
        let last = *match self.last_sweep.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        last.is_none_or(|at| at.elapsed() >= self.sweep_every)
    }

    fn mark_swept(&self) {
        let mut last = match self.last_sweep.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *last = Some(Instant::now());
    }

    async fn batch_read(&self, keys: &[String], by_email: bool) -> Result<Vec<Record>, Error> {
        let mut records = Vec::new();
        for chunk in keys.chunks(BATCH) {
            let request = BatchReadRequest {
                inputs: chunk.iter().map(|id| IdInput { id: id.clone() }).collect(),
                id_property: by_email.then(|| "email".to_string()),
                properties: self.pulled.clone(),
                properties_with_history: Vec::new(),
            };
            let action = if by_email {
                format!("HubSpot read of {} contacts by email", chunk.len())
            } else {
                format!("HubSpot read of {} contacts by id", chunk.len())
            };
            let answer: BatchResponse = self
                .call(
                    CallKind::Standard,
                    Method::POST,
                    "/crm/v3/objects/contacts/batch/read",
                    &[],
                    Some(&request),
                    &action,
                )
                .await?;
            // Ids that do not exist come back as one OBJECT_NOT_FOUND error: left out.
            records.extend(answer.results.into_iter().map(record));
        }
        Ok(records)
    }

    fn input_of(&self, kind: Kind, write: &Write) -> BatchWriteInput {
        let mut properties: BTreeMap<String, String> = write
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), wire_value(v)))
            .collect();
        let (id, id_property) = match &write.op {
            WriteOp::Create {
                upsert_on: Some(UpsertKey::Email(email)),
            } => {
                properties
                    .entry(EMAIL.to_string())
                    .or_insert_with(|| email.clone());
                (Some(email.clone()), Some(EMAIL.to_string()))
            }
            WriteOp::Create {
                upsert_on: Some(UpsertKey::Field { field, value }),
            } => (Some(value.clone()), Some(field.clone())),
            WriteOp::Update { id } | WriteOp::Delete { id } => (Some(id.clone()), None),
            WriteOp::Create { upsert_on: None } => (None, None),
        };
        BatchWriteInput {
            id,
            id_property,
            properties: if kind == Kind::Archive {
                BTreeMap::new()
            } else {
                properties
            },
            object_write_trace_id: Some(write.key.to_string()),
            associations: Vec::new(),
        }
    }

    /// Applies one chunk of same-kind writes; a whole-batch permanent refusal is split.
    fn apply_chunk<'a>(
        &'a self,
        kind: Kind,
        writes: &'a [Write],
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, Error>> {
        Box::pin(async move {
            let action = format!("HubSpot batch {} of {} contacts", kind.verb(), writes.len());
            let outcome = if kind == Kind::Archive {
                let inputs = BatchInputs {
                    inputs: writes
                        .iter()
                        .filter_map(|w| match &w.op {
                            WriteOp::Delete { id } => Some(IdInput { id: id.clone() }),
                            _ => None,
                        })
                        .collect(),
                };
                self.call::<_, Option<BatchResponse>>(
                    CallKind::Standard,
                    Method::POST,
                    kind.path(),
                    &[],
                    Some(&inputs),
                    &action,
                )
                .await
            } else {
                let inputs = BatchInputs {
                    inputs: writes.iter().map(|w| self.input_of(kind, w)).collect(),
                };
                self.call::<_, Option<BatchResponse>>(
                    CallKind::Standard,
                    Method::POST,
                    kind.path(),
                    &[],
                    Some(&inputs),
                    &action,
                )
                .await
            };
            match outcome {
                Ok(answer) => Ok(self.match_outcomes(kind, writes, answer.unwrap_or_default())),
                Err(err) if err.class() == ErrorClass::Permanent && writes.len() > 1 => {
                    let (left, right) = writes.split_at(writes.len() / 2);
                    let mut outcomes = self.apply_chunk(kind, left).await?;
                    outcomes.extend(self.apply_chunk(kind, right).await?);
                    Ok(outcomes)
                }
                Err(err) if err.class() == ErrorClass::Fatal => Err(err),
                // Transient, rate-limited (after retries) or one refused record: every write of
                // the chunk gets the error; the engine retries or quarantines each.
                Err(err) => Ok(writes
                    .iter()
                    .map(|w| WriteOutcome {
                        key: w.key,
                        result: Err(err.clone()),
                    })
                    .collect()),
            }
        })
    }

    /// Pairs each write with its result or error, by trace id, then id or email.
    fn match_outcomes(
        &self,
        kind: Kind,
        writes: &[Write],
        answer: BatchResponse,
    ) -> Vec<WriteOutcome> {
        if kind == Kind::Archive {
            return writes
                .iter()
                .map(|w| WriteOutcome {
                    key: w.key,
                    result: match &w.op {
                        WriteOp::Delete { id } => Ok(Written {
                            id: id.clone(),
                            created: false,
                        }),
                        _ => Err(Error::new(
                            ErrorClass::Permanent,
                            "HubSpot archive",
                            ApiError::message("not a delete"),
                        )),
                    },
                })
                .collect();
        }
        let by_trace: HashMap<String, usize> = writes
            .iter()
            .enumerate()
            .map(|(i, w)| (w.key.to_string(), i))
            .collect();
        let by_id: HashMap<String, usize> = writes
            .iter()
            .enumerate()
            .filter_map(|(i, w)| match &w.op {
                WriteOp::Update { id } => Some((id.clone(), i)),
                WriteOp::Create {
                    upsert_on: Some(key),
                } => Some((key.value().to_lowercase(), i)),
                _ => None,
            })
            .collect();
        let by_email: HashMap<String, usize> = writes
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                w.fields
                    .get(EMAIL)
                    .and_then(Value::as_str)
                    .or(match &w.op {
                        WriteOp::Create {
                            upsert_on: Some(UpsertKey::Email(email)),
                        } => Some(email.as_str()),
                        _ => None,
                    })
                    .map(|e| (e.to_lowercase(), i))
            })
            .collect();
        let mut results: Vec<Option<Result<Written, Error>>> = vec![None; writes.len()];
        for object in answer.results {
            let slot = object
                .object_write_trace_id
                .as_ref()
                .and_then(|t| by_trace.get(t))
                .or_else(|| by_id.get(&object.id))
                .or_else(|| {
                    object
                        .properties
                        .get("email")
                        .and_then(|e| e.as_deref())
                        .and_then(|e| {
                            by_id
                                .get(&e.to_lowercase())
                                .or_else(|| by_email.get(&e.to_lowercase()))
                        })
                })
                .copied();
            if let Some(i) = slot {
                let created = match kind {
                    Kind::Upsert => object.new.unwrap_or(false),
                    Kind::Create => true,
                    _ => false,
                };
                results[i] = Some(Ok(Written {
                    id: object.id,
                    created,
                }));
            }
        }
        for error in &answer.errors {
            let class = class_of_category(&error.category);
            let api = api_of_standard(error);
            let action = format!("HubSpot batch {} of a contact", kind.verb());
            let mut slots: Vec<usize> = error
                .context
                .get("objectWriteTraceId")
                .into_iter()
                .flatten()
                .filter_map(|t| by_trace.get(t).copied())
                .collect();
            if slots.is_empty() {
                slots = error
                    .context
                    .get("ids")
                    .into_iter()
                    .flatten()
                    .filter_map(|id| {
                        by_id
                            .get(id)
                            .or_else(|| by_id.get(&id.to_lowercase()))
                            .copied()
                    })
                    .collect();
            }
            for i in slots {
                if results[i].is_none() {
                    results[i] = Some(Err(Error::new(class, &action, api.clone())));
                }
            }
        }
        writes
            .iter()
            .zip(results)
            .map(|(w, result)| WriteOutcome {
                key: w.key,
                result: result.unwrap_or_else(|| {
                    Err(Error::new(
                        ErrorClass::Transient,
                        format!("HubSpot batch {} of a contact", kind.verb()),
                        ApiError::message(
                            "HubSpot's answer named neither a result nor an error for this record",
                        ),
                    ))
                }),
            })
            .collect()
    }
}

fn field_info(p: Property) -> FieldInfo {
    let kind = match (p.kind.as_str(), p.field_type.as_str()) {
        _ if p.name == "email" => FieldKind::Email,
        ("enumeration", "checkbox") => FieldKind::MultiEnumeration,
        ("enumeration", _) => FieldKind::Enumeration,
        ("bool", _) => FieldKind::Bool,
        ("number", _) => FieldKind::Number,
        ("date", _) => FieldKind::Date,
        ("datetime", _) => FieldKind::DateTime,
        ("string" | "phone_number", _) => FieldKind::String,
        (other, _) => FieldKind::Other(other.to_string()),
    };
    let read_only = p.calculated
        || p.modification_metadata
            .as_ref()
            .is_some_and(|m| m.read_only_value);
    FieldInfo {
        unique: p.has_unique_value || p.name == "email",
        options: p.options.into_iter().map(|o| o.value).collect(),
        name: p.name,
        label: p.label,
        kind,
        required: false,
        max_length: None,
        read_only,
    }
}

#[async_trait]
impl Connector for HubSpotConnector {
    fn system(&self) -> System {
        System::HubSpot
    }

    fn objects(&self) -> &[ObjectType] {
        &OBJECTS
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn pull(
        &self,
        since: &Cursors,
        position: Option<&Cursors>,
        lookback: Duration,
    ) -> Result<PullPage, Error> {
        let lookback_ms = lookback.as_millis().min(i64::MAX as u128) as i64;
        let from = match position.and_then(|p| p.get(STREAM)) {
            Some(p) => PollFrom::After(p.clone()),
            None => poll_from(since.get(STREAM), lookback_ms, self.polls.begin()),
        };
        let (after, from_ms) = match &from {
            PollFrom::After(c) => (Some(c), 0),
            PollFrom::Time(ms) => (None, *ms),
        };
        let (mut records, done) = self.contacts_page(after, from_ms).await?;
        if done {
            self.polls.finish();
        }
        let mut cursors = Cursors::new();
        match records
            .last()
            .map(Record::cursor)
            .or_else(|| after.cloned())
        {
            Some(c) => {
                cursors.insert(STREAM.to_string(), c);
            }
            None => {
                if let Some(c) = since.get(STREAM) {
                    cursors.insert(STREAM.to_string(), c.clone());
                }
            }
        }
        let archived_since = since.get(ARCHIVED_STREAM);
        if done && self.sweep_due() {
            let (archived, newest) = self.sweep_archived(archived_since, lookback_ms).await?;
            self.mark_swept();
            tracing::debug!(archived = archived.len(), "HubSpot archive sweep done");
            records.extend(archived);
            if let Some(c) = newest {
                cursors.insert(ARCHIVED_STREAM.to_string(), c);
            }
        } else if let Some(c) = archived_since {
            cursors.insert(ARCHIVED_STREAM.to_string(), c.clone());
        }
        tracing::debug!(pulled = records.len(), done, "HubSpot pull page");
        Ok(PullPage {
            records,
            rejected: Vec::new(),
            position: cursors,
            done,
        })
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn scan(&self, object: ObjectType, resume: Option<&str>) -> Result<ScanPage, Error> {
        if object != ObjectType::HubSpotContact {
            return Err(Error::new(
                ErrorClass::Fatal,
                format!("HubSpot scan of {object}"),
                ApiError::message("HubSpot holds contacts only"),
            ));
        }
        let page = self.list_page(resume, false).await?;
        Ok(ScanPage {
            records: page.results.into_iter().map(record).collect(),
            rejected: Vec::new(),
            next: page.paging.and_then(|p| p.next).map(|n| n.after),
        })
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn fetch(&self, object: ObjectType, ids: &[String]) -> Result<Fetched, Error> {
        if object != ObjectType::HubSpotContact {
            return Ok(Fetched::default());
        }
        Ok(Fetched {
            records: self.batch_read(ids, false).await?,
            rejected: Vec::new(),
        })
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn find_by_email(&self, emails: &[String]) -> Result<Fetched, Error> {
        Ok(Fetched {
            records: self.batch_read(emails, true).await?,
            rejected: Vec::new(),
        })
    }

    #[tracing::instrument(skip_all, fields(system = "hubspot"))]
    async fn apply(&self, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, Error> {
        let mut groups: BTreeMap<u8, (Kind, Vec<Write>)> = BTreeMap::new();
        let mut order = Vec::with_capacity(writes.len());
        for write in writes {
            order.push(write.key);
            let kind = Kind::of(&write);
            let rank = match kind {
                Kind::Upsert => 0,
                Kind::Create => 1,
                Kind::Update => 2,
                Kind::Archive => 3,
            };
            groups
                .entry(rank)
                .or_insert_with(|| (kind, Vec::new()))
                .1
                .push(write);
        }
        let mut by_key: HashMap<i64, WriteOutcome> = HashMap::new();
        for (kind, group) in groups.into_values() {
            for chunk in group.chunks(BATCH) {
                for outcome in self.apply_chunk(kind, chunk).await? {
                    by_key.insert(outcome.key, outcome);
                }
            }
        }
        Ok(order
            .into_iter()
            .filter_map(|key| by_key.remove(&key))
            .collect())
    }

    async fn describe(&self, object: ObjectType) -> Result<Vec<FieldInfo>, Error> {
        if object != ObjectType::HubSpotContact {
            return Ok(Vec::new());
        }
        Ok(self
            .properties()
            .await?
            .into_iter()
            .map(field_info)
            .collect())
    }

    fn quota(&self) -> Option<Quota> {
        self.limits.quota()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_existing_id_is_read_from_a_409_message() {
        let api = ApiError::message("Contact already exists. Existing ID: 37765128953");
        assert_eq!(existing_id(&api).as_deref(), Some("37765128953"));
        assert_eq!(existing_id(&ApiError::message("nope")), None);
    }

    #[test]
    fn a_207_error_keeps_hubspots_code_message_and_field() {
        let error: StandardError = serde_json::from_str(
            r#"{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid",
                "context":{"objectWriteTraceId":["7"]},
                "errors":[{"message":"Email address foo is invalid","code":"INVALID_EMAIL","context":{"propertyName":["email"]}}]}"#,
        )
        .unwrap_or_default();
        let api = api_of_standard(&error);
        assert_eq!(api.code.as_deref(), Some("INVALID_EMAIL"));
        assert_eq!(api.message, "Email address foo is invalid");
        assert_eq!(api.fields, vec!["email".to_string()]);
        assert_eq!(class_of_category(&error.category), ErrorClass::Permanent);
    }
}
