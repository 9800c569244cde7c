//! The truce config file a world writes: the real format, pointing at the served
//! sandboxes, with secrets in files beside it and one list of field mappings, [`FIELDS`],
//! for the demo, the end-to-end tests and the benchmark alike.

use std::fmt::Write as _;
use std::path::Path;

/// The file holding the HubSpot token, beside the config.
pub const HUBSPOT_TOKEN_FILE: &str = "hubspot-token";
/// The file holding the Salesforce client id, beside the config.
pub const SALESFORCE_CLIENT_ID_FILE: &str = "salesforce-client-id";
/// The file holding the Salesforce client secret, beside the config.
pub const SALESFORCE_CLIENT_SECRET_FILE: &str = "salesforce-client-secret";

/// One `[[field]]` mapping of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The object pair (`object = ...`); `None` is `contacts`.
    pub object: Option<&'static str>,
    /// The HubSpot property.
    pub hubspot: &'static str,
    /// The Salesforce field.
    pub salesforce: &'static str,
    /// The one Salesforce object it applies to (`on = [...]`); `None` is both.
    pub on: Option<&'static str>,
    /// The conflict rule; `None` is truce's default (`two_way`).
    pub rule: Option<&'static str>,
    /// What to send Salesforce when HubSpot has no value.
    pub salesforce_if_blank: Option<&'static str>,
    /// The value map, as a TOML inline table.
    pub values: Option<&'static str>,
    /// The value type (`type = ...`); `None` is text.
    pub field_type: Option<&'static str>,
}

const PLAIN: Field = Field {
    object: None,
    hubspot: "",
    salesforce: "",
    on: None,
    rule: None,
    salesforce_if_blank: None,
    values: None,
    field_type: None,
};

/// The field mappings every world's config holds: the example config's, with a rule of
/// each kind but `none` (a caller wanting it replaces one rule, see [`Config::rules`]).
pub const FIELDS: [Field; 9] = [
    Field {
        hubspot: "email",
        salesforce: "Email",
        ..PLAIN
    },
    Field {
        hubspot: "firstname",
        salesforce: "FirstName",
        ..PLAIN
    },
    Field {
        hubspot: "lastname",
        salesforce: "LastName",
        rule: Some("prefer_salesforce_unless_blank"),
        salesforce_if_blank: Some("[not provided]"),
        ..PLAIN
    },
    Field {
        hubspot: "company",
        salesforce: "Company",
        on: Some("Lead"),
        rule: Some("prefer_hubspot_unless_blank"),
        salesforce_if_blank: Some("[not provided]"),
        ..PLAIN
    },
    Field {
        hubspot: "phone",
        salesforce: "Phone",
        rule: Some("always_hubspot"),
        ..PLAIN
    },
    Field {
        hubspot: "city",
        salesforce: "City",
        on: Some("Lead"),
        ..PLAIN
    },
    Field {
        hubspot: "city",
        salesforce: "MailingCity",
        on: Some("Contact"),
        ..PLAIN
    },
    Field {
        hubspot: "jobtitle",
        salesforce: "Title",
        ..PLAIN
    },
    Field {
        hubspot: "hs_lead_status",
        salesforce: "Status",
        on: Some("Lead"),
        rule: Some("always_salesforce"),
        values: Some(
            r#"{ "NEW" = "Open - Not Contacted", "IN_PROGRESS" = "Working - Contacted", "OPEN_DEAL" = "Closed - Converted", "UNQUALIFIED" = "Closed - Not Converted" }"#,
        ),
        ..PLAIN
    },
];

/// The industries both sandboxes' worlds use, as `(HubSpot value, Salesforce value)`: the
/// value table of the `industry` mapping. Seeded companies only take these.
pub const INDUSTRIES: [(&str, &str); 6] = [
    ("COMPUTER_SOFTWARE", "Technology"),
    ("BANKING", "Banking"),
    ("INSURANCE", "Insurance"),
    ("RETAIL", "Retail"),
    ("TELECOMMUNICATIONS", "Telecommunications"),
    ("UTILITIES", "Utilities"),
];

/// The deal stages both worlds use, as `(HubSpot stage id of the default pipeline,
/// Salesforce StageName)`: the value table of the `dealstage` mapping.
pub const STAGES: [(&str, &str); 7] = [
    ("appointmentscheduled", "Prospecting"),
    ("qualifiedtobuy", "Qualification"),
    ("presentationscheduled", "Needs Analysis"),
    ("decisionmakerboughtin", "Proposal/Price Quote"),
    ("contractsent", "Negotiation/Review"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
];

/// The mappings of the `companies` pair, and a person's company.
pub const COMPANY_FIELDS: [Field; 8] = [
    Field {
        object: Some("companies"),
        hubspot: "name",
        salesforce: "Name",
        rule: Some("prefer_hubspot_unless_blank"),
        salesforce_if_blank: Some("[no name]"),
        ..PLAIN
    },
    Field {
        object: Some("companies"),
        hubspot: "domain",
        salesforce: "Website",
        ..PLAIN
    },
    Field {
        object: Some("companies"),
        hubspot: "phone",
        salesforce: "Phone",
        ..PLAIN
    },
    Field {
        object: Some("companies"),
        hubspot: "city",
        salesforce: "BillingCity",
        ..PLAIN
    },
    Field {
        object: Some("companies"),
        hubspot: "industry",
        salesforce: "Industry",
        values: Some(
            r#"{ "COMPUTER_SOFTWARE" = "Technology", "BANKING" = "Banking", "INSURANCE" = "Insurance", "RETAIL" = "Retail", "TELECOMMUNICATIONS" = "Telecommunications", "UTILITIES" = "Utilities" }"#,
        ),
        ..PLAIN
    },
    Field {
        object: Some("companies"),
        hubspot: "numberofemployees",
        salesforce: "NumberOfEmployees",
        field_type: Some("number"),
        ..PLAIN
    },
    Field {
        object: Some("companies"),
        hubspot: "annualrevenue",
        salesforce: "AnnualRevenue",
        field_type: Some("number"),
        ..PLAIN
    },
    Field {
        hubspot: "@company",
        salesforce: "AccountId",
        on: Some("Contact"),
        ..PLAIN
    },
];

/// The mappings of the `deals` pair.
pub const DEAL_FIELDS: [Field; 6] = [
    Field {
        object: Some("deals"),
        hubspot: "dealname",
        salesforce: "Name",
        salesforce_if_blank: Some("[no name]"),
        ..PLAIN
    },
    Field {
        object: Some("deals"),
        hubspot: "amount",
        salesforce: "Amount",
        field_type: Some("number"),
        ..PLAIN
    },
    Field {
        object: Some("deals"),
        hubspot: "closedate",
        salesforce: "CloseDate",
        field_type: Some("date"),
        ..PLAIN
    },
    Field {
        object: Some("deals"),
        hubspot: "dealstage",
        salesforce: "StageName",
        values: Some(
            r#"{ "appointmentscheduled" = "Prospecting", "qualifiedtobuy" = "Qualification", "presentationscheduled" = "Needs Analysis", "decisionmakerboughtin" = "Proposal/Price Quote", "contractsent" = "Negotiation/Review", "closedwon" = "Closed Won", "closedlost" = "Closed Lost" }"#,
        ),
        ..PLAIN
    },
    Field {
        object: Some("deals"),
        hubspot: "@company",
        salesforce: "AccountId",
        ..PLAIN
    },
    Field {
        object: Some("deals"),
        hubspot: "@contacts",
        salesforce: "OpportunityContactRole",
        ..PLAIN
    },
];

/// The limits the HubSpot connector is told to keep (`[hubspot]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubSpotLimits {
    /// `requests_per_10s`.
    pub requests_per_10s: u32,
    /// `search_requests_per_second`.
    pub search_requests_per_second: u32,
    /// `daily_quota`; `None` leaves truce's default.
    pub daily_quota: Option<u64>,
}

/// What a world's config says beyond where the sandboxes are.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[sync] poll_interval`, a duration string.
    pub poll_interval: String,
    /// `[sync] lookback`, a duration string.
    pub lookback: String,
    /// `[salesforce] external_id_field`; `None` leaves it out, as the example config does.
    pub external_id_field: Option<String>,
    /// The HubSpot connector's limits; `None` leaves truce's defaults.
    pub hubspot_limits: Option<HubSpotLimits>,
    /// Lines added to `[sync]`.
    pub extra_sync: String,
    /// `(HubSpot property, rule)`: rules replacing those of [`FIELDS`].
    pub rules: Vec<(String, String)>,
    /// Tables appended after the field mappings (`[sla]`, `[metrics]`...), as TOML text.
    pub sections: String,
    /// The object pairs synced besides `contacts` (`companies`, `deals`): their mappings
    /// ([`COMPANY_FIELDS`], [`DEAL_FIELDS`]) and tables are written too.
    pub objects: Vec<String>,
}

/// The demo's `[sla]`: a first touch short enough to see breaches within a minute, and the
/// outcome written to the sandbox portal's `truce_sla` property.
pub const DEMO_SLA: &str = "[sla]\nfirst_touch = \"20s\"\nuntouched = [\"Open - Not Contacted\"]\n\
                            hubspot_property = \"truce_sla\"\n";

impl Config {
    /// The demo's: contacts, companies and deals, a short poll so edits show up within
    /// seconds, and creates keyed on the sandbox org's external-id fields.
    pub fn demo() -> Config {
        Config {
            poll_interval: "2s".into(),
            lookback: "10s".into(),
            external_id_field: Some("HubSpot_Contact_Id__c".into()),
            hubspot_limits: None,
            extra_sync: String::new(),
            rules: Vec::new(),
            sections: DEMO_SLA.into(),
            objects: vec!["companies".into(), "deals".into()],
        }
    }

    /// The tables of the revenue pairs this config syncs: creates keyed on the sandbox
    /// org's and portal's id fields, so a create whose answer was lost is found again.
    fn revenue_sections(&self) -> String {
        let mut out = String::new();
        if self.objects.iter().any(|o| o == "companies") {
            out.push_str(
                "\n[companies]\nexternal_id_field = \"HubSpot_Company_Id__c\"\n\
                 hubspot_id_property = \"salesforce_account_id\"\n",
            );
        }
        if self.objects.iter().any(|o| o == "deals") {
            out.push_str(
                "\n[deals]\nexternal_id_field = \"HubSpot_Deal_Id__c\"\n\
                 hubspot_id_property = \"salesforce_opportunity_id\"\n",
            );
        }
        out
    }

    /// The config file's text for sandboxes at `hubspot_url` and `salesforce_url` and a
    /// state file at `state`; secrets are read from the files named above.
    pub fn render(&self, hubspot_url: &str, salesforce_url: &str, state: &Path) -> String {
        let mut out = format!(
            "# Written for the sandboxes on 127.0.0.1: the real config format, secrets in files.\n\n\
             [state]\npath = \"{}\"\n\n\
             [hubspot]\nbase_url = \"{hubspot_url}\"\ntoken = {{ file = \"{HUBSPOT_TOKEN_FILE}\" }}\n",
            state.display()
        );
        if let Some(limits) = &self.hubspot_limits {
            let _ = writeln!(out, "requests_per_10s = {}", limits.requests_per_10s);
            let _ = writeln!(
                out,
                "search_requests_per_second = {}",
                limits.search_requests_per_second
            );
            if let Some(daily) = limits.daily_quota {
                let _ = writeln!(out, "daily_quota = {daily}");
            }
        }
        let _ = write!(
            out,
            "\n[salesforce]\nlogin_url = \"{salesforce_url}\"\n\
             client_id = {{ file = \"{SALESFORCE_CLIENT_ID_FILE}\" }}\n\
             client_secret = {{ file = \"{SALESFORCE_CLIENT_SECRET_FILE}\" }}\n"
        );
        if let Some(field) = &self.external_id_field {
            let _ = writeln!(out, "external_id_field = \"{field}\"");
        }
        let _ = writeln!(
            out,
            "\n[sync]\npoll_interval = \"{}\"\nlookback = \"{}\"",
            self.poll_interval, self.lookback
        );
        if !self.objects.is_empty() {
            let _ = writeln!(out, "objects = [\"{}\"]", self.objects.join("\", \""));
        }
        if !self.extra_sync.is_empty() {
            let _ = writeln!(out, "{}", self.extra_sync);
        }
        out.push_str(&self.revenue_sections());
        out.push_str(&self.fields());
        if !self.sections.is_empty() {
            let _ = write!(out, "\n{}", self.sections);
        }
        out
    }

    /// The mappings this config writes: [`FIELDS`], and those of each revenue pair it
    /// syncs.
    pub fn mappings(&self) -> Vec<Field> {
        let mut out = FIELDS.to_vec();
        if self.objects.iter().any(|o| o == "companies") {
            out.extend(COMPANY_FIELDS);
        }
        if self.objects.iter().any(|o| o == "deals") {
            out.extend(DEAL_FIELDS);
        }
        out
    }

    /// The `[[field]]` tables, with this config's rules in place of the mappings' own.
    pub fn fields(&self) -> String {
        let mut out = String::new();
        for field in &self.mappings() {
            let rule = self
                .rules
                .iter()
                .find(|(hubspot, _)| hubspot == field.hubspot)
                .map(|(_, rule)| rule.as_str())
                .or(field.rule);
            out.push_str("\n[[field]]\n");
            if let Some(object) = field.object {
                let _ = writeln!(out, "object = \"{object}\"");
            }
            let _ = writeln!(
                out,
                "hubspot = \"{}\"\nsalesforce = \"{}\"",
                field.hubspot, field.salesforce
            );
            if let Some(object) = field.on {
                let _ = writeln!(out, "on = [\"{object}\"]");
            }
            if let Some(rule) = rule {
                let _ = writeln!(out, "rule = \"{rule}\"");
            }
            if let Some(blank) = field.salesforce_if_blank {
                let _ = writeln!(out, "salesforce_if_blank = \"{blank}\"");
            }
            if let Some(values) = field.values {
                let _ = writeln!(out, "values = {values}");
            }
            if let Some(kind) = field.field_type {
                let _ = writeln!(out, "type = \"{kind}\"");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_render_every_key_and_a_replaced_rule() {
        let mut config = Config::demo();
        let fields = config.fields();
        assert_eq!(
            fields.matches("[[field]]").count(),
            FIELDS.len() + COMPANY_FIELDS.len() + DEAL_FIELDS.len()
        );
        assert!(fields.contains("object = \"deals\"\nhubspot = \"@contacts\"\n"));
        assert!(fields.contains(
            "\n[[field]]\nhubspot = \"company\"\nsalesforce = \"Company\"\non = [\"Lead\"]\n\
             rule = \"prefer_hubspot_unless_blank\"\nsalesforce_if_blank = \"[not provided]\"\n"
        ));
        assert!(fields.contains("\n[[field]]\nhubspot = \"jobtitle\"\nsalesforce = \"Title\"\n\n"));
        config.rules.push(("jobtitle".into(), "none".into()));
        assert!(
            config
                .fields()
                .contains("hubspot = \"jobtitle\"\nsalesforce = \"Title\"\nrule = \"none\"\n")
        );
    }

    #[test]
    fn the_config_names_the_secret_files_and_only_the_limits_it_sets() {
        let text = Config::demo().render(
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            Path::new("/tmp/x/truce.db"),
        );
        assert!(
            text.contains("token = { file = \"hubspot-token\" }"),
            "{text}"
        );
        assert!(text.contains("external_id_field = \"HubSpot_Contact_Id__c\""));
        assert!(text.ends_with(DEMO_SLA), "{text}");
        assert!(!text.contains("requests_per_10s"));
        let limited = Config {
            external_id_field: None,
            hubspot_limits: Some(HubSpotLimits {
                requests_per_10s: 190,
                search_requests_per_second: 5,
                daily_quota: None,
            }),
            objects: Vec::new(),
            ..Config::demo()
        }
        .render("h", "s", Path::new("db"));
        assert!(limited.contains("requests_per_10s = 190\nsearch_requests_per_second = 5\n"));
        assert!(!limited.contains("daily_quota") && !limited.contains("external_id_field"));
    }
}
