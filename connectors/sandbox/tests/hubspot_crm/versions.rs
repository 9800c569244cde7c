//! The date-versioned families (`2026-03`, `2026-09`): the same routes and behaviour, the
//! documented differences, counters that name the family, and the write validation rules
//! that bind on `2026-09` only.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use truce_sandbox::hubspot::{ApiVersion, ObjectType, ValidationRule};

use crate::{Portal, spec};

#[tokio::test]
async fn every_api_is_served_under_2026_09_and_the_counters_name_the_family() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    let company = s
        .create_company(&[("name", "Acme"), ("domain", "acme.example")])
        .unwrap();
    s.counters().reset();

    let (status, deal) = portal
        .post(
            "/crm/objects/2026-09/deals",
            json!({"properties": {"dealname": "D", "dealstage": "closedwon"},
                   "associations": [{"to": {"id": company}, "types": [spec(5)]}]}),
        )
        .await;
    assert_eq!(status, 201, "{deal}");
    let deal = deal["id"].as_str().unwrap().to_string();
    let calls: Vec<(u16, Value)> = vec![
        portal
            .get(&format!(
                "/crm/objects/2026-09/0-3/{deal}?associations=companies"
            ))
            .await,
        portal.get("/crm/objects/2026-09/companies?limit=5").await,
        portal
            .patch(
                &format!("/crm/objects/2026-09/deals/{deal}"),
                json!({"properties": {"amount": "10"}}),
            )
            .await,
        portal
            .post(
                "/crm/objects/2026-09/deals/search",
                json!({"filterGroups": [{"filters": [
                {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}]}]}),
            )
            .await,
        portal
            .post(
                "/crm/objects/2026-09/companies/batch/read",
                json!({"inputs": [{"id": company}], "properties": ["name"]}),
            )
            .await,
        portal
            .get(&format!(
                "/crm/objects/2026-09/deals/{deal}/associations/companies"
            ))
            .await,
        portal
            .post(
                "/crm/associations/2026-09/deals/companies/batch/read",
                json!({"inputs": [{"id": deal}]}),
            )
            .await,
        portal.get("/crm/properties/2026-09/deals/dealstage").await,
        portal.get("/crm/pipelines/2026-09/deals").await,
        portal.get("/crm/owners/2026-09").await,
    ];
    for (i, (status, body)) in calls.iter().enumerate() {
        assert_eq!(*status, 200, "call {i}: {body}");
    }
    assert_eq!(
        calls[0].1["associations"]["companies"]["results"][0]["type"],
        "deal_to_company"
    );
    assert_eq!(calls[3].1["total"], 1);
    assert_eq!(
        calls[5].1["results"][0]["toObjectId"],
        json!(company.parse::<u64>().unwrap())
    );
    assert_eq!(calls[8].1["results"][0]["id"], "default");
    let (status, merged) = portal
        .post(
            "/crm/objects/2026-09/companies/merge",
            json!({
            "primaryObjectId": company,
            "objectIdToMerge": s.create_company(&[("name", "Other")]).unwrap()}),
        )
        .await;
    assert_eq!(status, 200, "{merged}");

    let counted = s.counters().snapshot();
    assert!(
        counted.keys().all(|endpoint| endpoint.contains("/2026-09")),
        "{counted:?}"
    );
    assert!(
        counted.contains_key("GET /crm/objects/2026-09/0-3/{id}"),
        "{counted:?}"
    );
    assert!(counted.contains_key("POST /crm/associations/2026-09/{from}/{to}/batch/read"));
    assert_eq!(
        s.requests_by_version(),
        BTreeMap::from([(ApiVersion::V2026_09, 12)])
    );
    portal.get("/crm/v3/objects/contacts").await;
    portal.get("/crm/objects/2026-03/contacts").await;
    let by_version = s.requests_by_version();
    assert_eq!(
        (
            by_version[&ApiVersion::Legacy],
            by_version[&ApiVersion::V2026_03]
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn association_batches_answer_as_each_family_documents() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    let contact = s.create_contact(&[("email", "k@example.com")]).unwrap();
    let company = s.create_company(&[("name", "Acme")]).unwrap();
    let archive = json!({"inputs": [{"from": {"id": contact}, "to": [{"id": company}]}]});
    let create = json!({"inputs": [
        {"from": {"id": contact}, "to": {"id": company}, "types": [spec(279)]},
        {"from": {"id": contact}, "to": {"id": "42"}, "types": [spec(279)]}]});
    for (base, created, archived) in [
        ("/crm/v4/associations", 207, 204),
        ("/crm/associations/2026-03", 207, 200),
        ("/crm/associations/2026-09", 200, 200),
    ] {
        let (status, body) = portal
            .post(
                &format!("{base}/contacts/companies/batch/create"),
                create.clone(),
            )
            .await;
        assert_eq!(status, created, "{base}: {body}");
        assert_eq!(body["numErrors"], 1, "{base}: errors are in the body");
        let (status, body) = portal
            .post(
                &format!("{base}/contacts/companies/batch/archive"),
                archive.clone(),
            )
            .await;
        assert_eq!(status, archived, "{base}");
        if archived == 200 {
            assert_eq!(body["status"], "COMPLETE");
            assert_eq!(body["results"], json!([]));
            assert!(body["startedAt"].is_string() && body["completedAt"].is_string());
        } else {
            assert_eq!(body, Value::Null);
        }
    }
}

#[tokio::test]
async fn write_rules_bind_2026_09_paths_only() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    s.add_validation_rule(ValidationRule::required(ObjectType::Deals, "amount"));
    s.add_validation_rule(ValidationRule::required_when(
        ObjectType::Deals,
        "closedate",
        "dealstage",
        "closedwon",
    ));
    let no_amount = json!({"properties": {"dealname": "No amount"}});
    for base in ["/crm/v3/objects", "/crm/objects/2026-03"] {
        let (status, _) = portal
            .post(&format!("{base}/deals"), no_amount.clone())
            .await;
        assert_eq!(status, 201, "{base} ignores the rules");
    }
    let (status, refused) = portal
        .post("/crm/objects/2026-09/deals", no_amount.clone())
        .await;
    assert_eq!(status, 400);
    assert_eq!(refused["status"], "error");
    assert_eq!(refused["category"], "VALIDATION_ERROR");
    assert_eq!(
        refused["message"],
        "The property values provided are invalid"
    );
    assert!(refused["correlationId"].is_string());
    assert_eq!(
        refused["errors"],
        json!([{"message": "A value for amount must be provided",
                "code": "MISSING_REQUIRED_PROPERTY",
                "context": {"propertyName": ["amount"]}}])
    );

    let (status, deal) = portal
        .post(
            "/crm/objects/2026-09/deals",
            json!({"properties": {"dealname": "D", "amount": "100", "dealstage": "contractsent"}}),
        )
        .await;
    assert_eq!(status, 201);
    let path = format!(
        "/crm/objects/2026-09/deals/{}",
        deal["id"].as_str().unwrap()
    );
    let (status, refused) = portal
        .patch(&path, json!({"properties": {"dealstage": "closedwon"}}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        refused["errors"][0],
        json!({"message": "closedate is required because of a conditional property rule based on [dealstage]",
               "code": "MISSING_CONDITIONAL_REQUIRED_PROPERTY",
               "context": {"propertyName": ["closedate"]}})
    );
    let (status, _) = portal
        .patch(
            &path,
            json!({"properties": {"dealstage": "closedwon", "closedate": "2026-05-01"}}),
        )
        .await;
    assert_eq!(status, 200);
    let legacy = path.replace("/crm/objects/2026-09/", "/crm/v3/objects/");
    let (status, _) = portal
        .patch(&legacy, json!({"properties": {"closedate": ""}}))
        .await;
    assert_eq!(status, 200, "v3 ignores the conditional rule");

    // In a batch the refused input is that input's error; the others are written.
    let (status, batch) = portal
        .post(
            "/crm/objects/2026-09/deals/batch/create",
            json!({"inputs": [
                {"properties": {"dealname": "ok", "amount": "5"}, "objectWriteTraceId": "ok"},
                {"properties": {"dealname": "refused"}, "objectWriteTraceId": "refused"}]}),
        )
        .await;
    assert_eq!(status, 207, "{batch}");
    assert_eq!(batch["results"][0]["properties"]["dealname"], "ok");
    let error = &batch["errors"][0];
    assert_eq!(error["category"], "VALIDATION_ERROR");
    assert_eq!(error["errors"][0]["code"], "MISSING_REQUIRED_PROPERTY");
    assert_eq!(error["context"]["objectWriteTraceId"], json!(["refused"]));
    let (status, batch) = portal
        .post(
            "/crm/objects/2026-09/deals/batch/update",
            json!({"inputs": [
                {"id": deal["id"], "properties": {"closedate": ""}},
                {"id": deal["id"], "properties": {"description": "fine"}}]}),
        )
        .await;
    assert_eq!(status, 207, "{batch}");
    assert_eq!(
        batch["errors"][0]["errors"][0]["code"],
        "MISSING_CONDITIONAL_REQUIRED_PROPERTY"
    );
    assert_eq!(batch["results"].as_array().unwrap().len(), 1);

    s.clear_validation_rules();
    let (status, _) = portal.post("/crm/objects/2026-09/deals", no_amount).await;
    assert_eq!(status, 201);
}
