//! The revenue side of a world: companies and Accounts, with the people who tie them
//! together, and deals and Opportunities on them.
//!
//! [`populate_companies`] seeds the shapes identity must tell apart: companies shared
//! through people (a HubSpot contact whose primary company is the company, and a Salesforce
//! Contact of the same email under the Account), companies shared only by their domain, and
//! companies on one side only. [`populate_deals`] seeds Opportunities on Accounts with
//! contact roles. Values come from the worlds' value tables ([`INDUSTRIES`], [`STAGES`]), so
//! every seeded value maps. [`seed_demo_revenue`] is the demo's small revenue world on top
//! of its people.

use std::collections::HashMap;

use serde_json::json;

use super::WorldError;
use super::config::{INDUSTRIES, STAGES};
use crate::hubspot::{HubSpotSandbox, ObjectType};
use crate::salesforce::SalesforceSandbox;

/// How many companies of each shape to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompanyShapes {
    /// Companies in both systems, tied by a person in both (same email) whose HubSpot
    /// contact has the company as primary and whose Salesforce Contact is under the
    /// Account.
    pub by_people: usize,
    /// Companies in both systems with one domain (HubSpot `domain`, Account `Website` as a
    /// URL) and nobody tying them.
    pub by_domain: usize,
    /// Companies in HubSpot only.
    pub hubspot_only: usize,
    /// Accounts in Salesforce only.
    pub salesforce_only: usize,
}

/// The ids [`populate_companies`] seeded, in shape order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Companies {
    /// HubSpot company ids: `by_people`, then `by_domain`, then `hubspot_only`.
    pub hubspot: Vec<String>,
    /// Account ids: `by_people`, then `by_domain`, then `salesforce_only`.
    pub salesforce: Vec<String>,
    /// The people tying the `by_people` companies: `(HubSpot contact, Salesforce Contact)`.
    pub people: Vec<(String, String)>,
}

/// The email of the person tying company `i`.
pub fn company_person_email(i: usize) -> String {
    format!("buyer{i}@company{i}.example.com")
}

/// The domain of company `i`.
pub fn company_domain(i: usize) -> String {
    format!("company{i}.example.com")
}

/// Seeds companies of every shape in both sandboxes.
pub fn populate_companies(
    hubspot: &HubSpotSandbox,
    salesforce: &SalesforceSandbox,
    shapes: CompanyShapes,
) -> Result<Companies, WorldError> {
    let mut out = Companies::default();
    let shared = shapes.by_people + shapes.by_domain;
    for i in 0..shared + shapes.hubspot_only {
        out.hubspot.push(company(hubspot, i)?);
    }
    for i in (0..shared)
        .chain(shared + shapes.hubspot_only..)
        .take(shared + shapes.salesforce_only)
    {
        out.salesforce.push(account(salesforce, i)?);
    }
    for i in 0..shapes.by_people {
        let email = company_person_email(i);
        let contact = hubspot
            .create_contact(&[
                ("email", email.as_str()),
                ("firstname", "Buyer"),
                ("lifecyclestage", "customer"),
            ])
            .map_err(|source| WorldError::hubspot(&email, source))?;
        hubspot
            .associate(
                ObjectType::Contacts,
                &contact,
                ObjectType::Companies,
                &out.hubspot[i],
                true,
            )
            .map_err(|source| WorldError::hubspot(&email, source))?;
        let sf = salesforce
            .create(
                "Contact",
                json!({
                    "LastName": format!("Buyer{i}"),
                    "FirstName": "Buyer",
                    "Email": email,
                    "AccountId": out.salesforce[i],
                }),
            )
            .map_err(|errors| WorldError::salesforce("Contact", &email, errors))?;
        out.people.push((contact, sf));
    }
    Ok(out)
}

/// HubSpot company `i`.
fn company(hubspot: &HubSpotSandbox, i: usize) -> Result<String, WorldError> {
    let name = format!("Company {i}");
    let domain = company_domain(i);
    let employees = (10 + i % 500).to_string();
    let (industry, _) = INDUSTRIES[i % INDUSTRIES.len()];
    hubspot
        .create_company(&[
            ("name", name.as_str()),
            ("domain", domain.as_str()),
            ("industry", industry),
            ("numberofemployees", employees.as_str()),
            ("city", "Lisbon"),
        ])
        .map_err(|source| WorldError::hubspot(&domain, source))
}

/// Account `i`: the same company as HubSpot company `i`, its website a URL.
fn account(salesforce: &SalesforceSandbox, i: usize) -> Result<String, WorldError> {
    let (_, industry) = INDUSTRIES[i % INDUSTRIES.len()];
    let website = format!("https://www.{}/", company_domain(i));
    salesforce
        .create(
            "Account",
            json!({
                "Name": format!("Company {i}"),
                "Website": website,
                "Industry": industry,
                "NumberOfEmployees": 10 + i % 500,
                "BillingCity": "Lisbon",
            }),
        )
        .map_err(|errors| WorldError::salesforce("Account", &website, errors))
}

/// The Opportunities [`populate_deals`] seeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deals {
    /// Opportunity ids.
    pub opportunities: Vec<String>,
    /// The contact roles, as `(Opportunity, Contact)`.
    pub roles: Vec<(String, String)>,
}

/// Seeds `n` Opportunities on `accounts` (round robin), each with the Contacts of its
/// Account among `contacts` (`(Account, Contact)` pairs) as roles, the first primary.
pub fn populate_deals(
    salesforce: &SalesforceSandbox,
    accounts: &[String],
    contacts: &[(String, String)],
    n: usize,
) -> Result<Deals, WorldError> {
    let mut out = Deals::default();
    // Indexed once: the benchmark seeds tens of thousands of each.
    let mut by_account: HashMap<&str, Vec<&String>> = HashMap::new();
    for (account, contact) in contacts {
        by_account
            .entry(account.as_str())
            .or_default()
            .push(contact);
    }
    for i in 0..n {
        let account = &accounts[i % accounts.len().max(1)];
        let (_, stage) = STAGES[i % STAGES.len()];
        let name = format!("Deal {i}");
        let opportunity = salesforce
            .create(
                "Opportunity",
                json!({
                    "Name": name,
                    "StageName": stage,
                    "CloseDate": format!("2027-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
                    "Amount": 1000 * (1 + i % 50),
                    "AccountId": account,
                }),
            )
            .map_err(|errors| WorldError::salesforce("Opportunity", &name, errors))?;
        let mut primary = true;
        for contact in by_account.get(account.as_str()).into_iter().flatten() {
            salesforce
                .create(
                    "OpportunityContactRole",
                    json!({
                        "OpportunityId": opportunity,
                        "ContactId": contact,
                        "IsPrimary": primary,
                        "Role": "Decision Maker",
                    }),
                )
                .map_err(|errors| {
                    WorldError::salesforce("OpportunityContactRole", &name, errors)
                })?;
            out.roles.push((opportunity.clone(), (*contact).clone()));
            primary = false;
        }
        out.opportunities.push(opportunity);
    }
    Ok(out)
}

/// The demo's companies: 12 shared through a buyer in both systems, 4 sharing only a
/// domain, 10 in HubSpot alone and 8 Accounts in Salesforce alone.
pub const DEMO_SHAPES: CompanyShapes = CompanyShapes {
    by_people: 12,
    by_domain: 4,
    hubspot_only: 10,
    salesforce_only: 8,
};

/// HubSpot-only companies the demo makes the primary company of a person who is a
/// Contact in Salesforce: each is referenced once that person is linked, so it becomes an
/// Account, and the Contact's `AccountId` points at it.
pub const DEMO_REFERENCED_COMPANIES: usize = 5;

/// Salesforce-only Accounts the demo puts a person who is also in HubSpot under: each
/// becomes a HubSpot company, the person's primary company.
pub const DEMO_REFERENCED_ACCOUNTS: usize = 4;

/// Opportunities the demo seeds, on the Accounts shared through buyers and on the
/// Salesforce-only ones; every seventh from the sixth on is won.
pub const DEMO_OPPORTUNITIES: usize = 21;

/// The demo's revenue on top of its people: companies and Accounts of every shape
/// ([`DEMO_SHAPES`]), some of each side referenced by a person the other side has
/// (`contact_emails`: people who are Contacts in Salesforce and contacts in HubSpot), and
/// [`DEMO_OPPORTUNITIES`] Opportunities with the buyers as contact roles (the id
/// properties their creates key on are the world's, made by `World::serve`). Returns
/// `(companies, accounts, opportunities, won)` as seeded.
pub fn seed_demo_revenue(
    hubspot: &HubSpotSandbox,
    salesforce: &SalesforceSandbox,
    contact_emails: &[String],
) -> Result<(usize, usize, usize, usize), WorldError> {
    let shapes = DEMO_SHAPES;
    let seeded = populate_companies(hubspot, salesforce, shapes)?;
    let shared = shapes.by_people + shapes.by_domain;
    let mut people = contact_emails.iter();
    for company in seeded.hubspot[shared..]
        .iter()
        .take(DEMO_REFERENCED_COMPANIES)
    {
        let Some(email) = people.next() else { break };
        let Some(contact) = hubspot.find_by_email(email) else {
            continue;
        };
        hubspot
            .associate(
                ObjectType::Contacts,
                &contact.id,
                ObjectType::Companies,
                company,
                true,
            )
            .map_err(|source| WorldError::hubspot(email, source))?;
    }
    for account in seeded.salesforce[shared..]
        .iter()
        .take(DEMO_REFERENCED_ACCOUNTS)
    {
        let Some(email) = people.next() else { break };
        for (object, id) in salesforce.find_by_email(email) {
            if object == "Contact" {
                salesforce
                    .edit("Contact", &id, json!({ "AccountId": account }))
                    .map_err(|errors| WorldError::salesforce("Contact", email, errors))?;
            }
        }
    }
    let mut on: Vec<String> = seeded.salesforce[..shapes.by_people].to_vec();
    on.extend_from_slice(&seeded.salesforce[shared..]);
    let roles: Vec<(String, String)> = seeded
        .salesforce
        .iter()
        .zip(&seeded.people)
        .map(|(account, (_, contact))| (account.clone(), contact.clone()))
        .collect();
    let deals = populate_deals(salesforce, &on, &roles, DEMO_OPPORTUNITIES)?;
    let won = (0..DEMO_OPPORTUNITIES)
        .filter(|i| STAGES[i % STAGES.len()].1 == "Closed Won")
        .count();
    Ok((
        seeded.hubspot.len(),
        seeded.salesforce.len(),
        deals.opportunities.len(),
        won,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::hubspot::SandboxOptions as HubSpotOptions;
    use crate::salesforce::SandboxOptions as SalesforceOptions;

    #[test]
    fn every_shape_is_seeded_and_people_tie_their_companies_on_both_sides() {
        let hubspot = HubSpotSandbox::new(HubSpotOptions::default());
        let salesforce = SalesforceSandbox::new(SalesforceOptions::default());
        let shapes = CompanyShapes {
            by_people: 3,
            by_domain: 2,
            hubspot_only: 4,
            salesforce_only: 1,
        };
        let seeded = populate_companies(&hubspot, &salesforce, shapes).unwrap();
        assert_eq!(hubspot.companies().len(), 9);
        assert_eq!(salesforce.count("Account"), 6);
        assert_eq!(seeded.people.len(), 3);
        let (contact, sf_contact) = &seeded.people[1];
        let primary = hubspot.associations(ObjectType::Contacts, contact, ObjectType::Companies);
        assert_eq!(primary.len(), 1);
        assert!(primary[0].primary);
        assert_eq!(primary[0].to_id, seeded.hubspot[1]);
        let account = salesforce.get("Contact", sf_contact).unwrap()["AccountId"].clone();
        assert_eq!(account, json!(seeded.salesforce[1]));
        // The Salesforce-only Account is not HubSpot company 5's twin.
        let last = salesforce.get("Account", &seeded.salesforce[5]).unwrap();
        assert_eq!(last["Name"], json!("Company 9"));
        let deals = populate_deals(
            &salesforce,
            &seeded.salesforce[..3],
            &[(seeded.salesforce[0].clone(), seeded.people[0].1.clone())],
            4,
        )
        .unwrap();
        assert_eq!(salesforce.count("Opportunity"), 4);
        assert_eq!(deals.roles.len(), 2, "deals 0 and 3 are on Account 0");
    }
}
