//! Salesforce's half of the call pipeline ([`crate::http::pipeline`]): how a refusal is
//! classified, how a session is obtained, and the org's budgets plugged in.
//!
//! ## Sessions
//!
//! OAuth 2.0 against `{login_url}/services/oauth2/token`, with the `client_credentials` or
//! `refresh_token` grant. The answer's `instance_url` is where every API call then goes.
//! Salesforce tokens carry no expiry, so a session is kept until a call answers 401
//! `INVALID_SESSION_ID`; the pipeline then renews it once (concurrent callers that hit the
//! same expiry renew once between them) and repeats the call. Token endpoint failures are
//! reported with Salesforce's `error` and `error_description` only.
//!
//! ## Classification
//!
//! Errors are arrays of `{message, errorCode, fields}`; the first one is kept as data.
//! `UNABLE_TO_LOCK_ROW`, `QUERY_TIMEOUT`, `SERVER_UNAVAILABLE` and `UNKNOWN_EXCEPTION` pass
//! (transient, though some arrive as 400); `REQUEST_LIMIT_EXCEEDED` is a 403 that means
//! "wait"; a refusal because the record moved on (a converted lead, a deleted or merged-away
//! record) is [`ErrorClass::Superseded`]. Collection results (`statusCode` per record) are
//! classified by the same table ([`class_of_code`]).
//!
//! ## Budgets
//!
//! Data calls wait at the `daily_share` gate ([`Limits`]): while it is closed they wait,
//! looking at `GET /limits` every `pause_recheck` (an ungated probe), until usage falls. A
//! daily `REQUEST_LIMIT_EXCEEDED` closes the gate and holds the refused call there, however
//! long, without counting it as an attempt. Metadata calls (describe) skip the gate: `truce
//! check` must answer while sync is paused. Every request takes a slot among the
//! `max_concurrency` in flight.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::SemaphorePermit;

use super::config::{Grant, SalesforceConfig};
use super::limits::Limits;
use super::wire::{LimitsResponse, OAuthError, RestError, TokenResponse};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::classify::{class_of_status, retry_after};
use crate::http::pipeline::{Call, Hold, Pipeline, Vendor};
use crate::http::{HttpClient, Response, Token};
use crate::secret::Secret;

/// Which budgets a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Pulls, reads and writes: they wait at the `daily_share` gate.
    Data,
    /// Describe and the usage probe: they skip the gate.
    Metadata,
}

/// Salesforce's vendor half: the grant and the org's budgets.
#[derive(Debug)]
pub struct SalesforceCalls {
    token_url: String,
    grant: Grant,
    client_id: Secret,
    client_secret: Secret,
    api_version: String,
    pause_recheck: Duration,
    limits: Limits,
}

impl SalesforceCalls {
    /// The vendor half of `config`.
    pub fn new(config: &SalesforceConfig) -> SalesforceCalls {
        SalesforceCalls {
            token_url: format!(
                "{}/services/oauth2/token",
                config.login_url.trim_end_matches('/')
            ),
            grant: config.grant.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            api_version: config.api_version.clone(),
            pause_recheck: config.pause_recheck,
            limits: Limits::new(config.daily_share, config.max_concurrency),
        }
    }

    /// The budgets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `/services/data/vNN.N/{rest}`.
    pub fn data_path(&self, rest: &str) -> String {
        format!("/services/data/v{}/{rest}", self.api_version)
    }
}

#[async_trait]
impl Vendor for SalesforceCalls {
    type Kind = CallKind;

    fn classify(&self, _kind: CallKind, response: &Response, action: &str) -> Error {
        let (class, api) = classify_body(
            response.status,
            &response.body,
            retry_after(&response.headers),
        );
        Error::new(class, action, api)
    }

    async fn request_token(&self, http: &HttpClient) -> Result<Token, Error> {
        let action = "Salesforce login (OAuth token request)";
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", self.client_id.expose()),
            ("client_secret", self.client_secret.expose()),
        ];
        match &self.grant {
            Grant::ClientCredentials => form.push(("grant_type", "client_credentials")),
            Grant::RefreshToken(token) => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", token.expose()));
            }
        }
        let request = http.client().post(&self.token_url).form(&form);
        let response = http.send(request, action).await?;
        if !response.is_success() {
            return Err(token_refusal(&response, action));
        }
        let answer: TokenResponse = response.json(action)?;
        let instance = answer.instance_url.trim_end_matches('/').to_string();
        tracing::debug!(instance = %instance, "Salesforce session opened");
        Ok(Token {
            base_url: Some(instance),
            ..Token::bearer(Secret::new(answer.access_token))
        })
    }

    async fn admit(
        &self,
        pipeline: &Pipeline<Self>,
        kind: CallKind,
        _action: &str,
    ) -> Result<(), Error> {
        if kind == CallKind::Metadata {
            return Ok(());
        }
        while self.limits.is_paused().is_some() {
            tokio::time::sleep(self.pause_recheck).await;
            let action = "Salesforce limits check";
            let call = Call::get(CallKind::Metadata, self.data_path("limits"), action);
            match pipeline.probe::<LimitsResponse>(call).await {
                Ok(limits) => {
                    let l = limits.daily_api_requests;
                    self.limits
                        .observe(l.max.saturating_sub(l.remaining), l.max);
                }
                Err(err) => {
                    tracing::debug!(error = %err, "Salesforce limits check failed; still paused")
                }
            }
        }
        Ok(())
    }

    async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.limits.slot().await
    }

    fn observe(&self, kind: CallKind, response: &Response, refusal: Option<&Error>) -> Hold {
        self.limits.observe_headers(&response.headers);
        match refusal {
            Some(err) if is_daily_limit(err) => {
                self.limits.exhausted(&err.api().message);
                if kind == CallKind::Data {
                    Hold::Held
                } else {
                    Hold::Free
                }
            }
            _ => Hold::Free,
        }
    }
}

/// The daily allocation is spent (not the concurrency limit, which passes by itself).
fn is_daily_limit(err: &Error) -> bool {
    err.api().code.as_deref() == Some("REQUEST_LIMIT_EXCEEDED")
        && !err.api().message.contains("Concurrent")
}

/// A refused token request: wrong credentials or a revoked refresh token need an admin.
fn token_refusal(response: &Response, action: &str) -> Error {
    let class = match response.status {
        500..=599 | 429 => ErrorClass::Transient,
        _ => ErrorClass::Fatal,
    };
    let (code, message) = match serde_json::from_slice::<OAuthError>(&response.body) {
        Ok(e) => (
            Some(e.error),
            e.error_description
                .unwrap_or_else(|| "no description".into()),
        ),
        Err(_) => (None, response.snippet()),
    };
    Error::new(
        class,
        action,
        ApiError {
            status: Some(response.status),
            code,
            message: format!(
                "{message} (check the client id, client secret and grant in [salesforce])"
            ),
            ..ApiError::default()
        },
    )
}

/// The class of a Salesforce error code, when the code decides it.
pub fn class_of_code(code: &str) -> Option<ErrorClass> {
    match code {
        "UNABLE_TO_LOCK_ROW" | "QUERY_TIMEOUT" | "SERVER_UNAVAILABLE" | "UNKNOWN_EXCEPTION" => {
            Some(ErrorClass::Transient)
        }
        "REQUEST_LIMIT_EXCEEDED" => Some(ErrorClass::RateLimited),
        "INVALID_SESSION_ID" => Some(ErrorClass::AuthExpired),
        "API_DISABLED_FOR_ORG" | "INSUFFICIENT_ACCESS_OR_READONLY" | "API_CURRENTLY_DISABLED" => {
            Some(ErrorClass::Fatal)
        }
        // The record moved on: converted (write to its Contact instead), merged away or
        // deleted. The next pull shows where it went.
        "CANNOT_UPDATE_CONVERTED_LEAD" | "ENTITY_IS_DELETED" => Some(ErrorClass::Superseded),
        _ => None,
    }
}

/// Turns a Salesforce error array (or any body) into an [`ApiError`] and its class.
pub fn classify_body(
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
    let class = api
        .code
        .as_deref()
        .and_then(class_of_code)
        .unwrap_or_else(|| class_of_status(status));
    (class, api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_salesforces_words_and_are_classed_by_code_before_status() {
        let body = br#"[{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]"#;
        let (class, api) = classify_body(400, body, None);
        assert_eq!(class, ErrorClass::Transient);
        assert_eq!(api.code.as_deref(), Some("UNABLE_TO_LOCK_ROW"));
        let body = br#"[{"message":"cannot reference converted lead","errorCode":"CANNOT_UPDATE_CONVERTED_LEAD"}]"#;
        assert_eq!(classify_body(400, body, None).0, ErrorClass::Superseded);
        let body = br#"[{"message":"Email: invalid email address: x","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]}]"#;
        let (class, api) = classify_body(400, body, None);
        assert_eq!(class, ErrorClass::Permanent);
        assert_eq!(
            (api.status, api.fields.as_slice()),
            (Some(400), ["Email".to_string()].as_slice())
        );
        assert_eq!(
            classify_body(503, b"<html>busy</html>", None).0,
            ErrorClass::Transient
        );
    }
}
