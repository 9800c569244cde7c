//! The HubSpot connector against its sandbox, over real HTTP on 127.0.0.1, under both API
//! families it speaks (`2026-09`, the default, and `v3`).
//!
//! One test binary; each module covers one job: `contacts` (pull, scan, fetch, write,
//! auth, limits), `revenue` (companies and deals), `associations` (`@company`,
//! `@contacts` read and written), `versions` (paths per family, 2026-09 validation).
//!
//! Every case is an `async fn(ApiVersion)` instantiated once per family by
//! [`per_version!`]: `contacts::v2026_09::a_case` and `contacts::v3::a_case`. Endpoint
//! counts are read with [`endpoint`], which spells the path the sandbox's way for the
//! family, so a client that sent another family's path counts zero.
#![allow(clippy::unwrap_used)]

/// Instantiates each listed case once per API family, with its tokio attribute:
/// `mod v2026_09 { async fn case() }` and `mod v3 { ... }` beside the cases.
macro_rules! per_version {
    ($( #[$attr:meta] $case:ident ),* $(,)?) => {
        mod v2026_09 {
            $(
                #[$attr]
                async fn $case() {
                    super::$case(truce_connectors::hubspot::ApiVersion::V2026_09).await;
                }
            )*
        }
        mod v3 {
            $(
                #[$attr]
                async fn $case() {
                    super::$case(truce_connectors::hubspot::ApiVersion::V3).await;
                }
            )*
        }
    };
}

mod associations;
mod catch_up;
mod contacts;
mod revenue;
mod versions;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use truce_connectors::contract::{Cursors, UpsertKey};
use truce_connectors::http::{HttpClient, HttpOptions, RetryPolicy};
use truce_connectors::hubspot::{ApiVersion, HubSpotAuth, HubSpotConfig, HubSpotConnector};
use truce_connectors::{Connector, ObjectType, Record, Secret, Write, WriteOp};
use truce_sandbox::Served;
use truce_sandbox::hubspot::{ApiVersion as Family, HubSpotSandbox, SandboxOptions};

/// The sandbox's name for the family a connector speaks.
pub fn family(version: ApiVersion) -> Family {
    match version {
        ApiVersion::V2026_09 => Family::V2026_09,
        ApiVersion::V3 => Family::Legacy,
    }
}

/// A counted endpoint as the sandbox keys it: `endpoint(v, "POST", "objects",
/// "/contacts/search")` is `POST /crm/objects/2026-09/contacts/search` or
/// `POST /crm/v3/objects/contacts/search`.
pub fn endpoint(version: ApiVersion, method: &str, api: &str, rest: &str) -> String {
    format!("{method} {}{rest}", family(version).base(api))
}

/// The counted endpoint of a batch association call (`read`, `create`, `archive`,
/// `labels/archive`); the sandbox keys it by route, `{from}/{to}` unexpanded.
pub fn association_batch(version: ApiVersion, op: &str) -> String {
    endpoint(
        version,
        "POST",
        "associations",
        &format!("/{{from}}/{{to}}/batch/{op}"),
    )
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A sandbox served on loopback.
pub async fn start(options: SandboxOptions) -> (HubSpotSandbox, Served) {
    let sandbox = HubSpotSandbox::new(options);
    let served = sandbox.serve(loopback()).await.unwrap();
    (sandbox, served)
}

pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 30,
        initial_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(120),
    }
}

/// A config for the sandbox in `version`, with generous local budgets (so only the
/// sandbox's limits matter), contacts with a few properties, and quick retries.
pub fn config(served: &Served, sandbox: &HubSpotSandbox, version: ApiVersion) -> HubSpotConfig {
    let mut config = HubSpotConfig::new(
        served.url(),
        HubSpotAuth::Token(Secret::new(sandbox.token())),
    );
    config.api_version = version;
    config.requests_per_10s = 10_000;
    config.search_requests_per_second = 10_000;
    config.objects = BTreeMap::from([(
        ObjectType::HubSpotContact,
        vec![
            "firstname".into(),
            "lastname".into(),
            "lifecyclestage".into(),
            "city".into(),
        ],
    )]);
    config.retry = quick_retry();
    config
}

/// A connector for [`config`], tweaked, sweeping archives on every poll.
pub fn connector(
    served: &Served,
    sandbox: &HubSpotSandbox,
    version: ApiVersion,
    tweak: impl FnOnce(&mut HubSpotConfig),
) -> HubSpotConnector {
    let mut config = config(served, sandbox, version);
    tweak(&mut config);
    let http = HttpClient::new(&HttpOptions {
        timeout: Duration::from_secs(10),
        ..HttpOptions::default()
    })
    .unwrap();
    HubSpotConnector::new(config, http)
        .unwrap()
        .with_archive_sweep_interval(Duration::ZERO)
}

/// The fields `object` is configured with.
pub fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The engine's poll loop: pages until done, moving `since` with `max`.
pub async fn poll(conn: &HubSpotConnector, since: &mut Cursors, lookback: Duration) -> Vec<Record> {
    let mut position: Option<Cursors> = None;
    let mut records = Vec::new();
    loop {
        let page = conn.pull(since, position.as_ref(), lookback).await.unwrap();
        assert!(page.rejected.is_empty(), "{:?}", page.rejected);
        records.extend(page.records);
        for (stream, cursor) in &page.position {
            let entry = since
                .entry(stream.clone())
                .or_insert_with(|| cursor.clone());
            if (cursor.modified_at, cursor.id.parse::<u64>().unwrap_or(0))
                > (entry.modified_at, entry.id.parse::<u64>().unwrap_or(0))
            {
                *entry = cursor.clone();
            }
        }
        if page.done {
            return records;
        }
        position = Some(page.position);
    }
}

/// Every record of `object`, scanned page by page.
pub async fn scan_all(conn: &HubSpotConnector, object: ObjectType) -> Vec<Record> {
    let mut out = Vec::new();
    let mut resume: Option<String> = None;
    loop {
        let page = conn.scan(object, resume.as_deref()).await.unwrap();
        out.extend(page.records);
        match page.next {
            Some(next) => resume = Some(next),
            None => return out,
        }
    }
}

fn values(props: &[(&str, &str)]) -> BTreeMap<String, Value> {
    props
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

/// A contact create, upserted on its email.
pub fn upsert(key: i64, email: &str, props: &[(&str, &str)]) -> Write {
    let mut fields = values(props);
    fields.insert("email".into(), Value::String(email.into()));
    Write {
        key,
        object: ObjectType::HubSpotContact,
        op: WriteOp::Create {
            upsert_on: Some(UpsertKey::Email(email.into())),
        },
        fields,
    }
}

/// A create of `object` upserted on the unique property `field` = `value`.
pub fn upsert_on(
    key: i64,
    object: ObjectType,
    (field, value): (&str, &str),
    props: &[(&str, &str)],
) -> Write {
    Write {
        key,
        object,
        op: WriteOp::Create {
            upsert_on: Some(UpsertKey::Field {
                field: field.into(),
                value: value.into(),
            }),
        },
        fields: values(props),
    }
}

/// A contact update.
pub fn update(key: i64, id: &str, props: &[(&str, &str)]) -> Write {
    update_of(key, ObjectType::HubSpotContact, id, values(props))
}

/// An update of any object with any field values (association fields too).
pub fn update_of(key: i64, object: ObjectType, id: &str, fields: BTreeMap<String, Value>) -> Write {
    Write {
        key,
        object,
        op: WriteOp::Update {
            id: id.into(),
            no_associations: false,
        },
        fields,
    }
}
