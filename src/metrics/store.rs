//! The gauges read from the state file: writes waiting in the outbox and quarantine
//! entries waiting for an admin, per system.
//!
//! They change only when a cycle runs (or an admin runs `truce retry`), so they are read
//! once after each cycle, on a read-only connection of their own, and not on every scrape:
//! however many Prometheus servers scrape however often, the store sees one short read per
//! poll. The reads touch only pending outbox rows and quarantine entries, never links, so
//! they cost the same at 100,000 links as at ten.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use truce_state::{ReadView, StoreError};

use super::families::{SYSTEMS, SystemLabel};

/// Per-system counts, in [`SYSTEMS`] order.
pub type PerSystem = [i64; 2];

/// What the state file says needs doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Pending outbox writes.
    pub outbox: PerSystem,
    /// Open quarantine entries.
    pub quarantined: PerSystem,
}

/// Sets the outbox and quarantine gauges.
#[derive(Debug, Clone)]
pub struct StoreGauges {
    /// The state file.
    pub path: PathBuf,
    /// `truce_outbox_depth{system}`
    pub outbox_depth: Family<SystemLabel, Gauge>,
    /// `truce_quarantined{system}`
    pub quarantined: Family<SystemLabel, Gauge>,
}

impl StoreGauges {
    /// Reads the store now and whenever `wake` is notified, until `stop`.
    pub async fn run(self, wake: Arc<Notify>, stop: CancellationToken) {
        loop {
            self.refresh().await;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = wake.notified() => {}
            }
        }
    }

    async fn refresh(&self) {
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || read(&path)).await {
            Ok(Ok(backlog)) => self.set(&backlog),
            // The gauges keep their last values; the next cycle tries again.
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "metrics: cannot read the state file's backlog")
            }
            Err(err) => {
                tracing::warn!(error = %err, "metrics: reading the state file's backlog failed")
            }
        }
    }

    fn set(&self, backlog: &Backlog) {
        for (i, system) in SYSTEMS.iter().enumerate() {
            let label = SystemLabel {
                system: system.as_str(),
            };
            self.outbox_depth
                .get_or_create(&label)
                .set(backlog.outbox[i]);
            self.quarantined
                .get_or_create(&label)
                .set(backlog.quarantined[i]);
        }
    }
}

/// One consistent read of the backlog.
pub fn read(path: &Path) -> Result<Backlog, StoreError> {
    let view = ReadView::open(path)?;
    let reader = view.reader();
    let outbox = per_system(
        reader
            .pending_summary()?
            .iter()
            .map(|p| (p.system.as_str(), p.count)),
    );
    let quarantined = per_system(
        reader
            .quarantined(false)?
            .iter()
            .map(|q| (q.system.as_str(), 1)),
    );
    Ok(Backlog {
        outbox,
        quarantined,
    })
}

/// Sums counts by system name; names of neither system are left out.
fn per_system<'a>(counts: impl Iterator<Item = (&'a str, i64)>) -> PerSystem {
    let mut out = [0; 2];
    for (system, n) in counts {
        if let Some(i) = SYSTEMS.iter().position(|s| s.as_str() == system) {
            out[i] += n;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_per_system() {
        let counts = [
            ("salesforce", 3),
            ("hubspot", 2),
            ("salesforce", 4),
            ("other", 9),
        ];
        assert_eq!(per_system(counts.into_iter()), [2, 7]);
    }

    #[test]
    fn a_fresh_state_file_has_no_backlog() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("truce.db");
        truce_state::Store::open(&path).unwrap();
        assert_eq!(read(&path).unwrap(), Backlog::default());
    }
}
