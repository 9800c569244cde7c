//! The SLA watch under SIGKILL: the real `truce` binary, killed at random moments while
//! hand-offs breach and sales closes Leads untouched, then run to the end. Every finding
//! is in the store exactly once, logged exactly once across all the runs, and written to
//! HubSpot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::World;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use truce_sandbox::hubspot::SandboxOptions as HubSpotOptions;
use truce_sandbox::salesforce::SandboxOptions as SalesforceOptions;
use truce_state::{ReadView, SlaOutcome};

const SLA: &str = "[sla]\nfirst_touch = \"2s\"\nuntouched = [\"Open - Not Contacted\"]\n\
                   hubspot_property = \"truce_sla\"\n";

const PEOPLE: usize = 30;

/// `truce run`, logging WARN and above as JSON lines into `log`.
fn spawn(world: &World, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_truce"))
        .args([
            "run",
            "--log-format",
            "json",
            "--log-level",
            "warn",
            "--config",
        ])
        .arg(&world.config_path)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("truce starts")
}

fn email(i: usize) -> String {
    format!("mql{i}@example.com")
}

fn lead(world: &World, i: usize) -> Option<String> {
    world
        .salesforce
        .find_by_email(&email(i))
        .into_iter()
        .find(|(object, _)| object == "Lead")
        .map(|(_, id)| id)
}

/// `(Lead, kind)` of every `truce::sla` event in the logs, with how often each appears.
fn logged(logs: &[std::path::PathBuf]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            // A kill can cut the last line; a cut line is not an event.
            let Ok(event) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if event["target"] == "truce::sla" {
                let key = (
                    event["record_id"].as_str().unwrap().to_string(),
                    event["kind"].as_str().unwrap().to_string(),
                );
                *out.entry(key).or_insert(0) += 1;
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_neither_loses_nor_repeats_a_finding() {
    let world = World::with_sections(
        HubSpotOptions::default(),
        SalesforceOptions::default(),
        "",
        SLA,
    )
    .await;
    for i in 0..PEOPLE {
        world
            .hubspot
            .create_contact(&[
                ("email", &email(i)),
                ("lifecyclestage", "marketingqualifiedlead"),
            ])
            .unwrap();
    }
    let mut rng = StdRng::seed_from_u64(14);
    let mut logs = Vec::new();
    let mut discarded = Vec::new();
    for round in 0..14 {
        let log = world.dir.path().join(format!("run{round}.log"));
        let mut child = spawn(&world, &log);
        logs.push(log);
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1600))).await;
        // Sales closes a Lead untouched now and then, while truce runs.
        if round % 3 == 1 {
            let i = discarded.len();
            if let Some(id) = lead(&world, i) {
                world
                    .salesforce
                    .edit("Lead", &id, json!({"Status": "Closed - Not Converted"}))
                    .unwrap();
                discarded.push(id);
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(discarded.len() >= 3, "{discarded:?}");

    // The last run, until every hand-off is judged and told to HubSpot.
    let log = world.dir.path().join("final.log");
    let mut child = spawn(&world, &log);
    logs.push(log);
    let state = world.state_path();
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let done = ReadView::open(&state).ok().and_then(|view| {
            let reader = view.reader();
            let handoffs = reader.handoffs().ok()?;
            let told = handoffs.len() == PEOPLE
                && handoffs.iter().all(|h| {
                    h.outcome.is_some_and(|outcome| {
                        world
                            .hubspot
                            .find_by_email(&h.email)
                            .and_then(|c| c.properties.get("truce_sla").cloned())
                            .as_deref()
                            == Some(outcome.as_str())
                    })
                });
            (told && reader.outbox_depth().ok()? == 0).then_some(handoffs)
        });
        if let Some(handoffs) = done {
            break handoffs;
        }
        assert!(Instant::now() < deadline, "the last run did not settle");
    };
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));

    let view = ReadView::open(&state).unwrap();
    let recorded: BTreeMap<(String, String), usize> = view
        .reader()
        .sla_findings()
        .unwrap()
        .into_iter()
        .map(|f| ((f.lead_id, f.kind.as_str().to_string()), 1))
        .collect();
    let logged_by_run: Vec<usize> = logs
        .iter()
        .map(|log| logged(std::slice::from_ref(log)).len())
        .collect();
    assert!(
        logged_by_run.iter().filter(|n| **n > 0).count() >= 2,
        "findings were reported by several of the killed runs: {logged_by_run:?}"
    );
    let logged = logged(&logs);
    assert_eq!(logged, recorded, "each finding logged once, as recorded");
    // Nobody worked a Lead: each one sales closed was discarded (having breached first or
    // not, as the random kills let time pass), and every other one breached.
    let breached = recorded.keys().filter(|(_, k)| k == "breached").count();
    let discarded_first = discarded
        .iter()
        .filter(|id| !recorded.contains_key(&((*id).clone(), "breached".to_string())))
        .count();
    assert_eq!(breached + discarded_first, PEOPLE);
    for id in &discarded {
        assert!(
            recorded.contains_key(&(id.clone(), "discarded_untouched".to_string())),
            "{id} discarded"
        );
    }
    let discards = settled
        .iter()
        .filter(|h| h.outcome == Some(SlaOutcome::DiscardedUntouched))
        .count();
    assert_eq!(discards, discarded.len());
    eprintln!("findings logged per run: {logged_by_run:?}");
    // One Lead per person, for all the kills.
    for i in 0..PEOPLE {
        assert_eq!(
            world.salesforce.find_by_email(&email(i)).len(),
            1,
            "{}",
            email(i)
        );
    }
}
