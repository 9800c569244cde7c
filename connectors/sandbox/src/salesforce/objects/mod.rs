//! The org's object schemas as describe reports them: one [`ObjectDef`] per sObject, with
//! its fields ([`FieldDef`]) in describe order. Validation ([`super::validate`]), SOQL and
//! describe all read these, so an object's rules live in one place.
//!
//! One file per family of objects: [`people`] (Lead, Contact), [`account`],
//! [`opportunity`] (Opportunity and the OpportunityStage metadata rows) and
//! [`contact_role`] (OpportunityContactRole). What ties records together across objects
//! (checked references, derived fields, cascades) is the store's job
//! ([`super::store`]), not the schema's.

pub mod account;
pub mod contact_role;
pub mod opportunity;
pub mod people;

use serde_json::{Value, json};

use super::soql::{FieldType, Schema};

/// One field as describe reports it.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// API name.
    pub name: String,
    /// Label (Salesforce names fields by label in its error messages).
    pub label: String,
    /// Salesforce type name (`string`, `email`, `picklist`, `datetime`, `reference`...).
    pub ty: &'static str,
    /// Longest value for text types; 0 otherwise.
    pub length: u32,
    /// Digits of a number (`precision`; for `int`, describe's `digits`).
    pub precision: u32,
    /// Digits after the decimal point of a number.
    pub scale: u32,
    /// May be null.
    pub nillable: bool,
    /// May be set on create.
    pub createable: bool,
    /// May be set on update.
    pub updateable: bool,
    /// Flagged External ID.
    pub external_id: bool,
    /// Unique (case-insensitively, Salesforce's default for a unique text field).
    pub unique: bool,
    /// Salesforce fills it when a create leaves it out.
    pub defaulted_on_create: bool,
    /// Picklist values.
    pub picklist: Vec<String>,
    /// Only the listed values are accepted.
    pub restricted: bool,
    /// The objects a reference may point to. The store checks the ones it holds (every
    /// target but `User` and `Group`, which the sandbox does not keep).
    pub reference_to: Vec<&'static str>,
    /// The picklist value describe marks as the default.
    pub default_value: Option<String>,
}

impl FieldDef {
    /// A plain writable, nillable field.
    pub fn new(name: &str, label: &str, ty: &'static str, length: u32) -> FieldDef {
        FieldDef {
            name: name.into(),
            label: label.into(),
            ty,
            length,
            precision: 0,
            scale: 0,
            nillable: true,
            createable: true,
            updateable: true,
            external_id: false,
            unique: false,
            defaulted_on_create: false,
            picklist: Vec::new(),
            restricted: false,
            reference_to: Vec::new(),
            default_value: None,
        }
    }

    /// A read-only field the system maintains.
    pub fn system(name: &str, label: &str, ty: &'static str, length: u32) -> FieldDef {
        FieldDef {
            createable: false,
            updateable: false,
            defaulted_on_create: true,
            nillable: !matches!(ty, "id" | "boolean" | "datetime"),
            ..FieldDef::new(name, label, ty, length)
        }
    }

    /// A reference to records of `to`.
    pub fn reference(name: &str, label: &str, to: &[&'static str]) -> FieldDef {
        FieldDef {
            reference_to: to.to_vec(),
            ..FieldDef::new(name, label, "reference", 18)
        }
    }

    /// A number with `precision` digits, `scale` of them after the point.
    pub fn number(
        name: &str,
        label: &str,
        ty: &'static str,
        precision: u32,
        scale: u32,
    ) -> FieldDef {
        FieldDef {
            precision,
            scale,
            ..FieldDef::new(name, label, ty, 0)
        }
    }

    /// A boolean that is never null and defaults to false.
    pub fn boolean(name: &str, label: &str) -> FieldDef {
        FieldDef {
            nillable: false,
            defaulted_on_create: true,
            ..FieldDef::new(name, label, "boolean", 0)
        }
    }

    /// An External ID + Unique text field (the id of the record on the HubSpot side).
    pub fn external_id(name: &str, label: &str) -> FieldDef {
        FieldDef {
            external_id: true,
            unique: true,
            ..FieldDef::new(name, label, "string", 255)
        }
    }

    /// Not null on create (and not settable to null).
    pub fn required(mut self) -> FieldDef {
        self.nillable = false;
        self
    }

    /// Settable on create only.
    pub fn create_only(mut self) -> FieldDef {
        self.updateable = false;
        self
    }

    /// Filled by Salesforce when a create leaves it out.
    pub fn defaulted(mut self) -> FieldDef {
        self.defaulted_on_create = true;
        self
    }

    /// A picklist's values (`restricted`: no other value is accepted).
    pub fn picklist(mut self, values: &[&str], restricted: bool) -> FieldDef {
        self.picklist = values.iter().map(|v| v.to_string()).collect();
        self.restricted = restricted;
        self
    }

    /// Whether values of this field are numbers.
    pub fn is_number(&self) -> bool {
        matches!(self.ty, "double" | "currency" | "int" | "percent")
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
            .map(|v| {
                json!({"active": true, "defaultValue": self.default_value.as_deref() == Some(v.as_str()),
                       "label": v, "value": v, "validFor": null})
            })
            .collect();
        let soap_type = match self.ty {
            "id" | "reference" => "tns:ID",
            "boolean" => "xsd:boolean",
            "datetime" => "xsd:dateTime",
            "date" => "xsd:date",
            "int" => "xsd:int",
            "double" | "currency" | "percent" => "xsd:double",
            _ => "xsd:string",
        };
        let relationship = (self.ty == "reference" && self.name.ends_with("Id"))
            .then(|| self.name.trim_end_matches("Id").to_string());
        json!({
            "name": self.name, "label": self.label, "type": self.ty, "length": self.length,
            "precision": if self.ty == "int" { 0 } else { self.precision },
            "scale": self.scale, "digits": if self.ty == "int" { self.precision } else { 0 },
            "nillable": self.nillable, "createable": self.createable, "updateable": self.updateable,
            "custom": self.name.ends_with("__c"), "externalId": self.external_id,
            "unique": self.unique, "caseSensitive": false, "defaultedOnCreate": self.defaulted_on_create,
            "restrictedPicklist": self.restricted, "picklistValues": picklist,
            "referenceTo": self.reference_to, "relationshipName": relationship,
            "idLookup": self.name == "Id" || self.name == "Email" || self.external_id,
            "calculated": false, "soapType": soap_type,
        })
    }
}

/// One object's schema, and which calls it supports.
#[derive(Debug, Clone)]
pub struct ObjectDef {
    /// API name.
    pub name: &'static str,
    /// Label (also the start of some error messages).
    pub label: &'static str,
    /// Plural label.
    pub label_plural: &'static str,
    /// Id key prefix.
    pub prefix: &'static str,
    /// Fields in describe order.
    pub fields: Vec<FieldDef>,
    /// Records can be created through the API.
    pub createable: bool,
    /// ... updated.
    pub updateable: bool,
    /// ... deleted.
    pub deletable: bool,
    /// ... merged (Lead, Contact, Account).
    pub mergeable: bool,
    /// `updated`/`deleted` (getUpdated/getDeleted) are supported.
    pub replicateable: bool,
}

impl ObjectDef {
    /// A regular data object: created, updated, deleted and replicated through the API.
    pub fn data(
        name: &'static str,
        label: &'static str,
        label_plural: &'static str,
        prefix: &'static str,
        fields: Vec<FieldDef>,
    ) -> ObjectDef {
        ObjectDef {
            name,
            label,
            label_plural,
            prefix,
            fields,
            createable: true,
            updateable: true,
            deletable: true,
            mergeable: false,
            replicateable: true,
        }
    }

    /// The field with this name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The field with this name, to change it (exact name).
    pub fn field_mut(&mut self, name: &str) -> Option<&mut FieldDef> {
        self.fields.iter_mut().find(|f| f.name == name)
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

    /// The object-level part of describe (what describe global lists per object).
    pub fn summary(&self, version: &str) -> Value {
        json!({
            "name": self.name, "label": self.label, "labelPlural": self.label_plural,
            "keyPrefix": self.prefix, "createable": self.createable, "updateable": self.updateable,
            "deletable": self.deletable, "queryable": true, "retrieveable": true,
            "replicateable": self.replicateable, "searchable": self.replicateable,
            "undeletable": self.deletable && self.mergeable, "custom": false, "mergeable": self.mergeable,
            "urls": {
                "sobject": format!("/services/data/v{version}/sobjects/{}", self.name),
                "describe": format!("/services/data/v{version}/sobjects/{}/describe", self.name),
                "rowTemplate": format!("/services/data/v{version}/sobjects/{}/{{ID}}", self.name),
            },
        })
    }

    /// Describe's JSON for the object.
    pub fn describe(&self, version: &str) -> Value {
        let mut out = self.summary(version);
        out["fields"] = Value::Array(self.fields.iter().map(FieldDef::describe).collect());
        out["recordTypeInfos"] = json!([]);
        out
    }
}

/// `Id`, `IsDeleted`, `MasterRecordId`: the head of every mergeable object.
pub(crate) fn common_head() -> Vec<FieldDef> {
    vec![
        FieldDef::system("Id", "Record ID", "id", 18),
        FieldDef::system("IsDeleted", "Deleted", "boolean", 0),
        FieldDef::system("MasterRecordId", "Master Record ID", "reference", 18),
    ]
}

/// The owner and the audit stamps every data object ends with. Owners are users (or, for
/// Leads, queues); the sandbox keeps no User table, so owners are not checked.
pub(crate) fn common_tail(owner_to: &[&'static str]) -> Vec<FieldDef> {
    vec![
        FieldDef::reference("OwnerId", "Owner ID", owner_to).defaulted(),
        FieldDef::system("CreatedDate", "Created Date", "datetime", 0),
        FieldDef::system("LastModifiedDate", "Last Modified Date", "datetime", 0),
        FieldDef::system("SystemModstamp", "System Modstamp", "datetime", 0),
    ]
}

/// The audit stamps without an owner (contact roles and metadata rows have none).
pub(crate) fn audit_tail() -> Vec<FieldDef> {
    common_tail(&[]).into_iter().skip(1).collect()
}

/// Which External ID fields the org has, per object (`None`: no such field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalIds {
    /// On Lead and Contact (the HubSpot contact id).
    pub person: Option<String>,
    /// On Account (the HubSpot company id).
    pub account: Option<String>,
    /// On Opportunity (the HubSpot deal id).
    pub opportunity: Option<String>,
}

/// Every object of the org, with the configured External ID fields and the opportunity
/// stages' values in `StageName`.
pub fn schemas(ext: &ExternalIds) -> Vec<ObjectDef> {
    let (lead, contact) = people::defs(ext.person.as_deref());
    vec![
        lead,
        contact,
        account::def(ext.account.as_deref()),
        opportunity::def(ext.opportunity.as_deref(), &opportunity::default_stages()),
        contact_role::def(),
        opportunity::stage_def(),
    ]
}
