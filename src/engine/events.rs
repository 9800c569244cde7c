//! The events the engine logs that scripts parse (docs/operations.md, *Reading the log*): their targets and
//! field names are defined here, once, so every caller logs the same shape.
//!
//! - `truce::conflict`: one WARN per conflict decided.
//! - `truce::quarantine`: one WARN per write or record set aside.
//! - `truce::duplicate`: one WARN per ambiguous match left unlinked.
//! - `truce::sla`: one WARN per SLA finding (a hand-off breached or discarded untouched).
//!
//! Each carries `object` (the pair) besides the contract's fields. People are named by
//! `email`; companies and deals, which have none, by `name` (and `email` is empty).

use super::merge::{Rule, Side};
use super::pair::Pair;

/// A conflict: both sides changed a field since they last agreed, and a rule decided.
#[derive(Debug, Clone)]
pub struct ConflictEvent<'a> {
    /// The pair.
    pub object: Pair,
    /// The link id.
    pub link: i64,
    /// The person's email (empty for other pairs).
    pub email: &'a str,
    /// The record's name (companies and deals).
    pub name: &'a str,
    /// The HubSpot property.
    pub field: &'a str,
    /// The Salesforce field.
    pub salesforce_field: &'a str,
    /// HubSpot's value.
    pub hubspot_value: &'a str,
    /// Salesforce's value.
    pub salesforce_value: &'a str,
    /// The value both last agreed on.
    pub base_value: &'a str,
    /// The rule that decided.
    pub rule: &'a str,
    /// `hubspot`, `salesforce`, or `none`.
    pub winner: &'a str,
}

/// Logs a conflict: one WARN event on target `truce::conflict`.
pub fn conflict(event: &ConflictEvent<'_>) {
    tracing::warn!(
        target: "truce::conflict",
        object = event.object.as_str(),
        link = event.link,
        email = event.email,
        name = event.name,
        field = event.field,
        salesforce_field = event.salesforce_field,
        hubspot_value = event.hubspot_value,
        salesforce_value = event.salesforce_value,
        base_value = event.base_value,
        rule = event.rule,
        winner = event.winner,
        "conflict on {}: the sides disagree; {} wins by rule {}",
        event.field,
        event.winner,
        event.rule
    );
}

/// A write the remote system refused for good, or a record truce could not use, put aside
/// for an admin.
#[derive(Debug, Clone)]
pub struct QuarantineEvent<'a> {
    /// The pair.
    pub object: Pair,
    /// The link id (0 when the record is not linked yet).
    pub link: i64,
    /// The person's email (empty for other pairs).
    pub email: &'a str,
    /// The record's name (companies and deals).
    pub name: &'a str,
    /// The side that refused (or sent the bad record): `hubspot` or `salesforce`.
    pub system: &'a str,
    /// The record id on that side (empty for a create).
    pub record_id: &'a str,
    /// The field the API named, when it named one.
    pub field: Option<&'a str>,
    /// The API's error code.
    pub error_code: &'a str,
    /// The API's own message.
    pub message: &'a str,
}

/// Logs a quarantine: one WARN event on target `truce::quarantine`, whose message is the
/// API's own text.
pub fn quarantine(event: &QuarantineEvent<'_>) {
    tracing::warn!(
        target: "truce::quarantine",
        object = event.object.as_str(),
        link = event.link,
        email = event.email,
        name = event.name,
        system = event.system,
        record_id = event.record_id,
        field = event.field,
        error_code = event.error_code,
        // The API's own text is the event's message: tracing names the message field
        // `message`, which is exactly the contract's field name.
        "{}",
        event.message
    );
}

/// Logs an ambiguous match: one WARN event on target `truce::duplicate`.
pub fn duplicate(object: Pair, system: &str, key: &str, records: &[String]) {
    tracing::warn!(
        target: "truce::duplicate",
        object = object.as_str(),
        system,
        key,
        records = %records.join(","),
        "duplicate: one key, several records on one side; not linked until resolved"
    );
}

/// An edit put back because its field's rule lets the other side own the field.
#[derive(Debug, Clone)]
pub struct RevertEvent<'a> {
    /// The pair.
    pub object: Pair,
    /// The link id.
    pub link: i64,
    /// The person's email (empty for other pairs).
    pub email: &'a str,
    /// The record's name (companies and deals).
    pub name: &'a str,
    /// The HubSpot property.
    pub field: &'a str,
    /// The Salesforce field.
    pub salesforce_field: &'a str,
    /// The side whose edit is put back.
    pub side: Side,
    /// The rule that owns the field.
    pub rule: Rule,
}

/// Logs a revert: one INFO event naming the field, the record and the rule.
pub fn reverted(event: &RevertEvent<'_>) {
    tracing::info!(
        object = event.object.as_str(),
        link = event.link,
        email = event.email,
        name = event.name,
        field = event.field,
        salesforce_field = event.salesforce_field,
        side = event.side.as_str(),
        rule = event.rule.as_str(),
        "reverted: the edit in {} is put back; {} owns this field by rule {}",
        event.side.as_str(),
        event.side.other().as_str(),
        event.rule.as_str()
    );
}

/// An SLA finding: a Lead handed to sales was left untouched past the agreed time, or
/// closed without being worked.
#[derive(Debug, Clone)]
pub struct SlaEvent<'a> {
    /// The link id.
    pub link: i64,
    /// The person's email.
    pub email: &'a str,
    /// The Lead.
    pub record_id: &'a str,
    /// The Lead's owner (its owner field, `OwnerId`).
    pub owner: &'a str,
    /// `breached` or `discarded_untouched`.
    pub kind: &'a str,
    /// The Lead's status: the untouched one it sat in (breached), the closed one it was
    /// moved to (discarded untouched).
    pub status: &'a str,
    /// When the Lead reached sales (ms).
    pub handed_off_at: i64,
    /// How long after the hand-off (ms).
    pub age_ms: i64,
}

/// Logs an SLA finding: one WARN event on target `truce::sla`. `handed_off_at` is RFC 3339;
/// `age` reads like a config duration (`25h3m`), `age_s` is the same in seconds.
pub fn sla(event: &SlaEvent<'_>) {
    let handed_off_at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(event.handed_off_at)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let age = super::sla::human(event.age_ms);
    let why = match event.kind {
        "discarded_untouched" => {
            format!("closed without anyone working it, {age} after the hand-off")
        }
        _ => format!("left untouched for {age} after the hand-off, past the agreed time"),
    };
    tracing::warn!(
        target: "truce::sla",
        object = Pair::Contacts.as_str(),
        link = event.link,
        email = event.email,
        record_id = event.record_id,
        owner = event.owner,
        kind = event.kind,
        status = event.status,
        handed_off_at = %handed_off_at,
        age = %age,
        age_s = event.age_ms / 1000,
        "SLA {}: a lead marketing handed over was {why}",
        event.kind
    );
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `f` under a JSON subscriber and returns the one event it logged.
    fn capture(f: impl FnOnce()) -> serde_json::Value {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buffer.0.lock().unwrap().clone();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_conflict_is_one_warn_on_truce_conflict_with_the_contract_fields() {
        let event = capture(|| {
            conflict(&ConflictEvent {
                object: Pair::Contacts,
                link: 7,
                email: "jane@example.com",
                name: "",
                field: "lastname",
                salesforce_field: "LastName",
                hubspot_value: "Doe-Smith",
                salesforce_value: "Smith",
                base_value: "Doe",
                rule: "two_way",
                winner: "salesforce",
            })
        });
        assert_eq!(event["level"], "WARN");
        assert_eq!(event["target"], "truce::conflict");
        for (key, value) in [
            ("email", "jane@example.com"),
            ("field", "lastname"),
            ("salesforce_field", "LastName"),
            ("hubspot_value", "Doe-Smith"),
            ("salesforce_value", "Smith"),
            ("base_value", "Doe"),
            ("rule", "two_way"),
            ("winner", "salesforce"),
            ("object", "contacts"),
        ] {
            assert_eq!(event[key], value, "{key} in {event}");
        }
        assert_eq!(event["link"], 7);
    }

    #[test]
    fn a_quarantine_is_one_warn_on_truce_quarantine_with_the_contract_fields() {
        let event = capture(|| {
            quarantine(&QuarantineEvent {
                object: Pair::Companies,
                link: 3,
                email: "",
                name: "Acme",
                system: "salesforce",
                record_id: "00Q000000000001AAA",
                field: Some("Email"),
                error_code: "INVALID_EMAIL_ADDRESS",
                message: "Email: invalid email address: x@",
            })
        });
        assert_eq!(event["level"], "WARN");
        assert_eq!(event["target"], "truce::quarantine");
        assert_eq!(event["system"], "salesforce");
        assert_eq!(event["object"], "companies");
        assert_eq!(event["name"], "Acme");
        assert_eq!(event["field"], "Email");
        assert_eq!(event["error_code"], "INVALID_EMAIL_ADDRESS");
        assert_eq!(event["message"], "Email: invalid email address: x@");
    }

    #[test]
    fn an_sla_finding_is_one_warn_on_truce_sla_with_the_contract_fields() {
        let event = capture(|| {
            sla(&SlaEvent {
                link: 4,
                email: "ada@example.com",
                record_id: "00Q000000000001AAA",
                owner: "0055g0000000001AAA",
                kind: "breached",
                status: "Open - Not Contacted",
                handed_off_at: 1_767_225_600_000,
                age_ms: 90_180_000,
            })
        });
        assert_eq!(event["level"], "WARN");
        assert_eq!(event["target"], "truce::sla");
        for (key, value) in [
            ("email", "ada@example.com"),
            ("record_id", "00Q000000000001AAA"),
            ("owner", "0055g0000000001AAA"),
            ("kind", "breached"),
            ("status", "Open - Not Contacted"),
            ("handed_off_at", "2026-01-01T00:00:00Z"),
            ("age", "1d1h"),
        ] {
            assert_eq!(event[key], value, "{key} in {event}");
        }
        assert_eq!(event["link"], 4);
        assert_eq!(event["age_s"], 90_180);
    }
}
