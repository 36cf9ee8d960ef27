//! Finished jobs in memory: at most `[history] max_jobs_in_memory` of them.
//!
//! Without a bound the job table would grow by one job per job ever
//! printed, until `printspoold cleanup` purges records from disk (days
//! later, by default). Like CUPS's `MaxJobs`, the core keeps every job that
//! is not finished plus the newest finished ones (by id); those are what
//! Get-Jobs `which-jobs=completed` and D-Bus `ListJobs` show. Memory after
//! any number of jobs is then that of the bound, not of the traffic.
//!
//! A finished job leaves memory only once its final state is on disk (its
//! record is never written again; see `spool::history`), and its record
//! stays in the spool for cleanup. So nothing is lost by letting it go:
//! - a request naming it by id (Get-Job-Attributes, D-Bus `GetJob`) reads
//!   its record back ([`Spooler::job`]); Cancel-Job and friends answer
//!   "not possible: already finished", as they would from memory;
//! - the drop directory's "was this claim already spooled?" question
//!   ([`Spooler::has_claim`]) looks at the records on disk when memory does
//!   not know the token. It is asked only for a claim file left behind by
//!   a crash or a failed unlink (or one waiting for a full disk), so the
//!   scan is rare; its negative answers are cached so a claim that waits
//!   for disk space does not cost a scan every rescan.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::spooler::State;
use super::{CoreError, Job, JobId, Requester, Spooler};

/// Most tokens remembered as "no job has this claim"; the cache is simply
/// emptied when full (each entry then costs one more scan at worst).
const MAX_UNCLAIMED: usize = 256;

/// The finished jobs that may leave memory, and how many may stay.
#[derive(Debug)]
pub(super) struct History {
    /// Finished jobs in the table whose final record is on disk, by id
    /// (oldest first).
    retired: BTreeSet<JobId>,
    limit: usize,
    /// Claim tokens known to belong to no job on disk or in memory.
    unclaimed: HashSet<String>,
}

impl History {
    pub(super) fn new(limit: usize) -> History {
        History {
            retired: BTreeSet::new(),
            limit,
            unclaimed: HashSet::new(),
        }
    }

    /// Finished jobs held now (for tests and the bound's proof).
    pub(super) fn held(&self) -> usize {
        self.retired.len()
    }

    /// Job `id` (finished, its final state on disk) may now leave memory.
    /// Returns the ids that left `jobs` to stay within the limit.
    pub(super) fn retire(&mut self, jobs: &mut BTreeMap<JobId, Job>, id: JobId) -> Vec<JobId> {
        if jobs.get(&id).is_some_and(|job| job.state.is_terminal()) {
            self.retired.insert(id);
        }
        self.trim(jobs)
    }

    pub(super) fn set_limit(
        &mut self,
        jobs: &mut BTreeMap<JobId, Job>,
        limit: usize,
    ) -> Vec<JobId> {
        self.limit = limit;
        self.trim(jobs)
    }

    fn trim(&mut self, jobs: &mut BTreeMap<JobId, Job>) -> Vec<JobId> {
        let mut gone = Vec::new();
        while self.retired.len() > self.limit {
            let Some(oldest) = self.retired.pop_first() else {
                break;
            };
            jobs.remove(&oldest);
            gone.push(oldest);
        }
        gone
    }

    /// Retired jobs still in the table, for the purge check.
    pub(super) fn retired(&self) -> impl Iterator<Item = JobId> + '_ {
        self.retired.iter().copied()
    }

    /// Job `id` left the table (purged by cleanup).
    pub(super) fn forget(&mut self, id: JobId) {
        self.retired.remove(&id);
    }

    /// A job carrying `token` entered the table: the token is claimed now.
    pub(super) fn claimed(&mut self, token: &str) {
        self.unclaimed.remove(token);
    }

    fn known_unclaimed(&self, token: &str) -> bool {
        self.unclaimed.contains(token)
    }

    fn remember_unclaimed(&mut self, token: &str) {
        if self.unclaimed.len() >= MAX_UNCLAIMED {
            self.unclaimed.clear();
        }
        self.unclaimed.insert(token.to_string());
    }
}

impl Spooler {
    /// Sets `[history] max_jobs_in_memory` (at start and on reload): at
    /// most `limit` finished jobs stay in memory, the newest by id.
    pub fn set_history_limit(&self, limit: usize) {
        let gone = {
            let mut guard = self.lock();
            let state = &mut *guard;
            state.history.set_limit(&mut state.jobs, limit)
        };
        self.release_from_spool(&gone);
    }

    /// Finished jobs held in memory now. Never more than the limit, except
    /// for finished jobs whose final state could not be written yet.
    pub fn finished_jobs_in_memory(&self) -> usize {
        self.lock().history.held()
    }

    /// Job `id` finished and its final state is on disk: it may leave
    /// memory now, and older finished jobs may have to.
    pub(super) fn retire(&self, id: JobId) {
        let gone = {
            let mut guard = self.lock();
            let state = &mut *guard;
            state.history.retire(&mut state.jobs, id)
        };
        self.release_from_spool(&gone);
    }

    fn release_from_spool(&self, ids: &[JobId]) {
        for &id in ids {
            self.inner.spool.release(id);
        }
    }

    /// A finished job that left memory, read back from its record.
    pub(super) fn finished_on_disk(&self, id: JobId) -> Option<Job> {
        let meta = match self.inner.spool.read_meta(id) {
            Ok(meta) => meta?,
            Err(e) => {
                tracing::warn!(id, "cannot read the record of a finished job: {e}");
                return None;
            }
        };
        let job: Job = serde_json::from_slice(&meta).ok()?;
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

    /// Whether a job was already made from the drop-directory claim `token`.
    pub fn has_claim(&self, token: &str) -> bool {
        {
            let state = self.lock();
            if state
                .jobs
                .values()
                .any(|j| j.claim.as_deref() == Some(token))
            {
                return true;
            }
            if state.history.known_unclaimed(token) {
                return false;
            }
        }
        match self.claim_on_disk(token) {
            Some(found) => {
                if !found {
                    self.lock().history.remember_unclaimed(token);
                }
                found
            }
            None => false,
        }
    }

    /// Looks for `token` in the records of jobs not in memory; `None` when
    /// the spool cannot be listed. Blocking; see the module docs for why it
    /// is rare. `has_claim` then answers "not claimed": "claimed" would
    /// make the drop directory delete the file, and a file printed twice
    /// is better than a file lost (with the spool in trouble, submitting it
    /// is likely to fail and be retried anyway).
    fn claim_on_disk(&self, token: &str) -> Option<bool> {
        let ids = match self.inner.spool.record_ids() {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!("cannot look for drop-directory claim {token} in the spool: {e}");
                return None;
            }
        };
        let needle = token.as_bytes();
        for id in ids {
            if self.lock().jobs.contains_key(&id) {
                continue;
            }
            let Ok(Some(meta)) = self.inner.spool.read_meta(id) else {
                continue;
            };
            // Cheap test first; parse only a record that mentions it.
            if !meta.windows(needle.len()).any(|w| w == needle) {
                continue;
            }
            if serde_json::from_slice::<Job>(&meta)
                .is_ok_and(|job| job.claim.as_deref() == Some(token))
            {
                return Some(true);
            }
        }
        Some(false)
    }

    /// Drops finished jobs that `printspoold cleanup` purged from disk.
    /// Returns how many.
    pub fn forget_purged(&self) -> usize {
        let mut guard = self.lock();
        let state: &mut State = &mut guard;
        let spool = &self.inner.spool;
        let purged: Vec<JobId> = state
            .history
            .retired()
            .filter(|&id| spool.forget_if_purged(id))
            .collect();
        for &id in &purged {
            state.jobs.remove(&id);
            state.history.forget(id);
        }
        purged.len()
    }
}
