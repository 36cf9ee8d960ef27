//! Errors the core returns to entry paths; each maps to one IPP status and
//! one D-Bus error name.

use super::caps::{CapReached, JobCap};
use super::job::JobId;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("no printer named \"{0}\"")]
    UnknownPrinter(String),
    #[error("no job {0}")]
    UnknownJob(JobId),
    #[error("{user} may not {action} job {id}")]
    NotPermitted {
        user: String,
        action: &'static str,
        id: JobId,
    },
    #[error(
        "job {id} was submitted by {user} as verified by the system (Unix socket, D-Bus or \
         drop directory); the name {user} claimed over the network may not {action} it: \
         ask over the Unix socket or D-Bus"
    )]
    ClaimNotVerified {
        user: String,
        action: &'static str,
        id: JobId,
    },
    #[error("only an administrator may {0}")]
    AdminOnly(&'static str),
    #[error("not possible: {0}")]
    NotPossible(String),
    #[error("printer \"{0}\" is not accepting jobs")]
    NotAcceptingJobs(String),
    #[error("document larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("spool: {0}")]
    Spool(#[from] crate::spool::SpoolError),
    #[error("too many active jobs for {cap} (limit {limit}); try again once some have printed")]
    TooManyJobs { cap: JobCap, limit: usize },
    #[error("job {0} already has its document: one document per job")]
    OneDocumentPerJob(JobId),
    #[error("the spooler is shutting down")]
    ShuttingDown,
}

impl From<CapReached> for CoreError {
    fn from(CapReached { cap, limit }: CapReached) -> Self {
        CoreError::TooManyJobs { cap, limit }
    }
}
