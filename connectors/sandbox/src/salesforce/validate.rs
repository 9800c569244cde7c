//! Write validation as Salesforce does it, from the object's describe: unknown and
//! read-only fields, required fields, email syntax, text lengths, restricted picklists,
//! booleans. Every failure found is reported at once, in Salesforce's words, with the
//! fields named.

use serde_json::{Map, Value};

use super::errors::SfError;
use super::objects::{FieldDef, ObjectDef};

/// Validates a create (`existing == None`) or an update, returning the body with field
/// names in their canonical case.
pub fn check_write(
    def: &ObjectDef,
    fields: &Map<String, Value>,
    existing: Option<&Map<String, Value>>,
) -> Result<Map<String, Value>, Vec<SfError>> {
    let mut clean = Map::new();
    let mut errors = Vec::new();
    let mut read_only = Vec::new();
    for (name, value) in fields {
        if name == "attributes" || (name.eq_ignore_ascii_case("Id") && existing.is_some()) {
            continue;
        }
        let Some(f) = def.field(name) else {
            errors.push(SfError::new(
                "INVALID_FIELD",
                &format!("No such column '{name}' on sobject of type {}", def.name),
                &[],
            ));
            continue;
        };
        let writable = if existing.is_some() {
            f.updateable
        } else {
            f.createable
        };
        if !writable {
            read_only.push(f.name.clone());
            continue;
        }
        if f.is_number() {
            match number(f, value) {
                Ok(v) => {
                    clean.insert(f.name.clone(), v);
                }
                Err(e) => errors.push(e),
            }
            continue;
        }
        if let ("date", Value::String(s)) = (f.ty, value)
            && !s.is_empty()
            && !is_date(s)
        {
            errors.push(SfError::new(
                "JSON_PARSER_ERROR",
                &format!("Cannot deserialize instance of date from VALUE_STRING value {s} or request may be missing a required field"),
                &[],
            ));
            continue;
        }
        let value = match (f.ty, value) {
            ("boolean", Value::Bool(_)) => value.clone(),
            ("boolean", Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            ("boolean", Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            ("boolean", Value::Null) => Value::Bool(false),
            ("boolean", other) => {
                errors.push(SfError::new(
                    "JSON_PARSER_ERROR",
                    &format!("Cannot deserialize instance of boolean from VALUE_STRING value {other} or request may be missing a required field"),
                    &[],
                ));
                continue;
            }
            (_, Value::Bool(b)) => Value::String(b.to_string()),
            (_, Value::Number(n)) => Value::String(n.to_string()),
            (_, Value::String(s)) if s.is_empty() => Value::Null,
            (_, Value::Array(_) | Value::Object(_)) => {
                errors.push(SfError::new(
                    "JSON_PARSER_ERROR",
                    &format!(
                        "Cannot deserialize instance of {} from START_ARRAY value",
                        f.ty
                    ),
                    &[],
                ));
                continue;
            }
            _ => value.clone(),
        };
        if let Value::String(s) = &value {
            let chars = s.chars().count() as u32;
            if f.length > 0 && chars > f.length && f.ty != "picklist" {
                errors.push(SfError::new(
                    "STRING_TOO_LONG",
                    &format!(
                        "{}: data value too large: {} (max length={})",
                        f.label,
                        ellipsis(s),
                        f.length
                    ),
                    &[&f.name],
                ));
                continue;
            }
            if f.ty == "email" && !is_email(s) {
                errors.push(SfError::new(
                    "INVALID_EMAIL_ADDRESS",
                    &format!("{}: invalid email address: {s}", f.label),
                    &[&f.name],
                ));
                continue;
            }
            if f.restricted && !f.picklist.iter().any(|v| v == s) {
                errors.push(SfError::new(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    &format!("{}: bad value for restricted picklist field: {s}", f.label),
                    &[&f.name],
                ));
                continue;
            }
        }
        if value.is_null() && f.restricted && !f.nillable {
            errors.push(SfError::new(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                &format!("{}: bad value for restricted picklist field: null", f.label),
                &[&f.name],
            ));
            continue;
        }
        clean.insert(f.name.clone(), value);
    }
    if !read_only.is_empty() {
        let names: Vec<&str> = read_only.iter().map(String::as_str).collect();
        errors.push(SfError::new(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            &format!(
                "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                names.join(", ")
            ),
            &names,
        ));
    }
    // Required fields: missing on create, or set to null on update.
    let missing: Vec<&str> = def
        .fields
        .iter()
        .filter(|f| !f.nillable && f.createable && !f.defaulted_on_create)
        .filter(|f| {
            // A value refused above (too long, bad email) is wrong, not missing.
            let refused = !clean.contains_key(&f.name)
                && fields
                    .iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case(&f.name) && !v.is_null());
            if refused {
                return false;
            }
            let new = clean.get(&f.name);
            match existing {
                None => new.is_none_or(Value::is_null),
                Some(_) => new.is_some_and(Value::is_null),
            }
        })
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        errors.insert(
            0,
            SfError::new(
                "REQUIRED_FIELD_MISSING",
                &format!("Required fields are missing: [{}]", missing.join(", ")),
                &missing,
            ),
        );
    }
    if errors.is_empty() {
        Ok(clean)
    } else {
        Err(errors)
    }
}

/// A number field's value: JSON numbers (integers for `int`), numeric strings, or null.
fn number(f: &FieldDef, value: &Value) -> Result<Value, SfError> {
    let parsed = match value {
        Value::Null => return Ok(Value::Null),
        Value::String(s) if s.is_empty() => return Ok(Value::Null),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    };
    let kind = match value {
        Value::String(_) => "VALUE_STRING",
        Value::Bool(_) => "VALUE_TRUE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        _ => "VALUE_NUMBER_FLOAT",
    };
    let refuse = || {
        SfError::new(
            "JSON_PARSER_ERROR",
            &format!(
                "Cannot deserialize instance of {} from {kind} value {value} or request may be missing a required field",
                f.ty
            ),
            &[],
        )
    };
    let n = parsed.ok_or_else(refuse)?;
    if f.ty == "int" {
        if n.fract() != 0.0 {
            return Err(refuse());
        }
        return Ok(Value::from(n as i64));
    }
    Ok(Value::from(n))
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn ellipsis(s: &str) -> String {
    if s.chars().count() > 40 {
        let head: String = s.chars().take(40).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}

/// Salesforce's email check, approximately: one `@`, a non-empty local part without
/// spaces, a dotted domain of letters, digits and hyphens.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.');
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels.last().is_some_and(|tld| tld.len() >= 2);
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::super::objects::{ExternalIds, schemas};
    use super::*;
    use serde_json::json;

    fn lead() -> ObjectDef {
        schemas(&ExternalIds::default())
            .into_iter()
            .find(|d| d.name == "Lead")
            .unwrap_or_else(|| panic!("no Lead"))
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_lead_without_last_name_and_company_names_both() {
        let errs = check_write(&lead(), &body(json!({"FirstName": "Ann"})), None)
            .err()
            .unwrap_or_default();
        assert_eq!(errs[0].code, "REQUIRED_FIELD_MISSING");
        assert_eq!(
            errs[0].message,
            "Required fields are missing: [LastName, Company]"
        );
        assert_eq!(errs[0].fields, vec!["LastName", "Company"]);
    }

    #[test]
    fn bad_email_long_names_and_unknown_statuses_are_refused_with_their_field() {
        let errs = check_write(
            &lead(),
            &body(json!({"LastName": "x".repeat(81), "Company": "A", "Email": "not-an-email", "Status": "Hot"})),
            None,
        )
        .err()
        .unwrap_or_default();
        let mut codes: Vec<&str> = errs.iter().map(|e| e.code.as_str()).collect();
        codes.sort();
        assert_eq!(
            codes,
            vec![
                "INVALID_EMAIL_ADDRESS",
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "STRING_TOO_LONG"
            ]
        );
        let email = errs.iter().find(|e| e.code == "INVALID_EMAIL_ADDRESS");
        assert_eq!(
            email.map(|e| e.message.as_str()),
            Some("Email: invalid email address: not-an-email")
        );
        assert_eq!(
            email.map(|e| e.fields.clone()),
            Some(vec!["Email".to_string()])
        );
    }

    #[test]
    fn system_fields_cannot_be_written() {
        let errs = check_write(
            &lead(),
            &body(json!({"LastName": "A", "Company": "B", "IsConverted": true})),
            None,
        )
        .err()
        .unwrap_or_default();
        assert_eq!(errs[0].code, "INVALID_FIELD_FOR_INSERT_UPDATE");
        assert_eq!(errs[0].fields, vec!["IsConverted"]);
    }

    #[test]
    fn emails_are_checked_for_shape() {
        assert!(is_email("ann.lee+x@example.co.uk"));
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a b@c.com",
            "a@b",
            "a@b..com",
            "a@@b.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
