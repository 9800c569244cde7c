//! Salesforce's error shapes, as the sandbox answers them.
//!
//! Top-level REST errors are a JSON array of `{message, errorCode, fields}`; inside sObject
//! Collections results the same error is `{statusCode, message, fields}`. One [`SfError`]
//! renders both, so the two never drift apart.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::common::FaultBodies;

/// One Salesforce error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfError {
    /// `REQUIRED_FIELD_MISSING`, `INVALID_SESSION_ID`...
    pub code: String,
    /// Salesforce's message.
    pub message: String,
    /// The fields at fault.
    pub fields: Vec<String>,
}

impl SfError {
    /// An error with a code, a message and fields.
    pub fn new(code: &str, message: &str, fields: &[&str]) -> SfError {
        SfError {
            code: code.into(),
            message: message.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// `NOT_FOUND`.
    pub fn not_found() -> SfError {
        SfError::new("NOT_FOUND", "The requested resource does not exist", &[])
    }

    /// The top-level REST form.
    pub fn rest(&self) -> Value {
        let mut v = json!({"message": self.message, "errorCode": self.code});
        if !self.fields.is_empty() {
            v["fields"] = json!(self.fields);
        }
        v
    }

    /// The collection-result form.
    pub fn record(&self) -> Value {
        json!({"statusCode": self.code, "message": self.message, "fields": self.fields})
    }
}

/// The HTTP status Salesforce answers a record-level error with on single-row calls.
pub fn status_of(errors: &[SfError]) -> u16 {
    match errors.first().map(|e| e.code.as_str()) {
        Some("NOT_FOUND") => 404,
        Some("ENTITY_IS_DELETED") => 404,
        Some("INVALID_SESSION_ID") => 401,
        Some("REQUEST_LIMIT_EXCEEDED") => 403,
        _ => 400,
    }
}

/// An API answer before it becomes an HTTP response: status and optional JSON body. Used
/// both for direct calls and for `/composite` subrequests.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body; `None` for 204.
    pub body: Option<Value>,
}

impl Answer {
    /// 200 with a body.
    pub fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body: Some(body),
        }
    }

    /// A status with a body.
    pub fn with(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body: Some(body),
        }
    }

    /// 204 No Content.
    pub fn no_content() -> Answer {
        Answer {
            status: 204,
            body: None,
        }
    }

    /// Errors in the REST array form, with the status they call for.
    pub fn errors(errors: &[SfError]) -> Answer {
        Answer::errors_with(status_of(errors), errors)
    }

    /// Errors in the REST array form with an explicit status.
    pub fn errors_with(status: u16, errors: &[SfError]) -> Answer {
        Answer {
            status,
            body: Some(Value::Array(errors.iter().map(SfError::rest).collect())),
        }
    }

    /// One error with an explicit status.
    pub fn error(status: u16, code: &str, message: &str) -> Answer {
        Answer::errors_with(status, &[SfError::new(code, message, &[])])
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.body {
            Some(body) => (status, Json(body)).into_response(),
            None => status.into_response(),
        }
    }
}

/// Salesforce's bodies for injected faults.
#[derive(Debug, Default)]
pub struct SalesforceFaultBodies;

impl FaultBodies for SalesforceFaultBodies {
    fn server_error(&self) -> Response {
        Answer::error(
            503,
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable. Please try again later.",
        )
        .into_response()
    }

    fn rate_limited(&self, _retry_after_secs: u64) -> Response {
        // Salesforce has no 429 and no Retry-After: its concurrency limit answers 403.
        Answer::error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentPerOrgLongTxn Limit exceeded.",
        )
        .into_response()
    }
}
