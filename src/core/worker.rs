//! The print worker: one task per printer, printing one job at a time off
//! the request path. Jobs print oldest first.
//!
//! Two spool faults have a defined outcome here:
//! - **The spool cannot record that a job starts printing** (disk full,
//!   spool read-only): the job is not printed. A job printed without its
//!   state on disk prints again after a restart, and its completion could
//!   not be recorded either; so it goes back to `pending` with
//!   `job-state-reasons` `resources-are-not-ready` and a
//!   `job-state-message` naming the spool error, the printer shows
//!   `stopped` (`spool-area-full` for a full disk, `other` otherwise) until
//!   a job prints or none is left, and the worker tries again every
//!   [`SPOOL_RETRY`] or when woken. Nothing is lost: the job is still
//!   queued on disk and prints once the spool works.
//! - **A job's document was removed behind the daemon's back**: it cannot
//!   come back by itself, so waiting would only hide it. The job is
//!   `aborted` with `job-state-reasons` `aborted-by-system` and
//!   `document-access-error`, a message naming the missing file, and an
//!   error line in the log; the record stays as history, and the owner can
//!   submit the document again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::error::CoreError;
use super::job::JobId;
use super::spooler::Spooler;
use super::state::TakenJob;
use crate::backend::BackendError;

/// How often an offline printer is tried again when nothing else (a device
/// event, a resume) wakes the worker first.
const OFFLINE_RETRY: Duration = Duration::from_secs(30);
/// How often a job whose state the spool could not record is tried again
/// when no new job wakes the worker first.
const SPOOL_RETRY: Duration = Duration::from_secs(5);

impl Spooler {
    /// Starts `printer`'s worker (at start, and for a queue added by a
    /// reload or a plugged-in device).
    pub(super) fn spawn_worker(&self, printer: &str) {
        let spooler = self.clone();
        let name = printer.to_string();
        let mut state = self.lock();
        let Some((wake, stop)) = state.worker_signals(printer) else {
            return;
        };
        // Supervised: the watchdog vouches for this worker only while it
        // answers, and a panic in it ends the process (supervisor.rs).
        let task = format!("print worker {name:?}");
        let handle = self
            .supervisor()
            .spawn(task, async move { spooler.work(name, wake, stop).await });
        state.set_worker(printer, handle);
    }

    async fn work(self, printer: String, wake: Arc<tokio::sync::Notify>, stop: Arc<AtomicBool>) {
        let mut printed_since_idle = false;
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Some(taken) = self.take_next(&printer) else {
                // Nothing waits to print, so nothing waits for the spool,
                // and the memory the backlog took is free (memory.rs).
                self.set_spool_trouble(&printer, None);
                if std::mem::take(&mut printed_since_idle) {
                    self.trimmer().after_burst();
                }
                let offline = self.lock().is_offline(&printer);
                if offline {
                    let _ = tokio::time::timeout(OFFLINE_RETRY, wake.notified()).await;
                    self.retry_offline(&printer);
                } else {
                    wake.notified().await;
                }
                continue;
            };
            let id = taken.job.id;
            if let Err(e) = self.persist(id, false).await {
                self.defer(&printer, id, &e);
                let _ = tokio::time::timeout(SPOOL_RETRY, wake.notified()).await;
                continue;
            }
            self.set_spool_trouble(&printer, None);
            #[cfg(feature = "fault-injection")]
            fault::before_print(self.spool().dir(), &printer);
            let result = self.print(taken).await;
            if stop.load(Ordering::SeqCst) && matches!(result, Err(BackendError::Canceled)) {
                // Shutdown interrupted the job: it stays `processing` on disk
                // and prints again after the next start.
                tracing::info!(id, printer = %printer, "printing interrupted by shutdown; resumes next start");
                return;
            }
            self.settle(&printer, id, result).await;
            printed_since_idle = true;
        }
    }

    /// Takes the oldest printable job of `printer` and marks it processing.
    fn take_next(&self, printer: &str) -> Option<TakenJob> {
        let taken = self.lock().take_next(printer)?;
        self.emit(&taken.job);
        if let Some(info) = &taken.queue {
            self.emit(info);
        }
        tracing::info!(id = taken.job.id, printer = %printer, "printing");
        Some(taken)
    }

    async fn print(&self, taken: TakenJob) -> Result<(), BackendError> {
        let spooler = self.clone();
        let TakenJob {
            job,
            backend,
            cancel,
            ..
        } = taken;
        let print = move || {
            // Opened here, not by the backend, so a missing document is
            // told apart before any device is opened.
            let document = spooler.spool().document(job.id).map_err(document_error)?;
            backend.print(&job, &document, &cancel)
        };
        match tokio::task::spawn_blocking(print).await {
            Ok(result) => result,
            // A panicking backend is a bug like any other panic: it ends
            // the process (through this worker's supervisor), and the job,
            // still `processing` on disk, prints again after the restart.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(BackendError::Failed(format!("backend did not finish: {e}"))),
        }
    }

    /// Records how the attempt ended.
    async fn settle(&self, printer: &str, id: JobId, result: Result<(), BackendError>) {
        let Some((job, info)) = self.lock().settle(printer, id, &result) else {
            return;
        };
        match &result {
            Ok(()) => tracing::info!(id, printer = %printer, "job completed"),
            Err(BackendError::Offline(why)) => {
                tracing::warn!(id, printer = %printer, "printer offline, job requeued: {why}")
            }
            Err(BackendError::DocumentMissing(path)) => tracing::error!(
                id,
                printer = %printer,
                "job aborted: its document {} was removed from the spool behind printspoold's back",
                path.display()
            ),
            Err(e) => tracing::warn!(id, printer = %printer, "job ended: {e}"),
        }
        // Every outcome is waited on (see "processing" in the spool's
        // module docs): a completion lost in a crash would print the job
        // twice, and with group commit the wait shares one sync.
        match self.persist(id, true).await {
            // Only a final state that is on disk lets the job leave memory.
            Ok(()) if job.state.is_terminal() => self.retire(id),
            Ok(()) => {}
            Err(e) => tracing::warn!(
                id,
                "could not record the job's new state ({}); a restart shows the previous one: {e}",
                job.state.keyword()
            ),
        }
        self.emit(&job);
        if let Some(info) = info {
            self.emit(&info);
        }
    }

    /// The spool could not record that job `id` starts printing: put it
    /// back in line with the reason, and show the printer as stopped.
    fn defer(&self, printer: &str, id: JobId, error: &CoreError) {
        let message = format!(
            "the spool cannot record this job's state ({error}); it prints once the spool is \
             writable"
        );
        let Some(job) = self.lock().defer(printer, id, message) else {
            return;
        };
        self.emit(&job);
        let reason = match error {
            CoreError::Spool(e) if e.is_no_space() => "spool-area-full",
            _ => "other",
        };
        let retry = SPOOL_RETRY.as_secs();
        // Warned once per trouble, not at every retry.
        if self.set_spool_trouble(printer, Some((reason, format!("spool: {error}")))) {
            tracing::warn!(
                id,
                printer = %printer,
                "not printing: cannot record that the job is printing: {error}; \
                 trying again every {retry}s"
            );
        } else {
            tracing::debug!(id, printer = %printer, "still cannot record that the job is printing: {error}");
        }
    }

    /// Sets or clears why the spool keeps `printer` from printing, and
    /// tells listeners when that changed. Returns whether it did.
    fn set_spool_trouble(&self, printer: &str, trouble: Option<(&'static str, String)>) -> bool {
        let Some(info) = self.lock().set_spool_trouble(printer, trouble) else {
            return false;
        };
        self.emit(&info);
        true
    }

    fn retry_offline(&self, printer: &str) {
        if let Some(info) = self.lock().retry_offline(printer) {
            self.emit(&info);
        }
    }
}

/// Faults for the watchdog tests (`tests/nspawn/cases/11-watchdog-faults.sh`):
/// only in builds with the `fault-injection` feature, which the shipped
/// package never has, and only when `PRINTSPOOLD_FAULT` asks.
///
/// - `worker-hang`: the worker blocks its thread for good, as a blocking
///   call in async code would; the rest of the daemon keeps answering.
/// - `worker-panic`: the worker panics.
///
/// Each fires once per spool: the first time creates `fault-fired` in the
/// spool directory, so the restarted daemon prints the backlog.
/// A document that cannot be opened: missing (removed behind the daemon's
/// back) or unreadable.
fn document_error(error: crate::spool::SpoolError) -> BackendError {
    match error {
        crate::spool::SpoolError::Io { path, source, .. }
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            BackendError::DocumentMissing(path)
        }
        other => BackendError::Failed(format!("document unreadable: {other}")),
    }
}

#[cfg(feature = "fault-injection")]
mod fault {
    use std::path::Path;

    pub(super) fn before_print(spool: &Path, printer: &str) {
        let Some(fault) = std::env::var_os("PRINTSPOOLD_FAULT") else {
            return;
        };
        let first_time = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(spool.join("fault-fired"))
            .is_ok();
        if !first_time {
            return;
        }
        match fault.to_str() {
            Some("worker-hang") => {
                tracing::warn!(printer, "fault injection: the print worker hangs");
                loop {
                    std::thread::park();
                }
            }
            Some("worker-panic") => {
                panic!("fault injection: the print worker for {printer} panics")
            }
            _ => tracing::warn!("fault injection: unknown PRINTSPOOLD_FAULT={fault:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::PrinterConfig;
    use crate::core::{CoreOptions, Spooler};
    use crate::test_support::TempDir;

    // Two worker threads: the print worker may wait for the lock held
    // here without stalling the test.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    // Holding the lock across the check is what the test is about.
    #[allow(clippy::await_holding_lock)]
    async fn a_held_core_lock_fails_the_health_check() {
        let dir = TempDir::new("core-stuck");
        let spool = dir.path().join("spool");
        let (spooler, _) = Spooler::start(CoreOptions {
            spool_dir: spool.clone(),
            printers: vec![PrinterConfig::builtin_default(&spool)],
            default_printer: "default".to_string(),
            max_document_bytes: 1 << 20,
        })
        .unwrap();
        let verdict =
            crate::systemd::watchdog::health_round(&spooler, Duration::from_secs(5)).await;
        assert_eq!(verdict, Ok(()));
        let held = spooler.lock();
        assert!(!spooler.answers_within(Duration::from_millis(100)).await);
        drop(held);
        assert!(spooler.answers_within(Duration::from_secs(5)).await);
    }
}
