//! truce's side of the wire: the [`Connector`] contract the sync engine calls, the HTTP
//! plumbing every connector shares, and one module per remote system.
//!
//! What lives here, and what does not:
//!
//! - [`contract`] defines what the engine may ask of a system (pull changes since a cursor,
//!   scan everything, fetch by id or email, apply a batch of writes, describe fields) in
//!   system-neutral types. The engine never sees a URL or a status code.
//! - [`http`] owns the one call pipeline every connector sends through: the `reqwest`
//!   client, the governor limiters, the token cache, retries with `Retry-After` and backoff,
//!   and the default classification of failures. Connectors supply their half (how their
//!   API refuses, how a token is obtained, their budgets); [`http`] decides whether and
//!   when to try again.
//! - [`lookback`] decides where each incremental poll starts, for both systems.
//! - [`hubspot`] and [`salesforce`] each hold the client of one system.
//!
//! How to add a connector, and the conformance suite every connector passes
//! (`tests/conformance.rs`), are in `docs/connectors.md`.
//!
//! This crate knows nothing of the state store, the config file format or the CLI. The
//! sandboxes its tests run against (faithful local fakes of both APIs) are a crate of their
//! own, `truce-sandbox` (`connectors/sandbox/`), and only a dev-dependency here.

pub mod contract;
pub mod error;
pub mod http;
pub mod hubspot;
pub mod lookback;
pub mod salesforce;
pub mod secret;

pub use contract::{
    Associated, Connector, Conversion, Cursor, Cursors, DealOutcome, Fetched, FieldInfo, FieldKind,
    ObjectType, PartRefused, PullPage, Quota, Record, Rejected, ScanPage, System, UpsertKey, Write,
    WriteOp, WriteOutcome, Written,
};
pub use error::{ApiError, Error, ErrorClass};
pub use secret::Secret;

/// Locks `mutex`, taking it over if a thread panicked while holding it: every value kept
/// behind a mutex here (counters, limiter state) stays usable after a panic,
/// and a poisoned lock must not turn one failed call into a failed process.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
