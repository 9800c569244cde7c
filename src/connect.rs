//! Building the two connectors from a loaded config and the engine's settings.

use std::sync::Arc;

use anyhow::Context;
use truce_connectors::http::{HttpClient, HttpOptions};
use truce_connectors::hubspot::{ApiVersion, HubSpotAuth, HubSpotConfig, HubSpotConnector};
use truce_connectors::salesforce::{
    Grant as SalesforceGrant, SalesforceConfig, SalesforceConnector,
};
use truce_connectors::{Connector, Secret, System};

use crate::config::{Grant, HubSpotCredentials, Loaded};
use crate::engine::settings::Settings;

/// The HubSpot and Salesforce connectors a config describes, sharing one HTTP client.
pub fn connectors(
    loaded: &Loaded,
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn Connector>, Arc<dyn Connector>)> {
    let http = HttpClient::new(&HttpOptions::default()).context("building the HTTP client")?;
    let hubspot = HubSpotConnector::new(hubspot_config(loaded, settings), http.clone())
        .context("setting up the HubSpot connector")?;
    let salesforce = SalesforceConnector::new(salesforce_config(loaded, settings), http)
        .context("setting up the Salesforce connector")?;
    Ok((Arc::new(hubspot), Arc::new(salesforce)))
}

/// The HubSpot connector's config.
pub fn hubspot_config(loaded: &Loaded, settings: &Settings) -> HubSpotConfig {
    let section = &loaded.config.hubspot;
    let base = section.base_url.trim_end_matches('/').to_string();
    let auth = match &loaded.secrets.hubspot {
        HubSpotCredentials::Token(token) => HubSpotAuth::Token(token.clone()),
        HubSpotCredentials::OAuth {
            client_id,
            client_secret,
            refresh_token,
        } => HubSpotAuth::OAuth {
            token_url: format!("{base}/oauth/v1/token"),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            refresh_token: refresh_token.clone(),
        },
    };
    let mut config = HubSpotConfig::new(base, auth);
    // Validated when the config was loaded.
    config.api_version = ApiVersion::parse(&section.api_version).unwrap_or_default();
    config.requests_per_10s = section.requests_per_10s;
    config.search_requests_per_second = section.search_requests_per_second;
    config.daily_quota = section.daily_quota;
    config.daily_share = section.daily_share;
    config.objects = settings.read_fields(System::HubSpot).into_iter().collect();
    config
}

/// The Salesforce connector's config.
pub fn salesforce_config(loaded: &Loaded, settings: &Settings) -> SalesforceConfig {
    let section = &loaded.config.salesforce;
    let secrets = &loaded.secrets;
    let mut config = SalesforceConfig::new(
        section.login_url.clone(),
        secrets.salesforce_client_id.clone(),
        // The JWT bearer grant has no client secret.
        secrets
            .salesforce_client_secret
            .clone()
            .unwrap_or_else(|| Secret::new("")),
    );
    config.api_version = section.api_version.clone();
    config.grant = match (
        section.grant,
        &secrets.salesforce_refresh_token,
        &secrets.salesforce_private_key,
    ) {
        (Grant::RefreshToken, Some(token), _) => SalesforceGrant::RefreshToken(token.clone()),
        (Grant::JwtBearer, _, Some(key)) => SalesforceGrant::JwtBearer {
            username: section.username.clone().unwrap_or_default(),
            private_key: key.clone(),
        },
        _ => SalesforceGrant::ClientCredentials,
    };
    config.daily_share = section.daily_share;
    config.external_id_field = section.external_id_field.clone();
    config.max_concurrency = section.max_concurrency;
    config.objects = settings
        .read_fields(System::Salesforce)
        .into_iter()
        .collect();
    config
}
