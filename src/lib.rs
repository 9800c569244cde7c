//! The `truce` library behind the binary: command line, config, logging, commands, and
//! (as it lands) the sync engine and daemon. The binary (`main.rs`) only wires them to the
//! process: arguments in, exit code out. End-to-end tests use this library to run the real
//! engine in-process.
//!
//! [`demo`] and the `demo` and `sandbox` commands exist only with the `sandbox` feature (on
//! by default): they bring the HubSpot and Salesforce fakes (`truce-sandbox`) into the
//! binary, which the daemon itself never needs.

pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connect;
pub mod daemon;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod engine;
pub mod funnel;
pub mod logging;
pub mod metrics;
