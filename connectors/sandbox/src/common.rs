//! Machinery both sandboxes share: serving a router on loopback, per-endpoint request
//! counters, and fault injection.
//!
//! The sandboxes themselves ([`crate::hubspot`], [`crate::salesforce`]) own their API's
//! paths, bodies and rules; this module only holds what is the same for both, so a fault or
//! a counter means the same thing in a HubSpot test and a Salesforce one.
//!
//! ## Faults
//!
//! [`FaultInjector::draw`] picks at most one fault per request from seeded probabilities, so
//! a test run is reproducible for a given seed and request order. The middleware
//! ([`layer`]) applies it:
//!
//! - `latency`, `latency_jitter`: every request waits `latency` plus a seeded random share
//!   of `latency_jitter` first (50–300 ms is `latency` 50 ms, `latency_jitter` 250 ms),
//!   before the API sees it, as a slow network or a queueing proxy delays arrivals;
//! - `server_error`, `rate_limited`: the request is refused before it is processed, with the
//!   system's own body ([`FaultBodies`]);
//! - `drop_connection`: the request is processed, then the connection is cut before the body
//!   (the client cannot know whether the call took effect);
//! - `malformed_body`, `truncated_body`: the request is processed and its answer garbled.
//!
//! `script` lists faults for the next requests, one each, in order, before any drawn by
//! chance: a test that must count requests says exactly which ones fail. It may also hold
//! [`Fault::TooManyRequests`], a bare 429 as a gateway in front of the API answers it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lock;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Probabilities (0.0–1.0) of each fault per request, and an added latency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Answer 5xx before processing.
    pub server_error: f64,
    /// Answer 429 (with `Retry-After`) before processing.
    pub rate_limited: f64,
    /// The `Retry-After` sent with injected 429s, in seconds.
    pub retry_after_secs: u64,
    /// Process, then cut the connection before the body.
    pub drop_connection: f64,
    /// Process, then answer a body that is not JSON.
    pub malformed_body: f64,
    /// Process, then send half the body and close.
    pub truncated_body: f64,
    /// Wait this long before handling every request.
    pub latency: Duration,
    /// Wait up to this much longer, drawn per request (uniformly, seeded).
    pub latency_jitter: Duration,
    /// Faults for the next requests, one each, in order, before any drawn by chance.
    pub script: Vec<Fault>,
}

/// One drawn fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// See [`Faults::server_error`].
    ServerError,
    /// See [`Faults::rate_limited`]; carries the `Retry-After` seconds.
    RateLimited(u64),
    /// See [`Faults::drop_connection`].
    DropConnection,
    /// See [`Faults::malformed_body`].
    MalformedBody,
    /// See [`Faults::truncated_body`].
    TruncatedBody,
    /// A plain HTTP 429, with `Retry-After` (seconds) when given, answered before
    /// processing by a gateway in front of the API rather than by the API itself.
    TooManyRequests(Option<u64>),
}

/// Draws faults from seeded probabilities; shared by every request of one sandbox.
#[derive(Debug)]
pub struct FaultInjector {
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    /// Its own stream, so jitter leaves the fault draws of a seed unchanged.
    jitter_rng: Mutex<StdRng>,
}

impl FaultInjector {
    /// No faults until [`FaultInjector::set`] is called; draws are seeded with `seed`.
    pub fn new(seed: u64) -> FaultInjector {
        FaultInjector {
            faults: Mutex::new(Faults::default()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            jitter_rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x5EED_1A7E_0C1E_0001)),
        }
    }

    /// How long the next request waits before the API sees it: the latency and a drawn
    /// share of the jitter.
    pub fn delay(&self) -> Duration {
        let faults = lock(&self.faults);
        let (base, jitter) = (faults.latency, faults.latency_jitter);
        drop(faults);
        if jitter.is_zero() {
            return base;
        }
        let share: f64 = lock(&self.jitter_rng).random();
        base + jitter.mul_f64(share)
    }

    /// Replaces the fault probabilities.
    pub fn set(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// The current fault probabilities.
    pub fn get(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Draws at most one fault for a request: the next scripted one, else by chance.
    pub fn draw(&self) -> Option<Fault> {
        let faults = {
            let mut faults = lock(&self.faults);
            if !faults.script.is_empty() {
                return Some(faults.script.remove(0));
            }
            faults.clone()
        };
        let roll: f64 = lock(&self.rng).random();
        let table = [
            (faults.server_error, Fault::ServerError),
            (
                faults.rate_limited,
                Fault::RateLimited(faults.retry_after_secs),
            ),
            (faults.drop_connection, Fault::DropConnection),
            (faults.malformed_body, Fault::MalformedBody),
            (faults.truncated_body, Fault::TruncatedBody),
        ];
        let mut edge = 0.0;
        for (probability, fault) in table {
            edge += probability.max(0.0);
            if roll < edge {
                return Some(fault);
            }
        }
        None
    }
}

/// Request counts per endpoint (`"POST /crm/v3/objects/contacts/search"`), plus the
/// counts of answers by status.
#[derive(Debug, Default)]
pub struct Counters {
    by_endpoint: Mutex<BTreeMap<String, u64>>,
    by_status: Mutex<BTreeMap<u16, u64>>,
}

impl Counters {
    /// Counts one request to `endpoint`.
    pub fn hit(&self, endpoint: &str) {
        *lock(&self.by_endpoint)
            .entry(endpoint.to_string())
            .or_default() += 1;
    }

    /// Counts one answer with `status`.
    pub fn answered(&self, status: u16) {
        *lock(&self.by_status).entry(status).or_default() += 1;
    }

    /// Requests per endpoint so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.by_endpoint).clone()
    }

    /// Requests to one endpoint so far.
    pub fn get(&self, endpoint: &str) -> u64 {
        lock(&self.by_endpoint).get(endpoint).copied().unwrap_or(0)
    }

    /// All requests so far.
    pub fn total(&self) -> u64 {
        lock(&self.by_endpoint).values().sum()
    }

    /// Answers with this status so far.
    pub fn status(&self, status: u16) -> u64 {
        lock(&self.by_status).get(&status).copied().unwrap_or(0)
    }

    /// Forgets every count.
    pub fn reset(&self) {
        lock(&self.by_endpoint).clear();
        lock(&self.by_status).clear();
    }
}

/// How a system answers an injected refusal, in its own wire format.
pub trait FaultBodies: Send + Sync + 'static {
    /// The answer to an injected 5xx.
    fn server_error(&self) -> Response;
    /// The answer to an injected 429 asking to wait `retry_after_secs`.
    fn rate_limited(&self, retry_after_secs: u64) -> Response;
}

#[derive(Clone)]
struct LayerState {
    counters: Arc<Counters>,
    faults: Arc<FaultInjector>,
    bodies: Arc<dyn FaultBodies>,
}

/// Adds counting and fault injection to every route of `router` (call it after the routes
/// are added: it is a route layer, so only matched requests are counted and faulted).
pub fn layer<S>(
    router: Router<S>,
    counters: Arc<Counters>,
    faults: Arc<FaultInjector>,
    bodies: Arc<dyn FaultBodies>,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let state = LayerState {
        counters,
        faults,
        bodies,
    };
    router.route_layer(middleware::from_fn_with_state(state, count_and_fault))
}

async fn count_and_fault(
    State(state): State<LayerState>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = match request.extensions().get::<MatchedPath>() {
        Some(path) => format!("{} {}", request.method(), path.as_str()),
        None => format!("{} {}", request.method(), request.uri().path()),
    };
    state.counters.hit(&endpoint);
    let latency = state.faults.delay();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match state.faults.draw() {
        Some(Fault::ServerError) => state.bodies.server_error(),
        Some(Fault::RateLimited(secs)) => state.bodies.rate_limited(secs),
        Some(Fault::DropConnection) => cut(next.run(request).await, 0).await,
        Some(Fault::TruncatedBody) => cut(next.run(request).await, 2).await,
        Some(Fault::MalformedBody) => garble(next.run(request).await).await,
        Some(Fault::TooManyRequests(secs)) => too_many_requests(secs),
        None => next.run(request).await,
    };
    state.counters.answered(response.status().as_u16());
    response
}

/// Sends the head and `1/divisor` of the body (none when `divisor` is 0), then fails the
/// stream so the server closes the connection mid-response.
async fn cut(response: Response, divisor: usize) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let keep = bytes.len().checked_div(divisor).unwrap_or(0);
    let head = bytes.slice(..keep);
    parts.headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(bytes.len().max(1)),
    );
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(head),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox fault: connection dropped",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
}

/// A gateway's 429: no body the API would send, `Retry-After` when given.
fn too_many_requests(retry_after_secs: Option<u64>) -> Response {
    let mut response = Response::new(Body::from("Too Many Requests"));
    *response.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Replaces the body with something that is not JSON, keeping status and headers.
async fn garble(response: Response) -> Response {
    let (mut parts, _) = response.into_parts();
    let junk = Bytes::from_static(b"{\"results\": [{\"id\": \"1\", \"properties\": <html>");
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(junk.len()));
    Response::from_parts(parts, Body::from(junk))
}

/// A router being served on a loopback port.
#[derive(Debug)]
pub struct Served {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Served {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `addr` (port 0 picks a free one) and serves `router` until shut down.
pub async fn serve(router: Router, addr: SocketAddr) -> std::io::Result<Served> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(err) = server.await {
            tracing::error!(%err, "sandbox server stopped");
        }
    });
    Ok(Served {
        addr,
        shutdown: Some(tx),
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_are_drawn_by_default() {
        let injector = FaultInjector::new(7);
        assert!((0..1000).all(|_| injector.draw().is_none()));
    }

    #[test]
    fn latency_jitter_is_drawn_within_its_bounds_and_repeats_for_a_seed() {
        let draw_all = || {
            let injector = FaultInjector::new(9);
            injector.set(Faults {
                latency: Duration::from_millis(50),
                latency_jitter: Duration::from_millis(250),
                ..Faults::default()
            });
            (0..1_000).map(|_| injector.delay()).collect::<Vec<_>>()
        };
        let delays = draw_all();
        assert_eq!(delays, draw_all(), "same seed, same delays");
        let (low, high) = (Duration::from_millis(50), Duration::from_millis(300));
        assert!(delays.iter().all(|d| (low..=high).contains(d)));
        let slow = delays
            .iter()
            .filter(|d| **d > Duration::from_millis(175))
            .count();
        assert!(
            (400..600).contains(&slow),
            "{slow} of 1,000 above the middle"
        );
    }

    #[test]
    fn draws_follow_the_probabilities_and_the_seed() {
        let draw_all = || {
            let injector = FaultInjector::new(42);
            injector.set(Faults {
                server_error: 0.10,
                rate_limited: 0.05,
                retry_after_secs: 1,
                ..Faults::default()
            });
            (0..10_000).map(|_| injector.draw()).collect::<Vec<_>>()
        };
        let first = draw_all();
        assert_eq!(first, draw_all(), "same seed, same faults");
        let errors = first
            .iter()
            .filter(|f| **f == Some(Fault::ServerError))
            .count();
        let limited = first
            .iter()
            .filter(|f| **f == Some(Fault::RateLimited(1)))
            .count();
        assert!((800..1200).contains(&errors), "{errors} server errors");
        assert!((350..650).contains(&limited), "{limited} rate limits");
    }
}
