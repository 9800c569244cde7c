//! HubSpot's three budgets, and what its answers say about them.
//!
//! - The per-app burst, `requests_per_10s` per rolling 10 s: a [`Limiter::rolling`], so
//!   truce runs at the full rate without ever bouncing off the limit.
//! - Search, `search_requests_per_second`: its own limiter. Search is exempt from the burst
//!   limit (HubSpot's spec says so) and sends no rate-limit headers.
//! - The daily share, `daily_quota × daily_share` per 24 h: a limiter with a burst of half
//!   the share (a backfill may spend fast), refilling the rest over the day.
//!
//! Headers: `X-HubSpot-RateLimit-Remaining: 0` pauses the burst limiter briefly (another
//! client of the same app is spending too); the daily headers feed [`Limits::quota`], and a
//! `Daily-Remaining` of 0 stops calls until the next UTC midnight. HubSpot resets at
//! midnight in the portal's time zone, which truce does not know; a `Retry-After` on the
//! DAILY 429, when HubSpot sends one, wins over the UTC guess.
//!
//! A 429 names its policy: `TEN_SECONDLY_ROLLING` pauses the burst limiter for `Retry-After`
//! or 10 s, `SECONDLY` the search limiter for `Retry-After` or 1 s, and `DAILY` stops calls
//! until midnight, failing fast instead of sleeping for hours.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use super::config::HubSpotConfig;
use crate::contract::Quota;
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::Limiter;
use crate::http::classify;
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
        Limits {
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
        }
    }

    /// Waits until a call of `kind` may be made, then spends it. Fails at once while the
    /// daily allowance is spent.
    pub async fn acquire(&self, kind: CallKind, action: &str) -> Result<(), Error> {
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
        match kind {
            CallKind::Standard => self.burst.acquire().await,
            CallKind::Search => self.search.acquire().await,
        }
        self.daily.acquire().await;
        Ok(())
    }

    /// Reads the `X-HubSpot-RateLimit-*` headers of an answer.
    pub fn observe(&self, headers: &HeaderMap) {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        if number("x-hubspot-ratelimit-remaining") == Some(0) {
            // Someone else spends from the same budget: let a slot free up before going on.
            let interval = number("x-hubspot-ratelimit-interval-milliseconds").unwrap_or(10_000);
            self.burst.pause_for(Duration::from_millis(interval / 20));
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
    /// spends from) and how long to wait: `Retry-After`, else the policy's window.
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
            Policy::TenSecondlyRolling => asked.unwrap_or(Duration::from_secs(10)),
            Policy::Secondly => asked.unwrap_or(Duration::from_secs(1)),
            Policy::Daily => asked.unwrap_or_else(until_utc_midnight),
        };
        (policy, wait)
    }

    /// Handles a 429: pauses the budget its policy names and says how long to wait.
    pub fn rate_limited(
        &self,
        kind: CallKind,
        policy: Option<Policy>,
        headers: &HeaderMap,
    ) -> Duration {
        let (policy, wait) = Self::policy_wait(kind, policy, headers);
        match policy {
            Policy::TenSecondlyRolling => self.burst.pause_for(wait),
            Policy::Secondly => self.search.pause_for(wait),
            Policy::Daily => self.stop_for(wait),
        }
        wait
    }

    /// The daily usage as last reported in headers.
    pub fn quota(&self) -> Option<Quota> {
        *lock(&self.quota)
    }
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

    #[test]
    fn a_429_waits_for_its_policy_window_when_no_retry_after_is_given() {
        let limits = limits();
        let none = HeaderMap::new();
        assert_eq!(
            limits.rate_limited(CallKind::Standard, Some(Policy::TenSecondlyRolling), &none),
            Duration::from_secs(10)
        );
        assert_eq!(
            limits.rate_limited(CallKind::Search, Some(Policy::Secondly), &none),
            Duration::from_secs(1)
        );
        let mut asked = HeaderMap::new();
        asked.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(
            limits.rate_limited(CallKind::Standard, None, &asked),
            Duration::from_secs(3)
        );
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
        limits.observe(&headers);
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
