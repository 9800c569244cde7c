//! Deterministic seeding: realistic contacts, companies and deals from a seed, with fixed
//! dates in 2025, so the same seed gives the same portal.
//!
//! The first ten companies seeded are the employers seeded contacts' emails point at
//! (`acme.example`...), so [`HubSpotSandbox::associate_contacts_by_domain`] can link them;
//! deals are spread over the default pipeline's stages and associated with a seeded
//! company (as primary) and some of its contacts.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::HubSpotSandbox;
use super::objects::ObjectType;
use super::pipelines::DealPipeline;
use super::schema::{INDUSTRIES, LEAD_STATUSES, LIFECYCLE_STAGES};

/// The employers of seeded contacts, and the first seeded companies.
pub(super) const COMPANIES: [&str; 10] = [
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

const CITIES: [&str; 10] = [
    "Oslo", "Lyon", "Austin", "Leeds", "Porto", "Ghent", "Graz", "Turku", "Cork", "Bergen",
];

const SUFFIXES: [&str; 8] = [
    "Labs",
    "Systems",
    "Holdings",
    "Analytics",
    "Logistics",
    "Robotics",
    "Foods",
    "Media",
];

const PRODUCTS: [&str; 8] = [
    "Platform licence",
    "Renewal",
    "Expansion",
    "Pilot",
    "Support plan",
    "Onboarding",
    "Upgrade",
    "Services",
];

/// The domain seeded contacts of `company` have in their emails.
fn domain_of(company: &str) -> String {
    format!("{}.example", company.to_lowercase().replace(' ', ""))
}

impl HubSpotSandbox {
    /// Adds `n` deterministic, realistic contacts (same `seed`, same contacts); returns
    /// their ids. Their dates are fixed points in 2025, one to three seconds apart.
    pub fn seed_contacts(&self, n: usize, seed: u64) -> Vec<String> {
        const FIRST: [&str; 16] = [
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
        ];
        const LAST: [&str; 16] = [
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
        ];
        let mut rng = StdRng::seed_from_u64(seed);
        let mut portal = self.inner.portal();
        let mut at: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z
        let mut ids = Vec::with_capacity(n);
        let start = portal.records(ObjectType::Contacts).count();
        for i in 0..n {
            let serial = start + i;
            let first = FIRST[rng.random_range(0..FIRST.len())];
            let last = LAST[rng.random_range(0..LAST.len())];
            let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
            let domain = company.to_lowercase().replace(' ', "");
            let mut props = BTreeMap::new();
            props.insert(
                "email".to_string(),
                format!(
                    "{}.{}.{serial}@{domain}.example",
                    first.to_lowercase(),
                    last.to_lowercase().replace('-', "")
                ),
            );
            props.insert("firstname".into(), first.to_string());
            props.insert("lastname".into(), last.to_string());
            props.insert("company".into(), company.to_string());
            props.insert(
                "city".into(),
                CITIES[rng.random_range(0..CITIES.len())].to_string(),
            );
            props.insert(
                "phone".into(),
                format!(
                    "+1 555 {:03} {:04}",
                    rng.random_range(0..1000),
                    rng.random_range(0..10_000)
                ),
            );
            let stage = LIFECYCLE_STAGES[rng.random_range(0..6)];
            props.insert("lifecyclestage".into(), stage.to_string());
            if rng.random_bool(0.6) {
                let status = LEAD_STATUSES[rng.random_range(0..LEAD_STATUSES.len())];
                props.insert("hs_lead_status".into(), status.to_string());
            }
            at += rng.random_range(1_000..3_000);
            ids.push(
                portal
                    .insert_seeded(ObjectType::Contacts, props, at)
                    .to_string(),
            );
        }
        ids
    }

    /// Adds `n` deterministic, realistic companies (same `seed`, same companies); returns
    /// their ids. The first ten of a portal are the employers of seeded contacts, with the
    /// domains in their emails; later ones get domains of their own. Dates are fixed
    /// points in 2025.
    pub fn seed_companies(&self, n: usize, seed: u64) -> Vec<String> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut portal = self.inner.portal();
        let start = portal.records(ObjectType::Companies).count();
        let mut at: i64 = 1_738_368_000_000; // 2025-02-01T00:00:00Z
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let serial = start + i;
            let base = COMPANIES[serial % COMPANIES.len()];
            let (name, domain) = if serial < COMPANIES.len() {
                (base.to_string(), domain_of(base))
            } else {
                let suffix = SUFFIXES[(serial / COMPANIES.len()) % SUFFIXES.len()];
                let name = format!("{base} {suffix} {serial}");
                let domain = domain_of(&format!("{base}{suffix}{serial}"));
                (name, domain)
            };
            let mut props = BTreeMap::new();
            props.insert("website".to_string(), format!("https://www.{domain}"));
            props.insert("name".to_string(), name);
            props.insert("domain".to_string(), domain);
            props.insert(
                "industry".into(),
                INDUSTRIES[rng.random_range(0..INDUSTRIES.len())].to_string(),
            );
            props.insert(
                "city".into(),
                CITIES[rng.random_range(0..CITIES.len())].to_string(),
            );
            props.insert(
                "phone".into(),
                format!(
                    "+1 555 {:03} {:04}",
                    rng.random_range(0..1000),
                    rng.random_range(0..10_000)
                ),
            );
            props.insert(
                "numberofemployees".into(),
                rng.random_range(5..20_000).to_string(),
            );
            props.insert(
                "annualrevenue".into(),
                (rng.random_range(1..5_000) * 10_000).to_string(),
            );
            at += rng.random_range(1_000..3_000);
            ids.push(
                portal
                    .insert_seeded(ObjectType::Companies, props, at)
                    .to_string(),
            );
        }
        ids
    }

    /// Adds `n` deterministic deals (same `seed` and same portal, same deals); returns
    /// their ids. Each is in the default pipeline at a stage drawn from it, with an amount
    /// and a close date (midnight UTC), associated with a live company as its primary
    /// company and with one or two live contacts, when there are any. Dates are fixed
    /// points in 2025.
    pub fn seed_deals(&self, n: usize, seed: u64) -> Vec<String> {
        let mut rng = StdRng::seed_from_u64(seed);
        let stages = DealPipeline::sales().stages;
        let mut portal = self.inner.portal();
        let companies: Vec<(u64, String)> = portal
            .records(ObjectType::Companies)
            .all()
            .map(|c| (c.id, c.props.get("name").cloned().unwrap_or_default()))
            .collect();
        let contacts: Vec<u64> = portal
            .records(ObjectType::Contacts)
            .all()
            .map(|c| c.id)
            .collect();
        let mut at: i64 = 1_740_787_200_000; // 2025-03-01T00:00:00Z
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let company = (!companies.is_empty())
                .then(|| companies[rng.random_range(0..companies.len())].clone());
            let product = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
            let stage = &stages[rng.random_range(0..stages.len())];
            let mut props = BTreeMap::new();
            let name = match &company {
                Some((_, company)) => format!("{company} - {product}"),
                None => product.to_string(),
            };
            props.insert("dealname".to_string(), name);
            props.insert("pipeline".into(), "default".into());
            props.insert("dealstage".into(), stage.id.clone());
            props.insert(
                "amount".into(),
                format!("{}.00", rng.random_range(10..2_000) * 500),
            );
            // Close dates are days in 2025 and 2026, at midnight UTC.
            let day = 1_735_689_600_000 + rng.random_range(0..730_i64) * 86_400_000;
            props.insert("closedate".into(), super::schema::iso(day));
            at += rng.random_range(1_000..3_000);
            let id = portal.insert_seeded(ObjectType::Deals, props, at);
            let deal = (ObjectType::Deals, id);
            if let Some((company, _)) = company {
                portal
                    .associations
                    .link(deal, (ObjectType::Companies, company), true);
            }
            if !contacts.is_empty() {
                for _ in 0..rng.random_range(1..3) {
                    let contact = contacts[rng.random_range(0..contacts.len())];
                    portal
                        .associations
                        .link(deal, (ObjectType::Contacts, contact), false);
                }
            }
            ids.push(id.to_string());
        }
        ids
    }
}
