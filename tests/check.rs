//! `truce check` against the sandboxes: the real binary, a good config and a broken one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{World, assert_no_key_nor_assertion, jwt_world};
use truce_sandbox::salesforce::{AppKey, DEFAULT_USER};

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
    // Logging in comes first, so a refused or unreachable login is one line.
    assert!(out.contains("FAIL  logging in at"), "{out}");
    assert!(!out.contains("describing Lead failed"), "{out}");
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
    // Logging in comes first, so a refused or unreachable login is one line.
    assert!(out.contains("FAIL  logging in at"), "{out}");
    assert!(!out.contains("describing Lead failed"), "{out}");
    assert!(!out.contains("types match"), "{out}");
    assert!(out.contains("not checked against HubSpot"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwt_bearer_grant_passes_and_each_refusal_is_one_line_naming_its_cause() {
    let key = AppKey::generate().unwrap();
    let world = jwt_world(&key, DEFAULT_USER).await;
    let (code, out, err) = check(&world.config_path).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("(jwt_bearer grant); the REST API answers"),
        "{out}"
    );
    assert_no_key_nor_assertion(&format!("{out}{err}"), &key);

    // The app holds another certificate; the org's clock is ahead; the user is unknown.
    let other = AppKey::generate().unwrap();
    world
        .salesforce
        .set_jwt_certificate(&other.public_pem)
        .unwrap();
    let (code, out, err) = check(&world.config_path).await;
    world
        .salesforce
        .set_jwt_certificate(&key.public_pem)
        .unwrap();
    world
        .salesforce
        .pin_clock(Some(chrono::Utc::now() + chrono::Duration::minutes(10)));
    let expired = check(&world.config_path).await;
    world.salesforce.pin_clock(None);
    let stranger = jwt_world(&key, "nobody@example.com").await;
    let unknown = check(&stranger.config_path).await;
    for ((code, out, err), cause, hint) in [
        (
            (code, out, err),
            "invalid assertion",
            "private_key must be the key of that certificate",
        ),
        (
            expired,
            "expired authorization code",
            "check this host's clock",
        ),
        (
            unknown,
            "user hasn't approved this consumer",
            "username is unknown or inactive",
        ),
    ] {
        assert_eq!(code, 1, "{out}{err}");
        let salesforce: Vec<&str> = out
            .lines()
            .skip_while(|l| *l != "Salesforce")
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .collect();
        assert_eq!(salesforce.len(), 1, "one line, naming the cause:\n{out}");
        let line = salesforce[0];
        assert!(
            line.contains("FAIL  logging in at") && line.contains("jwt_bearer grant"),
            "{out}"
        );
        assert!(
            line.contains("invalid_grant") && line.contains(cause) && line.contains(hint),
            "{out}"
        );
        assert!(out.contains("verdict: FAIL"), "{out}");
        assert_no_key_nor_assertion(&format!("{out}{err}"), &key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_that_does_not_parse_is_a_config_error_naming_its_source_not_its_content() {
    let key = AppKey::generate().unwrap();
    let world = jwt_world(&key, DEFAULT_USER).await;
    // The certificate where the key should be: a common mistake.
    std::fs::write(world.dir.path().join("salesforce-jwt.key"), &key.public_pem).unwrap();
    let (code, out, err) = check(&world.config_path).await;
    assert_eq!(code, 78, "{out}{err}");
    let text = std::fs::read_to_string(&world.config_path).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("private_key"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(":{line}: `salesforce.private_key`")),
        "{err}"
    );
    assert!(
        err.contains("the key read from file salesforce-jwt.key does not parse"),
        "{err}"
    );
    assert!(err.contains("PUBLIC KEY block, not a private key"), "{err}");
    for body in key.public_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!err.contains(body) && !out.contains(body), "{err}");
    }
}
