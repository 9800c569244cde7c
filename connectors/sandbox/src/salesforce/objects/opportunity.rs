//! Opportunity (`006`) and the OpportunityStage metadata rows (`01J`) its `StageName`
//! draws from.
//!
//! A stage implies `IsClosed`, `IsWon` (read-only on the Opportunity), a
//! `ForecastCategoryName` and a `Probability` (both overridable in the same save): the
//! store applies [`Stage`] to every write that sets `StageName`.

use super::people::LEAD_SOURCES;
use super::{FieldDef, ObjectDef, audit_tail, common_tail};

/// The values of `ForecastCategoryName`.
pub const FORECAST_CATEGORIES: [&str; 6] = [
    "Pipeline",
    "Best Case",
    "Commit",
    "Most Likely",
    "Omitted",
    "Closed",
];

/// The standard values of Opportunity `Type`. Tagged [U] in the reference; these are the
/// values a new org ships with in every source seen.
pub const OPPORTUNITY_TYPES: [&str; 4] = [
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
    "New Customer",
];

/// One opportunity stage of the org's sales process.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// `MasterLabel`, what users see.
    pub label: String,
    /// `ApiName`, the value `StageName` holds (the label, in a new org).
    pub api_name: String,
    /// `DefaultProbability` (0–100).
    pub probability: f64,
    /// `ForecastCategoryName` (one of [`FORECAST_CATEGORIES`]).
    pub forecast: String,
    /// `IsClosed`.
    pub closed: bool,
    /// `IsWon` (only closed stages are won).
    pub won: bool,
    /// `IsActive`: inactive stages are not valid `StageName` values.
    pub active: bool,
}

impl Stage {
    /// An active stage whose api name is its label.
    pub fn new(label: &str, probability: f64, forecast: &str, closed: bool, won: bool) -> Stage {
        Stage {
            label: label.into(),
            api_name: label.into(),
            probability,
            forecast: forecast.into(),
            closed,
            won: closed && won,
            active: true,
        }
    }
}

/// `ForecastCategory`, the read-only enum derived from `ForecastCategoryName`.
pub fn forecast_category(name: &str) -> &'static str {
    match name {
        "Best Case" => "BestCase",
        "Commit" => "Forecast",
        "Most Likely" => "MostLikely",
        "Omitted" => "Omitted",
        "Closed" => "Closed",
        _ => "Pipeline",
    }
}

/// The ten stages of a new org, in sort order. The labels are documented; the
/// probabilities and forecast categories of a fresh org are not ([U]): these are the
/// values the reference lists, which match what new orgs have long shipped with.
pub fn default_stages() -> Vec<Stage> {
    vec![
        Stage::new("Prospecting", 10.0, "Pipeline", false, false),
        Stage::new("Qualification", 10.0, "Pipeline", false, false),
        Stage::new("Needs Analysis", 20.0, "Pipeline", false, false),
        Stage::new("Value Proposition", 50.0, "Pipeline", false, false),
        Stage::new("Id. Decision Makers", 60.0, "Pipeline", false, false),
        Stage::new("Perception Analysis", 70.0, "Pipeline", false, false),
        Stage::new("Proposal/Price Quote", 75.0, "Pipeline", false, false),
        Stage::new("Negotiation/Review", 90.0, "Pipeline", false, false),
        Stage::new("Closed Won", 100.0, "Closed", true, true),
        Stage::new("Closed Lost", 0.0, "Omitted", true, false),
    ]
}

/// The Opportunity schema, with `external_id` (External ID + Unique) added and the active
/// `stages` as the values of `StageName`.
pub fn def(external_id: Option<&str>, stages: &[Stage]) -> ObjectDef {
    let mut fields = vec![
        FieldDef::system("Id", "Opportunity ID", "id", 18),
        FieldDef::system("IsDeleted", "Deleted", "boolean", 0),
        FieldDef::reference("AccountId", "Account ID", &["Account"]),
        FieldDef::boolean("IsPrivate", "Private"),
        FieldDef::new("Name", "Opportunity Name", "string", 120).required(),
        FieldDef::new("Description", "Description", "textarea", 32000),
        stage_field(stages),
        FieldDef::number("Amount", "Amount", "currency", 18, 2),
        FieldDef::number("Probability", "Probability (%)", "percent", 3, 0).defaulted(),
        FieldDef {
            precision: 18,
            scale: 2,
            ..FieldDef::system("ExpectedRevenue", "Expected Amount", "currency", 0)
        },
        FieldDef::new("CloseDate", "Close Date", "date", 0).required(),
        FieldDef::new("Type", "Opportunity Type", "picklist", 255)
            .picklist(&OPPORTUNITY_TYPES, false),
        FieldDef::new("NextStep", "Next Step", "string", 255),
        FieldDef::new("LeadSource", "Lead Source", "picklist", 255).picklist(&LEAD_SOURCES, false),
        FieldDef::system("IsClosed", "Closed", "boolean", 0),
        FieldDef::system("IsWon", "Won", "boolean", 0),
        FieldDef::system("ForecastCategory", "Forecast Category", "picklist", 40).picklist(
            &[
                "Pipeline",
                "BestCase",
                "Forecast",
                "MostLikely",
                "Omitted",
                "Closed",
            ],
            true,
        ),
        FieldDef::new("ForecastCategoryName", "Forecast Category", "picklist", 255)
            .picklist(&FORECAST_CATEGORIES, true)
            .defaulted(),
        // API 46.0+: the primary contact, set on create only; afterwards it follows the
        // primary contact role.
        FieldDef::reference("ContactId", "Contact ID", &["Contact"]).create_only(),
        FieldDef::system("HasOpportunityLineItem", "Has Line Item", "boolean", 0),
        FieldDef {
            nillable: true,
            ..FieldDef::system(
                "LastStageChangeDate",
                "Last Stage Change Date",
                "datetime",
                0,
            )
        },
        FieldDef {
            precision: 1,
            ..FieldDef::system("FiscalQuarter", "Fiscal Quarter", "int", 0)
        },
        FieldDef {
            precision: 4,
            ..FieldDef::system("FiscalYear", "Fiscal Year", "int", 0)
        },
        FieldDef::system("Fiscal", "Fiscal Period", "string", 6),
    ];
    if let Some(ext) = external_id {
        fields.push(FieldDef::external_id(ext, "HubSpot Deal Id"));
    }
    // Opportunity owners are users only.
    fields.extend(common_tail(&["User"]));
    ObjectDef::data("Opportunity", "Opportunity", "Opportunities", "006", fields)
}

/// `StageName` with the active stages as its values.
pub fn stage_field(stages: &[Stage]) -> FieldDef {
    let values: Vec<&str> = stages
        .iter()
        .filter(|s| s.active)
        .map(|s| s.api_name.as_str())
        .collect();
    FieldDef::new("StageName", "Stage", "picklist", 255)
        .picklist(&values, true)
        .required()
}

/// The OpportunityStage schema: metadata rows, readable and queryable only.
pub fn stage_def() -> ObjectDef {
    let mut fields = vec![
        FieldDef::system("Id", "Opportunity Stage ID", "id", 18),
        FieldDef::system("MasterLabel", "Master Label", "string", 255),
        FieldDef::system("ApiName", "Api Name", "string", 255),
        FieldDef::system("IsActive", "Is Active", "boolean", 0),
        FieldDef {
            precision: 9,
            ..FieldDef::system("SortOrder", "Sort Order", "int", 0)
        },
        FieldDef::system("IsClosed", "Closed", "boolean", 0),
        FieldDef::system("IsWon", "Won", "boolean", 0),
        FieldDef::system("ForecastCategory", "Forecast Category", "picklist", 40),
        FieldDef::system(
            "ForecastCategoryName",
            "Forecast Category Name",
            "picklist",
            255,
        )
        .picklist(&FORECAST_CATEGORIES, true),
        FieldDef {
            precision: 3,
            ..FieldDef::system("DefaultProbability", "Probability (%)", "percent", 0)
        },
        FieldDef::system("Description", "Description", "string", 255),
    ];
    fields.extend(audit_tail());
    ObjectDef {
        createable: false,
        updateable: false,
        deletable: false,
        // Supported calls: describeSObjects, query, retrieve; no getUpdated/getDeleted.
        replicateable: false,
        ..ObjectDef::data(
            "OpportunityStage",
            "Opportunity Stage",
            "Opportunity Stages",
            // [U]: the key prefix of stage rows is not documented; 01J is what they show.
            "01J",
            fields,
        )
    }
}
