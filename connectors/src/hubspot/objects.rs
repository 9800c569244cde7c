//! What the HubSpot client knows about each object it reads, as data: one table entry per
//! object. Pulling, reading, writing and describing all work from the entry, so a new
//! object is an entry here plus its sandbox routes.
//!
//! An entry names the object's path segment, its last-modified property (the pull
//! keyset), the properties that fill [`crate::Record`]'s typed metadata (email, name,
//! domain, a deal's outcome, merges), and the associations the client reads and writes as
//! fields (`@company`, `@contacts`), each with HubSpot's association type ids.
//!
//! An object or an association that has no entry is refused when the connector is built,
//! naming it.

use std::collections::BTreeMap;

use crate::contract::ObjectType;
use crate::error::{ApiError, Error, ErrorClass};

/// How an association field maps onto HubSpot's association types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// One record: the one linked with the `primary` type (a primary company). Writing it
    /// links with both types (HubSpot lists a primary link with the unlabeled type too);
    /// clearing it removes the primary label only, keeping the association.
    Primary {
        /// The primary type id (contact → company 1, deal → company 5).
        primary: u32,
        /// The unlabeled type id of the same pair (279, 341).
        unlabeled: u32,
    },
    /// Every linked record, written as a whole set with this type id (deal → contact 3).
    Set {
        /// The type id.
        type_id: u32,
    },
}

/// One association the client reads and writes as a field.
#[derive(Debug)]
pub struct Association {
    /// The field name (`@company`).
    pub field: &'static str,
    /// The associated object's path segment (`companies`).
    pub to: &'static str,
    /// What the field holds.
    pub cardinality: Cardinality,
}

/// The properties a deal's outcome is read from.
#[derive(Debug)]
pub struct OutcomeProperties {
    /// `hs_is_closed`.
    pub closed: &'static str,
    /// `hs_is_closed_won`.
    pub won: &'static str,
    /// `amount`.
    pub amount: &'static str,
}

/// One object's entry.
#[derive(Debug)]
pub struct Spec {
    /// The object.
    pub object: ObjectType,
    /// Its path segment in every API (`contacts`; see [`super::paths`]).
    pub path: &'static str,
    /// The property holding the last modification: the time of the pull keyset.
    pub modified: &'static str,
    /// The property holding a person's email, for person objects.
    pub email: Option<&'static str>,
    /// The property holding what people call the record (company `name`, `dealname`).
    pub name: Option<&'static str>,
    /// The property holding a company's web domain.
    pub domain: Option<&'static str>,
    /// Where a deal's outcome is read, for deals.
    pub outcome: Option<OutcomeProperties>,
    /// Properties read on every record for the client's own needs (the keyset, typed
    /// metadata); they reach [`crate::Record::fields`] only when configured too.
    pub always: &'static [&'static str],
    /// The associations readable as fields.
    pub associations: &'static [Association],
}

impl Spec {
    /// The association named `field` (`@company`), when the object has it.
    pub fn association(&'static self, field: &str) -> Option<&'static Association> {
        self.associations.iter().find(|a| a.field == field)
    }
}

/// The objects this client reads.
pub const SUPPORTED: [Spec; 3] = [
    Spec {
        object: ObjectType::HubSpotContact,
        path: "contacts",
        // An `hs_lastmodifieddate` filter silently fails on contacts (reference §2.2).
        modified: "lastmodifieddate",
        email: Some("email"),
        name: None,
        domain: None,
        outcome: None,
        always: &[
            "hs_object_id",
            "lastmodifieddate",
            "email",
            "hs_merged_object_ids",
        ],
        associations: &[Association {
            field: "@company",
            to: "companies",
            cardinality: Cardinality::Primary {
                primary: 1,
                unlabeled: 279,
            },
        }],
    },
    Spec {
        object: ObjectType::HubSpotCompany,
        path: "companies",
        modified: "hs_lastmodifieddate",
        email: None,
        name: Some("name"),
        domain: Some("domain"),
        outcome: None,
        always: &[
            "hs_object_id",
            "hs_lastmodifieddate",
            "name",
            "domain",
            "hs_merged_object_ids",
        ],
        associations: &[],
    },
    Spec {
        object: ObjectType::HubSpotDeal,
        path: "deals",
        modified: "hs_lastmodifieddate",
        email: None,
        name: Some("dealname"),
        domain: None,
        outcome: Some(OutcomeProperties {
            closed: "hs_is_closed",
            won: "hs_is_closed_won",
            amount: "amount",
        }),
        always: &[
            "hs_object_id",
            "hs_lastmodifieddate",
            "dealname",
            "hs_is_closed",
            "hs_is_closed_won",
            "amount",
            "hs_merged_object_ids",
        ],
        associations: &[
            Association {
                field: "@company",
                to: "companies",
                cardinality: Cardinality::Primary {
                    primary: 5,
                    unlabeled: 341,
                },
            },
            Association {
                field: "@contacts",
                to: "contacts",
                cardinality: Cardinality::Set { type_id: 3 },
            },
        ],
    },
];

/// The property listing the ids merged into a record.
pub const MERGED_IDS: &str = "hs_merged_object_ids";

/// True for a field that is an association (`@company`), not a property.
pub fn is_association(field: &str) -> bool {
    field.starts_with('@')
}

/// One configured object: its entry, and what to read of it.
#[derive(Debug)]
pub struct Configured {
    /// The table entry.
    pub spec: &'static Spec,
    /// The configured fields, properties and associations: what [`crate::Record::fields`]
    /// holds.
    pub fields: Vec<String>,
    /// Every property to ask for: the always-read ones, then the configured ones.
    pub read: Vec<String>,
    /// The configured associations, read with every page.
    pub associations: Vec<&'static Association>,
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
}

/// The entry of `object`, or the error naming it.
pub fn spec_of(object: ObjectType) -> Result<&'static Spec, Error> {
    SUPPORTED
        .iter()
        .find(|s| s.object == object)
        .ok_or_else(|| unsupported(object))
}

/// The configured objects, each checked against the table, their associations too.
pub fn configure(objects: &BTreeMap<ObjectType, Vec<String>>) -> Result<Vec<Configured>, Error> {
    objects
        .iter()
        .map(|(object, fields)| {
            let spec = spec_of(*object)?;
            let mut read: Vec<String> = spec.always.iter().map(|s| s.to_string()).collect();
            let mut associations = Vec::new();
            for field in fields {
                if is_association(field) {
                    let association = spec
                        .association(field)
                        .ok_or_else(|| unknown_association(spec, field))?;
                    if !associations.iter().any(|a: &&Association| a.field == field) {
                        associations.push(association);
                    }
                } else if !read.contains(field) {
                    read.push(field.clone());
                }
            }
            Ok(Configured {
                spec,
                fields: fields.clone(),
                read,
                associations,
            })
        })
        .collect()
}

/// The error for an association `object` does not have.
pub fn unknown_association(spec: &Spec, field: &str) -> Error {
    let known: Vec<&str> = spec.associations.iter().map(|a| a.field).collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    Error::new(
        ErrorClass::Fatal,
        "configuring HubSpot",
        ApiError::message(format!(
            "HubSpot {} have no association `{field}` truce's HubSpot connector reads \
             (it reads: {known})",
            spec.object
        )),
    )
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_hubspot_object_has_an_entry_and_associations_are_checked_by_name() {
        let objects = BTreeMap::from([
            (ObjectType::HubSpotContact, vec!["@company".to_string()]),
            (ObjectType::HubSpotCompany, vec!["name".to_string()]),
            (
                ObjectType::HubSpotDeal,
                vec!["dealstage".into(), "@contacts".into(), "@company".into()],
            ),
        ]);
        let configured = configure(&objects).unwrap();
        assert_eq!(configured.len(), 3);
        let deals = &configured[2];
        assert_eq!(deals.associations.len(), 2);
        assert!(!deals.read.iter().any(|p| p.starts_with('@')));
        assert!(deals.read.contains(&"dealstage".to_string()));

        let wrong = BTreeMap::from([(ObjectType::HubSpotCompany, vec!["@contacts".into()])]);
        let err = configure(&wrong).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Fatal);
        assert!(err.api().message.contains("`@contacts`"), "{err}");
        let foreign = BTreeMap::from([(ObjectType::SalesforceAccount, Vec::new())]);
        let err = configure(&foreign).unwrap_err();
        assert!(err.api().message.contains("Account is a Salesforce object"));
    }
}
