//! Deterministic seeding and simulated user edits: realistic leads, contacts, accounts and
//! opportunities drawn from a seed, so the demo, the tests and the benchmark get the same
//! org for the same seed.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use super::objects::account::INDUSTRIES;
use super::store::{LEAD_SOURCES, LEAD_STATUSES, Org, is_deleted, obj, row_id};

const FIRST: [&str; 24] = [
    "Ada", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Keiko",
    "Liam", "Maya", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wen", "Yusuf",
];
const LAST: [&str; 24] = [
    "Adams", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "O'Neil", "Patel", "Quispe", "Rossi", "Schmidt",
    "Tanaka", "Ulrich", "Varga", "Weber", "Young",
];
const COMPANIES: [&str; 12] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
];
const TITLES: [&str; 4] = ["Head of Ops", "CFO", "Analyst", "Director"];
const CITIES: [&str; 10] = [
    "Berlin", "Lisbon", "Toronto", "Austin", "Osaka", "Nairobi", "Lyon", "Denver", "Porto",
    "Dublin",
];

fn pick(rng: &mut StdRng) -> (&'static str, &'static str, &'static str, &'static str) {
    (
        FIRST[rng.random_range(0..FIRST.len())],
        LAST[rng.random_range(0..LAST.len())],
        COMPANIES[rng.random_range(0..COMPANIES.len())],
        CITIES[rng.random_range(0..CITIES.len())],
    )
}

fn clean(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

fn email(first: &str, last: &str, company: &str, n: usize) -> String {
    format!(
        "{}.{}{}@{}.example.com",
        clean(first),
        clean(last),
        n,
        clean(company)
    )
}

fn live(org: &Org, object: &str) -> Vec<String> {
    org.rows(object)
        .filter(|r| !is_deleted(r))
        .filter(|r| r.get("IsConverted") != Some(&Value::Bool(true)))
        .map(row_id)
        .collect()
}

/// `n` realistic leads; returns their ids.
pub(crate) fn leads(org: &mut Org, n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let base = org.count("Lead");
    (0..n)
        .filter_map(|i| {
            let (first, last, company, city) = pick(&mut rng);
            let status = LEAD_STATUSES[[0, 0, 1, 3][rng.random_range(0..4usize)]];
            let title =
                ["CTO", "VP Sales", "Engineer", "Buyer", "Founder"][rng.random_range(0..5usize)];
            let body = json!({
                "FirstName": first, "LastName": last, "Company": company, "City": city,
                "Email": email(first, last, company, base + i),
                "Phone": format!("+1 555 {:04}", rng.random_range(0..10_000u32)),
                "Status": status,
                "LeadSource": LEAD_SOURCES[rng.random_range(0..LEAD_SOURCES.len())],
                "Title": title,
            });
            org.create("Lead", &obj(body)).ok()
        })
        .collect()
}

/// `n` realistic contacts; returns their ids.
pub(crate) fn contacts(org: &mut Org, n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc0);
    let base = org.count("Contact") + 1_000_000;
    (0..n)
        .filter_map(|i| {
            let (first, last, company, city) = pick(&mut rng);
            let body = json!({
                "FirstName": first, "LastName": last, "MailingCity": city,
                "Email": email(first, last, company, base + i),
                "Phone": format!("+1 555 {:04}", rng.random_range(0..10_000u32)),
                "LeadSource": LEAD_SOURCES[rng.random_range(0..LEAD_SOURCES.len())],
            });
            org.create("Contact", &obj(body)).ok()
        })
        .collect()
}

/// `n` realistic accounts (a company name, its website, city and industry); returns their
/// ids.
pub(crate) fn accounts(org: &mut Org, n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xacc);
    let base = org.count("Account");
    (0..n)
        .filter_map(|i| {
            let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
            let name = format!("{company} {}", base + i + 1);
            let body = json!({
                "Name": name,
                "Website": format!("https://{}{}.example.com", clean(company), base + i + 1),
                "BillingCity": CITIES[rng.random_range(0..CITIES.len())],
                "Industry": INDUSTRIES[rng.random_range(0..INDUSTRIES.len())],
                "NumberOfEmployees": rng.random_range(5..5_000u32),
                "Phone": format!("+1 555 {:04}", rng.random_range(0..10_000u32)),
            });
            org.create("Account", &obj(body)).ok()
        })
        .collect()
}

/// `n` opportunities on live accounts (none without accounts), in open and closed stages,
/// closing within the year after the org's today; returns their ids.
pub(crate) fn opportunities(org: &mut Org, n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0bb);
    let accounts = live(org, "Account");
    let stages: Vec<String> = org
        .stages()
        .into_iter()
        .filter(|s| s.active)
        .map(|s| s.api_name)
        .collect();
    if accounts.is_empty() || stages.is_empty() {
        return Vec::new();
    }
    let today = org.now().date_naive();
    (0..n)
        .filter_map(|i| {
            let account = &accounts[rng.random_range(0..accounts.len())];
            let name = org
                .get("Account", account)
                .and_then(|r| r.get("Name"))
                .and_then(Value::as_str)
                .unwrap_or("Deal")
                .to_string();
            let close = today + chrono::Days::new(rng.random_range(1..365u64));
            let body = json!({
                "Name": format!("{name} - Deal {}", i + 1),
                "AccountId": account,
                "StageName": stages[rng.random_range(0..stages.len())],
                "CloseDate": close.format("%Y-%m-%d").to_string(),
                "Amount": f64::from(rng.random_range(1..500u32) * 1_000),
                "Type": "New Customer",
            });
            org.create("Opportunity", &obj(body)).ok()
        })
        .collect()
}

/// `n` edits as sales people would make them: a lead's status moves on, a title or phone
/// number changes, a contact moves city. Converted and deleted records are left alone.
pub(crate) fn user_edits(org: &mut Org, n: usize, seed: u64) -> Vec<(String, String)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xed17);
    let leads = live(org, "Lead");
    let contacts = live(org, "Contact");
    let mut edited = Vec::new();
    for _ in 0..n {
        let lead_turn = contacts.is_empty() || (!leads.is_empty() && rng.random_range(0..3u32) < 2);
        let (object, pool) = if lead_turn {
            ("Lead", &leads)
        } else {
            ("Contact", &contacts)
        };
        if pool.is_empty() {
            break;
        }
        let id = pool[rng.random_range(0..pool.len())].clone();
        let body = match (object, rng.random_range(0..3u32)) {
            ("Lead", 0) => {
                json!({"Status": LEAD_STATUSES[if rng.random_range(0..2u32) == 0 { 1 } else { 3 }]})
            }
            ("Lead", 1) => json!({"Title": TITLES[rng.random_range(0..TITLES.len())]}),
            ("Lead", _) => json!({"City": CITIES[rng.random_range(0..CITIES.len())]}),
            (_, 0) => json!({"MailingCity": CITIES[rng.random_range(0..CITIES.len())]}),
            (_, 1) => json!({"Title": TITLES[rng.random_range(0..TITLES.len())]}),
            _ => json!({"Phone": format!("+1 555 {:04}", rng.random_range(0..10_000u32))}),
        };
        if org.update(object, &id, &obj(body)).is_ok() {
            edited.push((object.to_string(), id));
        }
    }
    edited
}
