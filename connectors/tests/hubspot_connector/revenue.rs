//! Companies and deals: pulled on `hs_lastmodifieddate` with many records in one
//! millisecond, scanned, fetched, written (upserts on a unique property), archived and
//! merged, with their name, domain and a deal's outcome typed.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;
use truce_connectors::contract::Cursors;
use truce_connectors::hubspot::{ApiVersion, HubSpotConnector};
use truce_connectors::{Connector, ErrorClass, FieldKind, ObjectType, Record, Write, WriteOp};
use truce_sandbox::Served;
use truce_sandbox::hubspot::{
    DealPipeline, DealStage, HubSpotSandbox, ObjectType as Kind, SandboxOptions,
};

use crate::{connector, endpoint, fields, poll, scan_all, start, upsert_on};

/// A connector reading companies (`city`, `domain`) and deals (`dealstage`, `amount`).
fn revenue_connector(served: &Served, sandbox: &HubSpotSandbox, v: ApiVersion) -> HubSpotConnector {
    connector(served, sandbox, v, |c| {
        c.objects = BTreeMap::from([
            (ObjectType::HubSpotCompany, fields(&["city", "domain"])),
            (ObjectType::HubSpotDeal, fields(&["dealstage", "amount"])),
        ]);
    })
}

/// HubSpot's `"1500.00"` as the plain decimal the contract carries.
fn plain(amount: &str) -> String {
    let trimmed = amount.trim_end_matches('0').trim_end_matches('.');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

fn once_each(records: &[Record]) -> HashMap<&str, usize> {
    let mut seen = HashMap::new();
    for r in records {
        *seen.entry(r.id.as_str()).or_default() += 1;
    }
    seen
}

async fn companies_and_deals_sharing_one_millisecond_are_pulled_once_each_with_metadata_typed(
    v: ApiVersion,
) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let companies = sandbox.seed_companies(450, 3);
    let deals = sandbox.seed_deals(450, 4);
    let conn = revenue_connector(&served, &sandbox, v);
    let mut since = Cursors::new();
    assert_eq!(
        poll(&conn, &mut since, Duration::from_secs(60)).await.len(),
        900
    );

    // A bulk import: every company and every deal edited in one millisecond.
    let stamp = chrono::Utc::now().timestamp_millis();
    sandbox.freeze_clock(stamp);
    for id in &companies {
        sandbox
            .edit_object(Kind::Companies, id, &[("city", "Burst")])
            .unwrap();
    }
    for id in &deals {
        // A new name too: a deal already won would otherwise not change at all.
        let name = format!("Won {id}");
        sandbox
            .edit_object(
                Kind::Deals,
                id,
                &[("dealstage", "closedwon"), ("dealname", &name)],
            )
            .unwrap();
    }
    sandbox.unfreeze_clock();
    sandbox.counters().reset();
    let records = poll(&conn, &mut since, Duration::ZERO).await;

    let seen = once_each(&records);
    assert_eq!(records.len(), 900, "each edited record once");
    assert!(seen.values().all(|n| *n == 1));
    assert!(
        companies
            .iter()
            .chain(&deals)
            .all(|id| seen.contains_key(id.as_str()))
    );
    assert_eq!(since["companies"].modified_at, stamp);
    assert_eq!(since["deals"].modified_at, stamp);
    let searches = |path: &str| {
        sandbox
            .counters()
            .get(&endpoint(v, "POST", "objects", path))
    };
    assert!(searches("/companies/search") >= 3 && searches("/deals/search") >= 3);
    for record in &records {
        assert_eq!(record.modified_at, stamp);
        match record.object {
            ObjectType::HubSpotCompany => {
                let stored = sandbox.company(&record.id).unwrap();
                assert_eq!(
                    record.name.as_deref(),
                    Some(stored.properties["name"].as_str())
                );
                assert_eq!(
                    record.domain.as_deref(),
                    Some(stored.properties["domain"].as_str())
                );
                assert_eq!(record.fields["city"], Value::String("Burst".into()));
                assert!(
                    !record.fields.contains_key("name"),
                    "name was not configured"
                );
                assert!(record.outcome.is_none() && record.email.is_none());
            }
            ObjectType::HubSpotDeal => {
                let stored = sandbox.deal(&record.id).unwrap();
                assert_eq!(
                    record.name.as_deref(),
                    Some(stored.properties["dealname"].as_str())
                );
                let outcome = record.outcome.as_ref().unwrap();
                assert!(outcome.closed && outcome.won, "{outcome:?}");
                let amount = &stored.properties["amount"];
                assert_eq!(outcome.amount.as_deref(), Some(plain(amount).as_str()));
                assert_eq!(record.fields["amount"], Value::String(amount.clone()));
                assert_eq!(
                    record.fields["dealstage"],
                    Value::String("closedwon".into())
                );
                for p in ["dealname", "hs_is_closed_won", "hs_lastmodifieddate"] {
                    assert!(!record.fields.contains_key(p), "{p} was not configured");
                }
            }
            other => panic!("{other} pulled"),
        }
    }
}

async fn companies_and_deals_are_scanned_and_fetched_by_id(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let companies = sandbox.seed_companies(250, 5);
    let deals = sandbox.seed_deals(30, 6);
    let conn = revenue_connector(&served, &sandbox, v);

    let scanned: Vec<String> = scan_all(&conn, ObjectType::HubSpotCompany)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(scanned, companies);
    assert_eq!(
        sandbox
            .counters()
            .get(&endpoint(v, "GET", "objects", "/companies")),
        3
    );

    let mut wanted = companies.clone();
    wanted.push("424242".into());
    let fetched = conn
        .fetch(ObjectType::HubSpotCompany, &wanted)
        .await
        .unwrap();
    assert_eq!(fetched.records.len(), 250);
    assert!(
        fetched
            .records
            .iter()
            .all(|r| r.name.is_some() && r.domain.is_some())
    );
    assert_eq!(
        sandbox
            .counters()
            .get(&endpoint(v, "POST", "objects", "/companies/batch/read")),
        3
    );

    let fetched = conn.fetch(ObjectType::HubSpotDeal, &deals).await.unwrap();
    assert_eq!(fetched.records.len(), 30);
    for record in &fetched.records {
        let stored = sandbox.deal(&record.id).unwrap();
        let outcome = record.outcome.as_ref().unwrap();
        assert_eq!(outcome.won, stored.properties["hs_is_closed_won"] == "true");
        assert_eq!(outcome.closed, stored.properties["hs_is_closed"] == "true");
    }
    let scanned = scan_all(&conn, ObjectType::HubSpotDeal).await;
    assert_eq!(scanned.len(), 30);
}

async fn companies_and_deals_are_upserted_on_a_unique_property_updated_and_archived(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    sandbox
        .add_unique_property(
            Kind::Companies,
            "salesforce_account_id",
            "Salesforce Account Id",
        )
        .unwrap();
    sandbox
        .add_unique_property(Kind::Deals, "salesforce_opportunity_id", "Opportunity Id")
        .unwrap();
    let conn = revenue_connector(&served, &sandbox, v);
    let account = |key, id, props: &[(&str, &str)]| {
        upsert_on(
            key,
            ObjectType::HubSpotCompany,
            ("salesforce_account_id", id),
            props,
        )
    };
    let opportunity = |key, id, props: &[(&str, &str)]| {
        upsert_on(
            key,
            ObjectType::HubSpotDeal,
            ("salesforce_opportunity_id", id),
            props,
        )
    };
    let writes = vec![
        opportunity(
            4,
            "006B",
            &[("dealname", "Bad stage"), ("dealstage", "nosuchstage")],
        ),
        account(1, "001A", &[("name", "Acme"), ("domain", "acme.example")]),
        opportunity(
            3,
            "006A",
            &[
                ("dealname", "Acme - Pilot"),
                ("dealstage", "contractsent"),
                ("amount", "1500.50"),
            ],
        ),
        account(2, "001B", &[("name", "Globex")]),
    ];
    let outcomes = conn.apply(writes.clone()).await.unwrap();
    assert_eq!(
        outcomes.iter().map(|o| o.key).collect::<Vec<_>>(),
        vec![4, 1, 3, 2],
        "one outcome per write, in input order"
    );
    let by_key: HashMap<i64, _> = outcomes.iter().map(|o| (o.key, &o.result)).collect();
    let refused = by_key[&4].as_ref().unwrap_err();
    assert_eq!(refused.class(), ErrorClass::Permanent);
    assert_eq!(refused.api().code.as_deref(), Some("INVALID_OPTION"));
    assert_eq!(refused.api().fields, vec!["dealstage".to_string()]);
    let acme = by_key[&1].as_ref().unwrap();
    assert!(acme.created);
    let stored = sandbox
        .find_object(Kind::Companies, "salesforce_account_id", "001A")
        .unwrap();
    assert_eq!(stored.id, acme.id);
    assert_eq!(stored.properties["domain"], "acme.example");
    let deal = by_key[&3].as_ref().unwrap().id.clone();
    assert_eq!(
        sandbox.deal(&deal).unwrap().properties["dealname"],
        "Acme - Pilot"
    );
    for path in ["/companies/batch/upsert", "/deals/batch/upsert"] {
        assert_eq!(
            sandbox
                .counters()
                .get(&endpoint(v, "POST", "objects", path)),
            1,
            "{path}"
        );
    }

    // Upserts again after a lost answer: the same records, nothing created.
    let again = conn.apply(writes[1..].to_vec()).await.unwrap();
    for outcome in &again {
        let written = outcome.result.as_ref().unwrap();
        assert!(!written.created);
        assert_eq!(&written.id, &by_key[&outcome.key].as_ref().unwrap().id);
    }
    assert_eq!((sandbox.companies().len(), sandbox.deals().len()), (2, 1));

    let fetched = conn
        .fetch(ObjectType::HubSpotDeal, std::slice::from_ref(&deal))
        .await
        .unwrap();
    let outcome = fetched.records[0].outcome.clone().unwrap();
    assert!(!outcome.closed && !outcome.won);
    assert_eq!(outcome.amount.as_deref(), Some("1500.5"));

    let mut since = Cursors::new();
    poll(&conn, &mut since, Duration::from_secs(60)).await;
    let rename = Write {
        key: 10,
        object: ObjectType::HubSpotCompany,
        op: WriteOp::Update {
            id: acme.id.clone(),
            no_associations: false,
        },
        fields: BTreeMap::from([("name".into(), Value::String("Acme Corp".into()))]),
    };
    let archive = Write {
        key: 11,
        object: ObjectType::HubSpotDeal,
        op: WriteOp::Delete { id: deal.clone() },
        fields: BTreeMap::new(),
    };
    let outcomes = conn.apply(vec![rename, archive]).await.unwrap();
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(
        sandbox.company(&acme.id).unwrap().properties["name"],
        "Acme Corp"
    );
    assert!(sandbox.deal(&deal).is_none());

    let records = poll(&conn, &mut since, Duration::from_secs(60)).await;
    let renamed = records.iter().find(|r| r.id == acme.id).unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Acme Corp"));
    let archived = records.iter().find(|r| r.id == deal).unwrap();
    assert!(archived.deleted);
    assert!(since.contains_key("deals.archived"));
}

async fn a_merged_company_is_pulled_with_the_ids_merged_into_it(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_companies(5, 8);
    let conn = revenue_connector(&served, &sandbox, v);
    let mut since = Cursors::new();
    poll(&conn, &mut since, Duration::from_secs(60)).await;
    let survivor = sandbox
        .merge_objects(Kind::Companies, &ids[1], &ids[2])
        .unwrap();
    let records = poll(&conn, &mut since, Duration::from_secs(60)).await;
    let merged = records.iter().find(|r| r.id == survivor).unwrap();
    assert_eq!(merged.merged_ids, vec![ids[1].clone(), ids[2].clone()]);
}

async fn deals_are_described_with_every_stage_and_pipeline_of_the_portal(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    sandbox
        .add_pipeline(DealPipeline {
            id: "renewals".into(),
            label: "Renewals".into(),
            stages: vec![
                DealStage::new("renewalopen", "Open", 0.5, false),
                DealStage::new("renewed", "Renewed", 1.0, true),
            ],
        })
        .unwrap();
    let conn = revenue_connector(&served, &sandbox, v);
    sandbox.counters().reset();
    let fields = conn.describe(ObjectType::HubSpotDeal).await.unwrap();
    let by_name: HashMap<&str, _> = fields.iter().map(|f| (f.name.as_str(), f)).collect();
    let stage = by_name["dealstage"];
    assert_eq!(stage.kind, FieldKind::Enumeration);
    assert!(!stage.options_elsewhere);
    for id in [
        "appointmentscheduled",
        "closedwon",
        "closedlost",
        "renewalopen",
        "renewed",
    ] {
        assert!(
            stage.options.contains(&id.to_string()),
            "{id}: {:?}",
            stage.options
        );
    }
    assert_eq!(stage.options.len(), 9);
    let pipeline = by_name["pipeline"];
    assert_eq!(pipeline.options, vec!["default", "renewals"]);
    assert!(!pipeline.options_elsewhere);
    assert!(by_name["hs_is_closed_won"].read_only);
    assert_eq!(
        sandbox
            .counters()
            .get(&endpoint(v, "GET", "pipelines", "/deals")),
        1
    );
    assert_eq!(sandbox.counters().total(), 2, "properties and pipelines");
    let companies = conn.describe(ObjectType::HubSpotCompany).await.unwrap();
    assert!(companies.iter().any(|f| f.name == "domain"));
}

async fn a_stream_read_to_the_end_early_is_not_read_again_while_another_goes_on(v: ApiVersion) {
    // Companies fit in one page, deals need three: the companies' position must travel
    // with the later pages, or each page starts the companies over.
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let companies = sandbox.seed_companies(30, 5);
    let deals = sandbox.seed_deals(450, 6);
    let conn = revenue_connector(&served, &sandbox, v);
    let mut since = Cursors::new();
    let records = poll(&conn, &mut since, Duration::from_secs(60)).await;
    let seen = once_each(&records);
    assert_eq!(records.len(), 480, "each record once");
    assert!(seen.values().all(|n| *n == 1));
    assert!(
        companies
            .iter()
            .chain(&deals)
            .all(|id| seen.contains_key(id.as_str()))
    );
    let searches = sandbox
        .counters()
        .get(&endpoint(v, "POST", "objects", "/companies/search"));
    assert_eq!(searches, 1, "the companies were read once");
}

per_version! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    companies_and_deals_sharing_one_millisecond_are_pulled_once_each_with_metadata_typed,
    #[tokio::test] a_stream_read_to_the_end_early_is_not_read_again_while_another_goes_on,
    #[tokio::test] companies_and_deals_are_scanned_and_fetched_by_id,
    #[tokio::test] companies_and_deals_are_upserted_on_a_unique_property_updated_and_archived,
    #[tokio::test] a_merged_company_is_pulled_with_the_ids_merged_into_it,
    #[tokio::test] deals_are_described_with_every_stage_and_pipeline_of_the_portal,
}
