//! Where an incremental poll starts: the look-back window, and what narrows it.
//!
//! Records can become visible with a stamp older than the newest one already read (HubSpot's
//! search index lags writes; a long Salesforce transaction commits after later ones), so the
//! first page of a poll re-reads a look-back window before the cursor. A record stamped `t`
//! is visible by `t + lookback`, so everything stamped before *the start of the last
//! complete poll* minus the look-back has been read already: the window never starts before
//! that point, and once that point has passed the cursor the poll simply continues after
//! it. Without this, an idle poll would re-read the last burst (a backfill's writes, say) on
//! every poll for as long as nothing newer arrived.
//!
//! Poll starts are read from the local clock; a skew between it and the remote system's
//! stamps eats into the look-back.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::contract::Cursor;
use crate::lock;

/// Milliseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Where the first page of a poll starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollFrom {
    /// Strictly after this position.
    After(Cursor),
    /// Every record stamped at or after this time (ms).
    Time(i64),
}

/// The start of a poll over a stream at `cursor`: the look-back before the cursor, cut at
/// the look-back before the last complete poll began (`settled`).
pub fn poll_from(cursor: Option<&Cursor>, lookback_ms: i64, settled: Option<i64>) -> PollFrom {
    let Some(cursor) = cursor else {
        return PollFrom::Time(0);
    };
    let seen = settled.map_or(i64::MIN, |start| start.saturating_sub(lookback_ms));
    let from = cursor.modified_at.saturating_sub(lookback_ms).max(seen);
    if lookback_ms == 0 || from >= cursor.modified_at {
        PollFrom::After(cursor.clone())
    } else {
        PollFrom::Time(from.max(0))
    }
}

/// When a connector's polls started: the one in progress and the last complete one.
pub struct PollTimes {
    clock: Mutex<Clock>,
    starts: Mutex<(Option<i64>, Option<i64>)>,
}

impl fmt::Debug for PollTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollTimes")
            .field("starts", &self.starts)
            .finish_non_exhaustive()
    }
}

impl Default for PollTimes {
    fn default() -> PollTimes {
        PollTimes::new(Arc::new(|| chrono::Utc::now().timestamp_millis()))
    }
}

impl PollTimes {
    /// Poll times read from `clock`.
    pub fn new(clock: Clock) -> PollTimes {
        PollTimes {
            clock: Mutex::new(clock),
            starts: Mutex::new((None, None)),
        }
    }

    /// Reads poll times from `clock` from now on.
    pub fn set_clock(&self, clock: Clock) {
        *lock(&self.clock) = clock;
    }

    /// Notes that a poll begins now; returns when the last complete poll began.
    pub fn begin(&self) -> Option<i64> {
        let now = (lock(&self.clock))();
        let mut starts = lock(&self.starts);
        starts.0 = Some(now);
        starts.1
    }

    /// The poll in progress read to the end: its start is now the settled point.
    pub fn finish(&self) {
        let mut starts = lock(&self.starts);
        if let Some(start) = starts.0.take() {
            starts.1 = Some(start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Cursor {
        Cursor {
            modified_at: ms,
            id: "42".into(),
        }
    }

    #[test]
    fn a_poll_rereads_the_look_back_before_the_cursor_until_a_later_poll_has_settled_it() {
        let cursor = at(100_000);
        // First poll ever, or no poll completed yet: the whole look-back before the cursor.
        assert_eq!(poll_from(None, 60_000, None), PollFrom::Time(0));
        assert_eq!(
            poll_from(Some(&cursor), 60_000, None),
            PollFrom::Time(40_000)
        );
        // The last complete poll began 15 s after the cursor: 15 s of it is settled.
        assert_eq!(
            poll_from(Some(&cursor), 60_000, Some(115_000)),
            PollFrom::Time(55_000)
        );
        // It began a full look-back after the cursor: nothing at or before it can be new.
        assert_eq!(
            poll_from(Some(&cursor), 60_000, Some(160_000)),
            PollFrom::After(cursor.clone())
        );
        // No look-back configured: always strictly after the cursor.
        assert_eq!(
            poll_from(Some(&cursor), 0, None),
            PollFrom::After(cursor.clone())
        );
        // A poll that started before the cursor's stamp (clock skew) never narrows it.
        assert_eq!(
            poll_from(Some(&cursor), 60_000, Some(90_000)),
            PollFrom::Time(40_000)
        );
    }

    #[test]
    fn only_a_finished_poll_settles_anything() {
        let now = Arc::new(std::sync::atomic::AtomicI64::new(1_000));
        let times = PollTimes::new({
            let now = now.clone();
            Arc::new(move || now.load(std::sync::atomic::Ordering::SeqCst))
        });
        assert_eq!(times.begin(), None);
        now.store(2_000, std::sync::atomic::Ordering::SeqCst);
        // The first poll failed; the second begins without a settled point.
        assert_eq!(times.begin(), None);
        times.finish();
        now.store(3_000, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(times.begin(), Some(2_000));
    }
}
