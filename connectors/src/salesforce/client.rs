//! [`SalesforceConnector`]: the [`Connector`] for Salesforce Lead and Contact.
//!
//! ## API calls, on purpose
//!
//! Salesforce counts a whole `/composite` request as ONE call, with up to five query or
//! sObject Collections subrequests. truce leans on that:
//!
//! - a poll sends the Lead and Contact `queryAll` (deletions and merge losers included, via
//!   `IsDeleted` and `MasterRecordId`) in one composite: an idle poll costs one call, and
//!   later pages go through `nextRecordsUrl`, again together;
//! - writes pack up to five 200-record collections per composite: 1,000 records per call;
//! - lookups by id or email pack up to five `IN (...)` queries per composite.
//!
//! ## One call, start to end
//!
//! Every call waits at the `daily_share` gate ([`Limits`]), takes a slot
//! among the requests in flight, and runs inside [`crate::http::retry()`]: a 401
//! `INVALID_SESSION_ID` renews the token once and repeats; `UNABLE_TO_LOCK_ROW` and 5xx are
//! transient; a daily `REQUEST_LIMIT_EXCEEDED` closes the gate and waits like the share does.
//!
//! ## Paging a poll
//!
//! Each stream (`Lead`, `Contact`) is read in `(SystemModstamp, Id)` order. The page's
//! `position` is the last record read per stream; the connector remembers the
//! `nextRecordsUrl` that continues from exactly that position and uses it when the engine
//! asks to continue from there. Any other position (a restart, another process) is answered
//! with the keyset query `SystemModstamp > t OR (SystemModstamp = t AND Id > id)`, so the
//! position alone is always enough to go on without a gap or a repeat. The first page starts
//! a look-back before the cursor, cut where the last complete poll settled it
//! ([`crate::lookback`]): an idle poll reads nothing once the look-back has passed.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use futures::StreamExt;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::contract::{
    Connector, Conversion, Cursor, Cursors, Fetched, FieldInfo, FieldKind, ObjectType, PullPage,
    Quota, Record, ScanPage, System, UpsertKey, Write, WriteOp, WriteOutcome, Written,
};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::{HttpClient, Response, classify, retry};
use crate::lookback::{Clock, PollFrom, PollTimes, poll_from};

use super::auth::Auth;
use super::config::SalesforceConfig;
use super::limits::Limits;
use super::soql::{self, Cond, FieldName, Literal, Op, RecordId, Select};
use super::wire::{
    CompositeRequest, CompositeResponse, DescribeSObject, LimitsResponse, QueryResult, RestError,
    SaveResult, SubRequest, SubResponse,
};

/// Records per sObject Collections request.
pub const COLLECTION_SIZE: usize = 200;
/// Query or collection subrequests per `/composite` request.
pub const HEAVY_PER_COMPOSITE: usize = 5;
/// Rounds of re-sending records refused with a transient error (`UNABLE_TO_LOCK_ROW`).
const WRITE_ROUNDS: usize = 3;

const STREAMS: [ObjectType; 2] = [ObjectType::SalesforceLead, ObjectType::SalesforceContact];

#[derive(Debug, Clone)]
struct PendingPage {
    at: Option<Cursor>,
    next_url: Option<String>,
}

/// The Salesforce connector.
#[derive(Debug, Clone)]
pub struct SalesforceConnector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: SalesforceConfig,
    http: HttpClient,
    auth: Auth,
    limits: Limits,
    lead_fields: Vec<FieldName>,
    contact_fields: Vec<FieldName>,
    external_id: Option<FieldName>,
    pages: Mutex<HashMap<String, PendingPage>>,
    polls: PollTimes,
    calls: AtomicU64,
}

fn config_error(message: String) -> Error {
    Error::new(
        ErrorClass::Fatal,
        "reading the [salesforce] settings",
        ApiError::message(message),
    )
}

fn names(list: &[&str]) -> Vec<FieldName> {
    list.iter().filter_map(|n| FieldName::new(n).ok()).collect()
}

fn field(name: &str) -> FieldName {
    // Only called with the constant names below, which are valid.
    FieldName::new(name).unwrap_or_else(|_| names(&["Id"]).remove(0))
}

/// The external-id field a create upserts on. Salesforce has no upsert on email.
fn upsert_field(key: &UpsertKey) -> Result<&str, String> {
    match key {
        UpsertKey::Field { field, .. } => Ok(field),
        UpsertKey::Email(_) => {
            Err("Salesforce cannot upsert on email: configure an external-id field".into())
        }
    }
}

fn parse_modstamp(text: &str) -> Option<i64> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Turns a Salesforce error array (or any body) into an [`ApiError`] and its class.
fn classify_body(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> (ErrorClass, ApiError) {
    let parsed: Option<Vec<RestError>> = serde_json::from_slice(body).ok();
    let first = parsed.as_ref().and_then(|v| v.first().cloned());
    let mut api = ApiError {
        status: Some(status),
        retry_after,
        ..ApiError::default()
    };
    match &first {
        Some(e) => {
            api.code = Some(e.error_code.clone());
            api.message = e.message.clone();
            api.fields = e.fields.clone().unwrap_or_default();
        }
        None => api.message = String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
    }
    let class = match api.code.as_deref() {
        Some(
            "UNABLE_TO_LOCK_ROW" | "QUERY_TIMEOUT" | "SERVER_UNAVAILABLE" | "UNKNOWN_EXCEPTION",
        ) => ErrorClass::Transient,
        Some("REQUEST_LIMIT_EXCEEDED") => ErrorClass::RateLimited,
        Some("INVALID_SESSION_ID") => ErrorClass::AuthExpired,
        Some("CANNOT_UPDATE_CONVERTED_LEAD") => ErrorClass::Superseded,
        Some(
            "API_DISABLED_FOR_ORG" | "INSUFFICIENT_ACCESS_OR_READONLY" | "API_CURRENTLY_DISABLED",
        ) => ErrorClass::Fatal,
        _ => classify::class_of_status(status),
    };
    (class, api)
}

fn response_error(response: &Response, action: &str) -> Error {
    let (class, api) = classify_body(
        response.status,
        &response.body,
        classify::retry_after(&response.headers),
    );
    Error::new(class, action, api)
}

fn is_daily_limit(err: &Error) -> bool {
    err.api().code.as_deref() == Some("REQUEST_LIMIT_EXCEEDED")
        && !err.api().message.contains("Concurrent")
}

fn sub_error(sub: &SubResponse, action: &str) -> Error {
    let body = serde_json::to_vec(&sub.body).unwrap_or_default();
    let (class, api) = classify_body(sub.http_status_code, &body, None);
    Error::new(class, action, api)
}

fn record_error(errors: &[super::wire::RecordError], action: &str) -> Error {
    let code = errors.first().map(|e| e.status_code.clone());
    let class = match code.as_deref() {
        Some("UNABLE_TO_LOCK_ROW") => ErrorClass::Transient,
        // A converted lead is read-only: the write belongs on its Contact now.
        Some("CANNOT_UPDATE_CONVERTED_LEAD") => ErrorClass::Superseded,
        _ => ErrorClass::Permanent,
    };
    let mut fields: Vec<String> = Vec::new();
    for e in errors {
        for f in &e.fields {
            if !fields.contains(f) {
                fields.push(f.clone());
            }
        }
    }
    let message = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Error::new(
        class,
        action,
        ApiError {
            status: None,
            code,
            message,
            fields,
            retry_after: None,
        },
    )
}

impl SalesforceConnector {
    /// A connector for this config. Fails (fatally) when a configured field name is not a
    /// Salesforce field name, so no such name can reach a query.
    pub fn new(config: SalesforceConfig, http: HttpClient) -> Result<SalesforceConnector, Error> {
        let parse_all = |list: &[String]| -> Result<Vec<FieldName>, Error> {
            list.iter()
                .map(|n| FieldName::new(n).map_err(config_error))
                .collect()
        };
        let lead_fields = parse_all(&config.lead_fields)?;
        let contact_fields = parse_all(&config.contact_fields)?;
        let external_id = config
            .external_id_field
            .as_deref()
            .map(FieldName::new)
            .transpose()
            .map_err(config_error)?;
        if !(0.0..=1.0).contains(&config.daily_share) {
            return Err(config_error(format!(
                "daily_share must be between 0 and 1, not {}",
                config.daily_share
            )));
        }
        let auth = Auth::new(&config, http.clone());
        let limits = Limits::new(config.daily_share, config.max_concurrency);
        Ok(SalesforceConnector {
            inner: Arc::new(Inner {
                config,
                http,
                auth,
                limits,
                lead_fields,
                contact_fields,
                external_id,
                pages: Mutex::new(HashMap::new()),
                polls: PollTimes::default(),
                calls: AtomicU64::new(0),
            }),
        })
    }

    /// Times polls with `clock` (ms since the epoch) instead of the system clock, so a test
    /// can step past the look-back without waiting for it.
    pub fn with_clock(self, clock: Clock) -> SalesforceConnector {
        self.inner.polls.set_clock(clock);
        self
    }

    /// Why pulls and writes are paused (usage at `daily_share`, or the allocation spent),
    /// when they are.
    pub fn paused(&self) -> Option<String> {
        self.inner.limits.is_paused()
    }

    fn data_path(&self, rest: &str) -> String {
        format!("/services/data/v{}/{rest}", self.inner.config.api_version)
    }

    fn query_path(&self, all: bool, soql: &str) -> String {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", soql)
            .finish();
        self.data_path(&format!("{}?{q}", if all { "queryAll" } else { "query" }))
    }

    /// One HTTP exchange with the current session; on 401 renews once and repeats.
    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        action: &str,
    ) -> Result<Response, Error> {
        let mut session = self.inner.auth.session().await?;
        let mut renewed = false;
        loop {
            let url = if path.starts_with("http") {
                path.to_string()
            } else {
                format!("{}{path}", session.instance_url)
            };
            let mut request = self
                .inner
                .http
                .client()
                .request(method.clone(), url)
                .bearer_auth(session.token.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = {
                let _slot = self.inner.limits.slot().await;
                self.inner.calls.fetch_add(1, Ordering::Relaxed);
                self.inner.http.send(request, action).await?
            };
            self.inner.limits.observe_headers(&response.headers);
            if response.status == 401 && !renewed {
                tracing::debug!(action, "Salesforce session expired; renewing once");
                session = self.inner.auth.renew(Some(session.generation)).await?;
                renewed = true;
                continue;
            }
            if response.is_success() {
                return Ok(response);
            }
            return Err(response_error(&response, action));
        }
    }

    /// A call through the gate, the concurrency bound, auth renewal and retries, whose
    /// answer is parsed as `T` (a garbled answer is retried like any transient failure).
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        action: &str,
    ) -> Result<T, Error> {
        self.send_with(Send::Gated, method, path, body, action)
            .await
    }

    /// Like [`SalesforceConnector::send`], with a choice of gate and of what to retry.
    async fn send_with<T: DeserializeOwned>(
        &self,
        how: Send,
        method: Method,
        path: &str,
        body: Option<&Value>,
        action: &str,
    ) -> Result<T, Error> {
        let gated = how != Send::Ungated;
        // Salesforce may have applied a request whose answer never arrived, or arrived
        // garbled. Repeating a plain create could duplicate records, so such a call ends
        // with a transient error that says so, and the caller decides.
        let ambiguous = |err: Error| {
            let api = ApiError {
                message: format!(
                    "{}; the request may or may not have been applied, so it was not repeated \
                     (look the records up before creating them again)",
                    err.api().message
                ),
                ..err.api().clone()
            };
            Error::new(ErrorClass::Transient, action, api)
        };
        loop {
            if gated {
                self.wait_until_open().await;
            }
            // The inner `Err` is final: `retry` sees it as a success and stops.
            let result = retry(&self.inner.config.retry, |_| async {
                match self.attempt(&method, path, body, action).await {
                    Ok(response) => match response.json::<T>(action) {
                        Ok(value) => Ok(Ok(value)),
                        Err(err) if how == Send::AtMostOnce => Ok(Err(ambiguous(err))),
                        Err(err) => Err(err),
                    },
                    Err(err) if how == Send::AtMostOnce && err.api().status.is_none() => {
                        Ok(Err(ambiguous(err)))
                    }
                    Err(err) => Err(err),
                }
            })
            .await
            .and_then(|inner| inner);
            match result {
                Err(err) if gated && is_daily_limit(&err) => {
                    self.inner.limits.exhausted(&err.api().message)
                }
                other => return other,
            }
        }
    }

    /// While the gate is closed, looks at `GET /limits` every `pause_recheck`.
    async fn wait_until_open(&self) {
        while self.inner.limits.is_paused().is_some() {
            tokio::time::sleep(self.inner.config.pause_recheck).await;
            let path = self.data_path("limits");
            match self
                .attempt(&Method::GET, &path, None, "Salesforce limits check")
                .await
            {
                Ok(response) => {
                    if let Ok(limits) = response.json::<LimitsResponse>("Salesforce limits check") {
                        let l = limits.daily_api_requests;
                        self.inner
                            .limits
                            .observe(l.max.saturating_sub(l.remaining), l.max);
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %err, "Salesforce limits check failed; still paused")
                }
            }
        }
    }

    async fn composite(
        &self,
        subs: Vec<SubRequest>,
        action: &str,
    ) -> Result<Vec<SubResponse>, Error> {
        self.composite_with(Send::Gated, subs, action).await
    }

    async fn composite_with(
        &self,
        how: Send,
        subs: Vec<SubRequest>,
        action: &str,
    ) -> Result<Vec<SubResponse>, Error> {
        let count = subs.len();
        let body = serde_json::to_value(CompositeRequest {
            all_or_none: false,
            composite_request: subs,
        })
        .map_err(|e| Error::new(ErrorClass::Fatal, action, ApiError::message(e.to_string())))?;
        let path = self.data_path("composite");
        let parsed: CompositeResponse = self
            .send_with(how, Method::POST, &path, Some(&body), action)
            .await?;
        if parsed.composite_response.len() != count {
            return Err(Error::new(
                ErrorClass::Transient,
                action,
                ApiError::message(format!(
                    "composite answered {} subrequests, {count} were sent",
                    parsed.composite_response.len()
                )),
            ));
        }
        Ok(parsed.composite_response)
    }

    fn stream_fields(&self, object: ObjectType) -> Vec<FieldName> {
        let mut fields = names(&[
            "Id",
            "SystemModstamp",
            "LastModifiedDate",
            "IsDeleted",
            "MasterRecordId",
            "Email",
        ]);
        match object {
            ObjectType::SalesforceLead => {
                fields.extend(names(&[
                    "IsConverted",
                    "ConvertedContactId",
                    "ConvertedAccountId",
                ]));
                fields.extend(self.inner.lead_fields.iter().cloned());
            }
            _ => fields.extend(self.inner.contact_fields.iter().cloned()),
        }
        if let Some(ext) = &self.inner.external_id {
            fields.push(ext.clone());
        }
        fields
    }

    fn to_record(object: ObjectType, mut row: Map<String, Value>) -> Record {
        row.remove("attributes");
        let id = row
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let modified_at = row
            .get("SystemModstamp")
            .and_then(Value::as_str)
            .and_then(parse_modstamp)
            .unwrap_or(0);
        let deleted = row
            .get("IsDeleted")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let merged_into = row
            .get("MasterRecordId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let converted =
            (row.get("IsConverted").and_then(Value::as_bool) == Some(true)).then(|| Conversion {
                contact_id: row
                    .get("ConvertedContactId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                account_id: row
                    .get("ConvertedAccountId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                opportunity_id: row
                    .get("ConvertedOpportunityId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            });
        let email = row
            .get("Email")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
            .map(str::to_string);
        Record {
            object,
            id,
            modified_at,
            email,
            name: None,
            domain: None,
            fields: row.into_iter().collect(),
            deleted,
            merged_ids: Vec::new(),
            merged_into,
            converted,
            outcome: None,
        }
    }

    fn pages(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingPage>> {
        match self.inner.pages.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The keyset query of one stream, strictly after `after`, or from `from_ms` on.
    fn stream_query(
        &self,
        object: ObjectType,
        after: Option<&Cursor>,
        from_ms: Option<i64>,
    ) -> String {
        let stamp = field("SystemModstamp");
        let mut select = Select::new(&field(object.as_str()), &self.stream_fields(object))
            .order_by(&[&stamp, &field("Id")]);
        if let Some(cursor) = after {
            select = match RecordId::new(&cursor.id) {
                Ok(id) => select.filter(Cond::after_keyset(&stamp, cursor.modified_at, &id)),
                Err(_) => select.filter(Cond::cmp(
                    &stamp,
                    Op::Ge,
                    Literal::DateTime(cursor.modified_at),
                )),
            };
        } else if let Some(ms) = from_ms {
            select = select.filter(Cond::cmp(&stamp, Op::Ge, Literal::DateTime(ms)));
        }
        select.to_soql()
    }

    /// Runs SOQL queries, five per composite call, following `nextRecordsUrl`.
    async fn run_queries(
        &self,
        queries: Vec<(ObjectType, String)>,
        action: &str,
    ) -> Result<Vec<Record>, Error> {
        let mut records = Vec::new();
        for group in queries.chunks(HEAVY_PER_COMPOSITE) {
            let subs = group
                .iter()
                .enumerate()
                .map(|(i, (_, q))| SubRequest {
                    method: "GET",
                    url: self.query_path(false, q),
                    reference_id: format!("q{i}"),
                    body: None,
                })
                .collect();
            let answers = self.composite(subs, action).await?;
            for ((object, _), answer) in group.iter().zip(answers) {
                if answer.http_status_code >= 300 {
                    return Err(sub_error(&answer, action));
                }
                let mut page: QueryResult = serde_json::from_value(answer.body).map_err(|e| {
                    Error::new(
                        ErrorClass::Transient,
                        action,
                        ApiError::message(e.to_string()),
                    )
                })?;
                loop {
                    records.extend(page.records.drain(..).map(|r| Self::to_record(*object, r)));
                    match page.next_records_url.take().filter(|_| !page.done) {
                        Some(next) => {
                            page = self.send(Method::GET, &next, None, action).await?;
                        }
                        None => break,
                    }
                }
            }
        }
        Ok(records)
    }

    /// Full metadata of an object (`GET /sobjects/{object}/describe`).
    pub async fn describe_object(&self, object: ObjectType) -> Result<DescribeSObject, Error> {
        let action = format!("Salesforce describe of {object}");
        let path = self.data_path(&format!("sobjects/{}/describe", object.as_str()));
        self.send_with(Send::Ungated, Method::GET, &path, None, &action)
            .await
    }

    /// Checks the configured fields against describe, for `truce check`: every mapped Lead
    /// and Contact field exists, and the external-id field exists on both and is flagged
    /// External ID. Returns one sentence per problem; empty means all is well.
    pub async fn check_fields(&self) -> Result<Vec<String>, Error> {
        let mut problems = Vec::new();
        for (object, configured, key) in [
            (
                ObjectType::SalesforceLead,
                &self.inner.lead_fields,
                "lead_fields",
            ),
            (
                ObjectType::SalesforceContact,
                &self.inner.contact_fields,
                "contact_fields",
            ),
        ] {
            let described = self.describe_object(object).await?;
            let find = |name: &str| {
                described
                    .fields
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(name))
            };
            for f in configured {
                if find(f.as_str()).is_none() {
                    problems.push(format!(
                        "{object} has no field {:?} (listed in {key})",
                        f.as_str()
                    ));
                }
            }
            if let Some(ext) = &self.inner.external_id {
                match find(ext.as_str()) {
                    None => problems.push(format!(
                        "{object} has no field {:?} (external_id_field)",
                        ext.as_str()
                    )),
                    Some(f) if !f.external_id => problems.push(format!(
                        "{object}.{} is not flagged External ID, so creates cannot upsert on it (external_id_field)",
                        f.name
                    )),
                    Some(_) => {}
                }
            }
        }
        Ok(problems)
    }

    fn write_body(write: &Write, upsert_field: Option<&str>) -> Value {
        let mut record = Map::new();
        record.insert("attributes".into(), json!({"type": write.object.as_str()}));
        for (k, v) in &write.fields {
            record.insert(k.clone(), v.clone());
        }
        match &write.op {
            WriteOp::Update { id } => {
                record.insert("id".into(), Value::String(id.clone()));
            }
            WriteOp::Create {
                upsert_on: Some(key),
            } => {
                if let Some(f) = upsert_field {
                    record.insert(f.to_string(), Value::String(key.value().to_string()));
                }
            }
            _ => {}
        }
        Value::Object(record)
    }

    /// Groups writes by what their collection call does and cuts them into collections
    /// of at most 200; writes that cannot be sent get their outcome at once.
    fn plan_batches(
        &self,
        writes: Vec<Write>,
        outcomes: &mut BTreeMap<i64, Result<Written, Error>>,
    ) -> Vec<(Kind, Vec<Write>)> {
        let mut groups: BTreeMap<Kind, Vec<Write>> = BTreeMap::new();
        for write in writes {
            let kind = match &write.op {
                WriteOp::Create {
                    upsert_on: Some(key),
                } => match upsert_field(key).and_then(FieldName::new) {
                    Ok(f) => Kind::Upsert(write.object, f.as_str().to_string()),
                    Err(m) => {
                        let action = format!("Salesforce upsert of {}", write.object);
                        outcomes.insert(
                            write.key,
                            Err(Error::new(
                                ErrorClass::Permanent,
                                action,
                                ApiError::message(m),
                            )),
                        );
                        continue;
                    }
                },
                WriteOp::Create { upsert_on: None } => Kind::Create(write.object),
                WriteOp::Update { id } | WriteOp::Delete { id } if RecordId::new(id).is_err() => {
                    let action = format!("Salesforce write of {} {id}", write.object);
                    let api = ApiError::message(format!("{id:?} is not a Salesforce record id"));
                    outcomes.insert(
                        write.key,
                        Err(Error::new(ErrorClass::Permanent, action, api)),
                    );
                    continue;
                }
                WriteOp::Update { .. } => Kind::Update(write.object),
                WriteOp::Delete { .. } => Kind::Delete,
            };
            groups.entry(kind).or_default().push(write);
        }
        let mut batches = Vec::new();
        for (kind, list) in groups {
            for chunk in list.chunks(COLLECTION_SIZE) {
                batches.push((kind.clone(), chunk.to_vec()));
            }
        }
        batches
    }

    /// The sObject Collections subrequests of one composite call.
    fn collection_requests(&self, call: &[(Kind, Vec<Write>)]) -> Vec<SubRequest> {
        let collections = self.data_path("composite/sobjects");
        call.iter()
            .enumerate()
            .map(|(i, (kind, list))| {
                let reference_id = format!("c{i}");
                let records = |field: Option<&str>| {
                    json!({"allOrNone": false, "records": list.iter().map(|w| Self::write_body(w, field)).collect::<Vec<_>>()})
                };
                match kind {
                    Kind::Delete => {
                        let ids: Vec<&str> = list
                            .iter()
                            .filter_map(|w| match &w.op {
                                WriteOp::Delete { id } => Some(id.as_str()),
                                _ => None,
                            })
                            .collect();
                        SubRequest {
                            method: "DELETE",
                            url: format!("{collections}?ids={}&allOrNone=false", ids.join(",")),
                            reference_id,
                            body: None,
                        }
                    }
                    Kind::Upsert(object, f) => SubRequest {
                        method: "PATCH",
                        url: format!("{collections}/{}/{f}", object.as_str()),
                        reference_id,
                        body: Some(records(Some(f))),
                    },
                    Kind::Create(_) => SubRequest { method: "POST", url: collections.clone(), reference_id, body: Some(records(None)) },
                    Kind::Update(_) => SubRequest { method: "PATCH", url: collections.clone(), reference_id, body: Some(records(None)) },
                }
            })
            .collect()
    }

    /// Turns one collection's answer into outcomes; transient refusals go back to
    /// `pending` while rounds remain.
    fn collect_results(
        &self,
        kind: &Kind,
        list: &[Write],
        answer: &SubResponse,
        round: usize,
        pending: &mut Vec<Write>,
        outcomes: &mut BTreeMap<i64, Result<Written, Error>>,
    ) {
        let verb = kind.verb();
        let may_retry = round + 1 < WRITE_ROUNDS;
        let results: Option<Vec<SaveResult>> = (answer.http_status_code < 300)
            .then(|| serde_json::from_value(answer.body.clone()).ok())
            .flatten()
            .filter(|r: &Vec<SaveResult>| r.len() == list.len());
        let Some(results) = results else {
            let err = sub_error(
                answer,
                &format!("Salesforce {verb} of {} records", list.len()),
            );
            for w in list {
                if err.class() == ErrorClass::Transient && may_retry {
                    pending.push(w.clone());
                } else {
                    outcomes.insert(w.key, Err(err.clone()));
                }
            }
            return;
        };
        for (w, result) in list.iter().zip(results) {
            if result.success {
                let id = result.id.clone().unwrap_or_else(|| match &w.op {
                    WriteOp::Update { id } | WriteOp::Delete { id } => id.clone(),
                    WriteOp::Create { .. } => String::new(),
                });
                let created = match kind {
                    Kind::Create(_) => true,
                    Kind::Upsert(..) => result.created.unwrap_or(false),
                    _ => false,
                };
                outcomes.insert(w.key, Ok(Written { id, created }));
                continue;
            }
            let target = match &w.op {
                WriteOp::Update { id } | WriteOp::Delete { id } => format!("{} {id}", w.object),
                WriteOp::Create { upsert_on: Some(k) } => {
                    let field = upsert_field(k).unwrap_or("Email");
                    format!("{} {field}={}", w.object, k.value())
                }
                WriteOp::Create { upsert_on: None } => w.object.to_string(),
            };
            let err = record_error(&result.errors, &format!("Salesforce {verb} of {target}"));
            if err.class() == ErrorClass::Transient && may_retry {
                pending.push(w.clone());
            } else {
                outcomes.insert(w.key, Err(err));
            }
        }
    }

    /// One pull page; `None` when a remembered `nextRecordsUrl` had expired.
    async fn pull_once(
        &self,
        since: &Cursors,
        position: Option<&Cursors>,
        lookback: Duration,
    ) -> Result<Option<PullPage>, Error> {
        let action = "Salesforce pull of Lead and Contact changes";
        let mut plan: Vec<(ObjectType, Option<Cursor>)> = Vec::new();
        let mut subs = Vec::new();
        let mut out = PullPage {
            rejected: Vec::new(),
            records: Vec::new(),
            position: Cursors::new(),
            done: true,
        };
        let settled = position
            .is_none()
            .then(|| self.inner.polls.begin())
            .flatten();
        let lookback_ms = i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX);
        {
            let pages = self.pages();
            for object in STREAMS {
                let stream = object.as_str();
                let base = match position {
                    Some(p) => p.get(stream).cloned(),
                    None => since.get(stream).cloned(),
                };
                if let Some(c) = &base {
                    out.position.insert(stream.to_string(), c.clone());
                }
                let url = match position {
                    None => match poll_from(since.get(stream), lookback_ms, settled) {
                        PollFrom::After(c) => {
                            self.query_path(true, &self.stream_query(object, Some(&c), None))
                        }
                        PollFrom::Time(ms) => {
                            self.query_path(true, &self.stream_query(object, None, Some(ms)))
                        }
                    },
                    Some(p) => match (p.get(stream), pages.get(stream)) {
                        (pos, Some(pending)) if pending.at.as_ref() == pos => {
                            match &pending.next_url {
                                Some(next) => next.clone(),
                                None => continue,
                            }
                        }
                        (Some(pos), _) => {
                            self.query_path(true, &self.stream_query(object, Some(pos), None))
                        }
                        // No position and nothing remembered: the stream had nothing to read.
                        (None, _) => continue,
                    },
                };
                subs.push(SubRequest {
                    method: "GET",
                    url,
                    reference_id: stream.to_string(),
                    body: None,
                });
                plan.push((object, base));
            }
        }
        if subs.is_empty() {
            return Ok(Some(out));
        }
        let answers = self.composite(subs, action).await?;
        let mut remember = Vec::new();
        for ((object, base), answer) in plan.into_iter().zip(answers) {
            if answer.http_status_code >= 300 {
                let err = sub_error(&answer, action);
                if err.api().code.as_deref() == Some("INVALID_QUERY_LOCATOR") {
                    // The remembered nextRecordsUrl expired (Salesforce drops idle cursors
                    // after about 15 minutes): forget it, and go on by keyset instead.
                    self.pages().clear();
                    return Ok(None);
                }
                return Err(err);
            }
            let page: QueryResult = serde_json::from_value(answer.body).map_err(|e| {
                Error::new(
                    ErrorClass::Transient,
                    action,
                    ApiError::message(e.to_string()),
                )
            })?;
            let stream = object.as_str().to_string();
            let mut last = base;
            for row in page.records {
                let record = Self::to_record(object, row);
                last = Some(record.cursor());
                out.records.push(record);
            }
            if let Some(c) = &last {
                out.position.insert(stream.clone(), c.clone());
            }
            let next_url = page.next_records_url.filter(|_| !page.done);
            if next_url.is_some() {
                out.done = false;
            }
            remember.push((stream, PendingPage { at: last, next_url }));
        }
        let mut pages = self.pages();
        for (stream, pending) in remember {
            pages.insert(stream, pending);
        }
        Ok(Some(out))
    }
}

/// How [`SalesforceConnector::send_with`] treats a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    /// Waits at the `daily_share` gate; retries every transient failure.
    Gated,
    /// Skips the gate (metadata that `truce check` needs while paused).
    Ungated,
    /// Waits at the gate, but does not repeat a request that got no answer at all.
    AtMostOnce,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Create(ObjectType),
    Upsert(ObjectType, String),
    Update(ObjectType),
    Delete,
}

impl Kind {
    fn verb(&self) -> &'static str {
        match self {
            Kind::Create(_) => "create",
            Kind::Upsert(..) => "upsert",
            Kind::Update(_) => "update",
            Kind::Delete => "delete",
        }
    }
}

#[async_trait]
impl Connector for SalesforceConnector {
    fn system(&self) -> System {
        System::Salesforce
    }

    fn objects(&self) -> &[ObjectType] {
        &STREAMS
    }

    fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
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
                "Salesforce pull of Lead and Contact changes",
                ApiError::message("query locator expired twice in a row"),
            )),
        }
    }

    async fn scan(&self, object: ObjectType, resume: Option<&str>) -> Result<ScanPage, Error> {
        let action = format!("Salesforce scan of {object}");
        let id = field("Id");
        let mut select = Select::new(&field(object.as_str()), &self.stream_fields(object))
            .order_by(&[&id])
            .limit(2000);
        if let Some(after) = resume {
            let after = RecordId::new(after)
                .map_err(|m| Error::new(ErrorClass::Permanent, &action, ApiError::message(m)))?;
            select = select.filter(Cond::cmp(&id, Op::Gt, Literal::Id(after)));
        }
        let path = self.query_path(false, &select.to_soql());
        let page: QueryResult = self.send(Method::GET, &path, None, &action).await?;
        let full = page.records.len() >= 2000;
        let records: Vec<Record> = page
            .records
            .into_iter()
            .map(|r| Self::to_record(object, r))
            .collect();
        let next = if full {
            records.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(ScanPage {
            records,
            rejected: Vec::new(),
            next,
        })
    }

    async fn fetch(&self, object: ObjectType, ids: &[String]) -> Result<Fetched, Error> {
        let id = field("Id");
        let literals: Vec<Literal> = ids
            .iter()
            .filter_map(|i| RecordId::new(i).ok())
            .map(Literal::Id)
            .collect();
        let queries = soql::chunk_in_list(&id, literals, soql::MAX_WHERE_CHARS)
            .into_iter()
            .map(|group| {
                let q = Select::new(&field(object.as_str()), &self.stream_fields(object))
                    .filter(Cond::In(id.clone(), group));
                (object, q.to_soql())
            })
            .collect();
        let records = self
            .run_queries(
                queries,
                &format!("Salesforce fetch of {} {object} by id", ids.len()),
            )
            .await?;
        Ok(Fetched {
            records,
            rejected: Vec::new(),
        })
    }

    async fn find_by_email(&self, emails: &[String]) -> Result<Fetched, Error> {
        let email = field("Email");
        let mut unique: Vec<String> = emails
            .iter()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        unique.sort();
        unique.dedup();
        let mut queries = Vec::new();
        for object in STREAMS {
            let literals = unique.iter().cloned().map(Literal::Str).collect();
            for group in soql::chunk_in_list(&email, literals, soql::MAX_WHERE_CHARS) {
                let q = Select::new(&field(object.as_str()), &self.stream_fields(object))
                    .filter(Cond::In(email.clone(), group));
                queries.push((object, q.to_soql()));
            }
        }
        let records = self
            .run_queries(
                queries,
                &format!("Salesforce lookup of {} emails", unique.len()),
            )
            .await?;
        Ok(Fetched {
            records,
            rejected: Vec::new(),
        })
    }

    async fn apply(&self, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, Error> {
        let mut outcomes: BTreeMap<i64, Result<Written, Error>> = BTreeMap::new();
        let order: Vec<i64> = writes.iter().map(|w| w.key).collect();
        let mut pending = writes;
        let mut first_failure: Option<Error> = None;
        let mut any_call_succeeded = false;
        for round in 0..WRITE_ROUNDS {
            if pending.is_empty() {
                break;
            }
            if round > 0 {
                // Records refused with UNABLE_TO_LOCK_ROW: give the lock holder a moment.
                tokio::time::sleep(self.inner.config.retry.initial_interval * (1 << round)).await;
            }
            let batches = self.plan_batches(std::mem::take(&mut pending), &mut outcomes);
            let calls: Vec<Vec<(Kind, Vec<Write>)>> = batches
                .chunks(HEAVY_PER_COMPOSITE)
                .map(<[(Kind, Vec<Write>)]>::to_vec)
                .collect();
            // Composite calls go out concurrently, bounded by `max_concurrency` (the
            // semaphore in `Limits` bounds them again, with everything else in flight).
            let answered: Vec<(Vec<(Kind, Vec<Write>)>, Result<Vec<SubResponse>, Error>)> =
                futures::stream::iter(calls.into_iter().map(|call| async move {
                    let subs = self.collection_requests(&call);
                    let records: usize = call.iter().map(|(_, l)| l.len()).sum();
                    let action = format!("Salesforce write of {records} records");
                    // Plain creates are not idempotent: never repeat them blindly.
                    let how = if call.iter().any(|(k, _)| matches!(k, Kind::Create(_))) {
                        Send::AtMostOnce
                    } else {
                        Send::Gated
                    };
                    let result = self.composite_with(how, subs, &action).await;
                    (call, result)
                }))
                .buffered(self.inner.config.max_concurrency.max(1))
                .collect()
                .await;
            for (call, result) in answered {
                let answers = match result {
                    Ok(a) => {
                        any_call_succeeded = true;
                        a
                    }
                    Err(err) => {
                        for (_, list) in &call {
                            for w in list {
                                outcomes.insert(w.key, Err(err.clone()));
                            }
                        }
                        first_failure.get_or_insert(err);
                        continue;
                    }
                };
                for ((kind, list), answer) in call.iter().zip(answers) {
                    self.collect_results(kind, list, &answer, round, &mut pending, &mut outcomes);
                }
            }
        }
        // Nothing reached Salesforce at all: that is a failure of the whole call.
        if let (false, Some(err)) = (any_call_succeeded, first_failure) {
            return Err(err);
        }
        Ok(order
            .into_iter()
            .filter_map(|key| {
                outcomes
                    .remove(&key)
                    .map(|result| WriteOutcome { key, result })
            })
            .collect())
    }

    async fn describe(&self, object: ObjectType) -> Result<Vec<FieldInfo>, Error> {
        let described = self.describe_object(object).await?;
        Ok(described
            .fields
            .into_iter()
            .map(|f| {
                let kind = match f.ty.as_str() {
                    "string" | "textarea" | "phone" | "url" | "id" => FieldKind::String,
                    "email" => FieldKind::Email,
                    "picklist" => FieldKind::Enumeration,
                    "multipicklist" => FieldKind::MultiEnumeration,
                    "boolean" => FieldKind::Bool,
                    "double" | "currency" | "int" | "percent" => FieldKind::Number,
                    "date" => FieldKind::Date,
                    "datetime" => FieldKind::DateTime,
                    "reference" => FieldKind::Reference,
                    other => FieldKind::Other(other.to_string()),
                };
                let text = matches!(
                    f.ty.as_str(),
                    "string" | "textarea" | "phone" | "url" | "email"
                );
                FieldInfo {
                    required: !f.nillable && f.createable && !f.defaulted_on_create,
                    max_length: (text && f.length > 0).then_some(f.length),
                    options: f
                        .picklist_values
                        .iter()
                        .filter(|p| p.active)
                        .map(|p| p.value.clone())
                        .collect(),
                    unique: f.external_id || f.unique,
                    read_only: !f.createable && !f.updateable,
                    label: f.label,
                    name: f.name,
                    kind,
                }
            })
            .collect())
    }

    fn quota(&self) -> Option<Quota> {
        self.inner.limits.quota()
    }
}
