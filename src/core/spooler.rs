//! [`Spooler`]: the handle every entry path calls.
//!
//! The job table and queue states live behind one `std::sync::Mutex`, held
//! only for short, non-async sections. Durability goes through the spool,
//! outside the lock. Each printer has a worker task (see `worker.rs`) woken
//! through a `Notify` when a job becomes printable. The table holds every
//! job not yet finished and a bounded number of finished ones (see
//! `history.rs`).
//!
//! A change a client asks for (cancel, hold, release) is made in memory,
//! then written; if the spool cannot record it (disk full, read-only), the
//! change is undone and the client told, so what it sees next is what a
//! restart would show.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, broadcast};

use super::history::History;
use super::limits::Admission;
use super::memory::Trimmer;
use super::queue::Queue;
use super::*;
use crate::config::{HistoryConfig, JobPrivateValues, PrinterConfig};
use crate::docformat;
use crate::spool::{Spool, StagedDocument, Staging};
use crate::supervisor::{self, Supervisor};

/// What the core needs to start.
#[derive(Debug, Clone)]
pub struct CoreOptions {
    pub spool_dir: PathBuf,
    pub printers: Vec<PrinterConfig>,
    pub default_printer: String,
    pub max_document_bytes: u64,
}

/// What recovery found, for the start-up log line.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub queued: usize,
    pub restarted: usize,
    pub history: usize,
    pub discarded: usize,
}

/// A cheap, cloneable handle on the job core.
#[derive(Clone)]
pub struct Spooler {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) state: Mutex<State>,
    pub(super) spool: Spool,
    events: broadcast::Sender<Event>,
    max_document_bytes: u64,
    pub(super) shutting_down: AtomicBool,
    /// Wakes `wait_until_idle` and similar watchers on any change.
    pub(super) changed: Notify,
    /// Gives memory back after a burst (see `memory.rs`).
    pub(super) trimmer: Trimmer,
    /// The caps on active jobs and listings (see `limits.rs`).
    pub(super) admission: Admission,
    /// The print workers run under it, so the watchdog can vouch for them.
    pub(super) supervisor: Supervisor,
}

pub(super) struct State {
    /// Every job not finished, and the newest finished ones.
    pub(super) jobs: BTreeMap<JobId, Job>,
    /// Which finished jobs may leave `jobs`, and how many may stay.
    pub(super) history: History,
    /// Queues in configuration order.
    pub(super) queues: Vec<Queue>,
    pub(super) default_printer: String,
    /// What only owners and administrators see (`job_private_values`).
    job_private_values: JobPrivateValues,
}

impl State {
    pub(super) fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.name() == name)
    }

    pub(super) fn queue_mut(&mut self, name: &str) -> Option<&mut Queue> {
        self.queues.iter_mut().find(|q| q.name() == name)
    }

    fn queued_on(&self, name: &str) -> usize {
        self.jobs
            .values()
            .filter(|j| j.printer == name && !j.state.is_terminal())
            .count()
    }

    fn info(&self, queue: &Queue) -> PrinterInfo {
        queue.info(
            queue.name() == self.default_printer,
            self.queued_on(queue.name()),
        )
    }
}

/// Unix time in seconds (0 if the clock is before 1970).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Spooler {
    /// Opens and recovers the spool, creates the queues and starts their
    /// workers. Must run inside a tokio runtime. Queued jobs resume; a job
    /// that was printing when the daemon stopped starts again from the top.
    pub fn start(options: CoreOptions) -> Result<(Spooler, RecoveryReport), CoreError> {
        let (spool, recovery) = Spool::open(&options.spool_dir, options.max_document_bytes)?;
        let mut report = RecoveryReport {
            discarded: recovery.discarded,
            ..RecoveryReport::default()
        };
        let mut jobs = BTreeMap::new();
        let mut history = History::new(HistoryConfig::default().max_jobs_in_memory);
        let mut released = Vec::new();
        for recovered in recovery.jobs {
            let mut job: Job = match serde_json::from_slice(&recovered.meta) {
                Ok(job) => job,
                Err(e) => {
                    tracing::error!(
                        id = recovered.id,
                        "job record unreadable, left in the spool: {e}"
                    );
                    report.discarded += 1;
                    continue;
                }
            };
            // Only a record that was already final may leave memory: one
            // changed by `restore_after_restart` is not on disk like that.
            let settled = job.state.is_terminal();
            restore_after_restart(&mut job, recovered.document.is_some(), &mut report);
            let id = job.id;
            jobs.insert(id, job);
            if settled {
                // Trimmed as we go, so a long history never is in memory
                // all at once.
                released.extend(history.retire(&mut jobs, id));
            }
        }
        for id in released {
            spool.release(id);
        }
        let (events, _) = broadcast::channel(1024);
        let queues = options
            .printers
            .iter()
            .map(|config| Queue::restored(config, spool.is_printer_paused(&config.name)))
            .collect();
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                jobs,
                history,
                queues,
                default_printer: options.default_printer,
                job_private_values: JobPrivateValues::default(),
            }),
            spool,
            events,
            max_document_bytes: options.max_document_bytes,
            shutting_down: AtomicBool::new(false),
            changed: Notify::new(),
            trimmer: Trimmer::default(),
            admission: Admission::default(),
            supervisor: Supervisor::new(),
        });
        let spooler = Spooler { inner };
        for printer in &options.printers {
            spooler.spawn_worker(&printer.name);
        }
        Ok((spooler, report))
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock may have left the state half
        // changed; persisting that could lose a job. Never recover it.
        match self.inner.state.lock() {
            Ok(state) => state,
            Err(_) => supervisor::abort_on_poisoned_lock("the job core"),
        }
    }

    pub(super) fn emit(&self, event: Event) {
        // No receivers is fine: nobody listens yet.
        let _ = self.inner.events.send(event);
        self.inner.changed.notify_waiters();
    }

    /// Every queue, default first.
    pub fn printers(&self) -> Vec<PrinterInfo> {
        let state = self.lock();
        let mut list: Vec<PrinterInfo> = state.queues.iter().map(|q| state.info(q)).collect();
        list.sort_by_key(|p| !p.is_default);
        list
    }

    /// One queue by name.
    pub fn printer(&self, name: &str) -> Option<PrinterInfo> {
        let state = self.lock();
        state.queue(name).map(|q| state.info(q))
    }

    /// The name of the default queue (`/ipp/print`).
    pub fn default_printer(&self) -> String {
        self.lock().default_printer.clone()
    }

    /// Which job values only owners and administrators see; CUPS's
    /// default until the configuration says otherwise (at start and on
    /// reload).
    pub fn set_job_private_values(&self, values: JobPrivateValues) {
        self.lock().job_private_values = values;
    }

    /// What `requester` may see of each job: ask once per request.
    pub fn job_private_values(&self) -> JobPrivateValues {
        self.lock().job_private_values
    }

    /// Largest document accepted.
    pub fn max_document_bytes(&self) -> u64 {
        self.inner.max_document_bytes
    }

    /// A new temporary document file in the spool; write the document into
    /// it, then `finish()` it and pass the result to `submit`/`add_document`.
    /// Writing past `max_document_bytes` fails with `SpoolError::TooLarge`.
    pub async fn stage_document(&self) -> Result<Staging, CoreError> {
        self.refuse_if_shutting_down()?;
        Ok(self.inner.spool.stage().await?)
    }

    fn refuse_if_shutting_down(&self) -> Result<(), CoreError> {
        if self.inner.shutting_down.load(Ordering::Relaxed) {
            Err(CoreError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Checks that a job could be created (Validate-Job): the queue exists
    /// and accepts jobs.
    pub fn validate(&self, job: &NewJob) -> Result<(), CoreError> {
        self.refuse_if_shutting_down()?;
        let state = self.lock();
        let queue = state
            .queue(&job.printer)
            .ok_or_else(|| CoreError::UnknownPrinter(job.printer.clone()))?;
        if !queue.accepting_jobs() {
            return Err(CoreError::NotAcceptingJobs(job.printer.clone()));
        }
        self.check_caps(&state, job)
    }

    /// Creates a job with its document in one step (Print-Job, D-Bus
    /// SubmitJob, drop directory). Returns only once the job and its
    /// document are durable on disk. `format` is the declared MIME type, or
    /// `None`/`application/octet-stream` to sense it from the content.
    pub async fn submit(
        &self,
        new: NewJob,
        format: Option<String>,
        document: StagedDocument,
    ) -> Result<Job, CoreError> {
        self.commit_new(new, format, document, None).await
    }

    /// `submit` for a file taken from the drop directory under `claim`
    /// (see `sources::dropdir`): the token is stored with the job.
    pub async fn submit_claimed(
        &self,
        new: NewJob,
        document: StagedDocument,
        claim: String,
    ) -> Result<Job, CoreError> {
        self.commit_new(new, None, document, Some(claim)).await
    }

    async fn commit_new(
        &self,
        new: NewJob,
        format: Option<String>,
        document: StagedDocument,
        claim: Option<String>,
    ) -> Result<Job, CoreError> {
        self.validate(&new)?;
        let _slot = self.reserve_slot(&new)?;
        let mut job = self.new_job(new);
        job.format = Some(resolve_format(format, document.head()));
        job.document_bytes = Some(document.len());
        job.has_document = true;
        job.claim = claim;
        apply_hold(&mut job);
        let meta = encode(&job)?;
        self.inner
            .spool
            .commit(job.id, &meta, Some(document))
            .await?;
        self.admit(job.clone());
        tracing::info!(
            id = job.id,
            printer = %job.printer,
            owner = %job.owner,
            origin = ?job.origin,
            bytes = job.document_bytes.unwrap_or(0),
            "job accepted"
        );
        Ok(job)
    }

    /// Creates a job that waits for its document (Create-Job). Durable.
    pub async fn create_job(&self, new: NewJob) -> Result<Job, CoreError> {
        self.validate(&new)?;
        let _slot = self.reserve_slot(&new)?;
        let mut job = self.new_job(new);
        job.reasons = vec!["job-incoming".to_string()];
        let meta = encode(&job)?;
        self.inner.spool.commit(job.id, &meta, None).await?;
        self.admit(job.clone());
        self.inner.admission.waiting_for_document();
        tracing::info!(id = job.id, printer = %job.printer, owner = %job.owner, "job created, awaiting document");
        Ok(job)
    }

    /// Adds the document to a job made by `create_job` (Send-Document).
    /// `document: None` with `last: true` closes a job without a document
    /// (it is then aborted: nothing to print). Only one document per job.
    pub async fn add_document(
        &self,
        id: JobId,
        requester: &Requester,
        format: Option<String>,
        document: Option<StagedDocument>,
        last: bool,
    ) -> Result<Job, CoreError> {
        self.refuse_if_shutting_down()?;
        let (mut job, _receiving) = {
            let state = self.lock();
            let Some(job) = state.jobs.get(&id) else {
                drop(state);
                return Err(self.not_in_memory(id, requester, "add a document to"));
            };
            check_owner(job, requester, "add a document to")?;
            if job.has_document {
                return Err(CoreError::OneDocumentPerJob(id));
            }
            if job.state.is_terminal() {
                return Err(CoreError::NotPossible(format!(
                    "job {id} is {}",
                    job.state.keyword()
                )));
            }
            // Under the state lock, so the reaper of late documents (see
            // `limits.rs`) cannot abort the job between check and mark.
            let Some(receiving) = self.start_receiving(id) else {
                return Err(CoreError::OneDocumentPerJob(id));
            };
            (job.clone(), receiving)
        };
        match document {
            Some(document) => {
                job.format = Some(resolve_format(format, document.head()));
                job.document_bytes = Some(document.len());
                job.has_document = true;
                job.reasons = vec!["none".to_string()];
                apply_hold(&mut job);
                let meta = encode(&job)?;
                self.inner.spool.attach(id, &meta, document).await?;
            }
            None if last => {
                job.state = JobState::Aborted;
                job.reasons = vec!["aborted-by-system".to_string()];
                job.message = "no document was sent".to_string();
                job.completed_at = Some(now_secs());
                let meta = encode(&job)?;
                self.inner.spool.update(id, &meta, true).await?;
            }
            None => return Ok(job),
        }
        let job = self.replace(job);
        if job.state.is_terminal() {
            self.retire(id);
        }
        Ok(job)
    }

    pub async fn cancel(&self, id: JobId, requester: &Requester) -> Result<Job, CoreError> {
        let (before, job) = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(&id) else {
                drop(state);
                return Err(self.not_in_memory(id, requester, "cancel"));
            };
            check_owner(job, requester, "cancel")?;
            if job.state.is_terminal() {
                return Err(CoreError::NotPossible(format!(
                    "job {id} is already {}",
                    job.state.keyword()
                )));
            }
            if job.state == JobState::Processing {
                // The worker sees the flag between writes and finishes the
                // cancel itself; report the job as canceling meanwhile.
                let printer = job.printer.clone();
                let mut snapshot = job.clone();
                snapshot.reasons = vec!["processing-to-stop-point".to_string()];
                if let Some(queue) = state.queue(&printer) {
                    queue.cancel_current(id);
                }
                return Ok(snapshot);
            }
            let before = job.clone();
            finish(job, JobState::Canceled, "job-canceled-by-user", "canceled");
            (before, job.clone())
        };
        self.persist_or_revert(before, &job).await?;
        self.emit_job(&job);
        tracing::info!(id, by = %requester.user, "job canceled");
        self.retire(id);
        Ok(job)
    }

    /// Holds a pending job (`job-hold-until=indefinite`).
    pub async fn hold(&self, id: JobId, requester: &Requester) -> Result<Job, CoreError> {
        let (before, job) = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(&id) else {
                drop(state);
                return Err(self.not_in_memory(id, requester, "hold"));
            };
            check_owner(job, requester, "hold")?;
            match job.state {
                JobState::Pending => {}
                JobState::Held => return Ok(job.clone()),
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
            (before, job.clone())
        };
        self.persist_or_revert(before, &job).await?;
        self.emit_job(&job);
        Ok(job)
    }

    pub async fn release(&self, id: JobId, requester: &Requester) -> Result<Job, CoreError> {
        let (before, job) = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(&id) else {
                drop(state);
                return Err(self.not_in_memory(id, requester, "release"));
            };
            check_owner(job, requester, "release")?;
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
            (before, job.clone())
        };
        self.persist_or_revert(before, &job).await?;
        self.emit_job(&job);
        self.wake(&job.printer);
        Ok(job)
    }

    /// Job `id`: from memory, or, for a finished job that left memory,
    /// from its record on disk (see `history.rs`).
    pub fn job(&self, id: JobId) -> Option<Job> {
        if let Some(job) = self.lock().jobs.get(&id) {
            return Some(job.clone());
        }
        self.finished_on_disk(id)
    }

    pub fn jobs(&self, filter: &JobFilter) -> Vec<Job> {
        let state = self.lock();
        let matches = |job: &&Job| {
            filter.printer.as_ref().is_none_or(|p| &job.printer == p)
                && filter.owner.as_ref().is_none_or(|o| &job.owner == o)
        };
        let active = state
            .jobs
            .values()
            .filter(|j| !j.state.is_terminal())
            .filter(matches);
        let done = state
            .jobs
            .values()
            .rev()
            .filter(|j| j.state.is_terminal())
            .filter(matches);
        let limit = self.job_limits().list_limit(filter.limit);
        match filter.which {
            WhichJobs::NotCompleted => active.take(limit).cloned().collect(),
            WhichJobs::Completed => done.take(limit).cloned().collect(),
            WhichJobs::All => active.chain(done).take(limit).cloned().collect(),
        }
    }

    /// Stops a queue from printing (jobs are still accepted). Admin only.
    pub fn pause(&self, printer: &str, requester: &Requester) -> Result<PrinterInfo, CoreError> {
        self.set_paused(printer, requester, true)
    }

    pub fn resume(&self, printer: &str, requester: &Requester) -> Result<PrinterInfo, CoreError> {
        self.set_paused(printer, requester, false)
    }

    fn set_paused(
        &self,
        printer: &str,
        requester: &Requester,
        paused: bool,
    ) -> Result<PrinterInfo, CoreError> {
        if !requester.is_verified_admin() {
            return Err(CoreError::AdminOnly(if paused {
                "pause a printer"
            } else {
                "resume a printer"
            }));
        }
        if self.lock().queue(printer).is_none() {
            return Err(CoreError::UnknownPrinter(printer.to_string()));
        }
        // On disk first: an acknowledged pause must hold after a restart.
        let mut info = None;
        self.inner.spool.set_printer_paused(printer, paused, || {
            let mut state = self.lock();
            if let Some(queue) = state.queue_mut(printer) {
                queue.set_paused(paused);
            }
            info = state.queue(printer).map(|queue| state.info(queue));
        })?;
        let info = info.ok_or_else(|| CoreError::UnknownPrinter(printer.to_string()))?;
        self.emit_printer(&info);
        if !paused {
            self.wake(printer);
        }
        tracing::info!(printer, by = %requester.user, paused, "printer {}", if paused { "paused" } else { "resumed" });
        Ok(info)
    }

    /// Identify-Printer: asks the backend to make itself noticed.
    pub fn identify(&self, printer: &str) -> Result<(), CoreError> {
        let backend = {
            let state = self.lock();
            let queue = state
                .queue(printer)
                .ok_or_else(|| CoreError::UnknownPrinter(printer.to_string()))?;
            queue.backend()
        };
        backend
            .identify()
            .map_err(|e| CoreError::NotPossible(format!("identify {printer}: {e}")))
    }

    /// State changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// A one-line queue summary for `STATUS=`.
    pub fn summary(&self) -> String {
        let state = self.lock();
        let mut pending = 0;
        let mut held = 0;
        let mut printing = 0;
        for job in state.jobs.values() {
            match job.state {
                JobState::Pending | JobState::Stopped => pending += 1,
                JobState::Held => held += 1,
                JobState::Processing => printing += 1,
                _ => {}
            }
        }
        let stopped = state.queues.iter().filter(|q| q.is_stopped()).count();
        let mut line = format!(
            "{} printer{}, {printing} printing, {pending} pending, {held} held",
            state.queues.len(),
            if state.queues.len() == 1 { "" } else { "s" }
        );
        if stopped > 0 {
            line.push_str(&format!(", {stopped} stopped"));
        }
        line
    }

    /// True when there is nothing to do: no job printing and no pending job
    /// a worker could print now (held jobs and jobs on paused or offline
    /// queues wait for a request, which activates the daemon again).
    pub fn is_idle(&self) -> bool {
        let state = self.lock();
        state.jobs.values().all(|job| match job.state {
            JobState::Processing => false,
            JobState::Pending => !state
                .queue(&job.printer)
                .is_some_and(|q| q.can_print() && job.has_document),
            _ => true,
        })
    }

    /// Resolves once the core's state changed (any event).
    pub async fn changed(&self) {
        self.inner.changed.notified().await;
    }

    /// Stops the workers: no new job starts printing; a job printing now is
    /// interrupted and stays `processing` on disk, so the next start prints
    /// it again (no job lost). Returns once the workers have stopped or the
    /// grace period is over.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.stop_reaper();
        let workers: Vec<_> = {
            let mut state = self.lock();
            state
                .queues
                .iter_mut()
                .filter_map(|q| q.stop_worker())
                .collect()
        };
        let all = async {
            for worker in workers {
                // A panic already ended the process through the
                // supervisor; only a worker aborted by the runtime is left.
                if let Err(e) = worker.await {
                    tracing::warn!("a print worker ended abnormally: {e}");
                }
            }
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                "print workers did not stop within {grace:?}; their jobs restart next time"
            );
        }
    }

    // ---- internals shared with the worker and reconfiguration ----

    fn new_job(&self, new: NewJob) -> Job {
        Job {
            id: self.inner.spool.reserve_id(),
            printer: new.printer,
            owner: new.owner,
            name: new.name,
            origin: new.origin,
            identity: new.identity,
            state: JobState::Pending,
            reasons: vec!["none".to_string()],
            message: String::new(),
            ticket: new.ticket,
            format: None,
            document_bytes: None,
            has_document: false,
            created_at: now_secs(),
            processing_at: None,
            completed_at: None,
            claim: None,
            tcp_peer: new.tcp_peer,
        }
    }

    /// Puts a freshly committed job into the table and wakes its printer.
    fn admit(&self, job: Job) {
        let printer = job.printer.clone();
        {
            let mut state = self.lock();
            if let Some(token) = &job.claim {
                state.history.claimed(token);
            }
            state.jobs.insert(job.id, job.clone());
        }
        self.emit_job(&job);
        self.wake(&printer);
    }

    /// Replaces a job after an update that is already durable.
    fn replace(&self, job: Job) -> Job {
        self.lock().jobs.insert(job.id, job.clone());
        self.emit_job(&job);
        self.wake(&job.printer);
        job
    }

    pub(super) fn emit_job(&self, job: &Job) {
        self.emit(Event::JobStateChanged {
            id: job.id,
            state: job.state,
            reasons: job.reasons.clone(),
        });
    }

    pub(super) fn emit_printer(&self, info: &PrinterInfo) {
        self.emit(Event::PrinterStateChanged {
            name: info.name.clone(),
            state: info.state,
            reasons: info.reasons.clone(),
        });
    }

    pub(super) fn wake(&self, printer: &str) {
        if let Some(queue) = self.lock().queue(printer) {
            queue.wake();
        }
    }

    /// Writes job `id`'s current record. The spool fixes each update's
    /// place in line when `update` is called, and we call it under the
    /// state lock with the record as it is now, so the newest state always
    /// lands last; the wait for the disk happens outside the lock.
    pub(super) async fn persist(&self, id: JobId, durable: bool) -> Result<(), CoreError> {
        let pending = {
            let state = self.lock();
            match state.jobs.get(&id) {
                Some(job) => self.inner.spool.update(id, &encode(job)?, durable),
                None => return Ok(()),
            }
        };
        pending.await?;
        Ok(())
    }

    /// `persist` for a change a client asked for: when the spool cannot
    /// record it, the job goes back to `before` (unless it changed again
    /// meanwhile), so the client told "failed" finds the job as it was.
    async fn persist_or_revert(&self, before: Job, after: &Job) -> Result<(), CoreError> {
        let id = after.id;
        let Err(e) = self.persist(id, true).await else {
            return Ok(());
        };
        let mut state = self.lock();
        if let Some(job) = state.jobs.get_mut(&id)
            && job == after
        {
            *job = before;
        }
        tracing::warn!(id, "job change not recorded, undone: {e}");
        Err(e)
    }

    pub(super) fn document_path(&self, id: JobId) -> PathBuf {
        self.inner.spool.document_path(id)
    }
}

/// After a restart: a job that was printing prints again from the top; a
/// job whose document vanished cannot print.
fn restore_after_restart(job: &mut Job, document_present: bool, report: &mut RecoveryReport) {
    if job.has_document && !document_present && !job.state.is_terminal() {
        job.state = JobState::Aborted;
        job.reasons = vec!["document-unprintable-error".to_string()];
        job.message = "document missing from the spool".to_string();
        report.history += 1;
        return;
    }
    match job.state {
        JobState::Processing | JobState::Stopped => {
            job.state = JobState::Pending;
            job.reasons = vec!["none".to_string()];
            job.message = "restarted after the spooler stopped".to_string();
            report.restarted += 1;
        }
        JobState::Pending | JobState::Held => report.queued += 1,
        _ => report.history += 1,
    }
}

fn resolve_format(declared: Option<String>, head: &[u8]) -> String {
    match declared {
        Some(mime) if docformat::base_type(&mime) != docformat::OCTET_STREAM => mime,
        _ => docformat::sense(head).to_string(),
    }
}

/// `job-hold-until` other than `no-hold` holds the job until released.
fn apply_hold(job: &mut Job) {
    let holds = job
        .ticket
        .job_hold_until
        .as_deref()
        .is_some_and(|until| until != "no-hold");
    if holds && job.state == JobState::Pending {
        job.state = JobState::Held;
        job.reasons = vec!["job-hold-until-specified".to_string()];
    }
}

fn check_owner(job: &Job, requester: &Requester, action: &'static str) -> Result<(), CoreError> {
    requester.authorize(job, action)
}

pub(super) fn finish(job: &mut Job, state: JobState, reason: &str, message: &str) {
    job.state = state;
    job.reasons = vec![reason.to_string()];
    job.message = message.to_string();
    job.completed_at = Some(now_secs());
}

pub(super) fn encode(job: &Job) -> Result<Vec<u8>, CoreError> {
    serde_json::to_vec(job)
        .map_err(|e| CoreError::NotPossible(format!("cannot encode job {}: {e}", job.id)))
}

impl std::fmt::Debug for Spooler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spooler").finish_non_exhaustive()
    }
}
