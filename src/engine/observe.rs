//! What the engine tells an onlooker as it works: the counters behind the metrics.
//!
//! The engine calls an [`Observer`] at the moment each thing happens (a page recorded, a
//! write settled, a conflict decided, an SLA finding reported, a cycle finished), so whatever counts them (the
//! metrics endpoint) counts the engine's own events rather than keeping a second tally
//! that could drift. Every method has a no-op default; [`Unobserved`] is the engine's
//! default.

use std::time::Duration;

use truce_connectors::System;

use super::CycleSummary;

/// How a write handed to a remote system ended, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteOutcomeKind {
    /// Accepted.
    Ok,
    /// Failed for now; the outbox tries again later.
    Retry,
    /// Refused for good, or out of attempts: set aside in quarantine.
    Quarantined,
}

impl WriteOutcomeKind {
    /// `ok`, `retry` or `quarantined`, as metrics label them.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteOutcomeKind::Ok => "ok",
            WriteOutcomeKind::Retry => "retry",
            WriteOutcomeKind::Quarantined => "quarantined",
        }
    }
}

/// Receives the engine's events. Implementations must be cheap: they run inside the cycle.
pub trait Observer: Send + Sync {
    /// `records` records of `pair` were pulled from `system` and recorded.
    fn pulled(&self, _system: System, _pair: &str, _records: u64) {}
    /// `count` writes of `pair` to `system` ended as `outcome`.
    fn wrote(&self, _system: System, _pair: &str, _outcome: WriteOutcomeKind, _count: u64) {}
    /// A conflict on `field` (the HubSpot property) of `pair` was decided by `rule`.
    fn conflict(&self, _pair: &str, _field: &str, _rule: &str) {}
    /// An SLA finding of `kind` (`breached`, `discarded_untouched`) was reported.
    fn sla_finding(&self, _kind: &'static str) {}
    /// A cycle finished, taking `took`.
    fn cycle(&self, _summary: &CycleSummary, _took: Duration) {}
}

/// The observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {}
