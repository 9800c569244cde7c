//! Deal pipelines and owners.

use serde_json::json;
use truce_sandbox::hubspot::{DealPipeline, DealStage};

use crate::Portal;

#[tokio::test]
async fn the_default_deal_pipeline_has_seven_stages_with_string_metadata() {
    let portal = Portal::new().await;
    let (status, all) = portal.get("/crm/v3/pipelines/deals").await;
    assert_eq!(status, 200);
    assert!(all.get("paging").is_none());
    let pipeline = &all["results"][0];
    assert_eq!(
        (
            pipeline["id"].as_str(),
            pipeline["label"].as_str(),
            pipeline["displayOrder"].as_i64()
        ),
        (Some("default"), Some("Sales Pipeline"), Some(0))
    );
    let stages: Vec<(&str, &str, &str)> = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap(),
                s["metadata"]["probability"].as_str().unwrap(),
                s["metadata"]["isClosed"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("appointmentscheduled", "0.2", "false"),
            ("qualifiedtobuy", "0.4", "false"),
            ("presentationscheduled", "0.6", "false"),
            ("decisionmakerboughtin", "0.8", "false"),
            ("contractsent", "0.9", "false"),
            ("closedwon", "1.0", "true"),
            ("closedlost", "0.0", "true"),
        ]
    );
    assert_eq!(
        pipeline["stages"][5],
        json!({"id": "closedwon", "label": "Closed Won", "displayOrder": 5,
               "metadata": {"isClosed": "true", "probability": "1.0"},
               "createdAt": "1970-01-01T00:00:00.000Z", "updatedAt": "1970-01-01T00:00:00.000Z",
               "archived": false, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"})
    );
    let (status, one) = portal.get("/crm/v3/pipelines/0-3/default").await;
    assert_eq!((status, &one), (200, pipeline));
    let (_, stages) = portal.get("/crm/v3/pipelines/deals/default/stages").await;
    assert_eq!(stages["results"].as_array().unwrap().len(), 7);
    let (status, stage) = portal
        .get("/crm/v3/pipelines/deals/default/stages/closedlost")
        .await;
    assert_eq!(
        (status, stage["label"].as_str()),
        (200, Some("Closed Lost"))
    );
    assert_eq!(portal.get("/crm/v3/pipelines/deals/nope").await.0, 404);
    assert_eq!(portal.get("/crm/v3/pipelines/contacts").await.0, 400);

    portal
        .sandbox
        .add_pipeline(DealPipeline {
            id: "renewals".into(),
            label: "Renewals".into(),
            stages: vec![DealStage::new("renewed", "Renewed", 1.0, true)],
        })
        .unwrap();
    let (_, all) = portal.get("/crm/v3/pipelines/deals").await;
    assert_eq!(all["results"][1]["id"], "renewals");
    assert_eq!(all["results"][1]["displayOrder"], 1);
    assert!(
        portal
            .sandbox
            .add_pipeline(DealPipeline {
                id: "bad".into(),
                label: "Bad".into(),
                stages: vec![DealStage::new("Closed", "Closed", 1.0, true)],
            })
            .is_err(),
        "stage ids are lower case"
    );
}

#[tokio::test]
async fn owners_page_filter_by_email_and_list_deactivated_users_apart() {
    let portal = Portal::new().await;
    let (status, all) = portal.get("/crm/v3/owners/").await;
    assert_eq!(status, 200);
    let active = all["results"].as_array().unwrap();
    assert_eq!(active.len(), 3);
    let first = &active[0];
    assert!(first["id"].is_string() && first["userId"].is_u64());
    assert_ne!(first["id"].as_str().unwrap(), first["userId"].to_string());
    assert_eq!(first["type"], "PERSON");
    assert_eq!(first["archived"], false);

    let (_, page) = portal.get("/crm/v3/owners?limit=2").await;
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    let after = page["paging"]["next"]["after"].as_str().unwrap();
    let (_, rest) = portal
        .get(&format!("/crm/v3/owners?limit=2&after={after}"))
        .await;
    assert_eq!(rest["results"].as_array().unwrap().len(), 1);
    assert!(rest.get("paging").is_none());

    let email = first["email"].as_str().unwrap().to_uppercase();
    let (_, found) = portal.get(&format!("/crm/v3/owners?email={email}")).await;
    assert_eq!(found["results"][0]["id"], first["id"]);
    let (_, gone) = portal.get("/crm/v3/owners?archived=true").await;
    assert_eq!(gone["results"].as_array().unwrap().len(), 1);
    assert_eq!(gone["results"][0]["archived"], true);

    let id = first["id"].as_str().unwrap();
    let (status, one) = portal.get(&format!("/crm/v3/owners/{id}")).await;
    assert_eq!((status, &one), (200, first));
    let (status, by_user) = portal
        .get(&format!(
            "/crm/v3/owners/{}?idProperty=userId",
            first["userId"]
        ))
        .await;
    assert_eq!((status, by_user["id"].as_str()), (200, Some(id)));
    assert_eq!(portal.get("/crm/v3/owners/1").await.0, 404);
}
