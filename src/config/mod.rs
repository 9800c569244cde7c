//! The config file: its keys (a contract with scripts, docs and tests), loading, and
//! validation.
//!
//! Loading is two steps. [`load`] parses the TOML into [`Config`] with unknown keys refused
//! (serde `deny_unknown_fields`), then [`validate`](validate::validate) checks everything serde
//! cannot (URLs, shares, rules, mapping consistency) and resolves every secret, collecting
//! *all* problems into one [`ConfigError`] so an admin fixes the file in one pass. Each
//! problem names the file, the key and its line.
//!
//! Secrets are never written inline: `token = { env = "HUBSPOT_TOKEN" }`,
//! `{ file = "/path" }` or `{ credential = "hubspot-token" }` (a systemd credential under
//! `$CREDENTIALS_DIRECTORY`). Resolved values live in [`Secret`]s, which never print.

mod duration;
mod locate;
mod metrics;
mod secrets;
mod settings;
mod sla;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use truce_connectors::{ObjectType, Secret};

pub use crate::engine::mapping::{FieldMapping, FieldType};
pub use crate::engine::merge::Rule;
pub use crate::engine::pair::{CompanyMatch, CreatePolicy, DeletePolicy, Pair, Qualify};
pub use duration::parse_duration;
pub use metrics::{MetricsSection, parse_listen};
pub use secrets::SecretSource;
pub use sla::{OUTCOME_VALUES, SlaSection};

/// Where `truce` looks for its config when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/truce/truce.toml";

/// The whole config file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[state]`
    #[serde(default)]
    pub state: StateConfig,
    /// `[hubspot]`
    pub hubspot: HubSpotSection,
    /// `[salesforce]`
    pub salesforce: SalesforceSection,
    /// `[sync]`
    #[serde(default)]
    pub sync: SyncSection,
    /// `[companies]`
    #[serde(default)]
    pub companies: CompaniesSection,
    /// `[deals]`
    #[serde(default)]
    pub deals: DealsSection,
    /// `[[field]]`, in file order.
    #[serde(default, rename = "field")]
    pub fields: Vec<FieldMapping>,
    /// `[metrics]`
    #[serde(default)]
    pub metrics: MetricsSection,
    /// `[sla]`: absent, no hand-offs are recorded and nothing is watched.
    #[serde(default)]
    pub sla: Option<SlaSection>,
}

/// `[deals]`: how deals and Opportunities are created and linked (with `deals` in
/// `[sync] objects`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealsSection {
    /// When an Opportunity becomes a HubSpot deal (`always` or `never`).
    #[serde(default = "default_always")]
    pub create_in_hubspot: CreatePolicy,
    /// When a HubSpot deal becomes an Opportunity (`never` or `always`).
    #[serde(default = "default_never")]
    pub create_in_salesforce: CreatePolicy,
    /// The HubSpot pipeline id deals made from Opportunities go into.
    #[serde(default = "default_pipeline")]
    pub pipeline: String,
    /// An Opportunity External ID field holding the HubSpot deal id.
    pub external_id_field: Option<String>,
    /// A HubSpot unique-value deal property holding the Opportunity id.
    pub hubspot_id_property: Option<String>,
}

impl Default for DealsSection {
    fn default() -> Self {
        DealsSection {
            create_in_hubspot: default_always(),
            create_in_salesforce: default_never(),
            pipeline: default_pipeline(),
            external_id_field: None,
            hubspot_id_property: None,
        }
    }
}

fn default_always() -> CreatePolicy {
    CreatePolicy::Always
}
fn default_never() -> CreatePolicy {
    CreatePolicy::Never
}
fn default_pipeline() -> String {
    "default".into()
}

/// `[companies]`: how companies and Accounts are matched and created (with `companies` in
/// `[sync] objects`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompaniesSection {
    /// `contacts` (through linked people) or `domain` (also by normalised domain).
    #[serde(default = "default_company_match", rename = "match")]
    pub matching: CompanyMatch,
    /// When a HubSpot company becomes an Account.
    #[serde(default = "default_referenced")]
    pub create_in_salesforce: CreatePolicy,
    /// When an Account becomes a HubSpot company.
    #[serde(default = "default_referenced")]
    pub create_in_hubspot: CreatePolicy,
    /// An Account External ID field holding the HubSpot company id (creates upsert on it).
    pub external_id_field: Option<String>,
    /// A HubSpot unique-value company property holding the Account id (creates upsert on
    /// it).
    pub hubspot_id_property: Option<String>,
}

impl Default for CompaniesSection {
    fn default() -> Self {
        CompaniesSection {
            matching: default_company_match(),
            create_in_salesforce: default_referenced(),
            create_in_hubspot: default_referenced(),
            external_id_field: None,
            hubspot_id_property: None,
        }
    }
}

fn default_company_match() -> CompanyMatch {
    CompanyMatch::Contacts
}
fn default_referenced() -> CreatePolicy {
    CreatePolicy::Referenced
}

/// `[state]`: where the SQLite file lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The SQLite file.
    #[serde(default = "default_state_path")]
    pub path: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            path: default_state_path(),
        }
    }
}

fn default_state_path() -> PathBuf {
    PathBuf::from("/var/lib/truce/truce.db")
}

/// `[hubspot]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpotSection {
    /// API root; a sandbox or a proxy may stand here.
    #[serde(default = "default_hubspot_url")]
    pub base_url: String,
    /// Private-app or service-key token. Either this or the three OAuth keys.
    pub token: Option<SecretSource>,
    /// OAuth app client id (with `client_secret` and `refresh_token`).
    pub client_id: Option<SecretSource>,
    /// OAuth app client secret.
    pub client_secret: Option<SecretSource>,
    /// OAuth refresh token.
    pub refresh_token: Option<SecretSource>,
    /// The portal's burst limit per 10 seconds (100, 190 or 250).
    #[serde(default = "default_requests_per_10s")]
    pub requests_per_10s: u32,
    /// CRM search requests per second.
    #[serde(default = "default_search_per_second")]
    pub search_requests_per_second: u32,
    /// The portal's daily call allowance.
    #[serde(default = "default_hubspot_daily")]
    pub daily_quota: u64,
    /// The share of the daily allowance truce may spend (other integrations share it).
    #[serde(default = "default_share")]
    pub daily_share: f64,
    /// The family of API paths: `"2026-09"` (the default) or `"v3"` (the legacy paths).
    #[serde(default = "default_hubspot_api_version")]
    pub api_version: String,
}

fn default_hubspot_api_version() -> String {
    truce_connectors::hubspot::ApiVersion::default()
        .as_str()
        .to_string()
}

fn default_hubspot_url() -> String {
    "https://api.hubapi.com".into()
}
fn default_requests_per_10s() -> u32 {
    100
}
fn default_search_per_second() -> u32 {
    5
}
fn default_hubspot_daily() -> u64 {
    250_000
}
fn default_share() -> f64 {
    0.5
}

/// The OAuth grant truce uses with Salesforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Runs as the connected app's run-as user; needs the My Domain login URL.
    ClientCredentials,
    /// A stored refresh token (`refresh_token` key).
    RefreshToken,
    /// An RS256 assertion signed with the External Client App's private key
    /// (`username`, `private_key`); no client secret.
    JwtBearer,
}

impl Grant {
    /// The name the config spells it with.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken => "refresh_token",
            Grant::JwtBearer => "jwt_bearer",
        }
    }
}

/// `[salesforce]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceSection {
    /// Where `/services/oauth2/token` lives (My Domain for client credentials).
    #[serde(default = "default_login_url")]
    pub login_url: String,
    /// REST API version, e.g. `"62.0"`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `client_credentials`, `refresh_token` or `jwt_bearer`.
    #[serde(default = "default_grant")]
    pub grant: Grant,
    /// Connected app consumer key.
    pub client_id: SecretSource,
    /// Connected app consumer secret (not needed by `jwt_bearer`).
    pub client_secret: Option<SecretSource>,
    /// Refresh token, for `grant = "refresh_token"`.
    pub refresh_token: Option<SecretSource>,
    /// The user truce runs as, for `grant = "jwt_bearer"` (not a secret).
    pub username: Option<String>,
    /// The External Client App's PEM private key (RSA, PKCS#1 or PKCS#8), for
    /// `grant = "jwt_bearer"`.
    pub private_key: Option<SecretSource>,
    /// The share of the org's daily API allocation truce may spend.
    #[serde(default = "default_share")]
    pub daily_share: f64,
    /// An External ID field on Lead and Contact holding the HubSpot contact id; creates then
    /// upsert on it.
    pub external_id_field: Option<String>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
}

fn default_login_url() -> String {
    "https://login.salesforce.com".into()
}
fn default_api_version() -> String {
    "62.0".into()
}
fn default_grant() -> Grant {
    Grant::ClientCredentials
}
fn default_concurrency() -> usize {
    4
}

/// What a qualified HubSpot contact is created as in Salesforce (`create_salesforce_as`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum SalesforceObject {
    /// A Lead.
    Lead,
    /// A Contact.
    Contact,
}

impl SalesforceObject {
    /// The connector's object type.
    pub fn object_type(self) -> ObjectType {
        match self {
            SalesforceObject::Lead => ObjectType::SalesforceLead,
            SalesforceObject::Contact => ObjectType::SalesforceContact,
        }
    }
}

/// `[sync]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    /// Time between polls, e.g. `"15s"`.
    #[serde(default = "default_poll", with = "duration::serde_str")]
    pub poll_interval: Duration,
    /// How far back each poll re-reads, e.g. `"60s"`.
    #[serde(default = "default_lookback", with = "duration::serde_str")]
    pub lookback: Duration,
    /// `Lead` or `Contact`.
    #[serde(default = "default_create_as")]
    pub create_salesforce_as: SalesforceObject,
    /// `unlink` or `propagate`.
    #[serde(default = "default_deletes")]
    pub deletes: DeletePolicy,
    /// The qualification gate for creating HubSpot contacts in Salesforce.
    #[serde(default)]
    pub qualify: Qualify,
    /// The object pairs synced besides `contacts`, which always is.
    #[serde(default = "default_objects")]
    pub objects: Vec<Pair>,
    /// How often associations are read again in full (HubSpot does not date their changes).
    #[serde(default = "default_sweep", with = "duration::serde_str")]
    pub association_sweep: Duration,
}

impl Default for SyncSection {
    fn default() -> Self {
        SyncSection {
            poll_interval: default_poll(),
            lookback: default_lookback(),
            create_salesforce_as: default_create_as(),
            deletes: default_deletes(),
            qualify: Qualify::default(),
            objects: default_objects(),
            association_sweep: default_sweep(),
        }
    }
}

fn default_objects() -> Vec<Pair> {
    vec![Pair::Contacts]
}
fn default_sweep() -> Duration {
    Duration::from_secs(300)
}

fn default_poll() -> Duration {
    Duration::from_secs(15)
}
fn default_lookback() -> Duration {
    Duration::from_secs(60)
}
fn default_create_as() -> SalesforceObject {
    SalesforceObject::Lead
}
fn default_deletes() -> DeletePolicy {
    DeletePolicy::Unlink
}

/// A config whose secrets are resolved and whose values passed validation.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file it came from.
    pub path: PathBuf,
    /// The parsed config.
    pub config: Config,
    /// The resolved secrets.
    pub secrets: Secrets,
}

/// The resolved secrets of a config.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// HubSpot credentials.
    pub hubspot: HubSpotCredentials,
    /// Salesforce connected-app id.
    pub salesforce_client_id: Secret,
    /// Salesforce connected-app secret, when the grant uses one (not `jwt_bearer`).
    pub salesforce_client_secret: Option<Secret>,
    /// Salesforce refresh token, when the grant uses one.
    pub salesforce_refresh_token: Option<Secret>,
    /// The PEM private key of the `jwt_bearer` grant, checked to parse.
    pub salesforce_private_key: Option<Secret>,
}

/// How truce authenticates to HubSpot.
#[derive(Debug, Clone)]
pub enum HubSpotCredentials {
    /// A private-app or service-key token.
    Token(Secret),
    /// An OAuth app with a refresh token.
    OAuth {
        /// Client id.
        client_id: Secret,
        /// Client secret.
        client_secret: Secret,
        /// Refresh token.
        refresh_token: Secret,
    },
}

/// One problem in a config file: the key at fault, its line, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (`sync.poll_interval`, `field[2].rule`).
    pub key: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

/// Everything wrong with a config file, or the reason it could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read and has problems.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Each problem.
        problems: Vec<Problem>,
    },
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = format!(
        "config file {} has {} problem{}:",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for problem in problems {
        out.push_str(&format!("\n  {}", render_problem(path, problem)));
    }
    out
}

fn render_problem(path: &Path, problem: &Problem) -> String {
    match problem.line {
        Some(line) => format!(
            "{}:{line}: `{}`: {}",
            path.display(),
            problem.key,
            problem.message
        ),
        None => format!("{}: `{}`: {}", path.display(), problem.key, problem.message),
    }
}

/// Reads and parses the config at `path` without validating it or reading secrets: enough for
/// commands that only need the state file, so `truce status` works where the daemon's
/// credentials are not readable.
pub fn parse(path: &Path) -> Result<Config, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&source).map_err(|err| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems: vec![parse_problem(&source, &err)],
    })
}

/// Reads, parses and validates the config at `path`, resolving its secrets.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(path, &source)
}

/// The line of the `index`-th `[[field]]` table in config text, for messages that name it.
pub fn field_line(source: &str, index: usize) -> Option<usize> {
    locate::line_of(
        source,
        &[locate::Step::Key("field"), locate::Step::Index(index)],
    )
}

/// Parses and validates config text that came from `path`.
pub fn load_str(path: &Path, source: &str) -> Result<Loaded, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let config: Config =
        toml::from_str(source).map_err(|err| invalid(vec![parse_problem(source, &err)]))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let secrets = validate::validate(&config, source, base).map_err(invalid)?;
    Ok(Loaded {
        path: path.to_path_buf(),
        config,
        secrets,
    })
}

/// Turns a TOML or serde error into a problem naming the key and line.
fn parse_problem(source: &str, err: &toml::de::Error) -> Problem {
    let line = err
        .span()
        .map(|span| locate::line_of_offset(source, span.start));
    let message = err.message().trim().to_string();
    let key = err
        .span()
        .and_then(|span| locate::path_at(source, span.start))
        .unwrap_or_else(|| "(file)".to_string());
    Problem { key, line, message }
}

#[cfg(test)]
mod tests;
