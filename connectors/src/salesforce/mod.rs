//! Salesforce REST (Lead, Contact): the client truce syncs through.
//!
//! - [`config`]: [`SalesforceConfig`] and the OAuth [`Grant`].
//! - [`auth`]: tokens from `/services/oauth2/token`, renewed once on `INVALID_SESSION_ID`.
//! - [`soql`]: the one place SOQL text is built (escaped literals, checked names and ids).
//! - [`limits`]: `Sforce-Limit-Info`, the `daily_share` pause, requests in flight.
//! - [`wire`]: Salesforce's JSON as serde types.
//! - [`client`]: [`SalesforceConnector`], the [`crate::Connector`] implementation, which
//!   packs polls, lookups and writes into `/composite` requests (one API call each).

pub mod auth;
pub mod client;
pub mod config;
pub mod limits;
pub mod soql;
pub mod wire;

pub use client::SalesforceConnector;
pub use config::{Grant, SalesforceConfig};
