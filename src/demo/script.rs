//! The scripted teams: marketing works in HubSpot, sales in Salesforce, while the daemon
//! syncs.
//!
//! Each team is a tokio task acting on a schedule drawn from the seed, through the
//! sandboxes' control APIs, which validate and stamp edits as each system's UI does:
//!
//! - marketing qualifies contacts (`lifecyclestage` to `marketingqualifiedlead`, which
//!   makes them Leads in Salesforce on the next cycle) and fills in job titles and cities;
//! - sales works leads (`Working - Contacted`), disqualifies some
//!   (`Closed - Not Converted`) and converts others (the link moves to the new Contact;
//!   the conversion makes an Account and an Opportunity, which become a HubSpot company
//!   and deal associated with the contact); lead status flows back to HubSpot as
//!   `hs_lead_status`;
//! - sales wins open Opportunities now and then (`Closed Won`, with an amount): the
//!   revenue marketing then sees on the HubSpot deal;
//! - sales triages the Leads marketing handed over (those whose contact is qualified in
//!   HubSpot) a batch per round, fast enough for the demo's 20 s `first_touch`, except one
//!   in twelve it lets lie (each is a `truce::sla` breach) and the very first, which it
//!   closes without working (`discarded_untouched`);
//! - now and then both teams change the same field of the same person between two
//!   polls, which is a conflict the field's rule decides. Salesforce stamps whole
//!   seconds, so its clock is set 1.5 s ahead for that one edit: its change is then
//!   deterministically the later one, without sleeping. (Should a poll fall between the
//!   two edits, which are microseconds apart, the pair shows up as two ordinary edits
//!   instead; the backfill's seeded disagreements always give conflicts to read.)
//!
//! Every action is logged on target `demo` so the reader sees cause and effect.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use truce_sandbox::hubspot::HubSpotSandbox;
use truce_sandbox::salesforce::{LeadConvert, SalesforceSandbox};

use super::world::{CITIES, TITLES, World, phone};

/// What the teams did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Contacts marketing qualified.
    pub qualified: usize,
    /// Other marketing edits.
    pub marketing_edits: usize,
    /// Leads sales started working.
    pub worked: usize,
    /// Leads sales disqualified.
    pub disqualified: usize,
    /// Leads sales converted.
    pub converted: usize,
    /// Of those, conversions that made an Opportunity.
    pub opportunities: usize,
    /// Opportunities sales won (`Closed Won`, with an amount).
    pub won: usize,
    /// The amount of the Opportunities sales won.
    pub won_amount: u64,
    /// Times both teams edited the same field between two polls.
    pub crossed: usize,
    /// Handed-off Leads sales triaged (worked) in time.
    pub triaged: usize,
    /// Handed-off Leads sales closed without working them.
    pub discarded_untouched: usize,
}

/// Pauses between actions, per team.
const MARKETING_EVERY: Duration = Duration::from_millis(1300);
const SALES_EVERY: Duration = Duration::from_millis(1100);
const CROSSED_EVERY: Duration = Duration::from_millis(5500);

/// Handed-off Leads sales works per round: enough to work the backfill's hand-offs well
/// within the demo's `first_touch`, so the breaches are the ones sales lets lie.
const TRIAGE_PER_ROUND: usize = 16;

/// The lifecycle stages the demo's config qualifies (truce's default gate).
const QUALIFIED: [&str; 4] = [
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
];

/// The Lead status of a Lead nobody has worked yet.
const UNTOUCHED: &str = "Open - Not Contacted";

/// Starts both teams; they act until `stop` is cancelled, then the handle yields the tally.
pub fn spawn_teams(world: &World, seed: u64, stop: CancellationToken) -> JoinHandle<Tally> {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let marketing = tokio::spawn(marketing(
        world.hubspot.clone(),
        StdRng::seed_from_u64(seed ^ 0x6d6b),
        tally.clone(),
        stop.clone(),
    ));
    let sales = tokio::spawn(sales(
        world.hubspot.clone(),
        world.salesforce.clone(),
        StdRng::seed_from_u64(seed ^ 0x5a1e),
        tally.clone(),
        stop.clone(),
    ));
    let crossed = tokio::spawn(crossed(
        world.hubspot.clone(),
        world.salesforce.clone(),
        world.seeded.shared.clone(),
        StdRng::seed_from_u64(seed ^ 0xc055),
        tally.clone(),
        stop,
    ));
    tokio::spawn(async move {
        let _ = tokio::join!(marketing, sales, crossed);
        tally.lock().map(|t| *t).unwrap_or_default()
    })
}

fn bump(tally: &Mutex<Tally>, f: impl FnOnce(&mut Tally)) {
    if let Ok(mut t) = tally.lock() {
        f(&mut t);
    }
}

/// Waits `every` (give or take a third, from the seed); false once the demo stops.
async fn pause(rng: &mut StdRng, every: Duration, stop: &CancellationToken) -> bool {
    let ms = every.as_millis() as u64;
    let jitter = rng.random_range(0..=ms * 2 / 3);
    let wait = Duration::from_millis(ms * 2 / 3 + jitter);
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

async fn marketing(
    hubspot: HubSpotSandbox,
    mut rng: StdRng,
    tally: Arc<Mutex<Tally>>,
    stop: CancellationToken,
) {
    while pause(&mut rng, MARKETING_EVERY, &stop).await {
        let contacts = hubspot.contacts();
        if rng.random_range(0..3u32) < 2 {
            let candidates: Vec<_> = contacts
                .iter()
                .filter(|c| {
                    matches!(
                        c.properties.get("lifecyclestage").map(String::as_str),
                        Some("subscriber" | "lead")
                    )
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let c = candidates[rng.random_range(0..candidates.len())];
            if hubspot
                .edit(&c.id, &[("lifecyclestage", "marketingqualifiedlead")])
                .is_ok()
            {
                bump(&tally, |t| t.qualified += 1);
                tracing::info!(
                    target: "demo",
                    email = email_of(&c.properties),
                    "marketing qualified a contact (lifecyclestage: marketingqualifiedlead)"
                );
            }
        } else {
            if contacts.is_empty() {
                continue;
            }
            let c = &contacts[rng.random_range(0..contacts.len())];
            let (property, value) = if rng.random_bool(0.5) {
                ("jobtitle", TITLES[rng.random_range(0..TITLES.len())])
            } else {
                ("city", CITIES[rng.random_range(0..CITIES.len())])
            };
            if hubspot.edit(&c.id, &[(property, value)]).is_ok() {
                bump(&tally, |t| t.marketing_edits += 1);
                tracing::info!(
                    target: "demo",
                    email = email_of(&c.properties),
                    "marketing set {property} to {value:?}"
                );
            }
        }
    }
}

fn email_of(properties: &std::collections::BTreeMap<String, String>) -> &str {
    properties.get("email").map_or("", String::as_str)
}

/// Live, unconverted Leads as `(id, email, status)`.
fn open_leads(salesforce: &SalesforceSandbox) -> Vec<(String, String, String)> {
    salesforce
        .ids("Lead")
        .into_iter()
        .filter_map(|id| {
            let lead = salesforce.get("Lead", &id)?;
            if lead["IsDeleted"] == Value::Bool(true) || lead["IsConverted"] == Value::Bool(true) {
                return None;
            }
            Some((
                id,
                lead["Email"].as_str().unwrap_or("").to_string(),
                lead["Status"].as_str().unwrap_or("").to_string(),
            ))
        })
        .collect()
}

/// The emails of the HubSpot contacts that pass the qualification gate, lower-cased.
fn qualified_emails(hubspot: &HubSpotSandbox) -> BTreeSet<String> {
    hubspot
        .contacts()
        .into_iter()
        .filter(|c| {
            c.properties
                .get("lifecyclestage")
                .is_some_and(|s| QUALIFIED.contains(&s.as_str()))
        })
        .filter_map(|c| c.properties.get("email").map(|e| e.trim().to_lowercase()))
        .collect()
}

/// The handed-off Leads sales lets lie: one in twelve, by email, the same for every seed.
fn neglected(email: &str) -> bool {
    email.bytes().map(u32::from).sum::<u32>() % 12 == 0
}

/// Works a batch of the Leads marketing handed over; the first one ever is closed without
/// being worked instead.
fn triage(
    salesforce: &SalesforceSandbox,
    handed: &[&(String, String, String)],
    tally: &Mutex<Tally>,
) {
    let mut worked = 0;
    for (id, email, _) in handed.iter().take(TRIAGE_PER_ROUND) {
        let discard = tally
            .lock()
            .map(|t| t.discarded_untouched == 0)
            .unwrap_or(false);
        if discard {
            if salesforce
                .edit("Lead", id, json!({"Status": "Closed - Not Converted"}))
                .is_ok()
            {
                bump(tally, |t| t.discarded_untouched += 1);
                tracing::info!(
                    target: "demo",
                    email = email.as_str(),
                    "sales closed a lead marketing handed over without working it \
                     (Status: Closed - Not Converted)"
                );
            }
        } else if salesforce
            .edit("Lead", id, json!({"Status": "Working - Contacted"}))
            .is_ok()
        {
            worked += 1;
        }
    }
    if worked > 0 {
        bump(tally, |t| t.triaged += worked);
        tracing::info!(
            target: "demo",
            worked,
            "sales triaged {worked} leads marketing handed over (Status: Working - Contacted)"
        );
    }
}

async fn sales(
    hubspot: HubSpotSandbox,
    salesforce: SalesforceSandbox,
    mut rng: StdRng,
    tally: Arc<Mutex<Tally>>,
    stop: CancellationToken,
) {
    // Opportunities sales made by converting, not yet won: the next round wins one, so
    // even a short demo shows a lead become revenue in HubSpot.
    let mut converted: Vec<String> = Vec::new();
    while pause(&mut rng, SALES_EVERY, &stop).await {
        if let Some(opportunity) = converted.pop() {
            win(&salesforce, Some(opportunity), &mut rng, &tally);
        }
        let qualified = qualified_emails(&hubspot);
        let is_handed = |l: &(String, String, String)| {
            l.2 == UNTOUCHED && qualified.contains(&l.1.trim().to_lowercase())
        };
        let leads = open_leads(&salesforce);
        let handed: Vec<_> = leads
            .iter()
            .filter(|l| is_handed(l) && !neglected(&l.1))
            .collect();
        triage(&salesforce, &handed, &tally);
        let leads = open_leads(&salesforce);
        let fresh: Vec<_> = leads
            .iter()
            .filter(|l| l.2 == UNTOUCHED && !(is_handed(l) && neglected(&l.1)))
            .collect();
        let working: Vec<_> = leads
            .iter()
            .filter(|l| l.2 == "Working - Contacted")
            .collect();
        // The first round converts, so every demo shows a conversion.
        let first = tally.lock().map(|t| t.converted == 0).unwrap_or(false);
        let roll = if first { 9 } else { rng.random_range(0..10u32) };
        if roll < 5 && !fresh.is_empty() {
            let (id, email, _) = fresh[rng.random_range(0..fresh.len())];
            if salesforce
                .edit("Lead", id, json!({"Status": "Working - Contacted"}))
                .is_ok()
            {
                bump(&tally, |t| t.worked += 1);
                tracing::info!(target: "demo", email, "sales started working a lead (Status: Working - Contacted)");
            }
        } else if roll < 7 && !working.is_empty() {
            let (id, email, _) = working[rng.random_range(0..working.len())];
            if salesforce
                .edit("Lead", id, json!({"Status": "Closed - Not Converted"}))
                .is_ok()
            {
                bump(&tally, |t| t.disqualified += 1);
                tracing::info!(target: "demo", email, "sales disqualified a lead (Status: Closed - Not Converted)");
            }
        } else if !working.is_empty() {
            let (id, email, _) = working[rng.random_range(0..working.len())];
            if let Ok(made) = salesforce.convert_lead_with(id, &LeadConvert::default()) {
                let with_opportunity = made.opportunity_id.is_some();
                converted.extend(made.opportunity_id);
                bump(&tally, |t| {
                    t.converted += 1;
                    t.opportunities += usize::from(with_opportunity);
                });
                tracing::info!(
                    target: "demo",
                    email,
                    "sales converted a lead into a Contact, an Account{}",
                    if with_opportunity { " and an Opportunity" } else { "" }
                );
            }
        }
        // Now and then, another deal closes.
        if rng.random_bool(0.4) {
            win(&salesforce, None, &mut rng, &tally);
        }
    }
}

/// Open Opportunities as `(id, name)`.
fn open_opportunities(salesforce: &SalesforceSandbox) -> Vec<(String, String)> {
    salesforce
        .ids("Opportunity")
        .into_iter()
        .filter_map(|id| {
            let opportunity = salesforce.get("Opportunity", &id)?;
            if opportunity["IsDeleted"] == Value::Bool(true)
                || opportunity["IsClosed"] == Value::Bool(true)
            {
                return None;
            }
            Some((id, opportunity["Name"].as_str().unwrap_or("").to_string()))
        })
        .collect()
}

/// Sales wins `which` Opportunity, or any open one, with an amount drawn from the seed.
fn win(
    salesforce: &SalesforceSandbox,
    which: Option<String>,
    rng: &mut StdRng,
    tally: &Mutex<Tally>,
) {
    let open = open_opportunities(salesforce);
    let chosen = match which {
        Some(id) => open.iter().find(|(open, _)| *open == id),
        None if open.is_empty() => None,
        None => open.get(rng.random_range(0..open.len())),
    };
    let Some((id, name)) = chosen else {
        return;
    };
    let amount = 1000 * rng.random_range(5..60u64);
    if salesforce
        .edit(
            "Opportunity",
            id,
            json!({"StageName": "Closed Won", "Amount": amount}),
        )
        .is_ok()
    {
        bump(tally, |t| {
            t.won += 1;
            t.won_amount += amount;
        });
        tracing::info!(
            target: "demo",
            opportunity = name.as_str(),
            amount,
            "sales won an opportunity (StageName: Closed Won)"
        );
    }
}

/// Both teams change the same field of one person between two polls.
async fn crossed(
    hubspot: HubSpotSandbox,
    salesforce: SalesforceSandbox,
    shared: Vec<String>,
    mut rng: StdRng,
    tally: Arc<Mutex<Tally>>,
    stop: CancellationToken,
) {
    while pause(&mut rng, CROSSED_EVERY, &stop).await {
        if shared.is_empty() {
            return;
        }
        let email = &shared[rng.random_range(0..shared.len())];
        let Some(contact) = hubspot.find_by_email(email) else {
            continue;
        };
        // The record the link points at: the Contact when there is one, else the Lead.
        let found = salesforce.find_by_email(email);
        let target = found
            .iter()
            .find(|(object, _)| object == "Contact")
            .or_else(|| found.iter().find(|(object, _)| object == "Lead"));
        let Some((object, id)) = target else {
            continue;
        };
        if object == "Lead"
            && salesforce
                .get("Lead", id)
                .is_some_and(|l| l["IsConverted"] == Value::Bool(true))
        {
            continue;
        }
        let (property, field, hubspot_value, salesforce_value) = match rng.random_range(0..3u32) {
            0 => ("phone", "Phone", phone(&mut rng), phone(&mut rng)),
            1 => (
                "jobtitle",
                "Title",
                "Head of Growth".to_string(),
                "VP Marketing".to_string(),
            ),
            _ => {
                let first = contact
                    .properties
                    .get("firstname")
                    .cloned()
                    .unwrap_or_default();
                (
                    "firstname",
                    "FirstName",
                    format!("{first}-Marie"),
                    format!("{first} M."),
                )
            }
        };
        if hubspot
            .edit(&contact.id, &[(property, hubspot_value.as_str())])
            .is_err()
        {
            continue;
        }
        salesforce.pin_clock(Some(
            chrono::Utc::now() + chrono::Duration::milliseconds(1500),
        ));
        let edited = salesforce.edit(object, id, json!({ field: salesforce_value }));
        salesforce.pin_clock(None);
        if edited.is_ok() {
            bump(&tally, |t| t.crossed += 1);
            tracing::info!(
                target: "demo",
                email = email.as_str(),
                "both teams edited {property}: marketing wrote {hubspot_value:?} in HubSpot, \
                 sales wrote {salesforce_value:?} in Salesforce a moment later"
            );
        }
    }
}
