//! The records of one object type in memory, with the indexes HubSpot's behaviour needs.
//!
//! - `live` and `archived`, by id: the list endpoint pages through them in id order.
//! - `unique`: per unique property (contacts' `email`, case-insensitive, and every property
//!   created with `hasUniqueValue`, exact), value → id, for `idProperty` lookups and the
//!   uniqueness rule (409).
//! - `aliases`: merged-away id → surviving id, so old ids still resolve after a merge.
//! - the search index: `(modified ms, id)` → a snapshot of the record. Search reads only
//!   the index, which trails the store by `search_index_lag` (HubSpot's index lags writes by
//!   seconds), and keeps snapshots so a lagging index shows the old version.
//!
//! Every operation takes the time as a parameter; the sandbox passes its clock in ms, so a
//! burst of writes shares one millisecond the way real bursts do. What involves other
//! object types (associations, pipelines, owners, rules) is the portal's (`portal.rs`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::errors::{Invalid, WriteError};
use super::objects::ObjectType;
use super::schema::{LIFECYCLE_STAGES, Schema, iso};

/// One record, with its properties as HubSpot stores them (strings; unset = absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record id.
    pub id: u64,
    /// Set properties, including the maintained `createdate`, last-modified date and
    /// `hs_object_id` (and `hs_merged_object_ids` after a merge).
    pub props: BTreeMap<String, String>,
    /// `createdate` in ms.
    pub created_ms: i64,
    /// The last-modified date in ms.
    pub modified_ms: i64,
    /// When it was archived, in ms.
    pub archived_ms: Option<i64>,
}

impl Record {
    /// The record's email, when set (contacts).
    pub fn email(&self) -> Option<&str> {
        self.props.get("email").map(String::as_str)
    }
}

/// An index entry change waiting for the index lag to pass.
#[derive(Debug)]
struct Pending {
    visible_at: Instant,
    id: u64,
    doc: Option<Arc<Record>>,
}

/// Every record of one object type.
#[derive(Debug)]
pub struct Records {
    /// The type of the records.
    pub object: ObjectType,
    /// Property definitions and value checks.
    pub schema: Schema,
    live: BTreeMap<u64, Arc<Record>>,
    archived: BTreeMap<u64, Arc<Record>>,
    unique: HashMap<String, HashMap<String, u64>>,
    aliases: HashMap<u64, u64>,
    next_id: u64,
    index: BTreeMap<(i64, u64), Arc<Record>>,
    indexed_at: HashMap<u64, i64>,
    lag: Duration,
    pending: VecDeque<Pending>,
}

impl Records {
    /// No records of `object`; the search index trails writes by `lag`.
    pub fn new(object: ObjectType, lag: Duration) -> Records {
        Records {
            object,
            schema: Schema::of(object),
            live: BTreeMap::new(),
            archived: BTreeMap::new(),
            unique: HashMap::new(),
            aliases: HashMap::new(),
            next_id: object.first_id(),
            index: BTreeMap::new(),
            indexed_at: HashMap::new(),
            lag,
            pending: VecDeque::new(),
        }
    }

    /// Live (not archived) records.
    pub fn count(&self) -> usize {
        self.live.len()
    }

    /// Follows merge aliases to the id that now stands for `id`.
    pub fn resolve(&self, id: u64) -> u64 {
        let mut id = id;
        // Merges chain (a survivor can be merged again); the chain is short and acyclic.
        while let Some(next) = self.aliases.get(&id) {
            id = *next;
        }
        id
    }

    /// A live record by id (merged-away ids resolve to the survivor).
    pub fn get(&self, id: u64) -> Option<&Arc<Record>> {
        self.live.get(&self.resolve(id))
    }

    /// A live record by its own id only (merged-away ids are not followed).
    pub fn get_exact(&self, id: u64) -> Option<&Arc<Record>> {
        self.live.get(&id)
    }

    /// An archived record by id.
    pub fn get_archived(&self, id: u64) -> Option<&Arc<Record>> {
        self.archived.get(&id)
    }

    /// Whether `property` identifies records (`idProperty`): contacts' `email`, or a
    /// property created with `hasUniqueValue`.
    pub fn is_unique(&self, property: &str) -> bool {
        (self.object == ObjectType::Contacts && property == "email")
            || self
                .schema
                .get(property)
                .is_some_and(|p| p.has_unique_value)
    }

    fn unique_properties(&self) -> Vec<String> {
        let mut names = self.schema.unique_names();
        if self.object == ObjectType::Contacts {
            names.push("email".to_string());
        }
        names
    }

    /// The index key of a unique value: emails compare case-insensitively, other unique
    /// values exactly (a Salesforce id is case-sensitive).
    fn unique_key(property: &str, value: &str) -> String {
        if property == "email" {
            value.trim().to_lowercase()
        } else {
            value.trim().to_string()
        }
    }

    /// A live record by a unique property's value.
    pub fn by_unique(&self, property: &str, value: &str) -> Option<&Arc<Record>> {
        let id = self
            .unique
            .get(property)?
            .get(&Records::unique_key(property, value))?;
        self.get(*id)
    }

    /// A live contact by email, case-insensitively.
    pub fn by_email(&self, email: &str) -> Option<&Arc<Record>> {
        self.by_unique("email", email)
    }

    /// Every live record in id order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Record>> {
        self.live.values()
    }

    /// One page of the list endpoint: up to `limit` records with id ≥ `from`, and the id
    /// the next page starts at.
    pub fn page(&self, from: u64, limit: usize, archived: bool) -> (Vec<Arc<Record>>, Option<u64>) {
        let map = if archived { &self.archived } else { &self.live };
        let mut iter = map.range(from..);
        let page: Vec<Arc<Record>> = iter.by_ref().take(limit).map(|(_, c)| c.clone()).collect();
        let next = iter.next().map(|(id, _)| *id);
        (page, next)
    }

    /// Checks every property of a write; returns the values as stored.
    pub fn validate(
        &self,
        props: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, WriteError> {
        let mut clean = BTreeMap::new();
        let mut invalid: Vec<Invalid> = Vec::new();
        for (name, value) in props {
            match self.schema.check(name, value) {
                Ok(v) => {
                    clean.insert(name.clone(), v);
                }
                Err(e) => invalid.push(e),
            }
        }
        if invalid.is_empty() {
            Ok(clean)
        } else {
            Err(WriteError::Invalid(invalid))
        }
    }

    fn unique_owner(&self, property: &str, value: &str) -> Option<u64> {
        self.unique
            .get(property)?
            .get(&Records::unique_key(property, value))
            .map(|id| self.resolve(*id))
            .filter(|id| self.live.contains_key(id))
    }

    /// Refuses checked values that another live record (not `except`) already holds in a
    /// unique property: HubSpot's 409.
    pub fn check_conflicts(
        &self,
        clean: &BTreeMap<String, String>,
        except: Option<u64>,
    ) -> Result<(), WriteError> {
        let except = except.map(|id| self.resolve(id));
        for property in self.unique_properties() {
            if let Some(value) = clean.get(&property).filter(|v| !v.is_empty())
                && let Some(existing) = self.unique_owner(&property, value)
                && Some(existing) != except
            {
                return Err(WriteError::Conflict {
                    object: self.object,
                    existing,
                });
            }
        }
        Ok(())
    }

    /// Creates a record (HubSpot rules: valid values, unique values). The portal creates
    /// through [`Records::create_clean`] after its own checks; this is the tests' shortcut.
    #[cfg(test)]
    pub fn create(
        &mut self,
        props: &BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Arc<Record>, WriteError> {
        let clean = self.validate(props)?;
        self.create_clean(clean, now_ms)
    }

    /// Creates a record from already-checked values (see [`Records::create`]).
    pub fn create_clean(
        &mut self,
        clean: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Arc<Record>, WriteError> {
        self.check_conflicts(&clean, None)?;
        let stored: BTreeMap<String, String> =
            clean.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let id = self.insert_seeded(stored, now_ms);
        self.live
            .get(&id)
            .cloned()
            .ok_or_else(|| WriteError::NotFound(id.to_string()))
    }

    /// Inserts a record built elsewhere (seeding), bypassing validation; returns its id.
    pub fn insert_seeded(&mut self, mut props: BTreeMap<String, String>, created_ms: i64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        props.insert("hs_object_id".into(), id.to_string());
        props.insert("createdate".into(), iso(created_ms));
        props.insert(self.object.modified_property().into(), iso(created_ms));
        self.put(Record {
            id,
            props,
            created_ms,
            modified_ms: created_ms,
            archived_ms: None,
        });
        id
    }

    /// Updates a record: `""` clears; `lifecyclestage` only moves forward (a backward
    /// write is ignored, as HubSpot does, unless the stage was cleared first). Moves the
    /// last-modified date to `now_ms` when anything changed. The portal updates through
    /// [`Records::update_clean`] after its own checks; this is the tests' shortcut.
    #[cfg(test)]
    pub fn update(
        &mut self,
        id: u64,
        props: &BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Arc<Record>, WriteError> {
        let clean = self.validate(props)?;
        self.update_clean(id, clean, now_ms)
    }

    /// Applies already-checked values (see [`Records::update`]).
    pub fn update_clean(
        &mut self,
        id: u64,
        clean: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Arc<Record>, WriteError> {
        let id = self.resolve(id);
        let Some(current) = self.live.get(&id).cloned() else {
            return Err(WriteError::NotFound(id.to_string()));
        };
        self.check_conflicts(&clean, Some(id))?;
        let mut next = (*current).clone();
        let mut changed = false;
        for (name, value) in clean {
            if name == "lifecyclestage" && is_backward(next.props.get(&name), &value) {
                continue;
            }
            let old = next.props.get(&name);
            if value.is_empty() {
                changed |= old.is_some();
                next.props.remove(&name);
            } else if old != Some(&value) {
                changed = true;
                next.props.insert(name, value);
            }
        }
        if !changed {
            return Ok(current);
        }
        next.modified_ms = now_ms;
        next.props
            .insert(self.object.modified_property().into(), iso(now_ms));
        self.forget_unique(&current);
        Ok(self.put(next))
    }

    /// Archives a record; unknown ids are ignored (HubSpot answers 204 either way). The
    /// last-modified date does not move: HubSpot only sets `archivedAt`.
    pub fn archive(&mut self, id: u64, now_ms: i64) -> Option<Arc<Record>> {
        let id = self.resolve(id);
        let current = self.live.remove(&id)?;
        self.forget_unique(&current);
        let mut gone = (*current).clone();
        gone.archived_ms = Some(now_ms);
        let gone = Arc::new(gone);
        self.archived.insert(id, gone.clone());
        self.reindex(id, None);
        Some(gone)
    }

    /// Merges `other` into `primary`: a new record with a new id takes the primary's values
    /// (blanks filled from the other), both old ids resolve to it, and
    /// `hs_merged_object_ids` lists them.
    pub fn merge(
        &mut self,
        primary: u64,
        other: u64,
        now_ms: i64,
    ) -> Result<Arc<Record>, WriteError> {
        let (primary, other) = (self.resolve(primary), self.resolve(other));
        let Some(a) = self.live.get(&primary).cloned() else {
            return Err(WriteError::NotFound(primary.to_string()));
        };
        let Some(b) = self.live.get(&other).cloned() else {
            return Err(WriteError::NotFound(other.to_string()));
        };
        if primary == other {
            return Err(WriteError::Invalid(vec![Invalid {
                code: "INVALID_MERGE",
                message: format!("Cannot merge a {} with itself", self.object.singular()),
                property: "objectIdToMerge".into(),
            }]));
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut props = b.props.clone();
        // Unique values other than emails stay with the primary record only.
        for property in self.schema.unique_names() {
            props.remove(&property);
        }
        props.extend(a.props.clone());
        let mut merged: Vec<String> = Vec::new();
        for c in [&a, &b] {
            if let Some(earlier) = c.props.get("hs_merged_object_ids") {
                merged.extend(
                    earlier
                        .split(';')
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                );
            }
            merged.push(c.id.to_string());
        }
        props.insert("hs_merged_object_ids".into(), merged.join(";"));
        props.insert("hs_object_id".into(), id.to_string());
        props.insert(self.object.modified_property().into(), iso(now_ms));
        for c in [&a, &b] {
            self.live.remove(&c.id);
            self.reindex(c.id, None);
            self.aliases.insert(c.id, id);
            self.forget_unique(c);
        }
        let survivor = self.put(Record {
            id,
            props,
            created_ms: a.created_ms,
            modified_ms: now_ms,
            archived_ms: None,
        });
        // The merged-away email stays an address of the survivor.
        if let Some(email) = b.email() {
            self.unique
                .entry("email".into())
                .or_default()
                .insert(Records::unique_key("email", email), id);
        }
        Ok(survivor)
    }

    fn forget_unique(&mut self, record: &Record) {
        for property in self.unique_properties() {
            if let Some(value) = record.props.get(&property)
                && let Some(values) = self.unique.get_mut(&property)
            {
                let key = Records::unique_key(&property, value);
                if values.get(&key) == Some(&record.id) {
                    values.remove(&key);
                }
            }
        }
    }

    fn put(&mut self, record: Record) -> Arc<Record> {
        let record = Arc::new(record);
        for property in self.unique_properties() {
            if let Some(value) = record.props.get(&property) {
                self.unique
                    .entry(property.clone())
                    .or_default()
                    .insert(Records::unique_key(&property, value), record.id);
            }
        }
        self.live.insert(record.id, record.clone());
        self.reindex(record.id, Some(record.clone()));
        record
    }

    fn reindex(&mut self, id: u64, doc: Option<Arc<Record>>) {
        if self.lag.is_zero() {
            self.apply_index(id, doc);
        } else {
            self.pending.push_back(Pending {
                visible_at: Instant::now() + self.lag,
                id,
                doc,
            });
        }
    }

    fn apply_index(&mut self, id: u64, doc: Option<Arc<Record>>) {
        if let Some(old) = self.indexed_at.remove(&id) {
            self.index.remove(&(old, id));
        }
        if let Some(doc) = doc {
            self.indexed_at.insert(id, doc.modified_ms);
            self.index.insert((doc.modified_ms, id), doc);
        }
    }

    /// Moves the search index up to `now` (applies the changes whose lag has passed).
    pub fn catch_up_index(&mut self, now: Instant) {
        while self.pending.front().is_some_and(|p| p.visible_at <= now) {
            if let Some(p) = self.pending.pop_front() {
                self.apply_index(p.id, p.doc);
            }
        }
    }

    /// The search index from `(modified_ms, id)` on, in that order.
    pub fn index_from(&self, from_ms: i64) -> impl Iterator<Item = &Arc<Record>> {
        self.index.range((from_ms, 0)..).map(|(_, c)| c)
    }
}

fn is_backward(current: Option<&String>, new: &str) -> bool {
    let rank = |stage: &str| LIFECYCLE_STAGES.iter().position(|s| *s == stage);
    match (current.and_then(|c| rank(c)), rank(new)) {
        (Some(from), Some(to)) => to < from,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lifecycle_stage_only_moves_forward_unless_cleared_first() {
        let mut store = Records::new(ObjectType::Contacts, Duration::ZERO);
        let c = store
            .create(
                &props(&[("email", "a@x.com"), ("lifecyclestage", "customer")]),
                1,
            )
            .unwrap();
        let after = store
            .update(c.id, &props(&[("lifecyclestage", "lead")]), 2)
            .unwrap();
        assert_eq!(after.props["lifecyclestage"], "customer");
        store
            .update(c.id, &props(&[("lifecyclestage", "")]), 3)
            .unwrap();
        let after = store
            .update(c.id, &props(&[("lifecyclestage", "lead")]), 4)
            .unwrap();
        assert_eq!(after.props["lifecyclestage"], "lead");
    }

    #[test]
    fn duplicate_email_is_a_conflict_naming_the_existing_id() {
        let mut store = Records::new(ObjectType::Contacts, Duration::ZERO);
        let c = store.create(&props(&[("email", "A@x.com")]), 1).unwrap();
        let err = store
            .create(&props(&[("email", "a@X.com")]), 2)
            .unwrap_err();
        assert_eq!(
            err,
            WriteError::Conflict {
                object: ObjectType::Contacts,
                existing: c.id
            }
        );
    }

    #[test]
    fn merged_ids_resolve_to_the_new_record() {
        let mut store = Records::new(ObjectType::Contacts, Duration::ZERO);
        let a = store.create(&props(&[("email", "a@x.com")]), 1).unwrap();
        let b = store
            .create(&props(&[("email", "b@x.com"), ("city", "Oslo")]), 1)
            .unwrap();
        let m = store.merge(a.id, b.id, 5).unwrap();
        assert_ne!(m.id, a.id);
        assert_eq!(store.get(a.id).unwrap().id, m.id);
        assert_eq!(store.get(b.id).unwrap().id, m.id);
        assert_eq!(m.props["email"], "a@x.com");
        assert_eq!(m.props["city"], "Oslo");
        assert_eq!(
            m.props["hs_merged_object_ids"],
            format!("{};{}", a.id, b.id)
        );
        assert_eq!(store.by_email("b@x.com").unwrap().id, m.id);
    }
}
