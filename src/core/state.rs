//! [`CoreState`]: the job table and the queues, behind the core's one
//! mutex ([`Spooler`]'s). Its fields are private to this file, so every
//! change goes through a method here, and these keep the invariants:
//!
//! - every job not finished is in the table; a finished one stays until
//!   [`FinishedJobs`] lets it go (its final record is on disk and newer
//!   finished jobs fill the bound), and every job `FinishedJobs` holds is
//!   a finished job in the table;
//! - a job in the table carrying a drop-directory claim is never in the
//!   "no job has this claim" cache;
//! - a queue's printing job is its current job, with the flag that cancels
//!   it; queues keep configuration order, and a device never takes over a
//!   configured queue's name;
//! - the [`JobIndex`] is that of the jobs in the table: every method that
//!   changes a job takes it out of the index as it was and puts it back as
//!   it is, so no request walks the table (tests recompute the index after
//!   each change, `check_index`).
//!
//! Nothing here waits: the operations ([`jobs`](super::jobs),
//! [`queues`](super::queues), [`history`](super::history),
//! [`hotplug`](super::hotplug), [`worker`](super::worker),
//! [`limits`](super::limits)) take the lock, call one of these methods,
//! release the lock, then write to the spool and publish events.
//!
//! [`Spooler`]: super::Spooler

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::access::Requester;
use super::caps::ActiveJobs;
use super::error::CoreError;
use super::finished::FinishedJobs;
use super::job::{Assurance, Job, JobId, JobState, NewJob};
use super::job_index::JobIndex;
use super::printer::PrinterInfo;
use super::queue::PrinterQueue;
use super::{JobFilter, WhichJobs};
use crate::backend::{Backend, BackendError};
use crate::clock::unix_now;
use crate::config::{JobPrivateValues, PrinterConfig};

/// The job table and the queues.
pub struct CoreState {
    /// Every job not finished, and the newest finished ones. Boxed: a
    /// tree node holds eleven entries but is often half full, and empty
    /// slots of a `Job`'s size cost more than the job's pointer.
    jobs: BTreeMap<JobId, Box<Job>>,
    /// What requests ask of `jobs`, kept ready (see [`JobIndex`]).
    index: JobIndex,
    /// Which finished jobs may leave `jobs`, and how many may stay.
    finished: FinishedJobs,
    /// Queues in configuration order.
    queues: Vec<PrinterQueue>,
    default_printer: String,
    /// What only owners and administrators see (`job_private_values`).
    job_private_values: JobPrivateValues,
    /// Tests: changes seen by `check_index`, which samples past a size.
    #[cfg(test)]
    changes_checked: std::cell::Cell<usize>,
}

/// What a client's change to a job (cancel, hold, release) did in memory.
#[derive(Debug)]
pub enum JobChange {
    /// No such job in memory: it may have finished and left
    /// ([`super::history`]).
    NotInMemory,
    /// Nothing to write; the answer is this job.
    Unchanged(Job),
    /// Changed in memory, to be written; `before` is what the job goes back
    /// to if the spool cannot record the change.
    Changed { before: Box<Job>, after: Job },
}

/// A job a worker took for printing.
pub struct TakenJob {
    pub job: Job,
    pub backend: Arc<dyn Backend>,
    pub cancel: Arc<AtomicBool>,
    /// The queue as it is now (printing), for listeners.
    pub queue: Option<PrinterInfo>,
}

/// What a reload changed.
#[derive(Debug, Default)]
pub struct Reconfigured {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Hot-plugged queues the configuration now names.
    pub adopted: Vec<String>,
    /// Workers of removed queues, told to stop.
    pub stopped_workers: Vec<JoinHandle<()>>,
}

/// What plugging a device in did.
#[derive(Debug)]
pub enum DevicePlug {
    /// The device's queue existed and is online again.
    Returned(Option<Box<PrinterInfo>>),
    /// A new queue was made; its worker is to be started.
    Added,
}

impl CoreState {
    pub fn new(
        queues: Vec<PrinterQueue>,
        default_printer: String,
        history_limit: usize,
    ) -> CoreState {
        CoreState {
            jobs: BTreeMap::new(),
            index: JobIndex::default(),
            finished: FinishedJobs::new(history_limit),
            queues,
            default_printer,
            job_private_values: JobPrivateValues::default(),
            #[cfg(test)]
            changes_checked: std::cell::Cell::new(0),
        }
    }

    // ---- jobs ----

    pub fn job(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id).map(|job| &**job)
    }

    /// The active jobs (pending, held, printing) `new` is counted with by
    /// the caps.
    pub fn active_jobs(&self, new: &NewJob) -> ActiveJobs {
        self.index
            .active_jobs(&new.owner, new.identity == Assurance::Claimed, new.tcp_peer)
    }

    /// The jobs `filter` asks for, at most `limit`: not-completed jobs
    /// oldest first, then completed jobs newest first.
    ///
    /// Paged through the [`JobIndex`]: with a printer or an owner filter,
    /// or neither, it visits `limit` jobs; with both, it walks the smaller
    /// of the printer's and the owner's jobs at worst (an index per pair
    /// would cost memory per job for a rare question).
    pub fn list(&self, filter: &JobFilter, limit: usize) -> Vec<Job> {
        let printer = filter.printer.as_deref();
        let owner = filter.owner.as_deref();
        let matches = |job: &&Job| {
            printer.is_none_or(|p| job.printer == p) && owner.is_none_or(|o| job.owner == o)
        };
        let jobs = |ids: &mut dyn Iterator<Item = JobId>| -> Vec<Job> {
            ids.filter_map(|id| self.job(id))
                .filter(matches)
                .take(limit)
                .cloned()
                .collect()
        };
        let active = || self.index.active_ids(printer, owner);
        let done = || self.index.finished_ids(printer, owner);
        match filter.which {
            WhichJobs::NotCompleted => jobs(&mut active()),
            WhichJobs::Completed => jobs(&mut done()),
            WhichJobs::All => jobs(&mut active().chain(done())),
        }
    }

    /// Puts a job whose record is durable into the table (new, with its
    /// document now, or recovered).
    pub fn insert(&mut self, mut job: Job) {
        shrink(&mut job);
        if let Some(token) = &job.claim {
            self.finished.claimed(token);
        }
        if let Some(old) = self.jobs.get(&job.id) {
            self.index.remove(old);
        }
        self.index.add(&job);
        self.jobs.insert(job.id, Box::new(job));
        self.check_index();
    }

    /// Refuses `new` unless its queue exists and accepts jobs.
    pub fn check_accepting(&self, new: &NewJob) -> Result<(), CoreError> {
        let queue = self
            .queue(&new.printer)
            .ok_or_else(|| CoreError::UnknownPrinter(new.printer.clone()))?;
        if !queue.accepting_jobs() {
            return Err(CoreError::NotAcceptingJobs(new.printer.clone()));
        }
        Ok(())
    }

    /// Job `id` if `requester` may add its document now; `None` when the
    /// job is not in memory.
    pub fn awaiting_document(
        &self,
        id: JobId,
        requester: &Requester,
    ) -> Result<Option<Job>, CoreError> {
        let Some(job) = self.job(id) else {
            return Ok(None);
        };
        requester.authorize(job, "add a document to")?;
        if job.has_document {
            return Err(CoreError::OneDocumentPerJob(id));
        }
        if job.state.is_terminal() {
            return Err(CoreError::NotPossible(format!(
                "job {id} is {}",
                job.state.keyword()
            )));
        }
        Ok(Some(job.clone()))
    }

    /// Cancel-Job. A job printing now is canceled by its worker, which
    /// sees the raised flag between writes; it shows as canceling.
    pub fn cancel(&mut self, id: JobId, requester: &Requester) -> Result<JobChange, CoreError> {
        let Some(job) = self.jobs.get_mut(&id).map(|job| &mut **job) else {
            return Ok(JobChange::NotInMemory);
        };
        requester.authorize(job, "cancel")?;
        if job.state.is_terminal() {
            return Err(CoreError::NotPossible(format!(
                "job {id} is already {}",
                job.state.keyword()
            )));
        }
        if job.state == JobState::Processing {
            let mut snapshot = job.clone();
            snapshot.reasons = vec!["processing-to-stop-point".to_string()];
            if let Some(queue) = self.queue(&snapshot.printer) {
                queue.cancel_current(id);
            }
            return Ok(JobChange::Unchanged(snapshot));
        }
        let before = job.clone();
        finish(job, JobState::Canceled, "job-canceled-by-user", "canceled");
        let after = job.clone();
        self.index.changed(&before, &after);
        self.check_index();
        Ok(JobChange::Changed {
            before: Box::new(before),
            after,
        })
    }

    /// Hold-Job: a pending job waits (`job-hold-until=indefinite`).
    pub fn hold(&mut self, id: JobId, requester: &Requester) -> Result<JobChange, CoreError> {
        let Some(job) = self.jobs.get_mut(&id).map(|job| &mut **job) else {
            return Ok(JobChange::NotInMemory);
        };
        requester.authorize(job, "hold")?;
        match job.state {
            JobState::Pending => {}
            JobState::Held => return Ok(JobChange::Unchanged(job.clone())),
            other => {
                return Err(CoreError::NotPossible(format!(
                    "job {id} is {}, only pending jobs can be held",
                    other.keyword()
                )));
            }
        }
        let before = job.clone();
        job.state = JobState::Held;
        job.reasons = vec!["job-hold-until-specified".to_string()];
        job.ticket.job_hold_until = Some("indefinite".to_string());
        let after = job.clone();
        self.index.changed(&before, &after);
        self.check_index();
        Ok(JobChange::Changed {
            before: Box::new(before),
            after,
        })
    }

    /// Release-Job: a held job is pending again.
    pub fn release(&mut self, id: JobId, requester: &Requester) -> Result<JobChange, CoreError> {
        let Some(job) = self.jobs.get_mut(&id).map(|job| &mut **job) else {
            return Ok(JobChange::NotInMemory);
        };
        requester.authorize(job, "release")?;
        if job.state != JobState::Held {
            return Err(CoreError::NotPossible(format!(
                "job {id} is {}, not held",
                job.state.keyword()
            )));
        }
        let before = job.clone();
        job.state = JobState::Pending;
        job.reasons = if job.has_document {
            vec!["none".to_string()]
        } else {
            vec!["job-incoming".to_string()]
        };
        job.ticket.job_hold_until = Some("no-hold".to_string());
        let after = job.clone();
        self.index.changed(&before, &after);
        self.check_index();
        Ok(JobChange::Changed {
            before: Box::new(before),
            after,
        })
    }

    /// The spool could not record `after`: the job goes back to `before`,
    /// unless it changed again meanwhile.
    pub fn revert(&mut self, before: Job, after: &Job) {
        if let Some(job) = self.jobs.get_mut(&after.id)
            && **job == *after
        {
            self.index.changed(after, &before);
            **job = before;
        }
        self.check_index();
    }

    /// Aborts the Create-Jobs whose document is late at `now` (none of
    /// `receiving`); returns them, and when the next one is due, if any.
    pub fn abort_late_creations(
        &mut self,
        now: u64,
        timeout: u64,
        started_at: u64,
        receiving: &BTreeSet<JobId>,
    ) -> (Vec<Job>, Option<u64>) {
        let mut aborted = Vec::new();
        let mut next: Option<u64> = None;
        let waiting: Vec<JobId> = self
            .index
            .awaiting_document()
            .filter(|id| !receiving.contains(id))
            .collect();
        for id in waiting {
            let Some(job) = self.jobs.get_mut(&id).map(|job| &mut **job) else {
                continue;
            };
            let due = job.created_at.max(started_at).saturating_add(timeout);
            if due <= now {
                let before = job.clone();
                finish(
                    job,
                    JobState::Aborted,
                    "aborted-by-system",
                    &format!(
                        "no document arrived within multiple-operation-time-out ({timeout} s)"
                    ),
                );
                self.index.changed(&before, job);
                aborted.push(job.clone());
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        self.check_index();
        (aborted, next)
    }

    // ---- print workers ----

    /// Takes the oldest printable job of `printer`, marks it processing
    /// and makes it the queue's current job.
    pub fn take_next(&mut self, printer: &str) -> Option<TakenJob> {
        let queue = self.queue(printer)?;
        if !queue.can_print() {
            return None;
        }
        let backend = queue.backend();
        let id = self.index.next_printable(printer)?;
        let job = self.change(id, |job| {
            job.state = JobState::Processing;
            job.reasons = vec!["job-printing".to_string()];
            job.message = String::new();
            job.processing_at = Some(unix_now());
        })?;
        let cancel = Arc::new(AtomicBool::new(false));
        if let Some(queue) = self.queue_mut(printer) {
            queue.set_current(Some((job.id, Arc::clone(&cancel))));
        }
        Some(TakenJob {
            job,
            backend,
            cancel,
            queue: self.event_info(printer),
        })
    }

    /// Records how printing job `id` ended; returns the job and its queue
    /// as they are now.
    pub fn settle(
        &mut self,
        printer: &str,
        id: JobId,
        result: &Result<(), BackendError>,
    ) -> Option<(Job, Option<PrinterInfo>)> {
        if let Some(queue) = self.queue_mut(printer) {
            queue.set_current(None);
            if let Err(BackendError::Offline(why)) = result {
                queue.set_offline(Some(why.clone()));
            }
        }
        let job = self.change(id, |job| settle_job(job, result))?;
        Some((job, self.event_info(printer)))
    }

    /// The spool could not record that job `id` starts printing: it goes
    /// back in line with `message`.
    pub fn defer(&mut self, printer: &str, id: JobId, message: String) -> Option<Job> {
        if let Some(queue) = self.queue_mut(printer) {
            queue.set_current(None);
        }
        self.change(id, |job| {
            job.state = JobState::Pending;
            job.reasons = vec!["resources-are-not-ready".to_string()];
            job.message = message;
            job.processing_at = None;
        })
    }
    /// Sets or clears why the spool keeps `printer` from printing; the
    /// queue as it is now when that changed.
    pub fn set_spool_trouble(
        &mut self,
        printer: &str,
        trouble: Option<(&'static str, String)>,
    ) -> Option<PrinterInfo> {
        let queue = self.queue_mut(printer)?;
        if !queue.set_spool_trouble(trouble) {
            return None;
        }
        self.event_info(printer)
    }

    /// Tries an offline configured printer again (a hot-plugged device
    /// comes back with a udev event instead).
    pub fn retry_offline(&mut self, printer: &str) -> Option<PrinterInfo> {
        let queue = self.queue_mut(printer)?;
        if queue.is_hotplugged() {
            return None;
        }
        queue.set_offline(None);
        self.event_info(printer)
    }

    pub fn is_offline(&self, printer: &str) -> bool {
        self.queue(printer).is_some_and(|q| q.is_offline())
    }

    /// The wake-up and stop flag of `printer`'s worker.
    pub fn worker_signals(&self, printer: &str) -> Option<(Arc<Notify>, Arc<AtomicBool>)> {
        self.queue(printer).map(|q| q.worker_signals())
    }

    pub fn set_worker(&mut self, printer: &str, worker: JoinHandle<()>) {
        if let Some(queue) = self.queue_mut(printer) {
            queue.set_worker(worker);
        }
    }

    /// Tells every worker to stop; their handles, to await.
    pub fn stop_workers(&mut self) -> Vec<JoinHandle<()>> {
        self.queues
            .iter_mut()
            .filter_map(|q| q.stop_worker())
            .collect()
    }

    /// Wakes `printer`'s worker.
    pub fn wake(&self, printer: &str) {
        if let Some(queue) = self.queue(printer) {
            queue.wake();
        }
    }

    // ---- queues ----

    /// Every queue, default first.
    pub fn printers(&self) -> Vec<PrinterInfo> {
        let mut list: Vec<PrinterInfo> = self.queues.iter().map(|q| self.info(q)).collect();
        list.sort_by_key(|p| !p.is_default);
        list
    }

    pub fn printer(&self, name: &str) -> Option<PrinterInfo> {
        self.queue(name).map(|q| self.info(q))
    }

    pub fn has_queue(&self, name: &str) -> bool {
        self.queue(name).is_some()
    }

    pub fn default_printer(&self) -> &str {
        &self.default_printer
    }

    pub fn job_private_values(&self) -> JobPrivateValues {
        self.job_private_values
    }

    pub fn set_job_private_values(&mut self, values: JobPrivateValues) {
        self.job_private_values = values;
    }

    pub fn backend(&self, printer: &str) -> Option<Arc<dyn Backend>> {
        self.queue(printer).map(|q| q.backend())
    }

    /// Pauses or resumes `printer`; the queue as it is now.
    pub fn set_paused(&mut self, printer: &str, paused: bool) -> Option<PrinterInfo> {
        self.queue_mut(printer)?.set_paused(paused);
        self.printer(printer)
    }

    /// Applies a new printer list: adds new queues, updates changed ones,
    /// removes those no longer listed (hot-plugged queues stay). Jobs stay
    /// in the table whatever happens to their queue.
    pub fn reconfigure(
        &mut self,
        printers: &[PrinterConfig],
        default_printer: &str,
    ) -> Reconfigured {
        let mut change = Reconfigured::default();
        self.default_printer = default_printer.to_string();
        self.queues.retain_mut(|queue| {
            let keep = queue.is_hotplugged() || printers.iter().any(|p| p.name == queue.name());
            if !keep {
                change.removed.push(queue.name().to_string());
                change.stopped_workers.extend(queue.stop_worker());
            }
            keep
        });
        for config in printers {
            match self.queue_mut(&config.name) {
                Some(queue) if queue.is_hotplugged() => {
                    queue.adopt_configuration(config);
                    change.adopted.push(config.name.clone());
                }
                Some(queue) if queue.config() != config => queue.reconfigure(config),
                Some(_) => {}
                None => {
                    self.queues.push(PrinterQueue::new(config));
                    change.added.push(config.name.clone());
                }
            }
        }
        // Keep configuration order so the listing is predictable.
        self.queues
            .sort_by_key(|q| printers.iter().position(|p| p.name == q.name()));
        change
    }

    /// The name of the hot-plugged queue made for a device whose ID gave
    /// `wanted`, if there is one.
    pub fn queue_plugged_as(&self, wanted: &str) -> Option<&str> {
        self.queues
            .iter()
            .find(|queue| queue.plugged_as() == Some(wanted))
            .map(|queue| queue.name())
    }

    /// A device is plugged in as queue `config.name` (its ID gave
    /// `wanted`): its existing queue comes back online, or a new one is
    /// made.
    pub fn plug_device(
        &mut self,
        config: &PrinterConfig,
        device_id: Option<String>,
        wanted: &str,
    ) -> DevicePlug {
        let Some(queue) = self.queue_mut(&config.name) else {
            self.queues
                .push(PrinterQueue::hotplugged(config, device_id, wanted));
            return DevicePlug::Added;
        };
        if queue.config() != config {
            queue.reconfigure(config);
        }
        queue.set_device_id(device_id);
        queue.set_offline(None);
        queue.wake();
        DevicePlug::Returned(self.event_info(&config.name).map(Box::new))
    }

    /// The device of hot-plugged queue `name` went away; `None` when no
    /// such queue (a configured queue is not the device's).
    pub fn unplug_device(&mut self, name: &str, reason: &str) -> Option<Option<PrinterInfo>> {
        let queue = self.queue_mut(name).filter(|q| q.is_hotplugged())?;
        queue.set_offline(Some(reason.to_string()));
        Some(self.event_info(name))
    }

    /// A one-line queue summary for `STATUS=`.
    pub fn summary(&self) -> String {
        let totals = self.index.totals();
        let (pending, held, printing) = (totals.pending, totals.held, totals.processing);
        let stopped = self.queues.iter().filter(|q| q.is_stopped()).count();
        let mut line = format!(
            "{} printer{}, {printing} printing, {pending} pending, {held} held",
            self.queues.len(),
            if self.queues.len() == 1 { "" } else { "s" }
        );
        if stopped > 0 {
            line.push_str(&format!(", {stopped} stopped"));
        }
        line
    }

    /// No job printing and no pending job a worker could print now.
    pub fn is_idle(&self) -> bool {
        !self.index.any_processing()
            && !self
                .queues
                .iter()
                .any(|q| q.can_print() && self.index.next_printable(q.name()).is_some())
    }

    /// Whether `printer` has no job pending, held or printing: its last
    /// one just left, so the memory the queue took may go back.
    pub fn is_drained(&self, printer: &str) -> bool {
        self.index.queued_on(printer) == 0
    }

    // ---- finished jobs ----

    /// Job `id` finished and its final state is on disk: it may leave
    /// memory. Returns the ids that left the table (their records may be
    /// released).
    pub fn retire(&mut self, id: JobId) -> Vec<JobId> {
        if !self
            .jobs
            .get(&id)
            .is_some_and(|job| job.state.is_terminal())
        {
            return Vec::new();
        }
        let gone = self.finished.retire(id);
        self.remove(&gone);
        gone
    }

    /// Sets how many finished jobs stay; returns the ids that left.
    pub fn set_history_limit(&mut self, limit: usize) -> Vec<JobId> {
        let gone = self.finished.set_limit(limit);
        self.remove(&gone);
        gone
    }

    pub fn finished_in_memory(&self) -> usize {
        self.finished.held()
    }

    /// Drops the finished jobs for which `purged` says cleanup removed
    /// their record; returns how many.
    pub fn forget_purged(&mut self, mut purged: impl FnMut(JobId) -> bool) -> usize {
        let gone: Vec<JobId> = self.finished.retired().filter(|&id| purged(id)).collect();
        for &id in &gone {
            self.finished.forget(id);
        }
        self.remove(&gone);
        gone.len()
    }

    /// Whether memory knows claim `token`: `Some(true)` when a job in the
    /// table has it, `Some(false)` when it is known to have no job, `None`
    /// when only the records on disk can tell.
    pub fn claim_in_memory(&self, token: &str) -> Option<bool> {
        if self.index.has_claim(token) {
            return Some(true);
        }
        self.finished.known_unclaimed(token).then_some(false)
    }

    pub fn remember_unclaimed(&mut self, token: &str) {
        self.finished.remember_unclaimed(token);
    }

    // ---- private ----

    fn remove(&mut self, ids: &[JobId]) {
        for id in ids {
            if let Some(job) = self.jobs.remove(id) {
                self.index.remove(&job);
            }
        }
        self.check_index();
    }

    /// Changes job `id` with `change`, keeping the index in step; the job
    /// as it is now.
    fn change(&mut self, id: JobId, change: impl FnOnce(&mut Job)) -> Option<Job> {
        let job = self.jobs.get_mut(&id)?;
        self.index.remove(job);
        change(job);
        self.index.add(job);
        let job = Job::clone(job);
        self.check_index();
        Some(job)
    }

    /// Tests: the maintained index equals one built from the table, after
    /// every change. Past 256 jobs only every 1024th change is
    /// checked, so a test of 10,000 jobs stays quick (and ends with
    /// a check of its own).
    #[cfg(test)]
    pub fn check_index(&self) {
        let n = self.changes_checked.get();
        self.changes_checked.set(n.wrapping_add(1));
        if self.jobs.len() <= 256 || n.is_multiple_of(1024) {
            self.check_index_now();
        }
    }

    /// Tests: the maintained index equals one built from the table.
    #[cfg(test)]
    pub fn check_index_now(&self) {
        let rebuilt = JobIndex::of(self.jobs.values().map(|job| &**job));
        assert_eq!(self.index, rebuilt, "the job index drifted from the table");
    }

    #[cfg(not(test))]
    fn check_index(&self) {}

    fn queue(&self, name: &str) -> Option<&PrinterQueue> {
        self.queues.iter().find(|q| q.name() == name)
    }

    fn queue_mut(&mut self, name: &str) -> Option<&mut PrinterQueue> {
        self.queues.iter_mut().find(|q| q.name() == name)
    }

    /// A queue's snapshot, with its number of queued jobs (from the
    /// index: never a walk of the table).
    fn info(&self, queue: &PrinterQueue) -> PrinterInfo {
        queue.info(
            queue.name() == self.default_printer,
            self.index.queued_on(queue.name()),
        )
    }

    /// A queue's snapshot for a state-change event.
    fn event_info(&self, name: &str) -> Option<PrinterInfo> {
        self.queue(name).map(|q| self.info(q))
    }
}

/// Gives back the spare capacity of `job`'s lists and strings before it
/// stays in the table for as long as it waits: a record decoded from the
/// spool grows `reasons` to room for four keywords, and a parsed string
/// may keep its parser's buffer.
fn shrink(job: &mut Job) {
    job.reasons.iter_mut().for_each(String::shrink_to_fit);
    job.reasons.shrink_to_fit();
    job.ticket.finishings.shrink_to_fit();
    let ticket = &mut job.ticket;
    let optional = [
        &mut job.format,
        &mut job.claim,
        &mut ticket.sides,
        &mut ticket.media,
        &mut ticket.output_bin,
        &mut ticket.print_color_mode,
        &mut ticket.job_hold_until,
    ];
    for text in optional.into_iter().flatten() {
        text.shrink_to_fit();
    }
    for text in [
        &mut job.printer,
        &mut job.owner,
        &mut job.name,
        &mut job.message,
    ] {
        text.shrink_to_fit();
    }
}

/// Ends `job` in a final state.
fn finish(job: &mut Job, state: JobState, reason: &str, message: &str) {
    job.state = state;
    job.reasons = vec![reason.to_string()];
    job.message = message.to_string();
    job.completed_at = Some(unix_now());
}

/// How printing ended, for `job`.
fn settle_job(job: &mut Job, result: &Result<(), BackendError>) {
    match result {
        Ok(()) => finish(
            job,
            JobState::Completed,
            "job-completed-successfully",
            "printed",
        ),
        Err(BackendError::Canceled) => finish(
            job,
            JobState::Canceled,
            "job-canceled-by-user",
            "canceled while printing",
        ),
        Err(BackendError::Offline(why)) => {
            // Not aborted, not lost: back in line for when the printer
            // returns.
            job.state = JobState::Pending;
            job.reasons = vec!["printer-stopped".to_string()];
            job.message = format!("printer offline: {why}");
        }
        Err(BackendError::DocumentMissing(path)) => {
            finish(
                job,
                JobState::Aborted,
                "aborted-by-system",
                &format!(
                    "document {} is missing from the spool (removed outside \
                     printspoold); submit the job again",
                    path.display()
                ),
            );
            job.reasons.push("document-access-error".to_string());
        }
        Err(BackendError::Failed(why)) => finish(job, JobState::Aborted, "aborted-by-system", why),
    }
}
