//! The revenue side of a world: companies and Accounts, with the people who tie them
//! together, and deals and Opportunities on them.
//!
//! [`populate_companies`] seeds the shapes identity must tell apart: companies shared
//! through people (a HubSpot contact whose primary company is the company, and a Salesforce
//! Contact of the same email under the Account), companies shared only by their domain, and
//! companies on one side only. [`populate_deals`] seeds Opportunities on Accounts with
//! contact roles. Values come from the worlds' value tables ([`INDUSTRIES`], [`STAGES`]), so
//! every seeded value maps.

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
        for (_, contact) in contacts.iter().filter(|(a, _)| a == account) {
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
            out.roles.push((opportunity.clone(), contact.clone()));
            primary = false;
        }
        out.opportunities.push(opportunity);
    }
    Ok(out)
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
