//! Deal pipelines: HubSpot's default "Sales Pipeline" with its seven stages, the custom
//! pipelines a test adds, and what a deal's stage means (closed, won, probability).
//!
//! A deal's `dealstage` holds a stage **id** of the pipeline in its `pipeline` property;
//! the portal refuses any other (`portal.rs`) and derives `hs_is_closed`,
//! `hs_is_closed_won` and `hs_deal_stage_probability` from the stage here.

use std::collections::BTreeMap;

use super::errors::Invalid;
use super::schema::iso;
use super::wire::crm::{Pipeline, PipelineStage};

/// The id of the default deal pipeline.
pub const DEFAULT_PIPELINE: &str = "default";

/// One stage of a deal pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct DealStage {
    /// The stage id (what `dealstage` holds): lower case.
    pub id: String,
    /// The label shown in HubSpot.
    pub label: String,
    /// The win probability, 0.0 to 1.0.
    pub probability: f64,
    /// A closed stage (won when the probability is 1.0, lost otherwise).
    pub closed: bool,
}

impl DealStage {
    /// A stage.
    pub fn new(id: &str, label: &str, probability: f64, closed: bool) -> DealStage {
        DealStage {
            id: id.to_string(),
            label: label.to_string(),
            probability,
            closed,
        }
    }

    /// Closed and won.
    pub fn won(&self) -> bool {
        self.closed && self.probability >= 1.0
    }

    /// The probability as HubSpot writes it in metadata and properties (`"0.2"`, `"1.0"`).
    pub fn probability_text(&self) -> String {
        format!("{:?}", self.probability)
    }
}

/// A deal pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct DealPipeline {
    /// The pipeline id (what `pipeline` holds).
    pub id: String,
    /// The label shown in HubSpot.
    pub label: String,
    /// The stages, in display order.
    pub stages: Vec<DealStage>,
}

impl DealPipeline {
    /// HubSpot's default pipeline, `default` ("Sales Pipeline").
    pub fn sales() -> DealPipeline {
        DealPipeline {
            id: DEFAULT_PIPELINE.to_string(),
            label: "Sales Pipeline".to_string(),
            stages: vec![
                DealStage::new("appointmentscheduled", "Appointment Scheduled", 0.2, false),
                DealStage::new("qualifiedtobuy", "Qualified To Buy", 0.4, false),
                DealStage::new(
                    "presentationscheduled",
                    "Presentation Scheduled",
                    0.6,
                    false,
                ),
                DealStage::new(
                    "decisionmakerboughtin",
                    "Decision Maker Bought-In",
                    0.8,
                    false,
                ),
                DealStage::new("contractsent", "Contract Sent", 0.9, false),
                DealStage::new("closedwon", "Closed Won", 1.0, true),
                DealStage::new("closedlost", "Closed Lost", 0.0, true),
            ],
        }
    }

    /// A stage of this pipeline by id.
    pub fn stage(&self, id: &str) -> Option<&DealStage> {
        self.stages.iter().find(|s| s.id == id)
    }
}

#[derive(Debug, Clone)]
struct Stored {
    pipeline: DealPipeline,
    created_ms: i64,
}

/// The portal's deal pipelines, in display order.
#[derive(Debug, Clone)]
pub struct Pipelines {
    list: Vec<Stored>,
}

impl Default for Pipelines {
    fn default() -> Self {
        // Default pipelines carry epoch 0 as their creation time.
        Pipelines {
            list: vec![Stored {
                pipeline: DealPipeline::sales(),
                created_ms: 0,
            }],
        }
    }
}

impl Pipelines {
    /// A pipeline by id.
    pub fn get(&self, id: &str) -> Option<&DealPipeline> {
        self.list.iter().map(|s| &s.pipeline).find(|p| p.id == id)
    }

    /// Every pipeline.
    pub fn all(&self) -> impl Iterator<Item = &DealPipeline> {
        self.list.iter().map(|s| &s.pipeline)
    }

    /// Adds a custom pipeline. `Err` says why it is not valid: an id taken, no stages, a
    /// stage id that is not lower case or used twice, a probability outside 0.0–1.0.
    pub fn add(&mut self, pipeline: DealPipeline, now_ms: i64) -> Result<(), String> {
        if pipeline.id.is_empty() || self.get(&pipeline.id).is_some() {
            return Err(format!(
                "a pipeline with id {:?} exists already",
                pipeline.id
            ));
        }
        if pipeline.stages.is_empty() {
            return Err("a pipeline needs at least one stage".into());
        }
        let mut seen = std::collections::HashSet::new();
        for stage in &pipeline.stages {
            if stage.id.is_empty() || stage.id != stage.id.to_lowercase() {
                return Err(format!("stage id {:?} must be lower case", stage.id));
            }
            if !seen.insert(stage.id.as_str()) || self.all().any(|p| p.stage(&stage.id).is_some()) {
                return Err(format!("stage id {:?} is used already", stage.id));
            }
            if !(0.0..=1.0).contains(&stage.probability) {
                return Err(format!(
                    "stage {} has probability {}, not within 0.0–1.0",
                    stage.id, stage.probability
                ));
            }
        }
        self.list.push(Stored {
            pipeline,
            created_ms: now_ms,
        });
        Ok(())
    }

    /// Checks a deal's pipeline and stage and returns the properties that follow from them
    /// (`pipeline` itself, and the three calculated ones; `""` clears them when there is
    /// no stage). `Err` lists the values refused with `INVALID_OPTION`.
    pub fn deal_fields(
        &self,
        pipeline: &str,
        stage: Option<&str>,
    ) -> Result<BTreeMap<String, String>, Invalid> {
        let Some(found) = self.get(pipeline) else {
            let ids: Vec<&str> = self.all().map(|p| p.id.as_str()).collect();
            return Err(Invalid {
                code: "INVALID_OPTION",
                message: format!(
                    "{pipeline} was not one of the allowed options: [{}]",
                    ids.join(", ")
                ),
                property: "pipeline".into(),
            });
        };
        let stage = match stage.filter(|s| !s.is_empty()) {
            None => None,
            Some(id) => match found.stage(id) {
                Some(s) => Some(s),
                None => {
                    let ids: Vec<&str> = found.stages.iter().map(|s| s.id.as_str()).collect();
                    return Err(Invalid {
                        code: "INVALID_OPTION",
                        message: format!(
                            "{id} was not one of the allowed options: [{}]",
                            ids.join(", ")
                        ),
                        property: "dealstage".into(),
                    });
                }
            },
        };
        let flag = |b: bool| if b { "true" } else { "false" }.to_string();
        let mut fields = BTreeMap::new();
        fields.insert("pipeline".to_string(), pipeline.to_string());
        fields.insert(
            "hs_is_closed".to_string(),
            flag(stage.is_some_and(|s| s.closed)),
        );
        fields.insert(
            "hs_is_closed_won".to_string(),
            flag(stage.is_some_and(DealStage::won)),
        );
        fields.insert(
            "hs_deal_stage_probability".to_string(),
            stage.map(DealStage::probability_text).unwrap_or_default(),
        );
        Ok(fields)
    }

    /// Every pipeline as the pipelines API shows it.
    pub fn wire(&self) -> Vec<Pipeline> {
        self.list
            .iter()
            .enumerate()
            .map(|(order, stored)| {
                let at = iso(stored.created_ms);
                Pipeline {
                    id: stored.pipeline.id.clone(),
                    label: stored.pipeline.label.clone(),
                    display_order: order as i32,
                    stages: stored
                        .pipeline
                        .stages
                        .iter()
                        .enumerate()
                        .map(|(i, s)| stage_wire(s, i, &at))
                        .collect(),
                    created_at: at.clone(),
                    updated_at: at,
                    archived: false,
                }
            })
            .collect()
    }
}

fn stage_wire(stage: &DealStage, order: usize, at: &str) -> PipelineStage {
    PipelineStage {
        id: stage.id.clone(),
        label: stage.label.clone(),
        display_order: order as i32,
        metadata: BTreeMap::from([
            ("probability".to_string(), stage.probability_text()),
            ("isClosed".to_string(), stage.closed.to_string()),
        ]),
        created_at: at.to_string(),
        updated_at: at.to_string(),
        archived: false,
        write_permissions: "CRM_PERMISSIONS_ENFORCEMENT".to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_decides_closed_won_and_probability() {
        let pipelines = Pipelines::default();
        let won = pipelines.deal_fields("default", Some("closedwon")).unwrap();
        assert_eq!(won["hs_is_closed_won"], "true");
        assert_eq!(won["hs_is_closed"], "true");
        assert_eq!(won["hs_deal_stage_probability"], "1.0");
        let open = pipelines
            .deal_fields("default", Some("qualifiedtobuy"))
            .unwrap();
        assert_eq!(
            (
                open["hs_is_closed"].as_str(),
                open["hs_deal_stage_probability"].as_str()
            ),
            ("false", "0.4")
        );
        let lost = pipelines
            .deal_fields("default", Some("closedlost"))
            .unwrap();
        assert_eq!(lost["hs_is_closed_won"], "false");
        assert_eq!(lost["hs_deal_stage_probability"], "0.0");
        let refused = pipelines
            .deal_fields("default", Some("Closed Won"))
            .unwrap_err();
        assert_eq!(
            (refused.code, refused.property.as_str()),
            ("INVALID_OPTION", "dealstage")
        );
    }

    #[test]
    fn custom_pipelines_have_their_own_stages() {
        let mut pipelines = Pipelines::default();
        let renewals = DealPipeline {
            id: "renewals".into(),
            label: "Renewals".into(),
            stages: vec![
                DealStage::new("renewalopen", "Open", 0.5, false),
                DealStage::new("renewed", "Renewed", 1.0, true),
            ],
        };
        pipelines.add(renewals.clone(), 5).unwrap();
        assert!(pipelines.add(renewals, 6).is_err(), "ids are unique");
        assert!(pipelines.deal_fields("renewals", Some("renewed")).is_ok());
        assert!(
            pipelines
                .deal_fields("renewals", Some("closedwon"))
                .is_err()
        );
        assert!(pipelines.deal_fields("nope", None).is_err());
        let wire = pipelines.wire();
        assert_eq!(wire[0].stages[0].metadata["probability"], "0.2");
        assert_eq!(wire[0].stages[5].metadata["isClosed"], "true");
        assert_eq!(wire[0].created_at, "1970-01-01T00:00:00.000Z");
        assert_eq!(wire[1].display_order, 1);
    }
}
