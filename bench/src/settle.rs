//! The `settle` figure of the backfill scenario and the `--latency` option (issue 17).
//!
//! *Settle*: from the end of the backfill until the daemon's polls are idle, the seconds and
//! the API calls it takes. The child ([`catch_up`]) runs the real engine as the daemon does,
//! one cycle per poll interval (missed ticks skipped), and stops after two idle cycles in a
//! row: nothing pulled, nothing written, and no more HubSpot calls than an idle poll makes
//! (one search, plus the archive sweep when it is due). It captures the HubSpot connector's
//! `HubSpot catch-up road` events (which road each large catch-up took, and why) and
//! reports them with the figures.
//!
//! `--latency MIN-MAX`: both sandboxes wait MIN plus a seeded random share of MAX − MIN
//! milliseconds before they see each request, for the backfill and the settle cycles; the
//! HubSpot sandbox's count of its own rate-limit refusals is reported beside them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tokio::time::MissedTickBehavior;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use truce::connect;
use truce::engine::settings::Settings;
use truce::engine::{Engine, system_clock};
use truce_sandbox::Faults;
use truce_state::Store;

use super::child;
use super::world::{World, load};
use super::{Report, Table, thousands};

/// Reads `--latency MIN-MAX` (milliseconds, `50-300`).
pub fn parse_latency(text: &str) -> anyhow::Result<(u64, u64)> {
    let (min, max) = text
        .split_once('-')
        .with_context(|| format!("--latency: {text:?} is not MIN-MAX (milliseconds)"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .with_context(|| format!("--latency: {s:?} is not a number of milliseconds"))
    };
    let (min, max) = (number(min)?, number(max)?);
    anyhow::ensure!(min <= max, "--latency: {min} is more than {max}");
    Ok((min, max))
}

/// The faults that make a sandbox answer with `min`–`max` ms of latency.
pub fn jitter((min, max): (u64, u64)) -> Faults {
    Faults {
        latency: Duration::from_millis(min),
        latency_jitter: Duration::from_millis(max - min),
        ..Faults::default()
    }
}

/// What the settle cycles cost, measured by the parent.
#[derive(Debug, Clone)]
pub struct Settle {
    /// What the child reported (cycles, roads, wall time).
    pub child: Value,
    /// HubSpot requests during the cycles.
    pub hubspot_calls: u64,
    /// Salesforce API calls (as the org counts them) during the cycles.
    pub salesforce_calls: u64,
    /// HubSpot's own rate-limit refusals during the cycles, by policy: rolling 10 s,
    /// search per second, daily.
    pub hubspot_limit_429: [u64; 3],
}

fn limit_hits(world: &World) -> [u64; 3] {
    let hits = world.hubspot.limit_hits();
    [hits.ten_secondly, hits.secondly, hits.daily]
}

/// Runs the settle cycles in a child, right after the backfill, against `world`.
pub async fn measure(world: &World, config: &str) -> anyhow::Result<Settle> {
    let (hubspot, salesforce, limited) = (
        world.hubspot.counters().total(),
        world.salesforce.api_usage().0,
        limit_hits(world),
    );
    let child = child::run(&["catch-up", "--config", config]).await?;
    Ok(Settle {
        child,
        hubspot_calls: world.hubspot.counters().total() - hubspot,
        salesforce_calls: world.salesforce.api_usage().0 - salesforce,
        hubspot_limit_429: {
            let now = limit_hits(world);
            [0, 1, 2].map(|i| now[i] - limited[i])
        },
    })
}

/// Adds the settle table (and the roads taken) to the backfill scenario's report.
pub fn report(report: &mut Report, settle: &Settle, latency: Option<(u64, u64)>) {
    let c = &settle.child;
    let wall = c["wall_s"].as_f64().unwrap_or(0.0);
    let cycles = c["cycles"].as_array().cloned().unwrap_or_default();
    let latency = latency.map_or("none".to_string(), |(a, b)| format!("{a}–{b} ms"));
    let mut table = Table::new(
        &format!(
            "Settle: from the end of the backfill until two idle polls (poll interval as configured; added latency: {latency})"
        ),
        &["figure", "value", "target"],
    );
    table.row(vec![
        "seconds".into(),
        format!("{wall:.1} s"),
        "≤ 120 s".into(),
    ]);
    table.row(vec![
        "HubSpot calls".into(),
        thousands(settle.hubspot_calls),
        "≤ 1,600".into(),
    ]);
    table.row(vec![
        "Salesforce calls".into(),
        thousands(settle.salesforce_calls),
        String::new(),
    ]);
    table.row(vec![
        "cycles (the last two idle)".into(),
        format!("{}, settled: {}", cycles.len(), c["settled"]),
        String::new(),
    ]);
    let [ten, secondly, daily] = settle.hubspot_limit_429;
    table.row(vec![
        "HubSpot 429s from its own limits (10 s / search / daily)".into(),
        format!("{ten} / {secondly} / {daily}"),
        "0".into(),
    ]);
    for (i, cycle) in cycles.iter().enumerate() {
        table.row(vec![
            format!("cycle {}", i + 1),
            format!(
                "began {:.1} s, took {:.1} s, {} HubSpot calls, pulled {} + {}, wrote {} + {}",
                cycle["began_s"].as_f64().unwrap_or(0.0),
                cycle["took_s"].as_f64().unwrap_or(0.0),
                cycle["hubspot_calls"],
                cycle["pulled_hubspot"],
                cycle["pulled_salesforce"],
                cycle["written_hubspot"],
                cycle["written_salesforce"]
            ),
            String::new(),
        ]);
    }
    report.tables.push(table);
    for road in c["roads"].as_array().into_iter().flatten() {
        report.notes.push(format!(
            "Catch-up road of {}: {} ({})",
            road["stream"].as_str().unwrap_or("?"),
            road["road"].as_str().unwrap_or("?"),
            road["reason"].as_str().unwrap_or("?")
        ));
    }
    report.figure(
        "settle",
        json!({
            "seconds": wall,
            "hubspot_calls": settle.hubspot_calls,
            "salesforce_calls": settle.salesforce_calls,
            "hubspot_limit_429": {
                "ten_secondly": ten,
                "secondly": secondly,
                "daily": daily,
            },
            "cycles": cycles.len(),
            "settled": c["settled"],
            "roads": c["roads"],
            "latency": latency,
        }),
    );
}

/// The `HubSpot catch-up road` events, as logged.
#[derive(Clone, Default)]
struct Roads(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Roads {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if !event
            .metadata()
            .target()
            .starts_with("truce_connectors::hubspot")
        {
            return;
        }
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        if fields.0.get("message").map(String::as_str) == Some("HubSpot catch-up road")
            && let Ok(mut roads) = self.0.lock()
        {
            roads.push(fields.0);
        }
    }
}

/// Whether a cycle cost what an idle poll costs.
fn idle(cycle: &Value, hubspot_calls: u64) -> bool {
    let zero = |k: &str| cycle[k].as_u64() == Some(0);
    zero("pulled_hubspot")
        && zero("pulled_salesforce")
        && zero("written_hubspot")
        && zero("written_salesforce")
        && zero("retrying")
        && hubspot_calls <= 2
}

/// `child catch-up`: the daemon's cycles, one per poll interval, until two in a row are
/// idle (or 60 cycles); each cycle's summary, timing and HubSpot calls, and the roads the
/// HubSpot connector took.
pub async fn catch_up(config: &Path) -> anyhow::Result<Value> {
    let loaded = load(config)?;
    let settings = Settings::from_config(&loaded.config);
    let poll = loaded.config.sync.poll_interval;
    let (hubspot, salesforce) = connect::connectors(&loaded, &settings)?;
    let path = &loaded.config.state.path;
    let store = Store::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut engine = Engine::new(store, hubspot.clone(), salesforce, settings, system_clock());
    let roads = Roads::default();
    // The engine's futures run on this thread (nothing of a cycle is spawned), so a
    // thread-local subscriber sees every event; RUST_LOG still logs to stderr.
    let logs = std::env::var_os("RUST_LOG").map(|_| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::from_default_env())
    });
    let subscriber = tracing_subscriber::registry()
        .with(roads.clone())
        .with(logs);
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let started = Instant::now();
    let (mut cycles, mut quiet, mut failed) = (Vec::new(), 0, 0);
    while quiet < 2 && cycles.len() < 60 {
        tick.tick().await;
        let at = Instant::now();
        let calls = hubspot.calls();
        let mut line = match engine.cycle().await {
            Ok(summary) => child::cycle_json(&summary),
            Err(err) => {
                failed += 1;
                json!({"error": err.to_string()})
            }
        };
        let spent = hubspot.calls() - calls;
        quiet = if idle(&line, spent) { quiet + 1 } else { 0 };
        line["hubspot_calls"] = json!(spent);
        line["began_s"] = json!(at.duration_since(started).as_secs_f64());
        line["took_s"] = json!(at.elapsed().as_secs_f64());
        cycles.push(line);
    }
    let roads: Vec<Value> = roads
        .0
        .lock()
        .map(|r| r.iter().map(|e| json!(e)).collect())
        .unwrap_or_default();
    Ok(json!({
        "wall_s": started.elapsed().as_secs_f64(),
        "cycles": cycles,
        "failed_cycles": failed,
        "settled": quiet >= 2,
        "roads": roads,
        "peak_rss_kib": super::peak_rss_kib(),
    }))
}
