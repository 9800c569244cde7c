//! Metrics and health for fleets: `truce run` serves `/metrics` (OpenMetrics) and
//! `/healthz` on `[metrics] listen` (docs/operations.md, *Metrics* and *Health*).
//!
//! [`Metrics`] owns the registry and gathers three kinds of value, each from where it is
//! true:
//!
//! | source | families | when |
//! |---|---|---|
//! | the engine's events ([`Observer`]) | cycles, cycle duration, records pulled, writes, conflicts, SLA findings | as they happen |
//! | the state file ([`store`]) | outbox depth, quarantined | after each cycle |
//! | the connectors and the pull clock ([`live`]) | API calls, quota remaining, lag | at each scrape |
//!
//! `/healthz` ([`health`]) follows the daemon's cycles, which the daemon reports through
//! [`Metrics::ended`]. The listener ([`server`]) runs beside the daemon loop and stops with
//! its cancellation token. Only `truce run` starts any of this; the other commands never
//! listen.
//!
//! Nothing exported names a record: labels are systems, object pairs, mapped HubSpot
//! property names and rule names, so no email and no secret can reach a scrape, and the
//! series count does not grow with the number of links ([`families`]).

pub mod families;
pub mod health;
pub mod live;
pub mod server;
pub mod store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use truce_connectors::{Connector, System};

use self::families::{ConflictLabels, Families, KindLabel, PulledLabels, WriteLabels};
use self::health::Health;
use self::live::{Live, PullClock};
use self::store::StoreGauges;
use crate::check::Line;
use crate::config::{Config, MetricsSection};
use crate::daemon::Ended;
use crate::engine::CycleSummary;
use crate::engine::observe::{Observer, WriteOutcomeKind};
use crate::engine::pair::Pair;

/// The text formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, for scrapers that ask for it.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4.
    PrometheusText,
}

/// Everything `/metrics` and `/healthz` report, fed by the engine, the daemon and the store.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    families: Families,
    pulls: Arc<PullClock>,
    health: Health,
    /// Asks the store reader for a fresh backlog (after each cycle).
    refresh: Arc<Notify>,
}

impl Metrics {
    /// Metrics for a daemon syncing `pairs` and polling every `poll_interval` through these
    /// connectors.
    pub fn new(
        hubspot: Arc<dyn Connector>,
        salesforce: Arc<dyn Connector>,
        pairs: &[&str],
        poll_interval: Duration,
    ) -> Metrics {
        let mut registry = Registry::default();
        let families = Families::register(&mut registry, pairs);
        let pulls = Arc::new(PullClock::new());
        registry.register_collector(Box::new(Live {
            connectors: vec![(System::HubSpot, hubspot), (System::Salesforce, salesforce)],
            pulls: pulls.clone(),
        }));
        Metrics {
            registry,
            families,
            pulls,
            health: Health::new(poll_interval),
            refresh: Arc::new(Notify::new()),
        }
    }

    /// The scrape, in `format`.
    pub fn encode(&self, format: Format) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)?
            }
            Format::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?
            }
        }
        Ok(out)
    }

    /// Starts `truce_sla_findings_total` at zero for each kind, for a daemon watching an
    /// SLA: an alert on its increase then works from the first finding on.
    pub fn watching_sla(&self) {
        for kind in ["breached", "discarded_untouched"] {
            self.families
                .sla_findings
                .get_or_create(&KindLabel { kind })
                .inc_by(0);
        }
    }

    /// What `/healthz` answers from.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The daemon finished (or failed) a cycle: health follows it, and the store's backlog
    /// is read again.
    pub fn ended(&self, ended: Ended<'_>) {
        match ended {
            Ended::Done(_) => self.health.done(Instant::now()),
            Ended::Failed(err) => self.health.failed(&error_chain(err)),
        }
        self.refresh.notify_one();
    }

    /// The gauges read from the state file at `path`, refreshed after each cycle.
    fn store_gauges(&self, path: &Path) -> StoreGauges {
        StoreGauges {
            path: path.to_path_buf(),
            outbox_depth: self.families.outbox_depth.clone(),
            quarantined: self.families.quarantined.clone(),
        }
    }
}

/// The error and its causes on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

impl Observer for Metrics {
    fn pulled(&self, system: System, pair: &str, records: u64) {
        self.pulls.pulled(system, Instant::now());
        self.families
            .pulled
            .get_or_create(&PulledLabels {
                system: system.as_str(),
                object: pair.to_string(),
            })
            .inc_by(records);
    }

    fn wrote(&self, system: System, pair: &str, outcome: WriteOutcomeKind, count: u64) {
        self.families
            .writes
            .get_or_create(&WriteLabels {
                system: system.as_str(),
                object: pair.to_string(),
                outcome: outcome.as_str(),
            })
            .inc_by(count);
    }

    fn conflict(&self, pair: &str, field: &str, rule: &str) {
        self.families
            .conflicts
            .get_or_create(&ConflictLabels {
                object: pair.to_string(),
                field: field.to_string(),
                rule: rule.to_string(),
            })
            .inc();
    }

    fn sla_finding(&self, kind: &'static str) {
        self.families
            .sla_findings
            .get_or_create(&KindLabel { kind })
            .inc();
    }

    fn cycle(&self, _summary: &CycleSummary, took: Duration) {
        self.families.cycles.inc();
        self.families.cycle_duration.observe(took.as_secs_f64());
    }
}

/// Binds `[metrics] listen` (when set) and starts serving beside the daemon until `stop`;
/// `None` when the config asks for no listener. A port that cannot be bound stops `truce
/// run` before it reports READY.
pub async fn start(
    config: &Config,
    state_path: &Path,
    hubspot: &Arc<dyn Connector>,
    salesforce: &Arc<dyn Connector>,
    stop: &CancellationToken,
) -> anyhow::Result<Option<Arc<Metrics>>> {
    let Some(addr) = config.metrics.address() else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen for metrics on {addr} ([metrics] listen); is another process using the port?")
    })?;
    let pairs: Vec<&str> = Pair::ALL
        .into_iter()
        .filter(|p| *p == Pair::Contacts || config.sync.objects.contains(p))
        .map(Pair::as_str)
        .collect();
    let metrics = Arc::new(Metrics::new(
        hubspot.clone(),
        salesforce.clone(),
        &pairs,
        config.sync.poll_interval,
    ));
    if config.sla.is_some() {
        metrics.watching_sla();
    }
    tokio::spawn(
        metrics
            .store_gauges(state_path)
            .run(metrics.refresh.clone(), stop.clone()),
    );
    tokio::spawn(server::serve(listener, metrics.clone(), stop.clone()));
    tracing::info!(address = %addr, "serving /metrics and /healthz");
    Ok(Some(metrics))
}

/// `truce check`'s line about `[metrics]`: where the daemon will listen and whether that
/// address can be bound now (`None` when no listener is configured).
pub fn check_line(section: &MetricsSection) -> Option<Line> {
    let addr = section.address()?;
    Some(bind_verdict(
        addr,
        std::net::TcpListener::bind(addr).map(drop),
    ))
}

fn bind_verdict(addr: SocketAddr, bound: std::io::Result<()>) -> Line {
    let serves = format!("metrics: truce run serves http://{addr}/metrics and /healthz");
    match bound {
        Ok(()) => Line::ok(format!("{serves}; the address can be bound")),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => Line::warn(format!(
            "{serves}, but {addr} is in use now: by the running truce, that is expected; \
             otherwise truce run will fail to start until the port is free"
        )),
        Err(err) => Line::fail(format!(
            "{serves}, but {addr} cannot be bound: {err}; pick another [metrics] listen address"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
