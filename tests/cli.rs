//! The `truce` binary as an admin runs it: help, exit codes, config validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn truce(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_truce"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("TRUCE_CONFIG")
        .env_remove("CREDENTIALS_DIRECTORY");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("truce runs");
    (
        status.code().expect("exit code"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn example() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/truce.toml.example"
    ))
}

fn with_example_env(cmd: &mut Command) -> &mut Command {
    cmd.env("HUBSPOT_TOKEN", "pat-na1-test-token")
        .env("SALESFORCE_CLIENT_ID", "test-client-id")
        .env("SALESFORCE_CLIENT_SECRET", "test-client-secret")
}

#[test]
fn help_lists_every_subcommand_of_the_design() {
    let (code, out, _) = run(&mut truce(&["--help"]));
    assert_eq!(code, 0);
    for sub in [
        "run",
        "backfill",
        "check",
        "status",
        "conflicts",
        "history",
        "retry",
        "demo",
        "sandbox",
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing from:\n{out}"
        );
    }
}

#[test]
fn every_subcommand_help_has_an_example() {
    for sub in [
        "run",
        "backfill",
        "check",
        "status",
        "conflicts",
        "history",
        "retry",
        "demo",
        "sandbox",
    ] {
        let (code, out, _) = run(&mut truce(&[sub, "--help"]));
        assert_eq!(code, 0, "{sub}");
        assert!(
            out.contains("Example"),
            "{sub} --help has no example:\n{out}"
        );
    }
}

#[test]
fn the_example_config_passes_validation_when_its_variables_are_set() {
    let path = example().to_str().unwrap();
    let (code, out, err) = run(with_example_env(&mut truce(&[
        "check",
        "--offline",
        "--config",
        path,
    ])));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("config is valid"), "{out}");
    assert!(!out.contains("pat-na1-test-token") && !err.contains("pat-na1-test-token"));
}

#[test]
fn a_misspelt_key_exits_78_and_names_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example()).unwrap();
    let bad = dir.path().join("truce.toml");
    std::fs::write(&bad, text.replace("poll_interval", "poll_intervall")).unwrap();
    let (code, _, err) = run(with_example_env(&mut truce(&[
        "check",
        "--offline",
        "--config",
        bad.to_str().unwrap(),
    ])));
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("`sync.poll_intervall`"), "{err}");
    assert!(err.contains("truce.toml:"), "{err}");
}

#[test]
fn a_mapping_of_a_pair_not_synced_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example()).unwrap();
    let bad = dir.path().join("truce.toml");
    let with_deal_field = format!(
        "{text}\n[[field]]\nobject = \"deals\"\nhubspot = \"dealname\"\nsalesforce = \"Name\"\n"
    );
    std::fs::write(&bad, &with_deal_field).unwrap();
    let (code, _, err) = run(with_example_env(&mut truce(&[
        "check",
        "--offline",
        "--config",
        bad.to_str().unwrap(),
    ])));
    assert_eq!(code, 78, "{err}");
    assert!(err.contains(".object`"), "{err}");
    assert!(
        err.contains("maps the `deals` pair, which `[sync] objects` does not list"),
        "{err}"
    );
}

#[test]
fn missing_secrets_are_each_named_and_exit_78() {
    let path = example().to_str().unwrap();
    let (code, _, err) = run(&mut truce(&["check", "--offline", "--config", path]));
    assert_eq!(code, 78);
    for var in [
        "HUBSPOT_TOKEN",
        "SALESFORCE_CLIENT_ID",
        "SALESFORCE_CLIENT_SECRET",
    ] {
        assert!(err.contains(var), "{var} not named in:\n{err}");
    }
}

#[test]
fn a_missing_config_file_exits_78_with_its_path() {
    let (code, _, err) = run(&mut truce(&[
        "check",
        "--config",
        "/nonexistent/truce.toml",
    ]));
    assert_eq!(code, 78);
    assert!(err.contains("/nonexistent/truce.toml"), "{err}");
}

#[test]
fn a_usage_error_exits_2() {
    let (code, _, err) = run(&mut truce(&["status", "--no-such-flag"]));
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(&mut truce(&["frobnicate"]));
    assert_eq!(code, 2);
}

#[test]
fn global_flags_are_accepted_after_the_subcommand() {
    let path = example().to_str().unwrap();
    let (code, out, err) = run(with_example_env(&mut truce(&[
        "check",
        "--offline",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--config",
        path,
    ])));
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
#[cfg_attr(not(feature = "sandbox"), ignore = "needs the sandbox feature")]
async fn sandbox_serves_both_apis_with_the_credentials_it_prints_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let mut child = truce(&["sandbox", "--hubspot-port", "0", "--salesforce-port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("Serving until");
        printed.push(line);
        if done {
            break;
        }
    }
    let value = |key: &str| {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|rest| {
                rest.trim()
                    .trim_start_matches('=')
                    .trim()
                    .trim_matches('"')
                    .to_string()
            })
            .unwrap_or_else(|| panic!("{key} not printed: {printed:#?}"))
    };
    let base_url = value("base_url");
    let token = value("token");
    let login_url = value("login_url");
    let http = reqwest::Client::new();
    let contacts = http
        .get(format!("{base_url}/crm/v3/objects/contacts?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(contacts.status(), 200);
    let login = http
        .post(format!("{login_url}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &value("client_id")),
            ("client_secret", &value("client_secret")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
#[cfg(not(feature = "sandbox"))]
fn without_the_sandbox_feature_demo_and_sandbox_exit_2_saying_why() {
    for command in ["demo", "sandbox"] {
        let (code, out, err) = run(&mut truce(&[command]));
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&format!("`truce {command}`"))
                && err.contains("built without the `sandbox` feature"),
            "{err}"
        );
    }
}
