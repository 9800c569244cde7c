//! The three-way field merge: pure data in, a decision out, no I/O.
//!
//! For one field of one link, given the base `b` (the value both sides last agreed on, if
//! they ever did), HubSpot's value `h` and Salesforce's value `s` — all canonical, `None`
//! meaning blank — and the field's [`Rule`], [`merge_field`] decides what to write where.
//! docs/mapping.md (*The rules*) and docs/architecture.md (*One record, start to end*) say what users rely on; the table tests
//! at the bottom walk every rule through every combination of equal, different and blank.
//!
//! ## Decisions
//!
//! - `h == s`: agreed. Nothing is written; the base becomes that value.
//! - Exactly one side moved away from the base: that side changed. The change is copied to
//!   the other side when the rule lets that side win; otherwise the changed side is put
//!   back (a *revert*, logged at INFO so nobody wonders where their edit went).
//! - Both moved: a conflict. The rule picks the winner, the loser is overwritten.
//! - No base yet (first sync): a blank side is filled from the other when the rule allows
//!   it; two different values are a conflict.
//!
//! Which side "wins" under each rule, when both have something to say:
//!
//! | rule | winner |
//! |---|---|
//! | `two_way` | the later change (ties go to HubSpot, where marketing's edit started) |
//! | `prefer_hubspot_unless_blank` | HubSpot when it has a value, else Salesforce |
//! | `prefer_salesforce_unless_blank` | Salesforce when it has a value, else HubSpot |
//! | `always_hubspot` | HubSpot, even when blank |
//! | `always_salesforce` | Salesforce, even when blank |
//! | `none` | nobody: nothing is ever written |
//!
//! ## Sets
//!
//! A set-valued field (a deal's contacts, as links) is merged by [`merge_set`], element by
//! element: each element is a field that is present or blank, under the same rule. An
//! element added on one side and another removed on the other both stand.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

/// How conflicts on a field are decided (docs/mapping.md, *The rules*); the config names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The most recent change wins.
    TwoWay,
    /// HubSpot wins whenever it has a value; Salesforce only fills a blank.
    PreferHubspotUnlessBlank,
    /// Salesforce wins whenever it has a value; HubSpot only fills a blank.
    PreferSalesforceUnlessBlank,
    /// One-way from HubSpot.
    AlwaysHubspot,
    /// One-way from Salesforce.
    AlwaysSalesforce,
    /// Never written; for matching and display.
    None,
}

impl Rule {
    /// The rule's name as written in the config and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::TwoWay => "two_way",
            Rule::PreferHubspotUnlessBlank => "prefer_hubspot_unless_blank",
            Rule::PreferSalesforceUnlessBlank => "prefer_salesforce_unless_blank",
            Rule::AlwaysHubspot => "always_hubspot",
            Rule::AlwaysSalesforce => "always_salesforce",
            Rule::None => "none",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of the two systems, as a side of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// HubSpot.
    HubSpot,
    /// Salesforce.
    Salesforce,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::HubSpot => Side::Salesforce,
            Side::Salesforce => Side::HubSpot,
        }
    }

    /// `hubspot` or `salesforce`, as in the log contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::HubSpot => "hubspot",
            Side::Salesforce => "salesforce",
        }
    }
}

/// A canonical field value; `None` is blank.
pub type Value = Option<String>;

/// Everything the merge needs to know about one field of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldState<'a> {
    /// The last agreed value; `None` when the link was never synced.
    pub base: Option<&'a Value>,
    /// HubSpot's current value.
    pub hubspot: &'a Value,
    /// Salesforce's current value.
    pub salesforce: &'a Value,
    /// When HubSpot's value last changed (ms since epoch), for `two_way`.
    pub hubspot_changed_at: i64,
    /// When Salesforce's value last changed (ms since epoch), for `two_way`.
    pub salesforce_changed_at: i64,
    /// The field's rule.
    pub rule: Rule,
}

/// What happened to one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Both sides hold the same value.
    Agreed,
    /// One side changed and the change is copied to the other.
    Propagated,
    /// One side changed but the rule does not let it win: the change is put back.
    Reverted,
    /// First sync: a blank side is filled from the other.
    Filled,
    /// Both sides changed (or differ on first sync); `winner` decided by the rule, or
    /// `None` under rule `none`.
    Conflict {
        /// The side whose value stands.
        winner: Option<Side>,
    },
    /// The sides differ and the rule writes nothing (rule `none`).
    Untouched,
}

/// The decision for one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What happened.
    pub kind: Kind,
    /// The write to make, if any: the side written and the value it gets.
    pub write: Option<(Side, Value)>,
    /// The value both sides will agree on once the write (if any) succeeds; `None` when
    /// they will not agree (rule `none` with different values).
    pub agreed: Option<Value>,
}

impl Decision {
    fn agreed(value: &Value) -> Decision {
        Decision {
            kind: Kind::Agreed,
            write: None,
            agreed: Some(value.clone()),
        }
    }

    fn write(kind: Kind, target: Side, value: &Value) -> Decision {
        Decision {
            kind,
            write: Some((target, value.clone())),
            agreed: Some(value.clone()),
        }
    }

    fn untouched(kind: Kind) -> Decision {
        Decision {
            kind,
            write: None,
            agreed: None,
        }
    }
}

/// Decides one field. Pure: same input, same decision.
pub fn merge_field(field: &FieldState<'_>) -> Decision {
    let (h, s) = (field.hubspot, field.salesforce);
    if h == s {
        return Decision::agreed(h);
    }
    let Some(base) = field.base else {
        return first_sync(field);
    };
    let hubspot_moved = h != base;
    let salesforce_moved = s != base;
    match (hubspot_moved, salesforce_moved) {
        (true, false) => one_side_changed(field, Side::HubSpot),
        (false, true) => one_side_changed(field, Side::Salesforce),
        // Both moved (or, defensively, neither did yet they differ).
        _ => conflict(field),
    }
}

/// `changed` moved away from the base; the other side still holds it.
fn one_side_changed(field: &FieldState<'_>, changed: Side) -> Decision {
    // Under two_way a lone change always stands: change times only break true conflicts.
    let winner = match (field.rule, winner(field)) {
        (Rule::TwoWay, _) => changed,
        (_, Some(winner)) => winner,
        (_, None) => return Decision::untouched(Kind::Untouched),
    };
    let value = value_of(field, winner);
    if winner == changed {
        Decision::write(Kind::Propagated, changed.other(), value)
    } else {
        Decision::write(Kind::Reverted, changed, value)
    }
}

fn first_sync(field: &FieldState<'_>) -> Decision {
    let (h, s) = (field.hubspot, field.salesforce);
    let blank_side = match (h, s) {
        (None, Some(_)) => Some(Side::HubSpot),
        (Some(_), None) => Some(Side::Salesforce),
        _ => None,
    };
    // Under two_way a blank never beats a value on first sync: there is no change to date.
    let winner = match (field.rule, blank_side) {
        (Rule::TwoWay, Some(blank)) => Some(blank.other()),
        _ => winner(field),
    };
    match (blank_side, winner) {
        (_, None) => Decision::untouched(Kind::Untouched),
        // The rule's winner is the side with the value: fill the blank.
        (Some(blank), Some(winner)) if winner != blank => {
            Decision::write(Kind::Filled, blank, value_of(field, winner))
        }
        // One-way rule whose winning side is blank, or two different values: the rule
        // decides, as a conflict would.
        _ => conflict(field),
    }
}

fn conflict(field: &FieldState<'_>) -> Decision {
    match winner(field) {
        None => Decision::untouched(Kind::Conflict { winner: None }),
        Some(winner) => Decision::write(
            Kind::Conflict {
                winner: Some(winner),
            },
            winner.other(),
            value_of(field, winner),
        ),
    }
}

/// The side whose value stands when the sides differ; `None` under rule `none`.
fn winner(field: &FieldState<'_>) -> Option<Side> {
    let (h, s) = (field.hubspot, field.salesforce);
    Some(match field.rule {
        Rule::None => return None,
        Rule::AlwaysHubspot => Side::HubSpot,
        Rule::AlwaysSalesforce => Side::Salesforce,
        Rule::PreferHubspotUnlessBlank if h.is_some() => Side::HubSpot,
        Rule::PreferHubspotUnlessBlank => Side::Salesforce,
        Rule::PreferSalesforceUnlessBlank if s.is_some() => Side::Salesforce,
        Rule::PreferSalesforceUnlessBlank => Side::HubSpot,
        Rule::TwoWay if field.salesforce_changed_at > field.hubspot_changed_at => Side::Salesforce,
        Rule::TwoWay => Side::HubSpot,
    })
}

fn value_of<'a>(field: &FieldState<'a>, side: Side) -> &'a Value {
    match side {
        Side::HubSpot => field.hubspot,
        Side::Salesforce => field.salesforce,
    }
}

/// A set-valued field (a deal's contacts) for one link: the base set, when the sides ever
/// agreed, and each side's set, all canonical (link ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetState<'a> {
    /// The last agreed set; `None` when the link was never synced.
    pub base: Option<&'a BTreeSet<String>>,
    /// HubSpot's current set.
    pub hubspot: &'a BTreeSet<String>,
    /// Salesforce's current set.
    pub salesforce: &'a BTreeSet<String>,
    /// When HubSpot's set last changed (ms), for `two_way`.
    pub hubspot_changed_at: i64,
    /// When Salesforce's set last changed (ms), for `two_way`.
    pub salesforce_changed_at: i64,
    /// The field's rule.
    pub rule: Rule,
}

/// The decision for a set-valued field: the set each side must end up with (when it must
/// change), the set both will agree on, and the elements on which the sides disagreed
/// with nothing to tell who changed what (first sync), as conflicts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetDecision {
    /// HubSpot's new set, when it changes.
    pub to_hubspot: Option<BTreeSet<String>>,
    /// Salesforce's new set, when it changes.
    pub to_salesforce: Option<BTreeSet<String>>,
    /// The set both sides hold once the writes succeed; `None` when they will not agree
    /// (rule `none`).
    pub agreed: Option<BTreeSet<String>>,
    /// Elements decided as conflicts, with the side that won each.
    pub conflicts: Vec<(String, Option<Side>)>,
    /// Elements put back on the side whose edit the rule does not let stand.
    pub reverted: Vec<(String, Side)>,
}

/// Decides a set element by element: each element is a field that is either present or
/// blank, merged by the same rule as any field. An element added on one side and another
/// removed on the other are two one-sided changes, and both stand.
pub fn merge_set(field: &SetState<'_>) -> SetDecision {
    let present = || Some(String::new());
    let mut hubspot = field.hubspot.clone();
    let mut salesforce = field.salesforce.clone();
    let mut agreed = Some(BTreeSet::new());
    let mut out = SetDecision::default();
    let elements: BTreeSet<&String> = field
        .hubspot
        .iter()
        .chain(field.salesforce)
        .chain(field.base.into_iter().flatten())
        .collect();
    for element in elements {
        let has = |set: &BTreeSet<String>| set.contains(element).then(present).flatten();
        let base = field.base.map(has);
        let decision = merge_field(&FieldState {
            base: base.as_ref(),
            hubspot: &has(field.hubspot),
            salesforce: &has(field.salesforce),
            hubspot_changed_at: field.hubspot_changed_at,
            salesforce_changed_at: field.salesforce_changed_at,
            rule: field.rule,
        });
        if let Some((side, value)) = &decision.write {
            let set = match side {
                Side::HubSpot => &mut hubspot,
                Side::Salesforce => &mut salesforce,
            };
            match value {
                Some(_) => set.insert(element.clone()),
                None => set.remove(element),
            };
            if decision.kind == Kind::Reverted {
                out.reverted.push((element.clone(), *side));
            }
        }
        if let Kind::Conflict { winner } = decision.kind {
            out.conflicts.push((element.clone(), winner));
        }
        match (&mut agreed, decision.agreed) {
            (Some(set), Some(Some(_))) => {
                set.insert(element.clone());
            }
            (_, None) => agreed = None,
            (None, Some(_)) | (Some(_), Some(None)) => {}
        }
    }
    out.to_hubspot = (hubspot != *field.hubspot).then_some(hubspot);
    out.to_salesforce = (salesforce != *field.salesforce).then_some(salesforce);
    out.agreed = agreed;
    out
}

#[cfg(test)]
mod tests;
