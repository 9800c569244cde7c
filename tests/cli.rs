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
