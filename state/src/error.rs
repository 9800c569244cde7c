//! The store's one error type.
//!
//! Every variant names the state file, because the operator's first question is "which
//! file?" and a daemon may be pointed at the wrong one. Messages say what happened and what
//! to do; the underlying SQLite error, when there is one, is the `source`, so the binary can
//! print the whole chain.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Everything that can go wrong in the state store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// [`crate::Store::open_existing`] was asked for a file that is not there.
    #[error(
        "state file {path} does not exist; check [state] path, or run the daemon once to create it"
    )]
    Missing {
        /// The state file.
        path: PathBuf,
    },

    /// The file exists but is not an SQLite database at all. It was left untouched.
    #[error(
        "{path} is not an SQLite database, so it cannot be truce's state file; \
         truce left it untouched: check [state] path"
    )]
    NotSqlite {
        /// The file.
        path: PathBuf,
    },

    /// The file is an SQLite database that belongs to something else. It was left untouched.
    #[error(
        "{path} is an SQLite database but not truce's (application_id {application_id:#010x}, \
         {tables} schema objects); truce left it untouched: check [state] path"
    )]
    NotATruceDatabase {
        /// The file.
        path: PathBuf,
        /// The file's `PRAGMA application_id`.
        application_id: i32,
        /// How many tables, indexes and views the file holds.
        tables: i64,
    },

    /// The file was written by a newer truce. It was left untouched.
    #[error(
        "state file {path} has schema version {found}, but this truce understands up to \
         {supported}; it was written by a newer truce: run that version (or restore a backup); \
         the file was left untouched"
    )]
    TooNew {
        /// The state file.
        path: PathBuf,
        /// The file's `PRAGMA user_version`.
        found: i64,
        /// The newest schema version this binary knows.
        supported: i64,
    },

    /// A read-only view was asked of a file whose schema this binary would first migrate.
    #[error(
        "state file {path} has schema version {found}, older than this truce's {supported}; \
         start the daemon (or any writing command) once to migrate it"
    )]
    Outdated {
        /// The state file.
        path: PathBuf,
        /// The file's `PRAGMA user_version`.
        found: i64,
        /// The newest schema version this binary knows.
        supported: i64,
    },

    /// Another process held the write lock for longer than the busy timeout.
    #[error(
        "state file {path} stayed locked by another process while {context}; \
         is a second truce running against the same file?"
    )]
    Busy {
        /// The state file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// A stored row could not be read back (bad JSON, unknown enum value, SQLite corruption).
    #[error("state file {path} holds data truce cannot read while {context}: {detail}")]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// What was wrong, with SQLite's or serde's own words.
        detail: String,
    },

    /// An id passed to the store names no row (or no row in the state the call needs).
    #[error("state file {path} has no {what} with id {id}")]
    NotFound {
        /// The state file.
        path: PathBuf,
        /// What was looked for ("pending outbox item", "open quarantine entry"...).
        what: &'static str,
        /// The id that was asked for.
        id: i64,
    },

    /// A value could not be encoded for storage.
    #[error("cannot encode a value for state file {path} while {context}")]
    Encode {
        /// The state file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },

    /// Any other SQLite failure (disk full, I/O error, constraint violation...).
    #[error("SQLite failed on state file {path} while {context}")]
    Sqlite {
        /// The state file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// The file system refused something (reading the file's metadata...).
    #[error("cannot access state file {path} while {context}")]
    Io {
        /// The state file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Sorts an SQLite error into the variant an operator can act on.
    pub(crate) fn sqlite(path: &Path, context: &'static str, source: rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        match &source {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt {
                path,
                context,
                detail: source.to_string(),
            },
            _ => match source.sqlite_error_code() {
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
                    path,
                    context,
                    source,
                },
                Some(ErrorCode::NotADatabase) => StoreError::NotSqlite { path },
                Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                    path,
                    context,
                    detail: source.to_string(),
                },
                _ => StoreError::Sqlite {
                    path,
                    context,
                    source,
                },
            },
        }
    }
}

/// Attaches the file and the activity to a rusqlite result.
pub(crate) trait SqlContext<T> {
    /// Maps the error with [`StoreError::sqlite`].
    fn ctx(self, path: &Path, context: &'static str) -> Result<T>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn ctx(self, path: &Path, context: &'static str) -> Result<T> {
        self.map_err(|e| StoreError::sqlite(path, context, e))
    }
}
