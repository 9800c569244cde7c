use std::net::{Ipv4Addr, SocketAddr};

use truce_connectors::Secret;
use truce_connectors::http::{HttpClient, HttpOptions};
use truce_connectors::hubspot::{HubSpotAuth, HubSpotConfig, HubSpotConnector};
use truce_connectors::salesforce::{SalesforceConfig, SalesforceConnector};

use super::families::NAMES;
use super::*;

/// Metrics over connectors that never called anyone (nothing listens on port 1).
fn metrics() -> Metrics {
    let http = HttpClient::new(&HttpOptions::default()).unwrap();
    let hubspot = HubSpotConnector::new(
        HubSpotConfig::new(
            "http://127.0.0.1:1",
            HubSpotAuth::Token(Secret::new("pat-na1-unit")),
        ),
        http.clone(),
    )
    .unwrap();
    let salesforce = SalesforceConnector::new(
        SalesforceConfig::new(
            "http://127.0.0.1:1",
            Secret::new("id"),
            Secret::new("secret"),
        ),
        http,
    )
    .unwrap();
    Metrics::new(
        Arc::new(hubspot),
        Arc::new(salesforce),
        &["contacts"],
        Duration::from_secs(15),
    )
}

/// The value of the sample named exactly `series` (name and labels as printed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

#[test]
fn every_name_of_the_contract_is_in_the_first_scrape_in_both_formats() {
    let metrics = metrics();
    for format in [Format::OpenMetrics, Format::PrometheusText] {
        let text = metrics.encode(format).unwrap();
        for name in NAMES {
            let base = name.strip_suffix("_total").unwrap_or(name);
            let base = match format {
                // OpenMetrics names a counter's family without `_total`, an info family
                // without `_info`.
                Format::OpenMetrics => base.strip_suffix("_info").unwrap_or(base),
                Format::PrometheusText => name,
            };
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("# TYPE {base} "))),
                "{name} is not declared in {format:?}:\n{text}"
            );
        }
        assert_eq!(
            sample(
                &text,
                &format!(
                    "truce_build_info{{version=\"{}\"}}",
                    env!("CARGO_PKG_VERSION")
                )
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                "truce_writes_total{system=\"salesforce\",object=\"contacts\",outcome=\"quarantined\"}"
            ),
            Some(0.0)
        );
        assert!(!text.contains("truce_sla_findings_total{"), "{text}");
        assert!(
            !text.contains("truce_api_quota_remaining{"),
            "no quota reported yet"
        );
    }
}

#[test]
fn a_daemon_watching_an_sla_exports_both_finding_kinds_from_zero() {
    let metrics = metrics();
    metrics.watching_sla();
    let text = metrics.encode(Format::PrometheusText).unwrap();
    for kind in ["breached", "discarded_untouched"] {
        assert_eq!(
            sample(
                &text,
                &format!("truce_sla_findings_total{{kind=\"{kind}\"}}")
            ),
            Some(0.0),
            "{text}"
        );
    }
}

#[test]
fn engine_events_are_counted_under_their_labels() {
    let metrics = metrics();
    metrics.pulled(System::HubSpot, "contacts", 7);
    metrics.pulled(System::HubSpot, "contacts", 3);
    metrics.wrote(System::Salesforce, "contacts", WriteOutcomeKind::Ok, 4);
    metrics.wrote(System::HubSpot, "contacts", WriteOutcomeKind::Retry, 1);
    metrics.conflict("contacts", "firstname", "two_way");
    metrics.conflict("contacts", "firstname", "two_way");
    metrics.sla_finding("breached");
    metrics.sla_finding("breached");
    metrics.sla_finding("discarded_untouched");
    metrics.cycle(&CycleSummary::default(), Duration::from_millis(200));
    let text = metrics.encode(Format::PrometheusText).unwrap();
    let cases = [
        (
            "truce_records_pulled_total{system=\"hubspot\",object=\"contacts\"}",
            10.0,
        ),
        (
            "truce_records_pulled_total{system=\"salesforce\",object=\"contacts\"}",
            0.0,
        ),
        (
            "truce_writes_total{system=\"salesforce\",object=\"contacts\",outcome=\"ok\"}",
            4.0,
        ),
        (
            "truce_writes_total{system=\"hubspot\",object=\"contacts\",outcome=\"retry\"}",
            1.0,
        ),
        (
            "truce_conflicts_total{object=\"contacts\",field=\"firstname\",rule=\"two_way\"}",
            2.0,
        ),
        ("truce_sla_findings_total{kind=\"breached\"}", 2.0),
        (
            "truce_sla_findings_total{kind=\"discarded_untouched\"}",
            1.0,
        ),
        ("truce_cycles_total", 1.0),
        ("truce_cycle_duration_seconds_count", 1.0),
        ("truce_cycle_duration_seconds_bucket{le=\"0.25\"}", 1.0),
        ("truce_cycle_duration_seconds_bucket{le=\"0.1\"}", 0.0),
        ("truce_api_calls_total{system=\"hubspot\"}", 0.0),
        ("truce_quarantined{system=\"salesforce\"}", 0.0),
        ("truce_outbox_depth{system=\"hubspot\"}", 0.0),
    ];
    for (series, value) in cases {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    let lag = sample(&text, "truce_lag_seconds{system=\"hubspot\"}").unwrap();
    assert!((0.0..60.0).contains(&lag), "{lag}");
}

#[test]
fn a_failed_cycle_is_the_reason_healthz_gives_and_a_finished_one_clears_it() {
    let metrics = metrics();
    let err = crate::engine::EngineError::Connector(Box::new(truce_connectors::Error::new(
        truce_connectors::ErrorClass::Transient,
        "polling HubSpot",
        truce_connectors::ApiError::message("connection refused"),
    )));
    metrics.ended(Ended::Failed(&err));
    let later = Instant::now() + Duration::from_secs(46);
    let reason = metrics.health().verdict(later).unwrap_err();
    assert!(
        reason.starts_with("no cycle finished in the last 45s (3 poll intervals)"),
        "{reason}"
    );
    assert!(reason.contains("connection refused"), "{reason}");
    metrics.ended(Ended::Done(&CycleSummary::default()));
    assert!(metrics.health().verdict(Instant::now()).is_ok());
}

#[test]
fn check_says_whether_the_address_can_be_bound() {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 9464));
    let ok = bind_verdict(addr, Ok(()));
    assert_eq!(
        ok.text,
        "metrics: truce run serves http://127.0.0.1:9464/metrics and /healthz; the address can be bound"
    );
    let busy = bind_verdict(addr, Err(std::io::ErrorKind::AddrInUse.into()));
    assert_eq!(busy.verdict, crate::check::Verdict::Warn);
    let denied = bind_verdict(addr, Err(std::io::ErrorKind::PermissionDenied.into()));
    assert_eq!(denied.verdict, crate::check::Verdict::Fail);
    let held = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let section = MetricsSection {
        listen: Some(held.local_addr().unwrap().to_string()),
        allow_remote: false,
    };
    assert_eq!(
        check_line(&section).unwrap().verdict,
        crate::check::Verdict::Warn
    );
    assert!(check_line(&MetricsSection::default()).is_none());
}

#[tokio::test]
async fn the_listener_serves_metrics_and_healthz_404s_the_rest_and_stops_with_the_token() {
    let metrics = Arc::new(metrics());
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let server = tokio::spawn(server::serve(listener, metrics, stop.clone()));
    let http = reqwest::Client::new();
    let get = |path: &str, accept: Option<&str>| {
        let mut request = http.get(format!("{base}{path}"));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send()
    };
    let classic = get("/metrics", None).await.unwrap();
    assert_eq!(classic.status(), 200);
    assert_eq!(
        classic.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let open = get(
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .await
    .unwrap();
    assert!(
        open.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(open.text().await.unwrap().ends_with("# EOF\n"));
    let health = get("/healthz", None).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.text().await.unwrap().starts_with("ok: started"));
    for path in ["/", "/metrics/", "/health", "/debug/pprof"] {
        assert_eq!(get(path, None).await.unwrap().status(), 404, "{path}");
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the listener stops with the token")
        .unwrap();
}
