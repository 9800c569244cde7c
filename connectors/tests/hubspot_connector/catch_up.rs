//! Catching up on a large change set: the list road when it is faster than paging search,
//! search when the changes are a small share of the records, and the burst limiter under
//! latency jitter (the sandbox's own count of rate-limited answers stays at zero).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use truce_connectors::contract::Cursors;
use truce_connectors::hubspot::{ApiVersion, STREAM};
use truce_connectors::{Connector, ObjectType, Record};
use truce_sandbox::Faults;
use truce_sandbox::Served;
use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions};

use crate::{connector, endpoint, poll, scan_all, start};

fn search(v: ApiVersion) -> String {
    endpoint(v, "POST", "objects", "/contacts/search")
}

fn list(v: ApiVersion) -> String {
    endpoint(v, "GET", "objects", "/contacts")
}

/// Professional limits, so the roads are weighed as on a real portal.
fn professional(config: &mut truce_connectors::hubspot::HubSpotConfig) {
    config.requests_per_10s = 190;
    config.search_requests_per_second = 5;
}

/// The last version of each record pulled.
/// A sandbox allowing 10 calls per 10 s and 5 searches a second: windows a test can spend
/// in a few seconds. Connectors built with [`tight`] keep to the same limits.
async fn start_tight() -> (HubSpotSandbox, Served) {
    start(SandboxOptions {
        requests_per_10s: Some(10),
        search_per_second: Some(5),
        ..SandboxOptions::default()
    })
    .await
}

fn tight(config: &mut truce_connectors::hubspot::HubSpotConfig) {
    config.requests_per_10s = 10;
    config.search_requests_per_second = 5;
}

fn latest(records: &[Record]) -> HashMap<&str, &Record> {
    records.iter().map(|r| (r.id.as_str(), r)).collect()
}

async fn every_record_changed_is_read_by_the_list_with_an_edit_made_while_it_ran(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(3_000, 21);
    // The archive sweep (a list call too) runs on the first poll only.
    let conn = connector(&served, &sandbox, v, professional)
        .with_archive_sweep_interval(Duration::from_secs(3_600));
    sandbox.counters().reset();
    // Nothing synced yet: all 3,000 are behind the cursor. Search would take 16 pages at
    // 5 a second (3.2 s), the list 30 calls at 19 a second (1.6 s): the list is taken.
    let mut since = Cursors::new();
    let first = conn
        .pull(&since, None, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!first.done);
    assert_eq!(
        sandbox.counters().get(&list(v)),
        1,
        "the list road is taken"
    );
    // A person edits a contact the list has already passed, while it runs.
    let passed = &first.records[0].id;
    sandbox.edit(passed, &[("city", "Tromsø")]).unwrap();
    let mut records = first.records.clone();
    for (stream, cursor) in &first.position {
        since.insert(stream.clone(), cursor.clone());
    }
    let mut position = Some(first.position);
    loop {
        let page = conn
            .pull(&since, position.as_ref(), Duration::from_secs(60))
            .await
            .unwrap();
        records.extend(page.records);
        for (stream, cursor) in &page.position {
            let entry = since.entry(stream.clone()).or_insert(cursor.clone());
            if cursor > entry {
                *entry = cursor.clone();
            }
        }
        if page.done {
            break;
        }
        position = Some(page.position);
    }
    let seen = latest(&records);
    assert!(ids.iter().all(|id| seen.contains_key(id.as_str())));
    assert_eq!(
        seen[passed.as_str()].fields["city"],
        Value::String("Tromsø".into()),
        "the edit made while the list ran is read after it"
    );
    // 30 list pages and the archive sweep; searches: the first page, the count, and the
    // one after the list.
    assert_eq!(sandbox.counters().get(&list(v)), 31);
    assert_eq!(sandbox.counters().get(&search(v)), 3);

    // The next poll looks back no further than what the list read: one search, which
    // re-reads only the newest stamps.
    sandbox.counters().reset();
    let again = poll(&conn, &mut since, Duration::from_secs(60)).await;
    assert_eq!(sandbox.counters().get(&search(v)), 1);
    assert_eq!(sandbox.counters().get(&list(v)), 0);
    assert!(again.len() <= 2, "{} records re-read", again.len());
}

async fn a_change_set_that_is_a_small_share_of_the_records_is_paged_by_search(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(12_000, 5);
    let conn = connector(&served, &sandbox, v, professional)
        .with_archive_sweep_interval(Duration::from_secs(3_600));
    let last = sandbox.get(ids.last().unwrap()).unwrap();
    let mut since = Cursors::from([(
        STREAM.to_string(),
        truce_connectors::Cursor {
            modified_at: last.modified_ms,
            id: last.id.clone(),
        },
    )]);
    // 2,400 of 12,000 change: search pages them in 12 calls, the list would take 120.
    let edited: Vec<String> = ids.iter().step_by(5).cloned().collect();
    sandbox
        .edit_burst(&edited, |id| {
            vec![("city".to_string(), format!("Moved {id}"))]
        })
        .unwrap();
    sandbox.counters().reset();
    let records = poll(&conn, &mut since, Duration::from_secs(60)).await;
    let seen = latest(&records);
    assert!(edited.iter().all(|id| seen.contains_key(id.as_str())));
    assert_eq!(
        sandbox.counters().get(&list(v)),
        1,
        "the list is not taken (one call: the archive sweep)"
    );
    // The first page (the look-back's seeded contacts, the burst's millisecond left for
    // the next), the count, 12 pages of 200 (the burst shares one millisecond, read in id
    // order) and the page that finds nothing more.
    assert_eq!(sandbox.counters().get(&search(v)), 15);
}

per_version!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    every_record_changed_is_read_by_the_list_with_an_edit_made_while_it_ran,
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_change_set_that_is_a_small_share_of_the_records_is_paged_by_search,
);

/// With 50–300 ms of jitter before the sandbox sees each request, a full scan and a
/// search-paged pull run at their limits (10 per 10 s, 5 searches per second) and HubSpot
/// never refuses one: the sandbox's own count of rate-limited answers stays 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_latency_jitter_no_more_than_the_limit_arrives_in_any_window() {
    let v = ApiVersion::V2026_09;
    let (sandbox, served) = start_tight().await;
    let ids = sandbox.seed_contacts(3_000, 3);
    sandbox.set_faults(Faults {
        latency: Duration::from_millis(50),
        latency_jitter: Duration::from_millis(250),
        ..Faults::default()
    });
    let conn = connector(&served, &sandbox, v, tight);
    // 30 list calls: the burst limit spent three times over.
    let scanned = scan_all(&conn, ObjectType::HubSpotContact).await;
    assert_eq!(scanned.len(), ids.len());
    assert_eq!(sandbox.counters().get(&list(v)), 30);
    // 3,000 changes behind an old cursor, searched 200 at a time (the list would be 30
    // calls at one a second, slower than 16 searches at 5).
    let mut since = Cursors::from([(
        STREAM.to_string(),
        truce_connectors::Cursor {
            modified_at: 0,
            id: "0".into(),
        },
    )]);
    let records = poll(&conn, &mut since, Duration::ZERO).await;
    assert_eq!(latest(&records).len(), ids.len());
    assert!(sandbox.counters().get(&search(v)) >= 16);
    let hits = sandbox.limit_hits();
    assert_eq!(
        (hits.ten_secondly, hits.secondly),
        (0, 0),
        "the sandbox refused no call for its limits"
    );
    assert_eq!(sandbox.counters().status(429), 0);
}

/// The daemon started right after a backfill: the backfill spent HubSpot's window, and
/// the new process cannot know it until an answer says so. It presumes the window spent
/// and then holds what the server's remaining count says others hold for a whole window,
/// so HubSpot refuses none of its calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_started_right_after_another_spent_the_window_is_never_refused() {
    let v = ApiVersion::V2026_09;
    let (sandbox, served) = start_tight().await;
    let ids = sandbox.seed_contacts(1_500, 5);
    // 15 list calls: ten at once, five as the first ten leave the window.
    let backfill = connector(&served, &sandbox, v, tight);
    assert_eq!(
        scan_all(&backfill, ObjectType::HubSpotContact).await.len(),
        ids.len()
    );
    let daemon = connector(&served, &sandbox, v, tight);
    assert_eq!(
        scan_all(&daemon, ObjectType::HubSpotContact).await.len(),
        ids.len()
    );
    assert_eq!(sandbox.counters().get(&list(v)), 30);
    assert_eq!(
        sandbox.limit_hits().ten_secondly,
        0,
        "HubSpot refused none of the second connector's calls"
    );
}
