//! The engine's settings from a loaded config: where the file's shape becomes the engine's
//! vocabulary (pairs, their descriptions, field maps).
//!
//! Validation ([`super::validate`]) has already refused what the engine cannot run (a pair
//! not supported yet, a mapping of an unknown object), so building cannot fail.

use truce_connectors::ObjectType;

use crate::engine::identity::companies::{CONTACT_ACCOUNT, PRIMARY_COMPANY};
use crate::engine::mapping::{FieldMap, FieldMapping, FieldType};
use crate::engine::pair::{Companies, Deals, Identity, Pair, PairSpec, People};

/// The HubSpot deal property naming its pipeline, which `[deals] pipeline` fills.
const HUBSPOT_PIPELINE: &str = "pipeline";
use crate::engine::settings::Settings;

use super::Config;

impl Settings {
    /// Settings from a loaded, validated config.
    pub fn from_config(config: &Config) -> Settings {
        let pairs = Pair::ALL
            .into_iter()
            .filter(|pair| *pair == Pair::Contacts || config.sync.objects.contains(pair))
            .filter_map(|pair| pair_spec(config, pair))
            .collect();
        Settings {
            pairs,
            deletes: config.sync.deletes,
            lookback: config.sync.lookback,
            association_sweep: config.sync.association_sweep,
            max_attempts: 8,
            apply_batch: 1000,
            sla: config.sla.as_ref().map(|sla| sla.engine()),
        }
    }
}

/// HubSpot's and Salesforce's email fields hold emails: without a `type`, the email
/// mapping compares them as emails (trimmed, case-folded). A company's `domain` holds a
/// host name while what it maps to is usually a URL (`Website`): without a `type`, it is
/// compared as a domain, so `acme.com` and `https://www.acme.com/` agree.
fn typed(mapping: &FieldMapping) -> FieldMapping {
    let mut mapping = mapping.clone();
    if mapping.field_type.is_none() && mapping.hubspot == "email" && mapping.salesforce == "Email" {
        mapping.field_type = Some(FieldType::Email);
    }
    if mapping.field_type.is_none()
        && mapping.object == Pair::Companies
        && mapping.hubspot == "domain"
    {
        mapping.field_type = Some(FieldType::Domain);
    }
    mapping
}

/// The description of one pair; `None` for a pair this truce cannot sync yet.
fn pair_spec(config: &Config, pair: Pair) -> Option<PairSpec> {
    let companies = &config.companies;
    let identity = match pair {
        Pair::Contacts => Identity::Email(People {
            qualify: config.sync.qualify.clone(),
            create_as: config.sync.create_salesforce_as.object_type(),
            external_id_field: config.salesforce.external_id_field.clone(),
        }),
        Pair::Companies => Identity::Company(Companies {
            matching: companies.matching,
            create_in_salesforce: companies.create_in_salesforce,
            create_in_hubspot: companies.create_in_hubspot,
            external_id_field: companies.external_id_field.clone(),
            hubspot_id_property: companies.hubspot_id_property.clone(),
        }),
        Pair::Deals => Identity::Deal(Deals {
            create_in_hubspot: config.deals.create_in_hubspot,
            create_in_salesforce: config.deals.create_in_salesforce,
            external_id_field: config.deals.external_id_field.clone(),
            hubspot_id_property: config.deals.hubspot_id_property.clone(),
        }),
    };
    // A deal made from an Opportunity goes into the configured pipeline.
    let create_defaults = match pair {
        Pair::Deals => vec![(
            ObjectType::HubSpotDeal,
            HUBSPOT_PIPELINE.to_string(),
            serde_json::Value::String(config.deals.pipeline.clone()),
        )],
        _ => Vec::new(),
    };
    // Companies are matched and created through people: the people pair reads each
    // person's company whether or not a [[field]] maps it.
    let mut extra_reads =
        if pair == Pair::Contacts && config.sync.objects.contains(&Pair::Companies) {
            vec![
                (ObjectType::HubSpotContact, PRIMARY_COMPANY.to_string()),
                (ObjectType::SalesforceContact, CONTACT_ACCOUNT.to_string()),
            ]
        } else {
            Vec::new()
        };
    // The SLA watch reads a Lead's status and owner, and the funnel a contact's lead source,
    // whether or not a [[field]] maps them.
    if pair == Pair::Contacts
        && let Some(sla) = &config.sla
    {
        extra_reads.extend([
            (ObjectType::SalesforceLead, sla.status_field.clone()),
            (ObjectType::SalesforceLead, sla.owner_field.clone()),
            (ObjectType::HubSpotContact, sla.source_property.clone()),
        ]);
    }
    let fields = config
        .fields
        .iter()
        .filter(|f| f.object == pair)
        .map(|f| FieldMap::new(&typed(f)))
        .collect();
    Some(PairSpec {
        pair,
        identity,
        fields,
        create_defaults,
        extra_reads,
    })
}
