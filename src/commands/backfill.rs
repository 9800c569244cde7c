//! `truce backfill`: the one-shot full reconcile, its progress display, and `--dry-run`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use truce_connectors::{ObjectType, System};
use truce_state::{Store, WriteOp};

use super::state_file::show;
use crate::cli::{BackfillArgs, Global};
use crate::config::{self, Pair};
use crate::connect;
use crate::engine::backfill::BackfillSummary;
use crate::engine::settings::Settings;
use crate::engine::{Engine, Progress, system_clock};

/// Runs the backfill, or with `--dry-run` plans it against a scratch copy of the store.
pub async fn run(global: &Global, args: &BackfillArgs) -> anyhow::Result<()> {
    let loaded = config::load(&global.config)?;
    let synced = |pair: &Pair| *pair == Pair::Contacts || loaded.config.sync.objects.contains(pair);
    let only = match args.object.as_deref() {
        None => None,
        Some(name) => match Pair::parse(name).filter(synced) {
            Some(pair) => Some(pair),
            None => {
                let names: Vec<&str> = Pair::ALL
                    .into_iter()
                    .filter(synced)
                    .map(Pair::as_str)
                    .collect();
                bail!(
                    "--object {name}: not an object pair this config syncs; give one of: {} \
                     ([sync] objects adds companies and deals)",
                    names.join(", ")
                );
            }
        },
    };
    let state_path = global
        .state
        .clone()
        .unwrap_or_else(|| loaded.config.state.path.clone());
    let settings = Settings::from_config(&loaded.config);
    let (hubspot, salesforce) = connect::connectors(&loaded, &settings)?;
    let progress = Display::new();
    if args.dry_run {
        let scratch = scratch_copy(&state_path)?;
        let store = Store::open(&scratch.0)?;
        let mut engine = Engine::new(store, hubspot, salesforce, settings, system_clock());
        let summary = engine.backfill_pairs(&progress, false, only).await;
        progress.finish();
        let summary = summary?;
        print_plan(&engine, &summary)?;
        let plans = super::backfill_plan::count(&engine.store().reader(), engine.settings())?;
        print!("{}", super::backfill_plan::render(&plans));
        return Ok(());
    }
    let store = Store::open(&state_path)?;
    let mut engine = Engine::new(store, hubspot, salesforce, settings, system_clock());
    let summary = engine.backfill_pairs(&progress, true, only).await;
    progress.finish();
    let summary = summary?;
    print_done(&engine, &summary, &state_path)?;
    Ok(())
}

/// A scratch copy of the state file (or a fresh scratch file), removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(path));
        }
    }
}

fn scratch_copy(state: &Path) -> anyhow::Result<Scratch> {
    let name = format!(
        "truce-dry-run-{}-{}.db",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let scratch = Scratch(std::env::temp_dir().join(name));
    if state.exists() {
        Store::open_existing(state)?
            .copy_to(&scratch.0)
            .with_context(|| format!("copying {} for the dry run", state.display()))?;
    }
    Ok(scratch)
}

fn print_plan(engine: &Engine, summary: &BackfillSummary) -> anyhow::Result<()> {
    let reader = engine.store().reader();
    let status = reader.status()?;
    println!("backfill plan (dry run: nothing was written to either API)");
    println!(
        "  read        {} HubSpot records, {} Salesforce records ({} scan calls)",
        summary.scanned_hubspot, summary.scanned_salesforce, summary.scan_pages
    );
    println!(
        "  links       {} ({} matched by email, {} waiting for a create)",
        status.links_active, summary.merge.linked, summary.merge.creates
    );
    let pending = reader.pending_summary()?;
    let (mut hubspot_calls, mut salesforce_collections) = (0i64, 0i64);
    if pending.is_empty() {
        println!("  writes      none: both sides already agree");
    }
    for p in &pending {
        println!(
            "  {:<11} {} {} {}",
            match p.op {
                WriteOp::Create => "create",
                WriteOp::Update => "update",
                WriteOp::Delete => "delete",
            },
            p.count,
            p.system,
            p.object
        );
        match p.system.as_str() {
            "hubspot" => hubspot_calls += (p.count + 99) / 100,
            _ => salesforce_collections += (p.count + 199) / 200,
        }
    }
    println!(
        "  API calls   {} to HubSpot (batches of 100), {} to Salesforce (five 200-record \
         collections per composite call)",
        hubspot_calls,
        (salesforce_collections + 4) / 5
    );
    let conflicts = reader.conflicts(0, None)?;
    println!(
        "  conflicts   {} (decided by each field's rule)",
        conflicts.len()
    );
    for c in conflicts.iter().take(10) {
        println!(
            "              {} {}: hubspot {} vs salesforce {} -> {} ({})",
            c.email,
            c.field,
            show(&c.hubspot_value),
            show(&c.salesforce_value),
            c.winner,
            c.rule
        );
    }
    if summary.merge.duplicates > 0 {
        println!(
            "  duplicates  {} emails with several records on one side (not linked)",
            summary.merge.duplicates
        );
    }
    if summary.merge.quarantined > 0 {
        println!(
            "  quarantine  {} records with values that cannot be mapped",
            summary.merge.quarantined
        );
    }
    Ok(())
}

fn print_done(engine: &Engine, summary: &BackfillSummary, path: &Path) -> anyhow::Result<()> {
    let status = engine.store().reader().status()?;
    println!("backfill complete ({})", path.display());
    println!(
        "  read        {} HubSpot contacts, {} Salesforce records",
        summary.scanned_hubspot, summary.scanned_salesforce
    );
    println!("  links       {}", status.links_active);
    println!(
        "  written     {} to HubSpot ({} created), {} to Salesforce ({} created)",
        summary.to_hubspot.written,
        summary.to_hubspot.created,
        summary.to_salesforce.written,
        summary.to_salesforce.created
    );
    println!("  conflicts   {}", summary.merge.conflicts);
    println!(
        "  quarantine  {} open, {} retrying (see `truce status`)",
        status.quarantine_open,
        summary.to_hubspot.retrying + summary.to_salesforce.retrying
    );
    Ok(())
}

/// Records per second, rounded: the default shows a dozen decimals.
fn rate(state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = write!(out, "{:.0}/s", state.per_sec());
}

/// One bar per scanned object, and one per system written to.
type Bars = (MultiProgress, Mutex<Vec<(String, ProgressBar)>>);

/// Progress: bars on a terminal, a line every few seconds otherwise.
struct Display {
    bars: Option<Bars>,
    /// When each stream (a scan, or one system's writes) last had an INFO line: both
    /// systems work side by side, and each gets its own line every 5 s.
    last_line: Mutex<BTreeMap<String, Instant>>,
}

impl Display {
    fn new() -> Display {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| (MultiProgress::new(), Mutex::new(Vec::new())));
        Display {
            bars,
            last_line: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether `stream` is due an INFO line: its first report, 5 s after its last, or `last`.
    fn line_due(&self, stream: &str, last: bool) -> bool {
        let Ok(mut lines) = self.last_line.lock() else {
            return false;
        };
        let now = Instant::now();
        match lines.get(stream) {
            Some(at) if now.duration_since(*at) < Duration::from_secs(5) && !last => false,
            _ => {
                lines.insert(stream.to_string(), now);
                true
            }
        }
    }

    fn finish(&self) {
        if let Some((_, bars)) = &self.bars
            && let Ok(bars) = bars.lock()
        {
            for (_, bar) in bars.iter() {
                bar.finish();
            }
        }
    }
}

impl Progress for Display {
    fn scanned(&self, system: System, object: ObjectType, total: u64) {
        match &self.bars {
            Some((multi, bars)) => {
                let Ok(mut bars) = bars.lock() else { return };
                let key = format!("scan {}", object.as_str());
                let bar = match bars.iter().find(|(k, _)| *k == key) {
                    Some((_, bar)) => bar.clone(),
                    None => {
                        let bar = multi.add(ProgressBar::new_spinner());
                        bar.set_style(
                            ProgressStyle::with_template(
                                "{spinner} {prefix:<22} {human_pos:>9} records  {rate:>9}  {elapsed}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_spinner())
                            .with_key("rate", rate),
                        );
                        bar.set_prefix(format!("{} {}", system.label(), object.as_str()));
                        bar.enable_steady_tick(Duration::from_millis(200));
                        bars.push((key, bar.clone()));
                        bar
                    }
                };
                bar.set_position(total);
            }
            None => {
                if self.line_due(&format!("scan {}", object.as_str()), false) {
                    tracing::info!(
                        system = system.as_str(),
                        object = object.as_str(),
                        records = total,
                        "backfill scanning"
                    );
                }
            }
        }
    }

    fn wrote(&self, system: System, done: u64, total: u64) {
        match &self.bars {
            Some((multi, bars)) => {
                let Ok(mut bars) = bars.lock() else { return };
                let key = format!("write {}", system.as_str());
                let bar = match bars.iter().find(|(k, _)| *k == key) {
                    Some((_, bar)) => bar.clone(),
                    None => {
                        let bar = multi.add(ProgressBar::new(total));
                        bar.set_style(
                            ProgressStyle::with_template(
                                "{prefix:<24} [{bar:30}] {human_pos}/{human_len} writes  {rate:>9}  ETA {eta}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .with_key("rate", rate)
                            .progress_chars("=> "),
                        );
                        bar.set_prefix(format!("writing to {}", system.label()));
                        bars.push((key, bar.clone()));
                        bar
                    }
                };
                bar.set_length(total);
                bar.set_position(done);
            }
            None => {
                if self.line_due(&format!("write {}", system.as_str()), done == total) {
                    tracing::info!(system = system.as_str(), done, total, "backfill writing");
                }
            }
        }
    }

    fn phase(&self, name: &str) {
        match &self.bars {
            Some((multi, bars)) => {
                // Scanning is over once linking starts: stop the spinners.
                if let Ok(bars) = bars.lock() {
                    for (key, bar) in bars.iter() {
                        if key.starts_with("scan ") {
                            bar.finish();
                        }
                    }
                }
                let _ = multi.println(format!("backfill: {name}"));
            }
            None => tracing::info!(phase = name, "backfill"),
        }
    }
}
