//! `[sla]`: the agreement between marketing and sales that truce watches.
//!
//! Absent, truce records no hand-offs and watches nothing. Present, it needs the time
//! sales has for a first touch and the Lead statuses that mean nobody touched the Lead
//! yet; the rest has Salesforce's and HubSpot's standard names as defaults:
//!
//! ```toml
//! [sla]
//! first_touch = "24h"
//! untouched = ["Open - Not Contacted"]
//! closed = ["Closed - Not Converted"]          # default
//! hubspot_property = "truce_sla"               # optional: met, breached, discarded_untouched
//! status_field = "Status"                      # default: the Lead field holding its status
//! owner_field = "OwnerId"                      # default: the Lead field holding its owner
//! source_property = "hs_analytics_source"      # default: the funnel's lead source
//! ```

use std::time::Duration;

use serde::Deserialize;

use super::duration;
use crate::engine::mapping::FieldMapping;
use crate::engine::pair::Pair;
use crate::engine::sla::Sla;

/// `[sla]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSection {
    /// How long sales has to first touch a Lead handed to it, e.g. `"24h"`.
    #[serde(with = "duration::serde_str")]
    pub first_touch: Duration,
    /// Lead status values that mean nobody has worked the Lead yet.
    pub untouched: Vec<String>,
    /// Lead status values that close a Lead without converting it.
    #[serde(default = "default_closed")]
    pub closed: Vec<String>,
    /// A HubSpot contact property (enumeration or text) the outcome is written to.
    pub hubspot_property: Option<String>,
    /// The Salesforce Lead field holding its status.
    #[serde(default = "default_status_field")]
    pub status_field: String,
    /// The Salesforce Lead field holding its owner.
    #[serde(default = "default_owner_field")]
    pub owner_field: String,
    /// The HubSpot contact property naming the lead source (the funnel's grouping).
    #[serde(default = "default_source_property")]
    pub source_property: String,
}

fn default_closed() -> Vec<String> {
    vec!["Closed - Not Converted".into()]
}
fn default_status_field() -> String {
    "Status".into()
}
fn default_owner_field() -> String {
    "OwnerId".into()
}
fn default_source_property() -> String {
    "hs_analytics_source".into()
}

/// The values `hubspot_property` receives, in the order they are documented.
pub const OUTCOME_VALUES: [&str; 3] = ["met", "breached", "discarded_untouched"];

impl SlaSection {
    /// The engine's view of the section.
    pub fn engine(&self) -> Sla {
        Sla {
            first_touch: self.first_touch,
            untouched: self.untouched.clone(),
            closed: self.closed.clone(),
            status_field: self.status_field.clone(),
            owner_field: self.owner_field.clone(),
            hubspot_property: self.hubspot_property.clone(),
            source_property: self.source_property.clone(),
        }
    }

    /// What is wrong with the section, as (key, message) pairs under `[sla]`.
    pub fn problems(&self, fields: &[FieldMapping]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.first_touch.is_zero() {
            out.push((
                "first_touch",
                "a first touch within no time at all breaches every hand-off; write the time \
                 sales has, e.g. \"24h\""
                    .to_string(),
            ));
        }
        if self.untouched.iter().all(|s| s.trim().is_empty()) {
            out.push((
                "untouched",
                "list the Lead statuses that mean nobody has worked the Lead yet, e.g. \
                 [\"Open - Not Contacted\"]"
                    .to_string(),
            ));
        }
        let both: Vec<&str> = self
            .closed
            .iter()
            .filter(|c| self.untouched.contains(c))
            .map(String::as_str)
            .collect();
        if !both.is_empty() {
            out.push((
                "closed",
                format!(
                    "{both:?} cannot be both untouched and closed: a Lead in it would be \
                     worked and not worked at once"
                ),
            ));
        }
        for (key, value) in [
            ("status_field", &self.status_field),
            ("owner_field", &self.owner_field),
            ("source_property", &self.source_property),
        ] {
            if value.trim().is_empty() {
                out.push((
                    key,
                    "must name a field; leave the key out for the default".into(),
                ));
            }
        }
        if let Some(property) = &self.hubspot_property {
            if property.trim().is_empty() {
                out.push((
                    "hubspot_property",
                    "must name a HubSpot contact property (e.g. \"truce_sla\"), or be left out"
                        .into(),
                ));
            } else if let Some(index) = fields
                .iter()
                .position(|f| f.object == Pair::Contacts && f.hubspot == *property)
            {
                out.push((
                    "hubspot_property",
                    format!(
                        "`{property}` is also mapped by field[{index}]; truce writes it from \
                         the SLA watch only and it must never flow to Salesforce: use a \
                         property of its own"
                    ),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn section(text: &str) -> SlaSection {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn two_keys_are_enough_and_the_rest_has_the_standard_names() {
        let sla = section("first_touch = \"24h\"\nuntouched = [\"Open - Not Contacted\"]");
        assert!(sla.problems(&[]).is_empty());
        let engine = sla.engine();
        assert_eq!(engine.first_touch, Duration::from_secs(86_400));
        assert_eq!(engine.closed, ["Closed - Not Converted"]);
        assert_eq!(
            (engine.status_field.as_str(), engine.owner_field.as_str()),
            ("Status", "OwnerId")
        );
        assert_eq!(engine.source_property, "hs_analytics_source");
        assert_eq!(engine.hubspot_property, None);
    }

    #[test]
    fn contradictions_are_problems_naming_their_key() {
        let sla =
            section("first_touch = \"0s\"\nuntouched = []\nclosed = []\nhubspot_property = \"\"");
        let keys: Vec<&str> = sla.problems(&[]).iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["first_touch", "untouched", "hubspot_property"]);
        let sla = section(
            "first_touch = \"1h\"\nuntouched = [\"New\"]\nclosed = [\"New\"]\n\
             hubspot_property = \"truce_sla\"",
        );
        let mapped: FieldMapping =
            toml::from_str("hubspot = \"truce_sla\"\nsalesforce = \"SLA__c\"").unwrap();
        let problems = sla.problems(&[mapped]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].0, "closed");
        assert!(problems[1].1.contains("field[0]"), "{problems:?}");
    }
}
