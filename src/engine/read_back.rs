//! Reading back the records truce has just created, within the apply pass that created
//! them.
//!
//! A create carries what the other side holds; the new record may hold more, and until it
//! is read it has no snapshot to merge:
//!
//! - values its system fills itself when a create leaves a field out
//!   ([`Connector::filled_on_create`]: a Lead's `Status`, the picklist's default). When a
//!   mapped field of the object is one, its created records are read back, in the backfill
//!   and in every cycle, and the value reaches the other side in the same run. Left to the
//!   next poll, a backfill of 100,000 people per side ended with 25,000 HubSpot contacts
//!   without their Leads' `Status`: 250 more writes in the daemon's first poll, whose
//!   echoes the polls after it read again through the look-back (README, *Settle*).
//! - associations, for a pair that maps references: in a cycle only, so a converted Lead's
//!   new deal is associated with its company and contact in the cycle that created it. The
//!   backfill reads none back for them: it plans them from what its creates sent (below),
//!   and its first poll reads every record it wrote anyway.
//!
//! A created record whose pair maps references gets a snapshot of what the create sent
//! ([`as_created`]): the create carries no references (they are written once the record
//! exists), so until it is read the record holds exactly those values and references to
//! nothing. The merge of its link, right after its batch, then plans its references in the
//! same pass: a backfill's new deals get their company and contacts without being read.
//!
//! Each system's records are read right after that system's writes of the pass, while the
//! other system may still be sending: they are recorded like pulled records, linked and
//! merged, and the writes that queues for the other system join its pass (its loop takes
//! due writes until none are left) or the next one. A read-back whose identity step asks
//! for more records first (a converted Lead's Contact) is settled after the pass, the way a
//! cycle settles what it pulled.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use truce_connectors::{ObjectType, System, UpsertKey};
use truce_state::{
    LinkState, OutboxId, OutboxItem, Reader, RecordMeta, SnapshotUpdate, Tx, WriteOp,
};

use super::apply::{Applied, Sender};
use super::identity::{self, Identity};
use super::pair::Pair;
use super::plan;
use super::pull::{record_page, reject};
use super::settings::Settings;
use super::{EngineError, MergeSummary, stored};

/// Records read back and recorded at a time (one Salesforce retrieve's worth).
const READ_BACK_PAGE: usize = 2_000;

/// Which created records a pass reads back besides those holding values their system
/// filled: a cycle's reads the records of pairs that map references too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBack {
    /// Only records whose system filled a mapped field (the backfill).
    Filled,
    /// Those, and the records of pairs that map references (a cycle).
    FilledAndReferences,
}

/// What reading back one system's creates did.
#[derive(Debug, Default)]
pub(crate) struct ReadBackDone {
    /// Merging the records read back (their writes are queued).
    pub merged: MergeSummary,
    /// An identity step that asked for records first: settled after the pass.
    pub unsettled: Option<Identity>,
}

impl Sender<'_> {
    /// Sends every due write of this system, then reads back the records it created that
    /// `rule` asks for.
    pub(crate) async fn send_and_read_back(
        &self,
        rule: ReadBack,
    ) -> Result<(Applied, ReadBackDone), EngineError> {
        let applied = self.send_all().await?;
        let done = self.read_back(&applied.created_records, rule).await?;
        Ok((applied, done))
    }

    async fn read_back(
        &self,
        created: &[(ObjectType, String)],
        rule: ReadBack,
    ) -> Result<ReadBackDone, EngineError> {
        let mut by_object: BTreeMap<ObjectType, Vec<String>> = BTreeMap::new();
        for (object, id) in created {
            by_object.entry(*object).or_default().push(id.clone());
        }
        let system = self.connector.system();
        let mut touched = Vec::new();
        for (object, ids) in by_object {
            if !self.worth_reading(object, rule).await {
                continue;
            }
            // A page at a time, so memory stays flat however many were created.
            for page in ids.chunks(READ_BACK_PAGE) {
                let fetched = self.connector.fetch(object, page).await?;
                let now = (self.now)();
                touched.extend(self.store.with(|s| {
                    record_page(s, self.settings, now, system, &fetched.records, |_| {})
                })?);
                self.store
                    .with(|s| reject(s, system, &fetched.rejected, now))?;
            }
        }
        let mut done = ReadBackDone::default();
        if touched.is_empty() {
            return Ok(done);
        }
        let now = (self.now)();
        let none = BTreeSet::new();
        let identity = self.store.with(|s| {
            s.transaction(|tx| identity::resolve(tx, &touched, self.settings, now, &none))
        })?;
        if identity.fetch.is_empty() {
            done.merged = self.store.with(|s| {
                plan::merge_identified(s, self.settings, self.observer, self.now, &identity)
            })?;
        } else {
            done.unsettled = Some(identity);
        }
        Ok(done)
    }

    /// Whether the records of `object` this pass created are read back under `rule`.
    async fn worth_reading(&self, object: ObjectType, rule: ReadBack) -> bool {
        let Some(spec) = self.settings.pair(Pair::of(object)) else {
            return false;
        };
        if rule == ReadBack::FilledAndReferences
            && spec.fields.iter().any(|f| f.reference.is_some())
        {
            return true;
        }
        let system = object.system();
        let filled = match self.connector.filled_on_create(object).await {
            Ok(filled) => filled,
            Err(err) => {
                // Not reading back only delays the values to the next poll, which reads
                // every record created since it last ran.
                tracing::warn!(
                    object = %object,
                    error = %err,
                    "could not learn which fields {} fills on create; the records just created are read on the next poll",
                    system.label()
                );
                return false;
            }
        };
        spec.fields_for(object).any(|f| {
            let name = match system {
                System::HubSpot => &f.hubspot,
                System::Salesforce => &f.salesforce,
            };
            filled.contains(name)
        })
    }
}

/// The updates among `items` whose record is as truce created it (never read since) and
/// holds none of the associations they set: the connector need not read those first.
pub(crate) fn without_associations(
    reader: &Reader<'_>,
    settings: &Settings,
    items: &[OutboxItem],
) -> Result<BTreeSet<OutboxId>, EngineError> {
    let mut bare = BTreeSet::new();
    for item in items {
        let write = &item.write;
        let (WriteOp::Update, Some(id)) = (&write.op, &write.record_id) else {
            continue;
        };
        let Some(spec) = settings.pair(stored::pair(&write.pair)?) else {
            continue;
        };
        let references: Vec<&String> = write
            .fields
            .keys()
            .filter(|name| spec.is_reference(name))
            .collect();
        if references.is_empty() {
            continue;
        }
        let Some(snapshot) = reader.snapshot(&write.pair, &write.system, id)? else {
            continue;
        };
        let empty = |name: &String| match snapshot.fields.get(name) {
            None | Some(Json::Null) => true,
            Some(Json::Array(items)) => items.is_empty(),
            Some(_) => false,
        };
        if snapshot.modified_at == AS_CREATED && references.into_iter().all(empty) {
            bare.insert(item.id);
        }
    }
    Ok(bare)
}

/// An update of a record still as truce created it: the values it set are now what the
/// record holds (a later write's associations are then read first, as usual).
pub(crate) fn written_to_created(
    tx: &mut Tx<'_>,
    item: &OutboxItem,
    id: &str,
    now: i64,
) -> Result<(), EngineError> {
    let write = &item.write;
    let Some(snapshot) = tx.reader().snapshot(&write.pair, &write.system, id)? else {
        return Ok(());
    };
    if snapshot.modified_at != AS_CREATED {
        return Ok(());
    }
    let mut fields = snapshot.fields;
    fields.extend(write.fields.clone());
    let update = SnapshotUpdate {
        object: snapshot.object,
        record_id: snapshot.record_id,
        match_key: snapshot.match_key,
        modified_at: AS_CREATED,
        deleted: false,
        fields,
        meta: snapshot.meta,
    };
    tx.upsert_snapshot(&write.pair, &write.system, &update, now - 1)?;
    Ok(())
}

/// The modification time of a snapshot truce made of a record it created: older than any
/// read, so the first read replaces it.
const AS_CREATED: i64 = 0;

/// Stores what the create `item` sent as the snapshot of the record `id` it made, with its
/// references empty, when the record's pair maps references and nothing read it yet.
///
/// The snapshot is dated 0 and observed just before the link's base moved, so that any
/// read of the record replaces it and the values it holds merge as the base (their wire
/// form is truce's, not the API's); only the references, which have no base yet, are
/// merged from it.
pub(crate) fn as_created(
    tx: &mut Tx<'_>,
    settings: &Settings,
    item: &OutboxItem,
    id: &str,
    now: i64,
) -> Result<(), EngineError> {
    let write = &item.write;
    let Some(spec) = settings.pair(stored::pair(&write.pair)?) else {
        return Ok(());
    };
    let Some(link) = write
        .link_id
        .map(|l| tx.reader().link(l))
        .transpose()?
        .flatten()
    else {
        return Ok(());
    };
    if link.state != LinkState::Active {
        return Ok(());
    }
    let Some(object) = stored::salesforce_object(&link)? else {
        return Ok(());
    };
    let system = stored::system(&write.system)?;
    let mut references = spec
        .fields_for(object)
        .filter_map(|map| map.reference.map(|r| (map, r)))
        .peekable();
    if references.peek().is_none()
        || tx
            .reader()
            .snapshot(&write.pair, &write.system, id)?
            .is_some()
    {
        return Ok(());
    }
    let mut fields = write.fields.clone();
    for (map, reference) in references {
        let name = match system {
            System::HubSpot => &map.hubspot,
            System::Salesforce => &map.salesforce,
        };
        let none = if reference.many {
            Json::Array(Vec::new())
        } else {
            Json::Null
        };
        fields.insert(name.clone(), none);
    }
    if let Some(UpsertKey::Field { field, value }) = write.upsert.as_ref().map(stored::upsert) {
        fields.insert(field, Json::String(value));
    }
    let update = SnapshotUpdate {
        object: write.object.clone(),
        record_id: id.to_string(),
        match_key: None,
        modified_at: AS_CREATED,
        deleted: false,
        fields,
        meta: RecordMeta {
            name: link.name.clone(),
            ..RecordMeta::default()
        },
    };
    tx.upsert_snapshot(&write.pair, &write.system, &update, now - 1)?;
    Ok(())
}
