//! Starting the core (recovering the spool) and stopping it, and how busy
//! it is: [`Spooler::start`], [`Spooler::shutdown`], [`Spooler::is_idle`],
//! [`Spooler::summary`].

use std::path::PathBuf;

use super::error::CoreError;
use super::job::{Job, JobState};
use super::queue::PrinterQueue;
use super::record::decode;
use super::spooler::Spooler;
use super::state::CoreState;
use crate::config::{HistoryConfig, PrinterConfig};
use crate::spool::Spool;

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

impl Spooler {
    /// Opens and recovers the spool, creates the queues and starts their
    /// workers. Must run inside a tokio runtime. Queued jobs resume; a job
    /// that was printing when the daemon stopped starts again from the top.
    pub fn start(options: CoreOptions) -> Result<(Spooler, RecoveryReport), CoreError> {
        let (spool, recovery) = Spool::open(
            &options.spool_dir,
            options.max_document_bytes,
            record_is_finished,
        )?;
        let mut report = RecoveryReport {
            discarded: recovery.discarded,
            ..RecoveryReport::default()
        };
        let queues = options
            .printers
            .iter()
            .map(|config| PrinterQueue::restored(config, spool.is_printer_paused(&config.name)))
            .collect();
        let mut state = CoreState::new(
            queues,
            options.default_printer,
            HistoryConfig::default().max_jobs_in_memory,
        );
        let mut released = Vec::new();
        // One job at a time: each meta is read from the journal as the
        // iterator reaches it, decoded, and dropped.
        for recovered in recovery.jobs {
            let recovered = match recovered {
                Ok(recovered) => recovered,
                Err(e) => {
                    tracing::error!("job record unreadable, left in the spool: {e}");
                    report.discarded += 1;
                    continue;
                }
            };
            let mut job: Job = match decode(&recovered.meta) {
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
            restore_after_restart(&mut job, recovered.document_len.is_some(), &mut report);
            let id = job.id;
            state.insert(job);
            if settled {
                // Trimmed as we go, so a long history never is in memory
                // all at once.
                released.extend(state.retire(id));
            }
        }
        for id in released {
            spool.release(id);
        }
        let spooler = Spooler::assemble(spool, state, options.max_document_bytes);
        for printer in &options.printers {
            spooler.spawn_worker(&printer.name);
        }
        Ok((spooler, report))
    }

    /// Stops the workers: no new job starts printing; a job printing now is
    /// interrupted and stays `processing` on disk, so the next start prints
    /// it again (no job lost). Returns once the workers have stopped or the
    /// grace period is over.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        self.stop_accepting();
        self.reaper().stop();
        let workers = self.lock().stop_workers();
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
        // The finished jobs let go of since the last seal go to history
        // now, so the next start does not read them from the journal.
        match self.spool().seal_history().await {
            Ok(0) => {}
            Ok(sealed) => tracing::debug!("{sealed} finished jobs sealed into history"),
            Err(e) => tracing::warn!("finished jobs stay in the journal until next time: {e}"),
        }
    }

    /// A one-line queue summary for `STATUS=`.
    pub fn summary(&self) -> String {
        self.lock().summary()
    }

    /// True when there is nothing to do: no job printing and no pending job
    /// a worker could print now (held jobs and jobs on paused or offline
    /// queues wait for a request, which activates the daemon again).
    pub fn is_idle(&self) -> bool {
        self.lock().is_idle()
    }
}

/// Whether a spool record is that of a finished job (for the migration
/// of a layout-1 spool, which sends those to history). A record that does
/// not decode counts as unfinished: it stays live, where start-up reports
/// it.
fn record_is_finished(meta: &[u8]) -> bool {
    decode(meta).is_ok_and(|job: Job| job.state.is_terminal())
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
