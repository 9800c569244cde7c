//! What ties records together across objects, applied on every write:
//!
//! - **References** are checked: an id of the wrong object (by key prefix) or a malformed
//!   one is `INVALID_CROSS_REFERENCE_KEY` "…: id value of incorrect type: …", an id of no
//!   record is `INVALID_CROSS_REFERENCE_KEY` "invalid cross reference id", a deleted
//!   record is `ENTITY_IS_DELETED`. Owners (users, queues) are not checked: the sandbox
//!   keeps no User table.
//! - **Unique fields** (the External ID fields) refuse a value another live record holds
//!   (`DUPLICATE_VALUE`), case-insensitively.
//! - **Opportunity stage**: `StageName` sets `IsClosed`, `IsWon`, and, unless the same
//!   save sends them, `ForecastCategoryName` and `Probability`; `ExpectedRevenue` and the
//!   fiscal period follow `Amount`, `Probability` and `CloseDate`.
//! - **Contact roles**: one primary per Opportunity (marking one un-marks the previous,
//!   which is a change of that role: its stamps move); `Opportunity.ContactId` follows the
//!   primary role.
//! - **Cascades**: deleting an Account deletes its Contacts and Opportunities, deleting an
//!   Opportunity its contact roles; merging re-points references to the survivor.
//!
//! ## Choices on unconfirmed behaviour
//!
//! Whether a contact-role change re-stamps its Opportunity is not documented; the evidence
//! (years without any way to see OCR changes from the Opportunity) says no, so it does not:
//! a sync must read OpportunityContactRole by its own `SystemModstamp`. For the same reason
//! `Opportunity.ContactId` follows the primary role without moving the Opportunity's
//! stamps. Roles of a deleted Opportunity go to the recycle bin with it (so `queryAll` and
//! `deleted` report them); roles of a deleted Contact stay, pointing at it, as documented.

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value, json};

use super::{Org, format_datetime, is_deleted, obj, row_id};
use crate::salesforce::errors::SfError;
use crate::salesforce::objects::ObjectDef;
use crate::salesforce::objects::opportunity::{self, Stage, default_stages, forecast_category};

/// The creation time of the org's built-in metadata rows (fixed, so tests are
/// deterministic).
const ORG_CREATED: &str = "2024-01-01T00:00:00.000+0000";

impl Org {
    /// Checks reference and unique fields of a write, normalising referenced ids to 18
    /// characters. `own_id` is the record being updated.
    pub(super) fn check_links(
        &self,
        def: &ObjectDef,
        clean: &mut Map<String, Value>,
        own_id: Option<&str>,
    ) -> Result<(), Vec<SfError>> {
        let mut errors = Vec::new();
        for f in &def.fields {
            let Some(Value::String(value)) = clean.get(&f.name).cloned() else {
                continue;
            };
            if f.unique {
                let clash = self
                    .find_by_value(def.name, &f.name, &value)
                    .into_iter()
                    .find(|id| Some(id.as_str()) != own_id);
                if let Some(other) = clash {
                    errors.push(SfError::new(
                        "DUPLICATE_VALUE",
                        &format!(
                            "duplicate value found: {} duplicates value on record with id: {other}",
                            f.name
                        ),
                        &[&f.name],
                    ));
                }
            }
            let held: Vec<&str> = f
                .reference_to
                .iter()
                .copied()
                .filter(|t| self.def(t).is_some())
                .collect();
            if held.is_empty() {
                continue;
            }
            let target = Org::normalize_id(&value)
                .and_then(|id| self.object_of(&id).map(|object| (object, id)))
                .filter(|(object, _)| held.contains(object));
            let Some((object, id)) = target else {
                errors.push(SfError::new(
                    "INVALID_CROSS_REFERENCE_KEY",
                    &format!("{}: id value of incorrect type: {value}", f.label),
                    &[&f.name],
                ));
                continue;
            };
            match self.get(object, &id) {
                None => errors.push(SfError::new(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    &[&f.name],
                )),
                Some(row) if is_deleted(row) => errors.push(SfError::new(
                    "ENTITY_IS_DELETED",
                    "entity is deleted",
                    &[&f.name],
                )),
                Some(_) => {
                    clean.insert(f.name.clone(), Value::String(id));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Fills the fields Salesforce derives from a write (`existing`: the row before an
    /// update).
    pub(super) fn derive(
        &self,
        def: &ObjectDef,
        clean: &mut Map<String, Value>,
        existing: Option<&Map<String, Value>>,
    ) -> Result<(), Vec<SfError>> {
        if def.name != "Opportunity" {
            return Ok(());
        }
        if let Some(name) = clean
            .get("StageName")
            .and_then(Value::as_str)
            .map(str::to_string)
            && let Some(stage) = self.stages().into_iter().find(|s| s.api_name == name)
        {
            clean.insert("IsClosed".into(), json!(stage.closed));
            clean.insert("IsWon".into(), json!(stage.won));
            // Implied, not controlled: a value sent with the same save wins.
            if !clean.contains_key("ForecastCategoryName") {
                clean.insert("ForecastCategoryName".into(), json!(stage.forecast));
            }
            if !clean.contains_key("Probability") {
                clean.insert("Probability".into(), json!(stage.probability));
            }
            let before = existing
                .and_then(|r| r.get("StageName"))
                .and_then(Value::as_str);
            if existing.is_some() && before != Some(name.as_str()) {
                clean.insert(
                    "LastStageChangeDate".into(),
                    json!(format_datetime(self.now())),
                );
            }
        }
        if let Some(Value::Number(p)) = clean.get("Probability")
            && !(0.0..=100.0).contains(&p.as_f64().unwrap_or(-1.0))
        {
            // [U] code and text; NUMBER_OUTSIDE_VALID_RANGE is the code Salesforce uses for
            // numbers out of a field's range.
            return Err(vec![SfError::new(
                "NUMBER_OUTSIDE_VALID_RANGE",
                &format!("Probability (%): value outside of valid range on numeric field: {p}"),
                &["Probability"],
            )]);
        }
        if let Some(name) = clean.get("ForecastCategoryName").and_then(Value::as_str) {
            let category = forecast_category(name);
            clean.insert("ForecastCategory".into(), json!(category));
        }
        let current = |k: &str| {
            clean
                .get(k)
                .or_else(|| existing.and_then(|r| r.get(k)))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let expected = match (current("Amount").as_f64(), current("Probability").as_f64()) {
            (Some(amount), Some(p)) => json!((amount * p).round() / 100.0),
            _ => Value::Null,
        };
        clean.insert("ExpectedRevenue".into(), expected);
        if let Some(date) = clean
            .get("CloseDate")
            .and_then(Value::as_str)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        {
            // The standard fiscal year: calendar quarters.
            let quarter = date.month0() / 3 + 1;
            clean.insert("FiscalYear".into(), json!(date.year()));
            clean.insert("FiscalQuarter".into(), json!(quarter));
            clean.insert("Fiscal".into(), json!(format!("{} {quarter}", date.year())));
        }
        Ok(())
    }

    /// What a written row does to others: a primary contact role, an Opportunity created
    /// with its `ContactId`. `before` is the row before an update; `written` the fields set.
    pub(super) fn after_write(
        &mut self,
        def: &ObjectDef,
        id: &str,
        before: Option<&Map<String, Value>>,
        written: &Map<String, Value>,
    ) {
        match def.name {
            "Opportunity" if before.is_none() => {
                if let Some(contact) = written.get("ContactId").and_then(Value::as_str) {
                    self.add_role(id, contact, true, None);
                }
            }
            "OpportunityContactRole" => {
                let Some(row) = self.get(def.name, id).cloned() else {
                    return;
                };
                let opportunity = row
                    .get("OpportunityId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let primary = row.get("IsPrimary") == Some(&Value::Bool(true));
                let was_primary =
                    before.is_some_and(|r| r.get("IsPrimary") == Some(&Value::Bool(true)));
                if primary {
                    for other in self.children(def.name, "OpportunityId", &opportunity) {
                        let marked = self
                            .get(def.name, &other)
                            .is_some_and(|r| r.get("IsPrimary") == Some(&Value::Bool(true)));
                        if other != id && marked {
                            self.touch(def.name, &other, obj(json!({"IsPrimary": false})));
                        }
                    }
                    let contact = row.get("ContactId").cloned().unwrap_or(Value::Null);
                    self.set_silently(
                        "Opportunity",
                        &opportunity,
                        obj(json!({"ContactId": contact})),
                    );
                } else if was_primary {
                    self.set_silently("Opportunity", &opportunity, obj(json!({"ContactId": null})));
                }
            }
            _ => {}
        }
    }

    /// Adds a contact role (conversion and `Opportunity.ContactId` make them).
    pub(super) fn add_role(
        &mut self,
        opportunity: &str,
        contact: &str,
        primary: bool,
        role: Option<&str>,
    ) -> Option<String> {
        let def = self.def("OpportunityContactRole")?.clone();
        let fields = obj(json!({
            "OpportunityId": opportunity, "ContactId": contact, "IsPrimary": primary, "Role": role,
        }));
        self.write_new(&def, fields).ok()
    }

    /// What goes to the recycle bin with a deleted row.
    pub(super) fn after_delete(&mut self, def: &ObjectDef, row: &Map<String, Value>) {
        let id = row_id(row);
        let cascade: &[(&str, &str)] = match def.name {
            "Account" => &[("Contact", "AccountId"), ("Opportunity", "AccountId")],
            "Opportunity" => &[("OpportunityContactRole", "OpportunityId")],
            _ => &[],
        };
        for (object, field) in cascade {
            for child in self.children(object, field, &id) {
                // A child already gone (deleted through another path) is fine to skip.
                let _ = self.delete(object, &child);
            }
        }
        if def.name == "OpportunityContactRole" && row.get("IsPrimary") == Some(&Value::Bool(true))
        {
            let opportunity = row
                .get("OpportunityId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            self.set_silently("Opportunity", &opportunity, obj(json!({"ContactId": null})));
        }
    }

    /// Points every writable reference to `loser` (an `object` record) at `master`.
    pub(super) fn reparent(&mut self, object: &str, loser: &str, master: &str) {
        let mut moves = Vec::new();
        for def in &self.defs {
            for f in def
                .fields
                .iter()
                .filter(|f| f.createable && f.reference_to.contains(&object))
            {
                for child in self.children(def.name, &f.name, loser) {
                    moves.push((def.name, child, f.name.clone()));
                }
            }
        }
        for (child_object, child, field) in moves {
            let mut f = Map::new();
            f.insert(field, Value::String(master.to_string()));
            self.touch(child_object, &child, f);
        }
    }

    /// The org's opportunity stages (inactive ones included), in sort order.
    pub fn stages(&self) -> Vec<Stage> {
        let mut rows: Vec<&Map<String, Value>> = self.rows("OpportunityStage").collect();
        rows.sort_by_key(|r| r.get("SortOrder").and_then(Value::as_i64).unwrap_or(0));
        rows.into_iter()
            .map(|r| {
                let text = |k: &str| {
                    r.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let flag = |k: &str| r.get(k) == Some(&Value::Bool(true));
                Stage {
                    label: text("MasterLabel"),
                    api_name: text("ApiName"),
                    probability: r
                        .get("DefaultProbability")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0),
                    forecast: text("ForecastCategoryName"),
                    closed: flag("IsClosed"),
                    won: flag("IsWon"),
                    active: flag("IsActive"),
                }
            })
            .collect()
    }

    /// The first active open stage: what a converted lead's Opportunity starts in.
    pub fn first_open_stage(&self) -> Option<Stage> {
        self.stages().into_iter().find(|s| s.active && !s.closed)
    }

    pub(super) fn seed_stages(&mut self) {
        for stage in default_stages() {
            self.put_stage(stage, ORG_CREATED.to_string());
        }
    }

    /// Adds a stage at the end of the sales process (as an admin would in Setup); returns
    /// its id. Its api name becomes a valid `StageName` when it is active.
    pub fn add_stage(&mut self, stage: Stage) -> String {
        let now = format_datetime(self.now());
        self.put_stage(stage, now)
    }

    fn put_stage(&mut self, stage: Stage, at: String) -> String {
        let order = self.rows("OpportunityStage").count() + 1;
        // Stage rows draw from their own sequence, so adding stages never shifts the ids
        // of data records (deterministic seeds stay deterministic).
        let id = super::id18(&format!("01J5g{order:010}"));
        let row = obj(json!({
            "Id": id, "MasterLabel": stage.label, "ApiName": stage.api_name,
            "IsActive": stage.active, "SortOrder": order, "IsClosed": stage.closed,
            "IsWon": stage.won, "ForecastCategoryName": stage.forecast,
            "ForecastCategory": forecast_category(&stage.forecast),
            "DefaultProbability": stage.probability, "Description": null,
            "CreatedDate": at, "LastModifiedDate": at, "SystemModstamp": at,
        }));
        if let Some(table) = self.tables.get_mut("OpportunityStage") {
            table.insert(id.clone(), row);
        }
        let field = opportunity::stage_field(&self.stages());
        if let Some(def) = self.defs.iter_mut().find(|d| d.name == "Opportunity")
            && let Some(slot) = def.fields.iter_mut().find(|f| f.name == "StageName")
        {
            *slot = field;
        }
        id
    }
}
