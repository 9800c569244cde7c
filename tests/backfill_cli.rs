//! `truce backfill` as an admin runs it: `--dry-run` prints the plan and writes nothing;
//! the real run writes, prints a summary, and a second run changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{World, calls_to};
use serde_json::json;

fn truce(world: &World, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(args)
        .arg("--config")
        .arg(&world.config_path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn writes(world: &World) -> u64 {
    calls_to(&world.hubspot.counters(), "/batch/")
        + calls_to(&world.salesforce.counters(), "composite")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_the_plan_and_writes_nothing_then_the_backfill_does_it() {
    let world = World::new().await;
    for i in 0..30 {
        let email = format!("p{i}@example.com");
        let first = format!("Hub{i}");
        world
            .hubspot
            .create_contact(&[
                ("email", &email),
                ("firstname", &first),
                (
                    "lifecyclestage",
                    if i < 20 {
                        "lead"
                    } else {
                        "marketingqualifiedlead"
                    },
                ),
            ])
            .unwrap();
        if i < 20 {
            let first = if i % 2 == 0 {
                format!("Sales{i}")
            } else {
                first.clone()
            };
            world
                .salesforce
                .create(
                    "Lead",
                    json!({"LastName": "L", "Company": "Co", "Email": email, "FirstName": first}),
                )
                .unwrap();
        }
    }
    let (code, out, err) = truce(&world, &["backfill", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run: nothing was written"), "{out}");
    assert!(
        out.contains("links       30 (20 matched by email, 10 waiting for a create)"),
        "{out}"
    );
    assert!(out.contains("create      10 salesforce Lead"), "{out}");
    assert!(out.contains("conflicts   10"), "{out}");
    assert!(out.contains("API calls"), "{out}");
    assert_eq!(writes(&world), 0, "a dry run writes nothing");
    assert!(
        !world.state_path().exists(),
        "nor does it create the state file"
    );

    let (code, out, err) = truce(&world, &["backfill"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backfill complete"), "{out}");
    assert_eq!(world.salesforce.count("Lead"), 30);
    assert!(
        err.contains("truce::conflict"),
        "conflicts are logged: {err}"
    );

    // Resumed or repeated, a backfill duplicates nothing.
    let (code, _, err) = truce(&world, &["backfill"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(world.salesforce.count("Lead"), 30);
    assert_eq!(world.hubspot.count(), 30);
}

/// The numbers of one pair's row of the dry run's per-pair table: links, then
/// `HubSpot / Salesforce` for creates, updates, deletes, associations and API calls.
fn pair_row(out: &str, pair: &str) -> Vec<u64> {
    out.lines()
        .skip_while(|l| !l.trim_start().starts_with("per pair"))
        .find(|l| l.split_whitespace().next() == Some(pair))
        .unwrap_or_else(|| panic!("no {pair} row:\n{out}"))
        .split_whitespace()
        .skip(1)
        .filter(|w| *w != "/")
        .map(|w| w.parse().unwrap_or_else(|_| panic!("{pair}: {w:?}\n{out}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_counts_links_creates_association_writes_and_calls_per_pair() {
    use truce_sandbox::world::{CompanyShapes, populate_companies, populate_deals};

    let world = World::revenue(&["companies", "deals"], "", "").await;
    // 6 companies shared through a buyer on each side, 3 HubSpot-only companies nobody
    // refers to, 4 Salesforce-only Accounts; 10 Opportunities over the 6 shared Accounts
    // and 2 of the Salesforce-only ones, each shared Account's buyer a contact role.
    let shapes = CompanyShapes {
        by_people: 6,
        by_domain: 0,
        hubspot_only: 3,
        salesforce_only: 4,
    };
    let seeded = populate_companies(&world.hubspot, &world.salesforce, shapes).unwrap();
    let mut accounts = seeded.salesforce[..6].to_vec();
    accounts.extend_from_slice(&seeded.salesforce[6..8]);
    let roles: Vec<(String, String)> = seeded.salesforce[..6]
        .iter()
        .zip(&seeded.people)
        .map(|(account, (_, contact))| (account.clone(), contact.clone()))
        .collect();
    populate_deals(&world.salesforce, &accounts, &roles, 10).unwrap();

    let account = || {
        world
            .salesforce
            .get("Account", &seeded.salesforce[0])
            .unwrap()
    };
    let before = account();
    let (code, out, err) = truce(&world, &["backfill", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    // The scan reads associations in batches (`batch/read`) and contact roles in composite
    // calls; nothing is written.
    let hubspot_writes: u64 = [
        "/batch/create",
        "/batch/upsert",
        "/batch/update",
        "/batch/archive",
    ]
    .iter()
    .map(|e| calls_to(&world.hubspot.counters(), e))
    .sum();
    assert_eq!(hubspot_writes, 0, "a dry run writes nothing: {out}");
    assert_eq!(
        account(),
        before,
        "the planned Account update is not sent: {out}"
    );
    assert_eq!(world.hubspot.deals().len(), 0, "{out}");
    let (companies, contacts, deals) = (
        pair_row(&out, "companies"),
        pair_row(&out, "contacts"),
        pair_row(&out, "deals"),
    );
    // People: the 6 buyers match by email; nothing to create either way.
    assert_eq!(contacts[0], 6, "{out}");
    assert_eq!(&contacts[1..3], [0, 0], "{out}");
    // Companies: the 6 tied by their buyers are linked; nobody refers to the 3 HubSpot-only
    // ones, so no Account is made (at most the 2 Accounts only deals point at become
    // companies).
    assert_eq!(companies[0], 6 + companies[1], "{out}");
    assert!(companies[1] <= 2, "{out}");
    assert_eq!(companies[2], 0, "no Account is made: {out}");
    // Deals: every Opportunity becomes a HubSpot deal (one upsert call), none the other
    // way. Once made, each gets its company (10) and the 8 on a shared Account their buyer
    // as contact (8), written after the creates: a write for each association, 1,000 a
    // call, with nothing to read first (a deal just created has no associations).
    assert_eq!(deals[0], 10, "{out}");
    assert_eq!((deals[1], deals[2]), (10, 0), "{out}");
    assert_eq!(
        (deals[3], deals[4], deals[5], deals[6]),
        (0, 0, 0, 0),
        "{out}"
    );
    assert_eq!((deals[7], deals[8]), (18, 0), "{out}");
    assert_eq!((deals[9], deals[10]), (1 + 1 + 1, 0), "{out}");
    assert!(
        out.contains("(18 of the association writes wait for a record to be created first"),
        "{out}"
    );

    // The backfill does what the plan said: 10 deals in HubSpot.
    let (code, out, err) = truce(&world, &["backfill"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(world.hubspot.deals().len(), 10);
}
