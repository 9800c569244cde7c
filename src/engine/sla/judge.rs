//! Judging one hand-off: the Lead's status history in, the verdict out. No I/O.
//!
//! The **first touch** is the first status change after the hand-off, made in Salesforce
//! (not truce's own write or its echo), to a status that is not untouched; its time is the
//! Lead's modification time that carried it (Salesforce's clock, so a touch truce only saw
//! later, after a restart, still counts when it happened). A Lead converted without such a
//! change counts as touched when it was converted: converting is working it.
//!
//! | first touch | verdict |
//! |---|---|
//! | none yet, within `first_touch` | open |
//! | none yet, past `first_touch` | breached (still watched: a discard may follow) |
//! | to a status that is not closed, in time | met (settled) |
//! | to a status that is not closed, late | breached (settled) |
//! | to a closed status, in time | discarded untouched (settled) |
//! | to a closed status, late | breached and discarded untouched (settled) |
//!
//! A Lead deleted before its first touch is settled as it stands.

use truce_state::{FindingKind, SlaOutcome};

/// The status values that matter, and the time allowed.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// How long the Lead may wait (ms).
    pub first_touch_ms: i64,
    /// Values meaning nobody has worked the Lead.
    pub untouched: &'a [String],
    /// Values closing the Lead without conversion.
    pub closed: &'a [String],
}

/// One change of the Lead's status made in Salesforce, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The status before (`None`: blank or never seen).
    pub from: Option<String>,
    /// The new status (`None`: blank).
    pub status: Option<String>,
    /// When Salesforce says the change was made (ms).
    pub at: i64,
}

/// The Lead as last observed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeadNow {
    /// Its status.
    pub status: Option<String>,
    /// Converted.
    pub converted: bool,
    /// Deleted.
    pub deleted: bool,
    /// Its last modification (ms).
    pub modified_at: i64,
}

/// The Lead's first touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// When (ms).
    pub at: i64,
    /// The status it left (`None` when unknown).
    pub from: Option<String>,
    /// The status it moved to.
    pub status: Option<String>,
    /// The status closes the Lead: discarded without being worked.
    pub discarded: bool,
}

/// What the history says about one hand-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The first touch, once there is one.
    pub touch: Option<Touch>,
    /// The Lead waited longer than allowed.
    pub breached: bool,
    /// The outcome to report (`None` while open).
    pub outcome: Option<SlaOutcome>,
    /// Nothing can change any more.
    pub settled: bool,
}

impl Verdict {
    /// The findings this verdict holds, in the order they happened.
    pub fn findings(&self) -> Vec<FindingKind> {
        let mut out = Vec::new();
        if self.breached {
            out.push(FindingKind::Breached);
        }
        if self.touch.as_ref().is_some_and(|t| t.discarded) {
            out.push(FindingKind::DiscardedUntouched);
        }
        out
    }
}

/// Judges a hand-off made at `handed_off_at`, as of `now`.
pub fn judge(
    rules: Rules<'_>,
    handed_off_at: i64,
    changes: &[StatusChange],
    lead: &LeadNow,
    now: i64,
) -> Verdict {
    let untouched = |s: &Option<String>| {
        s.as_ref()
            .is_some_and(|s| rules.untouched.iter().any(|u| u == s))
    };
    let closed = |s: &Option<String>| {
        s.as_ref()
            .is_some_and(|s| rules.closed.iter().any(|c| c == s))
    };
    let touch = changes
        .iter()
        .find(|c| c.status.is_some() && !untouched(&c.status))
        .map(|c| Touch {
            at: c.at,
            from: c.from.clone(),
            status: c.status.clone(),
            discarded: closed(&c.status),
        })
        .or_else(|| {
            lead.converted.then(|| Touch {
                at: lead.modified_at,
                from: None,
                status: lead.status.clone(),
                discarded: false,
            })
        });
    let deadline = handed_off_at.saturating_add(rules.first_touch_ms);
    match touch {
        None => {
            let breached = now > deadline;
            Verdict {
                touch: None,
                breached,
                outcome: breached.then_some(SlaOutcome::Breached),
                settled: lead.deleted,
            }
        }
        Some(touch) => {
            let breached = touch.at > deadline;
            let outcome = if touch.discarded {
                SlaOutcome::DiscardedUntouched
            } else if breached {
                SlaOutcome::Breached
            } else {
                SlaOutcome::Met
            };
            Verdict {
                touch: Some(touch),
                breached,
                outcome: Some(outcome),
                settled: true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn change(status: &str, at: i64) -> StatusChange {
        StatusChange {
            from: Some("Open - Not Contacted".into()),
            status: Some(status.into()),
            at,
        }
    }

    fn run(changes: &[StatusChange], lead: &LeadNow, now: i64) -> Verdict {
        let untouched = vec!["Open - Not Contacted".to_string(), "New".to_string()];
        let closed = vec!["Closed - Not Converted".to_string()];
        let rules = Rules {
            first_touch_ms: 24 * HOUR,
            untouched: &untouched,
            closed: &closed,
        };
        judge(rules, 0, changes, lead, now)
    }

    /// One history and what it must come to.
    struct Case {
        name: &'static str,
        changes: Vec<StatusChange>,
        lead: LeadNow,
        now: i64,
        outcome: Option<SlaOutcome>,
        settled: bool,
        findings: Vec<FindingKind>,
    }

    fn case(name: &'static str, changes: Vec<StatusChange>, now: i64) -> Case {
        Case {
            name,
            changes,
            lead: LeadNow::default(),
            now,
            outcome: None,
            settled: false,
            findings: Vec::new(),
        }
    }

    impl Case {
        fn lead(self, lead: LeadNow) -> Case {
            Case { lead, ..self }
        }
        fn gives(
            self,
            outcome: Option<SlaOutcome>,
            settled: bool,
            findings: &[FindingKind],
        ) -> Case {
            Case {
                outcome,
                settled,
                findings: findings.to_vec(),
                ..self
            }
        }
    }

    #[test]
    fn every_history_gets_its_verdict() {
        use FindingKind as F;
        use SlaOutcome as O;
        let discard = || change("Closed - Not Converted", HOUR);
        let cases = [
            case("untouched, in time", vec![], 23 * HOUR).gives(None, false, &[]),
            case("untouched, exactly at the limit", vec![], 24 * HOUR).gives(None, false, &[]),
            case("untouched, late", vec![], 25 * HOUR).gives(
                Some(O::Breached),
                false,
                &[F::Breached],
            ),
            case(
                "moved between untouched statuses only",
                vec![change("New", HOUR)],
                25 * HOUR,
            )
            .gives(Some(O::Breached), false, &[F::Breached]),
            case(
                "worked in time",
                vec![change("Working - Contacted", 2 * HOUR)],
                30 * HOUR,
            )
            .gives(Some(O::Met), true, &[]),
            case(
                "worked late",
                vec![change("Working - Contacted", 26 * HOUR)],
                30 * HOUR,
            )
            .gives(Some(O::Breached), true, &[F::Breached]),
            case("discarded in time", vec![discard()], 2 * HOUR).gives(
                Some(O::DiscardedUntouched),
                true,
                &[F::DiscardedUntouched],
            ),
            case(
                "discarded late",
                vec![change("Closed - Not Converted", 30 * HOUR)],
                31 * HOUR,
            )
            .gives(
                Some(O::DiscardedUntouched),
                true,
                &[F::Breached, F::DiscardedUntouched],
            ),
            case(
                "worked, then closed: the first touch decides",
                vec![
                    change("Working - Contacted", HOUR),
                    change("Closed - Not Converted", 2 * HOUR),
                ],
                3 * HOUR,
            )
            .gives(Some(O::Met), true, &[]),
            case("converted without a status change", vec![], 40 * HOUR)
                .lead(LeadNow {
                    converted: true,
                    modified_at: 3 * HOUR,
                    status: Some("Closed - Converted".into()),
                    ..LeadNow::default()
                })
                .gives(Some(O::Met), true, &[]),
            case("deleted untouched in time", vec![], HOUR)
                .lead(LeadNow {
                    deleted: true,
                    ..LeadNow::default()
                })
                .gives(None, true, &[]),
            case(
                "worked before the hand-off was recorded (clocks apart)",
                vec![change("Working - Contacted", -5)],
                HOUR,
            )
            .gives(Some(O::Met), true, &[]),
        ];
        for c in cases {
            let verdict = run(&c.changes, &c.lead, c.now);
            assert_eq!(verdict.outcome, c.outcome, "{}", c.name);
            assert_eq!(verdict.settled, c.settled, "{}", c.name);
            assert_eq!(verdict.findings(), c.findings, "{}", c.name);
        }
    }

    #[test]
    fn the_first_touch_is_when_salesforce_says_it_happened() {
        let verdict = run(
            &[change("Working - Contacted", 5 * HOUR)],
            &LeadNow::default(),
            50 * HOUR,
        );
        let touch = verdict.touch.unwrap();
        assert_eq!(touch.at, 5 * HOUR);
        assert_eq!(touch.status.as_deref(), Some("Working - Contacted"));
        assert!(!touch.discarded);
    }
}
