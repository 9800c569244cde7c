//! Matching an association batch answer to the inputs it concerns.
//!
//! HubSpot's association batch answers name no trace id: an error says which records it
//! is about in its `context` (`INVALID_OBJECT_IDS: ["COMPANY=42 is not valid"]`,
//! `fromObjectId`) or only in its message. Each error is given to the inputs whose "from"
//! or "to" record it names (with the type word when it says one, so a contact id is never
//! taken for a company id); a create's results (`LabelsBetweenObjectPair`) say which
//! inputs were made. An input no error names is done, unless the answer holds an error
//! naming no input: then it is not known to be done and gets that error (inputs a create's
//! results list are done either way). The answer may be a 207, or a 200 with `errors`
//! (2026-09): both read the same.

use std::collections::HashSet;

use serde_json::Value;

use super::calls::{api_of_standard, class_of_category};
use super::wire::StandardError;
use super::wire::associations::{AssociationBatch, LabelsBetween};
use crate::error::Error;

/// One input of an association batch, with the write it belongs to.
#[derive(Debug, Clone)]
pub struct Input<T> {
    /// The write it belongs to.
    pub key: i64,
    /// The "from" record.
    pub from: String,
    /// The "to" records.
    pub to: Vec<String>,
    /// What is sent.
    pub body: T,
}

/// The type word HubSpot uses in association errors (`COMPANY=42 is not valid`).
fn type_word(path: &str) -> &'static str {
    match path {
        "contacts" => "CONTACT",
        "companies" => "COMPANY",
        "deals" => "DEAL",
        _ => "",
    }
}

/// The record ids a text names, with the type word when it says one (`COMPANY=42`).
fn named_ids(text: &str) -> Vec<(Option<String>, String)> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '=' || c == '_'))
        .filter_map(|token| match token.split_once('=') {
            Some((word, id)) if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) => {
                Some((Some(word.to_ascii_uppercase()), id.to_string()))
            }
            None if !token.is_empty() && token.chars().all(|c| c.is_ascii_digit()) => {
                Some((None, token.to_string()))
            }
            _ => None,
        })
        .collect()
}

/// The inputs an error concerns: those whose records it names (by its context, else by
/// its message).
fn blamed<T>(error: &StandardError, inputs: &[Input<T>], from: &str, to: &str) -> Vec<usize> {
    let (from_word, to_word) = (type_word(from), type_word(to));
    let hits = |names: &[(Option<String>, String)]| -> Vec<usize> {
        inputs
            .iter()
            .enumerate()
            .filter(|(_, input)| {
                names.iter().any(|(word, id)| {
                    let is_from = word.as_deref().is_none_or(|w| w == from_word);
                    let is_to = word.as_deref().is_none_or(|w| w == to_word);
                    (is_from && input.from == *id) || (is_to && input.to.contains(id))
                })
            })
            .map(|(i, _)| i)
            .collect()
    };
    let context: Vec<(Option<String>, String)> = error
        .context
        .values()
        .flatten()
        .flat_map(|text| named_ids(text))
        .collect();
    let by_context = hits(&context);
    if !by_context.is_empty() {
        return by_context;
    }
    hits(&named_ids(&error.message))
}

/// Pairs each input with the error that concerns it. An input no error names is done,
/// unless the answer holds an error naming no input: then it is not known to be done,
/// and gets that error (inputs a create's results list are done either way).
pub fn outcomes<T>(
    action: &str,
    inputs: &[Input<T>],
    answer: AssociationBatch<Value>,
    (from, to): (&str, &str),
) -> Vec<(i64, Error)> {
    let made: HashSet<(String, String)> = answer
        .results
        .into_iter()
        .filter_map(|r| serde_json::from_value::<LabelsBetween>(r).ok())
        .map(|l| (l.from_object_id, l.to_object_id))
        .collect();
    let mut errors: Vec<Option<Error>> = vec![None; inputs.len()];
    let mut unplaced: Option<Error> = None;
    for error in &answer.errors {
        let err = Error::new(
            class_of_category(&error.category),
            action,
            api_of_standard(error),
        );
        let hit = blamed(error, inputs, from, to);
        if hit.is_empty() {
            unplaced.get_or_insert(err);
            continue;
        }
        for i in hit {
            errors[i].get_or_insert_with(|| err.clone());
        }
    }
    inputs
        .iter()
        .zip(errors)
        .filter_map(|(input, error)| {
            let listed = input
                .to
                .iter()
                .all(|to| made.contains(&(input.from.clone(), to.clone())));
            let error = error.or_else(|| unplaced.clone().filter(|_| !listed))?;
            Some((input.key, error))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorClass;

    #[test]
    fn errors_are_matched_to_the_inputs_whose_records_they_name() {
        let input = |key: i64, from: &str, to: &str| Input {
            key,
            from: from.into(),
            to: vec![to.into()],
            body: (),
        };
        let inputs = [
            input(1, "1001", "5001"),
            input(2, "1002", "42"),
            input(3, "1003", "5003"),
        ];
        let answer: AssociationBatch<Value> = serde_json::from_value(json!({
            "results": [{"fromObjectId": 1001, "toObjectId": 5001, "labels": []}],
            "errors": [{"status": "error", "category": "VALIDATION_ERROR",
                        "message": "COMPANY=42 is not valid",
                        "context": {"INVALID_OBJECT_IDS": ["COMPANY=42 is not valid"]}}]
        }))
        .unwrap();
        let failed = outcomes("a", &inputs, answer, ("contacts", "companies"));
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, 2);
        assert_eq!(failed[0].1.api().message, "COMPANY=42 is not valid");
        assert_eq!(failed[0].1.class(), ErrorClass::Permanent);
        // An error naming nobody: whatever is not listed as made is not known to be done.
        let answer: AssociationBatch<Value> = serde_json::from_value(json!({
            "results": [{"fromObjectId": "1001", "toObjectId": "5001", "labels": []}],
            "errors": [{"status": "error", "category": "INTERNAL_ERROR", "message": "oops"}]
        }))
        .unwrap();
        let failed = outcomes("a", &inputs, answer, ("contacts", "companies"));
        let keys: Vec<i64> = failed.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec![2, 3]);
        assert_eq!(failed[0].1.class(), ErrorClass::Transient);
    }
}
