//! Identity: which HubSpot record is which Salesforce record, within each pair.
//!
//! [`resolve`] looks at every touched record and keeps the links right. What is the same
//! for every pair lives here:
//!
//! - **Deletes** follow `sync.deletes`: unlink (default) or propagate.
//! - **Merges**: a HubSpot merge hands the link to the surviving record; a Salesforce merge
//!   to the master record. Two links meeting in one record are a duplicate to report, not
//!   to guess.
//! - **Duplicates** are reported (`truce status`, WARN `truce::duplicate`), never guessed.
//!
//! How records are matched and when one is created on the other side is the pair's own
//! rule: [`people`] for the `contacts` pair (by email, with the qualification gate and lead
//! conversion).
//!
//! Everything happens inside the caller's transaction; the links to merge come back.

pub mod companies;
pub mod deals;
#[cfg(test)]
mod fixture;
pub mod people;

use std::collections::{BTreeMap, BTreeSet};

use truce_connectors::{ObjectType, System, UpsertKey};
use truce_state::{Link, LinkId, NewLink, OutboxWrite, Snapshot, Tx, WriteOp};

use super::EngineError;
use super::events;
use super::pair::{DeletePolicy, Identity as Rule, Pair, PairSpec};
use super::reconcile::json_of;
use super::record::Touched;
use super::settings::Settings;
use super::stored;

/// What identity resolution did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Links to merge now.
    pub dirty: BTreeSet<LinkId>,
    /// Links created.
    pub linked: usize,
    /// Creates queued (either side).
    pub creates: usize,
    /// Links dissolved by deletes.
    pub unlinked: usize,
    /// Duplicates reported.
    pub duplicates: usize,
    /// Records whose snapshots are needed (a converted lead's Contact).
    pub fetch: Vec<(ObjectType, String)>,
}

/// Resolves identity for every touched record, then matches companies through the people
/// whose links it touched and the people in `recheck` (whose companies were just fetched),
/// and creates the companies the synced deals among them (or in `recheck`) refer to.
pub fn resolve(
    tx: &mut Tx<'_>,
    touched: &[Touched],
    settings: &Settings,
    now: i64,
    recheck: &BTreeSet<LinkId>,
) -> Result<Identity, EngineError> {
    let mut out = Identity::default();
    for record in touched {
        let Some(spec) = settings.pair(record.pair) else {
            continue;
        };
        let pair = spec.pair.as_str();
        let system = stored::system_name(record.system);
        let Some(snapshot) = tx.reader().snapshot(pair, system, &record.id)? else {
            continue;
        };
        let mut step = Step {
            tx: &mut *tx,
            spec,
            settings,
            now,
            out: &mut out,
        };
        step.one(record.system, &snapshot)?;
    }
    companies::from_people(tx, settings, now, &mut out, recheck)?;
    companies::from_deals(tx, settings, now, &mut out, touched, recheck)?;
    Ok(out)
}

/// A create on the other side: what to create, keyed how, on which link.
pub(crate) struct Create<'a> {
    /// The object created.
    pub(crate) target: ObjectType,
    /// The unique key that makes it idempotent, when the other side has one.
    pub(crate) upsert: Option<UpsertKey>,
    /// The link it completes; `None` makes a new one.
    pub(crate) link: Option<LinkId>,
    /// The person's email, for a new link of people.
    pub(crate) email: Option<&'a str>,
}

/// One record's resolution: the transaction, the pair's rules and the running tally.
pub(crate) struct Step<'t, 'a> {
    pub(crate) tx: &'t mut Tx<'a>,
    pub(crate) spec: &'t PairSpec,
    pub(crate) settings: &'t Settings,
    pub(crate) now: i64,
    pub(crate) out: &'t mut Identity,
}

impl Step<'_, '_> {
    fn one(&mut self, system: System, snap: &Snapshot) -> Result<(), EngineError> {
        let linked = self.link_of(system, &snap.record_id)?;
        if snap.deleted {
            if let Some(link) = linked {
                match (&snap.meta.merged_into, system) {
                    (Some(master), System::Salesforce) => {
                        let object = stored::object(&snap.object)?;
                        self.move_salesforce(&link, object, master)?;
                    }
                    _ => self.deleted(&link, system)?,
                }
            }
            return Ok(());
        }
        if system == System::HubSpot {
            self.take_over_merged(snap, linked.as_ref())?;
        }
        match &self.spec.identity {
            Rule::Email(people) => people::resolve(self, people, system, snap),
            Rule::Company(companies) => companies::resolve(self, companies, system, snap),
            Rule::Deal(deals) => deals::resolve(self, deals, system, snap),
        }
    }

    /// Creates the record `snap` stands for on the other side: the link (unless `link`
    /// names one already) holds `snap` now and the other side once the create is
    /// confirmed. The create carries every mapped value `snap` has, and `upsert` when the
    /// other side has a unique key to make it idempotent.
    pub(crate) fn create_other_side(
        &mut self,
        snap: &Snapshot,
        create: Create<'_>,
    ) -> Result<LinkId, EngineError> {
        let from = stored::system(&snap.system)?;
        let object = stored::object(&snap.object)?;
        let link = match create.link {
            Some(link) => link,
            None => {
                let (hubspot_id, salesforce) = match from {
                    System::HubSpot => (Some(snap.record_id.clone()), None),
                    System::Salesforce => (None, Some((object, snap.record_id.clone()))),
                };
                self.tx.create_link(
                    &NewLink {
                        pair: self.spec.pair.as_str().into(),
                        email: create.email.unwrap_or_default().into(),
                        name: snap.meta.name.clone(),
                        hubspot_id,
                        // Object and id arrive together once Salesforce confirms a create.
                        salesforce_object: salesforce.as_ref().map(|(o, _)| o.as_str().into()),
                        salesforce_id: salesforce.map(|(_, id)| id),
                    },
                    self.now,
                )?
            }
        };
        let salesforce_object = match from {
            System::HubSpot => create.target,
            System::Salesforce => object,
        };
        let mut fields = BTreeMap::new();
        let mut base = BTreeMap::new();
        for map in self
            .spec
            .fields_for(salesforce_object)
            .filter(|m| m.reference.is_none())
        {
            // Unmappable values are left out here; the merge quarantines them once linked.
            let (value, wire) = match from {
                System::HubSpot => {
                    let Ok(value) = map.from_hubspot(snap.fields.get(&map.hubspot)) else {
                        continue;
                    };
                    let Ok(wire) = map.to_salesforce(&value) else {
                        continue;
                    };
                    (value, wire)
                }
                System::Salesforce => {
                    let Ok(value) = map.from_salesforce(snap.fields.get(&map.salesforce)) else {
                        continue;
                    };
                    let wire = map.to_hubspot(&value);
                    (value, wire)
                }
            };
            if value.is_some() || (from == System::HubSpot && !wire.is_null()) {
                let name = match from {
                    System::HubSpot => &map.salesforce,
                    System::Salesforce => &map.hubspot,
                };
                fields.insert(name.clone(), wire);
                base.insert(map.salesforce.clone(), json_of(&value));
            }
        }
        if let Some(UpsertKey::Field { field, .. }) = &create.upsert {
            fields.remove(field);
        }
        for (object, field, value) in &self.spec.create_defaults {
            if *object == create.target {
                fields.entry(field.clone()).or_insert_with(|| value.clone());
            }
        }
        let to = match from {
            System::HubSpot => System::Salesforce,
            System::Salesforce => System::HubSpot,
        };
        self.tx.enqueue(
            &OutboxWrite {
                pair: self.spec.pair.as_str().into(),
                link_id: Some(link),
                system: stored::system_name(to).into(),
                object: create.target.as_str().into(),
                op: WriteOp::Create,
                record_id: None,
                fields,
                upsert: create.upsert.as_ref().map(stored::store_upsert),
                base,
            },
            self.now,
        )?;
        self.out.creates += 1;
        Ok(link)
    }

    /// The active link of this pair holding a record of `system`.
    pub(crate) fn link_of(&self, system: System, id: &str) -> Result<Option<Link>, EngineError> {
        Ok(self.tx.reader().link_by_record(
            self.spec.pair.as_str(),
            stored::system_name(system),
            id,
        )?)
    }

    /// Reports records of one side that share a match key.
    pub(crate) fn report_duplicate(
        &mut self,
        system: System,
        key: &str,
        ids: &[String],
    ) -> Result<(), EngineError> {
        let name = stored::system_name(system);
        events::duplicate(self.spec.pair, name, key, ids);
        self.tx
            .report_duplicate(self.spec.pair.as_str(), name, key, ids, self.now)?;
        self.out.duplicates += 1;
        Ok(())
    }

    /// A HubSpot merge: the survivor takes over the links of the ids merged into it.
    fn take_over_merged(
        &mut self,
        snap: &Snapshot,
        survivor_link: Option<&Link>,
    ) -> Result<(), EngineError> {
        let mut survivor = survivor_link.cloned();
        for old in &snap.meta.merged_ids {
            if *old == snap.record_id {
                continue;
            }
            let Some(link) = self.link_of(System::HubSpot, old)? else {
                continue;
            };
            match &survivor {
                None => {
                    tracing::info!(
                        object = self.spec.pair.as_str(),
                        link = link.id.0,
                        merged = %old,
                        survivor = %snap.record_id,
                        "HubSpot merge: the surviving record takes over the link"
                    );
                    self.tx
                        .set_link_hubspot(link.id, &snap.record_id, self.now)?;
                    self.out.dirty.insert(link.id);
                    survivor = self.tx.reader().link(link.id)?;
                }
                Some(kept) if kept.id != link.id => {
                    let ids: Vec<String> = [&kept.salesforce_id, &link.salesforce_id]
                        .into_iter()
                        .flatten()
                        .cloned()
                        .collect();
                    let key = snap.match_key.clone().unwrap_or_else(|| link.email.clone());
                    self.report_duplicate(System::Salesforce, &key, &ids)?;
                    self.tx.unlink(link.id, self.now)?;
                    self.out.unlinked += 1;
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Moves a link to another Salesforce record of the pair (a conversion's Contact, a
    /// merge's master). Field names may differ between the two objects (Lead `City`,
    /// Contact `MailingCity`), so the link starts afresh: its next merge is a first sync.
    pub(crate) fn move_salesforce(
        &mut self,
        link: &Link,
        object: ObjectType,
        id: &str,
    ) -> Result<(), EngineError> {
        match self.link_of(System::Salesforce, id)? {
            Some(other) if other.id != link.id => {
                let ids = vec![
                    link.salesforce_id.clone().unwrap_or_default(),
                    id.to_string(),
                ];
                self.report_duplicate(System::Salesforce, &link.email, &ids)?;
            }
            Some(_) => {}
            None => {
                self.tx
                    .set_link_salesforce(link.id, object.as_str(), id, self.now)?;
                self.tx.clear_base(link.id)?;
                self.out.dirty.insert(link.id);
            }
        }
        Ok(())
    }

    /// A linked record was deleted on one side: unlink, and under `propagate` delete the
    /// other side's record too.
    fn deleted(&mut self, link: &Link, gone: System) -> Result<(), EngineError> {
        if self.settings.deletes == DeletePolicy::Propagate {
            self.propagate_delete(link, gone)?;
        }
        tracing::info!(
            object = self.spec.pair.as_str(),
            link = link.id.0,
            email = %link.email,
            name = link.name.as_deref().unwrap_or(""),
            deleted_in = gone.as_str(),
            policy = self.settings.deletes.as_str(),
            "record deleted on one side: link dissolved"
        );
        self.tx.unlink(link.id, self.now)?;
        self.out.unlinked += 1;
        Ok(())
    }

    fn propagate_delete(&mut self, link: &Link, gone: System) -> Result<(), EngineError> {
        let target = match gone {
            System::HubSpot => match (&link.salesforce_id, stored::salesforce_object(link)?) {
                (Some(id), Some(object)) => Some((System::Salesforce, object, id.clone())),
                _ => None,
            },
            System::Salesforce => link
                .hubspot_id
                .clone()
                .map(|id| (System::HubSpot, self.spec.pair.hubspot_object(), id)),
        };
        let Some((system, object, id)) = target else {
            return Ok(());
        };
        self.tx.enqueue(
            &OutboxWrite {
                pair: self.spec.pair.as_str().into(),
                link_id: Some(link.id),
                system: stored::system_name(system).into(),
                object: object.as_str().into(),
                op: WriteOp::Delete,
                record_id: Some(id),
                fields: Default::default(),
                upsert: None,
                base: Default::default(),
            },
            self.now,
        )?;
        Ok(())
    }
}

/// Touched entries for every unlinked snapshot of a pair in a system, for a full identity
/// pass (the backfill's).
pub fn all_unlinked(
    reader: &truce_state::Reader<'_>,
    pair: Pair,
    system: System,
) -> Result<Vec<Touched>, EngineError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = reader.unlinked_records(
            pair.as_str(),
            stored::system_name(system),
            after.as_deref(),
            10_000,
        )?;
        let Some((_, last)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        for (object, id) in page {
            out.push(Touched {
                pair,
                system,
                object: stored::object(&object)?,
                id,
            });
        }
    }
    Ok(out)
}
