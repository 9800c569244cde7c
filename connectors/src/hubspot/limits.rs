//! HubSpot's three budgets, and what its answers say about them.
//!
//! - The per-app burst, `requests_per_10s` per rolling 10 s: a [`Limiter::rolling`], so
//!   truce runs at the full rate without ever bouncing off the limit. Its slots are counted
//!   from each call's answer, so latency between truce and HubSpot cannot crowd more than
//!   the limit into one of HubSpot's windows (see [`crate::http::limiter`]).
//! - Search, `search_requests_per_second`: its own limiter, counted the same way. Search is
//!   exempt from the burst limit (HubSpot's spec says so) and sends no rate-limit headers.
//! - The daily share, `daily_quota × daily_share` per 24 h: a limiter with a burst of half
//!   the share (a backfill may spend fast), refilling the rest over the day.
//!
//! Headers: `X-HubSpot-RateLimit-Remaining` with `-Interval-Milliseconds` is compared with
//! what the burst window leaves; calls HubSpot counted that truce did not send (another
//! client of the same app) hold slots of the window until they leave HubSpot's interval.
//! The daily headers feed [`Limits::quota`], and a `Daily-Remaining` of 0 stops calls until
//! the next UTC midnight. HubSpot resets at midnight in the portal's time zone, which truce
//! does not know; a `Retry-After` on the DAILY 429, when HubSpot sends one, wins over the
//! UTC guess.
//!
//! A 429 names its policy, and is waited out at the budget it names, never for a fixed
//! time: `TEN_SECONDLY_ROLLING` fills the burst window (HubSpot says none is left) so the
//! retry goes when its first slot frees; `SECONDLY` does the same to the search window;
//! `DAILY` stops calls until midnight, failing fast instead of sleeping for hours. A
//! `Retry-After`, when sent, pauses the named budget for that long instead.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use super::config::HubSpotConfig;
use crate::contract::Quota;
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::classify;
use crate::http::{Held, Limiter};
use crate::lock;

/// Which budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Any call but search: the 10 s burst and the daily share.
    Standard,
    /// `POST .../search`: the per-second search limit and the daily share.
    Search,
}

/// The `policyName` of a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The rolling 10 s burst.
    TenSecondlyRolling,
    /// The per-second search limit.
    Secondly,
    /// The daily allowance.
    Daily,
}

impl Policy {
    /// Reads `policyName` (`None` for names this code does not know).
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "TEN_SECONDLY_ROLLING" => Some(Policy::TenSecondlyRolling),
            "SECONDLY" => Some(Policy::Secondly),
            "DAILY" => Some(Policy::Daily),
            _ => None,
        }
    }

    /// The name HubSpot gives it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::TenSecondlyRolling => "TEN_SECONDLY_ROLLING",
            Policy::Secondly => "SECONDLY",
            Policy::Daily => "DAILY",
        }
    }
}

/// The connector's budgets.
#[derive(Debug)]
pub struct Limits {
    burst: Limiter,
    search: Limiter,
    daily: Limiter,
    stopped_until: Mutex<Option<Instant>>,
    quota: Mutex<Option<Quota>>,
}

/// Time until the next UTC midnight.
pub fn until_utc_midnight() -> Duration {
    let now = chrono::Utc::now().timestamp_millis();
    let next = (now.div_euclid(86_400_000) + 1) * 86_400_000;
    Duration::from_millis((next - now).max(1) as u64)
}

impl Limits {
    /// The budgets of `config`.
    pub fn new(config: &HubSpotConfig) -> Limits {
        let share = (config.daily_quota as f64 * config.daily_share.clamp(0.0, 1.0)).floor();
        let share = share.clamp(1.0, u32::MAX as f64) as u32;
        let limits = Limits {
            burst: Limiter::rolling(
                "hubspot burst",
                config.requests_per_10s.max(1),
                Duration::from_secs(10),
            ),
            search: Limiter::rolling(
                "hubspot search",
                config.search_requests_per_second.max(1),
                Duration::from_secs(1),
            ),
            daily: Limiter::bucket(
                "hubspot daily share",
                share,
                Duration::from_secs(86_400),
                share / 2,
            ),
            stopped_until: Mutex::new(None),
            quota: Mutex::new(None),
        };
        // A daemon started right after a backfill finds HubSpot's window full of the
        // backfill's calls.
        limits.burst.presume_spent();
        limits
    }

    /// Waits until a call of `kind` may be made, then spends it; the rolling window's slot
    /// is held until the returned [`Held`] is dropped. Fails at once while the daily
    /// allowance is spent.
    pub async fn acquire(&self, kind: CallKind, action: &str) -> Result<Held<'_>, Error> {
        if let Some(until) = *lock(&self.stopped_until) {
            let now = Instant::now();
            if until > now {
                let api = ApiError {
                    code: Some("DAILY".into()),
                    message: "HubSpot's daily API allowance is spent".into(),
                    retry_after: Some(until - now),
                    ..ApiError::default()
                };
                return Err(Error::new(ErrorClass::RateLimited, action, api));
            }
        }
        let held = match kind {
            CallKind::Standard => self.burst.acquire().await,
            CallKind::Search => self.search.acquire().await,
        };
        drop(self.daily.acquire().await);
        Ok(held)
    }

    /// The burst and search limits, as `(calls, window)`: what a catch-up's cost is
    /// weighed with.
    pub fn rates(&self) -> ((u32, Duration), (u32, Duration)) {
        (self.burst.limit(), self.search.limit())
    }

    /// Reads the `X-HubSpot-RateLimit-*` headers of an answer. `refused` is true for a
    /// 429, whose remaining count [`Limits::rate_limited`] handles.
    pub fn observe(&self, headers: &HeaderMap, refused: bool) {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let left = number("x-hubspot-ratelimit-remaining");
        if !refused && left.is_none() {
            self.burst.drop_presumed();
        }
        if !refused && let Some(left) = left {
            let interval = interval(headers);
            let unseen = self
                .burst
                .server_remaining(u32::try_from(left).unwrap_or(u32::MAX), interval);
            if unseen > 0 {
                tracing::debug!(
                    unseen,
                    remaining = left,
                    "HubSpot counts calls truce did not send; holding them in the burst window"
                );
            }
        }
        if let (Some(limit), Some(left)) = (
            number("x-hubspot-ratelimit-daily"),
            number("x-hubspot-ratelimit-daily-remaining"),
        ) {
            *lock(&self.quota) = Some(Quota {
                used: limit.saturating_sub(left),
                limit,
            });
            if left == 0 {
                self.stop_for(until_utc_midnight());
            }
        }
    }

    fn stop_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut stopped = lock(&self.stopped_until);
        if stopped.is_none_or(|current| current < until) {
            *stopped = Some(until);
        }
    }

    /// The policy a 429 of `kind` falls under (the named one, else the one its kind
    /// spends from) and how long the retry waits before it goes back to the budgets:
    /// `Retry-After` when sent; for the rolling policies nothing more (the budget, filled
    /// by [`Limits::rate_limited`], holds it until a slot frees); until midnight for DAILY.
    pub fn policy_wait(
        kind: CallKind,
        policy: Option<Policy>,
        headers: &HeaderMap,
    ) -> (Policy, Duration) {
        let asked = classify::retry_after(headers);
        let policy = policy.unwrap_or(match kind {
            CallKind::Search => Policy::Secondly,
            CallKind::Standard => Policy::TenSecondlyRolling,
        });
        let wait = match policy {
            Policy::TenSecondlyRolling | Policy::Secondly => asked.unwrap_or(Duration::ZERO),
            Policy::Daily => asked.unwrap_or_else(until_utc_midnight),
        };
        (policy, wait)
    }

    /// Handles a 429: the budget its policy names is paused for `Retry-After`, or else
    /// taken as full (HubSpot says nothing is left in it), so the next call of that budget
    /// goes when its first slot frees. Returns the wait before the retry.
    pub fn rate_limited(
        &self,
        kind: CallKind,
        policy: Option<Policy>,
        headers: &HeaderMap,
    ) -> Duration {
        let (policy, wait) = Self::policy_wait(kind, policy, headers);
        let asked = classify::retry_after(headers).is_some();
        let budget = match policy {
            Policy::TenSecondlyRolling => Some((&self.burst, interval(headers))),
            Policy::Secondly => Some((&self.search, Duration::from_secs(1))),
            Policy::Daily => None,
        };
        match budget {
            Some((limiter, _)) if asked => limiter.pause_for(wait),
            Some((limiter, interval)) => {
                limiter.server_remaining(0, interval);
            }
            None => self.stop_for(wait),
        }
        tracing::debug!(
            policy = policy.name(),
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "HubSpot rate limit reached; waiting at its budget"
        );
        wait
    }

    /// The daily usage as last reported in headers.
    pub fn quota(&self) -> Option<Quota> {
        *lock(&self.quota)
    }
}

/// HubSpot's rolling interval as its headers state it (10 s when they do not).
fn interval(headers: &HeaderMap) -> Duration {
    let ms = headers
        .get("x-hubspot-ratelimit-interval-milliseconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .unwrap_or(10_000);
    Duration::from_millis(ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::hubspot::config::HubSpotAuth;
    use crate::secret::Secret;
    use reqwest::header::HeaderValue;

    fn limits() -> Limits {
        Limits::new(&HubSpotConfig::new(
            "http://127.0.0.1:1",
            HubSpotAuth::Token(Secret::new("t")),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_is_waited_out_at_the_budget_its_policy_names_not_for_a_fixed_time() {
        let limits = limits();
        let none = HeaderMap::new();
        // An answer without a count: nothing is presumed about other processes.
        limits.observe(&none, false);
        for _ in 0..100 {
            drop(limits.acquire(CallKind::Standard, "list").await.unwrap());
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        // TEN_SECONDLY_ROLLING: HubSpot's window is full of truce's own 100 calls; the retry
        // goes when the first of them leaves it (10.05 s after its answer), 5.05 s after
        // the refusal, not 10 s.
        let wait = limits.rate_limited(CallKind::Standard, Some(Policy::TenSecondlyRolling), &none);
        assert_eq!(wait, Duration::ZERO);
        let refused_at = Instant::now();
        drop(limits.acquire(CallKind::Standard, "list").await.unwrap());
        assert_eq!(Instant::now() - refused_at, Duration::from_millis(5_050));
        // SECONDLY: the search window, a second long, not the burst's.
        let wait = limits.rate_limited(CallKind::Search, Some(Policy::Secondly), &none);
        assert_eq!(wait, Duration::ZERO);
        let refused_at = Instant::now();
        drop(limits.acquire(CallKind::Search, "search").await.unwrap());
        assert_eq!(Instant::now() - refused_at, Duration::from_millis(1_020));
        // Retry-After, when sent, is the wait.
        let mut asked = HeaderMap::new();
        asked.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(
            limits.rate_limited(CallKind::Standard, None, &asked),
            Duration::from_secs(3)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_headers_below_truces_own_count_hold_the_difference() {
        let limits = limits();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hubspot-ratelimit-remaining",
            HeaderValue::from_static("0"),
        );
        headers.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            HeaderValue::from_static("10000"),
        );
        limits.observe(&headers, false);
        // Another client spent the whole window, perhaps all of it just now: the next call
        // waits a whole interval (and the margin) for its calls to leave HubSpot's window.
        let start = Instant::now();
        drop(limits.acquire(CallKind::Standard, "list").await.unwrap());
        assert_eq!(Instant::now() - start, Duration::from_millis(10_050));
        // Once the server says the window is free again, so is truce's.
        headers.insert(
            "x-hubspot-ratelimit-remaining",
            HeaderValue::from_static("99"),
        );
        limits.observe(&headers, false);
        let start = Instant::now();
        for _ in 0..99 {
            drop(limits.acquire(CallKind::Standard, "list").await.unwrap());
        }
        assert_eq!(Instant::now() - start, Duration::ZERO);
    }

    #[tokio::test]
    async fn a_spent_daily_allowance_fails_fast_until_midnight() {
        let limits = limits();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hubspot-ratelimit-daily",
            HeaderValue::from_static("250000"),
        );
        headers.insert(
            "x-hubspot-ratelimit-daily-remaining",
            HeaderValue::from_static("0"),
        );
        limits.observe(&headers, false);
        assert_eq!(
            limits.quota(),
            Some(Quota {
                used: 250_000,
                limit: 250_000
            })
        );
        let err = limits
            .acquire(CallKind::Standard, "test")
            .await
            .unwrap_err();
        assert_eq!(err.class(), ErrorClass::RateLimited);
        assert!(err.retry_after().is_some());
    }
}
