//! The one call pipeline every connector sends through.
//!
//! ```text
//! admit:        vendor.admit(kind)            wait while a gate is closed (once per call)
//! loop {
//!     limiter:  vendor.take(kind)             wait for the rate limiters (an Err is final);
//!                                             the slot taken is held until the answer
//!     auth:     tokens.current()              the cached token, renewed ahead of expiry
//!     send:     one request, counted by calls(), in a concurrency slot when the vendor has them
//!     observe:  vendor.observe(answer)        usage headers, a refusal's policy -> budgets
//!     classify: vendor.classify(refusal)      status + body -> ErrorClass + ApiError
//!     parse:    the body as T                 a cut-off or garbled body is transient
//!     decide:   retry::Attempts::after        renew once / wait (Retry-After or backoff) /
//!                                             back to admit (held by a gate) / stop
//! }
//! ```
//!
//! A vendor ([`Vendor`]) supplies only what differs between APIs: how a refusal is
//! classified, how a token is requested, and its budgets (limiters, gates, concurrency)
//! with what its answers say about them. Everything else is written once, here and in
//! [`super::retry`].
//!
//! Token requests go straight to the vendor's token endpoint, retried by the same rules;
//! they are not counted by [`Pipeline::calls`], which counts API requests only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::SemaphorePermit;
use tokio::time::Instant;

use super::limiter::Held;
use super::retry::{Attempts, Next, Renewal, Repeat, RetryPolicy, retry};
use super::token::{Issued, Token, TokenCache};
use super::{HttpClient, Response};
use crate::error::{ApiError, Error, ErrorClass};

/// Whether a budget holds the next attempt of a refused call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// No: the retry rules decide when to try again.
    Free,
    /// Yes: the call goes back to [`Vendor::admit`] and waits until the budget opens; the
    /// refusal is not counted as an attempt.
    Held,
}

/// What one API supplies to the pipeline. Only [`Vendor::classify`] and
/// [`Vendor::request_token`] are required.
#[async_trait]
pub trait Vendor: Send + Sync + Sized + 'static {
    /// Which budgets a call spends (HubSpot: search or not; Salesforce: data or metadata).
    type Kind: Copy + Send + Sync + std::fmt::Debug + 'static;

    /// Turns a non-success answer into an error: its class and what the API said (status,
    /// code, message, fields, `Retry-After`), kept as data.
    fn classify(&self, kind: Self::Kind, response: &Response, action: &str) -> Error;

    /// Asks the token endpoint for a token (no request for a static token).
    async fn request_token(&self, http: &HttpClient) -> Result<Token, Error>;

    /// False when a refused token cannot be renewed (a static token).
    fn renewable(&self) -> bool {
        true
    }

    /// Waits until a call of `kind` may start: a gate closed on usage (Salesforce's
    /// `daily_share`). Called once per call, and again when a refusal held it (see
    /// [`Vendor::observe`]); retries of an admitted call do not wait here. `pipeline` lets
    /// a closed gate look at usage ([`Pipeline::probe`]).
    async fn admit(
        &self,
        pipeline: &Pipeline<Self>,
        kind: Self::Kind,
        action: &str,
    ) -> Result<(), Error> {
        let _ = (pipeline, kind, action);
        Ok(())
    }

    /// Spends one request of `kind` from the rate budgets, waiting for them first; called
    /// before every request. An `Err` is final (a spent daily allowance): the call fails
    /// without a request.
    async fn spend(&self, kind: Self::Kind, action: &str) -> Result<(), Error> {
        let _ = (kind, action);
        Ok(())
    }

    /// Spends one request of `kind` like [`Vendor::spend`], and hands back the rolling
    /// window slot it took, which the pipeline holds until the answer has come: a limit
    /// counted at the server is counted from arrivals, which lie between send and answer.
    async fn take<'a>(&'a self, kind: Self::Kind, action: &str) -> Result<Held<'a>, Error> {
        self.spend(kind, action).await.map(|()| Held::none())
    }

    /// A slot among the requests in flight, held while one is sent.
    async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        None
    }

    /// Reads what an answer says about the budgets (usage headers; for a refusal, its
    /// policy) and whether a budget now holds the next attempt.
    fn observe(&self, kind: Self::Kind, response: &Response, refusal: Option<&Error>) -> Hold {
        let _ = (kind, response, refusal);
        Hold::Free
    }
}

/// One API call, before it is sent.
#[derive(Debug, Clone)]
pub struct Call<K> {
    kind: K,
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    action: String,
    repeat: Repeat,
}

impl<K> Call<K> {
    /// A `GET` of `path` (relative to the API's base, or a whole URL).
    pub fn get(kind: K, path: impl Into<String>, action: impl Into<String>) -> Call<K> {
        Call {
            kind,
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            action: action.into(),
            repeat: Repeat::Safe,
        }
    }

    /// A call with a JSON body.
    pub fn json<B: Serialize + ?Sized>(
        kind: K,
        method: Method,
        path: impl Into<String>,
        body: &B,
        action: impl Into<String>,
    ) -> Result<Call<K>, Error> {
        let action = action.into();
        let body = serde_json::to_vec(body).map_err(|err| {
            Error::new(
                ErrorClass::Fatal,
                &action,
                ApiError::message(err.to_string()),
            )
        })?;
        Ok(Call {
            kind,
            method,
            path: path.into(),
            query: Vec::new(),
            body: Some(body),
            action,
            repeat: Repeat::Safe,
        })
    }

    /// Adds query parameters.
    pub fn query(mut self, query: Vec<(&'static str, String)>) -> Call<K> {
        self.query = query;
        self
    }

    /// Marks the call as one that must not be repeated once it may have been applied.
    pub fn at_most_once(mut self) -> Call<K> {
        self.repeat = Repeat::AtMostOnce;
        self
    }

    /// What the call does, for messages.
    pub fn action(&self) -> &str {
        &self.action
    }
}

/// One request in flight: counted in while it is, whether sent or dropped unanswered.
struct Flight<'a> {
    calls: &'a AtomicU64,
    in_flight: &'a AtomicU64,
    number: u64,
    first_in: bool,
    started: Instant,
}

impl<'a> Flight<'a> {
    fn begin(calls: &'a AtomicU64, in_flight: &'a AtomicU64) -> Flight<'a> {
        Flight {
            number: calls.fetch_add(1, Ordering::Relaxed),
            first_in: in_flight.fetch_add(1, Ordering::Relaxed) == 0,
            calls,
            in_flight,
            started: Instant::now(),
        }
    }

    /// Its round trip so far, if no other call was in flight at any time since it left.
    fn alone(&self) -> Option<Duration> {
        let none_since = self.calls.load(Ordering::Relaxed) == self.number + 1;
        (self.first_in && none_since).then(|| self.started.elapsed())
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The pipeline of one connector: its vendor, its token, its policy and its call count.
#[derive(Debug)]
pub struct Pipeline<V> {
    http: HttpClient,
    vendor: V,
    base_url: Option<String>,
    tokens: TokenCache,
    retry: RetryPolicy,
    calls: AtomicU64,
    /// Requests sent and not yet answered.
    in_flight: AtomicU64,
    /// Recent round trips (µs) of calls that had the pipeline to themselves, smoothed: one
    /// request to its answer, the waits for the budgets excluded. 0 until the first.
    round_trip_us: AtomicU64,
}

impl<V: Vendor> Pipeline<V> {
    /// A pipeline for `vendor`. Paths are resolved against the token's base URL when the
    /// token endpoint names one, else against `base_url`.
    pub fn new(
        http: HttpClient,
        vendor: V,
        base_url: Option<String>,
        retry: RetryPolicy,
    ) -> Pipeline<V> {
        Pipeline {
            http,
            vendor,
            base_url: base_url.map(|b| b.trim_end_matches('/').to_string()),
            tokens: TokenCache::default(),
            retry,
            calls: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            round_trip_us: AtomicU64::new(0),
        }
    }

    /// The vendor half.
    pub fn vendor(&self) -> &V {
        &self.vendor
    }

    /// The retry policy calls run under.
    pub fn policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// API requests sent so far, answered or not; token requests excluded.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The recent round trip of a request sent alone (an average weighted towards the
    /// latest eight), the waits for the budgets excluded; `None` before the first. What
    /// work made of calls that must follow one another costs per call, whatever the limits
    /// allow. Calls that overlapped another are left out: their time includes waiting
    /// behind the others (ten batch writes in flight took each "round trip" to ten calls'
    /// work), which a road of calls one after another never waits.
    pub fn round_trip(&self) -> Option<Duration> {
        match self.round_trip_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    fn observe_round_trip(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let old = self.round_trip_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old.saturating_mul(7).saturating_add(sample)) / 8
        };
        self.round_trip_us.store(new, Ordering::Relaxed);
    }

    /// Obtains the token calls would send (the cached one, or a new one), without sending
    /// any call: a login check.
    pub async fn authenticate(&self) -> Result<(), Error> {
        self.token().await.map(|_| ())
    }

    /// Sends `call` through every step, retrying as the rules allow, and parses the answer.
    pub async fn send<T: DeserializeOwned>(&self, call: Call<V::Kind>) -> Result<T, Error> {
        self.run(&call, &self.retry, true).await
    }

    /// Sends `call` once, past the budgets (only the 401 renewal may repeat it): for a
    /// closed gate looking at usage.
    pub async fn probe<T: DeserializeOwned>(&self, call: Call<V::Kind>) -> Result<T, Error> {
        self.run(&call, &RetryPolicy::none(), false).await
    }

    async fn run<T: DeserializeOwned>(
        &self,
        call: &Call<V::Kind>,
        policy: &RetryPolicy,
        budgeted: bool,
    ) -> Result<T, Error> {
        let mut attempts = Attempts::new(policy);
        let mut renewal = if self.vendor.renewable() {
            Renewal::Available
        } else {
            Renewal::Unavailable
        };
        let mut admit = budgeted;
        // The token a renewal just issued; otherwise the cache's, taken after the waits.
        let mut renewed: Option<Arc<Issued>> = None;
        loop {
            if admit {
                self.vendor.admit(self, call.kind, &call.action).await?;
                admit = false;
            }
            let held = if budgeted {
                self.vendor.take(call.kind, &call.action).await?
            } else {
                Held::none()
            };
            let token = match renewed.take() {
                Some(token) => token,
                None => self.token().await?,
            };
            let (err, hold) = match self.exchange(call, &token, held).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            // Only a call that waits at the budgets can be held by one.
            let held = budgeted && hold == Hold::Held;
            match attempts.after(err, call.repeat, renewal, held) {
                Next::Renew => {
                    renewal = Renewal::Spent;
                    let fetch = || self.fetch_token();
                    renewed = Some(self.tokens.renew(token.generation, fetch).await?);
                }
                Next::Now => admit = true,
                Next::Wait(wait) => tokio::time::sleep(wait).await,
                Next::Stop(err) => return Err(err),
            }
        }
    }

    async fn token(&self) -> Result<Arc<Issued>, Error> {
        self.tokens.current(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<Token, Error> {
        retry(&self.retry, |_| self.vendor.request_token(&self.http)).await
    }

    /// One request and its answer: sent, observed, classified, parsed. The budget's slot
    /// (`held`) is released as soon as the answer (or the failure to get one) is in.
    async fn exchange<T: DeserializeOwned>(
        &self,
        call: &Call<V::Kind>,
        token: &Issued,
        held: Held<'_>,
    ) -> Result<T, (Error, Hold)> {
        let url = self.url(&call.path, token);
        let mut request = self
            .http
            .client()
            .request(call.method.clone(), url)
            .bearer_auth(token.token.bearer.expose());
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        let response = {
            let _slot = self.vendor.slot().await;
            let flight = Flight::begin(&self.calls, &self.in_flight);
            let sent = self.http.send(request, &call.action).await;
            if let Some(took) = flight.alone() {
                self.observe_round_trip(took);
            }
            drop(flight);
            drop(held);
            sent.map_err(|err| (err, Hold::Free))?
        };
        if !response.is_success() {
            let err = self.vendor.classify(call.kind, &response, &call.action);
            let hold = self.vendor.observe(call.kind, &response, Some(&err));
            return Err((err, hold));
        }
        self.vendor.observe(call.kind, &response, None);
        parse(&response, &call.action).map_err(|err| (err, Hold::Free))
    }

    fn url(&self, path: &str, token: &Issued) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_string();
        }
        let base = token
            .token
            .base_url
            .as_deref()
            .or(self.base_url.as_deref())
            .unwrap_or_default();
        format!("{base}{path}")
    }
}

/// The body as `T`; an empty body (204) reads as `null`. A body that does not parse (cut
/// off, garbled) is transient: the call is safe to repeat, and the next answer is usually
/// whole.
fn parse<T: DeserializeOwned>(response: &Response, action: &str) -> Result<T, Error> {
    if response.body.is_empty() {
        return serde_json::from_slice(b"null").map_err(|err| garbled(response, action, &err));
    }
    serde_json::from_slice(&response.body).map_err(|err| garbled(response, action, &err))
}

fn garbled(response: &Response, action: &str, err: &serde_json::Error) -> Error {
    Error::new(
        ErrorClass::Transient,
        action,
        ApiError {
            status: Some(response.status),
            message: format!("response body is not the JSON expected: {err}"),
            ..ApiError::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_call_nothing_overlapped_has_a_round_trip() {
        let (calls, in_flight) = (AtomicU64::new(0), AtomicU64::new(0));
        let lone = Flight::begin(&calls, &in_flight);
        assert!(lone.alone().is_some());
        drop(lone);

        // The second leaves while the first is out, then the first is answered after
        // the second: neither was alone.
        let first = Flight::begin(&calls, &in_flight);
        let second = Flight::begin(&calls, &in_flight);
        assert!(second.alone().is_none());
        drop(second);
        assert!(first.alone().is_none());
        drop(first);

        // A call dropped unanswered leaves the count as it found it.
        assert_eq!(in_flight.load(Ordering::Relaxed), 0);
        assert!(Flight::begin(&calls, &in_flight).alone().is_some());
    }
}
