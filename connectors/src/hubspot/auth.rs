//! Authenticating to HubSpot: a static bearer token, or OAuth 2.0 access tokens obtained
//! with a refresh token.
//!
//! OAuth access tokens live 30 minutes. HubSpot asks integrations to refresh *ahead* of
//! `expires_in` rather than wait for a 401, so [`Auth::bearer`] refreshes once less than
//! `min(60 s, expires_in / 2)` is left. A 401 is still handled: the connector calls
//! [`Auth::renew`] once with the generation of the token that was refused, so concurrent
//! callers that saw the same 401 cause a single refresh.
//!
//! Secrets: tokens are held as [`Secret`]; the token endpoint's error bodies are reduced to
//! their `error`/`error_description`/`status` fields, which never contain a token.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::config::HubSpotAuth;
use super::wire::{OAuthError, TokenResponse};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::{HttpClient, RetryPolicy, retry};
use crate::secret::Secret;

/// A bearer token and the generation it belongs to (bumped at every refresh).
#[derive(Debug, Clone)]
pub struct Bearer {
    /// The token to send.
    pub token: Secret,
    /// Which refresh produced it (0 for a static token).
    pub generation: u64,
}

#[derive(Debug)]
struct OAuthApp {
    token_url: String,
    client_id: Secret,
    client_secret: Secret,
    refresh_token: Secret,
}

#[derive(Debug, Default)]
struct Issued {
    token: Option<Secret>,
    refresh_at: Option<Instant>,
    generation: u64,
}

/// How the connector authenticates, with the OAuth state when there is one.
#[derive(Debug)]
pub struct Auth {
    fixed: Option<Secret>,
    app: Option<Mutex<OAuthApp>>,
    issued: Mutex<Issued>,
    retry: RetryPolicy,
}

impl Auth {
    /// Builds the auth state from the config; OAuth tokens are fetched on first use.
    pub fn new(config: &HubSpotAuth, retry: RetryPolicy) -> Auth {
        let (fixed, app) = match config {
            HubSpotAuth::Token(token) => (Some(token.clone()), None),
            HubSpotAuth::OAuth {
                token_url,
                client_id,
                client_secret,
                refresh_token,
            } => (
                None,
                Some(Mutex::new(OAuthApp {
                    token_url: token_url.clone(),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    refresh_token: refresh_token.clone(),
                })),
            ),
        };
        Auth {
            fixed,
            app,
            issued: Mutex::new(Issued::default()),
            retry,
        }
    }

    /// True when tokens can be renewed (OAuth).
    pub fn renewable(&self) -> bool {
        self.app.is_some()
    }

    /// The token to send now, refreshing it first when it is about to expire.
    pub async fn bearer(&self, http: &HttpClient) -> Result<Bearer, Error> {
        if let Some(token) = &self.fixed {
            return Ok(Bearer {
                token: token.clone(),
                generation: 0,
            });
        }
        let mut issued = self.issued.lock().await;
        let fresh = issued.refresh_at.is_some_and(|at| Instant::now() < at);
        if let (Some(token), true) = (&issued.token, fresh) {
            return Ok(Bearer {
                token: token.clone(),
                generation: issued.generation,
            });
        }
        self.refresh(http, &mut issued).await
    }

    /// Renews the token after HubSpot refused generation `refused` with a 401, unless
    /// another caller already did.
    pub async fn renew(&self, http: &HttpClient, refused: u64) -> Result<(), Error> {
        if self.app.is_none() {
            return Ok(());
        }
        let mut issued = self.issued.lock().await;
        if issued.generation == refused {
            self.refresh(http, &mut issued).await?;
        }
        Ok(())
    }

    async fn refresh(&self, http: &HttpClient, issued: &mut Issued) -> Result<Bearer, Error> {
        let Some(app) = &self.app else {
            return Err(Error::new(
                ErrorClass::Fatal,
                "refreshing the HubSpot token",
                ApiError::message("no OAuth app is configured"),
            ));
        };
        let mut app = app.lock().await;
        let action = "refreshing the HubSpot OAuth token";
        let answer: TokenResponse = retry(&self.retry, |_| {
            let form = [
                ("grant_type", "refresh_token"),
                ("client_id", app.client_id.expose()),
                ("client_secret", app.client_secret.expose()),
                ("refresh_token", app.refresh_token.expose()),
            ];
            let request = http.client().post(&app.token_url).form(&form);
            async move {
                let response = http.send(request, action).await?;
                if response.is_success() {
                    return response.json::<TokenResponse>(action);
                }
                let class = match response.status {
                    // A refused refresh token or client: an operator must act.
                    400 | 401 | 403 => ErrorClass::Fatal,
                    status => crate::http::classify::class_of_status(status),
                };
                let body: OAuthError = serde_json::from_slice(&response.body).unwrap_or_default();
                let mut api = ApiError {
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
                    ..ApiError::default()
                };
                api.retry_after = crate::http::classify::retry_after(&response.headers);
                Err(Error::new(class, action, api))
            }
        })
        .await?;
        if let Some(next) = answer.refresh_token.filter(|t| !t.is_empty()) {
            app.refresh_token = Secret::new(next);
        }
        let lifetime = Duration::from_secs(answer.expires_in.max(1));
        let margin = (lifetime / 2).min(Duration::from_secs(60));
        issued.token = Some(Secret::new(answer.access_token));
        issued.refresh_at = Some(Instant::now() + lifetime - margin);
        issued.generation += 1;
        tracing::debug!(
            generation = issued.generation,
            expires_in = answer.expires_in,
            "HubSpot OAuth token refreshed"
        );
        Ok(Bearer {
            token: issued.token.clone().unwrap_or_else(|| Secret::new("")),
            generation: issued.generation,
        })
    }
}
