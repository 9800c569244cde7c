//! The HubSpot sandbox's companies, deals, associations, pipelines, owners and date
//! versions, checked over raw HTTP as any client would see them (the contacts rules are in
//! `hubspot_sandbox.rs`, the official SDK's view in `hubspot_compat.rs`).
//!
//! One test binary; each module covers one API.
#![allow(clippy::unwrap_used)]

mod associations;
mod objects;
mod settings;
mod versions;

use std::net::SocketAddr;

use reqwest::Method;
use serde_json::Value;
use truce_sandbox::Served;
use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions};

/// 2026-01-01T00:00:00Z, where tests that assert dates freeze the clock.
pub const T0: i64 = 1_767_225_600_000;

/// A sandbox served on loopback, and a client for it.
pub struct Portal {
    pub sandbox: HubSpotSandbox,
    pub served: Served,
    http: reqwest::Client,
}

impl Portal {
    pub async fn start(options: SandboxOptions) -> Portal {
        let sandbox = HubSpotSandbox::new(options);
        let served = sandbox
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        Portal {
            sandbox,
            served,
            http: reqwest::Client::new(),
        }
    }

    pub async fn new() -> Portal {
        Portal::start(SandboxOptions::default()).await
    }

    /// Sends a request; the status and the JSON body (`Null` when empty).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.served.url()))
            .bearer_auth(self.sandbox.token());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(Method::PUT, path, body).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

/// The ids of a collection answer's results.
pub fn ids(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The property names of a record, sorted.
pub fn keys(record: &Value) -> Vec<String> {
    let mut names: Vec<String> = record["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// A `HUBSPOT_DEFINED` association type as writes name it.
pub fn spec(type_id: u32) -> Value {
    serde_json::json!({"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id})
}
