//! The benchmark's world: both sandboxes served on 127.0.0.1 with real-tier limits, a
//! real config file pointing at them (secrets in files, the connectors' limiters set to
//! the same numbers), the seeded population, and the convergence check.
//!
//! The sandboxes, the config and the population come from `truce_sandbox::world`, as the
//! demo's and the end-to-end tests' do, with limits switched on. The config leaves
//! `external_id_field` unset, as the example config does: Salesforce creates are blind
//! (only a re-sent one is looked up by email first). (The sandbox's upsert on an external
//! id scans every row per record, which makes it, not truce, the bound at 100,000 records.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use truce::config::{self, Loaded, Pair, Rule};
use truce::engine::settings::Settings;
use truce_connectors::ObjectType;
use truce_sandbox::Served;
use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions as HubSpotOptions};
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions as SalesforceOptions};
use truce_sandbox::world::{self as sandbox, Config, HubSpotLimits};

pub use truce_sandbox::world::{Population, shared_email};

/// The limits both sandboxes enforce, and the connectors are configured with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// HubSpot requests per rolling 10 s (Professional: 190).
    pub hubspot_per_10s: u32,
    /// HubSpot search requests per second (5 on every tier).
    pub search_per_second: u32,
    /// HubSpot calls per day (Professional: 650,000).
    pub hubspot_daily: u64,
    /// The Salesforce org's daily API allocation.
    pub salesforce_daily: u64,
    /// How long a HubSpot write takes to show in search.
    pub search_index_lag: Duration,
}

impl Limits {
    /// HubSpot Professional and an Enterprise-sized Salesforce allocation.
    pub fn professional() -> Limits {
        Limits {
            hubspot_per_10s: 190,
            search_per_second: 5,
            hubspot_daily: 650_000,
            salesforce_daily: 1_000_000,
            search_index_lag: Duration::ZERO,
        }
    }

    /// HubSpot's allowed request rate per second under the burst limit.
    pub fn hubspot_rate(&self) -> f64 {
        f64::from(self.hubspot_per_10s) / 10.0
    }
}

/// Both sandboxes served, and a config file pointing at them.
pub struct World {
    /// The scratch directory (config, secrets, state file); removed on drop.
    pub dir: PathBuf,
    /// The HubSpot portal.
    pub hubspot: HubSpotSandbox,
    /// The Salesforce org.
    pub salesforce: SalesforceSandbox,
    /// The served HubSpot API.
    pub hubspot_served: Served,
    /// The served Salesforce API.
    pub salesforce_served: Served,
    /// The config file.
    pub config_path: PathBuf,
    /// The limits in force.
    pub limits: Limits,
}

impl World {
    /// Serves both sandboxes with `limits` and writes a config (`poll` and `lookback` are
    /// duration strings for `[sync]`) in a fresh scratch directory named after `name`.
    pub async fn start(
        name: &str,
        limits: Limits,
        poll: &str,
        lookback: &str,
    ) -> anyhow::Result<World> {
        World::start_syncing(name, limits, poll, lookback, &[]).await
    }

    /// As [`World::start`], the config also syncing the revenue pairs `objects`
    /// (`companies`, `deals`) with their mappings.
    pub async fn start_syncing(
        name: &str,
        limits: Limits,
        poll: &str,
        lookback: &str,
        objects: &[&str],
    ) -> anyhow::Result<World> {
        let dir = std::env::temp_dir().join(format!("truce-bench-{}-{name}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let hubspot = HubSpotSandbox::new(HubSpotOptions {
            requests_per_10s: Some(limits.hubspot_per_10s),
            search_per_second: Some(limits.search_per_second),
            daily_limit: Some(limits.hubspot_daily),
            search_index_lag: limits.search_index_lag,
            ..HubSpotOptions::default()
        });
        let salesforce = SalesforceSandbox::new(SalesforceOptions {
            daily_limit: limits.salesforce_daily,
            ..SalesforceOptions::default()
        });
        let config = Config {
            poll_interval: poll.to_string(),
            lookback: lookback.to_string(),
            external_id_field: None,
            hubspot_limits: Some(HubSpotLimits {
                requests_per_10s: limits.hubspot_per_10s,
                search_requests_per_second: limits.search_per_second,
                daily_quota: Some(limits.hubspot_daily),
            }),
            extra_sync: String::new(),
            rules: Vec::new(),
            sections: String::new(),
            objects: objects.iter().map(|o| o.to_string()).collect(),
        };
        let sandbox::World {
            hubspot,
            salesforce,
            hubspot_served,
            salesforce_served,
            config_path,
            ..
        } = sandbox::World::serve(&dir, hubspot, salesforce, &config).await?;
        Ok(World {
            dir,
            hubspot,
            salesforce,
            hubspot_served,
            salesforce_served,
            config_path,
            limits,
        })
    }

    /// The state file the config names.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("truce.db")
    }

    /// The config, loaded as truce loads it.
    pub fn loaded(&self) -> anyhow::Result<Loaded> {
        load(&self.config_path)
    }

    /// Seeds `n` HubSpot contacts and `n` Salesforce leads, the first `n / 2` of them the
    /// same people (the "half the emails shared"). Values differ on purpose so the
    /// backfill has real work: blanks filled both ways, conflicts decided by rule, half of
    /// the HubSpot-only contacts qualified (created as Leads), every Salesforce-only lead
    /// created in HubSpot.
    pub fn populate(&self, n: usize) -> anyhow::Result<Population> {
        let shared = n / 2;
        Ok(sandbox::populate(
            &self.hubspot,
            &self.salesforce,
            shared,
            n - shared,
        )?)
    }

    /// Every way the two sides disagree: duplicates by email on either side, a Salesforce
    /// person missing in HubSpot, or a mapped field whose values differ. Empty when
    /// converged.
    pub fn disagreements(&self, settings: &Settings) -> Vec<String> {
        let hubspot = sandbox::hubspot_by_email(&self.hubspot);
        let salesforce = sandbox::salesforce_by_email(&self.salesforce);
        let mut problems = Vec::new();
        for (email, contacts) in &hubspot {
            if contacts.len() > 1 {
                problems.push(format!("{email}: {} HubSpot contacts", contacts.len()));
            }
        }
        for (email, records) in &salesforce {
            if records.len() > 1 {
                problems.push(format!("{email}: {} Salesforce records", records.len()));
            }
            let Some(contact) = hubspot.get(email).and_then(|c| c.first()) else {
                problems.push(format!("{email}: in Salesforce, missing in HubSpot"));
                continue;
            };
            let (object, record) = &records[0];
            problems.extend(
                field_disagreements(settings, contact, object, record)
                    .into_iter()
                    .map(|d| format!("{email}: {d}")),
            );
        }
        problems
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Loads a config file as truce does.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    config::load(path).map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))
}

/// The mapped fields on which a linked pair disagrees (converted leads and `none` fields
/// are not compared).
fn field_disagreements(
    settings: &Settings,
    hubspot: &BTreeMap<String, String>,
    object: &str,
    salesforce: &Value,
) -> Vec<String> {
    let object = match object {
        "Contact" => ObjectType::SalesforceContact,
        _ => ObjectType::SalesforceLead,
    };
    if salesforce["IsConverted"] == Value::Bool(true) {
        return Vec::new();
    }
    let Some(people) = settings.pair(Pair::Contacts) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for map in people.fields_for(object) {
        if map.rule == Rule::None {
            continue;
        }
        let h = map.from_hubspot(
            hubspot
                .get(&map.hubspot)
                .map(|s| Value::String(s.clone()))
                .as_ref(),
        );
        let s = map.from_salesforce(salesforce.get(&map.salesforce));
        match (h, s) {
            (Ok(h), Ok(s)) if h == s => {}
            (h, s) => out.push(format!(
                "{}/{}: hubspot {h:?} vs salesforce {s:?}",
                map.hubspot, map.salesforce
            )),
        }
    }
    out
}
