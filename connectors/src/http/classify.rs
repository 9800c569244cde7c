//! The default answer to "should this be retried?", from what the HTTP layer can see.
//!
//! Connectors refine it with what only they know (Salesforce's `UNABLE_TO_LOCK_ROW` arrives
//! as a 400 but is transient; its `REQUEST_LIMIT_EXCEEDED` is a 403 that means "wait"), but
//! they start here, so the common cases are decided in one place.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::{ApiError, ErrorClass};

/// The class of a non-success HTTP status, before looking at the body.
pub fn class_of_status(status: u16) -> ErrorClass {
    match status {
        429 => ErrorClass::RateLimited,
        // 423 Locked and HubSpot's 477 Migration in Progress ask for a later retry; 524 is a
        // proxy timeout.
        408 | 423 | 425 | 477 | 500..=599 => ErrorClass::Transient,
        401 => ErrorClass::AuthExpired,
        403 => ErrorClass::Fatal,
        _ => ErrorClass::Permanent,
    }
}

/// The class of a failure that produced no HTTP status (connect, timeout, reset, body).
pub fn class_of_transport(err: &reqwest::Error) -> ErrorClass {
    if err.is_builder() {
        ErrorClass::Fatal
    } else {
        // Timeouts, refused or reset connections and truncated bodies all pass.
        ErrorClass::Transient
    }
}

/// Describes a transport failure without the URL's query string (which may hold ids) and
/// without any header (which may hold a token).
pub fn describe_transport(err: &reqwest::Error) -> ApiError {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "response body was cut off or unreadable"
    } else if err.is_request() {
        "connection failed during the request"
    } else {
        "transport error"
    };
    let mut message = kind.to_string();
    if let Some(url) = err.url() {
        message.push_str(&format!(
            " ({}{})",
            url.host_str().unwrap_or(""),
            url.path()
        ));
    }
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    ApiError::message(message)
}

/// The `Retry-After` header as a duration: delay-seconds, or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn statuses_map_to_the_classes_the_retry_loop_expects() {
        assert_eq!(class_of_status(429), ErrorClass::RateLimited);
        assert_eq!(class_of_status(503), ErrorClass::Transient);
        assert_eq!(class_of_status(500), ErrorClass::Transient);
        assert_eq!(class_of_status(401), ErrorClass::AuthExpired);
        assert_eq!(class_of_status(403), ErrorClass::Fatal);
        assert_eq!(class_of_status(400), ErrorClass::Permanent);
        assert_eq!(class_of_status(404), ErrorClass::Permanent);
        assert_eq!(class_of_status(409), ErrorClass::Permanent);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
