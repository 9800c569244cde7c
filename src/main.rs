//! `truce`: keeps HubSpot and Salesforce in agreement, both ways, field by field.
//!
//! The binary is the edge of the system: it parses the command line, sets up logging and
//! runs one command from the `truce` library. Errors arrive here with their context chain and leave as one message on
//! stderr and an exit code: 0 ok, 1 runtime failure, 2 usage error (clap, or a command this
//! binary was built without), 78 config error.

use std::process::ExitCode;

use clap::Parser;
use truce::{cli, commands, config, logging};

/// EX_CONFIG from sysexits.h: the unit's `RestartPreventExitStatus=78` stops a restart loop
/// on a bad config.
const EXIT_CONFIG: u8 = 78;
const EXIT_FAILURE: u8 = 1;
/// What clap answers a usage error with; also a command left out of this build.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if matches!(
        cli.command,
        cli::Command::Status(_)
            | cli::Command::Conflicts(_)
            | cli::Command::History(_)
            | cli::Command::Funnel(_)
    ) {
        die_quietly_on_closed_pipe();
    }
    logging::init(cli.global.log_format, cli.global.log_level.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", render(&err));
            ExitCode::from(exit_code(&err))
        }
    }
}

/// Rust ignores SIGPIPE, so `truce history EMAIL | head` would panic on the first write
/// after `head` exits. The reading commands take the default action instead and end
/// silently, as other Unix tools do. The daemon keeps ignoring it: a closed log stream must
/// not kill the sync.
fn die_quietly_on_closed_pipe() {
    // SAFETY: called before any thread is spawned; it only resets one signal disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The error and its causes, one per line after the first.
fn render(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    out
}

fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| cause.is::<config::ConfigError>()) {
        EXIT_CONFIG
    } else if err.chain().any(|cause| cause.is::<commands::NotBuiltIn>()) {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}
