//! The sync engine end to end: the real engine, a real SQLite file, both sandboxes over
//! HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{World, calls_to, disagreements};
use serde_json::json;
use truce::engine::Quiet;

/// `shared` people in both systems, plus `only` on each side alone (the benchmark's
/// population, numbered by index).
fn populate(world: &World, shared: usize, only: usize) {
    truce_sandbox::world::populate(&world.hubspot, &world.salesforce, shared, only).unwrap();
}

fn assert_converged(world: &World) {
    let settings = world.settings();
    let hubspot = world.hubspot_by_email();
    let salesforce = world.salesforce_by_email();
    let mut problems = Vec::new();
    for (email, contacts) in &hubspot {
        if contacts.len() > 1 {
            problems.push(format!("{email}: {} HubSpot contacts", contacts.len()));
        }
    }
    for (email, records) in &salesforce {
        if records.len() > 1 {
            problems.push(format!("{email}: {} Salesforce records", records.len()));
        }
        let Some(contacts) = hubspot.get(email) else {
            problems.push(format!("{email}: in Salesforce, missing in HubSpot"));
            continue;
        };
        let (object, record) = &records[0];
        for d in disagreements(&settings, &contacts[0], object, record) {
            problems.push(format!("{email}: {d}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems, first ones:\n{}",
        problems.len(),
        problems[..problems.len().min(20)].join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_of_2000_and_2000_sharing_1000_emails_converges_without_duplicates() {
    let world = World::new().await;
    populate(&world, 1000, 1000);
    let mut engine = world.engine();
    let summary = engine.backfill(&Quiet, true).await.unwrap();
    assert_eq!(summary.scanned_hubspot, 2000);
    assert_eq!(summary.scanned_salesforce, 2000);
    // Both sides agree when the backfill ends, the Status Salesforce gave the Leads it
    // created included: they were read back within the backfill.
    assert_converged(&world);
    let created = world
        .hubspot
        .find_by_email("hs-only1002@example.com")
        .unwrap();
    assert_eq!(created.properties["hs_lead_status"], "NEW");
    // The echoes of the backfill's writes come back on the next polls, and move nothing.
    for _ in 0..2 {
        let cycle = engine.cycle().await.unwrap();
        assert_eq!(
            (cycle.written_hubspot, cycle.written_salesforce),
            (0, 0),
            "{cycle:?}"
        );
    }
    assert_converged(&world);
    // Qualified HubSpot-only contacts became Leads; unqualified ones did not.
    let salesforce = world.salesforce_by_email();
    assert!(
        salesforce.contains_key("hs-only1002@example.com"),
        "MQL created as a Lead"
    );
    assert!(
        !salesforce.contains_key("hs-only1000@example.com"),
        "subscriber not created"
    );
    // Salesforce-only leads now exist in HubSpot.
    assert_eq!(world.hubspot.count(), 3000);
}

/// A small settled world: `n` shared people, backfilled, echoes pulled.
async fn settled(n: usize) -> (World, truce::engine::Engine) {
    let world = World::new().await;
    populate(&world, n, 0);
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    engine.cycle().await.unwrap();
    engine.cycle().await.unwrap();
    (world, engine)
}

fn hubspot_id(world: &World, email: &str) -> String {
    world.hubspot.find_by_email(email).unwrap().id
}

fn lead_id(world: &World, email: &str) -> String {
    world
        .salesforce
        .find_by_email(email)
        .into_iter()
        .find(|(object, _)| object == "Lead")
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_propagate_within_one_cycle_and_echoes_do_not_ping_pong() {
    let (world, mut engine) = settled(20).await;
    let hs = hubspot_id(&world, "shared1@example.com");
    world
        .hubspot
        .edit(&hs, &[("firstname", "Marketing-Ada")])
        .unwrap();
    let lead = lead_id(&world, "shared2@example.com");
    world
        .salesforce
        .edit("Lead", &lead, json!({"FirstName": "Sales-Bob"}))
        .unwrap();
    let summary = engine.cycle().await.unwrap();
    assert_eq!(
        (summary.written_hubspot, summary.written_salesforce),
        (1, 1),
        "{summary:?}"
    );
    let lead1 = lead_id(&world, "shared1@example.com");
    assert_eq!(
        world.salesforce.get("Lead", &lead1).unwrap()["FirstName"],
        "Marketing-Ada"
    );
    let hs2 = world.hubspot.find_by_email("shared2@example.com").unwrap();
    assert_eq!(hs2.properties["firstname"], "Sales-Bob");

    // The echoes come back once, are recognised, and nothing is written again.
    world.hubspot.counters().reset();
    world.salesforce.counters().reset();
    for _ in 0..5 {
        let idle = engine.cycle().await.unwrap();
        assert_eq!(
            (idle.written_hubspot, idle.written_salesforce),
            (0, 0),
            "{idle:?}"
        );
    }
    let hubspot_calls = world.hubspot.counters().snapshot();
    assert!(
        hubspot_calls
            .keys()
            .all(|endpoint| !endpoint.contains("/batch/")),
        "only pulls expected, got {hubspot_calls:?}"
    );
    let salesforce_calls = world.salesforce.counters().snapshot();
    let composite = calls_to(&world.salesforce.counters(), "composite");
    assert_eq!(
        composite, 5,
        "one composite pull per idle cycle: {salesforce_calls:?}"
    );
    let history = engine
        .store()
        .reader()
        .history("shared1@example.com")
        .unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(e, truce_state::HistoryEntry::Change(c)
            if c.origin == truce_state::Origin::Echo && c.system == "salesforce")),
        "the echo is logged as such"
    );
    let quotas = engine.store().reader().quotas().unwrap();
    assert!(
        quotas
            .iter()
            .any(|q| q.system == "salesforce" && q.used > 0 && q.max > 0),
        "Salesforce usage is kept for `truce status`: {quotas:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_same_field_edited_on_both_sides_is_one_conflict_per_rule_decided_by_it() {
    let (world, mut engine) = settled(6).await;
    let logs = common::LogCapture::default();
    let _guard = logs.install();
    let email = "shared0@example.com";
    let hs = hubspot_id(&world, email);
    let lead = lead_id(&world, email);
    world
        .hubspot
        .edit(
            &hs,
            &[
                ("firstname", "H-first"),
                ("lastname", "H-last"),
                ("company", "H-company"),
                ("phone", "+1 555 1111"),
                ("jobtitle", "H-title"),
                ("hs_lead_status", "UNQUALIFIED"),
            ],
        )
        .unwrap();
    // Salesforce's edit is the later one, without waiting: its clock is set ahead. Salesforce
    // stamps whole seconds, so 1.5 s ahead is at least half a second later.
    world.salesforce.pin_clock(Some(
        chrono::Utc::now() + chrono::Duration::milliseconds(1500),
    ));
    world
        .salesforce
        .edit(
            "Lead",
            &lead,
            json!({
                "FirstName": "S-first", "LastName": "S-last", "Company": "S-company",
                "Phone": "+1 555 2222", "Title": "S-title", "Status": "Working - Contacted",
            }),
        )
        .unwrap();
    world.salesforce.pin_clock(None);
    let before = engine.store().reader().conflicts(0, None).unwrap().len();
    engine.cycle().await.unwrap();
    let conflicts = engine.store().reader().conflicts(0, None).unwrap();
    let new: Vec<_> = conflicts[before..].iter().collect();
    let winners: std::collections::BTreeMap<&str, &str> = new
        .iter()
        .map(|c| (c.field.as_str(), c.winner.as_str()))
        .collect();
    assert_eq!(new.len(), 6, "{new:#?}");
    assert_eq!(
        winners,
        [
            ("company", "hubspot"),
            ("firstname", "salesforce"),
            ("hs_lead_status", "salesforce"),
            ("jobtitle", "none"),
            ("lastname", "salesforce"),
            ("phone", "hubspot"),
        ]
        .into_iter()
        .collect()
    );
    let events = logs.on("truce::conflict", "WARN");
    assert_eq!(events.len(), 6, "{events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e["email"] == email && e.contains_key("base_value"))
    );
    // The winners' values stand on both sides.
    engine.cycle().await.unwrap();
    let contact = world.hubspot.get(&hs).unwrap().properties;
    let record = world.salesforce.get("Lead", &lead).unwrap();
    assert_eq!(contact["firstname"], "S-first");
    assert_eq!(record["Company"], "H-company");
    assert_eq!(record["Phone"], "+1 555 1111");
    assert_eq!(contact["lastname"], "S-last");
    assert_eq!(contact["hs_lead_status"], "IN_PROGRESS");
    assert_eq!(
        (contact["jobtitle"].as_str(), record["Title"].as_str()),
        ("H-title", Some("S-title"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converted_lead_moves_its_link_to_the_contact_and_later_edits_land_there() {
    let (world, mut engine) = settled(5).await;
    let email = "shared3@example.com";
    let lead = lead_id(&world, email);
    let (contact, _account) = world.salesforce.convert_lead(&lead).unwrap();
    engine.cycle().await.unwrap();
    let link = engine
        .store()
        .reader()
        .link_by_salesforce_id("contacts", &contact)
        .unwrap()
        .expect("the link moved to the Contact");
    assert_eq!(link.salesforce_object.as_deref(), Some("Contact"));
    let hs = hubspot_id(&world, email);
    world
        .hubspot
        .edit(&hs, &[("firstname", "After-Conversion")])
        .unwrap();
    engine.cycle().await.unwrap();
    assert_eq!(
        world.salesforce.get("Contact", &contact).unwrap()["FirstName"],
        "After-Conversion"
    );
    assert_ne!(
        world.salesforce.get("Lead", &lead).unwrap()["FirstName"],
        "After-Conversion",
        "a converted lead is never written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_merge_leaves_one_link_on_the_survivor() {
    let (world, mut engine) = settled(5).await;
    let linked = hubspot_id(&world, "shared4@example.com");
    let other = world
        .hubspot
        .create_contact(&[("email", "other4@example.com"), ("firstname", "Dup")])
        .unwrap();
    engine.cycle().await.unwrap();
    let survivor = world.hubspot.merge(&linked, &other).unwrap();
    engine.cycle().await.unwrap();
    let reader = engine.store().reader();
    let link = reader
        .link_by_hubspot_id("contacts", &survivor)
        .unwrap()
        .expect("survivor linked");
    assert!(
        reader
            .link_by_hubspot_id("contacts", &linked)
            .unwrap()
            .is_none()
    );
    assert_eq!(link.email, "shared4@example.com");
    let active: Vec<_> = reader
        .links_by_email("contacts", "shared4@example.com")
        .unwrap()
        .into_iter()
        .filter(|l| l.state == truce_state::LinkState::Active)
        .collect();
    assert_eq!(active.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_record_salesforce_rejects_is_quarantined_while_its_batch_syncs_and_syncs_once_fixed() {
    let world = World::new().await;
    let logs = common::LogCapture::default();
    let _guard = logs.install();
    for i in 0..10 {
        let email = if i == 4 {
            "bad@example.c".to_string()
        } else {
            format!("mql{i}@example.com")
        };
        world
            .hubspot
            .create_contact(&[
                ("email", email.as_str()),
                ("lastname", "Qualified"),
                ("lifecyclestage", "marketingqualifiedlead"),
            ])
            .unwrap();
    }
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    assert_eq!(
        world.salesforce.count("Lead"),
        9,
        "the rest of the batch synced"
    );
    let quarantined = engine.store().reader().quarantined(false).unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:#?}");
    assert_eq!(quarantined[0].error_code, "INVALID_EMAIL_ADDRESS");
    assert!(
        quarantined[0].message.contains("bad@example.c"),
        "{}",
        quarantined[0].message
    );
    let events = logs.on("truce::quarantine", "WARN");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["system"], "salesforce");
    // Fixed in HubSpot: the next cycle creates it.
    let hs = hubspot_id(&world, "bad@example.c");
    world
        .hubspot
        .edit(&hs, &[("email", "fixed@example.com")])
        .unwrap();
    engine.cycle().await.unwrap();
    assert_eq!(world.salesforce.find_by_email("fixed@example.com").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_on_both_sides_it_converges_without_losing_or_duplicating_anything() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    use truce_sandbox::Faults;
    let world = World::new().await;
    populate(&world, 150, 75);
    let faults = Faults {
        server_error: 0.10,
        rate_limited: 0.05,
        retry_after_secs: 0,
        drop_connection: 0.02,
        malformed_body: 0.01,
        ..Faults::default()
    };
    world.hubspot.set_faults(faults.clone());
    world
        .salesforce
        .set_faults(truce_sandbox::salesforce::SalesforceFaults {
            faults,
            lock_row: 0.02,
        });
    // The engine's clock runs ahead ten minutes per cycle, so writes waiting out their
    // retry backoff come due without the test waiting.
    let offset = Arc::new(AtomicI64::new(0));
    let clock_offset = offset.clone();
    let clock: truce::engine::Clock = Arc::new(move || {
        chrono::Utc::now().timestamp_millis() + clock_offset.load(Ordering::SeqCst)
    });
    let mut engine = world.engine_with_clock(clock);
    let mut backfilled = false;
    for _ in 0..5 {
        if engine.backfill(&Quiet, true).await.is_ok() {
            backfilled = true;
            break;
        }
    }
    assert!(backfilled, "the backfill resumes until it completes");
    let mut quiet_cycles = 0;
    for _ in 0..40 {
        offset.fetch_add(600_000, Ordering::SeqCst);
        match engine.cycle().await {
            Ok(s)
                if s.written_hubspot + s.written_salesforce + s.retrying == 0
                    && engine.store().reader().outbox_depth().unwrap() == 0 =>
            {
                quiet_cycles += 1;
                if quiet_cycles == 2 {
                    break;
                }
            }
            _ => quiet_cycles = 0,
        }
    }
    assert_eq!(quiet_cycles, 2, "settled under faults");
    assert!(world.hubspot.counters().status(503) + world.hubspot.counters().status(500) > 0);
    assert!(
        engine
            .store()
            .reader()
            .quarantined(false)
            .unwrap()
            .is_empty()
    );
    assert_converged(&world);
    assert_eq!(
        world.hubspot.count(),
        300,
        "every Salesforce-only lead reached HubSpot once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_email_keeps_the_link_and_flows_to_the_other_side() {
    let (world, mut engine) = settled(3).await;
    let hs = hubspot_id(&world, "shared1@example.com");
    let lead = lead_id(&world, "shared1@example.com");
    world
        .hubspot
        .edit(&hs, &[("email", "renamed1@example.com")])
        .unwrap();
    engine.cycle().await.unwrap();
    let link = engine
        .store()
        .reader()
        .link_by_hubspot_id("contacts", &hs)
        .unwrap()
        .unwrap();
    assert_eq!(link.salesforce_id.as_deref(), Some(lead.as_str()));
    assert_eq!(link.email, "renamed1@example.com");
    assert_eq!(
        world.salesforce.get("Lead", &lead).unwrap()["Email"],
        "renamed1@example.com"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_unlinks_by_default_and_keeps_the_other_side() {
    let (world, engine) = settled(3).await;
    let hs = hubspot_id(&world, "shared2@example.com");
    let lead = lead_id(&world, "shared2@example.com");
    world.hubspot.archive(&hs).unwrap();
    // Archives are found by a sweep of the archived list, at most every few minutes; a
    // fresh engine sweeps on its first poll.
    let mut engine2 = {
        drop(engine);
        world.engine()
    };
    engine2.cycle().await.unwrap();
    let reader = engine2.store().reader();
    assert!(
        reader
            .link_by_hubspot_id("contacts", &hs)
            .unwrap()
            .is_none(),
        "unlinked"
    );
    assert!(
        world.salesforce.get("Lead", &lead).is_some(),
        "the Lead stays"
    );
    let _ = engine2.cycle().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_propagate_when_configured() {
    let world = World::with_options(
        Default::default(),
        Default::default(),
        "deletes = \"propagate\"",
    )
    .await;
    populate(&world, 3, 0);
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    engine.cycle().await.unwrap();
    let hs = hubspot_id(&world, "shared0@example.com");
    let lead = lead_id(&world, "shared0@example.com");
    world.salesforce.delete("Lead", &lead).unwrap();
    engine.cycle().await.unwrap();
    engine.cycle().await.unwrap();
    let _ = hs;
    assert!(
        world.hubspot.find_by_email("shared0@example.com").is_none(),
        "the HubSpot contact is archived too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_salesforce_records_with_one_email_are_reported_not_guessed() {
    let world = World::new().await;
    world
        .hubspot
        .create_contact(&[("email", "twin@example.com"), ("firstname", "Twin")])
        .unwrap();
    for last in ["One", "Two"] {
        world
            .salesforce
            .create(
                "Lead",
                json!({"LastName": last, "Company": "Co", "Email": "twin@example.com"}),
            )
            .unwrap();
    }
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    let reader = engine.store().reader();
    assert!(
        reader
            .link_by_email("contacts", "twin@example.com")
            .unwrap()
            .is_none(),
        "not linked"
    );
    let duplicates = reader.duplicates().unwrap();
    assert_eq!(duplicates.len(), 1);
    assert_eq!(duplicates[0].record_ids.len(), 2);
    assert_eq!(world.hubspot.count(), 1, "nothing created from either twin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_create_whose_answer_was_lost_is_adopted_and_a_first_send_costs_no_lookup() {
    let world = World::new().await;
    populate(&world, 0, 12);
    let mut engine = world.engine();
    // Plan without sending; then make one create look as if it had been sent and had
    // landed in Salesforce just before the process died, its answer never recorded.
    engine.backfill(&Quiet, false).await.unwrap();
    let creates: Vec<_> = engine
        .store()
        .reader()
        .due("salesforce", i64::MAX, 100)
        .unwrap()
        .into_iter()
        .filter(|item| item.write.op == truce_state::WriteOp::Create)
        .collect();
    assert!(creates.len() >= 3, "{} creates planned", creates.len());
    let lost = &creates[0];
    let email = lost.write.fields["Email"].as_str().unwrap().to_string();
    engine
        .store_mut()
        .transaction(|tx| tx.mark_sent(&[lost.id], 1))
        .unwrap();
    let landed = world
        .salesforce
        .create(
            "Lead",
            json!({"LastName": "Landed", "Company": "Hub Co", "Email": email}),
        )
        .unwrap();

    engine.backfill(&Quiet, true).await.unwrap();
    let by_email = world.salesforce_by_email();
    for item in &creates {
        let email = item.write.fields["Email"].as_str().unwrap().to_lowercase();
        assert_eq!(
            by_email[&email].len(),
            1,
            "{email} exists once in Salesforce"
        );
    }
    let link = engine
        .store()
        .reader()
        .link_by_email("contacts", &email)
        .unwrap()
        .unwrap();
    assert_eq!(link.salesforce_id.as_deref(), Some(landed.as_str()));

    // A create never sent before goes out without a lookup: one pull, one write, and one
    // read of the new Lead (Salesforce fills its Status), besides the describe that told.
    engine.cycle().await.unwrap();
    world
        .hubspot
        .create_contact(&[
            ("email", "fresh@example.com"),
            ("firstname", "Fresh"),
            ("lifecyclestage", "marketingqualifiedlead"),
        ])
        .unwrap();
    world.salesforce.counters().reset();
    let summary = engine.cycle().await.unwrap();
    assert_eq!(summary.written_salesforce, 1, "{summary:?}");
    let counters = world.salesforce.counters();
    assert_eq!(
        (
            calls_to(&counters, "POST /services/data/{v}/composite"),
            calls_to(&counters, "query"),
        ),
        (3, 0),
        "{:?}",
        counters.snapshot()
    );
    assert_eq!(
        calls_to(
            &counters,
            "POST /services/data/{v}/composite/sobjects/{object}"
        ),
        1,
        "{:?}",
        counters.snapshot()
    );
    assert_eq!(world.salesforce_by_email()["fresh@example.com"].len(), 1);
    // The Status Salesforce gave the new Lead reached HubSpot in the same cycle.
    let fresh = world.hubspot.find_by_email("fresh@example.com").unwrap();
    assert_eq!(fresh.properties["hs_lead_status"], "NEW");
}
