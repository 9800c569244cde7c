//! `truce sandbox`: the two fake APIs on loopback, seeded, for trying a config safely.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context;
use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions as HubSpotOptions};
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions as SalesforceOptions};

use crate::cli::{Global, SandboxArgs};

/// Creates a Salesforce lead for the first `n` HubSpot contacts (same email and name), so
/// the two sandboxes share people. Returns how many were created.
fn share_people(
    hubspot: &HubSpotSandbox,
    salesforce: &SalesforceSandbox,
    contacts: &[String],
    n: usize,
) -> usize {
    contacts
        .iter()
        .take(n)
        .filter_map(|id| hubspot.get(id))
        .filter(|contact| {
            let p = &contact.properties;
            let lead = serde_json::json!({
                "Email": p.get("email"),
                "FirstName": p.get("firstname"),
                "LastName": p.get("lastname").map_or("Unknown", String::as_str),
                "Company": p.get("company").map_or("[not provided]", String::as_str),
            });
            salesforce.create("Lead", lead).is_ok()
        })
        .count()
}

/// Serves both sandboxes until Ctrl-C or SIGTERM.
pub async fn run(_global: &Global, args: &SandboxArgs) -> anyhow::Result<()> {
    let hubspot = HubSpotSandbox::new(HubSpotOptions {
        seed: args.seed,
        ..HubSpotOptions::default()
    });
    let salesforce = SalesforceSandbox::new(SalesforceOptions {
        seed: args.seed,
        ..SalesforceOptions::default()
    });
    let contacts = hubspot.seed_contacts(args.contacts, args.seed);
    salesforce.seed_leads(args.leads, args.seed);
    let shared = share_people(&hubspot, &salesforce, &contacts, args.shared);
    let hubspot_served = hubspot
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, args.hubspot_port)))
        .await
        .with_context(|| format!("serving the HubSpot sandbox on port {}", args.hubspot_port))?;
    let salesforce_served = salesforce
        .serve(SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            args.salesforce_port,
        )))
        .await
        .with_context(|| {
            format!(
                "serving the Salesforce sandbox on port {}",
                args.salesforce_port
            )
        })?;
    let hubspot_url = hubspot_served.url();
    let login_url = salesforce_served.url();
    println!(
        "HubSpot sandbox ({} contacts, {shared} of them also Salesforce leads)",
        hubspot.count()
    );
    println!("  base_url = \"{hubspot_url}\"");
    println!("  token    = {}", hubspot.token());
    println!("{}", salesforce.banner(&login_url));
    println!();
    println!("Try a config against them (the tokens are the sandboxes' own, not secrets):");
    println!("  export HUBSPOT_TOKEN={}", hubspot.token());
    println!(
        "  export SALESFORCE_CLIENT_ID={} SALESFORCE_CLIENT_SECRET={}",
        salesforce.options().client_id,
        salesforce.options().client_secret
    );
    println!(
        "  and set [hubspot] base_url = \"{hubspot_url}\", [salesforce] login_url = \"{login_url}\""
    );
    println!("\nServing until Ctrl-C.");
    let stop = crate::daemon::stop_on_signals().context("installing signal handlers")?;
    stop.cancelled().await;
    hubspot_served.shutdown().await;
    salesforce_served.shutdown().await;
    Ok(())
}
