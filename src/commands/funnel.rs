//! `truce funnel`: the shared funnel and the SLA score, from the state file alone.
//!
//! Opens the state file read-only (a copy taken elsewhere works as well), counts the
//! cohort with [`crate::funnel`], and prints a table, or the JSON contract with `--json`;
//! `--html PATH` also writes the page. A state file that does not exist yet, or one with
//! nothing in it, is an empty funnel, not an error.

use std::path::Path;

use anyhow::Context;
use truce_state::{ReadView, StoreError};

use super::state_file::{self, now_ms};
use crate::cli::{FunnelArgs, Global};
use crate::engine::sla::human;
use crate::funnel::html::{self, money, percent};
use crate::funnel::{Funnel, Part, STAGES, gather, rfc3339};

/// Prints the funnel of the contacts qualified within `--since`.
pub async fn run(global: &Global, args: &FunnelArgs) -> anyhow::Result<()> {
    let path = state_file::path(global)?;
    let until = now_ms();
    let since = until.saturating_sub(i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX));
    let (funnel, note) = match open(&path)? {
        Some(view) => {
            let entries = gather(&view.reader(), since, until)
                .with_context(|| format!("counting the funnel from {}", path.display()))?;
            let note = entries.is_empty().then_some(
                "no contact was seen qualified in this window (hand-offs are recorded while \
                 [sla] is configured)",
            );
            (Funnel::from_entries(since, until, &entries), note)
        }
        None => (
            Funnel::from_entries(since, until, &[]),
            Some("the state file holds nothing yet"),
        ),
    };
    if let Some(target) = &args.html {
        std::fs::write(target, html::page(&funnel, &path.display().to_string()))
            .with_context(|| format!("writing the funnel page to {}", target.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&funnel.json())?);
        if let Some(target) = &args.html {
            eprintln!("funnel page written to {}", target.display());
        }
        return Ok(());
    }
    println!(
        "funnel  contacts qualified {} .. {} (state file {})",
        rfc3339(funnel.since),
        rfc3339(funnel.until),
        path.display()
    );
    if let Some(note) = note {
        println!("        ({note})");
    }
    print_part(&funnel.overall, "  ");
    for (source, part) in &funnel.by_source {
        println!("\nsource {source}");
        print_part(part, "  ");
    }
    if let Some(target) = &args.html {
        println!("\nfunnel page written to {}", target.display());
    }
    Ok(())
}

/// The state file read-only; `None` when it does not exist or holds no schema at all.
fn open(path: &Path) -> anyhow::Result<Option<ReadView>> {
    match ReadView::open(path) {
        Ok(view) => Ok(Some(view)),
        Err(StoreError::Missing { .. }) | Err(StoreError::Outdated { found: 0, .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

fn print_part(part: &Part, indent: &str) {
    let mut previous: Option<u64> = None;
    for (stage, (_, label)) in part.stages.iter().zip(STAGES) {
        let share = match previous {
            Some(before) if before > 0 => percent(stage.count as f64 / before as f64),
            _ => String::new(),
        };
        let amount = stage
            .amount
            .map(|a| format!("  amount {}", money(a)))
            .unwrap_or_default();
        println!("{indent}{label:<22}{:>8}  {share:>5}{amount}", stage.count);
        previous = Some(stage.count);
    }
    let sla = &part.sla;
    let time = |s: Option<i64>| s.map_or_else(|| "-".to_string(), |s| human(s * 1000));
    println!(
        "{indent}SLA: {} met ({} of worked), {} breached, {} discarded untouched, {} open; \
         first touch median {}, p90 {}",
        sla.met,
        part.share_within_sla()
            .map_or_else(|| "-".to_string(), percent),
        sla.breached,
        sla.discarded_untouched,
        sla.open,
        time(sla.median_first_touch_s),
        time(sla.p90_first_touch_s)
    );
}
