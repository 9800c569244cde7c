//! The work measured in a child process, and how the parent runs it.
//!
//! The parent (`truce-bench SCENARIO`) serves the sandboxes and re-executes itself as
//! `truce-bench child KIND --config PATH`; the child builds the real engine from that
//! config exactly as `truce` does, does one piece of work, and prints its figures as one
//! JSON object on the last line of stdout, including its own peak RSS (`VmHWM`), which
//! therefore covers truce alone, without the sandboxes. The `daemon` kind prints one JSON
//! line per cycle instead and stops when its stdin closes.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use truce::engine::EngineError;
use truce::engine::merge::Side;
use truce::engine::pair::Pair;
use truce::engine::reconcile::Lookup;
use truce_state::LinkId;

/// The pure merge's view of the world, for timing it alone: no change history, no links
/// to resolve references to (the benchmark maps none).
struct Pure;

impl Lookup for Pure {
    fn changed_at(&mut self, _: Side, _: &str) -> Result<i64, EngineError> {
        Ok(0)
    }
    fn link_of(
        &mut self,
        _: truce::engine::mapping::Reference,
        _: Side,
        _: &str,
    ) -> Result<Option<LinkId>, EngineError> {
        Ok(None)
    }
    fn record_of(&mut self, _: LinkId, _: Side) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::MissedTickBehavior;
use truce::connect;
use truce::engine::settings::Settings;
use truce::engine::{CycleSummary, Engine, reconcile, system_clock};
use truce_connectors::ObjectType;
use truce_state::Store;

use super::peak_rss_kib;
use super::world::load;

/// The real engine over the config's state file and connectors.
pub fn engine(config: &Path) -> anyhow::Result<Engine> {
    let loaded = load(config)?;
    let settings = Settings::from_config(&loaded.config);
    let (hubspot, salesforce) = connect::connectors(&loaded, &settings)?;
    let path = &loaded.config.state.path;
    let store = Store::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Engine::new(
        store,
        hubspot,
        salesforce,
        settings,
        system_clock(),
    ))
}

/// A cycle's summary as JSON (also the settle figure's cycle lines).
pub(crate) fn cycle_json(summary: &CycleSummary) -> Value {
    json!({
        "pulled_hubspot": summary.pulled_hubspot,
        "pulled_salesforce": summary.pulled_salesforce,
        "linked": summary.linked,
        "conflicts": summary.conflicts,
        "quarantined": summary.quarantined,
        "written_hubspot": summary.written_hubspot,
        "written_salesforce": summary.written_salesforce,
        "retrying": summary.retrying,
    })
}

/// When each part of the backfill ran, from its progress reports, for a breakdown of its
/// wall time. Parts overlap: the two systems scan side by side from the start, and write
/// side by side from the `writing` phase on.
struct Timeline {
    started: Instant,
    /// `(part, from_s, to_s)` in the order the parts began.
    spans: std::sync::Mutex<Vec<(String, f64, f64)>>,
    /// The phase in progress (`linking`, `merging`, `writing`) and when it began.
    phase: std::sync::Mutex<Option<(String, f64)>>,
}

impl Timeline {
    fn new(started: Instant) -> Timeline {
        Timeline {
            started,
            spans: std::sync::Mutex::new(Vec::new()),
            phase: std::sync::Mutex::new(None),
        }
    }

    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Extends `part` to now, or starts it at `from`.
    fn touch(&self, part: String, from: f64) {
        let at = self.now();
        let mut spans = lock(&self.spans);
        match spans.iter_mut().find(|(name, _, _)| *name == part) {
            Some(span) => span.2 = at,
            None => spans.push((part, from, at)),
        }
    }

    fn phase_began(&self) -> f64 {
        lock(&self.phase).as_ref().map_or(0.0, |(_, at)| *at)
    }

    /// `[part, from_s, to_s]` triples, the phase in progress ending at `end`.
    fn spans(&self, end: f64) -> Value {
        let mut spans = lock(&self.spans).clone();
        if let Some((name, from)) = lock(&self.phase).clone() {
            spans.push((name, from, end));
        }
        spans.sort_by(|a, b| a.1.total_cmp(&b.1));
        Value::Array(
            spans
                .into_iter()
                .map(|(n, f, t)| json!([n, f, t]))
                .collect(),
        )
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl truce::engine::Progress for Timeline {
    fn scanned(&self, system: truce_connectors::System, object: ObjectType, _: u64) {
        // A system scans its objects one after the other, from the start.
        let prefix = format!("scan {} ", system.label());
        let from = lock(&self.spans)
            .iter()
            .filter(|(name, _, _)| name.starts_with(&prefix))
            .map(|(_, _, to)| *to)
            .fold(0.0, f64::max);
        self.touch(format!("{prefix}{}", object.as_str()), from);
    }

    fn phase(&self, name: &str) {
        let at = self.now();
        if let Some((previous, from)) = lock(&self.phase).replace((name.to_string(), at)) {
            lock(&self.spans).push((previous, from, at));
        }
    }

    fn wrote(&self, system: truce_connectors::System, _: u64, _: u64) {
        self.touch(format!("write {}", system.label()), self.phase_began());
    }
}

/// `child backfill`: runs the backfill to the end, starting it again (it resumes) when a
/// call fails after the connector's retries, at most `restarts` times.
pub async fn backfill(config: &Path, restarts: u32) -> anyhow::Result<Value> {
    let mut engine = engine(config)?;
    let started = Instant::now();
    let timeline = Timeline::new(started);
    let mut failures = Vec::new();
    let summary = loop {
        match engine.backfill(&timeline, true).await {
            Ok(summary) => break summary,
            Err(err) if failures.len() < restarts as usize => failures.push(err.to_string()),
            Err(err) => return Err(err).context("backfill failed after restarts"),
        }
    };
    let wall = started.elapsed().as_secs_f64();
    Ok(json!({
        "wall_s": wall,
        "phases": timeline.spans(wall),
        "restarts": failures.len(),
        "restart_causes": failures,
        "scanned_hubspot": summary.scanned_hubspot,
        "scanned_salesforce": summary.scanned_salesforce,
        "scan_pages": summary.scan_pages,
        "links": summary.merge.links,
        "linked": summary.merge.linked,
        "creates": summary.merge.creates,
        "writes": summary.merge.writes,
        "conflicts": summary.merge.conflicts,
        "quarantined": summary.merge.quarantined,
        "duplicates": summary.merge.duplicates,
        "hubspot_written": summary.to_hubspot.written,
        "hubspot_created": summary.to_hubspot.created,
        "hubspot_references_only": summary.to_hubspot.references_only,
        "hubspot_retrying": summary.to_hubspot.retrying,
        "hubspot_quarantined": summary.to_hubspot.quarantined,
        "salesforce_written": summary.to_salesforce.written,
        "salesforce_created": summary.to_salesforce.created,
        "salesforce_retrying": summary.to_salesforce.retrying,
        "salesforce_quarantined": summary.to_salesforce.quarantined,
        "peak_rss_kib": peak_rss_kib(),
    }))
}

/// `child settle`: polls (the daemon's cycle, back to back) until a cycle writes nothing
/// and has nothing left to retry, at most `max_cycles` times; a failed cycle counts.
pub async fn settle(config: &Path, max_cycles: u32) -> anyhow::Result<Value> {
    let mut engine = engine(config)?;
    let started = Instant::now();
    let mut cycles = Vec::new();
    let mut failed = 0;
    let mut settled = false;
    for _ in 0..max_cycles {
        match engine.cycle().await {
            Ok(summary) => {
                let quiet = summary.written_hubspot == 0
                    && summary.written_salesforce == 0
                    && summary.retrying == 0;
                cycles.push(cycle_json(&summary));
                if quiet {
                    settled = true;
                    break;
                }
            }
            Err(_) => failed += 1,
        }
    }
    Ok(json!({
        "wall_s": started.elapsed().as_secs_f64(),
        "cycles": cycles,
        "failed_cycles": failed,
        "settled": settled,
        "peak_rss_kib": peak_rss_kib(),
    }))
}

/// `child daemon`: one cycle per poll interval (missed ticks skipped, as the daemon
/// does), one JSON line per cycle on stdout, until stdin closes.
pub async fn daemon(config: &Path) -> anyhow::Result<Value> {
    let poll = load(config)?.config.sync.poll_interval;
    let mut engine = engine(config)?;
    let (tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        let _ = tx.send(());
    });
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let at = Instant::now();
                let line = match engine.cycle().await {
                    Ok(summary) => json!({"cycle": n, "summary": cycle_json(&summary)}),
                    Err(err) => json!({"cycle": n, "error": err.to_string()}),
                };
                let mut line = line;
                line["began_s"] = json!(at.duration_since(started).as_secs_f64());
                line["took_s"] = json!(at.elapsed().as_secs_f64());
                println!("{line}");
                n += 1;
            }
        }
    }
    Ok(json!({"cycles": n, "peak_rss_kib": peak_rss_kib()}))
}

/// `child scan`: truce's HubSpot full scan (the backfill's first step: list pages of 100
/// through the connector and its limiter), records counted and dropped.
pub async fn scan(config: &Path) -> anyhow::Result<Value> {
    let loaded = load(config)?;
    let settings = Settings::from_config(&loaded.config);
    let (hubspot, _) = connect::connectors(&loaded, &settings)?;
    let started = Instant::now();
    let (mut records, mut pages) = (0usize, 0usize);
    let mut resume: Option<String> = None;
    loop {
        let page = hubspot
            .scan(ObjectType::HubSpotContact, resume.as_deref())
            .await
            .context("scanning HubSpot contacts")?;
        records += page.records.len();
        pages += 1;
        match page.next {
            Some(next) => resume = Some(next),
            None => break,
        }
    }
    Ok(json!({
        "wall_s": started.elapsed().as_secs_f64(),
        "records": records,
        "pages": pages,
        "peak_rss_kib": peak_rss_kib(),
    }))
}

/// `child reconcile`: times `Engine::reconcile_all` over the state file (network
/// excluded: it only reads and writes the store), reads the peak RSS right after it, then
/// times the parts of the same work separately, to show where the time goes: reading
/// every link's view in pages, planning each link (the pure merge), and the per-link
/// point reads the merge makes.
pub async fn reconcile_bench(config: &Path) -> anyhow::Result<Value> {
    let mut engine = engine(config)?;
    let settings = Settings::from_config(&load(config)?.config);
    let started = Instant::now();
    let merged = engine.reconcile_all().context("reconcile_all")?;
    let wall = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib();

    // The parts, measured apart (after the peak was read, so they do not inflate it).
    let store = engine.store();
    let people = settings
        .pair(Pair::Contacts)
        .context("the engine scenario maps contacts")?;
    let (mut read_s, mut plan_s, mut point_s) = (0.0, 0.0, 0.0);
    let mut after = None;
    let mut links = 0u64;
    loop {
        let t = Instant::now();
        let page = store
            .reader()
            .link_views(after, 1000)
            .context("reading link views")?;
        read_s += t.elapsed().as_secs_f64();
        let Some(last) = page.last() else { break };
        after = Some(last.link.id);
        let t = Instant::now();
        for view in &page {
            let plan = reconcile::plan_link(view, people, &mut Pure).context("planning a link")?;
            std::hint::black_box(plan);
        }
        plan_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for view in &page {
            let reader = store.reader();
            std::hint::black_box(reader.link_view(view.link.id).context("link view")?);
            std::hint::black_box(reader.pending_for_link(view.link.id).context("pending")?);
        }
        point_s += t.elapsed().as_secs_f64();
        links += page.len() as u64;
    }
    Ok(json!({
        "wall_s": wall,
        "links": merged.links,
        "writes": merged.writes,
        "conflicts": merged.conflicts,
        "quarantined": merged.quarantined,
        "peak_rss_kib": peak,
        "parts": {
            "links": links,
            "read_views_in_pages_s": read_s,
            "plan_link_pure_s": plan_s,
            "point_reads_per_link_s": point_s,
        },
    }))
}

/// Runs `truce-bench child ARGS...` to the end and parses the JSON on its last stdout line.
pub async fn run(args: &[&str]) -> anyhow::Result<Value> {
    // `output()` would pipe stderr too and drop it: spawned, the child's logs (RUST_LOG)
    // reach this process's stderr as they are written.
    let output = command(args)?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting child {args:?}"))?
        .wait_with_output()
        .await
        .with_context(|| format!("running child {args:?}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        anyhow::bail!("child {args:?} failed ({}): {stdout}", output.status);
    }
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).with_context(|| format!("child {args:?} printed {last:?}"))
}

/// A running `truce-bench child daemon`, whose cycle lines the parent reads.
pub struct Daemon {
    child: Child,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Daemon {
    /// Starts the daemon child over `config`.
    pub fn start(config: &Path) -> anyhow::Result<Daemon> {
        let path = config.display().to_string();
        let mut child = command(&["daemon", "--config", &path])?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the daemon child")?;
        let stdout = child
            .stdout
            .take()
            .context("the daemon child has no stdout")?;
        Ok(Daemon {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The next JSON line (a cycle, or the final figures), waiting at most `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> anyhow::Result<Option<Value>> {
        match tokio::time::timeout(timeout, self.lines.next_line()).await {
            Err(_) => Ok(None),
            Ok(line) => {
                let Some(line) = line.context("reading the daemon child")? else {
                    anyhow::bail!("the daemon child ended early");
                };
                Ok(Some(serde_json::from_str(&line).with_context(|| {
                    format!("the daemon child printed {line:?}")
                })?))
            }
        }
    }

    /// Closes its stdin and returns its final figures (peak RSS).
    pub async fn stop(mut self) -> anyhow::Result<Value> {
        drop(self.child.stdin.take());
        let mut last = Value::Null;
        while let Some(line) = self.lines.next_line().await.context("reading the daemon")? {
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                last = value;
            }
        }
        let status = self
            .child
            .wait()
            .await
            .context("waiting for the daemon child")?;
        if !status.success() {
            anyhow::bail!("the daemon child failed ({status})");
        }
        Ok(last)
    }
}

fn command(args: &[&str]) -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("finding truce-bench's own path")?;
    let mut command = Command::new(exe);
    command.arg("child").args(args);
    Ok(command)
}
