//! A real store holding snapshots and links, for identity's tests.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use serde_json::{Value, json};
use truce_connectors::{ObjectType, System};
use truce_state::{Link, LinkId, NewLink, OutboxItem, RecordMeta, SnapshotUpdate, Store};

use super::Identity;
use super::companies::{CONTACT_ACCOUNT, PRIMARY_COMPANY};
use crate::engine::pair::Pair;
use crate::engine::record::Touched;
use crate::engine::settings::Settings;
use crate::engine::stored;

/// A state file in a temporary directory.
pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) store: Store,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("truce.db")).unwrap();
        Fixture { _dir: dir, store }
    }

    /// Stores a snapshot named `"{object} {id}"`.
    pub(crate) fn snapshot(
        &mut self,
        object: ObjectType,
        id: &str,
        key: Option<&str>,
        fields: Value,
    ) {
        let update = SnapshotUpdate {
            object: object.as_str().into(),
            record_id: id.into(),
            match_key: key.map(String::from),
            modified_at: 1,
            deleted: false,
            fields: serde_json::from_value(fields).unwrap(),
            meta: RecordMeta {
                name: Some(format!("{object} {id}")),
                ..RecordMeta::default()
            },
        };
        let pair = Pair::of(object).as_str();
        let system = stored::system_name(object.system());
        self.store
            .transaction(|tx| tx.upsert_snapshot(pair, system, &update, 1))
            .unwrap();
    }

    pub(crate) fn company(&mut self, id: &str, domain: Option<&str>) {
        self.snapshot(ObjectType::HubSpotCompany, id, domain, json!({}));
    }

    pub(crate) fn account(&mut self, id: &str, domain: Option<&str>) {
        self.snapshot(ObjectType::SalesforceAccount, id, domain, json!({}));
    }

    /// A linked person: HubSpot contact `h` (with `company`), Salesforce `object` `s`
    /// (with `account`).
    pub(crate) fn person(
        &mut self,
        h: &str,
        company: Option<&str>,
        object: ObjectType,
        s: &str,
        account: Option<&str>,
    ) -> LinkId {
        let email = format!("{h}@example.com");
        let contact = json!({ PRIMARY_COMPANY: company });
        self.snapshot(ObjectType::HubSpotContact, h, Some(&email), contact);
        self.snapshot(object, s, Some(&email), json!({ CONTACT_ACCOUNT: account }));
        self.store
            .transaction(|tx| {
                tx.create_link(
                    &NewLink {
                        pair: Pair::Contacts.as_str().into(),
                        email,
                        name: None,
                        hubspot_id: Some(h.into()),
                        salesforce_object: Some(object.as_str().into()),
                        salesforce_id: Some(s.into()),
                    },
                    1,
                )
            })
            .unwrap()
    }

    /// Runs identity over `touched` records, and over the people `recheck`.
    pub(crate) fn resolve(
        &mut self,
        settings: &Settings,
        touched: &[(ObjectType, &str)],
        recheck: &[LinkId],
    ) -> Identity {
        let touched: Vec<Touched> = touched
            .iter()
            .map(|(object, id)| Touched {
                pair: Pair::of(*object),
                system: object.system(),
                object: *object,
                id: id.to_string(),
            })
            .collect();
        let recheck: BTreeSet<LinkId> = recheck.iter().copied().collect();
        self.store
            .transaction(|tx| super::resolve(tx, &touched, settings, 5, &recheck))
            .unwrap()
    }

    /// The active link of `pair` holding HubSpot record `hubspot`.
    pub(crate) fn link_of(&self, pair: Pair, hubspot: &str) -> Option<Link> {
        self.store
            .reader()
            .link_by_hubspot_id(pair.as_str(), hubspot)
            .unwrap()
    }

    /// The writes queued for `system`.
    pub(crate) fn creates(&self, system: System) -> Vec<OutboxItem> {
        self.store
            .reader()
            .due(stored::system_name(system), 10, 100)
            .unwrap()
    }
}
