//! One limiter per API budget, shaped so truce stays *under* the API's own limit.
//!
//! APIs state short limits as "N requests in any window of W" (HubSpot: 190 per rolling
//! 10 s, search 5 per second). [`Limiter::rolling`] enforces exactly that: it keeps the send
//! times of the last N calls and lets a call go when fewer than N were sent in the last W
//! (plus a margin of W/100, so calls that arrive a little later than they were sent never
//! crowd into one of the server's windows). At full speed that is the nominal rate, and
//! after a pause (truce linking or merging) up to N calls go at once, as the API allows.
//! A token bucket (GCRA) cannot do both: with a burst of N it lets 2N through in the first
//! window, with a small burst it runs a few percent under the rate and never catches up.
//!
//! Long budgets (a daily share) are a token bucket instead, [`Limiter::bucket`], on
//! governor: a burst to spend at once and a steady refill; keeping a day of send times
//! would be wasteful.
//!
//! A limiter can also be paused: when the API answers 429 with `Retry-After`, every caller
//! waits out the pause, not only the one that was refused.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use crate::lock;
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
    shape: Shape,
    paused_until: Mutex<Option<Instant>>,
}

#[derive(Debug)]
enum Shape {
    /// The send times of the last `limit` calls, oldest first.
    Window(Mutex<VecDeque<Instant>>),
    Bucket(RateLimiter<NotKeyed, InMemoryState, DefaultClock>),
}

impl Limiter {
    /// At most `limit` calls in any window of `window`.
    pub fn rolling(name: &'static str, limit: u32, window: Duration) -> Limiter {
        let limit = limit.max(1);
        Limiter {
            name,
            limit,
            window,
            shape: Shape::Window(Mutex::new(VecDeque::with_capacity(limit as usize))),
            paused_until: Mutex::new(None),
        }
    }

    /// `limit` calls per `window` as a token bucket: up to `burst` at once, the rest
    /// refilled evenly over the window.
    pub fn bucket(name: &'static str, limit: u32, window: Duration, burst: u32) -> Limiter {
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
            shape: Shape::Bucket(RateLimiter::direct(quota)),
            paused_until: Mutex::new(None),
        }
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
        match &self.shape {
            Shape::Window(sent) => loop {
                match self.take_slot(sent) {
                    Ok(()) => return,
                    Err(free_at) => tokio::time::sleep_until(free_at).await,
                }
            },
            Shape::Bucket(gcra) => gcra.until_ready().await,
        }
    }

    /// Spends one call if the budget allows it now; false otherwise.
    pub fn try_acquire(&self) -> bool {
        let paused = self
            .paused_until()
            .is_some_and(|until| until > Instant::now());
        !paused
            && match &self.shape {
                Shape::Window(sent) => self.take_slot(sent).is_ok(),
                Shape::Bucket(gcra) => gcra.check().is_ok(),
            }
    }

    /// Records a call now if fewer than `limit` were sent in the window (with its margin);
    /// otherwise says when the oldest of them leaves it.
    fn take_slot(&self, sent: &Mutex<VecDeque<Instant>>) -> Result<(), Instant> {
        let span = self.window + self.window / 100;
        let now = Instant::now();
        let mut sent = lock(sent);
        while sent.front().is_some_and(|at| *at + span <= now) {
            sent.pop_front();
        }
        if sent.len() < self.limit as usize {
            sent.push_back(now);
            return Ok(());
        }
        Err(sent.front().map_or(now, |oldest| *oldest + span))
    }

    /// Stops every caller for `wait` (the API said so with a 429 or `Retry-After`).
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = lock(&self.paused_until);
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    fn paused_until(&self) -> Option<Instant> {
        *lock(&self.paused_until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_only_its_burst_at_once() {
        let limiter = Limiter::bucket("test", 190, Duration::from_secs(10), 5);
        let passed = (0..100).filter(|_| limiter.try_acquire()).count();
        assert_eq!(passed, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rolling_window_allows_its_limit_at_once_then_one_call_per_call_leaving_it() {
        let limiter = Limiter::rolling("test", 190, Duration::from_secs(10));
        assert_eq!((0..300).filter(|_| limiter.try_acquire()).count(), 190);
        assert_eq!(limiter.limit(), (190, Duration::from_secs(10)));
        tokio::time::advance(Duration::from_millis(10_099)).await;
        assert!(
            !limiter.try_acquire(),
            "the margin is a hundredth of the window"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!((0..300).filter(|_| limiter.try_acquire()).count(), 190);
    }

    #[tokio::test(start_paused = true)]
    async fn at_full_speed_no_window_holds_more_than_the_limit_and_the_rate_is_the_nominal_one() {
        let limiter = Limiter::rolling("test", 190, Duration::from_secs(10));
        let start = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..2_000 {
            limiter.acquire().await;
            sent.push(Instant::now());
        }
        for (i, at) in sent.iter().enumerate() {
            let in_window = sent[i..]
                .iter()
                .take_while(|t| **t < *at + Duration::from_secs(10))
                .count();
            assert!(
                in_window <= 190,
                "{in_window} calls within 10 s of call {i}"
            );
        }
        // 2,000 calls at 190 per 10.1 s: the first 190 at once, then 10 more windows.
        let took = sent[1_999] - start;
        assert_eq!(took, Duration::from_millis(101_000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller_until_it_ends() {
        let limiter = Limiter::rolling("test", 100, Duration::from_secs(10));
        limiter.pause_for(Duration::from_secs(3600));
        assert!(!limiter.try_acquire());
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3600));
    }
}
