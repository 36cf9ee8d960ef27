//! The job core: the one place every entry path (IPP, D-Bus, the drop
//! directory, USB hot-plug) hands jobs to. It owns the queues, the job
//! table, the durable spool and one print worker per printer.
//!
//! Entry paths hold a cloned [`Spooler`] and call its methods; they never
//! touch the spool or the backends themselves. State changes are published
//! on a broadcast channel ([`Event`]) for D-Bus signals and `STATUS=`.
//!
//! # One owner
//!
//! The job table and the queues are one `CoreState` behind one mutex; its
//! fields are private to `state.rs`, and its methods keep the invariants.
//! Each operation below takes the lock, calls one of those methods,
//! releases the lock, then writes to the spool and publishes events. The
//! types below it own their own state too (`FinishedJobs`, `PrinterQueue`,
//! `JobCaps`). No file here imports another in a circle
//! (`tests/architecture.rs` checks it).
//!
//! No request walks the job table under the lock: the state keeps a
//! `JobIndex` (`job_index.rs`) up to date at every change, so a printer's
//! queued count is O(1), a page of Get-Jobs costs its `limit`, the print
//! worker's next job and the caps' counts are one look-up each. A queue
//! emptied for any reason (printed, cancelled, aborted) gives its memory
//! back (`memory.rs`).
//!
//! # Where each operation lives
//!
//! - jobs (`jobs.rs`): [`Spooler::submit`], [`Spooler::submit_claimed`],
//!   [`Spooler::create_job`], [`Spooler::add_document`],
//!   [`Spooler::validate`], [`Spooler::cancel`], [`Spooler::hold`],
//!   [`Spooler::release`], [`Spooler::job`], [`Spooler::jobs`], and the
//!   drop directory's claims, [`Spooler::has_claim`];
//! - queues and printers (`queues.rs`): [`Spooler::printers`],
//!   [`Spooler::pause`], [`Spooler::resume`], [`Spooler::default_printer`],
//!   [`Spooler::identify`], and the reload of the printer list,
//!   [`Spooler::reconfigure`];
//! - finished jobs (`history.rs`): [`Spooler::set_history_limit`],
//!   [`Spooler::finished_jobs_in_memory`], [`Spooler::forget_purged`];
//! - hot-plug (`hotplug.rs`): [`Spooler::add_device_printer`],
//!   [`Spooler::device_gone`];
//! - print workers (`worker.rs`): one per queue, started by
//!   [`Spooler::start`], [`Spooler::reconfigure`] and
//!   [`Spooler::add_device_printer`];
//! - caps (`limits.rs`): [`Spooler::set_job_limits`],
//!   [`Spooler::job_limits`], and the reaper of late documents;
//! - start and stop (`lifecycle.rs`): [`Spooler::start`] (recovery),
//!   [`Spooler::shutdown`], [`Spooler::is_idle`], [`Spooler::summary`];
//! - the handle itself (`spooler.rs`): the lock, events
//!   ([`Spooler::subscribe`], [`Spooler::changed`]), persistence, and the
//!   watchdog's questions ([`Spooler::answers_within`],
//!   [`Spooler::spool_can_commit`]).
//!
//! Below them: `state.rs` (the one state), `job_index.rs` (what requests
//! ask of the job table, kept ready), `queue.rs`, `finished.rs`,
//! `caps.rs`, `record.rs`, `memory.rs`, and the model every entry path
//! shares: [`job`], [`printer`], `access.rs` ([`Requester`]), `error.rs`
//! ([`CoreError`]).

mod access;
mod caps;
mod error;
mod finished;
mod history;
mod hotplug;
#[cfg(test)]
mod index_tests;
pub mod job;
mod job_index;
mod jobs;
mod lifecycle;
mod limits;
mod memory;
pub mod printer;
mod queue;
mod queues;
mod record;
mod spooler;
mod state;
#[cfg(test)]
mod tests;
mod worker;

pub use access::{Disclosure, Requester};
pub use caps::{JobCap, JobLimits, address_group};
pub use error::CoreError;
pub use job::{Assurance, Job, JobId, JobState, JobTicket, NewJob, Origin};
pub use lifecycle::{CoreOptions, RecoveryReport};
pub use printer::{PrinterInfo, PrinterState};
pub use spooler::Spooler;

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

impl From<&Job> for Event {
    fn from(job: &Job) -> Self {
        Event::JobStateChanged {
            id: job.id,
            state: job.state,
            reasons: job.reasons.clone(),
        }
    }
}

impl From<&PrinterInfo> for Event {
    fn from(info: &PrinterInfo) -> Self {
        Event::PrinterStateChanged {
            name: info.name.clone(),
            state: info.state,
            reasons: info.reasons.clone(),
        }
    }
}
