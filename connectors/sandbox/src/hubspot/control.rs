//! The control API for everything but the contact shortcuts: records of any type,
//! associations, custom properties, pipelines, owners, validation rules, the clock and
//! request counts per API family. It bypasses HTTP, auth and rate limits, and writes as a
//! user in HubSpot's UI would: values are checked, the 2026-09 rules are not applied, and
//! associations never move a record's last-modified date.

use std::collections::BTreeMap;

use super::associations::{default_kind, kinds_listed, primary_kind};
use super::objects::{ApiVersion, ObjectType};
use super::owners::SandboxOwner;
use super::pipelines::DealPipeline;
use super::validation::ValidationRule;
use super::wire::Property;
use super::{Enforce, HubSpotSandbox, SandboxError, SandboxRecord, lock, parse_id, string_props};

/// One associated record, as the control API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxAssociation {
    /// The associated record's id.
    pub to_id: String,
    /// The type ids listed for the pair (a primary company: `[1, 279]`).
    pub type_ids: Vec<u32>,
    /// Whether the link is primary.
    pub primary: bool,
}

impl HubSpotSandbox {
    /// Creates a record of `object` with HubSpot's validation; returns its id.
    pub fn create_object(
        &self,
        object: ObjectType,
        props: &[(&str, &str)],
    ) -> Result<String, SandboxError> {
        let now = self.inner.now_ms();
        let record =
            self.inner
                .portal()
                .create(object, &string_props(props), &[], Enforce::No, now)?;
        Ok(record.id.to_string())
    }

    /// Creates a company; returns its id.
    pub fn create_company(&self, props: &[(&str, &str)]) -> Result<String, SandboxError> {
        self.create_object(ObjectType::Companies, props)
    }

    /// Creates a deal (in the default pipeline unless `pipeline` is given); returns its id.
    pub fn create_deal(&self, props: &[(&str, &str)]) -> Result<String, SandboxError> {
        self.create_object(ObjectType::Deals, props)
    }

    /// Edits a record as a user would in HubSpot's UI: its last-modified date moves to now.
    pub fn edit_object(
        &self,
        object: ObjectType,
        id: &str,
        props: &[(&str, &str)],
    ) -> Result<SandboxRecord, SandboxError> {
        let now = self.inner.now_ms();
        self.edit_object_at(object, id, props, now)
    }

    /// Edits a record with an explicit last-modified date (possibly in the past).
    pub fn edit_object_at(
        &self,
        object: ObjectType,
        id: &str,
        props: &[(&str, &str)],
        modified_ms: i64,
    ) -> Result<SandboxRecord, SandboxError> {
        let id = parse_id(id)?;
        let record = self
            .inner
            .portal()
            .edit(object, id, &string_props(props), modified_ms)?;
        Ok(SandboxRecord::of(&record))
    }

    /// Archives a record, as deleting it in HubSpot does: its associations go, its
    /// last-modified date stays.
    pub fn archive_object(&self, object: ObjectType, id: &str) -> Result<(), SandboxError> {
        let now = self.inner.now_ms();
        match self.inner.portal().archive(object, parse_id(id)?, now) {
            Some(_) => Ok(()),
            None => Err(SandboxError::NotFound(id.to_string())),
        }
    }

    /// Merges `other` into `primary`; returns the new record's id, which holds both
    /// records' associations.
    pub fn merge_objects(
        &self,
        object: ObjectType,
        primary: &str,
        other: &str,
    ) -> Result<String, SandboxError> {
        let now = self.inner.now_ms();
        let record =
            self.inner
                .portal()
                .merge(object, parse_id(primary)?, parse_id(other)?, now)?;
        Ok(record.id.to_string())
    }

    /// A live record (merged-away ids resolve to the survivor).
    pub fn object(&self, object: ObjectType, id: &str) -> Option<SandboxRecord> {
        let id = id.parse().ok()?;
        self.inner
            .portal()
            .records(object)
            .get(id)
            .map(|r| SandboxRecord::of(r))
    }

    /// A live record by the value of a unique property (`email`, or one created with
    /// `hasUniqueValue`).
    pub fn find_object(
        &self,
        object: ObjectType,
        property: &str,
        value: &str,
    ) -> Option<SandboxRecord> {
        self.inner
            .portal()
            .records(object)
            .by_unique(property, value)
            .map(|r| SandboxRecord::of(r))
    }

    /// Every live record of `object`, in id order.
    pub fn objects(&self, object: ObjectType) -> Vec<SandboxRecord> {
        self.inner
            .portal()
            .records(object)
            .all()
            .map(|r| SandboxRecord::of(r))
            .collect()
    }

    /// How many live records of `object` there are.
    pub fn object_count(&self, object: ObjectType) -> usize {
        self.inner.portal().records(object).count()
    }

    /// A live company.
    pub fn company(&self, id: &str) -> Option<SandboxRecord> {
        self.object(ObjectType::Companies, id)
    }

    /// A live deal.
    pub fn deal(&self, id: &str) -> Option<SandboxRecord> {
        self.object(ObjectType::Deals, id)
    }

    /// Every live company, in id order.
    pub fn companies(&self) -> Vec<SandboxRecord> {
        self.objects(ObjectType::Companies)
    }

    /// Every live deal, in id order.
    pub fn deals(&self) -> Vec<SandboxRecord> {
        self.objects(ObjectType::Deals)
    }

    /// Associates two live records (by their current ids). `primary` makes the company
    /// the contact's (deal's) primary company, demoting any other; without it an existing
    /// primary link stays primary. Neither record's last-modified date moves.
    pub fn associate(
        &self,
        from: ObjectType,
        from_id: &str,
        to: ObjectType,
        to_id: &str,
        primary: bool,
    ) -> Result<(), SandboxError> {
        let Some(unlabeled) = default_kind(from, to) else {
            return Err(SandboxError::Invalid(format!(
                "{} and {} cannot be associated",
                from.singular(),
                to.singular()
            )));
        };
        let mut kinds = vec![unlabeled];
        if primary {
            kinds.push(primary_kind(from, to).ok_or_else(|| {
                SandboxError::Invalid(format!(
                    "no primary association from {} to {}",
                    from.singular(),
                    to.singular()
                ))
            })?);
        }
        let mut portal = self.inner.portal();
        let a = portal
            .live_id(from, from_id)
            .map_err(|_| SandboxError::NotFound(from_id.to_string()))?;
        let b = portal
            .live_id(to, to_id)
            .map_err(|_| SandboxError::NotFound(to_id.to_string()))?;
        portal.associate((from, a), (to, b), &kinds);
        Ok(())
    }

    /// Removes every association between two records; true if there was one. Neither
    /// record's last-modified date moves.
    pub fn dissociate(
        &self,
        from: ObjectType,
        from_id: &str,
        to: ObjectType,
        to_id: &str,
    ) -> Result<bool, SandboxError> {
        let (a, b) = (parse_id(from_id)?, parse_id(to_id)?);
        Ok(self.inner.portal().associations.unlink((from, a), (to, b)))
    }

    /// The records of type `to` associated with `from_id`, in id order. Ids are not
    /// resolved through merges: a merged-away id has none, as HubSpot reads it.
    pub fn associations(
        &self,
        from: ObjectType,
        from_id: &str,
        to: ObjectType,
    ) -> Vec<SandboxAssociation> {
        let Ok(id) = from_id.parse::<u64>() else {
            return Vec::new();
        };
        self.inner
            .portal()
            .associations
            .of((from, id), to)
            .into_iter()
            .map(|(to_id, primary)| SandboxAssociation {
                to_id: to_id.to_string(),
                type_ids: kinds_listed(from, to, primary)
                    .iter()
                    .map(|k| k.type_id)
                    .collect(),
                primary,
            })
            .collect()
    }

    /// Associates every live contact without a company with the first company whose
    /// `domain` is its email's domain, as primary: what HubSpot's "automatically create
    /// and associate companies with contacts" setting does (creation aside). Returns how
    /// many contacts it associated.
    pub fn associate_contacts_by_domain(&self) -> usize {
        let mut portal = self.inner.portal();
        let mut by_domain: BTreeMap<String, u64> = BTreeMap::new();
        for company in portal.records(ObjectType::Companies).all() {
            if let Some(domain) = company.props.get("domain") {
                by_domain.entry(domain.to_lowercase()).or_insert(company.id);
            }
        }
        let pairs: Vec<(u64, u64)> = portal
            .records(ObjectType::Contacts)
            .all()
            .filter_map(|c| {
                let domain = c.email()?.rsplit_once('@')?.1.to_lowercase();
                Some((c.id, *by_domain.get(&domain)?))
            })
            .collect();
        let mut made = 0;
        for (contact, company) in pairs {
            let from = (ObjectType::Contacts, contact);
            if portal
                .associations
                .of(from, ObjectType::Companies)
                .is_empty()
            {
                portal
                    .associations
                    .link(from, (ObjectType::Companies, company), true);
                made += 1;
            }
        }
        made
    }

    /// Adds a property definition to `object` (as the properties API creates one).
    pub fn add_property(&self, object: ObjectType, property: Property) -> Result<(), SandboxError> {
        let name = property.name.clone();
        self.inner
            .portal()
            .records_mut(object)
            .schema
            .add(property)
            .map(|_| ())
            .map_err(|refusal| {
                SandboxError::Invalid(
                    refusal.unwrap_or_else(|| format!("property {name} exists already")),
                )
            })
    }

    /// True when `object` has a property definition named `name`.
    pub fn has_property(&self, object: ObjectType, name: &str) -> bool {
        self.inner
            .portal()
            .records(object)
            .schema
            .all()
            .any(|p| p.name == name)
    }

    /// Adds a text property with unique values (`hasUniqueValue`): an upsert key, such as
    /// `salesforce_account_id` on companies.
    pub fn add_unique_property(
        &self,
        object: ObjectType,
        name: &str,
        label: &str,
    ) -> Result<(), SandboxError> {
        self.add_property(
            object,
            Property {
                name: name.to_string(),
                label: label.to_string(),
                kind: "string".into(),
                field_type: "text".into(),
                group_name: format!("{}information", object.singular()),
                has_unique_value: true,
                form_field: true,
                ..Property::default()
            },
        )
    }

    /// Adds a write validation rule, binding on `2026-09` paths only.
    pub fn add_validation_rule(&self, rule: ValidationRule) {
        self.inner.portal().rules.add(rule);
    }

    /// Removes every write validation rule.
    pub fn clear_validation_rules(&self) {
        self.inner.portal().rules.clear();
    }

    /// Adds a custom deal pipeline (created now).
    pub fn add_pipeline(&self, pipeline: DealPipeline) -> Result<(), SandboxError> {
        let now = self.inner.now_ms();
        self.inner
            .portal()
            .pipelines
            .add(pipeline, now)
            .map_err(SandboxError::Invalid)
    }

    /// Every deal pipeline, the default one first.
    pub fn pipelines(&self) -> Vec<DealPipeline> {
        self.inner.portal().pipelines.all().cloned().collect()
    }

    /// Every owner, active and deactivated.
    pub fn owners(&self) -> Vec<SandboxOwner> {
        self.inner.portal().owners.all().to_vec()
    }

    /// Adds an owner (HubSpot's API cannot; its UI can).
    pub fn add_owner(&self, owner: SandboxOwner) -> Result<(), SandboxError> {
        self.inner
            .portal()
            .owners
            .add(owner)
            .map_err(SandboxError::Invalid)
    }

    /// Stops the clock at `at_ms`: every write until [`HubSpotSandbox::unfreeze_clock`]
    /// gets this time, so tests can assert exact modified dates.
    pub fn freeze_clock(&self, at_ms: i64) {
        *lock(&self.inner.frozen_ms) = Some(at_ms);
    }

    /// Moves a frozen clock forward by `by_ms` (freezes it at now + `by_ms` if it runs).
    pub fn advance_clock(&self, by_ms: i64) {
        let now = self.inner.now_ms();
        *lock(&self.inner.frozen_ms) = Some(now + by_ms);
    }

    /// Lets the clock run on the wall clock again (never going back before a time handed
    /// out while it was running).
    pub fn unfreeze_clock(&self) {
        *lock(&self.inner.frozen_ms) = None;
    }

    /// CRM requests counted so far per API family (OAuth calls are not counted here).
    pub fn requests_by_version(&self) -> BTreeMap<ApiVersion, u64> {
        let mut counts = BTreeMap::new();
        for (endpoint, n) in self.inner.counters.snapshot() {
            if let Some(version) = ApiVersion::of_endpoint(&endpoint) {
                *counts.entry(version).or_default() += n;
            }
        }
        counts
    }
}
