//! The Salesforce sandbox's wire behaviour, checked over HTTP with a plain client.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use truce_sandbox::Served;
use truce_sandbox::salesforce::store::id18;
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions};

const V: &str = "/services/data/v62.0";

struct Org {
    sandbox: SalesforceSandbox,
    served: Served,
    token: String,
    http: reqwest::Client,
}

impl Org {
    async fn start(opts: SandboxOptions) -> Org {
        let sandbox = SalesforceSandbox::new(opts);
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
        assert_eq!(body["instance_url"], json!(served.url()));
        Org {
            token: body["access_token"].as_str().unwrap().into(),
            sandbox,
            served,
            http,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, String) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.served.url()))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let info = resp
            .headers()
            .get("sforce-limit-info")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            info,
        )
    }

    async fn query(&self, soql: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{V}/query", self.served.url()))
            .query(&[("q", soql)])
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }
}

#[tokio::test]
async fn ids_are_18_characters_with_real_prefixes_and_a_valid_checksum() {
    let org = Org::start(SandboxOptions::default()).await;
    let lead = org.sandbox.seed_leads(1, 1).remove(0);
    let contact = org.sandbox.seed_contacts(1, 1).remove(0);
    let (_, account) = org.sandbox.convert_lead(&lead).unwrap();
    for (id, prefix) in [(&lead, "00Q"), (&contact, "003"), (&account, "001")] {
        assert_eq!(id.len(), 18);
        assert!(id.starts_with(prefix));
        assert_eq!(&id18(&id[..15]), id);
    }
    // The known example from Salesforce's documentation of the checksum.
    assert_eq!(id18("001A0000006Vm9r"), "001A0000006Vm9rIAC");
}

#[tokio::test]
async fn bad_tokens_get_invalid_session_id_and_limits_are_reported_on_every_call() {
    let mut org = Org::start(SandboxOptions {
        daily_limit: 3,
        ..SandboxOptions::default()
    })
    .await;
    let (status, body, info) = org
        .call(reqwest::Method::GET, &format!("{V}/limits"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["DailyApiRequests"]["Max"], json!(3));
    assert_eq!(info, "api-usage=0/3");
    for used in 1..=3 {
        let (status, _, info) = org
            .call(
                reqwest::Method::GET,
                &format!("{V}/sobjects/Lead/describe"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(info, format!("api-usage={used}/3"));
    }
    let (status, body, _) = org
        .call(
            reqwest::Method::GET,
            &format!("{V}/sobjects/Lead/describe"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body[0]["errorCode"], json!("REQUEST_LIMIT_EXCEEDED"));
    org.token = "nope".into();
    let (status, body, _) = org
        .call(reqwest::Method::GET, &format!("{V}/limits"), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
}

#[tokio::test]
async fn soql_outside_the_subset_is_malformed_and_unknown_fields_are_invalid() {
    let org = Org::start(SandboxOptions::default()).await;
    org.sandbox.seed_leads(3, 1);
    for bad in [
        "SELECT Id FROM Lead OFFSET 5",
        "SELECT COUNT() FROM Lead",
        "SELECT Id FROM Lead WHERE LastName = 'a\\x'",
        "SELECT Id FROM Lead WHERE CreatedDate = TODAY",
    ] {
        let (status, body) = org.query(bad).await;
        assert_eq!(status, 400, "{bad}");
        let code = body[0]["errorCode"].as_str().unwrap();
        assert!(
            code == "MALFORMED_QUERY" || code == "INVALID_FIELD",
            "{bad}: {code}"
        );
    }
    let (status, body) = org
        .query("SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01T00:00:00Z'")
        .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (400, Some("INVALID_QUERY_FILTER_OPERATOR"))
    );
    let (status, body) = org.query("SELECT Nope__c FROM Lead").await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (400, Some("INVALID_FIELD"))
    );
    let (status, body) = org.query("SELECT Id FROM Campaign").await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (400, Some("INVALID_TYPE"))
    );
    let (status, body) = org
        .query("SELECT Id, Status FROM Lead WHERE (Status IN ('Open - Not Contacted') OR NOT Status != 'x') AND Email LIKE '%example%' ORDER BY Email DESC NULLS LAST LIMIT 2")
        .await;
    assert_eq!(status, 200);
    assert!(body["records"].as_array().unwrap().len() <= 2);
}

#[tokio::test]
async fn collections_cap_at_200_and_report_each_record_in_order() {
    let org = Org::start(SandboxOptions::default()).await;
    let records: Vec<Value> = (0..201).map(|i| json!({"attributes": {"type": "Lead"}, "LastName": format!("L{i}"), "Company": "C"})).collect();
    let (status, body, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/composite/sobjects"),
            Some(json!({"allOrNone": false, "records": records})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], json!("EXCEEDED_ID_LIMIT"));
    let records = json!([
        {"attributes": {"type": "Lead"}, "LastName": "Ok", "Company": "C"},
        {"attributes": {"type": "Lead"}, "Company": "C"},
        {"attributes": {"type": "Contact"}, "LastName": "Ok too"},
    ]);
    let (status, body, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/composite/sobjects"),
            Some(json!({"allOrNone": false, "records": records})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["success"], json!(true));
    assert_eq!(
        body[1]["errors"][0]["statusCode"],
        json!("REQUIRED_FIELD_MISSING")
    );
    assert_eq!(body[1]["errors"][0]["fields"], json!(["LastName"]));
    assert!(body[2]["id"].as_str().unwrap().starts_with("003"));
    // allOrNone rolls the good records back.
    let records = json!([
        {"attributes": {"type": "Lead"}, "LastName": "Rolled", "Company": "C"},
        {"attributes": {"type": "Lead"}, "LastName": "Bad", "Company": "C", "Status": "Hot"},
    ]);
    let before = org.sandbox.count("Lead");
    let (_, body, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/composite/sobjects"),
            Some(json!({"allOrNone": true, "records": records})),
        )
        .await;
    assert_eq!(
        body[0]["errors"][0]["statusCode"],
        json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(
        body[1]["errors"][0]["statusCode"],
        json!("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    );
    assert_eq!(org.sandbox.count("Lead"), before);
}

#[tokio::test]
async fn collections_retrieve_answers_in_order_with_null_for_unknown_ids_and_caps_the_body_at_2000()
{
    let org = Org::start(SandboxOptions::default()).await;
    let records = json!([{"attributes": {"type": "Lead"}, "LastName": "Read", "Company": "C"}]);
    let (_, created, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/composite/sobjects"),
            Some(json!({"allOrNone": false, "records": records})),
        )
        .await;
    let id = created[0]["id"].as_str().unwrap().to_string();
    let unknown = id18("00Q000000999999");
    let (status, body, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/composite/sobjects/Lead"),
            Some(json!({"ids": [unknown, id], "fields": ["Id", "LastName", "Status"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0], Value::Null);
    assert_eq!(body[1]["Id"], json!(id));
    assert_eq!(body[1]["attributes"]["type"], json!("Lead"));
    // The picklist's default filled the Status the create left out.
    assert_eq!(body[1]["Status"], json!("Open - Not Contacted"));
    // The GET form answers the same.
    let (status, got, _) = org
        .call(
            reqwest::Method::GET,
            &format!("{V}/composite/sobjects/Lead?ids={unknown},{id}&fields=Id,LastName,Status"),
            None,
        )
        .await;
    assert_eq!((status, &got), (200, &body));
    let ids: Vec<String> = (0..2001).map(|i| id18(&format!("00Q{i:012}"))).collect();
    let (status, body, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/composite/sobjects/Lead"),
            Some(json!({"ids": ids, "fields": ["Id"]})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], json!("EXCEEDED_ID_LIMIT"));
}

#[tokio::test]
async fn composite_counts_once_limits_heavy_subrequests_and_rolls_back_all_or_none() {
    let org = Org::start(SandboxOptions::default()).await;
    let q = |i: usize| json!({"method": "GET", "url": format!("{V}/query?q=SELECT+Id+FROM+Lead+LIMIT+{i}"), "referenceId": format!("q{i}")});
    let (status, body, info) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/composite"),
            Some(json!({"compositeRequest": (1..=5).map(q).collect::<Vec<_>>()})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["compositeResponse"].as_array().unwrap().len(), 5);
    assert_eq!(info, "api-usage=1/100000");
    let (status, _, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/composite"),
            Some(json!({"compositeRequest": (1..=6).map(q).collect::<Vec<_>>()})),
        )
        .await;
    assert_eq!(status, 400);
    let before = org.sandbox.count("Lead");
    let (_, body, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/composite"),
            Some(json!({"allOrNone": true, "compositeRequest": [
                {"method": "POST", "url": format!("{V}/sobjects/Lead"), "referenceId": "a", "body": {"LastName": "A", "Company": "C"}},
                {"method": "PATCH", "url": format!("{V}/sobjects/Lead/@{{a.id}}"), "referenceId": "b", "body": {"Email": "bad"}},
            ]})),
        )
        .await;
    let subs = body["compositeResponse"].as_array().unwrap();
    assert_eq!(subs[0]["body"][0]["errorCode"], json!("PROCESSING_HALTED"));
    assert_eq!(
        subs[1]["body"][0]["errorCode"],
        json!("INVALID_EMAIL_ADDRESS")
    );
    assert_eq!(org.sandbox.count("Lead"), before);
}

#[tokio::test]
async fn rows_upserts_and_converted_leads_behave_as_salesforce() {
    let org = Org::start(SandboxOptions {
        duplicate_rule_on_email: true,
        ..SandboxOptions::default()
    })
    .await;
    let ext = format!("{V}/sobjects/Lead/HubSpot_Contact_Id__c/hs-1");
    let (status, body, _) = org
        .call(
            reqwest::Method::PATCH,
            &ext,
            Some(json!({"LastName": "U", "Company": "C", "Email": "u@example.com"})),
        )
        .await;
    assert_eq!((status, body["created"].clone()), (201, json!(true)));
    let id = body["id"].as_str().unwrap().to_string();
    let (status, body, _) = org
        .call(reqwest::Method::PATCH, &ext, Some(json!({"City": "Porto"})))
        .await;
    assert_eq!(
        (status, body["created"].clone(), body["id"].clone()),
        (200, json!(false), json!(id))
    );
    let (status, body, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/sobjects/Lead"),
            Some(json!({"LastName": "D", "Company": "C", "Email": "U@example.com"})),
        )
        .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (400, Some("DUPLICATES_DETECTED"))
    );
    let (status, body, _) = org
        .call(
            reqwest::Method::POST,
            &format!("{V}/sobjects/Lead"),
            Some(json!({"LastName": "x".repeat(81), "Company": "C"})),
        )
        .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (400, Some("STRING_TOO_LONG"))
    );
    assert_eq!(body[0]["fields"], json!(["LastName"]));
    org.sandbox.convert_lead(&id).unwrap();
    let (status, body, _) = org
        .call(
            reqwest::Method::PATCH,
            &format!("{V}/sobjects/Lead/{id}"),
            Some(json!({"City": "X"})),
        )
        .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (400, Some("CANNOT_UPDATE_CONVERTED_LEAD"))
    );
    assert_eq!(body[0]["message"], json!("cannot reference converted lead"));
    let (status, body, _) = org
        .call(
            reqwest::Method::GET,
            &format!("{V}/sobjects/Lead/{id}?fields=IsConverted,ConvertedContactId"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["IsConverted"], json!(true));
    assert!(
        body["ConvertedContactId"]
            .as_str()
            .unwrap()
            .starts_with("003")
    );
}

#[tokio::test]
async fn updated_and_deleted_resources_report_the_window() {
    let org = Org::start(SandboxOptions::default()).await;
    let t0 = Utc::now() - chrono::Duration::hours(2);
    org.sandbox.pin_clock(Some(t0));
    let ids = org.sandbox.seed_leads(3, 1);
    org.sandbox
        .pin_clock(Some(t0 + chrono::Duration::minutes(10)));
    org.sandbox
        .edit("Lead", &ids[0], json!({"City": "Lyon"}))
        .unwrap();
    org.sandbox.delete("Lead", &ids[1]).unwrap();
    org.sandbox.pin_clock(None);
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%%2B00:00").to_string();
    let window = format!(
        "start={}&end={}",
        fmt(t0 + chrono::Duration::minutes(5)),
        fmt(t0 + chrono::Duration::minutes(20))
    );
    let (status, body, _) = org
        .call(
            reqwest::Method::GET,
            &format!("{V}/sobjects/Lead/updated/?{window}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["ids"], json!([ids[0]]));
    let (_, body, _) = org
        .call(
            reqwest::Method::GET,
            &format!("{V}/sobjects/Lead/deleted/?{window}"),
            None,
        )
        .await;
    assert_eq!(body["deletedRecords"][0]["id"], json!(ids[1]));
    let old = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let (status, body, _) = org
        .call(
            reqwest::Method::GET,
            &format!(
                "{V}/sobjects/Lead/updated/?start={}&end={}",
                fmt(old),
                fmt(t0)
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str()),
        (400, Some("INVALID_REPLICATION_DATE"))
    );
}

#[tokio::test]
async fn counters_name_each_endpoint() {
    let org = Org::start(SandboxOptions::default()).await;
    org.query("SELECT Id FROM Lead").await;
    org.query("SELECT Id FROM Lead").await;
    let counters = org.sandbox.counters();
    assert_eq!(counters.get("GET /services/data/{v}/query"), 2);
    assert_eq!(counters.get("POST /services/oauth2/token"), 1);
}

#[tokio::test]
async fn seeding_and_simulated_edits_are_deterministic_and_bump_the_modstamp() {
    let run = || {
        let sandbox = SalesforceSandbox::new(SandboxOptions::default());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
        sandbox.pin_clock(Some(t0));
        let leads = sandbox.seed_leads(40, 5);
        sandbox.seed_contacts(20, 6);
        sandbox.pin_clock(Some(t0 + chrono::Duration::minutes(1)));
        let edited = sandbox.simulate_user_edits(15, 9);
        let first = sandbox.get("Lead", &leads[0]).unwrap();
        (edited, first, sandbox)
    };
    let (edited, first, sandbox) = run();
    let (again, first_again, _) = run();
    assert_eq!(edited, again);
    assert_eq!(first["Email"], first_again["Email"]);
    assert!(first["Email"].as_str().unwrap().ends_with(".example.com"));
    assert_eq!(edited.len(), 15);
    for (object, id) in &edited {
        let row = sandbox.get(object, id).unwrap();
        assert_eq!(row["SystemModstamp"], json!("2026-11-01T08:01:00.000+0000"));
        assert_eq!(row["LastModifiedDate"], row["SystemModstamp"]);
        assert_eq!(row["CreatedDate"], json!("2026-11-01T08:00:00.000+0000"));
    }
}
