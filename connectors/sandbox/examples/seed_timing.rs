//! Times the revenue world's seeding phases at a given size (the benchmark's proportions):
//! `cargo run --release -p truce-sandbox --example seed_timing -- 20000`.

use std::collections::BTreeSet;
use std::time::Instant;

use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions as HubSpotOptions};
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions as SalesforceOptions};
use truce_sandbox::world::{CompanyShapes, populate, populate_companies, populate_deals};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let contacts: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    let (companies, deals) = (contacts / 5, contacts / 2);
    let hubspot = HubSpotSandbox::new(HubSpotOptions::default());
    let salesforce = SalesforceSandbox::new(SalesforceOptions::default());
    let by_people = companies * 3 / 4;
    let alone = companies - by_people;
    let people = contacts.saturating_sub(by_people);
    let started = Instant::now();
    populate(&hubspot, &salesforce, people / 2, people - people / 2)?;
    let t_people = started.elapsed();
    let shapes = CompanyShapes {
        by_people,
        by_domain: 0,
        hubspot_only: alone,
        salesforce_only: alone,
    };
    let seeded = populate_companies(&hubspot, &salesforce, shapes)?;
    let t_companies = started.elapsed() - t_people;
    let roles: Vec<(String, String)> = seeded
        .salesforce
        .iter()
        .zip(&seeded.people)
        .map(|(account, (_, contact))| (account.clone(), contact.clone()))
        .collect();
    let made = populate_deals(&salesforce, &seeded.salesforce, &roles, deals)?;
    let t_deals = started.elapsed() - t_people - t_companies;
    let accounts: BTreeSet<&String> = seeded.salesforce.iter().collect();
    println!(
        "{contacts} contacts: people {:.1} s, companies {:.1} s ({} accounts), deals {:.1} s ({} roles), total {:.1} s",
        t_people.as_secs_f64(),
        t_companies.as_secs_f64(),
        accounts.len(),
        t_deals.as_secs_f64(),
        made.roles.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
