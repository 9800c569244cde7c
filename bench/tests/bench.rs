//! `truce-bench` end to end, at sizes small enough for every test run: the scenarios run
//! against the real sandboxes, and their workloads and call counts are what the README says
//! they are. Wall-clock figures are not asserted: speed is what the benchmark measures, not
//! what tests check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;

/// Runs `truce-bench ARGS --json FILE` and returns the figures it wrote.
fn bench(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("figures.json");
    let out = Command::new(env!("CARGO_BIN_EXE_truce-bench"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "truce-bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn n(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{value} is not a count"))
}

#[test]
fn the_engine_scenario_reconciles_the_mix_it_documents() {
    let figures = bench(&["engine", "--records", "100"]);
    let child = &figures["engine"]["figures"]["engine"][0]["child"];
    assert_eq!(n(&child["links"]), 100);
    // 60% agreed; 20% a HubSpot edit, 10% a Salesforce edit and 10% conflicts: one write
    // each.
    assert_eq!(n(&child["writes"]), 40, "{child}");
    assert_eq!(n(&child["conflicts"]), 10, "{child}");
}

#[test]
fn a_small_backfill_spends_the_fewest_calls_the_batch_sizes_allow() {
    let figures = bench(&["backfill", "--records", "1000"]);
    let run = &figures["backfill"]["figures"]["backfill"];
    assert_eq!(
        n(&run["hubspot_calls"]),
        n(&run["hubspot_min_calls"]),
        "{run}"
    );
    assert_eq!(n(&run["hubspot_429"]), 0, "{run}");
    assert_eq!(n(&run["salesforce_429"]), 0, "{run}");
    // Salesforce: one query page per object scanned beyond the minimum at most (the empty
    // Contact scan still looks once), and no email lookup before creates never sent.
    let (calls, min) = (n(&run["salesforce_calls"]), n(&run["salesforce_min_calls"]));
    assert!(
        calls <= min + 1,
        "{calls} Salesforce calls against {min}: {run}"
    );
    assert!(n(&run["busiest_10s"]) <= 190, "{run}");
    // The polls after it reach two idle ones, and HubSpot refuses none of their calls.
    let settle = &figures["backfill"]["figures"]["settle"];
    assert_eq!(settle["settled"], Value::Bool(true), "{settle}");
    let refused = &settle["hubspot_limit_429"];
    assert_eq!(
        n(&refused["ten_secondly"]) + n(&refused["secondly"]) + n(&refused["daily"]),
        0,
        "{settle}"
    );
}

#[test]
fn a_tiny_revenue_backfill_makes_every_deal_once_and_the_sweep_costs_what_it_says() {
    let figures = bench(&["revenue", "--records", "200"]);
    let run = &figures["revenue"]["figures"]["revenue"];
    let seeded = &run["seeded"];
    // 200 contacts, 40 companies, 100 Opportunities: every Opportunity a HubSpot deal, once.
    assert_eq!(n(&seeded["opportunities"]), 100, "{run}");
    assert_eq!(n(&run["after"]["hubspot_deals"]), 100, "{run}");
    assert_eq!(n(&run["after"]["duplicate_deals"]), 0, "{run}");
    assert_eq!(
        n(&run["after"]["accounts"]),
        n(&seeded["accounts"]),
        "{run}"
    );
    assert_eq!(n(&run["hubspot_429"]), 0, "{run}");
    assert_eq!(n(&run["salesforce_429"]), 0, "{run}");
    assert!(
        n(&run["hubspot_calls"]) >= n(&run["hubspot_min_calls"]),
        "the minimum is a lower bound: {run}"
    );
    // After the cycles, each deal on an Account tied by a buyer has that buyer as contact.
    let cycles = &run["cycles"];
    assert_eq!(
        n(&cycles["settled"]["deal_contacts"]),
        n(&seeded["roles"]),
        "{run}"
    );
    // The sweep reads 1,000 records a call per association: the contacts' company, the
    // deals' company and contacts.
    assert_eq!(n(&cycles["sweep_expected_calls"]), 1 + 2, "{run}");
    assert!(
        n(&cycles["sweep_association_reads"]) >= n(&cycles["sweep_expected_calls"]),
        "{run}"
    );
}
