//! The demo's world is truce-sandbox's [`World::demo`]: both sandboxes served on free
//! loopback ports, seeded with a small company (500 HubSpot contacts, 300 Leads and 100
//! Contacts, 150 people in both, five of them disagreeing, one email Salesforce refuses;
//! see [`truce_sandbox::world::people`]), its companies, Accounts and Opportunities (26
//! companies and 24 Accounts, 12 of them tied by a buyer in both systems, and 21
//! Opportunities; see [`truce_sandbox::world::revenue`]), and a real config file syncing
//! contacts, companies and deals, with its state file beside it. This module names what
//! the rest of the demo uses from it.
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
    use truce_sandbox::world::revenue::{DEMO_OPPORTUNITIES, DEMO_SHAPES};

    #[tokio::test]
    async fn one_seed_is_one_world_with_its_shared_people_conflicts_and_refused_email() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = World::demo(a.path(), 5).await.unwrap();
        let again = World::demo(b.path(), 5).await.unwrap();
        assert_eq!(first.seeded.shared, again.seeded.shared);
        // The buyers tying companies together are a contact on each side.
        let buyers = DEMO_SHAPES.by_people;
        assert_eq!(
            (
                first.seeded.hubspot,
                first.seeded.leads,
                first.seeded.contacts
            ),
            (
                HUBSPOT_CONTACTS + buyers,
                SALESFORCE_LEADS,
                SALESFORCE_CONTACTS + buyers
            )
        );
        assert_eq!(
            (
                first.seeded.companies,
                first.seeded.accounts,
                first.seeded.opportunities,
                first.seeded.won
            ),
            (26, 24, DEMO_OPPORTUNITIES, 3)
        );
        assert_eq!(first.seeded.shared.len(), SHARED);
        assert_eq!(first.seeded.conflicting.len(), CONFLICTS.len());
        assert!(first.hubspot.find_by_email(REFUSED_EMAIL).is_some());
        for email in &first.seeded.shared {
            assert_eq!(first.salesforce.find_by_email(email).len(), 1, "{email}");
        }
        // The config it wrote loads with the real loader, and syncs every pair.
        let loaded = crate::config::load(&first.config_path).unwrap();
        assert_eq!(loaded.config.state.path, first.state_path);
        assert_eq!(
            loaded.config.sync.objects,
            [crate::config::Pair::Companies, crate::config::Pair::Deals]
        );
    }
}
