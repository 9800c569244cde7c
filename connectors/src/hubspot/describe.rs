//! HubSpot property definitions (`GET …/properties/{object}`) as [`FieldInfo`]: what
//! `truce check` compares a mapping with.
//!
//! HubSpot's `type` decides the kind (a `checkbox` enumeration holds several values);
//! computed properties and ones whose values are read-only refuse writes; archived
//! properties are left out. HubSpot requires no property on create, and gives no lengths.
//!
//! Deals: `dealstage` and `pipeline` have `externalOptions` (their values live in the
//! pipelines API), so describing deals also reads `GET …/pipelines/deals` (one more call)
//! and lists every live stage id of every live pipeline as `dealstage`'s options and the
//! pipeline ids as `pipeline`'s, with `options_elsewhere = false`: check can then verify
//! that every mapped stage exists. A stage id is unique within its pipeline only; the
//! union is what a value table can name.

use super::HubSpotConnector;
use super::limits::CallKind;
use super::objects::Configured;
use super::wire::associations::Pipelines;
use super::wire::{PropertiesResponse, Property};
use crate::contract::{FieldInfo, FieldKind, ObjectType};
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
            self.paths.properties(object.spec.path),
            format!(
                "HubSpot read of {} property definitions",
                object.spec.object
            ),
        );
        let answer: PropertiesResponse = self.pipeline.send(call).await?;
        let mut fields: Vec<FieldInfo> = answer
            .results
            .into_iter()
            .filter(|p| !p.archived)
            .map(|p| field_info(p, object.spec.email))
            .collect();
        if object.spec.object == ObjectType::HubSpotDeal {
            let pipelines = self.deal_pipelines().await?;
            with_pipelines(&mut fields, &pipelines);
        }
        Ok(fields)
    }

    /// Every deal pipeline with its stages.
    async fn deal_pipelines(&self) -> Result<Pipelines, Error> {
        let call = Call::get(
            CallKind::Standard,
            self.paths.pipelines("deals"),
            "HubSpot read of the deal pipelines",
        );
        self.pipeline.send(call).await
    }
}

/// Puts the live pipelines' ids and stage ids into `pipeline` and `dealstage`.
fn with_pipelines(fields: &mut [FieldInfo], pipelines: &Pipelines) {
    let live = || pipelines.results.iter().filter(|p| !p.archived);
    let mut stages: Vec<String> = Vec::new();
    for stage in live().flat_map(|p| p.stages.iter().filter(|s| !s.archived)) {
        if !stages.contains(&stage.id) {
            stages.push(stage.id.clone());
        }
    }
    let ids: Vec<String> = live().map(|p| p.id.clone()).collect();
    for field in fields.iter_mut() {
        let options = match field.name.as_str() {
            "dealstage" => stages.clone(),
            "pipeline" => ids.clone(),
            _ => continue,
        };
        field.options = options;
        field.options_elsewhere = false;
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
        // HubSpot's property definitions say nothing of values set on create.
        filled_on_create: false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stages_of_every_live_pipeline_become_the_options_of_dealstage() {
        let pipelines: Pipelines = serde_json::from_str(
            r#"{"results":[
                {"id":"default","label":"Sales","archived":false,"stages":[
                    {"id":"appointmentscheduled","label":"A","archived":false,"metadata":{"probability":"0.2"}},
                    {"id":"closedwon","label":"W","archived":false,"metadata":{}},
                    {"id":"gone","label":"G","archived":true,"metadata":{}}]},
                {"id":"renewals","label":"R","archived":false,"stages":[
                    {"id":"closedwon","label":"W","archived":false,"metadata":{}},
                    {"id":"1234","label":"Custom","archived":false,"metadata":{}}]},
                {"id":"old","label":"O","archived":true,"stages":[
                    {"id":"ancient","label":"X","archived":false,"metadata":{}}]}]}"#,
        )
        .unwrap();
        let property = |name: &str| {
            field_info(
                Property {
                    name: name.into(),
                    kind: "enumeration".into(),
                    field_type: "select".into(),
                    external_options: true,
                    ..Property::default()
                },
                None,
            )
        };
        let mut fields = vec![
            property("dealstage"),
            property("pipeline"),
            property("dealtype"),
        ];
        with_pipelines(&mut fields, &pipelines);
        assert_eq!(
            fields[0].options,
            vec!["appointmentscheduled", "closedwon", "1234"]
        );
        assert!(!fields[0].options_elsewhere);
        assert_eq!(fields[1].options, vec!["default", "renewals"]);
        assert!(
            fields[2].options_elsewhere,
            "other properties are left alone"
        );
    }
}
