//! An Opportunity's contacts, read: the `OpportunityContactRole` field.
//!
//! When the engine configures `OpportunityContactRole` as a field of Opportunity, every
//! Opportunity the client returns (pulled, scanned, fetched) carries it as a JSON array of
//! the ContactIds of its live roles, sorted and each once. The roles are read with
//! `OpportunityId IN (...)` queries on OpportunityContactRole, cut under the WHERE limit
//! (about 180 Opportunities a query) and packed five to a `/composite` call, together
//! with any Opportunities read by id in the same pass. A scan reads them as a stream of
//! its own instead (see `scan.rs`).
//!
//! ## Why a stream of its own
//!
//! A contact role is its own sObject with its own `SystemModstamp`, and adding, changing or
//! deleting one does not stamp its Opportunity. So a poll also reads the
//! `OpportunityContactRole` stream (`queryAll`: deleted roles too, by the same
//! `(SystemModstamp, Id)` keyset as every stream, in the same composite as the others), and
//! returns the Opportunities whose roles changed again, read by id, with their current
//! sets. Such a record keeps its own `modified_at`, which may not have moved: its fields
//! did. The roles themselves never reach the engine as records.
//!
//! ## Cost
//!
//! A poll that reads Opportunities or role changes costs one more call per five role or
//! Opportunity queries: usually one. A scan costs one more per 2,000 roles.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::SalesforceConnector;
use super::objects::{CONTACT_ROLES, ChildSet, Configured, contact_roles};
use super::soql::{self, Cond, FieldName, Literal, RecordId, Select};
use crate::contract::{ObjectType, Record, Rejected};
use crate::error::Error;

/// One live contact role, as the client needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Role {
    /// The role's id.
    pub id: String,
    /// Its Opportunity.
    pub parent: String,
    /// Its Contact.
    pub related: String,
    /// The Opportunity's primary role.
    pub primary: bool,
}

/// A role record read through [`super::objects::contact_roles`], unless it is deleted or
/// names no Contact.
pub(super) fn role_of(record: &Record, child: &ChildSet) -> Option<Role> {
    let text = |field: &str| {
        record
            .fields
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if record.deleted {
        return None;
    }
    Some(Role {
        id: record.id.clone(),
        parent: text(child.parent)?,
        related: text(child.related)?,
        primary: record.fields.get(child.primary).and_then(Value::as_bool) == Some(true),
    })
}

/// The parent a role record (deleted or not) belongs to.
pub(super) fn parent_of(record: &Record, child: &ChildSet) -> Option<String> {
    record
        .fields
        .get(child.parent)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// What identifies a Salesforce id in its 15- and 18-character forms alike: its first 15
/// characters (the last three only encode their case).
pub(super) fn id_key(id: &str) -> &str {
    id.get(..15).unwrap_or(id)
}

/// `SELECT ... FROM object WHERE field IN (ids)`, cut under the WHERE limit.
pub(super) fn in_queries(object: &Configured, field: &'static str, ids: &[String]) -> Vec<String> {
    let field = FieldName::constant(field);
    let mut unique: Vec<&String> = ids.iter().collect();
    unique.sort();
    unique.dedup();
    let literals: Vec<Literal> = unique
        .into_iter()
        .filter_map(|i| RecordId::new(i).ok())
        .map(Literal::Id)
        .collect();
    soql::chunk_in_list(&field, literals, soql::MAX_WHERE_CHARS)
        .into_iter()
        .map(|group| {
            Select::new(&object.name, &object.read)
                .filter(Cond::In(field.clone(), group))
                .to_soql()
        })
        .collect()
}

/// Sets the child-set field of every record of the parent object from `roles`.
pub(super) fn set_children(
    records: &mut [Record],
    parent: ObjectType,
    child: &ChildSet,
    roles: &[Role],
) {
    let mut sets: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for role in roles {
        sets.entry(id_key(&role.parent))
            .or_default()
            .insert(role.related.as_str());
    }
    for record in records.iter_mut().filter(|r| r.object == parent) {
        let related: Vec<Value> = sets
            .get(id_key(&record.id))
            .map(|set| set.iter().map(|c| Value::String(c.to_string())).collect())
            .unwrap_or_default();
        record
            .fields
            .insert(child.field().to_string(), Value::Array(related));
    }
}

impl SalesforceConnector {
    /// Reads the records of `object` with ids `fetch` (appended to `records`), and, when
    /// `object` carries a child set, the sets of every record of it in `records` then: one
    /// pass of composite calls for both.
    pub(super) async fn read_with_children(
        &self,
        object: &Configured,
        fetch: &[String],
        records: &mut Vec<Record>,
        rejected: &mut Vec<Rejected>,
        action: &str,
    ) -> Result<(), Error> {
        let mut queries: Vec<(&Configured, String)> = in_queries(object, "Id", fetch)
            .into_iter()
            .map(|q| (object, q))
            .collect();
        let children = object.children.zip(self.inner.roles.as_ref());
        if let Some((child, roles)) = children {
            let mut parents: Vec<String> = records
                .iter()
                .filter(|r| r.object == object.spec.object)
                .map(|r| r.id.clone())
                .collect();
            parents.extend(fetch.iter().cloned());
            queries.extend(
                in_queries(roles, child.parent, &parents)
                    .into_iter()
                    .map(|q| (roles, q)),
            );
        }
        if queries.is_empty() {
            return Ok(());
        }
        let read = self.run_queries(queries, action).await?;
        rejected.extend(read.rejected);
        let (found, role_rows): (Vec<Record>, Vec<Record>) = read
            .records
            .into_iter()
            .partition(|r| r.object == object.spec.object);
        records.extend(found);
        if let Some((child, _)) = children {
            let roles: Vec<Role> = role_rows.iter().filter_map(|r| role_of(r, child)).collect();
            set_children(records, object.spec.object, child, &roles);
        }
        Ok(())
    }

    /// The live contact roles of these Opportunities.
    pub(super) async fn current_roles(
        &self,
        parents: &[String],
        action: &str,
    ) -> Result<Vec<Role>, Error> {
        // Writes may name an Opportunity's contacts even when reads do not carry them.
        let owned;
        let roles = match self.inner.roles.as_ref() {
            Some(roles) => roles,
            None => {
                owned = contact_roles();
                &owned
            }
        };
        let queries = in_queries(roles, CONTACT_ROLES.parent, parents)
            .into_iter()
            .map(|q| (roles, q))
            .collect();
        let read = self.run_queries(queries, action).await?;
        Ok(read
            .records
            .iter()
            .filter_map(|r| role_of(r, &CONTACT_ROLES))
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn role(id: &str, parent: &str, contact: &str, deleted: bool) -> Record {
        let mut r = Record::new(
            ObjectType::SalesforceContactRole,
            id,
            0,
            [
                ("OpportunityId".to_string(), json!(parent)),
                ("ContactId".to_string(), json!(contact)),
                ("IsPrimary".to_string(), json!(false)),
            ]
            .into(),
        );
        r.deleted = deleted;
        r
    }

    #[test]
    fn each_opportunity_gets_the_sorted_contacts_of_its_live_roles_and_none_gets_an_empty_set() {
        let opp =
            |id: &str| Record::new(ObjectType::SalesforceOpportunity, id, 0, Default::default());
        let mut records = vec![opp("006000000000001AAA"), opp("006000000000002AAA")];
        let rows = [
            role(
                "00K000000000001AAA",
                "006000000000001AAA",
                "003000000000009AAA",
                false,
            ),
            role(
                "00K000000000002AAA",
                "006000000000001AAA",
                "003000000000001AAA",
                false,
            ),
            role(
                "00K000000000003AAA",
                "006000000000001AAA",
                "003000000000001AAA",
                false,
            ),
            role(
                "00K000000000004AAA",
                "006000000000001AAA",
                "003000000000005AAA",
                true,
            ),
        ];
        let roles: Vec<Role> = rows
            .iter()
            .filter_map(|r| role_of(r, &CONTACT_ROLES))
            .collect();
        assert_eq!(roles.len(), 3, "the deleted role is no role");
        set_children(
            &mut records,
            ObjectType::SalesforceOpportunity,
            &CONTACT_ROLES,
            &roles,
        );
        assert_eq!(
            records[0].fields["OpportunityContactRole"],
            json!(["003000000000001AAA", "003000000000009AAA"])
        );
        assert_eq!(records[1].fields["OpportunityContactRole"], json!([]));
    }
}
