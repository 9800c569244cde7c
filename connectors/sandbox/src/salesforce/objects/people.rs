//! Lead (`00Q`) and Contact (`003`): the people truce syncs with HubSpot contacts.

use super::account::INDUSTRIES;
use super::{FieldDef, ObjectDef, common_head, common_tail};

/// The default Lead statuses (`IsConverted` ones marked by conversion only).
pub const LEAD_STATUSES: [&str; 4] = [
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
];

/// The Lead status a conversion sets unless told otherwise (the one with `IsConverted`).
pub const CONVERTED_STATUS: &str = "Closed - Converted";

/// The default lead sources (also Account's `AccountSource` and Opportunity's
/// `LeadSource`).
pub const LEAD_SOURCES: [&str; 5] = [
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];

const SALUTATIONS: [&str; 5] = ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."];

/// The Lead and Contact schemas, with `external_id` added to both.
pub fn defs(external_id: Option<&str>) -> (ObjectDef, ObjectDef) {
    let mut lead = common_head();
    lead.extend([
        FieldDef::new("Salutation", "Salutation", "picklist", 40).picklist(&SALUTATIONS, false),
        FieldDef::new("FirstName", "First Name", "string", 40),
        FieldDef::new("LastName", "Last Name", "string", 80).required(),
        FieldDef::new("Title", "Title", "string", 128),
        FieldDef::new("Company", "Company", "string", 255).required(),
        FieldDef::new("City", "City", "string", 40),
        FieldDef::new("State", "State/Province", "string", 80),
        FieldDef::new("Country", "Country", "string", 80),
        FieldDef::new("Phone", "Phone", "phone", 40),
        FieldDef::new("MobilePhone", "Mobile Phone", "phone", 40),
        FieldDef::new("Email", "Email", "email", 80),
        FieldDef::new("Website", "Website", "url", 255),
        FieldDef::new("Description", "Description", "textarea", 32000),
        FieldDef::new("LeadSource", "Lead Source", "picklist", 255).picklist(&LEAD_SOURCES, false),
        FieldDef {
            nillable: false,
            defaulted_on_create: true,
            default_value: Some(LEAD_STATUSES[0].into()),
            ..FieldDef::new("Status", "Lead Status", "picklist", 255)
        }
        .picklist(&LEAD_STATUSES, true),
        FieldDef::new("Industry", "Industry", "picklist", 255).picklist(&INDUSTRIES, false),
        FieldDef::boolean("HasOptedOutOfEmail", "Email Opt Out"),
        FieldDef::boolean("DoNotCall", "Do Not Call"),
        FieldDef::system("IsConverted", "Converted", "boolean", 0),
        FieldDef::system("ConvertedDate", "Converted Date", "date", 0),
        FieldDef {
            reference_to: vec!["Account"],
            ..FieldDef::system(
                "ConvertedAccountId",
                "Converted Account ID",
                "reference",
                18,
            )
        },
        FieldDef {
            reference_to: vec!["Contact"],
            ..FieldDef::system(
                "ConvertedContactId",
                "Converted Contact ID",
                "reference",
                18,
            )
        },
        FieldDef {
            reference_to: vec!["Opportunity"],
            ..FieldDef::system(
                "ConvertedOpportunityId",
                "Converted Opportunity ID",
                "reference",
                18,
            )
        },
    ]);
    let mut contact = common_head();
    contact.extend([
        FieldDef::reference("AccountId", "Account ID", &["Account"]),
        FieldDef::new("Salutation", "Salutation", "picklist", 40).picklist(&SALUTATIONS, false),
        FieldDef::new("FirstName", "First Name", "string", 40),
        FieldDef::new("LastName", "Last Name", "string", 80).required(),
        FieldDef::new("Title", "Title", "string", 128),
        FieldDef::new("Department", "Department", "string", 80),
        FieldDef::new("MailingCity", "Mailing City", "string", 40),
        FieldDef::new("MailingState", "Mailing State/Province", "string", 80),
        FieldDef::new("MailingCountry", "Mailing Country", "string", 80),
        FieldDef::new("Phone", "Business Phone", "phone", 40),
        FieldDef::new("MobilePhone", "Mobile Phone", "phone", 40),
        FieldDef::new("Email", "Email", "email", 80),
        FieldDef::new("Description", "Contact Description", "textarea", 32000),
        FieldDef::new("LeadSource", "Lead Source", "picklist", 255).picklist(&LEAD_SOURCES, false),
        FieldDef::boolean("HasOptedOutOfEmail", "Email Opt Out"),
        FieldDef::boolean("DoNotCall", "Do Not Call"),
    ]);
    if let Some(ext) = external_id {
        lead.push(FieldDef::external_id(ext, "HubSpot Contact Id"));
        contact.push(FieldDef::external_id(ext, "HubSpot Contact Id"));
    }
    // A Lead may be owned by a queue; a Contact may not.
    lead.extend(common_tail(&["Group", "User"]));
    contact.extend(common_tail(&["User"]));
    let mut lead = ObjectDef::data("Lead", "Lead", "Leads", "00Q", lead);
    lead.mergeable = true;
    let mut contact = ObjectDef::data("Contact", "Contact", "Contacts", "003", contact);
    contact.mergeable = true;
    (lead, contact)
}
