//! The HTTP listener: `/metrics`, `/healthz`, and 404 for anything else.
//!
//! `/metrics` speaks OpenMetrics text to a scraper that asks for it (Prometheus sends
//! `Accept: application/openmetrics-text`), and the classic Prometheus text format to
//! anyone else (curl, `promtool check metrics`), as the official Go client does. The
//! listener stops when the daemon's cancellation token is cancelled.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Format, Metrics};

/// `Content-Type` of OpenMetrics text.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the classic Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The routes, over `metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(metrics)
}

/// Serves the routes on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, stop: CancellationToken) {
    let served = axum::serve(listener, router(metrics))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(err) = served {
        tracing::error!(error = %err, "the metrics listener stopped; /metrics and /healthz are gone until truce restarts");
    }
}

/// The format a request asks for.
fn negotiate(headers: &HeaderMap) -> Format {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    if accept.contains("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

async fn scrape(State(metrics): State<Arc<Metrics>>, headers: HeaderMap) -> Response {
    let format = negotiate(&headers);
    match metrics.encode(format) {
        Ok(body) => {
            let content_type = match format {
                Format::OpenMetrics => OPENMETRICS,
                Format::PrometheusText => PROMETHEUS_TEXT,
            };
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                body,
            )
                .into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "metrics: encoding the scrape failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed\n",
            )
                .into_response()
        }
    }
}

async fn healthz(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.health().verdict(Instant::now()) {
        Ok(reason) => (StatusCode::OK, format!("{reason}\n")).into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: truce serves /metrics and /healthz here\n",
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_gets_openmetrics_and_everyone_else_the_classic_text() {
        let mut headers = HeaderMap::new();
        assert_eq!(negotiate(&headers), Format::PrometheusText);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                 version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ),
        );
        assert_eq!(negotiate(&headers), Format::OpenMetrics);
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(negotiate(&headers), Format::PrometheusText);
    }
}
