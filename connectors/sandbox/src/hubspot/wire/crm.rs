//! The pipelines and owners APIs' JSON, as the sandbox writes it.
//!
//! Stage metadata values are strings (`"probability": "0.2"`), as HubSpot sends them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Paging;

/// A pipeline stage (`PipelineStage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStage {
    /// The stage id, what `dealstage` holds.
    pub id: String,
    /// The label shown in HubSpot.
    pub label: String,
    /// Order in the pipeline.
    pub display_order: i32,
    /// `probability` and `isClosed`, as strings.
    pub metadata: BTreeMap<String, String>,
    /// Creation time (epoch 0 for the default pipeline's stages).
    pub created_at: String,
    /// Last update.
    pub updated_at: String,
    /// Archived stage.
    pub archived: bool,
    /// `CRM_PERMISSIONS_ENFORCEMENT`, `READ_ONLY` or `INTERNAL_ONLY`.
    pub write_permissions: String,
}

/// A pipeline (`Pipeline`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    /// The pipeline id, what `pipeline` holds (`default`).
    pub id: String,
    /// The label shown in HubSpot.
    pub label: String,
    /// Order among pipelines.
    pub display_order: i32,
    /// Its stages, in display order.
    pub stages: Vec<PipelineStage>,
    /// Creation time.
    pub created_at: String,
    /// Last update.
    pub updated_at: String,
    /// Archived pipeline.
    pub archived: bool,
}

/// `{"results": [...]}` without paging (pipelines, stages).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoPaging<T> {
    /// Everything.
    pub results: Vec<T>,
}

/// A team an owner belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublicTeam {
    /// The team id.
    pub id: String,
    /// The team name.
    pub name: String,
    /// The owner's primary team.
    pub primary: bool,
}

/// An owner (`PublicOwner`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicOwner {
    /// The owner id, what `hubspot_owner_id` holds.
    pub id: String,
    /// The owner's email.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// The HubSpot user id (differs from `id`); absent once deactivated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
    /// The user id, also for deactivated users.
    pub user_id_including_inactive: u64,
    /// `PERSON` or `QUEUE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Teams.
    pub teams: Vec<PublicTeam>,
    /// Creation time.
    pub created_at: String,
    /// Last update.
    pub updated_at: String,
    /// Deactivated user.
    pub archived: bool,
}

/// A page of owners.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OwnerPage {
    /// One page.
    pub results: Vec<PublicOwner>,
    /// Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}
