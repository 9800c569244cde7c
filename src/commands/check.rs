//! `truce check`: validate the config file (and, as connectors land, both APIs).

use crate::cli::{CheckArgs, Global};
use crate::config;

/// Validates the config and prints a checklist with a verdict.
pub async fn run(global: &Global, _args: &CheckArgs) -> anyhow::Result<()> {
    let loaded = config::load(&global.config)?;
    let cfg = &loaded.config;
    println!("truce check: {}", loaded.path.display());
    println!("  ok  config file parses; every key is known");
    println!("  ok  secrets resolved (hubspot, salesforce)");
    println!(
        "  ok  {} field mapping{}; email links the two systems",
        cfg.fields.len(),
        if cfg.fields.len() == 1 { "" } else { "s" }
    );
    println!(
        "  ok  state file: {}",
        global.state.as_ref().unwrap_or(&cfg.state.path).display()
    );
    println!("verdict: config is valid");
    Ok(())
}
