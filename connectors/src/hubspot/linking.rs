//! Writing associations as fields: a [`Write`] may carry `@company` (an id to become the
//! record's primary company, or `null` to remove the primary label) and `@contacts` (the
//! whole set of a deal's contacts).
//!
//! ## How a write's associations are made
//!
//! - **Creates** (`batch/create`) carry them per input (`associations`), so a record and
//!   its links are made in one call, or not at all: a refused link refuses the create,
//!   and no record is left behind to be created again.
//! - **Upserts and updates** set them once the record step succeeded (upsert takes no
//!   `associations`): the current links of every such record are read first (one batch
//!   read per association per 1,000 records; a record an upsert just created has none,
//!   and so has one the caller says it created and has linked nothing to since:
//!   `WriteOp::Update::no_associations`),
//!   then only the differences are sent, batched across every write of the `apply`:
//!   - `@company = id`: `batch/create` with the primary and the unlabeled type (HubSpot
//!     demotes the former primary to an unlabeled link; it stays associated); nothing
//!     when it is the primary already;
//!   - `@company = null`: `batch/labels/archive` of the primary type with the current
//!     primary company (the association stays, unlabeled);
//!   - `@contacts = [..]`: `batch/create` (type 3) of the missing ones, `batch/archive` of
//!     the extra ones.
//!
//!   An update that carries only association fields makes no record call at all.
//!
//! Cost of one `apply`, per association field present: at most one read, one create, and
//! one archive (or labels-archive) call per 1,000 inputs, whatever the number of writes.
//!
//! ## Outcomes
//!
//! Each write keeps exactly one outcome. An association refused is that write's error,
//! with HubSpot's words: errors inside an answer (207, or 200 with `errors`: both are read
//! the same way) are matched to inputs by the record ids they name (`link_answers.rs`);
//! a call refused as a whole for good is split in halves until the refused inputs stand
//! alone, as record batches are. A fatal refusal (a missing scope) fails the `apply`. Archive answers are
//! 204 under v4 and 200 with an empty body under the date versions; both read as done.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::future::BoxFuture;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::HubSpotConnector;
use super::associations::{Links, primary_of, set_of};
use super::limits::CallKind;
use super::link_answers::{Input, outcomes};
use super::objects::{Association, Cardinality, Spec, is_association};
use super::wire::BatchInputs;
use super::wire::associations::{
    ArchiveInput, AssociationBatch, AssociationOnCreate, AssociationSpec, ObjectId, PairInput,
};
use crate::contract::Write;
use crate::error::{ApiError, Error, ErrorClass};
use crate::http::Call;

/// Most inputs per association batch write. HubSpot documents none; 2,000 is the number
/// integrators cite, and a call refused for its size is split like any refused batch.
pub const WRITE_BATCH: usize = 1_000;

/// What a write asks of one association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    /// This record as the primary one, or no primary one.
    Primary(Option<String>),
    /// Exactly these records.
    Set(BTreeSet<String>),
}

/// One association field of a write.
#[derive(Debug, Clone)]
pub struct LinkWrite {
    /// The association.
    pub association: &'static Association,
    /// What it should hold.
    pub desired: Desired,
}

/// Takes the association fields out of `write.fields` (they are not properties) and reads
/// what each asks. A field the object has no association for, or a value of the wrong
/// shape, refuses the write for good.
pub fn take_links(spec: &'static Spec, write: &mut Write) -> Result<Vec<LinkWrite>, Error> {
    let names: Vec<String> = write
        .fields
        .keys()
        .filter(|k| is_association(k))
        .cloned()
        .collect();
    let mut links = Vec::new();
    for name in names {
        let value = write.fields.remove(&name).unwrap_or(Value::Null);
        let refused = |message: String| {
            Error::new(
                ErrorClass::Permanent,
                format!("HubSpot write of {} {name}", spec.object),
                ApiError {
                    message,
                    fields: vec![name.clone()],
                    ..ApiError::default()
                },
            )
        };
        let Some(association) = spec.association(&name) else {
            return Err(refused(format!(
                "HubSpot {} have no association `{name}` truce writes",
                spec.object
            )));
        };
        let id = |v: &Value| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let desired = match (association.cardinality, &value) {
            (Cardinality::Primary { .. }, Value::Null) => Desired::Primary(None),
            (Cardinality::Primary { .. }, Value::String(s)) if s.trim().is_empty() => {
                Desired::Primary(None)
            }
            (Cardinality::Primary { .. }, v) => match id(v) {
                Some(id) => Desired::Primary(Some(id)),
                None => {
                    return Err(refused(format!(
                        "`{name}` takes one record id or null, not {v}"
                    )));
                }
            },
            (Cardinality::Set { .. }, Value::Null) => Desired::Set(BTreeSet::new()),
            (Cardinality::Set { .. }, Value::Array(items)) => {
                let ids: Option<BTreeSet<String>> = items.iter().map(id).collect();
                match ids {
                    Some(ids) => Desired::Set(ids),
                    None => {
                        return Err(refused(format!(
                            "`{name}` takes an array of record ids, not {value}"
                        )));
                    }
                }
            }
            (Cardinality::Set { .. }, v) => {
                return Err(refused(format!(
                    "`{name}` takes an array of record ids, not {v}"
                )));
            }
        };
        links.push(LinkWrite {
            association,
            desired,
        });
    }
    Ok(links)
}

/// The `associations` of a create's input: what the links ask, made with the record.
pub fn on_create(links: &[LinkWrite]) -> Vec<AssociationOnCreate> {
    let mut out = Vec::new();
    for link in links {
        match (link.association.cardinality, &link.desired) {
            (Cardinality::Primary { primary, unlabeled }, Desired::Primary(Some(id))) => {
                out.push(AssociationOnCreate {
                    to: ObjectId::new(id.clone()),
                    types: types(&[unlabeled, primary]),
                });
            }
            (Cardinality::Set { type_id }, Desired::Set(ids)) => {
                out.extend(ids.iter().map(|id| AssociationOnCreate {
                    to: ObjectId::new(id.clone()),
                    types: types(&[type_id]),
                }));
            }
            _ => {}
        }
    }
    out
}

fn types(ids: &[u32]) -> Vec<AssociationSpec> {
    ids.iter()
        .map(|id| AssociationSpec::hubspot_defined(*id))
        .collect()
}

/// The associations of one record whose record step succeeded.
#[derive(Debug, Clone)]
pub struct Relink {
    /// The write's key.
    pub key: i64,
    /// The record's object.
    pub spec: &'static Spec,
    /// The record's id.
    pub id: String,
    /// The write created it, or the caller says it has none: it has no links yet.
    pub created: bool,
    /// What its association fields ask.
    pub links: Vec<LinkWrite>,
}

/// The three association batch writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Unlabel,
    Archive,
}

impl Op {
    fn endpoint(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Unlabel => "labels/archive",
            Op::Archive => "archive",
        }
    }
}

/// The inputs of one association, by batch call.
#[derive(Debug, Default)]
struct Planned {
    create: Vec<Input<PairInput>>,
    unlabel: Vec<Input<PairInput>>,
    archive: Vec<Input<ArchiveInput>>,
}

impl Planned {
    fn pair(&mut self, op: Op, key: i64, from: &str, to: &str, type_ids: &[u32]) {
        let input = Input {
            key,
            from: from.to_string(),
            to: vec![to.to_string()],
            body: PairInput {
                from: ObjectId::new(from),
                to: ObjectId::new(to),
                types: types(type_ids),
            },
        };
        match op {
            Op::Unlabel => self.unlabel.push(input),
            _ => self.create.push(input),
        }
    }

    /// The calls that make `desired` true of a record whose links are `current`.
    fn add(
        &mut self,
        key: i64,
        from: &str,
        link: &LinkWrite,
        current: &[super::associations::Linked],
    ) {
        match (link.association.cardinality, &link.desired) {
            (Cardinality::Primary { primary, unlabeled }, Desired::Primary(Some(id)))
                if primary_of(current, primary) != Some(id.as_str()) =>
            {
                self.pair(Op::Create, key, from, id, &[unlabeled, primary]);
            }
            (Cardinality::Primary { primary, .. }, Desired::Primary(None)) => {
                if let Some(id) = primary_of(current, primary) {
                    self.pair(Op::Unlabel, key, from, id, &[primary]);
                }
            }
            (Cardinality::Set { type_id }, Desired::Set(want)) => {
                let have: BTreeSet<String> = set_of(current).into_iter().collect();
                for id in want.difference(&have) {
                    self.pair(Op::Create, key, from, id, &[type_id]);
                }
                let extra: Vec<String> = have.difference(want).cloned().collect();
                if !extra.is_empty() {
                    self.archive.push(Input {
                        key,
                        from: from.to_string(),
                        body: ArchiveInput {
                            from: ObjectId::new(from),
                            to: extra.iter().map(|id| ObjectId::new(id.clone())).collect(),
                        },
                        to: extra,
                    });
                }
            }
            // `take_links` pairs every cardinality with its own kind of value.
            _ => {}
        }
    }
}

impl HubSpotConnector {
    /// Makes the associations of records whose record step succeeded what their writes
    /// ask; returns the errors, by write key (a key may appear more than once).
    pub(super) async fn relink(&self, relinks: &[Relink]) -> Result<Vec<(i64, Error)>, Error> {
        let mut failed = Vec::new();
        let mut groups: BTreeMap<(&str, &str), Vec<(&Relink, &LinkWrite)>> = BTreeMap::new();
        for relink in relinks {
            for link in &relink.links {
                groups
                    .entry((relink.spec.path, link.association.field))
                    .or_default()
                    .push((relink, link));
            }
        }
        for ((_, _), targets) in groups {
            let Some((first, link)) = targets.first() else {
                continue;
            };
            let (spec, association) = (first.spec, link.association);
            let unread: Vec<String> = targets
                .iter()
                .filter(|(r, _)| !r.created)
                .map(|(r, _)| r.id.clone())
                .collect();
            let current: Links = if unread.is_empty() {
                Links::new()
            } else {
                match self.read_links(spec, association, &unread).await {
                    Ok(links) => links,
                    Err(err) if err.class() == ErrorClass::Fatal => return Err(err),
                    Err(err) => {
                        failed.extend(targets.iter().map(|(r, _)| (r.key, err.clone())));
                        continue;
                    }
                }
            };
            let mut planned = Planned::default();
            for (relink, link) in &targets {
                let links = current
                    .get(&relink.id)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                planned.add(relink.key, &relink.id, link, links);
            }
            let pair = (spec.path, association.to);
            for chunk in planned.create.chunks(WRITE_BATCH) {
                failed.extend(self.send_links(Op::Create, pair, chunk).await?);
            }
            for chunk in planned.unlabel.chunks(WRITE_BATCH) {
                failed.extend(self.send_links(Op::Unlabel, pair, chunk).await?);
            }
            for chunk in planned.archive.chunks(WRITE_BATCH) {
                failed.extend(self.send_links(Op::Archive, pair, chunk).await?);
            }
        }
        Ok(failed)
    }

    /// One association batch call; a whole-call permanent refusal is split.
    fn send_links<'a, T: Serialize + Clone + Send + Sync>(
        &'a self,
        op: Op,
        (from, to): (&'a str, &'a str),
        inputs: &'a [Input<T>],
    ) -> BoxFuture<'a, Result<Vec<(i64, Error)>, Error>> {
        Box::pin(async move {
            let action = format!(
                "HubSpot association {} of {} {from} to {to}",
                op.endpoint(),
                inputs.len()
            );
            let body = BatchInputs {
                inputs: inputs.iter().map(|i| i.body.clone()).collect(),
            };
            let call = Call::json(
                CallKind::Standard,
                Method::POST,
                self.paths.association_batch(from, to, op.endpoint()),
                &body,
                &action,
            )?;
            // Associating twice, or archiving what is gone, changes nothing: safe to repeat.
            match self
                .pipeline
                .send::<Option<AssociationBatch<Value>>>(call)
                .await
            {
                Ok(answer) => Ok(outcomes(
                    &action,
                    inputs,
                    answer.unwrap_or_default(),
                    (from, to),
                )),
                Err(err) if err.class() == ErrorClass::Permanent && inputs.len() > 1 => {
                    let (left, right) = inputs.split_at(inputs.len() / 2);
                    let mut failed = self.send_links(op, (from, to), left).await?;
                    failed.extend(self.send_links(op, (from, to), right).await?);
                    Ok(failed)
                }
                Err(err) if err.class() == ErrorClass::Fatal => Err(err),
                Err(err) => Ok(inputs.iter().map(|i| (i.key, err.clone())).collect()),
            }
        })
    }
}

/// The first error of each key.
pub fn first_errors(failed: Vec<(i64, Error)>) -> HashMap<i64, Error> {
    let mut out = HashMap::new();
    for (key, err) in failed {
        out.entry(key).or_insert(err);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::contract::{ObjectType, WriteOp};
    use crate::hubspot::objects::SUPPORTED;

    fn deal_write(fields: Value) -> Write {
        Write {
            key: 7,
            object: ObjectType::HubSpotDeal,
            op: WriteOp::Update {
                id: "9".into(),
                no_associations: false,
            },
            fields: serde_json::from_value(fields).unwrap(),
        }
    }

    #[test]
    fn association_fields_are_taken_out_of_the_properties_and_read() {
        let mut write =
            deal_write(json!({"dealname": "D", "@company": "5", "@contacts": ["2", 1]}));
        let links = take_links(&SUPPORTED[2], &mut write).unwrap();
        assert_eq!(write.fields.keys().collect::<Vec<_>>(), vec!["dealname"]);
        assert_eq!(links[0].desired, Desired::Primary(Some("5".into())));
        assert_eq!(
            links[1].desired,
            Desired::Set(["1".to_string(), "2".to_string()].into())
        );
        let mut cleared = deal_write(json!({"@company": null, "@contacts": null}));
        let links = take_links(&SUPPORTED[2], &mut cleared).unwrap();
        assert_eq!(links[0].desired, Desired::Primary(None));
        assert_eq!(links[1].desired, Desired::Set(BTreeSet::new()));
        let err =
            take_links(&SUPPORTED[2], &mut deal_write(json!({"@company": ["1"]}))).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert_eq!(err.api().fields, vec!["@company".to_string()]);
        let err = take_links(&SUPPORTED[1], &mut deal_write(json!({"@deals": []}))).unwrap_err();
        assert!(err.api().message.contains("`@deals`"), "{err}");
    }

    #[test]
    fn only_the_differences_are_planned() {
        let mut write = deal_write(json!({"@company": "5", "@contacts": ["1", "3"]}));
        let links = take_links(&SUPPORTED[2], &mut write).unwrap();
        let current = [
            super::super::associations::Linked {
                to: "1".into(),
                types: vec![3],
            },
            super::super::associations::Linked {
                to: "2".into(),
                types: vec![3],
            },
        ];
        let mut planned = Planned::default();
        planned.add(7, "9", &links[1], &current);
        assert_eq!(planned.create.len(), 1);
        assert_eq!(planned.create[0].to, vec!["3"]);
        assert_eq!(planned.archive[0].to, vec!["2"]);
        let already = [super::super::associations::Linked {
            to: "5".into(),
            types: vec![5, 341],
        }];
        let mut planned = Planned::default();
        planned.add(7, "9", &links[0], &already);
        assert!(planned.create.is_empty() && planned.unlabel.is_empty());
    }
}
