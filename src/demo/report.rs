//! The demo's closing summary: links, creates and updates each way, conflicts by rule,
//! quarantined records, the hand-off SLA, companies and deals linked and created, the
//! revenue that reached HubSpot, where the funnel page is, and how to inspect the run
//! afterwards.
//!
//! Counts come from where an admin would find them: links, conflicts and quarantine from
//! the state file; writes from the engine's own backfill and cycle summaries. Creates are
//! counted on the sandboxes (records that exist because truce made them), since the
//! cycle summary reports writes, not which of them were creates.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::Value as Json;
use truce_sandbox::hubspot::ObjectType;
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

/// Companies, deals and revenue, as the summary shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revenue {
    /// Active company links.
    pub companies_linked: i64,
    /// Accounts truce created from HubSpot companies.
    pub accounts_created: usize,
    /// HubSpot companies truce created from Accounts.
    pub companies_created: usize,
    /// Active deal links.
    pub deals_linked: i64,
    /// HubSpot deals truce created from Opportunities.
    pub deals_created: usize,
    /// Opportunities truce created from HubSpot deals (none unless
    /// `[deals] create_in_salesforce` says so).
    pub opportunities_created: usize,
    /// Of the HubSpot deals, those associated with a company.
    pub deals_with_company: usize,
    /// Of the HubSpot deals, those associated with at least one contact.
    pub deals_with_contacts: usize,
    /// Won deals as HubSpot shows them (`dealstage` = `closedwon`).
    pub won_hubspot: usize,
    /// Their amount, as HubSpot shows it.
    pub amount_hubspot: f64,
    /// Won Opportunities in Salesforce.
    pub won_salesforce: usize,
    /// Their amount.
    pub amount_salesforce: f64,
}

impl Revenue {
    /// Counts on the sandboxes and in the store. Creates are what each side holds beyond
    /// the seed and beyond what sales made itself (a lead conversion makes an Account and
    /// an Opportunity); nobody else creates companies or deals in HubSpot.
    fn gather(world: &World, links_by_pair: &[(String, i64)], tally: &Tally) -> Revenue {
        let linked = |pair: &str| {
            links_by_pair
                .iter()
                .find(|(p, _)| p == pair)
                .map_or(0, |(_, n)| *n)
        };
        let seeded = &world.seeded;
        let deals = world.hubspot.deals();
        let associated = |id: &str, to: ObjectType| {
            !world
                .hubspot
                .associations(ObjectType::Deals, id, to)
                .is_empty()
        };
        let mut revenue = Revenue {
            companies_linked: linked("companies"),
            accounts_created: world
                .salesforce
                .count("Account")
                .saturating_sub(seeded.accounts + tally.converted),
            companies_created: world
                .hubspot
                .companies()
                .len()
                .saturating_sub(seeded.companies),
            deals_linked: linked("deals"),
            deals_created: deals.len(),
            opportunities_created: world
                .salesforce
                .count("Opportunity")
                .saturating_sub(seeded.opportunities + tally.opportunities),
            deals_with_company: deals
                .iter()
                .filter(|d| associated(&d.id, ObjectType::Companies))
                .count(),
            deals_with_contacts: deals
                .iter()
                .filter(|d| associated(&d.id, ObjectType::Contacts))
                .count(),
            ..Revenue::default()
        };
        for deal in &deals {
            if deal.properties.get("dealstage").map(String::as_str) == Some("closedwon") {
                revenue.won_hubspot += 1;
                revenue.amount_hubspot += amount(deal.properties.get("amount").map(String::as_str));
            }
        }
        for id in world.salesforce.ids("Opportunity") {
            let Some(opportunity) = world.salesforce.get("Opportunity", &id) else {
                continue;
            };
            if opportunity["IsWon"] == Json::Bool(true)
                && opportunity["IsDeleted"] != Json::Bool(true)
            {
                revenue.won_salesforce += 1;
                revenue.amount_salesforce += opportunity["Amount"].as_f64().unwrap_or(0.0);
            }
        }
        revenue
    }
}

/// A HubSpot amount (a decimal string); a blank or unreadable one counts as nothing, and
/// shows as a smaller total than Salesforce's, which is the point of printing both.
fn amount(text: Option<&str>) -> f64 {
    text.and_then(|t| t.trim().parse().ok()).unwrap_or(0.0)
}

/// An amount with thousands separators and no cents (the demo's are whole).
fn money(amount: f64) -> String {
    let whole = amount.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0 {
        out.insert(0, '-');
    }
    out
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
    /// Active links per object pair.
    pub links_by_pair: Vec<(String, i64)>,
    /// Companies, deals and revenue.
    pub revenue: Revenue,
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
        let revenue = Revenue::gather(world, &status.links_by_pair, &tally);
        Ok(Report {
            seconds,
            totals,
            tally,
            links: status.links_active,
            links_by_pair: status.links_by_pair,
            revenue,
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
        let by_pair: Vec<String> = self
            .links_by_pair
            .iter()
            .map(|(pair, n)| format!("{pair} {n}"))
            .collect();
        writeln!(
            f,
            "  {:<13} {:>22}   {}",
            "links",
            self.links,
            by_pair.join(", ")
        )?;
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
        let r = &self.revenue;
        writeln!(
            f,
            "  {:<13} {:>22} {:>22}   {} linked (Accounts created, companies created)",
            "companies", r.accounts_created, r.companies_created, r.companies_linked
        )?;
        writeln!(
            f,
            "  {:<13} {:>22} {:>22}   {} linked (Opportunities created, deals created); in \
             HubSpot {} with their company, {} with contacts",
            "deals",
            r.opportunities_created,
            r.deals_created,
            r.deals_linked,
            r.deals_with_company,
            r.deals_with_contacts
        )?;
        writeln!(
            f,
            "  {:<13} HubSpot shows {} won deals worth {}; Salesforce has {} won Opportunities \
             worth {}",
            "revenue",
            r.won_hubspot,
            money(r.amount_hubspot),
            r.won_salesforce,
            money(r.amount_salesforce)
        )?;
        let s = &self.tally;
        writeln!(
            f,
            "  teams         marketing qualified {} and edited {}; sales triaged {} handed-off \
             leads and closed {} untouched, worked {}, disqualified {}, converted {} ({} with \
             an opportunity), won {} opportunities worth {}; both edited the same field {} \
             times",
            s.qualified,
            s.marketing_edits,
            s.triaged,
            s.discarded_untouched,
            s.worked,
            s.disqualified,
            s.converted,
            s.opportunities,
            s.won,
            money(s.won_amount as f64),
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
            links: 585,
            links_by_pair: vec![
                ("companies".into(), 20),
                ("contacts".into(), 540),
                ("deals".into(), 25),
            ],
            revenue: Revenue {
                companies_linked: 20,
                accounts_created: 5,
                companies_created: 9,
                deals_linked: 25,
                deals_created: 25,
                opportunities_created: 0,
                deals_with_company: 25,
                deals_with_contacts: 12,
                won_hubspot: 4,
                amount_hubspot: 61_000.0,
                won_salesforce: 4,
                amount_salesforce: 61_000.0,
            },
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
        assert_eq!(
            row("links")[..4],
            ["585", "companies", "20,", "contacts"],
            "{text}"
        );
        assert_eq!(row("companies")[..3], ["5", "9", "20"], "{text}");
        assert_eq!(row("deals")[..3], ["0", "25", "25"], "{text}");
        assert!(
            text.contains("HubSpot shows 4 won deals worth 61,000; Salesforce has 4 won"),
            "{text}"
        );
    }
}
