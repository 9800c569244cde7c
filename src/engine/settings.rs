//! The engine's settings: the object pairs it syncs and how it paces itself.
//!
//! Built from the config file by the config module (`Settings::from_config` lives there),
//! so the engine reads its own vocabulary and never the file's shape.

use std::time::Duration;

use truce_connectors::{ObjectType, System};

use super::pair::{DeletePolicy, Pair, PairSpec};
use super::sla::Sla;

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The pairs synced, in the order a cycle handles them ([`Pair::ALL`]'s order).
    pub pairs: Vec<PairSpec>,
    /// What a delete on one side does to the other.
    pub deletes: DeletePolicy,
    /// How far back each poll re-reads.
    pub lookback: Duration,
    /// How often associations are read again in full (HubSpot does not date their
    /// changes).
    pub association_sweep: Duration,
    /// Attempts before a transiently failing write goes to quarantine.
    pub max_attempts: i64,
    /// Writes taken from the outbox per apply call.
    pub apply_batch: usize,
    /// The hand-off SLA (`[sla]`); `None`: no hand-offs recorded, nothing watched.
    pub sla: Option<Sla>,
}

impl Settings {
    /// The description of `pair`, when it is synced.
    pub fn pair(&self, pair: Pair) -> Option<&PairSpec> {
        self.pairs.iter().find(|spec| spec.pair == pair)
    }

    /// The description of the pair `object` belongs to, when it is synced.
    pub fn pair_of(&self, object: ObjectType) -> Option<&PairSpec> {
        self.pair(Pair::of(object))
    }

    /// The fields to read of `object`: empty when no synced pair holds it.
    pub fn fields_of(&self, object: ObjectType) -> Vec<String> {
        self.pair_of(object)
            .map(|spec| spec.read_fields(object))
            .unwrap_or_default()
    }

    /// Every object of `system` the synced pairs hold, with the fields to read of each.
    pub fn read_fields(&self, system: System) -> Vec<(ObjectType, Vec<String>)> {
        self.pairs
            .iter()
            .flat_map(|spec| {
                spec.pair
                    .objects(system)
                    .into_iter()
                    .map(move |object| (object, spec.read_fields(object)))
            })
            .collect()
    }
}
