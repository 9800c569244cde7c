//! Every rule through every combination of base, HubSpot and Salesforce being equal,
//! different and blank.

use super::*;

fn v(label: char) -> Value {
    match label {
        '_' => None,
        other => Some(other.to_string()),
    }
}

/// Renders a decision compactly: `agreed:b`, `prop sf=h`, `revert hs=b`,
/// `conflict(sf) hs=s`, `fill hs=s`, `untouched`, `conflict(none)`.
fn render(decision: &Decision) -> String {
    let write = |d: &Decision| match &d.write {
        Some((side, value)) => format!(
            "{}={}",
            match side {
                Side::HubSpot => "hs",
                Side::Salesforce => "sf",
            },
            value.as_deref().unwrap_or("_")
        ),
        None => "-".into(),
    };
    match &decision.kind {
        Kind::Agreed => format!(
            "agreed:{}",
            decision.agreed.clone().flatten().unwrap_or("_".into())
        ),
        Kind::Propagated => format!("prop {}", write(decision)),
        Kind::Reverted => format!("revert {}", write(decision)),
        Kind::Filled => format!("fill {}", write(decision)),
        Kind::Untouched => "untouched".into(),
        Kind::Conflict { winner: None } => "conflict(none)".into(),
        Kind::Conflict {
            winner: Some(winner),
        } => format!(
            "conflict({}) {}",
            match winner {
                Side::HubSpot => "hs",
                Side::Salesforce => "sf",
            },
            write(decision)
        ),
    }
}

/// Cases as `base h s`, where base `?` means "never synced". In conflicts Salesforce's
/// change is the later one.
const CASES: [&str; 13] = [
    "bbb", "bhb", "bbs", "bhs", "b_b", "bb_", "bh_", "_h_", "__s", "?hs", "?h_", "?_s", "bhh",
];

fn decide(rule: Rule, case: &str) -> String {
    let chars: Vec<char> = case.chars().collect();
    let base = (chars[0] != '?').then(|| v(chars[0]));
    let (h, s) = (v(chars[1]), v(chars[2]));
    render(&merge_field(&FieldState {
        base: base.as_ref(),
        hubspot: &h,
        salesforce: &s,
        hubspot_changed_at: 10,
        salesforce_changed_at: 20,
        rule,
    }))
}

fn check(rule: Rule, expected: [&str; 13]) {
    let got: Vec<String> = CASES.iter().map(|case| decide(rule, case)).collect();
    let rows: Vec<String> = CASES
        .iter()
        .zip(&got)
        .zip(expected)
        .filter(|((_, got), want)| got.as_str() != *want)
        .map(|((case, got), want)| format!("{case}: got `{got}`, want `{want}`"))
        .collect();
    assert!(rows.is_empty(), "{rule}:\n{}", rows.join("\n"));
}

#[test]
fn two_way_propagates_lone_changes_and_gives_conflicts_to_the_later_change() {
    check(
        Rule::TwoWay,
        [
            "agreed:b",
            "prop sf=h",
            "prop hs=s",
            "conflict(sf) hs=s",
            "prop sf=_",
            "prop hs=_",
            "conflict(sf) hs=_",
            "prop sf=h",
            "prop hs=s",
            "conflict(sf) hs=s",
            "fill sf=h",
            "fill hs=s",
            "agreed:h",
        ],
    );
}

#[test]
fn prefer_hubspot_unless_blank_lets_salesforce_only_fill_blanks() {
    check(
        Rule::PreferHubspotUnlessBlank,
        [
            "agreed:b",
            "prop sf=h",
            "revert sf=b",
            "conflict(hs) sf=h",
            "revert hs=b",
            "revert sf=b",
            "conflict(hs) sf=h",
            "prop sf=h",
            "prop hs=s",
            "conflict(hs) sf=h",
            "fill sf=h",
            "fill hs=s",
            "agreed:h",
        ],
    );
}

#[test]
fn prefer_salesforce_unless_blank_lets_hubspot_only_fill_blanks() {
    check(
        Rule::PreferSalesforceUnlessBlank,
        [
            "agreed:b",
            "revert hs=b",
            "prop hs=s",
            "conflict(sf) hs=s",
            "revert hs=b",
            "revert sf=b",
            "conflict(hs) sf=h",
            "prop sf=h",
            "prop hs=s",
            "conflict(sf) hs=s",
            "fill sf=h",
            "fill hs=s",
            "agreed:h",
        ],
    );
}

#[test]
fn always_hubspot_is_one_way_and_puts_salesforce_edits_back() {
    check(
        Rule::AlwaysHubspot,
        [
            "agreed:b",
            "prop sf=h",
            "revert sf=b",
            "conflict(hs) sf=h",
            "prop sf=_",
            "revert sf=b",
            "conflict(hs) sf=h",
            "prop sf=h",
            "revert sf=_",
            "conflict(hs) sf=h",
            "fill sf=h",
            "conflict(hs) sf=_",
            "agreed:h",
        ],
    );
}

#[test]
fn always_salesforce_is_one_way_and_puts_hubspot_edits_back() {
    check(
        Rule::AlwaysSalesforce,
        [
            "agreed:b",
            "revert hs=b",
            "prop hs=s",
            "conflict(sf) hs=s",
            "revert hs=b",
            "prop hs=_",
            "conflict(sf) hs=_",
            "revert hs=_",
            "prop hs=s",
            "conflict(sf) hs=s",
            "conflict(sf) hs=_",
            "fill hs=s",
            "agreed:h",
        ],
    );
}

#[test]
fn none_never_writes_and_still_reports_conflicts() {
    check(
        Rule::None,
        [
            "agreed:b",
            "untouched",
            "untouched",
            "conflict(none)",
            "untouched",
            "untouched",
            "conflict(none)",
            "untouched",
            "untouched",
            "untouched",
            "untouched",
            "untouched",
            "agreed:h",
        ],
    );
}

const RULES: [Rule; 6] = [
    Rule::TwoWay,
    Rule::PreferHubspotUnlessBlank,
    Rule::PreferSalesforceUnlessBlank,
    Rule::AlwaysHubspot,
    Rule::AlwaysSalesforce,
    Rule::None,
];

/// Every (base, h, s) over the labels, base also "never synced".
fn all_states() -> Vec<(Option<Value>, Value, Value)> {
    let labels = ['_', 'b', 'h', 's'];
    let mut out = Vec::new();
    for base in labels.iter().map(|l| Some(v(*l))).chain([None]) {
        for h in labels {
            for s in labels {
                out.push((base.clone(), v(h), v(s)));
            }
        }
    }
    out
}

#[test]
fn no_decision_writes_a_value_the_target_already_has() {
    for rule in RULES {
        for (base, h, s) in all_states() {
            for (h_at, s_at) in [(10, 20), (20, 10), (10, 10)] {
                let d = merge_field(&FieldState {
                    base: base.as_ref(),
                    hubspot: &h,
                    salesforce: &s,
                    hubspot_changed_at: h_at,
                    salesforce_changed_at: s_at,
                    rule,
                });
                if let Some((side, value)) = &d.write {
                    let current = if *side == Side::HubSpot { &h } else { &s };
                    assert_ne!(current, value, "{rule} {base:?} {h:?} {s:?}: {d:?}");
                }
                // After the write both sides hold the agreed value.
                if let Some(agreed) = &d.agreed {
                    let (mut h2, mut s2) = (h.clone(), s.clone());
                    if let Some((side, value)) = &d.write {
                        *(if *side == Side::HubSpot {
                            &mut h2
                        } else {
                            &mut s2
                        }) = value.clone();
                    }
                    assert_eq!((&h2, &s2), (agreed, agreed), "{rule} {base:?} {h:?} {s:?}");
                }
            }
        }
    }
}

#[test]
fn one_way_rules_never_write_to_their_own_side_and_none_never_writes() {
    for (base, h, s) in all_states() {
        let decide = |rule| {
            merge_field(&FieldState {
                base: base.as_ref(),
                hubspot: &h,
                salesforce: &s,
                hubspot_changed_at: 1,
                salesforce_changed_at: 2,
                rule,
            })
        };
        assert!(!matches!(
            decide(Rule::AlwaysHubspot).write,
            Some((Side::HubSpot, _))
        ));
        assert!(!matches!(
            decide(Rule::AlwaysSalesforce).write,
            Some((Side::Salesforce, _))
        ));
        assert!(decide(Rule::None).write.is_none());
    }
}

#[test]
fn two_way_ties_go_to_hubspot() {
    let (b, h, s) = (v('b'), v('h'), v('s'));
    let d = merge_field(&FieldState {
        base: Some(&b),
        hubspot: &h,
        salesforce: &s,
        hubspot_changed_at: 5,
        salesforce_changed_at: 5,
        rule: Rule::TwoWay,
    });
    assert_eq!(render(&d), "conflict(hs) sf=h");
}

fn set(items: &str) -> BTreeSet<String> {
    items.chars().map(String::from).collect()
}

fn merge_sets(rule: Rule, base: Option<&str>, h: &str, s: &str) -> SetDecision {
    let base = base.map(set);
    merge_set(&SetState {
        base: base.as_ref(),
        hubspot: &set(h),
        salesforce: &set(s),
        hubspot_changed_at: 0,
        salesforce_changed_at: 1,
        rule,
    })
}

#[test]
fn an_element_added_on_one_side_and_another_removed_on_the_other_both_stand() {
    // Base {a, b}; HubSpot added c; Salesforce removed b.
    let d = merge_sets(Rule::TwoWay, Some("ab"), "abc", "a");
    assert_eq!(d.to_hubspot, Some(set("ac")));
    assert_eq!(d.to_salesforce, Some(set("ac")));
    assert_eq!(d.agreed, Some(set("ac")));
    assert!(d.conflicts.is_empty());
}

/// `(rule, base, hubspot, salesforce, HubSpot's new set, Salesforce's new set, agreed)`.
type SetCase<'a> = (
    Rule,
    Option<&'a str>,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

#[test]
fn sets_merge_element_by_element_under_every_rule() {
    // (rule, base, hubspot, salesforce) → (HubSpot's new set, Salesforce's new set, agreed)
    let cases: [SetCase<'_>; 9] = [
        (Rule::TwoWay, Some("ab"), "ab", "ab", None, None, Some("ab")),
        (
            Rule::TwoWay,
            None,
            "ab",
            "bc",
            Some("abc"),
            Some("abc"),
            Some("abc"),
        ),
        (Rule::TwoWay, Some("a"), "", "a", None, Some(""), Some("")),
        (
            Rule::AlwaysHubspot,
            None,
            "ab",
            "bc",
            None,
            Some("ab"),
            Some("ab"),
        ),
        (
            Rule::AlwaysHubspot,
            Some("ab"),
            "ab",
            "abc",
            None,
            Some("ab"),
            Some("ab"),
        ),
        (
            Rule::AlwaysSalesforce,
            Some("ab"),
            "abc",
            "ab",
            Some("ab"),
            None,
            Some("ab"),
        ),
        (
            Rule::PreferHubspotUnlessBlank,
            None,
            "a",
            "b",
            Some("ab"),
            Some("ab"),
            Some("ab"),
        ),
        (Rule::None, Some("a"), "ab", "a", None, None, None),
        (Rule::TwoWay, None, "", "", None, None, Some("")),
    ];
    for (rule, base, h, s, to_h, to_s, agreed) in cases {
        let d = merge_sets(rule, base, h, s);
        let label = format!("{rule} base={base:?} h={h} s={s}");
        assert_eq!(d.to_hubspot, to_h.map(set), "to HubSpot, {label}");
        assert_eq!(d.to_salesforce, to_s.map(set), "to Salesforce, {label}");
        assert_eq!(d.agreed, agreed.map(set), "agreed, {label}");
    }
}

#[test]
fn an_element_the_losing_side_added_under_a_one_way_rule_is_reverted() {
    let d = merge_sets(Rule::AlwaysHubspot, Some("a"), "a", "ax");
    assert_eq!(d.reverted, vec![("x".to_string(), Side::Salesforce)]);
    assert_eq!(d.to_salesforce, Some(set("a")));
}
