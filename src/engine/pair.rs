//! Object pairs: what truce keeps in agreement, described as data.
//!
//! A [`Pair`] names one kind of thing both systems hold (people, companies, deals). Its
//! [`PairSpec`] says everything the pipeline needs to know about it: the HubSpot object, the
//! Salesforce object(s) in matching precedence, how a record is identified, the mapped
//! fields and references, and when a record is created on the other side. The pull,
//! record, identity, merge and apply steps read the description; none of them has a code
//! path of its own per pair, except identity, whose rules are the pair's nature.

use std::fmt;

use serde::Deserialize;
use truce_connectors::{ObjectType, System};

use super::mapping::FieldMap;

/// One kind of thing both systems hold, as the config names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pair {
    /// People: HubSpot contacts ↔ Salesforce Leads and Contacts.
    Contacts,
    /// Companies: HubSpot companies ↔ Salesforce Accounts.
    Companies,
    /// Deals: HubSpot deals ↔ Salesforce Opportunities.
    Deals,
}

impl Pair {
    /// Every pair, in the order a cycle handles them: a record is linked before the
    /// records that refer to it (a person's company before the person, both before deals).
    pub const ALL: [Pair; 3] = [Pair::Companies, Pair::Contacts, Pair::Deals];

    /// The config and store name (`contacts`, `companies`, `deals`).
    pub fn as_str(self) -> &'static str {
        match self {
            Pair::Contacts => "contacts",
            Pair::Companies => "companies",
            Pair::Deals => "deals",
        }
    }

    /// Parses the config and store name.
    pub fn parse(name: &str) -> Option<Pair> {
        Pair::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The HubSpot object of this pair.
    pub fn hubspot_object(self) -> ObjectType {
        match self {
            Pair::Contacts => ObjectType::HubSpotContact,
            Pair::Companies => ObjectType::HubSpotCompany,
            Pair::Deals => ObjectType::HubSpotDeal,
        }
    }

    /// The Salesforce objects of this pair, the one a match prefers first (a Contact
    /// beats a Lead with the same email).
    pub fn salesforce_objects(self) -> &'static [ObjectType] {
        match self {
            Pair::Contacts => &[ObjectType::SalesforceContact, ObjectType::SalesforceLead],
            Pair::Companies => &[ObjectType::SalesforceAccount],
            Pair::Deals => &[ObjectType::SalesforceOpportunity],
        }
    }

    /// The objects of this pair in `system`.
    pub fn objects(self, system: System) -> Vec<ObjectType> {
        match system {
            System::HubSpot => vec![self.hubspot_object()],
            System::Salesforce => self.salesforce_objects().to_vec(),
        }
    }

    /// The pair a record of `object` belongs to. An Opportunity's contact roles are parts
    /// of deals (the connector reads them into their Opportunity's `@contacts`).
    pub fn of(object: ObjectType) -> Pair {
        match object {
            ObjectType::HubSpotContact
            | ObjectType::SalesforceLead
            | ObjectType::SalesforceContact => Pair::Contacts,
            ObjectType::HubSpotCompany | ObjectType::SalesforceAccount => Pair::Companies,
            ObjectType::HubSpotDeal
            | ObjectType::SalesforceOpportunity
            | ObjectType::SalesforceContactRole => Pair::Deals,
        }
    }

    /// True for the pair whose records are people, matched and named by email.
    pub fn is_people(self) -> bool {
        self == Pair::Contacts
    }
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens when a linked record is deleted or archived on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletePolicy {
    /// Log it and unlink; the other side keeps its record.
    Unlink,
    /// Delete the other side's record too.
    Propagate,
}

impl DeletePolicy {
    /// The policy's config name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletePolicy::Unlink => "unlink",
            DeletePolicy::Propagate => "propagate",
        }
    }
}

/// `qualify = { property = "...", values = [...] }`: a HubSpot contact is created in
/// Salesforce only when `property` holds one of `values` (the marketing/sales agreement in
/// code: sales gets qualified leads only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qualify {
    /// The HubSpot property tested.
    pub property: String,
    /// The values that qualify.
    pub values: Vec<String>,
}

impl Default for Qualify {
    fn default() -> Self {
        Qualify {
            property: "lifecyclestage".into(),
            values: [
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "opportunity",
                "customer",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl Qualify {
    /// True when a HubSpot contact holding `value` in the qualifying property may be
    /// created in Salesforce.
    pub fn passes(&self, value: Option<&serde_json::Value>) -> bool {
        value
            .and_then(serde_json::Value::as_str)
            .is_some_and(|v| self.values.iter().any(|q| q == v))
    }
}

/// How the records of a pair are found to be the same thing.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    /// People, by normalised email.
    Email(People),
    /// Companies, through the people linked to them (and optionally by domain).
    Company(Companies),
    /// Deals, by truce's own link, recorded on both sides in id fields.
    Deal(Deals),
}

/// How deals are linked and created: there is no natural key, so a link exists because
/// truce made it (creating one side from the other) or because an id field says so.
#[derive(Debug, Clone, PartialEq)]
pub struct Deals {
    /// When an Opportunity becomes a HubSpot deal (`always` by default: marketing sees
    /// the pipeline its leads became).
    pub create_in_hubspot: CreatePolicy,
    /// When a HubSpot deal becomes an Opportunity (`never` by default).
    pub create_in_salesforce: CreatePolicy,
    /// The Opportunity External ID field holding the HubSpot deal id.
    pub external_id_field: Option<String>,
    /// The HubSpot unique-value deal property holding the Opportunity id.
    pub hubspot_id_property: Option<String>,
}

/// How companies and Accounts are matched (`[companies] match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyMatch {
    /// A company and an Account are one when linked people point to them (HubSpot's own
    /// way: a contact's primary company, a Contact's Account).
    Contacts,
    /// As `contacts`, and also by normalised domain (HubSpot `domain` against the host of
    /// the Account's `Website`).
    Domain,
}

/// When a record of one side is created on the other (`create_in_salesforce`,
/// `create_in_hubspot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreatePolicy {
    /// Only once a synced record refers to it (a linked person's company, a synced deal's
    /// company): a company nobody syncs stays home.
    Referenced,
    /// Every record.
    Always,
    /// Never.
    Never,
}

/// How companies are matched and created.
#[derive(Debug, Clone, PartialEq)]
pub struct Companies {
    /// The matching rule.
    pub matching: CompanyMatch,
    /// When a HubSpot company becomes an Account.
    pub create_in_salesforce: CreatePolicy,
    /// When an Account becomes a HubSpot company.
    pub create_in_hubspot: CreatePolicy,
    /// The Account external-id field holding the HubSpot company id: Account creates upsert
    /// on it.
    pub external_id_field: Option<String>,
    /// The HubSpot unique-value company property holding the Account id: company creates
    /// upsert on it.
    pub hubspot_id_property: Option<String>,
}

/// How people are matched and created.
#[derive(Debug, Clone, PartialEq)]
pub struct People {
    /// The gate for creating HubSpot contacts in Salesforce.
    pub qualify: Qualify,
    /// What a qualified HubSpot contact becomes in Salesforce (a Lead or a Contact).
    pub create_as: ObjectType,
    /// The Salesforce external-id field holding the HubSpot id, when the org has one:
    /// creates then upsert on it.
    pub external_id_field: Option<String>,
}

/// Everything the pipeline needs to know about one pair.
#[derive(Debug, Clone)]
pub struct PairSpec {
    /// Which pair.
    pub pair: Pair,
    /// How its records are identified and created.
    pub identity: Identity,
    /// Its mapped fields and references.
    pub fields: Vec<FieldMap>,
    /// Values every create on a side carries besides the mapped ones (a HubSpot deal's
    /// pipeline), as `(target object, field, value)`.
    pub create_defaults: Vec<(ObjectType, String, serde_json::Value)>,
    /// Fields read (and tracked) besides the mapped ones because another pair's identity
    /// needs them: a person's company when companies are matched through people.
    pub extra_reads: Vec<(ObjectType, String)>,
}

impl PairSpec {
    /// Whether `name` (as either system names it in a write) is a mapped reference: a
    /// HubSpot association or the Salesforce field or object it maps to.
    pub fn is_reference(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.reference.is_some() && (f.hubspot == name || f.salesforce == name))
    }

    /// The field maps that apply to a Salesforce object of this pair.
    pub fn fields_for(&self, object: ObjectType) -> impl Iterator<Item = &FieldMap> {
        self.fields.iter().filter(move |f| f.applies_to(object))
    }

    /// The fields the connector must read for `object`: every mapped one (of its side) and
    /// what identity needs.
    pub fn read_fields(&self, object: ObjectType) -> Vec<String> {
        let mut out: Vec<String> = match object.system() {
            System::HubSpot => self.fields.iter().map(|f| f.hubspot.clone()).collect(),
            System::Salesforce => self
                .fields_for(object)
                .map(|f| f.salesforce.clone())
                .collect(),
        };
        out.extend(self.identity_fields(object.system()).map(String::from));
        out.extend(
            self.extra_reads
                .iter()
                .filter(|(o, _)| *o == object)
                .map(|(_, f)| f.clone()),
        );
        out.sort();
        out.dedup();
        out
    }

    /// The fields identity reads on `system`, besides the mapped ones.
    fn identity_fields(&self, system: System) -> impl Iterator<Item = &str> {
        let fields: Vec<&str> = match (&self.identity, system) {
            (Identity::Email(people), System::HubSpot) => vec![people.qualify.property.as_str()],
            (Identity::Email(people), System::Salesforce) => {
                people.external_id_field.as_deref().into_iter().collect()
            }
            (Identity::Company(companies), System::HubSpot) => companies
                .hubspot_id_property
                .as_deref()
                .into_iter()
                .collect(),
            (Identity::Company(companies), System::Salesforce) => {
                companies.external_id_field.as_deref().into_iter().collect()
            }
            (Identity::Deal(deals), System::HubSpot) => {
                deals.hubspot_id_property.as_deref().into_iter().collect()
            }
            (Identity::Deal(deals), System::Salesforce) => {
                deals.external_id_field.as_deref().into_iter().collect()
            }
        };
        fields.into_iter()
    }

    /// The HubSpot association fields this pair reads (`@company`, `@contacts`): mapped
    /// references and those another pair's identity needs.
    pub fn hubspot_associations(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .fields
            .iter()
            .filter(|f| f.reference.is_some())
            .map(|f| f.hubspot.clone())
            .chain(
                self.extra_reads
                    .iter()
                    .filter(|(o, f)| o.system() == System::HubSpot && f.starts_with('@'))
                    .map(|(_, f)| f.clone()),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The people rules, when this pair is people.
    pub fn people(&self) -> Option<&People> {
        match &self.identity {
            Identity::Email(people) => Some(people),
            Identity::Company(_) | Identity::Deal(_) => None,
        }
    }

    /// True when the field of `system` named `name` is tracked in the change log: a mapped
    /// field, the qualifying property, or one another pair's identity reads.
    pub fn tracks(&self, system: System, name: &str) -> bool {
        let mapped = self.fields.iter().any(|f| match system {
            System::HubSpot => f.hubspot == name,
            System::Salesforce => f.salesforce == name,
        });
        let qualifying = match (&self.identity, system) {
            (Identity::Email(people), System::HubSpot) => people.qualify.property == name,
            _ => false,
        };
        mapped
            || qualifying
            || self
                .extra_reads
                .iter()
                .any(|(o, f)| o.system() == system && f == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_is_read_by_the_one_pair_it_belongs_to_except_contact_roles() {
        for object in ObjectType::ALL {
            let pairs: Vec<Pair> = Pair::ALL
                .into_iter()
                .filter(|p| p.objects(object.system()).contains(&object))
                .collect();
            match object {
                // Parts of an Opportunity, read into it by the connector.
                ObjectType::SalesforceContactRole => assert!(pairs.is_empty()),
                _ => assert_eq!(pairs, [Pair::of(object)], "{object}"),
            }
        }
        assert_eq!(Pair::of(ObjectType::SalesforceLead), Pair::Contacts);
        assert_eq!(Pair::parse("companies"), Some(Pair::Companies));
        assert_eq!(Pair::parse("Companies"), None);
    }

    #[test]
    fn a_pair_is_linked_after_the_pairs_its_references_point_to() {
        let at = |p| Pair::ALL.iter().position(|&q| q == p);
        assert!(at(Pair::Companies) < at(Pair::Contacts));
        assert!(at(Pair::Contacts) < at(Pair::Deals));
    }
}
