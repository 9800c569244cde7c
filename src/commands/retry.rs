//! `truce retry`: re-queue quarantined writes once their cause is fixed.

use anyhow::Context;
use truce_state::{QuarantineId, Store};

use super::state_file::{self, now_ms};
use crate::cli::{Global, RetryArgs};

/// Re-queues the given quarantine entries (or all open ones). The running daemon sends them
/// on its next cycle; a record-level entry (a value that could not be mapped) is closed and
/// its record merged again when it next changes.
pub async fn run(global: &Global, args: &RetryArgs) -> anyhow::Result<()> {
    let path = state_file::path(global)?;
    let mut store = Store::open_existing(&path)?;
    let now = now_ms();
    let ids: Vec<QuarantineId> = args.ids.iter().copied().map(QuarantineId).collect();
    let retried = store
        .transaction(|tx| {
            if args.all {
                tx.retry_all(now)
            } else {
                tx.retry(&ids, now)
            }
        })
        .with_context(|| {
            if args.all {
                "re-queueing every open quarantine entry".to_string()
            } else {
                format!(
                    "re-queueing quarantine entries {:?} (see `truce status` for open ids)",
                    args.ids
                )
            }
        })?;
    if retried.is_empty() {
        println!("nothing to retry: the quarantine is empty");
        return Ok(());
    }
    for r in &retried {
        match r.outbox_id {
            Some(outbox) => println!("#{}: write queued again (outbox {outbox})", r.quarantine_id),
            None => println!(
                "#{}: closed; the record is merged again when it changes",
                r.quarantine_id
            ),
        }
    }
    println!(
        "{} entr{} retried; the daemon sends them on its next cycle",
        retried.len(),
        if retried.len() == 1 { "y" } else { "ies" }
    );
    Ok(())
}
