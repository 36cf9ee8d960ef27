//! Crash-consistency checks for printspoold's spool on a real kernel and
//! file system (issue 14, "crash consistency proven beyond SIGKILL"):
//!
//! - [`log`] parses the write log QEMU's `blklogwrites` driver keeps of
//!   the VM's spool disk (the kernel's dm-log-writes format);
//! - [`replay`] rebuilds the disk at every flush point and at sampled
//!   points between flushes, the method of the kernel's file-system tests;
//! - [`spool_view`] mounts each image and runs `printspoold check-spool`
//!   on it, the daemon's own recovery;
//! - [`verdict`] checks the invariants: every acknowledged job present and
//!   intact, nothing half-written, nothing accepted or printed twice.
//!
//! `tests/vm/run` drives it; `tests/vm/README.md` explains the design.

pub mod log;
pub mod replay;
pub mod spool_view;
pub mod verdict;

use std::path::{Path, PathBuf};

/// What can stop a replay or a check.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("write log: {0}")]
    Format(String),
    #[error("mount failed: {0}")]
    Mount(String),
    #[error("recovery failed: {0}")]
    Recovery(String),
    #[error("{0}")]
    Usage(String),
}

impl ReplayError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> ReplayError {
        ReplayError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
