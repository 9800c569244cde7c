//! Benchmark: lead creates through the Salesforce connector against the sandbox.
//!
//! `cargo run --release -p truce-connectors --example salesforce_write_bench -- [--records N]`
//!
//! Prints the API calls spent (expect N / 1,000: composite requests of five 200-record
//! collections), wall time and records per second, then the calls an idle poll costs
//! (expect exactly one).

// The connector config for a sandbox org, shared with the connector tests.
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::ConfigFor;
use serde_json::json;
use truce_connectors::contract::Cursors;
use truce_connectors::http::{HttpClient, HttpOptions};
use truce_connectors::salesforce::SalesforceConnector;
use truce_connectors::{Connector, ObjectType, Write, WriteOp};
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut records: usize = 100_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--records" => records = args.next().ok_or("--records needs a number")?.parse()?,
            other => return Err(format!("unknown argument {other}; usage: [--records N]").into()),
        }
    }
    let sandbox = SalesforceSandbox::new(SandboxOptions {
        daily_limit: 5_000_000,
        ..SandboxOptions::default()
    });
    let served = sandbox.serve("127.0.0.1:0".parse()?).await?;
    let config = sandbox.config_for(&served.url());
    let conn = SalesforceConnector::new(config, HttpClient::new(&HttpOptions::default())?)?;

    let writes: Vec<Write> = (0..records)
        .map(|i| Write {
            key: i as i64,
            object: ObjectType::SalesforceLead,
            op: WriteOp::Create { upsert_on: None },
            fields: BTreeMap::from([
                ("FirstName".to_string(), json!(format!("Bench{i}"))),
                ("LastName".to_string(), json!("Lead")),
                ("Company".to_string(), json!("Benchmark Inc")),
                ("Email".to_string(), json!(format!("bench{i}@example.com"))),
                ("City".to_string(), json!("Lisbon")),
            ]),
        })
        .collect();
    let counters = sandbox.counters();
    let (used_before, _) = sandbox.api_usage();
    let composites_before = counters.get("POST /services/data/{v}/composite");
    let started = Instant::now();
    let outcomes = conn.apply(writes).await?;
    let wall = started.elapsed();
    let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
    let calls = sandbox.api_usage().0 - used_before;
    println!("salesforce lead creates");
    println!("  records:          {records} ({ok} created)");
    println!(
        "  api calls:        {calls} (composite requests: {})",
        counters.get("POST /services/data/{v}/composite") - composites_before
    );
    println!("  wall time:        {:.3} s", wall.as_secs_f64());
    println!(
        "  records/s:        {:.0}",
        records as f64 / wall.as_secs_f64().max(1e-9)
    );

    // Read everything once, then poll again with nothing new.
    let mut since = Cursors::new();
    let mut position: Option<Cursors> = None;
    let started = Instant::now();
    let mut pulled = 0;
    let used = sandbox.api_usage().0;
    loop {
        let page = conn
            .pull(&since, position.as_ref(), Duration::from_secs(60))
            .await?;
        pulled += page.records.len();
        for (k, v) in &page.position {
            let e = since.entry(k.clone()).or_insert_with(|| v.clone());
            if v > e {
                *e = v.clone();
            }
        }
        if page.done {
            break;
        }
        position = Some(page.position);
    }
    let pull_wall = started.elapsed();
    println!("salesforce incremental pull (first, full)");
    println!(
        "  records:          {pulled} in {} calls, {:.3} s, {:.0} records/s",
        sandbox.api_usage().0 - used,
        pull_wall.as_secs_f64(),
        pulled as f64 / pull_wall.as_secs_f64().max(1e-9)
    );
    let used = sandbox.api_usage().0;
    let started = Instant::now();
    let page = conn.pull(&since, None, Duration::ZERO).await?;
    println!("salesforce idle poll");
    println!(
        "  api calls:        {} ({} records, {:.1} ms)",
        sandbox.api_usage().0 - used,
        page.records.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    served.shutdown().await;
    Ok(())
}
