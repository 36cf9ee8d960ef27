//! `printspoold cleanup`: run once by `printspoold-cleanup.timer` (daemon(7)
//! "Timer-Based Activation", with `CPUSchedulingPolicy=idle` and
//! `IOSchedulingClass=idle` in its unit so it never competes with printing).
//!
//! It purges finished jobs (completed, canceled, aborted; history and
//! documents) older than `[history] retention`, removes stray files, and
//! enforces `[history] max_spool_bytes` oldest first. It never touches a
//! queued or printing job, and is safe while the daemon runs: see
//! [`DiskHistory`] for why.

use std::path::Path;

use crate::config::HistoryConfig;
use crate::core::Job;
use crate::spool::{DiskHistory, HistoryRecord, STRAY_AFTER, SpoolError};

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub purged_jobs: usize,
    pub purged_bytes: u64,
    pub stray_files: usize,
    pub stray_bytes: u64,
    pub kept_jobs: usize,
    pub kept_bytes: u64,
    pub daemon_running: bool,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cleanup: purged {} finished job{} ({} KiB), removed {} stray file{} ({} KiB); \
             spool holds {} job{} ({} KiB); daemon {}",
            self.purged_jobs,
            plural(self.purged_jobs),
            self.purged_bytes.div_ceil(1024),
            self.stray_files,
            plural(self.stray_files),
            self.stray_bytes.div_ceil(1024),
            self.kept_jobs,
            plural(self.kept_jobs),
            self.kept_bytes.div_ceil(1024),
            if self.daemon_running {
                "running"
            } else {
                "not running"
            }
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Runs one cleanup of the spool at `dir`, as of `now` (Unix seconds).
/// `activation` names how the cleanup was started (`timer` under
/// `printspoold-cleanup.service`), for the journal's `ACTIVATION=` field
/// of each purged job's line.
pub fn run(
    dir: &Path,
    history: &HistoryConfig,
    now: u64,
    activation: &str,
) -> Result<Summary, SpoolError> {
    let spool = DiskHistory::open(dir)?;
    let mut summary = Summary {
        daemon_running: spool.daemon_running(),
        ..Summary::default()
    };
    let records = spool.records()?;
    let plan = plan(&records, history, now);
    spool.purge(&plan.purge)?;
    log_purged(&records, &plan.purge, activation);
    summary.purged_jobs = plan.purge.len();
    summary.purged_bytes = plan.purged_bytes;
    summary.kept_jobs = records.len() - plan.purge.len();
    summary.kept_bytes = plan.kept_bytes;
    let (files, bytes) = spool.remove_strays(STRAY_AFTER)?;
    summary.stray_files = files;
    summary.stray_bytes = bytes;
    Ok(summary)
}

/// One line per purged job, with the job's fields, so that
/// `journalctl JOB_ID=N` shows the end of its life too.
fn log_purged(records: &[HistoryRecord], purged: &[u32], activation: &str) {
    for record in records.iter().filter(|r| purged.contains(&r.id)) {
        // Only terminal jobs are purged, and those were parsed by `plan`.
        let Ok(job) = serde_json::from_slice::<Job>(&record.meta) else {
            continue;
        };
        tracing::info!(
            job = record.id,
            printer = %job.printer,
            owner = %job.owner,
            origin = %activation,
            "finished job purged from the spool"
        );
    }
}

/// What to purge, decided from the records alone (pure, so it is tested
/// without a clock).
#[derive(Debug, Default, PartialEq, Eq)]
struct PurgePlan {
    purge: Vec<u32>,
    purged_bytes: u64,
    kept_bytes: u64,
}

fn plan(records: &[HistoryRecord], history: &HistoryConfig, now: u64) -> PurgePlan {
    // (finished at, id, bytes) of every finished job; others are untouchable.
    let mut finished: Vec<(u64, u32, u64)> = Vec::new();
    let mut total: u64 = 0;
    for record in records {
        total += record.bytes;
        let Ok(job) = serde_json::from_slice::<Job>(&record.meta) else {
            continue; // unreadable: never guess, leave it
        };
        if job.state.is_terminal() {
            let at = job.completed_at.unwrap_or(job.created_at);
            finished.push((at, record.id, record.bytes));
        }
    }
    finished.sort_unstable();
    let mut plan = PurgePlan::default();
    let mut kept = total;
    for (at, id, bytes) in finished {
        let expired = now.saturating_sub(at) > history.retention;
        let over_cap = history.max_spool_bytes.is_some_and(|cap| kept > cap);
        if expired || over_cap {
            plan.purge.push(id);
            plan.purged_bytes += bytes;
            kept -= bytes;
        }
    }
    plan.kept_bytes = kept;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{JobState, JobTicket, Origin};

    fn record(id: u32, state: JobState, completed_at: Option<u64>, bytes: u64) -> HistoryRecord {
        let job = Job {
            id,
            printer: "p".into(),
            owner: "u".into(),
            name: "n".into(),
            origin: Origin::Ipp,
            identity: crate::core::Assurance::Verified,
            state,
            reasons: vec!["none".into()],
            message: String::new(),
            ticket: JobTicket::default(),
            format: None,
            document_bytes: Some(bytes),
            has_document: true,
            created_at: 10,
            processing_at: None,
            completed_at,
            claim: None,
            tcp_peer: None,
        };
        HistoryRecord {
            id,
            meta: serde_json::to_vec(&job).unwrap(),
            bytes,
        }
    }

    fn history(retention: u64, cap: Option<u64>) -> HistoryConfig {
        HistoryConfig {
            retention,
            max_spool_bytes: cap,
            ..HistoryConfig::default()
        }
    }

    #[test]
    fn old_finished_jobs_go_recent_and_queued_stay() {
        let records = [
            record(1, JobState::Completed, Some(100), 10),
            record(2, JobState::Canceled, Some(950), 10),
            record(3, JobState::Pending, None, 10),
            record(4, JobState::Aborted, Some(200), 10),
            record(5, JobState::Processing, None, 10),
        ];
        let plan = plan(&records, &history(500, None), 1000);
        assert_eq!(plan.purge, vec![1, 4]);
        assert_eq!(plan.kept_bytes, 30);
    }

    #[test]
    fn size_cap_purges_oldest_finished_first_and_never_queued() {
        let records = [
            record(1, JobState::Completed, Some(900), 100),
            record(2, JobState::Completed, Some(800), 100),
            record(3, JobState::Pending, None, 500),
            record(4, JobState::Completed, Some(990), 100),
        ];
        let plan = plan(&records, &history(10_000, Some(650)), 1000);
        assert_eq!(plan.purge, vec![2, 1]);
        assert_eq!(plan.kept_bytes, 600);
        // A cap below the queued jobs' size still leaves them alone.
        let plan = super::plan(&records, &history(10_000, Some(10)), 1000);
        assert_eq!(plan.purge, vec![2, 1, 4]);
        assert_eq!(plan.kept_bytes, 500);
    }

    #[test]
    fn unreadable_records_are_left_alone() {
        let bad = HistoryRecord {
            id: 9,
            meta: b"not json".to_vec(),
            bytes: 5,
        };
        let plan = plan(&[bad], &history(0, Some(0)), 1_000_000);
        assert!(plan.purge.is_empty());
    }

    /// Runs cleanup on another thread: a FIFO read blocking would hang it,
    /// and a hung test should fail, not wait forever.
    fn run_within(dir: &Path, history: HistoryConfig) -> Result<Summary, SpoolError> {
        let (send, receive) = std::sync::mpsc::channel();
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = send.send(run(&dir, &history, 1_000_000, "command"));
        });
        receive
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("cleanup hung (a FIFO opened blocking?)")
    }

    #[test]
    fn special_files_in_jobs_neither_hang_nor_stop_cleanup() {
        use crate::test_support::TempDir;
        let dir = TempDir::new("cleanup-special");
        let spool = dir.path().join("spool");
        // A finished job whose document name is taken by a directory.
        let (handle, _) = crate::spool::Spool::open(&spool, 1 << 20).unwrap();
        let finished = record(6, JobState::Completed, Some(100), 10).meta;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(handle.commit(6, &finished, None))
            .unwrap();
        drop(handle);
        let jobs = spool.join("jobs");
        std::fs::create_dir(jobs.join("6.doc")).unwrap();
        // A FIFO where a record should be, and a symlink to a file outside.
        crate::test_support::mkfifo(&jobs.join("3.job"));
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"not a record").unwrap();
        std::os::unix::fs::symlink(&outside, jobs.join("4.job")).unwrap();
        // A directory where an orphan document would be.
        std::fs::create_dir(jobs.join("5.doc")).unwrap();

        let summary = run_within(&spool, history(0, Some(0))).unwrap();
        assert_eq!(summary.purged_jobs, 1);
        assert_eq!(summary.kept_jobs, 0);
        assert!(std::fs::symlink_metadata(jobs.join("6.job")).is_err());
        // None of it is cleanup's to judge: recovery quarantines it.
        for name in ["3.job", "4.job", "5.doc", "6.doc"] {
            assert!(std::fs::symlink_metadata(jobs.join(name)).is_ok(), "{name}");
        }
        assert_eq!(std::fs::read(&outside).unwrap(), b"not a record");
    }
}
