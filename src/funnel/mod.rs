//! The shared funnel: what became of the contacts marketing qualified, counted from the
//! state file alone (no API call, no config), for `truce funnel`.
//!
//! The funnel is a cohort: the HubSpot contacts first seen qualified between `since` and
//! `until`. Each stage counts the part of the stage before it that went on:
//!
//! | stage | a contact counts when |
//! |---|---|
//! | `qualified` | truce saw it qualified in the window |
//! | `handed_off` | it reached sales as a Lead (created by truce, or an unworked Lead linked) |
//! | `worked` | sales first moved the Lead to a status that is neither untouched nor closed, or converted it |
//! | `converted` | the Lead's snapshot says converted |
//! | `opportunity` | the conversion made an Opportunity |
//! | `won` | that Opportunity's snapshot (deals pair) says won; `amount` sums their amounts |
//!
//! Beside it, the SLA figures of the cohort's hand-offs: `met` (first worked within
//! `first_touch`), `breached`, `discarded_untouched` (a Lead can be both), `open` (not
//! worked yet, not breached yet), and the median and 90th percentile of the time to first
//! touch of the worked Leads (nearest rank, whole seconds). The same, per lead source
//! (`by_source`) when any contact of the cohort has one; contacts without one are under
//! `(none)` there.
//!
//! [`gather`] reads the store; [`tally`] counts, with no I/O; [`html`] draws the page.
//! The JSON form ([`Funnel::json`]) is a contract, documented in `docs/operations.md`.

pub mod html;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use truce_state::{Reader, SlaOutcome, StoreError};

/// The stages, in order: the JSON name and the label people read.
pub const STAGES: [(&str, &str); 6] = [
    ("qualified", "Qualified in HubSpot"),
    ("handed_off", "Handed to sales"),
    ("worked", "Worked"),
    ("converted", "Converted"),
    ("opportunity", "Opportunity"),
    ("won", "Won"),
];

/// The key of contacts without a lead source in `by_source`.
pub const NO_SOURCE: &str = "(none)";

/// What stops a funnel from being counted.
#[derive(Debug, thiserror::Error)]
pub enum FunnelError {
    /// The state file could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A won Opportunity's amount is not a number.
    #[error(
        "the Opportunity {opportunity} has amount `{amount}`, which is not a number; the \
         state file holds it as Salesforce sent it"
    )]
    Amount {
        /// The Opportunity.
        opportunity: String,
        /// Its amount as stored.
        amount: String,
    },
}

/// What the store says about one contact of the cohort.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// Its lead source, when it has one.
    pub source: Option<String>,
    /// Reached sales.
    pub handed_off: bool,
    /// First worked (not discarded), or converted.
    pub worked: bool,
    /// Seconds from the hand-off to the first touch, for a worked Lead.
    pub first_touch_s: Option<i64>,
    /// Converted.
    pub converted: bool,
    /// Its conversion made an Opportunity.
    pub opportunity: bool,
    /// That Opportunity is won.
    pub won: bool,
    /// The won Opportunity's amount.
    pub amount: Option<f64>,
    /// Worked within the SLA.
    pub met: bool,
    /// Breach found.
    pub breached: bool,
    /// Discard found.
    pub discarded: bool,
    /// Not worked yet, not breached yet.
    pub open: bool,
}

/// One stage's count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// The stage's name ([`STAGES`]).
    pub name: &'static str,
    /// Contacts that reached it.
    pub count: u64,
    /// Total amount (the `won` stage only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
}

/// The SLA figures of a cohort's hand-offs.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SlaFigures {
    /// First worked within `first_touch`.
    pub met: u64,
    /// Left untouched past `first_touch`.
    pub breached: u64,
    /// Closed straight from an untouched status.
    pub discarded_untouched: u64,
    /// Not worked yet and not breached yet.
    pub open: u64,
    /// Median time to first touch of the worked Leads (s).
    pub median_first_touch_s: Option<i64>,
    /// 90th percentile of it (s).
    pub p90_first_touch_s: Option<i64>,
}

/// The stages and SLA figures of a group of contacts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    /// The six stages, in order.
    pub stages: Vec<Stage>,
    /// The SLA figures.
    pub sla: SlaFigures,
}

impl Part {
    /// The count of the stage named `name`.
    pub fn count(&self, name: &str) -> u64 {
        self.stages
            .iter()
            .find(|s| s.name == name)
            .map_or(0, |s| s.count)
    }

    /// Of the worked Leads, the share first worked within the SLA (0 to 1).
    pub fn share_within_sla(&self) -> Option<f64> {
        let worked = self.count("worked");
        (worked > 0).then(|| self.sla.met as f64 / worked as f64)
    }
}

/// The funnel of the contacts qualified between `since` and `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Funnel {
    /// Start of the window (ms).
    pub since: i64,
    /// End of the window (ms).
    pub until: i64,
    /// Everyone in the window.
    pub overall: Part,
    /// By lead source; empty when no contact has one.
    pub by_source: BTreeMap<String, Part>,
}

impl Funnel {
    /// Counts `entries` (the cohort of `since..=until`).
    pub fn from_entries(since: i64, until: i64, entries: &[Entry]) -> Funnel {
        let mut groups: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        if entries.iter().any(|e| e.source.is_some()) {
            for entry in entries {
                let key = entry.source.clone().unwrap_or_else(|| NO_SOURCE.into());
                groups.entry(key).or_default().push(entry.clone());
            }
        }
        Funnel {
            since,
            until,
            overall: tally(entries),
            by_source: groups.iter().map(|(k, v)| (k.clone(), tally(v))).collect(),
        }
    }

    /// The documented JSON form.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "since": rfc3339(self.since),
            "until": rfc3339(self.until),
            "stages": self.overall.stages,
            "sla": self.overall.sla,
            "by_source": self.by_source,
        })
    }
}

/// A timestamp as the JSON and the page write it: RFC 3339, whole seconds.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Counts a group of contacts.
pub fn tally(entries: &[Entry]) -> Part {
    let count = |f: fn(&Entry) -> bool| entries.iter().filter(|e| f(e)).count() as u64;
    let won_amount: f64 = entries
        .iter()
        .filter(|e| e.won)
        .filter_map(|e| e.amount)
        .sum();
    let counts = [
        entries.len() as u64,
        count(|e| e.handed_off),
        count(|e| e.worked),
        count(|e| e.converted),
        count(|e| e.opportunity),
        count(|e| e.won),
    ];
    let stages = STAGES
        .iter()
        .zip(counts)
        .map(|((name, _), count)| Stage {
            name,
            count,
            // Adding 0.0 turns the -0.0 an empty f64 sum starts from into 0.0.
            amount: (*name == "won").then_some((won_amount * 100.0).round() / 100.0 + 0.0),
        })
        .collect();
    let mut touches: Vec<i64> = entries
        .iter()
        .filter(|e| e.worked)
        .filter_map(|e| e.first_touch_s)
        .collect();
    touches.sort_unstable();
    Part {
        stages,
        sla: SlaFigures {
            met: count(|e| e.met),
            breached: count(|e| e.breached),
            discarded_untouched: count(|e| e.discarded),
            open: count(|e| e.open),
            median_first_touch_s: nearest_rank(&touches, 50),
            p90_first_touch_s: nearest_rank(&touches, 90),
        },
    }
}

/// The `p`th percentile of sorted `values` by nearest rank: the smallest value with at
/// least `p`% of the values at or below it.
pub fn nearest_rank(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Reads the cohort of contacts first seen qualified in `since..=until` from the store.
pub fn gather(reader: &Reader<'_>, since: i64, until: i64) -> Result<Vec<Entry>, FunnelError> {
    let (contacts, deals, salesforce) = ("contacts", "deals", truce_state::SALESFORCE);
    let mut out = Vec::new();
    for qualified in reader.qualified_between(since, until)? {
        let mut entry = Entry {
            source: qualified.source.clone(),
            ..Entry::default()
        };
        let handoff = qualified.handoff.as_ref();
        if let Some(h) = handoff
            && let Some(lead_id) = &h.lead_id
        {
            entry.handed_off = true;
            entry.met = h.outcome == Some(SlaOutcome::Met);
            entry.breached = h.breached_at.is_some();
            entry.discarded = h.discarded_at.is_some();
            entry.open = !h.settled && h.first_touch_at.is_none() && h.breached_at.is_none();
            let lead = reader.snapshot(contacts, salesforce, lead_id)?;
            let converted = lead.as_ref().and_then(|l| l.meta.converted.clone());
            entry.converted = converted.is_some();
            let touched = h.first_touch_at.is_some() && !entry.discarded;
            entry.worked = touched || entry.converted;
            if entry.worked {
                entry.first_touch_s = h
                    .first_touch_at
                    .map(|at| (at - h.handed_off_at).max(0) / 1000);
            }
            if let Some(opportunity) = converted.and_then(|c| c.opportunity_id) {
                entry.opportunity = true;
                let outcome = reader
                    .snapshot(deals, salesforce, &opportunity)?
                    .and_then(|s| s.meta.outcome);
                if let Some(outcome) = outcome.filter(|o| o.won) {
                    entry.won = true;
                    entry.amount =
                        match outcome.amount {
                            None => None,
                            Some(text) => Some(text.trim().parse::<f64>().map_err(|_| {
                                FunnelError::Amount {
                                    opportunity: opportunity.clone(),
                                    amount: text.clone(),
                                }
                            })?),
                        };
                }
            }
        }
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_by_nearest_rank() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank(&[10, 20], 50), Some(10));
        assert_eq!(nearest_rank(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), Some(9));
        assert_eq!(
            nearest_rank(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90),
            Some(10)
        );
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
    }

    #[test]
    fn each_stage_counts_the_part_of_the_one_before_that_went_on() {
        let handed = Entry {
            handed_off: true,
            ..Entry::default()
        };
        let worked = |s: i64| Entry {
            worked: true,
            first_touch_s: Some(s),
            met: s < 100,
            ..handed.clone()
        };
        let entries = vec![
            Entry::default(),
            Entry {
                open: true,
                ..handed.clone()
            },
            Entry {
                breached: true,
                discarded: true,
                ..handed.clone()
            },
            worked(10),
            worked(500),
            Entry {
                converted: true,
                opportunity: true,
                won: true,
                amount: Some(1200.5),
                ..worked(30)
            },
        ];
        let part = tally(&entries);
        let counts: Vec<(&str, u64)> = part.stages.iter().map(|s| (s.name, s.count)).collect();
        assert_eq!(
            counts,
            [
                ("qualified", 6),
                ("handed_off", 5),
                ("worked", 3),
                ("converted", 1),
                ("opportunity", 1),
                ("won", 1)
            ]
        );
        assert_eq!(part.stages[5].amount, Some(1200.5));
        assert!(part.stages[..5].iter().all(|s| s.amount.is_none()));
        assert_eq!(
            part.sla,
            SlaFigures {
                met: 2,
                breached: 1,
                discarded_untouched: 1,
                open: 1,
                median_first_touch_s: Some(30),
                p90_first_touch_s: Some(500),
            }
        );
        assert_eq!(part.share_within_sla(), Some(2.0 / 3.0));
    }

    #[test]
    fn sources_group_the_cohort_only_when_someone_has_one() {
        let plain = vec![Entry::default(), Entry::default()];
        assert!(Funnel::from_entries(0, 1, &plain).by_source.is_empty());
        let sourced = vec![
            Entry {
                source: Some("ORGANIC_SEARCH".into()),
                ..Entry::default()
            },
            Entry::default(),
        ];
        let funnel = Funnel::from_entries(0, 1, &sourced);
        let keys: Vec<&str> = funnel.by_source.keys().map(String::as_str).collect();
        assert_eq!(keys, [NO_SOURCE, "ORGANIC_SEARCH"]);
        let json = funnel.json();
        assert_eq!(json["stages"][0], json!({"name": "qualified", "count": 2}));
        assert_eq!(json["stages"][5]["amount"], json!(0.0));
        assert_eq!(json["by_source"]["ORGANIC_SEARCH"]["stages"][0]["count"], 1);
        assert_eq!(json["since"], "1970-01-01T00:00:00Z");
        assert!(json["sla"]["median_first_touch_s"].is_null());
    }
}
