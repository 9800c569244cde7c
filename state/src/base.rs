//! Base values: per link and field, the value both systems last agreed on.
//!
//! The three-way merge compares each side against the base: the side that differs from it
//! is the side that changed. Values are in canonical form (after mapping transforms), keyed by
//! the mapping's field name (the HubSpot property). No row means "no base yet" (the link's
//! first sync), which the merge treats differently from a base that is blank
//! (`Value::Null`). Base rows go with their link.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use crate::error::{Result, SqlContext};
use crate::links::LinkId;
use crate::sql::{JsonValue, value_text};
use crate::{Reader, Tx};

/// One stored base value.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseValue {
    /// The agreed value, canonical; `Null` when both sides agreed on blank.
    pub value: Value,
    /// When the sides last agreed (ms).
    pub updated_at: i64,
}

impl Tx<'_> {
    /// Records that both sides now agree on `value` for this field of this link.
    pub fn set_base(&mut self, link: LinkId, field: &str, value: &Value, now: i64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO base (link_id, field, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (link_id, field) DO UPDATE SET
                     value = excluded.value, updated_at = excluded.updated_at",
            )
            .and_then(|mut stmt| stmt.execute(params![link, field, value_text(value), now]))
            .ctx(self.path(), "setting a base value")?;
        Ok(())
    }

    /// Forgets every base value of a link, so its next merge is a first sync (after the link
    /// moved to other records).
    pub fn clear_base(&mut self, link: LinkId) -> Result<usize> {
        self.conn()
            .prepare_cached("DELETE FROM base WHERE link_id = ?1")
            .and_then(|mut stmt| stmt.execute([link]))
            .ctx(self.path(), "clearing base values")
    }
}

impl Reader<'_> {
    /// Every base value of a link, by field.
    pub fn base(&self, link: LinkId) -> Result<BTreeMap<String, BaseValue>> {
        self.conn
            .prepare_cached("SELECT field, value, updated_at FROM base WHERE link_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_map([link], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        BaseValue {
                            value: r.get::<_, JsonValue>(1)?.0,
                            updated_at: r.get(2)?,
                        },
                    ))
                })?
                .collect()
            })
            .ctx(self.path, "reading base values")
    }

    /// One base value; `None` when the link has no base for the field yet.
    pub fn base_value(&self, link: LinkId, field: &str) -> Result<Option<BaseValue>> {
        self.conn
            .prepare_cached("SELECT value, updated_at FROM base WHERE link_id = ?1 AND field = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![link, field], |r| {
                    Ok(BaseValue {
                        value: r.get::<_, JsonValue>(0)?.0,
                        updated_at: r.get(1)?,
                    })
                })
                .optional()
            })
            .ctx(self.path, "reading a base value")
    }
}
