//! The hand-off SLA end to end: the real engine with a clock the test moves, a real state
//! file, both sandboxes over HTTP. Qualified contacts become Leads (hand-offs), the
//! scripted sales team works, closes or ignores them, and the watch reports each finding
//! once: in the log, in the metrics hook, in the store and in HubSpot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use common::{LogCapture, World, calls_to};
use serde_json::json;
use truce::engine::Engine;
use truce::engine::observe::Observer;
use truce_sandbox::hubspot::SandboxOptions as HubSpotOptions;
use truce_sandbox::salesforce::SandboxOptions as SalesforceOptions;
use truce_state::{FindingKind, HandoffHow, SlaOutcome, Store};

const HOUR: i64 = 3_600_000;

const SLA: &str = "[sla]\nfirst_touch = \"24h\"\nuntouched = [\"Open - Not Contacted\"]\n\
                   hubspot_property = \"truce_sla\"\n";

async fn world() -> World {
    World::with_sections(
        HubSpotOptions::default(),
        SalesforceOptions::default(),
        "",
        SLA,
    )
    .await
}

/// A clock the test moves: it starts at the wall clock, as the sandboxes' stamps do.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new() -> TestClock {
        TestClock(Arc::new(AtomicI64::new(
            chrono::Utc::now().timestamp_millis(),
        )))
    }
    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).unwrap()
    }
    fn clock(&self) -> truce::engine::Clock {
        let at = self.0.clone();
        Arc::new(move || at.load(Ordering::SeqCst))
    }
}

/// Counts what the engine tells the metrics about SLA findings.
#[derive(Default)]
struct Findings(Mutex<Vec<&'static str>>);

impl Observer for Findings {
    fn sla_finding(&self, kind: &'static str) {
        self.0.lock().unwrap().push(kind);
    }
}

fn engine(world: &World, clock: &TestClock, findings: &Arc<Findings>) -> Engine {
    world
        .engine_with_clock(clock.clock())
        .with_observer(findings.clone())
}

fn qualify(world: &World, email: &str) -> String {
    world
        .hubspot
        .create_contact(&[
            ("email", email),
            ("firstname", "Q"),
            ("lifecyclestage", "marketingqualifiedlead"),
        ])
        .unwrap()
}

fn lead_of(world: &World, email: &str) -> String {
    world
        .salesforce
        .find_by_email(email)
        .into_iter()
        .find(|(object, _)| object == "Lead")
        .unwrap_or_else(|| panic!("no Lead for {email}"))
        .1
}

fn set_status(world: &World, email: &str, status: &str) {
    let lead = lead_of(world, email);
    world
        .salesforce
        .edit("Lead", &lead, json!({ "Status": status }))
        .unwrap();
}

fn outcome_in_hubspot(world: &World, email: &str) -> Option<String> {
    world
        .hubspot
        .find_by_email(email)
        .unwrap()
        .properties
        .get("truce_sla")
        .cloned()
}

#[tokio::test(flavor = "current_thread")]
async fn worked_in_time_is_met_untouched_breaches_once_and_closed_untouched_is_discarded() {
    let world = world().await;
    let logs = LogCapture::default();
    let _guard = logs.install();
    let clock = TestClock::new();
    let findings = Arc::new(Findings::default());
    let mut engine = engine(&world, &clock, &findings);
    for email in ["met@example.com", "late@example.com", "gone@example.com"] {
        qualify(&world, email);
    }
    // Leads created, then pulled back.
    engine.cycle().await.unwrap();
    engine.cycle().await.unwrap();
    let store = engine.store().reader();
    let handoffs = store.handoffs().unwrap();
    assert_eq!(handoffs.len(), 3);
    assert!(handoffs.iter().all(|h| h.how == HandoffHow::Created
        && h.lead_id.is_some()
        && h.owner.as_deref() == Some("0055g0000000001AAA")));
    // Sales works one lead at once and closes another without working it.
    set_status(&world, "met@example.com", "Working - Contacted");
    set_status(&world, "gone@example.com", "Closed - Not Converted");
    engine.cycle().await.unwrap();
    // The discard is a finding the moment it is seen; the breach is not due yet.
    let early: Vec<(String, String)> = logs
        .on("truce::sla", "WARN")
        .iter()
        .map(|e| (e["email"].clone(), e["kind"].clone()))
        .collect();
    assert_eq!(
        early,
        [("gone@example.com".into(), "discarded_untouched".into())]
    );
    clock.advance(25 * HOUR);
    engine.cycle().await.unwrap();
    // The findings' writes to HubSpot go out with the next cycle.
    engine.cycle().await.unwrap();

    let warns = logs.on("truce::sla", "WARN");
    let mut seen: Vec<(String, String)> = warns
        .iter()
        .map(|e| (e["email"].clone(), e["kind"].clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("gone@example.com".into(), "discarded_untouched".into()),
            ("late@example.com".into(), "breached".into())
        ]
    );
    let breach = warns.iter().find(|e| e["kind"] == "breached").unwrap();
    assert_eq!(breach["record_id"], lead_of(&world, "late@example.com"));
    assert_eq!(breach["owner"], "0055g0000000001AAA");
    assert_eq!(breach["status"], "Open - Not Contacted");
    assert_eq!(breach["age"], "1d1h");
    assert!(breach["handed_off_at"].ends_with('Z'), "{breach:?}");
    let discard = warns
        .iter()
        .find(|e| e["kind"] == "discarded_untouched")
        .unwrap();
    assert_eq!(discard["status"], "Closed - Not Converted");
    let mut counted = findings.0.lock().unwrap().clone();
    counted.sort();
    assert_eq!(counted, ["breached", "discarded_untouched"]);

    // Marketing sees each outcome in HubSpot.
    assert_eq!(
        outcome_in_hubspot(&world, "met@example.com").as_deref(),
        Some("met")
    );
    assert_eq!(
        outcome_in_hubspot(&world, "late@example.com").as_deref(),
        Some("breached")
    );
    assert_eq!(
        outcome_in_hubspot(&world, "gone@example.com").as_deref(),
        Some("discarded_untouched")
    );
    let met = engine
        .store()
        .reader()
        .handoff(&world.hubspot.find_by_email("met@example.com").unwrap().id);
    assert_eq!(met.unwrap().unwrap().outcome, Some(SlaOutcome::Met));

    // No ping-pong: the written property is not read back, nothing flows to Salesforce.
    world.hubspot.counters().reset();
    world.salesforce.counters().reset();
    for _ in 0..3 {
        let idle = engine.cycle().await.unwrap();
        assert_eq!(
            (idle.written_hubspot, idle.written_salesforce),
            (0, 0),
            "{idle:?}"
        );
    }
    let hubspot_calls = world.hubspot.counters().snapshot();
    assert!(
        hubspot_calls.keys().all(|e| !e.contains("/batch/")),
        "only pulls expected, got {hubspot_calls:?}"
    );
    assert_eq!(
        calls_to(&world.salesforce.counters(), "composite"),
        3,
        "one composite pull per idle cycle: {:?}",
        world.salesforce.counters().snapshot()
    );

    // The late lead is worked now (Salesforce's clock agrees with truce's): still one
    // breach, nothing new to report.
    clock.advance(HOUR);
    world.salesforce.pin_clock(Some(clock.now()));
    set_status(&world, "late@example.com", "Working - Contacted");
    world.salesforce.pin_clock(None);
    engine.cycle().await.unwrap();
    engine.cycle().await.unwrap();
    assert_eq!(logs.on("truce::sla", "WARN").len(), 2);
    assert_eq!(
        outcome_in_hubspot(&world, "late@example.com").as_deref(),
        Some("breached")
    );

    // A restart judges everything again from the store and reports nothing twice.
    let path = engine.store().path().to_path_buf();
    drop(engine);
    clock.advance(HOUR);
    let mut again = engine_again(&world, &clock, &findings, &path);
    again.cycle().await.unwrap();
    again.cycle().await.unwrap();
    assert_eq!(logs.on("truce::sla", "WARN").len(), 2);
    assert_eq!(findings.0.lock().unwrap().len(), 2);
    let recorded = again.store().reader().sla_findings().unwrap();
    let kinds: Vec<FindingKind> = recorded.iter().map(|f| f.kind).collect();
    assert_eq!(kinds.len(), 2, "{recorded:?}");
    let summary = again.store().reader().sla_summary().unwrap();
    assert_eq!(
        (
            summary.handoffs,
            summary.open,
            summary.met,
            summary.breached
        ),
        (3, 0, 1, 1)
    );
}

fn engine_again(
    world: &World,
    clock: &TestClock,
    findings: &Arc<Findings>,
    path: &std::path::Path,
) -> Engine {
    assert!(Store::open(path).is_ok());
    engine(world, clock, findings)
}

#[tokio::test(flavor = "current_thread")]
async fn a_lead_sales_made_is_never_scored_and_a_contact_qualifying_twice_is_handed_off_once() {
    let world = world().await;
    let logs = LogCapture::default();
    let _guard = logs.install();
    let clock = TestClock::new();
    let findings = Arc::new(Findings::default());
    // Sales' own Lead, which truce brings to HubSpot (closed loop).
    world
        .salesforce
        .create(
            "Lead",
            json!({"LastName": "Own", "Company": "Co", "Email": "sales@example.com",
                   "Status": "Open - Not Contacted"}),
        )
        .unwrap();
    // A person known to both, not qualified yet, whose Lead nobody has worked.
    world
        .salesforce
        .create(
            "Lead",
            json!({"LastName": "Both", "Company": "Co", "Email": "both@example.com",
                   "Status": "Open - Not Contacted"}),
        )
        .unwrap();
    let both = world
        .hubspot
        .create_contact(&[("email", "both@example.com"), ("lifecyclestage", "lead")])
        .unwrap();
    // A person sales already works, whom marketing qualifies later.
    world
        .salesforce
        .create(
            "Lead",
            json!({"LastName": "Busy", "Company": "Co", "Email": "busy@example.com",
                   "Status": "Working - Contacted"}),
        )
        .unwrap();
    let busy = world
        .hubspot
        .create_contact(&[("email", "busy@example.com"), ("lifecyclestage", "lead")])
        .unwrap();
    let twice = qualify(&world, "twice@example.com");
    let mut engine = engine(&world, &clock, &findings);
    engine.cycle().await.unwrap();
    engine.cycle().await.unwrap();
    assert!(world.hubspot.find_by_email("sales@example.com").is_some());
    // Marketing qualifies both linked people, and qualifies `twice` a second time.
    for id in [&both, &busy] {
        world
            .hubspot
            .edit(id, &[("lifecyclestage", "marketingqualifiedlead")])
            .unwrap();
    }
    world
        .hubspot
        .edit(&twice, &[("lifecyclestage", "salesqualifiedlead")])
        .unwrap();
    engine.cycle().await.unwrap();
    engine.cycle().await.unwrap();
    clock.advance(30 * HOUR);
    engine.cycle().await.unwrap();
    engine.cycle().await.unwrap();

    let reader = engine.store().reader();
    let handoffs = reader.handoffs().unwrap();
    let mut handed: Vec<(String, HandoffHow)> =
        handoffs.iter().map(|h| (h.email.clone(), h.how)).collect();
    handed.sort();
    assert_eq!(
        handed,
        [
            ("both@example.com".into(), HandoffHow::Linked),
            ("twice@example.com".into(), HandoffHow::Created)
        ],
        "sales' own Lead and the Lead sales already works are no hand-offs"
    );
    let twice_handoff = reader.handoff(&twice).unwrap().unwrap();
    assert_eq!(twice_handoff.value, "marketingqualifiedlead");
    assert_eq!(
        world.salesforce.find_by_email("twice@example.com").len(),
        1,
        "one Lead for a contact qualifying twice"
    );
    let warned: Vec<String> = logs
        .on("truce::sla", "WARN")
        .iter()
        .map(|e| e["email"].clone())
        .collect();
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(!warned.contains(&"sales@example.com".to_string()));
    assert!(!warned.contains(&"busy@example.com".to_string()));
    assert_eq!(outcome_in_hubspot(&world, "sales@example.com"), None);
    let cohort = reader.qualified_between(0, i64::MAX).unwrap();
    assert_eq!(
        cohort.len(),
        3,
        "both, busy and twice qualified: {cohort:?}"
    );
}

async fn check(config: &std::path::Path) -> (i32, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["check", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("TRUCE_CONFIG")
        .output()
        .await
        .expect("truce runs");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_verifies_the_sla_against_what_both_systems_describe() {
    let world = world().await;
    let (code, out) = check(&world.config_path).await;
    assert_eq!(code, 0, "{out}");
    for expected in [
        "SLA",
        "sla.untouched: \"Open - Not Contacted\" is a Lead Status value",
        "sla.closed: \"Closed - Not Converted\" is a Lead Status value",
        "sla.owner_field: findings name the Lead's owner from `OwnerId`",
        "sla.hubspot_property: the outcome is written to `truce_sla` (an enumeration",
        "sla.source_property: the funnel groups contacts by `hs_analytics_source`",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    let config = std::fs::read_to_string(&world.config_path).unwrap();
    let broken = config
        .replace(
            "\"Open - Not Contacted\"]\nhubspot",
            "\"Open - Not Contated\"]\nhubspot",
        )
        .replace(
            "hubspot_property = \"truce_sla\"",
            "hubspot_property = \"sla_outcome\"",
        );
    assert_ne!(broken, config);
    std::fs::write(&world.config_path, broken).unwrap();
    let (code, out) = check(&world.config_path).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FAIL  sla.untouched: \"Open - Not Contated\" not values of the Lead Status picklist"
        ),
        "{out}"
    );
    assert!(
        out.contains("FAIL  sla.hubspot_property: HubSpot has no contact property `sla_outcome`"),
        "{out}"
    );
}
