//! HubSpot's records as the engine sees them: a wire object becomes a [`Record`], or a
//! [`Rejected`] row when it cannot be one.
//!
//! Nothing is defaulted: a record without an id, or whose modification time is missing or
//! unparsable, is rejected with a reason naming the field and the value, and never moves a
//! cursor. What the engine needs beyond field values arrives typed (email, archived,
//! merged ids); the properties read for that (`hs_merged_object_ids`...) reach
//! [`Record::fields`] only when they were configured.

use serde_json::Value;

use super::objects::{Configured, MERGED_IDS};
use super::wire::SimplePublicObject;
use crate::contract::{Cursor, Record, Rejected, split_rows};

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
    let property = |name: &str| wire.properties.get(name).cloned().flatten();
    let email = object
        .spec
        .email
        .and_then(property)
        .filter(|e| !e.is_empty());
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
    record.deleted = wire.archived;
    record.merged_ids = merged_ids;
    Ok(record)
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
    fn an_archived_record_is_stamped_with_its_archive_time() {
        let mut row = wire("51", &[("lastmodifieddate", Some("1000"))]);
        row.archived = true;
        row.archived_at = Some("1970-01-01T00:00:02Z".into());
        let record = read_archived(&contacts(&[]), row).unwrap();
        assert!(record.deleted);
        assert_eq!(record.modified_at, 2_000);
    }
}
