//! The sync engine end to end: the real engine, a real SQLite file, both sandboxes over
//! HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{World, disagreements};
use serde_json::json;
use truce::engine::Quiet;

const STAGES: [&str; 4] = ["subscriber", "lead", "marketingqualifiedlead", "customer"];
const STATUSES: [&str; 3] = ["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"];

/// `shared` people in both systems, plus `only` on each side alone.
fn populate(world: &World, shared: usize, only: usize) {
    for i in 0..shared + only {
        let email = if i < shared {
            format!("shared{i}@example.com")
        } else {
            format!("hs-only{i}@example.com")
        };
        let stage = STAGES[i % STAGES.len()];
        let first = format!("First{i}");
        let city = format!("City{}", i % 7);
        let mut props = vec![
            ("email", email.as_str()),
            ("firstname", first.as_str()),
            ("lifecyclestage", stage),
            ("city", city.as_str()),
        ];
        if i % 3 != 0 {
            props.push(("company", "Hub Co"));
        }
        if i % 5 == 0 {
            props.push(("phone", "+1 555 0100"));
        }
        world.hubspot.create_contact(&props).unwrap();
    }
    for i in 0..shared + only {
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
        world.salesforce.create("Lead", lead).unwrap();
    }
}

fn assert_converged(world: &World) {
    let settings = world.settings();
    let hubspot = world.hubspot_by_email();
    let salesforce = world.salesforce_by_email();
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
        let Some(contacts) = hubspot.get(email) else {
            problems.push(format!("{email}: in Salesforce, missing in HubSpot"));
            continue;
        };
        let (object, record) = &records[0];
        for d in disagreements(&settings, &contacts[0], object, record) {
            problems.push(format!("{email}: {d}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems, first ones:\n{}",
        problems.len(),
        problems[..problems.len().min(20)].join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_of_2000_and_2000_sharing_1000_emails_converges_without_duplicates() {
    let world = World::new().await;
    populate(&world, 1000, 1000);
    let mut engine = world.engine();
    let summary = engine.backfill(&Quiet, true).await.unwrap();
    assert_eq!(summary.scanned_hubspot, 2000);
    assert_eq!(summary.scanned_salesforce, 2000);
    // The echoes of the backfill's writes come back on the next poll, and settle.
    engine.cycle().await.unwrap();
    let last = engine.cycle().await.unwrap();
    assert_eq!((last.written_hubspot, last.written_salesforce), (0, 0), "{last:?}");
    assert_converged(&world);
    // Qualified HubSpot-only contacts became Leads; unqualified ones did not.
    let salesforce = world.salesforce_by_email();
    assert!(salesforce.contains_key("hs-only1002@example.com"), "MQL created as a Lead");
    assert!(!salesforce.contains_key("hs-only1000@example.com"), "subscriber not created");
    // Salesforce-only leads now exist in HubSpot.
    assert_eq!(world.hubspot.count(), 3000);
}
