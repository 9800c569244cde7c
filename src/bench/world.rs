//! The benchmark's world: both sandboxes served on 127.0.0.1 with real-tier limits, a
//! real config file pointing at them (secrets in files, the connectors' limiters set to
//! the same numbers), the seeded population, and the convergence check.
//!
//! The approach is the end-to-end tests' (`tests/common`), with limits switched on. The
//! config leaves `external_id_field` unset, as the example config does: Salesforce creates
//! are preceded by an email lookup. (The sandbox's upsert on an external id scans every
//! row per record, which makes it, not truce, the bound at 100,000 records.)

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use truce_sandbox::Served;
use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions as HubSpotOptions};
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions as SalesforceOptions};

use crate::config::{self, Loaded, Rule, SalesforceObject};
// The benchmark maps the same fields as the demo: the example config's, one per rule.
use crate::demo::world::FIELDS;
use crate::engine::settings::Settings;

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

/// Who was seeded: `shared` people on both sides, the rest on one side only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    /// HubSpot contacts seeded.
    pub hubspot: usize,
    /// Salesforce leads seeded.
    pub salesforce: usize,
    /// People in both (same email, different case on the Salesforce side).
    pub shared: usize,
}

const STAGES: [&str; 4] = ["subscriber", "lead", "marketingqualifiedlead", "customer"];
const STATUSES: [&str; 3] = [
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Not Converted",
];

/// The email of shared person `i` (as HubSpot holds it).
pub fn shared_email(i: usize) -> String {
    format!("shared{i}@example.com")
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
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let hubspot_served = hubspot.serve(loopback).await.context("serving HubSpot")?;
        let salesforce_served = salesforce
            .serve(loopback)
            .await
            .context("serving Salesforce")?;
        let write = |file: &str, text: &str| {
            let path = dir.join(file);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        };
        write("hubspot-token", hubspot.token())?;
        write("sf-id", &salesforce.options().client_id)?;
        write("sf-secret", &salesforce.options().client_secret)?;
        let config = format!(
            r#"
[state]
path = "{state}"

[hubspot]
base_url = "{hubspot}"
token = {{ file = "hubspot-token" }}
requests_per_10s = {per_10s}
search_requests_per_second = {search}
daily_quota = {hubspot_daily}

[salesforce]
login_url = "{salesforce}"
client_id = {{ file = "sf-id" }}
client_secret = {{ file = "sf-secret" }}

[sync]
poll_interval = "{poll}"
lookback = "{lookback}"
{FIELDS}"#,
            state = dir.join("truce.db").display(),
            hubspot = hubspot_served.url(),
            salesforce = salesforce_served.url(),
            per_10s = limits.hubspot_per_10s,
            search = limits.search_per_second,
            hubspot_daily = limits.hubspot_daily,
        );
        let config_path = dir.join("truce.toml");
        write("truce.toml", &config)?;
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
    /// same people (the issue's "half the emails shared"). Values differ on purpose so the
    /// backfill has real work: blanks filled both ways, conflicts decided by rule, half of
    /// the HubSpot-only contacts qualified (created as Leads), every Salesforce-only lead
    /// created in HubSpot.
    pub fn populate(&self, n: usize) -> anyhow::Result<Population> {
        let shared = n / 2;
        for i in 0..n {
            let email = if i < shared {
                shared_email(i)
            } else {
                format!("hs-only{i}@example.com")
            };
            let first = format!("First{i}");
            let city = format!("City{}", i % 7);
            let mut props = vec![
                ("email", email.as_str()),
                ("firstname", first.as_str()),
                ("lifecyclestage", STAGES[i % STAGES.len()]),
                ("city", city.as_str()),
            ];
            if i % 3 != 0 {
                props.push(("company", "Hub Co"));
            }
            if i % 5 == 0 {
                props.push(("phone", "+1 555 0100"));
            }
            self.hubspot
                .create_contact(&props)
                .map_err(|e| anyhow::anyhow!("seeding HubSpot contact {email}: {e:?}"))?;
        }
        for i in 0..n {
            let email = if i < shared {
                format!("SHARED{i}@Example.com")
            } else {
                format!("sf-only{i}@example.com")
            };
            let mut lead = json!({
                "LastName": format!("Last{i}"),
                "Company": if i % 2 == 0 { "Sales Co" } else { "[not provided]" },
                "Email": email,
                "Status": STATUSES[i % STATUSES.len()],
            });
            if i % 4 == 0 {
                lead["FirstName"] = json!(format!("Sales{i}"));
            }
            if i % 6 == 0 {
                lead["City"] = json!("Lyon");
            }
            self.salesforce
                .create("Lead", lead)
                .map_err(|e| anyhow::anyhow!("seeding Salesforce lead {email}: {e:?}"))?;
        }
        Ok(Population {
            hubspot: n,
            salesforce: n,
            shared,
        })
    }

    /// Every way the two sides disagree: duplicates by email on either side, a Salesforce
    /// person missing in HubSpot, or a mapped field whose values differ. Empty when
    /// converged.
    pub fn disagreements(&self, settings: &Settings) -> Vec<String> {
        let mut hubspot: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
        for contact in self.hubspot.contacts() {
            if let Some(email) = contact.properties.get("email") {
                hubspot
                    .entry(email.trim().to_lowercase())
                    .or_default()
                    .push(contact.properties.clone());
            }
        }
        let mut salesforce: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
        for object in ["Lead", "Contact"] {
            for id in self.salesforce.ids(object) {
                let Some(record) = self.salesforce.get(object, &id) else {
                    continue;
                };
                if record["IsDeleted"] == Value::Bool(true) {
                    continue;
                }
                if let Some(email) = record["Email"].as_str() {
                    salesforce
                        .entry(email.trim().to_lowercase())
                        .or_default()
                        .push((object.to_string(), record));
                }
            }
        }
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
        "Contact" => SalesforceObject::Contact,
        _ => SalesforceObject::Lead,
    };
    if salesforce["IsConverted"] == Value::Bool(true) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for map in settings.fields_for(object) {
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
