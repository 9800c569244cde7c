//! The Salesforce sandbox's token endpoint: client credentials (in the body or HTTP
//! Basic), the JWT bearer grant against the connected app's certificate, the error bodies
//! of each refusal, and the session control clients renew after.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{TimeZone, Utc};
use rcgen::{CertificateParams, KeyPair, PKCS_RSA_SHA256, SigningKey};
use serde_json::{Value, json};
use tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer;
use truce_sandbox::Served;
use truce_sandbox::salesforce::{DEFAULT_USER, SalesforceSandbox, SandboxOptions};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An RSA key pair: aws-lc-rs makes it (rcgen's ring backend cannot generate RSA keys),
/// rcgen signs with it.
fn rsa_key() -> KeyPair {
    use aws_lc_rs::encoding::AsDer;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = pair.as_der().unwrap().as_ref().to_vec();
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(der), &PKCS_RSA_SHA256).unwrap()
}

/// An RSA key pair and a self-signed certificate of it, as a connected app holds.
fn app_key() -> (KeyPair, String) {
    let key = rsa_key();
    let cert = CertificateParams::new(vec!["truce-jwt".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (key, cert.pem())
}

/// An RS256 JWT of `claims`, signed with `key`.
fn assertion(key: &KeyPair, claims: &Value) -> String {
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = key.sign(format!("{head}.{body}").as_bytes()).unwrap();
    format!("{head}.{body}.{}", URL_SAFE_NO_PAD.encode(signature))
}

struct Endpoint {
    sandbox: SalesforceSandbox,
    served: Served,
    http: reqwest::Client,
}

impl Endpoint {
    async fn start(opts: SandboxOptions) -> Endpoint {
        let sandbox = SalesforceSandbox::new(opts);
        let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Endpoint {
            sandbox,
            served,
            http: reqwest::Client::new(),
        }
    }

    async fn token(&self, form: &[(&str, &str)], basic: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/services/oauth2/token", self.served.url()))
            .form(form);
        if let Some(value) = basic {
            req = req.header("authorization", value);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn jwt(&self, assertion: &str) -> (u16, Value) {
        self.token(
            &[("grant_type", JWT_BEARER), ("assertion", assertion)],
            None,
        )
        .await
    }

    async fn query_status(&self, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}/services/data/v62.0/query", self.served.url()))
            .query(&[("q", "SELECT Id FROM Account")])
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn oauth_error(body: &Value) -> (&str, &str) {
    (
        body["error"].as_str().unwrap_or_default(),
        body["error_description"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn client_credentials_authenticate_in_the_body_or_with_basic_and_refusals_say_why() {
    let ep = Endpoint::start(SandboxOptions::default()).await;
    let o = ep.sandbox.options().clone();
    let cc = [("grant_type", "client_credentials")];

    let (status, body) = ep
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &o.client_id),
                ("client_secret", &o.client_secret),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], json!(ep.served.url()));
    assert!(body.get("expires_in").is_none() && body.get("refresh_token").is_none());

    // What simple-salesforce sends: only Basic and the grant type.
    let (status, body) = ep
        .token(&cc, Some(&basic(&o.client_id, &o.client_secret)))
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(ep.query_status(&token).await.0, 200);

    let refusals = [
        (
            basic("someone-else", &o.client_secret),
            ("invalid_client_id", "client identifier invalid"),
        ),
        (
            basic(&o.client_id, "wrong-secret"),
            ("invalid_client", "invalid client credentials"),
        ),
        (
            "Basic not-base64!".to_string(),
            ("invalid_client", "invalid client credentials"),
        ),
        (
            format!("Basic {}", STANDARD.encode("no-colon")),
            ("invalid_client", "invalid client credentials"),
        ),
    ];
    for (header, expected) in refusals {
        let (status, body) = ep.token(&cc, Some(&header)).await;
        assert_eq!((status, oauth_error(&body)), (400, expected), "{header}");
        assert!(
            !body.to_string().contains(&o.client_secret),
            "no secret in error bodies"
        );
    }
    let (status, body) = ep
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nope"),
                ("client_secret", "x"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, oauth_error(&body)),
        (400, ("invalid_client_id", "client identifier invalid"))
    );
    let (_, body) = ep.token(&[("grant_type", "password")], None).await;
    assert_eq!(oauth_error(&body).0, "unsupported_grant_type");

    // The flow needs the org's My Domain: the login hosts refuse it.
    let resp = ep
        .http
        .post(format!("{}/services/oauth2/token", ep.served.url()))
        .header("host", "login.salesforce.com")
        .header("authorization", basic(&o.client_id, &o.client_secret))
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        oauth_error(&body),
        ("invalid_grant", "request not supported on this domain")
    );
}

#[tokio::test]
async fn an_expired_session_answers_invalid_session_id_until_the_client_logs_in_again() {
    let ep = Endpoint::start(SandboxOptions::default()).await;
    let o = ep.sandbox.options().clone();
    let (_, body) = ep
        .token(
            &[("grant_type", "client_credentials")],
            Some(&basic(&o.client_id, &o.client_secret)),
        )
        .await;
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(ep.query_status(&token).await.0, 200);
    ep.sandbox.expire_tokens();
    let (status, body) = ep.query_status(&token).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    let (_, body) = ep
        .token(
            &[("grant_type", "client_credentials")],
            Some(&basic(&o.client_id, &o.client_secret)),
        )
        .await;
    let renewed = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(renewed, token);
    assert_eq!(ep.query_status(&renewed).await.0, 200);
}

#[tokio::test]
async fn the_jwt_bearer_grant_checks_signature_issuer_audience_expiry_and_user() {
    let (key, cert) = app_key();
    let ep = Endpoint::start(SandboxOptions {
        jwt_certificate: Some(cert),
        users: vec![DEFAULT_USER.into(), "ae@truce-sandbox.example.com".into()],
        ..SandboxOptions::default()
    })
    .await;
    let now = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    ep.sandbox.pin_clock(Some(now));
    let o = ep.sandbox.options().clone();
    let exp = now.timestamp() + 180;
    let claims = |patch: Value| {
        let mut c = json!({
            "iss": o.client_id, "sub": "ae@truce-sandbox.example.com",
            "aud": "https://login.salesforce.com", "exp": exp.to_string(),
        });
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };

    let (status, body) = ep.jwt(&assertion(&key, &claims(json!({})))).await;
    assert_eq!(status, 200, "{body}");
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["access_token", "id", "instance_url", "scope", "token_type"]
    );
    assert!(body["id"].as_str().unwrap().contains("/id/00D"));
    assert_eq!(
        ep.query_status(body["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
    // exp as a number, and the other accepted audiences.
    for aud in [
        "https://test.salesforce.com",
        &ep.served.url(),
        "https://login.salesforce.com/",
    ] {
        let (status, _) = ep
            .jwt(&assertion(&key, &claims(json!({"exp": exp, "aud": aud}))))
            .await;
        assert_eq!(status, 200, "{aud}");
    }

    let (other_key, _) = app_key();
    let good = assertion(&key, &claims(json!({})));
    let mut tampered = good.clone();
    tampered.replace_range(good.len() - 6.., "AAAAAA");
    let cases: Vec<(String, (&str, &str))> = vec![
        (
            assertion(&other_key, &claims(json!({}))),
            ("invalid_grant", "invalid assertion"),
        ),
        (tampered, ("invalid_grant", "invalid assertion")),
        (
            "not.a.jwt".to_string(),
            ("invalid_grant", "invalid assertion"),
        ),
        (String::new(), ("invalid_grant", "invalid assertion")),
        (
            assertion(&key, &claims(json!({"iss": "unknown-app"}))),
            ("invalid_client_id", "client identifier invalid"),
        ),
        (
            assertion(&key, &claims(json!({"aud": "https://evil.example.com"}))),
            ("invalid_grant", "audience is invalid"),
        ),
        (
            assertion(&key, &claims(json!({"sub": "nobody@example.com"}))),
            ("invalid_grant", "user hasn't approved this consumer"),
        ),
        (
            assertion(&key, &claims(json!({"exp": now.timestamp() - 1}))),
            ("invalid_grant", "expired authorization code"),
        ),
        (
            assertion(&key, &claims(json!({"exp": now.timestamp() + 3600}))),
            ("invalid_grant", "invalid assertion"),
        ),
        (
            assertion(&key, &claims(json!({"exp": "soon"}))),
            ("invalid_grant", "invalid assertion"),
        ),
    ];
    for (jwt, expected) in &cases {
        let (status, body) = ep.jwt(jwt).await;
        assert_eq!((status, oauth_error(&body)), (400, *expected), "{body}");
        assert!(
            jwt.is_empty() || !body.to_string().contains(jwt.as_str()),
            "no assertion in error bodies"
        );
    }
    // A HS256 token is not accepted whatever it says.
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    let (_, refused) = ep.jwt(&format!("{head}.{body}.c2ln")).await;
    assert_eq!(oauth_error(&refused).1, "invalid assertion");

    // Time moves on the sandbox's clock: the good assertion expires with it.
    ep.sandbox
        .pin_clock(Some(now + chrono::Duration::minutes(4)));
    let (_, body) = ep.jwt(&good).await;
    assert_eq!(oauth_error(&body).1, "expired authorization code");
}

#[tokio::test]
async fn the_jwt_key_may_be_a_public_key_and_an_unreadable_one_is_refused() {
    let (key, _) = app_key();
    let ep = Endpoint::start(SandboxOptions::default()).await;
    let o = ep.sandbox.options().clone();
    let claims = json!({
        "iss": o.client_id, "sub": DEFAULT_USER, "aud": "https://login.salesforce.com",
        "exp": Utc::now().timestamp() + 120,
    });
    let signed = assertion(&key, &claims);
    let (_, body) = ep.jwt(&signed).await;
    assert_eq!(
        oauth_error(&body).1,
        "invalid assertion",
        "no certificate: no JWT login"
    );
    assert!(
        ep.sandbox
            .set_jwt_certificate("-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n")
            .is_err()
    );
    assert!(ep.sandbox.set_jwt_certificate("garbage").is_err());
    ep.sandbox
        .set_jwt_certificate(&key.public_key_pem())
        .unwrap();
    let (status, body) = ep.jwt(&signed).await;
    assert_eq!(status, 200, "{body}");
}
