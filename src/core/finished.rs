//! [`FinishedJobs`]: which finished jobs may leave memory, and how many
//! may stay (`[history] max_jobs_in_memory`).
//!
//! Without a bound the job table would grow by one job per job ever
//! printed, until `printspoold cleanup` purges records from disk (days
//! later, by default). Like CUPS's `MaxJobs`, the core keeps every job that
//! is not finished plus the newest finished ones (by id). The operations
//! and why letting a job go loses nothing are in [`history`]
//! ([`Spooler::set_history_limit`]).
//!
//! [`history`]: super::history
//!
//! [`Spooler::set_history_limit`]: super::Spooler::set_history_limit

use std::collections::{BTreeSet, HashSet};

use super::job::JobId;

/// Most tokens remembered as "no job has this claim"; the cache is simply
/// emptied when full (each entry then costs one more scan at worst).
const MAX_UNCLAIMED: usize = 256;

/// The finished jobs in the table whose final state is on disk, the bound
/// on how many stay, and the drop directory's negative claim cache.
#[derive(Debug)]
pub struct FinishedJobs {
    /// Finished jobs in the table whose final record is on disk, by id
    /// (oldest first).
    retired: BTreeSet<JobId>,
    limit: usize,
    /// Claim tokens known to belong to no job on disk or in memory.
    unclaimed: HashSet<String>,
}

impl FinishedJobs {
    pub fn new(limit: usize) -> FinishedJobs {
        FinishedJobs {
            retired: BTreeSet::new(),
            limit,
            unclaimed: HashSet::new(),
        }
    }

    /// Finished jobs held now (for tests and the bound's proof).
    pub fn held(&self) -> usize {
        self.retired.len()
    }

    /// Job `id` (finished, its final state on disk) may now leave memory.
    /// Returns the ids that must leave the table to stay within the limit.
    pub fn retire(&mut self, id: JobId) -> Vec<JobId> {
        self.retired.insert(id);
        self.trim()
    }

    /// Sets the bound; returns the ids that must leave the table.
    pub fn set_limit(&mut self, limit: usize) -> Vec<JobId> {
        self.limit = limit;
        self.trim()
    }

    fn trim(&mut self) -> Vec<JobId> {
        let mut gone = Vec::new();
        while self.retired.len() > self.limit {
            let Some(oldest) = self.retired.pop_first() else {
                break;
            };
            gone.push(oldest);
        }
        gone
    }

    /// Retired jobs still in the table, for the purge check.
    pub fn retired(&self) -> impl Iterator<Item = JobId> + '_ {
        self.retired.iter().copied()
    }

    /// Job `id` left the table (purged by cleanup).
    pub fn forget(&mut self, id: JobId) {
        self.retired.remove(&id);
    }

    /// A job carrying `token` entered the table: the token is claimed now.
    pub fn claimed(&mut self, token: &str) {
        self.unclaimed.remove(token);
    }

    pub fn known_unclaimed(&self, token: &str) -> bool {
        self.unclaimed.contains(token)
    }

    pub fn remember_unclaimed(&mut self, token: &str) {
        if self.unclaimed.len() >= MAX_UNCLAIMED {
            self.unclaimed.clear();
        }
        self.unclaimed.insert(token.to_string());
    }
}
