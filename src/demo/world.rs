//! The demo's world is truce-sandbox's [`World::demo`]: both sandboxes served on free
//! loopback ports, seeded with a small company (500 HubSpot contacts, 300 Leads and 100
//! Contacts, 150 people in both, five of them disagreeing, one email Salesforce refuses;
//! see [`truce_sandbox::world::people`]), and a real config file with its state file beside
//! it. This module names what the rest of the demo uses from it.
//!
//! The directory is not removed on exit: the state file stays, so `truce status`,
//! `truce conflicts` and `truce history` can inspect the run afterwards.

pub use truce_sandbox::world::people::{CITIES, REFUSED_EMAIL, TITLES, phone};
pub use truce_sandbox::world::{Seeded, World};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use truce_sandbox::world::people::{
        CONFLICTS, HUBSPOT_CONTACTS, SALESFORCE_CONTACTS, SALESFORCE_LEADS, SHARED,
    };

    #[tokio::test]
    async fn one_seed_is_one_world_with_its_shared_people_conflicts_and_refused_email() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = World::demo(a.path(), 5).await.unwrap();
        let again = World::demo(b.path(), 5).await.unwrap();
        assert_eq!(first.seeded.shared, again.seeded.shared);
        assert_eq!(
            (
                first.seeded.hubspot,
                first.seeded.leads,
                first.seeded.contacts
            ),
            (HUBSPOT_CONTACTS, SALESFORCE_LEADS, SALESFORCE_CONTACTS)
        );
        assert_eq!(first.seeded.shared.len(), SHARED);
        assert_eq!(first.seeded.conflicting.len(), CONFLICTS.len());
        assert!(first.hubspot.find_by_email(REFUSED_EMAIL).is_some());
        for email in &first.seeded.shared {
            assert_eq!(first.salesforce.find_by_email(email).len(), 1, "{email}");
        }
        // The config it wrote loads with the real loader.
        let loaded = crate::config::load(&first.config_path).unwrap();
        assert_eq!(loaded.config.state.path, first.state_path);
    }
}
