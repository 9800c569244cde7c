//! How the Salesforce connector logs in, against its sandbox over real HTTP on 127.0.0.1:
//! client credentials (truce sends them in the body; the sandbox takes HTTP Basic too),
//! and the JWT bearer grant with a key from a secret source. Every refusal is one clear,
//! fatal error naming its cause, and no secret, key or assertion is in any error text.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

mod common;

use chrono::Utc;
use common::ConfigFor;
use truce_connectors::http::{HttpClient, HttpOptions};
use truce_connectors::salesforce::{Grant, SalesforceConfig, SalesforceConnector};
use truce_connectors::{Connector, Error, ErrorClass, ObjectType, Secret};
use truce_sandbox::Served;
use truce_sandbox::salesforce::{AppKey, DEFAULT_USER, SalesforceSandbox, SandboxOptions};

const TOKEN: &str = "POST /services/oauth2/token";

async fn org(opts: SandboxOptions) -> (SalesforceSandbox, Served, SalesforceConfig) {
    let sandbox = SalesforceSandbox::new(opts);
    let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sandbox.seed_leads(3, 1);
    let config = sandbox.config_for(&served.url());
    (sandbox, served, config)
}

fn connector(config: &SalesforceConfig) -> Result<SalesforceConnector, Error> {
    SalesforceConnector::new(
        config.clone(),
        HttpClient::new(&HttpOptions::default()).unwrap(),
    )
}

/// A sandbox whose connected app holds `key`'s public half, and a config logging in as
/// `user` with `pem`.
async fn jwt_org(
    key: &AppKey,
    user: &str,
    pem: &str,
) -> (SalesforceSandbox, Served, SalesforceConfig) {
    let (sandbox, served, mut config) = org(SandboxOptions {
        jwt_certificate: Some(key.public_pem.clone()),
        ..SandboxOptions::default()
    })
    .await;
    config.client_secret = Secret::new("");
    config.grant = Grant::JwtBearer {
        username: user.into(),
        private_key: Secret::new(pem),
    };
    (sandbox, served, config)
}

/// The key's base64 body lines: none of them may appear anywhere.
fn key_lines(pem: &str) -> Vec<&str> {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// The base64url header every assertion starts with: `{"alg":"RS256"}`.
const ASSERTION_HEAD: &str = "eyJhbGciOiJSUzI1NiJ9";

fn assert_secret_free(text: &str, key: &AppKey) {
    assert!(
        !text.contains(ASSERTION_HEAD),
        "an assertion leaked: {text}"
    );
    for line in key_lines(&key.private_pem)
        .into_iter()
        .chain(key_lines(&key.private_pkcs1_pem))
    {
        assert!(!text.contains(line), "the private key leaked: {text}");
    }
    assert!(!text.contains("PRIVATE KEY-----"), "{text}");
}

#[tokio::test]
async fn client_credentials_log_in_from_the_body_and_the_basic_form_is_accepted_too() {
    let (sandbox, served, config) = org(SandboxOptions::default()).await;
    let conn = connector(&config).unwrap();
    assert_eq!(conn.grant(), "client_credentials");
    assert_eq!(
        conn.scan(ObjectType::SalesforceLead, None)
            .await
            .unwrap()
            .records
            .len(),
        3
    );
    assert_eq!(sandbox.counters().get(TOKEN), 1);
    // The same app authenticating as the official SDK does, with HTTP Basic only.
    let o = sandbox.options();
    let response = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", served.url()))
        .basic_auth(&o.client_id, Some(&o.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn wrong_or_malformed_client_credentials_are_one_clear_fatal_error_without_the_secret() {
    let (sandbox, _served, config) = org(SandboxOptions::default()).await;
    let wrong = [
        (
            Secret::new("someone-else"),
            None,
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            config.client_id.clone(),
            Some("wrong-secret-value"),
            "invalid_client",
            "invalid client credentials",
        ),
    ];
    for (client_id, secret, code, words) in wrong {
        let mut config = config.clone();
        config.client_id = client_id;
        if let Some(secret) = secret {
            config.client_secret = Secret::new(secret);
        }
        let before = sandbox.counters().get(TOKEN);
        let conn = connector(&config).unwrap();
        let err = conn
            .scan(ObjectType::SalesforceLead, None)
            .await
            .err()
            .unwrap();
        assert_eq!(err.class(), ErrorClass::Fatal);
        assert_eq!(err.api().code.as_deref(), Some(code));
        assert_eq!(err.api().status, Some(400));
        assert!(err.to_string().contains(words), "{err}");
        assert!(
            err.to_string()
                .contains("check the client id, client secret and grant"),
            "{err}"
        );
        assert_eq!(
            sandbox.counters().get(TOKEN) - before,
            1,
            "a refusal is not retried"
        );
        let text = format!("{err} {err:?} {conn:?} {config:?}");
        assert!(
            !text.contains("wrong-secret-value") && !text.contains("truce-sandbox-secret"),
            "{text}"
        );
    }
    // A credential that cannot be right is refused before any request.
    for (secret, says) in [
        (
            "truce-sandbox-secret\n",
            "client secret holds spaces or control characters",
        ),
        ("", "client secret is empty"),
    ] {
        let mut config = config.clone();
        config.client_secret = Secret::new(secret);
        let before = sandbox.counters().get(TOKEN);
        let err = connector(&config).err().unwrap();
        assert_eq!(err.class(), ErrorClass::Fatal);
        assert!(err.to_string().contains(says), "{err}");
        assert!(!format!("{err:?}").contains("truce-sandbox-secret"));
        assert_eq!(sandbox.counters().get(TOKEN), before);
    }
}

#[tokio::test]
async fn the_jwt_bearer_grant_logs_in_with_a_pkcs8_or_a_pkcs1_key() {
    let key = AppKey::generate().unwrap();
    for pem in [&key.private_pem, &key.private_pkcs1_pem] {
        let (sandbox, _served, config) = jwt_org(&key, DEFAULT_USER, pem).await;
        let conn = connector(&config).unwrap();
        assert_eq!(conn.grant(), "jwt_bearer");
        assert_eq!(
            conn.scan(ObjectType::SalesforceLead, None)
                .await
                .unwrap()
                .records
                .len(),
            3
        );
        assert_eq!(sandbox.counters().get(TOKEN), 1);
        assert_secret_free(&format!("{conn:?} {config:?}"), &key);
    }
}

#[tokio::test]
async fn a_jwt_session_expiring_mid_run_is_renewed_exactly_once() {
    let key = AppKey::generate().unwrap();
    let (sandbox, _served, config) = jwt_org(&key, DEFAULT_USER, &key.private_pem).await;
    let conn = connector(&config).unwrap();
    conn.scan(ObjectType::SalesforceLead, None).await.unwrap();
    assert_eq!(sandbox.counters().get(TOKEN), 1);
    sandbox.expire_tokens();
    let scans = (0..4).map(|_| conn.scan(ObjectType::SalesforceLead, None));
    for page in futures::future::join_all(scans).await {
        assert_eq!(page.unwrap().records.len(), 3);
    }
    assert_eq!(
        sandbox.counters().get(TOKEN),
        2,
        "one new assertion for the four calls"
    );
    assert_eq!(sandbox.counters().status(401), 4);
}

#[tokio::test]
async fn a_bad_signature_an_expired_assertion_and_an_unknown_user_are_each_one_clear_error() {
    let key = AppKey::generate().unwrap();
    let other = AppKey::generate().unwrap();
    // The app holds another key's certificate: the signature does not verify.
    let (sandbox, _served, config) = jwt_org(&other, DEFAULT_USER, &key.private_pem).await;
    let refusal = |config: &SalesforceConfig| {
        let config = config.clone();
        async move {
            let conn = connector(&config).unwrap();
            let err = conn.login().await.err().unwrap();
            (err, format!("{conn:?} {config:?}"))
        }
    };
    let (err, text) = refusal(&config).await;
    assert_eq!(sandbox.counters().get(TOKEN), 1, "one request, not retried");
    assert_eq!(
        (err.class(), err.api().code.as_deref()),
        (ErrorClass::Fatal, Some("invalid_grant"))
    );
    assert!(err.api().message.starts_with("invalid assertion"), "{err}");
    assert!(
        err.to_string()
            .contains("private_key must be the key of that certificate"),
        "{err}"
    );
    assert_secret_free(&format!("{err} {err:?} {text}"), &key);

    // The org's clock is ten minutes ahead: the assertion has expired when it arrives.
    sandbox.set_jwt_certificate(&key.public_pem).unwrap();
    sandbox.pin_clock(Some(Utc::now() + chrono::Duration::minutes(10)));
    let (err, text) = refusal(&config).await;
    assert_eq!(sandbox.counters().get(TOKEN), 2);
    assert_eq!(err.api().code.as_deref(), Some("invalid_grant"));
    assert!(
        err.api().message.starts_with("expired authorization code"),
        "{err}"
    );
    assert!(err.to_string().contains("check this host's clock"), "{err}");
    assert_secret_free(&format!("{err} {err:?} {text}"), &key);
    sandbox.pin_clock(None);

    let mut stranger = config.clone();
    stranger.grant = Grant::JwtBearer {
        username: "nobody@example.com".into(),
        private_key: Secret::new(key.private_pem.clone()),
    };
    let (err, text) = refusal(&stranger).await;
    assert_eq!(sandbox.counters().get(TOKEN), 3);
    assert_eq!(err.api().code.as_deref(), Some("invalid_grant"));
    assert!(
        err.api()
            .message
            .starts_with("user hasn't approved this consumer"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("username is unknown or inactive, or not pre-authorized"),
        "{err}"
    );
    assert_secret_free(&format!("{err} {err:?} {text}"), &key);

    // And with all put right, the same config logs in.
    connector(&config).unwrap().login().await.unwrap();
    assert_eq!(sandbox.counters().get(TOKEN), 4);
}

#[tokio::test]
async fn a_private_key_that_does_not_parse_is_refused_before_any_request_without_its_text() {
    let key = AppKey::generate().unwrap();
    let (sandbox, _served, config) = jwt_org(&key, DEFAULT_USER, &key.private_pem).await;
    let truncated: String = key
        .private_pem
        .lines()
        .take(6)
        .collect::<Vec<_>>()
        .join("\n");
    for (pem, says) in [
        (
            key.public_pem.clone(),
            "PEM PUBLIC KEY block, not a private key",
        ),
        (truncated, "does not hold a usable RSA private key"),
        ("not a key at all".to_string(), "not PEM text"),
    ] {
        let mut config = config.clone();
        config.grant = Grant::JwtBearer {
            username: DEFAULT_USER.into(),
            private_key: Secret::new(pem),
        };
        let err = connector(&config).err().unwrap();
        assert_eq!(err.class(), ErrorClass::Fatal);
        assert!(
            err.to_string().contains("the private key does not parse"),
            "{err}"
        );
        assert!(err.to_string().contains(says), "{err}");
        assert_secret_free(&format!("{err} {err:?}"), &key);
    }
    assert_eq!(sandbox.counters().get(TOKEN), 0);
}
