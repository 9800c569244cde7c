//! `/healthz`: is the daemon still syncing?
//!
//! Healthy while the last cycle finished within three poll intervals of now (the daemon's
//! start counts as a finish, so a daemon whose first cycle is under way is not unhealthy
//! yet). Otherwise the answer is 503 with one line saying how long it has been and the last
//! error, so `kubectl describe pod` or a probe log tells the admin why without a shell.
//!
//! The reason may leave the machine (a remote prober reads it), so it never carries an
//! email: an API's error text can quote one, and it is masked here. Secrets never reach an
//! error's text in the first place (the connectors redact them).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many poll intervals may pass without a finished cycle before truce is unhealthy.
pub const INTERVALS: u32 = 3;

/// The longest reason `/healthz` returns, so an API's long error stays one readable line.
const MAX_REASON: usize = 400;

/// What the daemon last reported about its cycles.
#[derive(Debug)]
pub struct Health {
    interval: Duration,
    started: Instant,
    last: Mutex<Last>,
}

#[derive(Debug, Default, Clone)]
struct Last {
    done: Option<Instant>,
    error: Option<String>,
}

impl Health {
    /// Health of a daemon polling every `interval`, started now.
    pub fn new(interval: Duration) -> Health {
        Health {
            interval,
            started: Instant::now(),
            last: Mutex::new(Last::default()),
        }
    }

    /// A cycle finished.
    pub fn done(&self, at: Instant) {
        let mut last = self.lock();
        last.done = Some(at);
        last.error = None;
    }

    /// A cycle failed with `error` (its whole cause chain on one line).
    pub fn failed(&self, error: &str) {
        self.lock().error = Some(error.to_string());
    }

    /// `Ok(reason)` while healthy, `Err(reason)` otherwise.
    pub fn verdict(&self, now: Instant) -> Result<String, String> {
        let last = self.lock().clone();
        judge(self.interval, self.started, &last, now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Last> {
        // A panic elsewhere while holding this lock leaves plain data behind: keep serving.
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn judge(
    interval: Duration,
    started: Instant,
    last: &Last,
    now: Instant,
) -> Result<String, String> {
    let window = interval * INTERVALS;
    let since = last.done.unwrap_or(started);
    let age = now.saturating_duration_since(since);
    if age <= window {
        return Ok(match last.done {
            Some(_) => format!("ok: the last cycle finished {} ago", whole_seconds(age)),
            None => format!(
                "ok: started {} ago; the first cycle is under way",
                whole_seconds(age)
            ),
        });
    }
    let mut reason = format!(
        "no cycle finished in the last {} ({INTERVALS} poll intervals)",
        seconds(window)
    );
    match last.done {
        Some(_) => reason.push_str(&format!("; the last finished {} ago", whole_seconds(age))),
        None => reason.push_str(&format!(
            "; none since the start {} ago",
            whole_seconds(age)
        )),
    }
    match &last.error {
        Some(error) => reason.push_str(&format!("; last error: {error}")),
        None => reason.push_str("; no cycle failed meanwhile, so one is slow or stuck"),
    }
    Err(one_line(&mask_emails(&reason)))
}

/// `45s`, `1.5s`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn whole_seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// The text on one line, at most [`MAX_REASON`] characters.
fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(MAX_REASON) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// Replaces every email address in `text` with `<email>`.
pub fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let part = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '@' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let local = out.chars().rev().take_while(|c| part(*c)).count();
        let mut domain = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '.' || **c == '-')
            .count();
        // A sentence's full stop after an address is not part of it.
        while domain > 0 && matches!(chars[i + domain], '.' | '-') {
            domain -= 1;
        }
        if local == 0 || domain == 0 {
            out.push('@');
            i += 1;
            continue;
        }
        for _ in 0..local {
            out.pop();
        }
        out.push_str("<email>");
        i += 1 + domain;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(15);

    fn verdict(
        done_ago: Option<u64>,
        started_ago: u64,
        error: Option<&str>,
    ) -> Result<String, String> {
        let now = Instant::now() + Duration::from_secs(10_000);
        let last = Last {
            done: done_ago.map(|s| now - Duration::from_secs(s)),
            error: error.map(String::from),
        };
        judge(INTERVAL, now - Duration::from_secs(started_ago), &last, now)
    }

    #[test]
    fn healthy_while_the_last_cycle_finished_within_three_intervals() {
        assert_eq!(
            verdict(Some(2), 600, None),
            Ok("ok: the last cycle finished 2s ago".into())
        );
        assert!(verdict(Some(45), 600, None).is_ok());
        assert!(verdict(Some(46), 600, None).is_err());
    }

    #[test]
    fn a_fresh_daemon_is_healthy_until_its_first_cycle_is_three_intervals_late() {
        assert_eq!(
            verdict(None, 10, None),
            Ok("ok: started 10s ago; the first cycle is under way".into())
        );
        assert_eq!(
            verdict(None, 50, None),
            Err(
                "no cycle finished in the last 45s (3 poll intervals); none since the start \
                 50s ago; no cycle failed meanwhile, so one is slow or stuck"
                    .into()
            )
        );
    }

    #[test]
    fn unhealthy_says_how_long_and_the_last_error_on_one_line_without_emails() {
        let reason = verdict(
            Some(73),
            600,
            Some("HubSpot: 500 for ann.lee+x@example.co.uk\ncaused by: connection refused"),
        )
        .unwrap_err();
        assert_eq!(
            reason,
            "no cycle finished in the last 45s (3 poll intervals); the last finished 73s ago; \
             last error: HubSpot: 500 for <email> caused by: connection refused"
        );
    }

    #[test]
    fn a_finished_cycle_clears_the_last_error() {
        let health = Health::new(Duration::from_secs(1));
        health.failed("down");
        health.done(Instant::now());
        let later = Instant::now() + Duration::from_secs(5);
        assert!(!health.verdict(later).unwrap_err().contains("down"));
    }

    #[test]
    fn emails_are_masked_and_other_at_signs_kept() {
        let cases = [
            ("a@b.c", "<email>"),
            (
                "<Ann@Example.com>, bob_o.neil@x-y.org.",
                "<<email>>, <email>.",
            ),
            ("@home and foo@ and @", "@home and foo@ and @"),
            ("no email here", "no email here"),
        ];
        for (text, masked) in cases {
            assert_eq!(mask_emails(text), masked, "{text}");
        }
    }

    #[test]
    fn long_reasons_are_cut() {
        let long = "x".repeat(1000);
        assert_eq!(one_line(&long).chars().count(), MAX_REASON + 1);
    }
}
