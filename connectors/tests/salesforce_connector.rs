//! The Salesforce connector against its sandbox, over real HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::ConfigFor;
use serde_json::{Value, json};
use truce_connectors::contract::{Cursors, UpsertKey};
use truce_connectors::http::{HttpClient, HttpOptions, RetryPolicy};
use truce_connectors::salesforce::{SalesforceConfig, SalesforceConnector};
use truce_connectors::{Connector, ErrorClass, ObjectType, Write, WriteOp};
use truce_sandbox::salesforce::{SalesforceFaults, SalesforceSandbox, SandboxOptions};
use truce_sandbox::{Faults, Served};

const COMPOSITE: &str = "POST /services/data/{v}/composite";
const TOKEN: &str = "POST /services/oauth2/token";

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        initial_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(30),
    }
}

async fn start(opts: SandboxOptions) -> (SalesforceSandbox, Served, SalesforceConfig) {
    let sandbox = SalesforceSandbox::new(opts);
    let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut config = sandbox.config_for(&served.url());
    config.retry = quick_retry();
    config.objects = BTreeMap::from([
        (
            ObjectType::SalesforceLead,
            ["FirstName", "LastName", "Company", "City", "Status"]
                .map(String::from)
                .to_vec(),
        ),
        (
            ObjectType::SalesforceContact,
            ["FirstName", "LastName", "MailingCity"]
                .map(String::from)
                .to_vec(),
        ),
    ]);
    (sandbox, served, config)
}

fn connector(config: &SalesforceConfig) -> SalesforceConnector {
    SalesforceConnector::new(
        config.clone(),
        HttpClient::new(&HttpOptions::default()).unwrap(),
    )
    .unwrap()
}

/// Pulls until done, returning every record and the final position.
async fn pull_all(
    conn: &SalesforceConnector,
    since: &Cursors,
) -> (Vec<truce_connectors::Record>, Cursors) {
    let mut since = since.clone();
    let mut position: Option<Cursors> = None;
    let mut records = Vec::new();
    loop {
        let page = conn
            .pull(&since, position.as_ref(), Duration::from_secs(60))
            .await
            .unwrap();
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

fn lead_write(key: i64, last: &str, email: &str) -> Write {
    Write {
        key,
        object: ObjectType::SalesforceLead,
        op: WriteOp::Create { upsert_on: None },
        fields: BTreeMap::from([
            ("LastName".to_string(), json!(last)),
            ("Company".to_string(), json!("Acme")),
            ("Email".to_string(), json!(email)),
        ]),
    }
}

#[tokio::test]
async fn a_burst_of_5000_leads_sharing_modstamps_is_pulled_each_exactly_once() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    sandbox.pin_clock(Some(t0));
    let ids = sandbox.seed_leads(5000, 7);
    // The burst: every lead edited, in three one-second groups, so thousands share a stamp.
    for (i, id) in ids.iter().enumerate() {
        sandbox.pin_clock(Some(t0 + chrono::Duration::seconds(10 + (i / 2100) as i64)));
        sandbox
            .edit("Lead", id, json!({"Status": "Working - Contacted"}))
            .unwrap();
    }
    let conn = connector(&config);
    let since = Cursors::from([(
        "Lead".to_string(),
        truce_connectors::Cursor {
            modified_at: (t0 + chrono::Duration::seconds(5)).timestamp_millis(),
            id: String::new(),
        },
    )]);
    let calls_before = sandbox.counters().get(COMPOSITE);
    let (records, _) = pull_all(&conn, &since).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in &records {
        *seen.entry(r.id.clone()).or_default() += 1;
    }
    assert_eq!(seen.len(), 5000);
    assert!(seen.values().all(|n| *n == 1), "a record was pulled twice");
    assert!(
        records
            .iter()
            .all(|r| r.fields.get("Status") == Some(&json!("Working - Contacted")))
    );
    // Three pages of at most 2,000, each one composite call.
    assert_eq!(sandbox.counters().get(COMPOSITE) - calls_before, 3);

    // A restart after the first page continues by keyset from the position alone.
    let fresh = connector(&config);
    let first = fresh
        .pull(&since, None, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(first.records.len(), 2000);
    let other = connector(&config);
    let mut position = first.position.clone();
    let mut rest = Vec::new();
    loop {
        let page = other
            .pull(&since, Some(&position), Duration::from_secs(60))
            .await
            .unwrap();
        rest.extend(page.records);
        position = page.position;
        if page.done {
            break;
        }
    }
    let mut all: Vec<String> = first
        .records
        .iter()
        .chain(&rest)
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(all.len(), 5000);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5000);
}

#[tokio::test]
async fn an_idle_poll_costs_exactly_one_api_call() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    sandbox.seed_leads(30, 1);
    sandbox.seed_contacts(20, 2);
    let conn = connector(&config);
    let (records, since) = pull_all(&conn, &Cursors::new()).await;
    assert_eq!(records.len(), 50);
    let (used_before, _) = sandbox.api_usage();
    let page = conn.pull(&since, None, Duration::ZERO).await.unwrap();
    assert!(page.done);
    assert!(page.records.is_empty());
    assert_eq!(sandbox.api_usage().0 - used_before, 1);
    assert_eq!(conn.quota().map(|q| q.used), Some(sandbox.api_usage().0));
}

#[tokio::test]
async fn conversions_deletions_and_merges_arrive_with_the_pull() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    sandbox.pin_clock(Some(t0));
    let leads = sandbox.seed_leads(4, 3);
    let contacts = sandbox.seed_contacts(2, 4);
    let conn = connector(&config);
    let (_, since) = pull_all(&conn, &Cursors::new()).await;
    sandbox.pin_clock(Some(t0 + chrono::Duration::minutes(5)));
    let (contact_id, account_id) = sandbox.convert_lead(&leads[0]).unwrap();
    sandbox.delete("Lead", &leads[1]).unwrap();
    sandbox
        .merge("Contact", &contacts[0], &contacts[1])
        .unwrap();
    let (records, _) = pull_all(&conn, &since).await;
    let by_id: HashMap<&str, &truce_connectors::Record> =
        records.iter().map(|r| (r.id.as_str(), r)).collect();
    let converted = by_id[leads[0].as_str()].converted.clone().unwrap();
    assert_eq!(converted.contact_id.as_deref(), Some(contact_id.as_str()));
    assert_eq!(converted.account_id.as_deref(), Some(account_id.as_str()));
    assert!(
        contact_id.starts_with("003")
            && account_id.starts_with("001")
            && leads[0].starts_with("00Q")
    );
    assert!(
        by_id.contains_key(contact_id.as_str()),
        "the new contact is pulled too"
    );
    assert!(by_id[leads[1].as_str()].deleted);
    let loser = by_id[contacts[1].as_str()];
    assert!(loser.deleted);
    assert_eq!(loser.merged_into.as_deref(), Some(contacts[0].as_str()));
}

#[tokio::test]
async fn a_thousand_writes_with_ten_invalid_yield_990_successes_and_10_permanent_failures_naming_the_field()
 {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    let conn = connector(&config);
    let writes: Vec<Write> = (0..1000)
        .map(|i| match i % 200 {
            13 => lead_write(i, "Bad", &format!("not an email {i}")),
            157 => {
                let mut w = lead_write(i, "", &format!("p{i}@example.com"));
                w.fields.remove("LastName");
                w
            }
            _ => lead_write(i, &format!("Person{i}"), &format!("p{i}@example.com")),
        })
        .collect();
    let used = sandbox.api_usage().0;
    let outcomes = conn.apply(writes).await.unwrap();
    assert_eq!(
        sandbox.api_usage().0 - used,
        1,
        "1,000 records cost one call"
    );
    assert_eq!(outcomes.len(), 1000);
    assert_eq!(outcomes.iter().filter(|o| o.result.is_ok()).count(), 990);
    for o in outcomes.iter().filter(|o| o.result.is_err()) {
        let err = o.result.as_ref().err().unwrap();
        assert_eq!(err.class(), ErrorClass::Permanent);
        let api = err.api();
        if o.key % 200 == 13 {
            assert_eq!(api.code.as_deref(), Some("INVALID_EMAIL_ADDRESS"));
            assert_eq!(api.fields, vec!["Email"]);
            assert!(
                api.message
                    .starts_with("Email: invalid email address: not an email"),
                "{}",
                api.message
            );
        } else {
            assert_eq!(api.code.as_deref(), Some("REQUIRED_FIELD_MISSING"));
            assert_eq!(api.fields, vec!["LastName"]);
        }
    }
    assert_eq!(sandbox.count("Lead"), 990);
}

#[tokio::test]
async fn updates_upserts_and_deletes_go_through_collections_and_converted_leads_refuse() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    let conn = connector(&config);
    let ids = sandbox.seed_leads(3, 5);
    sandbox.convert_lead(&ids[2]).unwrap();
    let upsert = |key: i64, ext: &str, last: &str| Write {
        key,
        object: ObjectType::SalesforceLead,
        op: WriteOp::Create {
            upsert_on: Some(UpsertKey::Field {
                field: "HubSpot_Contact_Id__c".into(),
                value: ext.into(),
            }),
        },
        fields: BTreeMap::from([
            ("LastName".into(), json!(last)),
            ("Company".into(), json!("Initech")),
        ]),
    };
    let out = conn
        .apply(vec![
            upsert(1, "hs-1", "First"),
            Write {
                key: 2,
                object: ObjectType::SalesforceLead,
                op: WriteOp::Update {
                    id: ids[0].clone(),
                    no_associations: false,
                },
                fields: BTreeMap::from([("City".into(), json!("Lisbon"))]),
            },
            Write {
                key: 3,
                object: ObjectType::SalesforceLead,
                op: WriteOp::Delete { id: ids[1].clone() },
                fields: BTreeMap::new(),
            },
            Write {
                key: 4,
                object: ObjectType::SalesforceLead,
                op: WriteOp::Update {
                    id: ids[2].clone(),
                    no_associations: false,
                },
                fields: BTreeMap::from([("City".into(), json!("Porto"))]),
            },
        ])
        .await
        .unwrap();
    let by_key: HashMap<i64, _> = out.iter().map(|o| (o.key, &o.result)).collect();
    let created = by_key[&1].as_ref().unwrap();
    assert!(created.created && created.id.starts_with("00Q"));
    assert!(by_key[&2].is_ok() && by_key[&3].is_ok());
    let refused = by_key[&4].as_ref().err().unwrap();
    // The lead moved on: the write is moot, the next pull shows the Contact.
    assert_eq!(refused.class(), ErrorClass::Superseded);
    assert_eq!(
        refused.api().code.as_deref(),
        Some("CANNOT_UPDATE_CONVERTED_LEAD")
    );
    assert_eq!(
        sandbox.get("Lead", &ids[0]).unwrap()["City"],
        json!("Lisbon")
    );
    assert_eq!(
        sandbox.get("Lead", &ids[1]).unwrap()["IsDeleted"],
        json!(true)
    );
    // The same upsert again updates the record it created.
    let again = conn.apply(vec![upsert(5, "hs-1", "Second")]).await.unwrap();
    let written = again[0].result.as_ref().unwrap();
    assert_eq!(
        (written.id.as_str(), written.created),
        (created.id.as_str(), false)
    );
    assert_eq!(
        sandbox.get("Lead", &created.id).unwrap()["LastName"],
        json!("Second")
    );
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_renewed_without_losing_a_page() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    sandbox.seed_leads(4500, 9);
    let conn = connector(&config);
    let since = Cursors::new();
    let first = conn.pull(&since, None, Duration::ZERO).await.unwrap();
    assert_eq!(first.records.len(), 2000);
    assert_eq!(sandbox.counters().get(TOKEN), 1);
    sandbox.expire_tokens();
    let mut ids: Vec<String> = first.records.iter().map(|r| r.id.clone()).collect();
    let mut position = first.position;
    loop {
        let page = conn
            .pull(&since, Some(&position), Duration::ZERO)
            .await
            .unwrap();
        ids.extend(page.records.iter().map(|r| r.id.clone()));
        position = page.position;
        if page.done {
            break;
        }
    }
    assert_eq!(sandbox.counters().get(TOKEN), 2, "renewed exactly once");
    assert_eq!(ids.len(), 4500);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4500);
}

#[tokio::test]
async fn tokens_with_a_lifetime_expire_and_are_renewed_on_invalid_session_id() {
    let (sandbox, _served, config) = start(SandboxOptions {
        token_lifetime: Some(Duration::from_millis(50)),
        ..SandboxOptions::default()
    })
    .await;
    sandbox.seed_leads(5, 1);
    let conn = connector(&config);
    assert_eq!(
        conn.scan(ObjectType::SalesforceLead, None)
            .await
            .unwrap()
            .records
            .len(),
        5
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        conn.scan(ObjectType::SalesforceLead, None)
            .await
            .unwrap()
            .records
            .len(),
        5
    );
    assert_eq!(sandbox.counters().get(TOKEN), 2);
    assert_eq!(sandbox.counters().status(401), 1);
}

#[tokio::test]
async fn at_daily_share_the_connector_pauses_with_a_clear_message_and_resumes_after_usage_drops() {
    let (sandbox, _served, mut config) = start(SandboxOptions {
        daily_limit: 1000,
        ..SandboxOptions::default()
    })
    .await;
    config.daily_share = 0.5;
    config.pause_recheck = Duration::from_millis(10);
    sandbox.seed_leads(3, 1);
    let conn = connector(&config);
    sandbox.set_api_usage(600);
    // This call is answered, and its Sforce-Limit-Info closes the gate.
    conn.pull(&Cursors::new(), None, Duration::ZERO)
        .await
        .unwrap();
    let message = conn.paused().expect("paused at daily_share");
    assert!(
        message.contains("601/1000")
            && message.contains("daily_share 0.5")
            && message.contains("pausing"),
        "{message}"
    );
    let counters = sandbox.counters();
    let composites = counters.get(COMPOSITE);
    let task = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.pull(&Cursors::new(), None, Duration::ZERO).await })
    };
    // While paused it only looks at /limits, which costs nothing.
    while counters.get("GET /services/data/{v}/limits") < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!task.is_finished());
    assert_eq!(counters.get(COMPOSITE), composites);
    assert_eq!(sandbox.api_usage().0, 601);
    sandbox.set_api_usage(100);
    let page = task.await.unwrap().unwrap();
    assert_eq!(page.records.len(), 3);
    assert!(conn.paused().is_none());

    // REQUEST_LIMIT_EXCEEDED closes the gate the same way.
    sandbox.set_api_usage(1000);
    let task = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.scan(ObjectType::SalesforceLead, None).await })
    };
    while conn.paused().is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let message = conn.paused().unwrap();
    assert!(
        message.contains("1000/1000") || message.contains("REQUEST_LIMIT_EXCEEDED"),
        "{message}"
    );
    sandbox.set_api_usage(0);
    assert_eq!(task.await.unwrap().unwrap().records.len(), 3);
}

#[tokio::test]
async fn lookups_by_id_and_email_are_batched_into_in_clauses() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    let leads = sandbox.seed_leads(600, 11);
    let contacts = sandbox.seed_contacts(400, 12);
    let conn = connector(&config);
    let used = sandbox.api_usage().0;
    let fetched = conn
        .fetch(ObjectType::SalesforceLead, &leads)
        .await
        .unwrap();
    assert_eq!(fetched.records.len(), 600);
    // 600 ids need four IN lists under the WHERE limit: one composite call.
    assert_eq!(sandbox.api_usage().0 - used, 1);
    let mut emails: Vec<String> = Vec::new();
    for id in leads.iter().take(300) {
        emails.push(
            sandbox.get("Lead", id).unwrap()["Email"]
                .as_str()
                .unwrap()
                .to_uppercase(),
        );
    }
    for id in &contacts[..100] {
        emails.push(
            sandbox.get("Contact", id).unwrap()["Email"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    emails.push("nobody@example.com".into());
    let found = conn.find_by_email(&emails).await.unwrap();
    assert_eq!(
        found
            .records
            .iter()
            .filter(|r| r.object == ObjectType::SalesforceLead)
            .count(),
        300
    );
    assert_eq!(
        found
            .records
            .iter()
            .filter(|r| r.object == ObjectType::SalesforceContact)
            .count(),
        100
    );
    let missing = conn
        .fetch(
            ObjectType::SalesforceLead,
            &["00Q5g0000ZZZZZZZZZ".into(), "bogus'id".into()],
        )
        .await
        .unwrap();
    assert!(missing.records.is_empty());
}

#[tokio::test]
async fn a_full_scan_resumes_from_its_token() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    sandbox.seed_leads(4100, 13);
    let conn = connector(&config);
    let first = conn.scan(ObjectType::SalesforceLead, None).await.unwrap();
    assert_eq!(first.records.len(), 2000);
    let token = first.next.clone().unwrap();
    // A new process resumes from the stored token.
    let again = connector(&config);
    let second = again
        .scan(ObjectType::SalesforceLead, Some(&token))
        .await
        .unwrap();
    let third = again
        .scan(ObjectType::SalesforceLead, second.next.as_deref())
        .await
        .unwrap();
    assert_eq!(third.next, None);
    let mut ids: Vec<String> = [first, second, third]
        .iter()
        .flat_map(|p| p.records.iter().map(|r| r.id.clone()))
        .collect();
    assert_eq!(ids.len(), 4100);
    ids.dedup();
    assert_eq!(ids.len(), 4100);
}

#[tokio::test]
async fn a_scan_whose_rows_fill_its_last_page_exactly_ends_there_without_a_call_more() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    sandbox.seed_leads(4000, 17);
    let conn = connector(&config);
    let queries = || {
        let counters = sandbox.counters();
        counters.get("GET /services/data/{v}/query")
            + counters.get("GET /services/data/{v}/query/{locator}")
    };
    let first = conn.scan(ObjectType::SalesforceLead, None).await.unwrap();
    let last = conn
        .scan(ObjectType::SalesforceLead, first.next.as_deref())
        .await
        .unwrap();
    assert_eq!((first.records.len(), last.records.len()), (2000, 2000));
    assert_eq!(
        last.next, None,
        "Salesforce said the second page was the last"
    );
    assert_eq!(queries(), 2);
}

#[tokio::test]
async fn describe_reports_required_fields_lengths_picklists_and_the_external_id() {
    let (_sandbox, _served, config) = start(SandboxOptions::default()).await;
    let conn = connector(&config);
    let fields = conn.describe(ObjectType::SalesforceLead).await.unwrap();
    let get = |n: &str| fields.iter().find(|f| f.name == n).unwrap().clone();
    assert!(get("LastName").required && get("Company").required && !get("Email").required);
    assert_eq!(get("LastName").max_length, Some(80));
    assert_eq!(get("Status").options.len(), 4);
    assert!(get("HubSpot_Contact_Id__c").unique);
    assert!(get("IsConverted").read_only);
    // A Lead created without a Status gets the picklist's default: Salesforce fills it.
    assert!(get("Status").filled_on_create && !get("LastName").filled_on_create);
    let filled = conn
        .filled_on_create(ObjectType::SalesforceLead)
        .await
        .unwrap();
    assert!(filled.iter().any(|f| f == "Status"), "{filled:?}");
    assert!(!filled.iter().any(|f| f == "Email"), "{filled:?}");
    let contact = conn.describe(ObjectType::SalesforceContact).await.unwrap();
    assert!(contact.iter().any(|f| f.name == "LastName" && f.required));
    assert!(!contact.iter().any(|f| f.name == "Company"));
}

#[tokio::test]
async fn writes_survive_server_errors_and_row_locks() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    let conn = connector(&config);
    sandbox.set_faults(SalesforceFaults {
        faults: Faults {
            server_error: 0.3,
            ..Faults::default()
        },
        lock_row: 0.05,
    });
    let writes: Vec<Write> = (0..400)
        .map(|i| lead_write(i, &format!("L{i}"), &format!("l{i}@example.com")))
        .collect();
    let out = conn.apply(writes).await.unwrap();
    assert_eq!(out.iter().filter(|o| o.result.is_ok()).count(), 400);
    assert_eq!(sandbox.count("Lead"), 400);
    assert!(sandbox.counters().status(503) > 0 || sandbox.counters().status(200) > 0);
}

#[tokio::test]
async fn pulls_survive_dropped_connections_and_garbled_bodies() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    sandbox.seed_leads(50, 2);
    sandbox.set_faults(SalesforceFaults {
        faults: Faults {
            drop_connection: 0.25,
            malformed_body: 0.25,
            truncated_body: 0.1,
            ..Faults::default()
        },
        lock_row: 0.0,
    });
    let conn = connector(&config);
    for _ in 0..5 {
        let (records, _) = pull_all(&conn, &Cursors::new()).await;
        assert_eq!(records.len(), 50);
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        assert_eq!(
            conn.fetch(ObjectType::SalesforceLead, &ids)
                .await
                .unwrap()
                .records
                .len(),
            50
        );
    }
    assert!(sandbox.counters().total() > 10);
}

#[tokio::test]
async fn bad_credentials_are_fatal_and_never_echo_the_secret() {
    let (_sandbox, _served, mut config) = start(SandboxOptions::default()).await;
    config.client_secret = truce_connectors::Secret::new("wrong-secret-value");
    let conn = connector(&config);
    let err = conn
        .scan(ObjectType::SalesforceLead, None)
        .await
        .err()
        .unwrap();
    assert_eq!(err.class(), ErrorClass::Fatal);
    let text = format!("{err} {err:?} {conn:?} {config:?}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains("wrong-secret-value"));
    assert!(!text.contains("truce-sandbox-secret"));
}

#[tokio::test]
async fn the_refresh_token_grant_logs_in_and_a_wrong_one_is_refused() {
    let (sandbox, _served, mut config) = start(SandboxOptions::default()).await;
    sandbox.seed_leads(2, 1);
    config.grant = truce_connectors::salesforce::Grant::RefreshToken(
        truce_connectors::Secret::new("truce-sandbox-refresh"),
    );
    assert_eq!(
        connector(&config)
            .scan(ObjectType::SalesforceLead, None)
            .await
            .unwrap()
            .records
            .len(),
        2
    );
    config.grant =
        truce_connectors::salesforce::Grant::RefreshToken(truce_connectors::Secret::new("stale"));
    let err = connector(&config)
        .scan(ObjectType::SalesforceLead, None)
        .await
        .err()
        .unwrap();
    assert_eq!(err.api().code.as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn a_configured_field_that_is_not_a_field_name_is_refused_before_any_query() {
    let (_sandbox, _served, mut config) = start(SandboxOptions::default()).await;
    config
        .objects
        .entry(ObjectType::SalesforceLead)
        .or_default()
        .push("Email FROM Lead WHERE Id != null --".into());
    let err = SalesforceConnector::new(config, HttpClient::new(&HttpOptions::default()).unwrap())
        .err()
        .unwrap();
    assert_eq!(err.class(), ErrorClass::Fatal);
    let _ = Value::Null;
}

#[tokio::test]
async fn an_expired_query_locator_falls_back_to_the_keyset_without_a_gap() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    sandbox.seed_leads(4200, 17);
    let conn = connector(&config);
    let first = conn
        .pull(&Cursors::new(), None, Duration::ZERO)
        .await
        .unwrap();
    sandbox.expire_query_locators();
    let mut ids: Vec<String> = first.records.iter().map(|r| r.id.clone()).collect();
    let mut position = first.position;
    loop {
        let page = conn
            .pull(&Cursors::new(), Some(&position), Duration::ZERO)
            .await
            .unwrap();
        ids.extend(page.records.iter().map(|r| r.id.clone()));
        position = page.position;
        if page.done {
            break;
        }
    }
    assert_eq!(ids.len(), 4200);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4200);
}

#[tokio::test]
async fn the_sandbox_banner_names_the_login_url_and_credentials() {
    let (sandbox, served, _config) = start(SandboxOptions::default()).await;
    let banner = sandbox.banner(&served.url());
    assert!(
        banner.contains(&served.url())
            && banner.contains("truce-sandbox-client")
            && banner.contains("truce-sandbox-secret")
    );
}

#[tokio::test]
async fn describe_still_answers_while_pulls_and_writes_are_paused() {
    let (sandbox, _served, mut config) = start(SandboxOptions {
        daily_limit: 100,
        ..SandboxOptions::default()
    })
    .await;
    config.pause_recheck = Duration::from_secs(3600);
    let conn = connector(&config);
    sandbox.set_api_usage(90);
    conn.scan(ObjectType::SalesforceLead, None).await.unwrap();
    assert!(conn.paused().is_some());
    let fields = tokio::time::timeout(
        Duration::from_secs(10),
        conn.describe(ObjectType::SalesforceContact),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(fields.iter().any(|f| f.name == "MailingCity"));
}

#[tokio::test]
async fn five_thousand_writes_cost_five_calls_sent_concurrently() {
    let (sandbox, _served, mut config) = start(SandboxOptions::default()).await;
    config.max_concurrency = 3;
    let conn = connector(&config);
    let writes: Vec<Write> = (0..5000)
        .map(|i| lead_write(i, &format!("W{i}"), &format!("w{i}@example.com")))
        .collect();
    let used = sandbox.api_usage().0;
    let out = conn.apply(writes).await.unwrap();
    assert_eq!(out.len(), 5000);
    assert!(out.iter().all(|o| o.result.is_ok()));
    assert_eq!(
        out.iter().map(|o| o.key).collect::<Vec<_>>(),
        (0..5000).collect::<Vec<_>>(),
        "outcomes keep input order"
    );
    assert_eq!(sandbox.api_usage().0 - used, 5);
}

#[tokio::test]
async fn custom_validation_rules_are_permanent_failures_with_the_admins_message() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    sandbox.add_validation_rule(truce_sandbox::salesforce::ValidationRule {
        object: "Lead".into(),
        field: "Company".into(),
        forbidden: "test".into(),
        message: "Company must be a real company, not a test".into(),
    });
    let conn = connector(&config);
    let mut bad = lead_write(1, "V", "v@example.com");
    bad.fields.insert("Company".into(), json!("Test Co"));
    let out = conn
        .apply(vec![bad, lead_write(2, "W", "w@example.com")])
        .await
        .unwrap();
    let err = out[0].result.as_ref().err().unwrap();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(
        err.api().code.as_deref(),
        Some("FIELD_CUSTOM_VALIDATION_EXCEPTION")
    );
    assert_eq!(
        err.api().message,
        "Company must be a real company, not a test"
    );
    assert_eq!(err.api().fields, vec!["Company"]);
    assert!(out[1].result.is_ok());
}

#[tokio::test]
async fn describe_tells_which_fields_exist_and_which_creates_can_upsert_on() {
    let (_sandbox, _served, config) = start(SandboxOptions::default()).await;
    let conn = connector(&config);
    for object in [ObjectType::SalesforceLead, ObjectType::SalesforceContact] {
        let fields = conn.describe(object).await.unwrap();
        let get = |n: &str| fields.iter().find(|f| f.name == n);
        assert!(get("Favourite_Colour__c").is_none(), "{object}");
        assert!(
            !get("Email").unwrap().upsert_key,
            "{object}: not flagged External ID"
        );
        assert!(get("HubSpot_Contact_Id__c").unwrap().upsert_key, "{object}");
    }
}

#[tokio::test]
async fn objects_the_client_cannot_read_are_refused_by_name() {
    let (_sandbox, _served, config) = start(SandboxOptions::default()).await;
    for (object, says) in [
        (
            ObjectType::HubSpotCompany,
            "companies is a HubSpot object, not a Salesforce one",
        ),
        (
            ObjectType::SalesforceContactRole,
            "OpportunityContactRole is not an object of its own to truce",
        ),
    ] {
        let mut config = config.clone();
        config.objects.insert(object, Vec::new());
        let err =
            SalesforceConnector::new(config, HttpClient::new(&HttpOptions::default()).unwrap())
                .err()
                .unwrap();
        assert_eq!(err.class(), ErrorClass::Fatal);
        assert!(err.api().message.contains(says), "{err}");
    }
}

#[tokio::test]
async fn plain_creates_are_not_repeated_when_the_connection_drops_after_sending() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    let conn = connector(&config);
    conn.scan(ObjectType::SalesforceLead, None).await.unwrap(); // logged in before the faults
    sandbox.set_faults(SalesforceFaults {
        faults: Faults {
            drop_connection: 1.0,
            ..Faults::default()
        },
        lock_row: 0.0,
    });
    let writes: Vec<Write> = (0..10)
        .map(|i| lead_write(i, &format!("D{i}"), &format!("d{i}@example.com")))
        .collect();
    let err = conn.apply(writes).await.err().unwrap();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(
        err.api()
            .message
            .contains("may or may not have been applied"),
        "{err}"
    );
    assert_eq!(sandbox.counters().get(COMPOSITE), 1, "not repeated");
    assert_eq!(sandbox.count("Lead"), 10, "applied once, no duplicates");
    // Updates are idempotent and are retried through the same fault.
    sandbox.set_faults(SalesforceFaults {
        faults: Faults {
            drop_connection: 0.5,
            ..Faults::default()
        },
        lock_row: 0.0,
    });
    let ids = sandbox.ids("Lead");
    let updates: Vec<Write> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Write {
            key: i as i64,
            object: ObjectType::SalesforceLead,
            op: WriteOp::Update {
                id: id.clone(),
                no_associations: false,
            },
            fields: BTreeMap::from([("City".into(), json!("Dublin"))]),
        })
        .collect();
    let out = conn.apply(updates).await.unwrap();
    assert!(out.iter().all(|o| o.result.is_ok()));
}

#[tokio::test]
async fn idle_polls_read_nothing_once_a_poll_has_started_a_look_back_after_the_last_change() {
    let (sandbox, _served, config) = start(SandboxOptions::default()).await;
    // The org's clock and the polls' clock tell the same time, stepped by the test.
    let base = 1_780_000_000_000;
    let org_at = |ms: i64| sandbox.pin_clock(Utc.timestamp_millis_opt(ms).single());
    org_at(base);
    let ids = sandbox.seed_leads(300, 5);
    let clock = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(base));
    let conn = connector(&config).with_clock({
        let clock = clock.clone();
        std::sync::Arc::new(move || clock.load(std::sync::atomic::Ordering::SeqCst))
    });
    let mut since = Cursors::new();
    let mut poll_at = async |after_ms: i64| {
        clock.store(base + after_ms, std::sync::atomic::Ordering::SeqCst);
        let (records, position) = pull_all(&conn, &since).await;
        since = position;
        records.len()
    };
    assert_eq!(poll_at(1_000).await, 300);
    // Inside the look-back the 300 are read again: an older change may still commit.
    assert_eq!(poll_at(16_000).await, 300);
    // The last complete poll began only 16 s after them: 44 s of look-back remain.
    assert_eq!(poll_at(80_000).await, 300);
    // Now it began more than a look-back after them: idle polls read nothing.
    assert_eq!(poll_at(95_000).await, 0);
    assert_eq!(poll_at(110_000).await, 0);
    org_at(base + 120_000);
    sandbox
        .edit("Lead", &ids[3], json!({"City": "After"}))
        .unwrap();
    assert_eq!(poll_at(125_000).await, 1);
}
