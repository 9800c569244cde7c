//! What the Salesforce client knows about each object it reads, as data: one table entry
//! per sObject. Pulling, reading, writing and describing all work from the entry, so a new
//! object is an entry here plus its sandbox support.
//!
//! An entry names the keyset field, the fields the client always reads for its own needs,
//! and where the typed metadata of a [`crate::Record`] comes from (email, name, domain, a
//! deal's outcome). A set held by child records (an Opportunity's contact roles) is a
//! [`ChildSet`]: configured as a field named after the child object, it is read from the
//! child object and written by creating and deleting child records (`roles.rs`,
//! `role_writes.rs`), never selected on the parent.
//!
//! An object that has no entry is refused when the connector is built, naming it.

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
    /// The field holding what people call the record (`Name`), for named objects.
    pub name: Option<&'static str>,
    /// The field holding a company's web address (`Website`), as the API holds it.
    pub domain: Option<&'static str>,
    /// Where a deal stands, for Opportunities.
    pub outcome: Option<OutcomeFields>,
    /// A set of related records held by child records, read and written as one field.
    pub children: Option<&'static ChildSet>,
    /// Fields read on every record for the client's own needs (the keyset, typed metadata);
    /// they reach [`crate::Record::fields`] only when configured too.
    pub always: &'static [&'static str],
}

/// The fields a deal's [`crate::DealOutcome`] is read from.
#[derive(Debug)]
pub struct OutcomeFields {
    /// Closed, won or lost (`IsClosed`).
    pub closed: &'static str,
    /// Won (`IsWon`).
    pub won: &'static str,
    /// The amount (`Amount`).
    pub amount: &'static str,
}

/// A set held by child records: each child joins its parent to one related record.
#[derive(Debug)]
pub struct ChildSet {
    /// The child object; its API name is also the name of the field the set travels in.
    pub object: ObjectType,
    /// The child's reference to the parent (`OpportunityId`), set on create only.
    pub parent: &'static str,
    /// The child's reference to the related record (`ContactId`): the set's elements.
    pub related: &'static str,
    /// The child's flag marking one child per parent as the primary one (`IsPrimary`).
    pub primary: &'static str,
}

impl ChildSet {
    /// The field the set travels in: the child object's name.
    pub fn field(&self) -> &'static str {
        self.object.as_str()
    }
}

/// An Opportunity's contacts: its OpportunityContactRole records.
pub const CONTACT_ROLES: ChildSet = ChildSet {
    object: ObjectType::SalesforceContactRole,
    parent: "OpportunityId",
    related: "ContactId",
    primary: "IsPrimary",
};

/// The objects this client reads.
pub const SUPPORTED: [Spec; 4] = [
    Spec {
        object: ObjectType::SalesforceLead,
        modified: "SystemModstamp",
        email: Some("Email"),
        name: None,
        domain: None,
        outcome: None,
        children: None,
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
        name: None,
        domain: None,
        outcome: None,
        children: None,
        always: &[
            "Id",
            "SystemModstamp",
            "IsDeleted",
            "MasterRecordId",
            "Email",
        ],
    },
    Spec {
        object: ObjectType::SalesforceAccount,
        modified: "SystemModstamp",
        email: None,
        name: Some("Name"),
        domain: Some("Website"),
        outcome: None,
        children: None,
        always: &[
            "Id",
            "SystemModstamp",
            "IsDeleted",
            "MasterRecordId",
            "Name",
            "Website",
        ],
    },
    // Opportunities are not mergeable: no MasterRecordId.
    Spec {
        object: ObjectType::SalesforceOpportunity,
        modified: "SystemModstamp",
        email: None,
        name: Some("Name"),
        domain: None,
        outcome: Some(OutcomeFields {
            closed: "IsClosed",
            won: "IsWon",
            amount: "Amount",
        }),
        children: Some(&CONTACT_ROLES),
        always: &[
            "Id",
            "SystemModstamp",
            "IsDeleted",
            "Name",
            "IsClosed",
            "IsWon",
            "Amount",
        ],
    },
];

/// The contact roles themselves, read only by the client: their change stream (so a role
/// change, which does not stamp its Opportunity, is seen) and the current sets. Never an
/// object the engine configures.
pub const CONTACT_ROLE: Spec = Spec {
    object: ObjectType::SalesforceContactRole,
    modified: "SystemModstamp",
    email: None,
    name: None,
    domain: None,
    outcome: None,
    children: None,
    always: &[
        "Id",
        "SystemModstamp",
        "IsDeleted",
        "OpportunityId",
        "ContactId",
        "IsPrimary",
    ],
};

/// One configured object: its entry, and what to read of it.
#[derive(Debug)]
pub struct Configured {
    /// The table entry.
    pub spec: &'static Spec,
    /// The sObject name, checked.
    pub name: FieldName,
    /// The configured fields: what [`crate::Record::fields`] holds.
    pub fields: Vec<FieldName>,
    /// Every field to select: the always-read ones, then the configured ones, each once
    /// (a child set is not selected: it is read from its child object).
    pub read: Vec<FieldName>,
    /// The child set the engine configured as a field, when it did.
    pub children: Option<&'static ChildSet>,
}

impl Configured {
    /// The object's change stream: its API name.
    pub fn stream(&self) -> &'static str {
        self.spec.object.as_str()
    }

    /// An entry read with these fields (checked constants or configured names).
    fn new(spec: &'static Spec, fields: Vec<FieldName>) -> Configured {
        let children = spec.children.filter(|child| {
            fields
                .iter()
                .any(|f| f.as_str().eq_ignore_ascii_case(child.field()))
        });
        let selected = fields
            .iter()
            .filter(|f| !children.is_some_and(|c| f.as_str().eq_ignore_ascii_case(c.field())));
        let mut read: Vec<FieldName> = Vec::new();
        let always = spec.always.iter().map(|f| FieldName::constant(f));
        for field in always.chain(selected.cloned()) {
            // SOQL refuses a field selected twice, in any case.
            if !read
                .iter()
                .any(|r| r.as_str().eq_ignore_ascii_case(field.as_str()))
            {
                read.push(field);
            }
        }
        Configured {
            spec,
            name: FieldName::constant(spec.object.as_str()),
            fields,
            read,
            children,
        }
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
            // A child object's name on another object would be selected as a field and
            // refused by Salesforce at the first query: refuse it here, naming it.
            for field in &fields {
                let child = SUPPORTED
                    .iter()
                    .filter_map(|s| s.children.map(|c| (s.object, c)))
                    .find(|(_, c)| field.as_str().eq_ignore_ascii_case(c.field()));
                if let Some((parent, child)) = child
                    && parent != *object
                {
                    return Err(config_error(format!(
                        "{} is a field of {parent} (its {}s), not of {object}",
                        child.field(),
                        child.related
                    )));
                }
            }
            Ok(Configured::new(spec, fields))
        })
        .collect()
}

/// The contact roles as the client reads them: their own stream and the current sets.
pub fn contact_roles() -> Configured {
    let fields = ["OpportunityId", "ContactId", "IsPrimary"]
        .into_iter()
        .map(FieldName::constant)
        .collect();
    Configured::new(&CONTACT_ROLE, fields)
}

fn unsupported(object: ObjectType) -> String {
    match object {
        ObjectType::SalesforceContactRole => format!(
            "{object} is not an object of its own to truce: map it as a field of Opportunity \
             (salesforce = \"{object}\"), which holds the Opportunity's contacts"
        ),
        _ if object.system() == crate::System::Salesforce => {
            format!("Salesforce {object} is not yet supported by truce's Salesforce connector")
        }
        _ => format!(
            "{object} is a {} object, not a Salesforce one",
            object.system()
        ),
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
