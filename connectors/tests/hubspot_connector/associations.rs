//! Associations as fields: `@company` (the primary company) and `@contacts` (a deal's
//! contacts) read on every page and by `associations()`, and written through `apply`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{Value, json};
use truce_connectors::contract::Cursors;
use truce_connectors::hubspot::{ApiVersion, HubSpotConnector};
use truce_connectors::{Connector, ErrorClass, ObjectType, Record, Write, WriteOp};
use truce_sandbox::Served;
use truce_sandbox::hubspot::{HubSpotSandbox, ObjectType as Kind, SandboxOptions};

use crate::{association_batch, connector, endpoint, fields, poll, scan_all, start, update_of};

/// A connector reading contacts with `@company`, and deals with both associations.
fn linked_connector(served: &Served, sandbox: &HubSpotSandbox, v: ApiVersion) -> HubSpotConnector {
    connector(served, sandbox, v, |c| {
        c.objects = BTreeMap::from([
            (ObjectType::HubSpotContact, fields(&["city", "@company"])),
            (
                ObjectType::HubSpotDeal,
                fields(&["dealname", "@company", "@contacts"]),
            ),
        ]);
    })
}

/// What the sandbox holds: the primary company of `id`, or null.
fn primary(sandbox: &HubSpotSandbox, from: Kind, id: &str) -> Value {
    sandbox
        .associations(from, id, Kind::Companies)
        .into_iter()
        .find(|a| a.primary)
        .map_or(Value::Null, |a| Value::String(a.to_id))
}

/// What the sandbox holds: a deal's contacts, in numeric order.
fn contacts_of(sandbox: &HubSpotSandbox, deal: &str) -> Value {
    let mut ids: Vec<u64> = sandbox
        .associations(Kind::Deals, deal, Kind::Contacts)
        .into_iter()
        .map(|a| a.to_id.parse().unwrap())
        .collect();
    ids.sort_unstable();
    Value::Array(
        ids.into_iter()
            .map(|i| Value::String(i.to_string()))
            .collect(),
    )
}

/// Checks every association field of `records` against the sandbox.
fn assert_as_held(sandbox: &HubSpotSandbox, records: &[Record]) {
    for r in records {
        match r.object {
            ObjectType::HubSpotContact => {
                assert_eq!(
                    r.fields["@company"],
                    primary(sandbox, Kind::Contacts, &r.id),
                    "{}",
                    r.id
                );
            }
            ObjectType::HubSpotDeal => {
                assert_eq!(
                    r.fields["@company"],
                    primary(sandbox, Kind::Deals, &r.id),
                    "{}",
                    r.id
                );
                assert_eq!(
                    r.fields["@contacts"],
                    contacts_of(sandbox, &r.id),
                    "{}",
                    r.id
                );
            }
            other => panic!("{other}"),
        }
    }
}

/// Ten companies, contacts at their domains with their primary company, deals with a
/// primary company and contacts; some records with nothing associated, one contact with
/// a company that is not its primary one.
fn revenue_world(
    sandbox: &HubSpotSandbox,
    contacts: usize,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let companies = sandbox.seed_companies(10, 1);
    let people = sandbox.seed_contacts(contacts, 2);
    sandbox.associate_contacts_by_domain();
    for id in &people[..20] {
        for link in sandbox.associations(Kind::Contacts, id, Kind::Companies) {
            sandbox
                .dissociate(Kind::Contacts, id, Kind::Companies, &link.to_id)
                .unwrap();
        }
    }
    // Associated, but not as primary: no primary company.
    sandbox
        .associate(
            Kind::Contacts,
            &people[0],
            Kind::Companies,
            &companies[3],
            false,
        )
        .unwrap();
    let mut deals = sandbox.seed_deals(50, 3);
    deals.push(sandbox.create_deal(&[("dealname", "Lonely")]).unwrap());
    (companies, people, deals)
}

async fn pull_scan_and_fetch_pages_carry_the_configured_associations(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let (_, people, deals) = revenue_world(&sandbox, 300);
    let conn = linked_connector(&served, &sandbox, v);
    sandbox.counters().reset();

    let records = poll(&conn, &mut Cursors::new(), Duration::from_secs(60)).await;
    assert_eq!(records.len(), 351);
    assert_as_held(&sandbox, &records);
    let without: Vec<&Record> = records
        .iter()
        .filter(|r| r.fields.get("@company") == Some(&Value::Null))
        .collect();
    assert!(
        without.len() >= 21,
        "contacts and a deal without a primary company"
    );
    let lonely = records
        .iter()
        .find(|r| Some(&r.id) == deals.last())
        .unwrap();
    assert_eq!(lonely.fields["@contacts"], json!([]));
    // Two contact pages and one deal page: one read per page and association.
    assert_eq!(sandbox.counters().get(&association_batch(v, "read")), 4);

    let scanned = scan_all(&conn, ObjectType::HubSpotContact).await;
    assert_eq!(scanned.len(), 300);
    assert_as_held(&sandbox, &scanned);
    let fetched = conn.fetch(ObjectType::HubSpotDeal, &deals).await.unwrap();
    assert_eq!(fetched.records.len(), 51);
    assert_as_held(&sandbox, &fetched.records);
    let email = sandbox.get(&people[42]).unwrap().properties["email"].clone();
    let found = conn.find_by_email(&[email]).await.unwrap();
    assert_as_held(&sandbox, &found.records);
    assert!(found.records[0].fields["@company"].is_string());
}

async fn a_scan_reads_associations_once_per_1000_records_and_resumes_from_its_token(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let (_, people, deals) = revenue_world(&sandbox, 2_500);
    let conn = linked_connector(&served, &sandbox, v);
    sandbox.counters().reset();
    let list = |object: &str| endpoint(v, "GET", "objects", &format!("/{object}"));

    let first = conn.scan(ObjectType::HubSpotContact, None).await.unwrap();
    assert_eq!(first.records.len(), 1_000, "ten list pages gathered");
    assert_eq!(sandbox.counters().get(&list("contacts")), 10);
    assert_eq!(sandbox.counters().get(&association_batch(v, "read")), 1);
    // A restart: a new connector resumes from the token after the last list page read.
    let conn = linked_connector(&served, &sandbox, v);
    let rest = scan_all_from(&conn, first.next.clone()).await;
    let scanned: Vec<Record> = first.records.into_iter().chain(rest).collect();

    assert_eq!(
        scanned.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        people,
        "every contact once, in order"
    );
    assert_as_held(&sandbox, &scanned);
    let counters = sandbox.counters();
    assert_eq!(counters.get(&list("contacts")), 25, "pages of 100, as ever");
    assert_eq!(
        counters.get(&association_batch(v, "read")),
        3,
        "one @company read per 1,000 contacts, not per list page"
    );

    // Deals: two associations, one read each for the 51 deals.
    counters.reset();
    let deals_scanned = scan_all(&conn, ObjectType::HubSpotDeal).await;
    assert_eq!(deals_scanned.len(), deals.len());
    assert_as_held(&sandbox, &deals_scanned);
    assert_eq!(counters.get(&association_batch(v, "read")), 2);
}

/// The rest of a contact scan from `resume`, page by page.
async fn scan_all_from(conn: &HubSpotConnector, mut resume: Option<String>) -> Vec<Record> {
    let mut out = Vec::new();
    while let Some(token) = resume {
        let page = conn
            .scan(ObjectType::HubSpotContact, Some(&token))
            .await
            .unwrap();
        assert!(page.records.len() <= 1_000);
        out.extend(page.records);
        resume = page.next;
    }
    out
}

async fn associations_reads_1500_ids_in_two_calls_and_none_for_records_without_any(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let (_, people, _) = revenue_world(&sandbox, 1_500);
    let conn = connector(&served, &sandbox, v, |_| {});
    sandbox.counters().reset();
    let calls = conn.calls();

    let found = conn
        .associations(
            ObjectType::HubSpotContact,
            &people,
            &["@company".to_string()],
        )
        .await
        .unwrap();

    assert_eq!(found.len(), 1_500);
    assert_eq!(
        found.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        people,
        "one answer per id, in input order"
    );
    for a in &found {
        assert_eq!(
            a.fields["@company"],
            primary(&sandbox, Kind::Contacts, &a.id)
        );
    }
    assert_eq!(
        found[..20]
            .iter()
            .filter(|a| a.fields["@company"].is_null())
            .count(),
        20
    );
    assert_eq!(sandbox.counters().get(&association_batch(v, "read")), 2);
    assert_eq!(conn.calls() - calls, 2);
    assert_eq!(sandbox.counters().total(), 2);

    let err = conn
        .associations(
            ObjectType::HubSpotContact,
            &people[..1],
            &["@deals".to_string()],
        )
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert!(err.api().message.contains("`@deals`"), "{err}");
}

async fn an_association_only_change_is_found_by_associations_while_a_pull_finds_nothing(
    v: ApiVersion,
) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let (companies, people, deals) = revenue_world(&sandbox, 40);
    let conn = linked_connector(&served, &sandbox, v);
    let mut since = Cursors::new();
    poll(&conn, &mut since, Duration::from_secs(60)).await;
    assert!(poll(&conn, &mut since, Duration::ZERO).await.is_empty());

    let moved = &people[30];
    let before = primary(&sandbox, Kind::Contacts, moved);
    let to = companies
        .iter()
        .find(|c| Value::String(c.to_string()) != before)
        .unwrap();
    sandbox
        .associate(Kind::Contacts, moved, Kind::Companies, to, true)
        .unwrap();
    sandbox
        .associate(Kind::Deals, &deals[0], Kind::Contacts, &people[1], false)
        .unwrap();

    assert!(
        poll(&conn, &mut since, Duration::ZERO).await.is_empty(),
        "HubSpot dates no association change"
    );
    let contact = conn
        .associations(
            ObjectType::HubSpotContact,
            std::slice::from_ref(moved),
            &["@company".into()],
        )
        .await
        .unwrap();
    assert_eq!(contact[0].fields["@company"], Value::String(to.clone()));
    let deal = conn
        .associations(
            ObjectType::HubSpotDeal,
            &[deals[0].clone()],
            &["@contacts".into(), "@company".into()],
        )
        .await
        .unwrap();
    let linked = deal[0].fields["@contacts"].as_array().unwrap();
    assert!(linked.contains(&Value::String(people[1].clone())));
    assert_eq!(
        deal[0].fields["@company"],
        primary(&sandbox, Kind::Deals, &deals[0])
    );
}

fn with(fields: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(fields).unwrap()
}

async fn apply_moves_and_clears_primary_companies_and_replaces_a_deals_contacts(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let company = |name: &str| sandbox.create_company(&[("name", name)]).unwrap();
    let (a, b, c) = (company("A"), company("B"), company("C"));
    let contact = |n: u32| {
        sandbox
            .create_contact(&[("email", &format!("p{n}@example.com"))])
            .unwrap()
    };
    let (c1, c2, c3, c4) = (contact(1), contact(2), contact(3), contact(4));
    let link = |from: Kind, id: &str, to: Kind, to_id: &str, primary: bool| {
        sandbox.associate(from, id, to, to_id, primary).unwrap();
    };
    link(Kind::Contacts, &c1, Kind::Companies, &a, true);
    link(Kind::Contacts, &c2, Kind::Companies, &a, true);
    link(Kind::Contacts, &c3, Kind::Companies, &b, true);
    let d1 = sandbox.create_deal(&[("dealname", "D1")]).unwrap();
    let d2 = sandbox.create_deal(&[("dealname", "D2")]).unwrap();
    link(Kind::Deals, &d1, Kind::Companies, &a, true);
    link(Kind::Deals, &d1, Kind::Contacts, &c1, false);
    link(Kind::Deals, &d1, Kind::Contacts, &c2, false);
    link(Kind::Deals, &d2, Kind::Contacts, &c3, false);
    let conn = linked_connector(&served, &sandbox, v);
    let create = |key: i64, fields: Value| Write {
        key,
        object: ObjectType::HubSpotDeal,
        op: WriteOp::Create { upsert_on: None },
        fields: with(fields),
    };
    let contact_write =
        |key, id: &str, fields| update_of(key, ObjectType::HubSpotContact, id, with(fields));
    let deal_write =
        |key, id: &str, fields| update_of(key, ObjectType::HubSpotDeal, id, with(fields));
    let writes = vec![
        contact_write(1, &c1, json!({"city": "Oslo", "@company": b})),
        contact_write(2, &c2, json!({"@company": null})),
        contact_write(3, &c3, json!({"@company": "999999999"})),
        deal_write(
            4,
            &d1,
            json!({"dealname": "D1 renamed", "@company": c, "@contacts": [c1, c3]}),
        ),
        deal_write(5, &d2, json!({"@contacts": [c3, "12345"]})),
        create(
            6,
            json!({"dealname": "New", "@company": a, "@contacts": [c4]}),
        ),
        create(7, json!({"dealname": "Nowhere", "@company": "999999999"})),
        contact_write(8, &c4, json!({"@company": a})),
    ];
    sandbox.counters().reset();

    let outcomes = conn.apply(writes).await.unwrap();

    assert_eq!(
        outcomes.iter().map(|o| o.key).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>(),
        "one outcome per write, in input order"
    );
    let by_key: HashMap<i64, _> = outcomes.iter().map(|o| (o.key, &o.result)).collect();
    for key in [1, 2, 4, 6, 8] {
        assert!(by_key[&key].is_ok(), "{key}: {:?}", by_key[&key]);
    }
    for (key, bad) in [
        (3, "COMPANY=999999999"),
        (5, "CONTACT=12345"),
        (7, "COMPANY=999999999"),
    ] {
        let err = by_key[&key].as_ref().unwrap_err();
        assert_eq!(err.class(), ErrorClass::Permanent, "{key}");
        assert!(err.api().message.contains(bad), "{key}: {err}");
    }
    // The primary moved from A to B; A stays associated, unlabeled.
    assert_eq!(primary(&sandbox, Kind::Contacts, &c1), json!(b));
    assert_eq!(
        sandbox
            .associations(Kind::Contacts, &c1, Kind::Companies)
            .len(),
        2
    );
    assert_eq!(
        sandbox.object(Kind::Contacts, &c1).unwrap().properties["city"],
        "Oslo"
    );
    // Cleared: no primary company, the association kept.
    assert_eq!(primary(&sandbox, Kind::Contacts, &c2), Value::Null);
    assert_eq!(
        sandbox
            .associations(Kind::Contacts, &c2, Kind::Companies)
            .len(),
        1
    );
    assert_eq!(
        primary(&sandbox, Kind::Contacts, &c3),
        json!(b),
        "refused, unchanged"
    );
    assert_eq!(primary(&sandbox, Kind::Contacts, &c4), json!(a));
    // c2 removed, c3 added, c1 kept.
    assert_eq!(contacts_of(&sandbox, &d1), json!([c1, c3]));
    assert_eq!(primary(&sandbox, Kind::Deals, &d1), json!(c));
    assert_eq!(
        sandbox.deal(&d1).unwrap().properties["dealname"],
        "D1 renamed"
    );
    let new = by_key[&6].as_ref().unwrap();
    assert!(new.created);
    assert_eq!(primary(&sandbox, Kind::Deals, &new.id), json!(a));
    assert_eq!(contacts_of(&sandbox, &new.id), json!([c4]));
    assert_eq!(sandbox.deals().len(), 3, "the refused create made nothing");

    // Batched across the writes: one call per association and operation.
    let counters = sandbox.counters();
    assert_eq!(counters.get(&association_batch(v, "read")), 3);
    assert_eq!(counters.get(&association_batch(v, "create")), 3);
    assert_eq!(counters.get(&association_batch(v, "labels/archive")), 1);
    assert_eq!(counters.get(&association_batch(v, "archive")), 1);
    let objects = |path: &str| counters.get(&endpoint(v, "POST", "objects", path));
    assert_eq!(
        objects("/contacts/batch/update"),
        1,
        "association-only writes make no record call"
    );
    assert_eq!(objects("/deals/batch/update"), 1);
    assert_eq!(
        objects("/deals/batch/create"),
        1,
        "the creates' associations rode along"
    );

    // Nothing left to do: a repeat reads and changes nothing.
    counters.reset();
    let again = conn
        .apply(vec![
            contact_write(1, &c1, json!({"@company": b})),
            deal_write(4, &d1, json!({"@contacts": [c1, c3]})),
        ])
        .await
        .unwrap();
    assert!(again.iter().all(|o| o.result.is_ok()));
    assert_eq!(counters.get(&association_batch(v, "read")), 2);
    assert_eq!(counters.total(), 2);
}

async fn an_upsert_sets_its_associations_once_the_record_exists(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    sandbox
        .add_unique_property(Kind::Deals, "salesforce_opportunity_id", "Opportunity Id")
        .unwrap();
    let company = sandbox.create_company(&[("name", "Acme")]).unwrap();
    let person = sandbox
        .create_contact(&[("email", "p@example.com")])
        .unwrap();
    let conn = linked_connector(&served, &sandbox, v);
    let mut write = crate::upsert_on(
        1,
        ObjectType::HubSpotDeal,
        ("salesforce_opportunity_id", "006A"),
        &[("dealname", "Acme - Pilot")],
    );
    write.fields.insert("@company".into(), json!(company));
    write.fields.insert("@contacts".into(), json!([person]));
    sandbox.counters().reset();

    let outcomes = conn.apply(vec![write.clone()]).await.unwrap();
    let deal = outcomes[0].result.as_ref().unwrap();
    assert!(deal.created);
    assert_eq!(primary(&sandbox, Kind::Deals, &deal.id), json!(company));
    assert_eq!(contacts_of(&sandbox, &deal.id), json!([person]));
    // A record the upsert created has nothing to read first.
    let counters = sandbox.counters();
    assert_eq!(counters.get(&association_batch(v, "read")), 0);
    assert_eq!(counters.get(&association_batch(v, "create")), 2);

    counters.reset();
    let again = conn.apply(vec![write]).await.unwrap();
    assert!(!again[0].result.as_ref().unwrap().created);
    assert_eq!(counters.get(&association_batch(v, "read")), 2);
    assert_eq!(counters.get(&association_batch(v, "create")), 0);
}

async fn an_update_of_a_record_said_to_have_no_associations_reads_none_first(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let company = sandbox.create_company(&[("name", "Acme")]).unwrap();
    let people: Vec<String> = ["a", "b"]
        .iter()
        .map(|p| {
            sandbox
                .create_contact(&[("email", &format!("{p}@example.com"))])
                .unwrap()
        })
        .collect();
    let deals: Vec<String> = ["Pilot", "Renewal"]
        .iter()
        .map(|name| sandbox.create_deal(&[("dealname", name)]).unwrap())
        .collect();
    let conn = linked_connector(&served, &sandbox, v);
    let link = |key: i64, deal: &str, no_associations: bool| Write {
        key,
        object: ObjectType::HubSpotDeal,
        op: WriteOp::Update {
            id: deal.to_string(),
            no_associations,
        },
        fields: BTreeMap::from([
            ("@company".to_string(), json!(company)),
            ("@contacts".to_string(), json!(people)),
        ]),
    };
    sandbox.counters().reset();

    let outcomes = conn
        .apply(vec![link(1, &deals[0], true), link(2, &deals[1], true)])
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    for deal in &deals {
        assert_eq!(primary(&sandbox, Kind::Deals, deal), json!(company));
        assert_eq!(contacts_of(&sandbox, deal), json!(people));
    }
    // Nothing read: one create per association type for both deals.
    let counters = sandbox.counters();
    assert_eq!(counters.get(&association_batch(v, "read")), 0);
    assert_eq!(counters.get(&association_batch(v, "create")), 2);

    // Without the word, the current links are read first, and nothing is left to create.
    counters.reset();
    conn.apply(vec![link(3, &deals[0], false)]).await.unwrap();
    assert_eq!(counters.get(&association_batch(v, "read")), 2);
    assert_eq!(counters.get(&association_batch(v, "create")), 0);
}

per_version! {
    #[tokio::test] an_update_of_a_record_said_to_have_no_associations_reads_none_first,
    #[tokio::test] pull_scan_and_fetch_pages_carry_the_configured_associations,
    #[tokio::test] a_scan_reads_associations_once_per_1000_records_and_resumes_from_its_token,
    #[tokio::test] associations_reads_1500_ids_in_two_calls_and_none_for_records_without_any,
    #[tokio::test] an_association_only_change_is_found_by_associations_while_a_pull_finds_nothing,
    #[tokio::test] apply_moves_and_clears_primary_companies_and_replaces_a_deals_contacts,
    #[tokio::test] an_upsert_sets_its_associations_once_the_record_exists,
}
