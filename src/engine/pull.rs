//! The pull step: reading each system's changes since its cursors, and recording them.
//!
//! One pull reads every object of a system the synced pairs hold (the connector decides
//! how: Salesforce packs all its streams into one call), page after page, and records each
//! page in one transaction: the change-log rows and snapshots of every pair in it, and the
//! cursors last ([`record_page`]). A cursor therefore never passes a change that is not in
//! the log.
//!
//! Rows the connector could not read as records ([`truce_connectors::Rejected`]: no id, no
//! modification date) are quarantined with the connector's reason, once per record; they
//! never stop the page.

use truce_connectors::{Cursor, Cursors, Record, Rejected, System};
use truce_state::{NewQuarantine, PulledPage, Store, StoreError};

use super::events::{self, QuarantineEvent};
use super::pair::Pair;
use super::record::{self, Touched};
use super::settings::Settings;
use super::{Engine, EngineError, Wanted, stored};

/// The error code of a row quarantined because it is not a readable record.
pub const UNREADABLE_RECORD: &str = "UNREADABLE_RECORD";

/// What one system's pull read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pulled {
    /// Records that were new or changed.
    pub records: usize,
    /// Rows quarantined as unreadable.
    pub rejected: usize,
    /// Oldest pulled change's age when recorded (ms).
    pub lag_ms: i64,
}

impl Engine {
    /// Pulls every page of changes of one system since its cursors.
    pub(crate) async fn pull(
        &mut self,
        system: System,
        touched: &mut Vec<Touched>,
    ) -> Result<Pulled, EngineError> {
        let connector = self.connector(system);
        let since: Cursors = self
            .store
            .reader()
            .cursors(stored::system_name(system))?
            .into_iter()
            .map(|(stream, c)| {
                let cursor = Cursor {
                    modified_at: c.modified_at,
                    id: c.id,
                };
                (stream, cursor)
            })
            .collect();
        let mut position: Option<Cursors> = None;
        let mut pulled = Pulled::default();
        loop {
            let page = connector
                .pull(&since, position.as_ref(), self.settings.lookback)
                .await?;
            let now = self.now();
            let page_touched = self.record(system, &page.records, |stored| {
                stored.cursors = page
                    .position
                    .iter()
                    .map(|(stream, c)| {
                        let cursor = truce_state::Cursor {
                            modified_at: c.modified_at,
                            id: c.id.clone(),
                        };
                        (stream.clone(), cursor)
                    })
                    .collect();
            })?;
            pulled.rejected += self.reject(system, &page.rejected)?;
            for t in &page_touched {
                if let Some(r) = page.records.iter().find(|r| r.id == t.id) {
                    pulled.lag_ms = pulled.lag_ms.max(now - r.modified_at);
                }
            }
            self.observe_pulled(system, &page.records);
            pulled.records += page_touched.len();
            touched.extend(page_touched);
            if page.done {
                break;
            }
            position = Some(page.position);
        }
        Ok(pulled)
    }

    fn observe_pulled(&self, system: System, records: &[Record]) {
        for pair in Pair::ALL {
            let n = records
                .iter()
                .filter(|r| Pair::of(r.object) == pair)
                .count();
            if n > 0 {
                self.observer.pulled(system, pair.as_str(), n as u64);
            }
        }
    }

    /// Reads and records the Salesforce records identity asked for (a converted lead's
    /// Contact), returning them as touched.
    pub(crate) async fn fetch_missing(
        &mut self,
        wanted: &Wanted,
    ) -> Result<Vec<Touched>, EngineError> {
        let mut touched = Vec::new();
        let mut objects: Vec<_> = wanted.iter().map(|(o, _)| *o).collect();
        objects.sort();
        objects.dedup();
        for object in objects {
            let ids: Vec<String> = wanted
                .iter()
                .filter(|(o, _)| *o == object)
                .map(|(_, id)| id.clone())
                .collect();
            let system = object.system();
            let fetched = self.connector(system).fetch(object, &ids).await?;
            touched.extend(self.record(system, &fetched.records, |_| {})?);
            self.reject(system, &fetched.rejected)?;
        }
        Ok(touched)
    }

    /// The record step for one page of records (see [`record_page`]).
    pub(crate) fn record(
        &mut self,
        system: System,
        records: &[Record],
        finish: impl FnOnce(&mut PulledPage),
    ) -> Result<Vec<Touched>, EngineError> {
        let now = self.now();
        record_page(
            &mut self.store,
            &self.settings,
            now,
            system,
            records,
            finish,
        )
    }

    /// Quarantines rows a connector could not read (see [`reject`]).
    pub(crate) fn reject(
        &mut self,
        system: System,
        rejected: &[Rejected],
    ) -> Result<usize, EngineError> {
        let now = self.now();
        reject(&mut self.store, system, rejected, now)
    }
}

/// Quarantines rows a connector could not read, each once while its entry is open.
/// Returns how many were new.
pub(crate) fn reject(
    store: &mut Store,
    system: System,
    rejected: &[Rejected],
    now: i64,
) -> Result<usize, EngineError> {
    if rejected.is_empty() {
        return Ok(0);
    }
    let system_name = stored::system_name(system);
    store.transaction(|tx| {
        let mut fresh = 0;
        for row in rejected {
            let pair = Pair::of(row.object);
            let reported = tx.reader().open_quarantine_for(
                pair.as_str(),
                system_name,
                row.id.as_deref(),
                UNREADABLE_RECORD,
            )?;
            if reported {
                continue;
            }
            let entry = NewQuarantine {
                pair: pair.as_str().into(),
                link_id: None,
                email: None,
                system: system_name.into(),
                record_id: row.id.clone(),
                field: None,
                error_code: UNREADABLE_RECORD.into(),
                message: format!("{} {}: {}", system.label(), row.object, row.reason),
            };
            tx.quarantine_record(&entry, now)?;
            events::quarantine(&QuarantineEvent {
                object: pair,
                link: 0,
                email: "",
                name: "",
                system: system_name,
                record_id: row.id.as_deref().unwrap_or(""),
                field: None,
                error_code: UNREADABLE_RECORD,
                message: &entry.message,
            });
            fresh += 1;
        }
        Ok::<_, EngineError>(fresh)
    })
}

/// The record step for one page of records: builds the store pages (one per pair), lets
/// the caller add its cursors or scan token to the last, and writes them all in one
/// transaction.
pub(crate) fn record_page(
    store: &mut Store,
    settings: &Settings,
    now: i64,
    system: System,
    records: &[Record],
    finish: impl FnOnce(&mut PulledPage),
) -> Result<Vec<Touched>, EngineError> {
    let (mut pages, touched) =
        record::build_pages(&store.reader(), system, records, settings, now)?;
    if let Some(last) = pages.last_mut() {
        finish(last);
    }
    store.transaction(|tx| {
        for page in &pages {
            tx.record_page(page)?;
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(touched)
}
