//! What `truce backfill --dry-run` counts per object pair: links, creates and updates on
//! each side, association writes, and the API calls they would take.
//!
//! The dry run leaves its plan in a scratch store: the pending outbox (every write the
//! backfill would send now) and the deferred references (association values waiting for
//! a record that is still to be created). Both are read here and costed with the batch
//! sizes the connectors use (`docs/connectors.md`). The calls are an estimate of the
//! writing part only: the writes the backfill makes once the first creates are answered
//! (a reference to a new record) are counted from the deferred references, and a record
//! refused and split costs more than planned.

use std::collections::BTreeMap;

use serde_json::Value;
use truce_connectors::{ObjectType, System};
use truce_state::{Reader, WriteOp};

use crate::engine::pair::Pair;
use crate::engine::settings::Settings;
use crate::engine::stored;

/// HubSpot records per batch call (create, upsert, update, archive).
const HUBSPOT_BATCH: u64 = 100;
/// HubSpot association inputs per v4 batch read or write.
const HUBSPOT_ASSOCIATION_BATCH: u64 = 1_000;
/// Salesforce records per sObject Collection.
const SALESFORCE_COLLECTION: u64 = 200;
/// sObject Collections per composite call.
const COLLECTIONS_PER_COMPOSITE: u64 = 5;
/// Opportunities whose contact roles one composite call reads (five queries of about 180).
const ROLE_READS_PER_CALL: u64 = 900;

/// One side of one pair in the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Side {
    /// Records to create.
    pub creates: u64,
    /// Records to update (with at least one field other than an association).
    pub updates: u64,
    /// Records to delete.
    pub deletes: u64,
    /// Association values to write: in the writes above, and waiting for a create.
    pub associations: u64,
    /// Of `associations`, those waiting for a create: of the record they point at, or of
    /// the record that holds them.
    pub waiting: u64,
    /// API calls the writes would take.
    pub calls: u64,
}

/// One pair's plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairPlan {
    /// Active links (those waiting for a create included).
    pub links: i64,
    /// HubSpot's side.
    pub hubspot: Side,
    /// Salesforce's side.
    pub salesforce: Side,
}

impl PairPlan {
    fn side(&mut self, system: System) -> &mut Side {
        match system {
            System::HubSpot => &mut self.hubspot,
            System::Salesforce => &mut self.salesforce,
        }
    }
}

/// What is counted of one object before it is costed.
#[derive(Debug, Default)]
struct ObjectCount {
    creates: u64,
    upserts: u64,
    updates: u64,
    deletes: u64,
    /// HubSpot: writes that set an association after the record step (updates, upserts,
    /// and the waiting ones), per association field.
    relinks: BTreeMap<String, u64>,
    /// HubSpot: of those, the associations of records the backfill creates: they have
    /// none, so nothing is read before they are written.
    unread: BTreeMap<String, u64>,
    /// Salesforce: record updates that wait for a create (a reference field to set).
    later_updates: u64,
    /// Elements of contact sets to write (Salesforce contact roles).
    roles: u64,
    /// Writes carrying a contact set.
    role_writes: u64,
}

fn ceil(n: u64, per: u64) -> u64 {
    n.div_ceil(per)
}

/// The association fields of `pair` as `system` names them in a write.
fn association_fields(settings: &Settings, pair: Pair, system: System) -> Vec<String> {
    settings.pair(pair).map_or_else(Vec::new, |spec| {
        spec.fields
            .iter()
            .filter(|f| f.reference.is_some())
            .map(|f| match system {
                System::HubSpot => f.hubspot.clone(),
                System::Salesforce => f.salesforce.clone(),
            })
            .collect()
    })
}

fn elements(value: &Value) -> u64 {
    match value {
        Value::Array(items) => items.len() as u64,
        Value::Null => 0,
        _ => 1,
    }
}

/// The references a record created on `system` gets once it exists: those the record it
/// is made from holds. The merge plans them only when the create is answered, so the dry
/// run's outbox does not hold them.
fn after_create(
    reader: &Reader<'_>,
    settings: &Settings,
    pair: Pair,
    system: System,
    link: truce_state::LinkId,
    plans: &mut BTreeMap<Pair, PairPlan>,
    objects: &mut BTreeMap<(Pair, System, String), ObjectCount>,
) -> anyhow::Result<()> {
    let (Some(view), Some(spec)) = (reader.link_view(link)?, settings.pair(pair)) else {
        return Ok(());
    };
    let source = match system {
        System::HubSpot => view.salesforce.as_ref(),
        System::Salesforce => view.hubspot.as_ref(),
    };
    let Some(source) = source else {
        return Ok(());
    };
    let Some(source_object) = ObjectType::parse(&source.object) else {
        return Ok(());
    };
    let object = match system {
        System::HubSpot => pair.hubspot_object(),
        System::Salesforce => pair.salesforce_objects()[0],
    };
    for map in spec
        .fields_for(source_object)
        .filter(|f| f.reference.is_some())
    {
        let (from, to) = match system {
            System::HubSpot => (&map.salesforce, &map.hubspot),
            System::Salesforce => (&map.hubspot, &map.salesforce),
        };
        let value = source.fields.get(from).unwrap_or(&Value::Null);
        if elements(value) == 0 {
            continue;
        }
        let side = plans.entry(pair).or_default().side(system);
        side.associations += 1;
        side.waiting += 1;
        let counted = objects
            .entry((pair, system, object.as_str().to_string()))
            .or_default();
        let set = matches!(value, Value::Array(_)).then(|| elements(value));
        later(counted, system, to, set, true);
    }
    Ok(())
}

/// Counts an association written once a create is answered: on HubSpot its own batch
/// write, with a read of the current links first unless the record holding it is the one
/// `created`; on Salesforce a record update, or contact roles for a set (`set` holds its
/// size).
fn later(counted: &mut ObjectCount, system: System, field: &str, set: Option<u64>, created: bool) {
    match (system, set) {
        (System::HubSpot, _) => {
            let relinks = if created {
                &mut counted.unread
            } else {
                &mut counted.relinks
            };
            *relinks.entry(field.to_string()).or_default() += 1;
        }
        (System::Salesforce, Some(size)) => {
            counted.roles += size;
            counted.role_writes += 1;
        }
        (System::Salesforce, None) => counted.later_updates += 1,
    }
}

/// Counts the plan the dry run left in `reader`, per pair in linking order.
pub fn count(reader: &Reader<'_>, settings: &Settings) -> anyhow::Result<Vec<(Pair, PairPlan)>> {
    let links: BTreeMap<String, i64> = reader.status()?.links_by_pair.into_iter().collect();
    let mut plans: BTreeMap<Pair, PairPlan> = settings
        .pairs
        .iter()
        .map(|spec| {
            let links = links.get(spec.pair.as_str()).copied().unwrap_or(0);
            (
                spec.pair,
                PairPlan {
                    links,
                    ..PairPlan::default()
                },
            )
        })
        .collect();
    let mut objects: BTreeMap<(Pair, System, String), ObjectCount> = BTreeMap::new();
    let mut references: BTreeMap<(Pair, System), Vec<String>> = BTreeMap::new();
    for system in [System::HubSpot, System::Salesforce] {
        let name = stored::system_name(system);
        // Every pending write at once: a dry run sends none, so all of them are the plan.
        let items = reader.due(name, i64::MAX, usize::MAX)?;
        for item in &items {
            let write = &item.write;
            let Some(pair) = Pair::parse(&write.pair) else {
                continue;
            };
            let references = references
                .entry((pair, system))
                .or_insert_with(|| association_fields(settings, pair, system));
            if write.op == WriteOp::Create
                && let Some(link) = write.link_id
            {
                after_create(
                    reader,
                    settings,
                    pair,
                    system,
                    link,
                    &mut plans,
                    &mut objects,
                )?;
            }
            let plan = plans.entry(pair).or_default();
            let side = plan.side(system);
            let object = objects
                .entry((pair, system, write.object.clone()))
                .or_default();
            let linked: Vec<&String> = write
                .fields
                .keys()
                .filter(|k| references.contains(k))
                .collect();
            let sets = linked
                .iter()
                .filter(|f| matches!(write.fields.get(**f), Some(Value::Array(_))))
                .count();
            // A record call is needed for any field but the associations HubSpot sets
            // apart, and any but the contact roles Salesforce writes apart.
            let plain = match system {
                System::HubSpot => write.fields.len() > linked.len(),
                System::Salesforce => write.fields.len() > sets,
            };
            side.associations += linked.len() as u64;
            match write.op {
                WriteOp::Create => {
                    side.creates += 1;
                    if write.upsert.is_some() {
                        object.upserts += 1;
                    } else {
                        object.creates += 1;
                    }
                }
                WriteOp::Update => {
                    if plain {
                        side.updates += 1;
                        object.updates += 1;
                    }
                }
                WriteOp::Delete => {
                    side.deletes += 1;
                    object.deletes += 1;
                }
            }
            // A plain HubSpot create carries its associations in the call; anything
            // else sets them after the record step.
            let inline =
                system == System::HubSpot && write.op == WriteOp::Create && write.upsert.is_none();
            for field in linked {
                if system == System::HubSpot && !inline {
                    *object.relinks.entry(field.clone()).or_default() += 1;
                }
                if let Some(value) = write.fields.get(field)
                    && matches!(value, Value::Array(_))
                {
                    object.roles += elements(value);
                    object.role_writes += 1;
                }
            }
        }
    }
    // References waiting for a create: written to the other side once it exists.
    for wait in reader.deferred()? {
        let Some(link) = reader.link(wait.link_id)? else {
            continue;
        };
        let Some(pair) = Pair::parse(&link.pair) else {
            continue;
        };
        let system = if wait.target_system == stored::system_name(System::HubSpot) {
            System::Salesforce
        } else {
            System::HubSpot
        };
        let object = match system {
            System::HubSpot => pair.hubspot_object().as_str().to_string(),
            System::Salesforce => link
                .salesforce_object
                .clone()
                .unwrap_or_else(|| pair.salesforce_objects()[0].as_str().to_string()),
        };
        let map = settings
            .pair(pair)
            .and_then(|spec| spec.fields.iter().find(|f| f.hubspot == wait.field));
        let (field, set) = map.map_or((wait.field.clone(), false), |f| {
            let name = match system {
                System::HubSpot => f.hubspot.clone(),
                System::Salesforce => f.salesforce.clone(),
            };
            (name, f.reference.is_some_and(|r| r.many))
        });
        let side = plans.entry(pair).or_default().side(system);
        side.associations += 1;
        side.waiting += 1;
        let counted = objects.entry((pair, system, object)).or_default();
        later(counted, system, &field, set.then_some(1), false);
    }
    // Salesforce packs collections of every object into one composite call: the calls of
    // a pair are its share of them.
    for ((pair, system, _), counted) in &objects {
        let calls = match system {
            System::HubSpot => {
                ceil(counted.creates, HUBSPOT_BATCH)
                    + ceil(counted.upserts, HUBSPOT_BATCH)
                    + ceil(counted.updates, HUBSPOT_BATCH)
                    + ceil(counted.deletes, HUBSPOT_BATCH)
                    // One read of the current links and one write, per field.
                    + counted
                        .relinks
                        .values()
                        .map(|n| 2 * ceil(*n, HUBSPOT_ASSOCIATION_BATCH))
                        .sum::<u64>()
                    // A new record's: the write alone.
                    + counted
                        .unread
                        .values()
                        .map(|n| ceil(*n, HUBSPOT_ASSOCIATION_BATCH))
                        .sum::<u64>()
            }
            System::Salesforce => {
                let collections = ceil(counted.creates + counted.upserts, SALESFORCE_COLLECTION)
                    + ceil(
                        counted.updates + counted.later_updates,
                        SALESFORCE_COLLECTION,
                    )
                    + ceil(counted.deletes, SALESFORCE_COLLECTION);
                let roles = if counted.role_writes > 0 {
                    ceil(counted.role_writes, ROLE_READS_PER_CALL)
                        + ceil(
                            ceil(counted.roles, SALESFORCE_COLLECTION),
                            COLLECTIONS_PER_COMPOSITE,
                        )
                } else {
                    0
                };
                ceil(collections, COLLECTIONS_PER_COMPOSITE) + roles
            }
        };
        plans.entry(*pair).or_default().side(*system).calls += calls;
    }
    Ok(Pair::ALL
        .into_iter()
        .filter_map(|pair| plans.get(&pair).map(|plan| (pair, *plan)))
        .collect())
}

/// The per-pair table of the plan, one line per pair.
pub fn render(plans: &[(Pair, PairPlan)]) -> String {
    let mut out = format!(
        "  {:<10} {:>7} {:>16} {:>16} {:>16} {:>18} {:>14}\n",
        "per pair",
        "links",
        "creates HS / SF",
        "updates HS / SF",
        "deletes HS / SF",
        "associations HS / SF",
        "API calls HS / SF"
    );
    for (pair, p) in plans {
        let (h, s) = (&p.hubspot, &p.salesforce);
        out.push_str(&format!(
            "  {:<10} {:>7} {:>16} {:>16} {:>16} {:>18} {:>14}\n",
            pair.as_str(),
            p.links,
            format!("{} / {}", h.creates, s.creates),
            format!("{} / {}", h.updates, s.updates),
            format!("{} / {}", h.deletes, s.deletes),
            format!("{} / {}", h.associations, s.associations),
            format!("{} / {}", h.calls, s.calls),
        ));
    }
    let waiting: u64 = plans
        .iter()
        .map(|(_, p)| p.hubspot.waiting + p.salesforce.waiting)
        .sum();
    if waiting > 0 {
        out.push_str(&format!(
            "  ({waiting} of the association writes wait for a record to be created first: the \
             one they point at, or the one that holds them)\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_line_per_pair_and_says_what_waits() {
        let plan = PairPlan {
            links: 30,
            hubspot: Side {
                creates: 10,
                associations: 12,
                waiting: 2,
                calls: 3,
                ..Side::default()
            },
            salesforce: Side {
                creates: 5,
                updates: 7,
                calls: 1,
                ..Side::default()
            },
        };
        let text = render(&[(Pair::Deals, plan)]);
        let row: Vec<&str> = text
            .lines()
            .find(|l| l.trim_start().starts_with("deals"))
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(
            row,
            [
                "deals", "30", "10", "/", "5", "0", "/", "7", "0", "/", "0", "12", "/", "0", "3",
                "/", "1"
            ]
        );
        assert!(
            text.contains("(2 of the association writes wait for a record"),
            "{text}"
        );
    }
}
