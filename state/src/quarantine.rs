//! The quarantine: writes a remote system refused, and records truce could not use, each
//! set aside with the API's own reason while the daemon carries on.
//!
//! A refused write moves here from the outbox (its outbox item becomes `quarantined`), with
//! a copy of the write so [`Tx::retry`] can queue it again once the admin fixed the cause
//! (`truce retry`). A record with bad input (an unmappable value, a malformed field) is
//! quarantined without a write; retrying it only closes the entry, and the engine picks the
//! record up again on its next change. Entries are kept after a retry, as history.

use rusqlite::{OptionalExtension, Row, params};

use crate::error::{Result, SqlContext, StoreError};
use crate::links::LinkId;
use crate::outbox::{OutboxId, OutboxWrite};
use crate::sql::{Json, id_type, text_enum};
use crate::{Reader, Tx, normalize_email};

id_type!(
    /// A quarantine entry's id (what `truce retry ID` takes).
    QuarantineId
);

text_enum!(
    /// Where a quarantine entry stands.
    QuarantineState {
        /// Waiting for an admin.
        Open => "open",
        /// Retried: its write was queued again.
        Retried => "retried",
    }
);

/// Why a remote system refused a write, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refusal {
    /// The person's email, when known; defaults to the link's.
    pub email: Option<String>,
    /// The field the API named, when it named one.
    pub field: Option<String>,
    /// The API's error code (`INVALID_EMAIL_ADDRESS`, `VALIDATION_ERROR`...).
    pub error_code: String,
    /// The API's message.
    pub message: String,
}

/// A record set aside without a write (bad input from an API).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewQuarantine {
    /// The object pair of the record.
    pub pair: String,
    /// The record's link, when it has one.
    pub link_id: Option<LinkId>,
    /// The person's email, when known.
    pub email: Option<String>,
    /// The system the record came from.
    pub system: String,
    /// The record's id.
    pub record_id: Option<String>,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// A short, stable code for the problem.
    pub error_code: String,
    /// What was wrong, for the admin.
    pub message: String,
}

/// A quarantine entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    /// The entry's id.
    pub id: QuarantineId,
    /// When it was set aside (ms).
    pub quarantined_at: i64,
    /// The object pair of the record or write.
    pub pair: String,
    /// The outbox item it came from, for a refused write.
    pub outbox_id: Option<OutboxId>,
    /// The link concerned.
    pub link_id: Option<LinkId>,
    /// The person's email.
    pub email: Option<String>,
    /// The system that refused (or sent the bad record).
    pub system: String,
    /// The record concerned (`None` for a refused create).
    pub record_id: Option<String>,
    /// The field at fault, when known.
    pub field: Option<String>,
    /// The API's error code.
    pub error_code: String,
    /// The API's message.
    pub message: String,
    /// The refused write, to queue again on retry.
    pub write: Option<OutboxWrite>,
    /// Open or retried.
    pub state: QuarantineState,
    /// When it was retried (ms).
    pub retried_at: Option<i64>,
    /// The outbox item the retry queued.
    pub retry_outbox_id: Option<OutboxId>,
}

/// What a retry did with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retried {
    /// The entry retried.
    pub quarantine_id: QuarantineId,
    /// The new outbox item; `None` for an entry without a write.
    pub outbox_id: Option<OutboxId>,
}

const COLUMNS: &str = "id, quarantined_at, outbox_id, link_id, email, system, record_id, field, \
                       error_code, message, write_json, state, retried_at, retry_outbox_id, pair";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Quarantined> {
    Ok(Quarantined {
        id: row.get(0)?,
        quarantined_at: row.get(1)?,
        pair: row.get(14)?,
        outbox_id: row.get(2)?,
        link_id: row.get(3)?,
        email: row.get(4)?,
        system: row.get(5)?,
        record_id: row.get(6)?,
        field: row.get(7)?,
        error_code: row.get(8)?,
        message: row.get(9)?,
        write: row.get::<_, Option<Json<_>>>(10)?.map(|j| j.0),
        state: row.get(11)?,
        retried_at: row.get(12)?,
        retry_outbox_id: row.get(13)?,
    })
}

impl Tx<'_> {
    /// Moves a pending outbox write to the quarantine, with the remote system's reason.
    pub fn quarantine_write(
        &mut self,
        id: OutboxId,
        refusal: &Refusal,
        now: i64,
    ) -> Result<QuarantineId> {
        let item = self
            .reader()
            .outbox_item(id)?
            .filter(|item| item.state == crate::OutboxState::Pending)
            .ok_or_else(|| self.not_pending(id))?;
        let write = serde_json::to_string(&item.write).map_err(|source| StoreError::Encode {
            path: self.path().to_path_buf(),
            context: "quarantining a write",
            source,
        })?;
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE outbox SET state = 'quarantined', last_error = ?2, updated_at = ?3
                 WHERE id = ?1 AND state = 'pending'",
            )
            .and_then(|mut stmt| stmt.execute(params![id, refusal.message, now]))
            .ctx(self.path(), "quarantining a write")?;
        self.expect_pending(id, changed)?;
        self.insert_quarantine(
            &NewQuarantine {
                pair: item.write.pair.clone(),
                link_id: item.write.link_id,
                email: refusal.email.clone(),
                system: item.write.system.clone(),
                record_id: item.write.record_id.clone(),
                field: refusal.field.clone(),
                error_code: refusal.error_code.clone(),
                message: refusal.message.clone(),
            },
            Some(id),
            Some(&write),
            now,
        )
    }

    /// Sets a record aside that truce could not use.
    pub fn quarantine_record(&mut self, entry: &NewQuarantine, now: i64) -> Result<QuarantineId> {
        self.insert_quarantine(entry, None, None, now)
    }

    fn insert_quarantine(
        &mut self,
        entry: &NewQuarantine,
        outbox_id: Option<OutboxId>,
        write: Option<&str>,
        now: i64,
    ) -> Result<QuarantineId> {
        crate::sql::insert_row(
            self.conn(),
            "INSERT INTO quarantine (quarantined_at, outbox_id, link_id, email, system,
                                     record_id, field, error_code, message, write_json, state,
                                     pair)
             VALUES (?1, ?2, ?3,
                     coalesce(?4, (SELECT nullif(email, '') FROM links WHERE id = ?3)),
                     ?5, ?6, ?7, ?8, ?9, ?10, 'open', ?11)",
            params![
                now,
                outbox_id,
                entry.link_id,
                entry.email.as_deref().map(normalize_email),
                entry.system,
                entry.record_id,
                entry.field,
                entry.error_code,
                entry.message,
                write,
                entry.pair
            ],
        )
        .map(QuarantineId)
        .ctx(self.path(), "quarantining")
    }

    /// Retries these open entries: each refused write is queued again as a new outbox item,
    /// due at once. An id that is not an open entry fails the whole retry.
    pub fn retry(&mut self, ids: &[QuarantineId], now: i64) -> Result<Vec<Retried>> {
        let mut done = Vec::with_capacity(ids.len());
        for &id in ids {
            let entry = self
                .reader()
                .quarantine_entry(id)?
                .filter(|e| e.state == QuarantineState::Open)
                .ok_or_else(|| StoreError::NotFound {
                    path: self.path().to_path_buf(),
                    what: "open quarantine entry",
                    id: id.0,
                })?;
            done.push(self.retry_entry(entry, now)?);
        }
        Ok(done)
    }

    /// Retries every open entry.
    pub fn retry_all(&mut self, now: i64) -> Result<Vec<Retried>> {
        let open = self.reader().quarantined(false)?;
        open.into_iter()
            .map(|entry| self.retry_entry(entry, now))
            .collect()
    }

    fn retry_entry(&mut self, entry: Quarantined, now: i64) -> Result<Retried> {
        let outbox_id = match &entry.write {
            Some(write) => Some(self.enqueue(write, now)?),
            None => None,
        };
        self.conn()
            .prepare_cached(
                "UPDATE quarantine SET state = 'retried', retried_at = ?2, retry_outbox_id = ?3
                 WHERE id = ?1",
            )
            .and_then(|mut stmt| stmt.execute(params![entry.id, now, outbox_id]))
            .ctx(self.path(), "retrying a quarantined write")?;
        Ok(Retried {
            quarantine_id: entry.id,
            outbox_id,
        })
    }
}

impl Reader<'_> {
    /// True when this record already has an open entry with this code: a record that is
    /// read again (a look-back re-read) is reported once, not once per read.
    pub fn open_quarantine_for(
        &self,
        pair: &str,
        system: &str,
        record_id: Option<&str>,
        error_code: &str,
    ) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM quarantine
                 WHERE state = 'open' AND pair = ?1 AND system = ?2
                   AND record_id IS ?3 AND error_code = ?4)",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![pair, system, record_id, error_code], |r| r.get(0))
            })
            .ctx(self.path, "looking for an open quarantine entry")
    }

    /// True when an open entry says exactly this about this record already: the same
    /// pair, system, record, error code and message (a merge that meets the same bad value
    /// again reports it once).
    pub fn open_quarantine_same(&self, entry: &NewQuarantine) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM quarantine
                 WHERE state = 'open' AND pair = ?1 AND system = ?2
                   AND record_id IS ?3 AND error_code = ?4 AND message = ?5
                   AND link_id IS ?6)",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![
                        entry.pair,
                        entry.system,
                        entry.record_id,
                        entry.error_code,
                        entry.message,
                        entry.link_id
                    ],
                    |r| r.get(0),
                )
            })
            .ctx(self.path, "looking for an open quarantine entry")
    }

    /// Quarantine entries, oldest first: the open ones, or all with `include_retried`.
    pub fn quarantined(&self, include_retried: bool) -> Result<Vec<Quarantined>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM quarantine WHERE ?1 OR state = 'open' ORDER BY id"
            ))
            .and_then(|mut stmt| stmt.query_map([include_retried], from_row)?.collect())
            .ctx(self.path, "reading the quarantine")
    }

    /// One quarantine entry.
    pub fn quarantine_entry(&self, id: QuarantineId) -> Result<Option<Quarantined>> {
        self.conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM quarantine WHERE id = ?1"))
            .and_then(|mut stmt| stmt.query_row([id], from_row).optional())
            .ctx(self.path, "reading a quarantine entry")
    }

    /// How many entries are open.
    pub fn open_quarantine_count(&self) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM quarantine WHERE state = 'open'",
                [],
                |r| r.get(0),
            )
            .ctx(self.path, "counting the quarantine")
    }
}
