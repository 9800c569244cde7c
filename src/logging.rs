//! Logging setup, and the two events scripts parse.
//!
//! Everything goes to stderr (journald picks it up) as text or JSON lines. The level comes
//! from `--log-level`, else `RUST_LOG`, else `info`.
//!
//! The conflict and quarantine events are a contract (DESIGN.md, "Logging"): their target
//! and field names are defined here, once, so every caller logs the same shape.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. An unparsable `--log-level` is reported and `info` used.
pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = match level {
        Some(level) => EnvFilter::try_new(level).unwrap_or_else(|err| {
            eprintln!("warning: --log-level `{level}` is not a valid filter ({err}); using info");
            EnvFilter::new("info")
        }),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    // Colours only for a person at a terminal: journald and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_target(true).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

/// A conflict: both sides changed a field since they last agreed, and a rule decided.
#[derive(Debug, Clone)]
pub struct ConflictEvent<'a> {
    /// The link id.
    pub link: i64,
    /// The person's email.
    pub email: &'a str,
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
    /// `hubspot` or `salesforce`.
    pub winner: &'a str,
}

/// Logs a conflict: one WARN event on target `truce::conflict`.
pub fn conflict(event: &ConflictEvent<'_>) {
    tracing::warn!(
        target: "truce::conflict",
        link = event.link,
        email = event.email,
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

/// A write the remote system refused for good, put aside for an admin.
#[derive(Debug, Clone)]
pub struct QuarantineEvent<'a> {
    /// The link id (0 when the record is not linked yet).
    pub link: i64,
    /// The person's email.
    pub email: &'a str,
    /// The side that refused: `hubspot` or `salesforce`.
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

/// Logs a quarantined write: one WARN event on target `truce::quarantine`, whose message is
/// the API's own text.
pub fn quarantine(event: &QuarantineEvent<'_>) {
    tracing::warn!(
        target: "truce::quarantine",
        link = event.link,
        email = event.email,
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
                link: 7,
                email: "jane@example.com",
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
        ] {
            assert_eq!(event[key], value, "{key} in {event}");
        }
        assert_eq!(event["link"], 7);
    }

    #[test]
    fn a_quarantine_is_one_warn_on_truce_quarantine_with_the_contract_fields() {
        let event = capture(|| {
            quarantine(&QuarantineEvent {
                link: 3,
                email: "x@example.com",
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
        assert_eq!(event["field"], "Email");
        assert_eq!(event["error_code"], "INVALID_EMAIL_ADDRESS");
        assert_eq!(event["message"], "Email: invalid email address: x@");
    }
}
