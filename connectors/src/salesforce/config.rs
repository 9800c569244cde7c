//! How truce reaches one Salesforce org: where to log in, with which grant and app, how much
//! of the daily API allocation it may spend, and which objects and fields it reads.
//!
//! The CLI builds this from `[salesforce]` in `truce.toml`; tests and the demo build it
//! directly. Secrets are [`Secret`]s, so a `{:?}` of the config shows `***`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::contract::ObjectType;
use crate::http::RetryPolicy;
use crate::secret::Secret;

/// The OAuth 2.0 grant truce logs in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `client_credentials`: the connected app runs as its configured user. Needs the org's
    /// My Domain host as `login_url`.
    ClientCredentials,
    /// `refresh_token`, with the refresh token an admin obtained once.
    RefreshToken(Secret),
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer`: an RS256 assertion signed with the
    /// External Client App's private key (see [`super::jwt`]); no client secret.
    JwtBearer {
        /// The user truce runs as (`sub`), pre-authorized for the app.
        username: String,
        /// The PEM private key (RSA, PKCS#1 or PKCS#8) whose certificate the app holds.
        private_key: Secret,
    },
}

/// Settings of the Salesforce connector.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// Where `/services/oauth2/token` lives (`https://login.salesforce.com`, a My Domain, or
    /// the sandbox), without a trailing slash.
    pub login_url: String,
    /// REST API version, `62.0`.
    pub api_version: String,
    /// The OAuth grant.
    pub grant: Grant,
    /// The connected app's consumer key.
    pub client_id: Secret,
    /// The connected app's consumer secret (unused by [`Grant::JwtBearer`]: leave it
    /// empty).
    pub client_secret: Secret,
    /// The share of the org's daily API allocation truce may use (0.0–1.0); at it, pulls
    /// and writes pause until usage falls.
    pub daily_share: f64,
    /// An External ID field on Lead and Contact to upsert creates on.
    pub external_id_field: Option<String>,
    /// The objects to read, each with the fields to read besides the ones the client always
    /// reads for its own needs (see [`super::objects`]). Only these fields appear in
    /// [`crate::Record::fields`].
    pub objects: BTreeMap<ObjectType, Vec<String>>,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// While paused at `daily_share`, how often to look at usage again (`GET /limits`).
    pub pause_recheck: Duration,
}

impl SalesforceConfig {
    /// A config with the defaults (`62.0`, client credentials, Lead and Contact with no
    /// extra fields, half the daily allocation, four requests in flight, re-check usage
    /// every minute while paused).
    pub fn new(
        login_url: impl Into<String>,
        client_id: Secret,
        client_secret: Secret,
    ) -> SalesforceConfig {
        SalesforceConfig {
            login_url: login_url.into().trim_end_matches('/').to_string(),
            api_version: "62.0".into(),
            grant: Grant::ClientCredentials,
            client_id,
            client_secret,
            daily_share: 0.5,
            external_id_field: None,
            objects: BTreeMap::from([
                (ObjectType::SalesforceLead, Vec::new()),
                (ObjectType::SalesforceContact, Vec::new()),
            ]),
            max_concurrency: 4,
            retry: RetryPolicy::default(),
            pause_recheck: Duration::from_secs(60),
        }
    }
}
