//! The sandbox's in-memory org: object schemas (what describe reports), rows, ids, and the
//! data operations the REST routes and the control API share.
//!
//! Rows hold every field of their object (unset ones as `null`), so a query projects any
//! field without special cases. Deleted rows stay with `IsDeleted = true` (the recycle
//! bin): `query` hides them, `queryAll` shows them. Datetimes are stored as Salesforce
//! prints them (`2024-06-01T10:00:00.000+0000`), at whole seconds, as Salesforce stores
//! `SystemModstamp`: that is why many records share one timestamp.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value, json};

use super::errors::SfError;
use super::soql::{FieldType, Schema};
use super::validate;

/// The default Lead statuses (`IsConverted` ones marked by conversion only).
pub const LEAD_STATUSES: [&str; 4] = [
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
];

/// The default lead sources.
pub const LEAD_SOURCES: [&str; 5] = [
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];

/// One field as describe reports it.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// API name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Salesforce type name (`string`, `email`, `picklist`, `datetime`...).
    pub ty: &'static str,
    /// Longest value for text types; 0 otherwise.
    pub length: u32,
    /// May be null.
    pub nillable: bool,
    /// May be set on create.
    pub createable: bool,
    /// May be set on update.
    pub updateable: bool,
    /// Flagged External ID.
    pub external_id: bool,
    /// Unique.
    pub unique: bool,
    /// Salesforce fills it when a create leaves it out.
    pub defaulted_on_create: bool,
    /// Picklist values.
    pub picklist: Vec<String>,
    /// Only the listed values are accepted.
    pub restricted: bool,
}

impl FieldDef {
    fn new(name: &str, label: &str, ty: &'static str, length: u32) -> FieldDef {
        FieldDef {
            name: name.into(),
            label: label.into(),
            ty,
            length,
            nillable: true,
            createable: true,
            updateable: true,
            external_id: false,
            unique: false,
            defaulted_on_create: false,
            picklist: Vec::new(),
            restricted: false,
        }
    }

    fn system(name: &str, label: &str, ty: &'static str, length: u32) -> FieldDef {
        FieldDef {
            createable: false,
            updateable: false,
            defaulted_on_create: true,
            nillable: !matches!(ty, "id" | "boolean" | "datetime"),
            ..FieldDef::new(name, label, ty, length)
        }
    }

    fn required(mut self) -> FieldDef {
        self.nillable = false;
        self
    }

    fn picklist(mut self, values: &[&str], restricted: bool) -> FieldDef {
        self.picklist = values.iter().map(|v| v.to_string()).collect();
        self.restricted = restricted;
        self
    }

    /// The query type of this field.
    pub fn query_type(&self) -> FieldType {
        match self.ty {
            "id" => FieldType::Id,
            "reference" => FieldType::Reference,
            "boolean" => FieldType::Boolean,
            "datetime" => FieldType::DateTime,
            "date" => FieldType::Date,
            "double" | "currency" | "int" | "percent" => FieldType::Number,
            _ => FieldType::Text,
        }
    }

    /// The field as describe's JSON.
    pub fn describe(&self) -> Value {
        let picklist: Vec<Value> = self
            .picklist
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json!({"active": true, "defaultValue": i == 0 && self.name == "Status",
                       "label": v, "value": v, "validFor": null})
            })
            .collect();
        json!({
            "name": self.name, "label": self.label, "type": self.ty, "length": self.length,
            "nillable": self.nillable, "createable": self.createable, "updateable": self.updateable,
            "custom": self.name.ends_with("__c"), "externalId": self.external_id,
            "unique": self.unique, "defaultedOnCreate": self.defaulted_on_create,
            "restrictedPicklist": self.restricted, "picklistValues": picklist,
            "idLookup": self.name == "Id" || self.name == "Email" || self.external_id,
            "soapType": match self.ty { "id" | "reference" => "tns:ID", "boolean" => "xsd:boolean",
                "datetime" => "xsd:dateTime", "date" => "xsd:date", "double" => "xsd:double", _ => "xsd:string" },
        })
    }
}

/// One object's schema.
#[derive(Debug, Clone)]
pub struct ObjectDef {
    /// API name.
    pub name: &'static str,
    /// Label.
    pub label: &'static str,
    /// Id key prefix.
    pub prefix: &'static str,
    /// Fields in describe order.
    pub fields: Vec<FieldDef>,
}

impl ObjectDef {
    /// The field with this name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The schema the SOQL evaluator needs.
    pub fn schema(&self) -> Schema {
        Schema {
            object: self.name.to_string(),
            fields: self
                .fields
                .iter()
                .map(|f| (f.name.clone(), f.query_type()))
                .collect(),
        }
    }

    /// Describe's JSON for the object.
    pub fn describe(&self, version: &str) -> Value {
        json!({
            "name": self.name, "label": self.label, "labelPlural": format!("{}s", self.label),
            "keyPrefix": self.prefix, "createable": true, "updateable": true, "deletable": true,
            "queryable": true, "custom": false, "mergeable": true,
            "fields": self.fields.iter().map(FieldDef::describe).collect::<Vec<_>>(),
            "recordTypeInfos": [],
            "urls": {
                "sobject": format!("/services/data/v{version}/sobjects/{}", self.name),
                "describe": format!("/services/data/v{version}/sobjects/{}/describe", self.name),
                "rowTemplate": format!("/services/data/v{version}/sobjects/{}/{{ID}}", self.name),
            },
        })
    }
}

fn common_head() -> Vec<FieldDef> {
    vec![
        FieldDef::system("Id", "Record ID", "id", 18),
        FieldDef::system("IsDeleted", "Deleted", "boolean", 0),
        FieldDef::system("MasterRecordId", "Master Record ID", "reference", 18),
    ]
}

fn common_tail() -> Vec<FieldDef> {
    vec![
        FieldDef {
            defaulted_on_create: true,
            ..FieldDef::new("OwnerId", "Owner ID", "reference", 18)
        },
        FieldDef::system("CreatedDate", "Created Date", "datetime", 0),
        FieldDef::system("LastModifiedDate", "Last Modified Date", "datetime", 0),
        FieldDef::system("SystemModstamp", "System Modstamp", "datetime", 0),
    ]
}

fn ext_field(name: &str) -> FieldDef {
    FieldDef {
        external_id: true,
        unique: true,
        ..FieldDef::new(name, "HubSpot Contact Id", "string", 255)
    }
}

fn boolean(name: &str, label: &str) -> FieldDef {
    FieldDef {
        nillable: false,
        defaulted_on_create: true,
        ..FieldDef::new(name, label, "boolean", 0)
    }
}

/// The Lead, Contact and Account schemas, with `external_id` added to Lead and Contact.
pub fn schemas(external_id: Option<&str>) -> Vec<ObjectDef> {
    let mut lead = common_head();
    lead.extend([
        FieldDef::new("Salutation", "Salutation", "picklist", 40)
            .picklist(&["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."], false),
        FieldDef::new("FirstName", "First Name", "string", 40),
        FieldDef::new("LastName", "Last Name", "string", 80).required(),
        FieldDef::new("Title", "Title", "string", 128),
        FieldDef::new("Company", "Company", "string", 255).required(),
        FieldDef::new("City", "City", "string", 40),
        FieldDef::new("State", "State/Province", "string", 80),
        FieldDef::new("Country", "Country", "string", 80),
        FieldDef::new("Phone", "Phone", "phone", 40),
        FieldDef::new("MobilePhone", "Mobile Phone", "phone", 40),
        FieldDef::new("Email", "Email", "email", 80),
        FieldDef::new("Website", "Website", "url", 255),
        FieldDef::new("Description", "Description", "textarea", 32000),
        FieldDef::new("LeadSource", "Lead Source", "picklist", 255).picklist(&LEAD_SOURCES, false),
        FieldDef {
            nillable: false,
            defaulted_on_create: true,
            ..FieldDef::new("Status", "Lead Status", "picklist", 255)
        }
        .picklist(&LEAD_STATUSES, true),
        FieldDef::new("Industry", "Industry", "picklist", 255).picklist(
            &[
                "Agriculture",
                "Banking",
                "Education",
                "Healthcare",
                "Media",
                "Technology",
            ],
            false,
        ),
        boolean("HasOptedOutOfEmail", "Email Opt Out"),
        boolean("DoNotCall", "Do Not Call"),
        FieldDef::system("IsConverted", "Converted", "boolean", 0),
        FieldDef::system("ConvertedDate", "Converted Date", "date", 0),
        FieldDef::system(
            "ConvertedAccountId",
            "Converted Account ID",
            "reference",
            18,
        ),
        FieldDef::system(
            "ConvertedContactId",
            "Converted Contact ID",
            "reference",
            18,
        ),
        FieldDef::system(
            "ConvertedOpportunityId",
            "Converted Opportunity ID",
            "reference",
            18,
        ),
    ]);
    let mut contact = common_head();
    contact.extend([
        FieldDef::new("AccountId", "Account ID", "reference", 18),
        FieldDef::new("Salutation", "Salutation", "picklist", 40)
            .picklist(&["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."], false),
        FieldDef::new("FirstName", "First Name", "string", 40),
        FieldDef::new("LastName", "Last Name", "string", 80).required(),
        FieldDef::new("Title", "Title", "string", 128),
        FieldDef::new("Department", "Department", "string", 80),
        FieldDef::new("MailingCity", "Mailing City", "string", 40),
        FieldDef::new("MailingState", "Mailing State/Province", "string", 80),
        FieldDef::new("MailingCountry", "Mailing Country", "string", 80),
        FieldDef::new("Phone", "Business Phone", "phone", 40),
        FieldDef::new("MobilePhone", "Mobile Phone", "phone", 40),
        FieldDef::new("Email", "Email", "email", 80),
        FieldDef::new("Description", "Contact Description", "textarea", 32000),
        FieldDef::new("LeadSource", "Lead Source", "picklist", 255).picklist(&LEAD_SOURCES, false),
        boolean("HasOptedOutOfEmail", "Email Opt Out"),
        boolean("DoNotCall", "Do Not Call"),
    ]);
    let mut account = common_head();
    account.extend([
        FieldDef::new("Name", "Account Name", "string", 255).required(),
        FieldDef::new("Phone", "Account Phone", "phone", 40),
        FieldDef::new("Website", "Website", "url", 255),
        FieldDef::new("BillingCity", "Billing City", "string", 40),
        FieldDef::new("Industry", "Industry", "picklist", 255).picklist(
            &[
                "Agriculture",
                "Banking",
                "Education",
                "Healthcare",
                "Media",
                "Technology",
            ],
            false,
        ),
    ]);
    if let Some(ext) = external_id {
        lead.push(ext_field(ext));
        contact.push(ext_field(ext));
    }
    lead.extend(common_tail());
    contact.extend(common_tail());
    account.extend(common_tail());
    vec![
        ObjectDef {
            name: "Lead",
            label: "Lead",
            prefix: "00Q",
            fields: lead,
        },
        ObjectDef {
            name: "Contact",
            label: "Contact",
            prefix: "003",
            fields: contact,
        },
        ObjectDef {
            name: "Account",
            label: "Account",
            prefix: "001",
            fields: account,
        },
    ]
}

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
    /// The configured external-id field, if any.
    pub external_id: Option<String>,
    /// Validation rules an admin added (see [`ValidationRule`]).
    pub rules: Vec<ValidationRule>,
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

impl Org {
    /// An empty org.
    pub fn new(external_id: Option<String>, duplicate_rule_on_email: bool) -> Org {
        let defs = schemas(external_id.as_deref());
        let tables = defs.iter().map(|d| (d.name, BTreeMap::new())).collect();
        Org {
            defs,
            tables,
            next_id: 1,
            pinned_now: None,
            duplicate_rule_on_email,
            external_id,
            rules: Vec::new(),
        }
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
        self.rows(object)
            .filter(|r| r.get("IsDeleted") != Some(&Value::Bool(true)))
            .count()
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
        let def = self
            .def(object)
            .ok_or_else(|| vec![SfError::not_found()])?
            .clone();
        let clean = validate::check_write(&def, fields, None)?;
        self.check_rules(def.name, &clean)?;
        self.check_duplicates(&def, &clean, None)?;
        Ok(self.insert(&def, clean))
    }

    fn insert(&mut self, def: &ObjectDef, fields: Map<String, Value>) -> String {
        let id = self.new_id(def.prefix);
        let now = format_datetime(self.now());
        let mut row: Map<String, Value> = def
            .fields
            .iter()
            .map(|f| (f.name.clone(), Value::Null))
            .collect();
        for f in &def.fields {
            if f.ty == "boolean" {
                row.insert(f.name.clone(), Value::Bool(false));
            }
        }
        if def.name == "Lead" {
            row.insert("Status".into(), Value::String(LEAD_STATUSES[0].into()));
        }
        row.insert("OwnerId".into(), Value::String(id18("0055g0000000001")));
        row.extend(fields);
        row.insert("Id".into(), Value::String(id.clone()));
        row.insert("CreatedDate".into(), Value::String(now.clone()));
        row.insert("LastModifiedDate".into(), Value::String(now.clone()));
        row.insert("SystemModstamp".into(), Value::String(now));
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
        if !self.duplicate_rule_on_email || def.name == "Account" {
            return Ok(());
        }
        let Some(email) = fields.get("Email").and_then(Value::as_str) else {
            return Ok(());
        };
        let email = email.to_lowercase();
        let clash = self.rows(def.name).any(|r| {
            r.get("IsDeleted") != Some(&Value::Bool(true))
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
        let def = self
            .def(object)
            .ok_or_else(|| vec![SfError::not_found()])?
            .clone();
        let row = self.live_row(object, id)?;
        if row.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(vec![SfError::new(
                "CANNOT_UPDATE_CONVERTED_LEAD",
                "cannot reference converted lead",
                &[],
            )]);
        }
        let clean = validate::check_write(&def, fields, Some(&row))?;
        self.check_rules(def.name, &clean)?;
        let rid = row
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if clean.contains_key("Email") {
            self.check_duplicates(&def, &clean, Some(&rid))?;
        }
        self.touch(object, &rid, clean);
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
            Some(row) if row.get("IsDeleted") == Some(&Value::Bool(true)) => {
                Err(vec![SfError::new(
                    "ENTITY_IS_DELETED",
                    "entity is deleted",
                    &[],
                )])
            }
            Some(row) => Ok(row.clone()),
            None => Err(vec![SfError::not_found()]),
        }
    }

    fn touch(&mut self, object: &str, id: &str, fields: Map<String, Value>) {
        let now = format_datetime(self.now());
        if let Some(row) = self.tables.get_mut(object).and_then(|t| t.get_mut(id)) {
            row.extend(fields);
            row.insert("LastModifiedDate".into(), Value::String(now.clone()));
            row.insert("SystemModstamp".into(), Value::String(now));
        }
    }

    /// Moves a record to the recycle bin.
    pub fn delete(&mut self, object: &str, id: &str) -> Result<(), Vec<SfError>> {
        let row = self.live_row(object, id)?;
        let rid = row
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut f = Map::new();
        f.insert("IsDeleted".into(), Value::Bool(true));
        self.touch(object, &rid, f);
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
        let def = self
            .def(object)
            .ok_or_else(|| vec![SfError::not_found()])?
            .clone();
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
        let lower = value.to_lowercase();
        let matches: Vec<String> = self
            .rows(object)
            .filter(|r| r.get("IsDeleted") != Some(&Value::Bool(true)))
            .filter(|r| {
                r.get(&ext_name)
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
                    .as_deref()
                    == Some(lower.as_str())
            })
            .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_string))
            .collect();
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

    /// Converts a lead as `convertLead()` does: creates an Account and a Contact from it and
    /// marks it converted (read-only from then on).
    pub fn convert_lead(&mut self, lead_id: &str) -> Result<(String, String), Vec<SfError>> {
        let lead = self.live_row("Lead", lead_id)?;
        if lead.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(vec![SfError::new(
                "CANNOT_UPDATE_CONVERTED_LEAD",
                "cannot reference converted lead",
                &[],
            )]);
        }
        let get = |k: &str| lead.get(k).cloned().unwrap_or(Value::Null);
        let account_def = self
            .def("Account")
            .ok_or_else(|| vec![SfError::not_found()])?
            .clone();
        let mut account = Map::new();
        account.insert("Name".into(), get("Company"));
        account.insert("Phone".into(), get("Phone"));
        account.insert("BillingCity".into(), get("City"));
        let account_id = self.insert(&account_def, account);
        let contact_def = self
            .def("Contact")
            .ok_or_else(|| vec![SfError::not_found()])?
            .clone();
        let mut contact = Map::new();
        for (from, to) in [
            ("FirstName", "FirstName"),
            ("LastName", "LastName"),
            ("Salutation", "Salutation"),
            ("Title", "Title"),
            ("Email", "Email"),
            ("Phone", "Phone"),
            ("MobilePhone", "MobilePhone"),
            ("City", "MailingCity"),
            ("State", "MailingState"),
            ("Country", "MailingCountry"),
            ("LeadSource", "LeadSource"),
            ("HasOptedOutOfEmail", "HasOptedOutOfEmail"),
            ("DoNotCall", "DoNotCall"),
        ] {
            contact.insert(to.into(), get(from));
        }
        contact.insert("AccountId".into(), Value::String(account_id.clone()));
        let contact_id = self.insert(&contact_def, contact);
        let lid = get("Id").as_str().unwrap_or_default().to_string();
        let mut f = Map::new();
        f.insert("IsConverted".into(), Value::Bool(true));
        f.insert("Status".into(), Value::String("Closed - Converted".into()));
        f.insert(
            "ConvertedDate".into(),
            Value::String(self.now().format("%Y-%m-%d").to_string()),
        );
        f.insert(
            "ConvertedContactId".into(),
            Value::String(contact_id.clone()),
        );
        f.insert(
            "ConvertedAccountId".into(),
            Value::String(account_id.clone()),
        );
        self.touch("Lead", &lid, f);
        Ok((contact_id, account_id))
    }

    /// Merges `loser` into `master`: the loser goes to the recycle bin with
    /// `MasterRecordId`, blank master fields are filled from it, and the master is touched.
    pub fn merge(&mut self, object: &str, master: &str, loser: &str) -> Result<(), Vec<SfError>> {
        let master_row = self.live_row(object, master)?;
        let loser_row = self.live_row(object, loser)?;
        let def = self
            .def(object)
            .ok_or_else(|| vec![SfError::not_found()])?
            .clone();
        let mid = master_row
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let lid = loser_row
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
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
        gone.insert("MasterRecordId".into(), Value::String(mid));
        self.touch(object, &lid, gone);
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
            .filter(|r| r.get("IsDeleted") != Some(&Value::Bool(true)))
            .filter(|r| {
                r.get("SystemModstamp")
                    .and_then(Value::as_str)
                    .and_then(super::soql::parse_stored)
                    .is_some_and(|t| t >= start && t < end)
            })
            .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_string))
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
            .filter(|r| r.get("IsDeleted") == Some(&Value::Bool(true)))
            .filter_map(|r| {
                let stamp = r.get("SystemModstamp").and_then(Value::as_str)?;
                let t = super::soql::parse_stored(stamp)?;
                let id = r.get("Id")?.as_str()?.to_string();
                (t >= start && t < end).then(|| (id, stamp.to_string()))
            })
            .collect()
    }
}
