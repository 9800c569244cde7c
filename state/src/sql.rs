//! Small conversions between Rust values and SQLite columns, shared by the table modules.
//!
//! Field values are `serde_json::Value`s stored as JSON text, except that `Value::Null` is
//! stored as SQL `NULL`, so a blank is visible as one to anybody running `sqlite3` on the file.
//! Enumerations are stored as their lower-case names; an unknown name read back is corruption.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use serde_json::Value;

use crate::error::{Result, StoreError};

/// The column text for a field value: `None` for `Null`.
pub(crate) fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Encodes a record's fields as one JSON object.
pub(crate) fn fields_text(
    path: &Path,
    context: &'static str,
    fields: &BTreeMap<String, Value>,
) -> Result<String> {
    serde_json::to_string(fields).map_err(|source| StoreError::Encode {
        path: path.to_path_buf(),
        context,
        source,
    })
}

/// A column holding a JSON value (or `NULL` for `Value::Null`).
pub(crate) struct JsonValue(pub(crate) Value);

impl FromSql for JsonValue {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Null => Ok(JsonValue(Value::Null)),
            ValueRef::Text(bytes) => serde_json::from_slice(bytes)
                .map(JsonValue)
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// A column holding a JSON document decoded into `T`.
pub(crate) struct Json<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned> FromSql for Json<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Text(bytes) => serde_json::from_slice(bytes)
                .map(Json)
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// Runs a one-row `INSERT` and returns the new row's id. `RETURNING` would cost an
/// ephemeral table per execution (its rows are gathered before the first is handed back),
/// which was most of the time of the engine's busiest inserts (the change log, the outbox).
pub(crate) fn insert_row(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(sql)?.execute(params)?;
    Ok(conn.last_insert_rowid())
}

/// Defines an integer id newtype that is a column on its own.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                i64::column_result(value).map($name)
            }
        }
    };
}
pub(crate) use id_type;

/// Defines a fieldless enum stored as text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The name stored in the file and shown to people.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses a stored name.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::Borrowed(
                    rusqlite::types::ValueRef::Text(self.as_str().as_bytes()),
                ))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(
                        format!(concat!("unknown ", stringify!($name), " {:?}"), text).into(),
                    )
                })
            }
        }
    };
}
pub(crate) use text_enum;

/// Converts a caller's row limit to SQLite's integer, saturating instead of failing.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
