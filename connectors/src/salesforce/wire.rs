//! Salesforce's JSON, as serde types. Only what truce reads is typed; the rest is ignored.
//!
//! The token response is deliberately not `Debug`: its access token goes straight into a
//! [`crate::Secret`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /services/oauth2/token` success.
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// The org's REST host.
    pub instance_url: String,
}

/// `POST /services/oauth2/token` failure.
#[derive(Debug, Deserialize)]
pub struct OAuthError {
    /// `invalid_grant`, `invalid_client`...
    pub error: String,
    /// Salesforce's description.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// One element of a top-level REST error array.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestError {
    /// Salesforce's message.
    #[serde(default)]
    pub message: String,
    /// `MALFORMED_QUERY`, `INVALID_SESSION_ID`...
    #[serde(default)]
    pub error_code: String,
    /// Fields named.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

/// A query page.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult {
    /// Rows matching the whole query.
    #[serde(default)]
    pub total_size: u64,
    /// True on the last page.
    pub done: bool,
    /// The next page's path when not done.
    #[serde(default)]
    pub next_records_url: Option<String>,
    /// The rows, each with `attributes`.
    pub records: Vec<Map<String, Value>>,
}

/// One per-record error inside a collection result.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordError {
    /// The error code (note: `statusCode` here, `errorCode` at top level).
    #[serde(default)]
    pub status_code: String,
    /// Salesforce's message.
    #[serde(default)]
    pub message: String,
    /// Fields named.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// One record's result in an sObject Collections answer.
#[derive(Debug, Clone, Deserialize)]
pub struct SaveResult {
    /// The record id, on success.
    #[serde(default)]
    pub id: Option<String>,
    /// Accepted.
    pub success: bool,
    /// Why not.
    #[serde(default)]
    pub errors: Vec<RecordError>,
    /// Upserts: whether it created the record.
    #[serde(default)]
    pub created: Option<bool>,
}

/// One `/composite` subrequest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubRequest {
    /// HTTP method.
    pub method: &'static str,
    /// Path from `/services/data/...`, with its query string.
    pub url: String,
    /// Unique name within the request.
    pub reference_id: String,
    /// JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// `/composite` request body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositeRequest {
    /// Roll everything back when one subrequest fails.
    pub all_or_none: bool,
    /// The subrequests.
    pub composite_request: Vec<SubRequest>,
}

/// `/composite` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositeResponse {
    /// One entry per subrequest, in order.
    pub composite_response: Vec<SubResponse>,
}

/// One subrequest's answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubResponse {
    /// Its body (`null` for 204).
    #[serde(default)]
    pub body: Value,
    /// Its HTTP status.
    pub http_status_code: u16,
    /// Its reference id.
    pub reference_id: String,
}

/// `GET /sobjects/{object}/describe`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeSObject {
    /// API name.
    pub name: String,
    /// Label.
    #[serde(default)]
    pub label: String,
    /// Id prefix.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Fields.
    pub fields: Vec<DescribeField>,
}

/// One field of a describe.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeField {
    /// API name.
    pub name: String,
    /// Label.
    #[serde(default)]
    pub label: String,
    /// Salesforce type (`string`, `email`, `picklist`...).
    #[serde(rename = "type")]
    pub ty: String,
    /// Longest value for text types.
    #[serde(default)]
    pub length: u32,
    /// May be null.
    #[serde(default)]
    pub nillable: bool,
    /// Settable on create.
    #[serde(default)]
    pub createable: bool,
    /// Settable on update.
    #[serde(default)]
    pub updateable: bool,
    /// External ID.
    #[serde(default)]
    pub external_id: bool,
    /// Unique.
    #[serde(default)]
    pub unique: bool,
    /// Filled by Salesforce when left out of a create.
    #[serde(default)]
    pub defaulted_on_create: bool,
    /// Only listed values accepted.
    #[serde(default)]
    pub restricted_picklist: bool,
    /// Picklist values.
    #[serde(default)]
    pub picklist_values: Vec<PicklistValue>,
}

/// One picklist value.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PicklistValue {
    /// Stored value.
    pub value: String,
    /// Offered to users.
    #[serde(default)]
    pub active: bool,
}

/// `GET /limits`, the part truce reads.
#[derive(Debug, Clone, Deserialize)]
pub struct LimitsResponse {
    /// The daily API allocation.
    #[serde(rename = "DailyApiRequests")]
    pub daily_api_requests: LimitValue,
}

/// One limit.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct LimitValue {
    /// The allocation.
    #[serde(rename = "Max")]
    pub max: u64,
    /// What is left of it.
    #[serde(rename = "Remaining")]
    pub remaining: u64,
}

/// `POST /composite/sobjects/{object}`: retrieve up to 2,000 records by id.
#[derive(Debug, Serialize)]
pub struct RetrieveRequest<'a> {
    /// The record ids.
    pub ids: &'a [String],
    /// The fields to return.
    pub fields: Vec<&'a str>,
}
