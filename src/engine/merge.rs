//! The three-way field merge: pure data in, a decision out, no I/O.
//!
//! For one field of one link, given the base `b` (the value both sides last agreed on, if
//! they ever did), HubSpot's value `h` and Salesforce's value `s` — all canonical, `None`
//! meaning blank — and the field's [`Rule`], [`merge_field`] decides what to write where.
//! DESIGN.md, "Sync cycle" step 3 and "Field rules", is the specification; the table tests
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

use crate::config::Rule;

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

#[cfg(test)]
mod tests;
