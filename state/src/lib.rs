//! truce's SQLite state store.
