//! `truce history EMAIL|NAME|ID`: one person's, company's or deal's field-level timeline
//! across both systems. An argument with an `@` is a person's email; anything else names
//! a company or a deal (its name, any case) or a record id of either system.

use serde_json::json;
use truce_state::HistoryEntry;

use super::conflicts::{conflict_json, named};
use super::state_file::{self, show, when, when_json};
use crate::cli::{Global, HistoryArgs};

/// Prints every observed change and every conflict decision for one email, oldest first.
pub async fn run(global: &Global, args: &HistoryArgs) -> anyhow::Result<()> {
    let (path, view) = state_file::open(global)?;
    let person = args.email.contains('@');
    let entries = match &view {
        Some(view) if person => view.reader().history(&args.email)?,
        Some(view) => view.reader().record_history(&args.email)?,
        None => Vec::new(),
    };
    if args.json {
        let rows: Vec<_> = entries.iter().map(entry_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if entries.is_empty() {
        let note = if view.is_none() {
            format!(" (state file {} does not exist yet)", path.display())
        } else {
            String::new()
        };
        println!("nothing recorded for {}{note}", args.email.trim());
        return Ok(());
    }
    // A company or a deal is named as its link names it, whichever name or id was asked.
    let link = match (&view, person) {
        (Some(view), false) => match entries.iter().find_map(|e| match e {
            HistoryEntry::Change(c) => c.link_id,
            HistoryEntry::Conflict(c) => Some(c.link_id),
        }) {
            Some(id) => view.reader().link(id)?,
            None => None,
        },
        _ => None,
    };
    let who = match &link {
        Some(link) => named(&link.pair, link),
        None if person => args.email.trim().to_lowercase(),
        None => args.email.trim().to_string(),
    };
    println!("history of {who} (oldest first)");
    for entry in &entries {
        match entry {
            HistoryEntry::Change(c) => println!(
                "{}  {:<10} {}/{}  {}: {} -> {}  [{}]",
                when(c.observed_at),
                c.system,
                c.object,
                c.record_id,
                c.field,
                show(&c.old),
                show(&c.new),
                match c.origin.as_str() {
                    "echo" => "echo of truce's write",
                    "truce" => "written by truce",
                    _ => "edited in that system",
                }
            ),
            HistoryEntry::Conflict(c) => println!(
                "{}  conflict   {} / {}: hubspot {} vs salesforce {} (base {}) -> {} wins by rule {}",
                when(c.decided_at),
                c.field,
                c.salesforce_field,
                show(&c.hubspot_value),
                show(&c.salesforce_value),
                show(&c.base_value),
                c.winner,
                c.rule
            ),
        }
    }
    Ok(())
}

fn entry_json(entry: &HistoryEntry) -> serde_json::Value {
    match entry {
        HistoryEntry::Change(c) => json!({
            "kind": "change",
            "observed_at": when_json(c.observed_at),
            "pair": c.pair,
            "system": c.system,
            "object": c.object,
            "record_id": c.record_id,
            "link": c.link_id.map(|l| l.0),
            "field": c.field,
            "old": c.old,
            "new": c.new,
            "source_modified_at": when_json(c.source_modified_at),
            "origin": c.origin.as_str(),
        }),
        HistoryEntry::Conflict(c) => {
            let mut value = conflict_json(c);
            if let Some(map) = value.as_object_mut() {
                map.insert("kind".into(), json!("conflict"));
            }
            value
        }
    }
}
