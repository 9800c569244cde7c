//! What the connector tests add to the sandboxes: a connector config that logs in to a
//! Salesforce sandbox.
//!
//! It lives with the tests, not in `truce-sandbox`, because the fake must not know its
//! client's types: the sandbox only publishes the credentials it accepts
//! ([`SalesforceSandbox::options`]), and this turns them into a [`SalesforceConfig`].

use truce_connectors::Secret;
use truce_connectors::salesforce::SalesforceConfig;
use truce_sandbox::salesforce::SalesforceSandbox;

/// A connector config for a sandbox org.
pub trait ConfigFor {
    /// A config that logs in at `login_url` (the served URL) with the client credentials
    /// the org accepts and its external-id field.
    fn config_for(&self, login_url: &str) -> SalesforceConfig;
}

impl ConfigFor for SalesforceSandbox {
    fn config_for(&self, login_url: &str) -> SalesforceConfig {
        let opts = self.options();
        let mut config = SalesforceConfig::new(
            login_url,
            Secret::new(opts.client_id.clone()),
            Secret::new(opts.client_secret.clone()),
        );
        config.external_id_field = opts.external_id_field.clone();
        config
    }
}
