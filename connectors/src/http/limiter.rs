//! One governor limiter per API budget, shaped so truce stays *under* a rolling limit.
//!
//! APIs state their limits as "N requests in any window of W" (HubSpot: 190 per rolling
//! 10 s). A plain GCRA quota of N per W with a burst of N lets through up to 2N in the first
//! window, so truce would bounce off the limit. [`Limiter::rolling`] instead allows a small
//! burst `b` and replenishes at `(N - b) / W`: in any window of W at most `b + (N - b) = N`
//! calls pass. The cost is a steady rate a few percent under the nominal one, which is the
//! price of never receiving a 429 from our own traffic.
//!
//! A limiter can also be paused: when the API answers 429 with `Retry-After`, every caller
//! waits out the pause, not only the one that was refused.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// A named budget of calls, shared by every task that spends from it.
#[derive(Debug)]
pub struct Limiter {
    name: &'static str,
    limit: u32,
    window: Duration,
    gcra: RateLimiter<NotKeyed, InMemoryState, DefaultClock>,
    paused_until: Mutex<Option<Instant>>,
}

impl Limiter {
    /// At most `limit` calls in any window of `window`, with up to `burst` of them at once.
    ///
    /// `burst` is clamped to `1..limit`. A small burst (a few percent of `limit`) keeps the
    /// steady rate close to the nominal one; a large one front-loads the budget.
    pub fn rolling(name: &'static str, limit: u32, window: Duration, burst: u32) -> Limiter {
        let limit = limit.max(1);
        let burst = burst.clamp(1, limit.saturating_sub(1).max(1));
        let steady = limit.saturating_sub(burst).max(1);
        let period = window / steady;
        let burst_nz = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst_nz);
        Limiter {
            name,
            limit,
            window,
            gcra: RateLimiter::direct(quota),
            paused_until: Mutex::new(None),
        }
    }

    /// A per-window limit with the default small burst (1/40 of the limit, at least 1).
    pub fn per_window(name: &'static str, limit: u32, window: Duration) -> Limiter {
        Limiter::rolling(name, limit, window, (limit / 40).max(1))
    }

    /// The budget's name, for logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The nominal limit and its window.
    pub fn limit(&self) -> (u32, Duration) {
        (self.limit, self.window)
    }

    /// Waits until one call may be made, then spends it.
    pub async fn acquire(&self) {
        loop {
            let until = self.paused_until();
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        self.gcra.until_ready().await;
    }

    /// Spends one call if the budget allows it now; false otherwise.
    pub fn try_acquire(&self) -> bool {
        let paused = self
            .paused_until()
            .is_some_and(|until| until > Instant::now());
        !paused && self.gcra.check().is_ok()
    }

    /// Stops every caller for `wait` (the API said so with a 429 or `Retry-After`).
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = match self.paused_until.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    fn paused_until(&self) -> Option<Instant> {
        match self.paused_until.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_limiter_allows_only_its_burst_at_once() {
        let limiter = Limiter::rolling("test", 190, Duration::from_secs(10), 5);
        let passed = (0..100).filter(|_| limiter.try_acquire()).count();
        assert_eq!(passed, 5);
    }

    #[test]
    fn per_window_burst_is_a_fortieth_of_the_limit() {
        let limiter = Limiter::per_window("test", 190, Duration::from_secs(10));
        let passed = (0..100).filter(|_| limiter.try_acquire()).count();
        assert_eq!(passed, 4);
        assert_eq!(limiter.limit(), (190, Duration::from_secs(10)));
    }

    #[test]
    fn a_paused_limiter_refuses_until_the_pause_ends() {
        let limiter = Limiter::rolling("test", 100, Duration::from_secs(10), 10);
        limiter.pause_for(Duration::from_secs(3600));
        assert!(!limiter.try_acquire());
    }
}
