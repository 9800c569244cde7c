//! Metrics and health as a fleet's operator meets them: the real `truce run` with
//! `[metrics] listen`, scraped by a real Prometheus (Debian's `prometheus` package, which
//! `.ci/run` installs) and checked with its `promtool`; `/healthz` through an outage of
//! both APIs; and the listen address refused with exit 78 when it is malformed or remote.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{World, calls_to};
use serde_json::{Value, json};
use truce_sandbox::hubspot::SandboxOptions as HubSpotOptions;
use truce_sandbox::salesforce::SandboxOptions as SalesforceOptions;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// Generous bounds for anything that happens within a few polls of a second.
const SOON: Duration = Duration::from_secs(60);

/// The contract's names (docs/operations.md, *Metrics*).
const NAMES: [&str; 12] = [
    "truce_build_info",
    "truce_cycles_total",
    "truce_cycle_duration_seconds",
    "truce_records_pulled_total",
    "truce_writes_total",
    "truce_conflicts_total",
    "truce_quarantined",
    "truce_outbox_depth",
    "truce_api_calls_total",
    "truce_api_quota_remaining",
    "truce_lag_seconds",
    "truce_sla_findings_total",
];

/// Whether Prometheus is installed. Missing on CI is a failure that says what to install;
/// missing on a developer's machine (CI unset) skips, saying so.
fn prometheus_installed(test: &str) -> bool {
    if Path::new(PROMETHEUS).exists() && Path::new(PROMTOOL).exists() {
        return true;
    }
    let why = format!(
        "{PROMETHEUS} or {PROMTOOL} is missing: install Debian's `prometheus` package \
         (apt-get install -y --no-install-recommends prometheus; .ci/run does)"
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("SKIPPED {test}: {why}. CI is unset, so it is skipped here.");
    false
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `probe` every 200 ms until it gives a value, failing after `within`.
async fn eventually<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A child process killed when the test ends, however it ends.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        self.child.wait().unwrap().code()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds `[metrics] listen` on a free loopback port to the world's config.
fn listen_on_a_free_port(world: &World) -> SocketAddr {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let mut text = std::fs::read_to_string(&world.config_path).unwrap();
    text.push_str(&format!("\n[metrics]\nlisten = \"{addr}\"\n"));
    std::fs::write(&world.config_path, text).unwrap();
    addr
}

/// `truce run` on the world's config, logging to a file in its directory.
fn start_truce(world: &World) -> Running {
    let log = world.dir.path().join("truce.log");
    let child = Command::new(env!("CARGO_BIN_EXE_truce"))
        .args(["run", "--log-level", "info", "--config"])
        .arg(&world.config_path)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("truce starts");
    Running { child, log }
}

/// `GET` on truce's listener: status and body.
async fn get(
    http: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    accept: Option<&str>,
) -> Option<(u16, String)> {
    let mut request = http.get(format!("http://{addr}{path}"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// The classic-text scrape, once truce answers.
async fn scrape(http: &reqwest::Client, addr: SocketAddr) -> String {
    eventually("truce's /metrics", SOON, async || {
        get(http, addr, "/metrics", None)
            .await
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body)
    })
    .await
}

/// The value of the series printed exactly as `series` (name and labels) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

fn contacts(system: &str) -> String {
    format!("{{system=\"{system}\",object=\"contacts\"}}")
}

fn writes(system: &str, outcome: &str) -> String {
    format!("truce_writes_total{{system=\"{system}\",object=\"contacts\",outcome=\"{outcome}\"}}")
}

/// People in both systems whose mapped fields already agree: linking them writes nothing.
fn seed_agreeing(world: &World, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let email = format!("both{i}@example.com");
            let first = format!("Ann{i}");
            world
                .hubspot
                .create_contact(&[
                    ("email", &email),
                    ("firstname", &first),
                    ("lastname", "Lee"),
                    ("company", "Acme"),
                    ("hs_lead_status", "NEW"),
                    ("lifecyclestage", "marketingqualifiedlead"),
                ])
                .unwrap();
            world
                .salesforce
                .create(
                    "Lead",
                    json!({"Email": email, "FirstName": first, "LastName": "Lee",
                           "Company": "Acme", "Status": "Open - Not Contacted"}),
                )
                .unwrap();
            email
        })
        .collect()
}

/// HubSpot contacts marketing has not qualified: truce reads them and leaves them home.
fn seed_unqualified(world: &World, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let email = format!("prospect{i}@example.org");
            world
                .hubspot
                .create_contact(&[("email", &email), ("lifecyclestage", "lead")])
                .unwrap();
            email
        })
        .collect()
}

/// Write requests HubSpot received (anything but reads and searches).
fn write_requests(counters: &truce_sandbox::Counters) -> Vec<String> {
    counters
        .snapshot()
        .into_keys()
        .filter(|endpoint| !endpoint.starts_with("GET ") && !endpoint.ends_with("/search"))
        .collect()
}

/// A real Prometheus scraping `target` every second, its data in `dir`.
struct Prometheus {
    running: Running,
    base: String,
}

impl Prometheus {
    async fn start(dir: &Path, target: SocketAddr) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: truce\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus {
            running: Running { child, log },
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        eventually("Prometheus to be ready", SOON, async || {
            let ready = http
                .get(format!("{}/-/ready", prometheus.base))
                .send()
                .await
                .ok()?;
            ready.status().is_success().then_some(())
        })
        .await;
        prometheus
    }

    /// The single value an instant query returns, if it returns exactly one.
    async fn value(&self, http: &reqwest::Client, query: &str) -> Option<f64> {
        let body: Value = http
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", query)])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let result = body["data"]["result"].as_array()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// Waits until `query` returns `want` in Prometheus.
    async fn until(&self, http: &reqwest::Client, query: &str, want: f64) {
        let mut last = None;
        let found = tokio::time::timeout(SOON, async {
            loop {
                last = self.value(http, query).await;
                if last == Some(want) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
        .await;
        assert!(
            found.is_ok(),
            "Prometheus never saw {query} = {want} (last {last:?}); its log:\n{}",
            self.running.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_truce_and_sees_what_the_sandboxes_served() {
    if !prometheus_installed("a_real_prometheus_scrapes_truce_and_sees_what_the_sandboxes_served") {
        return;
    }
    // HubSpot sends its daily-quota headers only where its limits are on.
    let hubspot_options = HubSpotOptions {
        requests_per_10s: Some(2000),
        daily_limit: Some(250_000),
        ..HubSpotOptions::default()
    };
    let world = World::with_options(hubspot_options, SalesforceOptions::default(), "").await;
    let mut emails = seed_agreeing(&world, 20);
    emails.extend(seed_unqualified(&world, 30));
    // Past the look-back (2 s, and Salesforce stamps whole seconds), so the second poll
    // reads nothing again: every record is served exactly once.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let addr = listen_on_a_free_port(&world);
    let truce = start_truce(&world);
    let prometheus = Prometheus::start(world.dir.path(), addr).await;
    let http = reqwest::Client::new();

    // The first polls: each record pulled once, nothing to write.
    prometheus.until(&http, "up{job=\"truce\"}", 1.0).await;
    prometheus
        .until(
            &http,
            &format!("truce_records_pulled_total{}", contacts("hubspot")),
            50.0,
        )
        .await;
    prometheus
        .until(
            &http,
            &format!("truce_records_pulled_total{}", contacts("salesforce")),
            20.0,
        )
        .await;
    let seen = prometheus.value(&http, "truce_cycles_total").await.unwrap();
    assert!(seen >= 1.0);
    eventually(
        "truce_cycles_total to rise in Prometheus",
        SOON,
        async || (prometheus.value(&http, "truce_cycles_total").await? >= seen + 2.0).then_some(()),
    )
    .await;
    assert_eq!(
        prometheus
            .value(
                &http,
                &format!("truce_records_pulled_total{}", contacts("hubspot"))
            )
            .await,
        Some(50.0),
        "later polls read nothing new"
    );
    assert_eq!(
        prometheus
            .value(
                &http,
                &format!("truce_records_pulled_total{}", contacts("salesforce"))
            )
            .await,
        Some(20.0)
    );
    // Nothing was written (Salesforce's writes share /composite with its polls, so its
    // side is read from the records themselves).
    assert!(write_requests(&world.hubspot.counters()).is_empty());
    assert_eq!(world.salesforce.count("Lead"), 20);
    assert_eq!(
        prometheus.value(&http, "sum(truce_writes_total)").await,
        Some(0.0)
    );
    assert!(
        prometheus
            .value(&http, "truce_cycle_duration_seconds_count")
            .await
            .is_some_and(|n| n >= seen + 2.0),
        "every finished cycle is timed"
    );

    // Edits on each side, and a qualified contact whose email Salesforce refuses.
    for (i, email) in emails.iter().take(3).enumerate() {
        let id = world.hubspot.find_by_email(email).unwrap().id;
        world
            .hubspot
            .edit(&id, &[("firstname", &format!("Edited{i}"))])
            .unwrap();
    }
    for email in &emails[3..5] {
        let (_, id) = world.salesforce.find_by_email(email).remove(0);
        world
            .salesforce
            .edit("Lead", &id, json!({"FirstName": "FromSales"}))
            .unwrap();
    }
    let refused = "jordan.typo@initech.c".to_string();
    world
        .hubspot
        .create_contact(&[
            ("email", &refused),
            ("lastname", "Typo"),
            ("lifecyclestage", "marketingqualifiedlead"),
        ])
        .unwrap();
    emails.push(refused);
    prometheus
        .until(&http, &writes("salesforce", "ok"), 3.0)
        .await;
    prometheus.until(&http, &writes("hubspot", "ok"), 2.0).await;
    prometheus
        .until(&http, &writes("salesforce", "quarantined"), 1.0)
        .await;
    prometheus
        .until(&http, "truce_quarantined{system=\"salesforce\"}", 1.0)
        .await;
    prometheus
        .until(&http, "sum(truce_outbox_depth)", 0.0)
        .await;
    assert_eq!(
        prometheus
            .value(&http, "sum(truce_writes_total{outcome=\"retry\"})")
            .await,
        Some(0.0)
    );

    // Quota and calls as the sandboxes count them, read when no call is under way (the
    // sandboxes' counters stand still across the scrape).
    let (quota_text, used_hubspot, sf_used, sf_max, sf_calls, hubspot_calls) =
        eventually("a scrape between two calls", SOON, async || {
            let arrivals = world.hubspot.arrivals();
            let (sf_used, sf_max) = world.salesforce.api_usage();
            let sf_counters = world.salesforce.counters();
            let sf_calls = sf_counters.total() - calls_to(&sf_counters, "oauth2/token");
            let text = get(&http, addr, "/metrics", None).await?.1;
            let still = world.hubspot.arrivals().len() == arrivals.len()
                && world.salesforce.api_usage().0 == sf_used;
            // The last call that carried HubSpot's headers (search answers carry none).
            let last_with_headers = arrivals.iter().rposition(|a| !a.search)? + 1;
            still.then_some((
                text,
                last_with_headers as f64,
                sf_used,
                sf_max,
                sf_calls,
                arrivals.len(),
            ))
        })
        .await;
    assert_eq!(
        sample(
            &quota_text,
            "truce_api_quota_remaining{system=\"salesforce\"}"
        ),
        Some((sf_max - sf_used) as f64),
        "{quota_text}"
    );
    assert_eq!(
        sample(&quota_text, "truce_api_quota_remaining{system=\"hubspot\"}"),
        Some(250_000.0 - used_hubspot),
        "{quota_text}"
    );
    assert_eq!(
        sample(&quota_text, "truce_api_calls_total{system=\"hubspot\"}"),
        Some(hubspot_calls as f64)
    );
    assert_eq!(
        sample(&quota_text, "truce_api_calls_total{system=\"salesforce\"}"),
        Some(sf_calls as f64)
    );

    // promtool lints the raw classic text; Prometheus itself parsed the OpenMetrics it
    // negotiated (the scrapes above went through it).
    let classic = scrape(&http, addr).await;
    let open = get(
        &http,
        addr,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .await
    .unwrap()
    .1;
    for name in NAMES {
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert!(
            classic.contains(&format!("# TYPE {name} ")),
            "{name} missing from:\n{classic}"
        );
        assert!(open.contains(family), "{family} missing from:\n{open}");
    }
    let checked = promtool_check(world.dir.path(), &classic);
    assert!(
        checked.0,
        "promtool check metrics failed:\n{}\n{classic}",
        checked.1
    );
    let targets: Value = http
        .get(format!("{}/api/v1/targets", prometheus.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target}");
    assert_eq!(target["lastError"], "", "{target}");

    // Nothing the test used as a secret or an email shows in a scrape or a health answer.
    let health = get(&http, addr, "/healthz", None).await.unwrap();
    assert_eq!(health.0, 200, "{}", health.1);
    let secrets = [
        world.hubspot.token().to_string(),
        world.salesforce.options().client_id.clone(),
        world.salesforce.options().client_secret.clone(),
    ];
    for text in [&classic, &open, &quota_text, &health.1] {
        for needle in secrets.iter().chain(&emails) {
            assert!(
                !text.contains(needle.as_str()),
                "{needle} exposed in:\n{text}"
            );
        }
        assert!(!text.contains('@'), "an email-like value in:\n{text}");
    }

    // Any other path is 404.
    for path in ["/", "/metric", "/api/v1/query", "/healthz/extra"] {
        assert_eq!(get(&http, addr, path, None).await.unwrap().0, 404, "{path}");
    }
    let log = truce.log();
    assert_eq!(truce.stop(), Some(0), "truce stops on SIGTERM:\n{log}");
    assert!(
        get(&http, addr, "/metrics", None).await.is_none(),
        "the listener stopped with the daemon"
    );
}

/// Runs `promtool check metrics` on `text`: (passed, what it said).
fn promtool_check(dir: &Path, text: &str) -> (bool, String) {
    let path = dir.join("scrape.txt");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success() && said.trim().is_empty(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_turns_503_while_the_apis_are_down_and_200_when_they_return() {
    let world = World::new().await;
    let emails = seed_agreeing(&world, 5);
    let addr = listen_on_a_free_port(&world);
    let truce = start_truce(&world);
    let http = reqwest::Client::new();
    let health = async |want: u16| {
        get(&http, addr, "/healthz", None)
            .await
            .filter(|(status, _)| *status == want)
            .map(|(_, body)| body)
    };
    let ok = eventually("/healthz 200 after a cycle", SOON, async || {
        health(200)
            .await
            .filter(|b| b.contains("the last cycle finished"))
    })
    .await;
    assert!(ok.starts_with("ok: "), "{ok}");
    eventually("the first cycle to link everyone", SOON, async || {
        let text = get(&http, addr, "/metrics", None).await?.1;
        (sample(
            &text,
            &format!("truce_records_pulled_total{}", contacts("salesforce")),
        )? >= 5.0)
            .then_some(())
    })
    .await;

    // Both APIs stop answering.
    let World {
        dir,
        hubspot,
        salesforce,
        hubspot_served,
        salesforce_served,
        ..
    } = world;
    let (hubspot_addr, salesforce_addr) = (hubspot_served.addr, salesforce_served.addr);
    hubspot_served.shutdown().await;
    salesforce_served.shutdown().await;
    let down = eventually("/healthz 503 while the APIs are down", SOON, async || {
        health(503).await
    })
    .await;
    assert!(
        down.starts_with("no cycle finished in the last 3s (3 poll intervals)"),
        "{down}"
    );
    assert_eq!(down.lines().count(), 1, "{down}");
    let with_error = eventually("/healthz to name the last error", SOON, async || {
        health(503).await.filter(|b| b.contains("last error: "))
    })
    .await;
    // While they are down, both teams edit the same field of one person.
    let person = &emails[0];
    let contact = hubspot.find_by_email(person).unwrap();
    hubspot.edit(&contact.id, &[("company", "Hub Co")]).unwrap();
    let (_, lead) = salesforce.find_by_email(person).remove(0);
    salesforce
        .edit("Lead", &lead, json!({"Company": "Sales Co"}))
        .unwrap();

    // They come back on the same addresses.
    let _hubspot_served = hubspot.serve(hubspot_addr).await.unwrap();
    let _salesforce_served = salesforce.serve(salesforce_addr).await.unwrap();
    let back = eventually(
        "/healthz 200 once the APIs answer again",
        Duration::from_secs(180),
        async || health(200).await,
    )
    .await;
    assert!(back.starts_with("ok: the last cycle finished"), "{back}");
    let text = eventually("the conflict to be counted", SOON, async || {
        let text = get(&http, addr, "/metrics", None).await?.1;
        let series = "truce_conflicts_total{object=\"contacts\",field=\"company\",rule=\"prefer_hubspot_unless_blank\"}";
        (sample(&text, series)? == 1.0).then_some(text)
    })
    .await;
    assert_eq!(
        sample(&text, &writes("salesforce", "ok")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(salesforce.get("Lead", &lead).unwrap()["Company"], "Hub Co");
    for body in [&down, &with_error, &back, &text] {
        for email in &emails {
            assert!(
                !body.contains(email.as_str()),
                "{email} exposed in:\n{body}"
            );
        }
        assert!(!body.contains(hubspot.token()), "{body}");
    }
    let log = truce.log();
    assert_eq!(truce.stop(), Some(0), "{log}");
    drop(dir);
}

fn example_with_metrics(dir: &Path, metrics: &str) -> (PathBuf, usize) {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/truce.toml.example");
    let mut text = std::fs::read_to_string(example).unwrap();
    text.push_str("\n[metrics]\n");
    let line = text.lines().count() + 1;
    text.push_str(metrics);
    let path = dir.join("truce.toml");
    std::fs::write(&path, text).unwrap();
    (path, line)
}

fn truce_with_example_env(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_truce"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("HUBSPOT_TOKEN", "pat-na1-test-token")
        .env("SALESFORCE_CLIENT_ID", "test-client-id")
        .env("SALESFORCE_CLIENT_SECRET", "test-client-secret");
    cmd
}

#[test]
fn a_malformed_or_remote_listen_address_exits_78_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("listen = \"9464\"\n", "is not an address to listen on"),
        (
            "listen = \"localhost:http\"\n",
            "is not an address to listen on",
        ),
        ("listen = \"0.0.0.0:9464\"\n", "allow_remote = true"),
        (
            "listen = \"[::]:9464\"\nallow_remote = false\n",
            "allow_remote = true",
        ),
    ];
    for (metrics, says) in cases {
        let (config, line) = example_with_metrics(dir.path(), metrics);
        for command in ["run", "check"] {
            let output = truce_with_example_env(&[command, "--config", config.to_str().unwrap()])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(78), "{command} {metrics}: {err}");
            assert!(
                err.contains(&format!("truce.toml:{line}: `metrics.listen`")),
                "{command} {metrics}: {err}"
            );
            assert!(err.contains(says), "{err}");
        }
    }
    let (config, _) =
        example_with_metrics(dir.path(), "listen = \"0.0.0.0:0\"\nallow_remote = true\n");
    let output =
        truce_with_example_env(&["check", "--offline", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn check_says_whether_the_metrics_address_can_be_bound() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (config, _) = example_with_metrics(dir.path(), &format!("listen = \"127.0.0.1:{port}\"\n"));
    let check = || {
        let output =
            truce_with_example_env(&["check", "--offline", "--config", config.to_str().unwrap()])
                .output()
                .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, out) = check();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("ok    metrics: truce run serves http://127.0.0.1:{port}/metrics and /healthz; the address can be bound")),
        "{out}"
    );
    let _held = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    let (code, out) = check();
    assert_eq!(
        code,
        Some(0),
        "a port in use is a warning (the running truce holds it):\n{out}"
    );
    assert!(
        out.contains("WARN  metrics:") && out.contains("is in use now"),
        "{out}"
    );
}
