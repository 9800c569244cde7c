//! Salesforce's rows as the engine sees them: a query row becomes a [`Record`], or a
//! [`Rejected`] row when it cannot be one.
//!
//! Nothing is defaulted: a row without an `Id`, or whose `SystemModstamp` is missing or
//! unparsable, is rejected with a reason naming the field and the value, and never moves a
//! cursor. What the engine needs beyond field values arrives typed: the email, the name
//! (Account and Opportunity `Name`), the domain (Account `Website`, as the API holds it),
//! deletion (`IsDeleted`), the merge winner (`MasterRecordId`), a lead's conversion
//! (`IsConverted`, `ConvertedContactId`, `ConvertedAccountId`, `ConvertedOpportunityId`),
//! an Opportunity's outcome (`IsClosed`, `IsWon`, `Amount` as a plain decimal). Those
//! fields reach [`Record::fields`] only when they were configured.

use chrono::DateTime;
use serde_json::{Map, Value};

use super::objects::Configured;
use crate::contract::{Conversion, DealOutcome, Record, Rejected, split_rows};

/// Milliseconds since the epoch of a Salesforce datetime (`2024-01-31T09:00:00.000+0000`).
pub fn parse_modstamp(text: &str) -> Option<i64> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|d| d.timestamp_millis())
}

fn text<'a>(row: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    row.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A row of a query over `object`.
pub fn read(object: &Configured, row: Map<String, Value>) -> Result<Record, Rejected> {
    let rejected = |id: Option<&str>, reason: String| Rejected {
        object: object.spec.object,
        id: id.map(str::to_string),
        reason,
    };
    let Some(id) = text(&row, "Id") else {
        return Err(rejected(None, "the record has no Id".into()));
    };
    let modified = object.spec.modified;
    let modified_at = match row.get(modified) {
        None | Some(Value::Null) => {
            return Err(rejected(Some(id), format!("{modified} is missing")));
        }
        Some(value) => value
            .as_str()
            .and_then(parse_modstamp)
            .ok_or_else(|| rejected(Some(id), format!("{modified} {value} is not a date-time")))?,
    };
    let fields = object
        .fields
        .iter()
        .filter_map(|name| {
            let name = name.as_str();
            let value = row.get(name).or_else(|| {
                row.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })?;
            Some((name.to_string(), value.clone()))
        })
        .collect();
    let mut record = Record::new(object.spec.object, id, modified_at, fields);
    record.email = object
        .spec
        .email
        .and_then(|f| text(&row, f))
        .map(str::to_string);
    record.name = object
        .spec
        .name
        .and_then(|f| text(&row, f))
        .map(str::to_string);
    record.domain = object
        .spec
        .domain
        .and_then(|f| text(&row, f))
        .map(str::to_string);
    record.outcome = object.spec.outcome.as_ref().map(|o| DealOutcome {
        closed: row.get(o.closed).and_then(Value::as_bool) == Some(true),
        won: row.get(o.won).and_then(Value::as_bool) == Some(true),
        amount: row.get(o.amount).and_then(decimal),
    });
    record.deleted = row.get("IsDeleted").and_then(Value::as_bool) == Some(true);
    record.merged_into = text(&row, "MasterRecordId").map(str::to_string);
    record.converted =
        (row.get("IsConverted").and_then(Value::as_bool) == Some(true)).then(|| Conversion {
            contact_id: text(&row, "ConvertedContactId").map(str::to_string),
            account_id: text(&row, "ConvertedAccountId").map(str::to_string),
            opportunity_id: text(&row, "ConvertedOpportunityId").map(str::to_string),
        });
    Ok(record)
}

/// A currency as a plain decimal (`"1500.5"`, `"25000"`): no exponent, no trailing zeros,
/// whatever JSON number form the API chose.
fn decimal(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            // Rust prints an f64 as the shortest decimal that reads back the same, and
            // never with an exponent.
            (_, _, Some(f)) => f.to_string(),
            _ => n.to_string(),
        }),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Splits query rows into records and rejected rows.
pub fn read_all(
    object: &Configured,
    rows: Vec<Map<String, Value>>,
) -> (Vec<Record>, Vec<Rejected>) {
    split_rows(rows, |row| read(object, row))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::contract::ObjectType;
    use crate::salesforce::objects::configure;

    fn leads(fields: &[&str]) -> Configured {
        let objects = BTreeMap::from([(
            ObjectType::SalesforceLead,
            fields.iter().map(|f| f.to_string()).collect(),
        )]);
        configure(&objects).unwrap().remove(0)
    }

    fn row(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_converted_lead_carries_its_conversion_typed_and_only_the_configured_fields() {
        let lead = row(json!({
            "attributes": {"type": "Lead"},
            "Id": "00Q000000000001AAA", "SystemModstamp": "2026-11-02T09:00:00.000+0000",
            "IsDeleted": false, "MasterRecordId": null, "Email": "ada@example.com",
            "IsConverted": true, "ConvertedContactId": "003000000000001AAA",
            "ConvertedAccountId": "001000000000001AAA", "ConvertedOpportunityId": null,
            "City": "Lisbon",
        }));
        let record = read(&leads(&["City", "Email"]), lead).unwrap();
        assert_eq!(record.modified_at, 1_793_610_000_000);
        assert_eq!(record.email.as_deref(), Some("ada@example.com"));
        let converted = record.converted.unwrap();
        assert_eq!(converted.contact_id.as_deref(), Some("003000000000001AAA"));
        assert_eq!(converted.opportunity_id, None);
        assert_eq!(
            record.fields.keys().collect::<Vec<_>>(),
            vec!["City", "Email"],
            "no IsConverted, SystemModstamp or attributes"
        );
    }

    fn configured(object: ObjectType, fields: &[&str]) -> Configured {
        let objects = BTreeMap::from([(object, fields.iter().map(|f| f.to_string()).collect())]);
        configure(&objects).unwrap().remove(0)
    }

    #[test]
    fn accounts_and_opportunities_carry_name_domain_and_outcome_typed() {
        let account = row(json!({
            "Id": "001000000000001AAA", "SystemModstamp": "2026-11-02T09:00:00.000+0000",
            "IsDeleted": false, "MasterRecordId": null, "Name": "Acme",
            "Website": "https://www.Acme.com/about",
        }));
        let record = read(&configured(ObjectType::SalesforceAccount, &[]), account).unwrap();
        assert_eq!(record.name.as_deref(), Some("Acme"));
        assert_eq!(record.domain.as_deref(), Some("https://www.Acme.com/about"));
        assert!(record.outcome.is_none() && record.fields.is_empty());

        let opportunity = |amount: Value| {
            row(json!({
                "Id": "006000000000001AAA", "SystemModstamp": "2026-11-02T09:00:00.000+0000",
                "IsDeleted": false, "Name": "Acme - Platform", "IsClosed": true,
                "IsWon": true, "Amount": amount, "StageName": "Closed Won",
            }))
        };
        let object = configured(ObjectType::SalesforceOpportunity, &["StageName"]);
        for (amount, expected) in [
            (json!(25000.0), Some("25000")),
            (json!(1500.5), Some("1500.5")),
            (json!(12), Some("12")),
            (json!(1e16), Some("10000000000000000")),
            (Value::Null, None),
        ] {
            let record = read(&object, opportunity(amount)).unwrap();
            let outcome = record.outcome.unwrap();
            assert!(outcome.closed && outcome.won);
            assert_eq!(outcome.amount.as_deref(), expected);
            assert_eq!(record.name.as_deref(), Some("Acme - Platform"));
            assert_eq!(record.fields.keys().collect::<Vec<_>>(), vec!["StageName"]);
        }
    }

    #[test]
    fn a_row_without_an_id_or_a_readable_modstamp_is_rejected_naming_the_field() {
        let object = leads(&[]);
        let missing = read(&object, row(json!({"Id": "00Q000000000001AAA"}))).unwrap_err();
        assert_eq!(missing.reason, "SystemModstamp is missing");
        assert_eq!(missing.id.as_deref(), Some("00Q000000000001AAA"));
        let garbled = read(
            &object,
            row(json!({"Id": "00Q000000000001AAA", "SystemModstamp": "soon"})),
        )
        .unwrap_err();
        assert_eq!(garbled.reason, "SystemModstamp \"soon\" is not a date-time");
        let anonymous = read(&object, row(json!({"SystemModstamp": null}))).unwrap_err();
        assert_eq!(anonymous.reason, "the record has no Id");
    }
}
