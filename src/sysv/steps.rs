//! The individual process-level steps of daemon(7) "SysV Daemons", each a
//! small function so [`daemonize`] reads as the numbered list.
//!
//! [`daemonize`]: crate::sysv::daemonize

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, RawFd};

/// The PATH the daemon and its children get, whatever the caller had:
/// systemd's default for services, so SysV mode and new-style mode find
/// the same programs.
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables kept by step 4, all harmless and useful to keep as the
/// administrator set them: the locale of messages and the time zone of
/// timestamps. Everything else goes, in particular `LD_PRELOAD` and
/// `LD_LIBRARY_PATH` (code injected into us and our backends), `HOME`,
/// `USER`, `LOGNAME` (the invoking user's, wrong after step 13), `TERM`
/// and `DISPLAY` (no terminal after step 6), `JOURNAL_STREAM` (stderr is
/// /dev/null after step 9), `NOTIFY_SOCKET` and `WATCHDOG_*` (a SysV
/// daemon has no supervisor listening) and any `LISTEN_*` left over.
const KEPT_VARIABLES: [&str; 3] = ["LANG", "LANGUAGE", "TZ"];
const KEPT_PREFIXES: [&str; 1] = ["LC_"];

/// How many threads the process runs, or `None` without /proc.
pub fn count_threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(Iterator::count)
}

/// Makes sure descriptors 0, 1 and 2 are open (on /dev/null if they were
/// closed), so no descriptor opened later, such as the ready pipe, can
/// land on one of them and be clobbered by step 9.
pub fn ensure_standard_fds_open() -> io::Result<()> {
    for fd in 0..=2 {
        if !is_open(fd) {
            let null = open_dev_null()?;
            if null != fd {
                // SAFETY: both are valid descriptors we control; dup2 makes
                // `fd` a copy of the /dev/null descriptor.
                if unsafe { libc::dup2(null, fd) } == -1 {
                    return Err(io::Error::last_os_error());
                }
                close(null);
            }
        }
    }
    Ok(())
}

/// The pipe of steps 14 and 15: (read end, write end), both close-on-exec
/// so no program the daemon starts can hold the original process waiting.
pub fn ready_pipe() -> io::Result<(File, File)> {
    let mut fds: [RawFd; 2] = [-1, -1];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    let (reader, writer) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    Ok((reader, writer))
}

/// Step 1: closes every descriptor above 2 except `keep`.
///
/// Descriptors are listed from /proc/self/fd and collected before any is
/// closed (closing while reading the directory would close the directory's
/// own descriptor under it); without /proc, every number from 3 to the
/// RLIMIT_NOFILE limit is tried. Runs before the program opens anything it
/// means to keep other than `keep`, so no Rust object owns what is closed.
pub fn close_inherited_fds(keep: &[RawFd]) {
    let candidates = open_fds_from_proc().unwrap_or_else(|_| (3..fd_limit()).collect());
    for fd in candidates {
        if fd > 2 && !keep.contains(&fd) {
            close(fd);
        }
    }
}

fn open_fds_from_proc() -> io::Result<Vec<RawFd>> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        {
            fds.push(fd);
        }
    }
    // The directory's own descriptor is in the list; it is closed when the
    // iterator drops here, so closing it again later is a harmless EBADF.
    Ok(fds)
}

/// The RLIMIT_NOFILE soft limit: no descriptor can be numbered higher.
/// Capped at Linux's default fs.nr_open (2^20) so an unlimited soft limit
/// does not mean two billion close() calls.
fn fd_limit() -> RawFd {
    const NR_OPEN_DEFAULT: RawFd = 1 << 20;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == -1 {
        return 1024; // the traditional default
    }
    RawFd::try_from(limit.rlim_cur).map_or(NR_OPEN_DEFAULT, |limit| limit.min(NR_OPEN_DEFAULT))
}

/// Step 2: every signal handler back to SIG_DFL, for signals 1 up to _NSIG
/// (SIGRTMAX is _NSIG - 1). SIGKILL and SIGSTOP cannot be changed; the
/// real-time signals the C library reserves for itself answer EINVAL and
/// are skipped the same way.
///
/// Then SIGPIPE goes back to SIG_IGN: that is the Rust runtime's own setting,
/// which makes a write to a closed socket return EPIPE instead of killing
/// the daemon, and which the rest of the program relies on.
pub fn reset_signal_handlers() {
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        set_disposition(signal, libc::SIG_DFL);
    }
    set_disposition(libc::SIGPIPE, libc::SIG_IGN);
}

fn set_disposition(signal: libc::c_int, handler: libc::sighandler_t) {
    // SAFETY: an all-zero sigaction is valid (empty mask, no flags); we
    // install SIG_DFL or SIG_IGN, never a Rust function.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        // The result is ignored on purpose: EINVAL marks a signal that
        // cannot be reset, which is fine.
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// Step 3: an empty signal mask, so no signal the caller blocked stays
/// blocked in the daemon (a blocked SIGTERM would make it unstoppable).
pub fn unblock_all_signals() -> io::Result<()> {
    // SAFETY: sigemptyset initialises the set; sigprocmask reads it. The
    // process is single-threaded, so the process mask is the thread mask.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Step 4: applies [`sanitized_environment`] to this process.
pub fn sanitize_environment() {
    let current: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let wanted = sanitized_environment(current.iter().cloned());
    for (name, _) in &current {
        if !wanted.iter().any(|(kept, _)| kept == name) {
            // SAFETY: daemonize checked that no other thread exists.
            unsafe { std::env::remove_var(name) };
        }
    }
    for (name, value) in &wanted {
        // SAFETY: as above.
        unsafe { std::env::set_var(name, value) };
    }
}

/// The environment the daemon keeps from `current`: the locale and time
/// zone variables (`LANG`, `LANGUAGE`, `LC_*`, `TZ`) and a PATH reset to
/// [`SAFE_PATH`].
pub fn sanitized_environment(
    current: impl Iterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut kept: Vec<(OsString, OsString)> =
        current.filter(|(name, _)| is_kept_variable(name)).collect();
    kept.push(("PATH".into(), SAFE_PATH.into()));
    kept
}

fn is_kept_variable(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    KEPT_VARIABLES.contains(&name) || KEPT_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// Which side of a fork() we are on.
pub enum Forked {
    Parent { child: libc::pid_t },
    Child,
}

/// Steps 5 and 7.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the process is single-threaded (checked by daemonize), so the
    // child is a complete copy with no lock held by a vanished thread.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        child => Ok(Forked::Parent { child }),
    }
}

/// Step 6: a new session without a controlling terminal.
pub fn new_session() -> io::Result<()> {
    // SAFETY: setsid takes no arguments and only changes process state.
    if unsafe { libc::setsid() } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ends this process at once, without running exit handlers or flushing
/// stdio buffers that were copied from the parent by fork() (they would
/// be written twice).
pub fn exit_immediately(status: u8) -> ! {
    // SAFETY: _exit is always safe to call; it never returns.
    unsafe { libc::_exit(libc::c_int::from(status)) }
}

/// Step 9: stdin, stdout and stderr on /dev/null.
pub fn redirect_stdio_to_dev_null() -> io::Result<()> {
    let null = open_dev_null()?;
    for fd in 0..=2 {
        // SAFETY: `null` is open; dup2 atomically replaces `fd` with a copy.
        if unsafe { libc::dup2(null, fd) } == -1 {
            let error = io::Error::last_os_error();
            close(null);
            return Err(error);
        }
    }
    if null > 2 {
        close(null);
    }
    Ok(())
}

/// Step 10: umask 0, so the modes passed to open() and mkdir() are the
/// modes files get. From here on, every file the daemon creates must be
/// given an explicit mode (std's default of 0o666 would be world-writable).
pub fn reset_umask() {
    // SAFETY: umask only swaps the process's file mode creation mask.
    unsafe { libc::umask(0) };
}

/// Step 11: the root directory, so the daemon does not keep a mount point
/// busy.
pub fn change_to_root_dir() -> io::Result<()> {
    std::env::set_current_dir("/")
}

fn open_dev_null() -> io::Result<RawFd> {
    // SAFETY: a NUL-terminated literal path and plain flags.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads descriptor flags; EBADF means closed.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

fn close(fd: RawFd) {
    // SAFETY: callers pass descriptors no Rust object owns (see
    // close_inherited_fds); EBADF for an already closed one is harmless.
    unsafe { libc::close(fd) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect()
    }

    #[test]
    fn environment_keeps_locale_and_time_zone_and_resets_path() {
        let current = environment(&[
            ("LANG", "de_DE.UTF-8"),
            ("LC_TIME", "en_GB.UTF-8"),
            ("LANGUAGE", "de"),
            ("TZ", "Europe/Berlin"),
            ("PATH", "/home/me/bin:/usr/bin"),
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("HOME", "/home/me"),
            ("NOTIFY_SOCKET", "/run/systemd/notify"),
            ("LISTEN_PID", "1"),
            ("JOURNAL_STREAM", "8:1234"),
            ("TZDIR", "/tmp"),
            ("XLC_ALL", "x"),
        ]);
        let kept = sanitized_environment(current.into_iter());
        assert_eq!(
            kept,
            environment(&[
                ("LANG", "de_DE.UTF-8"),
                ("LC_TIME", "en_GB.UTF-8"),
                ("LANGUAGE", "de"),
                ("TZ", "Europe/Berlin"),
                ("PATH", SAFE_PATH),
            ])
        );
    }

    #[test]
    fn path_is_set_even_when_missing() {
        let kept = sanitized_environment(std::iter::empty());
        assert_eq!(kept, environment(&[("PATH", SAFE_PATH)]));
    }

    #[test]
    fn threads_are_counted() {
        // libtest runs each test on a thread of its own next to main.
        assert!(count_threads().unwrap() >= 2);
    }

    #[test]
    fn the_ready_pipe_is_close_on_exec() {
        use std::os::fd::AsRawFd;
        let (reader, writer) = ready_pipe().unwrap();
        for fd in [reader.as_raw_fd(), writer.as_raw_fd()] {
            // SAFETY: reading the flags of a descriptor we own.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        }
    }
}
