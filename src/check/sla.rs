//! What `truce check` concludes about `[sla]` from each system's description of its fields
//! (the connectors' `describe`): pure data, table-tested.
//!
//! - The Lead's status field exists, and every `untouched` and `closed` value is one of its
//!   picklist values (a misspelt status would make every Lead look worked, or none).
//! - The Lead's owner field exists.
//! - `hubspot_property`, when set, is a writable contact property: an enumeration offering
//!   `met`, `breached` and `discarded_untouched`, or text.
//! - `source_property` exists (otherwise the funnel has no lead sources: a warning).
//!
//! A side that could not be described is `None`; its checks are skipped (the command
//! already said why).

use truce_connectors::{FieldInfo, FieldKind};

use super::Line;
use crate::config::{OUTCOME_VALUES, SlaSection};

fn find<'a>(fields: &'a [FieldInfo], name: &str) -> Option<&'a FieldInfo> {
    fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every `[sla]` finding, given HubSpot's contact properties and Salesforce's Lead fields.
pub fn sla_checks(
    sla: &SlaSection,
    contact: Option<&[FieldInfo]>,
    lead: Option<&[FieldInfo]>,
) -> Vec<Line> {
    let mut out = Vec::new();
    if let Some(lead) = lead {
        check_status(sla, lead, &mut out);
        match find(lead, &sla.owner_field) {
            Some(_) => out.push(Line::ok(format!(
                "sla.owner_field: findings name the Lead's owner from `{}`",
                sla.owner_field
            ))),
            None => out.push(Line::fail(format!(
                "sla.owner_field: Lead has no field `{}`; name the field holding the Lead's \
                 owner (Salesforce's is OwnerId)",
                sla.owner_field
            ))),
        }
    }
    if let Some(contact) = contact {
        if let Some(property) = &sla.hubspot_property {
            check_property(property, contact, &mut out);
        }
        match find(contact, &sla.source_property) {
            Some(_) => out.push(Line::ok(format!(
                "sla.source_property: the funnel groups contacts by `{}`",
                sla.source_property
            ))),
            None => out.push(Line::warn(format!(
                "sla.source_property: HubSpot has no contact property `{}`, so the funnel \
                 will have no lead sources",
                sla.source_property
            ))),
        }
    }
    out
}

fn check_status(sla: &SlaSection, lead: &[FieldInfo], out: &mut Vec<Line>) {
    let Some(status) = find(lead, &sla.status_field) else {
        out.push(Line::fail(format!(
            "sla.status_field: Lead has no field `{}`; name the field holding the Lead's \
             status (Salesforce's is Status)",
            sla.status_field
        )));
        return;
    };
    if status.kind != FieldKind::Enumeration {
        out.push(Line::warn(format!(
            "sla.status_field: Lead `{}` is not a picklist, so `untouched` and `closed` \
             cannot be checked against its values; truce compares them as text",
            status.name
        )));
        return;
    }
    for (key, values) in [("untouched", &sla.untouched), ("closed", &sla.closed)] {
        let missing: Vec<&str> = values
            .iter()
            .map(String::as_str)
            .filter(|v| !status.options.iter().any(|o| o == v))
            .collect();
        if missing.is_empty() {
            out.push(Line::ok(format!(
                "sla.{key}: {} {} Lead {} values",
                quoted(&values.iter().map(String::as_str).collect::<Vec<_>>()),
                if values.len() == 1 { "is a" } else { "are" },
                status.name
            )));
        } else {
            out.push(Line::fail(format!(
                "sla.{key}: {} not values of the Lead {} picklist (it has {}); a Lead is \
                 judged by these exact values",
                quoted(&missing),
                status.name,
                quoted(
                    &status
                        .options
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                )
            )));
        }
    }
}

fn check_property(property: &str, contact: &[FieldInfo], out: &mut Vec<Line>) {
    let create = format!(
        "create it as an enumeration with the options {} (or as single-line text)",
        quoted(&OUTCOME_VALUES)
    );
    let Some(p) = find(contact, property) else {
        out.push(Line::fail(format!(
            "sla.hubspot_property: HubSpot has no contact property `{property}`; {create}"
        )));
        return;
    };
    if p.read_only {
        out.push(Line::fail(format!(
            "sla.hubspot_property: `{property}` is read-only in HubSpot; {create}"
        )));
        return;
    }
    match &p.kind {
        FieldKind::Enumeration => {
            let missing: Vec<&str> = OUTCOME_VALUES
                .into_iter()
                .filter(|v| !p.options.iter().any(|o| o == v))
                .collect();
            if missing.is_empty() {
                out.push(Line::ok(format!(
                    "sla.hubspot_property: the outcome is written to `{property}` \
                     (an enumeration offering {})",
                    quoted(&OUTCOME_VALUES)
                )));
            } else {
                out.push(Line::fail(format!(
                    "sla.hubspot_property: `{property}` lacks the option{} {}; add {} to it",
                    if missing.len() == 1 { "" } else { "s" },
                    quoted(&missing),
                    if missing.len() == 1 { "it" } else { "them" }
                )));
            }
        }
        FieldKind::String => out.push(Line::ok(format!(
            "sla.hubspot_property: the outcome is written to `{property}` (text)"
        ))),
        other => out.push(Line::fail(format!(
            "sla.hubspot_property: `{property}` is {other:?}, not an enumeration or text; \
             {create}"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::check::Verdict;

    fn field(name: &str, kind: FieldKind, options: &[&str]) -> FieldInfo {
        FieldInfo {
            name: name.into(),
            label: name.into(),
            kind,
            api_type: "enumeration".into(),
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

    fn lead() -> Vec<FieldInfo> {
        vec![
            field(
                "Status",
                FieldKind::Enumeration,
                &[
                    "Open - Not Contacted",
                    "Working - Contacted",
                    "Closed - Converted",
                    "Closed - Not Converted",
                ],
            ),
            field("OwnerId", FieldKind::Reference, &[]),
        ]
    }

    fn contact(sla: FieldInfo) -> Vec<FieldInfo> {
        vec![
            sla,
            field("hs_analytics_source", FieldKind::Enumeration, &[]),
        ]
    }

    fn section(extra: &str) -> SlaSection {
        toml::from_str(&format!(
            "first_touch = \"24h\"\nuntouched = [\"Open - Not Contacted\"]\n\
             hubspot_property = \"truce_sla\"\n{extra}"
        ))
        .unwrap()
    }

    fn verdicts(lines: &[Line]) -> Vec<Verdict> {
        lines.iter().map(|l| l.verdict).collect()
    }

    #[test]
    fn a_picklist_with_the_values_and_an_enumeration_with_the_outcomes_pass() {
        let property = field("truce_sla", FieldKind::Enumeration, &OUTCOME_VALUES);
        let lines = sla_checks(&section(""), Some(&contact(property)), Some(&lead()));
        assert!(lines.iter().all(|l| l.verdict == Verdict::Ok), "{lines:#?}");
        assert_eq!(lines.len(), 5);
        let text = field("truce_sla", FieldKind::String, &[]);
        let lines = sla_checks(&section(""), Some(&contact(text)), Some(&lead()));
        assert!(lines.iter().all(|l| l.verdict == Verdict::Ok));
    }

    #[test]
    fn each_mismatch_fails_naming_its_key_and_what_to_do() {
        let cases: Vec<(SlaSection, FieldInfo, &str)> = vec![
            (
                section("closed = [\"Closed - Lost\"]"),
                field("truce_sla", FieldKind::String, &[]),
                "sla.closed: \"Closed - Lost\" not values",
            ),
            (
                section("status_field = \"Stage__c\""),
                field("truce_sla", FieldKind::String, &[]),
                "sla.status_field: Lead has no field `Stage__c`",
            ),
            (
                section(""),
                field("truce_sla", FieldKind::Enumeration, &["met"]),
                "lacks the options \"breached\", \"discarded_untouched\"",
            ),
            (
                section(""),
                field("truce_sla", FieldKind::Number, &[]),
                "not an enumeration or text",
            ),
            (
                section(""),
                field("other", FieldKind::String, &[]),
                "HubSpot has no contact property `truce_sla`; create it as an enumeration",
            ),
            (
                section(""),
                FieldInfo {
                    read_only: true,
                    ..field("truce_sla", FieldKind::String, &[])
                },
                "is read-only",
            ),
        ];
        for (sla, property, expected) in cases {
            let lines = sla_checks(&sla, Some(&contact(property)), Some(&lead()));
            let failed: Vec<&Line> = lines
                .iter()
                .filter(|l| l.verdict == Verdict::Fail)
                .collect();
            assert_eq!(failed.len(), 1, "{expected}: {lines:#?}");
            assert!(
                failed[0].text.contains(expected),
                "{expected}: {}",
                failed[0].text
            );
        }
    }

    #[test]
    fn a_missing_source_warns_and_an_unreachable_side_is_skipped() {
        let lines = sla_checks(&section(""), Some(&[]), None);
        assert_eq!(verdicts(&lines), [Verdict::Fail, Verdict::Warn]);
        assert!(sla_checks(&section(""), None, None).is_empty());
    }
}
