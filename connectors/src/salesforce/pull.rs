//! Reading Salesforce: incremental pulls and lookups by id or email, packed
//! into `/composite` requests (one API call each). Full scans are `scan.rs`.
//!
//! ## API calls, on purpose
//!
//! Salesforce counts a whole `/composite` request as ONE call, with up to five query or
//! sObject Collections subrequests. A poll sends every object's `queryAll` (deletions and
//! merge losers included, via `IsDeleted` and `MasterRecordId`) in one composite: an idle
//! poll costs one call, and later pages go through `nextRecordsUrl`, again together.
//! Lookups by email pack up to five `IN (...)` queries per composite; reads by id take
//! sObject Collections retrieve, 2,000 ids a call (an object with a child set goes by
//! `IN (...)` queries, packed with its children's). An
//! Opportunity's contacts (`OpportunityContactRole`) come from their own stream and
//! queries, see `roles.rs`.
//!
//! ## Paging a poll
//!
//! Each stream (`Lead`, `Contact`) is read in `(SystemModstamp, Id)` order. The page's
//! `position` is the last record read per stream; the connector remembers the
//! `nextRecordsUrl` that continues from exactly that position and uses it when the engine
//! asks to continue from there. Any other position (a restart, another process) is answered
//! with the keyset query `SystemModstamp > t OR (SystemModstamp = t AND Id > id)`, so the
//! position alone is always enough to go on without a gap or a repeat. The first page starts
//! a look-back before the cursor, cut where the last complete poll settled it
//! ([`crate::lookback`]): an idle poll reads nothing once the look-back has passed.
//!
//! Rows that are not readable records ([`crate::Rejected`]) are reported with the page;
//! they never move a position.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value};

use super::calls::{CallKind, classify_body};
use super::objects::Configured;
use super::records::read_all;
use super::roles::{id_key, parent_of};
use super::soql::{self, Cond, FieldName, Literal, Op, RecordId, Select};
use super::wire::{
    CompositeRequest, CompositeResponse, QueryResult, RetrieveRequest, SubRequest, SubResponse,
};
use super::{PendingPage, SalesforceConnector};
use crate::contract::{Cursor, Cursors, Fetched, ObjectType, PullPage, Record};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::Call;
use crate::lookback::{PollFrom, poll_from};

/// Query or collection subrequests per `/composite` request.
pub const HEAVY_PER_COMPOSITE: usize = 5;
/// Ids per sObject Collections retrieve (Salesforce's maximum for the POST form).
pub const RETRIEVE_IDS: usize = 2_000;

/// One subrequest's error, classified like a whole answer.
pub(super) fn sub_error(sub: &SubResponse, action: &str) -> Error {
    let body = serde_json::to_vec(&sub.body).unwrap_or_default();
    let (class, api) = classify_body(sub.http_status_code, &body, None);
    Error::new(class, action, api)
}

fn query_page(answer: SubResponse, action: &str) -> Result<QueryResult, Error> {
    serde_json::from_value(answer.body).map_err(|e| {
        Error::new(
            ErrorClass::Transient,
            action,
            ApiError::message(e.to_string()),
        )
    })
}

impl SalesforceConnector {
    pub(super) fn query_path(&self, all: bool, soql: &str) -> String {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", soql)
            .finish();
        let resource = if all { "queryAll" } else { "query" };
        self.data_path(&format!("{resource}?{q}"))
    }

    /// One `/composite` call; `at_most_once` when a subrequest must not be repeated.
    pub(super) async fn composite(
        &self,
        subs: Vec<SubRequest>,
        action: &str,
        at_most_once: bool,
    ) -> Result<Vec<SubResponse>, Error> {
        let count = subs.len();
        let body = CompositeRequest {
            all_or_none: false,
            composite_request: subs,
        };
        let path = self.data_path("composite");
        let call = Call::json(CallKind::Data, Method::POST, path, &body, action)?;
        let call = if at_most_once {
            call.at_most_once()
        } else {
            call
        };
        let parsed: CompositeResponse = self.inner.pipeline.send(call).await?;
        if parsed.composite_response.len() != count {
            return Err(Error::new(
                ErrorClass::Transient,
                action,
                ApiError::message(format!(
                    "composite answered {} subrequests, {count} were sent",
                    parsed.composite_response.len()
                )),
            ));
        }
        Ok(parsed.composite_response)
    }

    /// The keyset query of one stream, strictly after `after`, or from `from_ms` on.
    fn stream_query(&self, object: &Configured, after: Option<&Cursor>, from_ms: i64) -> String {
        let stamp = FieldName::constant(object.spec.modified);
        let mut select =
            Select::new(&object.name, &object.read).order_by(&[&stamp, &FieldName::constant("Id")]);
        select = match after {
            Some(cursor) => match RecordId::new(&cursor.id) {
                Ok(id) => select.filter(Cond::after_keyset(&stamp, cursor.modified_at, &id)),
                Err(_) => select.filter(Cond::cmp(
                    &stamp,
                    Op::Ge,
                    Literal::DateTime(cursor.modified_at),
                )),
            },
            None => select.filter(Cond::cmp(&stamp, Op::Ge, Literal::DateTime(from_ms))),
        };
        self.query_path(true, &select.to_soql())
    }

    /// Where a stream's page starts; `None` when the stream has nothing left to read.
    fn stream_start(
        &self,
        object: &Configured,
        since: &Cursors,
        position: Option<&Cursors>,
        lookback_ms: i64,
        settled: Option<i64>,
    ) -> Option<String> {
        let stream = object.stream();
        let Some(p) = position else {
            return Some(match poll_from(since.get(stream), lookback_ms, settled) {
                PollFrom::After(c) => self.stream_query(object, Some(&c), 0),
                PollFrom::Time(ms) => self.stream_query(object, None, ms),
            });
        };
        match (p.get(stream), self.pages().get(stream)) {
            (pos, Some(pending)) if pending.at.as_ref() == pos => pending.next_url.clone(),
            (Some(pos), _) => Some(self.stream_query(object, Some(pos), 0)),
            // No position and nothing remembered: the stream had nothing to read.
            (None, _) => None,
        }
    }

    /// One pull page; `None` when a remembered `nextRecordsUrl` had expired.
    pub(super) async fn pull_once(
        &self,
        since: &Cursors,
        position: Option<&Cursors>,
        lookback: Duration,
    ) -> Result<Option<PullPage>, Error> {
        let action = "Salesforce pull of changes";
        let settled = position
            .is_none()
            .then(|| self.inner.polls.begin())
            .flatten();
        let lookback_ms = i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX);
        let mut out = PullPage {
            done: true,
            ..PullPage::default()
        };
        let mut plan: Vec<(&Configured, Option<Cursor>)> = Vec::new();
        let mut subs = Vec::new();
        // The contact roles' own stream rides along (see `roles.rs`).
        let streams = self.inner.objects.iter().chain(self.inner.roles.as_ref());
        for object in streams {
            let stream = object.stream();
            let base = position.unwrap_or(since).get(stream).cloned();
            if let Some(c) = &base {
                out.position.insert(stream.to_string(), c.clone());
            }
            let Some(url) = self.stream_start(object, since, position, lookback_ms, settled) else {
                continue;
            };
            subs.push(SubRequest {
                method: "GET",
                url,
                reference_id: stream.to_string(),
                body: None,
            });
            plan.push((object, base));
        }
        if subs.is_empty() {
            return Ok(Some(out));
        }
        let answers = self.composite(subs, action, false).await?;
        let mut remember = Vec::new();
        let mut changed_parents: Vec<String> = Vec::new();
        for ((object, base), answer) in plan.into_iter().zip(answers) {
            if answer.http_status_code >= 300 {
                let err = sub_error(&answer, action);
                if err.api().code.as_deref() == Some("INVALID_QUERY_LOCATOR") {
                    // The remembered nextRecordsUrl expired (Salesforce drops idle cursors
                    // after about 15 minutes): forget it, and go on by keyset instead.
                    self.pages().clear();
                    return Ok(None);
                }
                return Err(err);
            }
            let page = query_page(answer, action)?;
            let (records, rejected) = read_all(object, page.records);
            let last = records.last().map(Record::cursor).or(base);
            let stream = object.stream().to_string();
            if let Some(c) = &last {
                out.position.insert(stream.clone(), c.clone());
            }
            let next_url = page.next_records_url.filter(|_| !page.done);
            out.done &= next_url.is_none();
            if object.spec.object == ObjectType::SalesforceContactRole {
                let child = self.inner.objects.iter().find_map(|o| o.children);
                changed_parents.extend(
                    records
                        .iter()
                        .filter_map(|r| child.and_then(|c| parent_of(r, c))),
                );
            } else {
                out.records.extend(records);
            }
            out.rejected.extend(rejected);
            remember.push((stream, PendingPage { at: last, next_url }));
        }
        // Every Opportunity read carries its contacts; those whose roles changed alone are
        // read again by id.
        if let Some(parent) = self.inner.objects.iter().find(|o| o.children.is_some()) {
            let read: BTreeSet<&str> = out
                .records
                .iter()
                .filter(|r| r.object == parent.spec.object)
                .map(|r| id_key(&r.id))
                .collect();
            let again: Vec<String> = changed_parents
                .into_iter()
                .filter(|id| !read.contains(id_key(id)))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            self.read_with_children(parent, &again, &mut out.records, &mut out.rejected, action)
                .await?;
        }
        let mut pages = self.pages();
        for (stream, pending) in remember {
            pages.insert(stream, pending);
        }
        Ok(Some(out))
    }

    /// Reads the records of `object` with these ids (with their child sets): by sObject
    /// Collections retrieve, 2,000 a call, for an object without a child set; by `Id IN`
    /// queries otherwise, packed with the child set's queries.
    pub(super) async fn fetch_ids(
        &self,
        object: &Configured,
        ids: &[String],
    ) -> Result<Fetched, Error> {
        let action = format!(
            "Salesforce fetch of {} {} by id",
            ids.len(),
            object.spec.object
        );
        let mut fetched = Fetched::default();
        if object.children.is_none() {
            for chunk in ids.chunks(RETRIEVE_IDS) {
                let rows = self.retrieve(object, chunk, &action).await?;
                let (records, rejected) = read_all(object, rows);
                fetched.records.extend(records);
                fetched.rejected.extend(rejected);
            }
            return Ok(fetched);
        }
        self.read_with_children(
            object,
            ids,
            &mut fetched.records,
            &mut fetched.rejected,
            &action,
        )
        .await?;
        Ok(fetched)
    }

    /// One sObject Collections retrieve (`POST /composite/sobjects/{object}`): the rows of
    /// the ids that exist, in the order asked (a deleted or unknown id answers `null`).
    async fn retrieve(
        &self,
        object: &Configured,
        ids: &[String],
        action: &str,
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let body = RetrieveRequest {
            ids,
            fields: object.read.iter().map(FieldName::as_str).collect(),
        };
        let path = self.data_path(&format!("composite/sobjects/{}", object.name.as_str()));
        let call = Call::json(CallKind::Data, Method::POST, path, &body, action)?;
        let rows: Vec<Option<Map<String, Value>>> = self.inner.pipeline.send(call).await?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// Finds the records of every configured person object with one of these emails.
    pub(super) async fn find_emails(&self, emails: &[String]) -> Result<Fetched, Error> {
        let mut unique: Vec<String> = emails
            .iter()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        unique.sort();
        unique.dedup();
        let mut queries = Vec::new();
        for object in &self.inner.objects {
            let Some(email) = object.spec.email.map(FieldName::constant) else {
                continue;
            };
            let literals = unique.iter().cloned().map(Literal::Str).collect();
            for group in soql::chunk_in_list(&email, literals, soql::MAX_WHERE_CHARS) {
                let q =
                    Select::new(&object.name, &object.read).filter(Cond::In(email.clone(), group));
                queries.push((object, q.to_soql()));
            }
        }
        let action = format!("Salesforce lookup of {} emails", unique.len());
        self.run_queries(queries, &action).await
    }

    /// Runs SOQL queries, five per composite call, following `nextRecordsUrl`.
    pub(super) async fn run_queries(
        &self,
        queries: Vec<(&Configured, String)>,
        action: &str,
    ) -> Result<Fetched, Error> {
        let mut fetched = Fetched::default();
        for group in queries.chunks(HEAVY_PER_COMPOSITE) {
            let subs = group
                .iter()
                .enumerate()
                .map(|(i, (_, q))| SubRequest {
                    method: "GET",
                    url: self.query_path(false, q),
                    reference_id: format!("q{i}"),
                    body: None,
                })
                .collect();
            let answers = self.composite(subs, action, false).await?;
            for ((object, _), answer) in group.iter().zip(answers) {
                if answer.http_status_code >= 300 {
                    return Err(sub_error(&answer, action));
                }
                let mut page = query_page(answer, action)?;
                loop {
                    let (records, rejected) = read_all(object, std::mem::take(&mut page.records));
                    fetched.records.extend(records);
                    fetched.rejected.extend(rejected);
                    match page.next_records_url.take().filter(|_| !page.done) {
                        Some(next) => {
                            let call = Call::get(CallKind::Data, next, action);
                            page = self.inner.pipeline.send(call).await?;
                        }
                        None => break,
                    }
                }
            }
        }
        Ok(fetched)
    }
}
