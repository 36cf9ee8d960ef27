//! Finished jobs: how many stay in memory ([`Spooler::set_history_limit`]),
//! reading back one that left ([`Spooler::job`]), and forgetting those
//! `printspoold cleanup` purged ([`Spooler::forget_purged`]).
//!
//! The core keeps every job that is not finished plus the newest finished
//! ones, at most `[history] max_jobs_in_memory` of them (the bookkeeping is
//! [`FinishedJobs`]); those are what Get-Jobs `which-jobs=completed` and
//! D-Bus `ListJobs` show. Memory after any number of jobs is then that of
//! the bound, not of the traffic.
//!
//! A finished job leaves memory only once its final state is on disk (its
//! record is never written again), and the spool then moves its record to
//! history ([`crate::spool::Spool::release`]: sealed into a history
//! segment, where `printspoold cleanup` purges it in time; see
//! [`crate::spool::DiskHistory`]). So nothing is lost by letting it go:
//! - a request naming it by id (Get-Job-Attributes, D-Bus `GetJob`) reads
//!   its record back ([`Spooler::job`]); Cancel-Job and friends answer
//!   "not possible: already finished", as they would from memory;
//! - the drop directory's "was this claim already spooled?" question
//!   ([`Spooler::has_claim`]) looks at the records on disk when memory does
//!   not know the token.
//!
//! [`FinishedJobs`]: super::finished::FinishedJobs

use super::access::Requester;
use super::error::CoreError;
use super::job::{Job, JobId};
use super::record::decode;
use super::spooler::Spooler;

impl Spooler {
    /// Sets `[history] max_jobs_in_memory` (at start and on reload): at
    /// most `limit` finished jobs stay in memory, the newest by id.
    pub fn set_history_limit(&self, limit: usize) {
        let gone = self.lock().set_history_limit(limit);
        self.release_from_spool(&gone);
    }

    /// Finished jobs held in memory now. Never more than the limit, except
    /// for finished jobs whose final state could not be written yet.
    pub fn finished_jobs_in_memory(&self) -> usize {
        self.lock().finished_in_memory()
    }

    /// Drops finished jobs that `printspoold cleanup` purged from disk, and
    /// gives their memory back. Returns how many. Cleanup purges sealed
    /// history only, and the jobs memory holds are live in the journal
    /// ([`crate::spool::Spool::forget_if_purged`]), so this finds none
    /// unless the spool was changed by hand.
    pub fn forget_purged(&self) -> usize {
        let spool = self.spool();
        let forgotten = self.lock().forget_purged(|id| spool.forget_if_purged(id));
        if forgotten > 0 {
            // What they took is free: give it back (memory.rs).
            self.trimmer().after_burst();
        }
        forgotten
    }

    /// Job `id` finished and its final state is on disk: it may leave
    /// memory now, and older finished jobs may have to.
    pub(super) fn retire(&self, id: JobId) {
        let gone = self.lock().retire(id);
        self.release_from_spool(&gone);
    }

    fn release_from_spool(&self, ids: &[JobId]) {
        for &id in ids {
            self.spool().release(id);
        }
    }

    /// A finished job that left memory, read back from its record.
    pub(super) fn finished_on_disk(&self, id: JobId) -> Option<Job> {
        let meta = match self.spool().read_meta(id) {
            Ok(meta) => meta?,
            Err(e) => {
                tracing::warn!(id, "cannot read the record of a finished job: {e}");
                return None;
            }
        };
        let job = decode(&meta).ok()?;
        // A job that is not finished is always in memory; a record saying
        // otherwise is one being created right now, not history.
        job.state.is_terminal().then_some(job)
    }

    /// The error for a job operation on `id` when the job is not in
    /// memory: if it finished and left memory, the same answer the table
    /// would give (not permitted, or not possible any more).
    pub(super) fn not_in_memory(
        &self,
        id: JobId,
        requester: &Requester,
        action: &'static str,
    ) -> CoreError {
        let Some(job) = self.finished_on_disk(id) else {
            return CoreError::UnknownJob(id);
        };
        if let Err(refusal) = requester.authorize(&job, action) {
            return refusal;
        }
        CoreError::NotPossible(format!("job {id} is already {}", job.state.keyword()))
    }
}
