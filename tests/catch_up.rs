//! Catching up after a backfill, end to end: the first polls read the backfill's writes by
//! the list road when it is the faster one, reach idle in a known number of calls, and miss
//! no edit a person made while the backfill wrote or right after it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;

use common::{LogCapture, World, calls_to};
use truce::engine::Progress;
use truce_connectors::{ObjectType, System};
use truce_sandbox::hubspot::HubSpotSandbox;

/// HubSpot Professional's budgets in truce's config (the sandbox enforces none here), so
/// the roads are weighed as on a real portal.
fn professional(world: &World) {
    let text = std::fs::read_to_string(&world.config_path).unwrap();
    let text = text
        .replace("requests_per_10s = 2000", "requests_per_10s = 190")
        .replace(
            "search_requests_per_second = 100",
            "search_requests_per_second = 5",
        );
    assert!(text.contains("requests_per_10s = 190") && text.contains("= 5\n"));
    std::fs::write(&world.config_path, text).unwrap();
}

/// Edits one HubSpot contact the first time the backfill reports HubSpot writes settled
/// with more still to go: a person working while the backfill writes.
struct EditWhileWriting {
    hubspot: HubSpotSandbox,
    id: String,
    edited_at: Mutex<Option<(u64, u64)>>,
}

impl Progress for EditWhileWriting {
    fn scanned(&self, _: System, _: ObjectType, _: u64) {}
    fn phase(&self, _: &str) {}
    fn wrote(&self, system: System, done: u64, total: u64) {
        let mut edited = self.edited_at.lock().unwrap();
        if system == System::HubSpot && edited.is_none() && done < total {
            self.hubspot
                .edit(&self.id, &[("firstname", "During-Backfill")])
                .unwrap();
            *edited = Some((done, total));
        }
    }
}

fn hubspot_id(world: &World, email: &str) -> String {
    world.hubspot.find_by_email(email).unwrap().id
}

fn salesforce_first_name(world: &World, email: &str) -> String {
    let (object, id) = world.salesforce.find_by_email(email).remove(0);
    world.salesforce.get(&object, &id).unwrap()["FirstName"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn after_a_backfill_the_list_road_catches_up_and_no_edit_made_during_or_after_it_is_missed() {
    let world = World::new().await;
    professional(&world);
    // 1,500 shared people, 1,500 on each side alone: HubSpot ends with 4,500 contacts,
    // 1,500 of them created by the backfill.
    truce_sandbox::world::populate(&world.hubspot, &world.salesforce, 1_500, 1_500).unwrap();
    let during = hubspot_id(&world, "shared7@example.com");
    let progress = EditWhileWriting {
        hubspot: world.hubspot.clone(),
        id: during.clone(),
        edited_at: Mutex::new(None),
    };
    let mut engine = world.engine();
    engine.backfill(&progress, true).await.unwrap();
    let (done, total) = progress.edited_at.lock().unwrap().unwrap();
    assert!(
        done < total,
        "edited while {done} of {total} writes were settled"
    );
    assert_eq!(world.hubspot.count(), 4_500);
    // Right after the backfill, before the first poll.
    let after = hubspot_id(&world, "shared8@example.com");
    world
        .hubspot
        .edit(&after, &[("firstname", "After-Backfill")])
        .unwrap();

    let logs = LogCapture::default();
    let _guard = logs.install();
    let counters = world.hubspot.counters();
    counters.reset();
    let first = engine.cycle().await.unwrap();
    // The whole portal changed behind the cursor (seeded and written within the
    // look-back): 45 list calls beat paging 4,500 changes by search at 5 a second.
    let roads = logs.on("truce_connectors::hubspot::catch_up", "DEBUG");
    let road: Vec<_> = roads
        .iter()
        .filter(|e| e.get("message").map(String::as_str) == Some("HubSpot catch-up road"))
        .collect();
    assert_eq!(road.len(), 1, "{roads:?}");
    // The list wins while a call's round trip is under about 100 ms; the sandbox answers
    // a call sent alone in about 20 (a debug build sharing this thread with truce; 32-50
    // with four busy loops on two cores).
    assert_eq!(road[0]["road"], "list", "{}", road[0]["reason"]);
    assert_eq!(road[0]["records"], "4500");
    assert_eq!(road[0]["list_calls"], "45");
    assert!(road[0]["reason"].contains("the list is faster"));
    // 45 list pages and the archive sweep; the first search, the count and the search
    // after the list.
    assert_eq!(calls_to(&counters, "GET /crm/objects/2026-09/contacts"), 46);
    assert_eq!(calls_to(&counters, "/contacts/search"), 3);
    assert!(first.pulled_hubspot > 0);
    assert_eq!(
        salesforce_first_name(&world, "shared7@example.com"),
        "During-Backfill"
    );
    assert_eq!(
        salesforce_first_name(&world, "shared8@example.com"),
        "After-Backfill"
    );

    // The next cycles carry the echoes of what the first one wrote (the edits made
    // during and after the backfill) until one pulls and writes nothing.
    let mut cycles = 1;
    loop {
        let summary = engine.cycle().await.unwrap();
        cycles += 1;
        if summary.pulled_hubspot + summary.pulled_salesforce == 0
            && summary.written_hubspot + summary.written_salesforce == 0
        {
            break;
        }
        assert!(cycles < 5, "still busy after {cycles} cycles: {summary:?}");
    }
    // Once a poll has begun a look-back (2 s here) after the last write, polls are idle:
    // the one that begins after the look-back settles it, and the next two cost one
    // search each.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    engine.cycle().await.unwrap();
    for _ in 0..2 {
        counters.reset();
        let summary = engine.cycle().await.unwrap();
        assert_eq!(summary.pulled_hubspot + summary.written_salesforce, 0);
        assert_eq!(
            counters.snapshot().into_iter().collect::<Vec<_>>(),
            vec![("POST /crm/objects/2026-09/contacts/search".to_string(), 1)]
        );
    }
    assert_eq!(
        salesforce_first_name(&world, "shared7@example.com"),
        "During-Backfill"
    );
}
