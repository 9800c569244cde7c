//! Account (`001`): the companies truce syncs with HubSpot companies.

use super::people::LEAD_SOURCES;
use super::{FieldDef, ObjectDef, common_head, common_tail};

/// The standard values of the `Industry` picklist (Account and Lead).
pub const INDUSTRIES: [&str; 32] = [
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Other",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
];

/// The standard values of Account `Type`.
pub const ACCOUNT_TYPES: [&str; 7] = [
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
];

/// The Account schema, with `external_id` (External ID + Unique) added.
pub fn def(external_id: Option<&str>) -> ObjectDef {
    let mut fields = common_head();
    fields.extend([
        FieldDef::new("Name", "Account Name", "string", 255).required(),
        FieldDef::new("AccountNumber", "Account Number", "string", 40),
        FieldDef::reference("ParentId", "Parent Account ID", &["Account"]),
        FieldDef::new("Type", "Account Type", "picklist", 255).picklist(&ACCOUNT_TYPES, false),
        FieldDef::new("Website", "Website", "url", 255),
        FieldDef::new("Phone", "Account Phone", "phone", 40),
        FieldDef::new("BillingStreet", "Billing Street", "textarea", 255),
        FieldDef::new("BillingCity", "Billing City", "string", 40),
        FieldDef::new("BillingState", "Billing State/Province", "string", 80),
        FieldDef::new("BillingPostalCode", "Billing Zip/Postal Code", "string", 20),
        FieldDef::new("BillingCountry", "Billing Country", "string", 80),
        FieldDef::new("Industry", "Industry", "picklist", 255).picklist(&INDUSTRIES, false),
        FieldDef::number("NumberOfEmployees", "Employees", "int", 8, 0),
        FieldDef::number("AnnualRevenue", "Annual Revenue", "currency", 18, 0),
        FieldDef::new("AccountSource", "Account Source", "picklist", 255)
            .picklist(&LEAD_SOURCES, false),
        FieldDef::new("Description", "Account Description", "textarea", 32000),
    ]);
    if let Some(ext) = external_id {
        fields.push(FieldDef::external_id(ext, "HubSpot Company Id"));
    }
    // "Accounts and contacts can't be owned by a queue."
    fields.extend(common_tail(&["User"]));
    let mut def = ObjectDef::data("Account", "Account", "Accounts", "001", fields);
    def.mergeable = true;
    def
}
