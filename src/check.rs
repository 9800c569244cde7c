//! What `truce check` concludes from the config and the two systems' own descriptions of
//! their fields, as pure data: no I/O, table-tested.
//!
//! The command asks each connector to describe the objects of every synced pair
//! ([`Connector::describe`], the contract's system-neutral [`FieldInfo`]), then hands the
//! answers here. [`mapping_checks`] returns one [`Line`] per
//! finding, every problem at once: unknown properties and fields, incompatible types,
//! enumeration values missing on the other side, required Salesforce fields nobody fills,
//! read-only targets, and a configured external-id field that is missing or not flagged.
//! A side that could not be reached is `None` and its checks are skipped (the command
//! already reported why). [`sla`] checks `[sla]` the same way.

pub mod sla;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[cfg(doc)]
use truce_connectors::Connector;
use truce_connectors::{FieldInfo, FieldKind, ObjectType, System};

use crate::config::{Config, CreatePolicy, FieldMapping, FieldType, Pair, Rule};

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

/// What the two systems said about the fields of each object they were asked about (an
/// object missing: it was not reachable, or not asked about).
#[derive(Debug, Clone, Default)]
pub struct Described<'a> {
    objects: BTreeMap<ObjectType, &'a [FieldInfo]>,
}

impl<'a> Described<'a> {
    /// Adds what a system said about `object`.
    pub fn with(mut self, object: ObjectType, fields: Option<&'a [FieldInfo]>) -> Described<'a> {
        if let Some(fields) = fields {
            self.objects.insert(object, fields);
        }
        self
    }

    fn object(&self, object: ObjectType) -> Option<&'a [FieldInfo]> {
        self.objects.get(&object).copied()
    }

    /// The HubSpot property `name` of `object`: `None` when the object was not described,
    /// `Some(None)` when it has no such property.
    fn property(&self, object: ObjectType, name: &str) -> Option<Option<&'a FieldInfo>> {
        self.object(object)
            .map(|props| props.iter().find(|p| p.name == name))
    }
}

fn field<'a>(object: &'a [FieldInfo], name: &str) -> Option<&'a FieldInfo> {
    object.iter().find(|f| f.name.eq_ignore_ascii_case(name))
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

fn kind_of(kind: &FieldKind) -> Kind {
    match kind {
        FieldKind::Enumeration | FieldKind::MultiEnumeration => Kind::Enum,
        FieldKind::Number => Kind::Number,
        FieldKind::Bool => Kind::Bool,
        FieldKind::Date => Kind::Date,
        FieldKind::DateTime => Kind::Datetime,
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

/// The Salesforce objects a mapping applies to (without `on`: all of its pair's).
fn targets(mapping: &FieldMapping) -> &[ObjectType] {
    mapping
        .on
        .as_deref()
        .unwrap_or(mapping.object.salesforce_objects())
}

fn applies(mapping: &FieldMapping, object: ObjectType) -> bool {
    targets(mapping).contains(&object)
}

/// A HubSpot object's name for one record (`contact`, `company`, `deal`).
fn singular(object: ObjectType) -> &'static str {
    match object {
        ObjectType::HubSpotCompany => "company",
        ObjectType::HubSpotDeal => "deal",
        _ => "contact",
    }
}

/// The pairs the config syncs: `contacts`, and what `[sync] objects` adds.
fn synced(config: &Config) -> Vec<Pair> {
    Pair::ALL
        .into_iter()
        .filter(|p| *p == Pair::Contacts || config.sync.objects.contains(p))
        .collect()
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
        let hubspot = mapping.object.hubspot_object();
        let unseen: Vec<String> = std::iter::once(hubspot)
            .chain(targets(mapping).iter().copied())
            .filter(|o| described.object(*o).is_none())
            .map(|o| format!("{} {o}", o.system().label()))
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
    for pair in synced(config) {
        check_required(config, pair, described, &mut out);
    }
    check_pipeline(config, described, &mut out);
    check_external_ids(config, described, &mut out);
    out
}

/// `[deals] pipeline`: deals made from Opportunities go there, so it must be one of the
/// portal's live pipelines, or every such create is refused.
fn check_pipeline(config: &Config, described: &Described<'_>, out: &mut Vec<Line>) {
    if !synced(config).contains(&Pair::Deals)
        || config.deals.create_in_hubspot == CreatePolicy::Never
    {
        return;
    }
    let Some(Some(property)) = described.property(ObjectType::HubSpotDeal, "pipeline") else {
        return;
    };
    let pipeline = &config.deals.pipeline;
    if property.options.iter().any(|p| p == pipeline) {
        out.push(Line::ok(format!(
            "deals.pipeline: deals made from Opportunities go into pipeline {pipeline:?}"
        )));
    } else {
        out.push(Line::fail(format!(
            "deals.pipeline: HubSpot has no deal pipeline {pipeline:?} (its pipelines: {}); \
             set [deals] pipeline to one of them, or every deal made from an Opportunity \
             is refused",
            property.options.join(", ")
        )));
    }
}

fn check_mapping(
    name: &str,
    mapping: &FieldMapping,
    described: &Described<'_>,
    out: &mut Vec<Line>,
) {
    if mapping.hubspot.starts_with('@') {
        check_reference(name, mapping, described, out);
        return;
    }
    let hubspot = mapping.object.hubspot_object();
    let property = match described.property(hubspot, &mapping.hubspot) {
        Some(None) => {
            out.push(Line::fail(format!(
                "{name}: HubSpot has no {} property `{}` (check its internal name in \
                 Settings > Properties)",
                singular(hubspot),
                mapping.hubspot
            )));
            None
        }
        Some(Some(p)) => Some(p),
        None => None,
    };
    for &object in targets(mapping) {
        let Some(describe) = described.object(object) else {
            continue;
        };
        let object = object.as_str();
        let Some(sf) = field(describe, &mapping.salesforce) else {
            out.push(Line::fail(format!(
                "{name}: Salesforce {object} has no field `{}` (custom fields end in __c; \
                 is the field visible to truce's user?)",
                mapping.salesforce
            )));
            continue;
        };
        if writes_salesforce(mapping.rule) && sf.read_only {
            out.push(Line::fail(format!(
                "{name}: {object}.{} is read-only for truce's user, but rule {} writes it; \
                 use always_salesforce or none, or grant edit access",
                sf.name,
                mapping.rule.as_str()
            )));
        }
        let Some(p) = property else { continue };
        let (h, s) = (kind_of(&p.kind), kind_of(&sf.kind));
        // HubSpot keeps some calendar dates (a deal's `closedate`) as datetimes at midnight
        // UTC; `type = "date"` reads them as that day, so they meet a Salesforce date.
        let as_date = mapping.field_type == Some(FieldType::Date)
            && matches!(
                (h, s),
                (Kind::Datetime, Kind::Date) | (Kind::Date, Kind::Datetime)
            );
        if !compatible(h, s) && !as_date {
            out.push(Line::fail(format!(
                "{name}: type mismatch: HubSpot `{}` is {} but {object}.{} is {}",
                p.name, p.api_type, sf.name, sf.api_type
            )));
            continue;
        }
        check_values(name, mapping, p, object, sf, out);
    }
    if let Some(p) = property {
        check_declared_type(name, mapping, p, out);
    }
}

/// An association (`@company`, `@contacts`): its Salesforce side must be a reference field
/// (`AccountId`) or, for a set, the child object holding the references
/// (`OpportunityContactRole`); HubSpot's associations are not properties to describe.
fn check_reference(
    name: &str,
    mapping: &FieldMapping,
    described: &Described<'_>,
    out: &mut Vec<Line>,
) {
    if mapping.hubspot.ends_with('s') {
        return;
    }
    for &object in targets(mapping) {
        let Some(describe) = described.object(object) else {
            continue;
        };
        match field(describe, &mapping.salesforce) {
            None => out.push(Line::fail(format!(
                "{name}: Salesforce {object} has no field `{}`",
                mapping.salesforce
            ))),
            Some(f) if f.kind != FieldKind::Reference => out.push(Line::fail(format!(
                "{name}: {object}.{} is a {}, not a reference: an association maps to a field \
                 holding the id of another record (AccountId)",
                f.name, f.api_type
            ))),
            Some(_) => {}
        }
    }
}

/// Values are compared as text unless the mapping says otherwise: dates, instants,
/// numbers and booleans need their `type` so both sides' spellings compare equal.
fn check_declared_type(name: &str, mapping: &FieldMapping, p: &FieldInfo, out: &mut Vec<Line>) {
    let wanted = match kind_of(&p.kind) {
        Kind::Date => "date",
        Kind::Datetime if mapping.field_type == Some(FieldType::Date) => return,
        Kind::Datetime => "datetime",
        Kind::Number => "number",
        Kind::Bool => "bool",
        Kind::Text | Kind::Enum => return,
    };
    if mapping.field_type.is_none() {
        out.push(Line::warn(format!(
            "{name}: HubSpot `{}` is a {} but the mapping has no `type = \"{wanted}\"`; \
             values are compared as text, so equal values spelt differently are rewritten",
            p.name, p.api_type
        )));
    }
}

/// Enumeration values: every entry of the value table exists on its side; without a
/// table, every value one side can send exists on the other.
fn check_values(
    name: &str,
    mapping: &FieldMapping,
    p: &FieldInfo,
    object: &str,
    sf: &FieldInfo,
    out: &mut Vec<Line>,
) {
    let (hubspot, salesforce) = (listed_options(p), listed_options(sf));
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

/// The values an enumeration allows, when the field lists them all.
fn listed_options(f: &FieldInfo) -> Option<BTreeSet<&str>> {
    (kind_of(&f.kind) == Kind::Enum && !f.options_elsewhere)
        .then(|| f.options.iter().map(String::as_str).collect())
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
    match described.property(ObjectType::HubSpotContact, &qualify.property) {
        None => {}
        Some(None) => out.push(Line::fail(format!(
            "sync.qualify: HubSpot has no contact property `{}`, so no contact would ever \
             qualify for Salesforce",
            qualify.property
        ))),
        Some(Some(p)) if kind_of(&p.kind) == Kind::Enum && !p.options_elsewhere => {
            let missing: Vec<&str> = qualify
                .values
                .iter()
                .map(String::as_str)
                .filter(|v| !p.options.iter().any(|o| o == v))
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

/// The Salesforce object truce creates for `pair`, when its config lets it create one.
fn created_in_salesforce(config: &Config, pair: Pair) -> Option<ObjectType> {
    match pair {
        Pair::Contacts => Some(config.sync.create_salesforce_as.object_type()),
        Pair::Companies => (config.companies.create_in_salesforce != CreatePolicy::Never)
            .then_some(ObjectType::SalesforceAccount),
        Pair::Deals => (config.deals.create_in_salesforce != CreatePolicy::Never)
            .then_some(ObjectType::SalesforceOpportunity),
    }
}

/// Fields Salesforce requires on create of the object truce creates for `pair`: each needs
/// a mapping, and a `salesforce_if_blank` for records that have no value.
fn check_required(config: &Config, pair: Pair, described: &Described<'_>, out: &mut Vec<Line>) {
    let Some(object) = created_in_salesforce(config, pair) else {
        return;
    };
    let Some(describe) = described.object(object) else {
        return;
    };
    let name = object.as_str();
    let what = match pair {
        Pair::Contacts => "a contact",
        Pair::Companies => "a company",
        Pair::Deals => "a deal",
    };
    for f in describe.iter().filter(|f| f.required) {
        let mapping = config.fields.iter().find(|m| {
            m.object == pair && applies(m, object) && m.salesforce.eq_ignore_ascii_case(&f.name)
        });
        match mapping {
            None => out.push(Line::fail(format!(
                "{name}.{} is required by Salesforce and no [[field]] maps it: add a mapping \
                 with {} and `salesforce_if_blank = \"...\"`, or truce cannot create {what} \
                 in Salesforce",
                f.name,
                match pair {
                    Pair::Contacts => format!("`on = [\"{name}\"]`"),
                    other => format!("`object = \"{}\"`", other.as_str()),
                }
            ))),
            Some(m) if m.salesforce_if_blank.is_none() && m.hubspot != "email" => {
                out.push(Line::warn(format!(
                    "{name}.{} is required and mapped from `{}` without salesforce_if_blank: \
                     {what} with no {} will be quarantined instead of created",
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

/// Every id field a create upserts on: `(config key, object, field)`.
fn id_fields(config: &Config) -> Vec<(&'static str, ObjectType, &str)> {
    let pairs = synced(config);
    let mut out = Vec::new();
    if let Some(ext) = &config.salesforce.external_id_field {
        for object in [ObjectType::SalesforceLead, ObjectType::SalesforceContact] {
            out.push(("salesforce.external_id_field", object, ext.as_str()));
        }
    }
    let revenue = [
        (
            Pair::Companies,
            &config.companies.external_id_field,
            &config.companies.hubspot_id_property,
        ),
        (
            Pair::Deals,
            &config.deals.external_id_field,
            &config.deals.hubspot_id_property,
        ),
    ];
    for (pair, external, property) in revenue {
        if !pairs.contains(&pair) {
            continue;
        }
        let (salesforce_key, hubspot_key) = match pair {
            Pair::Companies => (
                "companies.external_id_field",
                "companies.hubspot_id_property",
            ),
            _ => ("deals.external_id_field", "deals.hubspot_id_property"),
        };
        if let Some(ext) = external {
            out.push((salesforce_key, pair.salesforce_objects()[0], ext.as_str()));
        }
        if let Some(property) = property {
            out.push((hubspot_key, pair.hubspot_object(), property.as_str()));
        }
    }
    out
}

/// Each id field exists and can be upserted on.
fn check_external_ids(config: &Config, described: &Described<'_>, out: &mut Vec<Line>) {
    for (key, object, name) in id_fields(config) {
        let Some(describe) = described.object(object) else {
            continue;
        };
        let (how, what) = match object.system() {
            System::Salesforce => ("Text, External ID, Unique", "an External ID"),
            System::HubSpot => (
                "single-line text with unique values",
                "a unique-value property",
            ),
        };
        match field(describe, name) {
            None => out.push(Line::fail(format!(
                "{key}: {object} has no field `{name}`; create it ({how}) or remove the key"
            ))),
            Some(f) if !f.upsert_key => out.push(Line::fail(format!(
                "{key}: {object}.{} is not {what}, so creates cannot upsert on it",
                f.name
            ))),
            Some(f) => out.push(Line::ok(format!(
                "{key}: {object}.{} is {what}; creates are upserts",
                f.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn text_and_enumerations_mix_but_numbers_dates_and_booleans_must_match() {
        use FieldKind::*;
        let cases = [
            (String, Email, true),
            (String, Enumeration, true),
            (Enumeration, Reference, true),
            (Enumeration, Enumeration, true),
            (Number, Number, true),
            (Number, String, false),
            (Date, Date, true),
            (Date, DateTime, false),
            (DateTime, String, false),
            (Bool, Bool, true),
            (Bool, String, false),
        ];
        for (hubspot, salesforce, ok) in cases {
            assert_eq!(
                compatible(kind_of(&hubspot), kind_of(&salesforce)),
                ok,
                "{hubspot:?} <-> {salesforce:?}"
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

    fn info(name: &str, kind: FieldKind, api_type: &str, options: &[&str]) -> FieldInfo {
        FieldInfo {
            name: name.into(),
            label: name.into(),
            kind,
            api_type: api_type.into(),
            required: false,
            max_length: None,
            options: options.iter().map(|o| o.to_string()).collect(),
            options_elsewhere: false,
            unique: false,
            upsert_key: false,
            read_only: false,
            filled_on_create: false,
        }
    }

    fn stage_property() -> Vec<FieldInfo> {
        vec![info(
            "lifecyclestage",
            FieldKind::Enumeration,
            "enumeration",
            &[
                "lead",
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "opportunity",
                "customer",
            ],
        )]
    }

    fn lead(picklist: &[&str]) -> Vec<FieldInfo> {
        vec![
            info("Rating", FieldKind::Enumeration, "picklist", picklist),
            FieldInfo {
                required: true,
                ..info("LastName", FieldKind::String, "string", &[])
            },
        ]
    }

    fn failures(config: &Config, properties: &[FieldInfo], lead: &[FieldInfo]) -> Vec<String> {
        let described = Described::default()
            .with(ObjectType::HubSpotContact, Some(properties))
            .with(ObjectType::SalesforceLead, Some(lead));
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
        let properties = stage_property();
        let described = Described::default()
            .with(ObjectType::HubSpotContact, Some(&properties))
            .with(ObjectType::SalesforceLead, Some(&lead));
        let lines = mapping_checks(&mapped, &described, &|_| None);
        assert!(
            lines
                .iter()
                .any(|l| l.verdict == Verdict::Warn && l.text.contains("will be quarantined")),
            "{lines:#?}"
        );
    }

    fn revenue_config(fields: &str) -> Config {
        config(&format!(
            "[sync]\nobjects = [\"companies\", \"deals\"]\n\
             [companies]\ncreate_in_salesforce = \"always\"\n\
             hubspot_id_property = \"salesforce_account_id\"\n\
             [deals]\nexternal_id_field = \"HubSpot_Deal_Id__c\"\n{fields}"
        ))
    }

    #[test]
    fn revenue_pairs_are_checked_like_people_required_fields_stages_references_and_id_fields() {
        let fields = "[[field]]\nobject = \"deals\"\nhubspot = \"dealstage\"\n\
                      salesforce = \"StageName\"\n\
                      values = { \"appointmentscheduled\" = \"Prospecting\", \"bogus\" = \"Won-ish\" }\n\
                      [[field]]\nobject = \"deals\"\nhubspot = \"@company\"\nsalesforce = \"Amount\"\n\
                      [[field]]\nhubspot = \"@company\"\nsalesforce = \"AccountId\"\non = [\"Contact\"]\n";
        let config = revenue_config(fields);
        let stages = [info(
            "dealstage",
            FieldKind::Enumeration,
            "enumeration",
            &["appointmentscheduled", "closedwon"],
        )];
        let picklist = [
            info(
                "StageName",
                FieldKind::Enumeration,
                "picklist",
                &["Prospecting", "Closed Won"],
            ),
            info("Amount", FieldKind::Number, "currency", &[]),
            FieldInfo {
                upsert_key: true,
                ..info("HubSpot_Deal_Id__c", FieldKind::String, "string", &[])
            },
        ];
        let account = [FieldInfo {
            required: true,
            ..info("Name", FieldKind::String, "string", &[])
        }];
        let contact = [info("AccountId", FieldKind::Reference, "reference", &[])];
        let companies = [info("name", FieldKind::String, "string", &[])];
        let people = stage_property();
        let described = Described::default()
            .with(ObjectType::HubSpotDeal, Some(&stages))
            .with(ObjectType::SalesforceOpportunity, Some(&picklist))
            .with(ObjectType::SalesforceAccount, Some(&account))
            .with(ObjectType::SalesforceContact, Some(&contact))
            .with(ObjectType::HubSpotCompany, Some(&companies))
            .with(ObjectType::HubSpotContact, Some(&people));
        let lines = mapping_checks(&config, &described, &|_| None);
        let failed: Vec<&str> = lines
            .iter()
            .filter(|l| l.verdict == Verdict::Fail)
            .map(|l| l.text.as_str())
            .collect();
        let has = |needle: &str| failed.iter().any(|f| f.contains(needle));
        assert!(
            has("\"bogus\" that HubSpot `dealstage` does not offer"),
            "{failed:#?}"
        );
        assert!(
            has("\"Won-ish\" missing from the Opportunity.StageName picklist"),
            "{failed:#?}"
        );
        assert!(
            has("Opportunity.Amount is a currency, not a reference"),
            "{failed:#?}"
        );
        assert!(
            has("Account.Name is required by Salesforce and no [[field]] maps it"),
            "{failed:#?}"
        );
        assert!(
            has("companies.hubspot_id_property: companies has no field `salesforce_account_id`"),
            "{failed:#?}"
        );
        assert_eq!(failed.len(), 5, "{failed:#?}");
        assert!(
            lines.iter().any(|l| l.verdict == Verdict::Ok
                && l.text
                    .contains("deals.external_id_field: Opportunity.HubSpot_Deal_Id__c")),
            "{lines:#?}"
        );
    }
}
