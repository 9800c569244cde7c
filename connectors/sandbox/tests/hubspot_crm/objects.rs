//! Companies and deals on the generic object routes: reads, writes, search, unique
//! properties and upserts, merges, deal stages, owners and seeding.

use serde_json::json;
use truce_sandbox::hubspot::{DealPipeline, DealStage, HubSpotSandbox, ObjectType, SandboxOptions};

use crate::{Portal, T0, ids, keys};

#[tokio::test]
async fn companies_and_deals_are_served_by_name_and_type_id_with_their_default_properties() {
    let portal = Portal::new().await;
    portal.sandbox.freeze_clock(T0);
    let (status, company) = portal
        .post(
            "/crm/v3/objects/companies",
            json!({"properties": {"name": "Acme", "domain": "acme.example",
                   "industry": "COMPUTER_SOFTWARE", "annualrevenue": "1500000.50"}}),
        )
        .await;
    assert_eq!(status, 201, "{company}");
    let id = company["id"].as_str().unwrap().to_string();
    assert_eq!(company["properties"]["hs_object_id"], id.as_str());
    assert_eq!(
        company["properties"]["hs_lastmodifieddate"],
        "2026-01-01T00:00:00.000Z"
    );
    assert_eq!(company["updatedAt"], "2026-01-01T00:00:00.000Z");

    let (status, read) = portal.get(&format!("/crm/v3/objects/0-2/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&read),
        [
            "createdate",
            "domain",
            "hs_lastmodifieddate",
            "hs_object_id",
            "name"
        ]
    );
    let (_, read) = portal
        .get(&format!(
            "/crm/v3/objects/company/{id}?properties=industry,city,annualrevenue"
        ))
        .await;
    assert_eq!(read["properties"]["industry"], "COMPUTER_SOFTWARE");
    assert_eq!(read["properties"]["annualrevenue"], "1500000.50");
    assert!(read["properties"]["city"].is_null());

    portal.sandbox.advance_clock(5_000);
    let (status, updated) = portal
        .patch(
            &format!("/crm/v3/objects/companies/{id}"),
            json!({"properties": {"city": "Oslo"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        updated["properties"]["hs_lastmodifieddate"],
        "2026-01-01T00:00:05.000Z"
    );
    let (status, refused) = portal
        .patch(
            &format!("/crm/v3/objects/companies/{id}"),
            json!({"properties": {"industry": "Software", "numberofemployees": "many"}}),
        )
        .await;
    assert_eq!(status, 400);
    let mut codes: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, ["INVALID_DECIMAL", "INVALID_OPTION"]);

    let (status, deal) = portal
        .post(
            "/crm/v3/objects/0-3",
            json!({"properties": {"dealname": "Acme renewal", "amount": "1500.00",
                   "dealstage": "qualifiedtobuy", "closedate": "2026-03-31"}}),
        )
        .await;
    assert_eq!(status, 201, "{deal}");
    let deal_id = deal["id"].as_str().unwrap();
    assert_eq!(deal["properties"]["closedate"], "2026-03-31T00:00:00.000Z");
    let (_, read) = portal
        .get(&format!("/crm/v3/objects/deals/{deal_id}"))
        .await;
    assert_eq!(
        keys(&read),
        [
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline"
        ]
    );
    assert_eq!(read["properties"]["pipeline"], "default");
    // Company and deal ids live in ranges of their own, above 2^32.
    assert!(id.parse::<u64>().unwrap() > u64::from(u32::MAX));
    assert_ne!(id, deal_id);

    let (status, body) = portal.get("/crm/v3/objects/tickets").await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Unable to infer object type from: tickets");
}

#[tokio::test]
async fn archiving_a_deal_sets_archived_at_but_keeps_its_last_modified_date() {
    let portal = Portal::new().await;
    portal.sandbox.freeze_clock(T0);
    let id = portal
        .sandbox
        .create_deal(&[("dealname", "Gone"), ("dealstage", "closedlost")])
        .unwrap();
    portal.sandbox.advance_clock(60_000);
    let (status, body) = portal.delete(&format!("/crm/v3/objects/deals/{id}")).await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    let (status, _) = portal.get(&format!("/crm/v3/objects/deals/{id}")).await;
    assert_eq!(status, 404);
    let (status, archived) = portal
        .get(&format!("/crm/v3/objects/deals/{id}?archived=true"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(archived["archived"], true);
    assert_eq!(archived["archivedAt"], "2026-01-01T00:01:00.000Z");
    assert_eq!(
        archived["properties"]["hs_lastmodifieddate"],
        "2026-01-01T00:00:00.000Z"
    );
    let (_, listed) = portal.get("/crm/v3/objects/deals?archived=true").await;
    assert_eq!(ids(&listed), [id]);
    let (_, found) = portal.post("/crm/v3/objects/deals/search", json!({})).await;
    assert_eq!(found["total"], 0, "archived records are never searched");
}

#[tokio::test]
async fn search_pages_companies_and_deals_on_hs_lastmodifieddate_within_the_caps() {
    let portal = Portal::new().await;
    portal.sandbox.seed_companies(250, 3);
    let since = json!({"filterGroups": [{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}]}],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["name", "domain"], "limit": 200});
    let (status, page) = portal
        .post("/crm/v3/objects/companies/search", since.clone())
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 250);
    assert_eq!(page["results"].as_array().unwrap().len(), 200);
    assert_eq!(page["paging"]["next"]["after"], "200");
    let first = &page["results"][0]["properties"];
    assert!(first["hs_lastmodifieddate"].is_string() && first["domain"].is_string());
    let mut too_big = since.clone();
    too_big["limit"] = json!(201);
    assert_eq!(
        portal.post("/crm/v3/objects/0-2/search", too_big).await.0,
        400
    );
    let mut past = since.clone();
    past["after"] = json!("9900");
    let (status, refusal) = portal.post("/crm/v3/objects/companies/search", past).await;
    assert_eq!(
        (status, refusal["category"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    // The contacts' property name matches nothing on companies, and the other way round.
    let mut wrong = since.clone();
    wrong["filterGroups"][0]["filters"][0]["propertyName"] = json!("lastmodifieddate");
    wrong["sorts"] = json!([]);
    let (_, none) = portal.post("/crm/v3/objects/companies/search", wrong).await;
    assert_eq!(none["total"], 0);
    portal.sandbox.seed_contacts(3, 1);
    let (_, none) = portal
        .post("/crm/v3/objects/contacts/search", since.clone())
        .await;
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn one_search_budget_per_second_serves_every_object_type() {
    let portal = Portal::start(SandboxOptions {
        search_per_second: Some(1),
        ..SandboxOptions::default()
    })
    .await;
    let (status, _) = portal
        .post("/crm/v3/objects/companies/search", json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = portal.post("/crm/v3/objects/deals/search", json!({})).await;
    assert_eq!(
        (status, body["policyName"].as_str()),
        (429, Some("SECONDLY"))
    );
}

#[tokio::test]
async fn unique_properties_are_upsert_keys_and_their_duplicates_are_409s() {
    let portal = Portal::new().await;
    let definition = json!({"name": "salesforce_account_id", "label": "Salesforce Account Id",
        "type": "string", "fieldType": "text", "groupName": "companyinformation",
        "hasUniqueValue": true});
    let (status, created) = portal
        .post("/crm/v3/properties/companies", definition.clone())
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["hasUniqueValue"], true);
    assert_eq!(created["hubspotDefined"], false);
    let (status, taken) = portal.post("/crm/v3/properties/0-2", definition).await;
    assert_eq!(
        (status, taken["category"].as_str()),
        (409, Some("OBJECT_ALREADY_EXISTS"))
    );
    let (status, listed) = portal.get("/crm/v3/properties/companies").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"salesforce_account_id") && names.contains(&"industry"));

    let upsert = |city: &str| {
        json!({"inputs": [
            {"id": "001A", "idProperty": "salesforce_account_id", "properties": {"name": "A", "city": city}},
            {"id": "001B", "idProperty": "salesforce_account_id", "properties": {"name": "B"}}]})
    };
    let (status, first) = portal
        .post("/crm/v3/objects/companies/batch/upsert", upsert("Oslo"))
        .await;
    assert_eq!(status, 200, "{first}");
    assert!(
        first["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["new"] == true)
    );
    let (_, again) = portal
        .post("/crm/v3/objects/companies/batch/upsert", upsert("Lyon"))
        .await;
    assert!(
        again["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["new"] == false)
    );
    let a = portal
        .sandbox
        .find_object(ObjectType::Companies, "salesforce_account_id", "001A")
        .unwrap();
    assert_eq!(a.properties["city"], "Lyon");

    let (status, got) = portal
        .get("/crm/v3/objects/companies/001A?idProperty=salesforce_account_id")
        .await;
    assert_eq!((status, got["id"].as_str()), (200, Some(a.id.as_str())));
    let (status, conflict) = portal
        .post(
            "/crm/v3/objects/companies",
            json!({"properties": {"salesforce_account_id": "001A"}}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(conflict["category"], "CONFLICT");
    assert_eq!(
        conflict["message"],
        format!("Company already exists. Existing ID: {}", a.id)
    );
    let (status, refused) = portal
        .post(
            "/crm/v3/objects/companies/batch/upsert",
            json!({"inputs": [{"id": "acme.example", "idProperty": "domain", "properties": {}}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("non-unique 0-2 property domain")
    );

    // Deals take a unique property too; a batch create with trace ids reports a
    // duplicate per input.
    portal
        .sandbox
        .add_unique_property(
            ObjectType::Deals,
            "salesforce_opportunity_id",
            "Opportunity",
        )
        .unwrap();
    let (status, answer) = portal
        .post(
            "/crm/v3/objects/deals/batch/create",
            json!({"inputs": [
                {"properties": {"dealname": "X", "salesforce_opportunity_id": "006X"}, "objectWriteTraceId": "a"},
                {"properties": {"dealname": "Y", "salesforce_opportunity_id": "006X"}, "objectWriteTraceId": "b"}]}),
        )
        .await;
    assert_eq!(status, 207, "{answer}");
    assert_eq!(answer["numErrors"], 1);
    assert_eq!(answer["errors"][0]["category"], "CONFLICT");
    assert_eq!(
        answer["errors"][0]["context"]["objectWriteTraceId"],
        json!(["b"])
    );
}

#[tokio::test]
async fn merging_deals_gives_a_new_deal_that_holds_both_deals_associations() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    let (c1, c2) = (
        s.create_company(&[("name", "One")]).unwrap(),
        s.create_company(&[("name", "Two")]).unwrap(),
    );
    let contact = s.create_contact(&[("email", "k@two.example")]).unwrap();
    let d1 = s
        .create_deal(&[("dealname", "D1"), ("amount", "10")])
        .unwrap();
    let d2 = s.create_deal(&[("dealname", "D2")]).unwrap();
    s.associate(ObjectType::Deals, &d1, ObjectType::Companies, &c1, true)
        .unwrap();
    s.associate(ObjectType::Deals, &d2, ObjectType::Companies, &c2, true)
        .unwrap();
    s.associate(
        ObjectType::Deals,
        &d2,
        ObjectType::Contacts,
        &contact,
        false,
    )
    .unwrap();

    let (status, merged) = portal
        .post(
            "/crm/v3/objects/deals/merge",
            json!({"primaryObjectId": d1, "objectIdToMerge": d2}),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    let m = merged["id"].as_str().unwrap().to_string();
    assert!(m != d1 && m != d2);
    assert_eq!(merged["properties"]["dealname"], "D1");
    let (_, through_old) = portal.get(&format!("/crm/v3/objects/deals/{d2}")).await;
    assert_eq!(through_old["id"], m.as_str());

    let (_, old) = portal
        .get(&format!(
            "/crm/v4/objects/deals/{d1}/associations/companies"
        ))
        .await;
    assert_eq!(
        old["results"],
        json!([]),
        "associations read through an old id are empty"
    );
    let (_, now) = portal
        .get(&format!("/crm/v4/objects/deals/{m}/associations/companies"))
        .await;
    let listed: Vec<(String, Vec<u64>)> = now["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let types = r["associationTypes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["typeId"].as_u64().unwrap())
                .collect();
            (r["toObjectId"].as_u64().unwrap().to_string(), types)
        })
        .collect();
    assert_eq!(listed, [(c1, vec![5, 341]), (c2, vec![341])]);
    let back = s.associations(ObjectType::Contacts, &contact, ObjectType::Deals);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].to_id, m);

    // Companies merge as contacts do.
    let (status, company) = portal
        .post(
            "/crm/v3/objects/0-2/merge",
            json!({"primaryObjectId": c_id(s, "One"), "objectIdToMerge": c_id(s, "Two")}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        company["properties"]["hs_merged_object_ids"]
            .as_str()
            .unwrap()
            .contains(';')
    );
}

fn c_id(sandbox: &HubSpotSandbox, name: &str) -> String {
    sandbox
        .companies()
        .into_iter()
        .find(|c| c.properties["name"] == name)
        .unwrap()
        .id
}

#[tokio::test]
async fn a_deal_stage_must_belong_to_its_pipeline_and_decides_the_calculated_properties() {
    let portal = Portal::new().await;
    let (status, won) = portal
        .post(
            "/crm/v3/objects/deals",
            json!({"properties": {"dealname": "Won", "dealstage": "closedwon"}}),
        )
        .await;
    assert_eq!(status, 201);
    let p = &won["properties"];
    assert_eq!(
        (
            p["pipeline"].as_str(),
            p["hs_is_closed_won"].as_str(),
            p["hs_is_closed"].as_str(),
            p["hs_deal_stage_probability"].as_str()
        ),
        (Some("default"), Some("true"), Some("true"), Some("1.0"))
    );
    let (status, refused) = portal
        .post(
            "/crm/v3/objects/deals",
            json!({"properties": {"dealname": "Bad", "dealstage": "Closed Won"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(refused["category"], "VALIDATION_ERROR");
    assert_eq!(refused["errors"][0]["code"], "INVALID_OPTION");
    assert_eq!(
        refused["errors"][0]["context"]["propertyName"],
        json!(["dealstage"])
    );

    portal
        .sandbox
        .add_pipeline(DealPipeline {
            id: "renewals".into(),
            label: "Renewals".into(),
            stages: vec![
                DealStage::new("renewalopen", "Open", 0.5, false),
                DealStage::new("renewed", "Renewed", 1.0, true),
            ],
        })
        .unwrap();
    let (status, renewal) = portal
        .post(
            "/crm/v3/objects/deals",
            json!({"properties": {"dealname": "R", "pipeline": "renewals", "dealstage": "renewalopen"}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(renewal["properties"]["hs_deal_stage_probability"], "0.5");
    let path = format!("/crm/v3/objects/deals/{}", renewal["id"].as_str().unwrap());
    let (status, _) = portal
        .patch(&path, json!({"properties": {"pipeline": "default"}}))
        .await;
    assert_eq!(
        status, 400,
        "renewalopen is not a stage of the default pipeline"
    );
    let (status, moved) = portal
        .patch(
            &path,
            json!({"properties": {"pipeline": "default", "dealstage": "contractsent"}}),
        )
        .await;
    assert_eq!(
        (
            status,
            moved["properties"]["hs_deal_stage_probability"].as_str()
        ),
        (200, Some("0.9"))
    );
    let (status, read_only) = portal
        .patch(&path, json!({"properties": {"hs_is_closed_won": "true"}}))
        .await;
    assert_eq!(
        (status, read_only["errors"][0]["code"].as_str()),
        (400, Some("READ_ONLY_VALUE"))
    );

    // Owner ids must name an active owner.
    let owners = portal.sandbox.owners();
    let (active, gone) = (&owners[0], owners.iter().find(|o| o.archived).unwrap());
    let (status, _) = portal
        .patch(
            &path,
            json!({"properties": {"hubspot_owner_id": active.id}}),
        )
        .await;
    assert_eq!(status, 200);
    for bad in [gone.id.as_str(), "123"] {
        let (status, refused) = portal
            .patch(&path, json!({"properties": {"hubspot_owner_id": bad}}))
            .await;
        assert_eq!(
            (status, refused["errors"][0]["code"].as_str()),
            (400, Some("INVALID_OWNER_ID"))
        );
    }
}

#[test]
fn seeding_companies_and_deals_is_deterministic_and_linked() {
    let build = || {
        let sandbox = HubSpotSandbox::new(SandboxOptions::default());
        sandbox.seed_contacts(60, 5);
        sandbox.seed_companies(30, 6);
        sandbox.seed_deals(80, 7);
        sandbox
    };
    let (one, two) = (build(), build());
    assert_eq!(one.companies(), two.companies());
    assert_eq!(one.deals(), two.deals());
    let companies = one.companies();
    assert_eq!(companies[0].properties["domain"], "acme.example");
    assert_eq!(
        companies
            .iter()
            .map(|c| &c.properties["domain"])
            .collect::<std::collections::HashSet<_>>()
            .len(),
        30,
        "seeded domains are distinct"
    );
    assert_eq!(
        one.associate_contacts_by_domain(),
        60,
        "every seeded contact works at a seeded company"
    );
    let deals = one.deals();
    let stages: std::collections::HashSet<&str> = deals
        .iter()
        .map(|d| d.properties["dealstage"].as_str())
        .collect();
    assert!(stages.len() >= 6, "{stages:?}");
    for deal in &deals {
        assert!(deal.properties["closedate"].ends_with("T00:00:00.000Z"));
        assert!(deal.properties.contains_key("hs_is_closed"));
        let company = one.associations(ObjectType::Deals, &deal.id, ObjectType::Companies);
        assert_eq!(company.len(), 1);
        assert_eq!(company[0].type_ids, [5, 341]);
        assert!(
            !one.associations(ObjectType::Deals, &deal.id, ObjectType::Contacts)
                .is_empty()
        );
        assert_eq!(
            deal.properties["hs_is_closed_won"] == "true",
            deal.properties["dealstage"] == "closedwon"
        );
    }
}
