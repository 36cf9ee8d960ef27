//! Socket activation: taking over the sockets systemd bound for us.
//!
//! daemon(7) "Socket-Based Activation" and porting step 2: check for passed
//! sockets first and, when there are some, use them instead of binding our
//! own. The protocol is three environment variables (sd_listen_fds(3)):
//!
//! - `LISTEN_PID`: the process the sockets are for. A child that inherited
//!   the environment must not take sockets meant for its parent.
//! - `LISTEN_FDS`: how many descriptors, numbered from 3
//!   ([`SD_LISTEN_FDS_START`]) upwards without gaps.
//! - `LISTEN_FDNAMES`: colon-separated names, from `FileDescriptorName=` in
//!   the `.socket` unit, so each socket can be matched to its role instead
//!   of relying on the order of `Listen*=` lines.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::{env_value, unset_env};

/// The first passed descriptor (`SD_LISTEN_FDS_START` in sd-daemon.h).
pub const SD_LISTEN_FDS_START: RawFd = 3;

/// The name sd_listen_fds_with_names(3) gives every socket when
/// `LISTEN_FDNAMES` is unset.
pub const UNKNOWN_NAME: &str = "unknown";

/// More descriptors than any socket unit (plus its file descriptor store)
/// passes in practice; bounds what a corrupted `LISTEN_FDS` can make us
/// allocate.
pub const MAX_LISTEN_FDS: usize = 65_536;

const LISTEN_VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// Why the passed sockets could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ListenFdsError {
    #[error("LISTEN_PID={value:?} is not a process ID")]
    InvalidPid { value: String },
    #[error("LISTEN_FDS={value:?} is not a number of file descriptors")]
    InvalidCount { value: String },
    #[error("LISTEN_FDNAMES has {names} names for {fds} file descriptors")]
    NameCountMismatch { names: usize, fds: usize },
    #[error("file descriptor {fd} announced in LISTEN_FDS is not open: {source}")]
    NotOpen { fd: RawFd, source: io::Error },
}

/// Takes the sockets systemd passed to this process, each with its name.
///
/// Checks that `LISTEN_PID` is our PID, reads `LISTEN_FDS` and
/// `LISTEN_FDNAMES` (every name is `"unknown"` when the latter is unset,
/// as in sd_listen_fds_with_names(3)), marks each descriptor `FD_CLOEXEC`
/// and removes the three variables, whatever the outcome, so that children
/// never inherit them. Returns an empty `Vec` when nothing was passed or the
/// variables name another process.
///
/// # Safety (not `unsafe`, but a precondition)
///
/// Call this once, at the top of `main`, before any thread is spawned: it
/// edits the environment, and it takes ownership of descriptors 3.. that
/// nothing else in the process may own.
pub fn take_listen_fds() -> Result<Vec<(OwnedFd, String)>, ListenFdsError> {
    let parsed = parse_listen_env(
        env_value("LISTEN_PID").as_deref(),
        env_value("LISTEN_FDS").as_deref(),
        env_value("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    );
    // sd_listen_fds(3): unset even on error, so no child ever sees them.
    unset_env(&LISTEN_VARIABLES);
    parsed?
        .into_iter()
        .map(|(fd, name)| Ok((claim_fd(fd)?, name)))
        .collect()
}

/// The descriptors and names the variables announce for `my_pid`, checked
/// but not yet touched. Pure, so every rule is unit-tested.
pub fn parse_listen_env(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    names: Option<&str>,
    my_pid: u32,
) -> Result<Vec<(RawFd, String)>, ListenFdsError> {
    let Some(listen_pid) = listen_pid else {
        return Ok(Vec::new());
    };
    let pid: u32 = listen_pid.parse().map_err(|_| ListenFdsError::InvalidPid {
        value: listen_pid.to_owned(),
    })?;
    if pid != my_pid {
        // Inherited from a parent that was socket-activated: not ours.
        return Ok(Vec::new());
    }
    let Some(listen_fds) = listen_fds else {
        return Ok(Vec::new());
    };
    let count = parse_fd_count(listen_fds)?;
    let names = names_for(names, count)?;
    Ok((SD_LISTEN_FDS_START..).zip(names).collect())
}

/// `LISTEN_FDS` as a count no larger than [`MAX_LISTEN_FDS`].
fn parse_fd_count(value: &str) -> Result<usize, ListenFdsError> {
    match value.parse::<usize>() {
        Ok(count) if count <= MAX_LISTEN_FDS => Ok(count),
        _ => Err(ListenFdsError::InvalidCount {
            value: value.to_owned(),
        }),
    }
}

/// One name per descriptor: `LISTEN_FDNAMES` split on ':' (empty names
/// kept, as systemd does), or "unknown" for each when it is unset or empty.
/// A different number of names than descriptors is an error, as in
/// sd_listen_fds_with_names(3): the roles could not be trusted.
fn names_for(names: Option<&str>, count: usize) -> Result<Vec<String>, ListenFdsError> {
    let names: Vec<String> = match names {
        None | Some("") => return Ok(vec![UNKNOWN_NAME.to_owned(); count]),
        Some(list) => list.split(':').map(str::to_owned).collect(),
    };
    if names.len() != count {
        return Err(ListenFdsError::NameCountMismatch {
            names: names.len(),
            fds: count,
        });
    }
    Ok(names)
}

/// Checks that `fd` is open, marks it close-on-exec so print backends do not
/// inherit our listening sockets, and takes ownership of it.
fn claim_fd(fd: RawFd) -> Result<OwnedFd, ListenFdsError> {
    let not_open = |source| ListenFdsError::NotOpen { fd, source };
    // SAFETY: F_GETFD only reads the descriptor flags; an invalid fd is
    // reported as EBADF, which is exactly the check we want.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags == -1 {
        return Err(not_open(io::Error::last_os_error()));
    }
    // SAFETY: as above; F_SETFD only changes this descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } == -1 {
        return Err(not_open(io::Error::last_os_error()));
    }
    // SAFETY: the fd is open (checked above), systemd passed it for this
    // process only (LISTEN_PID matched), and the variables are gone, so no
    // second call can claim it again.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 4242;

    fn parse(
        pid: Option<&str>,
        fds: Option<&str>,
        names: Option<&str>,
    ) -> Result<Vec<(RawFd, String)>, ListenFdsError> {
        parse_listen_env(pid, fds, names, ME)
    }

    fn owned(list: &[(RawFd, &str)]) -> Vec<(RawFd, String)> {
        list.iter()
            .map(|(fd, name)| (*fd, name.to_string()))
            .collect()
    }

    #[test]
    fn nothing_passed_is_empty() {
        assert!(parse(None, None, None).unwrap().is_empty());
        assert!(parse(None, Some("2"), Some("a:b")).unwrap().is_empty());
        assert!(parse(Some("4242"), None, None).unwrap().is_empty());
        assert!(parse(Some("4242"), Some("0"), None).unwrap().is_empty());
    }

    #[test]
    fn another_process_pid_is_empty() {
        assert!(
            parse(Some("4243"), Some("2"), Some("a:b"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_numbers_are_errors() {
        for pid in ["", "abc", "-1", "42x", " 4242"] {
            let error = parse(Some(pid), Some("1"), None).unwrap_err();
            assert!(
                matches!(error, ListenFdsError::InvalidPid { .. }),
                "{pid:?}"
            );
        }
        for fds in ["", "x", "-1", "1.5", "99999999999", "65537"] {
            let error = parse(Some("4242"), Some(fds), None).unwrap_err();
            assert!(
                matches!(error, ListenFdsError::InvalidCount { .. }),
                "{fds:?}"
            );
        }
    }

    #[test]
    fn names_default_to_unknown() {
        let expected = owned(&[(3, "unknown"), (4, "unknown")]);
        assert_eq!(parse(Some("4242"), Some("2"), None).unwrap(), expected);
        assert_eq!(parse(Some("4242"), Some("2"), Some("")).unwrap(), expected);
    }

    #[test]
    fn names_are_matched_by_position() {
        let fds = parse(Some("4242"), Some("3"), Some("ipp:ipp-unix:")).unwrap();
        assert_eq!(fds, owned(&[(3, "ipp"), (4, "ipp-unix"), (5, "")]));
    }

    #[test]
    fn name_count_must_match() {
        let error = parse(Some("4242"), Some("2"), Some("ipp")).unwrap_err();
        assert!(matches!(
            error,
            ListenFdsError::NameCountMismatch { names: 1, fds: 2 }
        ));
        let error = parse(Some("4242"), Some("1"), Some("a:b")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "LISTEN_FDNAMES has 2 names for 1 file descriptors"
        );
    }

    #[test]
    fn claiming_a_closed_descriptor_fails() {
        // Far above anything the test harness opens.
        let error = claim_fd(900_000).unwrap_err();
        assert!(matches!(error, ListenFdsError::NotOpen { fd: 900_000, .. }));
    }
}
