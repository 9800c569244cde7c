//! API families: every request a connector makes goes to the family it is configured
//! with, and the 2026-09 write validation rules refuse single records for good.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::json;
use truce_connectors::contract::Cursors;
use truce_connectors::hubspot::{ApiVersion, HubSpotConnector};
use truce_connectors::{Connector, ErrorClass, ObjectType, Write, WriteOp};
use truce_sandbox::Served;
use truce_sandbox::hubspot::{HubSpotSandbox, ObjectType as Kind, SandboxOptions, ValidationRule};

use crate::{
    connector, endpoint, family, fields, poll, scan_all, start, update_of, upsert, upsert_on,
};

fn every_object(served: &Served, sandbox: &HubSpotSandbox, v: ApiVersion) -> HubSpotConnector {
    connector(served, sandbox, v, |c| {
        c.objects = BTreeMap::from([
            (ObjectType::HubSpotContact, fields(&["city", "@company"])),
            (
                ObjectType::HubSpotCompany,
                fields(&["name", "salesforce_account_id"]),
            ),
            (
                ObjectType::HubSpotDeal,
                fields(&["dealname", "amount", "@company", "@contacts"]),
            ),
        ]);
    })
}

async fn every_request_goes_to_the_family_the_connector_speaks(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    sandbox
        .add_unique_property(Kind::Companies, "salesforce_account_id", "Account Id")
        .unwrap();
    let companies = sandbox.seed_companies(10, 1);
    let people = sandbox.seed_contacts(30, 2);
    sandbox.associate_contacts_by_domain();
    let deals = sandbox.seed_deals(10, 3);
    sandbox.archive_object(Kind::Deals, &deals[9]).unwrap();
    let conn = every_object(&served, &sandbox, v);

    // Every kind of call the client makes: search, list (live and archived), batch read,
    // describe (properties, pipelines), association reads and every write.
    let mut since = Cursors::new();
    assert!(poll(&conn, &mut since, Duration::from_secs(60)).await.len() >= 49);
    for object in [
        ObjectType::HubSpotContact,
        ObjectType::HubSpotCompany,
        ObjectType::HubSpotDeal,
    ] {
        assert!(!scan_all(&conn, object).await.is_empty());
        assert!(!conn.describe(object).await.unwrap().is_empty());
    }
    conn.fetch(ObjectType::HubSpotDeal, &deals).await.unwrap();
    let email = sandbox.get(&people[0]).unwrap().properties["email"].clone();
    assert_eq!(conn.find_by_email(&[email]).await.unwrap().records.len(), 1);
    conn.associations(
        ObjectType::HubSpotDeal,
        &deals,
        &["@contacts".into(), "@company".into()],
    )
    .await
    .unwrap();
    let writes = vec![
        upsert(1, "new@example.com", &[("city", "Oslo")]),
        upsert_on(
            2,
            ObjectType::HubSpotCompany,
            ("salesforce_account_id", "001A"),
            &[("name", "New")],
        ),
        update_of(
            3,
            ObjectType::HubSpotDeal,
            &deals[0],
            serde_json::from_value(json!({"dealname": "Renamed", "@company": companies[5],
                                          "@contacts": [people[3]]}))
            .unwrap(),
        ),
        update_of(
            4,
            ObjectType::HubSpotContact,
            &people[1],
            serde_json::from_value(json!({"@company": null})).unwrap(),
        ),
        Write {
            key: 5,
            object: ObjectType::HubSpotDeal,
            op: WriteOp::Create { upsert_on: None },
            fields: serde_json::from_value(
                json!({"dealname": "New deal", "@company": companies[0]}),
            )
            .unwrap(),
        },
        Write {
            key: 6,
            object: ObjectType::HubSpotDeal,
            op: WriteOp::Delete {
                id: deals[1].clone(),
            },
            fields: BTreeMap::new(),
        },
    ];
    let outcomes = conn.apply(writes).await.unwrap();
    for o in &outcomes {
        assert!(o.result.is_ok(), "{}: {:?}", o.key, o.result);
    }
    let counted = sandbox.counters().snapshot();
    for op in ["read", "create", "archive", "labels/archive"] {
        assert!(
            counted.contains_key(&crate::association_batch(v, op)),
            "{op}: {counted:?}"
        );
    }

    let by_version = sandbox.requests_by_version();
    let total: u64 = by_version.values().sum();
    assert_eq!(
        total,
        conn.calls(),
        "every call is a CRM call of one family"
    );
    assert_eq!(
        by_version,
        BTreeMap::from([(family(v), total)]),
        "{counted:?}"
    );
}

fn deal(key: i64, id: &str, props: &[(&str, &str)]) -> Write {
    upsert_on(
        key,
        ObjectType::HubSpotDeal,
        ("salesforce_opportunity_id", id),
        props,
    )
}

/// A portal whose deals need an amount on create, and a close date once won; the
/// connector, and an open deal. `Served` keeps the server up.
async fn ruled(
    options: SandboxOptions,
    v: ApiVersion,
) -> (HubSpotSandbox, Served, HubSpotConnector, String) {
    let (sandbox, served) = start(options).await;
    sandbox
        .add_unique_property(Kind::Deals, "salesforce_opportunity_id", "Opportunity Id")
        .unwrap();
    let open = sandbox
        .create_deal(&[
            ("dealname", "Open"),
            ("amount", "10"),
            ("dealstage", "contractsent"),
        ])
        .unwrap();
    sandbox.add_validation_rule(ValidationRule::required(Kind::Deals, "amount"));
    sandbox.add_validation_rule(ValidationRule::required_when(
        Kind::Deals,
        "closedate",
        "dealstage",
        "closedwon",
    ));
    let conn = connector(&served, &sandbox, v, |c| {
        c.objects = BTreeMap::from([(ObjectType::HubSpotDeal, fields(&["dealname", "amount"]))]);
    });
    (sandbox, served, conn, open)
}

async fn a_2026_09_validation_rule_refuses_one_record_of_a_batch_for_good_while_the_rest_are_written(
    v: ApiVersion,
) {
    let (sandbox, _served, conn, open) = ruled(SandboxOptions::default(), v).await;
    let mut writes: Vec<Write> = (1..=5)
        .map(|i| {
            let amount = if i == 3 { "" } else { "100" };
            let mut w = deal(i, &format!("006{i}"), &[("dealname", &format!("Deal {i}"))]);
            if !amount.is_empty() {
                w.fields.insert("amount".into(), json!(amount));
            }
            w
        })
        .collect();
    writes.push(update_of(
        6,
        ObjectType::HubSpotDeal,
        &open,
        serde_json::from_value(json!({"dealstage": "closedwon"})).unwrap(),
    ));
    sandbox.counters().reset();

    let outcomes = conn.apply(writes).await.unwrap();

    let by_key: HashMap<i64, _> = outcomes.iter().map(|o| (o.key, &o.result)).collect();
    assert_eq!(by_key.len(), 6);
    if v.enforces_write_rules() {
        let missing = by_key[&3].as_ref().unwrap_err();
        assert_eq!(missing.class(), ErrorClass::Permanent);
        assert_eq!(
            missing.api().code.as_deref(),
            Some("MISSING_REQUIRED_PROPERTY")
        );
        assert_eq!(missing.api().message, "A value for amount must be provided");
        assert_eq!(missing.api().fields, vec!["amount".to_string()]);
        let conditional = by_key[&6].as_ref().unwrap_err();
        assert_eq!(conditional.class(), ErrorClass::Permanent);
        assert_eq!(
            conditional.api().code.as_deref(),
            Some("MISSING_CONDITIONAL_REQUIRED_PROPERTY")
        );
        assert_eq!(conditional.api().fields, vec!["closedate".to_string()]);
        assert!(conditional.api().message.contains("closedate is required"));
        for key in [1, 2, 4, 5] {
            assert!(by_key[&key].is_ok(), "{key}");
        }
        assert_eq!(sandbox.deals().len(), 5);
    } else {
        assert!(
            outcomes.iter().all(|o| o.result.is_ok()),
            "v3 ignores the rules"
        );
        assert_eq!(sandbox.deals().len(), 6);
    }
    // Refused for good: not retried.
    let counters = sandbox.counters();
    assert_eq!(
        counters.get(&endpoint(v, "POST", "objects", "/deals/batch/upsert")),
        1
    );
    assert_eq!(
        counters.get(&endpoint(v, "POST", "objects", "/deals/batch/update")),
        1
    );
    assert_eq!(counters.total(), 2);
}

async fn a_whole_batch_refused_by_a_2026_09_rule_is_split_until_the_refused_record_stands_alone(
    v: ApiVersion,
) {
    let options = SandboxOptions {
        atomic_batches: true,
        ..SandboxOptions::default()
    };
    let (sandbox, _served, conn, _) = ruled(options, v).await;
    let writes: Vec<Write> = (1..=40)
        .map(|i| {
            let mut props = vec![("dealname", "Deal")];
            if i != 17 {
                props.push(("amount", "100"));
            }
            deal(i, &format!("006{i}"), &props)
        })
        .collect();
    let outcomes = conn.apply(writes).await.unwrap();
    let refused: Vec<i64> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.key)
        .collect();
    if v.enforces_write_rules() {
        assert_eq!(refused, vec![17]);
        let err = outcomes[16].result.as_ref().unwrap_err();
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert_eq!(err.api().code.as_deref(), Some("MISSING_REQUIRED_PROPERTY"));
        assert_eq!(err.api().status, Some(400));
        assert_eq!(sandbox.deals().len(), 40);
        let calls = sandbox
            .counters()
            .get(&endpoint(v, "POST", "objects", "/deals/batch/upsert"));
        assert!(calls <= 12, "{calls} calls to isolate one refused record");
    } else {
        assert!(refused.is_empty());
        assert_eq!(sandbox.deals().len(), 41);
    }
}

per_version! {
    #[tokio::test] every_request_goes_to_the_family_the_connector_speaks,
    #[tokio::test]
    a_2026_09_validation_rule_refuses_one_record_of_a_batch_for_good_while_the_rest_are_written,
    #[tokio::test]
    a_whole_batch_refused_by_a_2026_09_rule_is_split_until_the_refused_record_stands_alone,
}
