//! The one place engine types meet the store's plain strings.
//!
//! The store knows no API: it keeps pairs, systems and objects as text (`"contacts"`,
//! `"hubspot"`, `"Lead"`) and a record's metadata as its own neutral struct. The engine
//! works with typed values ([`Pair`], [`System`], [`ObjectType`], the connector's
//! [`Record`]). Every conversion between the two lives here, so no other engine module
//! spells a store string, and a string the engine cannot read back is an error naming it,
//! never a default.

use truce_connectors::{Conversion, DealOutcome, ObjectType, Record, System, UpsertKey};
use truce_state::{
    Converted, Link, Outcome, RecordMeta, Snapshot, SnapshotUpdate, normalize_email,
};

use super::EngineError;
use super::pair::Pair;

/// How a create's upsert key on the person's email is kept in the outbox (a marker, not a
/// field name: which field holds the email is the connector's business).
const EMAIL_KEY: &str = "@email";

/// A system as the store names it.
pub fn system_name(system: System) -> &'static str {
    system.as_str()
}

/// Reads a system name back.
pub fn system(name: &str) -> Result<System, EngineError> {
    match name {
        "hubspot" => Ok(System::HubSpot),
        "salesforce" => Ok(System::Salesforce),
        other => Err(unreadable("system", other)),
    }
}

/// Reads an object name back.
pub fn object(name: &str) -> Result<ObjectType, EngineError> {
    ObjectType::parse(name).ok_or_else(|| unreadable("object", name))
}

/// Reads a pair name back.
pub fn pair(name: &str) -> Result<Pair, EngineError> {
    Pair::parse(name).ok_or_else(|| unreadable("object pair", name))
}

/// The Salesforce object a link holds, once it holds one.
pub fn salesforce_object(link: &Link) -> Result<Option<ObjectType>, EngineError> {
    link.salesforce_object.as_deref().map(object).transpose()
}

/// The pair of a stored link.
pub fn link_pair(link: &Link) -> Result<Pair, EngineError> {
    pair(&link.pair)
}

fn unreadable(what: &str, value: &str) -> EngineError {
    EngineError::Unreadable(format!(
        "the state file holds {what} `{value}`, which this truce does not know; was it written \
         by a newer version?"
    ))
}

/// A pulled record as its snapshot, with the key identity matches it on.
pub fn snapshot_update(record: &Record, match_key: Option<String>) -> SnapshotUpdate {
    SnapshotUpdate {
        object: record.object.as_str().into(),
        record_id: record.id.clone(),
        match_key,
        modified_at: record.modified_at,
        deleted: record.deleted,
        fields: record.fields.clone(),
        meta: meta(record),
    }
}

/// A record's conversion and merges, as the store keeps them.
pub fn meta(record: &Record) -> RecordMeta {
    RecordMeta {
        converted: record.converted.as_ref().map(|c| Converted {
            contact_id: c.contact_id.clone(),
            account_id: c.account_id.clone(),
            opportunity_id: c.opportunity_id.clone(),
        }),
        merged_into: record.merged_into.clone(),
        merged_ids: record.merged_ids.clone(),
        name: record.name.clone().filter(|n| !n.trim().is_empty()),
        outcome: record.outcome.as_ref().map(|o| Outcome {
            closed: o.closed,
            won: o.won,
            amount: o.amount.clone(),
        }),
    }
}

/// The match key of a company: its web domain, normalised so that `https://www.Acme.com/`
/// and `acme.com.` are one (scheme, path, port, `www.` and a trailing dot dropped,
/// lower-cased). International names are compared as written, lower-cased.
pub fn domain_key(domain: Option<&str>) -> Option<String> {
    let text = domain?.trim().to_lowercase();
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(&text);
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    let host = host
        .strip_prefix("www.")
        .unwrap_or(host)
        .trim_end_matches('.');
    (!host.is_empty() && !host.contains(char::is_whitespace)).then(|| host.to_string())
}

/// A stored snapshot as the record it was made from (its metadata typed again), to patch
/// and store anew.
pub fn record_of(snapshot: &Snapshot, object: ObjectType) -> Record {
    let meta = &snapshot.meta;
    Record {
        object,
        id: snapshot.record_id.clone(),
        modified_at: snapshot.modified_at,
        fields: snapshot.fields.clone(),
        email: None,
        name: meta.name.clone(),
        domain: None,
        deleted: snapshot.deleted,
        merged_ids: meta.merged_ids.clone(),
        merged_into: meta.merged_into.clone(),
        converted: meta.converted.as_ref().map(|c| Conversion {
            contact_id: c.contact_id.clone(),
            account_id: c.account_id.clone(),
            opportunity_id: c.opportunity_id.clone(),
        }),
        outcome: meta.outcome.as_ref().map(|o| DealOutcome {
            closed: o.closed,
            won: o.won,
            amount: o.amount.clone(),
        }),
    }
}

/// The match key of a person: the normalised email.
pub fn email_key(email: Option<&str>) -> Option<String> {
    email.map(normalize_email).filter(|e| !e.is_empty())
}

/// True when a snapshot is of a converted record, which is never written again.
pub fn is_converted(snapshot: &Snapshot) -> bool {
    snapshot.meta.converted.is_some()
}

/// An upsert key as the outbox keeps it.
pub fn store_upsert(key: &UpsertKey) -> truce_state::UpsertKey {
    match key {
        UpsertKey::Email(value) => truce_state::UpsertKey {
            field: EMAIL_KEY.into(),
            value: value.clone(),
        },
        UpsertKey::Field { field, value } => truce_state::UpsertKey {
            field: field.clone(),
            value: value.clone(),
        },
    }
}

/// An upsert key from the outbox.
pub fn upsert(key: &truce_state::UpsertKey) -> UpsertKey {
    if key.field == EMAIL_KEY {
        UpsertKey::Email(key.value.clone())
    } else {
        UpsertKey::Field {
            field: key.field.clone(),
            value: key.value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_keys_survive_the_outbox() {
        for key in [
            UpsertKey::Email("ada@example.com".into()),
            UpsertKey::Field {
                field: "HubSpot_Contact_Id__c".into(),
                value: "101".into(),
            },
        ] {
            assert_eq!(upsert(&store_upsert(&key)), key);
        }
    }

    #[test]
    fn domains_match_whatever_url_dress_they_wear() {
        for (raw, key) in [
            ("acme.com", Some("acme.com")),
            ("https://www.Acme.com/about?x=1", Some("acme.com")),
            ("http://acme.com:8080", Some("acme.com")),
            ("ACME.COM.", Some("acme.com")),
            ("  www.acme.co.uk/ ", Some("acme.co.uk")),
            ("bücher.de", Some("bücher.de")),
            ("", None),
            ("not a url", None),
        ] {
            assert_eq!(domain_key(Some(raw)).as_deref(), key, "{raw:?}");
        }
        assert_eq!(domain_key(None), None);
    }

    #[test]
    fn names_the_engine_does_not_know_are_errors_naming_them() {
        assert_eq!(pair("contacts").ok(), Some(Pair::Contacts));
        let err = pair("invoices").unwrap_err().to_string();
        assert!(err.contains("`invoices`"), "{err}");
        assert!(system("zendesk").is_err());
        assert!(object("Case").is_err());
    }
}
