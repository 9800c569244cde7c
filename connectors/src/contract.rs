//! The contract between the sync engine and a remote system.
//!
//! The engine speaks only these types. A [`Record`] is one remote record as the engine needs
//! it (its fields as JSON values, its modification time, whether it is deleted, merged or
//! converted); a [`Write`] is one change to make; a [`WriteOutcome`] says what became of it.
//! Values keep the API's own JSON types (HubSpot sends strings, Salesforce sends booleans and
//! numbers): turning them into canonical form is the engine's mapping, not the wire's.
//!
//! ## Pulling changes
//!
//! Each system exposes one or more *streams* (HubSpot: `contacts`; Salesforce: `Lead`,
//! `Contact` and its deletions), each ordered by the keyset `(modified_at, id)`. The engine
//! keeps a durable high-water [`Cursor`] per stream and polls like this:
//!
//! ```text
//! position = None
//! loop {
//!     page = connector.pull(&since, position.as_ref(), lookback)
//!     record page.records and since := max(since, page.position) in one transaction
//!     if page.done { break }
//!     position = Some(page.position)
//! }
//! ```
//!
//! With `position == None` the connector starts each stream at `since - lookback`, so records
//! that became visible late (search index lag, long transactions) are read again; the engine
//! recognises what it has already seen. With `Some(position)` it continues strictly after it.
//! How a connector gets there (HubSpot restarts its search before the 10,000-result cap,
//! Salesforce follows `nextRecordsUrl`) is its own business.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// The two remote systems truce keeps in agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// HubSpot (marketing).
    HubSpot,
    /// Salesforce (sales).
    Salesforce,
}

impl System {
    /// The lower-case name used in the store, logs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            System::HubSpot => "hubspot",
            System::Salesforce => "salesforce",
        }
    }

    /// The name as people write it, for messages.
    pub fn label(self) -> &'static str {
        match self {
            System::HubSpot => "HubSpot",
            System::Salesforce => "Salesforce",
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The kinds of record truce syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ObjectType {
    /// A HubSpot contact (`/crm/v3/objects/contacts`).
    HubSpotContact,
    /// A Salesforce Lead (key prefix `00Q`).
    SalesforceLead,
    /// A Salesforce Contact (key prefix `003`).
    SalesforceContact,
}

impl ObjectType {
    /// The API's own name for the object: `contacts`, `Lead`, `Contact`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::HubSpotContact => "contacts",
            ObjectType::SalesforceLead => "Lead",
            ObjectType::SalesforceContact => "Contact",
        }
    }

    /// The system that owns this object.
    pub fn system(self) -> System {
        match self {
            ObjectType::HubSpotContact => System::HubSpot,
            ObjectType::SalesforceLead | ObjectType::SalesforceContact => System::Salesforce,
        }
    }

    /// The field that holds the record's email address.
    pub fn email_field(self) -> &'static str {
        match self {
            ObjectType::HubSpotContact => "email",
            ObjectType::SalesforceLead | ObjectType::SalesforceContact => "Email",
        }
    }

    /// Parses the API's own name (`contacts`, `Lead`, `Contact`).
    pub fn parse(name: &str) -> Option<ObjectType> {
        match name {
            "contacts" => Some(ObjectType::HubSpotContact),
            "Lead" => Some(ObjectType::SalesforceLead),
            "Contact" => Some(ObjectType::SalesforceContact),
            _ => None,
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A keyset position in one change stream: `(modified_at, id)`, ordered by time then id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cursor {
    /// Modification time in milliseconds since the Unix epoch (UTC).
    pub modified_at: i64,
    /// The record id at that time; ties on `modified_at` are ordered by id.
    pub id: String,
}

/// Cursors by stream name (`contacts`, `Lead`, `Contact`, `Lead.deleted`...).
pub type Cursors = BTreeMap<String, Cursor>;

/// A Salesforce lead's conversion, as reported on the Lead.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Conversion {
    /// The Contact the lead became (`ConvertedContactId`).
    pub contact_id: Option<String>,
    /// The Account it was attached to (`ConvertedAccountId`).
    pub account_id: Option<String>,
}

/// One remote record, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Record {
    /// What kind of record this is; `None` only in `Default`.
    pub object: Option<ObjectType>,
    /// The record's id in its system.
    pub id: String,
    /// Last modification, ms since the epoch (HubSpot `lastmodifieddate`, Salesforce
    /// `SystemModstamp`).
    pub modified_at: i64,
    /// The mapped fields, with the API's own JSON types. A field the system returned as unset
    /// is `Value::Null`.
    pub fields: BTreeMap<String, Value>,
    /// Archived (HubSpot) or in the recycle bin (Salesforce `IsDeleted`).
    pub deleted: bool,
    /// HubSpot: the ids that were merged into this record (`hs_merged_object_ids`).
    pub merged_ids: Vec<String>,
    /// Salesforce: on a merge loser, the record that absorbed it (`MasterRecordId`).
    pub merged_into: Option<String>,
    /// Salesforce Lead: set once the lead is converted (`IsConverted`).
    pub converted: Option<Conversion>,
}

impl Record {
    /// The record's email address as the API holds it, when it has one.
    pub fn email(&self) -> Option<&str> {
        let field = self.object?.email_field();
        self.fields.get(field).and_then(Value::as_str)
    }

    /// The stream cursor this record stands at.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            modified_at: self.modified_at,
            id: self.id.clone(),
        }
    }
}

/// One page of an incremental pull.
#[derive(Debug, Clone, Default)]
pub struct PullPage {
    /// Records changed (or deleted) since the cursor, in keyset order per stream.
    pub records: Vec<Record>,
    /// Where this page ended, per stream. Pass it back to continue; merge it into the durable
    /// cursor with `max` once the page is recorded.
    pub position: Cursors,
    /// True when every stream is read up to now.
    pub done: bool,
}

/// One page of a full scan (backfill).
#[derive(Debug, Clone, Default)]
pub struct ScanPage {
    /// The records of this page.
    pub records: Vec<Record>,
    /// The token that resumes the scan after this page; `None` when the scan is complete.
    /// Tokens survive a restart: store them with the page.
    pub next: Option<String>,
}

/// The unique key a create is made idempotent on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertKey {
    /// The unique field (`email` in HubSpot, the external-id field in Salesforce).
    pub field: String,
    /// Its value for this record.
    pub value: String,
}

/// What a [`Write`] does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    /// Create a record. With `upsert_on`, the create is an upsert on that unique key, so a
    /// repeat after a crash updates instead of duplicating. Without it the caller must have
    /// looked for an existing record first.
    Create {
        /// The unique key to upsert on, when the system has one.
        upsert_on: Option<UpsertKey>,
    },
    /// Update the record with this id.
    Update {
        /// The record's id.
        id: String,
    },
    /// Delete (archive) the record with this id.
    Delete {
        /// The record's id.
        id: String,
    },
}

/// One change to make in a remote system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Write {
    /// The caller's key for this write (the outbox row), echoed in its [`WriteOutcome`].
    pub key: i64,
    /// The object written.
    pub object: ObjectType,
    /// Create, update or delete.
    pub op: WriteOp,
    /// The field values to set, with the target API's JSON types; `Value::Null` clears.
    pub fields: BTreeMap<String, Value>,
}

/// A write the system accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The record's id (new for a create).
    pub id: String,
    /// True when the write created the record.
    pub created: bool,
}

/// What became of one [`Write`].
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The [`Write::key`] this outcome answers.
    pub key: i64,
    /// Accepted, or the per-record error (its class says whether to retry).
    pub result: Result<Written, Error>,
}

/// The type of a remote field, as far as mapping needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldKind {
    /// Free text (text, textarea, phone, url...).
    String,
    /// An email address.
    Email,
    /// One value from a fixed list (HubSpot enumeration, Salesforce picklist).
    Enumeration,
    /// Several values from a fixed list (HubSpot checkbox, Salesforce multipicklist).
    MultiEnumeration,
    /// True or false.
    Bool,
    /// A number (integer, double, currency, percent).
    Number,
    /// A calendar date.
    Date,
    /// An instant in time.
    DateTime,
    /// An id of another record (owner, account).
    Reference,
    /// Anything else, with the API's own type name.
    Other(String),
}

/// What a system says about one of its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldInfo {
    /// API name (`lifecyclestage`, `LastName`).
    pub name: String,
    /// Label shown to people.
    pub label: String,
    /// The field's type.
    pub kind: FieldKind,
    /// A create without it fails.
    pub required: bool,
    /// Longest value accepted, when the system says.
    pub max_length: Option<u32>,
    /// Allowed values of an enumeration (internal values, not labels).
    pub options: Vec<String>,
    /// Flagged as an external id (Salesforce) or unique value (HubSpot).
    pub unique: bool,
    /// Writes to it are rejected.
    pub read_only: bool,
}

/// API usage against the daily allocation, as last reported by the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Calls used in the current day.
    pub used: u64,
    /// Calls allowed per day.
    pub limit: u64,
}

/// What the sync engine may ask of a remote system.
///
/// Implemented by the HubSpot and Salesforce connectors. Every method retries transient
/// failures internally (through [`crate::http`]); an `Err` means retrying did not help or
/// cannot help, and its class says which.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The system this connector talks to.
    fn system(&self) -> System;

    /// The objects this connector reads and writes.
    fn objects(&self) -> &[ObjectType];

    /// Pulls one page of changes since `since` (see the module docs for the loop).
    async fn pull(
        &self,
        since: &Cursors,
        position: Option<&Cursors>,
        lookback: Duration,
    ) -> Result<PullPage, Error>;

    /// Reads one page of every record of `object`, resuming after `resume` when given.
    async fn scan(&self, object: ObjectType, resume: Option<&str>) -> Result<ScanPage, Error>;

    /// Reads the records with these ids; ids that do not exist are left out.
    async fn fetch(&self, object: ObjectType, ids: &[String]) -> Result<Vec<Record>, Error>;

    /// Finds the records of every object of this system whose email is one of `emails`
    /// (compared case-insensitively).
    async fn find_by_email(&self, emails: &[String]) -> Result<Vec<Record>, Error>;

    /// Applies writes in as few calls as the API allows, returning one outcome per write.
    /// A failure of the whole call after retries is an `Err`; a record the API refused is an
    /// `Err` inside its outcome.
    async fn apply(&self, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, Error>;

    /// Describes the fields of `object`.
    async fn describe(&self, object: ObjectType) -> Result<Vec<FieldInfo>, Error>;

    /// The daily quota as last seen on the wire, when the system reports one.
    fn quota(&self) -> Option<Quota> {
        None
    }
}
