//! One module per subcommand; [`run`] dispatches to them.
//!
//! Commands return `anyhow::Result` with context on every I/O step ("opening state file
//! …"); `main` turns the chain into a message and an exit code.

mod backfill;
mod check;
mod conflicts;
mod demo;
mod history;
mod retry;
mod run;
mod sandbox;
mod state_file;
mod status;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = &cli.global;
    match cli.command {
        Command::Check(args) => check::run(global, &args).await,
        Command::Run => run::run(global).await,
        Command::Backfill(args) => backfill::run(global, &args).await,
        Command::Retry(args) => retry::run(global, &args).await,
        Command::Demo(args) => demo::run(global, &args).await,
        Command::Status(args) => status::run(global, &args).await,
        Command::Conflicts(args) => conflicts::run(global, &args).await,
        Command::History(args) => history::run(global, &args).await,
        Command::Sandbox(args) => sandbox::run(global, &args).await,
    }
}
