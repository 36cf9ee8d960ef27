//! Caps on what one client can make the core hold, from `[server.limits]`
//! ([`Spooler::set_job_limits`]):
//!
//! - active jobs (not finished: pending, held, printing) in total, per
//!   owner and, for jobs that came over TCP, per client address, checked
//!   and reserved under the state lock so concurrent submissions cannot
//!   slip past a cap together (the counting is [`JobCaps`]);
//! - how many jobs one listing returns (Get-Jobs, `ListJobs`, `GET /`);
//! - `multiple-operation-time-out`: a job made by Create-Job that gets no
//!   document in time is aborted by the reaper task below. Its deadline
//!   counts from the job's creation or from this start of the daemon,
//!   whichever is later, so a job left waiting across a restart gets the
//!   full timeout again and is then aborted, never forgotten.
//!
//! [`JobCaps`]: super::caps::JobCaps

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::caps::JobLimits;
use super::spooler::{Spooler, WeakSpooler};
use crate::clock::unix_now;

impl Spooler {
    /// Sets the caps of `[server.limits]` (at start). Also starts the
    /// reaper of Create-Jobs that never got their document.
    pub fn set_job_limits(&self, limits: JobLimits) {
        self.caps().set_limits(limits, unix_now());
        let core = self.downgrade();
        self.reaper()
            .start_or_wake(|wake| tokio::spawn(reap(core, wake)));
    }

    /// The caps in force.
    pub fn job_limits(&self) -> JobLimits {
        self.caps().limits()
    }

    /// Aborts the jobs whose document did not come in time; returns when
    /// the next one is due (Unix seconds), if any job is waiting.
    async fn abort_late_creations(&self) -> Option<u64> {
        let now = unix_now();
        let (aborted, next) = {
            let mut state = self.lock();
            let (timeout, started_at, receiving) = self.caps().late_document_rules();
            state.abort_late_creations(now, timeout, started_at, &receiving)
        };
        for job in aborted {
            tracing::info!(
                id = job.id,
                printer = %job.printer,
                "job aborted: its document did not arrive within multiple-operation-time-out"
            );
            // Not on disk: the next start finds the job waiting and aborts
            // it again after the timeout, so nothing is lost either way.
            if let Err(e) = self.persist(job.id, true).await {
                tracing::warn!(id = job.id, "could not record the abort: {e}");
            }
            self.emit(&job);
            self.retire(job.id);
            // The last job of its queue may have gone: give the memory
            // back, as after printing (memory.rs).
            let drained = self.lock().is_drained(&job.printer);
            if drained {
                self.trimmer().after_burst();
            }
        }
        next
    }
}

/// The reaper task: sleeps until the next Create-Job deadline, or until a
/// job starts waiting; ends when the core is gone.
async fn reap(core: WeakSpooler, wake: Arc<Notify>) {
    loop {
        let Some(spooler) = core.upgrade() else {
            return;
        };
        let next = spooler.abort_late_creations().await;
        drop(spooler);
        let wait = next.map(|at| Duration::from_secs(at.saturating_sub(unix_now()).max(1)));
        match wait {
            Some(wait) => {
                let _ = tokio::time::timeout(wait, wake.notified()).await;
            }
            None => wake.notified().await,
        }
    }
}
