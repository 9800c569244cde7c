//! Accounts, checked references, delete cascades and lead conversion in the Salesforce
//! sandbox, checked over HTTP with a plain client (Opportunities, their stages and contact
//! roles: `salesforce_opportunities.rs`).
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use truce_sandbox::Served;
use truce_sandbox::salesforce::{LeadConvert, SalesforceSandbox, SandboxOptions};

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
async fn accounts_describe_their_fields_refuse_long_names_and_upsert_on_their_external_id() {
    let org = Org::start().await;
    let (status, d) = org
        .call(Method::GET, "/sobjects/Account/describe", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(d["keyPrefix"], "001");
    let field = |name: &str| {
        d["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(
        (
            field("Name")["type"].clone(),
            field("Name")["length"].clone(),
            field("Name")["nillable"].clone()
        ),
        (json!("string"), json!(255), json!(false))
    );
    assert_eq!(field("Website")["type"], "url");
    assert_eq!(field("NumberOfEmployees")["type"], "int");
    assert_eq!(field("AnnualRevenue")["type"], "currency");
    assert_eq!(field("ParentId")["referenceTo"], json!(["Account"]));
    let industries = field("Industry")["picklistValues"]
        .as_array()
        .unwrap()
        .len();
    assert!(industries >= 30, "{industries} industries");
    let ext = field("HubSpot_Company_Id__c");
    assert_eq!(
        (ext["externalId"].clone(), ext["unique"].clone()),
        (json!(true), json!(true))
    );
    for name in [
        "BillingStreet",
        "BillingState",
        "BillingPostalCode",
        "BillingCountry",
        "Type",
        "AccountSource",
        "OwnerId",
        "IsDeleted",
        "MasterRecordId",
    ] {
        field(name);
    }

    let (status, body) = org
        .create("Account", json!({"Name": "x".repeat(256)}))
        .await;
    assert_eq!(status, 400);
    let (code, message, fields) = error(&body);
    assert_eq!(code, "STRING_TOO_LONG");
    assert!(
        message.starts_with("Account Name: data value too large: "),
        "{message}"
    );
    assert_eq!(fields, json!(["Name"]));
    let (_, body) = org
        .create("Account", json!({"Website": "acme.example"}))
        .await;
    assert_eq!(error(&body).1, "Required fields are missing: [Name]");

    let upsert = "/sobjects/Account/HubSpot_Company_Id__c/hs-co-1";
    let (status, body) = org
        .call(
            Method::PATCH,
            upsert,
            Some(json!({"Name": "Acme", "NumberOfEmployees": 120, "AnnualRevenue": "2500000"})),
        )
        .await;
    assert_eq!((status, body["created"].clone()), (201, json!(true)));
    let id = body["id"].as_str().unwrap().to_string();
    let (status, body) = org
        .call(Method::PATCH, upsert, Some(json!({"BillingCity": "Porto"})))
        .await;
    assert_eq!(
        (status, body["created"].clone(), body["id"].clone()),
        (200, json!(false), json!(id))
    );
    let (status, body) = org
        .create(
            "Account",
            json!({"Name": "Copy", "HubSpot_Company_Id__c": "HS-CO-1"}),
        )
        .await;
    assert_eq!((status, error(&body).0), (400, "DUPLICATE_VALUE"));
    let (_, body) = org
        .create("Account", json!({"Name": "Half", "NumberOfEmployees": 1.5}))
        .await;
    assert_eq!(error(&body).0, "JSON_PARSER_ERROR");

    let rows = org
        .query(false, "SELECT Id, Name, NumberOfEmployees, AnnualRevenue, BillingCity FROM Account WHERE NumberOfEmployees > 100 AND HubSpot_Company_Id__c = 'hs-co-1'")
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["attributes"]["type"], "Account");
    assert_eq!(rows[0]["NumberOfEmployees"], json!(120));
    assert_eq!(rows[0]["AnnualRevenue"], json!(2_500_000.0));
    assert_eq!(rows[0]["BillingCity"], "Porto");

    // Collections create and upsert Accounts like any object.
    let (status, body) = org
        .call(
            Method::PATCH,
            "/composite/sobjects/Account/HubSpot_Company_Id__c",
            Some(json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Account"}, "HubSpot_Company_Id__c": "hs-co-1", "Phone": "+1 555 0100"},
                {"attributes": {"type": "Account"}, "HubSpot_Company_Id__c": "hs-co-2", "Name": "Globex"},
            ]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (body[0]["created"].clone(), body[1]["created"].clone()),
        (json!(false), json!(true))
    );

    let (status, _) = org
        .call(Method::DELETE, &format!("/sobjects/Account/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert!(
        org.query(false, "SELECT Id FROM Account WHERE Name = 'Acme'")
            .await
            .is_empty()
    );
    let gone = org
        .query(
            true,
            "SELECT Id, IsDeleted, MasterRecordId FROM Account WHERE Name = 'Acme'",
        )
        .await;
    assert_eq!(gone[0]["IsDeleted"], json!(true));
}

#[tokio::test]
async fn a_contacts_account_id_must_name_a_live_account() {
    let org = Org::start().await;
    let account = org.created("Account", json!({"Name": "Acme"})).await;
    let lead = org.sandbox.seed_leads(1, 1).remove(0);
    let (status, body) = org
        .create("Contact", json!({"LastName": "Wrong", "AccountId": lead}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body),
        (
            "INVALID_CROSS_REFERENCE_KEY",
            format!("Account ID: id value of incorrect type: {lead}").as_str(),
            json!(["AccountId"])
        )
    );
    let (_, body) = org
        .create(
            "Contact",
            json!({"LastName": "Nobody", "AccountId": "001000000000000"}),
        )
        .await;
    assert_eq!(error(&body).0, "INVALID_CROSS_REFERENCE_KEY");
    assert_eq!(error(&body).1, "invalid cross reference id");
    // A 15-character id is accepted and stored in its 18-character form.
    let contact = org
        .created(
            "Contact",
            json!({"LastName": "Right", "AccountId": &account[..15]}),
        )
        .await;
    assert_eq!(
        org.sandbox.get("Contact", &contact).unwrap()["AccountId"],
        json!(account)
    );
    // In collections the error is the record's, under statusCode.
    let (_, body) = org
        .call(
            Method::PATCH,
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Contact"}, "id": contact, "AccountId": lead},
            ]})),
        )
        .await;
    assert_eq!(
        body[0]["errors"][0]["statusCode"],
        "INVALID_CROSS_REFERENCE_KEY"
    );
    assert_eq!(body[0]["errors"][0]["fields"], json!(["AccountId"]));
    org.sandbox.delete("Account", &account).unwrap();
    let (_, body) = org
        .create("Contact", json!({"LastName": "Late", "AccountId": account}))
        .await;
    assert_eq!(error(&body).0, "ENTITY_IS_DELETED");
}

#[tokio::test]
async fn deleting_an_account_takes_its_contacts_opportunities_and_roles_to_the_recycle_bin() {
    let org = Org::start().await;
    let account = org.created("Account", json!({"Name": "Acme"})).await;
    let other = org.created("Account", json!({"Name": "Globex"})).await;
    let contact = org
        .created("Contact", json!({"LastName": "Ann", "AccountId": account}))
        .await;
    let kept = org
        .created("Contact", json!({"LastName": "Kim", "AccountId": other}))
        .await;
    let opp = org
        .created("Opportunity", json!({"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-01", "AccountId": account, "ContactId": contact}))
        .await;
    // ContactId on create makes the primary contact role.
    let roles = org
        .query(
            false,
            &format!(
                "SELECT Id, IsPrimary FROM OpportunityContactRole WHERE OpportunityId = '{opp}'"
            ),
        )
        .await;
    assert_eq!(
        (roles.len(), roles[0]["IsPrimary"].clone()),
        (1, json!(true))
    );
    org.call(
        Method::DELETE,
        &format!("/composite/sobjects?ids={account}&allOrNone=true"),
        None,
    )
    .await;
    for (object, id) in [
        ("Account", &account),
        ("Contact", &contact),
        ("Opportunity", &opp),
    ] {
        let rows = org
            .query(
                true,
                &format!("SELECT Id, IsDeleted FROM {object} WHERE Id = '{id}'"),
            )
            .await;
        assert_eq!(rows[0]["IsDeleted"], json!(true), "{object}");
    }
    assert_eq!(
        org.query(
            true,
            "SELECT Id FROM OpportunityContactRole WHERE IsDeleted = true"
        )
        .await
        .len(),
        1
    );
    assert_eq!(
        org.sandbox.get("Contact", &kept).unwrap()["IsDeleted"],
        json!(false)
    );
}

#[tokio::test]
async fn converting_a_lead_makes_an_account_contact_opportunity_and_primary_role_readable_by_soql()
{
    let org = Org::start().await;
    org.sandbox
        .pin_clock(Some(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()));
    let lead = org
        .created("Lead", json!({"FirstName": "Ada", "LastName": "Lovelace", "Company": "Analytical Engines", "Email": "ada@example.com", "LeadSource": "Web", "Industry": "Technology"}))
        .await;
    let (contact, account) = org.sandbox.convert_lead(&lead).unwrap();
    let rows = org
        .query(false, &format!("SELECT Id, IsConverted, ConvertedAccountId, ConvertedContactId, ConvertedOpportunityId, ConvertedDate, Status FROM Lead WHERE Id = '{lead}'"))
        .await;
    let row = &rows[0];
    assert_eq!(row["IsConverted"], json!(true));
    assert_eq!(row["ConvertedDate"], "2026-11-02");
    assert_eq!(row["Status"], "Closed - Converted");
    assert_eq!(
        (
            row["ConvertedAccountId"].as_str(),
            row["ConvertedContactId"].as_str()
        ),
        (Some(account.as_str()), Some(contact.as_str()))
    );
    let opp = row["ConvertedOpportunityId"].as_str().unwrap().to_string();
    assert!(opp.starts_with("006"));
    let opps = org
        .query(false, &format!("SELECT Name, StageName, CloseDate, AccountId, LeadSource, IsClosed FROM Opportunity WHERE Id = '{opp}'"))
        .await;
    assert_eq!(
        (
            opps[0]["Name"].clone(),
            opps[0]["StageName"].clone(),
            opps[0]["CloseDate"].clone(),
            opps[0]["AccountId"].clone(),
            opps[0]["LeadSource"].clone()
        ),
        (
            json!("Analytical Engines"),
            json!("Prospecting"),
            json!("2026-12-31"),
            json!(account),
            json!("Web")
        )
    );
    let roles = org
        .query(false, &format!("SELECT ContactId, IsPrimary, Role FROM OpportunityContactRole WHERE OpportunityId = '{opp}'"))
        .await;
    assert_eq!(roles.len(), 1);
    assert_eq!(
        (
            roles[0]["ContactId"].clone(),
            roles[0]["IsPrimary"].clone(),
            roles[0]["Role"].clone()
        ),
        (json!(contact), json!(true), Value::Null)
    );
    let accounts = org
        .query(
            false,
            &format!("SELECT Name, Industry, AccountSource FROM Account WHERE Id = '{account}'"),
        )
        .await;
    assert_eq!(
        (accounts[0]["Name"].clone(), accounts[0]["Industry"].clone()),
        (json!("Analytical Engines"), json!("Technology"))
    );
    let (status, body) = org
        .call(
            Method::PATCH,
            &format!("/sobjects/Lead/{lead}"),
            Some(json!({"ConvertedOpportunityId": null})),
        )
        .await;
    assert_eq!(
        (status, error(&body).0),
        (400, "CANNOT_UPDATE_CONVERTED_LEAD")
    );
}

#[tokio::test]
async fn conversion_options_merge_into_an_existing_account_and_may_skip_the_opportunity() {
    let org = Org::start().await;
    let account = org
        .created("Account", json!({"Name": "Acme", "Phone": null}))
        .await;
    let elsewhere = org.created("Account", json!({"Name": "Globex"})).await;
    let stranger = org
        .created(
            "Contact",
            json!({"LastName": "Stranger", "AccountId": elsewhere}),
        )
        .await;
    let leads = org.sandbox.seed_leads(2, 7);
    let before = (
        org.sandbox.count("Account"),
        org.sandbox.count("Contact"),
        org.sandbox.count("Opportunity"),
    );

    let refuse = |options: LeadConvert| {
        let lead = leads[0].clone();
        let sandbox = org.sandbox.clone();
        move || {
            sandbox.convert_lead_with(&lead, &options).unwrap_err()[0]
                .code
                .clone()
        }
    };
    assert_eq!(
        refuse(LeadConvert {
            opportunity_name: Some("x".into()),
            do_not_create_opportunity: true,
            ..LeadConvert::default()
        })(),
        "FIELD_INTEGRITY_EXCEPTION"
    );
    assert_eq!(
        refuse(LeadConvert {
            opportunity_name: Some("y".repeat(81)),
            ..LeadConvert::default()
        })(),
        "STRING_TOO_LONG"
    );
    assert_eq!(
        refuse(LeadConvert {
            account_id: Some(account.clone()),
            contact_id: Some(stranger.clone()),
            ..LeadConvert::default()
        })(),
        "INVALID_CROSS_REFERENCE_KEY"
    );
    assert_eq!(
        refuse(LeadConvert {
            converted_status: Some("Working - Contacted".into()),
            ..LeadConvert::default()
        })(),
        "INVALID_STATUS"
    );
    assert_eq!(
        (
            org.sandbox.count("Account"),
            org.sandbox.count("Contact"),
            org.sandbox.count("Opportunity")
        ),
        before,
        "a refused conversion changes nothing"
    );
    assert_eq!(
        org.sandbox.get("Lead", &leads[0]).unwrap()["IsConverted"],
        json!(false)
    );

    let done = org
        .sandbox
        .convert_lead_with(
            &leads[0],
            &LeadConvert {
                account_id: Some(account.clone()),
                do_not_create_opportunity: true,
                ..LeadConvert::default()
            },
        )
        .unwrap();
    assert_eq!(
        (done.account_id.as_str(), done.opportunity_id.as_deref()),
        (account.as_str(), None)
    );
    let lead = org.sandbox.get("Lead", &leads[0]).unwrap();
    assert_eq!(lead["ConvertedOpportunityId"], Value::Null);
    let acme = org.sandbox.get("Account", &account).unwrap();
    assert_eq!(acme["Name"], "Acme", "an existing account keeps its name");
    assert!(
        acme["Phone"].is_string(),
        "blank fields are filled from the lead"
    );
    assert_eq!(
        org.sandbox.get("Contact", &done.contact_id).unwrap()["AccountId"],
        json!(account)
    );

    let named = org
        .sandbox
        .convert_lead_with(
            &leads[1],
            &LeadConvert {
                opportunity_name: Some("Renewal 2027".into()),
                ..LeadConvert::default()
            },
        )
        .unwrap();
    let opp = org
        .sandbox
        .get("Opportunity", named.opportunity_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(opp["Name"], "Renewal 2027");
    assert_eq!(
        org.sandbox.convert_lead(&leads[1]).unwrap_err()[0].code,
        "CANNOT_UPDATE_CONVERTED_LEAD"
    );
}

#[tokio::test]
async fn seeded_accounts_and_opportunities_are_deterministic() {
    let run = || {
        let sandbox = SalesforceSandbox::new(SandboxOptions::default());
        sandbox.pin_clock(Some(Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap()));
        let accounts = sandbox.seed_accounts(5, 3);
        let opps = sandbox.seed_opportunities(8, 4);
        let rows: Vec<Value> = opps
            .iter()
            .map(|id| sandbox.get("Opportunity", id).unwrap())
            .collect();
        (accounts, rows)
    };
    let (accounts, rows) = run();
    assert_eq!((accounts.clone(), rows.clone()), run());
    assert_eq!((accounts.len(), rows.len()), (5, 8));
    for row in &rows {
        assert!(accounts.contains(&row["AccountId"].as_str().unwrap().to_string()));
        assert!(row["IsClosed"].is_boolean() && row["Probability"].is_number());
    }
}
