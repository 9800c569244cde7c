//! `truce demo` as a newcomer runs it: the real binary, built-in sandboxes, a short live
//! phase, and the log and summary it promises.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
#[cfg_attr(not(feature = "sandbox"), ignore = "needs the sandbox feature")]
fn the_demo_shows_a_conflict_decision_a_quarantined_record_an_sla_finding_revenue_the_summary_and_how_to_inspect()
 {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["demo", "--duration", "5s", "--seed", "3"])
        .env_remove("RUST_LOG")
        .env_remove("TRUCE_CONFIG")
        .env("TMPDIR", tmp.path())
        .output()
        .expect("truce runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        output.status
    );
    let all = format!("{stdout}\n{stderr}");
    // The admin's log: cycle lines, a conflict with its rule and winner, the quarantine
    // with Salesforce's own message.
    assert!(stderr.contains("cycle done"), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.contains("WARN truce::conflict")
            && l.contains("rule=")
            && l.contains("winner=")),
        "{stderr}"
    );
    assert!(
        stderr.lines().any(|l| l.contains("WARN truce::quarantine")
            && l.contains("INVALID_EMAIL_ADDRESS")
            && l.contains("invalid email address: jordan.typo@initech.c")),
        "{stderr}"
    );
    // The hand-off SLA: sales closed a handed-off Lead without working it at once.
    assert!(
        stderr.lines().any(|l| l.contains("WARN truce::sla")
            && l.contains("kind=\"discarded_untouched\"")
            && l.contains("owner=")),
        "{stderr}"
    );
    // The summary table and the inspect commands, pointing at a state file that exists.
    for row in ["links", "creates", "updates", "conflicts", "quarantined"] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(row)),
            "{row} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("two_way"), "{stdout}");
    // Companies and deals: the seeded ones linked or created across (5 HubSpot companies
    // referenced by a Salesforce Contact's person become Accounts, 4 Accounts with a person
    // in HubSpot become companies), every Opportunity a HubSpot deal.
    let row = |name: &str| -> Vec<u64> {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{stdout}"))
            .split_whitespace()
            .skip(1)
            .take(3)
            .map(|n| {
                n.parse()
                    .unwrap_or_else(|_| panic!("{name}: {n}\n{stdout}"))
            })
            .collect()
    };
    let companies = row("companies");
    assert!(
        companies[0] >= 5 && companies[1] >= 4 && companies[2] >= 21,
        "{stdout}"
    );
    let deals = row("deals");
    assert_eq!(deals[0], 0, "no Opportunity is made from HubSpot: {stdout}");
    assert!(deals[1] >= 21 && deals[2] >= 21, "{stdout}");
    // Sales converted a lead with an opportunity and won deals: the revenue HubSpot shows is
    // Salesforce's, won deals and amount.
    assert!(
        stderr.contains("sales converted a lead into a Contact, an Account and an Opportunity"),
        "{stderr}"
    );
    assert!(stderr.contains("sales won an opportunity"), "{stderr}");
    let revenue = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("revenue"))
        .expect("the revenue row");
    let words: Vec<&str> = revenue.split_whitespace().collect();
    let (won_hubspot, amount_hubspot) = (words[3], words[7].trim_end_matches(';'));
    let (won_salesforce, amount_salesforce) = (words[10], words[14]);
    assert_eq!(
        (won_hubspot, amount_hubspot),
        (won_salesforce, amount_salesforce),
        "{revenue}"
    );
    assert!(
        won_hubspot.parse::<u64>().unwrap() >= 4,
        "3 seeded won and the converted one: {revenue}"
    );
    let state = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("truce status    --state "))
        .expect("the status command is printed");
    assert!(std::path::Path::new(state).exists(), "{state}");
    assert!(stdout.contains("truce conflicts --state"), "{stdout}");
    assert!(stdout.contains("truce history "), "{stdout}");
    assert!(stdout.contains("truce funnel    --state"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("hand-offs")),
        "{stdout}"
    );
    let page = stdout
        .lines()
        .find_map(|l| l.strip_prefix("The shared funnel, drawn: "))
        .and_then(|l| l.strip_suffix(" (open it in a browser)"))
        .expect("the funnel page is named");
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("Handed to sales"), "{page}");
    // The printed commands work on the state file the demo left.
    let status = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["conflicts", "--state", state, "--since", "1h"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{all}");
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("two_way"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    // Nothing secret-looking leaks: the sandbox secret is only in its file.
    assert!(!all.contains("truce-sandbox-secret"), "{all}");
}
