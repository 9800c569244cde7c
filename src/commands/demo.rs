//! `truce demo`: the product end to end against built-in sandboxes, with no config.
//!
//! The thin CLI part of [`crate::demo`]: build the world, load its config with the real
//! loader, backfill, run the real daemon loop while the scripted teams edit, write the
//! funnel page, print the summary, and optionally keep the sandboxes up for experiments.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use truce_connectors::{ObjectType, System};
use truce_state::Store;

use crate::cli::{DemoArgs, Global};
use crate::config;
use crate::connect;
use crate::daemon::{self, Notifier};
use crate::demo::{Report, Totals, World, spawn_teams};
use crate::engine::settings::Settings;
use crate::engine::{Engine, Progress, system_clock};
use crate::funnel;

/// Runs the demo for `--duration` or until Ctrl-C.
pub async fn run(_global: &Global, args: &DemoArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "truce-demo-{}-{}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        std::process::id()
    ));
    let world = World::demo(&dir, args.seed)
        .await
        .context("building the demo's world")?;
    let seeded = &world.seeded;
    println!("truce demo (seed {})", args.seed);
    println!(
        "  HubSpot sandbox     {}  {} contacts",
        world.hubspot_served.url(),
        seeded.hubspot
    );
    println!(
        "  Salesforce sandbox  {}  {} Leads, {} Contacts",
        world.salesforce_served.url(),
        seeded.leads,
        seeded.contacts
    );
    println!(
        "  {} people in both systems, {} of them with different values on each side",
        seeded.shared.len(),
        seeded.conflicting.len()
    );
    println!(
        "  {} HubSpot companies and {} Accounts, some the same company, some on one side \
         only; {} Opportunities ({} won)",
        seeded.companies, seeded.accounts, seeded.opportunities, seeded.won
    );
    println!("  config              {}", world.config_path.display());
    println!("  state file          {}", world.state_path.display());
    println!(
        "\nBackfill: link people by email and companies through them, make deals from \
         Opportunities, merge field by field, write both ways."
    );

    let loaded = config::load(&world.config_path)?;
    let settings = Settings::from_config(&loaded.config);
    let (hubspot, salesforce) = connect::connectors(&loaded, &settings)?;
    let store = Store::open(&world.state_path)?;
    let mut engine = Engine::new(store, hubspot, salesforce, settings, system_clock());
    let backfill = engine
        .backfill(&Phases, true)
        .await
        .context("the demo's backfill failed")?;
    let mut totals = Totals::default();
    totals.add_backfill(&backfill);
    println!(
        "Backfill done: {} + {} records read, {} links, {} written to HubSpot, {} to \
         Salesforce, {} conflicts, {} quarantined.",
        backfill.scanned_hubspot,
        backfill.scanned_salesforce,
        engine.store().reader().status()?.links_active,
        backfill.to_hubspot.written,
        backfill.to_salesforce.written,
        backfill.merge.conflicts,
        backfill.merge.quarantined
            + backfill.to_salesforce.quarantined
            + backfill.to_hubspot.quarantined,
    );
    println!(
        "\nLive for {} s (Ctrl-C to stop early): marketing works in HubSpot, sales in \
         Salesforce, truce polls every {} s.",
        args.duration.as_secs(),
        loaded.config.sync.poll_interval.as_secs()
    );

    let stop = daemon::stop_on_signals().context("installing signal handlers")?;
    let timer = {
        let stop = stop.clone();
        let duration = args.duration;
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(duration) => stop.cancel(),
            }
        })
    };
    let started = Instant::now();
    let teams = spawn_teams(&world, args.seed, stop.clone());
    daemon::run_observed(
        &mut engine,
        loaded.config.sync.poll_interval,
        &Notifier::default(),
        stop,
        |summary| totals.add_cycle(summary),
    )
    .await;
    let seconds = started.elapsed().as_secs();
    let tally = teams
        .await
        .context("the scripted teams stopped abnormally")?;
    timer.abort();
    // The teams' last edits came after the last poll: one more cycle brings them in, so the
    // summary describes a settled world.
    match engine.cycle().await {
        Ok(summary) => totals.add_cycle(&summary),
        Err(err) => tracing::error!(error = %err, "the closing cycle failed"),
    }
    let funnel_page = world.dir.join("funnel.html");
    write_funnel(engine.store(), &world.state_path, &funnel_page)?;
    let report = Report::gather(&world, engine.store(), totals, tally, seconds, funnel_page)?;
    print!("{report}");
    // Closes the connectors' pooled connections, so the sandboxes' graceful shutdown below
    // does not wait for idle keep-alives.
    drop(engine);

    if args.keep {
        println!(
            "\n--keep: the sandboxes keep serving until Ctrl-C (the daemon has stopped).\n\
             HubSpot sandbox\n  base_url = \"{}\"\n  token    = {}\n{}\n\
             Run truce against them:  truce run --config {}",
            world.hubspot_served.url(),
            world.hubspot.token(),
            world.salesforce.banner(&world.salesforce_served.url()),
            world.config_path.display()
        );
        let again = daemon::stop_on_signals().context("installing signal handlers")?;
        again.cancelled().await;
    }
    world.hubspot_served.shutdown().await;
    world.salesforce_served.shutdown().await;
    Ok(())
}

/// Writes the funnel of the last 90 days as a page, as `truce funnel --html` does.
fn write_funnel(store: &Store, state: &Path, page: &Path) -> anyhow::Result<()> {
    let until = chrono::Utc::now().timestamp_millis();
    let since = until - 90 * 86_400_000;
    let entries = funnel::gather(&store.reader(), since, until).context("counting the funnel")?;
    let funnel = funnel::Funnel::from_entries(since, until, &entries);
    std::fs::write(
        page,
        funnel::html::page(&funnel, &state.display().to_string()),
    )
    .with_context(|| format!("writing the funnel page to {}", page.display()))
}

/// The backfill's phases as INFO lines; the demo's world is small enough to need no bars.
struct Phases;

impl Progress for Phases {
    fn scanned(&self, _: System, _: ObjectType, _: u64) {}

    fn phase(&self, name: &str) {
        tracing::info!(phase = name, "backfill");
    }
}
