//! A world to run truce against: both sandboxes served on 127.0.0.1, seeded with people,
//! and a real truce config file pointing at them (secrets in files beside it) with the
//! state file it names. `truce demo`, the end-to-end tests and the benchmark all build
//! theirs here, so they map the same fields and write the same kind of config.
//!
//! - [`config`]: the config text and [`FIELDS`], the one list of field mappings;
//! - [`people`]: the demo's seeded company, and the numbered population of the tests and
//!   the benchmark;
//! - [`revenue`]: companies, Accounts and Opportunities (the demo's, and shapes for the
//!   tests and the benchmark);
//! - this module: [`World`], which serves and writes, and the by-email views both sides
//!   are compared with.
//!
//! The directory is the caller's: a world writes into it and never removes it (the demo
//! leaves its state file behind for `truce status`; tests and the benchmark clean up).

pub mod config;
pub mod people;
pub mod revenue;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Served;
use crate::hubspot::{HubSpotSandbox, ObjectType, SandboxError, SandboxOptions as HubSpotOptions};
use crate::salesforce::{SalesforceSandbox, SandboxOptions as SalesforceOptions, SfError};

pub use config::{
    COMPANY_FIELDS, Config, DEAL_FIELDS, DEMO_SLA, FIELDS, Field, HUBSPOT_TOKEN_FILE,
    HubSpotLimits, INDUSTRIES, SALESFORCE_CLIENT_ID_FILE, SALESFORCE_CLIENT_SECRET_FILE, STAGES,
};
pub use people::{Population, Seeded, populate, seed_demo, shared_email};
pub use revenue::{CompanyShapes, populate_companies, populate_deals, seed_demo_revenue};

/// Why a world could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorldError {
    /// A directory, a file or a listening socket.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The HubSpot sandbox refused a seeded record.
    #[error("seeding HubSpot record {email}")]
    HubSpot {
        /// The record's email (or a company's domain).
        email: String,
        /// HubSpot's reason.
        #[source]
        source: SandboxError,
    },
    /// The Salesforce sandbox refused a seeded record.
    #[error("seeding Salesforce {object} {email}: {errors:?}")]
    Salesforce {
        /// The sObject (`Lead`, `Contact`, `Account`, `Opportunity`...).
        object: &'static str,
        /// The record's email.
        email: String,
        /// Salesforce's errors.
        errors: Vec<SfError>,
    },
}

impl WorldError {
    fn io(what: String) -> impl FnOnce(std::io::Error) -> WorldError {
        move |source| WorldError::Io { what, source }
    }

    pub(crate) fn hubspot(email: &str, source: SandboxError) -> WorldError {
        WorldError::HubSpot {
            email: email.to_string(),
            source,
        }
    }

    pub(crate) fn salesforce(
        object: &'static str,
        email: &str,
        errors: Vec<SfError>,
    ) -> WorldError {
        WorldError::Salesforce {
            object,
            email: email.to_string(),
            errors,
        }
    }
}

/// Both sandboxes, served, and the files a real `truce` needs to reach them.
#[derive(Debug)]
pub struct World {
    /// The directory holding the config, the secrets and the state file.
    pub dir: PathBuf,
    /// The HubSpot portal.
    pub hubspot: HubSpotSandbox,
    /// The Salesforce org.
    pub salesforce: SalesforceSandbox,
    /// The HubSpot sandbox's server.
    pub hubspot_served: Served,
    /// The Salesforce sandbox's server.
    pub salesforce_served: Served,
    /// The config file (`truce --config` takes it).
    pub config_path: PathBuf,
    /// The state file the config names (not created).
    pub state_path: PathBuf,
    /// Who was seeded before serving.
    pub seeded: Seeded,
}

impl World {
    /// The demo's world in `dir`: both sandboxes seeded from `seed` with the demo's company
    /// ([`seed_demo`]) and its companies, Accounts and Opportunities
    /// ([`revenue::seed_demo_revenue`]) and served, and the demo's config ([`Config::demo`]),
    /// which syncs contacts, companies and deals.
    pub async fn demo(dir: &Path, seed: u64) -> Result<World, WorldError> {
        let hubspot = HubSpotSandbox::new(HubSpotOptions {
            seed,
            ..HubSpotOptions::default()
        });
        let salesforce = SalesforceSandbox::new(SalesforceOptions {
            seed,
            ..SalesforceOptions::default()
        });
        let mut seeded = seed_demo(&hubspot, &salesforce, seed)?;
        let contacts = seeded.shared.get(people::SHARED_AS_LEADS..).unwrap_or(&[]);
        let (companies, accounts, opportunities, won) =
            revenue::seed_demo_revenue(&hubspot, &salesforce, contacts)?;
        // The buyers tying companies together are people too: the counts the summary's
        // creates are measured from include them.
        seeded = Seeded {
            hubspot: hubspot.count(),
            contacts: salesforce.count("Contact"),
            companies,
            accounts,
            opportunities,
            won,
            ..seeded
        };
        let world = World::serve(dir, hubspot, salesforce, &Config::demo()).await?;
        Ok(World { seeded, ..world })
    }

    /// Creates `dir` if needed, serves both sandboxes on free loopback ports, and writes
    /// their secrets and `config` into `dir` (`truce.toml`, naming `truce.db` beside it).
    pub async fn serve(
        dir: &Path,
        hubspot: HubSpotSandbox,
        salesforce: SalesforceSandbox,
        config: &Config,
    ) -> Result<World, WorldError> {
        std::fs::create_dir_all(dir)
            .map_err(WorldError::io(format!("creating {}", dir.display())))?;
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let hubspot_served = hubspot.serve(loopback).await.map_err(WorldError::io(
            "serving the HubSpot sandbox on 127.0.0.1".into(),
        ))?;
        let salesforce_served = salesforce.serve(loopback).await.map_err(WorldError::io(
            "serving the Salesforce sandbox on 127.0.0.1".into(),
        ))?;
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(WorldError::io(format!("writing {}", path.display())))
        };
        // The sandboxes' credentials are published constants, but they still go through
        // secret files, exactly as real ones would.
        write(HUBSPOT_TOKEN_FILE, hubspot.token())?;
        write(SALESFORCE_CLIENT_ID_FILE, &salesforce.options().client_id)?;
        write(
            SALESFORCE_CLIENT_SECRET_FILE,
            &salesforce.options().client_secret,
        )?;
        // HubSpot has no property holding a Salesforce id until the admin creates one; the
        // revenue tables name theirs, so the portal gets them as an admin's setup would.
        for (object, property, label) in hubspot_id_properties(config) {
            if !hubspot.has_property(object, property) {
                hubspot
                    .add_unique_property(object, property, label)
                    .map_err(|source| WorldError::hubspot(property, source))?;
            }
        }
        let state_path = dir.join("truce.db");
        let text = config.render(&hubspot_served.url(), &salesforce_served.url(), &state_path);
        write("truce.toml", &text)?;
        Ok(World {
            dir: dir.to_path_buf(),
            hubspot,
            salesforce,
            hubspot_served,
            salesforce_served,
            config_path: dir.join("truce.toml"),
            state_path,
            seeded: Seeded::default(),
        })
    }
}

/// The unique-value HubSpot properties the revenue tables of `config` name
/// (`hubspot_id_property`), with their labels.
fn hubspot_id_properties(config: &Config) -> Vec<(ObjectType, &'static str, &'static str)> {
    let mut out = Vec::new();
    if config.objects.iter().any(|o| o == "companies") {
        out.push((
            ObjectType::Companies,
            "salesforce_account_id",
            "Salesforce Account ID",
        ));
    }
    if config.objects.iter().any(|o| o == "deals") {
        out.push((
            ObjectType::Deals,
            "salesforce_opportunity_id",
            "Salesforce Opportunity ID",
        ));
    }
    out
}

/// HubSpot contacts' properties by email, trimmed and lower-cased.
pub fn hubspot_by_email(
    hubspot: &HubSpotSandbox,
) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for contact in hubspot.contacts() {
        if let Some(email) = contact.properties.get("email") {
            out.entry(email.trim().to_lowercase())
                .or_default()
                .push(contact.properties.clone());
        }
    }
    out
}

/// Live Salesforce Leads and Contacts by email, trimmed and lower-cased: `(object, record)`.
pub fn salesforce_by_email(
    salesforce: &SalesforceSandbox,
) -> BTreeMap<String, Vec<(String, Value)>> {
    let mut out: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for object in ["Lead", "Contact"] {
        for id in salesforce.ids(object) {
            let Some(record) = salesforce.get(object, &id) else {
                continue;
            };
            if record["IsDeleted"] == Value::Bool(true) {
                continue;
            }
            if let Some(email) = record["Email"].as_str() {
                out.entry(email.trim().to_lowercase())
                    .or_default()
                    .push((object.to_string(), record));
            }
        }
    }
    out
}
