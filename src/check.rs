//! What `truce check` concludes from the config and the two systems' own descriptions of
//! their fields, as pure data: no I/O, table-tested.
//!
//! The command fetches HubSpot's contact property definitions and Salesforce's describe of
//! Lead and Contact, then hands them here. [`mapping_checks`] returns one [`Line`] per
//! finding, every problem at once: unknown properties and fields, incompatible types,
//! enumeration values missing on the other side, required Salesforce fields nobody fills,
//! read-only targets, and a configured external-id field that is missing or not flagged.
//! A side that could not be reached is `None` and its checks are skipped (the command
//! already reported why). [`sla`] checks `[sla]` the same way.

pub mod sla;

use std::collections::BTreeSet;
use std::fmt;

use truce_connectors::hubspot::wire::Property;
use truce_connectors::salesforce::wire::{DescribeField, DescribeSObject};

use crate::config::{Config, FieldMapping, Rule, SalesforceObject};

/// How a finding counts toward the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Checked and fine.
    Ok,
    /// Works, but some records will be quarantined; worth a look.
    Warn,
    /// Must be fixed: `truce check` exits non-zero.
    Fail,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Ok, warn or fail.
    pub verdict: Verdict,
    /// What was checked, or what is wrong and what to do.
    pub text: String,
}

impl Line {
    /// A passed check.
    pub fn ok(text: impl Into<String>) -> Line {
        Line {
            verdict: Verdict::Ok,
            text: text.into(),
        }
    }

    /// A warning.
    pub fn warn(text: impl Into<String>) -> Line {
        Line {
            verdict: Verdict::Warn,
            text: text.into(),
        }
    }

    /// A problem.
    pub fn fail(text: impl Into<String>) -> Line {
        Line {
            verdict: Verdict::Fail,
            text: text.into(),
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        write!(f, "  {mark}  {}", self.text)
    }
}

/// What the two systems said about their fields (`None`: that side was not reachable).
#[derive(Debug, Clone, Copy, Default)]
pub struct Described<'a> {
    /// HubSpot's contact property definitions.
    pub hubspot: Option<&'a [Property]>,
    /// Salesforce's describe of Lead.
    pub lead: Option<&'a DescribeSObject>,
    /// Salesforce's describe of Contact.
    pub contact: Option<&'a DescribeSObject>,
}

impl<'a> Described<'a> {
    fn object(&self, object: SalesforceObject) -> Option<&'a DescribeSObject> {
        match object {
            SalesforceObject::Lead => self.lead,
            SalesforceObject::Contact => self.contact,
        }
    }

    fn property(&self, name: &str) -> Option<Option<&'a Property>> {
        self.hubspot
            .map(|props| props.iter().find(|p| p.name == name && !p.archived))
    }
}

fn field<'a>(object: &'a DescribeSObject, name: &str) -> Option<&'a DescribeField> {
    object
        .fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
}

/// The kinds of value both sides agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Enum,
    Number,
    Bool,
    Date,
    Datetime,
}

fn hubspot_kind(kind: &str) -> Kind {
    match kind {
        "enumeration" => Kind::Enum,
        "number" => Kind::Number,
        "bool" => Kind::Bool,
        "date" => Kind::Date,
        "datetime" => Kind::Datetime,
        _ => Kind::Text,
    }
}

fn salesforce_kind(ty: &str) -> Kind {
    match ty {
        "picklist" | "multipicklist" => Kind::Enum,
        "double" | "currency" | "int" | "percent" | "long" => Kind::Number,
        "boolean" => Kind::Bool,
        "date" => Kind::Date,
        "datetime" => Kind::Datetime,
        _ => Kind::Text,
    }
}

/// Text and enumerations carry the same strings (values are checked separately); every
/// other kind must match exactly, or values would not survive the trip.
fn compatible(a: Kind, b: Kind) -> bool {
    a == b || matches!((a, b), (Kind::Text, Kind::Enum) | (Kind::Enum, Kind::Text))
}

/// True when the rule ever writes HubSpot's value into Salesforce.
fn writes_salesforce(rule: Rule) -> bool {
    !matches!(rule, Rule::AlwaysSalesforce | Rule::None)
}

/// True when the rule ever writes Salesforce's value into HubSpot.
fn writes_hubspot(rule: Rule) -> bool {
    !matches!(rule, Rule::AlwaysHubspot | Rule::None)
}

/// True when a mapping applies to this Salesforce object (without `on`: to all of its
/// pair's).
fn applies(mapping: &FieldMapping, object: SalesforceObject) -> bool {
    let object = object.object_type();
    mapping
        .on
        .as_deref()
        .unwrap_or(mapping.object.salesforce_objects())
        .contains(&object)
}

fn object_name(object: SalesforceObject) -> &'static str {
    match object {
        SalesforceObject::Lead => "Lead",
        SalesforceObject::Contact => "Contact",
    }
}

/// How a `[[field]]` is named in findings: its position, both names and its line.
fn label(index: usize, mapping: &FieldMapping, line: Option<usize>) -> String {
    let at = line.map(|l| format!(", line {l}")).unwrap_or_default();
    format!(
        "field[{index}] ({} <-> {}{at})",
        mapping.hubspot, mapping.salesforce
    )
}

/// Every finding about the field mappings, the qualification filter, the required
/// Salesforce fields and the external-id field. `line_of_field(i)` gives the config line
/// of the `i`-th `[[field]]`.
pub fn mapping_checks(
    config: &Config,
    described: &Described<'_>,
    line_of_field: &dyn Fn(usize) -> Option<usize>,
) -> Vec<Line> {
    let mut out = Vec::new();
    for (i, mapping) in config.fields.iter().enumerate() {
        let name = label(i, mapping, line_of_field(i));
        let before = out.len();
        check_mapping(&name, mapping, described, &mut out);
        let unseen: Vec<&str> = [
            described.hubspot.is_none().then_some("HubSpot"),
            (applies(mapping, SalesforceObject::Lead) && described.lead.is_none())
                .then_some("Salesforce Lead"),
            (applies(mapping, SalesforceObject::Contact) && described.contact.is_none())
                .then_some("Salesforce Contact"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !unseen.is_empty() {
            // Not a pass: the side was not reachable, and that failure is already listed.
            out.push(Line::warn(format!(
                "{name}: not checked against {} (not reachable, see above)",
                unseen.join(", ")
            )));
        } else if out.len() == before {
            out.push(Line::ok(format!(
                "{name}: both exist, types match, rule {}",
                mapping.rule.as_str()
            )));
        }
    }
    check_qualify(config, described, &mut out);
    check_required(config, described, &mut out);
    check_external_id(config, described, &mut out);
    out
}

fn check_mapping(
    name: &str,
    mapping: &FieldMapping,
    described: &Described<'_>,
    out: &mut Vec<Line>,
) {
    let property = match described.property(&mapping.hubspot) {
        Some(None) => {
            out.push(Line::fail(format!(
                "{name}: HubSpot has no contact property `{}` (check its internal name in \
                 Settings > Properties)",
                mapping.hubspot
            )));
            None
        }
        Some(Some(p)) => Some(p),
        None => None,
    };
    for object in [SalesforceObject::Lead, SalesforceObject::Contact] {
        if !applies(mapping, object) {
            continue;
        }
        let Some(describe) = described.object(object) else {
            continue;
        };
        let object = object_name(object);
        let Some(sf) = field(describe, &mapping.salesforce) else {
            out.push(Line::fail(format!(
                "{name}: Salesforce {object} has no field `{}` (custom fields end in __c; \
                 is the field visible to truce's user?)",
                mapping.salesforce
            )));
            continue;
        };
        if writes_salesforce(mapping.rule) && !sf.updateable && !sf.createable {
            out.push(Line::fail(format!(
                "{name}: {object}.{} is read-only for truce's user, but rule {} writes it; \
                 use always_salesforce or none, or grant edit access",
                sf.name,
                mapping.rule.as_str()
            )));
        }
        let Some(p) = property else { continue };
        let (h, s) = (hubspot_kind(&p.kind), salesforce_kind(&sf.ty));
        if !compatible(h, s) {
            out.push(Line::fail(format!(
                "{name}: type mismatch: HubSpot `{}` is {} but {object}.{} is {}",
                p.name, p.kind, sf.name, sf.ty
            )));
            continue;
        }
        check_values(name, mapping, p, object, sf, out);
    }
    if let Some(p) = property {
        check_declared_type(name, mapping, p, out);
    }
}

/// Values are compared as text unless the mapping says otherwise: dates, instants,
/// numbers and booleans need their `type` so both sides' spellings compare equal.
fn check_declared_type(name: &str, mapping: &FieldMapping, p: &Property, out: &mut Vec<Line>) {
    let wanted = match hubspot_kind(&p.kind) {
        Kind::Date => "date",
        Kind::Datetime => "datetime",
        Kind::Number => "number",
        Kind::Bool => "bool",
        Kind::Text | Kind::Enum => return,
    };
    if mapping.field_type.is_none() {
        out.push(Line::warn(format!(
            "{name}: HubSpot `{}` is a {} but the mapping has no `type = \"{wanted}\"`; \
             values are compared as text, so equal values spelt differently are rewritten",
            p.name, p.kind
        )));
    }
}

/// Enumeration values: every entry of the value table exists on its side; without a
/// table, every value one side can send exists on the other.
fn check_values(
    name: &str,
    mapping: &FieldMapping,
    p: &Property,
    object: &str,
    sf: &DescribeField,
    out: &mut Vec<Line>,
) {
    let hubspot: Option<BTreeSet<&str>> = (hubspot_kind(&p.kind) == Kind::Enum
        && !p.external_options)
        .then(|| p.options.iter().map(|o| o.value.as_str()).collect());
    let salesforce: Option<BTreeSet<&str>> = (salesforce_kind(&sf.ty) == Kind::Enum).then(|| {
        sf.picklist_values
            .iter()
            .filter(|v| v.active)
            .map(|v| v.value.as_str())
            .collect()
    });
    if !mapping.values.is_empty() {
        if let Some(options) = &hubspot {
            let missing: Vec<&str> = mapping
                .values
                .keys()
                .map(String::as_str)
                .filter(|v| !options.contains(v))
                .collect();
            if !missing.is_empty() {
                out.push(Line::fail(format!(
                    "{name}: values table names {} that HubSpot `{}` does not offer",
                    quoted(&missing),
                    p.name
                )));
            }
        }
        if let Some(picklist) = &salesforce {
            let missing: Vec<&str> = mapping
                .values
                .values()
                .map(String::as_str)
                .filter(|v| !picklist.contains(v))
                .collect();
            if !missing.is_empty() {
                out.push(Line::fail(format!(
                    "{name}: values table names {} missing from the {object}.{} picklist \
                     (add them in Salesforce Setup or fix the table)",
                    quoted(&missing),
                    sf.name
                )));
            }
        }
        return;
    }
    if let (Some(options), Some(picklist)) = (&hubspot, &salesforce) {
        let to_salesforce: Vec<&str> = options.difference(picklist).copied().collect();
        if writes_salesforce(mapping.rule) && !to_salesforce.is_empty() {
            out.push(Line::fail(format!(
                "{name}: HubSpot values {} are missing from the {object}.{} picklist; add \
                 them in Salesforce or map values with a `values` table",
                quoted(&to_salesforce),
                sf.name
            )));
        }
        let to_hubspot: Vec<&str> = picklist.difference(options).copied().collect();
        if writes_hubspot(mapping.rule) && !to_hubspot.is_empty() {
            out.push(Line::fail(format!(
                "{name}: Salesforce values {} are not options of HubSpot `{}`; add them \
                 in HubSpot or map values with a `values` table",
                quoted(&to_hubspot),
                p.name
            )));
        }
    }
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_qualify(config: &Config, described: &Described<'_>, out: &mut Vec<Line>) {
    let qualify = &config.sync.qualify;
    match described.property(&qualify.property) {
        None => {}
        Some(None) => out.push(Line::fail(format!(
            "sync.qualify: HubSpot has no contact property `{}`, so no contact would ever \
             qualify for Salesforce",
            qualify.property
        ))),
        Some(Some(p)) if hubspot_kind(&p.kind) == Kind::Enum && !p.external_options => {
            let missing: Vec<&str> = qualify
                .values
                .iter()
                .map(String::as_str)
                .filter(|v| !p.options.iter().any(|o| o.value == *v))
                .collect();
            if missing.is_empty() {
                out.push(Line::ok(format!(
                    "sync.qualify: contacts qualify for Salesforce when `{}` is one of {}",
                    p.name,
                    qualify.values.join(", ")
                )));
            } else {
                out.push(Line::fail(format!(
                    "sync.qualify: {} not options of HubSpot `{}`",
                    quoted(&missing),
                    p.name
                )));
            }
        }
        Some(Some(p)) => out.push(Line::ok(format!(
            "sync.qualify: contacts qualify when `{}` is one of {}",
            p.name,
            qualify.values.join(", ")
        ))),
    }
}

/// Fields Salesforce requires on create (not nillable, createable, not defaulted) of the
/// object truce creates: each needs a mapping, and a `salesforce_if_blank` for contacts
/// that have no value.
fn check_required(config: &Config, described: &Described<'_>, out: &mut Vec<Line>) {
    let object = config.sync.create_salesforce_as;
    let Some(describe) = described.object(object) else {
        return;
    };
    let name = object_name(object);
    for f in describe
        .fields
        .iter()
        .filter(|f| !f.nillable && f.createable && !f.defaulted_on_create)
    {
        let mapping = config
            .fields
            .iter()
            .find(|m| applies(m, object) && m.salesforce.eq_ignore_ascii_case(&f.name));
        match mapping {
            None => out.push(Line::fail(format!(
                "{name}.{} is required by Salesforce and no [[field]] maps it: add a mapping \
                 with `on = [\"{name}\"]` and `salesforce_if_blank = \"...\"`, or truce cannot \
                 create {name}s",
                f.name
            ))),
            Some(m) if m.salesforce_if_blank.is_none() && m.hubspot != "email" => {
                out.push(Line::warn(format!(
                    "{name}.{} is required and mapped from `{}` without salesforce_if_blank: \
                     a contact with no {} will be quarantined instead of created",
                    f.name, m.hubspot, m.hubspot
                )))
            }
            Some(m) => out.push(Line::ok(format!(
                "{name}.{} (required) is filled from `{}`{}",
                f.name,
                m.hubspot,
                m.salesforce_if_blank
                    .as_deref()
                    .map(|d| format!(", or {d:?} when blank"))
                    .unwrap_or_default()
            ))),
        }
    }
}

fn check_external_id(config: &Config, described: &Described<'_>, out: &mut Vec<Line>) {
    let Some(ext) = &config.salesforce.external_id_field else {
        return;
    };
    for object in [SalesforceObject::Lead, SalesforceObject::Contact] {
        let Some(describe) = described.object(object) else {
            continue;
        };
        let name = object_name(object);
        match field(describe, ext) {
            None => out.push(Line::fail(format!(
                "salesforce.external_id_field: {name} has no field `{ext}`; create it (Text, \
                 External ID, Unique) or remove the key"
            ))),
            Some(f) if !f.external_id => out.push(Line::fail(format!(
                "salesforce.external_id_field: {name}.{} is not flagged External ID, so \
                 creates cannot upsert on it",
                f.name
            ))),
            Some(f) => out.push(Line::ok(format!(
                "salesforce.external_id_field: {name}.{} is an External ID; creates are upserts",
                f.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn text_and_enumerations_mix_but_numbers_dates_and_booleans_must_match() {
        let cases = [
            ("string", "email", true),
            ("string", "picklist", true),
            ("enumeration", "reference", true),
            ("enumeration", "picklist", true),
            ("number", "currency", true),
            ("number", "string", false),
            ("date", "date", true),
            ("date", "datetime", false),
            ("datetime", "url", false),
            ("bool", "boolean", true),
            ("bool", "string", false),
        ];
        for (hubspot, salesforce, ok) in cases {
            assert_eq!(
                compatible(hubspot_kind(hubspot), salesforce_kind(salesforce)),
                ok,
                "{hubspot} <-> {salesforce}"
            );
        }
    }

    fn config(fields: &str) -> Config {
        toml::from_str(&format!(
            "[hubspot]\ntoken = {{ env = \"T\" }}\n[salesforce]\nclient_id = {{ env = \"I\" }}\n\
             client_secret = {{ env = \"S\" }}\n{fields}"
        ))
        .unwrap()
    }

    fn stage_property() -> Vec<Property> {
        vec![
            serde_json::from_value(json!({
                "name": "lifecyclestage", "type": "enumeration",
                "options": [
                    {"label": "Lead", "value": "lead"},
                    {"label": "MQL", "value": "marketingqualifiedlead"},
                    {"label": "SQL", "value": "salesqualifiedlead"},
                    {"label": "Opportunity", "value": "opportunity"},
                    {"label": "Customer", "value": "customer"},
                ],
            }))
            .unwrap(),
        ]
    }

    fn lead(picklist: &[&str]) -> DescribeSObject {
        let values: Vec<_> = picklist
            .iter()
            .map(|v| json!({"value": v, "active": true}))
            .collect();
        serde_json::from_value(json!({
            "name": "Lead",
            "fields": [
                {"name": "Rating", "type": "picklist", "nillable": true, "createable": true,
                 "updateable": true, "picklistValues": values},
                {"name": "LastName", "type": "string", "nillable": false, "createable": true,
                 "updateable": true},
            ],
        }))
        .unwrap()
    }

    fn failures(config: &Config, properties: &[Property], lead: &DescribeSObject) -> Vec<String> {
        let described = Described {
            hubspot: Some(properties),
            lead: Some(lead),
            contact: None,
        };
        mapping_checks(config, &described, &|_| None)
            .into_iter()
            .filter(|l| l.verdict == Verdict::Fail)
            .map(|l| l.text)
            .collect()
    }

    #[test]
    fn enumerations_without_a_table_must_offer_the_same_values_in_the_directions_the_rule_writes() {
        let fields = "[[field]]\nhubspot = \"lifecyclestage\"\nsalesforce = \"Rating\"\n\
                      on = [\"Lead\"]\nrule = \"RULE\"\n\
                      [[field]]\nhubspot = \"lifecyclestage\"\nsalesforce = \"LastName\"\n\
                      on = [\"Lead\"]\nsalesforce_if_blank = \"x\"\nrule = \"none\"\n";
        let picklist = lead(&[
            "lead",
            "salesqualifiedlead",
            "opportunity",
            "customer",
            "Hot",
        ]);
        let two_way = failures(
            &config(&fields.replace("RULE", "two_way")),
            &stage_property(),
            &picklist,
        );
        assert_eq!(two_way.len(), 2, "{two_way:#?}");
        assert!(two_way[0].contains("\"marketingqualifiedlead\" are missing from the Lead.Rating"));
        assert!(two_way[1].contains("\"Hot\" are not options of HubSpot"));
        let one_way = failures(
            &config(&fields.replace("RULE", "always_salesforce")),
            &stage_property(),
            &picklist,
        );
        assert_eq!(one_way.len(), 1, "{one_way:#?}");
        assert!(one_way[0].contains("\"Hot\""));
    }

    #[test]
    fn a_required_field_nobody_maps_fails_and_one_mapped_without_a_default_warns() {
        let none = config("");
        let lead = lead(&[]);
        let found = failures(&none, &stage_property(), &lead);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].starts_with("Lead.LastName is required by Salesforce"));
        let mapped = config("[[field]]\nhubspot = \"lifecyclestage\"\nsalesforce = \"LastName\"\n");
        let described = Described {
            hubspot: Some(&stage_property()),
            lead: Some(&lead),
            contact: None,
        };
        let lines = mapping_checks(&mapped, &described, &|_| None);
        assert!(
            lines
                .iter()
                .any(|l| l.verdict == Verdict::Warn && l.text.contains("will be quarantined")),
            "{lines:#?}"
        );
    }
}
