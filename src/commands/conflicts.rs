//! `truce conflicts`: every conflict the merge decided, newest last.

use serde_json::json;
use truce_state::Conflict;

use super::state_file::{self, now_ms, show, when, when_json};
use crate::cli::{ConflictsArgs, Global};

/// Lists conflicts decided since `--since`, optionally on one field.
pub async fn run(global: &Global, args: &ConflictsArgs) -> anyhow::Result<()> {
    let (path, view) = state_file::open(global)?;
    let since_ms = i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX);
    let since = now_ms().saturating_sub(since_ms);
    let conflicts = match &view {
        Some(view) => view.reader().conflicts(since, args.field.as_deref())?,
        None => Vec::new(),
    };
    if args.json {
        let rows: Vec<_> = conflicts.iter().map(conflict_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if conflicts.is_empty() {
        let scope = args
            .field
            .as_deref()
            .map(|f| format!(" on {f}"))
            .unwrap_or_default();
        let note = if view.is_none() {
            format!(" (state file {} does not exist yet)", path.display())
        } else {
            String::new()
        };
        println!("no conflicts{scope} since {}{note}", when(since));
        return Ok(());
    }
    for c in &conflicts {
        // A company or a deal is named with both its ids, as its link holds them.
        let link = match &view {
            Some(view) if c.pair != "contacts" => view.reader().link(c.link_id)?,
            _ => None,
        };
        let who = link.map_or_else(|| who(c), |link| named(&c.pair, &link));
        println!(
            "{}  link {}  {who}  {} / {}: hubspot {} vs salesforce {} (base {}) -> {} wins by {}",
            when(c.decided_at),
            c.link_id,
            c.field,
            c.salesforce_field,
            show(&c.hubspot_value),
            show(&c.salesforce_value),
            show(&c.base_value),
            c.winner,
            c.rule
        );
    }
    println!("{} conflict(s) since {}", conflicts.len(), when(since));
    Ok(())
}

/// Whom a conflict concerns: the person's email, or the company's or deal's kind and name.
pub fn who(c: &Conflict) -> String {
    match (c.pair.as_str(), &c.name) {
        ("contacts", _) => c.email.clone(),
        (pair, Some(name)) => format!("{} {name:?}", singular(pair)),
        (pair, None) => format!("{} (unnamed)", singular(pair)),
    }
}

/// A company or a deal as an admin finds it: its kind, its name and the ids it has
/// (`deal "Acme - Pilot" (hubspot 901, salesforce Opportunity/006...)`).
pub fn named(pair: &str, link: &truce_state::Link) -> String {
    let name = link
        .name
        .as_deref()
        .map_or_else(|| "(unnamed)".to_string(), |n| format!("{n:?}"));
    let mut ids = Vec::new();
    if let Some(id) = &link.hubspot_id {
        ids.push(format!("hubspot {id}"));
    }
    if let (Some(object), Some(id)) = (&link.salesforce_object, &link.salesforce_id) {
        ids.push(format!("salesforce {object}/{id}"));
    }
    format!("{} {name} ({})", singular(pair), ids.join(", "))
}

/// `company` for `companies`, `deal` for `deals`.
pub fn singular(pair: &str) -> &str {
    match pair {
        "companies" => "company",
        "deals" => "deal",
        "contacts" => "person",
        other => other,
    }
}

/// A conflict as JSON, with the field names of the `truce::conflict` log event.
pub fn conflict_json(c: &Conflict) -> serde_json::Value {
    json!({
        "id": c.id.0,
        "decided_at": when_json(c.decided_at),
        "object": c.pair,
        "link": c.link_id.0,
        "email": c.email,
        "name": c.name,
        "field": c.field,
        "salesforce_field": c.salesforce_field,
        "hubspot_value": c.hubspot_value,
        "salesforce_value": c.salesforce_value,
        "base_value": c.base_value,
        "rule": c.rule,
        "winner": c.winner,
    })
}
