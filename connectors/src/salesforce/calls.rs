//! Salesforce's half of the call pipeline ([`crate::http::pipeline`]): how a refusal is
//! classified, how a session is obtained, and the org's budgets plugged in.
//!
//! ## Sessions
//!
//! OAuth 2.0 against `{login_url}/services/oauth2/token`, with the `client_credentials`
//! grant (client id and secret in the form body), the `refresh_token` grant, or the JWT
//! bearer grant (a fresh assertion signed for every token request, see [`super::jwt`]).
//! The answer's `instance_url` is where every API call then goes. Salesforce tokens carry
//! no expiry, so a session is kept until a call answers 401 `INVALID_SESSION_ID`; the
//! pipeline then renews it once (concurrent callers that hit the same expiry renew once
//! between them) and repeats the call. Token endpoint failures are reported with
//! Salesforce's `error` and `error_description` and what to check for that grant, never
//! with a secret, a key or an assertion; they are fatal, as no retry mends credentials.
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
use super::jwt::{self, SigningKey};
use super::limits::Limits;
use super::objects::config_error;
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

/// How truce authenticates, ready to use.
#[derive(Debug)]
enum Auth {
    ClientCredentials,
    RefreshToken(Secret),
    JwtBearer { username: String, key: SigningKey },
}

impl Auth {
    fn name(&self) -> &'static str {
        match self {
            Auth::ClientCredentials => "client_credentials",
            Auth::RefreshToken(_) => "refresh_token",
            Auth::JwtBearer { .. } => "jwt_bearer",
        }
    }
}

/// The JWT bearer grant's `grant_type`.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A credential that cannot be right whatever Salesforce says: empty, or holding spaces or
/// control characters (a stray line break from its secret source).
fn malformed(what: &str, value: &Secret) -> Option<String> {
    let v = value.expose();
    if v.is_empty() {
        return Some(format!("the {what} is empty"));
    }
    v.chars()
        .any(|c| c.is_whitespace() || c.is_control())
        .then(|| {
            format!(
                "the {what} holds spaces or control characters (a stray line break in its \
                 secret source?); Salesforce would refuse it"
            )
        })
}

/// Salesforce's vendor half: the grant and the org's budgets.
#[derive(Debug)]
pub struct SalesforceCalls {
    login_url: String,
    token_url: String,
    auth: Auth,
    client_id: Secret,
    client_secret: Secret,
    api_version: String,
    pause_recheck: Duration,
    limits: Limits,
}

impl SalesforceCalls {
    /// The vendor half of `config`. Fails (fatally) on a credential that cannot be right
    /// and on a private key that does not parse, before any request.
    pub fn new(config: &SalesforceConfig) -> Result<SalesforceCalls, Error> {
        let mut problems = vec![malformed("client id", &config.client_id)];
        let auth = match &config.grant {
            Grant::ClientCredentials => {
                problems.push(malformed("client secret", &config.client_secret));
                Auth::ClientCredentials
            }
            Grant::RefreshToken(token) => {
                problems.push(malformed("client secret", &config.client_secret));
                problems.push(malformed("refresh token", token));
                Auth::RefreshToken(token.clone())
            }
            Grant::JwtBearer {
                username,
                private_key,
            } => {
                if username.trim().is_empty() {
                    problems.push(Some("the jwt_bearer grant needs a username".into()));
                }
                let key = SigningKey::from_pem(private_key).map_err(|err| {
                    config_error(format!("the private key does not parse: {err}"))
                })?;
                Auth::JwtBearer {
                    username: username.trim().to_string(),
                    key,
                }
            }
        };
        if let Some(problem) = problems.into_iter().flatten().next() {
            return Err(config_error(problem));
        }
        let login_url = config.login_url.trim_end_matches('/').to_string();
        Ok(SalesforceCalls {
            token_url: format!("{login_url}/services/oauth2/token"),
            login_url,
            auth,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            api_version: config.api_version.clone(),
            pause_recheck: config.pause_recheck,
            limits: Limits::new(config.daily_share, config.max_concurrency),
        })
    }

    /// The grant's name as the config spells it.
    pub fn grant(&self) -> &'static str {
        self.auth.name()
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
        let action = match self.auth {
            Auth::JwtBearer { .. } => "Salesforce login (JWT bearer token request)",
            _ => "Salesforce login (OAuth token request)",
        };
        // The assertion is made fresh for each request and lives only in this form.
        let assertion: Secret;
        let form: Vec<(&str, &str)> = match &self.auth {
            Auth::ClientCredentials => vec![
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.expose()),
                ("client_secret", self.client_secret.expose()),
            ],
            Auth::RefreshToken(token) => vec![
                ("grant_type", "refresh_token"),
                ("client_id", self.client_id.expose()),
                ("client_secret", self.client_secret.expose()),
                ("refresh_token", token.expose()),
            ],
            Auth::JwtBearer { username, key } => {
                let now = chrono::Utc::now().timestamp();
                assertion =
                    jwt::assertion(key, self.client_id.expose(), username, &self.login_url, now)
                        .map_err(|err| {
                            let api = ApiError::message(format!("signing the assertion: {err}"));
                            Error::new(ErrorClass::Fatal, action, api)
                        })?;
                vec![
                    ("grant_type", JWT_BEARER),
                    ("assertion", assertion.expose()),
                ]
            }
        };
        let request = http.client().post(&self.token_url).form(&form);
        let response = http.send(request, action).await?;
        if !response.is_success() {
            return Err(token_refusal(&response, action, &self.auth));
        }
        let answer: TokenResponse = response.json(action)?;
        let instance = answer.instance_url.trim_end_matches('/').to_string();
        tracing::debug!(instance = %instance, grant = self.auth.name(), "Salesforce session opened");
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

/// A refused token request: wrong credentials, a revoked refresh token or a key the app
/// does not know need an admin.
fn token_refusal(response: &Response, action: &str, auth: &Auth) -> Error {
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
    let what = what_to_check(auth, code.as_deref(), &message);
    Error::new(
        class,
        action,
        ApiError {
            status: Some(response.status),
            code,
            message: format!("{message} ({what})"),
            ..ApiError::default()
        },
    )
}

/// What an admin should look at after the token endpoint refused `auth` so.
fn what_to_check(auth: &Auth, code: Option<&str>, description: &str) -> &'static str {
    let said = |words: &str| description.to_lowercase().contains(words);
    match auth {
        Auth::JwtBearer { .. } => match code {
            Some("invalid_client_id") => {
                "[salesforce] client_id is not the consumer key of an External Client App \
                 with the JWT bearer flow enabled"
            }
            _ if said("invalid assertion") => {
                "the assertion's signature does not verify against the certificate the \
                 External Client App holds: [salesforce] private_key must be the key of that \
                 certificate"
            }
            _ if said("expired") => {
                "the assertion had expired when Salesforce read it, though truce signs it to \
                 live 150 s: check this host's clock against NTP"
            }
            _ if said("approved") || said("user") => {
                "[salesforce] username is unknown or inactive, or not pre-authorized for the \
                 External Client App: its policy must be Admin approved users are \
                 pre-authorized, with a profile or permission set of the user that includes \
                 the app"
            }
            _ if said("audience") => {
                "the assertion's audience is [salesforce] login_url: use \
                 https://login.salesforce.com, https://test.salesforce.com or the org's My Domain"
            }
            _ => "check client_id, username, private_key and login_url in [salesforce]",
        },
        _ => "check the client id, client secret and grant in [salesforce]",
    }
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
