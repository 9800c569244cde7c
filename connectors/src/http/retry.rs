//! Whether and when to try a failed call again: every retry decision of the crate, and the
//! one module that knows the `backoff` crate.
//!
//! `backoff` is unmaintained upstream, so it stays behind [`Attempts`], [`retry`] and
//! [`RetryPolicy`]: swapping it is a change to this file alone. It only computes the
//! jittered, exponentially growing intervals; the attempt count and the deadline are kept
//! here, on tokio's clock, so a test with a paused clock sees every wait.
//!
//! ## The rules, in order
//!
//! After a failed attempt ([`Attempts::after`]):
//!
//! 1. Credentials refused ([`ErrorClass::AuthExpired`]): renew them once per call, then
//!    try again at once. With nothing to renew them with (a static token), the refusal is
//!    [`ErrorClass::Fatal`]: an operator must act. Refused again after the renewal: give up.
//! 2. Permanent, fatal and superseded failures are returned at once.
//! 3. A call that must not be repeated blindly ([`Repeat::AtMostOnce`], a plain create)
//!    whose outcome is unknown (no answer, or a success answer that could not be read) is
//!    returned at once, saying so: the caller looks before creating again.
//! 4. A budget that now holds the next attempt back (Salesforce's daily-share gate closed
//!    on `REQUEST_LIMIT_EXCEEDED`) is waited out at the budget, not counted as an attempt.
//! 5. Otherwise wait `Retry-After` when the API gave one, else the backoff interval, unless
//!    the attempts are spent or the wait would end past the deadline (`max_elapsed` after
//!    the first attempt): a wait that long (HubSpot's daily allowance, until midnight) is
//!    the caller's to schedule, not a call's to sleep through.
//!
//! Records a batch answer refused with a passing error are re-sent by [`Resends`]: three
//! rounds in all, the waits growing from the policy's first interval.

use std::future::Future;
use std::time::Duration;

use backoff::ExponentialBackoff;
use backoff::backoff::Backoff;
use tokio::time::Instant;

use crate::error::{ApiError, Error, ErrorClass};

/// How hard to try before giving up.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff interval.
    pub initial_interval: Duration,
    /// The longest single backoff interval (a `Retry-After` may ask for longer).
    pub max_interval: Duration,
    /// Give up once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_interval: Duration::from_millis(200),
            max_interval: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    fn backoff(&self) -> ExponentialBackoff {
        ExponentialBackoff {
            initial_interval: self.initial_interval,
            current_interval: self.initial_interval,
            max_interval: self.max_interval,
            // The deadline is kept in `Attempts`, on tokio's clock.
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        }
    }
}

/// Whether a call may be sent again when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeat {
    /// Sending it twice does no harm (reads, updates, upserts): retry any passing failure.
    #[default]
    Safe,
    /// Sending it twice could duplicate records (plain creates): never repeat it once it
    /// may have been applied.
    AtMostOnce,
}

/// Whether the call's credentials can still be renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// A static token: nothing to renew.
    Unavailable,
    /// Not renewed yet in this call.
    Available,
    /// Renewed once already in this call.
    Spent,
}

/// What the call does after a failed attempt.
#[derive(Debug)]
pub enum Next {
    /// Renew the credentials, then try again at once.
    Renew,
    /// Try again at once: a budget holds the attempt until it may go.
    Now,
    /// Wait this long, then try again.
    Wait(Duration),
    /// Give up with this error.
    Stop(Error),
}

/// One call's attempts so far, and the schedule of its next ones.
#[derive(Debug)]
pub struct Attempts {
    policy: RetryPolicy,
    backoff: ExponentialBackoff,
    attempt: u32,
    started: Instant,
}

impl Attempts {
    /// The first attempt is about to start.
    pub fn new(policy: &RetryPolicy) -> Attempts {
        Attempts {
            policy: policy.clone(),
            backoff: policy.backoff(),
            attempt: 0,
            started: Instant::now(),
        }
    }

    /// Decides what follows the failure `err` (see the module docs for the rules).
    /// `held` is true when a budget now holds the next attempt back.
    pub fn after(&mut self, err: Error, repeat: Repeat, renewal: Renewal, held: bool) -> Next {
        match (err.class(), renewal) {
            (ErrorClass::AuthExpired, Renewal::Available) => return Next::Renew,
            (ErrorClass::AuthExpired, Renewal::Unavailable) => {
                // A token nobody can renew will not get better by retrying.
                return Next::Stop(Error::new(
                    ErrorClass::Fatal,
                    err.action(),
                    err.api().clone(),
                ));
            }
            (class, _) if !class.is_retryable() => return Next::Stop(err),
            _ => {}
        }
        if repeat == Repeat::AtMostOnce && outcome_unknown(&err) {
            return Next::Stop(not_repeated(err));
        }
        if held {
            return Next::Now;
        }
        self.attempt += 1;
        if self.attempt >= self.policy.max_attempts {
            return Next::Stop(err);
        }
        let Some(computed) = self.backoff.next_backoff() else {
            return Next::Stop(err);
        };
        // The API said how long: that is the answer, whatever our schedule says.
        let wait = err.retry_after().unwrap_or(computed);
        if self.started.elapsed() + wait > self.policy.max_elapsed {
            return Next::Stop(err);
        }
        tracing::debug!(
            attempt = self.attempt,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            class = ?err.class(),
            error = %err,
            "retrying"
        );
        Next::Wait(wait)
    }
}

/// Re-sending the records of a batch that its answer refused with a passing error (a row
/// lock): the batch call itself succeeded, so only those records go again, in a few rounds
/// with a growing wait between them.
#[derive(Debug, Clone)]
pub struct Resends {
    policy: RetryPolicy,
    round: u32,
}

impl Resends {
    /// Rounds in all, the first included.
    pub const ROUNDS: u32 = 3;

    /// The first round is about to be sent.
    pub fn new(policy: &RetryPolicy) -> Resends {
        Resends {
            policy: policy.clone(),
            round: 0,
        }
    }

    /// Moves to the next round; `None` when the rounds are spent, else the wait before it.
    pub fn next_round(&mut self) -> Option<Duration> {
        (self.round + 1 < Self::ROUNDS).then(|| {
            self.round += 1;
            self.policy.initial_interval * (1 << self.round)
        })
    }

    /// True when a record refused with `err` in this round goes into the next one.
    pub fn again(&self, err: &Error) -> bool {
        err.class() == ErrorClass::Transient && self.round + 1 < Self::ROUNDS
    }
}

/// True when the request may have been applied: no answer came, or a success answer that
/// could not be read.
fn outcome_unknown(err: &Error) -> bool {
    err.api().status.is_none_or(|s| (200..300).contains(&s))
}

/// The error of a call that was not repeated because it may have been applied.
fn not_repeated(err: Error) -> Error {
    let api = ApiError {
        message: format!(
            "{}; the request may or may not have been applied, so it was not repeated \
             (look the records up before creating them again)",
            err.api().message
        ),
        ..err.api().clone()
    };
    Error::new(ErrorClass::Transient, err.action(), api)
}

/// Runs `op` until it succeeds, fails for good, or the policy is spent, by the rules above
/// (without credentials to renew: an auth refusal is returned as it is).
///
/// `op` gets the attempt number (1 for the first).
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempts = Attempts::new(policy);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        match attempts.after(err, Repeat::Safe, Renewal::Spent, false) {
            Next::Wait(wait) => tokio::time::sleep(wait).await,
            Next::Now | Next::Renew => {}
            Next::Stop(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_interval: Duration::from_millis(1),
            max_interval: Duration::from_millis(2),
            max_elapsed: Duration::from_secs(60),
        }
    }

    fn err(class: ErrorClass) -> Error {
        Error::new(class, "test call", ApiError::message("boom"))
    }

    fn with_status(class: ErrorClass, status: Option<u16>) -> Error {
        let mut api = ApiError::message("boom");
        api.status = status;
        Error::new(class, "test call", api)
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = retry(&quick(), |attempt| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if attempt < 3 {
                    Err(err(ErrorClass::Transient))
                } else {
                    Ok(attempt)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(3));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_failures_are_returned_at_once() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = retry(&quick(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(err(ErrorClass::Permanent)) }
        })
        .await;
        assert_eq!(result.map_err(|e| e.class()), Err(ErrorClass::Permanent));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn auth_expired_is_left_to_the_connector() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = retry(&quick(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(err(ErrorClass::AuthExpired)) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_the_last_error_is_kept() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = retry(&quick(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(err(ErrorClass::RateLimited)) }
        })
        .await;
        assert_eq!(result.map_err(|e| e.class()), Err(ErrorClass::RateLimited));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_overrides_the_backoff_schedule() {
        let start = tokio::time::Instant::now();
        let result = retry(&quick(), |attempt| async move {
            if attempt == 1 {
                let mut api = ApiError::message("slow down");
                api.retry_after = Some(Duration::from_secs(42));
                Err(Error::new(ErrorClass::RateLimited, "test call", api))
            } else {
                Ok(())
            }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(start.elapsed().as_secs(), 42);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_deadline_is_left_to_the_caller() {
        let mut attempts = Attempts::new(&quick());
        let mut api = ApiError::message("daily allowance spent");
        api.retry_after = Some(Duration::from_secs(6 * 3600));
        let daily = Error::new(ErrorClass::RateLimited, "test call", api);
        assert!(matches!(
            attempts.after(daily, Repeat::Safe, Renewal::Available, false),
            Next::Stop(e) if e.class() == ErrorClass::RateLimited
        ));
    }

    #[test]
    fn credentials_are_renewed_once_and_a_static_token_refused_is_fatal() {
        let mut attempts = Attempts::new(&quick());
        let refused = || err(ErrorClass::AuthExpired);
        assert!(matches!(
            attempts.after(refused(), Repeat::Safe, Renewal::Available, false),
            Next::Renew
        ));
        assert!(matches!(
            attempts.after(refused(), Repeat::Safe, Renewal::Spent, false),
            Next::Stop(e) if e.class() == ErrorClass::AuthExpired
        ));
        assert!(matches!(
            attempts.after(refused(), Repeat::Safe, Renewal::Unavailable, false),
            Next::Stop(e) if e.class() == ErrorClass::Fatal
        ));
    }

    #[test]
    fn a_create_whose_outcome_is_unknown_is_not_repeated_but_one_refused_by_a_5xx_is() {
        let mut attempts = Attempts::new(&quick());
        let dropped = with_status(ErrorClass::Transient, None);
        match attempts.after(dropped, Repeat::AtMostOnce, Renewal::Spent, false) {
            Next::Stop(e) => {
                assert_eq!(e.class(), ErrorClass::Transient);
                assert!(e.api().message.contains("may or may not have been applied"));
            }
            other => panic!("{other:?}"),
        }
        let garbled = with_status(ErrorClass::Transient, Some(200));
        assert!(matches!(
            attempts.after(garbled, Repeat::AtMostOnce, Renewal::Spent, false),
            Next::Stop(_)
        ));
        let refused = with_status(ErrorClass::Transient, Some(503));
        assert!(matches!(
            attempts.after(refused, Repeat::AtMostOnce, Renewal::Spent, false),
            Next::Wait(_)
        ));
    }

    #[test]
    fn records_refused_in_passing_are_resent_in_three_rounds_with_growing_waits() {
        let mut resends = Resends::new(&quick());
        assert!(resends.again(&err(ErrorClass::Transient)));
        assert!(!resends.again(&err(ErrorClass::Permanent)));
        assert_eq!(resends.next_round(), Some(Duration::from_millis(2)));
        assert_eq!(resends.next_round(), Some(Duration::from_millis(4)));
        assert!(!resends.again(&err(ErrorClass::Transient)));
        assert_eq!(resends.next_round(), None);
    }

    #[test]
    fn a_failure_held_at_a_budget_is_not_counted_as_an_attempt() {
        let mut attempts = Attempts::new(&RetryPolicy::none());
        for _ in 0..10 {
            assert!(matches!(
                attempts.after(
                    err(ErrorClass::RateLimited),
                    Repeat::Safe,
                    Renewal::Spent,
                    true
                ),
                Next::Now
            ));
        }
        assert!(matches!(
            attempts.after(
                err(ErrorClass::RateLimited),
                Repeat::Safe,
                Renewal::Spent,
                false
            ),
            Next::Stop(_)
        ));
    }
}
