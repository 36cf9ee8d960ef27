//! The print worker: one task per printer, printing one job at a time off
//! the request path. Jobs print oldest first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::spooler::{finish, now_secs};
use super::{Job, JobState, Spooler};
use crate::backend::{Backend, BackendError};

/// How often an offline printer is tried again when nothing else (a device
/// event, a resume) wakes the worker first.
const OFFLINE_RETRY: Duration = Duration::from_secs(30);

/// A job taken for printing.
struct Claimed {
    job: Job,
    backend: Arc<dyn Backend>,
    cancel: Arc<AtomicBool>,
}

impl Spooler {
    pub(super) fn spawn_worker(&self, printer: &str) {
        let spooler = self.clone();
        let name = printer.to_string();
        let mut state = self.lock();
        let Some(queue) = state.queue_mut(printer) else {
            return;
        };
        let wake = Arc::clone(&queue.wake);
        let stop = Arc::clone(&queue.stop);
        let handle = tokio::spawn(async move { spooler.work(name, wake, stop).await });
        queue.set_worker(handle);
    }

    async fn work(self, printer: String, wake: Arc<tokio::sync::Notify>, stop: Arc<AtomicBool>) {
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Some(claimed) = self.claim_next(&printer) else {
                let offline = self.lock().queue(&printer).is_some_and(|q| q.is_offline());
                if offline {
                    let _ = tokio::time::timeout(OFFLINE_RETRY, wake.notified()).await;
                    self.retry_offline(&printer);
                } else {
                    wake.notified().await;
                }
                continue;
            };
            let id = claimed.job.id;
            if let Err(e) = self.persist(id, false).await {
                tracing::warn!(id, "could not record that the job is printing: {e}");
            }
            let result = self.print(claimed).await;
            if stop.load(Ordering::SeqCst) && matches!(result, Err(BackendError::Canceled)) {
                // Shutdown interrupted the job: it stays `processing` on disk
                // and prints again after the next start.
                tracing::info!(id, printer = %printer, "printing interrupted by shutdown; resumes next start");
                return;
            }
            self.settle(&printer, id, result).await;
        }
    }

    /// Takes the oldest printable job of `printer` and marks it processing.
    fn claim_next(&self, printer: &str) -> Option<Claimed> {
        let mut state = self.lock();
        let queue = state.queue(printer)?;
        if !queue.can_print() {
            return None;
        }
        let backend = queue.backend();
        let job = state
            .jobs
            .values_mut()
            .find(|j| j.printer == printer && j.state == JobState::Pending && j.has_document)?;
        job.state = JobState::Processing;
        job.reasons = vec!["job-printing".to_string()];
        job.message = String::new();
        job.processing_at = Some(now_secs());
        let job = job.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        if let Some(queue) = state.queue_mut(printer) {
            queue.set_current(Some((job.id, Arc::clone(&cancel))));
        }
        let info = state
            .queue(printer)
            .map(|q| q.info(q.name() == state.default_printer, 0));
        drop(state);
        self.emit_job(&job);
        if let Some(info) = info {
            self.emit_printer(&info);
        }
        tracing::info!(id = job.id, printer = %printer, "printing");
        Some(Claimed {
            job,
            backend,
            cancel,
        })
    }

    async fn print(&self, claimed: Claimed) -> Result<(), BackendError> {
        let path = self.document_path(claimed.job.id);
        let Claimed {
            job,
            backend,
            cancel,
        } = claimed;
        match tokio::task::spawn_blocking(move || backend.print(&job, &path, &cancel)).await {
            Ok(result) => result,
            Err(e) => Err(BackendError::Failed(format!("backend crashed: {e}"))),
        }
    }

    /// Records how the attempt ended.
    async fn settle(&self, printer: &str, id: u32, result: Result<(), BackendError>) {
        let (job, info) = {
            let mut state = self.lock();
            let offline = match &result {
                Err(BackendError::Offline(why)) => Some(why.clone()),
                _ => None,
            };
            if let Some(queue) = state.queue_mut(printer) {
                queue.set_current(None);
                if offline.is_some() {
                    queue.set_offline(offline.clone());
                }
            }
            let Some(job) = state.jobs.get_mut(&id) else {
                return;
            };
            match &result {
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
                    // Not aborted, not lost: back in line for when the
                    // printer returns.
                    job.state = JobState::Pending;
                    job.reasons = vec!["printer-stopped".to_string()];
                    job.message = format!("printer offline: {why}");
                }
                Err(BackendError::Failed(why)) => {
                    finish(job, JobState::Aborted, "aborted-by-system", why)
                }
            }
            let job = job.clone();
            let info = state
                .queue(printer)
                .map(|q| q.info(q.name() == state.default_printer, 0));
            (job, info)
        };
        match &result {
            Ok(()) => tracing::info!(id, printer = %printer, "job completed"),
            Err(BackendError::Offline(why)) => {
                tracing::warn!(id, printer = %printer, "printer offline, job requeued: {why}")
            }
            Err(e) => tracing::warn!(id, printer = %printer, "job ended: {e}"),
        }
        let durable = job.state != JobState::Completed;
        if let Err(e) = self.persist(id, durable).await {
            tracing::warn!(id, "could not record the job's new state: {e}");
        }
        self.emit_job(&job);
        if let Some(info) = info {
            self.emit_printer(&info);
        }
    }

    fn retry_offline(&self, printer: &str) {
        let info = {
            let mut state = self.lock();
            let Some(queue) = state.queue_mut(printer) else {
                return;
            };
            if queue.hotplugged {
                // A hot-plugged device comes back with a udev event.
                return;
            }
            queue.set_offline(None);
            let default = state.default_printer.clone();
            state.queue(printer).map(|q| q.info(q.name() == default, 0))
        };
        if let Some(info) = info {
            self.emit_printer(&info);
        }
    }
}
