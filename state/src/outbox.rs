//! The outbox: writes planned by the merge and not yet confirmed by the remote system.
//!
//! The merge enqueues writes in the same transaction that decides them, so a crash between
//! deciding and sending loses nothing; the apply step reads what is [due](Reader::due),
//! sends it, and marks each item done, failed (retried later, with the caller's backoff),
//! or quarantined. Items are kept after they are done, as a record of what truce wrote,
//! until [`Tx::prune_outbox`] removes them; ids are never reused.
//!
//! Whether and when to retry is the engine's decision; the store only remembers the
//! attempt count, the last error and the time of the next attempt.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, SqlContext, StoreError};
use crate::links::LinkId;
use crate::sql::{Json, fields_text, id_type, text_enum};
use crate::{Reader, Tx};

id_type!(
    /// An outbox item's id; never reused.
    OutboxId
);

text_enum!(
    /// What a write does.
    WriteOp {
        /// Create a record (upserting on [`OutboxWrite::upsert`] when set).
        Create => "create",
        /// Update [`OutboxWrite::record_id`].
        Update => "update",
        /// Delete (archive) [`OutboxWrite::record_id`].
        Delete => "delete",
    }
);

text_enum!(
    /// Where an outbox item stands.
    OutboxState {
        /// Waiting to be sent (again).
        Pending => "pending",
        /// Accepted by the remote system.
        Done => "done",
        /// Set aside in the quarantine.
        Quarantined => "quarantined",
    }
);

/// The unique key a create is made idempotent on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertKey {
    /// The unique field (an external-id field), or a marker the engine gives a meaning
    /// (the person's email).
    pub field: String,
    /// Its value for this record.
    pub value: String,
}

/// One write to make in a remote system. Serialisable: the quarantine keeps a copy so
/// `truce retry` can queue it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxWrite {
    /// The object pair of the record written (`contacts` in writes kept before pairs).
    #[serde(default = "contacts")]
    pub pair: String,
    /// The link the write serves, when there is one.
    pub link_id: Option<LinkId>,
    /// The system written to.
    pub system: String,
    /// The API's object name.
    pub object: String,
    /// Create, update or delete.
    pub op: WriteOp,
    /// The record written; `None` for a create.
    pub record_id: Option<String>,
    /// Field values to set, with the target API's JSON types; `Null` clears.
    pub fields: BTreeMap<String, Value>,
    /// For a create: the unique key to upsert on.
    pub upsert: Option<UpsertKey>,
    /// Base values (canonical, by mapping field) that become the link's base once the
    /// remote system accepts the write: the base moves on success, never on plan, so a
    /// refused write cannot make the other side's old value look like a fresh change.
    #[serde(default)]
    pub base: BTreeMap<String, Value>,
}

fn contacts() -> String {
    "contacts".into()
}

/// A queued write with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// The item's id (the connector's write key).
    pub id: OutboxId,
    /// The write.
    pub write: OutboxWrite,
    /// Where it stands.
    pub state: OutboxState,
    /// Failed attempts so far.
    pub attempts: i64,
    /// Not to be sent before this time (ms).
    pub next_attempt_at: i64,
    /// The last failure, as the API put it.
    pub last_error: Option<String>,
    /// When it was enqueued (ms).
    pub created_at: i64,
    /// When it last changed (ms).
    pub updated_at: i64,
    /// When it was last handed to the remote system (ms); `None` if never. A create sent
    /// without an idempotency key may exist remotely even though no outcome was recorded.
    pub sent_at: Option<i64>,
}

const COLUMNS: &str = "id, link_id, system, object, op, record_id, fields, upsert_field, \
                       upsert_value, state, attempts, next_attempt_at, last_error, created_at, \
                       updated_at, base, sent_at, pair";

fn from_row(row: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    let upsert_field: Option<String> = row.get(7)?;
    let upsert_value: Option<String> = row.get(8)?;
    Ok(OutboxItem {
        id: row.get(0)?,
        write: OutboxWrite {
            pair: row.get(17)?,
            link_id: row.get(1)?,
            system: row.get(2)?,
            object: row.get(3)?,
            op: row.get(4)?,
            record_id: row.get(5)?,
            fields: row.get::<_, Json<_>>(6)?.0,
            upsert: match (upsert_field, upsert_value) {
                (Some(field), Some(value)) => Some(UpsertKey { field, value }),
                _ => None,
            },
            base: row.get::<_, Json<_>>(15)?.0,
        },
        state: row.get(9)?,
        attempts: row.get(10)?,
        next_attempt_at: row.get(11)?,
        last_error: row.get(12)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
        sent_at: row.get(16)?,
    })
}

impl Tx<'_> {
    /// Queues a write, due at once, and returns its id.
    pub fn enqueue(&mut self, write: &OutboxWrite, now: i64) -> Result<OutboxId> {
        let fields = fields_text(self.path(), "queueing a write", &write.fields)?;
        let base = fields_text(self.path(), "queueing a write", &write.base)?;
        crate::sql::insert_row(
            self.conn(),
            "INSERT INTO outbox (link_id, system, object, op, record_id, fields, upsert_field,
                                 upsert_value, state, attempts, next_attempt_at, created_at,
                                 updated_at, base, pair)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, ?9, ?9, ?10, ?11)",
            params![
                write.link_id,
                write.system,
                write.object,
                write.op,
                write.record_id,
                fields,
                write.upsert.as_ref().map(|k| &k.field),
                write.upsert.as_ref().map(|k| &k.value),
                now,
                base,
                write.pair
            ],
        )
        .map(OutboxId)
        .ctx(self.path(), "queueing a write")
    }

    /// Marks a pending write as accepted by the remote system.
    pub fn mark_done(&mut self, id: OutboxId, now: i64) -> Result<()> {
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE outbox SET state = 'done', updated_at = ?2
                 WHERE id = ?1 AND state = 'pending'",
            )
            .and_then(|mut stmt| stmt.execute(params![id, now]))
            .ctx(self.path(), "marking a write done")?;
        self.expect_pending(id, changed)
    }

    /// Notes that these pending writes are being handed to the remote system now. Recorded
    /// before the call, so a crash during it leaves the mark behind.
    pub fn mark_sent(&mut self, ids: &[OutboxId], now: i64) -> Result<()> {
        let mut stmt = self
            .conn()
            .prepare_cached("UPDATE outbox SET sent_at = ?2 WHERE id = ?1 AND state = 'pending'")
            .ctx(self.path(), "marking writes sent")?;
        for id in ids {
            stmt.execute(params![id, now])
                .ctx(self.path(), "marking writes sent")?;
        }
        Ok(())
    }

    /// Records a failed attempt of a pending write, to be tried again at `next_attempt_at`;
    /// returns the number of failed attempts so far, for the caller's give-up rule.
    pub fn mark_failed(
        &mut self,
        id: OutboxId,
        error: &str,
        next_attempt_at: i64,
        now: i64,
    ) -> Result<i64> {
        self.conn()
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2,
                                   next_attempt_at = ?3, updated_at = ?4
                 WHERE id = ?1 AND state = 'pending'
                 RETURNING attempts",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![id, error, next_attempt_at, now], |r| r.get(0))
                    .optional()
            })
            .ctx(self.path(), "recording a failed write")?
            .ok_or_else(|| self.not_pending(id))
    }

    /// Deletes done items last changed before `before`; returns how many.
    pub fn prune_outbox(&mut self, before: i64) -> Result<usize> {
        self.conn()
            .execute(
                "DELETE FROM outbox WHERE state = 'done' AND updated_at < ?1",
                [before],
            )
            .ctx(self.path(), "pruning the outbox")
    }

    pub(crate) fn expect_pending(&self, id: OutboxId, changed: usize) -> Result<()> {
        if changed == 0 {
            return Err(self.not_pending(id));
        }
        Ok(())
    }

    pub(crate) fn not_pending(&self, id: OutboxId) -> StoreError {
        StoreError::NotFound {
            path: self.path().to_path_buf(),
            what: "pending outbox item",
            id: id.0,
        }
    }
}

impl Reader<'_> {
    /// Up to `limit` pending writes to `system` whose next attempt is due at `now`, oldest
    /// first (so writes to one record go out in the order they were planned).
    pub fn due(&self, system: &str, now: i64, limit: usize) -> Result<Vec<OutboxItem>> {
        self.due_after(system, now, i64::MIN, limit)
    }

    /// Like [`Reader::due`], but a full batch of the writes with ids above `newer_than`
    /// comes first: an apply pass passes the last id queued before it began, so what it
    /// queues as it goes (the associations of the records it creates, batched 1,000 a
    /// call) goes out beside the rest of the queue, not after all of it. Only a full batch:
    /// a few of them in every batch would split their calls and the others'. Order within
    /// a batch is by id; a write queued during the pass is the only pending write of its
    /// link (the merge plans none beside a pending one), so writes to one record still go
    /// out in the order they were planned.
    pub fn due_newer_first(
        &self,
        system: &str,
        now: i64,
        newer_than: OutboxId,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let newer = self.due_after(system, now, newer_than.0, limit)?;
        if newer.len() == limit {
            return Ok(newer);
        }
        self.due(system, now, limit)
    }

    /// Up to `limit` due writes with ids above `above`, in id order.
    fn due_after(
        &self,
        system: &str,
        now: i64,
        above: i64,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox
                 WHERE state = 'pending' AND system = ?1 AND next_attempt_at <= ?2 AND id > ?3
                 ORDER BY id LIMIT ?4"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![system, now, above, crate::sql::limit(limit)],
                    from_row,
                )?
                .collect()
            })
            .ctx(self.path, "reading due writes")
    }

    /// The id of the last write queued, in any state (0 when none ever was).
    pub fn last_outbox_id(&self) -> Result<OutboxId> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM outbox", [], |r| r.get(0))
            .map(OutboxId)
            .ctx(self.path, "reading the last queued write")
    }

    /// One outbox item, in any state.
    pub fn outbox_item(&self, id: OutboxId) -> Result<Option<OutboxItem>> {
        self.conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"))
            .and_then(|mut stmt| stmt.query_row([id], from_row).optional())
            .ctx(self.path, "reading an outbox item")
    }

    /// The pending writes for one link, oldest first: the merge checks them before planning
    /// the same write twice.
    pub fn pending_for_link(&self, link: LinkId) -> Result<Vec<OutboxItem>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE link_id = ?1 AND state = 'pending'
                 ORDER BY id"
            ))
            .and_then(|mut stmt| stmt.query_map([link], from_row)?.collect())
            .ctx(self.path, "reading a link's pending writes")
    }

    /// How many writes are pending, due or not.
    pub fn outbox_depth(&self) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .ctx(self.path, "counting pending writes")
    }

    /// The links with ids in `from..=to` that have a write pending: one query for a whole
    /// batch of links instead of one per link.
    pub fn links_with_pending_writes(
        &self,
        from: LinkId,
        to: LinkId,
    ) -> Result<std::collections::BTreeSet<LinkId>> {
        self.conn
            .prepare_cached(
                "SELECT DISTINCT link_id FROM outbox
                 WHERE state = 'pending' AND link_id BETWEEN ?1 AND ?2",
            )
            .and_then(|mut stmt| stmt.query_map(params![from, to], |r| r.get(0))?.collect())
            .ctx(self.path, "finding links with pending writes")
    }

    /// Pending writes counted by system, object and operation, for a dry run's plan.
    pub fn pending_summary(&self) -> Result<Vec<PendingCount>> {
        self.conn
            .prepare_cached(
                "SELECT system, object, op, count(*) FROM outbox WHERE state = 'pending'
                 GROUP BY system, object, op ORDER BY system, object, op",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |r| {
                    Ok(PendingCount {
                        system: r.get(0)?,
                        object: r.get(1)?,
                        op: r.get(2)?,
                        count: r.get(3)?,
                    })
                })?
                .collect()
            })
            .ctx(self.path, "summarising pending writes")
    }
}

/// Pending writes of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCount {
    /// `hubspot` or `salesforce`.
    pub system: String,
    /// The API's object name.
    pub object: String,
    /// Create, update or delete.
    pub op: WriteOp,
    /// How many.
    pub count: i64,
}
