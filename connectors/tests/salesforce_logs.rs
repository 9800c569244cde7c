//! What the Salesforce connector writes to the log: the one clear pause line, the resume
//! line, and never a token, secret, private key or assertion, even at TRACE and through
//! a renewal.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ConfigFor;
use truce_connectors::contract::Cursors;
use truce_connectors::http::{HttpClient, HttpOptions, RetryPolicy};
use truce_connectors::salesforce::{Grant, SalesforceConnector};
use truce_connectors::{Connector, ObjectType, Secret};
use truce_sandbox::salesforce::{AppKey, DEFAULT_USER, SalesforceSandbox, SandboxOptions};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_log_has_one_clear_pause_line_and_never_a_secret() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sandbox = SalesforceSandbox::new(SandboxOptions {
        daily_limit: 1000,
        ..SandboxOptions::default()
    });
    let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sandbox.seed_leads(5, 1);
    let mut config = sandbox.config_for(&served.url());
    config.grant = Grant::RefreshToken(Secret::new("truce-sandbox-refresh"));
    config.pause_recheck = Duration::from_millis(5);
    config.retry = RetryPolicy {
        initial_interval: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let conn = SalesforceConnector::new(config, HttpClient::new(&HttpOptions::default()).unwrap())
        .unwrap();

    conn.scan(ObjectType::SalesforceLead, None).await.unwrap();
    sandbox.expire_tokens();
    sandbox.set_api_usage(700);
    conn.pull(&Cursors::new(), None, Duration::ZERO)
        .await
        .unwrap();
    let task = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.scan(ObjectType::SalesforceLead, None).await })
    };
    while sandbox.counters().get("GET /services/data/{v}/limits") < 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sandbox.set_api_usage(0);
    task.await.unwrap().unwrap();

    let mut out = std::io::stdout();
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let _ = writeln!(out, "{text}");
    let pauses: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("pausing Salesforce pulls and writes"))
        .collect();
    assert_eq!(pauses.len(), 1, "{text}");
    assert!(
        pauses[0].contains("WARN")
            && pauses[0].contains("700/1000")
            && pauses[0].contains("daily_share 0.5")
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("resuming pulls and writes"))
            .count(),
        1,
        "{text}"
    );
    assert!(text.contains("session renewed"), "{text}");
    for secret in [
        "truce-sandbox-secret",
        "truce-sandbox-refresh",
        "00D5g0000000SBXEAA!",
        "Bearer ",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into the log");
    }
}

#[tokio::test]
async fn the_jwt_private_key_and_assertions_never_reach_the_log_nor_an_error() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let key = AppKey::generate().unwrap();
    let sandbox = SalesforceSandbox::new(SandboxOptions {
        jwt_certificate: Some(key.public_pem.clone()),
        ..SandboxOptions::default()
    });
    let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sandbox.seed_leads(5, 1);
    let mut config = sandbox.config_for(&served.url());
    config.client_secret = Secret::new("");
    config.grant = Grant::JwtBearer {
        username: DEFAULT_USER.into(),
        private_key: Secret::new(key.private_pem.clone()),
    };
    let http = HttpClient::new(&HttpOptions::default()).unwrap();
    let conn = SalesforceConnector::new(config.clone(), http.clone()).unwrap();
    conn.scan(ObjectType::SalesforceLead, None).await.unwrap();
    sandbox.expire_tokens();
    conn.pull(&Cursors::new(), None, Duration::ZERO)
        .await
        .unwrap();
    config.grant = Grant::JwtBearer {
        username: "nobody@example.com".into(),
        private_key: Secret::new(key.private_pem.clone()),
    };
    let refused = SalesforceConnector::new(config.clone(), http).unwrap();
    let err = refused.login().await.err().unwrap();
    tracing::warn!(error = %err, debug = ?err, "login refused");
    assert_eq!(sandbox.counters().get("POST /services/oauth2/token"), 3);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("session renewed"), "{text}");
    assert!(
        text.contains("user hasn't approved this consumer"),
        "{text}"
    );
    let everything = format!("{text} {err:?} {conn:?} {refused:?} {config:?}");
    // Every assertion begins with the base64url of {"alg":"RS256"}.
    assert!(
        !everything.contains("eyJhbGciOiJSUzI1NiJ9"),
        "an assertion leaked"
    );
    assert!(
        !everything.contains("PRIVATE KEY"),
        "the private key leaked"
    );
    for line in key.private_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!everything.contains(line), "the private key leaked");
    }
    assert!(
        !everything.contains("00D5g0000000SBXEAA!"),
        "a session token leaked"
    );
}
