//! Reading HubSpot: incremental pulls (search), the archive sweep, full scans (list) and
//! reads by id or email (batch read). A poll that finds a large change set behind its
//! position may read it by the list instead: `catch_up.rs`.
//!
//! ## Pulling changes, and what it costs
//!
//! Each object's stream (`contacts`) is a keyset over `(lastmodifieddate, hs_object_id)`
//! (`hs_lastmodifieddate` for companies and deals).
//! Every page is one search, sorted ascending on both, for the records strictly after the
//! position: `(lastmodifieddate = T AND hs_object_id > id) OR lastmodifieddate > T`, 200
//! per page. Because every page restarts the query from the last timestamp and id seen, a
//! query never gets near HubSpot's 10,000-result cap, and a burst of any size — even one
//! where thousands of records share one millisecond — is read completely, each record once.
//!
//! The first page of a poll re-reads a look-back window, in which records can become
//! visible late (search index lag); [`crate::lookback`] cuts it where the last complete poll
//! settled it, so an idle poll costs one search once the look-back has passed.
//!
//! HubSpot documents a single sort rule per search, so the connector does not rely on the
//! id tie-break being honoured: a page ends on a complete millisecond, and a millisecond
//! bigger than a page is read with a search sorted on `hs_object_id` alone (see
//! `object_page`). If the tie-break is honoured, that costs nothing but re-reading the
//! last millisecond of each full page; if it is not, one extra search per such page.
//!
//! Archived records never appear in search, and the archived list cannot be filtered by
//! time, so they are found by a *sweep*: the list endpoint with `archived=true`, read to the
//! end at most once per sweep interval (default 5 minutes, see
//! [`HubSpotConnector::with_archive_sweep_interval`]), on the last page of a poll. Archives
//! newer than the `contacts.archived` cursor (minus the look-back) are reported as deleted
//! records. Cost: an idle poll is one search call; a sweep adds ⌈archived / 100⌉ list calls
//! per interval.
//!
//! Every object has its own streams (`contacts`, `companies`, `deals`, each with its
//! `.archived` stream), keyed on its own last-modified property (`lastmodifieddate` on
//! contacts, `hs_lastmodifieddate` on companies and deals; `objects.rs`). The configured
//! association fields (`@company`, `@contacts`) are read beside every page of records,
//! pulled, scanned or fetched (`associations.rs`): one more call per page and association.
//! A scan of an object with association fields gathers ten list pages (1,000 records, one
//! batch read's worth) into one page, so its reads cost one call per 1,000 records.
//!
//! Merges need no stream of their own: the surviving record is new (or modified), so it is
//! pulled, and its `hs_merged_object_ids` become [`Record::merged_ids`].
//!
//! Rows that are not readable records ([`Rejected`]) are reported with the page; they never
//! move a position.

use std::time::Duration;

use reqwest::Method;
use tokio::time::Instant;

use super::HubSpotConnector;
use super::associations::gathered_rows;
use super::catch_up::{CATCH_UP_MIN, Listing, time_cursor};
use super::limits::CallKind;
use super::objects::Configured;
use super::records::{id_number, key, read_all, read_archived};
use super::wire::{
    BatchReadRequest, BatchResponse, CollectionResponse, Filter, FilterGroup, IdInput,
    SearchRequest, SearchResponse, SortSpec,
};
use crate::contract::{Cursor, Cursors, Fetched, PullPage, Record, Rejected, ScanPage};
use crate::error::Error;
use crate::http::Call;
use crate::lock;
use crate::lookback::{PollFrom, poll_from};

/// The stream of live contacts, by `(lastmodifieddate, hs_object_id)` (companies and deals
/// have `companies` and `deals`).
pub const STREAM: &str = "contacts";
/// The stream of archived contacts, by `(archivedAt, id)` (and `companies.archived`...).
pub const ARCHIVED_STREAM: &str = "contacts.archived";
/// Search page size (HubSpot's maximum).
pub const SEARCH_PAGE: usize = 200;
/// List page size (HubSpot's maximum).
pub const LIST_PAGE: usize = 100;
/// Batch size (HubSpot's maximum).
pub const BATCH: usize = 100;
/// One page of one object's stream.
pub(super) struct StreamPage {
    pub(super) records: Vec<Record>,
    pub(super) rejected: Vec<Rejected>,
    pub(super) done: bool,
    /// Records the search matched in all (`total`); 0 for a list page.
    pub(super) total: u64,
}

impl HubSpotConnector {
    /// One page of every object's stream (see [`crate::Connector::pull`]).
    pub(super) async fn pull_page(
        &self,
        since: &Cursors,
        position: Option<&Cursors>,
        lookback: Duration,
    ) -> Result<PullPage, Error> {
        let lookback_ms = i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX);
        let settled = position.is_none().then(|| self.polls.begin()).flatten();
        let mut page = PullPage {
            done: true,
            ..PullPage::default()
        };
        for object in &self.objects {
            let stream = object.stream();
            let continued = position.and_then(|p| p.get(stream));
            let listing = match continued {
                // Read to the end on an earlier page of this poll: its position travels on,
                // or the next page would start it over from the cursor.
                Some(p) if self.finished_at(stream).as_ref() == Some(p) => {
                    page.position.insert(stream.to_string(), p.clone());
                    continue;
                }
                Some(p) => self.catch_up.listing_at(stream, p),
                None => {
                    self.catch_up.forget(stream);
                    None
                }
            };
            let (read, reached) = match listing {
                Some(listing) => self.list_road(object, listing).await?,
                None => {
                    let from = match continued {
                        Some(p) => PollFrom::After(p.clone()),
                        None => self.catch_up.above_floor(
                            stream,
                            poll_from(since.get(stream), lookback_ms, settled),
                        ),
                    };
                    self.search_road(object, since, &from, continued.is_none())
                        .await?
                }
            };
            if let Some(c) = &reached {
                page.position.insert(stream.to_string(), c.clone());
            }
            self.note_stream(stream, read.done, reached);
            page.done &= read.done;
            page.records.extend(read.records);
            page.rejected.extend(read.rejected);
        }
        if page.done {
            self.polls.finish();
        }
        self.sweep_if_due(since, lookback_ms, &mut page).await?;
        tracing::debug!(
            pulled = page.records.len(),
            rejected = page.rejected.len(),
            done = page.done,
            "HubSpot pull page"
        );
        Ok(page)
    }

    /// One search page of `object`'s stream from `from`, and where it got to. On the first
    /// page of a poll (`first`), a large change set weighs the list road and may take it.
    async fn search_road(
        &self,
        object: &Configured,
        since: &Cursors,
        from: &PollFrom,
        first: bool,
    ) -> Result<(StreamPage, Option<Cursor>), Error> {
        let stream = object.stream();
        let (after, from_ms) = match from {
            PollFrom::After(c) => (Some(c), 0),
            PollFrom::Time(ms) => (None, *ms),
        };
        let mut read = self.object_page(object, after, from_ms).await?;
        if first && !read.done && read.total >= CATCH_UP_MIN {
            let kept = read.records.len();
            if let Some(floor) = self.weigh_roads(object, read.total, kept).await? {
                // The list's pages hold the stream where the poll began: a time alone when
                // it began at a time, so the continuation comes back to this stream.
                let holding = after.cloned().unwrap_or_else(|| time_cursor(from_ms));
                let listing = Listing {
                    holding,
                    after: None,
                    floor,
                };
                return self.list_road(object, listing).await;
            }
        }
        self.attach(object, &mut read.records).await?;
        let reached = read
            .records
            .last()
            .map(Record::cursor)
            .or_else(|| after.cloned())
            .or_else(|| since.get(stream).cloned());
        Ok((read, reached))
    }

    /// On the last page of a poll, when a sweep is due, reads the archived records of every
    /// object; otherwise carries the archived cursors over.
    async fn sweep_if_due(
        &self,
        since: &Cursors,
        lookback_ms: i64,
        page: &mut PullPage,
    ) -> Result<(), Error> {
        let due = page.done && self.sweep_due();
        for object in &self.objects {
            let stream = object.archived_stream();
            let archived_since = since.get(&stream);
            if !due {
                if let Some(c) = archived_since {
                    page.position.insert(stream, c.clone());
                }
                continue;
            }
            let (archived, newest) = self
                .sweep_archived(object, archived_since, lookback_ms, &mut page.rejected)
                .await?;
            tracing::debug!(archived = archived.len(), "HubSpot archive sweep done");
            page.records.extend(archived);
            if let Some(c) = newest {
                page.position.insert(stream, c);
            }
        }
        if due {
            *lock(&self.last_sweep) = Some(Instant::now());
        }
        Ok(())
    }

    fn sweep_due(&self) -> bool {
        let last = *lock(&self.last_sweep);
        last.is_none_or(|at| at.elapsed() >= self.sweep_every)
    }

    /// Where a stream was last read to the end, when a continuation page may skip it.
    fn finished_at(&self, stream: &str) -> Option<Cursor> {
        lock(&self.finished).get(stream).cloned()
    }

    /// Remembers where a stream was read to the end; forgets it while the stream has more
    /// to read, so a continuation from that very position still reads it.
    fn note_stream(&self, stream: &str, done: bool, at: Option<Cursor>) {
        let mut finished = lock(&self.finished);
        match at.filter(|_| done) {
            Some(c) => finished.insert(stream.to_string(), c),
            None => finished.remove(stream),
        };
    }

    /// One search call; the rows in the order HubSpot sent them.
    async fn search(
        &self,
        object: &Configured,
        filter_groups: Vec<FilterGroup>,
        sorts: Vec<SortSpec>,
    ) -> Result<(Vec<Record>, Vec<Rejected>, usize, u64), Error> {
        let request = SearchRequest {
            filter_groups,
            sorts,
            properties: object.read.clone(),
            limit: Some(SEARCH_PAGE as u32),
            after: None,
            query: None,
        };
        let action = format!("HubSpot search of modified {}", object.spec.object);
        let answer = self.send_search(object, &request, action).await?;
        let rows = answer.results.len();
        let (records, rejected) = read_all(object, answer.results);
        Ok((records, rejected, rows, answer.total))
    }

    /// Sends one search of `object` (a search budget call).
    pub(super) async fn send_search(
        &self,
        object: &Configured,
        request: &SearchRequest,
        action: String,
    ) -> Result<SearchResponse, Error> {
        let call = Call::json(
            CallKind::Search,
            Method::POST,
            self.paths.objects(object.spec.path, "/search"),
            request,
            action,
        )?;
        self.pipeline.send(call).await
    }

    /// One page of `object`'s stream strictly after `after` (or from `from_ms` on), in
    /// keyset order, and whether the stream is read to the end.
    ///
    /// HubSpot documents one sort rule per search, so the page is not trusted to be ordered
    /// by id within a millisecond. The last millisecond of a full page may therefore be cut
    /// anywhere: it is left for the next page, which starts after the last *complete*
    /// millisecond. When one millisecond fills a whole page (a bulk import), the page is
    /// kept only if it came back in id order (the secondary sort was honoured: 200 ties in
    /// ascending id order by chance are out of the question); otherwise that millisecond is
    /// read with a search sorted on `hs_object_id` alone, an exact keyset.
    async fn object_page(
        &self,
        object: &Configured,
        after: Option<&Cursor>,
        from_ms: i64,
    ) -> Result<StreamPage, Error> {
        let modified = object.spec.modified;
        // A position without a HubSpot id is a time alone: everything from that time on.
        let after_id = after.filter(|c| c.id.parse::<u64>().is_ok());
        let from_ms = after.map_or(from_ms, |c| c.modified_at);
        let filter_groups = match after_id {
            Some(c) => vec![
                FilterGroup {
                    filters: vec![
                        Filter::new(modified, "EQ", c.modified_at.to_string()),
                        Filter::new("hs_object_id", "GT", c.id.clone()),
                    ],
                },
                FilterGroup {
                    filters: vec![Filter::new(modified, "GT", c.modified_at.to_string())],
                },
            ],
            None => vec![FilterGroup {
                filters: vec![Filter::new(modified, "GTE", from_ms.to_string())],
            }],
        };
        let sorts = vec![
            SortSpec::ascending(modified),
            SortSpec::ascending("hs_object_id"),
        ];
        let (mut page, rejected, rows, total) = self.search(object, filter_groups, sorts).await?;
        let strictly_after = |r: &Record| after.is_none_or(|c| key(&r.cursor()) > key(c));
        let done = move |records, done| StreamPage {
            records,
            rejected,
            done,
            total,
        };
        let full = rows >= SEARCH_PAGE;
        let in_order = page
            .windows(2)
            .all(|w| key(&w[0].cursor()) < key(&w[1].cursor()));
        page.sort_by_key(|r| key(&r.cursor()));
        page.retain(strictly_after);
        if !full {
            return Ok(done(page, true));
        }
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok(done(page, false));
        };
        let last_ms = last.modified_at;
        if first.modified_at != last_ms {
            page.retain(|r| r.modified_at < last_ms);
            return Ok(done(page, false));
        }
        if in_order {
            return Ok(done(page, false));
        }
        let mut filters = vec![Filter::new(modified, "EQ", last_ms.to_string())];
        if let Some(c) = after_id.filter(|c| c.modified_at == last_ms) {
            filters.push(Filter::new("hs_object_id", "GT", c.id.clone()));
        }
        let (mut tie, _, _, _) = self
            .search(
                object,
                vec![FilterGroup { filters }],
                vec![SortSpec::ascending("hs_object_id")],
            )
            .await?;
        tie.sort_by_key(|r| key(&r.cursor()));
        tie.retain(strictly_after);
        Ok(done(tie, false))
    }

    /// Reads every archived record of `object`; reports those archived since `since`
    /// (minus the look-back), and the newest archive seen.
    async fn sweep_archived(
        &self,
        object: &Configured,
        since: Option<&Cursor>,
        lookback_ms: i64,
        rejected: &mut Vec<Rejected>,
    ) -> Result<(Vec<Record>, Option<Cursor>), Error> {
        let threshold = since.map(|c| (c.modified_at - lookback_ms, id_number(&c.id)));
        let mut after: Option<String> = None;
        let mut found = Vec::new();
        let mut newest: Option<Cursor> = since.cloned();
        loop {
            let page = self.list_page(object, after.as_deref(), true).await?;
            for row in page.results {
                let r = match read_archived(object, row) {
                    Ok(r) => r,
                    Err(row) => {
                        rejected.push(row);
                        continue;
                    }
                };
                let cursor = r.cursor();
                if newest.as_ref().is_none_or(|n| key(&cursor) > key(n)) {
                    newest = Some(cursor.clone());
                }
                let fresh = match threshold {
                    None => true,
                    Some((t, id)) if lookback_ms == 0 => key(&cursor) > (t, id),
                    Some((t, _)) => r.modified_at >= t,
                };
                if fresh {
                    found.push(r);
                }
            }
            match page.paging.and_then(|p| p.next) {
                Some(next) => after = Some(next.after),
                None => break,
            }
        }
        found.sort_by_key(|r| (r.modified_at, id_number(&r.id)));
        Ok((found, newest))
    }

    /// One page of the list endpoint, live or archived records.
    pub(super) async fn list_page(
        &self,
        object: &Configured,
        after: Option<&str>,
        archived: bool,
    ) -> Result<CollectionResponse, Error> {
        let mut query = vec![
            ("limit", LIST_PAGE.to_string()),
            ("properties", object.read.join(",")),
            ("archived", archived.to_string()),
        ];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        let action = if archived {
            format!("HubSpot list of archived {}", object.spec.object)
        } else {
            format!("HubSpot list of {}", object.spec.object)
        };
        let call = Call::get(
            CallKind::Standard,
            self.paths.objects(object.spec.path, ""),
            action,
        )
        .query(query);
        self.pipeline.send(call).await
    }

    /// One page of a full scan: list pages from the `after` token `resume`, as many as
    /// one association read covers ([`gathered_rows`]), returned as one page whose `next`
    /// is the token after the last list page read: nothing is skipped on a restart.
    pub(super) async fn scan_page(
        &self,
        object: &Configured,
        resume: Option<&str>,
    ) -> Result<ScanPage, Error> {
        let gather = gathered_rows(object, LIST_PAGE);
        let mut scanned = ScanPage {
            next: resume.map(str::to_string),
            ..ScanPage::default()
        };
        let mut rows = 0;
        loop {
            let page = self
                .list_page(object, scanned.next.as_deref(), false)
                .await?;
            let read = page.results.len();
            rows += read;
            let (records, rejected) = read_all(object, page.results);
            scanned.records.extend(records);
            scanned.rejected.extend(rejected);
            scanned.next = page.paging.and_then(|p| p.next).map(|n| n.after);
            if scanned.next.is_none() || read == 0 || rows + LIST_PAGE > gather {
                break;
            }
        }
        self.attach(object, &mut scanned.records).await?;
        Ok(scanned)
    }

    /// Reads records by id, or by email, 100 per call; keys that do not exist are left out.
    pub(super) async fn batch_read(
        &self,
        object: &Configured,
        keys: &[String],
        by_email: bool,
    ) -> Result<Fetched, Error> {
        let mut fetched = Fetched::default();
        let id_property = object.spec.email.filter(|_| by_email);
        for chunk in keys.chunks(BATCH) {
            let request = BatchReadRequest {
                inputs: chunk.iter().map(|id| IdInput { id: id.clone() }).collect(),
                id_property: id_property.map(str::to_string),
                properties: object.read.clone(),
                properties_with_history: Vec::new(),
            };
            let by = if by_email { "email" } else { "id" };
            let action = format!(
                "HubSpot read of {} {} by {by}",
                chunk.len(),
                object.spec.object
            );
            let call = Call::json(
                CallKind::Standard,
                Method::POST,
                self.paths.objects(object.spec.path, "/batch/read"),
                &request,
                action,
            )?;
            let answer: BatchResponse = self.pipeline.send(call).await?;
            // Ids that do not exist come back as one OBJECT_NOT_FOUND error: left out.
            let (records, rejected) = read_all(object, answer.results);
            fetched.records.extend(records);
            fetched.rejected.extend(rejected);
        }
        // Associations after every chunk: one read per 1,000 records, not per 100.
        self.attach(object, &mut fetched.records).await?;
        Ok(fetched)
    }
}
