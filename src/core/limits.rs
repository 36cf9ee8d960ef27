//! Caps on what one client can make the core hold, from `[server.limits]`:
//!
//! - active jobs (not finished: pending, held, printing) in total, per
//!   owner and, for jobs that came over TCP, per client address, checked
//!   and reserved under the state lock so concurrent submissions cannot
//!   slip past a cap together;
//! - how many jobs one listing returns (Get-Jobs, `ListJobs`, `GET /`);
//! - `multiple-operation-time-out`: a job made by Create-Job that gets no
//!   document in time is aborted by the reaper task below. Its deadline
//!   counts from the job's creation or from this start of the daemon,
//!   whichever is later, so a job left waiting across a restart gets the
//!   full timeout again and is then aborted, never forgotten.
//!
//! An owner is its name and whether that name was verified (Unix socket,
//! D-Bus, drop directory) or only claimed (`requesting-user-name` over
//! TCP): a TCP client claiming "root" does not use up root's jobs. Since a
//! TCP client can claim any name, TCP jobs are also counted per address.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::spooler::{Inner, State, encode, finish, now_secs};
use super::{Assurance, CoreError, Job, JobId, JobState, NewJob, Spooler};
use crate::config::ServerLimits;
use crate::sources::ipp::http::address_group;

/// The job caps, resolved from [`ServerLimits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLimits {
    pub max_active_jobs: usize,
    pub max_active_jobs_per_user: usize,
    pub max_active_jobs_per_address: usize,
    pub list_default: usize,
    pub list_max: usize,
    /// Seconds a Create-Job waits for its document.
    pub multiple_operation_timeout: u64,
}

impl From<&ServerLimits> for JobLimits {
    fn from(limits: &ServerLimits) -> Self {
        JobLimits {
            max_active_jobs: limits.max_active_jobs,
            max_active_jobs_per_user: limits.max_active_jobs_per_user,
            max_active_jobs_per_address: limits.max_active_jobs_per_address,
            list_default: limits.list_jobs_default_limit,
            list_max: limits
                .list_jobs_max_limit
                .max(limits.list_jobs_default_limit),
            multiple_operation_timeout: limits.multiple_operation_timeout,
        }
    }
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits::from(&ServerLimits::default())
    }
}

impl JobLimits {
    /// The number of jobs a listing returns for a requested `limit`.
    pub fn list_limit(&self, requested: Option<usize>) -> usize {
        requested.unwrap_or(self.list_default).min(self.list_max)
    }
}

/// Which cap refused a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobCap {
    /// All active jobs together.
    Total,
    /// One owner's (name, and whether it was only claimed).
    User { name: String, claimed: bool },
    /// One TCP client address (or address group, see
    /// [`address_group`]).
    Address(IpAddr),
}

impl std::fmt::Display for JobCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobCap::Total => write!(f, "the server"),
            JobCap::User {
                name,
                claimed: false,
            } => write!(f, "user \"{}\"", name.escape_debug()),
            JobCap::User {
                name,
                claimed: true,
            } => write!(f, "user \"{}\" over the network", name.escape_debug()),
            JobCap::Address(addr) => write!(f, "address {addr}"),
        }
    }
}

/// Whom a job is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Owner {
    name: String,
    claimed: bool,
}

impl Owner {
    fn of(name: &str, identity: Assurance) -> Owner {
        Owner {
            name: name.to_string(),
            claimed: identity == Assurance::Claimed,
        }
    }
}

/// Submissions that passed the caps and are being written to disk, not
/// yet in the job table: counted as if they were, so a burst of parallel
/// requests cannot all pass a cap that has room for one.
#[derive(Debug, Default)]
struct Reserved {
    total: usize,
    owners: HashMap<Owner, usize>,
    addresses: HashMap<IpAddr, usize>,
}

/// The caps' state, beside the job table in [`Inner`]. Lock order: the
/// state lock first, then this one.
#[derive(Debug, Default)]
pub(super) struct Admission {
    inner: Mutex<AdmissionState>,
    /// Wakes the reaper when a job starts waiting for its document.
    wake_reaper: Arc<Notify>,
    reaper: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct AdmissionState {
    limits: JobLimits,
    reserved: Reserved,
    /// Jobs whose document is being attached now: the reaper leaves them.
    receiving: BTreeSet<JobId>,
    /// Unix seconds when this core started (the reaper's earliest start).
    started_at: u64,
}

impl Admission {
    fn lock(&self) -> MutexGuard<'_, AdmissionState> {
        // The reservations are core state: as for the job table, a
        // half-changed one is never recovered.
        match self.inner.lock() {
            Ok(admission) => admission,
            Err(_) => crate::supervisor::abort_on_poisoned_lock("the job caps"),
        }
    }

    pub(super) fn limits(&self) -> JobLimits {
        self.lock().limits.clone()
    }

    /// Refuses `new` when a cap is reached. `state` is the locked table.
    fn check(&self, state: &State, new: &NewJob) -> Result<(), CoreError> {
        let admission = self.lock();
        let limits = &admission.limits;
        let reserved = &admission.reserved;
        let owner = Owner::of(&new.owner, new.identity);
        let address = new.tcp_peer.map(address_group);
        let (mut total, mut of_owner, mut of_address) = (
            reserved.total,
            reserved.owners.get(&owner).copied().unwrap_or(0),
            address
                .and_then(|a| reserved.addresses.get(&a).copied())
                .unwrap_or(0),
        );
        for job in state.jobs.values().filter(|j| !j.state.is_terminal()) {
            total += 1;
            if job.owner == owner.name && (job.identity == Assurance::Claimed) == owner.claimed {
                of_owner += 1;
            }
            if address.is_some() && job.tcp_peer.map(address_group) == address {
                of_address += 1;
            }
        }
        let refuse = |cap: JobCap, limit: usize| Err(CoreError::TooManyJobs { cap, limit });
        if of_owner >= limits.max_active_jobs_per_user {
            return refuse(
                JobCap::User {
                    name: owner.name,
                    claimed: owner.claimed,
                },
                limits.max_active_jobs_per_user,
            );
        }
        if let Some(address) = address
            && of_address >= limits.max_active_jobs_per_address
        {
            return refuse(JobCap::Address(address), limits.max_active_jobs_per_address);
        }
        if total >= limits.max_active_jobs {
            return refuse(JobCap::Total, limits.max_active_jobs);
        }
        Ok(())
    }

    fn reserve(&self, new: &NewJob) {
        let mut admission = self.lock();
        let reserved = &mut admission.reserved;
        reserved.total += 1;
        *reserved
            .owners
            .entry(Owner::of(&new.owner, new.identity))
            .or_default() += 1;
        if let Some(address) = new.tcp_peer.map(address_group) {
            *reserved.addresses.entry(address).or_default() += 1;
        }
    }

    fn unreserve(&self, owner: &Owner, address: Option<IpAddr>) {
        let mut admission = self.lock();
        let reserved = &mut admission.reserved;
        reserved.total = reserved.total.saturating_sub(1);
        decrement(&mut reserved.owners, owner);
        if let Some(address) = address {
            decrement(&mut reserved.addresses, &address);
        }
    }

    /// Marks job `id` as receiving its document; false when it already is
    /// (a second Send-Document racing the first). Call under the state
    /// lock, after checking the job still waits for its document.
    pub(super) fn start_receiving(&self, id: JobId) -> bool {
        self.lock().receiving.insert(id)
    }

    pub(super) fn stop_receiving(&self, id: JobId) {
        self.lock().receiving.remove(&id);
    }

    /// A job started waiting for its document: the reaper must know.
    pub(super) fn waiting_for_document(&self) {
        self.wake_reaper.notify_one();
    }
}

/// Drops the entry at zero, so the maps hold only who has submissions in
/// flight.
fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// A reserved place under the caps, from the check until the job is in
/// the table (or the submission failed).
pub(super) struct Slot {
    inner: Arc<Inner>,
    owner: Owner,
    address: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner.admission.unreserve(&self.owner, self.address);
    }
}

/// Marks a job as receiving its document until dropped.
pub(super) struct Receiving {
    inner: Arc<Inner>,
    id: JobId,
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.inner.admission.stop_receiving(self.id);
    }
}

impl Spooler {
    /// Sets the caps of `[server.limits]` (at start). Also starts the
    /// reaper of Create-Jobs that never got their document.
    pub fn set_job_limits(&self, limits: JobLimits) {
        {
            let mut admission = self.inner.admission.lock();
            admission.limits = limits;
            if admission.started_at == 0 {
                admission.started_at = now_secs();
            }
        }
        let mut reaper = self
            .inner
            .admission
            .reaper
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if reaper.is_none() {
            *reaper = Some(tokio::spawn(reap(
                Arc::downgrade(&self.inner),
                Arc::clone(&self.inner.admission.wake_reaper),
            )));
        } else {
            self.inner.admission.wake_reaper.notify_one();
        }
    }

    /// The caps in force.
    pub fn job_limits(&self) -> JobLimits {
        self.inner.admission.limits()
    }

    /// Refuses `new` when a cap is reached, without reserving anything
    /// (Validate-Job, and Print-Job before it reads the document).
    pub(super) fn check_caps(&self, state: &State, new: &NewJob) -> Result<(), CoreError> {
        self.inner.admission.check(state, new)
    }

    /// Checks the caps and reserves a place for `new` until the returned
    /// slot is dropped (after the job entered the table).
    pub(super) fn reserve_slot(&self, new: &NewJob) -> Result<Slot, CoreError> {
        let state = self.lock();
        self.inner.admission.check(&state, new)?;
        self.inner.admission.reserve(new);
        drop(state);
        Ok(Slot {
            inner: Arc::clone(&self.inner),
            owner: Owner::of(&new.owner, new.identity),
            address: new.tcp_peer.map(address_group),
        })
    }

    /// See [`Admission::start_receiving`]; `None` when another document is
    /// being received for job `id` right now.
    pub(super) fn start_receiving(&self, id: JobId) -> Option<Receiving> {
        self.inner.admission.start_receiving(id).then(|| Receiving {
            inner: Arc::clone(&self.inner),
            id,
        })
    }

    /// Aborts the jobs whose document did not come in time; returns when
    /// the next one is due (Unix seconds), if any job is waiting.
    async fn abort_late_creations(&self) -> Option<u64> {
        let now = now_secs();
        let (aborted, next) = {
            let mut state = self.lock();
            let (timeout, started_at, receiving) = {
                let admission = self.inner.admission.lock();
                (
                    admission.limits.multiple_operation_timeout,
                    admission.started_at,
                    admission.receiving.clone(),
                )
            };
            let mut aborted = Vec::new();
            let mut next: Option<u64> = None;
            for job in state.jobs.values_mut() {
                if !waits_for_document(job) || receiving.contains(&job.id) {
                    continue;
                }
                let due = job.created_at.max(started_at).saturating_add(timeout);
                if due <= now {
                    finish(
                        job,
                        JobState::Aborted,
                        "aborted-by-system",
                        &format!(
                            "no document arrived within multiple-operation-time-out ({timeout} s)"
                        ),
                    );
                    aborted.push(job.clone());
                } else {
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
            (aborted, next)
        };
        for job in aborted {
            tracing::info!(
                id = job.id,
                printer = %job.printer,
                "job aborted: its document did not arrive within multiple-operation-time-out"
            );
            // Not on disk: the next start finds the job waiting and aborts
            // it again after the timeout, so nothing is lost either way.
            match encode(&job) {
                Ok(meta) => {
                    if let Err(e) = self.inner.spool.update(job.id, &meta, true).await {
                        tracing::warn!(id = job.id, "could not record the abort: {e}");
                    }
                }
                Err(e) => tracing::warn!(id = job.id, "could not record the abort: {e}"),
            }
            self.emit_job(&job);
            self.retire(job.id);
        }
        next
    }
}

/// A job made by Create-Job still waiting for its document.
fn waits_for_document(job: &Job) -> bool {
    !job.has_document && !job.state.is_terminal()
}

/// The reaper task: sleeps until the next Create-Job deadline, or until a
/// job starts waiting; ends when the core is gone.
async fn reap(core: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let Some(inner) = core.upgrade() else { return };
        let next = Spooler { inner }.abort_late_creations().await;
        let wait = next.map(|at| Duration::from_secs(at.saturating_sub(now_secs()).max(1)));
        match wait {
            Some(wait) => {
                let _ = tokio::time::timeout(wait, wake.notified()).await;
            }
            None => wake.notified().await,
        }
    }
}

impl Spooler {
    /// Stops the reaper (at shutdown).
    pub(super) fn stop_reaper(&self) {
        let reaper = self
            .inner
            .admission
            .reaper
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(reaper) = reaper {
            reaper.abort();
        }
    }
}
