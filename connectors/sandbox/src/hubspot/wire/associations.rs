//! The v4 associations API's JSON (and its date versions'), as the sandbox writes and reads
//! it.
//!
//! HubSpot's answers carry record ids on the "to" side (`toObjectId`, and both ids of a
//! `LabelsBetweenObjectPair`) as JSON numbers although its spec and SDKs type them as
//! strings; the sandbox does the same so clients learn to parse both. Ids it reads may be
//! strings or numbers.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{Paging, StandardError};

/// Reads an id given as a string or a number.
fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, found {other}"
        ))),
    }
}

/// `{"id": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublicObjectId {
    /// The record id.
    #[serde(deserialize_with = "id_text")]
    pub id: String,
}

/// An association type as a write names it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpec {
    /// `HUBSPOT_DEFINED`, `USER_DEFINED` or `INTEGRATOR_DEFINED`.
    #[serde(default)]
    pub association_category: String,
    /// The type id (279, 1, 341...).
    #[serde(default)]
    pub association_type_id: i64,
}

/// An association type as a read reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpecWithLabel {
    /// `HUBSPOT_DEFINED`...
    pub category: String,
    /// The type id.
    pub type_id: u32,
    /// `Primary` for primary types; `null` for unlabeled ones.
    pub label: Option<String>,
}

/// One associated record of a v4 read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiAssociatedObjectWithLabel {
    /// The associated record's id, a JSON number.
    pub to_object_id: u64,
    /// Every type between the two (a primary company: the primary type and the unlabeled).
    pub association_types: Vec<AssociationSpecWithLabel>,
}

/// The answer of `GET …/objects/{from}/{id}/associations/{to}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssociationPage {
    /// One page of associated records.
    pub results: Vec<MultiAssociatedObjectWithLabel>,
    /// Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// One input of a batch read: a record id and where to resume its list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FetchInput {
    /// The "from" record id.
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    /// Resume after this cursor (from an earlier result's paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// One result of a batch read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublicAssociationMultiWithLabel {
    /// The "from" record.
    pub from: PublicObjectId,
    /// Its associated records of the "to" type.
    pub to: Vec<MultiAssociatedObjectWithLabel>,
    /// Present when the record has more than one page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// One input of a batch create or `labels/archive`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiPost {
    /// The "from" record.
    pub from: PublicObjectId,
    /// The "to" record.
    pub to: PublicObjectId,
    /// The types to add (or remove).
    #[serde(default)]
    pub types: Vec<AssociationSpec>,
}

/// One input of a batch archive: every "to" record loses every association with "from".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiArchive {
    /// The "from" record.
    pub from: PublicObjectId,
    /// The "to" records.
    #[serde(default)]
    pub to: Vec<PublicObjectId>,
}

/// One input of `batch/associate/default`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DefaultPost {
    /// The "from" record.
    pub from: PublicObjectId,
    /// The "to" record.
    pub to: PublicObjectId,
}

/// The labels between two records after a write (`LabelsBetweenObjectPair`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelsBetweenObjectPair {
    /// The "from" type id (`0-1`).
    pub from_object_type_id: String,
    /// The "from" record id, a JSON number.
    pub from_object_id: u64,
    /// The "to" type id.
    pub to_object_type_id: String,
    /// The "to" record id, a JSON number.
    pub to_object_id: u64,
    /// The labels of labeled types (`Primary`); unlabeled types have none.
    pub labels: Vec<String>,
}

/// One default association made (`PublicDefaultAssociation`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicDefaultAssociation {
    /// The "from" record.
    pub from: PublicObjectId,
    /// The "to" record.
    pub to: PublicObjectId,
    /// The type it got.
    pub association_spec: AssociationSpec,
}

/// `associations` of a record create: the "to" record and the types.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssociationOnCreate {
    /// The record to associate with (its type follows from the type ids).
    pub to: PublicObjectId,
    /// The association types.
    #[serde(default)]
    pub types: Vec<AssociationSpec>,
}

/// `{"inputs": [...]}` of the association batch calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inputs<T> {
    /// The inputs.
    #[serde(default)]
    pub inputs: Vec<T>,
}

/// The answer of an association batch call, generic over its results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationBatchResponse<T> {
    /// `COMPLETE`.
    pub status: String,
    /// The results (empty for `BatchResponseVoid`).
    pub results: Vec<T>,
    /// How many errors, when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_errors: Option<u32>,
    /// Per-input errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<StandardError>,
    /// When processing started.
    pub started_at: String,
    /// When processing ended.
    pub completed_at: String,
    /// Related links.
    #[serde(default)]
    pub links: BTreeMap<String, String>,
}
