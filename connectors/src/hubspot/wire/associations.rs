//! The JSON of the associations API (v4, and the date versions' copy of it) and of deal
//! pipelines, as serde types.
//!
//! HubSpot sends the "to" ids of association answers (`toObjectId`, both ids of a
//! `LabelsBetweenObjectPair`) as JSON numbers although its spec and SDKs type them as
//! strings: every id read here accepts both, and is kept as a string. Ids are sent as
//! strings.

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
            "expected a record id, found {other}"
        ))),
    }
}

/// `{"id": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectId {
    /// The record id.
    #[serde(deserialize_with = "id_text")]
    pub id: String,
}

impl ObjectId {
    /// The id `id`.
    pub fn new(id: impl Into<String>) -> ObjectId {
        ObjectId { id: id.into() }
    }
}

/// An association type as a write names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpec {
    /// `HUBSPOT_DEFINED` for every type truce uses.
    pub association_category: String,
    /// The type id (1, 279, 3...).
    pub association_type_id: u32,
}

impl AssociationSpec {
    /// A HubSpot-defined type.
    pub fn hubspot_defined(type_id: u32) -> AssociationSpec {
        AssociationSpec {
            association_category: "HUBSPOT_DEFINED".into(),
            association_type_id: type_id,
        }
    }
}

/// An association type as a read reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationType {
    /// `HUBSPOT_DEFINED`, `USER_DEFINED`...
    #[serde(default)]
    pub category: String,
    /// The type id.
    #[serde(default)]
    pub type_id: u32,
    /// A label's text (`Primary`); never relied on, HubSpot renames them.
    #[serde(default)]
    pub label: Option<String>,
}

/// One associated record of a read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedObject {
    /// The associated record's id (a JSON number on the wire).
    #[serde(deserialize_with = "id_text")]
    pub to_object_id: String,
    /// Every type between the two records.
    #[serde(default)]
    pub association_types: Vec<AssociationType>,
}

/// One input of a batch read: a record, and where to resume its list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadInput {
    /// The "from" record id.
    pub id: String,
    /// Resume after this cursor (from an earlier answer's paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// One result of a batch read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadResult {
    /// The "from" record.
    pub from: ObjectId,
    /// Its associated records of the "to" type.
    #[serde(default)]
    pub to: Vec<AssociatedObject>,
    /// Present when the record has more than one page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// One input of `batch/create` or `batch/labels/archive`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairInput {
    /// The "from" record.
    pub from: ObjectId,
    /// The "to" record.
    pub to: ObjectId,
    /// The types to add (or remove).
    pub types: Vec<AssociationSpec>,
}

/// One input of `batch/archive`: every "to" record loses every association with "from".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveInput {
    /// The "from" record.
    pub from: ObjectId,
    /// The "to" records.
    pub to: Vec<ObjectId>,
}

/// The labels between two records after a `batch/create` (`LabelsBetweenObjectPair`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelsBetween {
    /// The "from" record id (a JSON number on the wire).
    #[serde(deserialize_with = "id_text")]
    pub from_object_id: String,
    /// The "to" record id (a JSON number on the wire).
    #[serde(deserialize_with = "id_text")]
    pub to_object_id: String,
    /// The labels of labeled types.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// `associations` of a record create: the "to" record and the types.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociationOnCreate {
    /// The record to associate with (its type follows from the type ids).
    pub to: ObjectId,
    /// The association types.
    pub types: Vec<AssociationSpec>,
}

/// The answer of an association batch call, generic over its results: 200, 201 or 207,
/// errors inside (`BatchResponseVoid` has no results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationBatch<T> {
    /// `COMPLETE`.
    #[serde(default)]
    pub status: String,
    /// The results.
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
    /// How many errors, when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_errors: Option<u32>,
    /// Per-input errors (a read's "no associations" among them).
    #[serde(default)]
    pub errors: Vec<StandardError>,
}

impl<T> Default for AssociationBatch<T> {
    fn default() -> Self {
        AssociationBatch {
            status: String::new(),
            results: Vec::new(),
            num_errors: None,
            errors: Vec::new(),
        }
    }
}

/// A pipeline stage (`PipelineStage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStage {
    /// The stage id, what `dealstage` holds.
    pub id: String,
    /// The label shown in HubSpot.
    #[serde(default)]
    pub label: String,
    /// Archived stage.
    #[serde(default)]
    pub archived: bool,
    /// `probability` and `isClosed`, as strings.
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

/// A pipeline (`Pipeline`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    /// The pipeline id, what `pipeline` holds (`default`).
    pub id: String,
    /// The label shown in HubSpot.
    #[serde(default)]
    pub label: String,
    /// Archived pipeline.
    #[serde(default)]
    pub archived: bool,
    /// Its stages, in display order.
    #[serde(default)]
    pub stages: Vec<PipelineStage>,
}

/// `{"results": [...]}` of the pipelines API (no paging).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pipelines {
    /// Every pipeline.
    #[serde(default)]
    pub results: Vec<Pipeline>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_arrive_as_numbers_or_strings_and_are_kept_as_strings() {
        let answer: AssociationBatch<ReadResult> = serde_json::from_str(
            r#"{"status":"COMPLETE","results":[{"from":{"id":"9001"},
                "to":[{"toObjectId":5790939450,"associationTypes":[
                  {"category":"HUBSPOT_DEFINED","typeId":1,"label":"Primary"},
                  {"category":"HUBSPOT_DEFINED","typeId":279,"label":null}]},
                  {"toObjectId":"17","associationTypes":[]}]}],
                "errors":[{"status":"error","category":"OBJECT_NOT_FOUND",
                  "subCategory":"crm.associations.NO_ASSOCIATIONS_FOUND",
                  "message":"No company is associated with deal 515690208449.",
                  "context":{"fromObjectId":["515690208449"]}}]}"#,
        )
        .unwrap();
        let to = &answer.results[0].to;
        assert_eq!(to[0].to_object_id, "5790939450");
        assert_eq!(to[0].association_types[0].type_id, 1);
        assert_eq!(to[1].to_object_id, "17");
        assert_eq!(
            answer.errors[0].context["fromObjectId"],
            vec!["515690208449"]
        );
        let void: Option<AssociationBatch<LabelsBetween>> = serde_json::from_str("null").unwrap();
        assert!(void.is_none());
    }
}
