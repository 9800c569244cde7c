//! Every HubSpot path truce calls, built in one place for the API family it speaks.
//!
//! HubSpot serves the same operations under two families of paths (reference §1.1):
//!
//! | API | `v3` (legacy) | `2026-09` (date version) |
//! |---|---|---|
//! | objects, search, batch, merge | `/crm/v3/objects/{type}…` | `/crm/objects/2026-09/{type}…` |
//! | properties | `/crm/v3/properties/{type}` | `/crm/properties/2026-09/{type}` |
//! | batch associations | `/crm/v4/associations/{from}/{to}/batch/{op}` | `/crm/associations/2026-09/{from}/{to}/batch/{op}` |
//! | pipelines | `/crm/v3/pipelines/{type}` | `/crm/pipelines/2026-09/{type}` |
//! | owners | `/crm/v3/owners` | `/crm/owners/2026-09` |
//!
//! [`ApiVersion`] names the family (`hubspot.api_version`, default `2026-09`: the numeric
//! paths stop being supported in September 2027, the v4 associations in March 2027);
//! [`Paths`] turns an operation into its path, so no other file spells a version.
//!
//! What else differs between the families is handled where the answer is read, not
//! here: association batch archives answer 204 under v4 and 200 with a body under dates
//! (both parse: an empty body reads as nothing), partial failures come as 207 or as 200
//! with `errors` (both are read the same way), and only `2026-09` enforces the portal's
//! write validation rules (a refusal is a permanent, per-record error).

use std::fmt;

/// The family of paths the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ApiVersion {
    /// The `2026-09` date version: `/crm/{api}/2026-09/…`. The default.
    #[default]
    V2026_09,
    /// The legacy numeric paths: `/crm/v3/…`, associations under `/crm/v4/…`.
    V3,
}

impl ApiVersion {
    /// Every family, the default first.
    pub const ALL: [ApiVersion; 2] = [ApiVersion::V2026_09, ApiVersion::V3];

    /// The name as `hubspot.api_version` spells it: `2026-09` or `v3`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2026_09 => "2026-09",
            ApiVersion::V3 => "v3",
        }
    }

    /// Reads `hubspot.api_version`; `None` for a family the client does not speak.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        ApiVersion::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// Whether HubSpot enforces the portal's write validation rules on this family (only
    /// `2026-09` does).
    pub fn enforces_write_rules(self) -> bool {
        self == ApiVersion::V2026_09
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The APIs whose paths carry the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Objects,
    Properties,
    Associations,
    Pipelines,
    Owners,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Objects => "objects",
            Api::Properties => "properties",
            Api::Associations => "associations",
            Api::Pipelines => "pipelines",
            Api::Owners => "owners",
        }
    }
}

/// The path builder of one connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paths {
    version: ApiVersion,
}

impl Paths {
    /// Paths of `version`.
    pub fn new(version: ApiVersion) -> Paths {
        Paths { version }
    }

    /// The family spoken.
    pub fn version(self) -> ApiVersion {
        self.version
    }

    /// The prefix of one API: `/crm/v3/objects`, `/crm/v4/associations`,
    /// `/crm/objects/2026-09`...
    fn base(self, api: Api) -> String {
        match (self.version, api) {
            // The legacy associations API that has batch reads and type ids is v4.
            (ApiVersion::V3, Api::Associations) => "/crm/v4/associations".to_string(),
            (ApiVersion::V3, api) => format!("/crm/v3/{}", api.name()),
            (dated, api) => format!("/crm/{}/{}", api.name(), dated.as_str()),
        }
    }

    /// An object path: `{base}/{object}` followed by `rest` (`""`, `/search`,
    /// `/batch/read`...).
    pub fn objects(self, object: &str, rest: &str) -> String {
        format!("{}/{object}{rest}", self.base(Api::Objects))
    }

    /// The property definitions of `object`.
    pub fn properties(self, object: &str) -> String {
        format!("{}/{object}", self.base(Api::Properties))
    }

    /// A batch association call from `from` to `to`: `op` is `read`, `create`, `archive`
    /// or `labels/archive`.
    pub fn association_batch(self, from: &str, to: &str, op: &str) -> String {
        format!("{}/{from}/{to}/batch/{op}", self.base(Api::Associations))
    }

    /// The pipelines of `object` (`deals`).
    pub fn pipelines(self, object: &str) -> String {
        format!("{}/{object}", self.base(Api::Pipelines))
    }

    /// The owners list.
    pub fn owners(self) -> String {
        self.base(Api::Owners)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_has_its_paths() {
        let dated = Paths::new(ApiVersion::V2026_09);
        let legacy = Paths::new(ApiVersion::V3);
        let cases = [
            (
                dated.objects("deals", "/search"),
                "/crm/objects/2026-09/deals/search",
            ),
            (
                legacy.objects("deals", "/search"),
                "/crm/v3/objects/deals/search",
            ),
            (
                dated.properties("contacts"),
                "/crm/properties/2026-09/contacts",
            ),
            (legacy.properties("contacts"), "/crm/v3/properties/contacts"),
            (
                dated.association_batch("deals", "contacts", "read"),
                "/crm/associations/2026-09/deals/contacts/batch/read",
            ),
            (
                legacy.association_batch("contacts", "companies", "labels/archive"),
                "/crm/v4/associations/contacts/companies/batch/labels/archive",
            ),
            (dated.pipelines("deals"), "/crm/pipelines/2026-09/deals"),
            (legacy.pipelines("deals"), "/crm/v3/pipelines/deals"),
            (dated.owners(), "/crm/owners/2026-09"),
            (legacy.owners(), "/crm/v3/owners"),
        ];
        for (built, expected) in cases {
            assert_eq!(built, expected);
        }
    }

    #[test]
    fn versions_read_as_the_config_spells_them() {
        assert_eq!(ApiVersion::default(), ApiVersion::V2026_09);
        assert_eq!(ApiVersion::parse("v3"), Some(ApiVersion::V3));
        assert_eq!(ApiVersion::parse("2026-09"), Some(ApiVersion::V2026_09));
        assert_eq!(ApiVersion::parse("2026-03"), None);
        assert_eq!(ApiVersion::parse("v4"), None);
        assert!(ApiVersion::V2026_09.enforces_write_rules());
        assert!(!ApiVersion::V3.enforces_write_rules());
    }
}
