//! The revenue scenario (issues 12 and 13): the backfill of contacts, companies and deals
//! with their associations, under HubSpot Professional limits, and the association sweep
//! that follows it.
//!
//! The world, per side: `contacts` people (half shared by email, the rest on one side
//! each), of whom three quarters of `companies` are buyers tying a HubSpot company (their
//! primary company) to an Account (their Contact's `AccountId`); a quarter of `companies`
//! more on each side alone; `deals` Opportunities spread over every Account, each with its
//! Account's buyer as primary contact role. HubSpot holds no deal at the start: every
//! Opportunity becomes one (`[deals] create_in_hubspot = "always"`), associated with its
//! company and contacts, and every Salesforce-only Account a deal is on becomes a HubSpot
//! company (`referenced`). So after the backfill each side holds `deals` deals.
//!
//! Figures: API calls against the fewest the batch sizes allow (computed from what the
//! backfill wrote and the world it read, see [`minimum`]), wall time against the quota
//! bound (HubSpot calls at 19 per second), 429s, peak RSS of the truce process, and the
//! calls of the first cycle after the backfill, whose association sweep reads every
//! linked contact's company and every linked deal's company and contacts again.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use serde_json::{Value, json};
use truce_sandbox::hubspot::ObjectType;
use truce_sandbox::world::{CompanyShapes, populate, populate_companies, populate_deals};
use truce_state::Store;

use super::child;
use super::scenarios::Seen;
use super::world::{Limits, World};
use super::{Report, Table, mib, min_calls, ratio, salesforce_read_back, thousands};

const HUBSPOT_PAGE: u64 = 100;
const HUBSPOT_BATCH: u64 = 100;
const HUBSPOT_ASSOCIATION_BATCH: u64 = 1_000;
const SALESFORCE_PAGE: u64 = 2_000;
const SALESFORCE_COLLECTION: u64 = 200;
const SALESFORCE_COLLECTIONS_PER_CALL: u64 = 5;

/// How big the revenue world is, per side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// People (HubSpot contacts; Salesforce Leads and Contacts).
    pub contacts: usize,
    /// Companies (HubSpot companies; Accounts).
    pub companies: usize,
    /// Opportunities (HubSpot deals after the backfill).
    pub deals: usize,
}

impl Size {
    /// The proportions for `contacts` people: a fifth as many companies, half as
    /// many deals (100,000 / 20,000 / 50,000).
    pub fn for_contacts(contacts: usize) -> Size {
        Size {
            contacts,
            companies: contacts / 5,
            deals: contacts / 2,
        }
    }
}

/// What was seeded, for the minimum and the convergence check.
#[derive(Debug, Clone, Default)]
struct Seeded {
    hubspot_contacts: u64,
    salesforce_leads: u64,
    salesforce_contacts: u64,
    hubspot_companies: u64,
    accounts: u64,
    opportunities: u64,
    roles: u64,
    /// HubSpot contacts seeded with a primary company.
    with_company: u64,
    /// Salesforce-only Accounts with an Opportunity: each becomes a HubSpot company.
    referenced_accounts: u64,
}

fn seed(world: &World, size: Size) -> anyhow::Result<Seeded> {
    let by_people = size.companies * 3 / 4;
    let alone = size.companies - by_people;
    let people = size.contacts.saturating_sub(by_people);
    let population = populate(
        &world.hubspot,
        &world.salesforce,
        people / 2,
        people - people / 2,
    )?;
    let companies = populate_companies(
        &world.hubspot,
        &world.salesforce,
        CompanyShapes {
            by_people,
            by_domain: 0,
            hubspot_only: alone,
            salesforce_only: alone,
        },
    )?;
    let roles: Vec<(String, String)> = companies
        .salesforce
        .iter()
        .zip(&companies.people)
        .map(|(account, (_, contact))| (account.clone(), contact.clone()))
        .collect();
    let deals = populate_deals(&world.salesforce, &companies.salesforce, &roles, size.deals)?;
    let with_deals: BTreeSet<usize> = (0..size.deals)
        .map(|i| i % companies.salesforce.len().max(1))
        .collect();
    Ok(Seeded {
        hubspot_contacts: (population.hubspot + by_people) as u64,
        salesforce_leads: population.salesforce as u64,
        salesforce_contacts: by_people as u64,
        hubspot_companies: companies.hubspot.len() as u64,
        accounts: companies.salesforce.len() as u64,
        opportunities: deals.opportunities.len() as u64,
        roles: deals.roles.len() as u64,
        with_company: by_people as u64,
        referenced_accounts: with_deals.iter().filter(|i| **i >= by_people).count() as u64,
    })
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// The fewest calls this backfill could have made with the APIs' batch sizes, per system:
/// every scan page of each object (HubSpot 100 a page, Salesforce 2,000; one page even when
/// empty; an Opportunity's contact roles are rows of their own, 2,000 a page, whether read
/// as OpportunityContactRole or in a relationship subquery, where child rows count against
/// the page size too), the associations of the scanned contacts read 1,000 ids a call, the records
/// written 100 (HubSpot) or 1,000 (Salesforce, five collections of 200 a composite) a
/// call, and the associations written 1,000 a call per association type (a deal's company,
/// a deal's contacts, a contact's company); in Salesforce, one describe of each object it
/// created records of (Lead, Account), and the created Leads read back 2,000 a call (their
/// `Status` is Salesforce's default).
fn minimum(seeded: &Seeded, child: &Value, after: &After) -> (u64, u64) {
    let pages = |n: u64, per: u64| min_calls(n, per).max(1);
    let hs_created = u(child, "hubspot_created");
    // Writes of associations alone are counted below, 1,000 a call.
    let hs_updated = u(child, "hubspot_written")
        .saturating_sub(hs_created)
        .saturating_sub(u(child, "hubspot_references_only"));
    let contact_links = after
        .contacts_with_company
        .saturating_sub(seeded.with_company);
    let hubspot = pages(seeded.hubspot_contacts, HUBSPOT_PAGE)
        + pages(seeded.hubspot_companies, HUBSPOT_PAGE)
        + 1
        + min_calls(seeded.hubspot_contacts, HUBSPOT_ASSOCIATION_BATCH)
        + min_calls(hs_created, HUBSPOT_BATCH)
        + min_calls(hs_updated, HUBSPOT_BATCH)
        + min_calls(after.deals_with_company, HUBSPOT_ASSOCIATION_BATCH)
        + min_calls(after.deal_contacts, HUBSPOT_ASSOCIATION_BATCH)
        + min_calls(contact_links, HUBSPOT_ASSOCIATION_BATCH);
    let sf_created = u(child, "salesforce_created");
    let sf_updated = u(child, "salesforce_written").saturating_sub(sf_created);
    let collections =
        min_calls(sf_created, SALESFORCE_COLLECTION) + min_calls(sf_updated, SALESFORCE_COLLECTION);
    let salesforce = pages(seeded.salesforce_leads, SALESFORCE_PAGE)
        + pages(seeded.salesforce_contacts, SALESFORCE_PAGE)
        + pages(seeded.accounts, SALESFORCE_PAGE)
        + pages(seeded.opportunities, SALESFORCE_PAGE)
        + min_calls(seeded.roles, SALESFORCE_PAGE)
        + min_calls(collections, SALESFORCE_COLLECTIONS_PER_CALL)
        + salesforce_read_back(after.leads.saturating_sub(seeded.salesforce_leads))
        + u64::from(after.accounts > seeded.accounts);
    (hubspot, salesforce)
}

/// The world after the backfill, as the sandboxes hold it.
#[derive(Debug, Clone, Default)]
struct After {
    hubspot_deals: u64,
    hubspot_companies: u64,
    accounts: u64,
    opportunities: u64,
    /// Leads (the backfill creates some for HubSpot's qualified contacts).
    leads: u64,
    deals_with_company: u64,
    deal_contacts: u64,
    contacts_with_company: u64,
    /// Deals sharing a name (each Opportunity's name is unique): duplicates.
    duplicate_deals: u64,
    /// HubSpot contacts linked (the state file).
    linked_contacts: u64,
    /// HubSpot deals linked.
    linked_deals: u64,
}

fn after(world: &World) -> anyhow::Result<After> {
    let path = world.state_path();
    let store =
        Store::open_existing(&path).with_context(|| format!("opening {}", path.display()))?;
    let links: BTreeMap<String, i64> = store
        .reader()
        .status()
        .context("reading the links")?
        .links_by_pair
        .into_iter()
        .collect();
    let linked = |pair: &str| {
        links
            .get(pair)
            .map_or(0, |n| u64::try_from(*n).unwrap_or(0))
    };
    let hubspot = &world.hubspot;
    let deals = hubspot.deals();
    let mut names: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = After {
        hubspot_deals: deals.len() as u64,
        hubspot_companies: hubspot.companies().len() as u64,
        accounts: world.salesforce.count("Account") as u64,
        opportunities: world.salesforce.count("Opportunity") as u64,
        leads: world.salesforce.count("Lead") as u64,
        linked_contacts: linked("contacts"),
        linked_deals: linked("deals"),
        ..After::default()
    };
    for deal in &deals {
        if let Some(name) = deal.properties.get("dealname") {
            *names.entry(name.clone()).or_default() += 1;
        }
        if !hubspot
            .associations(ObjectType::Deals, &deal.id, ObjectType::Companies)
            .is_empty()
        {
            out.deals_with_company += 1;
        }
        out.deal_contacts += hubspot
            .associations(ObjectType::Deals, &deal.id, ObjectType::Contacts)
            .len() as u64;
    }
    out.duplicate_deals = names.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    out.contacts_with_company = hubspot
        .contacts()
        .iter()
        .filter(|c| {
            hubspot
                .associations(ObjectType::Contacts, &c.id, ObjectType::Companies)
                .iter()
                .any(|a| a.primary)
        })
        .count() as u64;
    Ok(out)
}

/// HubSpot association batch reads among `seen`'s calls.
fn association_reads(seen: &Seen) -> u64 {
    seen.hubspot_endpoints
        .iter()
        .filter(|(endpoint, _)| endpoint.contains("associations") && endpoint.contains("read"))
        .map(|(_, n)| n)
        .sum()
}

/// HubSpot searches among `seen`'s calls (the incremental pull).
fn searches(seen: &Seen) -> u64 {
    seen.hubspot_endpoints
        .iter()
        .filter(|(endpoint, _)| endpoint.ends_with("/search"))
        .map(|(_, n)| n)
        .sum()
}

/// `pulled HubSpot + Salesforce / written HubSpot + Salesforce` of a `settle` child's cycles.
fn cycle_line(child: &Value) -> String {
    let sum = |key: &str| -> u64 {
        child["cycles"]
            .as_array()
            .map_or(0, |cycles| cycles.iter().map(|c| u(c, key)).sum())
    };
    format!(
        "{} + {} / {} + {}",
        thousands(sum("pulled_hubspot")),
        thousands(sum("pulled_salesforce")),
        thousands(sum("written_hubspot")),
        thousands(sum("written_salesforce"))
    )
}

/// Contacts up to which the scenario also runs two daemon cycles after the backfill.
const CYCLES_UP_TO: usize = 5_000;

/// Two daemon cycles after the backfill, each in a process of its own.
struct Cycles {
    /// The first child's figures.
    echoes: Value,
    /// What the APIs saw during the first cycle.
    first: Seen,
    /// The second child's figures.
    cycle: Value,
    /// What the APIs saw during the second cycle.
    swept: Seen,
    /// The world after both.
    settled: After,
}

/// The first cycle of a daemon sweeps every association of every linked record. The first
/// after the backfill also reads back the backfill's own writes (echoes) and writes what
/// waited for a create; the second, in a process of its own past the lookback, has little
/// else to do.
async fn cycles(world: &World, config: &str, backfilled: &Seen) -> anyhow::Result<Cycles> {
    let echoes = child::run(&["settle", "--config", config, "--max-cycles", "1"]).await?;
    let echoed = Seen::read(world);
    let first = echoed.since(backfilled);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let before_sweep = Seen::read(world);
    let cycle = child::run(&["settle", "--config", config, "--max-cycles", "1"]).await?;
    let swept = Seen::read(world).since(&before_sweep);
    Ok(Cycles {
        echoes,
        first,
        cycle,
        swept,
        settled: after(world)?,
    })
}

/// The revenue scenario at `size`.
pub async fn revenue(size: Size) -> anyhow::Result<Report> {
    let limits = Limits::professional();
    let world =
        World::start_syncing("revenue", limits, "15s", "2s", &["companies", "deals"]).await?;
    let seeded = seed(&world, size).context("seeding the revenue world")?;
    let config = world.config_path.display().to_string();
    let before = Seen::read(&world);
    let backfill = child::run(&["backfill", "--config", &config, "--restarts", "0"]).await?;
    let backfilled = Seen::read(&world);
    let seen = backfilled.since(&before);
    let busiest_10s = world
        .hubspot
        .max_in_window(std::time::Duration::from_secs(10), false);
    let state = after(&world)?;
    let cycles = if size.contacts <= CYCLES_UP_TO {
        Some(cycles(&world, &config, &backfilled).await?)
    } else {
        None
    };
    let (hs_min, sf_min) = minimum(&seeded, &backfill, &state);
    let wall = backfill["wall_s"].as_f64().unwrap_or(0.0);
    let bound = seen.hubspot_calls as f64 / limits.hubspot_rate();

    let mut report = Report::new("revenue");
    let mut calls = Table::new(
        &format!(
            "Revenue backfill: {} contacts + {} companies + {} deals per side, with associations; HubSpot {} per 10 s",
            thousands(size.contacts as u64),
            thousands(size.companies as u64),
            thousands(size.deals as u64),
            limits.hubspot_per_10s
        ),
        &["system", "API calls", "minimum", "ratio", "target", "429s"],
    );
    for (system, made, min, limited) in [
        ("HubSpot", seen.hubspot_calls, hs_min, seen.hubspot_429),
        (
            "Salesforce",
            seen.salesforce_calls,
            sf_min,
            seen.salesforce_429,
        ),
    ] {
        calls.row(vec![
            system.into(),
            thousands(made),
            thousands(min),
            format!("{:.3}", ratio(made as f64, min as f64)),
            "≤ 1.02".into(),
            thousands(limited),
        ]);
    }
    report.tables.push(calls);
    let mut time = Table::new(
        "Revenue backfill: time, memory, result",
        &["figure", "value", "target"],
    );
    time.row(vec![
        "wall time".into(),
        format!("{wall:.1} s"),
        String::new(),
    ]);
    time.row(vec![
        "quota-bound time".into(),
        format!(
            "{bound:.1} s ({} HubSpot calls / {:.0} per s)",
            thousands(seen.hubspot_calls),
            limits.hubspot_rate()
        ),
        String::new(),
    ]);
    time.row(vec![
        "wall / bound".into(),
        format!("{:.3}", ratio(wall, bound)),
        "≤ 1.05".into(),
    ]);
    time.row(vec![
        "busiest rolling 10 s (HubSpot)".into(),
        format!("{busiest_10s} requests"),
        format!("≤ {}", limits.hubspot_per_10s),
    ]);
    time.row(vec![
        "peak RSS (truce process)".into(),
        mib(u(&backfill, "peak_rss_kib")),
        String::new(),
    ]);
    time.row(vec![
        "HubSpot deals / companies after".into(),
        format!(
            "{} / {} ({} duplicate deals)",
            thousands(state.hubspot_deals),
            thousands(state.hubspot_companies),
            state.duplicate_deals
        ),
        format!(
            "{} / {} (0)",
            thousands(seeded.opportunities),
            thousands(seeded.hubspot_companies + seeded.referenced_accounts)
        ),
    ]);
    time.row(vec![
        "Accounts / Opportunities after".into(),
        format!(
            "{} / {}",
            thousands(state.accounts),
            thousands(state.opportunities)
        ),
        format!(
            "{} / {}",
            thousands(seeded.accounts),
            thousands(seeded.opportunities)
        ),
    ]);
    time.row(vec![
        "HubSpot deals with their company / contact links".into(),
        format!(
            "{} / {}",
            thousands(state.deals_with_company),
            thousands(state.deal_contacts)
        ),
        format!(
            "{} / {}",
            thousands(seeded.opportunities),
            thousands(seeded.roles)
        ),
    ]);
    report.tables.push(time);
    report.tables.extend(super::scenarios::phase_table(
        "Revenue backfill",
        &backfill,
        wall,
    ));
    let mut sweep_figures = json!(null);
    if let Some(c) = &cycles {
        let sweep_reads = association_reads(&c.swept);
        let expected_sweep = min_calls(c.settled.linked_contacts, HUBSPOT_ASSOCIATION_BATCH)
            + 2 * min_calls(c.settled.linked_deals, HUBSPOT_ASSOCIATION_BATCH);
        let mut cycles = Table::new(
            "After the backfill: two daemon cycles, each in a new process (a process's first cycle sweeps every association)",
            &["figure", "first cycle", "second cycle"],
        );
        cycles.row(vec![
            "HubSpot calls (association batch reads)".into(),
            format!(
                "{} ({})",
                thousands(c.first.hubspot_calls),
                thousands(association_reads(&c.first))
            ),
            format!(
                "{} ({})",
                thousands(c.swept.hubspot_calls),
                thousands(sweep_reads)
            ),
        ]);
        cycles.row(vec![
            "HubSpot searches (the pull)".into(),
            thousands(searches(&c.first)),
            thousands(searches(&c.swept)),
        ]);
        cycles.row(vec![
            "Salesforce calls".into(),
            thousands(c.first.salesforce_calls),
            thousands(c.swept.salesforce_calls),
        ]);
        cycles.row(vec![
            "records pulled (HubSpot + Salesforce) / written (HubSpot + Salesforce)".into(),
            cycle_line(&c.echoes),
            cycle_line(&c.cycle),
        ]);
        report.tables.push(cycles);
        let mut sweep = Table::new("The association sweep", &["figure", "value"]);
        sweep.row(vec![
            "linked HubSpot contacts / deals".into(),
            format!(
                "{} / {}",
                thousands(c.settled.linked_contacts),
                thousands(c.settled.linked_deals)
            ),
        ]);
        sweep.row(vec![
            "sweep cost: ⌈contacts / 1,000⌉ + 2 × ⌈deals / 1,000⌉ calls".into(),
            thousands(expected_sweep),
        ]);
        sweep.row(vec![
            "association reads in the second cycle (sweep + one per pulled page)".into(),
            thousands(sweep_reads),
        ]);
        sweep.row(vec![
            "at 100,000 linked contacts (and 50,000 deals)".into(),
            format!(
                "{} calls ({} for the contacts' companies)",
                thousands(100 + 2 * 50),
                100
            ),
        ]);
        report.tables.push(sweep);
        report
            .notes
            .push(format!("First cycle's calls: {}", c.first.endpoints()));
        report
            .notes
            .push(format!("Second cycle's calls: {}", c.swept.endpoints()));
        sweep_figures = json!({
            "linked_contacts": c.settled.linked_contacts,
            "linked_deals": c.settled.linked_deals,
            "sweep_association_reads": sweep_reads,
            "sweep_expected_calls": expected_sweep,
            "first_cycle": c.echoes,
            "first_cycle_hubspot_calls": c.first.hubspot_calls,
            "first_cycle_salesforce_calls": c.first.salesforce_calls,
            "cycle": c.cycle,
            "cycle_hubspot_calls": c.swept.hubspot_calls,
            "cycle_salesforce_calls": c.swept.salesforce_calls,
            "settled": {
                "hubspot_deals": c.settled.hubspot_deals,
                "hubspot_companies": c.settled.hubspot_companies,
                "deals_with_company": c.settled.deals_with_company,
                "deal_contacts": c.settled.deal_contacts,
                "contacts_with_company": c.settled.contacts_with_company,
                "duplicate_deals": c.settled.duplicate_deals,
            },
            "cycle_endpoints": {
                "hubspot": c.swept.hubspot_endpoints,
                "salesforce": c.swept.salesforce_endpoints,
            },
        });
    } else {
        report.notes.push(format!(
            "The cycles after the backfill (and the sweep's measurement) run only up to {} contacts: each cycle's pull re-reads far more than changed (see docs/operations.md), at 5 searches per second.",
            thousands(CYCLES_UP_TO as u64)
        ));
    }
    report
        .notes
        .push(format!("Backfill calls: {}", seen.endpoints()));
    report.notes.push(
        "Minimum: scan pages of every object (HubSpot 100 a page, Salesforce 2,000; an Opportunity's contact roles are rows of their own, 2,000 a page), the scanned contacts' companies read 1,000 a call, records written 100 a call (HubSpot) or 1,000 (Salesforce: five collections of 200 a composite), associations written 1,000 a call per type.".into(),
    );
    report.figure(
        "revenue",
        json!({
            "contacts": size.contacts,
            "companies": size.companies,
            "deals": size.deals,
            "hubspot_calls": seen.hubspot_calls,
            "hubspot_min_calls": hs_min,
            "hubspot_429": seen.hubspot_429,
            "salesforce_calls": seen.salesforce_calls,
            "salesforce_min_calls": sf_min,
            "salesforce_429": seen.salesforce_429,
            "wall_s": wall,
            "quota_bound_s": bound,
            "busiest_10s": busiest_10s,
            "peak_rss_kib": u(&backfill, "peak_rss_kib"),
            "child": backfill,
            "after": {
                "hubspot_deals": state.hubspot_deals,
                "hubspot_companies": state.hubspot_companies,
                "accounts": state.accounts,
                "opportunities": state.opportunities,
                "deals_with_company": state.deals_with_company,
                "deal_contacts": state.deal_contacts,
                "contacts_with_company": state.contacts_with_company,
                "duplicate_deals": state.duplicate_deals,
            },
            "seeded": {
                "hubspot_contacts": seeded.hubspot_contacts,
                "salesforce_leads": seeded.salesforce_leads,
                "salesforce_contacts": seeded.salesforce_contacts,
                "hubspot_companies": seeded.hubspot_companies,
                "accounts": seeded.accounts,
                "opportunities": seeded.opportunities,
                "roles": seeded.roles,
                "referenced_accounts": seeded.referenced_accounts,
            },
            "cycles": sweep_figures,
            "endpoints": {
                "hubspot": seen.hubspot_endpoints,
                "salesforce": seen.salesforce_endpoints,
            },
        }),
    );
    Ok(report)
}
