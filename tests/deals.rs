//! Deals <-> Opportunities end to end (issue 13): the real engine and the real binary over
//! a real state file, both sandboxes over HTTP on 127.0.0.1, companies and people synced
//! alongside so deals can be associated with them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{LogCapture, World};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use truce::engine::{Engine, Quiet};
use truce_sandbox::hubspot::{DealPipeline, DealStage, ObjectType as Kind};
use truce_sandbox::salesforce::LeadConvert;
use truce_sandbox::world::{CompanyShapes, STAGES, populate_companies, populate_deals};

/// The custom HubSpot pipeline deals made from Opportunities go into, and its stage ids
/// beside the Salesforce stage each maps to.
const PIPELINE: &str = "enterprise";
const PIPELINE_STAGES: [(&str, &str); 7] = [
    ("1010", "Prospecting"),
    ("1020", "Qualification"),
    ("1030", "Needs Analysis"),
    ("1040", "Proposal/Price Quote"),
    ("1050", "Negotiation/Review"),
    ("1060", "Closed Won"),
    ("1070", "Closed Lost"),
];

/// The HubSpot stage id `StageName` maps to in the enterprise pipeline.
fn hubspot_stage(salesforce: &str) -> &'static str {
    PIPELINE_STAGES
        .iter()
        .find(|(_, s)| *s == salesforce)
        .map(|(h, _)| *h)
        .unwrap_or_else(|| panic!("no stage maps {salesforce}"))
}

/// Rewrites the world's config text (the tests' `[deals]` variants).
fn edit_config(world: &World, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(&world.config_path).unwrap();
    std::fs::write(&world.config_path, edit(text)).unwrap();
}

/// A world syncing contacts, companies and deals, with the enterprise pipeline and its stage table, and `deals` lines added to `[deals]`.
async fn revenue_world(extra_sync: &str, deals: &str, sections: &str) -> World {
    // The world made the portal's unique id properties its [companies] and [deals]
    // tables name.
    let world = World::revenue(&["companies", "deals"], extra_sync, sections).await;
    world
        .hubspot
        .add_pipeline(DealPipeline {
            id: PIPELINE.into(),
            label: "Enterprise".into(),
            stages: PIPELINE_STAGES
                .iter()
                .enumerate()
                .map(|(i, (id, label))| {
                    let closed = i >= 5;
                    let probability = match (closed, i) {
                        (true, 5) => 1.0,
                        (true, _) => 0.0,
                        _ => 0.2 * (i + 1) as f64 - 0.1,
                    };
                    DealStage::new(id, label, probability, closed)
                })
                .collect(),
        })
        .unwrap();
    let table: Vec<String> = PIPELINE_STAGES
        .iter()
        .map(|(h, s)| format!("\"{h}\" = \"{s}\""))
        .collect();
    let deals = format!("[deals]\npipeline = \"{PIPELINE}\"\n{deals}");
    edit_config(&world, |text| {
        let default_table = STAGES
            .iter()
            .map(|(h, s)| format!("\"{h}\" = \"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text = text.replace(&default_table, &table.join(", "));
        text.replace("[deals]\n", &deals)
    });
    world
}

/// What was seeded: Accounts and their HubSpot twins, the Salesforce Contacts on each
/// Account, the Opportunities.
struct Seeded {
    /// Account id -> HubSpot company id.
    company_of: BTreeMap<String, String>,
    /// Opportunity ids.
    opportunities: Vec<String>,
}

/// `accounts` companies tied by a person in both systems; every third Account has a
/// second Contact, in Salesforce only; `opportunities` on them with their Contacts as
/// roles.
fn seed(world: &World, accounts: usize, opportunities: usize) -> Seeded {
    let companies = populate_companies(
        &world.hubspot,
        &world.salesforce,
        CompanyShapes {
            by_people: accounts,
            ..CompanyShapes::default()
        },
    )
    .unwrap();
    let mut contacts: Vec<(String, String)> = Vec::new();
    for (i, (_, contact)) in companies.people.iter().enumerate() {
        let account = companies.salesforce[i].clone();
        contacts.push((account.clone(), contact.clone()));
        if i % 3 == 0 {
            let second = world
                .salesforce
                .create(
                    "Contact",
                    json!({"LastName": format!("Second{i}"),
                           "Email": format!("second{i}@company{i}.example.com"),
                           "AccountId": account}),
                )
                .unwrap();
            contacts.push((account, second));
        }
    }
    let deals = populate_deals(
        &world.salesforce,
        &companies.salesforce,
        &contacts,
        opportunities,
    )
    .unwrap();
    Seeded {
        company_of: companies
            .salesforce
            .iter()
            .cloned()
            .zip(companies.hubspot.iter().cloned())
            .collect(),
        opportunities: deals.opportunities,
    }
}

/// The Contact ids of an Opportunity's roles.
fn role_contacts(world: &World, opportunity: &str) -> BTreeSet<String> {
    world
        .salesforce
        .find_by_field("OpportunityContactRole", "OpportunityId", opportunity)
        .iter()
        .filter_map(|id| world.salesforce.get("OpportunityContactRole", id))
        .filter(|role| role["IsDeleted"] != json!(true))
        .map(|role| role["ContactId"].as_str().unwrap().to_string())
        .collect()
}

/// The HubSpot contact of a Salesforce Contact, by email.
fn hubspot_contact(world: &World, contact: &str) -> Option<String> {
    let record = world.salesforce.get("Contact", contact)?;
    let email = record["Email"].as_str()?;
    world.hubspot.find_by_email(email).map(|c| c.id)
}

/// HubSpot deals by the Opportunity id they carry.
fn deals_by_opportunity(
    world: &World,
) -> BTreeMap<String, Vec<truce_sandbox::hubspot::SandboxRecord>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for deal in world.hubspot.deals() {
        let key = deal
            .properties
            .get("salesforce_opportunity_id")
            .cloned()
            .unwrap_or_default();
        out.entry(key).or_default().push(deal);
    }
    out
}

/// Everything wrong with the deals of `opportunities`: a missing or duplicated deal, a
/// value or an association that does not match its Opportunity.
fn deal_problems(world: &World, seeded: &Seeded) -> Vec<String> {
    let mut out = Vec::new();
    let deals = deals_by_opportunity(world);
    if world.hubspot.deals().len() != seeded.opportunities.len() {
        out.push(format!(
            "{} HubSpot deals for {} Opportunities",
            world.hubspot.deals().len(),
            seeded.opportunities.len()
        ));
    }
    if world.salesforce.count("Opportunity") != seeded.opportunities.len() {
        out.push(format!(
            "{} Opportunities, {} seeded",
            world.salesforce.count("Opportunity"),
            seeded.opportunities.len()
        ));
    }
    for opportunity in &seeded.opportunities {
        let record = world.salesforce.get("Opportunity", opportunity).unwrap();
        let Some(found) = deals.get(opportunity) else {
            out.push(format!("{opportunity}: no HubSpot deal"));
            continue;
        };
        if found.len() > 1 {
            out.push(format!("{opportunity}: {} HubSpot deals", found.len()));
        }
        let deal = &found[0];
        let prop = |name: &str| deal.properties.get(name).cloned().unwrap_or_default();
        let stage = record["StageName"].as_str().unwrap();
        let want = [
            ("dealname", record["Name"].as_str().unwrap().to_string()),
            ("pipeline", PIPELINE.to_string()),
            ("dealstage", hubspot_stage(stage).to_string()),
            (
                "closedate",
                format!("{}T00:00:00.000Z", record["CloseDate"].as_str().unwrap()),
            ),
        ];
        for (name, value) in want {
            if prop(name) != value {
                out.push(format!(
                    "{opportunity}: {name} {:?}, want {value:?}",
                    prop(name)
                ));
            }
        }
        let amount: f64 = prop("amount").parse().unwrap_or(f64::NAN);
        if Some(amount) != record["Amount"].as_f64() {
            out.push(format!(
                "{opportunity}: amount {:?} vs {}",
                prop("amount"),
                record["Amount"]
            ));
        }
        let account = record["AccountId"].as_str().unwrap();
        let companies: Vec<String> = world
            .hubspot
            .associations(Kind::Deals, &deal.id, Kind::Companies)
            .into_iter()
            .map(|a| a.to_id)
            .collect();
        if companies != [seeded.company_of[account].clone()] {
            out.push(format!(
                "{opportunity}: companies {companies:?}, want {}",
                seeded.company_of[account]
            ));
        }
        let want: BTreeSet<String> = role_contacts(world, opportunity)
            .iter()
            .map(|c| hubspot_contact(world, c).unwrap_or_else(|| format!("(none for {c})")))
            .collect();
        let contacts: BTreeSet<String> = world
            .hubspot
            .associations(Kind::Deals, &deal.id, Kind::Contacts)
            .into_iter()
            .map(|a| a.to_id)
            .collect();
        if contacts != want {
            out.push(format!(
                "{opportunity}: contacts {contacts:?}, want {want:?}"
            ));
        }
    }
    out
}

fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problems, first ones:\n{}",
        problems.len(),
        problems[..problems.len().min(20)].join("\n")
    );
}

/// Cycles until a cycle writes nothing (at most `max`), returning how many ran.
async fn settle(engine: &mut Engine, max: usize) -> usize {
    for n in 1..=max {
        let summary = engine.cycle().await.unwrap();
        if summary.written_hubspot + summary.written_salesforce == 0 && summary.retrying == 0 {
            return n;
        }
    }
    panic!("still writing after {max} cycles");
}

fn truce(world: &World, tz: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_truce"));
    command
        .args(args)
        .arg("--config")
        .arg(&world.config_path)
        .args(["--log-level", "error"])
        .env("TZ", tz)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_opportunities_become_deals_once_across_sigkills_in_any_time_zone() {
    let world = revenue_world("", "", "").await;
    let seeded = seed(&world, 300, 1000);
    let mut rng = StdRng::seed_from_u64(13);
    // Killed mid-backfill, in a time zone a day ahead of UTC.
    for _ in 0..3 {
        let mut child = truce(&world, "Pacific/Kiritimati", &["backfill"])
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..2500))).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // The rerun, in a time zone most of a day behind UTC, finishes.
    let out = truce(&world, "America/Adak", &["backfill"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut engine = world.engine();
    // The first poll reads the backfill's writes back, each record once: 1,000 deals,
    // 300 companies and 400 contacts at most (a stream finished early is not restarted).
    let first = engine.cycle().await.unwrap();
    assert!(first.pulled_hubspot <= 1700, "{first:?}");
    settle(&mut engine, 4).await;
    assert_no_problems(&deal_problems(&world, &seeded));
    assert_eq!(world.hubspot.companies().len(), 300, "no duplicate company");
}

/// A small settled world: `accounts` Accounts with `n` Opportunities, backfilled and
/// settled; associations swept every cycle.
async fn settled(accounts: usize, n: usize, deals: &str) -> (World, Seeded, Engine) {
    let world = revenue_world("association_sweep = \"0s\"", deals, "").await;
    let seeded = seed(&world, accounts, n);
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    settle(&mut engine, 4).await;
    assert_no_problems(&deal_problems(&world, &seeded));
    (world, seeded, engine)
}

/// The HubSpot deal of an Opportunity.
fn deal_of(world: &World, opportunity: &str) -> truce_sandbox::hubspot::SandboxRecord {
    world
        .hubspot
        .find_object(Kind::Deals, "salesforce_opportunity_id", opportunity)
        .unwrap_or_else(|| panic!("no deal for {opportunity}"))
}

/// Runs the binary on the world's state file; returns (exit code, stdout, stderr).
fn truce_out(world: &World, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(args)
        .arg("--config")
        .arg(&world.config_path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_change_on_either_side_propagates_and_a_clash_is_a_conflict_named_by_deal() {
    let (world, seeded, mut engine) = settled(4, 8, "").await;
    let [a, b, c] = [0, 1, 2].map(|i| seeded.opportunities[i].clone());
    // Salesforce moves one deal on; HubSpot wins another.
    world
        .salesforce
        .edit(
            "Opportunity",
            &a,
            json!({"StageName": "Negotiation/Review"}),
        )
        .unwrap();
    let won = deal_of(&world, &b).id;
    world
        .hubspot
        .edit_object(Kind::Deals, &won, &[("dealstage", "1060")])
        .unwrap();
    // Both sides move a third one in the same interval.
    world
        .salesforce
        .edit(
            "Opportunity",
            &c,
            json!({"StageName": "Proposal/Price Quote"}),
        )
        .unwrap();
    let clash = deal_of(&world, &c).id;
    world
        .hubspot
        .edit_object(Kind::Deals, &clash, &[("dealstage", "1070")])
        .unwrap();
    settle(&mut engine, 4).await;
    assert_eq!(deal_of(&world, &a).properties["dealstage"], "1050");
    let opportunity = world.salesforce.get("Opportunity", &b).unwrap();
    assert_eq!(opportunity["StageName"], "Closed Won");
    assert_eq!(
        opportunity["IsWon"], true,
        "Salesforce derives won from the stage"
    );
    // The clash is decided by two_way (the later edit, HubSpot's) and recorded.
    assert_eq!(
        world.salesforce.get("Opportunity", &c).unwrap()["StageName"],
        "Closed Lost"
    );
    assert_no_problems(&deal_problems(&world, &seeded));
    drop(engine);
    let name = world.salesforce.get("Opportunity", &c).unwrap()["Name"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out, err) = truce_out(&world, &["conflicts", "--json"]);
    assert_eq!(code, 0, "{err}");
    let conflicts: Value = serde_json::from_str(&out).unwrap();
    let conflict = conflicts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "dealstage")
        .unwrap_or_else(|| panic!("no dealstage conflict in {out}"));
    assert_eq!(conflict["object"], "deals", "{conflict}");
    assert_eq!(conflict["name"], name, "{conflict}");
    let (code, out, err) = truce_out(&world, &["conflicts"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "deal \"{name}\" (hubspot {clash}, salesforce Opportunity/{c})  dealstage / StageName"
        )),
        "{out}"
    );
    // The deal's history, asked for by name and by either id, shows the stage moves.
    for who in [name.as_str(), c.as_str(), clash.as_str()] {
        let (code, out, err) = truce_out(&world, &["history", who]);
        assert_eq!(code, 0, "{who}: {err}");
        let header =
            format!("history of deal \"{name}\" (hubspot {clash}, salesforce Opportunity/{c})");
        assert!(out.starts_with(&header), "{who}: {out}");
        assert!(
            out.contains("dealstage") || out.contains("StageName"),
            "{who}: {out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_added_in_salesforce_and_a_contact_associated_in_hubspot_both_stand() {
    let (world, seeded, mut engine) = settled(4, 8, "").await;
    // Opportunity 0 is on Account 0, its Contacts its roles; the buyers of Accounts 1
    // and 2 are linked people of other Accounts.
    let opportunity = seeded.opportunities[0].clone();
    let before = role_contacts(&world, &opportunity);
    let contact = |email: &str| {
        world
            .salesforce
            .find_by_field("Contact", "Email", email)
            .remove(0)
    };
    let second = contact("buyer1@company1.example.com");
    let other = contact("buyer2@company2.example.com");
    assert!(!before.contains(&second) && !before.contains(&other));
    world
        .salesforce
        .create(
            "OpportunityContactRole",
            json!({"OpportunityId": opportunity, "ContactId": second, "Role": "Evaluator"}),
        )
        .unwrap();
    let deal = deal_of(&world, &opportunity).id;
    let other_hubspot = hubspot_contact(&world, &other).unwrap();
    world
        .hubspot
        .associate(Kind::Deals, &deal, Kind::Contacts, &other_hubspot, false)
        .unwrap();
    settle(&mut engine, 4).await;
    let mut want = before.clone();
    want.extend([second.clone(), other.clone()]);
    assert_eq!(role_contacts(&world, &opportunity), want);
    let hubspot: BTreeSet<String> = world
        .hubspot
        .associations(Kind::Deals, &deal, Kind::Contacts)
        .into_iter()
        .map(|a| a.to_id)
        .collect();
    let want_hubspot: BTreeSet<String> = want
        .iter()
        .map(|c| hubspot_contact(&world, c).unwrap())
        .collect();
    assert_eq!(hubspot, want_hubspot);
    // The seeded primary role stays primary.
    let primary: Vec<String> = world
        .salesforce
        .find_by_field("OpportunityContactRole", "OpportunityId", &opportunity)
        .iter()
        .filter_map(|id| world.salesforce.get("OpportunityContactRole", id))
        .filter(|r| r["IsPrimary"] == true)
        .map(|r| r["ContactId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(primary.len(), 1);
    assert!(before.contains(&primary[0]));
    assert_no_problems(&deal_problems(&world, &seeded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversion_with_an_opportunity_is_a_deal_on_the_contact_and_company_in_one_cycle() {
    // The funnel's cohort is what truce saw qualified, which it records with an SLA.
    let sla = "[sla]\nfirst_touch = \"24h\"\nuntouched = [\"Open - Not Contacted\"]\n";
    let world = revenue_world("association_sweep = \"0s\"", "", sla).await;
    let email = "ada@analytical.example.com";
    let contact = world
        .hubspot
        .create_contact(&[
            ("email", email),
            ("firstname", "Ada"),
            ("lastname", "Lovelace"),
            ("company", "Analytical Engines"),
            ("lifecyclestage", "marketingqualifiedlead"),
        ])
        .unwrap();
    let mut engine = world.engine();
    settle(&mut engine, 4).await;
    let (_, lead) = world.salesforce.find_by_email(email).remove(0);
    // Sales converts the Lead; the conversion makes an Opportunity.
    let converted = world
        .salesforce
        .convert_lead_with(&lead, &LeadConvert::default())
        .unwrap();
    let opportunity = converted.opportunity_id.unwrap();
    let summary = engine.cycle().await.unwrap();
    assert_eq!(summary.quarantined, 0, "{summary:?}");
    let deal = deal_of(&world, &opportunity);
    let record = world.salesforce.get("Opportunity", &opportunity).unwrap();
    assert_eq!(
        deal.properties["dealname"],
        record["Name"].as_str().unwrap()
    );
    assert_eq!(deal.properties["pipeline"], PIPELINE);
    assert_eq!(
        deal.properties["dealstage"],
        hubspot_stage(record["StageName"].as_str().unwrap())
    );
    let company = world
        .hubspot
        .find_object(
            Kind::Companies,
            "salesforce_account_id",
            &converted.account_id,
        )
        .map(|c| c.id)
        .or_else(|| {
            world
                .hubspot
                .associations(Kind::Contacts, &contact, Kind::Companies)
                .first()
                .map(|a| a.to_id.clone())
        })
        .expect("the Account is a HubSpot company");
    let primary = world
        .hubspot
        .associations(Kind::Contacts, &contact, Kind::Companies);
    assert!(
        primary.iter().any(|a| a.to_id == company && a.primary),
        "{primary:?}"
    );
    let on = |to| {
        world
            .hubspot
            .associations(Kind::Deals, &deal.id, to)
            .into_iter()
            .map(|a| a.to_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(on(Kind::Companies), [company.as_str()]);
    assert_eq!(on(Kind::Contacts), [contact.as_str()]);
    assert_eq!(
        world.hubspot.count(),
        1,
        "the contact was relinked, not copied"
    );

    // Sales wins it: HubSpot shows it won, with its amount.
    world
        .salesforce
        .edit(
            "Opportunity",
            &opportunity,
            json!({"StageName": "Closed Won", "Amount": 48000.5}),
        )
        .unwrap();
    engine.cycle().await.unwrap();
    let deal = deal_of(&world, &opportunity);
    assert_eq!(deal.properties["dealstage"], "1060");
    assert_eq!(deal.properties["hs_is_closed_won"], "true");
    assert_eq!(deal.properties["amount"].parse::<f64>().unwrap(), 48000.5);
    settle(&mut engine, 3).await;
    drop(engine);
    // The funnel counts the won deal and its amount.
    let (code, out, err) = truce_out(&world, &["funnel", "--json"]);
    assert_eq!(code, 0, "{err}");
    let funnel: Value = serde_json::from_str(&out).unwrap();
    let stage = |name: &str| {
        funnel["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(stage("opportunity")["count"], 1, "{out}");
    assert_eq!(stage("won")["count"], 1, "{out}");
    assert_eq!(stage("won")["amount"], json!(48000.5), "{out}");
}

/// Quarantine events of the deal named `name`.
fn quarantined(logs: &LogCapture, name: &str) -> Vec<BTreeMap<String, String>> {
    logs.on("truce::quarantine", "WARN")
        .into_iter()
        .filter(|e| e.get("name").map(String::as_str) == Some(name))
        .collect()
}

#[tokio::test]
async fn opportunities_salesforce_refuses_are_quarantined_in_its_words_and_nothing_else_stops() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let world = revenue_world("", "create_in_salesforce = \"always\"\n", "").await;
    // The value table sends one stage Salesforce's picklist does not have.
    edit_config(&world, |text| {
        text.replace(
            "\"1030\" = \"Needs Analysis\"",
            "\"1030\" = \"Demo Scheduled\"",
        )
    });
    let deal = |props: &[(&str, &str)]| {
        let mut all = vec![("pipeline", PIPELINE)];
        all.extend_from_slice(props);
        world.hubspot.create_deal(&all).unwrap()
    };
    deal(&[
        ("dealname", "Bad stage"),
        ("dealstage", "1030"),
        ("closedate", "2027-05-01"),
    ]);
    deal(&[("dealname", "No close date"), ("dealstage", "1010")]);
    world
        .hubspot
        .add_pipeline(DealPipeline {
            id: "renewals".into(),
            label: "Renewals".into(),
            stages: vec![DealStage::new("9999", "Renewal due", 0.5, false)],
        })
        .unwrap();
    world
        .hubspot
        .create_deal(&[
            ("pipeline", "renewals"),
            ("dealname", "Renewal"),
            ("dealstage", "9999"),
            ("closedate", "2027-05-01"),
        ])
        .unwrap();
    let fine = deal(&[
        ("dealname", "Fine"),
        ("dealstage", "1020"),
        ("closedate", "2027-06-30"),
        ("amount", "1234.56"),
    ]);
    world
        .hubspot
        .create_contact(&[
            ("email", "mql@example.com"),
            ("lastname", "Qualified"),
            ("lifecyclestage", "marketingqualifiedlead"),
        ])
        .unwrap();
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    settle(&mut engine, 4).await;
    let refused = quarantined(&logs, "Bad stage");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["system"], "salesforce");
    assert_eq!(refused[0]["object"], "deals");
    assert!(
        refused[0]["message"].contains("Demo Scheduled"),
        "Salesforce's own words: {refused:?}"
    );
    let refused = quarantined(&logs, "No close date");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["error_code"], "REQUIRED_FIELD_MISSING");
    assert!(refused[0]["message"].contains("CloseDate"), "{refused:?}");
    // A stage the table does not map is an error naming it, not a create without it.
    let refused = quarantined(&logs, "Renewal");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0]["message"].contains("\"9999\""), "{refused:?}");
    // The rest went on: the fine deal is an Opportunity, the MQL a Lead.
    assert_eq!(world.salesforce.count("Opportunity"), 1);
    let created = world
        .salesforce
        .find_by_field("Opportunity", "HubSpot_Deal_Id__c", &fine);
    let opportunity = world.salesforce.get("Opportunity", &created[0]).unwrap();
    assert_eq!(opportunity["Name"], "Fine");
    assert_eq!(opportunity["StageName"], "Qualification");
    assert_eq!(opportunity["CloseDate"], "2027-06-30");
    assert_eq!(opportunity["Amount"], json!(1234.56));
    assert_eq!(world.salesforce.find_by_email("mql@example.com").len(), 1);
    drop(engine);
    let (code, out, err) = truce_out(&world, &["status"]);
    assert_eq!(code, 0, "{err}");
    for name in ["Bad stage", "No close date"] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("deal \"{name}\"")))
            .unwrap_or_else(|| panic!("{name} is not named: {out}"));
        assert!(line.contains("salesforce (new record) deal"), "{line}");
        assert!(line.contains("(hubspot 9"), "names the deal's id: {line}");
    }
}

#[tokio::test]
async fn an_unknown_stage_from_hubspot_is_an_error_naming_it_and_the_rest_syncs() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let (world, seeded, mut engine) = settled(2, 2, "").await;
    world
        .hubspot
        .add_pipeline(DealPipeline {
            id: "renewals".into(),
            label: "Renewals".into(),
            stages: vec![DealStage::new("9999", "Renewal due", 0.5, false)],
        })
        .unwrap();
    let [odd, moved] = [0, 1].map(|i| deal_of(&world, &seeded.opportunities[i]).id);
    world
        .hubspot
        .edit_object(
            Kind::Deals,
            &odd,
            &[("pipeline", "renewals"), ("dealstage", "9999")],
        )
        .unwrap();
    world
        .hubspot
        .edit_object(Kind::Deals, &moved, &[("dealstage", "1050")])
        .unwrap();
    settle(&mut engine, 4).await;
    let refused: Vec<_> = logs
        .on("truce::quarantine", "WARN")
        .into_iter()
        .filter(|e| e.get("object").map(String::as_str) == Some("deals"))
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "reported once, merged again or not: {refused:?}"
    );
    let event = &refused[0];
    assert!(event["message"].contains("\"9999\""), "{event:?}");
    assert_eq!(event["record_id"], odd, "{event:?}");
    assert_eq!(event["name"], "Deal 0", "{event:?}");
    assert_eq!(event["field"], "dealstage", "{event:?}");
    let stage = |i: usize| {
        world
            .salesforce
            .get("Opportunity", &seeded.opportunities[i])
            .unwrap()["StageName"]
            .clone()
    };
    assert_eq!(stage(1), "Negotiation/Review");
    assert_eq!(stage(0), "Prospecting", "left as it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truce_check_verifies_stages_against_pipeline_and_picklist_and_required_fields() {
    let world = revenue_world("", "create_in_salesforce = \"always\"\n", "").await;
    let (code, out, err) = truce_out(&world, &["check"]);
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "deals described",
        "Opportunity described",
        "(closedate <-> CloseDate, line",
        "(dealstage <-> StageName, line",
        "Opportunity.Name (required) is filled from `dealname`, or \"[no name]\" when blank",
        "Opportunity.CloseDate is required and mapped from `closedate` without salesforce_if_blank",
        "deals.hubspot_id_property: deals.salesforce_opportunity_id is a unique-value property",
        "deals.pipeline: deals made from Opportunities go into pipeline \"enterprise\"",
        "verdict: ready",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    // A stage id the pipelines lack, a StageName the picklist lacks, CloseDate unmapped.
    edit_config(&world, |text| {
        let text = text
            .replace(
                "\"1030\" = \"Needs Analysis\"",
                "\"1030\" = \"Demo Scheduled\"",
            )
            .replace("\"1070\" = \"Closed Lost\"", "\"1080\" = \"Closed Lost\"");
        text.replace(
            "hubspot = \"closedate\"\nsalesforce = \"CloseDate\"\ntype = \"date\"\n",
            "hubspot = \"description\"\nsalesforce = \"Description\"\n",
        )
        .replace("pipeline = \"enterprise\"", "pipeline = \"enterprize\"")
    });
    let (code, out, err) = truce_out(&world, &["check"]);
    assert_eq!(code, 1, "{out}{err}");
    for expected in [
        "values table names \"1080\" that HubSpot `dealstage` does not offer",
        "values table names \"Demo Scheduled\" missing from the Opportunity.StageName picklist",
        "Opportunity.CloseDate is required by Salesforce and no [[field]] maps it: add a \
         mapping with `object = \"deals\"`",
        "deals.pipeline: HubSpot has no deal pipeline \"enterprize\" (its pipelines: default, enterprise)",
        "4 problems to fix",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
}

#[tokio::test]
async fn an_opportunity_created_whose_contact_role_is_refused_is_kept_once_and_the_role_quarantined()
 {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let world = revenue_world("", "create_in_salesforce = \"always\"\n", "").await;
    let seeded = seed(&world, 1, 0);
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    settle(&mut engine, 4).await;
    let buyer = world
        .salesforce
        .find_by_field("Contact", "Email", "buyer0@company0.example.com")
        .remove(0);
    let person = hubspot_contact(&world, &buyer).unwrap();
    let company = seeded.company_of.values().next().unwrap().clone();
    world
        .salesforce
        .add_validation_rule(truce_sandbox::salesforce::ValidationRule {
            object: "OpportunityContactRole".into(),
            field: "ContactId".into(),
            forbidden: buyer.clone(),
            message: "Partner contacts cannot hold a role".into(),
        });
    let deal = world
        .hubspot
        .create_deal(&[
            ("pipeline", PIPELINE),
            ("dealname", "Partner deal"),
            ("dealstage", "1020"),
            ("closedate", "2027-02-28"),
        ])
        .unwrap();
    world
        .hubspot
        .associate(Kind::Deals, &deal, Kind::Companies, &company, true)
        .unwrap();
    world
        .hubspot
        .associate(Kind::Deals, &deal, Kind::Contacts, &person, false)
        .unwrap();
    for _ in 0..3 {
        engine.cycle().await.unwrap();
    }
    let made = world
        .salesforce
        .find_by_field("Opportunity", "HubSpot_Deal_Id__c", &deal);
    assert_eq!(made.len(), 1, "created once");
    assert_eq!(world.salesforce.count("Opportunity"), 1);
    assert_eq!(
        world.hubspot.deals().len(),
        1,
        "and not copied back as a second deal"
    );
    let opportunity = world.salesforce.get("Opportunity", &made[0]).unwrap();
    assert_eq!(opportunity["Name"], "Partner deal");
    assert_eq!(
        opportunity["AccountId"],
        json!(seeded.company_of.keys().next().unwrap())
    );
    assert!(role_contacts(&world, &made[0]).is_empty());
    let refused = quarantined(&logs, "Partner deal");
    assert!(
        !refused.is_empty(),
        "{:?}",
        logs.on("truce::quarantine", "WARN")
    );
    assert_eq!(refused[0]["system"], "salesforce");
    assert_eq!(refused[0]["record_id"], made[0], "{refused:?}");
    assert!(
        refused[0]["message"].contains("Partner contacts cannot hold a role"),
        "{refused:?}"
    );
    // The link holds the Opportunity: nothing left to create.
    drop(engine);
    let (code, out, err) = truce_out(&world, &["history", &deal]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("salesforce Opportunity/{}", made[0])),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_always_salesforce_a_stage_moved_in_hubspot_is_put_back() {
    let world = revenue_world("", "", "").await;
    edit_config(&world, |text| {
        text.replace(
            "hubspot = \"dealstage\"\nsalesforce = \"StageName\"\n",
            "hubspot = \"dealstage\"\nsalesforce = \"StageName\"\nrule = \"always_salesforce\"\n",
        )
    });
    let seeded = seed(&world, 2, 2);
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    settle(&mut engine, 4).await;
    let [kept, moved] = [0, 1].map(|i| seeded.opportunities[i].clone());
    let deal = deal_of(&world, &kept).id;
    world
        .hubspot
        .edit_object(Kind::Deals, &deal, &[("dealstage", "1060")])
        .unwrap();
    world
        .salesforce
        .edit("Opportunity", &moved, json!({"StageName": "Closed Lost"}))
        .unwrap();
    settle(&mut engine, 4).await;
    // Salesforce owns the stage: HubSpot's move is undone, Salesforce's carried over.
    assert_eq!(
        world.salesforce.get("Opportunity", &kept).unwrap()["StageName"],
        "Prospecting"
    );
    assert_eq!(deal_of(&world, &kept).properties["dealstage"], "1010");
    assert_eq!(deal_of(&world, &moved).properties["dealstage"], "1070");
    assert_no_problems(&deal_problems(&world, &seeded));
}

/// The HubSpot companies named `name`.
fn companies_named(world: &World, name: &str) -> Vec<String> {
    world
        .hubspot
        .companies()
        .into_iter()
        .filter(|c| c.properties.get("name").map(String::as_str) == Some(name))
        .map(|c| c.id)
        .collect()
}

/// The companies a HubSpot deal is associated with.
fn deal_companies(world: &World, deal: &str) -> Vec<String> {
    world
        .hubspot
        .associations(Kind::Deals, deal, Kind::Companies)
        .into_iter()
        .map(|a| a.to_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_only_a_synced_deal_refers_to_becomes_the_deals_company_once() {
    let world = revenue_world("association_sweep = \"0s\"", "", "").await;
    // Accounts tied by people, with Opportunities and roles: associated by the backfill.
    let mut seeded = seed(&world, 3, 4);
    // An Account no Contact is on, whose only tie to HubSpot is its Opportunity.
    let lonely = world
        .salesforce
        .create("Account", json!({"Name": "Lonely Deal Co"}))
        .unwrap();
    let opportunity = world
        .salesforce
        .create(
            "Opportunity",
            json!({"Name": "Lonely renewal", "StageName": "Prospecting",
                   "CloseDate": "2027-03-01", "Amount": 1200.0, "AccountId": lonely}),
        )
        .unwrap();
    // An Account nothing synced refers to stays home.
    world
        .salesforce
        .create("Account", json!({"Name": "Nobody Syncs Me"}))
        .unwrap();
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    // The backfill creates the deals and the company the lonely deal refers to...
    let made = companies_named(&world, "Lonely Deal Co");
    assert_eq!(made.len(), 1, "one company for the lonely Account");
    assert_eq!(world.hubspot.deals().len(), 5);
    // ...and associates every deal it created with its company and contacts, the lonely
    // one with the company made for it: no record was read back for that.
    seeded.opportunities.push(opportunity.clone());
    seeded.company_of.insert(lonely.clone(), made[0].clone());
    assert_no_problems(&deal_problems(&world, &seeded));
    // The next cycle finds nothing left to write.
    let cycle = engine.cycle().await.unwrap();
    assert_eq!(
        cycle.written_hubspot + cycle.written_salesforce,
        0,
        "{cycle:?}"
    );
    assert_no_problems(&deal_problems(&world, &seeded));
    assert_eq!(
        deal_companies(&world, &deal_of(&world, &opportunity).id),
        made
    );
    settle(&mut engine, 4).await;
    assert_no_problems(&deal_problems(&world, &seeded));
    assert_eq!(
        companies_named(&world, "Lonely Deal Co"),
        made,
        "no duplicate"
    );
    assert_eq!(
        world.hubspot.company(&made[0]).unwrap().properties["salesforce_account_id"],
        lonely
    );
    assert!(companies_named(&world, "Nobody Syncs Me").is_empty());
    assert_eq!(world.hubspot.companies().len(), 3 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_company_only_a_deal_synced_to_salesforce_refers_to_becomes_its_account() {
    let world = revenue_world(
        "association_sweep = \"0s\"",
        "create_in_salesforce = \"always\"\n",
        "",
    )
    .await;
    let company = world
        .hubspot
        .create_company(&[("name", "Marketing Found Inc")])
        .unwrap();
    world
        .hubspot
        .create_company(&[("name", "Only In HubSpot Ltd")])
        .unwrap();
    let deal = world
        .hubspot
        .create_deal(&[
            ("dealname", "Inbound pilot"),
            ("pipeline", PIPELINE),
            ("dealstage", "1020"),
            ("closedate", "2027-04-01T00:00:00.000Z"),
            ("amount", "900"),
        ])
        .unwrap();
    world
        .hubspot
        .associate(Kind::Deals, &deal, Kind::Companies, &company, true)
        .unwrap();
    let mut engine = world.engine();
    engine.backfill(&Quiet, true).await.unwrap();
    settle(&mut engine, 4).await;
    let accounts = world
        .salesforce
        .find_by_field("Account", "Name", "Marketing Found Inc");
    assert_eq!(accounts.len(), 1, "one Account for the deal's company");
    let opportunities = world
        .salesforce
        .find_by_field("Opportunity", "Name", "Inbound pilot");
    assert_eq!(opportunities.len(), 1);
    let record = world
        .salesforce
        .get("Opportunity", &opportunities[0])
        .unwrap();
    assert_eq!(record["AccountId"], json!(accounts[0]));
    assert!(
        world
            .salesforce
            .find_by_field("Account", "Name", "Only In HubSpot Ltd")
            .is_empty()
    );
    assert_eq!(world.salesforce.count("Account"), 1);
}
