//! Failure as data: what went wrong on the wire, and whether trying again can help.
//!
//! Every connector failure is an [`Error`] whose variant is its class (the question the retry
//! loop and the engine ask: "is this permanent?") and whose [`ApiError`] keeps what the API
//! said — HTTP status, error code, the API's own message, the fields it named — as data.
//! Nothing is flattened to a string, so a 429 never looks like a 400, and the quarantine can
//! show the admin Salesforce's exact words.

use std::fmt;
use std::time::Duration;

/// Whether, and how, a failed call may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A passing fault (5xx, timeout, reset connection, lock contention): retry with backoff.
    Transient,
    /// The API refused for quota reasons: wait (for `retry_after` when known), then retry.
    RateLimited,
    /// The credentials were rejected or expired: renew them once, then retry.
    AuthExpired,
    /// The API refused this record or request for good (validation, not found): never retry.
    Permanent,
    /// Nothing truce can do by retrying (missing scope, API disabled, bad configuration).
    Fatal,
    /// The record can no longer be written where it is (a converted Salesforce lead, a
    /// record merged away): the write is moot, and the next pull shows where the record
    /// went. Never retried, never quarantined.
    Superseded,
}

impl ErrorClass {
    /// True for the classes a retry loop should try again after waiting.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Transient | ErrorClass::RateLimited)
    }
}

/// What the remote API (or the network) said about a failed call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The API's error code (`INVALID_EMAIL`, `REQUIRED_FIELD_MISSING`, `RATE_LIMIT`...).
    pub code: Option<String>,
    /// The API's own message, verbatim, or a description of the network failure.
    pub message: String,
    /// The fields the API named as at fault.
    pub fields: Vec<String>,
    /// How long the API asked us to wait (`Retry-After`, or a rate-limit policy's window).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with only a message (network failures, malformed bodies).
    pub fn message(message: impl Into<String>) -> Self {
        ApiError {
            message: message.into(),
            ..ApiError::default()
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.status {
            write!(f, "HTTP {status} ")?;
        }
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)?;
        if !self.fields.is_empty() {
            write!(f, " (fields: {})", self.fields.join(", "))?;
        }
        Ok(())
    }
}

/// A failed connector call: its class, what truce was doing, and what the API said.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ErrorClass::Transient`].
    #[error("{action}: temporary failure: {api}")]
    Transient {
        /// What truce was doing ("HubSpot batch update of 100 contacts").
        action: String,
        /// What the API said.
        api: ApiError,
    },
    /// See [`ErrorClass::RateLimited`].
    #[error("{action}: rate limited: {api}")]
    RateLimited {
        /// What truce was doing.
        action: String,
        /// What the API said; `api.retry_after` holds the wait when known.
        api: ApiError,
    },
    /// See [`ErrorClass::AuthExpired`].
    #[error("{action}: credentials rejected or expired: {api}")]
    AuthExpired {
        /// What truce was doing.
        action: String,
        /// What the API said.
        api: ApiError,
    },
    /// See [`ErrorClass::Permanent`].
    #[error("{action}: rejected: {api}")]
    Permanent {
        /// What truce was doing.
        action: String,
        /// What the API said.
        api: ApiError,
    },
    /// See [`ErrorClass::Fatal`].
    #[error("{action}: {api}")]
    Fatal {
        /// What truce was doing.
        action: String,
        /// What the API said.
        api: ApiError,
    },
    /// See [`ErrorClass::Superseded`].
    #[error("{action}: the record moved on: {api}")]
    Superseded {
        /// What truce was doing.
        action: String,
        /// What the API said.
        api: ApiError,
    },
}

impl Error {
    /// Builds an error of the given class.
    pub fn new(class: ErrorClass, action: impl Into<String>, api: ApiError) -> Self {
        let action = action.into();
        match class {
            ErrorClass::Transient => Error::Transient { action, api },
            ErrorClass::RateLimited => Error::RateLimited { action, api },
            ErrorClass::AuthExpired => Error::AuthExpired { action, api },
            ErrorClass::Permanent => Error::Permanent { action, api },
            ErrorClass::Fatal => Error::Fatal { action, api },
            ErrorClass::Superseded => Error::Superseded { action, api },
        }
    }

    /// The class of this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Transient { .. } => ErrorClass::Transient,
            Error::RateLimited { .. } => ErrorClass::RateLimited,
            Error::AuthExpired { .. } => ErrorClass::AuthExpired,
            Error::Permanent { .. } => ErrorClass::Permanent,
            Error::Fatal { .. } => ErrorClass::Fatal,
            Error::Superseded { .. } => ErrorClass::Superseded,
        }
    }

    /// What the API said.
    pub fn api(&self) -> &ApiError {
        match self {
            Error::Transient { api, .. }
            | Error::RateLimited { api, .. }
            | Error::AuthExpired { api, .. }
            | Error::Permanent { api, .. }
            | Error::Fatal { api, .. }
            | Error::Superseded { api, .. } => api,
        }
    }

    /// What truce was doing when the call failed.
    pub fn action(&self) -> &str {
        match self {
            Error::Transient { action, .. }
            | Error::RateLimited { action, .. }
            | Error::AuthExpired { action, .. }
            | Error::Permanent { action, .. }
            | Error::Fatal { action, .. }
            | Error::Superseded { action, .. } => action,
        }
    }

    /// How long the API asked us to wait before trying again, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().retry_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_keeps_status_code_message_and_fields() {
        let err = Error::new(
            ErrorClass::Permanent,
            "Salesforce create of 1 Lead",
            ApiError {
                status: Some(400),
                code: Some("REQUIRED_FIELD_MISSING".into()),
                message: "Required fields are missing: [LastName]".into(),
                fields: vec!["LastName".into()],
                retry_after: None,
            },
        );
        assert_eq!(
            err.to_string(),
            "Salesforce create of 1 Lead: rejected: HTTP 400 REQUIRED_FIELD_MISSING: \
             Required fields are missing: [LastName] (fields: LastName)"
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert!(!err.class().is_retryable());
    }
}
