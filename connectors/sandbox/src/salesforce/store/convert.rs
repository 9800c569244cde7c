//! Lead conversion, as SOAP `convertLead()` / Apex `Database.convertLead` do it (there is
//! no REST resource: tests and the demo convert through the sandbox's control API).
//!
//! A conversion creates an Account (or fills the blank fields of the one given), a
//! Contact on it (or fills the one given, which must belong to that Account), and, unless
//! told not to, an Opportunity named after the lead's Company (or the name given), in the
//! first open stage, closing at the end of the current quarter, with the Contact as its
//! primary contact role (`Role` blank). The Lead then reads `IsConverted`,
//! `ConvertedAccountId`, `ConvertedContactId`, `ConvertedOpportunityId` (null when none was
//! made), `ConvertedDate` and the converted status, and refuses updates.
//!
//! Every option is checked before anything is written, so a refused conversion changes
//! nothing.
//!
//! ## Choices on unconfirmed behaviour
//!
//! The new Opportunity's stage and close date are not documented ([U]): the first active
//! open stage by sort order (the sales process's default) and the last day of the current
//! calendar quarter. The error codes for option conflicts are not documented either: the
//! ones below are the closest Salesforce codes by meaning. The converted status defaults to
//! the org's converted Lead status where the real call requires it.

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value, json};

use super::{CONVERTED_STATUS, Org, row_id};
use crate::salesforce::errors::SfError;

/// How to convert a lead: `LeadConvert`'s arguments. The default converts as Salesforce
/// does with nothing but the lead id and the converted status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadConvert {
    /// Merge into this Account instead of creating one.
    pub account_id: Option<String>,
    /// Merge into this Contact (which must belong to `account_id`) instead of creating one.
    pub contact_id: Option<String>,
    /// Create no Opportunity.
    pub do_not_create_opportunity: bool,
    /// The new Opportunity's name (default: the lead's Company; at most 80 characters).
    pub opportunity_name: Option<String>,
    /// The Lead status to set (default: the org's converted status).
    pub converted_status: Option<String>,
    /// The owner of the new records (default: the lead's owner).
    pub owner_id: Option<String>,
    /// Overwrite the existing Contact's `LeadSource` with the lead's.
    pub overwrite_lead_source: bool,
}

/// What a conversion made or used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadConverted {
    /// The Account (new or given).
    pub account_id: String,
    /// The Contact (new or given).
    pub contact_id: String,
    /// The new Opportunity, if one was made.
    pub opportunity_id: Option<String>,
}

/// Lead field → Account field.
const TO_ACCOUNT: [(&str, &str); 7] = [
    ("Company", "Name"),
    ("Phone", "Phone"),
    ("Website", "Website"),
    ("Industry", "Industry"),
    ("City", "BillingCity"),
    ("State", "BillingState"),
    ("Country", "BillingCountry"),
];

/// Lead field → Contact field.
const TO_CONTACT: [(&str, &str); 13] = [
    ("FirstName", "FirstName"),
    ("LastName", "LastName"),
    ("Salutation", "Salutation"),
    ("Title", "Title"),
    ("Email", "Email"),
    ("Phone", "Phone"),
    ("MobilePhone", "MobilePhone"),
    ("City", "MailingCity"),
    ("State", "MailingState"),
    ("Country", "MailingCountry"),
    ("LeadSource", "LeadSource"),
    ("HasOptedOutOfEmail", "HasOptedOutOfEmail"),
    ("DoNotCall", "DoNotCall"),
];

/// The last day of the calendar quarter `date` is in.
pub fn end_of_quarter(date: NaiveDate) -> NaiveDate {
    let last_month = (date.month0() / 3) * 3 + 3;
    let (year, next) = if last_month == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), last_month + 1)
    };
    NaiveDate::from_ymd_opt(year, next, 1)
        .and_then(|d| d.pred_opt())
        .unwrap_or(date)
}

fn error(code: &str, message: &str, fields: &[&str]) -> Vec<SfError> {
    vec![SfError::new(code, message, fields)]
}

impl Org {
    /// Converts a lead with Salesforce's defaults (Account, Contact and Opportunity made);
    /// returns `(contact id, account id)`.
    pub fn convert_lead(&mut self, lead_id: &str) -> Result<(String, String), Vec<SfError>> {
        self.convert_lead_with(lead_id, &LeadConvert::default())
            .map(|c| (c.contact_id, c.account_id))
    }

    /// Converts a lead as `convertLead()` does with these arguments.
    pub fn convert_lead_with(
        &mut self,
        lead_id: &str,
        opts: &LeadConvert,
    ) -> Result<LeadConverted, Vec<SfError>> {
        let lead = self.live_row("Lead", lead_id)?;
        if lead.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(error(
                "CANNOT_UPDATE_CONVERTED_LEAD",
                "cannot reference converted lead",
                &[],
            ));
        }
        let get = |k: &str| lead.get(k).cloned().unwrap_or(Value::Null);
        let status = opts.converted_status.as_deref().unwrap_or(CONVERTED_STATUS);
        if status != CONVERTED_STATUS {
            return Err(error(
                "INVALID_STATUS",
                &format!("invalid convertedStatus: {status}"),
                &[],
            ));
        }
        let owner = opts
            .owner_id
            .clone()
            .or_else(|| get("OwnerId").as_str().map(str::to_string))
            .unwrap_or_else(super::default_owner);
        if owner.starts_with("00G") {
            // Accounts and contacts can't be owned by a queue: a queue-owned lead needs an
            // owner for the new records.
            return Err(error(
                "INVALID_CROSS_REFERENCE_KEY",
                "Converted objects can only be owned by users. If the lead is not owned by a user, you must specify a user for the Owner field.",
                &["OwnerId"],
            ));
        }
        let account = match &opts.account_id {
            Some(id) => Some(row_id(&self.live_row("Account", id).map_err(|_| {
                error(
                    "INVALID_CROSS_REFERENCE_KEY",
                    &format!("invalid cross reference id: accountId {id}"),
                    &[],
                )
            })?)),
            None => None,
        };
        let contact = match &opts.contact_id {
            Some(id) => {
                let row = self.live_row("Contact", id).map_err(|_| {
                    error(
                        "INVALID_CROSS_REFERENCE_KEY",
                        &format!("invalid cross reference id: contactId {id}"),
                        &[],
                    )
                })?;
                let on = row.get("AccountId").and_then(Value::as_str);
                if account.is_none() || on != account.as_deref() {
                    return Err(error(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "The contact must belong to the account the lead is converted into (accountId)",
                        &[],
                    ));
                }
                Some(row_id(&row))
            }
            None => None,
        };
        let opportunity_name = match (&opts.opportunity_name, opts.do_not_create_opportunity) {
            (Some(_), true) => {
                return Err(error(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "opportunityName must be blank when doNotCreateOpportunity is true",
                    &[],
                ));
            }
            (Some(name), false) if name.chars().count() > 80 => {
                return Err(error(
                    "STRING_TOO_LONG",
                    &format!("Opportunity Name: data value too large: {name} (max length=80)"),
                    &[],
                ));
            }
            (Some(name), false) => Some(name.clone()),
            (None, false) => get("Company").as_str().map(str::to_string),
            (None, true) => None,
        };
        let stage = match opportunity_name {
            Some(_) => Some(self.first_open_stage().ok_or_else(|| {
                error(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "the sales process has no active open stage",
                    &[],
                )
            })?),
            None => None,
        };

        // Everything is checked: from here on the conversion only writes.
        let map = |pairs: &[(&str, &str)]| -> Map<String, Value> {
            pairs
                .iter()
                .map(|(from, to)| (to.to_string(), get(from)))
                .filter(|(_, v)| !v.is_null())
                .collect()
        };
        let account_id = match account {
            Some(id) => {
                let mut fill = map(&TO_ACCOUNT);
                fill.remove("Name");
                self.fill_blanks("Account", &id, fill, &[]);
                id
            }
            None => {
                let mut fields = map(&TO_ACCOUNT);
                fields.insert("AccountSource".into(), get("LeadSource"));
                fields.insert("OwnerId".into(), json!(owner));
                self.write_converted("Account", fields)?
            }
        };
        let contact_id = match contact {
            Some(id) => {
                let overwrite: &[&str] = if opts.overwrite_lead_source {
                    &["LeadSource"]
                } else {
                    &[]
                };
                self.fill_blanks("Contact", &id, map(&TO_CONTACT), overwrite);
                id
            }
            None => {
                let mut fields = map(&TO_CONTACT);
                fields.insert("AccountId".into(), json!(account_id));
                fields.insert("OwnerId".into(), json!(owner));
                self.write_converted("Contact", fields)?
            }
        };
        let opportunity_id = match (opportunity_name, stage) {
            (Some(name), Some(stage)) => {
                let close = end_of_quarter(self.now().date_naive());
                let fields = json!({
                    "Name": name, "StageName": stage.api_name,
                    "CloseDate": close.format("%Y-%m-%d").to_string(),
                    "AccountId": account_id, "OwnerId": owner, "LeadSource": get("LeadSource"),
                });
                let id = self.write_converted("Opportunity", super::obj(fields))?;
                self.add_role(&id, &contact_id, true, None);
                Some(id)
            }
            _ => None,
        };
        let mut f = Map::new();
        f.insert("IsConverted".into(), Value::Bool(true));
        f.insert("Status".into(), json!(status));
        f.insert(
            "ConvertedDate".into(),
            json!(self.now().format("%Y-%m-%d").to_string()),
        );
        f.insert("ConvertedContactId".into(), json!(contact_id));
        f.insert("ConvertedAccountId".into(), json!(account_id));
        f.insert("ConvertedOpportunityId".into(), json!(opportunity_id));
        self.touch("Lead", &row_id(&lead), f);
        Ok(LeadConverted {
            account_id,
            contact_id,
            opportunity_id,
        })
    }

    /// Creates a record of lead data, without the checks a user's write passes (the lead
    /// passed them; duplicate rules do not block a conversion here).
    fn write_converted(
        &mut self,
        object: &str,
        fields: Map<String, Value>,
    ) -> Result<String, Vec<SfError>> {
        let def = self
            .def(object)
            .ok_or_else(|| vec![SfError::not_found()])?
            .clone();
        self.write_new(&def, fields)
    }

    /// Fills the blank fields of an existing record from the lead ("only empty fields are
    /// filled"), and `overwrite` ones whatever they hold; touches it when anything changed.
    fn fill_blanks(
        &mut self,
        object: &str,
        id: &str,
        from: Map<String, Value>,
        overwrite: &[&str],
    ) {
        let Some(row) = self.get(object, id) else {
            return;
        };
        let fill: Map<String, Value> = from
            .into_iter()
            .filter(|(k, v)| {
                let current = row.get(k).cloned().unwrap_or(Value::Null);
                let blank = current.is_null() || current == json!("") || current == json!(false);
                (blank || overwrite.contains(&k.as_str())) && current != *v
            })
            .collect();
        if !fill.is_empty() {
            self.touch(object, id, fill);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_the_quarter_is_its_last_day() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(end_of_quarter(d(2026, 1, 1)), d(2026, 3, 31));
        assert_eq!(end_of_quarter(d(2026, 5, 17)), d(2026, 6, 30));
        assert_eq!(end_of_quarter(d(2026, 9, 30)), d(2026, 9, 30));
        assert_eq!(end_of_quarter(d(2026, 11, 2)), d(2026, 12, 31));
    }
}
