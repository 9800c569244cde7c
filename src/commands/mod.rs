//! One module per subcommand; [`run`] dispatches to them.
//!
//! Commands return `anyhow::Result` with context on every I/O step ("opening state file
//! …"); `main` turns the chain into a message and an exit code.
//!
//! `demo` and `sandbox` need the `sandbox` feature; built without it, they fail with
//! [`NotBuiltIn`], which `main` turns into exit code 2.

mod backfill;
mod backfill_plan;
mod check;
mod conflicts;
#[cfg(feature = "sandbox")]
mod demo;
mod funnel;
mod history;
mod retry;
mod run;
#[cfg(feature = "sandbox")]
mod sandbox;
mod state_file;
mod status;

use crate::cli::{Cli, Command};

/// A command this binary was built without: `truce demo` and `truce sandbox` without the
/// `sandbox` feature.
#[derive(Debug, thiserror::Error)]
#[error(
    "`truce {command}` is not in this binary: it was built without the `sandbox` feature \
     (the HubSpot and Salesforce sandboxes); build it with the default features to use it"
)]
pub struct NotBuiltIn {
    /// The subcommand asked for.
    pub command: &'static str,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = &cli.global;
    match cli.command {
        Command::Check(args) => check::run(global, &args).await,
        Command::Run => run::run(global).await,
        Command::Backfill(args) => backfill::run(global, &args).await,
        Command::Retry(args) => retry::run(global, &args).await,
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => demo::run(global, &args).await,
        #[cfg(not(feature = "sandbox"))]
        Command::Demo(_) => Err(NotBuiltIn { command: "demo" }.into()),
        Command::Status(args) => status::run(global, &args).await,
        Command::Conflicts(args) => conflicts::run(global, &args).await,
        Command::History(args) => history::run(global, &args).await,
        Command::Funnel(args) => funnel::run(global, &args).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox::run(global, &args).await,
        #[cfg(not(feature = "sandbox"))]
        Command::Sandbox(_) => Err(NotBuiltIn { command: "sandbox" }.into()),
    }
}
