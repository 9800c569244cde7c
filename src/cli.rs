//! The command line: every subcommand, its flags and its help.
//!
//! Help is written for the admin who runs it at 3 a.m.: what the command does, what it
//! touches, and an example. Global flags (`--config`, `--state`, `--log-format`,
//! `--log-level`) are accepted before or after the subcommand.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::parse_duration;

/// Keeps HubSpot and Salesforce in agreement, both ways, field by field.
#[derive(Debug, Parser)]
#[command(
    name = "truce",
    version,
    about = "Keeps HubSpot and Salesforce in agreement, both ways, field by field.",
    long_about = "truce links every person across HubSpot (marketing) and Salesforce (sales), \
pulls changes from each side, merges them field by field against the last agreed value, \
decides true conflicts by explicit per-field rules, writes the result back, and logs every \
decision so you can answer \"why does Salesforce say X?\".",
    after_help = "First steps:\n  truce demo                      see it work against built-in sandboxes\n  \
truce check                     validate /etc/truce/truce.toml and reach both APIs\n  \
truce backfill --dry-run        see what the first sync would do\n  \
truce backfill                  link and reconcile everything once\n  \
systemctl enable --now truce    keep them in agreement\n\n\
Exit codes: 0 ok, 1 runtime failure, 2 usage error, 78 config error."
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts, before or after its name.
#[derive(Debug, Args)]
pub struct Global {
    /// The config file.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "TRUCE_CONFIG",
        default_value = crate::config::DEFAULT_PATH
    )]
    pub config: PathBuf,

    /// Use this state file instead of the config's [state].path (no config needed for
    /// status, conflicts and history).
    #[arg(long, global = true, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Log format on stderr: human-readable text, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log level or filter (error, warn, info, debug, trace, or a filter such as
    /// "info,truce::conflict=warn"). Overrides RUST_LOG.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for journald + jq, log shippers).
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sync daemon (what systemd runs).
    #[command(
        long_about = "Run the sync daemon: poll both systems every \
[sync].poll_interval, merge changes field by field, write the result back, and log every \
decision. SIGTERM or SIGINT finishes the batch in flight and exits 0. Under systemd \
(Type=notify) it reports READY once both APIs answered, and pets the watchdog.",
        after_help = "Example:\n  truce run --config /etc/truce/truce.toml"
    )]
    Run,

    /// Link and reconcile every record once (first sync, or after a long outage).
    #[command(
        long_about = "Scan both systems completely, link every object pair the config \
syncs (people by email, companies through their people, deals by truce's own link), merge \
each link field by field (a blank side is filled from the other; two different values are \
a conflict decided by the field's rule) and write the result. Resumable: interrupt it and \
run it again to continue where it stopped, without duplicates. Run it with --dry-run \
first.",
        after_help = "Examples:\n  truce backfill --dry-run     print the plan: links, creates, updates, conflicts, API calls\n  \
truce backfill               do it"
    )]
    Backfill(BackfillArgs),

    /// Validate the config, reach both APIs and check every field mapping.
    #[command(
        long_about = "Validate the config file (every problem listed at once, each \
with its key and line), then reach both APIs: credentials, scopes, quota, and every mapped \
field (exists, compatible type, enumeration values present on both sides, required \
Salesforce fields covered, external-id field). Exits 0 only when nothing fails, 1 when a \
check against either API fails, 78 for config errors. Writes nothing to either system.",
        after_help = "Example:\n  truce check --config /etc/truce/truce.toml"
    )]
    Check(CheckArgs),

    /// Show cursors and lag, outbox depth, quarantine, duplicates and quota used.
    #[command(
        after_help = "Examples:\n  truce status\n  truce status --state /var/lib/truce/truce.db --json"
    )]
    Status(OutputArgs),

    /// List conflicts: both sides changed a field, and a rule decided.
    #[command(
        after_help = "Examples:\n  truce conflicts                  the last 24 hours\n  \
truce conflicts --since 7d --field lifecyclestage\n  truce conflicts --json | jq ."
    )]
    Conflicts(ConflictsArgs),

    /// Field-level timeline of one person, company or deal across both systems: who
    /// changed what, when, and which rule decided.
    #[command(
        long_about = "Field-level timeline of one record across both systems. Give a person's \
email, or a company's or deal's name (any case) or the id of its record in either system.",
        after_help = "Examples:\n  truce history jane.doe@example.com\n  \
truce history \"Acme Corp\"\n  truce history 0065g00000AbCdEAAZ"
    )]
    History(HistoryArgs),

    /// The shared funnel and the SLA score: qualified in HubSpot, handed to sales, worked,
    /// converted, opportunity, won.
    #[command(
        long_about = "Count what became of the contacts marketing qualified in the \
window: handed to sales as Leads, worked (share within the SLA, median and 90th percentile \
time to first touch), converted, turned into an opportunity, won (count and amount), and \
the hand-offs breached or discarded untouched; overall and per HubSpot lead source. Reads \
the state file alone (a copy will do) and calls no API. --json prints the documented \
contract; --html writes one self-contained page with the funnel drawn to scale.",
        after_help = "Examples:\n  truce funnel                         the last 90 days\n  \
truce funnel --since 30d --json | jq .sla\n  \
truce funnel --html /tmp/funnel.html --state /backup/truce.db"
    )]
    Funnel(FunnelArgs),

    /// Re-queue quarantined writes (after fixing the cause).
    #[command(
        after_help = "Examples:\n  truce status                 shows the quarantine\n  \
truce retry 12 15            re-queue entries 12 and 15\n  truce retry --all"
    )]
    Retry(RetryArgs),

    /// Run truce against built-in HubSpot and Salesforce sandboxes, seeded, syncing live.
    #[command(
        long_about = "Start both sandboxes in-process, seed a small realistic world, \
run a backfill, then sync live while a scripted marketing team and sales team edit records. \
Needs no config and touches no real system.",
        after_help = "Example:\n  cargo run --release -- demo --duration 60s"
    )]
    Demo(DemoArgs),

    /// Serve just the two fake APIs, for trying a config safely.
    #[command(
        long_about = "Serve the HubSpot and Salesforce sandboxes (faithful local \
fakes of both APIs) on loopback ports, and print the base URLs and the credentials they \
accept. Point a config at them to try truce without touching a real system.",
        after_help = "Example:\n  truce sandbox --hubspot-port 8081 --salesforce-port 8082 --seed 7"
    )]
    Sandbox(SandboxArgs),
}

/// `truce backfill` options.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Print the plan and write nothing to either API.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this object pair: `contacts`, `companies` or `deals` (default: every pair the
    /// config syncs).
    #[arg(long, value_name = "OBJECT")]
    pub object: Option<String>,
}

/// `truce check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only validate the file; do not contact the APIs.
    #[arg(long)]
    pub offline: bool,
}

/// Output options shared by the reading commands.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `truce conflicts` options.
#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// How far back to look, e.g. 24h, 7d, 90m.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub since: Duration,
    /// Only conflicts on this HubSpot property.
    #[arg(long, value_name = "PROPERTY")]
    pub field: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `truce history` options.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A person's email address, or a company's or deal's name or record id.
    #[arg(value_name = "EMAIL|NAME|ID")]
    pub email: String,
    /// Print JSON instead of a timeline.
    #[arg(long)]
    pub json: bool,
}

/// `truce funnel` options.
#[derive(Debug, Args)]
pub struct FunnelArgs {
    /// The window: contacts first seen qualified within this long before now (90d, 12h,
    /// 30m, 45s, or combined like 1d12h).
    #[arg(long, default_value = "90d", value_name = "SPAN", value_parser = parse_since)]
    pub since: Duration,
    /// Print the JSON contract instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the funnel as one self-contained HTML page at PATH.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

/// Parses `--since`: a span back from now, saying which forms it takes when it is not one.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|why| {
        format!(
            "{why}; --since takes a span back from now: a number and a unit, e.g. 90d, 12h, \
             30m, 45s (units d, h, m, s, ms; combined like 1d12h)"
        )
    })
}

/// `truce retry` options.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Re-queue every open quarantine entry.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    /// Quarantine entry ids (from `truce status`).
    #[arg(required_unless_present = "all", value_name = "ID")]
    pub ids: Vec<i64>,
}

/// `truce demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long the live part runs.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Seed of the generated world and the scripted edits.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the sandboxes running afterwards, for experiments.
    #[arg(long)]
    pub keep: bool,
}

/// `truce sandbox` options.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// HubSpot sandbox port (0 picks a free one).
    #[arg(long, default_value_t = 8081)]
    pub hubspot_port: u16,
    /// Salesforce sandbox port (0 picks a free one).
    #[arg(long, default_value_t = 8082)]
    pub salesforce_port: u16,
    /// Seed of the generated records.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many HubSpot contacts to seed.
    #[arg(long, default_value_t = 500)]
    pub contacts: usize,
    /// How many Salesforce leads to seed.
    #[arg(long, default_value_t = 300)]
    pub leads: usize,
    /// How many of the seeded HubSpot contacts also exist as Salesforce leads (same email),
    /// so a backfill has people to link.
    #[arg(long, default_value_t = 100)]
    pub shared: usize,
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_malformed_since_names_the_accepted_forms() {
        let err = super::parse_since("ninety days").unwrap_err();
        for form in ["90d", "12h", "30m"] {
            assert!(err.contains(form), "{err}");
        }
        assert_eq!(
            super::parse_since("90d"),
            Ok(std::time::Duration::from_secs(90 * 86_400))
        );
    }
}
