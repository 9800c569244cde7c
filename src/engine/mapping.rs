//! Field mapping: which HubSpot property meets which Salesforce field on which object, and
//! how values convert between the two systems' wire forms and one canonical form.
//!
//! The merge compares canonical values only, so "12.50" in HubSpot and `12.5` in Salesforce,
//! or `"Jane@X.com "` and `"jane@x.com"` in an email field, are the same value and cause no
//! write. Canonical forms:
//!
//! | type | canonical | HubSpot wire | Salesforce wire |
//! |---|---|---|---|
//! | string | the text (`""` is blank) | string | string |
//! | email | trimmed, lower-cased | string | string |
//! | date | `YYYY-MM-DD` | `YYYY-MM-DD` or epoch ms at midnight UTC | `YYYY-MM-DD` |
//! | datetime | RFC 3339 UTC with ms | ISO 8601 or epoch ms | `…T…+0000` |
//! | bool | `true` / `false` | `"true"` / `"false"` | JSON boolean |
//! | number | shortest decimal (`12.5`, `17`) | string | JSON number |
//! | domain | host, lower-cased, no scheme, path, `www.` or trailing dot | string | string (a URL) |
//!
//! An enumeration with a `values` table is canonical in HubSpot's terms; a Salesforce value
//! outside the table cannot be mapped. So can't a malformed date or number: each is a
//! [`MapError`] naming the field and the value, and the engine quarantines that record.
//!
//! ## References
//!
//! A mapping whose HubSpot name starts with `@` is an association ([`Reference`]): `@company`
//! holds one record, `@contacts` a set. Its values are record ids of the other pair, which
//! mean nothing to the other system, so they are not converted here: the merge resolves
//! them to links first ([`super::reconcile`]), and compares links.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;
use truce_connectors::{ObjectType, System};

use super::merge::{Rule, Side, Value};
use super::pair::Pair;

/// How a value is converted between the two systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text, compared as is.
    String,
    /// An email address, compared trimmed and case-folded.
    Email,
    /// A calendar date (HubSpot midnight UTC, Salesforce `YYYY-MM-DD`).
    Date,
    /// An instant.
    Datetime,
    /// `true`/`false`.
    Bool,
    /// A number.
    Number,
    /// A web domain: HubSpot's company `domain` (`acme.com`) against a URL such as an
    /// Account's `Website` (`https://www.acme.com/`), compared as the host both name. Text
    /// that names no host (`not a url`) is compared, and synced, as written.
    Domain,
}

/// One `[[field]]` entry of the config: a HubSpot property and a Salesforce field that hold
/// the same thing, for one pair.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// The pair the mapping belongs to (default `contacts`).
    #[serde(default = "contacts")]
    pub object: Pair,
    /// The HubSpot property, or an association (`@company`, `@contacts`).
    pub hubspot: String,
    /// The Salesforce field (or, for a deal's contacts, `OpportunityContactRole`).
    pub salesforce: String,
    /// The Salesforce objects this mapping applies to (absent: every object of the pair).
    #[serde(default, deserialize_with = "salesforce_objects")]
    pub on: Option<Vec<ObjectType>>,
    /// The conflict rule.
    #[serde(default = "two_way")]
    pub rule: Rule,
    /// Value table HubSpot value → Salesforce value, for enumerations.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// What to send Salesforce when HubSpot has none (for required fields).
    pub salesforce_if_blank: Option<String>,
    /// How values convert (default: `string`; the config makes the email mapping `email`).
    #[serde(rename = "type")]
    pub field_type: Option<FieldType>,
}

fn contacts() -> Pair {
    Pair::Contacts
}

fn two_way() -> Rule {
    Rule::TwoWay
}

/// Reads Salesforce object names (`Lead`, `Account`...) as object types.
fn salesforce_objects<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<Vec<ObjectType>>, D::Error> {
    let names = Vec::<String>::deserialize(de)?;
    names
        .iter()
        .map(|name| {
            ObjectType::parse(name)
                .filter(|o| o.system() == System::Salesforce)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "`{name}` is not a Salesforce object truce syncs (Lead, Contact, \
                         Account, Opportunity)"
                    ))
                })
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// A mapping that is an association: its values are records of `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    /// The pair the referenced records belong to.
    pub target: Pair,
    /// A set (`@contacts`) rather than one record (`@company`).
    pub many: bool,
}

impl Reference {
    /// The reference a HubSpot name stands for: `@company` is one company, `@contacts`
    /// the set of contacts, `@deals` the set of deals; `None` for a plain property.
    pub fn of(hubspot: &str) -> Option<Reference> {
        let name = hubspot.strip_prefix('@')?;
        let (target, many) = match name {
            "company" => (Pair::Companies, false),
            "companies" => (Pair::Companies, true),
            "contact" => (Pair::Contacts, false),
            "contacts" => (Pair::Contacts, true),
            "deal" => (Pair::Deals, false),
            "deals" => (Pair::Deals, true),
            _ => return None,
        };
        Some(Reference { target, many })
    }
}

/// A value that cannot be converted: the field, the side, the value and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{side_label} field `{field}`: cannot map value {value}: {reason}")]
pub struct MapError {
    /// The side the value came from (or was going to).
    pub side: Side,
    /// `HubSpot` or `Salesforce`, for the message.
    pub side_label: &'static str,
    /// The field name on that side.
    pub field: String,
    /// The value, as JSON text.
    pub value: String,
    /// Why it cannot be mapped.
    pub reason: String,
}

/// One mapped field, ready to convert values.
#[derive(Debug, Clone)]
pub struct FieldMap {
    /// The HubSpot property.
    pub hubspot: String,
    /// The Salesforce field.
    pub salesforce: String,
    /// The Salesforce objects it applies to.
    pub on: Vec<ObjectType>,
    /// Set when the mapping is an association, whose values are records of another pair.
    pub reference: Option<Reference>,
    /// The conflict rule.
    pub rule: Rule,
    /// How values convert.
    pub field_type: FieldType,
    /// HubSpot value → Salesforce value (empty: values pass through).
    to_salesforce: BTreeMap<String, String>,
    /// Salesforce value → HubSpot value.
    to_hubspot: BTreeMap<String, String>,
    /// Sent to Salesforce for a blank; read back as blank.
    salesforce_if_blank: Option<String>,
}

impl FieldMap {
    /// Builds a field map from its config entry; without `on` it applies to every
    /// Salesforce object of the mapping's pair.
    pub fn new(mapping: &FieldMapping) -> FieldMap {
        let field_type = mapping.field_type.unwrap_or(FieldType::String);
        let to_hubspot = mapping
            .values
            .iter()
            .map(|(hubspot, salesforce)| (salesforce.clone(), hubspot.clone()))
            .collect();
        let on = mapping
            .on
            .clone()
            .unwrap_or_else(|| mapping.object.salesforce_objects().to_vec());
        FieldMap {
            hubspot: mapping.hubspot.clone(),
            salesforce: mapping.salesforce.clone(),
            on,
            reference: Reference::of(&mapping.hubspot),
            rule: mapping.rule,
            field_type,
            to_salesforce: mapping.values.clone(),
            to_hubspot,
            salesforce_if_blank: mapping.salesforce_if_blank.clone(),
        }
    }

    /// True when the mapping applies to this Salesforce object.
    pub fn applies_to(&self, object: ObjectType) -> bool {
        self.on.contains(&object)
    }

    /// The field's name on `side`.
    pub fn name(&self, side: Side) -> &str {
        match side {
            Side::HubSpot => &self.hubspot,
            Side::Salesforce => &self.salesforce,
        }
    }

    /// HubSpot's wire value in canonical form.
    pub fn from_hubspot(&self, raw: Option<&Json>) -> Result<Value, MapError> {
        let Some(text) = self.text(Side::HubSpot, raw)? else {
            return Ok(None);
        };
        let canonical = self
            .canonical(&text)
            .map_err(|reason| self.error(Side::HubSpot, raw, reason))?;
        Ok(canonical)
    }

    /// Salesforce's wire value in canonical form.
    pub fn from_salesforce(&self, raw: Option<&Json>) -> Result<Value, MapError> {
        let Some(text) = self.text(Side::Salesforce, raw)? else {
            return Ok(None);
        };
        if self.salesforce_if_blank.as_deref() == Some(text.as_str()) {
            return Ok(None);
        }
        let text = if self.to_hubspot.is_empty() {
            text
        } else {
            match self.to_hubspot.get(&text) {
                Some(hubspot) => hubspot.clone(),
                None => {
                    return Err(self.error(
                        Side::Salesforce,
                        raw,
                        format!(
                            "not in the mapping's values table (known: {})",
                            self.to_hubspot
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        };
        self.canonical(&text)
            .map_err(|reason| self.error(Side::Salesforce, raw, reason))
    }

    /// A canonical value in HubSpot's wire form (`""` clears).
    pub fn to_hubspot(&self, value: &Value) -> Json {
        Json::String(value.clone().unwrap_or_default())
    }

    /// A canonical value in Salesforce's wire form (`null` clears, unless the mapping sends a
    /// placeholder for blanks).
    pub fn to_salesforce(&self, value: &Value) -> Result<Json, MapError> {
        let Some(text) = value else {
            return Ok(match &self.salesforce_if_blank {
                Some(placeholder) => Json::String(placeholder.clone()),
                None => Json::Null,
            });
        };
        let text = if self.to_salesforce.is_empty() {
            text.clone()
        } else {
            match self.to_salesforce.get(text) {
                Some(salesforce) => salesforce.clone(),
                None => {
                    let raw = Json::String(text.clone());
                    return Err(self.error(
                        Side::HubSpot,
                        Some(&raw),
                        format!(
                            "not in the mapping's values table (known: {})",
                            self.to_salesforce
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        };
        Ok(match self.field_type {
            FieldType::Bool => Json::Bool(text == "true"),
            FieldType::Number => number_json(&text),
            _ => Json::String(text),
        })
    }

    /// The wire value as text; `None` for null and `""`.
    fn text(&self, side: Side, raw: Option<&Json>) -> Result<Option<String>, MapError> {
        Ok(match raw {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) if s.is_empty() => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Bool(b)) => Some(b.to_string()),
            Some(Json::Number(n)) => Some(n.to_string()),
            Some(other) => {
                return Err(self.error(
                    side,
                    raw,
                    format!("a {} is not a field value", kind(other)),
                ));
            }
        })
    }

    fn canonical(&self, text: &str) -> Result<Value, String> {
        Ok(Some(match self.field_type {
            FieldType::String => text.to_string(),
            FieldType::Email => {
                let email = text.trim().to_lowercase();
                if email.is_empty() {
                    return Ok(None);
                }
                email
            }
            FieldType::Date => canonical_date(text)?,
            FieldType::Datetime => canonical_datetime(text)?,
            FieldType::Bool => canonical_bool(text)?,
            FieldType::Number => canonical_number(text)?,
            FieldType::Domain => match super::stored::domain_key(Some(text)) {
                Some(host) => host,
                None if text.trim().is_empty() => return Ok(None),
                None => text.trim().to_string(),
            },
        }))
    }

    fn error(&self, side: Side, raw: Option<&Json>, reason: String) -> MapError {
        let (side_label, field) = match side {
            Side::HubSpot => ("HubSpot", self.hubspot.clone()),
            Side::Salesforce => ("Salesforce", self.salesforce.clone()),
        };
        MapError {
            side,
            side_label,
            field,
            value: raw.map_or_else(|| "null".into(), Json::to_string),
            reason,
        }
    }
}

fn kind(value: &Json) -> &'static str {
    match value {
        Json::Array(_) => "list",
        Json::Object(_) => "object",
        _ => "value",
    }
}

fn canonical_date(text: &str) -> Result<String, String> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.format("%Y-%m-%d").to_string());
    }
    if let Ok(ms) = text.parse::<i64>() {
        let at = DateTime::<Utc>::from_timestamp_millis(ms).ok_or("epoch ms out of range")?;
        return Ok(at.format("%Y-%m-%d").to_string());
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc).format("%Y-%m-%d").to_string());
    }
    Err("not a date (expected YYYY-MM-DD)".into())
}

fn canonical_datetime(text: &str) -> Result<String, String> {
    let text = text.trim();
    let at = if let Ok(ms) = text.parse::<i64>() {
        DateTime::<Utc>::from_timestamp_millis(ms).ok_or("epoch ms out of range")?
    } else if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        at.with_timezone(&Utc)
    } else if let Ok(at) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        // Salesforce writes the offset without a colon: 2024-06-01T10:00:00.000+0000.
        at.with_timezone(&Utc)
    } else {
        return Err("not a datetime (expected ISO 8601)".into());
    };
    Ok(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn canonical_bool(text: &str) -> Result<String, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok("true".into()),
        "false" => Ok("false".into()),
        _ => Err("not a boolean (expected true or false)".into()),
    }
}

fn canonical_number(text: &str) -> Result<String, String> {
    let text = text.trim();
    let number: f64 = text.parse().map_err(|_| "not a number".to_string())?;
    if !number.is_finite() {
        return Err("not a finite number".into());
    }
    let plain = text.trim_start_matches('+');
    let is_plain_decimal = !plain.is_empty()
        && plain
            .trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    // Keep the digits people wrote (no float rounding) when they are a plain decimal.
    let digits = if is_plain_decimal {
        let mut s = plain.to_string();
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        let negative = s.starts_with('-');
        let unsigned = s.trim_start_matches('-').trim_start_matches('0');
        let unsigned = if unsigned.is_empty() || unsigned.starts_with('.') {
            format!("0{unsigned}")
        } else {
            unsigned.to_string()
        };
        if negative && unsigned != "0" {
            format!("-{unsigned}")
        } else {
            unsigned
        }
    } else {
        format!("{number}")
    };
    Ok(digits)
}

fn number_json(text: &str) -> Json {
    if let Ok(int) = text.parse::<i64>() {
        return Json::from(int);
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or_else(|| Json::String(text.to_string()), Json::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(field_type: Option<FieldType>) -> FieldMap {
        FieldMap::new(&FieldMapping {
            object: Pair::Contacts,
            hubspot: "x".into(),
            salesforce: "X__c".into(),
            on: Some(vec![ObjectType::SalesforceLead]),
            rule: Rule::TwoWay,
            values: BTreeMap::new(),
            salesforce_if_blank: None,
            field_type,
        })
    }

    #[test]
    fn the_same_value_in_both_wire_forms_is_one_canonical_value() {
        let cases = [
            (FieldType::Number, json!("12.50"), json!(12.5), "12.5"),
            (FieldType::Number, json!("17"), json!(17.0), "17"),
            (FieldType::Bool, json!("true"), json!(true), "true"),
            (
                FieldType::Date,
                json!("1430438400000"),
                json!("2015-05-01"),
                "2015-05-01",
            ),
            (
                FieldType::Datetime,
                json!("2024-06-01T10:00:00.123Z"),
                json!("2024-06-01T10:00:00.123+0000"),
                "2024-06-01T10:00:00.123Z",
            ),
            (
                FieldType::Email,
                json!(" Jane@X.com "),
                json!("jane@x.com"),
                "jane@x.com",
            ),
            (
                FieldType::Domain,
                json!("Acme.com."),
                json!("https://www.acme.com/about"),
                "acme.com",
            ),
            (
                FieldType::Domain,
                json!("bücher.de"),
                json!("http://Bücher.de"),
                "bücher.de",
            ),
            (
                FieldType::Domain,
                json!("not a url"),
                json!(" not a url "),
                "not a url",
            ),
        ];
        for (field_type, hubspot, salesforce, canonical) in cases {
            let m = map(Some(field_type));
            assert_eq!(m.from_hubspot(Some(&hubspot)), Ok(Some(canonical.into())));
            assert_eq!(
                m.from_salesforce(Some(&salesforce)),
                Ok(Some(canonical.into()))
            );
        }
    }

    #[test]
    fn blanks_are_null_and_empty_strings_on_either_side() {
        let m = map(None);
        assert_eq!(m.from_hubspot(Some(&json!(""))), Ok(None));
        assert_eq!(m.from_hubspot(None), Ok(None));
        assert_eq!(m.from_salesforce(Some(&Json::Null)), Ok(None));
        assert_eq!(m.to_hubspot(&None), json!(""));
        assert_eq!(m.to_salesforce(&None), Ok(Json::Null));
    }

    #[test]
    fn wire_forms_going_out_have_each_apis_types() {
        assert_eq!(
            map(Some(FieldType::Bool)).to_salesforce(&Some("false".into())),
            Ok(json!(false))
        );
        assert_eq!(
            map(Some(FieldType::Number)).to_salesforce(&Some("12.5".into())),
            Ok(json!(12.5))
        );
        assert_eq!(
            map(Some(FieldType::Number)).to_salesforce(&Some("3".into())),
            Ok(json!(3))
        );
        assert_eq!(
            map(Some(FieldType::Number)).to_hubspot(&Some("3".into())),
            json!("3")
        );
    }

    #[test]
    fn a_value_table_translates_both_ways_and_refuses_unknown_values() {
        let mut values = BTreeMap::new();
        values.insert("NEW".to_string(), "Open - Not Contacted".to_string());
        values.insert(
            "UNQUALIFIED".to_string(),
            "Closed - Not Converted".to_string(),
        );
        let m = FieldMap::new(&FieldMapping {
            object: Pair::Contacts,
            hubspot: "hs_lead_status".into(),
            salesforce: "Status".into(),
            on: Some(vec![ObjectType::SalesforceLead]),
            rule: Rule::AlwaysSalesforce,
            values,
            salesforce_if_blank: None,
            field_type: None,
        });
        assert_eq!(
            m.from_salesforce(Some(&json!("Open - Not Contacted"))),
            Ok(Some("NEW".into()))
        );
        assert_eq!(
            m.to_salesforce(&Some("UNQUALIFIED".into())),
            Ok(json!("Closed - Not Converted"))
        );
        let err = m
            .from_salesforce(Some(&json!("Closed - Converted")))
            .unwrap_err();
        assert_eq!(err.field, "Status");
        assert!(err.to_string().contains("\"Closed - Converted\""), "{err}");
        assert!(err.to_string().contains("Open - Not Contacted"), "{err}");
    }

    #[test]
    fn the_blank_placeholder_goes_out_for_blank_and_reads_back_as_blank() {
        let m = FieldMap::new(&FieldMapping {
            object: Pair::Contacts,
            hubspot: "company".into(),
            salesforce: "Company".into(),
            on: Some(vec![ObjectType::SalesforceLead]),
            rule: Rule::PreferHubspotUnlessBlank,
            values: BTreeMap::new(),
            salesforce_if_blank: Some("[not provided]".into()),
            field_type: None,
        });
        assert_eq!(m.to_salesforce(&None), Ok(json!("[not provided]")));
        assert_eq!(m.from_salesforce(Some(&json!("[not provided]"))), Ok(None));
    }

    #[test]
    fn malformed_values_name_the_field_and_the_value() {
        let err = map(Some(FieldType::Date))
            .from_hubspot(Some(&json!("31/01/2024")))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "HubSpot field `x`: cannot map value \"31/01/2024\": not a date (expected YYYY-MM-DD)"
        );
        assert!(
            map(Some(FieldType::Number))
                .from_salesforce(Some(&json!("twelve")))
                .is_err()
        );
        assert!(
            map(Some(FieldType::Bool))
                .from_hubspot(Some(&json!("yes")))
                .is_err()
        );
        assert!(map(None).from_hubspot(Some(&json!({"a": 1}))).is_err());
    }

    #[test]
    fn an_at_name_is_a_reference_to_another_pair_and_no_on_means_the_whole_pair() {
        assert_eq!(
            Reference::of("@company"),
            Some(Reference {
                target: Pair::Companies,
                many: false
            })
        );
        assert_eq!(
            Reference::of("@contacts"),
            Some(Reference {
                target: Pair::Contacts,
                many: true
            })
        );
        assert_eq!(Reference::of("company"), None);
        assert_eq!(Reference::of("@owner"), None);
        let deals: FieldMapping = toml::from_str(
            "object = \"deals\"\nhubspot = \"@contacts\"\nsalesforce = \"OpportunityContactRole\"",
        )
        .unwrap();
        let map = FieldMap::new(&deals);
        assert_eq!(map.on, [ObjectType::SalesforceOpportunity]);
        assert!(map.reference.is_some_and(|r| r.many));
        let people: FieldMapping =
            toml::from_str("hubspot = \"city\"\nsalesforce = \"City\"\non = [\"Lead\"]").unwrap();
        assert_eq!(FieldMap::new(&people).on, [ObjectType::SalesforceLead]);
        let wrong = toml::from_str::<FieldMapping>(
            "hubspot = \"city\"\nsalesforce = \"City\"\non = [\"contacts\"]",
        )
        .unwrap_err();
        assert!(
            wrong.to_string().contains("not a Salesforce object"),
            "{wrong}"
        );
    }

    #[test]
    fn numbers_keep_their_digits() {
        for (input, want) in [
            ("0.10", "0.1"),
            ("-0", "0"),
            ("007", "7"),
            ("+3.50", "3.5"),
            ("12345678901234567890.5", "12345678901234567890.5"),
            ("1e3", "1000"),
            (".5", "0.5"),
        ] {
            assert_eq!(canonical_number(input).as_deref(), Ok(want), "{input}");
        }
    }
}
