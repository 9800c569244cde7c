//! Staying inside the org's API allocation: `Sforce-Limit-Info` on every response, the
//! `daily_share` pause, and the bound on requests in flight.
//!
//! Salesforce sends `Sforce-Limit-Info: api-usage=USED/MAX` with every REST answer and no
//! per-second limit or `Retry-After`. truce spends at most `daily_share` of `MAX`: once a
//! response shows `USED >= daily_share * MAX` (or a call is refused with
//! `REQUEST_LIMIT_EXCEEDED`), [`Limits`] closes the gate, logs one WARN line, and every
//! pull or write waits at [`Limits::is_paused`] until a look at `GET /limits` (every
//! `pause_recheck`) shows usage below the share again; then one INFO line says it resumed.
//! Other integrations share the allocation, so truce pausing early is the point.

use std::sync::Mutex;

use reqwest::header::HeaderMap;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::contract::Quota;

#[derive(Debug, Default)]
struct State {
    used: Option<u64>,
    max: Option<u64>,
    paused: Option<String>,
}

/// Usage as last seen, the pause gate, and the concurrency bound.
#[derive(Debug)]
pub struct Limits {
    daily_share: f64,
    state: Mutex<State>,
    in_flight: Semaphore,
}

/// Parses `api-usage=USED/MAX` out of a `Sforce-Limit-Info` value (which may carry
/// `; per-app-api-usage=...` and `; api-bursts=...` too).
pub fn parse_limit_info(value: &str) -> Option<(u64, u64)> {
    value.split([';', ',']).find_map(|part| {
        let rest = part.trim().strip_prefix("api-usage=")?;
        let (used, max) = rest.split_once('/')?;
        Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
    })
}

impl Limits {
    /// A gate at `daily_share` of the allocation, with `max_concurrency` requests in flight.
    pub fn new(daily_share: f64, max_concurrency: usize) -> Limits {
        Limits {
            daily_share: daily_share.clamp(0.0, 1.0),
            state: Mutex::new(State::default()),
            in_flight: Semaphore::new(max_concurrency.max(1)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Waits for a slot among the requests in flight.
    pub async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.in_flight.acquire().await.ok()
    }

    /// Reads `Sforce-Limit-Info` from a response.
    pub fn observe_headers(&self, headers: &HeaderMap) {
        if let Some((used, max)) = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_limit_info)
        {
            self.observe(used, max);
        }
    }

    /// Records usage, closing or opening the gate.
    pub fn observe(&self, used: u64, max: u64) {
        let mut state = self.state();
        state.used = Some(used);
        state.max = Some(max);
        let threshold = self.daily_share * max as f64;
        let over = max > 0 && used as f64 >= threshold;
        match (&state.paused, over) {
            (None, true) => {
                let message = format!(
                    "Salesforce API usage {used}/{max} reached daily_share {share} of the daily allocation: \
                     pausing Salesforce pulls and writes until usage falls below {limit}",
                    share = self.daily_share,
                    limit = threshold.floor() as u64,
                );
                tracing::warn!(used, max, daily_share = self.daily_share, "{message}");
                state.paused = Some(message);
            }
            (Some(_), false) => {
                tracing::info!(
                    used,
                    max,
                    daily_share = self.daily_share,
                    "Salesforce API usage {used}/{max} is below daily_share again: resuming pulls and writes"
                );
                state.paused = None;
            }
            _ => {}
        }
    }

    /// Salesforce refused a call with `REQUEST_LIMIT_EXCEEDED`: close the gate.
    pub fn exhausted(&self, message: &str) {
        let mut state = self.state();
        if state.paused.is_none() {
            let text = format!(
                "Salesforce refused a call with REQUEST_LIMIT_EXCEEDED ({message}): pausing Salesforce pulls and writes until usage falls"
            );
            tracing::warn!(used = state.used, max = state.max, "{text}");
            state.paused = Some(text);
        }
    }

    /// Why the gate is closed, when it is.
    pub fn is_paused(&self) -> Option<String> {
        self.state().paused.clone()
    }

    /// Usage as last seen.
    pub fn quota(&self) -> Option<Quota> {
        let state = self.state();
        Some(Quota {
            used: state.used?,
            limit: state.max?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_info_is_read_with_or_without_per_app_usage() {
        assert_eq!(parse_limit_info("api-usage=18/5000"), Some((18, 5000)));
        assert_eq!(
            parse_limit_info(
                "api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)"
            ),
            Some((25, 5000))
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=17/250(appName=x)"),
            None
        );
        assert_eq!(parse_limit_info("api-usage=x/5000"), None);
    }

    #[test]
    fn the_gate_closes_at_the_share_and_opens_below_it() {
        let limits = Limits::new(0.5, 2);
        limits.observe(499, 1000);
        assert!(limits.is_paused().is_none());
        limits.observe(500, 1000);
        let message = limits.is_paused().unwrap_or_default();
        assert!(
            message.contains("500/1000") && message.contains("daily_share 0.5"),
            "{message}"
        );
        limits.observe(10, 1000);
        assert!(limits.is_paused().is_none());
        assert_eq!(
            limits.quota(),
            Some(Quota {
                used: 10,
                limit: 1000
            })
        );
    }
}
