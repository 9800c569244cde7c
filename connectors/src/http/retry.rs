//! Trying a call again: the one module that knows the `backoff` crate.
//!
//! `backoff` is unmaintained upstream, so it stays behind [`retry`] and [`RetryPolicy`]:
//! swapping it is a change to this file alone. The loop retries only what the error's class
//! allows ([`ErrorClass::is_retryable`]); it waits for `Retry-After` when the API gave one,
//! otherwise for an exponentially growing, jittered interval; and it gives up after a bounded
//! number of attempts or total time, returning the last error unchanged.

use std::future::Future;
use std::time::Duration;

use backoff::ExponentialBackoff;
use backoff::backoff::Backoff;

use crate::error::{Error, ErrorClass};

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
            max_elapsed_time: Some(self.max_elapsed),
            ..ExponentialBackoff::default()
        }
    }
}

/// Runs `op` until it succeeds, fails for good, or the policy is spent.
///
/// `op` gets the attempt number (1 for the first). Errors whose class is not retryable
/// (permanent, auth-expired, fatal) are returned at once: renewing credentials is the
/// connector's decision, made once, not the loop's.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut backoff = policy.backoff();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if !err.class().is_retryable() || attempt >= policy.max_attempts {
            return Err(err);
        }
        let Some(wait) = next_wait(&err, &mut backoff) else {
            return Err(err);
        };
        tracing::debug!(
            attempt,
            wait_ms = wait.as_millis() as u64,
            class = ?err.class(),
            error = %err,
            "retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

/// The wait before the next attempt, or `None` when the policy's time is spent.
fn next_wait(err: &Error, backoff: &mut ExponentialBackoff) -> Option<Duration> {
    let computed = backoff.next_backoff()?;
    match (err.class(), err.retry_after()) {
        // The API said how long: that is the answer, whatever our schedule says.
        (_, Some(asked)) => Some(asked),
        (ErrorClass::RateLimited | ErrorClass::Transient, None) => Some(computed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
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
}
