//! `truce run`: the daemon.

use anyhow::Context;
use truce_connectors::ObjectType;
use truce_state::Store;

use crate::cli::Global;
use crate::config;
use crate::connect;
use crate::daemon::{self, Notifier};
use crate::engine::settings::Settings;
use crate::engine::{Engine, system_clock};
use crate::metrics;

/// Loads the config, migrates the store, checks both APIs answer, starts the metrics
/// listener when `[metrics] listen` asks for one, reports READY, and polls until SIGTERM or
/// SIGINT.
pub async fn run(global: &Global) -> anyhow::Result<()> {
    let loaded = config::load(&global.config)?;
    let state_path = global
        .state
        .clone()
        .unwrap_or_else(|| loaded.config.state.path.clone());
    let store = Store::open(&state_path)?;
    let settings = Settings::from_config(&loaded.config);
    let (hubspot, salesforce) = connect::connectors(&loaded, &settings)?;
    hubspot
        .describe(ObjectType::HubSpotContact)
        .await
        .context("HubSpot did not answer; check [hubspot] base_url and the token")?;
    salesforce
        .describe(ObjectType::SalesforceLead)
        .await
        .context(
            "Salesforce did not answer; check [salesforce] login_url and the app credentials",
        )?;
    let stop = daemon::stop_on_signals().context("installing signal handlers")?;
    let metrics = metrics::start(&loaded.config, &state_path, &hubspot, &salesforce, &stop).await?;
    let notifier = Notifier::from_env();
    notifier.notify("READY=1\nSTATUS=both APIs answered; syncing");
    tracing::info!(
        config = %loaded.path.display(),
        state = %state_path.display(),
        poll_interval_s = loaded.config.sync.poll_interval.as_secs(),
        "truce started"
    );
    let mut engine = Engine::new(store, hubspot, salesforce, settings, system_clock());
    if let Some(metrics) = &metrics {
        engine = engine.with_observer(metrics.clone());
    }
    daemon::run_reporting(
        &mut engine,
        loaded.config.sync.poll_interval,
        &notifier,
        stop,
        |ended| {
            if let Some(metrics) = &metrics {
                metrics.ended(ended);
            }
        },
    )
    .await;
    Ok(())
}
