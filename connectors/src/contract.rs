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
//! Each system exposes one or more *streams* (HubSpot: `contacts`; Salesforce: one per
//! object, deletions included, and `OpportunityContactRole`), each ordered by the keyset
//! `(modified_at, id)`. The engine
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

/// The kinds of record truce reads and writes, one per object of each API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ObjectType {
    /// A HubSpot contact (object type `0-1`).
    HubSpotContact,
    /// A HubSpot company (`0-2`).
    HubSpotCompany,
    /// A HubSpot deal (`0-3`).
    HubSpotDeal,
    /// A Salesforce Lead (key prefix `00Q`).
    SalesforceLead,
    /// A Salesforce Contact (key prefix `003`).
    SalesforceContact,
    /// A Salesforce Account (key prefix `001`).
    SalesforceAccount,
    /// A Salesforce Opportunity (key prefix `006`).
    SalesforceOpportunity,
    /// A Salesforce OpportunityContactRole (key prefix `00K`): one contact's role on one
    /// Opportunity, a record of its own with its own `SystemModstamp`.
    SalesforceContactRole,
}

impl ObjectType {
    /// Every object type, HubSpot's first.
    pub const ALL: [ObjectType; 8] = [
        ObjectType::HubSpotContact,
        ObjectType::HubSpotCompany,
        ObjectType::HubSpotDeal,
        ObjectType::SalesforceLead,
        ObjectType::SalesforceContact,
        ObjectType::SalesforceAccount,
        ObjectType::SalesforceOpportunity,
        ObjectType::SalesforceContactRole,
    ];

    /// The API's own name for the object: `contacts`, `companies`, `Lead`, `Account`...
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::HubSpotContact => "contacts",
            ObjectType::HubSpotCompany => "companies",
            ObjectType::HubSpotDeal => "deals",
            ObjectType::SalesforceLead => "Lead",
            ObjectType::SalesforceContact => "Contact",
            ObjectType::SalesforceAccount => "Account",
            ObjectType::SalesforceOpportunity => "Opportunity",
            ObjectType::SalesforceContactRole => "OpportunityContactRole",
        }
    }

    /// The system that owns this object.
    pub fn system(self) -> System {
        match self {
            ObjectType::HubSpotContact | ObjectType::HubSpotCompany | ObjectType::HubSpotDeal => {
                System::HubSpot
            }
            ObjectType::SalesforceLead
            | ObjectType::SalesforceContact
            | ObjectType::SalesforceAccount
            | ObjectType::SalesforceOpportunity
            | ObjectType::SalesforceContactRole => System::Salesforce,
        }
    }

    /// Parses the API's own name (`contacts`, `Lead`, `OpportunityContactRole`...).
    pub fn parse(name: &str) -> Option<ObjectType> {
        ObjectType::ALL.into_iter().find(|o| o.as_str() == name)
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
    /// The Opportunity the conversion created or joined (`ConvertedOpportunityId`), if any.
    pub opportunity_id: Option<String>,
}

/// Where a deal stands, as its system reports it (HubSpot `hs_is_closed`,
/// `hs_is_closed_won`, `amount`; Salesforce `IsClosed`, `IsWon`, `Amount`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DealOutcome {
    /// The deal is closed (won or lost).
    pub closed: bool,
    /// The deal is won.
    pub won: bool,
    /// Its amount as a plain decimal (`"1500.5"`), when it has one.
    pub amount: Option<String>,
}

/// One remote record, as the engine sees it.
///
/// What the engine needs beyond field values arrives typed: the person's email, deletion,
/// merges and conversion. The connector reads them from its API's own fields
/// (`IsConverted`, `MasterRecordId`, `hs_merged_object_ids`...), so no vendor field name
/// crosses the contract.
///
/// Associations travel as fields named after them, starting with `@`: `@company` holds one
/// record id (a JSON string, or null), `@contacts` a JSON array of ids. A Salesforce
/// reference field (`AccountId`) is an ordinary field holding an id; a Salesforce set held
/// by child records (an Opportunity's `OpportunityContactRole`s) is a JSON array of the
/// related ids under the child object's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// What kind of record this is.
    pub object: ObjectType,
    /// The record's id in its system; never empty (a record without one is [`Rejected`]).
    pub id: String,
    /// Last modification, ms since the epoch (HubSpot `lastmodifieddate`, Salesforce
    /// `SystemModstamp`); read from the API, never defaulted (a record without one is
    /// [`Rejected`]).
    pub modified_at: i64,
    /// The requested fields, with the API's own JSON types. A field the system returned as
    /// unset is `Value::Null`.
    pub fields: BTreeMap<String, Value>,
    /// The person's email as the API holds it, for the objects that carry one (HubSpot
    /// contacts, Salesforce Leads and Contacts).
    pub email: Option<String>,
    /// What people call the record, for objects named rather than emailed (a company's or
    /// an Account's name, a deal's or an Opportunity's name).
    pub name: Option<String>,
    /// A company's web domain as the API holds it (HubSpot `domain`, Salesforce `Website`,
    /// which may be a whole URL): the engine normalises it for matching.
    pub domain: Option<String>,
    /// Archived (HubSpot) or in the recycle bin (Salesforce `IsDeleted`).
    pub deleted: bool,
    /// The ids that were merged into this record (HubSpot).
    pub merged_ids: Vec<String>,
    /// On a merge loser, the record that absorbed it (Salesforce).
    pub merged_into: Option<String>,
    /// Set once a Salesforce lead is converted: the records it became.
    pub converted: Option<Conversion>,
    /// For a deal or an Opportunity: where it stands (closed, won, amount).
    pub outcome: Option<DealOutcome>,
}

impl Record {
    /// A live record with these fields and nothing else known about it.
    pub fn new(
        object: ObjectType,
        id: impl Into<String>,
        modified_at: i64,
        fields: BTreeMap<String, Value>,
    ) -> Record {
        Record {
            object,
            id: id.into(),
            modified_at,
            fields,
            email: None,
            name: None,
            domain: None,
            deleted: false,
            merged_ids: Vec::new(),
            merged_into: None,
            converted: None,
            outcome: None,
        }
    }

    /// The stream cursor this record stands at.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            modified_at: self.modified_at,
            id: self.id.clone(),
        }
    }
}

/// A record the API returned that cannot be read as a [`Record`]: no id, no or an
/// unparsable modification time, a body of the wrong shape. Reported per record so one bad
/// row never stops a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The object it was read as.
    pub object: ObjectType,
    /// Its id, when it had one.
    pub id: Option<String>,
    /// What is wrong with it, naming the field at fault.
    pub reason: String,
}

/// Splits rows an API returned into records and the rows that are not records.
pub(crate) fn split_rows<R>(
    rows: Vec<R>,
    mut read: impl FnMut(R) -> Result<Record, Rejected>,
) -> (Vec<Record>, Vec<Rejected>) {
    let mut records = Vec::with_capacity(rows.len());
    let mut rejected = Vec::new();
    for row in rows {
        match read(row) {
            Ok(record) => records.push(record),
            Err(row) => rejected.push(row),
        }
    }
    (records, rejected)
}

/// Records read by id or by a lookup, with the rows that could not be read.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The records found.
    pub records: Vec<Record>,
    /// Rows the API returned that are not readable records.
    pub rejected: Vec<Rejected>,
}

/// One page of an incremental pull.
#[derive(Debug, Clone, Default)]
pub struct PullPage {
    /// Records changed (or deleted) since the cursor, in keyset order per stream.
    pub records: Vec<Record>,
    /// Rows of this page that are not readable records.
    pub rejected: Vec<Rejected>,
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
    /// Rows of this page that are not readable records.
    pub rejected: Vec<Rejected>,
    /// The token that resumes the scan after this page; `None` when the scan is complete.
    /// Tokens survive a restart: store them with the page.
    pub next: Option<String>,
}

/// The unique key a create is made idempotent on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpsertKey {
    /// The person's email: the system's own unique key for people (HubSpot contacts).
    Email(String),
    /// A unique field of the object (a Salesforce external-id field, a HubSpot
    /// unique-value property) and its value for this record.
    Field {
        /// The field's API name.
        field: String,
        /// Its value for this record.
        value: String,
    },
}

impl UpsertKey {
    /// The key's value for this record.
    pub fn value(&self) -> &str {
        match self {
            UpsertKey::Email(value) | UpsertKey::Field { value, .. } => value,
        }
    }
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
        /// The caller created the record and has set none of its associations since: it
        /// has none, so the connector writes the association fields without reading the
        /// record's current ones first.
        no_associations: bool,
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
    /// A part of an accepted write that the system refused. Only a create reports one:
    /// its record exists (and `result` carries its id, so it is never created twice) but
    /// this field was not written.
    pub refused: Option<PartRefused>,
}

impl WriteOutcome {
    /// The outcome of a write that went through whole or not at all.
    pub fn whole(key: i64, result: Result<Written, Error>) -> WriteOutcome {
        WriteOutcome {
            key,
            result,
            refused: None,
        }
    }
}

/// The part of an accepted write a system refused (an Opportunity created whose contact
/// roles were not).
#[derive(Debug, Clone)]
pub struct PartRefused {
    /// The field of the write that was not written (`OpportunityContactRole`).
    pub field: String,
    /// Why, in the system's words.
    pub error: Error,
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

/// What a system says about one of its fields: enough to check a mapping against it
/// (`truce check`) without knowing which system it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldInfo {
    /// API name (`lifecyclestage`, `LastName`).
    pub name: String,
    /// Label shown to people.
    pub label: String,
    /// The field's type.
    pub kind: FieldKind,
    /// The API's own name for the type (`enumeration`, `picklist`, `url`), for messages.
    pub api_type: String,
    /// A create without it fails.
    pub required: bool,
    /// Longest value accepted, when the system says.
    pub max_length: Option<u32>,
    /// Allowed values of an enumeration (internal values, not labels).
    pub options: Vec<String>,
    /// The allowed values live elsewhere (HubSpot owners, pipelines): `options` is not the
    /// whole list.
    pub options_elsewhere: bool,
    /// Values are unique across records.
    pub unique: bool,
    /// Creates can upsert on it ([`UpsertKey::Field`]): a Salesforce External ID, a HubSpot
    /// unique-value property (and a HubSpot contact's email).
    pub upsert_key: bool,
    /// Writes to it are rejected.
    pub read_only: bool,
    /// The system fills it itself when a create leaves it out (a picklist's default value,
    /// the record's owner): a record just created may hold a value truce never sent.
    pub filled_on_create: bool,
}

/// The associations of one record, read apart from the record (HubSpot does not date
/// association changes, so they are swept).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Associated {
    /// The record's id.
    pub id: String,
    /// Each association field asked for (`@company`, `@contacts`) with its value, as on a
    /// [`Record`]: one id, `null`, or an array of ids.
    pub fields: BTreeMap<String, Value>,
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
    async fn fetch(&self, object: ObjectType, ids: &[String]) -> Result<Fetched, Error>;

    /// Finds the records of every person object of this system whose email is one of
    /// `emails` (compared case-insensitively).
    async fn find_by_email(&self, emails: &[String]) -> Result<Fetched, Error>;

    /// Applies writes in as few calls as the API allows, returning one outcome per write.
    /// A failure of the whole call after retries is an `Err`; a record the API refused is an
    /// `Err` inside its outcome.
    async fn apply(&self, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, Error>;

    /// Reads the association fields `fields` (`@company`, `@contacts`) of the records
    /// `ids` of `object`, without reading the records, in as few calls as the API allows.
    /// Systems whose references date their changes (Salesforce) need no sweep and answer
    /// with a fatal error saying so.
    async fn associations(
        &self,
        object: ObjectType,
        _ids: &[String],
        _fields: &[String],
    ) -> Result<Vec<Associated>, Error> {
        Err(Error::new(
            crate::error::ErrorClass::Fatal,
            format!("{} association sweep of {object}", self.system().label()),
            crate::error::ApiError::message(
                "this connector reads references with their records; it has no association sweep",
            ),
        ))
    }

    /// Describes the fields of `object`.
    async fn describe(&self, object: ObjectType) -> Result<Vec<FieldInfo>, Error>;

    /// The fields of `object` that the system fills itself when a create leaves them out
    /// ([`FieldInfo::filled_on_create`]), as one answer per object for the life of the
    /// connector: the engine asks after every pass that created records, to know whether
    /// those records hold values truce has not read yet. The default answers none, without
    /// a call: a system whose API describes no such field.
    async fn filled_on_create(&self, _object: ObjectType) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    /// The daily quota as last seen on the wire, when the system reports one.
    fn quota(&self) -> Option<Quota> {
        None
    }

    /// API requests this connector has sent since it was built, answered or not (token
    /// requests excluded): what `truce_api_calls_total` reports.
    fn calls(&self) -> u64;
}
