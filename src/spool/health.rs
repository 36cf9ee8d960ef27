//! Whether the spool can be written, as seen by the writes themselves.
//!
//! A full disk (ENOSPC, EDQUOT) or a spool that turned read-only (EROFS,
//! EACCES, EPERM) fails every request that writes, and each such request
//! already gets its own error. What an administrator needs on top is one
//! clear log line naming the spool and the cause when the trouble starts,
//! and one when it is over — not a line per refused job, which would bury
//! the cause under a flood. So the first failure of a kind is logged as an
//! error, repeats only at debug level, and the first job or state change
//! recorded after it says the spool is usable again. (A document that was
//! received whole is not proof enough: with a page left, the document may
//! fit and its record not.)

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use super::SpoolError;

/// What is wrong with the spool, when something is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    /// ENOSPC or EDQUOT: clears once space is freed.
    NoSpace,
    /// EROFS, EACCES or EPERM: someone must make it writable again.
    NotWritable,
}

#[derive(Debug)]
pub(crate) struct Health {
    root: PathBuf,
    trouble: Mutex<Option<Trouble>>,
}

impl Health {
    pub fn new(root: PathBuf) -> Health {
        Health {
            root,
            trouble: Mutex::new(None),
        }
    }

    /// Records the outcome of recording a job or a state change (commit,
    /// update, attach) and logs a change.
    pub fn observe<T>(&self, result: &Result<T, SpoolError>) {
        match result {
            Ok(_) => self.writable(),
            Err(error) => self.failed(error),
        }
    }

    /// Records a failed write of any kind (receiving a document).
    pub fn observe_failure<T>(&self, result: &Result<T, SpoolError>) {
        if let Err(error) = result {
            self.failed(error);
        }
    }

    fn failed(&self, error: &SpoolError) {
        let trouble = if error.is_no_space() {
            Trouble::NoSpace
        } else if error.is_permission_denied() {
            Trouble::NotWritable
        } else {
            return;
        };
        let mut current = self.trouble.lock().unwrap_or_else(PoisonError::into_inner);
        let spool = self.root.display();
        let errno = errno_name(error);
        if *current == Some(trouble) {
            tracing::debug!("spool {spool} still not writable ({errno}): {error}");
            return;
        }
        *current = Some(trouble);
        match trouble {
            Trouble::NoSpace => tracing::error!(
                "spool {spool} is full ({errno}): {error}; new jobs are refused with \
                 server-error-temporary-error until space is freed, spooled jobs are kept"
            ),
            Trouble::NotWritable => tracing::error!(
                "spool {spool} is not writable ({errno}): {error}; new jobs are refused and \
                 job states cannot be recorded until it is writable again"
            ),
        }
    }

    fn writable(&self) {
        let mut current = self.trouble.lock().unwrap_or_else(PoisonError::into_inner);
        if current.take().is_some() {
            let spool = self.root.display();
            tracing::info!("spool {spool} is writable again; accepting jobs");
        }
    }
}

/// The errno's symbolic name, so the log line can be searched for it.
fn errno_name(error: &SpoolError) -> &'static str {
    let SpoolError::Io { source, .. } = error else {
        return "not an I/O error";
    };
    match source.raw_os_error() {
        Some(libc::ENOSPC) => "ENOSPC",
        Some(libc::EDQUOT) => "EDQUOT",
        Some(libc::EROFS) => "EROFS",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EPERM) => "EPERM",
        _ => "I/O error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn io_error(errno: i32) -> SpoolError {
        SpoolError::io(
            "write",
            std::path::Path::new("/s/tmp/doc-1"),
            io::Error::from_raw_os_error(errno),
        )
    }

    #[test]
    fn trouble_is_tracked_by_kind_and_cleared_by_a_success() {
        let health = Health::new(PathBuf::from("/s"));
        let trouble = || *health.trouble.lock().unwrap();
        health.observe::<()>(&Err(io_error(libc::ENOSPC)));
        assert_eq!(trouble(), Some(Trouble::NoSpace));
        health.observe::<()>(&Err(io_error(libc::EROFS)));
        assert_eq!(trouble(), Some(Trouble::NotWritable));
        // Errors that say nothing about writability change nothing, and
        // only a recorded job or state change clears the trouble.
        health.observe::<()>(&Err(SpoolError::TooLarge { limit: 1 }));
        health.observe_failure(&Ok(()));
        assert_eq!(trouble(), Some(Trouble::NotWritable));
        health.observe(&Ok(()));
        assert_eq!(trouble(), None);
        assert_eq!(errno_name(&io_error(libc::ENOSPC)), "ENOSPC");
    }
}
