//! OAuth 2.0 against `{login_url}/services/oauth2/token`: the `client_credentials` and
//! `refresh_token` grants, the session they yield (token and `instance_url`), and renewal.
//!
//! Salesforce tokens carry no expiry, so the session is kept until a call answers 401
//! `INVALID_SESSION_ID`; the client then calls [`Auth::renew`] once and repeats the call.
//! Concurrent callers that hit the same expiry renew once between them: each passes the
//! generation it saw, and only the first one to arrive fetches a new token.
//!
//! Secrets: the client secret, refresh token and access token live in [`Secret`]s; token
//! endpoint failures are reported with Salesforce's `error` and `error_description` only.

use std::sync::{Arc, Mutex};

use crate::error::{ApiError, Error, ErrorClass};
use crate::http::{HttpClient, RetryPolicy, retry};
use crate::secret::Secret;

use super::config::{Grant, SalesforceConfig};
use super::wire::{OAuthError, TokenResponse};

/// A logged-in session.
#[derive(Debug)]
pub struct Session {
    /// The bearer token.
    pub token: Secret,
    /// The org's REST host, from the token response, without a trailing slash.
    pub instance_url: String,
    /// Increases with every renewal.
    pub generation: u64,
}

/// Holds the current session and renews it.
#[derive(Debug)]
pub struct Auth {
    http: HttpClient,
    token_url: String,
    grant: Grant,
    client_id: Secret,
    client_secret: Secret,
    retry: RetryPolicy,
    current: Mutex<Option<Arc<Session>>>,
    renewing: tokio::sync::Mutex<()>,
}

impl Auth {
    /// Auth for this config; nothing is fetched until the first call.
    pub fn new(config: &SalesforceConfig, http: HttpClient) -> Auth {
        Auth {
            http,
            token_url: format!(
                "{}/services/oauth2/token",
                config.login_url.trim_end_matches('/')
            ),
            grant: config.grant.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            retry: config.retry.clone(),
            current: Mutex::new(None),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<Arc<Session>> {
        match self.current.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The current session, logging in first when there is none.
    pub async fn session(&self) -> Result<Arc<Session>, Error> {
        match self.cached() {
            Some(s) => Ok(s),
            None => self.renew(None).await,
        }
    }

    /// Fetches a new token, unless another caller already replaced the `stale` generation.
    pub async fn renew(&self, stale: Option<u64>) -> Result<Arc<Session>, Error> {
        let _one_at_a_time = self.renewing.lock().await;
        if let Some(current) = self.cached()
            && stale != Some(current.generation)
        {
            return Ok(current);
        }
        let generation = self.cached().map_or(1, |s| s.generation + 1);
        let response = retry(&self.retry, |_| self.request_token()).await?;
        let session = Arc::new(Session {
            token: Secret::new(response.access_token),
            instance_url: response.instance_url.trim_end_matches('/').to_string(),
            generation,
        });
        tracing::debug!(generation, instance = %session.instance_url, "Salesforce session renewed");
        match self.current.lock() {
            Ok(mut g) => *g = Some(session.clone()),
            Err(p) => *p.into_inner() = Some(session.clone()),
        }
        Ok(session)
    }

    async fn request_token(&self) -> Result<TokenResponse, Error> {
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
        let request = self.http.client().post(&self.token_url).form(&form);
        let response = self.http.send(request, action).await?;
        if response.is_success() {
            return response.json::<TokenResponse>(action);
        }
        let class = match response.status {
            500..=599 | 429 => ErrorClass::Transient,
            // Wrong credentials or a revoked refresh token: an admin must act.
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
        Err(Error::new(
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
        ))
    }
}
