//! The store, shared by the two systems' network work while it runs side by side.
//!
//! HubSpot's and Salesforce's calls wait on different quotas, so the backfill's scans and
//! every apply pass run both systems at once (in one task, with `tokio::join!`). Between
//! awaits each side takes the store for one read or one transaction; it never holds it
//! across a call, so neither waits on the other's network.

use std::sync::{Mutex, MutexGuard};

use truce_state::Store;

/// A store borrowed by concurrent steps, each taking it between awaits.
pub struct SharedStore<'a>(Mutex<&'a mut Store>);

impl<'a> SharedStore<'a> {
    /// Shares `store` until this value is dropped.
    pub fn new(store: &'a mut Store) -> SharedStore<'a> {
        SharedStore(Mutex::new(store))
    }

    /// Runs `f` with the store. `f` is synchronous, so the store is free again before the
    /// caller's next await.
    pub fn with<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        // A panic while holding the store aborts the process (release profile), and a
        // poisoned lock in a test still holds a usable store: transactions roll back.
        let mut guard: MutexGuard<'_, &'a mut Store> = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }
}
