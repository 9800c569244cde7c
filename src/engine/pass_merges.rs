//! Merging the links an apply pass finished, during the pass and once per link.
//!
//! A link is not merged while a write of its own is on the way, so the links whose writes
//! finish are merged again: each batch's while the next batch's calls are out
//! ([`Sender::send_all`]), so the pass does not end with a merge of everything it wrote.
//! Once per link and pass: a link finished again after that merge waits for the merge
//! after the pass ([`PassMerges::left`]), which keeps a merge that plans a write every
//! time from going round without end.

use std::collections::BTreeSet;
use std::sync::Mutex;

use truce_state::LinkId;

use super::apply::{Applied, Sender};
use super::plan;
use super::{EngineError, MergeSummary};

/// Which finished links an apply pass has merged, across both systems' senders.
#[derive(Default)]
pub struct PassMerges(Mutex<PassState>);

#[derive(Default)]
struct PassState {
    merged: BTreeSet<LinkId>,
    left: BTreeSet<LinkId>,
}

impl PassMerges {
    fn with<R>(&self, f: impl FnOnce(&mut PassState) -> R) -> R {
        let mut guard = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// The links finished again after this pass merged them: to merge after the pass.
    pub fn left(&self) -> Vec<LinkId> {
        self.with(|state| state.left.iter().copied().collect())
    }

    /// Those of `links` this pass has not merged yet; the others are left for after it.
    fn not_merged(&self, links: impl IntoIterator<Item = LinkId>) -> Vec<LinkId> {
        self.with(|state| {
            let (again, fresh): (Vec<LinkId>, Vec<LinkId>) = links
                .into_iter()
                .partition(|link| state.merged.contains(link));
            state.left.extend(again);
            fresh
        })
    }

    fn merged(&self, links: impl IntoIterator<Item = LinkId>) {
        self.with(|state| state.merged.extend(links));
    }
}

impl Sender<'_> {
    /// Merges the links a batch finished that this pass has not merged yet, and the links
    /// waiting for a record one of its creates made. A link passed over because a write of
    /// its own is still on the way is merged when that write finishes.
    pub(super) fn merge_finished(&self, batch: &Applied) -> Result<MergeSummary, EngineError> {
        let fresh = self.merges.not_merged(batch.finished.iter().copied());
        if fresh.is_empty() {
            return Ok(MergeSummary::default());
        }
        let (summary, links, busy) = self.store.with(|s| {
            let completed: Vec<LinkId> = batch.completed.iter().copied().collect();
            let waiting = plan::waiting_for(&s.reader(), self.settings, &completed)?;
            let mut links = self.merges.not_merged(waiting);
            links.extend(&fresh);
            let (summary, busy) = plan::merge_links_not_busy(
                s,
                self.settings,
                self.observer,
                self.now,
                links.clone(),
            )?;
            Ok::<_, EngineError>((summary, links, busy))
        })?;
        let busy: BTreeSet<LinkId> = busy.into_iter().collect();
        self.merges
            .merged(links.into_iter().filter(|link| !busy.contains(link)));
        Ok(summary)
    }
}
