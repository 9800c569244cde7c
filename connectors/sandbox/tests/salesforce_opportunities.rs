//! Opportunity, OpportunityStage and OpportunityContactRole in the Salesforce sandbox,
//! checked over HTTP with a plain client.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use truce_sandbox::Served;
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions, Stage};

const V: &str = "/services/data/v62.0";

struct Org {
    sandbox: SalesforceSandbox,
    served: Served,
    token: String,
    http: reqwest::Client,
}

impl Org {
    async fn start() -> Org {
        let sandbox = SalesforceSandbox::new(SandboxOptions::default());
        let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let http = reqwest::Client::new();
        let o = sandbox.options().clone();
        let body: Value = http
            .post(format!("{}/services/oauth2/token", served.url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &o.client_id),
                ("client_secret", &o.client_secret),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Org {
            token: body["access_token"].as_str().unwrap().into(),
            sandbox,
            served,
            http,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{V}{path}", self.served.url()))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn create(&self, object: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, &format!("/sobjects/{object}"), Some(body))
            .await
    }

    async fn created(&self, object: &str, body: Value) -> String {
        let (status, body) = self.create(object, body).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn query(&self, all: bool, soql: &str) -> Vec<Value> {
        let resp = self
            .http
            .get(format!(
                "{}{V}/{}",
                self.served.url(),
                if all { "queryAll" } else { "query" }
            ))
            .query(&[("q", soql)])
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await.unwrap();
        body["records"].as_array().unwrap().clone()
    }
}

fn error(body: &Value) -> (&str, &str, Value) {
    (
        body[0]["errorCode"].as_str().unwrap_or_default(),
        body[0]["message"].as_str().unwrap_or_default(),
        body[0]["fields"].clone(),
    )
}

#[tokio::test]
async fn opportunities_require_name_stage_and_close_date_and_follow_their_stage() {
    let org = Org::start().await;
    let (status, body) = org.create("Opportunity", json!({"Amount": 10})).await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body),
        (
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [Name, StageName, CloseDate]",
            json!(["Name", "StageName", "CloseDate"])
        )
    );
    let (_, body) = org
        .create(
            "Opportunity",
            json!({"Name": "x", "StageName": "Won-ish", "CloseDate": "2026-12-31"}),
        )
        .await;
    assert_eq!(
        error(&body),
        (
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "Stage: bad value for restricted picklist field: Won-ish",
            json!(["StageName"])
        )
    );
    let (_, body) = org
        .create(
            "Opportunity",
            json!({"Name": "x", "StageName": "Prospecting", "CloseDate": "31/12/2026"}),
        )
        .await;
    assert_eq!(error(&body).0, "JSON_PARSER_ERROR");
    let (_, body) = org
        .create("Opportunity", json!({"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-12-31", "IsWon": true}))
        .await;
    assert_eq!(error(&body).0, "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert_eq!(error(&body).2, json!(["IsWon"]));
    let (_, body) = org
        .create("Opportunity", json!({"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-12-31", "AccountId": "003000000000000AAA"}))
        .await;
    assert_eq!(error(&body).0, "INVALID_CROSS_REFERENCE_KEY");

    let account = org.created("Account", json!({"Name": "Acme"})).await;
    let id = org
        .created(
            "Opportunity",
            json!({"Name": "Acme - Platform", "StageName": "Prospecting", "CloseDate": "2026-12-31",
                   "AccountId": account, "Amount": 25000, "HubSpot_Deal_Id__c": "hs-deal-1"}),
        )
        .await;
    assert!(id.starts_with("006"));
    let row = org.sandbox.get("Opportunity", &id).unwrap();
    assert_eq!(
        (
            row["IsClosed"].clone(),
            row["IsWon"].clone(),
            row["Probability"].clone(),
            row["ForecastCategoryName"].clone()
        ),
        (json!(false), json!(false), json!(10.0), json!("Pipeline"))
    );
    assert_eq!(row["ExpectedRevenue"], json!(2500.0));
    assert_eq!(
        (row["FiscalYear"].clone(), row["FiscalQuarter"].clone()),
        (json!(2026), json!(4))
    );

    let (status, body) = org
        .call(
            Method::PATCH,
            &format!("/sobjects/Opportunity/{id}"),
            Some(json!({"IsWon": true})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error(&body).0, "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert!(
        error(&body)
            .1
            .starts_with("Unable to create/update fields: IsWon.")
    );
    let (status, _) = org
        .call(
            Method::PATCH,
            &format!("/sobjects/Opportunity/{id}"),
            Some(json!({"StageName": "Closed Won"})),
        )
        .await;
    assert_eq!(status, 204);
    let rows = org
        .query(false, &format!("SELECT Id, IsClosed, IsWon, Probability, ForecastCategoryName, ForecastCategory, ExpectedRevenue FROM Opportunity WHERE Id = '{id}'"))
        .await;
    assert_eq!(
        (
            rows[0]["IsClosed"].clone(),
            rows[0]["IsWon"].clone(),
            rows[0]["Probability"].clone(),
            rows[0]["ForecastCategory"].clone()
        ),
        (json!(true), json!(true), json!(100.0), json!("Closed"))
    );
    assert_eq!(rows[0]["ExpectedRevenue"], json!(25000.0));
    // A probability sent with the stage wins over the stage's default.
    org.call(
        Method::PATCH,
        &format!("/sobjects/Opportunity/{id}"),
        Some(json!({"StageName": "Negotiation/Review", "Probability": 55})),
    )
    .await;
    assert_eq!(
        org.sandbox.get("Opportunity", &id).unwrap()["Probability"],
        json!(55.0)
    );
    let (_, body) = org
        .call(
            Method::PATCH,
            &format!("/sobjects/Opportunity/{id}"),
            Some(json!({"Probability": 150})),
        )
        .await;
    assert_eq!(error(&body).0, "NUMBER_OUTSIDE_VALID_RANGE");
    // Upsert on the deal id.
    let (status, body) = org
        .call(
            Method::PATCH,
            "/sobjects/Opportunity/HubSpot_Deal_Id__c/hs-deal-1",
            Some(json!({"Amount": 30000})),
        )
        .await;
    assert_eq!((status, body["id"].clone()), (200, json!(id)));
}

#[tokio::test]
async fn opportunity_stages_are_queryable_read_only_and_a_new_stage_becomes_a_valid_value() {
    let org = Org::start().await;
    let rows = org
        .query(false, "SELECT MasterLabel, ApiName, IsClosed, IsWon, DefaultProbability, ForecastCategoryName, SortOrder, IsActive FROM OpportunityStage WHERE IsActive = true ORDER BY SortOrder")
        .await;
    let labels: Vec<&str> = rows
        .iter()
        .map(|r| r["MasterLabel"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Prospecting",
            "Qualification",
            "Needs Analysis",
            "Value Proposition",
            "Id. Decision Makers",
            "Perception Analysis",
            "Proposal/Price Quote",
            "Negotiation/Review",
            "Closed Won",
            "Closed Lost"
        ]
    );
    assert_eq!(rows[8]["IsWon"], json!(true));
    assert_eq!(rows[9]["ForecastCategoryName"], "Omitted");
    assert_eq!(rows[7]["DefaultProbability"], json!(90.0));
    assert!(
        rows[0]["attributes"]["url"]
            .as_str()
            .unwrap()
            .contains("/OpportunityStage/01J")
    );
    let closed = org
        .query(
            false,
            "SELECT ApiName FROM OpportunityStage WHERE IsClosed = true AND IsWon = false",
        )
        .await;
    assert_eq!(closed.len(), 1);

    let (status, body) = org
        .create("OpportunityStage", json!({"MasterLabel": "Mine"}))
        .await;
    assert_eq!(
        (status, error(&body).0),
        (400, "INVALID_TYPE_FOR_OPERATION")
    );

    let body = json!({"Name": "Pilot", "StageName": "Pilot Running", "CloseDate": "2026-06-30"});
    let (_, refused) = org.create("Opportunity", body.clone()).await;
    assert_eq!(error(&refused).0, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
    org.sandbox
        .add_opportunity_stage(Stage::new("Pilot Running", 40.0, "Best Case", false, false));
    let id = org.created("Opportunity", body).await;
    let row = org.sandbox.get("Opportunity", &id).unwrap();
    assert_eq!(
        (row["ForecastCategory"].clone(), row["Probability"].clone()),
        (json!("BestCase"), json!(40.0))
    );
    let (_, d) = org
        .call(Method::GET, "/sobjects/Opportunity/describe", None)
        .await;
    let stage = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "StageName")
        .unwrap()
        .clone();
    assert_eq!(stage["restrictedPicklist"], json!(true));
    assert_eq!(stage["picklistValues"].as_array().unwrap().len(), 11);
}

#[tokio::test]
async fn contact_roles_keep_one_primary_and_are_replicated_by_their_own_modstamp() {
    let org = Org::start().await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let at = |m: i64| t0 + chrono::Duration::minutes(m);
    org.sandbox.pin_clock(Some(t0));
    let account = org.created("Account", json!({"Name": "Acme"})).await;
    let ann = org
        .created("Contact", json!({"LastName": "Ann", "AccountId": account}))
        .await;
    let bob = org
        .created("Contact", json!({"LastName": "Bob", "AccountId": account}))
        .await;
    let opp = org
        .created("Opportunity", json!({"Name": "Deal", "StageName": "Qualification", "CloseDate": "2026-12-01", "AccountId": account}))
        .await;

    org.sandbox.pin_clock(Some(at(1)));
    let (status, body) = org
        .create("OpportunityContactRole", json!({"ContactId": ann}))
        .await;
    assert_eq!(error(&body).0, "REQUIRED_FIELD_MISSING", "{status}");
    let (_, body) = org
        .create(
            "OpportunityContactRole",
            json!({"OpportunityId": opp, "ContactId": account}),
        )
        .await;
    assert_eq!(error(&body).0, "INVALID_CROSS_REFERENCE_KEY");
    let (_, body) = org
        .create("OpportunityContactRole", json!({"OpportunityId": opp, "ContactId": ann, "Role": "Decision Maker", "IsPrimary": true}))
        .await;
    let first = body["id"].as_str().unwrap().to_string();
    assert!(first.starts_with("00K"));
    assert_eq!(
        org.sandbox.get("Opportunity", &opp).unwrap()["ContactId"],
        json!(ann)
    );

    org.sandbox.pin_clock(Some(at(2)));
    let (_, body) = org
        .call(Method::POST, "/composite/sobjects", Some(json!({"allOrNone": true, "records": [
            {"attributes": {"type": "OpportunityContactRole"}, "OpportunityId": opp, "ContactId": bob, "Role": "Evaluator", "IsPrimary": true},
        ]})))
        .await;
    let second = body[0]["id"].as_str().unwrap().to_string();
    let first_row = org.sandbox.get("OpportunityContactRole", &first).unwrap();
    assert_eq!(
        first_row["IsPrimary"],
        json!(false),
        "marking Bob un-marks Ann"
    );
    assert_eq!(
        first_row["SystemModstamp"],
        json!("2026-11-02T09:02:00.000+0000")
    );
    let opp_row = org.sandbox.get("Opportunity", &opp).unwrap();
    assert_eq!(opp_row["ContactId"], json!(bob));
    assert_eq!(
        opp_row["SystemModstamp"],
        json!("2026-11-02T09:00:00.000+0000"),
        "a role change does not re-stamp its Opportunity"
    );

    let (_, body) = org
        .call(
            Method::PATCH,
            &format!("/sobjects/OpportunityContactRole/{second}"),
            Some(json!({"OpportunityId": opp})),
        )
        .await;
    assert_eq!(error(&body).0, "INVALID_FIELD_FOR_INSERT_UPDATE");
    let (status, _) = org
        .call(
            Method::PATCH,
            &format!("/sobjects/OpportunityContactRole/{second}"),
            Some(json!({"Role": null})),
        )
        .await;
    assert_eq!(status, 204);

    // Keyset paging by the roles' own SystemModstamp, as for any object.
    let page = org
        .query(false, "SELECT Id, OpportunityId, ContactId, Role, IsPrimary, SystemModstamp FROM OpportunityContactRole WHERE SystemModstamp > 2026-11-02T09:01:00Z ORDER BY SystemModstamp, Id")
        .await;
    let ids: Vec<&str> = page.iter().map(|r| r["Id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()));
    let (_, body) = org
        .call(Method::GET, "/sobjects/OpportunityContactRole/updated/?start=2026-11-02T09%3A01%3A30%2B00%3A00&end=2026-11-02T09%3A10%3A00%2B00%3A00", None)
        .await;
    assert_eq!(body["ids"].as_array().map(Vec::len), Some(2), "{body}");

    org.sandbox.pin_clock(Some(at(3)));
    let (status, _) = org
        .call(
            Method::DELETE,
            &format!("/sobjects/Opportunity/{opp}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        org.query(false, "SELECT Id FROM OpportunityContactRole")
            .await
            .is_empty()
    );
    let gone = org
        .query(
            true,
            "SELECT Id, IsDeleted FROM OpportunityContactRole WHERE IsDeleted = true",
        )
        .await;
    assert_eq!(gone.len(), 2, "the roles went with their Opportunity");
}
