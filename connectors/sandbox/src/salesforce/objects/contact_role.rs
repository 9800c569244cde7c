//! OpportunityContactRole (`00K`): a Contact's role on an Opportunity, its own sObject with
//! its own audit stamps, queryable and replicable on its own `SystemModstamp`.
//!
//! At most one role per Opportunity is primary: the store un-marks the previous primary
//! when another is marked (see `store::rules`).

use super::{FieldDef, ObjectDef, audit_tail};

/// The default `Role` values (org-defined; not restricted).
pub const ROLES: [&str; 9] = [
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
];

/// The OpportunityContactRole schema.
pub fn def() -> ObjectDef {
    let mut fields = vec![
        FieldDef::system("Id", "Contact Role ID", "id", 18),
        FieldDef::system("IsDeleted", "Deleted", "boolean", 0),
        // Required, non-nullable, cannot be updated.
        FieldDef::reference("OpportunityId", "Opportunity ID", &["Opportunity"])
            .required()
            .create_only(),
        // [U] whether ContactId is required: recent orgs describe it as not nillable, and a
        // role without a contact means nothing to a sync, so the sandbox requires it.
        FieldDef::reference("ContactId", "Contact ID", &["Contact"]).required(),
        FieldDef::new("Role", "Role", "picklist", 40).picklist(&ROLES, false),
        FieldDef::boolean("IsPrimary", "Primary"),
    ];
    fields.extend(audit_tail());
    ObjectDef::data(
        "OpportunityContactRole",
        "Opportunity Contact Role",
        "Opportunity Contact Roles",
        "00K",
        fields,
    )
}
