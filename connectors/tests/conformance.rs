//! The connector conformance suite: the same cases against every connector and its
//! sandbox, over real HTTP on 127.0.0.1.
//!
//! Each system supplies a [`Harness`]: a connector, and the sandbox controls the cases need
//! (seed and edit records, make one visible late, expire tokens, script faults, count
//! requests). Every case then runs once per system (`hubspot::...`, `salesforce::...`);
//! HubSpot runs once per API family it speaks (`hubspot::` on the default `2026-09` paths,
//! `hubspot_v3::` on the legacy ones), from one harness generic over the family; and
//! Salesforce once more on Opportunities (`salesforce_opportunities::...`), a revenue
//! object read and written through the same table entry machinery as Leads.
//! A new connector passes this file before it is used: add its harness and one line to
//! `systems` in the `conformance!` invocation at the end.
//!
//! Time: the cases run on tokio's paused clock, so a `Retry-After` of seconds is waited in
//! no time and measured exactly; the connectors' retry schedules and limiters run on that
//! clock. The sandboxes stamp records with the wall clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::ConfigFor;
use serde_json::json;
use tokio::time::Instant;
use truce_connectors::http::{HttpClient, HttpOptions, RetryPolicy};
use truce_connectors::hubspot::{ApiVersion, HubSpotAuth, HubSpotConfig, HubSpotConnector};
use truce_connectors::salesforce::SalesforceConnector;
use truce_connectors::{
    Connector, Cursors, ErrorClass, ObjectType, Record, Secret, UpsertKey, Write, WriteOp,
};
use truce_sandbox::hubspot::{ApiVersion as Family, HubSpotSandbox, SandboxOAuth};
use truce_sandbox::salesforce::{SalesforceFaults, SalesforceSandbox, SandboxOptions};
use truce_sandbox::{Fault, Faults, Served};

/// What a case needs from one system: its connector and its sandbox's controls.
trait Harness: Sized {
    /// The connector under test.
    type Conn: Connector;
    /// The object the cases read and write.
    const OBJECT: ObjectType;
    /// More records than one pull page holds.
    const BURST: usize;
    /// More records than two scan pages hold.
    const SCAN: usize;

    /// A sandbox served on loopback.
    async fn start() -> Self;
    /// A new connector to the sandbox: each call is a restart.
    fn connector(&self) -> Self::Conn;
    /// Creates `n` records; their ids.
    fn seed(&self, n: usize) -> Vec<String>;
    /// Edits every record of `ids` so all share one modification time; that time (ms).
    fn edit_at_once(&self, ids: &[String]) -> i64;
    /// Edits one record now.
    fn edit(&self, id: &str);
    /// Edits one record so it becomes visible now, stamped `at_ms` (a late commit).
    fn edit_late(&self, id: &str, at_ms: i64);
    /// Makes every issued token expire.
    fn expire_tokens(&self);
    /// Token requests so far.
    fn token_requests(&self) -> u64;
    /// API requests so far, token requests excluded.
    fn api_requests(&self) -> u64;
    /// Faults for the next requests, in order.
    fn script(&self, faults: Vec<Fault>);
    /// A create of a record with this email, keyed `key`.
    fn create(&self, key: i64, email: &str) -> Write;
    /// The email a record holds in the sandbox.
    fn email_of(&self, id: &str) -> Option<String>;
}

fn http() -> HttpClient {
    HttpClient::new(&HttpOptions::default()).unwrap()
}

// ---------------------------------------------------------------------------------------
// HubSpot

/// HubSpot on the `2026-09` paths (`V3 = false`) or the legacy `v3` ones.
struct HubSpot<const V3: bool> {
    sandbox: HubSpotSandbox,
    served: Served,
}

/// The default family.
type HubSpotDated = HubSpot<false>;
/// The legacy family.
type HubSpotV3 = HubSpot<true>;

impl<const V3: bool> HubSpot<V3> {
    const VERSION: ApiVersion = if V3 {
        ApiVersion::V3
    } else {
        ApiVersion::V2026_09
    };
}

const HUBSPOT_TOKEN: &str = "POST /oauth/v1/token";

impl<const V3: bool> Harness for HubSpot<V3> {
    type Conn = HubSpotConnector;
    const OBJECT: ObjectType = ObjectType::HubSpotContact;
    const BURST: usize = 450;
    const SCAN: usize = 250;

    async fn start() -> HubSpot<V3> {
        let sandbox = HubSpotSandbox::new(truce_sandbox::hubspot::SandboxOptions {
            oauth: Some(SandboxOAuth {
                client_id: "client-1".into(),
                client_secret: "client-secret-1".into(),
                refresh_token: "na1-refresh".into(),
                access_token_lifetime: Duration::from_secs(1800),
            }),
            ..Default::default()
        });
        let served = sandbox
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        HubSpot { sandbox, served }
    }

    fn connector(&self) -> HubSpotConnector {
        let mut config = HubSpotConfig::new(
            self.served.url(),
            HubSpotAuth::OAuth {
                token_url: format!("{}/oauth/v1/token", self.served.url()),
                client_id: Secret::new("client-1"),
                client_secret: Secret::new("client-secret-1"),
                refresh_token: Secret::new("na1-refresh"),
            },
        );
        config.api_version = Self::VERSION;
        config.objects = BTreeMap::from([(Self::OBJECT, vec!["city".into(), "email".into()])]);
        config.retry = RetryPolicy::default();
        HubSpotConnector::new(config, http()).unwrap()
    }

    fn seed(&self, n: usize) -> Vec<String> {
        self.sandbox.seed_contacts(n, 7)
    }

    fn edit_at_once(&self, ids: &[String]) -> i64 {
        self.sandbox
            .edit_burst(ids, |_| vec![("city".into(), "Burst".into())])
            .unwrap()
    }

    fn edit(&self, id: &str) {
        self.sandbox.edit(id, &[("city", "Now")]).unwrap();
    }

    fn edit_late(&self, id: &str, at_ms: i64) {
        self.sandbox
            .edit_at(id, &[("city", "Late")], at_ms)
            .unwrap();
    }

    fn expire_tokens(&self) {
        self.sandbox.expire_access_tokens();
    }

    fn token_requests(&self) -> u64 {
        self.sandbox.counters().get(HUBSPOT_TOKEN)
    }

    fn api_requests(&self) -> u64 {
        let counters = self.sandbox.counters();
        let requests = counters.total() - counters.get(HUBSPOT_TOKEN);
        // Every one of them in the family the connector speaks.
        let family = match Self::VERSION {
            ApiVersion::V2026_09 => Family::V2026_09,
            ApiVersion::V3 => Family::Legacy,
        };
        let by_version = self.sandbox.requests_by_version();
        assert_eq!(
            by_version.get(&family).copied().unwrap_or(0),
            requests,
            "{by_version:?}"
        );
        requests
    }

    fn script(&self, script: Vec<Fault>) {
        self.sandbox.set_faults(Faults {
            script,
            ..Faults::default()
        });
    }

    fn create(&self, key: i64, email: &str) -> Write {
        Write {
            key,
            object: Self::OBJECT,
            op: WriteOp::Create {
                upsert_on: Some(UpsertKey::Email(email.into())),
            },
            fields: BTreeMap::from([
                ("email".into(), json!(email)),
                ("firstname".into(), json!("Pat")),
            ]),
        }
    }

    fn email_of(&self, id: &str) -> Option<String> {
        self.sandbox.get(id)?.properties.get("email").cloned()
    }
}

// ---------------------------------------------------------------------------------------
// Salesforce

struct Salesforce {
    sandbox: SalesforceSandbox,
    served: Served,
}

const SALESFORCE_TOKEN: &str = "POST /services/oauth2/token";

impl Harness for Salesforce {
    type Conn = SalesforceConnector;
    const OBJECT: ObjectType = ObjectType::SalesforceLead;
    const BURST: usize = 4_500;
    const SCAN: usize = 4_100;

    async fn start() -> Salesforce {
        let sandbox = SalesforceSandbox::new(SandboxOptions::default());
        let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Salesforce { sandbox, served }
    }

    fn connector(&self) -> SalesforceConnector {
        let mut config = self.sandbox.config_for(&self.served.url());
        config.objects = BTreeMap::from([(Self::OBJECT, vec!["City".into(), "Email".into()])]);
        config.retry = RetryPolicy::default();
        SalesforceConnector::new(config, http()).unwrap()
    }

    fn seed(&self, n: usize) -> Vec<String> {
        self.sandbox.seed_leads(n, 7)
    }

    fn edit_at_once(&self, ids: &[String]) -> i64 {
        // SystemModstamp has whole seconds: one pinned second, after every seeded stamp.
        let at = Utc::now().timestamp() + 2;
        self.sandbox.pin_clock(Utc.timestamp_opt(at, 0).single());
        for id in ids {
            self.sandbox
                .edit("Lead", id, json!({"City": "Burst"}))
                .unwrap();
        }
        self.sandbox.pin_clock(None);
        at * 1000
    }

    fn edit(&self, id: &str) {
        self.sandbox
            .edit("Lead", id, json!({"City": "Now"}))
            .unwrap();
    }

    fn edit_late(&self, id: &str, at_ms: i64) {
        self.sandbox
            .pin_clock(Utc.timestamp_millis_opt(at_ms).single());
        self.sandbox
            .edit("Lead", id, json!({"City": "Late"}))
            .unwrap();
        self.sandbox.pin_clock(None);
    }

    fn expire_tokens(&self) {
        self.sandbox.expire_tokens();
    }

    fn token_requests(&self) -> u64 {
        self.sandbox.counters().get(SALESFORCE_TOKEN)
    }

    fn api_requests(&self) -> u64 {
        let counters = self.sandbox.counters();
        counters.total() - counters.get(SALESFORCE_TOKEN)
    }

    fn script(&self, script: Vec<Fault>) {
        self.sandbox.set_faults(SalesforceFaults {
            faults: Faults {
                script,
                ..Faults::default()
            },
            lock_row: 0.0,
        });
    }

    fn create(&self, key: i64, email: &str) -> Write {
        Write {
            key,
            object: Self::OBJECT,
            op: WriteOp::Create { upsert_on: None },
            fields: BTreeMap::from([
                ("LastName".into(), json!(format!("Person{key}"))),
                ("Company".into(), json!("Acme")),
                ("Email".into(), json!(email)),
            ]),
        }
    }

    fn email_of(&self, id: &str) -> Option<String> {
        let row = self.sandbox.get("Lead", id)?;
        row.get("Email")?.as_str().map(str::to_string)
    }
}

// ---------------------------------------------------------------------------------------
// Salesforce Opportunities: the same cases on a revenue object. An Opportunity has no email:
// the cases' email is its `Name`, and an "email" that is not one is sent as its stage as
// well, which the restricted `StageName` picklist refuses with the value in its message.

struct SalesforceDeals {
    sandbox: SalesforceSandbox,
    served: Served,
    account: String,
}

impl Harness for SalesforceDeals {
    type Conn = SalesforceConnector;
    const OBJECT: ObjectType = ObjectType::SalesforceOpportunity;
    const BURST: usize = 4_500;
    const SCAN: usize = 4_100;

    async fn start() -> SalesforceDeals {
        let sandbox = SalesforceSandbox::new(SandboxOptions::default());
        let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let account = sandbox.seed_accounts(1, 7).remove(0);
        SalesforceDeals {
            sandbox,
            served,
            account,
        }
    }

    fn connector(&self) -> SalesforceConnector {
        let mut config = self.sandbox.config_for(&self.served.url());
        config.objects =
            BTreeMap::from([(Self::OBJECT, vec!["Description".into(), "StageName".into()])]);
        config.retry = RetryPolicy::default();
        SalesforceConnector::new(config, http()).unwrap()
    }

    fn seed(&self, n: usize) -> Vec<String> {
        self.sandbox.seed_opportunities(n, 7)
    }

    fn edit_at_once(&self, ids: &[String]) -> i64 {
        let at = Utc::now().timestamp() + 2;
        self.sandbox.pin_clock(Utc.timestamp_opt(at, 0).single());
        for id in ids {
            self.sandbox
                .edit("Opportunity", id, json!({"Description": "Burst"}))
                .unwrap();
        }
        self.sandbox.pin_clock(None);
        at * 1000
    }

    fn edit(&self, id: &str) {
        self.sandbox
            .edit("Opportunity", id, json!({"Description": "Now"}))
            .unwrap();
    }

    fn edit_late(&self, id: &str, at_ms: i64) {
        self.sandbox
            .pin_clock(Utc.timestamp_millis_opt(at_ms).single());
        self.sandbox
            .edit("Opportunity", id, json!({"Description": "Late"}))
            .unwrap();
        self.sandbox.pin_clock(None);
    }

    fn expire_tokens(&self) {
        self.sandbox.expire_tokens();
    }

    fn token_requests(&self) -> u64 {
        self.sandbox.counters().get(SALESFORCE_TOKEN)
    }

    fn api_requests(&self) -> u64 {
        let counters = self.sandbox.counters();
        counters.total() - counters.get(SALESFORCE_TOKEN)
    }

    fn script(&self, script: Vec<Fault>) {
        self.sandbox.set_faults(SalesforceFaults {
            faults: Faults {
                script,
                ..Faults::default()
            },
            lock_row: 0.0,
        });
    }

    fn create(&self, key: i64, email: &str) -> Write {
        let stage = if email.contains('@') {
            "Prospecting"
        } else {
            email
        };
        Write {
            key,
            object: Self::OBJECT,
            op: WriteOp::Create { upsert_on: None },
            fields: BTreeMap::from([
                ("Name".into(), json!(email)),
                ("StageName".into(), json!(stage)),
                ("CloseDate".into(), json!("2027-03-31")),
                ("AccountId".into(), json!(self.account)),
            ]),
        }
    }

    fn email_of(&self, id: &str) -> Option<String> {
        let row = self.sandbox.get("Opportunity", id)?;
        row.get("Name")?.as_str().map(str::to_string)
    }
}

// ---------------------------------------------------------------------------------------
// The cases

/// The engine's poll loop: pages until done, `since` moved to the furthest position.
async fn poll(conn: &impl Connector, since: &mut Cursors, lookback: Duration) -> Vec<Record> {
    let mut position: Option<Cursors> = None;
    let mut records = Vec::new();
    loop {
        let page = conn.pull(since, position.as_ref(), lookback).await.unwrap();
        assert!(page.rejected.is_empty(), "{:?}", page.rejected);
        records.extend(page.records);
        for (stream, cursor) in &page.position {
            let entry = since
                .entry(stream.clone())
                .or_insert_with(|| cursor.clone());
            if key(cursor) > key(entry) {
                *entry = cursor.clone();
            }
        }
        if page.done {
            return records;
        }
        position = Some(page.position);
    }
}

/// Keyset order across systems: time, then id (numeric ids compare as numbers).
fn key(c: &truce_connectors::Cursor) -> (i64, u64, String) {
    (
        c.modified_at,
        c.id.parse().unwrap_or(u64::MAX),
        c.id.clone(),
    )
}

fn once_each(ids: impl IntoIterator<Item = String>) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for id in ids {
        *seen.entry(id).or_default() += 1;
    }
    seen
}

async fn a_pull_since_a_cursor_reads_records_sharing_one_timestamp_once_each<H: Harness>(h: H) {
    let ids = h.seed(H::BURST);
    let stamp = h.edit_at_once(&ids);
    let stream = H::OBJECT.as_str().to_string();
    let since = Cursors::from([(
        stream.clone(),
        truce_connectors::Cursor {
            modified_at: stamp - 1_000,
            id: String::new(),
        },
    )]);
    // The first page from one process, the rest from another (a restart in the middle).
    let first = h
        .connector()
        .pull(&since, None, Duration::ZERO)
        .await
        .unwrap();
    assert!(!first.done, "{} records fit one page", H::BURST);
    let mut ids_read: Vec<String> = first.records.iter().map(|r| r.id.clone()).collect();
    let restarted = h.connector();
    let mut position = first.position.clone();
    loop {
        let page = restarted
            .pull(&since, Some(&position), Duration::ZERO)
            .await
            .unwrap();
        ids_read.extend(page.records.iter().map(|r| r.id.clone()));
        position = page.position;
        if page.done {
            break;
        }
    }
    let seen = once_each(ids_read);
    assert!(seen.values().all(|n| *n == 1), "a record was read twice");
    assert_eq!(seen.len(), H::BURST, "no gap");
    assert!(ids.iter().all(|id| seen.contains_key(id)));
    assert_eq!(position[&stream].modified_at, stamp);
}

async fn a_record_visible_late_is_caught_by_the_look_back<H: Harness>(h: H) {
    let ids = h.seed(20);
    let conn = h.connector();
    let lookback = Duration::from_secs(60);
    let mut since = Cursors::new();
    assert_eq!(poll(&conn, &mut since, lookback).await.len(), 20);
    h.edit(&ids[3]);
    poll(&conn, &mut since, lookback).await;
    let cursor = since[H::OBJECT.as_str()].modified_at;
    let late = cursor - 5_000;
    h.edit_late(&ids[10], late);

    let blind = poll(&conn, &mut since.clone(), Duration::ZERO).await;
    assert!(
        blind.iter().all(|r| r.id != ids[10]),
        "without a look-back the late record is missed"
    );
    let records = poll(&conn, &mut since, lookback).await;
    let found = records
        .iter()
        .find(|r| r.id == ids[10])
        .expect("the look-back reads the late record");
    assert_eq!(found.modified_at, late);
}

async fn a_scan_resumes_from_its_token_after_a_restart_without_repeating<H: Harness>(h: H) {
    let ids = h.seed(H::SCAN);
    let first = h.connector().scan(H::OBJECT, None).await.unwrap();
    let mut read: Vec<String> = first.records.iter().map(|r| r.id.clone()).collect();
    let restarted = h.connector();
    let mut resume = first.next.clone();
    assert!(resume.is_some(), "{} records fit one scan page", H::SCAN);
    let mut pages = 1;
    while let Some(token) = resume {
        let page = restarted.scan(H::OBJECT, Some(&token)).await.unwrap();
        read.extend(page.records.iter().map(|r| r.id.clone()));
        resume = page.next;
        pages += 1;
    }
    assert!(pages >= 3, "{pages} pages");
    let seen = once_each(read);
    assert!(seen.values().all(|n| *n == 1), "a record was scanned twice");
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        ids.into_iter().collect::<HashSet<_>>()
    );
}

async fn a_batch_with_invalid_records_reports_each_outcome_against_its_own_write<H: Harness>(h: H) {
    let conn = h.connector();
    let bad = [5usize, 23, 41];
    // Keys run backwards, so a result matched by position would land on the wrong write.
    let email = |i: usize| {
        if bad.contains(&i) {
            format!("not-an-email-{i}")
        } else {
            format!("person{i}@example.com")
        }
    };
    let writes: Vec<Write> = (0..60)
        .map(|i| h.create(1_000 - i as i64, &email(i)))
        .collect();
    let (requests, calls) = (h.api_requests(), conn.calls());
    let outcomes = conn.apply(writes).await.unwrap();
    assert_eq!(h.api_requests() - requests, 1, "one call for the batch");
    assert_eq!(conn.calls() - calls, 1);
    assert_eq!(outcomes.len(), 60);
    for outcome in outcomes {
        let i = (1_000 - outcome.key) as usize;
        match outcome.result {
            Ok(written) => {
                assert!(!bad.contains(&i), "{i} was accepted");
                assert_eq!(
                    h.email_of(&written.id),
                    Some(email(i)),
                    "key {}",
                    outcome.key
                );
            }
            Err(err) => {
                assert!(bad.contains(&i), "{i} was refused: {err}");
                assert_eq!(err.class(), ErrorClass::Permanent);
                assert!(err.api().code.is_some(), "{err:?}");
                assert!(!err.api().fields.is_empty(), "{err:?}");
                assert!(err.api().message.contains(&email(i)), "{err}");
            }
        }
    }
}

async fn an_expired_token_is_renewed_exactly_once_for_concurrent_calls<H: Harness>(h: H) {
    h.seed(5);
    let conn = h.connector();
    conn.scan(H::OBJECT, None).await.unwrap();
    let tokens = h.token_requests();
    assert_eq!(tokens, 1);
    h.expire_tokens();
    let scans = (0..4).map(|_| conn.scan(H::OBJECT, None));
    for page in futures::future::join_all(scans).await {
        assert_eq!(page.unwrap().records.len(), 5);
    }
    assert_eq!(h.token_requests() - tokens, 1, "renewed exactly once");
}

async fn a_429_is_waited_out_as_asked_or_backed_off_without_it<H: Harness>(h: H) {
    h.seed(5);
    let conn = h.connector();
    conn.scan(H::OBJECT, None).await.unwrap();

    h.script(vec![Fault::TooManyRequests(Some(7))]);
    let (requests, calls, start) = (h.api_requests(), conn.calls(), Instant::now());
    assert_eq!(conn.scan(H::OBJECT, None).await.unwrap().records.len(), 5);
    assert_eq!(start.elapsed(), Duration::from_secs(7), "waited as asked");
    assert_eq!((h.api_requests() - requests, conn.calls() - calls), (2, 2));

    h.script(vec![Fault::TooManyRequests(None)]);
    let (requests, start) = (h.api_requests(), Instant::now());
    assert_eq!(conn.scan(H::OBJECT, None).await.unwrap().records.len(), 5);
    let waited = start.elapsed();
    assert!(
        waited > Duration::ZERO && waited <= Duration::from_secs(30),
        "backed off {waited:?}"
    );
    assert_eq!(h.api_requests() - requests, 2);
}

async fn malformed_and_truncated_answers_are_retried<H: Harness>(h: H) {
    h.seed(5);
    let conn = h.connector();
    conn.scan(H::OBJECT, None).await.unwrap();
    h.script(vec![Fault::MalformedBody, Fault::TruncatedBody]);
    let (requests, calls) = (h.api_requests(), conn.calls());
    let page = conn.scan(H::OBJECT, None).await.unwrap();
    assert_eq!(page.records.len(), 5);
    assert_eq!((h.api_requests() - requests, conn.calls() - calls), (3, 3));
}

async fn a_validation_refusal_is_not_retried<H: Harness>(h: H) {
    let conn = h.connector();
    conn.scan(H::OBJECT, None).await.unwrap();
    let (requests, calls) = (h.api_requests(), conn.calls());
    let outcomes = conn.apply(vec![h.create(1, "not-an-email")]).await.unwrap();
    let err = outcomes[0].result.as_ref().unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.api().message.contains("not-an-email"), "{err}");
    assert_eq!((h.api_requests() - requests, conn.calls() - calls), (1, 1));
}

/// One test per case for one system, in a module named after it.
macro_rules! cases_for {
    ($system:ident, $harness:ident, [$($case:ident),* $(,)?]) => {
        mod $system {
            $(
                #[tokio::test(start_paused = true)]
                async fn $case() {
                    let h = <super::$harness as super::Harness>::start().await;
                    super::$case(h).await;
                }
            )*
        }
    };
}

/// Runs every case against every system: `hubspot::case`, `salesforce::case`.
macro_rules! conformance {
    (systems: [$($system:ident => $harness:ident),* $(,)?], cases: $cases:tt) => {
        $( cases_for!($system, $harness, $cases); )*
    };
}

conformance!(
    systems: [
        hubspot => HubSpotDated,
        hubspot_v3 => HubSpotV3,
        salesforce => Salesforce,
        salesforce_opportunities => SalesforceDeals,
    ],
    cases: [
        a_pull_since_a_cursor_reads_records_sharing_one_timestamp_once_each,
        a_record_visible_late_is_caught_by_the_look_back,
        a_scan_resumes_from_its_token_after_a_restart_without_repeating,
        a_batch_with_invalid_records_reports_each_outcome_against_its_own_write,
        an_expired_token_is_renewed_exactly_once_for_concurrent_calls,
        a_429_is_waited_out_as_asked_or_backed_off_without_it,
        malformed_and_truncated_answers_are_retried,
        a_validation_refusal_is_not_retried,
    ]
);
