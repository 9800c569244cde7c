//! `truce funnel`, the real binary, on state files built two ways: by a scripted run of
//! the real engine against the sandboxes (marketing qualifies, sales works, closes,
//! converts or ignores, at times the test sets), and directly through the store (the
//! deals pair's Opportunities, won or lost, with amounts). Every count is computed again
//! by the test from its own script. The HTML page is opened in a real headless Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::World;
use serde_json::{Value, json};
use truce_sandbox::hubspot::SandboxOptions as HubSpotOptions;
use truce_sandbox::salesforce::SandboxOptions as SalesforceOptions;
use truce_state::{
    Converted, HandoffHow, HandoffVerdict, LinkId, NewHandoff, NewLink, Outcome, RecordMeta,
    SlaOutcome, SnapshotUpdate, Store,
};

const HOUR: i64 = 3_600_000;

const SLA: &str = "[sla]\nfirst_touch = \"24h\"\nuntouched = [\"Open - Not Contacted\"]\n\
                   hubspot_property = \"truce_sla\"\n";

/// What sales does with one handed-off Lead, and when (hours after the hand-off).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Ignored,
    Worked(i64),
    Discarded(i64),
    Converted(i64),
}

/// The script: who marketing qualifies, from which source, and what sales does.
const SCRIPT: [(&str, Option<&str>, Fate); 11] = [
    ("a0@example.com", Some("ORGANIC_SEARCH"), Fate::Worked(2)),
    ("a1@example.com", Some("ORGANIC_SEARCH"), Fate::Worked(5)),
    ("a2@example.com", Some("ORGANIC_SEARCH"), Fate::Converted(1)),
    ("a3@example.com", Some("ORGANIC_SEARCH"), Fate::Ignored),
    ("a4@example.com", Some("PAID_SEARCH"), Fate::Worked(3)),
    ("a5@example.com", Some("PAID_SEARCH"), Fate::Discarded(1)),
    ("a6@example.com", Some("PAID_SEARCH"), Fate::Worked(26)),
    ("a7@example.com", Some("PAID_SEARCH"), Fate::Converted(4)),
    ("a8@example.com", None, Fate::Ignored),
    ("a9@example.com", None, Fate::Discarded(30)),
    ("a10@example.com", None, Fate::Worked(10)),
];

/// A qualified contact who is a Salesforce Contact already: qualified, never handed off.
const CUSTOMER: (&str, &str) = ("customer@example.com", "ORGANIC_SEARCH");

fn truce(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(args)
        .output()
        .expect("truce runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn funnel_json(state: &Path) -> Value {
    let (code, out, err) = truce(&["funnel", "--json", "--state", state.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Plays the script against the sandboxes with the real engine; returns the world and a
/// copy of its state file, taken after the engine closed it.
async fn scripted() -> (World, PathBuf) {
    let world = World::with_sections(
        HubSpotOptions::default(),
        SalesforceOptions::default(),
        "",
        SLA,
    )
    .await;
    for (email, source, _) in SCRIPT {
        let mut props = vec![
            ("email", email),
            ("firstname", "Q"),
            ("lifecyclestage", "marketingqualifiedlead"),
        ];
        props.extend(source.map(|s| ("hs_analytics_source", s)));
        world.hubspot.create_contact(&props).unwrap();
    }
    world
        .salesforce
        .create(
            "Contact",
            json!({"LastName": "Customer", "Email": CUSTOMER.0}),
        )
        .unwrap();
    world
        .hubspot
        .create_contact(&[
            ("email", CUSTOMER.0),
            ("lifecyclestage", "customer"),
            ("hs_analytics_source", CUSTOMER.1),
        ])
        .unwrap();
    for email in ["cold1@example.com", "cold2@example.com"] {
        world
            .hubspot
            .create_contact(&[("email", email), ("lifecyclestage", "lead")])
            .unwrap();
    }
    // Whole seconds, as Salesforce stamps them: hand-offs and touches then differ by
    // exactly the script's hours.
    let start = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
    let at = Arc::new(AtomicI64::new(start));
    let clock = {
        let at = at.clone();
        Arc::new(move || at.load(Ordering::SeqCst))
    };
    let mut engine = world.engine_with_clock(clock);
    engine.cycle().await.unwrap();
    engine.cycle().await.unwrap();
    // Sales acts in time order, each action stamped at its hour.
    let mut actions: Vec<(i64, &str, Fate)> = SCRIPT
        .iter()
        .filter_map(|(email, _, fate)| match fate {
            Fate::Ignored => None,
            Fate::Worked(h) | Fate::Discarded(h) | Fate::Converted(h) => Some((*h, *email, *fate)),
        })
        .collect();
    actions.sort_by_key(|(h, email, _)| (*h, email.to_string()));
    let mut engine_hours = 0;
    for (hours, email, fate) in actions {
        if hours > 24 && engine_hours < 25 {
            // Past the agreed time: the watch sees who is still waiting.
            at.store(start + 25 * HOUR, Ordering::SeqCst);
            engine.cycle().await.unwrap();
            engine.cycle().await.unwrap();
            engine_hours = 25;
        }
        let when = chrono::DateTime::from_timestamp_millis(start + hours * HOUR).unwrap();
        world.salesforce.pin_clock(Some(when));
        let lead = world
            .salesforce
            .find_by_email(email)
            .into_iter()
            .find(|(object, _)| object == "Lead")
            .unwrap()
            .1;
        let status = match fate {
            Fate::Discarded(_) => "Closed - Not Converted",
            _ => "Working - Contacted",
        };
        world
            .salesforce
            .edit("Lead", &lead, json!({ "Status": status }))
            .unwrap();
        if let Fate::Converted(_) = fate {
            world.salesforce.convert_lead(&lead).unwrap();
        }
    }
    at.store(start + 31 * HOUR, Ordering::SeqCst);
    for _ in 0..3 {
        engine.cycle().await.unwrap();
    }
    world.salesforce.pin_clock(None);
    let path = engine.store().path().to_path_buf();
    drop(engine);
    // The funnel works on a copy of the state file: nothing else is needed.
    let copy = world.dir.path().join("copy-of-truce.db");
    std::fs::copy(&path, &copy).unwrap();
    (world, copy)
}

/// The stages and SLA figures the script implies for the contacts `keep` selects.
fn expected(keep: impl Fn(Option<&str>) -> bool) -> Value {
    let people: Vec<&(&str, Option<&str>, Fate)> =
        SCRIPT.iter().filter(|(_, s, _)| keep(*s)).collect();
    let customers = u64::from(keep(Some(CUSTOMER.1)));
    let worked: Vec<i64> = people
        .iter()
        .filter_map(|(_, _, fate)| match fate {
            Fate::Worked(h) | Fate::Converted(h) => Some(h * 3600),
            _ => None,
        })
        .collect();
    let mut sorted = worked.clone();
    sorted.sort();
    let rank = |p: usize| {
        (!sorted.is_empty()).then(|| sorted[(p * sorted.len()).div_ceil(100).max(1) - 1])
    };
    let count = |f: &dyn Fn(Fate) -> bool| people.iter().filter(|(_, _, x)| f(*x)).count() as u64;
    let converted = count(&|f| matches!(f, Fate::Converted(_)));
    json!({
        "stages": [
            {"name": "qualified", "count": people.len() as u64 + customers},
            {"name": "handed_off", "count": people.len()},
            {"name": "worked", "count": worked.len()},
            {"name": "converted", "count": converted},
            // The org's lead conversion creates an Opportunity unless told not to.
            {"name": "opportunity", "count": converted},
            {"name": "won", "count": 0, "amount": 0.0},
        ],
        "sla": {
            "met": count(&|f| matches!(f, Fate::Worked(h) | Fate::Converted(h) if h <= 24)),
            "breached": count(&|f| matches!(f, Fate::Ignored)
                || matches!(f, Fate::Worked(h) | Fate::Discarded(h) if h > 24)),
            "discarded_untouched": count(&|f| matches!(f, Fate::Discarded(_))),
            "open": 0,
            "median_first_touch_s": rank(50),
            "p90_first_touch_s": rank(90),
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funnel_json_on_a_scripted_run_equals_the_counts_the_script_implies() {
    let (_world, state) = scripted().await;
    let funnel = funnel_json(&state);
    let overall = expected(|_| true);
    assert_eq!(funnel["stages"], overall["stages"], "{funnel:#}");
    assert_eq!(funnel["sla"], overall["sla"], "{funnel:#}");
    // The script in numbers, so a wrong `expected` cannot hide a wrong funnel.
    assert_eq!(funnel["stages"][1]["count"], 11);
    assert_eq!(funnel["sla"]["median_first_touch_s"], 4 * 3600);
    let sources = funnel["by_source"].as_object().unwrap();
    let keys: Vec<&str> = sources.keys().map(String::as_str).collect();
    assert_eq!(keys, ["(none)", "ORGANIC_SEARCH", "PAID_SEARCH"]);
    for (key, part) in sources {
        let want = expected(|s| s.unwrap_or("(none)") == key);
        assert_eq!(part["stages"], want["stages"], "{key}: {part:#}");
        assert_eq!(part["sla"], want["sla"], "{key}: {part:#}");
    }
    let since = chrono::DateTime::parse_from_rfc3339(funnel["since"].as_str().unwrap()).unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(funnel["until"].as_str().unwrap()).unwrap();
    assert_eq!((until - since).num_days(), 90);
    // A window that ends before anyone qualified is empty.
    let (code, out, _) = truce(&[
        "funnel",
        "--since",
        "1s",
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("Qualified in HubSpot"), "{out}");
}

/// A state file written through the store: five qualified contacts handed off, three of
/// them converted with an Opportunity (two won, one lost), amounts as Salesforce sends
/// them.
fn store_with_deals(path: &Path, won_amount: &str) {
    let mut store = Store::open(path).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let opportunities = [
        (Some("006A"), true, Some(won_amount)),
        (Some("006B"), true, Some("2500")),
        (Some("006C"), false, Some("9999.99")),
        (None, false, None),
        (None, false, None),
    ];
    store
        .transaction(|tx| {
            for (i, (opportunity, won, amount)) in opportunities.into_iter().enumerate() {
                let hubspot = format!("{}", 100 + i);
                let lead = format!("00Q{i}");
                let link = tx.create_link(
                    &NewLink {
                        pair: "contacts".into(),
                        email: format!("p{i}@example.com"),
                        hubspot_id: Some(hubspot.clone()),
                        salesforce_object: Some("Lead".into()),
                        salesforce_id: Some(lead.clone()),
                        ..NewLink::default()
                    },
                    now,
                )?;
                tx.record_qualified(&hubspot, "marketingqualifiedlead", None, now - HOUR)?;
                tx.record_handoff(&NewHandoff {
                    hubspot_id: hubspot.clone(),
                    link_id: LinkId(link.0),
                    email: format!("p{i}@example.com"),
                    how: HandoffHow::Created,
                    lead_id: Some(lead.clone()),
                    owner: None,
                    value: "marketingqualifiedlead".into(),
                    source: None,
                    handed_off_at: now - HOUR,
                    since_seq: 0,
                })?;
                tx.set_handoff_verdict(
                    &hubspot,
                    &HandoffVerdict {
                        first_touch_at: Some(now - HOUR + 60_000),
                        first_status: Some("Working - Contacted".into()),
                        outcome: Some(SlaOutcome::Met),
                        settled: true,
                    },
                )?;
                let converted = (i < 3).then(|| Converted {
                    contact_id: Some(format!("003{i}")),
                    account_id: None,
                    opportunity_id: opportunity.map(String::from),
                });
                tx.upsert_snapshot(
                    "contacts",
                    "salesforce",
                    &SnapshotUpdate {
                        object: "Lead".into(),
                        record_id: lead,
                        match_key: Some(format!("p{i}@example.com")),
                        modified_at: now,
                        meta: RecordMeta {
                            converted,
                            ..RecordMeta::default()
                        },
                        ..SnapshotUpdate::default()
                    },
                    now,
                )?;
                if let Some(id) = opportunity {
                    tx.upsert_snapshot(
                        "deals",
                        "salesforce",
                        &SnapshotUpdate {
                            object: "Opportunity".into(),
                            record_id: id.into(),
                            modified_at: now,
                            meta: RecordMeta {
                                name: Some(format!("Deal {i}")),
                                outcome: Some(Outcome {
                                    closed: true,
                                    won,
                                    amount: amount.map(String::from),
                                }),
                                ..RecordMeta::default()
                            },
                            ..SnapshotUpdate::default()
                        },
                        now,
                    )?;
                }
            }
            Ok::<_, truce_state::StoreError>(())
        })
        .unwrap();
}

#[test]
fn opportunities_and_won_amounts_come_from_the_deals_pairs_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truce.db");
    store_with_deals(&path, "1200.50");
    let funnel = funnel_json(&path);
    let counts: Vec<(String, u64)> = funnel["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let names = [
        "qualified",
        "handed_off",
        "worked",
        "converted",
        "opportunity",
        "won",
    ];
    let want: Vec<(String, u64)> = names
        .iter()
        .map(|n| n.to_string())
        .zip([5, 5, 5, 3, 3, 2])
        .collect();
    assert_eq!(counts, want);
    assert_eq!(funnel["stages"][5]["amount"], json!(3700.5));
    assert!(funnel["stages"][4].get("amount").is_none());
    assert_eq!(funnel["sla"]["met"], 5);
    assert_eq!(funnel["sla"]["median_first_touch_s"], 60);
    assert_eq!(funnel["by_source"], json!({}));
    // `truce status` has the SLA line from the same state file.
    let (code, out, err) = truce(&["status", "--state", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("sla          5 hand-offs: 0 open, 0 of them breached now; 5 met"),
        "{out}"
    );

    // An amount that is not a number is an error naming the Opportunity, not a zero.
    let bad = dir.path().join("bad.db");
    store_with_deals(&bad, "lots");
    let (code, _, err) = truce(&["funnel", "--json", "--state", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("006A") && err.contains("`lots`"), "{err}");
}

#[test]
fn a_malformed_since_exits_2_naming_the_accepted_forms() {
    let (code, out, err) = truce(&[
        "funnel",
        "--since",
        "ninety days",
        "--state",
        "/nonexistent",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    for form in ["90d", "12h", "30m"] {
        assert!(err.contains(form), "{err}");
    }
}

#[test]
fn an_empty_or_missing_state_file_is_an_empty_funnel() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.db");
    for path in [&empty, &missing] {
        let funnel = funnel_json(path);
        assert!(
            funnel["stages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["count"] == 0),
            "{funnel:#}"
        );
        assert_eq!(funnel["stages"].as_array().unwrap().len(), 6);
        assert_eq!(funnel["sla"]["open"], 0);
        assert!(funnel["sla"]["median_first_touch_s"].is_null());
        let (code, out, err) = truce(&["funnel", "--state", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("holds nothing yet"), "{out}");
    }
    assert!(!missing.exists(), "reading creates nothing");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "nor writes");
}

/// Debian's Chromium, when installed; on CI its absence is a failure.
fn chromium() -> Option<PathBuf> {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return Some(candidate.into());
        }
    }
    let message = "Chromium is not installed, so the funnel page cannot be opened in a real \
                   browser; install it with `apt-get install -y --no-install-recommends \
                   chromium` (.ci/run does)";
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("skipped: {message}");
    None
}

/// Runs headless Chromium on `page` with `extra` arguments; its stdout.
fn headless(chromium: &Path, profile: &Path, page: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chromium failed: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many distinct colours a PNG holds.
fn colours(png_path: &Path) -> usize {
    let file = std::io::BufReader::new(std::fs::File::open(png_path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert!(info.width >= 1000 && info.height >= 800, "{info:?}");
    let channels = info.color_type.samples();
    let mut seen = std::collections::BTreeSet::new();
    for pixel in buf[..info.buffer_size()].chunks(channels) {
        seen.insert(pixel[..channels.min(3)].to_vec());
    }
    seen.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_funnel_page_renders_in_a_real_browser_with_every_stage_and_figure() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (world, state) = scripted().await;
    let page = world.dir.path().join("funnel.html");
    let (code, out, err) = truce(&[
        "funnel",
        "--html",
        page.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("funnel page written to {}", page.display())));
    let funnel = funnel_json(&state);
    let profile = tempfile::tempdir().unwrap();
    let shot = world.dir.path().join("funnel.png");
    headless(
        &chromium,
        profile.path(),
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
        ],
    );
    let distinct = colours(&shot);
    assert!(distinct >= 8, "a blank page? only {distinct} colours");
    let dom = headless(&chromium, profile.path(), &page, &["--dump-dom"]);
    let labels = [
        "Qualified in HubSpot",
        "Handed to sales",
        "Worked",
        "Converted",
        "Opportunity",
        "Won",
    ];
    for (stage, label) in funnel["stages"].as_array().unwrap().iter().zip(labels) {
        let row = format!("<td>{label}</td><td>{}</td>", stage["count"]);
        assert!(dom.contains(&row), "{row} not in the rendered page");
    }
    let sla = &funnel["sla"];
    for (label, value) in [
        ("Worked within the SLA", sla["met"].to_string()),
        ("Breached (untouched too long)", sla["breached"].to_string()),
        (
            "Discarded untouched",
            sla["discarded_untouched"].to_string(),
        ),
        ("Open (waiting, within the SLA)", sla["open"].to_string()),
        ("Median time to first touch", "4h".to_string()),
        ("90th percentile time to first touch", "1d2h".to_string()),
    ] {
        let pattern = format!("<dt>{label}</dt><dd");
        let at = dom
            .find(&pattern)
            .unwrap_or_else(|| panic!("{label} not in the page"));
        let figure = &dom[at + pattern.len()..];
        let figure = &figure[figure.find('>').unwrap() + 1..figure.find("</dd>").unwrap()];
        assert_eq!(figure, value, "{label}");
    }
    for source in ["ORGANIC_SEARCH", "PAID_SEARCH"] {
        assert!(dom.contains(&format!("<td>{source}</td>")), "{source}");
    }
    assert!(!dom.contains("<script"), "no script in the page");
}
