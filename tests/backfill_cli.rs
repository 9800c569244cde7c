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
