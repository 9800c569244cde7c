//! The metric families truce exports. Their names and labels are a contract
//! (docs/operations.md, *Metrics*): dashboards, alerts and `deploy/grafana/truce.json` name them, so
//! they change only on purpose.
//!
//! Counters are registered without their `_total` suffix and histograms and second-valued
//! gauges with their unit: the encoder adds both, which is how the exported names come out
//! exactly as the contract spells them ([`NAMES`]).
//!
//! Label values are system names, object pair names, HubSpot property names from the config
//! and rule names: a small, fixed set per tenant. Nothing per record or per link is ever a
//! label, so a tenant of 100,000 links exports the same few dozen series as one of ten.

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use truce_connectors::System;

/// Every metric name truce exports, as a query names it.
pub const NAMES: [&str; 12] = [
    "truce_build_info",
    "truce_cycles_total",
    "truce_cycle_duration_seconds",
    "truce_records_pulled_total",
    "truce_writes_total",
    "truce_conflicts_total",
    "truce_quarantined",
    "truce_outbox_depth",
    "truce_api_calls_total",
    "truce_api_quota_remaining",
    "truce_lag_seconds",
    "truce_sla_findings_total",
];

/// Both systems, in label order.
pub const SYSTEMS: [System; 2] = [System::HubSpot, System::Salesforce];

/// The write outcomes `truce_writes_total` counts.
pub const OUTCOMES: [&str; 3] = ["ok", "retry", "quarantined"];

/// Cycle durations: an idle poll takes a fraction of a second, a catch-up after an outage
/// or a large edit burst minutes (systemd's watchdog stops a cycle at 120 s).
const CYCLE_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// `{version}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    /// truce's version.
    pub version: &'static str,
}

/// `{system}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SystemLabel {
    /// `hubspot` or `salesforce`.
    pub system: &'static str,
}

/// `{system,object}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PulledLabels {
    /// `hubspot` or `salesforce`.
    pub system: &'static str,
    /// The object pair (`contacts`).
    pub object: String,
}

/// `{system,object,outcome}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// The system written to.
    pub system: &'static str,
    /// The object pair.
    pub object: String,
    /// `ok`, `retry` or `quarantined`.
    pub outcome: &'static str,
}

/// `{object,field,rule}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConflictLabels {
    /// The object pair.
    pub object: String,
    /// The HubSpot property (the mapping's name in the config and the log).
    pub field: String,
    /// The rule that decided.
    pub rule: String,
}

/// `{kind}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `breached` or `discarded_untouched`.
    pub kind: &'static str,
}

/// A metric whose description is exported even before it has a sample, so every name of
/// the contract is in the first scrape (an empty family is otherwise left out).
#[derive(Debug)]
struct Declared<M>(M);

impl<M: EncodeMetric> EncodeMetric for Declared<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
}

/// The families truce keeps itself: counted from the engine's events, or set from the
/// store after each cycle. (API calls, quota and lag are read at scrape time instead; see
/// `live.rs`.)
#[derive(Debug, Clone)]
pub struct Families {
    /// `truce_cycles_total`
    pub cycles: Counter,
    /// `truce_cycle_duration_seconds`
    pub cycle_duration: Histogram,
    /// `truce_records_pulled_total{system,object}`
    pub pulled: Family<PulledLabels, Counter>,
    /// `truce_writes_total{system,object,outcome}`
    pub writes: Family<WriteLabels, Counter>,
    /// `truce_conflicts_total{object,field,rule}`
    pub conflicts: Family<ConflictLabels, Counter>,
    /// `truce_quarantined{system}`
    pub quarantined: Family<SystemLabel, Gauge>,
    /// `truce_outbox_depth{system}`
    pub outbox_depth: Family<SystemLabel, Gauge>,
    /// `truce_sla_findings_total{kind}`: counted from the SLA watch's findings.
    pub sla_findings: Family<KindLabel, Counter>,
}

impl Families {
    /// Creates every family and registers it with `registry`.
    /// Registers every family; the pulled and written counters of each synced pair (`pairs`)
    /// start at zero, so a `rate()` or an alert on them works from the first scrape.
    pub fn register(registry: &mut Registry, pairs: &[&str]) -> Families {
        let families = Families {
            cycles: Counter::default(),
            cycle_duration: Histogram::new(CYCLE_BUCKETS),
            pulled: Family::default(),
            writes: Family::default(),
            conflicts: Family::default(),
            quarantined: Family::default(),
            outbox_depth: Family::default(),
            sla_findings: Family::default(),
        };
        registry.register(
            "truce_build",
            "The running truce's version (always 1)",
            Info::new(VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        registry.register(
            "truce_cycles",
            "Sync cycles finished (failed cycles are not counted; /healthz reports them)",
            families.cycles.clone(),
        );
        registry.register_with_unit(
            "truce_cycle_duration",
            "How long each finished sync cycle took",
            Unit::Seconds,
            families.cycle_duration.clone(),
        );
        registry.register(
            "truce_records_pulled",
            "Records pulled from each system and recorded in the change log, look-back re-reads included",
            Declared(families.pulled.clone()),
        );
        registry.register(
            "truce_writes",
            "Writes sent to each system, by how they ended: ok, retry (tried again later) or quarantined",
            Declared(families.writes.clone()),
        );
        registry.register(
            "truce_conflicts",
            "Conflicts decided, by field (HubSpot property) and rule",
            Declared(families.conflicts.clone()),
        );
        registry.register(
            "truce_quarantined",
            "Quarantine entries waiting for an admin (truce status lists them; truce retry re-queues)",
            Declared(families.quarantined.clone()),
        );
        registry.register(
            "truce_outbox_depth",
            "Writes planned and not yet confirmed by each system",
            Declared(families.outbox_depth.clone()),
        );
        registry.register(
            "truce_sla_findings",
            "SLA findings (breached, discarded_untouched) reported",
            Declared(families.sla_findings.clone()),
        );
        families.start_at_zero(pairs);
        families
    }

    /// Creates the series every tenant has, at zero.
    fn start_at_zero(&self, pairs: &[&str]) {
        for system in SYSTEMS {
            let system = system.as_str();
            self.quarantined
                .get_or_create(&SystemLabel { system })
                .set(0);
            self.outbox_depth
                .get_or_create(&SystemLabel { system })
                .set(0);
            for object in pairs {
                let object = object.to_string();
                self.pulled
                    .get_or_create(&PulledLabels {
                        system,
                        object: object.clone(),
                    })
                    .inc_by(0);
                for outcome in OUTCOMES {
                    self.writes
                        .get_or_create(&WriteLabels {
                            system,
                            object: object.clone(),
                            outcome,
                        })
                        .inc_by(0);
                }
            }
        }
    }
}
