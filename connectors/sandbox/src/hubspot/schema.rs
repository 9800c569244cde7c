//! The sandbox's contact properties: their definitions (served by the properties API) and
//! the validation HubSpot applies to values written to them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use super::errors::Invalid;
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

/// The properties HubSpot maintains itself; writes to them are refused.
pub const READ_ONLY: [&str; 4] = [
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
    "hs_merged_object_ids",
];

/// Returned by list and get when no `properties` are asked for.
pub const DEFAULT_PROPERTIES: [&str; 6] = [
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
];

/// Every contact property the sandbox knows, by name.
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
    /// A portal's usual contact properties.
    pub fn contacts() -> Schema {
        let text = |name: &str, label: &str| prop(name, label, "string", "text", &[]);
        let mut list = vec![
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
            prop(
                "hs_merged_object_ids",
                "Merged Contact IDs",
                "enumeration",
                "checkbox",
                &[],
            ),
        ];
        for p in &mut list {
            if READ_ONLY.contains(&p.name.as_str()) {
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

/// An instant given as epoch milliseconds or RFC 3339.
pub fn parse_instant(value: &str) -> Option<i64> {
    if let Ok(ms) = value.trim().parse::<i64>() {
        return Some(ms);
    }
    DateTime::parse_from_rfc3339(value.trim())
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
