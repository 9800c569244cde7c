//! sObject Collections and `/composite`.
//!
//! Collections take at most 200 records and answer 200 with one result per record, in
//! input order, errors under `statusCode`; with `allOrNone` any failure rolls every record
//! back (`ALL_OR_NONE_OPERATION_ROLLED_BACK`). `/composite` runs up to 25 subrequests, at
//! most five of them queries or collections, substitutes `@{referenceId.path}` references,
//! and with `allOrNone` rolls the whole request back when one subrequest fails
//! (`PROCESSING_HALTED`). The caller counts the whole request as one API call.

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::Shared;
use super::errors::{Answer, SfError};
use super::routes::{dispatch, lock_row_error, project_row, unsupported};
use super::store::{Org, Upserted};

const MAX_RECORDS: usize = 200;
/// Ids one retrieve with a request body may ask for.
const MAX_RETRIEVED: usize = 2_000;

fn too_many() -> Answer {
    Answer::error(
        400,
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    )
}

fn success(id: &str) -> Value {
    json!({"id": id, "success": true, "errors": []})
}

fn failure(errors: &[SfError]) -> Value {
    json!({"success": false, "errors": errors.iter().map(SfError::record).collect::<Vec<_>>()})
}

fn rolled_back() -> Value {
    failure(&[SfError::new(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
        &[],
    )])
}

/// `/composite/sobjects[...]`.
pub(crate) fn collections(
    shared: &Shared,
    org: &mut Org,
    method: &Method,
    version: &str,
    rest: &[&str],
    params: &Map<String, Value>,
    body: Option<Value>,
) -> Answer {
    match (method.as_str(), rest) {
        ("DELETE", []) => {
            let ids: Vec<String> = params
                .get("ids")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if ids.len() > MAX_RECORDS {
                return too_many();
            }
            let all_or_none = params.get("allOrNone").and_then(Value::as_str) == Some("true");
            let ops: Vec<Op> = ids.into_iter().map(Op::Delete).collect();
            run_ops(shared, org, ops, all_or_none)
        }
        ("GET", [object]) => {
            let Some(fields) = params.get("fields").and_then(Value::as_str) else {
                return Answer::error(400, "MISSING_ARGUMENT", "fields parameter is required");
            };
            let ids: Vec<&str> = params
                .get("ids")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .collect();
            retrieve(org, version, object, &ids, fields)
        }
        ("POST", [object]) => {
            // Retrieve with a request body: `{"ids": [...], "fields": [...]}`.
            let strings = |key: &str| -> Option<Vec<String>> {
                body.as_ref()?
                    .get(key)?
                    .as_array()?
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect()
            };
            let (Some(ids), Some(fields)) = (strings("ids"), strings("fields")) else {
                return Answer::error(
                    400,
                    "JSON_PARSER_ERROR",
                    "The request body must hold the arrays ids and fields",
                );
            };
            if ids.len() > MAX_RETRIEVED {
                return Answer::error(
                    400,
                    "EXCEEDED_ID_LIMIT",
                    "record limit reached. cannot retrieve more than 2000 records in one call",
                );
            }
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            retrieve(org, version, object, &ids, &fields.join(","))
        }
        (m @ ("POST" | "PATCH"), tail) => {
            let Some(Value::Object(req)) = body else {
                return Answer::error(
                    400,
                    "JSON_PARSER_ERROR",
                    "The request body must be a JSON object",
                );
            };
            let all_or_none = req
                .get("allOrNone")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let Some(records) = req.get("records").and_then(Value::as_array) else {
                return Answer::error(400, "INVALID_FIELD", "records is required");
            };
            if records.len() > MAX_RECORDS {
                return too_many();
            }
            let upsert_on = match tail {
                [] => None,
                [object, field] if m == "PATCH" => Some((object.to_string(), field.to_string())),
                _ => return Answer::error(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed"),
            };
            let mut ops = Vec::with_capacity(records.len());
            for record in records {
                let Value::Object(fields) = record else {
                    return Answer::error(
                        400,
                        "JSON_PARSER_ERROR",
                        "Each record must be a JSON object",
                    );
                };
                let object = fields
                    .get("attributes")
                    .and_then(|a| a.get("type"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let mut fields = fields.clone();
                fields.remove("attributes");
                let id = fields.remove("id").or_else(|| fields.remove("Id"));
                let op = match (&upsert_on, m) {
                    (Some((object, field)), _) => Op::Upsert(object.clone(), field.clone(), fields),
                    (None, "POST") => match id {
                        Some(_) => Op::Refused(SfError::new(
                            "INVALID_FIELD",
                            "cannot specify Id in an insert call",
                            &["Id"],
                        )),
                        None => Op::Create(object, fields),
                    },
                    (None, _) => match id.as_ref().and_then(Value::as_str) {
                        Some(id) => Op::Update(object, id.to_string(), fields),
                        None => Op::Refused(SfError::new(
                            "MISSING_ARGUMENT",
                            "Id not specified in an update call",
                            &[],
                        )),
                    },
                };
                ops.push(op);
            }
            run_ops(shared, org, ops, all_or_none)
        }
        _ => Answer::error(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed"),
    }
}

/// The rows of `ids` with `fields` (comma-separated), in order; `null` for an id that is
/// not a live record of `object`.
fn retrieve(org: &Org, version: &str, object: &str, ids: &[&str], fields: &str) -> Answer {
    if org.def(object).is_none() {
        return unsupported(object);
    }
    let out: Vec<Value> = ids
        .iter()
        .map(|id| match org.get(object, id) {
            Some(row) if row.get("IsDeleted") != Some(&Value::Bool(true)) => {
                project_row(version, object, row, Some(fields))
            }
            _ => Value::Null,
        })
        .collect();
    Answer::ok(Value::Array(out))
}

enum Op {
    Create(Option<String>, Map<String, Value>),
    Update(Option<String>, String, Map<String, Value>),
    Upsert(String, String, Map<String, Value>),
    Delete(String),
    Refused(SfError),
}

fn apply_one(org: &mut Org, op: Op) -> Result<Value, Vec<SfError>> {
    let no_type = || {
        vec![SfError::new(
            "INVALID_TYPE",
            "Must send a concrete entity type.",
            &[],
        )]
    };
    match op {
        Op::Refused(e) => Err(vec![e]),
        Op::Create(object, fields) => {
            let object = object.ok_or_else(no_type)?;
            org.create(&object, &fields).map(|id| success(&id))
        }
        Op::Update(object, id, fields) => {
            let object = match object.or_else(|| org.object_of(&id).map(str::to_string)) {
                Some(o) => o,
                None => {
                    return Err(vec![SfError::new(
                        "MALFORMED_ID",
                        &format!("malformed id {id}"),
                        &[],
                    )]);
                }
            };
            org.update(&object, &id, &fields)
                .map(|()| success(&Org::normalize_id(&id).unwrap_or(id)))
        }
        Op::Upsert(object, field, mut fields) => {
            let key = fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&field))
                .map(|(_, v)| v.clone());
            let value = match key {
                Some(Value::String(s)) if !s.is_empty() => s,
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(vec![SfError::new(
                        "INVALID_FIELD",
                        &format!(
                            "The external ID field {field} is missing or empty in this record"
                        ),
                        &[&field],
                    )]);
                }
            };
            fields.retain(|k, _| !k.eq_ignore_ascii_case(&field));
            match org.upsert(&object, &field, &value, &fields)? {
                Upserted::Created(id) => {
                    Ok(json!({"id": id, "success": true, "errors": [], "created": true}))
                }
                Upserted::Updated(id) => {
                    Ok(json!({"id": id, "success": true, "errors": [], "created": false}))
                }
                Upserted::Ambiguous(_) => Err(vec![SfError::new(
                    "DUPLICATE_EXTERNAL_ID",
                    &format!("{field}: more than one record found for external id field: {value}"),
                    &[&field],
                )]),
            }
        }
        Op::Delete(id) => {
            let object = org.object_of(&id).ok_or_else(|| {
                vec![SfError::new(
                    "MALFORMED_ID",
                    &format!("malformed id {id}"),
                    &[],
                )]
            })?;
            org.delete(object, &id)
                .map(|()| success(&Org::normalize_id(&id).unwrap_or(id)))
        }
    }
}

fn op_id(op: &Op) -> String {
    match op {
        Op::Update(_, id, _) | Op::Delete(id) => id.clone(),
        _ => String::new(),
    }
}

fn run_ops(shared: &Shared, org: &mut Org, ops: Vec<Op>, all_or_none: bool) -> Answer {
    // allOrNone needs a rollback: work on a copy and keep it only when every record passed.
    let mut scratch = if all_or_none { Some(org.clone()) } else { None };
    let mut results = Vec::with_capacity(ops.len());
    let mut failed = false;
    for op in ops {
        let target = scratch.as_mut().unwrap_or(&mut *org);
        let result = if shared.draw_lock_row() {
            Err(vec![lock_row_error(&op_id(&op))])
        } else {
            apply_one(target, op)
        };
        match result {
            Ok(v) => results.push((true, v)),
            Err(errors) => {
                failed = true;
                results.push((false, failure(&errors)));
            }
        }
    }
    if let Some(copy) = scratch {
        if failed {
            let out = results
                .into_iter()
                .map(|(ok, v)| if ok { rolled_back() } else { v })
                .collect();
            return Answer::ok(Value::Array(out));
        }
        *org = copy;
    }
    Answer::ok(Value::Array(results.into_iter().map(|(_, v)| v).collect()))
}

fn is_heavy(method: &str, url: &str) -> bool {
    let path = url.split('?').next().unwrap_or_default();
    (method == "GET" && (path.contains("/query") || path.contains("/queryAll")))
        || path.contains("/composite/sobjects")
}

/// Resolves `@{ref.path}` references against earlier subrequest bodies.
fn resolve(text: &str, done: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("Invalid reference specified: {after}"));
        };
        let expr = &after[..end];
        let mut parts = expr.split('.');
        let reference = parts.next().unwrap_or_default();
        let mut value = done.get(reference).ok_or_else(|| {
            format!("Invalid reference specified. No value for {expr} found in {reference}")
        })?;
        for part in parts {
            let (name, index) = match part.split_once('[') {
                Some((name, idx)) => (name, idx.trim_end_matches(']').parse::<usize>().ok()),
                None => (part, None),
            };
            value = value.get(name).ok_or_else(|| {
                format!("Invalid reference specified. No value for {expr} found in {reference}")
            })?;
            if let Some(i) = index {
                value = value.get(i).ok_or_else(|| {
                    format!("Invalid reference specified. No value for {expr} found in {reference}")
                })?;
            }
        }
        match value {
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve_value(value: &Value, done: &Map<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(resolve(s, done)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| resolve_value(v, done))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_value(v, done)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn halted() -> Value {
    json!([{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed."}])
}

/// `POST /composite`.
pub(crate) fn composite(
    shared: &Shared,
    org: &mut Org,
    version: &str,
    body: Option<Value>,
) -> Answer {
    let Some(Value::Object(req)) = body else {
        return Answer::error(
            400,
            "JSON_PARSER_ERROR",
            "The request body must be a JSON object",
        );
    };
    let all_or_none = req
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(subs) = req.get("compositeRequest").and_then(Value::as_array) else {
        return Answer::error(400, "INVALID_API_INPUT", "compositeRequest is required");
    };
    if subs.is_empty() || subs.len() > 25 {
        return Answer::error(
            400,
            "INVALID_API_INPUT",
            "A composite request must contain between 1 and 25 subrequests",
        );
    }
    let heavy = subs
        .iter()
        .filter(|s| {
            is_heavy(
                s.get("method").and_then(Value::as_str).unwrap_or_default(),
                s.get("url").and_then(Value::as_str).unwrap_or_default(),
            )
        })
        .count();
    if heavy > 5 {
        return Answer::error(
            400,
            "INVALID_API_INPUT",
            "A composite request can contain at most 5 sObject Collections or query subrequests",
        );
    }
    let mut seen = std::collections::HashSet::new();
    for s in subs {
        let r = s
            .get("referenceId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if r.is_empty()
            || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || !seen.insert(r.to_string())
        {
            return Answer::error(
                400,
                "INVALID_API_INPUT",
                &format!("Invalid or duplicate referenceId: {r}"),
            );
        }
    }
    let snapshot = if all_or_none { Some(org.clone()) } else { None };
    let mut done = Map::new();
    let mut out: Vec<Value> = Vec::with_capacity(subs.len());
    let mut failed_at: Option<usize> = None;
    for (i, s) in subs.iter().enumerate() {
        let reference = s
            .get("referenceId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if failed_at.is_some() && all_or_none {
            out.push(json!({"body": halted(), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference}));
            continue;
        }
        let method = s.get("method").and_then(Value::as_str).unwrap_or("GET");
        let url = s.get("url").and_then(Value::as_str).unwrap_or_default();
        let resolved = resolve(url, &done).and_then(|u| {
            s.get("body")
                .map(|b| resolve_value(b, &done))
                .transpose()
                .map(|b| (u, b))
        });
        let answer = match (resolved, method.parse::<Method>()) {
            (Err(message), _) => Answer::error(400, "PROCESSING_HALTED", &message),
            (_, Err(_)) => Answer::error(
                400,
                "INVALID_API_INPUT",
                &format!("Invalid HTTP method: {method}"),
            ),
            (Ok((url, body)), Ok(method)) => {
                let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
                dispatch(shared, org, &method, path, query, body, false)
            }
        };
        if answer.status >= 400 && failed_at.is_none() {
            failed_at = Some(i);
        }
        if let Some(body) = &answer.body
            && answer.status < 400
        {
            done.insert(reference.clone(), body.clone());
        }
        // A created record's subresponse carries its Location, as Salesforce's does.
        let location = match (&answer.body, answer.status) {
            (Some(body), 201) => body.get("id").and_then(Value::as_str).and_then(|id| {
                let object = url.split("/sobjects/").nth(1)?.split(['/', '?']).next()?;
                Some(format!("/services/data/v{version}/sobjects/{object}/{id}"))
            }),
            _ => None,
        };
        let headers = match location {
            Some(l) => json!({"Location": l}),
            None => json!({}),
        };
        out.push(json!({
            "body": answer.body.unwrap_or(Value::Null),
            "httpHeaders": headers,
            "httpStatusCode": answer.status,
            "referenceId": reference,
        }));
    }
    if let (Some(failed), Some(snapshot)) = (failed_at, snapshot) {
        *org = snapshot;
        for (i, entry) in out.iter_mut().enumerate() {
            if i < failed {
                entry["body"] = halted();
                entry["httpStatusCode"] = json!(400);
            }
        }
    }
    Answer::ok(json!({"compositeResponse": out}))
}
