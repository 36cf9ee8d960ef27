//! The job core: the one place every entry path (IPP, D-Bus, the drop
//! directory, USB hot-plug) hands jobs to. It owns the queues, the job
//! table, the durable spool and one print worker per printer.
//!
//! Entry paths hold a cloned [`Spooler`] and call its methods; they never
//! touch the spool or the backends themselves. State changes are published
//! on a broadcast channel ([`Event`]) for D-Bus signals and `STATUS=`.

mod access;
mod error;
mod history;
pub mod job;
mod limits;
mod memory;
pub mod printer;
mod queue;
mod reload;
mod spooler;
#[cfg(test)]
mod tests;
mod worker;

pub use access::{Disclosure, Requester};
pub use error::CoreError;
pub use job::{Assurance, Job, JobId, JobState, JobTicket, NewJob, Origin};
pub use limits::{JobCap, JobLimits};
pub use printer::{PrinterInfo, PrinterState};
pub use spooler::{CoreOptions, RecoveryReport, Spooler, now_secs};

/// `which-jobs` of Get-Jobs and `ListJobs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhichJobs {
    /// Pending, held, processing, stopped.
    NotCompleted,
    /// Completed, canceled, aborted.
    Completed,
    All,
}

/// A query over the job table. Results are ordered: not-completed jobs
/// oldest first, completed jobs newest first (as RFC 8011 4.2.6.1 suggests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs of this queue; `None` for every queue.
    pub printer: Option<String>,
    pub which: WhichJobs,
    /// Only jobs owned by this user (`my-jobs`).
    pub owner: Option<String>,
    pub limit: Option<usize>,
}

/// Something that changed, for D-Bus signals and status lines.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    JobStateChanged {
        id: JobId,
        state: JobState,
        reasons: Vec<String>,
    },
    PrinterAdded(String),
    PrinterRemoved(String),
    PrinterStateChanged {
        name: String,
        state: PrinterState,
        reasons: Vec<String>,
    },
}
