//! What the HubSpot client knows about each object it reads, as data: one table entry per
//! object. Pulling, reading, writing and describing all work from the entry, so a new
//! object (companies, deals) is an entry here plus its sandbox routes.
//!
//! An object that has no entry yet is refused when the connector is built, naming it.

use std::collections::BTreeMap;

use crate::contract::ObjectType;
use crate::error::{ApiError, Error, ErrorClass};

/// One object's entry.
#[derive(Debug)]
pub struct Spec {
    /// The object.
    pub object: ObjectType,
    /// Its path segment: `/crm/v3/objects/{path}`, `/crm/v3/properties/{path}`.
    pub path: &'static str,
    /// The property holding the last modification: the time of the pull keyset.
    pub modified: &'static str,
    /// The property holding a person's email, for person objects.
    pub email: Option<&'static str>,
    /// Properties read on every record for the client's own needs (the keyset, typed
    /// metadata); they reach [`crate::Record::fields`] only when configured too.
    pub always: &'static [&'static str],
}

/// The objects this client reads today.
pub const SUPPORTED: [Spec; 1] = [Spec {
    object: ObjectType::HubSpotContact,
    path: "contacts",
    modified: "lastmodifieddate",
    email: Some("email"),
    always: &[
        "hs_object_id",
        "lastmodifieddate",
        "email",
        "hs_merged_object_ids",
    ],
}];

/// The property listing the ids merged into a record.
pub const MERGED_IDS: &str = "hs_merged_object_ids";

/// One configured object: its entry, and what to read of it.
#[derive(Debug)]
pub struct Configured {
    /// The table entry.
    pub spec: &'static Spec,
    /// The configured properties: what [`crate::Record::fields`] holds.
    pub fields: Vec<String>,
    /// Every property to ask for: the always-read ones, then the configured ones.
    pub read: Vec<String>,
}

impl Configured {
    /// The stream of live records, by `(modified, hs_object_id)`: the object's name.
    pub fn stream(&self) -> &'static str {
        self.spec.object.as_str()
    }

    /// The stream of archived records, by `(archivedAt, id)`.
    pub fn archived_stream(&self) -> String {
        format!("{}.archived", self.spec.object.as_str())
    }

    /// `/crm/v3/objects/{path}` followed by `rest`.
    pub fn objects_path(&self, rest: &str) -> String {
        format!("/crm/v3/objects/{}{rest}", self.spec.path)
    }
}

/// The configured objects, each checked against the table.
pub fn configure(objects: &BTreeMap<ObjectType, Vec<String>>) -> Result<Vec<Configured>, Error> {
    objects
        .iter()
        .map(|(object, fields)| {
            let spec = SUPPORTED
                .iter()
                .find(|s| s.object == *object)
                .ok_or_else(|| unsupported(*object))?;
            let mut read: Vec<String> = spec.always.iter().map(|s| s.to_string()).collect();
            for field in fields {
                if !read.contains(field) {
                    read.push(field.clone());
                }
            }
            Ok(Configured {
                spec,
                fields: fields.clone(),
                read,
            })
        })
        .collect()
}

fn unsupported(object: ObjectType) -> Error {
    let message = if object.system() == crate::System::HubSpot {
        format!("HubSpot {object} are not yet supported by truce's HubSpot connector")
    } else {
        format!(
            "{object} is a {} object, not a HubSpot one",
            object.system()
        )
    };
    Error::new(
        ErrorClass::Fatal,
        "configuring HubSpot",
        ApiError::message(message),
    )
}
