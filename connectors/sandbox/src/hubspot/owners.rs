//! The portal's owners: the users records are assigned to through `hubspot_owner_id`.
//!
//! Owners cannot be created through HubSpot's API; the sandbox starts with a few and a
//! test adds more through the control API. An owner's `id` (what `hubspot_owner_id` holds)
//! differs from its `userId`, as in HubSpot, so a client mixing them up is caught.
//! Deactivated (archived) owners are listed only with `archived=true`, and writes naming
//! one are refused like writes naming an owner that does not exist.

use super::schema::iso;
use super::wire::crm::{PublicOwner, PublicTeam};

/// An owner.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxOwner {
    /// The owner id (what `hubspot_owner_id` holds).
    pub id: String,
    /// The HubSpot user id.
    pub user_id: u64,
    /// The user's email (what a Salesforce user is matched by).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// The user's primary team, if any.
    pub team: Option<String>,
    /// A deactivated user.
    pub archived: bool,
}

impl SandboxOwner {
    fn seeded(n: u64, first: &str, last: &str, team: Option<&str>, archived: bool) -> Self {
        SandboxOwner {
            id: (71_230_000 + n).to_string(),
            user_id: 9_810_000 + n,
            email: format!(
                "{}.{}@sandbox.example",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            first_name: first.to_string(),
            last_name: last.to_string(),
            team: team.map(String::from),
            archived,
        }
    }

    /// The owner as the owners API shows it.
    pub fn wire(&self) -> PublicOwner {
        // Owners are as old as the portal: a fixed time keeps answers deterministic.
        let at = iso(1_704_067_200_000); // 2024-01-01T00:00:00Z
        PublicOwner {
            id: self.id.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            user_id: (!self.archived).then_some(self.user_id),
            user_id_including_inactive: self.user_id,
            kind: "PERSON".to_string(),
            teams: self
                .team
                .iter()
                .map(|name| PublicTeam {
                    // A stable id derived from the name: teams are not modelled further.
                    id: (40_000 + name.bytes().map(u64::from).sum::<u64>()).to_string(),
                    name: name.clone(),
                    primary: true,
                })
                .collect(),
            created_at: at.clone(),
            updated_at: at,
            archived: self.archived,
        }
    }
}

/// Every owner of the portal, in id order of creation.
#[derive(Debug, Clone)]
pub struct Owners {
    list: Vec<SandboxOwner>,
}

impl Default for Owners {
    fn default() -> Self {
        Owners {
            list: vec![
                SandboxOwner::seeded(1, "Avery", "Stone", Some("Sales"), false),
                SandboxOwner::seeded(2, "Jordan", "Reyes", Some("Sales"), false),
                SandboxOwner::seeded(3, "Sam", "Okafor", Some("Customer Success"), false),
                SandboxOwner::seeded(4, "Riley", "Moss", None, true),
            ],
        }
    }
}

impl Owners {
    /// Every owner, active and deactivated.
    pub fn all(&self) -> &[SandboxOwner] {
        &self.list
    }

    /// An active owner by owner id.
    pub fn active(&self, id: &str) -> Option<&SandboxOwner> {
        self.list.iter().find(|o| o.id == id && !o.archived)
    }

    /// Adds an owner; `Err` when its id or user id is taken.
    pub fn add(&mut self, owner: SandboxOwner) -> Result<(), String> {
        if self
            .list
            .iter()
            .any(|o| o.id == owner.id || o.user_id == owner.user_id)
        {
            return Err(format!(
                "owner {} or user {} exists",
                owner.id, owner.user_id
            ));
        }
        self.list.push(owner);
        Ok(())
    }
}
