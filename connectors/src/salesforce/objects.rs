//! What the Salesforce client knows about each object it reads, as data: one table entry
//! per sObject. Pulling, reading, writing and describing all work from the entry, so a new
//! object (Account, Opportunity) is an entry here plus its sandbox support.
//!
//! An object that has no entry yet is refused when the connector is built, naming it.

use std::collections::BTreeMap;

use super::soql::FieldName;
use crate::contract::ObjectType;
use crate::error::{ApiError, Error, ErrorClass};

/// One sObject's entry.
#[derive(Debug)]
pub struct Spec {
    /// The object (its API name is the sObject name: `Lead`).
    pub object: ObjectType,
    /// The field holding the last modification: the time of the pull keyset.
    pub modified: &'static str,
    /// The field holding a person's email, for person objects.
    pub email: Option<&'static str>,
    /// Fields read on every record for the client's own needs (the keyset, typed metadata);
    /// they reach [`crate::Record::fields`] only when configured too.
    pub always: &'static [&'static str],
}

/// The objects this client reads today.
pub const SUPPORTED: [Spec; 2] = [
    Spec {
        object: ObjectType::SalesforceLead,
        modified: "SystemModstamp",
        email: Some("Email"),
        always: &[
            "Id",
            "SystemModstamp",
            "IsDeleted",
            "MasterRecordId",
            "Email",
            "IsConverted",
            "ConvertedContactId",
            "ConvertedAccountId",
            "ConvertedOpportunityId",
        ],
    },
    Spec {
        object: ObjectType::SalesforceContact,
        modified: "SystemModstamp",
        email: Some("Email"),
        always: &[
            "Id",
            "SystemModstamp",
            "IsDeleted",
            "MasterRecordId",
            "Email",
        ],
    },
];

/// One configured object: its entry, and what to read of it.
#[derive(Debug)]
pub struct Configured {
    /// The table entry.
    pub spec: &'static Spec,
    /// The sObject name, checked.
    pub name: FieldName,
    /// The configured fields: what [`crate::Record::fields`] holds.
    pub fields: Vec<FieldName>,
    /// Every field to select: the always-read ones, then the configured ones, each once.
    pub read: Vec<FieldName>,
}

impl Configured {
    /// The object's change stream: its API name.
    pub fn stream(&self) -> &'static str {
        self.spec.object.as_str()
    }
}

/// The configured objects, each checked against the table; every name is checked too, so
/// no configured text can reach a query.
pub fn configure(objects: &BTreeMap<ObjectType, Vec<String>>) -> Result<Vec<Configured>, Error> {
    objects
        .iter()
        .map(|(object, fields)| {
            let spec = SUPPORTED
                .iter()
                .find(|s| s.object == *object)
                .ok_or_else(|| config_error(unsupported(*object)))?;
            let fields = fields
                .iter()
                .map(|f| FieldName::new(f).map_err(config_error))
                .collect::<Result<Vec<_>, _>>()?;
            let mut read: Vec<FieldName> = Vec::new();
            let always = spec.always.iter().map(|f| FieldName::constant(f));
            for field in always.chain(fields.iter().cloned()) {
                // SOQL refuses a field selected twice, in any case.
                if !read
                    .iter()
                    .any(|r| r.as_str().eq_ignore_ascii_case(field.as_str()))
                {
                    read.push(field);
                }
            }
            Ok(Configured {
                spec,
                name: FieldName::constant(object.as_str()),
                fields,
                read,
            })
        })
        .collect()
}

fn unsupported(object: ObjectType) -> String {
    if object.system() == crate::System::Salesforce {
        format!("Salesforce {object} is not yet supported by truce's Salesforce connector")
    } else {
        format!(
            "{object} is a {} object, not a Salesforce one",
            object.system()
        )
    }
}

/// A configuration the connector cannot work with.
pub fn config_error(message: String) -> Error {
    Error::new(
        ErrorClass::Fatal,
        "reading the [salesforce] settings",
        ApiError::message(message),
    )
}
