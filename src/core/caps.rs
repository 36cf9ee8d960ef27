//! The counting behind `[server.limits]`: how many active jobs (pending,
//! held, printing) one owner, one client address and the whole server may
//! have, and the reservations that keep parallel submissions honest.
//!
//! An owner is its name and whether that name was verified (Unix socket,
//! D-Bus, drop directory) or only claimed (`requesting-user-name` over
//! TCP): a TCP client claiming "root" does not use up root's jobs. Since a
//! TCP client can claim any name, TCP jobs are also counted per address
//! ([`address_group`]).
//!
//! [`JobCaps`] owns its counters behind its own lock; the job core asks it
//! under the state lock (lock order: the state first, then the caps), so
//! concurrent submissions cannot slip past a cap together. The operations
//! on the core are in [`limits`](super::limits) ([`Spooler::set_job_limits`]).
//!
//! [`Spooler::set_job_limits`]: super::Spooler::set_job_limits

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::job::{Assurance, JobId, NewJob};
use crate::config::ServerLimits;

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

/// A cap that is full: which one, and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapReached {
    pub cap: JobCap,
    pub limit: usize,
}

/// The address a client is counted by for per-peer caps (connections, and
/// jobs over TCP): an IPv4 address, but all of `127.0.0.0/8` as one (any
/// local user can bind any of those, so counting them apart would let one
/// user take every slot); an IPv6 address by its /64, the block one host
/// usually gets; an IPv4-mapped IPv6 address as the IPv4 one.
pub fn address_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => address_group(IpAddr::V4(v4)),
            None if v6.is_loopback() => IpAddr::V6(v6),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
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

/// The active jobs (not finished) a new job is counted with: all of them,
/// its owner's (the same name and assurance) and, for a job over TCP, its
/// client address group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveJobs {
    pub total: usize,
    pub of_owner: usize,
    pub of_address: usize,
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

/// The caps in force, what is reserved under them, and which Create-Jobs
/// are receiving their document.
#[derive(Debug, Default)]
pub struct JobCaps {
    inner: Mutex<CapsState>,
}

#[derive(Debug, Default)]
struct CapsState {
    limits: JobLimits,
    reserved: Reserved,
    /// Jobs whose document is being attached now: the reaper leaves them.
    receiving: BTreeSet<JobId>,
    /// Unix seconds when this core started (the reaper's earliest start).
    started_at: u64,
}

impl JobCaps {
    fn lock(&self) -> MutexGuard<'_, CapsState> {
        // The reservations are core state: as for the job table, a
        // half-changed one is never recovered.
        match self.inner.lock() {
            Ok(caps) => caps,
            Err(_) => crate::supervisor::abort_on_poisoned_lock("the job caps"),
        }
    }

    pub fn limits(&self) -> JobLimits {
        self.lock().limits.clone()
    }

    /// Sets the caps; the first call also fixes when this core started.
    pub fn set_limits(&self, limits: JobLimits, now: u64) {
        let mut caps = self.lock();
        caps.limits = limits;
        if caps.started_at == 0 {
            caps.started_at = now;
        }
    }

    /// What the reaper of late documents needs: the timeout, the start of
    /// this core, and the jobs receiving their document now.
    pub fn late_document_rules(&self) -> (u64, u64, BTreeSet<JobId>) {
        let caps = self.lock();
        (
            caps.limits.multiple_operation_timeout,
            caps.started_at,
            caps.receiving.clone(),
        )
    }

    /// Refuses `new` when a cap is reached, counting `active` (the jobs not
    /// finished, counted by the locked table's index) and the reservations.
    pub fn check(&self, active: ActiveJobs, new: &NewJob) -> Result<(), CapReached> {
        let caps = self.lock();
        let limits = &caps.limits;
        let reserved = &caps.reserved;
        let owner = Owner::of(&new.owner, new.identity);
        let address = new.tcp_peer.map(address_group);
        let total = active.total + reserved.total;
        let of_owner = active.of_owner + reserved.owners.get(&owner).copied().unwrap_or(0);
        let of_address = active.of_address
            + address
                .and_then(|a| reserved.addresses.get(&a).copied())
                .unwrap_or(0);
        let refuse = |cap: JobCap, limit: usize| Err(CapReached { cap, limit });
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

    /// Reserves a place for `new` (after [`JobCaps::check`], under the same
    /// state lock) until the returned slot is dropped.
    pub fn reserve(self: &Arc<Self>, new: &NewJob) -> CapSlot {
        let owner = Owner::of(&new.owner, new.identity);
        let address = new.tcp_peer.map(address_group);
        {
            let mut caps = self.lock();
            let reserved = &mut caps.reserved;
            reserved.total += 1;
            *reserved.owners.entry(owner.clone()).or_default() += 1;
            if let Some(address) = address {
                *reserved.addresses.entry(address).or_default() += 1;
            }
        }
        CapSlot {
            caps: Arc::clone(self),
            owner,
            address,
        }
    }

    fn unreserve(&self, owner: &Owner, address: Option<IpAddr>) {
        let mut caps = self.lock();
        let reserved = &mut caps.reserved;
        reserved.total = reserved.total.saturating_sub(1);
        decrement(&mut reserved.owners, owner);
        if let Some(address) = address {
            decrement(&mut reserved.addresses, &address);
        }
    }

    /// Marks job `id` as receiving its document until the receipt is
    /// dropped; `None` when it already is (a second Send-Document racing
    /// the first). Call under the state lock, after checking the job still
    /// waits for its document.
    pub fn start_receiving(self: &Arc<Self>, id: JobId) -> Option<DocumentReceipt> {
        self.lock().receiving.insert(id).then(|| DocumentReceipt {
            caps: Arc::clone(self),
            id,
        })
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
pub struct CapSlot {
    caps: Arc<JobCaps>,
    owner: Owner,
    address: Option<IpAddr>,
}

impl Drop for CapSlot {
    fn drop(&mut self) {
        self.caps.unreserve(&self.owner, self.address);
    }
}

/// Marks a job as receiving its document until dropped.
pub struct DocumentReceipt {
    caps: Arc<JobCaps>,
    id: JobId,
}

impl Drop for DocumentReceipt {
    fn drop(&mut self) {
        self.caps.lock().receiving.remove(&self.id);
    }
}

/// The task that aborts Create-Jobs whose document is late (see
/// [`Spooler::set_job_limits`]): its wake-up and its handle.
///
/// [`Spooler::set_job_limits`]: super::Spooler::set_job_limits
#[derive(Debug, Default)]
pub struct ReaperTask {
    /// Wakes the reaper when a job starts waiting for its document.
    wake: Arc<Notify>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl ReaperTask {
    /// A job started waiting for its document: the reaper must know.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts the reaper with `spawn` (given its wake-up) unless it runs;
    /// wakes it if it does, so it sees new limits.
    pub fn start_or_wake(&self, spawn: impl FnOnce(Arc<Notify>) -> JoinHandle<()>) {
        let mut task = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if task.is_none() {
            *task = Some(spawn(Arc::clone(&self.wake)));
        } else {
            self.wake.notify_one();
        }
    }

    /// Stops the reaper (at shutdown).
    pub fn stop(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(task) = task {
            task.abort();
        }
    }
}
