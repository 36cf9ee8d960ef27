//! [`JobIndex`]: what the requests ask of the job table, kept ready so no
//! request walks the table under the state lock.
//!
//! Every request naming a printer shows its number of queued jobs, the
//! print worker takes the oldest printable job of its queue, Get-Jobs
//! pages through one queue's or one owner's jobs, and each new job is
//! counted against the caps. Answering those by walking the table cost a
//! walk of every job per request: with 10,000 queued jobs
//! Get-Printer-Attributes ran at 0.15x of its empty-spool rate. The index
//! answers each in O(1), O(log n) or O(limit).
//!
//! # How it stays true
//!
//! Everything here is derived from a job's fields: its id, printer, owner
//! and identity, client address, claim, state and whether it has its
//! document. [`CoreState`] calls [`JobIndex::remove`] with a job as it was
//! and [`JobIndex::add`] with it as it is at every change of its table
//! (insert, cancel, hold, release, take, settle, defer, revert, abort,
//! retire), so the invariant is simply:
//!
//! > the index equals `JobIndex::of` the jobs in the table, the index
//! > built from scratch.
//!
//! Tests check exactly that after each transition
//! (`CoreState::check_index`). Queues never appear here: a job stays
//! indexed under its printer's name when a reload removes the queue, and
//! is found again when the queue comes back, as in the table.
//!
//! [`CoreState`]: super::state::CoreState

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::net::IpAddr;

use super::caps::{ActiveJobs, address_group};
use super::job::{Assurance, Job, JobId, JobState};

/// The indexes over the job table (see the module documentation).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct JobIndex {
    /// Every job not finished, by id (oldest first).
    active: BTreeSet<JobId>,
    /// Every finished job in the table, by id; as many as
    /// [`FinishedJobs`](super::finished::FinishedJobs) lets stay.
    finished: BTreeSet<JobId>,
    /// By printer name; an entry exists only while it holds a job.
    printers: HashMap<String, PrinterJobs>,
    /// By owner name; an entry exists only while it holds a job.
    owners: HashMap<String, OwnerJobs>,
    /// Active jobs that came over TCP, by [`address_group`].
    addresses: HashMap<IpAddr, usize>,
    /// Active jobs made by Create-Job still waiting for their document.
    awaiting_document: BTreeSet<JobId>,
    /// Drop-directory claim tokens of the jobs in the table.
    claims: HashMap<String, usize>,
}

/// One printer's jobs.
#[derive(Debug, Default, PartialEq, Eq)]
struct PrinterJobs {
    active: BTreeSet<JobId>,
    finished: BTreeSet<JobId>,
    /// Pending jobs with their document: what the worker prints next,
    /// lowest id first.
    printable: BTreeSet<JobId>,
    /// Active jobs by state, for the status line.
    counts: StateCounts,
}

impl PrinterJobs {
    fn is_empty(&self) -> bool {
        self.active.is_empty() && self.finished.is_empty()
    }
}

/// One owner's jobs.
#[derive(Debug, Default, PartialEq, Eq)]
struct OwnerJobs {
    active: BTreeSet<JobId>,
    finished: BTreeSet<JobId>,
    /// How many of `active` were submitted under a name only claimed
    /// (over TCP): the caps count those apart.
    active_claimed: usize,
}

impl OwnerJobs {
    fn is_empty(&self) -> bool {
        self.active.is_empty() && self.finished.is_empty()
    }
}

/// Active jobs by state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StateCounts {
    /// Pending, or processing-stopped (waiting to print again).
    pub pending: usize,
    pub held: usize,
    pub processing: usize,
}

impl StateCounts {
    fn of_state(state: JobState) -> StateCounts {
        let mut one = StateCounts::default();
        match state {
            JobState::Pending | JobState::Stopped => one.pending = 1,
            JobState::Held => one.held = 1,
            JobState::Processing => one.processing = 1,
            JobState::Canceled | JobState::Aborted | JobState::Completed => {}
        }
        one
    }

    fn add(&mut self, other: StateCounts) {
        self.pending += other.pending;
        self.held += other.held;
        self.processing += other.processing;
    }

    fn subtract(&mut self, other: StateCounts) {
        self.pending -= other.pending;
        self.held -= other.held;
        self.processing -= other.processing;
    }
}

impl JobIndex {
    /// The index of `jobs`, built from scratch: what the maintained index
    /// must always equal (tests compare the two).
    #[cfg(test)]
    pub fn of<'a>(jobs: impl IntoIterator<Item = &'a Job>) -> JobIndex {
        let mut index = JobIndex::default();
        for job in jobs {
            index.add(job);
        }
        index
    }

    /// `job` entered the table, or is in it as it is now after a change.
    pub fn add(&mut self, job: &Job) {
        let id = job.id;
        let active = !job.state.is_terminal();
        let printer = entry(&mut self.printers, &job.printer);
        let owner = entry(&mut self.owners, &job.owner);
        if active {
            self.active.insert(id);
            printer.active.insert(id);
            printer.counts.add(StateCounts::of_state(job.state));
            owner.active.insert(id);
            if job.identity == Assurance::Claimed {
                owner.active_claimed += 1;
            }
            if let Some(peer) = job.tcp_peer {
                *self.addresses.entry(address_group(peer)).or_default() += 1;
            }
            if !job.has_document {
                self.awaiting_document.insert(id);
            }
        } else {
            self.finished.insert(id);
            printer.finished.insert(id);
            owner.finished.insert(id);
        }
        if is_printable(job) {
            printer.printable.insert(id);
        }
        if let Some(token) = &job.claim {
            *entry(&mut self.claims, token) += 1;
        }
    }

    /// `job` left the table, or is about to change: exactly undoes
    /// [`JobIndex::add`] of the same job.
    pub fn remove(&mut self, job: &Job) {
        let id = job.id;
        let active = !job.state.is_terminal();
        if active {
            self.active.remove(&id);
            if let Some(peer) = job.tcp_peer {
                decrement(&mut self.addresses, &address_group(peer));
            }
            self.awaiting_document.remove(&id);
        } else {
            self.finished.remove(&id);
        }
        if let Some(printer) = self.printers.get_mut(job.printer.as_str()) {
            if active {
                printer.active.remove(&id);
                printer.counts.subtract(StateCounts::of_state(job.state));
            } else {
                printer.finished.remove(&id);
            }
            printer.printable.remove(&id);
            if printer.is_empty() {
                self.printers.remove(job.printer.as_str());
            }
        }
        if let Some(owner) = self.owners.get_mut(job.owner.as_str()) {
            if active {
                owner.active.remove(&id);
                if job.identity == Assurance::Claimed {
                    owner.active_claimed -= 1;
                }
            } else {
                owner.finished.remove(&id);
            }
            if owner.is_empty() {
                self.owners.remove(job.owner.as_str());
            }
        }
        if let Some(token) = &job.claim {
            decrement(&mut self.claims, token.as_str());
        }
    }

    /// Job `before` changed into `after` (the same id).
    pub fn changed(&mut self, before: &Job, after: &Job) {
        self.remove(before);
        self.add(after);
    }

    /// Jobs pending, held or printing on `printer`.
    pub fn queued_on(&self, printer: &str) -> usize {
        self.printers.get(printer).map_or(0, |p| p.active.len())
    }

    /// The oldest printable job of `printer`: pending, with its document.
    pub fn next_printable(&self, printer: &str) -> Option<JobId> {
        self.printers.get(printer)?.printable.first().copied()
    }

    /// Active jobs of every printer by state.
    pub fn totals(&self) -> StateCounts {
        let mut totals = StateCounts::default();
        for printer in self.printers.values() {
            totals.add(printer.counts);
        }
        totals
    }

    /// Whether any job is printing, on any printer.
    pub fn any_processing(&self) -> bool {
        self.printers.values().any(|p| p.counts.processing > 0)
    }

    /// What the caps count for a new job of `owner` (`claimed`: the name
    /// was only claimed) from `tcp_peer`.
    pub fn active_jobs(&self, owner: &str, claimed: bool, tcp_peer: Option<IpAddr>) -> ActiveJobs {
        let of_owner = self.owners.get(owner).map_or(0, |o| {
            if claimed {
                o.active_claimed
            } else {
                o.active.len() - o.active_claimed
            }
        });
        let of_address = tcp_peer
            .and_then(|peer| self.addresses.get(&address_group(peer)).copied())
            .unwrap_or(0);
        ActiveJobs {
            total: self.active.len(),
            of_owner,
            of_address,
        }
    }

    /// Candidates for a listing of active jobs, oldest first: the active
    /// jobs of `printer` or of `owner` (the smaller set when both are
    /// given, so the caller filters by the other), else all. With one
    /// filter or none every candidate matches, so a listing of `limit`
    /// jobs visits `limit` ids; with both, at worst the smaller set.
    pub fn active_ids(
        &self,
        printer: Option<&str>,
        owner: Option<&str>,
    ) -> impl Iterator<Item = JobId> + '_ {
        self.narrowest(printer, owner, |p| &p.active, |o| &o.active, &self.active)
            .iter()
            .copied()
    }

    /// [`JobIndex::active_ids`] for finished jobs, newest first.
    pub fn finished_ids(
        &self,
        printer: Option<&str>,
        owner: Option<&str>,
    ) -> impl Iterator<Item = JobId> + '_ {
        self.narrowest(
            printer,
            owner,
            |p| &p.finished,
            |o| &o.finished,
            &self.finished,
        )
        .iter()
        .rev()
        .copied()
    }

    /// The smaller of the printer's and the owner's set (as chosen by the
    /// two accessors), `all` without either filter, an empty set when a
    /// named printer or owner has no job.
    fn narrowest<'a>(
        &'a self,
        printer: Option<&str>,
        owner: Option<&str>,
        of_printer: impl Fn(&'a PrinterJobs) -> &'a BTreeSet<JobId>,
        of_owner: impl Fn(&'a OwnerJobs) -> &'a BTreeSet<JobId>,
        all: &'a BTreeSet<JobId>,
    ) -> &'a BTreeSet<JobId> {
        static NONE: BTreeSet<JobId> = BTreeSet::new();
        let by_printer = printer.map(|name| self.printers.get(name).map_or(&NONE, &of_printer));
        let by_owner = owner.map(|name| self.owners.get(name).map_or(&NONE, &of_owner));
        match (by_printer, by_owner) {
            (Some(p), Some(o)) if o.len() < p.len() => o,
            (Some(p), _) => p,
            (None, Some(o)) => o,
            (None, None) => all,
        }
    }

    /// Active jobs still waiting for their document, for the reaper.
    pub fn awaiting_document(&self) -> impl Iterator<Item = JobId> + '_ {
        self.awaiting_document.iter().copied()
    }

    /// Whether a job in the table carries drop-directory claim `token`.
    pub fn has_claim(&self, token: &str) -> bool {
        self.claims.contains_key(token)
    }
}

/// Pending with its document: the worker may take it.
fn is_printable(job: &Job) -> bool {
    job.state == JobState::Pending && job.has_document
}

/// The entry for `key`, made empty if there is none; the key is copied
/// only then, not at every change.
fn entry<'a, V: Default>(map: &'a mut HashMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("the entry was made just above")
}

/// Counts one down, dropping the entry at zero so an index emptied again
/// equals a fresh one.
fn decrement<K, Q>(map: &mut HashMap<K, usize>, key: &Q)
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    if let Some(count) = map.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: JobId, printer: &str, owner: &str, state: JobState) -> Job {
        Job {
            id,
            printer: printer.into(),
            owner: owner.into(),
            state,
            ..crate::test_support::job()
        }
    }

    #[test]
    fn remove_undoes_add_to_an_empty_index() {
        let mut index = JobIndex::default();
        let jobs = [
            job(1, "a", "alice", JobState::Pending),
            job(2, "a", "bob", JobState::Held),
            Job {
                identity: Assurance::Claimed,
                tcp_peer: Some("192.0.2.1".parse().unwrap()),
                claim: Some("t".into()),
                has_document: false,
                ..job(3, "b", "alice", JobState::Pending)
            },
            job(4, "b", "alice", JobState::Completed),
        ];
        for j in &jobs {
            index.add(j);
        }
        assert_eq!(index, JobIndex::of(&jobs));
        assert_eq!(index.queued_on("a"), 2);
        assert_eq!(index.next_printable("a"), Some(1));
        assert_eq!(index.next_printable("b"), None);
        let alice = index.active_jobs("alice", true, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(
            alice,
            ActiveJobs {
                total: 3,
                of_owner: 1,
                of_address: 1
            }
        );
        assert_eq!(index.active_jobs("alice", false, None).of_owner, 1);
        assert!(index.has_claim("t"));
        assert_eq!(index.awaiting_document().collect::<Vec<_>>(), [3]);
        let by_both: Vec<JobId> = index.active_ids(Some("a"), Some("bob")).collect();
        assert_eq!(by_both, [2], "the smaller set, bob's");
        let finished: Vec<JobId> = index.finished_ids(None, Some("alice")).collect();
        assert_eq!(finished, [4]);
        assert_eq!(index.active_ids(Some("nobody"), None).count(), 0);
        for j in &jobs {
            index.remove(j);
        }
        assert_eq!(index, JobIndex::default());
    }
}
