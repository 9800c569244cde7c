//! Full scan of a seeded HubSpot sandbox under a 190-per-10-s burst limit.
//!
//! `cargo run --release -p truce-connectors --example hubspot_scan_bench -- [--records N]
//! [--per-10s R]`
//!
//! The sandbox enforces the limit as HubSpot does (rolling 10 s window, 429 beyond it); the
//! connector is configured with the same number. Prints the list calls made, the 429s
//! received, wall time, records per second, and the ratio of the wall time to the
//! quota-bound time (calls at R/10 per second). Not a timed test: figures only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use truce_connectors::http::{HttpClient, HttpOptions};
use truce_connectors::hubspot::{HubSpotAuth, HubSpotConfig, HubSpotConnector};
use truce_connectors::{Connector, ObjectType, Secret};
use truce_sandbox::hubspot::{ApiVersion, HubSpotSandbox, SandboxOptions};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records = arg("--records", 100_000) as usize;
    let per_10s = arg("--per-10s", 190) as u32;

    let sandbox = HubSpotSandbox::new(SandboxOptions {
        requests_per_10s: Some(per_10s),
        ..SandboxOptions::default()
    });
    let seeding = Instant::now();
    sandbox.seed_contacts(records, 42);
    let seeded_in = seeding.elapsed();
    let served = sandbox.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;

    let mut config = HubSpotConfig::new(
        served.url(),
        HubSpotAuth::Token(Secret::new(sandbox.token())),
    );
    config.requests_per_10s = per_10s;
    let properties = [
        "firstname",
        "lastname",
        "company",
        "city",
        "phone",
        "lifecyclestage",
        "hs_lead_status",
    ];
    config.objects = std::collections::BTreeMap::from([(
        ObjectType::HubSpotContact,
        properties.map(String::from).to_vec(),
    )]);
    let connector = HubSpotConnector::new(config, HttpClient::new(&HttpOptions::default())?)?;

    let start = Instant::now();
    let mut scanned = 0usize;
    let mut resume: Option<String> = None;
    loop {
        let page = connector
            .scan(ObjectType::HubSpotContact, resume.as_deref())
            .await?;
        scanned += page.records.len();
        match page.next {
            Some(next) => resume = Some(next),
            None => break,
        }
    }
    let wall = start.elapsed();

    let counters = sandbox.counters();
    // The connector speaks the default family (2026-09); count its list calls there.
    let list = format!("GET {}/contacts", ApiVersion::V2026_09.base("objects"));
    let calls = counters.get(&list);
    let refused = counters.status(429);
    let bound = Duration::from_secs_f64(calls as f64 / (per_10s as f64 / 10.0));
    let busiest = sandbox.max_in_window(Duration::from_secs(10), false);
    println!("HubSpot full scan, sandbox enforcing {per_10s} requests per 10 s");
    println!(
        "  seeded           {records} contacts in {:.2} s",
        seeded_in.as_secs_f64()
    );
    println!("  records scanned  {scanned}");
    println!("  list calls       {calls}");
    println!("  429s received    {refused}");
    println!("  busiest 10 s     {busiest} requests");
    println!("  wall time        {:.2} s", wall.as_secs_f64());
    println!(
        "  records/s        {:.0}",
        scanned as f64 / wall.as_secs_f64()
    );
    println!(
        "  quota bound      {:.2} s ({calls} calls at {:.1}/s)",
        bound.as_secs_f64(),
        per_10s as f64 / 10.0
    );
    println!(
        "  ratio to bound   {:.3}",
        wall.as_secs_f64() / bound.as_secs_f64()
    );
    served.shutdown().await;
    Ok(())
}
