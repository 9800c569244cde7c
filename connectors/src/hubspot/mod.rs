//! HubSpot CRM v3 contacts: the client truce syncs through.
//!
//! - [`config`]: [`HubSpotConfig`] and [`HubSpotAuth`].
//! - [`auth`]: bearer tokens and the OAuth refresh flow.
//! - [`limits`]: the governor limiters (10 s burst, search per second, daily share), the
//!   `X-HubSpot-RateLimit-*` headers and 429 policies.
//! - [`wire`]: serde types of HubSpot's JSON.
//! - [`client`]: [`HubSpotConnector`], the [`crate::Connector`] for HubSpot.

pub mod auth;
pub mod client;
pub mod config;
pub mod limits;
pub mod wire;

pub use client::{HubSpotConnector, existing_id};
pub use config::{HubSpotAuth, HubSpotConfig};
