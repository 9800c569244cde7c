//! One limiter per API budget, shaped so truce stays *under* the API's own limit.
//!
//! APIs state short limits as "N requests in any window of W" (HubSpot: 190 per rolling
//! 10 s, search 5 per second), and they count a request when it *arrives*. The client only
//! knows when it sent a request and when the answer came back; the arrival lies somewhere
//! in between. Counting send times (the earlier design) lets latency compress the window:
//! a call delayed 300 ms on its way and the next one delayed 50 ms land 250 ms closer
//! together than they were sent, and the server sees more than N in one window.
//!
//! [`Limiter::rolling`] therefore keeps a slot for each of the last calls, held while the
//! call is in flight and freed W (plus a margin of W/200, at least 20 ms) after the call
//! was answered. A call arrives before its answer comes back, so the next call sent on
//! that slot arrives at least W after it, whatever the latency on either leg and however
//! long the call waited in this process before it went out (a worker busy with the
//! engine's work holds a request back, and then the calls after it go out at once). What
//! that costs is the answer's leg: the time from arrival to answer, over the window. On a
//! quick link that is a few milliseconds a window; with 50–300 ms of jitter on the way
//! in it is the same, and with the latency split between the legs about half a round
//! trip (1% of the rate at 200 ms). An earlier design freed the slot a window after the
//! answer *less the shortest recent round trip*, which is exact only when every call
//! waits the same before it goes out: after a stretch in which every request waited
//! 160 ms for a busy worker, the next ones went out at once and HubSpot counted 191 in
//! 9.89 s.
//!
//! At full speed that is the nominal rate, and after a pause (truce linking or merging) up
//! to N calls go at once, as the API allows. A token bucket (GCRA) cannot do both: with a
//! burst of N it lets 2N through in the first window, with a small burst it runs a few
//! percent under the rate and never catches up.
//!
//! The server's own count can be higher than truce's (another client of the same app
//! spends from the budget): [`Limiter::server_remaining`] takes the remaining count an
//! answer reports and, when it is below what truce's window leaves, occupies the
//! difference with slots that free evenly over the server's interval.
//!
//! Long budgets (a daily share) are a token bucket instead, [`Limiter::bucket`], on
//! governor: a burst to spend at once and a steady refill; keeping a day of send times
//! would be wasteful.
//!
//! A limiter can also be paused: when the API answers 429 with `Retry-After`, every caller
//! waits out the pause, not only the one that was refused.

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
    Window(Mutex<Window>),
    Bucket(RateLimiter<NotKeyed, InMemoryState, DefaultClock>),
}

/// The slots of a rolling window: calls in flight, calls answered less than the window
/// (and its margin) ago, and slots the server's headers said someone else holds.
#[derive(Debug, Default)]
struct Window {
    slots: Vec<Slot>,
    next_id: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u64,
    /// When the slot frees; `None` while the call is in flight.
    frees_at: Option<Instant>,
    /// Whose call the slot stands for: truce's own, or someone else's (an estimate).
    of: Of,
}

/// Whose calls a slot stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Of {
    /// A call truce sent.
    Truce,
    /// A call the server's remaining count says someone else made.
    Reported,
    /// A call another process may have made in the window before this one started (see
    /// [`Limiter::presume_spent`]).
    Presumed,
}

/// The slot a call holds while it is in flight. Dropping it (once the answer has come, or
/// the call was abandoned) starts the slot's window.
#[derive(Debug)]
#[must_use = "the slot is released when this is dropped: hold it until the answer has come"]
pub struct Held<'a> {
    slot: Option<(&'a Limiter, u64)>,
}

impl Held<'_> {
    /// Holds nothing (a bucket, or a call sent past the budgets).
    pub fn none() -> Held<'static> {
        Held { slot: None }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some((limiter, id)) = self.slot.take() {
            limiter.release(id, Instant::now());
        }
    }
}

impl Window {
    /// Holds `count` slots for calls truce did not send, freeing by `frees(i)` for the
    /// `i`-th of them (1-based).
    fn hold_unseen(&mut self, count: u32, of: Of, now: Instant, frees: impl Fn(u32) -> Duration) {
        for i in 1..=count {
            let id = self.next_id;
            self.next_id += 1;
            self.slots.push(Slot {
                id,
                frees_at: Some(now + frees(i)),
                of,
            });
        }
    }
}

impl Limiter {
    /// At most `limit` calls in any window of `window`, counted from their answers.
    pub fn rolling(name: &'static str, limit: u32, window: Duration) -> Limiter {
        let limit = limit.max(1);
        Limiter {
            name,
            limit,
            window,
            shape: Shape::Window(Mutex::new(Window::default())),
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

    /// How long a slot stays taken after its call was answered: the window and a margin
    /// of W/200, at least 20 ms, for the server's clock and where in its handling it
    /// counts a request.
    fn span(&self) -> Duration {
        self.span_of(self.window)
    }

    fn span_of(&self, window: Duration) -> Duration {
        window + (window / 200).max(Duration::from_millis(20))
    }

    /// Waits until one call may be made, then spends it; the slot is held until the
    /// returned [`Held`] is dropped.
    pub async fn acquire(&self) -> Held<'_> {
        loop {
            let until = self.paused_until();
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        match &self.shape {
            Shape::Window(window) => loop {
                match self.take_slot(window) {
                    Ok(id) => {
                        return Held {
                            slot: Some((self, id)),
                        };
                    }
                    Err(free_at) => tokio::time::sleep_until(free_at).await,
                }
            },
            Shape::Bucket(gcra) => {
                gcra.until_ready().await;
                Held::none()
            }
        }
    }

    /// Spends one call if the budget allows it now (`None` otherwise).
    pub fn try_acquire(&self) -> Option<Held<'_>> {
        let paused = self
            .paused_until()
            .is_some_and(|until| until > Instant::now());
        if paused {
            return None;
        }
        match &self.shape {
            Shape::Window(window) => self.take_slot(window).ok().map(|id| Held {
                slot: Some((self, id)),
            }),
            Shape::Bucket(gcra) => gcra.check().is_ok().then(Held::none),
        }
    }

    /// Takes a slot now if fewer than `limit` are taken; otherwise says when to look again:
    /// when the first answered slot frees, or shortly when every slot is in flight.
    fn take_slot(&self, window: &Mutex<Window>) -> Result<u64, Instant> {
        let now = Instant::now();
        let mut window = lock(window);
        window
            .slots
            .retain(|s| s.frees_at.is_none_or(|at| at > now));
        if window.slots.len() < self.limit as usize {
            let id = window.next_id;
            window.next_id += 1;
            window.slots.push(Slot {
                id,
                frees_at: None,
                of: Of::Truce,
            });
            return Ok(id);
        }
        let first = window.slots.iter().filter_map(|s| s.frees_at).min();
        // Every slot in flight: one of them is answered within about one call's time.
        Err(first.unwrap_or(now + (self.window / self.limit).max(Duration::from_millis(1))))
    }

    /// The call holding slot `id` was answered (or abandoned) `at`: its slot frees a
    /// window (and the margin) after that. The call arrived before its answer came, so
    /// the next call sent on this slot arrives a window after it, however long the call
    /// waited in this process before it went out.
    fn release(&self, id: u64, at: Instant) {
        if let Shape::Window(window) = &self.shape {
            let span = self.span();
            let mut window = lock(window);
            if let Some(slot) = window.slots.iter_mut().find(|s| s.id == id) {
                slot.frees_at = Some(at + span);
            }
        }
    }

    /// Slots taken now, in flight or answered within the window.
    pub fn taken(&self) -> usize {
        match &self.shape {
            Shape::Window(window) => {
                let now = Instant::now();
                let mut window = lock(window);
                window
                    .slots
                    .retain(|s| s.frees_at.is_none_or(|at| at > now));
                window.slots.len()
            }
            Shape::Bucket(_) => 0,
        }
    }

    /// The server said `remaining` calls are left in its window of `interval`. When that is
    /// fewer than this window leaves, someone else spends from the same budget (another
    /// process, the backfill before the daemon; or the server's limit is lower): the
    /// difference is held by slots that free a whole `interval` (and the margin) from now,
    /// because those calls may have arrived just now. The count replaces the last one (and
    /// what was presumed at start), so it follows the server both ways, and a client that
    /// shares the budget with a steady other gets what the other leaves. Returns how many
    /// slots stand for unseen calls now.
    pub fn server_remaining(&self, remaining: u32, interval: Duration) -> u32 {
        let Shape::Window(window) = &self.shape else {
            return 0;
        };
        let now = Instant::now();
        // The server counted its remaining a moment ago, when slots that have freed since
        // could still be counted: those are taken for this comparison.
        let then = now.checked_sub(self.window / 100).unwrap_or(now);
        let mut window = lock(window);
        window
            .slots
            .retain(|s| s.of == Of::Truce && s.frees_at.is_none_or(|at| at > then));
        let ours = (self.limit as usize).saturating_sub(window.slots.len());
        let unseen = ours.saturating_sub(remaining as usize) as u32;
        let span = self.span_of(interval);
        window.hold_unseen(unseen, Of::Reported, now, |_| span);
        unseen
    }

    /// This process cannot know what another one (the backfill before the daemon) spent
    /// from the same budget in the window before it started: the whole limit is presumed
    /// spent at the steady rate, freeing evenly over the window, so the first call waits
    /// one slot's time and the next ones go no faster than the steady rate. The first answer's remaining count replaces the
    /// presumption ([`Limiter::server_remaining`]); an answer without one drops it.
    pub fn presume_spent(&self) {
        if let Shape::Window(window) = &self.shape {
            let mut window = lock(window);
            let (limit, span) = (self.limit, self.span());
            window.hold_unseen(limit, Of::Presumed, Instant::now(), |i| span * i / limit);
        }
    }

    /// An answer said nothing about the server's count: what was presumed at start is
    /// dropped, as nothing will correct it.
    pub fn drop_presumed(&self) {
        if let Shape::Window(window) = &self.shape {
            lock(window).slots.retain(|s| s.of != Of::Presumed);
        }
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
    use std::sync::Arc;

    #[test]
    fn a_bucket_allows_only_its_burst_at_once() {
        let limiter = Limiter::bucket("test", 190, Duration::from_secs(10), 5);
        let passed = (0..100).filter(|_| limiter.try_acquire().is_some()).count();
        assert_eq!(passed, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rolling_window_allows_its_limit_at_once_then_one_call_per_slot_freed() {
        let limiter = Limiter::rolling("test", 190, Duration::from_secs(10));
        let held: Vec<_> = (0..300).filter_map(|_| limiter.try_acquire()).collect();
        assert_eq!(held.len(), 190);
        assert_eq!(limiter.limit(), (190, Duration::from_secs(10)));
        drop(held);
        tokio::time::advance(Duration::from_millis(10_049)).await;
        assert!(
            limiter.try_acquire().is_none(),
            "a slot frees the window and its margin (W/200) after the answer"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!((0..300).filter_map(|_| limiter.try_acquire()).count(), 190);
        // On a slow link: in flight, the slots stay taken however long the answers take.
        let limiter = Limiter::rolling("test", 190, Duration::from_secs(10));
        let held: Vec<_> = (0..300).filter_map(|_| limiter.try_acquire()).collect();
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(limiter.try_acquire().is_none());
        // Answered: the calls may have arrived just before their answers, so the slots
        // free a window (and the margin) after the answers.
        drop(held);
        tokio::time::advance(Duration::from_millis(10_049)).await;
        assert!(limiter.try_acquire().is_none());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!((0..300).filter_map(|_| limiter.try_acquire()).count(), 190);
    }

    /// A worker busy with other work holds requests back after they took their slots:
    /// for a while every call goes out 200 ms late, then the worker is free and calls go
    /// out at once. A slot that freed a window after its answer *less the shortest recent
    /// round trip* (200 ms then) let the quick calls arrive 9.85 s after the late ones;
    /// freed a window after the answer, no window holds more than the limit.
    #[tokio::test(start_paused = true)]
    async fn calls_held_back_in_this_process_then_sent_at_once_never_crowd_the_window() {
        // The first round of each of 190 workers goes out 200–249 ms late, the next two
        // at once.
        let delays: Vec<Vec<u64>> = (0..190u64).map(|w| vec![200 + w % 50, 0, 0]).collect();
        let times = arrivals(&delays).await;
        assert_eq!(times.len(), 570);
        assert_no_window_over(&times, 190);
    }

    /// Workers sending through one limiter of 190 per 10 s: worker `w` sends
    /// `delays[w].len()` calls one after another, each arriving `delays[w][i]` ms after it
    /// took its slot and answered 5 ms later. The arrival times, sorted.
    async fn arrivals(delays: &[Vec<u64>]) -> Vec<Instant> {
        let limiter = Arc::new(Limiter::rolling("test", 190, Duration::from_secs(10)));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for worker in delays {
            let (limiter, arrivals, worker) = (limiter.clone(), arrivals.clone(), worker.clone());
            tasks.push(tokio::spawn(async move {
                for delay in worker {
                    let held = limiter.acquire().await;
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    lock(&arrivals).push(Instant::now());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    drop(held);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut times = lock(&arrivals).clone();
        times.sort();
        times
    }

    /// Fails when more than `limit` of the sorted `arrivals` fall within 10 s of one.
    fn assert_no_window_over(arrivals: &[Instant], limit: usize) {
        for (i, at) in arrivals.iter().enumerate() {
            let within = arrivals[i..]
                .iter()
                .take_while(|t| **t < *at + Duration::from_secs(10))
                .count();
            assert!(
                within <= limit,
                "{within} arrivals within 10 s of arrival {i}"
            );
        }
    }

    /// Calls sent as fast as the limiter allows, each arriving at the server after a
    /// seeded random delay of 50–300 ms and answered 5 ms later: the arrivals, not only
    /// the sends, never exceed the limit in any window, and over 20,000 calls (about a
    /// hundred windows) the rate gives back less than 2% against a link without latency.
    #[tokio::test(start_paused = true)]
    async fn with_latency_jitter_no_window_of_arrivals_holds_more_than_the_limit() {
        async fn run(jitter: bool) -> (Vec<Instant>, Duration) {
            // Enough workers that the limiter, not the round trips, bounds the rate.
            let delays: Vec<Vec<u64>> = (0..128u64)
                .map(|worker| {
                    let mut seed = worker.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    (0..160)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            if jitter { 50 + seed % 251 } else { 0 }
                        })
                        .collect()
                })
                .collect();
            let start = Instant::now();
            let times = arrivals(&delays).await;
            (times, Instant::now() - start)
        }
        let (times, slow) = run(true).await;
        assert_no_window_over(&times, 190);
        let (_, quick) = run(false).await;
        let given_back = slow.as_secs_f64() / quick.as_secs_f64() - 1.0;
        assert!(
            given_back < 0.02,
            "20,480 calls took {slow:?} with 50–300 ms of jitter, {quick:?} without"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_counts_more_calls_than_truce_sent_holds_the_difference() {
        let limiter = Limiter::rolling("test", 100, Duration::from_secs(10));
        drop(
            (0..10)
                .filter_map(|_| limiter.try_acquire())
                .collect::<Vec<_>>(),
        );
        // truce sent 10; the server says 40 are left: 50 calls it counted are not truce's.
        assert_eq!(limiter.server_remaining(40, Duration::from_secs(10)), 50);
        assert_eq!(limiter.taken(), 60);
        // Said again, the count replaces the last one: nothing is added.
        assert_eq!(limiter.server_remaining(40, Duration::from_secs(10)), 50);
        assert_eq!(limiter.taken(), 60);
        assert_eq!((0..100).filter_map(|_| limiter.try_acquire()).count(), 40);
        // The unseen calls may have arrived just before the answer: they are held a whole
        // window (and the margin), as truce's own are.
        tokio::time::advance(Duration::from_millis(10_000)).await;
        assert!(limiter.try_acquire().is_none());
        tokio::time::advance(Duration::from_millis(50)).await;
        assert_eq!((0..200).filter_map(|_| limiter.try_acquire()).count(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_process_presumes_the_window_spent_until_the_first_answer_says_otherwise() {
        let limiter = Limiter::rolling("test", 100, Duration::from_secs(10));
        limiter.presume_spent();
        // Spent at the steady rate: one slot frees every 100.5 ms (the window and margin).
        assert!(limiter.try_acquire().is_none());
        tokio::time::advance(Duration::from_micros(100_500)).await;
        let first = limiter.try_acquire();
        assert!(first.is_some());
        assert!(limiter.try_acquire().is_none());
        // The server has 99 left: nobody else spent, and everything is free at once.
        assert_eq!(limiter.server_remaining(99, Duration::from_secs(10)), 0);
        assert_eq!((0..200).filter_map(|_| limiter.try_acquire()).count(), 99);

        // An answer without a count drops the presumption too.
        let quiet = Limiter::rolling("test", 100, Duration::from_secs(10));
        quiet.presume_spent();
        quiet.drop_presumed();
        assert_eq!((0..200).filter_map(|_| quiet.try_acquire()).count(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller_until_it_ends() {
        let limiter = Limiter::rolling("test", 100, Duration::from_secs(10));
        limiter.pause_for(Duration::from_secs(3600));
        assert!(limiter.try_acquire().is_none());
        let start = Instant::now();
        let _held = limiter.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3600));
    }
}
