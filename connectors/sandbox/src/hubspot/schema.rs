//! The sandbox's properties per object type: their definitions (served by the properties
//! API), the custom ones a client creates, and the validation HubSpot applies to values
//! written to them.
//!
//! Checks here are per value. What needs other data — a deal's stage against its pipeline,
//! an owner id against the owners, unique values against other records — is checked by
//! the portal (`portal.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use super::errors::Invalid;
use super::objects::ObjectType;
use super::wire::{ModificationMetadata, Property, PropertyOption};

/// Default lifecycle stages, in their forward order.
pub const LIFECYCLE_STAGES: [&str; 8] = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
];

/// Default lead statuses.
pub const LEAD_STATUSES: [&str; 8] = [
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
];

/// Original source values (`hs_analytics_source`): where HubSpot first saw a contact come
/// from.
pub const ANALYTICS_SOURCES: [&str; 9] = [
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "REFERRALS",
    "OTHER_CAMPAIGNS",
    "DIRECT_TRAFFIC",
    "OFFLINE",
    "PAID_SOCIAL",
];

/// The values of `truce_sla`, the custom property an admin creates for truce's SLA watch.
pub const SLA_OUTCOMES: [&str; 3] = ["met", "breached", "discarded_untouched"];

/// The properties HubSpot maintains itself on every object; writes to them are refused.
pub const READ_ONLY: [&str; 5] = [
    "createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "hs_object_id",
    "hs_merged_object_ids",
];

/// The deal properties HubSpot calculates from the stage; read-only.
pub const DEAL_CALCULATED: [&str; 3] = [
    "hs_is_closed_won",
    "hs_is_closed",
    "hs_deal_stage_probability",
];

/// HubSpot's default company industries (internal values; a few of the ~150).
pub const INDUSTRIES: [&str; 24] = [
    "ACCOUNTING",
    "AIRLINES_AVIATION",
    "APPAREL_FASHION",
    "AUTOMOTIVE",
    "BANKING",
    "BIOTECHNOLOGY",
    "COMPUTER_HARDWARE",
    "COMPUTER_SOFTWARE",
    "CONSTRUCTION",
    "CONSUMER_GOODS",
    "EDUCATION_MANAGEMENT",
    "FINANCIAL_SERVICES",
    "FOOD_BEVERAGES",
    "HOSPITAL_HEALTH_CARE",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "INSURANCE",
    "INTERNET",
    "MARKETING_AND_ADVERTISING",
    "OIL_ENERGY",
    "REAL_ESTATE",
    "RETAIL",
    "TELECOMMUNICATIONS",
    "TRANSPORTATION_TRUCKING_RAILROAD",
    "UTILITIES",
];

/// Currencies of a multi-currency portal (`deal_currency_code`).
pub const CURRENCIES: [&str; 6] = ["USD", "EUR", "GBP", "CAD", "AUD", "JPY"];

/// HubSpot's limit of properties with unique values per object.
pub const MAX_UNIQUE: usize = 10;

/// Every property of one object type the sandbox knows, by name.
#[derive(Debug, Clone)]
pub struct Schema {
    by_name: BTreeMap<String, Property>,
}

impl Default for Schema {
    fn default() -> Self {
        Schema::contacts()
    }
}

impl Schema {
    /// A portal's usual properties of `object`.
    pub fn of(object: ObjectType) -> Schema {
        match object {
            ObjectType::Contacts => Schema::contacts(),
            ObjectType::Companies => Schema::companies(),
            ObjectType::Deals => Schema::deals(),
        }
    }

    /// A portal's usual contact properties.
    pub fn contacts() -> Schema {
        let text = |name: &str, label: &str| prop(name, label, "string", "text", &[]);
        let list = vec![
            text("email", "Email"),
            text("firstname", "First Name"),
            text("lastname", "Last Name"),
            text("company", "Company Name"),
            text("city", "City"),
            text("state", "State/Region"),
            text("country", "Country/Region"),
            text("jobtitle", "Job Title"),
            text("website", "Website URL"),
            text("salesforceleadid", "Salesforce Lead ID"),
            text("salesforcecontactid", "Salesforce Contact ID"),
            prop("phone", "Phone Number", "string", "phonenumber", &[]),
            prop(
                "mobilephone",
                "Mobile Phone Number",
                "string",
                "phonenumber",
                &[],
            ),
            prop(
                "lifecyclestage",
                "Lifecycle Stage",
                "enumeration",
                "radio",
                &LIFECYCLE_STAGES,
            ),
            prop(
                "hs_lead_status",
                "Lead Status",
                "enumeration",
                "radio",
                &LEAD_STATUSES,
            ),
            prop("annualrevenue", "Annual Revenue", "number", "number", &[]),
            prop(
                "numemployees",
                "Number of Employees",
                "number",
                "number",
                &[],
            ),
            prop("date_of_birth", "Date of birth", "date", "date", &[]),
            prop(
                "hs_email_optout",
                "Unsubscribed from all email",
                "bool",
                "booleancheckbox",
                &["true", "false"],
            ),
            prop(
                "interests",
                "Interests",
                "enumeration",
                "checkbox",
                &["product", "pricing", "events", "partners"],
            ),
            // HubSpot sets it from its tracking; the sandbox lets seeds write it.
            prop(
                "hs_analytics_source",
                "Original Source",
                "enumeration",
                "select",
                &ANALYTICS_SOURCES,
            ),
            // The portal's admin created it for truce's SLA watch ([sla] hubspot_property).
            {
                let mut p = prop(
                    "truce_sla",
                    "truce SLA",
                    "enumeration",
                    "select",
                    &SLA_OUTCOMES,
                );
                p.hubspot_defined = false;
                p
            },
            prop("createdate", "Create Date", "datetime", "date", &[]),
            prop(
                "lastmodifieddate",
                "Last Modified Date",
                "datetime",
                "date",
                &[],
            ),
            prop("hs_object_id", "Record ID", "number", "number", &[]),
            owner_property(),
            prop(
                "hs_merged_object_ids",
                "Merged Contact IDs",
                "enumeration",
                "checkbox",
                &[],
            ),
        ];
        Schema::finish(list, "contactinformation")
    }

    /// A portal's usual company properties.
    pub fn companies() -> Schema {
        let text = |name: &str, label: &str| prop(name, label, "string", "text", &[]);
        let list = vec![
            text("name", "Company name"),
            text("domain", "Company Domain Name"),
            text("hs_additional_domains", "Additional Domains"),
            text("website", "Website URL"),
            prop("phone", "Phone Number", "string", "phonenumber", &[]),
            text("address", "Street Address"),
            text("city", "City"),
            text("state", "State/Region"),
            text("zip", "Postal Code"),
            text("country", "Country/Region"),
            prop("description", "Description", "string", "textarea", &[]),
            prop("industry", "Industry", "enumeration", "select", &INDUSTRIES),
            prop(
                "numberofemployees",
                "Number of Employees",
                "number",
                "number",
                &[],
            ),
            prop("annualrevenue", "Annual Revenue", "number", "number", &[]),
            owner_property(),
            prop("createdate", "Create Date", "datetime", "date", &[]),
            prop(
                "hs_lastmodifieddate",
                "Last Modified Date",
                "datetime",
                "date",
                &[],
            ),
            prop("hs_object_id", "Record ID", "number", "number", &[]),
            prop(
                "hs_merged_object_ids",
                "Merged Company IDs",
                "enumeration",
                "checkbox",
                &[],
            ),
        ];
        Schema::finish(list, "companyinformation")
    }

    /// A portal's usual deal properties. `dealstage` and `pipeline` take ids whose options
    /// live in the pipelines API (`externalOptions`).
    pub fn deals() -> Schema {
        let mut stage = prop("dealstage", "Deal Stage", "enumeration", "radio", &[]);
        stage.external_options = true;
        let mut pipeline = prop("pipeline", "Pipeline", "enumeration", "select", &[]);
        pipeline.external_options = true;
        let list = vec![
            prop("dealname", "Deal Name", "string", "text", &[]),
            prop("amount", "Amount", "number", "number", &[]),
            stage,
            pipeline,
            prop("closedate", "Close Date", "datetime", "date", &[]),
            prop(
                "deal_currency_code",
                "Currency",
                "enumeration",
                "select",
                &CURRENCIES,
            ),
            prop(
                "dealtype",
                "Deal Type",
                "enumeration",
                "radio",
                &["newbusiness", "existingbusiness"],
            ),
            prop("description", "Deal Description", "string", "textarea", &[]),
            owner_property(),
            prop(
                "hs_is_closed_won",
                "Is Closed Won",
                "bool",
                "booleancheckbox",
                &["true", "false"],
            ),
            prop(
                "hs_is_closed",
                "Is Deal Closed?",
                "bool",
                "booleancheckbox",
                &["true", "false"],
            ),
            prop(
                "hs_deal_stage_probability",
                "Deal probability",
                "number",
                "number",
                &[],
            ),
            prop("createdate", "Create Date", "datetime", "date", &[]),
            prop(
                "hs_lastmodifieddate",
                "Last Modified Date",
                "datetime",
                "date",
                &[],
            ),
            prop("hs_object_id", "Record ID", "number", "number", &[]),
            prop(
                "hs_merged_object_ids",
                "Merged Deal IDs",
                "enumeration",
                "checkbox",
                &[],
            ),
        ];
        Schema::finish(list, "dealinformation")
    }

    /// Marks the maintained and calculated properties read-only and indexes by name.
    fn finish(mut list: Vec<Property>, group: &str) -> Schema {
        for p in &mut list {
            p.group_name = group.to_string();
            let calculated = DEAL_CALCULATED.contains(&p.name.as_str());
            if READ_ONLY.contains(&p.name.as_str()) || calculated {
                p.calculated = p.name != "createdate";
                if let Some(meta) = p.modification_metadata.as_mut() {
                    meta.read_only_value = true;
                }
            }
            if p.name == "hs_merged_object_ids" {
                p.external_options = true;
            }
        }
        Schema {
            by_name: list.into_iter().map(|p| (p.name.clone(), p)).collect(),
        }
    }

    /// Adds a custom property (the properties API's create). `Err` is the message of a
    /// 400, or `None` inside when the name is taken (a 409).
    pub fn add(&mut self, mut property: Property) -> Result<Property, Option<String>> {
        if self.by_name.contains_key(&property.name) {
            return Err(None);
        }
        check_definition(&property).map_err(Some)?;
        if property.has_unique_value && self.unique_names().len() >= MAX_UNIQUE {
            return Err(Some(format!(
                "Unable to create property {}: an object may have at most {MAX_UNIQUE} properties with unique values",
                property.name
            )));
        }
        property.hubspot_defined = false;
        property.calculated = false;
        property.archived = false;
        property.modification_metadata = Some(ModificationMetadata {
            archivable: true,
            read_only_definition: false,
            read_only_value: false,
        });
        for (i, option) in property.options.iter_mut().enumerate() {
            if option.label.is_empty() {
                option.label = label_of(&option.value);
            }
            if option.display_order == 0 {
                option.display_order = i as i32;
            }
        }
        self.by_name.insert(property.name.clone(), property.clone());
        Ok(property)
    }

    /// The properties whose values are unique across records (`hasUniqueValue`).
    pub fn unique_names(&self) -> Vec<String> {
        self.by_name
            .values()
            .filter(|p| p.has_unique_value)
            .map(|p| p.name.clone())
            .collect()
    }

    /// One property's definition.
    pub fn get(&self, name: &str) -> Option<&Property> {
        self.by_name.get(name)
    }

    /// Every definition, by name.
    pub fn all(&self) -> impl Iterator<Item = &Property> {
        self.by_name.values()
    }

    /// Checks one written value, and returns it in the form HubSpot stores (datetimes as
    /// RFC 3339 with milliseconds, dates as `YYYY-MM-DD`).
    pub fn check(&self, name: &str, value: &str) -> Result<String, Invalid> {
        let invalid = |code: &'static str, message: String| Invalid {
            code,
            message,
            property: name.to_string(),
        };
        let Some(def) = self.get(name) else {
            return Err(invalid(
                "PROPERTY_DOESNT_EXIST",
                format!("Property \"{name}\" does not exist"),
            ));
        };
        if def
            .modification_metadata
            .as_ref()
            .is_some_and(|m| m.read_only_value)
        {
            return Err(invalid(
                "READ_ONLY_VALUE",
                format!("\"{name}\" is a read only property; its value cannot be set."),
            ));
        }
        if value.is_empty() {
            return Ok(String::new());
        }
        if name == "email" {
            return if valid_email(value) {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    "INVALID_EMAIL",
                    format!("Email address {value} is invalid"),
                ))
            };
        }
        match def.kind.as_str() {
            "enumeration" if !def.external_options => {
                let allowed: Vec<&str> = def.options.iter().map(|o| o.value.as_str()).collect();
                let parts: Vec<&str> = if def.field_type == "checkbox" {
                    value.split(';').collect()
                } else {
                    vec![value]
                };
                match parts.iter().find(|p| !allowed.contains(p)) {
                    None => Ok(value.to_string()),
                    Some(bad) => Err(invalid(
                        "INVALID_OPTION",
                        format!(
                            "{bad} was not one of the allowed options: [{}]",
                            allowed.join(", ")
                        ),
                    )),
                }
            }
            "number" => match value.parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(value.to_string()),
                _ => Err(invalid(
                    "INVALID_DECIMAL",
                    format!("{value} was not a valid number"),
                )),
            },
            "bool" => match value {
                "true" | "false" => Ok(value.to_string()),
                _ => Err(invalid(
                    "INVALID_BOOLEAN",
                    format!("{value} was not a valid boolean (true or false)"),
                )),
            },
            "datetime" => match parse_instant(value) {
                Some(ms) => Ok(iso(ms)),
                None => Err(invalid(
                    "INVALID_DATETIME",
                    format!("{value} was not a valid datetime (epoch milliseconds or ISO 8601)"),
                )),
            },
            "date" => parse_date(value).map_err(|message| invalid("INVALID_DATE", message)),
            _ => Ok(value.to_string()),
        }
    }
}

/// `hubspot_owner_id`: an owner id, whose options live in the owners API.
fn owner_property() -> Property {
    let mut owner = prop(
        "hubspot_owner_id",
        "Contact owner",
        "enumeration",
        "select",
        &[],
    );
    owner.external_options = true;
    owner.referenced_object_type = Some("OWNER".to_string());
    owner
}

/// Checks a custom property's definition as the properties API does.
fn check_definition(p: &Property) -> Result<(), String> {
    let valid_name = !p.name.is_empty()
        && p.name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
        && p.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name {
        return Err(format!(
            "Property name {:?} is invalid: use lower-case letters, digits and underscores, starting with a letter",
            p.name
        ));
    }
    if p.label.is_empty() || p.group_name.is_empty() {
        return Err("label and groupName are required".to_string());
    }
    let types = [
        "string",
        "number",
        "date",
        "datetime",
        "enumeration",
        "bool",
    ];
    if !types.contains(&p.kind.as_str()) {
        return Err(format!(
            "{} is not a valid property type: one of {types:?}",
            p.kind
        ));
    }
    let field_types = [
        "textarea",
        "text",
        "date",
        "file",
        "number",
        "select",
        "radio",
        "checkbox",
        "booleancheckbox",
        "calculation_equation",
        "phonenumber",
        "html",
    ];
    if !field_types.contains(&p.field_type.as_str()) {
        return Err(format!("{} is not a valid fieldType", p.field_type));
    }
    if p.kind == "enumeration" && p.options.is_empty() && !p.external_options {
        return Err(format!(
            "Enumeration property {} needs at least one option",
            p.name
        ));
    }
    Ok(())
}

fn prop(name: &str, label: &str, kind: &str, field_type: &str, options: &[&str]) -> Property {
    Property {
        name: name.to_string(),
        label: label.to_string(),
        kind: kind.to_string(),
        field_type: field_type.to_string(),
        group_name: "contactinformation".to_string(),
        description: String::new(),
        options: options
            .iter()
            .enumerate()
            .map(|(i, v)| PropertyOption {
                label: label_of(v),
                value: v.to_string(),
                display_order: i as i32,
                hidden: false,
            })
            .collect(),
        hidden: false,
        has_unique_value: false,
        hubspot_defined: true,
        calculated: false,
        external_options: false,
        form_field: true,
        display_order: -1,
        modification_metadata: Some(ModificationMetadata {
            archivable: false,
            read_only_definition: true,
            read_only_value: false,
        }),
        archived: false,
        referenced_object_type: None,
    }
}

fn label_of(value: &str) -> String {
    let spaced = value.replace('_', " ").to_lowercase();
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// HubSpot's email check, approximately: one `@`, a non-empty local part, a dotted domain,
/// no spaces.
pub fn valid_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace)
}

/// Milliseconds since the epoch as HubSpot prints datetimes: `2024-06-01T10:00:00.123Z`.
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// An instant given as epoch milliseconds, RFC 3339, or an ISO date (`2026-03-31`, taken
/// as midnight UTC, as HubSpot takes dates written to datetime properties).
pub fn parse_instant(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(ms) = value.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A date given as `YYYY-MM-DD` or midnight-UTC epoch milliseconds; stored as `YYYY-MM-DD`.
fn parse_date(value: &str) -> Result<String, String> {
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(date.format("%Y-%m-%d").to_string());
    }
    let ms: i64 = value
        .parse()
        .map_err(|_| format!("{value} is not a valid date (YYYY-MM-DD or epoch milliseconds)"))?;
    let t = DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| format!("{value} is not a valid date"))?;
    if ms % 86_400_000 != 0 {
        return Err(format!(
            "{value} is at {}:{}:{}.{} UTC, not midnight!",
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_millis()
        ));
    }
    Ok(t.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_hubspot_checks_them() {
        let schema = Schema::contacts();
        assert!(schema.check("email", "ada@example.com").is_ok());
        assert_eq!(
            schema.check("email", "not-an-email").map_err(|e| e.code),
            Err("INVALID_EMAIL")
        );
        assert_eq!(
            schema.check("nope", "x").map_err(|e| e.code),
            Err("PROPERTY_DOESNT_EXIST")
        );
        assert_eq!(
            schema.check("lifecyclestage", "Lead").map_err(|e| e.code),
            Err("INVALID_OPTION")
        );
        assert_eq!(
            schema.check("date_of_birth", "1430438400000"),
            Ok("2015-05-01".to_string())
        );
        assert_eq!(
            schema
                .check("date_of_birth", "1430438400001")
                .map_err(|e| e.code),
            Err("INVALID_DATE")
        );
        assert_eq!(
            schema.check("hs_object_id", "5").map_err(|e| e.code),
            Err("READ_ONLY_VALUE")
        );
        assert_eq!(schema.check("lifecyclestage", ""), Ok(String::new()));
    }
}
