//! Full scans: an object read in `Id` order, a page per call, resumable from the last id.
//!
//! A scan query has no `LIMIT`: Salesforce answers up to 2,000 rows and a query locator
//! (`nextRecordsUrl`) for the rest, and says on the last page that it is the last
//! (`done`). The connector remembers, per object, the last id it returned and the locator
//! that continues from exactly there; asked to continue from that id it follows the
//! locator. Asked to continue from any other id (a restart, another process, a locator
//! that expired) it starts the keyset query `Id > token ORDER BY Id` again, so the token
//! alone is always enough. Reading by locator, a scan whose rows fill its last page
//! exactly costs no extra call to learn there is nothing after it.
//!
//! ## A child set, merged in
//!
//! An Opportunity's contacts are rows of another object (`OpportunityContactRole`), whose
//! `OpportunityId` points at it. A scan page covers every Opportunity with an id after the
//! page before's last up to its own last, so the scan reads the roles as a second stream in
//! `OpportunityId` order, beside the first, and gives each page the rows up to its last
//! id; rows read past it wait for the next page. The roles cost what reading
//! OpportunityContactRole alone would: one call per 2,000 of them, not per page of
//! Opportunities (a relationship subquery would cost the same: its child rows count
//! against the 2,000 a page).

use std::collections::VecDeque;

use super::SalesforceConnector;
use super::calls::CallKind;
use super::objects::{ChildSet, Configured};
use super::records::read_all;
use super::roles::{Role, parent_of, role_of, set_children};
use super::soql::{Cond, FieldName, Literal, Op, RecordId, Select};
use super::wire::QueryResult;
use crate::contract::{Record, Rejected, ScanPage};
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::Call;

/// A scan in progress: where its last page ended and how to go on from there.
#[derive(Debug, Default)]
pub(super) struct ScanState {
    /// The last id the last page returned.
    after: String,
    /// The locator continuing from `after`, while the query has more.
    next_url: Option<String>,
    /// The child stream, for an object with a child set.
    children: Children,
}

/// The child rows of a scan, read in parent order.
#[derive(Debug, Default)]
struct Children {
    /// The locator of the stream's next page, once it started.
    next_url: Option<String>,
    /// The stream was queried.
    started: bool,
    /// The stream has no more pages.
    done: bool,
    /// Rows read and not given to a page yet, in parent order.
    waiting: VecDeque<Record>,
}

impl Children {
    /// Whether the rows read so far reach past `through` (every row of a parent up to it
    /// is then read), or the stream is over.
    fn covers(&self, child: &ChildSet, through: Option<&str>) -> bool {
        self.done
            || through.is_some_and(|last| {
                self.waiting
                    .back()
                    .and_then(|r| parent_of(r, child))
                    .is_some_and(|parent| parent.as_str() > last)
            })
    }

    /// Takes the rows of parents up to `through` (every row left, on the last page).
    fn take_through(&mut self, child: &ChildSet, through: Option<&str>) -> Vec<Record> {
        let mut taken = Vec::new();
        while let Some(row) = self.waiting.front() {
            let beyond = through.is_some_and(|last| {
                parent_of(row, child).is_some_and(|parent| parent.as_str() > last)
            });
            if beyond {
                break;
            }
            taken.extend(self.waiting.pop_front());
        }
        taken
    }
}

/// `SELECT ... FROM object [WHERE field > after] ORDER BY field`: no `LIMIT`, the pages
/// come by locator.
fn ordered_after(object: &Configured, field: &'static str, after: Option<RecordId>) -> String {
    let field = FieldName::constant(field);
    let select = Select::new(&object.name, &object.read).order_by(&[&field]);
    match after {
        Some(after) => select
            .filter(Cond::cmp(&field, Op::Gt, Literal::Id(after)))
            .to_soql(),
        None => select.to_soql(),
    }
}

impl SalesforceConnector {
    /// One scan page of `object` after the id `resume` (from the start without one).
    pub(super) async fn scan_page(
        &self,
        object: &Configured,
        resume: Option<&str>,
    ) -> Result<ScanPage, Error> {
        let action = format!("Salesforce scan of {}", object.spec.object);
        let after = resume
            .map(|id| {
                RecordId::new(id)
                    .map_err(|m| Error::new(ErrorClass::Permanent, &action, ApiError::message(m)))
            })
            .transpose()?;
        let mut state = self.take_scan(object, resume).unwrap_or_else(|| ScanState {
            after: resume.unwrap_or_default().to_string(),
            ..ScanState::default()
        });
        let path = match state.next_url.take() {
            Some(url) => url,
            None => self.query_path(false, &ordered_after(object, "Id", after)),
        };
        let page: QueryResult = self
            .inner
            .pipeline
            .send(Call::get(CallKind::Data, path, &action))
            .await?;
        // The token is the last row's id, read or rejected, so no row is read twice.
        let last_id = page
            .records
            .last()
            .and_then(|r| r.get("Id"))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let more = !page.done && page.next_records_url.is_some() && last_id.is_some();
        let (mut records, mut rejected) = read_all(object, page.records);
        if let Some((child, _)) = object.children.zip(self.inner.roles.as_ref()) {
            let through = last_id.as_deref().filter(|_| more);
            let (rows, refused) = self
                .child_rows(child, &mut state.children, resume, through, &action)
                .await?;
            rejected.extend(refused);
            let roles: Vec<Role> = rows.iter().filter_map(|r| role_of(r, child)).collect();
            set_children(&mut records, object.spec.object, child, &roles);
        }
        let next = last_id.filter(|_| more);
        if let Some(last) = &next {
            state.after = last.clone();
            state.next_url = page.next_records_url;
            self.keep_scan(object, state);
        }
        Ok(ScanPage {
            records,
            rejected,
            next,
        })
    }

    /// The rows of the child stream for parents after `after` up to `through`, reading
    /// the stream's next pages as far as needed.
    async fn child_rows(
        &self,
        child: &ChildSet,
        stream: &mut Children,
        after: Option<&str>,
        through: Option<&str>,
        action: &str,
    ) -> Result<(Vec<Record>, Vec<Rejected>), Error> {
        let Some(roles) = self.inner.roles.as_ref() else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut rejected = Vec::new();
        while !stream.covers(child, through) {
            let path = match stream.next_url.take() {
                Some(url) => url,
                None if !stream.started => {
                    // A bound that is not an id (never from Salesforce) reads from the
                    // start: rows of parents before it are never asked for.
                    let after = after.and_then(|id| RecordId::new(id).ok());
                    self.query_path(false, &ordered_after(roles, child.parent, after))
                }
                None => {
                    stream.done = true;
                    break;
                }
            };
            let page: QueryResult = self
                .inner
                .pipeline
                .send(Call::get(CallKind::Data, path, action))
                .await?;
            stream.started = true;
            stream.done = page.done || page.next_records_url.is_none();
            stream.next_url = page.next_records_url;
            let (rows, refused) = read_all(roles, page.records);
            stream.waiting.extend(rows);
            rejected.extend(refused);
        }
        Ok((stream.take_through(child, through), rejected))
    }

    /// The state of the scan of `object` that ended at `resume`, if this connector holds
    /// it (a scan from the start, or from another position, starts afresh).
    fn take_scan(&self, object: &Configured, resume: Option<&str>) -> Option<ScanState> {
        let resume = resume?;
        let mut scans = self.scans();
        let state = scans.remove(object.stream())?;
        (state.after == resume).then_some(state)
    }

    fn keep_scan(&self, object: &Configured, state: ScanState) {
        self.scans().insert(object.stream().to_string(), state);
    }
}
