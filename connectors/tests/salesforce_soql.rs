//! SOQL safety: hostile values built into queries by `salesforce::soql` never leave their
//! literal, checked against the sandbox's parser and over HTTP against its evaluator.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::ConfigFor;
use serde_json::{Value, json};
use truce_connectors::Connector;
use truce_connectors::http::{HttpClient, HttpOptions};
use truce_connectors::salesforce::SalesforceConnector;
use truce_connectors::salesforce::soql::{Cond, FieldName, Literal, Op, Select};
use truce_sandbox::salesforce::soql::{self as parser, CmpOp, Expr, Literal as Parsed};
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions};

const HOSTILE: &[&str] = &[
    "O'Brien",
    "'",
    "''",
    "\\",
    "\\'",
    "a\\'b",
    "' OR Id != null",
    "x' OR LastName != 'x",
    "') OR (Id != null",
    "line1\nline2",
    "tab\there",
    "cr\rlf",
    "quote\"d",
    "back\\slash\\n",
    "\\u0041 not an escape",
    "bell\u{7}and\u{1b}esc",
    "ünïcødé ✓ 日本語",
    "emoji 😀",
    "%",
    "_",
    "50%_off",
    "100%",
    "a_b",
    "-- comment",
    "/* block */",
    "ORDER BY Id LIMIT 1",
    "null",
    "TRUE",
    "2024-01-01T00:00:00Z",
];

fn f(name: &str) -> FieldName {
    FieldName::new(name).unwrap()
}

#[test]
fn every_hostile_value_stays_one_literal_in_the_sandbox_parser() {
    for value in HOSTILE {
        let text = Select::new(&f("Lead"), &[f("Id")])
            .filter(Cond::cmp(
                &f("LastName"),
                Op::Eq,
                Literal::Str(value.to_string()),
            ))
            .to_soql();
        let parsed = parser::parse(&text).unwrap_or_else(|e| panic!("{value:?} -> {text}: {e:?}"));
        assert_eq!(
            parsed.filter,
            Some(Expr::Cmp(
                "LastName".into(),
                CmpOp::Eq,
                Parsed::Str(value.to_string())
            )),
            "{value:?} escaped its literal in {text}"
        );
        assert_eq!(parsed.limit, None);
        assert!(parsed.order.is_empty());

        let like = Select::new(&f("Lead"), &[f("Id")])
            .filter(Cond::Like {
                field: f("LastName"),
                value: value.to_string(),
                any_prefix: true,
                any_suffix: false,
            })
            .to_soql();
        match parser::parse(&like)
            .unwrap_or_else(|e| panic!("{value:?} -> {like}: {e:?}"))
            .filter
        {
            Some(Expr::Like(field, _, _)) => assert_eq!(field, "LastName"),
            other => panic!("{value:?} escaped its LIKE literal: {other:?}"),
        }
    }
}

async fn token(base: &str, sandbox: &SalesforceSandbox) -> String {
    let opts = sandbox.options();
    let body: Value = reqwest::Client::new()
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &opts.client_id),
            ("client_secret", &opts.client_secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn query_ids(base: &str, token: &str, soql: &str) -> BTreeSet<String> {
    let response = reqwest::Client::new()
        .get(format!("{base}/services/data/v62.0/query"))
        .query(&[("q", soql)])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{soql}");
    let body: Value = response.json().await.unwrap();
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn hostile_values_match_only_their_own_record_over_http() {
    let sandbox = SalesforceSandbox::new(SandboxOptions::default());
    let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = served.url();
    let ids: Vec<String> = HOSTILE
        .iter()
        .map(|v| {
            sandbox
                .create("Lead", json!({"LastName": v, "Company": "Hostile Inc"}))
                .unwrap()
        })
        .collect();
    let token = token(&base, &sandbox).await;
    for (value, id) in HOSTILE.iter().zip(&ids) {
        let eq = Select::new(&f("Lead"), &[f("Id")])
            .filter(Cond::cmp(
                &f("LastName"),
                Op::Eq,
                Literal::Str(value.to_string()),
            ))
            .to_soql();
        let expected: BTreeSet<String> = HOSTILE
            .iter()
            .zip(&ids)
            .filter(|(v, _)| v.to_lowercase() == value.to_lowercase())
            .map(|(_, i)| i.clone())
            .collect();
        let got = query_ids(&base, &token, &eq).await;
        assert!(got.contains(id), "{value:?} did not find its record");
        assert_eq!(got, expected, "{value:?} matched other records");

        // LIKE '%value%' matches exactly the records containing the value literally.
        let like = Select::new(&f("Lead"), &[f("Id")])
            .filter(Cond::Like {
                field: f("LastName"),
                value: value.to_string(),
                any_prefix: true,
                any_suffix: true,
            })
            .to_soql();
        let containing: BTreeSet<String> = HOSTILE
            .iter()
            .zip(&ids)
            .filter(|(v, _)| v.to_lowercase().contains(&value.to_lowercase()))
            .map(|(_, i)| i.clone())
            .collect();
        assert_eq!(
            query_ids(&base, &token, &like).await,
            containing,
            "LIKE {value:?}"
        );
    }
}

#[tokio::test]
async fn hostile_emails_through_the_connector_find_nothing_and_break_nothing() {
    let sandbox = SalesforceSandbox::new(SandboxOptions::default());
    let served = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sandbox.seed_leads(20, 1);
    let real = sandbox
        .create(
            "Lead",
            json!({"LastName": "Q", "Company": "C", "Email": "o'brien@example.com"}),
        )
        .unwrap();
    let conn = SalesforceConnector::new(
        sandbox.config_for(&served.url()),
        HttpClient::new(&HttpOptions::default()).unwrap(),
    )
    .unwrap();
    let mut emails: Vec<String> = HOSTILE.iter().map(|v| v.to_string()).collect();
    emails.push("o'brien@example.com".into());
    emails.push("%@example.com".into());
    let found = conn.find_by_email(&emails).await.unwrap();
    assert_eq!(
        found
            .records
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        vec![real]
    );
}
