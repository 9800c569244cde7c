//! The metrics read at scrape time: API calls and quota from the connectors themselves, and
//! how long ago each system was last read.
//!
//! These are values something else already keeps (the connectors count their requests and
//! remember the quota the API last reported), so the scrape reads them rather than copying
//! them into counters of its own that could drift.
//!
//! `truce_lag_seconds{system}` is the time since truce last recorded a page pulled from that
//! system: a change made there has waited at most this long to be seen (plus the API's own
//! index lag). While truce syncs it stays under a poll interval plus a cycle; while a system
//! cannot be read it grows, which is what an alert wants. Before the first pull it counts
//! from the daemon's start.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use truce_connectors::{Connector, System};

use super::families::SystemLabel;

/// When each system was last read (a pulled page recorded).
#[derive(Debug)]
pub struct PullClock {
    started: Instant,
    last: Mutex<[Option<Instant>; 2]>,
}

impl PullClock {
    /// A clock whose systems count as last read now (the daemon's start).
    pub fn new() -> PullClock {
        PullClock {
            started: Instant::now(),
            last: Mutex::new([None, None]),
        }
    }

    /// `system` was read at `at`.
    pub fn pulled(&self, system: System, at: Instant) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last[slot(system)] = Some(at);
    }

    /// Seconds since `system` was last read, as of `now`.
    pub fn lag(&self, system: System, now: Instant) -> f64 {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let since = last[slot(system)].unwrap_or(self.started);
        now.saturating_duration_since(since).as_secs_f64()
    }
}

impl Default for PullClock {
    fn default() -> Self {
        PullClock::new()
    }
}

fn slot(system: System) -> usize {
    match system {
        System::HubSpot => 0,
        System::Salesforce => 1,
    }
}

/// Encodes the scrape-time families from the connectors and the pull clock.
pub struct Live {
    /// Each system's connector.
    pub connectors: Vec<(System, Arc<dyn Connector>)>,
    /// When each system was last read.
    pub pulls: Arc<PullClock>,
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live")
            .field("systems", &self.connectors.len())
            .field("pulls", &self.pulls)
            .finish()
    }
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let now = Instant::now();
        {
            let mut family = encoder.encode_descriptor(
                "truce_api_calls",
                "API requests truce sent to each system since it started, answered or not (token requests excluded).",
                None,
                MetricType::Counter,
            )?;
            for (system, connector) in &self.connectors {
                ConstCounter::new(connector.calls())
                    .encode(family.encode_family(&label(*system))?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "truce_api_quota_remaining",
                "Calls left in the system's daily API allocation, as the API last reported it (absent until it reports one).",
                None,
                MetricType::Gauge,
            )?;
            for (system, connector) in &self.connectors {
                if let Some(quota) = connector.quota() {
                    let left = quota.limit.saturating_sub(quota.used);
                    let left = i64::try_from(left).unwrap_or(i64::MAX);
                    ConstGauge::new(left).encode(family.encode_family(&label(*system))?)?;
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "truce_lag",
            "Seconds since truce last read changes from the system; under a poll interval plus a cycle while it syncs.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        for (system, _) in &self.connectors {
            ConstGauge::new(self.pulls.lag(*system, now))
                .encode(family.encode_family(&label(*system))?)?;
        }
        Ok(())
    }
}

fn label(system: System) -> SystemLabel {
    SystemLabel {
        system: system.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lag_counts_from_the_start_until_a_system_is_read_then_from_its_last_read() {
        let clock = PullClock::new();
        let now = clock.started + Duration::from_secs(30);
        assert_eq!(clock.lag(System::HubSpot, now), 30.0);
        clock.pulled(System::HubSpot, clock.started + Duration::from_secs(28));
        assert_eq!(clock.lag(System::HubSpot, now), 2.0);
        assert_eq!(clock.lag(System::Salesforce, now), 30.0);
    }
}
