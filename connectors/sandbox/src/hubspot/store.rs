//! The sandbox's data: contacts in memory, with the indexes HubSpot's behaviour needs.
//!
//! - `live` and `archived`, by id: the list endpoint pages through them in id order.
//! - `emails`: lower-cased email → id, for `idProperty=email` and the uniqueness rule (409).
//! - `aliases`: merged-away id → surviving id, so old ids still resolve after a merge.
//! - the search index: `(lastmodifieddate ms, id)` → a snapshot of the contact. Search reads
//!   only the index, which trails the store by `search_index_lag` (HubSpot's index lags
//!   writes by seconds), and keeps snapshots so a lagging index shows the old version.
//!
//! Every operation takes the time as a parameter; the sandbox passes the wall clock in ms,
//! so a burst of writes shares one millisecond the way real bursts do.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::errors::{Invalid, WriteError};
use super::schema::{LIFECYCLE_STAGES, Schema, iso};

/// One contact, with its properties as HubSpot stores them (strings; unset = absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// The record id.
    pub id: u64,
    /// Set properties, including the maintained `createdate`, `lastmodifieddate`,
    /// `hs_object_id` (and `hs_merged_object_ids` after a merge).
    pub props: BTreeMap<String, String>,
    /// `createdate` in ms.
    pub created_ms: i64,
    /// `lastmodifieddate` in ms.
    pub modified_ms: i64,
    /// When it was archived, in ms.
    pub archived_ms: Option<i64>,
}

impl Contact {
    /// The contact's email, when set.
    pub fn email(&self) -> Option<&str> {
        self.props.get("email").map(String::as_str)
    }
}

/// An index entry change waiting for the index lag to pass.
#[derive(Debug)]
struct Pending {
    visible_at: Instant,
    id: u64,
    doc: Option<Arc<Contact>>,
}

/// All contacts of the sandbox portal.
#[derive(Debug)]
pub struct Store {
    /// Property definitions and value checks.
    pub schema: Schema,
    live: BTreeMap<u64, Arc<Contact>>,
    archived: BTreeMap<u64, Arc<Contact>>,
    emails: HashMap<String, u64>,
    aliases: HashMap<u64, u64>,
    next_id: u64,
    index: BTreeMap<(i64, u64), Arc<Contact>>,
    indexed_at: HashMap<u64, i64>,
    lag: Duration,
    pending: VecDeque<Pending>,
}

/// The first id the sandbox hands out.
pub const FIRST_ID: u64 = 1001;

impl Store {
    /// An empty portal whose search index trails writes by `lag`.
    pub fn new(lag: Duration) -> Store {
        Store {
            schema: Schema::contacts(),
            live: BTreeMap::new(),
            archived: BTreeMap::new(),
            emails: HashMap::new(),
            aliases: HashMap::new(),
            next_id: FIRST_ID,
            index: BTreeMap::new(),
            indexed_at: HashMap::new(),
            lag,
            pending: VecDeque::new(),
        }
    }

    /// Live (not archived) contacts.
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

    /// A live contact by id (merged-away ids resolve to the survivor).
    pub fn get(&self, id: u64) -> Option<&Arc<Contact>> {
        self.live.get(&self.resolve(id))
    }

    /// An archived contact by id.
    pub fn get_archived(&self, id: u64) -> Option<&Arc<Contact>> {
        self.archived.get(&id)
    }

    /// A live contact by email, case-insensitively.
    pub fn by_email(&self, email: &str) -> Option<&Arc<Contact>> {
        let id = self.emails.get(&email.trim().to_lowercase())?;
        self.get(*id)
    }

    /// Every live contact in id order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Contact>> {
        self.live.values()
    }

    /// One page of the list endpoint: up to `limit` contacts with id ≥ `from`, and the id
    /// the next page starts at.
    pub fn page(
        &self,
        from: u64,
        limit: usize,
        archived: bool,
    ) -> (Vec<Arc<Contact>>, Option<u64>) {
        let map = if archived { &self.archived } else { &self.live };
        let mut iter = map.range(from..);
        let page: Vec<Arc<Contact>> = iter.by_ref().take(limit).map(|(_, c)| c.clone()).collect();
        let next = iter.next().map(|(id, _)| *id);
        (page, next)
    }

    /// Checks every property of a write; returns the values as stored.
    fn validate(
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

    fn email_owner(&self, email: &str) -> Option<u64> {
        self.emails
            .get(&email.trim().to_lowercase())
            .map(|id| self.resolve(*id))
            .filter(|id| self.live.contains_key(id))
    }

    /// Checks a create without making it (all-or-nothing batches check every input first).
    pub fn check_create(&self, props: &BTreeMap<String, String>) -> Result<(), WriteError> {
        let clean = self.validate(props)?;
        match clean
            .get("email")
            .filter(|e| !e.is_empty())
            .and_then(|e| self.email_owner(e))
        {
            Some(existing) => Err(WriteError::Conflict { existing }),
            None => Ok(()),
        }
    }

    /// Checks an update without making it.
    pub fn check_update(
        &self,
        id: u64,
        props: &BTreeMap<String, String>,
    ) -> Result<(), WriteError> {
        let id = self.resolve(id);
        let clean = self.validate(props)?;
        match clean
            .get("email")
            .filter(|e| !e.is_empty())
            .and_then(|e| self.email_owner(e))
        {
            Some(existing) if existing != id => Err(WriteError::Conflict { existing }),
            _ => Ok(()),
        }
    }

    /// Creates a contact (HubSpot rules: valid values, unique email).
    pub fn create(
        &mut self,
        props: &BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Arc<Contact>, WriteError> {
        let clean = self.validate(props)?;
        if let Some(email) = clean.get("email").filter(|e| !e.is_empty())
            && let Some(existing) = self.email_owner(email)
        {
            return Err(WriteError::Conflict { existing });
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut stored: BTreeMap<String, String> =
            clean.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        stored.insert("hs_object_id".into(), id.to_string());
        stored.insert("createdate".into(), iso(now_ms));
        stored.insert("lastmodifieddate".into(), iso(now_ms));
        let contact = Contact {
            id,
            props: stored,
            created_ms: now_ms,
            modified_ms: now_ms,
            archived_ms: None,
        };
        Ok(self.put(contact))
    }

    /// Inserts a contact built elsewhere (seeding), bypassing validation.
    pub fn insert_seeded(&mut self, mut props: BTreeMap<String, String>, created_ms: i64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        props.insert("hs_object_id".into(), id.to_string());
        props.insert("createdate".into(), iso(created_ms));
        props.insert("lastmodifieddate".into(), iso(created_ms));
        self.put(Contact {
            id,
            props,
            created_ms,
            modified_ms: created_ms,
            archived_ms: None,
        });
        id
    }

    /// Updates a contact: `""` clears; `lifecyclestage` only moves forward (a backward
    /// write is ignored, as HubSpot does, unless the stage was cleared first). Bumps
    /// `lastmodifieddate` to `now_ms` when anything changed.
    pub fn update(
        &mut self,
        id: u64,
        props: &BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Arc<Contact>, WriteError> {
        let clean = self.validate(props)?;
        self.update_clean(id, clean, now_ms)
    }

    /// Applies already-checked values (see [`Store::update`]).
    fn update_clean(
        &mut self,
        id: u64,
        clean: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Arc<Contact>, WriteError> {
        let id = self.resolve(id);
        let Some(current) = self.live.get(&id).cloned() else {
            return Err(WriteError::NotFound(id.to_string()));
        };
        if let Some(email) = clean.get("email").filter(|e| !e.is_empty())
            && let Some(existing) = self.email_owner(email)
            && existing != id
        {
            return Err(WriteError::Conflict { existing });
        }
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
        next.props.insert("lastmodifieddate".into(), iso(now_ms));
        if let Some(old) = current.email() {
            self.emails.remove(&old.to_lowercase());
        }
        Ok(self.put(next))
    }

    /// Archives a contact; unknown ids are ignored (HubSpot answers 204 either way).
    pub fn archive(&mut self, id: u64, now_ms: i64) -> Option<Arc<Contact>> {
        let id = self.resolve(id);
        let current = self.live.remove(&id)?;
        if let Some(email) = current.email() {
            self.emails.remove(&email.to_lowercase());
        }
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
    ) -> Result<Arc<Contact>, WriteError> {
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
                message: "Cannot merge a contact with itself".into(),
                property: "objectIdToMerge".into(),
            }]));
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut props = b.props.clone();
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
        props.insert("lastmodifieddate".into(), iso(now_ms));
        for c in [&a, &b] {
            self.live.remove(&c.id);
            self.reindex(c.id, None);
            self.aliases.insert(c.id, id);
            if let Some(email) = c.email() {
                self.emails.remove(&email.to_lowercase());
            }
        }
        let survivor = self.put(Contact {
            id,
            props,
            created_ms: a.created_ms,
            modified_ms: now_ms,
            archived_ms: None,
        });
        // The merged-away email stays an address of the survivor.
        if let Some(email) = b.email() {
            self.emails.insert(email.to_lowercase(), id);
        }
        Ok(survivor)
    }

    fn put(&mut self, contact: Contact) -> Arc<Contact> {
        let contact = Arc::new(contact);
        if let Some(email) = contact.email() {
            self.emails.insert(email.to_lowercase(), contact.id);
        }
        self.live.insert(contact.id, contact.clone());
        self.reindex(contact.id, Some(contact.clone()));
        contact
    }

    fn reindex(&mut self, id: u64, doc: Option<Arc<Contact>>) {
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

    fn apply_index(&mut self, id: u64, doc: Option<Arc<Contact>>) {
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
    pub fn index_from(&self, from_ms: i64) -> impl Iterator<Item = &Arc<Contact>> {
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
        let mut store = Store::new(Duration::ZERO);
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
        let mut store = Store::new(Duration::ZERO);
        let c = store.create(&props(&[("email", "A@x.com")]), 1).unwrap();
        let err = store
            .create(&props(&[("email", "a@X.com")]), 2)
            .unwrap_err();
        assert_eq!(err, WriteError::Conflict { existing: c.id });
    }

    #[test]
    fn merged_ids_resolve_to_the_new_record() {
        let mut store = Store::new(Duration::ZERO);
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
