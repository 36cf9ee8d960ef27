//! Exit codes in the LSB scheme, as daemon(7) new-style recommendation 3
//! asks: systemd and init scripts read them to tell what went wrong.

use std::process::ExitCode;

/// LSB "Init Script Actions" exit codes (the daemon uses the `start` ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Success = 0,
    /// 1: generic or unspecified error (also: already running).
    Failure = 1,
    /// 2: invalid or excess arguments.
    InvalidArgs = 2,
    /// 3: unimplemented feature.
    Unimplemented = 3,
    /// 4: user had insufficient privilege.
    Privilege = 4,
    /// 5: program is not installed (a needed file or program is missing).
    NotInstalled = 5,
    /// 6: program is not configured (the configuration is invalid, or the
    /// spool directory is not private to the daemon).
    NotConfigured = 6,
    /// 7: program is not running.
    NotRunning = 7,
}

impl Exit {
    /// The table printed by `--help` and copied into the README.
    pub const TABLE: &'static str = "\
EXIT STATUS (LSB):
  0  success
  1  generic failure (also: already running)
  2  invalid arguments
  3  unimplemented feature
  4  insufficient privilege
  5  not installed (a needed file is missing)
  6  not configured (invalid configuration, unsafe spool directory)
  7  not running";

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}
