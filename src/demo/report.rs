//! The demo's closing summary: links, creates and updates each way, conflicts by rule,
//! quarantined records, the hand-off SLA, where the funnel page is, and how to inspect the
//! run afterwards.
//!
//! Counts come from where an admin would find them: links, conflicts and quarantine from
//! the state file; writes from the engine's own backfill and cycle summaries. Creates are
//! counted on the sandboxes (records that exist because truce made them), since the
//! cycle summary reports writes, not which of them were creates.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use truce_state::{SlaSummary, Store};

use super::script::Tally;
use super::world::World;
use crate::engine::CycleSummary;
use crate::engine::backfill::BackfillSummary;

/// Writes accepted by each side, summed over the backfill and every cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Cycles run by the daemon.
    pub cycles: usize,
    /// Writes HubSpot accepted.
    pub written_hubspot: usize,
    /// Writes Salesforce accepted.
    pub written_salesforce: usize,
}

impl Totals {
    /// Adds the backfill's writes.
    pub fn add_backfill(&mut self, summary: &BackfillSummary) {
        self.written_hubspot += summary.to_hubspot.written;
        self.written_salesforce += summary.to_salesforce.written;
    }

    /// Adds one cycle's writes.
    pub fn add_cycle(&mut self, summary: &CycleSummary) {
        self.cycles += 1;
        self.written_hubspot += summary.written_hubspot;
        self.written_salesforce += summary.written_salesforce;
    }
}

/// One quarantined record, as the summary shows it.
#[derive(Debug, Clone)]
pub struct QuarantineLine {
    /// The person's email.
    pub email: String,
    /// The side that refused.
    pub system: String,
    /// The API's error code.
    pub error_code: String,
    /// The API's own message.
    pub message: String,
}

/// Everything the closing table prints.
#[derive(Debug, Clone)]
pub struct Report {
    /// How long the live part ran, in seconds.
    pub seconds: u64,
    /// Writes and cycles.
    pub totals: Totals,
    /// What the teams did.
    pub tally: Tally,
    /// Active links.
    pub links: i64,
    /// HubSpot contacts truce created (from Salesforce records).
    pub created_in_hubspot: usize,
    /// Salesforce Leads truce created (from qualified HubSpot contacts).
    pub created_in_salesforce: usize,
    /// Conflicts per rule.
    pub conflicts_by_rule: BTreeMap<String, usize>,
    /// Open quarantine entries.
    pub quarantined: Vec<QuarantineLine>,
    /// An email with a conflict (or any linked email), for the `truce history` example.
    pub example_email: Option<String>,
    /// The hand-offs and SLA findings, from the state file.
    pub sla: SlaSummary,
    /// The funnel page the demo wrote.
    pub funnel_page: PathBuf,
    /// The state file.
    pub state_path: PathBuf,
    /// The config file.
    pub config_path: PathBuf,
}

impl Report {
    /// Gathers the report from the state file, the sandboxes and the tallies.
    pub fn gather(
        world: &World,
        store: &Store,
        totals: Totals,
        tally: Tally,
        seconds: u64,
        funnel_page: PathBuf,
    ) -> anyhow::Result<Report> {
        let reader = store.reader();
        let status = reader.status()?;
        let conflicts = reader.conflicts(0, None)?;
        let mut conflicts_by_rule = BTreeMap::new();
        for c in &conflicts {
            *conflicts_by_rule.entry(c.rule.clone()).or_insert(0) += 1;
        }
        let quarantined = reader
            .quarantined(false)?
            .into_iter()
            .map(|q| QuarantineLine {
                email: q.email.clone().unwrap_or_default(),
                system: q.system.clone(),
                error_code: q.error_code.clone(),
                message: q.message.clone(),
            })
            .collect();
        // Leads only grow by truce's creates (conversion makes Contacts, and nobody deletes
        // Leads in the demo); HubSpot contacts only by truce's creates.
        let created_in_salesforce = world
            .salesforce
            .count("Lead")
            .saturating_sub(world.seeded.leads);
        let created_in_hubspot = world.hubspot.count().saturating_sub(world.seeded.hubspot);
        let example_email = conflicts
            .iter()
            .rev()
            .map(|c| c.email.clone())
            .next()
            .or_else(|| world.seeded.shared.first().cloned());
        Ok(Report {
            seconds,
            totals,
            tally,
            links: status.links_active,
            created_in_hubspot,
            created_in_salesforce,
            conflicts_by_rule,
            quarantined,
            example_email,
            sla: reader.sla_summary()?,
            funnel_page,
            state_path: world.state_path.clone(),
            config_path: world.config_path.clone(),
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        let updates_salesforce = t
            .written_salesforce
            .saturating_sub(self.created_in_salesforce);
        let updates_hubspot = t.written_hubspot.saturating_sub(self.created_in_hubspot);
        writeln!(
            f,
            "\nSummary: backfill, then {} cycles in {} s",
            t.cycles, self.seconds
        )?;
        writeln!(
            f,
            "  {:<13} {:>22} {:>22}",
            "", "HubSpot -> Salesforce", "Salesforce -> HubSpot"
        )?;
        writeln!(f, "  {:<13} {:>22}", "links", self.links)?;
        writeln!(
            f,
            "  {:<13} {:>22} {:>22}",
            "creates", self.created_in_salesforce, self.created_in_hubspot
        )?;
        writeln!(
            f,
            "  {:<13} {:>22} {:>22}",
            "updates", updates_salesforce, updates_hubspot
        )?;
        let total: usize = self.conflicts_by_rule.values().sum();
        writeln!(f, "  {:<13} {:>22}", "conflicts", total)?;
        for (rule, n) in &self.conflicts_by_rule {
            writeln!(f, "    {rule:<32} {n:>5}")?;
        }
        writeln!(f, "  {:<13} {:>22}", "quarantined", self.quarantined.len())?;
        for q in &self.quarantined {
            writeln!(
                f,
                "    {} refused by {}: {} {}",
                q.email, q.system, q.error_code, q.message
            )?;
        }
        let sla = &self.sla;
        writeln!(
            f,
            "  {:<13} {:>22}   {} met, {} breached, {} discarded untouched, {} waiting",
            "hand-offs", sla.handoffs, sla.met, sla.breached, sla.discarded_untouched, sla.open
        )?;
        let s = &self.tally;
        writeln!(
            f,
            "  teams         marketing qualified {} and edited {}; sales triaged {} handed-off \
             leads and closed {} untouched, worked {}, disqualified {}, converted {}; both \
             edited the same field {} times",
            s.qualified,
            s.marketing_edits,
            s.triaged,
            s.discarded_untouched,
            s.worked,
            s.disqualified,
            s.converted,
            s.crossed
        )?;
        writeln!(
            f,
            "\nThe shared funnel, drawn: {} (open it in a browser)",
            self.funnel_page.display()
        )?;
        let state = self.state_path.display();
        writeln!(
            f,
            "\nInspect the run (the state file stays after the demo):"
        )?;
        writeln!(f, "  truce status    --state {state}")?;
        writeln!(f, "  truce conflicts --state {state} --since 1h")?;
        writeln!(f, "  truce funnel    --state {state}")?;
        if let Some(email) = &self.example_email {
            writeln!(f, "  truce history {email} --state {state}")?;
        }
        writeln!(
            f,
            "(from a checkout, `cargo run --release --` in place of `truce`)"
        )?;
        writeln!(
            f,
            "The config the demo ran with: {}",
            self.config_path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_shows_each_direction_conflicts_by_rule_the_quarantine_and_the_commands() {
        let report = Report {
            seconds: 60,
            totals: Totals {
                cycles: 30,
                written_hubspot: 300,
                written_salesforce: 150,
            },
            tally: Tally::default(),
            links: 540,
            created_in_hubspot: 250,
            created_in_salesforce: 140,
            conflicts_by_rule: [
                ("two_way".to_string(), 3),
                ("always_hubspot".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            quarantined: vec![QuarantineLine {
                email: "jordan.typo@initech.c".into(),
                system: "salesforce".into(),
                error_code: "INVALID_EMAIL_ADDRESS".into(),
                message: "Email: invalid email address: jordan.typo@initech.c".into(),
            }],
            example_email: Some("ada@example.com".into()),
            sla: SlaSummary {
                handoffs: 180,
                open: 2,
                breached_open: 0,
                met: 160,
                breached: 15,
                discarded_untouched: 1,
            },
            funnel_page: PathBuf::from("/tmp/d/funnel.html"),
            state_path: PathBuf::from("/tmp/d/truce.db"),
            config_path: PathBuf::from("/tmp/d/truce.toml"),
        };
        let text = report.to_string();
        let row = |name: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap_or_default()
                .split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
        };
        assert_eq!(row("creates"), ["140", "250"], "{text}");
        assert_eq!(row("updates"), ["10", "50"], "{text}");
        assert_eq!(row("conflicts"), ["4"], "{text}");
        assert_eq!(row("two_way"), ["3"], "{text}");
        assert!(
            text.contains("jordan.typo@initech.c refused by salesforce: INVALID_EMAIL_ADDRESS")
        );
        assert!(text.contains("truce history ada@example.com --state /tmp/d/truce.db"));
        assert!(text.contains("truce conflicts --state /tmp/d/truce.db --since 1h"));
        assert!(text.contains("truce funnel    --state /tmp/d/truce.db"));
        assert!(text.contains("/tmp/d/funnel.html (open it in a browser)"));
        assert_eq!(row("hand-offs")[..2], ["180", "160"], "{text}");
    }
}
