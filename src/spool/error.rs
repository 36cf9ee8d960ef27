//! What can go wrong in the spool, with enough context to act on it.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The document being staged passed `max_document_bytes`.
    #[error("document larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another process (a second daemon) holds the spool's lock file.
    #[error("the spool is in use by another process (it holds {})", path.display())]
    Locked { path: PathBuf },
    /// A record on disk is not one this spool wrote. Recovery moves such
    /// records to `corrupt/` and logs this error; it is never returned by
    /// [`Spool::open`](super::Spool::open) for a single bad record.
    #[error("corrupt record {}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("no job {id} in the spool")]
    NoSuchJob { id: u32 },
    /// A commit for an id that already has a record: a caller bug that
    /// would otherwise overwrite an acknowledged job.
    #[error("job {id} already exists in the spool")]
    IdInUse { id: u32 },
    #[error("job {id} already has a document")]
    DocumentExists { id: u32 },
    /// The spool directory is not private to the daemon (checked at start,
    /// see [`super::dircheck`]).
    #[error("unsafe spool directory {}: it {problem}", path.display())]
    UnsafeDir { path: PathBuf, problem: String },
    /// The group-commit thread is gone (it only stops when the spool is
    /// dropped, or if it panicked); nothing can be made durable any more.
    #[error("the spool's sync thread has stopped")]
    SyncStopped,
}

impl SpoolError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> SpoolError {
        SpoolError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// True when the disk (or the user's quota) is full: a temporary
    /// condition the client may retry after, unlike other I/O errors.
    pub fn is_no_space(&self) -> bool {
        match self {
            SpoolError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC) | Some(libc::EDQUOT)
            ),
            _ => false,
        }
    }

    /// True when the spool directory failed the start-up check: a
    /// configuration mistake (LSB exit 6).
    pub fn is_unsafe_dir(&self) -> bool {
        matches!(self, SpoolError::UnsafeDir { .. })
    }

    /// True when the spool directory cannot be used for lack of privilege
    /// (daemon(7): such start-up failures exit with a distinct status).
    pub fn is_permission_denied(&self) -> bool {
        match self {
            SpoolError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)
            ),
            _ => false,
        }
    }
}

/// Turns a closure's `io::Result` into a [`SpoolError::Io`] naming the
/// operation and path, so call sites stay one line.
pub(crate) trait IoContext<T> {
    fn context(self, op: &'static str, path: &Path) -> Result<T, SpoolError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, op: &'static str, path: &Path) -> Result<T, SpoolError> {
        self.map_err(|source| SpoolError::io(op, path, source))
    }
}
