//! The demo's world: both sandboxes served on free loopback ports, seeded with a small
//! realistic company, a config file pointing at them and the state file beside it.
//!
//! The seeded world, deterministic for a seed:
//!
//! - 500 HubSpot contacts across lifecycle stages (most are not yet qualified, so they stay
//!   in HubSpot until marketing qualifies them);
//! - 300 Salesforce Leads and 100 Contacts;
//! - 150 emails in both systems (100 as Leads, 50 as Contacts), a few of them with
//!   deliberately different values on each side, so the backfill has conflicts to decide
//!   by rule;
//! - one qualified HubSpot contact whose email HubSpot accepts and Salesforce refuses
//!   (a one-letter top-level domain), so the first create is quarantined with Salesforce's
//!   own message.
//!
//! The directory is not removed on exit: the state file stays, so `truce status`,
//! `truce conflicts` and `truce history` can inspect the run afterwards.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use truce_sandbox::Served;
use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions as HubSpotOptions};
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions as SalesforceOptions};

/// HubSpot contacts seeded (the refused one included).
pub const HUBSPOT_CONTACTS: usize = 500;
/// Salesforce Leads seeded.
pub const SALESFORCE_LEADS: usize = 300;
/// Salesforce Contacts seeded.
pub const SALESFORCE_CONTACTS: usize = 100;
/// Emails in both systems: the first `SHARED_AS_LEADS` as Leads, the rest as Contacts.
pub const SHARED: usize = 150;
const SHARED_AS_LEADS: usize = 100;

/// How often the daemon polls in the demo: short, so edits show up within seconds.
pub const POLL_INTERVAL: &str = "2s";

/// The field mappings of the demo's (and the benchmark's) config: the example config's,
/// with a rule of each kind.
pub const FIELDS: &str = r#"
[[field]]
hubspot = "email"
salesforce = "Email"

[[field]]
hubspot = "firstname"
salesforce = "FirstName"

[[field]]
hubspot = "lastname"
salesforce = "LastName"
rule = "prefer_salesforce_unless_blank"
salesforce_if_blank = "[not provided]"

[[field]]
hubspot = "company"
salesforce = "Company"
on = ["Lead"]
rule = "prefer_hubspot_unless_blank"
salesforce_if_blank = "[not provided]"

[[field]]
hubspot = "phone"
salesforce = "Phone"
rule = "always_hubspot"

[[field]]
hubspot = "city"
salesforce = "City"
on = ["Lead"]

[[field]]
hubspot = "city"
salesforce = "MailingCity"
on = ["Contact"]

[[field]]
hubspot = "jobtitle"
salesforce = "Title"

[[field]]
hubspot = "hs_lead_status"
salesforce = "Status"
on = ["Lead"]
rule = "always_salesforce"
values = { "NEW" = "Open - Not Contacted", "IN_PROGRESS" = "Working - Contacted", "OPEN_DEAL" = "Closed - Converted", "UNQUALIFIED" = "Closed - Not Converted" }
"#;

const FIRST: [&str; 20] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Frances",
    "John",
    "Radia",
    "Linus",
    "Katherine",
    "Dennis",
    "Hedy",
    "Tim",
    "Sophie",
    "Anita",
    "Bjarne",
    "Joan",
];
const LAST: [&str; 20] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Allen",
    "McCarthy",
    "Perlman",
    "Torvalds",
    "Johnson",
    "Ritchie",
    "Lamarr",
    "Berners-Lee",
    "Wilson",
    "Borg",
    "Stroustrup",
    "Clarke",
];
const COMPANIES: [&str; 10] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
];
/// Cities people live in.
pub const CITIES: [&str; 10] = [
    "Oslo", "Lyon", "Austin", "Leeds", "Porto", "Ghent", "Graz", "Turku", "Cork", "Bergen",
];
/// Job titles both teams use.
pub const TITLES: [&str; 8] = [
    "CTO",
    "VP Sales",
    "Engineer",
    "Buyer",
    "Founder",
    "Head of Growth",
    "Marketing Manager",
    "Procurement Lead",
];
/// Lifecycle stages with their share of the seeded contacts (out of 100).
const STAGES: [(&str, u32); 6] = [
    ("subscriber", 30),
    ("lead", 30),
    ("marketingqualifiedlead", 20),
    ("salesqualifiedlead", 10),
    ("opportunity", 5),
    ("customer", 5),
];
const LEAD_STATUSES: [(&str, u32); 3] = [
    ("Open - Not Contacted", 50),
    ("Working - Contacted", 30),
    ("Closed - Not Converted", 20),
];

/// The email Salesforce refuses (a one-letter top-level domain) and HubSpot accepts.
pub const REFUSED_EMAIL: &str = "jordan.typo@initech.c";

/// What was seeded, for the script and the report.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Emails present in both systems at the start.
    pub shared: Vec<String>,
    /// Emails whose two sides were seeded with different values (a conflict each).
    pub conflicting: Vec<String>,
    /// HubSpot contacts seeded.
    pub hubspot: usize,
    /// Salesforce Leads seeded.
    pub leads: usize,
    /// Salesforce Contacts seeded.
    pub contacts: usize,
}

/// Both sandboxes, served, seeded, and the files a real `truce` needs to reach them.
pub struct DemoWorld {
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
    /// The state file.
    pub state_path: PathBuf,
    /// What was seeded.
    pub seeded: Seeded,
}

impl DemoWorld {
    /// Creates the directory `dir`, serves both sandboxes on free loopback ports, seeds
    /// them from `seed`, and writes the config and secret files.
    pub async fn create(dir: &Path, seed: u64) -> anyhow::Result<DemoWorld> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the demo directory {}", dir.display()))?;
        let hubspot = HubSpotSandbox::new(HubSpotOptions {
            seed,
            ..HubSpotOptions::default()
        });
        let salesforce = SalesforceSandbox::new(SalesforceOptions {
            seed,
            ..SalesforceOptions::default()
        });
        let seeded = seed_world(&hubspot, &salesforce, seed)?;
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let hubspot_served = hubspot
            .serve(loopback)
            .await
            .context("serving the HubSpot sandbox on 127.0.0.1")?;
        let salesforce_served = salesforce
            .serve(loopback)
            .await
            .context("serving the Salesforce sandbox on 127.0.0.1")?;
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        };
        // The sandboxes' credentials are published constants, but they still go through
        // secret files, exactly as real ones would.
        write("hubspot-token", hubspot.token())?;
        write("salesforce-client-id", &salesforce.options().client_id)?;
        write(
            "salesforce-client-secret",
            &salesforce.options().client_secret,
        )?;
        let state_path = dir.join("truce.db");
        let config = format!(
            r#"# Written by `truce demo`: the real config format, pointing at the demo's sandboxes.

[state]
path = "{state}"

[hubspot]
base_url = "{hubspot}"
token = {{ file = "hubspot-token" }}

[salesforce]
login_url = "{salesforce}"
client_id = {{ file = "salesforce-client-id" }}
client_secret = {{ file = "salesforce-client-secret" }}
external_id_field = "HubSpot_Contact_Id__c"

[sync]
poll_interval = "{POLL_INTERVAL}"
lookback = "10s"
{FIELDS}"#,
            state = state_path.display(),
            hubspot = hubspot_served.url(),
            salesforce = salesforce_served.url(),
        );
        write("truce.toml", &config)?;
        Ok(DemoWorld {
            dir: dir.to_path_buf(),
            hubspot,
            salesforce,
            hubspot_served,
            salesforce_served,
            config_path: dir.join("truce.toml"),
            state_path,
            seeded,
        })
    }
}

/// One generated person.
struct Person {
    first: &'static str,
    last: &'static str,
    company: &'static str,
    city: &'static str,
    phone: String,
    title: &'static str,
    email: String,
}

fn person(rng: &mut StdRng, serial: usize) -> Person {
    let first = FIRST[rng.random_range(0..FIRST.len())];
    let last = LAST[rng.random_range(0..LAST.len())];
    let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
    let domain = company.to_lowercase().replace(' ', "");
    Person {
        first,
        last,
        company,
        city: CITIES[rng.random_range(0..CITIES.len())],
        phone: phone(rng),
        title: TITLES[rng.random_range(0..TITLES.len())],
        email: format!(
            "{}.{}.{serial}@{domain}.example",
            first.to_lowercase(),
            last.to_lowercase().replace('-', "")
        ),
    }
}

/// A phone number in the format both teams type.
pub fn phone(rng: &mut StdRng) -> String {
    format!(
        "+1 555 {:03} {:04}",
        rng.random_range(0..1000u32),
        rng.random_range(0..10_000u32)
    )
}

/// Picks from `(value, weight)` pairs whose weights sum to 100.
fn weighted(rng: &mut StdRng, table: &[(&'static str, u32)]) -> &'static str {
    let mut roll = rng.random_range(0..100u32);
    for (value, weight) in table {
        if roll < *weight {
            return value;
        }
        roll -= weight;
    }
    table[0].0
}

/// The deliberate disagreements, one per rule: which seeded shared person (by index)
/// gets which different Salesforce value. Index 100 onwards are Contacts.
const CONFLICTS: [(usize, &str, &str); 5] = [
    (3, "FirstName", "Kate"),
    (7, "LastName", "Hopper-Smith"),
    (11, "Company", "Globex Corporation"),
    (15, "Phone", "+1 555 000 0000"),
    (104, "MailingCity", "Reykjavik"),
];

fn seed_world(
    hubspot: &HubSpotSandbox,
    salesforce: &SalesforceSandbox,
    seed: u64,
) -> anyhow::Result<Seeded> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut shared = Vec::new();
    let mut conflicting = Vec::new();
    // HubSpot: every contact but the last; the last is the one Salesforce refuses.
    for i in 0..HUBSPOT_CONTACTS - 1 {
        let p = person(&mut rng, i);
        // The shared people are customers of sales already: at least a lead in HubSpot.
        let stage = if i < SHARED {
            ["lead", "marketingqualifiedlead", "salesqualifiedlead"][i % 3]
        } else {
            weighted(&mut rng, &STAGES)
        };
        let mut props = vec![
            ("email", p.email.as_str()),
            ("firstname", p.first),
            ("lastname", p.last),
            ("city", p.city),
            ("lifecyclestage", stage),
        ];
        if rng.random_bool(0.9) {
            props.push(("company", p.company));
        }
        // Shared people have the phone number sales has; others may have none yet.
        if i < SHARED || rng.random_bool(0.7) {
            props.push(("phone", p.phone.as_str()));
        }
        if rng.random_bool(0.5) {
            props.push(("jobtitle", p.title));
        }
        hubspot
            .create_contact(&props)
            .map_err(|err| anyhow!("seeding HubSpot contact {}: {err}", p.email))?;
        if i < SHARED {
            let mut record = if i < SHARED_AS_LEADS {
                json!({
                    "FirstName": p.first, "LastName": p.last, "Company": p.company,
                    "City": p.city, "Phone": p.phone, "Title": p.title,
                    // Sales types emails as they get them: case differs, people match.
                    "Email": if i % 4 == 0 { p.email.to_uppercase() } else { p.email.clone() },
                    "Status": weighted(&mut rng, &LEAD_STATUSES),
                })
            } else {
                json!({
                    "FirstName": p.first, "LastName": p.last, "MailingCity": p.city,
                    "Phone": p.phone, "Title": p.title, "Email": p.email,
                })
            };
            if let Some((_, field, value)) = CONFLICTS.iter().find(|(at, _, _)| *at == i) {
                record[*field] = json!(value);
                conflicting.push(p.email.clone());
            }
            let object = if i < SHARED_AS_LEADS {
                "Lead"
            } else {
                "Contact"
            };
            salesforce
                .create(object, record)
                .map_err(|errs| anyhow!("seeding Salesforce {object} {}: {errs:?}", p.email))?;
            shared.push(p.email);
        }
    }
    hubspot
        .create_contact(&[
            ("email", REFUSED_EMAIL),
            ("firstname", "Jordan"),
            ("lastname", "Typo"),
            ("company", "Initech"),
            ("lifecyclestage", "marketingqualifiedlead"),
        ])
        .map_err(|err| anyhow!("seeding HubSpot contact {REFUSED_EMAIL}: {err}"))?;
    // Salesforce-only people: the rest of the Leads and Contacts.
    for i in SHARED_AS_LEADS..SALESFORCE_LEADS {
        let p = person(&mut rng, 10_000 + i);
        let lead = json!({
            "FirstName": p.first, "LastName": p.last, "Company": p.company, "City": p.city,
            "Phone": p.phone, "Title": p.title, "Email": p.email,
            "Status": weighted(&mut rng, &LEAD_STATUSES),
        });
        salesforce
            .create("Lead", lead)
            .map_err(|errs| anyhow!("seeding Salesforce Lead {}: {errs:?}", p.email))?;
    }
    for i in (SHARED - SHARED_AS_LEADS)..SALESFORCE_CONTACTS {
        let p = person(&mut rng, 20_000 + i);
        let contact = json!({
            "FirstName": p.first, "LastName": p.last, "MailingCity": p.city,
            "Phone": p.phone, "Title": p.title, "Email": p.email,
        });
        salesforce
            .create("Contact", contact)
            .map_err(|errs| anyhow!("seeding Salesforce Contact {}: {errs:?}", p.email))?;
    }
    Ok(Seeded {
        shared,
        conflicting,
        hubspot: hubspot.count(),
        leads: salesforce.count("Lead"),
        contacts: salesforce.count("Contact"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn one_seed_is_one_world_with_its_shared_people_conflicts_and_refused_email() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = DemoWorld::create(a.path(), 5).await.unwrap();
        let again = DemoWorld::create(b.path(), 5).await.unwrap();
        assert_eq!(first.seeded.shared, again.seeded.shared);
        assert_eq!(
            (
                first.seeded.hubspot,
                first.seeded.leads,
                first.seeded.contacts
            ),
            (HUBSPOT_CONTACTS, SALESFORCE_LEADS, SALESFORCE_CONTACTS)
        );
        assert_eq!(first.seeded.shared.len(), SHARED);
        assert_eq!(first.seeded.conflicting.len(), CONFLICTS.len());
        assert!(first.hubspot.find_by_email(REFUSED_EMAIL).is_some());
        for email in &first.seeded.shared {
            assert_eq!(first.salesforce.find_by_email(email).len(), 1, "{email}");
        }
        // The config it wrote loads with the real loader.
        let loaded = crate::config::load(&first.config_path).unwrap();
        assert_eq!(loaded.config.state.path, first.state_path);
    }
}
