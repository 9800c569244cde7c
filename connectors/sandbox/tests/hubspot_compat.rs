//! HubSpot's official Python SDK against the sandbox (`tests/compat/hubspot_sdk.py` at the
//! repository root).
//!
//! Needs `python3` with `venv` (the script `tests/compat/ensure_venv.sh` creates the
//! virtualenv with the pinned SDK once, under `target/compat-venv`).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;

use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_parses_every_sandbox_answer() {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let sandbox = HubSpotSandbox::new(SandboxOptions::default());
    sandbox.seed_contacts(10, 1);
    let served = sandbox.serve(loopback).await.unwrap();
    // A second portal allowing one request per 10 s, so the SDK meets a real 429.
    let limited = HubSpotSandbox::new(SandboxOptions {
        requests_per_10s: Some(1),
        ..SandboxOptions::default()
    });
    let limited_served = limited.serve(loopback).await.unwrap();

    let compat = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/compat");
    let venv = Command::new("bash")
        .arg(format!("{compat}/ensure_venv.sh"))
        .output()
        .expect("running ensure_venv.sh");
    assert!(
        venv.status.success(),
        "ensure_venv.sh failed: {}",
        String::from_utf8_lossy(&venv.stderr)
    );
    let python = String::from_utf8(venv.stdout).unwrap().trim().to_string();

    let url = served.url();
    let limited_url = limited_served.url();
    let token = sandbox.token().to_string();
    let script = format!("{compat}/hubspot_sdk.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("HUBSPOT_BASE_URL", url)
            .env("HUBSPOT_LIMITED_URL", limited_url)
            .env("HUBSPOT_TOKEN", token)
            .output()
            .expect("running the SDK script")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the SDK checks failed");
    assert!(stdout.contains(" passed, 0 failed"));
    assert_eq!(limited.limit_hits().ten_secondly, 1);
}
