//! Salesforce's describe (`GET /sobjects/{object}/describe`) as [`FieldInfo`]: what
//! `truce check` compares a mapping with.
//!
//! Describe is metadata: it skips the `daily_share` gate, so `truce check` answers while
//! sync is paused. A field is required on create when it is not nillable, createable and
//! not defaulted; read-only when it is neither createable nor updateable; an upsert key
//! when it is flagged External ID. Only active picklist values are options.
//!
//! An object with a child set (Opportunity) also lists the set as a field of its own
//! (`OpportunityContactRole`, a reference), as records carry it: no describe shows it.

use super::SalesforceConnector;
use super::calls::CallKind;
use super::objects::Configured;
use super::wire::{DescribeField, DescribeSObject};
use crate::contract::{FieldInfo, FieldKind};
use crate::error::Error;
use crate::http::Call;

impl SalesforceConnector {
    /// Every field of `object`, as describe reports it.
    pub(super) async fn describe_object(
        &self,
        object: &Configured,
    ) -> Result<Vec<FieldInfo>, Error> {
        let action = format!("Salesforce describe of {}", object.spec.object);
        let path = self.data_path(&format!("sobjects/{}/describe", object.name.as_str()));
        let call = Call::get(CallKind::Metadata, path, action);
        let described: DescribeSObject = self.inner.pipeline.send(call).await?;
        let mut fields: Vec<FieldInfo> = described.fields.into_iter().map(field_info).collect();
        if let Some(child) = object.spec.children {
            fields.push(FieldInfo {
                name: child.field().to_string(),
                label: format!("{} ({}s)", child.field(), child.related),
                kind: FieldKind::Reference,
                api_type: format!("{} records", child.field()),
                required: false,
                max_length: None,
                options: Vec::new(),
                options_elsewhere: false,
                unique: false,
                upsert_key: false,
                read_only: false,
                filled_on_create: false,
            });
        }
        Ok(fields)
    }
}

fn field_info(f: DescribeField) -> FieldInfo {
    let kind = match f.ty.as_str() {
        "string" | "textarea" | "phone" | "url" | "id" => FieldKind::String,
        "email" => FieldKind::Email,
        "picklist" => FieldKind::Enumeration,
        "multipicklist" => FieldKind::MultiEnumeration,
        "boolean" => FieldKind::Bool,
        "double" | "currency" | "int" | "long" | "percent" => FieldKind::Number,
        "date" => FieldKind::Date,
        "datetime" => FieldKind::DateTime,
        "reference" => FieldKind::Reference,
        other => FieldKind::Other(other.to_string()),
    };
    let text = matches!(
        f.ty.as_str(),
        "string" | "textarea" | "phone" | "url" | "email"
    );
    FieldInfo {
        required: !f.nillable && f.createable && !f.defaulted_on_create,
        max_length: (text && f.length > 0).then_some(f.length),
        options: f
            .picklist_values
            .iter()
            .filter(|p| p.active)
            .map(|p| p.value.clone())
            .collect(),
        options_elsewhere: false,
        unique: f.external_id || f.unique,
        upsert_key: f.external_id,
        read_only: !f.createable && !f.updateable,
        filled_on_create: f.defaulted_on_create,
        api_type: f.ty,
        label: f.label,
        name: f.name,
        kind,
    }
}
