//! `truce check` against the sandboxes: the real binary, a good config and a broken one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::World;

async fn check(config: &Path) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["check", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("TRUCE_CONFIG")
        .output()
        .await
        .expect("truce runs");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_config_passes_every_check_and_exits_0() {
    let world = World::new().await;
    let (code, out, err) = check(&world.config_path).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("FAIL"), "{out}");
    for expected in [
        "can read contacts",
        "speaks HubSpot API 2026-09",
        "crm.schemas.contacts.read",
        "Lead described",
        "Contact described",
        "Salesforce daily API quota",
        "Lead.LastName (required) is filled from `lastname`",
        "Lead.Company (required) is filled from `company`",
        "verdict: ready",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    assert!(!out.contains("truce-sandbox-secret") && !err.contains("truce-sandbox-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_lists_every_mapping_problem_in_one_run_and_exits_1() {
    let world = World::new().await;
    let good = std::fs::read_to_string(&world.config_path).unwrap();
    let head = good.split("[[field]]").next().unwrap();
    let broken = format!(
        r#"{head}
[[field]]
hubspot = "email"
salesforce = "Email"

[[field]]
hubspot = "lastname"
salesforce = "LastName"
salesforce_if_blank = "[not provided]"

[[field]]
hubspot = "favourite_colour"
salesforce = "Description"

[[field]]
hubspot = "city"
salesforce = "Town__c"
on = ["Lead"]

[[field]]
hubspot = "date_of_birth"
salesforce = "Website"
on = ["Lead"]

[[field]]
hubspot = "hs_lead_status"
salesforce = "Status"
on = ["Lead"]
rule = "always_salesforce"
values = {{ "NEW" = "Open - Not Contacted", "BAD_TIMING" = "Nurturing" }}
"#
    )
    .replace(
        "[salesforce]\n",
        "[salesforce]\nexternal_id_field = \"HubSpot_Id_Missing__c\"\n",
    );
    let path = world.dir.path().join("broken.toml");
    std::fs::write(&path, broken).unwrap();
    let (code, out, err) = check(&path).await;
    assert_eq!(code, 1, "{out}{err}");
    let fails: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("FAIL"))
        .collect();
    for expected in [
        "HubSpot has no contact property `favourite_colour`",
        "Salesforce Lead has no field `Town__c`",
        "type mismatch: HubSpot `date_of_birth` is date but Lead.Website is url",
        "\"Nurturing\" missing from the Lead.Status picklist",
        "Lead.Company is required by Salesforce and no [[field]] maps it",
        "Lead has no field `HubSpot_Id_Missing__c`",
        "Contact has no field `HubSpot_Id_Missing__c`",
    ] {
        assert!(
            fails.iter().any(|l| l.contains(expected)),
            "{expected:?} missing from the failures:\n{out}"
        );
    }
    // Each finding names the [[field]] and its line in the file.
    assert!(
        fails
            .iter()
            .any(|l| l.contains("field[2] (favourite_colour <-> Description, line")),
        "{out}"
    );
    assert_eq!(fails.len(), 7, "exactly the seven problems:\n{out}");
    assert!(out.contains("verdict: FAIL, 7 problems"), "{out}");
    assert!(err.contains("truce check found 7 problems"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_on_both_sides_without_printing_them() {
    let world = World::new().await;
    std::fs::write(
        world.dir.path().join("hubspot-token"),
        "pat-na1-wrong-token",
    )
    .unwrap();
    std::fs::write(
        world.dir.path().join("salesforce-client-secret"),
        "wrong-secret-value",
    )
    .unwrap();
    let (code, out, err) = check(&world.config_path).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAIL  reading contacts from"), "{out}");
    assert!(out.contains("FAIL  describing Lead failed"), "{out}");
    let all = format!("{out}{err}");
    assert!(!all.contains("pat-na1-wrong-token") && !all.contains("wrong-secret-value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_apis_fail_and_no_mapping_is_claimed_checked() {
    let world = World::new().await;
    // A loopback port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = std::fs::read_to_string(&world.config_path)
        .unwrap()
        .replace(
            &world.hubspot_served.url(),
            &format!("http://127.0.0.1:{closed}"),
        )
        .replace(
            &world.salesforce_served.url(),
            &format!("http://127.0.0.1:{closed}"),
        );
    let path = world.dir.path().join("dead.toml");
    std::fs::write(&path, dead).unwrap();
    let (code, out, err) = check(&path).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAIL  reading contacts from"), "{out}");
    assert!(out.contains("FAIL  describing Lead failed"), "{out}");
    assert!(!out.contains("types match"), "{out}");
    assert!(out.contains("not checked against HubSpot"), "{out}");
}
