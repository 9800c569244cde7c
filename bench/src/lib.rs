//! The benchmark harness behind `truce-bench` (issue 7): figures, not timed tests.
//!
//! Each scenario serves the HubSpot and Salesforce sandboxes in this process, configured
//! like real tiers (HubSpot Professional: 190 requests per rolling 10 s, search 5 per s;
//! a Salesforce daily allocation), writes a real config file pointing at them, and runs the
//! real engine in a **child process** (`truce-bench` re-executed with a hidden
//! sub-command, [`child`]), so that the peak RSS it reports is truce's own and not the
//! sandboxes'. The parent reads the sandboxes' request counters and limit hits, which are
//! what the API quota sees.
//!
//! - [`world`]: the sandboxes' world with real-tier limits, the seeded population, the
//!   convergence check;
//! - [`child`]: the sub-commands run in the child, and how the parent runs them;
//! - [`scenarios`]: the five scenarios of the issue, each returning a [`Report`];
//! - [`revenue`]: the revenue backfill (contacts, companies, deals, associations) and the
//!   association sweep after it (issues 12 and 13);
//! - [`settle`]: the backfill scenario's settle figure and the `--latency` option;
//! - this module: tables, percentiles, peak RSS, the figures written with `--json`.
//!
//! Nothing here asserts a timing: targets are printed next to the figures, and a missed
//! target is reported, not failed.
//!
//! A crate of its own (`bench/`, crate `truce-bench`), so that nothing of the benchmark is
//! on the daemon's path: it uses `truce` as a library (without its `sandbox` feature: the
//! engine, config loading and connectors are all it needs) and `truce-sandbox` for the
//! sandboxes and their world.

pub mod child;
pub mod revenue;
pub mod scenarios;
pub mod settle;
pub mod world;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// One scenario's result: printable tables, notes, and the figures for `--json`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The scenario's name (`backfill`, `steady`, ...).
    pub scenario: String,
    /// Tables, printed in order.
    pub tables: Vec<Table>,
    /// Lines printed after the tables (what bounds each figure, caveats).
    pub notes: Vec<String>,
    /// The figures, by name.
    pub figures: BTreeMap<String, Value>,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: &str) -> Report {
        Report {
            scenario: scenario.to_string(),
            ..Report::default()
        }
    }

    /// Records one figure.
    pub fn figure(&mut self, name: &str, value: impl Into<Value>) {
        self.figures.insert(name.to_string(), value.into());
    }

    /// The report as text: every table, then the notes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for table in &self.tables {
            out.push_str(&table.render());
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "  {note}");
        }
        out
    }
}

/// A titled table of text cells, rendered with aligned columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Printed above the table.
    pub title: String,
    /// Column headers.
    pub header: Vec<String>,
    /// Rows of cells (as many as headers).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with a title and column headers.
    pub fn new(title: &str, header: &[&str]) -> Table {
        Table {
            title: title.to_string(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Column-aligned text: first column left-aligned, the others right-aligned.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from("  ");
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
                if i > 0 {
                    s.push_str(" | ");
                }
                if i == 0 {
                    s.push_str(cell);
                    s.push_str(&pad);
                } else {
                    s.push_str(&pad);
                    s.push_str(cell);
                }
            }
            s.push_str(" |");
            s
        };
        let mut out = format!("{}\n", self.title);
        out.push_str(&line(&self.header));
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&rule));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }

    /// The table as Markdown (for pasting into the README).
    pub fn markdown(&self) -> String {
        let mut out = format!("| {} |\n", self.header.join(" | "));
        out.push_str(&format!(
            "|{}\n",
            self.header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        ));
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }
}

/// The `p`-th percentile (0–100) of `values` by the nearest-rank method; `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// This process's peak resident set size in KiB (`VmHWM` in `/proc/self/status`), or 0
/// where that file does not exist.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

/// Whole units with thousands separators: `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Records `n` spread over calls of at most `per_call`: the fewest calls the batch size
/// allows (one call even when there is nothing, for a scan that must look once).
pub fn min_calls(n: u64, per_call: u64) -> u64 {
    n.div_ceil(per_call.max(1))
}

/// Records one Salesforce sObject Collections retrieve reads.
pub const SALESFORCE_RETRIEVE: u64 = 2_000;

/// The fewest Salesforce calls to read back `created` records of an object whose mapped
/// fields Salesforce fills on create (a Lead's `Status`): its describe, once, then
/// retrieves of 2,000.
pub fn salesforce_read_back(created: u64) -> u64 {
    if created == 0 {
        return 0;
    }
    1 + min_calls(created, SALESFORCE_RETRIEVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 95.0), Some(95.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[7.0], 0.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn tables_align_columns_and_render_as_markdown() {
        let mut table = Table::new("calls", &["system", "calls"]);
        table.row(vec!["HubSpot".into(), "1,000".into()]);
        table.row(vec!["Salesforce".into(), "7".into()]);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "calls");
        assert_eq!(lines[1], "  system     | calls |");
        assert_eq!(lines[3], "  HubSpot    | 1,000 |");
        assert_eq!(lines[4], "  Salesforce |     7 |");
        assert_eq!(
            table.markdown(),
            "| system | calls |\n|---|---:|\n| HubSpot | 1,000 |\n| Salesforce | 7 |\n"
        );
    }

    #[test]
    fn thousands_and_minimum_calls() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(min_calls(100_000, 100), 1000);
        assert_eq!(min_calls(50_001, 1000), 51);
        assert_eq!(min_calls(0, 100), 0);
    }
}
