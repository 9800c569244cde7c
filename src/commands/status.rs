//! `truce status`: where each stream stands, what waits to be written, what needs an admin.

use serde_json::json;
use truce_state::status::Status;
use truce_state::{Duplicate, Link, Quarantined, Reader, SlaSummary};

use super::conflicts::named;
use super::state_file::{self, ago, now_ms, when, when_json};
use crate::cli::{Global, OutputArgs};

/// Prints the status of the state file (an empty store when it does not exist yet).
pub async fn run(global: &Global, args: &OutputArgs) -> anyhow::Result<()> {
    let (path, view) = state_file::open(global)?;
    let (status, quarantine, duplicates, quotas, sla) = match &view {
        Some(view) => {
            let reader = view.reader();
            (
                Some(reader.status()?),
                with_links(&reader, reader.quarantined(false)?)?,
                reader.duplicates()?,
                reader.quotas()?,
                reader.sla_summary()?,
            )
        }
        None => (
            None,
            Vec::new(),
            Vec::new(),
            Vec::new(),
            SlaSummary::default(),
        ),
    };
    let now = now_ms();
    if args.json {
        let body = json!({
            "state_file": path.display().to_string(),
            "exists": status.is_some(),
            "status": status.as_ref().map(|s| status_json(s, now)),
            "quarantine": quarantine.iter().map(|(q, link)| quarantine_json(q, link.as_ref())).collect::<Vec<_>>(),
            "duplicates": duplicates.iter().map(duplicate_json).collect::<Vec<_>>(),
            "quota": quotas.iter().map(|q| json!({
                "system": q.system,
                "used": q.used,
                "max": q.max,
                "observed_at": when_json(q.observed_at),
            })).collect::<Vec<_>>(),
            "sla": sla_json(&sla),
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    println!("state file   {}", path.display());
    let Some(status) = status else {
        println!(
            "             (does not exist yet: empty store; `truce backfill` or `truce run` creates it)"
        );
        print_empty();
        return Ok(());
    };
    print_status(&status, now);
    print_sla(&sla);
    for q in &quotas {
        let share = if q.max > 0 {
            100.0 * q.used as f64 / q.max as f64
        } else {
            0.0
        };
        println!(
            "quota        {}: {} of {} daily calls used ({share:.1}%), reported {} ago",
            q.system,
            q.used,
            q.max,
            ago(now - q.observed_at)
        );
    }
    print_quarantine(&quarantine);
    print_duplicates(&duplicates);
    Ok(())
}

fn print_empty() {
    println!("links        0 active");
    println!("outbox       0 pending");
    println!("quarantine   0 open");
    println!("duplicates   0");
    println!("sla          0 hand-offs");
    println!("cursors      none yet (nothing pulled)");
}

/// The SLA line: hand-offs waiting for sales, and how many of them are past the agreed
/// time now.
fn print_sla(sla: &SlaSummary) {
    if sla.handoffs == 0 {
        println!("sla          0 hand-offs (recorded while [sla] is configured)");
        return;
    }
    println!(
        "sla          {} hand-offs: {} open, {} of them breached now; {} met, {} breached, \
         {} discarded untouched in all",
        sla.handoffs, sla.open, sla.breached_open, sla.met, sla.breached, sla.discarded_untouched
    );
}

fn sla_json(sla: &SlaSummary) -> serde_json::Value {
    json!({
        "handoffs": sla.handoffs,
        "open": sla.open,
        "breached_open": sla.breached_open,
        "met": sla.met,
        "breached": sla.breached,
        "discarded_untouched": sla.discarded_untouched,
    })
}

fn print_status(status: &Status, now: i64) {
    println!("schema       v{}", status.schema_version);
    let per_pair = if status.links_by_pair.len() > 1 {
        let parts: Vec<String> = status
            .links_by_pair
            .iter()
            .map(|(pair, n)| format!("{pair} {n}"))
            .collect();
        format!(" ({})", parts.join(", "))
    } else {
        String::new()
    };
    println!(
        "links        {} active{per_pair}, {} unlinked",
        status.links_active, status.links_unlinked
    );
    match status.outbox_oldest_pending_at {
        Some(oldest) => println!(
            "outbox       {} pending (oldest planned {} ago)",
            status.outbox_pending,
            ago(now - oldest)
        ),
        None => println!("outbox       0 pending"),
    }
    println!("quarantine   {} open", status.quarantine_open);
    println!("duplicates   {}", status.duplicates);
    println!("change log   {} changes", status.last_seq);
    if status.cursors.is_empty() {
        println!("cursors      none yet (nothing pulled)");
    } else {
        println!("cursors      (stream: newest change seen, lag behind now, last moved)");
        for c in &status.cursors {
            println!(
                "  {:<24} {}  lag {:<5} moved {} ago",
                format!("{}/{}", c.system, c.stream),
                when(c.cursor.modified_at),
                ago(now - c.cursor.modified_at),
                ago(now - c.updated_at)
            );
        }
    }
    for scan in &status.scans {
        println!(
            "backfill     {}/{}: {} records, {}",
            scan.system,
            scan.object,
            scan.records,
            if scan.done {
                "complete"
            } else {
                "in progress (resumable)"
            }
        );
    }
}

/// Each entry with its link, which names a company or a deal (people are named by email).
fn with_links(
    reader: &Reader<'_>,
    entries: Vec<Quarantined>,
) -> anyhow::Result<Vec<(Quarantined, Option<Link>)>> {
    let mut out = Vec::with_capacity(entries.len());
    for q in entries {
        let link = match q.link_id {
            Some(id) if q.pair != "contacts" => reader.link(id)?,
            _ => None,
        };
        out.push((q, link));
    }
    Ok(out)
}

fn print_quarantine(entries: &[(Quarantined, Option<Link>)]) {
    if entries.is_empty() {
        return;
    }
    println!("\nquarantined (fix the cause, then `truce retry ID...` or `truce retry --all`):");
    for (q, link) in entries {
        let who = match (link, &q.email) {
            (Some(link), _) => format!(" {}", named(&q.pair, link)),
            (None, Some(email)) => format!(" <{email}>"),
            (None, None) => String::new(),
        };
        println!(
            "  #{:<5} {} {} {}{who}: {} {}",
            q.id,
            when(q.quarantined_at),
            q.system,
            q.record_id.as_deref().unwrap_or("(new record)"),
            q.error_code,
            q.message
        );
    }
}

fn print_duplicates(entries: &[Duplicate]) {
    if entries.is_empty() {
        return;
    }
    println!("\nduplicates (one key, several records on one side; truce will not guess):");
    for d in entries {
        println!(
            "  {} {} {}: {}",
            d.pair,
            d.system,
            d.key,
            d.record_ids.join(", ")
        );
    }
}

fn status_json(status: &Status, now: i64) -> serde_json::Value {
    json!({
        "schema_version": status.schema_version,
        "links_active": status.links_active,
        "links_by_object": status.links_by_pair.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "links_unlinked": status.links_unlinked,
        "outbox_pending": status.outbox_pending,
        "outbox_oldest_pending_at": status.outbox_oldest_pending_at.map(when_json),
        "quarantine_open": status.quarantine_open,
        "duplicates": status.duplicates,
        "changes": status.last_seq,
        "cursors": status.cursors.iter().map(|c| json!({
            "system": c.system,
            "stream": c.stream,
            "modified_at": when_json(c.cursor.modified_at),
            "record_id": c.cursor.id,
            "lag_seconds": (now - c.cursor.modified_at) / 1000,
            "updated_at": when_json(c.updated_at),
        })).collect::<Vec<_>>(),
        "scans": status.scans.iter().map(|s| json!({
            "system": s.system,
            "object": s.object,
            "records": s.records,
            "done": s.done,
        })).collect::<Vec<_>>(),
    })
}

fn quarantine_json(q: &Quarantined, link: Option<&Link>) -> serde_json::Value {
    json!({
        "id": q.id.0,
        "quarantined_at": when_json(q.quarantined_at),
        "object": q.pair,
        "link": q.link_id.map(|l| l.0),
        "email": q.email,
        "name": link.and_then(|l| l.name.as_deref()),
        "system": q.system,
        "record_id": q.record_id,
        "field": q.field,
        "error_code": q.error_code,
        "message": q.message,
    })
}

fn duplicate_json(d: &Duplicate) -> serde_json::Value {
    json!({
        "object": d.pair,
        "system": d.system,
        "key": d.key,
        // People are keyed by email; kept under its old name for scripts.
        "email": (d.pair == "contacts").then_some(&d.key),
        "record_ids": d.record_ids,
        "detected_at": when_json(d.detected_at),
    })
}
