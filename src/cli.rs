//! The command line, parsed once into [`Cli`]. Anything it cannot parse
//! exits with LSB status 2 ("invalid arguments").

use std::ffi::OsString;
use std::path::PathBuf;

use crate::exit::Exit;

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the spooler (the default).
    Run,
    /// Validate the configuration and exit (`--check-config`).
    CheckConfig,
    /// Purge old history and stray files once, then exit (`cleanup`).
    Cleanup,
    /// Recover the spool as the daemon does and print every job as one JSON
    /// line (`check-spool`), for tests and crash-consistency harnesses.
    CheckSpool,
    Help,
    Version,
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub command: Command,
    pub config: Option<PathBuf>,
    pub listen: Vec<String>,
    pub spool_dir: Option<PathBuf>,
    pub idle_exit: Option<u64>,
    /// SysV mode (daemon(7) "SysV Daemons"); off by default: new-style.
    pub daemon: bool,
    pub pid_file: Option<PathBuf>,
    pub user: Option<String>,
    /// Serve D-Bus on the session bus instead of the system bus.
    pub session_bus: bool,
    /// Do not serve D-Bus at all.
    pub no_dbus: bool,
    pub verbose: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}\nTry 'printspoold --help'.")]
pub struct UsageError(String);

impl UsageError {
    pub fn exit(&self) -> Exit {
        Exit::InvalidArgs
    }
}

pub const USAGE: &str = "\
printspoold: a print spool server (IPP, D-Bus, drop directory, USB)

USAGE:
  printspoold [OPTIONS]            run the spooler in the foreground
  printspoold cleanup [--config F] purge old job history and stray files
  printspoold check-spool [--spool DIR]
                                   recover the spool, print each job as JSON
  printspoold --check-config [--config F]

OPTIONS:
  --config FILE      configuration file (default /etc/printspoold/printspoold.toml
                     if it exists, else built-in defaults)
  --listen ADDR      HOST:PORT or /path/to/socket; repeatable; ignored when
                     systemd passes sockets
  --spool-dir DIR    spool directory
  --idle-exit SECS   exit after SECS idle when socket-activated (0 = never)
  --session-bus      offer the D-Bus service on the session bus
  --no-dbus          do not offer the D-Bus service
  --daemon           SysV mode: fork into the background (daemon(7) steps 1-15)
  --pid-file FILE    with --daemon: write the PID here (race-free)
  --user USER        with --daemon: drop privileges to USER
  -v, --verbose      debug logging
  -h, --help         this text
  -V, --version      print the version
";

impl Cli {
    /// Parses [`std::env::args_os`].
    pub fn from_env() -> Result<Cli, UsageError> {
        Cli::parse(std::env::args_os().skip(1))
    }

    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, UsageError> {
        use lexopt::prelude::*;
        let mut cli = Cli {
            command: Command::Run,
            config: None,
            listen: Vec::new(),
            spool_dir: None,
            idle_exit: None,
            daemon: false,
            pid_file: None,
            user: None,
            session_bus: false,
            no_dbus: false,
            verbose: false,
        };
        let mut parser = lexopt::Parser::from_args(args);
        let err = |e: lexopt::Error| UsageError(e.to_string());
        while let Some(arg) = parser.next().map_err(err)? {
            match arg {
                Long("config") => cli.config = Some(parser.value().map_err(err)?.into()),
                Long("listen") => cli.listen.push(string(parser.value().map_err(err)?)?),
                Long("spool-dir") => cli.spool_dir = Some(parser.value().map_err(err)?.into()),
                Long("idle-exit") => {
                    let text = string(parser.value().map_err(err)?)?;
                    let secs = text.parse().map_err(|_| {
                        UsageError(format!("--idle-exit wants whole seconds, not \"{text}\""))
                    })?;
                    cli.idle_exit = Some(secs);
                }
                Long("daemon") => cli.daemon = true,
                Long("pid-file") => cli.pid_file = Some(parser.value().map_err(err)?.into()),
                Long("user") => cli.user = Some(string(parser.value().map_err(err)?)?),
                Long("session-bus") => cli.session_bus = true,
                Long("no-dbus") => cli.no_dbus = true,
                Long("check-config") => cli.command = Command::CheckConfig,
                Short('v') | Long("verbose") => cli.verbose = true,
                Short('h') | Long("help") => cli.command = Command::Help,
                Short('V') | Long("version") => cli.command = Command::Version,
                Value(word) if word == "cleanup" && cli.command == Command::Run => {
                    cli.command = Command::Cleanup
                }
                Value(word) if word == "check-spool" && cli.command == Command::Run => {
                    cli.command = Command::CheckSpool
                }
                // `check-spool`'s own name for the spool directory (after
                // the subcommand), as the inspection command is specified.
                Long("spool") if cli.command == Command::CheckSpool => {
                    cli.spool_dir = Some(parser.value().map_err(err)?.into())
                }
                other => return Err(err(other.unexpected())),
            }
        }
        cli.check_combinations()?;
        Ok(cli)
    }

    fn check_combinations(&self) -> Result<(), UsageError> {
        if !self.daemon && (self.pid_file.is_some() || self.user.is_some()) {
            return Err(UsageError(
                "--pid-file and --user only apply with --daemon (under systemd, the unit sets User=)"
                    .into(),
            ));
        }
        if self.session_bus && self.no_dbus {
            return Err(UsageError("--session-bus and --no-dbus contradict".into()));
        }
        Ok(())
    }
}

fn string(value: OsString) -> Result<String, UsageError> {
    value.into_string().map_err(|v| {
        UsageError(format!(
            "argument is not valid UTF-8: {}",
            v.to_string_lossy()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, UsageError> {
        Cli::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn defaults_run_in_the_foreground() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.command, Command::Run);
        assert!(!cli.daemon);
    }

    #[test]
    fn options_and_subcommand() {
        let cli = parse(&[
            "--listen",
            "127.0.0.1:1",
            "--listen=/tmp/s",
            "--idle-exit",
            "5",
        ])
        .unwrap();
        assert_eq!(cli.listen, ["127.0.0.1:1", "/tmp/s"]);
        assert_eq!(cli.idle_exit, Some(5));
        assert_eq!(parse(&["cleanup"]).unwrap().command, Command::Cleanup);
        let check = parse(&["check-spool", "--spool", "/s"]).unwrap();
        assert_eq!(check.command, Command::CheckSpool);
        assert_eq!(check.spool_dir, Some(PathBuf::from("/s")));
        assert_eq!(
            parse(&["--check-config"]).unwrap().command,
            Command::CheckConfig
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--idle-exit", "soon"]).is_err());
        assert!(parse(&["--pid-file", "/run/x.pid"]).is_err());
        assert!(parse(&["print"]).is_err());
        assert!(parse(&["--spool", "/s"]).is_err());
    }
}
