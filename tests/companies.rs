//! Companies ↔ Accounts end to end: the real engine (or the real binary), a real SQLite
//! file, both sandboxes over HTTP on 127.0.0.1. Identity through people and by domain,
//! creates only where a synced record refers, a person's company both ways (the
//! association sweep for HubSpot's silent association changes), conflicts and quarantines
//! named by company, crash safety, bad input, and the reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::{LogCapture, World};
use serde_json::{Value, json};
use truce::engine::{Engine, Quiet};
use truce_sandbox::hubspot::ObjectType as HubSpotObject;
use truce_sandbox::world::{CompanyShapes, populate_companies};

/// A world syncing companies, with `companies` lines added to its `[companies]` table
/// (e.g. `match = "domain"`).
async fn world(companies: &str, extra_sync: &str) -> World {
    let world = World::revenue(&["companies"], extra_sync, "").await;
    if !companies.is_empty() {
        let text = std::fs::read_to_string(&world.config_path).unwrap();
        assert!(text.contains("\n[companies]\n"), "{text}");
        let text = text.replacen(
            "\n[companies]\n",
            &format!("\n[companies]\n{companies}\n"),
            1,
        );
        std::fs::write(&world.config_path, text).unwrap();
    }
    world
}

/// A clock the test moves (the association sweep's interval). Each reading is a
/// millisecond after the last, as on a real machine, where a write is never applied in the
/// same millisecond its record was pulled.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new() -> TestClock {
        TestClock(Arc::new(AtomicI64::new(
            chrono::Utc::now().timestamp_millis(),
        )))
    }

    fn clock(&self) -> truce::engine::Clock {
        let at = self.0.clone();
        Arc::new(move || at.fetch_add(1, Ordering::SeqCst))
    }

    fn advance(&self, by: Duration) {
        self.0
            .fetch_add(i64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

/// A company domain or Website as one key: host, lower-cased, without `www.`.
fn host(text: &str) -> String {
    let text = text.trim().to_lowercase();
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(&text);
    let host = rest.split('/').next().unwrap_or_default();
    host.strip_prefix("www.")
        .unwrap_or(host)
        .trim_end_matches('.')
        .to_string()
}

/// The same company held twice on one side: names or domains seen more than once.
fn duplicates(world: &World) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for company in world.hubspot.companies() {
        let p = &company.properties;
        for key in [p.get("name"), p.get("domain").map(|d| host(d)).as_ref()]
            .into_iter()
            .flatten()
        {
            *seen.entry(format!("hubspot {key}")).or_default() += 1;
        }
    }
    for id in world.salesforce.ids("Account") {
        let account = world.salesforce.get("Account", &id).unwrap();
        if account["IsDeleted"] == json!(true) {
            continue;
        }
        for key in [
            account["Name"].as_str().map(String::from),
            account["Website"].as_str().map(host),
        ]
        .into_iter()
        .flatten()
        {
            *seen.entry(format!("salesforce {key}")).or_default() += 1;
        }
    }
    for (key, n) in seen {
        if n > 1 {
            out.push(format!("{key}: {n} records"));
        }
    }
    out
}

fn live_accounts(world: &World) -> Vec<(String, Value)> {
    world
        .salesforce
        .ids("Account")
        .into_iter()
        .filter_map(|id| {
            let account = world.salesforce.get("Account", &id)?;
            (account["IsDeleted"] != json!(true)).then_some((id, account))
        })
        .collect()
}

/// The active company links: (HubSpot company, Account).
fn company_links(engine: &Engine) -> Vec<(String, String)> {
    let reader = engine.store().reader();
    reader
        .active_link_ids("companies")
        .unwrap()
        .into_iter()
        .filter_map(|id| {
            let link = reader.link(id).unwrap()?;
            Some((link.hubspot_id?, link.salesforce_id?))
        })
        .collect()
}

/// The HubSpot contact's primary company.
fn primary_company(world: &World, contact: &str) -> Option<String> {
    world
        .hubspot
        .associations(HubSpotObject::Contacts, contact, HubSpotObject::Companies)
        .into_iter()
        .find(|a| a.primary)
        .map(|a| a.to_id)
}

fn account_of(world: &World, contact: &str) -> Option<String> {
    world.salesforce.get("Contact", contact).unwrap()["AccountId"]
        .as_str()
        .map(String::from)
}

/// Backfill, then cycles until one writes nothing (at most `max`); the cycles it took.
async fn settle(engine: &mut Engine, max: usize) -> usize {
    engine.backfill(&Quiet, true).await.unwrap();
    for n in 1..=max {
        let cycle = engine.cycle().await.unwrap();
        if cycle.written_hubspot + cycle.written_salesforce + cycle.linked == 0 {
            return n;
        }
    }
    panic!("not settled after {max} cycles");
}

/// 2,000 companies and 1,500 Accounts: 1,000 shared through people, 200 only by domain.
const SHAPES: CompanyShapes = CompanyShapes {
    by_people: 1000,
    by_domain: 200,
    hubspot_only: 800,
    salesforce_only: 300,
};

async fn backfill_converges(matching: &str, expected_links: usize) {
    let world = world(&format!("match = \"{matching}\""), "").await;
    let seeded = populate_companies(&world.hubspot, &world.salesforce, SHAPES).unwrap();
    assert_eq!(world.hubspot.companies().len(), 2000);
    assert_eq!(world.salesforce.count("Account"), 1500);
    let mut engine = world.engine();
    let cycles = settle(&mut engine, 4).await;
    assert!(cycles <= 2, "{matching}: settled after {cycles} cycles");
    // Nothing created: every shared company was found, and nobody synced refers to a
    // company of one side only.
    assert_eq!(world.hubspot.companies().len(), 2000, "{matching}");
    assert_eq!(live_accounts(&world).len(), 1500, "{matching}");
    assert_eq!(duplicates(&world), Vec::<String>::new(), "{matching}");
    let reader = engine.store().reader();
    assert_eq!(reader.duplicates().unwrap().len(), 0, "{matching}");
    // Equal values spelt differently (domain against a Website URL) are no conflict.
    assert_eq!(reader.conflicts(0, None).unwrap().len(), 0, "{matching}");
    assert_eq!(reader.quarantined(false).unwrap().len(), 0, "{matching}");
    let links = company_links(&engine);
    assert_eq!(links.len(), expected_links, "{matching}");
    for (company, account) in &links {
        let company = world.hubspot.company(company).unwrap().properties;
        let account = world.salesforce.get("Account", account).unwrap();
        assert_eq!(
            account["Name"],
            json!(company["name"]),
            "{matching}: linked the wrong Account"
        );
        // Neither side rewritten for spelling: the URL stays a URL, the domain a domain.
        assert_eq!(
            account["Website"],
            json!(format!("https://www.{}/", company["domain"])),
            "{matching}"
        );
    }
    // The people still name the same company on both sides.
    for (i, (contact, sf_contact)) in seeded.people.iter().enumerate() {
        assert_eq!(
            primary_company(&world, contact),
            Some(seeded.hubspot[i].clone())
        );
        assert_eq!(
            account_of(&world, sf_contact),
            Some(seeded.salesforce[i].clone())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_of_2000_companies_links_through_people_without_duplicates() {
    backfill_converges("contacts", 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_of_2000_companies_links_by_domain_too_without_duplicates() {
    backfill_converges("domain", 1200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_whose_contacts_are_only_leads_makes_no_account() {
    let world = world("", "").await;
    let company = world
        .hubspot
        .create_company(&[("name", "Leadsonly Ltd"), ("domain", "leadsonly.example")])
        .unwrap();
    for (i, email) in ["new@leadsonly.example", "known@leadsonly.example"]
        .into_iter()
        .enumerate()
    {
        let contact = world
            .hubspot
            .create_contact(&[
                ("email", email),
                ("firstname", "Lee"),
                ("lastname", &format!("Ad{i}")),
                ("lifecyclestage", "marketingqualifiedlead"),
            ])
            .unwrap();
        world
            .hubspot
            .associate(
                HubSpotObject::Contacts,
                &contact,
                HubSpotObject::Companies,
                &company,
                true,
            )
            .unwrap();
    }
    world
        .salesforce
        .create(
            "Lead",
            json!({"LastName": "Ad1", "Company": "Leadsonly", "Email": "known@leadsonly.example"}),
        )
        .unwrap();
    let mut engine = world.engine();
    settle(&mut engine, 4).await;
    // Both people are Leads in Salesforce (one created, one matched), and no Account.
    assert_eq!(world.salesforce.count("Lead"), 2);
    assert_eq!(world.salesforce.count("Contact"), 0);
    assert_eq!(world.salesforce.count("Account"), 0);
    assert!(company_links(&engine).is_empty());
    assert_eq!(
        engine
            .store()
            .reader()
            .active_link_ids("contacts")
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_whose_contacts_are_synced_becomes_a_hubspot_company_associated_with_them() {
    let world = world("", "").await;
    let account = world
        .salesforce
        .create(
            "Account",
            json!({"Name": "Globex", "Website": "https://www.globex.example/", "BillingCity": "Springfield"}),
        )
        .unwrap();
    let mut contacts = Vec::new();
    for name in ["Hank", "Homer"] {
        contacts.push(
            world
                .salesforce
                .create(
                    "Contact",
                    json!({"LastName": name, "Email": format!("{}@globex.example", name.to_lowercase()),
                           "AccountId": account}),
                )
                .unwrap(),
        );
    }
    // An Account nobody syncs stays home.
    world
        .salesforce
        .create("Account", json!({"Name": "Nobody's Inc"}))
        .unwrap();
    let mut engine = world.engine();
    // The backfill creates the company beside the contacts it creates, and associates
    // them once both exist: the contacts are as truce created them, with no company.
    let backfill = engine.backfill(&Quiet, true).await.unwrap();
    assert_eq!(world.hubspot.companies().len(), 1);
    assert_eq!(world.hubspot.count(), 2);
    assert_eq!(backfill.to_hubspot.references_only, 2, "{backfill:?}");
    for _ in 0..2 {
        let cycle = engine.cycle().await.unwrap();
        assert_eq!(
            cycle.written_hubspot + cycle.written_salesforce,
            0,
            "{cycle:?}"
        );
    }
    let companies = world.hubspot.companies();
    assert_eq!(companies.len(), 1, "{companies:#?}");
    let company = &companies[0];
    assert_eq!(company.properties["name"], "Globex");
    assert_eq!(company.properties["domain"], "globex.example");
    assert_eq!(company.properties["city"], "Springfield");
    assert_eq!(company.properties["salesforce_account_id"], account);
    for name in ["hank", "homer"] {
        let contact = world
            .hubspot
            .find_by_email(&format!("{name}@globex.example"))
            .unwrap();
        assert_eq!(
            primary_company(&world, &contact.id),
            Some(company.id.clone()),
            "{name}"
        );
    }
    assert_eq!(
        company_links(&engine),
        [(company.id.clone(), account.clone())]
    );
    assert_eq!(live_accounts(&world).len(), 2, "no Account created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_made_in_hubspot_for_a_synced_contact_becomes_its_account() {
    let world = world("", "association_sweep = \"5m\"").await;
    let contact = world
        .hubspot
        .create_contact(&[("email", "ada@initech.example"), ("firstname", "Ada")])
        .unwrap();
    let sf_contact = world
        .salesforce
        .create(
            "Contact",
            json!({"LastName": "Lovelace", "Email": "ada@initech.example"}),
        )
        .unwrap();
    let clock = TestClock::new();
    let mut engine = world.engine_with_clock(clock.clock());
    settle(&mut engine, 4).await;
    assert_eq!(world.salesforce.count("Account"), 0);
    // Marketing makes the company and puts Ada in it: the contact's modified date does
    // not move, so only the sweep (or the company's own pull) can tell.
    let company = world
        .hubspot
        .create_company(&[("name", "Initech"), ("domain", "initech.example")])
        .unwrap();
    let modified = world.hubspot.get(&contact).unwrap().modified_ms;
    world
        .hubspot
        .associate(
            HubSpotObject::Contacts,
            &contact,
            HubSpotObject::Companies,
            &company,
            true,
        )
        .unwrap();
    assert_eq!(world.hubspot.get(&contact).unwrap().modified_ms, modified);
    clock.advance(Duration::from_secs(300));
    // The sweep finds Ada's company and the Account is created; her Contact's AccountId,
    // which waited for that link, is written in the same cycle, once the create has
    // linked it (no second sweep, no second cycle).
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(cycle.written_salesforce, 2, "{cycle:?}");
    assert_eq!(world.salesforce.count("Account"), 1);
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(cycle.written_salesforce, 0, "{cycle:?}");
    let accounts = live_accounts(&world);
    assert_eq!(accounts.len(), 1, "{accounts:#?}");
    let (account, fields) = &accounts[0];
    assert_eq!(fields["Name"], json!("Initech"));
    assert_eq!(fields["HubSpot_Company_Id__c"], json!(company));
    assert_eq!(
        account_of(&world, &sf_contact).as_deref(),
        Some(account.as_str())
    );
    assert_eq!(company_links(&engine), [(company.clone(), account.clone())]);
    assert_eq!(duplicates(&world), Vec::<String>::new());
}

/// Two people at two linked companies, settled: (world, seeded, engine, clock).
async fn two_linked_people() -> (
    World,
    truce_sandbox::world::revenue::Companies,
    Engine,
    TestClock,
) {
    let world = world("", "association_sweep = \"5m\"").await;
    let seeded = populate_companies(
        &world.hubspot,
        &world.salesforce,
        CompanyShapes {
            by_people: 2,
            ..CompanyShapes::default()
        },
    )
    .unwrap();
    let clock = TestClock::new();
    let mut engine = world.engine_with_clock(clock.clock());
    settle(&mut engine, 4).await;
    assert_eq!(company_links(&engine).len(), 2);
    (world, seeded, engine, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_association_only_change_in_hubspot_reaches_account_id_within_one_sweep() {
    let (world, seeded, mut engine, clock) = two_linked_people().await;
    let (contact, sf_contact) = &seeded.people[0];
    let modified = world.hubspot.get(contact).unwrap().modified_ms;
    world
        .hubspot
        .associate(
            HubSpotObject::Contacts,
            contact,
            HubSpotObject::Companies,
            &seeded.hubspot[1],
            true,
        )
        .unwrap();
    assert_eq!(world.hubspot.get(contact).unwrap().modified_ms, modified);
    assert_eq!(
        primary_company(&world, contact),
        Some(seeded.hubspot[1].clone())
    );
    clock.advance(Duration::from_secs(300));
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(cycle.written_salesforce, 1, "{cycle:?}");
    assert_eq!(
        account_of(&world, sf_contact),
        Some(seeded.salesforce[1].clone())
    );
    // And it stays there: the next sweep finds both sides agreeing.
    clock.advance(Duration::from_secs(300));
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(
        cycle.written_salesforce + cycle.written_hubspot,
        0,
        "{cycle:?}"
    );
    assert_eq!(
        primary_company(&world, contact),
        Some(seeded.hubspot[1].clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_id_change_in_salesforce_moves_the_hubspot_primary_company() {
    let (world, seeded, mut engine, clock) = two_linked_people().await;
    let (contact, sf_contact) = &seeded.people[0];
    world
        .salesforce
        .edit(
            "Contact",
            sf_contact,
            json!({"AccountId": seeded.salesforce[1]}),
        )
        .unwrap();
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(cycle.written_hubspot, 1, "{cycle:?}");
    assert_eq!(
        primary_company(&world, contact),
        Some(seeded.hubspot[1].clone())
    );
    clock.advance(Duration::from_secs(300));
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(
        cycle.written_salesforce + cycle.written_hubspot,
        0,
        "{cycle:?}"
    );
    assert_eq!(
        account_of(&world, sf_contact),
        Some(seeded.salesforce[1].clone())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_conflict_on_a_company_field_is_one_event_naming_the_company() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let world = world("", "").await;
    let seeded = populate_companies(
        &world.hubspot,
        &world.salesforce,
        CompanyShapes {
            by_people: 1,
            ..CompanyShapes::default()
        },
    )
    .unwrap();
    let mut engine = world.engine();
    settle(&mut engine, 4).await;
    assert!(logs.on("truce::conflict", "WARN").is_empty());
    world
        .hubspot
        .edit_object(
            HubSpotObject::Companies,
            &seeded.hubspot[0],
            &[("city", "Porto")],
        )
        .unwrap();
    world
        .salesforce
        .edit(
            "Account",
            &seeded.salesforce[0],
            json!({"BillingCity": "Madrid"}),
        )
        .unwrap();
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(cycle.conflicts, 1, "{cycle:?}");
    let events = logs.on("truce::conflict", "WARN");
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["object"], "companies");
    assert_eq!(event["name"], "Company 0");
    assert_eq!(event["email"], "");
    assert_eq!(event["field"], "city");
    assert_eq!(event["salesforce_field"], "BillingCity");
    assert_eq!(event["hubspot_value"], "Porto");
    assert_eq!(event["salesforce_value"], "Madrid");
    // The winner's value is on both sides now.
    let city = world
        .hubspot
        .company(&seeded.hubspot[0])
        .unwrap()
        .properties["city"]
        .clone();
    let account = world
        .salesforce
        .get("Account", &seeded.salesforce[0])
        .unwrap();
    assert_eq!(account["BillingCity"], json!(city));
    engine.cycle().await.unwrap();
    assert_eq!(logs.on("truce::conflict", "WARN").len(), 1);

    // The reports name the company by name and id, never by an email.
    let state = world.state_path();
    let conflicts = truce(&state, &["conflicts"]);
    assert!(conflicts.contains("company \"Company 0\""), "{conflicts}");
    assert!(conflicts.contains("city"), "{conflicts}");
    assert!(!conflicts.contains('@'), "{conflicts}");
    let json_out: Value = serde_json::from_str(&truce(&state, &["conflicts", "--json"])).unwrap();
    assert_eq!(json_out[0]["object"], "companies", "{json_out}");
    assert_eq!(json_out[0]["name"], "Company 0", "{json_out}");
    let history = truce(&state, &["history", "Company 0"]);
    assert!(
        history.contains("Porto") && history.contains("Madrid"),
        "{history}"
    );
    assert!(history.contains(&seeded.hubspot[0]), "{history}");
    assert!(history.contains(&seeded.salesforce[0]), "{history}");
    let by_id = truce(&state, &["history", &seeded.salesforce[0]]);
    assert!(by_id.contains("BillingCity"), "{by_id}");
}

/// Runs a report of the real binary on `state`; its stdout.
fn truce(state: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(args)
        .arg("--state")
        .arg(state)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_company_salesforce_refuses_is_quarantined_and_its_contacts_still_sync() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let world = world("", "").await;
    let long = "Very Long Company Name ".repeat(12);
    let company = world
        .hubspot
        .create_company(&[("name", long.trim())])
        .unwrap();
    let contact = world
        .hubspot
        .create_contact(&[
            ("email", "grace@long.example"),
            ("firstname", "Grace"),
            ("city", "Arlington"),
        ])
        .unwrap();
    world
        .hubspot
        .associate(
            HubSpotObject::Contacts,
            &contact,
            HubSpotObject::Companies,
            &company,
            true,
        )
        .unwrap();
    let sf_contact = world
        .salesforce
        .create(
            "Contact",
            json!({"LastName": "Hopper", "Email": "grace@long.example"}),
        )
        .unwrap();
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    for _ in 0..3 {
        engine.cycle().await.unwrap();
    }
    assert_eq!(world.salesforce.count("Account"), 0);
    let quarantined = engine.store().reader().quarantined(false).unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:#?}");
    assert_eq!(quarantined[0].pair, "companies");
    assert_eq!(quarantined[0].error_code, "STRING_TOO_LONG");
    let events = logs.on("truce::quarantine", "WARN");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["object"], "companies");
    assert_eq!(events[0]["name"], long.trim());
    assert_eq!(events[0]["system"], "salesforce");
    // The person syncs all the same; the Account reference waits for a linked Account.
    let record = world.salesforce.get("Contact", &sf_contact).unwrap();
    assert_eq!(record["FirstName"], json!("Grace"));
    assert_eq!(record["MailingCity"], json!("Arlington"));
    assert_eq!(record["AccountId"], Value::Null);
    let hubspot = world.hubspot.get(&contact).unwrap();
    assert_eq!(hubspot.properties["lastname"], "Hopper");
    // `truce status` names the company, not an email.
    let status = truce(&world.state_path(), &["status"]);
    assert!(status.contains("STRING_TOO_LONG"), "{status}");
    assert!(
        status.contains(&format!("company {:?} (hubspot {company})", long.trim())),
        "{status}"
    );
    let json_status: Value =
        serde_json::from_str(&truce(&world.state_path(), &["status", "--json"])).unwrap();
    assert_eq!(
        json_status["quarantine"][0]["name"],
        json!(long.trim()),
        "{json_status}"
    );
    assert_eq!(json_status["quarantine"][0]["object"], "companies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_company_input_is_synced_as_is_or_quarantined_with_a_reason_never_a_crash() {
    let world = world("match = \"domain\"", "").await;
    // HubSpot companies, each referenced by a person who is a Contact on both sides.
    let odd = [
        ("nameless", vec![("domain", "nameless.example")]),
        (
            "unicode",
            vec![("name", "Bücher GmbH"), ("domain", "bücher.example")],
        ),
        (
            "trailing",
            vec![("name", "Trailing Dot"), ("domain", "trailing.example.")],
        ),
    ];
    let mut companies = BTreeMap::new();
    for (who, props) in &odd {
        let company = world.hubspot.create_company(props).unwrap();
        let email = format!("{who}@people.example");
        let contact = world
            .hubspot
            .create_contact(&[("email", &email), ("firstname", who)])
            .unwrap();
        world
            .hubspot
            .associate(
                HubSpotObject::Contacts,
                &contact,
                HubSpotObject::Companies,
                &company,
                true,
            )
            .unwrap();
        let sf = world
            .salesforce
            .create("Contact", json!({"LastName": who, "Email": email}))
            .unwrap();
        companies.insert(*who, (company, sf));
    }
    // An Account whose Website is not a URL, with a Contact.
    let account = world
        .salesforce
        .create(
            "Account",
            json!({"Name": "Odd Site", "Website": "call us maybe"}),
        )
        .unwrap();
    world
        .salesforce
        .create(
            "Contact",
            json!({"LastName": "Odd", "Email": "odd@people.example", "AccountId": account}),
        )
        .unwrap();
    let mut engine = world.engine();
    settle(&mut engine, 5).await;
    // The sandboxes take each of these values, so each is synced as is (a real portal or
    // org refusing one would make it a quarantine with the API's reason, as the test of a
    // too-long name shows).
    let quarantined = engine.store().reader().quarantined(false).unwrap();
    assert!(quarantined.is_empty(), "{quarantined:#?}");
    let accounts: BTreeMap<String, Value> = live_accounts(&world).into_iter().collect();
    assert_eq!(accounts.len(), 4);
    for (who, (company, sf)) in &companies {
        let account = account_of(&world, sf).unwrap_or_else(|| panic!("{who}: no Account"));
        let fields = &accounts[&account];
        assert_eq!(fields["HubSpot_Company_Id__c"], json!(company), "{who}");
        let (name, website) = match *who {
            // Account.Name is required: the mapping's placeholder is sent.
            "nameless" => ("[no name]", "nameless.example"),
            "unicode" => ("Bücher GmbH", "bücher.example"),
            _ => ("Trailing Dot", "trailing.example"),
        };
        assert_eq!(fields["Name"], json!(name), "{who}");
        assert_eq!(fields["Website"], json!(website), "{who}");
    }
    // The placeholder name never flows back to HubSpot, nor the normalised domain.
    let nameless = world.hubspot.company(&companies["nameless"].0).unwrap();
    assert_eq!(nameless.properties.get("name"), None);
    let trailing = world.hubspot.company(&companies["trailing"].0).unwrap();
    assert_eq!(trailing.properties["domain"], "trailing.example.");
    // The Account whose Website is no URL: a HubSpot company with it as written.
    let odd: Vec<_> = world
        .hubspot
        .companies()
        .into_iter()
        .filter(|c| c.properties.get("name").map(String::as_str) == Some("Odd Site"))
        .collect();
    assert_eq!(odd.len(), 1, "{odd:#?}");
    assert_eq!(odd[0].properties["domain"], "call us maybe");
    assert_eq!(odd[0].properties["salesforce_account_id"], account);
    assert_eq!(duplicates(&world), Vec::<String>::new());
    // A further cycle is quiet: nothing loops.
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(
        cycle.written_hubspot + cycle.written_salesforce,
        0,
        "{cycle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_backfill_with_companies_then_rerunning_duplicates_no_company() {
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    let world = world("", "").await;
    let n = 150;
    // Accounts with Contacts only in Salesforce (become HubSpot companies), and HubSpot
    // companies whose contacts are Contacts without an Account (become Accounts).
    for i in 0..n {
        let account = world
            .salesforce
            .create(
                "Account",
                json!({"Name": format!("Account {i}"), "Website": format!("https://acct{i}.example")}),
            )
            .unwrap();
        world
            .salesforce
            .create(
                "Contact",
                json!({"LastName": format!("A{i}"), "Email": format!("a{i}@acct{i}.example"),
                       "AccountId": account}),
            )
            .unwrap();
        let company = world
            .hubspot
            .create_company(&[
                ("name", &format!("Company {i}")),
                ("domain", &format!("comp{i}.example")),
            ])
            .unwrap();
        let email = format!("c{i}@comp{i}.example");
        let contact = world
            .hubspot
            .create_contact(&[("email", &email), ("firstname", "C")])
            .unwrap();
        world
            .hubspot
            .associate(
                HubSpotObject::Contacts,
                &contact,
                HubSpotObject::Companies,
                &company,
                true,
            )
            .unwrap();
        world
            .salesforce
            .create(
                "Contact",
                json!({"LastName": format!("C{i}"), "Email": email}),
            )
            .unwrap();
    }
    let mut rng = StdRng::seed_from_u64(12);
    for _ in 0..6 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_truce"))
            .args(["backfill", "--log-level", "error", "--config"])
            .arg(&world.config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.random_range(30..500))).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let status = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["backfill", "--log-level", "error", "--config"])
        .arg(&world.config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    // The references waiting for the creates are written by the first cycle; the second
    // finds nothing left to do.
    let mut engine = world.engine();
    engine.cycle().await.unwrap();
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(
        cycle.written_hubspot + cycle.written_salesforce,
        0,
        "{cycle:?}"
    );
    assert_eq!(duplicates(&world), Vec::<String>::new());
    assert_eq!(world.hubspot.companies().len(), 2 * n);
    assert_eq!(live_accounts(&world).len(), 2 * n);
    assert_eq!(company_links(&engine).len(), 2 * n);
    assert!(
        engine
            .store()
            .reader()
            .quarantined(false)
            .unwrap()
            .is_empty()
    );
    // Every person's company is the same company on both sides.
    let links: BTreeMap<String, String> = company_links(&engine).into_iter().collect();
    for (email, records) in world.salesforce_by_email() {
        assert_eq!(records.len(), 1, "{email}");
        let account = records[0].1["AccountId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let contact = world.hubspot.find_by_email(&email).unwrap();
        let company = primary_company(&world, &contact.id).unwrap_or_default();
        assert_eq!(links.get(&company), Some(&account), "{email}");
    }
}

/// `truce check` on `config`: (exit code, stdout).
async fn check(config: &std::path::Path) -> (i32, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["check", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("TRUCE_CONFIG")
        .output()
        .await
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_the_companies_mapping_and_lists_every_problem_of_a_broken_one() {
    let world = world("", "").await;
    let (code, out) = check(&world.config_path).await;
    assert_eq!(code, 0, "{out}");
    for expected in [
        "companies described",
        "Account described",
        "(domain <-> Website, line",
        "(@company <-> AccountId, line",
        "Account.Name (required) is filled from `name`, or \"[no name]\" when blank",
        "companies.external_id_field: Account.HubSpot_Company_Id__c is an External ID",
        "companies.hubspot_id_property: companies.salesforce_account_id is a unique-value property",
        "verdict: ready",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    assert!(!out.contains("FAIL") && !out.contains("WARN"), "{out}");
    let good = std::fs::read_to_string(&world.config_path).unwrap();
    let head = good.split("[[field]]").next().unwrap();
    let people = "[[field]]\nhubspot = \"email\"\nsalesforce = \"Email\"\n\n[[field]]\nhubspot = \"lastname\"\nsalesforce = \"LastName\"\nsalesforce_if_blank = \"[not provided]\"\n\n[[field]]\nhubspot = \"company\"\nsalesforce = \"Company\"\non = [\"Lead\"]\nsalesforce_if_blank = \"[not provided]\"\n";
    let broken = format!(
        r#"{head}{people}
[[field]]
object = "companies"
hubspot = "favourite_colour"
salesforce = "Description"

[[field]]
object = "companies"
hubspot = "city"
salesforce = "Town__c"

[[field]]
object = "companies"
hubspot = "numberofemployees"
salesforce = "Website"

[[field]]
hubspot = "@company"
salesforce = "Phone"
on = ["Contact"]
"#
    );
    let path = world.dir.path().join("broken.toml");
    std::fs::write(&path, broken).unwrap();
    let (code, out) = check(&path).await;
    assert_eq!(code, 1, "{out}");
    let fails: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("FAIL"))
        .collect();
    for expected in [
        "HubSpot has no company property `favourite_colour`",
        "Salesforce Account has no field `Town__c`",
        "type mismatch: HubSpot `numberofemployees` is number but Account.Website is url",
        "Contact.Phone is a phone, not a reference",
        "Account.Name is required by Salesforce and no [[field]] maps it: add a mapping with \
         `object = \"companies\"`",
    ] {
        assert!(
            fails.iter().any(|l| l.contains(expected)),
            "{expected:?} missing from the failures:\n{out}"
        );
    }
    assert_eq!(fails.len(), 5, "exactly the five problems:\n{out}");
    // Name mapped without a placeholder: a nameless company would be refused, so a warning.
    let unnamed = format!(
        "{head}{people}\n[[field]]\nobject = \"companies\"\nhubspot = \"name\"\nsalesforce = \"Name\"\n"
    );
    std::fs::write(&path, unnamed).unwrap();
    let (code, out) = check(&path).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().any(|l| l.contains("WARN")
            && l.contains(
                "Account.Name is required and mapped from `name` without salesforce_if_blank"
            )
            && l.contains("a company with no name will be quarantined")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_companies_with_one_domain_are_a_duplicate_reported_never_a_guess() {
    let world = world("match = \"domain\"\ncreate_in_salesforce = \"always\"", "").await;
    let twins: Vec<String> = ["Twin A", "Twin B"]
        .into_iter()
        .map(|name| {
            world
                .hubspot
                .create_company(&[("name", name), ("domain", "twins.example")])
                .unwrap()
        })
        .collect();
    let account = world
        .salesforce
        .create(
            "Account",
            json!({"Name": "Twins", "Website": "https://www.Twins.example/"}),
        )
        .unwrap();
    let mut engine = world.engine();
    settle(&mut engine, 4).await;
    // Neither twin is linked to the Account, and neither is created again beside it.
    assert!(company_links(&engine).is_empty());
    assert_eq!(live_accounts(&world).len(), 1);
    let reported = engine.store().reader().duplicates().unwrap();
    assert_eq!(reported.len(), 1, "{reported:#?}");
    assert_eq!(reported[0].pair, "companies");
    assert_eq!(reported[0].key, "twins.example");
    for id in &twins {
        assert!(reported[0].record_ids.contains(id), "{reported:#?}");
    }
    let status = truce(&world.state_path(), &["status"]);
    assert!(status.contains("twins.example"), "{status}");
    assert!(
        status.contains(&twins[0]) && status.contains(&twins[1]),
        "{status}"
    );
    assert!(!status.contains(&account), "{status}");
}
