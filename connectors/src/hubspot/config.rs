//! How a HubSpot connector is configured: where the API is, how to authenticate, and the
//! budgets it must stay within.
//!
//! The CLI builds this from `[hubspot]` in `truce.toml`; tests and the demo build it by hand
//! (see [`HubSpotConfig::new`] for the defaults).

use std::collections::BTreeMap;

use super::paths::ApiVersion;
use crate::contract::ObjectType;
use crate::http::RetryPolicy;
use crate::secret::Secret;

/// Everything a [`super::HubSpotConnector`] needs besides the HTTP client.
#[derive(Debug, Clone)]
pub struct HubSpotConfig {
    /// `https://api.hubapi.com`, or a sandbox's URL; without a trailing slash.
    pub base_url: String,
    /// How requests are authenticated.
    pub auth: HubSpotAuth,
    /// The family of paths every call uses (`2026-09`, the default, or `v3`).
    pub api_version: ApiVersion,
    /// The portal's burst limit per rolling 10 s (100, 190 or 250).
    pub requests_per_10s: u32,
    /// The search endpoint's limit per second (5).
    pub search_requests_per_second: u32,
    /// The portal's daily call allowance.
    pub daily_quota: u64,
    /// The share of `daily_quota` truce may spend (other integrations use the rest).
    pub daily_share: f64,
    /// The objects to read, each with the properties to read besides the ones the client
    /// always reads for its own needs (see `objects.rs`), and the associations to read as
    /// fields (`@company`, `@contacts`). Only these appear in [`crate::Record::fields`].
    pub objects: BTreeMap<ObjectType, Vec<String>>,
    /// How hard to retry transient failures.
    pub retry: RetryPolicy,
}

impl HubSpotConfig {
    /// A config with the `2026-09` paths, HubSpot's Free/Starter budgets (100 per 10 s, 5
    /// searches per second, 250,000 a day, half of it for truce), contacts with no extra
    /// properties, and the default retry policy.
    pub fn new(base_url: impl Into<String>, auth: HubSpotAuth) -> HubSpotConfig {
        HubSpotConfig {
            base_url: base_url.into(),
            auth,
            api_version: ApiVersion::default(),
            requests_per_10s: 100,
            search_requests_per_second: 5,
            daily_quota: 250_000,
            daily_share: 0.5,
            objects: BTreeMap::from([(ObjectType::HubSpotContact, Vec::new())]),
            retry: RetryPolicy::default(),
        }
    }

    /// The base URL without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

/// How requests to HubSpot are authenticated.
#[derive(Debug, Clone)]
pub enum HubSpotAuth {
    /// A private-app or service-key token, sent as a bearer token; it does not expire.
    Token(Secret),
    /// OAuth 2.0: access tokens are obtained with the refresh token, renewed ahead of
    /// `expires_in`, and once more if HubSpot answers 401.
    OAuth {
        /// The token endpoint (`https://api.hubapi.com/oauth/v1/token`).
        token_url: String,
        /// The app's client id.
        client_id: Secret,
        /// The app's client secret.
        client_secret: Secret,
        /// The portal's refresh token.
        refresh_token: Secret,
    },
}
