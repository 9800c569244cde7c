//! The hand-off SLA: the agreement between marketing and sales, watched by truce.
//!
//! Marketing says "sales never follows up on our leads", sales says "marketing's leads are
//! junk"; both are facts in the change log, and this module keeps the score.
//!
//! - **Hand-offs** ([`handoff`]): during identity, a qualified HubSpot contact for which
//!   truce creates a Salesforce Lead, or which is linked to an existing Lead nobody has
//!   worked yet when the contact qualifies, is handed to sales: the time, the Lead, its
//!   owner, the qualifying value and the lead source are stored, once per contact.
//!   Qualifications are stored too (once per contact), for the funnel.
//! - **The watch** ([`watch`], [`Engine::watch_sla`](super::Engine)): after each cycle's
//!   writes (the first cycle after a start covers what happened while truce was down), each
//!   hand-off not yet settled is judged from the Lead's status changes in the change log
//!   ([`judge`], pure): first worked within `first_touch` is **met**; still untouched past
//!   it is **breached**; closed straight from an untouched status is **discarded
//!   untouched**. Each finding is recorded once per Lead and kind, in the same transaction
//!   as the HubSpot write that reports it (`hubspot_property`), then logged (WARN on
//!   `truce::sla`, [`super::events::sla`]) and counted ([`super::observe::Observer`]).
//!
//! The engine speaks no vendor: the Lead's status and owner fields, the status values and
//! the HubSpot properties come from `[sla]` ([`Sla`]). The status and owner are read with
//! the people pair (its `extra_reads`), so their changes are in the change log like any
//! tracked field's.
//!
//! ## Failure modes
//!
//! A finding is committed before it is logged: a process killed between the two keeps
//! the finding (and its HubSpot write) and loses only that log line; a finding is never
//! logged twice. The HubSpot property is written through the outbox like any write, and
//! never read back, so nothing flows from it to Salesforce.

pub mod handoff;
pub mod judge;
pub mod watch;

use std::time::Duration;

use serde_json::Value as Json;

/// `[sla]` in the engine's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sla {
    /// How long a handed-off Lead may wait for its first touch.
    pub first_touch: Duration,
    /// Lead status values that mean nobody has worked the Lead yet.
    pub untouched: Vec<String>,
    /// Lead status values that close a Lead without converting it.
    pub closed: Vec<String>,
    /// The Salesforce Lead field holding its status.
    pub status_field: String,
    /// The Salesforce Lead field holding its owner.
    pub owner_field: String,
    /// The HubSpot contact property the outcome is written to, when set.
    pub hubspot_property: Option<String>,
    /// The HubSpot contact property naming the lead source (the funnel's grouping).
    pub source_property: String,
}

impl Sla {
    /// `first_touch` in milliseconds.
    pub fn first_touch_ms(&self) -> i64 {
        i64::try_from(self.first_touch.as_millis()).unwrap_or(i64::MAX)
    }

    /// True for a status that means nobody has worked the Lead yet.
    pub fn is_untouched(&self, status: Option<&str>) -> bool {
        status.is_some_and(|s| self.untouched.iter().any(|u| u == s))
    }
}

/// A field value as text: `None` for blank (null or empty), strings as they are, other
/// JSON values as written.
pub fn text(value: Option<&Json>) -> Option<String> {
    match value? {
        Json::Null => None,
        Json::String(s) if s.is_empty() => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A duration for people and log lines: `45s`, `12m30s`, `25h3m`, `2d4h`.
pub fn human(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) if s == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h{m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_read_as_text_blank_as_none() {
        assert_eq!(text(Some(&json!("Open"))), Some("Open".into()));
        assert_eq!(text(Some(&json!(""))), None);
        assert_eq!(text(Some(&Json::Null)), None);
        assert_eq!(text(None), None);
        assert_eq!(text(Some(&json!(3))), Some("3".into()));
    }

    #[test]
    fn durations_read_like_people_write_them() {
        for (ms, text) in [
            (0, "0s"),
            (45_000, "45s"),
            (120_000, "2m"),
            (750_000, "12m30s"),
            (3_600_000, "1h"),
            (90_180_000, "1d1h"),
            (25 * 3_600_000 - 86_400_000, "1h"),
            (5_400_000, "1h30m"),
            (172_800_000, "2d"),
            (-5, "0s"),
        ] {
            assert_eq!(human(ms), text, "{ms}");
        }
    }
}
