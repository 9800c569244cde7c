//! The people a world is seeded with: the demo's small company, and the benchmark's and
//! end-to-end tests' population numbered by index.
//!
//! The demo's company, deterministic for a seed ([`seed_demo`]):
//!
//! - 500 HubSpot contacts across lifecycle stages (most are not yet qualified, so they stay
//!   in HubSpot until marketing qualifies them);
//! - 300 Salesforce Leads and 100 Contacts;
//! - 150 emails in both systems (100 as Leads, 50 as Contacts), a few of them with
//!   deliberately different values on each side, so the backfill has conflicts to decide
//!   by rule;
//! - one qualified HubSpot contact whose email HubSpot accepts and Salesforce refuses
//!   (a one-letter top-level domain), so the first create is quarantined with Salesforce's
//!   own message.
//!
//! The numbered population ([`populate`]): `shared` people on both sides and `only` more on
//! each side alone, with values that differ on purpose (blanks to fill both ways, conflicts
//! to decide by rule, HubSpot-only contacts of which some are qualified), the same for any
//! run, so call counts can be checked exactly.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

use super::WorldError;
use crate::hubspot::HubSpotSandbox;
use crate::salesforce::SalesforceSandbox;

/// HubSpot contacts seeded (the refused one included).
pub const HUBSPOT_CONTACTS: usize = 500;
/// Salesforce Leads seeded.
pub const SALESFORCE_LEADS: usize = 300;
/// Salesforce Contacts seeded.
pub const SALESFORCE_CONTACTS: usize = 100;
/// Emails in both systems: the first `SHARED_AS_LEADS` as Leads, the rest as Contacts.
pub const SHARED: usize = 150;
/// The first shared people are Leads in Salesforce; those after are Contacts.
pub const SHARED_AS_LEADS: usize = 100;

const FIRST: [&str; 20] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Frances",
    "John",
    "Radia",
    "Linus",
    "Katherine",
    "Dennis",
    "Hedy",
    "Tim",
    "Sophie",
    "Anita",
    "Bjarne",
    "Joan",
];
const LAST: [&str; 20] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Allen",
    "McCarthy",
    "Perlman",
    "Torvalds",
    "Johnson",
    "Ritchie",
    "Lamarr",
    "Berners-Lee",
    "Wilson",
    "Borg",
    "Stroustrup",
    "Clarke",
];
const COMPANIES: [&str; 10] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
];
/// Cities people live in.
pub const CITIES: [&str; 10] = [
    "Oslo", "Lyon", "Austin", "Leeds", "Porto", "Ghent", "Graz", "Turku", "Cork", "Bergen",
];
/// Job titles both teams use.
pub const TITLES: [&str; 8] = [
    "CTO",
    "VP Sales",
    "Engineer",
    "Buyer",
    "Founder",
    "Head of Growth",
    "Marketing Manager",
    "Procurement Lead",
];
/// Lifecycle stages with their share of the seeded contacts (out of 100).
const STAGES: [(&str, u32); 6] = [
    ("subscriber", 30),
    ("lead", 30),
    ("marketingqualifiedlead", 20),
    ("salesqualifiedlead", 10),
    ("opportunity", 5),
    ("customer", 5),
];
const LEAD_STATUSES: [(&str, u32); 3] = [
    ("Open - Not Contacted", 50),
    ("Working - Contacted", 30),
    ("Closed - Not Converted", 20),
];

/// The email Salesforce refuses (a one-letter top-level domain) and HubSpot accepts.
pub const REFUSED_EMAIL: &str = "jordan.typo@initech.c";

/// What was seeded, for the demo's script and report (all empty when nobody was).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seeded {
    /// Emails present in both systems at the start.
    pub shared: Vec<String>,
    /// Emails whose two sides were seeded with different values (a conflict each).
    pub conflicting: Vec<String>,
    /// HubSpot contacts seeded.
    pub hubspot: usize,
    /// Salesforce Leads seeded.
    pub leads: usize,
    /// Salesforce Contacts seeded.
    pub contacts: usize,
    /// HubSpot companies seeded (the demo's revenue, see [`super::revenue::seed_demo_revenue`]).
    pub companies: usize,
    /// Salesforce Accounts seeded.
    pub accounts: usize,
    /// Salesforce Opportunities seeded.
    pub opportunities: usize,
    /// Of those, seeded won (`Closed Won`).
    pub won: usize,
}

/// One generated person.
struct Person {
    first: &'static str,
    last: &'static str,
    company: &'static str,
    city: &'static str,
    phone: String,
    title: &'static str,
    email: String,
}

fn person(rng: &mut StdRng, serial: usize) -> Person {
    let first = FIRST[rng.random_range(0..FIRST.len())];
    let last = LAST[rng.random_range(0..LAST.len())];
    let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
    let domain = company.to_lowercase().replace(' ', "");
    Person {
        first,
        last,
        company,
        city: CITIES[rng.random_range(0..CITIES.len())],
        phone: phone(rng),
        title: TITLES[rng.random_range(0..TITLES.len())],
        email: format!(
            "{}.{}.{serial}@{domain}.example",
            first.to_lowercase(),
            last.to_lowercase().replace('-', "")
        ),
    }
}

/// A phone number in the format both teams type.
pub fn phone(rng: &mut StdRng) -> String {
    format!(
        "+1 555 {:03} {:04}",
        rng.random_range(0..1000u32),
        rng.random_range(0..10_000u32)
    )
}

/// Picks from `(value, weight)` pairs whose weights sum to 100.
fn weighted(rng: &mut StdRng, table: &[(&'static str, u32)]) -> &'static str {
    let mut roll = rng.random_range(0..100u32);
    for (value, weight) in table {
        if roll < *weight {
            return value;
        }
        roll -= weight;
    }
    table[0].0
}

/// The deliberate disagreements, one per rule: which seeded shared person (by index)
/// gets which different Salesforce value. Index 100 onwards are Contacts.
pub const CONFLICTS: [(usize, &str, &str); 5] = [
    (3, "FirstName", "Kate"),
    (7, "LastName", "Hopper-Smith"),
    (11, "Company", "Globex Corporation"),
    (15, "Phone", "+1 555 000 0000"),
    (104, "MailingCity", "Reykjavik"),
];

/// Seeds the demo's company into both sandboxes, deterministically from `seed`.
pub fn seed_demo(
    hubspot: &HubSpotSandbox,
    salesforce: &SalesforceSandbox,
    seed: u64,
) -> Result<Seeded, WorldError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut shared = Vec::new();
    let mut conflicting = Vec::new();
    // HubSpot: every contact but the last; the last is the one Salesforce refuses.
    for i in 0..HUBSPOT_CONTACTS - 1 {
        let p = person(&mut rng, i);
        // The shared people are customers of sales already: at least a lead in HubSpot.
        let stage = if i < SHARED {
            ["lead", "marketingqualifiedlead", "salesqualifiedlead"][i % 3]
        } else {
            weighted(&mut rng, &STAGES)
        };
        let mut props = vec![
            ("email", p.email.as_str()),
            ("firstname", p.first),
            ("lastname", p.last),
            ("city", p.city),
            ("lifecyclestage", stage),
        ];
        if rng.random_bool(0.9) {
            props.push(("company", p.company));
        }
        // Shared people have the phone number sales has; others may have none yet.
        if i < SHARED || rng.random_bool(0.7) {
            props.push(("phone", p.phone.as_str()));
        }
        if rng.random_bool(0.5) {
            props.push(("jobtitle", p.title));
        }
        hubspot
            .create_contact(&props)
            .map_err(|source| WorldError::hubspot(&p.email, source))?;
        if i < SHARED {
            let mut record = if i < SHARED_AS_LEADS {
                json!({
                    "FirstName": p.first, "LastName": p.last, "Company": p.company,
                    "City": p.city, "Phone": p.phone, "Title": p.title,
                    // Sales types emails as they get them: case differs, people match.
                    "Email": if i % 4 == 0 { p.email.to_uppercase() } else { p.email.clone() },
                    "Status": weighted(&mut rng, &LEAD_STATUSES),
                })
            } else {
                json!({
                    "FirstName": p.first, "LastName": p.last, "MailingCity": p.city,
                    "Phone": p.phone, "Title": p.title, "Email": p.email,
                })
            };
            if let Some((_, field, value)) = CONFLICTS.iter().find(|(at, _, _)| *at == i) {
                record[*field] = json!(value);
                conflicting.push(p.email.clone());
            }
            let object = if i < SHARED_AS_LEADS {
                "Lead"
            } else {
                "Contact"
            };
            salesforce
                .create(object, record)
                .map_err(|errors| WorldError::salesforce(object, &p.email, errors))?;
            shared.push(p.email);
        }
    }
    hubspot
        .create_contact(&[
            ("email", REFUSED_EMAIL),
            ("firstname", "Jordan"),
            ("lastname", "Typo"),
            ("company", "Initech"),
            ("lifecyclestage", "marketingqualifiedlead"),
        ])
        .map_err(|source| WorldError::hubspot(REFUSED_EMAIL, source))?;
    // Salesforce-only people: the rest of the Leads and Contacts.
    for i in SHARED_AS_LEADS..SALESFORCE_LEADS {
        let p = person(&mut rng, 10_000 + i);
        let lead = json!({
            "FirstName": p.first, "LastName": p.last, "Company": p.company, "City": p.city,
            "Phone": p.phone, "Title": p.title, "Email": p.email,
            "Status": weighted(&mut rng, &LEAD_STATUSES),
        });
        salesforce
            .create("Lead", lead)
            .map_err(|errors| WorldError::salesforce("Lead", &p.email, errors))?;
    }
    for i in (SHARED - SHARED_AS_LEADS)..SALESFORCE_CONTACTS {
        let p = person(&mut rng, 20_000 + i);
        let contact = json!({
            "FirstName": p.first, "LastName": p.last, "MailingCity": p.city,
            "Phone": p.phone, "Title": p.title, "Email": p.email,
        });
        salesforce
            .create("Contact", contact)
            .map_err(|errors| WorldError::salesforce("Contact", &p.email, errors))?;
    }
    Ok(Seeded {
        shared,
        conflicting,
        hubspot: hubspot.count(),
        leads: salesforce.count("Lead"),
        contacts: salesforce.count("Contact"),
        ..Seeded::default()
    })
}

/// Who [`populate`] seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    /// HubSpot contacts seeded.
    pub hubspot: usize,
    /// Salesforce leads seeded.
    pub salesforce: usize,
    /// People in both (same email, different case on the Salesforce side).
    pub shared: usize,
}

const NUMBERED_STAGES: [&str; 4] = ["subscriber", "lead", "marketingqualifiedlead", "customer"];
const NUMBERED_STATUSES: [&str; 3] = [
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Not Converted",
];

/// The email of shared person `i` (as HubSpot holds it).
pub fn shared_email(i: usize) -> String {
    format!("shared{i}@example.com")
}

/// Seeds `shared` people in both systems, plus `only` on each side alone: HubSpot
/// contacts `0..shared + only` and as many Salesforce Leads, the first `shared` of them
/// the same people.
pub fn populate(
    hubspot: &HubSpotSandbox,
    salesforce: &SalesforceSandbox,
    shared: usize,
    only: usize,
) -> Result<Population, WorldError> {
    let n = shared + only;
    for i in 0..n {
        let email = if i < shared {
            shared_email(i)
        } else {
            format!("hs-only{i}@example.com")
        };
        let first = format!("First{i}");
        let city = format!("City{}", i % 7);
        let mut props = vec![
            ("email", email.as_str()),
            ("firstname", first.as_str()),
            ("lifecyclestage", NUMBERED_STAGES[i % NUMBERED_STAGES.len()]),
            ("city", city.as_str()),
        ];
        if i % 3 != 0 {
            props.push(("company", "Hub Co"));
        }
        if i % 5 == 0 {
            props.push(("phone", "+1 555 0100"));
        }
        hubspot
            .create_contact(&props)
            .map_err(|source| WorldError::hubspot(&email, source))?;
    }
    for i in 0..n {
        let email = if i < shared {
            format!("SHARED{i}@Example.com")
        } else {
            format!("sf-only{i}@example.com")
        };
        let mut lead = json!({
            "LastName": format!("Last{i}"),
            "Company": if i % 2 == 0 { "Sales Co" } else { "[not provided]" },
            "Email": email,
            "Status": NUMBERED_STATUSES[i % NUMBERED_STATUSES.len()],
        });
        if i % 4 == 0 {
            lead["FirstName"] = json!(format!("Sales{i}"));
        }
        if i % 6 == 0 {
            lead["City"] = json!("Lyon");
        }
        salesforce
            .create("Lead", lead)
            .map_err(|errors| WorldError::salesforce("Lead", &email, errors))?;
    }
    Ok(Population {
        hubspot: n,
        salesforce: n,
        shared,
    })
}
