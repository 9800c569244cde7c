//! truce's SQLite state store.
//!
//! Everything truce remembers between two polls lives in one SQLite file, and every SQL
//! statement truce runs lives in this crate. The rest of truce sees typed rows and typed
//! methods; it never sees a table name. The crate knows nothing of connectors, config or the
//! CLI: object pairs, systems, objects and record ids are plain strings (`"contacts"`,
//! `"hubspot"`, `"Lead"`, `"00Q..."`),
//! field values are `serde_json::Value`s, and times are milliseconds since the Unix epoch,
//! always passed in by the caller, so tests control the clock.
//!
//! ## What is stored
//!
//! | table | module | what it holds |
//! |---|---|---|
//! | `links` | [`links`] | one thing known to both systems, within one object pair (a person, a company, a deal) |
//! | `snapshots` | [`snapshots`] | the last observed state of every remote record, with its metadata and match key |
//! | `base` | [`base`] | per link and field, the value both sides last agreed on |
//! | `changes` | [`changes`] | the append-only, field-level change log |
//! | `cursors`, `scans` | [`cursors`] | where each change stream and each backfill scan stands |
//! | `outbox` | [`outbox`] | writes planned but not yet confirmed by the remote system |
//! | `conflicts` | [`conflicts`] | every conflict the merge decided, and how |
//! | `quarantine` | [`quarantine`] | writes and records set aside with the API's own reason |
//! | `duplicates` | [`duplicates`] | match keys shared by two records on one side |
//! | `deferred` | [`deferred`] | reference fields waiting for the record they point to |
//! | `quota` | [`quota`] | API usage as each system last reported it |
//! | `qualified`, `handoffs`, `sla_findings` | [`sla`] | contacts qualified, hand-offs to sales, and the SLA findings about them |
//!
//! ## Transactions
//!
//! Writes happen only inside a [`Tx`], begun with [`Store::transaction`] (or
//! [`Store::begin`]): either everything a closure did is committed, or, on an error or a
//! panic, nothing is. The sync cycle's safety rests on two such units:
//!
//! - **record**: [`Store::record_page`] appends a pulled page's field changes, upserts its
//!   snapshots and moves its cursors in one transaction, so a cursor never passes a change
//!   that is not durably in the change log. Cursors only ever move forward.
//! - **merge**: the engine sets base values, enqueues outbox writes and records conflicts in
//!   one transaction of its own, so a crash never leaves a decision half-applied.
//!
//! Write transactions are `BEGIN IMMEDIATE`: they take the write lock up front, so two
//! writers queue on the busy timeout (5 s) instead of failing on a lock upgrade.
//!
//! ## Reading
//!
//! Read methods live on [`Reader`], which borrows a connection: [`Store::reader`] reads
//! outside any transaction (each statement sees the latest commit), [`Tx::reader`] reads
//! inside the transaction (seeing its own uncommitted writes), and [`ReadView`] is a read
//! transaction on a connection of its own: one consistent snapshot across many queries,
//! unaffected by writers committing meanwhile (WAL mode lets readers and one writer run
//! side by side). `truce status` and friends use [`ReadView::open`], which never creates or
//! migrates a file.
//!
//! ## Compatibility and failure modes
//!
//! See [`migrate`]: a file is identified by `PRAGMA application_id` and versioned by
//! `PRAGMA user_version`; foreign files, non-SQLite files and files from a newer truce are
//! refused with a [`StoreError`] that names the file, before anything is written to them.

#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

pub mod base;
pub mod changes;
pub mod conflicts;
pub mod cursors;
pub mod deferred;
pub mod duplicates;
mod error;
pub mod history;
pub mod links;
pub mod migrate;
pub mod outbox;
pub mod page;
pub mod quarantine;
pub mod quota;
pub mod sla;
pub mod snapshots;
mod sql;
pub mod status;

pub use base::BaseValue;
pub use changes::{Change, FieldChange, Origin};
pub use conflicts::{Conflict, ConflictId, NewConflict};
pub use cursors::{Cursor, ScanProgress, ScanStep, StreamCursor};
pub use deferred::Deferred;
pub use duplicates::Duplicate;
pub use error::{Result, StoreError};
pub use history::HistoryEntry;
pub use links::{Link, LinkId, LinkState, LinkView, NewLink};
pub use migrate::{APPLICATION_ID, SCHEMA_VERSION};
pub use outbox::{
    OutboxId, OutboxItem, OutboxState, OutboxWrite, PendingCount, UpsertKey, WriteOp,
};
pub use page::{PulledPage, RecordSummary};
pub use quarantine::{NewQuarantine, QuarantineId, QuarantineState, Quarantined, Refusal, Retried};
pub use quota::QuotaUsage;
pub use sla::{
    Finding, FindingKind, Handoff, HandoffHow, HandoffVerdict, NewFinding, NewHandoff,
    QualifiedContact, SlaOutcome, SlaSummary,
};
pub use snapshots::{Converted, Outcome, RecordMeta, Snapshot, SnapshotUpdate};
pub use status::Status;

use error::SqlContext;
use migrate::Identity;

/// The system name HubSpot records are stored under.
pub const HUBSPOT: &str = "hubspot";
/// The system name Salesforce records are stored under.
pub const SALESFORCE: &str = "salesforce";

/// How long a statement waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The form match keys (emails, domains) are stored and looked up in: trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// An open, migrated state file, and the only way to write to it.
///
/// One `Store` is one SQLite connection; it is `Send` but not `Sync`. Give the daemon one
/// writer; readers that need their own snapshot use [`Store::read_view`].
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens the state file at `path`, creating it when missing, and migrates it to
    /// [`SCHEMA_VERSION`]. The parent directory must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path.as_ref(), true, migrate::MIGRATIONS)
    }

    /// Opens an existing state file and migrates it; a missing file is
    /// [`StoreError::Missing`] rather than a new, empty store.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path.as_ref(), false, migrate::MIGRATIONS)
    }

    /// Opens with a given migration list, so tests can build files at older versions.
    pub(crate) fn open_with(path: &Path, create: bool, migrations: &[&str]) -> Result<Store> {
        let path = path.to_path_buf();
        if !create {
            ensure_exists(&path)?;
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let mut conn = Connection::open_with_flags(&path, flags).ctx(&path, "opening the file")?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .ctx(&path, "setting the busy timeout")?;
        let supported = migrations.len() as i64;
        // Look before writing anything: WAL mode and migrations both change the file.
        let identity = migrate::identify(&conn, &path, supported)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .ctx(&path, "switching to WAL mode")?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "state file is not in WAL mode; readers will block the writer");
        }
        // Statement journals in memory: the engine's long transactions (linking a whole
        // backfill) otherwise spill each statement's journal to a temporary file, page by
        // page, once one statement outgrew SQLite's 64 KiB threshold.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
        )
        .ctx(&path, "setting connection options")?;
        if identity != Identity::Truce(supported) {
            migrate::migrate(&mut conn, &path, migrations)?;
        }
        Ok(Store { conn, path })
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's schema version (always [`SCHEMA_VERSION`] once opened).
    pub fn schema_version(&self) -> Result<i64> {
        self.reader().schema_version()
    }

    /// Writes a consistent copy of the whole store to `dest` (which must not exist), for a
    /// dry run that plans against real state without touching it.
    pub fn copy_to(&self, dest: &Path) -> Result<()> {
        let dest_text = dest.to_string_lossy();
        self.conn
            .execute("VACUUM INTO ?1", [dest_text.as_ref()])
            .ctx(&self.path, "copying the store for a dry run")?;
        Ok(())
    }

    /// Reads outside any transaction: each statement sees the latest commit.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            conn: &self.conn,
            path: &self.path,
        }
    }

    /// Starts a consistent read-only snapshot of the file on a connection of its own.
    pub fn read_view(&self) -> Result<ReadView> {
        ReadView::open(&self.path)
    }

    /// Begins a write transaction. Dropping the [`Tx`] without [`Tx::commit`] rolls it back.
    pub fn begin(&mut self) -> Result<Tx<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&self.path, "beginning a write transaction")?;
        Ok(Tx {
            tx,
            path: &self.path,
        })
    }

    /// Runs `f` in one write transaction: committed when it returns `Ok`, rolled back when
    /// it returns `Err` or panics.
    pub fn transaction<T, E>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut tx = self.begin()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Records one pulled page in one transaction (see [`Tx::record_page`]).
    pub fn record_page(&mut self, page: &PulledPage) -> Result<RecordSummary> {
        self.transaction(|tx| tx.record_page(page))
    }
}

fn ensure_exists(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::Missing {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            context: "checking that the file exists",
            source,
        }),
    }
}

/// A write transaction. Every write method of the store lives here.
///
/// Commit with [`Tx::commit`]; dropping it rolls back.
#[derive(Debug)]
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl Tx<'_> {
    /// Reads inside this transaction, seeing its uncommitted writes.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            conn: &self.tx,
            path: self.path,
        }
    }

    /// Makes everything done in this transaction durable.
    pub fn commit(self) -> Result<()> {
        self.tx.commit().ctx(self.path, "committing")
    }

    /// Throws away everything done in this transaction.
    pub fn rollback(self) -> Result<()> {
        self.tx.rollback().ctx(self.path, "rolling back")
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.tx
    }

    pub(crate) fn path(&self) -> &Path {
        self.path
    }
}

/// The store's read methods, over whichever connection or transaction lent it.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) path: &'a Path,
}

impl Reader<'_> {
    /// The file's `PRAGMA user_version`.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT user_version FROM pragma_user_version", [], |r| {
                r.get(0)
            })
            .ctx(self.path, "reading the schema version")
    }
}

/// A read-only snapshot of the state file, on a connection of its own.
///
/// Everything read through one `ReadView` comes from the same instant, however many writers
/// commit meanwhile. Hold it briefly: while it lives, SQLite cannot checkpoint the WAL past
/// its snapshot, so the WAL file grows.
#[derive(Debug)]
pub struct ReadView {
    conn: Connection,
    path: PathBuf,
}

impl ReadView {
    /// Opens an existing, current state file read-only and pins a snapshot. Never creates,
    /// migrates or otherwise writes the file: a file this binary would first migrate is
    /// [`StoreError::Outdated`].
    pub fn open(path: impl AsRef<Path>) -> Result<ReadView> {
        let path = path.as_ref().to_path_buf();
        ensure_exists(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ctx(&path, "opening the file read-only")?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .ctx(&path, "setting the busy timeout")?;
        // The snapshot starts at the first read after BEGIN, so identify inside it: the
        // version checked is the version read.
        conn.execute_batch("BEGIN DEFERRED")
            .ctx(&path, "beginning a read transaction")?;
        match migrate::identify(&conn, &path, SCHEMA_VERSION)? {
            Identity::Truce(SCHEMA_VERSION) => {}
            Identity::Truce(found) => {
                return Err(StoreError::Outdated {
                    path,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Identity::Fresh => {
                return Err(StoreError::Outdated {
                    path,
                    found: 0,
                    supported: SCHEMA_VERSION,
                });
            }
        }
        Ok(ReadView { conn, path })
    }

    /// Reads from this view's snapshot.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            conn: &self.conn,
            path: &self.path,
        }
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
