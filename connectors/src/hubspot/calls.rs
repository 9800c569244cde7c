//! HubSpot's half of the call pipeline ([`crate::http::pipeline`]): how a refusal is
//! classified, how a token is obtained, and HubSpot's budgets plugged in.
//!
//! ## Authentication
//!
//! A private-app or service-key token is sent as it is and never renewed: HubSpot refusing
//! it is fatal. OAuth access tokens come from the refresh-token grant and live 30 minutes;
//! HubSpot asks integrations to refresh *ahead* of `expires_in` rather than wait for a 401,
//! which the pipeline's token cache does with the lifetime given here. A 401 still renews
//! once. A rotated refresh token in the answer replaces the configured one.
//!
//! ## Classification
//!
//! Refusals keep HubSpot's words: the detail's code (`INVALID_EMAIL`), else the 429's
//! `policyName`, else the category; the one detail's message when there is one (it matches
//! what a 207 says about the same record); the properties named. A 429 waits for
//! `Retry-After`, or else at the budget its policy names until a slot frees (`limits`); a
//! `DAILY` one carries the code `DAILY` and a wait until midnight, which no call sleeps
//! through (see [`crate::http::retry`]).
//!
//! Errors inside a 207 batch answer are classified here too ([`class_of_category`],
//! [`api_of_standard`]).
//!
//! Secrets: the token endpoint's error bodies are reduced to their `error`,
//! `error_description` and `status` fields, which never contain a token.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::config::HubSpotAuth;
use super::limits::{CallKind, Limits, Policy};
use super::wire::{ErrorBody, OAuthError, StandardError, TokenResponse};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::classify::{class_of_status, retry_after};
use crate::http::pipeline::{Hold, Vendor};
use crate::http::{Held, HttpClient, Response, Token};
use crate::secret::Secret;

/// The id HubSpot names in a 409 duplicate-email answer (`Existing ID: 123`).
pub fn existing_id(api: &ApiError) -> Option<String> {
    let (_, rest) = api.message.split_once("Existing ID: ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

#[derive(Debug)]
struct OAuthApp {
    token_url: String,
    client_id: Secret,
    client_secret: Secret,
    refresh_token: Secret,
}

#[derive(Debug)]
enum Credentials {
    Fixed(Secret),
    OAuth(Mutex<OAuthApp>),
}

/// HubSpot's vendor half: credentials and budgets.
#[derive(Debug)]
pub struct HubSpotCalls {
    credentials: Credentials,
    limits: Limits,
}

impl HubSpotCalls {
    /// The vendor half for these credentials and budgets.
    pub fn new(auth: &HubSpotAuth, limits: Limits) -> HubSpotCalls {
        let credentials = match auth {
            HubSpotAuth::Token(token) => Credentials::Fixed(token.clone()),
            HubSpotAuth::OAuth {
                token_url,
                client_id,
                client_secret,
                refresh_token,
            } => Credentials::OAuth(Mutex::new(OAuthApp {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                refresh_token: refresh_token.clone(),
            })),
        };
        HubSpotCalls {
            credentials,
            limits,
        }
    }

    /// The budgets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    async fn refresh(&self, app: &Mutex<OAuthApp>, http: &HttpClient) -> Result<Token, Error> {
        let action = "refreshing the HubSpot OAuth token";
        let mut app = app.lock().await;
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", app.client_id.expose()),
            ("client_secret", app.client_secret.expose()),
            ("refresh_token", app.refresh_token.expose()),
        ];
        let request = http.client().post(&app.token_url).form(&form);
        let response = http.send(request, action).await?;
        if !response.is_success() {
            return Err(token_refusal(&response, action));
        }
        let answer: TokenResponse = response.json(action)?;
        if let Some(next) = answer.refresh_token.filter(|t| !t.is_empty()) {
            app.refresh_token = Secret::new(next);
        }
        tracing::debug!(
            expires_in = answer.expires_in,
            "HubSpot OAuth token refreshed"
        );
        Ok(Token {
            lifetime: Some(Duration::from_secs(answer.expires_in.max(1))),
            ..Token::bearer(Secret::new(answer.access_token))
        })
    }
}

/// What a refusal's body says, kept as data.
fn api_of(response: &Response, body: &ErrorBody) -> ApiError {
    ApiError {
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
        retry_after: retry_after(&response.headers),
    }
}

/// A refused token request: a refused refresh token or client needs an operator.
fn token_refusal(response: &Response, action: &str) -> Error {
    let class = match response.status {
        400 | 401 | 403 => ErrorClass::Fatal,
        status => class_of_status(status),
    };
    let body: OAuthError = serde_json::from_slice(&response.body).unwrap_or_default();
    let api = ApiError {
        status: Some(response.status),
        code: body
            .status
            .clone()
            .or(Some(body.error.clone()))
            .filter(|c| !c.is_empty()),
        message: if body.error_description.is_empty() {
            format!("the token endpoint answered HTTP {}", response.status)
        } else {
            body.error_description
        },
        retry_after: retry_after(&response.headers),
        ..ApiError::default()
    };
    Error::new(class, action, api)
}

#[async_trait]
impl Vendor for HubSpotCalls {
    type Kind = CallKind;

    fn classify(&self, kind: CallKind, response: &Response, action: &str) -> Error {
        let body = serde_json::from_slice::<ErrorBody>(&response.body).ok();
        if response.status == 429 {
            // Whatever the body says (a gateway's 429 has none of HubSpot's fields), a 429
            // waits for `Retry-After` or at the budget its policy names.
            let mut api = body.as_ref().map_or_else(
                || ApiError {
                    status: Some(response.status),
                    message: response.snippet(),
                    ..ApiError::default()
                },
                |b| api_of(response, b),
            );
            let named = body.as_ref().and_then(|b| b.policy_name.as_deref());
            let (policy, wait) =
                Limits::policy_wait(kind, named.and_then(Policy::parse), &response.headers);
            api.retry_after = Some(wait);
            api.code = Some(policy.name().to_string());
            return Error::new(ErrorClass::RateLimited, action, api);
        }
        match body {
            Some(body) => Error::new(
                class_of_status(response.status),
                action,
                api_of(response, &body),
            ),
            None => response.default_error(action),
        }
    }

    async fn request_token(&self, http: &HttpClient) -> Result<Token, Error> {
        match &self.credentials {
            Credentials::Fixed(token) => Ok(Token::bearer(token.clone())),
            Credentials::OAuth(app) => self.refresh(app, http).await,
        }
    }

    fn renewable(&self) -> bool {
        matches!(self.credentials, Credentials::OAuth(_))
    }

    async fn spend(&self, kind: CallKind, action: &str) -> Result<(), Error> {
        self.limits.acquire(kind, action).await.map(drop)
    }

    async fn take<'a>(&'a self, kind: CallKind, action: &str) -> Result<Held<'a>, Error> {
        self.limits.acquire(kind, action).await
    }

    fn observe(&self, kind: CallKind, response: &Response, refusal: Option<&Error>) -> Hold {
        let limited = refusal.filter(|e| e.class() == ErrorClass::RateLimited);
        // Search answers carry no rate-limit headers.
        if kind == CallKind::Standard {
            self.limits.observe(&response.headers, limited.is_some());
        }
        if let Some(err) = limited {
            let policy = err.api().code.as_deref().and_then(Policy::parse);
            self.limits.rate_limited(kind, policy, &response.headers);
        }
        Hold::Free
    }
}

/// The class of one 207 error, from its category.
pub fn class_of_category(category: &str) -> ErrorClass {
    match category {
        "RATE_LIMITS" => ErrorClass::RateLimited,
        "INTERNAL_ERROR" | "TIMEOUT" | "SERVICE_UNAVAILABLE" | "LOCKED" => ErrorClass::Transient,
        "MISSING_SCOPES" => ErrorClass::Fatal,
        _ => ErrorClass::Permanent,
    }
}

/// What HubSpot said in one 207 error, kept as data.
pub fn api_of_standard(error: &StandardError) -> ApiError {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::{HeaderMap, HeaderValue};

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

    fn calls() -> HubSpotCalls {
        let config = super::super::HubSpotConfig::new(
            "http://127.0.0.1:1",
            HubSpotAuth::Token(Secret::new("t")),
        );
        HubSpotCalls::new(&config.auth, Limits::new(&config))
    }

    fn answer(status: u16, body: &str, headers: HeaderMap) -> Response {
        Response {
            status,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn a_429_names_its_policy_and_waits_for_its_window_or_retry_after() {
        let calls = calls();
        let body = r#"{"status":"error","message":"You have reached your secondly limit.",
                       "errorType":"RATE_LIMIT","policyName":"SECONDLY"}"#;
        let err = calls.classify(
            CallKind::Search,
            &answer(429, body, HeaderMap::new()),
            "search",
        );
        assert_eq!(err.class(), ErrorClass::RateLimited);
        assert_eq!(err.api().code.as_deref(), Some("SECONDLY"));
        // No Retry-After: the retry waits at the search budget, which the 429 fills.
        assert_eq!(err.retry_after(), Some(Duration::ZERO));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        let err = calls.classify(CallKind::Standard, &answer(429, "{}", headers), "list");
        assert_eq!(err.api().code.as_deref(), Some("TEN_SECONDLY_ROLLING"));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_validation_refusal_is_permanent_and_keeps_hubspots_words() {
        let body = r#"{"status":"error","message":"Property values were not valid","category":"VALIDATION_ERROR",
                       "errors":[{"message":"Email address x is invalid","code":"INVALID_EMAIL",
                                  "context":{"propertyName":["email"]}}]}"#;
        let err = calls().classify(
            CallKind::Standard,
            &answer(400, body, HeaderMap::new()),
            "upsert",
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert_eq!(
            (err.api().status, err.api().code.as_deref()),
            (Some(400), Some("INVALID_EMAIL"))
        );
        assert_eq!(err.api().message, "Email address x is invalid");
        assert_eq!(err.api().fields, vec!["email".to_string()]);
    }
}
