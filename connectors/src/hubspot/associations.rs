//! Reading associations as fields: `@company` (a contact's or a deal's *primary* company)
//! and `@contacts` (every contact of a deal).
//!
//! HubSpot does not change a record's last-modified date when only its associations
//! change, so they cannot ride on the search keyset: every page the client returns (pull,
//! scan, fetch) has the configured association fields read beside it, and
//! [`crate::Connector::associations`] reads them for any ids (the engine's sweep).
//!
//! One read is the v4 batch read `POST …/associations/{from}/{to}/batch/read` with at most
//! 1,000 ids ([`READ_BATCH`]); a record with more than 500 associated records comes back
//! with a cursor and is read on with another call. Ids with nothing associated are not
//! results but errors (`OBJECT_NOT_FOUND` / `NO_ASSOCIATIONS_FOUND`, in a 207): that means
//! "none". Any other error fails the read with its class. `toObjectId` arrives as a JSON
//! number (see [`super::wire::associations`]).
//!
//! Values: `@company` is the id of the record linked with the primary type (1 contact →
//! company, 5 deal → company), or `null`; a company linked without the primary label does
//! not count. `@contacts` is an array of every linked id, in numeric order.
//!
//! Cost: one call per 1,000 records per association (plus one per further 500 links of a
//! record that has more). A pull page of 200 contacts with `@company` costs one search and
//! one association read; an empty page costs no read. A scan page gathers ten list pages
//! ([`gathered_rows`]) before its read, so a backfill's scan costs one read per 1,000
//! records and association, not one per list page of 100. Archived records (the sweep) carry
//! no association fields: archiving removes a record's associations.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::Value;

use super::HubSpotConnector;
use super::calls::{api_of_standard, class_of_category};
use super::limits::CallKind;
use super::objects::{Association, Cardinality, Configured, Spec, unknown_association};
use super::records::id_number;
use super::wire::BatchInputs;
use super::wire::StandardError;
use super::wire::associations::{AssociationBatch, ReadInput, ReadResult};
use crate::contract::{Associated, Record};
use crate::error::Error;
use crate::http::Call;

/// Most ids per batch read (HubSpot's limit since 2025-02-10).
pub const READ_BATCH: usize = 1_000;

/// How many rows a page of `object` gathers, reading API pages of `page` rows, before its
/// association fields are read: a whole batch read's worth ([`READ_BATCH`]) when it has
/// any, so a scan costs one read per 1,000 records rather than per list page of 100;
/// one API page when it has none, as there is nothing to save.
pub fn gathered_rows(object: &Configured, page: usize) -> usize {
    if object.associations.is_empty() {
        page
    } else {
        READ_BATCH.max(page)
    }
}

/// One record linked to another through an association, with every type between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    /// The linked record's id.
    pub to: String,
    /// The association type ids (a primary company: 1 and 279).
    pub types: Vec<u32>,
}

/// The links of each record read, by record id; a record with none is absent.
pub type Links = HashMap<String, Vec<Linked>>;

/// The record linked with the primary type `primary`, if any.
pub fn primary_of(links: &[Linked], primary: u32) -> Option<&str> {
    links
        .iter()
        .filter(|l| l.types.contains(&primary))
        .min_by_key(|l| (id_number(&l.to), l.to.clone()))
        .map(|l| l.to.as_str())
}

/// Every linked id, in numeric order, once each.
pub fn set_of(links: &[Linked]) -> Vec<String> {
    let mut ids: Vec<String> = links.iter().map(|l| l.to.clone()).collect();
    ids.sort_by_key(|id| (id_number(id), id.clone()));
    ids.dedup();
    ids
}

/// The field value of `association` for a record with these links.
pub fn field_value(association: &Association, links: &[Linked]) -> Value {
    match association.cardinality {
        Cardinality::Primary { primary, .. } => primary_of(links, primary)
            .map(|id| Value::String(id.to_string()))
            .unwrap_or(Value::Null),
        Cardinality::Set { .. } => {
            Value::Array(set_of(links).into_iter().map(Value::String).collect())
        }
    }
}

/// Whether a batch read's error says "nothing associated" rather than a failure.
fn means_none(error: &StandardError) -> bool {
    let sub = error
        .sub_category
        .as_ref()
        .is_some_and(|s| s.to_string().contains("NO_ASSOCIATIONS_FOUND"));
    sub || error.category == "OBJECT_NOT_FOUND"
}

/// The ids once each, in their first order.
fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

impl HubSpotConnector {
    /// The links of `ids` of `from` through `association`, 1,000 ids per call.
    pub(super) async fn read_links(
        &self,
        from: &Spec,
        association: &Association,
        ids: &[String],
    ) -> Result<Links, Error> {
        let mut links = Links::new();
        let path = self
            .paths
            .association_batch(from.path, association.to, "read");
        for chunk in distinct(ids).chunks(READ_BATCH) {
            let mut inputs: Vec<ReadInput> = chunk
                .iter()
                .map(|id| ReadInput {
                    id: id.clone(),
                    after: None,
                })
                .collect();
            // A record with more links than one answer holds is read on from its cursor.
            while !inputs.is_empty() {
                let action = format!(
                    "HubSpot read of {} of {} {}",
                    association.field,
                    inputs.len(),
                    from.object
                );
                let call = Call::json(
                    CallKind::Standard,
                    Method::POST,
                    path.clone(),
                    &BatchInputs { inputs },
                    &action,
                )?;
                let answer: Option<AssociationBatch<ReadResult>> = self.pipeline.send(call).await?;
                let answer = answer.unwrap_or_default();
                if let Some(error) = answer.errors.iter().find(|e| !means_none(e)) {
                    return Err(Error::new(
                        class_of_category(&error.category),
                        action,
                        api_of_standard(error),
                    ));
                }
                inputs = Vec::new();
                for result in answer.results {
                    let id = result.from.id;
                    if let Some(next) = result.paging.and_then(|p| p.next) {
                        inputs.push(ReadInput {
                            id: id.clone(),
                            after: Some(next.after),
                        });
                    }
                    links
                        .entry(id)
                        .or_default()
                        .extend(result.to.into_iter().map(|t| Linked {
                            to: t.to_object_id,
                            types: t.association_types.iter().map(|a| a.type_id).collect(),
                        }));
                }
            }
        }
        Ok(links)
    }

    /// Adds every configured association field to the live records of a page.
    pub(super) async fn attach(
        &self,
        object: &Configured,
        records: &mut [Record],
    ) -> Result<(), Error> {
        let ids: Vec<String> = records
            .iter()
            .filter(|r| !r.deleted)
            .map(|r| r.id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        for association in &object.associations {
            let links = self.read_links(object.spec, association, &ids).await?;
            for record in records.iter_mut().filter(|r| !r.deleted) {
                let linked = links.get(&record.id).map(Vec::as_slice).unwrap_or_default();
                record.fields.insert(
                    association.field.to_string(),
                    field_value(association, linked),
                );
            }
        }
        Ok(())
    }

    /// [`crate::Connector::associations`]: the fields `fields` of every id, in input order
    /// (each id once), without reading the records.
    pub(super) async fn associated(
        &self,
        object: &Configured,
        ids: &[String],
        fields: &[String],
    ) -> Result<Vec<Associated>, Error> {
        let ids = distinct(ids);
        let mut out: Vec<Associated> = ids
            .iter()
            .map(|id| Associated {
                id: id.clone(),
                fields: Default::default(),
            })
            .collect();
        for field in distinct(fields) {
            let association = object
                .spec
                .association(&field)
                .ok_or_else(|| unknown_association(object.spec, &field))?;
            if ids.is_empty() {
                continue;
            }
            let links = self.read_links(object.spec, association, &ids).await?;
            for entry in &mut out {
                let linked = links.get(&entry.id).map(Vec::as_slice).unwrap_or_default();
                entry
                    .fields
                    .insert(field.clone(), field_value(association, linked));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hubspot::objects::SUPPORTED;

    fn linked(to: &str, types: &[u32]) -> Linked {
        Linked {
            to: to.into(),
            types: types.to_vec(),
        }
    }

    #[test]
    fn the_primary_company_is_the_one_with_the_primary_type_and_sets_are_ordered() {
        let contact = &SUPPORTED[0];
        let company = contact.association("@company").map(|a| a.cardinality);
        assert_eq!(
            company,
            Some(Cardinality::Primary {
                primary: 1,
                unlabeled: 279
            })
        );
        let links = [linked("20", &[279]), linked("10", &[1, 279])];
        let Some(association) = contact.association("@company") else {
            panic!("contacts have @company");
        };
        assert_eq!(field_value(association, &links), Value::String("10".into()));
        assert_eq!(
            field_value(association, &[linked("20", &[279])]),
            Value::Null
        );
        assert_eq!(field_value(association, &[]), Value::Null);
        let Some(contacts) = SUPPORTED[2].association("@contacts") else {
            panic!("deals have @contacts");
        };
        let links = [
            linked("1200", &[3]),
            linked("999", &[3]),
            linked("1200", &[3]),
        ];
        assert_eq!(
            field_value(contacts, &links),
            serde_json::json!(["999", "1200"])
        );
    }

    #[test]
    fn no_associations_found_means_none() {
        let none = StandardError {
            category: "OBJECT_NOT_FOUND".into(),
            sub_category: Some(Value::String(
                "crm.associations.NO_ASSOCIATIONS_FOUND".into(),
            )),
            ..StandardError::default()
        };
        assert!(means_none(&none));
        let other = StandardError {
            category: "INTERNAL_ERROR".into(),
            ..StandardError::default()
        };
        assert!(!means_none(&other));
    }
}
