//! The SysV side of daemon(7): `--daemon` turns the process into a
//! traditional background daemon, following "SysV Daemons" steps 1-15.
//!
//! It is off by default (porting step 1: daemonizing is a switch, which
//! also eases debugging); under systemd none of it is needed, and some of
//! it (the double fork, closing descriptors) would get in the way of
//! process supervision and socket passing. [`daemonize`] is the numbered
//! list; [`steps`] holds one function per step, [`pidfile`] step 12,
//! [`privileges`] step 13 and [`ready_pipe`] steps 14 and 15.

mod pidfile;
mod privileges;
mod ready_pipe;
mod steps;
#[cfg(test)]
mod tests;

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use crate::exit::Exit;

pub use pidfile::{PidFileError, PidFileGuard, write_pid_file};
pub use privileges::{Account, PrivilegeError, drop_privileges, lookup_user};
pub use ready_pipe::ReadyPipe;
pub use steps::SAFE_PATH;

use steps::Forked;

/// What `--daemon` was asked for.
#[derive(Debug, Clone, Default)]
pub struct DaemonizeOptions {
    /// Step 12: where to record the daemon's PID. A relative path is
    /// resolved before step 11 changes to `/`.
    pub pid_file: Option<PathBuf>,
    /// Step 13: the user to drop privileges to.
    pub user: Option<String>,
    /// Descriptors to spare from step 1: sockets already bound, or passed
    /// by systemd (daemon(7) porting step 2). Also any other descriptor the
    /// caller owns and keeps, such as the notifier's socket.
    pub keep_fds: Vec<RawFd>,
}

/// Why daemonizing failed. Errors up to the first fork() are returned by
/// [`daemonize`]; later ones are reported through the ready pipe, and the
/// original process prints them and exits with [`SysvError::exit`].
#[derive(Debug, thiserror::Error)]
pub enum SysvError {
    #[error(
        "cannot daemonize with {threads} threads running: --daemon must fork before any thread starts"
    )]
    ThreadsRunning { threads: usize },
    #[error("cannot resolve pid file path {path}: {source}")]
    PidFilePath { path: PathBuf, source: io::Error },
    #[error("cannot open standard input, output and error: {0}")]
    StandardFds(io::Error),
    #[error("cannot create the start-up pipe: {0}")]
    Pipe(io::Error),
    #[error("cannot reset the signal mask: {0}")]
    SignalMask(io::Error),
    #[error("fork() failed: {0}")]
    Fork(io::Error),
    #[error("setsid() failed: {0}")]
    Setsid(io::Error),
    #[error("cannot connect standard input, output and error to /dev/null: {0}")]
    DevNull(io::Error),
    #[error("cannot change directory to /: {0}")]
    Chdir(io::Error),
    #[error(transparent)]
    PidFile(#[from] PidFileError),
    #[error(transparent)]
    Privileges(#[from] PrivilegeError),
}

impl SysvError {
    /// The LSB exit status for this failure.
    pub fn exit(&self) -> Exit {
        match self {
            // "Already running" is a generic failure for the daemon itself;
            // LSB's rule that `start` on a running service succeeds belongs
            // to the init script, which can map 1 to 0 if it wants.
            SysvError::PidFile(PidFileError::AlreadyRunning { .. }) => Exit::Failure,
            SysvError::PidFile(error) if error.is_permission_denied() => Exit::Privilege,
            // A user that does not exist is a configuration mistake.
            SysvError::Privileges(
                PrivilegeError::UnknownUser { .. } | PrivilegeError::InvalidName { .. },
            ) => Exit::NotConfigured,
            SysvError::Privileges(PrivilegeError::Lookup { .. }) => Exit::Failure,
            SysvError::Privileges(_) => Exit::Privilege,
            _ => Exit::Failure,
        }
    }
}

/// Turns this process into a SysV daemon: daemon(7) steps 1-13, with 14 and
/// 15 completed by [`ReadyPipe::report`].
///
/// Must run before any thread exists (before the tokio runtime), and before
/// the program opens anything it keeps other than `options.keep_fds`, which
/// step 1 would close; a second thread is refused with
/// [`SysvError::ThreadsRunning`].
///
/// Returns `Ok` only in the daemon process. The original process never
/// returns: it waits for the report and exits with its status (or 1, with a
/// message on stderr, if the daemon dies first). The intermediate child
/// exits after the second fork. Errors after the first fork go through the
/// pipe, so the caller sees `Err` only for failures before it.
pub fn daemonize(options: &DaemonizeOptions) -> Result<ReadyPipe, SysvError> {
    refuse_if_threaded()?;
    let pid_file = options.pid_file.as_deref().map(absolute_path).transpose()?;
    steps::ensure_standard_fds_open().map_err(SysvError::StandardFds)?;
    // daemon(7) SysV steps 14-15: the pipe must exist before the first fork()
    let (reader, writer) = steps::ready_pipe().map_err(SysvError::Pipe)?;

    // daemon(7) SysV step 1: close all inherited descriptors above 2
    let mut keep = options.keep_fds.clone();
    keep.extend([reader.as_raw_fd(), writer.as_raw_fd()]);
    steps::close_inherited_fds(&keep);
    // daemon(7) SysV step 2: reset all signal handlers to their default
    steps::reset_signal_handlers();
    // daemon(7) SysV step 3: reset the signal mask
    steps::unblock_all_signals().map_err(SysvError::SignalMask)?;
    // daemon(7) SysV step 4: sanitize the environment block
    steps::sanitize_environment();

    // daemon(7) SysV step 5: fork() a background process
    match steps::fork().map_err(SysvError::Fork)? {
        Forked::Parent { child } => {
            drop(writer);
            // daemon(7) SysV step 15: exit only once the daemon has reported
            ready_pipe::wait_for_report(reader, child)
        }
        Forked::Child => drop(reader),
    }

    // daemon(7) SysV step 6: setsid() to detach from the terminal
    if let Err(error) = steps::new_session() {
        fail(&writer, SysvError::Setsid(error));
    }
    // daemon(7) SysV step 7: fork() again, so the daemon is no session
    // leader and can never reacquire a terminal
    match steps::fork() {
        Err(error) => fail(&writer, SysvError::Fork(error)),
        // daemon(7) SysV step 8: the first child exits; the daemon is
        // re-parented to init
        Ok(Forked::Parent { .. }) => steps::exit_immediately(0),
        Ok(Forked::Child) => {}
    }

    match run_daemon_steps(pid_file.as_deref(), options.user.as_deref()) {
        Ok(pid_file) => Ok(ReadyPipe::new(writer, pid_file)),
        Err(error) => fail(&writer, error),
    }
}

/// Steps 9-13, in the daemon process. On error the PID file guard, if
/// taken, is dropped (removing the file) before the caller reports.
fn run_daemon_steps(
    pid_file: Option<&Path>,
    user: Option<&str>,
) -> Result<Option<PidFileGuard>, SysvError> {
    // daemon(7) SysV step 9: connect /dev/null to stdin, stdout and stderr
    steps::redirect_stdio_to_dev_null().map_err(SysvError::DevNull)?;
    // daemon(7) SysV step 10: umask 0; files are created with explicit modes
    steps::reset_umask();
    // daemon(7) SysV step 11: chdir("/") so no mount point is kept busy
    steps::change_to_root_dir().map_err(SysvError::Chdir)?;
    // daemon(7) SysV step 12: race-free PID file
    let guard = match pid_file {
        Some(path) => Some(write_pid_file(path, std::process::id())?),
        None => None,
    };
    // daemon(7) SysV step 13: drop privileges (after the PID file, which
    // usually lives in a directory only root may write)
    if let Some(user) = user {
        drop_privileges(&lookup_user(user)?)?;
    }
    Ok(guard)
}

fn refuse_if_threaded() -> Result<(), SysvError> {
    match steps::count_threads() {
        Some(threads) if threads > 1 => Err(SysvError::ThreadsRunning { threads }),
        // One thread, or no /proc to tell: proceed.
        _ => Ok(()),
    }
}

fn absolute_path(path: &Path) -> Result<PathBuf, SysvError> {
    std::path::absolute(path).map_err(|source| SysvError::PidFilePath {
        path: path.to_owned(),
        source,
    })
}

/// Reports `error` to the original process and exits with its status.
fn fail(writer: &std::fs::File, error: SysvError) -> ! {
    ready_pipe::fail(writer, error.exit().code(), &error.to_string())
}
