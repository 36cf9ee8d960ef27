//! The binary's entry point: one function per [`Command`]. Running the
//! spooler is [`crate::daemon::run`]; the others do one thing and exit with
//! an LSB status ([`Exit`]).

use std::process::ExitCode;

use crate::cli::{Cli, Command, USAGE};
use crate::config::Config;
use crate::daemon::{self, DaemonSettings};
use crate::exit::Exit;
use crate::logging::{self, Style};

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = match Cli::from_env() {
        Ok(cli) => cli,
        Err(e) => {
            logging::early_error(&e.to_string());
            return e.exit().into();
        }
    };
    let exit = match cli.command {
        Command::Help => {
            println!("{USAGE}\n{}", Exit::TABLE);
            Exit::Success
        }
        Command::Version => {
            println!("printspoold {}", env!("CARGO_PKG_VERSION"));
            Exit::Success
        }
        Command::CheckConfig => check_config(&cli),
        Command::Cleanup => cleanup(&cli),
        Command::Run => daemon::run(&cli),
    };
    exit.into()
}

/// `--check-config`: exit 0 when valid, 6 ("not configured") otherwise.
fn check_config(cli: &Cli) -> Exit {
    match Config::load_default_or(cli.config.as_deref()) {
        Ok((_, Some(path))) => {
            println!("{}: configuration is valid", path.display());
            Exit::Success
        }
        Ok((_, None)) => {
            println!("no configuration file: built-in defaults apply");
            Exit::Success
        }
        Err(e) => {
            logging::early_error(&e.to_string());
            Exit::NotConfigured
        }
    }
}

/// `cleanup`: one pass over the spool, a one-line summary on stdout. The
/// spool directory is resolved as the daemon resolves it
/// ([`DaemonSettings::resolve`]).
fn cleanup(cli: &Cli) -> Exit {
    logging::init(Style::detect(), cli.verbose);
    let settings = match DaemonSettings::resolve(cli) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("{e}");
            return e.exit();
        }
    };
    let now = crate::clock::unix_now();
    // Under systemd this is printspoold-cleanup.service, which only its
    // timer starts (an administrator's `systemctl start` aside).
    let activation = if std::env::var_os("INVOCATION_ID").is_some() {
        "timer"
    } else {
        "command"
    };
    match crate::cleanup::run(
        &settings.spool_dir,
        &settings.config.history,
        now,
        activation,
    ) {
        Ok(summary) => {
            println!("{summary}");
            Exit::Success
        }
        Err(e) => {
            tracing::error!("cleanup of {}: {e}", settings.spool_dir.display());
            if e.is_permission_denied() {
                Exit::Privilege
            } else {
                Exit::Failure
            }
        }
    }
}
