//! The CRM object types the sandbox serves (contacts, companies, deals) and the API
//! families (legacy `v3`/`v4`, date versions `2026-03` and `2026-09`) it serves them under.
//!
//! Both are plain data: names, type ids, default properties, last-modified property and
//! path prefixes. Route building, handlers and the store read them here instead of
//! spelling `"contacts"` or `"/crm/v3"` in many places.

use std::fmt;

/// A CRM object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    /// `contacts`, type id `0-1`.
    Contacts,
    /// `companies`, type id `0-2`.
    Companies,
    /// `deals`, type id `0-3`.
    Deals,
}

impl ObjectType {
    /// Every type the sandbox serves.
    pub const ALL: [ObjectType; 3] = [
        ObjectType::Contacts,
        ObjectType::Companies,
        ObjectType::Deals,
    ];

    /// The plural name used in paths and v3 association keys (`companies`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Contacts => "contacts",
            ObjectType::Companies => "companies",
            ObjectType::Deals => "deals",
        }
    }

    /// The singular name used in association messages and v3 type names (`company`).
    pub fn singular(self) -> &'static str {
        match self {
            ObjectType::Contacts => "contact",
            ObjectType::Companies => "company",
            ObjectType::Deals => "deal",
        }
    }

    /// The object type id (`0-2`).
    pub fn type_id(self) -> &'static str {
        match self {
            ObjectType::Contacts => "0-1",
            ObjectType::Companies => "0-2",
            ObjectType::Deals => "0-3",
        }
    }

    /// Every spelling a path may use for this type: plural, singular and type id.
    pub fn aliases(self) -> [&'static str; 3] {
        [self.name(), self.singular(), self.type_id()]
    }

    /// Parses a type as a path spells it (`contacts`, `contact`, `0-1`, any case).
    pub fn parse(text: &str) -> Option<ObjectType> {
        let text = text.trim().to_ascii_lowercase();
        ObjectType::ALL
            .into_iter()
            .find(|t| t.aliases().contains(&text.as_str()))
    }

    /// The property that holds the last modification time, the search cursor:
    /// `lastmodifieddate` on contacts, `hs_lastmodifieddate` on the others.
    pub fn modified_property(self) -> &'static str {
        match self {
            ObjectType::Contacts => "lastmodifieddate",
            ObjectType::Companies | ObjectType::Deals => "hs_lastmodifieddate",
        }
    }

    /// The properties returned when none are asked for (the maintained three included).
    pub fn default_properties(self) -> &'static [&'static str] {
        match self {
            ObjectType::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ],
            ObjectType::Companies => &[
                "createdate",
                "domain",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
            ],
            ObjectType::Deals => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
        }
    }

    /// The properties free-text search (`query`) looks in.
    pub fn searchable(self) -> &'static [&'static str] {
        match self {
            ObjectType::Contacts => &["email", "firstname", "lastname", "company", "phone"],
            ObjectType::Companies => &["name", "domain", "website", "phone"],
            ObjectType::Deals => &["dealname"],
        }
    }

    /// The first record id handed out. Each type has its own range, far apart, so an id
    /// names one record only and a client mixing a company id up with a contact id finds
    /// nothing; company and deal ids are above 2^32, as real ones often are, so a client
    /// that parses `toObjectId` into 32 bits fails here first.
    pub fn first_id(self) -> u64 {
        match self {
            ObjectType::Contacts => 1001,
            ObjectType::Companies => 5_000_000_001,
            ObjectType::Deals => 9_000_000_001,
        }
    }

    /// How HubSpot names the type in batch error messages (`CONTACT`).
    pub fn upper(self) -> &'static str {
        match self {
            ObjectType::Contacts => "CONTACT",
            ObjectType::Companies => "COMPANY",
            ObjectType::Deals => "DEAL",
        }
    }

    /// The name as a record label in messages (`Contact`).
    pub fn label(self) -> &'static str {
        match self {
            ObjectType::Contacts => "Contact",
            ObjectType::Companies => "Company",
            ObjectType::Deals => "Deal",
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A family of API paths: the legacy `/crm/v3` and `/crm/v4` paths, or a date version.
///
/// The same operations are served under each, with the differences HubSpot documents:
/// association batch archive answers 200 with a body under date versions, batch creates of
/// associations and properties answer 200 under `2026-09`, and only `2026-09` enforces the
/// portal's write validation rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiVersion {
    /// `/crm/v3/...` (objects, properties, pipelines, owners) and `/crm/v4/...`
    /// (associations).
    Legacy,
    /// `/crm/{api}/2026-03/...`.
    V2026_03,
    /// `/crm/{api}/2026-09/...`.
    V2026_09,
}

impl ApiVersion {
    /// Every family the sandbox serves.
    pub const ALL: [ApiVersion; 3] = [
        ApiVersion::Legacy,
        ApiVersion::V2026_03,
        ApiVersion::V2026_09,
    ];

    /// `v3`, `2026-03` or `2026-09`.
    pub fn label(self) -> &'static str {
        match self {
            ApiVersion::Legacy => "v3",
            ApiVersion::V2026_03 => "2026-03",
            ApiVersion::V2026_09 => "2026-09",
        }
    }

    /// True for the date versions.
    pub fn is_dated(self) -> bool {
        self != ApiVersion::Legacy
    }

    /// Whether the portal's write validation rules apply (2026-09 only).
    pub fn enforces_rules(self) -> bool {
        self == ApiVersion::V2026_09
    }

    /// Whether batch creates of associations and properties answer 200 with the errors in
    /// the body (2026-09) rather than 201, or 207 when some input failed.
    pub fn folds_batch_errors(self) -> bool {
        self == ApiVersion::V2026_09
    }

    /// The path prefix of an API: `objects`, `associations`, `properties`, `pipelines` or
    /// `owners`. Legacy associations live under `/crm/v4`, everything else under `/crm/v3`.
    pub fn base(self, api: &str) -> String {
        match self {
            ApiVersion::Legacy if api == "associations" => "/crm/v4/associations".to_string(),
            ApiVersion::Legacy => format!("/crm/v3/{api}"),
            dated => format!("/crm/{api}/{}", dated.label()),
        }
    }

    /// The prefix of the per-record association paths
    /// (`/crm/v4/objects` or `/crm/objects/2026-09`).
    pub fn record_associations_base(self) -> String {
        match self {
            ApiVersion::Legacy => "/crm/v4/objects".to_string(),
            dated => dated.base("objects"),
        }
    }

    /// The family of a counted endpoint (`"POST /crm/objects/2026-09/deals/search"`), if it
    /// is a CRM call.
    pub fn of_endpoint(endpoint: &str) -> Option<ApiVersion> {
        let path = endpoint.split_once(' ').map_or(endpoint, |(_, p)| p);
        if path.starts_with("/crm/v3/") || path.starts_with("/crm/v4/") {
            return Some(ApiVersion::Legacy);
        }
        let mut segments = path.trim_start_matches('/').split('/');
        if segments.next() != Some("crm") {
            return None;
        }
        let version = segments.nth(1)?;
        ApiVersion::ALL
            .into_iter()
            .find(|v| v.is_dated() && v.label() == version)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_from_every_spelling() {
        assert_eq!(ObjectType::parse("0-3"), Some(ObjectType::Deals));
        assert_eq!(ObjectType::parse("Company"), Some(ObjectType::Companies));
        assert_eq!(ObjectType::parse("contacts"), Some(ObjectType::Contacts));
        assert_eq!(ObjectType::parse("tickets"), None);
    }

    #[test]
    fn endpoints_name_their_family() {
        let of = ApiVersion::of_endpoint;
        assert_eq!(of("GET /crm/v3/objects/contacts"), Some(ApiVersion::Legacy));
        assert_eq!(
            of("POST /crm/v4/associations/{from}/{to}/batch/read"),
            Some(ApiVersion::Legacy)
        );
        assert_eq!(
            of("POST /crm/objects/2026-09/deals/search"),
            Some(ApiVersion::V2026_09)
        );
        assert_eq!(of("GET /crm/owners/2026-03"), Some(ApiVersion::V2026_03));
        assert_eq!(of("POST /oauth/v1/token"), None);
    }
}
