//! The HubSpot sandbox's own rules, checked over raw HTTP as any client would see them.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use truce_sandbox::Served;
use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions};

struct Portal {
    sandbox: HubSpotSandbox,
    served: Served,
    http: reqwest::Client,
}

impl Portal {
    async fn start(options: SandboxOptions) -> Portal {
        let sandbox = HubSpotSandbox::new(options);
        let served = sandbox
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        Portal {
            sandbox,
            served,
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.served.url()))
            .bearer_auth(self.sandbox.token());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, headers, value)
    }

    async fn search(&self, body: Value) -> (u16, Value) {
        let (status, _, value) = self
            .send(
                reqwest::Method::POST,
                "/crm/v3/objects/contacts/search",
                Some(body),
            )
            .await;
        (status, value)
    }
}

fn ids(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_missing_token_gets_hubspots_401_body() {
    let portal = Portal::start(SandboxOptions::default()).await;
    let response = portal
        .http
        .get(format!("{}/crm/v3/objects/contacts", portal.served.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["category"], "INVALID_AUTHENTICATION");
    assert_eq!(body["status"], "error");
    assert!(body["correlationId"].as_str().is_some());
}

#[tokio::test]
async fn search_supports_every_operator_the_connector_and_sdk_use() {
    let portal = Portal::start(SandboxOptions::default()).await;
    let seeded = portal.sandbox.seed_contacts(40, 21);
    let pick = |i: usize| portal.sandbox.get(&seeded[i]).unwrap();
    let (a, b, c) = (pick(5), pick(10), pick(20));
    let filter = |op: &str, extra: Value| {
        let mut f = json!({"propertyName": "hs_object_id", "operator": op});
        f.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"filterGroups": [{"filters": [f]}], "limit": 200})
    };
    let (_, eq) = portal.search(filter("EQ", json!({"value": a.id}))).await;
    assert_eq!(ids(&eq), vec![a.id.clone()]);
    let (_, neq) = portal.search(filter("NEQ", json!({"value": a.id}))).await;
    assert_eq!(neq["total"], 39);
    let (_, gt) = portal.search(filter("GT", json!({"value": b.id}))).await;
    assert_eq!(gt["total"], 29);
    let (_, gte) = portal.search(filter("GTE", json!({"value": b.id}))).await;
    assert_eq!(gte["total"], 30);
    let (_, lt) = portal.search(filter("LT", json!({"value": b.id}))).await;
    assert_eq!(lt["total"], 10);
    let (_, lte) = portal.search(filter("LTE", json!({"value": b.id}))).await;
    assert_eq!(lte["total"], 11);
    let (_, between) = portal
        .search(filter("BETWEEN", json!({"value": b.id, "highValue": c.id})))
        .await;
    assert_eq!(between["total"], 11);
    let (_, within) = portal
        .search(filter("IN", json!({"values": [a.id, c.id, "1"]})))
        .await;
    assert_eq!(within["total"], 2);

    portal
        .sandbox
        .edit(&a.id, &[("hs_lead_status", "")])
        .unwrap();
    portal
        .sandbox
        .edit(&b.id, &[("hs_lead_status", "")])
        .unwrap();
    let has = |op: &str| json!({"filterGroups": [{"filters": [{"propertyName": "hs_lead_status", "operator": op}]}], "limit": 200});
    let (_, with) = portal.search(has("HAS_PROPERTY")).await;
    let (_, without) = portal.search(has("NOT_HAS_PROPERTY")).await;
    assert_eq!(
        with["total"].as_u64().unwrap() + without["total"].as_u64().unwrap(),
        40
    );
    assert!(ids(&without).contains(&a.id) && ids(&without).contains(&b.id));

    // Dates compare as instants, given as epoch ms or ISO; groups are ORed.
    let (_, by_date) = portal
        .search(json!({
            "filterGroups": [
                {"filters": [{"propertyName": "createdate", "operator": "LTE", "value": a.created_ms.to_string()}]},
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": c.properties["email"].to_uppercase()}]}
            ],
            "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}],
            "limit": 200
        }))
        .await;
    let mut expected: Vec<String> = seeded[..=5].iter().rev().cloned().collect();
    expected.insert(0, c.id.clone());
    assert_eq!(ids(&by_date), expected);
}

#[tokio::test]
async fn search_pages_by_offset_and_refuses_to_go_past_10000_results() {
    let portal = Portal::start(SandboxOptions::default()).await;
    portal.sandbox.seed_contacts(10_050, 8);
    let all = json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}],
                     "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], "limit": 200, "after": "9800"});
    let (status, page) = portal.search(all.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 10_050);
    assert_eq!(page["paging"]["next"]["after"], "10000");
    let mut past = all.clone();
    past["after"] = json!("10000");
    let (status, refusal) = portal.search(past).await;
    assert_eq!(status, 400);
    assert_eq!(refusal["category"], "VALIDATION_ERROR");
    let mut too_big = all;
    too_big["after"] = json!("0");
    too_big["limit"] = json!(201);
    assert_eq!(portal.search(too_big).await.0, 400);
    let six_groups: Vec<Value> = (0..6).map(|_| json!({"filters": []})).collect();
    assert_eq!(
        portal.search(json!({"filterGroups": six_groups})).await.0,
        400
    );
}

#[tokio::test]
async fn batches_over_100_inputs_are_refused() {
    let portal = Portal::start(SandboxOptions::default()).await;
    let inputs: Vec<Value> = (0..101).map(|i| json!({"id": i.to_string()})).collect();
    let (status, _, body) = portal
        .send(
            reqwest::Method::POST,
            "/crm/v3/objects/contacts/batch/read",
            Some(json!({"inputs": inputs, "properties": []})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["category"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn the_three_rate_limits_answer_429_with_their_policy() {
    let portal = Portal::start(SandboxOptions {
        requests_per_10s: Some(2),
        search_per_second: Some(1),
        daily_limit: Some(4),
        ..SandboxOptions::default()
    })
    .await;
    let list = "/crm/v3/objects/contacts";
    let (status, headers, _) = portal.send(reqwest::Method::GET, list, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-hubspot-ratelimit-max"], "2");
    assert_eq!(headers["x-hubspot-ratelimit-remaining"], "1");
    assert_eq!(
        headers["x-hubspot-ratelimit-interval-milliseconds"],
        "10000"
    );
    assert_eq!(headers["x-hubspot-ratelimit-daily"], "4");
    portal.send(reqwest::Method::GET, list, None).await;
    let (status, headers, body) = portal.send(reqwest::Method::GET, list, None).await;
    assert_eq!(status, 429);
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert_eq!(headers["x-hubspot-ratelimit-remaining"], "0");

    // Search has its own per-second budget and no rate-limit headers.
    let (status, _) = portal.search(json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = portal.search(json!({})).await;
    assert_eq!(
        (status, body["policyName"].as_str()),
        (429, Some("SECONDLY"))
    );
    assert_eq!(body["message"], "You have reached your secondly limit.");

    tokio::time::sleep(Duration::from_millis(1_050)).await;
    portal.search(json!({})).await;
    let (status, body) = portal.search(json!({})).await;
    assert_eq!((status, body["policyName"].as_str()), (429, Some("DAILY")));
    assert_eq!(body["message"], "You have reached your daily limit.");
    let hits = portal.sandbox.limit_hits();
    assert_eq!((hits.ten_secondly, hits.secondly, hits.daily), (1, 1, 1));
}

#[tokio::test]
async fn updates_keep_hubspots_rules_for_lifecycle_emails_and_read_only_properties() {
    let portal = Portal::start(SandboxOptions::default()).await;
    let a = portal
        .sandbox
        .create_contact(&[("email", "a@example.com"), ("lifecyclestage", "customer")])
        .unwrap();
    portal
        .sandbox
        .create_contact(&[("email", "b@example.com")])
        .unwrap();
    let path = format!("/crm/v3/objects/contacts/{a}");
    let patch = |body: Value| portal.send(reqwest::Method::PATCH, &path, Some(body));
    // Backward lifecycle writes are silently ignored.
    let (status, _, body) = patch(json!({"properties": {"lifecyclestage": "lead"}})).await;
    assert_eq!(status, 200);
    assert_eq!(body["properties"]["lifecyclestage"], "customer");
    let (status, _, body) = patch(json!({"properties": {"email": "B@example.com"}})).await;
    assert_eq!(status, 409);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Contact already exists. Existing ID: ")
    );
    let (status, _, body) = patch(json!({"properties": {"lastmodifieddate": "0"}})).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["code"], "READ_ONLY_VALUE");
    // By email, case-insensitively.
    let (status, _, body) = portal
        .send(
            reqwest::Method::GET,
            "/crm/v3/objects/contacts/A%40EXAMPLE.COM?idProperty=email",
            None,
        )
        .await;
    assert_eq!((status, body["id"].as_str()), (200, Some(a.as_str())));
}

#[test]
fn seeding_is_deterministic() {
    let one = HubSpotSandbox::new(SandboxOptions::default());
    let two = HubSpotSandbox::new(SandboxOptions::default());
    one.seed_contacts(500, 99);
    two.seed_contacts(500, 99);
    assert_eq!(one.contacts(), two.contacts());
    let stages: std::collections::HashSet<String> = one
        .contacts()
        .into_iter()
        .map(|c| c.properties["lifecyclestage"].clone())
        .collect();
    assert!(stages.len() >= 5, "contacts spread across lifecycle stages");
}
