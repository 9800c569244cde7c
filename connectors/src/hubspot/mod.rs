//! HubSpot CRM v3 contacts: the client truce syncs through, and its sandbox.
