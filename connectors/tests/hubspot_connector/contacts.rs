//! Contacts: pulls across the 10,000 cap and the look-back, scans, reads by id and email,
//! batch writes and their outcomes, auth, rate limits and the daily allowance.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::Value;
use truce_connectors::contract::Cursors;
use truce_connectors::http::{HttpClient, HttpOptions, RetryPolicy};
use truce_connectors::hubspot::{
    ARCHIVED_STREAM, ApiVersion, HubSpotAuth, HubSpotConfig, HubSpotConnector, STREAM, existing_id,
};
use truce_connectors::{
    Connector, ErrorClass, FieldKind, ObjectType, Record, Secret, Write, WriteOp,
};
use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOAuth, SandboxOptions};
use truce_sandbox::{Faults, Served};

use crate::{connector, endpoint, poll, quick_retry, start, update, upsert};

fn search(v: ApiVersion) -> String {
    endpoint(v, "POST", "objects", "/contacts/search")
}

fn list(v: ApiVersion) -> String {
    endpoint(v, "GET", "objects", "/contacts")
}

async fn a_burst_of_12000_edits_among_25000_contacts_is_pulled_exactly_once_across_the_10000_cap(
    v: ApiVersion,
) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(25_000, 7);
    let conn = connector(&served, &sandbox, v, |_| {});
    // The engine has already synced the seeded contacts.
    let last = sandbox.get(ids.last().unwrap()).unwrap();
    let mut since = Cursors::from([(
        STREAM.to_string(),
        truce_connectors::Cursor {
            modified_at: last.modified_ms,
            id: last.id.clone(),
        },
    )]);
    // One burst (a bulk import): 12,000 records, every one stamped with the same millisecond.
    let edited: Vec<String> = ids.iter().step_by(2).take(12_000).cloned().collect();
    let burst_ms = sandbox
        .edit_burst(&edited, |id| {
            vec![("city".to_string(), format!("Burst {id}"))]
        })
        .unwrap();
    sandbox.counters().reset();

    let records = poll(&conn, &mut since, Duration::from_secs(60)).await;

    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        *seen.entry(r.id.as_str()).or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "a record was pulled twice");
    for id in &edited {
        assert_eq!(
            seen.get(id.as_str()),
            Some(&1),
            "contact {id} was not pulled"
        );
    }
    let in_burst: Vec<&Record> = records
        .iter()
        .filter(|r| r.modified_at == burst_ms)
        .collect();
    assert_eq!(in_burst.len(), 12_000);
    assert!(
        in_burst
            .iter()
            .all(|r| r.fields["city"] == Value::String(format!("Burst {}", r.id)))
    );
    // 12,000 + the look-back's re-reads, ~200 per search, and not one query past the cap.
    let searches = sandbox.counters().get(&search(v)) as usize;
    assert!(searches <= records.len() / 200 + 3, "{searches} searches");
    assert_eq!(sandbox.counters().status(400), 0);
    assert_eq!(since[STREAM].modified_at, burst_ms);
}

async fn a_burst_is_pulled_exactly_once_even_when_search_honours_only_one_sort_rule(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions {
        single_sort: true,
        ..SandboxOptions::default()
    })
    .await;
    let ids = sandbox.seed_contacts(3_000, 17);
    let conn = connector(&served, &sandbox, v, |_| {});
    let mut since = Cursors::new();
    assert_eq!(
        poll(&conn, &mut since, Duration::from_secs(60)).await.len(),
        3_000
    );
    // 1,000 in one millisecond, then 500 spread over a few milliseconds each of them
    // straddling page boundaries.
    let first: Vec<String> = ids.iter().step_by(3).cloned().collect();
    sandbox
        .edit_burst(&first, |_| vec![("city".to_string(), "Tie".to_string())])
        .unwrap();
    for chunk in ids
        .iter()
        .skip(1)
        .step_by(3)
        .take(500)
        .collect::<Vec<_>>()
        .chunks(130)
    {
        let chunk: Vec<String> = chunk.iter().map(|s| s.to_string()).collect();
        sandbox
            .edit_burst(&chunk, |_| vec![("city".to_string(), "Spread".to_string())])
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let records = poll(&conn, &mut since, Duration::ZERO).await;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        *seen.entry(r.id.as_str()).or_default() += 1;
    }
    assert_eq!(records.len(), 1_500, "each edited record once");
    assert!(seen.values().all(|n| *n == 1));
    assert!(first.iter().all(|id| seen.contains_key(id.as_str())));
}

async fn a_contact_that_becomes_visible_with_a_timestamp_older_than_the_cursor_is_still_pulled(
    v: ApiVersion,
) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(50, 3);
    let conn = connector(&served, &sandbox, v, |_| {});
    let mut since = Cursors::new();
    assert_eq!(
        poll(&conn, &mut since, Duration::from_secs(60)).await.len(),
        50
    );

    sandbox.edit(&ids[10], &[("city", "Now")]).unwrap();
    poll(&conn, &mut since, Duration::from_secs(60)).await;
    let cursor = since[STREAM].modified_at;
    // A write that committed late: visible now, stamped 5 s before the cursor.
    sandbox
        .edit_at(&ids[20], &[("city", "Late")], cursor - 5_000)
        .unwrap();

    let mut without_lookback = since.clone();
    let blind = poll(&conn, &mut without_lookback, Duration::ZERO).await;
    assert!(
        blind.iter().all(|r| r.id != ids[20]),
        "the late record needs the look-back"
    );

    let records = poll(&conn, &mut since, Duration::from_secs(60)).await;
    let late = records
        .iter()
        .find(|r| r.id == ids[20])
        .expect("late record pulled");
    assert_eq!(late.fields["city"], Value::String("Late".into()));
    assert_eq!(late.modified_at, cursor - 5_000);
}

async fn idle_polls_stop_rereading_a_burst_once_a_poll_has_started_a_look_back_after_it(
    v: ApiVersion,
) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(1_000, 11);
    let clock = Arc::new(AtomicI64::new(0));
    let conn = connector(&served, &sandbox, v, |_| {}).with_clock({
        let clock = clock.clone();
        Arc::new(move || clock.load(Ordering::SeqCst))
    });
    let lookback = Duration::from_secs(60);
    let mut since = Cursors::new();
    let burst = sandbox
        .edit_burst(&ids, |_| vec![("city".into(), "Burst".into())])
        .unwrap();
    let counters = sandbox.counters();
    let poll_at = async |at: i64, since: &mut Cursors| {
        clock.store(at, Ordering::SeqCst);
        let before = counters.get(&search(v));
        let pulled = poll(&conn, since, lookback).await.len();
        (pulled, counters.get(&search(v)) - before)
    };

    let (pulled, _) = poll_at(burst + 1_000, &mut since).await;
    assert_eq!(pulled, 1_000);
    // Inside the look-back the burst is read again: a record stamped before it may still
    // become visible.
    let (pulled, searches) = poll_at(burst + 16_000, &mut since).await;
    assert_eq!(pulled, 1_000);
    assert!(searches >= 5, "{searches} searches re-read 1,000 records");
    // The last complete poll began only 16 s after the burst: 44 s of look-back remain.
    let (pulled, _) = poll_at(burst + 80_000, &mut since).await;
    assert_eq!(pulled, 1_000);
    // Now the last complete poll began more than a look-back after the burst.
    let (pulled, searches) = poll_at(burst + 95_000, &mut since).await;
    assert_eq!((pulled, searches), (0, 1), "an idle poll is one search");
    let (pulled, searches) = poll_at(burst + 110_000, &mut since).await;
    assert_eq!((pulled, searches), (0, 1));

    // A new edit after the idle polls is pulled by the next one, and only it.
    sandbox.edit(&ids[7], &[("city", "After")]).unwrap();
    let (pulled, searches) = poll_at(burst + 125_000, &mut since).await;
    assert_eq!((pulled, searches), (1, 1));
}

async fn pulled_records_carry_the_configured_properties_and_the_metadata_typed(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    sandbox.seed_contacts(3, 1);
    let conn = connector(&served, &sandbox, v, |_| {});
    let records = poll(&conn, &mut Cursors::new(), Duration::from_secs(60)).await;
    assert_eq!(records.len(), 3);
    for r in &records {
        for p in ["firstname", "lifecyclestage", "city"] {
            assert!(r.fields.contains_key(p), "{p} missing");
        }
        // What the client reads for itself arrives typed, not as fields nobody asked for.
        for p in [
            "email",
            "hs_object_id",
            "lastmodifieddate",
            "createdate",
            "hs_merged_object_ids",
        ] {
            assert!(!r.fields.contains_key(p), "{p} was not configured");
        }
        assert!(r.merged_ids.is_empty());
        assert!(!r.deleted);
        assert_eq!(r.object, ObjectType::HubSpotContact);
        assert!(r.email.is_some());
    }
}

async fn archived_and_merged_contacts_are_reported_to_the_engine(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(20, 5);
    let conn = connector(&served, &sandbox, v, |_| {});
    let mut since = Cursors::new();
    poll(&conn, &mut since, Duration::from_secs(60)).await;

    sandbox.archive(&ids[3]).unwrap();
    let survivor = sandbox.merge(&ids[5], &ids[6]).unwrap();
    let records = poll(&conn, &mut since, Duration::from_secs(60)).await;

    let archived = records
        .iter()
        .find(|r| r.id == ids[3])
        .expect("archive reported");
    assert!(archived.deleted);
    let merged = records
        .iter()
        .find(|r| r.id == survivor)
        .expect("survivor pulled");
    assert_eq!(merged.merged_ids, vec![ids[5].clone(), ids[6].clone()]);
    assert!(since.contains_key(ARCHIVED_STREAM));

    // The next poll does not report the archive again (outside the look-back window).
    let again = poll(&conn, &mut since, Duration::ZERO).await;
    assert!(again.iter().all(|r| r.id != ids[3]));
}

async fn an_idle_poll_costs_one_search_call_between_archive_sweeps(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    sandbox.seed_contacts(10, 5);
    let conn = connector(&served, &sandbox, v, |_| {})
        .with_archive_sweep_interval(Duration::from_secs(3600));
    let mut since = Cursors::new();
    poll(&conn, &mut since, Duration::from_secs(60)).await;
    assert_eq!(
        sandbox.counters().get(&list(v)),
        1,
        "the first poll sweeps archives once"
    );
    sandbox.counters().reset();
    poll(&conn, &mut since, Duration::from_secs(60)).await;
    assert_eq!(sandbox.counters().total(), 1);
    assert_eq!(sandbox.counters().get(&search(v)), 1);
}

async fn a_batch_of_100_creates_with_3_invalid_emails_yields_97_successes_and_3_permanent_failures(
    v: ApiVersion,
) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let conn = connector(&served, &sandbox, v, |_| {});
    let bad = [17usize, 42, 88];
    let writes: Vec<Write> = (0..100)
        .map(|i| {
            let email = if bad.contains(&i) {
                format!("not-an-email-{i}")
            } else {
                format!("person{i}@example.com")
            };
            upsert(
                i as i64,
                &email,
                &[("firstname", "Pat"), ("lifecyclestage", "lead")],
            )
        })
        .collect();

    let outcomes = conn.apply(writes.clone()).await.unwrap();

    assert_eq!(outcomes.len(), 100);
    assert_eq!(
        sandbox
            .counters()
            .get(&endpoint(v, "POST", "objects", "/contacts/batch/upsert")),
        1
    );
    let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
    assert_eq!(ok, 97);
    for o in &outcomes {
        match &o.result {
            Ok(written) => {
                assert!(written.created);
                let stored = sandbox.get(&written.id).unwrap();
                assert_eq!(
                    stored.properties["email"],
                    format!("person{}@example.com", o.key)
                );
            }
            Err(err) => {
                assert!(bad.contains(&(o.key as usize)));
                assert_eq!(err.class(), ErrorClass::Permanent);
                assert_eq!(err.api().code.as_deref(), Some("INVALID_EMAIL"));
                assert_eq!(
                    err.api().message,
                    format!("Email address not-an-email-{} is invalid", o.key)
                );
                assert_eq!(err.api().fields, vec!["email".to_string()]);
            }
        }
    }
    // Creates are upserts: sending the same batch again creates nothing.
    let again = conn.apply(writes).await.unwrap();
    assert_eq!(
        again
            .iter()
            .filter(|o| matches!(&o.result, Ok(w) if !w.created))
            .count(),
        97
    );
    assert_eq!(sandbox.count(), 97);
}

async fn an_update_to_an_email_another_contact_has_fails_alone_and_names_the_existing_id(
    v: ApiVersion,
) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(5, 9);
    let taken = sandbox.get(&ids[0]).unwrap().properties["email"].clone();
    let conn = connector(&served, &sandbox, v, |_| {});
    let writes = vec![
        update(1, &ids[1], &[("city", "Oslo")]),
        update(2, &ids[2], &[("email", taken.as_str())]),
        update(3, &ids[3], &[("lifecyclestage", "Not a stage")]),
        update(4, "999999", &[("city", "Nowhere")]),
        Write {
            key: 5,
            object: ObjectType::HubSpotContact,
            op: WriteOp::Delete { id: ids[4].clone() },
            fields: BTreeMap::new(),
        },
    ];
    let outcomes = conn.apply(writes).await.unwrap();
    let by_key: HashMap<i64, _> = outcomes.iter().map(|o| (o.key, &o.result)).collect();
    assert!(by_key[&1].is_ok());
    let conflict = by_key[&2].as_ref().unwrap_err();
    assert_eq!(conflict.class(), ErrorClass::Permanent);
    assert_eq!(existing_id(conflict.api()), Some(ids[0].clone()));
    let option = by_key[&3].as_ref().unwrap_err();
    assert_eq!(option.api().code.as_deref(), Some("INVALID_OPTION"));
    let missing = by_key[&4].as_ref().unwrap_err();
    assert_eq!(missing.api().code.as_deref(), Some("OBJECT_NOT_FOUND"));
    assert!(by_key[&5].is_ok());
    assert!(sandbox.get(&ids[4]).is_none());
    assert_eq!(sandbox.get(&ids[1]).unwrap().properties["city"], "Oslo");
}

async fn a_storm_of_429s_with_retry_after_loses_no_page_and_never_exceeds_the_burst(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions {
        requests_per_10s: Some(60),
        ..SandboxOptions::default()
    })
    .await;
    let ids = sandbox.seed_contacts(600, 11);
    sandbox.set_faults(Faults {
        rate_limited: 0.5,
        retry_after_secs: 1,
        ..Faults::default()
    });
    let conn = connector(&served, &sandbox, v, |c| c.requests_per_10s = 60);
    let mut scanned = Vec::new();
    let mut resume: Option<String> = None;
    loop {
        let page = conn
            .scan(ObjectType::HubSpotContact, resume.as_deref())
            .await
            .unwrap();
        scanned.extend(page.records.into_iter().map(|r| r.id));
        match page.next {
            Some(next) => resume = Some(next),
            None => break,
        }
    }
    assert_eq!(scanned, ids, "every page, in order, exactly once");
    assert!(sandbox.counters().status(429) > 0, "the storm happened");
    assert_eq!(
        sandbox.limit_hits().ten_secondly,
        0,
        "the real limit was never hit"
    );
    assert!(sandbox.max_in_window(Duration::from_secs(10), false) <= 60);
}

async fn transient_faults_are_retried_until_every_record_is_pulled_once(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(1_000, 13);
    sandbox.set_faults(Faults {
        server_error: 0.3,
        drop_connection: 0.05,
        malformed_body: 0.05,
        truncated_body: 0.05,
        latency: Duration::from_millis(1),
        ..Faults::default()
    });
    let conn = connector(&served, &sandbox, v, |_| {});
    let records = poll(&conn, &mut Cursors::new(), Duration::from_secs(60)).await;
    let fetched = conn.fetch(ObjectType::HubSpotContact, &ids).await.unwrap();
    assert_eq!(fetched.records.len(), 1_000);
    let pulled: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(records.len(), 1_000);
    assert!(ids.iter().all(|id| pulled.contains(id.as_str())));
    assert!(sandbox.counters().status(500) > 0);
}

async fn a_full_scan_pages_by_100_and_resumes_from_a_saved_token(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(250, 2);
    let conn = connector(&served, &sandbox, v, |_| {});
    let first = conn.scan(ObjectType::HubSpotContact, None).await.unwrap();
    assert_eq!(first.records.len(), 100);
    let token = first.next.clone().unwrap();
    // A restart: a new connector resumes from the stored token.
    let conn = connector(&served, &sandbox, v, |_| {});
    let second = conn
        .scan(ObjectType::HubSpotContact, Some(&token))
        .await
        .unwrap();
    let third = conn
        .scan(ObjectType::HubSpotContact, second.next.as_deref())
        .await
        .unwrap();
    assert_eq!(third.next, None);
    let all: Vec<String> = [first, second, third]
        .into_iter()
        .flat_map(|p| p.records.into_iter().map(|r| r.id))
        .collect();
    assert_eq!(all, ids);
    assert_eq!(sandbox.counters().get(&list(v)), 3);
}

async fn reads_by_id_and_by_email_go_100_per_call_and_leave_out_what_does_not_exist(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(150, 4);
    let conn = connector(&served, &sandbox, v, |_| {});
    let mut wanted = ids.clone();
    wanted.push("424242".into());
    let fetched = conn
        .fetch(ObjectType::HubSpotContact, &wanted)
        .await
        .unwrap();
    assert_eq!(fetched.records.len(), 150);
    assert_eq!(
        sandbox
            .counters()
            .get(&endpoint(v, "POST", "objects", "/contacts/batch/read")),
        2
    );

    let email = sandbox.get(&ids[7]).unwrap().properties["email"].to_uppercase();
    let found = conn
        .find_by_email(&[email, "nobody@example.com".into()])
        .await
        .unwrap();
    assert_eq!(found.records.len(), 1);
    assert_eq!(found.records[0].id, ids[7]);
}

async fn property_definitions_describe_types_and_enumeration_options(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let conn = connector(&served, &sandbox, v, |_| {});
    let fields = conn.describe(ObjectType::HubSpotContact).await.unwrap();
    let by_name: HashMap<&str, _> = fields.iter().map(|f| (f.name.as_str(), f)).collect();
    assert_eq!(by_name["email"].kind, FieldKind::Email);
    assert!(by_name["email"].unique);
    assert_eq!(by_name["lifecyclestage"].kind, FieldKind::Enumeration);
    assert!(
        by_name["lifecyclestage"]
            .options
            .contains(&"marketingqualifiedlead".to_string())
    );
    assert_eq!(by_name["lastmodifieddate"].kind, FieldKind::DateTime);
    assert!(by_name["lastmodifieddate"].read_only);
    assert_eq!(by_name["lifecyclestage"].api_type, "enumeration");
    assert!(by_name["email"].upsert_key);
}

fn oauth_sandbox(lifetime: Duration) -> SandboxOptions {
    SandboxOptions {
        oauth: Some(SandboxOAuth {
            client_id: "client-1".into(),
            client_secret: "client-secret-1".into(),
            refresh_token: "na1-refresh-secret".into(),
            access_token_lifetime: lifetime,
        }),
        ..SandboxOptions::default()
    }
}

fn oauth_connector(served: &Served, sandbox: &HubSpotSandbox, v: ApiVersion) -> HubSpotConnector {
    connector(served, sandbox, v, |c| {
        c.auth = HubSpotAuth::OAuth {
            token_url: format!("{}/oauth/v1/token", served.url()),
            client_id: Secret::new("client-1"),
            client_secret: Secret::new("client-secret-1"),
            refresh_token: Secret::new("na1-refresh-secret"),
        }
    })
}

async fn an_expired_oauth_token_is_refreshed_once_and_the_call_succeeds(v: ApiVersion) {
    let (sandbox, served) = start(oauth_sandbox(Duration::from_secs(1800))).await;
    sandbox.seed_contacts(5, 1);
    let conn = oauth_connector(&served, &sandbox, v);
    conn.scan(ObjectType::HubSpotContact, None).await.unwrap();
    assert_eq!(sandbox.oauth_refreshes(), 1);

    sandbox.expire_access_tokens();
    let page = conn.scan(ObjectType::HubSpotContact, None).await.unwrap();

    assert_eq!(page.records.len(), 5);
    assert_eq!(sandbox.oauth_refreshes(), 2);
    assert_eq!(sandbox.counters().status(401), 1);
}

async fn oauth_tokens_are_refreshed_ahead_of_their_expiry(v: ApiVersion) {
    let (sandbox, served) = start(oauth_sandbox(Duration::from_secs(2))).await;
    let conn = oauth_connector(&served, &sandbox, v);
    conn.scan(ObjectType::HubSpotContact, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    conn.scan(ObjectType::HubSpotContact, None).await.unwrap();
    assert_eq!(sandbox.oauth_refreshes(), 2);
    assert_eq!(sandbox.counters().status(401), 0);
}

async fn a_refused_token_is_fatal_and_never_appears_in_the_error(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let secret = "pat-na1-wrong-token-that-must-not-leak";
    let conn = connector(&served, &sandbox, v, |c| {
        c.auth = HubSpotAuth::Token(Secret::new(secret))
    });
    let err = conn
        .scan(ObjectType::HubSpotContact, None)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert_eq!(err.api().status, Some(401));
    assert_eq!(err.api().code.as_deref(), Some("INVALID_AUTHENTICATION"));
    assert!(!format!("{err} {err:?} {conn:?}").contains(secret));

    let (sandbox, served) = start(oauth_sandbox(Duration::from_secs(60))).await;
    let conn = connector(&served, &sandbox, v, |c| {
        c.auth = HubSpotAuth::OAuth {
            token_url: format!("{}/oauth/v1/token", served.url()),
            client_id: Secret::new("client-1"),
            client_secret: Secret::new("client-secret-1"),
            refresh_token: Secret::new(secret),
        }
    });
    let err = conn
        .scan(ObjectType::HubSpotContact, None)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert_eq!(err.api().code.as_deref(), Some("BAD_REFRESH_TOKEN"));
    assert!(!format!("{err} {err:?} {conn:?}").contains(secret));
}

async fn rate_limit_headers_report_the_daily_quota(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions {
        requests_per_10s: Some(100),
        daily_limit: Some(1_000),
        ..SandboxOptions::default()
    })
    .await;
    let conn = connector(&served, &sandbox, v, |_| {});
    conn.scan(ObjectType::HubSpotContact, None).await.unwrap();
    conn.scan(ObjectType::HubSpotContact, None).await.unwrap();
    let quota = conn.quota().unwrap();
    assert_eq!((quota.used, quota.limit), (2, 1_000));
}

async fn a_write_hidden_by_search_index_lag_is_pulled_once_the_index_catches_up(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions {
        search_index_lag: Duration::from_millis(300),
        ..SandboxOptions::default()
    })
    .await;
    let ids = sandbox.seed_contacts(5, 1);
    let conn = connector(&served, &sandbox, v, |_| {});
    let mut since = Cursors::new();
    // Seeded contacts are indexed after the lag too.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        poll(&conn, &mut since, Duration::from_secs(60)).await.len(),
        5
    );

    sandbox.edit(&ids[2], &[("city", "Lagging")]).unwrap();
    let early = poll(&conn, &mut since, Duration::from_secs(60)).await;
    assert!(
        early
            .iter()
            .all(|r| r.fields.get("city") != Some(&Value::String("Lagging".into())))
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    let late = poll(&conn, &mut since, Duration::from_secs(60)).await;
    let found = late
        .iter()
        .find(|r| r.id == ids[2])
        .expect("pulled after the lag");
    assert_eq!(found.fields["city"], Value::String("Lagging".into()));
}

async fn a_whole_batch_refused_for_one_bad_record_is_split_until_the_bad_ones_stand_alone(
    v: ApiVersion,
) {
    let (sandbox, served) = start(SandboxOptions {
        atomic_batches: true,
        ..SandboxOptions::default()
    })
    .await;
    let conn = connector(&served, &sandbox, v, |_| {});
    let bad = [17usize, 42, 88];
    let writes: Vec<Write> = (0..100)
        .map(|i| {
            let email = if bad.contains(&i) {
                format!("not-an-email-{i}")
            } else {
                format!("person{i}@example.com")
            };
            upsert(i as i64, &email, &[("firstname", "Pat")])
        })
        .collect();

    let outcomes = conn.apply(writes).await.unwrap();

    assert_eq!(outcomes.iter().filter(|o| o.result.is_ok()).count(), 97);
    for o in outcomes.iter().filter(|o| o.result.is_err()) {
        let err = o.result.as_ref().unwrap_err();
        assert!(bad.contains(&(o.key as usize)));
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert_eq!(err.api().code.as_deref(), Some("INVALID_EMAIL"));
        assert_eq!(
            err.api().message,
            format!("Email address not-an-email-{} is invalid", o.key)
        );
    }
    assert_eq!(sandbox.count(), 97);
    let calls = sandbox
        .counters()
        .get(&endpoint(v, "POST", "objects", "/contacts/batch/upsert"));
    assert!(calls <= 40, "{calls} calls to isolate 3 bad records");
}

async fn objects_and_associations_the_client_does_not_read_are_refused_by_name(v: ApiVersion) {
    let build = |object: ObjectType, fields: &[&str]| {
        let mut config =
            HubSpotConfig::new("http://127.0.0.1:1", HubSpotAuth::Token(Secret::new("t")));
        config.api_version = v;
        config
            .objects
            .insert(object, fields.iter().map(|f| f.to_string()).collect());
        HubSpotConnector::new(config, HttpClient::new(&HttpOptions::default()).unwrap())
            .map_err(Box::new)
    };
    let err = build(ObjectType::SalesforceAccount, &[]).err().unwrap();
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert!(
        err.api().message.contains("Account is a Salesforce object"),
        "{err}"
    );
    let err = build(ObjectType::HubSpotCompany, &["@contacts"])
        .err()
        .unwrap();
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert!(err.api().message.contains("`@contacts`"), "{err}");
    // Every HubSpot object is supported now; one the engine did not configure is refused.
    let contacts_only = build(ObjectType::HubSpotContact, &["city"]).unwrap();
    let err = contacts_only
        .scan(ObjectType::HubSpotDeal, None)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert!(
        err.api().message.contains("not configured to read deals"),
        "{err}"
    );
}

async fn a_spent_daily_allowance_is_not_waited_out_inside_a_call(v: ApiVersion) {
    let (sandbox, served) = start(SandboxOptions {
        daily_limit: Some(1),
        ..SandboxOptions::default()
    })
    .await;
    let policy = |c: &mut HubSpotConfig| {
        c.retry = RetryPolicy {
            max_elapsed: Duration::from_secs(1),
            ..quick_retry()
        }
    };
    // Another process spends the day's allowance.
    connector(&served, &sandbox, v, policy)
        .scan(ObjectType::HubSpotContact, None)
        .await
        .unwrap();
    let conn = connector(&served, &sandbox, v, policy);
    let before = sandbox.counters().total();
    let err = conn
        .scan(ObjectType::HubSpotContact, None)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::RateLimited);
    assert_eq!(err.api().code.as_deref(), Some("DAILY"));
    assert!(err.retry_after().is_some_and(|w| w > Duration::ZERO));
    assert_eq!(sandbox.counters().total() - before, 1, "not retried");
    // Until midnight every call fails at once, without a request.
    let again = conn
        .scan(ObjectType::HubSpotContact, None)
        .await
        .unwrap_err();
    assert_eq!(again.api().code.as_deref(), Some("DAILY"));
    assert_eq!(sandbox.counters().total() - before, 1);
    assert_eq!(conn.calls(), 1);
}

async fn a_poll_whose_look_back_page_ends_where_the_last_poll_ended_still_reads_what_follows(
    v: ApiVersion,
) {
    let (sandbox, served) = start(SandboxOptions::default()).await;
    let ids = sandbox.seed_contacts(201, 3);
    let now = chrono::Utc::now().timestamp_millis();
    for (i, id) in ids.iter().take(199).enumerate() {
        sandbox
            .edit_at(id, &[("city", "Recent")], now - 30_000 + i as i64 * 100)
            .unwrap();
    }
    let conn = connector(&served, &sandbox, v, |_| {});
    let lookback = Duration::from_secs(60);
    let mut since = Cursors::new();
    assert_eq!(poll(&conn, &mut since, lookback).await.len(), 201);
    assert_eq!(since[STREAM].id, ids[198]);
    // 199 records in the look-back and two new ones: the first page is full and ends
    // exactly where the last poll ended.
    sandbox
        .edit_burst(&ids[199..], |_| vec![("city".into(), "New".into())])
        .unwrap();
    let records = poll(&conn, &mut since, lookback).await;
    for id in &ids[199..] {
        assert!(records.iter().any(|r| &r.id == id), "{id} was not pulled");
    }
}

per_version! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)] a_burst_of_12000_edits_among_25000_contacts_is_pulled_exactly_once_across_the_10000_cap,
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)] a_burst_is_pulled_exactly_once_even_when_search_honours_only_one_sort_rule,
    #[tokio::test] a_contact_that_becomes_visible_with_a_timestamp_older_than_the_cursor_is_still_pulled,
    #[tokio::test] idle_polls_stop_rereading_a_burst_once_a_poll_has_started_a_look_back_after_it,
    #[tokio::test] pulled_records_carry_the_configured_properties_and_the_metadata_typed,
    #[tokio::test] archived_and_merged_contacts_are_reported_to_the_engine,
    #[tokio::test] an_idle_poll_costs_one_search_call_between_archive_sweeps,
    #[tokio::test] a_batch_of_100_creates_with_3_invalid_emails_yields_97_successes_and_3_permanent_failures,
    #[tokio::test] an_update_to_an_email_another_contact_has_fails_alone_and_names_the_existing_id,
    #[tokio::test] a_storm_of_429s_with_retry_after_loses_no_page_and_never_exceeds_the_burst,
    #[tokio::test] transient_faults_are_retried_until_every_record_is_pulled_once,
    #[tokio::test] a_full_scan_pages_by_100_and_resumes_from_a_saved_token,
    #[tokio::test] reads_by_id_and_by_email_go_100_per_call_and_leave_out_what_does_not_exist,
    #[tokio::test] property_definitions_describe_types_and_enumeration_options,
    #[tokio::test] an_expired_oauth_token_is_refreshed_once_and_the_call_succeeds,
    #[tokio::test] oauth_tokens_are_refreshed_ahead_of_their_expiry,
    #[tokio::test] a_refused_token_is_fatal_and_never_appears_in_the_error,
    #[tokio::test] rate_limit_headers_report_the_daily_quota,
    #[tokio::test] a_write_hidden_by_search_index_lag_is_pulled_once_the_index_catches_up,
    #[tokio::test] a_whole_batch_refused_for_one_bad_record_is_split_until_the_bad_ones_stand_alone,
    #[tokio::test] objects_and_associations_the_client_does_not_read_are_refused_by_name,
    #[tokio::test(start_paused = true)] a_spent_daily_allowance_is_not_waited_out_inside_a_call,
    #[tokio::test] a_poll_whose_look_back_page_ends_where_the_last_poll_ended_still_reads_what_follows,
}
