//! Catching up: reading a large change set by the list instead of paging search.
//!
//! Search reads at most 200 records a call at 5 calls a second, and a page that ends
//! inside a busy millisecond (a batch write stamps 100 records in one) yields about 100.
//! When a poll's first search reports (`total`) that at least [`CATCH_UP_MIN`] records
//! changed behind its position (after a backfill, a bulk import, a long stop), the stream
//! weighs the other road: the list endpoint reads *every* record, 100 a call, at the 10 s
//! burst limit (19 calls a second), with no 10,000 cap. It has no modified-since filter, so
//! it only pays when the changed set is a large share of the object: one more search
//! (no filter, newest first, one row) counts the object's records and gives the newest
//! stamp, and the list is taken when it is faster than paging search and costs at most
//! twice its calls. Each road's pages follow one another, so a call costs what its limit
//! allows or the recent round trip, whichever is longer (with 50–300 ms of latency, 175
//! searches beat 300 list pages) (calls come out of a daily allowance, of which a one-off catch-up is a
//! small share; the minutes are what people editing meanwhile wait). The choice, both
//! costs and the reason are logged at DEBUG (`HubSpot catch-up road`).
//!
//! A listed record is read as it is *now*, so every record whose last change is older than
//! the newest stamp seen before the list began (the *floor*) has been read at its latest
//! version; the list's pages keep the stream's position where it was, and once the list is
//! read the position becomes the floor (a time alone) and the poll goes on with search
//! from there: records changed while the list ran. Later polls never look back past the
//! floor, so the backfill's writes are not re-read through the look-back either. Echoes of
//! truce's own writes among the listed records are recognised against the snapshots, as
//! with search. The list road assumes what HubSpot's list endpoint gives: records as they
//! are stored, without the search index's lag; the floor lives in memory, so after a
//! restart the first poll weighs the roads again. Batch read by id is not a road of its
//! own: the ids truce wrote are not the only ones that changed (people edit meanwhile), so
//! reading them would still leave the search to page through every change.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::HubSpotConnector;
use super::objects::Configured;
use super::pull::{LIST_PAGE, SEARCH_PAGE, StreamPage};
use super::records::{key, read_all};
use super::wire::{SearchRequest, Sort, SortSpec};
use crate::contract::Cursor;
use crate::error::Error;
use crate::lock;
use crate::lookback::PollFrom;

/// Changed records (a first search's `total`) from which a poll weighs the list road: ten
/// full search pages, two seconds of searching.
pub const CATCH_UP_MIN: u64 = 10 * SEARCH_PAGE as u64;

/// A stream being read by the list road within one poll.
#[derive(Debug, Clone)]
pub(super) struct Listing {
    /// The position handed out while the list is read: the poll's start, unchanged.
    pub(super) holding: Cursor,
    /// The list's `after` token for the next page (`None` before the first).
    pub(super) after: Option<String>,
    /// The newest stamp seen before the list began: every older change is in the list.
    pub(super) floor: i64,
}

/// What the list road knows per stream: lists in progress, and floors below which
/// everything has been listed.
#[derive(Debug, Default)]
pub(super) struct CatchUps {
    listing: Mutex<HashMap<String, Listing>>,
    floors: Mutex<HashMap<String, i64>>,
}

/// The two roads of a catch-up, as weighed.
#[derive(Debug, Clone, Copy)]
struct Roads {
    changed: u64,
    records: u64,
    list_calls: u64,
    search_calls: u64,
    list_s: f64,
    search_s: f64,
    round_trip: Duration,
}

impl Roads {
    /// Both roads' calls, and their times: each call costs what the limit allows it
    /// (`rates`: the burst's and search's `(calls, window)`), or its round trip if that is
    /// longer, since each road's pages follow one another.
    fn weigh(
        changed: u64,
        records: u64,
        kept: usize,
        rates: ((u32, Duration), (u32, Duration)),
        round_trip: Duration,
    ) -> Roads {
        let ((burst, burst_window), (searches, search_window)) = rates;
        let each = |calls: u32, window: Duration| {
            (window.as_secs_f64() / f64::from(calls.max(1))).max(round_trip.as_secs_f64())
        };
        let per_page = kept.clamp(SEARCH_PAGE / 2, SEARCH_PAGE) as u64;
        let list_calls = records.div_ceil(LIST_PAGE as u64);
        let search_calls = changed.div_ceil(per_page);
        Roads {
            changed,
            records,
            list_calls,
            search_calls,
            list_s: list_calls as f64 * each(burst, burst_window),
            search_s: search_calls as f64 * each(searches, search_window),
            round_trip,
        }
    }

    /// Faster, and at most twice the calls (see the module docs).
    fn list(&self) -> bool {
        self.list_s < self.search_s && self.list_calls <= 2 * self.search_calls
    }

    fn reason(&self) -> String {
        let (list, search) = (self.list_calls, self.search_calls);
        let costs = format!(
            "{} changed of {} records: list {list} calls ({:.1} s), search about {search} calls ({:.1} s), at a round trip of {} ms",
            self.changed,
            self.records,
            self.list_s,
            self.search_s,
            self.round_trip.as_millis()
        );
        if self.list() {
            format!("{costs}; the list is faster")
        } else if self.list_s >= self.search_s {
            format!("{costs}; searching is no slower")
        } else {
            format!("{costs}; the list costs more than twice the calls")
        }
    }
}

impl HubSpotConnector {
    /// Weighs listing every record of `object` against paging search through `changed`
    /// records (a first page kept `kept`); logs the choice. Returns the floor when the
    /// list is taken.
    pub(super) async fn weigh_roads(
        &self,
        object: &Configured,
        changed: u64,
        kept: usize,
    ) -> Result<Option<i64>, Error> {
        let newest_first = SortSpec::Object(Sort {
            property_name: object.spec.modified.to_string(),
            direction: Some("DESCENDING".to_string()),
        });
        let request = SearchRequest {
            filter_groups: Vec::new(),
            sorts: vec![newest_first],
            properties: vec![object.spec.modified.to_string()],
            limit: Some(1),
            after: None,
            query: None,
        };
        let action = format!("HubSpot count of {}", object.spec.object);
        let answer = self.send_search(object, &request, action).await?;
        let (newest, _) = read_all(object, answer.results);
        let round_trip = self.pipeline.round_trip().unwrap_or_default();
        let roads = Roads::weigh(
            changed,
            answer.total,
            kept,
            self.pipeline.vendor().limits().rates(),
            round_trip,
        );
        let floor = newest
            .first()
            .map(|r| r.modified_at)
            .filter(|_| roads.list());
        tracing::debug!(
            stream = object.stream(),
            road = if floor.is_some() { "list" } else { "search" },
            changed,
            records = roads.records,
            list_calls = roads.list_calls,
            search_calls = roads.search_calls,
            list_s = roads.list_s,
            search_s = roads.search_s,
            round_trip_ms = roads.round_trip.as_millis(),
            reason = %roads.reason(),
            "HubSpot catch-up road"
        );
        Ok(floor)
    }

    /// One page of the list road; where the stream stands after it: where the poll began
    /// while pages remain, the floor (a time alone) once the list is read, from which the
    /// poll goes on by search.
    pub(super) async fn list_road(
        &self,
        object: &Configured,
        mut listing: Listing,
    ) -> Result<(StreamPage, Option<Cursor>), Error> {
        let stream = object.stream();
        let page = self
            .list_page(object, listing.after.as_deref(), false)
            .await?;
        let (mut records, rejected) = read_all(object, page.results);
        let start = &listing.holding;
        let by_time = start.id.parse::<u64>().is_err();
        // Records stamped at or after the floor are the search's to read after the list:
        // each version is delivered once.
        let floor = listing.floor;
        records.retain(|r| {
            let after_start = if by_time {
                r.modified_at >= start.modified_at
            } else {
                key(&r.cursor()) > key(start)
            };
            after_start && r.modified_at < floor
        });
        records.sort_by_key(|r| key(&r.cursor()));
        self.attach(object, &mut records).await?;
        let next = page.paging.and_then(|p| p.next).map(|n| n.after);
        let reached = match next {
            Some(after) => {
                listing.after = Some(after);
                let holding = listing.holding.clone();
                self.catch_up.hold(stream, listing);
                holding
            }
            None => {
                self.catch_up.listed(stream, listing.floor);
                time_cursor(listing.floor).max(listing.holding)
            }
        };
        let read = StreamPage {
            records,
            rejected,
            done: false,
            total: 0,
        };
        Ok((read, Some(reached)))
    }
}

/// A position that is a time alone: every record stamped at or after `ms`.
pub(super) fn time_cursor(ms: i64) -> Cursor {
    Cursor {
        modified_at: ms,
        id: String::new(),
    }
}

impl CatchUps {
    /// The list in progress for `stream` when the poll continues from where it held it.
    pub(super) fn listing_at(&self, stream: &str, position: &Cursor) -> Option<Listing> {
        let listing = lock(&self.listing);
        listing
            .get(stream)
            .filter(|l| &l.holding == position)
            .cloned()
    }

    /// A new poll of `stream` begins: a list that did not finish is dropped.
    pub(super) fn forget(&self, stream: &str) {
        lock(&self.listing).remove(stream);
    }

    fn hold(&self, stream: &str, listing: Listing) {
        lock(&self.listing).insert(stream.to_string(), listing);
    }

    /// The list of `stream` is read: nothing stamped before `floor` is left to read.
    fn listed(&self, stream: &str, floor: i64) {
        lock(&self.listing).remove(stream);
        let mut floors = lock(&self.floors);
        let at = floors.entry(stream.to_string()).or_insert(floor);
        *at = (*at).max(floor);
    }

    /// `from`, but never before the stream's floor.
    pub(super) fn above_floor(&self, stream: &str, from: PollFrom) -> PollFrom {
        let floor = lock(&self.floors).get(stream).copied();
        match (from, floor) {
            (PollFrom::Time(t), Some(floor)) if floor > t => PollFrom::Time(floor),
            (from, _) => from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HubSpot Professional: 190 calls per 10 s, 5 searches a second.
    const PROFESSIONAL: ((u32, Duration), (u32, Duration)) =
        ((190, Duration::from_secs(10)), (5, Duration::from_secs(1)));

    #[test]
    fn without_latency_the_list_wins_a_whole_portal_of_changes() {
        let roads = Roads::weigh(
            150_000,
            150_000,
            100,
            PROFESSIONAL,
            Duration::from_millis(5),
        );
        assert_eq!((roads.list_calls, roads.search_calls), (1_500, 1_500));
        assert!(roads.list(), "{}", roads.reason());
        assert!((roads.list_s - 78.9).abs() < 0.1, "{}", roads.reason());
    }

    #[test]
    fn a_long_round_trip_slows_the_list_pages_more_than_the_searches() {
        // 30,000 changed of 30,000 at about 175 ms a call (50-300 ms of latency): 300
        // list pages take 52.5 s one after another, 172 searches 34.4 s.
        let slow = Duration::from_millis(175);
        let roads = Roads::weigh(30_000, 30_000, 175, PROFESSIONAL, slow);
        assert_eq!((roads.list_calls, roads.search_calls), (300, 172));
        assert!(!roads.list(), "{}", roads.reason());
        assert!(roads.reason().contains("at a round trip of 175 ms"));
        // The same change set without latency: the list's limit is 19 a second.
        let fast = Roads::weigh(30_000, 30_000, 175, PROFESSIONAL, Duration::ZERO);
        assert!(fast.list(), "{}", fast.reason());
    }
}
