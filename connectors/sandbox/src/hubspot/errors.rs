//! HubSpot's error answers, as the sandbox sends them.
//!
//! Bodies are the ones HubSpot documents for its CRM v3 API: the `{status, message,
//! correlationId, category, errors[]}` envelope, the 409 whose only trace of the existing
//! record is `Existing ID: N` in the message, the 2026-09 rule refusals
//! (`MISSING_REQUIRED_PROPERTY`...), and the 429 with `policyName`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::objects::ObjectType;
use super::wire::{ErrorBody, ErrorDetail, StandardError};

static CORRELATION: AtomicU64 = AtomicU64::new(1);

/// A fresh correlation id shaped like HubSpot's (a UUID).
pub fn correlation_id() -> String {
    let n = CORRELATION.fetch_add(1, Ordering::Relaxed);
    let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (mixed >> 32) as u32,
        (mixed >> 16) as u16,
        (mixed >> 4) & 0xfff,
        n & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

/// One invalid property value of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// `INVALID_EMAIL`, `PROPERTY_DOESNT_EXIST`, `INVALID_OPTION`, `READ_ONLY_VALUE`...
    pub code: &'static str,
    /// HubSpot's message for it.
    pub message: String,
    /// The property at fault.
    pub property: String,
}

/// Why the portal refused a write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteError {
    /// Some values are not valid (400 `VALIDATION_ERROR`).
    Invalid(Vec<Invalid>),
    /// The portal's 2026-09 write validation rules refuse the write (400
    /// `VALIDATION_ERROR`, `MISSING_REQUIRED_PROPERTY`...).
    Rules(Vec<Invalid>),
    /// Anything else HubSpot refuses with a 400 `VALIDATION_ERROR` and a context (an
    /// association to a record that does not exist...).
    Refused {
        /// HubSpot's message.
        message: String,
        /// The context, such as `INVALID_OBJECT_IDS`.
        context: BTreeMap<String, Vec<String>>,
    },
    /// A unique value (a contact's email, a `hasUniqueValue` property) belongs to another
    /// record (409 `CONFLICT`).
    Conflict {
        /// The type of the records.
        object: ObjectType,
        /// The record that has it.
        existing: u64,
    },
    /// No such record (404 / `OBJECT_NOT_FOUND`).
    NotFound(String),
}

/// The top-level message of a rule refusal.
const RULES_MESSAGE: &str = "The property values provided are invalid";

impl WriteError {
    /// The error as the body of a single-record call.
    pub fn into_response(self) -> Response {
        match self {
            WriteError::Invalid(invalid) => error(
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    message: validation_message(&invalid),
                    category: Some("VALIDATION_ERROR".into()),
                    errors: invalid.iter().map(detail).collect(),
                    ..envelope()
                },
            ),
            WriteError::Rules(invalid) => error(
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    message: RULES_MESSAGE.into(),
                    category: Some("VALIDATION_ERROR".into()),
                    errors: invalid.iter().map(detail).collect(),
                    ..envelope()
                },
            ),
            WriteError::Refused { message, context } => error(
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    message,
                    category: Some("VALIDATION_ERROR".into()),
                    context,
                    ..envelope()
                },
            ),
            WriteError::Conflict { object, existing } => conflict(object, existing),
            WriteError::NotFound(_) => not_found(),
        }
    }

    /// The error as one entry of a 207's `errors[]`, naming the input it concerns.
    pub fn standard(
        self,
        object: ObjectType,
        id: Option<&str>,
        trace: Option<&str>,
    ) -> StandardError {
        let mut context: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(id) = id {
            context.insert("ids".into(), vec![id.to_string()]);
        }
        if let Some(trace) = trace {
            context.insert("objectWriteTraceId".into(), vec![trace.to_string()]);
        }
        let (category, message, errors) = match self {
            WriteError::Invalid(invalid) => {
                let props: Vec<String> = invalid.iter().map(|i| i.property.clone()).collect();
                context.insert("propertyName".into(), props);
                (
                    "VALIDATION_ERROR",
                    validation_message(&invalid),
                    invalid.iter().map(detail).collect(),
                )
            }
            WriteError::Rules(invalid) => {
                let props: Vec<String> = invalid.iter().map(|i| i.property.clone()).collect();
                context.insert("propertyName".into(), props);
                (
                    "VALIDATION_ERROR",
                    RULES_MESSAGE.to_string(),
                    invalid.iter().map(detail).collect(),
                )
            }
            WriteError::Refused {
                message,
                context: more,
            } => {
                context.extend(more);
                ("VALIDATION_ERROR", message, Vec::new())
            }
            WriteError::Conflict { object, existing } => {
                ("CONFLICT", conflict_message(object, existing), Vec::new())
            }
            WriteError::NotFound(_) => (
                "OBJECT_NOT_FOUND",
                format!(
                    "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
                    object.upper()
                ),
                Vec::new(),
            ),
        };
        StandardError {
            status: "error".into(),
            category: category.into(),
            message,
            context,
            errors,
            ..StandardError::default()
        }
    }
}

fn validation_message(invalid: &[Invalid]) -> String {
    let items: Vec<serde_json::Value> = invalid
        .iter()
        .map(|i| {
            serde_json::json!({
                "isValid": false,
                "message": i.message,
                "error": i.code,
                "name": i.property,
            })
        })
        .collect();
    format!(
        "Property values were not valid: {}",
        serde_json::Value::Array(items)
    )
}

fn detail(invalid: &Invalid) -> ErrorDetail {
    ErrorDetail {
        message: invalid.message.clone(),
        code: Some(invalid.code.to_string()),
        context: BTreeMap::from([("propertyName".to_string(), vec![invalid.property.clone()])]),
        ..ErrorDetail::default()
    }
}

/// The common envelope: `status: "error"` and a correlation id.
pub fn envelope() -> ErrorBody {
    ErrorBody {
        status: "error".into(),
        correlation_id: correlation_id(),
        ..ErrorBody::default()
    }
}

/// A JSON error answer with the correlation header.
pub fn error(status: StatusCode, body: ErrorBody) -> Response {
    let id = body.correlation_id.clone();
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert("x-hubspot-correlation-id", value);
    }
    response
}

/// 400 `VALIDATION_ERROR` with a plain message (bad request shape, too many inputs...).
pub fn bad_request(message: impl Into<String>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        ErrorBody {
            message: message.into(),
            category: Some("VALIDATION_ERROR".into()),
            ..envelope()
        },
    )
}

/// 404 for a record that does not exist (or is archived).
pub fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        ErrorBody {
            message: "resource not found".into(),
            category: Some("OBJECT_NOT_FOUND".into()),
            ..envelope()
        },
    )
}

/// The message of a 409: the existing id is only here, as HubSpot does it for emails.
/// For other unique values HubSpot's wording is not documented; the sandbox uses the same
/// shape (`Company already exists. Existing ID: N`) so one parser serves both.
fn conflict_message(object: ObjectType, existing: u64) -> String {
    format!("{} already exists. Existing ID: {existing}", object.label())
}

/// 409 for a duplicate unique value (email, `hasUniqueValue` property).
pub fn conflict(object: ObjectType, existing: u64) -> Response {
    error(
        StatusCode::CONFLICT,
        ErrorBody {
            message: conflict_message(object, existing),
            category: Some("CONFLICT".into()),
            ..envelope()
        },
    )
}

/// 409 for a property name that is taken.
pub fn property_exists(name: &str) -> Response {
    error(
        StatusCode::CONFLICT,
        ErrorBody {
            message: format!("Property named '{name}' already exists."),
            category: Some("OBJECT_ALREADY_EXISTS".into()),
            context: BTreeMap::from([("name".to_string(), vec![name.to_string()])]),
            ..envelope()
        },
    )
}

/// 401 for a missing or unknown token.
pub fn unauthenticated() -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        ErrorBody {
            message: "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview".into(),
            category: Some("INVALID_AUTHENTICATION".into()),
            ..envelope()
        },
    );
    response.headers_mut().insert(
        "x-hubspot-auth-failure",
        HeaderValue::from_static("401 Unauthorized"),
    );
    response
}

/// 401 for an OAuth token past its expiry.
pub fn expired(seconds_ago: u64, expired_at: &str) -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        ErrorBody {
            message: format!(
                "The OAuth token used to make this call expired {seconds_ago} second(s) ago."
            ),
            category: Some("EXPIRED_AUTHENTICATION".into()),
            context: BTreeMap::from([("expire time".to_string(), vec![expired_at.to_string()])]),
            ..envelope()
        },
    );
    response.headers_mut().insert(
        "x-hubspot-auth-failure",
        HeaderValue::from_static("401 Unauthorized"),
    );
    response
}

/// The rate-limit policies HubSpot names in a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The per-app burst per rolling 10 s.
    TenSecondlyRolling,
    /// The search endpoint's per-second limit.
    Secondly,
    /// The portal's daily allowance.
    Daily,
}

impl Policy {
    /// The `policyName` on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Policy::TenSecondlyRolling => "TEN_SECONDLY_ROLLING",
            Policy::Secondly => "SECONDLY",
            Policy::Daily => "DAILY",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Policy::TenSecondlyRolling => "You have reached your ten_secondly_rolling limit.",
            Policy::Secondly => "You have reached your secondly limit.",
            Policy::Daily => "You have reached your daily limit.",
        }
    }
}

/// A 429 for `policy`, with `Retry-After` when given.
pub fn rate_limited(policy: Policy, retry_after_secs: Option<u64>) -> Response {
    let body = ErrorBody {
        message: policy.message().into(),
        error_type: Some("RATE_LIMIT".into()),
        policy_name: Some(policy.name().into()),
        request_id: Some(correlation_id()),
        ..envelope()
    };
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, body);
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    response
}

/// The answer to an injected server fault: HubSpot's JSON 500.
pub fn internal_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorBody {
            message: "internal error".into(),
            category: Some("INTERNAL_ERROR".into()),
            ..envelope()
        },
    )
}
