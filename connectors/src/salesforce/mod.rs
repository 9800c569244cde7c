//! Salesforce REST (Lead, Contact): the client truce syncs through, and its sandbox.

pub mod sandbox;
pub mod soql;
