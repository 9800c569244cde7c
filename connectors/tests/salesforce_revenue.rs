//! The Salesforce connector's revenue objects against its sandbox, over real HTTP on
//! 127.0.0.1: Accounts and Opportunities pulled, scanned, fetched and written like Leads,
//! their typed metadata, and an Opportunity's contacts (`OpportunityContactRole`) read and
//! written as one field.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::ConfigFor;
use serde_json::{Value, json};
use truce_connectors::contract::{Cursors, UpsertKey};
use truce_connectors::http::{HttpClient, HttpOptions, RetryPolicy};
use truce_connectors::salesforce::{SalesforceConfig, SalesforceConnector};
use truce_connectors::{Connector, ErrorClass, ObjectType, Record, Write, WriteOp};
use truce_sandbox::Served;
use truce_sandbox::salesforce::{LeadConvert, SalesforceSandbox, SandboxOptions};

const COMPOSITE: &str = "POST /services/data/{v}/composite";
const ROLES: &str = "OpportunityContactRole";

struct Org {
    sandbox: SalesforceSandbox,
    _served: Served,
    config: SalesforceConfig,
}

impl Org {
    /// An org, and a config reading all four objects (an Opportunity's contacts too).
    async fn start() -> Org {
        let sandbox = SalesforceSandbox::new(SandboxOptions::default());
        let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let mut config = sandbox.config_for(&served.url());
        config.retry = RetryPolicy {
            max_attempts: 6,
            initial_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(20),
            max_elapsed: Duration::from_secs(30),
        };
        let fields = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        config.objects = BTreeMap::from([
            (ObjectType::SalesforceLead, fields(&["LastName", "Company"])),
            (
                ObjectType::SalesforceContact,
                fields(&["LastName", "AccountId"]),
            ),
            (ObjectType::SalesforceAccount, fields(&["Name", "Industry"])),
            (
                ObjectType::SalesforceOpportunity,
                fields(&["StageName", "Amount", "AccountId", ROLES]),
            ),
        ]);
        Org {
            sandbox,
            _served: served,
            config,
        }
    }

    fn connector(&self) -> SalesforceConnector {
        SalesforceConnector::new(
            self.config.clone(),
            HttpClient::new(&HttpOptions::default()).unwrap(),
        )
        .unwrap()
    }

    fn composites(&self) -> u64 {
        self.sandbox.counters().get(COMPOSITE)
    }

    fn at(&self, at: DateTime<Utc>) {
        self.sandbox.pin_clock(Some(at));
    }

    fn account(&self) -> String {
        self.sandbox
            .create("Account", json!({"Name": "Acme"}))
            .unwrap()
    }

    fn contact(&self, account: &str, name: &str) -> String {
        self.sandbox
            .create("Contact", json!({"LastName": name, "AccountId": account}))
            .unwrap()
    }

    fn opportunity(&self, account: &str, name: &str) -> String {
        self.sandbox
            .create(
                "Opportunity",
                json!({"Name": name, "StageName": "Prospecting", "CloseDate": "2026-12-31",
                       "AccountId": account, "Amount": 1500.5}),
            )
            .unwrap()
    }

    fn role(&self, opportunity: &str, contact: &str, primary: bool) -> String {
        self.sandbox
            .create(
                ROLES,
                json!({"OpportunityId": opportunity, "ContactId": contact, "IsPrimary": primary}),
            )
            .unwrap()
    }

    /// The live roles of an Opportunity in the org: `(contact, primary)`, by contact.
    fn roles_of(&self, opportunity: &str) -> Vec<(String, bool)> {
        let mut roles: Vec<(String, bool)> = self
            .sandbox
            .ids(ROLES)
            .iter()
            .filter_map(|id| self.sandbox.get(ROLES, id))
            .filter(|r| r["IsDeleted"] == json!(false) && r["OpportunityId"] == json!(opportunity))
            .map(|r| {
                let contact = r["ContactId"].as_str().unwrap_or_default().to_string();
                (contact, r["IsPrimary"] == json!(true))
            })
            .collect();
        roles.sort();
        roles
    }
}

/// Pulls until done, returning every record and the final position.
async fn pull_all(
    conn: &SalesforceConnector,
    since: &Cursors,
    lookback: Duration,
) -> (Vec<Record>, Cursors) {
    let mut since = since.clone();
    let mut position: Option<Cursors> = None;
    let mut records = Vec::new();
    loop {
        let page = conn
            .pull(&since, position.as_ref(), lookback)
            .await
            .unwrap();
        assert!(page.rejected.is_empty(), "{:?}", page.rejected);
        records.extend(page.records);
        for (k, v) in &page.position {
            let entry = since.entry(k.clone()).or_insert_with(|| v.clone());
            if v > entry {
                *entry = v.clone();
            }
        }
        if page.done {
            return (records, since);
        }
        position = Some(page.position);
    }
}

fn contacts_of(record: &Record) -> Vec<String> {
    record.fields[ROLES]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let set: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    set.into_iter().collect()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

#[tokio::test]
async fn accounts_and_opportunities_sharing_one_modstamp_are_pulled_once_each_with_typed_metadata()
{
    let org = Org::start().await;
    org.at(t0());
    let accounts = org.sandbox.seed_accounts(2300, 3);
    let opportunities = org.sandbox.seed_opportunities(2100, 4);
    let conn = org.connector();
    let (records, since) = pull_all(&conn, &Cursors::new(), Duration::from_secs(60)).await;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        *seen.entry(r.id.as_str()).or_default() += 1;
    }
    assert_eq!(seen.len(), 4400, "no gap");
    assert!(seen.values().all(|n| *n == 1), "no repeat");
    assert!(
        accounts
            .iter()
            .chain(&opportunities)
            .all(|id| seen.contains_key(id.as_str()))
    );
    let stamp = t0().timestamp_millis();
    assert_eq!(since["Account"].modified_at, stamp);
    assert_eq!(since["Opportunity"].modified_at, stamp);

    for r in &records {
        let row = org.sandbox.get(r.object.as_str(), &r.id).unwrap();
        assert_eq!(r.name.as_deref(), row["Name"].as_str(), "{}", r.id);
        match r.object {
            ObjectType::SalesforceAccount => {
                assert_eq!(r.domain.as_deref(), row["Website"].as_str());
                assert!(r.domain.as_deref().unwrap().starts_with("https://"));
                assert!(r.outcome.is_none());
                assert_eq!(
                    r.fields.keys().collect::<Vec<_>>(),
                    vec!["Industry", "Name"]
                );
            }
            ObjectType::SalesforceOpportunity => {
                let outcome = r.outcome.clone().unwrap();
                assert_eq!(Some(outcome.closed), row["IsClosed"].as_bool());
                assert_eq!(Some(outcome.won), row["IsWon"].as_bool());
                let amount = row["Amount"].as_f64().unwrap();
                assert_eq!(outcome.amount, Some(format!("{amount}")));
                assert!(!outcome.amount.unwrap().contains('e'));
                assert_eq!(contacts_of(r), Vec::<String>::new(), "no roles yet");
                assert!(r.fields.contains_key("StageName") && !r.fields.contains_key("IsWon"));
            }
            other => panic!("{other} pulled"),
        }
    }
    // An idle poll over all five streams (Lead, Contact, Account, Opportunity and the
    // contact roles) is one composite call.
    let before = org.composites();
    let (records, _) = pull_all(&conn, &since, Duration::ZERO).await;
    assert!(records.is_empty());
    assert_eq!(org.composites() - before, 1);
}

#[tokio::test]
async fn a_poll_of_all_five_streams_with_changes_in_each_is_one_composite_call_plus_one_for_the_contact_sets()
 {
    let org = Org::start().await;
    org.at(t0());
    let account = org.account();
    let ann = org.contact(&account, "Ann");
    let opp = org.opportunity(&account, "Deal");
    let lead = org
        .sandbox
        .create("Lead", json!({"LastName": "Lee", "Company": "Initech"}))
        .unwrap();
    let conn = org.connector();
    let (_, since) = pull_all(&conn, &Cursors::new(), Duration::ZERO).await;

    org.at(t0() + chrono::Duration::minutes(1));
    org.sandbox
        .edit("Lead", &lead, json!({"Company": "Initrode"}))
        .unwrap();
    org.sandbox
        .edit("Contact", &ann, json!({"LastName": "Anne"}))
        .unwrap();
    org.sandbox
        .edit("Account", &account, json!({"Industry": "Banking"}))
        .unwrap();
    let other = org.opportunity(&account, "Other deal");
    org.role(&opp, &ann, true);
    let before = org.composites();
    let (records, _) = pull_all(&conn, &since, Duration::ZERO).await;
    // One call reads the five streams; one more reads the two Opportunities' contacts,
    // together with the one whose roles alone changed.
    assert_eq!(org.composites() - before, 2);
    let ids: BTreeSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let expected: BTreeSet<&str> = [&lead, &ann, &account, &other, &opp]
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(ids, expected);
    let deal = records.iter().find(|r| r.id == opp).unwrap();
    assert_eq!(contacts_of(deal), vec![ann.clone()]);
}

#[tokio::test]
async fn an_opportunitys_contacts_arrive_with_it_on_every_pull_page() {
    let org = Org::start().await;
    org.at(t0());
    let account = org.account();
    let people: Vec<String> = (0..5)
        .map(|i| org.contact(&account, &format!("P{i}")))
        .collect();
    let opportunities: Vec<String> = (0..2300)
        .map(|i| org.opportunity(&account, &format!("Deal {i}")))
        .collect();
    let mut expected: HashMap<&str, Vec<String>> = HashMap::new();
    for (i, opp) in opportunities.iter().enumerate() {
        let members: Vec<&String> = people.iter().skip(i % 3).step_by(2).take(i % 4).collect();
        for (j, contact) in members.iter().enumerate() {
            org.role(opp, contact, j == 0);
        }
        expected.insert(opp.as_str(), sorted(&members));
    }
    let conn = org.connector();
    let (records, _) = pull_all(&conn, &Cursors::new(), Duration::ZERO).await;
    let deals: Vec<&Record> = records
        .iter()
        .filter(|r| r.object == ObjectType::SalesforceOpportunity)
        .collect();
    // An Opportunity whose roles sit on an earlier page of their stream than it does on
    // its own is returned twice, each time with its whole set.
    let unique: BTreeSet<&str> = deals.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(unique.len(), 2300);
    for deal in deals {
        assert_eq!(contacts_of(deal), expected[deal.id.as_str()], "{}", deal.id);
    }
    // Scans and fetches carry them too.
    let page = conn
        .scan(ObjectType::SalesforceOpportunity, None)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 2000);
    assert!(
        page.records
            .iter()
            .all(|r| contacts_of(r) == expected[r.id.as_str()])
    );
    let some: Vec<String> = opportunities.iter().step_by(97).cloned().collect();
    let fetched = conn
        .fetch(ObjectType::SalesforceOpportunity, &some)
        .await
        .unwrap();
    assert_eq!(fetched.records.len(), some.len());
    assert!(
        fetched
            .records
            .iter()
            .all(|r| contacts_of(r) == expected[r.id.as_str()])
    );
}

/// API calls to the query resources (first pages and locator pages).
fn queries(org: &Org) -> u64 {
    let counters = org.sandbox.counters();
    counters.get("GET /services/data/{v}/query")
        + counters.get("GET /services/data/{v}/query/{locator}")
}

#[tokio::test]
async fn a_scan_reads_contact_roles_as_a_stream_beside_its_opportunities_a_call_per_2000_of_each() {
    let org = Org::start().await;
    let account = org.account();
    let people: Vec<String> = (0..5)
        .map(|i| org.contact(&account, &format!("P{i}")))
        .collect();
    let opportunities: Vec<String> = (0..4500)
        .map(|i| org.opportunity(&account, &format!("Deal {i}")))
        .collect();
    let mut expected: HashMap<&str, Vec<String>> = HashMap::new();
    let mut roles = 0;
    for (i, opp) in opportunities.iter().enumerate() {
        // 0 to 4 roles each, so some Opportunities' roles straddle two pages of roles.
        let members: Vec<&String> = people.iter().skip(i % 2).take(i % 5).collect();
        for (j, contact) in members.iter().enumerate() {
            org.role(opp, contact, j == 0);
        }
        roles += members.len() as u64;
        expected.insert(opp.as_str(), sorted(&members));
    }
    let scan_all = |conn: SalesforceConnector, mut token: Option<String>| async move {
        let mut pages = Vec::new();
        loop {
            let page = conn
                .scan(ObjectType::SalesforceOpportunity, token.as_deref())
                .await
                .unwrap();
            token = page.next.clone();
            pages.push(page);
            if token.is_none() {
                return pages;
            }
        }
    };
    let before = queries(&org);
    let pages = scan_all(org.connector(), None).await;
    let read: Vec<&Record> = pages.iter().flat_map(|p| p.records.iter()).collect();
    assert_eq!(read.len(), 4500);
    for deal in &read {
        assert_eq!(contacts_of(deal), expected[deal.id.as_str()], "{}", deal.id);
    }
    // Three pages of Opportunities (the last known to be the last without a call more)
    // and one call per 2,000 roles.
    assert_eq!(pages.len(), 3);
    assert_eq!(
        queries(&org) - before,
        3 + roles.div_ceil(2000),
        "{roles} roles"
    );
    // Another process resumes from a page's token with the sets whole.
    let token = pages[0].next.clone();
    let resumed = scan_all(org.connector(), token).await;
    let again: Vec<&Record> = resumed.iter().flat_map(|p| p.records.iter()).collect();
    assert_eq!(again.len(), 2500);
    for deal in again {
        assert_eq!(contacts_of(deal), expected[deal.id.as_str()], "{}", deal.id);
    }
}

#[tokio::test]
async fn a_role_added_or_deleted_alone_returns_its_untouched_opportunity_on_the_next_poll() {
    let org = Org::start().await;
    org.at(t0());
    let account = org.account();
    let ann = org.contact(&account, "Ann");
    let bob = org.contact(&account, "Bob");
    let opp = org.opportunity(&account, "Deal");
    let quiet = org.opportunity(&account, "Quiet deal");
    let first = org.role(&opp, &ann, true);
    let conn = org.connector();
    let (_, since) = pull_all(&conn, &Cursors::new(), Duration::ZERO).await;
    let stamp = org.sandbox.get("Opportunity", &opp).unwrap()["SystemModstamp"].clone();

    org.at(t0() + chrono::Duration::minutes(5));
    org.role(&opp, &bob, false);
    assert_eq!(
        org.sandbox.get("Opportunity", &opp).unwrap()["SystemModstamp"],
        stamp,
        "the role did not stamp its Opportunity"
    );
    let (records, since) = pull_all(&conn, &since, Duration::ZERO).await;
    assert_eq!(records.len(), 1, "only the Opportunity whose roles changed");
    let deal = &records[0];
    assert_eq!(
        (deal.object, deal.id.as_str()),
        (ObjectType::SalesforceOpportunity, opp.as_str())
    );
    assert_eq!(contacts_of(deal), sorted(&[&ann, &bob]));
    assert_eq!(
        deal.modified_at,
        t0().timestamp_millis(),
        "its own modified date"
    );
    assert_eq!(
        since[ROLES].modified_at,
        (t0() + chrono::Duration::minutes(5)).timestamp_millis()
    );

    org.at(t0() + chrono::Duration::minutes(6));
    org.sandbox.delete(ROLES, &first).unwrap();
    let (records, since) = pull_all(&conn, &since, Duration::ZERO).await;
    assert_eq!(records.len(), 1);
    assert_eq!(contacts_of(&records[0]), vec![bob.clone()]);
    // Nothing moved since: the next poll returns nothing, the quiet deal never came back.
    let (records, _) = pull_all(&conn, &since, Duration::ZERO).await;
    assert!(records.is_empty());
    let _ = quiet;
}

fn update(key: i64, id: &str, fields: Value) -> Write {
    Write {
        key,
        object: ObjectType::SalesforceOpportunity,
        op: WriteOp::Update {
            id: id.into(),
            no_associations: false,
        },
        fields: serde_json::from_value(fields).unwrap(),
    }
}

#[tokio::test]
async fn a_write_of_a_contact_set_creates_and_deletes_the_right_roles_with_one_outcome_per_write() {
    let org = Org::start().await;
    let account = org.account();
    let [ann, bob, cy] = ["Ann", "Bob", "Cy"].map(|n| org.contact(&account, n));
    let lead = org
        .sandbox
        .create("Lead", json!({"LastName": "Lee", "Company": "Initech"}))
        .unwrap();
    let a = org.opportunity(&account, "A");
    let b = org.opportunity(&account, "B");
    let c = org.opportunity(&account, "C");
    let d = org.opportunity(&account, "D");
    org.role(&a, &ann, true);
    org.role(&a, &bob, false);
    org.role(&c, &ann, true);
    let conn = org.connector();
    conn.scan(ObjectType::SalesforceLead, None).await.unwrap(); // logged in
    let before = org.composites();
    let outcomes = conn
        .apply(vec![
            // Ann (the primary) leaves, Cy joins and becomes primary; Bob stays.
            update(1, &a, json!({ROLES: [bob, cy]})),
            // A stage and two contacts on an Opportunity without any.
            update(
                2,
                &b,
                json!({"StageName": "Qualification", ROLES: [cy, ann]}),
            ),
            // A Lead is no Contact: Salesforce refuses that role, and only this write fails.
            update(3, &c, json!({ROLES: [ann, lead]})),
            // A new Opportunity and its contact, made once it exists.
            Write {
                key: 4,
                object: ObjectType::SalesforceOpportunity,
                op: WriteOp::Create { upsert_on: None },
                fields: serde_json::from_value(json!({"Name": "New", "StageName": "Prospecting",
                    "CloseDate": "2027-01-31", "AccountId": account, ROLES: [bob]}))
                .unwrap(),
            },
            // Everyone leaves D, which had no one: nothing to do but the name.
            update(5, &d, json!({"Name": "D2", ROLES: []})),
            // A new Opportunity whose one role is refused: it exists all the same.
            Write {
                key: 6,
                object: ObjectType::SalesforceOpportunity,
                op: WriteOp::Create { upsert_on: None },
                fields: serde_json::from_value(json!({"Name": "Half", "StageName": "Prospecting",
                    "CloseDate": "2027-01-31", "AccountId": account, ROLES: [lead]}))
                .unwrap(),
            },
        ])
        .await
        .unwrap();
    // Record writes, the current roles, the role creates and deletes: three calls.
    assert_eq!(org.composites() - before, 3);
    assert_eq!(
        outcomes.iter().map(|o| o.key).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    let by_key: HashMap<i64, _> = outcomes.iter().map(|o| (o.key, &o.result)).collect();
    assert_eq!(by_key[&1].as_ref().unwrap().id, a);
    assert_eq!(
        org.roles_of(&a),
        sorted_roles(&[(&bob, false), (&cy, true)])
    );
    assert!(by_key[&2].is_ok());
    assert_eq!(
        org.sandbox.get("Opportunity", &b).unwrap()["StageName"],
        json!("Qualification")
    );
    assert_eq!(
        org.roles_of(&b),
        sorted_roles(&[(&cy, true), (&ann, false)])
    );
    let refused = by_key[&3].as_ref().err().unwrap();
    assert_eq!(refused.class(), ErrorClass::Permanent);
    assert_eq!(
        refused.api().code.as_deref(),
        Some("INVALID_CROSS_REFERENCE_KEY")
    );
    assert_eq!(refused.api().fields, vec!["ContactId"]);
    assert!(
        refused.action().contains(&lead) && refused.action().contains(&c),
        "{refused}"
    );
    assert!(
        refused.api().message.contains("id value of incorrect type"),
        "{refused}"
    );
    assert_eq!(
        org.roles_of(&c),
        vec![(ann.clone(), true)],
        "Ann's role stays"
    );
    let created = by_key[&4].as_ref().unwrap();
    assert!(created.created && created.id.starts_with("006"));
    assert_eq!(org.roles_of(&created.id), vec![(bob.clone(), true)]);
    assert!(by_key[&5].is_ok());
    assert!(org.roles_of(&d).is_empty());
    // The create is accepted with its id, so it is never sent again; the role's refusal
    // comes beside it. Only a create is answered so: update 3 failed whole.
    let half = &outcomes[5];
    let created = half.result.as_ref().unwrap();
    assert!(created.created && created.id.starts_with("006"));
    assert_eq!(org.sandbox.count("Opportunity"), 6);
    let part = half.refused.as_ref().unwrap();
    assert_eq!(part.field, ROLES);
    assert_eq!(
        part.error.api().code.as_deref(),
        Some("INVALID_CROSS_REFERENCE_KEY")
    );
    assert!(outcomes[..5].iter().all(|o| o.refused.is_none()));

    // Written again, the same sets cost the role read and nothing else.
    let before = org.composites();
    let again = conn
        .apply(vec![
            update(6, &a, json!({ROLES: [cy, bob]})),
            update(7, &b, json!({ROLES: [ann, cy]})),
        ])
        .await
        .unwrap();
    assert!(again.iter().all(|o| o.result.is_ok()));
    assert_eq!(
        org.composites() - before,
        1,
        "an update of the set alone sends no record update"
    );
    // And a pull reads back what was written.
    let fetched = conn
        .fetch(ObjectType::SalesforceOpportunity, &[a.clone(), b.clone()])
        .await
        .unwrap();
    for r in fetched.records {
        let want = if r.id == a {
            sorted(&[&bob, &cy])
        } else {
            sorted(&[&ann, &cy])
        };
        assert_eq!(contacts_of(&r), want);
    }
}

fn sorted_roles(roles: &[(&String, bool)]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = roles.iter().map(|(c, p)| (c.to_string(), *p)).collect();
    out.sort();
    out
}

#[tokio::test]
async fn accounts_and_opportunities_upsert_on_their_external_ids_update_and_delete() {
    let org = Org::start().await;
    let conn = org.connector();
    let upsert = |key: i64, object: ObjectType, field: &str, value: &str, fields: Value| Write {
        key,
        object,
        op: WriteOp::Create {
            upsert_on: Some(UpsertKey::Field {
                field: field.into(),
                value: value.into(),
            }),
        },
        fields: serde_json::from_value(fields).unwrap(),
    };
    let out = conn
        .apply(vec![upsert(
            1,
            ObjectType::SalesforceAccount,
            "HubSpot_Company_Id__c",
            "hs-company-1",
            json!({"Name": "Globex", "Website": "globex.example.com"}),
        )])
        .await
        .unwrap();
    let account = out[0].result.as_ref().unwrap().clone();
    assert!(account.created && account.id.starts_with("001"));
    let deal = |key, name: &str| {
        upsert(
            key,
            ObjectType::SalesforceOpportunity,
            "HubSpot_Deal_Id__c",
            "hs-deal-1",
            json!({"Name": name, "StageName": "Closed Won", "CloseDate": "2026-12-31",
                   "AccountId": account.id, "Amount": 25000}),
        )
    };
    let first = conn
        .apply(vec![deal(2, "Globex - Platform")])
        .await
        .unwrap();
    let opp = first[0].result.as_ref().unwrap().clone();
    assert!(opp.created && opp.id.starts_with("006"));
    // A repeat after a lost answer updates the same records.
    let out = conn
        .apply(vec![
            deal(3, "Globex - Platform v2"),
            upsert(
                4,
                ObjectType::SalesforceAccount,
                "HubSpot_Company_Id__c",
                "hs-company-1",
                json!({"Name": "Globex Corp"}),
            ),
        ])
        .await
        .unwrap();
    let results: Vec<_> = out
        .iter()
        .map(|o| o.result.as_ref().unwrap().clone())
        .collect();
    assert_eq!(
        (results[0].id.as_str(), results[0].created),
        (opp.id.as_str(), false)
    );
    assert_eq!(
        (results[1].id.as_str(), results[1].created),
        (account.id.as_str(), false)
    );
    assert_eq!(
        org.sandbox
            .find_by_field("Opportunity", "HubSpot_Deal_Id__c", "hs-deal-1"),
        vec![opp.id.clone()]
    );

    let fetched = conn
        .fetch(
            ObjectType::SalesforceOpportunity,
            std::slice::from_ref(&opp.id),
        )
        .await
        .unwrap();
    let record = &fetched.records[0];
    assert_eq!(record.name.as_deref(), Some("Globex - Platform v2"));
    let outcome = record.outcome.clone().unwrap();
    assert!(outcome.closed && outcome.won);
    assert_eq!(outcome.amount.as_deref(), Some("25000"));
    let fetched = conn
        .fetch(
            ObjectType::SalesforceAccount,
            std::slice::from_ref(&account.id),
        )
        .await
        .unwrap();
    assert_eq!(
        fetched.records[0].domain.as_deref(),
        Some("globex.example.com")
    );

    let out = conn
        .apply(vec![
            Write {
                key: 5,
                object: ObjectType::SalesforceOpportunity,
                op: WriteOp::Update {
                    id: opp.id.clone(),
                    no_associations: false,
                },
                fields: serde_json::from_value(json!({"StageName": "Won-ish"})).unwrap(),
            },
            Write {
                key: 6,
                object: ObjectType::SalesforceAccount,
                op: WriteOp::Update {
                    id: account.id.clone(),
                    no_associations: false,
                },
                fields: serde_json::from_value(json!({"Industry": "Banking"})).unwrap(),
            },
        ])
        .await
        .unwrap();
    let refused = out[0].result.as_ref().err().unwrap();
    assert_eq!(refused.class(), ErrorClass::Permanent);
    assert_eq!(
        refused.api().code.as_deref(),
        Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    );
    assert!(out[1].result.is_ok());
    // Deleting the Account takes its Opportunity to the recycle bin: both pulled deleted.
    let (_, since) = pull_all(&conn, &Cursors::new(), Duration::ZERO).await;
    org.at(Utc::now() + chrono::Duration::minutes(1));
    let out = conn
        .apply(vec![Write {
            key: 7,
            object: ObjectType::SalesforceAccount,
            op: WriteOp::Delete {
                id: account.id.clone(),
            },
            fields: BTreeMap::new(),
        }])
        .await
        .unwrap();
    assert!(out[0].result.is_ok());
    let (records, _) = pull_all(&conn, &since, Duration::ZERO).await;
    let deleted: BTreeSet<&str> = records
        .iter()
        .filter(|r| r.deleted)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        deleted,
        BTreeSet::from([account.id.as_str(), opp.id.as_str()])
    );
}

#[tokio::test]
async fn a_lead_converted_with_an_opportunity_is_read_back_with_it_and_its_contact() {
    let org = Org::start().await;
    org.at(t0());
    let lead = org
        .sandbox
        .create(
            "Lead",
            json!({"LastName": "Lee", "Company": "Initech", "Email": "lee@initech.example"}),
        )
        .unwrap();
    let conn = org.connector();
    let (_, since) = pull_all(&conn, &Cursors::new(), Duration::ZERO).await;
    org.at(t0() + chrono::Duration::minutes(1));
    let converted = org
        .sandbox
        .convert_lead_with(&lead, &LeadConvert::default())
        .unwrap();
    let opportunity = converted.opportunity_id.clone().unwrap();
    let (records, _) = pull_all(&conn, &since, Duration::ZERO).await;
    let by_id: HashMap<&str, &Record> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    let conversion = by_id[lead.as_str()].converted.clone().unwrap();
    assert_eq!(
        conversion.opportunity_id.as_deref(),
        Some(opportunity.as_str())
    );
    assert_eq!(
        conversion.contact_id.as_deref(),
        Some(converted.contact_id.as_str())
    );
    assert_eq!(
        conversion.account_id.as_deref(),
        Some(converted.account_id.as_str())
    );
    let deal = by_id[opportunity.as_str()];
    assert_eq!(deal.name.as_deref(), Some("Initech"));
    assert_eq!(contacts_of(deal), vec![converted.contact_id.clone()]);
    assert_eq!(
        by_id[converted.account_id.as_str()].name.as_deref(),
        Some("Initech")
    );
    assert_eq!(
        by_id[converted.contact_id.as_str()].fields["AccountId"],
        json!(converted.account_id)
    );
}

#[tokio::test]
async fn objects_the_engine_did_not_configure_are_refused_by_name() {
    let org = Org::start().await;
    let mut config = org.config.clone();
    config
        .objects
        .retain(|o, _| *o == ObjectType::SalesforceLead);
    let conn = SalesforceConnector::new(
        config.clone(),
        HttpClient::new(&HttpOptions::default()).unwrap(),
    )
    .unwrap();
    for object in [
        ObjectType::SalesforceAccount,
        ObjectType::SalesforceOpportunity,
    ] {
        let err = conn.scan(object, None).await.err().unwrap();
        assert_eq!(err.class(), ErrorClass::Fatal);
        assert!(
            err.api()
                .message
                .contains(&format!("not configured to read {object}")),
            "{err}"
        );
    }
    // The contact roles are an Opportunity's field, never an object of their own.
    config
        .objects
        .insert(ObjectType::SalesforceContactRole, Vec::new());
    let err = SalesforceConnector::new(
        config.clone(),
        HttpClient::new(&HttpOptions::default()).unwrap(),
    )
    .err()
    .unwrap();
    assert!(
        err.api()
            .message
            .contains("map it as a field of Opportunity"),
        "{err}"
    );
    config.objects = BTreeMap::from([(ObjectType::SalesforceAccount, vec![ROLES.to_string()])]);
    let err = SalesforceConnector::new(config, HttpClient::new(&HttpOptions::default()).unwrap())
        .err()
        .unwrap();
    assert!(
        err.api().message.contains("is a field of Opportunity"),
        "{err}"
    );
}

#[tokio::test]
async fn describe_reads_accounts_and_opportunities_and_lists_the_contact_set() {
    let org = Org::start().await;
    let conn = org.connector();
    let account = conn.describe(ObjectType::SalesforceAccount).await.unwrap();
    let get = |fields: &[truce_connectors::FieldInfo], n: &str| {
        fields.iter().find(|f| f.name == n).cloned()
    };
    assert!(get(&account, "Name").unwrap().required);
    assert!(get(&account, "HubSpot_Company_Id__c").unwrap().upsert_key);
    let opportunity = conn
        .describe(ObjectType::SalesforceOpportunity)
        .await
        .unwrap();
    assert!(get(&opportunity, "HubSpot_Deal_Id__c").unwrap().upsert_key);
    assert!(get(&opportunity, "IsWon").unwrap().read_only);
    assert!(
        get(&opportunity, "StageName")
            .unwrap()
            .options
            .contains(&"Closed Won".to_string())
    );
    let roles = get(&opportunity, ROLES).unwrap();
    assert_eq!(roles.kind, truce_connectors::FieldKind::Reference);
    assert!(!roles.read_only && !roles.required);
}
