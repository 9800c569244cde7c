//! HubSpot property definitions (`GET /crm/v3/properties/{object}`) as [`FieldInfo`]:
//! what `truce check` compares a mapping with.
//!
//! HubSpot's `type` decides the kind (a `checkbox` enumeration holds several values);
//! computed properties and ones whose values are read-only refuse writes; archived
//! properties are left out. HubSpot requires no property on create, and gives no lengths.

use super::HubSpotConnector;
use super::limits::CallKind;
use super::objects::Configured;
use super::wire::{PropertiesResponse, Property};
use crate::contract::{FieldInfo, FieldKind};
use crate::error::Error;
use crate::http::Call;

impl HubSpotConnector {
    /// Every live property definition of `object`.
    pub(super) async fn describe_object(
        &self,
        object: &Configured,
    ) -> Result<Vec<FieldInfo>, Error> {
        let call = Call::get(
            CallKind::Standard,
            format!("/crm/v3/properties/{}", object.spec.path),
            format!(
                "HubSpot read of {} property definitions",
                object.spec.object
            ),
        );
        let answer: PropertiesResponse = self.pipeline.send(call).await?;
        Ok(answer
            .results
            .into_iter()
            .filter(|p| !p.archived)
            .map(|p| field_info(p, object.spec.email))
            .collect())
    }
}

fn field_info(p: Property, email: Option<&str>) -> FieldInfo {
    let is_email = email == Some(p.name.as_str());
    let kind = match (p.kind.as_str(), p.field_type.as_str()) {
        _ if is_email => FieldKind::Email,
        ("enumeration", "checkbox") => FieldKind::MultiEnumeration,
        ("enumeration", _) => FieldKind::Enumeration,
        ("bool", _) => FieldKind::Bool,
        ("number", _) => FieldKind::Number,
        ("date", _) => FieldKind::Date,
        ("datetime", _) => FieldKind::DateTime,
        ("string" | "phone_number", _) => FieldKind::String,
        (other, _) => FieldKind::Other(other.to_string()),
    };
    let read_only = p.calculated
        || p.modification_metadata
            .as_ref()
            .is_some_and(|m| m.read_only_value);
    // The email is HubSpot's own unique key for people: upserts go by it.
    let unique = p.has_unique_value || is_email;
    FieldInfo {
        unique,
        upsert_key: unique,
        options: p.options.into_iter().map(|o| o.value).collect(),
        options_elsewhere: p.external_options,
        api_type: p.kind,
        name: p.name,
        label: p.label,
        kind,
        required: false,
        max_length: None,
        read_only,
    }
}
