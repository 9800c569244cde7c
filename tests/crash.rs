//! Crash safety: the real `truce` binary killed with SIGKILL at random moments during a
//! backfill and while edits continue; a final run converges with no duplicate and no lost
//! edit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{World, disagreements};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

fn spawn(world: &World, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(args)
        .arg("--config")
        .arg(&world.config_path)
        .args(["--log-level", "error"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("truce starts")
}

/// Every Salesforce record has exactly one HubSpot contact agreeing with it, and no email
/// is held twice on either side.
fn problems(world: &World) -> Vec<String> {
    let settings = world.settings();
    let hubspot = world.hubspot_by_email();
    let salesforce = world.salesforce_by_email();
    let mut out = Vec::new();
    for (email, contacts) in &hubspot {
        if contacts.len() > 1 {
            out.push(format!("{email}: {} HubSpot contacts", contacts.len()));
        }
    }
    for (email, records) in &salesforce {
        if records.len() > 1 {
            out.push(format!("{email}: {} Salesforce records", records.len()));
        }
        match hubspot.get(email) {
            None => out.push(format!("{email}: missing in HubSpot")),
            Some(contacts) => {
                let (object, record) = &records[0];
                for d in disagreements(&settings, &contacts[0], object, record) {
                    out.push(format!("{email}: {d}"));
                }
            }
        }
    }
    out
}

fn populate(world: &World, shared: usize, only: usize) {
    for i in 0..shared + only {
        let email = if i < shared {
            format!("p{i}@example.com")
        } else {
            format!("mql{i}@example.com")
        };
        let stage = if i % 2 == 0 {
            "marketingqualifiedlead"
        } else {
            "lead"
        };
        let first = format!("H{i}");
        world
            .hubspot
            .create_contact(&[
                ("email", &email),
                ("firstname", &first),
                ("lifecyclestage", stage),
            ])
            .unwrap();
    }
    for i in 0..shared + only {
        let email = if i < shared {
            format!("p{i}@example.com")
        } else {
            format!("lead{i}@example.com")
        };
        world
            .salesforce
            .create(
                "Lead",
                json!({"LastName": format!("L{i}"), "Company": "Co", "Email": email,
                       "Status": "Open - Not Contacted"}),
            )
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_binary_at_random_moments_loses_no_edit_and_duplicates_nothing() {
    let world = World::new().await;
    populate(&world, 300, 150);
    let mut rng = StdRng::seed_from_u64(20);
    let mut kills = 0;
    // Kills during the backfill.
    for _ in 0..10 {
        let mut child = spawn(&world, &["backfill"]);
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..900))).await;
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    // Kills of the daemon while both teams keep editing.
    let mut expected_hubspot: BTreeMap<String, String> = BTreeMap::new();
    let mut expected_salesforce: BTreeMap<String, String> = BTreeMap::new();
    for round in 0..12 {
        let mut child = spawn(&world, &["run"]);
        for step in 0..4 {
            tokio::time::sleep(Duration::from_millis(rng.random_range(50..300))).await;
            let i = rng.random_range(0..300usize);
            let email = format!("p{i}@example.com");
            let value = format!("R{round}S{step}");
            if (i + step) % 2 == 0 {
                let id = world.hubspot.find_by_email(&email).unwrap().id;
                world.hubspot.edit(&id, &[("firstname", &value)]).unwrap();
                expected_hubspot.insert(email.clone(), value);
                expected_salesforce.remove(&email);
            } else {
                let (_, id) = world.salesforce.find_by_email(&email).remove(0);
                world
                    .salesforce
                    .edit("Lead", &id, json!({ "FirstName": value }))
                    .unwrap();
                expected_salesforce.insert(email.clone(), value);
                expected_hubspot.remove(&email);
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    assert!(kills >= 20);
    // The final run, under a fake systemd: converge, then stop it gracefully.
    let notify_path = world.dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify.set_nonblocking(true).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["run", "--log-level", "error", "--config"])
        .arg(&world.config_path)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        last = problems(&world);
        let edits_landed =
            expected_hubspot
                .iter()
                .chain(&expected_salesforce)
                .all(|(email, value)| {
                    world
                        .hubspot
                        .find_by_email(email)
                        .unwrap()
                        .properties
                        .get("firstname")
                        == Some(value)
                });
        if last.is_empty() && edits_landed {
            break;
        }
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stopped_at = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
    assert!(stopped_at.elapsed() < Duration::from_secs(10));
    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = notify.recv(&mut buf) {
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(messages[0].starts_with("READY=1"), "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("WATCHDOG=1") && m.contains("STATUS=pulled"))
    );
    assert!(
        messages.last().is_some_and(|m| m.contains("STOPPING=1")),
        "{messages:?}"
    );
    assert!(
        last.is_empty(),
        "{} problems:\n{}",
        last.len(),
        last[..last.len().min(20)].join("\n")
    );
    for (email, value) in expected_hubspot.iter().chain(&expected_salesforce) {
        let contact = world.hubspot.find_by_email(email).unwrap();
        assert_eq!(
            contact.properties.get("firstname"),
            Some(value),
            "{email} lost its edit"
        );
        let (_, id) = world.salesforce.find_by_email(email).remove(0);
        assert_eq!(
            world.salesforce.get("Lead", &id).unwrap()["FirstName"].as_str(),
            Some(value.as_str()),
            "{email} lost its edit in Salesforce"
        );
    }
}
