//! [`Spooler`]: the handle every entry path calls, and what its operations
//! share: the one lock on [`CoreState`], the spool, the caps, the events.
//!
//! The state lock is a `std::sync::Mutex`, held only for short, non-async
//! sections. Durability goes through the spool, outside the lock. The
//! operations themselves live with their role: jobs in [`jobs`], queues
//! and printers in [`queues`], finished jobs in [`history`], hot-plug in
//! [`hotplug`], print workers in [`worker`], caps in [`limits`], start and
//! stop in [`lifecycle`] (see the module documentation of [`crate::core`]).
//!
//! [`jobs`]: super::jobs
//! [`queues`]: super::queues
//! [`history`]: super::history
//! [`hotplug`]: super::hotplug
//! [`worker`]: super::worker
//! [`limits`]: super::limits
//! [`lifecycle`]: super::lifecycle

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};

use super::Event;
use super::caps::{JobCaps, ReaperTask};
use super::error::CoreError;
use super::job::JobId;
use super::memory::Trimmer;
use super::record::encode;
use super::state::CoreState;
use crate::spool::Spool;
use crate::supervisor::{self, Supervisor};

/// A cheap, cloneable handle on the job core.
#[derive(Clone)]
pub struct Spooler {
    shared: Arc<CoreShared>,
}

/// What every clone of a [`Spooler`] shares.
pub struct CoreShared {
    state: Mutex<CoreState>,
    spool: Spool,
    events: broadcast::Sender<Event>,
    max_document_bytes: u64,
    shutting_down: AtomicBool,
    /// Wakes [`Spooler::changed`] watchers on any change.
    changed: Notify,
    /// Gives memory back after a burst (see [`super::memory`]).
    trimmer: Trimmer,
    /// The caps on active jobs and listings (see [`super::caps`]).
    caps: Arc<JobCaps>,
    /// Aborts Create-Jobs whose document is late (see [`super::limits`]).
    reaper: ReaperTask,
    /// The print workers run under it, so the watchdog can vouch for them.
    supervisor: Supervisor,
}

/// A [`Spooler`] that does not keep the core alive (for its own tasks).
pub struct WeakSpooler(Weak<CoreShared>);

impl WeakSpooler {
    pub fn upgrade(&self) -> Option<Spooler> {
        self.0.upgrade().map(|shared| Spooler { shared })
    }
}

impl Spooler {
    /// A core on `spool` with `state`; its workers are not started yet.
    pub(super) fn assemble(spool: Spool, state: CoreState, max_document_bytes: u64) -> Spooler {
        let (events, _) = broadcast::channel(1024);
        Spooler {
            shared: Arc::new(CoreShared {
                state: Mutex::new(state),
                spool,
                events,
                max_document_bytes,
                shutting_down: AtomicBool::new(false),
                changed: Notify::new(),
                trimmer: Trimmer::default(),
                caps: Arc::new(JobCaps::default()),
                reaper: ReaperTask::default(),
                supervisor: Supervisor::new(),
            }),
        }
    }

    pub(super) fn downgrade(&self) -> WeakSpooler {
        WeakSpooler(Arc::downgrade(&self.shared))
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, CoreState> {
        // A panic while holding the lock may have left the state half
        // changed; persisting that could lose a job. Never recover it.
        match self.shared.state.lock() {
            Ok(state) => state,
            Err(_) => supervisor::abort_on_poisoned_lock("the job core"),
        }
    }

    pub(super) fn spool(&self) -> &Spool {
        &self.shared.spool
    }

    pub(super) fn caps(&self) -> &Arc<JobCaps> {
        &self.shared.caps
    }

    pub(super) fn reaper(&self) -> &ReaperTask {
        &self.shared.reaper
    }

    pub(super) fn trimmer(&self) -> &Trimmer {
        &self.shared.trimmer
    }

    /// Publishes a change to listeners and wakes [`Spooler::changed`].
    pub(super) fn emit(&self, event: impl Into<Event>) {
        // No receivers is fine: nobody listens yet.
        let _ = self.shared.events.send(event.into());
        self.shared.changed.notify_waiters();
    }

    /// Writes job `id`'s current record. The spool fixes each update's
    /// place in line when `update` is called, and we call it under the
    /// state lock with the record as it is now, so the newest state always
    /// lands last; the wait for the disk happens outside the lock.
    pub(super) async fn persist(&self, id: JobId, durable: bool) -> Result<(), CoreError> {
        let pending = {
            let state = self.lock();
            match state.job(id) {
                Some(job) => self.shared.spool.update(id, &encode(job)?, durable),
                None => return Ok(()),
            }
        };
        pending.await?;
        Ok(())
    }

    /// From [`Spooler::shutdown`] on, no new job or document is taken.
    pub(super) fn stop_accepting(&self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
    }

    pub(super) fn refuse_if_shutting_down(&self) -> Result<(), CoreError> {
        if self.shared.shutting_down.load(Ordering::Relaxed) {
            Err(CoreError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Largest document accepted.
    pub fn max_document_bytes(&self) -> u64 {
        self.shared.max_document_bytes
    }

    /// State changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Resolves once the core's state changed (any event).
    pub async fn changed(&self) {
        self.shared.changed.notified().await;
    }

    /// The essential tasks of the core (the print workers); the daemon
    /// supervises its sources under it too.
    pub fn supervisor(&self) -> &Supervisor {
        &self.shared.supervisor
    }

    /// Whether the core's state can be taken within `deadline`: false when
    /// something holds its lock for that long (a deadlock, a stuck
    /// section) or a panic poisoned it. The watchdog asks this each round.
    pub async fn answers_within(&self, deadline: Duration) -> bool {
        let give_up = tokio::time::Instant::now() + deadline;
        loop {
            match self.shared.state.try_lock() {
                Ok(_) => return true,
                Err(TryLockError::Poisoned(_)) => return false,
                Err(TryLockError::WouldBlock) => {}
            }
            if tokio::time::Instant::now() >= give_up {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether the spool can still make jobs durable (its sync thread
    /// runs); the watchdog asks this each round.
    pub fn spool_can_commit(&self) -> bool {
        self.shared.spool.can_commit()
    }
}

impl std::fmt::Debug for Spooler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spooler").finish_non_exhaustive()
    }
}
