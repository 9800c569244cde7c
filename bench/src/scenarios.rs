//! The five scenarios of issue 7, each returning a [`Report`] (tables, notes, figures).
//!
//! The parent side of every scenario: serve and seed the sandboxes ([`World`]), run the
//! measured work in a child ([`child`]), then read what the APIs saw (request counters,
//! limit hits, Salesforce API usage) and put it next to the bound that applies:
//! - API calls against the fewest the batch sizes allow (HubSpot: 100 records per list
//!   page and per batch call; Salesforce: 2,000 per query page, 1,000 per composite write);
//! - wall time against the quota-bound time (HubSpot calls at 19 per second);
//! - engine throughput against the CPU and SQLite (no network).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use truce::engine::settings::Settings;
use truce_sandbox::Faults;
use truce_sandbox::salesforce::SalesforceFaults;
use truce_state::{NewLink, SnapshotUpdate, Store};

use super::child::{self, Daemon};
use super::world::{Limits, World, shared_email};
use super::{Report, Table, mib, min_calls, percentile, ratio, salesforce_read_back, thousands};

const HUBSPOT_PAGE: u64 = 100;
const HUBSPOT_BATCH: u64 = 100;
const SALESFORCE_PAGE: u64 = 2000;
const SALESFORCE_COLLECTION: u64 = 200;
const SALESFORCE_COLLECTIONS_PER_CALL: u64 = 5;

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(0.0)
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.1} s")
    }
}

/// What the two APIs saw during one piece of work.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// HubSpot requests, per endpoint.
    pub hubspot_endpoints: BTreeMap<String, u64>,
    /// HubSpot requests in all (refused ones included).
    pub hubspot_calls: u64,
    /// HubSpot 429 answers (the sandbox's own limits plus injected ones).
    pub hubspot_429: u64,
    /// HubSpot 429s from its own limits only.
    pub hubspot_limit_429: u64,
    /// Salesforce API calls as the org counts them (a composite is one).
    pub salesforce_calls: u64,
    /// Salesforce HTTP requests, per endpoint (token requests included).
    pub salesforce_endpoints: BTreeMap<String, u64>,
    /// Salesforce 429 answers.
    pub salesforce_429: u64,
    /// 5xx answers from either side.
    pub server_errors: u64,
}

impl Seen {
    /// What the APIs have seen so far.
    pub fn read(world: &World) -> Seen {
        let hs = world.hubspot.counters();
        let sf = world.salesforce.counters();
        let hits = world.hubspot.limit_hits();
        let server_errors = (500..=504)
            .map(|s| hs.status(s) + sf.status(s))
            .sum::<u64>();
        Seen {
            hubspot_endpoints: hs.snapshot(),
            hubspot_calls: hs.total(),
            hubspot_429: hs.status(429),
            hubspot_limit_429: hits.ten_secondly + hits.secondly + hits.daily,
            salesforce_calls: world.salesforce.api_usage().0,
            salesforce_endpoints: sf.snapshot(),
            salesforce_429: sf.status(429),
            server_errors,
        }
    }

    /// What was seen since `before`.
    pub fn since(&self, before: &Seen) -> Seen {
        let diff = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            a.iter()
                .map(|(k, v)| (k.clone(), v - b.get(k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        Seen {
            hubspot_endpoints: diff(&self.hubspot_endpoints, &before.hubspot_endpoints),
            hubspot_calls: self.hubspot_calls - before.hubspot_calls,
            hubspot_429: self.hubspot_429 - before.hubspot_429,
            hubspot_limit_429: self.hubspot_limit_429 - before.hubspot_limit_429,
            salesforce_calls: self.salesforce_calls - before.salesforce_calls,
            salesforce_endpoints: diff(&self.salesforce_endpoints, &before.salesforce_endpoints),
            salesforce_429: self.salesforce_429 - before.salesforce_429,
            server_errors: self.server_errors - before.server_errors,
        }
    }

    /// The calls per endpoint, one line per system.
    pub fn endpoints(&self) -> String {
        let part = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "HubSpot: {}; Salesforce: {}",
            part(&self.hubspot_endpoints),
            part(&self.salesforce_endpoints)
        )
    }
}

/// One backfill run's raw figures.
#[derive(Debug, Clone)]
pub struct BackfillRun {
    /// Records per side.
    pub records: usize,
    /// What the child reported for the backfill.
    pub child: Value,
    /// What the APIs saw during the backfill.
    pub seen: Seen,
    /// Busiest rolling 10 s of HubSpot requests.
    pub busiest_10s: usize,
    /// What the child reported for the settle cycles after it.
    pub settle: Value,
    /// What the APIs saw during the settle cycles.
    pub settle_seen: Seen,
    /// Disagreements left after settling (empty: converged).
    pub problems: Vec<String>,
    /// Without `settle`: the daemon's polls after the backfill until idle.
    pub catch_up: Option<crate::settle::Settle>,
    /// The limits in force.
    pub limits: Limits,
}

impl BackfillRun {
    fn wall(&self) -> f64 {
        f(&self.child, "wall_s")
    }

    /// The fewest HubSpot calls for this work: list pages, then batch creates and updates.
    fn hubspot_min(&self) -> u64 {
        let created = u(&self.child, "hubspot_created");
        let updated = u(&self.child, "hubspot_written").saturating_sub(created);
        min_calls(u(&self.child, "scanned_hubspot"), HUBSPOT_PAGE)
            + min_calls(created, HUBSPOT_BATCH)
            + min_calls(updated, HUBSPOT_BATCH)
    }

    /// The fewest Salesforce calls: query pages of Lead and of Contact (one even when
    /// empty), then composites of five 200-record collections (creates and updates are
    /// separate collections), then the created Leads read back (their `Status` is
    /// Salesforce's default).
    fn salesforce_min(&self) -> u64 {
        let created = u(&self.child, "salesforce_created");
        let updated = u(&self.child, "salesforce_written").saturating_sub(created);
        let collections =
            min_calls(created, SALESFORCE_COLLECTION) + min_calls(updated, SALESFORCE_COLLECTION);
        min_calls(self.records as u64, SALESFORCE_PAGE).max(1)
            + 1
            + min_calls(collections, SALESFORCE_COLLECTIONS_PER_CALL)
            + salesforce_read_back(created)
    }

    fn bound(&self) -> f64 {
        self.seen.hubspot_calls as f64 / self.limits.hubspot_rate()
    }
}

/// What a backfill run does once the backfill has finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterBackfill {
    /// Runs cycles until nothing is written (at most 10), to check convergence.
    Converge,
    /// Measures the settle figure: seconds and HubSpot calls until two idle polls.
    MeasureSettle,
}

/// Seeds `n` + `n` records (half shared), runs the backfill in a child, then does `then`.
pub async fn run_backfill(
    name: &str,
    n: usize,
    limits: Limits,
    faults: Option<Faults>,
    then: AfterBackfill,
) -> anyhow::Result<BackfillRun> {
    let world = World::start(name, limits, "15s", "60s").await?;
    world.populate(n)?;
    if let Some(faults) = &faults {
        world.hubspot.set_faults(faults.clone());
        world.salesforce.set_faults(SalesforceFaults {
            faults: faults.clone(),
            lock_row: 0.0,
        });
    }
    let config = world.config_path.display().to_string();
    let before = Seen::read(&world);
    let restarts = if faults.is_some() { "20" } else { "0" };
    let backfill = child::run(&["backfill", "--config", &config, "--restarts", restarts]).await?;
    let after = Seen::read(&world);
    let busiest_10s = world.hubspot.max_in_window(Duration::from_secs(10), false);
    let (catch_up, settle) = match then {
        AfterBackfill::MeasureSettle => (
            Some(crate::settle::measure(&world, &config).await?),
            Value::Null,
        ),
        AfterBackfill::Converge => (
            None,
            child::run(&["settle", "--config", &config, "--max-cycles", "10"]).await?,
        ),
    };
    let settled = Seen::read(&world);
    world.hubspot.set_faults(Faults::default());
    world.salesforce.set_faults(SalesforceFaults::default());
    let settings = Settings::from_config(&world.loaded()?.config);
    let problems = world.disagreements(&settings);
    Ok(BackfillRun {
        records: n,
        child: backfill,
        seen: after.since(&before),
        busiest_10s,
        settle,
        settle_seen: settled.since(&after),
        problems,
        limits,
        catch_up,
    })
}

/// Scenario 1: the backfill under HubSpot Professional limits, then the polls until idle;
/// with `latency`, both sandboxes add that much (ms) to every request.
pub async fn backfill(n: usize, latency: Option<(u64, u64)>) -> anyhow::Result<Report> {
    let limits = Limits::professional();
    let faults = latency.map(crate::settle::jitter);
    let run = run_backfill("backfill", n, limits, faults, AfterBackfill::MeasureSettle).await?;
    let mut report = Report::new("backfill");
    backfill_tables(&mut report, &run, "Backfill");
    if let Some(catch_up) = &run.catch_up {
        crate::settle::report(&mut report, catch_up, latency);
    }
    report
        .notes
        .push(format!("Calls made: {}", run.seen.endpoints()));
    report.notes.push(
        "Bounds: wall time by HubSpot's 190 requests per 10 s (the quota-bound time is HubSpot calls / 19 per s; Salesforce has no rate limit, only a daily allocation, so its calls add to the wall time above the bound); calls by the batch sizes.".into(),
    );
    Ok(report)
}

fn backfill_tables(report: &mut Report, run: &BackfillRun, title: &str) {
    let c = &run.child;
    let n = run.records as u64;
    let wall = run.wall();
    let (hs_min, sf_min) = (run.hubspot_min(), run.salesforce_min());
    let mut calls = Table::new(
        &format!(
            "{title}: {} HubSpot contacts + {} Salesforce leads, {} shared; HubSpot {} per 10 s, search {}/s",
            thousands(n),
            thousands(n),
            thousands(n / 2),
            run.limits.hubspot_per_10s,
            run.limits.search_per_second
        ),
        &["system", "API calls", "minimum", "ratio", "target", "429s"],
    );
    calls.row(vec![
        "HubSpot".into(),
        thousands(run.seen.hubspot_calls),
        thousands(hs_min),
        format!("{:.3}", ratio(run.seen.hubspot_calls as f64, hs_min as f64)),
        "≤ 1.05".into(),
        thousands(run.seen.hubspot_429),
    ]);
    calls.row(vec![
        "Salesforce".into(),
        thousands(run.seen.salesforce_calls),
        thousands(sf_min),
        format!(
            "{:.3}",
            ratio(run.seen.salesforce_calls as f64, sf_min as f64)
        ),
        "≤ 1.05".into(),
        thousands(run.seen.salesforce_429),
    ]);
    report.tables.push(calls);
    let mut time = Table::new(
        &format!("{title}: time and memory"),
        &["figure", "value", "target"],
    );
    let bound = run.bound();
    time.row(vec!["wall time".into(), secs(wall), String::new()]);
    time.row(vec![
        "quota-bound time".into(),
        format!(
            "{} ({} HubSpot calls / {:.0} per s)",
            secs(bound),
            thousands(run.seen.hubspot_calls),
            run.limits.hubspot_rate()
        ),
        String::new(),
    ]);
    time.row(vec![
        "wall / bound".into(),
        format!("{:.3}", ratio(wall, bound)),
        "≤ 1.10".into(),
    ]);
    time.row(vec![
        "busiest rolling 10 s (HubSpot)".into(),
        format!("{} requests", run.busiest_10s),
        format!("≤ {}", run.limits.hubspot_per_10s),
    ]);
    let scanned = u(c, "scanned_hubspot") + u(c, "scanned_salesforce");
    time.row(vec![
        "records/s (records read / wall)".into(),
        format!("{:.0}", ratio(scanned as f64, wall)),
        String::new(),
    ]);
    time.row(vec![
        "peak RSS (truce process)".into(),
        mib(u(c, "peak_rss_kib")),
        String::new(),
    ]);
    time.row(vec![
        "written HubSpot (created)".into(),
        format!(
            "{} ({})",
            thousands(u(c, "hubspot_written")),
            thousands(u(c, "hubspot_created"))
        ),
        String::new(),
    ]);
    time.row(vec![
        "written Salesforce (created)".into(),
        format!(
            "{} ({})",
            thousands(u(c, "salesforce_written")),
            thousands(u(c, "salesforce_created"))
        ),
        String::new(),
    ]);
    time.row(vec![
        "linked / conflicts / quarantined".into(),
        format!(
            "{} / {} / {}",
            thousands(u(c, "linked")),
            thousands(u(c, "conflicts")),
            thousands(
                u(c, "quarantined") + u(c, "hubspot_quarantined") + u(c, "salesforce_quarantined")
            )
        ),
        String::new(),
    ]);
    if !run.settle.is_null() {
        let settle_cycles = run.settle["cycles"].as_array().map_or(0, Vec::len);
        time.row(vec![
            "after: polls to settle (echoes)".into(),
            format!(
                "{settle_cycles} cycles, {:.1} s, {} + {} calls, settled: {}",
                f(&run.settle, "wall_s"),
                run.settle_seen.hubspot_calls,
                run.settle_seen.salesforce_calls,
                run.settle["settled"]
            ),
            String::new(),
        ]);
    }
    time.row(vec![
        if run.settle.is_null() {
            "agree right after the backfill (no poll yet)".into()
        } else {
            "converged after the polls (both sides agree)".into()
        },
        if run.problems.is_empty() {
            "yes".into()
        } else {
            format!("NO: {}", by_field(&run.problems))
        },
        "yes".into(),
    ]);
    report.tables.push(time);
    report.tables.extend(phase_table(title, c, wall));
    let key = title.to_lowercase().replace(' ', "_");
    report.figure(
        &key,
        json!({
            "records_per_side": n,
            "hubspot_calls": run.seen.hubspot_calls,
            "hubspot_min_calls": hs_min,
            "hubspot_429": run.seen.hubspot_429,
            "hubspot_limit_429": run.seen.hubspot_limit_429,
            "salesforce_calls": run.seen.salesforce_calls,
            "salesforce_min_calls": sf_min,
            "salesforce_429": run.seen.salesforce_429,
            "server_errors": run.seen.server_errors,
            "wall_s": wall,
            "quota_bound_s": bound,
            "busiest_10s": run.busiest_10s,
            "records_per_s": ratio(scanned as f64, wall),
            "peak_rss_kib": u(c, "peak_rss_kib"),
            "child": c,
            "settle": run.settle,
            "settle_hubspot_calls": run.settle_seen.hubspot_calls,
            "settle_salesforce_calls": run.settle_seen.salesforce_calls,
            "endpoints": {
                "hubspot": run.seen.hubspot_endpoints,
                "salesforce": run.seen.salesforce_endpoints,
            },
            "disagreements": run.problems.len(),
        }),
    );
}

/// Scenario 4: the backfill with 10% 5xx, 5% 429 and 2% dropped connections on both
/// sides, against a fault-free run of the same size.
pub async fn faults(n: usize) -> anyhow::Result<Report> {
    let limits = Limits::professional();
    let clean = run_backfill("faults-clean", n, limits, None, AfterBackfill::Converge).await?;
    let faults = Faults {
        server_error: 0.10,
        rate_limited: 0.05,
        retry_after_secs: 1,
        drop_connection: 0.02,
        ..Faults::default()
    };
    let faulty = run_backfill("faults", n, limits, Some(faults), AfterBackfill::Converge).await?;
    let mut report = Report::new("faults");
    backfill_tables(&mut report, &clean, "Fault-free");
    backfill_tables(&mut report, &faulty, "With faults");
    let mut cmp = Table::new(
        "Faults (10% 5xx, 5% 429 with Retry-After 1 s, 2% dropped connections, both sides) against fault-free",
        &["figure", "fault-free", "with faults", "extra"],
    );
    let row = |name: &str, a: f64, b: f64, fmt: &dyn Fn(f64) -> String| {
        vec![
            name.to_string(),
            fmt(a),
            fmt(b),
            format!("{} ({:+.1}%)", fmt(b - a), 100.0 * ratio(b - a, a)),
        ]
    };
    let count = |v: f64| thousands(v.max(0.0) as u64);
    cmp.row(row(
        "HubSpot calls",
        clean.seen.hubspot_calls as f64,
        faulty.seen.hubspot_calls as f64,
        &count,
    ));
    cmp.row(row(
        "Salesforce calls",
        clean.seen.salesforce_calls as f64,
        faulty.seen.salesforce_calls as f64,
        &count,
    ));
    let requests = |seen: &Seen| seen.salesforce_endpoints.values().sum::<u64>() as f64;
    cmp.row(row(
        "Salesforce HTTP requests (token, refused included)",
        requests(&clean.seen),
        requests(&faulty.seen),
        &count,
    ));
    cmp.row(row("wall time (s)", clean.wall(), faulty.wall(), &|v| {
        format!("{v:.1}")
    }));
    cmp.row(vec![
        "5xx / 429 answered".into(),
        format!(
            "{} / {}",
            clean.seen.server_errors,
            clean.seen.hubspot_429 + clean.seen.salesforce_429
        ),
        format!(
            "{} / {}",
            faulty.seen.server_errors,
            faulty.seen.hubspot_429 + faulty.seen.salesforce_429
        ),
        String::new(),
    ]);
    cmp.row(vec![
        "backfill restarts (a call failed after retries)".into(),
        u(&clean.child, "restarts").to_string(),
        u(&faulty.child, "restarts").to_string(),
        String::new(),
    ]);
    cmp.row(vec![
        "converged".into(),
        yes(clean.problems.is_empty()),
        yes(faulty.problems.is_empty()),
        String::new(),
    ]);
    report.tables.push(cmp);
    report.notes.push(format!(
        "429s from the sandbox's own limits (not injected): fault-free {}, with faults {}.",
        clean.seen.hubspot_limit_429, faulty.seen.hubspot_limit_429
    ));
    if let Some(causes) = faulty.child["restart_causes"].as_array()
        && let Some(first) = causes.first()
    {
        report.notes.push(format!("First restart cause: {first}"));
    }
    Ok(report)
}

/// Disagreements counted by field (`12 hs_lead_status/Status, 3 duplicates`).
fn by_field(problems: &[String]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for problem in problems {
        let what = problem
            .split(": ")
            .nth(1)
            .unwrap_or("other")
            .split(':')
            .next()
            .unwrap_or("other");
        let what = if what.contains("contacts") || what.contains("records") {
            "duplicates"
        } else {
            what
        };
        *counts.entry(what.to_string()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, v)| format!("{} {k}", thousands(*v as u64)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn yes(b: bool) -> String {
    if b { "yes".into() } else { "NO".into() }
}

/// Scenario 2: after a backfill, `edits` edits at `rate` per second alternating sides;
/// propagation latency, and the calls an idle cycle costs.
pub async fn steady(n: usize, edits: usize, rate: f64, poll_s: u64) -> anyhow::Result<Report> {
    let limits = Limits::professional();
    let poll = format!("{poll_s}s");
    let world = World::start("steady", limits, &poll, &format!("{LOOKBACK_S}s")).await?;
    let population = world.populate(n)?;
    let config = world.config_path.display().to_string();
    child::run(&["backfill", "--config", &config, "--restarts", "0"]).await?;
    child::run(&["settle", "--config", &config, "--max-cycles", "10"]).await?;

    // The people edited: shared ones, each once when there are enough.
    let people = population.shared.max(1);
    let mut targets = Vec::new();
    for i in 0..edits.min(people) {
        let email = shared_email(i);
        let hubspot = world
            .hubspot
            .find_by_email(&email)
            .with_context(|| format!("{email} missing in HubSpot after the backfill"))?
            .id;
        let lead = world
            .salesforce
            .find_by_email(&email)
            .into_iter()
            .find(|(object, _)| object == "Lead")
            .with_context(|| format!("{email} has no Lead after the backfill"))?
            .1;
        targets.push((hubspot, lead));
    }

    let settled_at = Instant::now();
    let mut daemon = Daemon::start(&world.config_path)?;
    let transient = after_backfill(&mut daemon, &world, settled_at, poll_s).await?;
    let started = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / rate.max(0.001));
    // (edit index, made at, expected value, hubspot side?)
    let mut pending: Vec<(usize, Instant, String, bool)> = Vec::new();
    let mut latencies: Vec<(f64, bool)> = Vec::new();
    let mut made = 0;
    let mut errors = 0;
    let deadline_after_last = Duration::from_secs(poll_s * 4 + 30);
    let mut last_edit = Instant::now();
    // (began, took) of each daemon cycle while edits were made and propagated.
    let mut cycles: Vec<(f64, f64)> = Vec::new();
    loop {
        let now = Instant::now();
        if made < edits && now >= started + gap.mul_f64(made as f64) {
            let (hubspot, lead) = &targets[made % targets.len()];
            let value = format!("Edit{made}");
            let on_hubspot = made % 2 == 0;
            let result = if on_hubspot {
                world
                    .hubspot
                    .edit(hubspot, &[("firstname", value.as_str())])
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            } else {
                world
                    .salesforce
                    .edit("Lead", lead, json!({ "FirstName": value }))
                    .map_err(|e| format!("{e:?}"))
            };
            match result {
                Ok(()) => pending.push((made, Instant::now(), value, on_hubspot)),
                Err(_) => errors += 1,
            }
            made += 1;
            last_edit = Instant::now();
        }
        pending.retain(|(i, at, value, on_hubspot)| {
            let (hubspot, lead) = &targets[i % targets.len()];
            let arrived = if *on_hubspot {
                world
                    .salesforce
                    .get("Lead", lead)
                    .is_some_and(|r| r["FirstName"].as_str() == Some(value.as_str()))
            } else {
                world
                    .hubspot
                    .get(hubspot)
                    .is_some_and(|c| c.properties.get("firstname") == Some(value))
            };
            if arrived {
                latencies.push((at.elapsed().as_secs_f64(), *on_hubspot));
            }
            !arrived
        });
        while let Some(line) = daemon.next(Duration::from_millis(1)).await? {
            cycles.push((f(&line, "began_s"), f(&line, "took_s")));
        }
        if made >= edits && (pending.is_empty() || last_edit.elapsed() > deadline_after_last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let edit_phase = started.elapsed().as_secs_f64();

    // Idle: right after the edits (the 60 s look-back still re-reads them), then once the
    // look-back has passed with nothing new.
    let recent = idle_window(&mut daemon, &world, 3, poll_s).await?;
    let quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(LOOKBACK_S) {
        daemon.next(Duration::from_secs(1)).await?;
    }
    let quiet = idle_window(&mut daemon, &world, 3, poll_s).await?;
    let daemon_end = daemon.stop().await?;

    let all: Vec<f64> = latencies.iter().map(|(l, _)| *l).collect();
    let side = |hubspot: bool| -> Vec<f64> {
        latencies
            .iter()
            .filter(|(_, h)| *h == hubspot)
            .map(|(l, _)| *l)
            .collect()
    };
    let mut report = Report::new("steady");
    let mut table = Table::new(
        &format!(
            "Steady state: {} edits at {rate}/s over both sides after a {}+{} backfill; poll interval {poll_s} s",
            thousands(edits as u64),
            thousands(n as u64),
            thousands(n as u64)
        ),
        &["edits", "propagated", "p50", "p95", "max", "target p95"],
    );
    let mut latency_row = |name: &str, values: &[f64], made: usize| {
        let p = |q| percentile(values, q).map_or("-".into(), secs);
        table.row(vec![
            name.into(),
            format!("{} / {}", values.len(), made),
            p(50.0),
            p(95.0),
            p(100.0),
            format!("≤ {} s", poll_s + 5),
        ]);
    };
    latency_row("HubSpot → Salesforce", &side(true), made.div_ceil(2));
    latency_row("Salesforce → HubSpot", &side(false), made / 2);
    latency_row("all", &all, made);
    report.tables.push(table);
    let mut idle_table = Table::new(
        "Idle cycles: API calls per cycle when nothing changes",
        &[
            "window",
            "cycles",
            "HubSpot calls/cycle",
            "Salesforce calls/cycle",
            "expected",
        ],
    );
    for (name, window) in [
        ("right after the edits (inside the 60 s look-back)", &recent),
        ("after the look-back", &quiet),
    ] {
        match window {
            Some((seen, cycles)) => {
                let per = |calls: u64| format!("{:.2}", calls as f64 / f64::from(*cycles));
                idle_table.row(vec![
                    name.into(),
                    cycles.to_string(),
                    per(seen.hubspot_calls),
                    per(seen.salesforce_calls),
                    "pull only: 1 search + 1 composite".into(),
                ]);
                report
                    .notes
                    .push(format!("Idle calls {name}: {}", seen.endpoints()));
            }
            None => idle_table.row(vec![
                name.into(),
                "0".into(),
                "no idle cycle seen".into(),
                String::new(),
                String::new(),
            ]),
        }
    }
    report.tables.push(idle_table);
    let took: Vec<f64> = cycles.iter().map(|(_, t)| *t).collect();
    let gaps: Vec<f64> = cycles.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let mut cycle_table = Table::new(
        "Daemon cycles while edits were made and propagated",
        &[
            "cycles",
            "duration p50",
            "duration max",
            "start-to-start max",
            "ticks skipped",
        ],
    );
    let p = |v: &[f64], q| percentile(v, q).map_or("-".into(), secs);
    cycle_table.row(vec![
        cycles.len().to_string(),
        p(&took, 50.0),
        p(&took, 100.0),
        p(&gaps, 100.0),
        gaps.iter()
            .filter(|g| **g > poll_s as f64 * 1.5)
            .count()
            .to_string(),
    ]);
    report.tables.push(cycle_table);
    report.figure(
        "steady_cycles",
        json!({"took_s": took, "start_gaps_s": gaps}),
    );
    let (transient_cycles, transient_s, transient_searches, transient_longest) = transient;
    report.notes.push(format!(
        "Before the edits, after the backfill: {transient_cycles} daemon cycles over {transient_s:.0} s re-read the backfill's own writes inside the {LOOKBACK_S} s look-back ({transient_searches} HubSpot calls, longest cycle {transient_longest:.1} s); the edits start once a cycle has begun a look-back after the backfill settled."
    ));
    report.figure(
        "steady_after_backfill",
        json!({"cycles": transient_cycles, "seconds": transient_s, "hubspot_calls": transient_searches, "longest_cycle_s": transient_longest}),
    );
    report.notes.push(format!(
        "Edits that failed to apply in the sandbox: {errors}; not propagated before the deadline: {}; edit phase {edit_phase:.0} s.",
        pending.len()
    ));
    report.notes.push(
        "Bounds: latency by the poll interval (an edit waits for the next poll) plus one cycle's pull, merge and write; idle cost by the design (one search, one composite).".into(),
    );
    report.figure(
        "steady",
        json!({
            "records_per_side": n,
            "edits": made,
            "rate_per_s": rate,
            "poll_interval_s": poll_s,
            "propagated": all.len(),
            "p50_s": percentile(&all, 50.0),
            "p95_s": percentile(&all, 95.0),
            "max_s": percentile(&all, 100.0),
            "hubspot_to_salesforce_p95_s": percentile(&side(true), 95.0),
            "salesforce_to_hubspot_p95_s": percentile(&side(false), 95.0),
            "idle_recent": recent.as_ref().map(|(s, c)| json!({"cycles": c, "hubspot_calls": s.hubspot_calls, "salesforce_calls": s.salesforce_calls})),
            "idle_quiet": quiet.as_ref().map(|(s, c)| json!({"cycles": c, "hubspot_calls": s.hubspot_calls, "salesforce_calls": s.salesforce_calls})),
            "daemon_peak_rss_kib": daemon_end["peak_rss_kib"],
        }),
    );
    Ok(report)
}

/// The config's look-back, in seconds (the idle scenario waits it out).
const LOOKBACK_S: u64 = 60;

/// The daemon's cycles right after the backfill, before the steady state: while the
/// backfill's own writes are inside the look-back, each HubSpot poll re-reads them (200 per
/// search, 5 searches per second). Waits until a cycle that began a full look-back after
/// the backfill settled has ended: from the next cycle on, polls read only new changes.
/// Returns `(cycles, seconds, HubSpot searches, longest cycle in seconds)`.
async fn after_backfill(
    daemon: &mut Daemon,
    world: &World,
    settled_at: Instant,
    poll_s: u64,
) -> anyhow::Result<(u32, f64, u64, f64)> {
    let before = Seen::read(world);
    let clean_from = settled_at + Duration::from_secs(LOOKBACK_S);
    let (mut cycles, mut longest) = (0u32, 0.0f64);
    loop {
        let line = daemon
            .next(Duration::from_secs(poll_s * 4 + 600))
            .await?
            .context("no daemon cycle ended after the backfill")?;
        cycles += 1;
        let took = f(&line, "took_s");
        longest = longest.max(took);
        let began = Instant::now() - Duration::from_secs_f64(took);
        if began >= clean_from {
            let seen = Seen::read(world).since(&before);
            return Ok((
                cycles,
                settled_at.elapsed().as_secs_f64(),
                seen.hubspot_calls,
                longest,
            ));
        }
    }
}

/// Waits for a cycle that pulled and wrote nothing, then counts what the next `cycles`
/// idle cycles cost; a busy cycle starts the count again. `None` if no idle run is seen
/// within twelve polls.
async fn idle_window(
    daemon: &mut Daemon,
    world: &World,
    cycles: u32,
    poll_s: u64,
) -> anyhow::Result<Option<(Seen, u32)>> {
    let mut from: Option<Seen> = None;
    let mut counted = 0;
    let deadline = Instant::now() + Duration::from_secs(poll_s * 12 + 60);
    while Instant::now() < deadline && counted < cycles {
        let Some(line) = daemon.next(Duration::from_secs(poll_s + 30)).await? else {
            continue;
        };
        let s = &line["summary"];
        let idle = !s.is_null()
            && [
                "pulled_hubspot",
                "pulled_salesforce",
                "written_hubspot",
                "written_salesforce",
            ]
            .iter()
            .all(|k| u(s, k) == 0);
        if !idle {
            from = None;
            counted = 0;
        } else if from.is_none() {
            from = Some(Seen::read(world));
        } else {
            counted += 1;
        }
    }
    Ok(from
        .filter(|_| counted > 0)
        .map(|from| (Seen::read(world).since(&from), counted)))
}

/// Builds a state file of `n` active links, each with both snapshots and base values, in
/// transactions of 10,000 links. The merge has real work: 60% agreed, 20% a HubSpot edit,
/// 10% a Salesforce edit, 5% a `two_way` conflict, 5% a `prefer_hubspot_unless_blank`
/// conflict.
pub fn build_state(path: &Path, n: usize) -> anyhow::Result<()> {
    let mut store = Store::open(path).with_context(|| format!("opening {}", path.display()))?;
    let now = chrono::Utc::now().timestamp_millis();
    let s = |v: &str| Value::String(v.to_string());
    for start in (0..n).step_by(10_000) {
        store
            .transaction(|tx| {
                for i in start..(start + 10_000).min(n) {
                    let email = format!("person{i}@example.com");
                    let (first, last, company, city) = (
                        format!("First{i}"),
                        format!("Last{}", i % 997),
                        format!("Company {}", i % 101),
                        format!("City{}", i % 13),
                    );
                    let phone = format!("+1 555 {:04}", i % 10_000);
                    let kind = i % 20;
                    let (mut h_first, mut s_first) = (first.clone(), first.clone());
                    let (mut h_company, mut s_company) = (company.clone(), company.clone());
                    let mut s_city = city.clone();
                    match kind {
                        12..=15 => h_first = format!("Marketing{i}"),
                        16..=17 => s_city = format!("Moved{i}"),
                        18 => {
                            h_first = format!("Hub{i}");
                            s_first = format!("Sales{i}");
                        }
                        19 => {
                            h_company = format!("HubCo {i}");
                            s_company = format!("SalesCo {i}");
                        }
                        _ => {}
                    }
                    let hubspot_id = format!("{}", 10_000_000 + i);
                    let lead_id = format!("00Q{:015}", i);
                    let link = tx.create_link(
                        &NewLink {
                            pair: "contacts".into(),
                            email: email.clone(),
                            name: None,
                            hubspot_id: Some(hubspot_id.clone()),
                            salesforce_object: Some("Lead".into()),
                            salesforce_id: Some(lead_id.clone()),
                        },
                        now,
                    )?;
                    let hubspot_fields = BTreeMap::from([
                        ("email".to_string(), s(&email)),
                        ("firstname".to_string(), s(&h_first)),
                        ("lastname".to_string(), s(&last)),
                        ("company".to_string(), s(&h_company)),
                        ("phone".to_string(), s(&phone)),
                        ("city".to_string(), s(&city)),
                        ("jobtitle".to_string(), s("Analyst")),
                        ("lifecyclestage".to_string(), s("marketingqualifiedlead")),
                    ]);
                    let salesforce_fields = BTreeMap::from([
                        ("Email".to_string(), s(&email)),
                        ("FirstName".to_string(), s(&s_first)),
                        ("LastName".to_string(), s(&last)),
                        ("Company".to_string(), s(&s_company)),
                        ("Phone".to_string(), s(&phone)),
                        ("City".to_string(), s(&s_city)),
                        ("Title".to_string(), s("Analyst")),
                    ]);
                    tx.upsert_snapshot(
                        "contacts",
                        "hubspot",
                        &SnapshotUpdate {
                            object: "contacts".into(),
                            record_id: hubspot_id,
                            match_key: Some(email.clone()),
                            modified_at: now - 1000,
                            deleted: false,
                            fields: hubspot_fields,
                            meta: Default::default(),
                        },
                        now,
                    )?;
                    tx.upsert_snapshot(
                        "contacts",
                        "salesforce",
                        &SnapshotUpdate {
                            object: "Lead".into(),
                            record_id: lead_id,
                            match_key: Some(email.clone()),
                            modified_at: now - 1000,
                            deleted: false,
                            fields: salesforce_fields,
                            meta: Default::default(),
                        },
                        now,
                    )?;
                    for (field, value) in [
                        ("Email", &email),
                        ("FirstName", &first),
                        ("LastName", &last),
                        ("Company", &company),
                        ("Phone", &phone),
                        ("City", &city),
                        ("Title", &"Analyst".to_string()),
                    ] {
                        tx.set_base(link, field, &s(value), now)?;
                    }
                }
                Ok::<_, truce_state::StoreError>(())
            })
            .with_context(|| format!("building links from {start}"))?;
    }
    Ok(())
}

/// Scenario 3: `reconcile_all` over `n` links per size, network excluded, each in a child.
pub async fn engine(sizes: &[usize]) -> anyhow::Result<Report> {
    let mut report = Report::new("engine");
    let mut table = Table::new(
        "Engine only: Engine::reconcile_all over N links (state file, no network), one child process per N",
        &[
            "links",
            "build state",
            "reconcile",
            "links/s",
            "peak RSS",
            "writes",
            "conflicts",
            "target",
        ],
    );
    let mut parts = Table::new(
        "Reference costs over the same state file, measured apart after the run",
        &[
            "links",
            "read every view, pages of 1,000",
            "plan_link (pure merge)",
            "link_view + pending_for_link per link",
        ],
    );
    let mut figures = Vec::new();
    for &n in sizes {
        let world =
            World::start(&format!("engine-{n}"), Limits::professional(), "15s", "60s").await?;
        let built = Instant::now();
        build_state(&world.state_path(), n)?;
        let build_s = built.elapsed().as_secs_f64();
        let config = world.config_path.display().to_string();
        let r = child::run(&["reconcile", "--config", &config]).await?;
        let wall = f(&r, "wall_s");
        table.row(vec![
            thousands(n as u64),
            secs(build_s),
            secs(wall),
            thousands(ratio(u(&r, "links") as f64, wall) as u64),
            mib(u(&r, "peak_rss_kib")),
            thousands(u(&r, "writes")),
            thousands(u(&r, "conflicts")),
            "≥ 50,000/s, < 200 MB".into(),
        ]);
        let p = &r["parts"];
        let (read, plan, point) = (
            f(p, "read_views_in_pages_s"),
            f(p, "plan_link_pure_s"),
            f(p, "point_reads_per_link_s"),
        );
        parts.row(vec![
            thousands(n as u64),
            secs(read),
            secs(plan),
            secs(point),
        ]);
        figures.push(json!({"links": n, "build_s": build_s, "child": r}));
    }
    report.tables.push(table);
    report.tables.push(parts);
    report.notes.push(
        "Bounds: one core (the merge is single-threaded) and SQLite. The reference costs show what reconcile_all's time is made of: reading views in pages and the pure merge are the floor; a per-link point read of each view costs about as much again.".into(),
    );
    report.figure("engine", Value::Array(figures));
    Ok(report)
}

/// Scenario 5: truce's HubSpot full scan against the peer a data team would use, same
/// sandbox, same limits, same N, one after the other.
pub async fn side_by_side(n: usize, root: &Path) -> anyhow::Result<Report> {
    let limits = Limits::professional();
    let world = World::start("side", limits, "15s", "60s").await?;
    world.hubspot.seed_contacts(n, 42);
    let settings = Settings::from_config(&world.loaded()?.config);
    let properties = settings
        .fields_of(truce_connectors::ObjectType::HubSpotContact)
        .join(",");
    let mut report = Report::new("side");

    // Can tap-hubspot be pointed at the sandbox?
    let tap = tap_check(root).await;
    let tap_note = match &tap {
        Ok(t) if t["configurable"] == Value::Bool(false) => format!(
            "tap-hubspot {} cannot be pointed at a local base URL without patching it: its base URL is the module constant BASE_URL = {} and no config key ({}) sets it. Compared instead with the official Python SDK's paging loop (hubspot-api-client, crm.contacts.basic_api.get_page, 100 per page), waiting on 429 as the tap does (constant 10 s, 5 tries).",
            t["version"].as_str().unwrap_or("?"),
            t["base_url"],
            t["config_keys"]
                .as_array()
                .map(|k| k
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ),
        Ok(t) => format!(
            "tap-hubspot reports a configurable base URL ({t}); this harness still runs the SDK loop."
        ),
        Err(e) => format!(
            "tap-hubspot could not be installed or read ({e:#}); compared with the official Python SDK's paging loop."
        ),
    };

    let config = world.config_path.display().to_string();
    let before = Seen::read(&world);
    let truce = child::run(&["scan", "--config", &config]).await?;
    let truce_seen = Seen::read(&world).since(&before);
    // Let the rolling window empty so the peer starts as fresh as truce did.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let python = sdk_python(root).await?;
    let before = Seen::read(&world);
    let script = root.join("bench/sdk_scan.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(world.hubspot_served.url())
        .arg(world.hubspot.token())
        .arg(&properties)
        .output()
        .await
        .with_context(|| format!("running {} {}", python, script.display()))?;
    let peer_seen = Seen::read(&world).since(&before);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        anyhow::bail!(
            "the SDK loop failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let peer: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .with_context(|| format!("the SDK loop printed {stdout:?}"))?;

    let mut table = Table::new(
        &format!(
            "Side by side: full scan of {} HubSpot contacts, same sandbox, {} requests per 10 s",
            thousands(n as u64),
            limits.hubspot_per_10s
        ),
        &[
            "",
            "records",
            "wall time",
            "API calls",
            "429s",
            "peak RSS",
            "records/s",
        ],
    );
    let row = |name: &str, v: &Value, seen: &Seen| {
        vec![
            name.to_string(),
            thousands(u(v, "records")),
            secs(f(v, "wall_s")),
            thousands(seen.hubspot_calls),
            thousands(seen.hubspot_429),
            mib(u(v, "peak_rss_kib")),
            format!("{:.0}", ratio(u(v, "records") as f64, f(v, "wall_s"))),
        ]
    };
    table.row(row("truce (connector scan)", &truce, &truce_seen));
    table.row(row("hubspot-api-client loop (Python)", &peer, &peer_seen));
    table.row(vec![
        "ratio peer / truce".into(),
        String::new(),
        format!("{:.2}", ratio(f(&peer, "wall_s"), f(&truce, "wall_s"))),
        format!(
            "{:.2}",
            ratio(
                peer_seen.hubspot_calls as f64,
                truce_seen.hubspot_calls as f64
            )
        ),
        String::new(),
        format!(
            "{:.2}",
            ratio(
                u(&peer, "peak_rss_kib") as f64,
                u(&truce, "peak_rss_kib") as f64
            )
        ),
        String::new(),
    ]);
    report.tables.push(table);
    report.notes.push(tap_note);
    report.notes.push(format!(
        "Quota-bound time for {} list calls: {:.1} s. Both read 100 per page; the difference is what each does at the limit: truce's limiter paces calls under it, the peer runs into 429s and waits.",
        truce_seen.hubspot_calls,
        truce_seen.hubspot_calls as f64 / limits.hubspot_rate()
    ));
    report.figure(
        "side",
        json!({
            "records": n,
            "truce": {"child": truce, "calls": truce_seen.hubspot_calls, "429": truce_seen.hubspot_429},
            "peer": {"result": peer, "calls": peer_seen.hubspot_calls, "429": peer_seen.hubspot_429},
            "tap": tap.unwrap_or_else(|e| json!({"error": format!("{e:#}")})),
        }),
    );
    Ok(report)
}

/// Installs tap-hubspot in a venv (once) and reads whether its base URL is configurable.
async fn tap_check(root: &Path) -> anyhow::Result<Value> {
    let out = tokio::process::Command::new("bash")
        .arg(root.join("bench/ensure_tap_venv.sh"))
        .output()
        .await
        .context("running bench/ensure_tap_venv.sh")?;
    if !out.status.success() {
        anyhow::bail!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let venv = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = tokio::process::Command::new(format!("{venv}/bin/python"))
        .arg(root.join("bench/tap_base_url.py"))
        .output()
        .await
        .context("running bench/tap_base_url.py")?;
    if !out.status.success() {
        anyhow::bail!("{}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("reading tap_base_url.py's answer")
}

/// The python of the SDK virtualenv (`tests/compat/ensure_venv.sh` creates it once).
async fn sdk_python(root: &Path) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("bash")
        .arg(root.join("tests/compat/ensure_venv.sh"))
        .output()
        .await
        .context("running tests/compat/ensure_venv.sh")?;
    if !out.status.success() {
        anyhow::bail!(
            "tests/compat/ensure_venv.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Where a backfill child's wall time went, from the engine's progress (`phases`).
pub(crate) fn phase_table(title: &str, child: &Value, wall: f64) -> Option<Table> {
    let phases = child["phases"].as_array()?;
    let mut table = Table::new(
        &format!(
            "{title}: where the wall time goes (the engine's progress; HubSpot and Salesforce scan side by side, then write side by side)"
        ),
        &["part", "from (s)", "to (s)", "seconds", "share of wall"],
    );
    for phase in phases {
        let (from, to) = (
            phase[1].as_f64().unwrap_or(0.0),
            phase[2].as_f64().unwrap_or(0.0),
        );
        table.row(vec![
            phase[0].as_str().unwrap_or("?").to_string(),
            format!("{from:.2}"),
            format!("{to:.2}"),
            format!("{:.2}", to - from),
            format!("{:.0}%", 100.0 * ratio(to - from, wall)),
        ]);
    }
    Some(table)
}
