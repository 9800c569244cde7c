//! HTTP routes of the sandbox: the bearer and limit checks every REST call passes, and
//! [`dispatch`], which answers one REST call from its method, path, query and body (the
//! token endpoint is [`super::oauth`]). `/composite` runs its subrequests through the same [`dispatch`], so a
//! subrequest behaves exactly like the direct call.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{Map, Value, json};

use super::errors::{Answer, SalesforceFaultBodies, SfError};
use super::store::{Org, Upserted, format_datetime};
use super::{QueryCursor, Shared, composite, lock, oauth, soql};
use crate::common::layer;

/// Rows per query page, Salesforce's default and maximum batch size.
pub const PAGE_SIZE: usize = 2_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api_paths = [
        "/services/data/{v}/limits",
        "/services/data/{v}/query",
        "/services/data/{v}/query/{locator}",
        "/services/data/{v}/queryAll",
        "/services/data/{v}/queryAll/{locator}",
        "/services/data/{v}/sobjects",
        "/services/data/{v}/sobjects/{object}",
        "/services/data/{v}/sobjects/{object}/describe",
        "/services/data/{v}/sobjects/{object}/updated",
        "/services/data/{v}/sobjects/{object}/deleted",
        "/services/data/{v}/sobjects/{object}/{id}",
        "/services/data/{v}/sobjects/{object}/{field}/{value}",
        "/services/data/{v}/composite",
        "/services/data/{v}/composite/sobjects",
        "/services/data/{v}/composite/sobjects/{object}",
        "/services/data/{v}/composite/sobjects/{object}/{field}",
    ];
    let mut router = Router::new()
        .route("/services/oauth2/token", post(oauth::token))
        .route("/services/data", get(versions))
        .route("/services/data/", get(versions));
    for path in api_paths {
        // simple-salesforce adds trailing slashes (`query/`, `sobjects/Lead/`).
        router = router
            .route(path, any(api))
            .route(&format!("{path}/"), any(api));
    }
    let counters = shared.counters.clone();
    let faults = shared.faults.clone();
    layer(
        router.with_state(shared),
        counters,
        faults,
        Arc::new(SalesforceFaultBodies),
    )
}

async fn versions() -> Response {
    let list: Vec<Value> = [(62, "Winter '25"), (63, "Spring '25"), (64, "Summer '25"), (65, "Winter '26"), (66, "Spring '26"), (67, "Summer '26")]
        .iter()
        .map(|(v, label)| json!({"label": label, "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0")}))
        .collect();
    Answer::ok(Value::Array(list)).into_response()
}

async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let counts = !path.trim_end_matches('/').ends_with("/limits");
    let answer = if !oauth::token_valid(&shared, &headers) {
        Answer::error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    } else if counts && shared.usage.load(Ordering::SeqCst) >= shared.limit.load(Ordering::SeqCst) {
        Answer::error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
    } else {
        if counts {
            shared.usage.fetch_add(1, Ordering::SeqCst);
        }
        match parse_body(&body) {
            Err(answer) => answer,
            Ok(json) => {
                let mut org = lock(&shared.org);
                dispatch(&shared, &mut org, &method, &path, &query, json, true)
            }
        }
    };
    let mut response = answer.into_response();
    let info = format!(
        "api-usage={}/{}",
        shared.usage.load(Ordering::SeqCst),
        shared.limit.load(Ordering::SeqCst)
    );
    if let Ok(value) = HeaderValue::from_str(&info) {
        response.headers_mut().insert("sforce-limit-info", value);
    }
    response
}

fn parse_body(body: &Bytes) -> Result<Option<Value>, Answer> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|err| {
        Answer::error(
            400,
            "JSON_PARSER_ERROR",
            &format!("Unexpected character: was expecting a JSON value: {err}"),
        )
    })
}

/// Decodes `%XX` escapes (and nothing else) in a path segment.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn params(query: &str) -> Map<String, Value> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

/// Answers one REST call. `top` is false for `/composite` subrequests (which may not nest).
pub(crate) fn dispatch(
    shared: &Shared,
    org: &mut Org,
    method: &Method,
    path: &str,
    query: &str,
    body: Option<Value>,
    top: bool,
) -> Answer {
    let Some(rest) = path.strip_prefix("/services/data/") else {
        return Answer::errors(&[SfError::not_found()]);
    };
    let segs: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let Some(version) = segs.first().and_then(|v| v.strip_prefix('v')) else {
        return Answer::errors(&[SfError::not_found()]);
    };
    match version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
    {
        Some(major) if (31..=68).contains(&major) => {}
        Some(major) if major < 31 => {
            return Answer::error(410, "GONE", "The requested API version has been retired");
        }
        _ => return Answer::errors(&[SfError::not_found()]),
    }
    let version = version.to_string();
    let p = params(query);
    let segs: Vec<&str> = segs.iter().skip(1).map(String::as_str).collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["limits"]) => {
            let used = shared.usage.load(Ordering::SeqCst);
            let max = shared.limit.load(Ordering::SeqCst);
            Answer::ok(json!({
                "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            }))
        }
        ("GET", [kind @ ("query" | "queryAll")]) => {
            let q = p.get("q").and_then(Value::as_str).unwrap_or_default();
            run_query(shared, org, &version, q, *kind == "queryAll")
        }
        ("GET", ["query" | "queryAll", locator]) => query_more(shared, &version, locator),
        ("GET", ["sobjects"]) => {
            let mut defs: Vec<_> = org.defs().iter().collect();
            defs.sort_by_key(|d| d.name);
            let sobjects: Vec<Value> = defs.iter().map(|d| d.summary(&version)).collect();
            Answer::ok(json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}))
        }
        ("GET", ["sobjects", object]) => match org.def(object) {
            Some(def) => {
                Answer::ok(json!({"objectDescribe": def.summary(&version), "recentItems": []}))
            }
            None => unsupported(object),
        },
        ("GET", ["sobjects", object, "describe"]) => match org.def(object) {
            Some(def) => Answer::ok(def.describe(&version)),
            None => unsupported(object),
        },
        ("GET", ["sobjects", object, which @ ("updated" | "deleted")]) => {
            replication(org, object, which, &p)
        }
        ("POST", ["sobjects", object]) => match body {
            Some(Value::Object(fields)) => {
                if org.def(object).is_none() {
                    return unsupported(object);
                }
                if shared.draw_lock_row() {
                    return lock_row_answer("");
                }
                match org.create(object, &fields) {
                    Ok(id) => Answer::with(201, json!({"id": id, "success": true, "errors": []})),
                    Err(errors) => Answer::errors_with(400, &errors),
                }
            }
            _ => Answer::error(
                400,
                "JSON_PARSER_ERROR",
                "The request body must be a JSON object",
            ),
        },
        ("GET", ["sobjects", object, id]) => {
            if org.def(object).is_none() {
                return unsupported(object);
            }
            match org
                .get(object, id)
                .filter(|r| r.get("IsDeleted") != Some(&Value::Bool(true)))
            {
                Some(row) => Answer::ok(project_row(
                    &version,
                    object,
                    row,
                    p.get("fields").and_then(Value::as_str),
                )),
                None => Answer::errors(&[SfError::not_found()]),
            }
        }
        ("PATCH", ["sobjects", object, id]) => {
            if org.def(object).is_none() {
                return unsupported(object);
            }
            let Some(Value::Object(fields)) = body else {
                return Answer::error(
                    400,
                    "JSON_PARSER_ERROR",
                    "The request body must be a JSON object",
                );
            };
            if shared.draw_lock_row() {
                return lock_row_answer(id);
            }
            match org.update(object, id, &fields) {
                Ok(()) => Answer::no_content(),
                Err(errors) => Answer::errors(&errors),
            }
        }
        ("DELETE", ["sobjects", object, id]) => {
            if org.def(object).is_none() {
                return unsupported(object);
            }
            match org.delete(object, id) {
                Ok(()) => Answer::no_content(),
                Err(errors) => Answer::errors(&errors),
            }
        }
        ("GET", ["sobjects", object, field, value]) => {
            let Some(def) = org.def(object) else {
                return unsupported(object);
            };
            let Some(f) = def
                .field(field)
                .filter(|f| f.external_id || f.name == "Id")
                .map(|f| f.name.clone())
            else {
                return Answer::errors(&[SfError::new(
                    "NOT_FOUND",
                    &format!(
                        "Provided external ID field does not exist or is not accessible: {field}"
                    ),
                    &[],
                )]);
            };
            let lower = value.to_lowercase();
            let hits: Vec<Map<String, Value>> = org
                .rows(object)
                .filter(|r| r.get("IsDeleted") != Some(&Value::Bool(true)))
                .filter(|r| {
                    r.get(&f)
                        .and_then(Value::as_str)
                        .map(str::to_lowercase)
                        .as_deref()
                        == Some(lower.as_str())
                })
                .cloned()
                .collect();
            match hits.as_slice() {
                [] => Answer::errors(&[SfError::not_found()]),
                [row] => Answer::ok(project_row(
                    &version,
                    object,
                    row,
                    p.get("fields").and_then(Value::as_str),
                )),
                many => Answer::with(
                    300,
                    Value::Array(
                        many.iter()
                            .map(|r| json!(record_url(&version, object, r)))
                            .collect(),
                    ),
                ),
            }
        }
        ("PATCH", ["sobjects", object, field, value]) => {
            if org.def(object).is_none() {
                return unsupported(object);
            }
            let Some(Value::Object(fields)) = body else {
                return Answer::error(
                    400,
                    "JSON_PARSER_ERROR",
                    "The request body must be a JSON object",
                );
            };
            if fields.keys().any(|k| k.eq_ignore_ascii_case(field)) {
                return Answer::error(
                    400,
                    "INVALID_FIELD",
                    &format!(
                        "The field {field} is specified in the URL and must not be in the request body"
                    ),
                );
            }
            if shared.draw_lock_row() {
                return lock_row_answer("");
            }
            match org.upsert(object, field, value, &fields) {
                Ok(Upserted::Created(id)) => Answer::with(
                    201,
                    json!({"id": id, "success": true, "errors": [], "created": true}),
                ),
                Ok(Upserted::Updated(id)) => {
                    Answer::ok(json!({"id": id, "success": true, "errors": [], "created": false}))
                }
                Ok(Upserted::Ambiguous(ids)) => Answer::with(
                    300,
                    Value::Array(
                        ids.iter()
                            .map(|id| {
                                json!(format!("/services/data/v{version}/sobjects/{object}/{id}"))
                            })
                            .collect(),
                    ),
                ),
                Err(errors) => Answer::errors(&errors),
            }
        }
        (_, ["composite", "sobjects", ..]) => {
            composite::collections(shared, org, method, &version, &segs[2..], &p, body)
        }
        ("POST", ["composite"]) if top => composite::composite(shared, org, &version, body),
        ("POST", ["composite"]) => Answer::error(
            400,
            "INVALID_API_INPUT",
            "A composite request cannot contain another composite request",
        ),
        _ => Answer::error(
            if segs.is_empty() { 404 } else { 405 },
            if segs.is_empty() {
                "NOT_FOUND"
            } else {
                "METHOD_NOT_ALLOWED"
            },
            &format!("HTTP Method '{method}' not allowed. Allowed are GET,HEAD,PATCH,POST,DELETE"),
        ),
    }
}

pub(crate) fn lock_row_answer(id: &str) -> Answer {
    Answer::errors_with(400, &[lock_row_error(id)])
}

pub(crate) fn lock_row_error(id: &str) -> SfError {
    SfError::new(
        "UNABLE_TO_LOCK_ROW",
        &format!("unable to obtain exclusive access to this record or 1 records: {id}"),
        &[],
    )
}

pub(crate) fn unsupported(object: &str) -> Answer {
    Answer::errors_with(
        404,
        &[SfError::new(
            "NOT_FOUND",
            &format!(
                "The requested resource does not exist: sObject type '{object}' is not supported."
            ),
            &[],
        )],
    )
}

pub(crate) fn record_url(version: &str, object: &str, row: &Map<String, Value>) -> String {
    let id = row.get("Id").and_then(Value::as_str).unwrap_or_default();
    format!("/services/data/v{version}/sobjects/{object}/{id}")
}

/// A row with `attributes`, all fields or the comma-separated `fields`.
pub(crate) fn project_row(
    version: &str,
    object: &str,
    row: &Map<String, Value>,
    fields: Option<&str>,
) -> Value {
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": object, "url": record_url(version, object, row)}),
    );
    match fields {
        Some(list) => {
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if let Some((k, v)) = row.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        None => out.extend(row.iter().map(|(k, v)| (k.clone(), v.clone()))),
    }
    Value::Object(out)
}

fn unsupported_type(object: &str) -> Answer {
    Answer::error(
        400,
        "INVALID_TYPE",
        &format!(
            "sObject type '{object}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

/// Runs a SOQL query and answers its first page.
pub(crate) fn run_query(
    shared: &Shared,
    org: &Org,
    version: &str,
    text: &str,
    all: bool,
) -> Answer {
    let parsed = match soql::parse(text) {
        Ok(q) => q,
        Err(e) => return Answer::error(400, e.code, &e.message),
    };
    let Some(def) = org.def_ci(&parsed.object) else {
        return unsupported_type(&parsed.object);
    };
    let mut with_id = parsed.clone();
    let has_id = parsed.fields.iter().any(|f| f.eq_ignore_ascii_case("Id"));
    if !has_id {
        with_id.fields.push("Id".into());
    }
    let rows = org
        .rows(def.name)
        .filter(|r| all || r.get("IsDeleted") != Some(&Value::Bool(true)));
    let result = match soql::execute(&with_id, &def.schema(), rows) {
        Ok(r) => r,
        Err(e) => return Answer::error(400, e.code, &e.message),
    };
    let records: Vec<Value> = result
        .into_iter()
        .map(|mut row| {
            let mut out = Map::new();
            out.insert(
                "attributes".into(),
                json!({"type": def.name, "url": record_url(version, def.name, &row)}),
            );
            if !has_id {
                row.remove("Id");
            }
            out.extend(row);
            Value::Object(out)
        })
        .collect();
    page(shared, version, Arc::new(records), 0, None)
}

fn page(
    shared: &Shared,
    version: &str,
    records: Arc<Vec<Value>>,
    offset: usize,
    cursor: Option<String>,
) -> Answer {
    let total = records.len();
    let end = (offset + PAGE_SIZE).min(total);
    let slice: Vec<Value> = records
        .get(offset..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut body = json!({"totalSize": total, "done": end >= total, "records": slice});
    if end < total {
        let id = cursor.unwrap_or_else(|| {
            let n = shared.cursor_seq.fetch_add(1, Ordering::SeqCst);
            let id = format!("01g5g{n:010}");
            lock(&shared.cursors).insert(
                id.clone(),
                QueryCursor {
                    records: records.clone(),
                },
            );
            id
        });
        body["nextRecordsUrl"] = json!(format!("/services/data/v{version}/query/{id}-{end}"));
    }
    Answer::ok(body)
}

fn query_more(shared: &Shared, version: &str, locator: &str) -> Answer {
    let invalid = || Answer::error(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let records = match lock(&shared.cursors).get(id) {
        Some(c) => c.records.clone(),
        None => return invalid(),
    };
    page(shared, version, records, offset, Some(id.to_string()))
}

fn parse_instant(p: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    let text = p.get(key)?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn replication(org: &Org, object: &str, which: &str, p: &Map<String, Value>) -> Answer {
    match org.def(object) {
        None => return unsupported(object),
        // OpportunityStage supports neither getUpdated nor getDeleted. [U] the exact answer.
        Some(def) if !def.replicateable => {
            return Answer::error(
                400,
                "INVALID_TYPE_FOR_OPERATION",
                &format!("entity type {} does not support replication", def.name),
            );
        }
        Some(_) => {}
    }
    let (Some(start), Some(end)) = (parse_instant(p, "start"), parse_instant(p, "end")) else {
        return Answer::error(
            400,
            "MALFORMED_QUERY",
            "start and end must be valid dateTime values",
        );
    };
    // Seconds are truncated, as Salesforce does.
    let trunc =
        |t: DateTime<Utc>| t - ChronoDuration::nanoseconds(t.timestamp_subsec_nanos() as i64);
    let (start, end) = (trunc(start), trunc(end));
    let now = org.now();
    if start >= end {
        return Answer::error(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate by more than one minute",
        );
    }
    if start < now - ChronoDuration::days(30) {
        return Answer::error(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate cannot be more than 30 days ago",
        );
    }
    let covered = format_datetime(end.min(now));
    if which == "updated" {
        Answer::ok(
            json!({"ids": org.updated_between(object, start, end), "latestDateCovered": covered}),
        )
    } else {
        let deleted: Vec<Value> = org
            .deleted_between(object, start, end)
            .into_iter()
            .map(|(id, at)| json!({"id": id, "deletedDate": at}))
            .collect();
        Answer::ok(json!({
            "deletedRecords": deleted,
            "earliestDateAvailable": format_datetime(now - ChronoDuration::days(30)),
            "latestDateCovered": covered,
        }))
    }
}
