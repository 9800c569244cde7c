//! A world for end-to-end tests: both sandboxes served on 127.0.0.1, a real config file
//! pointing at them (secrets in files), a real SQLite state file, and the real engine.
//! The sandboxes and the config come from `truce_sandbox::world`, as the demo's and the
//! benchmark's do; this adds what needs truce itself (settings, the engine, comparisons).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tempfile::TempDir;
use truce::config::{self, Loaded};
use truce::connect;
use truce::engine::mapping::FieldMap;
use truce::engine::settings::Settings;
use truce::engine::{Engine, system_clock};
use truce_sandbox::hubspot::{HubSpotSandbox, SandboxOptions as HubSpotOptions};
use truce_sandbox::salesforce::{AppKey, SalesforceSandbox, SandboxOptions as SalesforceOptions};
use truce_sandbox::world::{self as sandbox, Config, HubSpotLimits, SALESFORCE_CLIENT_SECRET_FILE};
use truce_sandbox::{Counters, Served};
use truce_state::Store;

pub struct World {
    pub dir: TempDir,
    pub hubspot: HubSpotSandbox,
    pub salesforce: SalesforceSandbox,
    pub hubspot_served: Served,
    pub salesforce_served: Served,
    pub config_path: PathBuf,
}

impl World {
    pub async fn new() -> World {
        World::with_options(HubSpotOptions::default(), SalesforceOptions::default(), "").await
    }

    /// Serves both sandboxes and writes a config; `extra` is appended to `[sync]`.
    pub async fn with_options(
        hubspot_options: HubSpotOptions,
        salesforce_options: SalesforceOptions,
        extra_sync: &str,
    ) -> World {
        World::with_sections(hubspot_options, salesforce_options, extra_sync, "").await
    }

    /// As [`World::with_options`], with `sections` (whole tables, e.g. `[sla]`) appended to
    /// the config.
    pub async fn with_sections(
        hubspot_options: HubSpotOptions,
        salesforce_options: SalesforceOptions,
        extra_sync: &str,
        sections: &str,
    ) -> World {
        World::with_objects(
            hubspot_options,
            salesforce_options,
            extra_sync,
            sections,
            &[],
        )
        .await
    }

    /// A world syncing the revenue pairs `objects` (`companies`, `deals`) besides
    /// `contacts`, with their mappings and tables (`truce_sandbox::world::COMPANY_FIELDS`,
    /// `DEAL_FIELDS`).
    pub async fn revenue(objects: &[&str], extra_sync: &str, sections: &str) -> World {
        World::with_objects(
            HubSpotOptions::default(),
            SalesforceOptions::default(),
            extra_sync,
            sections,
            objects,
        )
        .await
    }

    async fn with_objects(
        hubspot_options: HubSpotOptions,
        salesforce_options: SalesforceOptions,
        extra_sync: &str,
        sections: &str,
        objects: &[&str],
    ) -> World {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            poll_interval: "1s".into(),
            lookback: "2s".into(),
            external_id_field: None,
            // The sandbox enforces no limits here; the tests should not wait on a real
            // portal's budget.
            hubspot_limits: Some(HubSpotLimits {
                requests_per_10s: 2000,
                search_requests_per_second: 100,
                daily_quota: None,
            }),
            extra_sync: extra_sync.to_string(),
            // One field per rule: `jobtitle` is the `none` one (tests/sync.rs sees its
            // conflict decided by it).
            rules: vec![("jobtitle".into(), "none".into())],
            sections: sections.to_string(),
            objects: objects.iter().map(|o| o.to_string()).collect(),
        };
        let sandbox::World {
            hubspot,
            salesforce,
            hubspot_served,
            salesforce_served,
            config_path,
            ..
        } = sandbox::World::serve(
            dir.path(),
            HubSpotSandbox::new(hubspot_options),
            SalesforceSandbox::new(salesforce_options),
            &config,
        )
        .await
        .unwrap();
        World {
            dir,
            hubspot,
            salesforce,
            hubspot_served,
            salesforce_served,
            config_path,
        }
    }

    pub fn loaded(&self) -> Loaded {
        config::load(&self.config_path).unwrap()
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("truce.db")
    }

    pub fn settings(&self) -> Settings {
        Settings::from_config(&self.loaded().config)
    }

    /// The real engine over the real state file and both sandboxes.
    pub fn engine(&self) -> Engine {
        self.engine_with_clock(system_clock())
    }

    /// The real engine with a clock the test controls (retry backoff, observed times).
    pub fn engine_with_clock(&self, clock: truce::engine::Clock) -> Engine {
        let loaded = self.loaded();
        let settings = Settings::from_config(&loaded.config);
        let (hubspot, salesforce) = connect::connectors(&loaded, &settings).unwrap();
        let store = Store::open(self.state_path()).unwrap();
        Engine::new(store, hubspot, salesforce, settings, clock)
    }

    /// Salesforce records by normalised email: (object, fields).
    pub fn salesforce_by_email(&self) -> BTreeMap<String, Vec<(String, Value)>> {
        sandbox::salesforce_by_email(&self.salesforce)
    }

    /// HubSpot contacts by normalised email.
    pub fn hubspot_by_email(&self) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
        sandbox::hubspot_by_email(&self.hubspot)
    }
}

/// A world whose connected app holds `key`'s public half, and its config switched to the
/// JWT bearer grant as `user` with the private key in a file.
pub async fn jwt_world(key: &AppKey, user: &str) -> World {
    let world = World::with_options(
        HubSpotOptions::default(),
        SalesforceOptions {
            jwt_certificate: Some(key.public_pem.clone()),
            ..SalesforceOptions::default()
        },
        "",
    )
    .await;
    std::fs::write(
        world.dir.path().join("salesforce-jwt.key"),
        &key.private_pem,
    )
    .unwrap();
    let text = std::fs::read_to_string(&world.config_path).unwrap();
    let secret = format!("client_secret = {{ file = \"{SALESFORCE_CLIENT_SECRET_FILE}\" }}\n");
    assert!(text.contains(&secret));
    let jwt = format!(
        "grant = \"jwt_bearer\"\nusername = \"{user}\"\nprivate_key = {{ file = \"salesforce-jwt.key\" }}\n"
    );
    std::fs::write(&world.config_path, text.replace(&secret, &jwt)).unwrap();
    world
}

/// Fails if `text` holds the private key's body or a signed assertion (an RS256 JWT).
pub fn assert_no_key_nor_assertion(text: &str, key: &AppKey) {
    assert!(
        !text.contains("eyJhbGciOiJSUzI1NiJ9"),
        "an assertion leaked:\n{text}"
    );
    for line in key.private_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(line), "the private key leaked:\n{text}");
    }
}

/// Requests counted by a sandbox at endpoints whose name contains `part`.
pub fn calls_to(counters: &Counters, part: &str) -> u64 {
    counters
        .snapshot()
        .iter()
        .filter(|(endpoint, _)| endpoint.contains(part))
        .map(|(_, n)| n)
        .sum()
}

/// Checks that every mapped field of a linked pair agrees per its rule, returning the
/// disagreements.
pub fn disagreements(
    settings: &Settings,
    hubspot: &BTreeMap<String, String>,
    object: &str,
    salesforce: &Value,
) -> Vec<String> {
    let object = match object {
        "Contact" => truce_connectors::ObjectType::SalesforceContact,
        _ => truce_connectors::ObjectType::SalesforceLead,
    };
    let mut out = Vec::new();
    let converted = salesforce["IsConverted"] == Value::Bool(true);
    let people = settings.pair(truce::engine::pair::Pair::Contacts).unwrap();
    for map in people.fields_for(object) {
        if map.rule == truce::config::Rule::None || converted {
            continue;
        }
        let h = map
            .from_hubspot(
                hubspot
                    .get(&map.hubspot)
                    .map(|s| Value::String(s.clone()))
                    .as_ref(),
            )
            .unwrap();
        let s = map
            .from_salesforce(salesforce.get(&map.salesforce))
            .unwrap();
        if h != s {
            out.push(format!(
                "{}/{}: hubspot {h:?} vs salesforce {s:?}",
                map.hubspot, map.salesforce
            ));
        }
    }
    out
}

pub fn field<'a>(settings: &'a Settings, hubspot: &str) -> &'a FieldMap {
    settings
        .pair(truce::engine::pair::Pair::Contacts)
        .unwrap()
        .fields
        .iter()
        .find(|f| f.hubspot == hubspot)
        .unwrap()
}

pub fn arc<T>(value: T) -> Arc<T> {
    Arc::new(value)
}

/// One captured event: target, level, fields.
pub type Event = (String, String, BTreeMap<String, String>);

/// Events logged on `truce::*` targets while a [`LogCapture`] is installed on this thread.
#[derive(Clone, Default)]
pub struct LogCapture {
    pub events: Arc<std::sync::Mutex<Vec<Event>>>,
}

impl LogCapture {
    /// Installs the capture for the current thread (use a current-thread runtime).
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::set_default(subscriber)
    }

    /// Events on `target` at `level` ("WARN", "INFO"...).
    pub fn on(&self, target: &str, level: &str) -> Vec<BTreeMap<String, String>> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, l, _)| t == target && l == level)
            .map(|(_, _, fields)| fields.clone())
            .collect()
    }
}

struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogCapture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if !meta.target().starts_with("truce") {
            return;
        }
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        self.events.lock().unwrap().push((
            meta.target().to_string(),
            meta.level().to_string(),
            fields.0,
        ));
    }
}
