//! Faithful local fakes of the HubSpot and Salesforce REST APIs, which the connector
//! tests, the end-to-end tests, `truce demo`, `truce sandbox` and the benchmark run
//! truce against.
//!
//! What lives here, and what does not:
//!
//! - [`hubspot`]: [`hubspot::HubSpotSandbox`], a local HubSpot portal: contacts, companies
//!   and deals on the generic object routes (search, batch, merge, properties), v4
//!   associations, deal pipelines, owners, OAuth and rate limits, under the numeric paths
//!   and the date-versioned families (`2026-03`, `2026-09`, with 2026-09's write validation).
//! - [`salesforce`]: [`salesforce::SalesforceSandbox`], a local Salesforce org: Lead,
//!   Contact, Account, Opportunity, OpportunityStage and OpportunityContactRole through SOQL,
//!   sObject rows and collections and `/composite`; lead conversion; OAuth (client
//!   credentials in the body or as Basic, refresh token, JWT bearer); limits.
//! - [`common`]: what both share: serving a router on loopback, request counters and fault
//!   injection.
//! - [`world`]: both sandboxes served and seeded with people, and a real truce config file
//!   pointing at them: the world `truce demo`, the end-to-end tests and the benchmark run in.
//!
//! Nothing here is truce: this crate does not depend on `truce-connectors`. A fake that
//! shared its client's wire types would agree with the client on any mistake in them, so
//! each sandbox keeps its own copy of the JSON it speaks, checked against the vendors' own
//! SDKs (the compat tests, which run the scripts in the repository's `tests/compat/`)
//! rather than against truce.

pub mod common;
pub mod hubspot;
pub mod salesforce;
pub mod world;

pub use common::{Counters, Fault, FaultBodies, FaultInjector, Faults, Served};

/// Locks `mutex`, taking it over if a thread panicked while holding it: every value kept
/// behind a mutex here (counters, fault draws, sandbox data) stays usable after a panic,
/// and a poisoned lock must not turn one failed request into a dead sandbox.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
