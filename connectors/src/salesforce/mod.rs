//! Salesforce REST (Lead, Contact): the client truce syncs through, and its sandbox.
