//! The v4 associations API, the v3-style `associations` on reads, associations on
//! create, and the rule that association changes leave modified dates alone.

use serde_json::{Value, json};
use truce_sandbox::hubspot::ObjectType;

use crate::{Portal, T0, spec};

/// `(toObjectId, [typeId...])` of a v4 answer's `results` (or a batch result's `to`).
fn listed(results: &Value) -> Vec<(u64, Vec<u64>)> {
    results
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
            (r["toObjectId"].as_u64().unwrap(), types)
        })
        .collect()
}

fn n(id: &str) -> u64 {
    id.parse().unwrap()
}

#[tokio::test]
async fn one_records_associations_page_by_500_with_numeric_ids() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    let company = s.create_company(&[("name", "Acme")]).unwrap();
    let contacts: Vec<String> = (0..3)
        .map(|i| {
            let id = s
                .create_contact(&[("email", &format!("p{i}@acme.example"))])
                .unwrap();
            s.associate(
                ObjectType::Contacts,
                &id,
                ObjectType::Companies,
                &company,
                false,
            )
            .unwrap();
            id
        })
        .collect();
    let path = format!("/crm/v4/objects/companies/{company}/associations/contacts");
    let (status, first) = portal.get(&format!("{path}?limit=2")).await;
    assert_eq!(status, 200);
    assert!(first["results"][0]["toObjectId"].is_u64(), "a JSON number");
    assert_eq!(
        first["results"][0]["associationTypes"][0],
        json!({"category": "HUBSPOT_DEFINED", "typeId": 280, "label": null})
    );
    assert_eq!(
        listed(&first["results"]),
        [(n(&contacts[0]), vec![280]), (n(&contacts[1]), vec![280])]
    );
    let after = first["paging"]["next"]["after"].as_str().unwrap();
    let (_, second) = portal.get(&format!("{path}?limit=2&after={after}")).await;
    assert_eq!(listed(&second["results"]), [(n(&contacts[2]), vec![280])]);
    assert!(second.get("paging").is_none());
    assert_eq!(portal.get(&format!("{path}?limit=501")).await.0, 400);
    // Singular names and type ids name the same types.
    let (_, same) = portal
        .get(&format!(
            "/crm/v4/objects/0-2/{company}/associations/contact"
        ))
        .await;
    assert_eq!(same["results"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_contact_has_one_primary_company_listed_with_both_its_types() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    let contact = s.create_contact(&[("email", "k@example.com")]).unwrap();
    let c1 = s.create_company(&[("name", "One")]).unwrap();
    let c2 = s.create_company(&[("name", "Two")]).unwrap();
    let portal = &portal;
    let put = |company: &str| {
        let path = format!("/crm/v4/objects/contacts/{contact}/associations/companies/{company}");
        async move { portal.put(&path, Some(json!([spec(1)]))).await }
    };
    let (status, labels) = put(&c1).await;
    assert_eq!(status, 201, "{labels}");
    assert_eq!(
        labels,
        json!({"fromObjectTypeId": "0-1", "fromObjectId": n(&contact),
               "toObjectTypeId": "0-2", "toObjectId": n(&c1), "labels": ["Primary"]})
    );
    let path = format!("/crm/v4/objects/contacts/{contact}/associations/companies");
    let (_, read) = portal.get(&path).await;
    assert_eq!(
        read["results"][0]["associationTypes"],
        json!([{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
               {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": null}])
    );
    put(&c2).await;
    let (_, read) = portal.get(&path).await;
    assert_eq!(
        listed(&read["results"]),
        [(n(&c1), vec![279]), (n(&c2), vec![1, 279])]
    );
    let (_, back) = portal
        .get(&format!(
            "/crm/v4/objects/companies/{c2}/associations/contacts"
        ))
        .await;
    assert_eq!(listed(&back["results"]), [(n(&contact), vec![2, 280])]);
    // A type that does not join the two is refused.
    let (status, refused) = portal
        .put(
            &format!("/crm/v4/objects/contacts/{contact}/associations/companies/{c1}"),
            Some(json!([spec(341)])),
        )
        .await;
    assert_eq!(
        (status, refused["category"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    // Removing the pair removes every label.
    let (status, _) = portal
        .delete(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/companies/{c2}"
        ))
        .await;
    assert_eq!(status, 204);
    let (_, read) = portal.get(&path).await;
    assert_eq!(listed(&read["results"]), [(n(&c1), vec![279])]);
}

#[tokio::test]
async fn association_changes_never_move_either_records_modified_date() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    s.freeze_clock(T0);
    let contact = s.create_contact(&[("email", "k@example.com")]).unwrap();
    let company = s.create_company(&[("name", "Acme")]).unwrap();
    let deal = s.create_deal(&[("dealname", "D")]).unwrap();
    s.advance_clock(3_600_000);
    let unchanged = |what: &str| {
        for (object, id) in [
            (ObjectType::Contacts, &contact),
            (ObjectType::Companies, &company),
            (ObjectType::Deals, &deal),
        ] {
            let record = s.object(object, id).unwrap();
            assert_eq!(record.modified_ms, T0, "{what} moved {object} {id}");
        }
    };
    let pair = format!("/crm/v4/objects/contacts/{contact}/associations");
    portal
        .put(&format!("{pair}/default/companies/{company}"), None)
        .await;
    unchanged("PUT default");
    portal
        .put(
            &format!("{pair}/companies/{company}"),
            Some(json!([spec(1)])),
        )
        .await;
    unchanged("PUT with a primary type");
    portal
        .post(
            "/crm/v4/associations/deals/contacts/batch/create",
            json!({"inputs": [{"from": {"id": deal}, "to": {"id": contact}, "types": [spec(3)]}]}),
        )
        .await;
    portal
        .post(
            "/crm/v4/associations/deals/companies/batch/associate/default",
            json!({"inputs": [{"from": {"id": deal}, "to": {"id": company}}]}),
        )
        .await;
    unchanged("batch create and associate/default");
    portal
        .post(
            "/crm/v4/associations/deals/contacts/batch/archive",
            json!({"inputs": [{"from": {"id": deal}, "to": [{"id": contact}]}]}),
        )
        .await;
    portal.delete(&format!("{pair}/companies/{company}")).await;
    unchanged("batch archive and DELETE");
    s.associate(
        ObjectType::Deals,
        &deal,
        ObjectType::Contacts,
        &contact,
        false,
    )
    .unwrap();
    s.dissociate(ObjectType::Deals, &deal, ObjectType::Contacts, &contact)
        .unwrap();
    unchanged("the control API");
    // So an incremental search after the change finds nothing to pull.
    let since = |property: &str| {
        json!({"filterGroups": [{"filters": [
            {"propertyName": property, "operator": "GT", "value": T0.to_string()}]}]})
    };
    for (object, property) in [
        ("contacts", "lastmodifieddate"),
        ("companies", "hs_lastmodifieddate"),
        ("deals", "hs_lastmodifieddate"),
    ] {
        let (_, found) = portal
            .post(&format!("/crm/v3/objects/{object}/search"), since(property))
            .await;
        assert_eq!(found["total"], 0, "{object}");
    }
}

#[tokio::test]
async fn batch_read_reports_records_without_associations_as_207_errors() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    let company = s.create_company(&[("name", "Acme")]).unwrap();
    let linked = s.create_deal(&[("dealname", "Linked")]).unwrap();
    let alone = s.create_deal(&[("dealname", "Alone")]).unwrap();
    s.associate(
        ObjectType::Deals,
        &linked,
        ObjectType::Companies,
        &company,
        true,
    )
    .unwrap();
    let (status, answer) = portal
        .post(
            "/crm/v4/associations/deals/companies/batch/read",
            json!({"inputs": [{"id": linked}, {"id": alone}]}),
        )
        .await;
    assert_eq!(status, 207, "{answer}");
    assert_eq!(answer["status"], "COMPLETE");
    assert_eq!(answer["results"][0]["from"], json!({"id": linked}));
    assert_eq!(
        listed(&answer["results"][0]["to"]),
        [(n(&company), vec![5, 341])]
    );
    assert_eq!(answer["numErrors"], 1);
    assert_eq!(
        answer["errors"][0],
        json!({"status": "error", "category": "OBJECT_NOT_FOUND",
               "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
               "message": format!("No company is associated with deal {alone}."),
               "context": {"fromObjectId": [alone], "fromObjectType": ["deal"], "toObjectType": ["company"]},
               "errors": [], "links": {}})
    );
    let (status, all_found) = portal
        .post(
            "/crm/v4/associations/0-3/0-2/batch/read",
            json!({"inputs": [{"id": linked}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(all_found.get("errors").is_none());
    let inputs: Vec<Value> = (0..1_001).map(|i| json!({"id": i.to_string()})).collect();
    let (status, refused) = portal
        .post(
            "/crm/v4/associations/deals/companies/batch/read",
            json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(
        (status, refused["category"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
}

#[tokio::test]
async fn batch_create_archive_labels_and_default_associations() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    let contact = s.create_contact(&[("email", "k@example.com")]).unwrap();
    let company = s.create_company(&[("name", "Acme")]).unwrap();
    let create = "/crm/v4/associations/contacts/companies/batch/create";
    let (status, partial) = portal
        .post(
            create,
            json!({"inputs": [
                {"from": {"id": contact}, "to": {"id": company}, "types": [spec(1)]},
                {"from": {"id": contact}, "to": {"id": "42"}, "types": [spec(279)]}]}),
        )
        .await;
    assert_eq!(status, 207, "{partial}");
    assert_eq!(partial["results"][0]["labels"], json!(["Primary"]));
    assert_eq!(partial["errors"][0]["category"], "VALIDATION_ERROR");
    assert_eq!(
        partial["errors"][0]["context"]["INVALID_OBJECT_IDS"],
        json!(["COMPANY=42 is not valid"])
    );
    let (status, _) = portal
        .post(
            create,
            json!({"inputs": [{"from": {"id": contact}, "to": {"id": company}, "types": [spec(279)]}]}),
        )
        .await;
    assert_eq!(status, 201);
    // Archiving only the primary label keeps the association, unlabeled.
    let (status, body) = portal
        .post(
            "/crm/v4/associations/contacts/companies/batch/labels/archive",
            json!({"inputs": [{"from": {"id": contact}, "to": {"id": company}, "types": [spec(1)]}]}),
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let links = s.associations(ObjectType::Contacts, &contact, ObjectType::Companies);
    assert_eq!(links[0].type_ids, [279]);
    let (status, body) = portal
        .post(
            "/crm/v4/associations/contacts/companies/batch/archive",
            json!({"inputs": [{"from": {"id": contact}, "to": [{"id": company}]}]}),
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    assert!(
        s.associations(ObjectType::Contacts, &contact, ObjectType::Companies)
            .is_empty()
    );

    let (status, made) = portal
        .post(
            "/crm/v4/associations/contacts/companies/batch/associate/default",
            json!({"inputs": [{"from": {"id": contact}, "to": {"id": company}}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        made["results"],
        json!([
            {"from": {"id": contact}, "to": {"id": company}, "associationSpec": spec(279)},
            {"from": {"id": company}, "to": {"id": contact}, "associationSpec": spec(280)}])
    );
    let (status, single) = portal
        .put(
            &format!("/crm/v4/objects/companies/{company}/associations/default/contacts/{contact}"),
            None,
        )
        .await;
    assert_eq!((status, single["status"].as_str()), (200, Some("COMPLETE")));
    assert_eq!(single["results"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn reads_carry_v3_style_associations_and_creates_make_them() {
    let portal = Portal::new().await;
    let s = &portal.sandbox;
    let company = s.create_company(&[("name", "Acme")]).unwrap();
    let contact = s.create_contact(&[("email", "k@acme.example")]).unwrap();
    s.associate(
        ObjectType::Contacts,
        &contact,
        ObjectType::Companies,
        &company,
        true,
    )
    .unwrap();
    let (status, deal) = portal
        .post(
            "/crm/v3/objects/deals",
            json!({"properties": {"dealname": "D"}, "associations": [
                {"to": {"id": company}, "types": [spec(5)]},
                {"to": {"id": contact}, "types": [spec(3)]}]}),
        )
        .await;
    assert_eq!(status, 201, "{deal}");
    let deal = deal["id"].as_str().unwrap().to_string();

    let (_, read) = portal
        .get(&format!(
            "/crm/v3/objects/contacts/{contact}?associations=companies,deals,tickets"
        ))
        .await;
    assert_eq!(
        read["associations"],
        json!({
            "companies": {"results": [
                {"id": company, "type": "contact_to_company"},
                {"id": company, "type": "contact_to_company_unlabeled"}]},
            "deals": {"results": [{"id": deal, "type": "contact_to_deal"}]}})
    );
    let (_, list) = portal
        .get("/crm/v3/objects/deals?associations=companies")
        .await;
    assert_eq!(
        list["results"][0]["associations"]["companies"]["results"][0],
        json!({"id": company, "type": "deal_to_company"})
    );
    let (_, plain) = portal.get(&format!("/crm/v3/objects/deals/{deal}")).await;
    assert!(plain.get("associations").is_none());

    // A contact type on a deal, or a company that does not exist, refuses the create.
    for associations in [
        json!([{"to": {"id": company}, "types": [spec(279)]}]),
        json!([{"to": {"id": "42"}, "types": [spec(5)]}]),
    ] {
        let (status, refused) = portal
            .post(
                "/crm/v3/objects/deals",
                json!({"properties": {"dealname": "E"}, "associations": associations}),
            )
            .await;
        assert_eq!(
            (status, refused["category"].as_str()),
            (400, Some("VALIDATION_ERROR"))
        );
    }
    assert_eq!(s.object_count(ObjectType::Deals), 1);
    // Batch creates take associations per input.
    let (status, batch) = portal
        .post(
            "/crm/v3/objects/deals/batch/create",
            json!({"inputs": [{"properties": {"dealname": "F"},
                               "associations": [{"to": {"id": company}, "types": [spec(341)]}]}]}),
        )
        .await;
    assert_eq!(status, 201);
    let f = batch["results"][0]["id"].as_str().unwrap();
    let links = s.associations(ObjectType::Deals, f, ObjectType::Companies);
    assert_eq!((links.len(), links[0].primary), (1, false));
}
