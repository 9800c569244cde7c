//! What the engine needs from the config, in the engine's terms: field maps, the
//! qualification gate, what to create as, what to do on delete, retry limits.

use std::time::Duration;

use truce_connectors::ObjectType;

use super::mapping::FieldMap;
use crate::config::{Config, DeletePolicy, Qualify, SalesforceObject};

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Every mapped field.
    pub fields: Vec<FieldMap>,
    /// The gate for creating HubSpot contacts in Salesforce.
    pub qualify: Qualify,
    /// What a qualified HubSpot contact becomes in Salesforce.
    pub create_as: SalesforceObject,
    /// What a delete on one side does to the other.
    pub deletes: DeletePolicy,
    /// How far back each poll re-reads.
    pub lookback: Duration,
    /// Salesforce external-id field holding the HubSpot id, when configured.
    pub external_id_field: Option<String>,
    /// Attempts before a transiently failing write goes to quarantine.
    pub max_attempts: i64,
    /// Writes taken from the outbox per apply call.
    pub apply_batch: usize,
}

impl Settings {
    /// Settings from a loaded config.
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            fields: config.fields.iter().map(FieldMap::new).collect(),
            qualify: config.sync.qualify.clone(),
            create_as: config.sync.create_salesforce_as,
            deletes: config.sync.deletes,
            lookback: config.sync.lookback,
            external_id_field: config.salesforce.external_id_field.clone(),
            max_attempts: 8,
            apply_batch: 1000,
        }
    }

    /// The field maps that apply to a Salesforce object.
    pub fn fields_for(&self, object: SalesforceObject) -> impl Iterator<Item = &FieldMap> {
        self.fields.iter().filter(move |f| f.applies_to(object))
    }

    /// HubSpot properties to pull: every mapped one plus the qualification property.
    pub fn hubspot_properties(&self) -> Vec<String> {
        let mut out: Vec<String> = self.fields.iter().map(|f| f.hubspot.clone()).collect();
        out.push("email".into());
        out.push(self.qualify.property.clone());
        out.sort();
        out.dedup();
        out
    }

    /// Salesforce fields to pull for an object: every mapped one plus Email.
    pub fn salesforce_fields(&self, object: SalesforceObject) -> Vec<String> {
        let mut out: Vec<String> = self
            .fields_for(object)
            .map(|f| f.salesforce.clone())
            .collect();
        out.push("Email".into());
        if let Some(ext) = &self.external_id_field {
            out.push(ext.clone());
        }
        out.sort();
        out.dedup();
        out
    }

    /// True when a HubSpot contact with these properties may be created in Salesforce.
    pub fn qualifies(&self, value: Option<&serde_json::Value>) -> bool {
        value
            .and_then(serde_json::Value::as_str)
            .is_some_and(|v| self.qualify.values.iter().any(|q| q == v))
    }
}

/// The Salesforce object of a connector object type, if it is one.
pub fn salesforce_object(object: ObjectType) -> Option<SalesforceObject> {
    match object {
        ObjectType::SalesforceLead => Some(SalesforceObject::Lead),
        ObjectType::SalesforceContact => Some(SalesforceObject::Contact),
        _ => None,
    }
}

/// The connector object type of a Salesforce object.
pub fn object_type(object: SalesforceObject) -> ObjectType {
    match object {
        SalesforceObject::Lead => ObjectType::SalesforceLead,
        SalesforceObject::Contact => ObjectType::SalesforceContact,
    }
}

/// The API name of a Salesforce object.
pub fn object_name(object: SalesforceObject) -> &'static str {
    object_type(object).as_str()
}
