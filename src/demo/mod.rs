//! `truce demo`, as a library: a seeded world of two sandboxes, scripted teams editing it
//! live, and the closing report.
//!
//! The demo is the real product pointed at fakes: [`world::World`] serves both
//! sandboxes on loopback, writes a real config file (secrets in files beside it) and
//! names a real state file; the command then loads that config with the normal loader,
//! builds connectors with [`crate::connect`], runs a real backfill and the real daemon
//! loop ([`crate::daemon::run_observed`]). Only the people are simulated:
//! [`script`] plays a marketing team in HubSpot and a sales team in Salesforce, on a
//! schedule drawn from the seed, through the sandboxes' in-process control APIs (as a user
//! in each UI would). [`report`] turns the store and the tallies into the summary table.
//!
//! Nothing here is a test double of truce itself: whatever the demo shows, `truce run`
//! does against real systems.

pub mod report;
pub mod script;
pub mod world;

pub use report::{Report, Totals};
pub use script::{Tally, spawn_teams};
pub use world::{Seeded, World};
