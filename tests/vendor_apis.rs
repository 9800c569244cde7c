//! The vendor APIs as they are now (issue 15), end to end: a HubSpot portal's 2026-09 write
//! validation met by a real backfill, and a whole run on the Salesforce JWT bearer grant
//! that leaves neither the key nor an assertion in its output or its state file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{World, assert_no_key_nor_assertion, jwt_world};
use serde_json::json;
use truce::engine::Quiet;
use truce_sandbox::hubspot::{ObjectType, ValidationRule};
use truce_sandbox::salesforce::{AppKey, DEFAULT_USER};
use truce_state::Store;

/// `n` Salesforce Leads, the one at `bare` without a phone.
fn leads(world: &World, n: usize, bare: usize) {
    for i in 0..n {
        let mut lead = json!({
            "LastName": format!("Lead{i}"),
            "Company": "Initech",
            "Email": format!("lead{i}@initech.example.com"),
        });
        if i != bare {
            lead["Phone"] = json!(format!("+1 555 010 {i:04}"));
        }
        world.salesforce.create("Lead", lead).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_09_validation_refusal_quarantines_one_record_with_hubspots_words_while_the_rest_sync()
 {
    let world = World::new().await;
    world
        .hubspot
        .add_validation_rule(ValidationRule::required(ObjectType::Contacts, "phone"));
    leads(&world, 6, 3);

    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    engine.cycle().await.unwrap();

    let hubspot = world.hubspot_by_email();
    for i in [0, 1, 2, 4, 5] {
        assert!(
            hubspot.contains_key(&format!("lead{i}@initech.example.com")),
            "lead {i} reached HubSpot"
        );
    }
    assert!(!hubspot.contains_key("lead3@initech.example.com"));
    let store = Store::open(world.state_path()).unwrap();
    let quarantined = store.reader().quarantined(false).unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let entry = &quarantined[0];
    assert_eq!(entry.system, "hubspot");
    assert_eq!(entry.email.as_deref(), Some("lead3@initech.example.com"));
    assert_eq!(entry.error_code, "MISSING_REQUIRED_PROPERTY");
    assert_eq!(entry.message, "A value for phone must be provided");
    assert_eq!(entry.field.as_deref(), Some("phone"));
    // For good: the next cycle neither retries nor quarantines it again.
    let next = engine.cycle().await.unwrap();
    assert_eq!((next.retrying, next.quarantined), (0, 0), "{next:?}");
    assert_eq!(store.reader().quarantined(true).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_on_the_jwt_bearer_grant_keeps_the_key_and_assertions_out_of_logs_and_state() {
    let key = AppKey::generate().unwrap();
    let world = jwt_world(&key, DEFAULT_USER).await;
    truce_sandbox::world::populate(&world.hubspot, &world.salesforce, 20, 10).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["backfill", "--log-level", "debug", "--config"])
        .arg(&world.config_path)
        .env_remove("RUST_LOG")
        .env_remove("TRUCE_CONFIG")
        .output()
        .expect("truce runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    // It did log in by JWT and sync: the Salesforce-only people are in HubSpot now.
    assert_eq!(world.hubspot.count(), 40, "{stdout}{stderr}");
    assert_no_key_nor_assertion(&format!("{stdout}{stderr}"), &key);

    let state = std::fs::read(world.state_path()).unwrap();
    assert_no_key_nor_assertion(&String::from_utf8_lossy(&state), &key);
    for wal in ["truce.db-wal", "truce.db-journal"] {
        if let Ok(bytes) = std::fs::read(world.dir.path().join(wal)) {
            assert_no_key_nor_assertion(&String::from_utf8_lossy(&bytes), &key);
        }
    }
}
