//! Associations between records: HubSpot's defined association types and the links the
//! portal holds, with the primary-company rule.
//!
//! A link joins two records of different types and is kept once per direction, with one
//! flag: whether it is *primary*. Only links between a company and a contact or a deal can
//! be primary, and then from the contact's (deal's) side the company is its primary company
//! (type 1 / 5), from the company's side the contact (deal) has it as primary (type 2 / 6).
//! Every link carries the unlabeled type too (279, 341...), so a primary company is listed
//! with two types, as HubSpot lists it.
//!
//! Links never touch the records: creating or removing one leaves both records'
//! last-modified dates alone (HubSpot's behaviour, and the reason a poller must read
//! associations itself).

use std::collections::{BTreeMap, HashMap};

use super::objects::ObjectType;

/// A record: its type and id.
pub type Endpoint = (ObjectType, u64);

/// One HubSpot-defined association type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssociationKind {
    /// From this type...
    pub from: ObjectType,
    /// ...to this one.
    pub to: ObjectType,
    /// The type id.
    pub type_id: u32,
    /// The primary type (1, 2, 5, 6) rather than the unlabeled one.
    pub primary: bool,
    /// The v3 name (`contact_to_company`, `contact_to_company_unlabeled`).
    pub v3_name: &'static str,
}

const fn kind(
    from: ObjectType,
    to: ObjectType,
    type_id: u32,
    primary: bool,
    v3_name: &'static str,
) -> AssociationKind {
    AssociationKind {
        from,
        to,
        type_id,
        primary,
        v3_name,
    }
}

use ObjectType::{Companies, Contacts, Deals};

/// HubSpot's defined types between contacts, companies and deals (`HUBSPOT_DEFINED`).
pub const KINDS: [AssociationKind; 10] = [
    kind(
        Contacts,
        Companies,
        279,
        false,
        "contact_to_company_unlabeled",
    ),
    kind(Contacts, Companies, 1, true, "contact_to_company"),
    kind(
        Companies,
        Contacts,
        280,
        false,
        "company_to_contact_unlabeled",
    ),
    kind(Companies, Contacts, 2, true, "company_to_contact"),
    kind(Deals, Companies, 341, false, "deal_to_company_unlabeled"),
    kind(Deals, Companies, 5, true, "deal_to_company"),
    kind(Companies, Deals, 342, false, "company_to_deal_unlabeled"),
    kind(Companies, Deals, 6, true, "company_to_deal"),
    kind(Deals, Contacts, 3, false, "deal_to_contact"),
    kind(Contacts, Deals, 4, false, "contact_to_deal"),
];

/// The label HubSpot reads out for primary types. HubSpot renamed these labels in 2024
/// and says not to rely on them; `Primary` is what most portals show.
pub const PRIMARY_LABEL: &str = "Primary";

/// The category of every type here.
pub const HUBSPOT_DEFINED: &str = "HUBSPOT_DEFINED";

/// The type `type_id` from `from` to `to`, if HubSpot defines it.
pub fn kind_of(from: ObjectType, to: ObjectType, type_id: i64) -> Option<AssociationKind> {
    KINDS
        .into_iter()
        .find(|k| k.from == from && k.to == to && i64::from(k.type_id) == type_id)
}

/// The type `type_id` from `from` to any type (an `associations` input on create names the
/// type id only).
pub fn kind_from(from: ObjectType, type_id: i64) -> Option<AssociationKind> {
    KINDS
        .into_iter()
        .find(|k| k.from == from && i64::from(k.type_id) == type_id)
}

/// The unlabeled (default) type from `from` to `to`, if the pair can be associated.
pub fn default_kind(from: ObjectType, to: ObjectType) -> Option<AssociationKind> {
    KINDS
        .into_iter()
        .find(|k| k.from == from && k.to == to && !k.primary)
}

/// The primary type from `from` to `to`, if the pair has one.
pub fn primary_kind(from: ObjectType, to: ObjectType) -> Option<AssociationKind> {
    KINDS
        .into_iter()
        .find(|k| k.from == from && k.to == to && k.primary)
}

/// The types a link lists from `from` to `to`: the primary one first when it is primary,
/// then the unlabeled one.
pub fn kinds_listed(from: ObjectType, to: ObjectType, primary: bool) -> Vec<AssociationKind> {
    let mut kinds = Vec::new();
    if primary && let Some(k) = primary_kind(from, to) {
        kinds.push(k);
    }
    kinds.extend(default_kind(from, to));
    kinds
}

/// The record whose primary company a primary link sets: the non-company side.
fn holder(a: Endpoint, b: Endpoint) -> Option<Endpoint> {
    match (a.0, b.0) {
        (Companies, Contacts | Deals) => Some(b),
        (Contacts | Deals, Companies) => Some(a),
        _ => None,
    }
}

/// Every link of the portal, both directions.
#[derive(Debug, Default)]
pub struct Associations {
    links: HashMap<Endpoint, BTreeMap<Endpoint, bool>>,
}

impl Associations {
    /// Links `a` and `b` (unlabeled, or keeping the label they have), and makes the link
    /// primary when `primary` is set. A contact or deal has at most one primary company:
    /// making one primary demotes the others to unlabeled.
    pub fn link(&mut self, a: Endpoint, b: Endpoint, primary: bool) {
        if primary && let Some(owner) = holder(a, b) {
            let company = if owner == a { b } else { a };
            let others: Vec<Endpoint> = self
                .links
                .get(&owner)
                .map(|m| {
                    m.iter()
                        .filter(|(e, p)| e.0 == Companies && **p && **e != company)
                        .map(|(e, _)| *e)
                        .collect()
                })
                .unwrap_or_default();
            for other in others {
                self.set(owner, other, false);
            }
        }
        let keep = self.is_primary(a, b).unwrap_or(false);
        self.set(a, b, primary || keep);
    }

    /// Removes only the primary label of a link (HubSpot's `labels/archive` of the primary
    /// type): the link stays, unlabeled.
    pub fn demote(&mut self, a: Endpoint, b: Endpoint) {
        if self.is_primary(a, b).is_some() {
            self.set(a, b, false);
        }
    }

    fn set(&mut self, a: Endpoint, b: Endpoint, primary: bool) {
        self.links.entry(a).or_default().insert(b, primary);
        self.links.entry(b).or_default().insert(a, primary);
    }

    /// Removes the link between `a` and `b` with every label; true if there was one.
    pub fn unlink(&mut self, a: Endpoint, b: Endpoint) -> bool {
        let removed = self
            .links
            .get_mut(&a)
            .is_some_and(|m| m.remove(&b).is_some());
        if let Some(m) = self.links.get_mut(&b) {
            m.remove(&a);
        }
        removed
    }

    /// Whether `a` and `b` are linked, and if so whether the link is primary.
    pub fn is_primary(&self, a: Endpoint, b: Endpoint) -> Option<bool> {
        self.links.get(&a)?.get(&b).copied()
    }

    /// The records of type `to` linked to `from`, in id order, with their primary flag.
    pub fn of(&self, from: Endpoint, to: ObjectType) -> Vec<(u64, bool)> {
        self.links
            .get(&from)
            .map(|m| {
                m.range((to, 0)..=(to, u64::MAX))
                    .map(|(e, p)| (e.1, *p))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets every link of a record (it was archived).
    pub fn drop_record(&mut self, record: Endpoint) {
        if let Some(others) = self.links.remove(&record) {
            for other in others.keys() {
                if let Some(m) = self.links.get_mut(other) {
                    m.remove(&record);
                }
            }
        }
    }

    /// Moves the links of merged records to the survivor: the survivor holds both records'
    /// links, and reads through the old ids find none (HubSpot's deal merges). The primary
    /// record's primary company wins over the other's.
    pub fn merge(&mut self, primary: Endpoint, other: Endpoint, survivor: Endpoint) {
        let take = |links: &mut HashMap<Endpoint, BTreeMap<Endpoint, bool>>, from: Endpoint| {
            let moved = links.remove(&from).unwrap_or_default();
            for peer in moved.keys() {
                if let Some(m) = links.get_mut(peer) {
                    m.remove(&from);
                }
            }
            moved
        };
        let from_primary = take(&mut self.links, primary);
        let from_other = take(&mut self.links, other);
        let has_primary_company = from_primary.iter().any(|(e, p)| e.0 == Companies && *p);
        for (peer, flag) in from_other {
            let demote =
                has_primary_company && peer.0 == Companies && holder(survivor, peer).is_some();
            self.set(survivor, peer, flag && !demote);
        }
        for (peer, flag) in from_primary {
            let keep = self.is_primary(survivor, peer).unwrap_or(false);
            self.set(survivor, peer, flag || keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contact_has_one_primary_company() {
        let mut links = Associations::default();
        let contact = (Contacts, 1);
        let (a, b) = ((Companies, 10), (Companies, 11));
        links.link(contact, a, true);
        links.link(contact, b, false);
        assert_eq!(links.of(contact, Companies), vec![(10, true), (11, false)]);
        links.link(contact, b, true);
        assert_eq!(links.of(contact, Companies), vec![(10, false), (11, true)]);
        // From the company's side the flag reads the same (type 2).
        assert_eq!(links.of(b, Contacts), vec![(1, true)]);
        // Re-linking without a label keeps the primary one.
        links.link(b, contact, false);
        assert_eq!(links.is_primary(contact, b), Some(true));
    }

    #[test]
    fn merged_records_leave_their_links_to_the_survivor() {
        let mut links = Associations::default();
        let (d1, d2, d3) = ((Deals, 1), (Deals, 2), (Deals, 3));
        links.link(d1, (Companies, 10), true);
        links.link(d2, (Companies, 11), true);
        links.link(d2, (Contacts, 7), false);
        links.merge(d1, d2, d3);
        assert!(links.of(d1, Companies).is_empty());
        assert!(links.of(d2, Contacts).is_empty());
        assert_eq!(links.of(d3, Companies), vec![(10, true), (11, false)]);
        assert_eq!(links.of(d3, Contacts), vec![(7, false)]);
        assert_eq!(links.of((Contacts, 7), Deals), vec![(3, false)]);
    }

    #[test]
    fn types_list_primary_first_then_unlabeled() {
        let ids: Vec<u32> = kinds_listed(Contacts, Companies, true)
            .iter()
            .map(|k| k.type_id)
            .collect();
        assert_eq!(ids, vec![1, 279]);
        let ids: Vec<u32> = kinds_listed(Companies, Deals, false)
            .iter()
            .map(|k| k.type_id)
            .collect();
        assert_eq!(ids, vec![342]);
        assert_eq!(kind_from(Deals, 3).map(|k| k.to), Some(Contacts));
        assert!(kind_of(Contacts, Companies, 341).is_none());
    }
}
