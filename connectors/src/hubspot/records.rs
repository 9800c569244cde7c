//! HubSpot's records as the engine sees them: a wire object becomes a [`Record`], or a
//! [`Rejected`] row when it cannot be one.
//!
//! Nothing is defaulted: a record without an id, or whose modification time is missing or
//! unparsable, is rejected with a reason naming the field and the value, and never moves a
//! cursor. What the engine needs beyond field values arrives typed (email, name, domain,
//! a deal's outcome, archived, merged ids); the properties read for that
//! (`hs_merged_object_ids`, `hs_is_closed_won`...) reach [`Record::fields`] only when they
//! were configured. Association fields (`@company`) are not properties: they are added to
//! the records of a page afterwards (`associations.rs`).

use serde_json::Value;

use super::objects::{Configured, MERGED_IDS, OutcomeProperties};
use super::wire::SimplePublicObject;
use crate::contract::{Cursor, DealOutcome, Record, Rejected, split_rows};

/// Milliseconds since the epoch of a HubSpot time: RFC 3339, or epoch milliseconds.
pub fn ms_of(value: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.timestamp_millis())
        .or_else(|| value.parse().ok())
}

/// A record id as a number, for the keyset order (ids are numeric strings). A cursor
/// without a HubSpot id (a time alone) comes before every record of its millisecond.
pub fn id_number(id: &str) -> u64 {
    id.parse().unwrap_or(0)
}

/// The keyset order of records: time, then numeric id.
pub fn key(cursor: &Cursor) -> (i64, u64) {
    (cursor.modified_at, id_number(&cursor.id))
}

/// A live record read by search, list or batch read.
pub fn read(object: &Configured, wire: SimplePublicObject) -> Result<Record, Rejected> {
    let modified = object.spec.modified;
    let stamp = wire.properties.get(modified).cloned().flatten();
    build(object, wire, modified, stamp)
}

/// An archived record from the archived list: stamped with its archive time when HubSpot
/// gives one, else its last modification.
pub fn read_archived(object: &Configured, wire: SimplePublicObject) -> Result<Record, Rejected> {
    let mut record = match wire.archived_at.clone() {
        Some(at) if ms_of(&at).is_some() => build(object, wire, "archivedAt", Some(at)),
        _ => read(object, wire),
    }?;
    record.deleted = true;
    Ok(record)
}

fn build(
    object: &Configured,
    wire: SimplePublicObject,
    stamp_field: &str,
    stamp: Option<String>,
) -> Result<Record, Rejected> {
    let rejected = |id: Option<&str>, reason: String| Rejected {
        object: object.spec.object,
        id: id.map(str::to_string),
        reason,
    };
    if wire.id.trim().is_empty() {
        return Err(rejected(None, "the record has no id".into()));
    }
    let modified_at = match stamp.as_deref() {
        None | Some("") => {
            let reason = format!("{stamp_field} is missing");
            return Err(rejected(Some(&wire.id), reason));
        }
        Some(text) => ms_of(text).ok_or_else(|| {
            rejected(
                Some(&wire.id),
                format!("{stamp_field} {text:?} is not a time"),
            )
        })?,
    };
    let property = |name: &str| {
        wire.properties
            .get(name)
            .cloned()
            .flatten()
            .filter(|v| !v.is_empty())
    };
    let email = object.spec.email.and_then(property);
    let name = object.spec.name.and_then(property);
    let domain = object.spec.domain.and_then(property);
    let outcome = object
        .spec
        .outcome
        .as_ref()
        .map(|o| outcome_of(o, &property));
    let merged_ids = property(MERGED_IDS)
        .map(|ids| {
            ids.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let fields = object
        .fields
        .iter()
        .filter_map(|name| {
            let value = wire.properties.get(name)?;
            Some((
                name.clone(),
                value.clone().map(Value::String).unwrap_or(Value::Null),
            ))
        })
        .collect();
    let mut record = Record::new(object.spec.object, wire.id, modified_at, fields);
    record.email = email;
    record.name = name;
    record.domain = domain;
    record.outcome = outcome;
    record.deleted = wire.archived;
    record.merged_ids = merged_ids;
    Ok(record)
}

/// A deal's outcome from HubSpot's calculated properties (`"true"`/`"false"` strings).
fn outcome_of(props: &OutcomeProperties, property: &dyn Fn(&str) -> Option<String>) -> DealOutcome {
    let flag = |name: &str| property(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let won = flag(props.won);
    DealOutcome {
        // A won deal is closed, whatever a missing `hs_is_closed` would say.
        closed: won || flag(props.closed),
        won,
        amount: property(props.amount).and_then(|a| plain_decimal(&a)),
    }
}

/// A decimal as plain text: HubSpot's `"1500.00"` is `"1500"`, `"1500.50"` is
/// `"1500.5"`, so an amount reads the same whichever system it came from. Text that is
/// not a number is no amount.
pub fn plain_decimal(text: &str) -> Option<String> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit());
    if !plain {
        // Exponents and the like: whatever a float reads, printed without them.
        return text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f.to_string());
    }
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let fraction = fraction.trim_end_matches('0');
    let negative = text.starts_with('-') && (whole != "0" || !fraction.is_empty());
    let sign = if negative { "-" } else { "" };
    Some(if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    })
}

/// Splits read rows into records and rejected rows.
pub fn read_all(
    object: &Configured,
    rows: Vec<SimplePublicObject>,
) -> (Vec<Record>, Vec<Rejected>) {
    split_rows(rows, |row| read(object, row))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::contract::ObjectType;
    use crate::hubspot::objects::configure;

    fn contacts(fields: &[&str]) -> Configured {
        let objects = BTreeMap::from([(
            ObjectType::HubSpotContact,
            fields.iter().map(|f| f.to_string()).collect(),
        )]);
        configure(&objects).unwrap().remove(0)
    }

    fn wire(id: &str, props: &[(&str, Option<&str>)]) -> SimplePublicObject {
        SimplePublicObject {
            id: id.into(),
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
            ..SimplePublicObject::default()
        }
    }

    #[test]
    fn a_record_carries_its_configured_properties_and_typed_metadata_only() {
        let row = wire(
            "51",
            &[
                ("hs_object_id", Some("51")),
                ("lastmodifieddate", Some("2022-11-07T21:54:03.954Z")),
                ("email", Some("a@example.com")),
                ("hs_merged_object_ids", Some("7;9")),
                ("city", None),
            ],
        );
        let record = read(&contacts(&["city"]), row).unwrap();
        assert_eq!(record.modified_at, 1_667_858_043_954);
        assert_eq!(record.email.as_deref(), Some("a@example.com"));
        assert_eq!(record.merged_ids, vec!["7".to_string(), "9".to_string()]);
        assert_eq!(
            record.fields,
            BTreeMap::from([("city".to_string(), Value::Null)])
        );
    }

    #[test]
    fn a_record_without_a_readable_modification_time_or_id_is_rejected_naming_the_field() {
        let object = contacts(&[]);
        let missing = read(&object, wire("51", &[("lastmodifieddate", None)])).unwrap_err();
        assert_eq!(missing.id.as_deref(), Some("51"));
        assert_eq!(missing.reason, "lastmodifieddate is missing");
        let garbled = read(
            &object,
            wire("52", &[("lastmodifieddate", Some("yesterday"))]),
        )
        .unwrap_err();
        assert_eq!(
            garbled.reason,
            "lastmodifieddate \"yesterday\" is not a time"
        );
        let anonymous = read(
            &object,
            wire("", &[("lastmodifieddate", Some("1700000000000"))]),
        )
        .unwrap_err();
        assert_eq!(
            (anonymous.id, anonymous.reason.as_str()),
            (None, "the record has no id")
        );
    }

    #[test]
    fn companies_and_deals_carry_their_name_domain_and_outcome_typed() {
        let objects = BTreeMap::from([
            (ObjectType::HubSpotCompany, vec!["city".to_string()]),
            (ObjectType::HubSpotDeal, Vec::new()),
        ]);
        let configured = configure(&objects).unwrap();
        let company = read(
            &configured[0],
            wire(
                "5000000001",
                &[
                    ("hs_lastmodifieddate", Some("1700000000000")),
                    ("name", Some("Acme")),
                    ("domain", Some("acme.example")),
                    ("city", Some("Oslo")),
                ],
            ),
        )
        .unwrap();
        assert_eq!(company.name.as_deref(), Some("Acme"));
        assert_eq!(company.domain.as_deref(), Some("acme.example"));
        assert_eq!(company.outcome, None);
        assert_eq!(company.fields.keys().collect::<Vec<_>>(), vec!["city"]);
        let deal = read(
            &configured[1],
            wire(
                "9000000001",
                &[
                    ("hs_lastmodifieddate", Some("1700000000000")),
                    ("dealname", Some("Acme - Renewal")),
                    ("hs_is_closed", Some("true")),
                    ("hs_is_closed_won", Some("true")),
                    ("amount", Some("1500.50")),
                ],
            ),
        )
        .unwrap();
        assert_eq!(deal.name.as_deref(), Some("Acme - Renewal"));
        let outcome = deal.outcome.unwrap();
        assert!(outcome.closed && outcome.won);
        assert_eq!(outcome.amount.as_deref(), Some("1500.5"));
        assert!(deal.fields.is_empty(), "nothing was configured");
    }

    #[test]
    fn amounts_are_plain_decimals() {
        for (text, plain) in [
            ("1500.00", Some("1500")),
            ("1500.50", Some("1500.5")),
            ("0.0", Some("0")),
            ("007", Some("7")),
            ("-12.30", Some("-12.3")),
            ("-0.00", Some("0")),
            ("1e3", Some("1000")),
            ("lots", None),
            ("", None),
        ] {
            assert_eq!(plain_decimal(text).as_deref(), plain, "{text:?}");
        }
    }

    #[test]
    fn an_archived_record_is_stamped_with_its_archive_time() {
        let mut row = wire("51", &[("lastmodifieddate", Some("1000"))]);
        row.archived = true;
        row.archived_at = Some("1970-01-01T00:00:02Z".into());
        let record = read_archived(&contacts(&[]), row).unwrap();
        assert!(record.deleted);
        assert_eq!(record.modified_at, 2_000);
    }
}
