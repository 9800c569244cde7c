//! `truce-bench`: how truce performs against the sandboxes configured like real tiers.
//!
//! ```text
//! cargo run --release --bin truce-bench -- [SCENARIO] [--records N[,N...]] [--json PATH]
//!     [--latency MIN-MAX]
//! ```
//!
//! Scenarios: `backfill`, `steady`, `engine`, `faults`, `side`, or `all` (the default), and
//! `revenue` (contacts, companies and deals; not part of `all`).
//! Each prints a table; `--json PATH` writes every scenario's figures to one file. Figures,
//! not timed tests: nothing fails when a target is missed, the table says so. The
//! harness itself is this crate's library (`truce_bench`); the `child` sub-command is how
//! it measures truce in a process of its own (hidden: not for people). With `RUST_LOG` set
//! (for example `RUST_LOG=truce=debug,truce_connectors=debug`), every process logs to
//! stderr.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};
use truce_bench::{Report, child, scenarios, settle};

#[derive(Debug, Parser)]
#[command(
    name = "truce-bench",
    about = "Benchmarks truce against the HubSpot and Salesforce sandboxes under real-tier limits",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Which scenario to run.
    #[arg(value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,
    /// Records per side (backfill, steady, faults, side), or links for `engine`; a
    /// comma-separated list runs `engine` once per size. Default: 10,000 (engine: 100,000).
    #[arg(long, value_delimiter = ',')]
    records: Vec<String>,
    /// Write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Steady state: how many edits.
    #[arg(long, default_value_t = 1000)]
    edits: usize,
    /// Steady state: edits per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Steady state: the daemon's poll interval, in seconds.
    #[arg(long, default_value_t = 15)]
    poll: u64,
    /// Backfill: both sandboxes wait MIN to MAX ms (seeded, uniform) before they see each
    /// request, for the backfill and its settle cycles.
    #[arg(long, value_parser = settle::parse_latency)]
    latency: Option<(u64, u64)>,
    #[command(subcommand)]
    child: Option<ChildCommand>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// 1. Backfill of N + N records, half shared, under HubSpot Professional limits.
    Backfill,
    /// 2. Propagation latency and idle cost after a backfill.
    Steady,
    /// 3. reconcile_all throughput and peak RSS, network excluded.
    Engine,
    /// 4. The backfill with 5xx, 429 and dropped connections, against a clean run.
    Faults,
    /// 5. truce's HubSpot full scan against the Python SDK's paging loop.
    Side,
    /// Backfill of N contacts, N/5 companies and N/2 deals with associations, and the
    /// association sweep after it (not part of `all`).
    Revenue,
    /// Every scenario, in order.
    All,
}

#[derive(Debug, Subcommand)]
enum ChildCommand {
    /// Measured work in a process of its own (used by the scenarios).
    #[command(hide = true)]
    Child {
        #[command(subcommand)]
        kind: ChildKind,
    },
}

#[derive(Debug, Subcommand)]
enum ChildKind {
    Backfill {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value_t = 0)]
        restarts: u32,
    },
    Settle {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value_t = 10)]
        max_cycles: u32,
    },
    CatchUp {
        #[arg(long)]
        config: PathBuf,
    },
    Daemon {
        #[arg(long)]
        config: PathBuf,
    },
    Scan {
        #[arg(long)]
        config: PathBuf,
    },
    Reconcile {
        #[arg(long)]
        config: PathBuf,
    },
}

fn parse_count(text: &str) -> anyhow::Result<usize> {
    text.replace(['_', ','], "")
        .parse()
        .with_context(|| format!("--records: {text:?} is not a number"))
}

async fn run_child(kind: ChildKind) -> anyhow::Result<Value> {
    match kind {
        ChildKind::Backfill { config, restarts } => child::backfill(&config, restarts).await,
        ChildKind::Settle { config, max_cycles } => child::settle(&config, max_cycles).await,
        ChildKind::CatchUp { config } => settle::catch_up(&config).await,
        ChildKind::Daemon { config } => child::daemon(&config).await,
        ChildKind::Scan { config } => child::scan(&config).await,
        ChildKind::Reconcile { config } => child::reconcile_bench(&config).await,
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(ChildCommand::Child { kind }) = cli.child {
        let figures = run_child(kind).await?;
        println!("{figures}");
        return Ok(());
    }
    let sizes: Vec<usize> = cli
        .records
        .iter()
        .map(|r| parse_count(r))
        .collect::<anyhow::Result<_>>()?;
    let n = sizes.first().copied().unwrap_or(10_000);
    let engine_sizes = if sizes.is_empty() {
        vec![100_000]
    } else {
        sizes.clone()
    };
    // The repository root: the scenarios read `bench/*.py` and `tests/compat/` from it.
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let wanted = |s: Scenario| cli.scenario == s || cli.scenario == Scenario::All;
    let mut reports: Vec<Report> = Vec::new();
    let show = |report: Report, reports: &mut Vec<Report>| {
        println!("{}", report.render());
        reports.push(report);
    };
    if wanted(Scenario::Backfill) {
        show(scenarios::backfill(n, cli.latency).await?, &mut reports);
    }
    if wanted(Scenario::Steady) {
        show(
            scenarios::steady(n, cli.edits, cli.rate, cli.poll).await?,
            &mut reports,
        );
    }
    if wanted(Scenario::Engine) {
        show(scenarios::engine(&engine_sizes).await?, &mut reports);
    }
    if wanted(Scenario::Faults) {
        show(scenarios::faults(n).await?, &mut reports);
    }
    if wanted(Scenario::Side) {
        show(scenarios::side_by_side(n, &root).await?, &mut reports);
    }
    if cli.scenario == Scenario::Revenue {
        let size = truce_bench::revenue::Size::for_contacts(n);
        show(truce_bench::revenue::revenue(size).await?, &mut reports);
    }
    if let Some(path) = &cli.json {
        let out: serde_json::Map<String, Value> = reports
            .iter()
            .map(|r| {
                (
                    r.scenario.clone(),
                    json!({
                        "figures": r.figures,
                        "tables": r.tables.iter().map(|t| t.markdown()).collect::<Vec<_>>(),
                        "notes": r.notes,
                    }),
                )
            })
            .collect();
        let text = serde_json::to_string_pretty(&Value::Object(out))?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Quiet by default (the tables are the output); `RUST_LOG=truce=debug` shows what the
    // engine and connectors do, on stderr, in every process of the run.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("truce-bench: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
