//! One daemon per spool: an exclusive `flock(2)` on `dir/lock`.
//!
//! `flock` rather than a PID file because the kernel drops the lock when
//! the holder dies, even by `kill -9`: there is no stale lock to detect and
//! no PID to reuse. It belongs to the open file description, so a second
//! `open()` of the same spool fails even inside the same process (which is
//! what the tests rely on). The lock is never removed from disk; unlinking
//! it would let two processes lock two different inodes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::SpoolError;
use super::error::IoContext;

/// Holds the lock for as long as it lives.
#[derive(Debug)]
pub(crate) struct SpoolLock {
    _file: File,
}

impl SpoolLock {
    /// Takes the lock without waiting: a second daemon must fail at once
    /// with a clear message, not hang at start-up.
    pub fn acquire(path: &Path) -> Result<SpoolLock, SpoolError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            // Never through a symlink: created or opened as root, it must
            // not touch a file elsewhere.
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
            .context("open the lock file", path)?;
        match flock_exclusive_nonblocking(&file) {
            Ok(()) => Ok(SpoolLock { _file: file }),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Err(SpoolError::Locked {
                path: path.to_path_buf(),
            }),
            Err(e) => Err(SpoolError::io("lock", path, e)),
        }
    }
}

fn flock_exclusive_nonblocking(file: &File) -> io::Result<()> {
    loop {
        // SAFETY: the descriptor is valid for as long as `file` lives.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
