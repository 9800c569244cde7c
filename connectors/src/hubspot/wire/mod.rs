//! The JSON HubSpot sends and accepts, as serde types.
//!
//! The HubSpot sandbox (`truce-sandbox`) keeps its own copy on purpose, so a mistake here
//! cannot hide behind a fake that makes the same one; HubSpot's own SDK checks that copy
//! (`tests/compat/`).
//!
//! Compatibility: HubSpot says to treat every field as optional, so everything the client
//! reads is `#[serde(default)]`; ids and `after` tokens are always strings; property values
//! are strings or `null`. Association answers carry some ids as JSON numbers
//! ([`associations`]).
//!
//! Files: this one holds records, search, batch, errors, properties and OAuth;
//! [`associations`] the v4 (and date-versioned) association bodies and deal pipelines.

pub mod associations;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Property values by name; `None` is a property that is unset (`null` on the wire).
pub type Properties = BTreeMap<String, Option<String>>;

/// A record as HubSpot returns it (`SimplePublicObject`, and the upsert variant with `new`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimplePublicObject {
    /// The record id (a numeric string).
    pub id: String,
    /// The requested properties.
    #[serde(default)]
    pub properties: Properties,
    /// Creation time, RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last modification time, RFC 3339 (mirrors `lastmodifieddate`).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// True for archived (deleted) records.
    #[serde(default)]
    pub archived: bool,
    /// When the record was archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
    /// Echo of the input's trace id on batch writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
    /// Upsert only: true when the upsert created the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<bool>,
}

/// `paging.next` of a collection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Paging {
    /// The next page, absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextPage>,
}

/// Where the next page starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NextPage {
    /// Opaque token (list) or stringified offset (search).
    pub after: String,
    /// A ready-made link to the next page (list only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// The answer of the list endpoint (`GET …/objects/{type}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CollectionResponse {
    /// One page of records.
    #[serde(default)]
    pub results: Vec<SimplePublicObject>,
    /// Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// The answer of the search endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// How many records match the whole query.
    #[serde(default)]
    pub total: u64,
    /// One page of records.
    #[serde(default)]
    pub results: Vec<SimplePublicObject>,
    /// Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// A search request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// ORed groups of ANDed filters.
    #[serde(default)]
    pub filter_groups: Vec<FilterGroup>,
    /// Sort rules, first one first.
    #[serde(default)]
    pub sorts: Vec<SortSpec>,
    /// Properties to return (replaces the default set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
    /// Page size, at most 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Offset to start at (a stringified integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Free text over the default searchable properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// ANDed filters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterGroup {
    /// The filters, all of which must match.
    #[serde(default)]
    pub filters: Vec<Filter>,
}

/// One search filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// The property compared.
    pub property_name: String,
    /// `EQ`, `GTE`, `BETWEEN`, `HAS_PROPERTY`...
    pub operator: String,
    /// The value compared with (a string on the wire; numbers are tolerated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Upper bound of `BETWEEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_value: Option<Value>,
    /// Values of `IN` / `NOT_IN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

impl Filter {
    /// A filter with one value.
    pub fn new(property: &str, operator: &str, value: impl Into<String>) -> Filter {
        Filter {
            property_name: property.to_string(),
            operator: operator.to_string(),
            value: Some(Value::String(value.into())),
            high_value: None,
            values: None,
        }
    }
}

/// A sort rule: the documented object form, or the `"-prop"` string form the SDKs type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortSpec {
    /// `{"propertyName": "...", "direction": "ASCENDING"}`.
    Object(Sort),
    /// `"prop"` (ascending) or `"-prop"` (descending).
    Text(String),
}

impl SortSpec {
    /// An ascending sort on `property`.
    pub fn ascending(property: &str) -> SortSpec {
        SortSpec::Object(Sort {
            property_name: property.to_string(),
            direction: Some("ASCENDING".to_string()),
        })
    }

    /// The property and whether the order is descending.
    pub fn key(&self) -> (&str, bool) {
        match self {
            SortSpec::Object(sort) => (
                sort.property_name.as_str(),
                sort.direction.as_deref() == Some("DESCENDING"),
            ),
            SortSpec::Text(text) => match text.strip_prefix('-') {
                Some(name) => (name, true),
                None => (text.as_str(), false),
            },
        }
    }
}

/// The object form of a sort rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    /// The property sorted on.
    pub property_name: String,
    /// `ASCENDING` (default) or `DESCENDING`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
}

/// `{"id": "..."}`, as batch read and archive take them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdInput {
    /// A record id, or a unique property value when `idProperty` is given.
    pub id: String,
}

/// The body of `batch/read`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReadRequest {
    /// The ids (or emails) to read.
    pub inputs: Vec<IdInput>,
    /// `email` to read by email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_property: Option<String>,
    /// Properties to return.
    #[serde(default)]
    pub properties: Vec<String>,
    /// Properties to return with their history.
    #[serde(default)]
    pub properties_with_history: Vec<String>,
}

/// One input of `batch/create`, `batch/update` or `batch/upsert`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchWriteInput {
    /// The record id (update) or unique value (upsert); absent on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The unique property `id` is a value of (`email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_property: Option<String>,
    /// The values to set; `""` clears.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Our key for this input, echoed in results and errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
    /// Associations to make with the record (`batch/create` only; upsert has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<associations::AssociationOnCreate>,
}

/// `{"inputs": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchInputs<T> {
    /// The inputs, at most 100.
    pub inputs: Vec<T>,
}

/// The answer of a batch call (200, 201 or 207).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// `COMPLETE` once done.
    #[serde(default)]
    pub status: String,
    /// The records read or written.
    #[serde(default)]
    pub results: Vec<SimplePublicObject>,
    /// How many errors (207 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_errors: Option<u32>,
    /// Per-input errors (207 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<StandardError>,
    /// When the request arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
    /// When processing started.
    #[serde(default)]
    pub started_at: String,
    /// When processing ended.
    #[serde(default)]
    pub completed_at: String,
    /// Related links.
    #[serde(default)]
    pub links: BTreeMap<String, String>,
}

/// One error inside a 207 answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StandardError {
    /// Always `"error"`.
    #[serde(default)]
    pub status: String,
    /// `VALIDATION_ERROR`, `OBJECT_NOT_FOUND`, `CONFLICT`...
    #[serde(default)]
    pub category: String,
    /// HubSpot's message.
    #[serde(default)]
    pub message: String,
    /// Which inputs it concerns (`ids`, `objectWriteTraceId`, `propertyName`...).
    #[serde(default)]
    pub context: BTreeMap<String, Vec<String>>,
    /// Details, each with a code.
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
    /// Related links.
    #[serde(default)]
    pub links: BTreeMap<String, String>,
    /// A finer category, when HubSpot gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<Value>,
    /// An id for the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A detail of an error, with a machine-readable code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// HubSpot's message.
    #[serde(default)]
    pub message: String,
    /// `INVALID_EMAIL`, `PROPERTY_DOESNT_EXIST`, `INVALID_OPTION`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Where the fault is (a field name).
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Context such as `propertyName`.
    #[serde(default)]
    pub context: BTreeMap<String, Vec<String>>,
    /// A finer category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<String>,
}

/// The body of a non-2xx answer (400, 401, 404, 409, 429...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Always `"error"`.
    #[serde(default)]
    pub status: String,
    /// HubSpot's message.
    #[serde(default)]
    pub message: String,
    /// The request's correlation id.
    #[serde(default)]
    pub correlation_id: String,
    /// `VALIDATION_ERROR`, `CONFLICT`, `INVALID_AUTHENTICATION`... (absent on 429s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// A finer category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<Value>,
    /// Details with codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorDetail>,
    /// Context, such as the expiry time of an expired token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Vec<String>>,
    /// Related links.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
    /// 429 only: `TEN_SECONDLY_ROLLING`, `SECONDLY` or `DAILY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// 429 only: `RATE_LIMIT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// 429 only: the request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The body of a single create or update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectInput {
    /// The values to set.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Associations to make with the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<associations::AssociationOnCreate>,
}

/// The body of `POST …/objects/{type}/merge`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeRequest {
    /// The record whose values win.
    pub primary_object_id: String,
    /// The record merged into it.
    pub object_id_to_merge: String,
}

/// A property definition (`GET …/properties/{type}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    /// Internal name.
    pub name: String,
    /// Label shown in HubSpot.
    #[serde(default)]
    pub label: String,
    /// `string`, `number`, `bool`, `date`, `datetime`, `enumeration`, `phone_number`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// `text`, `select`, `checkbox`, `booleancheckbox`, `date`...
    #[serde(default)]
    pub field_type: String,
    /// The group it is shown in.
    #[serde(default)]
    pub group_name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Options of an enumeration.
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    /// Hidden from HubSpot's UI.
    #[serde(default)]
    pub hidden: bool,
    /// Values are unique across records.
    #[serde(default)]
    pub has_unique_value: bool,
    /// Defined by HubSpot rather than the portal.
    #[serde(default)]
    pub hubspot_defined: bool,
    /// Computed by HubSpot.
    #[serde(default)]
    pub calculated: bool,
    /// Options live elsewhere (owners, pipelines).
    #[serde(default)]
    pub external_options: bool,
    /// May be used on forms.
    #[serde(default)]
    pub form_field: bool,
    /// Order in the UI.
    #[serde(default)]
    pub display_order: i32,
    /// What may be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modification_metadata: Option<ModificationMetadata>,
    /// Archived property.
    #[serde(default)]
    pub archived: bool,
}

/// One option of an enumeration property.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    /// Label shown in HubSpot.
    pub label: String,
    /// Internal value, the one the API takes.
    pub value: String,
    /// Order in the UI.
    #[serde(default)]
    pub display_order: i32,
    /// Hidden from the UI.
    #[serde(default)]
    pub hidden: bool,
}

/// What may be changed about a property.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModificationMetadata {
    /// The property may be archived.
    #[serde(default)]
    pub archivable: bool,
    /// Its definition is read-only.
    #[serde(default)]
    pub read_only_definition: bool,
    /// Its values are read-only: writes are rejected.
    #[serde(default)]
    pub read_only_value: bool,
}

/// `{"results": [...]}` of the properties API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PropertiesResponse {
    /// Every property definition.
    #[serde(default)]
    pub results: Vec<Property>,
}

/// The answer of the OAuth token endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The new access token.
    pub access_token: String,
    /// The refresh token to use next time (may be the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Lifetime of the access token in seconds.
    #[serde(default)]
    pub expires_in: u64,
    /// `bearer`.
    #[serde(default)]
    pub token_type: String,
}

/// An OAuth error (RFC 6749 fields plus HubSpot's legacy ones).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OAuthError {
    /// `invalid_grant`, `invalid_client`...
    #[serde(default)]
    pub error: String,
    /// Human-readable description.
    #[serde(default)]
    pub error_description: String,
    /// HubSpot's legacy status (`BAD_REFRESH_TOKEN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// HubSpot's legacy message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
