//! The sandbox's in-memory org: rows, ids, and the data operations the REST routes and the
//! control API share (create, update, delete, upsert, merge, replication windows).
//!
//! Rows hold every field of their object (unset ones as `null`), so a query projects any
//! field without special cases. Deleted rows stay with `IsDeleted = true` (the recycle
//! bin): `query` hides them, `queryAll` shows them. Datetimes are stored as Salesforce
//! prints them (`2024-06-01T10:00:00.000+0000`), at whole seconds, as Salesforce stores
//! `SystemModstamp`: that is why many records share one timestamp.
//!
//! Every write goes the same way: field validation from describe ([`validate`]), the
//! admin's validation rules, the duplicate rule, then what ties records together
//! ([`rules`]: checked references, unique fields, fields derived from the stage, one
//! primary contact role per Opportunity) and, after the row is written, its effects on
//! other rows. Deletes cascade as Salesforce's do (an Account takes its Contacts and
//! Opportunities to the recycle bin, an Opportunity its contact roles). Lead conversion
//! lives in [`convert`].

pub mod convert;
mod rules;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};

use super::errors::SfError;
use super::validate;

pub use super::objects::opportunity::Stage;
pub use super::objects::people::{CONVERTED_STATUS, LEAD_SOURCES, LEAD_STATUSES};
pub use super::objects::{ExternalIds, FieldDef, ObjectDef, schemas};
pub use convert::{LeadConvert, LeadConverted};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 18-character form of a 15-character id: three checksum characters, one per
/// five-character chunk, with bit `j` set when character `j` is upper-case.
pub fn id18(id15: &str) -> String {
    const MAP: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let mut out = id15.to_string();
    for chunk in id15.as_bytes().chunks(5) {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (j, _)| acc | (1 << j));
        out.push(MAP[bits] as char);
    }
    out
}

/// Formats a time as Salesforce prints datetimes.
pub fn format_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// The id every record is owned by unless told otherwise (the integration user).
pub fn default_owner() -> String {
    id18("0055g0000000001")
}

pub(crate) fn is_deleted(row: &Map<String, Value>) -> bool {
    row.get("IsDeleted") == Some(&Value::Bool(true))
}

pub(crate) fn row_id(row: &Map<String, Value>) -> String {
    row.get("Id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The data of the org.
#[derive(Debug, Clone)]
pub struct Org {
    defs: Vec<ObjectDef>,
    tables: BTreeMap<&'static str, BTreeMap<String, Map<String, Value>>>,
    next_id: u64,
    /// A pinned clock for tests; `None` follows the wall clock.
    pub pinned_now: Option<DateTime<Utc>>,
    /// Reject a second record with the same email (DUPLICATES_DETECTED).
    pub duplicate_rule_on_email: bool,
    /// The configured External ID fields.
    pub external_ids: ExternalIds,
    /// Validation rules an admin added (see [`ValidationRule`]).
    pub rules: Vec<ValidationRule>,
    /// Rows by the id a create-only reference field holds, per `(object, field)`: such a
    /// field never changes after the insert, so [`Org::children`] need not scan the table
    /// (a primary contact role looks up its Opportunity's other roles on every write, and
    /// the benchmark seeds tens of thousands of them).
    fixed_children: BTreeMap<(&'static str, String), HashMap<String, Vec<String>>>,
}

/// A custom validation rule: writes that leave `field` containing `forbidden`
/// (case-insensitively) fail with `FIELD_CUSTOM_VALIDATION_EXCEPTION` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationRule {
    /// The object the rule belongs to.
    pub object: String,
    /// The field the rule looks at (and names in its error).
    pub field: String,
    /// The text that makes a value invalid.
    pub forbidden: String,
    /// The error message shown to users.
    pub message: String,
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// Created a new record.
    Created(String),
    /// Updated the one match.
    Updated(String),
    /// Several records match (HTTP 300).
    Ambiguous(Vec<String>),
}

fn not_found() -> Vec<SfError> {
    vec![SfError::not_found()]
}

/// `INVALID_TYPE_FOR_OPERATION` for a call the object does not support (OpportunityStage
/// is read-only). [U] the exact text; this is the SOAP status code's documented meaning.
fn unsupported_call(def: &ObjectDef, verb: &str) -> Vec<SfError> {
    vec![SfError::new(
        "INVALID_TYPE_FOR_OPERATION",
        &format!("entity type cannot be {verb}: {}", def.label),
        &[],
    )]
}

impl Org {
    /// An empty org (but for its opportunity stages) with these External ID fields.
    pub fn new(external_ids: ExternalIds, duplicate_rule_on_email: bool) -> Org {
        let defs = schemas(&external_ids);
        let tables = defs.iter().map(|d| (d.name, BTreeMap::new())).collect();
        let mut org = Org {
            defs,
            tables,
            next_id: 1,
            pinned_now: None,
            duplicate_rule_on_email,
            external_ids,
            rules: Vec::new(),
            fixed_children: BTreeMap::new(),
        };
        org.seed_stages();
        org
    }

    /// The org's clock, at whole seconds.
    pub fn now(&self) -> DateTime<Utc> {
        self.pinned_now.unwrap_or_else(Utc::now).trunc_subsecs(0)
    }

    /// The schema of an object (exact, case-sensitive API name as Salesforce requires in
    /// URLs; SOQL resolves case-insensitively through [`Org::def_ci`]).
    pub fn def(&self, object: &str) -> Option<&ObjectDef> {
        self.defs.iter().find(|d| d.name == object)
    }

    /// The schema of an object named in any case.
    pub fn def_ci(&self, object: &str) -> Option<&ObjectDef> {
        self.defs
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(object))
    }

    /// Every object's schema.
    pub fn defs(&self) -> &[ObjectDef] {
        &self.defs
    }

    /// The object an id belongs to, by key prefix.
    pub fn object_of(&self, id: &str) -> Option<&'static str> {
        self.defs
            .iter()
            .find(|d| id.starts_with(d.prefix))
            .map(|d| d.name)
    }

    /// All rows of an object, in id order.
    pub fn rows(&self, object: &str) -> impl Iterator<Item = &Map<String, Value>> {
        self.tables.get(object).into_iter().flat_map(|t| t.values())
    }

    /// Normalises a 15- or 18-character id to the stored 18-character form.
    pub fn normalize_id(id: &str) -> Option<String> {
        match id.len() {
            15 if id.chars().all(|c| c.is_ascii_alphanumeric()) => Some(id18(id)),
            18 if id.chars().all(|c| c.is_ascii_alphanumeric()) => {
                let short = id.get(..15)?;
                Some(id18(short))
            }
            _ => None,
        }
    }

    /// One row by id (deleted rows included).
    pub fn get(&self, object: &str, id: &str) -> Option<&Map<String, Value>> {
        let id = Org::normalize_id(id)?;
        self.tables.get(object)?.get(&id)
    }

    /// The number of live (not deleted) rows of an object.
    pub fn count(&self, object: &str) -> usize {
        self.rows(object).filter(|r| !is_deleted(r)).count()
    }

    /// Ids of live rows of `object` whose `field` holds the id `target`.
    pub(crate) fn children(&self, object: &str, field: &str, target: &str) -> Vec<String> {
        // Covariance lets a borrowed object name look up a `'static` key.
        let fixed: &BTreeMap<(&str, String), HashMap<String, Vec<String>>> = &self.fixed_children;
        if let Some(index) = fixed.get(&(object, field.to_string())) {
            let holds = |row: &&Map<String, Value>| {
                !is_deleted(row) && row.get(field).and_then(Value::as_str) == Some(target)
            };
            return index
                .get(target)
                .into_iter()
                .flatten()
                .filter_map(|id| self.tables.get(object)?.get(id))
                .filter(holds)
                .map(row_id)
                .collect();
        }
        self.rows(object)
            .filter(|r| !is_deleted(r))
            .filter(|r| r.get(field).and_then(Value::as_str) == Some(target))
            .map(row_id)
            .collect()
    }

    fn new_id(&mut self, prefix: &str) -> String {
        let mut n = self.next_id;
        self.next_id += 1;
        let mut digits = [b'0'; 9];
        for d in digits.iter_mut().rev() {
            *d = BASE62[(n % 62) as usize];
            n /= 62;
        }
        let short = format!("{prefix}5g0{}", String::from_utf8_lossy(&digits));
        id18(&short)
    }

    /// Creates a record after validation, as the API does.
    pub fn create(
        &mut self,
        object: &str,
        fields: &Map<String, Value>,
    ) -> Result<String, Vec<SfError>> {
        let def = self.def(object).ok_or_else(not_found)?.clone();
        if !def.createable {
            return Err(unsupported_call(&def, "inserted"));
        }
        let clean = validate::check_write(&def, fields, None)?;
        self.check_rules(def.name, &clean)?;
        self.check_duplicates(&def, &clean, None)?;
        self.write_new(&def, clean)
    }

    /// Writes a new row of already validated fields: the cross-record rules, the row, then
    /// its effects on other rows. Lead conversion comes in here too.
    fn write_new(
        &mut self,
        def: &ObjectDef,
        mut clean: Map<String, Value>,
    ) -> Result<String, Vec<SfError>> {
        self.check_links(def, &mut clean, None)?;
        self.derive(def, &mut clean, None)?;
        let id = self.insert(def, clean.clone());
        self.after_write(def, &id, None, &clean);
        Ok(id)
    }

    fn insert(&mut self, def: &ObjectDef, fields: Map<String, Value>) -> String {
        let id = self.new_id(def.prefix);
        let now = format_datetime(self.now());
        let mut row: Map<String, Value> = def
            .fields
            .iter()
            .map(|f| {
                let initial = match (&f.default_value, f.ty) {
                    (Some(v), _) => Value::String(v.clone()),
                    (None, "boolean") => Value::Bool(false),
                    _ => Value::Null,
                };
                (f.name.clone(), initial)
            })
            .collect();
        if def.field("OwnerId").is_some() {
            row.insert("OwnerId".into(), Value::String(default_owner()));
        }
        row.extend(fields);
        row.insert("Id".into(), Value::String(id.clone()));
        row.insert("CreatedDate".into(), Value::String(now.clone()));
        row.insert("LastModifiedDate".into(), Value::String(now.clone()));
        row.insert("SystemModstamp".into(), Value::String(now));
        for f in def
            .fields
            .iter()
            .filter(|f| !f.updateable && !f.reference_to.is_empty())
        {
            let index = self
                .fixed_children
                .entry((def.name, f.name.clone()))
                .or_default();
            if let Some(target) = row.get(&f.name).and_then(Value::as_str) {
                index
                    .entry(target.to_string())
                    .or_default()
                    .push(id.clone());
            }
        }
        if let Some(table) = self.tables.get_mut(def.name) {
            table.insert(id.clone(), row);
        }
        id
    }

    fn check_duplicates(
        &self,
        def: &ObjectDef,
        fields: &Map<String, Value>,
        own_id: Option<&str>,
    ) -> Result<(), Vec<SfError>> {
        if !self.duplicate_rule_on_email || !matches!(def.name, "Lead" | "Contact") {
            return Ok(());
        }
        let Some(email) = fields.get("Email").and_then(Value::as_str) else {
            return Ok(());
        };
        let email = email.to_lowercase();
        let clash = self.rows(def.name).any(|r| {
            !is_deleted(r)
                && r.get("Id").and_then(Value::as_str) != own_id
                && r.get("Email")
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
                    .as_deref()
                    == Some(email.as_str())
        });
        if clash {
            Err(vec![SfError::new(
                "DUPLICATES_DETECTED",
                "Use one of these records?",
                &[],
            )])
        } else {
            Ok(())
        }
    }

    /// Updates a record after validation, bumping its modification stamps.
    pub fn update(
        &mut self,
        object: &str,
        id: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), Vec<SfError>> {
        let def = self.def(object).ok_or_else(not_found)?.clone();
        if !def.updateable {
            return Err(unsupported_call(&def, "updated"));
        }
        let row = self.live_row(object, id)?;
        if row.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(vec![SfError::new(
                "CANNOT_UPDATE_CONVERTED_LEAD",
                "cannot reference converted lead",
                &[],
            )]);
        }
        let mut clean = validate::check_write(&def, fields, Some(&row))?;
        self.check_rules(def.name, &clean)?;
        let rid = row_id(&row);
        if clean.contains_key("Email") {
            self.check_duplicates(&def, &clean, Some(&rid))?;
        }
        self.check_links(&def, &mut clean, Some(&rid))?;
        self.derive(&def, &mut clean, Some(&row))?;
        self.touch(object, &rid, clean.clone());
        self.after_write(&def, &rid, Some(&row), &clean);
        Ok(())
    }

    fn live_row(&self, object: &str, id: &str) -> Result<Map<String, Value>, Vec<SfError>> {
        let Some(norm) = Org::normalize_id(id) else {
            return Err(vec![SfError::new(
                "MALFORMED_ID",
                &format!("{object} ID: id value of incorrect type: {id}"),
                &["Id"],
            )]);
        };
        match self.tables.get(object).and_then(|t| t.get(&norm)) {
            Some(row) if is_deleted(row) => Err(vec![SfError::new(
                "ENTITY_IS_DELETED",
                "entity is deleted",
                &[],
            )]),
            Some(row) => Ok(row.clone()),
            None => Err(not_found()),
        }
    }

    /// Writes fields into a row and bumps its modification stamps.
    fn touch(&mut self, object: &str, id: &str, fields: Map<String, Value>) {
        let now = format_datetime(self.now());
        if let Some(row) = self.tables.get_mut(object).and_then(|t| t.get_mut(id)) {
            row.extend(fields);
            row.insert("LastModifiedDate".into(), Value::String(now.clone()));
            row.insert("SystemModstamp".into(), Value::String(now));
        }
    }

    /// Writes fields into a row without touching its stamps: for values Salesforce derives
    /// without counting it as a change of the record.
    fn set_silently(&mut self, object: &str, id: &str, fields: Map<String, Value>) {
        if let Some(row) = self.tables.get_mut(object).and_then(|t| t.get_mut(id)) {
            row.extend(fields);
        }
    }

    /// Moves a record to the recycle bin, with what Salesforce deletes along with it.
    pub fn delete(&mut self, object: &str, id: &str) -> Result<(), Vec<SfError>> {
        let def = self.def(object).ok_or_else(not_found)?.clone();
        if !def.deletable {
            return Err(unsupported_call(&def, "deleted"));
        }
        let row = self.live_row(object, id)?;
        let rid = row_id(&row);
        let mut f = Map::new();
        f.insert("IsDeleted".into(), Value::Bool(true));
        self.touch(object, &rid, f);
        self.after_delete(&def, &row);
        Ok(())
    }

    /// Upserts on an external-id field.
    pub fn upsert(
        &mut self,
        object: &str,
        ext_field: &str,
        value: &str,
        fields: &Map<String, Value>,
    ) -> Result<Upserted, Vec<SfError>> {
        let def = self.def(object).ok_or_else(not_found)?.clone();
        let Some(fdef) = def
            .field(ext_field)
            .filter(|f| f.external_id || f.name == "Id")
        else {
            return Err(vec![SfError::new(
                "NOT_FOUND",
                &format!(
                    "Provided external ID field does not exist or is not accessible: {ext_field}"
                ),
                &[],
            )]);
        };
        let ext_name = fdef.name.clone();
        let matches = self.find_by_value(object, &ext_name, value);
        let mut body = fields.clone();
        body.retain(|k, _| !k.eq_ignore_ascii_case(&ext_name));
        match matches.as_slice() {
            [] => {
                body.insert(ext_name, Value::String(value.to_string()));
                self.create(object, &body).map(Upserted::Created)
            }
            [id] => self
                .update(object, id, &body)
                .map(|()| Upserted::Updated(id.clone())),
            _ => Ok(Upserted::Ambiguous(matches)),
        }
    }

    /// Ids of live rows whose text `field` equals `value`, case-insensitively.
    pub fn find_by_value(&self, object: &str, field: &str, value: &str) -> Vec<String> {
        let lower = value.to_lowercase();
        self.rows(object)
            .filter(|r| !is_deleted(r))
            .filter(|r| {
                r.get(field)
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
                    .as_deref()
                    == Some(lower.as_str())
            })
            .map(row_id)
            .collect()
    }

    /// Merges `loser` into `master`: the loser goes to the recycle bin with
    /// `MasterRecordId`, blank master fields are filled from it, records that pointed to
    /// the loser point to the master, and the master is touched.
    pub fn merge(&mut self, object: &str, master: &str, loser: &str) -> Result<(), Vec<SfError>> {
        let def = self.def(object).ok_or_else(not_found)?.clone();
        if !def.mergeable {
            return Err(unsupported_call(&def, "merged"));
        }
        let master_row = self.live_row(object, master)?;
        let loser_row = self.live_row(object, loser)?;
        let mid = row_id(&master_row);
        let lid = row_id(&loser_row);
        let mut fill = Map::new();
        for f in def.fields.iter().filter(|f| f.updateable) {
            if master_row.get(&f.name).is_none_or(Value::is_null)
                && let Some(v) = loser_row.get(&f.name).filter(|v| !v.is_null())
            {
                fill.insert(f.name.clone(), v.clone());
            }
        }
        self.touch(object, &mid, fill);
        let mut gone = Map::new();
        gone.insert("IsDeleted".into(), Value::Bool(true));
        gone.insert("MasterRecordId".into(), Value::String(mid.clone()));
        self.touch(object, &lid, gone);
        self.reparent(object, &lid, &mid);
        Ok(())
    }

    fn check_rules(&self, object: &str, fields: &Map<String, Value>) -> Result<(), Vec<SfError>> {
        let broken: Vec<SfError> = self
            .rules
            .iter()
            .filter(|r| r.object == object)
            .filter(|r| {
                fields
                    .get(&r.field)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.to_lowercase().contains(&r.forbidden.to_lowercase()))
            })
            .map(|r| SfError::new("FIELD_CUSTOM_VALIDATION_EXCEPTION", &r.message, &[&r.field]))
            .collect();
        if broken.is_empty() {
            Ok(())
        } else {
            Err(broken)
        }
    }

    /// Ids of rows changed in `[start, end)` (the `updated` resource).
    pub fn updated_between(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Vec<String> {
        self.rows(object)
            .filter(|r| !is_deleted(r))
            .filter(|r| {
                r.get("SystemModstamp")
                    .and_then(Value::as_str)
                    .and_then(super::soql::parse_stored)
                    .is_some_and(|t| t >= start && t < end)
            })
            .map(row_id)
            .collect()
    }

    /// `(id, deletedDate)` of rows deleted in `[start, end)` (the `deleted` resource).
    pub fn deleted_between(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Vec<(String, String)> {
        self.rows(object)
            .filter(|r| is_deleted(r))
            .filter_map(|r| {
                let stamp = r.get("SystemModstamp").and_then(Value::as_str)?;
                let t = super::soql::parse_stored(stamp)?;
                let id = r.get("Id")?.as_str()?.to_string();
                (t >= start && t < end).then(|| (id, stamp.to_string()))
            })
            .collect()
    }
}

/// A JSON object literal as a field map.
pub(crate) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
